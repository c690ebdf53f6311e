//! List commands: pushes, pops with counts, ranges, LINDEX, LREM, LTRIM.

use std::collections::VecDeque;

use super::{Emulator, Handler, Value, int_arg, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "LPUSH" | "RPUSH" => push,
        "LPOP" | "RPOP" => pop,
        "LRANGE" => lrange,
        "LLEN" => llen,
        "LINDEX" => lindex,
        "LREM" => lrem,
        "LTRIM" => ltrim,
        "LMOVE" | "RPOPLPUSH" => lmove,
        "LPUSHX" | "RPUSHX" => pushx,
        "LSET" => lset,
        "LINSERT" => linsert,
        "LPOS" => lpos,
        _ => return None,
    })
}

type List = VecDeque<Vec<u8>>;

fn as_list(v: &mut Value) -> Option<&mut List> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

fn empty() -> Value {
    Value::List(List::new())
}

/// Redis's clamping of `start`/`stop` indexes (negative from the end) to a length: the
/// inclusive range, or `None` when it selects nothing.
pub(super) fn clamp(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

fn push(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let left = is(&args[0], "LPUSH");
    match em.typed_or_create(conn.db, &args[1], as_list, empty) {
        Ok(list) => {
            for item in &args[2..] {
                if left {
                    list.push_front(item.clone());
                } else {
                    list.push_back(item.clone());
                }
            }
            Reply::Int(list.len() as i64)
        }
        Err(e) => e,
    }
}

/// `LPOP key [count]` and `RPOP key [count]`: with a count, an array (nil array when the key
/// is missing).
fn pop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let left = is(&args[0], "LPOP");
    if args.len() > 3 {
        return spec::arity_error(if left { "lpop" } else { "rpop" });
    }
    // Redis reads the count as a non-negative integer, one error for both failures.
    let count = match args.get(2).map(|a| strict_i64(a)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::error("ERR value is out of range, must be positive"),
    };
    let list = match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => list,
        Ok(None) if count.is_some() => return Reply::NilArray,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let mut take = || {
        if left {
            list.pop_front()
        } else {
            list.pop_back()
        }
    };
    let reply = match count {
        None => Reply::bulk_or_nil(take()),
        Some(n) => Reply::bulks(std::iter::from_fn(take).take(n)),
    };
    em.drop_if_empty(conn.db, &args[1]);
    reply
}

/// Two integer arguments, for ranges.
fn range_args(args: &[Vec<u8>]) -> Result<(i64, i64), Reply> {
    Ok((int_arg(&args[2])?, int_arg(&args[3])?))
}

fn lrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (start, stop) = match range_args(args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => match clamp(start, stop, list.len()) {
            Some((a, b)) => Reply::bulks(list.range(a..=b)),
            None => Reply::Array(vec![]),
        },
        Ok(None) => Reply::Array(vec![]),
        Err(e) => e,
    }
}

fn llen(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_list) {
        Ok(list) => Reply::Int(list.map_or(0, |l| l.len() as i64)),
        Err(e) => e,
    }
}

/// The position of Redis list index `index` (negative counts from the end) in a list of `len`
/// elements, if it is one.
fn position(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    usize::try_from(i).ok()
}

