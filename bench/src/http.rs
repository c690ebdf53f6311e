//! Section 1: mocked HTTP GET round trips, keep-alive and a new connection per request, with the
//! same client in every column.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use serde_json::{Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, Series, command, fmt, ratio, run_json};
use crate::servers::{PATH, Servers};

pub const MOCKED_URL: &str = "http://api.example.com/v1/users/1";

pub fn mocks_json() -> String {
    json!({"entries": [
        {"http": format!("GET {MOCKED_URL}"), "response": {"status": 200, "json": {"id": 1}}}
    ]})
    .to_string()
}

#[derive(Clone)]
struct Col {
    name: &'static str,
    placement: Placement,
    url: String,
    pymocket: bool,
}

fn columns(servers: &Servers, config: &PathBuf, python: bool) -> Vec<Col> {
    let local = |port: u16| format!("http://127.0.0.1:{port}{PATH}");
    let mut cols = vec![
        Col {
            name: "mocket daemon",
            placement: Placement::Daemon(config.clone()),
            url: MOCKED_URL.into(),
            pymocket: false,
        },
        Col {
            name: "mocket embedded",
            placement: Placement::Embedded(config.clone()),
            url: MOCKED_URL.into(),
            pymocket: false,
        },
        Col {
            name: "hyper (loopback)",
            placement: Placement::Direct,
            url: local(servers.hyper),
            pymocket: false,
        },
        // The same server reached by a name, as mocket is: a client that looks the name up
        // before each connection (reqwest's resolver thread, Python's `create_connection`)
        // pays for that here too, and the difference to the row above is what the lookup
        // costs the client, not the server.
        Col {
            name: "hyper (loopback, by name)",
            placement: Placement::Direct,
            url: format!("http://localhost:{}{PATH}", servers.hyper),
            pymocket: false,
        },
        Col {
            name: "httpmock (loopback)",
            placement: Placement::Direct,
            url: local(servers.httpmock),
            pymocket: false,
        },
        Col {
            name: "wiremock (loopback)",
            placement: Placement::Direct,
            url: local(servers.wiremock),
            pymocket: false,
        },
    ];
    if python {
        cols.push(Col {
            name: "Python Mocket (in-process)",
            placement: Placement::Direct,
            url: MOCKED_URL.into(),
            pymocket: true,
        });
    }
    cols
}

/// One run of `client` against `col`: the client's JSON (rps and per-request latencies).
pub fn one_run(
    env: &Env,
    client: &str,
    keep: bool,
    placement: &Placement,
    url: &str,
    n: usize,
    cfg: &Cfg,
    pymocket: bool,
) -> Option<Value> {
    one_run_with(env, client, keep, placement, url, n, cfg.budget_ms, None, pymocket)
}

/// [`one_run`] with an explicit time budget and warm-up count (reqwest and ureq only).
#[allow(clippy::too_many_arguments)]
pub fn one_run_with(
    env: &Env,
    client: &str,
    keep: bool,
    placement: &Placement,
    url: &str,
    n: usize,
    budget_ms: u64,
    warmup: Option<usize>,
    pymocket: bool,
) -> Option<Value> {
    let mode = if keep { "keep" } else { "new" };
    let budget = budget_ms.to_string();
    match client {
        "reqwest" | "ureq" => {
            let argv: Vec<String> = vec![
                env.client.display().to_string(),
                "http".into(),
                client.into(),
                mode.into(),
                url.into(),
                n.to_string(),
                "--budget-ms".into(),
                budget,
            ];
            let mut argv = argv;
            if let Some(w) = warmup {
                argv.push("--warmup".into());
                argv.push(w.to_string());
            }
            run_json(env, placement, &argv)
        }
        "python" => {
            let mut argv: Vec<String> = vec![
                env.python.clone(),
                env.py_client.display().to_string(),
                mode.into(),
                url.into(),
                n.to_string(),
                "--budget-ms".into(),
                budget,
            ];
            if pymocket {
                argv.push("--pymocket".into());
            }
            run_json(env, placement, &argv)
        }
        "curl" => curl_run(env, keep, placement, url, n),
        _ => unreachable!(),
    }
}

