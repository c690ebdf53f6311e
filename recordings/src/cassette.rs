//! The cassette: one JSON file per namespace, written to be read and diffed by people.
//!
//! ```json
//! { "mocket_cassette": 1,
//!   "interactions": [
//!     { "http": { "method": "GET", "url": "http://127.0.0.1:8080/count?token=<redacted>",
//!                 "headers": { "accept": "*/*" }, "body": "" },
//!       "response": { "status": 200, "headers": { "content-type": "text/plain" },
//!                     "body": "hit 1" } },
//!     { "redis": "127.0.0.1:6379", "connection": "4242-1-0",
//!       "exchanges": [ { "command": ["GET", "k"], "reply": "$1\r\nv\r\n" } ] },
//!     { "tcp": "127.0.0.1:9000", "connection": "4242-1-1", "first": "server",
//!       "chunks": [ { "server": "220 ready\r\n" }, { "client": "HELO\r\n" } ] } ] }
//! ```
//!
//! Bytes (bodies, Redis arguments and replies, TCP chunks) are text when they are UTF-8, else
//! `{"base64": ...}`. Redis and TCP connections carry an id so that a connection saved while
//! it is still open can be replaced by its longer self at the next write.

use mocket_protocols::field::{self, Destination};
use mocket_protocols::http::body_json;
use serde_json::{Map, Value, json};

use crate::http::{HttpExchange, RecordedRequest, RecordedResponse, url_destination};
use crate::redis::{RedisConnection, RedisExchange};
use crate::tcp::{Chunk, Dir, TcpConnection};

/// The version written in `mocket_cassette`; a newer file is refused rather than misread.
pub const FORMAT: u64 = 1;

/// Header names (lower-case) and values, in the order they were sent.
pub type Headers = Vec<(String, String)>;

/// What kind of traffic a destination carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Redis,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Http(HttpExchange),
    Redis(RedisConnection),
    Tcp(TcpConnection),
}

impl Interaction {
    pub fn kind(&self) -> Kind {
        match self {
            Interaction::Http(_) => Kind::Http,
            Interaction::Redis(_) => Kind::Redis,
            Interaction::Tcp(_) => Kind::Tcp,
        }
    }

    pub fn destination(&self) -> Option<Destination> {
        match self {
            Interaction::Http(h) => url_destination(&h.request.url).map(|(_, d)| d),
            Interaction::Redis(r) => Some(r.destination.clone()),
            Interaction::Tcp(t) => Some(t.destination.clone()),
        }
    }

    /// Whether the client spoke TLS (terminated by mocket; the cassette holds plaintext).
    pub fn tls(&self) -> bool {
        match self {
            Interaction::Http(h) => url_destination(&h.request.url).is_some_and(|(tls, _)| tls),
            Interaction::Redis(r) => r.tls,
            Interaction::Tcp(t) => t.tls,
        }
    }

    /// The id of a connection (Redis, TCP); HTTP exchanges are complete when saved.
    pub fn id(&self) -> Option<&str> {
        match self {
            Interaction::Http(_) => None,
            Interaction::Redis(r) => Some(&r.id),
            Interaction::Tcp(t) => Some(&t.id),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Interaction::Http(h) => {
                let mut response = json!({
                    "status": h.response.status,
                    "headers": headers_json(&h.response.headers),
                    "body": body_json(&h.response.body),
                });
                if let Some(why) = &h.response.body_truncated {
                    response["body_truncated"] = json!(why);
                }
                json!({
                    "http": {
                        "method": h.request.method,
                        "url": h.request.url,
                        "headers": headers_json(&h.request.headers),
                        "body": body_json(&h.request.body),
                    },
                    "response": response,
                })
            }
            Interaction::Redis(r) => {
                let exchanges: Vec<Value> = r
                    .exchanges
                    .iter()
                    .map(|e| {
                        let command: Vec<Value> = e.command.iter().map(|a| body_json(a)).collect();
                        json!({"command": command, "reply": body_json(&e.reply)})
                    })
                    .collect();
                let mut v = json!({"redis": r.destination.to_string(), "connection": r.id});
                with_tls(&mut v, r.tls);
                v["exchanges"] = Value::Array(exchanges);
                v
            }
            Interaction::Tcp(t) => {
                let chunks: Vec<Value> = t
                    .chunks
                    .iter()
                    .map(|c| json!({c.from.name(): body_json(&c.bytes)}))
                    .collect();
                let mut v = json!({"tcp": t.destination.to_string(), "connection": t.id});
                with_tls(&mut v, t.tls);
                v["first"] = json!(t.first().map(Dir::name));
                v["chunks"] = Value::Array(chunks);
                if let Some(why) = &t.truncated {
                    v["truncated"] = json!(why);
                }
                v
            }
        }
    }

