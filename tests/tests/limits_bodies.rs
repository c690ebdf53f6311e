//! Bounded bodies with real clients (issue 11): an upload no entry looks at is streamed through
//! the daemon without being held (its peak RSS checked), an entry that matches on the body
//! holds at most `MOCKET_MAX_BODY` and refuses more with `413`, the journal shows the start of
//! a body only, and a never-ending upstream response is relayed and recorded in bounded pieces.

use mocket_tests::*;
use serde_json::Value;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "POST http://upload.example.com/blob", "response": { "body": "stored\n" } },
    { "http": "POST http://upload.example.com/json",
      "match": { "json_contains": { "kind": "doc" } },
      "response": { "body": "matched\n" } }
  ]
}"#;

/// The peak RSS in kB of `mocket` (the daemon of `mocket run`), printed by the command, whose
/// parent it is, while the daemon still runs.
const DAEMON_PEAK: &str = "grep VmHWM /proc/$PPID/status | tr -dc 0-9";

fn peak_kb(line: &str) -> u64 {
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a VmHWM in kB: {line:?}"))
}

#[test]
fn a_300_mb_upload_nobody_matches_on_is_streamed_not_held() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mocks = mocks_file(MOCKS);
    let journal = mocks.parent().unwrap().join("journal.jsonl");
    let script = format!(
        "head -c 300M /dev/zero | tr '\\0' x | curl -sS --data-binary @- http://upload.example.com/blob && {DAEMON_PEAK}"
    );
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &["sh", "-c", &script],
    );
    run.success();
    let (answer, peak) = run.stdout.split_once('\n').expect("answer, then the peak");
    assert_eq!(answer, "stored", "{}", run.stderr);
    let peak = peak_kb(peak);
    assert!(
        peak < 64 * 1024,
        "the daemon's peak RSS was {peak} kB for a 300 MB upload"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.len() < 1024 * 1024, "journal of {} bytes", text.len());
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let request = &line["request"];
    assert_eq!(request["body_truncated"], 300 * 1024 * 1024, "{request}");
    let shown = request["body"].as_str().unwrap();
    assert!(
        shown.len() == 64 * 1024 && shown.bytes().all(|b| b == b'x'),
        "journal body of {} bytes",
        shown.len()
    );
}

#[test]
fn a_body_over_mocket_max_body_gets_413_that_says_how_to_raise_it() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mocks = mocks_file(MOCKS);
    let journal = mocks.parent().unwrap().join("journal.jsonl");
    // 2 MB of JSON that would match, then a small one that does.
    let script = r#"
big=$(mktemp)
{ printf '{"kind": "doc", "pad": "'; head -c 2M /dev/zero | tr '\0' p; printf '"}'; } > "$big"
for expect in 'Expect:' 'Expect: 100-continue'; do
  curl -sS -H "$expect" -H 'content-type: application/json' -w '|%{http_code}\n' \
    --data-binary @"$big" http://upload.example.com/json
done
printf '{"kind": "doc"}' | curl -sS -H 'Transfer-Encoding: chunked' --data-binary @- -w '|%{http_code}\n' http://upload.example.com/json
"#;
    let run = mocket_run_env(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &[("MOCKET_MAX_BODY", "1M")],
        &["sh", "-c", script],
    );
    assert_ne!(
        run.code,
        Some(0),
        "a refused request fails the run\n{}",
        run.stderr
    );
    let answers: Vec<&str> = run.stdout.split('|').collect();
    assert_eq!(answers.len(), 4, "{}\n{}", run.stdout, run.stderr);
    let refusal =
        "mocket: request refused: request body larger than MOCKET_MAX_BODY (1048576 bytes)";
    assert!(
        answers[0].starts_with(refusal),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        answers[0].contains("raise it (e.g. MOCKET_MAX_BODY=4M)"),
        "{}",
        run.stdout
    );
    assert!(
        answers[1].starts_with(&format!("413\n{refusal}")),
        "{}",
        run.stdout
    );
    assert!(answers[2].starts_with("413\nmatched\n"), "{}", run.stdout);
    assert_eq!(answers[3], "200\n");
    let journal = std::fs::read_to_string(&journal).unwrap();
    let refused: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["response"]["status"] == 413)
        .collect();
    assert_eq!(refused.len(), 2, "{journal}");
    assert!(
        run.stderr
            .contains("refused request (413): request body larger than MOCKET_MAX_BODY"),
        "{}",
        run.stderr
    );
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("larger than MOCKET_MAX_BODY"),
        "{}",
        refused[0]
    );
}

/// Servers that never stop (on 127.0.0.1 inside the test's namespace), then the command given
/// after the ports: an HTTP server whose chunked response sends `tick 0`, pauses a second, sends
/// `tick 1`, then chunks without end; a raw TCP server that greets and then streams without end.
const ENDLESS: &str = r#"
import socket, subprocess, sys, threading, time

