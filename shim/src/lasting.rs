//! Lasting redirects (`Reply::Redirect { lasting: true }`) this process was given, so that the
//! next connect to the same destination is routed here instead of asking the engine again.
//!
//! Why: under `mocket run` every question is a round trip to the daemon (two cross-process
//! wake-ups), the largest part of what a new connection costs over a loopback server
//! (BENCHMARKS.md, bug 6). The engine marks a redirect lasting only when nothing can change it
//! for the rest of the run (mocks-file entries on a fake address, which is never reused).
//!
//! The table is lock-free (a hook may run in any thread, and in a signal handler's or a
//! `vfork` child's context) and belongs to one process: a forked child starts from an empty
//! table (the embedded engine, its listener included, is its parent's, not its own).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mocket_control::fake_range::{as_v4, is_fake};

/// How many destinations are remembered: a slot holds the last destination hashed to it, so
/// more destinations than slots only cost some questions.
const SLOTS: usize = 1024;

/// Fake IPv4 address, port and engine port, packed; 0 when empty (no fake address is 0).
static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// The process the table's entries were given to.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// The engine port of a lasting redirect of `dest` given to this process.
pub fn lookup(dest: SocketAddr) -> Option<u16> {
    let (key, slot) = key_and_slot(dest)?;
    if OWNER.load(Ordering::SeqCst) != std::process::id() {
        return None;
    }
    let packed = TABLE[slot].load(Ordering::SeqCst);
    (packed >> 16 == key).then_some(packed as u16)
}

/// Remembers that connects to `dest` go to the engine's `engine_port` for the rest of the run.
pub fn remember(dest: SocketAddr, engine_port: u16) {
    let Some((key, slot)) = key_and_slot(dest) else {
        return;
    };
    let pid = std::process::id();
    if OWNER.load(Ordering::SeqCst) != pid {
        // Another process's entries (we were forked): forget them all before owning the table.
        for entry in &TABLE {
            entry.store(0, Ordering::SeqCst);
        }
        OWNER.store(pid, Ordering::SeqCst);
    }
    TABLE[slot].store((key << 16) | u64::from(engine_port), Ordering::SeqCst);
}

/// The fake address and port of `dest` as one key, and its slot; `None` for a real address.
fn key_and_slot(dest: SocketAddr) -> Option<(u64, usize)> {
    let ip = as_v4(dest.ip()).filter(|ip| is_fake(*ip))?;
    let key = (u64::from(u32::from(ip)) << 16) | u64::from(dest.port());
    let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % SLOTS;
    Some((key, slot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The table is one per process: tests that change it run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn remembers_fake_destinations_by_address_and_port() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dest = addr("198.18.7.9:8080");
        assert_eq!(lookup(dest), None);
        remember(dest, 40001);
        assert_eq!(lookup(dest), Some(40001));
        assert_eq!(lookup(addr("[::ffff:198.18.7.9]:8080")), Some(40001));
        assert_eq!(lookup(addr("198.18.7.9:8081")), None);
        assert_eq!(lookup(addr("198.18.7.10:8080")), None);
    }

    #[test]
    fn never_remembers_a_real_address() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        remember(addr("10.1.2.3:80"), 40002);
        assert_eq!(lookup(addr("10.1.2.3:80")), None);
    }

    #[test]
    fn another_process_entries_are_not_used() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dest = addr("198.18.9.1:443");
        remember(dest, 40003);
        OWNER.store(std::process::id() + 1, Ordering::SeqCst);
        assert_eq!(
            lookup(dest),
            None,
            "an entry of the parent process was used"
        );
        remember(addr("198.18.9.2:443"), 40004);
        assert_eq!(lookup(dest), None, "the parent's entries survived");
        assert_eq!(lookup(addr("198.18.9.2:443")), Some(40004));
    }
}
