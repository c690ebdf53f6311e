//! The engine's loopback listener and the dispatch of each redirected connection to the
//! protocol of its destination's entries.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use rustix::net::RecvFlags;

use super::idle::IdleTimeout;
use super::pool::Active;
use super::source_tags::SourceTags;
use super::{Claim, Engine, lock};
use crate::control::Reply;
use crate::control::preamble::{self, Preamble, PreambleError};
use crate::journal::Action;
use crate::scopes::EntrySet;
use mocket_config::Kind;
use mocket_protocols::field::Destination;
use mocket_shim_api::{Spin, spin_for};

/// How long the thread that accepted a connection waits for its preamble: the shim writes it
/// inside `connect`, before the application can run again, so it is normally there at accept;
/// this only bounds a client that connects to the engine's port without being mocket's (or a
/// shim descheduled for that long), which is then closed, never served from a guess.
const PREAMBLE_WAIT: Duration = Duration::from_secs(2);

/// How long the thread that accepted a connection waits for its first byte before handing it to
/// the waiting room: clients speak right after connecting, so this is normally microseconds,
/// but a loaded host can deschedule a client for milliseconds; short, so that a burst of silent
/// connections holds few threads (at 10 000 connections/s, 100).
pub(super) const INLINE_WAIT: Duration = Duration::from_millis(10);

/// How many threads may wait [`INLINE_WAIT`] for a first byte at once: past that, a connection
/// goes to the waiting room at once, so that a burst of silent connections (5 000 held open by
/// a test) holds few threads.
pub(super) const INLINE_WAITERS: usize = 8;

/// How many threads wait in `accept` on the engine listener at most. A thread that served the
/// connection it accepted goes back to accepting while fewer wait, so that the next connection
/// is taken by a waiting thread: handing the accepting role to another thread per connection
/// cost one more wake-up per connection.
const MAX_ACCEPTORS: usize = 2;

/// How long a thread that accepted a connection at its handshake ([`Accepts::AtHandshake`])
/// polls for the client's first bytes before it blocks: a client writes microseconds after its
/// `connect` returns, and blocking would add a wake-up (15-30 µs on a virtual machine, issue 15)
/// to the connection. Bounded, so that a silent client costs at most this much CPU, and turned
/// off for a while when it does not pay (see [`Spin`]).
const FIRST_BYTES_SPIN: Duration = Duration::from_micros(50);

/// The listen backlog of the engine's listener: where clients wait while the accept loop
/// applies back-pressure (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// How long an accept loop pauses when the process is out of file descriptors: long enough
/// not to spin, short enough that waiting clients are served soon after fds free up.
const FD_BACKOFF: Duration = Duration::from_millis(50);

/// How often the "out of file descriptors" warning may repeat.
const FD_WARNING_INTERVAL: Duration = Duration::from_secs(30);

/// Says, at most once per [`FD_WARNING_INTERVAL`], that a listener is out of file descriptors.
pub(crate) struct FdLimitWarning {
    last: Mutex<Option<Instant>>,
    /// The soft limit on open files, read beforehand: out of fds, `/proc` cannot be opened.
    limit: Option<u64>,
}

impl Default for FdLimitWarning {
    fn default() -> Self {
        FdLimitWarning {
            last: Mutex::default(),
            limit: open_files_limit(),
        }
    }
}

impl FdLimitWarning {
    /// The warning for `error` on `listener`, when one is due.
    pub(crate) fn due(&self, listener: &str, error: &io::Error) -> Option<String> {
        let mut last = lock(&self.last);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < FD_WARNING_INTERVAL) {
            return None;
        }
        *last = Some(now);
        let limit = self
            .limit
            .map_or(String::new(), |n| format!(" (the limit is {n})"));
        Some(format!(
            "{listener} cannot accept connections: {error}{limit}. Waiting clients are served as \
             connections close; raise the limit before starting mocket, e.g. `ulimit -n 65536`"
        ))
    }
}

/// Whether an accept failed because the process or system is out of file descriptors (or
/// socket memory): a pause, not a new attempt at once, can help.
pub(crate) fn out_of_fds(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOBUFS: i32 = 105;
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// When a listener of the engine's `accept` returns a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Accepts {
    /// Once its first bytes have come (`TCP_DEFER_ACCEPT`): the preamble, or a tagged client's
    /// request. The accepting thread wakes once per connection, with something to read.
    AtFirstBytes,
    /// At its handshake, for connections introduced by a source tag, where more than one CPU
    /// can run the engine: the accepting thread's wake-up (tens of µs on a virtual machine)
    /// then overlaps the client's own work between `connect` and its first write, instead of
    /// following that write; the thread polls for the first bytes for at most
    /// [`FIRST_BYTES_SPIN`] before it blocks. On one CPU the wake-up cannot overlap anything
    /// and the spin would only delay the client: tagged connections go to the engine listener.
    AtHandshake,
}

