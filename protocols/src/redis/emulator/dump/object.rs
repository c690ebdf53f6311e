//! Redis 7.0's DUMP payload: an RDB object type byte and the value in its RDB encoding, sealed
//! with the RDB footer (version and CRC64, [`super::super::rdb`]).
//!
//! The reader takes every encoding Redis 7.0 writes (plain, integer and LZF strings; lists as
//! quicklists of listpacks or plain nodes; intset and hashtable sets; listpack and hashtable
//! hashes; listpack and skiplist sorted sets; Redis 7.0's streams, [`streams::payload`]) and
//! the older plain ones; it refuses ziplist encodings. Nothing is allocated from a length the payload claims: collections
//! grow element by element and an LZF string is bounded by the emulator's string limit.

use indexmap::{IndexMap, IndexSet};
use std::collections::VecDeque;

use super::super::Value;
use super::super::rdb::{self, PayloadError, Reader, write_len, write_string};
use super::super::streams::{self, payload::TYPE_STREAM_LISTPACKS_2};
use super::super::strings::MAX_STRING;
use super::super::zsets::ZSet;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;

const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// The value a payload holds (`verifyDumpPayload`, then `rdbLoadObject`).
pub(crate) fn decode(payload: &[u8]) -> Result<Value, PayloadError> {
    let mut reader = Reader::new(rdb::open(payload)?, MAX_STRING);
    let kind = reader.byte()?;
    let value = match kind {
        TYPE_STRING => Value::String(reader.string()?),
        TYPE_LIST => Value::List(strings(&mut reader)?.into()),
        TYPE_SET => Value::Set(unique(strings(&mut reader)?)?),
        TYPE_ZSET | TYPE_ZSET_2 => Value::ZSet(zset(&mut reader, kind == TYPE_ZSET_2)?),
        TYPE_HASH => {
            let count = reader.len()?;
            let mut pairs = Vec::new();
            for _ in 0..count {
                pairs.push((reader.string()?, reader.string()?));
            }
            Value::Hash(unique_pairs(pairs)?)
        }
        TYPE_SET_INTSET => Value::Set(unique(intset(&reader.string()?)?)?),
        TYPE_HASH_LISTPACK => {
            let items = listpack(&reader.string()?)?;
            if !items.len().is_multiple_of(2) {
                return Err(PayloadError::Malformed);
            }
            let mut items = items.into_iter();
            let pairs = std::iter::from_fn(|| Some((items.next()?, items.next()?)));
            Value::Hash(unique_pairs(pairs.collect())?)
        }
        TYPE_ZSET_LISTPACK => {
            let items = listpack(&reader.string()?)?;
            if !items.len().is_multiple_of(2) {
                return Err(PayloadError::Malformed);
            }
            let mut zset = ZSet::default();
            for pair in items.chunks(2) {
                let score = listpack_score(&pair[1])?;
                if zset.score(&pair[0]).is_some() {
                    return Err(PayloadError::Malformed);
                }
                zset.insert(&pair[0], score);
            }
            Value::ZSet(zset)
        }
        TYPE_LIST_QUICKLIST_2 => Value::List(quicklist(&mut reader)?),
        TYPE_STREAM_LISTPACKS_2 => Value::Stream(Box::new(streams::payload::decode(&mut reader)?)),
        _ => return Err(PayloadError::Malformed),
    };
    // Redis refuses empty aggregates ("empty keys").
    if value.is_empty_aggregate() {
        return Err(PayloadError::Malformed);
    }
    Ok(value)
}

fn unique(items: Vec<Vec<u8>>) -> Result<IndexSet<Vec<u8>>, PayloadError> {
    let count = items.len();
    let set: IndexSet<Vec<u8>> = items.into_iter().collect();
    (set.len() == count)
        .then_some(set)
        .ok_or(PayloadError::Malformed)
}

fn unique_pairs(
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<IndexMap<Vec<u8>, Vec<u8>>, PayloadError> {
    let count = pairs.len();
    let map: IndexMap<Vec<u8>, Vec<u8>> = pairs.into_iter().collect();
    (map.len() == count)
        .then_some(map)
        .ok_or(PayloadError::Malformed)
}

/// `count` strings, `count` first.
fn strings(reader: &mut Reader) -> Result<Vec<Vec<u8>>, PayloadError> {
    let count = reader.len()?;
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(reader.string()?);
    }
    Ok(items)
}

