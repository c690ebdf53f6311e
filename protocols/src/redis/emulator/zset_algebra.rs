//! Sorted-set algebra and the other multi-key sorted-set commands: `ZUNION`, `ZINTER`,
//! `ZDIFF` and their `STORE` forms (with `WEIGHTS`, `AGGREGATE`, `WITHSCORES`),
//! `ZINTERCARD` and `ZRANGESTORE`, following Redis 7.0's `t_zset.c`.

use super::zsets::{self, By, ZSet};
use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, float_arg, int_arg, is};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "ZUNION" | "ZINTER" | "ZDIFF" | "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE"
        | "ZINTERCARD" => algebra,
        "ZRANGESTORE" => zrangestore,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Union,
    Inter,
    Diff,
}

/// How the scores of one member in several inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a sum that is not a number becomes 0.
    fn apply(self, target: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = target + value;
                if sum.is_nan() { 0.0 } else { sum }
            }
            Aggregate::Min if value < target => value,
            Aggregate::Max if value > target => value,
            Aggregate::Min | Aggregate::Max => target,
        }
    }
}

/// One input of the algebra: its members with their scores (a plain set's members score 1)
/// and its weight.
#[derive(Debug)]
struct Source {
    members: Vec<(Vec<u8>, f64)>,
    weight: f64,
}

impl Source {
    fn find(&self, member: &[u8]) -> Option<f64> {
        self.members
            .iter()
            .find(|(m, _)| m == member)
            .map(|(_, s)| *s)
    }
}

/// What the command line asks for, parsed in Redis's order.
#[derive(Debug)]
struct Request {
    operation: Operation,
    destination: Option<Vec<u8>>,
    cardinality_only: bool,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// The members and scores of the value at a key, for the algebra: sorted sets and sets.
fn members_of(value: Option<&Value>) -> Result<Vec<(Vec<u8>, f64)>, Reply> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::ZSet(z)) => Ok(z.ordered(false).map(|(m, s)| (m.to_vec(), s)).collect()),
        Some(Value::Set(s)) => Ok(s.iter().map(|m| (m.clone(), 1.0)).collect()),
        Some(_) => Err(Reply::error(WRONGTYPE)),
    }
}

/// Reads `numkeys`, the input keys (type-checked before the options, as Redis does), then
/// `WEIGHTS`, `AGGREGATE`, `WITHSCORES` or `LIMIT` as the command allows them.
fn parse(em: &mut Emulator, db: usize, args: &[Vec<u8>]) -> Result<(Request, Vec<Source>), Reply> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let store = name.ends_with("STORE");
    let operation = match &name[1..2] {
        "U" => Operation::Union,
        "I" => Operation::Inter,
        _ => Operation::Diff,
    };
    let numkeys_at = if store { 2 } else { 1 };
    let numkeys = int_arg(&args[numkeys_at])?;
    if numkeys < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            name.to_ascii_lowercase()
        )));
    }
    let first_key = numkeys_at + 1;
    if numkeys as usize > args.len() - first_key {
        return Err(Reply::error(SYNTAX));
    }
    let numkeys = numkeys as usize;
    let mut sources = Vec::with_capacity(numkeys);
    for key in &args[first_key..first_key + numkeys] {
        let members = members_of(em.value(db, key).map(|v| &*v))?;
        sources.push(Source {
            members,
            weight: 1.0,
        });
    }
    let mut request = Request {
        operation,
        destination: store.then(|| args[1].clone()),
        cardinality_only: name == "ZINTERCARD",
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    parse_options(&mut request, &mut sources, &args[first_key + numkeys..])?;
    Ok((request, sources))
}

