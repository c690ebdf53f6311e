//! The mocks file (DESIGN.md section 3): reading, validating and the overrides from the
//! environment and the command line (section 4).
//!
//! A broken file is never half-used: [`Config::parse`] returns the first error, located by file,
//! line, column and key, and nothing of the file.
//!
//! The decisions made from it live here too: [`policy`] says which destinations are allowed
//! through to the real network. The engine (`mocket-engine`) serves connections by them.

#![forbid(unsafe_code)]

mod destinations;
mod entry;
pub mod expect;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod policy;
pub mod settings;
pub mod spans;
pub mod unmatched;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use mocket_protocols::field::{self, Destination, FieldError, PathSeg, normalize_host};
use serde_json::Value;

pub use entry::{Entry, EntryError, Kind};
pub use settings::{LogLevel, Settings};
pub use unmatched::Unmatched;

use crate::policy::AllowList;

/// A validated mocks file with its overrides applied.
#[derive(Debug, Clone)]
pub struct Config {
    pub strict: bool,
    pub allow: AllowList,
    pub entries: Vec<Entry>,
    /// `unmatched`: what an HTTP request that matches no entry gets.
    pub unmatched: Unmatched,
    /// `MOCKET_UPSTREAM_CA`: more CAs trusted for TLS to real servers (recording and
    /// passthrough); not a key of the mocks file.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Recording and replay of everything that is neither an entry nor allowed
    /// (`MOCKET_RECORD_DIR`); not a key of the mocks file.
    pub record: Option<mocket_recordings::RecordSettings>,
    /// `MOCKET_MAX_BODY`: the most of a request body held for an entry that matches on the
    /// body; a longer body gets `413`. Bodies no entry looks at are never held.
    pub max_body: usize,
    /// The `expect` of each entry that has one, by entry index.
    pub expectations: Vec<(usize, expect::Expect)>,
    /// Entry indexes by destination and host pattern: the engine never scans every entry.
    destinations: destinations::DestinationIndex,
}

impl Default for Config {
    fn default() -> Self {
        Config::new(true, AllowList::default_rules(), Vec::new())
    }
}

/// Why a mocks file (or an override) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or the variable or flag that carried the bad value.
    pub origin: String,
    pub position: Option<spans::Position>,
    /// The key path, such as `entries[2].response.status`; empty for the whole document.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The largest mocks file read: far above any hand-written file, and a bound on what a wrong
/// path (a log, a device) can make every engine hold in memory.
const MAX_MOCKS_FILE_BYTES: u64 = 64 << 20;

const TOP_KEYS: &[&str] = &["strict", "allow", "entries", "unmatched"];

impl Config {
    pub fn new(strict: bool, allow: AllowList, entries: Vec<Entry>) -> Self {
        Config {
            expectations: Vec::new(),
            destinations: destinations::DestinationIndex::new(&entries),
            strict,
            allow,
            entries,
            unmatched: Unmatched::default(),
            upstream_ca: None,
            record: None,
            max_body: mocket_protocols::http::DEFAULT_MAX_BODY,
        }
    }

