//! mocket's benchmark harness (issue 7). See BENCHMARKS.md at the repository root.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- [all|http|limits|load|scale|memory|redis|https|soak|kubernetes]... [options]
//! ```
//!
//! `mocket-bench serve` starts only the comparison servers (hyper, httpmock, wiremock, the
//! HTTPS section's rustls server, with the path of its CA), prints their ports and serves until stdin closes: for profiling a client against them by hand.
//!
//! Options (defaults keep `all` to a few minutes on 2 cores):
//!   --n-keep N          timed requests per keep-alive run            (2000)
//!   --n-new N           timed requests per new-connection run        (500)
//!   --reps R            runs per cell                                 (5)
//!   --clients a,b       among reqwest,ureq,curl,python                (all four)
//!   --n-limits N        round trips per physical-limit run            (20000)
//!   --load-runs N       /bin/true runs per preload variant            (400)
//!   --cargo-runs N      cargo --version runs per variant              (40)
//!   --writeloop-n N     write() calls in the loop                     (1000000)
//!   --writeloop-runs N  loop runs per variant                         (15)
//!   --scale 10,1000,... entry counts                                  (10,1000,100000)
//!   --mem-requests N    keep-alive requests before the memory reading (100000)
//!   --mem-requests-new N  new-connection requests for the same       (10000)
//!   --budget-ms MS      time limit of one client run                  (10000)
//!   --scale-budget-ms MS  time limit of one scale run                 (3000)
//!   --redis-n N         requests per redis-benchmark test             (50000)
//!   --n-https N         timed requests per HTTPS run (new connection) (300)
//!   --soak-keep N       soak: keep-alive requests through one engine  (1000000)
//!   --soak-new N        soak: new connections, one request each       (100000)
//!   --soak-idle N       soak: idle connections held at once           (5000)
//!   --soak-upload-mb MB soak: size of the upload                      (1024)
//!   --soak-settle-ms MS soak: longest wait for threads/fds to come back (3000; the engine's
//!                       pool keeps an idle thread 30 s, so 35000 shows them return)
//!   --kube-objects N    ConfigMaps in the Kubernetes emulator         (10000)
//!   --kube-kmock-objects N  the same for kmock (slower per create)  (500)
//!   --kube-lists N      timed lists per Kubernetes run               (20)
//!   --kube-trips N      create→watch-event round trips               (300)
//!   --modes keep,new    HTTP section: which modes                      (keep,new)
//!   --pin CPU           run everything (harness, servers, mocket, clients) on this CPU
//!                       only, through taskset -c CPU                   (not pinned)
//!   --quick             small sizes, for checking the harness itself
//!
//! Writes bench/results/latest.md and bench/results/latest.json besides printing the tables.

mod common;
mod http;
mod https;
mod kubernetes;
mod limits;
mod redis;
mod load;
mod scale;
mod servers;
mod soak;

use std::time::Instant;

use common::{Env, Report};

pub struct Cfg {
    pub n_keep: usize,
    pub n_new: usize,
    pub reps: usize,
    pub clients: Vec<String>,
    pub n_limits: usize,
    pub load_runs: usize,
    pub cargo_runs: usize,
    pub writeloop_n: usize,
    pub writeloop_runs: usize,
    pub scale_sizes: Vec<usize>,
    pub mem_requests: usize,
    pub mem_requests_new: usize,
    pub budget_ms: u64,
    pub scale_budget_ms: u64,
    pub redis_n: usize,
    pub n_https: usize,
    pub time_wait_max: usize,
    pub soak: soak::SoakCfg,
    pub kube_objects: usize,
    pub kube_kmock_objects: usize,
    pub kube_lists: usize,
    pub kube_trips: usize,
    /// HTTP section: keep-alive runs (`true`) and/or new-connection runs (`false`).
    pub modes: Vec<bool>,
    /// The CPU everything runs on (`--pin`), after the re-exec under `taskset`.
    pub pinned: Option<String>,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            n_keep: 2000,
            n_new: 500,
            reps: 5,
            clients: ["reqwest", "ureq", "curl", "python"].map(String::from).to_vec(),
            n_limits: 20_000,
            load_runs: 400,
            cargo_runs: 40,
            writeloop_n: 1_000_000,
            writeloop_runs: 15,
            scale_sizes: vec![10, 1000, 100_000],
            mem_requests: 100_000,
            mem_requests_new: 10_000,
            budget_ms: 10_000,
            scale_budget_ms: 3000,
            redis_n: 50_000,
            n_https: 300,
            time_wait_max: 16_000,
            soak: soak::SoakCfg::full(),
            kube_objects: 10_000,
            kube_kmock_objects: 500,
            kube_lists: 20,
            kube_trips: 300,
            modes: vec![true, false],
            pinned: None,
        }
    }
}

/// Set in the re-executed harness under `taskset`: it is pinned already.
const PINNED_VAR: &str = "MOCKET_BENCH_PINNED";

