//! The control protocol's messages (version 1): one JSON object per line, parsed here into
//! typed requests, and its replies. See `/README.md` "Control protocol".

use serde_json::{Map, Value, json};

/// The protocol version this engine speaks.
pub const VERSION: u64 = 1;

/// The longest message: the engine answers a longer one with an error and closes the session.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The `error.kind` of a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client speaks another version of the protocol.
    Version,
    /// Malformed JSON, an unknown op, a missing or mistyped field.
    BadRequest,
    /// An entry (or a response) the mocks file's parser refuses.
    Invalid,
    NoScope,
    NoEntry,
    NoCall,
    /// The destination's lease is held by another scope for longer than the lease timeout.
    LeaseTimeout,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Version => "version",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Invalid => "invalid",
            ErrorKind::NoScope => "no_scope",
            ErrorKind::NoEntry => "no_entry",
            ErrorKind::NoCall => "no_call",
            ErrorKind::LeaseTimeout => "lease_timeout",
        }
    }
}

/// A failed request: its kind, the message a user reads, and for `invalid` the key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub kind: ErrorKind,
    pub message: String,
    pub key: Option<String>,
}

impl ProtocolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProtocolError {
            kind,
            message: message.into(),
            key: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        ProtocolError::new(ErrorKind::BadRequest, message)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// A client's request.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Hello {
        version: u64,
        client: String,
        pid: u32,
    },
    OpenScope {
        name: String,
        pid: u32,
    },
    Register {
        scope: u64,
        entry: Value,
        responder: bool,
    },
    Expect {
        scope: u64,
        entry: usize,
        min: Option<u64>,
        max: Option<u64>,
    },
    Hits {
        scope: u64,
        entry: usize,
    },
    Requests {
        scope: u64,
        entry: Option<usize>,
    },
    Verify {
        scope: u64,
    },
    CloseScope {
        scope: u64,
    },
    Respond {
        call: u64,
        answer: Result<Value, String>,
    },
}

/// One parsed line: its `id` (absent only when the line could not be read far enough) and
/// its request.
pub type Incoming = (Option<i64>, Result<Op, ProtocolError>);

/// Reads one message line.
pub fn parse(line: &[u8]) -> Incoming {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return (
                None,
                Err(ProtocolError::bad(format!("malformed JSON: {e}"))),
            );
        }
    };
    let Value::Object(map) = value else {
        return (None, Err(ProtocolError::bad("a message is a JSON object")));
    };
    let id = map.get("id").and_then(Value::as_i64);
    if id.is_none() {
        let err = ProtocolError::bad("a request needs \"id\": an integer the client picks");
        return (None, Err(err));
    }
    (id, op(map))
}

/// The request `map` holds.
fn op(map: Map<String, Value>) -> Result<Op, ProtocolError> {
    match text(&map, "op")? {
        "register" => return register(map),
        "respond" => return respond(map),
        _ => {}
    }
    let map = &map;
    let name = text(map, "op")?;
    let scope = || unsigned(map, "scope");
    let entry = || unsigned(map, "entry").map(|e| e as usize);
    Ok(match name {
        "hello" => Op::Hello {
            version: unsigned(map, "version")?,
            client: optional_text(map, "client")?
                .unwrap_or_default()
                .to_string(),
            pid: optional_unsigned(map, "pid")?.unwrap_or(0) as u32,
        },
        "open_scope" => Op::OpenScope {
            name: text(map, "name")?.to_string(),
            pid: optional_unsigned(map, "pid")?.unwrap_or(0) as u32,
        },
        "expect" => Op::Expect {
            scope: scope()?,
            entry: entry()?,
            min: optional_unsigned(map, "min")?,
            max: optional_unsigned(map, "max")?,
        },
        "hits" => Op::Hits {
            scope: scope()?,
            entry: entry()?,
        },
        "requests" => Op::Requests {
            scope: scope()?,
            entry: optional_unsigned(map, "entry")?.map(|e| e as usize),
        },
        "verify" => Op::Verify { scope: scope()? },
        "close_scope" => Op::CloseScope { scope: scope()? },
        other => {
            return Err(ProtocolError::bad(format!(
                "unknown op \"{other}\" (this engine speaks version {VERSION}: hello, \
                 open_scope, register, expect, hits, requests, verify, close_scope, respond)"
            )));
        }
    })
}

/// A `register`: its entry is moved out of the message, not copied.
fn register(mut map: Map<String, Value>) -> Result<Op, ProtocolError> {
    Ok(Op::Register {
        scope: unsigned(&map, "scope")?,
        responder: match map.get("responder") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ProtocolError::bad("\"responder\" must be true or false")),
        },
        entry: map
            .remove("entry")
            .ok_or_else(|| missing("entry", "a mocks-file entry object"))?,
    })
}

