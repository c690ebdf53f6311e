//! A stateful in-memory Redis for `emulate: true` addresses: strings, keys with expiry, hashes,
//! lists, sets, sorted sets and pub/sub, with the replies and error texts of Redis 7.0 (checked
//! byte for byte against a real `redis-server` by the engine's comparison test).
//!
//! One emulator serves every connection to its address; the engine keeps it behind a mutex and
//! passes each connection's [`Connection`] in, so `SELECT`, the protocol version and the
//! subscriptions stay per connection while the data is shared. Pub/sub messages for other
//! connections wait in an outbox until the engine writes them ([`Emulator::take_outbox`]).

mod blocking;
mod hashes;
mod hyperloglog;
mod keys;
mod lists;
mod pubsub;
mod scans;
mod scripting;
mod sets;
mod streams;
mod strings;
mod watch;
mod zsets;
// Data-type commands of issue 19 (sorted-set algebra, multi-pops, strings/keys, bitmaps,
// sort, geo).
mod bitmaps;
mod incr_float;
mod keyspace;
mod lcs;
mod mpop;
mod random_fields;
mod sort;
mod zset_algebra;
// Geo commands of issue 19.
mod geo;
// DUMP and RESTORE.
pub(crate) mod dump;
// The RDB serialization that DUMP and FUNCTION DUMP payloads share.
mod rdb;
// Connection commands of issue 19: replication introspection.
mod replication;
// Functions (`FUNCTION`, `FCALL`) and the Lua libraries of scripts, of issue 19.
mod functions;
pub(crate) mod lua_libs;
// Server administration of issue 19: INFO's figures, CONFIG, ACL, SLOWLOG, LATENCY, MEMORY.
mod admin;
// Client-side caching: CLIENT TRACKING and its invalidation messages.
mod tracking;
// OBJECT IDLETIME and FREQ (issue 19).
mod access;
// Scripts' RESP3 conversions (`redis.setresp(3)`).
mod lua_resp;
// MONITOR, CLIENT PAUSE/UNPAUSE (issue 19).
mod monitor;
mod pause;

pub(crate) use monitor::refused_to_monitor;
pub(crate) use pause::pause_arguments;
pub use pubsub::{Eviction, OutputLimits};
/// MIGRATE between emulated addresses.
mod migrate;
pub use migrate::{MigrationTargets, TargetUnreachable};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indexmap::{IndexMap, IndexSet};

use super::auth::Credentials;
use super::clients::ClientRegistry;
use super::command::{Command, strict_i64};
use super::conn::{Backend, Connection, DATABASES};
use super::entry::{Seed, SeedValue};
use super::reply::Reply;
use super::spec;
use zsets::ZSet;

/// Where the emulator reads the time: expiry is tested without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Microseconds since the Unix epoch, for `MONITOR` lines.
    fn now_us(&self) -> u64 {
        self.now_ms().saturating_mul(1000)
    }
}

/// The system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now_ms: u64) -> Arc<Self> {
        Arc::new(ManualClock(AtomicU64::new(now_ms)))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A value of any Redis type the emulator supports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    /// Insertion order, as Redis's small hashes (listpacks) keep it.
    Hash(IndexMap<Vec<u8>, Vec<u8>>),
    Set(IndexSet<Vec<u8>>),
    ZSet(ZSet),
    Stream(Box<streams::Stream>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Aggregates that lose their last element disappear, as in Redis.
    fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::String(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // An emptied stream stays, with its last ID and groups.
            Value::Stream(_) => false,
        }
    }
}

/// A key's value with its expiry.
#[derive(Debug, Clone)]
struct Slot {
    value: Value,
    /// Unix milliseconds; `None` lives forever.
    expires_at: Option<u64>,
    /// Creation order: `SCAN` cursors are built on it, so a key that stays is never missed.
    seq: u64,
    /// Redis's `lru` field: last access, or LFU counter and minutes ([`access`]).
    lru: u32,
    /// The low bits of the last command that touched the key: one touch per command.
    touched_by: u32,
}

