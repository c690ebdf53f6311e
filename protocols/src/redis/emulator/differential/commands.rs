//! Differential scripts for `COMMAND`: `INFO` of every command the emulator answers (Redis lists
//! a container's subcommands in its hash table's random order, so containers are compared by
//! subcommand), `GETKEYS`/`GETKEYSANDFLAGS` over every kind of key spec and their errors, and
//! `LIST FILTERBY` with filters whose answer has one order.

use super::{Pair, real_or_skip, steps};
use crate::redis::command_meta;
use crate::redis::spec::SPECS;

const GETKEYS: &[&str] = &[
    "command getkeys get a",
    "command getkeys GET a",
    "command getkeys mset a 1 b 2",
    "command getkeys del a b c",
    "command getkeys rename a b",
    "command getkeys lmove a b left right",
    "command getkeys blpop a b 0",
    "command getkeys zunionstore d 2 a b weights 1 2",
    "command getkeys zunion 2 a b withscores",
    "command getkeys zinter 1 a",
    "command getkeys zdiffstore d 1 a",
    "command getkeys zintercard 2 a b limit 1",
    "command getkeys sintercard 2 a b",
    "command getkeys lmpop 2 a b left count 2",
    "command getkeys blmpop 0 1 a left",
    "command getkeys zmpop 1 a min",
    "command getkeys bzmpop 0 2 a b max",
    "command getkeys eval x 2 a b c",
    "command getkeys eval x 0",
    "command getkeys eval x 5 a",
    "command getkeys eval x -1",
    "command getkeys eval x abc",
    "command getkeys evalsha_ro x 1 a",
    "command getkeys fcall f 1 a b",
    "command getkeys xread count 2 streams a b 0 0",
    "command getkeys xread streams a b c",
    "command getkeys xread count 1 streams",
    "command getkeys xreadgroup group g c streams a 0",
    "command getkeys sort k by w get x store d",
    "command getkeys sort k store",
    "command getkeys sort_ro k",
    "command getkeys georadius k 1 2 3 m store d storedist e",
    "command getkeys georadius k 1 2 3 m store",
    "command getkeys georadiusbymember k m 3 km store d",
    "command getkeys geosearchstore d s fromlonlat 1 2 byradius 1 m",
    "command getkeys object encoding k",
    "command getkeys object freq k",
    "command getkeys xinfo stream s full",
    "command getkeys xgroup create s g $",
    "command getkeys memory usage k",
    "command getkeys bitop and d a b",
    "command getkeys copy a b db 1",
    "command getkeys lcs a b len",
    "command getkeys watch a b",
    "command getkeys pfcount a b",
    "command getkeys restore k 0 x",
    "command getkeys zunionstore d 0 a",
    "command getkeys zunionstore d -1 a",
    "command getkeys zunionstore d 2 a",
    "command getkeys zunionstore d 99999999999999999999 a",
    "command getkeys sintercard 3 a",
    "command getkeys get a b",
    "command getkeys object encoding",
    "command getkeys ping a",
    "command getkeys spublish c m",
    "command getkeys ssubscribe a b",
    "command getkeys client list",
    "command getkeys config get x",
    "command getkeys nosuch a",
    "command getkeys client nosuch",
    "command getkeys get",
    "command getkeys",
    "command getkeys ping",
    "command getkeysandflags get a",
    "command getkeysandflags set k v",
    "command getkeysandflags set k v get",
    "command getkeysandflags set k v nx GET",
    "command getkeysandflags bitfield k get u8 0",
    "command getkeysandflags bitfield k get u8 0 overflow wrap",
    "command getkeysandflags bitfield k set u8 0 1",
    "command getkeysandflags bitfield k get u8",
    "command getkeysandflags bitfield_ro k get u8 0",
    "command getkeysandflags lmove a b left right",
    "command getkeysandflags zunionstore d 2 a b",
    "command getkeysandflags eval x 1 a",
    "command getkeysandflags eval x 3 a",
    "command getkeysandflags sort k store d get x",
    "command getkeysandflags georadius k 1 2 3 m store d",
    "command getkeysandflags xread streams a 0",
    "command getkeysandflags del a b",
    "command getkeysandflags getdel a",
    "command getkeysandflags ping x",
    "command getkeysandflags",
];

