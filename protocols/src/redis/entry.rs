//! `redis` entries of a mocks file (DESIGN.md section 3): a command and its replies, or a whole
//! emulated server.
//!
//! ```json
//! { "redis": "cache.internal:6379", "command": ["GET", "greeting"], "response": "hello" }
//! { "redis": "cache.internal:6379", "command": ["SET"], "match": {"args_regex": ["session:.*", ".*"]},
//!   "response": {"simple": "OK"} }
//! { "redis": "sessions.internal:6379", "emulate": true, "data": {"greeting": "hi"} }
//! { "redis": "secure.internal:6379", "emulate": true, "password": "s3cret",
//!   "users": {"app": "app-pw", "old": {"password": "x", "enabled": false}} }
//! ```

use regex::bytes::Regex;
use serde_json::{Map, Value};

use super::auth::{Credentials, DEFAULT_USER, User};
use super::command::Command;
use super::reply::Reply;
use crate::field::{self, Destination, FieldError};

/// One `redis` entry.
#[derive(Debug, Clone)]
pub struct RedisEntry {
    pub destination: Destination,
    pub behavior: Behavior,
    /// How many commands the entry answers; `None` is unlimited.
    pub times: Option<u64>,
}

/// What a `redis` entry does.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answers the commands `matcher` accepts, with `responses` in turn (the last repeats).
    Command {
        matcher: Matcher,
        responses: Vec<Reply>,
    },
    /// A stateful in-memory Redis, starting with `data`, with the `password` and `users` that
    /// `AUTH` checks.
    Emulate {
        data: Seed,
        credentials: Credentials,
    },
}

/// Keys an emulator starts with, in file order.
pub type Seed = Vec<(Vec<u8>, SeedValue)>;

/// A seeded value: a JSON string is a Redis string, an array a list, an object a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedValue {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Redis's default port, used when an entry names a host alone.
pub const DEFAULT_PORT: u16 = 6379;

const KEYS: &[&str] = &[
    "redis",
    "command",
    "match",
    "response",
    "responses",
    "times",
    "emulate",
    "data",
    "password",
    "users",
];

/// Keys that only an emulator has, refused in a command entry.
const EMULATOR_KEYS: &[&str] = &["data", "password", "users"];

/// Keys that only a command entry has, refused next to `emulate: true`.
const COMMAND_KEYS: &[&str] = &["command", "match", "response", "responses", "times"];

impl RedisEntry {
    /// Reads an entry whose kind key is `redis`.
    pub fn from_json(v: &Value) -> Result<Self, FieldError> {
        let map = field::object(v, "an entry")?;
        field::reject_unknown_keys(map, KEYS)?;
        let dest = field::string(&map["redis"], "redis").map_err(|e| e.in_key("redis"))?;
        let destination =
            field::host_port(dest, Some(DEFAULT_PORT)).map_err(|e| e.in_key("redis"))?;
        let emulate = match map.get("emulate") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(FieldError::new(format!(
                    "emulate must be true or false, found {}",
                    field::type_name(other)
                ))
                .in_key("emulate"));
            }
        };
        let (behavior, times) = if emulate {
            (emulated(map)?, None)
        } else {
            (command_entry(map)?, field::times(map)?)
        };
        Ok(RedisEntry {
            destination,
            behavior,
            times,
        })
    }

    pub fn is_emulated(&self) -> bool {
        matches!(self.behavior, Behavior::Emulate { .. })
    }

    /// What the entry answers, as a report names it: `GET greeting` or `(emulated)`.
    pub fn describe(&self) -> String {
        match &self.behavior {
            Behavior::Command { matcher, .. } => matcher.describe(),
            Behavior::Emulate { .. } => "(emulated)".into(),
        }
    }

    /// The reply for the entry's `used`-th command (0-based): responses in turn, the last
    /// repeating. `None` for an emulator, which answers by itself.
    pub fn reply(&self, used: u64) -> Option<&Reply> {
        match &self.behavior {
            Behavior::Command { responses, .. } => {
                let i = usize::try_from(used).unwrap_or(usize::MAX);
                Some(&responses[i.min(responses.len() - 1)])
            }
            Behavior::Emulate { .. } => None,
        }
    }
}

