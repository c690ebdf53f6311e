//! The process's one session with the engine, shared by every scope of every test thread:
//! over `MOCKET_SOCKET` to the daemon of `mocket run`, or through `libmocket.so`'s exported
//! functions to the embedded engine of a bare `LD_PRELOAD`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::protocol::{self, Incoming, Op};
use crate::responders::Responders;

/// Said when neither placement is there (one line: it is the whole panic message).
pub const NOT_INTERCEPTED: &str = "mocket: nothing intercepts this process: run the tests under `mocket run -- cargo test` (or set runner = [\"mocket\", \"run\", \"--\"] in .cargo/config.toml), or with LD_PRELOAD=/path/to/libmocket.so";

/// How long the engine may take beyond a lease wait before the daemon is given up on.
const REPLY_MARGIN: Duration = Duration::from_secs(30);

type Fields = Map<String, Value>;

enum Channel {
    Daemon(Daemon),
    Embedded(mocket_shim_api::Session),
}

/// The session, with the closures its calls go to.
pub struct Client {
    channel: Channel,
    next_id: AtomicU64,
    pub responders: Arc<Responders>,
    placement: OnceLock<String>,
}

/// The process's client, connected on first use. A failure is kept: every test then reports
/// the same cause.
pub fn global() -> Result<Arc<Client>, String> {
    static CLIENT: OnceLock<Result<Arc<Client>, String>> = OnceLock::new();
    CLIENT.get_or_init(connect).clone()
}

fn connect() -> Result<Arc<Client>, String> {
    let responders = Arc::new(Responders::default());
    // The channel needs the responders (calls go there) and the responders need the channel
    // (to answer): the answering side gets a weak reference once the client exists.
    let answerer: Arc<OnceLock<Weak<Client>>> = Arc::new(OnceLock::new());
    let on_call = call_handler(Arc::clone(&responders), Arc::clone(&answerer));
    let channel = match std::env::var_os("MOCKET_SOCKET") {
        Some(path) => Channel::Daemon(Daemon::connect(path.as_ref(), on_call)?),
        None => {
            match mocket_shim_api::Session::open(Box::new(move |msg| match protocol::decode(msg) {
                Ok(Incoming::Call(call)) => on_call(*call),
                Ok(Incoming::Reply { id, .. }) => {
                    eprintln!("mocket: the embedded engine sent a reply ({id}) as a message")
                }
                Err(e) => eprintln!("mocket: {e}"),
            })) {
                Ok(session) => Channel::Embedded(session),
                Err(mocket_shim_api::ApiError::Absent) => return Err(NOT_INTERCEPTED.into()),
                Err(e) => return Err(format!("mocket: {e}")),
            }
        }
    };
    let client = Arc::new(Client {
        channel,
        next_id: AtomicU64::new(1),
        responders,
        placement: OnceLock::new(),
    });
    let _ = answerer.set(Arc::downgrade(&client));
    let hello = client
        .request(&Op::hello(std::process::id()))
        .map_err(|e| format!("mocket: the engine refused this client: {e}"))?;
    let placement = protocol::str_field(&hello, "placement").unwrap_or_default();
    let _ = client.placement.set(placement);
    Ok(client)
}

/// What the transport does with a call: run its closure, then send `respond`.
fn call_handler(
    responders: Arc<Responders>,
    answerer: Arc<OnceLock<Weak<Client>>>,
) -> Arc<dyn Fn(protocol::Call) + Send + Sync> {
    Arc::new(move |call| {
        let answerer = Arc::clone(&answerer);
        responders.dispatch(call, move |id, outcome| {
            let Some(client) = answerer.get().and_then(Weak::upgrade) else {
                return;
            };
            if let Err(e) = client.request(&Op::respond(id, outcome)) {
                eprintln!("mocket: answering respond_with call {id} failed: {e}");
            }
        })
    })
}

