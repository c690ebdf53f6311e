//! Where the mocket CA's certificate is, for OpenSSL's trust injection: the place comes from
//! `mocket_control::ca_location`, as the engine's does. (The CA-bundle variables of a bare
//! `LD_PRELOAD` are pointed by the stub's constructor: `mocket_control::preload_env`.)

use std::path::PathBuf;

use mocket_control::ca_location::CaFiles;

/// The CA certificate, where the engine looks for it too
/// (`mocket_control::ca_location`): `MOCKET_CA_CERT` when both it and `MOCKET_CA_KEY` are
/// set, else the per-user CA.
pub fn ca_cert_path() -> Option<PathBuf> {
    CaFiles::from_env().ok().map(|files| files.cert)
}
