//! Rust HTTP clients nobody here wrote, against `http` and `https` entries: reqwest (tokio,
//! keep-alive) with plain HTTP, with rustls and the system roots, with native-tls (OpenSSL) and
//! with the compiled-in webpki roots (which cannot trust mocket), and ureq; plus a downstream
//! crate whose own `cargo test` calls `http://` and `https://` URLs with reqwest.
//!
//! The clients are `mocket-http-client` (tests/src/bin/mocket-http-client.rs): one JSON line per
//! response, then, for reqwest, how many connections it opened.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mocket_tests::*;
use serde_json::{Value, json};

const CLIENT: &str = env!("CARGO_BIN_EXE_mocket-http-client");

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.example.com/v1/users/1",
      "responses": [
        { "status": 500, "body": "try again" },
        { "status": 200, "headers": { "x-request-id": "42" }, "json": { "id": 1, "name": "Ada" } }
      ] },
    { "http": "POST http://api.example.com/v1/orders",
      "match": { "json": { "item": "book", "qty": 2 } },
      "response": { "status": 201, "headers": { "location": "/v1/orders/7" }, "json": { "order": 7 } },
      "times": 1 },
    { "http": "POST http://api.example.com/v1/orders",
      "response": { "status": 409, "body": "duplicate order" } },
    { "http": "GET https://api.example.com/v1/users/1",
      "response": { "headers": { "x-request-id": "42", "x-tls": "yes" },
                    "json": { "id": 1, "name": "Ada" } } },
    { "http": "POST https://api.example.com/v1/orders",
      "match": { "json": { "item": "book" } },
      "response": { "status": 201, "json": { "order": 7 } } },
    { "http": "GET https://secure.example.com:8443/v1/ping",
      "response": { "headers": { "x-port": "8443" }, "body": "pong" } }
  ]
}"#;

/// What a client printed: its responses, and the connections it opened (reqwest only).
#[derive(Debug)]
struct Output {
    responses: Vec<Value>,
    connections: Option<u64>,
}

#[track_caller]
fn parse(run: &Run) -> Output {
    let mut out = Output {
        responses: Vec::new(),
        connections: None,
    };
    for line in run.stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("client printed {line:?} ({e})\nstderr:\n{}", run.stderr));
        match value.get("connections") {
            Some(n) => out.connections = n.as_u64(),
            None => out.responses.push(value),
        }
    }
    out
}

/// Checks one response: its status, that it has each of `headers` (and, for the
/// `content-length` the body implies), and its body.
#[track_caller]
fn expect(response: &Value, status: u64, headers: &[(&str, &str)], body: &str) {
    assert_eq!(response["status"], json!(status), "{response}");
    for (name, value) in headers {
        assert_eq!(
            response["headers"][name],
            json!(value),
            "{name} in {response}"
        );
    }
    assert_eq!(
        response["headers"]["content-length"],
        json!(body.len().to_string()),
        "{response}"
    );
    assert_eq!(response["body"], json!(body), "{response}");
}

const USER: &str = r#"{"id":1,"name":"Ada"}"#;

/// Three GETs that walk a response sequence, then an order placed once (`times: 1`) and
/// refused the second time: all on one connection.
const PLAIN_REQUESTS: [&str; 5] = [
    "GET http://api.example.com/v1/users/1",
    "GET http://api.example.com/v1/users/1",
    "GET http://api.example.com/v1/users/1",
    r#"POST http://api.example.com/v1/orders {"qty": 2, "item": "book"}"#,
    r#"POST http://api.example.com/v1/orders {"qty": 2, "item": "book"}"#,
];

#[track_caller]
fn expect_plain_responses(out: &Output, context: &str) {
    let r = &out.responses;
    assert_eq!(r.len(), 5, "{context}: {r:?}");
    expect(&r[0], 500, &[], "try again");
    let ok = [("x-request-id", "42"), ("content-type", "application/json")];
    expect(&r[1], 200, &ok, USER);
    expect(&r[2], 200, &ok, USER);
    expect(
        &r[3],
        201,
        &[("location", "/v1/orders/7")],
        r#"{"order":7}"#,
    );
    expect(&r[4], 409, &[], "duplicate order");
}