/// One listening socket of the engine, and how many threads wait in its `accept`.
pub(super) struct EngineListener {
    socket: TcpListener,
    accepts: Accepts,
    acceptors: AtomicUsize,
}

impl Engine {
    /// The port of the engine listener ([`Accepts::AtFirstBytes`]), started on first use: an
    /// engine that never redirects anything starts no thread.
    pub(super) fn listener_port(self: &Arc<Self>) -> io::Result<u16> {
        let mut port = lock(&self.listener_port);
        if let Some(p) = *port {
            return Ok(p);
        }
        let p = self.start_listener(Accepts::AtFirstBytes)?;
        *port = Some(p);
        Ok(p)
    }

    /// The port for connections introduced by a source tag: a listener that accepts them at
    /// their handshake where more than one CPU can run the engine, else the engine listener
    /// (see [`Accepts`]). Chosen on first use.
    pub(super) fn tagged_port(self: &Arc<Self>) -> io::Result<u16> {
        let mut port = lock(&self.tagged_port);
        if let Some(p) = *port {
            return Ok(p);
        }
        let several_cpus = thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        let p = match several_cpus {
            true => self.start_listener(Accepts::AtHandshake)?,
            false => self.listener_port()?,
        };
        *port = Some(p);
        Ok(p)
    }

    /// Starts a listener and its first acceptor; returns its port. Accepted connections
    /// inherit the listener's `TCP_NODELAY` and idle timeout, so that no option is set per
    /// connection.
    fn start_listener(self: &Arc<Self>, accepts: Accepts) -> io::Result<u16> {
        let socket = listen((Ipv4Addr::LOCALHOST, 0).into())?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(self.idle_timeout.0)?;
        socket.set_write_timeout(self.idle_timeout.0)?;
        if accepts == Accepts::AtFirstBytes {
            // Woken only once the preamble is there (a silent connection after PREAMBLE_WAIT).
            mocket_shim_api::defer_accept(&socket, PREAMBLE_WAIT.as_secs() as u32)?;
        }
        let socket: TcpListener = socket.into();
        let port = socket.local_addr()?.port();
        let listener = Arc::new(EngineListener {
            socket,
            accepts,
            acceptors: AtomicUsize::new(0),
        });
        let engine = Arc::clone(self);
        if !self.try_run_connection(move || engine.lead(listener)) {
            return Err(io::Error::other(
                "cannot start a thread to accept connections",
            ));
        }
        Ok(port)
    }

