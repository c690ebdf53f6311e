//! Raw TCP entries: a scripted conversation on one connection.
//!
//! A [`TcpEntry`] says what the server sends first (`greeting`), what it waits for (`request`)
//! and what it answers (`responses`, the last one repeating). [`TcpSession`] plays that script
//! for one connection, bytes in and bytes out; the engine owns the socket.

use serde_json::Value;

use crate::field::{self, Destination, FieldError};

/// One `tcp` entry of a mocks file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpEntry {
    pub destination: Destination,
    /// Sent as soon as the client connects, before it says anything (SMTP, FTP, ...).
    pub greeting: Option<Vec<u8>>,
    /// Awaited before each response; `None` answers every chunk the client sends.
    pub request: Option<Vec<u8>>,
    /// `request_regex`: a message (what the client sends at once) this finds a match in
    /// selects the entry, when several entries share the address.
    pub request_regex: Option<RequestRegex>,
    pub responses: Vec<Vec<u8>>,
    /// How many connections the entry answers; `None` is unlimited.
    pub times: Option<u64>,
}

const KEYS: &[&str] = &[
    "tcp",
    "greeting",
    "request",
    "request_regex",
    "response",
    "responses",
    "times",
];

impl TcpEntry {
    /// Reads an entry whose kind key is `tcp`.
    pub fn from_json(v: &Value) -> Result<Self, FieldError> {
        let map = field::object(v, "an entry")?;
        field::reject_unknown_keys(map, KEYS)?;
        let dest = field::string(&map["tcp"], "tcp").map_err(|e| e.in_key("tcp"))?;
        let destination = field::host_port(dest, None).map_err(|e| e.in_key("tcp"))?;
        let optional_bytes = |key: &str| -> Result<Option<Vec<u8>>, FieldError> {
            map.get(key)
                .map(|v| field::bytes(v, key).map_err(|e| e.in_key(key)))
                .transpose()
        };
        let request = optional_bytes("request")?;
        if request.as_ref().is_some_and(|r| r.is_empty()) {
            return Err(FieldError::new("request must not be empty").in_key("request"));
        }
        let request_regex = match map.get("request_regex") {
            None => None,
            Some(_) if request.is_some() => {
                return Err(
                    FieldError::new("give request (exact) or request_regex, not both")
                        .in_key("request_regex"),
                );
            }
            Some(v) => {
                let text =
                    field::string(v, "request_regex").map_err(|e| e.in_key("request_regex"))?;
                let re = regex::bytes::Regex::new(text).map_err(|e| {
                    FieldError::new(format!("invalid regular expression: {e}"))
                        .in_key("request_regex")
                })?;
                Some(RequestRegex(re))
            }
        };
        Ok(TcpEntry {
            destination,
            greeting: optional_bytes("greeting")?,
            request,
            request_regex,
            responses: field::responses(map, |v| field::bytes(v, "a tcp response"))?,
            times: field::times(map)?,
        })
    }
}

/// A compiled `request_regex` (over bytes: a message need not be UTF-8).
#[derive(Debug, Clone)]
pub struct RequestRegex(pub regex::bytes::Regex);

impl PartialEq for RequestRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for RequestRegex {}

/// The client sent bytes the script did not expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpMismatch {
    pub expected: Vec<u8>,
    pub received: Vec<u8>,
}

impl std::fmt::Display for TcpMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected {:?}, received {:?}",
            String::from_utf8_lossy(&self.expected),
            String::from_utf8_lossy(&self.received)
        )
    }
}

/// The script of one `tcp` entry, played on one connection.
#[derive(Debug)]
pub struct TcpSession<'a> {
    entry: &'a TcpEntry,
    pending: Vec<u8>,
    answered: usize,
}

impl<'a> TcpSession<'a> {
    pub fn new(entry: &'a TcpEntry) -> Self {
        TcpSession {
            entry,
            pending: Vec::new(),
            answered: 0,
        }
    }

    /// What to send right after the connection opens.
    pub fn greeting(&self) -> &[u8] {
        self.entry.greeting.as_deref().unwrap_or_default()
    }

