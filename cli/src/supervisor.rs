//! `mocket run --seccomp`: the daemon thread that decides every call the filter stops
//! (DESIGN section 10). The filter itself and the system calls on the stopped process are in
//! `mocket-seccomp`; this is the policy.
//!
//! - `connect` of a TCP socket to a mocked destination: the socket is taken with
//!   `pidfd_getfd`, connected here to the engine listener (same kernel socket, so a
//!   non-blocking connect gets `EINPROGRESS` exactly as the caller would), the preamble written
//!   on it (`mocket_control::preamble`), and
//!   the call answered with this connect's result; a refused one gets `ECONNREFUSED` (UDP:
//!   `EPERM`); an allowed one continues in the kernel.
//! - `connect` of a UDP socket to a nameserver of `/etc/resolv.conf` on port 53 is connected
//!   to the daemon's DNS server instead ([`crate::dns_server`]).
//! - strict only: `sendto`/`sendmsg`/`sendmmsg` with a destination are routed like UDP.
//! - connects to the engine listener (the shim's redirects) continue at once.
//! - `getpeername` of a socket redirected here returns the original destination (written into
//!   the caller's memory); any other continues.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use mocket_config::LogLevel;
use mocket_control::preamble::Preamble;
use mocket_control::sync::lock;
use mocket_control::{Redirect, Reply, Transport};
use mocket_engine::Engine;
use mocket_seccomp::{
    Caller, Listener, MMSGHDR_SIZE, MSGHDR_SIZE, Notification, Response, Syscall, msghdr_name,
    parse_sockaddr,
};
use socket2::{Domain, SockAddr, Socket, Type};

/// The longest socket address read from a caller (`sizeof(struct sockaddr_storage)`).
const MAX_SOCKADDR: usize = 128;
/// At most this many messages of one `sendmmsg` are checked; a longer call is refused.
const MAX_MMSG: usize = 64;

pub struct Supervisor {
    engine: Arc<Engine>,
    listener: Arc<Listener>,
    dns: crate::dns_server::DnsServer,
    log: LogLevel,
    /// Strict mode: no allowed call is continued in the kernel (see [`Supervisor::pass`]).
    strict: bool,
    /// The original destination of each socket redirected here, by its local port (a port is
    /// reused only after its connection is gone, and then overwritten).
    redirected: Mutex<HashMap<u16, SocketAddr>>,
}

impl Supervisor {
    pub fn new(
        engine: Arc<Engine>,
        listener: Listener,
        log: LogLevel,
        strict: bool,
    ) -> io::Result<Supervisor> {
        engine.expect_supervisor();
        let dns = crate::dns_server::DnsServer::start(Arc::clone(&engine), log)?;
        Ok(Supervisor {
            engine,
            listener: Arc::new(listener),
            dns,
            log,
            strict,
            redirected: Mutex::default(),
        })
    }

    /// Decides notifications on a thread of its own until the listener fails (the process
    /// exits with `mocket run`).
    pub fn spawn(self) -> io::Result<()> {
        std::thread::Builder::new()
            .name("mocket-seccomp".into())
            .spawn(move || {
                loop {
                    match self.listener.receive() {
                        Ok(notification) => self.decide(notification),
                        Err(e) => {
                            mocket_engine::say(&format!(
                                "the seccomp supervisor stopped: {e}; the command's intercepted calls now fail (ENOSYS)"
                            ));
                            return;
                        }
                    }
                }
            })?;
        Ok(())
    }

    fn decide(&self, n: Notification) {
        let response = match Caller::open(n.tid) {
            Ok(caller) => match n.syscall {
                Syscall::Connect => self.connect(&n, &caller),
                Syscall::Sendto => self.datagram_to(&n, &caller, n.args[4], n.args[5]),
                Syscall::Sendmsg => self.sendmsg(&n, &caller),
                Syscall::Sendmmsg => self.sendmmsg(&n, &caller),
                Syscall::Getpeername => self.getpeername(&n, &caller),
                Syscall::Other(_) => Ok(Response::Fail(libc::ENOSYS)),
            },
            Err(e) => Err(e),
        };
        let response = response.unwrap_or_else(|e| match e.raw_os_error() {
            // The caller's own mistake (a bad descriptor or pointer, not a socket): the error
            // the kernel would have given it.
            Some(code @ (libc::EBADF | libc::EFAULT | libc::ENOTSOCK)) => Response::Fail(code),
            _ => {
                self.warn(&format!(
                    "could not handle a {:?} of pid {}: {e}; refused",
                    n.syscall, n.tid
                ));
                Response::Fail(libc::ECONNREFUSED)
            }
        });
        if response == Response::Return(NO_ANSWER_YET) {
            return;
        }
        // A call interrupted by a signal is restarted and notified again: ENOENT is expected.
        let _ = self.listener.respond(n.id, response);
    }

