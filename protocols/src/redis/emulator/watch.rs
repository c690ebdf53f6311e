//! `WATCH` across connections: which connections watch which keys, and which of them saw a
//! watched key change, so that their `EXEC` aborts with a nil reply as Redis's does.
//!
//! Redis marks a watcher "dirty" whenever a command signals a key as modified. The emulator
//! has no such hook in every command, so it compares: before a write command runs, it copies
//! the watched keys that command names (only those, and only while someone watches them), and
//! after it runs, a key whose value or expiry differs is touched. Commands that Redis signals
//! even when they store an equal value (`SET k same`, `HSET`, `EXPIRE`, ...) touch their keys
//! whenever they succeed.

use std::collections::{HashMap, HashSet};

use super::{Slot, Value};
use crate::redis::reply::Reply;
use crate::redis::spec::Spec;

/// Distinct keys one connection may watch: each costs memory a peer controls. Redis has no
/// limit; a test that watches more keys than this is not a test of optimistic locking.
pub(crate) const MAX_WATCHED_PER_CONNECTION: usize = 100_000;

/// One watched key of a connection.
#[derive(Debug, Clone)]
struct Watched {
    db: usize,
    key: Vec<u8>,
    /// Whether the key held a live value when watched: its expiry before `EXEC` then aborts
    /// the transaction, as in Redis 7.0.
    live: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Watches {
    watchers: HashMap<(usize, Vec<u8>), HashSet<u64>>,
    by_client: HashMap<u64, Vec<Watched>>,
    /// Connections one of whose watched keys changed since it watched it.
    dirty: HashSet<u64>,
}

/// Commands that signal their key modified whenever they succeed, even with an equal value.
const SIGNAL_ON_SUCCESS: &[&str] = &[
    "SET",
    "SETEX",
    "PSETEX",
    "GETSET",
    "MSET",
    "APPEND",
    "SETRANGE",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "INCRBYFLOAT",
    "HSET",
    "HMSET",
    "HINCRBY",
    "HINCRBYFLOAT",
    "LSET",
    "LTRIM",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "RENAME",
    "RENAMENX",
    "LMOVE",
    "RPOPLPUSH",
    "BLMOVE",
    "BRPOPLPUSH",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    // Sorted-set stores signal a non-empty result (checked against redis-server 7.0.15).
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZRANGESTORE",
    // Geo and DUMP/RESTORE (GEORADIUS signals its STORE key only, see `after`).
    "GEOSEARCHSTORE",
    "GEORADIUS",
    "GEORADIUSBYMEMBER",
    "RESTORE",
];

/// Writers whose written keys their spec does not locate (`numkeys` lists, `STORE`/`STREAMS`
/// options, subcommands, other databases): every watched key is compared around them.
const KEYS_ANYWHERE: &[&str] = &[
    "lmpop", "blmpop", "zmpop", "bzmpop", "sort", "swapdb", "copy", "move", "restore",
];

/// Writers that Redis 7.0 never signals, so they never break a `WATCH` although they change
/// the stream: consumer-group state and the stream's last ID (checked against redis-server).
const NEVER_SIGNALED: &[&str] = &[
    "xgroup",
    "xreadgroup",
    "xclaim",
    "xautoclaim",
    "xack",
    "xsetid",
];

/// What a watched key held before a command: `None` when it did not exist.
pub(crate) type Before = Vec<(usize, Vec<u8>, Option<(Value, Option<u64>)>)>;

impl Watches {
    pub(crate) fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// Adds `keys` of `db` to what connection `id` watches; `live` says whether each exists.
    pub(crate) fn watch(
        &mut self,
        id: u64,
        db: usize,
        keys: impl IntoIterator<Item = (Vec<u8>, bool)>,
    ) -> Result<(), Reply> {
        for (key, live) in keys {
            let watchers = self.watchers.entry((db, key.clone())).or_default();
            if !watchers.insert(id) {
                continue;
            }
            let mine = self.by_client.entry(id).or_default();
            if mine.len() >= MAX_WATCHED_PER_CONNECTION {
                watchers.remove(&id);
                if watchers.is_empty() {
                    self.watchers.remove(&(db, key));
                }
                return Err(Reply::error(format!(
                    "ERR mocket: a connection may watch at most {MAX_WATCHED_PER_CONNECTION} \
                     keys; UNWATCH before watching more"
                )));
            }
            mine.push(Watched { db, key, live });
        }
        Ok(())
    }

    /// Forgets what connection `id` watches (`UNWATCH`, `EXEC`, `DISCARD`, disconnect).
    pub(crate) fn unwatch(&mut self, id: u64) {
        self.dirty.remove(&id);
        for w in self.by_client.remove(&id).unwrap_or_default() {
            let slot = (w.db, w.key);
            if let Some(watchers) = self.watchers.get_mut(&slot) {
                watchers.remove(&id);
                if watchers.is_empty() {
                    self.watchers.remove(&slot);
                }
            }
        }
    }

    /// Whether connection `id`'s transaction must abort: a watched key changed, or a key that
    /// was live when watched is gone now (`exists` says whether a key is live).
    pub(crate) fn is_dirty(&self, id: u64, mut exists: impl FnMut(usize, &[u8]) -> bool) -> bool {
        self.dirty.contains(&id)
            || self
                .by_client
                .get(&id)
                .is_some_and(|mine| mine.iter().any(|w| w.live && !exists(w.db, &w.key)))
    }

