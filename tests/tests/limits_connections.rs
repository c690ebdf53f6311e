//! The engine's connections under pressure, with real clients: the fd limit, clients that reset
//! or abandon a TLS handshake, idle connections (the idle timeout, 5 000 of them at once with
//! the daemon's threads counted, a Redis subscriber exempt), and a report that stays short.

use std::path::Path;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.test/ok", "response": { "body": "fine" } },
    { "http": "GET https://secure.test/ok", "response": { "body": "fine" } },
    { "redis": "cache.test:6379", "emulate": true }
  ]
}"#;

/// Python helpers shared by the programs below.
const PY_PRELUDE: &str = r#"
import os, resource, select, socket, ssl, sys, time

def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def cpu_seconds(pid):
    """User and system CPU time of a process, from /proc/<pid>/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

def threads(pid):
    return status(pid, "Threads")
"#;

/// The helpers, [`HTTP_GET_PY`]'s `http_get` among them, then `body`.
fn program(body: &str) -> String {
    format!("{PY_PRELUDE}{HTTP_GET_PY}\n{body}")
}

/// `mocket run` under `sh -c SETUP` (e.g. a `ulimit`), in a fresh network namespace.
fn mocket_run_after(setup: &str, mocks: &Path, env: &[(&str, &str)], cmd: &[&str]) -> Run {
    let bin = mocket_bin();
    let mocks = mocks.to_string_lossy();
    let script = format!("{setup} && exec \"$0\" \"$@\"");
    let mut args = vec!["sh", "-c", &script, bin.to_str().unwrap()];
    args.extend(["run", "--config", &mocks, "--"]);
    args.extend_from_slice(cmd);
    let mut command = netns_command(&args);
    command.envs(env.iter().copied());
    run(command)
}

/// At the fd limit the engine neither spins nor stays stuck: it says what happened and how to
/// fix it, and serves again once the connections holding its fds close.
#[test]
fn at_the_fd_limit_the_engine_waits_says_why_and_recovers() {
    let mocks = mocks_file(MOCKS);
    let body = r#"
raise_fd_limit()
conns = [socket.create_connection(("api.test", 80)) for _ in range(200)]
for c in conns:
    c.sendall(b"GET ")  # accepted once bytes come (TCP_DEFER_ACCEPT): each holds an engine fd
time.sleep(0.5)
engine = os.getppid()
before = cpu_seconds(engine)
time.sleep(1)
print("cpu", cpu_seconds(engine) - before, file=sys.stderr)
print("spinning" if cpu_seconds(engine) - before > 0.3 else "calm")
for c in conns:
    c.close()
print(http_get("api.test", "/ok"))
"#;
    let run = mocket_run_after(
        "ulimit -Sn 64",
        &mocks,
        &[],
        &["python3", "-c", &program(body)],
    );
    eprintln!("{}", run.stderr);
    run.success();
    assert_eq!(run.stdout, "calm\nHTTP/1.1 200 OK fine\n", "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot accept connections")
            && run.stderr.contains("(the limit is 64)")
            && run.stderr.contains("ulimit -n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("cannot accept connections").count(),
        1,
        "said once: {}",
        run.stderr
    );
}

/// A client that connects and resets at once is gone: no "no process claimed" warning.
#[test]
fn a_reset_right_after_connect_is_not_reported() {
    let mocks = mocks_file(MOCKS);
    let body = r#"
import struct
for _ in range(100):
    s = socket.create_connection(("api.test", 80))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print(http_get("api.test", "/ok"))
"#;
    let run = mocket_run_after("true", &mocks, &[], &["python3", "-c", &program(body)]);
    run.success();
    assert_eq!(run.stdout, "HTTP/1.1 200 OK fine\n", "{}", run.stderr);
    assert!(!run.stderr.contains("claimed"), "{}", run.stderr);
    assert!(!run.stderr.contains("unmatched http"), "{}", run.stderr);
}

/// A client that exits in the middle of its TLS handshake made no request: the run ends with
/// the command's status, and the journal says the connection closed during the handshake. (A
/// client that rejects the certificate with an alert still fails the run: see
/// `rust_clients.rs`, reqwest with webpki roots.)
#[test]
fn a_client_exiting_mid_handshake_is_not_unmatched() {
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("abandoned-tls").join("journal.jsonl");
    let journal_flag = format!("--journal={}", journal.display());
    let data_home = scratch_dir("abandoned-tls-data");
    let env = [("XDG_DATA_HOME", data_home.to_str().unwrap())];
    let body = r#"
ctx = ssl.create_default_context()
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="secure.test")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
s = socket.create_connection(("secure.test", 443))
s.sendall(outgoing.read())
print("server hello", len(s.recv(5)) == 5, flush=True)
os._exit(0)
"#;
    let run = mocket_run_env(
        &mocks,
        &[&journal_flag],
        &env,
        &["python3", "-c", &program(body)],
    );
    run.success();
    assert_eq!(run.stdout, "server hello True\n", "{}", run.stderr);
    assert!(run.stderr.contains("0 unmatched"), "{}", run.stderr);
    let journal = std::fs::read_to_string(&journal).unwrap();
    assert!(
        journal.contains(r#""action":"closed""#) && journal.contains("during the TLS handshake"),
        "{journal}"
    );
}

/// 5 000 clients that connect and say nothing: the daemon holds them without a thread each,
/// still serves a request meanwhile, and closes them at the idle timeout.
#[test]
fn five_thousand_idle_connections_hold_few_threads_and_time_out() {
    let mocks = mocks_file(MOCKS);
    let body = r#"
raise_fd_limit()
engine = os.getppid()
baseline = threads(engine)
start = time.monotonic()
conns = [socket.create_connection(("api.test", 80)) for _ in range(5000)]
opened = time.monotonic() - start
time.sleep(0.5)
poller = select.poll()
for c in conns:
    poller.register(c, select.POLLIN)
still_open = 5000 - len(poller.poll(0))
held = threads(engine)
vm, rss = status(engine, "VmSize") // 1024, status(engine, "VmRSS") // 1024
print(f"opened 5000 in {opened:.1f} s; daemon threads {baseline} -> {held}, VmSize {vm} MB, VmRSS {rss} MB", file=sys.stderr)
# The bound: the pool's 256 connection threads plus the daemon's own few (one per connection
# before); measured: 3 -> 81, the threads of connections accepted before their claim arrived.
print("open", still_open, "threads bounded", held <= 266)
print(http_get("api.test", "/ok"))
deadline = time.monotonic() + 30
closed = set()
while len(closed) < 5000 and time.monotonic() < deadline:
    for fd, _ in poller.poll(1000):
        closed.add(fd)
for c in conns:
    if c.fileno() in closed and c.recv(1) != b"":
        closed.discard(c.fileno())
print("closed by the daemon", len(closed))
"#;
    let run = mocket_run_after(
        "ulimit -n 12000",
        &mocks,
        &[("MOCKET_IDLE_TIMEOUT_MS", "8000")],
        &["python3", "-c", &program(body)],
    );
    run.success();
    eprintln!("{}", run.stderr);
    assert_eq!(
        run.stdout,
        "open 5000 threads bounded True\nHTTP/1.1 200 OK fine\nclosed by the daemon 5000\n",
        "{}",
        run.stderr
    );
}

/// The idle timeout also ends a keep-alive connection that went quiet after a request, but not
/// a Redis subscriber waiting for messages.
#[test]
fn the_idle_timeout_spares_subscribers() {
    let mocks = mocks_file(MOCKS);
    let body = r#"
import redis
s = socket.create_connection(("api.test", 80))
s.sendall(b"GET /ok HTTP/1.1\r\nHost: api.test\r\n\r\n")
s.settimeout(10)
first = s.recv(4096)
start = time.monotonic()
rest = s.recv(4096)
print("keep-alive closed", first.startswith(b"HTTP/1.1 200") and rest == b"", time.monotonic() - start < 5)

sub = redis.Redis(host="cache.test", port=6379).pubsub()
sub.subscribe("news")
assert sub.get_message(timeout=5)["type"] == "subscribe"
time.sleep(1.5)
redis.Redis(host="cache.test", port=6379).publish("news", "hello")
message = sub.get_message(timeout=5)
print("subscriber got", message and message["data"])
"#;
    let run = mocket_run_after(
        "true",
        &mocks,
        &[("MOCKET_IDLE_TIMEOUT_MS", "500")],
        &["python3", "-c", &program(body)],
    );
    run.success();
    assert_eq!(
        run.stdout, "keep-alive closed True True\nsubscriber got b'hello'\n",
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_idle_timeout_is_bad_input() {
    let mocks = mocks_file(MOCKS);
    let run = mocket_run_after(
        "true",
        &mocks,
        &[("MOCKET_IDLE_TIMEOUT_MS", "5s")],
        &["true"],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("MOCKET_IDLE_TIMEOUT_MS=\"5s\""),
        "{}",
        run.stderr
    );
}

/// 100 000 entries never used and a 50 KB unmatched path: a few lines of stderr, not megabytes.
#[test]
fn the_report_stays_a_screenful() {
    let entries: Vec<String> = (0..100_000)
        .map(|i| format!(r#"{{ "tcp": "host{i}.test:1", "response": "x" }}"#))
        .collect();
    let mocks = mocks_file(&format!(
        r#"{{ "entries": [{{ "http": "GET http://api.test/ok", "response": {{ "body": "fine" }} }}, {}] }}"#,
        entries.join(",\n")
    ));
    let body = r#"
s = socket.create_connection(("api.test", 80))
s.sendall(b"GET /" + b"p" * 50000 + b" HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
print(s.recv(12).decode())
"#;
    let run = mocket_run_after("true", &mocks, &[], &["python3", "-c", &program(body)]);
    run.expect_code(1);
    assert_eq!(run.stdout, "HTTP/1.1 501\n", "{}", run.stderr);
    assert!(
        run.stderr.len() < 12_000,
        "{} bytes of stderr:\n{}",
        run.stderr.len(),
        &run.stderr[..run.stderr.len().min(3000)]
    );
    assert!(
        run.stderr.contains("... and 99981 more entries never used"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("never used: entry").count(), 20);
    assert!(run.stderr.contains("more characters)"), "{}", run.stderr);
}

/// Every thread of a process under `mocket run` keeps its own control connection to the daemon:
/// 300 threads asking at once cost the daemon no thread each.
#[test]
fn three_hundred_control_connections_share_one_daemon_thread() {
    let mocks = mocks_file(MOCKS);
    let body = r#"
import threading
engine = os.getppid()
baseline = threads(engine)
asked = threading.Barrier(301)
done = threading.Event()
def ask():
    socket.gethostbyname("api.test")
    asked.wait()
    done.wait()
workers = [threading.Thread(target=ask) for _ in range(300)]
for w in workers:
    w.start()
asked.wait()
held = threads(engine)
done.set()
for w in workers:
    w.join()
print(f"daemon threads {baseline} -> {held}", file=sys.stderr)
print("bounded", held - baseline < 10)
"#;
    let run = mocket_run_after("true", &mocks, &[], &["python3", "-c", &program(body)]);
    run.success();
    assert_eq!(run.stdout, "bounded True\n", "{}", run.stderr);
}
