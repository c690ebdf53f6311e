//! `HRANDFIELD` and `ZRANDMEMBER`: one random field or member, or a count of them (distinct
//! when positive, possibly repeated when negative), with their values or scores when asked.

use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, int_arg, is, sets};
use crate::redis::conn::Connection;
use crate::redis::reply::{Protocol, Reply};

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "HRANDFIELD" | "ZRANDMEMBER" => random_fields,
        _ => return None,
    })
}

/// The fields of a hash with their values, or the members of a sorted set with their scores,
/// in the order Redis's iterator walks them for a count that covers them all: a hash from
/// its first field, a sorted set from its highest score.
fn entries(value: &Value, hash: bool) -> Option<Vec<(Vec<u8>, Reply)>> {
    match value {
        Value::Hash(h) if hash => Some(
            h.iter()
                .map(|(f, v)| (f.clone(), Reply::Bulk(v.clone())))
                .collect(),
        ),
        Value::ZSet(z) if !hash => Some(
            z.ordered(true)
                .map(|(m, s)| (m.to_vec(), Reply::Double(s)))
                .collect(),
        ),
        _ => None,
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]` and `ZRANDMEMBER key [count [WITHSCORES]]`.
fn random_fields(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let hash = is(&args[0], "HRANDFIELD");
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Ok(i64::MIN)) => return Reply::error(sets::COUNT_OUT_OF_RANGE),
        Some(Err(e)) => return e,
        Some(Ok(n)) => Some(n),
    };
    let keyword = if hash { "WITHVALUES" } else { "WITHSCORES" };
    if args.len() > 4 || (args.len() == 4 && !is(&args[3], keyword)) {
        return Reply::error(SYNTAX);
    }
    let with_values = args.len() == 4;
    // Redis refuses a count whose reply (name and value) would overflow its length.
    if with_values && count.is_some_and(|n| n.unsigned_abs() > (i64::MAX / 2) as u64) {
        return Reply::error("ERR value is out of range");
    }
    let items = match em.value(conn.db, &args[1]).map(|v| entries(v, hash)) {
        Some(Some(items)) => items,
        Some(None) => return Reply::error(WRONGTYPE),
        None if count.is_some() => return Reply::Array(vec![]),
        None => return Reply::Nil,
    };
    let Some(count) = count else {
        let at = em.random_below(items.len());
        return Reply::Bulk(items[at].0.clone());
    };
    if count < 0 && count.unsigned_abs() > sets::MAX_RANDOM_REPEATS {
        return Reply::error(format!(
            "ERR mocket: {} count {count} asks for more than {} elements; ask for fewer",
            String::from_utf8_lossy(&args[0]).to_ascii_uppercase(),
            sets::MAX_RANDOM_REPEATS
        ));
    }
    let picks = pick(em, items, count);
    pairs_reply(picks, with_values, conn.protocol)
}

/// Redis's cases: a negative count (or 1) samples with repeats, a count that covers the
/// collection answers all of it, a smaller one distinct elements.
fn pick(em: &mut Emulator, items: Vec<(Vec<u8>, Reply)>, count: i64) -> Vec<(Vec<u8>, Reply)> {
    if count < 0 || count == 1 {
        (0..count.unsigned_abs())
            .map(|_| items[em.random_below(items.len())].clone())
            .collect()
    } else if count as usize >= items.len() {
        items
    } else {
        let mut pool = items;
        (0..count)
            .map(|_| {
                let at = em.random_below(pool.len());
                pool.swap_remove(at)
            })
            .collect()
    }
}

/// Names, with their values when asked: flat under RESP2, `[name, value]` pairs under RESP3.
fn pairs_reply(items: Vec<(Vec<u8>, Reply)>, with_values: bool, protocol: Protocol) -> Reply {
    if !with_values {
        return Reply::bulks(items.into_iter().map(|(name, _)| name));
    }
    let pairs = items
        .into_iter()
        .map(|(name, value)| [Reply::Bulk(name), value]);
    match protocol {
        Protocol::Resp3 => Reply::Array(pairs.map(|p| Reply::Array(p.into())).collect()),
        Protocol::Resp2 => Reply::Array(pairs.flatten().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::entry::Seed;

    use crate::redis::emulator::run_line as run;

    #[test]
    fn a_count_covering_everything_answers_in_iteration_order() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        run(&mut em, &mut conn, "hset h a 1 b 2");
        assert_eq!(
            run(&mut em, &mut conn, "hrandfield h 5 withvalues"),
            Reply::bulks(["a", "1", "b", "2"])
        );
        run(&mut em, &mut conn, "zadd z 1 a 2 b");
        assert_eq!(
            run(&mut em, &mut conn, "zrandmember z 2"),
            Reply::bulks(["b", "a"])
        );
        assert_eq!(
            run(&mut em, &mut conn, "zrandmember z -3")
                .to_bytes(Protocol::Resp2)
                .len(),
            "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n".len()
        );
    }

    #[test]
    fn counts_and_keywords_are_checked_like_redis() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        assert_eq!(
            run(&mut em, &mut conn, "hrandfield h 1 withscores"),
            Reply::error(SYNTAX)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zrandmember z -9223372036854775808"),
            Reply::error(sets::COUNT_OUT_OF_RANGE)
        );
        assert_eq!(run(&mut em, &mut conn, "hrandfield nope"), Reply::Nil);
    }
}
