//! Finds where a key stands in the text of a mocks file, so that an error found while reading
//! the parsed value can still name a line and a column.
//!
//! The text has already been parsed by serde_json, so this scanner may assume it is valid JSON.

use mocket_protocols::field::PathSeg;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where `path` points in `text`: the key itself for an object member, the element for an array
/// index, or the nearest enclosing place that exists.
pub fn locate(text: &str, path: &[PathSeg]) -> Position {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    let mut found = pos;
    for seg in path {
        match (seg, bytes.get(pos)) {
            (PathSeg::Key(key), Some(b'{')) => match find_member(bytes, pos, key) {
                Some((key_at, value_at)) => {
                    found = key_at;
                    pos = value_at;
                }
                None => break,
            },
            (PathSeg::Index(index), Some(b'[')) => match find_element(bytes, pos, *index) {
                Some(at) => {
                    found = at;
                    pos = at;
                }
                None => break,
            },
            _ => break,
        }
    }
    position_of(text, found)
}

/// A key given twice in one object: serde_json keeps the last value silently, so the scanner
/// looks for them in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The path of the second occurrence, ending with the key.
    pub path: Vec<PathSeg>,
    pub first: Position,
    pub second: Position,
}

/// The first key given twice in one object of `text` (valid JSON, so its nesting is bounded by
/// serde_json's recursion limit).
pub fn find_duplicate_key(text: &str) -> Option<DuplicateKey> {
    let bytes = text.as_bytes();
    let mut path = Vec::new();
    let (first, second) = duplicate_in_value(bytes, skip_ws(bytes, 0), &mut path).err()?;
    Some(DuplicateKey {
        path,
        first: position_of(text, first),
        second: position_of(text, second),
    })
}

/// Walks the value at `pos`; `Ok` is the offset past it, `Err` the offsets of the two
/// occurrences of a duplicate key, with `path` left pointing at the second.
fn duplicate_in_value(
    b: &[u8],
    pos: usize,
    path: &mut Vec<PathSeg>,
) -> Result<usize, (usize, usize)> {
    match b.get(pos) {
        Some(b'{') => {
            let mut seen: std::collections::HashMap<String, usize> = Default::default();
            let mut pos = skip_ws(b, pos + 1);
            while b.get(pos) == Some(&b'"') {
                let key_at = pos;
                let key_end = skip_string(b, pos);
                let key: String = serde_json::from_slice(&b[key_at..key_end]).unwrap_or_default();
                pos = skip_ws(b, skip_ws(b, key_end) + 1); // past the ':'
                path.push(PathSeg::Key(key.clone()));
                if let Some(first) = seen.insert(key, key_at) {
                    return Err((first, key_at));
                }
                pos = skip_ws(b, duplicate_in_value(b, pos, path)?);
                path.pop();
                if b.get(pos) == Some(&b',') {
                    pos = skip_ws(b, pos + 1);
                }
            }
            Ok(pos + 1)
        }
        Some(b'[') => {
            let mut pos = skip_ws(b, pos + 1);
            let mut index = 0;
            while !matches!(b.get(pos), None | Some(b']')) {
                path.push(PathSeg::Index(index));
                pos = skip_ws(b, duplicate_in_value(b, pos, path)?);
                path.pop();
                index += 1;
                if b.get(pos) == Some(&b',') {
                    pos = skip_ws(b, pos + 1);
                }
            }
            Ok(pos + 1)
        }
        _ => Ok(skip_value(b, pos)),
    }
}

fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && b[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

/// The offsets of the key and of the value of member `key` of the object at `pos`.
fn find_member(b: &[u8], pos: usize, key: &str) -> Option<(usize, usize)> {
    let mut pos = skip_ws(b, pos + 1);
    while b.get(pos) == Some(&b'"') {
        let key_at = pos;
        let key_end = skip_string(b, pos);
        let this_key: Option<String> = serde_json::from_slice(&b[key_at..key_end]).ok();
        pos = skip_ws(b, key_end);
        pos = skip_ws(b, pos + 1); // the ':'
        if this_key.as_deref() == Some(key) {
            return Some((key_at, pos));
        }
        pos = skip_ws(b, skip_value(b, pos));
        if b.get(pos) == Some(&b',') {
            pos = skip_ws(b, pos + 1);
        }
    }
    None
}

fn find_element(b: &[u8], pos: usize, index: usize) -> Option<usize> {
    let mut pos = skip_ws(b, pos + 1);
    for _ in 0..index {
        if matches!(b.get(pos), None | Some(b']')) {
            return None;
        }
        pos = skip_ws(b, skip_value(b, pos));
        if b.get(pos) == Some(&b',') {
            pos = skip_ws(b, pos + 1);
        }
    }
    (!matches!(b.get(pos), None | Some(b']'))).then_some(pos)
}

/// The offset just past the string starting at `pos`.
fn skip_string(b: &[u8], mut pos: usize) -> usize {
    pos += 1;
    while pos < b.len() {
        match b[pos] {
            b'\\' => pos += 2,
            b'"' => return pos + 1,
            _ => pos += 1,
        }
    }
    pos
}

/// The offset just past the value starting at `pos`.
fn skip_value(b: &[u8], pos: usize) -> usize {
    match b.get(pos) {
        Some(b'"') => skip_string(b, pos),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut p = pos;
            while p < b.len() {
                match b[p] {
                    b'"' => {
                        p = skip_string(b, p);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return p + 1;
                        }
                    }
                    _ => {}
                }
                p += 1;
            }
            p
        }
        _ => {
            let mut p = pos;
            while p < b.len() && !b",}] \t\r\n".contains(&b[p]) {
                p += 1;
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PathSeg {
        PathSeg::Key(k.into())
    }

    const TEXT: &str = "{\n  \"strict\": true,\n  \"entries\": [\n    {\"tcp\": \"a:1\", \"x\": {\"y\": [1, 2]}},\n    { \"tcp\": \"b\",\n      \"response\": \"\\\"}\" }\n  ]\n}\n";

    #[test]
    fn finds_keys_and_elements() {
        assert_eq!(
            locate(TEXT, &[key("strict")]),
            Position { line: 2, column: 3 }
        );
        let p = locate(TEXT, &[key("entries"), PathSeg::Index(1), key("tcp")]);
        assert_eq!(p, Position { line: 5, column: 7 });
        let p = locate(TEXT, &[key("entries"), PathSeg::Index(1), key("response")]);
        assert_eq!(p, Position { line: 6, column: 7 });
        let p = locate(
            TEXT,
            &[
                key("entries"),
                PathSeg::Index(0),
                key("x"),
                key("y"),
                PathSeg::Index(1),
            ],
        );
        assert_eq!(
            p,
            Position {
                line: 4,
                column: 35
            }
        );
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth() {
        assert_eq!(find_duplicate_key(TEXT), None);
        assert_eq!(
            find_duplicate_key(r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#),
            None
        );
        let text = "{\"entries\": [{\"tcp\": \"a:1\"},\n {\"tcp\": \"b:1\", \"x\": [1, {}],\n  \"tcp\": \"c:1\"}]}";
        let dup = find_duplicate_key(text).unwrap();
        assert_eq!(
            dup.path,
            vec![key("entries"), PathSeg::Index(1), key("tcp")]
        );
        assert_eq!(dup.first, Position { line: 2, column: 3 });
        assert_eq!(dup.second, Position { line: 3, column: 3 });
        let escaped = find_duplicate_key(r#"{"a\u0062": 1, "ab": 2}"#).unwrap();
        assert_eq!(escaped.path, vec![key("ab")]);
    }

    #[test]
    fn missing_keys_point_at_the_nearest_parent() {
        let p = locate(TEXT, &[key("entries"), PathSeg::Index(1), key("nope")]);
        assert_eq!(p, Position { line: 5, column: 5 });
        assert_eq!(locate(TEXT, &[]), Position { line: 1, column: 1 });
        assert_eq!(locate(TEXT, &[key("entries"), PathSeg::Index(9)]).line, 3);
    }
}
