//! The engine: answers the shim's questions (see [`crate::control`]) and serves the connections
//! it redirected (DESIGN.md sections 1-4), with its protocol drivers (`http`, `redis`, `tcp`,
//! `tls`), the record proxy (`record_proxy`), the fake-IP map, the journal and the
//! trust bundle. What each connection gets is decided from the mocks file and policy in
//! `mocket-config`; the end-of-run report is `mocket-report`.
//!
//! Redirected connections all arrive on one loopback listener, started on the first redirect.
//! Each starts with a preamble ([`control::preamble`]) that the shim (or the `--seccomp`
//! supervisor) writes right after connecting: which process, which original destination. The
//! engine reads it at accept into a [`Claim`] and serves the connection on the thread that
//! accepted it.
//!
//! The engine has two placements with one implementation: inside `mocket run` as a daemon that
//! the whole process tree talks to through [`control_server`], or inside the process under a bare
//! `LD_PRELOAD`, loaded by the shim on first use (`libmocket_engine.so`, built from
//! `shim/embedded/`).
//!
//! The record proxy is a module of this crate, not a crate of its own: it serves connections
//! with the engine's HTTP driver, TLS acceptor, claims and journal, and the engine hands it the
//! connections nothing else answers, so either crate would need the other.

#![forbid(unsafe_code)]

pub mod ca_store;
pub mod control_server;
pub mod fake_ip;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod http;
mod idle;
pub mod journal;
mod kubernetes;
mod listener;
mod pool;
mod record_proxy;
mod redis;
pub mod scopes;
mod seccomp;
mod serve;
mod source_tags;
mod tcp;
mod tls;
pub mod trust;

pub use mocket_control as control;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mocket_protocols::field::{Destination, normalize_host};

use crate::control::{Redirect, Reply, Request, Transport};
use crate::fake_ip::{FakeIpError, FakeIpMap, Registry, is_fake};
use crate::journal::{Action, Event, Journal};
use mocket_config::policy::AllowRule;
use mocket_config::{Config, ConfigError, LogLevel, Settings};
use mocket_report::Report;

pub use idle::{DEFAULT_IDLE_TIMEOUT, IDLE_TIMEOUT_VAR, IdleTimeout, IdleTimeoutError};
pub(crate) use listener::out_of_fds as listener_out_of_fds;

/// Who is connecting, and where the connection was meant to go.
#[derive(Debug, Clone)]
pub struct Claim {
    pub pid: u32,
    pub dest: Destination,
    /// The address the client connected to (a fake address, or the listener's own), which
    /// Redis's `CLIENT LIST` shows as `laddr`; `None` when unknown.
    pub local: Option<std::net::SocketAddr>,
}

impl Claim {
    /// A journal event about this connection.
    pub fn event(&self, protocol: &str, action: Action) -> Event {
        Event::new(
            self.pid,
            &self.dest.host,
            Some(self.dest.port),
            protocol,
            action,
        )
    }
}

/// Runs in every thread the engine starts. The embedded placement uses it to tell the shim
/// that the thread is mocket's own, so its sockets are never intercepted.
pub type ThreadHook = fn();