fn emulated(map: &Map<String, Value>) -> Result<Behavior, FieldError> {
    if let Some(key) = COMMAND_KEYS.iter().find(|k| map.contains_key(**k)) {
        return Err(FieldError::new(format!(
            "an entry with \"emulate\": true answers every command itself; put \"{key}\" in a \
             separate entry for the same address (it is tried before the emulator)"
        ))
        .in_key(key));
    }
    let data = match map.get("data") {
        None => Vec::new(),
        Some(v) => seed(v).map_err(|e| e.in_key("data"))?,
    };
    let credentials = Credentials {
        password: match map.get("password") {
            None => None,
            Some(v) => Some(password(v).map_err(|e| e.in_key("password"))?),
        },
        users: match map.get("users") {
            None => Vec::new(),
            Some(v) => users(v).map_err(|e| e.in_key("users"))?,
        },
    };
    Ok(Behavior::Emulate { data, credentials })
}

/// A password: a non-empty string (Redis has no empty password; leave the key out instead).
fn password(v: &Value) -> Result<Vec<u8>, FieldError> {
    let text = field::string(v, "a password")?;
    if text.is_empty() {
        return Err(FieldError::new(
            "a password cannot be empty; leave \"password\" out for a server that needs none",
        ));
    }
    Ok(text.as_bytes().to_vec())
}

/// `users`: `{"name": "password"}` or `{"name": {"password": "...", "enabled": false}}`.
fn users(v: &Value) -> Result<Vec<User>, FieldError> {
    let map = field::object(v, "users")?;
    map.iter()
        .map(|(name, spec)| user(name, spec).map_err(|e| e.in_key(name)))
        .collect()
}

fn user(name: &str, spec: &Value) -> Result<User, FieldError> {
    if name == DEFAULT_USER {
        return Err(FieldError::new(
            "the user \"default\" is set by \"password\" next to \"users\", not in \"users\"",
        ));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "a user name must be non-empty, without spaces or control characters",
        ));
    }
    let Value::Object(fields) = spec else {
        return Ok(User {
            name: name.into(),
            password: password(spec)?,
            enabled: true,
        });
    };
    field::reject_unknown_keys(fields, &["password", "enabled"])?;
    let Some(pw) = fields.get("password") else {
        return Err(FieldError::new(
            "a user needs \"password\" (or write the password alone: \"name\": \"pw\")",
        ));
    };
    let enabled = match fields.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(FieldError::new(format!(
                "enabled must be true or false, found {}",
                field::type_name(other)
            ))
            .in_key("enabled"));
        }
    };
    Ok(User {
        name: name.into(),
        password: password(pw).map_err(|e| e.in_key("password"))?,
        enabled,
    })
}

fn command_entry(map: &Map<String, Value>) -> Result<Behavior, FieldError> {
    if let Some(key) = EMULATOR_KEYS.iter().find(|k| map.contains_key(**k)) {
        let what = match *key {
            "data" => "seeds an emulator",
            _ => "is checked by an emulator's AUTH",
        };
        return Err(FieldError::new(format!(
            "\"{key}\" {what}: it needs \"emulate\": true (a command entry's address accepts any AUTH)"
        ))
        .in_key(key));
    }
    let Some(words) = map.get("command") else {
        return Err(FieldError::new(
            "a redis entry needs \"command\" (for example [\"GET\", \"greeting\"]) or \"emulate\": true",
        ));
    };
    let mut words = word_list(words, "command").map_err(|e| e.in_key("command"))?;
    if words.is_empty() {
        return Err(FieldError::new("command must name a command").in_key("command"));
    }
    let name = String::from_utf8_lossy(&words.remove(0)).to_ascii_uppercase();
    let args_regex = match map.get("match") {
        None => Vec::new(),
        Some(m) => match_regexes(m).map_err(|e| e.in_key("match"))?,
    };
    Ok(Behavior::Command {
        matcher: Matcher {
            name,
            args: words,
            args_regex,
        },
        responses: field::responses(map, reply_from_json)?,
    })
}

/// `match`: `{"args_regex": [...]}`, one regex per argument after the exact ones.
fn match_regexes(v: &Value) -> Result<Vec<Regex>, FieldError> {
    let map = field::object(v, "match")?;
    field::reject_unknown_keys(map, &["args_regex"])?;
    let Some(list) = map.get("args_regex") else {
        return Ok(Vec::new());
    };
    let items = list.as_array().ok_or_else(|| {
        FieldError::new(format!(
            "args_regex must be an array of regexes, found {}",
            field::type_name(list)
        ))
        .in_key("args_regex")
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |e: FieldError| e.in_index(i).in_key("args_regex");
            let text = field::string(item, "a regex").map_err(at)?;
            // Anchored: a regex describes the whole argument, like the exact form it replaces.
            Regex::new(&format!("^(?:{text})$"))
                .map_err(|e| at(FieldError::new(format!("invalid regex: {e}"))))
        })
        .collect()
}

