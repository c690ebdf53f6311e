//! Entry point for coverage-guided fuzzing of the mocks-file loader (the `fuzz/` crate) and for
//! the replay of its corpus as a unit test.

use std::path::Path;

use crate::Config;

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

    /// On an 8 MiB stack, the main thread's, where `mocket check` and `mocket run` load the
    /// file: serde_json refuses nesting past 128 levels, but in a debug build those 128 levels
    /// overflow the 2 MiB of a test thread (corpus inputs nested 118 to 136 deep do).
    #[test]
    fn mocks_file_corpus_replays() {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(|| replay_corpus("mocks_file", mocks_file))
            .expect("a replay thread")
            .join()
            .expect("the replay passes");
    }
}
