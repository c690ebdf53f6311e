//! Issue 10, the shim's part: strict mode without DNS or send escapes, names the control line
//! cannot carry, invalid pointers, SIGPIPE, `--log error` reaching the shim, and `mocket run`'s
//! command not outliving it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "tcp": "legacy.internal:9000", "greeting": "220 legacy ready\r\n", "response": "ok\r\n" }
  ]
}"#;

/// `mocket run FLAGS -- CMD` in a fresh network and mount namespace whose /etc/resolv.conf
/// names only 127.0.0.1 (one try, one second), where the test's fake nameserver listens.
fn mocket_run_with_local_nameserver(mocks: &Path, flags: &[&str], cmd: &[&str]) -> Run {
    let conf = scratch_dir("resolv").join("resolv.conf");
    std::fs::write(
        &conf,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let mut c = Command::new("unshare");
    c.args([
        "-n",
        "-m",
        "--",
        "sh",
        "-c",
        "ip link set lo up && mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
    ]);
    c.arg(&conf)
        .arg(mocket_bin())
        .arg("run")
        .arg("--config")
        .arg(mocks);
    c.args(flags).arg("--").args(cmd);
    run(c)
}

#[test]
fn no_resolver_entry_point_reaches_a_nameserver_in_strict_mode() {
    let mocks = mocks_file(MOCKS);
    let program = compile_test_c("hardening_shim_dns", &["-lresolv", "-lanl"]);
    let journal = scratch_dir("dns-escapes").join("journal.jsonl");
    let run = mocket_run_with_local_nameserver(
        &mocks,
        &["--allow", "", "--journal", journal.to_str().unwrap()],
        &[program.to_str().unwrap()],
    );
    run.expect_code(1);
    let expected = "\
res_nquery -1
res_nsearch -1
res_nquerydomain -1
res_querydomain -1
res_query numeric -1
res_send -1
res_nsend -1
getaddrinfo_a 0 0
getaddrinfo_a nowait 0 0 7
gethostbyaddr null 1
gethostbyaddr_r null 1
getnameinfo namereqd EAI_NONAME
getnameinfo 0 8.8.8.8
queries 0
";
    assert_eq!(run.stdout, expected, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("strict mode refused a reverse lookup of 8.8.8.8"),
        "{}",
        run.stderr
    );
    let journal = std::fs::read_to_string(&journal).unwrap();
    let refused_dns = journal
        .lines()
        .filter(|l| l.contains("\"dns\"") && l.contains("\"refused\""))
        .count();
    assert_eq!(refused_dns, 11, "{journal}");
}

#[test]
fn an_allowed_reverse_lookup_still_reaches_the_resolver() {
    let mocks = mocks_file(MOCKS);
    let program = compile_test_c("hardening_shim_dns", &["-lresolv", "-lanl"]);
    let run = mocket_run_with_local_nameserver(
        &mocks,
        &["--allow", "8.8.8.8", "--allow", "example.org"],
        &[program.to_str().unwrap()],
    );
    // Every query the program makes is allowed: each one reaches the fake nameserver, which
    // never answers.
    let queries = run.stdout.lines().last().unwrap_or_default();
    let count: usize = queries
        .strip_prefix("queries ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}\n{}", run.stdout, run.stderr));
    assert!(count >= 10, "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn sendmmsg_and_glibc_connect_alias_are_judged() {
    let mocks = mocks_file(MOCKS);
    let program = compile_test_c("hardening_shim_send", &[]);
    let run = mocket_run(
        &mocks,
        &["--allow", "127.0.0.1:7101"],
        &[program.to_str().unwrap(), "7101", "7102"],
    );
    run.expect_code(1);
    let expected = "\
allowed 2
mixed -1 Operation not permitted
refused -1 Operation not permitted
received allowed 2 other 0
__connect -1 Connection refused
";
    assert_eq!(run.stdout, expected, "{}", run.stderr);
}

#[test]
fn invalid_pointers_get_efault_and_the_process_lives() {
    let mocks = mocks_file(MOCKS);
    let program = compile_test_c("hardening_shim_pointers", &[]);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &[program.to_str().unwrap()]);
        let expected = "\
connect -1 EFAULT
sendto -1 EFAULT
sendmsg-header -1 EFAULT
sendmsg-name -1 EFAULT
sendmmsg-vector -1 EFAULT
sendmmsg-name -1 EFAULT
getaddrinfo-name EAI_SYSTEM
getaddrinfo-numeric EAI_SYSTEM
alive
";
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

const PY_BAD_NAMES: &str = r#"
import socket, sys
port = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen()
for name in [b"a\nb", b"a b", b"a\rresolve 1 x", b"x" * 300]:
    try:
        socket.getaddrinfo(name, 80)
        print("resolved")
    except socket.gaierror as e:
        print("EAI_NONAME" if e.errno == socket.EAI_NONAME else e)
try:
    socket.gethostbyname("a b")
    print("resolved")
except OSError:
    print("not found")
client = socket.socket()
try:
    client.connect(("127.0.0.1", port))
    print("connected")
except ConnectionRefusedError:
    print("refused")
"#;

#[test]
fn a_name_the_control_line_cannot_carry_is_refused_and_shifts_nothing() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = match placement {
            Placement::Daemon => mocket_run(
                &mocks,
                &["--allow", "127.0.0.1:1"],
                &["python3", "-c", PY_BAD_NAMES, "7201"],
            ),
            Placement::Embedded => preload_run(
                &mocks,
                &[("MOCKET_ALLOW", "127.0.0.1:1")],
                &["python3", "-c", PY_BAD_NAMES, "7201"],
            ),
        };
        assert_eq!(
            run.stdout, "EAI_NONAME\nEAI_NONAME\nEAI_NONAME\nEAI_NONAME\nnot found\nrefused\n",
            "{placement:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("refused a lookup of \"a\\nb\""),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn log_error_silences_the_shim_too() {
    let mocks = mocks_file(MOCKS);
    let program =
        "import socket\ntry: socket.create_connection(('127.0.0.1', 7301))\nexcept OSError: pass";
    let loud = mocket_run(&mocks, &["--allow", ""], &["python3", "-c", program]);
    assert!(
        loud.stderr
            .contains("mocket: strict mode refused 127.0.0.1:7301"),
        "{}",
        loud.stderr
    );
    let quiet = mocket_run(
        &mocks,
        &["--allow", "", "--log", "error"],
        &["python3", "-c", program],
    );
    quiet.expect_code(1);
    assert!(
        !quiet.stderr.contains("strict mode refused"),
        "{}",
        quiet.stderr
    );
    assert!(
        quiet.stderr.contains("refused tcp 127.0.0.1:7301"),
        "{}",
        quiet.stderr
    );
}

/// Whether process `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[test]
fn the_command_does_not_outlive_a_killed_mocket_run() {
    let mocks = mocks_file(MOCKS);
    let pid_file = scratch_dir("pdeathsig").join("pid");
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let bin = mocket_bin();
    let mut command = netns_command(&[
        bin.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    // unshare and sh exec: the spawned pid becomes mocket's.
    let mut mocket = command.spawn().expect("spawn mocket run");
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<u32>() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(running(pid));
    mocket.kill().unwrap(); // SIGKILL: mocket cannot clean up or relay anything
    mocket.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survived = running(pid);
    if survived {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(!survived, "the command outlived a SIGKILLed mocket run");
}

#[test]
fn a_normal_exit_leaves_no_runtime_directory() {
    let mocks = mocks_file(MOCKS);
    let tmp = scratch_dir("runtime-dir");
    for cmd in [&["true"][..], &["false"], &["/nonexistent/command"]] {
        let bin = mocket_bin();
        let mut args = vec![
            bin.to_str().unwrap(),
            "run",
            "--config",
            mocks.to_str().unwrap(),
            "--",
        ];
        args.extend_from_slice(cmd);
        let mut c = netns_command(&args);
        c.env("TMPDIR", &tmp).env_remove("XDG_RUNTIME_DIR");
        let run = run(c);
        assert_ne!(run.code, None, "{cmd:?}: {}", run.stderr);
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{cmd:?} left {left:?}");
    }
}

const PY_CLOSING_DAEMON: &str = r#"
import os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
print("ready", flush=True)
n = 0
while True:
    conn, _ = server.accept()
    conn.makefile("rb").readline()
    n += 1
    conn.sendall(b"fake 198.18.0.%d\n" % n)
    conn.close()
"#;

#[test]
fn a_daemon_that_went_away_is_no_sigpipe() {
    let program = compile_test_c("hardening_shim_sigpipe", &[]);
    let dir = scratch_dir("sigpipe");
    let socket = dir.join("control.sock");
    let mut daemon = Command::new("python3")
        .args(["-c", PY_CLOSING_DAEMON])
        .arg(&socket)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fake daemon");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(daemon.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready, "ready\n");
    let mut c = netns_command(&[program.to_str().unwrap()]);
    c.env("LD_PRELOAD", shim_lib())
        .env("MOCKET_SOCKET", &socket);
    let run = run(c);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        run.stdout, "first 0\nsecond 0\nalive\n",
        "exit {:?}: {}",
        run.code, run.stderr
    );
}

/// The system's libssl and libcrypto, when they are in a usual place.
fn system_openssl() -> Option<(PathBuf, PathBuf)> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(Path::new)
    .map(|dir| (dir.join("libssl.so.3"), dir.join("libcrypto.so.3")))
    .find(|(ssl, crypto)| ssl.is_file() && crypto.is_file())
}

/// A copy of libssl under another soname (same length, patched in place), and a library
/// linked against it, as in a manylinux wheel.
fn wheel_like_library(ssl: &Path, crypto: &Path) -> PathBuf {
    let dir = scratch_dir("wheel-ssl");
    let bytes = std::fs::read(ssl).unwrap();
    let (from, to) = (b"libssl.so.3\0", b"libssq.so.3\0");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("libssl names itself");
    let mut renamed = bytes.clone();
    renamed[at..at + to.len()].copy_from_slice(to);
    std::fs::write(dir.join("libssq.so.3"), renamed).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/hardening_shim_wheel_ssl.c");
    let lib = dir.join("libwheel.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC"])
        .arg(&source)
        .arg("-o")
        .arg(&lib)
        .arg(dir.join("libssq.so.3"))
        .arg(crypto)
        .arg("-Wl,-rpath,$ORIGIN")
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

#[test]
fn openssl_under_another_soname_gets_its_own_functions_and_the_ca() {
    let Some((ssl, crypto)) = system_openssl() else {
        eprintln!("no libssl.so.3 in the usual places: skipped");
        return;
    };
    let lib = wheel_like_library(&ssl, &crypto);
    let mocks = mocks_file(MOCKS);
    // Without and with the system libssl loaded too (`import ssl`): the wheel's calls must
    // reach the wheel's libssl either way.
    for first in ["", "import ssl"] {
        let program = format!(
            "{first}\nimport ctypes, sys\nprint(ctypes.CDLL(sys.argv[1]).certificates_in_a_new_context())"
        );
        let bare = run({
            let mut c = netns_command(&["python3", "-c", &program, lib.to_str().unwrap()]);
            c.env_remove("LD_PRELOAD");
            c
        });
        assert_eq!(bare.stdout, "0\n", "without mocket: {}", bare.stderr);
        let run = preload_run(
            &mocks,
            &[],
            &["python3", "-c", &program, lib.to_str().unwrap()],
        );
        assert_eq!(run.stdout, "1\n", "{first:?}: {}", run.stderr);
    }
}
