//! The daemon placement's transport: one connection to `MOCKET_SOCKET` carrying this process's
//! requests, their replies and the engine's responder calls.
//!
//! A request is one write, and the requesting thread reads the connection itself while no other
//! thread does (the "reader role"): a reply then costs one wake-up of the waiting thread instead
//! of a reader thread's wake-up plus a hand-off to the waiting one (issue 12's < 50 µs per
//! request), and none when the reply comes within [`REPLY_SPIN`], while the thread reads
//! without sleeping. Whoever holds the role routes what it reads: replies to their waiters, calls to the
//! `respond_with` closures. The engine sends calls while no test thread is waiting for a reply,
//! so once this process registers a responder a thread of its own ([`Daemon::expect_calls`])
//! takes the role whenever it is free.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mocket_shim_api::{Spin, read_soon};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::protocol::{self, Incoming};

type Fields = Map<String, Value>;

/// What the transport does with an engine call (it must not block: it queues the call).
pub type OnCall = Arc<dyn Fn(protocol::Call) + Send + Sync>;

/// How long one blocking read may last before its reader checks its deadline again.
const READ_SLICE: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Who waits for what, and who reads.
#[derive(Default)]
struct Routing {
    /// Requests sent and not answered yet, by id: `None` until the reply arrives.
    replies: HashMap<u64, Option<Result<Fields, Error>>>,
    /// A thread holds the reader role.
    reading: bool,
    /// Set when the connection ended: why.
    closed: Option<String>,
}

pub struct Daemon {
    writer: Mutex<UnixStream>,
    /// The read side; only the holder of the reader role locks it.
    reader: Mutex<LineReader>,
    routing: Mutex<Routing>,
    /// Signalled when a reply is stored, the role is given up or the connection ends.
    changed: Condvar,
    on_call: OnCall,
    reply_timeout: Duration,
    call_reader_started: AtomicBool,
}

impl Daemon {
    /// Connects to the daemon at `path` (`MOCKET_SOCKET`).
    pub fn connect(
        path: &std::path::Path,
        on_call: OnCall,
        reply_timeout: Duration,
    ) -> Result<Arc<Daemon>, String> {
        let stream = UnixStream::connect(path).map_err(|e| {
            format!(
                "mocket: cannot reach the mocket daemon at {} (MOCKET_SOCKET): {e}; is `mocket run` still running?",
                path.display()
            )
        })?;
        Daemon::over(stream, on_call, reply_timeout)
            .map_err(|e| format!("mocket: cannot use the daemon connection: {e}"))
    }

    /// The transport over a connected stream.
    fn over(
        stream: UnixStream,
        on_call: OnCall,
        reply_timeout: Duration,
    ) -> io::Result<Arc<Daemon>> {
        let read_side = stream.try_clone()?;
        read_side.set_read_timeout(Some(READ_SLICE))?;
        Ok(Arc::new(Daemon {
            writer: Mutex::new(stream),
            reader: Mutex::new(LineReader::new(read_side)),
            routing: Mutex::default(),
            changed: Condvar::new(),
            on_call,
            reply_timeout,
            call_reader_started: AtomicBool::new(false),
        }))
    }

    /// Makes sure calls are read while no request is waiting: starts the call reader thread
    /// (once). Called before registering a responder, since its first call may come right
    /// after the registration.
    pub fn expect_calls(self: &Arc<Self>) -> Result<(), Error> {
        if self.call_reader_started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let daemon = Arc::clone(self);
        std::thread::Builder::new()
            .name("mocket-control-reader".into())
            .spawn(move || daemon.read_calls())
            .map(|_| ())
            .map_err(|e| {
                self.call_reader_started.store(false, Ordering::Release);
                Error::Transport(format!(
                    "mocket: cannot start the control reader thread: {e}"
                ))
            })
    }

