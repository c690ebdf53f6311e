//! String commands: GET, SET and its options, MGET, MSET, counters, APPEND.

use super::{Emulator, Handler, NOT_INTEGER, SYNTAX, Value, int_arg, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "GET" => get,
        "SET" => set,
        "SETNX" => setnx,
        "SETEX" => setex,
        "PSETEX" => setex,
        "GETSET" => getset,
        "GETDEL" => getdel,
        "MGET" => mget,
        "MSET" => mset,
        "MSETNX" => mset,
        "INCR" | "DECR" | "INCRBY" | "DECRBY" => incr,
        "APPEND" => append,
        "STRLEN" => strlen,
        "GETRANGE" | "SUBSTR" => getrange,
        "SETRANGE" => setrange,
        "GETEX" => getex,
        _ => return None,
    })
}

fn as_string(v: &mut Value) -> Option<&mut Vec<u8>> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

impl Emulator {
    /// The string at `key`, WRONGTYPE for other types.
    pub(super) fn string(&mut self, db: usize, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
        self.typed(db, key, as_string).map(|s| s.cloned())
    }

    /// Stores a string, keeping the expiry when `keep_ttl`.
    pub(super) fn set_string(&mut self, db: usize, key: &[u8], value: &[u8], keep_ttl: bool) {
        let ttl = self.slot(db, key).and_then(|s| s.expires_at);
        self.put(db, key, Value::String(value.to_vec()));
        if keep_ttl {
            self.set_expiry(db, key, ttl);
        }
    }

    pub(super) fn set_expiry(&mut self, db: usize, key: &[u8], at: Option<u64>) {
        if let Some(slot) = self.slot(db, key) {
            slot.expires_at = at;
        }
    }
}

fn get(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.string(conn.db, &args[1]) {
        Ok(value) => Reply::bulk_or_nil(value),
        Err(e) => e,
    }
}

/// How `SET`'s options ask for the write to be conditioned.
#[derive(Debug, Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    /// The unit word (`EX`, `PX`, `EXAT`, `PXAT`) and its argument.
    expire: Option<(&'static str, &'a [u8])>,
}

/// Parses `SET`'s options with Redis's rules: conflicting options are a syntax error.
fn set_options(args: &[Vec<u8>]) -> Result<SetOptions<'_>, Reply> {
    let mut o = SetOptions::default();
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        let unit = ["EX", "PX", "EXAT", "PXAT"].into_iter().find(|u| is(a, u));
        if is(a, "NX") && !o.xx {
            o.nx = true;
        } else if is(a, "XX") && !o.nx {
            o.xx = true;
        } else if is(a, "GET") {
            o.get = true;
        } else if is(a, "KEEPTTL") && o.expire.is_none() {
            o.keep_ttl = true;
        } else if let (Some(unit), Some(next)) = (unit, next) {
            if o.keep_ttl || o.expire.is_some_and(|(u, _)| u != unit) {
                return Err(Reply::error(SYNTAX));
            }
            o.expire = Some((unit, next));
            i += 1;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// The absolute expiry (Unix ms) an expire argument asks for, with Redis's errors.
fn expire_at(now: u64, unit: &str, arg: &[u8], command: &str) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{command}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        "EX" | "EXAT" => n.checked_mul(1000).ok_or_else(invalid)?,
        _ => n,
    };
    let at = match unit {
        "EX" | "PX" => ms.checked_add(now as i64).ok_or_else(invalid)?,
        _ => ms,
    };
    Ok(at as u64)
}

