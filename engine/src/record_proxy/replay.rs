//! Answering from the cassette: HTTP request by request, Redis command by command, raw TCP
//! chunk by chunk (server-first protocols get their greeting before they say anything). In a
//! mode that does not record, nothing here ever opens a connection to the real destination.

use std::net::TcpStream;
use std::time::Duration;

use mocket_recordings::redis::Answer;
use mocket_recordings::sniff::Protocol;
use mocket_recordings::{Kind, Recorder};

use super::http::HttpProxy;
use super::relay;
use super::side::{Got, Side};
use crate::journal::Action;
use crate::tls::TLS_HANDSHAKE;
use crate::{Claim, Engine};

/// How long a client connecting to a destination the cassette knows nothing about may stay
/// silent before mocket gives up on telling what it speaks.
const UNKNOWN_WAIT: Duration = Duration::from_secs(2);

/// The client's end of a replayed connection.
struct ClientEnd {
    side: Box<dyn Side>,
    tls: bool,
    /// The name to verify the real server by, should a request have to be recorded.
    host: String,
}

impl Engine {
    /// HTTP from the cassette; requests it does not hold are recorded when the mode records.
    pub(super) fn replay_http(&self, rec: &Recorder, stream: TcpStream, claim: &Claim) {
        let Some(c) = self.client_side(stream, claim, None) else {
            return;
        };
        HttpProxy::new(self, rec, claim, c.tls, c.side, None, c.host).serve(Vec::new());
    }

    /// A Redis or raw TCP connection from the cassette.
    pub(super) fn replay_connection(
        &self,
        rec: &Recorder,
        stream: TcpStream,
        claim: &Claim,
        kind: Kind,
        tls: bool,
    ) {
        // A server-first protocol must not wait for the client: only TLS makes it speak first.
        let client = match tls {
            true => self.client_side(stream, claim, None).map(|c| c.side),
            false => Some(Box::new(stream) as Box<dyn Side>),
        };
        let Some(client) = client else { return };
        match kind {
            Kind::Redis => self.replay_redis(rec, client, claim, Vec::new()),
            Kind::Tcp => self.replay_tcp(rec, client, claim),
            Kind::Http => unreachable!("HTTP is replayed request by request"),
        }
    }

    /// The client's end, with TLS terminated when its first byte is a handshake. `None` when
    /// the client left (or did not speak within `wait`), or the handshake failed.
    fn client_side(
        &self,
        stream: TcpStream,
        claim: &Claim,
        wait: Option<Duration>,
    ) -> Option<ClientEnd> {
        let mut first = [0u8; 1];
        let _ = stream.set_read_timeout(wait);
        let plain = |side: Box<dyn Side>| ClientEnd {
            side,
            tls: false,
            host: claim.dest.host.clone(),
        };
        match stream.peek(&mut first) {
            Ok(1) if first[0] == TLS_HANDSHAKE => {
                let _ = stream.set_read_timeout(None);
                let tls = self.terminate_tls(stream, claim, &[])?;
                // The name the client asked for is the one to verify upstream, should the
                // mode record a request the cassette lacks.
                let host = tls
                    .conn
                    .server_name()
                    .unwrap_or(&claim.dest.host)
                    .to_string();
                Some(ClientEnd {
                    side: Box::new(tls),
                    tls: true,
                    host,
                })
            }
            Ok(1) => Some(plain(Box::new(stream))),
            _ => None,
        }
    }

    pub(super) fn replay_redis(
        &self,
        rec: &Recorder,
        mut client: Box<dyn Side>,
        claim: &Claim,
        prefix: Vec<u8>,
    ) {
        let mut session = rec.redis_replay(&claim.dest);
        let mut take = |i| rec.claim(i);
        let mut bytes = prefix;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mut out = Vec::new();
            let mut broken = false;
            for answer in session.receive(&bytes, &mut take) {
                match answer {
                    Answer::Replayed { mut command, reply } => {
                        rec.settings().redactor.redis_command(&mut command);
                        self.redis_event(claim, Action::Replayed, &command, None);
                        out.extend(reply);
                    }
                    Answer::Unmatched {
                        mut command,
                        reply,
                        why,
                    } => {
                        rec.settings().redactor.redis_command(&mut command);
                        self.redis_event(claim, Action::Unmatched, &command, Some(why));
                        out.extend(reply);
                    }
                    Answer::Broken { reply, why } => {
                        self.redis_event(claim, Action::Unmatched, &[], Some(why));
                        out.extend(reply);
                        broken = true;
                        break;
                    }
                }
            }
            if (!out.is_empty() && client.write_all(&out).is_err()) || broken {
                return;
            }
            match client.read_within(&mut buf, None) {
                Got::Data(n) => bytes = buf[..n].to_vec(),
                _ => return,
            }
        }
    }

    fn replay_tcp(&self, rec: &Recorder, mut client: Box<dyn Side>, claim: &Claim) {
        let mut session = rec.tcp_replay(&claim.dest);
        let mut take = |i| rec.claim(i);
        let greeting = session.start(&mut take);
        if client.write_all(&greeting).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut outcome = Ok(());
        while !session.done() {
            let Got::Data(n) = client.read_within(&mut buf, None) else {
                break;
            };
            match session.receive(&buf[..n], &mut take) {
                Ok(out) => {
                    if client.write_all(&out).is_err() {
                        break;
                    }
                }
                Err(why) => {
                    outcome = Err(why);
                    break;
                }
            }
        }
        match outcome {
            Err(why) => self.tcp_event(claim, Action::Unmatched, Some(why)),
            Ok(()) if session.committed() => {
                client.shutdown_write();
                self.tcp_event(claim, Action::Replayed, None)
            }
            Ok(()) => {}
        }
    }

    /// A destination the cassette knows nothing about, in a mode that does not record: the
    /// client gets what the protocol it speaks allows (a `501`, a Redis error, a closed
    /// connection), and the run is reported as failed.
    pub(super) fn unknown_destination(&self, rec: &Recorder, stream: TcpStream, claim: &Claim) {
        let nothing = format!(
            "nothing is recorded for {} in {} (record mode {} records nothing)",
            claim.dest,
            rec.cassette().display(),
            rec.settings().mode
        );
        let Some(ClientEnd {
            side: mut client,
            tls,
            host,
        }) = self.client_side(stream, claim, Some(UNKNOWN_WAIT))
        else {
            return self.tcp_event(claim, Action::Unmatched, Some(nothing));
        };
        let mut prefix = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        if let Got::Data(n) = client.read_within(&mut buf, Some(UNKNOWN_WAIT)) {
            prefix.extend_from_slice(&buf[..n]);
        }
        match relay::sniff_client(&mut *client, &mut prefix) {
            _ if prefix.is_empty() => self.tcp_event(claim, Action::Unmatched, Some(nothing)),
            Protocol::Http => {
                HttpProxy::new(self, rec, claim, tls, client, None, host).serve(prefix)
            }
            Protocol::Redis => self.replay_redis(rec, client, claim, prefix),
            Protocol::Raw => self.tcp_event(claim, Action::Unmatched, Some(nothing)),
        }
    }
}