fn lindex(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => Reply::bulk_or_nil(position(list.len(), index).and_then(|i| list.get(i))),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

/// `LREM key count element`: count > 0 from the head, < 0 from the tail, 0 all.
fn lrem(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let count = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let list = match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut positions: Vec<usize> = (0..list.len()).filter(|i| list[*i] == args[3]).collect();
    if count < 0 {
        positions.reverse();
    }
    positions.truncate(limit);
    positions.sort_unstable();
    for i in positions.iter().rev() {
        list.remove(*i);
    }
    em.drop_if_empty(conn.db, &args[1]);
    Reply::Int(positions.len() as i64)
}

fn ltrim(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (start, stop) = match range_args(args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => {
            match clamp(start, stop, list.len()) {
                Some((a, b)) => {
                    list.truncate(b + 1);
                    list.drain(..a);
                }
                None => list.clear(),
            }
            em.drop_if_empty(conn.db, &args[1]);
            Reply::ok()
        }
        Ok(None) => Reply::ok(),
        Err(e) => e,
    }
}

/// `LEFT` or `RIGHT` of `LMOVE`: whether it is the left end.
pub(super) fn end_arg(arg: &[u8]) -> Option<bool> {
    if is(arg, "LEFT") {
        Some(true)
    } else if is(arg, "RIGHT") {
        Some(false)
    } else {
        None
    }
}

/// Whether `value` is a list (for the blocking pops' type checks).
pub(super) fn is_list(value: &Value) -> bool {
    matches!(value, Value::List(_))
}

/// Takes an element from one end of a list value.
pub(super) fn pop_end(value: &mut Value, left: bool) -> Option<Vec<u8>> {
    let list = as_list(value)?;
    if left {
        list.pop_front()
    } else {
        list.pop_back()
    }
}

/// The move of `LMOVE`/`BLMOVE`/`RPOPLPUSH` once the source has an element: the destination
/// must be a list or missing (checked before anything moves), then the element moves.
pub(super) fn move_element(
    em: &mut Emulator,
    db: usize,
    (source, destination): (&[u8], &[u8]),
    (from_left, to_left): (bool, bool),
) -> Reply {
    if let Some(v) = em.value(db, destination)
        && !is_list(v)
    {
        return Reply::error(super::WRONGTYPE);
    }
    let Some(element) = em.value(db, source).and_then(|v| pop_end(v, from_left)) else {
        return Reply::Nil;
    };
    em.drop_if_empty(db, source);
    let list = em
        .typed_or_create(db, destination, as_list, empty)
        .expect("checked to be a list or missing");
    if to_left {
        list.push_front(element.clone());
    } else {
        list.push_back(element.clone());
    }
    Reply::Bulk(element)
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT` and `RPOPLPUSH source destination`.
fn lmove(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let ends = if is(&args[0], "RPOPLPUSH") {
        Some((false, true))
    } else {
        end_arg(&args[3]).zip(end_arg(&args[4]))
    };
    let Some(ends) = ends else {
        return Reply::error(super::SYNTAX);
    };
    match em.value(conn.db, &args[1]) {
        None => Reply::Nil,
        Some(v) if !is_list(v) => Reply::error(super::WRONGTYPE),
        Some(_) => move_element(em, conn.db, (&args[1], &args[2]), ends),
    }
}

/// `LPUSHX` and `RPUSHX`: push only onto an existing list.
fn pushx(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(_)) => push(em, conn, &[&[args[0][..5].to_vec()], &args[1..]].concat()),
        Ok(None) => Reply::Int(0),
        Err(e) => e,
    }
}

/// `LSET key index element`.
fn lset(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => match position(list.len(), index).and_then(|i| list.get_mut(i)) {
            Some(item) => {
                *item = args[3].clone();
                Reply::ok()
            }
            None => Reply::error("ERR index out of range"),
        },
        Ok(None) => Reply::error("ERR no such key"),
        Err(e) => e,
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`.
fn linsert(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let after = if is(&args[2], "AFTER") {
        true
    } else if is(&args[2], "BEFORE") {
        false
    } else {
        return Reply::error(super::SYNTAX);
    };
    match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => match list.iter().position(|item| *item == args[3]) {
            Some(at) => {
                list.insert(at + usize::from(after), args[4].clone());
                Reply::Int(list.len() as i64)
            }
            None => Reply::Int(-1),
        },
        Ok(None) => Reply::Int(0),
        Err(e) => e,
    }
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.
fn lpos(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Reply::error(super::SYNTAX);
        };
        let n = match int_arg(value) {
            Ok(n) => n,
            Err(e) => return e,
        };
        if is(&args[i], "RANK") {
            if n == 0 || n == i64::MIN {
                return Reply::error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
            rank = n;
        } else if is(&args[i], "COUNT") {
            if n < 0 {
                return Reply::error("ERR COUNT can't be negative");
            }
            count = Some(n as usize);
        } else if is(&args[i], "MAXLEN") {
            if n < 0 {
                return Reply::error("ERR MAXLEN can't be negative");
            }
            maxlen = n;
        } else {
            return Reply::error(super::SYNTAX);
        }
        i += 2;
    }
    let list = match em.typed(conn.db, &args[1], as_list) {
        Ok(Some(list)) => list,
        Ok(None) if count.is_some() => return Reply::Array(vec![]),
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let len = list.len();
    let scan = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as usize)
    };
    let indexes: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..scan)
    } else {
        Box::new((len - scan..len).rev())
    };
    let mut matches = indexes
        .filter(|i| list[*i] == args[2])
        .skip(rank.unsigned_abs() as usize - 1);
    match count {
        None => matches.next().map_or(Reply::Nil, |i| Reply::Int(i as i64)),
        Some(0) => Reply::Array(matches.map(|i| Reply::Int(i as i64)).collect()),
        Some(n) => Reply::Array(matches.take(n).map(|i| Reply::Int(i as i64)).collect()),
    }
}
