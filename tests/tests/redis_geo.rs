//! Issue 19, the geo commands and DUMP/RESTORE judged by real clients: redis-py in RESP2 and
//! RESP3 (its own GEO reply parsing), `redis-cli` in both protocols and the Rust `redis` crate.
//! Every expected output below is what the same client printed against redis-server 7.0.15.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "places.internal:6379", "emulate": true }
  ]
}"#;

/// Every geo command through redis-py's own methods, and the errors a client gets.
const GEO_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "places.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    print("protocol", protocol)
    print("geoadd", r.geoadd("Sicily", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]))
    print("geoadd xx ch", r.geoadd("Sicily", [13.4, 38.1, "Palermo", 1, 1, "New"], xx=True, ch=True))
    print("geoadd nx", r.geoadd("Sicily", [13.361389, 38.115556, "Palermo", 12.5, 37.8, "Marsala"], nx=True))
    print("geopos", r.geopos("Sicily", "Palermo", "nope", "Catania"))
    print("geodist", r.geodist("Sicily", "Palermo", "Catania"), r.geodist("Sicily", "Palermo", "Catania", unit="km"), r.geodist("Sicily", "Palermo", "nope"))
    print("geohash", r.geohash("Sicily", "Palermo", "Catania", "nope"))
    print("georadius", r.georadius("Sicily", 15, 37, 200, unit="km", withdist=True, withcoord=True, withhash=True, sort="ASC"))
    print("georadius count", r.georadius("Sicily", 15, 37, 300, unit="km", count=1, sort="DESC"))
    print("georadiusbymember", r.georadiusbymember("Sicily", "Palermo", 300, unit="km", withdist=True, sort="ASC"))
    print("georadius store", r.georadius("Sicily", 15, 37, 300, unit="km", store_dist="dists"), r.zrange("dists", 0, -1, withscores=True))
    print("geosearch", r.geosearch("Sicily", member="Palermo", radius=300, unit="km", withdist=True, withcoord=True, sort="ASC"))
    print("geosearch box", r.geosearch("Sicily", longitude=15, latitude=37, width=400, height=400, unit="km", count=2, any=True))
    print("geosearchstore", r.geosearchstore("found", "Sicily", longitude=15, latitude=37, radius=200, unit="km", storedist=True), r.zrange("found", 0, -1, withscores=True))
    for bad in (
        lambda: r.geoadd("Sicily", [200, 100, "x"]),
        lambda: r.execute_command("GEODIST", "Sicily", "Palermo", "Catania", "km2"),
        lambda: r.execute_command("GEOSEARCH", "Sicily", "BYRADIUS", 1, "km", "ASC", "ASC"),
        lambda: r.execute_command("GEORADIUSBYMEMBER", "Sicily", "nope", 1, "km"),
        lambda: r.execute_command("GEORADIUS", "Sicily", 15, 37, -1, "km"),
    ):
        try:
            bad()
        except redis.ResponseError as e:
            print("error", e)
    r.close()
"##;

