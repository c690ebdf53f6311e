//! `TCP_DEFER_ACCEPT` on the engine listener, which no safe crate of the workspace sets.
//!
//! Why (issue 15, measured with `strace -f -c`): every connection redirected to the engine
//! starts with a preamble the shim writes right after its `connect` returns; without deferred
//! accept the engine thread woke at the handshake, found no preamble yet in 3 of 4 connections
//! and slept again until it came, one wake-up more per connection.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Makes `listener` wake `accept` only once a connection has data (or after about `seconds`,
/// when the kernel hands over a connection that stayed silent).
pub fn defer_accept(listener: &impl AsFd, seconds: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a c_int that lives for the call;
    // the fd is borrowed from an open socket.
    let r = unsafe {
        libc::setsockopt(
            listener.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A connection that has sent nothing is not accepted yet; one that has sent is.
    #[test]
    fn accept_waits_for_data() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        defer_accept(&listener, 5).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(listener.accept().is_err(), "accepted before any data");
        client.write_all(b"x").unwrap();
        let mut accepted = None;
        for _ in 0..200 {
            if let Ok((stream, _)) = listener.accept() {
                accepted = Some(stream);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut stream = accepted.expect("accepted once data came");
        stream.set_nonblocking(false).unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }
}
