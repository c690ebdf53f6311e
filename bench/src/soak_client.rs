//! `bench-client soak`: the load of the soak section (issue 11), driven phase by phase by the
//! harness through stdin, so that the harness can sample the engine's process between phases.
//!
//! ```text
//! bench-client soak HOST:PORT parent|self GET_PATH UPLOAD_PATH
//! ```
//!
//! The engine runs in the parent (`mocket run`) or in this process (embedded); its resident size
//! bounds the upload. Commands, one per line on stdin:
//!
//! - `keep N CONNS`: N keep-alive `GET`s spread over CONNS connections, one thread each;
//! - `new N CONNS`: N connections with one `GET` each (the client closes first, so TIME-WAIT
//!   stays on this side, where `connect` may reuse it), CONNS threads;
//! - `idle N HOLD_MS`: opens N connections that send nothing, holds them HOLD_MS, closes them;
//! - `upload BYTES CAP_KB`: one `POST` of BYTES bytes (`content-length`, written from one 1 MiB
//!   buffer), given up when the engine's VmRSS has grown by more than CAP_KB;
//! - `quit`.
//!
//! Each phase prints `{"event":"warm"}` once 10% of its work is done (for `idle`: once every
//! connection is open), then one `{"event":"done", ...}` line with its figures. The HTTP client
//! is a minimal HTTP/1.1 client over `std::net::TcpStream` (request written in one call,
//! response framed by `content-length`): the soak measures the engine, and a lean client leaves
//! it the most of the two cores.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a read or write waits for the engine before the request counts as an error.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Errors printed per phase (the rest are only counted).
const ERRORS_SHOWN: usize = 3;

pub fn main(args: &[String]) {
    let [authority, engine, get_path, upload_path] = args else {
        eprintln!("usage: bench-client soak HOST:PORT parent|self GET_PATH UPLOAD_PATH");
        std::process::exit(2);
    };
    let engine_pid = match engine.as_str() {
        "parent" => std::os::unix::process::parent_id().to_string(),
        "self" => "self".to_string(),
        e => panic!("engine {e}: parent or self"),
    };
    let addr = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("cannot resolve {authority}"));
    let host = authority.split(':').next().unwrap_or(authority).to_string();
    let target = Target {
        addr,
        host,
        get_path: get_path.clone(),
        upload_path: upload_path.clone(),
    };
    println!("{}", json!({"event": "ready", "pid": std::process::id()}));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> usize {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("bad command {line:?}"))
        };
        let done = match words.first().copied() {
            Some("keep") => keep_alive(&target, num(1), num(2)),
            Some("new") => new_connections(&target, num(1), num(2)),
            Some("idle") => idle(&target, num(1), Duration::from_millis(num(2) as u64)),
            Some("upload") => upload(&target, num(1), num(2) as u64, &engine_pid),
            Some("quit") | None => break,
            Some(other) => panic!("unknown soak command {other:?}"),
        };
        println!("{done}");
    }
}

/// Where the mocked host is: its (fake) address, resolved once through the shim, and its name.
struct Target {
    addr: SocketAddr,
    host: String,
    get_path: String,
    upload_path: String,
}

