//! HTTP/1.1 entries with real clients nobody here wrote: curl, Python's `requests`,
//! `urllib.request`, `http.client` and `httpx`, each checking status, headers and body.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET http://api.example.com/v1/users/1",
      "responses": [
        { "status": 500, "body": "try again" },
        { "status": 200, "headers": { "x-request-id": "42" }, "json": { "id": 1, "name": "Ada" } }
      ] },
    { "http": "GET http://api.example.com/v1/search?q=caf%C3%A9&page=2",
      "match": { "headers": { "Authorization": "Bearer t0k" } },
      "response": { "json": { "hits": 3 } } },
    { "http": "POST http://api.example.com/v1/orders",
      "match": { "json": { "item": "book", "qty": 2 } },
      "response": { "status": 201, "headers": { "location": "/v1/orders/7" }, "json": { "order": 7 } },
      "times": 1 },
    { "http": "POST http://api.example.com/v1/orders",
      "response": { "status": 409, "body": "duplicate order" } },
    { "http": "PUT http://api.example.com/v1/upload",
      "match": { "body": "first line\nsecond line\n" },
      "response": { "status": 204 } },
    { "http": "POST http://api.example.com/v1/form",
      "match": { "body_regex": "(^|&)name=Ada(&|$)" },
      "response": { "body": "form ok" } },
    { "http": "GET http://api.example.com/events",
      "response": { "headers": { "content-type": "text/event-stream" },
                    "chunks": ["data: one\n\n", "data: two\n\n", "data: three\n\n"],
                    "chunk_delay_ms": 100 } },
    { "http": "GET http://api.example.com/slow", "response": { "delay_ms": 400, "body": "late" } },
    { "http": "GET http://api.example.com/teapot", "response": { "status": 418 } },
    { "http": "GET http://api.example.com/ping",
      "match": { "path_regex": "^/ping$" }, "response": { "body": "pong" } },
    { "http": "POST http://api.example.com/echo", "response": { "body": "ok" } },
    { "http": "GET http://faults.example.com/reset", "response": { "fault": "reset" } },
    { "http": "GET http://faults.example.com/close", "response": { "fault": "close" } },
    { "http": "GET http://faults.example.com/garbage", "response": { "fault": "garbage" } },
    { "http": "GET http://faults.example.com/truncate",
      "response": { "fault": "truncate", "body": "0123456789" } },
    { "http": "HEAD http://api.example.com/v1/users/1",
      "response": { "headers": { "x-head": "yes" }, "body": "twenty-two characters!" } }
  ]
}"#;

fn curl(placement: Placement, mocks: &Path, args: &[&str]) -> Run {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mut cmd = vec!["curl", "-sS"];
    cmd.extend_from_slice(args);
    placement.run(mocks, &cmd)
}

/// Python with a library that must be there (.ci/run installs requests and httpx).
fn python_with(module: &str, mocks: &Path, program: &str) -> Run {
    let check = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "python module {module} is missing: pip install {module}"
    );
    python(Placement::Daemon, mocks, program, &[])
}

#[test]
fn curl_keep_alive_and_sequences_in_one_invocation() {
    let mocks = mocks_file(MOCKS);
    let url = "http://api.example.com/v1/users/1";
    for placement in PLACEMENTS {
        // %{num_connects} is 0 when curl reused the connection.
        let run = curl(
            placement,
            &mocks,
            &["-i", "-w", "|%{http_code} %{num_connects}\n", url, url, url],
        );
        run.success();
        if let Placement::Daemon = placement {
            // The report counts requests (DESIGN.md section 7), not connections.
            assert!(run.stderr.contains("mocket: 3 mocked"), "{}", run.stderr);
        }
        let ok = "HTTP/1.1 200 OK\r\nx-request-id: 42\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{\"id\":1,\"name\":\"Ada\"}|200 0\n";
        assert_eq!(
            run.stdout,
            format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\ntry again|500 1\n{ok}{ok}"
            ),
            "{placement:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn curl_query_headers_json_and_times() {
    let mocks = mocks_file(MOCKS);
    let run = curl(
        Placement::Daemon,
        &mocks,
        &[
            "-w",
            "|%{http_code}\n",
            "-H",
            "authorization: Bearer t0k",
            "http://api.example.com/v1/search?page=2&q=caf%C3%A9&extra=1",
            "--next",
            "-sS",
            "-w",
            "|%{http_code}\n",
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"qty": 2, "item": "book"}"#,
            "http://api.example.com/v1/orders",
            "http://api.example.com/v1/orders",
            "--next",
            "-sS",
            "-w",
            "|%{http_code} %{num_connects}\n",
            "http://api.example.com/teapot",
        ],
    );
    run.success();
    assert_eq!(
        run.stdout, "{\"hits\":3}|200\n{\"order\":7}|201\nduplicate order|409\n|418 0\n",
        "{}",
        run.stderr
    );
}