type Db = HashMap<Vec<u8>, Slot>;

pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
pub(crate) const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub(crate) const SYNTAX: &str = "ERR syntax error";

/// A command's implementation: the emulator, the connection, and the words (name first).
type Handler = fn(&mut Emulator, &mut Connection, &[Vec<u8>]) -> Reply;

/// The emulated server.
#[derive(Debug)]
pub struct Emulator {
    dbs: Vec<Db>,
    clock: Arc<dyn Clock>,
    /// The time of the command being run, read once per command as Redis does.
    now: u64,
    next_seq: u64,
    pubsub: pubsub::PubSub,
    watches: watch::Watches,
    scripts: scripting::Scripts,
    functions: functions::Libraries,
    waiters: blocking::Waiters,
    /// xorshift state for `SPOP` and `SRANDMEMBER`.
    random: u64,
    /// The live connections, for `CLIENT LIST`, `INFO` and `KILL`.
    clients: ClientRegistry,
    /// Statistics, configuration, users and the slow log.
    admin: admin::Admin,
    /// Client-side caching: who tracks which keys, and the invalidations to send.
    tracking: tracking::Tracking,
    /// How the running command ages the keys it looks up.
    access: access::Access,
    /// Counts commands, so that a key is touched once per command.
    commands_run: u32,
    /// The other emulated addresses MIGRATE reaches.
    migration: migrate::Targets,
    /// `MONITOR` connections.
    monitors: monitor::Monitors,
    /// `CLIENT PAUSE`.
    pause: pause::Pause,
}

impl Emulator {
    /// An emulator on the system clock, starting with `seed` in database 0.
    pub fn new(seed: &Seed) -> Self {
        Emulator::with_clock(seed, Arc::new(SystemClock))
    }

    pub fn with_clock(seed: &Seed, clock: Arc<dyn Clock>) -> Self {
        let mut emulator = Emulator {
            dbs: vec![Db::new(); DATABASES],
            clock,
            now: 0,
            next_seq: 0,
            pubsub: pubsub::PubSub::default(),
            watches: watch::Watches::default(),
            scripts: scripting::Scripts::default(),
            functions: functions::Libraries::default(),
            waiters: blocking::Waiters::default(),
            random: 0x9e37_79b9_7f4a_7c15,
            clients: ClientRegistry::default(),
            admin: admin::Admin::default(),
            tracking: tracking::Tracking::default(),
            access: access::Access::default(),
            commands_run: 0,
            migration: migrate::Targets::default(),
            monitors: monitor::Monitors::default(),
            pause: pause::Pause::default(),
        };
        // Seeded keys are new at start-up.
        emulator.begin_access("DEBUG");
        for (key, value) in seed {
            let value = match value {
                SeedValue::String(s) => Value::String(s.clone()),
                SeedValue::List(items) => Value::List(items.iter().cloned().collect()),
                SeedValue::Hash(fields) => Value::Hash(fields.iter().cloned().collect()),
            };
            if !value.is_empty_aggregate() {
                emulator.put(0, key, value);
            }
        }
        emulator
    }