/// What redis-server 7.0.15 made the program print.
const GEO_OUTPUT: &str = "\
protocol 2\n\
geoadd 2\n\
geoadd xx ch 1\n\
geoadd nx 1\n\
geopos [(13.400002419948578, 38.10000081174143), None, (15.087267458438873, 37.50266842333162)]\n\
geodist 162484.5721 162.4846 None\n\
geohash ['sqc88zvsdd0', 'sqdtr74hyu0', None]\n\
georadius [['Catania', 56.4413, 3479447370796909, (15.087267458438873, 37.50266842333162)], ['Palermo', 186.746, 3479099937378871, (13.400002419948578, 38.10000081174143)]]\n\
georadius count ['Marsala']\n\
georadiusbymember [['Palermo', 0.0], ['Marsala', 85.6994], ['Catania', 162.4846]]\n\
georadius store 3 [('Catania', 56.4412578701582), ('Palermo', 186.74597615283065), ('Marsala', 238.1370044602195)]\n\
geosearch [['Palermo', 0.0, (13.400002419948578, 38.10000081174143)], ['Marsala', 85.6994, (12.499997913837433, 37.79999881948556)], ['Catania', 162.4846, (15.087267458438873, 37.50266842333162)]]\n\
geosearch box ['Palermo', 'Catania']\n\
geosearchstore 2 [('Catania', 56.4412578701582), ('Palermo', 186.74597615283065)]\n\
error invalid longitude,latitude pair 200.000000,100.000000\n\
error unsupported unit provided. please use M, KM, FT, MI\n\
error exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH\n\
error could not decode requested zset member\n\
error radius cannot be negative\n\
protocol 3\n\
geoadd 2\n\
geoadd xx ch 1\n\
geoadd nx 1\n\
geopos [[13.400002419948578, 38.10000081174143], None, [15.087267458438873, 37.50266842333162]]\n\
geodist 162484.5721 162.4846 None\n\
geohash ['sqc88zvsdd0', 'sqdtr74hyu0', None]\n\
georadius [['Catania', 56.4413, 3479447370796909, (15.087267458438873, 37.50266842333162)], ['Palermo', 186.746, 3479099937378871, (13.400002419948578, 38.10000081174143)]]\n\
georadius count ['Marsala']\n\
georadiusbymember [['Palermo', 0.0], ['Marsala', 85.6994], ['Catania', 162.4846]]\n\
georadius store 3 [['Catania', 56.4412578701582], ['Palermo', 186.74597615283065], ['Marsala', 238.1370044602195]]\n\
geosearch [['Palermo', 0.0, (13.400002419948578, 38.10000081174143)], ['Marsala', 85.6994, (12.499997913837433, 37.79999881948556)], ['Catania', 162.4846, (15.087267458438873, 37.50266842333162)]]\n\
geosearch box ['Palermo', 'Catania']\n\
geosearchstore 2 [['Catania', 56.4412578701582], ['Palermo', 186.74597615283065]]\n\
error invalid longitude,latitude pair 200.000000,100.000000\n\
error unsupported unit provided. please use M, KM, FT, MI\n\
error exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH\n\
error could not decode requested zset member\n\
error radius cannot be negative\n\
";

#[test]
fn redis_py_uses_every_geo_command_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, GEO_PROGRAM, &[]);
        // `success` also means no command was counted as unmatched.
        run.success();
        assert_eq!(run.stdout, GEO_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn redis_cli_prints_coordinates_distances_and_hashes_like_redis() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h places.internal GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania; \
                  redis-cli -h places.internal GEOPOS g Palermo nope; \
                  redis-cli -h places.internal GEORADIUSBYMEMBER g Palermo 200 km WITHDIST WITHCOORD ASC; \
                  redis-cli -h places.internal GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km WITHHASH; \
                  redis-cli -h places.internal GEOADD g 13 90 bad; \
                  redis-cli -3 -h places.internal GEOPOS g Catania";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    // redis-server 7.0.15's answers; in RESP3 the coordinates are doubles printed as Redis
    // sent them.
    let expected = "\
2\n\
13.36138933897018433\n\
38.11555639549629859\n\
\n\
Palermo\n\
0.0000\n\
13.36138933897018433\n\
38.11555639549629859\n\
Catania\n\
166.2742\n\
15.08726745843887329\n\
37.50266842333162032\n\
Palermo\n\
3479099956230698\n\
Catania\n\
3479447370796909\n\
ERR invalid longitude,latitude pair 13.000000,90.000000\n\
\n\
15.08726745843887329\n\
37.50266842333162032\n\
";
    assert_eq!(run.stdout, expected, "{}", run.stderr);
}