/// curl with all the URLs in one process; each transfer's `time_total` is its latency (timed by
/// curl itself), requests/s is the timed transfers over the sum of their times. A new connection
/// per request is forced with `Connection: close`.
fn curl_run(env: &Env, keep: bool, placement: &Placement, url: &str, n: usize) -> Option<Value> {
    let warmup = (n / 10).clamp(1, 200);
    let mut argv: Vec<String> = vec![
        "curl".into(),
        "-s".into(),
        "--noproxy".into(),
        "*".into(),
        "-w".into(),
        "#T#%{time_total}\\n".into(),
    ];
    if !keep {
        argv.push("-H".into());
        argv.push("Connection: close".into());
    }
    argv.extend(std::iter::repeat_n(url.to_string(), warmup + n));
    let out = command(env, placement, &argv)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<f64> = text
        .split("#T#")
        .skip(1)
        .filter_map(|s| s.trim().split_whitespace().next()?.parse::<f64>().ok())
        .collect();
    let ok = text.matches("{\"id\":1}").count();
    if times.len() != warmup + n || !out.status.success() {
        eprintln!(
            "  ! curl {placement:?}: {} transfers of {}, exit {}: {}",
            times.len(),
            warmup + n,
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("")
        );
        if times.len() <= warmup {
            return None;
        }
    }
    let timed = &times[warmup..];
    let total: f64 = timed.iter().sum();
    Some(json!({
        "n": timed.len(), "secs": total, "rps": timed.len() as f64 / total,
        "errors": (warmup + n).saturating_sub(ok),
        "lat_ns": timed.iter().map(|s| (s * 1e9) as u64).collect::<Vec<_>>(),
    }))
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("1. Mocked HTTP GET round trip");
    let config = env.write("http-mocks.json", &mocks_json());
    let servers = Servers::start();
    let python_ok = std::process::Command::new(&env.python)
        .args(["-c", "import mocket"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !python_ok {
        eprintln!("  ! Python's Mocket library is missing (pip install mocket): its column is skipped");
    }
    report.line(&format!(
        "Same client in every column; {} timed requests per keep-alive run, {} per new-connection run, {} runs per cell interleaved across columns; req/s is the median over runs, p50/p99 over all timed requests of all runs. Ratios: req/s of the row over req/s of hyper / httpmock / wiremock (same client, same mode). CPU per request (median over runs): the client's own threads / the server side (the engine threads inside the client for the embedded placement, the `mocket` daemon, or the harness process that runs hyper, httpmock and wiremock; threads alive at the end of the run, so a thread per connection that has exited is missed; Python Mocket's serving is inside the client's figure; curl: not measured).",
        cfg.n_keep, cfg.n_new, cfg.reps
    ));
    if let Some(cpu) = &cfg.pinned {
        report.line(&format!(
            "Pinned: the harness (hence hyper, httpmock and wiremock), `mocket run` and every client ran on CPU {cpu} only (`--pin {cpu}`, taskset)."
        ));
    }
    report.line("");
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let t0 = Instant::now();
    for client in &cfg.clients {
        for &keep in &cfg.modes {
            let mode = if keep { "keep-alive" } else { "new conn" };
            let n = if keep { cfg.n_keep } else { cfg.n_new };
            let is_py = client == "python";
            let cols = columns(&servers, &config, is_py && python_ok);
            let mut series = vec![Series::default(); cols.len()];
            for _ in 0..cfg.reps {
                for (c, s) in cols.iter().zip(series.iter_mut()) {
                    if !keep {
                        crate::common::drain_time_wait(cfg.time_wait_max);
                    }
                    let v = one_run(env, client, keep, &c.placement, &c.url, n, cfg, c.pymocket);
                    s.add(v.as_ref());
                }
            }
            let base = |name: &str| {
                cols.iter()
                    .position(|c| c.name.starts_with(name))
                    .map_or(f64::NAN, |i| series[i].rps())
            };
            let (hy, hm, wm) = (base("hyper"), base("httpmock"), base("wiremock"));
            for (c, s) in cols.iter().zip(&series) {
                let r = s.rps();
                rows.push(vec![
                    client.clone(),
                    mode.into(),
                    c.name.into(),
                    fmt(r),
                    fmt(s.p50()),
                    fmt(s.p99()),
                    format!("{} / {}", fmt(s.client_cpu()), fmt(s.server_cpu())),
                    ratio(r, hy),
                    ratio(r, hm),
                    ratio(r, wm),
                    if s.errors + s.failed_runs > 0 {
                        format!("{} err, {} failed runs", s.errors, s.failed_runs)
                    } else {
                        String::new()
                    },
                ]);
                figures.insert(format!("{client}/{mode}/{}", c.name), s.json());
            }
            eprintln!("  [{:.0}s] {client} {mode} done", t0.elapsed().as_secs_f64());
            // Targets.
            let get = |name: &str| {
                cols.iter()
                    .position(|c| c.name == name)
                    .map_or(f64::NAN, |i| series[i].rps())
            };
            if client == "reqwest" && keep {
                for placement in ["mocket daemon", "mocket embedded"] {
                    let m = get(placement);
                    report.target(
                        &format!("reqwest keep-alive, {placement} >= 2x httpmock"),
                        format!("{} vs {} req/s = {}", fmt(m), fmt(hm), ratio(m, hm)),
                        m >= 2.0 * hm,
                    );
                    report.target(
                        &format!("reqwest keep-alive, {placement} >= 2x wiremock"),
                        format!("{} vs {} req/s = {}", fmt(m), fmt(wm), ratio(m, wm)),
                        m >= 2.0 * wm,
                    );
                    report.target(
                        &format!("reqwest keep-alive, {placement} >= hyper"),
                        format!("{} vs {} req/s = {}", fmt(m), fmt(hy), ratio(m, hy)),
                        m >= hy,
                    );
                }
            }
            if !keep {
                let by_name = get("hyper (loopback, by name)");
                let pinned = cfg.pinned.as_deref();
                new_connection_targets(report, client, pinned, &cols, &series, hy, by_name);
            }
            if is_py && python_ok {
                let pm = get("Python Mocket (in-process)");
                for placement in ["mocket daemon", "mocket embedded"] {
                    let m = get(placement);
                    report.target(
                        &format!("python http.client {mode}, {placement} >= Python Mocket"),
                        format!("{} vs {} req/s = {}", fmt(m), fmt(pm), ratio(m, pm)),
                        m >= pm,
                    );
                }
            }
        }
    }
    report.table(
        &[
            "client", "mode", "server", "req/s", "p50 µs", "p99 µs", "CPU µs/req client / server", "vs hyper", "vs httpmock",
            "vs wiremock", "notes",
        ],
        &rows,
    );
    report.json.insert("http".into(), Value::Object(figures));
}

/// Issue 15's goals for a new connection per request: each placement at least hyper's rate, and
/// a p99 within 3x its p50.
fn new_connection_targets(
    report: &mut Report,
    client: &str,
    pinned: Option<&str>,
    cols: &[Col],
    series: &[Series],
    hyper_rps: f64,
    hyper_by_name_rps: f64,
) {
    let pin = pinned.map_or(String::new(), |cpu| format!(", pinned to CPU {cpu}"));
    for placement in ["mocket daemon", "mocket embedded"] {
        let Some(s) = cols.iter().position(|c| c.name == placement).map(|i| &series[i]) else {
            continue;
        };
        let m = s.rps();
        report.target(
            &format!("{client} new conn{pin}, {placement} >= hyper"),
            format!("{} vs {} req/s = {}", fmt(m), fmt(hyper_rps), ratio(m, hyper_rps)),
            m >= hyper_rps,
        );
        report.target(
            &format!("{client} new conn{pin}, {placement} >= hyper reached by name (not a goal of issue 15)"),
            format!("{} vs {} req/s = {}", fmt(m), fmt(hyper_by_name_rps), ratio(m, hyper_by_name_rps)),
            m >= hyper_by_name_rps,
        );
        let (p50, p99) = (s.p50(), s.p99());
        report.target(
            &format!("{client} new conn{pin}, {placement} p99 <= 3x p50"),
            format!("p50 {} µs, p99 {} µs = {:.1}x", fmt(p50), fmt(p99), p99 / p50),
            p99 <= 3.0 * p50,
        );
    }
}
