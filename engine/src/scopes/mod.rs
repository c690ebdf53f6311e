//! Scopes: the entries a test declares at run time through the control protocol
//! (DESIGN.md section 8, `/README.md` "Control protocol").
//!
//! A scope belongs to one session (a control connection, or an embedded session) and lives
//! until it is closed or its session ends. Its entries answer only while it holds the lease of
//! their destination: a destination has at most one holder, so two live scopes never see each
//! other's requests, and a scope that registers a destination another scope holds waits for it.
//!
//! Every HTTP request, Redis connection and TCP connection picks its candidate entries from the
//! lease holder of its destination ([`EntrySet`]): one map lookup, whatever the number of live
//! scopes, so a pooled connection opened during one test and reused by the next is answered by
//! the next test's entries.

pub mod daemon;
pub(crate) mod log;
pub mod protocol;
pub(crate) mod session;
mod verdict;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use mocket_config::{Config, Entry};
use mocket_protocols::field::Destination;
use mocket_protocols::http::RouteIndex;
use mocket_protocols::redis::{Behavior, CommandIndex};
use serde_json::Value;

use crate::control::sync::lock;

pub use log::{Logged, Seen, request_object};
pub use protocol::{ErrorKind, ProtocolError};
pub use session::{Handled, Placement, Session, Sink};
pub use verdict::{Expectation, Failure, Verdict};

/// `MOCKET_LEASE_TIMEOUT_MS`: how long a registration waits for a destination another scope
/// holds.
pub const LEASE_TIMEOUT_VAR: &str = "MOCKET_LEASE_TIMEOUT_MS";
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_millis(60_000);

/// The live scopes of an engine, their leases and sessions.
pub struct Scopes {
    registry: Mutex<Registry>,
    /// Signalled whenever a lease is released.
    released: Condvar,
    lease_timeout: Duration,
    next_scope: AtomicU64,
    next_session: AtomicU64,
    /// Scope entry ids follow the mocks file's indexes, so an entry id names one entry.
    next_entry: AtomicUsize,
    /// Hosts some scope registered: they resolve to fake addresses from then on, in strict and
    /// non-strict mode.
    hosts: RwLock<HashSet<String>>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
}

#[derive(Default)]
struct Registry {
    scopes: HashMap<u64, Arc<Scope>>,
    /// The holder of each leased destination.
    leases: HashMap<Destination, Arc<Scope>>,
}

/// One test's scope.
pub struct Scope {
    pub id: u64,
    /// The test's name (a Rust thread name, a pytest node id).
    pub name: String,
    pub pid: u32,
    pub session: u64,
    state: Mutex<ScopeState>,
    log: Mutex<Vec<Logged>>,
    next_seq: AtomicU64,
    errors: Mutex<Vec<String>>,
    closed: AtomicBool,
}

#[derive(Default)]
struct ScopeState {
    /// Every entry, in registration order.
    entries: Vec<Arc<ScopeEntry>>,
    /// The entries of each destination.
    by_dest: HashMap<Destination, DestList>,
    /// The destinations whose lease this scope holds.
    leases: Vec<Destination>,
}

/// One entry a scope registered, with its counters.
pub struct ScopeEntry {
    pub id: usize,
    pub entry: Entry,
    /// How a test names the entry (`POST https://api.stripe.com/v1/charges`).
    pub label: String,
    /// Each matching request is answered by a `respond_with` call to the session.
    pub responder: bool,
    /// Uses taken (the entry's hits).
    used: AtomicU64,
    expectation: Mutex<Option<Expectation>>,
}

