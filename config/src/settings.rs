//! The settings of one run: which mocks file, and the overrides given by `MOCKET_*` variables
//! or `mocket run` flags (DESIGN.md section 4).

use std::path::{Path, PathBuf};

use mocket_recordings::http::Matcher;
use mocket_recordings::{Mode, RecordSettings, Redactor};

use super::{Config, ConfigError};
use crate::policy::AllowList;

pub use mocket_control::log_level::LogLevel;

/// Everything that decides how an engine behaves, before the mocks file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub config: Option<PathBuf>,
    pub strict: Option<bool>,
    /// Raw allow rules; `Some(vec![])` allows nothing.
    pub allow: Option<Vec<String>>,
    pub journal: Option<PathBuf>,
    pub log: LogLevel,
    /// `MOCKET_RECORD_DIR`: recording and replay are on when set.
    pub record_dir: Option<PathBuf>,
    pub record_mode: Option<Mode>,
    pub namespace: Option<String>,
    /// `MOCKET_UPSTREAM_CA`: more CAs trusted for upstream TLS while recording.
    pub upstream_ca: Option<PathBuf>,
    /// `MOCKET_REDACT_HEADERS`, `MOCKET_REDACT_QUERY`: names redacted besides the built-in ones.
    pub redact_headers: Vec<String>,
    pub redact_query: Vec<String>,
    /// `MOCKET_RECORD_MATCH`: what replay compares (default: method, URL, body).
    pub record_match: Option<Matcher>,
    /// `MOCKET_MAX_BODY`, in bytes.
    pub max_body: Option<usize>,
    /// `MOCKET_FAIL_UNUSED=1` (`mocket run --fail-unused`): an entry never used fails the run.
    pub fail_unused: bool,
}

impl Settings {
    /// Reads the `MOCKET_*` variables of this process.
    pub fn from_env() -> Result<Self, ConfigError> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the `MOCKET_*` variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let strict = var("MOCKET_STRICT")
            .map(|v| parse_strict(&v).map_err(|m| variable_error("MOCKET_STRICT", m.to_string())))
            .transpose()?;
        let log = match var("MOCKET_LOG") {
            Some(v) => {
                LogLevel::parse(&v).map_err(|m| variable_error("MOCKET_LOG", m.to_string()))?
            }
            None => LogLevel::default(),
        };
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let record_mode = var("MOCKET_RECORD_MODE")
            .map(|v| {
                Mode::parse(&v).map_err(|m| variable_error("MOCKET_RECORD_MODE", m.to_string()))
            })
            .transpose()?;
        let record_match = var("MOCKET_RECORD_MATCH")
            .map(|v| {
                Matcher::parse(&v).map_err(|m| variable_error("MOCKET_RECORD_MATCH", m.to_string()))
            })
            .transpose()?;
        let names = |name: &str| var(name).map(|v| split_allow(&v)).unwrap_or_default();
        let max_body = var("MOCKET_MAX_BODY")
            .map(|v| parse_size(&v).map_err(|m| variable_error("MOCKET_MAX_BODY", m)))
            .transpose()?;
        let fail_unused = var("MOCKET_FAIL_UNUSED")
            .map(|v| parse_flag(&v).map_err(|m| variable_error("MOCKET_FAIL_UNUSED", m)))
            .transpose()?
            .unwrap_or(false);
        Ok(Settings {
            fail_unused,
            config: path("MOCKET_CONFIG"),
            strict,
            allow: var("MOCKET_ALLOW").map(|v| split_allow(&v)),
            journal: path("MOCKET_JOURNAL"),
            log,
            record_dir: path("MOCKET_RECORD_DIR"),
            record_mode,
            namespace: var("MOCKET_NAMESPACE").filter(|v| !v.is_empty()),
            upstream_ca: path("MOCKET_UPSTREAM_CA"),
            redact_headers: names("MOCKET_REDACT_HEADERS"),
            redact_query: names("MOCKET_REDACT_QUERY"),
            record_match,
            max_body,
        })
    }

    /// The recording settings, when a record dir is set. A mode or namespace without a record
    /// dir does nothing (they may be set for a whole CI job whose runs do not all record).
    pub fn recording(&self) -> Result<Option<RecordSettings>, ConfigError> {
        let Some(dir) = &self.record_dir else {
            return Ok(None);
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| mocket_recordings::DEFAULT_NAMESPACE.to_string());
        mocket_recordings::cassette_path(dir, &namespace)
            .map_err(|m| variable_error("MOCKET_NAMESPACE / --namespace", m.to_string()))?;
        self.upstream_ca()?;
        Ok(Some(RecordSettings {
            dir: dir.clone(),
            namespace,
            mode: self.record_mode.unwrap_or_default(),
            upstream_ca: self.upstream_ca.clone(),
            redactor: self.redactor(),
            matcher: self.record_match.clone().unwrap_or_default(),
        }))
    }

    /// `MOCKET_UPSTREAM_CA`, checked to be a file: the CAs trusted for TLS to real servers,
    /// besides the system roots (recording and `"unmatched": "passthrough"`).
    pub fn upstream_ca(&self) -> Result<Option<PathBuf>, ConfigError> {
        if let Some(ca) = self.upstream_ca.as_ref().filter(|p| !p.is_file()) {
            return Err(variable_error(
                "MOCKET_UPSTREAM_CA",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        Ok(self.upstream_ca.clone())
    }

    /// What cassettes and the journal redact: the built-in names plus `MOCKET_REDACT_HEADERS`
    /// and `MOCKET_REDACT_QUERY`.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(&self.redact_headers, &self.redact_query)
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
            config.allow = AllowList::parse(rules)
                .map_err(|m| variable_error("MOCKET_ALLOW / --allow", m.to_string()))?;
        }
        config.record = self.recording()?;
        // Checked only when something reaches real servers over TLS: a CI job may set it for
        // runs that never do.
        if config.record.is_some() || config.unmatched == crate::Unmatched::Passthrough {
            config.upstream_ca = self.upstream_ca()?;
        }
        if let Some(max) = self.max_body {
            config.max_body = max;
        }
        Ok(config)
    }
}

