//! What Redis 7.0 tells about its commands: the full `COMMAND INFO` entry (ACL categories,
//! tips, key specifications, subcommands) and the keys of a command line, as `COMMAND GETKEYS`
//! finds them. [`table`] is generated from a real server's `COMMAND` by `generate.py`; the
//! key finder is the one place the emulator extracts keys (WATCH, ACL key rules, GETKEYS).

use super::glob;
use super::reply::Reply;

mod table;

/// One command or subcommand as `COMMAND INFO` describes it.
#[derive(Debug)]
pub struct Meta {
    /// Lower case; `container|sub` for a subcommand.
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    /// The legacy first key, last key, step.
    pub keys: (i32, i32, i32),
    /// ACL categories, `@` included.
    pub acl: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub specs: &'static [KeySpec],
    pub subcommands: &'static [Meta],
}

/// A key specification: where the search for keys starts, and how keys follow.
#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    /// `RW`/`RO`/`OW`/`RM`, `access`/`update`/`insert`/`delete`, `not_key`, `incomplete`, ...
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

#[derive(Debug)]
pub enum Begin {
    Index(i32),
    /// The keyword, and where to start looking for it (negative: from the end, backwards).
    Keyword(&'static str, i32),
    Unknown,
}

#[derive(Debug)]
pub enum Find {
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

/// One key of a command line: its index (name at 0) and its key-spec flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub index: usize,
    pub flags: &'static [&'static str],
}

/// Why `COMMAND GETKEYS` finds no keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysError {
    /// The command never takes keys.
    NoKeyArguments,
    /// The words do not match the command's arity.
    WrongArity,
    /// The keys cannot be located (a bad `numkeys`, a missing keyword argument).
    InvalidArguments,
}

impl KeysError {
    /// Redis's error for `COMMAND GETKEYS`.
    pub fn reply(self) -> Reply {
        Reply::error(match self {
            KeysError::NoKeyArguments => "ERR The command has no key arguments",
            KeysError::WrongArity => "ERR Invalid number of arguments specified for command",
            KeysError::InvalidArguments => "ERR Invalid arguments specified for command",
        })
    }
}

/// The entry of `name` (`container|sub` for a subcommand), case-insensitively.
pub fn find(name: &str) -> Option<&'static Meta> {
    let (base, sub) = match name.split_once('|') {
        Some((base, sub)) => (base, Some(sub)),
        None => (name, None),
    };
    // Without lowering a copy: this runs for every command that reads keys.
    let meta = table::COMMANDS
        .binary_search_by(|m| {
            let lower = base.bytes().map(|b| b.to_ascii_lowercase());
            m.name.bytes().cmp(lower)
        })
        .ok()
        .map(|i| &table::COMMANDS[i])?;
    match sub {
        None => Some(meta),
        Some(sub) => subcommand(meta, sub),
    }
}

/// The subcommand `sub` (any case) of a container.
fn subcommand(meta: &'static Meta, sub: &str) -> Option<&'static Meta> {
    meta.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, n)| n.eq_ignore_ascii_case(sub))
    })
}

/// The entry a command line runs: the subcommand's for a container given one, as Redis's
/// `lookupCommand` resolves it; `None` for an unknown command or subcommand.
pub fn resolve(words: &[Vec<u8>]) -> Option<&'static Meta> {
    let name = String::from_utf8_lossy(words.first()?);
    if name.contains('|') {
        return None;
    }
    let meta = find(&name)?;
    match words.get(1) {
        Some(sub) if !meta.subcommands.is_empty() => {
            subcommand(meta, &String::from_utf8_lossy(sub))
        }
        _ => Some(meta),
    }
}

impl Meta {
    /// Whether `words` (name included) is a number of words the command accepts.
    pub fn arity_ok(&self, words: usize) -> bool {
        let arity = i64::from(self.arity);
        let words = i64::try_from(words).unwrap_or(i64::MAX);
        if arity >= 0 {
            words == arity
        } else {
            words >= -arity
        }
    }

