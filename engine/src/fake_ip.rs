//! Fake addresses for mocked names, from 198.18.0.0/15 (reserved for benchmarking, never routed).
//!
//! The address of a name starts from a hash of the name; a collision is resolved by probing to
//! the next free address. Probing depends on which names came first, so under the embedded
//! placement (one engine per process) the processes of one tree share their assignments
//! through a [`Registry`] file; under `mocket run` the one daemon engine is the only map.
//!
//! Addresses are never recycled. An application may keep an address long after its lookup (DNS
//! caches, connection pools, an address passed to a child), and the engine cannot tell when the
//! last copy is gone: reusing one, even for a name never connected to so far, could make two
//! live names share it, and a connection would reach the wrong entry. Running out is instead a
//! clear error for the lookup ([`FakeIpError::Exhausted`]), which then fails (fail closed).

mod registry;

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

pub use mocket_control::fake_range::is_fake;
use mocket_control::fake_range::{BASE, SIZE};
use mocket_control::fnv::fnv1a_32 as fnv1a;
pub use registry::{Registry, RegistryError};

/// How many names the range can hold: addresses ending in `.0` or `.255` are never handed out
/// (some clients treat them as network or broadcast addresses).
pub const CAPACITY: usize = (SIZE - 2 * (SIZE / 256)) as usize;

/// Why a name got no fake address.
#[derive(Debug)]
pub enum FakeIpError {
    /// Every address of the range is handed out.
    Exhausted,
    /// The registry shared by the processes of this tree could not be used.
    Registry(registry::RegistryError),
}

