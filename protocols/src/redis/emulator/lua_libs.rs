//! The libraries Redis embeds in its Lua, written again in Rust (no C source of Redis is
//! copied): `bit` (LuaBitOp) and `cjson` (lua-cjson 2.1 with Redis's settings), registered as
//! globals of every script's state, with their results and error texts.
//!
//! Errors are raised as Redis's error handler sees a C library's `luaL_error`: the message
//! with `ERR ` in front and the script's line after (`scripting::raise`). The functions are
//! Rust functions, so a script's `return bit.tobit()` (a tail call) keeps the script's frame
//! for that line, as Redis's C functions do.

mod cjson;
// lua-cmsgpack and lua_struct (issue 19).
pub(crate) mod cmsgpack;
mod struct_lib;

use mlua::{Lua, MultiValue, Table, Value as LuaValue};

use super::scripting::{raise, sha1_hex};
use crate::redis::reply::{Protocol, Reply};

/// `luaL_error`: the message after the calling Lua function's `source:line: `.
fn lua_error(lua: &Lua, message: &str) -> mlua::Error {
    let location = lua
        .inspect_stack(1)
        .filter(|frame| frame.curr_line() > 0)
        .map(|frame| {
            let source = frame.source().short_src.unwrap_or_default().into_owned();
            format!("{source}:{}: ", frame.curr_line())
        })
        .unwrap_or_default();
    raise(lua, Reply::error(format!("ERR {location}{message}")))
}

/// `luaL_argerror`'s text.
fn bad_argument(lua: &Lua, position: usize, function: &str, problem: &str) -> mlua::Error {
    lua_error(
        lua,
        &format!("bad argument #{position} to '{function}' ({problem})"),
    )
}

/// Lua's name of a value's type; `no value` past the last argument.
fn type_name(value: Option<&LuaValue>) -> &'static str {
    match value {
        None => "no value",
        Some(v) => v.type_name(),
    }
}

/// `luaL_checknumber` of argument `i` (1-based).
fn number_arg(lua: &Lua, args: &MultiValue, i: usize, function: &str) -> mlua::Result<f64> {
    let value = args.get(i - 1);
    if let Some(v) = value
        && let Ok(Some(n)) = lua.coerce_number(v.clone())
    {
        return Ok(n);
    }
    let problem = format!("number expected, got {}", type_name(value));
    Err(bad_argument(lua, i, function, &problem))
}

/// Installs `bit` and `cjson` as globals of `lua`.
pub(super) fn register(lua: &Lua) -> mlua::Result<()> {
    let bit = lua.create_table()?;
    for (name, arity) in [
        ("tobit", Some(1)),
        ("bnot", Some(1)),
        ("bswap", Some(1)),
        ("band", None),
        ("bor", None),
        ("bxor", None),
        ("lshift", Some(2)),
        ("rshift", Some(2)),
        ("arshift", Some(2)),
        ("rol", Some(2)),
        ("ror", Some(2)),
    ] {
        let function = lua.create_function(move |lua, args: MultiValue| {
            let count = arity.unwrap_or(args.len().max(1));
            let mut numbers = vec![0.0; count];
            // LuaBitOp reads the first argument first, then the others from the last.
            numbers[0] = number_arg(lua, &args, 1, name)?;
            for i in (2..=count).rev() {
                numbers[i - 1] = number_arg(lua, &args, i, name)?;
            }
            Ok(bit_op(name, &numbers))
        })?;
        bit.raw_set(name, function)?;
    }
    let tohex = lua.create_function(|lua, args: MultiValue| {
        let b = to_bits(number_arg(lua, &args, 1, "tohex")?);
        let n = match args.len() {
            0 | 1 => 8,
            _ => to_bits(number_arg(lua, &args, 2, "tohex")?) as i32,
        };
        Ok(tohex(b, n))
    })?;
    bit.raw_set("tohex", tohex)?;
    let cjson = lua.create_table()?;
    cjson.raw_set("encode", lua.create_function(json_encode)?)?;
    cjson.raw_set("decode", lua.create_function(json_decode)?)?;
    cjson.raw_set(
        "null",
        LuaValue::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
    )?;
    let globals = lua.globals();
    globals.raw_set("bit", bit)?;
    globals.raw_set("cjson", cjson)?;
    cmsgpack::register(lua)?;
    struct_lib::register(lua)?;
    Ok(())
}

fn json_encode(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    if args.len() != 1 {
        return Err(bad_argument(lua, 1, "encode", "expected 1 argument"));
    }
    match cjson::encode(lua, &args[0]) {
        Ok(text) => lua.create_string(text),
        Err(message) => Err(lua_error(lua, &message)),
    }
}