pub struct Engine {
    config: Result<Arc<Config>, ConfigError>,
    log: LogLevel,
    journal: Journal,
    fake_ips: Mutex<FakeIpMap>,
    /// Real addresses of names allowed by name, so a connect to them is judged by that name.
    named_ips: Mutex<HashMap<IpAddr, String>>,
    /// The engine listener's port, once started (see [`listener::Accepts::AtFirstBytes`]).
    listener_port: Mutex<Option<u16>>,
    /// The port for connections introduced by a source tag, once chosen (see
    /// [`listener::Accepts::AtHandshake`]).
    tagged_port: Mutex<Option<u16>>,
    /// Per destination, its http entries indexed by method and path, built on first use
    /// (at most [`MAX_CACHED_INDEXES`] destinations).
    http_routes: Mutex<HashMap<Destination, Arc<mocket_protocols::http::RouteIndex>>>,
    /// Threads for connections, reused and bounded.
    pool: pool::ConnectionPool,
    /// Connections waiting for their client's first byte, without a thread.
    waiting_room: idle::WaitingRoom,
    /// How long a client may stay silent (`MOCKET_IDLE_TIMEOUT_MS`).
    idle_timeout: IdleTimeout,
    /// Rate-limits the warning of an accept loop out of file descriptors.
    fd_warning: listener::FdLimitWarning,
    /// Connections being served right now.
    active: std::sync::atomic::AtomicUsize,
    /// How many uses each entry has answered, by entry index.
    usage: Vec<AtomicU64>,
    /// Requests answered by entries (the report's "mocked"), kept apart from `report` so
    /// counting one costs no lock.
    mocked: AtomicU64,
    report: Mutex<Report>,
    thread_hook: Option<ThreadHook>,
    /// The CA's leaf cache, loaded on the first TLS connection.
    tls: std::sync::OnceLock<Result<Arc<mocket_protocols::tls::LeafCache>, String>>,
    /// The Redis emulators, one per emulated destination, shared by every connection.
    redis: redis::Emulators,
    /// The Kubernetes API servers, one per `kubernetes` destination, shared by every connection.
    kubernetes: kubernetes::Servers,
    /// Recording and replay (`MOCKET_RECORD_DIR`), opened with the engine.
    recorder: Option<Arc<mocket_recordings::Recorder>>,
    /// The client side of TLS to real servers while recording, built on first use.
    upstream_tls: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    /// Under `--seccomp`: the shim's passed connects, which the filter then sees again.
    shim_passes: seccomp::ShimPasses,
    /// The source tags handed out with redirects, and whom each stands for.
    source_tags: source_tags::SourceTags,
    /// The test scopes of the control protocol, their leases and sessions.
    scopes: scopes::Scopes,
}

use mocket_control::sync::lock;

impl Engine {
    /// An engine for `settings`, under the embedded placement (one engine per process): its
    /// fake addresses are shared with the other processes of the tree through a
    /// [`Registry`]. A broken mocks file does not stop it: it then refuses every intercepted
    /// connection with the file's error, so nothing leaks.
    pub fn new(settings: &Settings, thread_hook: Option<ThreadHook>) -> Arc<Engine> {
        let journal = Journal::open(settings.journal.as_deref());
        let config = match (settings.load(), journal) {
            (Ok(config), Ok(_)) => Ok(Arc::new(config)),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(ConfigError {
                origin: "MOCKET_JOURNAL / --journal".into(),
                position: None,
                key: String::new(),
                message: format!(
                    "cannot open {}: {e}",
                    settings.journal.as_ref().unwrap().display()
                ),
            }),
        };
        let journal = Journal::open(settings.journal.as_deref())
            .unwrap_or_default()
            .redacting(settings.redactor());
        let engine = Engine::with_config(config, settings.log, journal, thread_hook);
        if engine.config_error().is_none() {
            engine.share_fake_ips(Registry::for_this_tree(settings.config.as_deref()));
        }
        engine
    }

    /// Replaces the per-process fake addresses with the ones `registry` shares. Without a
    /// usable registry, addresses stay per process (a warning says so): a name looked up in
    /// two processes may then get two addresses, but nothing is reached that should not be.
    fn share_fake_ips(&self, registry: Result<Registry, crate::fake_ip::RegistryError>) {
        let shared = registry
            .map_err(FakeIpError::Registry)
            .and_then(FakeIpMap::shared);
        match shared {
            Ok(mut map) => {
                if let Ok(config) = &self.config {
                    assign_entry_names(&mut map, config);
                }
                *lock(&self.fake_ips) = map;
            }
            Err(e) => self.warn(&format!(
                "{e}; fake addresses are not shared with other processes"
            )),
        }
    }

