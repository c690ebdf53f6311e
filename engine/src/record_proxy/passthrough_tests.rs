//! Passthrough over real loopback connections: the "real" server is a thread of the test on
//! 127.0.0.1, reached by the name `localhost` that the mocks file's entries name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::Engine;
use crate::journal::Journal;
use crate::tests::connect;
use mocket_config::{Config, LogLevel};

/// A real HTTP server that answers each request with `real METHOD PATH BODY` (keep-alive), on
/// a port of its own.
fn real_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || answer_all(conn));
        }
    });
    port
}

fn answer_all(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                len = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut words = line.split(' ');
        let (method, path) = (words.next().unwrap(), words.next().unwrap());
        let text = format!("real {method} {path} {}", String::from_utf8_lossy(&body));
        let reply = format!(
            "HTTP/1.1 203 Real\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        conn.write_all(reply.as_bytes()).unwrap();
    }
}

fn engine_with_journal(text: &str, journal: &Path) -> Arc<Engine> {
    let config = Config::parse(text, "m.json", Path::new(".")).map(Arc::new);
    let journal = Journal::open(Some(journal)).unwrap();
    Engine::with_config(config, LogLevel::Error, journal, None)
}

/// Sends `requests` on one connection (the last says `connection: close`) and returns all the
/// client read.
fn exchange(engine: &Arc<Engine>, port: u16, requests: &str) -> String {
    let mut conn = connect(engine, "localhost", port);
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(requests.as_bytes()).unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    out
}

fn journal_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn temp_journal(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mocket-pass-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("j.jsonl")
}

#[test]
fn unmatched_requests_reach_the_real_server_and_are_journaled_as_passthrough() {
    let port = real_server();
    let journal = temp_journal("relay");
    let e = engine_with_journal(
        &format!(
            r#"{{"unmatched": "passthrough", "entries": [
                {{"http": "GET http://localhost:{port}/mocked", "response": {{"body": "mock"}}}}]}}"#
        ),
        &journal,
    );
    let out = exchange(
        &e,
        port,
        "GET /mocked HTTP/1.1\r\n\r\nPOST /real?q=1 HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
         GET /again HTTP/1.1\r\nconnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\n\r\nmock"), "{out}");
    assert!(out.contains("HTTP/1.1 203 Real\r\n"), "{out}");
    assert!(out.contains("real POST /real?q=1 hello"), "{out}");
    assert!(out.ends_with("real GET /again "), "{out}");
    let report = e.report();
    assert_eq!((report.mocked, report.passthrough), (1, 2));
    assert_eq!(report.unmatched_count, 0);
    assert!(!report.failed());
    let events = journal_events(&journal);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["mocked", "passthrough", "passthrough"]);
    assert_eq!(events[1]["request"]["path"], "/real?q=1");
    assert_eq!(events[1]["request"]["body"], "hello");
    assert_eq!(events[1]["response"]["status"], 203);
    assert_eq!(events[1]["entry"], Value::Null);
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
}

#[test]
fn strict_mode_keeps_unallowed_real_hosts_closed() {
    let port = real_server();
    let journal = temp_journal("strict");
    let e = engine_with_journal(
        &format!(
            r#"{{"unmatched": "passthrough", "allow": [], "entries": [
                {{"http": "GET http://localhost:{port}/mocked", "response": {{}}}}]}}"#
        ),
        &journal,
    );
    let out = exchange(&e, port, "GET /real HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 501 "), "{out}");
    assert!(!out.contains("real GET"), "{out}");
    assert!(
        out.contains("strict mode does not allow the real localhost:")
            && out.contains("add it to \"allow\" or run with --no-strict"),
        "{out}"
    );
    let report = e.report();
    assert_eq!((report.passthrough, report.unmatched_count), (0, 1));
    assert_eq!(journal_events(&journal)[0]["action"], "unmatched");
    // Without strict mode the same file passes it through.
    let e = engine_with_journal(
        &format!(
            r#"{{"unmatched": "passthrough", "strict": false, "allow": [], "entries": [
                {{"http": "GET http://localhost:{port}/mocked", "response": {{}}}}]}}"#
        ),
        &journal,
    );
    let out = exchange(&e, port, "GET /real HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert!(out.ends_with("real GET /real "), "{out}");
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
}

#[test]
fn an_unreachable_real_server_gets_502_counted_as_unmatched() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let journal = temp_journal("unreachable");
    let e = engine_with_journal(
        &format!(
            r#"{{"unmatched": "passthrough", "entries": [
                {{"http": "GET http://localhost:{port}/mocked", "response": {{}}}}]}}"#
        ),
        &journal,
    );
    let out = exchange(&e, port, "GET /real HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 502 "), "{out}");
    assert!(
        out.contains("matched no entry and passing it through failed: cannot reach localhost:"),
        "{out}"
    );
    assert_eq!(e.report().unmatched_count, 1);
    let event = &journal_events(&journal)[0];
    assert_eq!(event["action"], "unmatched");
    assert_eq!(event["response"]["status"], 502);
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
}

#[test]
fn without_the_key_unmatched_requests_never_leave() {
    let port = real_server();
    let journal = temp_journal("default");
    let e = engine_with_journal(
        &format!(
            r#"{{"entries": [{{"http": "GET http://localhost:{port}/mocked", "response": {{}}}}]}}"#
        ),
        &journal,
    );
    let out = exchange(&e, port, "GET /real HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 501 "), "{out}");
    assert!(!out.contains("passthrough"), "{out}");
    assert_eq!(e.report().passthrough, 0);
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
}

/// Sends one control message of `session` and returns the reply.
fn control(e: &Arc<Engine>, session: u64, message: Value) -> Value {
    use crate::scopes::{Handled, Placement};
    let line = message.to_string();
    let Handled::Reply(reply) =
        e.control_handle(session, line.as_bytes(), Placement::Embedded, true)
    else {
        panic!("no reply to {line}")
    };
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

#[test]
fn a_destination_held_by_a_test_scope_answers_its_unmatched_requests_with_501() {
    let port = real_server();
    let journal = temp_journal("scope");
    let e = engine_with_journal(r#"{"unmatched": "passthrough"}"#, &journal);
    let session = e.control_open(Box::new(|_: &str| true));
    let open = serde_json::json!({"id": 1, "op": "open_scope", "name": "t", "pid": 1});
    let scope = control(&e, session, open)["scope"].as_u64().unwrap();
    let entry = serde_json::json!({"http": format!("GET http://localhost:{port}/mocked"),
                                   "response": {"body": "scoped"}});
    control(
        &e,
        session,
        serde_json::json!({"id": 2, "op": "register", "scope": scope, "entry": entry}),
    );
    let out = exchange(
        &e,
        port,
        "GET /mocked HTTP/1.1\r\n\r\nGET /real HTTP/1.1\r\nconnection: close\r\n\r\n",
    );
    assert!(out.contains("\r\n\r\nscoped"), "{out}");
    assert!(out.contains("HTTP/1.1 501 "), "{out}");
    assert!(!out.contains("real GET"), "{out}");
    assert_eq!(e.report().passthrough, 0);
    let verdict = control(
        &e,
        session,
        serde_json::json!({"id": 3, "op": "verify", "scope": scope}),
    );
    assert_eq!(verdict["passed"], false, "{verdict}");
    std::fs::remove_dir_all(journal.parent().unwrap()).unwrap();
}
