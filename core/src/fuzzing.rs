//! Entry point for coverage-guided fuzzing of the mocks-file loader (the `fuzz/` crate) and for
//! the replay of its corpus as a unit test.

use std::path::Path;

use crate::config::Config;

/// A mocks file's text through parsing and validation, as `mocket check` and `mocket run` load
/// it: never panics, and every error renders with its position. Relative `file` bodies resolve
/// in a directory that does not exist, so the fuzzer reads no file of the machine by accident.
pub fn mocks_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, "fuzz.json", Path::new("/nonexistent/mocket-fuzz")) {
        let _ = e.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::fuzzing::replay_corpus;

    #[test]
    fn mocks_file_corpus_replays() {
        replay_corpus("mocks_file", mocks_file);
    }
}
