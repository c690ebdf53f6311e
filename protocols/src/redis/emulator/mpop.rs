//! `LMPOP`, `ZMPOP` and their blocking forms `BLMPOP`, `BZMPOP`: pop up to `COUNT` elements
//! from the first non-empty of several keys, answering `[key, elements]`.

use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, blocking, lists, zsets};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "LMPOP" | "BLMPOP" | "ZMPOP" | "BZMPOP" => mpop,
        _ => return None,
    })
}

/// A parsed `[B]LMPOP`/`[B]ZMPOP`: the keys, which end (left/min is `true`) and how many.
#[derive(Debug)]
struct Request<'a> {
    keys: &'a [Vec<u8>],
    from_start: bool,
    count: usize,
}

/// A positive integer argument, with the error text Redis gives for both failures.
fn positive(arg: &[u8], what: &str) -> Result<usize, Reply> {
    match super::int_arg(arg) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(Reply::error(format!("ERR {what} should be greater than 0"))),
    }
}

/// Reads `numkeys key... LEFT|RIGHT|MIN|MAX [COUNT count]` from `numkeys_at`, in Redis's
/// order (the blocking forms read their timeout after this).
fn parse(args: &[Vec<u8>], numkeys_at: usize, lists: bool) -> Result<Request<'_>, Reply> {
    let numkeys = positive(&args[numkeys_at], "numkeys")?;
    let end_at = numkeys_at
        .checked_add(numkeys)
        .and_then(|i| i.checked_add(1))
        .filter(|i| *i < args.len())
        .ok_or_else(|| Reply::error(SYNTAX))?;
    let end = &args[end_at];
    let from_start = if lists {
        lists::end_arg(end)
    } else if super::is(end, "MIN") {
        Some(true)
    } else if super::is(end, "MAX") {
        Some(false)
    } else {
        None
    };
    let from_start = from_start.ok_or_else(|| Reply::error(SYNTAX))?;
    let mut count = None;
    let mut rest = &args[end_at + 1..];
    while let Some(option) = rest.first() {
        if count.is_none() && rest.len() >= 2 && super::is(option, "COUNT") {
            count = Some(positive(&rest[1], "count")?);
            rest = &rest[2..];
        } else {
            return Err(Reply::error(SYNTAX));
        }
    }
    Ok(Request {
        keys: &args[numkeys_at + 1..end_at],
        from_start,
        count: count.unwrap_or(1),
    })
}

/// Pops up to `count` elements of the value at `key` and answers `[key, elements]`: list
/// elements as bulks, sorted-set members as `[member, score]` pairs.
fn take(
    em: &mut Emulator,
    conn: &Connection,
    key: Vec<u8>,
    from_start: bool,
    count: usize,
) -> Reply {
    let Some(value) = em.value(conn.db, &key) else {
        return Reply::NilArray;
    };
    let popped: Vec<Reply> = if lists::is_list(value) {
        std::iter::from_fn(|| lists::pop_end(value, from_start))
            .take(count)
            .map(Reply::Bulk)
            .collect()
    } else {
        std::iter::from_fn(|| zsets::pop_extreme(value, !from_start))
            .take(count)
            .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
            .collect()
    };
    em.drop_if_empty(conn.db, &key);
    Reply::Array(vec![Reply::Bulk(key), Reply::Array(popped)])
}

/// `LMPOP numkeys key... LEFT|RIGHT [COUNT count]`, `ZMPOP ... MIN|MAX [COUNT count]`, and
/// `BLMPOP`/`BZMPOP` with a timeout before `numkeys`.
fn mpop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let blocking = args[0][0].eq_ignore_ascii_case(&b'B');
    let lists = args[0][usize::from(blocking)].eq_ignore_ascii_case(&b'L');
    let request = match parse(args, 1 + usize::from(blocking), lists) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let fits: fn(&Value) -> bool = if lists {
        lists::is_list
    } else {
        zsets::is_zset
    };
    let Request {
        keys,
        from_start,
        count,
    } = request;
    let pop =
        |em: &mut Emulator, conn: &Connection, key: Vec<u8>| take(em, conn, key, from_start, count);
    if blocking {
        return blocking::pop_or_wait_with(em, conn, &args[1], keys, fits, pop);
    }
    for key in keys {
        match em.value(conn.db, key) {
            None => continue,
            Some(v) if !fits(v) => return Reply::error(WRONGTYPE),
            Some(_) => return pop(em, conn, key.clone()),
        }
    }
    Reply::NilArray
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::entry::Seed;

    use crate::redis::emulator::run_line as run;

    #[test]
    fn pops_from_the_first_non_empty_key() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        run(&mut em, &mut conn, "rpush l a b c");
        assert_eq!(
            run(&mut em, &mut conn, "lmpop 2 none l right count 2"),
            Reply::Array(vec![Reply::bulk("l"), Reply::bulks(["c", "b"])])
        );
        run(&mut em, &mut conn, "zadd z 1 x 2 y");
        assert_eq!(
            run(&mut em, &mut conn, "zmpop 1 z max count 5"),
            Reply::Array(vec![
                Reply::bulk("z"),
                Reply::Array(vec![
                    Reply::Array(vec![Reply::bulk("y"), Reply::Double(2.0)]),
                    Reply::Array(vec![Reply::bulk("x"), Reply::Double(1.0)]),
                ]),
            ])
        );
        assert_eq!(run(&mut em, &mut conn, "exists z"), Reply::Int(0));
        assert_eq!(run(&mut em, &mut conn, "zmpop 1 z min"), Reply::NilArray);
    }

    #[test]
    fn arguments_are_checked_in_redis_order() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        let error = |text: &str| Reply::error(text);
        assert_eq!(
            run(&mut em, &mut conn, "lmpop 0 l left"),
            error("ERR numkeys should be greater than 0")
        );
        assert_eq!(run(&mut em, &mut conn, "lmpop 2 l left"), error(SYNTAX));
        assert_eq!(
            run(&mut em, &mut conn, "zmpop 1 z min count 0"),
            error("ERR count should be greater than 0")
        );
        assert_eq!(
            run(&mut em, &mut conn, "bzmpop x 1 z min"),
            error("ERR timeout is not a float or out of range")
        );
        assert_eq!(
            run(&mut em, &mut conn, "lmpop 18446744073709551615 l left"),
            error("ERR numkeys should be greater than 0")
        );
    }
}