    pub fn with_config(
        config: Result<Arc<Config>, ConfigError>,
        log: LogLevel,
        journal: Journal,
        thread_hook: Option<ThreadHook>,
    ) -> Arc<Engine> {
        let (config, recorder) = record_proxy::open(config);
        let idle_timeout = IdleTimeout::from_env().unwrap_or_else(|e| {
            if log >= LogLevel::Warn {
                crate::say(&format!("{e}; using the default"));
            }
            IdleTimeout::default()
        });
        let lease_timeout = scopes::Scopes::lease_timeout_from_env().unwrap_or_else(|e| {
            if log >= LogLevel::Warn {
                crate::say(&e);
            }
            scopes::DEFAULT_LEASE_TIMEOUT
        });
        let mut fake_ips = FakeIpMap::default();
        let mut usage = Vec::new();
        if let Ok(config) = &config {
            assign_entry_names(&mut fake_ips, config);
            usage.extend(config.entries.iter().map(|_| AtomicU64::new(0)));
        }
        let file_entries = config.as_ref().map_or(0, |c| c.entries.len());
        Arc::new(Engine {
            config,
            log,
            journal,
            fake_ips: Mutex::new(fake_ips),
            named_ips: Mutex::default(),
            listener_port: Mutex::new(None),
            tagged_port: Mutex::new(None),
            active: std::sync::atomic::AtomicUsize::new(0),
            pool: pool::ConnectionPool::default(),
            waiting_room: idle::WaitingRoom::default(),
            idle_timeout,
            fd_warning: listener::FdLimitWarning::default(),
            http_routes: Mutex::default(),
            usage,
            mocked: AtomicU64::new(0),
            report: Mutex::default(),
            thread_hook,
            tls: std::sync::OnceLock::new(),
            redis: redis::Emulators::default(),
            kubernetes: kubernetes::Servers::default(),
            recorder,
            upstream_tls: std::sync::OnceLock::new(),
            shim_passes: seccomp::ShimPasses::default(),
            source_tags: source_tags::SourceTags::default(),
            scopes: scopes::Scopes::new(file_entries, lease_timeout),
        })
    }

    /// The mocks file's error, when it could not be used.
    pub fn config_error(&self) -> Option<&ConfigError> {
        self.config.as_ref().err()
    }

    /// Copies the names another engine handed out (the parent's, after `fork`).
    pub fn inherit_names(&self, from: &Engine) {
        if let Ok(map) = from.fake_ips.try_lock() {
            *lock(&self.fake_ips) = map.clone();
        }
        if let Ok(map) = from.named_ips.try_lock() {
            *lock(&self.named_ips) = map.clone();
        }
    }

    /// Answers one control line; see [`crate::control`].
    pub fn handle_line(self: &Arc<Self>, line: &str) -> String {
        self.answer_line(line, Request::parse(line))
    }

    /// A control connection of process `seen` (the kernel's word, `None` when it cannot name
    /// it) asked for a route as process `claimed`: the asker lives in another pid namespace,
    /// where `kill` cannot tell whether it still exists, so source tags are never reclaimed
    /// again (see [`source_tags`]).
    pub(crate) fn unverifiable_pid(&self, claimed: u32, seen: Option<u32>) {
        if self.source_tags.stop_reclaiming() {
            let seen = seen.map_or("a process outside its pid namespace".into(), |pid| {
                format!("process {pid}")
            });
            self.info(&format!(
                "a route for pid {claimed} came from {seen} (another pid namespace): the \
                 source tags of exited processes are no longer reclaimed"
            ));
        }
    }

    /// Answers `line`, already parsed into `request`.
    pub(crate) fn answer_line(
        self: &Arc<Self>,
        line: &str,
        request: Result<Request, control::LineError>,
    ) -> String {
        let reply = match request {
            Ok(request) => self.handle(request),
            Err(e) => Reply::Refuse(format!("engine could not read the request {line:?}: {e}")),
        };
        reply.to_line().unwrap_or_else(|e| {
            let refusal = Reply::Refuse(format!("engine could not write its reply: {e}"));
            refusal.to_line().unwrap_or_else(|_| "refuse".into())
        })
    }

    pub fn handle(self: &Arc<Self>, request: Request) -> Reply {
        let config = match &self.config {
            Ok(c) => c.clone(),
            Err(e) => return Reply::Refuse(format!("refused: the mocks file is broken: {e}")),
        };
        match request {
            Request::Resolve { name, .. } => self.resolve(&config, &normalize_host(&name)),
            Request::Resolved { name, addrs, .. } => {
                let mut named = lock(&self.named_ips);
                for addr in addrs {
                    named.insert(addr, normalize_host(&name));
                }
                Reply::Ok
            }
            Request::Query { pid, name } => self.query(&config, pid, &normalize_host(&name)),
            Request::Ca { .. } => match self.leaf_cache() {
                Ok(_) => match crate::ca_store::CaFiles::from_env() {
                    Ok(files) => Reply::Path(files.cert.display().to_string()),
                    Err(e) => Reply::Refuse(e.to_string()),
                },
                Err(e) => Reply::Refuse(e),
            },
            Request::Reverse { pid, addr } => self.reverse(&config, pid, addr),
            Request::Route {
                pid,
                transport,
                addr,
                port,
            } => {
                let reply = self.route(&config, pid, transport, addr, port);
                self.shim_passes.note(&reply, addr, port);
                reply
            }
        }
    }

