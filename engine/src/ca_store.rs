//! The mocket CA on disk (DESIGN.md section 5): where it is ([`CaFiles`], the one rule the shim
//! shares), loading it, and creating the per-user CA on first use. The certificate work itself
//! is sans-IO, in `mocket_protocols::tls`.
//!
//! The per-user CA is generated once and cached (key file mode 0600); a given CA
//! (`MOCKET_CA_CERT`/`MOCKET_CA_KEY`) is only read.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use mocket_protocols::tls::{CertificateAuthority, TlsError};

pub use mocket_control::ca_location::{CaFiles, CaLocationError, data_dir_from_env};

/// Why the CA could not be loaded or created.
#[derive(Debug)]
pub enum CaStoreError {
    /// Where the files are is unknown.
    Location(CaLocationError),
    /// A CA file could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The files are there but are not a usable CA.
    Unusable { cert: PathBuf, error: TlsError },
    /// The per-user CA could not be created in `dir`; `step` says at which step.
    Create {
        dir: PathBuf,
        step: &'static str,
        reason: String,
    },
    /// The CA's path has no parent directory to create it in.
    BadPath,
}

impl fmt::Display for CaStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaStoreError::Location(e) => e.fmt(f),
            CaStoreError::Read { path, error } => {
                write!(
                    f,
                    "cannot read the mocket CA file {}: {error}",
                    path.display()
                )
            }
            CaStoreError::Unusable { cert, error } => {
                write!(
                    f,
                    "the mocket CA in {} is unusable: {error}",
                    cert.display()
                )
            }
            CaStoreError::Create { dir, step, reason } => write!(
                f,
                "cannot create the mocket CA in {}: {step}: {reason}",
                dir.display()
            ),
            CaStoreError::BadPath => f.write_str("bad CA path"),
        }
    }
}

impl std::error::Error for CaStoreError {}

impl From<CaLocationError> for CaStoreError {
    fn from(e: CaLocationError) -> Self {
        CaStoreError::Location(e)
    }
}

/// Lets callers that still report errors as text use `?`.
impl From<CaStoreError> for String {
    fn from(e: CaStoreError) -> String {
        e.to_string()
    }
}

/// Loads the CA, creating it first when it is the per-user default and does not exist yet.
/// Several processes may race to create it: each builds it in a private directory and renames
/// that into place; the losers use the winner's.
pub fn load_or_create(files: &CaFiles) -> Result<CertificateAuthority, CaStoreError> {
    if files.generated && !files.cert.exists() {
        create(files)?;
    }
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|error| CaStoreError::Read {
            path: path.to_path_buf(),
            error,
        })
    };
    CertificateAuthority::from_pem(&read(&files.cert)?, &read(&files.key)?).map_err(|e| {
        CaStoreError::Unusable {
            cert: files.cert.clone(),
            error: e,
        }
    })
}

/// Writes a fresh CA into a private temporary directory beside `files`' directory, then
/// renames it into place.
fn create(files: &CaFiles) -> Result<(), CaStoreError> {
    let dir = files.cert.parent().ok_or(CaStoreError::BadPath)?;
    let parent = dir.parent().ok_or(CaStoreError::BadPath)?;
    let fail = |step: &'static str, reason: String| CaStoreError::Create {
        dir: dir.to_path_buf(),
        step,
        reason,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| fail("mkdir", e.to_string()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let tmp = parent.join(format!(".ca-{}-{}", std::process::id(), nanos.as_nanos()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(|e| fail("mkdir", e.to_string()))?;
    let (cert, key) =
        CertificateAuthority::generate().map_err(|e| fail("generate", e.to_string()))?;
    let write = |name: &str, text: &str, mode: u32| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp.join(name))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write("key.pem", &key, 0o600).map_err(|e| fail("key", e.to_string()))?;
    write("cert.pem", &cert, 0o644).map_err(|e| fail("certificate", e.to_string()))?;
    if fs::rename(&tmp, dir).is_err() {
        // Another process won the race (or the directory exists): use what is there.
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mocket-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_ca_is_created_once_with_a_private_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("ca-test");
        let files = CaFiles::in_dir(&dir);
        let first = load_or_create(&files).unwrap();
        let second = load_or_create(&files).unwrap();
        assert_eq!(first.cert_pem(), second.cert_pem());
        let mode = fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_given_ca_is_never_created() {
        let dir = scratch("ca-given");
        let files = CaFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            generated: false,
        };
        let err = load_or_create(&files).err().expect("an error");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read the mocket CA file {}",
                files.cert.display()
            )),
            "{err}"
        );
        assert!(!dir.exists());
    }

    #[test]
    fn a_broken_ca_file_says_which_file_is_unusable() {
        let dir = scratch("ca-broken");
        let files = CaFiles::in_dir(&dir);
        load_or_create(&files).unwrap();
        fs::write(&files.key, "not a key").unwrap();
        let err = load_or_create(&files).err().expect("an error");
        assert!(
            err.to_string().starts_with(&format!(
                "the mocket CA in {} is unusable: bad key",
                files.cert.display()
            )),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