/// An array of words: strings, or numbers written as their text (`["INCRBY", "n", 5]`).
fn word_list(v: &Value, what: &str) -> Result<Vec<Vec<u8>>, FieldError> {
    let items = v.as_array().ok_or_else(|| {
        FieldError::new(format!(
            "{what} must be an array of strings, found {}",
            field::type_name(v)
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| word(item, what).map_err(|e| e.in_index(i)))
        .collect()
}

fn word(v: &Value, what: &str) -> Result<Vec<u8>, FieldError> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Number(n) => Ok(n.to_string().into_bytes()),
        other => Err(FieldError::new(format!(
            "an element of {what} must be a string or a number, found {}",
            field::type_name(other)
        ))),
    }
}

/// A reply written in JSON: string -> bulk, integer -> integer, null -> nil, array -> array,
/// `{"simple": ..}` -> simple string, `{"error": ..}` -> error.
pub fn reply_from_json(v: &Value) -> Result<Reply, FieldError> {
    match v {
        Value::String(s) => Ok(Reply::bulk(s)),
        Value::Null => Ok(Reply::Nil),
        Value::Number(n) => n.as_i64().map(Reply::Int).ok_or_else(|| {
            FieldError::new(format!(
                "a redis reply number must be a 64-bit integer, found {n} (write \"{n}\" for a bulk string)"
            ))
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| reply_from_json(item).map_err(|e| e.in_index(i)))
            .collect::<Result<_, _>>()
            .map(Reply::Array),
        Value::Object(map) => tagged_reply(map),
        Value::Bool(_) => Err(FieldError::new(
            "a redis reply cannot be a boolean: use 1 or 0, or {\"simple\": \"OK\"}",
        )),
    }
}

fn tagged_reply(map: &Map<String, Value>) -> Result<Reply, FieldError> {
    field::reject_unknown_keys(map, &["simple", "error"])?;
    let (key, value) = match map.iter().collect::<Vec<_>>().as_slice() {
        [(k, v)] => (k.as_str(), *v),
        _ => {
            return Err(FieldError::new(
                "a redis reply object has one key: \"simple\" or \"error\"",
            ));
        }
    };
    let text = field::string(value, key).map_err(|e| e.in_key(key))?;
    if text.contains(['\r', '\n']) {
        return Err(FieldError::new(format!("{key} must be one line")).in_key(key));
    }
    Ok(match key {
        "simple" => Reply::Simple(text.into()),
        _ => Reply::Error(text.into()),
    })
}

fn seed(v: &Value) -> Result<Seed, FieldError> {
    let map = field::object(v, "data")?;
    map.iter()
        .map(|(key, value)| {
            seed_value(value)
                .map(|sv| (key.as_bytes().to_vec(), sv))
                .map_err(|e| e.in_key(key))
        })
        .collect()
}

fn seed_value(v: &Value) -> Result<SeedValue, FieldError> {
    match v {
        Value::Array(_) => word_list(v, "a list").map(SeedValue::List),
        Value::Object(fields) => fields
            .iter()
            .map(|(f, fv)| {
                word(fv, "a hash")
                    .map(|w| (f.as_bytes().to_vec(), w))
                    .map_err(|e| e.in_key(f))
            })
            .collect::<Result<_, _>>()
            .map(SeedValue::Hash),
        other => word(other, "data")
            .map(SeedValue::String)
            .map_err(|_| FieldError::new(format!(
                "a seeded value is a string (Redis string), an array (list) or an object (hash), found {}",
                field::type_name(other)
            ))),
    }
}

/// Which commands a command entry answers: the name (case-insensitive), exact arguments, then
/// one anchored regex per further argument.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Upper-case.
    pub name: String,
    pub args: Vec<Vec<u8>>,
    pub args_regex: Vec<Regex>,
}

/// Why a command entry does not answer a command, and how near it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// 0: another command; 1: the arity differs; 2 and up: the arguments that matched, plus 2.
    pub closeness: usize,
    pub why: String,
}

