//! Redis over the loopback connections the shim would make: command entries, the handshake,
//! unmatched commands, the emulator shared by connections, pub/sub between them, and the same
//! scripts run against a real `redis-server` and compared byte for byte.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Engine;
use crate::journal::Journal;
use crate::tests::{connect, engine};
use mocket_config::{Config, LogLevel};

/// Commands as RESP arrays; words split on spaces, `_` stands for an empty word.
fn resp(lines: &[&str]) -> Vec<u8> {
    let mut wire = Vec::new();
    for line in lines {
        let words: Vec<&str> = line.split(' ').collect();
        wire.extend(format!("*{}\r\n", words.len()).into_bytes());
        for w in words {
            let w = if w == "_" { "" } else { w };
            wire.extend(format!("${}\r\n{w}\r\n", w.len()).into_bytes());
        }
    }
    wire
}

/// Reads exactly as many bytes as `expected` and compares them as text.
#[track_caller]
fn expect(stream: &mut TcpStream, expected: &str) {
    let mut buf = vec![0u8; expected.len()];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf), expected);
}

/// Sends commands and checks the replies.
#[track_caller]
fn exchange(stream: &mut TcpStream, lines: &[&str], expected: &str) {
    stream.write_all(&resp(lines)).unwrap();
    expect(stream, expected);
}

