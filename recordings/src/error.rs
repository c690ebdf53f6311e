//! The error of this crate's public functions.

use std::fmt;

/// Why a recording could not be set up, read, written or followed. Each variant carries the
/// whole message, which names the file, field or rule and how to fix it; the variant says what
/// kind of failure it is, so a caller can tell a bad setting from a broken file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingError {
    /// A record setting: the mode, the match rule, the namespace.
    Setting(String),
    /// A cassette, or one of its interactions, that does not read as one.
    Cassette(String),
    /// The record directory or a cassette file could not be read or written.
    Store(String),
    /// Recorded bytes that are not the protocol they claim to be (RESP while recording Redis).
    Protocol(String),
}

impl RecordingError {
    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            RecordingError::Setting(m)
            | RecordingError::Cassette(m)
            | RecordingError::Store(m)
            | RecordingError::Protocol(m) => m,
        }
    }
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RecordingError {}

/// For callers that still pass errors on as text.
impl From<RecordingError> for String {
    fn from(e: RecordingError) -> String {
        e.to_string()
    }
}