const LIST: &[&str] = &[
    "command list filterby pattern get",
    "command list filterby pattern GETDE*",
    "command list filterby pattern x[a]d*",
    "command list filterby pattern client|setn*",
    "command list filterby pattern nosuch*",
    "command list filterby aclcat nosuch",
    "command list filterby aclcat @read",
    "command list filterby module x",
    "command list filterby",
    "command list foo",
    "command list filterby nosuch x",
    "command list filterby pattern a b",
    "command help",
    "command help x",
    "command count x",
    "command info nosuch",
    "command info get nosuch set",
    "command info client|list",
    "command info CLIENT|LIST config|nosuch nosuch|x",
    "command nosuch",
];

/// ACL category rules by Redis's command table, subcommands by their own categories.
const ACL_CATEGORIES: &[&str] = &[
    "acl setuser cat-user on nopass ~* +@admin",
    "acl dryrun cat-user client list",
    "acl dryrun cat-user client id",
    "acl dryrun cat-user config get x",
    "acl dryrun cat-user get k",
    "acl setuser cat-user -@all +@read +@write -@dangerous",
    "acl dryrun cat-user sort k",
    "acl dryrun cat-user sort_ro k",
    "acl dryrun cat-user get k",
    "acl dryrun cat-user keys *",
    "acl dryrun cat-user object encoding k",
    "acl dryrun cat-user georadius k 1 2 3 m",
    "acl setuser cat-user -@all +@scripting +@geo",
    "acl dryrun cat-user eval x 0",
    "acl dryrun cat-user fcall f 0",
    "acl dryrun cat-user geoadd k 1 2 m",
    "acl dryrun cat-user script load x",
    "acl deluser cat-user",
];

/// `OBJECT IDLETIME|FREQ` where they do not depend on the clock: the LFU counter of a new key
/// and after one access (certain), which commands touch, and the policy errors.
const OBJECT_ACCESS: &[&str] = &[
    "set k v",
    "object idletime nosuch",
    "object freq nosuch",
    "object freq k",
    "config set maxmemory-policy allkeys-lfu",
    "set m abc",
    "object freq m",
    "type m",
    "ttl m",
    "exists m",
    "object encoding m",
    "object freq m",
    "get m",
    "object freq m",
    "rpush l a",
    "object freq l",
    "lrange l 0 -1",
    "object freq l",
    "object idletime l",
    "object freq nosuch",
    "config set maxmemory-policy noeviction",
    "object freq m",
];

