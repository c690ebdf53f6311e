//! `http` entries of a mocks file (DESIGN.md section 3): what a request must look like and what
//! it gets back.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use regex::Regex;
use serde_json::{Map, Value};

use super::template::ResponseTemplate;
use super::url::{self, EntryUrl};
use super::value_match::ValueMatcher;
use crate::field::{self, Destination, FieldError};

/// One `http` entry.
#[derive(Debug, Clone)]
pub struct HttpEntry {
    /// Upper-case; `None` for `*`, any method.
    pub method: Option<String>,
    pub url: EntryUrl,
    pub conditions: Conditions,
    pub responses: Vec<HttpResponse>,
    /// How many requests the entry answers; `None` is unlimited.
    pub times: Option<u64>,
    /// The `http` value as written, for reports: `GET https://api.example.com/v1/users/1`.
    pub text: String,
}

/// The `match` object: conditions on top of method and URL.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// Lower-case names, each with what its values must be.
    pub headers: Vec<(String, ValueMatcher)>,
    /// Query parameter names (as decoded), each with what its values must be; names not
    /// listed are not checked.
    pub query: Vec<(String, ValueMatcher)>,
    pub body: Option<String>,
    pub json: Option<Value>,
    pub json_contains: Option<Value>,
    /// Replaces the exact path check of the URL.
    pub path_regex: Option<Regex>,
    /// Over the whole URL (`scheme://host:port/path?query`, path and query as sent); like
    /// `path_regex`, it replaces the exact path check.
    pub url_regex: Option<Regex>,
    pub body_regex: Option<Regex>,
}

/// One response of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line's phrase (`reason`); `None`: the registered one for `status`.
    pub reason: Option<String>,
    /// As written, plus `content-type` for `json`; framing headers are added when sending.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    pub fault: Option<Fault>,
    pub transfer: Transfer,
    /// `"template": true`: what is rendered per request (see [`super::template::render`]).
    pub template: Option<Box<ResponseTemplate>>,
}

/// How the body goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`, the body in one go.
    Chunked,
    /// `Transfer-Encoding: chunked`, one chunk at a time with a pause between them, for
    /// server-sent events and other streaming clients.
    Stream {
        chunks: Vec<Vec<u8>>,
        delay: Duration,
        /// `"repeat": true`: the chunks again and again until the client closes.
        repeat: bool,
    },
}

/// A broken server, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is reset (RST) instead of answered.
    Reset,
    /// The connection is closed (FIN) without an answer.
    Close,
    /// Bytes that are not HTTP, then a close.
    Garbage,
    /// The head and half of the body, then a close.
    Truncate,
}

const FAULTS: &[&str] = &["reset", "close", "garbage", "truncate"];

impl Fault {
    const ALL: [Fault; 4] = [Fault::Reset, Fault::Close, Fault::Garbage, Fault::Truncate];

    /// The name used in mocks files and the journal.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Close => "close",
            Fault::Garbage => "garbage",
            Fault::Truncate => "truncate",
        }
    }
}
const ENTRY_KEYS: &[&str] = &["http", "match", "response", "responses", "times"];
const MATCH_KEYS: &[&str] = &[
    "headers",
    "query",
    "body",
    "json",
    "json_contains",
    "path_regex",
    "url_regex",
    "body_regex",
];
const RESPONSE_KEYS: &[&str] = &[
    "status",
    "reason",
    "headers",
    "body",
    "json",
    "base64",
    "file",
    "delay_ms",
    "fault",
    "chunked",
    "chunks",
    "chunk_delay_ms",
    "repeat",
    "template",
];
/// The keys that give a response its body; at most one of them.
const BODY_KEYS: &[&str] = &["body", "json", "base64", "file", "chunks"];

impl HttpEntry {
    /// Reads an entry whose kind key is `http`; `base_dir` anchors `file` paths (the mocks
    /// file's folder). Files are read now: a missing file is an error of the mocks file, not a
    /// surprise in the middle of a test.
    pub fn from_json(v: &Value, base_dir: &Path) -> Result<Self, FieldError> {
        let map = field::object(v, "an entry")?;
        field::reject_unknown_keys(map, ENTRY_KEYS)?;
        let text = field::string(&map["http"], "http").map_err(|e| e.in_key("http"))?;
        let (method, url) = method_and_url(text).map_err(|e| e.in_key("http"))?;
        let conditions = match map.get("match") {
            None => Conditions::default(),
            Some(m) => Conditions::from_json(m).map_err(|e| e.in_key("match"))?,
        };
        Ok(HttpEntry {
            method,
            url,
            conditions,
            responses: field::responses(map, |r| HttpResponse::from_json(r, base_dir))?,
            times: field::times(map)?,
            text: text.trim().to_string(),
        })
    }

