//! `expect` on an entry (DESIGN.md section 7): how many times it must be used by the end of a
//! run (HTTP requests, Redis commands, TCP connections).

use mocket_protocols::field::{self, FieldError};
use serde_json::Value;

/// The uses an entry must see: at least `min`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub min: u64,
    pub max: Option<u64>,
}

const FORMS: &str = "a number (exactly), {\"min\": N}, {\"max\": N} or both";

impl Expect {
    /// The `expect` of an entry object, if it has one.
    pub fn of_entry(entry: &Value) -> Result<Option<Self>, FieldError> {
        let Some(v) = entry.get("expect") else {
            return Ok(None);
        };
        let expect = Expect::from_json(v).map_err(|e| e.in_key("expect"))?;
        if let Some(times) = entry.get("times").and_then(Value::as_u64)
            && expect.min > times
        {
            return Err(FieldError::new(format!(
                "expect wants at least {} uses, but \"times\": {times} stops the entry before",
                expect.min
            ))
            .in_key("expect"));
        }
        Ok(Some(expect))
    }

    fn from_json(v: &Value) -> Result<Self, FieldError> {
        let map = match v {
            Value::Number(_) => {
                let n = field::unsigned(v, "expect")?;
                return Ok(Expect {
                    min: n,
                    max: Some(n),
                });
            }
            Value::Object(map) => map,
            other => {
                return Err(FieldError::new(format!(
                    "expect must be {FORMS}, found {}",
                    field::type_name(other)
                )));
            }
        };
        field::reject_unknown_keys(map, &["min", "max"])?;
        let bound = |key: &str| {
            map.get(key)
                .map(|v| field::unsigned(v, key).map_err(|e| e.in_key(key)))
                .transpose()
        };
        let (min, max) = (bound("min")?, bound("max")?);
        if min.is_none() && max.is_none() {
            return Err(FieldError::new(format!(
                "expect must be {FORMS}; this object has neither min nor max"
            )));
        }
        let min = min.unwrap_or(0);
        if let Some(max) = max
            && min > max
        {
            return Err(FieldError::new(format!(
                "expect min {min} is more than max {max}: no count satisfies both"
            ))
            .in_key("min"));
        }
        Ok(Expect { min, max })
    }

    pub fn accepts(&self, uses: u64) -> bool {
        uses >= self.min && self.max.is_none_or(|max| uses <= max)
    }

    /// `exactly 2`, `at least 1`, `at most 3`, `2 to 5`.
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (min, Some(max)) if min == max => format!("exactly {min}"),
            (0, Some(max)) => format!("at most {max}"),
            (min, Some(max)) => format!("{min} to {max}"),
            (min, None) => format!("at least {min}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn expect(v: Value) -> Result<Option<Expect>, (String, String)> {
        Expect::of_entry(&v).map_err(|e| (e.path_text(), e.message))
    }

    #[test]
    fn the_forms() {
        let exactly = expect(json!({"expect": 2})).unwrap().unwrap();
        assert!(exactly.accepts(2) && !exactly.accepts(1) && !exactly.accepts(3));
        assert_eq!(exactly.describe(), "exactly 2");
        let never = expect(json!({"expect": 0})).unwrap().unwrap();
        assert!(never.accepts(0) && !never.accepts(1));
        let at_least = expect(json!({"expect": {"min": 1}})).unwrap().unwrap();
        assert!(at_least.accepts(9) && !at_least.accepts(0));
        assert_eq!(at_least.describe(), "at least 1");
        let at_most = expect(json!({"expect": {"max": 3}})).unwrap().unwrap();
        assert!(at_most.accepts(0) && !at_most.accepts(4));
        assert_eq!(at_most.describe(), "at most 3");
        let range = expect(json!({"expect": {"min": 2, "max": 5}}))
            .unwrap()
            .unwrap();
        assert_eq!(range.describe(), "2 to 5");
        assert_eq!(expect(json!({})).unwrap(), None);
    }

    #[test]
    fn bad_forms() {
        let (key, msg) = expect(json!({"expect": {"min": 3, "max": 1}})).unwrap_err();
        assert_eq!(key, "expect.min");
        assert!(msg.contains("min 3 is more than max 1"), "{msg}");
        assert_eq!(expect(json!({"expect": -1})).unwrap_err().0, "expect");
        assert_eq!(expect(json!({"expect": "2"})).unwrap_err().0, "expect");
        assert!(
            expect(json!({"expect": {}}))
                .unwrap_err()
                .1
                .contains("neither")
        );
        assert_eq!(
            expect(json!({"expect": {"mni": 1}})).unwrap_err().0,
            "expect.mni"
        );
        let (key, msg) = expect(json!({"expect": 3, "times": 2})).unwrap_err();
        assert_eq!(key, "expect");
        assert!(msg.contains("\"times\": 2"), "{msg}");
    }
}
