//! `struct`: Roberto Ierusalimschy's struct library as Redis embeds it (`pack`, `unpack`,
//! `size`), written again in Rust with its formats and error texts on x86-64: `<` `>` byte
//! order (little by default), `!n` alignment, `b/B h/H l/L T i/In I/In` integers (1, 2, 8, 8,
//! n <= 32 bytes), `f` `d` floats, `c[n]` fixed strings (`c0`: the whole string, or in
//! `unpack` the size read just before), `s` zero-terminated strings, `x` padding.
//!
//! Bounded: a size in the format is at most `INT_MAX` as in C, nothing is allocated by a size
//! alone (a `c` item is checked against its string first), and packing stops past
//! [`MAX_OUTPUT`] bytes.

use mlua::{Lua, MultiValue, Value as LuaValue};

use super::{bad_argument, lua_error, type_name};

/// lua_struct's `MAXINTSIZE`.
const MAX_INT_SIZE: usize = 32;
/// lua_struct's `MAXALIGN` on x86-64.
const MAX_ALIGN: usize = 8;
/// Bytes one `struct.pack` may produce.
const MAX_OUTPUT: usize = 64 << 20;

/// Installs the `struct` global.
pub(super) fn register(lua: &Lua) -> mlua::Result<()> {
    let table = lua.create_table()?;
    table.raw_set("pack", lua.create_function(pack)?)?;
    table.raw_set("unpack", lua.create_function(unpack)?)?;
    table.raw_set("size", lua.create_function(size)?)?;
    lua.globals().raw_set("struct", table)
}

/// A format being read, with the byte order and alignment its options set.
struct Format<'a> {
    text: &'a [u8],
    at: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(text: &'a [u8]) -> Self {
        Format {
            text,
            at: 0,
            little: true,
            align: 1,
        }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.text.get(self.at)?;
        self.at += 1;
        Some(opt)
    }

    /// `getnum`: the digits after an option, or `default`.
    fn number(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: i64 = 0;
        while let Some(d) = self.text.get(self.at).filter(|c| c.is_ascii_digit()) {
            let digit = i64::from(d - b'0');
            if n > i64::from(i32::MAX) / 10 || n * 10 > i64::from(i32::MAX) - digit {
                return Err(lua_error(lua, "integral size overflow"));
            }
            n = n * 10 + digit;
            self.at += 1;
        }
        Ok(n as usize)
    }

    /// `optsize`: the size of option `opt` (0 for the options that take no room).
    fn size(&mut self, lua: &Lua, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let size = self.number(lua, 4)?;
                if size > MAX_INT_SIZE {
                    let message =
                        format!("integral size {size} is larger than limit of {MAX_INT_SIZE}");
                    return Err(lua_error(lua, &message));
                }
                size
            }
            _ => 0,
        })
    }

    /// `gettoalign`: padding before an item of `size` at `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        (size - (len & (size - 1))) & (size - 1)
    }

    /// `controloptions`: byte order, alignment, spaces; any other option is an error.
    fn control(&mut self, lua: &Lua, opt: u8, function: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let align = self.number(lua, MAX_ALIGN)?;
                if !align.is_power_of_two() {
                    return Err(lua_error(
                        lua,
                        &format!("alignment {align} is not a power of 2"),
                    ));
                }
                self.align = align;
            }
            _ => {
                let problem = format!("invalid format option '{}'", char::from(opt));
                return Err(bad_argument(lua, 1, function, &problem));
            }
        }
        Ok(())
    }
}

