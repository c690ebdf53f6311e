//! HTTPS: TLS terminated with a leaf from the mocket CA, trusted by curl and Python clients under
//! `mocket run` (bundle variables) and under a bare `LD_PRELOAD` (OpenSSL store injection and
//! the constructor's bundle), including clients that pin their own bundle.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET https://api.example.com/v1/users/1",
      "response": { "headers": { "x-request-id": "42" }, "json": { "id": 1, "name": "Ada" } } },
    { "http": "POST https://api.example.com/v1/orders",
      "match": { "json": { "item": "book" } },
      "response": { "status": 201, "json": { "order": 7 } } },
    { "http": "GET http://api.example.com/plain", "response": { "body": "plain" } }
  ]
}"#;

/// A private data dir, so each test's CA is its own and nothing lands in the real home.
fn data_home() -> PathBuf {
    scratch_dir("data-home")
}

fn run_with_ca(placement: Placement, mocks: &Path, data: &Path, cmd: &[&str]) -> Run {
    placement.run_env(mocks, &[("XDG_DATA_HOME", data.to_str().unwrap())], cmd)
}

#[test]
fn curl_over_https_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let data = data_home();
        let args = ["curl", "-sS", "-i", "https://api.example.com/v1/users/1"];
        let run = run_with_ca(placement, &mocks, &data, &args);
        run.success();
        assert!(
            run.stdout.starts_with("HTTP/1.1 200 OK\r\n"),
            "{placement:?}: {}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.contains("x-request-id: 42\r\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.ends_with(r#"{"id":1,"name":"Ada"}"#),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn curl_with_its_own_bundle_still_trusts_mocket() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let data = data_home();
        let args = [
            "curl",
            "-sS",
            "--cacert",
            "/etc/ssl/certs/ca-certificates.crt",
            "-d",
            r#"{"item": "book"}"#,
            "-H",
            "content-type: application/json",
            "https://api.example.com/v1/orders",
        ];
        let run = run_with_ca(placement, &mocks, &data, &args);
        run.success();
        assert_eq!(
            run.stdout, r#"{"order":7}"#,
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn https_and_http_on_one_host() {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let args = [
        "curl",
        "-sS",
        "https://api.example.com/v1/users/1",
        "http://api.example.com/plain",
    ];
    let run = run_with_ca(Placement::Daemon, &mocks, &data, &args);
    run.success();
    assert_eq!(
        run.stdout, r#"{"id":1,"name":"Ada"}plain"#,
        "{}",
        run.stderr
    );
}

const PY_URLLIB: &str = r#"
import json, urllib.request
with urllib.request.urlopen("https://api.example.com/v1/users/1") as r:
    print(r.status, r.headers["x-request-id"], json.load(r))
"#;

#[test]
fn python_urllib_under_both_placements() {
    let mocks = mocks_file(MOCKS);
    for placement in PLACEMENTS {
        let data = data_home();
        let run = run_with_ca(placement, &mocks, &data, &["python3", "-c", PY_URLLIB]);
        run.success();
        assert_eq!(
            run.stdout, "200 42 {'id': 1, 'name': 'Ada'}\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

fn python_has(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_requests_with_the_environment_and_with_certifi() {
    assert!(
        python_has("requests") && python_has("certifi"),
        "pip install requests (.ci/run does)"
    );
    let program = r#"
import certifi, requests
r = requests.get("https://api.example.com/v1/users/1")
print(r.status_code, r.headers["x-request-id"], r.json())
r = requests.post("https://api.example.com/v1/orders", json={"item": "book"}, verify=certifi.where())
print(r.status_code, r.json())
"#;
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let run = run_with_ca(
        Placement::Daemon,
        &mocks,
        &data,
        &["python3", "-c", program],
    );
    run.success();
    assert_eq!(
        run.stdout, "200 42 {'id': 1, 'name': 'Ada'}\n201 {'order': 7}\n",
        "{}",
        run.stderr
    );
}

#[test]
fn python_httpx() {
    assert!(python_has("httpx"), "pip install httpx (.ci/run does)");
    let program = r#"
import httpx
with httpx.Client() as c:
    r = c.get("https://api.example.com/v1/users/1")
    print(r.status_code, r.http_version, r.json())
"#;
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let run = run_with_ca(
        Placement::Daemon,
        &mocks,
        &data,
        &["python3", "-c", program],
    );
    run.success();
    assert_eq!(
        run.stdout, "200 HTTP/1.1 {'id': 1, 'name': 'Ada'}\n",
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_bare_run_gets_the_bundle_variables() {
    let mocks = mocks_file(MOCKS);
    let data = data_home();
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    // The first process creates the CA (and the bundle for this environment) on first use.
    preload_run(
        &mocks,
        &env,
        &["curl", "-sS", "https://api.example.com/v1/users/1"],
    )
    .success();
    let program =
        "import os; print(os.environ['SSL_CERT_FILE']); print(os.environ['NODE_EXTRA_CA_CERTS'])";
    let run = preload_run(&mocks, &env, &["python3", "-c", program]);
    run.success();
    let ca_dir = data.join("mocket/ca");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with(ca_dir.join("bundle-").to_str().unwrap()),
        "{}",
        run.stdout
    );
    assert_eq!(lines[1], ca_dir.join("cert.pem").to_str().unwrap());
    let bundle = std::fs::read_to_string(lines[0]).unwrap();
    let ca = std::fs::read_to_string(ca_dir.join("cert.pem")).unwrap();
    assert!(bundle.ends_with(&ca), "the bundle ends with the mocket CA");
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 10,
        "and carries the system roots"
    );
}

#[test]
fn mocket_ca_prints_the_certificate_and_keeps_the_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = data_home();
    let mut c = std::process::Command::new(mocket_bin());
    c.arg("ca").env("XDG_DATA_HOME", &data);
    let run = run(c);
    run.success();
    let cert = PathBuf::from(run.stdout.trim());
    assert_eq!(cert, data.join("mocket/ca/cert.pem"));
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let key = cert.with_file_name("key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second call reuses the same CA.
    let mut c = std::process::Command::new(mocket_bin());
    c.arg("ca").env("XDG_DATA_HOME", &data);
    assert_eq!(mocket_tests::run(c).stdout.trim(), cert.to_str().unwrap());
}
