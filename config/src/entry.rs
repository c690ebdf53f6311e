//! One entry of a mocks file, whatever its kind.

use std::path::Path;

use mocket_protocols::field::{self, Destination, FieldError};
use mocket_protocols::http::HttpEntry;
use mocket_protocols::kubernetes::KubernetesEntry;
use mocket_protocols::redis::RedisEntry;
use mocket_protocols::tcp::TcpEntry;
use serde_json::Value;

/// The kinds of entry, named by their kind key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Redis,
    Tcp,
    Kubernetes,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Redis => "redis",
            Kind::Tcp => "tcp",
            Kind::Kubernetes => "kubernetes",
        }
    }
}

const KIND_KEYS: &[&str] = &["http", "redis", "tcp", "kubernetes"];

/// An entry of a mocks file.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Boxed: an http entry is much larger than the others.
    Http(Box<HttpEntry>),
    Redis(RedisEntry),
    Tcp(TcpEntry),
    /// Boxed: it holds the seed objects.
    Kubernetes(Box<KubernetesEntry>),
}

/// Why one entry given on its own (the control protocol's `register`, not a file) cannot be
/// used: the key path inside the entry and the same message `mocket check` gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The key path inside the entry, such as `response.status`; empty for the whole entry.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.is_empty() {
            true => f.write_str(&self.message),
            false => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for EntryError {}

impl Entry {
    /// Reads one entry given without a file: the parser of the mocks file, with the key path
    /// relative to the entry (`mocket check` says `entries[3].response.status`, this says
    /// `response.status`, with the same message).
    pub fn parse_one(v: &Value, base_dir: &Path) -> Result<Self, EntryError> {
        Entry::from_json(v, base_dir).map_err(|e| EntryError {
            key: e.path_text(),
            message: e.message,
        })
    }

    /// Reads an entry; its kind key (`http`, `redis` or `tcp`) says which.
    /// `expect` is read apart ([`crate::expect::Expect::of_entry`]): it applies to every kind.
    pub fn from_json(v: &Value, base_dir: &Path) -> Result<Self, FieldError> {
        let map = field::object(v, "an entry")?;
        if map.contains_key("expect") {
            let mut without = map.clone();
            without.remove("expect");
            return Entry::from_json(&Value::Object(without), base_dir);
        }
        let kinds: Vec<&str> = KIND_KEYS
            .iter()
            .copied()
            .filter(|k| map.contains_key(*k))
            .collect();
        match kinds.as_slice() {
            ["http"] => HttpEntry::from_json(v, base_dir).map(|e| Entry::Http(Box::new(e))),
            ["redis"] => RedisEntry::from_json(v).map(Entry::Redis),
            ["tcp"] => TcpEntry::from_json(v).map(Entry::Tcp),
            ["kubernetes"] => KubernetesEntry::from_json(v).map(|e| Entry::Kubernetes(Box::new(e))),
            [] => Err(FieldError::new(format!(
                "an entry needs one kind key: {} (found keys: {})",
                KIND_KEYS.join(", "),
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
            [one] => Err(FieldError::new(format!(
                "\"{one}\" entries are not supported by this build of mocket yet"
            ))
            .in_key(one)),
            several => Err(FieldError::new(format!(
                "an entry has exactly one kind key, found {}",
                several.join(" and ")
            ))),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Entry::Http(_) => Kind::Http,
            Entry::Redis(_) => Kind::Redis,
            Entry::Tcp(_) => Kind::Tcp,
            Entry::Kubernetes(_) => Kind::Kubernetes,
        }
    }

    pub fn destination(&self) -> &Destination {
        match self {
            Entry::Http(e) => e.destination(),
            Entry::Redis(e) => &e.destination,
            Entry::Tcp(e) => &e.destination,
            Entry::Kubernetes(e) => &e.destination,
        }
    }

    /// How many uses the entry answers (`None`: unlimited).
    pub fn times(&self) -> Option<u64> {
        match self {
            Entry::Http(e) => e.times,
            Entry::Redis(e) => e.times,
            Entry::Tcp(e) => e.times,
            Entry::Kubernetes(_) => None,
        }
    }

    /// How a test names the entry: `POST https://api.stripe.com/v1/charges`,
    /// `redis cache.internal:6379 GET greeting`, `tcp legacy.internal:9000`.
    pub fn label(&self) -> String {
        match self {
            Entry::Http(e) => e.text.clone(),
            _ => self.summary(),
        }
    }

    /// How a report names the entry: `tcp legacy.internal:9000`.
    pub fn summary(&self) -> String {
        match self {
            Entry::Http(e) => format!("http {}", e.text),
            Entry::Redis(e) => format!("redis {} {}", e.destination, e.describe()),
            Entry::Kubernetes(e) => format!("kubernetes {}", e.url),
            _ => format!("{} {}", self.kind().key(), self.destination()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// The file-free message is `mocket check`'s, minus the file, position and `entries[0].`.
    #[test]
    fn one_entry_errors_match_the_file_errors() {
        let cases = [
            r#"{"http": "GET https://a.example/x", "respons": {}}"#,
            r#"{"http": "GET https://a.example/x", "response": {"status": "x"}}"#,
            r#"{"http": "GET a b", "response": {}}"#,
            r#"{"http": "GET https://a.example/x", "match": {"path_regex": "("}, "response": {}}"#,
            r#"{"nothing": 1}"#,
        ];
        for case in cases {
            let value: Value = serde_json::from_str(case).unwrap();
            let one = Entry::parse_one(&value, Path::new(".")).unwrap_err();
            let file = Config::parse(
                &format!("{{\"entries\": [{case}]}}"),
                "m.json",
                Path::new("."),
            )
            .unwrap_err();
            let file_key = file.key.strip_prefix("entries[0]").unwrap();
            assert_eq!(one.key, file_key.trim_start_matches('.'), "{case}");
            assert_eq!(one.message, file.message, "{case}");
            assert!(
                file.to_string().ends_with(&one.to_string()),
                "{file} vs {one}"
            );
        }
    }
}