impl fmt::Display for FakeIpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FakeIpError::Exhausted => write!(
                f,
                "all {CAPACITY} fake addresses (198.18.0.0/15) are handed out: mocket gives each \
                 distinct name its own address for the whole run and never reuses one; look up \
                 fewer distinct names in one run, or allow the extra names (allow rules) so they \
                 resolve for real"
            ),
            FakeIpError::Registry(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FakeIpError {}

/// The two-way map between names and their fake addresses.
#[derive(Debug, Default, Clone)]
pub struct FakeIpMap {
    by_name: HashMap<String, Ipv4Addr>,
    by_ip: HashMap<Ipv4Addr, String>,
    /// One bit per address of the range, set when taken (empty until the first name).
    taken: Vec<u64>,
    /// The assignments shared with other processes, when there are any.
    registry: Option<Registry>,
}

impl FakeIpMap {
    /// A map that agrees with every other process using `registry`.
    pub fn shared(mut registry: Registry) -> Result<Self, FakeIpError> {
        let mut map = FakeIpMap::default();
        registry.catch_up(&mut map).map_err(FakeIpError::Registry)?;
        map.registry = Some(registry);
        Ok(map)
    }

    /// The address of `name` (already normalized), assigned on first use.
    pub fn ip_of(&mut self, name: &str) -> Result<Ipv4Addr, FakeIpError> {
        if let Some(ip) = self.by_name.get(name) {
            return Ok(*ip);
        }
        let Some(mut registry) = self.registry.take() else {
            let ip = self.free_ip_for(name)?;
            self.insert(name, ip);
            return Ok(ip);
        };
        let assigned = registry.assign(self, name);
        self.registry = Some(registry);
        assigned
    }

    /// The name behind a fake address handed out by this map, or by another process sharing
    /// its registry (a parent that resolved the name before starting this program).
    pub fn name_of(&mut self, ip: Ipv4Addr) -> Option<String> {
        if !self.by_ip.contains_key(&ip)
            && let Some(mut registry) = self.registry.take()
        {
            // An unreadable registry leaves the address unknown: the connect is refused.
            let _ = registry.catch_up(self);
            self.registry = Some(registry);
        }
        self.by_ip.get(&ip).cloned()
    }

    /// The first free address at or after the hash of `name`, wrapping around (linear
    /// probing), found 64 addresses at a time in the bitmap so that a nearly full range stays
    /// fast.
    fn free_ip_for(&self, name: &str) -> Result<Ipv4Addr, FakeIpError> {
        if self.by_ip.len() >= CAPACITY {
            return Err(FakeIpError::Exhausted);
        }
        let home = fnv1a(name.as_bytes()) % SIZE;
        let (first_word, first_bit) = ((home / 64) as usize, home % 64);
        for step in 0..=WORDS {
            let word = (first_word + step) % WORDS;
            let mut free = !self.taken.get(word).copied().unwrap_or(0) & !reserved_bits(word);
            if step == 0 {
                free &= u64::MAX << first_bit;
            } else if step == WORDS {
                free &= !(u64::MAX << first_bit);
            }
            if free != 0 {
                let offset = word as u32 * 64 + free.trailing_zeros();
                return Ok(Ipv4Addr::from(BASE + offset));
            }
        }
        Err(FakeIpError::Exhausted)
    }

    /// Records `name` at `ip` unless either is taken already; whether it was recorded.
    fn insert(&mut self, name: &str, ip: Ipv4Addr) -> bool {
        if self.by_name.contains_key(name) || self.by_ip.contains_key(&ip) || !assignable(ip) {
            return false;
        }
        self.by_name.insert(name.to_string(), ip);
        self.by_ip.insert(ip, name.to_string());
        if self.taken.is_empty() {
            self.taken = vec![0; WORDS];
        }
        let offset = u32::from(ip) - BASE;
        self.taken[(offset / 64) as usize] |= 1 << (offset % 64);
        true
    }
}

/// The words of the bitmap of taken addresses.
const WORDS: usize = (SIZE / 64) as usize;

/// The addresses of bitmap word `word` that are never handed out: `.0` (bit 0 of every fourth
/// word, the range being 256-aligned) and `.255` (bit 63 of the word before the next).
fn reserved_bits(word: usize) -> u64 {
    match word % 4 {
        0 => 1,
        3 => 1 << 63,
        _ => 0,
    }
}

/// Whether `ip` is an address the map hands out.
fn assignable(ip: Ipv4Addr) -> bool {
    let last = ip.octets()[3];
    is_fake(ip) && last != 0 && last != 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_across_maps_and_in_range() {
        let (mut a, mut b) = (FakeIpMap::default(), FakeIpMap::default());
        b.ip_of("other.name").unwrap();
        let ip = a.ip_of("api.example.com").unwrap();
        assert_eq!(ip, b.ip_of("api.example.com").unwrap());
        assert!(is_fake(ip));
        assert_eq!(a.name_of(ip).as_deref(), Some("api.example.com"));
        assert!(!is_fake(Ipv4Addr::new(198, 20, 0, 1)));
        assert!(is_fake(Ipv4Addr::new(198, 19, 255, 1)));
    }

    #[test]
    fn many_names_never_share_an_address() {
        let mut map = FakeIpMap::default();
        let ips: std::collections::HashSet<_> = (0..5000)
            .map(|i| map.ip_of(&format!("host{i}.test")).unwrap())
            .collect();
        assert_eq!(ips.len(), 5000);
        assert!(ips.iter().all(|ip| is_fake(*ip) && ip.octets()[3] != 0));
    }

    #[test]
    fn exhaustion_is_an_error_naming_the_limit() {
        let mut map = FakeIpMap::default();
        let ips: std::collections::HashSet<_> = (0..CAPACITY)
            .map(|i| map.ip_of(&format!("h{i}.test")).unwrap())
            .collect();
        assert_eq!(ips.len(), CAPACITY);
        let err = map.ip_of("one-too-many.test").unwrap_err();
        assert!(matches!(err, FakeIpError::Exhausted));
        assert!(
            err.to_string().starts_with("all 130048 fake addresses"),
            "{err}"
        );
        assert_eq!(map.ip_of("h7.test").unwrap(), map.by_name["h7.test"]);
    }
}
