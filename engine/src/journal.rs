//! The journal: one JSON object per intercepted event, appended to `MOCKET_JOURNAL`.
//!
//! Every event is written with a single `write` on a file opened with `O_APPEND`, so several
//! processes (each with an embedded engine) can share one journal without tearing lines.
//!
//! Secrets never reach the file: every event passes through the cassettes' [`Redactor`]
//! (credential headers, token-like query parameters, Redis `AUTH` and `HELLO ... AUTH`
//! arguments, plus `MOCKET_REDACT_HEADERS` / `MOCKET_REDACT_QUERY`) as it is written, whatever
//! part of the engine built it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use mocket_protocols::http::body_json;
use mocket_recordings::{REDACTED, Redactor};
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

    /// The event with its secrets replaced: the headers and query of an HTTP `request`, the
    /// credentials in a Redis `command`, and those same values wherever a text field (a
    /// `reason` that explains a mismatch) quotes them.
    fn redacted(&self, redactor: &Redactor) -> Event {
        let mut event = self.clone();
        let mut secrets = Vec::new();
        if let Some(Value::Object(request)) = event.fields.get_mut("request") {
            if let Some(Value::Object(headers)) = request.get_mut("headers") {
                for (name, value) in headers.iter_mut() {
                    if redactor.is_secret_header(name) {
                        secrets.extend(value.as_str().map(String::from));
                        *value = json!(REDACTED);
                    }
                }
            }
            if let Some(Value::String(path)) = request.get_mut("path") {
                let redacted = redactor.url(path);
                secrets.extend(removed_query_values(path, &redacted));
                *path = redacted;
            }
        }
        if let Some(Value::Array(words)) = event.fields.get_mut("command") {
            let mut command: Vec<Vec<u8>> = words
                .iter()
                .map(|w| w.as_str().unwrap_or_default().as_bytes().to_vec())
                .collect();
            redactor.redis_command(&mut command);
            for (word, redacted) in words.iter_mut().zip(command) {
                if redacted == REDACTED.as_bytes() {
                    secrets.extend(word.as_str().map(String::from));
                    *word = json!(REDACTED);
                }
            }
        }
        secrets.retain(|s| !s.is_empty() && s != REDACTED);
        for (key, value) in event.fields.iter_mut() {
            if let (false, Value::String(text)) = (key == "request" || key == "command", value) {
                *text = scrub(text, &secrets);
            }
        }
        event
    }
}

/// The values `redacted` replaced in the query of `path`, as sent and percent-decoded.
fn removed_query_values(path: &str, redacted: &str) -> Vec<String> {
    let pairs = |p: &str| -> Vec<String> {
        let query = p.split_once('?').map_or("", |(_, q)| q);
        query.split('&').map(String::from).collect()
    };
    pairs(path)
        .into_iter()
        .zip(pairs(redacted))
        .filter(|(sent, shown)| sent != shown)
        .filter_map(|(sent, _)| sent.split_once('=').map(|(_, v)| v.to_string()))
        .flat_map(|v| [mocket_protocols::http::url::percent_decode(&v, true), v])
        .collect()
}

/// `text` without any of `secrets`, whether written as is, escaped as in a quoted string, or
/// cut short with `...` (as mismatch reasons cut long values).
fn scrub(text: &str, secrets: &[String]) -> String {
    /// A cut-short secret is recognised from this many bytes on.
    const MIN_CUT: usize = 8;
    let mut text = text.to_string();
    for secret in secrets {
        let escaped = format!("{secret:?}");
        for form in [secret.as_str(), &escaped[1..escaped.len() - 1]] {
            text = text.replace(form, REDACTED);
            let Some(head) = form.get(..MIN_CUT) else {
                continue;
            };
            let mut from = 0;
            while let Some(found) = text[from..].find(head) {
                let at = from + found;
                let common = text[at..]
                    .bytes()
                    .zip(form.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                let end = at + common;
                if text.is_char_boundary(end) && text[end..].starts_with("...") {
                    text.replace_range(at..end, REDACTED);
                    from = at + REDACTED.len();
                } else {
                    from = at + head.len();
                }
            }
        }
    }
    text
}

/// Where events go: a file, or nowhere.
#[derive(Debug, Default)]
pub struct Journal {
    file: Option<Mutex<File>>,
    redactor: Redactor,
}

impl Journal {
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = path
            .map(|p| OpenOptions::new().create(true).append(true).open(p))
            .transpose()?
            .map(Mutex::new);
        Ok(Journal {
            file,
            redactor: Redactor::default(),
        })
    }

    /// Redacts with `redactor` (the built-in rules plus the user's) instead of the built-in
    /// rules alone.
    pub fn redacting(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether events go anywhere: hot paths skip building them when not.
    pub fn is_on(&self) -> bool {
        self.file.is_some()
    }

    pub fn record(&self, event: &Event) {
        if let Some(file) = &self.file {
            let line = event.redacted(&self.redactor).to_line();
            let mut file = mocket_control::sync::lock(file);
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
    fn secrets_are_redacted_as_events_are_written() {
        let dir = std::env::temp_dir().join(format!("mocket-journal-r-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.jsonl");
        let redactor = Redactor::new(&["x-session".into()], &["sid".into()]);
        let j = Journal::open(Some(&path)).unwrap().redacting(redactor);
        let request = json!({"method": "GET", "path": "/p?access_token=t1&page=2&sid=s1",
            "headers": {"authorization": "Bearer t2", "x-session": "s2", "accept": "*/*",
                        "cookie": "c=t3", "proxy-authorization": "t4", "x-api-key": "t5"},
            "body": null});
        let http = Event::new(1, "h", Some(80), "http", Action::Mocked)
            .with("request", request)
            .with("response", json!({"status": 200}));
        j.record(&http);
        let hello = json!(["HELLO", "3", "AUTH", "user1", "t6", "SETNAME", "me"]);
        j.record(&Event::new(1, "r", Some(6379), "redis", Action::Mocked).with("command", hello));
        let long =
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.t8-signature";
        let mismatch = Event::new(1, "h", Some(80), "http", Action::Unmatched)
            .with(
                "request",
                json!({"path": "/x?api_key=t9", "headers": {"authorization": long}}),
            )
            .with(
                "reason",
                json!(format!(
                    "GET /x?api_key=t9: header authorization {}... vs \"Bearer ok\"",
                    &format!("{long:?}")[..80]
                )),
            );
        j.record(&mismatch);
        let auth = json!(["AUTH", "t7"]);
        j.record(&Event::new(1, "r", Some(6379), "redis", Action::Mocked).with("command", auth));
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in [
            "t1", "t2", "s1", "s2", "t3", "t4", "t5", "user1", "t6", "t7", "eyJhbGci", "t9",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0]["request"]["path"],
            "/p?access_token=<redacted>&page=2&sid=<redacted>"
        );
        assert_eq!(lines[0]["request"]["headers"]["accept"], "*/*");
        assert_eq!(
            lines[1]["command"],
            json!(["HELLO", "3", "AUTH", REDACTED, REDACTED, "SETNAME", "me"])
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
