//! Bitmap commands on strings: `SETBIT`, `GETBIT`, `BITCOUNT` and `BITPOS` (with `BYTE` or
//! `BIT` ranges), `BITOP`, and `BITFIELD`/`BITFIELD_RO` with `OVERFLOW`, following Redis 7.0's `bitops.c`. Bit 0 is the most significant
//! bit of the first byte.

use super::strings::MAX_STRING;
use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, int_arg, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "SETBIT" => setbit,
        "GETBIT" => getbit,
        "BITCOUNT" => bitcount,
        "BITPOS" => bitpos,
        "BITOP" => bitop,
        "BITFIELD" | "BITFIELD_RO" => bitfield,
        _ => return None,
    })
}

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset as Redis reads it: a non-negative integer below 512 MB worth of bits; and
/// within what the emulator keeps.
fn bit_offset(arg: &[u8]) -> Result<u64, Reply> {
    field_offset(arg, 0)
}

/// [`bit_offset`], with `BITFIELD`'s `#n` form (n fields of `width` bits) when `width` > 0.
fn field_offset(arg: &[u8], width: u32) -> Result<u64, Reply> {
    let (fields, text) = match arg.split_first() {
        Some((b'#', rest)) if width > 0 => (true, rest),
        _ => (false, arg),
    };
    let offset = strict_i64(text)
        .and_then(|n| {
            if fields {
                n.checked_mul(width.into())
            } else {
                Some(n)
            }
        })
        .filter(|n| *n >= 0 && (*n >> 3) < 512 << 20)
        .ok_or_else(|| Reply::error(BAD_OFFSET))? as u64;
    if (offset >> 3) as usize >= MAX_STRING {
        return Err(Reply::error(format!(
            "ERR mocket: bit offset {offset} would make a string over {MAX_STRING} bytes; the \
             emulator keeps strings up to that size"
        )));
    }
    Ok(offset)
}

/// The string at `key`, `Ok(None)` when missing.
fn string_of(em: &mut Emulator, db: usize, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    em.string(db, key)
}

fn bit_at(bytes: &[u8], bit: u64) -> bool {
    bytes
        .get((bit >> 3) as usize)
        .is_some_and(|b| b & (0x80 >> (bit & 7)) != 0)
}

