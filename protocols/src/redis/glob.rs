//! Redis's glob patterns (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`), as its `stringmatchlen` reads
//! them: `*`, `?`, `[abc]`, `[^a-z]`, and `\` to take the next character literally.
//!
//! Redis matches by recursion on each `*`; done that way here, `*a*a*a*a*a*a*a*a*a*ab` took
//! seconds per key. The pattern is instead read once into tokens that each match one byte,
//! and matched with the greedy algorithm that backtracks only to the last `*`: at most
//! (text + 1) x (tokens + 1) steps, whatever the pattern.
//!
//! Redis's reading is kept where it differs from a textbook glob:
//! - an empty text matches only an empty pattern (`*` does not match `""`; `KEYS *` and
//!   `SCAN MATCH *` skip matching altogether, as Redis does);
//! - `[a-]` is the range from `a` to `]`, and a class without its `]` runs to the end of the
//!   pattern; ranges compare bytes as C's signed `char` does on x86-64;
//! - a match that needs more than 1000 `*` followed by something else fails (Redis's guard
//!   against abusive patterns).

/// How many `*` a match may pass through before Redis gives up (its recursion limit).
const MAX_STARS: usize = 1000;

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    Glob::new(pattern).matches(text)
}

/// A pattern read once, to match many texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// More `*` before other tokens than Redis follows: nothing but `""` vs `""` matches.
    abusive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Any run of bytes, consecutive `*` as one.
    Star,
    /// `?`: any one byte.
    Any,
    Byte(u8),
    Class {
        negate: bool,
        members: Vec<Member>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Byte(u8),
    /// Inclusive, in C `char` order, low first.
    Range(i8, i8),
}

impl Token {
    fn accepts(&self, c: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(b) => *b == c,
            Token::Class { negate, members } => {
                let hit = members.iter().any(|m| match m {
                    Member::Byte(b) => *b == c,
                    Member::Range(lo, hi) => (*lo..=*hi).contains(&(c as i8)),
                });
                hit != *negate
            }
        }
    }
}

impl Glob {
    pub fn new(pattern: &[u8]) -> Glob {
        let mut tokens = Vec::new();
        let mut p = pattern;
        while let Some((&first, rest)) = p.split_first() {
            p = rest;
            let token = match first {
                b'*' if tokens.last() == Some(&Token::Star) => continue,
                b'*' => Token::Star,
                b'?' => Token::Any,
                b'[' => {
                    let (token, after) = class(p);
                    p = after;
                    token
                }
                b'\\' if !p.is_empty() => {
                    p = &p[1..];
                    Token::Byte(rest[0])
                }
                other => Token::Byte(other),
            };
            tokens.push(token);
        }
        let stars = tokens.iter().filter(|t| **t == Token::Star).count();
        let inner_stars = stars - usize::from(tokens.last() == Some(&Token::Star));
        Glob {
            tokens,
            abusive: inner_stars > MAX_STARS,
        }
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        self.matches_counting(text, &mut 0)
    }

    /// [`Glob::matches`], adding the steps taken to `steps`.
    fn matches_counting(&self, text: &[u8], steps: &mut usize) -> bool {
        if text.is_empty() {
            return self.tokens.is_empty();
        }
        if self.abusive {
            return false;
        }
        let tokens = &self.tokens;
        let (mut p, mut t) = (0, 0);
        // After the last `*` seen: where the pattern resumes, and the text position it was
        // last tried at; on a mismatch the `*` takes one byte more.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            *steps += 1;
            match tokens.get(p) {
                Some(Token::Star) => {
                    p += 1;
                    star = Some((p, t));
                }
                Some(token) if token.accepts(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match &mut star {
                    Some((resume, tried)) => {
                        *tried += 1;
                        p = *resume;
                        t = *tried;
                    }
                    None => return false,
                },
            }
        }
        tokens[p..].iter().all(|t| *t == Token::Star)
    }
}

/// A `[...]` class (the `[` already taken): the token and the pattern after it, read as
/// Redis reads it (see the module docs).
fn class(mut p: &[u8]) -> (Token, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut members = Vec::new();
    loop {
        match p {
            [b'\\', x, rest @ ..] => {
                members.push(Member::Byte(*x));
                p = rest;
            }
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [] => break,
            [lo, b'-', hi, rest @ ..] => {
                let (lo, hi) = (*lo as i8, *hi as i8);
                members.push(Member::Range(lo.min(hi), lo.max(hi)));
                p = rest;
            }
            [x, rest @ ..] => {
                members.push(Member::Byte(*x));
                p = rest;
            }
        }
    }
    (Token::Class { negate, members }, p)
}

