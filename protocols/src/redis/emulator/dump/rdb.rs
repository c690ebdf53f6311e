//! Redis 7.0's DUMP payload: an RDB object type byte, the value in its RDB encoding, the RDB
//! version (10) in two little-endian bytes and the CRC64 (Jones) of all that, little-endian.
//!
//! The reader takes every encoding Redis 7.0 writes (plain, integer and LZF strings; lists as
//! quicklists of listpacks or plain nodes; intset and hashtable sets; listpack and hashtable
//! hashes; listpack and skiplist sorted sets) and the older plain ones; it refuses ziplist
//! encodings and streams. Nothing is allocated from a length the payload claims: collections
//! grow element by element and an LZF string is bounded by the emulator's string limit.

use indexmap::{IndexMap, IndexSet};
use std::collections::VecDeque;

use super::super::Value;
use super::super::strings::MAX_STRING;
use super::super::zsets::ZSet;

/// The RDB version of Redis 7.0: payloads of later versions are refused.
pub(crate) const RDB_VERSION: u16 = 10;

/// Why a payload is refused; the two errors RESTORE answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// Too short, a later RDB version, or a wrong checksum.
    VersionOrChecksum,
    /// A type or encoding the emulator cannot load, or corrupt data.
    BadFormat,
}

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

/// Redis's `crc64` (Jones polynomial, reflected, no final xor).
pub(crate) fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The value a payload holds (`verifyDumpPayload`, then `rdbLoadObject`).
pub(crate) fn decode(payload: &[u8]) -> Result<Value, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut reader = Reader { data: body, at: 0 };
    let kind = reader.byte()?;
    let value = match kind {
        TYPE_STRING => Value::String(reader.string()?),
        TYPE_LIST => Value::List(reader.strings()?.into()),
        TYPE_SET => Value::Set(unique(reader.strings()?)?),
        TYPE_ZSET | TYPE_ZSET_2 => Value::ZSet(reader.zset(kind == TYPE_ZSET_2)?),
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
                return Err(PayloadError::BadFormat);
            }
            let mut items = items.into_iter();
            let pairs = std::iter::from_fn(|| Some((items.next()?, items.next()?)));
            Value::Hash(unique_pairs(pairs.collect())?)
        }
        TYPE_ZSET_LISTPACK => {
            let items = listpack(&reader.string()?)?;
            if !items.len().is_multiple_of(2) {
                return Err(PayloadError::BadFormat);
            }
            let mut zset = ZSet::default();
            for pair in items.chunks(2) {
                let score = listpack_score(&pair[1])?;
                if zset.score(&pair[0]).is_some() {
                    return Err(PayloadError::BadFormat);
                }
                zset.insert(&pair[0], score);
            }
            Value::ZSet(zset)
        }
        TYPE_LIST_QUICKLIST_2 => Value::List(reader.quicklist()?),
        _ => return Err(PayloadError::BadFormat),
    };
    // Redis refuses empty aggregates ("empty keys").
    if value.is_empty_aggregate() {
        return Err(PayloadError::BadFormat);
    }
    Ok(value)
}

fn unique(items: Vec<Vec<u8>>) -> Result<IndexSet<Vec<u8>>, PayloadError> {
    let count = items.len();
    let set: IndexSet<Vec<u8>> = items.into_iter().collect();
    (set.len() == count)
        .then_some(set)
        .ok_or(PayloadError::BadFormat)
}

