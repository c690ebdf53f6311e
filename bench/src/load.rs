//! Section 3: what loading the shim costs a process that never connects anywhere, against the
//! same process without a preload and with a no-op C preload library (the floor any
//! LD_PRELOAD tool pays), built by the harness with cc. Variants are interleaved run by run so
//! that drift in the machine's load hits all of them alike.

use serde_json::{Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, fmt, median, percentile, run_json, time_process};

fn variants(env: &Env, config: &std::path::Path) -> Vec<(&'static str, Placement)> {
    vec![
        ("no preload", Placement::Direct),
        (
            "no-op C preload",
            Placement::Preload(env.noop_so.clone(), None),
        ),
        (
            "libmocket.so",
            Placement::Preload(env.libmocket.clone(), Some(config.to_path_buf())),
        ),
    ]
}

/// Interleaved wall times (seconds) of `argv` per variant.
fn wall_times(env: &Env, vars: &[(&str, Placement)], argv: &[String], runs: usize) -> Vec<Vec<f64>> {
    let mut t = vec![Vec::with_capacity(runs); vars.len()];
    for _ in 0..runs / 20 + 1 {
        for (_, p) in vars {
            time_process(env, p, argv);
        }
    }
    for _ in 0..runs {
        for (i, (_, p)) in vars.iter().enumerate() {
            t[i].push(time_process(env, p, argv));
        }
    }
    t
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("3. Loading the shim into a process that never connects");
    let config = env.write("http-mocks.json", &crate::http::mocks_json());
    let vars = variants(env, &config);
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let mut table = |what: &str, unit: &str, scale: f64, t: &[Vec<f64>], figures: &mut serde_json::Map<String, Value>| {
        let none = median(&t[0]);
        // Added time: the median over rounds of (variant - no preload) within the same round,
        // which cancels the drift of a shared machine better than a difference of medians.
        let paired = |i: usize| -> f64 {
            let d: Vec<f64> = t[i].iter().zip(&t[0]).map(|(a, b)| a - b).collect();
            median(&d)
        };
        let noop_added = paired(1);
        for (i, (name, _)) in vars.iter().enumerate() {
            let m = median(&t[i]);
            let added = if i == 0 { 0.0 } else { paired(i) };
            rows.push(vec![
                what.to_string(),
                name.to_string(),
                format!("{} {unit}", fmt(m * scale)),
                format!("{} {unit}", fmt(percentile(&t[i], 99.0) * scale)),
                if i == 0 { "-".into() } else { format!("{:+.1} µs", added * 1e6) },
                if i == 0 { "-".into() } else { format!("{:+.2}%", added / none * 100.0) },
                if i == 2 && noop_added.abs() > 0.0 {
                    format!("{:.2}x", added / noop_added)
                } else {
                    "-".into()
                },
            ]);
            figures.insert(
                format!("{what}/{name}"),
                json!({"median_s": m, "p99_s": percentile(&t[i], 99.0), "runs": t[i].len()}),
            );
        }
        (none, noop_added, paired(2))
    };

    // /bin/true
    let argv = vec!["/bin/true".to_string()];
    let t = wall_times(env, &vars, &argv, cfg.load_runs);
    let (none, noop_added, m_added) = table("/bin/true (wall, spawn to exit)", "ms", 1e3, &t, &mut figures);
    report.target(
        "/bin/true: time added by libmocket.so <= 1.5x the no-op C preload's",
        format!(
            "+{:.0} µs vs +{:.0} µs = {:.2}x (of {:.0} µs)",
            m_added * 1e6,
            noop_added * 1e6,
            m_added / noop_added,
            none * 1e6
        ),
        m_added <= 1.5 * noop_added,
    );

    // The write() loop, timed inside the process.
    let argv = vec![
        env.client.display().to_string(),
        "writeloop".into(),
        cfg.writeloop_n.to_string(),
    ];
    let mut t = vec![Vec::new(); vars.len()];
    for _ in 0..cfg.writeloop_runs {
        for (i, (_, p)) in vars.iter().enumerate() {
            if let Some(v) = run_json(env, p, &argv) {
                t[i].push(v["secs"].as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    let (none, _, m_added) = table(
        &format!("{}x write(1 byte) to /dev/null (timed inside)", cfg.writeloop_n),
        "ms",
        1e3,
        &t,
        &mut figures,
    );
    report.target(
        "write() loop within 2% of no preload",
        format!("{:+.2}%", m_added / none * 100.0),
        m_added / none <= 0.02,
    );

    // cargo --version
    let argv = vec!["cargo".to_string(), "--version".into()];
    let t = wall_times(env, &vars, &argv, cfg.cargo_runs);
    let (none, _, m_added) = table("cargo --version (wall)", "ms", 1e3, &t, &mut figures);
    report.target(
        "cargo --version within 2% of no preload",
        format!("{:+.2}% ({:+.0} µs of {:.1} ms)", m_added / none * 100.0, m_added * 1e6, none * 1e3),
        m_added / none <= 0.02,
    );

    report.line(&format!(
        "{} runs per variant for /bin/true, {} for cargo --version, {} for the write loop; variants interleaved. \"added\" is the median over rounds of the difference to the no-preload run of the same round; \"vs no-op\" is the time libmocket.so adds over the time the no-op C library adds.",
        cfg.load_runs, cfg.cargo_runs, cfg.writeloop_runs
    ));
    report.line("");
    report.table(
        &["process", "preload", "median", "p99", "added (median)", "added %", "vs no-op"],
        &rows,
    );
    report.json.insert("load".into(), Value::Object(figures));
}
