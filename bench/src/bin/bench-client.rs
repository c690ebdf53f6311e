//! The client side of the benchmarks: a separate process, so that the harness can start it
//! without or with `LD_PRELOAD=libmocket.so`, under `mocket run`, or against a server on loopback.
//! It times itself and prints one JSON line on stdout.
//!
//! ```text
//! bench-client http <reqwest|ureq> <keep|new> URL N [--warmup W] [--budget-ms MS] [--rss] [--no-lat]
//! bench-client https URL N --ca BUNDLE [--resume] [--warmup W] [--budget-ms MS]
//! bench-client writeloop N
//! bench-client rss
//! bench-client soak HOST:PORT parent|self GET_PATH UPLOAD_PATH   (phases on stdin: ../soak_client.rs)
//! ```
//!
//! `http`: W untimed requests, then N timed ones (or fewer when the budget runs out): prints
//! `{"n", "secs", "rps", "lat_ns": [...], "errors"}`; with `--rss`, also the resident size of this
//! process and of its parent (the `mocket` daemon under `mocket run`) before and after the timed
//! requests. `keep` reuses one connection; `new` opens a connection per request (no pooling).
//!
//! `https`: a rustls client (ring, the roots of BUNDLE only, session resumption disabled) that
//! opens a new TCP connection and does a full TLS handshake for every request
//! (`Connection: close`); besides the `http` figures it prints `hs_ns`, the time from the
//! connected socket to the completed handshake of each timed request. With `--resume` the client
//! keeps rustls's default in-memory session cache, so every connection after the first offers
//! to resume; it also prints `resumed`, how many of the timed handshakes did.

use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../soak_client.rs"]
mod soak_client;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("http") => http(&args[1..]),
        Some("https") => https(&args[1..]),
        Some("writeloop") => writeloop(&args[1..]),
        Some("soak") => soak_client::main(&args[1..]),
        Some("rss") => {
            println!(
                "{}",
                json!({"rss_kb": rss_kb("self"), "pid": std::process::id()})
            );
        }
        _ => {
            eprintln!("usage: bench-client http|https|writeloop|rss|soak ...");
            std::process::exit(2);
        }
    }
}

/// `VmRSS` of `/proc/<who>/status`, in kB.
fn rss_kb(who: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{who}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// CPU time (ns) of the threads of process `who` that are alive now, from
/// `/proc/<who>/task/*/schedstat`, split into (threads named `mocket*`, the others).
fn thread_cpu_ns(who: &str) -> (u64, u64) {
    let mut engine = 0;
    let mut other = 0;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{who}/task")) else {
        return (0, 0);
    };
    for t in tasks.flatten() {
        let p = t.path();
        let ns: u64 = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.starts_with("mocket") {
            engine += ns;
        } else {
            other += ns;
        }
    }
    (engine, other)
}

/// CPU time (ns) of this whole process, exited threads included.
fn self_cpu_ns() -> u64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
}

/// A snapshot of where CPU time has gone: this process (all of it, and its non-mocket threads)
/// and the parent (the `mocket` daemon under `mocket run`, the harness and its servers
/// otherwise; threads alive at the time of reading).
struct Cpu {
    self_total: u64,
    self_client: u64,
    parent: u64,
}

fn cpu_now() -> Cpu {
    let (_, client) = thread_cpu_ns("self");
    let (pe, po) = thread_cpu_ns(&std::os::unix::process::parent_id().to_string());
    Cpu {
        self_total: self_cpu_ns(),
        self_client: client,
        parent: pe + po,
    }
}

fn parent_rss() -> Option<u64> {
    rss_kb(&std::os::unix::process::parent_id().to_string())
}

struct Opts {
    warmup: usize,
    budget: Duration,
    rss: bool,
    lat: bool,
}

