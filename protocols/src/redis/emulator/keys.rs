//! Key space commands: DEL, EXISTS, expiry, KEYS, SCAN, TYPE, RENAME, FLUSHDB, DBSIZE, TIME.

use super::{Emulator, Handler, SYNTAX, int_arg, is};
use crate::redis::conn::{Connection, DATABASES};
use crate::redis::glob;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "DEL" | "UNLINK" => del,
        "EXISTS" => exists,
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => expire,
        "EXPIRETIME" | "PEXPIRETIME" => expiretime,
        "TTL" | "PTTL" => ttl,
        "PERSIST" => persist,
        "KEYS" => keys,
        "SCAN" => scan,
        "TYPE" => type_of,
        "RENAME" | "RENAMENX" => rename,
        "FLUSHDB" | "FLUSHALL" => flush,
        "DBSIZE" => dbsize,
        "TOUCH" => touch,
        "TIME" => time,
        _ => return None,
    })
}

fn del(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let removed = args[1..]
        .iter()
        .filter(|key| em.remove(conn.db, key).is_some())
        .count();
    Reply::Int(removed as i64)
}

fn exists(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let found = args[1..]
        .iter()
        .filter(|key| em.exists(conn.db, key))
        .count();
    Reply::Int(found as i64)
}

/// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT key time [NX|XX|GT|LT]`.
fn expire(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in &args[3..] {
        match String::from_utf8_lossy(option)
            .to_ascii_uppercase()
            .as_str()
        {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            _ => {
                return Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(option)
                ));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::error("ERR GT and LT options at the same time are not compatible");
    }
    let when = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let now = em.now;
    let Some(at) = absolute_ms(&name, when, now) else {
        return Reply::error(format!("ERR invalid expire time in '{name}' command"));
    };
    let Some(slot) = em.slot(conn.db, &args[1]) else {
        return Reply::Int(0);
    };
    // No expiry counts as an infinite one for GT and LT.
    let current = slot.expires_at.map_or(i128::MAX, i128::from);
    let refused = (nx && slot.expires_at.is_some())
        || (xx && slot.expires_at.is_none())
        || (gt && i128::from(at) <= current)
        || (lt && i128::from(at) >= current);
    if refused {
        return Reply::Int(0);
    }
    if at <= now as i64 {
        em.remove(conn.db, &args[1]);
    } else {
        slot.expires_at = Some(at as u64);
    }
    Reply::Int(1)
}

/// The Unix milliseconds an expire command's argument means, `None` on overflow.
fn absolute_ms(command: &str, when: i64, now: u64) -> Option<i64> {
    let ms = match command {
        "expire" | "expireat" => when.checked_mul(1000)?,
        _ => when,
    };
    match command {
        "expire" | "pexpire" => ms.checked_add(now as i64),
        _ => Some(ms),
    }
}

fn expiretime(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let ms = is(&args[0], "PEXPIRETIME");
    Reply::Int(match em.slot(conn.db, &args[1]) {
        None => -2,
        Some(slot) => match slot.expires_at {
            None => -1,
            Some(at) if ms => at as i64,
            Some(at) => (at / 1000) as i64,
        },
    })
}

fn ttl(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let ms = is(&args[0], "PTTL");
    let now = em.now;
    Reply::Int(match em.slot(conn.db, &args[1]) {
        None => -2,
        Some(slot) => match slot.expires_at {
            None => -1,
            Some(at) if ms => at.saturating_sub(now) as i64,
            // Rounded to the nearest second, as Redis does.
            Some(at) => (at.saturating_sub(now).saturating_add(500) / 1000) as i64,
        },
    })
}

fn persist(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.slot(conn.db, &args[1]) {
        Some(slot) if slot.expires_at.is_some() => {
            slot.expires_at = None;
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

impl Emulator {
    /// The live keys of `db` in creation order, with their `SCAN` positions.
    fn live_keys(&mut self, db: usize) -> Vec<(u64, Vec<u8>)> {
        self.purge(db);
        let mut keys: Vec<(u64, Vec<u8>)> = self.dbs[db]
            .iter()
            .map(|(k, s)| (s.seq, k.clone()))
            .collect();
        keys.sort_unstable();
        keys
    }
}

/// A `KEYS`/`SCAN` pattern; `*` alone selects every key without matching, as in Redis (where
/// it also selects the empty key, which `*` does not match).
fn key_pattern(pattern: &[u8]) -> Option<glob::Glob> {
    (pattern != b"*").then(|| glob::Glob::new(pattern))
}

fn keys(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let pattern = key_pattern(&args[1]);
    let matching = em
        .live_keys(conn.db)
        .into_iter()
        .map(|(_, k)| k)
        .filter(|k| pattern.as_ref().is_none_or(|p| p.matches(k)));
    Reply::bulks(matching)
}

/// The cursor of `SCAN` and its element forms, with Redis's error.
pub(super) fn scan_cursor(arg: &[u8]) -> Result<u64, Reply> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))
}

