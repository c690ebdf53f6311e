//! HTTP on a recorded destination: each request is answered from the cassette when it holds
//! one, else forwarded to the real server (connected on first need) and recorded, else (a mode
//! that does not record) answered `501`. Requests are parsed whole by the same parser as
//! `http` entries, and every answer, recorded or replayed, is sent the same way (whole body,
//! `content-length`), so a replay gives the client the bytes the recording run gave it.

use std::time::Duration;

use mocket_protocols::http::{
    self, BodyPolicy, HttpResponse, Parsed, Request, RequestParser, Step, Transfer,
};
use mocket_recordings::Recorder;
use mocket_recordings::http::{
    HttpExchange, RecordedRequest, RecordedResponse, ResponseReader, UpstreamResponse,
    forward_request, stored_headers,
};
use serde_json::json;

use super::Interaction;
use super::side::{Got, Side};
use super::upstream;
use crate::engine::http::{Flow, perform, refuse, write};
use crate::engine::{Claim, Engine};
use crate::journal::Action;

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
                Ok(Some(Parsed::Request(request))) => {
                    let steps = self.answer(&request);
                    perform(&mut self.client, steps)
                }
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

    fn answer(&mut self, request: &Request) -> Vec<Step> {
        let live = RecordedRequest::live(request, self.tls, &self.claim.dest);
        let replayed = match self.rec.replays() {
            true => self.rec.replay_http(&live),
            false => None,
        };
        if let Some(response) = replayed {
            self.journal(Action::Replayed, request, response.status, None);
            return http::plan(&as_response(response), request);
        }
        if !self.rec.records() {
            let why = format!(
                "not in the cassette {} (record mode {} records nothing)",
                self.rec.cassette().display(),
                self.rec.settings().mode
            );
            return self.fail(request, &live.url, 501, why);
        }
        match self.fetch(request) {
            Ok(upstream) => {
                let response = RecordedResponse {
                    status: upstream.status,
                    headers: stored_headers(&upstream.headers),
                    body: upstream.body,
                };
                let exchange = HttpExchange {
                    request: live,
                    response: response.clone(),
                };
                let interaction = Interaction::Http(exchange);
                self.engine
                    .save_recording(self.rec, interaction, self.claim, "http");
                self.journal(Action::Recorded, request, response.status, None);
                http::plan(&as_response(response), request)
            }
            Err(why) => self.fail(request, &live.url, 502, format!("not recorded: {why}")),
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

    /// Forwards `request` and reads the whole response.
    fn fetch(&mut self, request: &Request) -> Result<UpstreamResponse, String> {
        let wire = forward_request(request);
        loop {
            let retry = self.reused && self.upstream.is_some();
            let upstream = self.upstream()?;
            match exchange(upstream.as_mut(), &wire, request.is_head()) {
                Ok(response) => {
                    self.reused = true;
                    if response.closes {
                        self.upstream = None;
                    }
                    return Ok(response);
                }
                Err((why, silent)) => {
                    self.upstream = None;
                    if !(retry && silent) {
                        return Err(why);
                    }
                }
            }
        }
    }

    /// The upstream connection, opened (with TLS when the client used it) on first need.
    fn upstream(&mut self) -> Result<&mut Box<dyn Side>, String> {
        if self.upstream.is_none() {
            let dest = &self.claim.dest;
            let tcp = upstream::connect(dest).map_err(|e| format!("cannot reach {dest}: {e}"))?;
            let side: Box<dyn Side> = match self.tls {
                true => Box::new(self.engine.upstream_tls(tcp, &self.host, true)?),
                false => Box::new(tcp),
            };
            self.upstream = Some(side);
            self.reused = false;
        }
        Ok(self.upstream.as_mut().expect("just opened"))
    }
}

/// One request and its response on `upstream`. The error says whether the server said
/// nothing at all (`true`), which makes a retry on a fresh connection safe.
fn exchange(
    upstream: &mut dyn Side,
    wire: &[u8],
    head: bool,
) -> Result<UpstreamResponse, (String, bool)> {
    upstream
        .write_all(wire)
        .and_then(|()| upstream.flush())
        .map_err(|e| (format!("cannot send the request: {e}"), true))?;
    let mut reader = ResponseReader::new(head);
    let mut buf = vec![0u8; 64 * 1024];
    let mut silent = true;
    loop {
        match upstream.read_within(&mut buf, Some(RESPONSE_TIMEOUT)) {
            Got::Data(n) => {
                silent = false;
                reader.feed(&buf[..n]);
                if let Some(response) = reader.poll().map_err(|e| (e, false))? {
                    return Ok(response);
                }
            }
            Got::Closed => return reader.eof().map_err(|e| (e, silent)),
            Got::Idle => {
                let why = format!("no answer within {} s", RESPONSE_TIMEOUT.as_secs());
                return Err((why, false));
            }
        }
    }
}

/// A recorded response as the HTTP module sends responses: whole, with `content-length`.
fn as_response(r: RecordedResponse) -> HttpResponse {
    HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
        delay: Duration::ZERO,
        fault: None,
        transfer: Transfer::Length,
    }
}
