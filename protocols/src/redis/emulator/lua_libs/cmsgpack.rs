//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis embeds it (`pack`, `unpack`, `unpack_one`,
//! `unpack_limit`), written again in Rust with its encodings and error texts: integers in the
//! smallest MessagePack integer, other numbers as float32 when exact else float64, strings as
//! fixstr/str8/16/32, tables as arrays when their keys are exactly 1..n, else maps (in
//! `next` order), tables nested deeper than 16 as nil, functions and userdata as nil; its
//! decoder has no bin or ext types (`Bad data format in input.`).
//!
//! Bounded against hostile scripts: the packed text stops at [`MAX_OUTPUT`] (a table that
//! holds itself many times would otherwise grow exponentially), decoding nests at most
//! [`MAX_DECODE_DEPTH`] deep, and no count read from the input preallocates anything.

use mlua::{Lua, MultiValue, Table, Value as LuaValue};

use super::{bad_argument, lua_error};

/// lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`: deeper tables are packed as nil.
const MAX_NESTING: usize = 16;
/// Packed bytes one call may produce.
const MAX_OUTPUT: usize = 64 << 20;
/// Values one call may pack: the work of a table that holds itself many times grows
/// exponentially with its width, and Rust code is not stopped by the script time limit.
const MAX_VALUES: usize = 1 << 20;
/// Nesting of decoded arrays and maps (Redis stops near 8000, at its C stack; each open
/// table here holds one of mlua's 8000 references).
const MAX_DECODE_DEPTH: usize = 1_000;

/// Installs the `cmsgpack` global.
pub(super) fn register(lua: &Lua) -> mlua::Result<()> {
    let cmsgpack = lua.create_table()?;
    cmsgpack.raw_set("pack", lua.create_function(pack)?)?;
    cmsgpack.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| unpack_from(lua, &args, "unpack", 0, 0))?,
    )?;
    cmsgpack.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let offset = optional_integer(lua, &args, 2, "unpack_one")?;
            unpack_from(lua, &args, "unpack_one", 1, offset)
        })?,
    )?;
    cmsgpack.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let limit = super::number_arg(lua, &args, 2, "unpack_limit")? as i64;
            let offset = optional_integer(lua, &args, 3, "unpack_limit")?;
            unpack_from(lua, &args, "unpack_limit", limit, offset)
        })?,
    )?;
    cmsgpack.raw_set("_NAME", "cmsgpack")?;
    cmsgpack.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    cmsgpack.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    cmsgpack.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    lua.globals().raw_set("cmsgpack", cmsgpack)
}

/// `luaL_optinteger` of argument `i`: 0 when absent or nil.
fn optional_integer(lua: &Lua, args: &MultiValue, i: usize, function: &str) -> mlua::Result<i64> {
    match args.get(i - 1) {
        None | Some(LuaValue::Nil) => Ok(0),
        Some(_) => Ok(super::number_arg(lua, args, i, function)? as i64),
    }
}

/// `cmsgpack.pack(value, ...)`: the values packed one after the other.
fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    if args.is_empty() {
        return Err(bad_argument(
            lua,
            0,
            "pack",
            "MessagePack pack needs input.",
        ));
    }
    let mut packer = Packer {
        out: Vec::new(),
        values: 0,
    };
    for value in args.iter() {
        if let Err(message) = packer.encode(lua, value, 0) {
            return Err(lua_error(lua, &message));
        }
    }
    lua.create_string(packer.out)
}

/// The bytes packed so far, and how many values they hold.
struct Packer {
    out: Vec<u8>,
    values: usize,
}

impl Packer {
    fn encode(&mut self, lua: &Lua, value: &LuaValue, level: usize) -> Result<(), String> {
        self.values += 1;
        if self.out.len() > MAX_OUTPUT || self.values > MAX_VALUES {
            return Err(format!(
                "mocket: cmsgpack.pack would produce more than {} MB or {MAX_VALUES} values; \
                 pack less data (a table that contains itself repeats up to 16 levels deep)",
                MAX_OUTPUT >> 20
            ));
        }
        let out = &mut self.out;
        match value {
            LuaValue::String(s) => encode_bytes(&s.as_bytes(), out),
            LuaValue::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            LuaValue::Integer(n) => encode_int(*n, out),
            LuaValue::Number(n) => encode_number(*n, out),
            LuaValue::Table(t) if level < MAX_NESTING => self.encode_table(lua, t, level)?,
            _ => out.push(0xc0),
        }
        Ok(())
    }

