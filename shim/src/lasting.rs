//! Lasting redirects (a [`Redirect`] with `lasting`) this process was given, so that the next
//! connect to the same destination is routed here instead of asking the engine again (with the
//! redirect's `client_first` and source tag, which last as long).
//!
//! Why: under `mocket run` every question is a round trip to the daemon (two cross-process
//! wake-ups), the largest part of what a new connection costs over a loopback server
//! (BENCHMARKS.md, bug 6). The engine marks a redirect lasting only when nothing can change it
//! for the rest of the run (mocks-file entries on a fake address, which is never reused).
//!
//! The table is lock-free (a hook may run in any thread, and in a signal handler's or a
//! `vfork` child's context) and belongs to one process: a forked child starts from an empty
//! table (the embedded engine, its listener included, is its parent's, not its own). A
//! [`Redirect`] does not fit one atomic: it is packed into two ([`pack`] and [`unpack`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mocket_control::Redirect;
use mocket_control::fake_range::{self, as_v4, is_fake};
use mocket_control::source_tag::SourceTag;

/// How many destinations are remembered: a slot holds the last destination hashed to it, so
/// more destinations than slots only cost some questions.
const SLOTS: usize = 1024;

/// A slot in use (so that no entry packs to 0, the empty slot).
const USED: u64 = 1 << 63;
/// Where the client-first bit is packed, above the engine port.
const CLIENT_FIRST: u64 = 1 << 16;

/// [`USED`], the destination's key, the client-first bit and the engine port, packed; 0 when
/// empty.
static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// Beside each slot of [`TABLE`]: [`TAGGED`], the destination's key and its source tag (24
/// bits), packed; 0 without a tag. Written before its slot and checked against it when read, so
/// a slot rewritten meanwhile gives no tag (the connection then carries a preamble: slower,
/// never wrong).
static TAGS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// Marks a [`TAGS`] entry as holding a tag.
const TAGGED: u64 = 1 << 63;

/// The process the table's entries were given to.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// The lasting redirect of `dest` given to this process.
pub fn lookup(dest: SocketAddr) -> Option<Redirect> {
    let (key, slot) = key_and_slot(dest)?;
    if OWNER.load(Ordering::SeqCst) != crate::pid::current() {
        return None;
    }
    let packed = TABLE[slot].load(Ordering::SeqCst);
    let tagged = TAGS[slot].load(Ordering::SeqCst);
    unpack(key, packed, tagged)
}

/// Remembers that connects to `dest` go to the engine as `redirect` (a lasting one) says for
/// the rest of the run.
pub fn remember(dest: SocketAddr, redirect: Redirect) {
    let Some((key, slot)) = key_and_slot(dest) else {
        return;
    };
    let pid = crate::pid::current();
    if OWNER.load(Ordering::SeqCst) != pid {
        // Another process's entries (we were forked): forget them all before owning the table.
        for entry in TABLE.iter().chain(&TAGS) {
            entry.store(0, Ordering::SeqCst);
        }
        OWNER.store(pid, Ordering::SeqCst);
    }
    let (packed, tagged) = pack(key, redirect);
    TAGS[slot].store(tagged, Ordering::SeqCst);
    TABLE[slot].store(packed, Ordering::SeqCst);
}

/// `redirect` for the destination `key` as its [`TABLE`] and [`TAGS`] entries.
fn pack(key: u64, redirect: Redirect) -> (u64, u64) {
    let client_first = match redirect.client_first {
        true => CLIENT_FIRST,
        false => 0,
    };
    let packed = USED | (key << 17) | client_first | u64::from(redirect.port);
    let tagged = redirect
        .from
        .map_or(0, |tag| TAGGED | (key << 24) | u64::from(tag.get()));
    (packed, tagged)
}

/// The lasting redirect of the destination `key` from its [`TABLE`] and [`TAGS`] entries;
/// `None` when the slot holds another destination, and no tag when its tag entry does.
fn unpack(key: u64, packed: u64, tagged: u64) -> Option<Redirect> {
    if packed & USED == 0 || (packed & !USED) >> 17 != key {
        return None;
    }
    let from = match tagged & TAGGED != 0 && (tagged & !TAGGED) >> 24 == key {
        true => SourceTag::new(tagged as u32 & 0xff_ffff),
        false => None,
    };
    Some(Redirect {
        port: packed as u16,
        lasting: true,
        client_first: packed & CLIENT_FIRST != 0,
        from,
    })
}