impl Matcher {
    pub fn check(&self, cmd: &Command) -> Result<(), Miss> {
        let name = cmd.name();
        if name != self.name {
            return Err(Miss {
                closeness: 0,
                why: format!("command is {name}, not {}", self.name),
            });
        }
        let params = cmd.params();
        let expected = self.args.len() + self.args_regex.len();
        if params.len() != expected {
            return Err(Miss {
                closeness: 1,
                why: format!("{} arguments, expected {expected}", params.len()),
            });
        }
        for (i, param) in params.iter().enumerate() {
            if let Some(why) = self.arg_mismatch(i, param) {
                return Err(Miss {
                    closeness: 2 + i,
                    why,
                });
            }
        }
        Ok(())
    }

    fn arg_mismatch(&self, i: usize, param: &[u8]) -> Option<String> {
        let shown = String::from_utf8_lossy(param);
        match self.args.get(i) {
            Some(exact) if exact.as_slice() != param => Some(format!(
                "argument {} is \"{shown}\", expected \"{}\"",
                i + 1,
                String::from_utf8_lossy(exact)
            )),
            Some(_) => None,
            None => {
                let re = &self.args_regex[i - self.args.len()];
                (!re.is_match(param)).then(|| {
                    format!(
                        "argument {} \"{shown}\" does not match /{}/",
                        i + 1,
                        unanchored(re)
                    )
                })
            }
        }
    }

    /// The command as a mocks file author wrote it: `SET session:1 /.*/`.
    pub fn describe(&self) -> String {
        let mut words = vec![self.name.clone()];
        words.extend(
            self.args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
        );
        words.extend(
            self.args_regex
                .iter()
                .map(|r| format!("/{}/", unanchored(r))),
        );
        words.join(" ")
    }
}

