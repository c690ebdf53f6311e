//! What happened during a run, as `mocket run` prints it at the end.
//!
//! A crate of its own: it needs only the counts the engine hands it, not the engine.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;

/// How many unmatched requests, and how many never-used entries, a report lists word for word
/// (a screenful); the rest are counted.
const MAX_LISTED: usize = 20;

/// How many characters of one listed item (a request line, an entry summary) a report shows: a
/// 50 KB path must not fill the terminal.
pub const MAX_ITEM_CHARS: usize = 200;

/// `text` cut to [`MAX_ITEM_CHARS`] characters, with an ellipsis and the number of characters
/// left out.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_ITEM_CHARS) {
        None => text.into(),
        Some((end, _)) => {
            let left_out = text[end..].chars().count();
            format!("{}... ({left_out} more characters)", &text[..end]).into()
        }
    }
}

/// Counters the engine keeps while it runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Requests answered by entries: HTTP requests, Redis commands, raw TCP connections.
    pub mocked: u64,
    pub passthrough: u64,
    /// HTTP requests, Redis commands and raw TCP connections recorded / replayed.
    pub recorded: u64,
    pub replayed: u64,
    /// Refused destinations (`host:port` or `dns name`) with how often each was refused.
    pub refused: BTreeMap<String, u64>,
    pub unmatched_count: u64,
    /// The first few unmatched requests, each with why nothing matched.
    pub unmatched: Vec<String>,
    /// Entries that answered nothing, as `#index summary`.
    pub unused_entries: Vec<String>,
    /// The entries of closed test scopes, as `#id summary (test "name"): N request(s)`.
    pub scope_entries: Vec<String>,
    /// Entries whose `expect` failed, as `#index summary: expected exactly 2, used 1 time(s)`.
    pub failed_expectations: Vec<String>,
    /// `--fail-unused` / `MOCKET_FAIL_UNUSED=1`: an entry never used fails the run.
    pub fail_unused: bool,
}

impl Report {
    pub fn count_refused(&mut self, what: String) {
        let what = match cut(&what) {
            std::borrow::Cow::Borrowed(_) => what,
            std::borrow::Cow::Owned(short) => short,
        };
        *self.refused.entry(what).or_default() += 1;
    }

    pub fn count_unmatched(&mut self, what: &str) {
        self.unmatched_count += 1;
        if self.unmatched.len() < MAX_LISTED {
            self.unmatched.push(cut(what).into_owned());
        }
    }

