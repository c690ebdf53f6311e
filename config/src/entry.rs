//! One entry of a mocks file, whatever its kind.

use std::path::Path;

use mocket_protocols::field::{self, Destination, FieldError};
use mocket_protocols::http::HttpEntry;
use mocket_protocols::redis::RedisEntry;
use mocket_protocols::tcp::TcpEntry;
use serde_json::Value;

/// The kinds of entry, named by their kind key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Redis,
    Tcp,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Redis => "redis",
            Kind::Tcp => "tcp",
        }
    }
}

const KIND_KEYS: &[&str] = &["http", "redis", "tcp"];

/// An entry of a mocks file.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Boxed: an http entry is much larger than the others.
    Http(Box<HttpEntry>),
    Redis(RedisEntry),
    Tcp(TcpEntry),
}

impl Entry {
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
        }
    }

    pub fn destination(&self) -> &Destination {
        match self {
            Entry::Http(e) => e.destination(),
            Entry::Redis(e) => &e.destination,
            Entry::Tcp(e) => &e.destination,
        }
    }

    /// How many uses the entry answers (`None`: unlimited).
    pub fn times(&self) -> Option<u64> {
        match self {
            Entry::Http(e) => e.times,
            Entry::Redis(e) => e.times,
            Entry::Tcp(e) => e.times,
        }
    }

    /// How a report names the entry: `tcp legacy.internal:9000`.
    pub fn summary(&self) -> String {
        match self {
            Entry::Http(e) => format!("http {}", e.text),
            Entry::Redis(e) => format!("redis {} {}", e.destination, e.describe()),
            _ => format!("{} {}", self.kind().key(), self.destination()),
        }
    }
}
