//! Serving `http` entries: the requests of a connection in order, each answered by the first
//! entry (in file order) that matches it and still has uses left.
//!
//! Parsing, matching and the shape of each answer live in `mocket_protocols::http`; this file
//! owns the socket, the entry counters, the journal and the report.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mocket_protocols::http::{
    self, BodyPolicy, HttpEntry, HttpResponse, Miss, ParseError, Parsed, Request, RequestParser,
    RouteIndex, Step,
};
use serde_json::{Map, Value, json};
use socket2::SockRef;

use super::listener::{grow_if_filled, read_buffer};
use super::{Claim, Engine, lock};
use crate::journal::{Action, Event, JOURNAL_BODY, journal_body};
use crate::record_proxy::PassUpstream;
use crate::scopes::session::CALL_TIMEOUT;
use crate::scopes::{EntrySet, Scope, ScopeEntry, Seen, request_object};
use mocket_config::{Entry, LogLevel};
use mocket_protocols::field::Destination;
use std::cell::RefCell;
use std::path::Path;

/// What serving HTTP needs from a connection beyond its bytes. Implemented by plain TCP here,
/// and by whatever wraps TCP in TLS, which delegates to its socket.
pub(crate) trait Connection: Read + Write {
    /// The TCP socket underneath.
    fn tcp(&self) -> &TcpStream;

    /// Makes the coming close send a TCP reset (RST) instead of an orderly FIN: the `reset`
    /// fault.
    fn reset_on_close(&self) -> io::Result<()> {
        SockRef::from(self.tcp()).set_linger(Some(Duration::ZERO))
    }
}

impl Connection for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// How a request goes into the log of the test scope that holds its destination.
enum LogAs {
    Answered(usize),
    /// Unmatched, with the nearest-miss text.
    Unmatched(String),
    /// In the log already.
    Logged,
}

/// How long a client refused mid-upload may go on sending before the connection closes.
const DRAIN: Duration = Duration::from_secs(2);

/// Whether the connection goes on after a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Open,
    Closed,
}

impl Engine {
    /// Serves one connection to `claim.dest`. `tls` is the scheme of the connection
    /// (`https` entries match only on TLS connections). Each request gets the candidates of
    /// its own moment ([`Engine::entry_set`]): a keep-alive connection outlives test scopes.
    ///
    /// `first`: what the client sent that was read already (by the accepting thread).
    pub(super) fn serve_http<S: Connection>(
        &self,
        mut stream: S,
        tls: bool,
        claim: &Claim,
        first: Vec<u8>,
    ) {
        let mut parser = RequestParser::new();
        parser.feed(&first);
        let mut buf = read_buffer(first);
        let mut upstream = PassUpstream::default();
        loop {
            let flow = self.answer_parsed(&mut parser, &mut stream, tls, claim, &mut upstream);
            if flow == Flow::Closed {
                return;
            }
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            parser.feed(&buf[..n]);
            grow_if_filled(&mut buf, n);
        }
        if parser.is_mid_request() {
            self.info(&format!(
                "http {}: the client closed the connection in the middle of a request",
                claim.dest
            ));
        }
    }

    /// Answers every request the parser has complete, in order.
    fn answer_parsed<S: Connection>(
        &self,
        parser: &mut RequestParser,
        stream: &mut S,
        tls: bool,
        claim: &Claim,
        upstream: &mut PassUpstream,
    ) -> Flow {
        // The candidates are picked when a request's head arrives, and answer it.
        let current: RefCell<Option<Picked>> = RefCell::new(None);
        let mut policy = |head: &Request| {
            let picked = self.pick(&claim.dest, head);
            let policy = picked
                .as_ref()
                .map_or(BodyPolicy::first(0), |picked| self.body_policy(picked));
            *current.borrow_mut() = picked;
            policy
        };
        loop {
            let flow = match parser.poll_with(&mut policy) {
                Ok(None) => return Flow::Open,
                Ok(Some(Parsed::Continue)) => write(stream, http::CONTINUE),
                Ok(Some(Parsed::Request(request))) => {
                    let picked = current.borrow_mut().take();
                    match picked.or_else(|| self.pick(&claim.dest, &request)) {
                        Some(picked) => match self.answer(request, tls, claim, &picked) {
                            Answer::Plan(steps) => perform(stream, steps),
                            Answer::PassThrough(request) => {
                                self.pass_through(&request, stream, tls, claim, upstream)
                            }
                        },
                        None => Flow::Closed,
                    }
                }
                Err(error) => {
                    self.malformed(claim, &error);
                    refuse(stream, &error);
                    Flow::Closed
                }
            };
            if flow == Flow::Closed {
                return flow;
            }
        }
    }