    /// A run fails when something was refused or a request matched nothing, even if the
    /// command under test succeeded: a test that silently missed its mocks is not a pass.
    pub fn failed(&self) -> bool {
        !self.refused.is_empty()
            || self.unmatched_count > 0
            || !self.failed_expectations.is_empty()
            || (self.fail_unused && !self.unused_entries.is_empty())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let refused: u64 = self.refused.values().sum();
        writeln!(
            f,
            "mocket: {} mocked, {} refused, {} passed through, {} unmatched",
            self.mocked, refused, self.passthrough, self.unmatched_count
        )?;
        if self.recorded + self.replayed > 0 {
            writeln!(
                f,
                "mocket: {} recorded, {} replayed",
                self.recorded, self.replayed
            )?;
        }
        for (what, n) in &self.refused {
            writeln!(
                f,
                "  refused {what}{}",
                if *n > 1 {
                    format!(" ({n} times)")
                } else {
                    String::new()
                }
            )?;
        }
        for what in &self.unmatched {
            writeln!(f, "  unmatched {what}")?;
        }
        if self.unmatched_count as usize > self.unmatched.len() {
            writeln!(
                f,
                "  ... and {} more unmatched",
                self.unmatched_count as usize - self.unmatched.len()
            )?;
        }
        for entry in self.failed_expectations.iter().take(MAX_LISTED) {
            writeln!(f, "  expectation failed: entry {}", cut(entry))?;
        }
        if self.failed_expectations.len() > MAX_LISTED {
            writeln!(
                f,
                "  ... and {} more expectations failed",
                self.failed_expectations.len() - MAX_LISTED
            )?;
        }
        let unused = match self.fail_unused {
            true => "never used (--fail-unused)",
            false => "never used",
        };
        for entry in self.unused_entries.iter().take(MAX_LISTED) {
            writeln!(f, "  {unused}: entry {}", cut(entry))?;
        }
        if self.unused_entries.len() > MAX_LISTED {
            writeln!(
                f,
                "  ... and {} more entries never used",
                self.unused_entries.len() - MAX_LISTED
            )?;
        }
        for entry in self.scope_entries.iter().take(MAX_LISTED) {
            writeln!(f, "  test entry {}", cut(entry))?;
        }
        if self.scope_entries.len() > MAX_LISTED {
            writeln!(
                f,
                "  ... and {} more test entries",
                self.scope_entries.len() - MAX_LISTED
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_fails_on_refusals() {
        let mut r = Report {
            mocked: 2,
            ..Report::default()
        };
        assert!(!r.failed());
        r.count_refused("api.example.com:443".into());
        r.count_refused("api.example.com:443".into());
        r.unused_entries.push("#1 tcp a:1".into());
        assert!(r.failed());
        let text = r.to_string();
        assert!(
            text.starts_with("mocket: 2 mocked, 2 refused, 0 passed through, 0 unmatched\n"),
            "{text}"
        );
        assert!(text.contains("refused api.example.com:443 (2 times)"));
        assert!(text.contains("never used: entry #1 tcp a:1"));
    }

    #[test]
    fn lists_test_entries_with_their_test() {
        let r = Report {
            scope_entries: vec![
                "#3 http GET https://a.example/x (test \"t::one\"): 2 request(s)".into(),
            ],
            ..Report::default()
        };
        assert!(!r.failed());
        assert!(
            r.to_string().contains(
                "  test entry #3 http GET https://a.example/x (test \"t::one\"): 2 request(s)\n"
            ),
            "{r}"
        );
    }

    #[test]
    fn failed_expectations_and_fail_unused_fail_the_run() {
        let mut r = Report {
            unused_entries: vec!["#1 tcp a:1".into()],
            ..Report::default()
        };
        assert!(!r.failed());
        r.fail_unused = true;
        assert!(r.failed());
        assert!(
            r.to_string()
                .contains("  never used (--fail-unused): entry #1 tcp a:1\n")
        );
        let r = Report {
            failed_expectations: vec![
                "#0 http GET http://a/: expected exactly 2, used 1 time(s)".into(),
            ],
            ..Report::default()
        };
        assert!(r.failed());
        assert!(r.to_string().contains(
            "  expectation failed: entry #0 http GET http://a/: expected exactly 2, used 1 time(s)\n"
        ));
    }

    #[test]
    fn lists_only_the_first_unmatched() {
        let mut r = Report::default();
        for i in 0..25 {
            r.count_unmatched(&format!("req {i}"));
        }
        assert_eq!(r.unmatched.len(), MAX_LISTED);
        assert!(r.to_string().contains("... and 5 more unmatched"));
    }

    #[test]
    fn lists_a_screenful_of_unused_entries() {
        let r = Report {
            unused_entries: (0..100_000).map(|i| format!("#{i} tcp a:{i}")).collect(),
            ..Report::default()
        };
        let text = r.to_string();
        assert_eq!(text.matches("never used").count(), MAX_LISTED + 1, "{text}");
        assert!(text.contains("entry #19 tcp a:19\n"), "{text}");
        assert!(
            text.contains("... and 99980 more entries never used"),
            "{text}"
        );
    }

    #[test]
    fn cuts_long_items() {
        let mut r = Report::default();
        let path = "/x".repeat(25_000);
        r.count_unmatched(&format!(
            "http a:80: GET {path}: no entry matched (closest: {path})"
        ));
        r.count_refused(format!("tcp {path}:80"));
        r.unused_entries.push(format!("#0 http GET {path}"));
        let text = r.to_string();
        assert!(text.len() < 1_000, "{} bytes", text.len());
        assert_eq!(text.matches("more characters)").count(), 3, "{text}");
        assert_eq!(cut("short"), "short");
        assert_eq!(
            cut(&"é".repeat(201)),
            format!("{}... (1 more characters)", "é".repeat(200))
        );
    }
}
