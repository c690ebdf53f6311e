//! Conversions between C socket addresses and `std::net` ones.

use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::user_mem::{Fault, copy_bytes};

use libc::{
    AF_INET, AF_INET6, c_int, sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage,
    socklen_t,
};

/// Reads an IPv4 or IPv6 address; `None` for other families or a short buffer.
///
/// # Safety
/// `addr` must be null or point to at least `len` readable bytes.
pub unsafe fn read(addr: *const sockaddr, len: socklen_t) -> Option<SocketAddr> {
    let len = (len as usize).min(size_of::<sockaddr_storage>());
    if addr.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    parse(unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len) })
}

/// Parses an IPv4 or IPv6 socket address from its C bytes; `None` for other families or a
/// short buffer.
pub fn parse(bytes: &[u8]) -> Option<SocketAddr> {
    let family = bytes.get(..size_of::<sa_family_t>())?;
    let family = c_int::from(sa_family_t::from_ne_bytes(family.try_into().ok()?));
    match family {
        AF_INET if bytes.len() >= size_of::<sockaddr_in>() => {
            // SAFETY: the buffer holds a whole sockaddr_in (checked), read unaligned; all bit
            // patterns are valid for it.
            let a: sockaddr_in = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        AF_INET6 if bytes.len() >= size_of::<sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a: sockaddr_in6 = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
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

/// A socket address the application passed, copied out of its memory so the shim judges and
/// forwards bytes that cannot change under it, and never reads an unchecked pointer.
#[derive(Clone, Copy)]
pub struct Copied {
    storage: sockaddr_storage,
    len: socklen_t,
}

impl Copied {
    /// Copies `len` bytes at `addr`. `Ok(None)` when there is nothing the kernel would read
    /// either (a null pointer, a zero length) or when the length is larger than any address
    /// (the kernel refuses it with `EINVAL`): such calls are forwarded unchanged.
    pub fn from_user(addr: *const sockaddr, len: socklen_t) -> Result<Option<Copied>, Fault> {
        if addr.is_null() || len == 0 || len as usize > size_of::<sockaddr_storage>() {
            return Ok(None);
        }
        // SAFETY: sockaddr_storage is plain data for which all-zero is valid.
        let mut storage: sockaddr_storage = unsafe { zeroed() };
        // SAFETY: the slice covers the first `len` bytes of storage (len <= its size).
        let bytes = unsafe {
            std::slice::from_raw_parts_mut((&raw mut storage).cast::<u8>(), len as usize)
        };
        copy_bytes(addr.cast(), bytes)?;
        Ok(Some(Copied { storage, len }))
    }

    /// The IP destination, for an IPv4 or IPv6 address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        // SAFETY: the slice covers the first `len` bytes of storage, which we own.
        parse(unsafe {
            std::slice::from_raw_parts((&raw const self.storage).cast::<u8>(), self.len as usize)
        })
    }

    pub fn as_ptr(&self) -> *const sockaddr {
        (&raw const self.storage).cast()
    }

    pub fn len(&self) -> socklen_t {
        self.len
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

/// The socket's type (`SO_TYPE`: stream, datagram, ...), or `None` when `fd` is not a socket.
pub fn socket_type(fd: c_int) -> Option<c_int> {
    socket_option(fd, libc::SO_TYPE)
}

/// An integer socket option at `SOL_SOCKET` level.
fn socket_option(fd: c_int, option: c_int) -> Option<c_int> {
    #[cfg(test)]
    crate::counted::add(&crate::counted::SOCKET_QUERIES);
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: value and len are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(addr: SocketAddr, family: c_int) -> Vec<u8> {
        let (storage, len) = encode(addr, family);
        // SAFETY: storage holds len initialised bytes.
        unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), len as usize) }
            .to_vec()
    }

    #[test]
    fn parses_what_encode_writes() {
        let v4: SocketAddr = "198.18.0.7:443".parse().unwrap();
        assert_eq!(parse(&bytes_of(v4, AF_INET)), Some(v4));
        let v6: SocketAddr = "[2001:db8::1]:9000".parse().unwrap();
        assert_eq!(parse(&bytes_of(v6, AF_INET6)), Some(v6));
        let mapped = parse(&bytes_of(v4, AF_INET6)).unwrap();
        assert_eq!(as_v4(mapped.ip()), Some("198.18.0.7".parse().unwrap()));
    }

    #[test]
    fn short_or_foreign_addresses_are_not_parsed() {
        let v4 = bytes_of("10.0.0.1:80".parse().unwrap(), AF_INET);
        assert_eq!(parse(&v4[..v4.len() - 1]), None);
        assert_eq!(parse(&v4[..1]), None);
        assert_eq!(parse(&[]), None);
        let mut unix = v4.clone();
        unix[..2].copy_from_slice(&(libc::AF_UNIX as sa_family_t).to_ne_bytes());
        assert_eq!(parse(&unix), None);
    }

    #[test]
    fn copies_from_the_application_only_what_is_readable() {
        let addr: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let (storage, len) = encode(addr, AF_INET);
        let copied = Copied::from_user((&raw const storage).cast(), len)
            .unwrap()
            .unwrap();
        assert_eq!(copied.socket_addr(), Some(addr));
        assert_eq!(copied.len(), len);
        let bad = 16 as *const sockaddr;
        assert!(Copied::from_user(bad, len).is_err());
        assert!(Copied::from_user(std::ptr::null(), len).unwrap().is_none());
        assert!(Copied::from_user(bad, 0).unwrap().is_none());
        assert!(Copied::from_user(bad, 4096).unwrap().is_none());
    }
}
