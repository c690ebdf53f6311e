//! The preamble: the first bytes of every connection redirected to the engine listener that is
//! not introduced by a [`source_tag`](crate::source_tag), written by whoever redirected it (the
//! shim right after its real `connect`, the `--seccomp` supervisor on the caller's socket)
//! before the application's first byte.
//!
//! Why (issue 15, measured): with the destination in the connection itself, the engine knows
//! who connected and where to at accept, so the thread that accepts a connection serves it:
//! no claim over the control channel, no table of claims by local port, no thread waiting for
//! a claim that comes after the accept.
//!
//! Where every protocol at the destination has the client speak first
//! ([`Redirect::client_first`](crate::Redirect::client_first)), the shim sends the preamble
//! with `MSG_MORE`: the kernel holds it until the application's first write and sends both in
//! one segment, so the engine wakes once, with the request. An application that stays silent
//! gets its preamble sent by the kernel's probe timer (from 200 ms, longer as the cached
//! round-trip time grows); the engine waits for such a late preamble in its waiting room.
//!
//! Layout, [`LEN`] bytes, integers big-endian:
//!
//! ```text
//! 0..4   magic "MKT\0"
//! 4      version (1)
//! 5      0 (reserved)
//! 6..8   original destination port
//! 8..12  pid of the connecting process
//! 12..28 original destination address, IPv6 (an IPv4 address as ::ffff:a.b.c.d)
//! ```

use std::net::{IpAddr, Ipv6Addr};

/// The preamble's size: fixed, so the engine reads exactly this many bytes, never more.
pub const LEN: usize = 28;

/// The first four bytes of every preamble.
pub const MAGIC: [u8; 4] = *b"MKT\0";

/// The preamble version this build writes and reads.
pub const VERSION: u8 = 1;

/// Who connected, and where the connection was meant to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    pub pid: u32,
    pub addr: IpAddr,
    pub port: u16,
}

/// Why bytes are not a preamble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreambleError {
    /// Fewer than [`LEN`] bytes.
    Short(usize),
    /// The first bytes are not [`MAGIC`]: not a redirected connection.
    BadMagic,
    /// A preamble of another mocket version (libmocket.so and the engine of different builds).
    Version(u8),
    /// The reserved byte is not zero.
    Reserved(u8),
}

impl std::fmt::Display for PreambleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreambleError::Short(n) => write!(f, "{n} of the preamble's {LEN} bytes"),
            PreambleError::BadMagic => write!(
                f,
                "it does not start with mocket's preamble (did something connect to the \
                 engine's port directly?)"
            ),
            PreambleError::Version(v) => write!(
                f,
                "preamble version {v}, this engine reads version {VERSION} (libmocket.so and \
                 the engine come from different builds: use the ones installed together)"
            ),
            PreambleError::Reserved(b) => write!(f, "reserved preamble byte is {b}, not 0"),
        }
    }
}

impl std::error::Error for PreambleError {}

impl Preamble {
    /// The preamble's bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[6..8].copy_from_slice(&self.port.to_be_bytes());
        out[8..12].copy_from_slice(&self.pid.to_be_bytes());
        let v6 = match self.addr {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        out[12..28].copy_from_slice(&v6.octets());
        out
    }

    /// Reads a preamble from exactly its [`LEN`] bytes (more is an error of the caller: it
    /// must never read the application's bytes as a preamble's). An IPv4-mapped address reads
    /// back as IPv4.
    pub fn decode(bytes: &[u8]) -> Result<Preamble, PreambleError> {
        let Some(bytes) = bytes.first_chunk::<LEN>() else {
            return Err(PreambleError::Short(bytes.len()));
        };
        if bytes[0..4] != MAGIC {
            return Err(PreambleError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(PreambleError::Version(bytes[4]));
        }
        if bytes[5] != 0 {
            return Err(PreambleError::Reserved(bytes[5]));
        }
        let port = u16::from_be_bytes([bytes[6], bytes[7]]);
        let pid = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&bytes[12..28]);
        let addr = IpAddr::V6(Ipv6Addr::from(octets)).to_canonical();
        Ok(Preamble { pid, addr, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preambles_round_trip() {
        for (addr, port, pid) in [
            ("198.18.0.7", 443, 1),
            ("::1", 1, u32::MAX),
            ("2001:db8::5", 65535, 42),
            ("0.0.0.0", 0, 0),
        ] {
            let sent = Preamble {
                pid,
                addr: addr.parse().unwrap(),
                port,
            };
            let bytes = sent.encode();
            assert_eq!(bytes.len(), LEN);
            assert_eq!(Preamble::decode(&bytes), Ok(sent));
        }
    }

    #[test]
    fn bytes_that_are_not_a_whole_preamble_are_refused() {
        let good = Preamble {
            pid: 7,
            addr: "198.18.0.1".parse().unwrap(),
            port: 80,
        }
        .encode();
        for n in 0..LEN {
            assert_eq!(Preamble::decode(&good[..n]), Err(PreambleError::Short(n)));
        }
        let mut bad = good;
        bad[0] = b'G';
        assert_eq!(Preamble::decode(&bad), Err(PreambleError::BadMagic));
        assert_eq!(
            Preamble::decode(b"GET / HTTP/1.1\r\nHost: a.test\r\n"),
            Err(PreambleError::BadMagic)
        );
        let mut other = good;
        other[4] = 2;
        assert_eq!(Preamble::decode(&other), Err(PreambleError::Version(2)));
        let mut reserved = good;
        reserved[5] = 1;
        assert_eq!(Preamble::decode(&reserved), Err(PreambleError::Reserved(1)));
        let message = PreambleError::BadMagic.to_string();
        assert!(message.contains("engine's port directly"), "{message}");
    }
}