    fn resolve(&self, config: &Config, name: &str) -> Reply {
        // While recording, a name no rule allows is recorded or replayed: the connect that
        // follows must reach the engine, in strict mode or not.
        let recorded = self.recorder.is_some() && !config.allow.allows_name(name);
        if self.names_host(config, name) || recorded {
            return self.fake_reply(name);
        }
        match (config.allow.allows_name(name), config.strict) {
            (true, true) => Reply::RealTell,
            (_, false) => Reply::Real,
            // A lookup that no rule allows never reaches a real resolver; the connect that
            // follows is refused with a message naming the host and port.
            (false, true) => self.fake_reply(name),
        }
    }

    /// The fake address of `name`, or a refusal that fails the lookup when none is left.
    fn fake_reply(&self, name: &str) -> Reply {
        match lock(&self.fake_ips).ip_of(name) {
            Ok(ip) => Reply::Fake(ip),
            Err(e) => Reply::Refuse(format!("no fake address for {name}: {e}")),
        }
    }

    fn query(&self, config: &Config, pid: u32, name: &str) -> Reply {
        if !config.strict || (config.allow.allows_name(name) && !self.names_host(config, name)) {
            return Reply::Real;
        }
        self.journal
            .record(&Event::new(pid, name, None, "dns", Action::Refused));
        lock(&self.report).count_refused(format!("dns {name}"));
        Reply::Refuse(format!(
            "strict mode refused a DNS query for {name} (raw DNS queries are not mocked; allowed: {})",
            config.allow
        ))
    }

    /// A reverse lookup: the name behind a fake address, else the real resolver, which in
    /// strict mode only an IP or CIDR rule (or a name allowed by name) lets it reach.
    fn reverse(&self, config: &Config, pid: u32, addr: IpAddr) -> Reply {
        let (name, fake) = match self.host_of(addr) {
            Ok(found) => found,
            Err(refusal) => return refusal,
        };
        if fake {
            return Reply::Name(name);
        }
        let plain = addr.to_canonical();
        let allowed = config.allow.0.iter().any(|rule| match rule {
            AllowRule::Net { port, .. } => rule.allows(&plain.to_string(), port.unwrap_or(0)),
            AllowRule::Host { .. } => config.allow.allows_name(&name),
        });
        if !config.strict || allowed {
            return Reply::Real;
        }
        self.journal.record(&Event::new(
            pid,
            &plain.to_string(),
            None,
            "dns",
            Action::Refused,
        ));
        lock(&self.report).count_refused(format!("dns reverse {plain}"));
        Reply::Refuse(format!(
            "strict mode refused a reverse lookup of {plain} (answered without a name; allowed: {})",
            config.allow
        ))
    }

