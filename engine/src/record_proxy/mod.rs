//! Recording and replay (DESIGN.md section 6). With a record dir, a connection to a destination
//! that is neither an entry nor allowed comes here instead of being refused: it is answered
//! from the cassette, or proxied to the real destination and recorded, as the mode says.
//!
//! A fresh recording opens the real connection at once and waits for whoever speaks first: a
//! server that speaks first is a raw TCP protocol; a client whose first byte is a TLS handshake
//! gets mocket's leaf while mocket opens verified TLS upstream; then the client's first
//! (plaintext) bytes tell HTTP, Redis or raw TCP apart ([`mocket_recordings::sniff`]).
//! Replay uses the kind the cassette recorded for the destination.

mod http;
mod passthrough;
mod relay;
mod replay;
mod side;
mod taps;
mod upstream;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mocket_recordings::redis::RedisRecorder;
use mocket_recordings::sniff::Protocol;
use mocket_recordings::tcp::TcpConnection;
use mocket_recordings::{Interaction, Kind, Recorder};
use serde_json::json;

use super::tls::TLS_HANDSHAKE;
use super::{Claim, Engine};
use crate::journal::{Action, Event};
use http::HttpProxy;
use mocket_config::{Config, ConfigError};
pub(crate) use passthrough::PassUpstream;
use relay::{First, Tap};
use side::Side;
use taps::{RedisTap, SaveSchedule, TcpTap};

/// Opens the recorder a config asks for. A cassette that cannot be read turns into the
/// config's error, so the engine refuses rather than records over it.
pub(super) fn open(
    config: Result<Arc<Config>, ConfigError>,
) -> (Result<Arc<Config>, ConfigError>, Option<Arc<Recorder>>) {
    let Ok(c) = &config else {
        return (config, None);
    };
    let Some(settings) = c.record.clone() else {
        return (config, None);
    };
    match Recorder::open(settings) {
        Ok(rec) => (config, Some(Arc::new(rec))),
        Err(message) => {
            let error = ConfigError {
                origin: "MOCKET_RECORD_DIR / --record".into(),
                position: None,
                key: String::new(),
                message: message.to_string(),
            };
            (Err(error), None)
        }
    }
}

/// Who spoke first at the TCP level, seen without consuming anything.
enum Race {
    ClientTls,
    Plain,
    Closed,
}

impl Engine {
    /// Serves a connection to a destination that no entry or allow rule covers.
    pub(super) fn serve_recorded(&self, stream: TcpStream, claim: &Claim) {
        let rec = Arc::clone(self.recorder.as_ref().expect("called while recording"));
        self.info(&format!(
            "pid {} connected to {} (recording)",
            claim.pid, claim.dest
        ));
        let known = if rec.replays() {
            rec.knows(&claim.dest)
        } else {
            None
        };
        match known {
            Some((Kind::Http, _)) => self.replay_http(&rec, stream, claim),
            Some((kind, tls)) if !rec.records() || rec.has_unused(&claim.dest) => {
                self.replay_connection(&rec, stream, claim, kind, tls)
            }
            _ if rec.records() => self.record_fresh(&rec, stream, claim),
            _ => self.unknown_destination(&rec, stream, claim),
        }
    }

    fn record_fresh(&self, rec: &Recorder, client: TcpStream, claim: &Claim) {
        let upstream = match upstream::connect(&claim.dest) {
            Ok(s) => s,
            Err(e) => return self.upstream_failed(claim, format!("cannot reach it: {e}")),
        };
        match race(&client, &upstream) {
            Race::Closed => {}
            Race::Plain => {
                self.record_sides(rec, Box::new(client), Box::new(upstream), false, claim)
            }
            Race::ClientTls => {
                let Some(client) = self.terminate_tls(client, claim, &[]) else {
                    return;
                };
                let http = client.conn.alpn_protocol() == Some(b"http/1.1");
                let host = client
                    .conn
                    .server_name()
                    .unwrap_or(&claim.dest.host)
                    .to_string();
                match self.upstream_tls(upstream, &host, http) {
                    Ok(up) => self.record_sides(rec, Box::new(client), Box::new(up), true, claim),
                    Err(e) => self.upstream_failed(claim, e),
                }
            }
        }
    }

