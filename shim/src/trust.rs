//! Trust for a bare `LD_PRELOAD`: the constructor points the CA-bundle variables at the bundle
//! the engine prepared beside the mocket CA, when there is one for this environment. Under
//! `mocket run` the variables are already set and nothing is done.
//!
//! The CA's place comes from `mocket_control::ca_location` and the bundle's name from
//! `mocket_control::trust_names`, as the engine's do.

use std::path::PathBuf;

use mocket_control::ca_location::CaFiles;
use mocket_control::preload_env::SOCKET_VAR;
use mocket_control::trust_names::{BUNDLE_VARS, bundle_file_name};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The CA certificate, where the engine looks for it too
/// (`mocket_control::ca_location`): `MOCKET_CA_CERT` when both it and `MOCKET_CA_KEY` are
/// set, else the per-user CA.
pub fn ca_cert_path() -> Option<PathBuf> {
    CaFiles::from_env().ok().map(|files| files.cert)
}

/// Points the bundle variables at mocket's bundle: a few `getenv`s and two `stat`s.
///
/// # Safety
/// Only from the constructor: it changes the environment, which nothing may read meanwhile.
pub unsafe fn point_clients_at_the_bundle() {
    if var(SOCKET_VAR).is_some() {
        return;
    }
    let Some(cert) = ca_cert_path().filter(|c| c.is_file()) else {
        return;
    };
    let dir = cert.parent().map(PathBuf::from).unwrap_or_default();
    let values: Vec<String> = BUNDLE_VARS
        .iter()
        .map(|v| var(v).unwrap_or_default())
        .collect();
    if values
        .iter()
        .any(|v| !v.is_empty() && PathBuf::from(v).starts_with(&dir))
    {
        return; // inherited from a parent that already pointed them at a mocket bundle
    }
    let bundle = dir.join(bundle_file_name(&values));
    // SAFETY: guaranteed by the caller.
    unsafe {
        if bundle.is_file() {
            for v in BUNDLE_VARS {
                std::env::set_var(v, &bundle);
            }
        }
        std::env::set_var("NODE_EXTRA_CA_CERTS", &cert);
    }
}