#[test]
fn curl_sees_each_fault_as_the_right_error() {
    let mocks = mocks_file(MOCKS);
    // curl's exit codes: 56 receive failure (reset), 52 empty reply, 1 unsupported protocol
    // (HTTP/0.9 refused: the garbage), 18 partial file (truncated body).
    let cases = [
        ("reset", 56, "Connection reset by peer"),
        ("close", 52, "Empty reply from server"),
        ("garbage", 1, "HTTP/0.9"),
        ("truncate", 18, "transfer closed with 5 bytes remaining"),
    ];
    for placement in PLACEMENTS {
        for (fault, code, message) in cases {
            let url = format!("http://faults.example.com/{fault}");
            let run = curl(placement, &mocks, &[&url]);
            run.expect_code(code);
            assert!(
                run.stderr.contains(message),
                "{placement:?} {fault}: {}",
                run.stderr
            );
            if fault == "truncate" {
                assert_eq!(run.stdout, "01234");
            }
        }
    }
}

/// 10 MB of bytes that are not text, written next to a mocks file.
fn ten_megabytes(dir: &Path) -> PathBuf {
    let mut state = 0x2545_f491_u32;
    let body: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let path = dir.join("blob.bin");
    std::fs::write(&path, body).unwrap();
    path
}

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

#[test]
fn ten_megabytes_both_ways_compared_by_sha256() {
    let mocks = mocks_file(
        r#"{"entries": [
        {"http": "GET http://big.example.com/blob", "response": {"file": "blob.bin", "headers": {"content-type": "application/octet-stream"}}},
        {"http": "GET http://big.example.com/chunked", "response": {"file": "blob.bin", "chunked": true}},
        {"http": "POST http://big.example.com/upload", "match": {"body_regex": "^(0123456789)+$"}, "response": {"status": 201, "body": "stored"}}]}"#,
    );
    let dir = mocks.parent().unwrap();
    let blob = ten_megabytes(dir);
    let upload = dir.join("upload.txt");
    std::fs::write(&upload, "0123456789".repeat(1024 * 1024)).unwrap();
    let script = format!(
        "curl -sS http://big.example.com/blob | sha256sum && curl -sS http://big.example.com/chunked | sha256sum && curl -sS --data-binary @{} http://big.example.com/upload",
        upload.display()
    );
    let run = mocket_run(&mocks, &[], &["sh", "-c", &script]);
    run.success();
    let want = sha256(&blob);
    assert_eq!(
        run.stdout,
        format!("{want}  -\n{want}  -\nstored"),
        "{}",
        run.stderr
    );
}

#[test]
fn chunked_upload_matched_by_body_and_expect_continue() {
    let mocks = mocks_file(MOCKS);
    let dir = mocks.parent().unwrap();
    let file = dir.join("lines.txt");
    std::fs::write(&file, "first line\nsecond line\n").unwrap();
    let data = format!("@{}", file.display());
    let run = curl(
        Placement::Daemon,
        &mocks,
        &[
            "-w",
            "%{http_code}\n",
            "-X",
            "PUT",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &data,
            "http://api.example.com/v1/upload",
        ],
    );
    run.success();
    assert_eq!(run.stdout, "204\n", "{}", run.stderr);
}

