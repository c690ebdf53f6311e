//! HTTP (and HTTPS) entries: `http::post("https://api.stripe.com/v1/charges")...`, and the
//! responses they give: `http::status(201).json(...)`.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};

pub use crate::request::Request;
use crate::{EntrySpec, IntoEntry, Responder};

/// A response in the mocks file's response shape (DESIGN 3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Body>,
    delay_ms: Option<u64>,
    fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Text(String),
    Bytes(Vec<u8>),
    Json(Value),
}

/// How a response breaks the connection instead of (or while) answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// End the connection with a TCP reset.
    Reset,
    /// Close without answering.
    Close,
    /// Send bytes that are not HTTP.
    Garbage,
    /// Close halfway through the body.
    Truncate,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Close => "close",
            Fault::Garbage => "garbage",
            Fault::Truncate => "truncate",
        }
    }
}

/// A response with this status code.
pub fn status(code: u16) -> Response {
    Response {
        status: code,
        ..Response::default()
    }
}

impl Response {
    /// Adds a header (repeat it for several values).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body: text, or any bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(match String::from_utf8(body.into()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Bytes(e.into_bytes()),
        });
        self
    }

    /// A JSON body; sets `content-type: application/json` unless a header says otherwise.
    pub fn json(mut self, value: impl Into<Value>) -> Self {
        self.body = Some(Body::Json(value.into()));
        self
    }

    /// Waits this long before answering.
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }

    /// Breaks the connection (see [`Fault`]).
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// The mocks-file response object.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("status".into(), self.status.into());
        if !self.headers.is_empty() {
            let mut headers = Map::new();
            for (name, value) in &self.headers {
                match headers.get_mut(name) {
                    None => {
                        headers.insert(name.clone(), value.clone().into());
                    }
                    Some(Value::Array(values)) => values.push(value.clone().into()),
                    Some(first) => *first = json!([first.take(), value]),
                }
            }
            map.insert("headers".into(), headers.into());
        }
        match &self.body {
            None => {}
            Some(Body::Text(text)) => {
                map.insert("body".into(), text.clone().into());
            }
            Some(Body::Bytes(bytes)) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                map.insert("base64".into(), b64.into());
            }
            Some(Body::Json(value)) => {
                map.insert("json".into(), value.clone());
            }
        }
        if let Some(ms) = self.delay_ms {
            map.insert("delay_ms".into(), ms.into());
        }
        if let Some(fault) = self.fault {
            map.insert("fault".into(), fault.name().into());
        }
        Value::Object(map)
    }
}

/// An HTTP entry being built; register it with [`Mocket::mock`](crate::Mocket::mock).
#[derive(Clone)]
pub struct HttpEntry {
    method: &'static str,
    url: String,
    conditions: Map<String, Value>,
    headers: Map<String, Value>,
    responses: Vec<Response>,
    responder: Option<Responder>,
    times: Option<u64>,
}

impl std::fmt::Debug for HttpEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEntry")
            .field("entry", &self.to_json())
            .field("respond_with", &self.responder.is_some())
            .finish()
    }
}

fn entry(method: &'static str, url: impl Into<String>) -> HttpEntry {
    HttpEntry {
        method,
        url: url.into(),
        conditions: Map::new(),
        headers: Map::new(),
        responses: Vec::new(),
        responder: None,
        times: None,
    }
}

/// `GET url`.
pub fn get(url: impl Into<String>) -> HttpEntry {
    entry("GET", url)
}
/// `POST url`.
pub fn post(url: impl Into<String>) -> HttpEntry {
    entry("POST", url)
}
/// `PUT url`.
pub fn put(url: impl Into<String>) -> HttpEntry {
    entry("PUT", url)
}
/// `PATCH url`.
pub fn patch(url: impl Into<String>) -> HttpEntry {
    entry("PATCH", url)
}
/// `DELETE url`.
pub fn delete(url: impl Into<String>) -> HttpEntry {
    entry("DELETE", url)
}
/// `HEAD url`.
pub fn head(url: impl Into<String>) -> HttpEntry {
    entry("HEAD", url)
}
/// Any method at `url`.
pub fn any(url: impl Into<String>) -> HttpEntry {
    entry("*", url)
}

