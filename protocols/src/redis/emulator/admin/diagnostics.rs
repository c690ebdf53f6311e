//! `SLOWLOG`, `LATENCY`, `MEMORY` and `DEBUG` as Redis 7.0 answers them.
//!
//! The slow log holds real entries: commands that took at least `slowlog-log-slower-than`
//! microseconds in the emulator. The latency monitor records no events (the emulator has no
//! forks, no disk, no expiry cycle), so `LATENCY` reports none, as an idle Redis does.
//! `MEMORY USAGE` is an estimate from the sizes of the key and the value, not an allocator's
//! count. `DEBUG` is refused as a default Redis 7 refuses it (`enable-debug-command no`).

use std::collections::VecDeque;
use std::time::Duration;

use super::super::{Emulator, NOT_INTEGER, SYNTAX, Value, is};
use crate::redis::command::{Command, strict_i64};
use crate::redis::conn::{Connection, subcommand_syntax_error, unknown_subcommand};
use crate::redis::info::STARTUP_MEMORY;
use crate::redis::reply::Reply;
use crate::redis::spec;

/// Redis keeps at most this many arguments of a slow command, and this many bytes of each.
const SLOWLOG_MAX_ARGS: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

/// Commands Redis never puts in the slow log (`CMD_SKIP_SLOWLOG`).
const NOT_LOGGED: &[&str] = &["exec", "auth", "hello", "eval", "evalsha", "migrate"];

/// One entry of `SLOWLOG GET`.
#[derive(Debug, Clone)]
struct Slow {
    id: u64,
    unix_seconds: u64,
    usec: u64,
    args: Vec<Vec<u8>>,
    client_name: Vec<u8>,
}

/// The slow log, newest first, trimmed to `slowlog-max-len`.
#[derive(Debug, Default)]
pub(crate) struct SlowLog {
    entries: VecDeque<Slow>,
    next_id: u64,
}

