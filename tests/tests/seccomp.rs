//! `mocket run --seccomp` (DESIGN section 10): programs LD_PRELOAD cannot reach (Go, a static
//! musl binary) and raw system calls, each inside a fresh network namespace. Needs Debian's
//! `golang-go` and `musl-tools` (`.ci/run` installs them); Go programs are built offline from
//! the standard library only.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use mocket_tests::{build_dir, have, mocket_bin, mocks_file, netns_command, run, scratch_dir};

/// The Go client of `tests/go/seccomp-client`, built once (statically: no cgo).
fn go_client() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            assert!(
                have("go"),
                "go is missing: apt-get install golang-go (.ci/run does)"
            );
            let out = build_dir().join("seccomp-go").join("seccomp-client");
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("go/seccomp-client");
            let status = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(&source)
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod")
                .env("GOPROXY", "off")
                .env("GOCACHE", build_dir().join("seccomp-go").join("cache"))
                .status()
                .expect("run go build");
            assert!(status.success(), "go build of {} failed", source.display());
            out
        })
        .clone()
}

/// The static C client of `tests/c/static_client.c`, built once with `musl-gcc -static`.
fn static_client() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            assert!(
                have("musl-gcc"),
                "musl-gcc is missing: apt-get install musl-tools (.ci/run does)"
            );
            let dir = build_dir().join("seccomp-c");
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("static-client");
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("c/static_client.c");
            let status = Command::new("musl-gcc")
                .args(["-static", "-O1", "-o"])
                .arg(&out)
                .arg(&source)
                .status()
                .expect("run musl-gcc");
            assert!(
                status.success(),
                "musl-gcc -static {} failed",
                source.display()
            );
            out
        })
        .clone()
}

const MOCKS: &str = r#"{"entries": [
  {"http": "GET http://api.example.com/hello", "response": {"status": 200, "body": "hi from mock"}},
  {"http": "GET https://secure.example.com/v1", "response": {"status": 200, "body": "secret mock"}},
  {"tcp": "10.9.9.9:7000", "request": "ping\n", "response": "pong\n"}
]}"#;

/// `mocket run FLAGS -- CMD` in a fresh namespace, with `env` for the command.
fn mocket(flags: &[&str], env: &[(&str, &str)], cmd: &[&str]) -> mocket_tests::Run {
    mocket_tests::mocket_run_env(&mocks_file(MOCKS), flags, env, cmd)
}

#[test]
fn go_http_get_of_a_mocked_host() {
    let go = go_client();
    let out = mocket(
        &["--seccomp"],
        &[],
        &[go.to_str().unwrap(), "get", "http://api.example.com/hello"],
    );
    out.success();
    assert!(out.stdout.contains("200 hi from mock"), "{out:?}");
}

#[test]
fn go_https_get_of_a_mocked_host_trusts_the_mocket_ca() {
    let go = go_client();
    let out = mocket(
        &["--seccomp"],
        &[],
        &[go.to_str().unwrap(), "get", "https://secure.example.com/v1"],
    );
    out.success();
    assert!(out.stdout.contains("200 secret mock"), "{out:?}");
}

#[test]
fn go_dns_lookup_of_a_mocked_name_gets_a_fake_address() {
    let go = go_client();
    let out = mocket(
        &["--seccomp"],
        &[("GODEBUG", "netdns=go")],
        &[go.to_str().unwrap(), "lookup", "api.example.com"],
    );
    out.success();
    // The fake range is 198.18.0.0/15.
    assert!(
        out.stdout.starts_with("[198.18.") || out.stdout.starts_with("[198.19."),
        "{out:?}"
    );
}

#[test]
fn a_static_go_program_is_intercepted_without_the_flag() {
    let go = go_client();
    let out = mocket(
        &[],
        &[],
        &[go.to_str().unwrap(), "get", "http://api.example.com/hello"],
    );
    out.success();
    assert!(out.stdout.contains("200 hi from mock"), "{out:?}");
}