fn client_args<'a>(mode: &'a str, requests: &[&'a str]) -> Vec<&'a str> {
    let mut cmd = vec![CLIENT, mode];
    cmd.extend_from_slice(requests);
    cmd
}

#[test]
fn reqwest_plain_http_keep_alive_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &client_args("reqwest-http", &PLAIN_REQUESTS));
        run.success();
        let out = parse(&run);
        expect_plain_responses(&out, &format!("{placement:?}"));
        assert_eq!(
            out.connections,
            Some(1),
            "{placement:?}: five requests on one kept-alive connection\n{}",
            run.stderr
        );
        if let Placement::Daemon = placement {
            assert!(run.stderr.contains("mocket: 5 mocked"), "{}", run.stderr);
        }
    }
}

#[test]
fn ureq_plain_http_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &client_args("ureq-http", &PLAIN_REQUESTS));
        run.success();
        expect_plain_responses(&parse(&run), &format!("{placement:?}"));
        if let Placement::Daemon = placement {
            // The report counts the five requests (DESIGN.md section 7).
            assert!(run.stderr.contains("mocket: 5 mocked"), "{}", run.stderr);
        }
    }
}

/// A private data dir, so each test's CA is its own and nothing lands in the real home.
fn data_home() -> PathBuf {
    scratch_dir("data-home")
}

const TLS_REQUESTS: [&str; 4] = [
    "GET https://api.example.com/v1/users/1",
    "GET https://api.example.com/v1/users/1",
    r#"POST https://api.example.com/v1/orders {"item": "book"}"#,
    "GET https://secure.example.com:8443/v1/ping",
];

#[track_caller]
fn expect_tls_responses(run: &Run, context: &str) {
    run.success();
    let out = parse(run);
    let r = &out.responses;
    assert_eq!(r.len(), 4, "{context}: {r:?}\n{}", run.stderr);
    let user = [
        ("x-request-id", "42"),
        ("x-tls", "yes"),
        ("content-type", "application/json"),
    ];
    expect(&r[0], 200, &user, USER);
    expect(&r[1], 200, &user, USER);
    expect(&r[2], 201, &[], r#"{"order":7}"#);
    expect(&r[3], 200, &[("x-port", "8443")], "pong");
    assert_eq!(
        out.connections,
        Some(2),
        "{context}: one kept-alive connection per host\n{}",
        run.stderr
    );
}

fn https_under_mocket_run(mode: &str) {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    let run = mocket_run_env(&mocks, &[], &env, &client_args(mode, &TLS_REQUESTS));
    expect_tls_responses(&run, mode);
    assert!(run.stderr.contains("mocket: 4 mocked"), "{}", run.stderr);
}

#[test]
fn reqwest_rustls_with_native_roots_over_https() {
    https_under_mocket_run("reqwest-rustls-native");
}

#[test]
fn reqwest_native_tls_over_https() {
    https_under_mocket_run("reqwest-native-tls");
}

#[test]
fn reqwest_over_https_under_a_bare_preload() {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    // native-tls (OpenSSL) trusts mocket from the very first run, through the shim's store
    // injection; that first HTTPS connection also creates the CA and the bundle...
    let run = preload_run(
        &mocks,
        &env,
        &client_args("reqwest-native-tls", &TLS_REQUESTS),
    );
    expect_tls_responses(&run, "native-tls, bare LD_PRELOAD, first run");
    // ...which the next process's SSL_CERT_FILE points at, for rustls-native-certs.
    let run = preload_run(
        &mocks,
        &env,
        &client_args("reqwest-rustls-native", &TLS_REQUESTS),
    );
    expect_tls_responses(
        &run,
        "rustls with native roots, bare LD_PRELOAD, second run",
    );
}

const REJECTION: [&str; 2] = ["rejected mocket's certificate", "webpki-roots"];

#[track_caller]
fn expect_webpki_client_failure(run: &Run, elapsed: Duration) {
    run.expect_code(1);
    assert!(
        elapsed < Duration::from_secs(15),
        "the client must fail at once, not hang: {elapsed:?}"
    );
    assert!(
        run.stderr.contains("client error:") && run.stderr.contains("UnknownIssuer"),
        "the client reports an untrusted certificate:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// The webpki-roots client fails cleanly, and mocket explains why (one line naming the host),
/// in its stderr, its report and its journal.
#[test]
fn reqwest_with_webpki_roots_fails_cleanly_with_mockets_explanation() {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let journal = data.join("journal.jsonl");
    let journal_flag = format!("--journal={}", journal.display());
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    let cmd = client_args(
        "reqwest-rustls-webpki",
        &["GET https://api.example.com/v1/users/1"],
    );
    let start = Instant::now();
    let run = mocket_run_env(&mocks, &[&journal_flag], &env, &cmd);
    expect_webpki_client_failure(&run, start.elapsed());
    let explanation: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("mocket: ") && REJECTION.iter().all(|w| l.contains(w)))
        .collect();
    assert_eq!(
        explanation.len(),
        1,
        "one line from mocket saying why:\n{}",
        run.stderr
    );
    assert!(
        explanation[0].contains("api.example.com:443"),
        "{}",
        explanation[0]
    );
    let journal = std::fs::read_to_string(&journal).expect("journal");
    let rejected: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("journal line"))
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains(REJECTION[0]))
        })
        .collect();
    assert_eq!(rejected.len(), 1, "{journal}");
    assert_eq!(rejected[0]["host"], "api.example.com", "{journal}");
}

