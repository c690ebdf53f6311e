//! Reading the structures a notified call points at, from bytes copied out of the caller.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `sizeof(struct msghdr)` on 64-bit Linux.
pub const MSGHDR_SIZE: usize = std::mem::size_of::<libc::msghdr>();
/// `sizeof(struct mmsghdr)`: the stride of `sendmmsg`'s array.
pub const MMSGHDR_SIZE: usize = std::mem::size_of::<libc::mmsghdr>();

/// An IPv4 or IPv6 socket address; `None` for other families (Unix, netlink, `AF_UNSPEC`)
/// and for truncated input.
pub fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(bytes.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?);
    match family as i32 {
        libc::AF_INET => {
            let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(SocketAddrV4::new(Ipv4Addr::from(ip), port).into())
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(bytes.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(bytes.get(24..28)?.try_into().ok()?);
            Some(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope).into())
        }
        _ => None,
    }
}

/// The bytes of `addr` as a `struct sockaddr_in` or `sockaddr_in6` (the kernel's layout).
pub fn encode_sockaddr(addr: SocketAddr) -> Vec<u8> {
    match addr {
        SocketAddr::V4(v4) => {
            let mut out = vec![0u8; 16];
            out[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&v4.port().to_be_bytes());
            out[4..8].copy_from_slice(&v4.ip().octets());
            out
        }
        SocketAddr::V6(v6) => {
            let mut out = vec![0u8; 28];
            out[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&v6.port().to_be_bytes());
            out[4..8].copy_from_slice(&v6.flowinfo().to_ne_bytes());
            out[8..24].copy_from_slice(&v6.ip().octets());
            out[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
            out
        }
    }
}

/// The `msg_name` pointer and `msg_namelen` of a `struct msghdr` (null when none).
pub fn msghdr_name(bytes: &[u8]) -> Option<(u64, u32)> {
    let name = u64::from_ne_bytes(bytes.get(0..8)?.try_into().ok()?);
    let len = u32::from_ne_bytes(bytes.get(8..12)?.try_into().ok()?);
    Some((name, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_families_and_ignores_others() {
        let mut v4 = vec![0u8; 16];
        v4[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&443u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[198, 18, 0, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("198.18.0.1:443".parse().unwrap()));
        assert_eq!(parse_sockaddr(&v4[..6]), None);
        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&80u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"::ffff:198.18.0.2".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(
            parse_sockaddr(&v6),
            Some("[::ffff:198.18.0.2]:80".parse().unwrap())
        );
        let unix = (libc::AF_UNIX as u16).to_ne_bytes();
        assert_eq!(parse_sockaddr(&[unix[0], unix[1], 0, 0]), None);
    }

    #[test]
    fn encoding_is_what_parsing_reads() {
        for addr in [
            "198.18.0.1:443",
            "[::ffff:198.18.0.2]:80",
            "[2001:db8::1]:53",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(parse_sockaddr(&encode_sockaddr(addr)), Some(addr));
        }
    }

    #[test]
    fn msghdr_layout() {
        assert_eq!(MSGHDR_SIZE, 56);
        assert_eq!(MMSGHDR_SIZE, 64);
        let mut m = vec![0u8; MSGHDR_SIZE];
        m[0..8].copy_from_slice(&0x1234u64.to_ne_bytes());
        m[8..12].copy_from_slice(&16u32.to_ne_bytes());
        assert_eq!(msghdr_name(&m), Some((0x1234, 16)));
    }
}
