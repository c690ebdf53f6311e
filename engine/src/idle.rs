//! Idle connections: the idle timeout, and the waiting room where a connection that has not
//! sent its first byte waits without a thread.
//!
//! The idle timeout (`MOCKET_IDLE_TIMEOUT_MS`, default [`DEFAULT_IDLE_TIMEOUT`]) closes a
//! connection whose client sends nothing for that long: before its first byte (here), and on a
//! thread as the read and write timeout of its socket, so every blocking read or write a peer
//! controls ends. A subscribed or monitoring Redis client is exempt (Redis has no idle timeout by
//! default, and a subscriber or `MONITOR` legitimately waits for what others do); recorded connections keep the record proxy's
//! own timeouts.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::listener::{ClientFirst, INLINE_WAIT, INLINE_WAITERS, read_ready, readable_within};
use super::pool::Active;
use super::scopes::EntrySet;
use super::{Claim, Engine, lock};

/// The variable that sets the idle timeout, in milliseconds (`0`: no timeout).
pub const IDLE_TIMEOUT_VAR: &str = "MOCKET_IDLE_TIMEOUT_MS";

/// Long enough for any client that means to speak (a test paused in a debugger excepted), short
/// enough that forgotten connections do not pile up: as nginx's `client_header_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a client may stay silent on a connection; `None`: forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeout(pub Option<Duration>);

/// `MOCKET_IDLE_TIMEOUT_MS` is not a number of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleTimeoutError {
    pub value: String,
}

impl fmt::Display for IdleTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{IDLE_TIMEOUT_VAR}={:?} is not a whole number of milliseconds: set it to e.g. 60000, \
             or 0 for no idle timeout, or unset it for the default ({} s)",
            self.value,
            DEFAULT_IDLE_TIMEOUT.as_secs()
        )
    }
}

impl std::error::Error for IdleTimeoutError {}

impl Default for IdleTimeout {
    fn default() -> Self {
        IdleTimeout(Some(DEFAULT_IDLE_TIMEOUT))
    }
}

impl IdleTimeout {
    /// The timeout `MOCKET_IDLE_TIMEOUT_MS` asks for.
    pub fn from_env() -> Result<IdleTimeout, IdleTimeoutError> {
        IdleTimeout::parse(std::env::var(IDLE_TIMEOUT_VAR).ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<IdleTimeout, IdleTimeoutError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(IdleTimeout::default());
        };
        match value.parse::<u64>() {
            Ok(0) => Ok(IdleTimeout(None)),
            Ok(ms) => Ok(IdleTimeout(Some(Duration::from_millis(ms)))),
            Err(_) => Err(IdleTimeoutError {
                value: value.to_string(),
            }),
        }
    }

    /// Sets it as the read and write timeout of `stream`.
    pub(super) fn apply(self, stream: &TcpStream) {
        let _ = stream.set_read_timeout(self.0);
        let _ = stream.set_write_timeout(self.0);
    }
}

