//! What the relay records: Redis commands with their replies, or raw TCP chunks. Each tap
//! saves the connection so far before the client sees a server's answer, and journals as it
//! goes.

use mocket_recordings::redis::{RedisRecorder, words};
use mocket_recordings::tcp::{Dir, TcpConnection};
use mocket_recordings::{Interaction, Recorder};
use serde_json::json;

use super::relay::Tap;
use crate::engine::{Claim, Engine, lock};
use crate::journal::{Action, Event};

pub(super) struct RedisTap<'a> {
    pub engine: &'a Engine,
    pub rec: &'a Recorder,
    pub claim: &'a Claim,
    pub recorder: RedisRecorder,
    /// The client stopped speaking RESP: relayed, no longer recorded.
    pub broken: bool,
}

impl RedisTap<'_> {
    fn give_up(&mut self, why: String) {
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

pub(super) struct TcpTap<'a> {
    pub engine: &'a Engine,
    pub rec: &'a Recorder,
    pub claim: &'a Claim,
    pub conn: TcpConnection,
}

impl Tap for TcpTap<'_> {
    fn client(&mut self, bytes: &[u8]) {
        self.conn.push(Dir::Client, bytes);
    }

    fn server(&mut self, bytes: &[u8]) {
        self.conn.push(Dir::Server, bytes);
        self.save();
    }
}

impl TcpTap<'_> {
    pub fn save(&self) {
        self.engine.save_recording(
            self.rec,
            Interaction::Tcp(self.conn.clone()),
            self.claim,
            "tcp",
        );
    }

    /// The connection is over: saved whole (with what the client said last) and journaled.
    pub fn finish(self) {
        if self.conn.chunks.is_empty() {
            return;
        }
        self.save();
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
