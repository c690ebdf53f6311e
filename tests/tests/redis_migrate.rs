//! Issue 19: MIGRATE between two emulated Redis addresses, and streams through the Rust `redis`
//! crate's stream API (a consumer group, then a DUMP/RESTORE copy of the stream), judged by
//! real clients: redis-py (RESP2 and RESP3), `redis-cli` and the Rust `redis` crate.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "queue.internal:6379", "emulate": true }
  ]
}"#;

/// What `mocket-redis-streams` printed against redis-server 7.0.15, in RESP2 and in RESP3.
const RUST_STREAMS_OUTPUT: &str = "\
group OK
added 1-0
added 2-0
added 3-0
alice read jobs: [1-0 {size=3, task=resize}; 2-0 {size=10, task=crop}]
acked 1
bob read jobs: [3-0 {size=7, task=blur}]
pending 2 2-0..3-0 alice:1,bob:1
info length 3 last 3-0 groups 1 first 1-0 {size=3, task=resize}
restore OK: 1-0 {size=3, task=resize}; 2-0 {size=10, task=crop}; 3-0 {size=7, task=blur}
copy pending 2
";

#[test]
fn rust_crate_stream_api_runs_a_consumer_group_and_copies_the_stream() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-streams");
    let mocks = mocks_file(EMULATED);
    for url in [
        "redis://queue.internal:6379/",
        "redis://queue.internal:6379/?protocol=resp3",
    ] {
        for placement in PLACEMENTS {
            let run = placement.run(&mocks, &[client, url]);
            run.success();
            assert_eq!(
                run.stdout, RUST_STREAMS_OUTPUT,
                "{placement:?} {url}: {}",
                run.stderr
            );
        }
    }
}

/// Two emulated addresses, the second with a password.
const TWO_ADDRESSES: &str = r#"{
  "entries": [
    { "redis": "queue.internal:6379", "emulate": true },
    { "redis": "archive.internal:6380", "emulate": true, "password": "pw" }
  ]
}"#;

#[test]
fn redis_cli_migrates_keys_between_two_emulated_addresses() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(TWO_ADDRESSES);
    let script = "\
        q='redis-cli -h queue.internal'; a='redis-cli --no-auth-warning -h archive.internal -p 6380 -a pw'; \
        $q SET job 1; $q PEXPIRE job 100000; $q RPUSH list x y; \
        $q MIGRATE archive.internal 6380 job 0 1000; \
        $q MIGRATE archive.internal 6380 job 0 1000 AUTH wrong; \
        $q MIGRATE archive.internal 6380 job 0 1000 AUTH pw; \
        $q EXISTS job; $a GET job; $a PTTL job | cut -c1-2; \
        $q SET job 2; $q MIGRATE archive.internal 6380 job 0 1000 AUTH2 default pw; \
        $q MIGRATE archive.internal 6380 job 0 1000 AUTH pw REPLACE COPY; $a GET job; $q GET job; \
        $q MIGRATE archive.internal 6380 '' 2 1000 AUTH pw KEYS list nothing; $q EXISTS list; \
        $a -n 2 LRANGE list 0 -1; \
        $q MIGRATE archive.internal 6380 nothing 0 1000; \
        $q MIGRATE elsewhere.internal 6379 job 0 1000; \
        $q MIGRATE queue.internal 6379 job 0 1000";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    assert_eq!(run.stdout, CLI_MIGRATE_OUTPUT, "{}", run.stderr);
}

/// What redis-cli printed against two redis-servers 7.0.15 (the second with `requirepass
/// pw`): an unknown host cannot be connected to, and a server migrating to itself times out
/// (Redis after the timeout, the emulator at once).
const CLI_MIGRATE_OUTPUT: &str = "\
OK
1
2
ERR Target instance replied with error: NOAUTH Authentication required.

ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.

OK
0
1
99
OK
ERR Target instance replied with error: BUSYKEY Target key name already exists.

OK
2
2
OK
0
x
y
NOKEY
IOERR error or timeout connecting to the client

IOERR error or timeout reading to target instance

";

/// redis-py's `migrate` (one key, several keys with `KEYS`, `COPY`, `REPLACE`, `AUTH`) between
/// two emulated addresses, in RESP2 and RESP3.
const PY_MIGRATE: &str = r#"
import redis
for protocol in (2, 3):
    queue = redis.Redis(host="queue.internal", protocol=protocol, decode_responses=True)
    archive = redis.Redis(host="archive.internal", port=6380, password="pw", protocol=protocol,
                          decode_responses=True)
    queue.flushall()
    archive.flushall()
    queue.hset("order", mapping={"id": "7", "state": "paid"})
    queue.xadd("events", {"n": "1"}, id="1-0")
    queue.sadd("tags", "a", "b")
    print(queue.migrate("archive.internal", 6380, "order", 0, 1000, auth="pw"))
    print(queue.exists("order"), archive.hgetall("order"))
    print(queue.migrate("archive.internal", 6380, ["events", "tags", "none"], 0, 1000,
                        copy=True, auth="pw"))
    print(queue.exists("events", "tags"), archive.xrange("events"), sorted(archive.smembers("tags")))
    try:
        queue.migrate("archive.internal", 6380, "tags", 0, 1000, auth="pw")
    except redis.ResponseError as e:
        print("error:", e)
    print(queue.migrate("archive.internal", 6380, "tags", 0, 1000, replace=True, auth="pw"))
    print(queue.migrate("archive.internal", 6380, "tags", 0, 1000, auth="pw"))
    try:
        queue.migrate("cache.internal", 6379, "events", 0, 1000)
    except redis.ResponseError as e:
        print("error:", e)
"#;

/// What [`PY_MIGRATE`] printed against two redis-servers 7.0.15 (with the names of the hosts
/// replaced by their addresses, and `cache.internal` a name that does not resolve).
const PY_MIGRATE_OUTPUT: &str = "\
OK
0 {'id': '7', 'state': 'paid'}
OK
2 [('1-0', {'n': '1'})] ['a', 'b']
error: Target instance replied with error: BUSYKEY Target key name already exists.
OK
NOKEY
error: IOERR error or timeout connecting to the client
";

#[test]
fn redis_py_migrates_keys_between_two_emulated_addresses_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(TWO_ADDRESSES);
    let expected = PY_MIGRATE_OUTPUT.repeat(2);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, PY_MIGRATE, &[]);
        run.success();
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}
