//! The HTTP driver over real loopback connections made the way the shim makes them.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::tests::{connect, engine};
use crate::Engine;
use crate::journal::Journal;
use mocket_config::{Config, LogLevel};

/// One response as a client reads it.
#[derive(Debug)]
struct Reply {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 client on one connection.
struct Client {
    conn: BufReader<TcpStream>,
}

impl Client {
    fn new(engine: &Arc<Engine>, host: &str, port: u16) -> Self {
        let stream = connect(engine, host, port);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            conn: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.conn.get_mut().write_all(bytes).unwrap();
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nhost: h\r\n\r\n").as_bytes());
        self.reply()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.conn.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    fn reply_head(&mut self) -> Reply {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line:?}");
        let status = parts.next().unwrap().parse().unwrap();
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Reply {
            status,
            reason,
            headers,
            body: Vec::new(),
        }
    }

    fn reply(&mut self) -> Reply {
        let mut reply = self.reply_head();
        if let Some(len) = reply.header("content-length") {
            let mut body = vec![0; len.parse().unwrap()];
            self.conn.read_exact(&mut body).unwrap();
            reply.body = body;
        } else if reply.header("transfer-encoding") == Some("chunked") {
            reply.body = self.chunked_body();
        }
        reply
    }

    fn chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let size = usize::from_str_radix(&self.line(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            self.conn.read_exact(&mut chunk).unwrap();
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Everything until the server closes, or the error that ended the connection.
    fn rest(&mut self) -> std::io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.conn.read_to_end(&mut rest).map(|_| rest)
    }
}

#[test]
fn responses_in_order_last_repeats_on_one_connection() {
    let e = engine(
        r#"{"entries": [{"http": "GET http://api.test/v1/users/1",
            "responses": [{"status": 500, "body": "try again"},
                          {"headers": {"x-request-id": "42"}, "json": {"id": 1}}]}]}"#,
    );
    let mut c = Client::new(&e, "api.test", 80);
    let first = c.get("/v1/users/1");
    assert_eq!(
        (first.status, first.reason.as_str()),
        (500, "Internal Server Error")
    );
    assert_eq!(first.text(), "try again");
    for _ in 0..3 {
        let ok = c.get("/v1/users/1");
        assert_eq!((ok.status, ok.reason.as_str()), (200, "OK"));
        assert_eq!(ok.header("x-request-id"), Some("42"));
        assert_eq!(ok.header("content-type"), Some("application/json"));
        assert_eq!(ok.text(), r#"{"id":1}"#);
    }
    assert_eq!(e.report().mocked, 4, "four requests on one connection");
    assert_eq!(e.report().unmatched_count, 0);
}

#[test]
fn times_hands_over_to_the_next_entry_in_file_order() {
    let e = engine(
        r#"{"entries": [
            {"http": "POST http://api.test/orders", "match": {"json": {"item": "book"}}, "response": {"status": 201}, "times": 1},
            {"http": "* http://api.test/orders", "response": {"status": 409}}]}"#,
    );
    let mut c = Client::new(&e, "api.test", 80);
    let post = b"POST /orders HTTP/1.1\r\ncontent-length: 16\r\n\r\n{\"item\": \"book\"}";
    c.send(post);
    assert_eq!(c.reply().status, 201);
    c.send(post);
    assert_eq!(c.reply().status, 409);
    assert_eq!(c.get("/orders").status, 409);
    assert!(e.report().unused_entries.is_empty());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let e = engine(
        r#"{"entries": [
            {"http": "GET http://p.test/a", "response": {"body": "A"}},
            {"http": "POST http://p.test/b", "response": {"body": "B", "chunked": true}},
            {"http": "HEAD http://p.test/c", "response": {"body": "CCC"}}]}"#,
    );
    let mut c = Client::new(&e, "p.test", 80);
    c.send(b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nHEAD /c HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n");
    assert_eq!(c.reply().text(), "A");
    assert_eq!(c.reply().text(), "B");
    let head = c.reply_head();
    assert_eq!(head.header("content-length"), Some("3"));
    assert_eq!(c.reply().text(), "A", "no body bytes were sent for HEAD");
}

#[test]
fn a_request_written_one_byte_at_a_time() {
    let e = engine(
        r#"{"entries": [{"http": "PUT http://slow.test/x", "match": {"body": "payload"}, "response": {"body": "ok"}}]}"#,
    );
    let mut c = Client::new(&e, "slow.test", 80);
    for b in b"PUT /x HTTP/1.1\r\nHost: slow.test\r\nContent-Length: 7\r\n\r\npayload" {
        c.send(&[*b]);
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.reply().text(), "ok");
}