    /// The emulator with `credentials` for `AUTH` instead of a passwordless default user.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.admin.acl = admin::acl::Acl::new(&credentials);
        let password = credentials.password.unwrap_or_default();
        self.admin.config.set_requirepass(&password);
        self
    }

    /// Whether the emulator implements `cmd`.
    pub fn knows(&self, cmd: &Command) -> bool {
        handler(&cmd.name()).is_some()
    }

    /// Unknown command and arity errors, worded as Redis words them, counted in the
    /// statistics as Redis counts rejected commands.
    pub fn check(&mut self, cmd: &Command) -> Result<(), Reply> {
        self.checked(cmd).map(|_| ())
    }

    /// [`Emulator::check`], with the spec of the command it accepted.
    fn checked(&mut self, cmd: &Command) -> Result<&'static spec::Spec, Reply> {
        let refusal = Emulator::refusal(cmd);
        if let Err(reply) = &refusal {
            self.admin.stats.rejected(&cmd.args, reply);
        }
        refusal
    }

    fn refusal(cmd: &Command) -> Result<&'static spec::Spec, Reply> {
        let name = cmd.name();
        if handler(&name).is_none() {
            return Err(spec::unknown_command(cmd));
        }
        let spec = spec::find(&name).expect("every handled command has a spec");
        if !spec.arity_ok(cmd.args.len()) {
            return Err(spec::arity_error(spec.name));
        }
        Ok(spec)
    }

    /// Runs a command that [`Emulator::check`] accepted, if the connection's user may, and
    /// counts it in the statistics (a blocked command once, when it answers).
    pub fn execute(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        let spec = match self.checked(cmd) {
            Ok(spec) => spec,
            Err(refusal) => return refusal,
        };
        self.now = self.clock.now_ms();
        self.admin.clock(self.now);
        if let Err(refusal) = self.admin.acl.check(conn, &cmd.args, self.now) {
            self.admin.stats.rejected(&cmd.args, &refusal);
            return refusal;
        }
        self.begin_access(&cmd.name());
        self.count_lookups(conn.db, spec, cmd);
        self.tracking_before_command(conn.id);
        let started = Instant::now();
        let reply = self.run(conn, cmd);
        self.access.touch = false;
        if conn.blocked.is_none() {
            self.admin.ran(conn, spec, cmd, &reply, started.elapsed());
        }
        reply
    }

    /// Runs a command, telling the watchers and the tracking connections of the keys it
    /// changes, and remembering the keys it reads for a tracking connection.
    fn run(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        let reply = self.run_and_signal(conn, cmd);
        self.tracking_after_command(conn, cmd, &reply);
        reply
    }

    fn run_and_signal(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        let name = cmd.name();
        let run = handler(&name).expect("checked");
        let tracking = self.tracking.is_active();
        if self.watches.is_empty() && !tracking {
            return run(self, conn, &cmd.args);
        }
        let spec = spec::find(&name).expect("every handled command has a spec");
        let now = self.now;
        let mut candidates = self.watches.keys_of(spec, &cmd.args, conn.db);
        if tracking {
            candidates.extend(self.tracking_candidates(spec, &cmd.args, conn.db));
        }
        let before: watch::Before = candidates
            .into_iter()
            .map(|(db, key)| {
                let content = watch::content(self.dbs[db].get(&key), now);
                (db, key, content)
            })
            .collect();
        let reply = run(self, conn, &cmd.args);
        if !before.is_empty() {
            let dbs = &self.dbs;
            let signaled = watch::signaled_keys(&cmd.args, &name, &reply, before, |db, key| {
                watch::content(dbs[db].get(key), now)
            });
            for (db, key) in &signaled {
                self.watches.touch(*db, key);
            }
            if tracking {
                self.invalidate_signaled(signaled, conn.id);
            }
        }
        reply
    }

    /// `WATCH key ...` for `conn`.
    pub fn watch(&mut self, conn: &Connection, keys: &[Vec<u8>]) -> Result<(), Reply> {
        let now = self.clock.now_ms();
        let dbs = &self.dbs;
        let keys = keys.iter().map(|key| {
            let live = watch::content(dbs[conn.db].get(key), now).is_some();
            (key.clone(), live)
        });
        self.watches.watch(conn.id, conn.db, keys)
    }

    /// Whether a key connection `id` watches changed since it watched it, or expired.
    pub fn watch_broken(&self, id: u64) -> bool {
        let now = self.clock.now_ms();
        self.watches.is_dirty(id, |db, key| {
            watch::content(self.dbs[db].get(key), now).is_some()
        })
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: whether connection `id` was blocked; its blocked
    /// command then answers (nil, or the `UNBLOCKED` error) when next retried.
    pub fn unblock(&mut self, id: u64, error: bool) -> bool {
        self.waiters.request_unblock(id, error)
    }

    /// `UNWATCH`, and what `EXEC` and `DISCARD` do.
    pub fn unwatch(&mut self, id: u64) {
        self.watches.unwatch(id);
        self.waiters.forget(id);
    }

    /// The pub/sub messages waiting for connection `id`, encoded in its protocol.
    pub fn take_outbox(&mut self, id: u64) -> Vec<u8> {
        self.pubsub.take_outbox(id)
    }

    /// Connections that were sent messages since the last call, to be flushed by the driver.
    pub fn take_wakeups(&mut self) -> Vec<u64> {
        self.pubsub.take_wakeups()
    }

    /// Subscribers disconnected since the last call for not reading their messages: the
    /// driver closes their connections.
    pub fn take_evictions(&mut self) -> Vec<Eviction> {
        self.pubsub.take_evictions()
    }

    /// Replaces Redis's output buffer limits for subscribers (tests use small ones).
    pub fn set_output_limits(&mut self, limits: OutputLimits) {
        self.pubsub.limits = limits;
    }

    /// A new connection from `addr` to `laddr` (`ip:port`), for `CLIENT LIST`.
    pub fn connect(&mut self, id: u64, addr: &str, laddr: &str) {
        self.clients.now = self.clock.now_ms();
        self.clients.register(id, addr, laddr);
        self.admin.stats.total_connections += 1;
    }

    /// Connections `CLIENT KILL` chose since the last call: the driver closes them.
    pub fn take_kills(&mut self) -> Vec<u64> {
        self.clients.take_kills()
    }

    /// Forgets a closed connection: its subscriptions, watches, waits and registration.
    pub fn disconnect(&mut self, id: u64) {
        self.clients.remove(id);
        self.forget_state(id);
    }

    /// Forgets what connection `id` set up: subscriptions, watches, waits, monitoring, and
    /// its hold by a pause. `RESET` does this and keeps the connection listed, with its
    /// address.
    fn forget_state(&mut self, id: u64) {
        self.pubsub.forget(id);
        self.watches.unwatch(id);
        self.waiters.forget(id);
        self.disable_tracking(id);
        self.monitors.forget(id);
        self.pause.forget(id);
    }

    /// `INFO keyspace` lines for the databases that hold keys.
    pub fn keyspace(&mut self) -> Vec<String> {
        self.now = self.clock.now_ms();
        (0..DATABASES)
            .filter_map(|db| {
                self.purge(db);
                let keys = self.dbs[db].len();
                let expires = self.dbs[db]
                    .values()
                    .filter(|s| s.expires_at.is_some())
                    .count();
                (keys > 0).then(|| format!("db{db}:keys={keys},expires={expires},avg_ttl=0"))
            })
            .collect()
    }

    // Storage helpers shared by the command modules.

    /// The live slot of `key`, deleting it first if it has expired.
    fn slot(&mut self, db: usize, key: &[u8]) -> Option<&mut Slot> {
        let now = self.now;
        let expired = self.dbs[db]
            .get(key)
            .is_some_and(|s| s.expires_at.is_some_and(|t| t <= now));
        if expired && self.expiry_paused() {
            // A pause keeps expired keys, which read as missing.
            return None;
        }
        if expired {
            self.dbs[db].remove(key);
            self.admin.stats.expired_keys += 1;
            self.tracking.expired(key);
        }
        let (access, command) = (self.access, self.commands_run);
        let slot = self.dbs[db].get_mut(key)?;
        if access.touch && slot.touched_by != command {
            let random = &mut self.random;
            slot.lru = access.touched(slot.lru, || xorshift(random) as f64 / u64::MAX as f64);
            slot.touched_by = command;
        }
        Some(slot)
    }

    fn value(&mut self, db: usize, key: &[u8]) -> Option<&mut Value> {
        self.slot(db, key).map(|s| &mut s.value)
    }

    fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.slot(db, key).is_some()
    }

    /// Stores `value` under `key` with no expiry; a key that existed keeps its place in `SCAN`.
    fn put(&mut self, db: usize, key: &[u8], value: Value) {
        // An overwritten key keeps its LFU counter, as Redis's `dbOverwrite` does.
        let (lfu, created) = (self.access.is_lfu(), self.access.created());
        let (seq, lru) = match self.slot(db, key) {
            Some(slot) if lfu => (slot.seq, slot.lru),
            Some(slot) => (slot.seq, created),
            None => (self.new_seq(), created),
        };
        self.dbs[db].insert(
            key.to_vec(),
            Slot {
                value,
                expires_at: None,
                seq,
                lru,
                touched_by: self.commands_run,
            },
        );
    }

    /// A pseudo-random number below `n` (`n` > 0).
    fn random_below(&mut self, n: usize) -> usize {
        (xorshift(&mut self.random) % n as u64) as usize
    }

    fn new_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn remove(&mut self, db: usize, key: &[u8]) -> Option<Slot> {
        self.slot(db, key)?;
        self.dbs[db].remove(key)
    }

    /// Deletes `key` if it holds an aggregate that lost its last element.
    fn drop_if_empty(&mut self, db: usize, key: &[u8]) {
        if self.dbs[db]
            .get(key)
            .is_some_and(|s| s.value.is_empty_aggregate())
        {
            self.dbs[db].remove(key);
        }
    }

    /// Deletes every expired key of `db`.
    fn purge(&mut self, db: usize) {
        if self.expiry_paused() {
            return;
        }
        let now = self.now;
        let before = self.dbs[db].len();
        self.dbs[db].retain(|_, s| s.expires_at.is_none_or(|t| t > now));
        self.admin.stats.expired_keys += (before - self.dbs[db].len()) as u64;
    }

    /// The value of `key` as the type `pick` selects: `Ok(None)` when missing, WRONGTYPE
    /// when it holds another type.
    fn typed<T>(
        &mut self,
        db: usize,
        key: &[u8],
        pick: fn(&mut Value) -> Option<&mut T>,
    ) -> Result<Option<&mut T>, Reply> {
        match self.value(db, key) {
            None => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| Reply::error(WRONGTYPE)),
        }
    }

    /// Like [`Emulator::typed`], creating the key with `empty` when it is missing.
    fn typed_or_create<T>(
        &mut self,
        db: usize,
        key: &[u8],
        pick: fn(&mut Value) -> Option<&mut T>,
        empty: fn() -> Value,
    ) -> Result<&mut T, Reply> {
        if !self.exists(db, key) {
            self.put(db, key, empty());
        }
        let value = self.value(db, key).expect("just made sure it exists");
        pick(value).ok_or_else(|| Reply::error(WRONGTYPE))
    }
}