/// The fake address's offset in the fake range and the port of `dest` as one key (33 bits),
/// and its slot; `None` for a real address.
fn key_and_slot(dest: SocketAddr) -> Option<(u64, usize)> {
    let ip = as_v4(dest.ip()).filter(|ip| is_fake(*ip))?;
    let offset = u32::from(ip) - fake_range::BASE;
    let key = (u64::from(offset) << 16) | u64::from(dest.port());
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

    fn to(port: u16) -> Redirect {
        Redirect {
            port,
            lasting: true,
            client_first: false,
            from: None,
        }
    }

    fn port_of(dest: &str) -> Option<u16> {
        lookup(addr(dest)).map(|l| l.port)
    }

    #[test]
    fn remembers_fake_destinations_by_address_and_port() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dest = addr("198.18.7.9:8080");
        assert_eq!(lookup(dest), None);
        remember(dest, to(40001));
        assert_eq!(lookup(dest), Some(to(40001)));
        assert_eq!(port_of("[::ffff:198.18.7.9]:8080"), Some(40001));
        assert_eq!(port_of("198.18.7.9:8081"), None);
        assert_eq!(port_of("198.18.7.10:8080"), None);
    }

    #[test]
    fn never_remembers_a_real_address() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        remember(addr("10.1.2.3:80"), to(40002));
        assert_eq!(lookup(addr("10.1.2.3:80")), None);
    }

    #[test]
    fn another_process_entries_are_not_used() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dest = addr("198.18.9.1:443");
        remember(dest, to(40003));
        OWNER.store(crate::pid::current() + 1, Ordering::SeqCst);
        assert_eq!(
            lookup(dest),
            None,
            "an entry of the parent process was used"
        );
        remember(addr("198.18.9.2:443"), to(40004));
        assert_eq!(lookup(dest), None, "the parent's entries survived");
        assert_eq!(port_of("198.18.9.2:443"), Some(40004));
    }

    /// The client-first bit lasts with the redirect, next to any port and at the range's ends.
    #[test]
    fn keeps_whether_the_client_speaks_first() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        for (dest, engine_port) in [
            ("198.18.0.0:0", 0),
            ("198.18.0.1:443", 65535),
            ("198.19.255.255:65535", 1),
        ] {
            for client_first in [true, false] {
                let lasting = Redirect {
                    client_first,
                    ..to(engine_port)
                };
                remember(addr(dest), lasting);
                assert_eq!(lookup(addr(dest)), Some(lasting), "{dest}");
            }
        }
        let http = addr("198.18.3.4:80");
        let greeter = addr("198.18.3.4:25");
        remember(
            http,
            Redirect {
                client_first: true,
                ..to(40005)
            },
        );
        remember(greeter, to(40005));
        assert_eq!(lookup(http).map(|l| l.client_first), Some(true));
        assert_eq!(lookup(greeter).map(|l| l.client_first), Some(false));
    }

    #[test]
    fn remembers_the_source_tag_with_the_port() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        for (dest, n) in [
            ("198.19.255.255:65535", SourceTag::LIMIT - 1),
            ("198.18.0.1:1", 0),
            ("198.18.3.4:80", 70000),
        ] {
            let lasting = Redirect {
                client_first: true,
                from: SourceTag::new(n),
                ..to(40005)
            };
            remember(addr(dest), lasting);
            assert_eq!(lookup(addr(dest)), Some(lasting), "{dest}");
        }
        // Replaced by a redirect without a tag: none is left behind.
        remember(addr("198.18.3.4:80"), to(40006));
        assert_eq!(lookup(addr("198.18.3.4:80")), Some(to(40006)));
    }

    #[test]
    fn a_tag_written_for_another_destination_is_not_used() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dest = addr("198.18.5.6:80");
        let tagged = Redirect {
            from: SourceTag::new(9),
            ..to(40007)
        };
        remember(dest, tagged);
        let (key, slot) = key_and_slot(dest).unwrap();
        // As if another destination's remember had written its tag and not yet its slot.
        TAGS[slot].store(TAGGED | ((key + 1) << 24) | 9, Ordering::SeqCst);
        assert_eq!(lookup(dest), Some(to(40007)));
    }
}
