//! The heart of mocket: the mocks file, the policy that decides what each connection gets, the
//! fake-IP map, and the engine that serves intercepted connections (DESIGN.md sections 1-4).
//!
//! The engine has two placements with one implementation: inside `mocket run` as a daemon that
//! the whole process tree talks to through [`daemon`], or inside the process under a bare
//! `LD_PRELOAD`, loaded by the shim on first use (`libmocket_engine.so`).

#![forbid(unsafe_code)]

pub mod ca_store;
pub mod config;
pub use mocket_control as control;
pub mod daemon;
pub mod engine;
pub mod fake_ip;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod journal;
pub mod policy;
pub mod report;
pub mod trust;

pub use config::{Config, ConfigError, Settings};
pub use engine::Engine;

/// Writes `mocket: <message>` and a newline to stderr in one `write`: the engine shares stderr
/// with the processes under test, and a line written in pieces would interleave with theirs.
pub fn say(message: &str) {
    say_raw(&format!("mocket: {message}\n"));
}

/// Writes `text` to stderr in one `write`.
pub fn say_raw(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