    /// What to hold of a request's body: all of it (up to `MOCKET_MAX_BODY`, a longer one is
    /// refused) when an entry that could answer it matches on the body or is a responder (the
    /// test computes the response from it); up to `MOCKET_MAX_BODY` when a test scope holds
    /// the destination (the test reads its requests back; a longer body is cut, not refused);
    /// else only what the journal shows. Where unmatched requests are passed through, every
    /// body is held whole (up to `MOCKET_MAX_BODY`): whether a request matches is known only
    /// once its body is in, and a passed-through request is forwarded whole.
    fn body_policy(&self, picked: &Picked) -> BodyPolicy {
        let set = &picked.set;
        if passes_through(set) {
            return BodyPolicy::whole(self.max_body());
        }
        let needs_body = picked.likely.iter().any(|&i| {
            set.scope_entry(i).is_some_and(|e| e.responder)
                || http_entry(set.entry(i)).is_some_and(HttpEntry::needs_body)
        });
        match (needs_body, set.scope().is_some(), self.journal.is_on()) {
            (true, _, _) => BodyPolicy::whole(self.max_body()),
            (false, true, _) => BodyPolicy::first(self.max_body()),
            (false, false, true) => BodyPolicy::first(JOURNAL_BODY),
            (false, false, false) => BodyPolicy::first(0),
        }
    }

    /// The candidates of a request on `dest` whose head is `head`; `None` when the mocks file
    /// is broken (everything is refused).
    fn pick(&self, dest: &Destination, head: &Request) -> Option<Picked> {
        let set = self.entry_set(dest)?;
        let likely = self.likely(&set, head);
        Some(Picked { set, likely })
    }

    /// The entries of `set` that could answer `request` (same method and path), the scope's
    /// first.
    fn likely(&self, set: &EntrySet, request: &Request) -> Vec<usize> {
        let mut likely = match &set.scoped {
            Some((_, entries)) => entries.routes().candidates(request),
            None => Vec::new(),
        };
        likely.extend(self.routes(set).candidates(request));
        likely
    }

    /// Picks the response to `request`, journals the exchange, logs the request in the test
    /// scope that holds the destination (before the client can see the response) and returns
    /// what to send, or the request back when it goes to the real server.
    fn answer(&self, request: Request, tls: bool, claim: &Claim, picked: &Picked) -> Answer {
        let set = &picked.set;
        let Some((steps, log)) = self.choose(&request, tls, claim, picked) else {
            return Answer::PassThrough(request);
        };
        if let Some(scope) = set.scope() {
            let seen = |miss| Seen::http(claim.pid, &claim.dest, tls, request, miss);
            match log {
                LogAs::Answered(index) => scope.record(Some(index), seen(None)),
                LogAs::Unmatched(miss) => scope.record(None, seen(Some(&miss))),
                LogAs::Logged => {}
            }
        }
        Answer::Plan(steps)
    }

