//! The engine's loopback listener and the dispatch of each redirected connection to the
//! protocol of its destination's entries.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::pool::Active;
use super::{Claim, Engine, lock};
use crate::journal::Action;
use mocket_config::Kind;

/// How long an accepted connection waits for its claim: the shim sends it right after its
/// `connect` returns, so this only bounds a client that died in between.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// How long the thread that accepted a connection waits for its claim, and then for its first
/// byte, before handing it on (to the claim waiter, to the waiting room): the shim claims right
/// after `connect` returns and clients speak right after, so this is normally microseconds,
/// but a loaded host can deschedule a client for milliseconds; short, so that a burst of silent
/// connections holds few threads (at 10 000 connections/s, 100).
pub(super) const INLINE_WAIT: Duration = Duration::from_millis(10);

/// How many threads may wait [`INLINE_WAIT`] for a claim, and how many for a first byte, at
/// once: past that, a connection goes to the claim waiter or the waiting room at once, so that
/// a burst of silent connections (5 000 held open by a test) holds few threads.
pub(super) const INLINE_WAITERS: usize = 8;

/// How long a claim waits for its connection. The connection is normally accepted before the
/// claim arrives or within milliseconds after; a claim whose connection never comes (it was
/// reset before the accept, or the accept loop waited out a burst) is dropped after this.
const CLAIM_TTL: Duration = Duration::from_secs(60);

/// The listen backlog of the engine's listener: where clients wait while the accept loop
/// applies back-pressure (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// How long an accept loop pauses when the process is out of file descriptors: long enough
/// not to spin, short enough that waiting clients are served soon after fds free up.
const FD_BACKOFF: Duration = Duration::from_millis(50);

/// How often the "out of file descriptors" warning may repeat.
const FD_WARNING_INTERVAL: Duration = Duration::from_secs(30);

/// Claims not yet taken by their connection, by the client's local port, and connections
/// accepted before their claim arrived.
#[derive(Default)]
pub(super) struct ClaimTable {
    by_port: HashMap<u16, (Claim, Instant)>,
    swept: Option<Instant>,
    /// Connections waiting for their claim, oldest first. One thread (the claim waiter) watches
    /// them all: a burst of connects outruns the shim's claims, and a pool thread per waiting
    /// connection made 5 000 idle connections cost hundreds of threads.
    unclaimed: VecDeque<Unclaimed>,
    /// Whether the claim waiter runs.
    waiter: bool,
    /// Threads waiting for a claim on the thread that accepted its connection.
    waiting_inline: usize,
}

/// A connection accepted before its claim.
struct Unclaimed {
    stream: TcpStream,
    local_port: u16,
    accepted: Instant,
    active: Active,
}

impl ClaimTable {
    pub(super) fn insert(&mut self, local_port: u16, claim: Claim, now: Instant) {
        self.sweep(now);
        self.by_port.insert(local_port, (claim, now));
    }

    fn take(&mut self, local_port: u16, now: Instant) -> Option<Claim> {
        let (claim, at) = self.by_port.remove(&local_port)?;
        (now.duration_since(at) < CLAIM_TTL).then_some(claim)
    }

    /// Drops expired claims, at most a few times per [`CLAIM_TTL`].
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|s| now.duration_since(s) < CLAIM_TTL / 4)
        {
            return;
        }
        self.by_port
            .retain(|_, (_, at)| now.duration_since(*at) < CLAIM_TTL);
        self.swept = Some(now);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_port.len()
    }
}

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

impl Engine {
    /// The port of the listener, started on first use: an engine that never redirects anything
    /// starts no thread.
    pub(super) fn listener_port(self: &Arc<Self>) -> io::Result<u16> {
        let mut port = lock(&self.listener_port);
        if let Some(p) = *port {
            return Ok(p);
        }
        let listener = Arc::new(listen((Ipv4Addr::LOCALHOST, 0).into())?);
        let p = listener.local_addr()?.port();
        let engine = Arc::clone(self);
        if !self.try_run_connection(move || engine.lead(listener)) {
            return Err(io::Error::other(
                "cannot start a thread to accept connections",
            ));
        }
        *port = Some(p);
        Ok(p)
    }

    /// The engine listener's accept loop, as leader/followers: the thread that accepts a
    /// connection passes the accepting on to an idle (or new) pooled thread and serves the
    /// connection itself, so a new connection changes threads only when the pool is full.
    ///
    /// Why (measured, BENCHMARKS.md "New connections (issue 15)"): handing each accepted
    /// connection to a pooled thread, which then handed it to the waiting room until its first
    /// byte, which handed it to a pooled thread again, cost three or four wake-ups per
    /// connection where a loopback server has one or two.
    fn lead(self: Arc<Self>, listener: Arc<TcpListener>) {
        loop {
            let Some(stream) = self.accept_one(&listener, "the engine listener") else {
                continue;
            };
            let engine = Arc::clone(&self);
            let next = Arc::clone(&listener);
            if self.try_run_connection(move || engine.lead(next)) {
                return self.serve_accepted(stream);
            }
            // Every thread is busy: keep accepting, the connection waits for a thread.
            self.accepted(stream);
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
            if let Some(stream) = self.accept_one(listener, name) {
                handle(stream);
            }
        }
    }

