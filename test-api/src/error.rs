//! What can go wrong between this crate and the engine. The public API panics with these
//! messages (it is a test API: a failure must stop the test, saying why).

use std::fmt;

use serde_json::Value;

/// An error the engine replied with (`"ok": false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    /// `invalid`, `lease_timeout`, `version`, `bad_request`, `no_scope`, `no_entry`, `no_call`.
    pub kind: String,
    /// Ready to print: for `invalid`, `<key>: <what is wrong and how to fix it>`.
    pub message: String,
    /// For `invalid`, the key path of the entry that is wrong (`response.status`).
    pub key: Option<String>,
}

impl ControlError {
    pub(crate) fn from_json(error: Option<&Value>) -> ControlError {
        let text = |key: &str| {
            error
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (text("kind"), text("message")) {
            (Some(kind), Some(message)) => ControlError {
                kind,
                message,
                key: text("key"),
            },
            _ => ControlError {
                kind: "bad_reply".into(),
                message: format!(
                    "the engine refused a request without saying why (error: {})",
                    error.map_or_else(|| "absent".into(), Value::to_string)
                ),
                key: None,
            },
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Any failure of a control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The engine answered with an error.
    Control(ControlError),
    /// The engine cannot be reached (or stopped answering).
    Transport(String),
    /// The engine said something this crate does not understand.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Control(e) => e.fmt(f),
            Error::Transport(e) | Error::Protocol(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

impl From<ControlError> for Error {
    fn from(e: ControlError) -> Self {
        Error::Control(e)
    }
}
