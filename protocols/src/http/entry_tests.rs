use serde_json::json;

use super::*;

fn entry(v: Value) -> HttpEntry {
    HttpEntry::from_json(&v, Path::new(".")).unwrap()
}

/// The key path and message of the error for `v`.
fn error(v: Value) -> (String, String) {
    let e = HttpEntry::from_json(&v, Path::new(".")).unwrap_err();
    (e.path_text(), e.message)
}

fn response(r: Value) -> HttpResponse {
    entry(json!({"http": "GET http://h/", "response": r}))
        .responses
        .remove(0)
}

fn response_error(r: Value) -> (String, String) {
    error(json!({"http": "GET http://h/", "response": r}))
}

#[test]
fn the_design_example() {
    let e = entry(json!({
        "http": "GET https://api.example.com/v1/users/1?expand=teams",
        "match": { "headers": { "Authorization": "Bearer t0k" } },
        "responses": [
            { "status": 500, "body": "try again" },
            { "status": 200, "headers": { "x-request-id": "42" }, "json": { "id": 1, "name": "Ada" } }
        ]
    }));
    assert_eq!(e.method.as_deref(), Some("GET"));
    assert!(e.url.tls);
    assert_eq!(e.destination(), &Destination::new("api.example.com", 443));
    assert_eq!(e.url.path, "/v1/users/1");
    assert_eq!(e.url.query, vec![("expand".into(), "teams".into())]);
    assert_eq!(
        e.conditions.headers,
        vec![(
            "authorization".into(),
            ValueMatcher::Exact("Bearer t0k".into())
        )]
    );
    assert_eq!(e.responses.len(), 2);
    assert_eq!(e.responses[0].status, 500);
    assert_eq!(e.responses[0].body, b"try again");
    assert!(e.responses[0].headers.is_empty());
    let ok = &e.responses[1];
    assert_eq!(ok.body, br#"{"id":1,"name":"Ada"}"#);
    assert_eq!(
        ok.headers,
        vec![
            ("x-request-id".into(), "42".into()),
            ("content-type".into(), "application/json".into())
        ]
    );
    assert_eq!(e.times, None);
    assert_eq!(
        e.text,
        "GET https://api.example.com/v1/users/1?expand=teams"
    );
}

#[test]
fn method_star_lower_case_and_ports() {
    let e = entry(json!({"http": "* http://h:8080/x", "response": {}, "times": 2}));
    assert_eq!(e.method, None);
    assert_eq!(e.destination().port, 8080);
    assert_eq!(e.times, Some(2));
    assert_eq!(e.responses[0].status, 200);
    assert_eq!(e.responses[0].transfer, Transfer::Length);
    let e = entry(json!({"http": "  post   http://h  ", "response": {}}));
    assert_eq!(e.method.as_deref(), Some("POST"));
    assert_eq!(e.destination().port, 80);
}

#[test]
fn bad_http_values() {
    let (key, msg) = error(json!({"http": "https://h/x", "response": {}}));
    assert_eq!(key, "http");
    assert!(msg.contains("METHOD URL"), "{msg}");
    let (key, msg) = error(json!({"http": "G/T http://h/", "response": {}}));
    assert_eq!(key, "http");
    assert!(msg.contains("not an HTTP method"), "{msg}");
    assert_eq!(error(json!({"http": "GET h/x", "response": {}})).0, "http");
    assert_eq!(error(json!({"http": 3, "response": {}})).0, "http");
    assert_eq!(
        error(json!({"http": "GET http://h/"})).1,
        "missing \"response\" (or \"responses\")"
    );
    let (key, msg) = error(json!({"http": "GET http://h/", "response": {}, "tiems": 1}));
    assert_eq!(key, "tiems");
    assert!(msg.contains("did you mean \"times\""));
    assert_eq!(
        error(json!({"http": "GET http://h/", "response": {}, "times": 0})).0,
        "times"
    );
}

#[test]
fn match_conditions() {
    let e = entry(json!({"http": "POST http://h/", "response": {}, "match": {
        "headers": {"X-A": "1"}, "body": "b", "json": {"a": 1}, "json_contains": [1],
        "path_regex": "^/v\\d+/", "body_regex": "b+"}}));
    let c = &e.conditions;
    assert_eq!(
        c.headers,
        vec![("x-a".into(), ValueMatcher::Exact("1".into()))]
    );
    assert_eq!(c.body.as_deref(), Some("b"));
    assert_eq!(c.json, Some(json!({"a": 1})));
    assert_eq!(c.json_contains, Some(json!([1])));
    assert!(c.path_regex.as_ref().unwrap().is_match("/v2/x"));
    assert!(c.body_regex.as_ref().unwrap().is_match("abbb"));
}

#[test]
fn bad_match_conditions() {
    let with = |m: Value| error(json!({"http": "GET http://h/", "response": {}, "match": m}));
    assert_eq!(with(json!([])).0, "match");
    let (key, msg) = with(json!({"header": {}}));
    assert_eq!(key, "match.header");
    assert!(msg.contains("did you mean \"headers\""));
    assert_eq!(with(json!({"headers": {"a": 1}})).0, "match.headers.a");
    assert_eq!(
        with(json!({"headers": {"a b": "1"}})).0,
        "match.headers.a b"
    );
    assert_eq!(with(json!({"body": {}})).0, "match.body");
    assert_eq!(
        with(json!({"headers": {"a": {"regex": "("}}})).0,
        "match.headers.a.regex"
    );
    assert_eq!(
        with(json!({"query": {"page": {"absent": 1}}})).0,
        "match.query.page.absent"
    );
    assert_eq!(with(json!({"query": []})).0, "match.query");
    let (key, msg) = with(json!({"path_regex": "("}));
    assert_eq!(key, "match.path_regex");
    assert!(msg.starts_with("invalid regular expression"), "{msg}");
    assert_eq!(with(json!({"body_regex": "[z-a]"})).0, "match.body_regex");
}

#[test]
fn response_bodies() {
    assert_eq!(response(json!({"base64": "AAH/"})).body, vec![0, 1, 255]);
    assert_eq!(response(json!({"json": [1, "a"]})).body, br#"[1,"a"]"#);
    assert_eq!(response(json!({"json": null})).body, b"null");
    let typed = response(json!({"json": {}, "headers": {"Content-Type": "application/vnd+json"}}));
    assert_eq!(
        typed.headers,
        vec![("Content-Type".into(), "application/vnd+json".into())]
    );
    let (key, msg) = response_error(json!({"body": "a", "json": 1}));
    assert_eq!(key, "response.json");
    assert!(msg.contains("at most one of"), "{msg}");
    assert_eq!(response_error(json!({"base64": "!!"})).0, "response.base64");
    assert_eq!(response_error(json!({"base64": 1})).0, "response.base64");
    assert_eq!(response_error(json!({"body": 1})).0, "response.body");
}

#[test]
fn file_bodies_are_read_at_load_time_relative_to_the_mocks_file() {
    let dir = std::env::temp_dir().join(format!("mocket-http-entry-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("fixtures")).unwrap();
    std::fs::write(dir.join("fixtures/u.json"), b"{\"id\": 1}").unwrap();
    let v = json!({"http": "GET http://h/", "responses": [{"file": "fixtures/u.json"}, {"file": "nope.bin"}]});
    let err = HttpEntry::from_json(&v, &dir).unwrap_err();
    assert_eq!(err.path_text(), "responses[1].file");
    assert!(err.message.contains("nope.bin"), "{}", err.message);
    let v = json!({"http": "GET http://h/", "response": {"file": "fixtures/u.json"}});
    let e = HttpEntry::from_json(&v, &dir).unwrap();
    assert_eq!(e.responses[0].body, b"{\"id\": 1}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn statuses() {
    assert_eq!(response(json!({"status": 299})).status, 299);
    assert_eq!(response(json!({"status": 999})).status, 999);
    for bad in [
        json!(100),
        json!(199),
        json!(1000),
        json!(0),
        json!("200"),
        json!(-1),
    ] {
        assert_eq!(response_error(json!({"status": bad})).0, "response.status");
    }
    assert!(
        response_error(json!({"status": 101}))
            .1
            .contains("informational")
    );
    let (key, msg) = response_error(json!({"status": 204, "body": "x"}));
    assert_eq!(key, "response.body");
    assert!(msg.contains("never has a body"), "{msg}");
    assert_eq!(
        response_error(json!({"status": 304, "chunked": true})).0,
        "response.chunked"
    );
    assert_eq!(response(json!({"status": 204})).status, 204);
}

#[test]
fn response_headers() {
    let r = response(json!({"headers": {"Set-Cookie": ["a=1", "b=2"], "x-n": 7}}));
    assert_eq!(
        r.headers,
        vec![
            ("Set-Cookie".into(), "a=1".into()),
            ("Set-Cookie".into(), "b=2".into()),
            ("x-n".into(), "7".into())
        ]
    );
    assert_eq!(r.header("set-cookie"), Some("a=1"));
    let (key, msg) = response_error(json!({"headers": {"Content-Length": "3"}}));
    assert_eq!(key, "response.headers.Content-Length");
    assert!(msg.contains("set by mocket"), "{msg}");
    assert_eq!(
        response_error(json!({"headers": {"transfer-encoding": "chunked"}})).0,
        "response.headers.transfer-encoding"
    );
    assert_eq!(
        response_error(json!({"headers": {"x": "a\r\nb"}})).0,
        "response.headers.x"
    );
    assert_eq!(
        response_error(json!({"headers": {"x": ["a", true]}})).0,
        "response.headers.x[1]"
    );
    assert_eq!(
        response_error(json!({"headers": {"bad:name": "1"}})).0,
        "response.headers.bad:name"
    );
    assert_eq!(response_error(json!({"headers": []})).0, "response.headers");
}

#[test]
fn delays_faults_and_transfers() {
    let r = response(json!({"delay_ms": 250, "fault": "reset"}));
    assert_eq!(r.delay, Duration::from_millis(250));
    assert_eq!(r.fault, Some(Fault::Reset));
    assert_eq!(
        response(json!({"fault": "close"})).fault,
        Some(Fault::Close)
    );
    assert_eq!(
        response(json!({"fault": "garbage"})).fault,
        Some(Fault::Garbage)
    );
    assert_eq!(
        response(json!({"fault": "truncate", "body": "abcd"})).fault,
        Some(Fault::Truncate)
    );
    let (key, msg) = response_error(json!({"fault": "rest"}));
    assert_eq!(key, "response.fault");
    assert!(msg.contains("did you mean \"reset\""), "{msg}");
    assert!(
        response_error(json!({"fault": "truncate"}))
            .1
            .contains("give the response a body")
    );
    assert_eq!(
        response_error(json!({"delay_ms": -5})).0,
        "response.delay_ms"
    );
    assert_eq!(
        response(json!({"chunked": true, "body": "x"})).transfer,
        Transfer::Chunked
    );
    assert_eq!(
        response(json!({"chunked": false})).transfer,
        Transfer::Length
    );
    let r = response(json!({"chunks": ["data: 1\n\n", {"base64": "AA=="}], "chunk_delay_ms": 5}));
    assert_eq!(
        r.transfer,
        Transfer::Stream {
            chunks: vec![b"data: 1\n\n".to_vec(), vec![0]],
            delay: Duration::from_millis(5),
            repeat: false,
        }
    );
    assert!(r.body.is_empty());
    assert_eq!(
        response_error(json!({"chunked": "yes"})).0,
        "response.chunked"
    );
    assert_eq!(
        response_error(json!({"chunks": ["a"], "chunked": false})).0,
        "response.chunked"
    );
    assert_eq!(response_error(json!({"chunks": "a"})).0, "response.chunks");
    assert_eq!(
        response_error(json!({"chunks": ["a", 1]})).0,
        "response.chunks[1]"
    );
    assert_eq!(
        response_error(json!({"chunk_delay_ms": 1, "body": "a"})).0,
        "response.chunk_delay_ms"
    );
    assert_eq!(
        response_error(json!({"chunks": ["a"], "body": "b"})).0,
        "response.chunks"
    );
    assert_eq!(
        response(json!({"chunks": ["a"], "fault": "truncate"})).fault,
        Some(Fault::Truncate)
    );
}

#[test]
fn reason_is_one_printable_line() {
    assert_eq!(
        response(json!({"status": 200, "reason": "All Good"}))
            .reason
            .as_deref(),
        Some("All Good")
    );
    assert_eq!(response(json!({})).reason, None);
    let (key, message) = response_error(json!({"reason": "bad\r\nx-injected: 1"}));
    assert_eq!(key, "response.reason");
    assert!(message.contains("printable ASCII on one line"), "{message}");
    assert_eq!(response_error(json!({"reason": 7})).0, "response.reason");
}

#[test]
fn repeat_needs_chunks_and_a_delay() {
    let r = response(json!({"chunks": ["a"], "chunk_delay_ms": 10, "repeat": true}));
    assert!(matches!(r.transfer, Transfer::Stream { repeat: true, .. }));
    let (key, msg) = response_error(json!({"chunks": ["a"], "repeat": true}));
    assert_eq!(key, "response.repeat");
    assert!(msg.contains("chunk_delay_ms"), "{msg}");
    assert_eq!(
        response_error(json!({"body": "a", "repeat": true})).0,
        "response.repeat"
    );
    assert_eq!(
        response_error(json!({"chunks": [""], "chunk_delay_ms": 1, "repeat": true})).0,
        "response.repeat"
    );
    assert_eq!(
        response_error(json!({"chunks": ["a"], "chunk_delay_ms": 1, "repeat": 1})).0,
        "response.repeat"
    );
}