impl Backend for Emulator {
    fn check(&mut self, cmd: &Command) -> Result<(), Reply> {
        Emulator::check(self, cmd)
    }

    fn call(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        self.execute(conn, cmd)
    }

    fn drain_pushes(&mut self, conn: &Connection, out: &mut Vec<u8>) {
        out.extend(self.take_outbox(conn.id));
    }

    fn keyspace(&mut self) -> Vec<String> {
        Emulator::keyspace(self)
    }

    fn reset(&mut self, conn: &mut Connection) {
        self.forget_state(conn.id);
        conn.subscriptions = 0;
    }

    fn watch(&mut self, conn: &Connection, keys: &[Vec<u8>]) -> Result<(), Reply> {
        Emulator::watch(self, conn, keys)
    }

    fn unwatch(&mut self, conn: &Connection) {
        Emulator::unwatch(self, conn.id);
    }

    fn watch_broken(&mut self, conn: &Connection) -> bool {
        Emulator::watch_broken(self, conn.id)
    }

    fn unblock(&mut self, id: u64, error: bool) -> bool {
        Emulator::unblock(self, id, error)
    }

    fn open(&mut self) -> bool {
        self.admin.acl.open()
    }

    fn authenticate(&mut self, user: Option<&[u8]>, password: &[u8]) -> Result<String, Reply> {
        self.admin.acl.authenticate(user, password)
    }

