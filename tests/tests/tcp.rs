//! Raw TCP entries and the interception core, with real clients under both placements.

#![forbid(unsafe_code)]

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "tcp": "legacy.internal:9000", "greeting": "220 legacy ready\r\n",
      "request": "HELO me\r\n", "responses": ["250 hello me\r\n", "250 again\r\n"] },
    { "tcp": "echo.internal:7", "response": {"base64": "AAEC/w=="} },
    { "tcp": "once.internal:1", "greeting": "first\n", "response": "x", "times": 1 },
    { "tcp": "once.internal:1", "greeting": "second\n", "response": "y" }
  ]
}"#;

const PY_GREETING: &str = r#"
import socket
s = socket.create_connection(("legacy.internal", 9000))
f = s.makefile("rb")
print(f.readline().decode().strip())
s.sendall(b"HELO me\r\nHE")
print(f.readline().decode().strip())
s.sendall(b"LO me\r\n")
print(f.readline().decode().strip())
print(s.getpeername()[1], s.getpeername()[0].startswith("198.1"))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
"#;

#[test]
fn python_socket_with_greeting_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, PY_GREETING, &[]);
        run.success();
        assert_eq!(
            run.stdout, "220 legacy ready\n250 hello me\n250 again\n9000 True\nnodelay 1\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn getpeername_is_the_fake_address_of_the_name() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import socket
ip = socket.gethostbyname("legacy.internal")
s = socket.create_connection(("legacy.internal", 9000))
print(s.getpeername() == (ip, 9000), ip.startswith("198.1"), socket.gethostbyaddr(ip)[0])
print(socket.getnameinfo((ip, 9000), 0)[0])
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout, "True True legacy.internal\nlegacy.internal\n",
            "{placement:?}"
        );
    }
}

/// A buffer too short for a whole address gets the first bytes of the original destination's,
/// as the kernel writes a real peer's, never the engine's loopback address and port
/// (`tests/c/peer_name.c` asks with every size from 2 to 16 bytes).
#[test]
fn getpeername_with_a_short_buffer_is_a_prefix_of_the_original_destination() {
    let mocks = mocks_file(MOCKS);
    let client = compile_test_c("peer_name", &[]);
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[client.to_str().unwrap(), "legacy.internal", "9000"],
        );
        run.success();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            8,
            "{placement:?}: {}{}",
            run.stdout,
            run.stderr
        );
        for line in lines {
            assert!(
                line.ends_with(" same"),
                "{placement:?}: {line}\n{}",
                run.stdout
            );
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                fields[1], "16",
                "{placement:?}: the whole length, as the kernel's: {line}"
            );
        }
    }
}

#[test]
fn base64_responses_are_bytes() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import socket
s = socket.create_connection(("echo.internal", 7))
s.sendall(b"anything")
print(s.recv(10).hex())
"#;
    let run = python(Placement::Embedded, &mocks, program, &[]);
    run.success();
    assert_eq!(run.stdout, "000102ff\n");
}

#[test]
fn netcat() {
    assert!(
        have("nc"),
        "nc is missing: install netcat-openbsd (.ci/run does)"
    );
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[
                "sh",
                "-c",
                "printf 'HELO me\\r\\n' | nc -N legacy.internal 9000",
            ],
        );
        run.success();
        assert_eq!(
            run.stdout, "220 legacy ready\r\n250 hello me\r\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn rust_std_and_tokio_clients() {
    let client = env!("CARGO_BIN_EXE_mocket-test-client");
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        for mode in ["std", "tokio"] {
            let run = placement.run(
                &mocks,
                &[client, mode, "legacy.internal", "9000", "HELO me\r\n"],
            );
            run.success();
            assert_eq!(
                run.stdout, "220 legacy ready\r\n250 hello me\r\n",
                "{placement:?} {mode}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn asyncio_non_blocking_connect() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import asyncio
async def main():
    r, w = await asyncio.open_connection("legacy.internal", 9000)
    print((await r.readline()).decode().strip())
    w.write(b"HELO me\r\n"); await w.drain()
    print((await r.readline()).decode().strip())
    w.close(); await w.wait_closed()
asyncio.run(main())
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout, "220 legacy ready\n250 hello me\n",
            "{placement:?}"
        );
    }
}

