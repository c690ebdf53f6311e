//! Redis `GET`/`SET` with `redis-benchmark` (one connection, no pipelining): a real
//! `redis-server` on loopback without and with the preload, and mocket's `redis` entries and
//! emulator when this build of mocket serves them (`mocket check` tells).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, command, fmt, median, ratio};

/// `redis-benchmark --csv` rows: test name -> requests/s (and p50 ms when printed).
fn bench(env: &Env, p: &Placement, host: &str, port: u16, tests: &str, n: usize) -> Vec<(String, f64, f64)> {
    let argv: Vec<String> = [
        "redis-benchmark", "-h", host, "-p", &port.to_string(), "-c", "1", "-n", &n.to_string(),
        "-t", tests, "--csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let Ok(out) = command(env, p, &argv).stdin(Stdio::null()).output() else {
        return vec![];
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<(String, f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<String> = l.split(',').map(|s| s.trim_matches('"').to_string()).collect();
            let rps = f.get(1)?.parse().ok()?;
            let p50 = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
            Some((f[0].clone(), rps, p50))
        })
        .collect();
    if rows.is_empty() {
        eprintln!(
            "  ! redis-benchmark {p:?} {host}:{port}: {}",
            String::from_utf8_lossy(&out.stderr).lines().take(3).collect::<Vec<_>>().join(" | ")
        );
    }
    rows
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("6. Redis GET/SET (redis-benchmark, 1 connection)");
    if Command::new("redis-benchmark").arg("--version").output().is_err()
        || Command::new("redis-server").arg("--version").output().is_err()
    {
        report.line("redis-server or redis-benchmark is not installed: skipped.");
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    std::thread::sleep(Duration::from_millis(300));

    let config = env.write(
        "redis-mocks.json",
        &json!({"entries": [
            {"redis": "cache.internal:6379", "command": ["GET", "key:__rand_int__"], "response": "xxx"},
            {"redis": "cache.internal:6379", "command": ["SET", "key:__rand_int__", "VXK"], "response": {"simple": "OK"}},
            {"redis": "sessions.internal:6379", "emulate": true}
        ]})
        .to_string(),
    );
    let supported = Command::new(&env.mocket)
        .arg("check")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let http_config = env.write("http-mocks.json", &crate::http::mocks_json());
    let mut cols: Vec<(String, Placement, String, u16)> = vec![
        ("redis-server (no preload)".into(), Placement::Direct, "127.0.0.1".into(), port),
        ("redis-server, libmocket.so preloaded (allowed)".into(), Placement::Embedded(http_config.clone()), "127.0.0.1".into(), port),
        ("redis-server, under mocket run (allowed)".into(), Placement::Daemon(http_config), "127.0.0.1".into(), port),
    ];
    if supported {
        for (name, host) in [("entries", "cache.internal"), ("emulator", "sessions.internal")] {
            cols.push((format!("mocket {name}, daemon"), Placement::Daemon(config.clone()), host.into(), 6379));
            cols.push((format!("mocket {name}, embedded"), Placement::Embedded(config.clone()), host.into(), 6379));
        }
    }
    let n = cfg.redis_n;
    let mut got: Vec<std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)>> = vec![Default::default(); cols.len()];
    for _ in 0..cfg.reps.min(3) {
        for (i, (_, p, host, port)) in cols.iter().enumerate() {
            for (test, rps, p50) in bench(env, p, host, *port, "get,set", n) {
                let e = got[i].entry(test).or_default();
                e.0.push(rps);
                e.1.push(p50);
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let base = |t: &str| got[0].get(t).map_or(f64::NAN, |v| median(&v.0));
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    for ((name, ..), g) in cols.iter().zip(&got) {
        for test in ["SET", "GET"] {
            let (r, l) = g.get(test).map_or((f64::NAN, f64::NAN), |v| (median(&v.0), median(&v.1)));
            rows.push(vec![name.clone(), test.into(), fmt(r), fmt(l * 1000.0), ratio(r, base(test))]);
            figures.insert(format!("{name}/{test}"), json!({"rps": crate::common::finite(r), "p50_ms": crate::common::finite(l)}));
        }
    }
    report.line(&format!(
        "{n} requests per run, median of {} runs; p50 as printed by redis-benchmark.{}",
        cfg.reps.min(3),
        if supported { "" } else { " mocket's `redis` entries and emulator: not supported by this build of mocket yet (`mocket check` rejects them), so only the real server is measured." }
    ));
    report.line("");
    report.table(&["server", "test", "req/s", "p50 µs", "vs redis-server"], &rows);
    report.json.insert("redis".into(), Value::Object(figures));
}