/// The Rust `redis` crate's own reply parsing, in RESP2 and RESP3: coordinates are bulk
/// strings in RESP2 and doubles in RESP3, distances bulk strings in both.
#[test]
fn the_rust_redis_crate_reads_the_geo_replies() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let mocks = mocks_file(EMULATED);
    let commands = [
        "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEOPOS g Palermo nope",
        "GEODIST g Palermo Catania km",
        "GEOHASH g Palermo",
        "GEORADIUS g 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC",
        "GEOSEARCH g FROMMEMBER Palermo BYBOX 400 400 km WITHDIST DESC",
        "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 100 km STOREDIST",
        "GEOADD g 200 100 bad",
    ];
    // What the same client printed against redis-server 7.0.15, protocol by protocol.
    let resp2 = "int(2)\n\
        array([array([bulk-string('\"13.36138933897018433\"'), bulk-string('\"38.11555639549629859\"')]), nil])\n\
        bulk-string('\"166.2742\"')\n\
        array([bulk-string('\"sqc8b49rny0\"')])\n\
        array([array([bulk-string('\"Catania\"'), bulk-string('\"56.4413\"'), int(3479447370796909), array([bulk-string('\"15.08726745843887329\"'), bulk-string('\"37.50266842333162032\"')])]), array([bulk-string('\"Palermo\"'), bulk-string('\"190.4424\"'), int(3479099956230698), array([bulk-string('\"13.36138933897018433\"'), bulk-string('\"38.11555639549629859\"')])])])\n\
        array([array([bulk-string('\"Catania\"'), bulk-string('\"166.2742\"')]), array([bulk-string('\"Palermo\"'), bulk-string('\"0.0000\"')])])\n\
        int(1)\n\
        error: ResponseError: invalid longitude,latitude pair 200.000000,100.000000\n";
    let resp3 = "int(2)\n\
        array([array([double(13.361389338970184), double(38.1155563954963)]), nil])\n\
        bulk-string('\"166.2742\"')\n\
        array([bulk-string('\"sqc8b49rny0\"')])\n\
        array([array([bulk-string('\"Catania\"'), bulk-string('\"56.4413\"'), int(3479447370796909), array([double(15.087267458438873), double(37.50266842333162)])]), array([bulk-string('\"Palermo\"'), bulk-string('\"190.4424\"'), int(3479099956230698), array([double(13.361389338970184), double(38.1155563954963)])])])\n\
        array([array([bulk-string('\"Catania\"'), bulk-string('\"166.2742\"')]), array([bulk-string('\"Palermo\"'), bulk-string('\"0.0000\"')])])\n\
        int(1)\n\
        error: ResponseError: invalid longitude,latitude pair 200.000000,100.000000\n";
    for placement in PLACEMENTS {
        for (url, expected) in [
            ("redis://places.internal:6379/", resp2),
            ("redis://places.internal:6379/?protocol=resp3", resp3),
        ] {
            let mut argv = vec![client, url];
            argv.extend(commands);
            let run = placement.run(&mocks, &argv);
            run.success();
            assert_eq!(run.stdout, expected, "{placement:?} {url}: {}", run.stderr);
        }
    }
}

/// DUMP and RESTORE through redis-py: payloads real Redis 7 dumped restore, the emulator's
/// own payloads restore (and its string payload is Redis's, byte for byte), and the errors.
const DUMP_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "places.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
# DUMP payloads of redis-server 7.0.15: a string, a listpack hash, a quicklist of a listpack,
# an intset, a listpack sorted set.
FROM_REDIS = [
    ("s", "000568656c6c6f0a006372df766534200a"),
    ("h", "1012120000000400816602817602816e020101ff0a00fce408f17922e016"),
    ("l", "1201020f0f00000003008161020101816202ff0a009043a34ceb8e1b1c"),
    ("si", "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b"),
    ("z", "1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7"),
]


def with_footer(body):
    """A payload of an RDB body: version 10 and Redis's CRC64 (Jones), little-endian."""
    data = body + b"\x0a\x00"
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return data + crc.to_bytes(8, "little")

for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=False)
    r.flushall()
    print("protocol", protocol)
    for key, payload in FROM_REDIS:
        print("restore", key, r.restore(key, 0, bytes.fromhex(payload)))
    print("values", r.get("s"), r.hgetall("h"), r.lrange("l", 0, -1), sorted(r.smembers("si")), r.zrange("z", 0, -1, withscores=True))
    print("dump string", r.dump("s").hex(), with_footer(b"\x00\x05hello") == r.dump("s"))
    for key in ("h", "l", "si", "z"):
        copy = key + ":copy"
        r.restore(copy, 0, r.dump(key))
        print("round trip", key, r.type(copy), r.dump(key) == r.dump(key))
    print("copies", r.hgetall("h:copy"), r.lrange("l:copy", 0, -1), sorted(r.smembers("si:copy")), r.zrange("z:copy", 0, -1, withscores=True))
    print("dump missing", r.dump("nope"))
    print("restore ttl", r.restore("t", 100000, r.dump("s")), r.ttl("t"), r.restore("t", 0, r.dump("l"), replace=True), r.type("t"), r.ttl("t"))
    print("restore absttl past", r.restore("past", 1, r.dump("s"), absttl=True), r.exists("past"))
    print("restore idletime", r.restore("idle", 0, r.dump("s"), idletime=10), r.restore("freq", 0, r.dump("s"), frequency=5))
    for bad in (
        lambda: r.restore("s", 0, r.dump("s")),
        lambda: r.restore("x", 0, b"not a payload"),
        lambda: r.restore("x", 0, bytes.fromhex("000568656c6c6f0a006372df766534200b")),
        lambda: r.restore("x", -1, r.dump("s")),
        lambda: r.restore("x", 0, with_footer(b"\x63")),
        lambda: r.restore("x", 0, with_footer(b"\x00\xc3\x01\x80\xff\xff\xff\xff\x00")),
    ):
        try:
            print("unexpected", bad())
        except redis.ResponseError as e:
            print("error", e)
    r.close()