    fn answered_locally(&mut self, conn: &Connection, cmd: &Command, reply: &Reply) {
        self.admin.answered_locally(conn, cmd, reply);
    }

    fn figures(&mut self) -> crate::redis::info::Figures {
        Emulator::figures(self)
    }

    fn clients(&mut self) -> Option<&mut ClientRegistry> {
        self.clients.now = self.clock.now_ms();
        Some(&mut self.clients)
    }

    fn user_names(&mut self) -> Vec<String> {
        self.admin.acl.names()
    }

    fn client_tracking(&mut self, conn: &mut Connection, params: &[Vec<u8>]) -> Reply {
        Emulator::client_tracking(self, conn, params)
    }

    fn after_reply(&mut self, conn: &Connection, out: &mut Vec<u8>) {
        Emulator::after_reply(self, conn.id, out);
        out.extend(self.take_own_lines(conn.id));
    }

    fn monitor(&mut self, conn: &Connection, cmd: &Command, ran: bool) {
        self.monitor_command(conn, cmd, ran);
    }

    fn pause(&mut self, timeout_ms: u64, all: bool) {
        self.pause_clients(timeout_ms, all);
    }

    fn unpause(&mut self) {
        self.unpause_clients();
    }

    fn paused_until(
        &mut self,
        conn: &Connection,
        cmd: &Command,
        queued: &[Command],
    ) -> Option<u64> {
        Emulator::paused_until(self, conn, cmd, queued)
    }
}