fn set(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let opts = match set_options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let expires = match opts.expire {
        Some((unit, arg)) => match expire_at(em.now, unit, arg, "set") {
            Ok(at) => Some(at),
            Err(e) => return e,
        },
        None => None,
    };
    let (db, key) = (conn.db, &args[1]);
    let old = match opts.get {
        true => match em.string(db, key) {
            Ok(old) => old,
            Err(e) => return e,
        },
        false => None,
    };
    let exists = em.exists(db, key);
    if (opts.nx && exists) || (opts.xx && !exists) {
        return if opts.get {
            Reply::bulk_or_nil(old)
        } else {
            Reply::Nil
        };
    }
    em.set_string(db, key, &args[2], opts.keep_ttl);
    if expires.is_some() {
        em.set_expiry(db, key, expires);
    }
    if opts.get {
        Reply::bulk_or_nil(old)
    } else {
        Reply::ok()
    }
}

fn setnx(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    if em.exists(conn.db, &args[1]) {
        return Reply::Int(0);
    }
    em.set_string(conn.db, &args[1], &args[2], false);
    Reply::Int(1)
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value`.
fn setex(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (unit, command) = match is(&args[0], "SETEX") {
        true => ("EX", "setex"),
        false => ("PX", "psetex"),
    };
    match expire_at(em.now, unit, &args[2], command) {
        Ok(at) => {
            em.set_string(conn.db, &args[1], &args[3], false);
            em.set_expiry(conn.db, &args[1], Some(at));
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn getset(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.string(conn.db, &args[1]) {
        Ok(old) => {
            em.set_string(conn.db, &args[1], &args[2], false);
            Reply::bulk_or_nil(old)
        }
        Err(e) => e,
    }
}

fn getdel(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.string(conn.db, &args[1]) {
        Ok(old) => {
            em.remove(conn.db, &args[1]);
            Reply::bulk_or_nil(old)
        }
        Err(e) => e,
    }
}

fn mget(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let values = args[1..]
        .iter()
        .map(|key| Reply::bulk_or_nil(em.string(conn.db, key).ok().flatten()))
        .collect();
    Reply::Array(values)
}

/// `MSET` and `MSETNX` (which sets nothing if any key exists).
fn mset(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let nx = is(&args[0], "MSETNX");
    if args.len().is_multiple_of(2) {
        return spec::arity_error(if nx { "msetnx" } else { "mset" });
    }
    let pairs = args[1..].chunks(2);
    if nx && pairs.clone().any(|p| em.exists(conn.db, &p[0])) {
        return Reply::Int(0);
    }
    for pair in pairs {
        em.set_string(conn.db, &pair[0], &pair[1], false);
    }
    if nx { Reply::Int(1) } else { Reply::ok() }
}

/// `INCR`, `DECR`, `INCRBY`, `DECRBY`: the value must be an integer; the expiry stays.
fn incr(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let by = match name.as_str() {
        "INCR" => 1,
        "DECR" => -1,
        _ => match int_arg(&args[2]) {
            Ok(i64::MIN) if name == "DECRBY" => {
                return Reply::error("ERR decrement would overflow");
            }
            Ok(n) if name == "DECRBY" => -n,
            Ok(n) => n,
            Err(e) => return e,
        },
    };
    let current = match em.string(conn.db, &args[1]) {
        Ok(None) => 0,
        Ok(Some(text)) => match strict_i64(&text) {
            Some(n) => n,
            None => return Reply::error(NOT_INTEGER),
        },
        Err(e) => return e,
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    em.set_string(conn.db, &args[1], next.to_string().as_bytes(), true);
    Reply::Int(next)
}

fn append(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.string(conn.db, &args[1]) {
        Ok(old) => {
            let mut value = old.unwrap_or_default();
            value.extend_from_slice(&args[2]);
            em.set_string(conn.db, &args[1], &value, true);
            Reply::Int(value.len() as i64)
        }
        Err(e) => e,
    }
}

fn strlen(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.string(conn.db, &args[1]) {
        Ok(value) => Reply::Int(value.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

/// The longest string `SETRANGE` may make: Redis allows 512 MB, but here a few bytes of
/// request would make the host process allocate that much.
pub(super) const MAX_STRING: usize = 64 << 20;

/// `GETRANGE key start end` (and the old `SUBSTR`), with Redis's clamping.
fn getrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let value = match em.string(conn.db, &args[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::bulk("");
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end }.min(len - 1);
    if start > end || len == 0 {
        return Reply::bulk("");
    }
    Reply::bulk(&value[start as usize..=end as usize])
}

/// `SETRANGE key offset value`: overwrites from `offset`, padding with zero bytes.
fn setrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let offset = match int_arg(&args[2]) {
        Ok(n) if n >= 0 => n as usize,
        Ok(_) => return Reply::error("ERR offset is out of range"),
        Err(e) => return e,
    };
    let value = &args[3];
    let existing = match em.string(conn.db, &args[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if value.is_empty() {
        return Reply::Int(existing.map_or(0, |v| v.len() as i64));
    }
    let Some(end) = offset.checked_add(value.len()).filter(|e| *e <= 512 << 20) else {
        return Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    };
    if end > MAX_STRING {
        return Reply::error(format!(
            "ERR mocket: SETRANGE would make a string of {end} bytes; the emulator keeps \
             strings up to {MAX_STRING} bytes"
        ));
    }
    let existed = existing.is_some();
    let mut string = existing.unwrap_or_default();
    if string.len() < end {
        string.resize(end, 0);
    }
    string[offset..end].copy_from_slice(value);
    let len = string.len() as i64;
    match em.slot(conn.db, &args[1]) {
        Some(slot) if existed => slot.value = Value::String(string),
        _ => em.put(conn.db, &args[1], Value::String(string)),
    }
    Reply::Int(len)
}

/// `GETEX key [EX seconds|PX ms|EXAT ts|PXAT ts-ms|PERSIST]`.
fn getex(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mut expire: Option<(&'static str, &[u8])> = None;
    let mut persist = false;
    let mut i = 2;
    while i < args.len() {
        let unit = ["EX", "PX", "EXAT", "PXAT"]
            .into_iter()
            .find(|u| is(&args[i], u));
        match (unit, args.get(i + 1)) {
            (Some(unit), Some(arg)) if expire.is_none() && !persist => {
                expire = Some((unit, arg));
                i += 2;
            }
            _ if is(&args[i], "PERSIST") && expire.is_none() && !persist => {
                persist = true;
                i += 1;
            }
            _ => return Reply::error(SYNTAX),
        }
    }
    // As Redis: a missing key or a wrong type answers before the expire time is checked.
    let value = match em.string(conn.db, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let at = match expire.map(|(unit, arg)| expire_at(em.now, unit, arg, "getex")) {
        None => None,
        Some(Ok(at)) => Some(at),
        Some(Err(e)) => return e,
    };
    let now = em.now;
    if at.is_some_and(|t| t <= now) {
        em.remove(conn.db, &args[1]);
    } else if let Some(slot) = em.slot(conn.db, &args[1])
        && (at.is_some() || persist)
    {
        slot.expires_at = at;
    }
    Reply::bulk(value)
}

#[cfg(test)]
mod tests {
    use crate::redis::conn::Connection;
    use crate::redis::emulator::{Emulator, run_line};
    use crate::redis::entry::Seed;
    use crate::redis::reply::Reply;

    #[test]
    fn getex_checks_the_key_before_its_expire_time() {
        // Found by the random family sequences; what redis-server 7.0.15 answers.
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::default();
        assert_eq!(
            run_line(&mut em, &mut conn, "getex missing ex abc"),
            Reply::Nil
        );
        run_line(&mut em, &mut conn, "rpush l a");
        assert_eq!(
            run_line(&mut em, &mut conn, "getex l ex 0"),
            Reply::error(crate::redis::emulator::WRONGTYPE)
        );
        run_line(&mut em, &mut conn, "set s v");
        assert_eq!(
            run_line(&mut em, &mut conn, "getex s ex 0"),
            Reply::error("ERR invalid expire time in 'getex' command")
        );
    }
}