impl Target {
    fn connect(&self) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(s)
    }
    fn get_request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\naccept: */*\r\n\r\n",
            self.get_path, self.host
        )
        .into_bytes()
    }
}

/// Prints the warm-up mark once, when `done` reaches `at`.
struct Progress {
    done: AtomicUsize,
    at: usize,
    errors: AtomicUsize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            done: AtomicUsize::new(0),
            at: (total / 10).max(1),
            errors: AtomicUsize::new(0),
        }
    }
    fn step(&self, ok: Result<(), String>) {
        if let Err(e) = ok {
            if self.errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
                eprintln!("soak: {e}");
            }
        }
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 == self.at {
            warm();
        }
    }
    fn errors(&self) -> usize {
        self.errors.load(Ordering::Relaxed)
    }
}

fn warm() {
    println!("{}", json!({"event": "warm"}));
    let _ = std::io::stdout().flush();
}

/// Reads one response off `s` (bytes after it stay in `buf`) and checks that it is a 200.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or("a response without content-length")?;
            while buf.len() < head_end + len {
                let k = read_some(s, &mut chunk)?;
                buf.extend_from_slice(&chunk[..k]);
            }
            let ok = head.starts_with("http/1.1 200");
            let status = head.lines().next().unwrap_or("").to_string();
            buf.drain(..head_end + len);
            return if ok {
                Ok(())
            } else {
                Err(format!("not a 200: {status}"))
            };
        }
        if buf.len() > 64 * 1024 {
            return Err("a response head over 64 KiB".into());
        }
        let k = read_some(s, &mut chunk)?;
        buf.extend_from_slice(&chunk[..k]);
    }
}

fn read_some(s: &mut TcpStream, chunk: &mut [u8]) -> Result<usize, String> {
    match s.read(chunk) {
        Ok(0) => Err("closed by the engine".into()),
        Ok(k) => Ok(k),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// One request and its response on `s`.
fn exchange(s: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<(), String> {
    s.write_all(request).map_err(|e| format!("write: {e}"))?;
    read_response(s, buf)
}

/// Splits `n` into `parts` shares that add up to `n`.
fn shares(n: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| n / parts + usize::from(i < n % parts))
        .collect()
}

fn keep_alive(target: &Target, n: usize, conns: usize) -> Value {
    let progress = Progress::new(n);
    let request = target.get_request();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for share in shares(n, conns) {
            let (progress, request) = (&progress, &request);
            scope.spawn(move || {
                let mut conn: Option<TcpStream> = None;
                let mut buf = Vec::with_capacity(4096);
                for _ in 0..share {
                    let r = match conn.as_mut() {
                        Some(s) => exchange(s, &mut buf, request),
                        None => target
                            .connect()
                            .map_err(|e| format!("connect: {e}"))
                            .and_then(|mut s| {
                                let r = exchange(&mut s, &mut buf, request);
                                conn = Some(s);
                                r
                            }),
                    };
                    if r.is_err() {
                        conn = None; // a fresh connection for the next request
                        buf.clear();
                    }
                    progress.step(r);
                }
            });
        }
    });
    done(
        "keep",
        n,
        progress.errors(),
        start,
        json!({"connections": conns}),
    )
}

fn new_connections(target: &Target, n: usize, threads: usize) -> Value {
    let progress = Progress::new(n);
    let request = target.get_request();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for share in shares(n, threads) {
            let (progress, request) = (&progress, &request);
            scope.spawn(move || {
                let mut buf = Vec::with_capacity(4096);
                for _ in 0..share {
                    buf.clear();
                    let r = target
                        .connect()
                        .map_err(|e| format!("connect: {e}"))
                        .and_then(|mut s| exchange(&mut s, &mut buf, request));
                    progress.step(r);
                }
            });
        }
    });
    done(
        "new",
        n,
        progress.errors(),
        start,
        json!({"threads": threads}),
    )
}

fn idle(target: &Target, n: usize, hold: Duration) -> Value {
    let start = Instant::now();
    let mut open = Vec::with_capacity(n);
    let mut errors = 0;
    for _ in 0..n {
        match target.connect() {
            Ok(s) => open.push(s),
            Err(e) => {
                errors += 1;
                if errors <= ERRORS_SHOWN {
                    eprintln!("soak: idle connect: {e}");
                }
            }
        }
    }
    let opened_s = start.elapsed().as_secs_f64();
    warm();
    std::thread::sleep(hold);
    // Connections the engine closed while they were idle (an idle timeout) read as EOF.
    let mut closed_by_engine = 0;
    for s in &open {
        let _ = s.set_nonblocking(true);
        let mut b = [0u8; 1];
        if matches!(s.peek(&mut b), Ok(0)) {
            closed_by_engine += 1;
        }
    }
    let held = open.len();
    drop(open);
    done(
        "idle",
        n,
        errors,
        start,
        json!({"open": held, "open_secs": opened_s, "hold_ms": hold.as_millis() as u64,
               "closed_by_engine_during_hold": closed_by_engine}),
    )
}

/// `VmRSS` of `/proc/<who>/status`, in kB.
fn rss_kb(who: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{who}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn upload(target: &Target, bytes: usize, cap_kb: u64, engine_pid: &str) -> Value {
    const CHUNK: usize = 1 << 20;
    let buf = vec![b'x'; CHUNK];
    let rss_before = rss_kb(engine_pid);
    let start = Instant::now();
    let mut sent = 0usize;
    let mut cap_hit: Option<u64> = None;
    let result = (|| -> Result<(), String> {
        let mut s = target.connect().map_err(|e| format!("connect: {e}"))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {bytes}\r\n\r\n",
            target.upload_path, target.host
        );
        s.write_all(head.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let warm_at = bytes / 10;
        while sent < bytes {
            let k = CHUNK.min(bytes - sent);
            if let Err(e) = s.write_all(&buf[..k]) {
                // The engine may answer (and close) before the whole body is in.
                let mut rest = Vec::new();
                return read_response(&mut s, &mut rest)
                    .map_err(|r| format!("write after {sent} bytes: {e}; then {r}"));
            }
            let before = sent;
            sent += k;
            if before < warm_at && sent >= warm_at {
                warm();
            }
            if sent.is_multiple_of(8 * CHUNK) {
                let grown = rss_kb(engine_pid).saturating_sub(rss_before);
                if grown > cap_kb {
                    cap_hit = Some(grown);
                    return Err(format!(
                        "gave up after {} MiB: the engine's VmRSS grew by {} MiB (cap {} MiB)",
                        sent >> 20,
                        grown >> 10,
                        cap_kb >> 10
                    ));
                }
            }
        }
        let mut rest = Vec::new();
        read_response(&mut s, &mut rest)
    })();
    if let Err(e) = &result {
        eprintln!("soak: upload: {e}");
    }
    done(
        "upload",
        1,
        usize::from(result.is_err()),
        start,
        json!({"bytes": bytes, "sent": sent, "cap_kb": cap_kb, "cap_hit_growth_kb": cap_hit,
               "error": result.err()}),
    )
}

fn done(phase: &str, n: usize, errors: usize, start: Instant, extra: Value) -> Value {
    let secs = start.elapsed().as_secs_f64();
    let mut v = json!({"event": "done", "phase": phase, "n": n, "errors": errors, "secs": secs,
                       "per_s": n as f64 / secs});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}
