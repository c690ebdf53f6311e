//! Section 8: soak and load (issue 11). One `mocket run` daemon (and, the same way, one embedded
//! engine) serves, phase after phase:
//!
//! - `keep`: 1 000 000 keep-alive `GET`s over 4 connections;
//! - `new`: 100 000 new connections with one `GET` each, 4 at a time (after the harness's usual
//!   TIME-WAIT drain);
//! - `idle`: 5 000 connections opened, held idle for 3 s, closed;
//! - `upload`: one 1 GiB `POST` to an entry that does not match on the body, written from a
//!   1 MiB buffer in memory; given up (verdict "EXCEEDED") once the engine's VmRSS has grown by
//!   half the upload size, so that an engine that holds the body cannot take the machine down.
//!
//! ```text
//! bench/run.sh soak                # about 2.5 minutes on 2 cores (156 s at b59511d)
//! bench/run.sh soak --quick        # about 20 s: 20 000 / 2 000 / 500 (1 s) / 64 MiB
//! bench/run.sh soak --soak-keep 1000000 --soak-new 100000 --soak-idle 5000 --soak-upload-mb 1024
//! ```
//!
//! The load comes from `bench-client soak` (`src/soak_client.rs`), started as the command of
//! `mocket run` (or under a bare `LD_PRELOAD`) and told each phase on its stdin, so that the
//! harness knows when a phase starts, when its first 10% is done (the warm-up mark; for `idle`:
//! every connection open and the engine's fd count still for 200 ms) and when it ends. Meanwhile
//! a thread of the harness reads the engine's process every 200 ms: `/proc/PID/status` (VmRSS,
//! VmHWM, Threads) and the entries of `/proc/PID/fd`; the engine's process is `mocket` under
//! `mocket run` and the client itself when embedded (there its own threads and sockets count
//! too). The baseline is read 0.5 s after 100 warm-up requests (so what starts on the first
//! connection is in it). After each phase the harness waits up to a settle time (3 s) for the
//! thread and fd counts to come back to the baseline.
//!
//! Verdicts, per phase (issue 11's criteria): RSS flat = the highest VmRSS from the warm-up mark
//! to the end of the phase (VmHWM included, so a peak between two samples counts) is within 10%
//! of VmRSS at the mark; threads and fds back = at most their baseline count, within the settle
//! time.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{command, drain_time_wait, Env, Placement, Report};
use crate::Cfg;

const HOST: &str = "api.example.com";
const GET_PATH: &str = "/v1/users/1";
const UPLOAD_PATH: &str = "/v1/upload";
/// Allowed growth of VmRSS after the warm-up mark.
const FLAT: f64 = 0.10;

/// The sizes of one soak run.
#[derive(Clone, Debug)]
pub struct SoakCfg {
    pub keep: usize,
    pub new: usize,
    pub conns: usize,
    pub idle: usize,
    pub idle_hold_ms: u64,
    pub upload_mb: usize,
    pub sample_ms: u64,
    pub settle_ms: u64,
    pub phase_timeout_s: u64,
}

impl SoakCfg {
    pub fn full() -> SoakCfg {
        SoakCfg {
            keep: 1_000_000,
            new: 100_000,
            conns: 4,
            idle: 5000,
            idle_hold_ms: 3000,
            upload_mb: 1024,
            sample_ms: 200,
            settle_ms: 3000,
            phase_timeout_s: 150,
        }
    }
    pub fn quick() -> SoakCfg {
        SoakCfg {
            keep: 20_000,
            new: 2000,
            idle: 500,
            idle_hold_ms: 1000,
            upload_mb: 64,
            sample_ms: 100,
            settle_ms: 1500,
            phase_timeout_s: 45,
            ..SoakCfg::full()
        }
    }
    /// The engine's VmRSS growth at which the upload is given up: half the upload.
    fn upload_cap_kb(&self) -> u64 {
        self.upload_mb as u64 * 1024 / 2
    }
}

fn mocks_json() -> String {
    json!({"entries": [
        {"http": format!("GET http://{HOST}{}", GET_PATH),
         "response": {"status": 200, "json": {"id": 1}}},
        {"http": format!("POST http://{HOST}{}", UPLOAD_PATH),
         "response": {"status": 200, "json": {"stored": false}}}
    ]})
    .to_string()
}

