//! Redis 7.0's ACL for an emulated address: one user table, seeded from the entry's
//! `password` (the `default` user's, as `requirepass`) and `users`, changed by `ACL SETUSER`,
//! `ACL DELUSER` and `CONFIG SET requirepass`, and used by `AUTH`/`HELLO ... AUTH`.
//!
//! Enforced on the commands the emulator runs: `on`/`off`, passwords (`>`, `<`, `#`, `!`,
//! `nopass`, `resetpass`), command rules (`+@all`, `-@all`, `+cmd`, `-cmd`, `+cmd|sub`, and
//! the categories `ACL CAT` lists, derived from each command's flags and family), and key
//! patterns (`~pattern`, `allkeys`, `resetkeys`) on the keys a command's spec names, with
//! Redis's `NOPERM` errors and `ACL LOG` entries. Not modelled: channel patterns (`&`, stored
//! and listed only), read/write key patterns (`%R~`, `%W~`: taken as `~`), selectors
//! (`(...)`: refused), and rules on the commands the connection answers itself (`PING`,
//! `CLIENT`, `INFO`, ...). Rules are listed as given, where Redis rewrites them.
//!
//! An entry with neither `password` nor `users` accepts any `AUTH` (DESIGN.md section 6a)
//! until the users are changed with `ACL SETUSER`, `ACL DELUSER` or `CONFIG SET requirepass`.

use std::collections::{BTreeMap, VecDeque};

use super::super::{Emulator, NOT_INTEGER};
use crate::redis::auth::{self, Credentials, DEFAULT_USER};
use crate::redis::command::{Command, strict_i64};
use crate::redis::command_meta;
use crate::redis::conn::{Connection, subcommand_syntax_error, unknown_subcommand};
use crate::redis::glob;
use crate::redis::reply::Reply;
use crate::redis::spec::{self, SPECS, Spec};

/// Redis's categories, in the order `ACL CAT` lists them.
const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Redis keeps this many `ACL LOG` entries by default (`acllog-max-len`).
const LOG_MAX: usize = 128;

/// The most passwords one user may have: each `>password` of a peer adds one.
const MAX_PASSWORDS: usize = 64;
/// The most key patterns, channel patterns and command rules one user may have.
const MAX_RULES: usize = 1024;

const NOPERM_KEYS: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

/// One user of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AclUser {
    enabled: bool,
    nopass: bool,
    /// SHA-256 of each password, lower-case hex, as `ACL LIST` shows them.
    passwords: Vec<String>,
    /// `~pattern`s; `~*` is every key.
    keys: Vec<Vec<u8>>,
    /// `&pattern`s (not enforced).
    channels: Vec<Vec<u8>>,
    /// `+@all`, `-get`, ... in the order given; the last that matches a command decides.
    rules: Vec<String>,
}