    pub fn destination(&self) -> &Destination {
        &self.url.destination
    }

    /// Whether answering needs the request's whole body: to match on it, or for a template
    /// (which may show it).
    pub fn needs_body(&self) -> bool {
        self.conditions.matches_on_body() || self.responses.iter().any(|r| r.template.is_some())
    }
}

/// Splits `"METHOD URL"`.
fn method_and_url(text: &str) -> Result<(Option<String>, EntryUrl), FieldError> {
    let mut words = text.split_whitespace();
    let (Some(method), Some(url), None) = (words.next(), words.next(), words.next()) else {
        return Err(FieldError::new(format!(
            "\"{text}\" must be \"METHOD URL\", for example \"GET https://api.example.com/v1/users\""
        )));
    };
    let method = match method {
        "*" => None,
        m if m
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') =>
        {
            Some(m.to_ascii_uppercase())
        }
        m => {
            return Err(FieldError::new(format!(
                "\"{m}\" is not an HTTP method (use * for any method)"
            )));
        }
    };
    Ok((method, url::parse_entry_url(url)?))
}

impl Conditions {
    /// Whether matching needs the request's body (`body`, `body_regex`, `json`,
    /// `json_contains`): only then does the engine hold it.
    /// Whether a regex replaces the exact path check (`path_regex`, `url_regex`): such an
    /// entry may answer any path.
    pub fn matches_any_path(&self) -> bool {
        self.path_regex.is_some() || self.url_regex.is_some()
    }

    pub fn matches_on_body(&self) -> bool {
        self.body.is_some()
            || self.body_regex.is_some()
            || self.json.is_some()
            || self.json_contains.is_some()
    }

    fn from_json(v: &Value) -> Result<Self, FieldError> {
        let map = field::object(v, "match")?;
        field::reject_unknown_keys(map, MATCH_KEYS)?;
        let text = |key: &str| -> Result<Option<&str>, FieldError> {
            map.get(key)
                .map(|v| field::string(v, key).map_err(|e| e.in_key(key)))
                .transpose()
        };
        let regex = |key: &str| -> Result<Option<Regex>, FieldError> {
            text(key)?
                .map(|r| {
                    Regex::new(r).map_err(|e| {
                        FieldError::new(format!("invalid regular expression: {e}")).in_key(key)
                    })
                })
                .transpose()
        };
        let headers = match map.get("headers") {
            None => Vec::new(),
            Some(h) => header_matchers(h).map_err(|e| e.in_key("headers"))?,
        };
        let query = match map.get("query") {
            None => Vec::new(),
            Some(q) => query_matchers(q).map_err(|e| e.in_key("query"))?,
        };
        Ok(Conditions {
            headers,
            query,
            body: text("body")?.map(str::to_string),
            json: map.get("json").cloned(),
            json_contains: map.get("json_contains").cloned(),
            path_regex: regex("path_regex")?,
            url_regex: regex("url_regex")?,
            body_regex: regex("body_regex")?,
        })
    }
}

/// `match.headers`: names case-insensitive; an exact value is compared trimmed, as the
/// parser stores header values.
fn header_matchers(v: &Value) -> Result<Vec<(String, ValueMatcher)>, FieldError> {
    let map = field::object(v, "headers")?;
    map.iter()
        .map(|(name, value)| {
            check_header_name(name).map_err(|e| e.in_key(name))?;
            let matcher = match ValueMatcher::from_json(value, "a header value") {
                Ok(ValueMatcher::Exact(text)) => ValueMatcher::Exact(text.trim().to_string()),
                other => other.map_err(|e| e.in_key(name))?,
            };
            Ok((name.to_ascii_lowercase(), matcher))
        })
        .collect()
}

/// `match.query`: parameter names as sent (after percent-decoding), compared exactly.
fn query_matchers(v: &Value) -> Result<Vec<(String, ValueMatcher)>, FieldError> {
    let map = field::object(v, "query")?;
    map.iter()
        .map(|(name, value)| {
            let matcher =
                ValueMatcher::from_json(value, "a query value").map_err(|e| e.in_key(name))?;
            Ok((name.clone(), matcher))
        })
        .collect()
}