impl ScopeEntry {
    pub fn hits(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// A scope's entries for one destination as registered, and the snapshot requests use.
#[derive(Default)]
struct DestList {
    entries: Vec<Arc<ScopeEntry>>,
    /// Taken by the first request after a registration, then shared until the next one: a
    /// registration appends in O(1), whatever the number of entries (issue 12: < 50 µs).
    snapshot: Option<Arc<DestEntries>>,
}

impl DestList {
    fn push(&mut self, entry: Arc<ScopeEntry>) {
        self.entries.push(entry);
        self.snapshot = None;
    }

    fn snapshot(&mut self) -> Arc<DestEntries> {
        let entries = &self.entries;
        Arc::clone(self.snapshot.get_or_insert_with(|| {
            Arc::new(DestEntries {
                entries: entries.clone(),
                ..DestEntries::default()
            })
        }))
    }
}

/// A scope's entries for one destination, in registration order, with their indexes: a
/// snapshot that never changes, so a request holds consistent candidates without a lock.
#[derive(Default)]
pub struct DestEntries {
    pub entries: Vec<Arc<ScopeEntry>>,
    routes: OnceLock<Arc<RouteIndex>>,
    commands: OnceLock<Arc<CommandIndex>>,
}

impl DestEntries {
    fn get(&self, id: usize) -> Option<&Arc<ScopeEntry>> {
        let i = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        self.entries.get(i)
    }

    /// The http entries indexed by method and path, built on first use.
    pub fn routes(&self) -> Arc<RouteIndex> {
        Arc::clone(self.routes.get_or_init(|| {
            Arc::new(RouteIndex::new(self.entries.iter().filter_map(
                |e| match &e.entry {
                    Entry::Http(h) => Some((e.id, &**h)),
                    _ => None,
                },
            )))
        }))
    }

    /// The redis command entries indexed by their words, built on first use.
    pub fn commands(&self) -> Arc<CommandIndex> {
        Arc::clone(self.commands.get_or_init(|| {
            Arc::new(CommandIndex::new(self.entries.iter().filter_map(
                |e| match &e.entry {
                    Entry::Redis(r) => match &r.behavior {
                        Behavior::Command { matcher, .. } => Some((e.id, matcher)),
                        Behavior::Emulate { .. } => None,
                    },
                    _ => None,
                },
            )))
        }))
    }
}

/// What `register` gives back.
#[derive(Debug, Clone)]
pub struct Registered {
    pub entry: usize,
    pub destination: Destination,
    pub label: String,
}

/// A destination another scope holds for longer than the lease timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTimeout {
    pub destination: Destination,
    pub holder: String,
    pub holder_pid: u32,
    pub waited: Duration,
}

impl std::fmt::Display for LeaseTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is held by test \"{}\" (pid {}) for {} ms; tests that mock the same destination \
             run one after another ({LEASE_TIMEOUT_VAR})",
            self.destination,
            self.holder,
            self.holder_pid,
            self.waited.as_millis()
        )
    }
}

impl Scopes {
    /// Scopes whose entry ids start after the mocks file's `file_entries` entries.
    pub fn new(file_entries: usize, lease_timeout: Duration) -> Scopes {
        Scopes {
            registry: Mutex::default(),
            released: Condvar::new(),
            lease_timeout,
            next_scope: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            next_entry: AtomicUsize::new(file_entries),
            hosts: RwLock::default(),
            sessions: Mutex::default(),
        }
    }

