//! Differential scripts for what scripts see besides `redis.call`: the `redis` helpers
//! (`error_reply`, `status_reply`, `pcall`'s error tables, `sha1hex`, `log`, `setresp`,
//! `set_repl`, ...) and the embedded libraries `bit` and `cjson`, through `EVAL`, compared
//! byte for byte with a real `redis-server`.

use super::{Pair, real_or_skip, steps};

const HELPERS: &[&str] = &[
    "eval \"return redis.error_reply('x')\" 0",
    "eval \"return redis.error_reply('-x y')\" 0",
    "eval \"return redis.error_reply('MY bad')\" 0",
    "eval \"return redis.error_reply()\" 0",
    "eval \"return redis.error_reply(1)\" 0",
    "eval \"return redis.error_reply('a', 'b')\" 0",
    "eval \"return redis.error_reply('-ERR trailing\\r\\n')\" 0",
    "eval \"return redis.status_reply()\" 0",
    "eval \"return redis.status_reply(1)\" 0",
    "eval \"return redis.status_reply('fine')\" 0",
    "eval \"local t = redis.error_reply('x') return t.err\" 0",
    "eval \"local t = redis.status_reply('y') return t.ok\" 0",
    "eval \"return redis.pcall('nosuch')\" 0",
    "set str abc",
    "eval \"local e = redis.pcall('incr', 'str') return {type(e), e.err}\" 0",
    "eval \"return redis.sha1hex('abc')\" 0",
    "eval \"return redis.sha1hex(12)\" 0",
    "eval \"return redis.sha1hex()\" 0",
    "eval \"return redis.sha1hex('a', 'b')\" 0",
    "eval \"redis.log(redis.LOG_WARNING, 'hello') return 1\" 0",
    "eval \"redis.log(redis.LOG_DEBUG, 'a', 'b', 3) return 1\" 0",
    "eval \"redis.log() return 1\" 0",
    "eval \"redis.log(1) return 1\" 0",
    "eval \"redis.log('x', 'y') return 1\" 0",
    "eval \"redis.log(9, 'y') return 1\" 0",
    "eval \"return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}\" 0",
    "eval \"return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}\" 0",
    "eval \"redis.set_repl(redis.REPL_ALL) return 1\" 0",
    "eval \"redis.set_repl() return 1\" 0",
    "eval \"redis.set_repl(99) return 1\" 0",
    "eval \"return redis.replicate_commands()\" 0",
    "eval \"return redis.breakpoint()\" 0",
    "eval \"redis.debug('x') return 1\" 0",
    "eval \"return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}\" 0",
    "eval \"redis.setresp(3) return 1\" 0",
    "eval \"redis.setresp() return 1\" 0",
    "eval \"redis.setresp(4) return 1\" 0",
    "eval \"redis.call = 1\" 0",
    "eval \"string = 1\" 0",
];

const BIT: &[&str] = &[
    "eval \"return {bit.tobit(1), bit.tobit(-1), bit.tobit(2^32 + 5), bit.tobit(2.5), bit.tobit(3.5), bit.tobit('12')}\" 0",
    "eval \"return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.band(7)}\" 0",
    "eval \"return {bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x80000001, 1), bit.ror(1, 1)}\" 0",
    "eval \"return {bit.bswap(0x12345678), bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 20), bit.tohex(1, 0)}\" 0",
    "eval \"return bit.tobit()\" 0",
    "eval \"return bit.band(1, 'x')\" 0",
    "eval \"return bit.lshift(1)\" 0",
    "eval \"return bit.tohex({})\" 0",
    "eval \"return bit.bor(1, nil)\" 0",
];

const CJSON: &[&str] = &[
    "eval \"return cjson.encode({1, 2, 'three', true, false})\" 0",
    "eval \"return cjson.encode({a = 1})\" 0",
    "eval \"return cjson.encode({})\" 0",
    "eval \"return cjson.encode('a/b\\\"c\\\\\\n\\t\\1\\127\\200')\" 0",
    "eval \"return cjson.encode({0.1, 1/3, 1e20, 123456789012345, 2^53})\" 0",
    "eval \"return cjson.encode(cjson.null)\" 0",
    "eval \"return cjson.encode({1, nil, 3})\" 0",
    "eval \"return cjson.encode({[1] = 1, [20] = 2})\" 0",
    "eval \"return cjson.encode({[1.5] = 'x'})\" 0",
    "eval \"return cjson.encode({[true] = 1})\" 0",
    "eval \"return cjson.encode(1/0)\" 0",
    "eval \"return cjson.encode(0/0)\" 0",
    "eval \"return cjson.encode(print)\" 0",
    "eval \"return cjson.encode(function() end)\" 0",
    "eval \"local t = {} t[1] = t return cjson.encode(t)\" 0",
    "eval \"return cjson.encode()\" 0",
    "eval \"return cjson.encode(1, 2)\" 0",
    "eval \"return cjson.encode({nested = {deeper = {1, 2}}})\" 0",
    "eval \"local t = cjson.decode('[1, 2.5, \\\"x\\\", true, false, null, {\\\"a\\\": [ ]}]') return {t[1], t[2], t[3], t[4], tostring(t[5]), t[6] == cjson.null, type(t[7].a)}\" 0",
    "eval \"return cjson.decode('\\\"\\\\u00e9\\\\ud83d\\\\ude00\\\\/\\\\n\\\"')\" 0",
    "eval \"return cjson.decode('{\\\"k\\\": \\\"v\\\", \\\"k\\\": \\\"w\\\"}').k\" 0",
    "eval \"return tostring(cjson.decode('-0x10'))\" 0",
    "eval \"return tostring(cjson.decode('1e400'))\" 0",
    "eval \"return tostring(cjson.decode(' 12 '))\" 0",
    "eval \"return cjson.decode('')\" 0",
    "eval \"return cjson.decode('[1,')\" 0",
    "eval \"return cjson.decode('[1 2]')\" 0",
    "eval \"return cjson.decode('{1: 2}')\" 0",
    "eval \"return cjson.decode('{\\\"a\\\" 2}')\" 0",
    "eval \"return cjson.decode('{\\\"a\\\": 2 3}')\" 0",
    "eval \"return cjson.decode('\\\"abc')\" 0",
    "eval \"return cjson.decode('\\\"\\\\q\\\"')\" 0",
    "eval \"return cjson.decode('\\\"\\\\u12\\\"')\" 0",
    "eval \"return cjson.decode('\\\"\\\\udc00\\\"')\" 0",
    "eval \"return cjson.decode('tru')\" 0",
    "eval \"return cjson.decode('x')\" 0",
    "eval \"return cjson.decode('-')\" 0",
    "eval \"return cjson.decode('1 2')\" 0",
    "eval \"return cjson.decode(string.rep('[', 1001))\" 0",
    "eval \"return cjson.decode()\" 0",
    "eval \"return cjson.decode({})\" 0",
    "eval \"return cjson.decode(12)\" 0",
    "eval \"return cjson.encode(cjson.decode('{\\\"a\\\":[1,2,{\\\"b\\\":null}]}'))\" 0",
];

#[test]
fn lua_helpers_and_libraries_answer_byte_for_byte_like_redis_server() {
    let Some(server) =
        real_or_skip("lua_helpers_and_libraries_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    for (family, lines) in [("redis helpers", HELPERS), ("bit", BIT), ("cjson", CJSON)] {
        let mut pair = Pair::new(&server);
        let mut all = lines.to_vec();
        all.push("hello 3");
        all.extend_from_slice(lines);
        if let Err(e) = pair.compare(&steps(&all)) {
            panic!("family {family}: {e}");
        }
    }
}
