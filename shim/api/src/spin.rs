//! A socket read that spins briefly before it sleeps, for both ends of a daemon control
//! connection: a reply, or a test's next request, usually comes within tens of µs, and on an
//! idle machine waking a sleeping thread costs about as much again, twice per round trip
//! (issue 12: a daemon `register` took 49-55 µs idle, 30 µs under load).
//!
//! Spinning only pays while the peer has a CPU of its own. On a loaded machine a spinning
//! thread takes the CPU its peer needs and is preempted for milliseconds, so a spin that runs
//! out, or is preempted, turns spinning off for the next reads, twice as many after each miss
//! (at most [`MAX_SKIP`]); the first spin that catches its message turns it back on.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The most reads a missed spin turns spinning off for.
pub const MAX_SKIP: u32 = 64;

/// A gap this long between two tries means the spinning thread was preempted: the CPU is
/// contended, and spinning only delays the peer.
const PREEMPTED: Duration = Duration::from_micros(20);

/// When a connection's reads spin: armed before a read whose message is due soon.
#[derive(Debug, Clone)]
pub struct Spin {
    bound: Duration,
    /// The armed spin's end, until the read that uses it.
    until: Option<Instant>,
    /// Arms left that do not spin, after a spin that did not pay.
    skip: u32,
    /// How many arms the next miss skips.
    backoff: u32,
}

/// How a spin ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Caught,
    Missed,
}

impl Spin {
    /// Spins of at most `bound`.
    pub const fn new(bound: Duration) -> Spin {
        Spin {
            bound,
            until: None,
            skip: 0,
            backoff: 1,
        }
    }

    /// A message is due soon: the next read spins for up to the bound, unless spinning lately
    /// did not pay.
    pub fn arm(&mut self) {
        self.until = match self.skip {
            0 => Some(Instant::now() + self.bound),
            _ => {
                self.skip -= 1;
                None
            }
        };
    }

    /// Whether the next read spins.
    pub fn is_armed(&self) -> bool {
        self.until.is_some()
    }

    fn end(&mut self, outcome: Outcome) {
        self.until = None;
        match outcome {
            Outcome::Caught => self.backoff = 1,
            Outcome::Missed => {
                self.skip = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_SKIP);
            }
        }
    }
}

/// Reads from `stream`: while `spin` is armed without sleeping (and without touching the
/// socket's blocking mode, which its other handles share), then as a blocking read does.
pub fn read_soon(stream: &UnixStream, buf: &mut [u8], spin: &mut Spin) -> io::Result<usize> {
    spin_then_wait(
        buf,
        spin,
        |buf| recv_now(stream, buf),
        |buf| (&mut &*stream).read(buf),
    )
}

/// [`read_soon`] over any pair of reads: `read_now` fails with `WouldBlock` instead of waiting.
fn spin_then_wait(
    buf: &mut [u8],
    spin: &mut Spin,
    mut read_now: impl FnMut(&mut [u8]) -> io::Result<usize>,
    mut read_wait: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let caught = spin_for(spin, || match read_now(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        read => Some(read),
    });
    match caught {
        Some(read) => read,
        None => read_wait(buf),
    }
}

/// Tries `ready` without sleeping while `spin` is armed: what it gives once it gives
/// something; `None` when the spin was not armed, ran out or was preempted (the caller then
/// waits as it would have without spinning).
pub fn spin_for<T>(spin: &mut Spin, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let until = spin.until?;
    let mut last = Instant::now();
    loop {
        if let Some(caught) = ready() {
            spin.end(Outcome::Caught);
            return Some(caught);
        }
        let now = Instant::now();
        if now >= until || now - last >= PREEMPTED {
            spin.end(Outcome::Missed);
            return None;
        }
        last = now;
        std::hint::spin_loop();
    }
}

