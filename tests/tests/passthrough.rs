//! `"unmatched": "passthrough"` (DESIGN.md section 7) with real clients (curl, python
//! requests) in both placements: a request an entry matches is mocked, one that matches nothing
//! reaches the real server (started by the test on 127.0.0.1 inside the test's network
//! namespace), is journaled and counted as `passthrough`, and `mocket run` exits 0. HTTPS
//! upstreams are verified like recording's (a certificate of an unknown CA is refused, with
//! `502`); strict mode keeps hosts it does not allow closed; `mocket check` names a bad value.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

use mocket_tests::*;
use serde_json::Value;

/// The real servers (plain HTTP and, with a certificate, HTTPS), then the command given after
/// the config; writes how many requests each server saw to the `report` file at the end and
/// exits with the command's status.
const UPSTREAM: &str = r#"
import http.server, json, ssl, subprocess, sys, threading

cfg = json.loads(sys.argv[1])
hits = {"http": 0, "tls": 0}
lock = threading.Lock()

class Real(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kind = "http"

    def do_GET(self):
        self.answer(b"")

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def answer(self, body_in):
        with lock:
            hits[self.kind] += 1
        body = f"real {self.kind} {self.command} {self.path} got {body_in.decode()}\n".encode()
        self.send_response(203)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Secure(Real):
    kind = "tls"

servers = [http.server.ThreadingHTTPServer(("127.0.0.1", cfg["http"]), Real)]
if "tls" in cfg:
    port, cert, key = cfg["tls"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Secure)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    servers.append(server)
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
code = subprocess.call(sys.argv[2:])
for server in servers:
    server.shutdown()
with open(cfg["report"], "w") as f:
    json.dump(hits, f)
sys.exit(code if code >= 0 else 128 - code)
"#;

const HTTP_PORT: u16 = 18181;
const TLS_PORT: u16 = 18443;

/// One test's files: the mocks file, the journal, the scripts, the mocket CA's home.
struct Setup {
    dir: PathBuf,
}

/// What one run did: the run, the journal's actions, what the real servers saw.
struct Outcome {
    run: Run,
    journal: Vec<Value>,
    hits: Value,
}

impl Outcome {
    fn actions(&self) -> Vec<&str> {
        self.journal
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect()
    }
}

impl Setup {
    fn new(tag: &str, mocks: &str) -> Setup {
        let dir = scratch_dir(tag);
        std::fs::write(dir.join("upstream.py"), UPSTREAM).unwrap();
        std::fs::write(dir.join("mocks.json"), mocks).unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Runs `script` (sh) under `placement` inside a fresh namespace, with the real servers
    /// around it (HTTPS too when the test made a CA), and `env` for mocket.
    fn run(&self, placement: Placement, script: &str, env: &[(&str, String)]) -> Outcome {
        std::fs::write(self.dir.join("client.sh"), script).unwrap();
        let report = self.path("hits.json");
        let journal = self.path("journal.jsonl");
        let _ = std::fs::remove_file(&report);
        let _ = std::fs::remove_file(&journal);
        let mut cfg = serde_json::json!({"http": HTTP_PORT, "report": report});
        if self.dir.join("server.pem").exists() {
            cfg["tls"] = serde_json::json!([TLS_PORT, "server.pem", "server.key"]);
        }
        let mocks = self.path("mocks.json");
        let client = self.path("client.sh");
        let mut args: Vec<String> =
            vec!["python3".into(), self.path("upstream.py"), cfg.to_string()];
        match placement {
            Placement::Daemon => {
                let bin = mocket_bin().to_string_lossy().into_owned();
                args.extend([bin, "run".into(), "--config".into(), mocks]);
                args.extend(["--".into(), "sh".into(), client]);
            }
            Placement::Embedded => {
                let lib = shim_lib().to_string_lossy().into_owned();
                args.extend(["env".into(), format!("LD_PRELOAD={lib}")]);
                args.extend([format!("MOCKET_CONFIG={mocks}"), "sh".into(), client]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = netns_command(&args);
        c.current_dir(&self.dir)
            .env("XDG_DATA_HOME", self.path("data"))
            .env("MOCKET_JOURNAL", &journal)
            .env_remove("MOCKET_SOCKET");
        for (k, v) in env {
            c.env(k, v);
        }
        let run = run(c);
        let journal = std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let hits = std::fs::read_to_string(&report)
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or(Value::Null);
        Outcome { run, journal, hits }
    }
}

fn mocks(extra: &str) -> String {
    format!(
        r#"{{"unmatched": "passthrough", {extra}
  "entries": [
    {{"http": "GET http://127.0.0.1:{HTTP_PORT}/mocked", "response": {{"body": "mocked\n"}}}},
    {{"http": "GET https://127.0.0.1:{TLS_PORT}/mocked", "response": {{"body": "mocked tls\n"}}}}
  ]}}"#
    )
}

#[test]
fn unmatched_http_requests_reach_the_real_server_and_count_as_passthrough() {
    need_python_module("requests");
    let script = format!(
        r#"set -e
curl -sS http://127.0.0.1:{HTTP_PORT}/mocked
curl -sS 'http://127.0.0.1:{HTTP_PORT}/real?x=1'
python3 -c '
import requests
s = requests.Session()
r = s.post("http://127.0.0.1:{HTTP_PORT}/form", data="a=b")
print(r.status_code, r.text, end="")
print(s.get("http://127.0.0.1:{HTTP_PORT}/mocked").text, end="")
'
"#
    );
    for placement in PLACEMENTS {
        let setup = Setup::new("pass-http", &mocks(""));
        let out = setup.run(placement, &script, &[]);
        out.run.success();
        assert_eq!(
            out.run.stdout,
            "mocked\nreal http GET /real?x=1 got \n203 real http POST /form got a=b\nmocked\n",
            "{placement:?}: {}",
            out.run.stderr
        );
        assert_eq!(out.hits["http"], 2, "{placement:?}");
        assert_eq!(
            out.actions(),
            ["mocked", "passthrough", "passthrough", "mocked"],
            "{placement:?}"
        );
        let posted = &out.journal[2];
        assert_eq!(posted["request"]["method"], "POST");
        assert_eq!(posted["request"]["body"], "a=b");
        assert_eq!(posted["response"]["status"], 203);
        assert_eq!(posted["entry"], Value::Null);
        if let Placement::Daemon = placement {
            assert!(
                out.run
                    .stderr
                    .contains("mocket: 2 mocked, 0 refused, 2 passed through, 0 unmatched"),
                "{}",
                out.run.stderr
            );
        }
    }
}

#[test]
fn https_upstreams_are_verified_like_recording() {
    need_python_module("requests");
    let script = format!(
        r#"curl -sS https://127.0.0.1:{TLS_PORT}/mocked
curl -sS https://127.0.0.1:{TLS_PORT}/real
python3 -c '
import requests
r = requests.get("https://127.0.0.1:{TLS_PORT}/py")
print(r.status_code, r.text, end="")
'
"#
    );
    for placement in PLACEMENTS {
        let setup = Setup::new("pass-tls", &mocks(""));
        make_test_ca(&setup.dir);
        let trusted = [("MOCKET_UPSTREAM_CA", setup.path("test-ca.pem"))];
        let out = setup.run(placement, &script, &trusted);
        out.run.success();
        assert_eq!(
            out.run.stdout, "mocked tls\nreal tls GET /real got \n203 real tls GET /py got \n",
            "{placement:?}: {}",
            out.run.stderr
        );
        assert_eq!(out.actions(), ["mocked", "passthrough", "passthrough"]);
        assert_eq!(out.hits["tls"], 2);

        // Without the test CA the real server's certificate is not trusted: no request
        // reaches it, the client gets 502 saying why, and the run fails.
        let out = setup.run(placement, &script, &[]);
        assert_eq!(out.hits["tls"], 0, "{placement:?}");
        assert!(
            out.run.stdout.contains(
                "/real matched no entry and passing it through failed: TLS to 127.0.0.1 failed"
            ) && out.run.stdout.contains("set MOCKET_UPSTREAM_CA"),
            "{placement:?}: {}",
            out.run.stdout
        );
        assert!(
            out.run.stdout.contains("502 mocket: GET"),
            "{}",
            out.run.stdout
        );
        assert_eq!(out.actions(), ["mocked", "unmatched", "unmatched"]);
        assert_eq!(out.journal[1]["response"]["status"], 502);
        if let Placement::Daemon = placement {
            out.run.expect_code(1);
            assert!(out.run.stderr.contains("2 unmatched"), "{}", out.run.stderr);
        }
    }
}

#[test]
fn strict_mode_keeps_hosts_it_does_not_allow_closed() {
    let script = format!("curl -sS 'http://127.0.0.1:{HTTP_PORT}/real'\n");
    for placement in PLACEMENTS {
        let setup = Setup::new("pass-strict", &mocks(r#""allow": [],"#));
        let out = setup.run(placement, &script, &[]);
        assert_eq!(
            out.hits["http"], 0,
            "{placement:?}: nothing reached the server"
        );
        assert!(
            out.run.stdout.starts_with("mocket: no entry matched GET /real on http://127.0.0.1:18181")
                && out.run.stdout.contains(
                    "strict mode does not allow the real 127.0.0.1:18181 (allowed: nothing); add it \
                     to \"allow\" or run with --no-strict"
                ),
            "{placement:?}: {}",
            out.run.stdout
        );
        assert_eq!(out.actions(), ["unmatched"]);
        assert_eq!(out.journal[0]["response"]["status"], 501);
        if let Placement::Daemon = placement {
            out.run.expect_code(1);
            assert!(out.run.stderr.contains("1 unmatched"), "{}", out.run.stderr);
        }
    }
    // --no-strict lets the same file pass it through.
    let setup = Setup::new("pass-nostrict", &mocks(r#""allow": [], "strict": false,"#));
    let out = setup.run(Placement::Daemon, &script, &[]);
    out.run.success();
    assert_eq!(out.run.stdout, "real http GET /real got \n");
    assert_eq!(out.actions(), ["passthrough"]);
}

#[test]
fn check_names_a_bad_unmatched_value() {
    let setup = Setup::new(
        "pass-check",
        "{\"strict\": true,\n  \"unmatched\": \"pass\"}",
    );
    let mut c = Command::new(mocket_bin());
    c.arg("check").arg(setup.path("mocks.json"));
    let out = run(c);
    out.expect_code(2);
    let expected = format!(
        "{}:2:3: unmatched: unmatched must be \"501\" (answer 501, the default) or \
         \"passthrough\" (relay unmatched HTTP requests to the real destination), found \"pass\"",
        setup.path("mocks.json")
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    let good = Setup::new("pass-check-ok", &mocks(""));
    let mut c = Command::new(mocket_bin());
    c.arg("check").arg(good.path("mocks.json"));
    run(c).success();
}

/// DESIGN.md section 7: an exact host wins over a host pattern, for Redis command entries as
/// for HTTP, even when the pattern's entry comes first in the file.
#[test]
fn redis_command_entries_of_the_exact_host_win_over_an_earlier_pattern() {
    let mocks = r#"{"entries": [
        {"redis": "*.cache.test:6379", "command": ["GET", "k"], "response": "from the pattern"},
        {"redis": "a.cache.test:6379", "command": ["GET", "k"], "response": "from the exact host"}
    ]}"#;
    for placement in PLACEMENTS {
        let setup = Setup::new("redis-exact", mocks);
        let out = placement.run(
            &setup.dir.join("mocks.json"),
            &[
                "sh",
                "-c",
                "redis-cli -h a.cache.test GET k; redis-cli -h b.cache.test GET k",
            ],
        );
        out.success();
        assert_eq!(
            out.stdout, "from the exact host\nfrom the pattern\n",
            "{placement:?}: {}",
            out.stderr
        );
    }
}