    /// Reads and validates the mocks file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let unreadable = |message: String| ConfigError {
            origin: path.display().to_string(),
            position: None,
            key: String::new(),
            message: format!("cannot read the mocks file: {message}"),
        };
        let bytes = field::read_regular_file(path, MAX_MOCKS_FILE_BYTES)
            .map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| unreadable(format!("it is not UTF-8 text ({e})")))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &path.display().to_string(), &base)
    }

    /// Validates the text of a mocks file; `origin` names it in errors and `base_dir` anchors
    /// the relative paths inside it.
    pub fn parse(text: &str, origin: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| ConfigError {
            origin: origin.to_string(),
            position: Some(spans::Position {
                line: e.line(),
                column: e.column(),
            }),
            key: String::new(),
            message: format!("invalid JSON: {}", strip_position(&e.to_string())),
        })?;
        if let Some(dup) = spans::find_duplicate_key(text) {
            return Err(duplicate_key_error(origin, dup));
        }
        Config::from_value(&doc, base_dir).map_err(|e| ConfigError {
            origin: origin.to_string(),
            position: Some(spans::locate(text, &e.path)),
            key: e.path_text(),
            message: e.message,
        })
    }

    fn from_value(doc: &Value, base_dir: &Path) -> Result<Self, FieldError> {
        let map = field::object(doc, "a mocks file")?;
        field::reject_unknown_keys(map, TOP_KEYS)?;
        let strict = match map.get("strict") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(FieldError::new(format!(
                    "strict must be true or false, found {}",
                    field::type_name(v)
                ))
                .in_key("strict"));
            }
        };
        let allow = match map.get("allow") {
            None => AllowList::default_rules(),
            Some(v) => allow_list(v).map_err(|e| e.in_key("allow"))?,
        };
        let unmatched = match map.get("unmatched") {
            None => Unmatched::default(),
            Some(v) => Unmatched::from_json(v).map_err(|e| e.in_key("unmatched"))?,
        };
        let mut expectations = Vec::new();
        let entries = match map.get("entries") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let entry = Entry::from_json(v, base_dir).map_err(|e| e.in_index(i))?;
                    if let Some(expect) = expect::Expect::of_entry(v).map_err(|e| e.in_index(i))? {
                        expectations.push((i, expect));
                    }
                    Ok(entry)
                })
                .collect::<Result<_, FieldError>>()
                .map_err(|e| e.in_key("entries"))?,
            Some(v) => {
                return Err(FieldError::new(format!(
                    "entries must be an array, found {}",
                    field::type_name(v)
                ))
                .in_key("entries"));
            }
        };
        let mut config = Config::new(strict, allow, entries);
        config.expectations = expectations;
        config.unmatched = unmatched;
        Ok(config)
    }

    /// The indexes of the entries for `dest`: those of its exact host in file order, then
    /// those of the host patterns that cover it (unless an exact allow rule names the host).
    pub fn entries_for(&self, dest: &Destination) -> Cow<'_, [usize]> {
        self.destinations.entries_for(dest, || {
            self.allow.names_exactly(&dest.host, Some(dest.port))
        })
    }

    /// Whether some entry names `host` (exactly, or by a pattern no exact allow rule
    /// overrides), on any port.
    pub fn names_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.destinations.names_exactly(&host)
            || (self.destinations.pattern_covers(&host) && !self.allow.names_exactly(&host, None))
    }
}

fn allow_list(v: &Value) -> Result<AllowList, FieldError> {
    let items = v.as_array().ok_or_else(|| {
        FieldError::new(format!(
            "allow must be an array of strings, found {}",
            field::type_name(v)
        ))
    })?;
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = field::string(item, "an allow rule").map_err(|e| e.in_index(i))?;
        rules.push(text);
    }
    AllowList::parse(&rules).map_err(|message| {
        let i = rules
            .iter()
            .position(|r| AllowList::parse(&[r]).is_err())
            .unwrap_or(0);
        FieldError {
            path: vec![PathSeg::Index(i)],
            message: message.to_string(),
        }
    })
}

fn duplicate_key_error(origin: &str, dup: spans::DuplicateKey) -> ConfigError {
    let name = match dup.path.last() {
        Some(PathSeg::Key(k)) => k.clone(),
        _ => String::new(),
    };
    ConfigError {
        origin: origin.to_string(),
        position: Some(dup.second),
        key: field::path_text(&dup.path),
        message: format!(
            "duplicate key \"{name}\" (first given at line {}, column {}): JSON would keep only \
             the last value; give the key once",
            dup.first.line, dup.first.column
        ),
    }
}

