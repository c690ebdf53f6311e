//! What every section shares: where things are, how a client process is started in each
//! placement, statistics, and the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// Paths of everything the benchmarks run.
pub struct Env {
    pub root: PathBuf,
    pub mocket: PathBuf,
    pub libmocket: PathBuf,
    pub client: PathBuf,
    pub py_client: PathBuf,
    pub work: PathBuf,
    pub noop_so: PathBuf,
    pub python: String,
}

impl Env {
    pub fn discover() -> Env {
        let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = bench.parent().expect("bench/ has a parent").to_path_buf();
        let bin_dir = std::env::var_os("MOCKET_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release"));
        let own_dir = std::env::current_exe()
            .expect("current exe")
            .parent()
            .expect("exe dir")
            .to_path_buf();
        let work = bench.join("target/work");
        std::fs::create_dir_all(&work).expect("create bench/target/work");
        let env = Env {
            mocket: bin_dir.join("mocket"),
            libmocket: bin_dir.join("libmocket.so"),
            client: own_dir.join("bench-client"),
            py_client: bench.join("py/client.py"),
            noop_so: work.join("noop_preload.so"),
            python: std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()),
            work,
            root,
        };
        for p in [&env.mocket, &env.libmocket, &env.client] {
            if !p.exists() {
                eprintln!(
                    "missing {}: build it first (bench/run.sh does: cargo build --release -p mocket-cli -p mocket-shim -p mocket-embedded, and cargo build --release --manifest-path bench/Cargo.toml --bins)",
                    p.display()
                );
                std::process::exit(2);
            }
        }
        env.build_noop(&bench);
        env
    }

    /// Builds the no-op C preload library with cc.
    fn build_noop(&self, bench: &Path) {
        let src = bench.join("c/noop_preload.c");
        let ok = Command::new("cc")
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&self.noop_so)
            .arg(&src)
            .arg("-ldl")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot build {} with cc", self.noop_so.display());
            std::process::exit(2);
        }
    }

    /// Writes a file under the work dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.work.join(name);
        std::fs::write(&p, text).expect("write work file");
        p
    }
}

/// How a client process is started.
#[derive(Clone, Debug)]
pub enum Placement {
    /// No preload at all.
    Direct,
    /// `mocket run --log error --config FILE -- CMD`.
    Daemon(PathBuf),
    /// `LD_PRELOAD=libmocket.so MOCKET_CONFIG=FILE CMD`.
    Embedded(PathBuf),
    /// `LD_PRELOAD=<this library> CMD` (the no-op C library, or libmocket.so with a config).
    Preload(PathBuf, Option<PathBuf>),
}

/// A command for `argv` in `placement`, with a clean environment (no inherited preload or
/// mocket variable).
pub fn command(env: &Env, placement: &Placement, argv: &[String]) -> Command {
    let mut cmd = match placement {
        Placement::Daemon(config) => {
            let mut c = Command::new(&env.mocket);
            c.args(["run", "--log", "error", "--config"])
                .arg(config)
                .arg("--")
                .args(argv);
            c
        }
        _ => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k == "LD_PRELOAD" || k.starts_with("MOCKET_") || k.to_lowercase().ends_with("_proxy") {
            cmd.env_remove(&k);
        }
    }
    match placement {
        Placement::Embedded(config) => {
            cmd.env("LD_PRELOAD", &env.libmocket)
                .env("MOCKET_CONFIG", config)
                .env("MOCKET_LOG", "error");
        }
        Placement::Preload(lib, config) => {
            cmd.env("LD_PRELOAD", lib).env("MOCKET_LOG", "error");
            if let Some(c) = config {
                cmd.env("MOCKET_CONFIG", c);
            }
        }
        _ => {}
    }
    cmd
}