/// One reading of the engine's process.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// Seconds since the process was started.
    t: f64,
    rss_kb: u64,
    hwm_kb: u64,
    threads: u64,
    fds: u64,
}

impl Sample {
    fn read(pid: u32, t0: Instant) -> Option<Sample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(Sample {
            t: t0.elapsed().as_secs_f64(),
            rss_kb: field("VmRSS:"),
            hwm_kb: field("VmHWM:"),
            threads: field("Threads:"),
            fds,
        })
    }
    fn json(&self) -> Value {
        json!([
            (self.t * 1000.0).round() / 1000.0,
            self.rss_kb,
            self.hwm_kb,
            self.threads,
            self.fds
        ])
    }
}

/// Reads the engine's process every `every` until stopped.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32, t0: Instant, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(x) = Sample::read(pid, t0) {
                    s.lock().unwrap().push(x);
                }
                std::thread::sleep(every);
            }
        });
        Sampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }
    /// Samples taken between `from` and `to` (seconds since start).
    fn between(&self, from: f64, to: f64) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.t >= from && s.t <= to)
            .copied()
            .collect()
    }
    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// The client process (under `mocket run` or preloaded) and its line protocol.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// The process that runs the engine: `mocket` or the client.
    engine_pid: u32,
    client_pid: Option<u32>,
    t0: Instant,
    timeout: Duration,
}

