//! Issue 19, Redis 7 functions judged by real clients: redis-py's `function_*` and `fcall`
//! methods in RESP2 and RESP3 (a lock built on FCALL, as no client library ships one),
//! `redis-cli` loading a library from a file, and the Rust `redis` crate calling it. Every
//! expected output below is what the same client printed against redis-server 7.0.15.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// A lock library (acquire with `SET NX PX`, compare-and-delete release, a read-only holder
/// query) driven through redis-py's own function methods and reply parsing.
const LOCK_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
LOCKS = """#!lua name=locks
redis.register_function('acquire', function(keys, args)
  return redis.call('set', keys[1], args[1], 'NX', 'PX', args[2])
end)
redis.register_function('release', function(keys, args)
  if redis.call('get', keys[1]) == args[1] then
    return redis.call('del', keys[1])
  end
  return 0
end)
redis.register_function{function_name='holder', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='who holds the lock'}
"""
for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    r.function_flush()
    print("protocol", protocol)
    print("load", r.function_load(LOCKS))
    try:
        r.function_load(LOCKS)
    except redis.ResponseError as e:
        print("load again:", e)
    print("load replace", r.function_load(LOCKS, replace=True))
    print("acquire", r.fcall("acquire", 1, "lock", "token-1", 10000))
    print("acquire taken", r.fcall("acquire", 1, "lock", "token-2", 10000))
    print("holder", r.fcall_ro("holder", 1, "lock"))
    print("release wrong", r.fcall("release", 1, "lock", "token-2"))
    print("release right", r.fcall("release", 1, "lock", "token-1"))
    print("holder now", r.fcall_ro("holder", 1, "lock"))
    try:
        r.fcall_ro("acquire", 1, "lock", "t", 1000)
    except redis.ResponseError as e:
        print("ro:", e)
    try:
        r.fcall("nosuch", 0)
    except redis.ResponseError as e:
        print("missing:", e)
    def as_dict(x):
        return x if isinstance(x, dict) else dict(zip(x[::2], x[1::2]))
    for lib in r.function_list(library="lo*", withcode=True):
        lib = as_dict(lib)
        functions = sorted((f["name"], f["description"], sorted(f["flags"])) for f in map(as_dict, lib["functions"]))
        print("list", lib["library_name"], lib["engine"], functions, lib["library_code"] == LOCKS)
    print("stats", r.function_stats())
    payload = r.function_dump() if protocol == 2 else None
    if payload is not None:
        pass
    print("delete", r.function_delete("locks"))
    try:
        r.function_delete("locks")
    except redis.ResponseError as e:
        print("delete again:", e)
    r.close()
# DUMP and RESTORE need bytes.
r = redis.Redis(host=host, port=port)
r.function_load(LOCKS)
payload = r.function_dump()
print("flush", r.function_flush())
print("restore", r.function_restore(payload))
print("after restore", r.fcall("acquire", 1, "k", "v", 1000), r.get("k"))
try:
    r.function_restore(payload)
except redis.ResponseError as e:
    print("restore again:", e)
print("restore replace", r.function_restore(payload, "REPLACE"))
"##;

/// What redis-server 7.0.15 made the program print.
const LOCK_OUTPUT: &str = "\
protocol 2\n\
load locks\n\
load again: Library 'locks' already exists\n\
load replace locks\n\
acquire OK\n\
acquire taken None\n\
holder token-1\n\
release wrong 0\n\
release right 1\n\
holder now None\n\
ro: Can not execute a script with write flag using *_ro command.\n\
missing: Function not found\n\
list locks LUA [('acquire', None, []), ('holder', 'who holds the lock', ['no-writes']), ('release', None, [])] True\n\
stats ['running_script', None, 'engines', ['LUA', ['libraries_count', 1, 'functions_count', 3]]]\n\
delete True\n\
delete again: Library not found\n\
protocol 3\n\
load locks\n\
load again: Library 'locks' already exists\n\
load replace locks\n\
acquire OK\n\
acquire taken None\n\
holder token-1\n\
release wrong 0\n\
release right 1\n\
holder now None\n\
ro: Can not execute a script with write flag using *_ro command.\n\
missing: Function not found\n\
list locks LUA [('acquire', None, []), ('holder', 'who holds the lock', ['no-writes']), ('release', None, [])] True\n\
stats {'running_script': None, 'engines': {'LUA': {'libraries_count': 1, 'functions_count': 3}}}\n\
delete True\n\
delete again: Library not found\n\
flush True\n\
restore True\n\
after restore b'OK' b'v'\n\
restore again: Library locks already exists\n\
restore replace True\n\
";

