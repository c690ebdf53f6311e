//! Redis entries: a command's reply (`redis::command(["GET", "k"]).reply("v").at(addr)`), or a
//! stateful in-memory Redis (`redis::emulate(addr).data(...)`).

use serde_json::{Map, Value, json};

use crate::{EntrySpec, IntoEntry};

/// A command entry being built; it needs an address ([`CommandEntry::at`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandEntry {
    address: Option<String>,
    command: Vec<String>,
    replies: Vec<Value>,
    times: Option<u64>,
}

/// Answers this command (name case-insensitive, arguments exact).
pub fn command<I, S>(command: I) -> CommandEntry
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    CommandEntry {
        address: None,
        command: command.into_iter().map(Into::into).collect(),
        replies: Vec::new(),
        times: None,
    }
}

/// A simple-string reply (`+OK`); a plain string reply is a bulk string.
pub fn simple(text: &str) -> Value {
    json!({ "simple": text })
}

/// An error reply (`-ERR no`).
pub fn error(text: &str) -> Value {
    json!({ "error": text })
}

impl CommandEntry {
    /// The Redis server it stands for: `host`, or `host:port` (6379 when omitted).
    pub fn at(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The reply: a string (bulk string), an integer, `Value::Null` (nil), an array,
    /// [`simple`] or [`error`]. Called again, adds the next reply of a sequence (the last
    /// repeats).
    pub fn reply(mut self, value: impl Into<Value>) -> Self {
        self.replies.push(value.into());
        self
    }

    /// Answers at most `n` commands.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// The mocks-file entry. Without [`CommandEntry::at`], the `redis` key is missing and
    /// registering fails with the engine's message.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(address) = &self.address {
            map.insert("redis".into(), address.clone().into());
        }
        map.insert("command".into(), json!(self.command));
        crate::insert_answers(&mut map, self.replies.clone(), self.times);
        Value::Object(map)
    }
}

impl IntoEntry for CommandEntry {
    fn into_entry(self) -> EntrySpec {
        EntrySpec {
            json: self.to_json(),
            responder: None,
        }
    }
}

/// An emulated Redis entry being built.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatorEntry {
    address: String,
    data: Option<Value>,
    password: Option<String>,
}

/// A stateful in-memory Redis at `address`, fresh for this scope and dropped with it.
pub fn emulate(address: impl Into<String>) -> EmulatorEntry {
    EmulatorEntry {
        address: address.into(),
        data: None,
        password: None,
    }
}

impl EmulatorEntry {
    /// Seeds keys: a string value is a Redis string, an array a list, an object a hash.
    pub fn data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Requires `AUTH password` (the default user's password, Redis's `requirepass`) before
    /// any other command; without it, `AUTH password` is an error as with a default Redis.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The mocks-file entry.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({ "redis": self.address, "emulate": true });
        if let Some(data) = &self.data {
            entry["data"] = data.clone();
        }
        if let Some(password) = &self.password {
            entry["password"] = json!(password);
        }
        entry
    }
}

impl IntoEntry for EmulatorEntry {
    fn into_entry(self) -> EntrySpec {
        EntrySpec {
            json: self.to_json(),
            responder: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_entries() {
        assert_eq!(
            command(["GET", "greeting"])
                .reply("hello")
                .at("cache.internal")
                .to_json(),
            json!({"redis": "cache.internal", "command": ["GET", "greeting"], "response": "hello"})
        );
        assert_eq!(
            command(vec!["INCR".to_string(), "n".to_string()])
                .at("c:6380")
                .reply(1)
                .reply(error("ERR no"))
                .reply(simple("OK"))
                .reply(Value::Null)
                .times(4)
                .to_json(),
            json!({"redis": "c:6380", "command": ["INCR", "n"],
                   "responses": [1, {"error": "ERR no"}, {"simple": "OK"}, null], "times": 4})
        );
        // No address: the engine names the missing key.
        assert!(command(["PING"]).to_json().get("redis").is_none());
    }

    #[test]
    fn emulator_entries() {
        assert_eq!(
            emulate("cache.internal:6379").to_json(),
            json!({"redis": "cache.internal:6379", "emulate": true})
        );
        assert_eq!(
            emulate("c").data(json!({"user:1": "Ada"})).to_json(),
            json!({"redis": "c", "emulate": true, "data": {"user:1": "Ada"}})
        );
        assert_eq!(
            emulate("c").password("s3cret").to_json(),
            json!({"redis": "c", "emulate": true, "password": "s3cret"})
        );
    }
}