/// A sorted set: members with binary (ZSET_2) or text doubles.
fn zset(reader: &mut Reader, binary: bool) -> Result<ZSet, PayloadError> {
    let count = reader.len()?;
    let mut zset = ZSet::default();
    for _ in 0..count {
        let member = reader.string()?;
        let score = if binary {
            f64::from_le_bytes(reader.take(8)?.try_into().expect("8"))
        } else {
            text_double(reader)?
        };
        if score.is_nan() || zset.score(&member).is_some() {
            return Err(PayloadError::Malformed);
        }
        zset.insert(&member, score + 0.0);
    }
    Ok(zset)
}

/// `rdbLoadDoubleValue`: a length byte (253 NaN, 254 +inf, 255 -inf) then the text.
fn text_double(reader: &mut Reader) -> Result<f64, PayloadError> {
    match reader.byte()? {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        len => {
            let text = std::str::from_utf8(reader.take(usize::from(len))?)
                .map_err(|_| PayloadError::Malformed)?;
            text.parse().map_err(|_| PayloadError::Malformed)
        }
    }
}

/// A quicklist of RDB version 10: nodes that are listpacks or single plain elements.
fn quicklist(reader: &mut Reader) -> Result<VecDeque<Vec<u8>>, PayloadError> {
    let nodes = reader.len()?;
    let mut list = VecDeque::new();
    for _ in 0..nodes {
        let container = reader.len()?;
        let data = reader.string()?;
        match container {
            QUICKLIST_NODE_PLAIN => list.push_back(data),
            QUICKLIST_NODE_PACKED => list.extend(listpack(&data)?),
            _ => return Err(PayloadError::Malformed),
        }
    }
    Ok(list)
}

/// The members of an intset: a 4-byte element size (2, 4 or 8), a 4-byte count, the integers;
/// all little-endian.
fn intset(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let header = |at: usize| {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize)
            .ok_or(PayloadError::Malformed)
    };
    let (size, count) = (header(0)?, header(4)?);
    if !matches!(size, 2 | 4 | 8) || count == 0 || count.checked_mul(size) != Some(blob.len() - 8) {
        return Err(PayloadError::Malformed);
    }
    Ok(blob[8..]
        .chunks(size)
        .map(|b| {
            let value = match size {
                2 => i64::from(i16::from_le_bytes(b.try_into().expect("2"))),
                4 => i64::from(i32::from_le_bytes(b.try_into().expect("4"))),
                _ => i64::from_le_bytes(b.try_into().expect("8")),
            };
            value.to_string().into_bytes()
        })
        .collect())
}

/// The entries of a listpack: a 6-byte header (total bytes, count), the entries (each with
/// its encoding, data and back-length), and 0xFF.
pub(in crate::redis::emulator) fn listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    if blob.len() < 7
        || u32::from_le_bytes(blob[0..4].try_into().expect("4")) as usize != blob.len()
        || blob[blob.len() - 1] != 0xff
    {
        return Err(PayloadError::Malformed);
    }
    let mut reader = Reader::new(&blob[6..blob.len() - 1], MAX_STRING);
    let mut items = Vec::new();
    while !reader.at_end() {
        let start = reader.position();
        let item = listpack_entry(&mut reader)?;
        let entry_len = reader.position() - start;
        let back_len = match entry_len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        reader.take(back_len)?;
        items.push(item);
    }
    Ok(items)
}

/// One listpack entry's value: a string, or an integer as its decimal text.
fn listpack_entry(r: &mut Reader) -> Result<Vec<u8>, PayloadError> {
    let first = r.byte()?;
    let sign_extend = |value: u64, bits: u32| ((value << (64 - bits)) as i64) >> (64 - bits);
    let integer = if first & 0x80 == 0 {
        i64::from(first & 0x7f)
    } else if first & 0xc0 == 0x80 {
        let len = usize::from(first & 0x3f);
        return Ok(r.take(len)?.to_vec());
    } else if first & 0xe0 == 0xc0 {
        sign_extend(u64::from(first & 0x1f) << 8 | u64::from(r.byte()?), 13)
    } else if first & 0xf0 == 0xe0 {
        let len = usize::from(first & 0x0f) << 8 | usize::from(r.byte()?);
        return Ok(r.take(len)?.to_vec());
    } else {
        let little = |bytes: &[u8]| {
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, b| acc << 8 | u64::from(*b))
        };
        match first {
            0xf0 => {
                let len = little(r.take(4)?) as usize;
                return Ok(r.take(len)?.to_vec());
            }
            0xf1 => sign_extend(little(r.take(2)?), 16),
            0xf2 => sign_extend(little(r.take(3)?), 24),
            0xf3 => sign_extend(little(r.take(4)?), 32),
            0xf4 => little(r.take(8)?) as i64,
            _ => return Err(PayloadError::Malformed),
        }
    };
    Ok(integer.to_string().into_bytes())
}

