//! The daemon placement's control socket: the shim of every process under `mocket run` asks its
//! questions here, one line per request (see [`crate::control`]).
//!
//! A connection whose first byte is `{` speaks the test API's JSON control protocol instead
//! ([`crate::scopes`]): it is handed to a thread of its own for its whole life
//! ([`crate::scopes::daemon`]), since its requests may wait (for a lease) and the engine
//! writes to it unasked (responder calls).
//!
//! One thread serves every other control connection with epoll. The shim keeps a connection per
//! thread of each process for the process's life, so a thread per connection grew with the
//! threads of the whole process tree; and every answer comes from memory in microseconds, so
//! one thread keeps up. No read blocks: a silent peer holds its socket and at most
//! [`MAX_LINE`] bytes of an unfinished line, a peer that does not read its replies at most
//! [`MAX_UNREAD_REPLIES`] bytes, then it is disconnected.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};

use crate::Engine;
use crate::control::Request;

/// The longest request line: far above any real request (a name is at most 253 bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// How many bytes of replies may wait for a peer that does not read them.
const MAX_UNREAD_REPLIES: usize = 1024 * 1024;

/// How long accepting pauses when the process is out of file descriptors.
const FD_BACKOFF: Duration = Duration::from_millis(50);

const LISTENER: Token = Token(0);

/// Listens on `path` and answers every connection from one thread, until the process exits.
pub fn serve_control(engine: Arc<Engine>, path: &Path) -> io::Result<()> {
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    let mut listener = UnixListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let server = ControlServer {
        engine,
        poll,
        listener,
        peers: HashMap::new(),
        next_token: 0,
        accept_paused: false,
    };
    std::thread::Builder::new()
        .name("mocket-control".into())
        .spawn(move || server.run())?;
    Ok(())
}

struct ControlServer {
    engine: Arc<Engine>,
    poll: Poll,
    listener: UnixListener,
    peers: HashMap<Token, Peer>,
    next_token: usize,
    /// Out of file descriptors: accepting is retried after [`FD_BACKOFF`].
    accept_paused: bool,
}

/// One control connection and its unfinished input and unsent output.
struct Peer {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Whether it is registered for writability too (replies are waiting).
    waits_to_write: bool,
    /// Whether it sent a shim line already (then it is not a JSON session).
    spoke_lines: bool,
    /// The process that connected, as the kernel names it in the engine's pid namespace
    /// (`None` when it cannot: the peer lives in a namespace the engine does not see).
    pid: Option<u32>,
}

impl ControlServer {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self.accept_paused.then_some(FD_BACKOFF);
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                crate::say(&format!("the control socket's loop failed: {e}"));
                std::thread::sleep(FD_BACKOFF);
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    token => self.serve_peer(token),
                }
            }
            if self.accept_paused {
                self.accept_all();
            }
        }
    }

    fn accept_all(&mut self) {
        self.accept_paused = false;
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    self.next_token = self.next_token.wrapping_add(1).max(1);
                    let token = Token(self.next_token);
                    let registered =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE);
                    if registered.is_ok() {
                        self.peers.insert(token, Peer::new(stream));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if crate::listener_out_of_fds(&e) {
                        self.engine.warn_fd_limit("the control socket", &e);
                    }
                    self.accept_paused = true;
                    return;
                }
            }
        }
    }

    /// Reads what a peer sent, answers its complete lines, and sends what it can.
    fn serve_peer(&mut self, token: Token) {
        let Some(peer) = self.peers.get_mut(&token) else {
            return;
        };
        let received = peer.receive(&self.engine);
        let keep = received == Received::Lines && peer.send(&self.poll, token);
        if !keep && let Some(mut peer) = self.peers.remove(&token) {
            let _ = self.poll.registry().deregister(&mut peer.stream);
            if received == Received::Json {
                let stream = std::os::unix::net::UnixStream::from(peer.stream);
                crate::scopes::daemon::serve_session(&self.engine, stream, peer.input);
            }
        }
    }
}

/// What a peer's input turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Received {
    /// Shim lines (answered), and the connection goes on.
    Lines,
    /// The JSON control protocol: the connection leaves this thread.
    Json,
    Closed,
}

impl Peer {
    fn new(stream: UnixStream) -> Peer {
        let pid = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
            .ok()
            .and_then(|cred| u32::try_from(cred.pid()).ok())
            .filter(|pid| *pid != 0);
        Peer {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            waits_to_write: false,
            spoke_lines: false,
            pid,
        }
    }

