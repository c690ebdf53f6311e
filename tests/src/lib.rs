//! The harness for mocket's integration tests: real programs run under the built
//! `libmocket.so` and `mocket`, inside a fresh network namespace (`unshare -n`, loopback up),
//! so nothing a test does can reach an outside address.
//!
//! Build first: `cargo build --workspace` (the README's test command does both).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where cargo put the binaries: the test executable lives in `<target>/<profile>/deps/`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

fn built(name: &str) -> PathBuf {
    let path = build_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// The `mocket` binary.
pub fn mocket_bin() -> PathBuf {
    built("mocket")
}

/// `libmocket.so`.
pub fn shim_lib() -> PathBuf {
    built("libmocket.so")
}

/// A fresh scratch directory under the target dir, unique per call.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = build_dir()
        .join("scratch")
        .join(format!("{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes a mocks file and returns its path.
pub fn mocks_file(json: &str) -> PathBuf {
    let path = scratch_dir("mocks").join("mocks.json");
    std::fs::write(&path, json).expect("write mocks file");
    path
}

/// A command that runs `cmd` in a new network namespace with only loopback up.
pub fn netns_command(cmd: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-n",
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" \"$@\"",
    ]);
    c.args(cmd);
    c.stdin(Stdio::null());
    c
}

/// The result of a run, with text output.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both outputs unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }
}

/// Runs a prepared command (with a timeout so a hang fails the test instead of CI).
pub fn run(command: Command) -> Run {
    let mut wrapped = Command::new("timeout");
    wrapped
        .args(["-k", "5", "120"])
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped.stdin(Stdio::null());
    Run::from(wrapped.output().expect("spawn command"))
}

/// `mocket run --config MOCKS FLAGS... -- CMD...` in a fresh network namespace.
pub fn mocket_run(mocks: &Path, flags: &[&str], cmd: &[&str]) -> Run {
    mocket_run_env(mocks, flags, &[], cmd)
}

/// As [`mocket_run`], with extra environment variables.
pub fn mocket_run_env(mocks: &Path, flags: &[&str], env: &[(&str, &str)], cmd: &[&str]) -> Run {
    let bin = mocket_bin();
    let mocks = mocks.to_string_lossy();
    let mut args = vec![bin.to_str().unwrap(), "run", "--config", &mocks];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(cmd);
    let mut c = netns_command(&args);
    c.envs(env.iter().copied());
    run(c)
}

/// `LD_PRELOAD=libmocket.so MOCKET_CONFIG=MOCKS CMD...` (the embedded engine) in a fresh
/// network namespace.
pub fn preload_run(mocks: &Path, env: &[(&str, &str)], cmd: &[&str]) -> Run {
    let mut c = netns_command(cmd);
    c.env("LD_PRELOAD", shim_lib())
        .env("MOCKET_CONFIG", mocks)
        .env_remove("MOCKET_SOCKET");
    c.envs(env.iter().copied());
    run(c)
}

/// Both placements of the engine, for tests that must hold under each.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    Daemon,
    Embedded,
}

pub const PLACEMENTS: [Placement; 2] = [Placement::Daemon, Placement::Embedded];

impl Placement {
    pub fn run(self, mocks: &Path, cmd: &[&str]) -> Run {
        self.run_env(mocks, &[], cmd)
    }

    /// As [`Placement::run`], with extra environment variables.
    pub fn run_env(self, mocks: &Path, env: &[(&str, &str)], cmd: &[&str]) -> Run {
        match self {
            Placement::Daemon => mocket_run_env(mocks, &[], env, cmd),
            Placement::Embedded => preload_run(mocks, env, cmd),
        }
    }
}

/// Runs a Python program (given as text) with arguments under `placement`.
pub fn python(placement: Placement, mocks: &Path, program: &str, args: &[&str]) -> Run {
    let mut cmd = vec!["python3", "-c", program];
    cmd.extend_from_slice(args);
    placement.run(mocks, &cmd)
}

/// Whether a program is on PATH (tests of optional clients say so when it is not).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Fails the test, saying how to fix it, when python3 cannot import `module` (`.ci/run` installs
/// the modules the tests use with pip).
pub fn need_python_module(module: &str) {
    let check = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "python3 cannot import {module} (.ci/run installs it with pip)"
    );
}