/// `MATCH`, `COUNT` and (for `SCAN` only, when `with_type`) `TYPE` options.
pub(super) struct ScanOptions {
    pub(super) pattern: Option<glob::Glob>,
    pub(super) count: usize,
    pub(super) kind: Option<String>,
}

pub(super) fn scan_options(options: &[Vec<u8>], with_type: bool) -> Result<ScanOptions, Reply> {
    let mut parsed = ScanOptions {
        pattern: None,
        count: 10,
        kind: None,
    };
    for pair in options.chunks(2) {
        let [option, value] = pair else {
            return Err(Reply::error(SYNTAX));
        };
        if is(option, "MATCH") {
            parsed.pattern = key_pattern(value);
        } else if is(option, "COUNT") {
            match int_arg(value)? {
                n if n >= 1 => parsed.count = n as usize,
                _ => return Err(Reply::error(SYNTAX)),
            }
        } else if with_type && is(option, "TYPE") {
            parsed.kind = Some(String::from_utf8_lossy(value).to_ascii_lowercase());
        } else {
            return Err(Reply::error(SYNTAX));
        }
    }
    Ok(parsed)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`. The cursor is the creation number
/// of the next key, so keys present for the whole scan are returned exactly once.
fn scan(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (cursor, options) = match (scan_cursor(&args[1]), scan_options(&args[2..], true)) {
        (Ok(c), Ok(o)) => (c, o),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let ScanOptions {
        pattern,
        count,
        kind,
    } = options;
    let keys = em.live_keys(conn.db);
    let start = keys.partition_point(|(seq, _)| *seq < cursor);
    let page = &keys[start..(start + count).min(keys.len())];
    let next = keys.get(start + count).map_or(0, |(seq, _)| *seq);
    let db = conn.db;
    let selected: Vec<Vec<u8>> = page
        .iter()
        .filter(|(_, k)| pattern.as_ref().is_none_or(|p| p.matches(k)))
        .filter(|(_, k)| {
            kind.as_deref()
                .is_none_or(|t| em.dbs[db].get(k).is_some_and(|s| s.value.type_name() == t))
        })
        .map(|(_, k)| k.clone())
        .collect();
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::bulks(selected)])
}

fn type_of(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let name = em
        .value(conn.db, &args[1])
        .map_or("none", |v| v.type_name());
    Reply::Simple(name.into())
}

/// `RENAME src dst` and `RENAMENX src dst`: the value and its expiry move.
fn rename(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let nx = is(&args[0], "RENAMENX");
    let (db, from, to) = (conn.db, &args[1], &args[2]);
    if !em.exists(db, from) {
        return Reply::error("ERR no such key");
    }
    if from == to {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if nx && em.exists(db, to) {
        return Reply::Int(0);
    }
    let slot = em.remove(db, from).expect("exists");
    em.remove(db, to);
    let seq = em.new_seq();
    em.dbs[db].insert(to.clone(), super::Slot { seq, ..slot });
    if nx { Reply::Int(1) } else { Reply::ok() }
}

/// `FLUSHDB [ASYNC|SYNC]` and `FLUSHALL [ASYNC|SYNC]`.
fn flush(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mode_ok = match &args[1..] {
        [] => true,
        [mode] => is(mode, "ASYNC") || is(mode, "SYNC"),
        _ => false,
    };
    if !mode_ok {
        return Reply::error(SYNTAX);
    }
    if is(&args[0], "FLUSHALL") {
        (0..DATABASES).for_each(|db| em.dbs[db].clear());
    } else {
        em.dbs[conn.db].clear();
    }
    Reply::ok()
}

fn dbsize(em: &mut Emulator, conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    em.purge(conn.db);
    Reply::Int(em.dbs[conn.db].len() as i64)
}

fn time(em: &mut Emulator, _conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    let now = em.now;
    Reply::bulks([(now / 1000).to_string(), ((now % 1000) * 1000).to_string()])
}

/// `TOUCH key...`: how many exist.
fn touch(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let found = args[1..].iter().filter(|k| em.exists(conn.db, k)).count();
    Reply::Int(found as i64)
}
