//! The values of `match.headers` and `match.query` (DESIGN.md section 7): a string (exact),
//! `{"regex": "..."}` or `{"absent": true}`.

use regex::Regex;
use serde_json::Value;

use crate::field::{self, FieldError};

/// What one header or query parameter must look like.
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    /// Equal to this text.
    Exact(String),
    /// A value the regex finds a match in (unanchored, as `path_regex`).
    Regex(Regex),
    /// Not sent at all.
    Absent,
}

impl PartialEq for ValueMatcher {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueMatcher::Exact(a), ValueMatcher::Exact(b)) => a == b,
            (ValueMatcher::Regex(a), ValueMatcher::Regex(b)) => a.as_str() == b.as_str(),
            (ValueMatcher::Absent, ValueMatcher::Absent) => true,
            _ => false,
        }
    }
}

impl Eq for ValueMatcher {}

const FORMS: &str = "a string (exact), {\"regex\": \"...\"} or {\"absent\": true}";

impl ValueMatcher {
    /// Reads one value of `match.headers` or `match.query`; `what` names it in errors.
    pub fn from_json(v: &Value, what: &str) -> Result<Self, FieldError> {
        let map = match v {
            Value::String(s) => return Ok(ValueMatcher::Exact(s.clone())),
            Value::Object(map) => map,
            other => {
                return Err(FieldError::new(format!(
                    "{what} must be {FORMS}, found {}",
                    field::type_name(other)
                )));
            }
        };
        field::reject_unknown_keys(map, &["regex", "absent"])?;
        match (map.get("regex"), map.get("absent")) {
            (Some(r), None) => {
                let text = field::string(r, "regex").map_err(|e| e.in_key("regex"))?;
                Regex::new(text).map(ValueMatcher::Regex).map_err(|e| {
                    FieldError::new(format!("invalid regular expression: {e}")).in_key("regex")
                })
            }
            (None, Some(Value::Bool(true))) => Ok(ValueMatcher::Absent),
            (None, Some(_)) => Err(FieldError::new(
                "absent must be true (to require a value, use {\"regex\": \".\"})",
            )
            .in_key("absent")),
            _ => Err(FieldError::new(format!("{what} must be {FORMS}"))),
        }
    }

    /// Whether `values` (every value sent under the name, in order) satisfy the matcher. A
    /// string or regex is satisfied by one of the values, or by all of them joined by `, `
    /// (how a list-valued header may be split over several lines).
    pub fn accepts(&self, values: &[&str]) -> bool {
        let joined = || values.join(", ");
        match self {
            ValueMatcher::Absent => values.is_empty(),
            _ if values.is_empty() => false,
            ValueMatcher::Exact(want) => values.contains(&want.as_str()) || joined() == *want,
            ValueMatcher::Regex(re) => {
                values.iter().any(|v| re.is_match(v)) || re.is_match(&joined())
            }
        }
    }

    /// The wanted value as a reason line shows it: `"t0k"`, `regex ^a`, `absent`.
    pub fn describe(&self) -> String {
        match self {
            ValueMatcher::Exact(want) => format!("{want:?}"),
            ValueMatcher::Regex(re) => format!("regex {}", re.as_str()),
            ValueMatcher::Absent => "absent".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn matcher(v: Value) -> ValueMatcher {
        ValueMatcher::from_json(&v, "a header value").unwrap()
    }

    fn error(v: Value) -> (String, String) {
        let e = ValueMatcher::from_json(&v, "a header value").unwrap_err();
        (e.path_text(), e.message)
    }

    #[test]
    fn the_three_forms() {
        let exact = matcher(json!("a"));
        assert!(exact.accepts(&["b", "a"]));
        assert!(!exact.accepts(&[]));
        assert!(!exact.accepts(&["ab"]));
        let regex = matcher(json!({"regex": "^Bearer [a-z0-9]+$"}));
        assert!(regex.accepts(&["Bearer t0k"]));
        assert!(!regex.accepts(&["Basic x"]));
        assert!(!regex.accepts(&[]));
        let absent = matcher(json!({"absent": true}));
        assert!(absent.accepts(&[]));
        assert!(!absent.accepts(&[""]));
        assert_eq!(regex.describe(), "regex ^Bearer [a-z0-9]+$");
    }

    #[test]
    fn joined_values_match_like_one_header() {
        assert!(matcher(json!("a, b")).accepts(&["a", "b"]));
        assert!(matcher(json!({"regex": "a, b"})).accepts(&["a", "b"]));
    }

    #[test]
    fn bad_forms_say_what_is_allowed() {
        let (key, msg) = error(json!({"regex": "("}));
        assert_eq!(key, "regex");
        assert!(msg.contains("invalid regular expression"), "{msg}");
        assert_eq!(error(json!({"absent": false})).0, "absent");
        assert!(error(json!(7)).1.contains("{\"absent\": true}"));
        assert!(error(json!({})).1.contains("{\"regex\""));
        assert!(
            error(json!({"regex": "a", "absent": true}))
                .1
                .contains("must be")
        );
        assert!(
            error(json!({"regexp": "a"}))
                .1
                .contains("did you mean \"regex\"")
        );
    }
}
