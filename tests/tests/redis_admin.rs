//! Issue 19, server administration (`INFO`, `CONFIG`, `ACL`, `SLOWLOG`, `MEMORY`, `LATENCY`)
//! judged by real clients: redis-py in RESP2 and RESP3 and `redis-cli`. Every expected output
//! below is what the same client printed against redis-server 7.0.15.

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// redis-py's own methods and reply parsing for each administration command family.
const ADMIN_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    r.config_resetstat()
    print("protocol", protocol)
    r.set("k", "v")
    r.get("k")
    r.get("missing")
    stats = r.info("stats")
    print("hits", stats["keyspace_hits"], stats["keyspace_misses"], stats["total_commands_processed"])
    print("cmdstat_get", r.info("commandstats")["cmdstat_get"]["calls"])
    print("keyspace", r.info("keyspace"))
    print("sections", [k for k in ("redis_version", "connected_clients", "used_memory", "role", "cluster_enabled") if k in r.info()])
    print("config", r.config_get("maxmemory-policy"), r.config_set("maxmemory-policy", "allkeys-lru"), r.config_get("maxmemory-policy"))
    r.config_set("maxmemory-policy", "noeviction")
    try:
        r.config_set("maxmemory-policy", "sometimes")
    except redis.ResponseError as e:
        print("config error", e)
    print("setuser", r.acl_setuser("app", enabled=True, passwords=["+secret"], keys=["app:*"], commands=["+@all", "-flushall"]))
    a = redis.Redis(host=host, port=port, protocol=protocol, username="app", password="secret", decode_responses=True)
    print("whoami", a.acl_whoami(), a.set("app:1", "x"))
    for call in (a.flushall, lambda: a.get("other")):
        try:
            call()
        except redis.exceptions.NoPermissionError as e:
            print("noperm", e)
    print("users", r.acl_users(), r.acl_deluser("app"))
    r.config_set("slowlog-log-slower-than", 0)
    r.set("slow", "1")
    print("slowlog", r.slowlog_get(1)[0]["command"])
    r.config_set("slowlog-log-slower-than", 10000)
    r.slowlog_reset()
    print("memory", r.memory_usage("missing"), r.latency_latest())
    a.close()
    r.close()
"##;

/// What redis-server 7.0.15 made the program print.
const ADMIN_OUTPUT: &str = "\
protocol 2\n\
hits 1 1 4\n\
cmdstat_get 2\n\
keyspace {'db0': {'keys': 1, 'expires': 0, 'avg_ttl': 0}}\n\
sections ['redis_version', 'connected_clients', 'used_memory', 'role', 'cluster_enabled']\n\
config {'maxmemory-policy': 'noeviction'} True {'maxmemory-policy': 'allkeys-lru'}\n\
config error CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\n\
setuser True\n\
whoami app True\n\
noperm this user has no permissions to run the 'flushall' command\n\
noperm this user has no permissions to access one of the keys used as arguments\n\
users ['app', 'default'] 1\n\
slowlog b'SET slow 1'\n\
memory None []\n\
protocol 3\n\
hits 1 1 4\n\
cmdstat_get 2\n\
keyspace {'db0': {'keys': 1, 'expires': 0, 'avg_ttl': 0}}\n\
sections ['redis_version', 'connected_clients', 'used_memory', 'role', 'cluster_enabled']\n\
config {'maxmemory-policy': 'noeviction'} True {'maxmemory-policy': 'allkeys-lru'}\n\
config error CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\n\
setuser True\n\
whoami app True\n\
noperm this user has no permissions to run the 'flushall' command\n\
noperm this user has no permissions to access one of the keys used as arguments\n\
users ['app', 'default'] 1\n\
slowlog b'SET slow 1'\n\
memory None []\n\
";

#[test]
fn redis_py_reads_info_config_acl_slowlog_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, ADMIN_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, ADMIN_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn redis_cli_sets_a_password_with_config_set_and_counts_commands() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h sessions.internal CONFIG SET requirepass s3cret; \
                  redis-cli -h sessions.internal GET k; \
                  redis-cli -h sessions.internal --no-auth-warning -a s3cret SET k v; \
                  redis-cli -h sessions.internal --no-auth-warning -a s3cret INFO commandstats \
                  | grep -c '^cmdstat_set:calls=1,'; \
                  redis-cli -h sessions.internal --no-auth-warning -a s3cret CONFIG GET maxmemory";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    assert_eq!(
        run.stdout, "OK\nNOAUTH Authentication required.\n\nOK\n1\nmaxmemory\n0\n",
        "{}",
        run.stderr
    );
}
