//! Sorted set commands: ZADD with its flags, ZRANGE by rank, score or lex (and the older
//! ZREVRANGE and ZRANGEBYSCORE forms), ZSCORE, ZRANK, ZREM, ZCARD, ZCOUNT, ZINCRBY.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use super::lists::clamp;
use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, float_arg, int_arg, is};
use crate::redis::conn::Connection;
use crate::redis::reply::{Protocol, Reply};

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "ZADD" => zadd,
        "ZINCRBY" => zincrby,
        "ZRANGE" | "ZREVRANGE" | "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" | "ZRANGEBYLEX"
        | "ZREVRANGEBYLEX" => zrange,
        "ZREMRANGEBYSCORE" | "ZREMRANGEBYRANK" | "ZREMRANGEBYLEX" => zremrange,
        "ZLEXCOUNT" => zlexcount,
        "ZSCORE" => zscore,
        "ZRANK" | "ZREVRANK" => zrank,
        "ZMSCORE" => zmscore,
        "ZREM" => zrem,
        "ZCARD" => zcard,
        "ZCOUNT" => zcount,
        "ZPOPMIN" | "ZPOPMAX" => zpop,
        _ => return None,
    })
}

/// A score with a total order, so it can sit in a `BTreeSet`. Scores are never NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Members ordered by score, then by their bytes, as Redis orders them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ZSet {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl ZSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    pub(super) fn insert(&mut self, member: &[u8], score: f64) {
        self.remove(member);
        self.scores.insert(member.to_vec(), score);
        self.order.insert((Score(score), member.to_vec()));
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(old) => self.order.remove(&(Score(old), member.to_vec())),
            None => false,
        }
    }

    /// Members scored `min` or more, lowest first: a geo search scans score ranges.
    pub(super) fn scored_at_least(&self, min: f64) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.order
            .range((Score(min), Vec::new())..)
            .map(|(s, m)| (m.as_slice(), s.0))
    }

    /// Members and scores, lowest first, or highest first when `rev`.
    pub(super) fn ordered(&self, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let items = self.order.iter().map(|(s, m)| (m.as_slice(), s.0));
        if rev {
            Box::new(items.rev())
        } else {
            Box::new(items)
        }
    }
}

pub(super) fn as_zset(v: &mut Value) -> Option<&mut ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

fn empty() -> Value {
    Value::ZSet(ZSet::default())
}

const NOT_FLOAT: &str = "ERR value is not a valid float";
const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";

/// `ZADD`'s flags.
#[derive(Debug, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl AddFlags {
    /// Reads the flags before the first score; returns them and where the pairs start.
    fn parse(args: &[Vec<u8>]) -> (AddFlags, usize) {
        let mut f = AddFlags::default();
        let mut i = 2;
        while let Some(a) = args.get(i) {
            let flag = match String::from_utf8_lossy(a).to_ascii_uppercase().as_str() {
                "NX" => &mut f.nx,
                "XX" => &mut f.xx,
                "GT" => &mut f.gt,
                "LT" => &mut f.lt,
                "CH" => &mut f.ch,
                "INCR" => &mut f.incr,
                _ => break,
            };
            *flag = true;
            i += 1;
        }
        (f, i)
    }

    fn conflict(&self, pairs: usize) -> Option<&'static str> {
        if self.nx && self.xx {
            Some("ERR XX and NX options at the same time are not compatible")
        } else if (self.nx && (self.gt || self.lt)) || (self.gt && self.lt) {
            Some("ERR GT, LT, and/or NX options at the same time are not compatible")
        } else if self.incr && pairs > 1 {
            Some("ERR INCR option supports a single increment-element pair")
        } else {
            None
        }
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
fn zadd(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (flags, start) = AddFlags::parse(args);
    let elements = &args[start..];
    if elements.is_empty() || !elements.len().is_multiple_of(2) {
        return Reply::error(SYNTAX);
    }
    if let Some(conflict) = flags.conflict(elements.len() / 2) {
        return Reply::error(conflict);
    }
    let Some(pairs) = elements
        .chunks(2)
        .map(|p| float_arg(&p[0]).map(|s| (s, &p[1])))
        .collect::<Option<Vec<_>>>()
    else {
        return Reply::error(NOT_FLOAT);
    };
    let (db, key) = (conn.db, &args[1]);
    match em.typed(db, key, as_zset) {
        Err(e) => return e,
        Ok(None) if flags.xx => {
            return if flags.incr {
                Reply::Nil
            } else {
                Reply::Int(0)
            };
        }
        Ok(_) => {}
    }
    let zset = em
        .typed_or_create(db, key, as_zset, empty)
        .expect("type checked");
    let (mut added, mut changed, mut last) = (0, 0, None);
    for (score, member) in pairs {
        match add_one(zset, &flags, score, member) {
            Err(e) => {
                em.drop_if_empty(db, key);
                return e;
            }
            Ok(Outcome::Added(s)) => (added, last) = (added + 1, Some(s)),
            Ok(Outcome::Changed(s)) => (changed, last) = (changed + 1, Some(s)),
            Ok(Outcome::Same(s)) => last = Some(s),
            Ok(Outcome::Skipped) => last = None,
        }
    }
    em.drop_if_empty(db, key);
    if flags.incr {
        last.map_or(Reply::Nil, Reply::Double)
    } else {
        Reply::Int(added + if flags.ch { changed } else { 0 })
    }
}

