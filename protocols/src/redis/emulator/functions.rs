//! Redis 7.0 functions: `FUNCTION LOAD|LIST|DELETE|FLUSH|STATS|DUMP|RESTORE|KILL|HELP` and
//! `FCALL`/`FCALL_RO`, on the Lua machinery of `scripting` (same sandbox, `redis.call`,
//! conversions and error texts).
//!
//! A library is Lua code after a `#!lua name=<lib>` line; running it registers functions with
//! `redis.register_function`, the only API it sees then (as in Redis, where loading code sees
//! no other global). The emulator keeps the code and what it registered; since every run gets
//! a fresh Lua state, `FCALL` loads the library again in that state, then calls the function.

use std::collections::{BTreeMap, HashMap};

use mlua::{Function, Lua, Table, Value as LuaValue};

use super::scripting::{self, Program};
use super::{Emulator, Handler, is};
use crate::redis::command::{split_args, strict_i64};
use crate::redis::conn::{Connection, VERSION, subcommand_syntax_error, unknown_subcommand};
use crate::redis::glob;
use crate::redis::reply::Reply;
use crate::redis::spec;

mod payload;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "FUNCTION" => function,
        "FCALL" | "FCALL_RO" => fcall,
        _ => return None,
    })
}

/// The flags `redis.register_function` accepts, in the order Redis lists them; bit `i` of
/// [`Registration::flags`] is `FLAGS[i]`.
const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];
const NO_WRITES: u8 = 1;

/// Libraries and code bytes the emulator keeps: a peer controls both.
const MAX_LIBRARIES: usize = 10_000;
const MAX_CODE_BYTES: usize = 64 << 20;

/// One function a library registered.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Registration {
    name: String,
    description: Option<Vec<u8>>,
    flags: u8,
}

/// A loaded library.
#[derive(Debug, Clone)]
struct Library {
    name: String,
    /// The whole code, shebang included, as `FUNCTION LIST WITHCODE` and `DUMP` give it.
    code: Vec<u8>,
    /// Where the Lua code starts in `code`: at the newline ending the shebang, so that line
    /// numbers in errors count the shebang line, as Redis's do.
    body_start: usize,
    /// Sorted by name.
    functions: Vec<Registration>,
}

impl Library {
    fn body(&self) -> &[u8] {
        &self.code[self.body_start..]
    }
}

/// The libraries of the emulated server. As in Redis 7.0, library names and function names
/// within a library are case-sensitive, while `FCALL` and the check for a name taken by
/// another library ignore case (where two names of one library differ only by case, `FCALL`
/// finds the first in byte order).
#[derive(Debug, Default, Clone)]
pub(super) struct Libraries {
    by_name: BTreeMap<String, Library>,
    /// Lower-case function name to its library's name.
    owner: HashMap<String, String>,
    code_bytes: usize,
}

impl Libraries {
    fn function(&self, name: &[u8]) -> Option<(&Library, &Registration)> {
        let key = String::from_utf8_lossy(name).to_lowercase();
        let library = self.by_name.get(self.owner.get(&key)?)?;
        let function = library
            .functions
            .iter()
            .find(|f| f.name.to_lowercase() == key)?;
        Some((library, function))
    }

    fn remove(&mut self, name: &str) -> Option<Library> {
        let library = self.by_name.remove(name)?;
        self.owner.retain(|_, owner| *owner != library.name);
        self.code_bytes -= library.code.len();
        Some(library)
    }

    /// Adds `library`, replacing the one of its name only if `replace`; Redis's errors when a
    /// name is taken.
    fn add(&mut self, library: Library, replace: bool) -> Result<(), Reply> {
        let old = match self.by_name.contains_key(&library.name) {
            true if !replace => {
                return Err(Reply::error(format!(
                    "ERR Library '{}' already exists",
                    library.name
                )));
            }
            true => self.remove(&library.name.clone()),
            false => None,
        };
        let clash = library
            .functions
            .iter()
            .find(|f| self.owner.contains_key(&f.name.to_lowercase()));
        let too_big = self.by_name.len() >= MAX_LIBRARIES
            || self.code_bytes + library.code.len() > MAX_CODE_BYTES;
        if clash.is_some() || too_big {
            let error = match clash {
                Some(f) => Reply::error(format!("ERR Function {} already exists", f.name)),
                None => Reply::error(format!(
                    "ERR mocket: the function libraries are full ({MAX_LIBRARIES} libraries \
                     or {MAX_CODE_BYTES} bytes of code); delete some with FUNCTION DELETE \
                     or FUNCTION FLUSH"
                )),
            };
            if let Some(old) = old {
                self.link(old);
            }
            return Err(error);
        }
        self.link(library);
        Ok(())
    }

