//! `mocket serve`: the entries behind ordinary listeners, reached by clients without the preload.

#![forbid(unsafe_code)]

use mocket_tests::*;

#[test]
fn serve_answers_plain_curl_per_destination() {
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "GET http://api.example.com/v1/health", "response": {"body": "ok"}},
            {"http": "GET https://api.example.com/v1/users/1", "response": {"json": {"id": 1}}},
            {"tcp": "legacy.internal:9000", "greeting": "220 ready\r\n", "response": "x"}]}"#,
    );
    let data = scratch_dir("serve-data");
    let program = r#"
import subprocess, sys
serve = subprocess.Popen([sys.argv[1], "serve", "--config", sys.argv[2]], stdout=subprocess.PIPE, text=True)
ports = {}
for _ in range(3):
    dest, local = serve.stdout.readline().strip().split(" -> ")
    ports[dest] = local.split(":")[1]
ca = subprocess.run([sys.argv[1], "ca"], capture_output=True, text=True).stdout.strip()
def curl(*args):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True).stdout
print(curl(f"http://127.0.0.1:{ports['api.example.com:80']}/v1/health"))
https = ports['api.example.com:443']
print(curl("--cacert", ca, "--resolve", f"api.example.com:{https}:127.0.0.1", f"https://api.example.com:{https}/v1/users/1"))
print(curl(f"http://127.0.0.1:{ports['api.example.com:80']}/nope").splitlines()[0])
import socket
print(socket.create_connection(("127.0.0.1", int(ports["legacy.internal:9000"]))).makefile().readline().strip())
serve.terminate()
"#;
    let bin = mocket_bin();
    let mut c = netns_command(&[
        "python3",
        "-c",
        program,
        bin.to_str().unwrap(),
        mocks.to_str().unwrap(),
    ]);
    c.env("XDG_DATA_HOME", &data);
    let run = run(c);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "ok", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(lines[1], r#"{"id":1}"#, "{}", run.stderr);
    assert!(lines[2].contains("no entry"), "{}", run.stdout);
    assert_eq!(lines[3], "220 ready");
}

#[test]
fn serve_rejects_a_broken_file() {
    let mocks = mocks_file(r#"{"entries": [{"http": "GET nowhere"}]}"#);
    let mut c = std::process::Command::new(mocket_bin());
    c.args(["serve", "--config", mocks.to_str().unwrap()]);
    let run = run(c);
    run.expect_code(2);
    assert!(run.stderr.contains("entries[0].http"), "{}", run.stderr);
}
