//! Serving `redis` entries and emulated Redis addresses.
//!
//! RESP, the handshake and the emulator live in `mocket_protocols::redis`; this file owns the
//! sockets, the entry counters, the journal (one event per command) and the report.
//!
//! Command entries are tried first, in file order; then the address's emulator, if one of its
//! entries has `emulate: true`; then the command is unmatched: an error reply naming the
//! closest entries, and a failed run.
//!
//! Pub/sub crosses connections, and each connection has its own blocking thread, so a
//! subscriber is usually blocked reading when a message for it is published. Publishing never
//! writes to a subscriber's socket: the message waits in the subscriber's outbox (in the
//! emulator, bounded as Redis bounds a subscriber's output buffer), and the subscriber's
//! pusher thread, started with its first message, writes it. A subscriber that stops reading
//! blocks only its own pusher; once its outbox is past the limit the emulator drops it and
//! the publisher shuts its socket down, which also frees a pusher blocked in a write.
//!
//! Both threads of a connection write through its socket mutex, always taken before the
//! emulator's: a subscriber holds its socket while it runs `SUBSCRIBE` and writes the
//! confirmation, so a message published after the subscription follows that confirmation,
//! and messages taken from the outbox keep their order.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use mocket_protocols::field::Destination;
use mocket_protocols::redis::{
    Alarm, Backend, Behavior, ClientRegistry, Command, CommandIndex, Connection, Credentials,
    Emulator, Eviction, Miss, RedisEntry, Reply, Seed, Session, spec,
};
use serde_json::json;

use super::listener::{grow_if_filled, read_buffer};
use super::{Claim, Engine, lock};
use crate::journal::{Action, Event};
use crate::scopes::log::command_object;
use crate::scopes::{EntrySet, Seen};
use mocket_config::Entry;

/// MIGRATE between emulated addresses.
#[path = "redis_migrate.rs"]
mod migrate;

/// The emulators by destination and scope id; shared with MIGRATE's targets.
type EmulatorMap = Mutex<HashMap<(Destination, u64), Arc<Shared>>>;

/// The emulators of an engine by destination, each made on the first connection to it.
#[derive(Default)]
pub(super) struct Emulators {
    /// By destination and scope id (0: the mocks file's emulator): a test scope's emulator
    /// starts fresh and is dropped with the scope.
    by_destination: Arc<EmulatorMap>,
    /// What `CLIENT ID` answers, unique across the engine.
    next_client_id: AtomicU64,
    /// Per address, its command entries indexed by their words, built on first use (at most
    /// `MAX_CACHED_INDEXES` addresses).
    indexes: Mutex<HashMap<Destination, Arc<CommandIndex>>>,
}

impl Emulators {
    /// The mocks file's command entries of `set`'s destination, indexed.
    fn index(&self, set: &EntrySet) -> Arc<CommandIndex> {
        let mut indexes = lock(&self.indexes);
        crate::cached_index(&mut indexes, &set.dest, crate::MAX_CACHED_INDEXES, || {
            let ids = set.config.entries_for(&set.dest);
            let matchers = ids.iter().filter_map(|&i| match &set.config.entries[i] {
                Entry::Redis(RedisEntry {
                    behavior: Behavior::Command { matcher, .. },
                    ..
                }) => Some((i, matcher)),
                _ => None,
            });
            CommandIndex::new(matchers)
        })
    }

    /// Drops the emulators of scope `scope`.
    pub(super) fn drop_scope(&self, scope: u64) {
        lock(&self.by_destination).retain(|(_, s), _| *s != scope);
    }

    fn shared(
        &self,
        config: &Arc<mocket_config::Config>,
        dest: &Destination,
        scope: u64,
        seed: &Seed,
        credentials: &Credentials,
    ) -> Arc<Shared> {
        shared_in(&self.by_destination, config, dest, scope, seed, credentials)
    }
}