    fn link(&mut self, library: Library) {
        for f in &library.functions {
            self.owner
                .entry(f.name.to_lowercase())
                .or_insert_with(|| library.name.clone());
        }
        self.code_bytes += library.code.len();
        self.by_name.insert(library.name.clone(), library);
    }
}

/// `FUNCTION <subcommand> ...`.
fn function(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity_ok = match sub.as_str() {
        "load" | "restore" => args.len() >= 3,
        "list" | "flush" => args.len() >= 2,
        "delete" => args.len() == 3,
        "stats" | "dump" | "kill" | "help" => args.len() == 2,
        _ => return unknown_subcommand(&args[1], "FUNCTION"),
    };
    if !arity_ok {
        return spec::arity_error(&format!("function|{sub}"));
    }
    let params = &args[2..];
    match sub.as_str() {
        "load" => load(em, params),
        "list" => list(em, params),
        "delete" => match em.functions.remove(&String::from_utf8_lossy(&params[0])) {
            Some(_) => Reply::ok(),
            None => Reply::error("ERR Library not found"),
        },
        "flush" => match params {
            [] => flush(em),
            [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => flush(em),
            [_] => Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
            _ => subcommand_syntax_error(&args[1], "FUNCTION"),
        },
        "stats" => stats(em),
        "dump" => Reply::bulk(payload::dump(
            em.functions.by_name.values().map(|l| l.code.as_slice()),
        )),
        "restore" if params.len() > 2 => subcommand_syntax_error(&args[1], "FUNCTION"),
        "restore" => restore(em, params),
        "kill" => Reply::error("NOTBUSY No scripts in execution right now."),
        _ => help(),
    }
}

fn flush(em: &mut Emulator) -> Reply {
    em.functions = Libraries::default();
    Reply::ok()
}

/// `FUNCTION LOAD [REPLACE] code`.
fn load(em: &mut Emulator, params: &[Vec<u8>]) -> Reply {
    let (options, code) = params.split_at(params.len() - 1);
    let mut replace = false;
    for option in options {
        if !is(option, "REPLACE") {
            return Reply::error(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(option)
            ));
        }
        replace = true;
    }
    let library = match create(&code[0]) {
        Ok(library) => library,
        Err(e) => return e,
    };
    let name = library.name.clone();
    match em.functions.add(library, replace) {
        Ok(()) => Reply::bulk(name),
        Err(e) => e,
    }
}

/// A library from its code: metadata checked, code run to register its functions.
fn create(code: &[u8]) -> Result<Library, Reply> {
    let (name, body_start) = metadata(code)?;
    let functions = registrations(&code[body_start..])?;
    if functions.is_empty() {
        return Err(Reply::error("ERR No functions registered"));
    }
    Ok(Library {
        name,
        code: code.to_vec(),
        body_start,
        functions,
    })
}

/// The library name of the `#!<engine> name=<lib>` line, and where the Lua code starts.
fn metadata(code: &[u8]) -> Result<(String, usize), Reply> {
    if !code.starts_with(b"#!") {
        return Err(Reply::error("ERR Missing library metadata"));
    }
    let invalid = || Reply::error("ERR Invalid library metadata");
    let end = code.iter().position(|b| *b == b'\n').ok_or_else(invalid)?;
    let parts = split_args(&code[..end]).ok_or_else(invalid)?;
    let (engine, options) = parts.split_first().ok_or_else(invalid)?;
    let mut name = None;
    for option in options {
        if option.len() >= 5 && option[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(Reply::error(
                    "ERR Invalid metadata value, name argument was given multiple times",
                ));
            }
            name = Some(String::from_utf8_lossy(&option[5..]).into_owned());
            continue;
        }
        return Err(Reply::error(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(option)
        )));
    }
    let name = name.ok_or_else(|| Reply::error("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(Reply::error(INVALID_NAME));
    }
    let engine = &engine[2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(Reply::error(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        )));
    }
    Ok((name, end))
}

