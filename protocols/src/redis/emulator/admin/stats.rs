//! The figures `INFO stats`, `INFO commandstats` and `INFO errorstats` report, counted as
//! Redis counts them: a command is `rejected` when refused before running (unknown, arity,
//! `NOAUTH`, `NOPERM`), `failed` when it ran and answered an error; every error reply counts
//! in `errorstat_<PREFIX>`.

use std::borrow::Cow;
use std::time::Duration;

use indexmap::IndexMap;

use crate::redis::reply::Reply;
use crate::redis::spec::{self, Spec};

/// Redis tracks at most this many distinct error prefixes; the rest count only in the total.
const MAX_ERROR_PREFIXES: usize = 128;

/// Latency buckets: up to 2^62 microseconds.
const LATENCY_BUCKETS: usize = 63;

/// One command's line of `INFO commandstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Calls per power-of-two bucket of microseconds (bucket `i`: at most `2^i`).
    latencies: [u64; LATENCY_BUCKETS],
}

impl Default for CommandStat {
    fn default() -> Self {
        CommandStat {
            calls: 0,
            usec: 0,
            rejected: 0,
            failed: 0,
            latencies: [0; LATENCY_BUCKETS],
        }
    }
}

/// Counters since the start or the last `CONFIG RESETSTAT`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    /// By Redis's name: `get`, `config|set` for a subcommand.
    commands: IndexMap<Cow<'static, str>, CommandStat>,
    errors: IndexMap<String, u64>,
    pub total_commands: u64,
    pub total_errors: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// Connections accepted; the open ones are the emulator's `ClientRegistry`.
    pub total_connections: u64,
}

/// The commands whose statistics Redis keeps per subcommand.
const CONTAINERS: &[&str] = &[
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
    "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
];

/// The name Redis keeps statistics under: the subcommand for a container command.
pub(crate) fn stat_name(args: &[Vec<u8>]) -> Cow<'static, str> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if let Some(sub) = args.get(1).filter(|_| CONTAINERS.contains(&name.as_str())) {
        let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
        if spec::redis_has(&name, Some(&sub)) {
            return Cow::Owned(format!("{name}|{sub}"));
        }
    }
    Cow::Owned(name)
}

impl Stats {
    /// A command ran and answered `reply`; `spec` names it unless it is a container's
    /// subcommand.
    pub fn ran_spec(
        &mut self,
        spec: &'static Spec,
        args: &[Vec<u8>],
        reply: &Reply,
        took: Duration,
    ) {
        let key = if CONTAINERS.contains(&spec.name) {
            stat_name(args)
        } else {
            Cow::Borrowed(spec.name)
        };
        self.ran_as(key, reply, took);
    }

    /// A command ran and answered `reply`.
    pub fn ran(&mut self, args: &[Vec<u8>], reply: &Reply, took: Duration) {
        self.ran_as(stat_name(args), reply, took);
    }

    fn ran_as(&mut self, key: Cow<'static, str>, reply: &Reply, took: Duration) {
        let usec = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = usec
            .max(1)
            .checked_next_power_of_two()
            .map_or(LATENCY_BUCKETS, |p| p.trailing_zeros() as usize);
        self.total_commands += 1;
        let failed = self.count_errors(reply);
        let stat = match self.commands.get_index_of(key.as_ref()) {
            Some(i) => &mut self.commands[i],
            None => self.commands.entry(key).or_default(),
        };
        stat.latencies[bucket.min(LATENCY_BUCKETS - 1)] += 1;
        stat.calls += 1;
        stat.usec = stat.usec.saturating_add(usec);
        stat.failed += u64::from(failed);
    }

    /// A command was refused before running; unknown commands have no line of their own.
    pub fn rejected(&mut self, args: &[Vec<u8>], reply: &Reply) {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        if spec::find(&name).is_some() {
            self.commands.entry(stat_name(args)).or_default().rejected += 1;
        }
        self.count_errors(reply);
    }