/// Runs this harness again, with the same arguments, under `taskset -c cpu`: every thread and
/// child process (servers, `mocket run`, clients) inherits the affinity.
fn pin_and_reexec(cpu: &str) -> ! {
    let exe = std::env::current_exe().expect("current exe");
    let status = std::process::Command::new("taskset")
        .args(["-c", cpu])
        .arg(exe)
        .args(std::env::args().skip(1))
        .env(PINNED_VAR, cpu)
        .status()
        .unwrap_or_else(|e| {
            eprintln!("--pin {cpu}: cannot run taskset ({e}); install util-linux");
            std::process::exit(2)
        });
    std::process::exit(status.code().unwrap_or(1))
}

fn usage() -> ! {
    eprintln!("{}", include_str!("main.rs").lines().take(39).collect::<Vec<_>>().join("\n"));
    std::process::exit(2)
}

/// `mocket-bench serve`: only the comparison servers, for profiling a client against them by
/// hand (`perf record`, `strace -c`); prints their ports and serves until stdin closes.
fn serve_only() -> ! {
    let servers = servers::Servers::start();
    let ca = std::env::temp_dir().join(format!("mocket-bench-rustls-{}.pem", std::process::id()));
    let (_tls, tls_port) = https::serve_rustls(&ca);
    println!("hyper {}\nhttpmock {}\nwiremock {}", servers.hyper, servers.httpmock, servers.wiremock);
    println!("rustls {tls_port} {}", ca.display());
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    std::process::exit(0)
}

