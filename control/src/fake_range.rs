//! The range fake addresses come from: 198.18.0.0/15, reserved for benchmarking (RFC 2544) and
//! never routed, so a fake address can never be confused with a real destination.

use std::net::{IpAddr, Ipv4Addr};

/// The first address of the range (198.18.0.0).
pub const BASE: u32 = 0xC612_0000;
/// How many addresses the range holds (a /15).
pub const SIZE: u32 = 1 << 17;

/// Whether `ip` lies in the fake range.
pub fn is_fake(ip: Ipv4Addr) -> bool {
    u32::from(ip) & !(SIZE - 1) == BASE
}

/// The same, for an address of either family (IPv4-mapped IPv6 included).
pub fn is_fake_ip(ip: IpAddr) -> bool {
    as_v4(ip).is_some_and(is_fake)
}

/// The IPv4 address behind `ip`, unwrapping IPv4-mapped IPv6.
pub fn as_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds() {
        assert!(is_fake(Ipv4Addr::new(198, 18, 0, 1)));
        assert!(is_fake(Ipv4Addr::new(198, 19, 255, 254)));
        assert!(!is_fake(Ipv4Addr::new(198, 20, 0, 1)));
        assert!(!is_fake(Ipv4Addr::new(198, 17, 255, 255)));
        assert!(is_fake_ip("::ffff:198.18.3.4".parse().unwrap()));
        assert!(!is_fake_ip("::1".parse().unwrap()));
    }
}
