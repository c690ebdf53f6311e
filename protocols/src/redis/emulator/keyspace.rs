//! Whole-key commands across databases and about values: `COPY`, `MOVE`, `SWAPDB`,
//! `RANDOMKEY` and `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ|HELP`.

use super::{Emulator, Handler, SYNTAX, Value, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::{Connection, DATABASES, unknown_subcommand};
use crate::redis::reply::Reply;
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "COPY" => copy,
        "MOVE" => move_key,
        "SWAPDB" => swapdb,
        "RANDOMKEY" => randomkey,
        "OBJECT" => object,
        _ => return None,
    })
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";
const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// A database index argument as Redis's `getIntFromObjectOrReply` reads it: `error` when it
/// is not a 32-bit integer.
fn int32(arg: &[u8], error: &str) -> Result<i64, Reply> {
    strict_i64(arg)
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or_else(|| Reply::error(error))
}

/// A database that exists, with Redis's range error.
fn database(index: i64) -> Result<usize, Reply> {
    usize::try_from(index)
        .ok()
        .filter(|i| *i < DATABASES)
        .ok_or_else(|| Reply::error(DB_OUT_OF_RANGE))
}

/// A database index argument: not an integer, or out of range.
fn db_index(arg: &[u8]) -> Result<usize, Reply> {
    database(int32(arg, super::NOT_INTEGER)?)
}

/// `COPY source destination [DB destination-db] [REPLACE]`: the value and its expiry.
fn copy(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (mut target, mut replace) = (conn.db, false);
    let mut rest = &args[3..];
    while let Some(option) = rest.first() {
        if is(option, "REPLACE") {
            replace = true;
            rest = &rest[1..];
        } else if is(option, "DB") && rest.len() >= 2 {
            target = match db_index(&rest[1]) {
                Ok(db) => db,
                Err(e) => return e,
            };
            rest = &rest[2..];
        } else {
            return Reply::error(SYNTAX);
        }
    }
    let (source, destination) = (&args[1], &args[2]);
    if target == conn.db && source == destination {
        return Reply::error(SAME_OBJECT);
    }
    let Some(slot) = em.slot(conn.db, source).cloned() else {
        return Reply::Int(0);
    };
    if em.exists(target, destination) {
        if !replace {
            return Reply::Int(0);
        }
        em.remove(target, destination);
    }
    em.put(target, destination, slot.value);
    em.set_expiry(target, destination, slot.expires_at);
    em.watches.touch(target, destination);
    Reply::Int(1)
}

/// `MOVE key db`: only when the key is absent from the other database.
fn move_key(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let target = match db_index(&args[2]) {
        Ok(db) => db,
        Err(e) => return e,
    };
    if target == conn.db {
        return Reply::error(SAME_OBJECT);
    }
    if !em.exists(conn.db, &args[1]) || em.exists(target, &args[1]) {
        return Reply::Int(0);
    }
    let slot = em.remove(conn.db, &args[1]).expect("checked to exist");
    em.put(target, &args[1], slot.value);
    em.set_expiry(target, &args[1], slot.expires_at);
    em.watches.touch(target, &args[1]);
    Reply::Int(1)
}

/// `SWAPDB index1 index2`.
fn swapdb(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let indexes = int32(&args[1], "ERR invalid first DB index").and_then(|a| {
        let b = int32(&args[2], "ERR invalid second DB index")?;
        Ok((database(a)?, database(b)?))
    });
    match indexes {
        Ok((a, b)) => {
            em.dbs.swap(a, b);
            Reply::ok()
        }
        Err(e) => e,
    }
}

