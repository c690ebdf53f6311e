//! Serving `tcp` entries: one entry's script per connection.

use std::io::{Read, Write};
use std::net::TcpStream;

use mocket_protocols::tcp::{TcpEntry, TcpSession};
use mocket_protocols::tcp_messages::{Routed, TcpRouter};
use serde_json::json;

use super::{Claim, Engine};
use crate::journal::Action;
use crate::scopes::{EntrySet, Seen, log::tcp_object};
use mocket_config::Entry;

impl Engine {
    /// Serves one connection with the first `tcp` entry of `set` that has uses left, or, when
    /// several entries or a `request_regex` make messages choose, message by message.
    pub(super) fn serve_tcp(&self, mut stream: TcpStream, claim: &Claim, set: &EntrySet) {
        let by_message: Vec<(usize, &TcpEntry)> = set
            .ids()
            .filter_map(|i| match set.entry(i) {
                Entry::Tcp(e) => Some((i, e)),
                _ => None,
            })
            .collect();
        if TcpRouter::applies(&by_message) {
            return self.serve_tcp_messages(stream, claim, set, by_message);
        }
        let tcp_entries = by_message.iter().map(|(i, _)| *i);
        let scope = set.scope();
        let event = |action| {
            let event = claim.event("tcp", action);
            match scope {
                Some(scope) => event.with("scope", json!(scope.name)),
                None => event,
            }
        };
        let Some((index, _)) = self.take_entry(set, tcp_entries) else {
            let why = "every tcp entry for it has used up its \"times\"".to_string();
            self.count_unmatched(
                claim,
                "tcp",
                why.clone(),
                event(Action::Unmatched).with("reason", why.into()),
            );
            return;
        };
        #[allow(irrefutable_let_patterns)]
        let Entry::Tcp(entry) = set.entry(index) else {
            unreachable!("filtered to tcp entries")
        };
        self.count_mocked();
        self.journal
            .record(&event(Action::Mocked).entry(Some(index)));
        let mut session = TcpSession::new(entry);
        if stream.write_all(session.greeting()).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let received = session.receive(&buf[..n]);
            if let Some(scope) = scope {
                let miss = received
                    .as_ref()
                    .err()
                    .map(|m| format!("entry #{index}: {m}"));
                scope.record(
                    Some(index).filter(|_| miss.is_none()),
                    Seen::Object(tcp_object(
                        claim.pid,
                        &buf[..n],
                        Some(index),
                        miss.as_deref(),
                    )),
                );
            }
            match received {
                Ok(out) => {
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                }
                Err(mismatch) => {
                    let why = format!("entry #{index}: {mismatch}");
                    let e = event(Action::Unmatched)
                        .entry(Some(index))
                        .with("reason", json!(why));
                    self.count_unmatched(claim, "tcp", why, e);
                    return;
                }
            }
        }
    }

    /// Serves a connection whose messages choose their entries (several `tcp` entries on the
    /// address, or a `request_regex`). An entry's `times` counts the connections it answered
    /// on; the report counts the connection once.
    fn serve_tcp_messages(
        &self,
        mut stream: TcpStream,
        claim: &Claim,
        set: &EntrySet,
        entries: Vec<(usize, &TcpEntry)>,
    ) {
        // The first entry with uses left takes the connection (its use, its greeting), as
        // with one entry; later messages may choose others.
        let Some((greeter, _)) = self.take_entry(set, entries.iter().map(|(i, _)| *i)) else {
            let why = "every tcp entry for it has used up its \"times\"".to_string();
            let e = claim
                .event("tcp", Action::Unmatched)
                .with("reason", json!(why));
            return self.count_unmatched(claim, "tcp", why, e);
        };
        let greeting = entries
            .iter()
            .find(|(i, _)| *i == greeter)
            .and_then(|(_, e)| e.greeting.clone())
            .unwrap_or_default();
        let mut router = TcpRouter::new(entries);
        self.count_mocked();
        if stream.write_all(&greeting).is_err() {
            return;
        }
        let mut used_here: Vec<usize> = vec![greeter];
        let mut may_use = |index: usize| {
            if used_here.contains(&index) {
                return true;
            }
            let taken = self.take_entry(set, [index]).is_some();
            if taken {
                used_here.push(index);
            }
            taken
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match router.receive(&buf[..n], &mut may_use) {
                Ok(answers) => {
                    for Routed::Answer { index, bytes } in answers {
                        self.journal
                            .record(&claim.event("tcp", Action::Mocked).entry(Some(index)));
                        if stream.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                }
                Err(no_entry) => {
                    let why = no_entry.to_string();
                    let e = claim
                        .event("tcp", Action::Unmatched)
                        .with("reason", json!(why));
                    self.count_unmatched(claim, "tcp", why, e);
                    return;
                }
            }
        }
    }
}