    /// Whether the command takes keys at all (Redis's `doesCommandHaveKeys`).
    pub fn has_keys(&self) -> bool {
        self.specs.iter().any(|s| !s.flags.contains(&"not_key"))
    }

    /// The `COMMAND INFO` entry, RESP2 and RESP3 as Redis 7.0 shapes it.
    pub fn info(&self) -> Reply {
        let (first, last, step) = self.keys;
        let simples = |items: &[&str]| Reply::Set(items.iter().map(|i| simple(i)).collect());
        Reply::Array(vec![
            Reply::bulk(self.name),
            Reply::Int(self.arity.into()),
            simples(self.flags),
            Reply::Int(first.into()),
            Reply::Int(last.into()),
            Reply::Int(step.into()),
            simples(self.acl),
            Reply::Set(self.tips.iter().map(Reply::bulk).collect()),
            Reply::Set(self.specs.iter().map(KeySpec::info).collect()),
            // An empty set for no subcommands, as Redis answers.
            match self.subcommands {
                [] => Reply::Set(Vec::new()),
                subs => Reply::Array(subs.iter().map(Meta::info).collect()),
            },
        ])
    }

    /// The keys of a command line (`words[0]` is the command's name), as Redis's
    /// `getKeysFromCommandWithSpecs` finds them: by the key specs when they are complete, else
    /// by the command's own parser. Does not check the arity.
    pub fn keys(&'static self, words: &[Vec<u8>]) -> Result<Vec<KeyRef>, KeysError> {
        let variable = self
            .specs
            .iter()
            .any(|s| s.flags.contains(&"variable_flags"));
        let by_specs = match self.has_keys() && !variable {
            true => keys_by_specs(self.specs, words),
            false => None,
        };
        let keys = by_specs
            .or_else(|| native_keys(self.name, words))
            .unwrap_or_default();
        if keys.is_empty() && !self.flags.contains(&"no_mandatory_keys") {
            return Err(KeysError::InvalidArguments);
        }
        Ok(keys)
    }

    /// The key indexes `COMMAND GETKEYS` answers, checked as Redis checks them first.
    pub fn getkeys(&'static self, words: &[Vec<u8>]) -> Result<Vec<KeyRef>, KeysError> {
        if !self.has_keys() {
            return Err(KeysError::NoKeyArguments);
        }
        if !self.arity_ok(words.len()) {
            return Err(KeysError::WrongArity);
        }
        self.keys(words)
    }
}

fn simple(text: &str) -> Reply {
    Reply::Simple(text.to_string())
}

impl KeySpec {
    fn info(&self) -> Reply {
        let field = |name: &str, value: Reply| (Reply::bulk(name), value);
        let int = |name: &str, value: i32| field(name, Reply::Int(value.into()));
        let (begin_type, begin_spec) = match self.begin {
            Begin::Index(index) => ("index", vec![int("index", index)]),
            Begin::Keyword(keyword, startfrom) => (
                "keyword",
                vec![
                    field("keyword", Reply::bulk(keyword)),
                    int("startfrom", startfrom),
                ],
            ),
            Begin::Unknown => ("unknown", vec![]),
        };
        let (find_type, find_spec) = match self.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => (
                "range",
                vec![
                    int("lastkey", lastkey),
                    int("keystep", keystep),
                    int("limit", limit),
                ],
            ),
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => (
                "keynum",
                vec![
                    int("keynumidx", keynumidx),
                    int("firstkey", firstkey),
                    int("keystep", keystep),
                ],
            ),
            Find::Unknown => ("unknown", vec![]),
        };
        let search = |kind: &str, spec: Vec<(Reply, Reply)>| {
            Reply::Map(vec![
                field("type", Reply::bulk(kind)),
                field("spec", Reply::Map(spec)),
            ])
        };
        let mut pairs = Vec::new();
        if let Some(notes) = self.notes {
            pairs.push(field("notes", Reply::bulk(notes)));
        }
        pairs.push(field(
            "flags",
            Reply::Set(self.flags.iter().map(|f| simple(f)).collect()),
        ));
        pairs.push(field("begin_search", search(begin_type, begin_spec)));
        pairs.push(field("find_keys", search(find_type, find_spec)));
        Reply::Map(pairs)
    }
}

