//! Entry point for coverage-guided fuzzing of the control protocol (the `fuzz/` crate) and for
//! the replay of its corpus as a unit test.

use crate::preamble::Preamble;
use crate::{Reply, Request};

/// One line of the control protocol, as the engine reads a request and the shim a reply (up to
/// the first `\n`): never panics, and whatever parses writes back as one line that reads back
/// as the same value, so neither side can be made to read something the other did not mean.
/// (A reply is compared as the line it writes: `to_line` folds line ends in a refusal's
/// message into spaces.)
pub fn control_line(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line = text.split('\n').next().unwrap_or_default();
    if let Ok(request) = Request::parse(line) {
        let sent = request
            .to_line()
            .expect("a request that parsed writes back");
        assert!(!sent.contains('\n'), "a request line holds a line end");
        assert_eq!(Request::parse(&sent), Ok(request), "sent as {sent:?}");
    }
    if let Ok(reply) = Reply::parse(line) {
        let sent = reply.to_line().expect("a reply that parsed writes back");
        assert!(!sent.contains('\n'), "a reply line holds a line end");
        let again = Reply::parse(&sent).expect("a written reply reads back");
        let read = again.to_line().expect("and writes back again");
        assert_eq!(read, sent, "sent as {sent:?}");
    }
}

/// The first bytes of a connection to the engine listener, read as a [`Preamble`]: never
/// panics, and whatever decodes encodes back to the same bytes (an IPv4-mapped address aside,
/// which reads back as the IPv4 address it stands for and encodes to the same bytes).
pub fn preamble(data: &[u8]) {
    let Some(bytes) = data.first_chunk::<{ crate::preamble::LEN }>() else {
        assert!(Preamble::decode(data).is_err());
        return;
    };
    if let Ok(read) = Preamble::decode(bytes) {
        assert_eq!(&read.encode(), bytes, "read as {read:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::fuzzing::{replay_corpus, replay_regressions};

    #[test]
    fn control_line_corpus_replays() {
        replay_corpus("control_line", control_line);
    }

    #[test]
    fn preamble_corpus_replays() {
        replay_corpus("preamble", preamble);
    }

    /// The crash inputs the fuzzer found (`fuzz/regressions/control_line/`).
    #[test]
    fn control_line_regressions_replay() {
        replay_regressions("control_line", control_line);
    }
}