fn json_decode(lua: &Lua, args: MultiValue) -> mlua::Result<LuaValue> {
    if args.len() != 1 {
        return Err(bad_argument(lua, 1, "decode", "expected 1 argument"));
    }
    let text = match &args[0] {
        LuaValue::String(s) => s.as_bytes().to_vec(),
        LuaValue::Integer(_) | LuaValue::Number(_) => match lua.coerce_string(args[0].clone()) {
            Ok(Some(s)) => s.as_bytes().to_vec(),
            _ => Vec::new(),
        },
        other => {
            let problem = format!("string expected, got {}", other.type_name());
            return Err(bad_argument(lua, 1, "decode", &problem));
        }
    };
    match cjson::decode(lua, &text) {
        Ok(value) => value,
        Err(message) => Err(lua_error(lua, &message)),
    }
}

/// The `redis` helpers that check their arguments and raise Redis's errors: `sha1hex`,
/// `log`, `setresp`, `set_repl`.
pub(super) fn redis_helpers(lua: &Lua) -> mlua::Result<Table> {
    let fail = |lua: &Lua, text: &str| raise(lua, Reply::error(format!("ERR {text}")));
    let helpers = lua.create_table()?;
    let sha1hex = lua.create_function(move |lua, args: MultiValue| {
        if args.len() != 1 {
            return Err(fail(lua, "wrong number of arguments"));
        }
        let data = match &args[0] {
            LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_) => lua
                .coerce_string(args[0].clone())?
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok(sha1_hex(&data))
    })?;
    let log = lua.create_function(move |lua, args: MultiValue| {
        if args.len() < 2 {
            return Err(fail(lua, "redis.log() requires two arguments or more."));
        }
        let Some(level) = lua.coerce_number(args[0].clone())? else {
            return Err(fail(lua, "First argument must be a number (log level)."));
        };
        if !(0.0..4.0).contains(&level.trunc()) {
            return Err(fail(lua, "Invalid debug level."));
        }
        Ok(())
    })?;
    let setresp = lua.create_function(move |lua, args: MultiValue| {
        if args.len() != 1 {
            return Err(fail(lua, "redis.setresp() requires one argument."));
        }
        let resp = lua.coerce_number(args[0].clone())?.unwrap_or(0.0).trunc();
        let protocol = match resp {
            2.0 => Protocol::Resp2,
            3.0 => Protocol::Resp3,
            _ => return Err(fail(lua, "RESP version must be 2 or 3.")),
        };
        super::lua_resp::set_script_protocol(lua, protocol);
        Ok(())
    })?;
    let set_repl = lua.create_function(move |lua, args: MultiValue| {
        if args.len() != 1 {
            return Err(fail(lua, "redis.set_repl() requires two arguments."));
        }
        let flags = lua.coerce_number(args[0].clone())?.unwrap_or(0.0).trunc();
        if !(0.0..4.0).contains(&flags) {
            return Err(fail(
                lua,
                "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            ));
        }
        Ok(())
    })?;
    helpers.raw_set("sha1hex", sha1hex)?;
    helpers.raw_set("log", log)?;
    helpers.raw_set("setresp", setresp)?;
    helpers.raw_set("set_repl", set_repl)?;
    Ok(helpers)
}

/// LuaBitOp's conversion of a number to 32 bits: the low word of `n + 2^52 + 2^51`, which
/// rounds to the nearest integer and wraps modulo 2^32.
fn to_bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// One operation of `bit`; results are signed 32-bit numbers, `tohex` a string.
fn bit_op(op: &str, numbers: &[f64]) -> LuaValue {
    let arg = |i: usize| to_bits(numbers.get(i).copied().unwrap_or(0.0));
    let shift = || arg(1) & 31;
    let result: u32 = match op {
        "tobit" => arg(0),
        "bnot" => !arg(0),
        "bswap" => arg(0).swap_bytes(),
        "band" => (1..numbers.len()).fold(arg(0), |acc, i| acc & arg(i)),
        "bor" => (1..numbers.len()).fold(arg(0), |acc, i| acc | arg(i)),
        "bxor" => (1..numbers.len()).fold(arg(0), |acc, i| acc ^ arg(i)),
        "lshift" => arg(0) << shift(),
        "rshift" => arg(0) >> shift(),
        "arshift" => ((arg(0) as i32) >> shift()) as u32,
        "rol" => arg(0).rotate_left(shift()),
        "ror" => arg(0).rotate_right(shift()),
        _ => return LuaValue::Nil,
    };
    LuaValue::Number(f64::from(result as i32))
}

/// `bit.tohex(b, n)`: the low `n` hex digits (at most 8), upper case for a negative `n`.
fn tohex(mut b: u32, n: i32) -> String {
    let (digits, n) = if n < 0 {
        (b"0123456789ABCDEF", n.wrapping_neg())
    } else {
        (b"0123456789abcdef", n)
    };
    let n = n.clamp(0, 8) as usize;
    let mut text = vec![0u8; n];
    for slot in text.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    String::from_utf8(text).expect("hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_bits_rounds_and_wraps_like_luabitop() {
        assert_eq!(to_bits(1.0), 1);
        assert_eq!(to_bits(-1.0), u32::MAX);
        assert_eq!(to_bits(2f64.powi(32) + 5.0), 5);
        assert_eq!(to_bits(2.5), 2);
        assert_eq!(to_bits(3.5), 4);
    }
}
