//! The verdict of a scope: failed expectations, unmatched requests and responder errors, with
//! the one text every client prints.

use serde_json::{Value, json};

use super::Scope;

/// How many requests an entry expects: `min` and `max` inclusive, `None` open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

impl Expectation {
    pub fn holds(&self, actual: u64) -> bool {
        self.min.is_none_or(|min| actual >= min) && self.max.is_none_or(|max| actual <= max)
    }

    /// `exactly 1 request`, `at least 2 requests`, `between 1 and 3 requests`.
    pub fn text(&self) -> String {
        match (self.min, self.max) {
            (_, Some(0)) => "no requests".into(),
            (Some(a), Some(b)) if a == b => format!("exactly {}", requests(a)),
            (None | Some(0), Some(b)) => format!("at most {}", requests(b)),
            (Some(a), None) => format!("at least {}", requests(a)),
            (Some(a), Some(b)) => format!("between {a} and {}", requests(b)),
            (None, None) => "any number of requests".into(),
        }
    }
}

fn requests(n: u64) -> String {
    match n {
        1 => "1 request".into(),
        n => format!("{n} requests"),
    }
}

/// One failed expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub entry: usize,
    pub label: String,
    pub expected: Expectation,
    pub actual: u64,
}

impl Failure {
    /// `POST https://api.stripe.com/v1/charges: expected exactly 1 request, got 0`.
    pub fn text(&self) -> String {
        format!(
            "{}: expected {}, got {}",
            self.label,
            self.expected.text(),
            self.actual
        )
    }
}

/// What `verify` and `close_scope` answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub failures: Vec<Failure>,
    pub unmatched: Vec<Value>,
    pub errors: Vec<String>,
}

impl Verdict {
    pub fn of(scope: &Scope) -> Verdict {
        let failures = scope
            .entries()
            .iter()
            .filter_map(|e| {
                let expected = (*super::lock(&e.expectation))?;
                let actual = e.hits();
                (!expected.holds(actual)).then(|| Failure {
                    entry: e.id,
                    label: e.label.clone(),
                    expected,
                    actual,
                })
            })
            .collect();
        Verdict {
            failures,
            unmatched: scope.unmatched(),
            errors: scope.errors(),
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.unmatched.is_empty() && self.errors.is_empty()
    }

    /// The text a client prints: each failed expectation, each unmatched request with its
    /// nearest-miss text, each error; `None` when the scope passed.
    pub fn message(&self, scope_name: &str) -> Option<String> {
        if self.passed() {
            return None;
        }
        let mut lines = vec![format!("mocket: test \"{scope_name}\" failed its mocks:")];
        lines.extend(self.failures.iter().map(|f| format!("  {}", f.text())));
        for request in &self.unmatched {
            let what = match request["protocol"].as_str() {
                Some("http") => format!(
                    "{} {}",
                    request["method"].as_str().unwrap_or("?"),
                    request["url"].as_str().unwrap_or("?")
                ),
                Some("redis") => format!(
                    "redis {}",
                    request["command"]
                        .as_array()
                        .map(|w| w
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" "))
                        .unwrap_or_default()
                ),
                _ => "tcp message".into(),
            };
            lines.push(format!("  unmatched request {what}"));
            let miss = request["miss"].as_str().unwrap_or_default().trim_end();
            lines.extend(miss.lines().map(|l| format!("    {l}")));
        }
        lines.extend(self.errors.iter().map(|e| format!("  error: {e}")));
        Some(lines.join("\n"))
    }

    /// The reply fields of `verify` and `close_scope`.
    pub fn to_json(&self, scope_name: &str) -> Value {
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|f| {
                json!({"entry": f.entry, "label": f.label,
                       "expected": {"min": f.expected.min, "max": f.expected.max},
                       "actual": f.actual})
            })
            .collect();
        json!({
            "passed": self.passed(),
            "failures": failures,
            "unmatched": self.unmatched,
            "errors": self.errors,
            "message": self.message(scope_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(min: Option<u64>, max: Option<u64>) -> Expectation {
        Expectation { min, max }
    }

    #[test]
    fn expectations_in_words() {
        assert_eq!(expect(Some(1), Some(1)).text(), "exactly 1 request");
        assert_eq!(expect(Some(2), Some(2)).text(), "exactly 2 requests");
        assert_eq!(expect(Some(0), Some(0)).text(), "no requests");
        assert_eq!(expect(Some(2), None).text(), "at least 2 requests");
        assert_eq!(expect(None, Some(3)).text(), "at most 3 requests");
        assert_eq!(expect(Some(1), Some(3)).text(), "between 1 and 3 requests");
        assert!(expect(Some(1), Some(3)).holds(3));
        assert!(!expect(Some(1), Some(3)).holds(4));
        assert!(!expect(Some(1), None).holds(0));
    }

    #[test]
    fn the_message_lists_failures_then_unmatched_then_errors() {
        let verdict = Verdict {
            failures: vec![Failure {
                entry: 12,
                label: "POST https://api.stripe.com/v1/charges".into(),
                expected: expect(Some(1), Some(1)),
                actual: 0,
            }],
            unmatched: vec![json!({"protocol": "http", "method": "GET",
                "url": "https://api.example.com/x", "matched": false,
                "miss": "mocket: no entry matched GET /x\nclosest entries:\n"})],
            errors: vec!["respond_with of GET https://api.example.com/y panicked: boom".into()],
        };
        assert_eq!(
            verdict.message("tests::checkout").unwrap(),
            "mocket: test \"tests::checkout\" failed its mocks:\n  \
             POST https://api.stripe.com/v1/charges: expected exactly 1 request, got 0\n  \
             unmatched request GET https://api.example.com/x\n    \
             mocket: no entry matched GET /x\n    closest entries:\n  \
             error: respond_with of GET https://api.example.com/y panicked: boom"
        );
        let json = verdict.to_json("t");
        assert_eq!(json["passed"], false);
        assert_eq!(json["failures"][0]["expected"], json!({"min": 1, "max": 1}));
        let passed = Verdict {
            failures: vec![],
            unmatched: vec![],
            errors: vec![],
        };
        assert_eq!(passed.to_json("t")["message"], Value::Null);
    }
}
