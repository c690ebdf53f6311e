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
        &[
            "redis-cli",
            "-h",
            "sessions.internal",
            "MIGRATE",
            "h",
            "1",
            "k",
            "0",
            "0",
        ],
    );
    assert_eq!(gap.code, Some(1), "{gap:?}");
    assert!(
        gap.stderr
            .contains("MIGRATE h 1 k 0 0: unknown command: the emulator does not implement it"),
        "{}",
        gap.stderr
    );
}
