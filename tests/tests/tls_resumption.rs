//! TLS session resumption (issue 15): the engine's server configs are shared by every
//! connection, with a session cache and a ticketer, so a client's second connection resumes
//! instead of paying a full handshake. Proven with each client's own report: OpenSSL's
//! `s_client` ("Reused"), Python's `ssl` (`session_reused`) and a rustls client
//! (`mocket-tls-client`, rustls's handshake kind), over TLS 1.3 and TLS 1.2 (tickets and session
//! IDs), under both placements in strict mode, and through the record proxy (record and replay).
//! A session resumes at the engine that made it: under the daemon that is every process of the
//! run, under a bare preload the one process.

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "strict": true,
  "entries": [
    { "http": "GET https://api.example.com/v1/users/1", "response": { "json": { "id": 1 } } }
  ]
}"#;

const URL: &str = "https://api.example.com/v1/users/1";

fn run_with_ca(placement: Placement, mocks: &Path, data: &Path, cmd: &[&str]) -> Run {
    let run = placement.run_env(mocks, &[("XDG_DATA_HOME", data.to_str().unwrap())], cmd);
    run.success();
    run
}

/// Two `openssl s_client` connections per protocol setting, the second with the session the
/// first saved; prints, per connection, s_client's "New," / "Reused," line, its verify result and
/// the response's status line.
const S_CLIENT: &str = r#"set -e
for versions in "-tls1_3" "-tls1_2" "-tls1_2 -no_ticket"; do
  for session in "-sess_out $DIR/s.pem" "-sess_in $DIR/s.pem"; do
    printf 'GET /v1/users/1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n' |
      openssl s_client $versions -connect api.example.com:443 -servername api.example.com \
        -CAfile "$CA" -verify_return_error -ign_eof $session 2>&1 |
      awk '/^(New|Reused),/ && !a++ { sub(/, Cipher is.*/, ""); print }
           /^ *Verify return code/ && !b++ { sub(/^ */, ""); print }
           /^HTTP\/1.1/ && !c++ { sub(/\r$/, ""); print }'
  done
done
"#;

/// Under the daemon one engine serves every process, so a session saved by one `s_client`
/// resumes in the next.
#[test]
fn openssl_s_client_resumes_a_saved_session_in_another_process_under_the_daemon() {
    let mocks = mocks_file(MOCKS);
    let (data, ca) = data_home_with_ca();
    let dir = scratch_dir("s-client");
    let script = format!("DIR={} CA={ca}\n{S_CLIENT}", dir.to_str().unwrap());
    let run = run_with_ca(Placement::Daemon, &mocks, &data, &["sh", "-c", &script]);
    let connection = |kind: &str, version: &str| {
        format!("{kind}, {version}\nVerify return code: 0 (ok)\nHTTP/1.1 200 OK\n")
    };
    let expected = [
        connection("New", "TLSv1.3"),
        connection("Reused", "TLSv1.3"),
        connection("New", "TLSv1.2"),
        connection("Reused", "TLSv1.2"),
        connection("New", "TLSv1.2"),
        connection("Reused", "TLSv1.2"),
    ]
    .concat();
    assert_eq!(run.stdout, expected, "{}", run.stderr);
}

/// Under a bare preload each process has an engine of its own, so resumption is within a
/// process: `s_client -reconnect` (TLS 1.2: OpenSSL's `-reconnect` does not wait for TLS 1.3
/// tickets, so it never resumes TLS 1.3 against any server; Python's `ssl` covers OpenSSL over
/// TLS 1.3 below).
#[test]
fn openssl_s_client_reconnects_with_its_tls12_session_under_a_bare_preload() {
    let mocks = mocks_file(MOCKS);
    let (data, ca) = data_home_with_ca();
    for tickets in ["", "-no_ticket"] {
        let script = format!(
            "openssl s_client -tls1_2 {tickets} -connect api.example.com:443 \
             -servername api.example.com -CAfile {ca} -verify_return_error -reconnect \
             </dev/null 2>&1 | awk '/^(New|Reused),/ {{ sub(/, Cipher is.*/, \"\"); print }}'"
        );
        let run = run_with_ca(Placement::Embedded, &mocks, &data, &["sh", "-c", &script]);
        let expected = format!("New, TLSv1.2\n{}", "Reused, TLSv1.2\n".repeat(5));
        assert_eq!(run.stdout, expected, "{tickets:?}\n{}", run.stderr);
    }
}

