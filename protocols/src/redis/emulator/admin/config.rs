//! `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`: Redis 7.0's parameters with their defaults
//! ([`super::config_table`]), validated and normalised as Redis does, with its error texts.
//! Aliases (`slave`/`replica`, `ziplist`/`listpack`) share one value.
//!
//! The parameters the emulator acts on: `hash-max-listpack-entries` and the other encoding
//! thresholds (`OBJECT ENCODING`), `slowlog-log-slower-than` and `slowlog-max-len` (`SLOWLOG`),
//! `requirepass` (the `default` user's password), `maxmemory` and `maxmemory-policy` (`INFO`).
//! The others are stored and reported only.

use std::collections::HashMap;

use super::config_table::PARAMS;
use crate::redis::command::strict_i64;
use crate::redis::glob;
use crate::redis::reply::Reply;

/// What `CONFIG SET` accepts for a parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// `yes` or `no`.
    Bool,
    /// One of the words, case-insensitively.
    Enum(&'static [&'static str]),
    /// An integer within the bounds.
    Int(i64, i64),
    /// Bytes, with an optional unit (`1gb`).
    Memory,
    /// Bytes or a percentage (`10%`).
    MemoryOrPercent,
    /// Any string.
    Text,
    /// A value with its own syntax (`save`, `notify-keyspace-events`, ...).
    Special,
    /// Only settable at startup.
    Immutable,
    /// Only settable from a configuration file by default (`enable-protected-configs no`).
    Protected,
}

/// One parameter of the table.
#[derive(Debug)]
pub(super) struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
}

pub(super) const fn param(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param {
        name,
        default,
        kind,
    }
}

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// The characters `notify-keyspace-events` accepts, in Redis's error text.
const EVENT_CLASSES: &str = "Ag$lshzxeKEtmdn";

/// The current value of every parameter, by the name of its value (aliases share one).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    values: HashMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        let mut values: HashMap<&'static str, String> = PARAMS
            .iter()
            .map(|p| (canonical(p.name), p.default.to_string()))
            .collect();
        let dir = std::env::current_dir().map_or_else(|_| "/".into(), |d| d.display().to_string());
        values.insert("dir", dir);
        Config { values }
    }
}

/// The name an alias stores its value under: the `replica` and `listpack` spelling.
fn canonical(name: &'static str) -> &'static str {
    let modern = name
        .replace("slave", "replica")
        .replace("ziplist", "listpack");
    PARAMS
        .iter()
        .find(|p| p.name == modern)
        .map_or(name, |p| p.name)
}

fn find(name: &[u8]) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Why `CONFIG SET` refused a value: Redis's text after the argument's name.
type Refusal = String;

impl Config {
    /// The value of a parameter of the table.
    pub fn get(&self, name: &'static str) -> &str {
        match self.values.get(name) {
            Some(value) => value,
            None => &self.values[canonical(name)],
        }
    }

    /// `requirepass` as the entry's `password` sets it (not a `CONFIG SET`).
    pub fn set_requirepass(&mut self, password: &[u8]) {
        let password = String::from_utf8_lossy(password).into_owned();
        self.values.insert("requirepass", password);
    }

    /// An integer parameter, or 0 if the value is not an integer.
    pub fn int(&self, name: &'static str) -> i64 {
        strict_i64(self.get(name).as_bytes()).unwrap_or(0)
    }

    /// `CONFIG GET pattern [pattern ...]`: name, value pairs, each parameter once.
    fn get_matching(&self, patterns: &[Vec<u8>]) -> Reply {
        let mut pairs: Vec<(Reply, Reply)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for pattern in patterns {
            let pattern = pattern.to_ascii_lowercase();
            for p in PARAMS {
                if !seen.contains(&p.name) && glob::matches(&pattern, p.name.as_bytes()) {
                    seen.push(p.name);
                    pairs.push((Reply::bulk(p.name), Reply::bulk(self.get(p.name))));
                }
            }
        }
        Reply::Map(pairs)
    }

    /// `CONFIG SET name value [name value ...]`: all or nothing, as Redis 7 does.
    fn set(&mut self, pairs: &[Vec<u8>]) -> Reply {
        let mut params: Vec<&'static Param> = Vec::new();
        let mut unknown = None;
        for (i, name) in pairs.iter().step_by(2).enumerate() {
            let Some(param) = find(name) else {
                unknown.get_or_insert(name);
                continue;
            };
            if unknown.is_some() {
                continue;
            }
            let refusal = match param.kind {
                Kind::Immutable => Some("can't set immutable config"),
                Kind::Protected => Some("can't set protected config"),
                // An alias and its name are two parameters here, as in Redis.
                _ if params[..i].iter().any(|p| p.name == param.name) => {
                    Some("duplicate parameter")
                }
                _ => None,
            };
            if let Some(why) = refusal {
                return set_failed(name, why);
            }
            params.push(param);
        }
        if let Some(name) = unknown {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(name)
            ));
        }
        let mut normalised = Vec::with_capacity(params.len());
        for (param, pair) in params.iter().zip(pairs.chunks(2)) {
            match normalise(param, &pair[1]) {
                Ok(value) => normalised.push((canonical(param.name), value)),
                Err(why) => return set_failed(&pair[0], &why),
            }
        }
        self.values.extend(normalised);
        Reply::ok()
    }
}

