//! The settings of one run: which mocks file, and the overrides given by `MOCKET_*` variables
//! or `mocket run` flags (DESIGN.md section 4).

use std::path::{Path, PathBuf};

use super::{Config, ConfigError};
use crate::policy::AllowList;

/// How much mocket says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Error,
    #[default]
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            other => Err(format!(
                "unknown log level \"{other}\": use error, warn, info or debug"
            )),
        }
    }
}

/// Everything that decides how an engine behaves, before the mocks file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub config: Option<PathBuf>,
    pub strict: Option<bool>,
    /// Raw allow rules; `Some(vec![])` allows nothing.
    pub allow: Option<Vec<String>>,
    pub journal: Option<PathBuf>,
    pub log: LogLevel,
}

impl Settings {
    /// Reads the `MOCKET_*` variables of this process.
    pub fn from_env() -> Result<Self, ConfigError> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the `MOCKET_*` variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let strict = var("MOCKET_STRICT")
            .map(|v| parse_strict(&v).map_err(|m| variable_error("MOCKET_STRICT", m)))
            .transpose()?;
        let log = match var("MOCKET_LOG") {
            Some(v) => LogLevel::parse(&v).map_err(|m| variable_error("MOCKET_LOG", m))?,
            None => LogLevel::default(),
        };
        Ok(Settings {
            config: var("MOCKET_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            strict,
            allow: var("MOCKET_ALLOW").map(|v| split_allow(&v)),
            journal: var("MOCKET_JOURNAL")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            log,
        })
    }

    /// Reads the mocks file (or starts from an empty one) and applies the overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::parse("{}", "(no mocks file)", Path::new("."))?,
        };
        if let Some(strict) = self.strict {
            config.strict = strict;
        }
        if let Some(rules) = &self.allow {
            config.allow =
                AllowList::parse(rules).map_err(|m| variable_error("MOCKET_ALLOW / --allow", m))?;
        }
        Ok(config)
    }
}

/// `MOCKET_STRICT` accepts `1`/`0` (and the obvious words).
pub fn parse_strict(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("\"{other}\" is not 1 or 0")),
    }
}

/// `MOCKET_ALLOW` is comma-separated; an empty value allows nothing.
pub fn split_allow(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect()
}

fn variable_error(origin: &str, message: String) -> ConfigError {
    ConfigError {
        origin: origin.to_string(),
        position: None,
        key: String::new(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|k| vars.get(k).cloned())
    }

    #[test]
    fn overrides_apply() {
        let s = settings(&[
            ("MOCKET_STRICT", "0"),
            ("MOCKET_ALLOW", "a.test:1, 10.0.0.0/8"),
        ])
        .unwrap();
        let c = s.load().unwrap();
        assert!(!c.strict);
        assert!(c.allow.allows("a.test", 1));
        assert!(!c.allow.allows("127.0.0.1", 1));
    }

    #[test]
    fn empty_allow_allows_nothing() {
        let c = settings(&[("MOCKET_ALLOW", "")]).unwrap().load().unwrap();
        assert!(c.allow.0.is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let err = settings(&[("MOCKET_STRICT", "maybe")]).unwrap_err();
        assert_eq!(err.to_string(), "MOCKET_STRICT: \"maybe\" is not 1 or 0");
        let err = settings(&[("MOCKET_ALLOW", "a b")])
            .unwrap()
            .load()
            .unwrap_err();
        assert!(err.to_string().starts_with("MOCKET_ALLOW / --allow: "));
        assert!(settings(&[("MOCKET_LOG", "loud")]).is_err());
        let err = settings(&[("MOCKET_CONFIG", "/nonexistent/m.json")])
            .unwrap()
            .load()
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot read the mocks file"),
            "{err}"
        );
    }
}