#[test]
fn times_hands_over_to_the_next_entry() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import socket
for _ in range(3):
    s = socket.create_connection(("once.internal", 1))
    print(s.makefile("rb").readline().decode().strip())
    s.close()
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(run.stdout, "first\nsecond\nsecond\n", "{placement:?}");
    }
}

/// Starts a listener on loopback in the namespace, runs a client under mocket with
/// `allow: []`, and proves the listener got nothing.
const PY_LISTENER_REFUSED: &str = r#"
import os, socket, subprocess, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(); srv.setblocking(False)
port = srv.getsockname()[1]
srv6 = socket.socket(socket.AF_INET6); srv6.bind(("::1", 0)); srv6.listen(); srv6.setblocking(False)
port6 = srv6.getsockname()[1]
client = f'''
import socket
for fam, addr in ((socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port6}))):
    s = socket.socket(fam)
    try:
        s.connect(addr); print("connected")
    except OSError as e: print("refused", e.errno)
try:
    socket.create_connection(("api.example.com", 443)); print("connected")
except OSError as e: print("refused", e.errno)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("127.0.0.1", {port})); print("sent")
except OSError as e: print("udp refused", e.errno)
try:
    socket.getaddrinfo("legacy.internal", 9000, socket.AF_INET6)[0][4][0]; print("v6 ok")
except OSError as e: print("v6 failed", e)
'''
r = subprocess.run(sys.argv[1:] + ["python3", "-c", client], capture_output=True, text=True)
print(r.stdout, end="")
sys.stderr.write(r.stderr)
for s in (srv, srv6):
    try:
        s.accept(); print("LISTENER GOT A CONNECTION")
    except BlockingIOError:
        print("listener untouched")
print("exit", r.returncode)
"#;

#[test]
fn strict_mode_refuses_unlisted_loopback_ipv6_udp_and_names() {
    let mocks = mocks_file(
        r#"{"allow": [], "entries": [{"tcp": "legacy.internal:9000", "response": "x"}]}"#,
    );
    let bin = mocket_bin();
    let run = run(netns_command(&[
        "python3",
        "-c",
        PY_LISTENER_REFUSED,
        bin.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--",
    ]));
    run.success();
    assert_eq!(
        run.stdout,
        "refused 111\nrefused 111\nrefused 111\nudp refused 1\nv6 ok\nlistener untouched\nlistener untouched\nexit 1\n",
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "mocket: strict mode refused api.example.com:443 (no entry matches; allowed: nothing)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("mocket: strict mode refused 127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("mocket: strict mode refused [::1]:"),
        "{}",
        run.stderr
    );
}

#[test]
fn non_strict_passes_through_to_a_real_listener() {
    let mocks = mocks_file(
        r#"{"strict": false, "allow": [], "entries": [{"tcp": "legacy.internal:9000", "response": "x"}]}"#,
    );
    let program = r#"
import socket, subprocess, sys, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept(); c.sendall(b"real server\n"); c.close()
threading.Thread(target=serve, daemon=True).start()
client = f'import socket; print(socket.create_connection(("127.0.0.1", {port})).makefile().readline().strip())'
r = subprocess.run(sys.argv[1:] + ["python3", "-c", client], capture_output=True, text=True)
print(r.stdout, end=""); sys.stderr.write(r.stderr); print("exit", r.returncode)
"#;
    let bin = mocket_bin();
    let run = run(netns_command(&[
        "python3",
        "-c",
        program,
        bin.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--",
    ]));
    run.success();
    assert_eq!(run.stdout, "real server\nexit 0\n", "{}", run.stderr);
}

#[test]
fn threads_and_forks_keep_working() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import multiprocessing, socket, subprocess, sys, threading
def talk(_=None):
    s = socket.create_connection(("legacy.internal", 9000))
    f = s.makefile("rb"); f.readline(); s.sendall(b"HELO me\r\n")
    line = f.readline(); s.close(); return line.decode().strip()