/// The emulator of `dest` in `scope` from `map`, made on first use (with MIGRATE's targets).
fn shared_in(
    map: &Arc<EmulatorMap>,
    config: &Arc<mocket_config::Config>,
    dest: &Destination,
    scope: u64,
    seed: &Seed,
    credentials: &Credentials,
) -> Arc<Shared> {
    let mut emulators = lock(map);
    let shared = emulators.entry((dest.clone(), scope)).or_insert_with(|| {
        let targets = migrate::Targets::new(dest, map, config);
        let emulator = Emulator::new(seed)
            .with_credentials(credentials.clone())
            .with_migration_targets(Arc::new(targets));
        migrate::new_shared(emulator)
    });
    Arc::clone(shared)
}

/// One emulated address: its data, and the write side of each of its connections.
struct Shared {
    emulator: Mutex<Emulator>,
    links: Mutex<HashMap<u64, Arc<Link>>>,
    /// Counts the batches of commands answered, so that a connection blocked by `BLPOP` and
    /// the like wakes (on `changed`) to try its command again after each.
    changes: Mutex<u64>,
    changed: Condvar,
}

/// The write side of a connection of an emulated address; see the module docs.
struct Link {
    /// Taken by the connection's thread (replies) and its pusher (messages) to write.
    socket: Mutex<TcpStream>,
    /// The same socket, to shut down without waiting for `socket`'s lock, which a pusher
    /// blocked on a subscriber that does not read may hold.
    control: TcpStream,
    /// Who the connection is, for the journal.
    claim: Claim,
    pusher: Mutex<PusherState>,
    /// Signalled when messages wait for the pusher, or when the connection ends.
    news: Condvar,
}

#[derive(Default)]
struct PusherState {
    started: bool,
    /// Messages wait in the emulator's outbox for this connection.
    waiting: bool,
    closed: bool,
}

impl Link {
    fn new(stream: &TcpStream, claim: &Claim) -> std::io::Result<Link> {
        Ok(Link {
            socket: Mutex::new(stream.try_clone()?),
            control: stream.try_clone()?,
            claim: claim.clone(),
            pusher: Mutex::default(),
            news: Condvar::new(),
        })
    }

    /// Ends the connection: its pusher stops, a blocked read or write returns.
    fn close(&self) {
        lock(&self.pusher).closed = true;
        self.news.notify_all();
        let _ = self.control.shutdown(std::net::Shutdown::Both);
    }
}

/// The longest a blocked connection waits before checking that its client is still there.
const BLOCKED_CHECK: Duration = Duration::from_millis(100);

impl Shared {
    fn note_change(&self) {
        *lock(&self.changes) += 1;
        self.changed.notify_all();
    }

    /// Waits at most `limit` for a change after the `seen`th.
    fn wait_change(&self, seen: u64, limit: Duration) {
        let changes = lock(&self.changes);
        if *changes == seen {
            let _ = self.changed.wait_timeout(changes, limit);
        }
    }

    /// Tells connection `id`'s pusher that messages wait, starting it on the first.
    fn wake(&self, engine: &Engine, shared: &Arc<Shared>, id: u64) {
        let Some(link) = lock(&self.links).get(&id).cloned() else {
            return;
        };
        let mut state = lock(&link.pusher);
        if state.closed {
            return;
        }
        state.waiting = true;
        if !state.started {
            state.started = true;
            let (shared, pushed) = (Arc::clone(shared), Arc::clone(&link));
            let spawned = engine.spawn("mocket-redis-push", move || shared.push(id, &pushed));
            if let Err(e) = spawned {
                drop(state);
                engine.warn(&format!(
                    "redis {}: cannot start a thread to deliver pub/sub messages ({e}); \
                     closed subscriber connection {id}",
                    link.claim.dest
                ));
                link.close();
                return;
            }
        }
        drop(state);
        link.news.notify_all();
    }

