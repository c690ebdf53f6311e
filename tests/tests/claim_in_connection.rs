//! Connections carry their own claim (issue 15): right after connecting to the engine, the shim
//! (or the `--seccomp` supervisor) writes a preamble naming the process and the original
//! destination, and the engine reads it at accept. A connection to the engine's port without a
//! whole, valid preamble is closed and logged, never served; non-blocking connects, Fast Open
//! and forked children work as before.

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } }
  ]
}"#;

/// Connects to the engine's port directly (a loopback address, passed untouched by the shim,
/// so no preamble) and sends what argv[1] names; prints what came back before the engine closed
/// the connection.
const RAW_CLIENT: &str = r#"
import sys, time

def get_ok():
    s = socket.create_connection(("api.test", 80), timeout=10)
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    data = read_all(s)
    return "fine" if data.endswith(b"fine") else repr(data[:60])

port = engine_port("api.test", 80)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
what = sys.argv[1]
if what == "garbled":
    raw.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
elif what == "short":
    raw.sendall(b"MKT\0\1\0\0P\0\0")
    raw.shutdown(socket.SHUT_WR)
elif what == "slow":
    raw.sendall(b"MKT")
    time.sleep(3)
    try:
        raw.sendall(b"\0\1\0\0P\0\0\0\1" + bytes(16))
        raw.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
print("raw got", repr(read_all(raw)), "then", get_ok())
"#;

#[test]
fn a_connection_without_a_valid_preamble_is_closed_and_logged() {
    let mocks = mocks_file(MOCKS);
    for (what, said) in [
        ("garbled", "does not start with mocket's preamble"),
        ("short", "10 of the 28 bytes of mocket's preamble"),
        (
            "slow",
            "nothing more came within 2 s after 3 of the 28 bytes",
        ),
    ] {
        for placement in PLACEMENTS {
            let program = format!("{ENGINE_PORT_PY}{RAW_CLIENT}");
            let run = python(placement, &mocks, &program, &[what]);
            run.success();
            assert_eq!(
                run.stdout, "raw got b'' then fine\n",
                "{what} {placement:?}\nstderr:\n{}",
                run.stderr
            );
            assert!(
                run.stderr
                    .contains("closed a connection to the engine from 127.0.0.1:")
                    && run.stderr.contains(said),
                "{what} {placement:?}: {}",
                run.stderr
            );
        }
    }
}

/// A non-blocking connect from C gets `EINPROGRESS` (or 0) as without mocket, then a writable
/// socket with no error; a connect repeated to learn that it completed (as hiredis does) says
/// so and writes no second preamble; the request is served.
#[test]
fn a_nonblocking_connect_from_c_is_served() {
    let mocks = mocks_file(MOCKS);
    let exe = compile_test_c("nonblocking_connect", &[]);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &[exe.to_str().unwrap()]);
        run.success();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(
            matches!(
                lines[..],
                [
                    "connect EINPROGRESS" | "connect 0",
                    "so_error 0",
                    "again connected",
                    "fine"
                ]
            ),
            "{placement:?}: {}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// A Fast Open connect (`sendto(MSG_FASTOPEN)` to a mocked host) introduces the connection (its
/// source tag, or else the preamble) before the data that rides on it.
#[test]
fn a_fast_open_connect_is_introduced_before_its_data() {
    let mocks = mocks_file(MOCKS);
    let exe = compile_test_c("nonblocking_connect", &[]);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &[exe.to_str().unwrap(), "fastopen"]);
        run.success();
        assert_eq!(
            run.stdout, "sendto all\nfine\n",
            "{placement:?}\nstderr:\n{}",
            run.stderr
        );
    }
}

/// reqwest (tokio, non-blocking sockets), a new connection per request.
#[test]
fn tokio_nonblocking_connects_are_served() {
    const CLIENT: &str = env!("CARGO_BIN_EXE_mocket-http-client");
    let mocks = mocks_file(
        r#"{"entries": [{ "http": "GET http://api.test/ok", "response": { "body": "fine", "headers": {"Connection": "close"} } }]}"#,
    );
    let requests = vec!["GET http://api.test/ok"; 5];
    let mut cmd = vec![CLIENT, "reqwest-http"];
    cmd.extend(requests);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &cmd);
        run.success();
        assert_eq!(
            run.stdout.matches(r#""body":"fine""#).count(),
            5,
            "{placement:?}: {}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// A forked child's connections carry its own pid: the journal names the parent for the
/// parent's request and the child for the child's (one daemon serves both).
#[test]
fn a_forked_childs_connections_carry_its_own_pid() {
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("preamble-pid").join("journal.jsonl");
    let program = r#"
import os, socket

def get():
    s = socket.create_connection(("api.test", 80), timeout=10)
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return data.endswith(b"fine")

assert get()
pid = os.fork()
if pid == 0:
    os._exit(0 if get() else 1)
_, status = os.waitpid(pid, 0)
print(os.getpid(), pid, os.waitstatus_to_exitcode(status))
"#;
    let flag = format!("--journal={}", journal.display());
    let run = mocket_run(&mocks, &[&flag], &["python3", "-c", program]);
    run.success();
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    let [parent, child, "0"] = words[..] else {
        panic!("{}\nstderr:\n{}", run.stdout, run.stderr)
    };
    let text = std::fs::read_to_string(&journal).unwrap();
    let pids: Vec<String> = text
        .lines()
        .filter(|l| l.contains(r#""action":"mocked""#))
        .map(|l| {
            let event: serde_json::Value = serde_json::from_str(l).unwrap();
            event["pid"].to_string()
        })
        .collect();
    assert_eq!(pids, [parent, child], "{text}");
}