fn parse_options(
    request: &mut Request,
    sources: &mut [Source],
    mut rest: &[Vec<u8>],
) -> Result<(), Reply> {
    let combines = request.operation != Operation::Diff && !request.cardinality_only;
    while let Some(option) = rest.first() {
        if combines && rest.len() > sources.len() && is(option, "WEIGHTS") {
            for (source, weight) in sources.iter_mut().zip(&rest[1..]) {
                source.weight = float_arg(weight)
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
            }
            rest = &rest[1 + sources.len()..];
        } else if combines && rest.len() >= 2 && is(option, "AGGREGATE") {
            request.aggregate = match String::from_utf8_lossy(&rest[1])
                .to_ascii_uppercase()
                .as_str()
            {
                "SUM" => Aggregate::Sum,
                "MIN" => Aggregate::Min,
                "MAX" => Aggregate::Max,
                _ => return Err(Reply::error(SYNTAX)),
            };
            rest = &rest[2..];
        } else if request.destination.is_none()
            && !request.cardinality_only
            && is(option, "WITHSCORES")
        {
            request.withscores = true;
            rest = &rest[1..];
        } else if request.cardinality_only && rest.len() >= 2 && is(option, "LIMIT") {
            request.limit = match int_arg(&rest[1]) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(Reply::error("ERR LIMIT can't be negative")),
            };
            rest = &rest[2..];
        } else {
            return Err(Reply::error(SYNTAX));
        }
    }
    Ok(())
}

/// The weighted score of one input's member; a product that is not a number is 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let product = score * weight;
    if product.is_nan() { 0.0 } else { product }
}

/// Computes the result set. Union and intersection visit the inputs from the smallest, as
/// Redis does (it matters for sums of infinities).
fn combine(request: &Request, mut sources: Vec<Source>) -> ZSet {
    let mut result = ZSet::default();
    if request.operation != Operation::Diff {
        sources.sort_by_key(|s| s.members.len());
    }
    let aggregate = request.aggregate;
    match request.operation {
        Operation::Inter => {
            let (first, others) = sources.split_first().expect("at least one key");
            'members: for (member, score) in &first.members {
                let mut total = weighted(*score, first.weight);
                for other in others {
                    let Some(value) = other.find(member) else {
                        continue 'members;
                    };
                    total = aggregate.apply(total, value * other.weight);
                }
                result.insert(member, total);
            }
        }
        Operation::Union => {
            for source in &sources {
                for (member, score) in &source.members {
                    let value = weighted(*score, source.weight);
                    let total = match result.score(member) {
                        Some(current) => aggregate.apply(current, value),
                        None => value,
                    };
                    result.insert(member, total);
                }
            }
        }
        Operation::Diff => {
            let (first, others) = sources.split_first().expect("at least one key");
            for (member, score) in &first.members {
                if others.iter().all(|o| o.find(member).is_none()) {
                    result.insert(member, *score);
                }
            }
        }
    }
    result
}

/// `ZUNION`/`ZINTER`/`ZDIFF numkeys key... [options]`, their `STORE` forms with a
/// destination first, and `ZINTERCARD numkeys key... [LIMIT limit]`.
fn algebra(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (request, sources) = match parse(em, conn.db, args) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let result = combine(&request, sources);
    if request.cardinality_only {
        let count = match request.limit {
            0 => result.len(),
            limit => result.len().min(limit),
        };
        return Reply::Int(count as i64);
    }
    match &request.destination {
        Some(destination) => store(em, conn.db, destination, result),
        None => zsets::range_reply(
            result
                .ordered(false)
                .map(|(m, s)| (m.to_vec(), s))
                .collect(),
            request.withscores,
            conn.protocol,
        ),
    }
}

