//! Variables the preload's constructor reads: the names the C stub (`libmocket.so`, which
//! decides whether the Rust shim's constructor work is needed) and the Rust shim share. The
//! shim's build script writes them into the stub's header, so the two cannot drift apart.

/// The daemon's control socket, set by `mocket run`; unset under a bare `LD_PRELOAD`.
pub const SOCKET_VAR: &str = "MOCKET_SOCKET";

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