    pub fn from_json(v: &Value) -> Result<Interaction, crate::RecordingError> {
        Interaction::from_json_text(v).map_err(crate::RecordingError::Cassette)
    }

    fn from_json_text(v: &Value) -> Result<Interaction, String> {
        let map = v.as_object().ok_or("an interaction must be an object")?;
        if map.contains_key("http") {
            return http_from_json(map).map(Interaction::Http);
        }
        if let Some(dest) = map.get("redis") {
            return redis_from_json(dest, map).map(Interaction::Redis);
        }
        if let Some(dest) = map.get("tcp") {
            return tcp_from_json(dest, map).map(Interaction::Tcp);
        }
        Err("an interaction needs one of \"http\", \"redis\", \"tcp\"".into())
    }
}

fn with_tls(v: &mut Value, tls: bool) {
    if tls {
        v["tls"] = json!(true);
    }
}

/// Every interaction of one namespace, in the order they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cassette {
    pub interactions: Vec<Interaction>,
}

impl Cassette {
    /// Reads a cassette; errors say which interaction is broken.
    pub fn parse(text: &str) -> Result<Cassette, crate::RecordingError> {
        Cassette::parse_text(text).map_err(crate::RecordingError::Cassette)
    }

    fn parse_text(text: &str) -> Result<Cassette, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let version = doc.get("mocket_cassette").and_then(Value::as_u64);
        match version {
            Some(FORMAT) => {}
            Some(v) => {
                return Err(format!(
                    "cassette format {v} is newer than this mocket ({FORMAT})"
                ));
            }
            None => return Err("not a mocket cassette (no \"mocket_cassette\" version)".into()),
        }
        let items = match doc.get("interactions") {
            None => return Ok(Cassette::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("\"interactions\" must be an array".into()),
        };
        let interactions = items
            .iter()
            .enumerate()
            .map(|(i, v)| Interaction::from_json(v).map_err(|e| format!("interactions[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Cassette { interactions })
    }

    /// Pretty-printed, one key per line: a re-recorded cassette diffs line by line.
    pub fn to_text(&self) -> String {
        let items: Vec<Value> = self.interactions.iter().map(Interaction::to_json).collect();
        let doc = json!({"mocket_cassette": FORMAT, "interactions": items});
        let mut text = serde_json::to_string_pretty(&doc).expect("JSON values always serialize");
        text.push('\n');
        text
    }
}

/// Headers as an object with lower-case names; a repeated header becomes an array.
pub fn headers_json(headers: &Headers) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        match map.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            Some(first) => *first = json!([first.take(), value]),
            None => {
                map.insert(name.clone(), json!(value));
            }
        }
    }
    Value::Object(map)
}

fn headers_from_json(v: Option<&Value>) -> Result<Headers, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let map = v.as_object().ok_or("headers must be an object")?;
    let mut out = Vec::new();
    for (name, value) in map {
        let name = name.to_ascii_lowercase();
        match value {
            Value::String(s) => out.push((name, s.clone())),
            Value::Array(items) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or(format!("header {name}: values must be text"))?;
                    out.push((name.clone(), s.to_string()));
                }
            }
            _ => return Err(format!("header {name}: values must be text")),
        }
    }
    Ok(out)
}

fn bytes_of(v: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(v) => field::bytes(v, what).map_err(|e| format!("{what}: {}", e.message)),
    }
}

