//! Measures the test API from inside an intercepted process: run by bench/testapi/run.sh under
//! each placement. Prints one line per figure: the median and the 90th percentile in µs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mocket::{Mocket, http};

/// A keep-alive HTTP/1.1 connection that reads `content-length` bodies (what the entries send).
struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn open(host: &str) -> Conn {
        let stream = TcpStream::connect((host, 80)).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream),
            host: host.into(),
        }
    }

    /// One request; returns the body.
    fn get(&mut self, path: &str) -> Vec<u8> {
        let request = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", self.host);
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut length = 0;
        let mut status = String::new();
        self.reader.read_line(&mut status).unwrap();
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{}: {status}",
            self.host
        );
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        body
    }
}

/// Times `n` runs of `op` (after a few untimed ones); returns each duration in µs, sorted.
fn time(n: usize, mut op: impl FnMut(usize)) -> Vec<f64> {
    for i in 0..n.min(50) {
        op(i);
    }
    let mut us: Vec<f64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            op(i);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    us
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn say(what: &str, sorted: &[f64]) {
    println!(
        "{what:<46} median {:>8.1} µs   p90 {:>8.1} µs   (n={})",
        percentile(sorted, 0.5),
        percentile(sorted, 0.9),
        sorted.len()
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(5000, |a| a.parse().expect("N"));
    let m = Mocket::start();
    println!("placement: {}", m.placement());

    // Registering: each a new entry of the scope on one destination (held by this scope).
    let registered = time(n, |i| {
        m.mock(http::get(format!("http://register.bench.test/e{i}")).respond(http::status(200)));
    });
    say("register an entry", &registered);
    drop(m);

    let m = Mocket::start();
    let entry = m.mock(
        http::get("http://scope.bench.test/item").respond(http::status(200).body("0123456789")),
    );
    say(
        "read hits",
        &time(n, |_| {
            entry.hits();
        }),
    );

    // A keep-alive request, file entry vs scope entry, in alternating rounds (drift hits both).
    let mut file = Conn::open("file.bench.test");
    let mut scope = Conn::open("scope.bench.test");
    let (mut via_file, mut via_scope) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        via_file.extend(time(n / 5, |_| {
            assert_eq!(file.get("/item"), b"0123456789")
        }));
        via_scope.extend(time(n / 5, |_| {
            assert_eq!(scope.get("/item"), b"0123456789")
        }));
    }
    via_file.sort_by(f64::total_cmp);
    via_scope.sort_by(f64::total_cmp);
    say("keep-alive GET, file entry", &via_file);
    say("keep-alive GET, scope entry", &via_scope);
    println!(
        "scope / file (medians): {:.3}",
        percentile(&via_scope, 0.5) / percentile(&via_file, 0.5)
    );

    m.mock(
        http::get("http://closure.bench.test/item")
            .respond_with(|_| http::status(200).body("0123456789")),
    );
    let mut closure = Conn::open("closure.bench.test");
    say(
        "keep-alive GET, respond_with",
        &time(n, |_| {
            assert_eq!(closure.get("/item"), b"0123456789");
        }),
    );
}
