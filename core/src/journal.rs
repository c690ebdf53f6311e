//! The journal: one JSON object per intercepted event, appended to `MOCKET_JOURNAL`.
//!
//! Every event is written with a single `write` on a file opened with `O_APPEND`, so several
//! processes (each with an embedded engine) can share one journal without tearing lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use mocket_protocols::http::body_json;
use serde_json::{Map, Value, json};

/// The most of a body one journal line shows: enough to read any request a test makes by hand,
/// small enough that an upload does not turn into a line of its size.
pub const JOURNAL_BODY: usize = 64 * 1024;

/// Sets `body` in the object `fields`: at most the first [`JOURNAL_BODY`] bytes of `body`
/// (cut where UTF-8 text stays text), and, when that is not the whole body, `body_truncated`:
/// the body's whole length in bytes. `len` is the whole length (a body may arrive with only
/// its start held).
pub fn journal_body(fields: &mut Value, body: &[u8], len: u64) {
    let mut shown = &body[..body.len().min(JOURNAL_BODY)];
    if let Err(e) = std::str::from_utf8(shown)
        && e.error_len().is_none()
    {
        // Cut inside a character: drop its first bytes so the text stays text.
        shown = &shown[..e.valid_up_to()];
    }
    fields["body"] = body_json(shown);
    let len = len.max(body.len() as u64);
    if (shown.len() as u64) < len {
        fields["body_truncated"] = json!(len);
    }
}

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
    fn long_bodies_are_cut_and_marked() {
        let mut fields = json!({});
        journal_body(&mut fields, b"short", 5);
        assert_eq!(fields, json!({"body": "short"}));
        let long = "é".repeat(JOURNAL_BODY);
        journal_body(&mut fields, long.as_bytes(), long.len() as u64);
        let shown = fields["body"].as_str().expect("still text");
        assert_eq!(shown.len(), JOURNAL_BODY);
        assert_eq!(fields["body_truncated"], json!(long.len()));
        let mut odd = vec![b'a'; JOURNAL_BODY - 1];
        odd.extend("é".as_bytes());
        journal_body(&mut fields, &odd, odd.len() as u64);
        assert_eq!(fields["body"].as_str().unwrap().len(), JOURNAL_BODY - 1);
        // Held only in part (nobody needed it): the length says how much there was.
        let mut held = json!({});
        journal_body(&mut held, b"abc", 300_000_000);
        assert_eq!(held, json!({"body": "abc", "body_truncated": 300_000_000}));
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