/// `RANDOMKEY`: a random live key, nil when the database is empty.
fn randomkey(em: &mut Emulator, conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    em.purge(conn.db);
    let mut keys: Vec<&Vec<u8>> = em.dbs[conn.db].keys().collect();
    if keys.is_empty() {
        return Reply::Nil;
    }
    keys.sort_unstable();
    let keys: Vec<Vec<u8>> = keys.into_iter().cloned().collect();
    let at = em.random_below(keys.len());
    Reply::Bulk(keys[at].clone())
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

const NO_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not \
    tracked. Please note that when switching between policies at runtime LRU and LFU data \
    will take some time to adjust.";

const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. \
    Please note that when switching between policies at runtime LRU and LFU data will take \
    some time to adjust.";

/// `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ key` and `OBJECT HELP`; the idle time and the
/// frequency are read from the key's access field ([`super::access`]), without touching it.
fn object(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity = match sub.as_str() {
        "help" => 2,
        "encoding" | "refcount" | "idletime" | "freq" => 3,
        _ => return unknown_subcommand(&args[1], "OBJECT"),
    };
    if args.len() != arity {
        return spec::arity_error(&format!("object|{sub}"));
    }
    if sub == "help" {
        return Reply::simples(OBJECT_HELP);
    }
    let limits = Limits::configured(em);
    let access = em.access;
    let Some(slot) = em.slot(conn.db, &args[2]) else {
        return Reply::Nil;
    };
    let (value, lru) = (&slot.value, slot.lru);
    match sub.as_str() {
        "encoding" => Reply::bulk(encoding(value, &limits)),
        "refcount" => Reply::Int(if shared_integer(value) {
            i64::from(i32::MAX)
        } else {
            1
        }),
        "idletime" if access.is_lfu() => Reply::error(LFU_SELECTED),
        "idletime" => Reply::Int(access.idle_seconds(lru) as i64),
        _ if !access.is_lfu() => Reply::error(NO_LFU),
        _ => Reply::Int(access.frequency(lru).into()),
    }
}

const EMBSTR_LIMIT: usize = 44;

/// The thresholds of the compact encodings: `CONFIG SET hash-max-listpack-entries` and the
/// like change them.
struct Limits {
    hash_entries: usize,
    hash_value: usize,
    intset_entries: usize,
    zset_entries: usize,
    zset_value: usize,
}

impl Limits {
    fn configured(em: &Emulator) -> Limits {
        let get = |name| usize::try_from(em.admin.config.int(name)).unwrap_or(usize::MAX);
        Limits {
            hash_entries: get("hash-max-listpack-entries"),
            hash_value: get("hash-max-listpack-value"),
            intset_entries: get("set-max-intset-entries"),
            zset_entries: get("zset-max-listpack-entries"),
            zset_value: get("zset-max-listpack-value"),
        }
    }
}

/// The encoding Redis 7.0 picks for a value of this content with these thresholds.
/// Redis never converts back to a compact encoding, and strings changed in place (`APPEND`,
/// `SETRANGE`) are `raw` there: the emulator judges by the content alone.
fn encoding(value: &Value, limits: &Limits) -> &'static str {
    let short = |item: &Vec<u8>| item.len() <= limits.hash_value;
    match value {
        Value::String(s) if s.len() <= 20 && strict_i64(s).is_some() => "int",
        Value::String(s) if s.len() <= EMBSTR_LIMIT => "embstr",
        Value::String(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(h)
            if h.len() <= limits.hash_entries && h.iter().all(|(f, v)| short(f) && short(v)) =>
        {
            "listpack"
        }
        Value::Hash(_) => "hashtable",
        Value::Set(s)
            if s.len() <= limits.intset_entries && s.iter().all(|m| strict_i64(m).is_some()) =>
        {
            "intset"
        }
        Value::Set(_) => "hashtable",
        Value::ZSet(z)
            if z.len() <= limits.zset_entries
                && z.ordered(false).all(|(m, _)| m.len() <= limits.zset_value) =>
        {
            "listpack"
        }
        Value::ZSet(_) => "skiplist",
        Value::Stream(_) => "stream",
    }
}

/// Whether Redis stores the value as one of its shared integers 0..10000, whose reference
/// count reads `INT_MAX`.
fn shared_integer(value: &Value) -> bool {
    matches!(value, Value::String(s) if strict_i64(s).is_some_and(|n| (0..10_000).contains(&n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_limits() -> Limits {
        Limits::configured(&Emulator::new(&crate::redis::Seed::new()))
    }

    fn encoding(value: &Value) -> &'static str {
        super::encoding(value, &default_limits())
    }

    #[test]
    fn encodings_follow_the_configured_thresholds() {
        let limits = default_limits();
        let fields = |n: usize| {
            let hash = (0..n).map(|i| (i.to_string().into_bytes(), b"v".to_vec()));
            Value::Hash(hash.collect())
        };
        // Redis 7.0's default: 512 fields, not 128 (zsets).
        assert_eq!(encoding(&fields(512)), "listpack");
        assert_eq!(encoding(&fields(513)), "hashtable");
        let mut em = Emulator::new(&crate::redis::Seed::new());
        let mut conn = Connection::new(1);
        let set = "config set hash-max-listpack-entries 2";
        assert_eq!(super::super::run_line(&mut em, &mut conn, set), Reply::ok());
        assert_eq!(
            super::encoding(&fields(3), &Limits::configured(&em)),
            "hashtable"
        );
        assert_eq!(
            super::encoding(&fields(2), &Limits::configured(&em)),
            "listpack"
        );
        assert_eq!(limits.zset_entries, 128);
    }

    #[test]
    fn encodings_follow_the_default_thresholds() {
        assert_eq!(encoding(&Value::String(b"123".to_vec())), "int");
        assert_eq!(encoding(&Value::String(b"0123".to_vec())), "embstr");
        assert_eq!(encoding(&Value::String(vec![b'x'; 45])), "raw");
        let ints = (0..600).map(|n| n.to_string().into_bytes()).collect();
        assert_eq!(encoding(&Value::Set(ints)), "hashtable");
        let hash = [(b"f".to_vec(), vec![b'v'; 65])].into_iter().collect();
        assert_eq!(encoding(&Value::Hash(hash)), "hashtable");
        assert!(shared_integer(&Value::String(b"9999".to_vec())));
        assert!(!shared_integer(&Value::String(b"10000".to_vec())));
    }

    #[test]
    fn database_indexes_are_checked_like_redis() {
        assert_eq!(db_index(b"15"), Ok(15));
        assert_eq!(db_index(b"16"), Err(Reply::error(DB_OUT_OF_RANGE)));
        assert_eq!(db_index(b"-1"), Err(Reply::error(DB_OUT_OF_RANGE)));
        assert_eq!(
            db_index(b"4294967296"),
            Err(Reply::error(super::super::NOT_INTEGER))
        );
    }
}
