use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::http::entry::HttpEntry;
use crate::http::parser::{Parsed, RequestParser};

fn response(r: Value) -> HttpResponse {
    let v = json!({"http": "GET http://h/", "response": r});
    HttpEntry::from_json(&v, Path::new("."))
        .unwrap()
        .responses
        .remove(0)
}

fn request(wire: &str) -> Request {
    let mut p = RequestParser::new();
    p.feed(wire.as_bytes());
    match p.poll().unwrap() {
        Some(Parsed::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

const GET: &str = "GET / HTTP/1.1\r\nhost: h\r\n\r\n";

/// The plan with its writes as text, for readable assertions.
fn steps(r: Value, req: &str) -> Vec<String> {
    plan(&response(r), &request(req))
        .into_iter()
        .map(|s| match s {
            Step::Write(b) => String::from_utf8_lossy(&b).into_owned(),
            Step::Sleep(d) => format!("sleep {}ms", d.as_millis()),
            Step::Reset => "reset".into(),
            Step::Close => "close".into(),
            Step::Repeat(round) => format!("repeat {round:?}"),
        })
        .collect()
}

#[test]
fn reason_phrases_for_any_status() {
    assert_eq!(reason_phrase(200), "OK");
    assert_eq!(reason_phrase(404), "Not Found");
    assert_eq!(reason_phrase(418), "I'm a teapot");
    assert_eq!(reason_phrase(429), "Too Many Requests");
    assert_eq!(reason_phrase(511), "Network Authentication Required");
    assert_eq!(reason_phrase(299), "Success");
    assert_eq!(reason_phrase(399), "Redirection");
    assert_eq!(reason_phrase(499), "Client Error");
    assert_eq!(reason_phrase(599), "Server Error");
    assert_eq!(reason_phrase(999), "Unknown");
    for status in 100..1000 {
        let phrase = reason_phrase(status);
        assert!(!phrase.is_empty() && !phrase.contains(['\r', '\n']));
    }
}

#[test]
fn content_length_is_automatic() {
    assert_eq!(
        steps(
            json!({"status": 201, "headers": {"X-Id": "7"}, "json": {"a": 1}}),
            GET
        ),
        [
            "HTTP/1.1 201 Created\r\nX-Id: 7\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        ]
    );
    assert_eq!(
        steps(json!({}), GET),
        ["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]
    );
}

#[test]
fn head_gets_the_headers_of_the_body_without_it() {
    assert_eq!(
        steps(json!({"body": "hello"}), "HEAD / HTTP/1.1\r\n\r\n"),
        ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"]
    );
    assert_eq!(
        steps(json!({"chunks": ["a"]}), "HEAD / HTTP/1.1\r\n\r\n"),
        ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    );
}

#[test]
fn bodyless_statuses_have_no_length() {
    assert_eq!(
        steps(json!({"status": 204}), GET),
        ["HTTP/1.1 204 No Content\r\n\r\n"]
    );
    assert_eq!(
        steps(json!({"status": 304, "headers": {"etag": "\"x\""}}), GET),
        ["HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n"]
    );
}

#[test]
fn connection_close_and_http_1_0() {
    assert_eq!(
        steps(
            json!({"body": "x"}),
            "GET / HTTP/1.1\r\nconnection: close\r\n\r\n"
        ),
        [
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx",
            "close"
        ]
    );
    assert_eq!(
        steps(json!({"body": "x"}), "GET / HTTP/1.0\r\n\r\n"),
        [
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx",
            "close"
        ]
    );
    assert_eq!(
        steps(
            json!({"body": "x"}),
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ),
        ["HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\nx"]
    );
    // A response that says close closes, and mocket does not repeat the header.
    assert_eq!(
        steps(json!({"headers": {"Connection": "close"}}), GET),
        [
            "HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n",
            "close"
        ]
    );
}

#[test]
fn chunked_responses() {
    assert_eq!(
        steps(json!({"chunked": true, "body": "hello world"}), GET),
        ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"]
    );
    assert_eq!(
        steps(json!({"chunked": true}), GET),
        ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"]
    );
    // HTTP/1.0 has no chunked encoding: a whole body gets a length instead.
    assert_eq!(
        steps(
            json!({"chunked": true, "body": "hi"}),
            "GET / HTTP/1.0\r\n\r\n"
        ),
        [
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
            "close"
        ]
    );
}

#[test]
fn streamed_chunks_with_pauses() {
    assert_eq!(
        steps(
            json!({"headers": {"content-type": "text/event-stream"}, "chunks": ["data: 1\n\n", "", "data: 2\n\n"], "chunk_delay_ms": 20}),
            GET
        ),
        [
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n",
            "sleep 20ms",
            "sleep 20ms",
            "9\r\ndata: 2\n\n\r\n0\r\n\r\n"
        ]
    );
    assert_eq!(
        steps(json!({"chunks": ["a", "b"]}), "GET / HTTP/1.0\r\n\r\n"),
        [
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\na",
            "b",
            "close"
        ]
    );
}

#[test]
fn delays_come_first() {
    assert_eq!(
        steps(json!({"delay_ms": 150}), GET),
        [
            "sleep 150ms",
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        ]
    );
}

#[test]
fn faults() {
    assert_eq!(
        steps(json!({"fault": "reset", "delay_ms": 5}), GET),
        ["sleep 5ms", "reset"]
    );
    assert_eq!(steps(json!({"fault": "close"}), GET), ["close"]);
    let garbage = plan(&response(json!({"fault": "garbage"})), &request(GET));
    assert_eq!(garbage, [Step::Write(GARBAGE.to_vec()), Step::Close]);
    assert!(!GARBAGE.starts_with(b"HTTP"));
    assert_eq!(
        steps(json!({"fault": "truncate", "body": "0123456789"}), GET),
        [
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234",
            "close"
        ]
    );
    assert_eq!(
        steps(
            json!({"fault": "truncate", "chunks": ["abcd", "efgh"], "chunk_delay_ms": 9}),
            GET
        ),
        [
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r",
            "close"
        ]
    );
}

#[test]
fn mocket_own_responses() {
    let r = text_response(501, "no entry\n".into());
    assert_eq!(
        plan(&r, &request(GET)),
        [Step::Write(
            b"HTTP/1.1 501 Not Implemented\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 9\r\n\r\nno entry\n".to_vec()
        )]
    );
    let bad = error_response(&ParseError::new("oops"));
    let text = String::from_utf8(bad).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"));
    assert!(text.ends_with("\r\n\r\nmocket: malformed HTTP request: oops\n"));
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, text.split_once("\r\n\r\n").unwrap().1.len());
    let refused = String::from_utf8(error_response(&ParseError::too_large(1024))).unwrap();
    assert!(
        refused.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{refused}"
    );
    assert!(
        refused.contains("MOCKET_MAX_BODY (1024 bytes)"),
        "{refused}"
    );
}

#[test]
fn reason_replaces_the_registered_phrase() {
    let wire = steps(json!({"status": 299, "reason": "Mostly Fine"}), GET);
    assert!(
        wire[0].starts_with("HTTP/1.1 299 Mostly Fine\r\n"),
        "{wire:?}"
    );
    let wire = steps(json!({"status": 404}), GET);
    assert!(
        wire[0].starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{wire:?}"
    );
}

#[test]
fn repeat_streams_until_the_client_closes() {
    let r = json!({"chunks": ["a", "", "bc"], "chunk_delay_ms": 5, "repeat": true});
    let plan = plan(&response(r.clone()), &request(GET));
    assert_eq!(plan.len(), 2, "{plan:?}");
    assert!(
        matches!(&plan[0], Step::Write(head) if head.ends_with(b"transfer-encoding: chunked\r\n\r\n"))
    );
    assert_eq!(
        plan[1],
        Step::Repeat(vec![
            Step::Write(b"1\r\na\r\n".to_vec()),
            Step::Sleep(Duration::from_millis(5)),
            Step::Write(b"2\r\nbc\r\n".to_vec()),
            Step::Sleep(Duration::from_millis(5)),
        ])
    );
    // HTTP/1.0: no chunked encoding, the close ends the body.
    let plan = super::plan(&response(r), &request("GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(
        plan[1],
        Step::Repeat(vec![
            Step::Write(b"a".to_vec()),
            Step::Sleep(Duration::from_millis(5)),
            Step::Write(b"bc".to_vec()),
            Step::Sleep(Duration::from_millis(5)),
        ])
    );
}
