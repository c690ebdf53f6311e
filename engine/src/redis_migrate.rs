//! MIGRATE between the engine's emulated Redis addresses: the [`MigrationTargets`] an
//! emulator gets, which find the emulator of another address of the mocks file that has an
//! `emulate` entry (making it if no client connected to it yet). No socket is opened: a target
//! that is not such an address is unreachable, and the emulator answers Redis's IOERR; an
//! address migrating to itself gets Redis's read timeout error at once.
//!
//! The source emulator's lock is held while the target's is taken, so the target's is only
//! tried, until MIGRATE's timeout (at most [`MAX_WAIT`]): two addresses migrating to each
//! other at once both time out rather than deadlock, as Redis's would with blocking sockets.
//! Only the mocks file's emulators are targets, not a test scope's own.

use std::sync::{Arc, TryLockError, Weak};
use std::time::{Duration, Instant};

use mocket_config::{Config, Entry};
use mocket_protocols::field::Destination;
use mocket_protocols::redis::{
    Behavior, Credentials, Emulator, MigrationTargets, RedisEntry, Seed, TargetUnreachable,
};

use super::{EmulatorMap, Shared};

/// The longest MIGRATE waits for a target emulator another connection is using.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// How long to sleep between two tries of a busy target's lock.
const RETRY: Duration = Duration::from_millis(1);

/// The targets of the emulator of `own`.
pub(super) struct Targets {
    own: Destination,
    emulators: Weak<EmulatorMap>,
    config: Arc<Config>,
}

impl Targets {
    pub(super) fn new(
        own: &Destination,
        emulators: &Arc<EmulatorMap>,
        config: &Arc<Config>,
    ) -> Self {
        Targets {
            own: own.clone(),
            emulators: Arc::downgrade(emulators),
            config: Arc::clone(config),
        }
    }
}

/// The seed and credentials of `dest`'s `emulate` entry in the mocks file, if it has one.
fn emulated_entry<'c>(
    config: &'c Config,
    dest: &Destination,
) -> Option<(&'c Seed, &'c Credentials)> {
    config
        .entries_for(dest)
        .iter()
        .find_map(|&i| match &config.entries[i] {
            Entry::Redis(RedisEntry {
                behavior: Behavior::Emulate { data, credentials },
                ..
            }) => Some((data, credentials)),
            _ => None,
        })
}

impl MigrationTargets for Targets {
    fn with_target(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        migrate: &mut dyn FnMut(&mut Emulator),
    ) -> Result<(), TargetUnreachable> {
        let dest = Destination::new(host, port);
        // Redis migrating to itself waits for its own reply until the timeout.
        if dest == self.own {
            return Err(TargetUnreachable::TimedOut);
        }
        let (seed, credentials) =
            emulated_entry(&self.config, &dest).ok_or(TargetUnreachable::NotEmulated)?;
        let emulators = self
            .emulators
            .upgrade()
            .ok_or(TargetUnreachable::NotEmulated)?;
        let target = super::shared_in(&emulators, &self.config, &dest, 0, seed, credentials);
        let deadline = Instant::now() + timeout.min(MAX_WAIT);
        loop {
            match target.emulator.try_lock() {
                Ok(mut emulator) => {
                    migrate(&mut emulator);
                    break;
                }
                Err(TryLockError::Poisoned(poisoned)) => {
                    migrate(&mut poisoned.into_inner());
                    break;
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(RETRY);
                }
                Err(TryLockError::WouldBlock) => return Err(TargetUnreachable::TimedOut),
            }
        }
        // Clients of the target blocked on a key MIGRATE created try again.
        target.note_change();
        Ok(())
    }
}

/// The [`Shared`] the engine keeps per emulated address.
pub(super) fn new_shared(emulator: Emulator) -> Arc<Shared> {
    Arc::new(Shared {
        emulator: std::sync::Mutex::new(emulator),
        links: Default::default(),
        changes: Default::default(),
        changed: Default::default(),
    })
}