/// Makes a CA of the test's own in `dir` (`test-ca.pem`, `test-ca.key`) and a server
/// certificate it signed for `localhost` and 127.0.0.1 (`server.pem`, `server.key`): a real
/// HTTPS upstream whose certificate mocket trusts only through `MOCKET_UPSTREAM_CA`.
pub fn make_test_ca(dir: &Path) {
    let script = r#"set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=mocket-test-ca -keyout test-ca.key -out test-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA test-ca.pem -CAkey test-ca.key -CAcreateserial \
  -days 2 -extfile san.ext -out server.pem 2>/dev/null
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{out:?}");
}

/// A private data dir with the mocket CA made in it (`mocket ca`); returns the dir and the CA's
/// certificate file.
pub fn data_home_with_ca() -> (PathBuf, String) {
    let data = scratch_dir("data-home");
    let out = Command::new(mocket_bin())
        .arg("ca")
        .env("XDG_DATA_HOME", &data)
        .output()
        .expect("run mocket ca");
    assert!(out.status.success(), "mocket ca: {out:?}");
    let ca = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(Path::new(&ca).exists(), "mocket ca printed {ca:?}");
    (data, ca)
}

/// Runs the ignored test `fixture::<name>` of the calling test binary under `placement`, with
/// no mocks-file entries (the fixture declares its own through the test API); it must pass.
pub fn run_fixture(placement: Placement, name: &str) {
    let exe = std::env::current_exe().expect("test binary");
    let test = format!("fixture::{name}");
    let cmd = [exe.to_str().unwrap(), "--ignored", "--exact", &test];
    let mocks = mocks_file(r#"{"entries": []}"#);
    let run = placement.run_env(&mocks, &[("RUST_BACKTRACE", "0")], &cmd);
    assert!(
        run.stdout.contains(&format!("test {test} ... ok")),
        "{placement:?}: {name}:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// One GET on a keep-alive connection with std's `TcpStream`: the status line and the body
/// (`content-length` framing).
pub fn keep_alive_get(
    stream: &mut std::io::BufReader<std::net::TcpStream>,
    host: &str,
    path: &str,
) -> (String, String) {
    use std::io::{BufRead, Read, Write};
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    stream.read_line(&mut status).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    (
        status.trim_end().to_string(),
        String::from_utf8(body).unwrap(),
    )
}

/// A plain connection to `host:80` with a 30 s read timeout, for [`keep_alive_get`].
pub fn keep_alive_connect(host: &str) -> std::io::BufReader<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect((host, 80)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    std::io::BufReader::new(stream)
}

/// Compiles the C program `tests/c/<name>.c` with `cc`, linking `libs`, into a scratch dir.
pub fn compile_test_c(name: &str, libs: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c")
        .join(format!("{name}.c"));
    let exe = scratch_dir(name).join(name);
    let out = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .args(libs)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc {}: {}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Python helpers for tests that connect to the engine's port directly (as a process that is
/// not mocket's would): `engine_port(host, port)` finds it from a redirected socket's peer in
/// `/proc/net/tcp` (`getpeername` answers with the original destination); `read_all(sock)`
/// returns what came before the engine closed or reset the connection.
pub const ENGINE_PORT_PY: &str = r#"
import socket

def engine_port(host, port):
    s = socket.create_connection((host, port), timeout=10)
    local = s.getsockname()[1]
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local:
            s.close()
            return int(fields[2].split(":")[1], 16)
    raise SystemExit("redirected socket not found")

def read_all(sock):
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except OSError:
        pass
    return data
"#;

/// Python helper for tests that make plain HTTP requests by hand: `http_get(host, path)` opens
/// a new connection to `host` (port 80 unless told), sends one `GET path` with
/// `Connection: close`, reads until the server closes and returns the status line and the body
/// as one string, e.g. `"HTTP/1.1 200 OK fine"` (what came, whatever it is, when it is not an
/// HTTP answer: the caller's assertion then shows it).
pub const HTTP_GET_PY: &str = r#"
import socket

def http_get(host, path, port=80, timeout=20):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return (head.split(b"\r\n")[0] + b" " + body).decode(errors="replace")
"#;
