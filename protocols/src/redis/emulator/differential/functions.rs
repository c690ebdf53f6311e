//! Differential scripts for Redis 7 functions (`FUNCTION ...`, `FCALL`, `FCALL_RO`), compared
//! byte for byte with a real `redis-server` like the other families. Function and library
//! lists hold one entry where Redis's order is its hash table's.

use super::{Pair, real_or_skip, steps};
use crate::redis::command::split_args;

/// A library with every registration form and flag, as one inline-command argument.
const LIB: &str = "\"#!lua name=mylib\\n\
redis.register_function('get1', function(keys, args) return redis.call('get', keys[1]) end)\\n\
redis.register_function{function_name='ro', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, flags={'no-writes'}}\\n\
redis.register_function{function_name='err', callback=function() return error('boom') end, description='fails'}\\n\
redis.register_function{function_name='rerr', callback=function() return redis.call('nosuch') end}\\n\
redis.register_function{function_name='allflags', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}}\\n\
redis.register_function('set1', function(keys, args) return redis.call('set', keys[1], args[1]) end)\\n\
redis.register_function('kv', function(keys, args) return {keys, args, #keys, #args} end)\\n\
redis.register_function('globals', function() return KEYS end)\\n\
redis.register_function('reg', function() redis.register_function('z', function() end) end)\\n\
redis.register_function('pc', function() local e = redis.pcall('incr', 'str') return e.err end)\\n\
redis.register_function('st', function() return redis.status_reply('fine') end)\\n\
redis.register_function('ver', function() return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM} end)\\n\
local helper = function(s) return string.upper(s) end\\n\
redis.register_function('up', function(keys, args) return helper(args[1]) end)\\n\
redis.register_function('setglobal', function() x = 1 end)\"";

/// One library with one function, for `FUNCTION LIST` (Redis lists in hash order).
const ONE: &str = "\"#!lua name=one\\nredis.register_function{function_name='f', callback=function() return 1 end, description='hi', flags={'no-writes', 'no-cluster'}}\"";

fn load_errors() -> Vec<String> {
    let bodies = [
        "return 1",
        "#!lua name=x",
        "#!lua2 name=x\\nreturn 1",
        "#!lua\\nreturn 1",
        "#!lua name=x\\nreturn 1",
        "#!lua name=x foo=bar\\nreturn 1",
        "#!lua name=x name=y\\nreturn 1",
        "#!lua name=a-b\\nreturn 1",
        "#!lua name=\\nreturn 1",
        "#!lua name=x\\nlocal x = (",
        "#!lua name=x\\nredis.call('set', 'a', 1)",
        "#!lua name=x\\nlocal s = string",
        "#!lua name=x\\nerror('x')",
        "#!lua name=x\\nlocal a = {} a.b.c = 1",
        "#!lua name=x\\ny = 1",
        "#!lua name=x\\nredis.register_function('f')",
        "#!lua name=x\\nredis.register_function('f', 1)",
        "#!lua name=x\\nredis.register_function('f', function() end, 3)",
        "#!lua name=x\\nredis.register_function()",
        "#!lua name=x\\nredis.register_function{function_name='f'}",
        "#!lua name=x\\nredis.register_function{callback=function() end}",
        "#!lua name=x\\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
        "#!lua name=x\\nredis.register_function{function_name='f', callback=function() end, flags='no-writes'}",
        "#!lua name=x\\nredis.register_function{function_name='f', callback=function() end, foo=1}",
        "#!lua name=x\\nredis.register_function{function_name='f', callback=1}",
        "#!lua name=x\\nredis.register_function{function_name={}, callback=function() end}",
        "#!lua name=x\\nredis.register_function{function_name='f', callback=function() end, description={}}",
        "#!lua name=x\\nredis.register_function('bad name', function() end)",
        "#!lua name=x\\nredis.register_function('', function() end)",
        "#!lua name=x\\nredis.register_function({}, function() end)",
        "#!lua name=x\\nredis.register_function('f', function() end) redis.register_function('f', function() end)",
        "#!lua name=x\\nredis.setresp(3)",
        "#!lua name=x\\nredis.register_function = 1",
        "#!lua name=x\\nredis.log(redis.LOG_WARNING, 'loading') redis.register_function(1, function() return redis.REDIS_VERSION_NUM end)",
    ];
    bodies
        .iter()
        .map(|b| format!("function load \"{b}\""))
        .collect()
}

const CALLS: &[&str] = &[
    "set str abc",
    "set k v",
    "fcall get1 1 k",
    "FCALL GET1 1 k",
    "fcall_ro get1 1 k",
    "fcall get1 0",
    "fcall ro 1 k w",
    "fcall_ro ro 1 k w",
    "fcall_ro allflags 1 k",
    "fcall err 0",
    "fcall rerr 0",
    "fcall set1 1 k2 v2",
    "get k2",
    "fcall kv 2 a b c d",
    "fcall kv 0",
    "fcall globals 0",
    "fcall reg 0",
    "fcall pc 0",
    "fcall st 0",
    "fcall ver 0",
    "fcall up 0 hello",
    "fcall setglobal 0",
    "fcall nosuch 0",
    "fcall get1 x",
    "fcall get1 2 a",
    "fcall get1 -1",
    "fcall get1 1.5 a",
    "fcall",
    "fcall get1",
    "fcall_ro nosuch 0",
    "eval \"return redis.call('fcall', 'get1', 0)\" 0",
    "eval \"return redis.call('function', 'stats')\" 0",
    "eval \"redis.register_function('a', function() end)\" 0",
    "hello 3",
    "fcall kv 1 a b",
    "fcall st 0",
    "fcall err 0",
    "hello 2",
    "function delete mylib",
    "fcall get1 1 k",
];