    /// How many responses this connection has been sent.
    pub fn answered(&self) -> usize {
        self.answered
    }

    /// Takes the bytes of one read and returns what to send back (possibly nothing yet, while a
    /// `request` is still arriving in pieces).
    pub fn receive(&mut self, data: &[u8]) -> Result<Vec<u8>, TcpMismatch> {
        let Some(request) = &self.entry.request else {
            return Ok(if data.is_empty() {
                Vec::new()
            } else {
                self.next_response().to_vec()
            });
        };
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while self.pending.len() >= request.len() && self.pending.starts_with(request) {
            self.pending.drain(..request.len());
            out.extend_from_slice(self.next_response());
        }
        if !request.starts_with(&self.pending) {
            return Err(TcpMismatch {
                expected: request.clone(),
                received: self.pending.clone(),
            });
        }
        Ok(out)
    }

    fn next_response(&mut self) -> &'a [u8] {
        let responses = &self.entry.responses;
        let r = &responses[self.answered.min(responses.len() - 1)];
        self.answered += 1;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> TcpEntry {
        TcpEntry::from_json(&v).unwrap()
    }

    #[test]
    fn parses_every_key() {
        let e = entry(json!({"tcp": "Legacy.Internal:9000", "greeting": "220\r\n",
            "request": {"base64": "SEk="}, "responses": ["a", {"base64": "AA=="}], "times": 3}));
        assert_eq!(e.destination, Destination::new("legacy.internal", 9000));
        assert_eq!(e.greeting.as_deref(), Some(&b"220\r\n"[..]));
        assert_eq!(e.request.as_deref(), Some(&b"HI"[..]));
        assert_eq!(e.responses, vec![b"a".to_vec(), vec![0]]);
        assert_eq!(e.times, Some(3));
    }

    #[test]
    fn rejects_bad_entries_with_paths() {
        let err = TcpEntry::from_json(&json!({"tcp": "x", "response": "a"})).unwrap_err();
        assert_eq!(err.path_text(), "tcp");
        let err = TcpEntry::from_json(&json!({"tcp": "x:1", "respons": "a"})).unwrap_err();
        assert!(err.message.contains("did you mean \"response\""));
        let err = TcpEntry::from_json(&json!({"tcp": "x:1", "request": "", "response": "a"}));
        assert_eq!(err.unwrap_err().path_text(), "request");
    }

    #[test]
    fn request_split_at_every_boundary() {
        let e = entry(json!({"tcp": "h:1", "request": "HELO me\r\n", "responses": ["1", "2"]}));
        let wire = b"HELO me\r\nHELO me\r\nHELO me\r\n";
        for cut in 0..=wire.len() {
            for cut2 in cut..=wire.len() {
                let mut s = TcpSession::new(&e);
                let mut out = s.receive(&wire[..cut]).unwrap();
                out.extend(s.receive(&wire[cut..cut2]).unwrap());
                out.extend(s.receive(&wire[cut2..]).unwrap());
                assert_eq!(out, b"122", "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn mismatch_is_reported() {
        let e = entry(json!({"tcp": "h:1", "request": "HELO", "response": "ok"}));
        let mut s = TcpSession::new(&e);
        assert_eq!(s.receive(b"HE").unwrap(), b"");
        let err = s.receive(b"X").unwrap_err();
        assert_eq!(err.received, b"HEX");
    }

    #[test]
    fn without_request_every_chunk_gets_the_next_response() {
        let e = entry(json!({"tcp": "h:1", "greeting": "hi", "responses": ["a", "b"]}));
        let mut s = TcpSession::new(&e);
        assert_eq!(s.greeting(), b"hi");
        assert_eq!(s.receive(b"x").unwrap(), b"a");
        assert_eq!(s.receive(b"").unwrap(), b"");
        assert_eq!(s.receive(b"y").unwrap(), b"b");
        assert_eq!(s.receive(b"z").unwrap(), b"b");
        assert_eq!(s.answered(), 3);
    }
}
