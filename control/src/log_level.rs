//! How much mocket says on stderr (`MOCKET_LOG`, `--log`): one parser for the engine, the CLI
//! and the shim.

use std::fmt;

/// How much mocket says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Error,
    #[default]
    Warn,
    Info,
    Debug,
}

/// A log level that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogLevel(pub String);

impl fmt::Display for UnknownLogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level \"{}\": use error, warn, info or debug",
            self.0
        )
    }
}

impl std::error::Error for UnknownLogLevel {}

impl LogLevel {
    /// A level by name, case-insensitive, surrounding spaces ignored; empty means the default.
    pub fn parse(text: &str) -> Result<Self, UnknownLogLevel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            other => Err(UnknownLogLevel(other.to_string())),
        }
    }

    /// The level's name, as [`LogLevel::parse`] reads it (and `MOCKET_LOG` says it).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_empty_is_the_default() {
        assert_eq!(LogLevel::parse(" ERROR\n"), Ok(LogLevel::Error));
        assert_eq!(LogLevel::parse("Info"), Ok(LogLevel::Info));
        assert_eq!(LogLevel::parse("debug"), Ok(LogLevel::Debug));
        assert_eq!(LogLevel::parse(""), Ok(LogLevel::default()));
        assert_eq!(LogLevel::default(), LogLevel::Warn);
        assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Info < LogLevel::Debug);
        for level in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
        ] {
            assert_eq!(LogLevel::parse(level.name()), Ok(level));
        }
    }

    #[test]
    fn an_unknown_level_says_which_are_known() {
        assert_eq!(
            LogLevel::parse("Loud").unwrap_err().to_string(),
            "unknown log level \"loud\": use error, warn, info or debug"
        );
    }
}
