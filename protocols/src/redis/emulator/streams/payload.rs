//! Redis 7.0's RDB encoding of a stream (`RDB_TYPE_STREAM_LISTPACKS_2`), read and written for
//! DUMP and RESTORE ([`super::super::dump`]).
//!
//! The layout: the listpack nodes (each its 128-bit master ID and a listpack: a master entry
//! with the node's counts and field names, then every entry, deleted ones flagged), the
//! length, the last, first and greatest deleted IDs, the entries ever added, then each
//! consumer group with its pending entries and consumers. The emulator models the same nodes
//! ([`Node`]), so a stream it dumps is the payload Redis would write, except that Redis
//! LZF-compresses listpacks that compress by more than 4 bytes (the reader takes both), and
//! that Redis splits nodes at 4 KB as well (not modelled, see [`super`]).
//!
//! Reading allocates nothing from a claimed count: entries, groups and consumers are added one
//! by one as their bytes are read, and every listpack is bounded by the emulator's string limit.

use std::collections::BTreeMap;

use super::super::dump::object::listpack;
use super::super::rdb::{PayloadError, Reader, write_len, write_string};
use super::{Consumer, Group, Node, Pending, Stream, StreamId};

/// The RDB object type of Redis 7.0's streams.
pub(in crate::redis::emulator) const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// An entry's flags in its node.
const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;
/// The fixed items of an entry: flags, milliseconds and sequence differences.
const ENTRY_FIXED_ITEMS: usize = 3;
/// How Redis writes a group's unknown `entries-read` (-1 as an unsigned length).
const UNKNOWN_ENTRIES_READ: u64 = u64::MAX;

/// An item of a listpack being written.
enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

/// Appends `stream`'s RDB encoding (after the type byte) to `out`.
pub(in crate::redis::emulator) fn encode(stream: &Stream, out: &mut Vec<u8>) {
    write_len(out, stream.nodes.len());
    for (master, node) in &stream.nodes {
        write_len(out, 16);
        out.extend_from_slice(&master.key());
        write_string(out, &node_listpack(stream, *master, node));
    }
    write_len(out, stream.entries.len());
    for id in [stream.last_id, stream.first_id(), stream.max_deleted] {
        write_id(out, id);
    }
    write_u64(out, stream.entries_added);
    write_len(out, stream.groups.len());
    for (name, group) in &stream.groups {
        write_string(out, name);
        write_id(out, group.last_id);
        write_u64(out, group.entries_read.unwrap_or(UNKNOWN_ENTRIES_READ));
        write_len(out, group.pending.len());
        for (id, pending) in &group.pending {
            out.extend_from_slice(&id.key());
            out.extend_from_slice(&(pending.delivered_at as i64).to_le_bytes());
            write_u64(out, pending.deliveries);
        }
        write_len(out, group.consumers.len());
        for (name, consumer) in &group.consumers {
            write_string(out, name);
            out.extend_from_slice(&(consumer.seen_at as i64).to_le_bytes());
            write_len(out, consumer.pending.len());
            consumer
                .pending
                .iter()
                .for_each(|id| out.extend_from_slice(&id.key()));
        }
    }
}

/// Lengths are 64-bit on the 64-bit hosts mocket runs on.
fn write_u64(out: &mut Vec<u8>, n: u64) {
    write_len(out, n as usize);
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_u64(out, id.ms);
    write_u64(out, id.seq);
}

/// The listpack of one node: the master entry, then live and deleted entries in ID order.
fn node_listpack(stream: &Stream, master: StreamId, node: &Node) -> Vec<u8> {
    let live = stream.entries.range(master..=node.last).map(|e| (e, 0));
    let deleted = node.tombstones.iter().map(|e| (e, FLAG_DELETED));
    let mut entries: Vec<_> = live.chain(deleted).collect();
    entries.sort_by_key(|((id, _), _)| **id);
    let mut items = vec![
        Item::Int(node.live as i64),
        Item::Int(node.tombstones.len() as i64),
        Item::Int(node.master_fields.len() as i64),
    ];
    items.extend(node.master_fields.iter().map(|f| Item::Str(f)));
    items.push(Item::Int(0));
    for ((id, fields), deleted) in entries {
        let same = fields.len() == 2 * node.master_fields.len()
            && fields.iter().step_by(2).eq(node.master_fields.iter());
        let flags = deleted | if same { FLAG_SAME_FIELDS } else { 0 };
        items.push(Item::Int(flags));
        items.push(Item::Int(id.ms.wrapping_sub(master.ms) as i64));
        items.push(Item::Int(id.seq.wrapping_sub(master.seq) as i64));
        let pairs = fields.len() / 2;
        let lp_count = if same {
            items.extend(fields.iter().skip(1).step_by(2).map(|v| Item::Str(v)));
            pairs + ENTRY_FIXED_ITEMS
        } else {
            items.push(Item::Int(pairs as i64));
            items.extend(fields.iter().map(|w| Item::Str(w)));
            2 * pairs + 1 + ENTRY_FIXED_ITEMS
        };
        items.push(Item::Int(lp_count as i64));
    }
    listpack_bytes(&items)
}