impl AclUser {
    /// A user as `ACL SETUSER name` creates it: off, no password, no keys, no commands.
    fn new() -> Self {
        AclUser {
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// `on ~* &* +@all` with one password, or `nopass` without.
    fn full(password: Option<&[u8]>, enabled: bool) -> Self {
        AclUser {
            enabled,
            nopass: password.is_none(),
            passwords: password.map(sha256_hex).into_iter().collect(),
            keys: vec![b"*".to_vec()],
            channels: vec![b"*".to_vec()],
            rules: vec!["+@all".into()],
        }
    }

    /// Whether the user may run every command on every key: nothing to check.
    fn unrestricted(&self) -> bool {
        self.rules.len() == 1 && self.rules[0] == "+@all" && self.keys.iter().any(|k| k == b"*")
    }

    /// Whether the user may run the command `name` (lower case), subcommand `sub`.
    fn may_run(&self, name: &str, sub: Option<&str>) -> bool {
        let spec = spec::find(name);
        let mut allowed = false;
        for rule in &self.rules {
            let (allow, target) = rule.split_at(1);
            let matches = match target.strip_prefix('@') {
                Some(category) => spec.is_some() && in_category(name, sub, category),
                None => match target.split_once('|') {
                    Some((cmd, s)) => cmd == name && sub == Some(s),
                    None => target == name,
                },
            };
            if matches {
                allowed = allow == "+";
            }
        }
        allowed
    }

    /// Whether every key the command names matches one of the user's patterns.
    fn may_access(&self, spec: &Spec, args: &[Vec<u8>]) -> bool {
        super::super::watch::key_positions(spec, args)
            .into_iter()
            .all(|i| self.keys.iter().any(|p| glob::matches(p, &args[i])))
    }

    /// The line of `ACL LIST` after `user <name> `.
    fn describe(&self) -> String {
        let mut words = vec![if self.enabled { "on" } else { "off" }.to_string()];
        if self.nopass {
            words.push("nopass".into());
        }
        words.extend(self.passwords.iter().map(|h| format!("#{h}")));
        words.extend(
            self.keys
                .iter()
                .map(|k| format!("~{}", String::from_utf8_lossy(k))),
        );
        if self.channels.is_empty() {
            words.push("resetchannels".into());
        }
        words.extend(
            self.channels
                .iter()
                .map(|c| format!("&{}", String::from_utf8_lossy(c))),
        );
        words.push(self.commands());
        words.join(" ")
    }

    fn commands(&self) -> String {
        if self.rules.is_empty() {
            "-@all".into()
        } else {
            self.rules.join(" ")
        }
    }

    /// `ACL GETUSER`'s reply.
    fn details(&self) -> Reply {
        let mut flags = vec![Reply::bulk(if self.enabled { "on" } else { "off" })];
        if self.nopass {
            flags.push(Reply::bulk("nopass"));
        }
        let patterns = |prefix: &str, items: &[Vec<u8>]| {
            let words: Vec<String> = items
                .iter()
                .map(|p| format!("{prefix}{}", String::from_utf8_lossy(p)))
                .collect();
            Reply::bulk(words.join(" "))
        };
        Reply::Map(vec![
            (Reply::bulk("flags"), Reply::Set(flags)),
            (Reply::bulk("passwords"), Reply::bulks(&self.passwords)),
            (Reply::bulk("commands"), Reply::bulk(self.commands())),
            (Reply::bulk("keys"), patterns("~", &self.keys)),
            (Reply::bulk("channels"), patterns("&", &self.channels)),
            (Reply::bulk("selectors"), Reply::Array(Vec::new())),
        ])
    }

    /// Applies one `ACL SETUSER` rule; `Err` is Redis's reason.
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let text = String::from_utf8_lossy(rule);
        let lower = text.to_ascii_lowercase();
        let grown = self.passwords.len() >= MAX_PASSWORDS
            || self.keys.len() + self.channels.len() + self.rules.len() >= MAX_RULES;
        if grown && !matches!(lower.as_str(), "reset" | "resetpass" | "resetkeys") {
            return Err("Too many rules for one user");
        }
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![b"*".to_vec()],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = vec![b"*".to_vec()],
            "resetchannels" => self.channels.clear(),
            "allcommands" => self.rules = vec!["+@all".into()],
            "nocommands" => self.rules.clear(),
            "reset" => *self = AclUser::new(),
            _ => return self.apply_prefixed(rule, &lower),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8], lower: &str) -> Result<(), &'static str> {
        let rest = &rule[1..];
        match rule.first() {
            Some(b'>') => self.add_password(sha256_hex(rest)),
            Some(b'#') => {
                let hash = String::from_utf8_lossy(rest).into_owned();
                if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(
                        "The password hash must be exactly 64 characters and contain \
                                only lowercase hexadecimal characters",
                    );
                }
                self.add_password(hash);
            }
            Some(b'<' | b'!') => {
                let hash = if rule[0] == b'<' {
                    sha256_hex(rest)
                } else {
                    String::from_utf8_lossy(rest).into_owned()
                };
                let before = self.passwords.len();
                self.passwords.retain(|h| *h != hash);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist",
                    );
                }
            }
            Some(b'~') => self.keys.push(rest.to_vec()),
            Some(b'%') => {
                let at = rest.iter().position(|b| *b == b'~').ok_or("Syntax error")?;
                let modes = &rest[..at];
                if modes.is_empty() || !modes.iter().all(|m| matches!(m, b'R' | b'W' | b'r' | b'w'))
                {
                    return Err("Syntax error");
                }
                self.keys.push(rest[at + 1..].to_vec());
            }
            Some(b'&') => self.channels.push(rest.to_vec()),
            Some(b'+' | b'-') => self.add_rule(lower)?,
            _ => return Err("Syntax error"),
        }
        Ok(())
    }

    fn add_password(&mut self, hash: String) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    /// `+name`, `-name`, `+name|sub`, `+@category`, `-@category`.
    fn add_rule(&mut self, rule: &str) -> Result<(), &'static str> {
        const UNKNOWN: &str = "Unknown command or category name in ACL";
        let target = &rule[1..];
        let known = match target.strip_prefix('@') {
            Some(category) => category == "all" || CATEGORIES.contains(&category),
            None => match target.split_once('|') {
                Some((cmd, sub)) => spec::redis_has(cmd, Some(sub)),
                None => spec::redis_has(target, None),
            },
        };
        if !known {
            return Err(UNKNOWN);
        }
        if target == "@all" {
            self.rules.clear();
        }
        self.rules.push(rule.to_string());
        Ok(())
    }
}

