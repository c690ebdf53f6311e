//! The outcome of checking a scope (the reply of `verify` and `close_scope`).

use serde_json::{Map, Value};

use crate::error::Error;
use crate::http::Request;
use crate::protocol;

/// An entry whose expectation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub entry: u64,
    /// `POST https://api.stripe.com/v1/charges`.
    pub label: String,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub actual: u64,
}

/// What the engine found when it checked a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    pub failures: Vec<Failure>,
    /// Requests to the scope's destinations that no entry matched.
    pub unmatched: Vec<Request>,
    /// `respond_with` closures that panicked or did not answer.
    pub errors: Vec<String>,
    /// The engine's report, ready to print (`None` when passed).
    pub message: Option<String>,
}

impl Verdict {
    pub(crate) fn from_reply(reply: &Map<String, Value>) -> Result<Verdict, Error> {
        let passed = reply
            .get("passed")
            .and_then(Value::as_bool)
            .ok_or_else(|| Error::Protocol("the engine's verdict has no \"passed\"".into()))?;
        let list = |key: &str| {
            reply
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let failures = list("failures")
            .iter()
            .map(|f| Failure {
                entry: f["entry"].as_u64().unwrap_or(0),
                label: f["label"].as_str().unwrap_or_default().to_string(),
                min: f["expected"]["min"].as_u64(),
                max: f["expected"]["max"].as_u64(),
                actual: f["actual"].as_u64().unwrap_or(0),
            })
            .collect();
        let unmatched = protocol::requests_field(&{
            let mut m = Map::new();
            m.insert("requests".into(), Value::Array(list("unmatched")));
            m
        })?;
        let errors = list("errors")
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect();
        Ok(Verdict {
            passed,
            failures,
            unmatched,
            errors,
            message: reply
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The engine's message, or one made from the parts if it sent none.
    pub fn report(&self) -> String {
        if let Some(m) = &self.message {
            return m.clone();
        }
        let mut lines: Vec<String> = self
            .failures
            .iter()
            .map(|f| {
                format!(
                    "{}: expected {} requests, got {}",
                    f.label,
                    expected_text(f.min, f.max),
                    f.actual
                )
            })
            .collect();
        lines.extend(self.unmatched.iter().map(|r| {
            format!(
                "unmatched {} {}: {}",
                r.method(),
                r.url(),
                r.miss().unwrap_or("")
            )
        }));
        lines.extend(self.errors.iter().cloned());
        lines.join("\n")
    }
}

fn expected_text(min: Option<u64>, max: Option<u64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("exactly {a}"),
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any number of".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_verdict_reads_back() {
        let reply = json!({"passed": false,
            "failures": [{"entry": 12, "label": "POST https://api.stripe.com/v1/charges",
                          "expected": {"min": 1, "max": 1}, "actual": 0}],
            "unmatched": [{"protocol": "http", "method": "GET", "url": "http://a/x", "matched": false, "miss": "path differs"}],
            "errors": ["respond_with of GET http://a/ panicked: boom"],
            "message": "POST https://api.stripe.com/v1/charges: expected exactly 1 request, got 0"});
        let v = Verdict::from_reply(reply.as_object().unwrap()).unwrap();
        assert!(!v.passed);
        assert_eq!(
            v.failures[0].label,
            "POST https://api.stripe.com/v1/charges"
        );
        assert_eq!(
            (v.failures[0].min, v.failures[0].max, v.failures[0].actual),
            (Some(1), Some(1), 0)
        );
        assert_eq!(v.unmatched[0].miss(), Some("path differs"));
        assert_eq!(v.errors.len(), 1);
        assert!(v.report().contains("expected exactly 1 request, got 0"));
        let v = Verdict { message: None, ..v };
        let report = v.report();
        assert!(
            report.contains(
                "POST https://api.stripe.com/v1/charges: expected exactly 1 requests, got 0"
            ),
            "{report}"
        );
        assert!(
            report.contains("path differs") && report.contains("boom"),
            "{report}"
        );
    }

    #[test]
    fn a_passed_verdict_and_a_bad_one() {
        let v = Verdict::from_reply(
            json!({"passed": true, "message": null})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(v.passed && v.message.is_none() && v.failures.is_empty());
        assert!(Verdict::from_reply(json!({}).as_object().unwrap()).is_err());
    }
}