    /// Reads the socket address at `ptr` (of `len` bytes) in the caller.
    fn read_addr(&self, caller: &Caller, ptr: u64, len: u64) -> io::Result<Option<SocketAddr>> {
        let len = (len as usize).min(MAX_SOCKADDR);
        Ok(parse_sockaddr(&caller.read(ptr, len)?))
    }

    fn connect(&self, n: &Notification, caller: &Caller) -> io::Result<Response> {
        let socket = Socket::from(caller.take_fd(n.args[0] as i32)?);
        // Only an IPv4 or IPv6 socket reaches the network, whatever address it is given.
        let domain = socket.domain()?;
        if domain != Domain::IPV4 && domain != Domain::IPV6 {
            return Ok(Response::Continue);
        }
        let Some(dest) = self.read_addr(caller, n.args[1], n.args[2])? else {
            // AF_UNSPEC (a UDP "disconnect"): continued, except in strict mode, where the
            // address the kernel would read again is never trusted.
            return Ok(match self.strict {
                true => Response::Fail(libc::EAFNOSUPPORT),
                false => Response::Continue,
            });
        };
        if !self.listener.still_waiting(n.id) {
            return Ok(Response::Continue);
        }
        if self.engine.is_engine_listener(dest) || self.dns.is(dest) {
            // The shim's redirect (or a DNS socket): mocket's own loopback listeners accept at
            // once, so even a blocking connect is made here without a thread.
            return Ok(match self.strict {
                true => connect_result(socket.connect(&SockAddr::from(dest))),
                false => Response::Continue,
            });
        }
        let transport = match socket.r#type()? {
            Type::STREAM => Transport::Tcp,
            Type::DGRAM => Transport::Udp,
            _ if self.strict => {
                return Ok(self.refuse(
                    Transport::Udp,
                    &format!("strict mode refused a raw socket's connect to {dest}"),
                ));
            }
            _ => return Ok(Response::Continue),
        };
        if transport == Transport::Udp && self.dns.serves(dest) {
            return Ok(connect_result(
                socket.connect(&SockAddr::from(self.dns.address_for(dest))),
            ));
        }
        let reply = self
            .engine
            .route_stopped_call(caller.pid, transport, dest.ip(), dest.port());
        Ok(match reply {
            Reply::Redirect(to) => self.redirect(&socket, caller.pid, dest, to),
            Reply::Pass => self.pass(n.id, socket, dest),
            Reply::PassHost(name) => {
                self.pass_to_host(n.id, socket, name, dest);
                return Ok(Response::Return(NO_ANSWER_YET));
            }
            Reply::Refuse(message) => self.refuse(transport, &message),
            other => self.refuse(
                transport,
                &format!("unexpected engine reply {other:?} for {dest}"),
            ),
        })
    }

    /// Connects the caller's own socket to the engine and writes the preamble that tells the
    /// engine who connected and where to, before the caller can write anything. A preamble that
    /// cannot be written refuses the connect (fail closed). The redirect's `from` and
    /// `client_first` are not used here: the preamble is always written, and at once.
    fn redirect(&self, socket: &Socket, pid: u32, dest: SocketAddr, to: Redirect) -> Response {
        let engine = to.engine();
        let target = match dest {
            SocketAddr::V4(_) => engine,
            SocketAddr::V6(_) => SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), to.port)),
        };
        let result = socket.connect(&SockAddr::from(target));
        let connecting = match &result {
            Ok(()) => true,
            Err(e) => e.raw_os_error() == Some(libc::EINPROGRESS),
        };
        if !connecting {
            return connect_result(result);
        }
        let preamble = Preamble {
            pid,
            addr: dest.ip(),
            port: dest.port(),
        };
        if let Err(e) = write_preamble(socket, &preamble.encode()) {
            return self.refuse(
                Transport::Tcp,
                &format!(
                    "refused pid {pid}'s connect to {dest}: cannot write the connection's \
                     preamble to the engine at {engine} ({e}); is the engine overloaded?"
                ),
            );
        }
        if let Some(local_port) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
            lock(&self.redirected).insert(local_port.port(), dest);
        }
        connect_result(result)
    }

    /// An allowed connect. Outside strict mode the kernel continues the call. In strict mode
    /// the kernel would read the address again from the caller's memory, which another of its
    /// threads could have changed since it was judged: the connect is made here, on the
    /// caller's socket, to the address judged (on a thread of its own when the socket blocks).
    fn pass(&self, id: u64, socket: Socket, dest: SocketAddr) -> Response {
        if !self.strict {
            return Response::Continue;
        }
        if socket.nonblocking().unwrap_or(false) {
            return connect_result(socket.connect(&SockAddr::from(dest)));
        }
        let listener = Arc::clone(&self.listener);
        std::thread::spawn(move || {
            let _ = listener.respond(id, connect_result(socket.connect(&SockAddr::from(dest))));
        });
        Response::Return(NO_ANSWER_YET)
    }

    /// A mocked name on a port without entries, outside strict mode: the real host, connected
    /// on a thread of its own (a real connect may take long) which answers the call.
    fn pass_to_host(&self, id: u64, socket: Socket, name: String, dest: SocketAddr) {
        let listener = Arc::clone(&self.listener);
        std::thread::spawn(move || {
            use std::net::ToSocketAddrs;
            let resolved = (name.as_str(), dest.port()).to_socket_addrs();
            let response = match resolved {
                Ok(mut addrs) => {
                    match addrs.find(|a| a.is_ipv4() == dest.is_ipv4() || dest.is_ipv6()) {
                        Some(real) => {
                            connect_result(socket.connect(&SockAddr::from(match (real, dest) {
                                (SocketAddr::V4(v4), SocketAddr::V6(_)) => {
                                    SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
                                }
                                (real, _) => real,
                            })))
                        }
                        None => Response::Fail(libc::EHOSTUNREACH),
                    }
                }
                Err(_) => Response::Fail(libc::EHOSTUNREACH),
            };
            let _ = listener.respond(id, response);
        });
    }

    fn refuse(&self, transport: Transport, message: &str) -> Response {
        self.warn(message);
        match transport {
            Transport::Tcp => Response::Fail(libc::ECONNREFUSED),
            Transport::Udp => Response::Fail(libc::EPERM),
        }
    }

    /// A datagram (or Fast Open segment) to the address at `ptr`, when there is one.
    fn datagram_to(
        &self,
        n: &Notification,
        caller: &Caller,
        ptr: u64,
        len: u64,
    ) -> io::Result<Response> {
        if ptr == 0 {
            return Ok(Response::Continue);
        }
        let Some(dest) = self.read_addr(caller, ptr, len)? else {
            return Ok(Response::Continue);
        };
        if self.engine.is_engine_listener(dest) || self.dns.is(dest) {
            return Ok(Response::Continue);
        }
        let socket = Socket::from(caller.take_fd(n.args[0] as i32)?);
        let transport = match socket.r#type()? {
            Type::DGRAM => Transport::Udp,
            // TCP ignores the destination unless it is a Fast Open connect.
            Type::STREAM if n.args[3] as i32 & libc::MSG_FASTOPEN != 0 => Transport::Tcp,
            _ => return Ok(Response::Continue),
        };
        let reply = self
            .engine
            .route_stopped_call(caller.pid, transport, dest.ip(), dest.port());
        Ok(match reply {
            Reply::Pass => Response::Continue,
            Reply::Refuse(message) => self.refuse(transport, &message),
            _ => self.refuse(
                transport,
                &format!("refused a datagram or Fast Open send to {dest}: mocket redirects only connect() under --seccomp"),
            ),
        })
    }

    fn sendmsg(&self, n: &Notification, caller: &Caller) -> io::Result<Response> {
        let header = caller.read(n.args[1], MSGHDR_SIZE)?;
        let Some((name, len)) = msghdr_name(&header) else {
            return Ok(Response::Fail(libc::EFAULT));
        };
        let as_sendto = Notification {
            args: [n.args[0], 0, 0, n.args[2], name, len as u64],
            ..*n
        };
        self.datagram_to(&as_sendto, caller, name, len as u64)
    }

    /// Every message of a `sendmmsg` must be allowed for the call to continue.
    fn sendmmsg(&self, n: &Notification, caller: &Caller) -> io::Result<Response> {
        let count = n.args[2] as usize;
        if count > MAX_MMSG {
            return Ok(self.refuse(
                Transport::Udp,
                &format!("refused a sendmmsg of {count} messages under strict --seccomp (at most {MAX_MMSG} are checked)"),
            ));
        }
        for i in 0..count {
            let at = n.args[1] + (i * MMSGHDR_SIZE) as u64;
            let header = caller.read(at, MSGHDR_SIZE)?;
            let Some((name, len)) = msghdr_name(&header) else {
                return Ok(Response::Fail(libc::EFAULT));
            };
            let as_sendto = Notification {
                args: [n.args[0], 0, 0, n.args[3], name, len as u64],
                ..*n
            };
            let response = self.datagram_to(&as_sendto, caller, name, len as u64)?;
            if response != Response::Continue {
                return Ok(response);
            }
        }
        Ok(Response::Continue)
    }

    /// The original destination of a socket this supervisor redirected, else the kernel's
    /// answer.
    fn getpeername(&self, n: &Notification, caller: &Caller) -> io::Result<Response> {
        let (addr_ptr, len_ptr) = (n.args[1], n.args[2]);
        let socket = Socket::from(caller.take_fd(n.args[0] as i32)?);
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        let original = match (peer, local) {
            (Some(peer), Some(local)) if self.engine.is_engine_listener(peer) => {
                lock(&self.redirected).get(&local.port()).copied()
            }
            _ => None,
        };
        let Some(original) = original else {
            return Ok(Response::Continue);
        };
        let Ok(room) = <[u8; 4]>::try_from(caller.read(len_ptr, 4)?.as_slice()) else {
            return Ok(Response::Fail(libc::EFAULT));
        };
        let room = u32::from_ne_bytes(room) as usize;
        let bytes = mocket_seccomp::encode_sockaddr(original);
        if !self.listener.still_waiting(n.id) {
            return Ok(Response::Continue);
        }
        // As the kernel does: the address cut to the caller's room, the full length reported.
        caller.write(addr_ptr, &bytes[..bytes.len().min(room)])?;
        caller.write(len_ptr, &(bytes.len() as u32).to_ne_bytes())?;
        Ok(Response::Return(0))
    }

    fn warn(&self, message: &str) {
        if self.log >= LogLevel::Warn {
            mocket_engine::say(message);
        }
    }
}