const ADMIN: &[&str] = &[
    "function flush",
    "function stats",
    "function list",
    "function dump",
    "function delete nosuch",
    "function delete",
    "function delete a b",
    "function kill",
    "function kill x",
    "function stats x",
    "function dump x",
    "function flush x",
    "function flush async x",
    "function flush async",
    "function flush SYNC",
    "function list foo",
    "function list withcode withcode",
    "function list libraryname",
    "function list libraryname a libraryname b",
    "function nosuch",
    "function restore",
    "function restore xx",
    "function restore xx bogus",
    "function restore xx flush extra",
    "function",
    "function load",
    "function load replace",
    "function load a b c",
    "function help",
    "function help x",
];

fn library_lines() -> Vec<String> {
    let mut lines: Vec<String> = ["function flush".to_string()].to_vec();
    lines.push(format!("function load {ONE}"));
    lines.extend(
        [
            "function list",
            "function list withcode",
            "function list libraryname o*",
            "function list LIBRARYNAME O* WITHCODE",
            "function list libraryname x*",
            "function stats",
            "fcall f 0",
            "fcall_ro F 0",
        ]
        .map(String::from),
    );
    lines.push(format!("function load {ONE}"));
    lines.push(format!("function load replace {ONE}"));
    lines.push(format!("function load REPLACE REPLACE {ONE}"));
    lines.push(format!("function load foo {ONE}"));
    lines.push(
        "function load \"#!lua name=two\\nredis.register_function('F', function() end)\"".into(),
    );
    lines.push("function load replace \"#!lua name=One\\nredis.register_function('g', function() return 2 end)\"".into());
    lines.push("fcall g 0".into());
    lines.push("function delete One".into());
    lines.push("function load replace \"#!lua name=one\\nredis.register_function('h', function() return 3 end)\"".into());
    lines.extend(
        [
            "fcall f 0",
            "fcall h 0",
            "function list",
            "hello 3",
            "function list withcode",
            "function stats",
            "hello 2",
        ]
        .map(String::from),
    );
    lines.push(format!("function load {LIB}"));
    lines.extend(
        [
            "function stats",
            "function delete one",
            "function stats",
            "function delete mylib",
            "function delete mylib",
            "function stats",
        ]
        .map(String::from),
    );
    lines
}

#[test]
fn functions_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("functions_answer_byte_for_byte_like_redis_server") else {
        return;
    };
    let mut calls = vec!["function flush".to_string(), format!("function load {LIB}")];
    calls.extend(CALLS.iter().map(|l| l.to_string()));
    let mut errors = vec!["function flush".to_string()];
    errors.extend(load_errors());
    let scripts: [(&str, Vec<String>); 4] = [
        ("function load errors", errors),
        ("fcall", calls),
        (
            "function administration",
            ADMIN.iter().map(|l| l.to_string()).collect(),
        ),
        ("libraries", library_lines()),
    ];
    for (family, lines) in scripts {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut pair = Pair::new(&server);
        if let Err(e) = pair.compare(&steps(&lines)) {
            panic!("family {family}: {e}");
        }
    }
}

/// A payload the emulator dumps is one redis-server restores, and the reverse, with the same
/// libraries afterwards.
#[test]
fn function_dump_payloads_restore_across_emulator_and_redis_server() {
    let Some(server) =
        real_or_skip("function_dump_payloads_restore_across_emulator_and_redis_server")
    else {
        return;
    };
    let mut pair = Pair::new(&server);
    let words = |line: &str| split_args(line.as_bytes()).expect("a valid line");
    let loads = [
        words(&format!("function load {LIB}")),
        words(&format!("function load {ONE}")),
    ];
    let dump = words("function dump");
    let flush = words("function flush");
    pair.real[0].ask(&flush);
    for load in &loads {
        pair.real[0].ask(load);
        pair.ask_emulator(0, load);
    }
    let real_dump = pair.real[0].ask(&dump);
    let emulator_dump = pair.ask_emulator(0, &dump);
    let payload = |reply: &[u8]| -> Vec<u8> {
        let start = reply.iter().position(|b| *b == b'\n').unwrap() + 1;
        reply[start..reply.len() - 2].to_vec()
    };
    let restore = |payload: Vec<u8>| vec![b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload];
    pair.real[0].ask(&flush);
    assert_eq!(
        pair.real[0].ask(&restore(payload(&emulator_dump))),
        b"+OK\r\n"
    );
    pair.ask_emulator(0, &flush);
    assert_eq!(
        pair.ask_emulator(0, &restore(payload(&real_dump))),
        b"+OK\r\n"
    );
    for check in [
        "function list libraryname one withcode",
        "function stats",
        "fcall up 0 hello",
        "fcall kv 1 a b",
    ] {
        let check = words(check);
        assert_eq!(pair.real[0].ask(&check), pair.ask_emulator(0, &check));
    }
}

impl Pair {
    /// The emulator's reply to `words` on connection `c`, as bytes on the wire.
    fn ask_emulator(&mut self, c: usize, words: &[Vec<u8>]) -> Vec<u8> {
        self.sessions[c]
            .receive(&super::encode(words), &mut self.emulator)
            .bytes
    }
}