impl Client {
    /// `daemon` or `embedded`, as the engine said.
    pub fn placement(&self) -> &str {
        self.placement.get().map_or("", String::as_str)
    }

    /// Sends one request and waits for its reply.
    pub fn request(&self, op: &Op) -> Result<Fields, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let line = op.encode(id);
        match &self.channel {
            Channel::Daemon(daemon) => daemon.request(id, op.name(), &line),
            Channel::Embedded(session) => {
                let reply = session
                    .send(line.as_bytes())
                    .map_err(|e| Error::Transport(format!("mocket: {e}")))?;
                match protocol::decode(&reply)? {
                    Incoming::Reply { result, .. } => result.map_err(Error::Control),
                    Incoming::Call(_) => Err(Error::Protocol(
                        "the embedded engine answered a request with a call".into(),
                    )),
                }
            }
        }
    }
}

/// Replies awaited on the daemon connection, by request id.
#[derive(Default)]
struct Waiters {
    by_id: HashMap<u64, mpsc::Sender<Result<Fields, Error>>>,
    /// Set when the connection ended: why.
    closed: Option<String>,
}

struct Daemon {
    writer: Mutex<UnixStream>,
    waiters: Arc<Mutex<Waiters>>,
    reply_timeout: Duration,
}

impl Daemon {
    fn connect(
        path: &std::path::Path,
        on_call: Arc<dyn Fn(protocol::Call) + Send + Sync>,
    ) -> Result<Daemon, String> {
        let stream = UnixStream::connect(path).map_err(|e| {
            format!(
                "mocket: cannot reach the mocket daemon at {} (MOCKET_SOCKET): {e}; is `mocket run` still running?",
                path.display()
            )
        })?;
        let reader = stream
            .try_clone()
            .map_err(|e| format!("mocket: cannot use the daemon connection: {e}"))?;
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let shared = Arc::clone(&waiters);
        std::thread::Builder::new()
            .name("mocket-control-reader".into())
            .spawn(move || read_messages(reader, &shared, &*on_call))
            .map_err(|e| format!("mocket: cannot start the control reader thread: {e}"))?;
        Ok(Daemon {
            writer: Mutex::new(stream),
            waiters,
            reply_timeout: lease_timeout() + REPLY_MARGIN,
        })
    }

