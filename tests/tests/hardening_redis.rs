//! Redis addresses under hostile or broken clients (issue 10): nested arrays that used to
//! overflow a stack, Redis's protocol limits compared with a real `redis-server`, a glob
//! pattern that used to take exponential time, a subscriber that stops reading, and an HTTP
//! request sent to a Redis address. Real clients: redis-cli, redis-py, curl, raw sockets.

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "redis": "cache.internal:6379", "command": ["GET", "greeting"], "response": "hello" },
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

fn need(program: &str) {
    assert!(have(program), "{program} is missing (.ci/run installs it)");
}

/// Python helpers shared by the programs below: `exchange(host, port, data)` sends `data`
/// and returns what came back and whether the server closed the connection.
const PY_EXCHANGE: &str = r#"
import socket, subprocess, sys, time

def exchange(host, port, data, wait=1.0):
    s = socket.create_connection((host, port))
    s.settimeout(wait)
    try:
        s.sendall(data)
    except OSError:
        pass
    got, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    return got, closed

def listening(port):
    # From the kernel's table, not by connecting: a connect may be recorded by mocket.
    with open("/proc/net/tcp") as table:
        return any(line.split()[1] == "0100007F:%04X" % port and line.split()[3] == "0A"
                   for line in list(table)[1:])

def real_redis(port):
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL)
    for _ in range(200):
        if listening(port):
            return server
        time.sleep(0.05)
    sys.exit("redis-server did not start")
"#;

#[test]
fn nested_arrays_get_redis_protocol_error_and_nothing_dies() {
    let mocks = mocks_file(MOCKS);
    let program = format!(
        "{PY_EXCHANGE}{}",
        r#"
for host in ("sessions.internal", "cache.internal"):
    for data in (b"*1\r\n" * 10000, b"*1\r\n" * 262144):
        got, closed = exchange(host, 6379, data)
        print(host, len(data), got, closed)
    print(exchange(host, 6379, b"PING\r\n")[0])
"#
    );
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, &program, &[]);
        run.success();
        let error = r#"b"-ERR Protocol error: expected '$', got '*'\r\n" True"#;
        let expected = format!(
            "sessions.internal 40000 {error}\nsessions.internal 1048576 {error}\nb'+PONG\\r\\n'\n\
             cache.internal 40000 {error}\ncache.internal 1048576 {error}\nb'+PONG\\r\\n'\n"
        );
        assert_eq!(run.stdout, expected, "{placement:?}: {}", run.stderr);
    }
}