fn opts(rest: &[String], n: usize) -> Opts {
    let mut o = Opts {
        warmup: (n / 10).clamp(1, 200),
        budget: Duration::from_secs(3600),
        rss: false,
        lat: true,
    };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--warmup" => o.warmup = it.next().and_then(|v| v.parse().ok()).expect("--warmup N"),
            "--budget-ms" => {
                o.budget = Duration::from_millis(
                    it.next().and_then(|v| v.parse().ok()).expect("--budget-ms MS"),
                )
            }
            "--rss" => o.rss = true,
            "--no-lat" => o.lat = false,
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Runs `warmup` then up to `n` timed calls of `one` (which returns false on an error) and
/// prints the figures.
fn drive(n: usize, o: &Opts, one: impl FnMut() -> bool) {
    println!("{}", drive_json(n, o, one));
}

/// [`drive`], returning the figures instead of printing them.
fn drive_json(n: usize, o: &Opts, mut one: impl FnMut() -> bool) -> serde_json::Value {
    let mut errors = 0usize;
    for _ in 0..o.warmup {
        if !one() {
            errors += 1;
        }
    }
    let rss_before = o.rss.then(|| (rss_kb("self"), parent_rss()));
    let cpu_before = cpu_now();
    let mut lat: Vec<u64> = Vec::with_capacity(if o.lat { n } else { 0 });
    let start = Instant::now();
    let mut done = 0usize;
    while done < n {
        let t = Instant::now();
        if !one() {
            errors += 1;
        }
        if o.lat {
            lat.push(t.elapsed().as_nanos() as u64);
        }
        done += 1;
        if done % 64 == 0 && start.elapsed() > o.budget {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_after = cpu_now();
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / done.max(1) as f64 / 1000.0;
    let client_us = per(cpu_after.self_client, cpu_before.self_client);
    let mut out = json!({
        "cpu_us_per_req": {
            "client": client_us,
            "in_process_engine": (per(cpu_after.self_total, cpu_before.self_total) - client_us).max(0.0),
            "parent": per(cpu_after.parent, cpu_before.parent),
        },
        "n": done,
        "secs": secs,
        "rps": done as f64 / secs,
        "errors": errors,
        "lat_ns": lat,
    });
    if let Some((self_before, parent_before)) = rss_before {
        out["rss_kb"] = json!({
            "self_before": self_before, "self_after": rss_kb("self"),
            "parent_before": parent_before, "parent_after": parent_rss(),
            "parent_pid": std::os::unix::process::parent_id(),
        });
    }
    out
}

fn http(args: &[String]) {
    let [client, mode, url, n, rest @ ..] = args else {
        eprintln!("usage: bench-client http <reqwest|ureq> <keep|new> URL N [options]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let o = opts(rest, n);
    let keep = match mode.as_str() {
        "keep" => true,
        "new" => false,
        m => panic!("mode {m}: keep or new"),
    };
    match client.as_str() {
        "reqwest" => {
            // A current-thread runtime, as `#[tokio::test]` gives a test.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let mut b = reqwest::Client::builder().no_proxy();
            if !keep {
                b = b.pool_max_idle_per_host(0);
            }
            let c = b.build().expect("reqwest client");
            drive(n, &o, || {
                rt.block_on(async {
                    match c.get(url.as_str()).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(e) => {
                            eprintln!("reqwest: {e}");
                            false
                        }
                    }
                })
            });
        }
        "ureq" => {
            let mut b = ureq::Agent::config_builder()
                .proxy(None)
                .http_status_as_error(false);
            if !keep {
                b = b.max_idle_connections(0).max_idle_connections_per_host(0);
            }
            let agent = ureq::Agent::new_with_config(b.build());
            drive(n, &o, || match agent.get(url.as_str()).call() {
                Ok(mut r) => r.status().is_success() && r.body_mut().read_to_vec().is_ok(),
                Err(e) => {
                    eprintln!("ureq: {e}");
                    false
                }
            });
        }
        other => panic!("client {other}: reqwest or ureq"),
    }
}

fn https(args: &[String]) {
    let [url, n, rest @ ..] = args else {
        eprintln!("usage: bench-client https URL N --ca BUNDLE [options]");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let mut rest = rest.to_vec();
    let ca = match rest.iter().position(|a| a == "--ca") {
        Some(i) if i + 1 < rest.len() => {
            let v = rest.remove(i + 1);
            rest.remove(i);
            v
        }
        _ => panic!("--ca BUNDLE is required"),
    };
    let resume = match rest.iter().position(|a| a == "--resume") {
        Some(i) => {
            rest.remove(i);
            true
        }
        None => false,
    };
    let o = opts(&rest, n);
    let (host, port, path) = {
        let rest = url.strip_prefix("https://").expect("an https:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().expect("port")),
            None => (authority.to_string(), 443),
        };
        (host, port, if path.is_empty() { "/" } else { path }.to_string())
    };

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca).expect("read --ca") {
        roots.add(cert.expect("a certificate in --ca")).expect("add a root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = std::sync::Arc::new(config);
    let name = ServerName::try_from(host.clone()).expect("server name");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes();
    let addr = format!("{host}:{port}");

    let mut hs_ns: Vec<u64> = Vec::with_capacity(o.warmup + n);
    let mut resumed: Vec<bool> = Vec::with_capacity(o.warmup + n);
    let one = |hs_ns: &mut Vec<u64>, resumed: &mut Vec<bool>| -> Result<(), String> {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(&addr).map_err(|e| format!("connect: {e}"))?;
        let _ = sock.set_nodelay(true);
        let t = Instant::now();
        let mut conn = rustls::ClientConnection::new(config.clone(), name.clone())
            .map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| format!("handshake: {e}"))?;
        }
        hs_ns.push(t.elapsed().as_nanos() as u64);
        resumed.push(conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(&request).map_err(|e| format!("write: {e}"))?;
        let mut got = Vec::with_capacity(512);
        let mut buf = [0u8; 4096];
        // Done when the body is in (the server closes after it; its close_notify, if any, is
        // not waited for).
        while !got.windows(8).any(|w| w == b"{\"id\":1}") {
            match tls.read(&mut buf) {
                Ok(0) => return Err("closed before the body".into()),
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if !got.starts_with(b"HTTP/1.1 200") {
            return Err("not a 200".into());
        }
        Ok(())
    };
    let mut out = drive_json(n, &o, || {
        let before = hs_ns.len();
        let r = one(&mut hs_ns, &mut resumed);
        if hs_ns.len() == before {
            hs_ns.push(u64::MAX); // one entry per call, so that the warm-up can be skipped
            resumed.push(false);
        }
        match r {
            Ok(()) => true,
            Err(e) => {
                eprintln!("https: {e}");
                false
            }
        }
    });
    // Handshakes of the timed requests only (drive_json runs the warm-up first).
    let timed: Vec<u64> = hs_ns.iter().skip(o.warmup).copied().filter(|&v| v != u64::MAX).collect();
    out["hs_ns"] = json!(timed);
    out["resumed"] = json!(resumed.iter().skip(o.warmup).filter(|&&r| r).count());
    println!("{out}");
}

/// N one-byte `write()` calls to /dev/null: a process that never touches the network, to show
/// what a preloaded library costs on a hot syscall it does not hook.
fn writeloop(args: &[String]) {
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let byte = [b'x'];
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: a valid fd and a one-byte buffer.
        unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{}", json!({"n": n, "secs": secs}));
}
