//! Differential scripts for the server-side families: `AUTH` with a password and ACL users.

use super::*;
use crate::redis::auth::{Credentials, User};

/// The same users on both sides: `requirepass` and `user` lines for redis-server, the
/// entry's `password` and `users` for the emulator.
fn secured() -> (Vec<&'static str>, Credentials) {
    let config = vec![
        "--requirepass",
        "s3cret",
        "--user",
        "alice",
        "on",
        ">pw",
        "allkeys",
        "allchannels",
        "+@all",
        "--user",
        "bob",
        "off",
        ">pw",
        "allkeys",
        "allchannels",
        "+@all",
    ];
    let user = |name: &str, enabled| User {
        name: name.into(),
        password: b"pw".to_vec(),
        enabled,
    };
    let credentials = Credentials {
        password: Some(b"s3cret".to_vec()),
        users: vec![user("alice", true), user("bob", false)],
    };
    (config, credentials)
}

#[test]
fn auth_without_a_password_like_redis_server() {
    // With ACL users but no `requirepass`, Redis's own errors apply; an entry with neither
    // accepts any AUTH (DESIGN.md section 6a), tested in `auth.rs`.
    let config = [
        "--user",
        "alice",
        "on",
        ">pw",
        "allkeys",
        "allchannels",
        "+@all",
    ];
    let Some(server) = RealRedis::start_with(&config) else {
        eprintln!("SKIPPED auth_without_a_password_like_redis_server: no redis-server");
        return;
    };
    let emulator = Emulator::new(&Seed::new()).with_credentials(Credentials {
        password: None,
        users: vec![User {
            name: "alice".into(),
            password: b"pw".to_vec(),
            enabled: true,
        }],
    });
    let lines = [
        "auth x",
        "auth default x",
        "auth alice x",
        "auth a b c",
        "auth",
        "hello 3 auth default whatever",
        "hello 2 auth nobody x",
        "ping",
    ];
    if let Err(e) = Pair::with_emulator(&server, emulator).compare(&steps(&lines)) {
        panic!("{e}");
    }
}

#[test]
fn auth_with_a_password_and_users_like_redis_server() {
    let (config, credentials) = secured();
    let Some(server) = RealRedis::start_with(&config) else {
        eprintln!("SKIPPED auth_with_a_password_and_users_like_redis_server: no redis-server");
        return;
    };
    let emulator = Emulator::new(&Seed::new()).with_credentials(credentials);
    let lines = [
        "ping",
        "get a",
        "nosuch",
        "get",
        "hello 3",
        "hello 3 auth default bad",
        "hello 4",
        "multi",
        "select 1",
        "client id",
        "echo x",
        "auth bad",
        "auth default bad",
        "auth bob pw",
        "auth a b c",
        "auth s3cret",
        "ping",
        "set k v",
        "reset",
        "get k",
        "hello 2 auth alice pw",
        "get k",
        "auth alice bad",
        "get k",
        "reset",
        "1: hello 3 auth alice pw setname worker",
        "1: client getname",
        "1: get k",
        "2: auth alice pw",
        "2: multi",
        "2: get k",
        "2: exec",
        "quit",
    ];
    if let Err(e) = Pair::with_emulator(&server, emulator).compare(&steps(&lines)) {
        panic!("{e}");
    }
}

/// Redis writes messages to a subscriber when they are published, where the emulator leaves
/// them for the next reply; so a connection that was sent messages sends nothing more here,
/// and deliveries are checked by `pubsub`'s unit tests. One name per (un)subscribe: the
/// comparison reads one reply per command. Listings hold one name: Redis lists in its hash
/// table's order, the emulator sorted.
#[test]
fn sharded_pubsub_and_introspection_like_redis_server() {
    let Some(server) = real_or_skip("sharded_pubsub_and_introspection_like_redis_server") else {
        return;
    };
    let lines = [
        "pubsub channels",
        "pubsub numpat",
        "ssubscribe a",
        "ssubscribe b",
        "subscribe c",
        "psubscribe p*",
        "ping",
        "sunsubscribe a",
        "sunsubscribe b",
        "sunsubscribe",
        "unsubscribe c",
        "punsubscribe p*",
        "ssubscribe x",
        "spublish x hi",
        "get a",
        "reset",
        "spublish nobody m",
        "ssubscribe a",
        "1: subscribe c",
        "1: psubscribe p*",
        "2: pubsub shardchannels",
        "2: pubsub shardchannels a*",
        "2: pubsub shardnumsub a b z",
        "2: pubsub channels",
        "2: pubsub channels c*",
        "2: pubsub numsub c a",
        "2: pubsub numpat",
        "2: pubsub numsub",
        "2: pubsub",
        "2: pubsub nosuch",
        "2: pubsub numpat x",
        "2: pubsub channels a b",
        "2: pubsub shardchannels a b",
        "2: ssubscribe",
        "2: spublish x",
        "2: spublish a one",
        "2: spublish b two",
        "2: publish c three",
    ];
    if let Err(e) = Pair::new(&server).compare(&steps(&lines)) {
        panic!("{e}");
    }
}