/// serde_json appends " at line L column C", which the error already says in front.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "mocks.json", Path::new("."))
    }

    #[test]
    fn defaults() {
        let c = parse("{}").unwrap();
        assert!(c.strict);
        assert_eq!(c.allow, AllowList::default_rules());
        assert!(c.entries.is_empty());
    }

    #[test]
    fn indexes_entries_by_destination() {
        let c = parse(
            r#"{"strict": false, "allow": [], "entries": [
                {"tcp": "a:1", "response": "x"}, {"tcp": "b:1", "response": "y"},
                {"tcp": "A:1", "response": "z"}]}"#,
        )
        .unwrap();
        assert!(!c.strict);
        assert!(c.allow.0.is_empty());
        assert_eq!(*c.entries_for(&Destination::new("a", 1)), [0, 2]);
        assert!(c.entries_for(&Destination::new("a", 2)).is_empty());
        assert!(c.names_host("b"));
    }

    #[test]
    fn exact_hosts_then_patterns_nearest_first() {
        let c = parse(
            r#"{"allow": ["real.example.com"], "entries": [
                {"tcp": "*.example.com:1", "response": "p"},
                {"tcp": "a.example.com:1", "response": "x"},
                {"tcp": "*.a.example.com:1", "response": "q"},
                {"tcp": "*.example.com:2", "response": "r"}]}"#,
        )
        .unwrap();
        assert_eq!(
            *c.entries_for(&Destination::new("a.example.com", 1)),
            [1, 0]
        );
        assert_eq!(
            *c.entries_for(&Destination::new("b.a.example.com", 1)),
            [2, 0]
        );
        assert_eq!(*c.entries_for(&Destination::new("B.Example.COM", 2)), [3]);
        assert!(
            c.entries_for(&Destination::new("example.com", 1))
                .is_empty()
        );
        assert!(
            c.entries_for(&Destination::new("real.example.com", 1))
                .is_empty()
        );
        assert!(c.names_host("Z.example.com"));
        assert!(!c.names_host("real.example.com"));
        assert!(!c.names_host("example.com"));
        let err =
            parse(r#"{"entries": [{"http": "GET http://a.*.com/", "response": {}}]}"#).unwrap_err();
        assert_eq!(err.key, "entries[0].http");
        assert!(err.message.contains("\"*.\" then a domain"), "{err}");
        assert_eq!(
            parse(r#"{"allow": ["ok", "*x.com"]}"#).unwrap_err().key,
            "allow[1]"
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse("{\n  \"strict\": tXue\n}").unwrap_err();
        assert_eq!(err.position.map(|p| p.line), Some(2));
        let text = err.to_string();
        assert!(text.starts_with("mocks.json:2:"), "{text}");
        assert!(text.contains("invalid JSON"), "{text}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = parse("{\"entries\": [\n {\"tcp\": \"a:1\", \"response\": \"x\"},\n {\"tcp\": \"b:1\",\n  \"greeting\": 7, \"response\": \"x\"}]}").unwrap_err();
        assert_eq!(err.key, "entries[1].greeting");
        assert_eq!(err.position, Some(spans::Position { line: 4, column: 3 }));
        assert!(
            err.to_string()
                .starts_with("mocks.json:4:3: entries[1].greeting: "),
            "{err}"
        );
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_places() {
        let err = parse("{\"strict\": false,\n \"entries\": [{\"tcp\": \"a:1\",\n   \"response\": \"x\", \"response\": \"y\"}]}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "mocks.json:3:21: entries[0].response: duplicate key \"response\" (first given at \
             line 3, column 4): JSON would keep only the last value; give the key once"
        );
        assert_eq!(
            parse(r#"{"strict": true, "strict": true}"#)
                .unwrap_err()
                .key,
            "strict"
        );
    }

    #[test]
    fn unmatched_is_501_or_passthrough_with_a_located_error() {
        assert_eq!(parse("{}").unwrap().unmatched, Unmatched::Answer501);
        let c = parse(r#"{"unmatched": "passthrough"}"#).unwrap();
        assert_eq!(c.unmatched, Unmatched::Passthrough);
        let err = parse("{\"strict\": false,\n \"unmatched\": \"pasthrough\"}").unwrap_err();
        assert_eq!(err.key, "unmatched");
        assert_eq!(err.position, Some(spans::Position { line: 2, column: 2 }));
        assert!(
            err.to_string()
                .starts_with("mocks.json:2:2: unmatched: unmatched must be \"501\""),
            "{err}"
        );
        assert!(err.message.ends_with("found \"pasthrough\""), "{err}");
    }

    #[test]
    fn bad_top_level_values() {
        assert_eq!(parse(r#"{"strict": 1}"#).unwrap_err().key, "strict");
        assert_eq!(
            parse(r#"{"allow": ["ok", "a b"]}"#).unwrap_err().key,
            "allow[1]"
        );
        assert_eq!(parse(r#"{"entries": {}}"#).unwrap_err().key, "entries");
        assert!(
            parse(r#"{"entrys": []}"#)
                .unwrap_err()
                .message
                .contains("did you mean \"entries\"")
        );
        assert_eq!(
            parse(r#"{"entries": [{"nothing": 1}]}"#).unwrap_err().key,
            "entries[0]"
        );
        assert!(
            parse("[]")
                .unwrap_err()
                .message
                .contains("must be an object")
        );
    }
}