#[test]
fn object_idletime_and_freq_answer_byte_for_byte_like_redis_server() {
    let Some(server) =
        real_or_skip("object_idletime_and_freq_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut all = OBJECT_ACCESS.to_vec();
    all.push("hello 3");
    all.push("flushall");
    all.extend_from_slice(OBJECT_ACCESS);
    if let Err(e) = pair.compare(&steps(&all)) {
        panic!("{e}");
    }
}

/// Scripts' RESP3 (`redis.setresp(3)`): what `redis.call` gives the script, and what the
/// script's tables and booleans become, for RESP2 and RESP3 callers.
const LUA_RESP3: &[&str] = &[
    "hset h a 1",
    "sadd s x",
    "zadd z 1.5 m",
    "set str abc",
    "eval \"redis.setresp(3) local r = redis.call('hgetall', 'h') return {type(r.map), r.map.a}\" 0",
    "eval \"redis.setresp(3) return redis.call('hgetall', 'h')\" 0",
    "eval \"redis.setresp(3) local r = redis.call('smembers', 's') return {type(r.set), tostring(r.set.x)}\" 0",
    "eval \"redis.setresp(3) return redis.call('smembers', 's')\" 0",
    "eval \"redis.setresp(3) local r = redis.call('zscore', 'z', 'm') return {type(r), tostring(r.double)}\" 0",
    "eval \"redis.setresp(3) return redis.call('zscore', 'z', 'm')\" 0",
    "eval \"redis.setresp(3) return redis.call('zrange', 'z', 0, -1, 'withscores')\" 0",
    "eval \"return redis.call('zrange', 'z', 0, -1, 'withscores')\" 0",
    "eval \"return redis.call('hgetall', 'h')\" 0",
    "eval \"return redis.call('zscore', 'z', 'm')\" 0",
    "eval \"redis.setresp(3) return redis.call('get', 'nosuch') == nil\" 0",
    "eval \"return redis.call('get', 'nosuch') == false\" 0",
    "eval \"redis.setresp(3) return {redis.call('get', 'nosuch'), 1}\" 0",
    "eval \"redis.setresp(3) return redis.call('exists', 'h')\" 0",
    "eval \"redis.setresp(3) local e = redis.pcall('incr', 'str') return e.err\" 0",
    "eval \"redis.setresp(3) redis.setresp(2) return redis.call('hgetall', 'h')\" 0",
    "eval \"redis.setresp(3) return true\" 0",
    "eval \"redis.setresp(3) return false\" 0",
    "eval \"redis.setresp(3) return {true, false, 1}\" 0",
    "eval \"return {true, false, 1}\" 0",
    "eval \"return false\" 0",
    "eval \"return {double = 3.5}\" 0",
    "eval \"return {double = 1/0}\" 0",
    "eval \"return {double = 'x'}\" 0",
    "eval \"return {big_number = '123456789012345678901234567890'}\" 0",
    "eval \"return {big_number = 'a\\r\\nb'}\" 0",
    "eval \"return {big_number = 5}\" 0",
    "eval \"return {map = {a = 1}}\" 0",
    "eval \"return {map = {}}\" 0",
    "eval \"return {map = 1}\" 0",
    "eval \"return {set = {a = true}}\" 0",
    "eval \"return {set = {}}\" 0",
    "eval \"return {verbatim_string = {format = 'txt', string = 'hi'}}\" 0",
    "eval \"return {verbatim_string = {string = 'hi'}}\" 0",
    "eval \"return {err = 'x', double = 1}\" 0",
    "eval \"return {map = {a = {double = 0.5}}, set = {b = true}}\" 0",
    "eval \"return {{map = {k = {set = {v = true}}}}, {double = -0.0}}\" 0",
    "eval \"return cjson.encode({-0.0, 0, 1.5})\" 0",
    "eval \"return cjson.encode({a = -0.0})\" 0",
];

/// `cmsgpack`: encodings, round trips, the stream functions and their errors.
const CMSGPACK: &[&str] = &[
    "eval \"return cmsgpack.pack({1, 2, {a = 1}}, 'x', 1.5, -1, 2^40, 0.1, true, false, nil)\" 0",
    "eval \"return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1, 2^53)\" 0",
    "eval \"return cmsgpack.pack(string.rep('a', 31), string.rep('b', 32), string.rep('c', 256), string.rep('d', 65536))\" 0",
    "eval \"return cmsgpack.pack({}, {[2] = 1}, {[1] = 1, [3] = 3}, {1.5}, {[1.5] = 1}, {x = {y = {z = {}}}})\" 0",
    "eval \"local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)\" 0",
    "eval \"local t = {} t[1] = t return cmsgpack.pack(t)\" 0",
    "eval \"return cmsgpack.pack(1/0, -1/0, 2^64, -2^63, 1e300, 3.25)\" 0",
    "eval \"return cmsgpack.pack(cjson.null)\" 0",
    "eval \"return cmsgpack.pack()\" 0",
    "eval \"return {cmsgpack.unpack(cmsgpack.pack({1, 2, {3, 'x'}}, 'y', true, 7.5))}\" 0",
    "eval \"local a, b = cmsgpack.unpack(cmsgpack.pack({k = 'v'}, -5)) return {a.k, b}\" 0",
    "eval \"return {cmsgpack.unpack(cmsgpack.pack(2^40, -2^40, 0.25, 1e300))}\" 0",
    "eval \"return cmsgpack.unpack('')\" 0",
    "eval \"return cmsgpack.unpack()\" 0",
    "eval \"return cmsgpack.unpack({})\" 0",
    "eval \"return cmsgpack.unpack(12)\" 0",
    "eval \"return cmsgpack.unpack('\\\\193')\" 0",
    "eval \"return cmsgpack.unpack(string.char(0xc1))\" 0",
    "eval \"return cmsgpack.unpack(string.char(0xdd, 255, 255, 255, 255, 1))\" 0",
    "eval \"return cmsgpack.unpack(string.char(0xa5, 65))\" 0",
    "eval \"return cmsgpack.unpack(string.char(0xc4, 2, 65, 66, 0xd9, 1, 67))\" 0",
    "eval \"return {cmsgpack.unpack(string.char(0xd0, 0x80, 0xd1, 0x80, 0, 0xcc, 200, 0xe0, 0xff))}\" 0",
    "eval \"local t = cmsgpack.unpack(string.rep(string.char(0x91), 300) .. string.char(1)) local d = 0 while type(t) == 'table' do t = t[1] d = d + 1 end return d\" 0",
    "eval \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}\" 0",
    "eval \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}\" 0",
    "eval \"return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 5)}\" 0",
    "eval \"return {cmsgpack.unpack_one(cmsgpack.pack(1), -1)}\" 0",
    "eval \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}\" 0",
    "eval \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2), 0, 1)}\" 0",
    "eval \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2), 5, 1)}\" 0",
    "eval \"return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2))}\" 0",
    "eval \"return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}\" 0",
    "eval \"return cmsgpack.unpack(string.char(0x81, 0xc0, 1))\" 0",
    "eval \"return cmsgpack.unpack(string.char(0x81, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 1))\" 0",
    "eval \"return cmsgpack.unpack(string.char(0x81, 0x01, 0xc0))\" 0",
];

/// `struct`: formats, byte orders, alignment, strings, positions and the errors.
const STRUCT: &[&str] = &[
    "eval \"return struct.pack('>i<hbB', 1, -2, -3, 250)\" 0",
    "eval \"return struct.pack('lLT', -1, 2^40, 7)\" 0",
    "eval \"return struct.pack('>I3i10', 65536 * 3 + 2, -1)\" 0",
    "eval \"return struct.pack('<fd>fd', 1.5, 0.1, -2.25, 1e300)\" 0",
    "eval \"return struct.pack('!4 b d !2 b h x c3 s c0', 1, 2.5, 3, 4, 'abcdef', 'zz', 'rest')\" 0",
    "eval \"return struct.pack('i', '12')\" 0",
    "eval \"return {struct.unpack('>i<hbB', struct.pack('>i<hbB', 1, -2, -3, 250))}\" 0",
    "eval \"return {struct.unpack('lLT', struct.pack('lLT', -1, 2^40, 7))}\" 0",
    "eval \"return {struct.unpack('>I3i10', struct.pack('>I3i10', 65536 * 3 + 2, -1))}\" 0",
    "eval \"local a, b, c = struct.unpack('<fd', struct.pack('<fd', 1.5, 0.25)) return {tostring(a), tostring(b), c}\" 0",
    "eval \"return {struct.unpack('!4 b d !2 b h x c3 s', struct.pack('!4 b d !2 b h x c3 s', 1, 2.5, 3, 4, 'abc', 'zz'))}\" 0",
    "eval \"return {struct.unpack('>I2 c0', struct.pack('>I2 c0', 3, 'abc'))}\" 0",
    "eval \"return {struct.unpack('<i', 'abcdefgh', 5)}\" 0",
    "eval \"return {struct.unpack('<i', 'abcd', 1.5)}\" 0",
    "eval \"return {struct.unpack('<i', 'abcd', 2)}\" 0",
    "eval \"return {struct.unpack('<b', 'abcd', -1)}\" 0",
    "eval \"return {struct.unpack('b', 'a', 0)}\" 0",
    "eval \"return {struct.unpack('i', 'ab')}\" 0",
    "eval \"return {struct.unpack('s', 'ab')}\" 0",
    "eval \"return {struct.unpack('c0', 'ab')}\" 0",
    "eval \"return {struct.unpack('b c0', string.char(9) .. 'ab')}\" 0",
    "eval \"return {struct.unpack('z', 'ab')}\" 0",
    "eval \"return {struct.size('>i!4bhd'), struct.size('z'), struct.size(''), struct.size('c10 x !8 d')}\" 0",
    "eval \"return struct.size('s')\" 0",
    "eval \"return struct.size('c0')\" 0",
    "eval \"return struct.size('!3')\" 0",
    "eval \"return struct.pack('z', 1)\" 0",
    "eval \"return struct.pack('!3i', 1)\" 0",
    "eval \"return struct.pack('c5', 'ab')\" 0",
    "eval \"return struct.pack('bc5', 1, 'ab')\" 0",
    "eval \"return struct.pack('i40', 1)\" 0",
    "eval \"return struct.pack('i99999999999', 1)\" 0",
    "eval \"return struct.pack()\" 0",
    "eval \"return struct.pack('i')\" 0",
    "eval \"return struct.pack('i', 'x')\" 0",
    "eval \"return struct.pack('i', {})\" 0",
    "eval \"return struct.pack('s')\" 0",
    "eval \"return struct.pack(12)\" 0",
    "eval \"return struct.unpack()\" 0",
    "eval \"return struct.unpack('i')\" 0",
    "eval \"return struct.size()\" 0",
    "eval \"return struct.size({})\" 0",
];

#[test]
fn struct_answers_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("struct_answers_byte_for_byte_like_redis_server") else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut all = STRUCT.to_vec();
    all.push("hello 3");
    all.extend_from_slice(STRUCT);
    if let Err(e) = pair.compare(&steps(&all)) {
        panic!("{e}");
    }
}

