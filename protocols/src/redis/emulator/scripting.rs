//! Lua scripting as Redis 7.0 has it: `EVAL`, `EVALSHA` (and their `_RO` forms) and
//! `SCRIPT LOAD|EXISTS|FLUSH|KILL`, on Lua 5.1 (the version Redis embeds, vendored by `mlua`).
//!
//! A script sees `KEYS`, `ARGV` and the `redis` library (`call`, `pcall`, `error_reply`,
//! `status_reply`, `sha1hex`, `log`, ...), with Redis's conversions between its replies and Lua
//! values and its error texts (`... script: <sha>, on @user_script:<line>.`). It runs
//! atomically: the emulator is held for the whole script, as Redis runs nothing else meanwhile.
//!
//! Each run gets a fresh Lua state, so nothing a script leaves in Lua outlives it (Redis 7.0
//! refuses global variables anyway). The state is a sandbox: no `io`, `os`, `package`, `print`,
//! file loading or bytecode; its memory and running time are bounded, because the emulator
//! lives in the host process, which a runaway script must not take down or stall.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{
    ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table,
    Value as LuaValue, VmState,
};

use super::functions::registered_callback;
use super::lua_resp::{script_protocol, script_result, set_script_protocol, to_lua};
use super::{Emulator, Handler, int_arg, is};
use crate::redis::command::Command;
use crate::redis::conn::{Connection, VERSION};
use crate::redis::reply::{Protocol, Reply};
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "EVAL" | "EVAL_RO" => eval,
        "EVALSHA" | "EVALSHA_RO" => evalsha,
        "SCRIPT" => script,
        _ => return None,
    })
}

/// Scripts cached by SHA1 (`EVAL` caches too, as in Redis 7.0), bounded: each costs memory a
/// peer controls.
#[derive(Debug, Default)]
pub(super) struct Scripts {
    by_sha: HashMap<String, Vec<u8>>,
    bytes: usize,
}

const MAX_SCRIPTS: usize = 10_000;
const MAX_SCRIPT_BYTES: usize = 64 << 20;
/// Memory one run may use in Lua (values returned by `redis.call` included).
const MEMORY_LIMIT: usize = 256 << 20;
/// Redis answers `BUSY` to other clients after `lua-time-limit` (5 s) until `SCRIPT KILL`;
/// here a script that runs that long is stopped, since every connection of the address waits.
/// Unit tests use a shorter limit, long enough for the differential scripts (thousands of
/// `redis.call`s in a debug build) on a loaded machine.
const TIME_LIMIT: Duration = if cfg!(test) {
    Duration::from_secs(2)
} else {
    Duration::from_secs(5)
};

/// The chunk name of user scripts: errors read `user_script:1: ...`, as in Redis.
const USER_SCRIPT: &str = "@user_script";
/// The chunk name of libraries: errors read `user_function:2: ...`.
const USER_FUNCTION: &str = "@user_function";

impl Scripts {
    /// How many scripts are cached (`INFO memory`'s `number_of_cached_scripts`).
    pub(super) fn count(&self) -> usize {
        self.by_sha.len()
    }

    fn store(&mut self, sha: &str, body: &[u8]) -> Result<(), Reply> {
        if self.by_sha.contains_key(sha) {
            return Ok(());
        }
        if self.by_sha.len() >= MAX_SCRIPTS || self.bytes + body.len() > MAX_SCRIPT_BYTES {
            return Err(Reply::error(format!(
                "ERR mocket: the script cache is full ({MAX_SCRIPTS} scripts or \
                 {MAX_SCRIPT_BYTES} bytes); send SCRIPT FLUSH to empty it"
            )));
        }
        self.bytes += body.len();
        self.by_sha.insert(sha.to_string(), body.to_vec());
        Ok(())
    }
}

/// Lower-case hex SHA1, as `SCRIPT LOAD` answers and `redis.sha1hex` computes.
pub(super) fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

fn is_read_only(name: &[u8]) -> bool {
    name.to_ascii_uppercase().ends_with(b"_RO")
}

/// The keys and the arguments of a script.
type KeysAndArgs<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// `numkeys key... arg...` of `EVAL` and `EVALSHA`, checked in Redis's order.
fn keys_and_args(rest: &[Vec<u8>]) -> Result<KeysAndArgs<'_>, Reply> {
    let numkeys = int_arg(&rest[0])?;
    let given = rest.len() as i64 - 1;
    if numkeys > given {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let split = 1 + numkeys as usize;
    Ok((&rest[1..split], &rest[split..]))
}