"##;

/// What redis-server 7.0.15 made the program print.
const DUMP_OUTPUT: &str = "\
protocol 2\n\
restore s b'OK'\n\
restore h b'OK'\n\
restore l b'OK'\n\
restore si b'OK'\n\
restore z b'OK'\n\
values b'hello' {b'f': b'v', b'n': b'1'} [b'a', b'1', b'b'] [b'1', b'2', b'3'] [(b'a', 1.0), (b'b', 2.5)]\n\
dump string 000568656c6c6f0a006372df766534200a True\n\
round trip h b'hash' True\n\
round trip l b'list' True\n\
round trip si b'set' True\n\
round trip z b'zset' True\n\
copies {b'f': b'v', b'n': b'1'} [b'a', b'1', b'b'] [b'1', b'2', b'3'] [(b'a', 1.0), (b'b', 2.5)]\n\
dump missing None\n\
restore ttl b'OK' 100 b'OK' b'list' -1\n\
restore absttl past b'OK' 0\n\
restore idletime b'OK' b'OK'\n\
error BUSYKEY Target key name already exists.\n\
error DUMP payload version or checksum are wrong\n\
error DUMP payload version or checksum are wrong\n\
error Invalid TTL value, must be >= 0\n\
error Bad data format\n\
error Bad data format\n\
protocol 3\n\
restore s b'OK'\n\
restore h b'OK'\n\
restore l b'OK'\n\
restore si b'OK'\n\
restore z b'OK'\n\
values b'hello' {b'f': b'v', b'n': b'1'} [b'a', b'1', b'b'] [b'1', b'2', b'3'] [[b'a', 1.0], [b'b', 2.5]]\n\
dump string 000568656c6c6f0a006372df766534200a True\n\
round trip h b'hash' True\n\
round trip l b'list' True\n\
round trip si b'set' True\n\
round trip z b'zset' True\n\
copies {b'f': b'v', b'n': b'1'} [b'a', b'1', b'b'] [b'1', b'2', b'3'] [[b'a', 1.0], [b'b', 2.5]]\n\
dump missing None\n\
restore ttl b'OK' 100 b'OK' b'list' -1\n\
restore absttl past b'OK' 0\n\
restore idletime b'OK' b'OK'\n\
error BUSYKEY Target key name already exists.\n\
error DUMP payload version or checksum are wrong\n\
error DUMP payload version or checksum are wrong\n\
error Invalid TTL value, must be >= 0\n\
error Bad data format\n\
error Bad data format\n\
";

#[test]
fn redis_py_restores_payloads_of_real_redis_and_of_the_emulator() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, DUMP_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, DUMP_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn redis_cli_pipes_a_dump_into_restore() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h places.internal RPUSH l a 1 b; \
                  redis-cli -h places.internal --raw DUMP l | head -c -1 > payload; \
                  redis-cli -h places.internal -x RESTORE copy 0 < payload; \
                  redis-cli -h places.internal LRANGE copy 0 -1; \
                  redis-cli -h places.internal -x RESTORE copy 0 < payload; \
                  redis-cli -h places.internal --no-raw DUMP nope; \
                  redis-cli -h places.internal RESTORE x 0 junk";
    let dir = scratch_dir("redis_cli_dump");
    let cd = format!("cd {} && {script}", dir.display());
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", &cd]);
    run.success();
    // What the same script printed against redis-server 7.0.15.
    let expected = "3\nOK\na\n1\nb\nBUSYKEY Target key name already exists.\n\n(nil)\n\
                    ERR DUMP payload version or checksum are wrong\n\n";
    assert_eq!(run.stdout, expected, "{}", run.stderr);
}