impl HttpEntry {
    /// The request must have this header (name case-insensitive, value exact).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into().into());
        self
    }

    /// The request's query must have `name=value` (others may be present too).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!(
            "{}{separator}{}={}",
            self.url,
            percent_encode(name),
            percent_encode(value)
        );
        self
    }

    /// The request body must be exactly this text.
    pub fn body(mut self, text: impl Into<String>) -> Self {
        self.conditions.insert("body".into(), text.into().into());
        self
    }

    /// The request body must be JSON equal to `value`.
    pub fn json(mut self, value: impl Into<Value>) -> Self {
        self.conditions.insert("json".into(), value.into());
        self
    }

    /// The request body must be JSON that contains `value`.
    pub fn json_contains(mut self, value: impl Into<Value>) -> Self {
        self.conditions.insert("json_contains".into(), value.into());
        self
    }

    /// The path must match this regular expression (instead of the URL's path).
    pub fn path_regex(mut self, regex: impl Into<String>) -> Self {
        self.conditions
            .insert("path_regex".into(), regex.into().into());
        self
    }

    /// Answers with `response`.
    pub fn respond(self, response: Response) -> Self {
        self.respond_seq([response])
    }

    /// Answers with these responses in turn; the last one repeats.
    pub fn respond_seq(mut self, responses: impl IntoIterator<Item = Response>) -> Self {
        self.responses = responses.into_iter().collect();
        self.responder = None;
        self
    }

    /// Computes each response in this process (on a thread of this crate, whatever thread or
    /// process sent the request). A panic inside answers 500 and fails the scope.
    pub fn respond_with<F>(mut self, closure: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.responder = Some(Arc::new(closure));
        self.responses.clear();
        self
    }

    /// Answers at most `n` requests; later ones go to the next matching entry.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// The mocks-file entry (without the closure of `respond_with`).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert(
            "http".into(),
            format!("{} {}", self.method, self.url).into(),
        );
        let mut conditions = self.conditions.clone();
        if !self.headers.is_empty() {
            conditions.insert("headers".into(), self.headers.clone().into());
        }
        if !conditions.is_empty() {
            map.insert("match".into(), conditions.into());
        }
        let answers = self.responses.iter().map(Response::to_json).collect();
        crate::insert_answers(&mut map, answers, self.times);
        Value::Object(map)
    }
}

impl IntoEntry for HttpEntry {
    fn into_entry(self) -> EntrySpec {
        EntrySpec {
            json: self.to_json(),
            responder: self.responder,
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_entry_is_a_mocks_file_entry() {
        let e = post("https://api.stripe.com/v1/charges")
            .query("currency", "eur")
            .query("note", "a b&c")
            .header("Authorization", "Bearer t")
            .json_contains(json!({"amount": 1200}))
            .path_regex("^/v1/charges$")
            .times(2)
            .respond(
                status(201)
                    .header("x-a", "1")
                    .header("x-a", "2")
                    .header("x-b", "3")
                    .json(json!({"id": "ch_1"}))
                    .delay_ms(5),
            );
        assert_eq!(
            e.to_json(),
            json!({
                "http": "POST https://api.stripe.com/v1/charges?currency=eur&note=a%20b%26c",
                "match": {"json_contains": {"amount": 1200}, "path_regex": "^/v1/charges$",
                          "headers": {"Authorization": "Bearer t"}},
                "response": {"status": 201, "headers": {"x-a": ["1", "2"], "x-b": "3"},
                             "json": {"id": "ch_1"}, "delay_ms": 5},
                "times": 2})
        );
        let spec = e.into_entry();
        assert!(spec.responder.is_none());
    }

    #[test]
    fn methods_and_body_conditions() {
        assert_eq!(get("http://a/").to_json(), json!({"http": "GET http://a/"}));
        assert_eq!(
            any("http://a/?x=1").query("y", "2").to_json()["http"],
            "* http://a/?x=1&y=2"
        );
        for (e, m) in [
            (put("u"), "PUT"),
            (patch("u"), "PATCH"),
            (delete("u"), "DELETE"),
            (head("u"), "HEAD"),
        ] {
            assert_eq!(e.to_json()["http"], format!("{m} u"));
        }
        assert_eq!(
            post("http://a/").body("x=1").json(json!([1])).to_json()["match"],
            json!({"body": "x=1", "json": [1]})
        );
    }

    #[test]
    fn sequences_bytes_and_faults() {
        let e = get("http://a/").respond_seq([
            status(500).body("try again"),
            status(200).body(vec![0u8, 255]),
            status(200).fault(Fault::Truncate).body("abcd"),
        ]);
        assert_eq!(
            e.to_json()["responses"],
            json!([{"status": 500, "body": "try again"},
                   {"status": 200, "base64": "AP8="},
                   {"status": 200, "body": "abcd", "fault": "truncate"}])
        );
        for (f, name) in [
            (Fault::Reset, "reset"),
            (Fault::Close, "close"),
            (Fault::Garbage, "garbage"),
        ] {
            assert_eq!(status(200).fault(f).to_json()["fault"], name);
        }
    }

    #[test]
    fn respond_with_registers_a_responder_without_response() {
        let e = get("http://a/")
            .respond(status(200))
            .respond_with(|r| status(200).body(r.path().to_string()));
        assert_eq!(e.to_json(), json!({"http": "GET http://a/"}));
        let spec = e.into_entry();
        let closure = spec.responder.expect("responder");
        assert_eq!(
            closure(&Request::default()).to_json(),
            json!({"status": 200, "body": ""})
        );
    }
}
