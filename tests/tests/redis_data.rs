//! Issue 19, the data-type commands (sorted-set algebra, multi-key pops, float increments,
//! random fields, LCS, keys across databases, OBJECT) judged by real clients: redis-py in
//! RESP2 and RESP3, `redis-cli` and the Rust `redis` crate. Every expected output below is
//! what the same client printed against redis-server 7.0.15.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// One call per command family through redis-py's own methods and reply parsing.
const FAMILIES_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    print("protocol", protocol)
    r.zadd("a", {"x": 1, "y": 2})
    r.zadd("b", {"y": 10, "z": 20})
    r.sadd("s", "x")
    print("zunion", r.zunion({"a": 1, "b": 2, "s": 3}, withscores=True))
    print("zinterstore", r.zinterstore("d", ["a", "b"], aggregate="MAX"), r.zrange("d", 0, -1, withscores=True))
    print("zdiff", r.zdiff(["a", "b"], withscores=True))
    print("zintercard", r.zintercard(2, ["a", "b"]))
    print("zrangestore", r.zrangestore("d2", "b", 0, 0), r.zrange("d2", 0, -1, withscores=True))
    print("zrandmember", r.zrandmember("a", 5, withscores=True))
    print("zmpop", r.zmpop(2, ["nope", "b"], max=True, count=5), r.exists("b"))
    print("bzmpop", r.bzmpop(0.1, 1, ["nope"], min=True))
    r.rpush("l", "1", "2", "3")
    print("lmpop", r.lmpop(2, "nope", "l", direction="RIGHT", count=2))
    print("blmpop", r.blmpop(0.1, 1, "l", direction="LEFT"))
    print("incrbyfloat", r.incrbyfloat("f", 10.5), r.incrbyfloat("f", 0.1), r.get("f"))
    print("hincrbyfloat", r.hincrbyfloat("h", "g", 0.1), r.hincrbyfloat("h", "g", 0.2))
    print("hrandfield", r.hrandfield("h", 5, withvalues=True))
    r.set("s1", "ohmytext")
    r.set("s2", "mynewtext")
    print("lcs", r.lcs("s1", "s2"), r.lcs("s1", "s2", len=True))
    print("lcs idx", r.lcs("s1", "s2", idx=True, withmatchlen=True))
    print("copy", r.copy("s1", "s3"), r.copy("s1", "s3"), r.copy("s1", "s3", destination_db=1, replace=True))
    print("move", r.move("s2", 1), r.exists("s2"))
    print("swapdb", r.swapdb(0, 1), sorted(r.keys("s*")))
    r.swapdb(0, 1)
    r.flushdb()
    r.set("only", "v")
    print("randomkey", r.randomkey())
    r.set("n", 42)
    print("object", r.object("encoding", "n"), r.object("encoding", "only"), r.object("refcount", "n"))
    print("bitmaps", r.setbit("bm", 7, 1), r.getbit("bm", 7), r.bitcount("bm"), r.bitpos("bm", 1), r.bitop("NOT", "bn", "bm"), r.strlen("bn"))
    print("bitfield", r.bitfield("bf").incrby("u2", 0, 5).get("u4", 0).execute(), r.bitfield_ro("bf", "u4", 0))
    r.rpush("nums", 3, 1, 2)
    r.mset({"w_1": 30, "w_2": 20, "w_3": 10})
    print("sort", r.sort("nums"), r.sort("nums", by="w_*", get=["#", "w_*"]), r.sort("nums", desc=True, store="sorted"), r.sort_ro("nums", alpha=True))
    r.close()
"##;

/// What redis-server 7.0.15 made the program print.
const FAMILIES_OUTPUT: &str = "\
protocol 2\n\
zunion [('x', 4.0), ('y', 22.0), ('z', 40.0)]\n\
zinterstore 1 [('y', 10.0)]\n\
zdiff ['x', '1']\n\
zintercard 1\n\
zrangestore 1 [('y', 10.0)]\n\
zrandmember ['y', '2', 'x', '1']\n\
zmpop ['b', [['z', '20'], ['y', '10']]] 0\n\
bzmpop None\n\
lmpop ['l', ['3', '2']]\n\
blmpop ['l', ['1']]\n\
incrbyfloat 10.5 10.6 10.6\n\
hincrbyfloat 0.1 0.3\n\
hrandfield ['g', '0.3']\n\
lcs mytext 6\n\
lcs idx ['matches', [[[4, 7], [5, 8], 4], [[2, 3], [0, 1], 2]], 'len', 6]\n\
copy True False True\n\
move True 0\n\
swapdb True ['s2', 's3']\n\
randomkey only\n\
object int embstr 2147483647\n\
bitmaps 0 1 1 7 1 1\n\
bitfield [1, 4] [4]\n\
sort ['1', '2', '3'] ['3', '10', '2', '20', '1', '30'] 3 ['1', '2', '3']\n\
protocol 3\n\
zunion [['x', 4.0], ['y', 22.0], ['z', 40.0]]\n\
zinterstore 1 [['y', 10.0]]\n\
zdiff [['x', 1.0]]\n\
zintercard 1\n\
zrangestore 1 [['y', 10.0]]\n\
zrandmember [['y', 2.0], ['x', 1.0]]\n\
zmpop ['b', [['z', 20.0], ['y', 10.0]]] 0\n\
bzmpop None\n\
lmpop ['l', ['3', '2']]\n\
blmpop ['l', ['1']]\n\
incrbyfloat 10.5 10.6 10.6\n\
hincrbyfloat 0.1 0.3\n\
hrandfield [['g', '0.3']]\n\
lcs mytext 6\n\
lcs idx {'matches': [[[4, 7], [5, 8], 4], [[2, 3], [0, 1], 2]], 'len': 6}\n\
copy True False True\n\
move True 0\n\
swapdb True ['s2', 's3']\n\
randomkey only\n\
object int embstr 2147483647\n\
bitmaps 0 1 1 7 1 1\n\
bitfield [1, 4] [4]\n\
sort ['1', '2', '3'] ['3', '10', '2', '20', '1', '30'] 3 ['1', '2', '3']\n\
";