impl HttpResponse {
    /// Reads one response object of an `http` entry (also what a test's `respond_with`
    /// callback answers over the control protocol).
    pub fn from_json(v: &Value, base_dir: &Path) -> Result<Self, FieldError> {
        let map = field::object(v, "an http response")?;
        field::reject_unknown_keys(map, RESPONSE_KEYS)?;
        let bodies: Vec<&str> = BODY_KEYS
            .iter()
            .copied()
            .filter(|k| map.contains_key(*k))
            .collect();
        if let [_, second, ..] = bodies.as_slice() {
            return Err(FieldError::new(format!(
                "give at most one of {}; found {}",
                BODY_KEYS.join(", "),
                bodies.join(" and ")
            ))
            .in_key(second));
        }
        let template = ResponseTemplate::from_json(map)?;
        let status = match &template {
            // Rendered per request; 200 until then.
            Some(t) if t.status.is_some() => 200,
            _ => status(map)?,
        };
        let mut headers = match map.get("headers") {
            None => Vec::new(),
            Some(h) => response_headers(h).map_err(|e| e.in_key("headers"))?,
        };
        if map.contains_key("json") && !has_header(&headers, "content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let body = body(map, bodies.first().copied(), base_dir)?;
        let response = HttpResponse {
            status,
            reason: reason(map)?,
            headers,
            body,
            delay: millis(map, "delay_ms")?,
            fault: fault(map)?,
            transfer: transfer(map)?,
            template: template.map(Box::new),
        };
        response.check_body_allowed(bodies.first().copied())?;
        Ok(response)
    }

    /// Statuses that never carry a body (RFC 9110 section 6.4.1) must not be given one: the
    /// client would read it as the start of the next response. `body_key` names the key that
    /// gave the body.
    fn check_body_allowed(&self, body_key: Option<&str>) -> Result<(), FieldError> {
        let key = match (body_key, &self.transfer) {
            (Some(key), _) => Some(key),
            (None, Transfer::Length) => None,
            (None, _) => Some("chunked"),
        };
        if let (Some(key), 204 | 304) = (key, self.status) {
            return Err(FieldError::new(format!(
                "status {} never has a body; remove \"{key}\" or change the status",
                self.status
            ))
            .in_key(key));
        }
        if self.fault == Some(Fault::Truncate) && !self.has_body() {
            return Err(FieldError::new(
                "fault \"truncate\" cuts the body halfway: give the response a body",
            )
            .in_key("fault"));
        }
        Ok(())
    }

    fn has_body(&self) -> bool {
        match &self.transfer {
            Transfer::Stream { chunks, .. } => chunks.iter().any(|c| !c.is_empty()),
            _ => !self.body.is_empty(),
        }
    }

    /// The first value of header `name`, whatever the case it was written in.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn status(map: &Map<String, Value>) -> Result<u16, FieldError> {
    let Some(v) = map.get("status") else {
        return Ok(200);
    };
    let n = field::unsigned(v, "status").map_err(|e| e.in_key("status"))?;
    match n {
        200..=999 => Ok(n as u16),
        100..=199 => Err(FieldError::new(format!(
            "status {n} is informational; a mocked response needs a final status (200-999)"
        ))
        .in_key("status")),
        _ => Err(
            FieldError::new(format!("status {n} is not an HTTP status (200-999)")).in_key("status"),
        ),
    }
}

/// `reason`: the status line's phrase. Printable ASCII, tabs and spaces only (RFC 9112
/// section 4): anything else would break the status line.
fn reason(map: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    let Some(v) = map.get("reason") else {
        return Ok(None);
    };
    let text = field::string(v, "reason").map_err(|e| e.in_key("reason"))?;
    if !text
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(FieldError::new(format!(
            "reason {text:?} must be printable ASCII on one line (spaces and tabs allowed)"
        ))
        .in_key("reason"));
    }
    Ok(Some(text.to_string()))
}

/// Response headers: a value is a string, a number, or an array of them (one header line each,
/// for `set-cookie`).
fn response_headers(v: &Value) -> Result<Vec<(String, String)>, FieldError> {
    let map = field::object(v, "headers")?;
    let mut out = Vec::new();
    for (name, value) in map {
        check_header_name(name).map_err(|e| e.in_key(name))?;
        if ["content-length", "transfer-encoding"].contains(&name.to_ascii_lowercase().as_str()) {
            return Err(FieldError::new(format!(
                "{name} is set by mocket from the body (use \"chunked\": true for chunked transfer)"
            ))
            .in_key(name));
        }
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for (i, item) in values.iter().enumerate() {
            let text = header_value(item).map_err(|e| match value {
                Value::Array(_) => e.in_index(i).in_key(name),
                _ => e.in_key(name),
            })?;
            out.push((name.clone(), text));
        }
    }
    Ok(out)
}

fn header_value(v: &Value) -> Result<String, FieldError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(FieldError::new(format!(
                "a header value must be a string or a number, found {}",
                field::type_name(other)
            )));
        }
    };
    if text.contains(['\r', '\n']) {
        return Err(FieldError::new(
            "a header value cannot contain a line break",
        ));
    }
    Ok(text)
}

/// Header names are tokens (RFC 9110 section 5.1).
fn check_header_name(name: &str) -> Result<(), FieldError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(FieldError::new(format!(
            "\"{name}\" is not a valid header name"
        )));
    }
    Ok(())
}

