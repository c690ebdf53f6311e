//! Redis entries and the emulator with clients nobody here wrote: `redis-cli` (RESP2 and
//! `-3`), `nc` typing inline commands, and Python's redis-py (which sends `CLIENT SETINFO` and,
//! with `protocol=3`, `HELLO 3` on connect).

#![forbid(unsafe_code)]

use std::path::Path;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "redis": "cache.internal:6379", "command": ["GET", "greeting"], "response": "hello" },
    { "redis": "cache.internal:6379", "command": ["INCR", "hits"],
      "responses": [1, 2, {"error": "ERR enough"}] },
    { "redis": "cache.internal:6379", "command": ["SET"],
      "match": {"args_regex": ["session:[0-9]+", ".*"]}, "response": {"simple": "OK"} },
    { "redis": "cache.internal:6379", "command": ["LRANGE", "recent", 0, -1],
      "response": ["a", null, 3] },
    { "redis": "sessions.internal:6379", "emulate": true,
      "data": {"greeting": "seeded", "queue": ["a", "b"], "user:1": {"name": "Ada", "age": 36}} }
  ]
}"#;

fn redis_cli(placement: Placement, mocks: &Path, script: &str) -> Run {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    placement.run(mocks, &["sh", "-c", script])
}

/// Python with redis-py, which .ci/run installs.
fn redis_py(placement: Placement, mocks: &Path, program: &str) -> Run {
    need_python_module("redis");
    python(placement, mocks, program, &[])
}

#[test]
fn redis_cli_command_entries_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    let script = "printf 'GET greeting\\nINCR hits\\nincr hits\\nINCR hits\\nSET session:42 x\\n\
                  LRANGE recent 0 -1\\n' | redis-cli -h cache.internal";
    for placement in PLACEMENTS {
        let run = redis_cli(placement, &mocks, script);
        run.success();
        assert_eq!(
            run.stdout, "hello\n1\n2\nERR enough\n\nOK\na\n\n3\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_unmatched_command_gets_an_error_naming_the_closest_entry_and_fails_the_run() {
    let mocks = mocks_file(MOCKS);
    let run = redis_cli(
        Placement::Daemon,
        &mocks,
        "redis-cli -h cache.internal GET greting",
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.starts_with(
            "ERR mocket: no redis entry matches 'GET greting' on cache.internal:6379; \
             closest: #0 GET greeting (argument 1 is \"greting\", expected \"greeting\")"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("unmatched redis cache.internal:6379: GET greting: closest: #0"),
        "{}",
        run.stderr
    );
}

#[test]
fn nc_types_inline_commands() {
    assert!(
        have("nc"),
        "nc is missing (.ci/run installs netcat-openbsd)"
    );
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[
                "sh",
                "-c",
                "printf 'PING\\r\\nGET greeting\\r\\nget \"greeting\"\\n' | nc -N cache.internal 6379",
            ],
        );
        run.success();
        assert_eq!(
            run.stdout, "+PONG\r\n$5\r\nhello\r\n$5\r\nhello\r\n",
            "{placement:?}"
        );
    }
}

#[test]
fn the_emulator_is_shared_by_two_processes_under_one_mocket_run() {
    let mocks = mocks_file(MOCKS);
    let run = redis_cli(
        Placement::Daemon,
        &mocks,
        "redis-cli -h sessions.internal SET shared 'from process one' >/dev/null && \
         redis-cli -h sessions.internal GET shared && redis-cli -h sessions.internal GET greeting && \
         redis-cli -h sessions.internal LPOP queue && redis-cli -h sessions.internal LPOP queue",
    );
    run.success();
    assert_eq!(
        run.stdout, "from process one\nseeded\na\nb\n",
        "{}",
        run.stderr
    );
}

#[test]
fn keys_expire() {
    let mocks = mocks_file(MOCKS);
    // Two processes, so under `mocket run` only: a bare LD_PRELOAD emulates per process.
    let run = redis_cli(
        Placement::Daemon,
        &mocks,
        "printf 'SET t v PX 200\\nGET t\\nSET keep v EX 100\\nTTL keep\\n' | \
         redis-cli -h sessions.internal && sleep 0.5 && \
         printf 'GET t\\nTTL t\\nEXISTS keep\\n' | redis-cli -h sessions.internal",
    );
    run.success();
    assert_eq!(run.stdout, "OK\nv\nOK\n100\n\n-2\n1\n", "{}", run.stderr);
    let program = r#"
import redis, time
r = redis.Redis(host="sessions.internal", port=6379, decode_responses=True)
print(r.set("t", "v", px=200), r.get("t"), r.pttl("t") > 100)
time.sleep(0.4)
print(r.get("t"), r.ttl("t"), r.exists("t"))
"#;
    for placement in PLACEMENTS {
        let run = redis_py(placement, &mocks, program);
        run.success();
        assert_eq!(run.stdout, "True v True\nNone -2 0\n", "{placement:?}");
    }
}

