//! Replies to Lua values and back, as Redis 7.0's `script_lua.c` converts them, in the protocol
//! the script chose with `redis.setresp` (RESP2 until then, whatever the caller speaks):
//! - a command's reply under RESP3 gives `{map = t}`, `{set = t}` (members as keys, `true`),
//!   `{double = n}`, `{big_number = s}`, `{verbatim_string = {format, string}}`, booleans and
//!   `nil` for a null; under RESP2, flat tables, strings, `false` for a null;
//! - a script's result: `{err}`, `{ok}`, `{double}`, `{big_number}`, `{verbatim_string}`,
//!   `{map}` and `{set}` tables become those replies in either protocol (the caller's decides
//!   the bytes), and a boolean is `1`/nil under RESP2, a RESP3 boolean under RESP3.
//!
//! Bounded: a reply nests at most [`MAX_REPLY_DEPTH`] deep and holds at most
//! [`MAX_REPLY_ELEMENTS`] values (a table may contain itself).

use mlua::{IntoLua, Lua, Table, Value as LuaValue};

use crate::redis::reply::{Protocol, Reply, format_double};

/// Nesting of a script's reply past which Redis answers "reached lua stack limit".
const MAX_REPLY_DEPTH: usize = 1_000;
/// Elements of a script's reply: a table that contains itself would otherwise be endless.
const MAX_REPLY_ELEMENTS: usize = 10_000_000;
const STACK_LIMIT: &str = "ERR reached lua stack limit";

/// The protocol the running script chose (`redis.setresp`); RESP2 by default.
pub(super) fn script_protocol(lua: &Lua) -> Protocol {
    lua.app_data_ref::<Protocol>()
        .map_or(Protocol::Resp2, |p| *p)
}

/// `redis.setresp(2|3)`, and the start of every run (RESP2).
pub(super) fn set_script_protocol(lua: &Lua, protocol: Protocol) {
    lua.set_app_data(protocol);
}

/// A command's reply as the script sees it, in its protocol.
pub(super) fn to_lua(lua: &Lua, reply: Reply) -> mlua::Result<LuaValue> {
    let resp3 = script_protocol(lua) == Protocol::Resp3;
    let field = |key: &str, value: LuaValue| -> mlua::Result<LuaValue> {
        let t = lua.create_table()?;
        t.raw_set(key, value)?;
        Ok(LuaValue::Table(t))
    };
    let string = |bytes: &[u8]| -> mlua::Result<LuaValue> {
        Ok(LuaValue::String(lua.create_string(bytes)?))
    };
    let list = |items: Vec<Reply>| -> mlua::Result<LuaValue> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.into_iter().enumerate() {
            t.raw_set(i + 1, to_lua(lua, item)?)?;
        }
        Ok(LuaValue::Table(t))
    };
    Ok(match reply {
        Reply::Simple(s) => field("ok", string(s.as_bytes())?)?,
        Reply::Error(s) => field("err", string(s.as_bytes())?)?,
        Reply::Int(i) => LuaValue::Number(i as f64),
        Reply::Bulk(b) => string(&b)?,
        Reply::Verbatim(s) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", "txt")?;
            inner.raw_set("string", lua.create_string(s)?)?;
            field("verbatim_string", LuaValue::Table(inner))?
        }
        Reply::Verbatim(s) => string(s.as_bytes())?,
        Reply::Double(d) if resp3 => field("double", LuaValue::Number(d))?,
        Reply::Double(d) => string(format_double(d).as_bytes())?,
        Reply::FormattedDouble(s) if resp3 => {
            field("double", LuaValue::Number(s.parse().unwrap_or(0.0)))?
        }
        Reply::FormattedDouble(s) => string(s.as_bytes())?,
        Reply::Nil | Reply::NilArray if resp3 => LuaValue::Nil,
        Reply::Nil | Reply::NilArray => LuaValue::Boolean(false),
        Reply::Bool(b) if resp3 => LuaValue::Boolean(b),
        Reply::Bool(b) => LuaValue::Number(if b { 1.0 } else { 0.0 }),
        Reply::BigNumber(s) if resp3 => field("big_number", string(s.as_bytes())?)?,
        Reply::BigNumber(s) => string(s.as_bytes())?,
        Reply::Set(items) if resp3 => {
            let members = lua.create_table()?;
            for item in items {
                members.raw_set(to_lua(lua, item)?, true)?;
            }
            field("set", LuaValue::Table(members))?
        }
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(to_lua(lua, k)?, to_lua(lua, v)?)?;
            }
            field("map", LuaValue::Table(map))?
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Several(items) => {
            list(items)?
        }
        Reply::Map(pairs) => list(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())?,
    })
}

