//! Control protocol v1 (README, "Control protocol"), without any I/O: the requests this crate
//! sends and the messages the engine sends back, one JSON object per line.

use serde_json::{Map, Value, json};

use crate::error::{ControlError, Error};
use crate::http::Request;

/// The protocol version this crate speaks.
pub const VERSION: u64 = 1;

/// The longest message either side may send (the engine refuses longer ones).
pub const MAX_MESSAGE: usize = 64 << 20;

/// A request without its id: the `op` and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Op(Map<String, Value>);

impl Op {
    fn new(op: &str, fields: Value) -> Op {
        let mut map = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.insert("op".into(), op.into());
        Op(map)
    }

    pub fn name(&self) -> &str {
        self.0.get("op").and_then(Value::as_str).unwrap_or("")
    }

    pub fn hello(pid: u32) -> Op {
        Op::new(
            "hello",
            json!({"version": VERSION, "client": concat!("mocket-rs ", env!("CARGO_PKG_VERSION")), "pid": pid}),
        )
    }

    pub fn open_scope(name: &str, pid: u32) -> Op {
        Op::new("open_scope", json!({"name": name, "pid": pid}))
    }

    pub fn register(scope: u64, entry: Value, responder: bool) -> Op {
        Op::new(
            "register",
            json!({"scope": scope, "entry": entry, "responder": responder}),
        )
    }

    pub fn expect(scope: u64, entry: u64, min: Option<u64>, max: Option<u64>) -> Op {
        Op::new(
            "expect",
            json!({"scope": scope, "entry": entry, "min": min, "max": max}),
        )
    }

    pub fn hits(scope: u64, entry: u64) -> Op {
        Op::new("hits", json!({"scope": scope, "entry": entry}))
    }

    /// `entry: None` asks for every request of the scope, matched or not.
    pub fn requests(scope: u64, entry: Option<u64>) -> Op {
        let mut fields = json!({"scope": scope});
        if let Some(entry) = entry {
            fields["entry"] = entry.into();
        }
        Op::new("requests", fields)
    }

    pub fn verify(scope: u64) -> Op {
        Op::new("verify", json!({"scope": scope}))
    }

    pub fn close_scope(scope: u64) -> Op {
        Op::new("close_scope", json!({"scope": scope}))
    }

    /// The answer to a responder call: a mocks-file response object, or why there is none.
    pub fn respond(call: u64, answer: Result<Value, String>) -> Op {
        match answer {
            Ok(response) => Op::new("respond", json!({"call": call, "response": response})),
            Err(error) => Op::new("respond", json!({"call": call, "error": error})),
        }
    }

    /// The line to send: the fields plus `id`, compact JSON (never a raw newline inside).
    pub fn encode(&self, id: u64) -> String {
        let mut map = self.0.clone();
        map.insert("id".into(), id.into());
        Value::Object(map).to_string()
    }
}

/// An engine-initiated call: compute the response of `entry` for `request`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub call: u64,
    pub scope: u64,
    pub entry: u64,
    pub request: Request,
}

/// One message from the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The reply to request `id`: its fields, or the engine's error.
    Reply {
        id: u64,
        result: Result<Map<String, Value>, ControlError>,
    },
    Call(Box<Call>),
}

/// Reads one message (a line without its newline).
pub fn decode(line: &[u8]) -> Result<Incoming, Error> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Error::Protocol(format!("the engine sent a line that is not JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(Error::Protocol(
            "the engine sent JSON that is not an object".into(),
        ));
    };
    if let Some(call) = map.get("call").and_then(Value::as_u64) {
        return decode_call(call, &map).map(|c| Incoming::Call(Box::new(c)));
    }
    let id = map.get("id").and_then(Value::as_u64).ok_or_else(|| {
        Error::Protocol("the engine sent a message with neither id nor call".into())
    })?;
    let result = match map.get("ok") {
        Some(Value::Bool(true)) => {
            map.remove("id");
            map.remove("ok");
            Ok(map)
        }
        _ => Err(ControlError::from_json(map.get("error"))),
    };
    Ok(Incoming::Reply { id, result })
}

fn decode_call(call: u64, map: &Map<String, Value>) -> Result<Call, Error> {
    let op = map.get("op").and_then(Value::as_str).unwrap_or("");
    if op != "respond_with" {
        return Err(Error::Protocol(format!(
            "the engine sent call {call} with op \"{op}\", which this version of the mocket crate does not know (update the crate)"
        )));
    }
    let number = |key: &str| {
        map.get(key).and_then(Value::as_u64).ok_or_else(|| {
            Error::Protocol(format!("the engine's call {call} has no integer \"{key}\""))
        })
    };
    let request = map
        .get("request")
        .ok_or_else(|| Error::Protocol(format!("the engine's call {call} has no \"request\"")))?;
    Ok(Call {
        call,
        scope: number("scope")?,
        entry: number("entry")?,
        request: Request::from_json(request)?,
    })
}