/// A listpack score: an integer entry, or text as `strtod` reads it.
fn listpack_score(text: &[u8]) -> Result<f64, PayloadError> {
    let score: f64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(PayloadError::Malformed)?;
    if score.is_nan() {
        return Err(PayloadError::Malformed);
    }
    Ok(score + 0.0)
}

/// A DUMP payload of `value`.
///
/// Strings are encoded as Redis encodes them (small integers as integers; no LZF, so a
/// compressible string over 20 bytes differs from Redis's bytes); aggregates use the plain
/// RDB encodings every Redis loads (a list of strings, a set, a hash, a sorted set with binary
/// scores) rather than Redis 7.0's listpacks. Streams are written as Redis 7.0 writes them.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => {
            out.push(TYPE_STRING);
            write_string(&mut out, s);
        }
        Value::List(items) => {
            out.push(TYPE_LIST);
            write_len(&mut out, items.len());
            items.iter().for_each(|item| write_string(&mut out, item));
        }
        Value::Set(items) => {
            out.push(TYPE_SET);
            write_len(&mut out, items.len());
            items.iter().for_each(|item| write_string(&mut out, item));
        }
        Value::Hash(fields) => {
            out.push(TYPE_HASH);
            write_len(&mut out, fields.len());
            for (field, value) in fields {
                write_string(&mut out, field);
                write_string(&mut out, value);
            }
        }
        Value::ZSet(zset) => {
            out.push(TYPE_ZSET_2);
            write_len(&mut out, zset.len());
            // Highest first, as Redis saves a skiplist.
            for (member, score) in zset.ordered(true) {
                write_string(&mut out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(stream) => {
            out.push(TYPE_STREAM_LISTPACKS_2);
            streams::payload::encode(stream, &mut out);
        }
    }
    rdb::seal(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let mut zset = ZSet::default();
        zset.insert(b"a", 1.5);
        zset.insert(b"b", f64::NEG_INFINITY);
        let values = [
            Value::String(b"hello".to_vec()),
            Value::String(b"-12345".to_vec()),
            Value::String(b"007".to_vec()),
            Value::String(vec![b'x'; 20_000]),
            Value::List(["1", "two", ""].map(|s| s.as_bytes().to_vec()).into()),
            Value::Set(["a", "1"].iter().map(|s| s.as_bytes().to_vec()).collect()),
            Value::Hash([(b"f".to_vec(), b"v".to_vec())].into_iter().collect()),
            Value::ZSet(zset),
        ];
        for value in values {
            let payload = encode(&value);
            assert_eq!(decode(&payload), Ok(value));
        }
    }

    #[test]
    fn redis_payloads_decode() {
        // `DUMP` of `SET s hello` in redis-server 7.0.15.
        let string = b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
        assert_eq!(decode(string), Ok(Value::String(b"hello".to_vec())));
    }

    #[test]
    fn an_empty_lzf_string_restores_as_redis_restores_it() {
        // redis-server 7.0.15 answers OK to RESTORE of this body: an empty string.
        let payload = rdb::seal(b"\x00\xc3\x00\x00".to_vec());
        assert_eq!(decode(&payload), Ok(Value::String(Vec::new())));
    }

    #[test]
    fn corrupt_payloads_are_refused_without_allocating() {
        assert_eq!(decode(b"short"), Err(PayloadError::VersionOrChecksum));
        let mut payload = encode(&Value::String(b"x".to_vec()));
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert_eq!(decode(&payload), Err(PayloadError::VersionOrChecksum));
        // A list claiming 2^64-1 elements, and an LZF string claiming 4 GiB.
        for body in [
            &b"\x01\x81\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            b"\x00\xc3\x01\x80\xff\xff\xff\xff\x00",
        ] {
            assert_eq!(
                decode(&rdb::seal(body.to_vec())),
                Err(PayloadError::Malformed)
            );
        }
    }
}