    /// A pusher's life: writes connection `id`'s messages as they come, until it closes.
    fn push(&self, id: u64, link: &Link) {
        loop {
            let mut state = lock(&link.pusher);
            while !state.waiting && !state.closed {
                state = link.news.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.closed {
                return;
            }
            state.waiting = false;
            drop(state);
            let mut socket = lock(&link.socket);
            let bytes = lock(&self.emulator).take_outbox(id);
            if !bytes.is_empty() && socket.write_all(&bytes).is_err() {
                // The connection's own thread sees the end too, and cleans up.
                return;
            }
        }
    }

    /// Closes connection `id` for `CLIENT KILL`, as Redis does, after the batch's replies: its
    /// own thread then sees the end and cleans up.
    fn kill(&self, id: u64) {
        if let Some(link) = lock(&self.links).get(&id).cloned() {
            link.close();
        }
    }

    /// Disconnects a subscriber the emulator dropped for not reading.
    fn evict(&self, engine: &Engine, eviction: &Eviction) {
        let Some(link) = lock(&self.links).get(&eviction.id).cloned() else {
            return;
        };
        link.close();
        engine.warn(&format!("redis {}: {}", link.claim.dest, eviction.reason));
        if engine.journal.is_on() {
            let event = link
                .claim
                .event("redis", Action::Refused)
                .with("reason", json!(eviction.reason));
            engine.journal.record(&event);
        }
    }
}

impl Engine {
    /// Serves one connection with the redis entries of `set`, picked again before each batch
    /// of commands when the candidates changed (another test scope holds the destination, or
    /// the holder registered more entries): a pooled connection outlives test scopes.
    /// `first`: what the client sent that was read already (by the accepting thread).
    pub(super) fn serve_redis(
        &self,
        mut stream: TcpStream,
        claim: &Claim,
        set: EntrySet,
        first: Vec<u8>,
    ) {
        let Ok(link) = Link::new(&stream, claim) else {
            return;
        };
        let link = Arc::new(link);
        let id = self.redis.next_client_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut binding = self.bind_redis(set, claim, id, &link, None);
        let mut session = Session::new(id);
        let mut ready = first.len();
        let mut buf = read_buffer(first);
        loop {
            let read = match std::mem::take(&mut ready) {
                0 => stream.read(&mut buf),
                n => Ok(n),
            };
            let n = match read {
                // A subscriber waits for messages as long as it likes, as with Redis.
                Err(e) if super::idle::timed_out(&e) && session.conn.waits_for_pushes() => continue,
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            grow_if_filled(&mut buf, n);
            if let Some(now) = self.entry_set(&claim.dest)
                && !now.same_candidates(&binding.set)
            {
                binding = self.bind_redis(now, claim, id, &link, Some(binding));
            }
            let scope = Scope {
                claim,
                set: &binding.set,
                indexes: &binding.indexes,
                entries: &binding.entries,
                emulated: binding.emulated,
            };
            let shared = binding.shared.as_ref();
            let input = Some(&buf[..n]);
            if self.answer_redis(&mut session, input, &scope, shared, &link) == Flow::Close {
                break;
            }
            if let Some(shared) = shared
                && self.wait_while_blocked(&mut session, &stream, &scope, shared, &link)
                    == Flow::Close
            {
                break;
            }
        }
        if let Some(shared) = &binding.shared {
            lock(&shared.links).remove(&id);
            lock(&shared.emulator).disconnect(id);
            link.close();
        }
    }

    /// The candidates of connection `id` from `set`, with its emulator (if any) joined; the
    /// emulator of the `previous` binding is left when it is another one.
    fn bind_redis(
        &self,
        set: EntrySet,
        claim: &Claim,
        id: u64,
        link: &Arc<Link>,
        previous: Option<Binding>,
    ) -> Binding {
        let entries: Vec<usize> = set
            .ids()
            .filter(|i| matches!(set.entry(*i), Entry::Redis(_)))
            .collect();
        let emulated = entries
            .iter()
            .copied()
            .find(|i| redis_entry(&set, *i).is_emulated());
        let shared = emulated.map(|i| {
            let Behavior::Emulate { data, credentials } = &redis_entry(&set, i).behavior else {
                unreachable!("found as emulated")
            };
            // A test scope's emulator is its own, fresh, and dropped with the scope.
            let owner = set.scope_entry(i).and(set.scope()).map_or(0, |s| s.id);
            self.redis
                .shared(&set.config, &claim.dest, owner, data, credentials)
        });
        let old = previous.and_then(|p| p.shared);
        let same = matches!((&old, &shared), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
        if !same {
            if let Some(old) = old {
                lock(&old.links).remove(&id);
                lock(&old.emulator).disconnect(id);
            }
            // The emulated entry counts one use per command it answers (`Answerer::mocked`).
            if let Some(shared) = &shared {
                lock(&shared.links).insert(id, Arc::clone(link));
                let addr = link
                    .control
                    .peer_addr()
                    .map_or_else(|_| "127.0.0.1:0".to_string(), |a| a.to_string());
                // Redis's `laddr`: the address the client connected to.
                let laddr = claim
                    .local
                    .map_or_else(|| claim.dest.to_string(), |a| a.to_string());
                lock(&shared.emulator).connect(id, &addr, &laddr);
            }
        }
        let mut indexes = Vec::new();
        if let Some((_, scoped)) = &set.scoped {
            indexes.push(scoped.commands());
        }
        indexes.push(self.redis.index(&set));
        Binding {
            set,
            entries,
            indexes,
            emulated,
            shared,
        }
    }

    /// While a blocking command waits, the connection's thread sleeps until another batch of
    /// commands changed something, the deadline comes or the client leaves, and retries it;
    /// it reads nothing else meanwhile, as Redis reads nothing from a blocked client.
    fn wait_while_blocked(
        &self,
        session: &mut Session,
        stream: &TcpStream,
        scope: &Scope<'_>,
        shared: &Arc<Shared>,
        link: &Link,
    ) -> Flow {
        while let Some(deadline) = session.blocked() {
            let seen = *lock(&shared.changes);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let left = deadline.map_or(BLOCKED_CHECK, |d| {
                Duration::from_millis(d.saturating_sub(now)).min(BLOCKED_CHECK)
            });
            shared.wait_change(seen, left);
            if client_left(stream)
                || self.answer_redis(session, None, scope, Some(shared), link) == Flow::Close
            {
                return Flow::Close;
            }
        }
        Flow::Open
    }

    /// Answers the commands complete in `input` (`None`: retries a blocked command), writes
    /// the replies, then hands what they published to the receivers' pushers.
    fn answer_redis(
        &self,
        session: &mut Session,
        input: Option<&[u8]>,
        scope: &Scope<'_>,
        shared: Option<&Arc<Shared>>,
        link: &Link,
    ) -> Flow {
        let mut socket = lock(&link.socket);
        let mut emulator = shared.map(|s| lock(&s.emulator));
        let mut backend = Answerer {
            engine: self,
            scope,
            emulator: emulator.as_deref_mut(),
        };
        let output = match input {
            Some(input) => session.receive(input, &mut backend),
            None => session.retry(&mut backend),
        };
        if let Some(alarm) = &output.alarm {
            self.alarm(scope.claim, alarm);
        }
        let (wakeups, evictions, kills) = emulator
            .as_mut()
            .map(|e| (e.take_wakeups(), e.take_evictions(), e.take_kills()))
            .unwrap_or_default();
        drop(emulator);
        let written = socket.write_all(&output.bytes);
        drop(socket);
        if let Some(shared) = shared {
            shared.note_change();
            for eviction in &evictions {
                shared.evict(self, eviction);
            }
            for id in kills {
                shared.kill(id);
            }
            for id in wakeups {
                shared.wake(self, shared, id);
            }
        }
        if written.is_err() || output.close {
            Flow::Close
        } else {
            Flow::Open
        }
    }

    /// A connection closed for what its client sent: unmatched traffic, so the run fails and
    /// the report says why.
    fn alarm(&self, claim: &Claim, alarm: &Alarm) {
        let why = alarm.to_string();
        let mut event = claim
            .event("redis", Action::Unmatched)
            .with("reason", json!(why));
        if let Alarm::CrossProtocol(cmd) = alarm {
            event = event.with("command", json!(cmd.to_strings()));
        }
        self.count_unmatched(claim, "redis", why, event);
    }
}

fn redis_entry(set: &EntrySet, index: usize) -> &RedisEntry {
    match set.entry(index) {
        Entry::Redis(e) => e,
        _ => unreachable!("filtered to redis entries"),
    }
}

/// Whether the client of a blocked connection closed it (what it sent meanwhile waits).
fn client_left(stream: &TcpStream) -> bool {
    let timeout = stream.read_timeout().ok().flatten();
    if stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .is_err()
    {
        return true;
    }
    let left = match stream.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !super::idle::timed_out(&e),
    };
    let _ = stream.set_read_timeout(timeout);
    left
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Open,
    Close,
}

/// The candidates of a connection until they change.
struct Binding {
    /// A test scope's entries, then the mocks file's.
    set: EntrySet,
    /// The destination's redis entries, the test scope's first, then in file order.
    entries: Vec<usize>,
    /// The same entries' commands, indexed: the test scope's, then the file's.
    indexes: Vec<Arc<CommandIndex>>,
    /// The entry with `emulate: true`, if any.
    emulated: Option<usize>,
    /// Its emulator.
    shared: Option<Arc<Shared>>,
}

/// What a batch of commands may be answered by.
struct Scope<'a> {
    claim: &'a Claim,
    /// The candidates: a test scope's entries, then the mocks file's.
    set: &'a EntrySet,
    /// The destination's redis entries, the test scope's first, then in file order.
    entries: &'a [usize],
    /// The same entries' commands, indexed: the test scope's, then the file's.
    indexes: &'a [Arc<CommandIndex>],
    /// The entry with `emulate: true`, if any.
    emulated: Option<usize>,
}

/// The [`Backend`] of one batch of commands: command entries, then the emulator.
struct Answerer<'a> {
    engine: &'a Engine,
    scope: &'a Scope<'a>,
    emulator: Option<&'a mut Emulator>,
}

