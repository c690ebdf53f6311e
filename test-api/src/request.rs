//! A request as the engine saw it (README, "Control protocol": the Request object).

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::Value;

use crate::error::Error;

/// One request (HTTP), command (Redis) or message (TCP) the engine received for a scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    seq: u64,
    entry: Option<u64>,
    protocol: String,
    pid: Option<u64>,
    method: String,
    url: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    body_truncated: bool,
    command: Vec<String>,
    matched: bool,
    miss: Option<String>,
}

impl Request {
    /// The HTTP method (`GET`); empty for Redis and TCP.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The whole URL, `https://api.example.com/v1/users?id=1`; empty for Redis and TCP.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path, percent-decoded, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every query parameter, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header (names lower-case), in arrival order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body (for TCP, the bytes received), up to MOCKET_MAX_BODY.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether the body was longer than MOCKET_MAX_BODY and cut.
    pub fn body_truncated(&self) -> bool {
        self.body_truncated
    }

    /// The body as text (invalid UTF-8 replaced by U+FFFD).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T` (`serde_json::Value` for any JSON).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// A Redis command and its arguments (`["SET", "k", "v"]`); empty for HTTP and TCP.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// `http`, `redis` or `tcp`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The request's number in its scope, from 1.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The id of the entry that answered; `None` when nothing matched.
    pub fn entry(&self) -> Option<u64> {
        self.entry
    }

    /// The id of the process that sent it.
    pub fn pid(&self) -> Option<u64> {
        self.pid
    }

    /// Whether an entry of the scope answered it.
    pub fn matched(&self) -> bool {
        self.matched
    }

    /// For an unmatched request, why the nearest entries did not match.
    pub fn miss(&self) -> Option<&str> {
        self.miss.as_deref()
    }

    pub(crate) fn from_json(v: &Value) -> Result<Request, Error> {
        let Value::Object(map) = v else {
            return Err(Error::Protocol(format!(
                "the engine sent a request that is not an object: {v}"
            )));
        };
        let text = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let body = match (map.get("body"), map.get("body_base64")) {
            (Some(Value::String(text)), _) => text.clone().into_bytes(),
            (_, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| Error::Protocol(format!("the engine sent bad body_base64: {e}")))?,
            _ => Vec::new(),
        };
        Ok(Request {
            seq: map.get("seq").and_then(Value::as_u64).unwrap_or(0),
            entry: map.get("entry").and_then(Value::as_u64),
            protocol: text("protocol"),
            pid: map.get("pid").and_then(Value::as_u64),
            method: text("method"),
            url: text("url"),
            path: text("path"),
            query: pairs(map.get("query")),
            headers: pairs(map.get("headers")),
            body,
            body_truncated: map.get("body_truncated") == Some(&Value::Bool(true)),
            command: map
                .get("command")
                .and_then(Value::as_array)
                .map(|args| {
                    args.iter()
                        .map(|a| a.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            matched: map.get("matched") == Some(&Value::Bool(true)),
            miss: map.get("miss").and_then(Value::as_str).map(str::to_string),
        })
    }
}

/// `[["name", "value"], ...]`; anything else is skipped.
fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|pair| match pair.as_array()?.as_slice() {
            [Value::String(n), Value::String(v)] => Some((n.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_http_request_reads_back() {
        let r = Request::from_json(&json!({
            "seq": 1, "entry": 12, "protocol": "http", "pid": 4242, "method": "POST",
            "url": "https://api.stripe.com/v1/charges?x=1&x=2", "path": "/v1/charges",
            "query": [["x", "1"], ["x", "2"]],
            "headers": [["content-type", "application/json"], ["Idempotency-Key", "k1"]],
            "body": "{\"amount\": 1200}", "matched": true}))
        .unwrap();
        assert_eq!(r.method(), "POST");
        assert_eq!(r.url(), "https://api.stripe.com/v1/charges?x=1&x=2");
        assert_eq!(r.path(), "/v1/charges");
        assert_eq!(r.query("x"), Some("1"));
        assert_eq!(r.query("y"), None);
        assert_eq!(r.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(r.header("idempotency-key"), Some("k1"));
        assert_eq!(r.text(), "{\"amount\": 1200}");
        assert_eq!(r.json::<Value>().unwrap(), json!({"amount": 1200}));
        assert_eq!((r.seq(), r.entry(), r.pid()), (1, Some(12), Some(4242)));
        assert!(r.matched() && r.miss().is_none() && !r.body_truncated());
    }

    #[test]
    fn binary_bodies_come_as_base64() {
        let r = Request::from_json(&json!({"protocol": "tcp", "body_base64": "AP8=",
            "entry": null, "matched": false, "miss": "no entry", "body_truncated": true}))
        .unwrap();
        assert_eq!(r.body(), &[0, 255]);
        assert_eq!(r.text(), "\0\u{fffd}");
        assert!(r.json::<Value>().is_err());
        assert_eq!(r.entry(), None);
        assert_eq!(r.miss(), Some("no entry"));
        assert!(r.body_truncated());
        assert!(Request::from_json(&json!({"body_base64": "%%"})).is_err());
    }

    #[test]
    fn a_redis_command_reads_back() {
        let r = Request::from_json(&json!({"protocol": "redis", "command": ["SET", "k", "v"]}))
            .unwrap();
        assert_eq!(r.command(), ["SET", "k", "v"]);
        assert_eq!(r.method(), "");
        assert!(Request::from_json(&json!([1])).is_err());
    }
}
