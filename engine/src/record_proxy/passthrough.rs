//! `"unmatched": "passthrough"` (DESIGN.md section 7): an HTTP request that matches no entry
//! is relayed to the real destination through the recording's upstream code (the same
//! connect, the same verified TLS, the same request forwarding), and the response goes back
//! to the client as the server framed it, piece by piece: nothing is recorded, so nothing is
//! held. Strict mode decides in [`Engine::passthrough_refusal`] whether the real host may be
//! reached at all.

use std::time::Duration;

use mocket_protocols::http::{self, Request, ResponseReader};
use mocket_recordings::http::forward_request;
use serde_json::json;

use super::side::{Got, Side};
use crate::http::{Connection, Flow, perform, write};
use crate::journal::Action;
use crate::{Claim, Engine, lock};

/// How long the real server may take to answer one request, or pause in the middle.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// The real server of one client connection's passed-through requests, opened on the first
/// and kept while both sides keep the connection alive.
#[derive(Default)]
pub(crate) struct PassUpstream {
    side: Option<Box<dyn Side>>,
    /// The connection already carried a response: if it fails before saying anything, the
    /// server probably closed it while idle, and one retry on a fresh connection is safe.
    reused: bool,
}

/// How relaying one response went.
enum Relayed {
    /// The client has the whole response.
    Done { upstream_closes: bool },
    /// The client got part of the response, then the client or the server left.
    Cut { status: u16, why: String },
    /// The client got nothing. `silent`: the server said nothing at all.
    Nothing { why: String, silent: bool },
}

impl Engine {
    /// Why `claim`'s unmatched requests may not be passed through, when strict mode forbids
    /// the real destination: under strict mode only what `allow` names reaches the network,
    /// passthrough included.
    pub(crate) fn passthrough_refusal(&self, claim: &Claim) -> Option<String> {
        let config = self.config.as_ref().ok()?;
        let dest = &claim.dest;
        if !config.strict || config.allow.allows(&dest.host, dest.port) {
            return None;
        }
        Some(format!(
            "not passed through: \"unmatched\": \"passthrough\" is on, but strict mode does not \
             allow the real {dest} (allowed: {}); add it to \"allow\" or run with --no-strict \
             (MOCKET_STRICT=0)",
            config.allow
        ))
    }

    /// Relays `request` (held whole) to the real destination and its response to `client`;
    /// journals and counts it as `passthrough`. When the real server cannot be reached (or its
    /// certificate is not trusted), the client gets `502` saying why, counted as unmatched.
    pub(crate) fn pass_through<S: Connection>(
        &self,
        request: &Request,
        client: &mut S,
        tls: bool,
        claim: &Claim,
        upstream: &mut PassUpstream,
    ) -> Flow {
        if u64::try_from(request.body.len()) != Ok(request.body_len) {
            // Never forward a cut body as if it were whole.
            let why = "the request body was not held whole".to_string();
            return self.pass_failed(request, client, tls, claim, why);
        }
        let wire = forward_request(request);
        loop {
            let retry = upstream.reused && upstream.side.is_some();
            if upstream.side.is_none() {
                match self.http_upstream(&claim.dest, tls, &claim.dest.host) {
                    Ok(side) => upstream.side = Some(side),
                    Err(why) => return self.pass_failed(request, client, tls, claim, why),
                }
                upstream.reused = false;
            }
            let side = upstream.side.as_mut().expect("just opened");
            let mut done = |status| self.count_passthrough(request, claim, status, None);
            match relay_response(side.as_mut(), client, &wire, request.is_head(), &mut done) {
                Relayed::Done { upstream_closes } => {
                    upstream.reused = true;
                    if upstream_closes {
                        upstream.side = None;
                    }
                    return match upstream_closes || !request.keep_alive() {
                        true => Flow::Closed,
                        false => Flow::Open,
                    };
                }
                Relayed::Cut { status, why } => {
                    upstream.side = None;
                    self.count_passthrough(request, claim, status, Some(why));
                    return Flow::Closed;
                }
                Relayed::Nothing { why, silent } => {
                    upstream.side = None;
                    if !(retry && silent) {
                        return self.pass_failed(request, client, tls, claim, why);
                    }
                }
            }
        }
    }

