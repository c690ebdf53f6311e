//! HTTP on a recorded destination: each request is answered from the cassette when it holds
//! one, else forwarded to the real server (connected on first need) and recorded, else (a mode
//! that does not record) answered `501`. Requests are parsed by the same parser as `http`
//! entries and held whole (up to `MOCKET_MAX_BODY`), since they are forwarded and recorded.
//!
//! A recorded response that arrives whole and soon (at most [`HOLD_MAX`] on the wire, no pause
//! over [`HOLD_PAUSE`]) is held, saved, and sent as replay sends it (whole body,
//! `content-length`), so a replay gives the client the bytes the recording run gave it. A
//! larger or slower response is a stream: the client gets it as it arrives, framed as the server
//! framed it, while its body is recorded up to [`RECORD_MAX_BODY`] (the cassette marks a body
//! cut there with `body_truncated`). Either way the exchange is saved before the client can see
//! the response end (a process that exits the moment it has its answer keeps its recording); a
//! response that never ends is saved when it reaches the limit, one cut short when the client
//! or the server leaves. Replay sends the recorded body whole, with `content-length`.

use std::time::Duration;

use mocket_protocols::http::{
    self, BodyPolicy, HttpResponse, Parsed, Request, RequestParser, ResponseHead, ResponseReader,
    Step, Transfer,
};
use mocket_recordings::Recorder;
use mocket_recordings::http::{
    HttpExchange, RECORD_MAX_BODY, RecordedRequest, RecordedResponse, forward_request,
    stored_headers,
};
use serde_json::json;

use super::Interaction;
use super::side::{Got, Side};
use crate::http::{Flow, perform, refuse, write};
use crate::journal::Action;
use crate::{Claim, Engine};

/// How long the real server may take to answer one request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) struct HttpProxy<'a> {
    engine: &'a Engine,
    rec: &'a Recorder,
    claim: &'a Claim,
    tls: bool,
    client: Box<dyn Side>,
    upstream: Option<Box<dyn Side>>,
    /// The name for TLS upstream (the client's SNI when it sent one).
    host: String,
    /// The upstream connection already answered a request: if it fails before saying anything,
    /// the server probably closed it while idle, and one retry on a fresh connection is safe.
    reused: bool,
}

impl<'a> HttpProxy<'a> {
    pub fn new(
        engine: &'a Engine,
        rec: &'a Recorder,
        claim: &'a Claim,
        tls: bool,
        client: Box<dyn Side>,
        upstream: Option<Box<dyn Side>>,
        host: String,
    ) -> Self {
        HttpProxy {
            engine,
            rec,
            claim,
            tls,
            client,
            upstream,
            host,
            reused: false,
        }
    }