/// Whether the command `name` (its subcommand `sub`, when Redis has it) is in the ACL
/// `category`, by Redis's own command table ([`command_meta`]).
fn in_category(name: &str, sub: Option<&str>, category: &str) -> bool {
    if category == "all" {
        return true;
    }
    let meta = sub
        .and_then(|sub| command_meta::find(&format!("{name}|{sub}")))
        .or_else(|| command_meta::find(name));
    meta.is_some_and(|m| m.acl.iter().any(|c| c.strip_prefix('@') == Some(category)))
}

fn sha256_hex(password: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, password);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// One `ACL LOG` entry: a command refused by the rules.
#[derive(Debug, Clone)]
struct Denial {
    count: u64,
    reason: &'static str,
    object: String,
    username: String,
    at_ms: u64,
    client_info: String,
}

/// The user table and the log of refusals.
#[derive(Debug, Clone)]
pub(crate) struct Acl {
    users: BTreeMap<String, AclUser>,
    /// Whether the entry declared users, or they were changed since: otherwise any `AUTH`
    /// succeeds (DESIGN.md section 6a).
    configured: bool,
    log: VecDeque<Denial>,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new(&Credentials::default())
    }
}

impl Acl {
    /// The table an `emulate` entry declares.
    pub fn new(credentials: &Credentials) -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            DEFAULT_USER.to_string(),
            AclUser::full(credentials.password.as_deref(), true),
        );
        for user in &credentials.users {
            users.insert(
                user.name.clone(),
                AclUser::full(Some(&user.password), user.enabled),
            );
        }
        Acl {
            users,
            configured: credentials.configured(),
            log: VecDeque::new(),
        }
    }

    /// Every user's name, `default` included.
    pub fn names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Whether a new connection is authenticated as `default` without `AUTH`.
    pub fn open(&self) -> bool {
        self.users[DEFAULT_USER].enabled && self.users[DEFAULT_USER].nopass
    }

    /// `AUTH [user] password`: the user now authenticated, or Redis's error.
    pub fn authenticate(&self, user: Option<&[u8]>, password: &[u8]) -> Result<String, Reply> {
        if !self.configured {
            return Ok(auth::accept_any(user));
        }
        let name = match user {
            None if self.users[DEFAULT_USER].nopass => {
                return Err(Reply::error(auth::NO_PASSWORD_CONFIGURED));
            }
            None => DEFAULT_USER.to_string(),
            Some(name) => String::from_utf8_lossy(name).into_owned(),
        };
        let accepted = self.users.get(&name).is_some_and(|u| {
            u.enabled && (u.nopass || u.passwords.contains(&sha256_hex(password)))
        });
        if accepted {
            Ok(name)
        } else {
            Err(Reply::error(auth::WRONGPASS))
        }
    }

    /// `CONFIG SET requirepass`: the default user's only password, or `nopass` when empty.
    pub fn set_requirepass(&mut self, password: &[u8]) {
        let default = self.users.get_mut(DEFAULT_USER).expect("default user");
        default.passwords.clear();
        default.nopass = password.is_empty();
        if !password.is_empty() {
            default.passwords.push(sha256_hex(password));
        }
        self.configured = true;
    }

    /// The `NOPERM` refusal of a command `user` may not run, logged in `ACL LOG`. A
    /// connection whose user was deleted is refused everything.
    pub fn check(&mut self, conn: &Connection, args: &[Vec<u8>], now_ms: u64) -> Result<(), Reply> {
        let username = conn.user().unwrap_or(DEFAULT_USER);
        let Some(user) = self.users.get(username) else {
            return Ok(());
        };
        if user.unrestricted() {
            return Ok(());
        }
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let sub = args
            .get(1)
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
        let sub = sub.filter(|s| spec::redis_has(&name, Some(s)));
        let (reason, object, refusal) = if !user.may_run(&name, sub.as_deref()) {
            let shown = match &sub {
                Some(sub) => format!("{name}|{sub}"),
                None => name.clone(),
            };
            let text = format!("NOPERM this user has no permissions to run the '{shown}' command");
            ("command", shown, text)
        } else {
            let Some(spec) = spec::find(&name) else {
                return Ok(());
            };
            if user.may_access(spec, args) {
                return Ok(());
            }
            let key = super::super::watch::key_positions(spec, args)
                .into_iter()
                .find(|i| !user.keys.iter().any(|p| glob::matches(p, &args[*i])))
                .map(|i| String::from_utf8_lossy(&args[i]).into_owned())
                .unwrap_or_default();
            ("key", key, NOPERM_KEYS.to_string())
        };
        self.log_denial(conn, reason, object, username, now_ms);
        Err(Reply::error(refusal))
    }

    fn log_denial(
        &mut self,
        conn: &Connection,
        reason: &'static str,
        object: String,
        username: &str,
        now_ms: u64,
    ) {
        let same = self
            .log
            .iter_mut()
            .find(|d| d.reason == reason && d.object == object && d.username == username);
        if let Some(denial) = same {
            denial.count += 1;
            denial.at_ms = now_ms;
            return;
        }
        self.log.push_front(Denial {
            count: 1,
            reason,
            object,
            username: username.to_string(),
            at_ms: now_ms,
            client_info: format!(
                "id={} addr=127.0.0.1:0 laddr=127.0.0.1:6379 fd=8 name={} db={} user={username} \
                 resp={}",
                conn.id,
                String::from_utf8_lossy(conn.name.as_deref().unwrap_or_default()),
                conn.db,
                conn.protocol.number()
            ),
        });
        self.log.truncate(LOG_MAX);
    }
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