fn text_of<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    map.get(key)
        .and_then(Value::as_str)
        .ok_or(format!("\"{key}\" must be text"))
}

fn object_of<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, String> {
    map.get(key)
        .and_then(Value::as_object)
        .ok_or(format!("\"{key}\" must be an object"))
}

fn http_from_json(map: &Map<String, Value>) -> Result<HttpExchange, String> {
    let req = object_of(map, "http")?;
    let res = object_of(map, "response")?;
    let url = text_of(req, "url")?.to_string();
    url_destination(&url).ok_or(format!("bad url {url:?}"))?;
    let status = res
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("response.status must be a number")?;
    Ok(HttpExchange {
        request: RecordedRequest {
            method: text_of(req, "method")?.to_string(),
            url,
            headers: headers_from_json(req.get("headers"))?,
            body: bytes_of(req.get("body"), "body")?,
        },
        response: RecordedResponse {
            status,
            headers: headers_from_json(res.get("headers"))?,
            body: bytes_of(res.get("body"), "response.body")?,
            body_truncated: match res.get("body_truncated") {
                None => None,
                Some(Value::String(why)) => Some(why.clone()),
                Some(_) => return Err("response.body_truncated must be a string".into()),
            },
        },
    })
}

fn destination(v: &Value) -> Result<Destination, String> {
    let text = v.as_str().ok_or("the destination must be \"host:port\"")?;
    field::host_port(text, None).map_err(|e| e.message)
}