    /// Sends request `id` (`line`, one JSON object without newline) and waits for its reply.
    pub fn request(&self, id: u64, op: &str, mut line: String) -> Result<Fields, Error> {
        {
            let mut routing = lock(&self.routing);
            if let Some(why) = &routing.closed {
                return Err(Error::Transport(why.clone()));
            }
            routing.replies.insert(id, None);
        }
        line.push('\n');
        if let Err(e) = write_message(&mut *lock(&self.writer), &line) {
            lock(&self.routing).replies.remove(&id);
            return Err(Error::Transport(format!(
                "mocket: the connection to the mocket daemon failed: {e}"
            )));
        }
        let deadline = Instant::now() + self.reply_timeout;
        let mut routing = lock(&self.routing);
        loop {
            if let Some(Some(_)) = routing.replies.get(&id) {
                let reply = routing.replies.remove(&id).flatten();
                return reply.expect("checked above");
            }
            if let Some(why) = routing.closed.clone() {
                routing.replies.remove(&id);
                return Err(Error::Transport(why));
            }
            let now = Instant::now();
            if now >= deadline {
                routing.replies.remove(&id);
                return Err(Error::Transport(format!(
                    "mocket: the mocket daemon did not answer {op} within {} s",
                    self.reply_timeout.as_secs()
                )));
            }
            routing = match routing.reading {
                true => {
                    self.changed
                        .wait_timeout(routing, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                false => self.read_one(routing, true),
            };
        }
    }

    /// The call reader thread: holds the reader role whenever no request does, until the
    /// connection ends.
    fn read_calls(&self) {
        let mut routing = lock(&self.routing);
        while routing.closed.is_none() {
            routing = match routing.reading {
                true => self
                    .changed
                    .wait(routing)
                    .unwrap_or_else(PoisonError::into_inner),
                // Calls come at any time: this thread sleeps until one does.
                false => self.read_one(routing, false),
            };
        }
    }

    /// Takes the reader role, reads one message (or one read slice's worth of nothing; while a
    /// reply is `due`, spinning first) and routes it, then gives the role up.
    fn read_one<'a>(
        &'a self,
        mut routing: MutexGuard<'a, Routing>,
        due: bool,
    ) -> MutexGuard<'a, Routing> {
        routing.reading = true;
        drop(routing);
        let read = lock(&self.reader).next_line(due);
        let mut call = None;
        let mut routing = lock(&self.routing);
        routing.reading = false;
        match read {
            Ok(Some(line)) => match protocol::decode(&line) {
                Ok(Incoming::Reply { id, result }) => {
                    if let Some(slot) = routing.replies.get_mut(&id) {
                        *slot = Some(result.map_err(Error::Control));
                    }
                }
                Ok(Incoming::Call(c)) => call = Some(*c),
                Err(e) => eprintln!("mocket: {e}"),
            },
            Ok(None) => {}
            Err(why) => {
                for slot in routing.replies.values_mut() {
                    slot.get_or_insert_with(|| Err(Error::Transport(why.clone())));
                }
                routing.closed = Some(why);
            }
        }
        self.changed.notify_all();
        if let Some(call) = call {
            drop(routing);
            (self.on_call)(call);
            routing = lock(&self.routing);
        }
        routing
    }
}

/// Writes one whole message in one write when the kernel takes it (the daemon then wakes once
/// per request, not once for the line and again for its newline).
fn write_message(w: &mut impl Write, message: &str) -> io::Result<()> {
    w.write_all(message.as_bytes())?;
    w.flush()
}

/// How long a thread that waits for its reply reads without sleeping before it blocks. A
/// reply comes within tens of µs, and on an idle machine waking a sleeping thread costs as much
/// again (issue 12: a register over 50 µs idle, 30 µs under load); bounded, so a slow reply
/// costs this much CPU once, then the thread sleeps.
/// (`mocket_shim_api::Spin` turns spinning off while it does not pay: on a loaded machine.)
pub const REPLY_SPIN: Duration = Duration::from_micros(100);

/// The connection's read side, split into lines; a line cut by a read timeout is kept for the
/// next read.
struct LineReader {
    stream: UnixStream,
    lines: Lines,
    spin: Spin,
}

