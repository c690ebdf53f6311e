//! `"unmatched"` (DESIGN.md section 7): what an HTTP request gets when it reaches an
//! intercepted destination and matches no entry.

use std::fmt;

use mocket_protocols::field::{self, FieldError};
use serde_json::Value;

/// The top-level `unmatched` key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unmatched {
    /// `"501"` (the default): mocket answers `501` with the nearest misses.
    #[default]
    Answer501,
    /// `"passthrough"`: the request is relayed to the real destination (pook's
    /// `enable_network`, aiointercept's `passthrough_unmatched`), as far as strict mode and
    /// `allow` let it reach.
    Passthrough,
}

impl Unmatched {
    /// The key's value as the mocks file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Unmatched::Answer501 => "501",
            Unmatched::Passthrough => "passthrough",
        }
    }

    pub(crate) fn from_json(v: &Value) -> Result<Self, FieldError> {
        let wrong = |found: String| {
            FieldError::new(format!(
                "unmatched must be \"501\" (answer 501, the default) or \"passthrough\" (relay \
                 unmatched HTTP requests to the real destination), found {found}"
            ))
        };
        match v {
            Value::String(s) if s == "501" => Ok(Unmatched::Answer501),
            Value::String(s) if s == "passthrough" => Ok(Unmatched::Passthrough),
            Value::String(s) => Err(wrong(format!("\"{s}\""))),
            other => Err(wrong(field::type_name(other).to_string())),
        }
    }
}

impl fmt::Display for Unmatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_the_two_names_only() {
        assert_eq!(
            Unmatched::from_json(&json!("passthrough")).unwrap(),
            Unmatched::Passthrough
        );
        assert_eq!(
            Unmatched::from_json(&json!("501")).unwrap(),
            Unmatched::Answer501
        );
        let err = Unmatched::from_json(&json!("pass")).unwrap_err();
        assert!(err.message.ends_with("found \"pass\""), "{}", err.message);
        let err = Unmatched::from_json(&json!(501)).unwrap_err();
        assert!(err.message.ends_with("found a number"), "{}", err.message);
    }
}
