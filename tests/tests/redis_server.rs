//! Issue 19, the server side of the Redis emulator judged by real clients: `AUTH` with an
//! entry's `password` and `users` (redis-py in RESP2 and RESP3, `redis-cli -a`, the Rust
//! `redis` crate), `mocket check` on a broken `password`, and sharded pub/sub.

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;

use mocket_tests::*;

const SECURED: &str = r#"{
  "entries": [
    { "redis": "secure.internal:6379", "emulate": true, "password": "s3cret",
      "users": { "app": "app-pw", "retired": { "password": "old", "enabled": false } } },
    { "redis": "open.internal:6379", "emulate": true }
  ]
}"#;

fn redis_py(placement: Placement, mocks: &Path, program: &str) -> Run {
    need_python_module("redis");
    python(placement, mocks, program, &[])
}

/// What redis-py's users write: `password=` (and `username=`), sent as `AUTH` in RESP2 and as
/// `HELLO 3 AUTH` in RESP3.
const AUTH_PROGRAM: &str = r#"
import redis
for protocol in (2, 3):
    r = redis.Redis(host="secure.internal", password="s3cret", protocol=protocol)
    r.set("k", "v")
    print(protocol, "password", r.get("k"), r.client_info()["user"])
    app = redis.Redis(host="secure.internal", username="app", password="app-pw", protocol=protocol)
    print(protocol, "user", app.get("k"), app.client_info()["user"])
    for kwargs in ({}, {"password": "wrong"}, {"username": "retired", "password": "old"}):
        try:
            redis.Redis(host="secure.internal", protocol=protocol, **kwargs).get("k")
            print(protocol, "no error", kwargs)
        except redis.exceptions.AuthenticationError as e:
            print(protocol, "AuthenticationError", e)
        except redis.exceptions.ResponseError as e:
            print(protocol, "ResponseError", e)
    try:
        redis.Redis(host="open.internal", password="x", protocol=protocol).ping()
        print(protocol, "open accepted a password")
    except redis.exceptions.AuthenticationError as e:
        print(protocol, "open:", e)
"#;