/// `EVAL script numkeys [key ...] [arg ...]`.
fn eval(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (keys, argv) = match keys_and_args(&args[2..]) {
        Ok(split) => split,
        Err(e) => return e,
    };
    let body = &args[1];
    let sha = sha1_hex(body);
    let program = Program::Script { sha: &sha, body };
    run(em, conn, program, keys, argv, is_read_only(&args[0]))
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`.
fn evalsha(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (keys, argv) = match keys_and_args(&args[2..]) {
        Ok(split) => split,
        Err(e) => return e,
    };
    let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some(body) = em.scripts.by_sha.get(&sha).cloned() else {
        return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
    };
    let program = Program::Script {
        sha: &sha,
        body: &body,
    };
    run(em, conn, program, keys, argv, is_read_only(&args[0]))
}

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL`.
fn script(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity_ok = match sub.as_str() {
        "load" => args.len() == 3,
        "exists" => args.len() >= 3,
        "flush" => args.len() >= 2,
        "kill" => args.len() == 2,
        _ => return crate::redis::conn::unknown_subcommand(&args[1], "SCRIPT"),
    };
    if !arity_ok {
        return spec::arity_error(&format!("script|{sub}"));
    }
    match sub.as_str() {
        "load" => {
            let body = &args[2];
            if let Err(e) = compile(&sandbox_or_error(), body) {
                return e;
            }
            let sha = sha1_hex(body);
            match em.scripts.store(&sha, body) {
                Ok(()) => Reply::bulk(sha),
                Err(e) => e,
            }
        }
        "exists" => Reply::Array(
            args[2..]
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Reply::Int(em.scripts.by_sha.contains_key(&sha).into())
                })
                .collect(),
        ),
        "flush" => match &args[2..] {
            [] => flush(em),
            [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => flush(em),
            _ => Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
        },
        _ => Reply::error("NOTBUSY No scripts in execution right now."),
    }
}

fn flush(em: &mut Emulator) -> Reply {
    em.scripts = Scripts::default();
    Reply::ok()
}

/// The error reply a Rust function of the script's libraries raised: mlua raises Rust errors
/// as its own values, so the reply reaches the error handler this way, and the handler
/// raises it as Redis does (a table `{err=...}`, with the script's line added).
#[derive(Default)]
struct Raised(RefCell<Option<Reply>>);

/// Raises `reply` (an error) from a Rust function called by a script.
pub(super) fn raise(lua: &Lua, reply: Reply) -> mlua::Error {
    if let Some(raised) = lua.app_data_ref::<Raised>() {
        *raised.0.borrow_mut() = Some(reply);
    }
    mlua::Error::runtime("mocket: raised by a Rust function")
}

fn take_raised(lua: &Lua) -> Option<Reply> {
    lua.app_data_ref::<Raised>()?.0.borrow_mut().take()
}

/// A fresh sandbox, or `None` when Lua cannot even start (then every script fails with a
/// message saying so).
pub(super) fn sandbox_or_error() -> Option<Lua> {
    let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH;
    let lua = Lua::new_with(libs, LuaOptions::default()).ok()?;
    lua.set_memory_limit(MEMORY_LIMIT).ok()?;
    let globals = lua.globals();
    for name in [
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "print",
        "module",
    ] {
        globals.raw_set(name, LuaValue::Nil).ok()?;
    }
    lua.set_app_data(Raised::default());
    super::lua_libs::register(&lua).ok()?;
    Some(lua)
}

/// Compiles a user script as text (bytecode could escape the sandbox).
fn compile(lua: &Option<Lua>, body: &[u8]) -> Result<Function, Reply> {
    compile_chunk(
        lua,
        body,
        USER_SCRIPT,
        "Error compiling script (new function)",
    )
}

/// Compiles the Lua code of a library (after its shebang line).
pub(super) fn compile_library(lua: &Option<Lua>, body: &[u8]) -> Result<Function, Reply> {
    compile_chunk(lua, body, USER_FUNCTION, "Error compiling function")
}