#[test]
fn redis_cli_speaks_resp3() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = redis_cli(
            placement,
            &mocks,
            "printf 'HGETALL user:1\\nZADD z 1.5 a\\nZSCORE z a\\nLRANGE recent 0 -1\\n' | \
             redis-cli -3 -h sessions.internal && redis-cli -3 -h cache.internal LRANGE recent 0 -1",
        );
        run.success();
        assert_eq!(
            run.stdout, "name Ada\nage 36\n1\n1.5\n\na\n\n3\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

const PY_CLIENT: &str = r#"
import redis, sys
for protocol in (2, 3):
    r = redis.Redis(host="sessions.internal", port=6379, protocol=protocol, decode_responses=True)
    r.flushdb()
    print(protocol, r.ping(), r.set("k", "v"), r.get("k"), r.get("missing"))
    r.hset("h", mapping={"a": "1", "b": "2"})
    print(sorted(r.hgetall("h").items()), r.hincrby("h", "a", 5))
    r.rpush("l", "x", "y", "z")
    print(r.lrange("l", 0, -1), r.lpop("l"), r.llen("l"))
    r.sadd("s", "m1", "m2")
    print(sorted(r.smembers("s")), r.sismember("s", "m1"))
    r.zadd("z", {"a": 1.5, "b": 0.5})
    # RESP3 pairs come back as lists, RESP2 ones as tuples (redis-py, as with a real server).
    print([tuple(x) for x in r.zrange("z", 0, -1, withscores=True)], r.zscore("z", "a"))
    print(r.expire("k", 100), r.ttl("k"), r.persist("k"), r.ttl("k"), r.type("h"))
    print(sorted(r.keys("*")), r.exists("k", "h", "nope"), r.delete("k"), r.dbsize())
    try:
        r.incr("h")
    except redis.ResponseError as e:
        print("error", e)
    try:
        r.execute_command("NOSUCH", "a")
    except redis.ResponseError as e:
        print("error", e)
"#;

#[test]
fn redis_py_in_resp2_and_resp3() {
    let mocks = mocks_file(MOCKS);
    let run = redis_py(Placement::Embedded, &mocks, PY_CLIENT);
    // NOSUCH is unknown to Redis too: it is answered with its error and fails no run.
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 18, "{}\n{}", run.stdout, run.stderr);
    let (resp2, resp3) = lines.split_at(9);
    let expected = [
        "True True v None",
        "[('a', '1'), ('b', '2')] 6",
        "['x', 'y', 'z'] x 2",
        "['m1', 'm2'] 1",
        "[('b', 0.5), ('a', 1.5)] 1.5",
        "True 100 True -1 hash",
        "['h', 'k', 'l', 's', 'z'] 2 1 4",
        "error WRONGTYPE Operation against a key holding the wrong kind of value",
        "error unknown command 'NOSUCH', with args beginning with: 'a' ",
    ];
    assert_eq!(resp2[0], format!("2 {}", expected[0]));
    assert_eq!(resp3[0], format!("3 {}", expected[0]));
    for (i, line) in expected.iter().enumerate().skip(1) {
        assert_eq!(resp2[i], *line, "RESP2 line {i}");
        // redis-py parses RESP3 maps, sets and doubles natively: same values.
        assert_eq!(resp3[i], *line, "RESP3 line {i}");
    }
}

const PY_PIPELINE: &str = r#"
import redis
r = redis.Redis(host="sessions.internal", port=6379, decode_responses=True)
p = r.pipeline(transaction=False)
for i in range(1000):
    p.incr("counter")
results = p.execute()
print(len(results), results[0], results[-1], results == list(range(1, 1001)))
with r.pipeline(transaction=True) as t:
    t.set("a", "1").incr("a").lpush("list", "x").get("a")
    print(t.execute())
c = redis.Redis(host="cache.internal", port=6379, decode_responses=True)
p = c.pipeline(transaction=False)
for i in range(1000):
    p.get("greeting")
print(set(p.execute()))
"#;

