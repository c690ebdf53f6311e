//! Blocking commands: `BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`, `BZPOPMIN`, `BZPOPMAX`, and
//! `CLIENT UNBLOCK`.
//!
//! Sans-IO: a command that finds nothing to take marks its connection blocked (with its
//! deadline) and answers nothing; the [`Session`](crate::redis::Session) holds the command and
//! the driver retries it when data changed, when the deadline passes, or after `CLIENT
//! UNBLOCK`. Waiters are served in the order they blocked, per key, as in Redis. Inside
//! `MULTI`/`EXEC` and scripts these commands never block: they answer nil at once.

use super::{Emulator, Handler, WRONGTYPE, float_arg, lists, streams, zsets};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "BLPOP" | "BRPOP" => blpop,
        "BLMOVE" | "BRPOPLPUSH" => blmove,
        "BZPOPMIN" | "BZPOPMAX" => bzpop,
        _ => return None,
    })
}

/// Where a connection waits: its blocked command's database and keys.
#[derive(Debug, Clone)]
struct Waiter {
    id: u64,
    db: usize,
    keys: Vec<Vec<u8>>,
}

/// The blocked connections in the order they blocked, and `CLIENT UNBLOCK` requests.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    queue: Vec<Waiter>,
    /// Connection id -> whether `CLIENT UNBLOCK` asked for an error (else a timeout).
    unblock: std::collections::HashMap<u64, bool>,
    /// Where each blocked `XREAD`/`XREADGROUP` reads from, fixed when it blocked (`$` is the
    /// last ID then, not at the retry).
    stream_starts: std::collections::HashMap<u64, Vec<streams::ReadStart>>,
}

impl Waiters {
    /// Whether a connection that blocked before `id` waits for `key` of `db`: it is served
    /// first.
    pub(super) fn earlier_waiter(&self, id: u64, db: usize, key: &[u8]) -> bool {
        self.queue
            .iter()
            .take_while(|w| w.id != id)
            .any(|w| w.db == db && w.keys.iter().any(|k| k == key))
    }

    fn register(&mut self, id: u64, db: usize, keys: &[Vec<u8>]) {
        if !self.queue.iter().any(|w| w.id == id) {
            self.queue.push(Waiter {
                id,
                db,
                keys: keys.to_vec(),
            });
        }
    }

