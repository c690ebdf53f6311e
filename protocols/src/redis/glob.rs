//! Redis's glob patterns (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`), as its `stringmatchlen` reads
//! them: `*`, `?`, `[abc]`, `[^a-z]`, and `\` to take the next character literally.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let rest = trim_stars(rest);
            rest.is_empty() || (0..=text.len()).any(|i| matches(rest, &text[i..]))
        }
        Some((b'?', rest)) => !text.is_empty() && matches(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = text.split_first() else {
                return false;
            };
            let (hit, after) = class(rest, c);
            hit && matches(after, tail)
        }
        Some((b'\\', rest)) if !rest.is_empty() => literal(rest[0], &rest[1..], text),
        Some((&p, rest)) => literal(p, rest, text),
    }
}

fn trim_stars(mut pattern: &[u8]) -> &[u8] {
    while let Some((b'*', rest)) = pattern.split_first() {
        pattern = rest;
    }
    pattern
}

fn literal(p: u8, rest: &[u8], text: &[u8]) -> bool {
    text.first() == Some(&p) && matches(rest, &text[1..])
}

/// A `[...]` class (the `[` already taken): whether `c` is in it, and the pattern after `]`.
/// An unterminated class runs to the end of the pattern, as in Redis.
fn class(mut p: &[u8], c: u8) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut hit = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', x, rest @ ..] => {
                hit |= *x == c;
                p = rest;
            }
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                hit |= (lo..=hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                hit |= *x == c;
                p = rest;
            }
        }
    }
    (hit != negate, p)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, t: &str) -> bool {
        matches(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:1"));
        assert!(!m("user:*", "users"));
        assert!(m("h?llo", "hello") && !m("h?llo", "hllo"));
        assert!(m("a**b", "axxb"));
        assert!(m("*:*:end", "a:b:c:end"));
        assert!(!m("*x", "abc"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && m("h[b-a]llo", "hallo"));
        assert!(m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(m("[\\]]", "]"));
        assert!(m("[abc", "b"));
        assert!(m("a[-]b", "a-b"));
    }
}