/// A field of an ok reply, as an integer.
pub fn u64_field(reply: &Map<String, Value>, key: &str) -> Result<u64, Error> {
    reply
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Protocol(format!("the engine's reply has no integer \"{key}\"")))
}

/// A field of an ok reply, as text.
pub fn str_field(reply: &Map<String, Value>, key: &str) -> Result<String, Error> {
    reply
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Protocol(format!("the engine's reply has no text \"{key}\"")))
}

/// The `requests` field of an ok reply.
pub fn requests_field(reply: &Map<String, Value>) -> Result<Vec<Request>, Error> {
    match reply.get("requests") {
        Some(Value::Array(items)) => items.iter().map(Request::from_json).collect(),
        _ => Err(Error::Protocol(
            "the engine's reply has no \"requests\" list".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn requests_are_one_line_with_id_and_op() {
        let line = Op::register(3, json!({"http": "GET http://a/\n"}), true).encode(9);
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(
            parse(&line),
            json!({"id": 9, "op": "register", "scope": 3, "entry": {"http": "GET http://a/\n"}, "responder": true})
        );
        assert_eq!(
            parse(&Op::hello(42).encode(1)),
            json!({"id": 1, "op": "hello", "version": 1, "client": concat!("mocket-rs ", env!("CARGO_PKG_VERSION")), "pid": 42})
        );
        assert_eq!(
            parse(&Op::expect(1, 2, Some(1), None).encode(3)),
            json!({"id": 3, "op": "expect", "scope": 1, "entry": 2, "min": 1, "max": null})
        );
        assert_eq!(
            parse(&Op::requests(1, None).encode(4)),
            json!({"id": 4, "op": "requests", "scope": 1})
        );
        assert_eq!(
            parse(&Op::requests(1, Some(5)).encode(4)),
            json!({"id": 4, "op": "requests", "scope": 1, "entry": 5})
        );
        assert_eq!(
            parse(&Op::respond(7, Err("boom".into())).encode(8)),
            json!({"id": 8, "op": "respond", "call": 7, "error": "boom"})
        );
        assert_eq!(
            parse(&Op::respond(7, Ok(json!({"status": 201}))).encode(8)),
            json!({"id": 8, "op": "respond", "call": 7, "response": {"status": 201}})
        );
        assert_eq!(Op::close_scope(1).name(), "close_scope");
    }

    #[test]
    fn ok_replies_keep_their_fields() {
        let Incoming::Reply { id, result } =
            decode(br#"{"id": 4, "ok": true, "entry": 12, "label": "GET http://a/"}"#).unwrap()
        else {
            panic!("not a reply")
        };
        assert_eq!(id, 4);
        let fields = result.unwrap();
        assert_eq!(u64_field(&fields, "entry").unwrap(), 12);
        assert_eq!(str_field(&fields, "label").unwrap(), "GET http://a/");
        assert!(u64_field(&fields, "label").is_err());
    }

    #[test]
    fn error_replies_carry_kind_message_and_key() {
        let Incoming::Reply { result, .. } = decode(
            br#"{"id": 1, "ok": false, "error": {"kind": "invalid", "message": "response.status: must be 100-599", "key": "response.status"}}"#,
        )
        .unwrap() else {
            panic!("not a reply")
        };
        let err = result.unwrap_err();
        assert_eq!(err.kind, "invalid");
        assert_eq!(err.key.as_deref(), Some("response.status"));
        assert_eq!(err.message, "response.status: must be 100-599");
        // A reply without a usable error object still says something.
        let Incoming::Reply { result, .. } = decode(br#"{"id": 1, "ok": false}"#).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(result.unwrap_err().kind, "bad_reply");
    }

    #[test]
    fn calls_carry_the_request() {
        let msg = br#"{"call": 5, "op": "respond_with", "scope": 7, "entry": 12,
            "request": {"seq": 1, "entry": 12, "protocol": "http", "pid": 9, "method": "GET",
                        "url": "http://a/x?y=1", "path": "/x", "query": [["y", "1"]],
                        "headers": [["accept", "*/*"]], "body": "", "matched": true}}"#;
        let Incoming::Call(call) = decode(msg).unwrap() else {
            panic!("not a call")
        };
        assert_eq!((call.call, call.scope, call.entry), (5, 7, 12));
        assert_eq!(call.request.path(), "/x");
        assert_eq!(call.request.query("y"), Some("1"));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"{}",
            b"{\"call\": 1, \"op\": \"other\"}",
            b"{\"call\": 1, \"op\": \"respond_with\", \"scope\": 1, \"entry\": 2}",
            b"{\"call\": 1, \"op\": \"respond_with\", \"scope\": 1, \"entry\": 2, \"request\": 3}",
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let fields = Map::new();
        assert!(requests_field(&fields).is_err());
    }
}
