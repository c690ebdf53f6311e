//! VCR record modes: what a run does with the cassette it finds.

use std::fmt;

/// `MOCKET_RECORD_MODE` / `--record-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The cassette exists: replay only. It does not: record everything.
    #[default]
    Once,
    /// Replay what the cassette holds, record the rest.
    NewEpisodes,
    /// Record everything afresh, replacing what the cassette held.
    All,
    /// Replay only; nothing reaches the network.
    None,
}

/// What a mode means for one engine, once it knows whether the cassette existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub replay: bool,
    pub record: bool,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Mode, crate::RecordingError> {
        match text.trim() {
            "once" | "" => Ok(Mode::Once),
            "new_episodes" => Ok(Mode::NewEpisodes),
            "all" => Ok(Mode::All),
            "none" => Ok(Mode::None),
            other => Err(crate::RecordingError::Setting(format!(
                "unknown record mode \"{other}\": use once, new_episodes, all or none"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Once => "once",
            Mode::NewEpisodes => "new_episodes",
            Mode::All => "all",
            Mode::None => "none",
        }
    }

    /// Decided once per engine, when it starts: `once` must not switch to replay halfway
    /// through a run because its own first write created the cassette.
    pub fn effect(self, cassette_exists: bool) -> Effect {
        let (replay, record) = match self {
            Mode::Once => (cassette_exists, !cassette_exists),
            Mode::NewEpisodes => (true, true),
            Mode::All => (false, true),
            Mode::None => (true, false),
        };
        Effect { replay, record }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_decide() {
        for mode in [Mode::Once, Mode::NewEpisodes, Mode::All, Mode::None] {
            assert_eq!(Mode::parse(mode.name()), Ok(mode));
        }
        let err = Mode::parse("sometimes").unwrap_err().to_string();
        assert!(
            err.contains("\"sometimes\"") && err.contains("new_episodes"),
            "{err}"
        );
        assert_eq!(
            Mode::Once.effect(true),
            Effect {
                replay: true,
                record: false
            }
        );
        assert_eq!(
            Mode::Once.effect(false),
            Effect {
                replay: false,
                record: true
            }
        );
        assert!(!Mode::None.effect(false).record);
        assert!(!Mode::All.effect(true).replay);
        let both = Mode::NewEpisodes.effect(true);
        assert!(both.replay && both.record);
    }
}