/// Redis's `getKeysUsingKeySpecs`; `None` when a spec cannot locate its keys.
fn keys_by_specs(specs: &'static [KeySpec], words: &[Vec<u8>]) -> Option<Vec<KeyRef>> {
    let argc = words.len() as i64;
    let mut keys = Vec::new();
    for spec in specs.iter().filter(|s| !s.flags.contains(&"not_key")) {
        let first = match spec.begin {
            Begin::Index(index) => i64::from(index),
            Begin::Keyword(keyword, startfrom) => match find_keyword(words, keyword, startfrom) {
                Some(at) => at + 1,
                None => continue,
            },
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + i64::from(lastkey)
                } else if limit == 0 {
                    argc + i64::from(lastkey)
                } else {
                    first + ((argc - first) / i64::from(limit) + i64::from(lastkey))
                };
                (first, last, i64::from(keystep))
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = usize::try_from(first + i64::from(keynumidx)).ok()?;
                let numkeys = crate::redis::command::strict_i64(words.get(at)?)?;
                if numkeys < 0 {
                    return None;
                }
                let first = first + i64::from(firstkey);
                (first, first.saturating_add(numkeys) - 1, i64::from(keystep))
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push(KeyRef {
                index: i as usize,
                flags: spec.flags,
            });
            i += step.max(1);
        }
    }
    Some(keys)
}

/// The index of `keyword` (case-insensitively), searched from `startfrom` towards the end,
/// or from the end backwards for a negative `startfrom`; the last word is never a match
/// when searching forwards, nor the name when searching backwards.
fn find_keyword(words: &[Vec<u8>], keyword: &str, startfrom: i32) -> Option<i64> {
    let argc = words.len() as i64;
    let start = if startfrom > 0 {
        i64::from(startfrom)
    } else {
        argc + i64::from(startfrom)
    };
    let end = if startfrom > 0 { argc - 1 } else { 1 };
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            break;
        }
        if words[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
            return Some(i);
        }
        i += if start <= end { 1 } else { -1 };
    }
    None
}