/// An integer argument, with Redis's error when it is not one.
fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    strict_i64(arg).ok_or_else(|| Reply::error(NOT_INTEGER))
}

/// A float argument as Redis's `strtod` accepts it (no NaN, no surrounding spaces).
fn float_arg(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let value = match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        _ => text.parse::<f64>().ok()?,
    };
    // `-0` is stored as 0, as Redis does.
    (!value.is_nan()).then_some(value + 0.0)
}

/// Whether an option word equals `name`, case-insensitively.
fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// The implementation of a command by upper-case name.
fn handler(name: &str) -> Option<Handler> {
    strings::handler(name)
        .or_else(|| keys::handler(name))
        .or_else(|| hashes::handler(name))
        .or_else(|| lists::handler(name))
        .or_else(|| sets::handler(name))
        .or_else(|| zsets::handler(name))
        .or_else(|| pubsub::handler(name))
        .or_else(|| scripting::handler(name))
        .or_else(|| blocking::handler(name))
        .or_else(|| scans::handler(name))
        // Data-type commands of issue 19.
        .or_else(|| zset_algebra::handler(name))
        .or_else(|| mpop::handler(name))
        .or_else(|| incr_float::handler(name))
        .or_else(|| random_fields::handler(name))
        .or_else(|| keyspace::handler(name))
        .or_else(|| lcs::handler(name))
        .or_else(|| bitmaps::handler(name))
        .or_else(|| sort::handler(name))
        // Streams and HyperLogLog.
        .or_else(|| streams::handler(name))
        .or_else(|| hyperloglog::handler(name))
        // Geo.
        .or_else(|| geo::handler(name))
        // DUMP and RESTORE.
        .or_else(|| dump::handler(name))
        // Functions.
        .or_else(|| functions::handler(name))
        // Connection commands of issue 19.
        .or_else(|| replication::handler(name))
        // Server administration.
        .or_else(|| admin::handler(name))
        // MIGRATE between emulated addresses.
        .or_else(|| migrate::handler(name))
        // MONITOR.
        .or_else(|| monitor::handler(name))
}

/// The next state of an xorshift generator, which is also its output.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;

/// Runs one inline command line (`"rpush l a b"`) in a unit test.
#[cfg(test)]
pub(crate) fn run_line(em: &mut Emulator, conn: &mut Connection, line: &str) -> Reply {
    let args = super::command::split_args(line.as_bytes()).expect("a valid command line");
    em.execute(conn, &Command { args })
}