#[test]
fn protocol_limits_answer_and_close_like_a_real_redis() {
    need("redis-server");
    let mocks = mocks_file(MOCKS);
    let program = format!(
        "{PY_EXCHANGE}{}",
        r#"
server = real_redis(16400)
cases = [
    b"*1\r\n" * 10000,
    b"*2147483648\r\n",
    b"*2147483647\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$536870912\r\n",
    b"*1\r\n$-1\r\n",
    b"a" * 70000,
    b"*" + b"1" * 70000,
    b"*1\r\n$" + b"1" * 70000,
    b"*1\r\n:5\r\n",
    b"*1\r\n$4\r\nPINGxx",
    b"PING\r\n*x\r\n",
    b"echo \"a\r\n",
    b"SET k1 v\r\nPOST / HTTP/1.1\r\nSET k2 v\r\n",
]
try:
    for case in cases:
        real = exchange("127.0.0.1", 16400, case, 0.5)
        mocked = exchange("sessions.internal", 6379, case, 0.5)
        print("same" if real == mocked else "DIFFERENT", case[:24], real, mocked)
finally:
    server.terminate()
"#
    );
    let run = mocket_run(&mocks, &[], &["python3", "-c", &program]);
    assert!(
        run.stdout.lines().count() == 14 && !run.stdout.contains("DIFFERENT"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

const GLOB_PATTERN: &str = "*a*a*a*a*a*a*a*a*a*a*a*ab";

#[test]
fn keys_with_a_pathological_pattern_answers_without_backtracking_forever() {
    need("redis-cli");
    let mocks = mocks_file(MOCKS);
    let long = "a".repeat(80);
    // Exponential matching took hours for this key (the harness kills a run after 120 s).
    let script = format!(
        "redis-cli -h sessions.internal SET {long} 1 >/dev/null && \
         redis-cli -h sessions.internal SET {long}b 1 >/dev/null && \
         redis-cli -h sessions.internal KEYS '{GLOB_PATTERN}'"
    );
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", &script]);
    run.success();
    assert_eq!(run.stdout, format!("{long}b\n"), "{}", run.stderr);
}

#[test]
fn psubscribe_with_a_pathological_pattern_answers_under_both_placements() {
    need_python_module("redis");
    let mocks = mocks_file(MOCKS);
    let program = format!(
        r#"
import redis
r = redis.Redis(host="sessions.internal", port=6379)
p = r.pubsub()
p.psubscribe("{GLOB_PATTERN}")
p.get_message(timeout=5)
long = "a" * 80
print(r.publish(long, "no"), r.publish(long + "b", "yes"))
r.set(long, 1)
r.set(long + "b", 1)
print(r.keys("{GLOB_PATTERN}"))
print(p.get_message(timeout=5)["data"])
"#
    );
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, &program, &[]);
        run.success();
        let long = "a".repeat(80);
        assert_eq!(
            run.stdout,
            format!("0 1\n[b'{long}b']\nb'yes'\n"),
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn glob_patterns_select_the_keys_a_real_redis_selects() {
    need("redis-server");
    need_python_module("redis");
    let mocks = mocks_file(MOCKS);
    let program = r#"
import redis, subprocess, socket, time, sys
server = subprocess.Popen(["redis-server", "--port", "16401", "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", 16401)).close()
        break
    except OSError:
        time.sleep(0.05)
keys = [b"", b"a", b"b", b"ab", b"ba", b"abc", b"a-b", b"a]", b"a^", b"a\\", b"a*", b"a?",
        b"x]", b"xb", b"x_", b"h\xffllo", b"hello", b"hallo", b"hillo", b"[x]", b"a" * 30 + b"b"]
patterns = [b"*", b"**", b"?", b"a*", b"*b", b"a?", b"[ab]", b"[^a]*", b"a[-]b", b"a[\\]]",
            b"x[a-]", b"x[b-]", b"x[\\]", b"a\\*", b"a\\", b"[]a", b"[^]*", b"h[\xff-a]llo",
            b"h[a-e]llo", b"[", b"[a", b"*a*a*a*a*a*b", b"a[", b"\\[x]", b"[[]x]"]
real = redis.Redis(port=16401)
mocked = redis.Redis(host="sessions.internal", port=6379)
try:
    for r in (real, mocked):
        r.flushdb()
        for k in keys:
            r.set(k, 1)
    for p in patterns:
        a, b = sorted(real.keys(p)), sorted(mocked.keys(p))
        print("same" if a == b else "DIFFERENT", p, a, b)
finally:
    server.terminate()
"#;
    let run = mocket_run(&mocks, &[], &["python3", "-c", program]);
    run.success();
    assert!(
        run.stdout.lines().count() == 25 && !run.stdout.contains("DIFFERENT"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// A subscriber that reads its confirmation and then nothing, a publisher that sends
/// 100 000 messages of 1 KB with redis-py, then whether the subscriber was disconnected.
const SLOW_SUBSCRIBER: &str = r#"
import redis, socket
sub = socket.create_connection(("sessions.internal", 6379))
sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
confirmation = b""
while not confirmation.endswith(b":1\r\n"):
    confirmation += sub.recv(100)
r = redis.Redis(host="sessions.internal", port=6379)
payload = b"x" * 1024
counts = []
for _ in range(100):
    pipe = r.pipeline(transaction=False)
    for _ in range(1000):
        pipe.publish("news", payload)
    counts += pipe.execute()
print("published", len(counts), "first reached", counts[0], "last reached", counts[-1])
sub.settimeout(20)
try:
    while sub.recv(1 << 20):
        pass
    print("subscriber disconnected")
except socket.timeout:
    print("subscriber still connected")
except ConnectionResetError:
    print("subscriber disconnected")
print(r.ping())
"#;

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_and_publishers_go_on() {
    need_python_module("redis");
    let mocks = mocks_file(MOCKS);
    let expected =
        "published 100000 first reached 1 last reached 0\nsubscriber disconnected\nTrue\n";
    let run = Placement::Embedded.run(&mocks, &["python3", "-c", SLOW_SUBSCRIBER]);
    run.success();
    assert_eq!(run.stdout, expected, "{}", run.stderr);
    assert!(run.stderr.contains("stopped reading"), "{}", run.stderr);

    let journal = scratch_dir("slow-subscriber").join("journal.jsonl");
    let flag = format!("--journal={}", journal.display());
    let run = mocket_run(&mocks, &[&flag], &["python3", "-c", SLOW_SUBSCRIBER]);
    run.success();
    assert_eq!(run.stdout, expected, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("redis sessions.internal:6379: subscriber connection"),
        "{}",
        run.stderr
    );
    let journal = std::fs::read_to_string(&journal).unwrap();
    let eviction = journal
        .lines()
        .find(|l| l.contains(r#""action":"refused""#))
        .expect("a journal event for the disconnection");
    assert!(
        eviction.contains("client-output-buffer-limit pubsub 32mb 8mb 60"),
        "{eviction}"
    );
}

fn assert_cross_protocol_reported(run: &Run) {
    assert!(
        run.stderr.contains("Possible SECURITY ATTACK detected"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_http_request_to_a_redis_address_runs_nothing() {
    need("curl");
    need("redis-cli");
    need_python_module("redis");
    let mocks = mocks_file(MOCKS);
    // Two processes share the daemon's emulator: curl posts, redis-cli looks.
    let script = "curl -s -X POST --data-binary \"$(printf 'SET pwned 1\\r\\n')\" \
                  http://sessions.internal:6379/; echo \"curl exit $?\"; \
                  redis-cli -h sessions.internal EXISTS pwned";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    assert_eq!(run.stdout, "curl exit 52\n0\n", "{}", run.stderr);
    assert_eq!(
        run.code,
        Some(1),
        "unmatched traffic fails the run: {run:?}"
    );
    assert_cross_protocol_reported(&run);
    // A bare preload gives each process its own emulator: one Python process does both.
    let program = format!(
        "{PY_EXCHANGE}{}",
        r#"
import redis
body = b"SET pwned 1\r\n"
request = b"POST / HTTP/1.1\r\nHost: sessions.internal\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
print(exchange("sessions.internal", 6379, request))
print(exchange("sessions.internal", 6379, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nSET pwned 1\r\n"))
print(redis.Redis(host="sessions.internal", port=6379).exists("pwned"))
"#
    );
    let run = Placement::Embedded.run(&mocks, &["python3", "-c", &program]);
    assert_eq!(
        run.stdout, "(b'', True)\n(b'', True)\n0\n",
        "{}",
        run.stderr
    );
    assert_cross_protocol_reported(&run);
}

/// Recording (nothing allowed, so every connection to 127.0.0.1 is recorded): a real
/// `redis-server`, and a hostile server that answers any command with 10 000 nested arrays.
const RECORDED_NESTING: &str = r#"
import threading
server = real_redis(16402)
hostile = socket.socket()
hostile.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
hostile.bind(("127.0.0.1", 16403))
hostile.listen()
nested = b"*1\r\n" * 10000 + b":1\r\n"
def serve():
    conn, _ = hostile.accept()
    conn.recv(100)
    conn.sendall(nested)
    conn.close()
threading.Thread(target=serve, daemon=True).start()
try:
    print(exchange("127.0.0.1", 16402, b"*1\r\n" * 10000))
    print(exchange("127.0.0.1", 16402, b"PING\r\n")[0])
    got, closed = exchange("127.0.0.1", 16403, b"*1\r\n$4\r\nPING\r\n", 3.0)
    print(got == nested, closed)
finally:
    server.terminate()
"#;

#[test]
fn recording_a_nested_request_or_reply_relays_it_and_stops_recording_without_a_crash() {
    need("redis-server");
    let mocks = mocks_file(r#"{"entries": []}"#);
    let program = format!("{PY_EXCHANGE}{RECORDED_NESTING}");
    for placement in PLACEMENTS {
        let record = scratch_dir("record-nesting");
        let env = [
            ("MOCKET_RECORD_DIR", record.to_str().unwrap()),
            ("MOCKET_ALLOW", ""),
        ];
        let run = placement.run_env(&mocks, &env, &["python3", "-c", &program]);
        assert_eq!(
            run.stdout,
            "(b\"-ERR Protocol error: expected '$', got '*'\\r\\n\", True)\nb'+PONG\\r\\n'\n\
             True True\n",
            "{placement:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("expected '$', got '*'")
                && run.stderr.contains("deeper than 128 levels"),
            "{placement:?}: {}",
            run.stderr
        );
    }
}
