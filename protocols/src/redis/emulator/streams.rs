//! Streams: `XADD`, `XLEN`, `XRANGE`, `XREVRANGE`, `XDEL`, `XTRIM`, `XSETID`, `XREAD` (with
//! `BLOCK`), consumer groups (`XGROUP`, `XREADGROUP`, `XACK`, `XPENDING`, `XCLAIM`,
//! `XAUTOCLAIM`) and `XINFO`, with Redis 7.0's replies and error texts.
//!
//! Redis keeps a stream as a radix tree of listpack nodes of at most 100 entries; `XINFO
//! STREAM` reports that tree's size, and approximate trimming (`MAXLEN ~`) removes whole nodes
//! only. The emulator keeps the entries in an ordered map and models the nodes (which entries
//! each holds, how many it still holds) so both answer as Redis does. The 4 KB byte limit of a
//! node is not modelled: streams of large entries report fewer nodes than Redis would.
//!
//! `XREAD BLOCK` and `XREADGROUP BLOCK` block the connection through [`super::blocking`]: the
//! IDs the command resolved when it blocked (`$`) are kept, so a retry serves what came after.

use std::collections::{BTreeMap, BTreeSet};

use super::{Emulator, Handler, NOT_INTEGER, SYNTAX, Value, blocking, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::{Connection, subcommand_syntax_error, unknown_subcommand};
use crate::redis::reply::{Protocol, Reply};
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "XADD" => xadd,
        "XLEN" => xlen,
        "XRANGE" | "XREVRANGE" => xrange,
        "XDEL" => xdel,
        "XTRIM" => xtrim,
        "XSETID" => xsetid,
        "XREAD" | "XREADGROUP" => xread,
        "XGROUP" => xgroup,
        "XACK" => xack,
        "XPENDING" => xpending,
        "XCLAIM" => xclaim,
        "XAUTOCLAIM" => xautoclaim,
        "XINFO" => xinfo,
        _ => return None,
    })
}

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// Redis's `stream-node-max-entries` default: entries (live or deleted) per listpack node.
const NODE_MAX_ENTRIES: u64 = 100;

/// An entry ID: milliseconds and sequence, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub(crate) struct StreamId {
    ms: u64,
    seq: u64,
}

impl StreamId {
    const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    fn is_zero(self) -> bool {
        self == StreamId::default()
    }

    fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => Some(StreamId {
                ms: self.ms.checked_add(1)?,
                seq: 0,
            }),
        }
    }

    fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => Some(StreamId {
                ms: self.ms.checked_sub(1)?,
                seq: u64::MAX,
            }),
        }
    }

    fn reply(self) -> Reply {
        Reply::bulk(self.to_string())
    }

    /// The 128-bit big-endian key of a node in Redis's radix tree.
    fn key(self) -> [u8; 16] {
        let mut key = [0; 16];
        key[..8].copy_from_slice(&self.ms.to_be_bytes());
        key[8..].copy_from_slice(&self.seq.to_be_bytes());
        key
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One listpack node of Redis's radix tree, keyed by its first (master) ID.
#[derive(Debug, Clone, PartialEq, Default)]
struct Node {
    /// Entries ever appended, deleted ones included: a node holds at most 100.
    appended: u64,
    live: u64,
    /// The last ID appended (deleted or not): MINID trimming compares it.
    last: StreamId,
    /// The field names of the node's first entry: Redis's master entry, which entries with the
    /// same fields share in its RDB encoding ([`payload`]).
    master_fields: Vec<Vec<u8>>,
    /// Deleted entries, which Redis keeps flagged in their node until the node goes: a DUMP
    /// writes them as Redis does.
    tombstones: BTreeMap<StreamId, Vec<Vec<u8>>>,
}

/// A delivered, not yet acknowledged entry of a group.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    consumer: Vec<u8>,
    delivered_at: u64,
    deliveries: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Consumer {
    seen_at: u64,
    pending: BTreeSet<StreamId>,
}

/// A consumer group; consumers and groups are listed by name, as Redis's radix trees order them.
#[derive(Debug, Clone, PartialEq)]
struct Group {
    last_id: StreamId,
    /// Entries the group read, when it can be known (`None`: Redis's -1).
    entries_read: Option<u64>,
    pending: BTreeMap<StreamId, Pending>,
    consumers: BTreeMap<Vec<u8>, Consumer>,
}

/// A stream value.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Stream {
    /// Field-value words of each live entry.
    entries: BTreeMap<StreamId, Vec<Vec<u8>>>,
    nodes: BTreeMap<StreamId, Node>,
    last_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub(super) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    fn append(&mut self, id: StreamId, fields: Vec<Vec<u8>>) {
        let node = match self.nodes.last_entry() {
            Some(node) if node.get().appended < NODE_MAX_ENTRIES => node.into_mut(),
            _ => self.nodes.entry(id).or_default(),
        };
        if node.appended == 0 {
            node.master_fields = fields.iter().step_by(2).cloned().collect();
        }
        node.appended += 1;
        node.live += 1;
        node.last = id;
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Deletes one entry; a node left with no live entry goes, as in Redis.
    fn delete(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        let (&master, node) = self
            .nodes
            .range_mut(..=id)
            .next_back()
            .expect("every entry is in a node");
        node.live -= 1;
        node.tombstones.insert(id, fields);
        if node.live == 0 {
            self.nodes.remove(&master);
        }
        true
    }

    /// Trims by `strategy`; approximate trimming removes whole nodes only, at most `limit`
    /// entries (0: no limit). Returns how many entries went.
    fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            let whole = match strategy {
                Trim::MaxLen(max) if self.len() <= max => break,
                Trim::MaxLen(max) => self.len() - node.live >= max,
                Trim::MinId(min) => node.last < min,
            };
            // LIMIT bounds the work: a node that would pass it stays whole.
            if whole && limit > 0 && deleted + node.live > limit {
                break;
            }
            if whole {
                let node = self.nodes.remove(&master).expect("first node");
                let ids: Vec<StreamId> = self
                    .entries
                    .range(master..=node.last)
                    .map(|(id, _)| *id)
                    .collect();
                ids.iter().for_each(|id| {
                    self.entries.remove(id);
                });
                deleted += node.live;
                continue;
            }
            if approx {
                break;
            }
            let ids: Vec<StreamId> = self.entries.range(master..).map(|(id, _)| *id).collect();
            for id in ids {
                let done = match strategy {
                    Trim::MaxLen(max) => self.len() <= max,
                    Trim::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.delete(id);
                deleted += 1;
            }
            break;
        }
        deleted
    }

    /// Whether a deleted entry lies at or after `from` (Redis's `streamRangeHasTombstones`).
    fn tombstones_from(&self, from: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted.is_zero() {
            return false;
        }
        self.first_id() <= self.max_deleted && from <= self.max_deleted
    }

    /// How many entries came up to `id`, when that can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`).
    fn entries_up_to(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted.is_zero() || self.max_deleted < first {
            if id < first {
                return Some(self.entries_added - self.len());
            }
            if id == first {
                return Some(self.entries_added - self.len() + 1);
            }
        }
        None
    }

    /// A group's lag: entries added that it has not read, when that can be known.
    fn lag(&self, group: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = group.entries_read
            && !self.tombstones_from(group.last_id)
        {
            return Some(self.entries_added.saturating_sub(read));
        }
        self.entries_up_to(group.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// How many nodes Redis's radix tree of listpacks has (`radix-tree-nodes`).
    fn rax_nodes(&self) -> u64 {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|id| id.key()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_subtree(&keys, 0)
    }

    fn entry_reply(&self, id: StreamId) -> Option<Reply> {
        self.entries.get(&id).map(|fields| entry_reply(id, fields))
    }
}

fn entry_reply(id: StreamId, fields: &[Vec<u8>]) -> Reply {
    Reply::Array(vec![id.reply(), Reply::bulks(fields)])
}

/// Nodes of a radix tree holding `keys` (sorted, distinct, of equal length) below `depth`:
/// a run shared by all keys is one compressed node, a fork one node with a child per byte.
fn rax_subtree(keys: &[[u8; 16]], depth: usize) -> u64 {
    if depth == 16 {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let shared = (depth..16).take_while(|&i| first[i] == last[i]).count();
    if shared > 0 {
        return 1 + rax_subtree(keys, depth + shared);
    }
    let children: u64 = keys
        .chunk_by(|a, b| a[depth] == b[depth])
        .map(|group| rax_subtree(group, depth + 1))
        .sum();
    1 + children
}

#[derive(Debug, Clone, Copy)]
enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

fn as_stream(v: &mut Value) -> Option<&mut Stream> {
    match v {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

fn empty() -> Value {
    Value::Stream(Box::default())
}

/// The stream at `key`, `Ok(None)` when missing.
fn stream<'a>(
    em: &'a mut Emulator,
    conn: &Connection,
    key: &[u8],
) -> Result<Option<&'a mut Stream>, Reply> {
    em.typed(conn.db, key, as_stream)
}

// ID parsing, as Redis's `streamParseID` reads IDs.

/// An unsigned number as Redis's `string2ull` reads it: strict digits, or what `strtoull`
/// accepts (leading spaces, a sign).
fn parse_u64(text: &[u8]) -> Option<u64> {
    if let Some(n) = strict_i64(text) {
        return u64::try_from(n).ok();
    }
    let trimmed = text.trim_ascii_start();
    let (negative, digits) = match trimmed.first() {
        Some(b'+') => (false, &trimmed[1..]),
        Some(b'-') => (true, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// What an ID argument says: `-`/`+` when not `strict`, `ms` (the sequence is `missing_seq`),
/// `ms-seq`, and `ms-*` (sequence `None`) when `seq_auto`.
fn parse_id_with(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_auto: bool,
) -> Result<(StreamId, bool), Reply> {
    let invalid = || Reply::error(INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    if !strict && arg == b"-" {
        return Ok((StreamId::default(), true));
    }
    if !strict && arg == b"+" {
        return Ok((StreamId::MAX, true));
    }
    let Some(dash) = arg.iter().position(|b| *b == b'-') else {
        let ms = parse_u64(arg).ok_or_else(invalid)?;
        return Ok((
            StreamId {
                ms,
                seq: missing_seq,
            },
            true,
        ));
    };
    let ms = parse_u64(&arg[..dash]).ok_or_else(invalid)?;
    let seq = &arg[dash + 1..];
    if seq_auto && seq == b"*" {
        return Ok((StreamId { ms, seq: 0 }, false));
    }
    let seq = parse_u64(seq).ok_or_else(invalid)?;
    Ok((StreamId { ms, seq }, true))
}

/// A complete ID (`ms` or `ms-seq`; `-` and `+` refused).
fn strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_with(arg, 0, true, false).map(|(id, _)| id)
}

/// A range bound: `-`, `+`, an ID, or `(ID` (exclusive).
fn bound(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_with(&arg[1..], missing_seq, true, false)?.0;
        let moved = if start { id.next() } else { id.prev() };
        return moved.ok_or_else(|| {
            Reply::error(format!(
                "ERR invalid {} ID for the interval",
                if start { "start" } else { "end" }
            ))
        });
    }
    parse_id_with(arg, missing_seq, false, false).map(|(id, _)| id)
}

fn count_arg(arg: &[u8]) -> Result<u64, Reply> {
    let n = strict_i64(arg).ok_or_else(|| Reply::error(NOT_INTEGER))?;
    Ok(n.max(0) as u64)
}

/// Parses `IDs` (all first: Redis checks every one before acting).
fn strict_ids(args: &[Vec<u8>]) -> Result<Vec<StreamId>, Reply> {
    args.iter().map(|a| strict_id(a)).collect()
}

// XADD, XTRIM and their trimming options.

/// `[NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]` and, for XADD, the ID.
#[derive(Debug, Default)]
struct AddOrTrim {
    no_mkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    /// The ID given (and whether its sequence was), `None` for `*`.
    id: Option<(StreamId, bool)>,
    /// Where the field-value pairs start.
    next: usize,
}

fn add_or_trim_args(args: &[Vec<u8>], xadd: bool) -> Result<AddOrTrim, Reply> {
    let mut parsed = AddOrTrim::default();
    let mut limit = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if parsed.trim.is_some() {
                return Err(Reply::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            parsed.approx = false;
            if more >= 2 && (args[i + 1] == b"~" || args[i + 1] == b"=") {
                parsed.approx = args[i + 1] == b"~";
                i += 1;
            }
            let threshold = &args[i + 1];
            parsed.trim = Some(if is(opt, "MAXLEN") {
                let max = strict_i64(threshold).ok_or_else(|| Reply::error(NOT_INTEGER))?;
                if max < 0 {
                    return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(max as u64)
            } else {
                Trim::MinId(strict_id(threshold)?)
            });
            i += 1;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = strict_i64(&args[i + 1]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
            if n < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n as u64);
            i += 1;
        } else if xadd && is(opt, "NOMKSTREAM") {
            parsed.no_mkstream = true;
        } else if xadd {
            parsed.id = Some(parse_id_with(opt, 0, true, true)?);
            break;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    if limit.is_some_and(|n| n > 0) && parsed.trim.is_none() {
        return Err(Reply::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && parsed.trim.is_none() {
        return Err(Reply::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    parsed.limit = match (limit, parsed.approx) {
        (Some(_), false) => {
            return Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        (Some(n), true) => n,
        (None, true) => 100 * NODE_MAX_ENTRIES,
        (None, false) => 0,
    };
    parsed.next = i + 1;
    Ok(parsed)
}

/// The ID XADD gives a new entry: `*` from the clock, `ms-*` the next sequence.
fn new_id(last: StreamId, given: Option<(StreamId, bool)>, now: u64) -> Option<StreamId> {
    match given {
        None if now > last.ms => Some(StreamId { ms: now, seq: 0 }),
        None => last.next(),
        Some((id, true)) => (id > last).then_some(id),
        Some((id, false)) if id.ms > last.ms => Some(id),
        Some((id, false)) if id.ms == last.ms => last
            .seq
            .checked_add(1)
            .map(|seq| StreamId { ms: id.ms, seq }),
        Some(_) => None,
    }
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...`
fn xadd(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let parsed = match add_or_trim_args(args, true) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let fields = &args[parsed.next.min(args.len())..];
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return spec::arity_error("xadd");
    }
    if parsed
        .id
        .is_some_and(|(id, seq_given)| seq_given && id.is_zero())
    {
        return Reply::error("ERR The ID specified in XADD must be greater than 0-0");
    }
    let key = &args[1];
    let now = em.now;
    let stream = match stream(em, conn, key) {
        Err(e) => return e,
        Ok(None) if parsed.no_mkstream => return Reply::Nil,
        Ok(None) => {
            em.put(conn.db, key, empty());
            stream(em, conn, key).ok().flatten().expect("just created")
        }
        Ok(Some(s)) => s,
    };
    if stream.last_id == StreamId::MAX {
        return Reply::error(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let Some(id) = new_id(stream.last_id, parsed.id, now) else {
        return Reply::error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
    };
    stream.append(id, fields.to_vec());
    if let Some(strategy) = parsed.trim {
        stream.trim(strategy, parsed.approx, parsed.limit);
    }
    id.reply()
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
fn xtrim(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let parsed = match add_or_trim_args(args, false) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match stream(em, conn, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Int(0),
        Ok(Some(s)) => {
            let strategy = parsed.trim.expect("XTRIM requires a strategy");
            Reply::Int(s.trim(strategy, parsed.approx, parsed.limit) as i64)
        }
    }
}

fn xlen(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match stream(em, conn, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Int(s.map_or(0, |s| s.len() as i64)),
    }
}

/// `XRANGE key start end [COUNT count]` and `XREVRANGE key end start [COUNT count]`.
fn xrange(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let rev = is(&args[0], "XREVRANGE");
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let range = bound(start_arg, 0, true).and_then(|s| Ok((s, bound(end_arg, u64::MAX, false)?)));
    let (start, end) = match range {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut count = None;
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            match count_arg(&args[i + 1]) {
                Ok(n) => count = Some(n),
                Err(e) => return e,
            }
            i += 2;
        } else {
            return Reply::error(SYNTAX);
        }
    }
    let stream = match stream(em, conn, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![]),
        Ok(Some(s)) => s,
    };
    if count == Some(0) {
        return Reply::NilArray;
    }
    if start > end {
        return Reply::Array(vec![]);
    }
    let range = stream.entries.range(start..=end);
    let limit = count.map_or(usize::MAX, |n| n as usize);
    let items: Vec<Reply> = if rev {
        range
            .rev()
            .take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    } else {
        range
            .take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    };
    Reply::Array(items)
}

/// `XDEL key id [id ...]`
/// `XDEL key id...`: as in Redis, a missing key answers 0 and a wrong type WRONGTYPE before
/// the IDs are parsed.
fn xdel(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let stream = match stream(em, conn, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(s)) => s,
    };
    let ids = match strict_ids(&args[2..]) {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let mut deleted = 0;
    for id in ids {
        if stream.delete(id) {
            stream.max_deleted = stream.max_deleted.max(id);
            deleted += 1;
        }
    }
    Reply::Int(deleted)
}

/// `XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]`
fn xsetid(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let id = match strict_id(&args[2]) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut added = None;
    let mut max_deleted = StreamId::default();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "ENTRIESADDED") && more {
            match strict_i64(&args[i + 1]) {
                None => return Reply::error(NOT_INTEGER),
                Some(n) if n < 0 => return Reply::error("ERR entries_added must be positive"),
                Some(n) => added = Some(n as u64),
            }
        } else if is(&args[i], "MAXDELETEDID") && more {
            match strict_id(&args[i + 1]) {
                Err(e) => return e,
                Ok(m) if id < m => {
                    return Reply::error(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    );
                }
                Ok(m) => max_deleted = m,
            }
        } else {
            return Reply::error(SYNTAX);
        }
        i += 2;
    }
    let stream = match stream(em, conn, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    if let Some((&top, _)) = stream.entries.last_key_value() {
        if id < top {
            return Reply::error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if added.is_some_and(|n| n < stream.len()) {
            return Reply::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    // Redis 7.0 compares the ID with the stream's current greatest deleted ID nowhere (later
    // versions do).
    stream.last_id = id;
    if let Some(n) = added {
        stream.entries_added = n;
    }
    if !max_deleted.is_zero() {
        stream.max_deleted = max_deleted;
    }
    Reply::ok()
}

// XREAD and XREADGROUP.

/// What `XREAD`/`XREADGROUP` asked for.
#[derive(Debug, Default)]
struct ReadArgs {
    count: u64,
    /// Milliseconds; `Some(0)` blocks forever, `None` does not block.
    block: Option<u64>,
    group: Option<(Vec<u8>, Vec<u8>)>,
    noack: bool,
    keys: Vec<Vec<u8>>,
    ids: Vec<Vec<u8>>,
}

fn read_args(args: &[Vec<u8>], group: bool) -> Result<ReadArgs, Reply> {
    let mut parsed = ReadArgs::default();
    let mut streams = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if is(opt, "BLOCK") && more > 0 {
            i += 1;
            parsed.block = Some(blocking::timeout_ms_integer(&args[i])?);
        } else if is(opt, "COUNT") && more > 0 {
            i += 1;
            parsed.count = count_arg(&args[i])?;
        } else if is(opt, "STREAMS") && more > 0 {
            let rest = &args[i + 1..];
            if !rest.len().is_multiple_of(2) {
                let (name, symbol) = if group {
                    ("XREADGROUP", '>')
                } else {
                    ("XREAD", '$')
                };
                return Err(Reply::error(format!(
                    "ERR Unbalanced {name} list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            streams = Some(rest);
            break;
        } else if is(opt, "GROUP") && more >= 2 {
            if !group {
                return Err(Reply::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(opt, "NOACK") {
            if !group {
                return Err(Reply::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.noack = true;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    let Some(streams) = streams else {
        return Err(Reply::error(SYNTAX));
    };
    if group && parsed.group.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    let half = streams.len() / 2;
    parsed.keys = streams[..half].to_vec();
    parsed.ids = streams[half..].to_vec();
    Ok(parsed)
}

/// Where a read starts for one stream: entries after an ID, or a group's new entries (`>`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadStart {
    After(StreamId),
    New,
}

/// Resolves the ID arguments (`$`, `>`, IDs) against the data, checking types and groups.
fn resolve(em: &mut Emulator, conn: &Connection, read: &ReadArgs) -> Result<Vec<ReadStart>, Reply> {
    let mut from = Vec::with_capacity(read.keys.len());
    for (key, id) in read.keys.iter().zip(&read.ids) {
        let stream = stream(em, conn, key)?;
        if let Some((group, _)) = &read.group
            && stream
                .as_ref()
                .is_none_or(|s| !s.groups.contains_key(group))
        {
            return Err(Reply::error(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(group)
            )));
        }
        from.push(if id == b"$" {
            if read.group.is_some() {
                return Err(Reply::error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            ReadStart::After(stream.map_or(StreamId::default(), |s| s.last_id))
        } else if id == b">" {
            if read.group.is_none() {
                return Err(Reply::error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ReadStart::New
        } else {
            ReadStart::After(strict_id(id)?)
        });
    }
    Ok(from)
}

/// `XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...` and `XREADGROUP GROUP g c [COUNT n]
/// [BLOCK ms] [NOACK] STREAMS key ... id ...`.
fn xread(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let is_group = is(&args[0], "XREADGROUP");
    let read = match read_args(args, is_group) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(reply) = blocking::unblocked(em, conn) {
        return reply;
    }
    let from = match em.waiters.stream_starts(conn.id) {
        Some(saved) if conn.blocked.is_some() => saved,
        _ => match resolve(em, conn, &read) {
            Ok(from) => from,
            Err(e) => return blocking::done(em, conn, e),
        },
    };
    let now = em.now;
    let mut served = Vec::new();
    for (key, start) in read.keys.iter().zip(&from) {
        let waits_behind =
            matches!(start, ReadStart::New) && em.waiters.earlier_waiter(conn.id, conn.db, key);
        let reply = match stream(em, conn, key) {
            Err(e) => return blocking::done(em, conn, e),
            // Redis wakes a blocked XREADGROUP whose stream or group was deleted meanwhile.
            Ok(None) if is_group && conn.blocked.is_some() => {
                let gone = "UNBLOCKED the stream key no longer exists";
                return blocking::done(em, conn, Reply::error(gone));
            }
            Ok(Some(s))
                if conn.blocked.is_some()
                    && read
                        .group
                        .as_ref()
                        .is_some_and(|(g, _)| !s.groups.contains_key(g)) =>
            {
                let gone = "NOGROUP the consumer group this client was blocked on no longer exists";
                return blocking::done(em, conn, Reply::error(gone));
            }
            Ok(None) => None,
            Ok(Some(_)) if waits_behind => None,
            Ok(Some(s)) => serve(s, &read, *start, now),
        };
        if let Some(entries) = reply {
            served.push((Reply::Bulk(key.clone()), entries));
        }
    }
    if !served.is_empty() {
        let reply = match conn.protocol {
            Protocol::Resp2 => Reply::Array(
                served
                    .into_iter()
                    .map(|(k, v)| Reply::Array(vec![k, v]))
                    .collect(),
            ),
            Protocol::Resp3 => Reply::Map(served),
        };
        return blocking::done(em, conn, reply);
    }
    let Some(timeout) = read.block else {
        return Reply::NilArray;
    };
    let reply = blocking::wait(em, conn, &read.keys, (timeout > 0).then_some(timeout));
    if conn.blocked.is_some() {
        em.waiters.fix_stream_starts(conn.id, from);
    }
    reply
}

/// One stream's part of an XREAD/XREADGROUP reply, `None` when it has nothing to serve.
fn serve(stream: &mut Stream, read: &ReadArgs, start: ReadStart, now: u64) -> Option<Reply> {
    let Some((group_name, consumer_name)) = &read.group else {
        let ReadStart::After(after) = start else {
            unreachable!("> needs a group")
        };
        let top = *stream.entries.last_key_value()?.0;
        return (top > after).then(|| range_after(stream, after, read.count));
    };
    let history = match start {
        ReadStart::After(after) => Some(after),
        ReadStart::New => None,
    };
    let group_last = stream.groups[group_name].last_id;
    if history.is_none() {
        let top = *stream.entries.last_key_value()?.0;
        if top <= group_last {
            return None;
        }
    }
    let group = stream.groups.get_mut(group_name).expect("resolved");
    let consumer = group.consumers.entry(consumer_name.clone()).or_default();
    consumer.seen_at = now;
    Some(match history {
        Some(after) => consumer_history(stream, group_name, consumer_name, after, read.count, now),
        None => deliver_new(stream, read, now),
    })
}

fn range_after(stream: &Stream, after: StreamId, count: u64) -> Reply {
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let Some(start) = after.next() else {
        return Reply::Array(vec![]);
    };
    Reply::Array(
        stream
            .entries
            .range(start..)
            .take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect(),
    )
}

/// `XREADGROUP ... >`: entries after the group's last delivered one, now pending for the
/// consumer (unless NOACK).
fn deliver_new(stream: &mut Stream, read: &ReadArgs, now: u64) -> Reply {
    let (group_name, consumer_name) = read.group.as_ref().expect("a group read");
    let limit = if read.count == 0 {
        usize::MAX
    } else {
        read.count as usize
    };
    let after = stream.groups[group_name].last_id;
    let Some(start) = after.next() else {
        return Reply::Array(vec![]);
    };
    let ids: Vec<StreamId> = stream
        .entries
        .range(start..)
        .take(limit)
        .map(|(id, _)| *id)
        .collect();
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let read_counter = {
            let group = &stream.groups[group_name];
            match group.entries_read {
                Some(n) if !stream.tombstones_from(id) => Some(n + 1),
                _ if stream.entries_added > 0 => stream.entries_up_to(id),
                other => other,
            }
        };
        let group = stream.groups.get_mut(group_name).expect("resolved");
        group.entries_read = read_counter;
        group.last_id = id;
        if !read.noack {
            claim_for(group, id, consumer_name, now, 1);
        }
        items.push(stream.entry_reply(id).expect("listed"));
    }
    Reply::Array(items)
}

/// Makes `id` pending for `consumer`, moving it from whoever held it.
fn claim_for(group: &mut Group, id: StreamId, consumer: &[u8], now: u64, deliveries: u64) {
    if let Some(old) = group.pending.get(&id)
        && let Some(owner) = group.consumers.get_mut(&old.consumer)
    {
        owner.pending.remove(&id);
    }
    group.pending.insert(
        id,
        Pending {
            consumer: consumer.to_vec(),
            delivered_at: now,
            deliveries,
        },
    );
    group
        .consumers
        .entry(consumer.to_vec())
        .or_default()
        .pending
        .insert(id);
}

/// `XREADGROUP ... id`: the consumer's own pending entries after `after`, delivered again.
fn consumer_history(
    stream: &mut Stream,
    group_name: &[u8],
    consumer_name: &[u8],
    after: StreamId,
    count: u64,
    now: u64,
) -> Reply {
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let Some(start) = after.next() else {
        return Reply::Array(vec![]);
    };
    let group = stream.groups.get_mut(group_name).expect("resolved");
    let ids: Vec<StreamId> = group.consumers[consumer_name]
        .pending
        .range(start..)
        .take(limit)
        .copied()
        .collect();
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        match stream.entries.get(&id) {
            Some(fields) => {
                let pending = group.pending.get_mut(&id).expect("in the group's list");
                pending.delivered_at = now;
                pending.deliveries += 1;
                items.push(entry_reply(id, fields));
            }
            None => items.push(Reply::Array(vec![id.reply(), Reply::NilArray])),
        }
    }
    Reply::Array(items)
}

// Consumer groups.

fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The stream and group a command names, with Redis's NOGROUP error when either is missing.
fn group_of<'a>(
    em: &'a mut Emulator,
    conn: &Connection,
    key: &[u8],
    group: &[u8],
) -> Result<(&'a mut Stream, Vec<u8>), Reply> {
    match stream(em, conn, key)? {
        Some(s) if s.groups.contains_key(group) => Ok((s, group.to_vec())),
        _ => Err(no_group(key, group)),
    }
}

/// Subcommand arity as Redis's command table has it: `n` exactly, `-n` at least.
fn sub_arity_ok(arity: i32, words: usize) -> bool {
    if arity >= 0 {
        words == arity as usize
    } else {
        words >= arity.unsigned_abs() as usize
    }
}

/// Checks a subcommand against its arity; `Err` is Redis's error.
fn subcommand(args: &[Vec<u8>], command: &str, table: &[(&str, i32)]) -> Result<String, Reply> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some((_, arity)) = table.iter().find(|(name, _)| *name == sub) else {
        return Err(unknown_subcommand(&args[1], command));
    };
    if !sub_arity_ok(*arity, args.len()) {
        return Err(spec::arity_error(&format!(
            "{}|{sub}",
            command.to_ascii_lowercase()
        )));
    }
    Ok(sub)
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Print this help.",
];

/// `XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP`.
fn xgroup(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    const TABLE: &[(&str, i32)] = &[
        ("create", -5),
        ("setid", -5),
        ("destroy", 4),
        ("createconsumer", 5),
        ("delconsumer", 5),
        ("help", 2),
    ];
    let sub = match subcommand(args, "XGROUP", TABLE) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if sub == "help" {
        return Reply::simples(XGROUP_HELP);
    }
    let syntax = || subcommand_syntax_error(&args[1], "XGROUP");
    let mut mkstream = false;
    let mut entries_read: Option<u64> = None;
    if sub == "create" || sub == "setid" {
        let mut i = 5;
        while i < args.len() {
            if sub == "create" && is(&args[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "ENTRIESREAD") && i + 1 < args.len() {
                match strict_i64(&args[i + 1]) {
                    None => return Reply::error(NOT_INTEGER),
                    Some(-1) => entries_read = None,
                    Some(n) if n < 0 => {
                        return Reply::error("ERR value for ENTRIESREAD must be positive or -1");
                    }
                    Some(n) => entries_read = Some(n as u64),
                }
                i += 2;
            } else {
                return syntax();
            }
        }
    }
    let (key, group_name) = (&args[2], &args[3]);
    let exists = match stream(em, conn, key) {
        Err(e) => return e,
        Ok(s) => s.map(|s| s.groups.contains_key(group_name.as_slice())),
    };
    match exists {
        None if !mkstream => {
            return Reply::error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            );
        }
        Some(false) if sub != "create" && sub != "destroy" => {
            return Reply::error(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group_name),
                String::from_utf8_lossy(key)
            ));
        }
        _ => {}
    }
    let now = em.now;
    match sub.as_str() {
        "create" => group_create(em, conn, args, entries_read),
        "setid" => {
            let stream = stream(em, conn, key).ok().flatten().expect("checked");
            let id = if args[4] == b"$" {
                stream.last_id
            } else {
                match parse_id_with(&args[4], 0, false, false) {
                    Ok((id, _)) => id,
                    Err(e) => return e,
                }
            };
            let group = stream
                .groups
                .get_mut(group_name.as_slice())
                .expect("checked");
            group.last_id = id;
            group.entries_read = entries_read;
            Reply::ok()
        }
        "destroy" => {
            let stream = stream(em, conn, key).ok().flatten().expect("checked");
            Reply::Int(stream.groups.remove(group_name.as_slice()).is_some().into())
        }
        "createconsumer" => {
            let stream = stream(em, conn, key).ok().flatten().expect("checked");
            let group = stream
                .groups
                .get_mut(group_name.as_slice())
                .expect("checked");
            if group.consumers.contains_key(&args[4]) {
                return Reply::Int(0);
            }
            group.consumers.insert(
                args[4].clone(),
                Consumer {
                    seen_at: now,
                    ..Consumer::default()
                },
            );
            Reply::Int(1)
        }
        "delconsumer" => {
            let stream = stream(em, conn, key).ok().flatten().expect("checked");
            let group = stream
                .groups
                .get_mut(group_name.as_slice())
                .expect("checked");
            let Some(consumer) = group.consumers.remove(&args[4]) else {
                return Reply::Int(0);
            };
            for id in &consumer.pending {
                group.pending.remove(id);
            }
            Reply::Int(consumer.pending.len() as i64)
        }
        _ => syntax(),
    }
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]`
fn group_create(
    em: &mut Emulator,
    conn: &Connection,
    args: &[Vec<u8>],
    entries_read: Option<u64>,
) -> Reply {
    let key = &args[2];
    let last = stream(em, conn, key).ok().flatten().map(|s| s.last_id);
    let id = if args[4] == b"$" {
        last.unwrap_or_default()
    } else {
        match strict_id(&args[4]) {
            Ok(id) => id,
            Err(e) => return e,
        }
    };
    if last.is_none() {
        em.put(conn.db, key, empty());
    }
    let stream = stream(em, conn, key).ok().flatten().expect("exists");
    if stream.groups.contains_key(&args[3]) {
        return Reply::error("BUSYGROUP Consumer Group name already exists");
    }
    stream.groups.insert(
        args[3].clone(),
        Group {
            last_id: id,
            entries_read,
            pending: BTreeMap::new(),
            consumers: BTreeMap::new(),
        },
    );
    Reply::ok()
}

/// `XACK key group id [id ...]`
/// `XACK key group id...`: as in Redis, a missing key or group answers 0 before the IDs are
/// parsed; then one invalid ID fails the whole command.
fn xack(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let stream = match stream(em, conn, &args[1]) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let Some(group) = stream.and_then(|s| s.groups.get_mut(&args[2])) else {
        return Reply::Int(0);
    };
    let ids = match strict_ids(&args[3..]) {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let mut acked = 0;
    for id in ids {
        if let Some(pending) = group.pending.remove(&id) {
            if let Some(consumer) = group.consumers.get_mut(&pending.consumer) {
                consumer.pending.remove(&id);
            }
            acked += 1;
        }
    }
    Reply::Int(acked)
}

/// `XPENDING key group [[IDLE min-idle] start end count [consumer]]`
fn xpending(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let extended = match pending_range_args(args) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let now = em.now;
    let (stream, group_name) = match group_of(em, conn, &args[1], &args[2]) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let group = &stream.groups[&group_name];
    let Some(range) = extended else {
        return pending_summary(group);
    };
    let ids: Box<dyn Iterator<Item = &StreamId>> = match &range.consumer {
        Some(name) => match group.consumers.get(name) {
            Some(c) => Box::new(c.pending.range(range.start..)),
            None => return Reply::Array(vec![]),
        },
        None => Box::new(group.pending.keys().filter(|id| **id >= range.start)),
    };
    let items = ids
        .take_while(|id| **id <= range.end)
        .map(|id| (id, &group.pending[id]))
        .filter(|(_, p)| {
            range.min_idle == 0 || now.saturating_sub(p.delivered_at) >= range.min_idle
        })
        .take(range.count as usize)
        .map(|(id, p)| {
            Reply::Array(vec![
                id.reply(),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int(now.saturating_sub(p.delivered_at) as i64),
                Reply::Int(p.deliveries as i64),
            ])
        })
        .collect();
    Reply::Array(items)
}

fn pending_summary(group: &Group) -> Reply {
    let (Some(first), Some(last)) = (
        group.pending.keys().next(),
        group.pending.keys().next_back(),
    ) else {
        return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
    };
    let consumers = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pending.is_empty())
        .map(|(name, c)| {
            Reply::Array(vec![
                Reply::Bulk(name.clone()),
                Reply::bulk(c.pending.len().to_string()),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::Int(group.pending.len() as i64),
        first.reply(),
        last.reply(),
        Reply::Array(consumers),
    ])
}

struct PendingRange {
    min_idle: u64,
    start: StreamId,
    end: StreamId,
    count: u64,
    consumer: Option<Vec<u8>>,
}

/// The extended form's arguments, `None` for the summary form.
fn pending_range_args(args: &[Vec<u8>]) -> Result<Option<PendingRange>, Reply> {
    if args.len() == 3 {
        return Ok(None);
    }
    if args.len() < 6 || args.len() > 9 {
        return Err(Reply::error(SYNTAX));
    }
    let mut at = 3;
    let mut min_idle = 0;
    if is(&args[3], "IDLE") {
        let idle = strict_i64(&args[4]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
        if args.len() < 8 {
            return Err(Reply::error(SYNTAX));
        }
        min_idle = idle.max(0) as u64;
        at += 2;
    }
    let count = count_arg(&args[at + 2])?;
    let start = bound(&args[at], 0, true)?;
    let end = bound(&args[at + 1], u64::MAX, false)?;
    Ok(Some(PendingRange {
        min_idle,
        start,
        end,
        count,
        consumer: args.get(at + 3).cloned(),
    }))
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id]`
fn xclaim(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let now = em.now;
    let (stream, group_name) = match group_of(em, conn, &args[1], &args[2]) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let Some(min_idle) = strict_i64(&args[4]) else {
        return Reply::error("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let id_count = args[5..]
        .iter()
        .take_while(|a| strict_id(a).is_ok())
        .count();
    let ids: Vec<StreamId> = args[5..5 + id_count]
        .iter()
        .map(|a| strict_id(a).expect("checked"))
        .collect();
    let options = match claim_options(&args[5 + id_count..], now) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let group = stream.groups.get_mut(&group_name).expect("found");
    group.last_id = group.last_id.max(options.last_id);
    let mut items = Vec::new();
    for id in ids {
        let Some(fields) = stream.entries.get(&id) else {
            drop_pending(group, id);
            continue;
        };
        let deliveries = match group.pending.get(&id) {
            Some(p) if min_idle > 0 && now.saturating_sub(p.delivered_at) < min_idle => continue,
            Some(p) => p.deliveries,
            // A forced new entry starts at one delivery, as Redis's new NACK does.
            None if options.force => 1,
            None => continue,
        };
        let deliveries = match options.retry_count {
            Some(n) => n,
            None if options.just_id => deliveries,
            None => deliveries + 1,
        };
        claim_for(group, id, &args[3], options.delivered_at, deliveries);
        group
            .consumers
            .get_mut(&args[3])
            .expect("just made")
            .seen_at = now;
        items.push(if options.just_id {
            id.reply()
        } else {
            entry_reply(id, fields)
        });
    }
    Reply::Array(items)
}

/// Forgets a pending entry whose stream entry was deleted.
fn drop_pending(group: &mut Group, id: StreamId) {
    if let Some(p) = group.pending.remove(&id)
        && let Some(c) = group.consumers.get_mut(&p.consumer)
    {
        c.pending.remove(&id);
    }
}

struct ClaimOptions {
    force: bool,
    just_id: bool,
    delivered_at: u64,
    retry_count: Option<u64>,
    last_id: StreamId,
}

fn claim_options(args: &[Vec<u8>], now: u64) -> Result<ClaimOptions, Reply> {
    let mut options = ClaimOptions {
        force: false,
        just_id: false,
        delivered_at: now,
        retry_count: None,
        last_id: StreamId::default(),
    };
    let mut delivery: Option<i64> = None;
    let mut i = 0;
    while i < args.len() {
        let more = i + 1 < args.len();
        let number = |what: &str| {
            strict_i64(&args[i + 1]).ok_or_else(|| {
                Reply::error(format!("ERR Invalid {what} option argument for XCLAIM"))
            })
        };
        if is(&args[i], "FORCE") {
            options.force = true;
        } else if is(&args[i], "JUSTID") {
            options.just_id = true;
        } else if is(&args[i], "IDLE") && more {
            delivery = Some((now as i64).wrapping_sub(number("IDLE")?));
            i += 1;
        } else if is(&args[i], "TIME") && more {
            delivery = Some(number("TIME")?);
            i += 1;
        } else if is(&args[i], "RETRYCOUNT") && more {
            options.retry_count = Some(number("RETRYCOUNT")?.max(0) as u64);
            i += 1;
        } else if is(&args[i], "LASTID") && more {
            options.last_id = strict_id(&args[i + 1])?;
            i += 1;
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
        i += 1;
    }
    if let Some(at) = delivery {
        options.delivered_at = if at < 0 || at as u64 > now {
            now
        } else {
            at as u64
        };
    }
    Ok(options)
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
fn xautoclaim(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let Some(min_idle) = strict_i64(&args[4]) else {
        return Reply::error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let start = match bound(&args[5], 0, true) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut count: u64 = 100;
    let mut just_id = false;
    let mut i = 6;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            match strict_i64(&args[i + 1]) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => count = n as u64,
                _ => return Reply::error("ERR COUNT must be > 0"),
            }
            i += 1;
        } else if is(&args[i], "JUSTID") {
            just_id = true;
        } else {
            return Reply::error(SYNTAX);
        }
        i += 1;
    }
    let now = em.now;
    let (stream, group_name) = match group_of(em, conn, &args[1], &args[2]) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let group = stream.groups.get_mut(&group_name).expect("found");
    let candidates: Vec<StreamId> = group.pending.range(start..).map(|(id, _)| *id).collect();
    let mut attempts = count.saturating_mul(10);
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut examined = 0;
    for id in &candidates {
        if attempts == 0 || count == 0 {
            break;
        }
        attempts -= 1;
        examined += 1;
        let Some(fields) = stream.entries.get(id) else {
            drop_pending(group, *id);
            deleted.push(id.reply());
            count -= 1;
            continue;
        };
        let pending = &group.pending[id];
        if min_idle > 0 && now.saturating_sub(pending.delivered_at) < min_idle {
            continue;
        }
        let deliveries = pending.deliveries + u64::from(!just_id);
        claim_for(group, *id, &args[3], now, deliveries);
        group
            .consumers
            .get_mut(&args[3])
            .expect("just made")
            .seen_at = now;
        claimed.push(if just_id {
            id.reply()
        } else {
            entry_reply(*id, fields)
        });
        count -= 1;
    }
    let cursor = candidates.get(examined).copied().unwrap_or_default();
    Reply::Array(vec![
        cursor.reply(),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}

// XINFO.

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Print this help.",
];

/// `XINFO STREAM key [FULL [COUNT n]]`, `XINFO GROUPS key`, `XINFO CONSUMERS key group`.
fn xinfo(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    const TABLE: &[(&str, i32)] = &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)];
    let sub = match subcommand(args, "XINFO", TABLE) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if sub == "help" {
        return Reply::simples(XINFO_HELP);
    }
    let now = em.now;
    let stream = match stream(em, conn, &args[2]) {
        Err(e) => return e,
        Ok(None) => return Reply::error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    match sub.as_str() {
        "groups" => Reply::Array(
            stream
                .groups
                .iter()
                .map(|(name, g)| group_info(stream, name, g))
                .collect(),
        ),
        "consumers" => {
            let Some(group) = stream.groups.get(&args[3]) else {
                return Reply::error(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&args[3]),
                    String::from_utf8_lossy(&args[2])
                ));
            };
            Reply::Array(
                group
                    .consumers
                    .iter()
                    .map(|(name, c)| {
                        Reply::Map(vec![
                            field("name", Reply::Bulk(name.clone())),
                            field("pending", Reply::Int(c.pending.len() as i64)),
                            field("idle", Reply::Int(now.saturating_sub(c.seen_at) as i64)),
                        ])
                    })
                    .collect(),
            )
        }
        _ => stream_info(stream, &args[3..], now)
            .unwrap_or_else(|| subcommand_syntax_error(&args[1], "XINFO")),
    }
}

fn field(name: &str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk(name), value)
}

fn group_info(stream: &Stream, name: &[u8], group: &Group) -> Reply {
    Reply::Map(vec![
        field("name", Reply::Bulk(name.to_vec())),
        field("consumers", Reply::Int(group.consumers.len() as i64)),
        field("pending", Reply::Int(group.pending.len() as i64)),
        field("last-delivered-id", group.last_id.reply()),
        field("entries-read", int_or_nil(group.entries_read)),
        field("lag", int_or_nil(stream.lag(group))),
    ])
}

fn int_or_nil(n: Option<u64>) -> Reply {
    n.map_or(Reply::Nil, |n| Reply::Int(n as i64))
}

/// The fields `XINFO STREAM` starts with, in both forms.
fn stream_head(stream: &Stream) -> Vec<(Reply, Reply)> {
    vec![
        field("length", Reply::Int(stream.len() as i64)),
        field("radix-tree-keys", Reply::Int(stream.nodes.len() as i64)),
        field("radix-tree-nodes", Reply::Int(stream.rax_nodes() as i64)),
        field("last-generated-id", stream.last_id.reply()),
        field("max-deleted-entry-id", stream.max_deleted.reply()),
        field("entries-added", Reply::Int(stream.entries_added as i64)),
        field("recorded-first-entry-id", stream.first_id().reply()),
    ]
}

/// `None` for options Redis answers with its subcommand syntax error.
fn stream_info(stream: &Stream, options: &[Vec<u8>], now: u64) -> Option<Reply> {
    let mut count = 10;
    let full = match options {
        [] => false,
        [f] if is(f, "FULL") => true,
        [f, c, n] if is(f, "FULL") && is(c, "COUNT") => match strict_i64(n) {
            Some(n) => {
                count = n.max(0) as usize;
                true
            }
            None => return Some(Reply::error(NOT_INTEGER)),
        },
        _ => return None,
    };
    let mut fields = stream_head(stream);
    if !full {
        let edge = |e: Option<(&StreamId, &Vec<Vec<u8>>)>| {
            e.map_or(Reply::Nil, |(id, f)| entry_reply(*id, f))
        };
        fields.push(field("groups", Reply::Int(stream.groups.len() as i64)));
        fields.push(field("first-entry", edge(stream.entries.first_key_value())));
        fields.push(field("last-entry", edge(stream.entries.last_key_value())));
        return Some(Reply::Map(fields));
    }
    let limit = if count == 0 { usize::MAX } else { count };
    let entries = stream
        .entries
        .iter()
        .take(limit)
        .map(|(id, f)| entry_reply(*id, f))
        .collect();
    fields.push(field("entries", Reply::Array(entries)));
    let groups = stream
        .groups
        .iter()
        .map(|(name, g)| full_group_info(stream, name, g, limit, now))
        .collect();
    fields.push(field("groups", Reply::Array(groups)));
    Some(Reply::Map(fields))
}

fn full_group_info(stream: &Stream, name: &[u8], group: &Group, limit: usize, now: u64) -> Reply {
    let pending = group
        .pending
        .iter()
        .take(limit)
        .map(|(id, p)| {
            Reply::Array(vec![
                id.reply(),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int(p.delivered_at as i64),
                Reply::Int(p.deliveries as i64),
            ])
        })
        .collect();
    let consumers = group
        .consumers
        .iter()
        .map(|(cname, c)| {
            let own = c
                .pending
                .iter()
                .take(limit)
                .map(|id| {
                    let p = &group.pending[id];
                    Reply::Array(vec![
                        id.reply(),
                        Reply::Int(p.delivered_at as i64),
                        Reply::Int(p.deliveries as i64),
                    ])
                })
                .collect();
            Reply::Map(vec![
                field("name", Reply::Bulk(cname.clone())),
                field("seen-time", Reply::Int(c.seen_at as i64)),
                field("pel-count", Reply::Int(c.pending.len() as i64)),
                field("pending", Reply::Array(own)),
            ])
        })
        .collect();
    let _ = now;
    Reply::Map(vec![
        field("name", Reply::Bulk(name.to_vec())),
        field("last-delivered-id", group.last_id.reply()),
        field("entries-read", int_or_nil(group.entries_read)),
        field("lag", int_or_nil(stream.lag(group))),
        field("pel-count", Reply::Int(group.pending.len() as i64)),
        field("pending", Reply::Array(pending)),
        field("consumers", Reply::Array(consumers)),
    ])
}

/// Redis 7.0's RDB encoding of a stream, for DUMP and RESTORE.
pub(super) mod payload;
#[cfg(test)]
mod tests;
