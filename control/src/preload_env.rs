//! What the preload does to the environment before `main`, and the names it reads: the C stub
//! (`libmocket.so`, `shim/stub/mocket_stub.c`) applies these rules in its constructor, without
//! loading the Rust shim; `mocket run` applies [`anchored_paths`] before starting the command.
//! The shim's build script writes the names into the stub's header, so they cannot drift apart;
//! the rules themselves are written twice (here and in C, it must not pull in Rust), and the
//! integration tests of `tests/tests/preload_cost.rs` check that the stub does what these
//! functions say.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::ca_location::CaFiles;
use crate::trust_names::{BUNDLE_VARS, bundle_file_name};

/// The daemon's control socket, set by `mocket run`; unset under a bare `LD_PRELOAD`.
pub const SOCKET_VAR: &str = "MOCKET_SOCKET";

/// Node's variable for extra trusted CAs: pointed at the mocket CA's certificate.
pub const NODE_CA_VAR: &str = "NODE_EXTRA_CA_CERTS";

/// Variables holding paths that children must read the same way, whatever their working
/// directory (`cargo test` runs each test binary in its own package's directory): the
/// constructor makes relative ones absolute.
pub const PATH_VARS: &[&str] = &[
    "MOCKET_CONFIG",
    "MOCKET_JOURNAL",
    "MOCKET_RECORD_DIR",
    "MOCKET_CA_CERT",
    "MOCKET_CA_KEY",
    "MOCKET_UPSTREAM_CA",
];

/// The new values of the [`PATH_VARS`] that hold a relative path: `cwd` joined with it. Empty
/// values count as unset. (C twin: `anchor_relative_paths` in `mocket_stub.c`.)
pub fn anchored_paths(
    var: impl Fn(&str) -> Option<OsString>,
    cwd: &Path,
) -> Vec<(&'static str, PathBuf)> {
    PATH_VARS
        .iter()
        .filter_map(|name| {
            let path = PathBuf::from(var(name).filter(|v| !v.is_empty())?);
            path.is_relative().then(|| (*name, cwd.join(path)))
        })
        .collect()
}

/// Under a bare `LD_PRELOAD` (no [`SOCKET_VAR`]), the variables that make the tree's clients
/// trust the mocket CA: every one of [`BUNDLE_VARS`] pointed at the bundle the engine writes
/// beside the CA (when `is_file` says it exists) and [`NODE_CA_VAR`] at the CA, when the CA's
/// certificate exists and no bundle variable points into its directory yet (a parent already
/// pointed them). Empty when there is nothing to do. (C twin: `point_at_the_bundle` in
/// `mocket_stub.c`.)
pub fn bundle_pointing(
    var: impl Fn(&str) -> Option<OsString>,
    is_file: impl Fn(&Path) -> bool,
) -> Vec<(&'static str, PathBuf)> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if set(SOCKET_VAR).is_some() {
        return Vec::new();
    }
    let Some(cert) = CaFiles::locate(&var).ok().map(|f| f.cert) else {
        return Vec::new();
    };
    if !is_file(&cert) {
        return Vec::new();
    }
    let dir = cert.parent().map(PathBuf::from).unwrap_or_default();
    let values: Vec<String> = BUNDLE_VARS
        .iter()
        .map(|name| set(name).and_then(|v| v.into_string().ok()))
        .map(Option::unwrap_or_default)
        .collect();
    if values
        .iter()
        .any(|v| !v.is_empty() && Path::new(v).starts_with(&dir))
    {
        return Vec::new();
    }
    let bundle = dir.join(bundle_file_name(&values));
    let mut env: Vec<(&'static str, PathBuf)> = Vec::new();
    if is_file(&bundle) {
        env.extend(BUNDLE_VARS.iter().map(|name| (*name, bundle.clone())));
    }
    env.push((NODE_CA_VAR, cert));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn only_relative_paths_are_anchored() {
        let var = env(&[
            ("MOCKET_CONFIG", "mocks.json"),
            ("MOCKET_JOURNAL", "/abs/journal"),
            ("MOCKET_RECORD_DIR", ""),
            ("MOCKET_CA_CERT", "./ca/cert.pem"),
        ]);
        assert_eq!(
            anchored_paths(var, Path::new("/work/pkg")),
            [
                ("MOCKET_CONFIG", PathBuf::from("/work/pkg/mocks.json")),
                ("MOCKET_CA_CERT", PathBuf::from("/work/pkg/./ca/cert.pem")),
            ]
        );
        assert!(anchored_paths(env(&[("HOME", "h")]), Path::new("/")).is_empty());
    }

    const CERT: &str = "/h/.local/share/mocket/ca/cert.pem";

    fn exists(files: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| files.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn a_bare_preload_with_a_ca_points_every_bundle_variable() {
        let bundle = format!(
            "/h/.local/share/mocket/ca/{}",
            bundle_file_name(&["/etc/roots.pem", "", "", "", "", ""])
        );
        let bundle: &'static str = bundle.leak();
        let files: &'static [&'static str] = vec![CERT, bundle].leak();
        let var = env(&[("HOME", "/h"), ("SSL_CERT_FILE", "/etc/roots.pem")]);
        let got = bundle_pointing(var, exists(files));
        assert_eq!(got.len(), BUNDLE_VARS.len() + 1);
        assert!(
            got[..BUNDLE_VARS.len()]
                .iter()
                .all(|(_, v)| v == Path::new(bundle))
        );
        assert_eq!(got.last().unwrap(), &(NODE_CA_VAR, PathBuf::from(CERT)));
    }

    #[test]
    fn nothing_to_point_under_mocket_run_without_a_ca_or_when_a_parent_did() {
        let files: &'static [&'static str] = &[CERT];
        let under_run = env(&[("HOME", "/h"), ("MOCKET_SOCKET", "/run/m.sock")]);
        assert!(bundle_pointing(under_run, exists(files)).is_empty());
        assert!(bundle_pointing(env(&[("HOME", "/h")]), exists(&[])).is_empty());
        let pointed = env(&[
            ("HOME", "/h"),
            ("CURL_CA_BUNDLE", "/h/.local/share/mocket/ca/bundle-1.pem"),
        ]);
        assert!(bundle_pointing(pointed, exists(files)).is_empty());
        // Without the bundle (not written yet), only Node is pointed at the CA.
        assert_eq!(
            bundle_pointing(env(&[("HOME", "/h")]), exists(files)),
            [(NODE_CA_VAR, PathBuf::from(CERT))]
        );
    }
}