enum Outcome {
    Added(f64),
    Changed(f64),
    Same(f64),
    Skipped,
}

/// One `score member` pair of `ZADD`, following Redis's `zsetAdd`.
fn add_one(zset: &mut ZSet, f: &AddFlags, score: f64, member: &[u8]) -> Result<Outcome, Reply> {
    let Some(current) = zset.score(member) else {
        if f.xx {
            return Ok(Outcome::Skipped);
        }
        zset.insert(member, score);
        return Ok(Outcome::Added(score));
    };
    if f.nx {
        return Ok(Outcome::Skipped);
    }
    let new = if f.incr { current + score } else { score };
    if new.is_nan() {
        return Err(Reply::error(NAN_RESULT));
    }
    if (f.lt && new >= current) || (f.gt && new <= current) {
        return Ok(Outcome::Skipped);
    }
    if new == current {
        return Ok(Outcome::Same(new));
    }
    zset.insert(member, new);
    Ok(Outcome::Changed(new))
}

fn zincrby(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let Some(by) = float_arg(&args[2]) else {
        return Reply::error(NOT_FLOAT);
    };
    let zset = match em.typed_or_create(conn.db, &args[1], as_zset, empty) {
        Ok(z) => z,
        Err(e) => return e,
    };
    let new = zset.score(&args[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        em.drop_if_empty(conn.db, &args[1]);
        return Reply::error(NAN_RESULT);
    }
    zset.insert(&args[3], new);
    Reply::Double(new)
}

/// What a range selects by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed `ZRANGE`-family request.
#[derive(Debug)]
pub(super) struct RangeRequest {
    pub(super) by: By,
    pub(super) rev: bool,
    limit: Option<(i64, i64)>,
    pub(super) withscores: bool,
}

/// Reads the options after `key min max`, starting from what the command name implies.
pub(super) fn range_options(name: &str, options: &[Vec<u8>]) -> Result<RangeRequest, Reply> {
    let (mut by, mut rev) = match name {
        "ZREVRANGE" => (Some(By::Rank), Some(true)),
        "ZRANGEBYSCORE" => (Some(By::Score), Some(false)),
        "ZREVRANGEBYSCORE" => (Some(By::Score), Some(true)),
        "ZRANGEBYLEX" => (Some(By::Lex), Some(false)),
        "ZREVRANGEBYLEX" => (Some(By::Lex), Some(true)),
        _ => (None, None),
    };
    let (mut limit, mut withscores) = (None, false);
    let mut i = 0;
    while let Some(o) = options.get(i) {
        let left = options.len() - i - 1;
        if is(o, "WITHSCORES") {
            withscores = true;
        } else if is(o, "LIMIT") && left >= 2 {
            limit = Some((int_arg(&options[i + 1])?, int_arg(&options[i + 2])?));
            i += 2;
        } else if rev.is_none() && is(o, "REV") {
            rev = Some(true);
        } else if by.is_none() && is(o, "BYSCORE") {
            by = Some(By::Score);
        } else if by.is_none() && is(o, "BYLEX") {
            by = Some(By::Lex);
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    let by = by.unwrap_or(By::Rank);
    if limit.is_some() && by == By::Rank {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(RangeRequest {
        by,
        rev: rev.unwrap_or(false),
        limit,
        withscores,
    })
}

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    float_arg(text).map(|value| ScoreBound { value, exclusive })
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Reply::error("ERR min or max is not a float")),
    }
}

fn in_score_range(score: f64, (min, max): (ScoreBound, ScoreBound)) -> bool {
    let above = if min.exclusive {
        score > min.value
    } else {
        score >= min.value
    };
    let below = if max.exclusive {
        score < max.value
    } else {
        score <= max.value
    };
    above && below
}

/// One end of a lex range: `-`, `+`, `[a` (inclusive), `(a` (exclusive).
#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first() {
        Some((b'-', [])) => Some(LexBound::Min),
        Some((b'+', [])) => Some(LexBound::Max),
        Some((b'[', rest)) => Some(LexBound::Inclusive(rest.to_vec())),
        Some((b'(', rest)) => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

fn lex_at_least(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(m) => member >= m.as_slice(),
        LexBound::Exclusive(m) => member > m.as_slice(),
    }
}

