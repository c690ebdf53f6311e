//! The two ends of a recorded connection, plain TCP or TLS, behind one trait, so the relay can
//! wait for whichever side speaks without a thread per direction (a TLS session cannot be read
//! and written from two threads without a lock around it).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use rustls::{ConnectionCommon, SideData, StreamOwned};

use crate::http::Connection;

/// What one timed read got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Got {
    Data(usize),
    /// Nothing arrived in time.
    Idle,
    /// End of stream, or an error: a broken side is a closed side.
    Closed,
}

pub(super) trait Side: Read + Write + Send {
    /// Reads what arrives within `wait` (`None`: however long it takes).
    fn read_within(&mut self, buf: &mut [u8], wait: Option<Duration>) -> Got;
    /// Says "no more from me" (FIN, after a TLS close_notify) and keeps reading possible.
    fn shutdown_write(&mut self);
    fn socket(&self) -> &TcpStream;
}

/// Applies `wait` as the socket's read timeout (the kernel's `SO_RCVTIMEO`).
fn set_wait(sock: &TcpStream, wait: Option<Duration>) {
    let _ = sock.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))));
}

fn got(read: io::Result<usize>) -> Got {
    match read {
        Ok(0) => Got::Closed,
        Ok(n) => Got::Data(n),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Got::Idle
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Got::Idle,
        Err(_) => Got::Closed,
    }
}

impl Side for TcpStream {
    fn read_within(&mut self, buf: &mut [u8], wait: Option<Duration>) -> Got {
        set_wait(self, wait);
        got(self.read(buf))
    }

    fn shutdown_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }

    fn socket(&self) -> &TcpStream {
        self
    }
}

/// Either end of TLS (the client's session terminated by mocket, or mocket's session with the
/// real server). A timed-out read leaves rustls with whatever partial record arrived, to be
/// completed by the next read.
impl<C, S> Side for StreamOwned<C, TcpStream>
where
    C: DerefMut + Deref<Target = ConnectionCommon<S>> + Send,
    S: SideData,
{
    fn read_within(&mut self, buf: &mut [u8], wait: Option<Duration>) -> Got {
        set_wait(&self.sock, wait);
        got(self.read(buf))
    }

    fn shutdown_write(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Write);
    }

    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// So the HTTP module's response plans run on either end.
impl Connection for Box<dyn Side> {
    fn tcp(&self) -> &TcpStream {
        self.socket()
    }
}