/// A script's result as a reply, booleans by the script's protocol at its end.
pub(super) fn script_result(lua: &Lua, value: LuaValue) -> Reply {
    let mut budget = MAX_REPLY_ELEMENTS;
    from_lua(lua, value, script_protocol(lua), 0, &mut budget)
}

fn from_lua(
    lua: &Lua,
    value: LuaValue,
    protocol: Protocol,
    depth: usize,
    budget: &mut usize,
) -> Reply {
    if depth > MAX_REPLY_DEPTH || *budget == 0 {
        return Reply::error(STACK_LIMIT);
    }
    *budget -= 1;
    let resp3 = protocol == Protocol::Resp3;
    match value {
        LuaValue::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        LuaValue::Boolean(b) if resp3 => Reply::Bool(b),
        LuaValue::Boolean(true) => Reply::Int(1),
        LuaValue::Integer(n) => Reply::Int(n),
        LuaValue::Number(n) => Reply::Int(c_cast(n)),
        LuaValue::Table(t) => table_reply(lua, t, protocol, depth, budget),
        _ => Reply::Nil,
    }
}

/// C's `(long long)` of a double as x86-64 computes it: out of range (and NaN) gives the
/// smallest integer, which is what Redis answers for `return 2^63`.
pub(super) fn c_cast(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Text of a Lua string field on one line, as Redis writes status and error replies.
fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(['\r', '\n'], " ")
}

/// Whether `t[key]` is the number -0, which mlua reads as the integer 0 (no sign of zero).
pub(super) fn is_negative_zero(lua: &Lua, t: &Table, key: impl IntoLua + Clone) -> bool {
    if !matches!(t.raw_get::<LuaValue>(key.clone()), Ok(LuaValue::Integer(0))) {
        return false;
    }
    lua.load("local t, k = ... return 1 / t[k] < 0")
        .call::<bool>((t.clone(), key))
        .unwrap_or(false)
}

fn table_reply(lua: &Lua, t: Table, protocol: Protocol, depth: usize, budget: &mut usize) -> Reply {
    if let Some(reply) = typed_table(lua, &t, protocol, depth, budget) {
        return reply;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<LuaValue>(i) {
            Ok(LuaValue::Nil) | Err(_) => break,
            Ok(item) => {
                let reply = from_lua(lua, item, protocol, depth + 1, budget);
                let stop = matches!(&reply, Reply::Error(e) if e == STACK_LIMIT);
                items.push(reply);
                if stop {
                    break;
                }
            }
        }
    }
    Reply::Array(items)
}

