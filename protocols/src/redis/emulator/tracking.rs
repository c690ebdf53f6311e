//! Client-side caching as Redis 7.0 does it: `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT
//! GETREDIR`, `CLIENT TRACKINGINFO`, and the invalidation messages.
//!
//! A tracking connection in the default mode has the keys its read-only commands read
//! remembered in one table shared by every connection (by key name, whatever the database, as
//! in Redis); when any connection of the emulator changes, deletes or expires such a key, each
//! connection that read it is told once and the key leaves the table. In `BCAST` mode a
//! connection registers prefixes instead and hears of every changed key starting with one of
//! them, batched per prefix after the command, as Redis batches them before it sleeps.
//! `FLUSHDB`/`FLUSHALL` tell every tracking connection with a null invalidation.
//!
//! A RESP3 connection gets `invalidate` pushes itself; with `REDIRECT id`, connection `id` gets
//! them: as pushes in RESP3, as `__redis__:invalidate` pub/sub messages in RESP2 while it is
//! subscribed. Messages for other connections wait in the pub/sub outbox (bounded as a
//! subscriber's), and the invalidations of keys a connection changed itself follow its reply.

use std::collections::{BTreeMap, BTreeSet};

use super::watch::{key_positions, written_candidates};
use super::{Emulator, is};
use crate::redis::clients::TrackingView;
use crate::redis::command::{Command, strict_i64};
use crate::redis::conn::{Connection, DATABASES};
use crate::redis::info::Figures;
use crate::redis::reply::{Protocol, Reply};
use crate::redis::spec::{self, Spec};

/// The pub/sub channel a RESP2 redirect target receives invalidations on.
pub(crate) const CHANNEL: &str = "__redis__:invalidate";

/// Keys the table holds when `tracking-table-max-keys` is 0 (no limit in Redis): past it, keys
/// are invalidated to make room, as past the configured limit.
pub(crate) const MAX_TRACKED_KEYS: usize = 1_000_000;

/// `BCAST` prefixes one connection may register: each costs memory a peer controls, and every
/// write is matched against all of them. Redis has no limit.
pub(crate) const MAX_PREFIXES_PER_CONNECTION: usize = 10_000;

/// Connections remembered for one key before those no longer tracking are dropped from it.
const PRUNE_AT: usize = 64;

/// Tracked keys checked for expiry before each command, resuming where the last check ended:
/// Redis's active expiry invalidates expired keys without anyone reading them.
const EXPIRY_SWEEP: usize = 64;

/// Keys that expired on access during one command, kept for invalidation after it.
const MAX_EXPIRED_PENDING: usize = 100_000;

/// Read-only commands whose keys Redis does not remember: scripts track the commands they run.
const NOT_TRACKED: &[&str] = &["eval_ro", "evalsha_ro", "fcall_ro"];

/// One connection's `CLIENT TRACKING on` options.
#[derive(Debug, Clone, Default)]
struct Tracker {
    /// The connection that receives the invalidations; 0: this one.
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    /// The redirect target was gone when an invalidation was due.
    broken_redirect: bool,
    prefixes: BTreeSet<Vec<u8>>,
}

/// The connections listening to one `BCAST` prefix, and the keys changed since the last
/// broadcast with the connection that last changed each (for `NOLOOP`).
#[derive(Debug, Default)]
struct Prefix {
    listeners: BTreeSet<u64>,
    changed: BTreeMap<Vec<u8>, u64>,
}

/// What an invalidation names: keys, or everything (a flush).
#[derive(Debug, Clone)]
enum Invalidated {
    Keys(Vec<Vec<u8>>),
    All,
}

#[derive(Debug, Default)]
pub(super) struct Tracking {
    /// The connections with tracking on, by id.
    trackers: BTreeMap<u64, Tracker>,
    /// Key name to the connections that read it since it last changed. Connections that turned
    /// tracking off stay listed until the key changes, as in Redis.
    table: BTreeMap<Vec<u8>, BTreeSet<u64>>,
    /// Entries of all the sets of `table`: `tracking_total_items`.
    items: usize,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
    /// Invalidations for the running connection, sent after its reply (`None`: a flush).
    after_reply: Vec<(u64, Option<Vec<u8>>)>,
    /// Keys that expired on access during the running command.
    expired: Vec<Vec<u8>>,
    /// Where the next expiry sweep of the table starts.
    sweep_from: Vec<u8>,
}