#[test]
fn expect_100_continue() {
    let e = engine(
        r#"{"entries": [{"http": "POST http://up.test/u", "match": {"body": "data"}, "response": {"status": 202}}]}"#,
    );
    let mut c = Client::new(&e, "up.test", 80);
    c.send(b"POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let interim = c.reply_head();
    assert_eq!((interim.status, interim.reason.as_str()), (100, "Continue"));
    c.send(b"data");
    assert_eq!(c.reply().status, 202);
}

#[test]
fn unmatched_requests_get_a_501_naming_the_closest_entries() {
    let e = engine(
        r#"{"entries": [
            {"http": "GET http://api.test/v1/users?id=1", "match": {"headers": {"authorization": "Bearer t0k"}}, "response": {}},
            {"http": "POST http://api.test/v1/orders", "response": {}},
            {"http": "GET https://api.test:80/v1/users?id=2", "response": {}}]}"#,
    );
    let mut c = Client::new(&e, "api.test", 80);
    let reply = c.get("/v1/users?id=2");
    assert_eq!(
        (reply.status, reply.reason.as_str()),
        (501, "Not Implemented")
    );
    assert_eq!(
        reply.text(),
        "mocket: no entry matched GET /v1/users?id=2 on http://api.test:80\n\
         closest entries (request vs entry):\n\
         \x20 #2 GET https://api.test:80/v1/users?id=2\n\
         \x20   - scheme differs: http vs https\n\
         \x20 #0 GET http://api.test/v1/users?id=1\n\
         \x20   - query id=2 vs id=1\n\
         \x20   - header authorization missing\n\
         \x20 #1 POST http://api.test/v1/orders\n\
         \x20   - method differs: GET vs POST\n\
         \x20   - path differs: /v1/users vs /v1/orders\n"
    );
    // The connection goes on, and the miss is in the report that makes `mocket run` fail.
    assert_eq!(c.get("/v1/users?id=1").status, 501);
    let report = e.report();
    assert_eq!(report.unmatched_count, 2);
    assert!(report.failed());
    assert_eq!(
        report.unmatched[0],
        "http api.test:80: GET /v1/users?id=2: no entry matched (closest: #2 GET https://api.test:80/v1/users?id=2: scheme differs: http vs https)"
    );
}