const RO_ACCESS: &[&str] = &["RO", "access"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
const OW_UPDATE: &[&str] = &["OW", "update"];
const NO_FLAGS: &[&str] = &[];

/// The command's own key parser (Redis's `getkeys_proc`), for commands whose specs are
/// incomplete or whose flags depend on the arguments; `None` for a command without one.
fn native_keys(name: &str, words: &[Vec<u8>]) -> Option<Vec<KeyRef>> {
    let key = |index: usize, flags| KeyRef { index, flags };
    let is = |i: usize, word: &str| {
        words
            .get(i)
            .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    Some(match name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            counted_keys(words, 0, 2, 3)
        }
        "zunion" | "zinter" | "zdiff" | "lmpop" | "zmpop" => counted_keys(words, 0, 1, 2),
        "zunionstore" | "zinterstore" | "zdiffstore" => counted_keys(words, 1, 2, 3),
        "blmpop" | "bzmpop" => counted_keys(words, 0, 2, 3),
        "set" => {
            let get = (3..words.len()).any(|i| is(i, "get"));
            vec![key(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]
        }
        "bitfield" => vec![key(
            1,
            if bitfield_readonly(words) {
                RO_ACCESS
            } else {
                RW_ACCESS_UPDATE
            },
        )],
        "sort" | "sort_ro" => {
            let mut keys = vec![key(1, RO_ACCESS)];
            let mut store = None;
            let mut i = 2;
            while i < words.len() {
                if is(i, "limit") {
                    i += 2;
                } else if is(i, "get") || is(i, "by") {
                    i += 1;
                } else if is(i, "store") && i + 1 < words.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            keys.extend(store.map(|i| key(i, OW_UPDATE)));
            keys
        }
        "georadius" | "georadiusbymember" => {
            let mut store = None;
            let mut i = 5;
            while i < words.len() {
                if (is(i, "store") || is(i, "storedist")) && i + 1 < words.len() {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            std::iter::once(1)
                .chain(store)
                .map(|i| key(i, NO_FLAGS))
                .collect()
        }
        "xread" | "xreadgroup" => xread_keys(words),
        _ => return None,
    })
}

/// Redis's `genericGetKeys`: `numkeys` at `count_at`, keys from `first`, and the
/// destination at `store` (0: none) last; nothing when `numkeys` is out of range.
fn counted_keys(words: &[Vec<u8>], store: usize, count_at: usize, first: usize) -> Vec<KeyRef> {
    let count = words.get(count_at).map_or(0, |w| atoi(w));
    let available = words.len().saturating_sub(first) as i64;
    if count < 1 || count > available {
        return Vec::new();
    }
    let keys = (first..first + count as usize).chain((store > 0).then_some(store));
    keys.map(|index| KeyRef {
        index,
        flags: NO_FLAGS,
    })
    .collect()
}

/// C's `atoi` on a word: leading digits after an optional sign, 0 if none.
fn atoi(word: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(word);
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}

/// Whether a `BITFIELD` line only reads (Redis's `bitfieldGetKeys`).
fn bitfield_readonly(words: &[Vec<u8>]) -> bool {
    let mut i = 2;
    while i < words.len() {
        let rest = words.len() - i - 1;
        let word = &words[i];
        if word.eq_ignore_ascii_case(b"get") && rest >= 2 {
            i += 2;
        } else if word.eq_ignore_ascii_case(b"overflow") && rest >= 1 {
            i += 1;
        } else {
            return false;
        }
        i += 1;
    }
    true
}

/// Redis's `xreadGetKeys`: the first half of the words after `STREAMS`.
fn xread_keys(words: &[Vec<u8>]) -> Vec<KeyRef> {
    let mut streams = None;
    let mut i = 1;
    while i < words.len() {
        let word = words[i].to_ascii_lowercase();
        match word.as_slice() {
            b"block" | b"count" => i += 1,
            b"group" => i += 2,
            b"noack" => {}
            b"streams" => {
                streams = Some(i);
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let Some(at) = streams else {
        return Vec::new();
    };
    let rest = words.len() - at - 1;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Vec::new();
    }
    (at + 1..at + 1 + rest / 2)
        .map(|index| KeyRef {
            index,
            flags: NO_FLAGS,
        })
        .collect()
}

/// `COMMAND LIST [FILTERBY MODULE name|ACLCAT category|PATTERN pattern]` over `names`
/// (top-level commands): each command, then its subcommands.
pub fn list(names: &[&str], filter: &[Vec<u8>]) -> Reply {
    let all = names
        .iter()
        .filter_map(|n| find(n))
        .flat_map(|m| std::iter::once(m).chain(m.subcommands.iter()));
    let keep: Box<dyn Fn(&Meta) -> bool> = match filter {
        [] => Box::new(|_| true),
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
            let value = value.clone();
            match kind.to_ascii_lowercase().as_slice() {
                // No modules: nothing belongs to one.
                b"module" => Box::new(|_| false),
                b"aclcat" => Box::new(move |m| {
                    m.acl
                        .iter()
                        .any(|c| c.as_bytes()[1..].eq_ignore_ascii_case(&value))
                }),
                // Redis matches without case; names are lower case, so lowering the
                // pattern (ranges included, as Redis's `tolower` does) is the same.
                b"pattern" => {
                    let pattern = glob::Glob::new(&value.to_ascii_lowercase());
                    Box::new(move |m| pattern.matches(m.name.as_bytes()))
                }
                _ => return Reply::error("ERR syntax error"),
            }
        }
        _ => return Reply::error("ERR syntax error"),
    };
    Reply::bulks(all.filter(|m| keep(m)).map(|m| m.name))
}

#[cfg(test)]
mod tests;
