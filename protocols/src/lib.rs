//! Sans-IO protocol state machines for mocket: each takes the bytes a client sent and returns
//! the bytes to answer, so every protocol is unit-tested without a socket. The engine in
//! `mocket-engine` owns the sockets and drives these state machines.

pub mod field;
pub mod http;
pub mod redis;
pub mod tcp;
pub mod tls;
