//! Issue 19, the rest of Redis 7 in the emulator, judged by real clients: redis-py (RESP2 and
//! RESP3), `redis-cli` and the Rust `redis` crate.

#![forbid(unsafe_code)]

use std::path::Path;

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// Python with redis-py, which .ci/run installs.
fn redis_py(placement: Placement, mocks: &Path, program: &str) -> Run {
    need_python_module("redis");
    python(placement, mocks, program, &[])
}

/// Optimistic locking as redis-py's documentation writes it, with a second client changing
/// the watched key between `WATCH` and `EXEC`: the first attempt must raise `WatchError`.
const WATCH_PROGRAM: &str = r#"
import redis
for protocol in (2, 3):
    a = redis.Redis(host="sessions.internal", protocol=protocol)
    b = redis.Redis(host="sessions.internal", protocol=protocol)
    a.set("balance", 10)
    attempts = 0
    with a.pipeline() as pipe:
        while True:
            try:
                pipe.watch("balance")
                current = int(pipe.get("balance"))
                attempts += 1
                if attempts == 1:
                    b.incrby("balance", 5)
                pipe.multi()
                pipe.set("balance", current - 1)
                pipe.execute()
                break
            except redis.WatchError:
                print("WatchError", protocol)
                continue
    print("attempts", attempts, "balance", a.get("balance").decode())
    # UNWATCH: a change after it no longer aborts.
    with a.pipeline() as pipe:
        pipe.watch("balance")
        pipe.unwatch()
        b.set("balance", 1)
        pipe.multi()
        pipe.get("balance")
        print("after unwatch", pipe.execute())
"#;

