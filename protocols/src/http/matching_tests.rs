use std::path::Path;

use serde_json::json;

use super::*;
use crate::field::Destination;
use crate::http::parser::{Parsed, RequestParser};

fn entry(v: Value) -> HttpEntry {
    let mut v = v;
    v["response"] = json!({});
    HttpEntry::from_json(&v, Path::new(".")).unwrap()
}

fn request(wire: &str) -> Request {
    let mut p = RequestParser::new();
    p.feed(wire.as_bytes());
    match p.poll().unwrap() {
        Some(Parsed::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn post(path: &str, body: &str) -> Request {
    request(&format!(
        "POST {path} HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))
}

#[test]
fn method_scheme_and_path() {
    let e = entry(json!({"http": "GET http://h/v1/users/1"}));
    let get = request("GET /v1/users/1 HTTP/1.1\r\n\r\n");
    assert!(mismatches(&e, &get, false).is_empty());
    assert_eq!(
        mismatches(&e, &get, true),
        ["scheme differs: https vs http"]
    );
    assert_eq!(
        mismatches(&e, &post("/v1/users/2", ""), false),
        [
            "method differs: POST vs GET",
            "path differs: /v1/users/2 vs /v1/users/1"
        ]
    );
    let any = entry(json!({"http": "* http://h/v1/users/1"}));
    assert!(mismatches(&any, &post("/v1/users/1", "x"), false).is_empty());
    // Percent-encoding on either side does not matter; a trailing slash does.
    assert!(mismatches(&e, &request("GET /v1/users/%31 HTTP/1.1\r\n\r\n"), false).is_empty());
    assert_eq!(
        mismatches(&e, &request("GET /v1/users/1/ HTTP/1.1\r\n\r\n"), false).len(),
        1
    );
    let root = entry(json!({"http": "GET http://h"}));
    assert!(mismatches(&root, &request("GET / HTTP/1.1\r\n\r\n"), false).is_empty());
    assert!(mismatches(&root, &request("GET http://h HTTP/1.1\r\n\r\n"), false).is_empty());
}

#[test]
fn query_is_an_order_free_subset() {
    let e = entry(json!({"http": "GET http://h/s?id=1&q=a%20b"}));
    let ok = request("GET /s?x=9&q=a+b&id=1 HTTP/1.1\r\n\r\n");
    assert!(mismatches(&e, &ok, false).is_empty());
    assert_eq!(
        mismatches(&e, &request("GET /s?id=2&q=a%20b HTTP/1.1\r\n\r\n"), false),
        ["query id=2 vs id=1"]
    );
    assert_eq!(
        mismatches(&e, &request("GET /s?id=2&id=3 HTTP/1.1\r\n\r\n"), false),
        [
            "query id=2&id=3 vs id=1",
            "query q missing (entry wants q=a b)"
        ]
    );
    let repeated = entry(json!({"http": "GET http://h/s?t=1&t=2"}));
    assert!(
        mismatches(
            &repeated,
            &request("GET /s?t=2&t=1 HTTP/1.1\r\n\r\n"),
            false
        )
        .is_empty()
    );
    assert_eq!(
        mismatches(&repeated, &request("GET /s?t=2 HTTP/1.1\r\n\r\n"), false),
        ["query t=2 vs t=1"]
    );
}

#[test]
fn headers_case_insensitive_names_exact_values() {
    let e = entry(
        json!({"http": "GET http://h/", "match": {"headers": {"Authorization": "Bearer t0k", "accept": "a, b"}}}),
    );
    let ok =
        request("GET / HTTP/1.1\r\nAUTHORIZATION: Bearer t0k\r\nAccept: a\r\naccept: b\r\n\r\n");
    assert!(mismatches(&e, &ok, false).is_empty());
    assert_eq!(
        mismatches(
            &e,
            &request("GET / HTTP/1.1\r\nauthorization: Bearer x\r\n\r\n"),
            false
        ),
        [
            "header authorization \"Bearer x\" vs \"Bearer t0k\"",
            "header accept missing"
        ]
    );
    let one_of = entry(json!({"http": "GET http://h/", "match": {"headers": {"x": "2"}}}));
    assert!(
        mismatches(
            &one_of,
            &request("GET / HTTP/1.1\r\nx: 1\r\nx: 2\r\n\r\n"),
            false
        )
        .is_empty()
    );
}

#[test]
fn body_text_and_regexes() {
    let e = entry(json!({"http": "POST http://h/", "match": {"body": "a=1"}}));
    assert!(mismatches(&e, &post("/", "a=1"), false).is_empty());
    assert_eq!(
        mismatches(&e, &post("/", "a=2"), false),
        ["body differs: \"a=2\" vs \"a=1\""]
    );
    let re = entry(
        json!({"http": "POST http://h/", "match": {"body_regex": "^a=\\d$", "path_regex": "^/v\\d/"}}),
    );
    assert!(mismatches(&re, &post("/v2/x", "a=7"), false).is_empty());
    assert_eq!(
        mismatches(&re, &post("/x", "a=b"), false),
        [
            "path /x does not match path_regex ^/v\\d/",
            "body \"a=b\" does not match body_regex ^a=\\d$"
        ]
    );
    // path_regex replaces the path of the URL, the query still applies.
    let q = entry(json!({"http": "GET http://h/ignored?k=1", "match": {"path_regex": "^/users/"}}));
    assert!(mismatches(&q, &request("GET /users/5?k=1 HTTP/1.1\r\n\r\n"), false).is_empty());
    assert_eq!(
        mismatches(&q, &request("GET /users/5 HTTP/1.1\r\n\r\n"), false).len(),
        1
    );
}

#[test]
fn json_and_json_contains() {
    let e = entry(json!({"http": "POST http://h/", "match": {"json": {"item": "book", "n": 1}}}));
    assert!(mismatches(&e, &post("/", r#"{"n": 1.0, "item": "book"}"#), false).is_empty());
    assert_eq!(
        mismatches(&e, &post("/", r#"{"item": "pen", "n": 1}"#), false),
        ["json differs at item: \"pen\" vs \"book\""]
    );
    assert_eq!(
        mismatches(&e, &post("/", r#"{"item": "book", "n": 1, "x": 2}"#), false),
        ["json differs: unexpected key \"x\""]
    );
    assert_eq!(
        mismatches(&e, &post("/", "item=book"), false),
        ["body is not JSON: \"item=book\""]
    );
    let c = entry(
        json!({"http": "POST http://h/", "match": {"json_contains": {"order": {"items": [{"id": 2}]}}}}),
    );
    let ok =
        r#"{"user": 1, "order": {"items": [{"id": 1, "q": 1}, {"id": 2, "q": 5}], "x": true}}"#;
    assert!(mismatches(&c, &post("/", ok), false).is_empty());
    assert_eq!(
        mismatches(
            &c,
            &post("/", r#"{"order": {"items": [{"id": 1}]}}"#),
            false
        ),
        ["json does not contain the entry's at order.items: no item contains {\"id\":2}"]
    );
    assert_eq!(
        mismatches(&c, &post("/", r#"{"order": 3}"#), false),
        ["json does not contain the entry's at order: 3 vs {\"items\":[{\"id\":2}]}"]
    );
}

#[test]
fn json_diff_paths() {
    assert_eq!(json_diff(&json!(1), &json!(2), false).unwrap(), ": 1 vs 2");
    assert_eq!(
        json_diff(
            &json!({"a": [1, {"b": 2}]}),
            &json!({"a": [1, {"b": 3}]}),
            false
        )
        .unwrap(),
        " at a[1].b: 2 vs 3"
    );
    assert_eq!(
        json_diff(&json!([1]), &json!([1, 2]), false).unwrap(),
        ": 1 items vs 2"
    );
    assert_eq!(
        json_diff(&json!({}), &json!({"k": null}), true).unwrap(),
        " at k: missing"
    );
    assert!(json_diff(&json!([3, 2, 1]), &json!([1, 3]), true).is_none());
    assert!(json_diff(&json!("a"), &json!("a"), true).is_none());
    let long = "x".repeat(200);
    let diff = json_diff(&json!(long), &json!(1), false).unwrap();
    assert!(diff.len() < 100 && diff.contains("..."), "{diff}");
}

#[test]
fn closest_misses_and_the_501_body() {
    let miss = |index: usize, entry: &str, reasons: &[&str], shared_path: usize| Miss {
        index,
        entry: entry.into(),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        shared_path,
    };
    let misses = vec![
        miss(0, "GET http://h/a", &["x", "y"], 0),
        miss(1, "GET http://h/b", &["z"], 1),
        miss(2, "POST http://h/c", &["a", "b", "c"], 0),
        miss(3, "PUT http://h/d", &["w"], 1),
        miss(4, "PUT http://h/q/r", &["w"], 2),
    ];
    let near = closest(misses);
    assert_eq!(near.iter().map(|m| m.index).collect::<Vec<_>>(), [4, 1, 3]);
    let req = request("GET /q?id=2 HTTP/1.1\r\n\r\n");
    assert_eq!(
        unmatched_body(&req, "http://h:80", &near[1..2]),
        "mocket: no entry matched GET /q?id=2 on http://h:80\nclosest entries (request vs entry):\n  #1 GET http://h/b\n    - z\n"
    );
    assert!(unmatched_body(&req, "http://h:80", &[]).contains("no http entry"));
    assert_eq!(
        unmatched_summary(&req, &near[1..]),
        "GET /q?id=2: no entry matched (closest: #1 GET http://h/b: z)"
    );
    assert_eq!(
        unmatched_summary(&req, &[]),
        "GET /q?id=2: no entry matched"
    );
}

#[test]
fn misses_know_how_near_their_path_is() {
    let e = entry(json!({"http": "GET http://h/v1/users/1"}));
    let m = Miss::new(
        7,
        &e,
        &request("GET /v1/users/2 HTTP/1.1\r\n\r\n"),
        vec!["r".into()],
    );
    assert_eq!(
        (m.index, m.entry.as_str(), m.shared_path),
        (7, "GET http://h/v1/users/1", 10)
    );
}

#[test]
fn bodies_not_held_whole_match_no_body_condition() {
    let e = entry(json!({"http": "POST http://h/up", "match": {"body": "abc"}}));
    let mut cut = post("/up", "abc");
    assert!(mismatches(&e, &cut, false).is_empty());
    cut.body_len = 10;
    assert_eq!(
        mismatches(&e, &cut, false),
        ["body not compared: only its first 3 of 10 bytes were kept"]
    );
    let any_body = entry(json!({"http": "POST http://h/up"}));
    assert!(mismatches(&any_body, &cut, false).is_empty());
}

#[test]
fn header_regex_and_absence() {
    let e = entry(json!({"http": "GET http://h/", "match": {"headers": {
        "authorization": {"regex": "^Bearer [a-z0-9]+$"}, "x-debug": {"absent": true}}}}));
    let ok = request("GET / HTTP/1.1\r\nAuthorization: Bearer t0k\r\n\r\n");
    assert!(mismatches(&e, &ok, false).is_empty());
    assert_eq!(
        mismatches(&e, &request("GET / HTTP/1.1\r\nx-debug: 1\r\n\r\n"), false),
        [
            "header authorization missing (entry wants regex ^Bearer [a-z0-9]+$)",
            "header x-debug \"1\" vs absent"
        ]
    );
    assert_eq!(
        mismatches(
            &e,
            &request("GET / HTTP/1.1\r\nauthorization: Basic eA==\r\n\r\n"),
            false
        ),
        ["header authorization \"Basic eA==\" vs regex ^Bearer [a-z0-9]+$"]
    );
}

#[test]
fn query_matchers_check_only_the_names_they_list() {
    let e = entry(json!({"http": "GET http://h/s", "match": {"query": {
        "page": {"regex": "^[12]$"}, "debug": {"absent": true}, "q": "café"}}}));
    assert!(
        mismatches(
            &e,
            &request("GET /s?q=caf%C3%A9&page=2&x=9 HTTP/1.1\r\n\r\n"),
            false
        )
        .is_empty()
    );
    assert_eq!(
        mismatches(
            &e,
            &request("GET /s?page=3&debug=1 HTTP/1.1\r\n\r\n"),
            false
        ),
        [
            "query page \"3\" vs regex ^[12]$",
            "query debug \"1\" vs absent",
            "query q missing"
        ]
    );
}

#[test]
fn url_regex_sees_scheme_host_port_path_and_query() {
    let e = entry(json!({"http": "GET http://h/ignored", "match": {
        "url_regex": "^http://h:80/v[0-9]+/users/(?P<id>[0-9]+)\\?full=1$"}}));
    assert!(
        mismatches(
            &e,
            &request("GET /v2/users/7?full=1 HTTP/1.1\r\n\r\n"),
            false
        )
        .is_empty()
    );
    assert_eq!(
        mismatches(
            &e,
            &request("GET /v2/users/x?full=1 HTTP/1.1\r\n\r\n"),
            false
        ),
        [
            "url \"http://h:80/v2/users/x?full=1\" does not match url_regex ^http://h:80/v[0-9]+/users/(?P<id>[0-9]+)\\?full=1$"
        ]
    );
    let other = Destination::new("a.h", 8080);
    let e =
        entry(json!({"http": "GET https://h/", "match": {"url_regex": "^https://a\\.h:8080/"}}));
    assert!(mismatches_on(&e, &request("GET /x HTTP/1.1\r\n\r\n"), true, &other).is_empty());
    assert_eq!(
        mismatches_on(&e, &request("GET /x HTTP/1.1\r\n\r\n"), false, &other).len(),
        2
    );
}
