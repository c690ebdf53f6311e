//! `MONITOR`: a connection that sends it gets `+OK`, then a line for every command any
//! connection of the emulated address runs, in Redis 7.0's format:
//! `+1700000000.123456 [0 127.0.0.1:50000] "SET" "key" "value"`.
//!
//! What Redis 7.0 shows, checked against the real server: a command after it ran (so
//! `SELECT 3` shows database 3, and a transaction's commands come before `EXEC`), never one
//! refused before running (unknown, arity, `NOAUTH`, queued by `MULTI`); `EVAL`, `EVALSHA` and
//! `FCALL` (flag `skip_monitor`) before their script runs, whose `redis.call`s show `lua` as
//! the address; `AUTH` and `HELLO ... AUTH` with their credentials as `(redacted)`; no admin
//! command (`CONFIG`, `CLIENT LIST`, `SLOWLOG GET`, `MONITOR` itself...). A monitor sees its
//! own commands after their replies, may not touch the keyspace ("Replica can't interact with
//! the keyspace"), and stops with `RESET` or when it closes.
//!
//! Sans-IO: lines for other connections wait in their outbox like pub/sub messages (bounded
//! the same way, [`OutputClass::Monitor`]) and the driver's pusher writes them; a monitor's
//! own lines are handed out after its reply ([`Emulator::take_own_lines`]).

use std::collections::{BTreeSet, HashMap};

use super::pubsub::OutputClass;
use super::{Emulator, Handler};
use crate::redis::command::Command;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;
use crate::redis::spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "MONITOR" => monitor,
        _ => return None,
    })
}

/// The monitoring connections, and the lines of their own commands not yet handed out.
#[derive(Debug, Default)]
pub(super) struct Monitors {
    ids: BTreeSet<u64>,
    own_lines: HashMap<u64, Vec<u8>>,
}

impl Monitors {
    pub(super) fn forget(&mut self, id: u64) {
        self.ids.remove(&id);
        self.own_lines.remove(&id);
    }

    /// How many connections monitor.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Where a monitored command comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Sent by the connection's client.
    Client,
    /// Run by a script's `redis.call` or `redis.pcall`.
    Script,
}

