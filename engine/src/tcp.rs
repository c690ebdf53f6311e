//! Serving `tcp` entries: one entry's script per connection.

use std::io::{Read, Write};
use std::net::TcpStream;

use mocket_protocols::tcp::TcpSession;
use serde_json::json;

use super::{Claim, Engine};
use crate::journal::Action;
use crate::scopes::{EntrySet, log::tcp_object};
use mocket_config::Entry;

impl Engine {
    /// Serves one connection with the first `tcp` entry of `set` that has uses left.
    pub(super) fn serve_tcp(&self, mut stream: TcpStream, claim: &Claim, set: &EntrySet) {
        let tcp_entries = set.ids().filter(|i| matches!(set.entry(*i), Entry::Tcp(_)));
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
                    tcp_object(claim.pid, &buf[..n], Some(index), miss.as_deref()),
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
}