#[test]
fn go_reaches_a_tcp_entry_and_its_peer_is_the_original_address() {
    let go = go_client();
    let out = mocket(
        &["--seccomp"],
        &[],
        &[go.to_str().unwrap(), "dial", "10.9.9.9:7000"],
    );
    out.success();
    assert!(out.stdout.contains(r#"reply "pong\n""#), "{out:?}");
    // getpeername (Go's RemoteAddr) of the redirected socket: the original destination.
    assert!(out.stdout.contains("peer 10.9.9.9:7000"), "{out:?}");
}

#[test]
fn a_static_c_client_reaches_a_tcp_entry_without_the_flag() {
    let client = static_client();
    let out = mocket(&[], &[], &[client.to_str().unwrap(), "10.9.9.9", "7000"]);
    out.success();
    assert!(out.stdout.contains("reply pong"), "{out:?}");
}

#[test]
fn mocket_seccomp_0_turns_the_automatic_mode_off() {
    let client = static_client();
    let out = mocket(
        &[],
        &[("MOCKET_SECCOMP", "0")],
        &[client.to_str().unwrap(), "10.9.9.9", "7000"],
    );
    // No filter: the static client reaches for the real network, which the namespace lacks.
    out.expect_code(3);
    assert!(
        out.stderr.contains("connect: Network unreachable"),
        "{out:?}"
    );
    let bad = mocket_tests::mocket_run_env(
        &mocks_file(MOCKS),
        &[],
        &[("MOCKET_SECCOMP", "yes")],
        &["true"],
    );
    bad.expect_code(2);
    assert!(bad.stderr.contains("MOCKET_SECCOMP=\"yes\""), "{bad:?}");
}

/// The Python harness of the strict-mode test: a real loopback listener, three clients under
/// `mocket run --seccomp --allow ''` (strict by default), then the number of connections the
/// listener got.
const STRICT_HARNESS: &str = r#"
import os, socket, subprocess, sys
mocket, go, static = sys.argv[1:4]
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
port = listener.getsockname()[1]
raw = '''
import ctypes, os, socket, struct, sys
nr = {"x86_64": 42, "aarch64": 203}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
addr = struct.pack("!HH4s8x", 0, int(sys.argv[1]), socket.inet_aton("127.0.0.1"))
addr = struct.pack("=H", socket.AF_INET) + addr[2:]
r = libc.syscall(nr, s.fileno(), addr, len(addr))
print("raw connect", r, os.strerror(ctypes.get_errno()))
sys.exit(0 if r == 0 else 3)
'''
for name, cmd in [
    ("go", [go, "dial", f"127.0.0.1:{port}"]),
    ("static", [static, "127.0.0.1", str(port)]),
    ("raw", ["python3", "-c", raw, str(port)]),
]:
    r = subprocess.run([mocket, "run", "--seccomp", "--allow", "", "--", *cmd], capture_output=True, text=True, timeout=60)
    print(name, "exit", r.returncode, r.stdout.strip().replace("\n", " | "), "//", r.stderr.strip().replace("\n", " | "))
listener.setblocking(False)
accepted = 0
while True:
    try:
        listener.accept()
        accepted += 1
    except BlockingIOError:
        break
print("accepted", accepted)
"#;

#[test]
fn strict_mode_refuses_go_a_static_client_and_a_raw_syscall() {
    let (go, client) = (go_client(), static_client());
    let mocks = mocks_file(r#"{"entries": []}"#);
    let mut cmd = netns_command(&[
        "python3",
        "-c",
        STRICT_HARNESS,
        mocket_bin().to_str().unwrap(),
        go.to_str().unwrap(),
        client.to_str().unwrap(),
    ]);
    cmd.env("MOCKET_CONFIG", &mocks);
    let out = run(cmd);
    out.success();
    for name in ["go", "static", "raw"] {
        assert!(
            out.stdout.contains(&format!("{name} exit 3")),
            "{name}: {out:?}"
        );
    }
    assert!(
        out.stdout.contains("raw connect -1 Connection refused"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("strict mode refused 127.0.0.1:"),
        "{out:?}"
    );
    assert!(out.stdout.contains("accepted 0"), "{out:?}");
}

#[test]
fn a_go_clients_traffic_is_recorded() {
    let go = go_client();
    let dir = scratch_dir("seccomp-record");
    let mocks = mocks_file(r#"{"entries": []}"#);
    std::fs::write(dir.join("page.txt"), "real page\n").unwrap();
    let script = format!(
        r#"cd {dir} && python3 -m http.server 18471 --bind 127.0.0.1 >/dev/null 2>&1 &
for i in $(seq 50); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", 18471))' 2>/dev/null && break; sleep 0.1; done
{mocket} run --seccomp --allow '' --record {dir}/cassettes -- {go} get http://127.0.0.1:18471/page.txt"#,
        dir = dir.display(),
        mocket = mocket_bin().display(),
        go = go.display()
    );
    let mut cmd = netns_command(&["sh", "-c", &script]);
    cmd.env("MOCKET_CONFIG", &mocks);
    let out = run(cmd);
    out.success();
    assert!(out.stdout.contains("200 real page"), "{out:?}");
    let cassette = std::fs::read_to_string(dir.join("cassettes/default.json")).unwrap();
    assert!(
        cassette.contains("/page.txt") && cassette.contains("real page"),
        "{cassette}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_go_redis_client_talks_to_the_emulator() {
    let go = go_client();
    let mocks = mocks_file(r#"{"entries": [{"redis": "10.9.9.10:6379", "emulate": true}]}"#);
    let out = mocket_tests::mocket_run_env(
        &mocks,
        &["--seccomp"],
        &[],
        &[go.to_str().unwrap(), "redis", "10.9.9.10:6379"],
    );
    out.success();
    for reply in [
        r#"redis "+OK\r\n""#,
        r#"redis "$5\r\n""#,
        r#"redis "hello\r\n""#,
    ] {
        assert!(out.stdout.contains(reply), "{reply}: {out:?}");
    }
}

#[test]
fn a_go_clients_requests_are_journaled_with_its_pid() {
    let go = go_client();
    let dir = scratch_dir("seccomp-journal");
    let journal = dir.join("journal.jsonl");
    let out = mocket(
        &["--seccomp", "--journal", journal.to_str().unwrap()],
        &[],
        &[go.to_str().unwrap(), "get", "http://api.example.com/hello"],
    );
    out.success();
    let text = std::fs::read_to_string(&journal).unwrap();
    let event: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(event["host"], "api.example.com", "{text}");
    assert_eq!(event["action"], "mocked", "{text}");
    assert_eq!(event["request"]["path"], "/hello", "{text}");
    assert!(event["pid"].as_u64().unwrap() > 1, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mocket run` killed with SIGKILL: a command that survives it (it ignores the SIGTERM the
/// kernel sends it) finds its connects failing with ENOSYS, never reaching the network.
#[test]
fn the_tree_fails_closed_when_the_daemon_dies() {
    let client = static_client();
    let script = format!(
        "trap '' TERM; kill -9 $PPID; sleep 0.5; {} 127.0.0.1 9; echo rc=$?",
        client.display()
    );
    let out = mocket(&["--seccomp"], &[], &["sh", "-c", &script]);
    // The exit status is mocket's (killed); the shell's output tells what the client saw.
    assert!(
        out.stderr.contains("connect: Function not implemented"),
        "{out:?}"
    );
    assert!(out.stdout.contains("rc=3"), "{out:?}");
}

/// A preloaded (dynamic) client under `--seccomp`: the shim decides, the filter lets its
/// connects through, and each connection is journaled once (a mocked one and a passed one).
#[test]
fn a_preloaded_client_keeps_the_shim_path_and_is_journaled_once() {
    let dir = scratch_dir("seccomp-shim");
    let journal = dir.join("journal.jsonl");
    let program = r#"
import socket, urllib.request
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
socket.create_connection(server.getsockname()).close()
with urllib.request.urlopen("http://api.example.com/hello", timeout=10) as r:
    print(r.status, r.read().decode())
"#;
    let out = mocket(
        &["--seccomp", "--journal", journal.to_str().unwrap()],
        &[],
        &["python3", "-c", program],
    );
    out.success();
    assert!(out.stdout.contains("200 hi from mock"), "{out:?}");
    let text = std::fs::read_to_string(&journal).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions, [r#""passthrough""#, r#""mocked""#], "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Strict mode never lets the kernel re-read an address it judged: a thread rewriting the
/// address between an allowed port and a refused one never gets a connection to the latter.
#[test]
fn strict_mode_is_immune_to_an_address_rewritten_after_the_check() {
    assert!(
        have("musl-gcc"),
        "musl-gcc is missing: apt-get install musl-tools (.ci/run does)"
    );
    let dir = scratch_dir("seccomp-flip");
    let flipper = dir.join("address-flipper");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("c/address_flipper.c");
    let built = Command::new("musl-gcc")
        .args(["-static", "-pthread", "-O1", "-o"])
        .arg(&flipper)
        .arg(&source)
        .status()
        .expect("run musl-gcc");
    assert!(built.success());
    let harness = r#"
import socket, subprocess, sys
mocket, flipper = sys.argv[1:3]
def listener():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(512); s.setblocking(False); return s
allowed, refused = listener(), listener()
ports = [str(s.getsockname()[1]) for s in (allowed, refused)]
r = subprocess.run([mocket, "run", "--log", "error", "--allow", "127.0.0.1:" + ports[0], "--",
                    flipper, *ports], capture_output=True, text=True, timeout=100)
print(r.stdout.strip(), "//", r.stderr.strip()[:300])
def count(s):
    n = 0
    while True:
        try:
            s.accept()[0].close(); n += 1
        except BlockingIOError:
            return n
print("allowed", count(allowed), "refused", count(refused))
"#;
    let mut cmd = netns_command(&[
        "python3",
        "-c",
        harness,
        mocket_bin().to_str().unwrap(),
        flipper.to_str().unwrap(),
    ]);
    cmd.env("MOCKET_CONFIG", mocks_file(r#"{"entries": []}"#));
    let out = run(cmd);
    out.success();
    assert!(out.stdout.contains("refused 0"), "{out:?}");
    // The check is meaningful only if the race was on: both ports were tried.
    assert!(
        !out.stdout.contains("connected 0 ") && !out.stdout.contains("allowed 0 "),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rest of strict mode's airtightness: a Go datagram sent with `sendto` to a real loopback
/// receiver no rule allows is refused (`EPERM`, nothing received), and `io_uring_setup` fails
/// with `ENOSYS` (an io_uring connect would bypass the filter).
#[test]
fn strict_mode_refuses_datagrams_with_a_destination_and_io_uring() {
    let go = go_client();
    let harness = r#"
import socket, subprocess, sys
mocket, go = sys.argv[1:3]
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0)); receiver.setblocking(False)
port = receiver.getsockname()[1]
r = subprocess.run([mocket, "run", "--seccomp", "--allow", "", "--", go, "udp", f"127.0.0.1:{port}"],
                   capture_output=True, text=True, timeout=60)
print("go", r.returncode, r.stdout.strip(), "//", r.stderr.strip().replace("\n", " | "))
uring = '''
import ctypes, os
nr = {"x86_64": 425, "aarch64": 425}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
r = libc.syscall(nr, 8, params)
print("io_uring_setup", r, os.strerror(ctypes.get_errno()))
'''
r = subprocess.run([mocket, "run", "--seccomp", "--", "python3", "-c", uring], capture_output=True, text=True, timeout=60)
print(r.stdout.strip())
try:
    receiver.recv(100); print("received 1")
except BlockingIOError:
    print("received 0")
"#;
    let mut cmd = netns_command(&[
        "python3",
        "-c",
        harness,
        mocket_bin().to_str().unwrap(),
        go.to_str().unwrap(),
    ]);
    cmd.env("MOCKET_CONFIG", mocks_file(r#"{"entries": []}"#));
    let out = run(cmd);
    out.success();
    assert!(out.stdout.contains("go 3 error:"), "{out:?}");
    assert!(out.stdout.contains("operation not permitted"), "{out:?}");
    assert!(
        out.stdout.contains("strict mode refused 127.0.0.1:"),
        "{out:?}"
    );
    assert!(out.stdout.contains("received 0"), "{out:?}");
    assert!(
        out.stdout
            .contains("io_uring_setup -1 Function not implemented"),
        "{out:?}"
    );
}

/// Runs `mocket run --seccomp -- true` under a seccomp filter of its own that makes system
/// call `nr` fail with ENOSYS, as on a kernel without it.
fn run_without_syscall(nr: u32) -> mocket_tests::Run {
    let jail = r#"
import ctypes, os, struct, sys
nr, argv = int(sys.argv[1]), sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, jt, jf, k): return struct.pack("=HBBI", code, jt, jf, k)
prog = b"".join([
    insn(0x20, 0, 0, 0),                     # ld [nr]
    insn(0x15, 0, 1, nr),                    # jeq nr
    insn(0x06, 0, 0, 0x00050000 | 38),       # ret ERRNO(ENOSYS)
    insn(0x06, 0, 0, 0x7fff0000),            # ret ALLOW
])
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack("=HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog)
assert libc.prctl(38, 1, 0, 0, 0) == 0                      # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.c_void_p(ctypes.addressof(fbuf)), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
os.execv(argv[0], argv)
"#;
    let mocks = mocks_file(r#"{"entries": []}"#);
    let mocket = mocket_bin();
    let cmd = [
        "python3",
        "-c",
        jail,
        &nr.to_string(),
        mocket.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--seccomp",
        "--",
        "true",
    ];
    run(netns_command(&cmd))
}

#[test]
fn a_kernel_without_the_features_gets_one_line_and_exit_2() {
    if std::env::consts::ARCH != "x86_64" {
        return; // the system call numbers below are x86_64's
    }
    for (nr, feature) in [(317, "SECCOMP_RET_USER_NOTIF"), (438, "pidfd_getfd")] {
        let out = run_without_syscall(nr);
        out.expect_code(2);
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("this kernel refuses {feature}")),
            "{out:?}"
        );
        assert!(out.stderr.contains("MOCKET_SECCOMP=0"), "{out:?}");
    }
}

/// A connect with a bad descriptor, on a non-socket or with a bad pointer gets the kernel's own
/// error under `--seccomp` (static program: the filter is on by itself).
#[test]
fn bad_connect_arguments_get_the_kernels_errors() {
    assert!(
        have("musl-gcc"),
        "musl-gcc is missing: apt-get install musl-tools (.ci/run does)"
    );
    let dir = scratch_dir("seccomp-badargs");
    let program = dir.join("bad-arguments");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("c/bad_arguments.c");
    let built = Command::new("musl-gcc")
        .args(["-static", "-o"])
        .arg(&program)
        .arg(&source)
        .status()
        .expect("run musl-gcc");
    assert!(built.success());
    let out = mocket(&[], &[], &[program.to_str().unwrap()]);
    out.success();
    let expected = "badfd -1 Bad file descriptor\nnotsock -1 Not a socket\nfault -1 Bad address\n";
    assert_eq!(out.stdout, expected, "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