/// A `respond`: its response is moved out of the message, not copied.
fn respond(mut map: Map<String, Value>) -> Result<Op, ProtocolError> {
    Ok(Op::Respond {
        call: unsigned(&map, "call")?,
        answer: match (map.remove("response"), map.remove("error")) {
            (Some(response), None) => Ok(response),
            (None, Some(Value::String(error))) => Err(error),
            _ => {
                return Err(ProtocolError::bad(
                    "respond needs either \"response\" (a response object) or \"error\" \
                     (text)",
                ));
            }
        },
    })
}

fn missing(key: &str, what: &str) -> ProtocolError {
    ProtocolError::bad(format!("missing \"{key}\": {what}"))
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, ProtocolError> {
    optional_text(map, key)?.ok_or_else(|| missing(key, "a string"))
}

fn optional_text<'a>(
    map: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ProtocolError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ProtocolError::bad(format!("\"{key}\" must be a string"))),
    }
}

fn unsigned(map: &Map<String, Value>, key: &str) -> Result<u64, ProtocolError> {
    optional_unsigned(map, key)?.ok_or_else(|| missing(key, "a non-negative integer"))
}

fn optional_unsigned(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, ProtocolError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ProtocolError::bad(format!(
                "\"{key}\" must be a non-negative integer, found {v}"
            ))
        }),
    }
}

/// A successful reply: `fields` (an object) with `id` and `ok: true`.
pub fn ok_reply(id: Option<i64>, fields: Value) -> String {
    let mut reply = json!({"id": id, "ok": true});
    if let Value::Object(fields) = fields {
        for (k, v) in fields {
            reply[&k] = v;
        }
    }
    reply.to_string()
}

pub fn error_reply(id: Option<i64>, error: &ProtocolError) -> String {
    let mut body = json!({"kind": error.kind.name(), "message": error.message});
    if let Some(key) = &error.key {
        body["key"] = json!(key);
    }
    json!({"id": id, "ok": false, "error": body}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_op() {
        let (id, op) = parse(br#"{"id": 3, "op": "hello", "version": 1, "client": "t", "pid": 9}"#);
        assert_eq!(id, Some(3));
        assert_eq!(
            op.unwrap(),
            Op::Hello {
                version: 1,
                client: "t".into(),
                pid: 9
            }
        );
        let (_, op) =
            parse(br#"{"id": 4, "op": "expect", "scope": 1, "entry": 2, "min": 1, "max": null}"#);
        assert_eq!(
            op.unwrap(),
            Op::Expect {
                scope: 1,
                entry: 2,
                min: Some(1),
                max: None
            }
        );
        let (_, op) = parse(br#"{"id": 5, "op": "respond", "call": 1, "error": "boom"}"#);
        assert_eq!(
            op.unwrap(),
            Op::Respond {
                call: 1,
                answer: Err("boom".into())
            }
        );
        let (_, op) = parse(br#"{"id": 6, "op": "requests", "scope": 1}"#);
        assert_eq!(
            op.unwrap(),
            Op::Requests {
                scope: 1,
                entry: None
            }
        );
    }

    #[test]
    fn bad_messages_are_bad_requests_with_a_reason() {
        for (line, words) in [
            (&b"{nope"[..], "malformed JSON"),
            (b"[1]", "JSON object"),
            (br#"{"op": "hello"}"#, "\"id\""),
            (br#"{"id": 1, "op": "fly"}"#, "unknown op \"fly\""),
            (
                br#"{"id": 1, "op": "hits", "scope": 1}"#,
                "missing \"entry\"",
            ),
            (
                br#"{"id": 1, "op": "hits", "scope": -1, "entry": 1}"#,
                "non-negative",
            ),
            (br#"{"id": 1, "op": "respond", "call": 1}"#, "either"),
        ] {
            let (_, op) = parse(line);
            let err = op.unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest);
            assert!(err.message.contains(words), "{err}");
        }
    }

    #[test]
    fn replies_carry_the_id() {
        assert_eq!(
            ok_reply(Some(2), json!({"scope": 5})),
            r#"{"id":2,"ok":true,"scope":5}"#
        );
        let mut err = ProtocolError::new(ErrorKind::Invalid, "status: bad");
        err.key = Some("status".into());
        assert_eq!(
            error_reply(Some(2), &err),
            r#"{"id":2,"ok":false,"error":{"kind":"invalid","message":"status: bad","key":"status"}}"#
        );
    }
}
