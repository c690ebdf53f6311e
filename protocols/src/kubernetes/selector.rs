//! Label selectors (`labelSelector=app=web,tier in (a,b),!legacy`) and field selectors
//! (`fieldSelector=metadata.name=x`), parsed from the query of a list, watch or delete.

use std::fmt;

use serde_json::Value;

/// Why a selector cannot be read: the client gets `400 BadRequest` with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// One requirement on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    /// Whether a key's value (`None`: absent) satisfies this requirement.
    fn holds(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Equals(v), Some(x)) => v == x,
            (Op::Equals(_), None) => false,
            (Op::NotEquals(v), x) => x != Some(v.as_str()),
            (Op::In(vs), Some(x)) => vs.iter().any(|v| v == x),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), x) => x.is_none_or(|x| !vs.iter().any(|v| v == x)),
            (Op::Exists, x) => x.is_some(),
            (Op::NotExists, x) => x.is_none(),
        }
    }
}

/// A label selector: every requirement must hold. The empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

/// A field selector: `=`, `==` and `!=` on dotted paths of the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<Requirement>);

/// The longest selector read: far beyond any real one, and a bound on the work a client can ask.
pub const MAX_SELECTOR: usize = 16 * 1024;

fn bad(text: &str, why: impl fmt::Display) -> SelectorError {
    SelectorError(format!("unable to parse requirement {text:?}: {why}"))
}

/// Splits on the commas outside parentheses.
fn terms(text: &str) -> Result<Vec<&str>, SelectorError> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(bad(text, "unbalanced or nested parentheses"));
        }
    }
    if depth != 0 {
        return Err(bad(text, "a \"(\" is not closed"));
    }
    out.push(&text[start..]);
    Ok(out.into_iter().map(str::trim).collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

fn valid_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn checked_key(term: &str, key: &str) -> Result<String, SelectorError> {
    match valid_key(key) {
        true => Ok(key.to_string()),
        false => Err(bad(term, format!("{key:?} is not a valid key"))),
    }
}

fn checked_value(term: &str, value: &str) -> Result<String, SelectorError> {
    let value = value.trim();
    match valid_value(value) {
        true => Ok(value.to_string()),
        false => Err(bad(term, format!("{value:?} is not a valid value"))),
    }
}

/// `key in (a, b)` or `key notin (a)`, when `term` has that shape.
fn set_requirement(term: &str) -> Result<Option<Requirement>, SelectorError> {
    let Some(open) = term.find('(') else {
        return Ok(None);
    };
    let head: Vec<&str> = term[..open].split_whitespace().collect();
    let [key, op] = head.as_slice() else {
        return Err(bad(
            term,
            "expected `key in (values)` or `key notin (values)`",
        ));
    };
    let Some(inner) = term[open + 1..].strip_suffix(')') else {
        return Err(bad(term, "nothing may follow the closing parenthesis"));
    };
    let values = inner
        .split(',')
        .map(|v| checked_value(term, v))
        .collect::<Result<Vec<_>, _>>()?;
    let op = match *op {
        "in" => Op::In(values),
        "notin" => Op::NotIn(values),
        other => return Err(bad(term, format!("unknown operator {other:?}"))),
    };
    Ok(Some(Requirement {
        key: checked_key(term, key)?,
        op,
    }))
}

/// `key=v`, `key==v` or `key!=v`, when `term` has that shape.
fn equality_requirement(term: &str) -> Result<Option<Requirement>, SelectorError> {
    let (key, op) = if let Some((k, v)) = term.split_once("!=") {
        (k, Op::NotEquals(checked_value(term, v)?))
    } else if let Some((k, v)) = term.split_once("==") {
        (k, Op::Equals(checked_value(term, v)?))
    } else if let Some((k, v)) = term.split_once('=') {
        (k, Op::Equals(checked_value(term, v)?))
    } else {
        return Ok(None);
    };
    Ok(Some(Requirement {
        key: checked_key(term, key.trim())?,
        op,
    }))
}

fn too_long(text: &str) -> Result<(), SelectorError> {
    match text.len() > MAX_SELECTOR {
        true => Err(SelectorError(format!(
            "a selector of {} bytes is longer than the {MAX_SELECTOR} bytes accepted",
            text.len()
        ))),
        false => Ok(()),
    }
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        too_long(text)?;
        if text.trim().is_empty() {
            return Ok(LabelSelector::default());
        }
        let mut requirements = Vec::new();
        for term in terms(text)? {
            let requirement = if let Some(r) = set_requirement(term)? {
                r
            } else if let Some(r) = equality_requirement(term)? {
                r
            } else if let Some(key) = term.strip_prefix('!') {
                Requirement {
                    key: checked_key(term, key.trim())?,
                    op: Op::NotExists,
                }
            } else {
                Requirement {
                    key: checked_key(term, term)?,
                    op: Op::Exists,
                }
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether `object`'s `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.0
            .iter()
            .all(|r| r.holds(labels.get(&r.key).and_then(Value::as_str)))
    }
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        too_long(text)?;
        if text.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        let mut requirements = Vec::new();
        for term in terms(text)? {
            match equality_requirement(term)? {
                Some(r) if !matches!(r.op, Op::In(_) | Op::NotIn(_)) => requirements.push(r),
                _ => {
                    return Err(bad(
                        term,
                        "a field selector is `field=value`, `field==value` or `field!=value`",
                    ));
                }
            }
        }
        Ok(FieldSelector(requirements))
    }

    /// Whether the object's fields (dotted paths; an absent field is `""`) satisfy every
    /// requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let value = field_text(object, &r.key);
            r.holds(Some(value.as_str()))
        })
    }
}

/// A field as a field selector compares it: strings as they are, numbers and booleans as
/// written, anything else (absent included) as `""`.
fn field_text(object: &Value, path: &str) -> String {
    let found = path.split('.').try_fold(object, |v, key| v.get(key));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("missing notin (front)", true),
            ("missing in (front)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier in (back,front),!legacy", true),
            ("app=web,tier=back", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn bad_label_selectors_say_why() {
        for sel in [
            "app in (a",
            "app in a)",
            "app in ((a))",
            "app ~ (a)",
            "a b c (x)",
            "app=a b",
            "=x",
            "app in (x) y",
        ] {
            let err = LabelSelector::parse(sel).unwrap_err();
            assert!(
                err.0.contains("unable to parse requirement"),
                "{sel}: {err}"
            );
        }
        assert!(LabelSelector::parse(&"a".repeat(MAX_SELECTOR + 1)).is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        for (sel, want) in [
            ("metadata.name=a", true),
            ("metadata.name==b", false),
            ("metadata.namespace!=ns", false),
            ("metadata.namespace!=other,metadata.name=a", true),
            ("status.phase=Running", true),
            ("spec.nodeName=", true),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse("metadata.name in (a)").is_err());
    }
}
