//! The client side of the benchmarks: a separate process, so that the harness can start it
//! without or with `LD_PRELOAD=libmocket.so`, under `mocket run`, or against a server on loopback.
//! It times itself and prints one JSON line on stdout.
//!
//! ```text
//! bench-client http <reqwest|ureq> <keep|new> URL N [--warmup W] [--budget-ms MS] [--rss] [--no-lat]
//! bench-client writeloop N
//! bench-client rss
//! ```
//!
//! `http`: W untimed requests, then N timed ones (or fewer when the budget runs out): prints
//! `{"n", "secs", "rps", "lat_ns": [...], "errors"}`; with `--rss`, also the resident size of this
//! process and of its parent (the `mocket` daemon under `mocket run`) before and after the timed
//! requests. `keep` reuses one connection; `new` opens a connection per request (no pooling).

use std::time::{Duration, Instant};

use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("http") => http(&args[1..]),
        Some("writeloop") => writeloop(&args[1..]),
        Some("rss") => {
            println!(
                "{}",
                json!({"rss_kb": rss_kb("self"), "pid": std::process::id()})
            );
        }
        _ => {
            eprintln!("usage: bench-client http|writeloop|rss ...");
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

/// Runs `warmup` then up to `n` timed calls of `one` (which returns false on an error).
fn drive(n: usize, o: &Opts, mut one: impl FnMut() -> bool) {
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
    println!("{out}");
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