impl Session {
    fn start(env: &Env, placement: &Placement, sc: &SoakCfg) -> Result<Session, String> {
        let engine = if matches!(placement, Placement::Daemon(_)) {
            "parent"
        } else {
            "self"
        };
        let argv = vec![
            env.client.display().to_string(),
            "soak".into(),
            format!("{HOST}:80"),
            engine.into(),
            GET_PATH.into(),
            UPLOAD_PATH.into(),
        ];
        let t0 = Instant::now();
        let mut child = command(env, placement, &argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {argv:?}: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut s = Session {
            engine_pid: child.id(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            client_pid: None,
            t0,
            timeout: Duration::from_secs(sc.phase_timeout_s),
        };
        let ready = s.next_line()?;
        s.client_pid = ready["pid"].as_u64().map(|p| p as u32);
        Ok(s)
    }

    fn send(&mut self, command: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the client's stdin is closed")?;
        writeln!(stdin, "{command}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("cannot send {command:?} to the client: {e}"))
    }

    fn next_line(&self) -> Result<Value, String> {
        match self.lines.recv_timeout(self.timeout) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no answer from the client within {} s",
                self.timeout.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => Err("the client exited".into()),
        }
    }

    fn sample(&self) -> Sample {
        Sample::read(self.engine_pid, self.t0).unwrap_or_default()
    }

    /// A sample once the fd count has stopped moving for 200 ms (at most 2 s): the connections
    /// the client has opened may still wait in the engine's accept queue.
    fn settled_fds(&self) -> Sample {
        let from = Instant::now();
        let mut last = self.sample();
        let mut stable_since = Instant::now();
        while from.elapsed() < Duration::from_secs(2)
            && stable_since.elapsed() < Duration::from_millis(200)
        {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.sample();
            if now.fds != last.fds {
                stable_since = Instant::now();
            }
            last = now;
        }
        last
    }

    /// Ends the client (quit, then a kill of the processes started here when it hangs).
    fn finish(mut self) {
        let _ = self.send("quit");
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("  ! soak: the client did not end within 15 s: killed");
        if let Some(pid) = self.client_pid.filter(|&p| p != self.child.id()) {
            // SAFETY: kill(2) touches no memory of ours; the pid is the client this harness
            // started (under mocket run), which reported it itself.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The figures of one phase.
struct Phase {
    name: &'static str,
    client: Value,
    /// The run's baseline (for the warm-up: its own end).
    baseline: Sample,
    before: Sample,
    warm: Option<Sample>,
    peak: Sample,
    peak_after_warm_kb: Option<u64>,
    end: Sample,
    settle_s: f64,
}

impl Phase {
    fn rss_growth(&self) -> Option<f64> {
        let (warm, peak) = (self.warm?, self.peak_after_warm_kb?);
        Some(peak as f64 / warm.rss_kb.max(1) as f64 - 1.0)
    }
    fn rss_flat(&self) -> Option<bool> {
        self.rss_growth().map(|g| g <= FLAT)
    }
    fn threads_back(&self) -> bool {
        self.end.threads <= self.baseline.threads
    }
    fn fds_back(&self) -> bool {
        self.end.fds <= self.baseline.fds
    }
    fn cap_hit(&self) -> bool {
        !self.client["cap_hit_growth_kb"].is_null()
    }
    fn passed(&self) -> bool {
        self.rss_flat() == Some(true) && self.threads_back() && self.fds_back() && !self.cap_hit()
    }
}

/// Runs one phase: `command` to the client, the warm-up mark, the end, then the settle wait
/// (without a `baseline`: a fixed 0.5 s, after which the end is the baseline).
fn run_phase(
    s: &mut Session,
    sampler: &Sampler,
    sc: &SoakCfg,
    (name, command): (&'static str, &str),
    baseline: Option<Sample>,
) -> Result<Phase, String> {
    let before = s.sample();
    s.send(command)?;
    let mut warm = None;
    let client = loop {
        let v = s.next_line()?;
        match v["event"].as_str() {
            Some("warm") if name == "idle" => warm = Some(s.settled_fds()),
            Some("warm") => warm = Some(s.sample()),
            Some("done") => break v,
            _ => {}
        }
    };
    let at_done = s.sample();
    // Peaks: the samples of the phase, and VmHWM when it rose during the phase (a peak between
    // two samples).
    let mut during = sampler.between(before.t, at_done.t);
    during.extend([before, at_done]);
    during.extend(warm);
    let mut peak = Sample {
        rss_kb: during.iter().map(|x| x.rss_kb).max().unwrap_or(0),
        threads: during.iter().map(|x| x.threads).max().unwrap_or(0),
        fds: during.iter().map(|x| x.fds).max().unwrap_or(0),
        hwm_kb: at_done.hwm_kb,
        t: at_done.t,
    };
    if at_done.hwm_kb > before.hwm_kb {
        peak.rss_kb = peak.rss_kb.max(at_done.hwm_kb);
    }
    let peak_after_warm_kb = warm.map(|w| {
        let sampled = during
            .iter()
            .filter(|x| x.t >= w.t)
            .map(|x| x.rss_kb)
            .max()
            .unwrap_or(w.rss_kb);
        if at_done.hwm_kb > w.hwm_kb {
            sampled.max(at_done.hwm_kb)
        } else {
            sampled
        }
    });
    // Settle: until threads and fds are back to the baseline, or the settle time is over.
    let settle_from = Instant::now();
    let mut end = at_done;
    match baseline {
        Some(b) => {
            while !(end.threads <= b.threads && end.fds <= b.fds)
                && settle_from.elapsed() < Duration::from_millis(sc.settle_ms)
            {
                std::thread::sleep(Duration::from_millis(100));
                end = s.sample();
            }
        }
        None => {
            std::thread::sleep(Duration::from_millis(500));
            end = s.sample();
        }
    }
    Ok(Phase {
        name,
        client,
        baseline: baseline.unwrap_or(end),
        before,
        warm,
        peak,
        peak_after_warm_kb,
        end,
        settle_s: settle_from.elapsed().as_secs_f64(),
    })
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (the clients and `mocket` inherit
/// it) and returns the new soft limit.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        r.rlim_cur = r.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
    }
    r.rlim_cur
}

/// Every phase through one engine in `placement`.
fn run_placement(
    env: &Env,
    name: &str,
    placement: &Placement,
    sc: &SoakCfg,
    cfg: &Cfg,
) -> (Vec<Phase>, Vec<Sample>, Option<String>) {
    let mut s = match Session::start(env, placement, sc) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Vec::new(), Some(e)),
    };
    let sampler = Sampler::start(s.engine_pid, s.t0, Duration::from_millis(sc.sample_ms));
    let mut phases = Vec::new();
    let mut failure = None;
    let plan: Vec<(&'static str, String)> = vec![
        // A short warm-up, so that what starts on the first connection is in the baseline.
        ("warm-up", "keep 100 1".into()),
        ("keep", format!("keep {} {}", sc.keep, sc.conns)),
        ("new", format!("new {} {}", sc.new, sc.conns)),
        ("idle", format!("idle {} {}", sc.idle, sc.idle_hold_ms)),
        (
            "upload",
            format!("upload {} {}", sc.upload_mb << 20, sc.upload_cap_kb()),
        ),
    ];
    let mut baseline = None;
    for (phase, cmd) in plan {
        if phase == "new" {
            drain_time_wait(cfg.time_wait_max);
        }
        match run_phase(&mut s, &sampler, sc, (phase, &cmd), baseline) {
            Ok(p) => {
                baseline = Some(p.baseline);
                eprintln!(
                    "  soak {name} {phase}: {:.1} s, RSS {} -> {} MB, threads {} -> {} -> {}, fds {} -> {} -> {}",
                    p.client["secs"].as_f64().unwrap_or(f64::NAN),
                    mb(p.baseline.rss_kb),
                    mb(p.peak.rss_kb),
                    p.baseline.threads,
                    p.peak.threads,
                    p.end.threads,
                    p.baseline.fds,
                    p.peak.fds,
                    p.end.fds
                );
                phases.push(p);
            }
            Err(e) => {
                failure = Some(format!("phase {phase}: {e}"));
                break;
            }
        }
    }
    s.finish();
    (phases, sampler.finish(), failure)
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}

fn work(p: &Phase) -> String {
    let c = &p.client;
    let n = c["n"].as_u64().unwrap_or(0);
    let secs = c["secs"].as_f64().unwrap_or(f64::NAN);
    match p.name {
        "keep" | "warm-up" => format!(
            "{n} requests, {} conns, {:.0}/s",
            c["connections"],
            n as f64 / secs
        ),
        "new" => format!("{n} connections, {:.0}/s", n as f64 / secs),
        "idle" => format!(
            "{} open ({:.1} s to open), {} ms held, {} closed by mocket",
            c["open"],
            c["open_secs"].as_f64().unwrap_or(f64::NAN),
            c["hold_ms"],
            c["closed_by_engine_during_hold"]
        ),
        "upload" => {
            let sent = c["sent"].as_u64().unwrap_or(0) >> 20;
            format!(
                "{sent} of {} MiB sent, {:.0} MiB/s",
                c["bytes"].as_u64().unwrap_or(0) >> 20,
                sent as f64 / secs
            )
        }
        _ => String::new(),
    }
}

fn verdict(p: &Phase) -> String {
    let mut v = match (p.rss_growth(), p.rss_flat()) {
        (Some(g), Some(ok)) => format!("RSS flat: {} ({:+.0}%)", yes_no(ok), g * 100.0),
        _ => "RSS flat: - (no warm-up mark)".into(),
    };
    v.push_str(&format!(
        "; threads back: {}; fds back: {}",
        yes_no(p.threads_back()),
        yes_no(p.fds_back())
    ));
    if p.cap_hit() {
        v.push_str(&format!(
            "; EXCEEDED: VmRSS grew by {} MB, over the {} MB cap: upload given up",
            mb(p.client["cap_hit_growth_kb"].as_u64().unwrap_or(0)),
            mb(p.client["cap_kb"].as_u64().unwrap_or(0))
        ));
    } else if p.client["errors"].as_u64().unwrap_or(0) > 0 {
        v.push_str(&format!("; {} errors", p.client["errors"]));
    }
    v
}

/// One line per placement: which criterion was missed in which phases.
fn summarize(name: &str, phases: &[Phase]) -> String {
    let judged: Vec<&Phase> = phases.iter().filter(|p| p.name != "warm-up").collect();
    let missed = |what: &str, bad: &dyn Fn(&Phase) -> bool| {
        let names: Vec<&str> = judged.iter().filter(|p| bad(p)).map(|p| p.name).collect();
        (!names.is_empty()).then(|| format!("{what} ({})", names.join(", ")))
    };
    let misses: Vec<String> = [
        missed("RSS flat", &|p| p.rss_flat() != Some(true)),
        missed("threads back", &|p| !p.threads_back()),
        missed("fds back", &|p| !p.fds_back()),
        missed("upload under the RSS cap", &|p| p.cap_hit()),
    ]
    .into_iter()
    .flatten()
    .collect();
    debug_assert_eq!(misses.is_empty(), judged.iter().all(|p| p.passed()));
    if misses.is_empty() {
        format!("{name}: every criterion met in every phase")
    } else {
        format!("{name}: MISSED {}", misses.join("; "))
    }
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    let sc = &cfg.soak;
    report.section("8. Soak and load: one engine, RSS, threads and fds (issue 11)");
    let nofile = raise_nofile();
    let config = env.write("soak-mocks.json", &mocks_json());
    let placements = [
        ("mocket daemon", Placement::Daemon(config.clone()), 1),
        ("mocket embedded", Placement::Embedded(config.clone()), 2),
    ];
    report.line(&format!(
        "One engine per placement serves every phase in turn: {} keep-alive `GET`s over {} connections; {} new connections with one `GET` each ({} at a time, the client closing first); {} idle connections opened, held {} ms and closed; one {} MiB `POST` to an entry that does not match on the body (written from a 1 MiB buffer, given up once the engine's VmRSS has grown by {} MiB). Client: `bench-client soak` (a minimal HTTP/1.1 client over std `TcpStream`). The engine's process (`mocket` for the daemon; the client itself when embedded, so its own threads and sockets count too) is read every {} ms from /proc (VmRSS, VmHWM, Threads, entries of fd/). baseline = 0.5 s after 100 warm-up requests on one connection; after warm-up = when 10% of the phase's work is done (idle: when all are open and the engine's fd count has stopped moving); peak = highest sample or VmHWM during the phase; end = once threads and fds are back to the baseline, or after {} ms. RSS flat = peak after the warm-up mark within 10% of VmRSS at the mark. RLIMIT_NOFILE: {nofile}.",
        sc.keep, sc.conns, sc.new, sc.conns, sc.idle, sc.idle_hold_ms, sc.upload_mb, sc.upload_cap_kb() >> 10, sc.sample_ms, sc.settle_ms
    ));
    report.line("");
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let mut summary = Vec::new();
    for (name, placement, fds_per_idle) in placements {
        // Each idle connection costs the engine's process one fd (two when the client is that
        // process too).
        let room = (nofile.saturating_sub(200) / fds_per_idle) as usize;
        if sc.idle > room {
            report.line(&format!("{name}: RLIMIT_NOFILE {nofile} allows {room} idle connections, not {}: measured with {room}.", sc.idle));
        }
        let mut this = sc.clone();
        this.idle = sc.idle.min(room);
        let (phases, samples, failure) = run_placement(env, name, &placement, &this, cfg);
        for p in &phases {
            rows.push(vec![
                name.to_string(),
                p.name.to_string(),
                work(p),
                format!("{:.1} s", p.client["secs"].as_f64().unwrap_or(f64::NAN)),
                format!(
                    "{} / {} / {} / {}",
                    mb(p.baseline.rss_kb),
                    p.warm.map(|w| mb(w.rss_kb)).unwrap_or("-".into()),
                    mb(p.peak.rss_kb),
                    mb(p.end.rss_kb)
                ),
                mb(p.end.hwm_kb),
                format!(
                    "{} / {} / {}",
                    p.baseline.threads, p.peak.threads, p.end.threads
                ),
                format!("{} / {} / {}", p.baseline.fds, p.peak.fds, p.end.fds),
                format!("{:.1} s", p.settle_s),
                if p.name == "warm-up" {
                    "-".into()
                } else {
                    verdict(p)
                },
            ]);
        }
        summary.push(match &failure {
            Some(e) => format!("{name}: FAILED ({e})"),
            None => summarize(name, &phases),
        });
        figures.insert(
            name.into(),
            json!({
                "phases": phases.iter().map(|p| json!({
                    "phase": p.name, "client": p.client,
                    "baseline": p.baseline.json(), "before": p.before.json(), "warm": p.warm.map(|w| w.json()),
                    "peak": p.peak.json(), "peak_rss_after_warm_kb": p.peak_after_warm_kb,
                    "end": p.end.json(), "settle_s": p.settle_s,
                    "rss_flat": p.rss_flat(), "threads_back": p.threads_back(), "fds_back": p.fds_back(),
                    "cap_hit": p.cap_hit(),
                })).collect::<Vec<_>>(),
                "failure": failure,
                "samples_columns": ["t_s", "rss_kb", "hwm_kb", "threads", "fds"],
                "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
            }),
        );
    }
    report.table(
        &[
            "placement",
            "phase",
            "work",
            "time",
            "VmRSS MB: baseline / after warm-up / peak / end",
            "VmHWM at end",
            "threads: baseline / peak / end",
            "fds: baseline / peak / end",
            "settle",
            "verdict",
        ],
        &rows,
    );
    report.line("");
    for s in summary {
        report.line(&format!("- {s}"));
    }
    report.json.insert(
        "soak".into(),
        json!({"config": format!("{sc:?}"), "nofile": nofile, "placements": figures}),
    );
}