fn main() {
    let mut cfg = Cfg::default();
    let mut sections: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>| -> usize {
        v.and_then(|s| s.replace('_', "").parse().ok()).unwrap_or_else(|| usage())
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n-keep" => cfg.n_keep = num(args.next()),
            "--n-new" => cfg.n_new = num(args.next()),
            "--reps" => cfg.reps = num(args.next()),
            "--n-limits" => cfg.n_limits = num(args.next()),
            "--load-runs" => cfg.load_runs = num(args.next()),
            "--cargo-runs" => cfg.cargo_runs = num(args.next()),
            "--writeloop-n" => cfg.writeloop_n = num(args.next()),
            "--writeloop-runs" => cfg.writeloop_runs = num(args.next()),
            "--mem-requests" => cfg.mem_requests = num(args.next()),
            "--mem-requests-new" => cfg.mem_requests_new = num(args.next()),
            "--budget-ms" => cfg.budget_ms = num(args.next()) as u64,
            "--scale-budget-ms" => cfg.scale_budget_ms = num(args.next()) as u64,
            "--redis-n" => cfg.redis_n = num(args.next()),
            "--n-https" => cfg.n_https = num(args.next()),
            "--soak-keep" => cfg.soak.keep = num(args.next()),
            "--soak-new" => cfg.soak.new = num(args.next()),
            "--soak-idle" => cfg.soak.idle = num(args.next()),
            "--soak-upload-mb" => cfg.soak.upload_mb = num(args.next()),
            "--soak-settle-ms" => cfg.soak.settle_ms = num(args.next()) as u64,
            "--kube-objects" => cfg.kube_objects = num(args.next()),
            "--kube-kmock-objects" => cfg.kube_kmock_objects = num(args.next()),
            "--kube-lists" => cfg.kube_lists = num(args.next()),
            "--kube-trips" => cfg.kube_trips = num(args.next()),
            "--clients" => {
                cfg.clients = args
                    .next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--modes" => {
                cfg.modes = args
                    .next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(|m| match m {
                        "keep" => true,
                        "new" => false,
                        _ => usage(),
                    })
                    .collect()
            }
            "--pin" => {
                let cpu = args.next().unwrap_or_else(|| usage());
                if std::env::var_os(PINNED_VAR).is_none() {
                    pin_and_reexec(&cpu);
                }
                cfg.pinned = Some(cpu);
            }
            "--scale" => {
                cfg.scale_sizes = args
                    .next()
                    .unwrap_or_else(|| usage())
                    .split(',')
                    .map(|s| s.replace('_', "").parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--quick" => {
                cfg.n_keep = 300;
                cfg.n_new = 100;
                cfg.reps = 2;
                cfg.n_limits = 2000;
                cfg.load_runs = 40;
                cfg.cargo_runs = 4;
                cfg.writeloop_runs = 2;
                cfg.scale_sizes = vec![10, 1000];
                cfg.mem_requests = 2000;
                cfg.mem_requests_new = 200;
                cfg.budget_ms = 3000;
                cfg.scale_budget_ms = 1000;
                cfg.redis_n = 2000;
                cfg.n_https = 50;
                cfg.soak = soak::SoakCfg::quick();
                cfg.kube_objects = 500;
                cfg.kube_kmock_objects = 100;
                cfg.kube_lists = 3;
                cfg.kube_trips = 20;
            }
            "all" | "http" | "limits" | "load" | "scale" | "memory" | "redis" | "https" | "soak" | "kubernetes" => {
                sections.push(a)
            }
            "serve" => serve_only(),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if sections.is_empty() || sections.iter().any(|s| s == "all") {
        sections = ["limits", "http", "load", "scale", "memory", "redis", "https", "soak", "kubernetes"].map(String::from).to_vec();
    }
    for c in &cfg.clients {
        if !["reqwest", "ureq", "curl", "python"].contains(&c.as_str()) {
            usage();
        }
    }

    let env = Env::discover();
    let mut report = Report::default();
    let started = Instant::now();
    report.md.push_str(&machine(&env));
    print!("{}", report.md);
    let mut probes = Vec::new();
    for s in &sections {
        let t = Instant::now();
        let before = limits::wake_probe();
        match s.as_str() {
            "limits" => {
                limits::run(&cfg, &mut report);
            }
            "http" => http::run(&env, &cfg, &mut report),
            "load" => load::run(&env, &cfg, &mut report),
            "scale" => scale::run_scale(&env, &cfg, &mut report),
            "memory" => scale::run_memory(&env, &cfg, &mut report),
            "redis" => redis::run(&env, &cfg, &mut report),
            "https" => https::run(&env, &cfg, &mut report),
            "soak" => soak::run(&env, &cfg, &mut report),
            "kubernetes" => kubernetes::run(&env, &cfg, &mut report),
            _ => unreachable!(),
        }
        let after = limits::wake_probe();
        eprintln!(
            "[{s}: {:.0} s; cross-thread wake-up probe {} µs before, {} µs after]",
            t.elapsed().as_secs_f64(),
            common::fmt(before),
            common::fmt(after)
        );
        probes.push(vec![s.clone(), format!("{:.0} s", t.elapsed().as_secs_f64()), common::fmt(before), common::fmt(after)]);
        report.json.insert(
            format!("wake_probe_us/{s}"),
            serde_json::json!({"before": common::finite(before), "after": common::finite(after)}),
        );
    }
    report.section("Wake-up probe around each section");
    report.line("p50 of a cross-thread socketpair ping-pong (10 000 round trips after 5 000 warm-up ones) just before and just after each section: about 3 µs on a quiet host. When the host is busy elsewhere it goes to about 65 µs for minutes at a time, and every figure that wakes another thread per request (mocket's engine, the loopback servers, redis) moves with it; read a section bracketed by slow probes accordingly.");
    report.line("");
    report.table(&["section", "time", "probe before (µs)", "probe after (µs)"], &probes);
    if !report.targets.is_empty() {
        report.section("Targets (issue 7)");
        let rows: Vec<Vec<String>> = report
            .targets
            .iter()
            .map(|(n, f, met)| vec![n.clone(), f.clone(), if *met { "met" } else { "MISSED" }.into()])
            .collect();
        report.table(&["target", "figure", "verdict"], &rows);
    }
    report.line(&format!(
        "\nTotal harness time: {:.0} s.",
        started.elapsed().as_secs_f64()
    ));
    let results = env.root.join("bench/results");
    let _ = std::fs::create_dir_all(&results);
    let _ = std::fs::write(results.join("latest.md"), &report.md);
    let mut json = serde_json::Map::new();
    for (k, v) in report.json {
        json.insert(k, v);
    }
    json.insert(
        "targets".into(),
        serde_json::json!(report
            .targets
            .iter()
            .map(|(n, f, m)| serde_json::json!({"target": n, "figure": f, "met": m}))
            .collect::<Vec<_>>()),
    );
    let _ = std::fs::write(
        results.join("latest.json"),
        serde_json::to_string_pretty(&serde_json::Value::Object(json)).unwrap(),
    );
    eprintln!("wrote {}", results.join("latest.md").display());
}

/// The machine and the build the figures come from.
fn machine(env: &Env) -> String {
    let sh = |c: &str| {
        std::process::Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-");
    let mhz = sh("grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2-");
    // Binaries from a snapshot (bench/run.sh --snapshot) carry the commit they were built from.
    let snapshot = env.mocket.parent().and_then(|d| d.parent()).and_then(|d| d.parent());
    let (commit, dirty) = match snapshot.and_then(|d| std::fs::read_to_string(d.join("COMMIT")).ok()) {
        Some(c) => (format!("{} (clean snapshot of that commit)", c.trim()), false),
        None => {
            let git = sh(&format!(
                "cd '{}' && git rev-parse --short HEAD && git status --porcelain -- shim config engine report protocols cli control recordings | wc -l",
                env.root.display()
            ));
            let mut g = git.lines();
            let commit = g.next().unwrap_or("?").to_string();
            (commit, g.next().unwrap_or("0").trim() != "0")
        }
    };
    format!(
        "## Run of {}\n\n- machine: {} cores (nproc), {} @ {} MHz, kernel {}, {}\n- mocket: commit {}{}, binaries from {}\n- clients: curl {}, {} \n",
        sh("date -u +%Y-%m-%dT%H:%MZ"),
        sh("nproc"),
        cpu.trim(),
        mhz.trim(),
        sh("uname -r"),
        sh("free -g | awk '/Mem:/ {print $2\" GiB RAM\"}'"),
        commit,
        if dirty { " (with uncommitted changes in mocket's crates)" } else { "" },
        env.mocket.parent().unwrap().display(),
        sh("curl --version | head -1 | cut -d' ' -f2"),
        sh(&format!("{} --version", env.python)),
    )
}