    fn count_passthrough(
        &self,
        request: &Request,
        claim: &Claim,
        status: u16,
        cut: Option<String>,
    ) {
        lock(&self.report).passthrough += 1;
        self.info(&format!(
            "http {}: {} {} -> passed through, status {status}",
            claim.dest, request.method, request.target
        ));
        if self.journal.is_on() {
            let mut event = self.event(
                claim,
                Action::Passthrough,
                request,
                json!({"status": status}),
            );
            if let Some(why) = cut {
                event = event.with("reason", json!(why));
            }
            self.journal.record(&event);
        }
    }

    /// The `502` for a request that could not be passed through, counted as unmatched: the
    /// client did not get the real server's answer.
    fn pass_failed<S: Connection>(
        &self,
        request: &Request,
        client: &mut S,
        tls: bool,
        claim: &Claim,
        why: String,
    ) -> Flow {
        let url = format!(
            "{}://{}{}",
            http::scheme(tls),
            claim.dest,
            request.path_and_query()
        );
        let why = format!("matched no entry and passing it through failed: {why}");
        let body = format!("mocket: {} {url} {why}\n", request.method);
        let event = self
            .event(claim, Action::Unmatched, request, json!({"status": 502}))
            .with("reason", json!(why));
        let what = format!("{} {}: {why}", request.method, request.path_and_query());
        self.count_unmatched(claim, "http", what, event);
        perform(client, http::plan(&http::text_response(502, body), request))
    }
}

/// Sends `wire` upstream and passes the response to `client` as it arrives. `done` gets the
/// status of a complete response before the client can see it end (a process that exits the
/// moment it has its answer still finds the exchange journaled and counted).
fn relay_response<S: Connection>(
    upstream: &mut dyn Side,
    client: &mut S,
    wire: &[u8],
    head_request: bool,
    done: &mut dyn FnMut(u16),
) -> Relayed {
    if let Err(e) = upstream.write_all(wire).and_then(|()| upstream.flush()) {
        let why = format!("cannot send the request: {e}");
        return Relayed::Nothing { why, silent: true };
    }
    let mut reader = ResponseReader::new(head_request);
    let mut buf = vec![0u8; 64 * 1024];
    let mut status = None;
    let mut closes = false;
    let mut silent = true;
    let failed = |why: String, status: Option<u16>, silent: bool| match status {
        Some(status) => Relayed::Cut { status, why },
        None => Relayed::Nothing { why, silent },
    };
    loop {
        let progress = match upstream.read_within(&mut buf, Some(RESPONSE_TIMEOUT)) {
            Got::Data(n) => {
                silent = false;
                match reader.feed(&buf[..n]) {
                    Ok(progress) => progress,
                    Err(e) => return failed(e.message, status, silent),
                }
            }
            Got::Closed => {
                // The client sees the end when mocket closes its connection, after this.
                return match (reader.eof(), status) {
                    (Ok(()), Some(status)) => {
                        done(status);
                        Relayed::Done {
                            upstream_closes: true,
                        }
                    }
                    (Ok(()), None) => failed("the server sent no response".into(), None, silent),
                    (Err(e), _) => failed(e.message, status, silent),
                };
            }
            Got::Idle => {
                let why = format!("no answer within {} s", RESPONSE_TIMEOUT.as_secs());
                return failed(why, status, false);
            }
        };
        if let Some(head) = &progress.head {
            status = Some(head.status);
            closes = head.closes;
        }
        if progress.done {
            done(status.unwrap_or_default());
        }
        // A client that leaves at the very end got the whole response, already counted.
        let sent = progress.wire.is_empty() || write(client, &progress.wire) == Flow::Open;
        if !sent && !progress.done {
            let why = "the client closed the connection before the response ended".to_string();
            return Relayed::Cut {
                status: status.unwrap_or_default(),
                why,
            };
        }
        if progress.done {
            return Relayed::Done {
                upstream_closes: closes,
            };
        }
    }
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