fn unique_pairs(
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<IndexMap<Vec<u8>, Vec<u8>>, PayloadError> {
    let count = pairs.len();
    let map: IndexMap<Vec<u8>, Vec<u8>> = pairs.into_iter().collect();
    (map.len() == count)
        .then_some(map)
        .ok_or(PayloadError::BadFormat)
}

/// The RDB body being read.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PayloadError> {
        let end = self.at.checked_add(n).ok_or(PayloadError::BadFormat)?;
        let bytes = self.data.get(self.at..end).ok_or(PayloadError::BadFormat)?;
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    /// `rdbLoadLenByRef`: a length, or (`true`) the number of a special string encoding.
    fn len_or_encoding(&mut self) -> Result<(u64, bool), PayloadError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => (u64::from(first & 0x3f), false),
            1 => (
                u64::from(first & 0x3f) << 8 | u64::from(self.byte()?),
                false,
            ),
            3 => (u64::from(first & 0x3f), true),
            _ if first == 0x80 => {
                let bytes = self.take(4)?;
                (
                    u64::from(u32::from_be_bytes(bytes.try_into().expect("4"))),
                    false,
                )
            }
            _ if first == 0x81 => {
                let bytes = self.take(8)?;
                (u64::from_be_bytes(bytes.try_into().expect("8")), false)
            }
            _ => return Err(PayloadError::BadFormat),
        })
    }

    /// A length where no special encoding is expected (Redis then takes its number).
    fn len(&mut self) -> Result<u64, PayloadError> {
        Ok(self.len_or_encoding()?.0)
    }

    /// `rdbGenericLoadStringObject`: raw, an 8/16/32-bit integer, or LZF-compressed.
    fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        let (len, encoded) = self.len_or_encoding()?;
        if !encoded {
            let len = usize::try_from(len).map_err(|_| PayloadError::BadFormat)?;
            return Ok(self.take(len)?.to_vec());
        }
        let integer = match len {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.take(2)?.try_into().expect("2"))),
            2 => i64::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))),
            3 => {
                let compressed =
                    usize::try_from(self.len()?).map_err(|_| PayloadError::BadFormat)?;
                let plain = usize::try_from(self.len()?).map_err(|_| PayloadError::BadFormat)?;
                return lzf_decompress(self.take(compressed)?, plain);
            }
            _ => return Err(PayloadError::BadFormat),
        };
        Ok(integer.to_string().into_bytes())
    }

    /// `count` strings, `count` first.
    fn strings(&mut self) -> Result<Vec<Vec<u8>>, PayloadError> {
        let count = self.len()?;
        let mut items = Vec::new();
        for _ in 0..count {
            items.push(self.string()?);
        }
        Ok(items)
    }

    /// A sorted set: members with binary (ZSET_2) or text doubles.
    fn zset(&mut self, binary: bool) -> Result<ZSet, PayloadError> {
        let count = self.len()?;
        let mut zset = ZSet::default();
        for _ in 0..count {
            let member = self.string()?;
            let score = if binary {
                f64::from_le_bytes(self.take(8)?.try_into().expect("8"))
            } else {
                self.text_double()?
            };
            if score.is_nan() || zset.score(&member).is_some() {
                return Err(PayloadError::BadFormat);
            }
            zset.insert(&member, score + 0.0);
        }
        Ok(zset)
    }

    /// `rdbLoadDoubleValue`: a length byte (253 NaN, 254 +inf, 255 -inf) then the text.
    fn text_double(&mut self) -> Result<f64, PayloadError> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => {
                let text = std::str::from_utf8(self.take(usize::from(len))?)
                    .map_err(|_| PayloadError::BadFormat)?;
                text.parse().map_err(|_| PayloadError::BadFormat)
            }
        }
    }

    /// A quicklist of RDB version 10: nodes that are listpacks or single plain elements.
    fn quicklist(&mut self) -> Result<VecDeque<Vec<u8>>, PayloadError> {
        let nodes = self.len()?;
        let mut list = VecDeque::new();
        for _ in 0..nodes {
            let container = self.len()?;
            let data = self.string()?;
            match container {
                QUICKLIST_NODE_PLAIN => list.push_back(data),
                QUICKLIST_NODE_PACKED => list.extend(listpack(&data)?),
                _ => return Err(PayloadError::BadFormat),
            }
        }
        Ok(list)
    }
}

/// liblzf's `lzf_decompress`, to exactly `plain` bytes (Redis refuses any other size).
fn lzf_decompress(input: &[u8], plain: usize) -> Result<Vec<u8>, PayloadError> {
    if plain == 0 || plain > MAX_STRING {
        return Err(PayloadError::BadFormat);
    }
    let mut out: Vec<u8> = Vec::with_capacity(plain.min(input.len().saturating_mul(8)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = input.get(ip..ip + run).ok_or(PayloadError::BadFormat)?;
            if out.len() + run > plain {
                return Err(PayloadError::BadFormat);
            }
            out.extend_from_slice(literal);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(PayloadError::BadFormat)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(PayloadError::BadFormat)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let len = len + 2;
            if back > out.len() || out.len() + len > plain {
                return Err(PayloadError::BadFormat);
            }
            let from = out.len() - back;
            for i in 0..len {
                out.push(out[from + i]);
            }
        }
    }
    if out.len() == plain {
        Ok(out)
    } else {
        Err(PayloadError::BadFormat)
    }
}