#[cfg(test)]
mod tests {
    use super::{Glob, matches};

    fn m(p: &str, t: &str) -> bool {
        matches(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:1"));
        assert!(!m("user:*", "users"));
        assert!(m("h?llo", "hello") && !m("h?llo", "hllo"));
        assert!(m("a**b", "axxb"));
        assert!(m("*:*:end", "a:b:c:end"));
        assert!(!m("*x", "abc"));
        assert!(m("a*", "a") && m("*a*", "a") && m("a*b*", "ab"));
        assert!(m("*b*d", "abcbd") && !m("*b*d", "abcbe"));
        assert!(m("*ab", "aab") && m("*aab", "aaab"));
        assert!(m("", "") && !m("", "a"));
    }

    #[test]
    fn an_empty_text_matches_only_an_empty_pattern_as_in_redis() {
        assert!(!m("*", ""));
        assert!(!m("**", ""));
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
        assert!(m("a\\", "a\\"), "a lone trailing backslash is itself");
        assert!(!m("[]a", "a") && !m("[]a", "]a"), "[] is an empty class");
        assert!(m("[^]a", "xa"));
    }

    #[test]
    fn redis_reads_a_dash_before_the_closing_bracket_as_a_range() {
        // `[a-]` is `]`..`a` (and the class is then unterminated), as KEYS x[a-] shows on
        // Redis 7: it matches x] and not xb; x[b-] matches both.
        assert!(m("x[a-]", "x]") && m("x[a-]", "x_") && !m("x[a-]", "xb"));
        assert!(m("x[b-]", "xb") && m("x[b-]", "x]"));
        assert!(m("x[\\]", "x]"));
    }

    #[test]
    fn ranges_compare_as_signed_chars_like_redis_on_x86() {
        // 'a'..0xff is, in signed chars, -1..97: 0x00-0x61 and 0xff, not 0x80.
        let glob = Glob::new(b"[a-\xff]");
        assert!(glob.matches(b"\xff") && glob.matches(b"0") && glob.matches(b"a"));
        assert!(!glob.matches(b"\x80") && !glob.matches(b"b"));
    }

    #[test]
    fn more_than_a_thousand_inner_stars_never_match_as_in_redis() {
        let text = vec![b'a'; 1100];
        let pattern = |n: usize| [b"*a".repeat(n), b"*".to_vec()].concat();
        assert!(Glob::new(&pattern(1000)).matches(&text));
        assert!(!Glob::new(&pattern(1001)).matches(&text));
    }

    #[test]
    fn the_pathological_pattern_takes_at_most_text_times_pattern_steps() {
        for stars in [9usize, 12, 30] {
            let pattern = [b"*a".repeat(stars), b"b".to_vec()].concat();
            let glob = Glob::new(&pattern);
            for len in [10usize, 100, 1000] {
                let text = vec![b'a'; len];
                let mut steps = 0;
                assert!(!glob.matches_counting(&text, &mut steps));
                let bound = (len + 1) * (glob.tokens.len() + 1);
                assert!(
                    steps <= bound,
                    "{stars} stars, {len} bytes: {steps} > {bound}"
                );
                let mut hit = text.clone();
                hit.push(b'b');
                assert_eq!(glob.matches(&hit), len >= stars);
            }
        }
    }

    /// The greedy matcher against a plain recursive reference (Redis's algorithm without its
    /// shortcuts), over every pattern and text of a small alphabet.
    #[test]
    fn agrees_with_a_recursive_reference_on_small_inputs() {
        fn reference(p: &[super::Token], t: &[u8]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((super::Token::Star, rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                Some((tok, rest)) => {
                    t.first().is_some_and(|c| tok.accepts(*c)) && reference(rest, &t[1..])
                }
            }
        }
        let alphabet: &[u8] = b"ab*?[]^-\\";
        let texts: &[&[u8]] = &[
            b"a", b"b", b"ab", b"ba", b"aab", b"abab", b"]", b"-", b"a-b", b"*?",
        ];
        let mut patterns: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = patterns
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| [p.as_slice(), &[*c]].concat()))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        for pattern in &patterns {
            let glob = Glob::new(pattern);
            for text in texts {
                assert_eq!(
                    glob.matches(text),
                    reference(&glob.tokens, text),
                    "{:?} vs {:?}",
                    String::from_utf8_lossy(pattern),
                    String::from_utf8_lossy(text)
                );
            }
        }
    }
}