/// The reply of a table with a type field (`err`, `ok`, `double`, `big_number`,
/// `verbatim_string`, `map`, `set`, checked in Redis's order); `None` for an array. Kept out
/// of [`table_reply`] so that the frames of a deep array stay small.
#[inline(never)]
fn typed_table(
    lua: &Lua,
    t: &Table,
    protocol: Protocol,
    depth: usize,
    budget: &mut usize,
) -> Option<Reply> {
    let string_field = |name: &str| match t.raw_get::<LuaValue>(name) {
        Ok(LuaValue::String(s)) => Some(s.as_bytes().to_vec()),
        _ => None,
    };
    let table_field = |name: &str| match t.raw_get::<LuaValue>(name) {
        Ok(LuaValue::Table(inner)) => Some(inner),
        _ => None,
    };
    if let Some(err) = string_field("err") {
        return Some(Reply::Error(one_line(&err)));
    }
    if let Some(ok) = string_field("ok") {
        return Some(Reply::Simple(one_line(&ok)));
    }
    match t.raw_get::<LuaValue>("double") {
        Ok(LuaValue::Number(d)) => return Some(Reply::Double(d)),
        Ok(LuaValue::Integer(0)) if is_negative_zero(lua, t, "double") => {
            return Some(Reply::Double(-0.0));
        }
        Ok(LuaValue::Integer(i)) => return Some(Reply::Double(i as f64)),
        _ => {}
    }
    if let Some(digits) = string_field("big_number") {
        return Some(Reply::BigNumber(one_line(&digits)));
    }
    if let Some(verbatim) = table_field("verbatim_string") {
        let text = |name: &str| match verbatim.raw_get::<LuaValue>(name) {
            Ok(LuaValue::String(s)) => Some(s.as_bytes().to_vec()),
            _ => None,
        };
        if let (Some(_format), Some(text)) = (text("format"), text("string")) {
            return Some(Reply::Verbatim(String::from_utf8_lossy(&text).into_owned()));
        }
    }
    if let Some(map) = table_field("map") {
        let mut pairs = Vec::new();
        for pair in map.pairs::<LuaValue, LuaValue>() {
            let Ok((k, v)) = pair else { break };
            let k = from_lua(lua, k, protocol, depth + 1, budget);
            let v = from_lua(lua, v, protocol, depth + 1, budget);
            pairs.push((k, v));
        }
        return Some(Reply::Map(pairs));
    }
    let set = table_field("set")?;
    let mut members = Vec::new();
    for pair in set.pairs::<LuaValue, LuaValue>() {
        let Ok((member, _)) = pair else { break };
        members.push(from_lua(lua, member, protocol, depth + 1, budget));
    }
    Some(Reply::Set(members))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(lua: &Lua, reply: Reply) -> Reply {
        let value = to_lua(lua, reply).unwrap();
        script_result(lua, value)
    }

    #[test]
    fn resp3_replies_become_typed_tables_and_come_back_the_same() {
        let lua = Lua::new();
        set_script_protocol(&lua, Protocol::Resp3);
        for reply in [
            Reply::Map(vec![(Reply::bulk("a"), Reply::Double(1.5))]),
            Reply::Set(vec![Reply::bulk("x")]),
            Reply::Bool(false),
            Reply::BigNumber("123456789012345678901234567890".into()),
            Reply::Verbatim("text".into()),
            Reply::Double(-0.0),
        ] {
            assert_eq!(round_trip(&lua, reply.clone()), reply);
        }
        assert_eq!(round_trip(&lua, Reply::Nil), Reply::Nil);
    }

    #[test]
    fn resp2_flattens_and_turns_nulls_into_false() {
        let lua = Lua::new();
        set_script_protocol(&lua, Protocol::Resp2);
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Double(1.5))]);
        assert_eq!(
            round_trip(&lua, map),
            Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1.5")])
        );
        assert_eq!(round_trip(&lua, Reply::Bool(true)), Reply::Int(1));
        assert!(matches!(
            to_lua(&lua, Reply::Nil),
            Ok(LuaValue::Boolean(false))
        ));
        assert_eq!(script_result(&lua, LuaValue::Boolean(false)), Reply::Nil);
    }

    #[test]
    fn a_table_that_contains_itself_stops_at_the_depth_limit() {
        let lua = Lua::new();
        let value: LuaValue = lua.load("local t = {} t[1] = t return t").eval().unwrap();
        let mut reply = script_result(&lua, value);
        let mut depth = 0;
        while let Reply::Array(mut items) = reply {
            reply = items.remove(0);
            depth += 1;
        }
        assert_eq!(
            (depth, reply),
            (MAX_REPLY_DEPTH + 1, Reply::error(STACK_LIMIT))
        );
    }
}
