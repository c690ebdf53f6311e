//! Serving `tcp` entries: one entry's script per connection.

use std::io::{Read, Write};
use std::net::TcpStream;

use mocket_protocols::tcp::TcpSession;
use serde_json::json;

use super::{Claim, Engine};
use crate::journal::Action;
use mocket_config::Entry;

impl Engine {
    pub(super) fn serve_tcp(&self, mut stream: TcpStream, claim: &Claim, candidates: &[usize]) {
        let tcp_entries = candidates
            .iter()
            .copied()
            .filter(|i| matches!(self.entry(*i), Entry::Tcp(_)));
        let event = |action| claim.event("tcp", action);
        let Some((index, _)) = self.take_entry(tcp_entries) else {
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
        let Entry::Tcp(entry) = self.entry(index) else {
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
            match session.receive(&buf[..n]) {
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
