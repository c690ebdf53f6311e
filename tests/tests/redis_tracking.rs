//! Issue 19, client-side caching (`CLIENT TRACKING`) judged by real clients: redis-py reading
//! RESP3 invalidation pushes on its own connection and RESP2 invalidations on a redirect
//! pub/sub connection, `redis-cli -3` showing pushes, the Rust `redis` crate's push channel, and
//! a write from another process of the tree. Every expected output below is what the same
//! client printed against redis-server 7.0.15.
//!
//! redis-py's own cache (`cache_config`) refuses servers older than 7.4, so the programs turn
//! tracking on themselves, as a caching library built on redis-py does.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// A RESP3 connection with tracking on hears of writes by another connection, by another
/// process (`redis-cli`), and of a flush, as pushes redis-py hands to its invalidation handler.
const RESP3_PROGRAM: &str = r##"
import os, subprocess, time, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
other = redis.Redis(host=host, port=port, decode_responses=True)
other.flushall()
other.set("k", "v1")
conn = redis.Connection(host=host, port=port, protocol=3, decode_responses=True)
conn.connect()
invalidated = []
conn._parser.set_invalidation_push_handler(invalidated.append)
def ask(*words):
    conn.send_command(*words)
    return conn.read_response()
print("tracking", ask("CLIENT", "TRACKING", "on"))
print("get", ask("GET", "k"))
other.set("k", "v2")
time.sleep(0.3)
print("ping", ask("PING"), invalidated)
print("get", ask("GET", "k"))
subprocess.run(["redis-cli", "-h", host, "-p", str(port), "SET", "k", "v3"], check=True, stdout=subprocess.DEVNULL)
time.sleep(0.3)
print("ping", ask("PING"), invalidated)
print("get", ask("MGET", "k", "j"))
other.flushdb()
time.sleep(0.3)
print("ping", ask("PING"), invalidated)
print("info", ask("CLIENT", "TRACKINGINFO"))
"##;

const RESP3_OUTPUT: &str = "\
tracking OK\n\
get v1\n\
ping PONG [['invalidate', ['k']]]\n\
get v2\n\
ping PONG [['invalidate', ['k']], ['invalidate', ['k']]]\n\
get ['v3', None]\n\
ping PONG [['invalidate', ['k']], ['invalidate', ['k']], ['invalidate', None]]\n\
info {'flags': ['on'], 'redirect': 0, 'prefixes': []}\n";

/// RESP2: invalidations reach a pub/sub connection subscribed to `__redis__:invalidate`, the
/// connection the tracking one redirects to, in default and BCAST modes.
const RESP2_REDIRECT_PROGRAM: &str = r##"
import os, time, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
r = redis.Redis(host=host, port=port, decode_responses=True, protocol=2)
r.flushall()
p = r.pubsub()
p.subscribe("__redis__:invalidate")
print("subscribed", p.get_message(timeout=1))
listener = [c["id"] for c in r.client_list(_type="pubsub")][0]
tracker = redis.Redis(host=host, port=port, decode_responses=True, single_connection_client=True, protocol=2)
print("tracking", tracker.execute_command("CLIENT", "TRACKING", "on", "REDIRECT", listener))
print("getredir", tracker.client_getredir() == int(listener))
print("get", tracker.get("k"), tracker.mget("a", "b"))
r.mset({"k": "1", "a": "2"})
for _ in range(2):
    print("message", p.get_message(timeout=1))
info = tracker.client_info()
print("flags", info["flags"], info["redir"] == listener)
print("bcast", tracker.execute_command("CLIENT", "TRACKING", "off"), tracker.execute_command("CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", listener, "PREFIX", "user:"))
r.set("user:1", "x")
r.set("order:1", "y")
print("message", p.get_message(timeout=1))
print("none", p.get_message(timeout=0.3))
print("tracking_clients", r.info("clients")["tracking_clients"], r.info("stats")["tracking_total_prefixes"])
"##;

const RESP2_REDIRECT_OUTPUT: &str = "\
subscribed {'type': 'subscribe', 'pattern': None, 'channel': '__redis__:invalidate', 'data': 1}\n\
tracking OK\n\
getredir True\n\
get None [None, None]\n\
message {'type': 'message', 'pattern': None, 'channel': '__redis__:invalidate', 'data': ['k']}\n\
message {'type': 'message', 'pattern': None, 'channel': '__redis__:invalidate', 'data': ['a']}\n\
flags t True\n\
bcast OK OK\n\
message {'type': 'message', 'pattern': None, 'channel': '__redis__:invalidate', 'data': ['user:1']}\n\
none None\n\
tracking_clients 1 1\n";

#[test]
fn redis_py_resp3_tracking_hears_of_writes_by_another_connection_and_another_process() {
    need_python_module("redis");
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    // The daemon serves the whole tree: the redis-cli child writes to the same emulator.
    let run = python(Placement::Daemon, &mocks, RESP3_PROGRAM, &[]);
    run.success();
    assert_eq!(run.stdout, RESP3_OUTPUT, "{}", run.stderr);
}

#[test]
fn redis_py_resp2_tracking_redirects_invalidations_to_a_pubsub_connection() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, RESP2_REDIRECT_PROGRAM, &[]);
        run.success();
        assert_eq!(
            run.stdout, RESP2_REDIRECT_OUTPUT,
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn redis_cli_resp3_shows_the_invalidation_of_its_own_write() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "printf 'CLIENT TRACKING on\\nGET k\\nSET k v\\nGET k\\nPING\\n' | \
                  redis-cli -3 --show-pushes yes -h sessions.internal";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    // redis-cli prints the push it read after SET's reply before GET's reply.
    assert_eq!(
        run.stdout, "OK\n\nOK\ninvalidate\nk\nv\nPONG\n",
        "{}",
        run.stderr
    );
}

/// The Rust `redis` crate's push channel, in RESP3.
#[test]
fn the_rust_redis_crate_receives_invalidation_pushes() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-tracking");
    let mocks = mocks_file(EMULATED);
    // What the same client printed against redis-server 7.0.15.
    let expected = "ok\nnil\nok\nsimple-string(\"PONG\")\n\
                    push Invalidate [array([bulk-string('\"k\"')])]\n\
                    bulk-string('\"v\"')\nok\nsimple-string(\"PONG\")\npush Invalidate [nil]\n";
    for placement in PLACEMENTS {
        let argv = [
            client,
            "redis://sessions.internal:6379/?protocol=resp3",
            "CLIENT TRACKING on",
            "GET k",
            "SET k v",
            "PING",
            "GET k",
            "FLUSHDB",
            "PING",
        ];
        let run = placement.run(&mocks, &argv);
        run.success();
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

/// Command entries keep no data to invalidate: `CLIENT TRACKING` is refused, saying how to fix
/// it, and counted as unmatched (Redis has it), so the run fails.
#[test]
fn tracking_on_an_address_without_emulator_is_refused_and_fails_the_run() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(
        r#"{ "entries": [ { "redis": "cache.internal:6379", "command": ["GET", "k"], "response": "v" } ] }"#,
    );
    let run = Placement::Daemon.run(
        &mocks,
        &[
            "redis-cli",
            "-h",
            "cache.internal",
            "CLIENT",
            "TRACKING",
            "on",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("client-side caching needs an emulated address: CLIENT TRACKING"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("emulate: true"), "{}", run.stdout);
    assert!(run.stderr.contains("1 unmatched"), "{}", run.stderr);
}