    /// What to send for `request`, and how the scope's log gets it; `None` when the request
    /// matched nothing and is passed through to the real server.
    fn choose(
        &self,
        request: &Request,
        tls: bool,
        claim: &Claim,
        picked: &Picked,
    ) -> Option<(Vec<Step>, LogAs)> {
        let set = &picked.set;
        let matching = picked.likely.iter().copied().filter(|&i| {
            http_entry(set.entry(i))
                .is_some_and(|e| http::mismatches_on(e, request, tls, &claim.dest).is_empty())
        });
        let Some((index, used)) = self.take_entry(set, matching) else {
            let mut refusal = None;
            if passes_through(set) {
                // No refusal: the real server answers.
                refusal = Some(self.passthrough_refusal(claim)?);
            }
            // The slow path, for the report only: why each entry of the destination missed.
            let entries: Vec<(usize, &HttpEntry)> = set
                .ids()
                .filter_map(|i| Some((i, http_entry(set.entry(i))?)))
                .collect();
            let reasons = entries
                .iter()
                .map(|(_, e)| http::mismatches_on(e, request, tls, &claim.dest))
                .collect();
            let misses = misses(&entries, reasons, request);
            let (steps, miss) = self.unmatched(request, tls, claim, set, misses, refusal);
            return Some((steps, LogAs::Unmatched(miss)));
        };
        let Entry::Http(entry) = set.entry(index) else {
            unreachable!("filtered to http entries")
        };
        if let Some(scope) = set.scope()
            && let Some(responder) = set.scope_entry(index).filter(|e| e.responder)
        {
            let steps = self.respond_with(request, tls, claim, scope, responder);
            return Some((steps, LogAs::Logged));
        }
        let last = entry.responses.len() - 1;
        let response = &entry.responses[usize::try_from(used).unwrap_or(last).min(last)];
        let rendered;
        let response = match &response.template {
            None => response,
            Some(_) => {
                let input = http::RenderInput {
                    entry,
                    request,
                    tls,
                    dest: &claim.dest,
                    seq: used + 1,
                };
                match http::render(response, &input) {
                    Ok(r) => {
                        rendered = r;
                        &rendered
                    }
                    Err(e) => {
                        let steps = self.template_failed(request, claim, index, &e);
                        return Some((steps, LogAs::Answered(index)));
                    }
                }
            }
        };
        self.count_mocked();
        if self.journal.is_on() {
            let event = self
                .event(claim, Action::Mocked, request, response_json(response))
                .entry(Some(index));
            self.journal.record(&scoped(event, set));
        }
        if self.log >= LogLevel::Info {
            self.info(&format!(
                "http {}: {} {} -> entry #{index}, status {}",
                claim.dest, request.method, request.target, response.status
            ));
        }
        Some((http::plan(response, request), LogAs::Answered(index)))
    }

    /// Asks the test that registered `responder` for the response (DESIGN.md section 8:
    /// callbacks run in the test's process). A failed call answers `500` with why, and fails
    /// the scope.
    /// The request is in the scope's log before the closure runs (it may read it).
    fn respond_with(
        &self,
        request: &Request,
        tls: bool,
        claim: &Claim,
        scope: &Arc<Scope>,
        responder: &ScopeEntry,
    ) -> Vec<Step> {
        let entry = Some(responder.id);
        let object = request_object(claim.pid, &claim.dest, tls, request, entry, None);
        let call = json!({"op": "respond_with", "scope": scope.id, "entry": responder.id,
                          "request": object});
        let seen = Seen::http(claim.pid, &claim.dest, tls, request.clone(), None);
        scope.record(entry, seen);
        let answer = match self.scopes.session(scope.session) {
            Some(session) => session.call(call, CALL_TIMEOUT),
            None => Err("failed: the test's control session is closed".into()),
        };
        let response = answer
            .map_err(
                |e| match e.starts_with("panicked") || e.starts_with("failed") {
                    true => e,
                    false => format!("failed: {e}"),
                },
            )
            .and_then(|value| {
                HttpResponse::from_json(&value, Path::new(".")).map_err(|e| {
                    format!(
                        "answered an invalid response: {}: {}",
                        e.path_text(),
                        e.message
                    )
                })
            });
        let (response, event) = match response {
            Ok(response) => {
                let json = response_json(&response);
                (response, self.event(claim, Action::Mocked, request, json))
            }
            Err(why) => {
                let message = format!("respond_with of {} {why}", responder.label);
                self.warn(&message);
                scope.fail(message.clone());
                let event = self
                    .event(claim, Action::Mocked, request, json!({"status": 500}))
                    .with("reason", json!(message));
                (
                    http::text_response(500, format!("mocket: {message}\n")),
                    event,
                )
            }
        };
        if self.journal.is_on() {
            let event = event
                .entry(Some(responder.id))
                .with("scope", json!(scope.name));
            self.journal.record(&event);
        }
        http::plan(&response, request)
    }