fn body(
    map: &Map<String, Value>,
    key: Option<&str>,
    base_dir: &Path,
) -> Result<Vec<u8>, FieldError> {
    let Some(key) = key else {
        return Ok(Vec::new());
    };
    let v = &map[key];
    let read = || -> Result<Vec<u8>, FieldError> {
        match key {
            "body" => Ok(field::string(v, "body")?.as_bytes().to_vec()),
            "json" => Ok(v.to_string().into_bytes()),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(field::string(v, "base64")?.trim())
                .map_err(|e| FieldError::new(format!("invalid base64: {e}"))),
            "file" => read_file(field::string(v, "file")?, base_dir),
            _ => Ok(Vec::new()),
        }
    };
    read().map_err(|e| e.in_key(key))
}

fn read_file(name: &str, base_dir: &Path) -> Result<Vec<u8>, FieldError> {
    field::read_regular_file(&base_dir.join(name), field::MAX_BODY_FILE_BYTES)
        .map_err(FieldError::new)
}

fn millis(map: &Map<String, Value>, key: &str) -> Result<Duration, FieldError> {
    map.get(key).map_or(Ok(Duration::ZERO), |v| {
        field::unsigned(v, key)
            .map(Duration::from_millis)
            .map_err(|e| e.in_key(key))
    })
}

fn fault(map: &Map<String, Value>) -> Result<Option<Fault>, FieldError> {
    let Some(v) = map.get("fault") else {
        return Ok(None);
    };
    let name = field::string(v, "fault").map_err(|e| e.in_key("fault"))?;
    if let Some(fault) = Fault::ALL.into_iter().find(|f| f.name() == name) {
        return Ok(Some(fault));
    }
    let hint = field::closest(name, FAULTS)
        .map(|k| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default();
    Err(FieldError::new(format!(
        "unknown fault \"{name}\"{hint}; faults: {}",
        FAULTS.join(", ")
    ))
    .in_key("fault"))
}

fn transfer(map: &Map<String, Value>) -> Result<Transfer, FieldError> {
    let chunked = match map.get("chunked") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(FieldError::new(format!(
                "chunked must be true or false, found {}",
                field::type_name(other)
            ))
            .in_key("chunked"));
        }
    };
    if map.contains_key("chunk_delay_ms") && !map.contains_key("chunks") {
        return Err(FieldError::new(
            "chunk_delay_ms applies to \"chunks\"; this response has none",
        )
        .in_key("chunk_delay_ms"));
    }
    let Some(v) = map.get("chunks") else {
        if map.contains_key("repeat") {
            return Err(
                FieldError::new("repeat applies to \"chunks\"; this response has none")
                    .in_key("repeat"),
            );
        }
        return Ok(match chunked {
            Some(true) => Transfer::Chunked,
            _ => Transfer::Length,
        });
    };
    if chunked == Some(false) {
        return Err(FieldError::new(
            "\"chunks\" are sent with chunked transfer; remove \"chunked\": false",
        )
        .in_key("chunked"));
    }
    let Value::Array(items) = v else {
        return Err(FieldError::new(format!(
            "chunks must be an array of texts or {{\"base64\": ...}}, found {}",
            field::type_name(v)
        ))
        .in_key("chunks"));
    };
    let chunks = items
        .iter()
        .enumerate()
        .map(|(i, c)| field::bytes(c, "a chunk").map_err(|e| e.in_index(i).in_key("chunks")))
        .collect::<Result<Vec<_>, _>>()?;
    let delay = millis(map, "chunk_delay_ms")?;
    Ok(Transfer::Stream {
        repeat: repeat(map, &chunks, delay)?,
        chunks,
        delay,
    })
}

/// `repeat`: a stream that runs until the client closes needs something to send and a pause
/// between chunks, or it would flood the client.
fn repeat(
    map: &Map<String, Value>,
    chunks: &[Vec<u8>],
    delay: Duration,
) -> Result<bool, FieldError> {
    match map.get("repeat") {
        None | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) if chunks.iter().all(|c| c.is_empty()) => Err(FieldError::new(
            "\"repeat\": true needs at least one chunk that is not empty",
        )
        .in_key("repeat")),
        Some(Value::Bool(true)) if delay.is_zero() => Err(FieldError::new(
            "\"repeat\": true needs \"chunk_delay_ms\" of 1 or more, or the stream would flood the client",
        )
        .in_key("repeat")),
        Some(Value::Bool(true)) => Ok(true),
        Some(other) => Err(FieldError::new(format!(
            "repeat must be true or false, found {}",
            field::type_name(other)
        ))
        .in_key("repeat")),
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
