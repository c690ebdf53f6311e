//! Issue 19, streams and HyperLogLog in the emulator, judged by real clients: redis-py (RESP2
//! and RESP3), `redis-cli` and the Rust `redis` crate.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "events.internal:6379", "emulate": true }
  ]
}"#;

/// A producer and a consumer group as redis-py's documentation writes them: XADD, XRANGE,
/// XREAD, XGROUP CREATE, XREADGROUP `>`, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO, and
/// HyperLogLog, in RESP2 and RESP3.
const CONSUMER_FLOW: &str = r#"
import redis
for protocol in (2, 3):
    r = redis.Redis(host="events.internal", protocol=protocol, decode_responses=True)
    r.flushall()
    for i in range(1, 4):
        r.xadd("orders", {"n": str(i)}, id=f"{i}-0")
    print(r.xlen("orders"), r.type("orders"), r.xrange("orders", count=2))
    print(r.xrevrange("orders", count=1), r.xread({"orders": "2-0"}))
    print(r.xgroup_create("orders", "billing", id="0"))
    print(r.xreadgroup("billing", "alice", {"orders": ">"}, count=2))
    print(r.xreadgroup("billing", "bob", {"orders": ">"}))
    print(r.xack("orders", "billing", "1-0"))
    pending = r.xpending("orders", "billing")
    print(pending["pending"], pending["min"], pending["max"], pending["consumers"])
    print([(p["message_id"], p["consumer"], p["times_delivered"])
           for p in r.xpending_range("orders", "billing", "-", "+", 10)])
    print(r.xclaim("orders", "billing", "carol", 0, ["2-0"], justid=True))
    print(r.xautoclaim("orders", "billing", "dave", 0, "0-0", justid=True))
    groups = r.xinfo_groups("orders")
    print([(g["name"], g["consumers"], g["pending"], g["last-delivered-id"], g["lag"]) for g in groups])
    print(sorted((c["name"], c["pending"]) for c in r.xinfo_consumers("orders", "billing")))
    info = r.xinfo_stream("orders")
    print(info["length"], info["last-generated-id"], info["first-entry"], info["groups"])
    print(r.xtrim("orders", maxlen=1), r.xdel("orders", "3-0"), r.xlen("orders"))
    print(r.pfadd("visitors", "a", "b", "c", "a"), r.pfcount("visitors"))
    r.pfadd("other", "c", "d")
    print(r.pfmerge("all", "visitors", "other"), r.pfcount("all"), r.pfcount("visitors", "other"))
    try:
        r.xadd("orders", {"n": "0"}, id="1-0")
    except redis.ResponseError as e:
        print("error:", e)
"#;

#[test]
fn redis_py_consumer_group_flow_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, CONSUMER_FLOW, &[]);
        run.success();
        assert_eq!(run.stdout, REAL_REDIS_FLOW, "{placement:?}: {}", run.stderr);
    }
}

/// What [`CONSUMER_FLOW`] prints against redis-server 7.0.15.
const REAL_REDIS_FLOW: &str = r#"3 stream [('1-0', {'n': '1'}), ('2-0', {'n': '2'})]
[('3-0', {'n': '3'})] [['orders', [('3-0', {'n': '3'})]]]
True
[['orders', [('1-0', {'n': '1'}), ('2-0', {'n': '2'})]]]
[['orders', [('3-0', {'n': '3'})]]]
1
2 2-0 3-0 [{'name': 'alice', 'pending': 1}, {'name': 'bob', 'pending': 1}]
[('2-0', 'alice', 1), ('3-0', 'bob', 1)]
['2-0']
['2-0', '3-0']
[('billing', 4, 2, '3-0', 0)]
[('alice', 0), ('bob', 0), ('carol', 0), ('dave', 2)]
3 3-0 ('1-0', {'n': '1'}) 1
0 1 2
1 3
True 4 4
error: The ID specified in XADD is equal or smaller than the target stream top item
3 stream [('1-0', {'n': '1'}), ('2-0', {'n': '2'})]
[('3-0', {'n': '3'})] {'orders': [[('3-0', {'n': '3'})]]}
True
{'orders': [[('1-0', {'n': '1'}), ('2-0', {'n': '2'})]]}
{'orders': [[('3-0', {'n': '3'})]]}
1
2 2-0 3-0 [{'name': 'alice', 'pending': 1}, {'name': 'bob', 'pending': 1}]
[('2-0', 'alice', 1), ('3-0', 'bob', 1)]
['2-0']
['2-0', '3-0']
[('billing', 4, 2, '3-0', 0)]
[('alice', 0), ('bob', 0), ('carol', 0), ('dave', 2)]
3 3-0 ('1-0', {'n': '1'}) 1
0 1 2
1 3
True 4 4
error: The ID specified in XADD is equal or smaller than the target stream top item
"#;