    /// Reads until the socket is drained.
    fn receive(&mut self, engine: &Arc<Engine>) -> Received {
        let mut buf = [0u8; 8192];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Received::Closed,
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    if !self.spoke_lines && self.input.first() == Some(&b'{') {
                        return Received::Json;
                    }
                    if !self.answer_lines(engine) {
                        return Received::Closed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::Lines,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Received::Closed,
            }
        }
    }

    /// Answers every complete line of the input; `false` when the peer broke the protocol.
    fn answer_lines(&mut self, engine: &Arc<Engine>) -> bool {
        let mut start = 0;
        while let Some(end) = self.input[start..].iter().position(|&b| b == b'\n') {
            let line = &self.input[start..start + end];
            start += end + 1;
            self.spoke_lines = true;
            let Ok(line) = std::str::from_utf8(line) else {
                return false;
            };
            let request = Request::parse(line);
            if let Ok(Request::Route { pid, .. }) = &request
                && self.pid != Some(*pid)
            {
                engine.unverifiable_pid(*pid, self.pid);
            }
            self.output
                .extend_from_slice(engine.answer_line(line, request).as_bytes());
            self.output.push(b'\n');
        }
        self.input.drain(..start);
        if self.input.len() > MAX_LINE {
            let refusal = crate::control::Reply::Refuse(format!(
                "engine: a control request longer than {MAX_LINE} bytes"
            ));
            let line = refusal.to_line().unwrap_or_else(|_| "refuse".into());
            self.output.extend_from_slice(line.as_bytes());
            self.output.push(b'\n');
            let _ = self.stream.write_all(&self.output);
            return false;
        }
        self.output.len() <= MAX_UNREAD_REPLIES
    }

    /// Writes what it can of the output, watching for writability while some is left; `false`
    /// when the connection is broken.
    fn send(&mut self, poll: &Poll, token: Token) -> bool {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return false,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let wants_to_write = !self.output.is_empty();
        if wants_to_write != self.waits_to_write {
            let interest = match wants_to_write {
                true => Interest::READABLE | Interest::WRITABLE,
                false => Interest::READABLE,
            };
            if poll
                .registry()
                .reregister(&mut self.stream, token, interest)
                .is_err()
            {
                return false;
            }
            self.waits_to_write = wants_to_write;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use mocket_config::{Config, LogLevel};
    use std::io::{BufRead, BufReader, Read};

    fn engine() -> Arc<Engine> {
        let config = Config::parse(
            r#"{"entries": [{"tcp": "a.internal:1", "response": "x"}]}"#,
            "m.json",
            Path::new("."),
        )
        .map(Arc::new);
        Engine::with_config(config, LogLevel::Error, Journal::default(), None)
    }

    fn socket_path() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mocket-daemon-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("control.sock")
    }

    /// Threads of this process named like the control server's (other tests start threads
    /// of their own).
    fn control_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("mocket-control"))
            .count()
    }

    #[test]
    fn many_connections_share_one_thread() {
        let path = socket_path();
        serve_control(engine(), &path).unwrap();
        let mut peers: Vec<_> = (0..200)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        for peer in &mut peers {
            peer.write_all(b"resolve 1 a.internal\n").unwrap();
        }
        for peer in &peers {
            let mut reply = String::new();
            BufReader::new(peer).read_line(&mut reply).unwrap();
            assert!(reply.starts_with("fake "), "{reply:?}");
        }
        // This test's server and the other test's, however many connections.
        assert!(control_threads() <= 2, "{} threads", control_threads());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// The reply to `line` sent on a control connection of this process (a socket pair, no
    /// server thread: the test counting those threads runs beside).
    fn ask(e: &Arc<Engine>, line: &str) -> String {
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut peer = Peer::new(UnixStream::from_std(ours));
        assert_eq!(peer.pid, Some(std::process::id()));
        peer.input.extend_from_slice(line.as_bytes());
        assert!(peer.answer_lines(e));
        String::from_utf8(peer.output).unwrap()
    }

    #[test]
    fn a_route_asked_under_another_pid_stops_source_tags_being_reclaimed() {
        let me = std::process::id();
        let e = engine();
        let fake = e.fake_ip_of("a.internal").unwrap();
        let reply = ask(&e, &format!("route {me} tcp {fake} 1\n"));
        assert!(reply.starts_with("redirect "), "{reply:?}");
        assert!(e.source_tags.stop_reclaiming(), "its own pid stopped it");

        let e = engine();
        let fake = e.fake_ip_of("a.internal").unwrap();
        // What a process in a nested pid namespace sends: its pid there.
        let reply = ask(&e, &format!("route {} tcp {fake} 1\n", me + 1));
        assert!(reply.starts_with("redirect "), "{reply:?}");
        assert!(!e.source_tags.stop_reclaiming(), "still reclaiming");
    }

    #[test]
    fn an_endless_line_is_refused_and_closed() {
        let path = socket_path();
        serve_control(engine(), &path).unwrap();
        let mut peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = peer.write_all(&vec![b'x'; MAX_LINE * 2]);
        // The refusal may be lost to the reset that closing with unread input causes; what
        // matters is that the daemon closes instead of buffering on.
        let mut reply = Vec::new();
        match peer.read_to_end(&mut reply) {
            Ok(_) => assert!(String::from_utf8_lossy(&reply).contains("longer than")),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
