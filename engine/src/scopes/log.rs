//! The Request objects of the control protocol: what the engine saw, as a test reads it back.

use mocket_protocols::field::Destination;
use mocket_protocols::http::{self, Request};
use serde_json::{Value, json};

/// One request a scope saw, matched (`entry` set) or not.
pub struct Logged {
    pub entry: Option<usize>,
    /// Its place among the scope's requests, from 1.
    pub seq: u64,
    pub seen: Seen,
}

/// What a scope saw, as the engine had it. An HTTP request is kept parsed and becomes a
/// Request object only when a test reads it: building the JSON on every request made a scope
/// entry cost half again as much as a file entry (issue 12).
pub enum Seen {
    Http(Box<HttpSeen>),
    /// A Redis command or a TCP message, already a Request object.
    Object(Value),
}

/// An HTTP request on `dest` (TLS when `tls`), unmatched with the nearest-miss text `miss`
/// when it has one.
pub struct HttpSeen {
    pub pid: u32,
    pub dest: Destination,
    pub tls: bool,
    pub request: Request,
    pub miss: Option<String>,
}

impl Seen {
    pub fn http(
        pid: u32,
        dest: &Destination,
        tls: bool,
        request: Request,
        miss: Option<&str>,
    ) -> Seen {
        Seen::Http(Box::new(HttpSeen {
            pid,
            dest: dest.clone(),
            tls,
            request,
            miss: miss.map(str::to_string),
        }))
    }
}

impl Logged {
    /// Whether an entry answered it.
    pub fn matched(&self) -> bool {
        match &self.seen {
            Seen::Http(http) => http.miss.is_none(),
            Seen::Object(object) => object["matched"] != Value::Bool(false),
        }
    }

    /// Its Request object, as a test reads it back.
    pub fn object(&self) -> Value {
        let mut object = match &self.seen {
            Seen::Http(h) => request_object(
                h.pid,
                &h.dest,
                h.tls,
                &h.request,
                self.entry,
                h.miss.as_deref(),
            ),
            Seen::Object(object) => object.clone(),
        };
        object["seq"] = self.seq.into();
        object
    }
}

/// The Request object of an HTTP request on `dest` (TLS when `tls`), answered by `entry` or,
/// when `None`, unmatched with the nearest-miss text `miss`.
pub fn request_object(
    pid: u32,
    dest: &Destination,
    tls: bool,
    request: &Request,
    entry: Option<usize>,
    miss: Option<&str>,
) -> Value {
    let scheme = http::scheme(tls);
    let default_port = if tls { 443 } else { 80 };
    let host = match dest.host.contains(':') {
        true => format!("[{}]", dest.host),
        false => dest.host.clone(),
    };
    let authority = match dest.port == default_port {
        true => host,
        false => format!("{host}:{}", dest.port),
    };
    let headers: Vec<[&str; 2]> = request
        .headers
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    let mut object = json!({
        "seq": 0,
        "entry": entry,
        "protocol": "http",
        "pid": pid,
        "method": request.method,
        "url": format!("{scheme}://{authority}{}", request.path_and_query()),
        "path": request.path(),
        "query": request.query(),
        "headers": headers,
        "matched": miss.is_none(),
    });
    set_body(&mut object, &request.body, request.body_len);
    if let Some(miss) = miss {
        object["miss"] = json!(miss);
    }
    object
}

/// The Request object of one Redis command.
pub fn command_object(
    pid: u32,
    words: Vec<String>,
    entry: Option<usize>,
    miss: Option<&str>,
) -> Value {
    let mut object = json!({
        "seq": 0, "entry": entry, "protocol": "redis", "pid": pid, "command": words,
        "matched": miss.is_none(),
    });
    if let Some(miss) = miss {
        object["miss"] = json!(miss);
    }
    object
}

/// The Request object of one client message of a TCP connection.
pub fn tcp_object(pid: u32, bytes: &[u8], entry: Option<usize>, miss: Option<&str>) -> Value {
    let mut object = json!({
        "seq": 0, "entry": entry, "protocol": "tcp", "pid": pid, "matched": miss.is_none(),
    });
    set_body(&mut object, bytes, bytes.len() as u64);
    if let Some(miss) = miss {
        object["miss"] = json!(miss);
    }
    object
}

/// `body` when the bytes are UTF-8, else `body_base64`; `body_truncated` when only the start
/// of a `len`-byte body was held.
fn set_body(object: &mut Value, body: &[u8], len: u64) {
    use base64::Engine as _;
    match std::str::from_utf8(body) {
        Ok(text) => object["body"] = json!(text),
        Err(_) => {
            object["body_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(body))
        }
    }
    if (body.len() as u64) < len {
        object["body_truncated"] = json!(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::http::RequestParser;

    fn parse(bytes: &[u8]) -> Request {
        let mut parser = RequestParser::new();
        parser.feed(bytes);
        match parser.poll_with(&mut |_: &Request| http::BodyPolicy::whole(1 << 20)) {
            Ok(Some(http::Parsed::Request(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_http_request_as_a_test_reads_it() {
        let request = parse(
            b"POST /v1/charges?x=1 HTTP/1.1\r\nHost: api.stripe.com\r\nContent-Type: text/plain\r\n\
              Content-Length: 2\r\n\r\nhi",
        );
        let dest = Destination::new("api.stripe.com", 443);
        let object = request_object(7, &dest, true, &request, Some(12), None);
        assert_eq!(object["url"], "https://api.stripe.com/v1/charges?x=1");
        assert_eq!(object["path"], "/v1/charges");
        assert_eq!(object["query"], json!([["x", "1"]]));
        assert_eq!(object["headers"][1], json!(["content-type", "text/plain"]));
        assert_eq!(object["body"], "hi");
        assert_eq!(object["matched"], true);
        assert!(object.get("miss").is_none());
        let other_port = Destination::new("a.internal", 8080);
        let object = request_object(7, &other_port, false, &request, None, Some("why"));
        assert_eq!(object["url"], "http://a.internal:8080/v1/charges?x=1");
        assert_eq!(object["entry"], Value::Null);
        assert_eq!(object["miss"], "why");
    }

    #[test]
    fn bytes_that_are_not_text_are_base64() {
        let object = tcp_object(1, &[0xff, 0], Some(3), None);
        assert_eq!(object["body_base64"], "/wA=");
        assert!(object.get("body").is_none());
    }
}