    /// The mocks file's http entries of the destination indexed by method and path, built on
    /// its first request.
    fn routes(&self, set: &EntrySet) -> Arc<RouteIndex> {
        let mut routes = lock(&self.http_routes);
        crate::cached_index(&mut routes, &set.dest, crate::MAX_CACHED_INDEXES, || {
            let ids = set.config.entries_for(&set.dest);
            let entries = ids
                .iter()
                .filter_map(|&i| Some((i, http_entry(&set.config.entries[i])?)));
            RouteIndex::new(entries)
        })
    }

    /// The `501` for a request no entry answers, counted so that `mocket run` fails, and its
    /// nearest-miss text. `note` ends the body (why it was not passed through).
    fn unmatched(
        &self,
        request: &Request,
        tls: bool,
        claim: &Claim,
        set: &EntrySet,
        misses: Vec<Miss>,
        note: Option<String>,
    ) -> (Vec<Step>, String) {
        let near = http::closest(misses);
        let origin = format!("{}://{}", http::scheme(tls), claim.dest);
        let mut body = http::unmatched_body(request, &origin, &near);
        let mut summary = http::unmatched_summary(request, &near);
        if let Some(note) = &note {
            body.push_str(&format!("mocket: {note}\n"));
            summary = format!("{summary}; {note}");
        }
        let miss = body.trim_end().to_string();
        let event = self
            .event(claim, Action::Unmatched, request, json!({"status": 501}))
            .with("reason", json!(miss));
        self.count_unmatched(claim, "http", summary, scoped(event, set));
        (http::plan(&http::text_response(501, body), request), miss)
    }

    /// A template that failed to render: `500` with the error, journaled and counted as
    /// unmatched (the client did not get the response the entry meant).
    fn template_failed(
        &self,
        request: &Request,
        claim: &Claim,
        index: usize,
        error: &http::TemplateError,
    ) -> Vec<Step> {
        let body = format!("mocket: entry #{index}: {error}\n");
        let event = self
            .event(claim, Action::Unmatched, request, json!({"status": 500}))
            .entry(Some(index))
            .with("reason", json!(error.to_string()));
        let what = format!(
            "{} {}: entry #{index}: {error}",
            request.method, request.target
        );
        self.count_unmatched(claim, "http", what, event);
        http::plan(&http::text_response(500, body), request)
    }

    /// A request that is not HTTP, or refused (a body over `MOCKET_MAX_BODY`): journaled and
    /// reported like an unmatched one, since the client under test did not get what it
    /// expected either.
    pub(super) fn malformed(&self, claim: &Claim, error: &ParseError) {
        let event = claim
            .event("http", Action::Unmatched)
            .with("response", json!({"status": error.status}))
            .with("reason", json!(error.message));
        let what = match error.status {
            413 => format!("refused request (413): {error}"),
            _ => format!("malformed request: {error}"),
        };
        self.count_unmatched(claim, "http", what, event);
    }

    pub(super) fn event(
        &self,
        claim: &Claim,
        action: Action,
        request: &Request,
        response: Value,
    ) -> Event {
        claim
            .event("http", action)
            .with("request", request_json(request))
            .with("response", response)
    }
}

/// A request's candidates, picked when its head arrives (they answer it even if a test scope
/// changes meanwhile): the entry set of that moment, and those of its entries that could
/// answer the request (same method and path), looked up once for the body policy and the
/// answer.
struct Picked {
    set: EntrySet,
    likely: Vec<usize>,
}

