//! `tcp` entries chosen per client message (DESIGN.md section 7): when several `tcp` entries
//! share an address, or one has a `request_regex`, each message of a connection is answered by
//! the first entry (in the order given) whose `request` (exact) or `request_regex` matches it; an
//! entry with neither matches any message. A message that none matches ends the connection.
//!
//! A message is what the client has sent and no entry consumed yet. An exact `request` may
//! arrive in pieces (the router waits while the bytes are a prefix of one); a `request_regex`
//! is tried on what has arrived.

use crate::tcp::TcpEntry;

/// The most bytes a client may send that no entry has consumed yet: a bound on what a peer
/// can make the engine hold.
pub const MAX_PENDING: usize = 64 * 1024;

/// One connection's routing over the entries of its address.
#[derive(Debug)]
pub struct TcpRouter<'a> {
    /// (entry index, entry), in the order they are tried.
    entries: Vec<(usize, &'a TcpEntry)>,
    /// Responses sent per entry on this connection (responses restart per connection).
    answered: Vec<usize>,
    pending: Vec<u8>,
}

/// What a message got.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// An entry (its index) answered; send the bytes.
    Answer { index: usize, bytes: Vec<u8> },
}

/// No entry matches what the client sent; the connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoEntry {
    pub received: Vec<u8>,
    pub why: String,
}

impl std::fmt::Display for NoEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (received {:?})",
            self.why,
            String::from_utf8_lossy(&self.received[..self.received.len().min(200)])
        )
    }
}

