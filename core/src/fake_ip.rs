//! Fake addresses for mocked names, from 198.18.0.0/15 (reserved for benchmarking, never routed).
//!
//! The address of a name is a hash of the name, so separate processes (each with its own
//! embedded engine) agree on it without talking to each other. A collision inside one map is
//! resolved by probing to the next free address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

pub use mocket_control::fake_range::is_fake;
use mocket_control::fake_range::{BASE, SIZE};

/// The two-way map between names and their fake addresses.
#[derive(Debug, Default, Clone)]
pub struct FakeIpMap {
    by_name: HashMap<String, Ipv4Addr>,
    by_ip: HashMap<Ipv4Addr, String>,
}

impl FakeIpMap {
    /// The address of `name` (already normalized), assigned on first use.
    pub fn ip_of(&mut self, name: &str) -> Ipv4Addr {
        if let Some(ip) = self.by_name.get(name) {
            return *ip;
        }
        let mut offset = fnv1a(name.as_bytes()) % SIZE;
        loop {
            let ip = Ipv4Addr::from(BASE + offset);
            let last = ip.octets()[3];
            if last != 0 && last != 255 && !self.by_ip.contains_key(&ip) {
                self.by_name.insert(name.to_string(), ip);
                self.by_ip.insert(ip, name.to_string());
                return ip;
            }
            offset = (offset + 1) % SIZE;
        }
    }

    /// The name behind a fake address handed out by this map.
    pub fn name_of(&self, ip: Ipv4Addr) -> Option<&str> {
        self.by_ip.get(&ip).map(String::as_str)
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_across_maps_and_in_range() {
        let (mut a, mut b) = (FakeIpMap::default(), FakeIpMap::default());
        b.ip_of("other.name");
        let ip = a.ip_of("api.example.com");
        assert_eq!(ip, b.ip_of("api.example.com"));
        assert!(is_fake(ip));
        assert_eq!(a.name_of(ip), Some("api.example.com"));
        assert!(!is_fake(Ipv4Addr::new(198, 20, 0, 1)));
        assert!(is_fake(Ipv4Addr::new(198, 19, 255, 1)));
    }

    #[test]
    fn many_names_never_share_an_address() {
        let mut map = FakeIpMap::default();
        let ips: std::collections::HashSet<_> = (0..5000)
            .map(|i| map.ip_of(&format!("host{i}.test")))
            .collect();
        assert_eq!(ips.len(), 5000);
        assert!(ips.iter().all(|ip| is_fake(*ip) && ip.octets()[3] != 0));
    }
}
