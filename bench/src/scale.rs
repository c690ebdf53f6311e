//! Section 4: per-request cost with 10, 1 000 and 100 000 entries on one host, and section 5:
//! memory.

use serde_json::{Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, Series, fmt, median, ratio, run_json, time_process};
use crate::http::{MOCKED_URL, mocks_json, one_run_with};

/// `size` entries `GET http://api.example.com/v1/items/<i>`, each answering `{"id": i}`.
fn scale_mocks(size: usize) -> String {
    let entries: Vec<Value> = (0..size)
        .map(|i| {
            json!({"http": format!("GET http://api.example.com/v1/items/{i}"),
                   "response": {"status": 200, "json": {"id": i}}})
        })
        .collect();
    json!({ "entries": entries }).to_string()
}

pub fn run_scale(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("4. Scale: entries on one host");
    report.line(&format!(
        "reqwest keep-alive, requesting the last entry in file order (the worst case of a scan) and the first one; up to {} requests per run (or {} ms, after 20 warm-up requests), {} runs. Startup: wall time of `mocket run -- curl` for one request (daemon start, config load, one exchange).",
        cfg.n_keep, cfg.scale_budget_ms, cfg.reps
    ));
    report.line("The target is judged on the p50 latency ratio: the mean (req/s) of five short runs on a shared 2-core machine moves by ±30% between identical configurations.");
    report.line("");
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let mut base: std::collections::HashMap<(&str, &str), (f64, f64)> = Default::default();
    for &size in &cfg.scale_sizes {
        let config = env.write(&format!("scale-{size}.json"), &scale_mocks(size));
        let startup: Vec<f64> = (0..3)
            .map(|_| {
                time_process(
                    env,
                    &Placement::Daemon(config.clone()),
                    &[
                        "curl".into(),
                        "-s".into(),
                        format!("http://api.example.com/v1/items/{}", size - 1),
                    ],
                )
            })
            .collect();
        for (pname, placement) in [
            ("daemon", Placement::Daemon(config.clone())),
            ("embedded", Placement::Embedded(config.clone())),
        ] {
            for (which, idx) in [("last", size - 1), ("first", 0)] {
                let url = format!("http://api.example.com/v1/items/{idx}");
                let mut s = Series::default();
                for _ in 0..cfg.reps {
                    s.add(
                        one_run_with(env, "reqwest", true, &placement, &url, cfg.n_keep, cfg.scale_budget_ms, Some(20), false)
                            .as_ref(),
                    );
                }
                let (b, b50) = *base.entry((pname, which)).or_insert((s.rps(), s.p50()));
                rows.push(vec![
                    size.to_string(),
                    pname.into(),
                    which.into(),
                    fmt(s.rps()),
                    fmt(s.p50()),
                    fmt(s.p99()),
                    ratio(b, s.rps()),
                    ratio(s.p50(), b50),
                    format!("{:.0} ms", median(&startup) * 1e3),
                ]);
                figures.insert(
                    format!("{size}/{pname}/{which}"),
                    json!({"series": s.json(), "startup_s": startup}),
                );
                if which == "last" && size == *cfg.scale_sizes.iter().max().unwrap() && size >= 100_000 {
                    report.target(
                        &format!("{size} entries within 1.2x of {} ({pname}, last entry)", cfg.scale_sizes[0]),
                        format!(
                            "p50 latency {} µs vs {} µs = {} (mean time per request {})",
                            fmt(s.p50()),
                            fmt(b50),
                            ratio(s.p50(), b50),
                            ratio(b, s.rps())
                        ),
                        s.p50() / b50 <= 1.2,
                    );
                }
            }
        }
        eprintln!("  scale {size} done");
    }
    report.table(
        &["entries", "placement", "entry asked", "req/s", "p50 µs", "p99 µs", "mean time/request vs smallest", "p50 vs smallest", "startup"],
        &rows,
    );
    report.json.insert("scale".into(), Value::Object(figures));
}

