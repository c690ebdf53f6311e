//! Where the mocket CA's files are: one rule for the shim (which reads the certificate to make
//! clients trust it) and the engine (which signs leaves with it), so the two cannot drift apart.
//!
//! The rule is a pure function of an environment lookup: `MOCKET_CA_CERT` and `MOCKET_CA_KEY`
//! when both are set (a given CA, only read), neither for the per-user CA in
//! `$XDG_DATA_HOME/mocket/ca` or `~/.local/share/mocket/ca` (created on first use); one alone
//! is an error. Empty values count as unset.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable naming a given CA's certificate (PEM).
pub const CERT_VAR: &str = "MOCKET_CA_CERT";
/// The variable naming a given CA's private key (PEM).
pub const KEY_VAR: &str = "MOCKET_CA_KEY";

/// Where the CA's certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether mocket may create them (the per-user default) or only read them (given paths).
    pub generated: bool,
}

/// Why the CA's files cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaLocationError {
    /// Only one of [`CERT_VAR`] and [`KEY_VAR`] is set.
    OnlyOneVariable,
    /// Neither the variables nor a home (`XDG_DATA_HOME`, `HOME`) to put the per-user CA in.
    NoHome,
}

impl fmt::Display for CaLocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CaLocationError::OnlyOneVariable => {
                "set both MOCKET_CA_CERT and MOCKET_CA_KEY, or neither"
            }
            CaLocationError::NoHome => {
                "cannot place the mocket CA: set HOME, XDG_DATA_HOME or MOCKET_CA_CERT/MOCKET_CA_KEY"
            }
        })
    }
}

impl std::error::Error for CaLocationError {}

/// Lets callers that still report errors as text use `?`.
impl From<CaLocationError> for String {
    fn from(e: CaLocationError) -> String {
        e.to_string()
    }
}

impl CaFiles {
    /// The CA's files under the environment `var` looks up.
    pub fn locate(var: impl Fn(&str) -> Option<OsString>) -> Result<Self, CaLocationError> {
        let path = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        match (path(CERT_VAR), path(KEY_VAR)) {
            (Some(cert), Some(key)) => Ok(CaFiles {
                cert,
                key,
                generated: false,
            }),
            (None, None) => Ok(CaFiles::in_dir(&data_dir(var)?)),
            _ => Err(CaLocationError::OnlyOneVariable),
        }
    }

    /// The CA's files under this process's environment.
    pub fn from_env() -> Result<Self, CaLocationError> {
        CaFiles::locate(|k| std::env::var_os(k))
    }

    /// The generated CA under `dir`: `dir/ca/cert.pem` and `dir/ca/key.pem`.
    pub fn in_dir(dir: &Path) -> Self {
        CaFiles {
            cert: dir.join("ca/cert.pem"),
            key: dir.join("ca/key.pem"),
            generated: true,
        }
    }
}

/// mocket's per-user data directory (the CA, shared state) under the environment `var` looks
/// up: `$XDG_DATA_HOME/mocket`, or `~/.local/share/mocket`.
pub fn data_dir(var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, CaLocationError> {
    let path = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    match (path("XDG_DATA_HOME"), path("HOME")) {
        (Some(data), _) => Ok(data.join("mocket")),
        (None, Some(home)) => Ok(home.join(".local/share/mocket")),
        (None, None) => Err(CaLocationError::NoHome),
    }
}

/// [`data_dir`] under this process's environment.
pub fn data_dir_from_env() -> Result<PathBuf, CaLocationError> {
    data_dir(|k| std::env::var_os(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn both_variables_name_a_given_ca_that_is_only_read() {
        let files = CaFiles::locate(env(&[
            ("MOCKET_CA_CERT", "/c.pem"),
            ("MOCKET_CA_KEY", "/k.pem"),
            ("HOME", "/home/u"),
        ]))
        .unwrap();
        assert_eq!(
            files,
            CaFiles {
                cert: "/c.pem".into(),
                key: "/k.pem".into(),
                generated: false
            }
        );
    }

    #[test]
    fn one_variable_alone_is_an_error_with_how_to_fix() {
        for var in [CERT_VAR, KEY_VAR] {
            let err = CaFiles::locate(env(&[(var, "/x.pem"), ("HOME", "/home/u")])).unwrap_err();
            assert_eq!(err, CaLocationError::OnlyOneVariable);
            assert_eq!(
                err.to_string(),
                "set both MOCKET_CA_CERT and MOCKET_CA_KEY, or neither"
            );
        }
    }

    #[test]
    fn neither_variable_means_the_per_user_ca_xdg_first() {
        let xdg = CaFiles::locate(env(&[("XDG_DATA_HOME", "/d"), ("HOME", "/home/u")])).unwrap();
        assert_eq!(xdg, CaFiles::in_dir(Path::new("/d/mocket")));
        assert_eq!(xdg.cert, PathBuf::from("/d/mocket/ca/cert.pem"));
        assert_eq!(xdg.key, PathBuf::from("/d/mocket/ca/key.pem"));
        assert!(xdg.generated);
        let home = CaFiles::locate(env(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(
            home.cert,
            PathBuf::from("/home/u/.local/share/mocket/ca/cert.pem")
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let files = CaFiles::locate(env(&[
            ("MOCKET_CA_CERT", ""),
            ("MOCKET_CA_KEY", ""),
            ("XDG_DATA_HOME", ""),
            ("HOME", "/h"),
        ]))
        .unwrap();
        assert_eq!(files, CaFiles::in_dir(Path::new("/h/.local/share/mocket")));
        let err = CaFiles::locate(env(&[("MOCKET_CA_CERT", "/c"), ("MOCKET_CA_KEY", "")]));
        assert_eq!(err, Err(CaLocationError::OnlyOneVariable));
    }

    #[test]
    fn without_a_home_the_error_says_what_to_set() {
        let err = CaFiles::locate(env(&[])).unwrap_err();
        assert_eq!(err, CaLocationError::NoHome);
        assert!(err.to_string().contains("set HOME, XDG_DATA_HOME"));
        assert_eq!(data_dir(env(&[])), Err(CaLocationError::NoHome));
    }
}