fn unanchored(re: &Regex) -> &str {
    let s = re.as_str();
    s.strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> RedisEntry {
        RedisEntry::from_json(&v).unwrap()
    }

    fn error(v: Value) -> FieldError {
        RedisEntry::from_json(&v).unwrap_err()
    }

    fn matcher(e: &RedisEntry) -> &Matcher {
        match &e.behavior {
            Behavior::Command { matcher, .. } => matcher,
            Behavior::Emulate { .. } => panic!("emulator"),
        }
    }

    #[test]
    fn command_entry_with_every_reply_type() {
        let e = entry(
            json!({"redis": "Cache.Internal:6380", "command": ["get", "greeting"],
            "responses": ["hello", 3, null, ["a", [1]], {"simple": "OK"}, {"error": "ERR no"}],
            "times": 2}),
        );
        assert_eq!(e.destination, Destination::new("cache.internal", 6380));
        assert_eq!(e.times, Some(2));
        assert_eq!(matcher(&e).name, "GET");
        let replies: Vec<_> = (0..7).map(|i| e.reply(i).unwrap().clone()).collect();
        assert_eq!(
            replies,
            vec![
                Reply::bulk("hello"),
                Reply::Int(3),
                Reply::Nil,
                Reply::Array(vec![Reply::bulk("a"), Reply::Array(vec![Reply::Int(1)])]),
                Reply::ok(),
                Reply::error("ERR no"),
                Reply::error("ERR no"),
            ]
        );
    }

    #[test]
    fn default_port_and_numbers_as_words() {
        let e = entry(json!({"redis": "cache", "command": ["INCRBY", "n", 5], "response": 6}));
        assert_eq!(e.destination.port, 6379);
        assert_eq!(matcher(&e).args, vec![b"n".to_vec(), b"5".to_vec()]);
    }

    #[test]
    fn matching_name_args_and_regexes() {
        let e = entry(json!({"redis": "h:1", "command": ["set", "user"],
            "match": {"args_regex": ["\\d+", ".*"]}, "response": {"simple": "OK"}}));
        let m = matcher(&e);
        assert_eq!(m.check(&Command::new(["SET", "user", "12", "x"])), Ok(()));
        assert_eq!(m.check(&Command::new(["Set", "user", "7", ""])), Ok(()));
        let miss = |words: &[&str]| m.check(&Command::new(words)).unwrap_err();
        assert_eq!(miss(&["GET", "user"]).why, "command is GET, not SET");
        assert_eq!(miss(&["SET", "user", "1"]).why, "2 arguments, expected 3");
        assert_eq!(
            miss(&["SET", "usr", "1", "x"]).why,
            "argument 1 is \"usr\", expected \"user\""
        );
        // Anchored: "12a" is not all digits.
        let m2 = miss(&["SET", "user", "12a", "x"]);
        assert_eq!(m2.why, "argument 2 \"12a\" does not match /\\d+/");
        assert_eq!(m2.closeness, 3);
        assert_eq!(m.describe(), "SET user /\\d+/ /.*/");
    }

    #[test]
    fn emulator_with_seed() {
        let e = entry(json!({"redis": "s:6379", "emulate": true,
            "data": {"greeting": "hi", "n": 5, "queue": ["a", "b"], "user:1": {"name": "Ada", "age": 36}}}));
        let Behavior::Emulate { data, credentials } = &e.behavior else {
            panic!()
        };
        assert_eq!(
            credentials,
            &Credentials::default(),
            "no password by default"
        );
        assert_eq!(
            data,
            &vec![
                (b"greeting".to_vec(), SeedValue::String(b"hi".to_vec())),
                (b"n".to_vec(), SeedValue::String(b"5".to_vec())),
                (
                    b"queue".to_vec(),
                    SeedValue::List(vec![b"a".to_vec(), b"b".to_vec()])
                ),
                (
                    b"user:1".to_vec(),
                    SeedValue::Hash(vec![
                        (b"name".to_vec(), b"Ada".to_vec()),
                        (b"age".to_vec(), b"36".to_vec())
                    ])
                ),
            ]
        );
        assert!(e.is_emulated() && e.reply(0).is_none());
        assert_eq!(e.describe(), "(emulated)");
    }

    #[test]
    fn emulator_with_password_and_users() {
        let e = entry(json!({"redis": "s", "emulate": true, "password": "s3cret",
            "users": {"app": "pw", "old": {"password": "x", "enabled": false}}}));
        let Behavior::Emulate { credentials, .. } = &e.behavior else {
            panic!()
        };
        assert_eq!(
            credentials,
            &Credentials {
                password: Some(b"s3cret".to_vec()),
                users: vec![
                    User {
                        name: "app".into(),
                        password: b"pw".to_vec(),
                        enabled: true
                    },
                    User {
                        name: "old".into(),
                        password: b"x".to_vec(),
                        enabled: false
                    },
                ],
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (json!({"redis": "h:x", "emulate": true}), "redis"),
            (
                json!({"redis": "h:1", "emulate": true, "command": ["GET"]}),
                "command",
            ),
            (json!({"redis": "h:1", "emulate": "yes"}), "emulate"),
            (
                json!({"redis": "h:1", "emulate": true, "data": {"k": null}}),
                "data.k",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "data": {"h": {"f": [1]}}}),
                "data.h.f",
            ),
            (
                json!({"redis": "h:1", "command": ["GET", {}], "response": 1}),
                "command[1]",
            ),
            (
                json!({"redis": "h:1", "command": [], "response": 1}),
                "command",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": 1.5}),
                "response",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "responses": [1, true]}),
                "responses[1]",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": {"simpel": "OK"}}),
                "response.simpel",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": {"error": "a\nb"}}),
                "response.error",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": ["x", {}]}),
                "response[1]",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "match": {"args_regex": ["("]}, "response": 1}),
                "match.args_regex[0]",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "match": {"args": []}, "response": 1}),
                "match.args",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "data": {}, "response": 1}),
                "data",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": 1, "times": 0}),
                "times",
            ),
            (json!({"redis": "h:1", "comand": ["GET"]}), "comand"),
            (
                json!({"redis": "h:1", "emulate": true, "password": 5}),
                "password",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "password": ""}),
                "password",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": 1, "password": "x"}),
                "password",
            ),
            (
                json!({"redis": "h:1", "command": ["GET"], "response": 1, "users": {}}),
                "users",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": ["a"]}),
                "users",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"default": "x"}}),
                "users.default",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"a b": "x"}}),
                "users.a b",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"a": {"enabled": true}}}),
                "users.a",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"a": {"password": "x", "on": true}}}),
                "users.a.on",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"a": {"password": "x", "enabled": 1}}}),
                "users.a.enabled",
            ),
            (
                json!({"redis": "h:1", "emulate": true, "users": {"a": {"password": null}}}),
                "users.a.password",
            ),
        ];
        for (v, path) in cases {
            assert_eq!(error(v.clone()).path_text(), path, "{v}");
        }
        assert!(
            error(json!({"redis": "h:1"}))
                .message
                .contains("needs \"command\"")
        );
        assert!(
            error(json!({"redis": "h:1", "command": ["GET"]}))
                .message
                .contains("response")
        );
    }
}