results = []
threads = [threading.Thread(target=lambda: results.append(talk())) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", len(results), set(results))
talk()  # the parent has used the engine before forking
ctx = multiprocessing.get_context("fork")
with ctx.Pool(4) as pool:
    print("fork", set(pool.map(talk, range(8))))
child = subprocess.run([sys.executable, "-c", "import socket; s = socket.create_connection(('legacy.internal', 9000)); print(s.makefile().readline().strip())"], capture_output=True, text=True)
print("subprocess", child.stdout.strip(), child.returncode)
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout,
            "threads 16 {'250 hello me'}\nfork {'250 hello me'}\nsubprocess 220 legacy ready 0\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn two_thousand_sequential_connections_keep_the_fd_count() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import os, socket
def fds(): return len(os.listdir("/proc/self/fd"))
def once():
    s = socket.create_connection(("echo.internal", 7)); s.sendall(b"x"); s.recv(4); s.close()
for _ in range(50): once()
before = fds()
for _ in range(2000): once()
print("fds stable", fds() - before <= 2)
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout, "fds stable True\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_broken_mocks_file_is_precise_and_sends_nothing() {
    let mocks = mocks_file(
        "{\n  \"entries\": [\n    {\"tcp\": \"legacy.internal:9000\",\n     \"respons\": \"x\"}\n  ]\n}\n",
    );
    let check = run({
        let mut c = std::process::Command::new(mocket_bin());
        c.args(["check", mocks.to_str().unwrap()]);
        c
    });
    check.expect_code(2);
    let expected = format!(
        "{}:4:6: entries[0].respons: unknown key \"respons\" (did you mean \"response\"?)",
        mocks.display()
    );
    assert!(check.stderr.contains(&expected), "{}", check.stderr);

    let run_ = mocket_run(&mocks, &[], &["sh", "-c", "echo SHOULD-NOT-RUN"]);
    run_.expect_code(2);
    assert!(!run_.stdout.contains("SHOULD-NOT-RUN"));
    assert!(run_.stderr.contains(&expected), "{}", run_.stderr);

    let program = r#"
import socket
for host in ("legacy.internal", "127.0.0.1"):
    try:
        socket.create_connection((host, 9000)); print("connected")
    except OSError as e: print("refused")
"#;
    let bare = python(Placement::Embedded, &mocks, program, &[]);
    bare.success();
    assert_eq!(bare.stdout, "refused\nrefused\n");
    assert!(
        bare.stderr.contains("the mocks file is broken"),
        "{}",
        bare.stderr
    );
    assert!(bare.stderr.contains(&expected), "{}", bare.stderr);
}