/// Subcommands with Redis's arities.
const ARITIES: &[(&str, i64)] = &[
    ("cat", -2),
    ("deluser", -3),
    ("dryrun", -4),
    ("genpass", -2),
    ("getuser", 3),
    ("help", 2),
    ("list", 2),
    ("load", 2),
    ("log", -2),
    ("save", 2),
    ("setuser", -3),
    ("users", 2),
    ("whoami", 2),
];

/// `ACL <subcommand> ...`.
pub(super) fn acl_command(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some((_, arity)) = ARITIES.iter().find(|(name, _)| *name == sub) else {
        return unknown_subcommand(&args[1], "ACL");
    };
    let words = args.len() as i64;
    if (*arity >= 0 && words != *arity) || (*arity < 0 && words < -arity) {
        return spec::arity_error(&format!("acl|{sub}"));
    }
    let now = em.now;
    let acl = &mut em.admin.acl;
    match sub.as_str() {
        "whoami" => Reply::bulk(conn.user().unwrap_or(DEFAULT_USER)),
        "users" => Reply::bulks(acl.users.keys()),
        "list" => Reply::bulks(
            acl.users
                .iter()
                .map(|(name, user)| format!("user {name} {}", user.describe())),
        ),
        "getuser" => {
            let name = String::from_utf8_lossy(&args[2]);
            acl.users
                .get(name.as_ref())
                .map_or(Reply::Nil, AclUser::details)
        }
        "setuser" => setuser(acl, &args[2], &args[3..]),
        "deluser" => deluser(acl, &args[2..]),
        "cat" => cat(&args[1], &args[2..]),
        "genpass" => genpass(args.get(2)),
        "log" => log(acl, args.get(2), now),
        "dryrun" => dryrun(acl, &args[2..]),
        "load" | "save" => Reply::error(
            "ERR This Redis instance is not configured to use an ACL file. You may want to \
             specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming \
             you have a Redis configuration file set) in order to store users in the Redis \
             configuration.",
        ),
        _ => Reply::simples(HELP),
    }
}