pub fn run_memory(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("5. Memory (VmRSS)");
    let config = env.write("http-mocks.json", &mocks_json());
    let idle_argv = vec![env.client.display().to_string(), "rss".into()];
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let mut none_kb = f64::NAN;
    for (name, p) in [
        ("no preload", Placement::Direct),
        ("no-op C preload", Placement::Preload(env.noop_so.clone(), None)),
        ("libmocket.so (bare LD_PRELOAD, engine not loaded)", Placement::Embedded(config.clone())),
        ("libmocket.so under mocket run", Placement::Daemon(config.clone())),
    ] {
        let v: Vec<f64> = (0..3)
            .filter_map(|_| run_json(env, &p, &idle_argv)?["rss_kb"].as_f64())
            .collect();
        let kb = median(&v);
        if none_kb.is_nan() {
            none_kb = kb;
        }
        rows.push(vec![
            "idle client (bench-client rss)".into(),
            name.into(),
            format!("{kb:.0} kB"),
            format!("{:+.0} kB", kb - none_kb),
        ]);
        figures.insert(format!("idle/{name}"), json!(kb));
    }

    // After many requests: the engine is the daemon (the client's parent under mocket run) or
    // inside the client (embedded).
    let servers_needed = crate::servers::Servers::start();
    let hyper_url = format!("http://127.0.0.1:{}{}", servers_needed.hyper, crate::servers::PATH);
    for (name, placement, url, keep, n) in [
        ("reqwest keep-alive -> hyper (no preload)", Placement::Direct, hyper_url.clone(), true, cfg.mem_requests),
        ("reqwest keep-alive -> mocket daemon", Placement::Daemon(config.clone()), MOCKED_URL.to_string(), true, cfg.mem_requests),
        ("reqwest keep-alive -> mocket embedded", Placement::Embedded(config.clone()), MOCKED_URL.to_string(), true, cfg.mem_requests),
        ("reqwest new conn -> mocket daemon", Placement::Daemon(config.clone()), MOCKED_URL.to_string(), false, cfg.mem_requests_new),
        ("reqwest new conn -> mocket embedded", Placement::Embedded(config.clone()), MOCKED_URL.to_string(), false, cfg.mem_requests_new),
    ] {
        let argv: Vec<String> = vec![
            env.client.display().to_string(),
            "http".into(),
            "reqwest".into(),
            if keep { "keep" } else { "new" }.into(),
            url,
            n.to_string(),
            "--rss".into(),
            "--no-lat".into(),
            "--budget-ms".into(),
            (cfg.budget_ms * 10).to_string(),
        ];
        if !keep {
            crate::common::drain_time_wait(cfg.time_wait_max.saturating_sub(n));
        }
        let Some(v) = run_json(env, &placement, &argv) else {
            rows.push(vec![name.into(), "failed".into(), "-".into(), "-".into()]);
            continue;
        };
        let r = &v["rss_kb"];
        let done = v["n"].as_u64().unwrap_or(0);
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        rows.push(vec![
            format!("{name}: {done} requests"),
            "client process".into(),
            format!("{:.0} kB -> {:.0} kB", f("self_before"), f("self_after")),
            format!("{:+.0} kB", f("self_after") - f("self_before")),
        ]);
        if matches!(placement, Placement::Daemon(_)) {
            rows.push(vec![
                format!("{name}: {done} requests"),
                "mocket daemon (engine)".into(),
                format!("{:.0} kB -> {:.0} kB", f("parent_before"), f("parent_after")),
                format!("{:+.0} kB", f("parent_after") - f("parent_before")),
            ]);
        }
        figures.insert(format!("after/{name}"), v);
    }
    report.line("Idle: a process that loads the preload and never connects (median of 3). After: resident size before the timed requests (after warm-up) and after them.");
    report.line("");
    report.table(&["what", "process", "VmRSS", "delta"], &rows);
    report.json.insert("memory".into(), Value::Object(figures));
}
