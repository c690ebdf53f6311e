//! JSON merge patch (RFC 7386; Kubernetes' strategic merge patch is treated as one) and JSON
//! patch (RFC 6902).

use std::fmt;

use serde_json::Value;

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The patch is not a patch of its kind (`400 BadRequest`).
    Malformed(String),
    /// The patch is well formed but does not apply to the object, e.g. a failed `test`
    /// (`422 Invalid`, as Kubernetes answers).
    NotApplicable(String),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::Malformed(m) | PatchError::NotApplicable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PatchError {}

/// Applies a merge patch to `target`: objects merge key by key, `null` removes a key,
/// anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(fields) = target else {
        unreachable!("made an object above")
    };
    for (key, change) in changes {
        if change.is_null() {
            fields.remove(key);
        } else {
            merge_patch(fields.entry(key.clone()).or_insert(Value::Null), change);
        }
    }
}

/// Applies a JSON patch (a list of operations) to `target`, all or nothing.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::Malformed(
            "a JSON patch must be an array of operations".into(),
        ));
    };
    let mut patched = target.clone();
    for (i, op) in operations.iter().enumerate() {
        apply_operation(&mut patched, op).map_err(|e| match e {
            PatchError::Malformed(m) => PatchError::Malformed(format!("operation {i}: {m}")),
            PatchError::NotApplicable(m) => {
                PatchError::NotApplicable(format!("operation {i}: {m}"))
            }
        })?;
    }
    *target = patched;
    Ok(())
}

fn text_member<'a>(op: &'a Value, name: &str) -> Result<&'a str, PatchError> {
    op.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| PatchError::Malformed(format!("\"{name}\" must be a string")))
}

fn value_member(op: &Value) -> Result<Value, PatchError> {
    op.get("value")
        .cloned()
        .ok_or_else(|| PatchError::Malformed("\"value\" is missing".into()))
}

fn apply_operation(target: &mut Value, op: &Value) -> Result<(), PatchError> {
    let path = pointer(text_member(op, "path")?)?;
    match text_member(op, "op")? {
        "add" => add(target, &path, value_member(op)?),
        "remove" => remove(target, &path).map(drop),
        "replace" => {
            remove(target, &path)?;
            add(target, &path, value_member(op)?)
        }
        "move" => {
            let from = pointer(text_member(op, "from")?)?;
            if path.starts_with(&from) && path.len() > from.len() {
                return Err(PatchError::NotApplicable(
                    "cannot move a value into itself".into(),
                ));
            }
            let value = remove(target, &from)?;
            add(target, &path, value)
        }
        "copy" => {
            let from = pointer(text_member(op, "from")?)?;
            let value = get(target, &from)?.clone();
            add(target, &path, value)
        }
        "test" => {
            let want = value_member(op)?;
            match get(target, &path)? == &want {
                true => Ok(()),
                false => Err(PatchError::NotApplicable(format!(
                    "test failed: the value at {} is not {want}",
                    text_member(op, "path")?
                ))),
            }
        }
        other => Err(PatchError::Malformed(format!("unknown op {other:?}"))),
    }
}

/// The tokens of a JSON pointer (`/a/b~1c` -> `a`, `b/c`).
fn pointer(text: &str) -> Result<Vec<String>, PatchError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(PatchError::Malformed(format!(
            "{text:?} is not a JSON pointer (it must start with /)"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn missing(path: &[String]) -> PatchError {
    PatchError::NotApplicable(format!("no value at /{}", path.join("/")))
}

fn index(token: &str, len: usize, path: &[String]) -> Result<usize, PatchError> {
    match token.parse::<usize>() {
        Ok(i) if i < len && (token == "0" || !token.starts_with('0')) => Ok(i),
        _ => Err(missing(path)),
    }
}

fn get<'a>(target: &'a Value, path: &[String]) -> Result<&'a Value, PatchError> {
    let mut at = target;
    for token in path {
        at = match at {
            Value::Object(map) => map.get(token),
            Value::Array(items) => items.get(index(token, items.len(), path)?),
            _ => None,
        }
        .ok_or_else(|| missing(path))?;
    }
    Ok(at)
}

fn parent<'a>(
    target: &'a mut Value,
    path: &[String],
) -> Result<(&'a mut Value, String), PatchError> {
    let Some((last, init)) = path.split_last() else {
        return Err(PatchError::NotApplicable(
            "the whole object cannot be added or removed".into(),
        ));
    };
    let mut at = target;
    for token in init {
        at = match at {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => {
                let i = index(token, items.len(), path)?;
                items.get_mut(i)
            }
            _ => None,
        }
        .ok_or_else(|| missing(path))?;
    }
    Ok((at, last.clone()))
}

fn add(target: &mut Value, path: &[String], value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (at, last) = parent(target, path)?;
    match at {
        Value::Object(map) => {
            map.insert(last, value);
        }
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => {
            let i = index(&last, items.len() + 1, path)?;
            items.insert(i, value);
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &[String]) -> Result<Value, PatchError> {
    let (at, last) = parent(target, path)?;
    match at {
        Value::Object(map) => map.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(items) => {
            let i = index(&last, items.len(), path)?;
            Ok(items.remove(i))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut v = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut v,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "l": [3]}),
        );
        assert_eq!(v, json!({"a": "z", "c": {"d": "e", "h": 1}, "l": [3]}));
        let mut scalar = json!(1);
        merge_patch(&mut scalar, &json!({"x": {"y": null}}));
        assert_eq!(scalar, json!({"x": {}}));
    }

    #[test]
    fn json_patch_operations() {
        let mut v = json!({"metadata": {"labels": {"a": "1"}}, "items": [1, 2]});
        json_patch(
            &mut v,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
                {"op": "add", "path": "/items/-", "value": 3},
                {"op": "add", "path": "/items/0", "value": 0},
                {"op": "remove", "path": "/items/1"},
                {"op": "copy", "from": "/items", "path": "/copy"},
                {"op": "move", "from": "/copy", "path": "/moved"},
                {"op": "test", "path": "/moved/0", "value": 0},
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "items": [0, 2, 3], "moved": [0, 2, 3]})
        );
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let mut v = json!({"a": 1});
        let err = json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}]),
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::NotApplicable(_)), "{err}");
        assert_eq!(v, json!({"a": 1}));
        for bad in [
            json!({}),
            json!([{"op": "add"}]),
            json!([{"op": "jump", "path": "/a"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
        ] {
            assert!(
                matches!(json_patch(&mut v, &bad), Err(PatchError::Malformed(_))),
                "{bad}"
            );
        }
        for bad in [
            json!([{"op": "remove", "path": "/x"}]),
            json!([{"op": "add", "path": "/a/b/c", "value": 1}]),
            json!([{"op": "remove", "path": ""}]),
        ] {
            assert!(
                matches!(json_patch(&mut v, &bad), Err(PatchError::NotApplicable(_))),
                "{bad}"
            );
        }
    }
}