    /// A listener's accept loop, run by up to [`MAX_ACCEPTORS`] pooled threads at once:
    /// each serves the connection it accepted, then accepts again while fewer than that wait in
    /// `accept`, else returns to the pool. A thread that takes the last waiting place first
    /// starts another acceptor (an idle or new pooled thread), so that some thread always
    /// accepts. A thread returns to the pool, too, when connections queue for a thread.
    ///
    /// Why (measured, BENCHMARKS.md "New connections (issue 15)"): passing the accepting on per
    /// connection, and before that handing each connection from thread to thread, cost one to
    /// three wake-ups per connection more than a loopback server.
    fn lead(self: Arc<Self>, listener: Arc<EngineListener>) {
        let mut spin = Spin::new(FIRST_BYTES_SPIN);
        loop {
            let reserved =
                listener
                    .acceptors
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < MAX_ACCEPTORS).then_some(n + 1)
                    });
            if reserved.is_err() {
                return; // Enough threads accept: this one goes back to the pool.
            }
            let accepted = self.accept_one(&listener.socket, "the engine listener");
            let others = listener.acceptors.fetch_sub(1, Ordering::AcqRel) - 1;
            let Some((stream, peer)) = accepted else {
                continue;
            };
            let active = Active::new(&self);
            if others == 0 {
                let engine = Arc::clone(&self);
                let next = Arc::clone(&listener);
                if !self.try_run_connection(move || engine.lead(next)) {
                    // Every thread is busy and no other accepts: serve this connection here,
                    // then accept again (the listen backlog holds new clients meanwhile).
                    // Queuing it would leave it to a free thread, and with every thread busy
                    // the only one that could come free is this one, which would be accepting.
                    self.serve_accepted(stream, peer, listener.accepts, &mut spin);
                    drop(active);
                    continue;
                }
            }
            self.serve_accepted(stream, peer, listener.accepts, &mut spin);
            drop(active);
            if self.pool.has_queued() {
                return; // Connections wait for a thread: this one takes them first.
            }
        }
    }

    pub(super) fn spawn(
        &self,
        name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> io::Result<thread::JoinHandle<()>> {
        let hook = self.thread_hook;
        thread::Builder::new().name(name.into()).spawn(move || {
            if let Some(hook) = hook {
                hook();
            }
            work()
        })
    }

    /// Accepts connections on `listener` until the process exits.
    pub(super) fn accept_loop(
        &self,
        listener: &TcpListener,
        name: &str,
        mut handle: impl FnMut(TcpStream),
    ) {
        loop {
            if let Some((stream, _)) = self.accept_one(listener, name) {
                handle(stream);
            }
        }
    }

    /// Accepts one connection on `listener`, after waiting while too many connections wait for
    /// a thread; `None` after a failed accept, pausing (and saying why, once in a while) when
    /// out of file descriptors instead of spinning.
    fn accept_one(&self, listener: &TcpListener, name: &str) -> Option<(TcpStream, SocketAddr)> {
        self.pool.wait_for_room();
        match listener.accept() {
            Ok(accepted) => return Some(accepted),
            Err(e) if out_of_fds(&e) => {
                self.warn_fd_limit(name, &e);
                thread::sleep(FD_BACKOFF);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            // Anything else: not a busy loop either.
            Err(_) => thread::sleep(FD_BACKOFF),
        }
        None
    }

    /// Says that `listener` is out of file descriptors, at most once in a while.
    pub(crate) fn warn_fd_limit(&self, listener: &str, error: &io::Error) {
        if let Some(warning) = self.fd_warning.due(listener, error) {
            self.warn(&warning);
        }
    }

    /// Serves a connection of the engine listener on this thread once its source tag (from
    /// `peer`) or its preamble says who connected and where to; one with neither a tag this
    /// engine issued nor a whole, valid preamble is closed and logged.
    fn serve_accepted(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        accepts: Accepts,
        spin: &mut Spin,
    ) {
        let tagged = SourceTags::is_tag_address(peer.ip());
        if accepts == Accepts::AtHandshake {
            self.await_first_bytes(&stream, tagged, spin);
        }
        if !tagged {
            return self.serve_after_preamble(stream, false);
        }
        match self.source_tags.tagged(peer.ip()) {
            Some(who) => self.serve_introduced(stream, who.pid, who.dest),
            None => self.refuse_unintroduced(&stream, &Unintroduced::UnknownTag),
        }
    }

    /// Waits briefly for the first bytes of a connection accepted at its handshake: spinning
    /// (see [`FIRST_BYTES_SPIN`]), then, for one without a tag (a preamble on the tagged port:
    /// the shim's fallback where the application bound the socket itself), inline like any
    /// first byte. A tagged connection that has not spoken yet waits where its protocol's
    /// driver is picked.
    fn await_first_bytes(&self, stream: &TcpStream, tagged: bool, spin: &mut Spin) {
        spin.arm();
        let spoke = spin_for(spin, || {
            readable_within(stream, Duration::ZERO).then_some(())
        });
        if spoke.is_none() && !tagged {
            self.spoke_soon(stream);
        }
    }

    /// Serves a connection without a source tag once its preamble says who connected and
    /// where to; one without a whole, valid preamble is closed and logged. One with no byte of
    /// it yet goes to the waiting room, unless `waited` (it comes from there):
    /// `TCP_DEFER_ACCEPT` let it be accepted without data, so its preamble is held by the
    /// kernel until the application writes (a client-first redirect, issue 15).
    pub(super) fn serve_after_preamble(self: &Arc<Self>, stream: TcpStream, waited: bool) {
        let preamble = match read_preamble(&stream, waited) {
            Ok(preamble) => preamble,
            Err(Unintroduced::Closed) => return, // Connected and closed at once: nothing to serve.
            Err(Unintroduced::NotYet) => return self.serve_when_introduced(stream),
            Err(why) => return self.refuse_unintroduced(&stream, &why),
        };
        let dest = SocketAddr::new(preamble.addr, preamble.port);
        self.serve_introduced(stream, preamble.pid, dest);
    }

    /// Serves a connection from process `pid`, which meant to connect to `to`.
    fn serve_introduced(self: &Arc<Self>, stream: TcpStream, pid: u32, to: SocketAddr) {
        match self.host_of(to.ip()) {
            Ok((host, _)) => {
                let dest = Destination::new(&host, to.port());
                let claim = Claim {
                    pid,
                    dest,
                    local: Some(to),
                };
                Arc::clone(self).serve(stream, claim);
            }
            Err(Reply::Refuse(why)) => {
                self.refuse_unintroduced(&stream, &Unintroduced::Refused(why))
            }
            Err(other) => {
                self.refuse_unintroduced(&stream, &Unintroduced::Refused(format!("{other:?}")))
            }
        }
    }

    /// Says why a connection to the engine listener is closed without being served.
    fn refuse_unintroduced(&self, stream: &TcpStream, why: &Unintroduced) {
        self.warn(&format!(
            "closed a connection to the engine from {} without serving it: {why}",
            stream
                .peer_addr()
                .map_or("an unknown port".into(), |a| a.to_string()),
        ));
    }

    /// Serves a claimed connection: protocols whose client speaks first wait for it in the
    /// waiting room (no thread), the others are served at once.
    pub(super) fn serve(self: Arc<Self>, stream: TcpStream, claim: Claim) {
        let spoken = self
            .entry_set(&claim.dest)
            .and_then(|set| ClientFirst::serving(&set).map(|protocol| (set, protocol)));
        match spoken {
            Some((set, protocol)) => self.serve_when_spoken(stream, claim, set, protocol),
            None => self.serve_claimed(stream, claim),
        }
    }

    /// Serves a claimed connection on this thread. Its protocol is that of the first
    /// candidate entry when it starts; HTTP picks its candidates again for each request.
    ///
    /// The connection already has `TCP_NODELAY` and the idle timeout: inherited from the engine
    /// listener, set by `mocket serve`'s accept loop.
    pub(super) fn serve_claimed(self: Arc<Self>, stream: TcpStream, claim: Claim) {
        let Some(set) = self.entry_set(&claim.dest) else {
            return;
        };
        if set.is_empty() && self.recorder.is_some() {
            // The record proxy keeps its own timeouts.
            IdleTimeout(None).apply(&stream);
            return self.serve_recorded(stream, &claim);
        }
        self.connected(&claim);
        let Some(kind) = set.ids().next().map(|i| set.entry(i).kind()) else {
            let event = claim.event("tcp", Action::Unmatched);
            return self.count_unmatched(&claim, "tcp", "no entry".into(), event);
        };
        match ClientFirst::of(kind) {
            Some(protocol) => self.serve_spoken(stream, &claim, set, protocol, Vec::new()),
            None => self.serve_tcp(stream, &claim, &set),
        }
    }

    /// Says (at level info) that a claimed connection is served.
    pub(super) fn connected(&self, claim: &Claim) {
        self.info(&format!("pid {} connected to {}", claim.pid, claim.dest));
    }

    /// Serves a connection of a protocol whose client speaks first with the driver of
    /// `protocol`, `first` being what the client sent that was read already (or nothing).
    pub(super) fn serve_spoken(
        &self,
        stream: TcpStream,
        claim: &Claim,
        set: EntrySet,
        protocol: ClientFirst,
        first: Vec<u8>,
    ) {
        match protocol {
            ClientFirst::Http => self.serve_http_or_https(stream, claim, first),
            ClientFirst::Redis => self.serve_redis(stream, claim, set, first),
            ClientFirst::Kubernetes => self.serve_kubernetes(stream, claim, &set, first),
        }
    }
}

/// A protocol whose client speaks first: the engine reads before it writes anything. Knowing
/// it lets the shim hold a connection's preamble back until the client's first bytes, so that
/// both travel in one segment ([`Redirect::client_first`], issue 15), and lets the thread that
/// accepted a connection read those bytes before it picks the driver.
///
/// [`Redirect::client_first`]: crate::control::Redirect::client_first
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientFirst {
    /// HTTP, or HTTPS: a TLS client speaks first too (its ClientHello).
    Http,
    Redis,
    /// An HTTP or HTTPS API server.
    Kubernetes,
}

impl ClientFirst {
    /// The protocol of `kind` when its client speaks first; `None` for raw TCP, whose entries
    /// may greet the client before it says anything.
    pub(super) fn of(kind: Kind) -> Option<ClientFirst> {
        match kind {
            Kind::Http => Some(ClientFirst::Http),
            Kind::Redis => Some(ClientFirst::Redis),
            Kind::Kubernetes => Some(ClientFirst::Kubernetes),
            Kind::Tcp => None,
        }
    }

    /// The protocol a connection to `set` is served with now (that of its first candidate),
    /// when its client speaks first.
    pub(super) fn serving(set: &EntrySet) -> Option<ClientFirst> {
        let first = set.ids().next()?;
        ClientFirst::of(set.entry(first).kind())
    }

    /// Whether every candidate of `set` is of a protocol whose client speaks first (and there
    /// is one): then whichever serves a connection, the engine never writes first, even after
    /// some entries are used up. A destination without entries is recorded or refused, where
    /// the real server may greet.
    pub(super) fn throughout(set: &EntrySet) -> bool {
        !set.is_empty()
            && set
                .ids()
                .all(|i| ClientFirst::of(set.entry(i).kind()).is_some())
    }
}

/// The most a driver reads at once.
pub(super) const FIRST_READ: usize = 64 * 1024;

/// How much the thread that accepted a connection reads at once of a client that spoke first,
/// and the size a driver's read buffer starts at (it doubles, up to [`FIRST_READ`], while reads
/// fill it). Small: zeroing 64 KB buffers per connection cost about 30 µs per HTTPS connection
/// on the benchmark host (BENCHMARKS.md, issue 15); a request that came in one segment fits.
pub(super) const READ_START: usize = 8 * 1024;

/// A driver's read buffer, starting with the bytes `first` already read.
pub(super) fn read_buffer(first: Vec<u8>) -> Vec<u8> {
    let mut buf = first;
    buf.resize(READ_START.max(buf.len()), 0);
    buf
}

/// Grows `buf` (up to [`FIRST_READ`]) when a read of `n` bytes filled it.
pub(super) fn grow_if_filled(buf: &mut Vec<u8>, n: usize) {
    if n == buf.len() && buf.len() < FIRST_READ {
        buf.resize((buf.len() * 2).min(FIRST_READ), 0);
    }
}

/// What the client of `stream` has sent already, read without waiting (one `recvfrom`): a
/// request that came with the preamble (one segment) needs no `poll` and no peek before it is
/// served. `None` when nothing is there yet, and at the end of the stream or an error (which the
/// driver's own read meets again).
pub(super) fn read_ready(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut first = [0u8; READ_START];
    loop {
        match rustix::net::recv(stream, &mut first, RecvFlags::DONTWAIT) {
            Ok((_, 0)) => return None,
            Ok((_, n)) => return Some(first[..n].to_vec()),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// Why no preamble was read from a connection.
#[derive(Debug)]
enum Unintroduced {
    /// The client closed the connection before sending anything.
    Closed,
    /// Nothing has come yet, and the caller does not wait for the first byte.
    NotYet,
    /// Fewer bytes than a preamble within [`PREAMBLE_WAIT`], or a read error.
    Missing { got: usize, why: String },
    /// The bytes are not a preamble.
    Garbled(PreambleError),
    /// The preamble names an address the engine cannot serve.
    Refused(String),
    /// The connection comes from a source tag's address this engine never issued.
    UnknownTag,
}

impl std::fmt::Display for Unintroduced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unintroduced::Closed => write!(f, "the client closed it at once"),
            Unintroduced::NotYet => write!(f, "nothing came yet"),
            Unintroduced::Missing { got, why } => write!(
                f,
                "{why} after {got} of the {} bytes of mocket's preamble (only connections \
                 redirected by libmocket.so or `mocket run --seccomp` may connect to the \
                 engine's port)",
                preamble::LEN
            ),
            Unintroduced::Garbled(e) => write!(f, "{e}"),
            Unintroduced::Refused(why) => write!(f, "{why}"),
            Unintroduced::UnknownTag => write!(
                f,
                "it comes from a source-tag address this engine never handed out (only \
                 connections redirected by libmocket.so may connect to the engine's port)"
            ),
        }
    }
}

/// Reads exactly the [`preamble::LEN`] bytes of a connection's preamble, waiting at most
/// [`PREAMBLE_WAIT`]; never a byte of what follows. Normally one `recvfrom`: the shim wrote
/// the preamble before its `connect` returned (and `TCP_DEFER_ACCEPT` wakes `accept` once
/// bytes came). Without `wait_for_first`, a connection with nothing to read yet is
/// [`Unintroduced::NotYet`] at once.
fn read_preamble(stream: &TcpStream, wait_for_first: bool) -> Result<Preamble, Unintroduced> {
    let mut buf = [0u8; preamble::LEN];
    let mut got = 0;
    let deadline = Instant::now() + PREAMBLE_WAIT;
    while got < buf.len() {
        match rustix::net::recv(stream, &mut buf[got..], RecvFlags::DONTWAIT) {
            Ok((_, 0)) if got == 0 => return Err(Unintroduced::Closed),
            Ok((_, 0)) => {
                let why = "the client closed the connection".into();
                return Err(Unintroduced::Missing { got, why });
            }
            Ok((_, n)) => got += n,
            Err(rustix::io::Errno::AGAIN) if got == 0 && !wait_for_first => {
                return Err(Unintroduced::NotYet);
            }
            Err(rustix::io::Errno::AGAIN) => {
                if !readable_within(stream, deadline.saturating_duration_since(Instant::now())) {
                    let why = format!("nothing more came within {} s", PREAMBLE_WAIT.as_secs());
                    return Err(Unintroduced::Missing { got, why });
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CONNRESET) if got == 0 => return Err(Unintroduced::Closed),
            Err(e) => {
                let why = format!("reading failed ({e})");
                return Err(Unintroduced::Missing { got, why });
            }
        }
    }
    Preamble::decode(&buf).map_err(Unintroduced::Garbled)
}

/// Whether `stream` has something to read (or was closed) within `wait`: one `poll`, no socket
/// option changed.
pub(super) fn readable_within(stream: &TcpStream, wait: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let timeout = Timespec {
        tv_sec: wait.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: wait.subsec_nanos().into(),
    };
    let mut fds = [PollFd::new(stream, PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => {}
            // Serve it: reading will tell what is wrong.
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Redirect;
    use std::io::{Read, Write};

    /// Resolves and routes like the shim, connects, and writes `preamble` (what it gets for the
    /// routed destination; `late` after the connect, as a busy client may), then a request;
    /// returns the response.
    fn get_with(
        engine: &Arc<Engine>,
        late: Duration,
        preamble: impl FnOnce(Preamble) -> Vec<u8>,
    ) -> String {
        use crate::control::{Request, Transport};
        let Reply::Fake(ip) = engine.handle(Request::Resolve {
            pid: 1,
            name: "a.test".into(),
        }) else {
            panic!("no fake address")
        };
        let route = Request::Route {
            pid: 1,
            transport: Transport::Tcp,
            addr: ip.into(),
            port: 80,
        };
        let Reply::Redirect(Redirect { port, .. }) = engine.handle(route) else {
            panic!("not redirected")
        };
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        thread::sleep(late);
        let bytes = preamble(Preamble {
            pid: 4242,
            addr: ip.into(),
            port: 80,
        });
        stream.write_all(&bytes).unwrap();
        thread::sleep(late);
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    }

    fn get_late(engine: &Arc<Engine>, late: Duration) -> String {
        get_with(engine, late, |p| p.encode().to_vec())
    }

    /// Resolves `name` and routes it to `port` as process `pid` would through the shim.
    fn route_as(engine: &Arc<Engine>, pid: u32, name: &str, port: u16) -> Reply {
        use crate::control::{Request, Transport};
        let Reply::Fake(ip) = engine.handle(Request::Resolve {
            pid,
            name: name.into(),
        }) else {
            panic!("no fake address")
        };
        engine.handle(Request::Route {
            pid,
            transport: Transport::Tcp,
            addr: ip.into(),
            port,
        })
    }

    /// Connects to the engine's `port` from `source` (a source tag) or any address, writes
    /// `preamble` and, `late`, a request for `http://a.test/`; returns the response.
    fn get_from(source: Option<Ipv4Addr>, port: u16, late: Duration, preamble: &[u8]) -> String {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        if let Some(source) = source {
            socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
        }
        socket
            .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
            .unwrap();
        let mut stream = TcpStream::from(socket);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(preamble).unwrap();
        thread::sleep(late);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    }

    const ONE_ENTRY: &str =
        r#"{"entries": [{"http": "GET http://a.test/", "response": {"body": "fine"}}]}"#;

    /// A connection whose preamble and request come right after its connect is served by the
    /// thread that accepted it: the waiting room (one more thread hand-off) is not started.
    #[test]
    fn a_new_connection_is_served_where_it_was_accepted() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        for _ in 0..20 {
            let response = get_late(&engine, Duration::ZERO);
            assert!(response.ends_with("fine"), "{response:?}");
        }
        assert!(
            !engine.waiting_room.is_open(),
            "the waiting room was needed"
        );
        assert_eq!(engine.report().mocked, 20);
        // About the acceptors and the thread of the last connection, not a thread per
        // connection (on a loaded machine an acceptor may start a little before another has
        // taken its place, so a few more).
        assert!(
            engine.pool.threads() <= MAX_ACCEPTORS + 4,
            "{} threads",
            engine.pool.threads()
        );
    }

    /// Past [`INLINE_WAIT`], a late preamble and a late first byte still get the connection
    /// served, the latter through the waiting room.
    #[test]
    fn a_late_preamble_and_a_late_request_are_still_served() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let response = get_late(&engine, INLINE_WAIT * 20);
        assert!(response.ends_with("fine"), "{response:?}");
        assert!(engine.waiting_room.is_open());
    }

    /// The journal and report name the pid and destination of the preamble.
    #[test]
    fn the_preamble_names_the_process_and_destination() {
        let journal_file = std::env::temp_dir().join(format!(
            "mocket-preamble-journal-{}.jsonl",
            std::process::id()
        ));
        let journal = crate::journal::Journal::open(Some(&journal_file)).unwrap();
        let config = mocket_config::Config::parse(ONE_ENTRY, "m.json", ".".as_ref()).map(Arc::new);
        let engine = Engine::with_config(config, mocket_config::LogLevel::Error, journal, None);
        let response = get_late(&engine, Duration::ZERO);
        assert!(response.ends_with("fine"), "{response:?}");
        engine.wait_idle(Duration::from_secs(5));
        let written = std::fs::read_to_string(&journal_file).unwrap();
        let _ = std::fs::remove_file(&journal_file);
        assert!(written.contains(r#""pid":4242"#), "{written}");
        assert!(written.contains(r#""host":"a.test""#), "{written}");
    }

    /// A driver's read buffer starts small with the bytes already read, and doubles up to
    /// [`FIRST_READ`] only while reads fill it.
    #[test]
    fn a_read_buffer_grows_only_when_reads_fill_it() {
        let mut buf = read_buffer(b"GET".to_vec());
        assert_eq!((&buf[..3], buf.len()), (&b"GET"[..], READ_START));
        grow_if_filled(&mut buf, 100);
        assert_eq!(buf.len(), READ_START);
        grow_if_filled(&mut buf, READ_START);
        assert_eq!((&buf[..3], buf.len()), (&b"GET"[..], 2 * READ_START));
        for _ in 0..10 {
            let n = buf.len();
            grow_if_filled(&mut buf, n);
        }
        assert_eq!(buf.len(), FIRST_READ);
        assert_eq!(read_buffer(vec![7; FIRST_READ]).len(), FIRST_READ);
    }

    /// A connection from the source tag its route named is served with no preamble, in the
    /// name of the process that asked for the route; a raw TCP destination (its server may
    /// greet first) gets no tag.
    #[test]
    fn a_tagged_connection_needs_no_preamble() {
        let journal_file =
            std::env::temp_dir().join(format!("mocket-tag-journal-{}.jsonl", std::process::id()));
        let journal = crate::journal::Journal::open(Some(&journal_file)).unwrap();
        let mocks = r#"{"entries": [
            {"http": "GET http://a.test/", "response": {"body": "fine"}},
            {"tcp": "b.test:9000", "greeting": "hi\r\n", "response": "ok"}
        ]}"#;
        let config = mocket_config::Config::parse(mocks, "m.json", ".".as_ref()).map(Arc::new);
        let engine = Engine::with_config(config, mocket_config::LogLevel::Error, journal, None);
        let route = |name: &str, port| route_as(&engine, 77, name, port);
        let Reply::Redirect(Redirect { from: None, .. }) = route("b.test", 9000) else {
            panic!("a raw TCP destination was tagged")
        };
        let Reply::Redirect(Redirect {
            port,
            from: Some(tag),
            ..
        }) = route("a.test", 80)
        else {
            panic!("not redirected with a tag")
        };
        let response = get_from(Some(tag.address()), port, Duration::ZERO, &[]);
        assert!(response.ends_with("fine"), "{response:?}");
        engine.wait_idle(Duration::from_secs(5));
        let written = std::fs::read_to_string(&journal_file).unwrap();
        let _ = std::fs::remove_file(&journal_file);
        assert!(written.contains(r#""pid":77"#), "{written}");
    }

    /// Tagged connections go to a listener that accepts them at their handshake where more
    /// than one CPU can run the engine (else to the engine listener). A client that writes
    /// past the accepting thread's spin, and one that falls back to a preamble on that port
    /// (its socket was bound by the application), are served all the same.
    #[test]
    fn tagged_connections_are_accepted_at_their_handshake_on_several_cpus() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let Reply::Redirect(Redirect {
            port,
            from: Some(tag),
            ..
        }) = route_as(&engine, 78, "a.test", 80)
        else {
            panic!("not redirected with a tag")
        };
        let several_cpus = thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        assert_eq!(port != engine.listener_port().unwrap(), several_cpus);
        let late = get_from(Some(tag.address()), port, FIRST_BYTES_SPIN * 200, &[]);
        assert!(late.ends_with("fine"), "{late:?}");
        let Reply::Fake(ip) = engine.handle(crate::control::Request::Resolve {
            pid: 79,
            name: "a.test".into(),
        }) else {
            panic!("no fake address")
        };
        let preamble = Preamble {
            pid: 79,
            addr: ip.into(),
            port: 80,
        };
        let introduced = get_from(None, port, Duration::ZERO, &preamble.encode());
        assert!(introduced.ends_with("fine"), "{introduced:?}");
        assert_eq!(engine.report().mocked, 2);
    }

    /// A connection whose first bytes are not a whole, valid preamble is closed unanswered,
    /// never served from a guess; the next connection is served.
    #[test]
    fn a_missing_or_garbled_preamble_is_refused() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let garbled: [fn(Preamble) -> Vec<u8>; 4] = [
            |_| Vec::new(),
            |p| p.encode()[..10].to_vec(),
            |p| {
                let mut b = p.encode();
                b[0] = b'G';
                b.to_vec()
            },
            |p| {
                let mut b = p.encode();
                b[4] = 9;
                b.to_vec()
            },
        ];
        for preamble in garbled {
            let response = get_with(&engine, Duration::ZERO, preamble);
            assert_eq!(response, "", "served without a preamble");
        }
        // An address the engine never handed out.
        let response = get_with(&engine, Duration::ZERO, |p| {
            Preamble {
                addr: "198.18.255.254".parse().unwrap(),
                ..p
            }
            .encode()
            .to_vec()
        });
        assert_eq!(response, "");
        assert_eq!(engine.report().mocked, 0);
        let response = get_late(&engine, Duration::ZERO);
        assert!(response.ends_with("fine"), "{response:?}");
    }

    #[test]
    fn a_preamble_is_read_exactly_and_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let sent = Preamble {
            pid: 9,
            addr: "::1".parse().unwrap(),
            port: 443,
        };
        // Split in two writes, followed by the application's bytes: exactly the preamble is read.
        let bytes = sent.encode();
        client.write_all(&bytes[..5]).unwrap();
        thread::sleep(Duration::from_millis(20));
        client.write_all(&bytes[5..]).unwrap();
        client.write_all(b"GET").unwrap();
        assert_eq!(read_preamble(&server, true).unwrap(), sent);
        let mut rest = [0u8; 3];
        (&server).read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"GET");
        // A client that closes at once is told apart from a missing preamble.
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client);
        assert!(matches!(
            read_preamble(&server, true),
            Err(Unintroduced::Closed)
        ));
        client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"MKT").unwrap();
        let start = Instant::now();
        let read = read_preamble(&server, true);
        assert!(
            matches!(read, Err(Unintroduced::Missing { got: 3, .. })),
            "{read:?}"
        );
        assert!(start.elapsed() >= PREAMBLE_WAIT);
        assert!(start.elapsed() < PREAMBLE_WAIT * 3);
    }

    /// With one connection thread, connections are still accepted and served one after the
    /// other: the accepting thread never holds the only thread.
    #[test]
    fn one_thread_is_enough() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let mut engine = Arc::try_unwrap(engine).ok().expect("a fresh engine");
        engine.pool = super::super::pool::ConnectionPool::with_limit(1);
        let engine = Arc::new(engine);
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let engine = Arc::clone(&engine);
                thread::spawn(move || get_late(&engine, Duration::ZERO))
            })
            .collect();
        for client in clients {
            let response = client.join().unwrap();
            assert!(response.ends_with("fine"), "{response:?}");
        }
        assert!(
            engine.pool.threads() <= 2,
            "{} threads",
            engine.pool.threads()
        );
    }

    /// Connects like the shim to a destination whose client speaks first: the preamble and
    /// the client's `first` bytes in one write (one segment), as `MSG_MORE` sends them.
    fn coalesced(engine: &Arc<Engine>, host: &str, port: u16, first: &[u8]) -> TcpStream {
        use crate::control::{Request, Transport};
        let ip = engine.fake_ip_of(host).unwrap();
        let route = Request::Route {
            pid: 1,
            transport: Transport::Tcp,
            addr: ip.into(),
            port,
        };
        let Reply::Redirect(Redirect {
            port: engine_port,
            client_first: true,
            ..
        }) = engine.handle(route)
        else {
            panic!("not a client-first redirect")
        };
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, engine_port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let preamble = Preamble {
            pid: 7,
            addr: ip.into(),
            port,
        };
        let mut bytes = preamble.encode().to_vec();
        bytes.extend_from_slice(first);
        stream.write_all(&bytes).unwrap();
        stream
    }

    /// First bytes that came with the preamble are read by the accepting thread and handed to
    /// the driver, none lost or read twice: HTTP (two pipelined requests, the second cut in
    /// half) and Redis.
    #[test]
    fn first_bytes_that_came_with_the_preamble_are_served() {
        let engine = super::super::tests::engine(
            r#"{"entries": [
                {"http": "GET http://a.test/", "response": {"body": "fine"}},
                {"redis": "r.test:6379", "command": ["GET", "k"], "response": "v"}]}"#,
        );
        let mut http = coalesced(
            &engine,
            "a.test",
            80,
            b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a.t",
        );
        thread::sleep(Duration::from_millis(20));
        http.write_all(b"est\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        http.read_to_string(&mut response).unwrap();
        assert_eq!(response.matches("fine").count(), 2, "{response:?}");
        let mut redis = coalesced(&engine, "r.test", 6379, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        let mut reply = [0u8; 7];
        redis.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"$1\r\nv\r\n");
        assert!(
            !engine.waiting_room.is_open(),
            "the waiting room was needed"
        );
    }

    /// A client-first connection whose preamble the kernel holds for seconds (until the
    /// application writes, or its probe timer fires late) is accepted without data once
    /// `TCP_DEFER_ACCEPT` expires: it waits in the waiting room for its preamble, as a
    /// connection whose preamble came at once waits there for its request, instead of being
    /// closed [`PREAMBLE_WAIT`] after the accept.
    #[test]
    fn a_preamble_held_past_the_deferred_accept_is_still_served() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let response = get_with(&engine, Duration::ZERO, |p| {
            thread::sleep(PREAMBLE_WAIT * 3);
            p.encode().to_vec()
        });
        assert!(response.ends_with("fine"), "{response:?}");
        assert!(engine.waiting_room.is_open(), "served without waiting");
    }

    /// The accepting thread's read never waits: what is there, or nothing at once.
    #[test]
    fn first_bytes_are_read_without_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let start = Instant::now();
        assert_eq!(read_ready(&server), None);
        assert!(start.elapsed() < Duration::from_secs(1), "it waited");
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            read_ready(&server).as_deref(),
            Some(&b"GET / HTTP/1.1\r\n"[..])
        );
        assert_eq!(read_ready(&server), None);
        drop(client);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(read_ready(&server), None, "the end of the stream");
    }

    #[test]
    fn out_of_fds_is_told_apart() {
        assert!(out_of_fds(&io::Error::from_raw_os_error(24)));
        assert!(out_of_fds(&io::Error::from_raw_os_error(23)));
        assert!(!out_of_fds(&io::Error::from_raw_os_error(103)));
        let warning = FdLimitWarning::default();
        let e = io::Error::from_raw_os_error(24);
        let text = warning.due("the engine listener", &e).unwrap();
        assert!(text.contains("ulimit -n"), "{text}");
        assert!(text.contains("(the limit is "), "{text}");
        assert!(
            warning.due("the engine listener", &e).is_none(),
            "rate-limited"
        );
    }
}
