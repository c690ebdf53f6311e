//! mocket cassettes (DESIGN.md section 6): what a recorded run looks like on disk
//! ([`cassette`]), how secrets stay off it ([`redact`]), which recording answers a live
//! request ([`http::Matcher`], [`player`], [`redis::RedisReplay`], [`tcp::TcpReplay`]), and how
//! several processes write one cassette without losing anything ([`store`]).
//!
//! Everything but [`store`] is sans-IO: the engine in `mocket-engine` owns the sockets, proxies
//! recorded connections to the real servers and feeds these pieces the bytes.

#![forbid(unsafe_code)]

pub mod cassette;
mod error;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod mode;
pub mod player;
pub mod recorder;
pub mod redact;
pub mod redis;
pub mod sniff;
pub mod store;
pub mod tcp;

pub use cassette::{Cassette, Interaction, Kind};
pub use error::RecordingError;
pub use mode::Mode;
pub use recorder::{RecordSettings, Recorder};
pub use redact::{REDACTED, Redactor};

use std::path::{Path, PathBuf};

/// The namespace used when none is given: stable across runs, so replay finds what was recorded.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The cassette file of `namespace` under `dir`: `<dir>/<namespace>.json`.
///
/// Namespaces are file names, so anything that could escape `dir` is refused.
pub fn cassette_path(dir: &Path, namespace: &str) -> Result<PathBuf, RecordingError> {
    let ok = !namespace.is_empty()
        && namespace != "."
        && namespace != ".."
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+".contains(c));
    if !ok {
        return Err(RecordingError::Setting(format!(
            "namespace {namespace:?} is not a valid cassette name: use letters, digits and - _ . @ +"
        )));
    }
    Ok(dir.join(format!("{namespace}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cassette_names() {
        let p = cassette_path(Path::new("/f"), DEFAULT_NAMESPACE).unwrap();
        assert_eq!(p, PathBuf::from("/f/default.json"));
        assert!(cassette_path(Path::new("/f"), "../x").is_err());
        assert!(cassette_path(Path::new("/f"), "").is_err());
        assert!(cassette_path(Path::new("/f"), "a/b").is_err());
    }
}