    /// How many connections wait (`INFO clients`' `blocked_clients`).
    pub(super) fn blocked(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn forget(&mut self, id: u64) {
        self.queue.retain(|w| w.id != id);
        self.unblock.remove(&id);
        self.stream_starts.remove(&id);
    }

    /// The read starts a blocked stream read fixed when it blocked.
    pub(super) fn stream_starts(&self, id: u64) -> Option<Vec<streams::ReadStart>> {
        self.stream_starts.get(&id).cloned()
    }

    pub(super) fn fix_stream_starts(&mut self, id: u64, starts: Vec<streams::ReadStart>) {
        self.stream_starts.insert(id, starts);
    }

    /// A connection blocked on no key (`WAIT`): only its deadline or `CLIENT UNBLOCK` ends it.
    pub(super) fn register_keyless(&mut self, id: u64, db: usize) {
        self.register(id, db, &[]);
    }

    /// `CLIENT UNBLOCK id`: whether `id` was blocked.
    pub(super) fn request_unblock(&mut self, id: u64, error: bool) -> bool {
        // A connection already asked to unblock is no longer blocked for Redis.
        let blocked = self.queue.iter().any(|w| w.id == id) && !self.unblock.contains_key(&id);
        if blocked {
            self.unblock.insert(id, error);
        }
        blocked
    }
}

/// The timeout argument, in milliseconds (`None`: forever), with Redis's errors.
pub(super) fn timeout_ms(arg: &[u8], now: u64) -> Result<Option<u64>, Reply> {
    let Some(seconds) = float_arg(arg) else {
        return Err(Reply::error("ERR timeout is not a float or out of range"));
    };
    let ms = seconds * 1000.0;
    // Redis adds the time now and finds a deadline past the largest one "negative".
    if seconds < 0.0 || !ms.is_finite() || ms + now as f64 >= i64::MAX as f64 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok((ms > 0.0).then(|| ms.ceil() as u64))
}

/// A timeout in whole milliseconds (`XREAD BLOCK`), with Redis's errors; 0 waits forever.
pub(super) fn timeout_ms_integer(arg: &[u8]) -> Result<u64, Reply> {
    match crate::redis::command::strict_i64(arg) {
        None => Err(Reply::error(
            "ERR timeout is not an integer or out of range",
        )),
        Some(ms) if ms < 0 => Err(Reply::error("ERR timeout is negative")),
        Some(ms) => Ok(ms as u64),
    }
}

/// Nothing to take: block (or go on blocking), time out, or answer nil when the connection
/// may not block.
pub(super) fn wait(
    em: &mut Emulator,
    conn: &mut Connection,
    keys: &[Vec<u8>],
    timeout: Option<u64>,
) -> Reply {
    if conn.no_block {
        return Reply::NilArray;
    }
    let deadline = match &conn.blocked {
        Some(blocked) => blocked.deadline,
        None => timeout.map(|ms| em.now.saturating_add(ms)),
    };
    if deadline.is_some_and(|d| em.now >= d) {
        return done(em, conn, Reply::NilArray);
    }
    conn.blocked = Some(crate::redis::conn::Blocked { deadline });
    em.waiters.register(conn.id, conn.db, keys);
    Reply::NilArray
}

/// The connection stops waiting, with `reply`.
pub(super) fn done(em: &mut Emulator, conn: &mut Connection, reply: Reply) -> Reply {
    conn.blocked = None;
    em.waiters.forget(conn.id);
    reply
}

/// A `CLIENT UNBLOCK` for this blocked connection, answered as Redis answers it.
pub(super) fn unblocked(em: &mut Emulator, conn: &mut Connection) -> Option<Reply> {
    conn.blocked?;
    let error = em.waiters.unblock.remove(&conn.id)?;
    let reply = if error {
        Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    } else {
        Reply::NilArray
    };
    Some(done(em, conn, reply))
}

/// The first of `keys` holding something `fits` accepts and no earlier waiter waits for:
/// `Ok(None)` when there is none, WRONGTYPE when a key holds another type.
fn first_ready(
    em: &mut Emulator,
    conn: &Connection,
    keys: &[Vec<u8>],
    fits: fn(&super::Value) -> bool,
) -> Result<Option<Vec<u8>>, Reply> {
    for key in keys {
        let Some(value) = em.value(conn.db, key) else {
            continue;
        };
        if !fits(value) {
            return Err(Reply::error(WRONGTYPE));
        }
        if !em.waiters.earlier_waiter(conn.id, conn.db, key) {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

/// What every blocking command does around its own pop: reads the timeout (the last
/// argument), answers a `CLIENT UNBLOCK`, then takes from the first of `keys` that `fits`
/// accepts, or blocks the connection on them.
fn pop_or_wait(
    em: &mut Emulator,
    conn: &mut Connection,
    args: &[Vec<u8>],
    keys: &[Vec<u8>],
    fits: fn(&super::Value) -> bool,
    take: impl FnOnce(&mut Emulator, &Connection, Vec<u8>) -> Reply,
) -> Reply {
    pop_or_wait_with(em, conn, &args[args.len() - 1], keys, fits, take)
}

/// [`pop_or_wait`] for a command whose timeout is not its last argument (`BLMPOP`, `BZMPOP`).
pub(super) fn pop_or_wait_with(
    em: &mut Emulator,
    conn: &mut Connection,
    timeout: &[u8],
    keys: &[Vec<u8>],
    fits: fn(&super::Value) -> bool,
    take: impl FnOnce(&mut Emulator, &Connection, Vec<u8>) -> Reply,
) -> Reply {
    let timeout = match timeout_ms(timeout, em.now) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if let Some(reply) = unblocked(em, conn) {
        return reply;
    }
    match first_ready(em, conn, keys, fits) {
        Err(e) => done(em, conn, e),
        Ok(None) => wait(em, conn, keys, timeout),
        Ok(Some(key)) => {
            let reply = take(em, conn, key);
            done(em, conn, reply)
        }
    }
}

/// `BLPOP key [key ...] timeout` and `BRPOP`.
fn blpop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let left = super::is(&args[0], "BLPOP");
    let keys = &args[1..args.len() - 1];
    pop_or_wait(em, conn, args, keys, lists::is_list, |em, conn, key| {
        let element = em
            .value(conn.db, &key)
            .and_then(|v| lists::pop_end(v, left))
            .expect("a non-empty list");
        em.drop_if_empty(conn.db, &key);
        Reply::bulks([key, element])
    })
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout` and `BRPOPLPUSH source
/// destination timeout`.
fn blmove(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let ends = if super::is(&args[0], "BRPOPLPUSH") {
        Some((false, true))
    } else {
        lists::end_arg(&args[3]).zip(lists::end_arg(&args[4]))
    };
    let Some(ends) = ends else {
        return Reply::error(super::SYNTAX);
    };
    pop_or_wait(
        em,
        conn,
        args,
        &args[1..2],
        lists::is_list,
        |em, conn, _| lists::move_element(em, conn.db, (&args[1], &args[2]), ends),
    )
}

/// `BZPOPMIN key [key ...] timeout` and `BZPOPMAX`.
fn bzpop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let max = super::is(&args[0], "BZPOPMAX");
    let keys = &args[1..args.len() - 1];
    pop_or_wait(em, conn, args, keys, zsets::is_zset, |em, conn, key| {
        let (member, score) = em
            .value(conn.db, &key)
            .and_then(|v| zsets::pop_extreme(v, max))
            .expect("a non-empty sorted set");
        em.drop_if_empty(conn.db, &key);
        Reply::Array(vec![
            Reply::Bulk(key),
            Reply::Bulk(member),
            Reply::Double(score),
        ])
    })
}
