//! The journal: one JSON object per intercepted event, appended to `MOCKET_JOURNAL`.
//!
//! Every event is written with a single `write` on a file opened with `O_APPEND`, so several
//! processes (each with an embedded engine) can share one journal without tearing lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

/// What happened to a connection, request or lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Mocked,
    Unmatched,
    Passthrough,
    Refused,
    /// Proxied to the real destination and written to the cassette.
    Recorded,
    /// Answered from the cassette.
    Replayed,
    /// The client went away before it made a request (e.g. during the TLS handshake).
    Closed,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Mocked => "mocked",
            Action::Unmatched => "unmatched",
            Action::Passthrough => "passthrough",
            Action::Refused => "refused",
            Action::Recorded => "recorded",
            Action::Replayed => "replayed",
            Action::Closed => "closed",
        }
    }
}

/// One journal line.
#[derive(Debug, Clone)]
pub struct Event {
    fields: Map<String, Value>,
}

impl Event {
    pub fn new(pid: u32, host: &str, port: Option<u16>, protocol: &str, action: Action) -> Self {
        let fields = json!({
            "pid": pid, "host": host, "port": port, "protocol": protocol,
            "action": action.name(), "entry": null,
        });
        let Value::Object(fields) = fields else {
            unreachable!("json! of an object")
        };
        Event { fields }
    }

    pub fn entry(mut self, index: Option<usize>) -> Self {
        self.fields.insert("entry".into(), json!(index));
        self
    }

    /// Adds a field specific to the protocol (`request`, `response`, `command`, `reason`...).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.into(), value);
        self
    }

    pub fn to_line(&self) -> String {
        let mut line = Value::Object(self.fields.clone()).to_string();
        line.push('\n');
        line
    }
}

/// Where events go: a file, or nowhere.
#[derive(Debug, Default)]
pub struct Journal {
    file: Option<Mutex<File>>,
}

impl Journal {
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = path
            .map(|p| OpenOptions::new().create(true).append(true).open(p))
            .transpose()?
            .map(Mutex::new);
        Ok(Journal { file })
    }

    /// Whether events go anywhere: hot paths skip building them when not.
    pub fn is_on(&self) -> bool {
        self.file.is_some()
    }

    pub fn record(&self, event: &Event) {
        if let Some(file) = &self.file {
            let line = event.to_line();
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            // A journal that cannot be written must not break the process under test.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_single_json_lines() {
        let e = Event::new(12, "a.test", Some(9), "tcp", Action::Mocked).entry(Some(3));
        let line = e.to_line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"pid": 12, "host": "a.test", "port": 9, "protocol": "tcp", "action": "mocked", "entry": 3})
        );
        let dns = Event::new(1, "x", None, "dns", Action::Refused);
        assert_eq!(
            serde_json::from_str::<Value>(&dns.to_line()).unwrap()["port"],
            Value::Null
        );
    }

    #[test]
    fn appends_to_a_file() {
        let dir = std::env::temp_dir().join(format!("mocket-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.jsonl");
        let _ = std::fs::remove_file(&path);
        for _ in 0..2 {
            let j = Journal::open(Some(&path)).unwrap();
            j.record(&Event::new(1, "h", Some(1), "tcp", Action::Refused));
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