/// Marks a call answered later, from another thread: never sent to the kernel.
const NO_ANSWER_YET: i64 = i64::MIN;

/// The answer that makes the caller see this connect's own result.
fn connect_result(result: io::Result<()>) -> Response {
    match result {
        Ok(()) => Response::Return(0),
        Err(e) => Response::Fail(e.raw_os_error().unwrap_or(libc::ECONNREFUSED)),
    }
}

/// How long a non-blocking connect to the engine may take to complete before the preamble is
/// written: on loopback it completes at once; this only bounds an engine whose backlog is full.
const ENGINE_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes `bytes` on a socket whose connect to the engine returned 0 or `EINPROGRESS`, waiting
/// at most [`ENGINE_CONNECT_WAIT`] for it to become writable.
fn write_preamble(socket: &Socket, mut bytes: &[u8]) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let deadline = std::time::Instant::now() + ENGINE_CONNECT_WAIT;
    while !bytes.is_empty() {
        match socket.send_with_flags(bytes, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(libc::ENOTCONN) =>
            {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let timeout = Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: left.subsec_nanos().into(),
                };
                let mut fds = [PollFd::new(socket, PollFlags::OUT)];
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
                    Ok(_) if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) => {
                        return Err(io::ErrorKind::ConnectionRefused.into());
                    }
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
