//! What a new intercepted connection costs (issue 15): a process routes a destination whose
//! entries come from the mocks file once, then reuses that lasting redirect without asking the
//! engine again; a forked child never reuses its parent's.

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } }
  ]
}"#;

/// What `http_get` ([`HTTP_GET_PY`]) returns for the mocked answer.
const OK: &str = "HTTP/1.1 200 OK fine";

/// Under `mocket run`, 20 new connections to one mocked destination ask the daemon for a
/// route once and nothing else: the shim's requests are read from its `sendto` calls, and each
/// connection is bound to the route's source tag, with no preamble (strace).
#[test]
fn a_process_asks_the_daemon_for_a_mocked_route_once() {
    assert!(
        have("strace"),
        "strace is missing: apt-get install strace (.ci/run installs it)"
    );
    let mocks = mocks_file(MOCKS);
    let trace = scratch_dir("route-once").join("trace");
    let program =
        format!("{HTTP_GET_PY}\nprint('\\n'.join(http_get('api.test', '/ok') for _ in range(20)))");
    let trace_arg = trace.to_str().unwrap();
    let cmd = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=sendto,bind",
        "-s",
        "200",
        "-o",
        trace_arg,
        "python3",
        "-c",
        &program,
    ];
    let run = mocket_run(&mocks, &[], &cmd);
    run.success();
    assert_eq!(
        run.stdout.trim(),
        vec![OK; 20].join("\n"),
        "stderr:\n{}",
        run.stderr
    );
    let traced = std::fs::read_to_string(&trace).expect("strace output");
    let routes = traced.lines().filter(|l| l.contains("\"route ")).count();
    let claims = traced.lines().filter(|l| l.contains("\"claim ")).count();
    // Each connection carries its claim: the source address it is bound to, no preamble, no
    // control request.
    let preambles = traced.lines().filter(|l| l.contains("\"MKT\\0\\1")).count();
    let tagged = traced
        .lines()
        .filter(|l| {
            l.contains("bind(") && l.contains("inet_addr(\"127.") && !l.contains("\"127.0.")
        })
        .count();
    assert_eq!(routes, 1, "route requests:\n{traced}");
    assert_eq!(claims, 0, "claim requests:\n{traced}");
    assert_eq!(preambles, 0, "preambles:\n{traced}");
    assert_eq!(tagged, 20, "binds to a source tag:\n{traced}");
}

/// A child forked after its parent routed the host has its own engine under a bare
/// `LD_PRELOAD` (and its own questions under `mocket run`): it must not reuse the parent's
/// redirect, whose engine port is the parent's, where its connection would name the parent's engine.
#[test]
fn a_forked_child_does_not_reuse_its_parents_redirect() {
    let mocks = mocks_file(MOCKS);
    let program = format!(
        r#"{HTTP_GET_PY}
import os
first = http_get("api.test", "/ok")
pid = os.fork()
if pid == 0:
    os._exit(0 if http_get("api.test", "/ok") == "{OK}" else 1)
_, status = os.waitpid(pid, 0)
print(first, "child", os.waitstatus_to_exitcode(status), http_get("api.test", "/ok"))
"#
    );
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, &program, &[]);
        run.success();
        assert_eq!(
            run.stdout.trim(),
            format!("{OK} child 0 {OK}"),
            "{placement:?}\nstderr:\n{}",
            run.stderr
        );
    }
}

/// Under a bare preload a forked child has an engine of its own; its session tickets are
/// sealed with a key derived from the CA's, so the child resumes the session its parent made
/// (Python's `ssl`, `session_reused`), over TLS 1.3 and TLS 1.2 tickets.
const PY_SSL_FORK: &str = r#"
import os, socket, ssl, sys
ca, version = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=ca)
context.maximum_version = getattr(ssl.TLSVersion, version)

def get(session):
    with socket.create_connection(("api.test", 443)) as raw:
        with context.wrap_socket(raw, server_hostname="api.test", session=session) as tls:
            tls.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
            got = b""
            while b"fine" not in got:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                got += chunk
            return tls.session, tls.session_reused, got.endswith(b"fine")

session, reused, ok = get(None)
print("parent", reused, ok, flush=True)
pid = os.fork()
if pid == 0:
    _, reused, ok = get(session)
    print("child", reused, ok, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"#;

#[test]
fn a_forked_child_resumes_its_parents_tls_session_under_a_bare_preload() {
    let mocks = mocks_file(
        r#"{"entries": [{ "http": "GET https://api.test/ok", "response": { "body": "fine" } }]}"#,
    );
    let (data, ca) = data_home_with_ca();
    for version in ["TLSv1_3", "TLSv1_2"] {
        let args = ["python3", "-c", PY_SSL_FORK, &ca, version];
        let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
        let run = Placement::Embedded.run_env(&mocks, &env, &args);
        run.success();
        assert_eq!(
            run.stdout, "parent False True\nchild True True\n",
            "{version}\n{}",
            run.stderr
        );
    }
}