/// Compiles `body` as text named `chunk_name`; a syntax error reads `ERR <what>: <message>`.
fn compile_chunk(
    lua: &Option<Lua>,
    body: &[u8],
    chunk_name: &str,
    what: &str,
) -> Result<Function, Reply> {
    let Some(lua) = lua else {
        return Err(Reply::error(
            "ERR mocket: cannot start a Lua interpreter for the script (out of memory?)",
        ));
    };
    lua.load(body)
        .set_name(chunk_name)
        .set_mode(ChunkMode::Text)
        .into_function()
        .map_err(|e| {
            let message = match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            };
            Reply::error(format!("ERR {what}: {message}"))
        })
}

/// The `redis` library and the protections Redis 7.0 puts on the globals, in Lua; `call` and
/// `pcall` are Rust functions: a C function called in tail position (`return redis.call(...)`)
/// keeps the script's frame, whose line Redis's error messages give.
const PRELUDE: &str = r##"
local call, pcall, helpers, keys, argv, version, version_num = ...
local redis = {}
redis.call = call
redis.pcall = pcall
local sub, find, gsub, select, type = string.sub, string.find, string.gsub, select, type
-- Redis's luaPushErrorBuff: "-CODE msg" keeps its code, other text gets ERR.
local function error_table(message)
  local code, text = "ERR", message
  if sub(message, 1, 1) == "-" then
    local space = find(message, " ", 1, true)
    if space then
      code, text = sub(message, 2, space - 1), sub(message, space + 1)
    else
      text = sub(message, 2)
    end
  end
  text = gsub(gsub(text, "^[\r\n]+", ""), "[\r\n]+$", "")
  return {err = code .. " " .. text}
end
redis.error_reply = function(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  if sub(e, 1, 1) ~= "-" then e = "-" .. e end
  return error_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  return {ok = s}
end
redis.sha1hex = helpers.sha1hex
redis.log = helpers.log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.setresp = helpers.setresp
redis.replicate_commands = function() return true end
redis.set_repl = helpers.set_repl
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
local readonly = function() error("Attempt to modify a readonly table", 2) end
-- Empty proxies, so that assigning even an existing name fails, as Redis's read-only tables.
rawset(_G, "redis", setmetatable({}, {__index = redis, __newindex = readonly}))
rawset(_G, "KEYS", keys)
rawset(_G, "ARGV", argv)
setmetatable(_G, {
  __index = function(_, name)
    if name == "loadstring" then return nil end
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
  __newindex = readonly,
})
return setmetatable({}, {__index = _G, __newindex = readonly})
"##;

/// Runs the script under `xpcall` with Redis's error handler.
const RUNNER: &str = "local f, handler, env = ...; setfenv(f, env); return xpcall(f, handler)";

/// Runs a library's function with its keys and arguments, as `RUNNER` runs a script.
const FUNCTION_RUNNER: &str = "local f, handler, keys, args = ...; \
                               return xpcall(function() return f(keys, args) end, handler)";

/// What a run executes: a script of `EVAL`, or a function of a library (`FCALL`).
#[derive(Clone, Copy)]
pub(super) enum Program<'a> {
    Script { sha: &'a str, body: &'a [u8] },
    Function { name: &'a str, code: &'a [u8] },
}

impl Program<'_> {
    /// What Redis's error texts name the program by: the SHA1, or the function's name.
    fn id(&self) -> &str {
        match self {
            Program::Script { sha, .. } => sha,
            Program::Function { name, .. } => name,
        }
    }

    /// The Lua chunk name: errors read `user_script:1:` or `user_function:1:`, as in Redis.
    fn chunk_name(&self) -> &'static str {
        match self {
            Program::Script { .. } => USER_SCRIPT,
            Program::Function { .. } => USER_FUNCTION,
        }
    }
}

/// Compiles (caching a script on success) and runs a script or a function.
pub(super) fn run(
    em: &mut Emulator,
    conn: &mut Connection,
    program: Program,
    keys: &[Vec<u8>],
    argv: &[Vec<u8>],
    read_only: bool,
) -> Reply {
    let lua = sandbox_or_error();
    let compiled = match program {
        Program::Script { body, .. } => compile(&lua, body),
        Program::Function { code, .. } => compile_library(&lua, code),
    };
    let function = match compiled {
        Ok(f) => f,
        Err(e) => return e,
    };
    let lua = lua.expect("compiled, so it exists");
    if let Program::Script { sha, body } = program
        && let Err(e) = em.scripts.store(sha, body)
    {
        return e;
    }
    let id = program.id();
    let timed_out = limit_time(&lua);
    let db = conn.db;
    let outcome = execute(&lua, program, em, conn, function, keys, argv, read_only);
    // `SELECT` in a script lasts for the script only.
    conn.db = db;
    if timed_out.get() {
        return Reply::error(format!(
            "ERR mocket: script {id} ran for more than {} ms and was stopped (Redis would \
             answer BUSY to every client until SCRIPT KILL); make the script finish",
            TIME_LIMIT.as_millis()
        ));
    }
    match outcome {
        Ok(reply) => reply,
        Err(e) => Reply::error(format!("ERR Error running script {id}: {e}")),
    }
}