    /// Serves the connection's requests in order; `prefix` is what was already read of them.
    pub fn serve(mut self, prefix: Vec<u8>) {
        let mut parser = RequestParser::new();
        parser.feed(&prefix);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if self.answer_parsed(&mut parser) == Flow::Closed {
                return;
            }
            match self.client.read_within(&mut buf, None) {
                Got::Data(n) => parser.feed(&buf[..n]),
                _ => return,
            }
        }
    }

    /// Requests are forwarded and recorded whole, so their bodies are held up to
    /// `MOCKET_MAX_BODY`.
    fn answer_parsed(&mut self, parser: &mut RequestParser) -> Flow {
        let max_body = self.engine.max_body();
        loop {
            let flow = match parser.poll_with(&mut |_| BodyPolicy::whole(max_body)) {
                Ok(None) => return Flow::Open,
                Ok(Some(Parsed::Continue)) => write(&mut self.client, http::CONTINUE),
                Ok(Some(Parsed::Request(request))) => self.answer(&request),
                Err(error) => {
                    self.engine.malformed(self.claim, &error);
                    refuse(&mut self.client, &error);
                    Flow::Closed
                }
            };
            if flow == Flow::Closed {
                return flow;
            }
        }
    }

    fn answer(&mut self, request: &Request) -> Flow {
        let live = RecordedRequest::live(request, self.tls, &self.claim.dest);
        let replayed = match self.rec.replays() {
            true => self.rec.replay_http(&live),
            false => None,
        };
        if let Some(response) = replayed {
            self.journal(Action::Replayed, request, response.status, None);
            return perform(
                &mut self.client,
                http::plan(&as_response(response), request),
            );
        }
        if !self.rec.records() {
            let why = format!(
                "not in the cassette {} (record mode {} records nothing)",
                self.rec.cassette().display(),
                self.rec.settings().mode
            );
            let steps = self.fail(request, &live.url, 501, why);
            return perform(&mut self.client, steps);
        }
        match self.record(request, live) {
            Ok(flow) => flow,
            Err((why, url)) => {
                let steps = self.fail(request, &url, 502, format!("not recorded: {why}"));
                perform(&mut self.client, steps)
            }
        }
    }

    /// Mocket's own answer when neither the cassette nor the server gave one.
    fn fail(&self, request: &Request, url: &str, status: u16, why: String) -> Vec<Step> {
        let body = format!("mocket: {} {url}: {why}\n", request.method);
        self.journal(Action::Unmatched, request, status, Some(why));
        let response = http::text_response(status, body);
        http::plan(&response, request)
    }

    fn journal(&self, action: Action, request: &Request, status: u16, reason: Option<String>) {
        self.sink().journal(action, request, status, reason);
    }

    fn sink(&self) -> RecordSink<'a> {
        RecordSink {
            engine: self.engine,
            rec: self.rec,
            claim: self.claim,
        }
    }

    /// Forwards `request`, relays the response to the client while recording it, and saves
    /// the exchange. An error (with the request's URL) means the client got nothing yet, so
    /// mocket can still answer it.
    fn record(
        &mut self,
        request: &Request,
        live: RecordedRequest,
    ) -> Result<Flow, (String, String)> {
        let wire = forward_request(request);
        let mut capture = Capture::new(live);
        let sink = self.sink();
        let mut save = |capture: &mut Capture| sink.save(request, capture);
        loop {
            let retry = self.reused && self.upstream.is_some();
            if let Err(why) = self.open_upstream() {
                return Err((why, capture.exchange.request.url));
            }
            let upstream = self.upstream.as_mut().expect("just opened");
            let relayed = relay_response(
                upstream.as_mut(),
                &mut self.client,
                &wire,
                request,
                &mut capture,
                &mut save,
            );
            match relayed {
                Relayed::Done {
                    upstream_closes,
                    held,
                } => {
                    self.reused = true;
                    if upstream_closes {
                        self.upstream = None;
                    }
                    if held {
                        let response = as_response(capture.exchange.response);
                        return Ok(perform(&mut self.client, http::plan(&response, request)));
                    }
                    let flow = match upstream_closes || !request.keep_alive() {
                        true => Flow::Closed,
                        false => Flow::Open,
                    };
                    return Ok(flow);
                }
                Relayed::Cut(why) => {
                    self.upstream = None;
                    capture.cut(why);
                    save(&mut capture);
                    return Ok(Flow::Closed);
                }
                Relayed::Nothing { why, silent } => {
                    self.upstream = None;
                    if !(retry && silent) {
                        return Err((why, capture.exchange.request.url));
                    }
                    capture = Capture::new(capture.exchange.request);
                }
            }
        }
    }

    /// The upstream connection, opened (with TLS when the client used it) on first need.
    fn open_upstream(&mut self) -> Result<(), String> {
        if self.upstream.is_none() {
            let side = (self.engine).http_upstream(&self.claim.dest, self.tls, &self.host)?;
            self.upstream = Some(side);
            self.reused = false;
        }
        Ok(())
    }
}

/// Where a recorded exchange goes: the cassette, the journal and the report.
#[derive(Clone, Copy)]
struct RecordSink<'a> {
    engine: &'a Engine,
    rec: &'a Recorder,
    claim: &'a Claim,
}