#[test]
fn delay_is_measured_by_the_client() {
    let mocks = mocks_file(MOCKS);
    let run = curl(
        Placement::Daemon,
        &mocks,
        &["-w", "|%{time_total}", "http://api.example.com/slow"],
    );
    run.success();
    let (body, seconds) = run.stdout.split_once('|').unwrap();
    assert_eq!(body, "late");
    let seconds: f64 = seconds.parse().unwrap();
    assert!((0.4..5.0).contains(&seconds), "{seconds}");
}

#[test]
fn unmatched_requests_get_501_and_fail_the_run() {
    let mocks = mocks_file(MOCKS);
    let run = mocket_run(
        &mocks,
        &[],
        &[
            "curl",
            "-sS",
            "-w",
            "|%{http_code}",
            "http://api.example.com/v1/users/2",
        ],
    );
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.ends_with("|501"), "{}", run.stdout);
    assert!(
        run.stdout.starts_with(
            "mocket: no entry matched GET /v1/users/2 on http://api.example.com:80\nclosest entries (request vs entry):\n  #0 GET http://api.example.com/v1/users/1\n    - path differs: /v1/users/2 vs /v1/users/1\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("unmatched http api.example.com:80: GET /v1/users/2: no entry matched"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_journal_has_each_exchange() {
    let mocks = mocks_file(MOCKS);
    let journal = scratch_dir("http-journal").join("events.jsonl");
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &[
            "curl",
            "-sS",
            "-H",
            "X-Trace: abc",
            "--data",
            "name=Ada&x=1",
            "http://api.example.com/v1/form?v=1",
        ],
    );
    run.success();
    assert_eq!(run.stdout, "form ok");
    let text = std::fs::read_to_string(&journal).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    let e = &events[0];
    assert_eq!(e["protocol"], "http");
    assert_eq!(e["action"], "mocked");
    assert_eq!(e["entry"], 5);
    assert_eq!(e["host"], "api.example.com");
    assert_eq!(e["port"], 80);
    assert_eq!(e["request"]["method"], "POST");
    assert_eq!(e["request"]["path"], "/v1/form?v=1");
    assert_eq!(e["request"]["headers"]["x-trace"], "abc");
    assert_eq!(e["request"]["headers"]["host"], "api.example.com");
    assert_eq!(e["request"]["body"], "name=Ada&x=1");
    assert_eq!(e["response"]["status"], 200);
}

#[test]
fn python_requests() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import requests
s = requests.Session()
r = s.get("http://api.example.com/v1/users/1")
print(r.status_code, r.reason, r.text)
r = s.get("http://api.example.com/v1/users/1")
print(r.status_code, r.headers["x-request-id"], r.headers["content-type"], r.json())
r = s.get("http://api.example.com/v1/search", params={"q": "café", "page": 2},
          headers={"authorization": "Bearer t0k"})
print(r.status_code, r.json())
r = s.post("http://api.example.com/v1/orders", json={"item": "book", "qty": 2})
print(r.status_code, r.headers["location"], r.json())
r = s.post("http://api.example.com/v1/orders", json={"item": "book", "qty": 2})
print(r.status_code, r.text)
r = s.post("http://api.example.com/v1/form", data={"x": "1", "name": "Ada"})
print(r.status_code, r.text)
r = s.put("http://api.example.com/v1/upload", data=iter([b"first line\n", b"second line\n"]))
print(r.status_code, repr(r.text))
r = s.head("http://api.example.com/v1/users/1")
print(r.status_code, r.headers["content-length"], r.headers["x-head"], repr(r.text))
lines = [l for l in s.get("http://api.example.com/events", stream=True).iter_lines() if l]
print(lines)
try:
    s.get("http://faults.example.com/reset")
except requests.exceptions.ConnectionError as e:
    print("reset:", type(e).__name__)
try:
    s.get("http://faults.example.com/truncate")
except requests.exceptions.ChunkedEncodingError as e:
    print("truncate:", type(e).__name__)
"#;
    let run = python_with("requests", &mocks, program);
    run.success();
    assert_eq!(
        run.stdout,
        "500 Internal Server Error try again\n\
         200 42 application/json {'id': 1, 'name': 'Ada'}\n\
         200 {'hits': 3}\n\
         201 /v1/orders/7 {'order': 7}\n\
         409 duplicate order\n\
         200 form ok\n\
         204 ''\n\
         200 22 yes ''\n\
         [b'data: one', b'data: two', b'data: three']\n\
         reset: ConnectionError\n\
         truncate: ChunkedEncodingError\n",
        "{}",
        run.stderr
    );
}

