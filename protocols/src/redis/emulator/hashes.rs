//! Hash commands. Fields keep insertion order, as Redis's small hashes do, so `HGETALL`
//! answers in the order a real server would for the sizes tests use.

use indexmap::IndexMap;

use super::{Emulator, Handler, Value, int_arg};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "HSET" | "HMSET" => hset,
        "HSETNX" => hsetnx,
        "HGET" => hget,
        "HMGET" => hmget,
        "HGETALL" => hgetall,
        "HDEL" => hdel,
        "HINCRBY" => hincrby,
        "HEXISTS" => hexists,
        "HKEYS" | "HVALS" => hkeys,
        "HLEN" => hlen,
        "HSTRLEN" => hstrlen,
        _ => return None,
    })
}

type Hash = IndexMap<Vec<u8>, Vec<u8>>;

pub(super) fn as_hash(v: &mut Value) -> Option<&mut Hash> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

pub(super) fn empty() -> Value {
    Value::Hash(Hash::new())
}

/// Runs `f` on the hash at `key` (an empty one when missing) without creating it.
fn read<T>(
    em: &mut Emulator,
    conn: &Connection,
    key: &[u8],
    f: impl FnOnce(&Hash) -> T,
) -> Result<T, Reply> {
    let hash = em.typed(conn.db, key, as_hash)?;
    Ok(match hash {
        Some(h) => f(h),
        None => f(&Hash::new()),
    })
}

/// `HSET key field value [field value ...]` (count of new fields) and `HMSET` (OK).
fn hset(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let hmset = args[0].eq_ignore_ascii_case(b"HMSET");
    if !args.len().is_multiple_of(2) {
        return spec::arity_error(if hmset { "hmset" } else { "hset" });
    }
    let hash = match em.typed_or_create(conn.db, &args[1], as_hash, empty) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let added = args[2..]
        .chunks(2)
        .filter(|pair| hash.insert(pair[0].clone(), pair[1].clone()).is_none())
        .count();
    if hmset {
        Reply::ok()
    } else {
        Reply::Int(added as i64)
    }
}

fn hsetnx(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed_or_create(conn.db, &args[1], as_hash, empty) {
        Ok(hash) if hash.contains_key(&args[2]) => Reply::Int(0),
        Ok(hash) => {
            hash.insert(args[2].clone(), args[3].clone());
            Reply::Int(1)
        }
        Err(e) => e,
    }
}

fn hget(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    read(em, conn, &args[1], |h| Reply::bulk_or_nil(h.get(&args[2]))).unwrap_or_else(|e| e)
}

fn hmget(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    read(em, conn, &args[1], |h| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|f| Reply::bulk_or_nil(h.get(f)))
                .collect(),
        )
    })
    .unwrap_or_else(|e| e)
}

fn hgetall(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    read(em, conn, &args[1], |h| {
        Reply::Map(
            h.iter()
                .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
                .collect(),
        )
    })
    .unwrap_or_else(|e| e)
}

fn hdel(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let removed = match em.typed(conn.db, &args[1], as_hash) {
        Ok(Some(hash)) => args[2..]
            .iter()
            .filter(|f| hash.shift_remove(*f).is_some())
            .count(),
        Ok(None) => 0,
        Err(e) => return e,
    };
    em.drop_if_empty(conn.db, &args[1]);
    Reply::Int(removed as i64)
}

fn hincrby(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let by = match int_arg(&args[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let hash = match em.typed_or_create(conn.db, &args[1], as_hash, empty) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let current = match hash.get(&args[2]) {
        None => 0,
        Some(text) => match strict_i64(text) {
            Some(n) => n,
            None => return Reply::error("ERR hash value is not an integer"),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    hash.insert(args[2].clone(), next.to_string().into_bytes());
    Reply::Int(next)
}

fn hexists(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    read(em, conn, &args[1], |h| {
        Reply::Int(h.contains_key(&args[2]).into())
    })
    .unwrap_or_else(|e| e)
}

/// `HKEYS` and `HVALS`.
fn hkeys(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let keys = args[0].eq_ignore_ascii_case(b"HKEYS");
    read(em, conn, &args[1], |h| match keys {
        true => Reply::bulks(h.keys()),
        false => Reply::bulks(h.values()),
    })
    .unwrap_or_else(|e| e)
}

fn hlen(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    read(em, conn, &args[1], |h| Reply::Int(h.len() as i64)).unwrap_or_else(|e| e)
}

/// `HSTRLEN key field`.
fn hstrlen(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match read(em, conn, &args[1], |h| {
        h.get(&args[2]).map_or(0, |v| v.len())
    }) {
        Ok(len) => Reply::Int(len as i64),
        Err(e) => e,
    }
}
