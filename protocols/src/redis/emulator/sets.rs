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

fn smembers(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_set) {
        Ok(Some(set)) => {
            let mut members: Vec<&Vec<u8>> = set.iter().collect();
            let numbers: Option<Vec<i64>> = members.iter().map(|m| strict_i64(m)).collect();
            if let Some(numbers) = numbers {
                let mut paired: Vec<_> = numbers.into_iter().zip(members).collect();
                paired.sort_unstable();
                members = paired.into_iter().map(|(_, m)| m).collect();
            }
            Reply::Set(members.into_iter().map(Reply::bulk).collect())
        }
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