/// `ACL SETUSER name rule ...`: all rules or none.
fn setuser(acl: &mut Acl, name: &[u8], rules: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(name).into_owned();
    if name.contains(' ') {
        return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    let mut user = acl.users.get(&name).cloned().unwrap_or_else(AclUser::new);
    for rule in rules {
        if rule.first() == Some(&b'(') || rule.eq_ignore_ascii_case(b"clearselectors") {
            return Reply::error(format!(
                "ERR mocket: ACL selectors ('{}') are not emulated; use one rule set per user",
                String::from_utf8_lossy(rule)
            ));
        }
        if let Err(why) = user.apply(rule) {
            return Reply::error(format!(
                "ERR Error in ACL SETUSER modifier '{}': {why}",
                String::from_utf8_lossy(rule)
            ));
        }
    }
    acl.users.insert(name, user);
    acl.configured = true;
    Reply::ok()
}

/// `ACL DELUSER name ...`: how many existed.
fn deluser(acl: &mut Acl, names: &[Vec<u8>]) -> Reply {
    if names
        .iter()
        .any(|n| n.as_slice() == DEFAULT_USER.as_bytes())
    {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let removed = names
        .iter()
        .filter(|n| {
            acl.users
                .remove(String::from_utf8_lossy(n).as_ref())
                .is_some()
        })
        .count();
    acl.configured = true;
    Reply::Int(removed as i64)
}

/// `ACL CAT [category]`: the categories, or the known commands of one; `word` is `CAT` as
/// the client spelled it.
fn cat(word: &[u8], params: &[Vec<u8>]) -> Reply {
    match params {
        [] => Reply::bulks(CATEGORIES),
        [category] => {
            let name = String::from_utf8_lossy(category).to_ascii_lowercase();
            if !CATEGORIES.contains(&name.as_str()) {
                return Reply::error(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(category)
                ));
            }
            // The commands mocket answers and their subcommands, as `COMMAND LIST` filters.
            let names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
            let filter = [b"filterby".to_vec(), b"aclcat".to_vec(), name.into_bytes()];
            command_meta::list(&names, &filter)
        }
        _ => subcommand_syntax_error(word, "ACL"),
    }
}

/// `ACL GENPASS [bits]`: random hex, 256 bits by default.
fn genpass(bits: Option<&Vec<u8>>) -> Reply {
    let bits = match bits.map(|b| strict_i64(b)) {
        None => 256,
        Some(Some(n)) if (1..=4096).contains(&n) => n as usize,
        Some(None) => return Reply::error(NOT_INTEGER),
        Some(Some(_)) => {
            return Reply::error(
                "ERR ACL GENPASS argument must be the number of bits for the output password, a \
                 positive number up to 4096",
            );
        }
    };
    let chars = bits.div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    if getrandom::getrandom(&mut bytes).is_err() {
        return Reply::error("ERR mocket: the system's random source failed; retry ACL GENPASS");
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Reply::bulk(&hex[..chars])
}

/// `ACL LOG [count | RESET]`, newest first.
fn log(acl: &mut Acl, arg: Option<&Vec<u8>>, now_ms: u64) -> Reply {
    let count = match arg {
        None => 10,
        Some(a) if a.eq_ignore_ascii_case(b"reset") => {
            acl.log.clear();
            return Reply::ok();
        }
        // A negative count lists nothing, as in Redis.
        Some(a) => match strict_i64(a) {
            Some(n) => usize::try_from(n).unwrap_or(0),
            None => return Reply::error(NOT_INTEGER),
        },
    };
    Reply::Array(
        acl.log
            .iter()
            .take(count)
            .map(|d| {
                let age = now_ms.saturating_sub(d.at_ms) as f64 / 1000.0;
                Reply::Map(vec![
                    (Reply::bulk("count"), Reply::Int(d.count as i64)),
                    (Reply::bulk("reason"), Reply::bulk(d.reason)),
                    (Reply::bulk("context"), Reply::bulk("toplevel")),
                    (Reply::bulk("object"), Reply::bulk(&d.object)),
                    (Reply::bulk("username"), Reply::bulk(&d.username)),
                    (Reply::bulk("age-seconds"), Reply::Double(age)),
                    (Reply::bulk("client-info"), Reply::bulk(&d.client_info)),
                ])
            })
            .collect(),
    )
}

/// `ACL DRYRUN user command [arg ...]`: whether the user could run it, logging nothing.
fn dryrun(acl: &Acl, params: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&params[0]);
    let Some(user) = acl.users.get(name.as_ref()) else {
        return Reply::error(format!("ERR User '{name}' not found"));
    };
    let command = Command {
        args: params[1..].to_vec(),
    };
    let cmd_name = command.name().to_ascii_lowercase();
    let Some(spec) = spec::find(&cmd_name) else {
        return Reply::error(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(&params[1])
        ));
    };
    if !spec.arity_ok(command.args.len()) {
        return spec::arity_error(spec.name);
    }
    let sub = command
        .args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .filter(|s| spec::redis_has(&cmd_name, Some(s)));
    if !user.may_run(&cmd_name, sub.as_deref()) {
        let shown = match &sub {
            Some(sub) => format!("{cmd_name}|{sub}"),
            None => cmd_name,
        };
        return Reply::bulk(format!(
            "This user has no permissions to run the '{shown}' command"
        ));
    }
    if !user.may_access(spec, &command.args) {
        let key = super::super::watch::key_positions(spec, &command.args)
            .into_iter()
            .find(|i| {
                !user
                    .keys
                    .iter()
                    .any(|p| glob::matches(p, &command.args[*i]))
            })
            .map(|i| String::from_utf8_lossy(&command.args[i]).into_owned())
            .unwrap_or_default();
        return Reply::bulk(format!(
            "This user has no permissions to access the '{key}' key"
        ));
    }
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::auth::User;

    fn set(acl: &mut Acl, line: &str) -> Reply {
        let words: Vec<Vec<u8>> = line.split(' ').map(|w| w.as_bytes().to_vec()).collect();
        setuser(acl, &words[0], &words[1..])
    }

    fn authed(user: &str) -> Connection {
        let mut conn = Connection::new(7);
        conn.set_user_for_test(user);
        conn
    }

    fn words(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_entry_users_are_the_table() {
        let acl = Acl::new(&Credentials {
            password: Some(b"s3cret".to_vec()),
            users: vec![User {
                name: "alice".into(),
                password: b"pw".to_vec(),
                enabled: true,
            }],
        });
        assert!(!acl.open());
        assert_eq!(acl.authenticate(None, b"s3cret"), Ok("default".into()));
        assert_eq!(acl.authenticate(Some(b"alice"), b"pw"), Ok("alice".into()));
        assert_eq!(
            acl.authenticate(Some(b"alice"), b"x"),
            Err(Reply::error(auth::WRONGPASS))
        );
        let hash = sha256_hex(b"pw");
        assert_eq!(
            acl.users["alice"].describe(),
            format!("on #{hash} ~* &* +@all")
        );
        assert_eq!(
            hash,
            "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
        );
    }

    #[test]
    fn without_users_any_auth_succeeds_until_users_change() {
        let mut acl = Acl::default();
        assert!(acl.open());
        assert_eq!(acl.authenticate(Some(b"app"), b"x"), Ok("app".into()));
        assert_eq!(set(&mut acl, "bob on >pw +@all"), Reply::ok());
        assert_eq!(
            acl.authenticate(Some(b"bob"), b"x"),
            Err(Reply::error(auth::WRONGPASS))
        );
        assert_eq!(acl.authenticate(Some(b"bob"), b"pw"), Ok("bob".into()));
        acl.set_requirepass(b"top");
        assert!(!acl.open());
        assert_eq!(acl.authenticate(None, b"top"), Ok("default".into()));
    }

    #[test]
    fn rules_allow_and_deny_commands_and_keys() {
        let mut acl = Acl::default();
        assert_eq!(
            set(&mut acl, "bob on nopass ~app:* +@all -get -config|set"),
            Reply::ok()
        );
        assert_eq!(
            acl.users["bob"].describe(),
            "on nopass ~app:* resetchannels +@all -get -config|set"
        );
        let bob = authed("bob");
        assert_eq!(
            acl.check(&bob, &words("GET app:1"), 0),
            Err(Reply::error(
                "NOPERM this user has no permissions to run the 'get' command"
            ))
        );
        assert_eq!(acl.check(&bob, &words("SET app:1 x"), 0), Ok(()));
        assert_eq!(
            acl.check(&bob, &words("SET other x"), 0),
            Err(Reply::error(NOPERM_KEYS))
        );
        assert_eq!(
            acl.check(&bob, &words("CONFIG SET hz 5"), 0),
            Err(Reply::error(
                "NOPERM this user has no permissions to run the 'config|set' command"
            ))
        );
        assert_eq!(acl.check(&bob, &words("CONFIG GET hz"), 0), Ok(()));
        assert_eq!(acl.log.len(), 3);
        assert_eq!(
            set(&mut acl, "carl on nopass allkeys -@all +@read"),
            Reply::ok()
        );
        let carl = authed("carl");
        assert_eq!(acl.check(&carl, &words("GET k"), 0), Ok(()));
        assert!(acl.check(&carl, &words("SET k v"), 0).is_err());
        assert_eq!(acl.check(&authed("default"), &words("FLUSHALL"), 0), Ok(()));
    }

    #[test]
    fn setuser_errors_are_redis_s_and_change_nothing() {
        let mut acl = Acl::default();
        assert_eq!(
            set(&mut acl, "bob on foo"),
            Reply::error("ERR Error in ACL SETUSER modifier 'foo': Syntax error")
        );
        assert!(!acl.users.contains_key("bob"));
        assert_eq!(
            set(&mut acl, "bob +nosuch"),
            Reply::error(
                "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name \
                 in ACL"
            )
        );
        assert_eq!(
            set(&mut acl, "bob <nosuch"),
            Reply::error(
                "ERR Error in ACL SETUSER modifier '<nosuch': The password you are trying to \
                 remove from the user does not exist"
            )
        );
        assert_eq!(set(&mut acl, "bob"), Reply::ok());
        assert_eq!(acl.users["bob"].describe(), "off resetchannels -@all");
    }

    #[test]
    fn a_peer_cannot_grow_a_user_without_bound() {
        let mut acl = Acl::default();
        for i in 0..MAX_PASSWORDS {
            assert_eq!(set(&mut acl, &format!("bob >{i}")), Reply::ok());
        }
        assert!(set(&mut acl, "bob >one-more").is_error());
        assert_eq!(set(&mut acl, "bob resetpass"), Reply::ok());
        for i in 0..MAX_RULES {
            set(&mut acl, &format!("bob ~k{i}"));
        }
        assert!(set(&mut acl, "bob ~more").is_error());
    }

    #[test]
    fn categories_follow_flags_and_families() {
        let cat = |name: &str, category: &str| in_category(name, None, category);
        assert!(cat("get", "read") && cat("get", "string") && cat("get", "fast"));
        assert!(cat("hset", "hash") && !cat("hello", "hash"));
        assert!(cat("zadd", "sortedset") && cat("lpush", "list") && cat("sadd", "set"));
        assert!(cat("blpop", "blocking") && cat("xadd", "stream") && cat("pfadd", "hyperloglog"));
        assert!(!cat("lcs", "list") && cat("lcs", "string"));
        // Subcommands have their own categories, as in Redis's table.
        assert!(in_category("client", Some("list"), "admin"));
        assert!(!in_category("client", Some("id"), "admin") && !cat("client", "admin"));
        assert!(cat("georadius", "geo") && cat("sort_ro", "dangerous") && !cat("get", "dangerous"));
        assert_eq!(
            genpass(None)
                .to_bytes(crate::redis::reply::Protocol::Resp2)
                .len(),
            64 + 7
        );
        let Reply::Bulk(short) = genpass(Some(&b"5".to_vec())) else {
            panic!("a bulk")
        };
        assert_eq!(short.len(), 2);
    }
}