/// Runs a client that prints one JSON line; `None` (with its stderr shown) when it fails.
pub fn run_json(env: &Env, placement: &Placement, argv: &[String]) -> Option<Value> {
    let out = command(env, placement, argv)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    if parsed.is_none() || !out.status.success() {
        eprintln!(
            "  ! {:?} {:?} exited {}: {}",
            placement,
            argv,
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    parsed
}

/// Wall time of one run of `argv` in `placement`, output discarded.
pub fn time_process(env: &Env, placement: &Placement, argv: &[String]) -> f64 {
    let mut cmd = command(env, placement, argv);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let _ = cmd.status();
    t.elapsed().as_secs_f64()
}

pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// Nearest-rank percentile of unsorted values (NaN when empty).
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Accumulated figures of one measured configuration over its repetitions.
#[derive(Default, Clone)]
pub struct Series {
    pub rps: Vec<f64>,
    pub lat_us: Vec<f64>,
    pub errors: u64,
    pub failed_runs: u64,
    /// CPU µs per request of the client's own threads, and of the server side (the engine
    /// threads in the client for the embedded placement, else the parent process).
    pub client_cpu: Vec<f64>,
    pub server_cpu: Vec<f64>,
}

impl Series {
    pub fn add(&mut self, v: Option<&Value>) {
        let Some(v) = v else {
            self.failed_runs += 1;
            return;
        };
        if let Some(r) = v["rps"].as_f64() {
            self.rps.push(r);
        }
        if let Some(l) = v["lat_ns"].as_array() {
            self.lat_us
                .extend(l.iter().filter_map(Value::as_f64).map(|ns| ns / 1000.0));
        }
        self.errors += v["errors"].as_u64().unwrap_or(0);
        let c = &v["cpu_us_per_req"];
        if let (Some(client), Some(engine), Some(parent)) = (
            c["client"].as_f64(),
            c["in_process_engine"].as_f64(),
            c["parent"].as_f64(),
        ) {
            self.client_cpu.push(client);
            // An in-process engine, or else whatever serves from the parent process.
            self.server_cpu.push(if engine > 0.5 { engine } else { parent });
        }
    }
    pub fn client_cpu(&self) -> f64 {
        median(&self.client_cpu)
    }
    pub fn server_cpu(&self) -> f64 {
        median(&self.server_cpu)
    }
    pub fn rps(&self) -> f64 {
        median(&self.rps)
    }
    pub fn p50(&self) -> f64 {
        median(&self.lat_us)
    }
    pub fn p99(&self) -> f64 {
        percentile(&self.lat_us, 99.0)
    }
    pub fn json(&self) -> Value {
        json!({
            "rps_median": finite(self.rps()), "rps_runs": self.rps,
            "lat_us_p50": finite(self.p50()), "lat_us_p99": finite(self.p99()),
            "requests_timed": self.lat_us.len(), "errors": self.errors,
            "failed_runs": self.failed_runs,
            "client_cpu_us_per_req": finite(self.client_cpu()),
            "server_cpu_us_per_req": finite(self.server_cpu()),
        })
    }
}

pub fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// Formats a number for a table ("-" when missing).
pub fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

/// The run's Markdown tables, JSON figures and target verdicts.
#[derive(Default)]
pub struct Report {
    pub md: String,
    pub json: BTreeMap<String, Value>,
    pub targets: Vec<(String, String, bool)>,
}

impl Report {
    pub fn section(&mut self, title: &str) {
        self.md.push_str(&format!("\n### {title}\n\n"));
        println!("\n### {title}\n");
    }
    pub fn line(&mut self, s: &str) {
        self.md.push_str(s);
        self.md.push('\n');
        println!("{s}");
    }
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.line(&format!("| {} |", header.join(" | ")));
        self.line(&format!(
            "|{}",
            header.iter().map(|_| "---|").collect::<String>()
        ));
        for r in rows {
            self.line(&format!("| {} |", r.join(" | ")));
        }
    }
    pub fn target(&mut self, name: &str, figure: String, met: bool) {
        self.targets.push((name.into(), figure, met));
    }
}

/// Distinct local ports held by TCP sockets in TIME-WAIT (IPv4 and IPv6): the ports an
/// explicit bind() to port 0 cannot pick.
pub fn time_wait_count() -> usize {
    let mut ports = std::collections::HashSet::new();
    for p in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(t) = std::fs::read_to_string(p) else { continue };
        for l in t.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) == Some(&"06") {
                if let Some(port) = f.get(1).and_then(|a| a.rsplit(':').next()) {
                    ports.insert(port.to_string());
                }
            }
        }
    }
    ports.len()
}

/// Waits (at most 65 s) until fewer than `max` local ports are held in TIME-WAIT. Each connection a
/// client closes keeps its local port in TIME-WAIT for 60 s. Up to a62996c mocket's shim bound
/// every redirected socket to an ephemeral loopback port itself (bind() skips ports held in
/// TIME-WAIT, connect() does not), so its columns failed once the range was full; it now
/// connects first, and the wait is kept so that every column starts from the same port state (a
/// connect that reuses a port still in TIME-WAIT can wait 1 s for a SYN retransmission).
pub fn drain_time_wait(max: usize) {
    let start = Instant::now();
    let mut n = time_wait_count();
    if n < max {
        return;
    }
    eprintln!("  (waiting for {n} TIME-WAIT sockets to drain below {max})");
    while n >= max && start.elapsed().as_secs() < 65 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        n = time_wait_count();
    }
}