#[test]
fn pipelines_of_a_thousand_commands_and_transactions() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = redis_py(placement, &mocks, PY_PIPELINE);
        run.success();
        assert_eq!(
            run.stdout, "1000 1 1000 True\n[True, 2, 1, '2']\n{'hello'}\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

const PY_SUBSCRIBER: &str = r#"
import redis, sys
r = redis.Redis(host="sessions.internal", port=6379, decode_responses=True)
p = r.pubsub()
p.subscribe("news")
p.psubscribe("n*")
seen = []
while len(seen) < 2:
    m = p.get_message(timeout=10)
    if m is None:
        sys.exit("no message within 10 s")
    if m["type"] in ("message", "pmessage"):
        seen.append((m["type"], m["channel"], m["data"]))
print(sorted(seen))
"#;

const PY_PUBLISHER: &str = r#"
import redis, time
r = redis.Redis(host="sessions.internal", port=6379)
deadline = time.time() + 10
# Publish once the subscriber (another process) listens on both the channel and the pattern.
while r.publish("news", "hi") < 2:
    if time.time() > deadline:
        raise SystemExit("the subscriber never subscribed")
    time.sleep(0.05)
"#;

#[test]
fn publish_and_subscribe_between_two_processes() {
    need_python_module("redis");
    let mocks = mocks_file(MOCKS);
    let dir = scratch_dir("redis-pubsub");
    std::fs::write(dir.join("sub.py"), PY_SUBSCRIBER).unwrap();
    std::fs::write(dir.join("pub.py"), PY_PUBLISHER).unwrap();
    let script = format!(
        "cd {} && python3 sub.py & sub=$!; python3 {}/pub.py && wait $sub",
        dir.display(),
        dir.display()
    );
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", &script]);
    run.success();
    assert_eq!(
        run.stdout, "[('message', 'news', 'hi'), ('pmessage', 'news', 'hi')]\n",
        "{}",
        run.stderr
    );
}

#[test]
fn publish_and_subscribe_between_connections_of_one_process() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import redis
r = redis.Redis(host="sessions.internal", port=6379, protocol=3, decode_responses=True)
p = r.pubsub()
p.subscribe("news")
print(p.get_message(timeout=5)["type"])
print(redis.Redis(host="sessions.internal", port=6379).publish("news", "hello"))
m = p.get_message(timeout=5)
print(m["type"], m["channel"], m["data"])
"#;
    let run = redis_py(Placement::Embedded, &mocks, program);
    run.success();
    assert_eq!(
        run.stdout, "subscribe\n1\nmessage news hello\n",
        "{}",
        run.stderr
    );
}

#[test]
fn every_command_is_journaled() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("redis-journal").join("journal.jsonl");
    let journal_arg = journal.to_string_lossy().into_owned();
    let script =
        "redis-cli -h cache.internal GET greeting && redis-cli -h sessions.internal SET k v";
    let run = mocket_run(&mocks, &["--journal", &journal_arg], &["sh", "-c", script]);
    run.success();
    let text = std::fs::read_to_string(&journal).expect("journal written");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["protocol"] == "redis")
        .collect();
    let find = |command: serde_json::Value| {
        events
            .iter()
            .find(|v| v["command"] == command)
            .unwrap_or_else(|| panic!("no {command} event in {text}"))
    };
    let get = find(serde_json::json!(["GET", "greeting"]));
    assert_eq!(
        (&get["action"], &get["entry"], &get["host"], &get["port"]),
        (
            &"mocked".into(),
            &0.into(),
            &"cache.internal".into(),
            &6379.into()
        )
    );
    let set = find(serde_json::json!(["SET", "k", "v"]));
    assert_eq!(
        (&set["action"], &set["entry"]),
        (&"mocked".into(), &4.into())
    );
}

#[test]
fn the_rust_redis_crate_against_entries_and_the_emulator() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[
                client,
                "redis://cache.internal:6379/",
                "GET greeting",
                "INCR hits",
                "SET session:7 x",
            ],
        );
        run.success();
        assert_eq!(
            run.stdout, "bulk-string('\"hello\"')\nint(1)\nok\n",
            "{placement:?}: {}",
            run.stderr
        );
        let run = placement.run(
            &mocks,
            &[
                client,
                "redis://sessions.internal:6379/?protocol=resp3",
                "--pipeline",
                "1000",
            ],
        );
        run.success();
        assert_eq!(
            run.stdout, "1000 replies, last Some(1000)\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}
