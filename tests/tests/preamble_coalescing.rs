//! The preamble travels with the client's first bytes (issue 15): where every entry of a
//! destination is of a protocol whose client speaks first (HTTP, HTTPS, Redis) and the
//! connection is not introduced by a source tag (tests/tests/source_tags.rs: here, because the
//! application bound the socket itself), the shim sends the preamble with `MSG_MORE`, so the kernel holds it until the application writes and sends
//! both in one segment. Where the server may speak first (a raw `tcp` entry with a greeting), the
//! preamble leaves at once and the greeting comes at once to a client that only reads.

use std::path::{Path, PathBuf};

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } },
    { "http": "GET https://api.test/ok", "response": { "body": "secure" } },
    { "redis": "cache.test:6379", "command": ["GET", "k"], "response": "v" },
    { "tcp": "legacy.test:9000", "greeting": "220 ready\r\n", "response": "250 ok\r\n" }
  ]
}"#;

/// A client that connects and only reads, three times in one process (the second and third
/// connects use the lasting redirect the first one got), with and without `TCP_NODELAY` set
/// before connecting: prints the slowest wait for the greeting in milliseconds.
const GREETING_READER: &str = r#"
import socket, time

slowest = 0.0
for nodelay in (False, True, False):
    s = socket.socket()
    s.settimeout(10)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect(("legacy.test", 9000))
    # Timed from the connect's return: the first connect of the embedded placement also starts
    # the engine (about 100 ms under load); a held preamble waits for the probe timer after it.
    start = time.monotonic()
    greeting = s.recv(100)
    waited = (time.monotonic() - start) * 1000
    assert greeting == b"220 ready\r\n", greeting
    s.sendall(b"HELO\r\n")
    assert s.recv(100) == b"250 ok\r\n"
    s.close()
    slowest = max(slowest, waited)
print("greeting after ms", round(slowest, 1))
"#;

/// Connects to `argv[1]:argv[2]` twice from a socket it bound itself (so no source tag: a
/// preamble), the second connect using the lasting redirect the first one got, and prints how many bytes wait in the socket's send queue right after each
/// connect (`SIOCOUTQ`: written and not yet acknowledged, held bytes included; loopback
/// acknowledges sent bytes at once), then, for HTTP, the same after half a second of silence
/// (the kernel's probe timer sends a held preamble), and whether a request is answered.
const SEND_QUEUE: &str = r#"
import fcntl, socket, struct, sys, termios, time

def queued(s):
    time.sleep(0.05)
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]

def connect_bound(host, port):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    s.connect((host, port))
    return s

host, port = sys.argv[1], int(sys.argv[2])
first = connect_bound(host, port)
print("queued at connect", queued(first))
first.close()
s = connect_bound(host, port)
print("queued at connect", queued(s))
if port == 80:
    time.sleep(0.5)
    print("queued after silence", queued(s))
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    print("answered", data.endswith(b"fine"))
"#;

/// `GET /ok` with Python's `http.client` (which sets `TCP_NODELAY` after connecting), twice.
const HTTP_CLIENT: &str = r#"
import http.client
for _ in range(2):
    c = http.client.HTTPConnection("api.test", 80, timeout=10)
    c.request("GET", "/ok")
    r = c.getresponse()
    print(r.status, r.read().decode())
    c.close()
"#;

fn data_home() -> PathBuf {
    scratch_dir("data-home")
}

fn run_with_ca(placement: Placement, mocks: &Path, cmd: &[&str]) -> Run {
    let data = data_home();
    placement.run_env(mocks, &[("XDG_DATA_HOME", data.to_str().unwrap())], cmd)
}

/// A server that greets first is never made to wait for a client that only reads: its
/// redirect is not client-first, so the preamble is not held (held, it would leave only with
/// the kernel's probe timer, about 200 ms later).
#[test]
fn a_greeting_comes_at_once_to_a_client_that_only_reads() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, GREETING_READER, &[]);
        run.success();
        let waited: f64 = run
            .stdout
            .trim()
            .strip_prefix("greeting after ms ")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{placement:?}: {}\n{}", run.stdout, run.stderr));
        assert!(
            waited < 100.0,
            "{placement:?}: the greeting came after {waited} ms (a held preamble?)"
        );
    }
}

/// To an HTTP destination the preamble is held after the connect (28 bytes queued, not sent),
/// and sent by the kernel after a silence: the request is still answered. To a greeting
/// destination nothing is held.
#[test]
fn the_preamble_waits_for_the_first_bytes_only_where_the_client_speaks_first() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, SEND_QUEUE, &["api.test", "80"]);
        run.success();
        assert_eq!(
            run.stdout,
            "queued at connect 28\nqueued at connect 28\nqueued after silence 0\nanswered True\n",
            "{placement:?}: {}",
            run.stderr
        );
        let run = python(placement, &mocks, SEND_QUEUE, &["legacy.test", "9000"]);
        run.success();
        assert_eq!(
            run.stdout, "queued at connect 0\nqueued at connect 0\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

/// curl (`TCP_NODELAY` before connecting: its request goes in the preamble's segment) over
/// HTTP and HTTPS, several new connections in one run, Python's `http.client`, and redis-cli.
#[test]
fn curl_python_and_redis_cli_are_served_with_coalesced_preambles() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let curl = [
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "-H",
            "Connection: close",
            "-w",
            " %{http_code}\n",
            "http://api.test/ok",
            "https://api.test/ok",
            "http://api.test/ok",
            "https://api.test/ok",
        ];
        let run = run_with_ca(placement, &mocks, &curl);
        run.success();
        assert_eq!(
            run.stdout, "fine 200\nsecure 200\nfine 200\nsecure 200\n",
            "{placement:?}: {}",
            run.stderr
        );
        let run = python(placement, &mocks, HTTP_CLIENT, &[]);
        run.success();
        assert_eq!(
            run.stdout, "200 fine\n200 fine\n",
            "{placement:?}: {}",
            run.stderr
        );
        if have("redis-cli") {
            let run = placement.run(&mocks, &["redis-cli", "-h", "cache.test", "GET", "k"]);
            run.success();
            assert_eq!(run.stdout, "v\n", "{placement:?}: {}", run.stderr);
        }
    }
}
