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