impl Answerer<'_> {
    /// Command entries whose command matches, in file order, whatever their uses left.
    fn matching<'c>(&'c self, cmd: &'c Command) -> impl Iterator<Item = usize> + 'c {
        self.scope
            .indexes
            .iter()
            .flat_map(|index| index.candidates(cmd))
            .filter(move |i| match &redis_entry(self.scope.set, *i).behavior {
                Behavior::Command { matcher, .. } => matcher.check(cmd).is_ok(),
                Behavior::Emulate { .. } => false,
            })
    }

    fn journal(&self, cmd: &Command, action: Action, entry: Option<usize>) -> Event {
        let event = self
            .scope
            .claim
            .event("redis", action)
            .entry(entry)
            .with("command", json!(cmd.to_strings()));
        match self.scope.set.scope() {
            Some(scope) => event.with("scope", json!(scope.name)),
            None => event,
        }
    }

    /// Logs the command in the test scope that holds the destination.
    fn log(&self, cmd: &Command, entry: Option<usize>, miss: Option<&str>) {
        if let Some(scope) = self.scope.set.scope() {
            let pid = self.scope.claim.pid;
            let object = command_object(pid, cmd.to_strings(), entry, miss);
            scope.record(entry, Seen::Object(object));
        }
    }

    /// A command answered by mocket: one request for the report, and one use of the emulated
    /// address's entry when the emulator answered (command entries count in `take_entry`).
    fn mocked(&self, cmd: &Command, entry: Option<usize>) {
        self.log(cmd, entry, None);
        self.engine.count_mocked();
        if let Some(i) = entry.filter(|i| Some(*i) == self.scope.emulated) {
            self.engine.count_use(self.scope.set, i);
        }
        if self.engine.journal.is_on() {
            let event = self.journal(cmd, Action::Mocked, entry);
            self.engine.journal.record(&event);
        }
    }

    fn unmatched(&self, cmd: &Command, why: &str) {
        self.log(cmd, None, Some(why));
        let what = format!("{}: {why}", shown(cmd));
        let event = self
            .journal(cmd, Action::Unmatched, self.scope.emulated)
            .with("reason", json!(why));
        self.engine
            .count_unmatched(self.scope.claim, "redis", what, event);
    }

    /// A command (or `sub`command) the emulator refused as unknown: a gap of the emulator,
    /// which fails the run, only when Redis 7 has it; otherwise the client got the error Redis
    /// gives, as client libraries expect when they probe for commands.
    fn unknown(&self, cmd: &Command, sub: Option<&str>) {
        if spec::redis_has(&cmd.name(), sub) {
            self.unmatched(cmd, NOT_EMULATED);
        } else {
            self.mocked(cmd, self.scope.emulated);
        }
    }

    /// Why no command entry answered, naming the three nearest.
    fn closest(&self, cmd: &Command) -> String {
        let mut misses: Vec<(usize, usize, String)> = Vec::new();
        for &i in self.scope.entries {
            let entry = redis_entry(self.scope.set, i);
            let Behavior::Command { matcher, .. } = &entry.behavior else {
                continue;
            };
            let (closeness, why) = match matcher.check(cmd) {
                Ok(()) => (usize::MAX, used_up(entry)),
                Err(Miss { closeness, why }) => (closeness, why),
            };
            misses.push((closeness, i, format!("#{i} {} ({why})", matcher.describe())));
        }
        if misses.is_empty() {
            return "no redis command entries for this address".into();
        }
        misses.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let listed: Vec<String> = misses.into_iter().take(3).map(|m| m.2).collect();
        format!("closest: {}", listed.join("; "))
    }
}