#[test]
fn redis_py_runs_a_function_lock_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, LOCK_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, LOCK_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

/// A library file as `redis-cli -x FUNCTION LOAD` reads it from standard input.
const COUNTER_LIBRARY: &str = "#!lua name=counter\n\
redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}\n";

#[test]
fn redis_cli_loads_a_library_and_the_rust_crate_calls_it_from_another_process() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let dir = scratch_dir("redis-functions");
    let library = dir.join("counter.lua");
    std::fs::write(&library, COUNTER_LIBRARY).unwrap();
    let mocks = mocks_file(EMULATED);
    let script = format!(
        "redis-cli -h sessions.internal -x FUNCTION LOAD < {library}; \
         redis-cli -h sessions.internal FCALL bump 1 n 5; \
         redis-cli -h sessions.internal FCALL_RO bump 1 n 5; \
         redis-cli -h sessions.internal FUNCTION LIST LIBRARYNAME 'count*' | head -4; \
         {client} redis://sessions.internal:6379/ 'FCALL bump 1 n 2' 'FCALL_RO peek 1 n' \
           'FCALL nope 0' 'FUNCTION STATS'; \
         {client} 'redis://sessions.internal:6379/?protocol=resp3' 'FCALL_RO peek 1 n' \
           'FUNCTION STATS'",
        library = library.display()
    );
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", &script]);
    run.success();
    assert_eq!(run.stdout, CLI_OUTPUT, "{}", run.stderr);
}

/// What redis-cli and the Rust crate printed against redis-server 7.0.15.
const CLI_OUTPUT: &str = "\
counter\n\
5\n\
ERR Can not execute a script with write flag using *_ro command.\n\
\n\
library_name\n\
counter\n\
engine\n\
LUA\n\
int(7)\n\
bulk-string('\"7\"')\n\
error: ResponseError: Function not found\n\
array([bulk-string('\"running_script\"'), nil, bulk-string('\"engines\"'), array([bulk-string('\"LUA\"'), array([bulk-string('\"libraries_count\"'), int(1), bulk-string('\"functions_count\"'), int(2)])])])\n\
bulk-string('\"7\"')\n\
map([(bulk-string('\"running_script\"'), nil), (bulk-string('\"engines\"'), map([(bulk-string('\"LUA\"'), map([(bulk-string('\"libraries_count\"'), int(1)), (bulk-string('\"functions_count\"'), int(2))]))]))])\n\
";

/// Scripts using the embedded `cjson` and `bit` libraries and `redis.error_reply`, as
/// redis-cli prints their replies.
#[test]
fn redis_cli_evals_scripts_using_cjson_and_bit() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = r#"H=sessions.internal
redis-cli -h $H EVAL "return cjson.encode({a = {1, 2, 'x/y'}})" 0
redis-cli -h $H EVAL "local t = cjson.decode(ARGV[1]) return {t[1], t[2].b == cjson.null and 'null' or 'other'}" 0 '[7, {"b": null}]'
redis-cli -h $H EVAL "return bit.tohex(bit.bxor(0xf0, 0x0f), -4)" 0
redis-cli -h $H EVAL "return cjson.decode('[1,')" 0
redis-cli -h $H EVAL "return redis.error_reply('MYERR custom')" 0
"#;
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    // What redis-server 7.0.15 answered.
    assert_eq!(
        run.stdout,
        "{\"a\":[1,2,\"x\\/y\"]}\n7\nnull\n00FF\n\
         ERR user_script:1: Expected value but found T_END at character 4 script: \
         ad8248c68c719abd59f0dd09dea378bb946e7d3f, on @user_script:1.\n\nMYERR custom\n\n",
        "{}",
        run.stderr
    );
}
