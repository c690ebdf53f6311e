//! Redis (DESIGN.md section 3): `redis` entries that answer commands with declared replies, and
//! `emulate: true` addresses served by a stateful in-memory Redis.
//!
//! Sans-IO like the other protocols: [`Session`] takes the bytes of each read and returns the
//! bytes to answer, pipelined commands in order, RESP2 or RESP3 as the client chose with
//! `HELLO`. Commands decode as Redis reads them ([`command`]); the connection answers the handshake
//! itself ([`conn`]), and a [`Backend`] (the engine's entry matcher, an [`Emulator`], or both)
//! answers the rest.

pub mod auth;
pub mod clients;
pub mod command;
pub mod command_meta;
pub mod conn;
pub mod emulator;
pub mod entry;
pub mod glob;
pub mod index;
pub mod info;
pub mod reply;
pub mod spec;

pub use auth::{Credentials, User};
pub use clients::ClientRegistry;
pub use command::{Command, Decoder, ProtocolError};
pub use conn::{Alarm, Backend, Connection, Output, Session};
pub use emulator::{Clock, Emulator, Eviction, ManualClock, OutputLimits, SystemClock};
pub use emulator::{MigrationTargets, TargetUnreachable};
pub use entry::{Behavior, Matcher, Miss, RedisEntry, Seed, SeedValue};
pub use index::CommandIndex;
pub use reply::{Protocol, Reply};