impl<'a> TcpRouter<'a> {
    pub fn new(entries: Vec<(usize, &'a TcpEntry)>) -> Self {
        TcpRouter {
            answered: vec![0; entries.len()],
            entries,
            pending: Vec::new(),
        }
    }

    /// Whether routing per message applies to these entries: several of them, or a regex.
    pub fn applies(entries: &[(usize, &TcpEntry)]) -> bool {
        entries.len() > 1 || entries.iter().any(|(_, e)| e.request_regex.is_some())
    }

    /// Takes the bytes of one read and returns the answers to the messages they complete.
    /// `may_use(index)` is asked before an entry answers; false skips it (its `times` ran
    /// out).
    pub fn receive(
        &mut self,
        data: &[u8],
        may_use: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Routed>, NoEntry> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while !self.pending.is_empty() {
            match self.route_one(may_use)? {
                Some(routed) => out.push(routed),
                None => break,
            }
        }
        if self.pending.len() > MAX_PENDING {
            return Err(NoEntry {
                received: std::mem::take(&mut self.pending),
                why: format!("over {MAX_PENDING} bytes matched no entry"),
            });
        }
        Ok(out)
    }

    /// Answers the first message of `pending`; `None` while it may still grow into a match.
    fn route_one(
        &mut self,
        may_use: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Option<Routed>, NoEntry> {
        let mut waiting = false;
        for slot in 0..self.entries.len() {
            let (index, entry) = self.entries[slot];
            let consumed = match (&entry.request, &entry.request_regex) {
                (Some(request), _) if self.pending.starts_with(request) => request.len(),
                (Some(request), _) => {
                    waiting |= request.starts_with(&self.pending);
                    continue;
                }
                (None, Some(re)) if re.0.is_match(&self.pending) => self.pending.len(),
                (None, Some(_)) => continue,
                (None, None) => self.pending.len(),
            };
            // An earlier entry whose request the message may still grow into comes first
            // (file order), so a later entry must not take the partial message.
            if waiting {
                return Ok(None);
            }
            if !may_use(index) {
                continue;
            }
            self.pending.drain(..consumed);
            let responses = &entry.responses;
            let bytes = responses[self.answered[slot].min(responses.len() - 1)].clone();
            self.answered[slot] += 1;
            return Ok(Some(Routed::Answer { index, bytes }));
        }
        if waiting {
            return Ok(None);
        }
        Err(NoEntry {
            received: std::mem::take(&mut self.pending),
            why: "no tcp entry's request or request_regex matches this message".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(v: serde_json::Value) -> TcpEntry {
        TcpEntry::from_json(&v).unwrap()
    }

    fn answers(routed: Vec<Routed>) -> Vec<(usize, String)> {
        routed
            .into_iter()
            .map(|Routed::Answer { index, bytes }| (index, String::from_utf8(bytes).unwrap()))
            .collect()
    }

    #[test]
    fn each_message_by_the_first_entry_that_matches() {
        let entries = [
            entry(
                json!({"tcp": "h:1", "greeting": "220 hi\r\n", "request": "HELO me\r\n", "response": "250 hello\r\n"}),
            ),
            entry(
                json!({"tcp": "h:1", "request_regex": "^MAIL FROM:<[^>]+>\r\n$", "responses": ["250 ok\r\n", "250 again\r\n"]}),
            ),
            entry(json!({"tcp": "h:1", "request": "QUIT\r\n", "response": "221 bye\r\n"})),
        ];
        let mut router = TcpRouter::new(entries.iter().enumerate().collect());
        assert!(TcpRouter::applies(
            &entries.iter().enumerate().collect::<Vec<_>>()
        ));
        let mut any = |_| true;
        assert_eq!(answers(router.receive(b"HELO", &mut any).unwrap()), []);
        assert_eq!(
            answers(router.receive(b" me\r\n", &mut any).unwrap()),
            [(0, "250 hello\r\n".into())]
        );
        assert_eq!(
            answers(router.receive(b"MAIL FROM:<a@b>\r\n", &mut any).unwrap()),
            [(1, "250 ok\r\n".into())]
        );
        assert_eq!(
            answers(router.receive(b"MAIL FROM:<c@d>\r\n", &mut any).unwrap()),
            [(1, "250 again\r\n".into())]
        );
        assert_eq!(
            answers(router.receive(b"QUIT\r\n", &mut any).unwrap()),
            [(2, "221 bye\r\n".into())]
        );
        let err = router.receive(b"RSET\r\n", &mut any).unwrap_err();
        assert_eq!(err.received, b"RSET\r\n");
        assert!(err.to_string().contains("no tcp entry"), "{err}");
    }

    #[test]
    fn a_later_entry_waits_while_an_earlier_request_may_still_arrive() {
        let entries = [
            entry(json!({"tcp": "h:1", "request": "HELO\r\n", "response": "250 a\r\n"})),
            entry(json!({"tcp": "h:1", "response": "x"})),
        ];
        let mut router = TcpRouter::new(entries.iter().enumerate().collect());
        let mut any = |_| true;
        assert_eq!(answers(router.receive(b"HE", &mut any).unwrap()), []);
        assert_eq!(
            answers(router.receive(b"LO\r\n", &mut any).unwrap()),
            [(0, "250 a\r\n".into())]
        );
        assert_eq!(
            answers(router.receive(b"BYE", &mut any).unwrap()),
            [(1, "x".into())]
        );
    }

    #[test]
    fn used_up_entries_are_skipped_and_pending_is_bounded() {
        let entries = [
            entry(json!({"tcp": "h:1", "request_regex": "a", "response": "first"})),
            entry(json!({"tcp": "h:1", "response": "any"})),
        ];
        let mut router = TcpRouter::new(entries.iter().enumerate().collect());
        let mut not_first = |i| i != 0;
        assert_eq!(
            answers(router.receive(b"a", &mut not_first).unwrap()),
            [(1, "any".into())]
        );
        let only_exact = [entry(
            json!({"tcp": "h:1", "request": "x".repeat(MAX_PENDING + 10), "response": "r"}),
        )];
        let mut router = TcpRouter::new(only_exact.iter().enumerate().collect());
        let err = router
            .receive("x".repeat(MAX_PENDING + 1).as_bytes(), &mut |_| true)
            .unwrap_err();
        assert!(err.why.contains("bytes matched no entry"), "{err}");
    }

    #[test]
    fn request_regex_is_checked_in_the_file() {
        let err =
            TcpEntry::from_json(&json!({"tcp": "h:1", "request_regex": "(", "response": "x"}))
                .unwrap_err();
        assert_eq!(err.path_text(), "request_regex");
        assert!(err.message.contains("invalid regular expression"));
        let err = TcpEntry::from_json(
            &json!({"tcp": "h:1", "request": "a", "request_regex": "b", "response": "x"}),
        )
        .unwrap_err();
        assert_eq!(err.path_text(), "request_regex");
    }
}
