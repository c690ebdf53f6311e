//! Where the mocket CA is: the shim (which makes clients trust it) and the engine (which signs
//! with it) follow one rule (`mocket_control::ca_location`), so a bare `LD_PRELOAD` never
//! points clients at a CA the engine will not use.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET https://api.example.com/v1/users/1", "response": { "json": { "id": 1 } } }
  ]
}"#;

/// The per-user CA (and its bare-preload bundle) that `mocket ca` creates under `data`.
fn per_user_ca(data: &std::path::Path) -> PathBuf {
    let mut c = Command::new(mocket_bin());
    c.arg("ca").env("XDG_DATA_HOME", data);
    let run = run(c);
    run.success();
    PathBuf::from(run.stdout.trim())
}

#[test]
fn a_certificate_without_its_key_is_refused_by_the_shim_and_the_engine_alike() {
    let mocks = mocks_file(MOCKS);
    let data = scratch_dir("data-home");
    let cert = per_user_ca(&data);
    let env = [
        ("XDG_DATA_HOME", data.to_str().unwrap()),
        ("MOCKET_CA_CERT", cert.to_str().unwrap()),
        ("MOCKET_CA_KEY", ""),
    ];
    // The shim used to take MOCKET_CA_CERT alone and point clients at it and its bundle.
    let program = "import os\n\
        for v in ('NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'): print(os.environ.get(v, ''))";
    let shim = preload_run(&mocks, &env, &["python3", "-c", program]);
    shim.success();
    let ca_dir = cert.parent().unwrap();
    assert!(
        shim.stdout
            .lines()
            .all(|v| !v.starts_with(ca_dir.to_str().unwrap())),
        "clients were pointed at the CA the engine refuses: {}",
        shim.stdout
    );
    // The engine refuses to terminate TLS, and says how to fix it.
    let curl = preload_run(
        &mocks,
        &env,
        &["curl", "-sS", "https://api.example.com/v1/users/1"],
    );
    assert_ne!(curl.code, Some(0), "{}", curl.stdout);
    assert!(
        curl.stderr
            .contains("set both MOCKET_CA_CERT and MOCKET_CA_KEY, or neither"),
        "{}",
        curl.stderr
    );
}

#[test]
fn both_variables_or_neither_give_the_same_ca_to_the_shim_and_the_engine() {
    let mocks = mocks_file(MOCKS);
    let data = scratch_dir("data-home");
    let cert = per_user_ca(&data);
    let key = cert.with_file_name("key.pem");
    let program = "import os; print(os.environ.get('NODE_EXTRA_CA_CERTS'))";
    let given = [
        ("XDG_DATA_HOME", "/nonexistent"),
        ("MOCKET_CA_CERT", cert.to_str().unwrap()),
        ("MOCKET_CA_KEY", key.to_str().unwrap()),
    ];
    let per_user = [("XDG_DATA_HOME", data.to_str().unwrap())];
    for env in [&given[..], &per_user[..]] {
        let shim = preload_run(&mocks, env, &["python3", "-c", program]);
        shim.success();
        assert_eq!(shim.stdout.trim(), cert.to_str().unwrap());
        // OpenSSL's store gets the same CA: curl verifies the engine's leaf.
        let curl = preload_run(
            &mocks,
            env,
            &["curl", "-sS", "https://api.example.com/v1/users/1"],
        );
        curl.success();
        assert_eq!(curl.stdout.trim(), r#"{"id":1}"#);
    }
}