#[test]
fn cmsgpack_answers_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("cmsgpack_answers_byte_for_byte_like_redis_server") else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut all = CMSGPACK.to_vec();
    all.push("hello 3");
    all.extend_from_slice(CMSGPACK);
    if let Err(e) = pair.compare(&steps(&all)) {
        panic!("{e}");
    }
}

#[test]
fn lua_resp3_conversions_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("lua_resp3_conversions_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut all = LUA_RESP3.to_vec();
    all.push("hello 3");
    all.extend_from_slice(LUA_RESP3);
    if let Err(e) = pair.compare(&steps(&all)) {
        panic!("{e}");
    }
}

#[test]
fn command_introspection_answers_byte_for_byte_like_redis_server() {
    let Some(server) =
        real_or_skip("command_introspection_answers_byte_for_byte_like_redis_server")
    else {
        return;
    };
    // `COMMAND INFO` of every command the emulator answers, subcommands for containers.
    let names: Vec<String> = SPECS
        .iter()
        .filter_map(|s| command_meta::find(s.name))
        .flat_map(|m| {
            let subs = m.subcommands.iter().map(|s| s.name.to_string());
            let own = m.subcommands.is_empty().then(|| m.name.to_string());
            own.into_iter().chain(subs)
        })
        .collect();
    let info: Vec<String> = names.iter().map(|n| format!("command info {n}")).collect();
    let info: Vec<&str> = info.iter().map(String::as_str).collect();
    let mut compared = 0;
    let families = [
        ("info", &info[..]),
        ("getkeys", GETKEYS),
        ("list", LIST),
        ("acl categories", ACL_CATEGORIES),
    ];
    for (family, lines) in families {
        let mut pair = Pair::new(&server);
        let mut all = lines.to_vec();
        all.push("hello 3");
        all.extend_from_slice(lines);
        match pair.compare(&steps(&all)) {
            Ok(n) => compared += n,
            Err(e) => panic!("family {family}: {e}"),
        }
    }
    eprintln!(
        "COMMAND: {compared} commands compared, {} command entries",
        names.len()
    );
}