    fn encode_table(&mut self, lua: &Lua, t: &Table, level: usize) -> Result<(), String> {
        let error = |e: mlua::Error| e.to_string();
        if let Some(len) = array_length(t).map_err(error)? {
            encode_header(len, 0x90, &mut self.out);
            for i in 1..=len {
                let item: LuaValue = t.raw_get(i).map_err(error)?;
                self.encode(lua, &item, level + 1)?;
            }
            return Ok(());
        }
        let pairs: Vec<(LuaValue, LuaValue)> = t
            .clone()
            .pairs::<LuaValue, LuaValue>()
            .collect::<mlua::Result<_>>()
            .map_err(error)?;
        encode_header(pairs.len(), 0x80, &mut self.out);
        for (key, value) in &pairs {
            self.encode(lua, key, level + 1)?;
            self.encode(lua, value, level + 1)?;
        }
        Ok(())
    }
}

/// lua-cmsgpack's `mp_encode_lua_number`: integral values as integers.
fn encode_number(n: f64, out: &mut Vec<u8>) {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n) {
        return encode_int(n as i64, out);
    }
    if f64::from(n as f32) == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        match n {
            0..=0x7f => out.push(n as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => push(out, 0xcd, &(n as u16).to_be_bytes()),
            0x1_0000..=0xffff_ffff => push(out, 0xce, &(n as u32).to_be_bytes()),
            _ => push(out, 0xcf, &(n as u64).to_be_bytes()),
        }
    } else {
        match n {
            -32..=-1 => out.push(n as u8),
            -128..=-33 => out.extend_from_slice(&[0xd0, n as u8]),
            -32768..=-129 => push(out, 0xd1, &(n as i16).to_be_bytes()),
            -2_147_483_648..=-32769 => push(out, 0xd2, &(n as i32).to_be_bytes()),
            _ => push(out, 0xd3, &n.to_be_bytes()),
        }
    }
}

fn push(out: &mut Vec<u8>, marker: u8, bytes: &[u8]) {
    out.push(marker);
    out.extend_from_slice(bytes);
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => push(out, 0xda, &(len as u16).to_be_bytes()),
        _ => push(out, 0xdb, &(len as u32).to_be_bytes()),
    }
    out.extend_from_slice(bytes);
}

/// A header of an array (`base` 0x90) or a map (`base` 0x80) of `len` entries.
fn encode_header(len: usize, base: u8, out: &mut Vec<u8>) {
    let (marker16, marker32) = if base == 0x90 {
        (0xdc, 0xdd)
    } else {
        (0xde, 0xdf)
    };
    match len {
        0..=15 => out.push(base | len as u8),
        16..=0xffff => push(out, marker16, &(len as u16).to_be_bytes()),
        _ => push(out, marker32, &(len as u32).to_be_bytes()),
    }
}

/// lua-cmsgpack's `table_is_an_array`: every key a positive integer, and as many keys as
/// the largest; the length then.
fn array_length(t: &Table) -> mlua::Result<Option<usize>> {
    let (mut count, mut max) = (0usize, 0f64);
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        let n = match pair?.0 {
            LuaValue::Integer(n) => n as f64,
            LuaValue::Number(n) => n,
            _ => return Ok(None),
        };
        if n <= 0.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        max = max.max(n);
        count += 1;
    }
    Ok((max == count as f64).then_some(count))
}

