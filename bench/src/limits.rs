//! Section 2: the physical limits of this machine, measured in the same run: what a request and
//! its response cost when nothing but the kernel is involved.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Instant;

use serde_json::Value;

use crate::Cfg;
use crate::common::{Report, Series, fmt};

const REQ: &[u8] = b"GET /v1/users/1 HTTP/1.1\r\nhost: api.example.com\r\naccept: */*\r\n\r\n";
const RESP: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{\"id\":1}";

/// Times `n` calls of `op` (after n/10 warm-up calls): ops/s and per-op latencies.
fn measure(n: usize, op: impl FnMut()) -> Value {
    measure_with(n, n / 10, op)
}

fn measure_with(n: usize, warmup: usize, mut op: impl FnMut()) -> Value {
    for _ in 0..warmup {
        op();
    }
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        op();
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    serde_json::json!({"rps": n as f64 / secs, "lat_ns": lat})
}

fn read_exact_len(s: &mut impl Read, buf: &mut [u8], len: usize) {
    s.read_exact(&mut buf[..len]).expect("read");
}

fn socketpair() -> (UnixStream, UnixStream) {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid two-element array.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair");
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe {
        (
            UnixStream::from(OwnedFd::from_raw_fd(fds[0])),
            UnixStream::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

/// A request/response over a socketpair written and read by the same thread: the cost of the
/// four system calls and two copies, with no wake-up of another thread.
fn same_thread(n: usize) -> Value {
    let (mut a, mut b) = socketpair();
    let mut buf = [0u8; 512];
    measure(n, || {
        a.write_all(REQ).unwrap();
        read_exact_len(&mut b, &mut buf, REQ.len());
        b.write_all(RESP).unwrap();
        read_exact_len(&mut a, &mut buf, RESP.len());
    })
}

/// The same exchange with the server side on another thread: adds two wake-ups per round trip.
fn ping_pong<S: Read + Write + Send + 'static>(client: S, server: S, n: usize) -> Value {
    ping_pong_with(client, server, n, n / 10)
}

fn ping_pong_with<S: Read + Write + Send + 'static>(
    mut client: S,
    mut server: S,
    n: usize,
    warmup: usize,
) -> Value {
    let t = thread::spawn(move || {
        let mut buf = [0u8; 512];
        while server.read_exact(&mut buf[..REQ.len()]).is_ok() {
            if server.write_all(RESP).is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; 512];
    let v = measure_with(n, warmup, || {
        client.write_all(REQ).unwrap();
        read_exact_len(&mut client, &mut buf, RESP.len());
    });
    drop(client);
    let _ = t.join();
    v
}

/// The cross-thread wake-up cost right now: p50 µs of a socketpair ping-pong, 10 000 round trips
/// after 5 000 warm-up ones. On this VM a host that is busy elsewhere makes every cross-thread
/// wake-up cost about 65 µs instead of 3 µs for minutes at a time (the first few thousand round
/// trips after an idle moment stay fast, hence the long warm-up); every figure that wakes another
/// thread per request moves with it, so each section is bracketed by this probe.
pub fn wake_probe() -> f64 {
    let (a, b) = socketpair();
    let v = ping_pong_with(a, b, 10_000, 5_000);
    let lat: Vec<f64> = v["lat_ns"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_f64).map(|ns| ns / 1000.0).collect())
        .unwrap_or_default();
    crate::common::median(&lat)
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    c.set_nodelay(true).unwrap();
    s.set_nodelay(true).unwrap();
    (c, s)
}

/// connect() and close() of a loopback TCP connection, accepted (and closed) by another thread.
fn connect_close(n: usize) -> Value {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    let total = n + n / 10;
    let t = thread::spawn(move || {
        for _ in 0..total {
            match l.accept() {
                Ok((s, _)) => drop(s),
                Err(_) => break,
            }
        }
    });
    let v = measure(n, || {
        drop(TcpStream::connect(addr).unwrap());
    });
    let _ = t.join();
    v
}

pub fn run(cfg: &Cfg, report: &mut Report) -> Limits {
    report.section("2. Physical limits (same run, no preload)");
    report.line(&format!(
        "A {}-byte HTTP request and a {}-byte response; {} round trips per run, {} runs; ops/s is the median over runs.",
        REQ.len(),
        RESP.len(),
        cfg.n_limits,
        cfg.reps
    ));
    report.line(&format!("connect+close: {} connections per run.", cfg.n_limits / 20));
    report.line("ops/s is the number of operations over the whole time, so rare stalls (a loopback SYN retransmitted after 1 s when a new connection reuses a port the other side still holds in TIME_WAIT) weigh on it; p50 does not move.");
    report.line("");
    let names = [
        "same-thread request/response over a socketpair",
        "cross-thread ping-pong over a socketpair",
        "cross-thread ping-pong over loopback TCP",
        "loopback TCP connect+close",
    ];
    let mut series = vec![Series::default(); names.len()];
    for _ in 0..cfg.reps {
        let n = cfg.n_limits;
        series[0].add(Some(&same_thread(n)));
        let (a, b) = socketpair();
        series[1].add(Some(&ping_pong(a, b, n)));
        let (a, b) = tcp_pair();
        series[2].add(Some(&ping_pong(a, b, n)));
        series[3].add(Some(&connect_close(n / 20)));
    }
    let rows: Vec<Vec<String>> = names
        .iter()
        .zip(&series)
        .map(|(n, s)| {
            vec![
                n.to_string(),
                fmt(s.rps()),
                fmt(s.p50()),
                fmt(s.p99()),
                fmt(crate::common::percentile(&s.lat_us, 100.0)),
            ]
        })
        .collect();
    report.table(&["operation", "ops/s", "p50 µs", "p99 µs", "max µs"], &rows);
    let mut m = serde_json::Map::new();
    for (n, s) in names.iter().zip(&series) {
        m.insert(n.to_string(), s.json());
    }
    report.json.insert("limits".into(), Value::Object(m));
    Limits {
        same_thread_us: series[0].p50(),
        tcp_ping_pong_us: series[2].p50(),
        connect_close_us: series[3].p50(),
    }
}

#[allow(dead_code)]
pub struct Limits {
    pub same_thread_us: f64,
    pub tcp_ping_pong_us: f64,
    pub connect_close_us: f64,
}