/// Stops the Lua code of `lua` after [`TIME_LIMIT`]; the flag says whether it had to.
pub(super) fn limit_time(lua: &Lua) -> Rc<Cell<bool>> {
    let timed_out = Rc::new(Cell::new(false));
    let started = Instant::now();
    let flag = Rc::clone(&timed_out);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            if started.elapsed() > TIME_LIMIT {
                flag.set(true);
                return Err(mlua::Error::runtime("script time limit"));
            }
            Ok(VmState::Continue)
        },
    );
    timed_out
}

#[allow(clippy::too_many_arguments)]
fn execute(
    lua: &Lua,
    program: Program,
    em: &mut Emulator,
    conn: &mut Connection,
    function: Function,
    keys: &[Vec<u8>],
    argv: &[Vec<u8>],
    read_only: bool,
) -> mlua::Result<Reply> {
    let helpers = super::lua_libs::redis_helpers(lua)?;
    set_script_protocol(lua, Protocol::Resp2);
    let keys = strings_table(lua, keys)?;
    let argv = strings_table(lua, argv)?;
    // The error reply of a failed `redis.call`: mlua raises Rust errors as its own values, so
    // the reply reaches the error handler this way, and the handler raises it as Redis does.
    let chunk_name = program.chunk_name();
    let handler = lua.create_function(move |lua, raised: LuaValue| {
        let raised = match take_raised(lua) {
            Some(reply) => to_lua(lua, reply)?,
            None => raised,
        };
        error_handler(lua, raised, chunk_name)
    })?;
    let prelude = lua.load(PRELUDE).set_name("=mocket").into_function()?;
    let state = RefCell::new((em, conn));
    let results: MultiValue = lua.scope(|scope| {
        let call = scope.create_function(|lua, words: MultiValue| {
            let (em, conn) = &mut *state.borrow_mut();
            let (failed, reply) = redis_call(lua, em, conn, &words, read_only);
            if failed {
                return Err(raise(lua, reply));
            }
            to_lua(lua, reply)
        })?;
        let pcall = scope.create_function(|lua, words: MultiValue| {
            let (em, conn) = &mut *state.borrow_mut();
            to_lua(lua, redis_call(lua, em, conn, &words, read_only).1)
        })?;
        let version_num = version_number();
        match program {
            Program::Script { .. } => {
                let env: Table =
                    prelude.call((call, pcall, &helpers, keys, argv, VERSION, version_num))?;
                let runner = lua.load(RUNNER).set_name("=mocket").into_function()?;
                runner.call::<MultiValue>((function, handler, env))
            }
            Program::Function { name, .. } => {
                let none = LuaValue::Nil;
                prelude.call::<Table>((
                    call,
                    pcall,
                    &helpers,
                    &none,
                    &none,
                    VERSION,
                    version_num,
                ))?;
                let callback = registered_callback(lua, function, name)?;
                let runner = lua
                    .load(FUNCTION_RUNNER)
                    .set_name("=mocket")
                    .into_function()?;
                runner.call::<MultiValue>((callback, handler, keys, argv))
            }
        }
    })?;
    let mut results = results.into_iter();
    let ok = matches!(results.next(), Some(LuaValue::Boolean(true)));
    let value = results.next().unwrap_or(LuaValue::Nil);
    if ok {
        return Ok(script_result(lua, value));
    }
    Ok(raised(value, program.id()))
}

/// `7.0.15` as Redis's `REDIS_VERSION_NUM`: 0x00070f.
pub(super) fn version_number() -> i64 {
    VERSION
        .split('.')
        .map(|part| part.parse::<i64>().unwrap_or(0))
        .fold(0, |n, part| (n << 8) | part)
}

fn strings_table(lua: &Lua, items: &[Vec<u8>]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(table)
}