const NOT_EMULATED: &str = "unknown command: the emulator does not implement it";

fn used_up(entry: &RedisEntry) -> String {
    match entry.times {
        Some(1) => "answered its 1 time".into(),
        Some(n) => format!("answered its {n} times"),
        None => "matches".into(),
    }
}

/// A command as a report shows it: words separated by spaces.
fn shown(cmd: &Command) -> String {
    cmd.to_strings().join(" ")
}

impl Backend for Answerer<'_> {
    /// Unknown commands and arity errors of an emulated address, refused before they run or
    /// queue, as Redis refuses them. Entries-only addresses decide when the command runs.
    fn check(&mut self, cmd: &Command) -> Result<(), Reply> {
        // A command entry may answer what the emulator does not know.
        if self.matching(cmd).next().is_some() {
            return Ok(());
        }
        let Some(emulator) = self.emulator.as_deref_mut() else {
            return Ok(());
        };
        let refusal = emulator.check(cmd);
        if refusal.is_err() {
            match emulator.knows(cmd) {
                true => self.mocked(cmd, self.scope.emulated),
                false => self.unknown(cmd, None),
            }
        }
        refusal
    }

    fn call(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        let candidates: Vec<usize> = self.matching(cmd).collect();
        if let Some((index, used)) = self.engine.take_entry(self.scope.set, candidates) {
            self.mocked(cmd, Some(index));
            let entry = redis_entry(self.scope.set, index);
            return entry.reply(used).expect("command entries reply").clone();
        }
        if let Some(emulator) = self.emulator.as_deref_mut() {
            if emulator.knows(cmd) {
                let reply = emulator.execute(conn, cmd);
                self.mocked(cmd, self.scope.emulated);
                return reply;
            }
            self.unknown(cmd, None);
            return spec::unknown_command(cmd);
        }
        let why = self.closest(cmd);
        self.unmatched(cmd, &why);
        Reply::error(format!(
            "ERR mocket: no redis entry matches '{}' on {}; {why}",
            shown(cmd),
            self.scope.claim.dest
        ))
    }

    fn answered_locally(&mut self, conn: &Connection, cmd: &Command, reply: &Reply) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            Backend::answered_locally(emulator, conn, cmd, reply);
        }
        match (reply, cmd.params().first()) {
            (Reply::Error(e), Some(sub))
                if e.starts_with("ERR unknown subcommand")
                    || e.starts_with(mocket_protocols::redis::conn::TRACKING_NEEDS_EMULATOR) =>
            {
                self.unknown(cmd, Some(&String::from_utf8_lossy(sub)));
            }
            _ => self.mocked(cmd, self.scope.emulated),
        }
    }

    fn drain_pushes(&mut self, conn: &Connection, out: &mut Vec<u8>) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            out.extend(emulator.take_outbox(conn.id));
        }
    }

    fn keyspace(&mut self) -> Vec<String> {
        self.emulator
            .as_deref_mut()
            .map(Emulator::keyspace)
            .unwrap_or_default()
    }

    /// The emulator's statistics and configuration; an idle server's without one.
    fn figures(&mut self) -> mocket_protocols::redis::info::Figures {
        match self.emulator.as_deref_mut() {
            Some(emulator) => emulator.figures(),
            None => Default::default(),
        }
    }

    fn reset(&mut self, conn: &mut Connection) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            Backend::reset(emulator, conn);
        }
    }

    fn watch(&mut self, conn: &Connection, keys: &[Vec<u8>]) -> Result<(), Reply> {
        self.emulator
            .as_deref_mut()
            .map_or(Ok(()), |e| e.watch(conn, keys))
    }

    fn unwatch(&mut self, conn: &Connection) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            emulator.unwatch(conn.id);
        }
    }

    fn retry(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        match self.emulator.as_deref_mut() {
            Some(emulator) => emulator.execute(conn, cmd),
            None => self.call(conn, cmd),
        }
    }

    fn unblock(&mut self, id: u64, error: bool) -> bool {
        self.emulator
            .as_deref_mut()
            .is_some_and(|e| e.unblock(id, error))
    }

    /// An emulated address checks its entry's password and users; a command entries' address
    /// accepts any `AUTH` (DESIGN.md section 6a).
    fn open(&mut self) -> bool {
        self.emulator.as_deref_mut().is_none_or(Backend::open)
    }

    fn authenticate(&mut self, user: Option<&[u8]>, password: &[u8]) -> Result<String, Reply> {
        match self.emulator.as_deref_mut() {
            Some(emulator) => Backend::authenticate(emulator, user, password),
            None => Ok(mocket_protocols::redis::auth::accept_any(user)),
        }
    }

    fn watch_broken(&mut self, conn: &Connection) -> bool {
        self.emulator
            .as_deref()
            .is_some_and(|e| e.watch_broken(conn.id))
    }

    fn clients(&mut self) -> Option<&mut ClientRegistry> {
        self.emulator.as_deref_mut().and_then(Backend::clients)
    }

    fn client_tracking(&mut self, conn: &mut Connection, params: &[Vec<u8>]) -> Reply {
        match self.emulator.as_deref_mut() {
            Some(emulator) => emulator.client_tracking(conn, params),
            None => mocket_protocols::redis::conn::tracking_needs_emulator(&params[0]),
        }
    }

    fn after_reply(&mut self, conn: &Connection, out: &mut Vec<u8>) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            Backend::after_reply(emulator, conn, out);
        }
    }

    fn user_names(&mut self) -> Vec<String> {
        match self.emulator.as_deref_mut() {
            Some(emulator) => emulator.user_names(),
            None => vec![mocket_protocols::redis::auth::DEFAULT_USER.into()],
        }
    }

    fn monitor(&mut self, conn: &Connection, cmd: &Command, ran: bool) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            Backend::monitor(emulator, conn, cmd, ran);
        }
    }

    fn pause(&mut self, timeout_ms: u64, all: bool) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            emulator.pause_clients(timeout_ms, all);
        }
    }

    fn unpause(&mut self) {
        if let Some(emulator) = self.emulator.as_deref_mut() {
            emulator.unpause_clients();
        }
    }

    fn paused_until(
        &mut self,
        conn: &Connection,
        cmd: &Command,
        queued: &[Command],
    ) -> Option<u64> {
        self.emulator
            .as_deref_mut()
            .and_then(|e| e.paused_until(conn, cmd, queued))
    }
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