    /// Records a connection whose ends are ready (TLS, if any, already on both).
    fn record_sides(
        &self,
        rec: &Recorder,
        mut client: Box<dyn Side>,
        mut upstream: Box<dyn Side>,
        tls: bool,
        claim: &Claim,
    ) {
        match relay::first_speaker(&mut *client, &mut *upstream) {
            First::Closed => {}
            First::Server(greeting) => {
                let tap = self.tcp_tap(rec, claim, tls);
                self.relay(client, upstream, tap, Vec::new(), greeting)
                    .finish();
            }
            First::Client(mut prefix) => match relay::sniff_client(&mut *client, &mut prefix) {
                Protocol::Http => {
                    let host = claim.dest.host.clone();
                    HttpProxy::new(self, rec, claim, tls, client, Some(upstream), host)
                        .serve(prefix)
                }
                Protocol::Redis => {
                    let tap = RedisTap {
                        engine: self,
                        rec,
                        claim,
                        recorder: RedisRecorder::new(rec.connection_id(), claim.dest.clone(), tls),
                        broken: false,
                    };
                    let tap = self.relay(client, upstream, tap, prefix, Vec::new());
                    if !tap.broken {
                        let conn = Interaction::Redis(tap.recorder.connection());
                        self.save_recording(rec, conn, claim, "redis");
                    }
                }
                Protocol::Raw => {
                    let greeting = relay::greeting(&mut *upstream);
                    let tap = self.tcp_tap(rec, claim, tls);
                    self.relay(client, upstream, tap, prefix, greeting).finish();
                }
            },
        }
    }

    fn tcp_tap<'a>(&'a self, rec: &'a Recorder, claim: &'a Claim, tls: bool) -> TcpTap<'a> {
        TcpTap {
            engine: self,
            rec,
            claim,
            conn: TcpConnection {
                id: rec.connection_id(),
                destination: claim.dest.clone(),
                tls,
                chunks: Vec::new(),
                truncated: None,
            },
            schedule: SaveSchedule::new(Instant::now()),
        }
    }

    /// Passes on what was already read (the client's opening or the server's greeting), then
    /// relays the rest; returns the tap with what it recorded.
    fn relay<T: Tap>(
        &self,
        mut client: Box<dyn Side>,
        mut upstream: Box<dyn Side>,
        mut tap: T,
        from_client: Vec<u8>,
        from_server: Vec<u8>,
    ) -> T {
        if !from_server.is_empty() {
            tap.server(&from_server);
            if client.write_all(&from_server).is_err() {
                return tap;
            }
        }
        if !from_client.is_empty() {
            tap.client(&from_client);
            if upstream.write_all(&from_client).is_err() {
                return tap;
            }
        }
        relay::pump(&mut *client, &mut *upstream, &mut tap);
        tap
    }

    /// Writes to the cassette; a failure is reported like an unmatched request, so the run
    /// does not pass with a recording missing.
    pub(super) fn save_recording(
        &self,
        rec: &Recorder,
        interaction: Interaction,
        claim: &Claim,
        proto: &str,
    ) {
        if let Err(e) = rec.save(interaction) {
            let why = format!("not recorded: {e}");
            let event = self.unmatched_event(claim, proto, &why);
            self.count_unmatched(claim, proto, why, event);
        }
    }

    fn upstream_failed(&self, claim: &Claim, why: String) {
        let why = format!("recording {}: {why}", claim.dest);
        let event = self.unmatched_event(claim, "tcp", &why);
        self.count_unmatched(claim, "tcp", why, event);
    }

    fn unmatched_event(&self, claim: &Claim, proto: &str, why: &str) -> Event {
        claim
            .event(proto, Action::Unmatched)
            .with("reason", json!(why))
    }
}

/// Waits until the client or the server sends something (peeking, so nothing is consumed),
/// to tell a TLS client from anything else.
fn race(client: &TcpStream, upstream: &TcpStream) -> Race {
    let wait = Some(Duration::from_millis(20));
    let mut byte = [0u8; 1];
    let idle = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    loop {
        let _ = client.set_read_timeout(wait);
        match client.peek(&mut byte) {
            Ok(0) => return Race::Closed,
            Ok(_) if byte[0] == TLS_HANDSHAKE => return Race::ClientTls,
            Ok(_) => return Race::Plain,
            Err(e) if idle(&e) => {}
            Err(_) => return Race::Closed,
        }
        let _ = upstream.set_read_timeout(wait);
        match upstream.peek(&mut byte) {
            Err(e) if idle(&e) => {}
            // The server spoke or closed: the relay sees which.
            _ => return Race::Plain,
        }
    }
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod order_tests;