/// A listpack of `items`, encoded as Redis's `lpAppend` encodes them: strings that are
/// canonical 64-bit integers as integers, in the smallest encoding.
fn listpack_bytes(items: &[Item]) -> Vec<u8> {
    let mut out = vec![0; 6];
    for item in items {
        let start = out.len();
        match item {
            Item::Int(n) => write_lp_int(&mut out, *n),
            Item::Str(s) => match canonical_i64(s) {
                Some(n) => write_lp_int(&mut out, n),
                None => write_lp_str(&mut out, s),
            },
        }
        let entry_len = out.len() - start;
        write_back_len(&mut out, entry_len);
    }
    out.push(0xff);
    let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&total.to_le_bytes());
    let count = u16::try_from(items.len()).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&count.to_le_bytes());
    out
}

/// `s` as an integer when its text is exactly that integer's (`lpStringToInt64`).
fn canonical_i64(s: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == s).then_some(n)
}

fn write_lp_int(out: &mut Vec<u8>, n: i64) {
    let bytes = n.to_le_bytes();
    match n {
        0..=127 => out.push(n as u8),
        -4096..=4095 => {
            let v = (n as u16) & 0x1fff;
            out.extend_from_slice(&[0xc0 | (v >> 8) as u8, v as u8]);
        }
        -32768..=32767 => {
            out.push(0xf1);
            out.extend_from_slice(&bytes[..2]);
        }
        -8_388_608..=8_388_607 => {
            out.push(0xf2);
            out.extend_from_slice(&bytes[..3]);
        }
        -2_147_483_648..=2_147_483_647 => {
            out.push(0xf3);
            out.extend_from_slice(&bytes[..4]);
        }
        _ => {
            out.push(0xf4);
            out.extend_from_slice(&bytes);
        }
    }
}