/// `MONITOR`: `+OK`, nothing at all when already monitoring (as Redis), an error inside
/// `MULTI`/`EXEC` where the connection must answer every command.
fn monitor(em: &mut Emulator, conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    if conn.no_block {
        return Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    if conn.monitoring {
        return Reply::Several(Vec::new());
    }
    conn.monitoring = true;
    em.monitors.ids.insert(conn.id);
    Reply::ok()
}

impl Emulator {
    /// Shows `cmd`, run by `conn` from `origin`, to every monitor.
    pub(super) fn feed_monitors(&mut self, conn: &Connection, cmd: &Command, origin: Origin) {
        if self.monitors.ids.is_empty() {
            return;
        }
        let address = match origin {
            Origin::Client => self
                .clients
                .addr(conn.id)
                .unwrap_or("127.0.0.1:0")
                .to_string(),
            Origin::Script => "lua".to_string(),
        };
        let line = monitor_line(self.clock.now_us(), conn.db, &address, &redacted(&cmd.args));
        let now = self.clock.now_ms();
        let ids: Vec<u64> = self.monitors.ids.iter().copied().collect();
        for id in ids {
            let kept = if id == conn.id {
                let own = self.monitors.own_lines.entry(id).or_default();
                own.extend_from_slice(&line);
                // Lines of the monitor's own commands wait for its reply; past the hard
                // limit they go through the outbox's check, which drops the monitor.
                own.len() <= self.pubsub.limits.hard
                    || self.pubsub.enqueue(id, id, own, now, OutputClass::Monitor)
            } else {
                self.pubsub
                    .enqueue(id, conn.id, &line, now, OutputClass::Monitor)
            };
            if !kept {
                self.monitors.forget(id);
            }
        }
    }

    /// The lines of connection `id`'s own commands, to follow its reply.
    pub fn take_own_lines(&mut self, id: u64) -> Vec<u8> {
        self.monitors.own_lines.remove(&id).unwrap_or_default()
    }

    /// Called with a command `conn` is about to run (`ran` false) or ran: feeds the monitors
    /// when Redis would show it then.
    pub(super) fn monitor_command(&mut self, conn: &Connection, cmd: &Command, ran: bool) {
        if !self.monitors.ids.is_empty() && shown(cmd) == Some(ran) {
            self.feed_monitors(conn, cmd, Origin::Client);
        }
    }
}

/// When Redis 7.0 shows a command it runs: `Some(true)` after it ran, `Some(false)` before
/// (scripts), `None` never (admin commands).
fn shown(cmd: &Command) -> Option<bool> {
    let name = cmd.name().to_ascii_lowercase();
    if HIDDEN.contains(&name.as_str()) {
        return None;
    }
    let container = format!("{name}|");
    if spec::REDIS_7_COMMANDS
        .iter()
        .any(|c| c.starts_with(&container))
    {
        // Redis refuses an unknown subcommand before running it.
        let sub = cmd
            .params()
            .first()
            .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
        let full = format!("{container}{}", sub.unwrap_or_default());
        if HIDDEN.contains(&full.as_str())
            || spec::REDIS_7_COMMANDS
                .binary_search(&full.as_str())
                .is_err()
        {
            return None;
        }
    }
    let before = spec::find(&name).is_some_and(|s| s.flags.contains(&"skip_monitor"));
    Some(!before)
}

/// The commands and subcommands of Redis 7.0.15 flagged `admin`, which monitors never see,
/// among those mocket answers (`COMMAND` of the real server lists them all).
const HIDDEN: &[&str] = &[
    "acl|deluser",
    "acl|dryrun",
    "acl|getuser",
    "acl|list",
    "acl|load",
    "acl|log",
    "acl|save",
    "acl|setuser",
    "acl|users",
    "bgrewriteaof",
    "bgsave",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|pause",
    "client|unblock",
    "client|unpause",
    "config|get",
    "config|resetstat",
    "config|rewrite",
    "config|set",
    "debug",
    "failover",
    "latency|doctor",
    "latency|graph",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "module|list",
    "module|load",
    "module|loadex",
    "module|unload",
    "monitor",
    "pfdebug",
    "pfselftest",
    "psync",
    "replconf",
    "replicaof",
    "save",
    "shutdown",
    "slaveof",
    "slowlog|get",
    "slowlog|len",
    "slowlog|reset",
    "sync",
];

/// Whether a monitoring connection is refused `cmd`: Redis refuses keyspace commands
/// (`readonly`, `write` or may replicate) to replicas, and a monitor is one for Redis.
pub(crate) fn refused_to_monitor(cmd: &Command) -> Option<Reply> {
    let name = cmd.name().to_ascii_lowercase();
    let read = spec::find(&name).is_some_and(|s| s.flags.contains(&"readonly"));
    let keyspace = read || super::pause::may_replicate(cmd);
    keyspace.then(|| Reply::error("ERR Replica can't interact with the keyspace"))
}

/// The words as monitors see them: the passwords of `AUTH` and `HELLO ... AUTH` redacted.
fn redacted(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut shown = args.to_vec();
    let name = cmd_name(args);
    if name == "auth" {
        shown[1..].iter_mut().for_each(redact);
    } else if name == "hello" {
        let auth = shown.iter().position(|w| w.eq_ignore_ascii_case(b"auth"));
        if let Some(at) = auth {
            shown.iter_mut().skip(at + 1).take(2).for_each(redact);
        }
    }
    shown
}

fn cmd_name(args: &[Vec<u8>]) -> String {
    args.first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
        .unwrap_or_default()
}

fn redact(word: &mut Vec<u8>) {
    *word = b"(redacted)".to_vec();
}

/// One monitor line: `+<secs>.<usecs> [<db> <address>] "word" ...\r\n`.
fn monitor_line(now_us: u64, db: usize, address: &str, words: &[Vec<u8>]) -> Vec<u8> {
    let mut line = format!(
        "+{}.{:06} [{db} {address}]",
        now_us / 1_000_000,
        now_us % 1_000_000
    )
    .into_bytes();
    for word in words {
        line.push(b' ');
        quote(word, &mut line);
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// Redis's `sdscatrepr`: the word in double quotes, with C escapes for quotes, backslashes
/// and control bytes, and `\xhh` for every byte that is not printable ASCII.
fn quote(word: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in word {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
