//! The administration commands through a [`Session`], as a client reaches them.

use super::super::*;
use crate::redis::auth::User;
use crate::redis::conn::Session;
use crate::redis::reply::Protocol;

/// Sends inline command lines and returns the replies' RESP2 text.
fn send(em: &mut Emulator, session: &mut Session, lines: &[&str]) -> String {
    let mut input = String::new();
    for line in lines {
        input.push_str(line);
        input.push_str("\r\n");
    }
    let out = session.receive(input.as_bytes(), em);
    String::from_utf8_lossy(&out.bytes).into_owned()
}

fn info(em: &mut Emulator, session: &mut Session, section: &str) -> String {
    send(em, session, &[&format!("INFO {section}")])
}

fn field(text: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .to_string()
}

#[test]
fn info_counts_commands_hits_misses_and_errors_for_real() {
    let mut em = Emulator::new(&Seed::new());
    em.connect(1, "127.0.0.1:50001", "127.0.0.1:6379");
    em.connect(2, "127.0.0.1:50002", "127.0.0.1:6379");
    let mut a = Session::new(1);
    let mut b = Session::new(2);
    send(
        &mut em,
        &mut a,
        &[
            "SET k 1",
            "GET k",
            "GET nokey",
            "LPUSH k x",
            "NOSUCH",
            "INCR",
            "PING",
        ],
    );
    send(&mut em, &mut b, &["EXISTS k nokey"]);
    let stats = info(&mut em, &mut a, "stats");
    assert_eq!(field(&stats, "keyspace_hits"), "2");
    assert_eq!(field(&stats, "keyspace_misses"), "2");
    // SET, GET, GET, LPUSH, PING, EXISTS ran; NOSUCH and INCR were rejected.
    assert_eq!(field(&stats, "total_commands_processed"), "6");
    assert_eq!(field(&stats, "total_error_replies"), "3");
    assert_eq!(
        field(&info(&mut em, &mut a, "clients"), "connected_clients"),
        "2"
    );
    let commands = info(&mut em, &mut a, "commandstats");
    assert!(commands.contains("cmdstat_get:calls=2,"), "{commands}");
    assert!(
        commands.contains("rejected_calls=0,failed_calls=1\r\n"),
        "{commands}"
    );
    assert!(
        commands.contains(
            "cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
        ),
        "{commands}"
    );
    assert!(commands.contains("cmdstat_ping:calls=1,"), "{commands}");
    let errors = info(&mut em, &mut a, "errorstats");
    assert!(errors.contains("errorstat_ERR:count=2\r\n"), "{errors}");
    assert!(
        errors.contains("errorstat_WRONGTYPE:count=1\r\n"),
        "{errors}"
    );
    assert!(info(&mut em, &mut a, "keyspace").contains("db0:keys=1,expires=0,avg_ttl=0"));

    assert_eq!(send(&mut em, &mut a, &["CONFIG RESETSTAT"]), "+OK\r\n");
    let stats = info(&mut em, &mut a, "stats");
    assert_eq!(field(&stats, "keyspace_hits"), "0");
    assert_eq!(field(&stats, "total_error_replies"), "0");
    // Only CONFIG RESETSTAT itself, counted after it ran.
    assert_eq!(field(&stats, "total_commands_processed"), "1");
    em.disconnect(2);
    assert_eq!(
        field(&info(&mut em, &mut a, "clients"), "connected_clients"),
        "1"
    );
}