fn lex_at_most(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(m) => member <= m.as_slice(),
        LexBound::Exclusive(m) => member < m.as_slice(),
    }
}

/// The members a request selects, in reply order, with their scores.
pub(super) fn select(
    zset: &ZSet,
    req: &RangeRequest,
    min: &[u8],
    max: &[u8],
) -> Result<Vec<(Vec<u8>, f64)>, Reply> {
    let items = zset.ordered(req.rev);
    let picked: Vec<(&[u8], f64)> = match req.by {
        By::Rank => {
            let (start, stop) = (int_arg(min)?, int_arg(max)?);
            match clamp(start, stop, zset.len()) {
                Some((a, b)) => items.skip(a).take(b - a + 1).collect(),
                None => Vec::new(),
            }
        }
        By::Score => {
            let range = score_range(min, max)?;
            limited(items.filter(|(_, s)| in_score_range(*s, range)), req.limit)
        }
        By::Lex => {
            let (Some(lo), Some(hi)) = (lex_bound(min), lex_bound(max)) else {
                return Err(Reply::error("ERR min or max not valid string range item"));
            };
            let inside = |m: &[u8]| lex_at_least(m, &lo) && lex_at_most(m, &hi);
            limited(items.filter(|(m, _)| inside(m)), req.limit)
        }
    };
    Ok(picked.into_iter().map(|(m, s)| (m.to_vec(), s)).collect())
}

/// Applies `LIMIT offset count`: a negative offset selects nothing, a negative count all.
fn limited<'a>(
    items: impl Iterator<Item = (&'a [u8], f64)>,
    limit: Option<(i64, i64)>,
) -> Vec<(&'a [u8], f64)> {
    match limit {
        None => items.collect(),
        Some((offset, _)) if offset < 0 => Vec::new(),
        Some((offset, count)) => {
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            items.skip(offset as usize).take(count).collect()
        }
    }
}

/// Members, with their scores when asked: flat under RESP2, `[member, score]` pairs under
/// RESP3, as Redis answers.
pub(super) fn range_reply(
    items: Vec<(Vec<u8>, f64)>,
    withscores: bool,
    protocol: Protocol,
) -> Reply {
    if !withscores {
        return Reply::bulks(items.into_iter().map(|(m, _)| m));
    }
    let pairs = items
        .into_iter()
        .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)));
    match protocol {
        Protocol::Resp3 => Reply::Array(pairs.map(|(m, s)| Reply::Array(vec![m, s])).collect()),
        Protocol::Resp2 => Reply::Array(pairs.flat_map(|(m, s)| [m, s]).collect()),
    }
}

/// `ZRANGE key min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`, and the
/// older `ZREVRANGE` and `ZRANGEBYSCORE`.
fn zrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let req = match range_options(&name, &args[4..]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    // Score and lex ranges are given as `max min` when reversed.
    let (min, max) = match req.rev && req.by != By::Rank {
        true => (&args[3], &args[2]),
        false => (&args[2], &args[3]),
    };
    // Redis reads the range before the key: a bad range wins over a missing or wrong key.
    let empty_zset = ZSet::default();
    if let Err(e) = select(&empty_zset, &req, min, max) {
        return e;
    }
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(zset) => {
            let items = select(zset.map_or(&empty_zset, |z| &*z), &req, min, max);
            range_reply(items.expect("range checked"), req.withscores, conn.protocol)
        }
        Err(e) => e,
    }
}

fn zscore(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(z) => z
            .and_then(|z| z.score(&args[2]))
            .map_or(Reply::Nil, Reply::Double),
        Err(e) => e,
    }
}