/// XREAD BLOCK with `$` in one process, woken by XADD from another; XREADGROUP BLOCK `>` woken
/// the same way; a timeout answers None after the time asked.
const BLOCKING_READS: &str = r#"
import subprocess, sys, time
import redis
ADD = "import time, redis; time.sleep(0.3); redis.Redis(host='events.internal').xadd('{}', {{'k': 'v'}}, id='{}')"
for protocol in (2, 3):
    r = redis.Redis(host="events.internal", protocol=protocol, decode_responses=True)
    r.flushall()
    r.xadd("feed", {"old": "1"}, id="1-0")
    adder = subprocess.Popen([sys.executable, "-c", ADD.format("feed", "5-0")])
    started = time.monotonic()
    got = r.xread({"feed": "$"}, block=5000)
    print("xread", got, time.monotonic() - started >= 0.25)
    adder.wait()
    started = time.monotonic()
    print("timeout", r.xread({"feed": "$"}, block=200), time.monotonic() - started >= 0.19)
    r.xgroup_create("feed", "workers", id="$")
    adder = subprocess.Popen([sys.executable, "-c", ADD.format("feed", "6-0")])
    print("xreadgroup", r.xreadgroup("workers", "w1", {"feed": ">"}, block=5000))
    adder.wait()
    print("pending", r.xpending("feed", "workers")["pending"], r.xack("feed", "workers", "6-0"))
"#;

#[test]
fn redis_py_xread_block_wakes_on_xadd_from_another_process() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    let run = python(Placement::Daemon, &mocks, BLOCKING_READS, &[]);
    run.success();
    // redis-py turns the nil of a timeout into an empty list (RESP2) or dict (RESP3).
    let once = |feed: &str, entry5: &str, entry6: &str, empty: &str| {
        format!(
            "xread {feed}{entry5} True\ntimeout {empty} True\nxreadgroup {feed}{entry6}\npending 1 1\n"
        )
    };
    let resp2 = once(
        "[['feed', ",
        "[('5-0', {'k': 'v'})]]]",
        "[('6-0', {'k': 'v'})]]]",
        "[]",
    );
    let resp3 = once(
        "{'feed': ",
        "[[('5-0', {'k': 'v'})]]}",
        "[[('6-0', {'k': 'v'})]]}",
        "{}",
    );
    assert_eq!(run.stdout, resp2 + &resp3, "{}", run.stderr);
}

#[test]
fn redis_cli_xread_block_waits_for_xadd_and_times_out() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h events.internal XADD s 1-1 a 1 >/dev/null; \
                  out=$(mktemp); redis-cli -h events.internal XREAD BLOCK 3000 STREAMS s '$' > $out & \
                  sleep 0.3; redis-cli -h events.internal XADD s 2-1 b 2; wait; cat $out; rm -f $out; \
                  redis-cli -h events.internal XREAD BLOCK 100 STREAMS s '$'; \
                  redis-cli -h events.internal PFADD hll x y z; \
                  redis-cli -h events.internal PFCOUNT hll";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    assert_eq!(run.stdout, "2-1\ns\n2-1\nb\n2\n\n1\n3\n", "{}", run.stderr);
}
