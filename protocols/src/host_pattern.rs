//! Host patterns (DESIGN.md section 7): `*.example.com` stands for one or more labels in front
//! of `example.com` (`a.example.com`, `a.b.example.com`, not `example.com` itself). A `*` is
//! allowed only there, as the whole first label.
//!
//! Matching never scans patterns: a host is looked up by each of its parent domains
//! ([`parent_domains`]), so a pattern costs a few hash lookups whatever their number.

use std::fmt;

/// What a pattern looks like, for error messages.
const FORM: &str = "a host pattern is \"*.\" then a domain, as in \"*.example.com\" (the * stands for one or more labels)";

/// Why a host with a `*` is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern(pub String);

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\": {FORM}; a * anywhere else is not allowed",
            self.0
        )
    }
}

impl std::error::Error for BadPattern {}

/// The domain of a pattern host (`example.com` for `*.example.com`); `None` for an exact host.
pub fn pattern_domain(host: &str) -> Option<&str> {
    host.strip_prefix("*.")
}

/// Checks where the `*`s of `host` are: none, or exactly one as the whole first label of a
/// host with a domain after it.
pub fn check(host: &str) -> Result<(), BadPattern> {
    if !host.contains('*') {
        return Ok(());
    }
    match pattern_domain(host) {
        Some(domain)
            if !domain.is_empty()
                && !domain.contains('*')
                && !domain.starts_with('.')
                && !domain.contains("..") =>
        {
            Ok(())
        }
        _ => Err(BadPattern(host.to_string())),
    }
}

/// The parent domains of `host`, nearest first: `b.example.com`, `example.com`, `com` for
/// `a.b.example.com`. A pattern `*.D` matches `host` when D is one of them.
pub fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    host.match_indices('.')
        .map(move |(i, _)| &host[i + 1..])
        .filter(|d| !d.is_empty())
}

/// Whether `pattern` (a host, exact or `*.domain`, both normalized) covers `host` (normalized).
pub fn covers(pattern: &str, host: &str) -> bool {
    match pattern_domain(pattern) {
        None => pattern == host,
        Some(domain) => parent_domains(host).any(|d| d == domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_only_as_the_first_label() {
        for ok in ["example.com", "*.example.com", "*.com", "*.a.b.c"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "*",
            "*.",
            "a*.example.com",
            "*example.com",
            "a.*.example.com",
            "*.*.com",
            "example.*",
            "*..com",
        ] {
            let err = check(bad).unwrap_err().to_string();
            assert!(err.contains("\"*.\" then a domain"), "{bad}: {err}");
        }
    }

    #[test]
    fn one_or_more_labels() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "badexample.com"));
        assert!(!covers("*.example.com", "a.example.com.evil"));
        assert!(covers("api.example.com", "api.example.com"));
        assert!(!covers("api.example.com", "x.api.example.com"));
        assert_eq!(parent_domains("a.b.c").collect::<Vec<_>>(), ["b.c", "c"]);
        assert_eq!(parent_domains("localhost").count(), 0);
    }
}