/// `unpack`, `unpack_one` (`limit` 1) and `unpack_limit`: the values decoded from `offset`,
/// all of them when `limit` and `offset` are 0, else at most `limit` after the offset of
/// what is left (-1 at the end).
fn unpack_from(
    lua: &Lua,
    args: &MultiValue,
    function: &str,
    limit: i64,
    offset: i64,
) -> mlua::Result<MultiValue> {
    let data = match args.front() {
        Some(LuaValue::String(s)) => s.as_bytes().to_vec(),
        Some(v @ (LuaValue::Integer(_) | LuaValue::Number(_))) => lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        other => {
            let got = super::type_name(other);
            let problem = format!("string expected, got {got}");
            return Err(bad_argument(lua, 1, function, &problem));
        }
    };
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(lua_error(
            lua,
            &format!(
                "Invalid request to unpack with offset of {offset} and limit of {}.",
                data.len()
            ),
        ));
    }
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if start > data.len() {
        return Err(lua_error(
            lua,
            &format!(
                "Start offset {offset} greater than input length {}.",
                data.len()
            ),
        ));
    }
    let mut cursor = Cursor {
        data: &data,
        at: start,
    };
    let mut values = Vec::new();
    let limit = if decode_all { i64::MAX } else { limit };
    while cursor.at < data.len() && (values.len() as i64) < limit {
        match cursor.decode(lua) {
            Ok(value) => values.push(value),
            Err(Malformed::Eof) => return Err(lua_error(lua, "Missing bytes in input.")),
            Err(Malformed::Format) => return Err(lua_error(lua, "Bad data format in input.")),
            Err(Malformed::TooDeep) => {
                let message = format!(
                    "mocket: MessagePack data nested deeper than {MAX_DECODE_DEPTH} levels"
                );
                return Err(lua_error(lua, &message));
            }
            Err(Malformed::Index(what)) => {
                let text = format!("ERR table index is {what}");
                return Err(super::raise(lua, crate::redis::reply::Reply::error(text)));
            }
            Err(Malformed::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if cursor.at == data.len() {
            -1
        } else {
            cursor.at as i64
        };
        values.insert(0, LuaValue::Number(next as f64));
    }
    Ok(MultiValue::from_iter(values))
}

enum Malformed {
    Eof,
    Format,
    TooDeep,
    /// A map key Lua refuses (`nil`, `NaN`): Lua's own error, without a script line.
    Index(&'static str),
    Lua(mlua::Error),
}

impl From<mlua::Error> for Malformed {
    fn from(e: mlua::Error) -> Self {
        Malformed::Lua(e)
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or(Malformed::Eof)?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    /// A big-endian unsigned integer of `n` bytes.
    fn uint(&mut self, n: usize) -> Result<u64, Malformed> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// One value, arrays and maps included: iterative, so nesting costs heap, not stack.
    fn decode(&mut self, lua: &Lua) -> Result<LuaValue, Malformed> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut value = match self.item(lua)? {
                Item::Value(value) => value,
                Item::Array(len) | Item::Map(len) if len == 0 => {
                    LuaValue::Table(lua.create_table()?)
                }
                item => {
                    if open.len() >= MAX_DECODE_DEPTH {
                        return Err(Malformed::TooDeep);
                    }
                    let is_map = matches!(item, Item::Map(_));
                    let (Item::Array(len) | Item::Map(len)) = item else {
                        unreachable!("values are handled above")
                    };
                    open.push(Open {
                        table: lua.create_table()?,
                        left: if is_map { len * 2 } else { len },
                        is_map,
                        next: 1,
                        key: None,
                    });
                    continue;
                }
            };
            // Hand the finished value to the containers it completes.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(value);
                };
                top.add(value)?;
                if top.left > 0 {
                    break;
                }
                value = LuaValue::Table(open.pop().expect("a top").table);
            }
        }
    }

    /// The next scalar, or the header of an array or map.
    fn item(&mut self, lua: &Lua) -> Result<Item, Malformed> {
        let marker = self.take(1)?[0];
        let number = |n: f64| Ok(Item::Value(LuaValue::Number(n)));
        match marker {
            0x00..=0x7f => number(f64::from(marker)),
            0x80..=0x8f => Ok(Item::Map(usize::from(marker & 0x0f))),
            0x90..=0x9f => Ok(Item::Array(usize::from(marker & 0x0f))),
            0xa0..=0xbf => self.string(lua, usize::from(marker & 0x1f)),
            0xc0 => Ok(Item::Value(LuaValue::Nil)),
            0xc2 => Ok(Item::Value(LuaValue::Boolean(false))),
            0xc3 => Ok(Item::Value(LuaValue::Boolean(true))),
            0xd9 => {
                let len = self.uint(1)? as usize;
                self.string(lua, len)
            }
            0xda => {
                let len = self.uint(2)? as usize;
                self.string(lua, len)
            }
            0xdb => {
                let len = self.uint(4)? as usize;
                self.string(lua, len)
            }
            0xca => number(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => number(f64::from_bits(self.uint(8)?)),
            0xcc => number(self.uint(1)? as f64),
            0xcd => number(self.uint(2)? as f64),
            0xce => number(self.uint(4)? as f64),
            0xcf => number(self.uint(8)? as f64),
            0xd0 => number(f64::from(self.uint(1)? as u8 as i8)),
            0xd1 => number(f64::from(self.uint(2)? as u16 as i16)),
            0xd2 => number(f64::from(self.uint(4)? as u32 as i32)),
            0xd3 => number(self.uint(8)? as i64 as f64),
            0xdc => Ok(Item::Array(self.uint(2)? as usize)),
            0xdd => Ok(Item::Array(self.uint(4)? as usize)),
            0xde => Ok(Item::Map(self.uint(2)? as usize)),
            0xdf => Ok(Item::Map(self.uint(4)? as usize)),
            0xe0..=0xff => number(f64::from(marker as i8)),
            _ => Err(Malformed::Format),
        }
    }

    fn string(&mut self, lua: &Lua, len: usize) -> Result<Item, Malformed> {
        let bytes = self.take(len)?;
        Ok(Item::Value(LuaValue::String(lua.create_string(bytes)?)))
    }
}

/// What one marker starts.
enum Item {
    Value(LuaValue),
    Array(usize),
    Map(usize),
}