    /// Accepts one connection on `listener`, after waiting while too many connections wait for
    /// a thread; `None` after a failed accept, pausing (and saying why, once in a while) when
    /// out of file descriptors instead of spinning.
    fn accept_one(&self, listener: &TcpListener, name: &str) -> Option<TcpStream> {
        self.pool.wait_for_room();
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
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

    /// Serves a redirected connection on this thread when its claim comes within
    /// [`INLINE_WAIT`], else hands it to the claim waiter.
    fn serve_accepted(self: &Arc<Self>, stream: TcpStream) {
        let active = Active::new(self);
        let Ok(peer) = stream.peer_addr() else {
            return; // The client connected and reset at once: nothing to serve.
        };
        let deadline = Instant::now() + INLINE_WAIT;
        let mut claims = lock(&self.claims);
        let mut waiting = false;
        loop {
            let now = Instant::now();
            if let Some(claim) = claims.take(peer.port(), now) {
                claims.waiting_inline -= usize::from(waiting);
                drop(claims);
                Arc::clone(self).serve(stream, claim);
                drop(active);
                return;
            }
            let left = deadline
                .checked_duration_since(now)
                .filter(|d| !d.is_zero());
            let Some(left) = left.filter(|_| waiting || claims.waiting_inline < INLINE_WAITERS)
            else {
                break;
            };
            if !waiting {
                claims.waiting_inline += 1;
                waiting = true;
            }
            claims = self
                .claimed
                .wait_timeout(claims, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        claims.waiting_inline -= usize::from(waiting);
        self.await_claim(claims, stream, peer.port(), active);
    }

    /// Serves a redirected connection once its claim is known: at once when the shim's claim
    /// arrived first, else from the claim waiter.
    fn accepted(self: &Arc<Self>, stream: TcpStream) {
        let active = Active::new(self);
        let Ok(peer) = stream.peer_addr() else {
            return; // The client connected and reset at once: nothing to serve.
        };
        let mut claims = lock(&self.claims);
        if let Some(claim) = claims.take(peer.port(), Instant::now()) {
            drop(claims);
            return self.dispatch(stream, claim, active);
        }
        self.await_claim(claims, stream, peer.port(), active);
    }

    /// Hands a connection whose claim has not come to the claim waiter (started if needed).
    fn await_claim(
        self: &Arc<Self>,
        mut claims: std::sync::MutexGuard<'_, ClaimTable>,
        stream: TcpStream,
        local_port: u16,
        active: Active,
    ) {
        claims.unclaimed.push_back(Unclaimed {
            stream,
            local_port,
            accepted: Instant::now(),
            active,
        });
        let start = !std::mem::replace(&mut claims.waiter, true);
        drop(claims);
        self.claimed.notify_all();
        if start {
            let engine = Arc::clone(self);
            if let Err(e) = self.spawn("mocket-claims", move || engine.wait_for_claims()) {
                lock(&self.claims).waiter = false;
                self.warn(&format!(
                    "cannot start the thread that waits for claims: {e}"
                ));
            }
        }
    }

    /// Serves a claimed connection on a connection thread.
    fn dispatch(self: &Arc<Self>, stream: TcpStream, claim: Claim, active: Active) {
        let spawned = self.run_connection(move || {
            let engine = Arc::clone(active.engine());
            engine.serve(stream, claim);
        });
        if let Err(e) = spawned {
            self.warn(&format!("cannot start a connection thread: {e}"));
        }
    }

    /// The claim waiter: hands each waiting connection on as its claim arrives (every claim
    /// signals `claimed`), and gives up on those nobody claimed within [`CLAIM_WAIT`].
    fn wait_for_claims(self: Arc<Self>) {
        let mut claims = lock(&self.claims);
        loop {
            let now = Instant::now();
            let mut claimed = Vec::new();
            let mut expired = Vec::new();
            for waiting in std::mem::take(&mut claims.unclaimed) {
                if let Some(claim) = claims.take(waiting.local_port, now) {
                    claimed.push((waiting, claim));
                } else if now.duration_since(waiting.accepted) >= CLAIM_WAIT {
                    expired.push(waiting);
                } else {
                    claims.unclaimed.push_back(waiting);
                }
            }
            if !claimed.is_empty() || !expired.is_empty() {
                drop(claims);
                for (waiting, claim) in claimed {
                    self.dispatch(waiting.stream, claim, waiting.active);
                }
                for waiting in expired {
                    self.never_claimed(&waiting.stream);
                }
                claims = lock(&self.claims);
                continue;
            }
            let wait = match claims.unclaimed.front() {
                Some(oldest) => (oldest.accepted + CLAIM_WAIT).saturating_duration_since(now),
                None => CLAIM_TTL,
            };
            claims = self
                .claimed
                .wait_timeout(claims, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Says that a connection nobody claimed is dropped, unless its client is gone anyway.
    fn never_claimed(&self, stream: &TcpStream) {
        if is_closed(stream) {
            return;
        }
        self.warn(&format!(
            "dropped a connection to the engine from {} that no process claimed within {} s \
             (did something connect to the engine's port directly?)",
            stream
                .peer_addr()
                .map_or("an unknown port".into(), |a| a.to_string()),
            CLAIM_WAIT.as_secs()
        ));
    }

    /// Serves a claimed connection: protocols whose client speaks first wait for it in the
    /// waiting room (no thread), the others are served at once.
    pub(super) fn serve(self: Arc<Self>, stream: TcpStream, claim: Claim) {
        let client_first = self.entry_set(&claim.dest).is_some_and(|set| {
            set.ids().next().is_some_and(|i| {
                matches!(
                    set.entry(i).kind(),
                    Kind::Http | Kind::Redis | Kind::Kubernetes
                )
            })
        });
        if client_first {
            self.serve_when_spoken(stream, claim);
        } else {
            self.serve_claimed(stream, claim);
        }
    }

    /// Serves a claimed connection on this thread. Its protocol is that of the first
    /// candidate entry when it starts; HTTP picks its candidates again for each request.
    pub(super) fn serve_claimed(self: Arc<Self>, stream: TcpStream, claim: Claim) {
        let _ = stream.set_nodelay(true);
        let Some(set) = self.entry_set(&claim.dest) else {
            return;
        };
        if set.is_empty() && self.recorder.is_some() {
            return self.serve_recorded(stream, &claim);
        }
        self.idle_timeout.apply(&stream);
        self.info(&format!("pid {} connected to {}", claim.pid, claim.dest));
        let kind = set.ids().next().map(|i| set.entry(i).kind());
        match kind {
            Some(Kind::Http) => self.serve_http_or_https(stream, &claim),
            Some(Kind::Redis) => self.serve_redis(stream, &claim, set),
            Some(Kind::Tcp) => self.serve_tcp(stream, &claim, &set),
            Some(Kind::Kubernetes) => self.serve_kubernetes(stream, &claim, &set),
            None => {
                let event = claim.event("tcp", Action::Unmatched);
                self.count_unmatched(&claim, "tcp", "no entry".into(), event);
            }
        }
    }
}

pub(super) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Whether the client has closed or reset `stream` (without reading what it sent).
fn is_closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match stream.peek(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::field::Destination;

    fn claim(pid: u32) -> Claim {
        Claim {
            pid,
            dest: Destination::new("a.example", 80),
            local: None,
        }
    }

    #[test]
    fn claims_expire() {
        let mut table = ClaimTable::default();
        let start = Instant::now();
        table.insert(1000, claim(1), start);
        table.insert(1001, claim(2), start);
        assert_eq!(table.take(1000, start).map(|c| c.pid), Some(1));
        // A claim past its time is not handed out, and is swept by a later insert.
        assert!(table.take(1001, start + CLAIM_TTL).is_none());
        table.insert(1002, claim(3), start);
        table.insert(1003, claim(4), start + CLAIM_TTL);
        assert_eq!(table.len(), 1);
    }

    /// Resolves, routes and connects like the shim, but claims and speaks only `late` after the
    /// connect, as a busy client does; returns the response.
    fn get_late(engine: &Arc<Engine>, late: Duration) -> String {
        use crate::control::{Reply, Request, Transport};
        use std::io::{Read, Write};
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
        let Reply::Redirect { port, .. } = engine.handle(route) else {
            panic!("not redirected")
        };
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        thread::sleep(late);
        let claim = Request::Claim {
            pid: 1,
            local_port: stream.local_addr().unwrap().port(),
            addr: ip.into(),
            port: 80,
        };
        assert_eq!(engine.handle(claim), Reply::Ok);
        thread::sleep(late);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    const ONE_ENTRY: &str =
        r#"{"entries": [{"http": "GET http://a.test/", "response": {"body": "fine"}}]}"#;

    /// A connection claimed and spoken on right after its connect is served by the thread that
    /// accepted it: neither the claim waiter nor the waiting room (each one more thread
    /// hand-off per new connection) is started.
    #[test]
    fn a_new_connection_is_served_where_it_was_accepted() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        for _ in 0..20 {
            let response = get_late(&engine, Duration::ZERO);
            assert!(response.ends_with("fine"), "{response:?}");
        }
        assert!(!lock(&engine.claims).waiter, "the claim waiter was needed");
        assert!(
            !engine.waiting_room.is_open(),
            "the waiting room was needed"
        );
        assert_eq!(engine.report().mocked, 20);
    }

    /// Past [`INLINE_WAIT`], a late claim and a late first byte still get the connection
    /// served, through the claim waiter and the waiting room.
    #[test]
    fn a_late_claim_and_a_late_request_are_still_served() {
        let engine = super::super::tests::engine(ONE_ENTRY);
        let response = get_late(&engine, INLINE_WAIT * 20);
        assert!(response.ends_with("fine"), "{response:?}");
        assert!(lock(&engine.claims).waiter);
        assert!(engine.waiting_room.is_open());
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

    #[test]
    fn a_reset_connection_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(!is_closed(&server));
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        thread::sleep(Duration::from_millis(50));
        assert!(is_closed(&server));
    }
}