/// Whether a read or write failed because the socket's timeout expired.
pub(super) fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Connections waiting for their first byte, watched by one thread (started on first use, and
/// tried again later if it could not start, e.g. out of file descriptors).
#[derive(Default)]
pub(super) struct WaitingRoom {
    room: Mutex<Option<Arc<Room>>>,
    /// Threads waiting for a first byte before handing their connection here.
    waiting_inline: std::sync::atomic::AtomicUsize,
    /// Connections handed here so far.
    handed: std::sync::atomic::AtomicU64,
}

impl WaitingRoom {
    /// Whether its thread was ever started.
    #[cfg(test)]
    pub(super) fn is_open(&self) -> bool {
        lock(&self.room).is_some()
    }
}

struct Room {
    waker: Waker,
    shared: Arc<RoomShared>,
}

/// What the waiting room's thread shares with the engine.
#[derive(Default)]
struct RoomShared {
    /// Connections handed to the waiting room, not yet watched.
    arrivals: Mutex<Vec<(TcpStream, Waiting)>>,
    /// How many times the loop has handled what `poll` returned.
    rounds: Mutex<u64>,
    round_done: Condvar,
}

/// What a connection in the waiting room waits for.
pub(super) enum Waiting {
    /// Its first byte: its preamble said who connected and where to.
    Spoken(Claim),
    /// Its preamble: the shim holds a client-first connection's preamble back until the
    /// application writes (issue 15), and the kernel sends it alone only when its probe timer
    /// fires, which can take seconds; the engine accepts it without data after
    /// `TCP_DEFER_ACCEPT`. A connection that could have got its preamble at once is never
    /// closed sooner than one that did.
    Preamble,
}

const WAKE: Token = Token(0);

impl Engine {
    /// Serves `stream` once its client has sent something: on this thread if it does within
    /// [`INLINE_WAIT`] (clients speak right after connecting: the waiting room would cost two
    /// more wake-ups), or from the waiting room. Falls back to waiting on a thread if the
    /// waiting room cannot start.
    ///
    /// A client whose first bytes came with the preamble (the shim holds the preamble back for
    /// them when the destination's protocols all have the client speak first) is served at once
    /// with those bytes, read without waiting: no `poll`, no peek (issue 15). Bytes that come
    /// within [`INLINE_WAIT`] are read once too, and handed to the driver instead of peeked at.
    pub(super) fn serve_when_spoken(
        self: &Arc<Self>,
        stream: TcpStream,
        claim: Claim,
        set: EntrySet,
        protocol: ClientFirst,
    ) {
        if let Some(first) = read_ready(&stream) {
            self.connected(&claim);
            return self.serve_spoken(stream, &claim, set, protocol, first);
        }
        // The waiting room starts only when a connection needs it.
        let room = match self.spoke_soon(&stream) {
            true => None,
            false => self.room(),
        };
        match room {
            Some(room) => self.hand_over(&room, stream, Waiting::Spoken(claim)),
            None => {
                // It spoke (or the waiting room could not start: the driver's reads then wait).
                let first = read_ready(&stream).unwrap_or_default();
                self.connected(&claim);
                self.serve_spoken(stream, &claim, set, protocol, first);
            }
        }
    }

    /// Watches a connection accepted before its preamble came (see [`Waiting::Preamble`]) in the
    /// waiting room until it does, for at most the idle timeout; without a waiting room, this
    /// thread waits for it as long as for any late preamble.
    pub(super) fn serve_when_introduced(self: &Arc<Self>, stream: TcpStream) {
        match self.room() {
            Some(room) => self.hand_over(&room, stream, Waiting::Preamble),
            None => self.serve_after_preamble(stream, true),
        }
    }

    /// Hands `stream` to the waiting room, which watches it for what it waits for.
    fn hand_over(&self, room: &Room, stream: TcpStream, waiting: Waiting) {
        (self.waiting_room.handed).fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        lock(&room.shared.arrivals).push((stream, waiting));
        if room.waker.wake().is_err() {
            self.warn("cannot wake the waiting room of idle connections");
        }
    }

    /// Whether the client of `stream` spoke within [`INLINE_WAIT`], or at once when
    /// [`INLINE_WAITERS`] threads wait already.
    pub(super) fn spoke_soon(&self, stream: &TcpStream) -> bool {
        use std::sync::atomic::Ordering;
        let waiters = &self.waiting_room.waiting_inline;
        let admitted = waiters
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < INLINE_WAITERS).then_some(n + 1)
            })
            .is_ok();
        let wait = if admitted {
            INLINE_WAIT
        } else {
            Duration::ZERO
        };
        let spoke = readable_within(stream, wait);
        if admitted {
            waiters.fetch_sub(1, Ordering::AcqRel);
        }
        spoke
    }

    /// The waiting room, started if it is not running.
    fn room(self: &Arc<Self>) -> Option<Arc<Room>> {
        let mut room = lock(&self.waiting_room.room);
        if room.is_none() {
            *room = self.open_room().map(Arc::new);
        }
        room.clone()
    }

    fn open_room(self: &Arc<Self>) -> Option<Room> {
        let opened = Poll::new().and_then(|poll| {
            let waker = Waker::new(poll.registry(), WAKE)?;
            Ok((poll, waker))
        });
        let (poll, waker) = match opened {
            Ok(p) => p,
            Err(e) => {
                // Out of fds, most likely: the accept loop says so; this connection waits on its
                // thread, and the next one tries again.
                self.info(&format!(
                    "cannot watch idle connections ({e}): this one waits on its own thread"
                ));
                return None;
            }
        };
        let shared = Arc::new(RoomShared::default());
        let engine = Arc::clone(self);
        let watched = Arc::clone(&shared);
        let started = self.spawn("mocket-idle", move || engine.watch(poll, &watched));
        started.ok().map(|_| Room { waker, shared })
    }

    /// The waiting room's loop: a connection leaves it for a thread when it becomes readable
    /// (a request, or a close), or is closed when its idle timeout expires first.
    fn watch(self: Arc<Self>, mut poll: Poll, shared: &RoomShared) {
        let mut parked = Parked::default();
        let mut events = Events::with_capacity(1024);
        loop {
            let wait = parked
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = poll.poll(&mut events, wait)
                && e.kind() != io::ErrorKind::Interrupted
            {
                self.warn(&format!("the waiting room of idle connections failed: {e}"));
                std::thread::sleep(Duration::from_millis(100));
            }
            for event in events.iter() {
                match event.token() {
                    WAKE => self.admit(&poll, &mut parked, &shared.arrivals),
                    token => {
                        if let Some((stream, waiting)) = parked.take(&poll, token) {
                            let active = Active::new(&self);
                            let dispatched = self.run_connection(move || {
                                let engine = Arc::clone(active.engine());
                                match waiting {
                                    Waiting::Spoken(claim) => engine.serve_claimed(stream, claim),
                                    Waiting::Preamble => engine.serve_after_preamble(stream, true),
                                }
                            });
                            if let Err(e) = dispatched {
                                self.warn(&format!("cannot start a connection thread: {e}"));
                            }
                        }
                    }
                }
            }
            for (stream, waiting) in parked.expire(&poll, Instant::now()) {
                let who = match waiting {
                    Waiting::Spoken(claim) => format!("to {} from pid {}", claim.dest, claim.pid),
                    Waiting::Preamble => "to the engine, before its preamble,".into(),
                };
                self.info(&format!(
                    "closed a connection {who}: it sent nothing for the idle timeout \
                     ({IDLE_TIMEOUT_VAR})"
                ));
                drop(stream);
            }
            *lock(&shared.rounds) += 1;
            shared.round_done.notify_all();
        }
    }

    /// Waits (at most `limit`) until the waiting room has handed every connection with
    /// something to read to a thread, where [`Engine::wait_idle`] counts it: when the command
    /// under `mocket run` exits, its last words may be waiting there.
    pub(super) fn settle_waiting_room(&self, limit: Duration) {
        let Some(room) = lock(&self.waiting_room.room).clone() else {
            return;
        };
        let deadline = Instant::now() + limit;
        let mut rounds = lock(&room.shared.rounds);
        // The round under way may have polled before the call; the next one admits connections
        // handed over meanwhile; the one after sees them readable.
        let target = *rounds + 3;
        while *rounds < target {
            // Each wake-up makes one round, even when nothing else happens.
            if room.waker.wake().is_err() {
                return;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            rounds = room
                .shared
                .round_done
                .wait_timeout(rounds, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Registers the connections handed to the waiting room since its last wake-up.
    fn admit(&self, poll: &Poll, parked: &mut Parked, arrivals: &Mutex<Vec<(TcpStream, Waiting)>>) {
        let arrivals = std::mem::take(&mut *lock(arrivals));
        let deadline = self.idle_timeout.0.map(|t| Instant::now() + t);
        for (stream, waiting) in arrivals {
            if let Err(e) = parked.add(poll, stream, waiting, deadline) {
                self.warn(&format!("cannot watch an idle connection: {e}"));
            }
        }
    }
}

/// The connections in the waiting room, by token and by deadline.
#[derive(Default)]
struct Parked {
    by_token: HashMap<Token, (TcpStream, Waiting, Option<Instant>)>,
    deadlines: BTreeSet<(Instant, Token)>,
    next_token: usize,
}

impl Parked {
    fn add(
        &mut self,
        poll: &Poll,
        stream: TcpStream,
        waiting: Waiting,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.next_token = self.next_token.wrapping_add(1).max(1);
        let token = Token(self.next_token);
        let fd = stream.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        if let Some(deadline) = deadline {
            self.deadlines.insert((deadline, token));
        }
        self.by_token.insert(token, (stream, waiting, deadline));
        Ok(())
    }

    fn take(&mut self, poll: &Poll, token: Token) -> Option<(TcpStream, Waiting)> {
        let (stream, waiting, deadline) = self.by_token.remove(&token)?;
        let _ = poll
            .registry()
            .deregister(&mut SourceFd(&stream.as_raw_fd()));
        if let Some(deadline) = deadline {
            self.deadlines.remove(&(deadline, token));
        }
        Some((stream, waiting))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Takes the connections whose deadline is past.
    fn expire(&mut self, poll: &Poll, now: Instant) -> Vec<(TcpStream, Waiting)> {
        let mut expired = Vec::new();
        while let Some(&(deadline, token)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            expired.extend(self.take(poll, token));
        }
        expired
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::atomic::Ordering;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    }

    fn claim() -> Claim {
        Claim {
            pid: 1,
            dest: mocket_protocols::field::Destination::new("a.example", 80),
            local: None,
        }
    }

    #[test]
    fn the_variable_sets_the_timeout() {
        assert_eq!(IdleTimeout::parse(None), Ok(IdleTimeout::default()));
        assert_eq!(IdleTimeout::parse(Some(" ")), Ok(IdleTimeout::default()));
        assert_eq!(
            IdleTimeout::parse(Some("250")),
            Ok(IdleTimeout(Some(Duration::from_millis(250))))
        );
        assert_eq!(IdleTimeout::parse(Some("0")), Ok(IdleTimeout(None)));
        let error = IdleTimeout::parse(Some("5s")).unwrap_err();
        assert!(
            error.to_string().contains("MOCKET_IDLE_TIMEOUT_MS=\"5s\""),
            "{error}"
        );
    }

    #[test]
    fn wait_idle_sees_the_last_request_of_a_parked_connection() {
        let engine = super::super::tests::engine(
            r#"{"entries": [{"http": "GET http://a.test/", "response": {"body": "x"}}]}"#,
        );
        for round in 1..=20 {
            let mut client = super::super::tests::connect(&engine, "a.test", 80);
            // Until the connection is accepted and handed to the waiting room.
            let start = Instant::now();
            let handed = || engine.waiting_room.handed.load(Ordering::Acquire);
            while handed() < round || engine.active.load(Ordering::Acquire) > 0 {
                assert!(start.elapsed() < Duration::from_secs(10), "never parked");
                std::thread::sleep(Duration::from_millis(1));
            }
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                .unwrap();
            engine.wait_idle(Duration::from_secs(2));
            assert_eq!(engine.report().mocked, round);
        }
    }

    #[test]
    fn a_parked_connection_leaves_when_it_speaks_or_expires() {
        let mut poll = Poll::new().unwrap();
        let mut parked = Parked::default();
        let (mut talker, talker_server) = pair();
        let (_silent, silent_server) = pair();
        let now = Instant::now();
        let soon = now + Duration::from_millis(50);
        parked
            .add(
                &poll,
                talker_server,
                Waiting::Spoken(claim()),
                Some(now + Duration::from_secs(60)),
            )
            .unwrap();
        parked
            .add(&poll, silent_server, Waiting::Spoken(claim()), Some(soon))
            .unwrap();
        assert_eq!(parked.next_deadline(), Some(soon));
        assert!(parked.expire(&poll, now).is_empty());

        talker.write_all(b"G").unwrap();
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        assert_eq!(
            tokens,
            [Token(1)],
            "only the connection that spoke is ready"
        );
        assert!(parked.take(&poll, Token(1)).is_some());

        assert_eq!(parked.expire(&poll, soon).len(), 1);
        assert_eq!(parked.len(), 0);
        assert_eq!(parked.next_deadline(), None);
    }
}