impl Tracking {
    /// Whether writes must be watched: someone tracks, or the table still holds keys.
    pub(super) fn is_active(&self) -> bool {
        !self.trackers.is_empty() || !self.table.is_empty()
    }

    /// Notes a key deleted because it expired, for invalidation after the command.
    pub(super) fn expired(&mut self, key: &[u8]) {
        if self.is_active() && self.expired.len() < MAX_EXPIRED_PENDING {
            self.expired.push(key.to_vec());
        }
    }

    /// Whether a change of `key` concerns anyone: someone read it, or a prefix matches it.
    fn interested(&self, key: &[u8]) -> bool {
        self.table.contains_key(key) || self.prefixes.keys().any(|p| key.starts_with(p))
    }

    /// Remembers that connection `id` read `key`.
    fn remember(&mut self, key: &[u8], id: u64) {
        let readers = self.table.entry(key.to_vec()).or_default();
        if readers.insert(id) {
            self.items += 1;
        }
        if readers.len() > PRUNE_AT {
            let before = readers.len();
            readers.retain(|r| self.trackers.get(r).is_some_and(|t| !t.bcast));
            self.items -= before - readers.len();
        }
    }

    /// `tracking_total_prefixes`: distinct prefixes of all `BCAST` connections.
    fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// Drops `id` from the listeners of its prefixes, and the prefixes nobody listens to.
    fn drop_prefixes(&mut self, id: u64, prefixes: &BTreeSet<Vec<u8>>) {
        for prefix in prefixes {
            if let Some(state) = self.prefixes.get_mut(prefix) {
                state.listeners.remove(&id);
                if state.listeners.is_empty() {
                    self.prefixes.remove(prefix);
                }
            }
        }
    }
}

/// The options of one `CLIENT TRACKING` command.
#[derive(Debug, Default)]
struct TrackingOptions {
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<Vec<u8>>,
}

impl Emulator {
    /// `CLIENT TRACKING|CACHING|GETREDIR|TRACKINGINFO`; `params` starts with the subcommand,
    /// whose arity the connection checked.
    pub fn client_tracking(&mut self, conn: &mut Connection, params: &[Vec<u8>]) -> Reply {
        let sub = &params[0];
        if is(sub, "tracking") {
            self.tracking_command(conn, &params[1..])
        } else if is(sub, "caching") {
            self.caching(conn, &params[1])
        } else if is(sub, "getredir") {
            let redirect = self.tracking.trackers.get(&conn.id).map(|t| t.redirect);
            Reply::Int(redirect.map_or(-1, |r| r as i64))
        } else {
            self.tracking_info(conn)
        }
    }

    /// `CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT] [NOLOOP]`,
    /// with Redis's checks in Redis's order.
    fn tracking_command(&mut self, conn: &mut Connection, params: &[Vec<u8>]) -> Reply {
        let options = match self.tracking_options(&params[1..]) {
            Ok(options) => options,
            Err(refusal) => return refusal,
        };
        if is(&params[0], "off") {
            self.disable_tracking(conn.id);
            conn.tracking_caching = false;
            return Reply::ok();
        }
        if !is(&params[0], "on") {
            return Reply::error(super::SYNTAX);
        }
        let quirk = match self.check_enable(conn.id, &options) {
            Ok(quirk) => quirk,
            Err(refusal) => return refusal,
        };
        self.enable_tracking(conn.id, options);
        match quirk {
            Some(error) => Reply::Several(vec![error, Reply::ok()]),
            None => Reply::ok(),
        }
    }