/// Redis 7.0 words the check of library and function names alike.
const INVALID_NAME: &str = "ERR Library names can only contain letters, numbers, or \
                            underscores(_) and must be at least one character long";

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Loads a library's code as `FUNCTION LOAD` does: `redis.register_function` (with Redis's
/// argument checks and error texts), `redis.log` and the version are the only globals;
/// other names fail as nonexistent. Once loaded, the functions' globals are the script
/// globals (`__index` switched to `_G`), as Redis switches them after loading.
const LOADER: &str = r##"
local chunk, version, version_num, flag_names = ...
local registered = {}
local function fail(message) error({err = "ERR " .. message}) end
local function as_string(v)
  local t = type(v)
  if t == "string" or t == "number" then return tostring(v) end
end
local function read_flags(list)
  local bits, seen = 0, {}
  for i = 1, #list + 1 do
    local flag = list[i]
    if flag == nil then break end
    local bit = type(flag) == "string" and flag_names[string.lower(flag)]
    if not bit then return nil end
    if not seen[bit] then seen[bit] = true; bits = bits + bit end
  end
  return bits
end
local function named(args)
  if type(args) ~= "table" then
    fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
  end
  local name, callback, description, flags
  for key, value in pairs(args) do
    if type(key) ~= "string" and type(key) ~= "number" then
      fail("named argument key given to redis.register_function is not a string")
    end
    local k = string.lower(tostring(key))
    if k == "function_name" then
      name = as_string(value)
      if not name then fail("function_name argument given to redis.register_function must be a string") end
    elseif k == "description" then
      description = as_string(value)
      if not description then fail("description argument given to redis.register_function must be a string") end
    elseif k == "callback" then
      if type(value) ~= "function" then fail("callback argument given to redis.register_function must be a function") end
      callback = value
    elseif k == "flags" then
      if type(value) ~= "table" then fail("flags argument to redis.register_function must be a table representing function flags") end
      flags = read_flags(value)
      if not flags then fail("unknown flag given") end
    else
      fail("unknown argument given to redis.register_function")
    end
  end
  if not name then fail("redis.register_function must get a function name argument") end
  if not callback then fail("redis.register_function must get a callback argument") end
  return name, callback, description, flags
end
local function register(...)
  local n = select("#", ...)
  if n < 1 or n > 2 then fail("wrong number of arguments to redis.register_function") end
  local name, callback, description, flags
  if n == 1 then
    name, callback, description, flags = named(...)
  else
    local first, second = ...
    name = as_string(first)
    if not name then fail("first argument to redis.register_function must be a string") end
    if type(second) ~= "function" then fail("second argument to redis.register_function must be a function") end
    callback = second
  end
  if not string.find(name, "^[%w_]+$") then
    fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
  end
  if registered[name] then fail("Function already exists in the library") end
  registered[name] = {name = name, callback = callback, description = description, flags = flags or 0}
end
local function missing(name)
  return "Script attempted to access nonexistent global variable '" .. tostring(name) .. "'"