fn zrank(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let rev = is(&args[0], "ZREVRANK");
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(z) => z
            .and_then(|z| z.ordered(rev).position(|(m, _)| m == args[2].as_slice()))
            .map_or(Reply::Nil, |rank| Reply::Int(rank as i64)),
        Err(e) => e,
    }
}

fn zrem(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let removed = match em.typed(conn.db, &args[1], as_zset) {
        Ok(Some(z)) => args[2..].iter().filter(|m| z.remove(m)).count(),
        Ok(None) => 0,
        Err(e) => return e,
    };
    em.drop_if_empty(conn.db, &args[1]);
    Reply::Int(removed as i64)
}

fn zcard(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len() as i64)),
        Err(e) => e,
    }
}

fn zcount(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let range = match score_range(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(z) => Reply::Int(z.map_or(0, |z| {
            z.ordered(false)
                .filter(|(_, s)| in_score_range(*s, range))
                .count() as i64
        })),
        Err(e) => e,
    }
}

/// Takes the lowest-scored member (the highest when `max`).
pub(super) fn pop_extreme(value: &mut Value, max: bool) -> Option<(Vec<u8>, f64)> {
    let zset = as_zset(value)?;
    let (member, score) = zset.ordered(max).next().map(|(m, s)| (m.to_vec(), s))?;
    zset.remove(&member);
    Some((member, score))
}

/// Whether `value` is a sorted set (for the blocking pops' type checks).
pub(super) fn is_zset(value: &Value) -> bool {
    matches!(value, Value::ZSet(_))
}

/// `ZPOPMIN key [count]` and `ZPOPMAX key [count]`.
fn zpop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let max = is(&args[0], "ZPOPMAX");
    if args.len() > 3 {
        return Reply::error(SYNTAX);
    }
    // One error for a count that is negative or not a number, as Redis reads it.
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::error("ERR value is out of range, must be positive"),
    };
    let popped: Vec<(Vec<u8>, f64)> = match em.value(conn.db, &args[1]) {
        None => Vec::new(),
        Some(v) if !is_zset(v) => return Reply::error(WRONGTYPE),
        Some(v) => std::iter::from_fn(|| pop_extreme(v, max))
            .take(count.unwrap_or(1))
            .collect(),
    };
    em.drop_if_empty(conn.db, &args[1]);
    let pairs = popped
        .into_iter()
        .map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)]);
    match (count, conn.protocol) {
        (Some(_), Protocol::Resp3) => Reply::Array(pairs.map(|p| Reply::Array(p.into())).collect()),
        _ => Reply::Array(pairs.flatten().collect()),
    }
}

/// `ZMSCORE key member...`.
fn zmscore(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(z) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| {
                    z.as_ref()
                        .and_then(|z| z.score(m))
                        .map_or(Reply::Nil, Reply::Double)
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

/// `ZREMRANGEBYSCORE key min max`, `ZREMRANGEBYRANK key start stop`, `ZREMRANGEBYLEX`.
fn zremrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let by = if is(&args[0], "ZREMRANGEBYSCORE") {
        By::Score
    } else if is(&args[0], "ZREMRANGEBYRANK") {
        By::Rank
    } else {
        By::Lex
    };
    let req = RangeRequest {
        by,
        rev: false,
        limit: None,
        withscores: false,
    };
    if let Err(e) = select(&ZSet::default(), &req, &args[2], &args[3]) {
        return e;
    }
    let removed = match em.typed(conn.db, &args[1], as_zset) {
        Ok(Some(zset)) => {
            let doomed = select(zset, &req, &args[2], &args[3]).expect("range checked");
            for (member, _) in &doomed {
                zset.remove(member);
            }
            doomed.len()
        }
        Ok(None) => 0,
        Err(e) => return e,
    };
    em.drop_if_empty(conn.db, &args[1]);
    Reply::Int(removed as i64)
}

/// `ZLEXCOUNT key min max`.
fn zlexcount(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let req = RangeRequest {
        by: By::Lex,
        rev: false,
        limit: None,
        withscores: false,
    };
    if let Err(e) = select(&ZSet::default(), &req, &args[2], &args[3]) {
        return e;
    }
    match em.typed(conn.db, &args[1], as_zset) {
        Ok(Some(zset)) => Reply::Int(
            select(zset, &req, &args[2], &args[3])
                .expect("range checked")
                .len() as i64,
        ),
        Ok(None) => Reply::Int(0),
        Err(e) => e,
    }
}