/// A yes/no variable: `1`, `true`, `yes` or `0`, `false`, `no`, empty (any case).
fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "" | "0" | "false" | "no" => Ok(false),
        other => Err(format!(
            "\"{other}\" is not 1 or 0 (also true/false, yes/no)"
        )),
    }
}

/// A size in bytes: a number, optionally followed by `K`, `M` or `G` (also `KB`, `KiB`...,
/// any case), all powers of 1024.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "\"{text}\" is not a size: use bytes, or a number with K, M or G (64M)"
            ));
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| {
            format!("\"{text}\" is not a size: use bytes, or a number with K, M or G (64M)")
        })
}

/// A `MOCKET_STRICT` value that is neither on nor off; holds it, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOnOrOff(pub String);

impl std::fmt::Display for NotOnOrOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\" is not 1 or 0", self.0)
    }
}

impl std::error::Error for NotOnOrOff {}

/// `MOCKET_STRICT` accepts `1`/`0` (and the obvious words).
pub fn parse_strict(text: &str) -> Result<bool, NotOnOrOff> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(NotOnOrOff(other.to_string())),
    }
}

/// `MOCKET_ALLOW` (and the other list variables) are comma-separated; an empty value is an
/// empty list.
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
    fn max_body_takes_sizes() {
        let load = |v: &str| settings(&[("MOCKET_MAX_BODY", v)]).map(|s| s.load().unwrap());
        assert_eq!(settings(&[]).unwrap().load().unwrap().max_body, 64 << 20);
        assert_eq!(load("1M").unwrap().max_body, 1 << 20);
        assert_eq!(load("512 KiB").unwrap().max_body, 512 << 10);
        assert_eq!(load("1000").unwrap().max_body, 1000);
        assert_eq!(load("2g").unwrap().max_body, 2 << 30);
        let err = load("lots").unwrap_err().to_string();
        assert!(
            err.starts_with("MOCKET_MAX_BODY: \"lots\" is not a size"),
            "{err}"
        );
        assert!(load("").is_err() && load("-1").is_err());
    }

    #[test]
    fn empty_allow_allows_nothing() {
        let c = settings(&[("MOCKET_ALLOW", "")]).unwrap().load().unwrap();
        assert!(c.allow.0.is_empty());
    }

    #[test]
    fn recording_settings() {
        assert_eq!(settings(&[]).unwrap().load().unwrap().record, None);
        let s = settings(&[
            ("MOCKET_RECORD_DIR", "/tmp/fixtures"),
            ("MOCKET_RECORD_MODE", "new_episodes"),
            ("MOCKET_REDACT_HEADERS", "x-session, x-tenant-key"),
            ("MOCKET_RECORD_MATCH", "method,path"),
        ])
        .unwrap();
        let r = s.load().unwrap().record.unwrap();
        assert_eq!(r.namespace, "default");
        assert_eq!(r.mode, Mode::NewEpisodes);
        assert!(r.redactor.is_secret_header("X-Session"));
        assert_eq!(r.matcher, Matcher::parse("path,method").unwrap());
        let only_mode = settings(&[("MOCKET_RECORD_MODE", "none")]).unwrap();
        assert_eq!(only_mode.load().unwrap().record, None);
    }

    #[test]
    fn bad_recording_values_are_named() {
        let err = settings(&[("MOCKET_RECORD_MODE", "sometimes")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("MOCKET_RECORD_MODE: unknown record mode \"sometimes\""),
            "{err}"
        );
        let err = settings(&[("MOCKET_RECORD_DIR", "/d"), ("MOCKET_NAMESPACE", "a/b")])
            .unwrap()
            .load()
            .unwrap_err();
        assert!(
            err.to_string().contains("not a valid cassette name"),
            "{err}"
        );
        let err = settings(&[
            ("MOCKET_RECORD_DIR", "/d"),
            ("MOCKET_UPSTREAM_CA", "/nonexistent/ca.pem"),
        ])
        .unwrap()
        .load()
        .unwrap_err();
        assert!(err.to_string().starts_with("MOCKET_UPSTREAM_CA: "), "{err}");
        assert!(settings(&[("MOCKET_RECORD_MATCH", "colour")]).is_err());
    }

    #[test]
    fn upstream_ca_is_checked_for_passthrough() {
        let dir = std::env::temp_dir().join(format!("mocket-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mocks = dir.join("mocks.json");
        std::fs::write(&mocks, r#"{"unmatched": "passthrough"}"#).unwrap();
        let mocks = mocks.to_str().unwrap();
        let missing = ("MOCKET_UPSTREAM_CA", "/nonexistent/ca.pem");
        assert_eq!(
            settings(&[missing]).unwrap().load().unwrap().upstream_ca,
            None
        );
        let err = settings(&[("MOCKET_CONFIG", mocks), missing])
            .unwrap()
            .load()
            .unwrap_err();
        assert!(err.to_string().starts_with("MOCKET_UPSTREAM_CA: "), "{err}");
        let ca = ("MOCKET_UPSTREAM_CA", mocks);
        let config = settings(&[("MOCKET_CONFIG", mocks), ca])
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(config.upstream_ca, Some(PathBuf::from(mocks)));
        std::fs::remove_dir_all(&dir).unwrap();
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
