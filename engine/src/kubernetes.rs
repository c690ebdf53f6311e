//! Serving `kubernetes` entries: an in-memory Kubernetes API server per destination, shared by
//! every connection to it (under `mocket run`, by the whole process tree, since they all reach
//! the daemon's engine).
//!
//! The API lives in `mocket_protocols::kubernetes` (sans-IO); this file owns the sockets, TLS,
//! the journal (one event per request, one per dropped watch) and the wakeups of watches.
//!
//! A watch holds its connection's thread and writes what waits in its queue in the emulator.
//! Writers never touch a watcher's socket: they add to its bounded queue under the emulator's
//! lock and wake the watches; a watcher that stops reading blocks only its own thread (up to
//! the write timeout), and once its queue is full the emulator drops it and the watch ends
//! with a journal event.

use std::collections::HashMap;
use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mocket_protocols::field::Destination;
use mocket_protocols::http::{
    self, BodyPolicy, HttpResponse, Parsed, Request, RequestParser, Transfer,
};
use mocket_protocols::kubernetes::{
    Emulator, KubernetesEntry, Outcome, Reply, WATCH_END, WATCH_HEAD, WatchStart, watch_chunk,
};
use serde_json::json;

use super::http::{Connection, Flow, perform, refuse, request_json, write};
use super::listener::{grow_if_filled, read_buffer};
use super::scopes::EntrySet;
use super::tls::speaks_tls;
use super::{Claim, Engine, lock};
use crate::journal::Action;
use mocket_config::Entry;

/// How often a watch with nothing to send checks that its client is still there.
const WATCH_POLL: Duration = Duration::from_millis(200);

/// The API servers of an engine by destination, each made on the first connection to it.
#[derive(Default)]
pub(super) struct Servers {
    by_destination: Mutex<HashMap<Destination, Arc<Server>>>,
}

/// One emulated API server.
struct Server {
    emulator: Mutex<Emulator>,
    /// Signalled after every write: watches have news.
    news: Condvar,
    /// The socket of each open watch, to shut down when it overflows: its thread may be
    /// blocked writing to a client that does not read.
    watch_sockets: Mutex<HashMap<u64, TcpStream>>,
}

impl Server {
    /// Wakes the watches after a write, and frees those that fell too far behind.
    fn wrote(&self) {
        let overflowed = lock(&self.emulator).store().take_overflowed();
        if !overflowed.is_empty() {
            let sockets = lock(&self.watch_sockets);
            for id in overflowed {
                if let Some(socket) = sockets.get(&id) {
                    let _ = socket.shutdown(std::net::Shutdown::Both);
                }
            }
        }
        self.news.notify_all();
    }
}

