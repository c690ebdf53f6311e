//! Raw TCP entries: `tcp::at("legacy.internal:9000").greeting(...).request(...).response(...)`.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::{EntrySpec, IntoEntry};

/// A TCP script being built.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpEntry {
    address: String,
    greeting: Option<Vec<u8>>,
    request: Option<Vec<u8>>,
    responses: Vec<Vec<u8>>,
    times: Option<u64>,
}

/// A raw TCP server at `host:port`.
pub fn at(address: impl Into<String>) -> TcpEntry {
    TcpEntry {
        address: address.into(),
        greeting: None,
        request: None,
        responses: Vec::new(),
        times: None,
    }
}

/// Text when the bytes are UTF-8, else `{"base64": ...}` (the mocks file's two forms).
fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
    }
}

impl TcpEntry {
    /// Sent on connect, before the client says anything.
    pub fn greeting(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.greeting = Some(bytes.as_ref().to_vec());
        self
    }

    /// Awaited before each response (without it, each chunk the client sends gets the next
    /// response).
    pub fn request(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.request = Some(bytes.as_ref().to_vec());
        self
    }

    /// A response; called again, adds the next one (the last repeats).
    pub fn response(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.responses.push(bytes.as_ref().to_vec());
        self
    }

    /// Answers at most `n` connections.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// The mocks-file entry.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("tcp".into(), self.address.clone().into());
        if let Some(greeting) = &self.greeting {
            map.insert("greeting".into(), bytes_json(greeting));
        }
        if let Some(request) = &self.request {
            map.insert("request".into(), bytes_json(request));
        }
        let answers = self.responses.iter().map(|r| bytes_json(r)).collect();
        crate::insert_answers(&mut map, answers, self.times);
        Value::Object(map)
    }
}

impl IntoEntry for TcpEntry {
    fn into_entry(self) -> EntrySpec {
        EntrySpec {
            json: self.to_json(),
            responder: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        assert_eq!(
            at("legacy.internal:9000")
                .greeting("220 ready\r\n")
                .request("HELO me\r\n")
                .response("250 ok\r\n")
                .to_json(),
            json!({"tcp": "legacy.internal:9000", "greeting": "220 ready\r\n",
                   "request": "HELO me\r\n", "response": "250 ok\r\n"})
        );
        assert_eq!(
            at("x:1")
                .response([0u8, 255])
                .response("b")
                .times(2)
                .to_json(),
            json!({"tcp": "x:1", "responses": [{"base64": "AP8="}, "b"], "times": 2})
        );
    }
}
