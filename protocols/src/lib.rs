//! Sans-IO protocol state machines for mocket: each takes the bytes a client sent and returns
//! the bytes to answer, so every protocol is unit-tested without a socket. The engine in
//! `mocket-engine` owns the sockets and drives these state machines.

#![forbid(unsafe_code)]

pub mod dns;
pub mod field;
/// Fuzz targets' entry points, shared by every crate's replay test, (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod host_pattern;
pub mod http;
pub mod kubernetes;
pub mod redis;
pub mod tcp;
pub mod tcp_messages;
pub mod tls;