    /// Counts an error reply; whether `reply` is one. Errors inside an `EXEC` reply were
    /// counted when their command ran.
    fn count_errors(&mut self, reply: &Reply) -> bool {
        let Reply::Error(text) = reply else {
            return false;
        };
        self.total_errors += 1;
        let prefix = text.split(' ').next().unwrap_or_default().to_string();
        if self.errors.contains_key(&prefix) || self.errors.len() < MAX_ERROR_PREFIXES {
            *self.errors.entry(prefix).or_default() += 1;
        }
        true
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset(&mut self) {
        *self = Stats::default();
    }

    /// The lines of `# Commandstats`.
    pub fn command_lines(&self) -> Vec<String> {
        self.commands
            .iter()
            .filter(|(_, s)| s.calls > 0 || s.rejected > 0 || s.failed > 0)
            .map(|(name, s)| {
                let per_call = if s.calls == 0 {
                    0.0
                } else {
                    s.usec as f64 / s.calls as f64
                };
                format!(
                    "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},\
                     rejected_calls={},failed_calls={}",
                    s.calls, s.usec, s.rejected, s.failed
                )
            })
            .collect()
    }

    /// The lines of `# Errorstats`.
    pub fn error_lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|(prefix, n)| format!("errorstat_{prefix}:count={n}"))
            .collect()
    }

    /// `LATENCY HISTOGRAM [command ...]`: per command run, its calls and the cumulative
    /// count per power-of-two bucket of microseconds, from the first bucket used to the last.
    pub fn histograms(&self, names: &[Vec<u8>]) -> Reply {
        let wanted: Vec<String> = names
            .iter()
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect();
        let histograms = self
            .commands
            .iter()
            .filter(|(name, stat)| {
                stat.calls > 0 && (wanted.is_empty() || wanted.iter().any(|w| w == name.as_ref()))
            })
            .map(|(name, stat)| {
                let buckets = &stat.latencies;
                let first = buckets.iter().position(|n| *n > 0).unwrap_or(0);
                let last = buckets.iter().rposition(|n| *n > 0).unwrap_or(0);
                let mut total = 0;
                let cumulative = (first..=last)
                    .map(|i| {
                        total += buckets[i];
                        (Reply::Int(1i64 << i), Reply::Int(total as i64))
                    })
                    .collect();
                let calls = buckets.iter().sum::<u64>() as i64;
                let histogram = Reply::Map(vec![
                    (Reply::bulk("calls"), Reply::Int(calls)),
                    (Reply::bulk("histogram_usec"), Reply::Map(cumulative)),
                ]);
                (Reply::bulk(name.as_bytes()), histogram)
            })
            .collect();
        Reply::Map(histograms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn calls_failures_and_rejections_are_counted_like_redis() {
        let mut stats = Stats::default();
        stats.ran(&words("GET a"), &Reply::Nil, Duration::from_micros(3));
        stats.ran(&words("get a"), &Reply::Nil, Duration::from_micros(5));
        stats.ran(
            &words("LPUSH a 1"),
            &Reply::error("WRONGTYPE Operation"),
            Duration::ZERO,
        );
        stats.rejected(&words("INCR"), &Reply::error("ERR wrong number"));
        stats.rejected(&words("NOSUCH"), &Reply::error("ERR unknown command"));
        stats.ran(&words("CONFIG SET hz 5"), &Reply::ok(), Duration::ZERO);
        assert_eq!(
            stats.command_lines(),
            [
                "cmdstat_get:calls=2,usec=8,usec_per_call=4.00,rejected_calls=0,failed_calls=0",
                "cmdstat_lpush:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1",
                "cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0",
                "cmdstat_config|set:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0",
            ]
        );
        assert_eq!(
            stats.error_lines(),
            ["errorstat_WRONGTYPE:count=1", "errorstat_ERR:count=2"]
        );
        assert_eq!((stats.total_commands, stats.total_errors), (4, 3));
        stats.reset();
        assert!(stats.command_lines().is_empty() && stats.error_lines().is_empty());
    }

    #[test]
    fn error_prefixes_are_bounded() {
        let mut stats = Stats::default();
        for i in 0..1000 {
            stats.rejected(&words("x"), &Reply::error(format!("E{i} x")));
        }
        assert_eq!(stats.error_lines().len(), MAX_ERROR_PREFIXES);
        assert_eq!(stats.total_errors, 1000);
    }
}