impl RecordSink<'_> {
    fn journal(&self, action: Action, request: &Request, status: u16, reason: Option<String>) {
        let mut shown = request.clone();
        let redactor = &self.rec.settings().redactor;
        redactor.headers(&mut shown.headers);
        shown.target = redactor.url(&shown.target);
        let event = self
            .engine
            .event(self.claim, action, &shown, json!({"status": status}));
        let what = || format!("{} {}", request.method, shown.path_and_query());
        self.engine
            .count(self.claim, "http", action, event, reason, what);
    }

    /// Saves and journals the exchange unless that happened already (at the body limit).
    fn save(&self, request: &Request, capture: &mut Capture) {
        if capture.saved {
            return;
        }
        capture.saved = true;
        let status = capture.exchange.response.status;
        let interaction = Interaction::Http(capture.exchange.clone());
        self.engine
            .save_recording(self.rec, interaction, self.claim, "http");
        self.journal(Action::Recorded, request, status, None);
    }
}

/// The exchange being recorded: the response's body is kept up to [`RECORD_MAX_BODY`].
struct Capture {
    exchange: HttpExchange,
    /// Written to the cassette (at the limit, or at the end).
    saved: bool,
}

impl Capture {
    fn new(request: RecordedRequest) -> Self {
        let response = RecordedResponse {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
            body_truncated: None,
        };
        Capture {
            exchange: HttpExchange { request, response },
            saved: false,
        }
    }

    fn head(&mut self, head: &ResponseHead) {
        self.exchange.response.status = head.status;
        self.exchange.response.headers = stored_headers(&head.headers);
    }

    /// Keeps `piece` while under the limit; `true` when this piece reached it.
    fn body(&mut self, piece: &[u8]) -> bool {
        let response = &mut self.exchange.response;
        if response.body_truncated.is_some() || piece.is_empty() {
            return false;
        }
        let room = RECORD_MAX_BODY - response.body.len();
        if piece.len() <= room {
            response.body.extend_from_slice(piece);
            return false;
        }
        response.body.extend_from_slice(&piece[..room]);
        response.body_truncated = Some(format!(
            "the body goes on past the first {} MiB, which is all a cassette keeps",
            RECORD_MAX_BODY >> 20
        ));
        true
    }

    /// The response ended early: the body recorded is all there is.
    fn cut(&mut self, why: String) {
        let truncated = &mut self.exchange.response.body_truncated;
        if truncated.is_none() {
            *truncated = Some(why);
        }
    }
}

/// How relaying one response went.
enum Relayed {
    /// The response is complete and saved. `held`: it came whole within the hold limits and
    /// the client has nothing of it yet (it gets the recorded response, as a replay would
    /// send it); else it was streamed and the client has it all.
    Done { upstream_closes: bool, held: bool },
    /// The client got part of the response, then the client or the server left (why).
    Cut(String),
    /// The client got nothing. `silent`: the server said nothing at all, which makes a retry
    /// on a fresh connection safe.
    Nothing { why: String, silent: bool },
}

/// A response is held until it is complete, and then sent as a replay would send it, while
/// it is no larger than this on the wire...
const HOLD_MAX: usize = 1024 * 1024;
/// ...and its bytes keep coming without a pause this long. Past either, it is a stream: what
/// was held goes to the client and the rest is relayed as it arrives.
const HOLD_PAUSE: Duration = Duration::from_millis(100);

