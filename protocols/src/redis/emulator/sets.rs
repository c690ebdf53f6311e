//! Set commands. `SMEMBERS` answers integer-only sets in numeric order, as Redis's intsets
//! do; other sets in insertion order (a real server answers those in hash order).

use indexmap::IndexSet;

use super::{Emulator, Handler, Value};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "SADD" => sadd,
        "SREM" => srem,
        "SMEMBERS" => smembers,
        "SISMEMBER" | "SMISMEMBER" => sismember,
        "SCARD" => scard,
        "SINTER" | "SUNION" | "SDIFF" => algebra,
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => algebra_store,
        "SINTERCARD" => sintercard,
        "SMOVE" => smove,
        "SPOP" => spop,
        "SRANDMEMBER" => srandmember,
        _ => return None,
    })
}

type Set = IndexSet<Vec<u8>>;

fn as_set(v: &mut Value) -> Option<&mut Set> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn sadd(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed_or_create(conn.db, &args[1], as_set, || Value::Set(Set::new())) {
        Ok(set) => {
            let added = args[2..].iter().filter(|m| set.insert(m.to_vec())).count();
            Reply::Int(added as i64)
        }
        Err(e) => e,
    }
}

fn srem(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let removed = match em.typed(conn.db, &args[1], as_set) {
        Ok(Some(set)) => args[2..].iter().filter(|m| set.shift_remove(*m)).count(),
        Ok(None) => 0,
        Err(e) => return e,
    };
    em.drop_if_empty(conn.db, &args[1]);
    Reply::Int(removed as i64)
}

/// Members as Redis lists them: integer-only sets (intsets) in numeric order, others in
/// insertion order.
pub(super) fn in_redis_order(set: &Set) -> Vec<&Vec<u8>> {
    let members: Vec<&Vec<u8>> = set.iter().collect();
    let numbers: Option<Vec<i64>> = members.iter().map(|m| strict_i64(m)).collect();
    match numbers {
        Some(numbers) => {
            let mut paired: Vec<_> = numbers.into_iter().zip(members).collect();
            paired.sort_unstable();
            paired.into_iter().map(|(_, m)| m).collect()
        }
        None => members,
    }
}

fn smembers(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_set) {
        Ok(Some(set)) => Reply::Set(in_redis_order(set).into_iter().map(Reply::bulk).collect()),
        Ok(None) => Reply::Set(vec![]),
        Err(e) => e,
    }
}

/// `SISMEMBER key member` (an integer) and `SMISMEMBER key member...` (an array of them).
fn sismember(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let many = args[0].eq_ignore_ascii_case(b"SMISMEMBER");
    let set = match em.typed(conn.db, &args[1], as_set) {
        Ok(set) => set,
        Err(e) => return e,
    };
    let answers: Vec<Reply> = args[2..]
        .iter()
        .map(|m| Reply::Int(set.as_ref().is_some_and(|s| s.contains(m)).into()))
        .collect();
    if many {
        Reply::Array(answers)
    } else {
        answers.into_iter().next().expect("arity checked")
    }
}

fn scard(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_set) {
        Ok(set) => Reply::Int(set.map_or(0, |s| s.len() as i64)),
        Err(e) => e,
    }
}

/// The sets at `keys`, missing ones as `None`, WRONGTYPE at the first key of another type.
fn sets_of(em: &mut Emulator, db: usize, keys: &[Vec<u8>]) -> Result<Vec<Option<Set>>, Reply> {
    keys.iter()
        .map(|key| em.typed(db, key, as_set).map(|s| s.cloned()))
        .collect()
}

/// The intersection, union or difference of the sets at `keys`.
fn combine(em: &mut Emulator, db: usize, operation: &str, keys: &[Vec<u8>]) -> Result<Set, Reply> {
    let inter = operation.starts_with("SINTER");
    let sets = sets_of(em, db, keys)?;
    let mut sets = sets.into_iter();
    let first = sets.next().flatten().unwrap_or_default();
    Ok(if inter {
        sets.fold(first, |acc, s| {
            let s = s.unwrap_or_default();
            acc.into_iter().filter(|m| s.contains(m)).collect()
        })
    } else if operation.starts_with("SUNION") {
        sets.flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        })
    } else {
        sets.flatten().fold(first, |acc, s| {
            acc.into_iter().filter(|m| !s.contains(m)).collect()
        })
    })
}

/// `SINTER`, `SUNION`, `SDIFF`.
fn algebra(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let operation = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    match combine(em, conn.db, &operation, &args[1..]) {
        Ok(set) => Reply::Set(set.into_iter().map(Reply::Bulk).collect()),
        Err(e) => e,
    }
}

/// `SINTERSTORE`, `SUNIONSTORE`, `SDIFFSTORE destination key...`: an empty result deletes
/// the destination.
fn algebra_store(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let operation = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let set = match combine(em, conn.db, &operation, &args[2..]) {
        Ok(set) => set,
        Err(e) => return e,
    };
    let len = set.len() as i64;
    em.remove(conn.db, &args[1]);
    if len > 0 {
        em.put(conn.db, &args[1], Value::Set(set));
    }
    Reply::Int(len)
}