/// `luaL_checklstring`: a string, or a number as text.
fn string_arg(lua: &Lua, args: &MultiValue, i: usize, function: &str) -> mlua::Result<Vec<u8>> {
    let value = args.get(i - 1);
    match value {
        Some(LuaValue::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (LuaValue::Integer(_) | LuaValue::Number(_))) => Ok(lua
            .coerce_string(v.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()),
        _ => {
            let problem = format!("string expected, got {}", type_name(value));
            Err(bad_argument(lua, i, function, &problem))
        }
    }
}

/// A value argument of `pack`: past the last one, Lua's stack holds the nil that lua_struct
/// pushes, so the error says `nil`.
fn pack_arg(args: &MultiValue, i: usize) -> LuaValue {
    args.get(i - 1).cloned().unwrap_or(LuaValue::Nil)
}

fn pack_number(lua: &Lua, args: &MultiValue, i: usize) -> mlua::Result<f64> {
    let value = pack_arg(args, i);
    if let Ok(Some(n)) = lua.coerce_number(value.clone()) {
        return Ok(n);
    }
    let problem = format!("number expected, got {}", type_name(Some(&value)));
    Err(bad_argument(lua, i, "pack", &problem))
}

fn pack_string(lua: &Lua, args: &MultiValue, i: usize) -> mlua::Result<Vec<u8>> {
    let value = pack_arg(args, i);
    let padded: MultiValue = std::iter::repeat_n(LuaValue::Nil, i - 1)
        .chain(std::iter::once(value))
        .collect();
    string_arg(lua, &padded, i, "pack")
}

/// `struct.pack(format, ...)`.
fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let text = string_arg(lua, &args, 1, "pack")?;
    let mut format = Format::new(&text);
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 2;
    while let Some(opt) = format.next_option() {
        let mut size = format.size(lua, opt)?;
        if out.len() > MAX_OUTPUT {
            let message = format!(
                "mocket: struct.pack would produce more than {} MB; use a smaller format",
                MAX_OUTPUT >> 20
            );
            return Err(lua_error(lua, &message));
        }
        // At most 8 bytes of padding and 32 of an integer: only `c` and `s` add more, and
        // no more than the string they are given.
        let padding = format.padding(out.len(), opt, size);
        out.resize(out.len() + padding, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = pack_number(lua, &args, arg)?;
                arg += 1;
                put_integer(n, size, format.little, &mut out);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = pack_number(lua, &args, arg)? as f32;
                arg += 1;
                out.extend(ordered(f.to_le_bytes(), format.little));
            }
            b'd' => {
                let d = pack_number(lua, &args, arg)?;
                arg += 1;
                out.extend(ordered(d.to_le_bytes(), format.little));
            }
            b'c' | b's' => {
                let s = pack_string(lua, &args, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(bad_argument(lua, arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => format.control(lua, opt, "pack")?,
        }
    }
    lua.create_string(out)
}

/// Little-endian bytes in the format's order.
fn ordered<const N: usize>(mut bytes: [u8; N], little: bool) -> [u8; N] {
    if !little {
        bytes.reverse();
    }
    bytes
}

/// `putinteger`: the low `size` bytes of the number as C's 64-bit integer (zeros beyond).
fn put_integer(n: f64, size: usize, little: bool, out: &mut Vec<u8>) {
    let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut bytes = vec![0u8; size];
    for byte in bytes.iter_mut() {
        *byte = (value & 0xff) as u8;
        value >>= 8;
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

/// `getinteger`: C's 64-bit arithmetic on x86-64 (bytes past the eighth shift out).
fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut value = 0u64;
    let mut push = |b: &u8| value = (value << 8) | u64::from(*b);
    if little {
        bytes.iter().rev().for_each(&mut push);
    } else {
        bytes.iter().for_each(&mut push);
    }
    if !signed {
        return value as f64;
    }
    let shift = (bytes.len() * 8).wrapping_sub(1) as u32 & 63;
    let mask = u64::MAX << shift;
    if value & mask != 0 {
        value |= mask;
    }
    value as i64 as f64
}

/// `struct.unpack(format, data [, position])`: the values, then the position after them.
fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let text = string_arg(lua, &args, 1, "unpack")?;
    let data = string_arg(lua, &args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(LuaValue::Nil) => 1,
        Some(_) => super::number_arg(lua, &args, 3, "unpack")? as i64,
    };
    if start == 0 {
        return Err(bad_argument(
            lua,
            3,
            "unpack",
            "offset must be 1 or greater",
        ));
    }
    // C's size_t: a negative position is a huge one, past any data.
    let mut pos = (start as u64).wrapping_sub(1) as usize;
    let mut format = Format::new(&text);
    let mut values: Vec<LuaValue> = Vec::new();
    let too_short = || bad_argument(lua, 2, "unpack", "data string too short");
    while let Some(opt) = format.next_option() {
        let mut size = format.size(lua, opt)?;
        pos = pos.saturating_add(format.padding(pos, opt, size));
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        let item = &data[pos..pos + size];
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                values.push(LuaValue::Number(get_integer(item, format.little, signed)));
            }
            b'x' => {}
            b'f' => {
                let bytes = ordered(item.try_into().expect("4 bytes"), format.little);
                values.push(LuaValue::Number(f64::from(f32::from_le_bytes(bytes))));
            }
            b'd' => {
                let bytes = ordered(item.try_into().expect("8 bytes"), format.little);
                values.push(LuaValue::Number(f64::from_le_bytes(bytes)));
            }
            b'c' => {
                if size == 0 {
                    size = match values.pop() {
                        Some(LuaValue::Number(n)) => n as usize,
                        Some(LuaValue::Integer(n)) => n as usize,
                        _ => return Err(lua_error(lua, "format 'c0' needs a previous size")),
                    };
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                values.push(LuaValue::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|b| *b == 0) else {
                    return Err(lua_error(lua, "unfinished string in data"));
                };
                values.push(LuaValue::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => format.control(lua, opt, "unpack")?,
        }
        pos += size;
    }
    values.push(LuaValue::Number(pos as f64 + 1.0));
    Ok(MultiValue::from_iter(values))
}

/// `struct.size(format)`: the bytes `pack` would produce.
fn size(lua: &Lua, args: MultiValue) -> mlua::Result<i64> {
    let text = string_arg(lua, &args, 1, "size")?;
    let mut format = Format::new(&text);
    let mut pos: usize = 0;
    while let Some(opt) = format.next_option() {
        let size = format.size(lua, opt)?;
        pos += format.padding(pos, opt, size);
        if opt == b's' {
            return Err(bad_argument(lua, 1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(bad_argument(
                lua,
                1,
                "size",
                "option 'c0' has no fixed size",
            ));
        }
        if !opt.is_ascii_alphanumeric() {
            format.control(lua, opt, "size")?;
        }
        pos = pos.saturating_add(size);
    }
    Ok(pos as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_keep_their_low_bytes_and_sign_extend_when_signed() {
        let mut out = Vec::new();
        put_integer(-2.0, 2, true, &mut out);
        put_integer(258.0, 2, false, &mut out);
        put_integer(-1.0, 10, true, &mut out);
        assert_eq!(
            out,
            [&[0xfe, 0xff, 0x01, 0x02][..], &[0xff; 8], &[0, 0]].concat()
        );
        assert_eq!(get_integer(&[0xfe, 0xff], true, true), -2.0);
        assert_eq!(get_integer(&[0xfe, 0xff], true, false), 65534.0);
        assert_eq!(get_integer(&[0x01, 0x02], false, false), 258.0);
    }

    #[test]
    fn alignment_pads_to_the_smaller_of_size_and_the_maximum() {
        let mut format = Format::new(b"");
        format.align = 4;
        assert_eq!(format.padding(1, b'd', 8), 3);
        assert_eq!(format.padding(1, b'h', 2), 1);
        assert_eq!(format.padding(1, b'c', 8), 0);
        format.align = 1;
        assert_eq!(format.padding(1, b'd', 8), 0);
    }

    #[test]
    fn a_huge_size_is_checked_against_the_string_before_allocating() {
        let lua = Lua::new();
        super::super::register(&lua).unwrap();
        let result: mlua::Result<mlua::String> =
            lua.load("return struct.pack('c2000000000', 'abc')").eval();
        let error = result.unwrap_err().to_string();
        assert!(error.contains("mocket: raised"), "{error}");
    }
}
