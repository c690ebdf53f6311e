//! The heart of mocket: the mocks file, the policy that decides what each connection gets, the
//! fake-IP map, and the engine that serves intercepted connections (DESIGN.md sections 1-4).
//!
//! The engine has two placements with one implementation: inside `mocket run` as a daemon that
//! the whole process tree talks to through [`daemon`], or inside the process under a bare
//! `LD_PRELOAD`, loaded by the shim on first use (`libmocket_engine.so`).

pub mod config;
pub use mocket_control as control;
pub mod daemon;
pub mod engine;
pub mod fake_ip;
pub mod journal;
pub mod policy;
pub mod report;
pub mod trust;

pub use config::{Config, ConfigError, Settings};
pub use engine::Engine;
