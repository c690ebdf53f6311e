//! Conversions between C socket addresses and `std::net` ones.

use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{
    AF_INET, AF_INET6, c_int, sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage,
    socklen_t,
};

/// Reads an IPv4 or IPv6 address; `None` for other families or a short buffer.
///
/// # Safety
/// `addr` must be null or point to at least `len` readable bytes.
pub unsafe fn read(addr: *const sockaddr, len: socklen_t) -> Option<SocketAddr> {
    if addr.is_null() || (len as usize) < size_of::<sa_family_t>() {
        return None;
    }
    // SAFETY: at least the family field is readable (checked above); each branch checks the
    // full length before reading the larger struct, with an unaligned read.
    unsafe {
        match c_int::from((*addr).sa_family) {
            AF_INET if len as usize >= size_of::<sockaddr_in>() => {
                let a: sockaddr_in = std::ptr::read_unaligned(addr.cast());
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(a.sin_port),
                )))
            }
            AF_INET6 if len as usize >= size_of::<sockaddr_in6>() => {
                let a: sockaddr_in6 = std::ptr::read_unaligned(addr.cast());
                let ip = a.sin6_addr.s6_addr.into();
                let port = u16::from_be(a.sin6_port);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Encodes `addr` for a socket of `family`: an IPv4 address on an IPv6 socket becomes
/// IPv4-mapped.
pub fn encode(addr: SocketAddr, family: c_int) -> (sockaddr_storage, socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all-zero is valid.
    let mut storage: sockaddr_storage = unsafe { zeroed() };
    let len = match (family, addr) {
        (AF_INET6, _) => {
            let v6 = match addr.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            // SAFETY: as above.
            let mut a: sockaddr_in6 = unsafe { zeroed() };
            a.sin6_family = AF_INET6 as sa_family_t;
            a.sin6_port = addr.port().to_be();
            a.sin6_addr.s6_addr = v6.octets();
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), a) };
            size_of::<sockaddr_in6>()
        }
        (_, _) => {
            let v4 = match addr.ip() {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
            };
            // SAFETY: as above.
            let mut a: sockaddr_in = unsafe { zeroed() };
            a.sin_family = AF_INET as sa_family_t;
            a.sin_port = addr.port().to_be();
            a.sin_addr.s_addr = u32::from(v4).to_be();
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), a) };
            size_of::<sockaddr_in>()
        }
    };
    (storage, len as socklen_t)
}

pub use mocket_control::fake_range::{as_v4, is_fake_ip as is_fake};

/// The socket's family and type, or `None` when `fd` is not a socket.
pub fn socket_kind(fd: c_int) -> Option<(c_int, c_int)> {
    let get = |opt| {
        let mut value: c_int = 0;
        let mut len = size_of::<c_int>() as socklen_t;
        // SAFETY: value and len are valid for writes of the sizes given.
        let r = unsafe {
            libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut value).cast(), &mut len)
        };
        (r == 0).then_some(value)
    };
    Some((get(libc::SO_DOMAIN)?, get(libc::SO_TYPE)?))
}
