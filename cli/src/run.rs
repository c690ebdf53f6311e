//! `mocket run`: the daemon placement of the engine, around one command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use clap::Args;
use mocket_config::{LogLevel, Settings, settings};
use mocket_control::preload_env;
use mocket_engine::IdleTimeout;
use mocket_engine::ca_store::{self, CaFiles};
use mocket_engine::journal::Journal;
use mocket_engine::{Engine, control_server, trust};
use mocket_recordings::Mode;

use crate::EXIT_BAD_INPUT;
use crate::libraries::{self, Check};

#[derive(Args)]
pub struct RunArgs {
    /// The mocks file (overrides MOCKET_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Refuse every connection that no entry or allow rule covers (the default).
    #[arg(long, overrides_with = "no_strict")]
    strict: bool,
    /// Let connections that nothing covers reach the real network.
    #[arg(long, overrides_with = "strict")]
    no_strict: bool,
    /// A destination always reached for real: host, host:port, IP or CIDR. Repeatable; replaces
    /// the default list; --allow '' allows nothing.
    #[arg(long, value_name = "DEST")]
    allow: Vec<String>,
    /// Where cassettes live; turns recording and replay on.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// once, new_episodes, all or none.
    #[arg(long, value_name = "MODE")]
    record_mode: Option<String>,
    /// The cassette name.
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Append one JSON line per intercepted event to FILE.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// error, warn (default), info or debug.
    #[arg(long, value_name = "LEVEL")]
    log: Option<String>,
    /// Also intercept what LD_PRELOAD cannot reach (Go, static binaries, raw syscalls) with a
    /// seccomp filter (MOCKET_SECCOMP=1); on by itself when CMD is statically linked.
    #[arg(long)]
    seccomp: bool,
    /// Fail the run (exit 1) when an entry was never used (also MOCKET_FAIL_UNUSED=1).
    #[arg(long)]
    fail_unused: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// The flags over the `MOCKET_*` variables.
fn settings(args: &RunArgs) -> Result<Settings, String> {
    let mut s = Settings::from_env().map_err(|e| e.to_string())?;
    if let Some(config) = &args.config {
        s.config = Some(config.clone());
    }
    if args.strict || args.no_strict {
        s.strict = Some(args.strict);
    }
    if !args.allow.is_empty() {
        s.allow = Some(
            args.allow
                .iter()
                .flat_map(|a| settings::split_allow(a))
                .collect(),
        );
    }
    if let Some(journal) = &args.journal {
        s.journal = Some(journal.clone());
    }
    if let Some(level) = &args.log {
        s.log = LogLevel::parse(level).map_err(|e| format!("--log: {e}"))?;
    }
    if let Some(dir) = &args.record {
        s.record_dir = Some(dir.clone());
    }
    if let Some(mode) = &args.record_mode {
        s.record_mode = Some(Mode::parse(mode).map_err(|e| format!("--record-mode: {e}"))?);
    }
    if let Some(namespace) = &args.namespace {
        s.namespace = Some(namespace.clone());
    }
    s.fail_unused |= args.fail_unused;
    Ok(s)
}

pub fn run(args: RunArgs) -> ExitCode {
    match start(&args) {
        Ok(code) => code,
        Err(e) => {
            mocket_engine::say(&e.to_string());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn start(args: &RunArgs) -> Result<ExitCode, String> {
    let settings = settings(args)?;
    // The engine would fall back to the default; a typo must not pass unnoticed.
    IdleTimeout::from_env().map_err(|e| e.to_string())?;
    let config = settings.load().map_err(|e| e.to_string())?;
    let journal = Journal::open(settings.journal.as_deref())
        .map_err(|e| {
            format!(
                "--journal {}: {e}",
                settings.journal.as_ref().unwrap().display()
            )
        })?
        .redacting(settings.redactor());
    let shim = libraries::shim_path(Check::Run).map_err(|e| e.to_string())?;
    let seccomp = crate::seccomp::wanted(args.seccomp, &args.command[0])?;
    let strict = config.strict;
    let engine = Engine::with_config(Ok(Arc::new(config)), settings.log, journal, None);
    if let Some(e) = engine.config_error() {
        // An unreadable cassette: nothing must run against it.
        return Err(e.to_string());
    }
    let dir = RuntimeDir::create()?;
    let socket = dir.0.join("control.sock");
    control_server::serve_control(Arc::clone(&engine), &socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    let handoff = match seccomp {
        true => Some(crate::seccomp::Handoff::create(&dir.0)?),
        false => None,
    };

    // Without a CA, plain HTTP, Redis and TCP still work; HTTPS connections then fail with the
    // engine's own message naming the same cause.
    let trust = trust_env(&dir).unwrap_or_else(|e| {
        mocket_engine::say(&format!("HTTPS interception is off: {e}"));
        Vec::new()
    });
    let (trust, anchored) = anchored_env(trust);
    let program = args.command[0].to_string_lossy().into_owned();
    let mut preload = OsString::from(&shim);
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    // CMD is started through `mocket __exec`, which makes it die with this process (a SIGKILLed
    // `mocket run` must not leave it running without its daemon) before becoming CMD.
    let mocket =
        std::env::current_exe().map_err(|e| format!("cannot locate the mocket executable: {e}"))?;
    let mut exec = Command::new(mocket);
    exec.arg("__exec")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--preload")
        .arg(preload);
    if let Some(handoff) = &handoff {
        exec.arg("--seccomp").arg(&handoff.path);
        if strict {
            exec.arg("--seccomp-strict");
        }
    }
    let mut child = exec
        .arg("--")
        .args(&args.command)
        .env("MOCKET_SOCKET", &socket)
        .env("MOCKET_LOG", settings.log.name())
        .envs(trust)
        .envs(anchored)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    relay_signals(child.id());
    if let Some(handoff) = &handoff {
        let pid = child.id();
        let listener = handoff.receive(pid, || matches!(child.try_wait(), Ok(None)));
        let supervisor = listener.and_then(|listener| {
            crate::supervisor::Supervisor::new(Arc::clone(&engine), listener, settings.log, strict)
                .and_then(|s| s.spawn())
                .map_err(|e| format!("--seccomp: cannot start the supervisor: {e}"))
        });
        if let Err(e) = supervisor {
            // The child waits for the hand-off or fails closed without it: end it.
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for {program}: {e}"))?;

    engine.wait_idle(std::time::Duration::from_secs(2));
    let mut report = engine.report();
    report.fail_unused = settings.fail_unused;
    if settings.log >= LogLevel::Warn || report.failed() {
        mocket_engine::say_raw(&report.to_string());
    }
    let code = exit_code(&status);
    Ok(match (code, report.failed()) {
        (0, true) => ExitCode::FAILURE,
        (code, _) => ExitCode::from(code),
    })
}

#[derive(Args)]
pub struct ExecArgs {
    /// The pid of the `mocket run` that started this process.
    #[arg(long)]
    parent: u32,
    /// LD_PRELOAD for CMD.
    #[arg(long)]
    preload: OsString,
    /// Install the seccomp filter and hand its listener to `mocket run` at this socket.
    #[arg(long, value_name = "SOCKET")]
    seccomp: Option<PathBuf>,
    /// The filter also stops datagrams with a destination (strict mode).
    #[arg(long)]
    seccomp_strict: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// `mocket __exec`: asks the kernel to send SIGTERM when `mocket run` dies, checks it has not
/// died already (it may have, before the request was made), then becomes CMD. The request
/// survives `exec`, so CMD itself is signalled.
pub fn exec(args: ExecArgs) -> ExitCode {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    use std::os::unix::process::CommandExt;
    let program = args.command[0].to_string_lossy().into_owned();
    if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
        mocket_engine::say(&format!(
            "cannot tie {program} to mocket run's life: {e}; it would outlive a killed mocket run, so it was not started"
        ));
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let parent = getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if parent != Some(args.parent) {
        mocket_engine::say(&format!(
            "mocket run ended before {program} started; it was not started"
        ));
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(socket) = &args.seccomp
        && let Err(e) = crate::seccomp::install(socket, args.seccomp_strict)
    {
        mocket_engine::say(&format!("{e}; {program} was not started"));
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let error = Command::new(&args.command[0])
        .args(&args.command[1..])
        .env("LD_PRELOAD", &args.preload)
        .exec();
    // A command that cannot be started is bad input (DESIGN 6a: exit 2, as before `__exec`).
    mocket_engine::say(&format!("cannot run {program}: {error}"));
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Lets the command decide how to end: Ctrl-C and Ctrl-\\ reach it from the terminal (mocket
/// itself ignores them, so it can still print the report), and SIGTERM/SIGHUP sent to mocket
/// are passed on to it.
fn relay_signals(child: u32) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGQUIT, SIGTERM, SIGHUP])
    else {
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGTERM || signal == SIGHUP {
                let _ = Command::new("kill")
                    .arg(format!("-{signal}"))
                    .arg(child.to_string())
                    .status();
            }
        }
    });
}

fn exit_code(status: &std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    }
}

/// Variables holding paths, to set in the command's environment.
type EnvPaths = Vec<(&'static str, PathBuf)>;

/// The command gets only absolute paths: `trust` with relative ones joined to the working
/// directory, and the `MOCKET_*` path variables anchored the same way
/// (`preload_env::anchored_paths`), so the preload's constructor has nothing to do in any
/// process of the tree. Both lists are applied in that order (they agree on the CA's files).
fn anchored_env(trust: EnvPaths) -> (EnvPaths, EnvPaths) {
    let Ok(cwd) = std::env::current_dir() else {
        return (trust, Vec::new()); // the stub's constructor cannot anchor them either
    };
    let trust = trust
        .into_iter()
        .map(|(k, path)| (k, cwd.join(path)))
        .collect();
    let anchored = preload_env::anchored_paths(|k| std::env::var_os(k), &cwd);
    (trust, anchored)
}

/// Loads (or creates) the mocket CA and writes the trust bundle into the run's directory: the
/// variables that make the command's HTTPS clients trust mocket.
fn trust_env(dir: &RuntimeDir) -> Result<Vec<(&'static str, PathBuf)>, String> {
    let files = CaFiles::from_env()?;
    let ca = ca_store::load_or_create(&files)?;
    let bundle = dir.0.join("trust-bundle.pem");
    let text = trust::bundle(ca.cert_pem(), |v| std::env::var(v).ok());
    std::fs::write(&bundle, text).map_err(|e| format!("cannot write {}: {e}", bundle.display()))?;
    Ok(trust::child_env(&bundle, &files))
}

/// A private directory for the control socket, removed when the run ends.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn create() -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir());
        let base = base.unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let dir = base.join(format!(
            "mocket-{}-{}",
            std::process::id(),
            nanos.subsec_nanos()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(RuntimeDir(dir))
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
