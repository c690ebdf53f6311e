//! Making clients trust the mocket CA (DESIGN.md section 5): a bundle of the roots the
//! environment already names (or the system's) plus the CA, and the variables that point every
//! common client at it. The variables are overridden, not filled in: environments often pre-set
//! them, and a pre-set value must not hide the mocket CA.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::ca_store::CaFiles;
use mocket_control::preload_env::NODE_CA_VAR;
use mocket_control::trust_names::bundle_file_name;

pub use mocket_control::trust_names::BUNDLE_VARS;

/// Where Linux distributions keep the system roots (Debian, Fedora, Alpine).
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The bundle: every readable file the bundle variables name, or else the system roots, then
/// the mocket CA.
pub fn bundle(ca_pem: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut sources: Vec<PathBuf> = BUNDLE_VARS
        .iter()
        .filter_map(|v| var(v))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .collect();
    if !sources.iter().any(|p| p.is_file()) {
        sources.extend(
            SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_file())
                .take(1),
        );
    }
    let mut seen = HashSet::new();
    let mut out = String::new();
    for path in sources {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // A bundle mocket made earlier already ends with a CA: skip it, ours is appended below.
        if !seen.insert(path) || text.contains(ca_pem.trim()) {
            continue;
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out.push_str(ca_pem.trim_end());
    out.push('\n');
    out
}

/// The variables a process under mocket gets: every bundle variable pointing at `bundle`,
/// `NODE_EXTRA_CA_CERTS` at the CA, and the CA's files for the shim's OpenSSL trust injection.
pub fn child_env(bundle: &Path, ca: &CaFiles) -> Vec<(&'static str, PathBuf)> {
    let mut env: Vec<(&'static str, PathBuf)> = BUNDLE_VARS
        .iter()
        .map(|v| (*v, bundle.to_path_buf()))
        .collect();
    env.push((NODE_CA_VAR, ca.cert.clone()));
    env.push(("MOCKET_CA_CERT", ca.cert.clone()));
    env.push(("MOCKET_CA_KEY", ca.key.clone()));
    env
}

/// The bundle a bare `LD_PRELOAD` uses, beside the CA: one per set of values of the bundle
/// variables, since it includes the files they name. `libmocket.so`'s constructor computes the
/// same name (`mocket_control::trust_names`) and points the variables at it when it exists.
pub fn bare_bundle_path(ca: &CaFiles, var: impl Fn(&str) -> Option<String>) -> PathBuf {
    let values: Vec<String> = BUNDLE_VARS
        .iter()
        .map(|v| var(v).unwrap_or_default())
        .collect();
    ca.cert.with_file_name(bundle_file_name(&values))
}

/// Writes the bare-`LD_PRELOAD` bundle for this environment if it does not exist yet
/// (atomically: a temporary file renamed into place).
pub fn write_bare_bundle(ca: &CaFiles, ca_pem: &str) -> std::io::Result<()> {
    let var = |v: &str| std::env::var(v).ok();
    let path = bare_bundle_path(ca, var);
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bundle(ca_pem, var))?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMOCKET\n-----END CERTIFICATE-----\n";

    #[test]
    fn bundle_keeps_what_the_environment_named() {
        let dir = std::env::temp_dir().join(format!("mocket-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let custom = dir.join("custom.pem");
        std::fs::write(&custom, "CUSTOM ROOTS\n").unwrap();
        let path = custom.to_string_lossy().into_owned();
        let text = bundle(CA, |v| {
            (v == "SSL_CERT_FILE" || v == "REQUESTS_CA_BUNDLE").then(|| path.clone())
        });
        assert_eq!(text, format!("CUSTOM ROOTS\n{CA}"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bundle_falls_back_to_the_system_roots_and_never_doubles_the_ca() {
        let text = bundle(CA, |_| None);
        assert!(text.ends_with(CA));
        assert_eq!(text.matches("MOCKET").count(), 1);
        let dir = std::env::temp_dir().join(format!("mocket-trust2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old.pem");
        std::fs::write(&old, &text).unwrap();
        let path = old.to_string_lossy().into_owned();
        let again = bundle(CA, |v| (v == "SSL_CERT_FILE").then(|| path.clone()));
        assert_eq!(again.matches("MOCKET").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn child_env_overrides_every_variable() {
        let ca = CaFiles::in_dir(Path::new("/d"));
        let env = child_env(Path::new("/b.pem"), &ca);
        for v in BUNDLE_VARS {
            assert!(env.contains(&(*v, PathBuf::from("/b.pem"))));
        }
        assert!(env.contains(&("NODE_EXTRA_CA_CERTS", PathBuf::from("/d/ca/cert.pem"))));
    }
}