    /// The host a connection to `addr` is judged by: the name behind a fake or allowed address.
    fn host_of(&self, addr: IpAddr) -> Result<(String, bool), Reply> {
        let v4 = match addr {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        if let Some(v4) = v4.filter(|v4| is_fake(*v4)) {
            return match lock(&self.fake_ips).name_of(v4) {
                Some(name) => Ok((name, true)),
                None => Err(Reply::Refuse(format!(
                    "refused {v4}: a mocket fake address that this engine never handed out"
                ))),
            };
        }
        let plain = v4.map_or(addr, IpAddr::V4);
        match lock(&self.named_ips).get(&plain) {
            Some(name) => Ok((name.clone(), false)),
            None => Ok((plain.to_string(), false)),
        }
    }

    fn route(
        self: &Arc<Self>,
        config: &Config,
        pid: u32,
        transport: Transport,
        addr: IpAddr,
        port: u16,
    ) -> Reply {
        let (host, fake) = match self.host_of(addr) {
            Ok(h) => h,
            Err(refusal) => return refusal,
        };
        let dest = Destination::new(&host, port);
        let allowed =
            config.allow.allows(&host, port) || config.allow.allows(&addr.to_string(), port);
        let recorded = self.recorder.is_some() && !allowed;
        let in_file = !config.entries_for(&dest).is_empty();
        let mocked = in_file || self.scopes.is_leased(&dest);
        if transport == Transport::Tcp && (mocked || recorded) {
            // A fake address names one host for the whole run and the mocks file never
            // changes, so this decision lasts; a scope's lease ends, and a real address may
            // later be judged by another name.
            let lasting = fake && (in_file || recorded);
            // A scope's entries may change later; what the client then gets is at most a
            // greeting that waits for its first bytes (or the kernel's 200 ms). Only a client
            // that speaks first is introduced by its address (a source tag): the listener
            // accepts a connection once its first bytes arrive.
            let client_first = mocked
                && self
                    .entry_set(&dest)
                    .is_some_and(|set| listener::ClientFirst::throughout(&set));
            let from = match client_first {
                true => self.source_tags.tag(pid, SocketAddr::new(addr, port)),
                false => None,
            };
            let listening = match from {
                Some(_) => self.tagged_port(),
                None => self.listener_port(),
            };
            return match listening {
                Ok(port) => Reply::Redirect(Redirect {
                    port,
                    lasting,
                    client_first,
                    from,
                }),
                Err(e) => Reply::Refuse(format!(
                    "cannot redirect {dest}: engine listener failed: {e}"
                )),
            };
        }
        let proto = transport.name();
        if transport == Transport::Udp && fake {
            return self.refuse(
                pid,
                &dest,
                proto,
                format!("refused UDP to {dest}: mocket mocks TCP only"),
            );
        }
        if allowed || !config.strict {
            self.journal.record(&Event::new(
                pid,
                &dest.host,
                Some(port),
                proto,
                Action::Passthrough,
            ));
            lock(&self.report).passthrough += 1;
            return if fake {
                Reply::PassHost(host)
            } else {
                Reply::Pass
            };
        }
        let why = match self.names_host(config, &dest.host) {
            true => "no entry for this port",
            false => "no entry matches",
        };
        let msg = format!(
            "strict mode refused {dest} ({why}; allowed: {})",
            config.allow
        );
        self.refuse(pid, &dest, proto, msg)
    }

    fn refuse(&self, pid: u32, dest: &Destination, proto: &str, message: String) -> Reply {
        let event = Event::new(pid, &dest.host, Some(dest.port), proto, Action::Refused)
            .with("reason", message.clone().into());
        self.journal.record(&event);
        lock(&self.report).count_refused(format!("{proto} {dest}"));
        Reply::Refuse(message)
    }

    /// The candidate entries of a request or connection on `dest`, now: the entries of the
    /// scope that holds `dest`'s lease, then the mocks file's. `None` with a broken file.
    pub(crate) fn entry_set(&self, dest: &Destination) -> Option<scopes::EntrySet> {
        let config = Arc::clone(self.config.as_ref().ok()?);
        Some(scopes::EntrySet {
            config,
            dest: dest.clone(),
            scoped: self.scopes.holder(dest),
        })
    }

    /// Takes one use of the first entry among `candidates` (ids of `set`) that still has
    /// uses left.
    fn take_entry(
        &self,
        set: &scopes::EntrySet,
        candidates: impl IntoIterator<Item = usize>,
    ) -> Option<(usize, u64)> {
        candidates.into_iter().find_map(|i| {
            let times = set.entry(i).times();
            set.scope_usage(i)
                .unwrap_or_else(|| &self.usage[i])
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    times.is_none_or(|t| used < t).then_some(used + 1)
                })
                .ok()
                .map(|used| (i, used))
        })
    }

    /// Whether an entry of the mocks file or of a test scope names `host`.
    fn names_host(&self, config: &Config, host: &str) -> bool {
        config.names_host(host) || self.scopes.names_host(host)
    }

    /// One more use of entry `index` of `set` that no `times` limits (an emulated Redis
    /// address).
    fn count_use(&self, set: &scopes::EntrySet, index: usize) {
        set.scope_usage(index)
            .unwrap_or_else(|| &self.usage[index])
            .fetch_add(1, Ordering::AcqRel);
    }

    /// One more request answered by an entry (an HTTP request, a Redis command, a TCP
    /// connection): the report's "mocked" count.
    fn count_mocked(&self) {
        self.mocked.fetch_add(1, Ordering::Relaxed);
    }

    /// `MOCKET_MAX_BODY`: the most of a request body held when it is needed whole.
    fn max_body(&self) -> usize {
        self.config
            .as_ref()
            .map_or(mocket_protocols::http::DEFAULT_MAX_BODY, |c| c.max_body)
    }

    fn warn(&self, message: &str) {
        if self.log >= LogLevel::Warn {
            crate::say(message);
        }
    }

    fn info(&self, message: &str) {
        if self.log >= LogLevel::Info {
            crate::say(message);
        }
    }

    /// Waits (at most `limit`) until no connection is being served: when the command under
    /// `mocket run` exits, the engine may still be reading what its last connections said (a
    /// TLS alert, a final request), and the report must include it.
    pub fn wait_idle(&self, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        self.settle_waiting_room(limit);
        while self.active.load(Ordering::Acquire) > 0 && start.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// What happened so far, with the entries that were never used and those whose `expect`
    /// is not met.
    pub fn report(&self) -> Report {
        let mut report = lock(&self.report).clone();
        report.mocked += self.mocked.load(Ordering::Acquire);
        if let Ok(config) = &self.config {
            for (i, e) in config.entries.iter().enumerate() {
                if self.usage[i].load(Ordering::Acquire) == 0 {
                    report.unused_entries.push(format!("#{i} {}", e.summary()));
                }
            }
            for (i, expect) in &config.expectations {
                let used = self.usage[*i].load(Ordering::Acquire);
                if !expect.accepts(used) {
                    report.failed_expectations.push(format!(
                        "#{i} {}: expected {}, used {used} time(s)",
                        config.entries[*i].summary(),
                        expect.describe()
                    ));
                }
            }
        }
        report
    }

    fn count_unmatched(&self, claim: &Claim, proto: &str, what: String, event: Event) {
        let line = format!("{proto} {}: {what}", claim.dest);
        self.warn(&mocket_report::cut(&line));
        self.journal.record(&event);
        lock(&self.report).count_unmatched(&line);
    }

    /// A fake address for tests and tools that need to know what the shim would be told.
    pub fn fake_ip_of(&self, name: &str) -> Result<Ipv4Addr, FakeIpError> {
        lock(&self.fake_ips).ip_of(&normalize_host(name))
    }
}