/// Sends `wire` upstream and reads the response, recording it in `capture` and saving it
/// through `save` (at [`RECORD_MAX_BODY`], and before the client can see the response end).
/// A short response is held whole (see [`HOLD_MAX`]); a long or slow one is relayed to
/// `client` piece by piece, framed as the server framed it.
fn relay_response(
    upstream: &mut dyn Side,
    client: &mut Box<dyn Side>,
    wire: &[u8],
    request: &Request,
    capture: &mut Capture,
    save: &mut dyn FnMut(&mut Capture),
) -> Relayed {
    if let Err(e) = upstream.write_all(wire).and_then(|()| upstream.flush()) {
        let why = format!("cannot send the request: {e}");
        return Relayed::Nothing { why, silent: true };
    }
    let mut reader = ResponseReader::new(request.is_head());
    let mut buf = vec![0u8; 64 * 1024];
    let mut silent = true;
    // The response as it came on the wire, while it is held; `None` once it streams.
    let mut held: Option<Vec<u8>> = Some(Vec::new());
    let mut closes = false;
    let failed = |why: String, held: &Option<Vec<u8>>, silent: bool| match held {
        None => Relayed::Cut(why),
        Some(_) => Relayed::Nothing { why, silent },
    };
    loop {
        let holding = held.is_some() && reader.has_head();
        let wait = if holding {
            HOLD_PAUSE
        } else {
            RESPONSE_TIMEOUT
        };
        let progress = match upstream.read_within(&mut buf, Some(wait)) {
            Got::Data(n) => {
                silent = false;
                match reader.feed(&buf[..n]) {
                    Ok(progress) => progress,
                    Err(e) => return failed(e.message, &held, silent),
                }
            }
            Got::Closed => match reader.eof() {
                Ok(()) => {
                    save(capture);
                    return Relayed::Done {
                        upstream_closes: true,
                        held: held.is_some(),
                    };
                }
                Err(e) => return failed(e.message, &held, silent),
            },
            Got::Idle if holding => {
                let Some(so_far) = held.take() else {
                    unreachable!("holding")
                };
                if write(client, &so_far) == Flow::Closed {
                    return Relayed::Cut(client_left());
                }
                continue;
            }
            Got::Idle => {
                let why = format!("no answer within {} s", RESPONSE_TIMEOUT.as_secs());
                return failed(why, &held, false);
            }
        };
        if let Some(head) = &progress.head {
            capture.head(head);
            closes = head.closes;
        }
        if capture.body(&progress.body) || progress.done {
            save(capture);
        }
        if progress.done && held.is_some() {
            return Relayed::Done {
                upstream_closes: closes,
                held: true,
            };
        }
        let out = match &mut held {
            Some(so_far) if so_far.len() + progress.wire.len() <= HOLD_MAX => {
                so_far.extend_from_slice(&progress.wire);
                continue;
            }
            Some(so_far) => {
                let mut out = std::mem::take(so_far);
                out.extend_from_slice(&progress.wire);
                held = None;
                out
            }
            None => progress.wire,
        };
        if !out.is_empty() && write(client, &out) == Flow::Closed {
            return Relayed::Cut(client_left());
        }
        if progress.done {
            return Relayed::Done {
                upstream_closes: closes,
                held: false,
            };
        }
    }
}

fn client_left() -> String {
    "the client closed the connection before the response ended".into()
}

/// A recorded response as the HTTP module sends responses: whole, with `content-length`.
fn as_response(r: RecordedResponse) -> HttpResponse {
    HttpResponse {
        status: r.status,
        reason: None,
        headers: r.headers,
        body: r.body,
        delay: Duration::ZERO,
        fault: None,
        transfer: Transfer::Length,
        template: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> Capture {
        Capture::new(RecordedRequest {
            method: "GET".into(),
            url: "http://h/stream".into(),
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    #[test]
    fn bodies_are_recorded_up_to_the_limit_and_marked() {
        let mut c = capture();
        let piece = vec![b'y'; 1 << 20];
        let reached: Vec<bool> = (0..20).map(|_| c.body(&piece)).collect();
        assert_eq!(reached.iter().filter(|r| **r).count(), 1, "reached once");
        assert!(reached[16], "the 17th MiB crosses 16 MiB");
        let response = &c.exchange.response;
        assert_eq!(response.body.len(), RECORD_MAX_BODY);
        let why = response.body_truncated.as_deref().unwrap();
        assert!(why.contains("first 16 MiB"), "{why}");
        c.cut("the client left".into());
        assert!(
            c.exchange
                .response
                .body_truncated
                .as_deref()
                .unwrap()
                .contains("16 MiB"),
            "the first reason stays"
        );
    }

    #[test]
    fn responses_cut_short_say_why() {
        let mut c = capture();
        assert!(!c.body(b"tick 0\n"));
        c.cut("the client closed the connection before the response ended".into());
        assert_eq!(c.exchange.response.body, b"tick 0\n");
        assert!(c.exchange.response.body_truncated.is_some());
        assert!(capture().exchange.response.body_truncated.is_none());
    }
}