/// `SINTERCARD numkeys key... [LIMIT limit]`.
fn sintercard(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let numkeys = match super::int_arg(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) => return Reply::error("ERR numkeys should be greater than 0"),
        Err(_) => return Reply::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut rest = &args[2 + numkeys..];
    while let [option, value, tail @ ..] = rest {
        if !super::is(option, "LIMIT") {
            return Reply::error(super::SYNTAX);
        }
        limit = match super::int_arg(value) {
            Ok(n) if n >= 0 => n as usize,
            _ => return Reply::error("ERR LIMIT can't be negative"),
        };
        rest = tail;
    }
    if !rest.is_empty() {
        return Reply::error(super::SYNTAX);
    }
    match combine(em, conn.db, "SINTER", &args[2..2 + numkeys]) {
        Ok(set) if limit > 0 => Reply::Int(set.len().min(limit) as i64),
        Ok(set) => Reply::Int(set.len() as i64),
        Err(e) => e,
    }
}

/// `SMOVE source destination member`.
fn smove(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (source, destination, member) = (&args[1], &args[2], &args[3]);
    // A missing source answers 0 before the destination's type is checked, as in Redis.
    let present = match em.typed(conn.db, source, as_set) {
        Ok(Some(set)) => set.contains(member),
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    if let Err(e) = em.typed(conn.db, destination, as_set) {
        return e;
    }
    if !present {
        return Reply::Int(0);
    }
    if source == destination {
        return Reply::Int(1);
    }
    if let Ok(Some(set)) = em.typed(conn.db, source, as_set) {
        set.shift_remove(member);
    }
    em.drop_if_empty(conn.db, source);
    match em.typed_or_create(conn.db, destination, as_set, || Value::Set(Set::new())) {
        Ok(set) => {
            set.insert(member.clone());
            Reply::Int(1)
        }
        Err(e) => e,
    }
}

/// The most elements `SRANDMEMBER` with a negative count may repeat: each costs memory in the
/// reply, and Redis's own limit (the whole `long` range) is no limit here.
pub(super) const MAX_RANDOM_REPEATS: u64 = 1_000_000;

/// Redis's error for a random-member count of `i64::MIN`, which has no positive counterpart.
pub(super) const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// `SPOP key [count]`.
fn spop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    if args.len() > 3 {
        return Reply::error(super::SYNTAX);
    }
    let count = match args.get(2).map(|a| strict_i64(a)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::error("ERR value is out of range, must be positive"),
    };
    let len = match em.typed(conn.db, &args[1], as_set) {
        Ok(Some(set)) => set.len(),
        Ok(None) if count.is_some() => return Reply::Set(vec![]),
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let take = count.unwrap_or(1).min(len);
    let mut popped = Vec::with_capacity(take);
    for left in (len - take + 1..=len).rev() {
        let at = em.random_below(left);
        if let Ok(Some(set)) = em.typed(conn.db, &args[1], as_set)
            && let Some(member) = set.swap_remove_index(at)
        {
            popped.push(member);
        }
    }
    em.drop_if_empty(conn.db, &args[1]);
    match count {
        None => Reply::bulk_or_nil(popped.pop()),
        Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
    }
}

/// `SRANDMEMBER key [count]`: a positive count picks distinct members, a negative one may
/// repeat them.
fn srandmember(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    if args.len() > 3 {
        return Reply::error(super::SYNTAX);
    }
    let count = match args.get(2).map(|a| super::int_arg(a)) {
        None => None,
        Some(Ok(i64::MIN)) => return Reply::error(COUNT_OUT_OF_RANGE),
        Some(Ok(n)) if n.unsigned_abs() > MAX_RANDOM_REPEATS && n < 0 => {
            return Reply::error(format!(
                "ERR mocket: SRANDMEMBER count {n} asks for more than {MAX_RANDOM_REPEATS} \
                 members; ask for fewer"
            ));
        }
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => return e,
    };
    let members: Vec<Vec<u8>> = match em.typed(conn.db, &args[1], as_set) {
        Ok(Some(set)) => set.iter().cloned().collect(),
        Ok(None) if count.is_some() => return Reply::Array(vec![]),
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let Some(count) = count else {
        let at = em.random_below(members.len());
        return Reply::bulk(&members[at]);
    };
    if count < 0 {
        let picks = (0..count.unsigned_abs())
            .map(|_| Reply::bulk(&members[em.random_below(members.len())]))
            .collect();
        return Reply::Array(picks);
    }
    let mut pool = members;
    let take = (count as usize).min(pool.len());
    let picks = (0..take)
        .map(|_| {
            let at = em.random_below(pool.len());
            Reply::Bulk(pool.swap_remove(at))
        })
        .collect();
    Reply::Array(picks)
}