#[test]
fn redis_py_authenticates_with_password_and_username_in_resp2_and_resp3() {
    let mocks = mocks_file(SECURED);
    for placement in PLACEMENTS {
        let run = redis_py(placement, &mocks, AUTH_PROGRAM);
        run.success();
        let mut expected = String::new();
        for p in [2, 3] {
            // RESP3 connects with `HELLO 3`, which Redis refuses with its own NOAUTH text
            // before authentication.
            // An entry without `password` or `users` accepts any AUTH (DESIGN.md 6a).
            let open = "open accepted a password";
            let unauthenticated = if p == 2 {
                "Authentication required."
            } else {
                "HELLO must be called with the client already authenticated, otherwise \
                 the HELLO AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time"
            };
            expected.push_str(&format!(
                "{p} password b'v' default\n\
                 {p} user b'v' app\n\
                 {p} AuthenticationError {unauthenticated}\n\
                 {p} AuthenticationError invalid username-password pair or user is disabled.\n\
                 {p} AuthenticationError invalid username-password pair or user is disabled.\n\
                 {p} {open}\n"
            ));
        }
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn redis_cli_needs_dash_a_on_an_address_with_a_password() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(SECURED);
    let script = "redis-cli -h secure.internal SET k v; \
                  redis-cli -h secure.internal -a s3cret --no-auth-warning SET k v; \
                  redis-cli -h secure.internal -a s3cret --no-auth-warning GET k; \
                  redis-cli -h secure.internal --user app --pass app-pw --no-auth-warning GET k; \
                  redis-cli -h secure.internal -a nope --no-auth-warning GET k";
    let run = mocket_run(&mocks, &[], &["sh", "-c", script]);
    assert_eq!(
        run.stdout,
        // redis-cli prints an empty line after an error, and a failed AUTH on stderr.
        "NOAUTH Authentication required.\n\nOK\nv\nv\nNOAUTH Authentication required.\n\n",
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("AUTH failed: WRONGPASS invalid username-password pair or user is disabled."),
        "{}",
        run.stderr
    );
}

#[test]
fn the_rust_redis_crate_authenticates_from_its_url() {
    let mocks = mocks_file(SECURED);
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    for placement in PLACEMENTS {
        let good = placement.run(
            &mocks,
            &[
                client,
                "redis://:s3cret@secure.internal/",
                "SET k v",
                "GET k",
            ],
        );
        good.success();
        assert_eq!(
            good.stdout, "ok\nbulk-string('\"v\"')\n",
            "{placement:?}: {}",
            good.stderr
        );
        let user = placement.run(
            &mocks,
            &[client, "redis://app:app-pw@secure.internal/", "GET k"],
        );
        user.success();
        let bad = placement.run(&mocks, &[client, "redis://:nope@secure.internal/", "GET k"]);
        assert_eq!(bad.code, Some(1), "{placement:?}: {bad:?}");
        assert!(
            // The crate words a WRONGPASS reply itself.
            bad.stderr.contains("Password authentication failed"),
            "{placement:?}: {}",
            bad.stderr
        );
        let none = placement.run(&mocks, &[client, "redis://secure.internal/", "GET k"]);
        none.success();
        assert_eq!(
            none.stdout, "error: \"NOAUTH\": Authentication required.\n",
            "{placement:?}: {}",
            none.stderr
        );
    }
}

#[test]
fn mocket_check_names_the_line_column_and_key_of_a_bad_password() {
    let mocks = mocks_file(
        "{\"entries\": [\n  {\"redis\": \"s.internal\", \"emulate\": true,\n   \"users\": {\"app\": {\"password\": 7}}}]}\n",
    );
    let mut check = Command::new(mocket_bin());
    check.args(["check", mocks.to_str().unwrap()]);
    let run = run(check);
    run.expect_code(2);
    let expected = format!("{}:3:", mocks.display());
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("entries[0].users.app.password: a password must be a string, found a number"),
        "{}",
        run.stderr
    );
}

/// redis-py's sharded pub/sub: a subscriber in one process, the publisher in another.
const SHARDED_SUBSCRIBER: &str = r#"
import redis, subprocess, sys
protocol = int(sys.argv[1])
r = redis.Redis(host="open.internal", protocol=protocol)
p = r.pubsub()
p.ssubscribe("orders")
print(p.get_sharded_message(timeout=5)["type"])
publisher = "import redis; r = redis.Redis(host='open.internal'); " \
    "print(r.spublish('orders', 'o1'), r.publish('orders', 'plain'), " \
    "r.pubsub_shardnumsub('orders', 'none'), r.pubsub_shardchannels())"
print(subprocess.run([sys.executable, "-c", publisher], capture_output=True, text=True, check=True).stdout.strip())
m = p.get_sharded_message(timeout=5)
print(m["type"], m["channel"], m["data"])
p.sunsubscribe("orders")
print(p.get_sharded_message(timeout=5)["type"], r.pubsub_shardchannels())
"#;

#[test]
fn redis_py_sharded_pubsub_across_processes_in_resp2_and_resp3() {
    let mocks = mocks_file(SECURED);
    need_python_module("redis");
    // Across processes needs the daemon: under a bare LD_PRELOAD each process has its own.
    for protocol in ["2", "3"] {
        let run = python(Placement::Daemon, &mocks, SHARDED_SUBSCRIBER, &[protocol]);
        run.success();
        assert_eq!(
            run.stdout,
            "ssubscribe\n1 0 [(b'orders', 1), (b'none', 0)] [b'orders']\n\
             smessage b'orders' b'o1'\nsunsubscribe []\n",
            "RESP{protocol}: {}",
            run.stderr
        );
    }
}
