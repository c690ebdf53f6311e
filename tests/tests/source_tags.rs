//! Source tags (issue 15): a connection to a destination whose client speaks first (HTTP, TLS,
//! Redis) is bound to a loopback address the engine handed out with the redirect, and the
//! engine knows it from the address it accepts: no preamble travels. Destinations whose server
//! may speak first, and sockets the application bound itself, keep the preamble.

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } },
    { "tcp": "legacy.test:9000", "greeting": "220 ready\r\n", "response": "ok\r\n" }
  ]
}"#;

/// Whether a dotted IPv4 address is a source tag's: 127.1.0.0 to 127.254.255.255.
fn is_tag_address(addr: &str) -> bool {
    let octets: Vec<u8> = addr.split('.').filter_map(|o| o.parse().ok()).collect();
    matches!(octets[..], [127, 1..=254, _, _])
}

/// curl's connections come from a tag's address, and the shim writes nothing on them: the only
/// `sendto` is curl's request.
#[test]
fn an_http_client_is_introduced_by_its_source_address() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let trace = scratch_dir("source-tags").join("strace.txt");
        let run = placement.run(
            &mocks,
            &[
                "strace",
                "-f",
                "-e",
                "trace=bind,sendto",
                "-o",
                trace.to_str().unwrap(),
                "curl",
                "-s",
                "--noproxy",
                "*",
                "http://api.test/ok",
                "http://api.test/ok",
            ],
        );
        run.success();
        assert_eq!(run.stdout, "finefine", "{placement:?}: {}", run.stderr);
        let text = std::fs::read_to_string(&trace).unwrap();
        let bound: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" bind(") && !l.contains("127.0.0.1"))
            .filter_map(|l| l.split("inet_addr(\"").nth(1)?.split('"').next())
            .collect();
        assert!(
            !bound.is_empty() && bound.iter().all(|a| is_tag_address(a)),
            "{placement:?}: {text}"
        );
        assert!(
            !text.contains("MKT"),
            "{placement:?}: a preamble was written\n{text}"
        );
    }
}

/// What a Python client sees of its own socket: a tag's address for HTTP, 127.0.0.1 for the
/// raw TCP entry whose server greets first (which still greets at once), and its own address
/// when it bound the socket itself.
#[test]
fn tags_only_where_the_client_speaks_first_and_the_socket_is_free() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import socket, time

def http(sock):
    sock.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data.endswith(b"fine")

s = socket.create_connection(("api.test", 80), timeout=10)
print("http", s.getsockname()[0], http(s))

s = socket.create_connection(("legacy.test", 9000), timeout=10)
started = time.monotonic()
greeting = s.recv(100)
waited = time.monotonic() - started
print("tcp", s.getsockname()[0], greeting == b"220 ready\r\n", waited < 0.15)

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.settimeout(10)
s.connect(("api.test", 80))
print("bound", s.getsockname()[0], http(s))
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        let lines: Vec<Vec<&str>> = run
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let shown = format!("{placement:?}: {}\nstderr:\n{}", run.stdout, run.stderr);
        let [http, tcp, bound] = &lines[..] else {
            panic!("{shown}")
        };
        assert!(
            http[0] == "http" && is_tag_address(http[1]) && http[2] == "True",
            "{shown}"
        );
        assert_eq!(tcp[..], ["tcp", "127.0.0.1", "True", "True"], "{shown}");
        assert_eq!(bound[..], ["bound", "127.0.0.1", "True"], "{shown}");
    }
}

/// A connection to the engine's port from a tag's address the engine never handed out is
/// closed unserved and logged, like one without a preamble.
#[test]
fn a_tag_the_engine_never_issued_is_refused() {
    let mocks = mocks_file(MOCKS);
    let program = format!(
        "{ENGINE_PORT_PY}{}",
        r#"
raw = socket.socket()
raw.bind(("127.200.0.1", 0))
raw.settimeout(10)
raw.connect(("127.0.0.1", engine_port("api.test", 80)))
raw.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
print("raw got", repr(read_all(raw)))
"#
    );
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, &program, &[]);
        run.success();
        assert_eq!(run.stdout, "raw got b''\n", "{placement:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("closed a connection to the engine from 127.200.0.1:")
                && run.stderr.contains("never handed out"),
            "{placement:?}: {}",
            run.stderr
        );
    }
}
