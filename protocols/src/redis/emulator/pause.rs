//! `CLIENT PAUSE timeout [WRITE|ALL]` and `CLIENT UNPAUSE`, as Redis 7.0.15 does them (checked
//! against the real server):
//! - a command that a pause holds waits, its connection blocked (flag `b`, counted in
//!   `blocked_clients`), until the pause ends or `CLIENT UNPAUSE`; the check comes before
//!   `MULTI` queues a command, so a queued write waits too, and `EXEC` waits when it holds
//!   one; commands inside a running `EXEC` never wait;
//! - `WRITE` holds commands flagged `write` and those Redis may replicate (`EVAL`, `EVALSHA`,
//!   `FCALL`, `FCALL_RO`, `PUBLISH`, `SPUBLISH`, write subcommands such as `XGROUP CREATE`);
//!   `ALL` holds every command, `CLIENT UNPAUSE` and the pausing connection's own included;
//! - a second pause while one runs keeps the later end and the stricter mode;
//! - monitors (replicas for Redis) are never held;
//! - keys are not expired while a pause runs: an expired key reads as missing but stays
//!   counted (`DBSIZE`) until the pause ends.
//!
//! Sans-IO: the connection marks itself blocked until the pause's end
//! ([`crate::redis::conn::Blocked`]), like a blocking command, and the driver retries it when
//! another connection ran a command or at the deadline.

use std::collections::BTreeSet;

use super::Emulator;
use crate::redis::command::{Command, strict_i64};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;
use crate::redis::spec;

/// The running pause, if any.
#[derive(Debug, Default)]
pub(super) struct Pause {
    /// Unix milliseconds; the pause runs while the time is before it.
    end: u64,
    /// `ALL` (else `WRITE`).
    all: bool,
    /// The connections it holds, for `INFO`'s `blocked_clients`.
    held: BTreeSet<u64>,
}

impl Pause {
    fn running(&self, now: u64) -> bool {
        now < self.end
    }

    pub(super) fn held(&self) -> usize {
        self.held.len()
    }

    pub(super) fn forget(&mut self, id: u64) {
        self.held.remove(&id);
    }
}

/// `CLIENT PAUSE`'s mode and timeout words, with Redis's errors in Redis's order: the
/// timeout in milliseconds and whether the mode is `ALL`.
pub fn pause_arguments(params: &[Vec<u8>]) -> Result<(u64, bool), Reply> {
    let all = match params.get(1) {
        None => true,
        Some(mode) if mode.eq_ignore_ascii_case(b"all") => true,
        Some(mode) if mode.eq_ignore_ascii_case(b"write") => false,
        Some(_) => return Err(Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    match strict_i64(&params[0]) {
        None => Err(Reply::error(
            "ERR timeout is not an integer or out of range",
        )),
        Some(ms) if ms < 0 => Err(Reply::error("ERR timeout is negative")),
        Some(ms) => Ok((ms as u64, all)),
    }
}

impl Emulator {
    /// `CLIENT PAUSE`: a timeout that overflows Redis's clock arithmetic (or 0) pauses
    /// nothing, as in Redis.
    pub fn pause_clients(&mut self, timeout_ms: u64, all: bool) {
        let now = self.clock.now_ms();
        let Some(end) = now
            .checked_add(timeout_ms)
            .filter(|&end| timeout_ms > 0 && end <= i64::MAX as u64)
        else {
            return;
        };
        let pause = &mut self.pause;
        if pause.running(now) {
            pause.end = pause.end.max(end);
            pause.all |= all;
        } else {
            pause.end = end;
            pause.all = all;
        }
    }

    /// `CLIENT UNPAUSE`.
    pub fn unpause_clients(&mut self) {
        self.pause.end = 0;
        self.pause.all = false;
    }

    /// Whether expiry waits: a pause runs.
    pub(super) fn expiry_paused(&self) -> bool {
        self.pause.running(self.now)
    }

    /// Until when (unix ms) the running pause holds `cmd` from `conn`; `queued` are the
    /// commands an `EXEC` would run.
    pub fn paused_until(
        &mut self,
        conn: &Connection,
        cmd: &Command,
        queued: &[Command],
    ) -> Option<u64> {
        let now = self.clock.now_ms();
        let holds = self.pause.running(now)
            && !conn.monitoring
            && (self.pause.all || may_replicate(cmd) || queued.iter().any(may_replicate));
        if holds {
            self.pause.held.insert(conn.id);
            Some(self.pause.end)
        } else {
            self.pause.held.remove(&conn.id);
            None
        }
    }
}

/// Redis's `is_may_replicate_command`: flagged `write` or `may_replicate`.
pub(super) fn may_replicate(cmd: &Command) -> bool {
    let name = cmd.name().to_ascii_lowercase();
    if let Some(sub) = cmd.params().first() {
        let full = format!(
            "{name}|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        if WRITE_SUBCOMMANDS.contains(&full.as_str()) {
            return true;
        }
    }
    MAY_REPLICATE.contains(&name.as_str())
        || spec::find(&name).is_some_and(|s| s.flags.contains(&"write"))
}

/// Commands Redis 7.0.15 holds under `CLIENT PAUSE WRITE` though not flagged `write`.
const MAY_REPLICATE: &[&str] = &[
    "eval", "evalsha", "fcall", "fcall_ro", "publish", "spublish",
];

/// Subcommands flagged `write` whose container command has no flags of its own here.
const WRITE_SUBCOMMANDS: &[&str] = &[
    "function|delete",
    "function|flush",
    "function|load",
    "function|restore",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|setid",
];

#[cfg(test)]
mod tests;
