//! Issue 15: the preloaded `libmocket.so` is a small C stub that loads the Rust shim
//! (`libmocket_shim.so`, beside it) only on the first hooked call needing a decision. A process
//! that never resolves nor connects maps only the stub; one that connects loads the shim and is
//! served as before; without the shim every connect fails closed, with one line on stderr.

#![forbid(unsafe_code)]

use std::path::Path;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.example.com/v1/ping", "response": { "body": "pong" } }
  ]
}"#;

/// Prints the size (bytes) of every mapping of a mocket library, by file name, then whether
/// the Rust shim is loaded. Run as a child of the preloaded shell, after `steps`.
fn maps_report(steps: &str) -> String {
    format!(
        r#"
import collections, socket, sys
{steps}
sizes = collections.Counter()
for line in open("/proc/self/maps"):
    fields = line.split()
    if len(fields) >= 6 and "libmocket" in fields[5]:
        start, end = (int(x, 16) for x in fields[0].split("-"))
        sizes[fields[5].rsplit("/", 1)[-1]] += end - start
for name, size in sorted(sizes.items()):
    print(name, size)
"#
    )
}

/// Runs a Python program under a bare `LD_PRELOAD` of `lib`, with no per-user CA (a fresh
/// HOME), so the constructor has nothing to adjust.
fn preloaded_python(lib: &Path, program: &str) -> Run {
    let home = scratch_dir("home");
    let mocks = mocks_file(MOCKS);
    let mut c = netns_command(&["python3", "-c", program]);
    c.env("LD_PRELOAD", lib)
        .env("MOCKET_CONFIG", &mocks)
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("MOCKET_CA_CERT")
        .env_remove("MOCKET_CA_KEY")
        .env_remove("MOCKET_SOCKET");
    run(c)
}

/// The mapped size of each mocket library the program's report listed.
fn mapped(run: &Run) -> Vec<(String, u64)> {
    run.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(name, size)| Some((name.to_string(), size.trim().parse().ok()?)))
        .collect()
}

#[test]
fn a_process_that_never_connects_maps_only_the_small_stub() {
    // A Unix-socket connect and a send without a destination need no decision.
    let steps = r#"
a, b = socket.socketpair()
a.sendmsg([b"x"])
server = socket.socket(socket.AF_UNIX)
server.bind("\0mocket-preload-stub-test")
server.listen()
client = socket.socket(socket.AF_UNIX)
client.connect("\0mocket-preload-stub-test")
"#;
    let run = preloaded_python(&shim_lib(), &maps_report(steps));
    run.success();
    let maps = mapped(&run);
    assert!(
        maps.iter().all(|(name, _)| name == "libmocket.so"),
        "only the stub may be loaded: {maps:?}\n{}",
        run.stderr
    );
    let stub: u64 = maps.iter().map(|(_, size)| size).sum();
    // The full Rust shim mapped 0.95 MB (release) before issue 15; the stub is a few pages.
    assert!(stub > 0, "the stub is not loaded at all: {run:?}");
    assert!(stub <= 64 * 1024, "the stub maps {stub} bytes: {maps:?}");
}

#[test]
fn a_process_that_connects_loads_the_rust_shim_and_is_served() {
    let steps = r#"
import http.client
conn = http.client.HTTPConnection("api.example.com", 80, timeout=10)
conn.request("GET", "/v1/ping")
print("body", conn.getresponse().read().decode())
"#;
    let run = preloaded_python(&shim_lib(), &maps_report(steps));
    run.success();
    assert!(run.stdout.contains("body pong"), "{run:?}");
    let maps = mapped(&run);
    assert!(
        maps.iter().any(|(name, _)| name == "libmocket_shim.so"),
        "the Rust shim was not loaded: {maps:?}"
    );
}

#[test]
fn without_the_rust_shim_every_connect_fails_closed_with_one_line() {
    // The stub alone in a directory: the Rust shim it looks for beside itself is missing.
    let dir = scratch_dir("stub-alone");
    let stub = dir.join("libmocket.so");
    std::fs::copy(shim_lib(), &stub).unwrap();
    // A loopback server the program starts itself: reachable without mocket, so a connect
    // that got through would be a leak.
    let program = r#"
import errno, socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
for attempt in range(2):
    client = socket.socket()
    try:
        client.connect(("127.0.0.1", port))
        print("connected")
    except OSError as e:
        print("refused", errno.errorcode[e.errno])
try:
    socket.getaddrinfo("localhost", 80)
    print("resolved")
except socket.gaierror as e:
    print("lookup failed")
"#;
    let run = preloaded_python(&stub, program);
    run.success();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "refused ECONNREFUSED",
            "refused ECONNREFUSED",
            "lookup failed"
        ],
        "{run:?}"
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, once: {}", run.stderr);
    assert!(
        lines[0].starts_with("mocket: cannot load the Rust shim ")
            && lines[0].contains(&dir.join("libmocket_shim.so").display().to_string())
            && lines[0].contains("Put libmocket_shim.so beside libmocket.so"),
        "{}",
        lines[0]
    );
}
