use std::path::Path;

use serde_json::json;

use super::*;
use crate::http::parser::{Parsed, RequestParser};

fn entry(v: Value) -> HttpEntry {
    HttpEntry::from_json(&v, Path::new(".")).unwrap()
}

fn error(v: Value) -> (String, String) {
    let e = HttpEntry::from_json(&v, Path::new(".")).unwrap_err();
    (e.path_text(), e.message)
}

fn request(wire: &str) -> Request {
    let mut p = RequestParser::new();
    p.feed(wire.as_bytes());
    match p.poll().unwrap() {
        Some(Parsed::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn rendered(e: &HttpEntry, wire: &str, seq: u64) -> Result<HttpResponse, TemplateError> {
    let req = request(wire);
    let dest = Destination::new("api.example.com", 80);
    let input = RenderInput {
        entry: e,
        request: &req,
        tls: false,
        dest: &dest,
        seq,
    };
    render(&e.responses[0], &input)
}

#[test]
fn every_variable() {
    let e = entry(json!({"http": "POST http://api.example.com/x",
        "match": {"path_regex": "^/users/(?P<id>[0-9]+)/(.*)$"},
        "response": {"template": true, "status": "{{ 200 + seq }}",
            "headers": {"x-seq": "{{ seq }}", "x-id": "{{ captures.id }}-{{ captures[2] }}"},
            "body": "{{ request.method }} {{ request.url }} {{ request.path }} {{ request.segments | join(',') }} q={{ request.query.q }} h={{ request.headers['x-a'] }} b={{ request.body }} j={{ request.json.n }}"}}));
    let r = rendered(
        &e,
        "POST /users/7/tail?q=1&q=2 HTTP/1.1\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 8\r\n\r\n{\"n\": 5}",
        3,
    )
    .unwrap();
    assert_eq!(r.status, 203);
    assert_eq!(r.header("x-seq"), Some("3"));
    assert_eq!(r.header("x-id"), Some("7-tail"));
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "POST http://api.example.com:80/users/7/tail?q=1&q=2 /users/7/tail users,7,tail q=1 h=1, 2 b={\"n\": 5} j=5"
    );
    assert!(r.template.is_none());
}

#[test]
fn json_strings_now_and_uuid() {
    let e = entry(
        json!({"http": "GET http://h/", "match": {"url_regex": "^http://([^:]+)"},
        "response": {"template": true, "json": {"host": "{{ captures[1] }}", "n": 1,
            "list": ["{{ now }}", "{{ uuid }}", null], "json": "{{ request.json }}"}}}),
    );
    let r = rendered(&e, "GET / HTTP/1.1\r\n\r\n", 1).unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["host"], "api.example.com");
    assert_eq!(v["n"], 1);
    assert_eq!(v["json"], "None");
    let now = v["list"][0].as_str().unwrap();
    assert!(
        Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            .unwrap()
            .is_match(now),
        "{now}"
    );
    let uuid = v["list"][1].as_str().unwrap();
    assert!(
        Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap()
            .is_match(uuid),
        "{uuid}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn render_errors_name_the_part() {
    let e = entry(
        json!({"http": "GET http://h/", "response": {"template": true, "body": "{{ request.nope.x }}"}}),
    );
    let err = rendered(&e, "GET / HTTP/1.1\r\n\r\n", 1).unwrap_err();
    assert_eq!(err.part, "body");
    assert!(
        err.to_string()
            .starts_with("template body failed to render: "),
        "{err}"
    );
    let e = entry(
        json!({"http": "GET http://h/", "response": {"template": true, "status": "{{ 'x' }}"}}),
    );
    assert!(
        rendered(&e, "GET / HTTP/1.1\r\n\r\n", 1)
            .unwrap_err()
            .message
            .contains("not a final HTTP status")
    );
    let e = entry(
        json!({"http": "GET http://h/", "response": {"template": true,
        "headers": {"x": "{{ request.headers.a }}"}}}),
    );
    assert!(rendered(&e, "GET / HTTP/1.1\r\na: 1\r\n\r\n", 1).is_ok());
    let e = entry(
        json!({"http": "GET http://h/", "response": {"template": true,
        "body": "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}"}}),
    );
    let err = rendered(&e, "GET / HTTP/1.1\r\n\r\n", 1).unwrap_err();
    assert!(err.message.contains("fuel"), "{err}");
}

#[test]
fn without_template_braces_are_text() {
    let e = entry(json!({"http": "GET http://h/", "response": {"body": "{{ x }"}}));
    assert_eq!(
        rendered(&e, "GET / HTTP/1.1\r\n\r\n", 1).unwrap().body,
        b"{{ x }"
    );
}

#[test]
fn templates_that_do_not_parse_are_errors_of_the_file() {
    let t = |r: Value| error(json!({"http": "GET http://h/", "response": r}));
    let (key, msg) = t(json!({"template": true, "body": "{{ x "}));
    assert_eq!(key, "response.body");
    assert!(msg.starts_with("template does not parse: "), "{msg}");
    assert_eq!(
        t(json!({"template": true, "json": {"a": ["ok", "{% if %}"]}})).0,
        "response.json.a[1]"
    );
    assert_eq!(
        t(json!({"template": true, "status": "{{"})).0,
        "response.status"
    );
    assert_eq!(
        t(json!({"template": true, "headers": {"x": "{{ }"}})).0,
        "response.headers.x"
    );
    assert_eq!(t(json!({"template": "yes"})).0, "response.template");
    assert!(
        t(json!({"template": true, "base64": "AA=="}))
            .1
            .contains("\"base64\" cannot be one")
    );
    // A string status without a template is still an error.
    assert_eq!(t(json!({"status": "200"})).0, "response.status");
}