/// Redis's error handler: turns what the script raised into `{err=..., source=..., line=...}`,
/// the line being the one of the user script that raised it.
fn error_handler(lua: &Lua, raised: LuaValue, chunk_name: &str) -> mlua::Result<Table> {
    let table = match raised {
        LuaValue::Table(t) => t,
        LuaValue::String(s) => {
            let t = lua.create_table()?;
            let mut message = b"ERR ".to_vec();
            message.extend_from_slice(&s.as_bytes());
            t.raw_set("err", lua.create_string(message)?)?;
            t
        }
        other => {
            let t = lua.create_table()?;
            let text = match other {
                LuaValue::Error(e) => e.to_string(),
                _ => "execution failure".into(),
            };
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    for level in 1..256 {
        let Some(frame) = lua.inspect_stack(level) else {
            break;
        };
        if frame.source().source.as_deref() == Some(chunk_name) {
            table.raw_set("source", chunk_name)?;
            table.raw_set("line", frame.curr_line())?;
            break;
        }
    }
    Ok(table)
}

/// The reply to a script that raised an error: its message, with where it was raised.
fn raised(value: LuaValue, id: &str) -> Reply {
    let t = match value {
        LuaValue::Table(t) => t,
        // The error handler does not run for a memory error: Lua gives its message.
        LuaValue::String(s) => {
            let text = String::from_utf8_lossy(&s.as_bytes()).into_owned();
            return Reply::error(format!(
                "ERR Error running script {id}: {text} (a script may use {} MB)",
                MEMORY_LIMIT >> 20
            ));
        }
        LuaValue::Error(e) => return Reply::error(format!("ERR Error running script {id}: {e}")),
        _ => return Reply::error("ERR execution failure"),
    };
    let text = |key: &str| match t.raw_get::<LuaValue>(key) {
        Ok(LuaValue::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Ok(LuaValue::Number(n)) => Some(format!("{}", n as i64)),
        Ok(LuaValue::Integer(n)) => Some(n.to_string()),
        _ => None,
    };
    let message = text("err").unwrap_or_else(|| "ERR execution failure".into());
    match (text("source"), text("line")) {
        (Some(source), Some(line)) => {
            Reply::error(format!("{message} script: {id}, on {source}:{line}."))
        }
        _ => Reply::error(message),
    }
}

/// `redis.call` and `redis.pcall`: whether the command failed, and its reply.
fn redis_call(
    lua: &Lua,
    em: &mut Emulator,
    conn: &mut Connection,
    words: &MultiValue,
    read_only: bool,
) -> (bool, Reply) {
    let fail = |text: &str| (true, Reply::error(text));
    if words.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call");
    }
    let mut args = Vec::with_capacity(words.len());
    for word in words.iter() {
        match word {
            LuaValue::String(s) => args.push(s.as_bytes().to_vec()),
            LuaValue::Integer(n) => args.push(n.to_string().into_bytes()),
            LuaValue::Number(n) => args.push(lua_number_text(*n).into_bytes()),
            _ => return fail("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let cmd = Command { args };
    let name = cmd.name();
    let protocol = script_protocol(lua);
    let shortcut = match name.as_str() {
        "PING" => Some(Reply::Simple("PONG".into())),
        "ECHO" if cmd.args.len() == 2 => Some(Reply::bulk(&cmd.args[1])),
        "SELECT" if cmd.args.len() == 2 => Some(select(conn, &cmd.args[1])),
        _ => None,
    };
    if let Some(reply) = shortcut {
        em.feed_monitors(conn, &cmd, super::monitor::Origin::Script);
        return (reply.is_error(), reply);
    }
    let Some(found) = spec::find(&name) else {
        return fail("ERR Unknown Redis command called from script");
    };
    if found.flags.contains(&"noscript") {
        return fail("ERR This Redis command is not allowed from script");
    }
    if !em.knows(&cmd) {
        // A command of the connection (`CLIENT`, `INFO`, ...): not available to scripts here.
        return fail("ERR Unknown Redis command called from script");
    }
    if !found.arity_ok(cmd.args.len()) {
        return fail("ERR Wrong number of args calling Redis command from script");
    }
    if read_only && found.flags.contains(&"write") {
        return fail("ERR Write commands are not allowed from read-only scripts.");
    }
    // The script's client speaks the script's protocol, not its caller's.
    let caller = std::mem::replace(&mut conn.protocol, protocol);
    let reply = em.execute(conn, &cmd);
    conn.protocol = caller;
    em.feed_monitors(conn, &cmd, super::monitor::Origin::Script);
    (reply.is_error(), reply)
}

fn select(conn: &mut Connection, index: &[u8]) -> Reply {
    match crate::redis::command::strict_i64(index) {
        None => Reply::error(super::NOT_INTEGER),
        Some(i) if i < 0 || i >= crate::redis::conn::DATABASES as i64 => {
            Reply::error("ERR DB index is out of range")
        }
        Some(i) => {
            conn.db = i as usize;
            Reply::ok()
        }
    }
}

/// A Lua number as an argument: `%.17g`, as Redis 7.0 formats it.
fn lua_number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        return format!("{}", n as i64);
    }
    let text = format!("{n:.16e}");
    // `%.17g`: 17 significant digits, shortest of fixed or exponent form, no trailing zeros.
    let (mantissa, exponent) = text.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("exponent");
    if (-5..17).contains(&exponent) {
        let decimals = (16 - exponent).max(0) as usize;
        let fixed = format!("{n:.decimals$}");
        let fixed = fixed.trim_end_matches('0').trim_end_matches('.');
        return fixed.to_string();
    }
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::entry::Seed;

    fn eval(em: &mut Emulator, conn: &mut Connection, script: &str) -> Reply {
        em.execute(conn, &Command::new(["EVAL", script, "0"]))
    }

    #[test]
    fn a_script_that_loops_forever_is_stopped_and_the_emulator_serves_on() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        let started = Instant::now();
        let reply = eval(&mut em, &mut conn, "while true do end");
        assert!(started.elapsed() < Duration::from_secs(5));
        let Reply::Error(e) = reply else {
            panic!("{reply:?}")
        };
        assert!(
            e.starts_with("ERR mocket: script ") && e.contains("was stopped"),
            "{e}"
        );
        assert_eq!(eval(&mut em, &mut conn, "return 7"), Reply::Int(7));
    }

    #[test]
    fn a_script_that_allocates_without_end_fails_without_taking_the_process_down() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        let grow = "local t = {} local s = string.rep('x', 1048576) \
                    for i = 1, 100000 do t[i] = s .. i end return #t";
        let reply = eval(&mut em, &mut conn, grow);
        assert!(
            matches!(&reply, Reply::Error(e) if e.contains("memory")),
            "{reply:?}"
        );
    }

    #[test]
    fn the_sandbox_has_no_files_processes_or_bytecode() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        for global in [
            "io", "os", "dofile", "loadfile", "require", "package", "load",
        ] {
            let reply = eval(&mut em, &mut conn, &format!("return {global}"));
            let expected = format!("nonexistent global variable '{global}'");
            assert!(
                matches!(&reply, Reply::Error(e) if e.contains(&expected)),
                "{global}: {reply:?}"
            );
        }
        let bytecode = "\x1bLua\x51\x00";
        let reply = eval(&mut em, &mut conn, bytecode);
        assert!(
            matches!(&reply, Reply::Error(e) if e.starts_with("ERR Error compiling script")),
            "{reply:?}"
        );
    }

    #[test]
    fn a_script_runs_atomically_on_the_shared_data_and_can_be_called_by_sha() {
        let mut em = Emulator::new(&Seed::new());
        let mut a = Connection::new(1);
        let mut b = Connection::new(2);
        let script = "redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[1])";
        let sha = sha1_hex(script.as_bytes());
        assert_eq!(
            em.execute(&mut a, &Command::new(["EVAL", script, "1", "n"])),
            Reply::Int(2)
        );
        assert_eq!(
            em.execute(&mut b, &Command::new(["EVALSHA", &sha, "1", "n"])),
            Reply::Int(4)
        );
    }

    #[test]
    fn lua_numbers_format_as_percent_17g() {
        assert_eq!(lua_number_text(3.0), "3");
        assert_eq!(lua_number_text(-0.5), "-0.5");
        assert_eq!(lua_number_text(0.1), "0.10000000000000001");
        assert_eq!(lua_number_text(1e20), "1e+20");
        assert_eq!(lua_number_text(1.5), "1.5");
    }

    #[test]
    fn version_number_is_redis_version_num() {
        assert_eq!(version_number(), 0x07000f);
    }
}