/// What a request gets.
enum Answer {
    /// Mocket's own response (an entry's, or a 501/500 saying why).
    Plan(Vec<Step>),
    /// The real server's: the request matched nothing and `"unmatched": "passthrough"` is on.
    PassThrough(Request),
}

/// Whether requests of `set` that match nothing are relayed to the real destination: with
/// `"unmatched": "passthrough"`, unless a test scope holds the destination (its unmatched
/// requests get 501 and fail the scope, DESIGN.md section 8).
fn passes_through(set: &EntrySet) -> bool {
    set.config.unmatched == mocket_config::Unmatched::Passthrough && set.scope().is_none()
}

/// The event with the test's name when a scope holds the destination.
fn scoped(event: Event, set: &EntrySet) -> Event {
    match set.scope() {
        Some(scope) => event.with("scope", json!(scope.name)),
        None => event,
    }
}

fn http_entry(entry: &Entry) -> Option<&HttpEntry> {
    match entry {
        Entry::Http(e) => Some(e),
        _ => None,
    }
}

/// Why each entry did not answer `request`; an entry that matched was skipped because its
/// `times` ran out.
fn misses(
    entries: &[(usize, &HttpEntry)],
    reasons: Vec<Vec<String>>,
    request: &Request,
) -> Vec<Miss> {
    entries
        .iter()
        .zip(reasons)
        .map(|((index, entry), mut reasons)| {
            if reasons.is_empty() {
                let times = entry.times.unwrap_or_default();
                reasons.push(format!(
                    "matches, but already answered its \"times\": {times} request(s)"
                ));
            }
            Miss::new(*index, entry, request, reasons)
        })
        .collect()
}

/// The journal's `request`: method, path with query, headers by lower-case name (repeated
/// headers joined by `, `), body (cut as [`journal_body`] says).
pub(super) fn request_json(request: &Request) -> Value {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        match headers.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), json!(value));
            }
        }
    }
    let mut fields = json!({
        "method": request.method,
        "path": request.path_and_query(),
        "headers": headers,
    });
    journal_body(&mut fields, &request.body, request.body_len);
    fields
}

fn response_json(response: &HttpResponse) -> Value {
    match response.fault {
        Some(fault) => json!({"status": response.status, "fault": fault.name()}),
        None => json!({"status": response.status}),
    }
}

/// Answers a request the parser refused and closes. A refused upload is still arriving: the
/// connection says it is done writing and reads (and drops) what the client sends for up to
/// [`DRAIN`], because closing a socket with unread bytes sends a reset that can destroy the
/// answer before the client reads it.
pub(super) fn refuse<S: Connection>(stream: &mut S, error: &ParseError) {
    if write(stream, &http::error_response(error)) == Flow::Closed || error.status != 413 {
        return;
    }
    let tcp = stream.tcp();
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = std::time::Instant::now() + DRAIN;
    let mut buf = vec![0u8; 64 * 1024];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

pub(super) fn write<S: Connection>(stream: &mut S, bytes: &[u8]) -> Flow {
    match stream.write_all(bytes).and_then(|()| stream.flush()) {
        Ok(()) => Flow::Open,
        Err(_) => Flow::Closed,
    }
}

/// Carries out a plan; the connection closes when the caller drops the stream.
pub(super) fn perform<S: Connection>(stream: &mut S, steps: Vec<Step>) -> Flow {
    for step in steps {
        let flow = match step {
            Step::Write(bytes) => write(stream, &bytes),
            Step::Sleep(pause) => {
                thread::sleep(pause);
                Flow::Open
            }
            Step::Reset => {
                let _ = stream.reset_on_close();
                Flow::Closed
            }
            Step::Close => Flow::Closed,
            Step::Repeat(round) => loop {
                if perform(stream, round.clone()) == Flow::Closed {
                    break Flow::Closed;
                }
            },
        };
        if flow == Flow::Closed {
            return flow;
        }
    }
    Flow::Open
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