impl SlowLog {
    /// Logs `cmd` if it took at least `slower_than` microseconds (negative: never).
    pub fn consider(
        &mut self,
        conn: &Connection,
        cmd: &Command,
        took: Duration,
        slower_than: i64,
        max_len: i64,
    ) {
        let usec = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if u64::try_from(slower_than).is_ok_and(|limit| usec < limit) || slower_than < 0 {
            return;
        }
        if NOT_LOGGED.contains(&cmd.name().to_ascii_lowercase().as_str()) {
            return;
        }
        let unix_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.entries.push_front(Slow {
            id: self.next_id,
            unix_seconds,
            usec,
            args: shortened(&cmd.args),
            client_name: conn.name.clone().unwrap_or_default(),
        });
        self.next_id += 1;
        let max_len = usize::try_from(max_len).unwrap_or(0);
        self.entries.truncate(max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The arguments as Redis keeps them in the slow log: at most 32, each at most 128 bytes.
fn shortened(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let kept = if args.len() > SLOWLOG_MAX_ARGS {
        SLOWLOG_MAX_ARGS - 1
    } else {
        args.len()
    };
    let mut out: Vec<Vec<u8>> = args[..kept]
        .iter()
        .map(|arg| {
            if arg.len() > SLOWLOG_MAX_STRING {
                let more = arg.len() - SLOWLOG_MAX_STRING;
                let mut short = arg[..SLOWLOG_MAX_STRING].to_vec();
                short.extend(format!("... ({more} more bytes)").into_bytes());
                short
            } else {
                arg.clone()
            }
        })
        .collect();
    if kept < args.len() {
        let more = args.len() - kept;
        out.push(format!("... ({more} more arguments)").into_bytes());
    }
    out
}

/// Checks a subcommand's arity against Redis's table: `Some` is the error to answer.
fn subcommand_refusal(container: &str, args: &[Vec<u8>], arities: &[(&str, i32)]) -> Option<Reply> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let Some((_, arity)) = arities.iter().find(|(name, _)| *name == sub) else {
        return Some(unknown_subcommand(&args[1], container));
    };
    let words = args.len() as i64;
    let arity = i64::from(*arity);
    let fits = if arity >= 0 {
        words == arity
    } else {
        words >= -arity
    };
    (!fits).then(|| spec::arity_error(&format!("{}|{sub}", container.to_ascii_lowercase())))
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub(super) fn slowlog(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let arities = [("get", -2), ("len", 2), ("reset", 2), ("help", 2)];
    if let Some(refusal) = subcommand_refusal("SLOWLOG", args, &arities) {
        return refusal;
    }
    let log = &mut em.admin.slowlog;
    match String::from_utf8_lossy(&args[1])
        .to_ascii_lowercase()
        .as_str()
    {
        "get" if args.len() > 3 => subcommand_syntax_error(&args[1], "SLOWLOG"),
        "get" => {
            let count = match args.get(2).map(|a| strict_i64(a)) {
                None => 10,
                Some(Some(n)) if n >= -1 => n,
                Some(_) => return Reply::error("ERR count should be greater than or equal to -1"),
            };
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            Reply::Array(log.entries.iter().take(count).map(slow_reply).collect())
        }
        "len" => Reply::Int(log.entries.len() as i64),
        "reset" => {
            log.reset();
            Reply::ok()
        }
        _ => Reply::simples(SLOWLOG_HELP),
    }
}

fn slow_reply(slow: &Slow) -> Reply {
    Reply::Array(vec![
        Reply::Int(slow.id as i64),
        Reply::Int(slow.unix_seconds as i64),
        Reply::Int(slow.usec as i64),
        Reply::bulks(&slow.args),
        Reply::bulk("127.0.0.1:0"),
        Reply::bulk(&slow.client_name),
    ])
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

const LATENCY_DISABLED: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is \
     disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold \
     <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd \
     suggest to take a look at https://redis.io/topics/latency-monitor.\n";

const LATENCY_QUIET: &str = "Dave, no latency spike was observed during the lifetime of this \
     Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, \
     take a stress pill, and think things over.\n";

/// `LATENCY LATEST | HISTORY | RESET | DOCTOR | GRAPH | HISTOGRAM | HELP`: no event is ever
/// recorded by the emulator.
pub(super) fn latency(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let arities = [
        ("doctor", 2),
        ("graph", 3),
        ("help", 2),
        ("histogram", -2),
        ("history", 3),
        ("latest", 2),
        ("reset", -2),
    ];
    if let Some(refusal) = subcommand_refusal("LATENCY", args, &arities) {
        return refusal;
    }
    match String::from_utf8_lossy(&args[1])
        .to_ascii_lowercase()
        .as_str()
    {
        "latest" | "history" => Reply::Array(Vec::new()),
        "reset" => Reply::Int(0),
        "graph" => Reply::error(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(&args[2])
        )),
        "doctor" if em.admin.config.int("latency-monitor-threshold") == 0 => {
            Reply::Verbatim(LATENCY_DISABLED.into())
        }
        "doctor" => Reply::Verbatim(LATENCY_QUIET.into()),
        "histogram" => em.admin.stats.histograms(&args[2..]),
        _ => Reply::simples(LATENCY_HELP),
    }
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

const MEMORY_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my \
     issues detector can't be used in these conditions. Please, leave for your mission on \
     Earth and fill it with some data. The new Sam and I will be back to our programming as \
     soon as I finished rebooting.\n";

const MEMORY_FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only \
     account for what occurs on this base.\n";

/// `MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP`.
pub(super) fn memory(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let arities = [
        ("doctor", 2),
        ("help", 2),
        ("malloc-stats", 2),
        ("purge", 2),
        ("stats", 2),
        ("usage", -3),
    ];
    if let Some(refusal) = subcommand_refusal("MEMORY", args, &arities) {
        return refusal;
    }
    match String::from_utf8_lossy(&args[1])
        .to_ascii_lowercase()
        .as_str()
    {
        "usage" => usage(em, conn, args),
        "stats" => memory_stats(em),
        "doctor" if em.figures().used_memory < 5 << 20 => Reply::Verbatim(MEMORY_EMPTY.into()),
        "doctor" => Reply::Verbatim(MEMORY_FINE.into()),
        "malloc-stats" => {
            Reply::Verbatim("Stats not supported for the current memory allocator".into())
        }
        "purge" => Reply::ok(),
        _ => Reply::simples(MEMORY_HELP),
    }
}

/// `MEMORY USAGE key [SAMPLES count]`: the estimate, or nil for a missing key.
fn usage(em: &mut Emulator, conn: &Connection, args: &[Vec<u8>]) -> Reply {
    let mut rest = &args[3..];
    while let Some(option) = rest.first() {
        if !is(option, "SAMPLES") || rest.len() < 2 {
            return Reply::error(SYNTAX);
        }
        match strict_i64(&rest[1]) {
            None => return Reply::error(NOT_INTEGER),
            Some(n) if n < 0 => return Reply::error(SYNTAX),
            Some(_) => {}
        }
        rest = &rest[2..];
    }
    let key = &args[2];
    match em.value(conn.db, key) {
        Some(value) => Reply::Int(estimate(key, value) as i64),
        None => Reply::Nil,
    }
}

/// What a key and its value take, estimated from their sizes with Redis's per-object
/// overheads (a dict entry and an object header per key, a header per element).
pub(crate) fn estimate(key: &[u8], value: &Value) -> u64 {
    const KEY_OVERHEAD: usize = 40;
    const ELEMENT_OVERHEAD: usize = 16;
    let items = |n: usize, bytes: usize| bytes + n * ELEMENT_OVERHEAD;
    let payload = match value {
        Value::String(s) => s.len() + 2,
        Value::List(l) => items(l.len(), l.iter().map(Vec::len).sum()),
        Value::Hash(h) => items(h.len() * 2, h.iter().map(|(f, v)| f.len() + v.len()).sum()),
        Value::Set(s) => items(s.len(), s.iter().map(Vec::len).sum()),
        Value::ZSet(z) => {
            let members: Vec<usize> = z.ordered(false).map(|(m, _)| m.len() + 8).collect();
            items(members.len(), members.iter().sum())
        }
        Value::Stream(s) => {
            let entries = usize::try_from(s.len()).unwrap_or(usize::MAX);
            items(entries, entries.saturating_mul(32))
        }
    };
    (KEY_OVERHEAD + key.len() + payload) as u64
}

/// `MEMORY STATS`: Redis's fields, from the same estimate as `INFO memory`.
fn memory_stats(em: &mut Emulator) -> Reply {
    let figures = em.figures();
    let keys: usize = em.dbs.iter().map(|db| db.len()).sum();
    let dataset = figures.used_memory - STARTUP_MEMORY;
    let int = |n: u64| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut fields = vec![
        ("peak.allocated", int(figures.used_memory)),
        ("total.allocated", int(figures.used_memory)),
        ("startup.allocated", int(STARTUP_MEMORY)),
        ("replication.backlog", int(0)),
        ("clients.slaves", int(0)),
        ("clients.normal", int(0)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(0)),
        ("lua.caches", int(0)),
        ("functions.caches", int(0)),
    ];
    fields.extend([
        ("overhead.total", int(STARTUP_MEMORY)),
        ("keys.count", int(keys as u64)),
        (
            "keys.bytes-per-key",
            int(if keys == 0 { 0 } else { dataset / keys as u64 }),
        ),
        ("dataset.bytes", int(dataset)),
        (
            "dataset.percentage",
            Reply::Double(100.0 * dataset as f64 / figures.used_memory as f64),
        ),
        ("peak.percentage", Reply::Double(100.0)),
        ("allocator.allocated", int(figures.used_memory)),
        ("allocator.active", int(figures.used_memory)),
        ("allocator.resident", int(figures.used_memory)),
        ("allocator-fragmentation.ratio", Reply::Double(1.0)),
        ("allocator-fragmentation.bytes", int(0)),
        ("allocator-rss.ratio", Reply::Double(1.0)),
        ("allocator-rss.bytes", int(0)),
        ("rss-overhead.ratio", Reply::Double(1.0)),
        ("rss-overhead.bytes", int(0)),
        ("fragmentation", Reply::Double(1.0)),
        ("fragmentation.bytes", int(0)),
    ]);
    Reply::Map(
        fields
            .into_iter()
            .map(|(name, value)| (Reply::bulk(name), value))
            .collect(),
    )
}

/// `DEBUG ...`: refused, as Redis 7 refuses it unless started with `enable-debug-command`.
pub(super) fn debug(_em: &mut Emulator, _conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    Reply::error(
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
         you can run it from a local connection, otherwise you need to set this option in the \
         configuration file, and then restart the server.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_shortened_as_redis_logs_them() {
        let args: Vec<Vec<u8>> = (0..40).map(|i| vec![b'a'; 100 + i]).collect();
        let short = shortened(&args);
        assert_eq!(short.len(), 32);
        assert_eq!(short[31], b"... (9 more arguments)");
        assert_eq!(short[28].len(), 128, "128 bytes are kept whole");
        assert!(short[29].ends_with(b"... (1 more bytes)"));
        assert_eq!(shortened(&args[..2]), args[..2]);
    }

    #[test]
    fn the_slow_log_keeps_the_newest_within_its_length() {
        let mut log = SlowLog::default();
        let conn = Connection::new(1);
        for i in 0..5 {
            let cmd = Command::new(["SET", "k", &i.to_string()]);
            log.consider(&conn, &cmd, Duration::from_micros(20), 10, 3);
        }
        log.consider(
            &conn,
            &Command::new(["GET", "k"]),
            Duration::from_micros(9),
            10,
            3,
        );
        log.consider(&conn, &Command::new(["EXEC"]), Duration::from_secs(1), 0, 3);
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [4, 3, 2]);
        log.consider(&conn, &Command::new(["GET", "k"]), Duration::ZERO, -1, 3);
        assert_eq!(log.entries.len(), 3);
    }
}