fn connection_id(map: &Map<String, Value>) -> String {
    map.get("connection")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn redis_from_json(dest: &Value, map: &Map<String, Value>) -> Result<RedisConnection, String> {
    let items = map.get("exchanges").and_then(Value::as_array);
    let mut exchanges = Vec::new();
    for (i, e) in items.into_iter().flatten().enumerate() {
        let words = e
            .get("command")
            .and_then(Value::as_array)
            .ok_or(format!("exchanges[{i}].command must be an array"))?;
        let command = words
            .iter()
            .map(|w| bytes_of(Some(w), "command"))
            .collect::<Result<Vec<_>, _>>()?;
        if command.is_empty() {
            return Err(format!("exchanges[{i}].command is empty"));
        }
        let reply = bytes_of(e.get("reply"), "reply")?;
        exchanges.push(RedisExchange { command, reply });
    }
    Ok(RedisConnection {
        id: connection_id(map),
        destination: destination(dest)?,
        tls: map.get("tls") == Some(&Value::Bool(true)),
        exchanges,
    })
}

fn tcp_from_json(dest: &Value, map: &Map<String, Value>) -> Result<TcpConnection, String> {
    let items = map.get("chunks").and_then(Value::as_array);
    let mut chunks = Vec::new();
    for (i, c) in items.into_iter().flatten().enumerate() {
        let (from, bytes) = match (c.get("client"), c.get("server")) {
            (Some(b), None) => (Dir::Client, b),
            (None, Some(b)) => (Dir::Server, b),
            _ => {
                return Err(format!(
                    "chunks[{i}] needs exactly one of \"client\", \"server\""
                ));
            }
        };
        chunks.push(Chunk {
            from,
            bytes: bytes_of(Some(bytes), "chunk")?,
        });
    }
    Ok(TcpConnection {
        id: connection_id(map),
        destination: destination(dest)?,
        tls: map.get("tls") == Some(&Value::Bool(true)),
        chunks,
        truncated: match map.get("truncated") {
            None => None,
            Some(Value::String(why)) => Some(why.clone()),
            Some(_) => return Err("\"truncated\" must be a string".into()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cassette {
        Cassette {
            interactions: vec![
                Interaction::Http(HttpExchange {
                    request: RecordedRequest {
                        method: "POST".into(),
                        url: "https://api.test/v1?a=1".into(),
                        headers: vec![
                            ("accept".into(), "*/*".into()),
                            ("x-a".into(), "1".into()),
                            ("x-a".into(), "2".into()),
                        ],
                        body: b"{\"x\":1}".to_vec(),
                    },
                    response: RecordedResponse {
                        status: 201,
                        headers: vec![("content-type".into(), "image/png".into())],
                        body: vec![0x89, b'P', 0xff],
                        body_truncated: None,
                    },
                }),
                Interaction::Redis(RedisConnection {
                    id: "1-2-3".into(),
                    destination: Destination::new("127.0.0.1", 6379),
                    tls: false,
                    exchanges: vec![RedisExchange {
                        command: vec![b"SET".to_vec(), b"k".to_vec(), vec![0xfe]],
                        reply: b"+OK\r\n".to_vec(),
                    }],
                }),
                Interaction::Tcp(TcpConnection {
                    truncated: Some("went on".into()),
                    id: "1-2-4".into(),
                    destination: Destination::new("::1", 9000),
                    tls: true,
                    chunks: vec![
                        Chunk {
                            from: Dir::Server,
                            bytes: b"220 hi\r\n".to_vec(),
                        },
                        Chunk {
                            from: Dir::Client,
                            bytes: b"QUIT\r\n".to_vec(),
                        },
                    ],
                }),
            ],
        }
    }

    #[test]
    fn round_trips_through_readable_json() {
        let cassette = sample();
        let text = cassette.to_text();
        assert_eq!(Cassette::parse(&text).unwrap(), cassette);
        assert!(
            text.contains("\"url\": \"https://api.test/v1?a=1\""),
            "{text}"
        );
        assert!(text.contains("\"x-a\": [\n"), "{text}");
        assert!(text.contains("\"base64\": \"iVD/\""), "{text}");
        assert!(text.contains("\"reply\": \"+OK\\r\\n\""), "{text}");
        assert!(text.contains("\"first\": \"server\""), "{text}");
        assert!(text.contains("\"tcp\": \"[::1]:9000\""), "{text}");
        assert!(text.lines().count() > 40, "one key per line: {text}");
        assert!(!text.contains("body_truncated"), "only when set: {text}");
        assert!(text.contains("\"truncated\": \"went on\""), "{text}");
    }

    #[test]
    fn truncated_bodies_are_marked_and_old_cassettes_still_load() {
        let mut cassette = sample();
        let Interaction::Http(h) = &mut cassette.interactions[0] else {
            panic!()
        };
        h.response.body_truncated = Some("over the limit".into());
        let text = cassette.to_text();
        assert!(
            text.contains("\"body_truncated\": \"over the limit\""),
            "{text}"
        );
        assert_eq!(Cassette::parse(&text).unwrap(), cassette);
        let bad = text.replace("\"over the limit\"", "true");
        assert!(
            Cassette::parse(&bad)
                .unwrap_err()
                .message()
                .contains("body_truncated")
        );
    }

    #[test]
    fn knows_destinations_and_tls() {
        let c = sample();
        let http = &c.interactions[0];
        assert_eq!(http.destination(), Some(Destination::new("api.test", 443)));
        assert!(http.tls());
        assert_eq!(http.kind(), Kind::Http);
        assert_eq!(c.interactions[1].id(), Some("1-2-3"));
        assert!(c.interactions[2].tls());
    }

    #[test]
    fn broken_cassettes_say_where() {
        assert!(
            Cassette::parse("{")
                .unwrap_err()
                .message()
                .starts_with("invalid JSON")
        );
        assert!(
            Cassette::parse("{}")
                .unwrap_err()
                .message()
                .contains("not a mocket cassette")
        );
        assert!(
            Cassette::parse(r#"{"mocket_cassette": 9}"#)
                .unwrap_err()
                .message()
                .contains("newer")
        );
        let err = Cassette::parse(
            r#"{"mocket_cassette": 1, "interactions": [{"tcp": "a:1"}, {"what": 1}]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, crate::RecordingError::Cassette(_)), "{err:?}");
        assert!(err.message().starts_with("interactions[1]: "), "{err}");
        let empty = Cassette::parse(r#"{"mocket_cassette": 1}"#).unwrap();
        assert!(empty.interactions.is_empty());
    }
}