fn write_lp_str(out: &mut Vec<u8>, s: &[u8]) {
    match s.len() {
        len @ 0..64 => out.push(0x80 | len as u8),
        len @ 64..4096 => out.extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]),
        len => {
            out.push(0xf0);
            out.extend_from_slice(&(len as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(s);
}

/// `lpEncodeBacklen`: an entry's length in 7-bit groups, most significant first, every
/// group but the first with its high bit set.
fn write_back_len(out: &mut Vec<u8>, len: usize) {
    let groups = match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    for g in (0..groups).rev() {
        let bits = ((len >> (7 * g)) & 0x7f) as u8;
        out.push(if g == groups - 1 { bits } else { bits | 0x80 });
    }
}

/// Reads a stream's RDB encoding (after the type byte).
pub(in crate::redis::emulator) fn decode(reader: &mut Reader) -> Result<Stream, PayloadError> {
    let mut stream = Stream::default();
    for _ in 0..reader.len()? {
        let master = id_from_key(&reader.string()?)?;
        if stream
            .nodes
            .last_key_value()
            .is_some_and(|(_, n)| n.last >= master)
        {
            return Err(PayloadError::Malformed);
        }
        read_node(&mut stream, master, &listpack(&reader.string()?)?)?;
    }
    if reader.len()? != stream.len() {
        return Err(PayloadError::Malformed);
    }
    stream.last_id = read_id(reader)?;
    let _first_id = read_id(reader)?;
    stream.max_deleted = read_id(reader)?;
    stream.entries_added = reader.len()?;
    // The emulator counts on both (lag and entries-read are computed from them).
    let newest = stream.nodes.last_key_value().map(|(_, n)| n.last);
    if newest.is_some_and(|last| last > stream.last_id) || stream.entries_added < stream.len() {
        return Err(PayloadError::Malformed);
    }
    for _ in 0..reader.len()? {
        let name = reader.string()?;
        let group = read_group(reader)?;
        if stream.groups.insert(name, group).is_some() {
            return Err(PayloadError::Malformed);
        }
    }
    Ok(stream)
}

fn read_id(reader: &mut Reader) -> Result<StreamId, PayloadError> {
    Ok(StreamId {
        ms: reader.len()?,
        seq: reader.len()?,
    })
}

/// An ID from its 128-bit big-endian key.
fn id_from_key(key: &[u8]) -> Result<StreamId, PayloadError> {
    let key: &[u8; 16] = key.try_into().map_err(|_| PayloadError::Malformed)?;
    Ok(StreamId {
        ms: u64::from_be_bytes(key[..8].try_into().expect("8")),
        seq: u64::from_be_bytes(key[8..].try_into().expect("8")),
    })
}

fn item_int(item: Option<&Vec<u8>>) -> Result<i64, PayloadError> {
    item.and_then(|text| std::str::from_utf8(text).ok()?.parse().ok())
        .ok_or(PayloadError::Malformed)
}

fn item_count(item: Option<&Vec<u8>>) -> Result<usize, PayloadError> {
    usize::try_from(item_int(item)?).map_err(|_| PayloadError::Malformed)
}

/// One node's entries into `stream`: its counts must match what it holds, its IDs must
/// follow the stream's, and it must hold a live entry (Redis drops emptied nodes).
fn read_node(stream: &mut Stream, master: StreamId, items: &[Vec<u8>]) -> Result<(), PayloadError> {
    let mut items = items.iter();
    let live = item_count(items.next())?;
    let deleted = item_count(items.next())?;
    let field_count = item_count(items.next())?;
    let mut node = Node::default();
    for _ in 0..field_count {
        node.master_fields
            .push(items.next().ok_or(PayloadError::Malformed)?.clone());
    }
    if item_int(items.next())? != 0 {
        return Err(PayloadError::Malformed);
    }
    let mut entries = BTreeMap::new();
    while let Some(flags) = items.next() {
        let flags = item_int(Some(flags))?;
        let id = StreamId {
            ms: master.ms.wrapping_add(item_int(items.next())? as u64),
            seq: master.seq.wrapping_add(item_int(items.next())? as u64),
        };
        if id < master || node.appended > 0 && id <= node.last {
            return Err(PayloadError::Malformed);
        }
        let fields = if flags & FLAG_SAME_FIELDS != 0 {
            let mut fields = Vec::new();
            for name in &node.master_fields {
                fields.push(name.clone());
                fields.push(items.next().ok_or(PayloadError::Malformed)?.clone());
            }
            fields
        } else {
            let pairs = item_count(items.next())?;
            let mut fields = Vec::new();
            for _ in 0..2 * pairs {
                fields.push(items.next().ok_or(PayloadError::Malformed)?.clone());
            }
            fields
        };
        let _lp_count = item_int(items.next())?;
        node.appended += 1;
        node.last = id;
        if flags & FLAG_DELETED != 0 {
            node.tombstones.insert(id, fields);
        } else {
            entries.insert(id, fields);
        }
    }
    node.live = entries.len() as u64;
    if node.live == 0 || entries.len() != live || node.tombstones.len() != deleted {
        return Err(PayloadError::Malformed);
    }
    stream.entries.extend(entries);
    stream.nodes.insert(master, node);
    Ok(())
}

/// A consumer group after its name: every consumer's pending entry must be one of the
/// group's, and every pending entry must have its consumer.
fn read_group(reader: &mut Reader) -> Result<Group, PayloadError> {
    let last_id = read_id(reader)?;
    let entries_read = Some(reader.len()?).filter(|n| *n != UNKNOWN_ENTRIES_READ);
    let mut pending = BTreeMap::new();
    for _ in 0..reader.len()? {
        let id = id_from_key(reader.take(16)?)?;
        let delivered_at = read_ms(reader)?;
        let deliveries = reader.len()?;
        let entry = Pending {
            consumer: Vec::new(),
            delivered_at,
            deliveries,
        };
        if pending.insert(id, entry).is_some() {
            return Err(PayloadError::Malformed);
        }
    }
    let mut consumers = BTreeMap::new();
    for _ in 0..reader.len()? {
        let name = reader.string()?;
        let mut consumer = Consumer {
            seen_at: read_ms(reader)?,
            pending: Default::default(),
        };
        for _ in 0..reader.len()? {
            let id = id_from_key(reader.take(16)?)?;
            let entry: &mut Pending = pending.get_mut(&id).ok_or(PayloadError::Malformed)?;
            if !entry.consumer.is_empty() || !consumer.pending.insert(id) {
                return Err(PayloadError::Malformed);
            }
            entry.consumer = name.clone();
        }
        if consumers.insert(name, consumer).is_some() {
            return Err(PayloadError::Malformed);
        }
    }
    if pending.values().any(|p| p.consumer.is_empty()) {
        return Err(PayloadError::Malformed);
    }
    Ok(Group {
        last_id,
        entries_read,
        pending,
        consumers,
    })
}

/// `rdbLoadMillisecondTime`: 8 bytes, little-endian; a time before 1970 reads as 0.
fn read_ms(reader: &mut Reader) -> Result<u64, PayloadError> {
    let ms = i64::from_le_bytes(reader.take(8)?.try_into().expect("8"));
    Ok(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::super::super::dump::object::{decode as decode_value, encode as encode_value};
    use super::super::super::{Emulator, Value, run_line};
    use super::*;
    use crate::redis::conn::Connection;
    use crate::redis::entry::Seed;

    /// `DUMP s` in redis-server 7.0.15 after `XADD s 1-1 f v n 1`, `XADD s 1-2 f w n 2`,
    /// `XADD s 2-0 a b`, `XGROUP CREATE s g 0`, `XREADGROUP GROUP g alice COUNT 2 STREAMS s >`,
    /// `XDEL s 1-2`, `XGROUP CREATECONSUMER s g bob`, `XGROUP CREATE s h $`.
    const REDIS_STREAM: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01@@@\x00\x00\x00\x19\x00\x02\x01\x01\x01\x02\x01\x81f\x02\x81n\x02\x00\x01\x02\x01\x00\x01\x00\x01\x81v\x02\x01\x01\x05\x01\x03\x01\x00\x01\x01\x01\x81w\x02\x02\x01\x05\x01\x00\x01\x01\x01\xdf\xff\x02\x01\x01\x81a\x02\x81b\x02\x06\x01\xff\x02\x02\x00\x01\x01\x01\x02\x03\x02\x01g\x01\x02\x02\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01>\xb1\xdd*\xa2\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02>\xb1\xdd*\xa2\x01\x00\x00\x01\x02\x05alice>\xb1\xdd*\xa2\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x03bob\x97\xb1\xdd*\xa2\x01\x00\x00\x00\x01h\x02\x00\x81\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\n\x00KM\x1c[\xbb\xcce\xbe";

    /// `DUMP e` in redis-server 7.0.15 after `XADD e 5-5 x y` and `XDEL e 5-5`: no node left.
    const REDIS_EMPTY_STREAM: &[u8] =
        b"\x13\x00\x00\x05\x05\x00\x00\x05\x05\x01\x00\n\x00.\xc2\x9e\x19\x8c\xf6N$";

    fn stream_of(value: Value) -> Stream {
        match value {
            Value::Stream(stream) => *stream,
            other => panic!("not a stream: {other:?}"),
        }
    }

    #[test]
    fn redis_payloads_decode_and_dump_back_byte_for_byte() {
        for payload in [REDIS_STREAM, REDIS_EMPTY_STREAM] {
            let value = decode_value(payload).expect("Redis's payload reads");
            assert_eq!(encode_value(&value), payload);
        }
        let stream = stream_of(decode_value(REDIS_STREAM).unwrap());
        assert_eq!(stream.len(), 2);
        assert_eq!(stream.max_deleted, StreamId { ms: 1, seq: 2 });
        let group = &stream.groups[&b"g"[..]];
        assert_eq!(group.entries_read, Some(2));
        assert_eq!(group.consumers[&b"alice"[..]].pending.len(), 2);
        assert_eq!(stream.groups[&b"h"[..]].entries_read, None);
        let node = &stream.nodes[&StreamId { ms: 1, seq: 1 }];
        assert_eq!((node.appended, node.live, node.tombstones.len()), (3, 2, 1));
    }

    #[test]
    fn the_emulators_streams_dump_as_redis_dumps_them() {
        // The same commands as REDIS_STREAM's, without the clock-dependent group parts.
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::default();
        for line in [
            "xadd s 1-1 f v n 1",
            "xadd s 1-2 f w n 2",
            "xadd s 2-0 a b",
            "xdel s 1-2",
        ] {
            run_line(&mut em, &mut conn, line);
        }
        let stream = em.dbs[0][&b"s"[..]].value.clone();
        let expected: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01@@@\x00\x00\x00\x19\x00\x02\x01\x01\x01\x02\x01\x81f\x02\x81n\x02\x00\x01\x02\x01\x00\x01\x00\x01\x81v\x02\x01\x01\x05\x01\x03\x01\x00\x01\x01\x01\x81w\x02\x02\x01\x05\x01\x00\x01\x01\x01\xdf\xff\x02\x01\x01\x81a\x02\x81b\x02\x06\x01\xff\x02\x02\x00\x01\x01\x01\x02\x03\x00";
        let payload = encode_value(&stream);
        assert_eq!(&payload[..payload.len() - 10], expected);
        assert_eq!(decode_value(&payload), Ok(stream));
    }

    #[test]
    fn listpack_integers_take_redis_smallest_encoding() {
        let cases: [(i64, &[u8]); 7] = [
            (5, b"\x05\x01"),
            (-1, b"\xdf\xff\x02"),
            (4095, b"\xcf\xff\x02"),
            (-32768, b"\xf1\x00\x80\x03"),
            (8_388_607, b"\xf2\xff\xff\x7f\x04"),
            (-2_147_483_648, b"\xf3\x00\x00\x00\x80\x05"),
            (i64::MIN, b"\xf4\x00\x00\x00\x00\x00\x00\x00\x80\x09"),
        ];
        for (n, bytes) in cases {
            let blob = listpack_bytes(&[Item::Int(n)]);
            assert_eq!(&blob[6..blob.len() - 1], bytes, "{n}");
            assert_eq!(listpack(&blob), Ok(vec![n.to_string().into_bytes()]));
        }
        let long = vec![b'x'; 5000];
        let blob = listpack_bytes(&[Item::Str(&long), Item::Str(b"007")]);
        assert_eq!(listpack(&blob), Ok(vec![long, b"007".to_vec()]));
    }

    #[test]
    fn damaged_stream_payloads_never_panic_and_what_reads_dumps_back() {
        // The fuzz target's property over every one-byte change and cut of Redis's payload.
        let body = &REDIS_STREAM[..REDIS_STREAM.len() - 10];
        for at in 0..body.len() {
            for byte in [
                0u8,
                1,
                2,
                0x7f,
                0x80,
                0xc0,
                0xf4,
                0xff,
                body[at].wrapping_add(1),
            ] {
                let mut damaged = body.to_vec();
                damaged[at] = byte;
                super::super::super::dump::check_payload(&damaged);
            }
            super::super::super::dump::check_payload(&body[..at]);
        }
    }

    #[test]
    fn inconsistent_stream_payloads_are_refused() {
        let seal = |body: &[u8]| super::super::super::rdb::seal(body.to_vec());
        let body = &REDIS_STREAM[..REDIS_STREAM.len() - 10];
        // A wrong length, a consumer pending entry missing from its group, and a stream
        // claiming 2^64-1 nodes.
        let mut wrong_len = body.to_vec();
        // Type, node count, the 16-byte key and its length, the 64-byte listpack and its length.
        let at = 1 + 1 + 1 + 16 + 2 + 64;
        assert_eq!(wrong_len[at], 2, "the length byte");
        wrong_len[at] = 3;
        let mut stray = body.to_vec();
        let bob_at = stray.windows(4).position(|w| w == b"\x03bob").unwrap();
        let last_alice_id = bob_at - 1;
        stray[last_alice_id] = 9;
        for bad in [
            wrong_len,
            stray,
            b"\x13\x81\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        ] {
            assert_eq!(decode_value(&seal(&bad)), Err(PayloadError::Malformed));
        }
    }
}