#[test]
fn expired_keys_and_memory_are_reported() {
    let clock = ManualClock::new(1_000_000);
    let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
    let mut s = Session::new(1);
    send(
        &mut em,
        &mut s,
        &["SET a 1 PX 10", "SET b 2", "RPUSH l x y z"],
    );
    let memory = info(&mut em, &mut s, "memory");
    let used: u64 = field(&memory, "used_memory").parse().unwrap();
    assert!(used > crate::redis::info::STARTUP_MEMORY, "{memory}");
    clock.advance(20);
    assert_eq!(send(&mut em, &mut s, &["GET a"]), "$-1\r\n");
    assert_eq!(field(&info(&mut em, &mut s, "stats"), "expired_keys"), "1");
    assert_eq!(send(&mut em, &mut s, &["MEMORY USAGE nokey"]), "$-1\r\n");
    let usage = send(&mut em, &mut s, &["MEMORY USAGE l SAMPLES 0"]);
    assert!(usage.starts_with(':'), "{usage}");
    assert_eq!(
        send(&mut em, &mut s, &["MEMORY USAGE l SAMPLES -1"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        send(&mut em, &mut s, &["MEMORY USAGE"]),
        "-ERR wrong number of arguments for 'memory|usage' command\r\n"
    );
}

#[test]
fn config_set_changes_what_the_emulator_does() {
    let mut em = Emulator::new(&Seed::new());
    let mut s = Session::new(1);
    send(&mut em, &mut s, &["HSET h a 1 b 2 c 3"]);
    assert_eq!(
        send(&mut em, &mut s, &["OBJECT ENCODING h"]),
        "$8\r\nlistpack\r\n"
    );
    send(&mut em, &mut s, &["CONFIG SET hash-max-listpack-entries 2"]);
    assert_eq!(
        send(&mut em, &mut s, &["OBJECT ENCODING h"]),
        "$9\r\nhashtable\r\n"
    );
    send(
        &mut em,
        &mut s,
        &["CONFIG SET maxmemory-policy allkeys-lru maxmemory 1mb"],
    );
    let memory = info(&mut em, &mut s, "memory");
    assert_eq!(field(&memory, "maxmemory_policy"), "allkeys-lru");
    assert_eq!(field(&memory, "maxmemory"), "1048576");
    assert_eq!(
        send(&mut em, &mut s, &["CONFIG REWRITE"]),
        "-ERR The server is running without a config file\r\n"
    );
}

#[test]
fn config_set_requirepass_requires_auth_on_new_connections() {
    let mut em = Emulator::new(&Seed::new());
    let mut s = Session::new(1);
    assert_eq!(
        send(&mut em, &mut s, &["CONFIG SET requirepass pw"]),
        "+OK\r\n"
    );
    // The connection that set it stays authenticated, as in Redis.
    assert_eq!(send(&mut em, &mut s, &["PING"]), "+PONG\r\n");
    let mut other = Session::new(2);
    assert_eq!(
        send(&mut em, &mut other, &["GET k"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        send(&mut em, &mut other, &["AUTH nope"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        send(&mut em, &mut other, &["AUTH pw", "GET k"]),
        "+OK\r\n$-1\r\n"
    );
    assert_eq!(
        send(&mut em, &mut s, &["CONFIG GET requirepass"]),
        "*2\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n"
    );
}

#[test]
fn acl_rules_are_enforced_and_logged() {
    let mut em = Emulator::new(&Seed::new()).with_credentials(Credentials {
        password: None,
        users: vec![User {
            name: "alice".into(),
            password: b"pw".to_vec(),
            enabled: true,
        }],
    });
    let mut admin = Session::new(1);
    assert_eq!(
        send(
            &mut em,
            &mut admin,
            &["ACL SETUSER app on >secret ~app:* +@all -flushall"]
        ),
        "+OK\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL USERS"]),
        "*3\r\n$5\r\nalice\r\n$3\r\napp\r\n$7\r\ndefault\r\n"
    );
    let mut app = Session::new(2);
    let replies = send(
        &mut em,
        &mut app,
        &[
            "AUTH app secret",
            "ACL WHOAMI",
            "SET app:1 x",
            "SET other x",
            "FLUSHALL",
        ],
    );
    assert_eq!(
        replies,
        "+OK\r\n$3\r\napp\r\n+OK\r\n\
         -NOPERM this user has no permissions to access one of the keys used as arguments\r\n\
         -NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    let log = send(&mut em, &mut admin, &["ACL LOG"]);
    assert!(
        log.starts_with("*2\r\n*14\r\n$5\r\ncount\r\n:1\r\n$6\r\nreason\r\n$7\r\ncommand"),
        "{log}"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL LOG RESET", "ACL LOG"]),
        "+OK\r\n*0\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL DRYRUN app flushall"]),
        "$58\r\nThis user has no permissions to run the 'flushall' command\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL DRYRUN app get app:1"]),
        "+OK\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL SETUSER app off"]),
        "+OK\r\n"
    );
    let mut late = Session::new(3);
    assert_eq!(
        send(&mut em, &mut late, &["AUTH app secret"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL DELUSER app nobody"]),
        ":1\r\n"
    );
    assert_eq!(
        send(&mut em, &mut admin, &["ACL DELUSER default"]),
        "-ERR The 'default' user cannot be removed\r\n"
    );
    assert_eq!(send(&mut em, &mut late, &["AUTH alice pw"]), "+OK\r\n");
}

#[test]
fn the_slow_log_holds_real_entries() {
    let mut em = Emulator::new(&Seed::new());
    let mut s = Session::new(1);
    s.conn.protocol = Protocol::Resp2;
    assert_eq!(send(&mut em, &mut s, &["SLOWLOG LEN"]), ":0\r\n");
    send(
        &mut em,
        &mut s,
        &[
            "CONFIG SET slowlog-log-slower-than 0",
            "SET k v",
            "CLIENT SETNAME me",
            "GET k",
        ],
    );
    let log = send(&mut em, &mut s, &["SLOWLOG GET 1"]);
    assert!(log.starts_with("*1\r\n*6\r\n:"), "{log}");
    assert!(
        log.contains("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n$11\r\n127.0.0.1:0\r\n$2\r\nme\r\n"),
        "{log}"
    );
    // CONFIG SET, SET, CLIENT SETNAME, GET and the SLOWLOG GET just answered.
    assert_eq!(send(&mut em, &mut s, &["SLOWLOG LEN"]), ":5\r\n");
    assert_eq!(
        send(&mut em, &mut s, &["SLOWLOG GET -2"]),
        "-ERR count should be greater than or equal to -1\r\n"
    );
    assert_eq!(send(&mut em, &mut s, &["SLOWLOG RESET"]), "+OK\r\n");
    send(
        &mut em,
        &mut s,
        &["CONFIG SET slowlog-log-slower-than -1", "GET k"],
    );
    assert_eq!(send(&mut em, &mut s, &["SLOWLOG LEN"]), ":1\r\n");
}

#[test]
fn latency_histograms_count_calls() {
    let mut em = Emulator::new(&Seed::new());
    let mut s = Session::new(1);
    s.conn.protocol = Protocol::Resp3;
    send(&mut em, &mut s, &["SET k v", "SET k w"]);
    let histogram = send(&mut em, &mut s, &["LATENCY HISTOGRAM set nosuch"]);
    assert!(
        histogram.starts_with(
            "%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:2\r\n$14\r\nhistogram_usec\r\n%"
        ),
        "{histogram}"
    );
    assert_eq!(send(&mut em, &mut s, &["LATENCY LATEST"]), "*0\r\n");
    assert_eq!(
        send(&mut em, &mut s, &["DEBUG SLEEP 0"])
            .lines()
            .next()
            .unwrap(),
        "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
         you can run it from a local connection, otherwise you need to set this option in the \
         configuration file, and then restart the server."
    );
}