/// Three connections with Python's `ssl`, each offering the session of the one before; prints
/// `session_reused`, the version and the status line of each.
const PY_SSL: &str = r#"
import socket, ssl, sys
ca, version = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=ca)
context.maximum_version = getattr(ssl.TLSVersion, version)
session = None
for _ in range(3):
    with socket.create_connection(("api.example.com", 443)) as raw:
        with context.wrap_socket(raw, server_hostname="api.example.com", session=session) as tls:
            tls.sendall(b"GET /v1/users/1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
            got = b""
            while b'{"id":1}' not in got:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                got += chunk
            print(tls.session_reused, tls.version(), got.split(b"\r\n")[0].decode())
            session = tls.session
"#;

#[test]
fn python_ssl_reuses_its_session_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let (data, ca) = data_home_with_ca();
        for (version, name) in [("TLSv1_3", "TLSv1.3"), ("TLSv1_2", "TLSv1.2")] {
            let args = ["python3", "-c", PY_SSL, &ca, version];
            let run = run_with_ca(placement, &mocks, &data, &args);
            let expected = format!(
                "False {name} HTTP/1.1 200 OK\nTrue {name} HTTP/1.1 200 OK\nTrue {name} HTTP/1.1 200 OK\n"
            );
            assert_eq!(
                run.stdout, expected,
                "{placement:?} {version}\n{}",
                run.stderr
            );
        }
    }
}

fn tls_client() -> String {
    build_dir()
        .join("mocket-tls-client")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_rustls_client_resumes_over_tls13_and_tls12_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    let client = tls_client();
    for placement in PLACEMENTS {
        let (data, ca) = data_home_with_ca();
        for (flags, version) in [(&[][..], "TLSv1_3"), (&["--tls12"][..], "TLSv1_2")] {
            let mut args = vec![client.as_str(), URL, "3", "--ca", &ca];
            args.extend_from_slice(flags);
            let run = run_with_ca(placement, &mocks, &data, &args);
            let expected =
                format!("full {version} 200\nresumed {version} 200\nresumed {version} 200\n");
            assert_eq!(
                run.stdout, expected,
                "{placement:?} {flags:?}\n{}",
                run.stderr
            );
        }
    }
}

/// A TLS server for `localhost` with a certificate from a CA of the test's own; writes `ready`
/// once it listens.
const UPSTREAM: &str = r#"
import http.server, ssl
class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "6")
        self.end_headers()
        self.wfile.write(b"hello\n")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 18443), Hello)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("server.pem", "server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
open("ready", "w").close()
server.serve_forever()
"#;

const MAKE_TEST_CA: &str = r#"set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=mocket-test-ca -keyout test-ca.key -out test-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA test-ca.pem -CAkey test-ca.key -CAcreateserial \
  -days 2 -extfile san.ext -out server.pem 2>/dev/null
"#;

/// `mocket run --record` around the rustls client, with the upstream server running first
/// when `live`.
fn record_run(dir: &Path, data: &Path, ca: &str, live: bool) -> Run {
    let fixtures = dir.join("fixtures");
    let mocks = dir.join("mocks.json");
    let client = format!(
        "{} run --config {} --record {} --allow '' -- {} https://localhost:18443/hello 3 --ca {ca}",
        mocket_bin().display(),
        mocks.display(),
        fixtures.display(),
        tls_client(),
    );
    let script = match live {
        true => format!(
            "python3 upstream.py & server=$!\n\
             while [ ! -e ready ]; do sleep 0.05; done\n\
             {client}; code=$?\nkill $server\nexit $code\n"
        ),
        false => format!("{client}\n"),
    };
    let mut cmd = netns_command(&["sh", "-c", &script]);
    cmd.current_dir(dir)
        .env("XDG_DATA_HOME", data)
        .env("MOCKET_UPSTREAM_CA", dir.join("test-ca.pem"));
    run(cmd)
}

#[test]
fn the_record_proxy_resumes_client_sessions_when_recording_and_replaying() {
    let dir = scratch_dir("tls-record");
    std::fs::write(dir.join("upstream.py"), UPSTREAM).unwrap();
    std::fs::write(dir.join("mocks.json"), r#"{"strict": true}"#).unwrap();
    let out = Command::new("sh")
        .args(["-c", MAKE_TEST_CA])
        .current_dir(&dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{out:?}");
    let (data, ca) = data_home_with_ca();
    let expected = "full TLSv1_3 200\nresumed TLSv1_3 200\nresumed TLSv1_3 200\n";

    let recorded = record_run(&dir, &data, &ca, true);
    recorded.success();
    assert_eq!(recorded.stdout, expected, "recording\n{}", recorded.stderr);
    let cassette = std::fs::read_to_string(dir.join("fixtures/default.json")).unwrap();
    assert_eq!(
        cassette.matches("https://localhost:18443/hello").count(),
        3,
        "{cassette}"
    );

    // Nothing listens now: the answers come from the cassette, over resumed sessions.
    let replayed = record_run(&dir, &data, &ca, false);
    replayed.success();
    assert_eq!(replayed.stdout, expected, "replay\n{}", replayed.stderr);
    assert!(replayed.stderr.contains("replayed"), "{}", replayed.stderr);
}