/// Replaces `destination` with `result` (deleting it when the result is empty) and answers
/// the result's size, as every `*STORE` command does.
fn store(em: &mut Emulator, db: usize, destination: &[u8], result: ZSet) -> Reply {
    let len = result.len();
    em.remove(db, destination);
    if len > 0 {
        em.put(db, destination, Value::ZSet(result));
    }
    Reply::Int(len as i64)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`.
fn zrangestore(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let request = match zsets::range_options("ZRANGESTORE", &args[5..]) {
        Ok(r) if r.withscores => return Reply::error(SYNTAX),
        Ok(r) => r,
        Err(e) => return e,
    };
    let (min, max) = match request.rev && request.by != By::Rank {
        true => (&args[4], &args[3]),
        false => (&args[3], &args[4]),
    };
    let empty = ZSet::default();
    if let Err(e) = zsets::select(&empty, &request, min, max) {
        return e;
    }
    let picked = match em.typed(conn.db, &args[2], zsets::as_zset) {
        Ok(source) => zsets::select(source.map_or(&empty, |z| &*z), &request, min, max),
        Err(e) => return e,
    };
    let mut result = ZSet::default();
    for (member, score) in picked.expect("range checked") {
        result.insert(&member, score);
    }
    store(em, conn.db, &args[1], result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::entry::Seed;

    use crate::redis::emulator::run_line as run;

    fn bulks(items: &[&str]) -> Reply {
        Reply::bulks(items.iter().map(|s| s.as_bytes()))
    }

    /// A RESP2 `WITHSCORES` reply: member, score, member, score...
    fn scored(items: &[(&str, f64)]) -> Reply {
        Reply::Array(
            items
                .iter()
                .flat_map(|(m, s)| [Reply::bulk(m), Reply::Double(*s)])
                .collect(),
        )
    }

    #[test]
    fn union_weights_and_aggregates_like_redis() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        run(&mut em, &mut conn, "zadd a 1 x 2 y");
        run(&mut em, &mut conn, "zadd b 10 y 20 z");
        run(&mut em, &mut conn, "sadd s x");
        assert_eq!(
            run(
                &mut em,
                &mut conn,
                "zunion 3 a b s weights 1 2 3 withscores"
            ),
            scored(&[("x", 4.0), ("y", 22.0), ("z", 40.0)])
        );
        assert_eq!(
            run(&mut em, &mut conn, "zinter 2 a b aggregate max withscores"),
            scored(&[("y", 10.0)])
        );
        assert_eq!(run(&mut em, &mut conn, "zdiff 2 a b"), bulks(&["x"]));
        assert_eq!(
            run(&mut em, &mut conn, "zintercard 2 a b limit 5"),
            Reply::Int(1)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zunionstore d 2 a b"),
            Reply::Int(3)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zinterstore d 2 a nope"),
            Reply::Int(0)
        );
        assert_eq!(run(&mut em, &mut conn, "exists d"), Reply::Int(0));
    }

    #[test]
    fn infinite_sums_that_are_not_numbers_become_zero() {
        assert_eq!(Aggregate::Sum.apply(f64::INFINITY, f64::NEG_INFINITY), 0.0);
        assert_eq!(weighted(f64::INFINITY, 0.0), 0.0);
        assert_eq!(Aggregate::Min.apply(1.0, f64::NAN), 1.0);
    }

    #[test]
    fn keys_are_type_checked_before_the_options() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        run(&mut em, &mut conn, "set str v");
        assert_eq!(
            run(&mut em, &mut conn, "zunion 1 str nonsense"),
            Reply::error(WRONGTYPE)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zunion x a"),
            Reply::error(crate::redis::emulator::NOT_INTEGER)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zdiff 1 a weights 1"),
            Reply::error(SYNTAX)
        );
    }

    #[test]
    fn rangestore_keeps_scores_and_deletes_on_empty() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        run(&mut em, &mut conn, "zadd a 1 x 2 y 3 z");
        assert_eq!(
            run(
                &mut em,
                &mut conn,
                "zrangestore d a (1 +inf byscore limit 0 1"
            ),
            Reply::Int(1)
        );
        assert_eq!(
            run(&mut em, &mut conn, "zrange d 0 -1 withscores"),
            scored(&[("y", 2.0)])
        );
        assert_eq!(
            run(&mut em, &mut conn, "zrangestore d a 5 6"),
            Reply::Int(0)
        );
        assert_eq!(run(&mut em, &mut conn, "exists d"), Reply::Int(0));
    }
}