/// Reads until `end` has arrived at the end of what was read.
fn read_until(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while !got.ends_with(end) {
        let n = stream.read(&mut buf).expect("reply within 10 s");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

fn engine_with_journal(text: &str, journal: &Path) -> Arc<Engine> {
    let config = Config::parse(text, "m.json", Path::new(".")).map(Arc::new);
    let journal = Journal::open(Some(journal)).unwrap();
    Engine::with_config(config, LogLevel::Error, journal, None)
}

fn temp_file(name: &str) -> PathBuf {
    // Under the target directory (beside this test binary), not /tmp: nothing is left behind
    // outside what `cargo clean` removes.
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .unwrap()
        .join(format!("scratch-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn journal_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const ENTRIES: &str = r#"{"entries": [
    {"redis": "cache.internal:6379", "command": ["GET", "greeting"], "response": "hello"},
    {"redis": "cache.internal:6379", "command": ["INCR", "hits"], "responses": [1, 2, {"error": "ERR enough"}]},
    {"redis": "cache.internal:6379", "command": ["SET", "session"], "match": {"args_regex": ["[0-9a-f]+", ".*"]},
     "response": {"simple": "OK"}, "times": 1},
    {"redis": "cache.internal:6379", "command": ["LRANGE", "q", "0", "-1"], "response": ["a", null, 3, ["x"]]}
]}"#;

#[test]
fn command_entries_answer_in_resp2_and_resp3() {
    let e = engine(ENTRIES);
    let mut c = connect(&e, "cache.internal", 6379);
    exchange(
        &mut c,
        &[
            "get greeting",
            "INCR hits",
            "incr hits",
            "INCR hits",
            "INCR hits",
        ],
        "$5\r\nhello\r\n:1\r\n:2\r\n-ERR enough\r\n-ERR enough\r\n",
    );
    exchange(
        &mut c,
        &["SET session 9f00 {\"a\":1}", "lrange q 0 -1"],
        "+OK\r\n*4\r\n$1\r\na\r\n$-1\r\n:3\r\n*1\r\n$1\r\nx\r\n",
    );
    c.write_all(&resp(&["HELLO 3"])).unwrap();
    let hello = read_until(&mut c, b"$7\r\nmodules\r\n*0\r\n");
    assert!(hello.starts_with(b"%7\r\n"));
    exchange(
        &mut c,
        &[
            "lrange q 0 -1",
            "CLIENT SETINFO lib-name redis-py",
            "PING",
            "SELECT 1",
        ],
        "*4\r\n$1\r\na\r\n_\r\n:3\r\n*1\r\n$1\r\nx\r\n+OK\r\n+PONG\r\n+OK\r\n",
    );
    assert_eq!(e.report().unmatched_count, 0);
}

#[test]
fn inline_commands_as_nc_sends_them() {
    let e = engine(ENTRIES);
    let mut c = connect(&e, "cache.internal", 6379);
    c.write_all(b"PING\r\nget greeting\n").unwrap();
    expect(&mut c, "+PONG\r\n$5\r\nhello\r\n");
}

#[test]
fn unmatched_commands_name_the_closest_entries_and_fail_the_run() {
    let journal = temp_file("unmatched.jsonl");
    let e = engine_with_journal(ENTRIES, &journal);
    let mut c = connect(&e, "cache.internal", 6379);
    exchange(
        &mut c,
        &["GET greting"],
        "-ERR mocket: no redis entry matches 'GET greting' on cache.internal:6379; closest: \
         #0 GET greeting (argument 1 is \"greting\", expected \"greeting\"); \
         #1 INCR hits (command is GET, not INCR); \
         #2 SET session /[0-9a-f]+/ /.*/ (command is GET, not SET)\r\n",
    );
    exchange(&mut c, &["SET session 12 x"], "+OK\r\n");
    c.write_all(&resp(&["SET session 12 x"])).unwrap();
    let used_up = read_until(&mut c, b"\r\n");
    let text = String::from_utf8(used_up).unwrap();
    assert!(
        text.contains("#2 SET session /[0-9a-f]+/ /.*/ (answered its 1 time)"),
        "{text}"
    );
    drop(c);
    let report = e.report();
    assert_eq!(report.unmatched_count, 2);
    assert!(report.failed());
    assert!(
        report.unmatched[0].starts_with("redis cache.internal:6379: GET greting: closest: #0"),
        "{:?}",
        report.unmatched
    );
    let events = journal_lines(&journal);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["action"], "unmatched");
    assert_eq!(events[0]["protocol"], "redis");
    assert_eq!(events[0]["command"], serde_json::json!(["GET", "greting"]));
    assert_eq!(events[1]["action"], "mocked");
    assert_eq!(events[1]["entry"], 2);
    assert_eq!(events[2]["action"], "unmatched");
}

#[test]
fn every_command_is_journaled_including_the_handshake() {
    let journal = temp_file("handshake.jsonl");
    let e = engine_with_journal(ENTRIES, &journal);
    let mut c = connect(&e, "cache.internal", 6379);
    exchange(
        &mut c,
        &[
            "CLIENT SETINFO LIB-NAME x",
            "PING",
            "GET greeting",
            "MULTI",
            "GET greeting",
            "EXEC",
        ],
        "+OK\r\n+PONG\r\n$5\r\nhello\r\n+OK\r\n+QUEUED\r\n*1\r\n$5\r\nhello\r\n",
    );
    drop(c);
    let commands: Vec<String> = journal_lines(&journal)
        .iter()
        .map(|v| format!("{} {}", v["command"][0].as_str().unwrap(), v["action"]))
        .collect();
    assert_eq!(
        commands,
        [
            "CLIENT \"mocked\"",
            "PING \"mocked\"",
            "GET \"mocked\"",
            "MULTI \"mocked\"",
            "GET \"mocked\"",
            "EXEC \"mocked\""
        ]
    );
}

const EMULATED: &str = r#"{"entries": [
    {"redis": "sessions.internal:6379", "command": ["GET", "pinned"], "response": "from an entry"},
    {"redis": "sessions.internal:6379", "emulate": true, "data": {"greeting": "hi", "queue": ["a", "b"], "user": {"name": "Ada"}}}
]}"#;

#[test]
fn the_emulator_is_shared_by_connections_and_seeded() {
    let e = engine(EMULATED);
    let mut a = connect(&e, "sessions.internal", 6379);
    let mut b = connect(&e, "sessions.internal", 6379);
    exchange(
        &mut a,
        &["GET greeting", "SET k v", "LPOP queue", "HGET user name"],
        "$2\r\nhi\r\n+OK\r\n$1\r\na\r\n$3\r\nAda\r\n",
    );
    exchange(
        &mut b,
        &["GET k", "LRANGE queue 0 -1"],
        "$1\r\nv\r\n*1\r\n$1\r\nb\r\n",
    );
    // A command entry for the same address answers first; the emulator answers the rest.
    exchange(
        &mut b,
        &["GET pinned", "SET pinned x", "GET pinned"],
        "$13\r\nfrom an entry\r\n+OK\r\n$13\r\nfrom an entry\r\n",
    );
    assert_eq!(e.report().unused_entries, Vec::<String>::new());
}

#[test]
fn the_emulator_expires_keys_in_real_time() {
    let e = engine(EMULATED);
    let mut c = connect(&e, "sessions.internal", 6379);
    exchange(&mut c, &["SET t v PX 60", "GET t"], "+OK\r\n$1\r\nv\r\n");
    thread::sleep(Duration::from_millis(120));
    exchange(&mut c, &["GET t", "TTL t"], "$-1\r\n:-2\r\n");
}

#[test]
fn a_pipeline_of_a_thousand_commands_answers_in_order() {
    let e = engine(EMULATED);
    let mut c = connect(&e, "sessions.internal", 6379);
    let lines: Vec<String> = (0..1000).map(|i| format!("INCR n{}", i % 10)).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let expected: String = (0..1000).map(|i| format!(":{}\r\n", i / 10 + 1)).collect();
    exchange(&mut c, &lines, &expected);
}

#[test]
fn unknown_commands_get_redis_errors_and_are_reported() {
    let e = engine(EMULATED);
    let mut c = connect(&e, "sessions.internal", 6379);
    exchange(
        &mut c,
        &[
            "FOO a b",
            "GET",
            "MULTI",
            "FOO",
            "EXEC",
            "FAILOVER ABORT",
            "MODULE LIST",
            "CLIENT NOSUCH",
        ],
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n\
         -ERR wrong number of arguments for 'get' command\r\n+OK\r\n\
         -ERR unknown command 'FOO', with args beginning with: \r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n\
         -ERR unknown command 'FAILOVER', with args beginning with: 'ABORT' \r\n\
         -ERR unknown command 'MODULE', with args beginning with: 'LIST' \r\n\
         -ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n",
    );
    // Redis has no FOO and no CLIENT NOSUCH either: only what Redis has and the emulator
    // lacks fails the run.
    let report = e.report();
    assert_eq!(report.unmatched_count, 2, "{:?}", report.unmatched);
    assert!(report.unmatched[0].contains("FAILOVER ABORT: unknown command"));
    assert!(report.unmatched[1].contains("MODULE LIST: unknown command"));
}

#[test]
fn publish_reaches_a_subscriber_blocked_in_its_read() {
    let e = engine(EMULATED);
    let mut sub = connect(&e, "sessions.internal", 6379);
    let mut sub3 = connect(&e, "sessions.internal", 6379);
    let mut publisher = connect(&e, "sessions.internal", 6379);
    exchange(
        &mut sub,
        &["SUBSCRIBE news"],
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    sub3.write_all(&resp(&["HELLO 3"])).unwrap();
    read_until(&mut sub3, b"*0\r\n");
    exchange(
        &mut sub3,
        &["PSUBSCRIBE n*"],
        ">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n",
    );
    exchange(&mut publisher, &["PUBLISH news hello"], ":2\r\n");
    expect(
        &mut sub,
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    );
    expect(
        &mut sub3,
        ">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
    );
    drop(sub);
    // The closed subscriber is forgotten once its thread sees the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        publisher.write_all(&resp(&["PUBLISH news again"])).unwrap();
        let got = read_until(&mut publisher, b"\r\n");
        if got == b":1\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "subscriber never forgotten");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn many_publishers_and_a_subscriber_keep_every_message_whole() {
    let e = engine(EMULATED);
    let mut sub = connect(&e, "sessions.internal", 6379);
    exchange(
        &mut sub,
        &["SUBSCRIBE c"],
        "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let mut c = connect(&e, "sessions.internal", 6379);
            thread::spawn(move || {
                for i in 0..50 {
                    exchange(&mut c, &[&format!("PUBLISH c {p}-{i:02}")], ":1\r\n");
                }
            })
        })
        .collect();
    let message = "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\n0-00\r\n".len();
    let mut got = vec![0u8; message * 200];
    sub.read_exact(&mut got).unwrap();
    publishers.into_iter().for_each(|p| p.join().unwrap());
    let text = String::from_utf8(got).unwrap();
    for p in 0..4 {
        let seen: Vec<usize> = text
            .match_indices(&format!("\r\n{p}-"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(seen.len(), 50, "publisher {p}");
    }
    assert_eq!(
        text.matches("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\n")
            .count(),
        200
    );
}

// The comparison with a real Redis.

/// A `redis-server` started for one test and stopped when dropped.
struct RealRedis {
    child: Child,
    port: u16,
}

impl RealRedis {
    /// Starts one on a free loopback port, or says why it cannot.
    fn start() -> Result<RealRedis, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Process::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = RealRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not listen within 10 s".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap()
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a script runs: a real Redis, or the emulator.
enum Server<'a> {
    Real(&'a RealRedis),
    Emulated(&'a Arc<Engine>),
}

impl Server<'_> {
    fn connect(&self) -> TcpStream {
        match self {
            Server::Real(r) => r.connect(),
            Server::Emulated(e) => connect(e, "sessions.internal", 6379),
        }
    }
}

/// The last command of every phase: its reply (also while subscribed) ends with this.
const END: &str = "PING __mocket_end__";

/// Runs phases of commands on one connection, sleeping between phases, and returns every
/// reply byte with the connection ids (which differ by server) masked.
fn run_script(server: &Server<'_>, phases: &[(&[&str], u64)]) -> String {
    let mut c = server.connect();
    let mut all = Vec::new();
    for (lines, sleep_ms) in phases {
        let mut lines = lines.to_vec();
        lines.push(END);
        c.write_all(&resp(&lines)).unwrap();
        all.extend(read_until(&mut c, b"__mocket_end__\r\n"));
        thread::sleep(Duration::from_millis(*sleep_ms));
    }
    mask_ids(&String::from_utf8_lossy(&all))
}

fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("$2\r\nid\r\n:") {
        let start = i + "$2\r\nid\r\n:".len();
        out.push_str(&rest[..start]);
        out.push('N');
        let end = rest[start..].find("\r\n").map_or(rest.len(), |n| start + n);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The first difference between two reply streams, with context, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let i = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = i.saturating_sub(120);
    let around = |s: &str| format!("{:?}", &s[from.min(s.len())..(i + 120).min(s.len())]);
    format!(
        "at byte {i}:\n  redis:    {}\n  emulator: {}",
        around(a),
        around(b)
    )
}

/// Scripts whose replies do not depend on hash order or the clock.
const SCRIPTS: &[&[&str]] = &[
    &[
        "SET k v",
        "GET k",
        "GET nosuch",
        "SET k v2 XX",
        "SET new v NX",
        "SET new v3 NX",
        "SET k v EX 0",
        "SET k v PX abc",
        "SET k v NX XX",
        "SET k v EX 10 PX 10",
        "SET k v GET",
        "SET k v2 KEEPTTL GET",
        "SET k v foo",
        "SET missing v GET XX",
        "SETNX k x",
        "SETEX se 0 v",
        "SETEX se 100 v",
        "GETSET se w",
        "STRLEN se",
        "APPEND se xyz",
        "APPEND ap abc",
        "GETDEL ap",
        "GETDEL ap",
        "MSET a 1 b 2",
        "MSET a 1 b",
        "MGET a b zz",
        "MSETNX a 1 c 3",
        "MSETNX c 3 d 4",
        "INCR i",
        "INCRBY i 10",
        "DECR i",
        "DECRBY i 5",
        "INCRBY i abc",
        "INCR k",
        "SET n 9223372036854775807",
        "INCR n",
        "DECRBY n -9223372036854775808",
        "SET z 007",
        "INCR z",
        "RPUSH list a",
        "GET list",
        "INCR list",
        "APPEND list x",
    ],
    &[
        "SET a 1",
        "SET b 2",
        "RPUSH l x",
        "DEL a nosuch",
        "EXISTS a b b l nosuch",
        "EXPIRE b 10 NX XX",
        "EXPIRE b 10 GT LT",
        "EXPIRE b 10 foo",
        "EXPIRE b 10 GT",
        "EXPIRE b 10 LT",
        "TTL b",
        "EXPIRE b 20 GT",
        "TTL b",
        "PEXPIRE b 5000 LT",
        "EXPIRE b 100 NX",
        "PERSIST b",
        "PERSIST b",
        "TTL b",
        "PTTL b",
        "TTL nosuch",
        "EXPIRETIME b",
        "EXPIRE b abc",
        "EXPIRE b 9223372036854775807",
        "SET c 1",
        "EXPIRE c -1",
        "EXISTS c",
        "SET c 1",
        "PEXPIREAT c 1",
        "EXISTS c",
        "TYPE b",
        "TYPE l",
        "TYPE nosuch",
        "RENAME nosuch q",
        "RENAME b b",
        "RENAME b b2",
        "GET b2",
        "RENAMENX b2 l",
        "RENAMENX b2 b3",
        "DBSIZE",
        "KEYS b*",
        "FLUSHDB foo",
        "SCAN abc",
        "SCAN 0 COUNT 0",
        "FLUSHDB",
        "SET only 1",
        "SCAN 0",
        "SCAN 0 MATCH o* COUNT 100 TYPE string",
        "SCAN 0 TYPE list",
        "SELECT 3",
        "GET only",
        "SET only three",
        "SELECT 0",
        "GET only",
        "SELECT 16",
    ],
    &[
        "HSET h a 1 b 2",
        "HSET h a 10 c 3",
        "HGET h a",
        "HMGET h a nosuch c",
        "HGETALL h",
        "HKEYS h",
        "HVALS h",
        "HLEN h",
        "HEXISTS h a",
        "HDEL h a nosuch",
        "HGETALL h",
        "HSETNX h b 9",
        "HSETNX h d 4",
        "HMSET h e 5 f 6",
        "HSET h a 1 b",
        "HINCRBY h cnt 5",
        "HINCRBY h cnt x",
        "HSET h s str",
        "HINCRBY h s 1",
        "HGETALL h",
        "SET str x",
        "HGET str a",
        "RPUSH l a b c",
        "LPUSH l z y",
        "LRANGE l 0 -1",
        "LRANGE l -2 -1",
        "LRANGE l x 1",
        "LINDEX l -1",
        "LPOP l",
        "RPOP l 2",
        "LPOP l -1",
        "LPOP nosuch 2",
        "LPOP l 1 2",
        "LLEN l",
        "RPUSH r a b a c a",
        "LREM r 2 a",
        "LTRIM r 0 0",
        "LRANGE r 0 -1",
        "SADD s 3 1 2 10",
        "SADD s 1 4",
        "SMEMBERS s",
        "SCARD s",
        "SISMEMBER s 2",
        "SMISMEMBER s 1 9",
        "SREM s 1 9",
        "SMEMBERS s",
        "SADD str a",
    ],
    &[
        "ZADD z 1 a 2 b 3 c",
        "ZADD z NX XX 1 a",
        "ZADD z GT LT 1 a",
        "ZADD z INCR 1 a 2 b",
        "ZADD z INCR 5 a",
        "ZADD z CH 10 a 20 d",
        "ZADD z x a",
        "ZADD z NX 1",
        "ZADD z XX 9 q",
        "ZRANGE z 0 -1 WITHSCORES",
        "ZRANGE z -2 -1 REV",
        "ZRANGE z (1 +inf BYSCORE LIMIT 0 2 WITHSCORES",
        "ZRANGE z +inf -inf BYSCORE REV",
        "ZRANGE z 0 -1 LIMIT 0 1",
        "ZSCORE z a",
        "ZREM z a nope",
        "ZADD z 0.1 g 1e21 h 1.5 e",
        "ZRANGE z 0 -1 WITHSCORES",
        "ZRANK z e",
        "ZINCRBY z 2 e",
        "ZINCRBY z -inf a",
        "ZREVRANGE z 0 1 WITHSCORES",
        "ZRANGEBYSCORE z 1 2",
        "ZCOUNT z (1.5 3",
        "ZADD lex 0 a 0 b 0 c 0 d",
        "ZRANGE lex (a [c BYLEX",
        "ZRANGE lex [c (a BYLEX REV",
        "ZRANGE lex - + BYLEX WITHSCORES",
        "ZCARD z",
    ],
    &[
        "MULTI",
        "SET a 1",
        "INCR a",
        "LPUSH a x",
        "GET a",
        "EXEC",
        "MULTI",
        "GET",
        "EXEC",
        "MULTI",
        "nosuch",
        "EXEC",
        "EXEC",
        "DISCARD",
        "nosuchcommand a b",
        "GET a b",
        "ECHO",
        "PING a b",
        "CLIENT SETNAME ab",
        "CLIENT GETNAME",
        "CLIENT foo",
        "COMMAND foo",
    ],
    &[
        "HELLO 3",
        "HSET h a 1 b 2",
        "HGETALL h",
        "SADD s 3 1 2",
        "SMEMBERS s",
        "ZADD z 1.5 a 0.1 b",
        "ZSCORE z a",
        "ZRANGE z 0 -1 WITHSCORES",
        "ZADD z INCR 1 a",
        "GET nosuch",
        "LPOP nosuch 2",
        "MULTI",
        "ZSCORE z a",
        "EXEC",
        "HELLO 2",
        "ZSCORE z a",
    ],
    &[
        "SUBSCRIBE a b",
        "PING",
        "PING x",
        "GET a",
        "PSUBSCRIBE p*",
        "UNSUBSCRIBE a",
        "UNSUBSCRIBE b",
        "PUNSUBSCRIBE p*",
        "UNSUBSCRIBE",
        "GET a",
        "HELLO 3",
        "SUBSCRIBE a",
        "GET a",
        "PUBLISH a m",
        "PSUBSCRIBE a*",
        "PUBLISH a m2",
        "UNSUBSCRIBE a",
        "PUNSUBSCRIBE a*",
    ],
];

#[test]
fn scripts_answer_byte_for_byte_like_a_real_redis() {
    let real = match RealRedis::start() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("SKIPPED scripts_answer_byte_for_byte_like_a_real_redis: {why}");
            return;
        }
    };
    for script in SCRIPTS {
        let mut phases: Vec<(&[&str], u64)> = vec![(&["FLUSHALL"][..], 0)];
        phases.push((script, 0));
        let expected = run_script(&Server::Real(&real), &phases);
        let e = engine(EMULATED);
        let got = run_script(&Server::Emulated(&e), &phases);
        assert!(expected == got, "{}", first_difference(&expected, &got));
    }
}

#[test]
fn expiry_and_pub_sub_between_connections_like_a_real_redis() {
    let real = match RealRedis::start() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("SKIPPED expiry_and_pub_sub_between_connections_like_a_real_redis: {why}");
            return;
        }
    };
    let e = engine(EMULATED);
    let servers = [Server::Real(&real), Server::Emulated(&e)];
    let runs: Vec<String> = servers
        .iter()
        .map(|server| {
            let expiry = run_script(
                server,
                &[
                    (
                        &["FLUSHALL", "SET k v PX 100", "SET p v EX 100", "TTL p"][..],
                        250,
                    ),
                    (&["GET k", "EXISTS k", "TTL k", "DBSIZE", "TTL p"][..], 0),
                ],
            );
            let mut sub = server.connect();
            let mut publisher = server.connect();
            sub.write_all(&resp(&["SUBSCRIBE news", "PSUBSCRIBE n*"]))
                .unwrap();
            let confirmations = read_until(&mut sub, b"$2\r\nn*\r\n:2\r\n");
            publisher
                .write_all(&resp(&["PUBLISH news hi", "PUBLISH other x"]))
                .unwrap();
            let counts = read_until(&mut publisher, b":2\r\n:0\r\n");
            let messages = read_until(
                &mut sub,
                b"pmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
            );
            let messages = [confirmations, counts, messages].concat();
            format!("{expiry}{}", String::from_utf8_lossy(&messages))
        })
        .collect();
    assert!(
        runs[0] == runs[1],
        "{}",
        first_difference(&runs[0], &runs[1])
    );
}

#[test]
fn a_subscriber_that_stops_reading_never_blocks_a_publisher_and_is_disconnected() {
    // No journal: it would hold each 1 MB message as text (the log line and the journal
    // event of the eviction are checked by tests/tests/hardening_redis.rs).
    let e = engine(EMULATED);
    let mut slow = connect(&e, "sessions.internal", 6379);
    exchange(
        &mut slow,
        &["SUBSCRIBE c"],
        "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    let mut publisher = connect(&e, "sessions.internal", 6379);
    // 64 messages of 1 MB, past Redis's 32 MB pubsub limit plus what the kernel's socket
    // buffers hold; before, the publisher stopped for good once those buffers were full
    // (blocked writing to the subscriber's socket).
    let payload = "x".repeat(1024 * 1024);
    let batch = resp(&[format!("PUBLISH c {payload}").as_str(); 8]);
    let writer = {
        let mut publisher = publisher.try_clone().unwrap();
        thread::spawn(move || {
            for _ in 0..8 {
                publisher.write_all(&batch).unwrap();
            }
        })
    };
    publisher
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut replies, mut lines) = (Vec::new(), 0);
    let mut buf = [0u8; 64 * 1024];
    while lines < 64 {
        let n = publisher.read(&mut buf).expect("replies within 30 s");
        assert!(n > 0, "the publisher was disconnected");
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        replies.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    let text = String::from_utf8(replies).unwrap();
    assert!(
        text.starts_with(":1\r\n") && text.ends_with(":0\r\n"),
        "dropped at some point"
    );
    // The subscriber gets what was in flight, then the end of the connection.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0;
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("still connected after 10 s")
            }
            Err(_) => break,
        }
    }
    assert!(
        received < 64 * 1024 * 1024,
        "closed before getting all: {received}"
    );
}

#[test]
fn an_http_post_to_a_redis_address_closes_it_before_the_body_runs() {
    let journal = temp_file("cross-protocol.jsonl");
    let e = engine_with_journal(EMULATED, &journal);
    let mut http = connect(&e, "sessions.internal", 6379);
    http.write_all(
        b"POST / HTTP/1.1\r\nHost: sessions.internal\r\nContent-Length: 13\r\n\r\nSET pwned 1\r\n",
    )
    .unwrap();
    http.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = http.read_to_end(&mut got);
    assert_eq!(got, b"", "closed without a reply");
    let mut c = connect(&e, "sessions.internal", 6379);
    exchange(&mut c, &["EXISTS pwned"], ":0\r\n");
    let events = journal_lines(&journal);
    let refused = events
        .iter()
        .find(|e| e["action"] == "unmatched")
        .expect("journaled");
    assert_eq!(
        refused["command"],
        serde_json::json!(["POST", "/", "HTTP/1.1"])
    );
    assert_eq!(e.report().unmatched_count, 1, "the run fails");
}
