//! HTTP in cassettes: exchanges as recorded, which recorded request answers a live one, and the
//! request forwarded upstream while recording (its response is read by
//! `mocket_protocols::http::ResponseReader`, with the same framing as the engine's requests).

use mocket_protocols::field::Destination;
use mocket_protocols::http::Request;
use mocket_protocols::http::url::{EntryUrl, parse_entry_url};

use crate::cassette::Headers;
use crate::redact::REDACTED;

/// The most of one response body a cassette keeps: a larger or endless response (a stream) is
/// still relayed whole to the client, but recorded only up to here, and the cassette says so
/// in `body_truncated`. 16 MiB is far above what a test replays, and small enough that
/// a cassette stays a file people read.
pub const RECORD_MAX_BODY: usize = 16 * 1024 * 1024;

/// A request as the cassette keeps it. `url` is absolute: scheme, host, port (when it is not
/// the scheme's default), path and query as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    /// Without framing headers: the body is stored whole and re-framed when it is sent.
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Set when `body` is only the start of what the server sent, saying why (the
    /// [`RECORD_MAX_BODY`] limit, or the connection ended before the response did). Replay
    /// sends the recorded part.
    pub body_truncated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExchange {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

impl RecordedRequest {
    /// The live request `request`, sent to `dest` over TLS or not, in cassette form.
    pub fn live(request: &Request, tls: bool, dest: &Destination) -> Self {
        RecordedRequest {
            method: request.method.clone(),
            url: request_url(tls, dest, &request.path_and_query()),
            headers: request.headers.clone(),
            body: request.body.clone(),
        }
    }
}

/// `http[s]://host[:port]/path?query`.
pub fn request_url(tls: bool, dest: &Destination, path_and_query: &str) -> String {
    let (scheme, default_port) = if tls { ("https", 443) } else { ("http", 80) };
    let host = match dest.host.contains(':') {
        true => format!("[{}]", dest.host),
        false => dest.host.clone(),
    };
    let port = match dest.port == default_port {
        true => String::new(),
        false => format!(":{}", dest.port),
    };
    let slash = if path_and_query.starts_with('/') {
        ""
    } else {
        "/"
    };
    format!("{scheme}://{host}{port}{slash}{path_and_query}")
}

/// Whether `url` is `https`, and where it points.
pub fn url_destination(url: &str) -> Option<(bool, Destination)> {
    parse_entry_url(url).ok().map(|u| (u.tls, u.destination))
}

/// Headers that describe how a message is framed on one connection, not what it says: they
/// are dropped when recording and recomputed when sending.
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
];

/// The headers of an upstream response as the cassette keeps them.
pub fn stored_headers(headers: &Headers) -> Headers {
    headers
        .iter()
        .filter(|(n, _)| !FRAMING.contains(&n.as_str()))
        .cloned()
        .collect()
}

/// The request as sent upstream: the client's own head, except that the body goes with a
/// `content-length` (it was read whole), `Expect` was already answered by mocket, and
/// `accept-encoding: identity` asks for an uncompressed body, so the cassette holds readable
/// text.
pub fn forward_request(request: &Request) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.{}\r\n",
        request.method, request.target, request.version
    );
    let mut framed = false;
    for (name, value) in &request.headers {
        match name.as_str() {
            "content-length" | "transfer-encoding" => framed = true,
            "expect" | "accept-encoding" | "te" => {}
            _ => head.push_str(&format!("{name}: {value}\r\n")),
        }
    }
    head.push_str("accept-encoding: identity\r\n");
    if framed || !request.body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&request.body);
    out
}

/// What replay compares between a recorded request and a live one
/// (`MOCKET_RECORD_MATCH`: a comma-separated list of `method`, `host` (scheme, host and port),
/// `path`, `query`, `url` (host, path and query), `body`, `header:NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    method: bool,
    host: bool,
    path: bool,
    query: bool,
    body: bool,
    headers: Vec<String>,
}

impl Default for Matcher {
    /// Method, URL (query order-free) and body.
    fn default() -> Self {
        Matcher {
            method: true,
            host: true,
            path: true,
            query: true,
            body: true,
            headers: Vec::new(),
        }
    }
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, crate::RecordingError> {
        Matcher::parse_text(text).map_err(crate::RecordingError::Setting)
    }

    fn parse_text(text: &str) -> Result<Matcher, String> {
        let words: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return Ok(Matcher::default());
        }
        let mut m = Matcher {
            method: false,
            host: false,
            path: false,
            query: false,
            body: false,
            headers: Vec::new(),
        };
        for word in words {
            match word.to_ascii_lowercase().as_str() {
                "method" => m.method = true,
                "host" => m.host = true,
                "path" => m.path = true,
                "query" => m.query = true,
                "url" => (m.host, m.path, m.query) = (true, true, true),
                "body" => m.body = true,
                w => match w.strip_prefix("header:").filter(|n| !n.is_empty()) {
                    Some(name) => m.headers.push(name.to_string()),
                    None => {
                        return Err(format!(
                            "unknown matcher \"{word}\": use method, host, path, query, url, body or header:NAME"
                        ));
                    }
                },
            }
        }
        Ok(m)
    }

    /// Whether `recorded` answers `live`. A redacted value in the recording matches anything.
    pub fn matches(&self, recorded: &RecordedRequest, live: &RecordedRequest) -> bool {
        let (Ok(r), Ok(l)) = (parse_entry_url(&recorded.url), parse_entry_url(&live.url)) else {
            return recorded.url == live.url;
        };
        (!self.method || recorded.method == live.method)
            && (!self.host || (r.tls == l.tls && r.destination == l.destination))
            && (!self.path || r.path == l.path)
            && (!self.query || same_query(&r, &l))
            && (!self.body || recorded.body == live.body)
            && self.headers.iter().all(|n| same_header(n, recorded, live))
    }
}