#[test]
fn redis_py_watch_error_when_another_connection_changes_the_key() {
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = redis_py(placement, &mocks, WATCH_PROGRAM);
        run.success();
        assert_eq!(
            run.stdout,
            "WatchError 2\nattempts 2 balance 14\nafter unwatch [b'1']\n\
             WatchError 3\nattempts 2 balance 14\nafter unwatch [b'1']\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_run_that_only_probes_commands_redis_lacks_exits_0() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    // What client libraries probe: module commands and subcommands of newer servers.
    let probes = "redis-cli -h sessions.internal JSON.GET k; \
                  redis-cli -h sessions.internal CLIENT NOSUCH; \
                  redis-cli -h sessions.internal SET k v";
    let run = mocket_run(&mocks, &[], &["sh", "-c", probes]);
    run.success();
    assert_eq!(
        run.stdout,
        // redis-cli prints an empty line after an error.
        "ERR unknown command 'JSON.GET', with args beginning with: 'k' \n\n\
         ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\n\nOK\n",
        "{}",
        run.stderr
    );
    // A command Redis 7 has and the emulator lacks is a gap: the run fails and says which.
    let gap = mocket_run(
        &mocks,
        &[],
        &["redis-cli", "-h", "sessions.internal", "FAILOVER", "ABORT"],
    );
    assert_eq!(gap.code, Some(1), "{gap:?}");
    assert!(
        gap.stderr
            .contains("FAILOVER ABORT: unknown command: the emulator does not implement it"),
        "{}",
        gap.stderr
    );
}

/// redis-py's `Lock`: acquire with `SET NX PX`, then its Lua scripts (run by `EVALSHA`, loaded
/// on `NOSCRIPT`) to extend, reacquire and release, and a second client that cannot release it.
const LOCK_PROGRAM: &str = r#"
import redis
for protocol in (2, 3):
    r = redis.Redis(host="sessions.internal", protocol=protocol)
    other = redis.Redis(host="sessions.internal", protocol=protocol)
    lock = r.lock("resource", timeout=10)
    print("acquired", lock.acquire(blocking=False))
    print("second acquire", other.lock("resource", timeout=10).acquire(blocking=False))
    print("extended", lock.extend(5), 10000 < r.pttl("resource") <= 15000)
    print("reacquired", lock.reacquire(), 9000 < r.pttl("resource") <= 10000)
    stolen = other.lock("resource")
    stolen.local.token = b"not-the-owner"
    try:
        stolen.release()
    except redis.exceptions.LockNotOwnedError as e:
        print("LockNotOwnedError")
    lock.release()
    print("released", r.exists("resource"))
    r.script_flush()
"#;

#[test]
fn redis_py_lock_runs_its_lua_scripts_in_resp2_and_resp3() {
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = redis_py(placement, &mocks, LOCK_PROGRAM);
        run.success();
        let once = "acquired True\nsecond acquire False\nextended True True\n\
                    reacquired True True\nLockNotOwnedError\nreleased 0\n";
        assert_eq!(run.stdout, once.repeat(2), "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn the_rust_redis_crate_script_helper_loads_and_runs_scripts() {
    let mocks = mocks_file(EMULATED);
    let client = build_dir().join("mocket-redis-script");
    let client = client.to_str().unwrap();
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &[client, "redis://sessions.internal/"]);
        run.success();
        assert_eq!(
            run.stdout,
            "acquired Some(\"OK\")\nrelease with another token 0\nrelease with our token 1\n\
             lock now None\nerror ResponseError: value is not an integer or out of range script: \
             2bab3b661081db58bd2341920e0ba7cf5dc77b25, on @user_script:1.\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

/// Blocking pops with redis-py: woken by a push from another process (the emulator is shared by
/// the process tree under `mocket run`), timing out with nil, and woken by `CLIENT UNBLOCK`.
const BLOCKING_PROGRAM: &str = r#"
import subprocess, sys, threading, time
import redis
PUSH = "import time, redis; time.sleep(0.3); redis.Redis(host='sessions.internal').{}"
for protocol in (2, 3):
    r = redis.Redis(host="sessions.internal", protocol=protocol)
    pusher = subprocess.Popen([sys.executable, "-c", PUSH.format("rpush('jobs', 'j1')")])
    started = time.monotonic()
    print("blpop", r.blpop(["other", "jobs"], timeout=5), time.monotonic() - started >= 0.25)
    pusher.wait()
    started = time.monotonic()
    print("timeout", r.blpop(["jobs"], timeout=0.2), time.monotonic() - started >= 0.19)
    pusher = subprocess.Popen([sys.executable, "-c", PUSH.format("zadd('ranks', {'ada': 3})")])
    print("bzpopmin", r.bzpopmin("ranks", timeout=5))
    pusher.wait()
    waiter = redis.Redis(host="sessions.internal", protocol=protocol)
    waiter_id = waiter.client_id()
    threading.Timer(0.3, lambda: print("unblock", r.client_unblock(waiter_id, error=True))).start()
    try:
        waiter.brpop(["nothing"], timeout=0)
    except redis.exceptions.ResponseError as e:
        print("woken:", e)
"#;

#[test]
fn redis_py_blocking_pops_wake_on_a_push_from_another_process() {
    let mocks = mocks_file(EMULATED);
    let run = redis_py(Placement::Daemon, &mocks, BLOCKING_PROGRAM);
    run.success();
    // redis-py gives RESP2 arrays as tuples and RESP3 ones as lists, as with a real server.
    let once = |open: &str, close: &str| {
        format!(
            "blpop {open}b'jobs', b'j1'{close} True\ntimeout None True\n\
             bzpopmin {open}b'ranks', b'ada', 3.0{close}\nunblock True\n\
             woken: UNBLOCKED client unblocked via CLIENT UNBLOCK\n"
        )
    };
    assert_eq!(
        run.stdout,
        once("(", ")") + &once("[", "]"),
        "{}",
        run.stderr
    );
}

#[test]
fn redis_cli_blmove_waits_for_a_push_and_times_out_like_redis() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "out=$(mktemp); redis-cli -h sessions.internal BLMOVE src dst LEFT RIGHT 2 > $out & \
                  sleep 0.3; redis-cli -h sessions.internal RPUSH src moved; wait; cat $out; rm -f $out; \
                  redis-cli -h sessions.internal LRANGE dst 0 -1; \
                  redis-cli -h sessions.internal BRPOP nothing 0.1";
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &["sh", "-c", script]);
        run.success();
        // Embedded: each redis-cli has its own emulator, so the push cannot reach the waiter.
        let expected = match placement {
            Placement::Daemon => "1\nmoved\nmoved\n\n",
            Placement::Embedded => "1\n\n\n\n",
        };
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

/// The commands added for issue 19 through redis-py's own methods, in RESP2 and RESP3.
const FAMILIES_PROGRAM: &str = r#"
import redis
for protocol in (2, 3):
    r = redis.Redis(host="sessions.internal", protocol=protocol, decode_responses=True)
    r.flushall()
    r.set("s", "Hello World")
    print(r.getrange("s", 0, 4), r.setrange("s", 6, "Redis"), r.get("s"))
    print(r.getex("s", ex=100), r.ttl("s"), r.getex("s", persist=True), r.ttl("s"))
    r.rpush("l", "a", "b", "c", "b")
    print(r.lpos("l", "b"), r.lpos("l", "b", rank=-1), r.lpos("l", "b", count=0))
    print(r.linsert("l", "BEFORE", "c", "x"), r.lset("l", 0, "A"), r.lrange("l", 0, -1))
    print(r.lmove("l", "m", "LEFT", "RIGHT"), r.rpoplpush("l", "m"), r.lrange("m", 0, -1))
    r.sadd("s1", "1", "2", "3")
    r.sadd("s2", "2", "3", "4")
    print(sorted(r.sinter("s1", "s2")), sorted(r.sunion("s1", "s2")), sorted(r.sdiff("s1", "s2")))
    print(r.sinterstore("dst", ["s1", "s2"]), r.smove("s1", "s2", "1"), sorted(r.sscan_iter("s2")))
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    print(r.zrevrangebyscore("z", 3, 1), r.zrevrank("z", "a"), r.zmscore("z", ["a", "x"]))
    print(r.zremrangebyscore("z", 1, 1), r.zpopmin("z"), r.zpopmax("z", 2), r.zcard("z"))
    r.hset("h", mapping={"f1": "v1", "f2": "v2"})
    print(sorted(r.hscan_iter("h")), r.hstrlen("h", "f1"), r.touch("h", "s", "nope"))
    r.zadd("z", {"c": 3})
    print(sorted(r.zscan_iter("z")))
"#;

#[test]
fn redis_py_uses_the_added_commands_in_resp2_and_resp3() {
    let mocks = mocks_file(EMULATED);
    let run = redis_py(Placement::Embedded, &mocks, FAMILIES_PROGRAM);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 22, "{}\n{}", run.stdout, run.stderr);
    let (resp2, resp3) = lines.split_at(11);
    assert_eq!(resp2[0], "Hello 11 Hello Redis");
    assert_eq!(resp2[1], "Hello Redis 100 Hello Redis -1");
    assert_eq!(resp2[2], "1 3 [1, 3]");
    assert_eq!(resp2[3], "5 True ['A', 'b', 'x', 'c', 'b']");
    assert_eq!(resp2[4], "A b ['b', 'A']");
    assert_eq!(resp2[5], "['2', '3'] ['1', '2', '3', '4'] ['1']");
    assert_eq!(resp2[6], "2 True ['1', '2', '3', '4']");
    assert_eq!(resp2[7], "['c', 'b', 'a'] 3 [1.0, None]");
    assert_eq!(resp2[10], "[('c', 3.0)]");
    assert_eq!(resp2[9], "[('f1', 'v1'), ('f2', 'v2')] 2 2");
    // redis-py answers pairs as tuples in RESP2 and lists in RESP3; ZPOPMIN without a count
    // is one flat pair in RESP3 (the differential test checks those bytes against redis-server).
    assert_eq!(resp2[8], "1 [('b', 2.0)] [('d', 4.0), ('c', 3.0)] 0");
    assert_eq!(resp3[8], "1 ['b', 2.0] [['d', 4.0], ['c', 3.0]] 0");
    for i in [0, 1, 2, 3, 4, 5, 6, 7, 9, 10] {
        assert_eq!(resp2[i], resp3[i], "line {i}");
    }
}