end
local function readonly() error("Attempt to modify a readonly table", 2) end
local fields = {
  register_function = register,
  log = function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
-- An empty proxy, so that assigning even an existing field fails as Redis's read-only table.
local api = setmetatable({}, {
  __index = function(_, k)
    local v = fields[k]
    if v == nil then error(missing(k), 2) end
    return v
  end,
  __newindex = readonly,
})
local env_meta = {__newindex = readonly}
env_meta.__index = function(_, k)
  if k == "redis" then return api end
  error(missing(k), 2)
end
setfenv(chunk, setmetatable({}, env_meta))
local ok, err = pcall(chunk)
env_meta.__index = _G
return ok, err, registered
"##;

/// Runs the library `chunk` with [`LOADER`] in `lua`: whether it raised (and what), and the
/// table of what it registered (name to `{name, callback, description, flags}`).
fn run_loader(lua: &Lua, chunk: Function) -> mlua::Result<(bool, LuaValue, Table)> {
    let flag_names = lua.create_table()?;
    for (i, flag) in FLAGS.iter().enumerate() {
        flag_names.raw_set(*flag, 1 << i)?;
    }
    let loader = lua.load(LOADER).set_name("=mocket").into_function()?;
    let version_num = scripting::version_number();
    loader.call((chunk, VERSION, version_num, flag_names))
}

/// The functions a library's Lua code registers, or Redis's error for its code.
fn registrations(body: &[u8]) -> Result<Vec<Registration>, Reply> {
    let lua = scripting::sandbox_or_error();
    let chunk = scripting::compile_library(&lua, body)?;
    let lua = lua.expect("compiled, so it exists");
    let timed_out = scripting::limit_time(&lua);
    let outcome = run_loader(&lua, chunk);
    if timed_out.get() {
        return Err(Reply::error("ERR FUNCTION LOAD timeout"));
    }
    let (ok, raised, registered) =
        outcome.map_err(|e| Reply::error(format!("ERR Error registering functions: ERR {e}")))?;
    if !ok {
        return Err(Reply::error(format!(
            "ERR Error registering functions: {}",
            load_error_text(raised)
        )));
    }
    let mut functions = Vec::new();
    for pair in registered.pairs::<String, Table>() {
        let (_, entry) = pair.map_err(|e| Reply::error(format!("ERR {e}")))?;
        let text = |key: &str| -> Option<Vec<u8>> {
            match entry.raw_get::<LuaValue>(key) {
                Ok(LuaValue::String(s)) => Some(s.as_bytes().to_vec()),
                _ => None,
            }
        };
        let name = String::from_utf8_lossy(&text("name").unwrap_or_default()).into_owned();
        let flags = entry.raw_get::<u8>("flags").unwrap_or(0);
        functions.push(Registration {
            name,
            description: text("description"),
            flags,
        });
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(functions)
}

/// What loading raised, as Redis's `luaExtractErrorInformation` words it: a string gets
/// `ERR ` in front, a table gives its `err`.
fn load_error_text(raised: LuaValue) -> String {
    match raised {
        LuaValue::String(s) => format!("ERR {}", String::from_utf8_lossy(&s.as_bytes())),
        LuaValue::Table(t) => match t.raw_get::<LuaValue>("err") {
            Ok(LuaValue::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "ERR unknown error".into(),
        },
        LuaValue::Error(e) => format!("ERR {e}"),
        _ => "ERR unknown error".into(),
    }
}

/// For `FCALL`: loads the library `chunk` in `lua` (whose script globals are set) and returns
/// the callback registered as `name`.
pub(super) fn registered_callback(
    lua: &Lua,
    chunk: Function,
    name: &str,
) -> mlua::Result<Function> {
    let (ok, raised, registered) = run_loader(lua, chunk)?;
    if !ok {
        return Err(mlua::Error::runtime(load_error_text(raised)));
    }
    let entry: Table = registered.raw_get(name)?;
    entry.raw_get("callback")
}

/// `FCALL function numkeys [key ...] [arg ...]` and `FCALL_RO`.
fn fcall(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let Some((library, function)) = em.functions.function(&args[1]) else {
        return Reply::error("ERR Function not found");
    };
    let Some(numkeys) = strict_i64(&args[2]) else {
        return Reply::error("ERR Bad number of keys provided");
    };
    let rest = &args[3..];
    if numkeys > rest.len() as i64 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::error("ERR Number of keys can't be negative");
    }
    let ro_command = args[0].to_ascii_uppercase().ends_with(b"_RO");
    let no_writes = function.flags & NO_WRITES != 0;
    if ro_command && !no_writes {
        return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
    }
    let name = function.name.clone();
    let body = library.body().to_vec();
    let (keys, argv) = rest.split_at(numkeys as usize);
    let program = Program::Function {
        name: &name,
        code: &body,
    };
    scripting::run(em, conn, program, keys, argv, ro_command || no_writes)
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`.
fn list(em: &Emulator, params: &[Vec<u8>]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 0;
    while i < params.len() {
        let word = &params[i];
        i += 1;
        if !with_code && is(word, "WITHCODE") {
            with_code = true;
            continue;
        }
        if pattern.is_none() && is(word, "LIBRARYNAME") {
            let Some(p) = params.get(i) else {
                return Reply::error("ERR library name argument was not given");
            };
            pattern = Some(p);
            i += 1;
            continue;
        }
        return Reply::error(format!(
            "ERR Unknown argument {}",
            String::from_utf8_lossy(word)
        ));
    }
    // Redis matches library names without case.
    let pattern = pattern.map(|p| p.to_ascii_lowercase());
    let libraries = em.functions.by_name.values().filter(|l| {
        pattern
            .as_deref()
            .is_none_or(|p| glob::matches(p, l.name.to_ascii_lowercase().as_bytes()))
    });
    Reply::Array(libraries.map(|l| library_entry(l, with_code)).collect())
}

fn library_entry(library: &Library, with_code: bool) -> Reply {
    let functions = library.functions.iter().map(|f| {
        let flags = FLAGS
            .iter()
            .enumerate()
            .filter(|(i, _)| f.flags & (1 << i) != 0)
            .map(|(_, flag)| Reply::Simple(flag.to_string()))
            .collect();
        Reply::Map(vec![
            (Reply::bulk("name"), Reply::bulk(&f.name)),
            (
                Reply::bulk("description"),
                Reply::bulk_or_nil(f.description.as_ref()),
            ),
            (Reply::bulk("flags"), Reply::Set(flags)),
        ])
    });
    let mut fields = vec![
        (Reply::bulk("library_name"), Reply::bulk(&library.name)),
        (Reply::bulk("engine"), Reply::bulk("LUA")),
        (Reply::bulk("functions"), Reply::Array(functions.collect())),
    ];
    if with_code {
        fields.push((Reply::bulk("library_code"), Reply::bulk(&library.code)));
    }
    Reply::Map(fields)
}

/// `FUNCTION STATS`: nothing runs while a command is served, so no running script.
fn stats(em: &Emulator) -> Reply {
    let functions: usize = em
        .functions
        .by_name
        .values()
        .map(|l| l.functions.len())
        .sum();
    let lua = Reply::Map(vec![
        (
            Reply::bulk("libraries_count"),
            Reply::Int(em.functions.by_name.len() as i64),
        ),
        (Reply::bulk("functions_count"), Reply::Int(functions as i64)),
    ]);
    Reply::Map(vec![
        (Reply::bulk("running_script"), Reply::Nil),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(Reply::bulk("LUA"), lua)]),
        ),
    ])
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
fn restore(em: &mut Emulator, params: &[Vec<u8>]) -> Reply {
    const WRONG_POLICY: &str =
        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
    let policy = match params.get(1) {
        None => "APPEND",
        Some(p) if is(p, "FLUSH") => "FLUSH",
        Some(p) if is(p, "APPEND") => "APPEND",
        Some(p) if is(p, "REPLACE") => "REPLACE",
        Some(_) => return Reply::error(WRONG_POLICY),
    };
    let codes = match payload::parse(&params[0]) {
        Ok(codes) => codes,
        Err(e) => return Reply::error(e.to_string()),
    };
    let mut restored = match policy {
        "FLUSH" => Libraries::default(),
        _ => em.functions.clone(),
    };
    for code in codes {
        let library = match create(&code) {
            Ok(library) => library,
            Err(e) => return e,
        };
        if policy == "APPEND" && restored.by_name.contains_key(&library.name) {
            // Worded unlike `FUNCTION LOAD`'s, as in Redis.
            return Reply::error(format!("ERR Library {} already exists", library.name));
        }
        if let Err(e) = restored.add(library, policy == "REPLACE") {
            return e;
        }
    }
    em.functions = restored;
    Reply::ok()
}

/// `FUNCTION HELP`.
fn help() -> Reply {
    Reply::simples(&[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ])
}

#[cfg(test)]
mod tests;