    fn tracking_options(&self, words: &[Vec<u8>]) -> Result<TrackingOptions, Reply> {
        let mut options = TrackingOptions::default();
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let more = words.len() > 0;
            if is(word, "redirect") && more {
                if options.redirect != 0 {
                    return Err(Reply::error(
                        "ERR A client can only redirect to a single other client",
                    ));
                }
                let id = words.next().expect("checked: a word follows");
                let id = strict_i64(id).ok_or_else(|| Reply::error(super::NOT_INTEGER))?;
                let exists = u64::try_from(id).is_ok_and(|id| self.clients.contains(id));
                if !exists {
                    return Err(Reply::error(
                        "ERR The client ID you want redirect to does not exist",
                    ));
                }
                options.redirect = id as u64;
            } else if is(word, "bcast") {
                options.bcast = true;
            } else if is(word, "optin") {
                options.optin = true;
            } else if is(word, "optout") {
                options.optout = true;
            } else if is(word, "noloop") {
                options.noloop = true;
            } else if is(word, "prefix") && more {
                let prefix = words.next().expect("checked: a word follows");
                options.prefixes.push(prefix.clone());
            } else {
                return Err(Reply::error(super::SYNTAX));
            }
        }
        Ok(options)
    }

    /// Whether `options` may turn tracking on for connection `id` in its current state;
    /// `Ok(Some(error))` when Redis 7.0 replies the error and turns tracking on all the same.
    fn check_enable(&self, id: u64, options: &TrackingOptions) -> Result<Option<Reply>, Reply> {
        let current = self.tracking.trackers.get(&id);
        if !options.bcast && !options.prefixes.is_empty() {
            return Err(Reply::error(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if current.is_some_and(|t| t.bcast != options.bcast) {
            return Err(Reply::error(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this \
                 client, and then re-enabling it with a different mode.",
            ));
        }
        if options.bcast && (options.optin || options.optout) {
            return Err(Reply::error(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if options.optin && options.optout {
            return Err(Reply::error(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if current.is_some_and(|t| (options.optin && t.optout) || (options.optout && t.optin)) {
            return Err(Reply::error(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this \
                 client, and then re-enabling it with a different mode.",
            ));
        }
        let mut quirk = None;
        if options.bcast {
            let existing = current.map(|t| &t.prefixes);
            quirk = check_prefix_collisions(existing, &options.prefixes)?;
            let total = existing.map_or(0, BTreeSet::len) + options.prefixes.len().max(1);
            if total > MAX_PREFIXES_PER_CONNECTION {
                return Err(Reply::error(format!(
                    "ERR mocket: a connection may track at most {MAX_PREFIXES_PER_CONNECTION} \
                     BCAST prefixes; turn tracking off and on again with fewer, or use \
                     shorter common prefixes"
                )));
            }
        }
        Ok(quirk)
    }

    /// Redis's `enableTracking`: the mode flags and the redirect are replaced, prefixes added.
    fn enable_tracking(&mut self, id: u64, options: TrackingOptions) {
        let tracker = self.tracking.trackers.entry(id).or_default();
        tracker.redirect = options.redirect;
        tracker.broken_redirect = false;
        tracker.bcast = options.bcast;
        tracker.optin = options.optin;
        tracker.optout = options.optout;
        tracker.noloop = options.noloop;
        if options.bcast {
            let mut prefixes = options.prefixes;
            if prefixes.is_empty() {
                prefixes.push(Vec::new());
            }
            for prefix in prefixes {
                tracker.prefixes.insert(prefix.clone());
                let state = self.tracking.prefixes.entry(prefix).or_default();
                state.listeners.insert(id);
            }
        }
        self.show_tracking(id);
    }

    /// Turns tracking off for connection `id` (`CLIENT TRACKING off`, `RESET`, disconnect).
    pub(super) fn disable_tracking(&mut self, id: u64) {
        let Some(tracker) = self.tracking.trackers.remove(&id) else {
            return;
        };
        self.tracking.drop_prefixes(id, &tracker.prefixes);
        self.show_tracking(id);
    }

    /// Mirrors connection `id`'s tracking state into `CLIENT LIST`.
    fn show_tracking(&mut self, id: u64) {
        let view = match self.tracking.trackers.get(&id) {
            None => TrackingView::default(),
            Some(t) => {
                let mut flags = String::from("t");
                if t.broken_redirect {
                    flags.push('R');
                }
                if t.bcast {
                    flags.push('B');
                }
                TrackingView {
                    flags,
                    redir: t.redirect as i64,
                }
            }
        };
        if self.clients.contains(id) {
            self.clients.set_tracking(id, view);
        }
    }

    /// `CLIENT CACHING yes|no`: whether the next command's keys are tracked (OPTIN/OPTOUT).
    fn caching(&mut self, conn: &mut Connection, choice: &[u8]) -> Reply {
        let Some(tracker) = self.tracking.trackers.get(&conn.id) else {
            return Reply::error(
                "ERR CLIENT CACHING can be called only when the client is in tracking mode with \
                 OPTIN or OPTOUT mode enabled",
            );
        };
        if is(choice, "yes") {
            if !tracker.optin {
                return Reply::error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
            }
        } else if is(choice, "no") {
            if !tracker.optout {
                return Reply::error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
            }
        } else {
            return Reply::error(super::SYNTAX);
        }
        conn.tracking_caching = true;
        Reply::ok()
    }

    /// `CLIENT TRACKINGINFO`: flags, redirect and prefixes.
    fn tracking_info(&self, conn: &Connection) -> Reply {
        let tracker = self.tracking.trackers.get(&conn.id);
        let mut flags = vec![if tracker.is_some() { "on" } else { "off" }];
        if let Some(t) = tracker {
            let caching = conn.tracking_caching;
            for (set, flag) in [
                (t.bcast, "bcast"),
                (t.optin, "optin"),
                (t.optin && caching, "caching-yes"),
                (t.optout, "optout"),
                (t.optout && caching, "caching-no"),
                (t.noloop, "noloop"),
                (t.broken_redirect, "broken_redirect"),
            ] {
                if set {
                    flags.push(flag);
                }
            }
        }
        let redirect = tracker.map_or(-1, |t| t.redirect as i64);
        let prefixes = tracker.map(|t| t.prefixes.iter()).into_iter().flatten();
        Reply::Map(vec![
            (
                Reply::bulk("flags"),
                Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
            ),
            (Reply::bulk("redirect"), Reply::Int(redirect)),
            (Reply::bulk("prefixes"), Reply::bulks(prefixes)),
        ])
    }

    /// The keys a write command may change that a tracking connection cares about: its keys,
    /// or, for writers whose keys the spec does not locate, any word of it in any database.
    pub(super) fn tracking_candidates(
        &self,
        spec: &Spec,
        args: &[Vec<u8>],
        db: usize,
    ) -> Vec<(usize, Vec<u8>)> {
        if spec.name == "flushall" || spec.name == "flushdb" {
            return Vec::new();
        }
        let tracking = &self.tracking;
        written_candidates(
            spec,
            args,
            db,
            |(_, key)| tracking.interested(key),
            || {
                args[1..]
                    .iter()
                    .filter(|word| tracking.interested(word))
                    .flat_map(|word| (0..DATABASES).map(move |db| (db, word.clone())))
                    .collect()
            },
        )
    }

    /// Invalidates the keys a command of connection `current` changed.
    pub(super) fn invalidate_signaled(&mut self, signaled: Vec<(usize, Vec<u8>)>, current: u64) {
        for (_, key) in signaled {
            self.invalidate(&key, current, true, true);
        }
    }

    /// Redis's `trackingInvalidateKey`: tells the connections that read `key` (and, when
    /// `broadcast`, queues it for the `BCAST` prefixes that match it, as changed by `current`),
    /// then forgets who read it. `current` runs the command (0: none); when `during_command`,
    /// its own invalidation waits until after its reply.
    fn invalidate(&mut self, key: &[u8], current: u64, during_command: bool, broadcast: bool) {
        if broadcast {
            for (prefix, state) in self.tracking.prefixes.iter_mut() {
                if key.starts_with(prefix) {
                    state.changed.insert(key.to_vec(), current);
                }
            }
        }
        let Some(readers) = self.tracking.table.remove(key) else {
            return;
        };
        self.tracking.items -= readers.len();
        for id in readers {
            let Some(tracker) = self.tracking.trackers.get(&id) else {
                continue;
            };
            if tracker.bcast || (tracker.noloop && id == current) {
                continue;
            }
            if id == current && during_command {
                self.tracking.after_reply.push((id, Some(key.to_vec())));
            } else {
                self.send_invalidation(id, Invalidated::Keys(vec![key.to_vec()]), current);
            }
        }
    }

    /// Redis's `sendTrackingMessage`: an invalidation for tracking connection `id`, sent to it
    /// or to its redirect target; `tracking-redir-broken` when that target is gone.
    fn send_invalidation(&mut self, id: u64, what: Invalidated, current: u64) {
        let Some(tracker) = self.tracking.trackers.get_mut(&id) else {
            return;
        };
        let own = self.clients.delivery(id);
        let redirect = tracker.redirect;
        let mut target = (id, own);
        if redirect != 0 {
            let Some(delivery) = self.clients.delivery(redirect) else {
                tracker.broken_redirect = true;
                self.show_tracking(id);
                if own.is_some_and(|(resp, _)| resp == 3) {
                    let broken = Reply::Push(vec![
                        Reply::bulk("tracking-redir-broken"),
                        Reply::Int(redirect as i64),
                    ]);
                    self.pubsub
                        .push_to(id, current, Protocol::Resp3, &broken, self.now);
                }
                return;
            };
            target = (redirect, Some(delivery));
        }
        let (to, Some((resp, subscribed))) = target else {
            return;
        };
        let body = match what {
            Invalidated::Keys(keys) => Reply::bulks(keys),
            Invalidated::All => Reply::Nil,
        };
        let (message, protocol) = if resp == 3 {
            (
                Reply::Push(vec![Reply::bulk("invalidate"), body]),
                Protocol::Resp3,
            )
        } else if redirect != 0 && subscribed {
            let message = vec![Reply::bulk("message"), Reply::bulk(CHANNEL), body];
            (Reply::Push(message), Protocol::Resp2)
        } else {
            // RESP2 has no pushes on a connection that is not subscribed: nothing is sent.
            return;
        };
        self.pubsub
            .push_to(to, current, protocol, &message, self.now);
    }

    /// Before a command: keeps the table within `tracking-table-max-keys`, and invalidates
    /// tracked keys that expired, as Redis does before each command and in its cron.
    pub(super) fn tracking_before_command(&mut self, current: u64) {
        if self.tracking.table.is_empty() {
            return;
        }
        let configured = usize::try_from(self.admin.config.int("tracking-table-max-keys"));
        let max = match configured {
            Ok(0) | Err(_) => MAX_TRACKED_KEYS,
            Ok(n) => n.min(MAX_TRACKED_KEYS),
        };
        while self.tracking.table.len() > max {
            let key = self
                .tracking
                .table
                .keys()
                .next()
                .cloned()
                .expect("not empty");
            self.invalidate(&key, current, false, false);
        }
        self.sweep_expired();
    }

    /// Deletes and invalidates up to [`EXPIRY_SWEEP`] tracked keys that expired, as Redis's
    /// active expiry does between commands (so no connection is the one that changed them).
    fn sweep_expired(&mut self) {
        let from = std::mem::take(&mut self.tracking.sweep_from);
        let table = &self.tracking.table;
        let due: Vec<Vec<u8>> = table
            .range(from.clone()..)
            .chain(table.range(..from))
            .take(EXPIRY_SWEEP)
            .map(|(key, _)| key.clone())
            .collect();
        if let Some(last) = due.last() {
            self.tracking.sweep_from = [last.as_slice(), b"\0"].concat();
        }
        let now = self.now;
        for key in due {
            for db in 0..DATABASES {
                let expired = self.dbs[db]
                    .get(&key)
                    .is_some_and(|s| s.expires_at.is_some_and(|t| t <= now));
                if expired {
                    self.dbs[db].remove(&key);
                    self.admin.stats.expired_keys += 1;
                    self.invalidate(&key, 0, false, true);
                }
            }
        }
    }

    /// After a command: invalidates the keys it expired on access and the whole table after a
    /// flush, and remembers the keys it read for a tracking connection.
    pub(super) fn tracking_after_command(
        &mut self,
        conn: &Connection,
        cmd: &Command,
        reply: &Reply,
    ) {
        for key in std::mem::take(&mut self.tracking.expired) {
            self.invalidate(&key, conn.id, true, true);
        }
        let Some(spec) = spec::find(&cmd.name()) else {
            return;
        };
        let flushed = matches!(spec.name, "flushall" | "flushdb") && *reply == Reply::ok();
        if flushed {
            self.invalidate_all(conn.id);
        }
        let Some(tracker) = self.tracking.trackers.get(&conn.id) else {
            return;
        };
        let reads = spec.flags.contains(&"readonly")
            && !spec.flags.contains(&"pubsub")
            && !NOT_TRACKED.contains(&spec.name);
        let wanted = if tracker.optin {
            conn.tracking_caching
        } else {
            !(tracker.optout && conn.tracking_caching)
        };
        if !reads || tracker.bcast || !wanted {
            return;
        }
        for i in key_positions(spec, &cmd.args) {
            self.tracking.remember(&cmd.args[i], conn.id);
        }
    }

    /// Redis's `trackingInvalidateKeysOnFlush`: a null invalidation for every tracking
    /// connection (after the reply for the one that flushed), and an empty table.
    fn invalidate_all(&mut self, current: u64) {
        let ids: Vec<u64> = self.tracking.trackers.keys().copied().collect();
        for id in ids {
            if id == current {
                self.tracking.after_reply.push((id, None));
            } else {
                self.send_invalidation(id, Invalidated::All, current);
            }
        }
        self.tracking.table.clear();
        self.tracking.items = 0;
    }

    /// What follows connection `id`'s reply: its own invalidations, then the `BCAST`
    /// invalidations of the keys changed since the last broadcast.
    pub fn after_reply(&mut self, id: u64, out: &mut Vec<u8>) {
        for (tracker, key) in std::mem::take(&mut self.tracking.after_reply) {
            let what = key.map_or(Invalidated::All, |k| Invalidated::Keys(vec![k]));
            self.send_invalidation(tracker, what, id);
        }
        self.broadcast(id);
        out.extend(self.pubsub.take_outbox(id));
    }

    /// Redis's `trackingBroadcastInvalidationMessages`: per prefix, one message with the
    /// changed keys to each listener (without its own changes under `NOLOOP`).
    fn broadcast(&mut self, current: u64) {
        let mut messages = Vec::new();
        for state in self.tracking.prefixes.values_mut() {
            if state.changed.is_empty() {
                continue;
            }
            let changed = std::mem::take(&mut state.changed);
            for &listener in &state.listeners {
                let noloop = self
                    .tracking
                    .trackers
                    .get(&listener)
                    .is_some_and(|t| t.noloop);
                let keys: Vec<Vec<u8>> = changed
                    .iter()
                    .filter(|(_, by)| !noloop || **by != listener)
                    .map(|(key, _)| key.clone())
                    .collect();
                if !keys.is_empty() {
                    messages.push((listener, keys));
                }
            }
        }
        for (listener, keys) in messages {
            self.send_invalidation(listener, Invalidated::Keys(keys), current);
        }
    }

    /// `INFO`'s tracking figures.
    pub(super) fn tracking_figures(&self, figures: &mut Figures) {
        figures.tracking_clients = self.tracking.trackers.len();
        figures.tracking_total_keys = self.tracking.table.len();
        figures.tracking_total_items = self.tracking.items;
        figures.tracking_total_prefixes = self.tracking.prefix_count();
    }
}

/// Redis's `checkPrefixCollisionsOrReply`: no new prefix may be a prefix of another, given or
/// registered before. Redis 7.0 returns the index of the prefix when two given prefixes
/// overlap, which its caller takes for success unless it is the first: then the error is
/// `Ok(Some(error))`, replied before the `OK` of tracking turned on with every prefix.
fn check_prefix_collisions(
    existing: Option<&BTreeSet<Vec<u8>>>,
    given: &[Vec<u8>],
) -> Result<Option<Reply>, Reply> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, prefix) in given.iter().enumerate() {
        if let Some(old) = existing
            .into_iter()
            .flatten()
            .find(|old| overlap(old, prefix))
        {
            return Err(Reply::error(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single \
                 client must not overlap.",
                text(prefix),
                text(old)
            )));
        }
        if let Some(other) = given[i + 1..].iter().find(|other| overlap(prefix, other)) {
            let error = Reply::error(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                 single client must not overlap.",
                text(prefix),
                text(other)
            ));
            return if i == 0 { Err(error) } else { Ok(Some(error)) };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
