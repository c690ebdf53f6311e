//! Differential scripts for the connection commands of issue 19 (`CLIENT` over every
//! connection, `MONITOR`, `WAIT`, `ROLE`): what answers the same on any server, since ids,
//! addresses and ages differ by server; the rest is judged by real clients in
//! `tests/tests/redis_clients.rs`.

use super::{Pair, real_or_skip, steps};

const CLIENT_FAMILIES: &[(&str, &[&str])] = &[
    (
        "client",
        &[
            "client help",
            "client kill 1.2.3.4:5",
            "client kill id 999999",
            "client kill id x",
            "client kill id 0",
            "client kill id -3",
            "client kill foo bar",
            "client kill type foo",
            "client kill type pubsub",
            "client kill type master",
            "client kill type replica skipme no",
            "client kill id",
            "client kill addr",
            "client kill addr 1.2.3.4:1 laddr x",
            "client kill user nobody",
            "client kill user default id 999999",
            "client kill skipme x",
            "client kill skipme yes id 999999",
            "client kill maxage 5",
            "client kill id 1 addr",
            "client list type foo",
            "client list type replica",
            "client list type MASTER",
            "client list id x",
            "client list id 999999 999998",
            "client list id 0",
            "client list id -3 1x",
            "client list foo",
            "client list id",
            "client list type",
            "client reply foo",
            "client reply on",
            "client no-evict on",
            "client no-evict off",
            "client no-evict x",
            "client no-touch on",
            "client kill",
            "client help x",
            "hello 3",
            "client list type replica",
            "client help",
        ],
    ),
    (
        "replication",
        &[
            "role",
            "wait 0 0",
            "wait 1 100",
            "wait -1 0",
            "wait x 0",
            "wait 1 -1",
            "wait 1 x",
            "wait 1",
            "role x",
            "multi",
            "wait 1 0",
            "role",
            "exec",
            "eval \"return redis.call('role')\" 0",
            "eval \"return redis.pcall('wait', 1, 0)\" 0",
            "hello 3",
            "role",
            "wait 1 50",
        ],
    ),
];

#[test]
fn client_families_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("client_families_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    for (family, lines) in CLIENT_FAMILIES {
        let mut pair = Pair::new(&server);
        if let Err(e) = pair.compare(&steps(lines)) {
            panic!("family {family}: {e}");
        }
    }
}