#[test]
fn python_urllib() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import json, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://api.example.com/v1/users/1")
except urllib.error.HTTPError as e:
    print(e.code, e.reason, e.read().decode())
with urllib.request.urlopen("http://api.example.com/v1/users/1") as r:
    print(r.status, r.reason, r.headers["x-request-id"], json.loads(r.read()))
req = urllib.request.Request("http://api.example.com/v1/orders", method="POST",
    data=json.dumps({"qty": 2, "item": "book"}).encode(), headers={"content-type": "application/json"})
with urllib.request.urlopen(req) as r:
    print(r.status, r.headers["location"], r.read().decode())
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(e.code, e.reason, e.read().decode())
try:
    urllib.request.urlopen("http://api.example.com/teapot")
except urllib.error.HTTPError as e:
    print(e.code, e.reason)
try:
    urllib.request.urlopen("http://api.example.com/nothing")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().splitlines()[0])
"#;
    let run = python(Placement::Embedded, &mocks, program, &[]);
    run.success();
    assert_eq!(
        run.stdout,
        "500 Internal Server Error try again\n\
         200 OK 42 {'id': 1, 'name': 'Ada'}\n\
         201 /v1/orders/7 {\"order\":7}\n\
         409 Conflict duplicate order\n\
         418 I'm a teapot\n\
         501 mocket: no entry matched GET /nothing on http://api.example.com:80\n",
        "{}",
        run.stderr
    );
}

#[test]
fn python_http_client_two_hundred_requests_on_one_connection() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import http.client
c = http.client.HTTPConnection("api.example.com", 80)
c.connect()
sock = c.sock
bodies = set()
for i in range(200):
    if i % 2:
        c.request("POST", "/echo", body=("x" * i).encode())
    else:
        c.request("GET", "/ping?i=%d" % i, headers={"x-i": str(i)})
    r = c.getresponse()
    bodies.add((r.status, r.read().decode()))
    assert c.sock is sock, "reconnected at request %d" % i
print(sorted(bodies))
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout, "[(200, 'ok'), (200, 'pong')]\n",
            "{placement:?}: {}",
            run.stderr
        );
        if let Placement::Daemon = placement {
            assert!(run.stderr.contains("mocket: 200 mocked"), "{}", run.stderr);
        }
    }
}

#[test]
fn python_httpx() {
    let mocks = mocks_file(MOCKS);
    let program = r#"
import httpx
with httpx.Client() as c:
    r = c.get("http://api.example.com/v1/users/1")
    print(r.status_code, r.reason_phrase, r.text)
    r = c.get("http://api.example.com/v1/users/1")
    print(r.status_code, r.headers["x-request-id"], r.json())
    r = c.post("http://api.example.com/v1/orders", json={"item": "book", "qty": 2})
    print(r.status_code, r.json())
    def lines():
        yield b"first line\n"
        yield b"second line\n"
    r = c.put("http://api.example.com/v1/upload", content=lines())
    print(r.status_code)
    with c.stream("GET", "http://api.example.com/events") as r:
        print([l for l in r.iter_lines() if l])
    try:
        c.get("http://faults.example.com/close")
    except httpx.RemoteProtocolError as e:
        print("close:", type(e).__name__)
    try:
        c.get("http://faults.example.com/garbage")
    except httpx.RemoteProtocolError as e:
        print("garbage:", type(e).__name__)
"#;
    let run = python_with("httpx", &mocks, program);
    run.success();
    assert_eq!(
        run.stdout,
        "500 Internal Server Error try again\n\
         200 42 {'id': 1, 'name': 'Ada'}\n\
         201 {'order': 7}\n\
         204\n\
         ['data: one', 'data: two', 'data: three']\n\
         close: RemoteProtocolError\n\
         garbage: RemoteProtocolError\n",
        "{}",
        run.stderr
    );
}
