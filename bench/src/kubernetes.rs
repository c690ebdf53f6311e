//! The Kubernetes API emulator (issue 16): a list of N ConfigMaps with a label selector, and the
//! round trip from a create to its ADDED event on an open watch, measured by one Python
//! `http.client` program (`bench/py/kube_bench.py`) against mocket's `kubernetes` entry (daemon
//! and embedded placements, and `mocket serve` without any preload) and against kmock's
//! KubernetesEmulator (`pip install kmock`), the library the issue compares with. No real API
//! server can be started here: kube-apiserver is neither on crates.io, PyPI nor in Debian.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, fmt, run_json};

/// A server started for one column, stopped when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Waits until something listens on `port` (at most 20 s).
fn wait_listening(port: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn start(cmd: &mut Command, port: u16) -> Option<Started> {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let started = Started(child);
    wait_listening(port).then_some(started)
}

fn client(env: &Env, placement: &Placement, url: &str, objects: usize, cfg: &Cfg) -> Option<Value> {
    let argv: Vec<String> = [
        env.python.clone(),
        env.root.join("bench/py/kube_bench.py").display().to_string(),
        url.to_string(),
        objects.to_string(),
        cfg.kube_lists.to_string(),
        cfg.kube_trips.to_string(),
    ]
    .to_vec();
    run_json(env, placement, &argv)
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("9. Kubernetes API emulator (issue 16)");
    let config = env.write(
        "kube-mocks.json",
        &json!({"entries": [{"kubernetes": "http://kube.test:8080"}]}).to_string(),
    );
    let supported = Command::new(&env.mocket)
        .arg("check")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !supported {
        report.line("this build of mocket has no `kubernetes` entries: skipped.");
        return;
    }
    let n = cfg.kube_objects;
    let mut rows = Vec::new();
    let mut figures = Map::new();
    let mut add = |name: &str, objects: usize, v: Option<Value>| {
        let Some(v) = v else {
            rows.push(vec![name.to_string(), objects.to_string(), "failed".into()]);
            return;
        };
        let cell = |k: &str| fmt(v[k].as_f64().unwrap_or(f64::NAN));
        rows.push(vec![
            name.to_string(),
            objects.to_string(),
            cell("create_per_s"),
            format!("{} ({} items)", cell("list_selector_ms"), v["list_selector_items"]),
            format!("{} ({} KB)", cell("list_all_ms"), v["list_all_bytes"].as_u64().unwrap_or(0) / 1024),
            cell("watch_rt_us_p50"),
            cell("watch_rt_us_p99"),
        ]);
        figures.insert(name.to_string(), v);
    };
    let url = "http://kube.test:8080";
    add("mocket run (daemon)", n, client(env, &Placement::Daemon(config.clone()), url, n, cfg));
    add("LD_PRELOAD (embedded)", n, client(env, &Placement::Embedded(config.clone()), url, n, cfg));
    let port = free_port();
    let serve = start(
        Command::new(&env.mocket).args(["serve", "--log", "error", "--port", &port.to_string(), "--config"]).arg(&config),
        port,
    );
    let local = format!("http://127.0.0.1:{port}");
    add("mocket serve (no preload)", n, serve.and_then(|_s| client(env, &Placement::Direct, &local, n, cfg)));
    let kmock_ok = Command::new(&env.python)
        .args(["-c", "import kmock"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if kmock_ok {
        let port = free_port();
        let script = env.root.join("bench/py/kmock_server.py");
        let kmock = start(Command::new(&env.python).arg(&script).arg(port.to_string()), port);
        let local = format!("http://127.0.0.1:{port}");
        let small = cfg.kube_kmock_objects;
        add("kmock KubernetesEmulator", small, kmock.and_then(|_k| client(env, &Placement::Direct, &local, small, cfg)));
    } else {
        report.line("kmock is not installed (pip install kmock): its row is skipped.");
    }
    report.line(&format!(
        "One Python http.client process, keep-alive: creates N ConfigMaps (one in ten labelled \
         app=selected), median of {} lists with labelSelector=app=selected and of {} lists of \
         everything, then {} creates each timed until its ADDED event arrives on an open watch. \
         kmock gets fewer objects: its create costs grow with the objects it holds, and it \
         ignores labelSelector (its selector list returns everything).",
        cfg.kube_lists, cfg.kube_lists, cfg.kube_trips
    ));
    report.line("");
    report.table(
        &["server", "N", "creates/s", "list with selector (ms)", "list all (ms)", "create→event p50 (µs)", "p99 (µs)"],
        &rows,
    );
    report.json.insert("kubernetes".into(), Value::Object(figures));
}