/// `SETBIT key offset 0|1`: answers the bit's old value; grows the string with zero bytes.
fn setbit(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let offset = match bit_offset(&args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match int_arg(&args[3]) {
        Ok(n @ (0 | 1)) => n == 1,
        _ => return Reply::error("ERR bit is not an integer or out of range"),
    };
    let mut bytes = match string_of(em, conn.db, &args[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    let byte = (offset >> 3) as usize;
    let grows = bytes.len() <= byte;
    if grows {
        bytes.resize(byte + 1, 0);
    }
    let mask = 0x80 >> (offset & 7);
    let old = bytes[byte] & mask != 0;
    if grows || old != on {
        if on {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
        em.set_string(conn.db, &args[1], &bytes, true);
    }
    Reply::Int(old.into())
}

/// `GETBIT key offset`.
fn getbit(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let offset = match bit_offset(&args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match string_of(em, conn.db, &args[1]) {
        Ok(v) => Reply::Int(bit_at(&v.unwrap_or_default(), offset).into()),
        Err(e) => e,
    }
}

/// `start end [BYTE|BIT]` of `BITCOUNT`/`BITPOS` resolved against a string of `len` bytes:
/// the inclusive range in bits, `None` when empty. Negative indexes count from the end.
fn bit_range(start: i64, end: i64, bits: bool, len: usize) -> Option<(u64, u64)> {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let resolve = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (resolve(start), resolve(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

fn unit(arg: Option<&Vec<u8>>) -> Result<bool, Reply> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "BIT") => Ok(true),
        Some(a) if is(a, "BYTE") => Ok(false),
        Some(_) => Err(Reply::error(SYNTAX)),
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: a missing key counts 0 before the range is read.
fn bitcount(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let bytes = match string_of(em, conn.db, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let range = match args.len() {
        2 => bit_range(0, -1, false, bytes.len()),
        4 | 5 => {
            let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            match unit(args.get(4)) {
                Ok(bits) => bit_range(start, end, bits, bytes.len()),
                Err(e) => return e,
            }
        }
        _ => return Reply::error(SYNTAX),
    };
    let count = range.map_or(0, |(a, b)| (a..=b).filter(|i| bit_at(&bytes, *i)).count());
    Reply::Int(count as i64)
}

/// `BITPOS key 0|1 [start [end [BYTE|BIT]]]`: the first bit with that value. A missing key
/// is all zeros; without an explicit end the string continues with zeros after its end.
fn bitpos(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let wanted = match int_arg(&args[2]) {
        Ok(n @ (0 | 1)) => n == 1,
        Ok(_) => return Reply::error("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let bytes = match string_of(em, conn.db, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Int(if wanted { -1 } else { 0 }),
        Err(e) => return e,
    };
    if args.len() > 6 {
        return Reply::error(SYNTAX);
    }
    let start = match args.get(3).map(|a| int_arg(a)).transpose() {
        Ok(s) => s.unwrap_or(0),
        Err(e) => return e,
    };
    let bits = match unit(args.get(5)) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let end = match args.get(4).map(|a| int_arg(a)).transpose() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let range = bit_range(start, end.unwrap_or(-1), bits, bytes.len());
    let Some((first, last)) = range else {
        return Reply::Int(-1);
    };
    match (first..=last).find(|i| bit_at(&bytes, *i) == wanted) {
        Some(position) => Reply::Int(position as i64),
        // Looking for a clear bit in a string of ones with no end: the first bit after it.
        None if !wanted && end.is_none() => Reply::Int(bytes.len() as i64 * 8),
        None => Reply::Int(-1),
    }
}

/// `BITOP AND|OR|XOR|NOT destkey key...`: missing keys are zeros; answers the result's length
/// (that of the longest input) and deletes the destination when it is 0.
fn bitop(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let op = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    let combine: fn(u8, u8) -> u8 = match op.as_str() {
        "AND" => |a, b| a & b,
        "OR" => |a, b| a | b,
        "XOR" => |a, b| a ^ b,
        "NOT" => |a, _| !a,
        _ => return Reply::error(SYNTAX),
    };
    if op == "NOT" && args.len() != 4 {
        return Reply::error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        match em.value(conn.db, key) {
            None => sources.push(Vec::new()),
            Some(Value::String(s)) => sources.push(s.clone()),
            Some(_) => return Reply::error(WRONGTYPE),
        }
    }
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let first = byte(&sources[0], i);
            sources[1..].iter().fold(
                if op == "NOT" {
                    combine(first, 0)
                } else {
                    first
                },
                |acc, s| combine(acc, byte(s, i)),
            )
        })
        .collect();
    em.remove(conn.db, &args[2]);
    if !result.is_empty() {
        em.put(conn.db, &args[2], Value::String(result));
    }
    Reply::Int(len as i64)
}

/// How `BITFIELD` treats a value outside its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One `GET`/`SET`/`INCRBY` of `BITFIELD`.
#[derive(Debug, Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but \
     i64 is.";

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Reply::error(BAD_TYPE)),
    };
    let max = if signed { 64 } else { 63 };
    match strict_i64(&arg[1..]) {
        Some(bits) if (1..=max).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(Reply::error(BAD_TYPE)),
    }
}

/// Reads every operation before any runs, as Redis does: one bad argument fails them all.
fn field_ops(args: &[Vec<u8>]) -> Result<Vec<Field>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut rest = args;
    while let Some(sub) = rest.first() {
        let left = rest.len() - 1;
        if is(sub, "OVERFLOW") && left >= 1 {
            overflow = match String::from_utf8_lossy(&rest[1])
                .to_ascii_uppercase()
                .as_str()
            {
                "WRAP" => Overflow::Wrap,
                "SAT" => Overflow::Sat,
                "FAIL" => Overflow::Fail,
                _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
            };
            rest = &rest[2..];
            continue;
        }
        let get = is(sub, "GET") && left >= 2;
        if !get && !((is(sub, "SET") || is(sub, "INCRBY")) && left >= 3) {
            return Err(Reply::error(SYNTAX));
        }
        let (signed, bits) = field_type(&rest[1])?;
        let offset = field_offset(&rest[2], bits)?;
        let op = if get {
            FieldOp::Get
        } else if is(sub, "SET") {
            FieldOp::Set(int_arg(&rest[3])?)
        } else {
            FieldOp::IncrBy(int_arg(&rest[3])?)
        };
        ops.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        rest = &rest[if get { 3 } else { 4 }..];
    }
    Ok(ops)
}

/// The `bits` bits from bit `offset`, most significant first; zeros past the end.
fn read_bits(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| {
        (acc << 1) | u64::from(bit_at(bytes, offset + i))
    })
}

/// Writes the low `bits` bits of `value` from bit `offset`; the string is long enough.
fn write_bits(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = offset + i;
        let mask = 0x80 >> (bit & 7);
        let byte = &mut bytes[(bit >> 3) as usize];
        if value >> (u64::from(bits) - 1 - i) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

impl Field {
    /// The field's value as a number: two's complement when signed.
    fn value(&self, bytes: &[u8]) -> i128 {
        let raw = read_bits(bytes, self.offset, self.bits);
        if self.signed && self.bits < 64 && raw >> (self.bits - 1) & 1 == 1 {
            i128::from(raw) - (1i128 << self.bits)
        } else if self.signed {
            i128::from(raw as i64)
        } else {
            i128::from(raw)
        }
    }

    fn range(&self) -> (i128, i128) {
        if self.signed {
            (-(1i128 << (self.bits - 1)), (1i128 << (self.bits - 1)) - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// Runs a `SET` or `INCRBY`: the reply (old value for `SET`, new for `INCRBY`, nil when
    /// `OVERFLOW FAIL` refuses) and the value to write, if any.
    fn apply(&self, bytes: &[u8]) -> (Reply, Option<u64>) {
        let old = self.value(bytes);
        let wanted = match self.op {
            // Redis reads an unsigned field's new value as the 64-bit pattern of the integer.
            FieldOp::Set(v) if !self.signed => i128::from(v as u64),
            FieldOp::Set(v) => i128::from(v),
            FieldOp::IncrBy(by) => old + i128::from(by),
            FieldOp::Get => old,
        };
        let (min, max) = self.range();
        let new = if (min..=max).contains(&wanted) {
            wanted
        } else {
            match self.overflow {
                Overflow::Fail => return (Reply::Nil, None),
                Overflow::Sat => wanted.clamp(min, max),
                Overflow::Wrap => {
                    let wrapped = wanted.rem_euclid(1i128 << self.bits);
                    if wrapped > max {
                        wrapped - (1i128 << self.bits)
                    } else {
                        wrapped
                    }
                }
            }
        };
        let reply = match self.op {
            FieldOp::Set(_) => old,
            _ => new,
        };
        (Reply::Int(reply as i64), Some(new as u64))
    }
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL]...` and `BITFIELD_RO key [GET type offset]...`.
fn bitfield(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let ops = match field_ops(&args[2..]) {
        Ok(ops) => ops,
        Err(e) => return e,
    };
    let writes: Vec<&Field> = ops.iter().filter(|f| f.op != FieldOp::Get).collect();
    if !writes.is_empty() && is(&args[0], "BITFIELD_RO") {
        return Reply::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let existing = match string_of(em, conn.db, &args[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(highest) = writes
        .iter()
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max()
    else {
        let bytes = existing.unwrap_or_default();
        return Reply::Array(
            ops.iter()
                .map(|f| Reply::Int(f.value(&bytes) as i64))
                .collect(),
        );
    };
    let mut bytes = existing.unwrap_or_default();
    let needed = (highest >> 3) as usize + 1;
    if needed > MAX_STRING {
        return Reply::error(format!(
            "ERR mocket: BITFIELD would make a string of {needed} bytes; the emulator keeps \
             strings up to {MAX_STRING} bytes"
        ));
    }
    if bytes.len() < needed {
        bytes.resize(needed, 0);
    }
    let mut replies = Vec::with_capacity(ops.len());
    for field in &ops {
        if field.op == FieldOp::Get {
            replies.push(Reply::Int(field.value(&bytes) as i64));
            continue;
        }
        let (reply, new) = field.apply(&bytes);
        if let Some(new) = new {
            write_bits(&mut bytes, field.offset, field.bits, new);
        }
        replies.push(reply);
    }
    em.set_string(conn.db, &args[1], &bytes, true);
    Reply::Array(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_wrap_saturate_or_fail_like_redis() {
        let field = |op, signed, bits, overflow| Field {
            op,
            signed,
            bits,
            offset: 0,
            overflow,
        };
        let zero = [0u8; 8];
        let (reply, new) = field(FieldOp::IncrBy(130), true, 8, Overflow::Wrap).apply(&zero);
        assert_eq!((reply, new), (Reply::Int(-126), Some((-126i64) as u64)));
        let (reply, _) = field(FieldOp::IncrBy(300), false, 8, Overflow::Sat).apply(&zero);
        assert_eq!(reply, Reply::Int(255));
        let (reply, new) = field(FieldOp::Set(-1), false, 8, Overflow::Sat).apply(&zero);
        assert_eq!((reply, new), (Reply::Int(0), Some(255)));
        let (reply, new) = field(FieldOp::IncrBy(-1), false, 4, Overflow::Fail).apply(&zero);
        assert_eq!((reply, new), (Reply::Nil, None));
        let mut bytes = [0u8; 2];
        write_bits(&mut bytes, 4, 8, 0xab);
        assert_eq!(bytes, [0x0a, 0xb0]);
        assert_eq!(read_bits(&bytes, 4, 8), 0xab);
    }

    #[test]
    fn ranges_resolve_like_redis() {
        assert_eq!(bit_range(0, -1, false, 3), Some((0, 23)));
        assert_eq!(bit_range(1, 1, false, 3), Some((8, 15)));
        assert_eq!(bit_range(5, 30, true, 3), Some((5, 23)));
        assert_eq!(bit_range(-2, -1, true, 1), Some((6, 7)));
        assert_eq!(bit_range(2, 1, false, 3), None);
        assert_eq!(bit_range(0, -1, false, 0), None);
    }

    #[test]
    fn offsets_past_the_emulator_limit_are_refused() {
        assert!(bit_offset(b"4294967295").is_err());
        assert_eq!(bit_offset(b"7"), Ok(7));
        assert_eq!(bit_offset(b"-1"), Err(Reply::error(BAD_OFFSET)));
        assert_eq!(bit_offset(b"4294967296"), Err(Reply::error(BAD_OFFSET)));
        assert!(bit_at(&[0x80], 0) && !bit_at(&[0x80], 1) && !bit_at(&[], 9));
    }
}
