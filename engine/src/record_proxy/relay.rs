//! Relaying a recorded connection between the client and the real server, byte for byte, while
//! a [`Tap`] records what each side says.
//!
//! One thread serves both directions: it waits briefly on the side expected to speak next
//! (after a request, the server; after a reply, the client), then on the other, backing off
//! while both are quiet. Lock-step protocols pay no latency; a server that speaks unprompted
//! (pub/sub, a greeting) waits at most [`MAX_WAIT`].

use std::time::{Duration, Instant};

use mocket_recordings::sniff::{Protocol, sniff};

use super::side::{Got, Side};

const MIN_WAIT: Duration = Duration::from_millis(1);
const MAX_WAIT: Duration = Duration::from_millis(40);
/// How long a client may take to finish the line that tells its protocol.
const SNIFF_WAIT: Duration = Duration::from_millis(500);
/// How long the server may keep talking after the client closed its side, before mocket stops
/// waiting for it to close too.
const LINGER: Duration = Duration::from_secs(60);
const BUF: usize = 64 * 1024;

/// Sees the bytes of a recorded connection before they are forwarded.
pub(super) trait Tap {
    fn client(&mut self, bytes: &[u8]);
    /// Called before the client gets these bytes: a tap that saves here guarantees the client
    /// never sees an answer that is not on disk (the Redis tap does; the raw TCP tap saves
    /// in batches, see `taps`).
    fn server(&mut self, bytes: &[u8]);
}

/// Who spoke first on a fresh connection, with what they said.
pub(super) enum First {
    Client(Vec<u8>),
    Server(Vec<u8>),
    Closed,
}

/// Waits until either side says something.
pub(super) fn first_speaker(client: &mut dyn Side, upstream: &mut dyn Side) -> First {
    let mut buf = vec![0u8; BUF];
    let wait = Some(Duration::from_millis(20));
    loop {
        match client.read_within(&mut buf, wait) {
            Got::Data(n) => return First::Client(buf[..n].to_vec()),
            Got::Closed => return First::Closed,
            Got::Idle => {}
        }
        match upstream.read_within(&mut buf, wait) {
            Got::Data(n) => return First::Server(buf[..n].to_vec()),
            Got::Closed => return First::Closed,
            Got::Idle => {}
        }
    }
}

/// How long a server may take to greet a raw TCP client that did not wait for it.
const GREETING_WAIT: Duration = Duration::from_millis(200);

/// What the server says on its own within [`GREETING_WAIT`]. A client of a server-first
/// protocol (SMTP, FTP) often sends its first line before the greeting reaches it; giving the
/// server a moment records the conversation in the order the protocol means, so replay sends
/// the greeting first. Only raw TCP pays this, once per recorded connection.
pub(super) fn greeting(upstream: &mut dyn Side) -> Vec<u8> {
    let mut buf = vec![0u8; BUF];
    match upstream.read_within(&mut buf, Some(GREETING_WAIT)) {
        Got::Data(n) => buf[..n].to_vec(),
        Got::Idle | Got::Closed => Vec::new(),
    }
}

/// Reads more from the client until its first bytes tell its protocol; a client that stops
/// mid-line is raw TCP.
pub(super) fn sniff_client(client: &mut dyn Side, prefix: &mut Vec<u8>) -> Protocol {
    let start = Instant::now();
    let mut buf = vec![0u8; BUF];
    loop {
        if let Some(protocol) = sniff(prefix) {
            return protocol;
        }
        let Some(left) = SNIFF_WAIT.checked_sub(start.elapsed()) else {
            return Protocol::Raw;
        };
        match client.read_within(&mut buf, Some(left)) {
            Got::Data(n) => prefix.extend_from_slice(&buf[..n]),
            Got::Idle | Got::Closed => return Protocol::Raw,
        }
    }
}

/// Relays until the server closes, or the client closes and the server has said its last.
pub(super) fn pump(client: &mut dyn Side, upstream: &mut dyn Side, tap: &mut dyn Tap) {
    let mut buf = vec![0u8; BUF];
    let mut wait = MIN_WAIT;
    let mut client_open = true;
    let mut from_client = true;
    loop {
        // Once the client has closed its side, only the server has anything left to say.
        let reading_client = from_client && client_open;
        let patience = Some(if client_open { wait } else { LINGER });
        let got = match reading_client {
            true => client.read_within(&mut buf, patience),
            false => upstream.read_within(&mut buf, patience),
        };
        match (got, reading_client) {
            (Got::Data(n), true) => {
                tap.client(&buf[..n]);
                if upstream
                    .write_all(&buf[..n])
                    .and_then(|()| upstream.flush())
                    .is_err()
                {
                    return;
                }
            }
            (Got::Data(n), false) => {
                tap.server(&buf[..n]);
                if client
                    .write_all(&buf[..n])
                    .and_then(|()| client.flush())
                    .is_err()
                {
                    return;
                }
            }
            (Got::Closed, true) => {
                upstream.shutdown_write();
                client_open = false;
            }
            (Got::Closed, false) => {
                client.shutdown_write();
                return;
            }
            (Got::Idle, _) if !client_open => return,
            (Got::Idle, _) => {
                from_client = !from_client;
                wait = (wait * 2).min(MAX_WAIT);
                continue;
            }
        }
        // Whoever spoke, the other side is expected to answer.
        from_client = !reading_client;
        wait = MIN_WAIT;
    }
}