impl Servers {
    fn server(&self, dest: &Destination, entry: &KubernetesEntry) -> Arc<Server> {
        let mut map = lock(&self.by_destination);
        let server = map.entry(dest.clone()).or_insert_with(|| {
            Arc::new(Server {
                emulator: Mutex::new(Emulator::new(entry, unix_now())),
                news: Condvar::new(),
                watch_sockets: Mutex::default(),
            })
        });
        Arc::clone(server)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Engine {
    /// Serves a connection to a `kubernetes` destination, over TLS or plaintext, whichever the
    /// client speaks; `first`: what the client sent that was read already.
    pub(super) fn serve_kubernetes(
        &self,
        stream: TcpStream,
        claim: &Claim,
        set: &EntrySet,
        first: Vec<u8>,
    ) {
        let Some(index) = set
            .ids()
            .find(|&i| matches!(set.entry(i), Entry::Kubernetes(_)))
        else {
            return;
        };
        match speaks_tls(&stream, &first) {
            Some(true) => {
                if let Some(tls) = self.terminate_tls(stream, claim, &first) {
                    self.serve_api(tls, claim, set, index, Vec::new());
                }
            }
            Some(false) => self.serve_api(stream, claim, set, index, first),
            None => {}
        }
    }

    fn kubernetes_entry(set: &EntrySet, index: usize) -> &KubernetesEntry {
        match set.entry(index) {
            Entry::Kubernetes(e) => e,
            _ => unreachable!("a kubernetes entry index"),
        }
    }

    /// Answers the requests of one connection in order.
    fn serve_api<S: Connection>(
        &self,
        mut stream: S,
        claim: &Claim,
        set: &EntrySet,
        index: usize,
        first: Vec<u8>,
    ) {
        let server = self
            .kubernetes
            .server(&claim.dest, Self::kubernetes_entry(set, index));
        let mut parser = RequestParser::new();
        parser.feed(&first);
        let mut buf = read_buffer(first);
        let max_body = self.max_body();
        loop {
            loop {
                let flow = match parser.poll_with(&mut |_: &Request| BodyPolicy::whole(max_body)) {
                    Ok(None) => break,
                    Ok(Some(Parsed::Continue)) => write(&mut stream, http::CONTINUE),
                    Ok(Some(Parsed::Request(request))) => self.answer_api(
                        &mut stream,
                        &mut parser,
                        &server,
                        claim,
                        (set, index),
                        &request,
                    ),
                    Err(error) => {
                        self.malformed(claim, &error);
                        refuse(&mut stream, &error);
                        Flow::Closed
                    }
                };
                if flow == Flow::Closed {
                    return;
                }
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    parser.feed(&buf[..n]);
                    grow_if_filled(&mut buf, n);
                }
            }
        }
    }

    fn answer_api<S: Connection>(
        &self,
        stream: &mut S,
        parser: &mut RequestParser,
        server: &Server,
        claim: &Claim,
        (set, index): (&EntrySet, usize),
        request: &Request,
    ) -> Flow {
        let _ = self.take_entry(set, std::iter::once(index));
        self.count_mocked();
        let outcome = lock(&server.emulator).handle(request, unix_now());
        match outcome {
            Outcome::Reply(reply) => {
                if reply.changed {
                    server.wrote();
                }
                self.journal_api(claim, index, request, reply.status, None);
                perform(stream, http::plan(&http_response(reply), request))
            }
            Outcome::Watch(watch) => {
                self.journal_api(claim, index, request, 200, Some(watch.backlog.len()));
                match self.stream_watch(stream, parser, server, claim, watch) {
                    Flow::Open if request.keep_alive() => Flow::Open,
                    _ => Flow::Closed,
                }
            }
        }
    }

    /// Streams a watch until its timeout (then the response ends and the connection serves
    /// the next request), the client goes away, or its queue overflows (then it closes).
    fn stream_watch<S: Connection>(
        &self,
        stream: &mut S,
        parser: &mut RequestParser,
        server: &Server,
        claim: &Claim,
        watch: WatchStart,
    ) -> Flow {
        let mut head = WATCH_HEAD.to_vec();
        for line in &watch.backlog {
            head.extend_from_slice(&watch_chunk(line));
        }
        let Some(id) = watch.id else {
            head.extend_from_slice(WATCH_END);
            return write(stream, &head);
        };
        if let Ok(socket) = stream.tcp().try_clone() {
            lock(&server.watch_sockets).insert(id, socket);
        }
        let flow = write(stream, &head);
        let end = self.follow_watch(stream, parser, server, id, flow, watch.timeout);
        let overflowed = {
            let mut emulator = lock(&server.emulator);
            let overflowed = emulator.store().drain(id).overflowed;
            emulator.store().unwatch(id);
            overflowed
        };
        lock(&server.watch_sockets).remove(&id);
        if overflowed {
            self.watch_dropped(claim);
            return Flow::Closed;
        }
        end
    }

    fn follow_watch<S: Connection>(
        &self,
        stream: &mut S,
        parser: &mut RequestParser,
        server: &Server,
        id: u64,
        mut flow: Flow,
        timeout: Option<Duration>,
    ) -> Flow {
        let deadline = timeout.map(|t| Instant::now() + t);
        while flow == Flow::Open {
            let drained = {
                let mut emulator = lock(&server.emulator);
                let mut drained = emulator.store().drain(id);
                if drained.lines.is_empty() && !drained.overflowed && !drained.gone {
                    let wait = deadline.map_or(WATCH_POLL, |d| {
                        d.saturating_duration_since(Instant::now()).min(WATCH_POLL)
                    });
                    emulator = server
                        .news
                        .wait_timeout(emulator, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    drained = emulator.store().drain(id);
                }
                drained
            };
            let mut wire = Vec::new();
            for line in &drained.lines {
                wire.extend_from_slice(&watch_chunk(line));
            }
            if !wire.is_empty() {
                flow = write(stream, &wire);
            }
            if drained.overflowed || drained.gone {
                return Flow::Closed;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return write(stream, WATCH_END);
            }
            if drained.lines.is_empty() && client_gone(stream, parser) {
                return Flow::Closed;
            }
        }
        flow
    }

    fn watch_dropped(&self, claim: &Claim) {
        let why = "a watch fell behind: more events waited for it than the entry's watch_buffer \
                   allows, so it was dropped (the client must watch again, as after a real API \
                   server drops a slow watch)";
        self.warn(&format!("kubernetes {}: {why}", claim.dest));
        let event = claim
            .event("kubernetes", Action::Closed)
            .with("reason", json!(why));
        self.journal.record(&event);
    }

    fn journal_api(
        &self,
        claim: &Claim,
        index: usize,
        request: &Request,
        status: u16,
        watch_backlog: Option<usize>,
    ) {
        if self.journal.is_on() {
            let mut response = json!({"status": status});
            if let Some(events) = watch_backlog {
                response["watch"] = json!({"initial_events": events});
            }
            let event = claim
                .event("kubernetes", Action::Mocked)
                .with("request", request_json(request))
                .with("response", response)
                .entry(Some(index));
            self.journal.record(&event);
        }
        self.info(&format!(
            "kubernetes {}: {} {} -> {status}",
            claim.dest, request.method, request.target
        ));
    }
}

fn http_response(reply: Reply) -> HttpResponse {
    HttpResponse {
        status: reply.status,
        reason: None,
        headers: vec![("content-type".into(), reply.content_type)],
        body: reply.body,
        delay: Duration::ZERO,
        fault: None,
        transfer: Transfer::Length,
        template: None,
    }
}

/// Whether the client of a watch closed or reset its connection. Bytes it sent meanwhile (a
/// TLS alert is consumed by the TLS layer) are kept for the parser.
fn client_gone<S: Connection>(stream: &mut S, parser: &mut RequestParser) -> bool {
    if stream.tcp().set_nonblocking(true).is_err() {
        return true;
    }
    let mut buf = [0u8; 4096];
    let gone = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => {
            parser.feed(&buf[..n]);
            false
        }
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    let _ = stream.tcp().set_nonblocking(false);
    gone
}