fn set_failed(name: &[u8], why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
        String::from_utf8_lossy(name)
    ))
}

/// The value as `CONFIG GET` will show it, or Redis's reason to refuse it.
fn normalise(param: &Param, value: &[u8]) -> Result<String, Refusal> {
    let text = String::from_utf8_lossy(value);
    match param.kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            word @ ("yes" | "no") => Ok(word.into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(&text))
            .map(|w| w.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )
            }),
        Kind::Int(min, max) => {
            let n = strict_i64(value)
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Memory => memory(value)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::MemoryOrPercent => match value.strip_suffix(b"%") {
            Some(percent) => strict_i64(percent)
                .filter(|p| *p >= 0)
                .map(|p| format!("{p}%"))
                .ok_or_else(|| "argument must be a memory or percent value".into()),
            None => memory(value)
                .map(|n| n.to_string())
                .ok_or_else(|| "argument must be a memory or percent value".into()),
        },
        Kind::Special => special(param.name, &text),
        Kind::Text | Kind::Immutable | Kind::Protected => Ok(text.into_owned()),
    }
}

/// Redis's `memtoull`: digits with an optional unit (`k` 1000, `kb` 1024, up to `gb`).
fn memory(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.is_empty() {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// The parameters with a syntax of their own; those not checked here are stored as given.
fn special(name: &str, text: &str) -> Result<String, Refusal> {
    match name {
        "notify-keyspace-events" => keyspace_events(text),
        "save" => {
            let words: Vec<&str> = text.split_whitespace().collect();
            let valid = words.len().is_multiple_of(2)
                && words
                    .iter()
                    .all(|w| strict_i64(w.as_bytes()).is_some_and(|n| n >= 0));
            if valid {
                Ok(words.join(" "))
            } else {
                Err("Invalid save parameters".into())
            }
        }
        _ => Ok(text.into()),
    }
}

/// `notify-keyspace-events` as Redis normalises it: `A` for every class, then `K`, `E`, `m`.
fn keyspace_events(text: &str) -> Result<String, Refusal> {
    const CLASSES: &str = "g$lshzxetd";
    let mut on: Vec<char> = Vec::new();
    for c in text.chars() {
        if !EVENT_CLASSES.contains(c) {
            return Err(format!(
                "Invalid event class character. Use '{EVENT_CLASSES}'."
            ));
        }
        match c {
            'A' => on.extend(CLASSES.chars()),
            c => on.push(c),
        }
    }
    let mut out = String::new();
    if CLASSES.chars().all(|c| on.contains(&c)) {
        out.push('A');
    } else {
        out.extend(CLASSES.chars().filter(|c| on.contains(c)));
    }
    if on.contains(&'n') {
        out.push('n');
    }
    out.extend("KEm".chars().filter(|c| on.contains(c)));
    Ok(out)
}

/// What `CONFIG` did besides answering, for the emulator to act on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Effect {
    None,
    ResetStats,
    /// These parameters were set (the emulator applies `requirepass`).
    Changed(Vec<&'static str>),
}

/// `CONFIG <subcommand> ...` (`args` name first).
pub(super) fn config(config: &mut Config, args: &[Vec<u8>]) -> (Reply, Effect) {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity_ok = match sub.as_str() {
        "get" => args.len() >= 3,
        "set" => args.len() >= 4 && args.len().is_multiple_of(2),
        "resetstat" | "rewrite" | "help" => args.len() == 2,
        _ => {
            let reply = crate::redis::conn::unknown_subcommand(&args[1], "CONFIG");
            return (reply, Effect::None);
        }
    };
    if !arity_ok {
        let reply = crate::redis::spec::arity_error(&format!("config|{sub}"));
        return (reply, Effect::None);
    }
    match sub.as_str() {
        "get" => (config.get_matching(&args[2..]), Effect::None),
        "set" => {
            let reply = config.set(&args[2..]);
            let effect = if reply.is_error() {
                Effect::None
            } else {
                let names = args[2..].iter().step_by(2).filter_map(|n| find(n));
                Effect::Changed(names.map(|p| canonical(p.name)).collect())
            };
            (reply, effect)
        }
        "resetstat" => (Reply::ok(), Effect::ResetStats),
        "rewrite" => (
            Reply::error("ERR The server is running without a config file"),
            Effect::None,
        ),
        _ => (Reply::simples(HELP), Effect::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut Config, line: &str) -> Reply {
        let args: Vec<Vec<u8>> = line.split(' ').map(|w| w.as_bytes().to_vec()).collect();
        config(c, &args).0
    }

    #[test]
    fn the_table_has_every_parameter_of_redis_7_0_once() {
        assert_eq!(PARAMS.len(), 192);
        for (i, p) in PARAMS.iter().enumerate() {
            assert!(PARAMS[..i].iter().all(|o| o.name != p.name), "{}", p.name);
        }
        let c = Config::default();
        assert_eq!(c.get("hash-max-listpack-entries"), "512");
        assert_eq!(c.get("maxmemory-policy"), "noeviction");
        assert_eq!(c.get("slowlog-log-slower-than"), "10000");
    }

    #[test]
    fn set_validates_and_normalises_like_redis() {
        let mut c = Config::default();
        assert_eq!(run(&mut c, "CONFIG SET maxmemory 1gb"), Reply::ok());
        assert_eq!(c.get("maxmemory"), "1073741824");
        assert_eq!(
            run(&mut c, "CONFIG SET Maxmemory-Policy ALLKEYS-LRU"),
            Reply::ok()
        );
        assert_eq!(c.get("maxmemory-policy"), "allkeys-lru");
        assert_eq!(
            run(&mut c, "CONFIG SET maxmemory-policy lru"),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
                 argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                 volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
                 noeviction"
            )
        );
        assert_eq!(
            run(&mut c, "CONFIG SET foo 1"),
            Reply::error("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
        );
        assert_eq!(
            run(&mut c, "CONFIG SET hz 5 daemonize no"),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set \
                 immutable config"
            )
        );
        assert_eq!(
            run(&mut c, "CONFIG SET hz 5 lfu-log-factor x"),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'lfu-log-factor') - \
                 argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(c.get("hz"), "10", "a failed CONFIG SET changes nothing");
        assert_eq!(
            run(&mut c, "CONFIG SET hz 1 hz 2"),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
            )
        );
        let aliases = "CONFIG SET hash-max-ziplist-entries 1 hash-max-listpack-entries 2";
        assert_eq!(run(&mut c, aliases), Reply::ok());
        assert_eq!(c.int("hash-max-ziplist-entries"), 2);
        assert_eq!(
            run(&mut c, "CONFIG SET hash-max-ziplist-entries 7"),
            Reply::ok()
        );
        assert_eq!(c.int("hash-max-listpack-entries"), 7);
        assert_eq!(
            run(&mut c, "CONFIG SET notify-keyspace-events KEA"),
            Reply::ok()
        );
        assert_eq!(c.get("notify-keyspace-events"), "AKE");
        assert_eq!(
            run(&mut c, "CONFIG SET port 70000"),
            Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'port') - argument must \
                 be between 0 and 65535 inclusive"
            )
        );
        assert_eq!(
            run(&mut c, "CONFIG SET maxmemory"),
            Reply::error("ERR wrong number of arguments for 'config|set' command")
        );
    }

    #[test]
    fn get_matches_globs_once_per_parameter() {
        let mut c = Config::default();
        let Reply::Map(pairs) = run(&mut c, "CONFIG GET maxmemory* maxmemory") else {
            panic!("a map");
        };
        let names: Vec<Reply> = pairs.into_iter().map(|(k, _)| k).collect();
        assert_eq!(names.len(), 5);
        assert_eq!(run(&mut c, "CONFIG GET nosuch"), Reply::Map(vec![]));
    }

    #[test]
    fn memory_values_take_units() {
        assert_eq!(memory(b"1kb"), Some(1024));
        assert_eq!(memory(b"2K"), Some(2000));
        assert_eq!(memory(b"-1"), None);
        assert_eq!(memory(b"mb"), None);
        assert_eq!(memory(b"99999999999999999999gb"), None);
    }
}
