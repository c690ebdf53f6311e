//! Recording and replay (DESIGN.md section 6): live services started by the test itself on
//! 127.0.0.1 inside the test's network namespace (an HTTP server that counts its hits, a TLS
//! server with its own test CA, a real `redis-server`, a raw TCP server that speaks first) are
//! recorded through `mocket run --record` with nothing allowed, then stopped; the replay runs
//! in a fresh namespace where nothing listens at all.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use mocket_tests::*;
use serde_json::Value;

/// The live services, then the command given after the config; it prints what the services
/// saw to the `report` file when the command ends. `kill_after` SIGKILLs the command's whole
/// process group that many seconds after it has made 10 HTTP requests.
const SERVICES: &str = r#"
import http.server, json, os, signal, socket, socketserver, ssl, subprocess, sys, threading, time

cfg = json.loads(sys.argv[1])
cmd = sys.argv[2:]
hits = {"http": 0, "tls": 0, "tcp": 0}
lock = threading.Lock()

def count(kind):
    with lock:
        hits[kind] += 1
        return hits[kind]

class Counter(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kind = "http"

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def answer(self, body_in):
        n = count(self.kind)
        path = self.path.split("?")[0]
        body = f"{self.kind} {self.command} {path} #{n} got {len(body_in)} bytes\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        if path == "/login":
            self.send_header("set-cookie", "session=SECRET-COOKIE-3")
        if path == "/chunked":
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for piece in (body[:5], body[5:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Secure(Counter):
    kind = "tls"

class Greeter(socketserver.BaseRequestHandler):
    def handle(self):
        n = count("tcp")
        self.request.sendall(b"220 ready\r\n")
        line = b""
        while not line.endswith(b"\n"):
            chunk = self.request.recv(1024)
            if not chunk:
                break
            line += chunk
        self.request.sendall(b"250 hello " + line.strip() + f" #{n}\r\n".encode())

def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

servers = []
socketserver.ThreadingTCPServer.allow_reuse_address = True
if "http" in cfg:
    servers.append(serve(http.server.ThreadingHTTPServer(("127.0.0.1", cfg["http"]), Counter)))
if "tls" in cfg:
    port, cert, key = cfg["tls"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Secure)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    servers.append(serve(server))
if "tcp" in cfg:
    servers.append(serve(socketserver.ThreadingTCPServer(("127.0.0.1", cfg["tcp"]), Greeter)))
redis = None
if "redis" in cfg:
    port, password = cfg["redis"]
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--requirepass", password],
        stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)

child = subprocess.Popen(cmd, start_new_session=True)
if cfg.get("kill_after"):
    # The clock starts once the command is under way (10 requests served), not at its start: a
    # loaded machine may take seconds to start mocket run and python.
    deadline = time.time() + 60
    while hits["http"] < 10 and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
try:
    code = child.wait(timeout=cfg.get("kill_after"))
except subprocess.TimeoutExpired:
    os.killpg(child.pid, signal.SIGKILL)
    code = child.wait()
for server in servers:
    server.shutdown()
if redis:
    redis.terminate()
    redis.wait()
with open(cfg["report"], "w") as f:
    json.dump(hits, f)
sys.exit(code if code >= 0 else 128 - code)
"#;

const HTTP_PORT: u16 = 18080;
const TLS_PORT: u16 = 18443;
const TCP_PORT: u16 = 12525;
const REDIS_PORT: u16 = 16379;
const REDIS_PASSWORD: &str = "SECRET-REDIS-PW";

/// One test's files: the record dir, the mocket CA's home, the test CA, the scripts.
struct Setup {
    dir: PathBuf,
    record: PathBuf,
    mocks: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = scratch_dir(tag);
        std::fs::write(dir.join("services.py"), SERVICES).unwrap();
        let mocks = dir.join("mocks.json");
        std::fs::write(&mocks, "{}").unwrap();
        Setup {
            record: dir.join("fixtures"),
            mocks,
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("XDG_DATA_HOME", self.path("data")),
            ("PATH", path_with_test_bins()),
        ];
        if self.dir.join("test-ca.pem").exists() {
            env.push(("MOCKET_UPSTREAM_CA", self.path("test-ca.pem")));
        }
        env
    }

    /// A server certificate for `localhost` and 127.0.0.1, signed by a CA of the test's own.
    fn make_test_ca(&self) {
        mocket_tests::make_test_ca(&self.dir);
    }

    /// Writes `script` and returns the `mocket run` command line that runs it with `flags`.
    fn mocket_cmd(&self, name: &str, flags: &[&str], script: &str) -> Vec<String> {
        std::fs::write(self.dir.join(name), script).unwrap();
        let mut cmd = vec![
            mocket_bin().to_string_lossy().into_owned(),
            "run".into(),
            "--config".into(),
            self.mocks.to_string_lossy().into_owned(),
            "--record".into(),
            self.record.to_string_lossy().into_owned(),
            "--allow".into(),
            String::new(),
        ];
        cmd.extend(flags.iter().map(|f| f.to_string()));
        cmd.extend(["--".into(), "sh".into(), self.path(name)]);
        cmd
    }

    /// Runs `cmd` in a fresh namespace, with the live services around it when `services` is
    /// given; returns the run and what the services counted.
    fn run(&self, services: Option<Value>, cmd: Vec<String>) -> (Run, Option<Value>) {
        let report = self.dir.join("hits.json");
        let _ = std::fs::remove_file(&report);
        let mut args: Vec<String> = Vec::new();
        if let Some(mut cfg) = services {
            cfg["report"] = Value::String(report.to_string_lossy().into_owned());
            args.extend(["python3".into(), self.path("services.py"), cfg.to_string()]);
        }
        args.extend(cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = netns_command(&args);
        c.current_dir(&self.dir);
        for (k, v) in self.env() {
            c.env(k, v);
        }
        let run = run(c);
        let hits = std::fs::read_to_string(&report)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap());
        (run, hits)
    }

    fn cassette(&self) -> Value {
        let text = std::fs::read_to_string(self.record.join("default.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// The test binaries (mocket-test-client) on PATH, before the rest.
fn path_with_test_bins() -> String {
    format!(
        "{}:{}",
        build_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn all_services() -> Value {
    serde_json::json!({
        "http": HTTP_PORT,
        "tls": [TLS_PORT, "server.pem", "server.key"],
        "tcp": TCP_PORT,
        "redis": [REDIS_PORT, REDIS_PASSWORD],
    })
}

/// Every client: curl (HTTP, HTTPS, a secret header and query, a POST, a chunked response),
/// Python (urllib over HTTP and HTTPS, redis-py), redis-cli with a password, and Rust and nc
/// against the server-first TCP service.
fn clients_script() -> String {
    format!(
        r#"set -e
echo "== curl"
curl -sS http://127.0.0.1:{HTTP_PORT}/count
curl -sS http://127.0.0.1:{HTTP_PORT}/count
curl -sS http://127.0.0.1:{HTTP_PORT}/count
curl -sS -H 'authorization: Bearer SECRET-TOKEN-1' 'http://127.0.0.1:{HTTP_PORT}/private?api_key=SECRET-KEY-2&page=1'
curl -sS -o /dev/null -w '%{{http_code}}\n' http://127.0.0.1:{HTTP_PORT}/login
curl -sS -d 'hello=world' http://127.0.0.1:{HTTP_PORT}/form
curl -sS http://127.0.0.1:{HTTP_PORT}/chunked
curl -sS https://localhost:{TLS_PORT}/secure
curl -sS https://localhost:{TLS_PORT}/secure
echo "== python"
python3 -c '
import urllib.request
for url in ["http://localhost:{HTTP_PORT}/py?b=2&a=1", "https://localhost:{TLS_PORT}/py"]:
    print(urllib.request.urlopen(url).read().decode(), end="")
import redis
r = redis.Redis(host="127.0.0.1", port={REDIS_PORT}, password="{REDIS_PASSWORD}")
print(r.incr("visits"), r.incr("visits"), r.get("greeting"))
'
echo "== redis-cli"
redis-cli -h 127.0.0.1 -p {REDIS_PORT} --no-auth-warning -a {REDIS_PASSWORD} SET greeting hi
redis-cli -h 127.0.0.1 -p {REDIS_PORT} --no-auth-warning -a {REDIS_PASSWORD} GET greeting
redis-cli -h 127.0.0.1 -p {REDIS_PORT} --no-auth-warning -a {REDIS_PASSWORD} INCR visits
echo "== tcp"
mocket-test-client std 127.0.0.1 {TCP_PORT} 'HELO rust
'
printf 'HELO nc\r\n' | nc -N 127.0.0.1 {TCP_PORT}
mocket-test-client tokio 127.0.0.1 {TCP_PORT} 'HELO tokio
'
echo "== rust http"
mocket-test-client std 127.0.0.1 {HTTP_PORT} '{rust_get}'
echo "== done"
"#,
        rust_get = "GET /rust HTTP/1.1\r\nhost: rust\r\nconnection: close\r\n\r\n"
    )
}

#[test]
fn records_every_protocol_then_replays_the_same_bytes_without_the_network() {
    let s = Setup::new("rec-all");
    s.make_test_ca();
    let script = clients_script();

    let cmd = s.mocket_cmd("clients.sh", &[], &script);
    let (recorded, hits) = s.run(Some(all_services()), cmd.clone());
    recorded.success();
    let hits = hits.expect("services report");
    assert_eq!(hits["http"], 9, "{hits}\n{}", recorded.stderr);
    assert_eq!(hits["tls"], 3, "{hits}");
    assert_eq!(hits["tcp"], 3, "{hits}");
    let out = &recorded.stdout;
    for expected in [
        "http GET /count #1 got 0 bytes\nhttp GET /count #2 got 0 bytes\nhttp GET /count #3 got 0 bytes\n",
        "http POST /form #",
        "got 11 bytes",
        "http GET /chunked #",
        "tls GET /secure #1",
        "tls GET /secure #2",
        "tls GET /py #3",
        "1 2 None\n",
        "OK\nhi\n3\n",
        "220 ready\r\n250 hello HELO rust #1\r\n",
        "220 ready\r\n250 hello HELO nc #2\r\n",
        "220 ready\r\n250 hello HELO tokio #3\r\n",
        "HTTP/1.1 200 OK\r\n",
        "http GET /rust #9 got 0 bytes\n",
        "== done",
    ] {
        assert!(
            out.contains(expected),
            "missing {expected:?} in:\n{out}\n{}",
            recorded.stderr
        );
    }
    assert!(
        recorded.stderr.contains("recorded, 0 replayed"),
        "{}",
        recorded.stderr
    );

    // Replay in a fresh namespace where nothing listens: the same bytes, every time.
    let (replayed, _) = s.run(None, cmd);
    replayed.success();
    assert_eq!(replayed.stdout, recorded.stdout, "{}", replayed.stderr);
    assert!(
        replayed.stderr.contains("mocket: 0 recorded, "),
        "{}",
        replayed.stderr
    );

    // Secrets never reached any file under the record dir.
    for entry in std::fs::read_dir(&s.record).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for secret in [
            "SECRET-TOKEN-1",
            "SECRET-KEY-2",
            "SECRET-COOKIE-3",
            REDIS_PASSWORD,
        ] {
            assert!(
                !text.contains(secret),
                "{secret} in {}:\n{text}",
                path.display()
            );
        }
    }
    let cassette = s.cassette();
    let text = cassette.to_string();
    assert!(text.contains("<redacted>"), "{text}");
    assert!(text.contains(r#""first":"server""#), "{text}");
    assert!(text.contains(r#""reply":"+OK\r\n""#), "{text}");
    assert!(text.contains("https://localhost:18443/py"), "{text}");
}

#[test]
fn mode_none_answers_unknown_requests_without_touching_the_network() {
    let s = Setup::new("rec-none");
    s.make_test_ca();
    let record = format!(
        "curl -sS http://127.0.0.1:{HTTP_PORT}/known\n\
         redis-cli -h 127.0.0.1 -p {REDIS_PORT} --no-auth-warning -a {REDIS_PASSWORD} GET k\n"
    );
    let cmd = s.mocket_cmd("record.sh", &[], &record);
    let (first, hits) = s.run(Some(all_services()), cmd);
    first.success();
    assert_eq!(hits.unwrap()["http"], 1);

    // The services run again (fresh counters), but mode none must not reach them.
    let unknown = format!(
        "curl -sS -i http://127.0.0.1:{HTTP_PORT}/unknown\n\
         curl -sS http://127.0.0.1:{HTTP_PORT}/known\n\
         curl -sS -m 5 http://127.0.0.1:{TLS_PORT}/never-recorded\n\
         redis-cli -h 127.0.0.1 -p {REDIS_PORT} --no-auth-warning -a {REDIS_PASSWORD} GET other\n\
         printf 'HELO x\\r\\n' | nc -N -w 5 127.0.0.1 {TCP_PORT}; echo nc done\n"
    );
    let cmd = s.mocket_cmd("unknown.sh", &["--record-mode", "none"], &unknown);
    let (run, hits) = s.run(Some(all_services()), cmd);
    run.expect_code(1);
    assert_eq!(
        hits.unwrap(),
        serde_json::json!({"http": 0, "tls": 0, "tcp": 0}),
        "{}",
        run.stderr
    );
    let out = &run.stdout;
    assert!(out.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{out}");
    assert!(
        out.contains("GET http://127.0.0.1:18080/unknown: not in the cassette"),
        "{out}"
    );
    assert!(out.contains("http GET /known #1 got 0 bytes\n"), "{out}");
    assert!(
        out.contains("GET http://127.0.0.1:18443/never-recorded: not in the cassette"),
        "{out}"
    );
    assert!(
        out.contains("ERR mocket: GET other is not in the cassette"),
        "{out}"
    );
    assert!(out.contains("nc done"), "{out}");
    assert!(
        run.stderr
            .contains("unmatched http 127.0.0.1:18080: GET /unknown"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("4 unmatched"), "{}", run.stderr);
}

#[test]
fn four_processes_recording_at_once_keep_all_their_exchanges() {
    let s = Setup::new("rec-four");
    // Embedded engines: every curl is its own process with its own engine and its own writes.
    let chains: Vec<String> = (1..=4)
        .map(|p| {
            let urls: Vec<String> = (1..=3)
                .map(|i| format!("curl -sS http://127.0.0.1:{HTTP_PORT}/p{p}/{i}"))
                .collect();
            format!("( {} ) > out{p}.txt &", urls.join("; "))
        })
        .collect();
    let script = format!(
        "{}\nwait\ncat out1.txt out2.txt out3.txt out4.txt\n",
        chains.join("\n")
    );
    std::fs::write(s.dir.join("four.sh"), &script).unwrap();
    let services = serde_json::json!({"http": HTTP_PORT});
    let shim = shim_lib().to_string_lossy().into_owned();
    let record = s.record.to_string_lossy().into_owned();
    let cmd = vec![
        "env".into(),
        format!("LD_PRELOAD={shim}"),
        format!("MOCKET_RECORD_DIR={record}"),
        "MOCKET_RECORD_MODE=new_episodes".into(),
        "MOCKET_ALLOW=".into(),
        "sh".into(),
        s.path("four.sh"),
    ];
    let (run, hits) = s.run(Some(services), cmd);
    run.success();
    assert_eq!(hits.unwrap()["http"], 12, "{}", run.stderr);
    let cassette = s.cassette();
    let urls: Vec<&str> = cassette["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["http"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 12, "{urls:?}");
    for p in 1..=4 {
        for i in 1..=3 {
            let url = format!("http://127.0.0.1:{HTTP_PORT}/p{p}/{i}");
            assert!(urls.contains(&url.as_str()), "{url} missing from {urls:?}");
        }
    }
    // And they replay with nothing listening, under `mocket run` and under a bare LD_PRELOAD.
    let cmd = s.mocket_cmd("replay.sh", &["--record-mode", "none"], &script);
    let (replayed, _) = s.run(None, cmd);
    replayed.success();
    assert_eq!(replayed.stdout, run.stdout);
    let embedded = vec![
        "env".into(),
        format!("LD_PRELOAD={shim}"),
        format!("MOCKET_RECORD_DIR={record}"),
        "MOCKET_RECORD_MODE=none".into(),
        "MOCKET_ALLOW=".into(),
        "sh".into(),
        s.path("four.sh"),
    ];
    let (replayed, _) = s.run(None, embedded);
    replayed.success();
    assert_eq!(replayed.stdout, run.stdout, "{}", replayed.stderr);
}

#[test]
fn kill_9_while_recording_leaves_a_parseable_cassette() {
    let s = Setup::new("rec-kill");
    let script = format!(
        "python3 -c '\nimport urllib.request\nfor i in range(100000):\n    urllib.request.urlopen(\"http://127.0.0.1:{HTTP_PORT}/n%d\" % i).read()\n'\n"
    );
    let cmd = s.mocket_cmd("loop.sh", &[], &script);
    let services = serde_json::json!({"http": HTTP_PORT, "kill_after": 2.0});
    let (run, hits) = s.run(Some(services), cmd);
    assert_eq!(run.code, Some(137), "{run:?}");
    let served = hits.unwrap()["http"].as_u64().unwrap();
    assert!(served > 5, "the loop ran: {served}");
    let cassette = s.cassette();
    assert_eq!(cassette["mocket_cassette"], 1);
    let n = cassette["interactions"].as_array().unwrap().len() as u64;
    // Every answer the client saw was on disk first; the last one may have been cut.
    assert!(
        n + 1 >= served && n <= served,
        "{n} recorded, {served} served"
    );
}

#[test]
fn bad_record_settings_are_precise_errors() {
    let mocks = mocks_file("{}");
    let dir = scratch_dir("rec-bad");
    let d = dir.to_str().unwrap();
    let run = mocket_run(
        &mocks,
        &["--record", d, "--record-mode", "sometimes"],
        &["true"],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--record-mode: unknown record mode \"sometimes\""),
        "{}",
        run.stderr
    );
    let run = mocket_run_env(
        &mocks,
        &["--record", d],
        &[("MOCKET_RECORD_MODE", "nope")],
        &["true"],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("MOCKET_RECORD_MODE: unknown record mode"),
        "{}",
        run.stderr
    );
    let run = mocket_run(&mocks, &["--record", d, "--namespace", "../up"], &["true"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("not a valid cassette name"),
        "{}",
        run.stderr
    );
    std::fs::write(Path::new(d).join("default.json"), "{ broken").unwrap();
    let run = mocket_run(&mocks, &["--record", d], &["true"]);
    run.expect_code(2);
    assert!(run.stderr.contains("is broken"), "{}", run.stderr);
}

#[test]
fn new_episodes_replays_what_it_holds_and_records_the_rest_and_all_starts_afresh() {
    let s = Setup::new("rec-episodes");
    s.make_test_ca();
    let services = || serde_json::json!({"tls": [TLS_PORT, "server.pem", "server.key"]});
    let get = |paths: &[&str]| -> String {
        let lines: Vec<String> = paths
            .iter()
            .map(|p| format!("curl -sS https://localhost:{TLS_PORT}{p}\n"))
            .collect();
        lines.concat()
    };
    let cmd = s.mocket_cmd("first.sh", &[], &get(&["/a"]));
    let (first, hits) = s.run(Some(services()), cmd);
    first.success();
    assert_eq!(hits.unwrap()["tls"], 1);

    // /a comes from the cassette, /b from the (restarted) server over a lazily opened TLS.
    let flags = ["--record-mode", "new_episodes"];
    let cmd = s.mocket_cmd("second.sh", &flags, &get(&["/a", "/b"]));
    let (second, hits) = s.run(Some(services()), cmd);
    second.success();
    assert_eq!(hits.unwrap()["tls"], 1, "{}", second.stderr);
    assert_eq!(
        second.stdout,
        "tls GET /a #1 got 0 bytes\ntls GET /b #1 got 0 bytes\n"
    );
    assert!(
        second.stderr.contains("mocket: 1 recorded, 1 replayed"),
        "{}",
        second.stderr
    );
    let count = |s: &Setup| s.cassette()["interactions"].as_array().unwrap().len();
    assert_eq!(count(&s), 2);

    // `all` records everything again and drops what the cassette held.
    let cmd = s.mocket_cmd("third.sh", &["--record-mode", "all"], &get(&["/c"]));
    let (third, hits) = s.run(Some(services()), cmd);
    third.success();
    assert_eq!(hits.unwrap()["tls"], 1);
    let urls: Vec<String> = s.cassette()["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["http"]["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls, [format!("https://127.0.0.1:{TLS_PORT}/c")]);
}

#[test]
fn redis_pub_sub_messages_replay_after_the_subscription() {
    let s = Setup::new("rec-pubsub");
    let script = format!(
        r#"python3 -c '
import redis
r = redis.Redis(host="127.0.0.1", port={REDIS_PORT}, password="{REDIS_PASSWORD}")
p = r.pubsub()
p.subscribe("news", "weather")
print(p.get_message(timeout=5))
print(p.get_message(timeout=5))
print("receivers", r.publish("news", "hello"))
print(p.get_message(timeout=5))
p.close()
r.close()
'
"#
    );
    let cmd = s.mocket_cmd("pubsub.sh", &[], &script);
    let services = serde_json::json!({"redis": [REDIS_PORT, REDIS_PASSWORD]});
    let (recorded, _) = s.run(Some(services), cmd.clone());
    recorded.success();
    assert!(
        recorded.stdout.contains("receivers 1\n") && recorded.stdout.contains("'data': b'hello'"),
        "{}\n{}",
        recorded.stdout,
        recorded.stderr
    );
    let (replayed, _) = s.run(None, cmd);
    replayed.success();
    assert_eq!(replayed.stdout, recorded.stdout, "{}", replayed.stderr);
}