http_port, tcp_port = int(sys.argv[1]), int(sys.argv[2])
cmd = sys.argv[3:]

def listen(port, serve):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    def accept():
        while True:
            conn, _ = s.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()

def http(conn):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n7\r\ntick 0\n\r\n")
        time.sleep(1.0)
        conn.sendall(b"7\r\ntick 1\n\r\n")
        piece = b"y" * 65536
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        while True:
            conn.sendall(chunk)
    except OSError:
        pass

def tcp(conn):
    try:
        conn.sendall(b"220 streaming\r\n")
        piece = b"z" * 65536
        while True:
            conn.sendall(piece)
    except OSError:
        pass

listen(http_port, http)
listen(tcp_port, tcp)
sys.exit(subprocess.call(cmd))
"#;

/// Reads the endless responses through mocket: the first HTTP chunk must come before the
/// server's pause ends, then 20 MiB of each stream, then the client leaves.
const STREAM_CLIENT: &str = r#"
import socket, sys, time

http_port, tcp_port = int(sys.argv[1]), int(sys.argv[2])
WANT = 20 * 1024 * 1024

s = socket.create_connection(("127.0.0.1", http_port))
start = time.monotonic()
s.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
got = b""
while b"tick 0" not in got:
    data = s.recv(65536)
    assert data, "closed before the first chunk"
    got += data
first = time.monotonic() - start
total = len(got)
while total < WANT:
    data = s.recv(1 << 20)
    assert data, "closed after %d bytes" % total
    total += len(data)
s.close()
print("http first chunk after %.2f s, read %d bytes" % (first, total))
assert first < 0.9, "the first chunk waited for the rest: %.2f s" % first

t = socket.create_connection(("127.0.0.1", tcp_port))
total = 0
while total < WANT:
    data = t.recv(1 << 20)
    assert data, "closed after %d bytes" % total
    total += len(data)
t.close()
print("tcp read %d bytes" % total)
"#;

#[test]
fn endless_streams_are_relayed_as_they_come_and_recorded_up_to_the_limit() {
    let dir = scratch_dir("endless");
    let (http_port, tcp_port) = ("18431", "18432");
    let stage = dir.join("endless.py");
    let client = dir.join("client.py");
    std::fs::write(&stage, ENDLESS).unwrap();
    std::fs::write(&client, STREAM_CLIENT).unwrap();
    let record = dir.join("cassettes");
    let mocks = mocks_file("{}");
    let bin = mocket_bin();
    let mut args = vec![
        "python3",
        stage.to_str().unwrap(),
        http_port,
        tcp_port,
        bin.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
        "--allow",
        "",
        "--",
        "python3",
        client.to_str().unwrap(),
    ];
    args.extend([http_port, tcp_port]);
    let recorded = run(netns_command(&args));
    recorded.success();
    assert!(
        recorded.stdout.contains("http first chunk after") && recorded.stdout.contains("tcp read"),
        "{}\n{}",
        recorded.stdout,
        recorded.stderr
    );

    let text = std::fs::read_to_string(record.join("default.json")).unwrap();
    let cassette: Value = serde_json::from_str(&text).expect("a parseable cassette");
    let interactions = cassette["interactions"].as_array().unwrap();
    let limit = 16 * 1024 * 1024;
    let http = interactions
        .iter()
        .find(|i| i.get("http").is_some())
        .expect("the HTTP exchange was saved");
    let response = &http["response"];
    let body = response["body"].as_str().unwrap();
    assert_eq!(body.len(), limit);
    assert!(body.starts_with("tick 0\ntick 1\nyyy"), "{}", &body[..20]);
    assert!(
        response["body_truncated"]
            .as_str()
            .unwrap()
            .contains("past the first 16 MiB"),
        "{response:.200}"
    );
    let tcp = interactions
        .iter()
        .find(|i| i.get("tcp").is_some())
        .expect("the TCP connection was saved");
    let tcp_bytes: usize = tcp["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["server"].as_str().or(c["client"].as_str()).unwrap().len())
        .sum();
    assert_eq!(tcp_bytes, limit);
    assert!(
        tcp["truncated"].as_str().unwrap().contains("16 MiB"),
        "{tcp:.200}"
    );

    // The cassette replays where nothing listens: the recorded part of the body, whole.
    let url = format!("http://127.0.0.1:{http_port}/stream");
    let replay = run(netns_command(&[
        bin.to_str().unwrap(),
        "run",
        "--config",
        mocks.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
        "--allow",
        "",
        "--",
        "sh",
        "-c",
        &format!("curl -sS {url} | wc -c"),
    ]));
    replay.success();
    assert_eq!(replay.stdout.trim(), limit.to_string(), "{}", replay.stderr);
}