    /// The lease timeout from `MOCKET_LEASE_TIMEOUT_MS`, or why the value is unusable.
    pub fn lease_timeout_from_env() -> Result<Duration, String> {
        match std::env::var(LEASE_TIMEOUT_VAR) {
            Err(_) => Ok(DEFAULT_LEASE_TIMEOUT),
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| {
                    format!(
                        "{LEASE_TIMEOUT_VAR}={text:?} is not a number of milliseconds; \
                         using {} ms",
                        DEFAULT_LEASE_TIMEOUT.as_millis()
                    )
                }),
        }
    }

    pub fn lease_timeout(&self) -> Duration {
        self.lease_timeout
    }

    pub fn open(&self, session: u64, name: &str, pid: u32) -> Arc<Scope> {
        let scope = Arc::new(Scope {
            id: self.next_scope.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            pid,
            session,
            state: Mutex::default(),
            log: Mutex::default(),
            next_seq: AtomicU64::new(1),
            errors: Mutex::default(),
            closed: AtomicBool::new(false),
        });
        lock(&self.registry)
            .scopes
            .insert(scope.id, Arc::clone(&scope));
        scope
    }

    /// The live scope `id` of `session`.
    pub fn get(&self, session: u64, id: u64) -> Option<Arc<Scope>> {
        let registry = lock(&self.registry);
        registry
            .scopes
            .get(&id)
            .filter(|s| s.session == session)
            .cloned()
    }

    /// Takes `dest`'s lease for `scope`, waiting while another scope holds it (at most the
    /// lease timeout). `wait: false` returns `Ok(false)` instead of waiting.
    pub fn lease(
        &self,
        scope: &Arc<Scope>,
        dest: &Destination,
        wait: bool,
    ) -> Result<bool, LeaseError> {
        let start = Instant::now();
        let mut registry = lock(&self.registry);
        loop {
            if scope.closed.load(Ordering::Acquire) {
                return Err(LeaseError::Closed);
            }
            let holder = match registry.leases.get(dest) {
                None => {
                    registry.leases.insert(dest.clone(), Arc::clone(scope));
                    lock(&scope.state).leases.push(dest.clone());
                    return Ok(true);
                }
                Some(holder) if holder.id == scope.id => return Ok(true),
                Some(holder) => Arc::clone(holder),
            };
            if !wait {
                return Ok(false);
            }
            let left = self.lease_timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(LeaseError::Timeout(LeaseTimeout {
                    destination: dest.clone(),
                    holder: holder.name.clone(),
                    holder_pid: holder.pid,
                    waited: self.lease_timeout,
                }));
            }
            registry = self
                .released
                .wait_timeout(registry, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Adds `entry` to `scope` (whose lease of the entry's destination is taken).
    pub fn add(&self, scope: &Scope, entry: Entry, responder: bool) -> Registered {
        let dest = entry.destination().clone();
        let label = entry.label();
        let added = Arc::new(ScopeEntry {
            id: self.next_entry.fetch_add(1, Ordering::Relaxed),
            entry,
            label: label.clone(),
            responder,
            used: AtomicU64::new(0),
            expectation: Mutex::new(None),
        });
        let mut hosts_known = true;
        if let Ok(hosts) = self.hosts.read() {
            hosts_known = hosts.contains(&dest.host);
        }
        if !hosts_known && let Ok(mut hosts) = self.hosts.write() {
            hosts.insert(dest.host.clone());
        }
        let mut state = lock(&scope.state);
        state.entries.push(Arc::clone(&added));
        match state.by_dest.get_mut(&dest) {
            Some(list) => list.push(Arc::clone(&added)),
            None => {
                let mut list = DestList::default();
                list.push(Arc::clone(&added));
                state.by_dest.insert(dest.clone(), list);
            }
        }
        Registered {
            entry: added.id,
            destination: dest,
            label,
        }
    }

    /// Whether some scope ever registered `host`.
    pub fn names_host(&self, host: &str) -> bool {
        self.hosts.read().is_ok_and(|h| h.contains(host))
    }

    /// Whether a live scope holds `dest`.
    pub fn is_leased(&self, dest: &Destination) -> bool {
        lock(&self.registry).leases.contains_key(dest)
    }

    /// The holder of `dest`'s lease and its entries there.
    pub fn holder(&self, dest: &Destination) -> Option<(Arc<Scope>, Arc<DestEntries>)> {
        let scope = Arc::clone(lock(&self.registry).leases.get(dest)?);
        let entries = lock(&scope.state)
            .by_dest
            .get_mut(dest)
            .map(DestList::snapshot)
            .unwrap_or_default();
        Some((scope, entries))
    }

    /// Removes `scope`: its entries stop answering, its leases are released.
    pub fn remove(&self, scope: &Scope) {
        scope.closed.store(true, Ordering::Release);
        let mut registry = lock(&self.registry);
        registry.scopes.remove(&scope.id);
        let leases = std::mem::take(&mut lock(&scope.state).leases);
        for dest in leases {
            if registry.leases.get(&dest).is_some_and(|h| h.id == scope.id) {
                registry.leases.remove(&dest);
            }
        }
        drop(registry);
        self.released.notify_all();
    }

    /// The live scopes of `session`.
    pub fn of_session(&self, session: u64) -> Vec<Arc<Scope>> {
        lock(&self.registry)
            .scopes
            .values()
            .filter(|s| s.session == session)
            .cloned()
            .collect()
    }

    pub fn add_session(&self, sink: Sink) -> Arc<Session> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session::new(id, sink));
        lock(&self.sessions).insert(id, Arc::clone(&session));
        session
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }

    pub fn remove_session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.sessions).remove(&id)
    }
}