#[test]
fn used_up_entries_say_so() {
    let e =
        engine(r#"{"entries": [{"http": "GET http://once.test/", "response": {}, "times": 1}]}"#);
    let mut c = Client::new(&e, "once.test", 80);
    assert_eq!(c.get("/").status, 200);
    let again = c.get("/");
    assert_eq!(again.status, 501);
    assert!(
        again
            .text()
            .contains("matches, but already answered its \"times\": 1 request(s)"),
        "{}",
        again.text()
    );
}

#[test]
fn malformed_requests_get_400_and_a_close() {
    let e = engine(r#"{"entries": [{"http": "GET http://bad.test/", "response": {}}]}"#);
    let mut c = Client::new(&e, "bad.test", 80);
    c.send(b"GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n");
    let reply = c.reply();
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("invalid header name"),
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(c.rest().unwrap(), b"");
    assert_eq!(e.report().unmatched_count, 1);
}

fn fault_client(fault: &str) -> (Arc<Engine>, Client) {
    let e = engine(&format!(
        r#"{{"entries": [{{"http": "GET http://f.test/", "response": {{"fault": "{fault}", "body": "0123456789"}}}}]}}"#
    ));
    let mut c = Client::new(&e, "f.test", 80);
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    (e, c)
}

#[test]
fn fault_reset() {
    let (_e, mut c) = fault_client("reset");
    let err = c.rest().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn fault_close() {
    let (_e, mut c) = fault_client("close");
    assert_eq!(c.rest().unwrap(), b"");
}

#[test]
fn fault_garbage() {
    let (_e, mut c) = fault_client("garbage");
    assert_eq!(c.rest().unwrap(), mocket_protocols::http::GARBAGE);
}

#[test]
fn fault_truncate() {
    let (_e, mut c) = fault_client("truncate");
    let head = c.reply_head();
    assert_eq!(head.header("content-length"), Some("10"));
    assert_eq!(c.rest().unwrap(), b"01234");
}

#[test]
fn delay_is_felt_by_the_client() {
    let e =
        engine(r#"{"entries": [{"http": "GET http://d.test/", "response": {"delay_ms": 300}}]}"#);
    let mut c = Client::new(&e, "d.test", 80);
    let start = Instant::now();
    assert_eq!(c.get("/").status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn streamed_chunks_arrive_one_by_one() {
    let e = engine(
        r#"{"entries": [{"http": "GET http://sse.test/events", "response": {
            "headers": {"content-type": "text/event-stream"},
            "chunks": ["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"], "chunk_delay_ms": 150}}]}"#,
    );
    let mut c = Client::new(&e, "sse.test", 80);
    c.send(b"GET /events HTTP/1.1\r\n\r\n");
    let start = Instant::now();
    let head = c.reply_head();
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let size = usize::from_str_radix(&c.line(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        c.conn.read_exact(&mut chunk).unwrap();
        seen.push((
            String::from_utf8_lossy(&chunk[..size]).into_owned(),
            start.elapsed(),
        ));
    }
    assert_eq!(seen[2].0, "data: 3\n\n");
    assert!(seen[0].1 < Duration::from_millis(150), "{seen:?}");
    assert!(seen[2].1 >= Duration::from_millis(300), "{seen:?}");
    assert_eq!(c.line(), "0");
}

#[test]
fn large_bodies_both_ways() {
    let dir = temp_dir("large");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(dir.join("big.bin"), &body).unwrap();
    let config = r#"{"entries": [{"http": "POST http://big.test/up", "match": {"body_regex": "^x+$"}, "response": {"file": "big.bin"}}]}"#;
    let config = Config::parse(config, "m.json", &dir).map(Arc::new);
    let e = Engine::with_config(config, LogLevel::Error, Journal::default(), None);
    let mut c = Client::new(&e, "big.test", 80);
    let upload = vec![b'x'; 2_000_000];
    let head = format!(
        "POST /up HTTP/1.1\r\ncontent-length: {}\r\n\r\n",
        upload.len()
    );
    c.send(head.as_bytes());
    c.send(&upload);
    let reply = c.reply();
    assert_eq!(reply.status, 200);
    assert!(reply.body == body);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn https_entries_do_not_answer_plain_connections() {
    let e = engine(r#"{"entries": [{"http": "GET https://secure.test:80/", "response": {}}]}"#);
    let mut c = Client::new(&e, "secure.test", 80);
    let reply = c.get("/");
    assert_eq!(reply.status, 501);
    assert!(reply.text().contains("scheme differs: http vs https"));
}

#[test]
fn the_journal_has_one_event_per_request() {
    let dir = temp_dir("journal");
    let path = dir.join("j.jsonl");
    let config = r#"{"entries": [
        {"http": "POST http://j.test/a", "response": {"status": 201}},
        {"http": "GET http://j.test/gone", "response": {"fault": "close"}}]}"#;
    let config = Config::parse(config, "m.json", Path::new(".")).map(Arc::new);
    let journal = Journal::open(Some(&path)).unwrap();
    let e = Engine::with_config(config, LogLevel::Error, journal, None);
    let mut c = Client::new(&e, "j.test", 80);
    c.send(b"POST /a?x=1 HTTP/1.1\r\nX-Id: 1\r\nx-id: 2\r\ncontent-length: 3\r\n\r\n\xff\x00\x01");
    assert_eq!(c.reply().status, 201);
    assert_eq!(c.get("/b").status, 501);
    c.send(b"GET /gone HTTP/1.1\r\n\r\n");
    assert_eq!(c.rest().unwrap(), b"");
    let events: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let first = &events[0];
    assert_eq!(first["protocol"], "http");
    assert_eq!(first["host"], "j.test");
    assert_eq!(first["port"], 80);
    assert_eq!(first["pid"], 1);
    assert_eq!(first["action"], "mocked");
    assert_eq!(first["entry"], 0);
    assert_eq!(
        first["request"],
        serde_json::json!({"method": "POST", "path": "/a?x=1",
            "headers": {"x-id": "1, 2", "content-length": "3"}, "body": {"base64": "/wAB"}})
    );
    assert_eq!(first["response"], serde_json::json!({"status": 201}));
    assert_eq!(events[1]["action"], "unmatched");
    assert_eq!(events[1]["entry"], Value::Null);
    assert_eq!(events[1]["request"]["path"], "/b");
    assert_eq!(events[1]["request"]["body"], "");
    assert_eq!(events[1]["response"]["status"], 501);
    assert!(
        events[1]["reason"]
            .as_str()
            .unwrap()
            .contains("path differs: /b vs /a")
    );
    assert_eq!(
        events[2]["response"],
        serde_json::json!({"status": 200, "fault": "close"})
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mocket-http-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
