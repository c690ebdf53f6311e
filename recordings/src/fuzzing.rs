//! Entry points for coverage-guided fuzzing (the `fuzz/` crate) and for the replay of its corpus
//! as unit tests, each asserting its parser's contract.

use crate::cassette::Cassette;
use crate::sniff::{MAX_LINE, Protocol, sniff};

/// What a recorded client speaks, from its first bytes (the first input byte picks a read
/// size), after the engine's peek at the first byte for a TLS handshake (0x16). Never panics;
/// the first answer read by read is final (more bytes never change it, short of `MAX_LINE`,
/// where a line that never ended is given up on as raw TCP); a TLS record is never taken for
/// HTTP or Redis.
pub fn sniff_prefix(data: &[u8]) {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let size = usize::from(cut % 16) + 1;
    let mut prefix = Vec::new();
    let decided = bytes.chunks(size).find_map(|read| {
        prefix.extend_from_slice(read);
        sniff(&prefix)
    });
    if let Some(protocol) = decided
        && bytes.len() <= MAX_LINE
    {
        assert_eq!(
            sniff(bytes),
            Some(protocol),
            "more bytes changed the answer"
        );
    }
    if bytes.first() == Some(&0x16) {
        assert_eq!(decided, Some(Protocol::Raw), "a TLS record taken for text");
    }
}

/// A cassette file as the player loads it: never panics, and a cassette read from any text
/// writes back to text that reads as the same cassette.
pub fn cassette_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cassette) = Cassette::parse(text) {
        let again = Cassette::parse(&cassette.to_text());
        assert_eq!(
            again,
            Ok(cassette),
            "a cassette does not read back as written"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::fuzzing::replay_corpus;

    #[test]
    fn sniff_corpus_replays() {
        replay_corpus("sniff", sniff_prefix);
    }

    #[test]
    fn cassette_corpus_replays() {
        replay_corpus("cassette", cassette_text);
    }
}