/// The most destinations whose entry index (HTTP routes, Redis commands) is kept: a host
/// pattern covers every name an app resolves under it, and each would otherwise stay cached
/// for the whole run. An index dropped past the limit is built again on its next use.
const MAX_CACHED_INDEXES: usize = 4096;

/// The index cached for `dest` in `cache`, built by `build` when missing; a full cache drops
/// one other destination's index first, so it never holds more than `limit`.
fn cached_index<T>(
    cache: &mut HashMap<Destination, Arc<T>>,
    dest: &Destination,
    limit: usize,
    build: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(index) = cache.get(dest) {
        return Arc::clone(index);
    }
    if cache.len() >= limit.max(1)
        && let Some(evicted) = cache.keys().next().cloned()
    {
        cache.remove(&evicted);
    }
    let index = Arc::new(build());
    cache.insert(dest.clone(), Arc::clone(&index));
    index
}

/// Entry names get their addresses first, in file order, so that every engine for one mocks
/// file gives them the same addresses, registry or not. The range holds far more names than a
/// mocks file can list, so none is refused here.
fn assign_entry_names(map: &mut FakeIpMap, config: &Config) {
    for e in &config.entries {
        let host = &e.destination().host;
        // A pattern is no name: the names it covers get theirs when looked up.
        if mocket_protocols::host_pattern::pattern_domain(host).is_none() {
            let _ = map.ip_of(host);
        }
    }
}

/// Writes `mocket: <message>` and a newline to stderr in one `write`: the engine shares stderr
/// with the processes under test, and a line written in pieces would interleave with theirs.
pub fn say(message: &str) {
    say_raw(&format!("mocket: {message}\n"));
}

/// Writes `text` to stderr in one `write`.
pub fn say_raw(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests;