    /// Marks every watcher of `key` dirty.
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(watchers) = self.watchers.get(&(db, key.to_vec())) {
            self.dirty.extend(watchers.iter().copied());
        }
    }

    /// The watched keys a command may change: its keys by `spec` in `db`, or every watched
    /// key of the flushed databases.
    pub(crate) fn keys_of(
        &self,
        spec: &Spec,
        args: &[Vec<u8>],
        db: usize,
    ) -> Vec<(usize, Vec<u8>)> {
        let name = spec.name;
        if name == "flushall" || name == "flushdb" {
            return self
                .watchers
                .keys()
                .filter(|(d, _)| name == "flushall" || *d == db)
                .cloned()
                .collect();
        }
        written_candidates(
            spec,
            args,
            db,
            |slot| self.watchers.contains_key(slot),
            || self.watchers.keys().cloned().collect(),
        )
    }
}

/// The keys a write command may change that `interested` selects: its keys by `spec` in `db`;
/// for writers whose keys the spec does not locate, `everything` the caller is interested in.
/// Flushes are left to the caller.
pub(crate) fn written_candidates(
    spec: &Spec,
    args: &[Vec<u8>],
    db: usize,
    interested: impl Fn(&(usize, Vec<u8>)) -> bool,
    everything: impl FnOnce() -> Vec<(usize, Vec<u8>)>,
) -> Vec<(usize, Vec<u8>)> {
    let name = spec.name;
    if NEVER_SIGNALED.contains(&name) {
        // `XGROUP CREATE key group id MKSTREAM` signals the stream it creates (`signaled_keys`
        // reports the key only when it did not exist).
        let creates = name == "xgroup"
            && args
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"create"))
            && args[2..]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(b"mkstream"));
        let slot = (db, args.get(2).cloned().unwrap_or_default());
        return (creates && interested(&slot))
            .then_some(slot)
            .into_iter()
            .collect();
    }
    if KEYS_ANYWHERE.contains(&name) {
        return everything();
    }
    if !spec.flags.contains(&"write") {
        return Vec::new();
    }
    key_positions(spec, args)
        .into_iter()
        .map(|i| (db, args[i].clone()))
        .filter(|slot| interested(slot))
        .collect()
}

/// The keys of `before` that the command changed, or that Redis signals as modified anyway
/// (its `signalModifiedKey`), in the order of `before`.
pub(crate) fn signaled_keys(
    args: &[Vec<u8>],
    name: &str,
    reply: &Reply,
    before: Before,
    now: impl Fn(usize, &[u8]) -> Option<(Value, Option<u64>)>,
) -> Vec<(usize, Vec<u8>)> {
    let failed = matches!(reply, Reply::Error(_) | Reply::Nil | Reply::NilArray);
    let refused = (name.contains("EXPIRE") || name == "RENAMENX") && *reply == Reply::Int(0);
    // Renaming a key to itself changes nothing and signals nothing.
    let same_key = name.starts_with("RENAME") && args.get(1) == args.get(2);
    // `SETRANGE key offset ""` writes nothing and signals nothing.
    let no_write = name == "SETRANGE" && args.get(3).is_some_and(|v| v.is_empty());
    let succeeded = !failed && !refused && !same_key && !no_write;
    // BITOP stores a non-empty result with a signal, whatever the destination held.
    let bitop_stored = name == "BITOP" && !matches!(reply, Reply::Int(0));
    // COPY signals its destination whenever it copies.
    let copied = name == "COPY" && *reply == Reply::Int(1);
    let signals = succeeded && (SIGNAL_ON_SUCCESS.contains(&name) || bitop_stored || copied);
    // A `*STORE` command writes its destination only, whatever its sources.
    // GEORADIUS writes the key of its STORE option, if any, and no other.
    let radius_store = super::geo::radius_store_key(name, args);
    let written = |key: &[u8]| match radius_store {
        Some(store) => store.is_some_and(|i| args[i] == key),
        None if name == "BITOP" || name == "COPY" => args.get(2).is_some_and(|d| d == key),
        None => !name.ends_with("STORE") || args.get(1).is_some_and(|d| d == key),
    };
    // `SWAPDB` signals every watched key of both databases that exists in either.
    let swapped_db = |db: usize| {
        name == "SWAPDB"
            && succeeded
            && args[1..]
                .iter()
                .any(|index| crate::redis::command::strict_i64(index) == Some(db as i64))
    };
    let mut signaled = Vec::new();
    for (db, key, old) in before {
        let new = now(db, &key);
        if name == "XGROUP" {
            if old.is_none() && new.is_some() {
                signaled.push((db, key));
            }
            continue;
        }
        let swapped = swapped_db(db) && (old.is_some() || new.is_some());
        if old != new || swapped || (signals && new.is_some() && written(&key)) {
            signaled.push((db, key));
        }
    }
    signaled
}

/// The live content of a slot, as the comparison sees it.
pub(crate) fn content(slot: Option<&Slot>, now: u64) -> Option<(Value, Option<u64>)> {
    slot.filter(|s| s.expires_at.is_none_or(|t| t > now))
        .map(|s| (s.value.clone(), s.expires_at))
}

/// The indexes of a command's keys in `args` (name first), by Redis's key specs.
pub(super) fn key_positions(spec: &Spec, args: &[Vec<u8>]) -> Vec<usize> {
    spec.key_indexes(args)
}
