//! `cjson.encode` and `cjson.decode` as lua-cjson 2.1.0 behaves with Redis's defaults:
//! numbers as `%.14g`, `/` escaped, empty tables as `{}`, sparse arrays refused, nesting
//! limited to 1000, `null` as `cjson.null`, and lua-cjson's error texts.

use mlua::{Lua, Table, Value as LuaValue};

const MAX_DEPTH: usize = 1000;
/// Output past which encoding stops: a table can hold the same big string many times.
const MAX_OUTPUT: usize = 64 << 20;
/// `encode_sparse_ratio` and `encode_sparse_safe`.
const SPARSE_RATIO: f64 = 2.0;
const SPARSE_SAFE: f64 = 10.0;

/// The JSON text of `value`, or lua-cjson's error.
pub(super) fn encode(lua: &Lua, value: &LuaValue) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_value(lua, value, 0, &mut out)?;
    Ok(out)
}

fn type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Nil => "nil",
        LuaValue::Boolean(_) => "boolean",
        LuaValue::LightUserData(_) => "userdata",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::String(_) => "string",
        LuaValue::Table(_) => "table",
        LuaValue::Function(_) => "function",
        LuaValue::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn exception(value: &LuaValue, reason: &str) -> String {
    format!("Cannot serialise {}: {reason}", type_name(value))
}

fn encode_value(
    lua: &Lua,
    value: &LuaValue,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if out.len() > MAX_OUTPUT {
        return Err(format!(
            "Cannot serialise: mocket: the JSON text would exceed {} MB",
            MAX_OUTPUT >> 20
        ));
    }
    match value {
        LuaValue::String(s) => encode_string(&s.as_bytes(), out),
        LuaValue::Integer(n) => encode_number(value, *n as f64, out)?,
        LuaValue::Number(n) => encode_number(value, *n, out)?,
        LuaValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        LuaValue::Nil => out.extend_from_slice(b"null"),
        LuaValue::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        LuaValue::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(value, t)? {
                Some(len) if len > 0 => encode_array(lua, t, len, depth, out)?,
                _ => encode_object(lua, t, depth, out)?,
            }
        }
        other => return Err(exception(other, "type not supported")),
    }
    Ok(())
}

fn encode_number(value: &LuaValue, n: f64, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        return Err(exception(value, "must not be NaN or Inf"));
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

/// `t[key]`, `item`, encoded: -0 as `-0`, as lua-cjson prints it (mlua reads -0 as the
/// integer 0, so the table is asked).
fn encode_item(
    lua: &Lua,
    t: &Table,
    key: impl mlua::IntoLua + Clone,
    item: &LuaValue,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if matches!(item, LuaValue::Integer(0)) && super::super::lua_resp::is_negative_zero(lua, t, key)
    {
        out.extend_from_slice(b"-0");
        return Ok(());
    }
    encode_value(lua, item, depth, out)
}

/// C's `%.<precision>g`.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{:.*e}", precision - 1, n);
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("an exponent");
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_fraction(&format!("{n:.decimals$}")).to_string()
}

fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The length of `t` as an array, `None` when it is an object (a key that is not a positive
/// integer), or the sparse-array error.
fn array_length(value: &LuaValue, t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0.0f64;
    let mut items = 0.0f64;
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        let (key, _) = pair.map_err(|e| e.to_string())?;
        let k = match key {
            LuaValue::Integer(k) => k as f64,
            LuaValue::Number(k) => k,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = max.max(k);
        items += 1.0;
    }
    if max > items * SPARSE_RATIO && max > SPARSE_SAFE {
        return Err(exception(value, "excessively sparse array"));
    }
    Ok(Some(max as usize))
}

fn encode_array(
    lua: &Lua,
    t: &Table,
    len: usize,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.push(b'[');
    for i in 1..=len {
        if i > 1 {
            out.push(b',');
        }
        let item: LuaValue = t.raw_get(i).map_err(|e| e.to_string())?;
        encode_item(lua, t, i, &item, depth, out)?;
    }
    out.push(b']');
    Ok(())
}

fn encode_object(lua: &Lua, t: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    for pair in t.clone().pairs::<LuaValue, LuaValue>() {
        let (key, item) = pair.map_err(|e| e.to_string())?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &key {
            LuaValue::Integer(k) => {
                out.push(b'"');
                encode_number(&key, *k as f64, out)?;
                out.extend_from_slice(b"\":");
            }
            LuaValue::Number(k) => {
                out.push(b'"');
                encode_number(&key, *k, out)?;
                out.extend_from_slice(b"\":");
            }
            LuaValue::String(s) => {
                encode_string(&s.as_bytes(), out);
                out.push(b':');
            }
            other => return Err(exception(other, "table key must be a number or string")),
        }
        encode_item(lua, t, key.clone(), &item, depth, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// A token of lua-cjson's scanner; `Error` carries its description.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::String(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

struct Parser<'a> {
    /// Up to the first NUL: lua-cjson reads a C string.
    data: &'a [u8],
    at: usize,
    depth: usize,
}

/// The Lua value of JSON `text` (the outer error is lua-cjson's message; the inner, Lua's).
pub(super) fn decode(lua: &Lua, text: &[u8]) -> Result<mlua::Result<LuaValue>, String> {
    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
    let mut parser = Parser {
        data: &text[..end],
        at: 0,
        depth: 0,
    };
    let (token, index) = parser.next_token();
    let value = match parser.value(lua, token, index)? {
        Ok(value) => value,
        Err(e) => return Ok(Err(e)),
    };
    let (token, index) = parser.next_token();
    if token != Token::End {
        return Err(parse_error("the end", &token, index));
    }
    Ok(Ok(value))
}

fn parse_error(expected: &str, found: &Token, index: usize) -> String {
    format!(
        "Expected {expected} but found {} at character {}",
        found.name(),
        index + 1
    )
}

impl Parser<'_> {
    fn peek(&self, offset: usize) -> u8 {
        self.data.get(self.at + offset).copied().unwrap_or(0)
    }

    /// The next token and where it starts.
    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.peek(0), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let index = self.at;
        let single = match self.peek(0) {
            0 => return (Token::End, index),
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            b'"' | b'-' | b'0'..=b'9' | b'f' | b'i' | b'I' | b'n' | b'N' | b't' => None,
            _ => return (Token::Error("invalid token"), index),
        };
        if let Some(token) = single {
            self.at += 1;
            return (token, index);
        }
        let rest = &self.data[self.at..];
        let token = match rest[0] {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            _ if rest.starts_with(b"true") => {
                self.at += 4;
                Token::Boolean(true)
            }
            _ if rest.starts_with(b"false") => {
                self.at += 5;
                Token::Boolean(false)
            }
            _ if rest.starts_with(b"null") => {
                self.at += 4;
                Token::Null
            }
            _ if rest.len() >= 3
                && (rest[..3].eq_ignore_ascii_case(b"inf")
                    || rest[..3].eq_ignore_ascii_case(b"nan")) =>
            {
                self.number()
            }
            _ => Token::Error("invalid token"),
        };
        // An error token points where the scanner stopped.
        let index = if matches!(token, Token::Error(_)) {
            self.at
        } else {
            index
        };
        (token, index)
    }

    /// A number as `strtod` reads the longest prefix it can.
    fn number(&mut self) -> Token {
        match strtod_prefix(&self.data[self.at..]) {
            Some((n, used)) => {
                self.at += used;
                Token::Number(n)
            }
            None => Token::Error("invalid number"),
        }
    }

    fn string(&mut self) -> Token {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let ch = self.peek(0);
            match ch {
                b'"' => {
                    self.at += 1;
                    return Token::String(out);
                }
                0 => return Token::Error("unexpected end of string"),
                b'\\' => {
                    let translated = match self.peek(1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if self.unicode_escape(&mut out) {
                                continue;
                            }
                            return Token::Error("invalid unicode escape code");
                        }
                        _ => return Token::Error("invalid escape code"),
                    };
                    out.push(translated);
                    self.at += 2;
                }
                _ => {
                    out.push(ch);
                    self.at += 1;
                }
            }
        }
    }

    fn hex4(&self, offset: usize) -> Option<u32> {
        let digits = self.data.get(self.at + offset..self.at + offset + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    /// `\uXXXX` (with a surrogate pair as `\uD8xx\uDCxx`) as UTF-8; false when invalid.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(first) = self.hex4(2) else {
            return false;
        };
        let (code, used) = match first {
            0xdc00..=0xdfff => return false,
            0xd800..=0xdbff => {
                if self.peek(6) != b'\\' || self.peek(7) != b'u' {
                    return false;
                }
                match self.hex4(8) {
                    Some(low @ 0xdc00..=0xdfff) => {
                        (((first & 0x3ff) << 10 | (low & 0x3ff)) + 0x10000, 12)
                    }
                    _ => return false,
                }
            }
            code => (code, 6),
        };
        let mut buf = [0u8; 4];
        let c = char::from_u32(code).expect("a scalar value");
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.at += used;
        true
    }

    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.at
            ));
        }
        Ok(())
    }

    /// An object key and its colon, after a `{` or a `,`.
    fn key(&mut self) -> Result<Vec<u8>, String> {
        let (token, index) = self.next_token();
        let Token::String(key) = token else {
            return Err(parse_error("object key string", &token, index));
        };
        let (colon, at) = self.next_token();
        if colon != Token::Colon {
            return Err(parse_error("colon", &colon, at));
        }
        Ok(key)
    }

    /// The value that starts with `token`, nested structures included: iterative, with the
    /// open arrays and objects on a heap stack, so a deep document cannot exhaust the
    /// thread's stack.
    fn value(
        &mut self,
        lua: &Lua,
        mut token: Token,
        mut index: usize,
    ) -> Result<mlua::Result<LuaValue>, String> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut value = match token {
                Token::String(s) => match lua.create_string(s) {
                    Ok(s) => LuaValue::String(s),
                    Err(e) => return Ok(Err(e)),
                },
                Token::Number(n) => LuaValue::Number(n),
                Token::Boolean(b) => LuaValue::Boolean(b),
                Token::Null => LuaValue::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
                Token::ObjBegin | Token::ArrBegin => {
                    self.descend()?;
                    let table = match lua.create_table() {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(e)),
                    };
                    let is_object = token == Token::ObjBegin;
                    let empty_end = if is_object {
                        Token::ObjEnd
                    } else {
                        Token::ArrEnd
                    };
                    let (next, at) = self.next_token();
                    if next == empty_end {
                        self.depth -= 1;
                        LuaValue::Table(table)
                    } else if is_object {
                        // Put the token back: `key` reads it again.
                        self.at = at;
                        let key = self.key()?;
                        open.push(Open::Object(table, key));
                        (token, index) = self.next_token();
                        continue;
                    } else {
                        open.push(Open::Array(table, 1));
                        (token, index) = (next, at);
                        continue;
                    }
                }
                other => return Err(parse_error("value", &other, index)),
            };
            // A complete value: store it in the structure it belongs to, closing those that end.
            loop {
                let Some(parent) = open.last_mut() else {
                    return Ok(Ok(value));
                };
                let (stored, end, expected) = match parent {
                    Open::Array(table, i) => {
                        *i += 1;
                        (
                            table.raw_set(*i - 1, value),
                            Token::ArrEnd,
                            "comma or array end",
                        )
                    }
                    Open::Object(table, key) => {
                        let stored = lua
                            .create_string(std::mem::take(key))
                            .and_then(|key| table.raw_set(key, value));
                        (stored, Token::ObjEnd, "comma or object end")
                    }
                };
                if let Err(e) = stored {
                    return Ok(Err(e));
                }
                let (after, at) = self.next_token();
                if after == end {
                    self.depth -= 1;
                    value = match open.pop().expect("a parent") {
                        Open::Array(table, _) | Open::Object(table, _) => LuaValue::Table(table),
                    };
                    continue;
                }
                if after != Token::Comma {
                    return Err(parse_error(expected, &after, at));
                }
                if let Some(Open::Object(_, key)) = open.last_mut() {
                    *key = self.key()?;
                }
                (token, index) = self.next_token();
                break;
            }
        }
    }
}

