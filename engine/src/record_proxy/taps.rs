//! What the relay records: Redis commands with their replies, or raw TCP chunks, journaled as
//! they go.
//!
//! What is on disk when: a Redis connection is saved before the client sees each reply (a
//! request-response exchange, cheap to save). A raw TCP connection has no exchanges to save
//! at, and a server may stream without end, so it is saved at its first bytes, when it ends,
//! and while it lasts again when bytes arrive [`TCP_SAVE_INTERVAL`] (or ten times as long as
//! the previous save took, if more) after the previous save finished.
//!
//! The save at the first bytes fixes the connection's place in the cassette (later saves
//! replace it in place), and replay hands recorded connections out in that order: a
//! server-first connection is given the first unused one before it says anything. Placed at
//! its end instead, a connection whose client left before mocket finished relaying it could
//! land after the next client's connection, and the two would replay swapped. Each save rewrites the whole cassette, so
//! saving per chunk made a long connection quadratic; this way saving takes at most a tenth of
//! the relay's time. A process killed mid-connection loses what came since the last save, and
//! the client may see server bytes before they are on disk. A raw TCP connection is
//! recorded up to [`RECORD_MAX_BODY`] bytes; past it the bytes are still relayed, and the
//! cassette marks the connection `truncated`.

use std::time::{Duration, Instant};

use mocket_recordings::http::RECORD_MAX_BODY;
use mocket_recordings::redis::{RedisRecorder, words};
use mocket_recordings::tcp::{Dir, TcpConnection};
use mocket_recordings::{Interaction, Recorder};
use serde_json::json;

use super::relay::Tap;
use crate::journal::{Action, Event};
use crate::{Claim, Engine, lock};

pub(super) struct RedisTap<'a> {
    pub engine: &'a Engine,
    pub rec: &'a Recorder,
    pub claim: &'a Claim,
    pub recorder: RedisRecorder,
    /// The client stopped speaking RESP: relayed, no longer recorded.
    pub broken: bool,
}

impl RedisTap<'_> {
    fn give_up(&mut self, why: impl std::fmt::Display) {
        self.broken = true;
        self.engine.warn(&format!(
            "redis {}: stopped recording this connection: {why}",
            self.claim.dest
        ));
    }
}

impl Tap for RedisTap<'_> {
    fn client(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if let Err(e) = self.recorder.client(bytes) {
            self.give_up(e);
        }
    }

    fn server(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        let frames = self.recorder.frames();
        let done = match self.recorder.server(bytes) {
            Ok(done) => done,
            Err(e) => return self.give_up(e),
        };
        if self.recorder.frames() == frames {
            return;
        }
        let conn = self.recorder.connection();
        self.engine.save_recording(
            self.rec,
            Interaction::Redis(conn.clone()),
            self.claim,
            "redis",
        );
        for i in done {
            let mut command = conn.exchanges[i].command.clone();
            self.rec.settings().redactor.redis_command(&mut command);
            self.engine
                .redis_event(self.claim, Action::Recorded, &command, None);
        }
    }
}

/// How long a raw TCP connection still open goes unsaved, at least, while bytes arrive.
pub(super) const TCP_SAVE_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct TcpTap<'a> {
    pub engine: &'a Engine,
    pub rec: &'a Recorder,
    pub claim: &'a Claim,
    pub conn: TcpConnection,
    pub schedule: SaveSchedule,
}

/// When a raw TCP connection still open is saved: at its first bytes, then when bytes arrive
/// a while after the previous save finished (see the module's doc), never on every chunk.
#[derive(Debug, Clone, Copy)]
pub(super) struct SaveSchedule {
    /// Bytes recorded since the last save.
    unsaved: usize,
    /// No save before this.
    next: Instant,
}

impl SaveSchedule {
    /// A connection that opened at `now`: its first bytes are due at once.
    pub fn new(now: Instant) -> Self {
        SaveSchedule {
            unsaved: 0,
            next: now,
        }
    }

    /// Counts `n` new bytes; whether to save now.
    fn due(&mut self, n: usize, now: Instant) -> bool {
        self.unsaved += n;
        self.unsaved > 0 && now >= self.next
    }

    /// A save ran from `started` to `finished`.
    fn saved(&mut self, started: Instant, finished: Instant) {
        self.unsaved = 0;
        self.next = finished + TCP_SAVE_INTERVAL.max((finished - started) * 10);
    }

    /// Whether bytes have come since the last save.
    fn pending(&self) -> bool {
        self.unsaved > 0
    }
}