/// The engine reads the client's alert after the client may have exited: `mocket run` waits for
/// connections in flight before it reports, so the explanation is never lost (five times over,
/// since losing it was a race).
#[test]
fn reqwest_with_webpki_roots_explanation_without_waiting() {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    for _ in 0..5 {
        let start = Instant::now();
        let run = mocket_run_env(
            &mocks,
            &[],
            &env,
            &client_args(
                "reqwest-rustls-webpki",
                &["GET https://api.example.com/v1/users/1"],
            ),
        );
        expect_webpki_client_failure(&run, start.elapsed());
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with("mocket: ") && REJECTION.iter().all(|w| l.contains(w))),
            "{}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The downstream crate: tests/downstream, its own workspace, whose `cargo test` calls
// http://api.example.com and https://api.example.com with reqwest (rustls, native roots).

fn downstream_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("downstream/Cargo.toml")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo test --manifest-path tests/downstream/Cargo.toml ARGS...` as a command line, with
/// the downstream crate's own target dir (beside the workspace's, so its dependencies are
/// compiled once and kept).
fn downstream_cargo_test(extra: &[&str]) -> (Vec<String>, PathBuf) {
    let target = build_dir()
        .parent()
        .expect("workspace target dir")
        .join("downstream");
    let mut args = vec![
        cargo(),
        "test".into(),
        "--manifest-path".into(),
        downstream_manifest().to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    (args, target)
}

/// Builds the downstream crate's tests outside the network namespace (cargo may have to fetch
/// crates), with a generous timeout: a cold build takes about a minute on two cores.
fn build_downstream() {
    let (args, target) = downstream_cargo_test(&["--no-run"]);
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["-k", "5", "900"])
        .args(&args)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "building tests/downstream failed:\n{stderr}"
    );
    eprintln!(
        "tests/downstream built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn downstream_crate_passes_under_mocket_and_fails_without() {
    build_downstream();
    let (args, target) = downstream_cargo_test(&["--offline"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let target = target.to_string_lossy().into_owned();
    let data = data_home();
    let env = [
        ("CARGO_TARGET_DIR", target.as_str()),
        ("XDG_DATA_HOME", data.to_str().unwrap()),
        ("RUST_BACKTRACE", "0"),
    ];
    let mocks = Path::new(env!("CARGO_MANIFEST_DIR")).join("downstream/mocks.json");

    // Without mocket: no mocks, and no network in the namespace: both tests fail.
    let mut c = netns_command(&args);
    c.envs(env).env_remove("LD_PRELOAD");
    let run = run(c);
    run.expect_code(101);
    assert!(
        run.stdout
            .contains("test result: FAILED. 0 passed; 2 failed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );

    // Under mocket run: cargo, rustc and the test binary all run under the preload.
    let run = mocket_run_env(&mocks, &[], &env, &args);
    run.success();
    assert!(
        run.stdout.contains("test result: ok. 2 passed; 0 failed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.contains("mocket: 2 mocked"), "{}", run.stderr);

    // Under a bare LD_PRELOAD (the embedded engine): the CA and this environment's bundle
    // exist by now (mocket run made them in the same data home), so rustls-native-certs trusts
    // the mocket CA through SSL_CERT_FILE.
    let run = preload_run(&mocks, &env, &args);
    run.success();
    assert!(
        run.stdout.contains("test result: ok. 2 passed; 0 failed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}