fn value_matches(recorded: &str, live: &str) -> bool {
    recorded == live || recorded == REDACTED
}

/// The same pairs in any order; each recorded pair answers one live pair.
fn same_query(recorded: &EntryUrl, live: &EntryUrl) -> bool {
    if recorded.query.len() != live.query.len() {
        return false;
    }
    let mut free: Vec<&(String, String)> = live.query.iter().collect();
    // Exact values first, so a redacted pair does not take the live pair an exact one needs.
    let (exact, wild): (Vec<_>, Vec<_>) = recorded.query.iter().partition(|(_, v)| v != REDACTED);
    for (name, value) in exact.into_iter().chain(wild) {
        let Some(i) = free
            .iter()
            .position(|(n, v)| n == name && value_matches(value, v))
        else {
            return false;
        };
        free.swap_remove(i);
    }
    true
}

fn same_header(name: &str, recorded: &RecordedRequest, live: &RecordedRequest) -> bool {
    let joined = |r: &RecordedRequest| {
        let values: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        values.join(", ")
    };
    value_matches(&joined(recorded), &joined(live))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, url: &str, body: &str) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![("x-tenant".into(), "a".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn urls_name_scheme_host_and_port() {
        let d = Destination::new("Api.Test", 443);
        assert_eq!(request_url(true, &d, "/a?b=1"), "https://api.test/a?b=1");
        assert_eq!(request_url(false, &d, "/a"), "http://api.test:443/a");
        let v6 = Destination::new("::1", 80);
        assert_eq!(request_url(false, &v6, "/"), "http://[::1]/");
        assert_eq!(url_destination("http://[::1]/"), Some((false, v6)));
        assert_eq!(request_url(false, &d, "*"), "http://api.test:443/*");
    }

    #[test]
    fn default_matching_is_method_url_with_free_query_order_and_body() {
        let m = Matcher::default();
        let rec = req("GET", "http://h:81/p?a=1&b=2", "");
        assert!(m.matches(&rec, &req("GET", "http://h:81/p?b=2&a=1", "")));
        assert!(!m.matches(&rec, &req("POST", "http://h:81/p?a=1&b=2", "")));
        assert!(!m.matches(&rec, &req("GET", "https://h:81/p?a=1&b=2", "")));
        assert!(!m.matches(&rec, &req("GET", "http://h:81/p?a=1", "")));
        assert!(!m.matches(&rec, &req("GET", "http://h:81/p?a=1&b=2&c=3", "")));
        assert!(!m.matches(&rec, &req("GET", "http://h:81/q?a=1&b=2", "")));
        assert!(!m.matches(&rec, &req("GET", "http://h:81/p?a=1&b=2", "x")));
    }

    #[test]
    fn redacted_values_match_anything() {
        let m = Matcher::default();
        let rec = req("GET", "http://h/p?token=<redacted>&token=b", "");
        assert!(m.matches(&rec, &req("GET", "http://h/p?token=b&token=zzz", "")));
        assert!(m.matches(&rec, &req("GET", "http://h/p?token=zzz&token=b", "")));
        assert!(!m.matches(&rec, &req("GET", "http://h/p?token=x&token=y", "")));
    }

    #[test]
    fn matchers_are_configurable() {
        let m = Matcher::parse("method, path, header:X-Tenant").unwrap();
        let rec = req("POST", "http://h/p?a=1", "one");
        assert!(m.matches(&rec, &req("POST", "http://other/p?a=2", "two")));
        let mut other_tenant = req("POST", "http://h/p?a=1", "one");
        other_tenant.headers[0].1 = "b".into();
        assert!(!m.matches(&rec, &other_tenant));
        assert_eq!(Matcher::parse("").unwrap(), Matcher::default());
        assert_eq!(
            Matcher::parse("method,url,body").unwrap(),
            Matcher::default()
        );
        assert!(
            Matcher::parse("method,colour")
                .unwrap_err()
                .message()
                .contains("\"colour\"")
        );
    }

    #[test]
    fn forwarded_requests_ask_for_identity_and_carry_a_length() {
        let request = Request {
            method: "POST".into(),
            target: "/up?x=1".into(),
            version: 1,
            headers: vec![
                ("host".into(), "h".into()),
                ("transfer-encoding".into(), "chunked".into()),
                ("expect".into(), "100-continue".into()),
                ("accept-encoding".into(), "gzip".into()),
            ],
            body: b"hello".to_vec(),
            body_len: 5,
        };
        let wire = String::from_utf8(forward_request(&request)).unwrap();
        assert_eq!(
            wire,
            "POST /up?x=1 HTTP/1.1\r\nhost: h\r\naccept-encoding: identity\r\ncontent-length: 5\r\n\r\nhello"
        );
        let headers = vec![
            ("content-type".into(), "a".into()),
            ("Transfer-Encoding".to_ascii_lowercase(), "chunked".into()),
            ("connection".into(), "close".into()),
        ];
        assert_eq!(
            stored_headers(&headers),
            vec![("content-type".into(), "a".into())]
        );
    }
}
