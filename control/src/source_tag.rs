//! Source tags: a loopback source address that introduces a connection to the engine, instead
//! of a [`preamble`](crate::preamble).
//!
//! Why (issue 15, measured): the preamble is a TCP segment of its own, acknowledged by another,
//! and the engine wakes for it and then again for the client's first bytes. When the engine
//! hands out a tag with a `redirect`, the shim binds the socket to the tag's address
//! (`127.a.b.c`, port chosen at connect) before connecting: the accept itself then says who
//! connected and where to, and nothing but the application's bytes travels. A connection from
//! `127.0.0.1` (or any address of `127.0.0.0/16`) has no tag and starts with a preamble.
//!
//! Tags are given only where the client speaks first (HTTP, TLS, Redis): the engine listener
//! accepts once the first bytes arrive (`TCP_DEFER_ACCEPT`), and a tagged client that waited
//! for a greeting would wait for the accept too.
//!
//! Layout: tag `t` (below [`SourceTag::LIMIT`]) is `127.(1 + t / 65536).(t / 256 % 256).(t % 256)`.

use std::net::Ipv4Addr;

/// One engine-issued tag; what it stands for (a process and a destination) is the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceTag(u32);

impl SourceTag {
    /// How many tags there are: second octets 1 to 254 (127.0/16 is left to untagged
    /// connections, 127.255/16 holds the loopback broadcast address).
    pub const LIMIT: u32 = 254 << 16;

    /// Tag number `n`, if below [`SourceTag::LIMIT`].
    pub fn new(n: u32) -> Option<SourceTag> {
        (n < Self::LIMIT).then_some(SourceTag(n))
    }

    /// The tag's number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The loopback address a tagged connection comes from.
    pub fn address(self) -> Ipv4Addr {
        Ipv4Addr::from(0x7f01_0000 + self.0)
    }

    /// The tag of a connection from `addr`; `None` for an address that carries no tag.
    pub fn of_address(addr: Ipv4Addr) -> Option<SourceTag> {
        let n = u32::from(addr).checked_sub(0x7f01_0000)?;
        SourceTag::new(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_addresses_round_trip() {
        for n in [0, 1, 255, 256, 65535, 65536, SourceTag::LIMIT - 1] {
            let tag = SourceTag::new(n).unwrap();
            assert_eq!(SourceTag::of_address(tag.address()), Some(tag));
            assert_eq!(tag.get(), n);
        }
        assert_eq!(
            SourceTag::new(0).unwrap().address(),
            Ipv4Addr::new(127, 1, 0, 0)
        );
        assert_eq!(
            SourceTag::new(SourceTag::LIMIT - 1).unwrap().address(),
            Ipv4Addr::new(127, 254, 255, 255)
        );
        assert_eq!(SourceTag::new(SourceTag::LIMIT), None);
    }

    #[test]
    fn untagged_addresses_carry_no_tag() {
        for addr in [
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(127, 0, 255, 255),
            Ipv4Addr::new(127, 255, 0, 0),
            Ipv4Addr::new(127, 255, 255, 255),
            Ipv4Addr::new(128, 1, 0, 0),
            Ipv4Addr::new(10, 1, 2, 3),
            Ipv4Addr::UNSPECIFIED,
        ] {
            assert_eq!(SourceTag::of_address(addr), None, "{addr}");
        }
    }
}