    fn request(&self, id: u64, op: &str, line: &str) -> Result<Fields, Error> {
        let (tx, rx) = mpsc::channel();
        {
            let mut waiters = lock(&self.waiters);
            if let Some(why) = &waiters.closed {
                return Err(Error::Transport(why.clone()));
            }
            waiters.by_id.insert(id, tx);
        }
        let written = {
            let mut w = lock(&self.writer);
            w.write_all(line.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
        };
        if let Err(e) = written {
            lock(&self.waiters).by_id.remove(&id);
            return Err(Error::Transport(format!(
                "mocket: the connection to the mocket daemon failed: {e}"
            )));
        }
        match rx.recv_timeout(self.reply_timeout) {
            Ok(result) => result,
            Err(_) => {
                lock(&self.waiters).by_id.remove(&id);
                Err(Error::Transport(format!(
                    "mocket: the mocket daemon did not answer {op} within {} s",
                    self.reply_timeout.as_secs()
                )))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// MOCKET_LEASE_TIMEOUT_MS as the engine reads it (default 60 s): a register may wait that
/// long for a destination.
fn lease_timeout() -> Duration {
    std::env::var("MOCKET_LEASE_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// The reader thread: routes replies to their waiters and calls to the closures, until the
/// connection ends; then every waiter learns why.
fn read_messages(
    stream: UnixStream,
    waiters: &Mutex<Waiters>,
    on_call: &(dyn Fn(protocol::Call) + Send + Sync),
) {
    let mut reader = BufReader::new(stream);
    let why = loop {
        match read_line(&mut reader) {
            Ok(Some(line)) => match protocol::decode(&line) {
                Ok(Incoming::Reply { id, result }) => {
                    if let Some(waiter) = lock(waiters).by_id.remove(&id) {
                        let _ = waiter.send(result.map_err(Error::Control));
                    }
                }
                Ok(Incoming::Call(call)) => on_call(*call),
                Err(e) => eprintln!("mocket: {e}"),
            },
            Ok(None) => {
                break "mocket: the mocket daemon closed the control connection".to_string();
            }
            Err(e) => break format!("mocket: reading from the mocket daemon failed: {e}"),
        }
    };
    let mut w = lock(waiters);
    for (_, waiter) in w.by_id.drain() {
        let _ = waiter.send(Err(Error::Transport(why.clone())));
    }
    w.closed = Some(why);
}

/// One line without its newline, at most [`protocol::MAX_MESSAGE`] bytes; `None` at the end.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let limit = protocol::MAX_MESSAGE as u64 + 1;
    reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    match line.last() {
        None => Ok(None),
        Some(b'\n') => {
            line.pop();
            Ok(Some(line))
        }
        Some(_) if line.len() as u64 >= limit => Err(std::io::Error::other(format!(
            "a message is longer than {} bytes",
            protocol::MAX_MESSAGE
        ))),
        // The daemon ended in the middle of a line.
        Some(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn lines_are_split_and_bounded() {
        let mut r = Cursor::new(b"{\"a\":1}\n{\"b\":2}\npartial".to_vec());
        assert_eq!(read_line(&mut r).unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(read_line(&mut r).unwrap().unwrap(), b"{\"b\":2}");
        assert_eq!(read_line(&mut r).unwrap(), None);
        assert_eq!(read_line(&mut r).unwrap(), None);
    }

    #[test]
    fn the_not_intercepted_message_is_one_line() {
        assert!(!NOT_INTERCEPTED.contains('\n'));
        assert!(NOT_INTERCEPTED.contains("mocket run -- cargo test"));
    }

    /// A fake daemon on a socketpair: the client's requests, replies and calls interleave on one
    /// connection, and a closed connection fails the waiters instead of hanging them.
    #[test]
    fn replies_and_calls_share_the_connection() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (reader_waiters, reader_calls) = (Arc::clone(&waiters), Arc::clone(&calls));
        let reader = ours.try_clone().unwrap();
        let t = std::thread::spawn(move || {
            read_messages(reader, &reader_waiters, &move |c| {
                lock(&reader_calls).push(c.call)
            })
        });
        let daemon = Daemon {
            writer: Mutex::new(ours),
            waiters,
            reply_timeout: Duration::from_secs(20),
        };
        let server = std::thread::spawn(move || {
            let mut lines = BufReader::new(theirs.try_clone().unwrap()).lines();
            let request: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            assert_eq!(request["op"], "hits");
            let mut w = theirs;
            w.write_all(
                b"{\"call\":3,\"op\":\"respond_with\",\"scope\":1,\"entry\":2,\"request\":{}}\n",
            )
            .unwrap();
            writeln!(w, "{{\"id\":{},\"ok\":true,\"hits\":4}}", request["id"]).unwrap();
            let request: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            writeln!(w, "{{\"id\":{},\"ok\":false,\"error\":{{\"kind\":\"no_scope\",\"message\":\"no scope 9\"}}}}", request["id"]).unwrap();
            // Then the daemon goes away.
        });
        let reply = daemon
            .request(7, "hits", &Op::hits(1, 2).encode(7))
            .unwrap();
        assert_eq!(reply["hits"], 4);
        let err = daemon
            .request(8, "verify", &Op::verify(9).encode(8))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Control(c) if c.kind == "no_scope"),
            "{err:?}"
        );
        server.join().unwrap();
        t.join().unwrap();
        assert_eq!(*lock(&calls), vec![3]);
        let err = daemon
            .request(9, "verify", &Op::verify(1).encode(9))
            .unwrap_err();
        assert!(
            err.to_string().contains("closed the control connection"),
            "{err}"
        );
    }
}