#[test]
fn redis_py_uses_the_data_type_commands_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, FAMILIES_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, FAMILIES_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn redis_cli_blmpop_and_bzmpop_wake_on_a_push_from_another_process() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h sessions.internal BLMPOP 2 1 src LEFT COUNT 2 > list & \
                  sleep 0.3; redis-cli -h sessions.internal RPUSH src moved also; wait; \
                  redis-cli -h sessions.internal BZMPOP 2 2 nothing zs MAX > zset & \
                  sleep 0.3; redis-cli -h sessions.internal ZADD zs 1 low 2 high; wait; \
                  cat list zset; redis-cli -h sessions.internal BLMPOP 0.1 1 nothing LEFT";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    // The pushes' replies, then what the waiters got, then a timeout's empty line.
    assert_eq!(
        run.stdout, "2\n2\nsrc\nmoved\nalso\nzs\nhigh\n2\n\n",
        "{}",
        run.stderr
    );
}

#[test]
fn redis_cli_reads_encodings_and_long_double_sums() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h sessions.internal ZADD zs 1 low 2 high; \
                  redis-cli -h sessions.internal OBJECT ENCODING zs; \
                  redis-cli -h sessions.internal INCRBYFLOAT f 10.5; \
                  redis-cli -h sessions.internal INCRBYFLOAT f 0.1; \
                  redis-cli -h sessions.internal LCS f f";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    assert_eq!(
        run.stdout, "2\nlistpack\n10.5\n10.6\n10.6\n",
        "{}",
        run.stderr
    );
}

/// The Rust `redis` crate's own reply parsing, in RESP2 and RESP3.
#[test]
fn the_rust_redis_crate_reads_the_data_type_replies() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let mocks = mocks_file(EMULATED);
    let commands = [
        "ZADD z 1 a 2 b",
        "ZUNION 1 z WITHSCORES",
        "ZINTERCARD 1 z",
        "ZMPOP 1 z MIN COUNT 1",
        "LMPOP 1 nope LEFT",
        "INCRBYFLOAT f 10.5",
        "INCRBYFLOAT f 0.1",
        "HINCRBYFLOAT h g 0.3",
        "HRANDFIELD nope",
        "COPY f g",
        "OBJECT ENCODING g",
        "LCS f g LEN",
        "SETBIT b 7 1",
        "BITCOUNT b",
        "BITFIELD b INCRBY u2 6 1 GET u8 0",
    ];
    // What the same client printed against redis-server 7.0.15, protocol by protocol.
    let common_tail = "nil\nbulk-string('\"10.5\"')\nbulk-string('\"10.6\"')\n\
                       bulk-string('\"0.3\"')\nnil\nint(1)\nbulk-string('\"embstr\"')\n\
                       int(4)\nint(0)\nint(1)\narray([int(2), int(2)])\n";
    let resp2 = format!(
        "int(2)\narray([bulk-string('\"a\"'), bulk-string('\"1\"'), bulk-string('\"b\"'), \
         bulk-string('\"2\"')])\nint(2)\narray([bulk-string('\"z\"'), \
         array([array([bulk-string('\"a\"'), bulk-string('\"1\"')])])])\n{common_tail}"
    );
    let resp3 = format!(
        "int(2)\narray([array([bulk-string('\"a\"'), double(1.0)]), \
         array([bulk-string('\"b\"'), double(2.0)])])\nint(2)\narray([bulk-string('\"z\"'), \
         array([array([bulk-string('\"a\"'), double(1.0)])])])\n{common_tail}"
    );
    for placement in PLACEMENTS {
        for (url, expected) in [
            ("redis://sessions.internal:6379/", &resp2),
            ("redis://sessions.internal:6379/?protocol=resp3", &resp3),
        ] {
            let mut argv = vec![client, url];
            argv.extend(commands);
            let run = placement.run(&mocks, &argv);
            run.success();
            assert_eq!(&run.stdout, expected, "{placement:?} {url}: {}", run.stderr);
        }
    }
}
