//! New connections (issue 15), with real clients in both placements: each connection carries
//! its own claim (the preamble the shim writes right after connecting) and is served by the
//! engine thread that accepted it when its first byte comes at once, and through the waiting
//! room when it comes late.

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } }
  ]
}"#;

/// Four threads, each opening 150 connections to a mocked host (every fifth one silent for
/// longer than the engine waits on its accepting thread), with a connect to a real local
/// listener (allowed by default) after every tenth: a pass, which never gets a preamble.
const MANY_CONNECTIONS: &str = r#"
import socket, sys, threading, time

local = socket.socket()
local.bind(("127.0.0.1", 0))
local.listen(64)
port = local.getsockname()[1]

def accept_forever():
    while True:
        conn, _ = local.accept()
        conn.close()

threading.Thread(target=accept_forever, daemon=True).start()

failures = []
served = [0]
passed = [0]
lock = threading.Lock()

def get_ok(late):
    s = socket.create_connection(("api.test", 80), timeout=20)
    if late:
        time.sleep(0.05)
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data

def client(k):
    for i in range(150):
        try:
            data = get_ok(late=(i % 5 == 4))
            with lock:
                if data.startswith(b"HTTP/1.1 200") and data.endswith(b"fine"):
                    served[0] += 1
                else:
                    failures.append(repr(data[:80]))
            if i % 10 == 9:
                socket.create_connection(("127.0.0.1", port), timeout=20).close()
                with lock:
                    passed[0] += 1
        except Exception as e:
            with lock:
                failures.append(f"thread {k} connection {i}: {e!r}")

threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("served", served[0], "passed", passed[0], "failures", failures[:3])
"#;

#[test]
fn many_new_connections_early_and_late_are_served_in_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, MANY_CONNECTIONS, &[]);
        run.success();
        assert_eq!(
            run.stdout, "served 600 passed 60 failures []\n",
            "{placement:?}\nstderr:\n{}",
            run.stderr
        );
    }
}

#[test]
fn curl_new_connection_per_request_in_both_placements() {
    let mocks = mocks_file(MOCKS);
    let mut cmd = vec!["curl", "-s", "--noproxy", "*", "-H", "Connection: close"];
    cmd.extend(std::iter::repeat_n("http://api.test/ok", 100));
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &cmd);
        run.success();
        assert_eq!(
            run.stdout,
            "fine".repeat(100),
            "{placement:?}\nstderr:\n{}",
            run.stderr
        );
    }
}