/// Reads what `stream` has now without waiting (`recv` with `MSG_DONTWAIT`): `WouldBlock` when
/// nothing is there. `O_NONBLOCK` would be shared by every handle of the socket (a
/// connection's writer too); this flag holds for this call only.
fn recv_now(stream: &UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable buffer of `buf.len()` bytes for the whole call, and the
    // descriptor belongs to `stream`, which outlives the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    match n {
        -1 => Err(io::Error::last_os_error()),
        n => Ok(n as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn would_block() -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn armed(bound: Duration) -> Spin {
        let mut spin = Spin::new(bound);
        spin.arm();
        spin
    }

    #[test]
    fn recv_now_does_not_wait_and_leaves_the_socket_blocking() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 16];
        let err = recv_now(&b, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // The flag is per call: a plain read still waits (here up to its timeout).
        b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let start = Instant::now();
        assert!(b.read(&mut buf).is_err());
        assert!(start.elapsed() >= Duration::from_millis(40));
        std::io::Write::write_all(&mut a, b"hi").unwrap();
        assert_eq!(recv_now(&b, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        drop(a);
        assert_eq!(
            recv_now(&b, &mut buf).unwrap(),
            0,
            "the end reads as 0 bytes"
        );
    }

    /// What comes during the spin is read without a blocking read, and spinning stays on.
    #[test]
    fn a_message_within_the_spin_is_read_without_sleeping() {
        let mut spin = armed(Duration::from_secs(20));
        let mut tries = 0;
        let read = spin_then_wait(
            &mut [0u8; 4],
            &mut spin,
            |buf| {
                tries += 1;
                match tries {
                    1..3 => would_block(),
                    _ => Ok(buf.len()),
                }
            },
            |_| panic!("a blocking read while spinning"),
        );
        assert_eq!(read.unwrap(), 4);
        assert_eq!(tries, 3);
        assert!(!spin.is_armed(), "a spin serves one read");
        spin.arm();
        assert!(spin.is_armed());
    }

    /// The spin ends at its bound, then the read blocks; unarmed, it blocks at once.
    #[test]
    fn the_spin_is_bounded() {
        let bound = Duration::from_millis(3);
        let mut spin = armed(bound);
        let (mut tries, mut waits) = (0, 0);
        let read = spin_then_wait(
            &mut [0u8; 4],
            &mut spin,
            |_| {
                tries += 1;
                would_block()
            },
            |_| {
                waits += 1;
                Ok(1)
            },
        );
        assert_eq!(read.unwrap(), 1);
        assert!(tries > 0);
        assert_eq!(waits, 1);
        let mut unarmed = Spin::new(bound);
        let read = spin_then_wait(&mut [0u8; 4], &mut unarmed, |_| panic!("spun"), |_| Ok(2));
        assert_eq!(read.unwrap(), 2);
    }

    /// A spin that is preempted ends at once, as a miss.
    #[test]
    fn a_preempted_spin_gives_up() {
        let mut spin = armed(Duration::from_secs(20));
        let start = Instant::now();
        let read = spin_then_wait(
            &mut [0u8; 4],
            &mut spin,
            |_| {
                std::thread::sleep(PREEMPTED * 2);
                would_block()
            },
            |_| Ok(3),
        );
        assert_eq!(read.unwrap(), 3);
        assert!(start.elapsed() < Duration::from_secs(10));
        spin.arm();
        assert!(!spin.is_armed(), "a miss skips the next arm");
    }

    /// Each miss turns spinning off for twice as many arms as the last (at most MAX_SKIP); a
    /// caught message resets it.
    #[test]
    fn misses_back_off_and_a_catch_resets() {
        let mut spin = Spin::new(Duration::from_micros(1));
        let mut skipped = Vec::new();
        for _ in 0..9 {
            spin.arm();
            let mut skips = 0;
            while !spin.is_armed() {
                skips += 1;
                spin.arm();
            }
            skipped.push(skips);
            spin.end(Outcome::Missed);
        }
        assert_eq!(skipped, [0, 1, 2, 4, 8, 16, 32, 64, 64]);
        for _ in 0..64 {
            spin.arm();
        }
        spin.arm();
        assert!(spin.is_armed());
        spin.end(Outcome::Caught);
        spin.arm();
        spin.end(Outcome::Missed);
        spin.arm();
        assert!(!spin.is_armed(), "one skip after a catch and a miss");
        spin.arm();
        assert!(spin.is_armed());
    }

    /// Over a socket: data already there, then a spin that runs out and a blocking read that
    /// times out.
    #[test]
    fn read_soon_reads_a_socket() {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        std::io::Write::write_all(&mut a, b"{}\n").unwrap();
        let mut buf = [0u8; 16];
        let mut spin = armed(Duration::from_millis(5));
        assert_eq!(read_soon(&b, &mut buf, &mut spin).unwrap(), 3);
        spin.arm();
        let start = Instant::now();
        let err = read_soon(&b, &mut buf, &mut spin).unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "{:?}",
            start.elapsed()
        );
    }
}