/// Why a lease was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseError {
    Timeout(LeaseTimeout),
    /// The scope was closed while it waited.
    Closed,
}

impl Scope {
    pub fn entries(&self) -> Vec<Arc<ScopeEntry>> {
        lock(&self.state).entries.clone()
    }

    pub fn entry(&self, id: usize) -> Option<Arc<ScopeEntry>> {
        let state = lock(&self.state);
        let i = state.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        state.entries.get(i).cloned()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Records what the engine saw, answered by `entry` or unmatched.
    pub fn record(&self, entry: Option<usize>, seen: Seen) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        lock(&self.log).push(Logged { entry, seq, seen });
    }

    /// The Request objects of `entry`, or all of them.
    pub fn requests(&self, entry: Option<usize>) -> Vec<Value> {
        lock(&self.log)
            .iter()
            .filter(|l| entry.is_none() || l.entry == entry)
            .map(Logged::object)
            .collect()
    }

    pub fn unmatched(&self) -> Vec<Value> {
        lock(&self.log)
            .iter()
            .filter(|l| !l.matched())
            .map(Logged::object)
            .collect()
    }

    /// Fails the scope: a responder call that failed.
    pub fn fail(&self, error: String) {
        lock(&self.errors).push(error);
    }

    pub fn errors(&self) -> Vec<String> {
        lock(&self.errors).clone()
    }
}

/// The candidate entries of one request (or connection) on a destination: the lease holder's
/// entries, then the mocks file's.
pub struct EntrySet {
    pub config: Arc<Config>,
    pub dest: Destination,
    pub scoped: Option<(Arc<Scope>, Arc<DestEntries>)>,
}

/// The mocks file's entry ids of a destination: borrowed from the file's index for an exact
/// host, owned when host patterns add to them.
enum FileIds<'a> {
    Borrowed(std::iter::Copied<std::slice::Iter<'a, usize>>),
    Owned(std::vec::IntoIter<usize>),
}

impl Iterator for FileIds<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            FileIds::Borrowed(ids) => ids.next(),
            FileIds::Owned(ids) => ids.next(),
        }
    }
}

impl EntrySet {
    /// Entry ids, the scope's first, in registration and file order.
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        let scoped = self
            .scoped
            .iter()
            .flat_map(|(_, d)| d.entries.iter().map(|e| e.id));
        let file = match self.config.entries_for(&self.dest) {
            Cow::Borrowed(ids) => FileIds::Borrowed(ids.iter().copied()),
            Cow::Owned(ids) => FileIds::Owned(ids.into_iter()),
        };
        scoped.chain(file)
    }

    pub fn is_empty(&self) -> bool {
        self.ids().next().is_none()
    }

    /// The entry `id` names (a mocks-file index or a scope entry id).
    pub fn entry(&self, id: usize) -> &Entry {
        match self.config.entries.get(id) {
            Some(e) => e,
            None => &self.scope_entry(id).expect("ids come from this set").entry,
        }
    }

    pub fn scope_entry(&self, id: usize) -> Option<&Arc<ScopeEntry>> {
        self.scoped.as_ref()?.1.get(id)
    }

    pub fn scope(&self) -> Option<&Arc<Scope>> {
        self.scoped.as_ref().map(|(s, _)| s)
    }

    /// Whether `other` has the same candidates: the same holder with the same entries.
    pub fn same_candidates(&self, other: &EntrySet) -> bool {
        match (&self.scoped, &other.scoped) {
            (None, None) => true,
            (Some((a, x)), Some((b, y))) => a.id == b.id && Arc::ptr_eq(x, y),
            _ => false,
        }
    }

    /// The scope's uses counter of entry `id`, `None` for a mocks-file entry.
    pub fn scope_usage(&self, id: usize) -> Option<&AtomicU64> {
        self.scope_entry(id).map(|e| &e.used)
    }
}

#[cfg(test)]
mod tests;