/// An array or map being decoded. Its table grows as values arrive, so a huge count in a
/// short input ends at the input's end, not in an allocation.
struct Open {
    table: Table,
    /// Values still to come (keys and values for a map).
    left: usize,
    is_map: bool,
    /// The next array index.
    next: usize,
    /// A map's key waiting for its value.
    key: Option<LuaValue>,
}

impl Open {
    fn add(&mut self, value: LuaValue) -> Result<(), Malformed> {
        self.left -= 1;
        if !self.is_map {
            self.table.raw_set(self.next, value)?;
            self.next += 1;
        } else if let Some(key) = self.key.take() {
            match key {
                LuaValue::Nil => return Err(Malformed::Index("nil")),
                LuaValue::Number(n) if n.is_nan() => return Err(Malformed::Index("NaN")),
                key => self.table.raw_set(key, value)?,
            }
        } else {
            self.key = Some(value);
        }
        Ok(())
    }
}

/// The fuzz target's property (`fuzzing::lua_cmsgpack`): decoding any bytes never panics nor
/// allocates from a count; what decodes packs again, and that decodes to as many values.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn check_unpack(data: &[u8]) {
    let lua = Lua::new();
    let decode_all = |bytes: &[u8]| -> Result<Vec<LuaValue>, Malformed> {
        let mut cursor = Cursor { data: bytes, at: 0 };
        let mut values = Vec::new();
        while cursor.at < bytes.len() {
            values.push(cursor.decode(&lua)?);
        }
        Ok(values)
    };
    let Ok(values) = decode_all(data) else {
        return;
    };
    let mut packer = Packer {
        out: Vec::new(),
        values: 0,
    };
    for value in &values {
        packer.encode(&lua, value, 0).expect("decoded values pack");
    }
    let again = decode_all(&packer.out).unwrap_or_else(|_| panic!("packed values decode"));
    assert_eq!(
        again.len(),
        values.len(),
        "as many values after a round trip"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packer() -> Packer {
        Packer {
            out: Vec::new(),
            values: 0,
        }
    }

    fn packed(lua: &Lua, script: &str) -> Vec<u8> {
        let value: LuaValue = lua.load(script).eval().unwrap();
        let mut packer = packer();
        packer.encode(lua, &value, 0).unwrap();
        packer.out
    }

    #[test]
    fn packs_each_type_in_its_smallest_encoding() {
        let lua = Lua::new();
        let mut ints = Vec::new();
        for n in [
            0,
            127,
            128,
            256,
            65536,
            1 << 32,
            -1,
            -33,
            -129,
            -32769,
            -(1 << 31) - 1,
        ] {
            encode_int(n, &mut ints);
        }
        assert_eq!(
            ints,
            [
                &[0x00u8, 0x7f, 0xcc, 0x80, 0xcd, 0x01, 0x00, 0xce, 0, 1, 0, 0][..],
                &[
                    0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xd0, 0xdf, 0xd1, 0xff, 0x7f
                ],
                &[
                    0xd2, 0xff, 0xff, 0x7f, 0xff, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff
                ],
                &[0xff, 0xff],
            ]
            .concat()
        );
        assert_eq!(
            packed(&lua, "return {1, 2, {a = 1}, 'x', 1.5, 0.1, true}"),
            b"\x97\x01\x02\x81\xa1a\x01\xa1x\xca?\xc0\x00\x00\xcb?\xb9\x99\x99\x99\x99\x99\x9a\xc3"
        );
        assert_eq!(packed(&lua, "return {}"), b"\x90");
        assert_eq!(packed(&lua, "return {[2] = 1}"), b"\x81\x02\x01");
    }

    #[test]
    fn a_table_that_holds_itself_stops_at_16_levels_and_a_wide_one_at_the_size_limit() {
        let lua = Lua::new();
        let deep = packed(&lua, "local t = {} t[1] = t return t");
        assert_eq!(deep, [vec![0x91; 16], vec![0xc0]].concat());
        let wide: LuaValue = lua
            .load("local t = {} for i = 1, 10 do t[i] = t end return t")
            .eval()
            .unwrap();
        let mut packer = packer();
        assert!(packer.encode(&lua, &wide, 0).is_err());
        assert!(packer.values <= MAX_VALUES + 1);
    }

    #[test]
    fn decoding_is_bounded_by_the_input_not_its_counts() {
        let lua = Lua::new();
        let mut huge = Cursor {
            data: b"\xdd\xff\xff\xff\xff\x01",
            at: 0,
        };
        assert!(matches!(huge.decode(&lua), Err(Malformed::Eof)));
        let deep = vec![0x91u8; 100_000];
        let mut nested = Cursor { data: &deep, at: 0 };
        assert!(matches!(nested.decode(&lua), Err(Malformed::TooDeep)));
        let mut bad = Cursor {
            data: b"\xc1",
            at: 0,
        };
        assert!(matches!(bad.decode(&lua), Err(Malformed::Format)));
    }
}