#[test]
fn journal_records_one_line_per_event() {
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("journal").join("events.jsonl");
    let program = r#"
import socket
s = socket.create_connection(("echo.internal", 7)); s.sendall(b"x"); s.recv(4); s.close()
try: socket.create_connection(("api.example.com", 443))
except OSError: pass
"#;
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &["python3", "-c", program],
    );
    run.expect_code(1); // something was refused
    let text = std::fs::read_to_string(&journal).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0]["action"], "mocked");
    assert_eq!(events[0]["host"], "echo.internal");
    assert_eq!(events[0]["entry"], 1);
    assert_eq!(events[1]["action"], "refused");
    assert_eq!(events[1]["host"], "api.example.com");
    assert_eq!(events[1]["port"], 443);
    assert!(events.iter().all(|e| e["pid"].as_u64().unwrap() > 0));
    assert!(
        run.stderr.contains("refused tcp api.example.com:443"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("never used: entry #0 tcp legacy.internal:9000"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_exits_with_the_command_status() {
    let mocks = mocks_file(MOCKS);
    mocket_run(&mocks, &[], &["sh", "-c", "exit 7"]).expect_code(7);
    mocket_run(&mocks, &[], &["true"]).success();
}

#[test]
fn a_panic_in_a_hook_fails_closed_and_the_process_lives() {
    let mocks = mocks_file(
        r#"{"strict": false, "entries": [{"tcp": "legacy.internal:9000", "response": "x"}]}"#,
    );
    let program = r#"
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(); srv.setblocking(False)
try:
    socket.create_connection(("127.0.0.1", srv.getsockname()[1])); print("connected")
except OSError as e: print("refused", e.errno)
try:
    socket.getaddrinfo("legacy.internal", 9000); print("resolved")
except OSError as e: print("lookup failed")
try: srv.accept(); print("REACHED THE REAL LISTENER")
except BlockingIOError: print("listener untouched")
"#;
    for placement in PLACEMENTS {
        let env = [
            ("MOCKET_FAILPOINT", "connect,resolve"),
            ("RUST_BACKTRACE", "0"),
        ];
        let run = placement.run_env(&mocks, &env, &["python3", "-c", program]);
        assert_eq!(
            run.stdout, "refused 111\nlookup failed\nlistener untouched\n",
            "{placement:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("mocket: internal error while routing a connect; refused"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn getaddrinfo_honours_hints_and_gethostbyname2_answers_ipv6() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import ctypes, socket
v4 = socket.getaddrinfo("legacy.internal", "9000", socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
print(len(v4), v4[0][0] == socket.AF_INET, v4[0][1] == socket.SOCK_STREAM, v4[0][3], v4[0][4][1])
both = socket.getaddrinfo("legacy.internal", 9000)
print({socket.SOCK_STREAM, socket.SOCK_DGRAM} <= {t for _, t, _, _, _ in both})
v6 = socket.getaddrinfo("legacy.internal", 9000, socket.AF_INET6, socket.SOCK_STREAM)
print(v6[0][4][0] == "::ffff:" + v4[0][4][0])
http = socket.getaddrinfo("legacy.internal", "http", socket.AF_INET, socket.SOCK_STREAM)
print(http[0][4][1])
try:
    socket.getaddrinfo("legacy.internal", 1, flags=socket.AI_NUMERICHOST); print("numeric ok?")
except socket.gaierror: print("numeric refused")
s = socket.socket(socket.AF_INET6)
s.connect((v6[0][4][0], 9000))
print(s.makefile("rb").readline().decode().strip())
print(socket.gethostbyname_ex("legacy.internal")[0])
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout,
            "1 True True legacy.internal 9000\nTrue\nTrue\n80\nnumeric refused\n220 legacy ready\nlegacy.internal\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn raw_dns_queries_are_refused_in_strict_mode() {
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("dns-journal").join("j.jsonl");
    let program = r#"
import ctypes
libc = ctypes.CDLL(None)
buf = ctypes.create_string_buffer(512)
print(libc.res_query(b"example.org", 1, 1, buf, 512))
"#;
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &["python3", "-c", program],
    );
    run.expect_code(1);
    assert_eq!(run.stdout, "-1\n");
    assert!(
        run.stderr
            .contains("strict mode refused a DNS query for example.org"),
        "{}",
        run.stderr
    );
    let events = std::fs::read_to_string(&journal).unwrap();
    let event: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(
        (event["protocol"].as_str(), event["action"].as_str()),
        (Some("dns"), Some("refused"))
    );
    assert_eq!(event["port"], serde_json::Value::Null);
}

#[test]
fn the_embedded_engine_starts_threads_only_on_the_first_intercepted_connect() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import os, socket
def threads(): return len(os.listdir("/proc/self/task"))
before = threads()
socket.getaddrinfo("legacy.internal", 9000)
after_lookup = threads()
s = socket.create_connection(("legacy.internal", 9000)); s.recv(100)
print(before, after_lookup, threads() > after_lookup)
"#;
    let run = python(Placement::Embedded, &mocks, program, &[]);
    run.success();
    assert_eq!(run.stdout, "1 1 True\n", "{}", run.stderr);
}

#[test]
fn a_relative_mocks_path_holds_for_children_in_other_directories() {
    let dir = scratch_dir("relative");
    std::fs::write(dir.join("mocks.json"), MOCKS).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let program = "import socket; print(socket.create_connection(('legacy.internal', 9000)).makefile().readline().strip())";
    let mut c = netns_command(&["sh", "-c", "cd sub && exec python3 -c \"$0\"", program]);
    c.current_dir(&dir)
        .env("LD_PRELOAD", shim_lib())
        .env("MOCKET_CONFIG", "mocks.json");
    let run = run(c);
    run.success();
    assert_eq!(run.stdout, "220 legacy ready\n", "{}", run.stderr);
}

/// More short connections in a minute than there are ephemeral ports: redirected sockets must
/// be able to reuse ports in TIME-WAIT, as plain connects do (the shim never binds them).
#[test]
fn thirty_thousand_short_connections_do_not_exhaust_ports() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import socket
n = 0
try:
    for n in range(30000):
        s = socket.create_connection(("echo.internal", 7)); s.sendall(b"x"); s.recv(4); s.close()
    print("all connected")
except OSError as e:
    print("failed after", n, e)
"#;
    let run = python(Placement::Daemon, &mocks, program, &[]);
    run.success();
    assert_eq!(run.stdout, "all connected\n", "{}", run.stderr);
}