impl LineReader {
    fn new(stream: UnixStream) -> LineReader {
        LineReader {
            stream,
            lines: Lines::default(),
            spin: Spin::new(REPLY_SPIN),
        }
    }

    /// The next line (without its newline), read without sleeping for a while first when a
    /// reply is `due`; `Ok(None)` when none came within a read slice; `Err` with why when the
    /// connection ended or broke the framing.
    fn next_line(&mut self, due: bool) -> Result<Option<Vec<u8>>, String> {
        if due {
            self.spin.arm();
        }
        let (stream, spin) = (&self.stream, &mut self.spin);
        match self.lines.next(|buf| read_soon(stream, buf, spin)) {
            Ok(Some(line)) => Ok(Some(line)),
            Ok(None) => Err("mocket: the mocket daemon closed the control connection".into()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!(
                "mocket: reading from the mocket daemon failed: {e}"
            )),
        }
    }
}

/// Bytes read from the connection and not yet returned as lines.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// How much of `buf` holds no newline.
    scanned: usize,
    chunk: Vec<u8>,
}

impl Lines {
    /// One line without its newline, at most [`protocol::MAX_MESSAGE`] bytes; `None` at the
    /// end. What was read of a line before an error stays for the next call.
    fn next(
        &mut self,
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Option<Vec<u8>>> {
        if self.chunk.is_empty() {
            self.chunk = vec![0; 64 * 1024];
        }
        loop {
            if let Some(line) = self.take_line()? {
                return Ok(Some(line));
            }
            match read(&mut self.chunk) {
                // The end (the daemon may have ended in the middle of a line).
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The first whole line of `buf`, if there is one.
    fn take_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(at) => {
                let end = self.scanned + at;
                let line = self.buf[..end].to_vec();
                self.buf.drain(..=end);
                self.scanned = 0;
                Ok(Some(line))
            }
            None if self.buf.len() > protocol::MAX_MESSAGE => Err(io::Error::other(format!(
                "a message is longer than {} bytes",
                protocol::MAX_MESSAGE
            ))),
            None => {
                self.scanned = self.buf.len();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Op;
    use std::io::{BufRead, BufReader, Cursor, Read};

    fn next_of(lines: &mut Lines, source: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
        lines.next(|buf| source.read(buf))
    }

    #[test]
    fn lines_are_split_and_bounded() {
        let mut r = Cursor::new(b"{\"a\":1}\n{\"b\":2}\npartial".to_vec());
        let mut lines = Lines::default();
        assert_eq!(next_of(&mut lines, &mut r).unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(next_of(&mut lines, &mut r).unwrap().unwrap(), b"{\"b\":2}");
        assert_eq!(next_of(&mut lines, &mut r).unwrap(), None);
        assert_eq!(next_of(&mut lines, &mut r).unwrap(), None);
        let err = next_of(&mut Lines::default(), &mut io::repeat(b'x')).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    /// A reader that gives each chunk whole, and fails with a timeout at each `None`, as a
    /// socket with a read timeout does when a line arrives in pieces.
    struct Chunks(Vec<Option<&'static [u8]>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            match self.0.remove(0) {
                None => Err(io::ErrorKind::WouldBlock.into()),
                Some(chunk) => {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
            }
        }
    }

    #[test]
    fn a_line_cut_by_a_read_timeout_is_completed_by_the_next_read() {
        let mut r = Chunks(vec![Some(b"{\"id\":"), None, Some(b"1}\n{\"id\":2}\n")]);
        let mut lines = Lines::default();
        assert_eq!(
            next_of(&mut lines, &mut r).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(lines.buf, b"{\"id\":");
        assert_eq!(next_of(&mut lines, &mut r).unwrap().unwrap(), b"{\"id\":1}");
        assert_eq!(next_of(&mut lines, &mut r).unwrap().unwrap(), b"{\"id\":2}");
    }

    /// Counts the writes a message takes.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_request_is_one_write_with_its_newline() {
        let mut w = Writes::default();
        write_message(&mut w, "{\"id\":1,\"op\":\"hits\"}\n").unwrap();
        assert_eq!(w.0, vec![b"{\"id\":1,\"op\":\"hits\"}\n".to_vec()]);
    }

    fn calls_into(seen: &Arc<Mutex<Vec<u64>>>) -> OnCall {
        let seen = Arc::clone(seen);
        Arc::new(move |c: protocol::Call| lock(&seen).push(c.call))
    }

    /// A fake daemon on a socketpair, and no reader thread: the requesting threads read their
    /// replies themselves, a call that arrives meanwhile reaches the closures, and a closed
    /// connection fails the waiters instead of hanging them.
    #[test]
    fn requesting_threads_read_their_own_replies_and_route_calls() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let daemon = Daemon::over(ours, calls_into(&calls), Duration::from_secs(20)).unwrap();
        let server = std::thread::spawn(move || {
            let mut lines = BufReader::new(theirs.try_clone().unwrap()).lines();
            let request: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            assert_eq!(request["op"], "hits");
            let mut w = theirs;
            w.write_all(
                b"{\"call\":3,\"op\":\"respond_with\",\"scope\":1,\"entry\":2,\"request\":{}}\n",
            )
            .unwrap();
            // A reply in two pieces, the second after the client's read slice.
            write!(w, "{{\"id\":{},\"ok\":true,", request["id"]).unwrap();
            std::thread::sleep(READ_SLICE + Duration::from_millis(100));
            writeln!(w, "\"hits\":4}}").unwrap();
            let request: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            writeln!(w, "{{\"id\":{},\"ok\":false,\"error\":{{\"kind\":\"no_scope\",\"message\":\"no scope 9\"}}}}", request["id"]).unwrap();
            // Then the daemon goes away.
        });
        let reply = daemon.request(7, "hits", Op::hits(1, 2).encode(7)).unwrap();
        assert_eq!(reply["hits"], 4);
        let err = daemon
            .request(8, "verify", Op::verify(9).encode(8))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Control(c) if c.kind == "no_scope"),
            "{err:?}"
        );
        server.join().unwrap();
        assert_eq!(*lock(&calls), vec![3]);
        // The next request finds the connection gone, when writing or when reading.
        let err = daemon
            .request(9, "verify", Op::verify(1).encode(9))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Transport(why) if why.contains("the connection to the mocket daemon failed")
                || why.contains("closed the control connection")),
            "{err:?}"
        );
    }

    /// Replies come back in any order to the threads that wait for them, whichever reads.
    #[test]
    fn concurrent_requests_each_get_their_own_reply() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let daemon = Daemon::over(ours, Arc::new(|_| {}), Duration::from_secs(20)).unwrap();
        let server = std::thread::spawn(move || {
            let mut lines = BufReader::new(theirs.try_clone().unwrap()).lines();
            let mut w = theirs;
            let ids: Vec<Value> = (0..4)
                .map(|_| serde_json::from_str::<Value>(&lines.next().unwrap().unwrap()).unwrap())
                .map(|r| r["id"].clone())
                .collect();
            // Answered in reverse order.
            for id in ids.iter().rev() {
                writeln!(w, "{{\"id\":{id},\"ok\":true,\"hits\":{id}}}").unwrap();
            }
        });
        let threads: Vec<_> = (1..=4u64)
            .map(|id| {
                let daemon = Arc::clone(&daemon);
                std::thread::spawn(move || {
                    let reply = daemon.request(id, "hits", Op::hits(1, 1).encode(id));
                    assert_eq!(reply.unwrap()["hits"], id);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        server.join().unwrap();
    }

    /// Once responders exist, calls are read while no request waits.
    #[test]
    fn the_call_reader_reads_calls_between_requests() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let daemon = Daemon::over(ours, calls_into(&calls), Duration::from_secs(20)).unwrap();
        daemon.expect_calls().unwrap();
        daemon.expect_calls().unwrap();
        let mut w = theirs;
        w.write_all(
            b"{\"call\":5,\"op\":\"respond_with\",\"scope\":1,\"entry\":2,\"request\":{}}\n",
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock(&calls).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*lock(&calls), vec![5]);
    }
}