impl Tap for TcpTap<'_> {
    fn client(&mut self, bytes: &[u8]) {
        self.record(Dir::Client, bytes);
    }

    fn server(&mut self, bytes: &[u8]) {
        self.record(Dir::Server, bytes);
    }
}

impl TcpTap<'_> {
    /// Records `bytes` while under the limit, and saves when enough has come since the last
    /// save.
    fn record(&mut self, from: Dir, bytes: &[u8]) {
        if self.conn.truncated.is_some() {
            return;
        }
        let recorded: usize = self.conn.chunks.iter().map(|c| c.bytes.len()).sum();
        let room = RECORD_MAX_BODY.saturating_sub(recorded);
        let kept = &bytes[..bytes.len().min(room)];
        self.conn.push(from, kept);
        let due = self.schedule.due(kept.len(), Instant::now());
        if bytes.len() > room {
            self.conn.truncated = Some(format!(
                "the connection went on past the first {} MiB, which is all a cassette keeps",
                RECORD_MAX_BODY >> 20
            ));
            self.save();
        } else if due {
            self.save();
        }
    }

    fn save(&mut self) {
        let started = Instant::now();
        self.engine.save_recording(
            self.rec,
            Interaction::Tcp(self.conn.clone()),
            self.claim,
            "tcp",
        );
        self.schedule.saved(started, Instant::now());
    }

    /// The connection is over: saved whole (with what the client said last) and journaled.
    pub fn finish(mut self) {
        if self.conn.chunks.is_empty() {
            return;
        }
        if self.schedule.pending() {
            self.save();
        }
        self.engine.tcp_event(self.claim, Action::Recorded, None);
    }
}

impl Engine {
    /// One journal line per Redis command, counted in the report.
    pub(super) fn redis_event(
        &self,
        claim: &Claim,
        action: Action,
        command: &[Vec<u8>],
        reason: Option<String>,
    ) {
        let text: Vec<String> = command
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let event = claim.event("redis", action).with("command", json!(text));
        self.count(claim, "redis", action, event, reason, || words(command));
    }

    /// One journal line per raw TCP connection, counted in the report.
    pub(super) fn tcp_event(&self, claim: &Claim, action: Action, reason: Option<String>) {
        let event = claim.event("tcp", action);
        self.count(claim, "tcp", action, event, reason, || "connection".into());
    }

    /// Journals `event` and counts it: recorded, replayed, or unmatched (with `reason`).
    pub(super) fn count(
        &self,
        claim: &Claim,
        proto: &str,
        action: Action,
        event: Event,
        reason: Option<String>,
        what: impl FnOnce() -> String,
    ) {
        match action {
            Action::Recorded => lock(&self.report).recorded += 1,
            Action::Replayed => lock(&self.report).replayed += 1,
            _ => {
                let why = reason.unwrap_or_default();
                let event = event.with("reason", json!(why));
                return self.count_unmatched(claim, proto, format!("{}: {why}", what()), event);
            }
        }
        self.info(&format!(
            "{proto} {}: {} {}",
            claim.dest,
            action.name(),
            what()
        ));
        self.journal.record(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tcp_saves_are_batched_by_bytes_and_time() {
        let start = Instant::now();
        let mut schedule = SaveSchedule::new(start);
        assert!(!schedule.due(0, start), "nothing recorded yet");
        // A server streaming 100 000 chunks within a second: saved at the first (which places
        // the connection in the cassette), then not again until the connection ends.
        let mut saves = 0;
        for i in 0..100_000u32 {
            let now = start + TCP_SAVE_INTERVAL * i / 200_000;
            if schedule.due(10, now) {
                saves += 1;
                schedule.saved(now, now);
            }
        }
        assert_eq!(saves, 1);
        assert!(schedule.pending());
        // A slow trickle: the first byte saved at once, the next once the interval has passed.
        let mut slow = SaveSchedule::new(start);
        assert!(slow.due(1, start));
        slow.saved(start, start);
        assert!(!slow.due(1, start + TCP_SAVE_INTERVAL / 2));
        assert!(slow.due(1, start + TCP_SAVE_INTERVAL));
        let done = start + TCP_SAVE_INTERVAL;
        slow.saved(done, done);
        assert!(!slow.pending());
        assert!(
            !slow.due(0, done + TCP_SAVE_INTERVAL * 3),
            "nothing new, nothing to save"
        );
        // A save that took 2 s (a large cassette): the next waits 20 s.
        slow.saved(done, done + Duration::from_secs(2));
        let after = done + Duration::from_secs(2);
        assert!(!slow.due(5, after + Duration::from_secs(19)));
        assert!(slow.due(5, after + Duration::from_secs(20)));
    }
}
