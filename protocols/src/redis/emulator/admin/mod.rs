//! Server administration, as Redis 7.0 answers it: the figures of `INFO`, `CONFIG`, `ACL`,
//! `SLOWLOG`, `LATENCY`, `MEMORY` and `DEBUG`.
//!
//! The emulator tells [`Admin`] of every command (run, refused, or answered by the connection)
//! so the statistics are real counts; the configuration changes what it governs in the
//! emulator (see [`config`]).

pub(crate) mod acl;
pub(crate) mod config;
mod config_table;
mod diagnostics;
pub(crate) mod stats;

use std::time::Duration;

use super::{Emulator, Handler};
use crate::redis::command::Command;
use crate::redis::conn::Connection;
use crate::redis::info::{Figures, STARTUP_MEMORY};
use crate::redis::reply::Reply;
use crate::redis::spec::Spec;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "CONFIG" => config_command,
        "ACL" => acl::acl_command,
        "SLOWLOG" => diagnostics::slowlog,
        "LATENCY" => diagnostics::latency,
        "MEMORY" => diagnostics::memory,
        "DEBUG" => diagnostics::debug,
        _ => return None,
    })
}

/// The server's own state besides the data.
#[derive(Debug, Default)]
pub(crate) struct Admin {
    pub config: config::Config,
    pub stats: stats::Stats,
    pub slowlog: diagnostics::SlowLog,
    pub acl: acl::Acl,
    /// Unix milliseconds of the first command: `uptime_in_seconds` counts from it.
    started_ms: Option<u64>,
    /// `slowlog-log-slower-than` and `slowlog-max-len`, read once per `CONFIG SET` rather
    /// than per command.
    slowlog_limits: Option<(i64, i64)>,
}

/// Refusals a connection makes before running a command; any other error reply of a
/// command the connection answers counts as a failed call.
const REJECTIONS: &[&str] = &[
    "ERR wrong number of arguments",
    "ERR unknown command",
    "ERR unknown subcommand",
    "NOAUTH ",
    "NOPERM ",
    "ERR Can't execute",
];

impl Admin {
    /// A command the emulator ran answered `reply` after `took`.
    pub fn ran(
        &mut self,
        conn: &Connection,
        spec: &'static Spec,
        cmd: &Command,
        reply: &Reply,
        took: Duration,
    ) {
        self.stats.ran_spec(spec, &cmd.args, reply, took);
        self.consider_slow(conn, cmd, took);
    }

    fn consider_slow(&mut self, conn: &Connection, cmd: &Command, took: Duration) {
        let config = &self.config;
        let (slower_than, max_len) = *self.slowlog_limits.get_or_insert_with(|| {
            let slower_than = config.int("slowlog-log-slower-than");
            (slower_than, config.int("slowlog-max-len"))
        });
        self.slowlog.consider(conn, cmd, took, slower_than, max_len);
    }

    /// A command the connection answered itself (`HELLO`, `PING`, `MULTI`, ...) or refused.
    pub fn answered_locally(&mut self, conn: &Connection, cmd: &Command, reply: &Reply) {
        let rejected =
            matches!(reply, Reply::Error(e) if REJECTIONS.iter().any(|r| e.starts_with(r)));
        if rejected {
            self.stats.rejected(&cmd.args, reply);
        } else {
            self.stats.ran(&cmd.args, reply, Duration::ZERO);
            self.consider_slow(conn, cmd, Duration::ZERO);
        }
    }

    /// Notes the time of a command, for the uptime.
    pub fn clock(&mut self, now_ms: u64) {
        self.started_ms.get_or_insert(now_ms);
    }

    fn uptime_seconds(&self, now_ms: u64) -> u64 {
        self.started_ms
            .map_or(0, |start| now_ms.saturating_sub(start) / 1000)
    }
}

impl Emulator {
    /// What `INFO` reports: real counts, an estimate of the memory, and the keyspace.
    pub fn figures(&mut self) -> Figures {
        let keyspace = self.keyspace();
        let used_memory = STARTUP_MEMORY
            + (0..self.dbs.len())
                .flat_map(|db| self.dbs[db].iter())
                .map(|(key, slot)| diagnostics::estimate(key, &slot.value))
                .sum::<u64>();
        let admin = &self.admin;
        let stats = &admin.stats;
        let mut figures = Figures {
            uptime_seconds: admin.uptime_seconds(self.clock.now_ms()),
            hz: admin.config.int("hz"),
            connected_clients: self.clients.len().max(1),
            blocked_clients: self.waiters.blocked() + self.pause.held(),
            total_connections_received: stats.total_connections.max(1),
            total_commands_processed: stats.total_commands,
            total_error_replies: stats.total_errors,
            keyspace_hits: stats.keyspace_hits,
            keyspace_misses: stats.keyspace_misses,
            expired_keys: stats.expired_keys,
            used_memory,
            maxmemory: u64::try_from(admin.config.int("maxmemory")).unwrap_or(0),
            maxmemory_policy: admin.config.get("maxmemory-policy").to_string(),
            cached_scripts: self.scripts.count(),
            commandstats: stats.command_lines(),
            errorstats: stats.error_lines(),
            keyspace,
            ..Figures::default()
        };
        // Client-side caching (tracking.rs).
        self.tracking_figures(&mut figures);
        figures
    }

    /// Counts `keyspace_hits` and `keyspace_misses` for a read-only command about to run, by
    /// the keys its key specs name (a script's declared keys are not counted: it may not
    /// read them).
    pub(super) fn count_lookups(&mut self, db: usize, spec: &Spec, cmd: &Command) {
        if !spec.flags.contains(&"readonly") || spec.flags.contains(&"no_mandatory_keys") {
            return;
        }
        for i in super::watch::key_positions(spec, &cmd.args) {
            if self.exists(db, &cmd.args[i]) {
                self.admin.stats.keyspace_hits += 1;
            } else {
                self.admin.stats.keyspace_misses += 1;
            }
        }
    }
}

/// `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`.
fn config_command(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (reply, effect) = config::config(&mut em.admin.config, args);
    em.admin.slowlog_limits = None;
    match effect {
        config::Effect::ResetStats => {
            em.admin.stats.reset();
            em.admin.slowlog.reset();
        }
        config::Effect::Changed(names) if names.contains(&"requirepass") => {
            let password = em.admin.config.get("requirepass").as_bytes().to_vec();
            em.admin.acl.set_requirepass(&password);
        }
        config::Effect::Changed(_) => {}
        config::Effect::None => {}
    }
    reply
}

#[cfg(test)]
mod tests;