/// The members of an intset: a 4-byte element size (2, 4 or 8), a 4-byte count, the integers;
/// all little-endian.
fn intset(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let header = |at: usize| {
        blob.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize)
            .ok_or(PayloadError::BadFormat)
    };
    let (size, count) = (header(0)?, header(4)?);
    if !matches!(size, 2 | 4 | 8) || count == 0 || count.checked_mul(size) != Some(blob.len() - 8) {
        return Err(PayloadError::BadFormat);
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
fn listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    if blob.len() < 7
        || u32::from_le_bytes(blob[0..4].try_into().expect("4")) as usize != blob.len()
        || blob[blob.len() - 1] != 0xff
    {
        return Err(PayloadError::BadFormat);
    }
    let mut reader = Reader {
        data: &blob[..blob.len() - 1],
        at: 6,
    };
    let mut items = Vec::new();
    while reader.at < reader.data.len() {
        let start = reader.at;
        let item = listpack_entry(&mut reader)?;
        let entry_len = reader.at - start;
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
            _ => return Err(PayloadError::BadFormat),
        }
    };
    Ok(integer.to_string().into_bytes())
}

/// A listpack score: an integer entry, or text as `strtod` reads it.
fn listpack_score(text: &[u8]) -> Result<f64, PayloadError> {
    let score: f64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(PayloadError::BadFormat)?;
    if score.is_nan() {
        return Err(PayloadError::BadFormat);
    }
    Ok(score + 0.0)
}

/// A DUMP payload of `value`; `None` for a stream, which the emulator does not serialize.
///
/// Strings are encoded as Redis encodes them (small integers as integers; no LZF, so a
/// compressible string over 20 bytes differs from Redis's bytes); aggregates use the plain
/// RDB encodings every Redis loads (a list of strings, a set, a hash, a sorted set with binary
/// scores) rather than Redis 7.0's listpacks.
pub(crate) fn encode(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => {
            out.push(TYPE_STRING);
            put_string(&mut out, s);
        }
        Value::List(items) => {
            out.push(TYPE_LIST);
            put_len(&mut out, items.len() as u64);
            items.iter().for_each(|item| put_string(&mut out, item));
        }
        Value::Set(items) => {
            out.push(TYPE_SET);
            put_len(&mut out, items.len() as u64);
            items.iter().for_each(|item| put_string(&mut out, item));
        }
        Value::Hash(fields) => {
            out.push(TYPE_HASH);
            put_len(&mut out, fields.len() as u64);
            for (field, value) in fields {
                put_string(&mut out, field);
                put_string(&mut out, value);
            }
        }
        Value::ZSet(zset) => {
            out.push(TYPE_ZSET_2);
            put_len(&mut out, zset.len() as u64);
            // Highest first, as Redis saves a skiplist.
            for (member, score) in zset.ordered(true) {
                put_string(&mut out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(_) => return None,
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Some(out)
}

/// `rdbSaveLen`.
fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[(len >> 8) as u8 | 0x40, len as u8]);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbSaveRawString` without LZF: a canonical integer of at most 11 characters that fits in
/// 32 bits as an integer encoding, anything else as its length and bytes.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let integer = (s.len() <= 11)
        .then(|| std::str::from_utf8(s).ok()?.parse::<i64>().ok())
        .flatten()
        .filter(|n| n.to_string().as_bytes() == s);
    match integer {
        Some(n) if i8::try_from(n).is_ok() => out.extend_from_slice(&[0xc0, n as i8 as u8]),
        Some(n) if i16::try_from(n).is_ok() => {
            out.push(0xc1);
            out.extend_from_slice(&(n as i16).to_le_bytes());
        }
        Some(n) if i32::try_from(n).is_ok() => {
            out.push(0xc2);
            out.extend_from_slice(&(n as i32).to_le_bytes());
        }
        _ => {
            put_len(out, s.len() as u64);
            out.extend_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_jones_crc() {
        // Redis's own test vector (crc64.c).
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

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
            let payload = encode(&value).unwrap();
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
    fn corrupt_payloads_are_refused_without_allocating() {
        assert_eq!(decode(b"short"), Err(PayloadError::VersionOrChecksum));
        let mut payload = encode(&Value::String(b"x".to_vec())).unwrap();
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert_eq!(decode(&payload), Err(PayloadError::VersionOrChecksum));
        // A list claiming 2^64-1 elements, and an LZF string claiming 4 GiB.
        for body in [
            &b"\x01\x81\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            b"\x00\xc3\x01\x80\xff\xff\xff\xff\x00",
        ] {
            let mut payload = body.to_vec();
            payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(0, &payload);
            payload.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(decode(&payload), Err(PayloadError::BadFormat));
        }
    }
}