/// An array (with its next index) or an object (with the key of the value being read) not
/// closed yet.
enum Open {
    Array(Table, usize),
    Object(Table, Vec<u8>),
}

/// The number `strtod` reads at the start of `text` and how many bytes it used: decimal with
/// exponent, hexadecimal, `inf`/`infinity`/`nan`, with an optional sign.
fn strtod_prefix(text: &[u8]) -> Option<(f64, usize)> {
    let mut at = 0;
    let negative = match text.first() {
        Some(b'-') => {
            at += 1;
            true
        }
        Some(b'+') => {
            at += 1;
            false
        }
        _ => false,
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &text[at..];
    let lower = |n: usize| rest.get(..n).map(|s| s.to_ascii_lowercase());
    if lower(8).as_deref() == Some(b"infinity") {
        return Some((sign * f64::INFINITY, at + 8));
    }
    if lower(3).as_deref() == Some(b"inf") {
        return Some((sign * f64::INFINITY, at + 3));
    }
    if lower(3).as_deref() == Some(b"nan") {
        return Some((f64::NAN, at + 3));
    }
    if lower(2).as_deref() == Some(b"0x") && rest.get(2).is_some_and(u8::is_ascii_hexdigit) {
        let digits = rest[2..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let value = rest[2..2 + digits].iter().fold(0.0f64, |acc, b| {
            acc * 16.0 + f64::from((*b as char).to_digit(16).expect("a hex digit"))
        });
        return Some((sign * value, at + 2 + digits));
    }
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits(0);
    let mut mantissa_digits = end;
    if rest.get(end) == Some(&b'.') {
        let fraction = digits(end + 1);
        mantissa_digits += fraction;
        end += 1 + fraction;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if matches!(rest.get(end), Some(b'e' | b'E')) {
        let mut exp_at = end + 1;
        if matches!(rest.get(exp_at), Some(b'+' | b'-')) {
            exp_at += 1;
        }
        let exponent = digits(exp_at);
        if exponent > 0 {
            end = exp_at + exponent;
        }
    }
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let text = text.strip_suffix('.').unwrap_or(text);
    let value: f64 = text.parse().ok()?;
    Some((sign * value, at + end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_is_c_printf() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-3.0, 14), "-3");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
    }

    #[test]
    fn strtod_reads_the_longest_number_prefix() {
        assert_eq!(strtod_prefix(b"12abc"), Some((12.0, 2)));
        assert_eq!(strtod_prefix(b"-1.5e3,"), Some((-1500.0, 6)));
        assert_eq!(strtod_prefix(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod_prefix(b"0x1f"), Some((31.0, 4)));
        assert_eq!(strtod_prefix(b"-"), None);
        assert_eq!(strtod_prefix(b"1."), Some((1.0, 2)));
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_past_the_limit() {
        let lua = Lua::new();
        let deep = "[".repeat(100_000);
        let Err(e) = decode(&lua, deep.as_bytes()) else {
            panic!("decoded")
        };
        assert_eq!(
            e,
            "Found too many nested data structures (1001) at character 1001"
        );
    }

    #[test]
    fn a_table_that_holds_itself_is_refused_at_depth_1001() {
        let lua = Lua::new();
        let t = lua.create_table().unwrap();
        t.raw_set(1, &t).unwrap();
        assert_eq!(
            encode(&lua, &LuaValue::Table(t)),
            Err("Cannot serialise, excessive nesting (1001)".into())
        );
    }

    #[test]
    fn negative_zero_in_a_table_is_minus_0() {
        let lua = Lua::new();
        let t: LuaValue = lua.load("return {-0.0, 0.5, {k = -0.0}}").eval().unwrap();
        assert_eq!(encode(&lua, &t), Ok(b"[-0,0.5,{\"k\":-0}]".to_vec()));
    }
}
