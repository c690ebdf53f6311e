//! TLS on intercepted connections: a connection whose first byte is a TLS handshake record
//! (0x16) is terminated with a leaf from the mocket CA for the name it asked for (SNI), or the
//! name behind its fake address, and then served as plaintext.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use mocket_protocols::tls::{LeafCache, TlsError, rejection_reason};
use rustls::server::{Accepted, Acceptor};
use rustls::{ServerConnection, StreamOwned};
use serde_json::json;

use super::http::Connection;
use super::{Claim, Engine};
use crate::journal::Action;

/// The first byte of a TLS handshake record.
pub(super) const TLS_HANDSHAKE: u8 = 0x16;

pub(super) type TlsStream = StreamOwned<ServerConnection, TcpStream>;

impl Connection for TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// Whether a handshake error means the client went away (closed, reset, or silent for the idle
/// timeout) rather than refused the handshake.
fn abandoned(e: &io::Error) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    ) || super::idle::timed_out(e)
}

/// Reads until the client's whole ClientHello is in (each read bounded by the idle timeout set
/// on `stream`), starting with `first`, bytes of the client already read, so the server config
/// can be picked by the name it asks for. Returns the hello and what is left of `first` (the
/// acceptor reads 4 KB at a time: a client may have sent more before the hello was whole).
fn read_client_hello<'a>(stream: &TcpStream, first: &'a [u8]) -> io::Result<(Accepted, &'a [u8])> {
    let mut acceptor = Acceptor::default();
    let mut alerts = stream;
    let mut source = io::Read::chain(first, stream);
    loop {
        match acceptor.read_tls(&mut source) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok((accepted, source.into_inner().0)),
            Ok(None) => {}
            Err((error, mut alert)) => {
                let _ = alert.write_all(&mut alerts);
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
        }
    }
}

/// Whether a client speaks TLS, from its first byte: the first of `first` (bytes already read),
/// else one peeked at; `None` when the client closed or failed before sending any.
pub(super) fn speaks_tls(stream: &TcpStream, first: &[u8]) -> Option<bool> {
    if let Some(&byte) = first.first() {
        return Some(byte == TLS_HANDSHAKE);
    }
    let mut peeked = [0u8; 1];
    match stream.peek(&mut peeked) {
        Ok(1) => Some(peeked[0] == TLS_HANDSHAKE),
        _ => None,
    }
}

/// Hands `rest`, bytes of the client already read after its ClientHello, to `session`, as if
/// read from the socket.
fn feed(session: &mut ServerConnection, mut rest: &[u8]) -> io::Result<()> {
    while !rest.is_empty() {
        session.read_tls(&mut rest)?;
        session
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}

/// The server session for a ClientHello, from the shared configs of `cache` (so the client can
/// resume); `dialed` names the leaf for a hello without SNI.
fn start_session(
    cache: &LeafCache,
    hello: Accepted,
    dialed: &str,
    stream: &mut TcpStream,
) -> io::Result<ServerConnection> {
    cache.accept(hello, dialed).map_err(|refusal| {
        if let Some(mut alert) = refusal.alert {
            let _ = alert.write_all(stream);
        }
        match refusal.error {
            TlsError::Rustls(e) => io::Error::new(io::ErrorKind::InvalidData, e),
            other => io::Error::other(other),
        }
    })
}

impl Engine {
    /// Serves `http` entries over plaintext or TLS, whichever the client speaks; `first`: what
    /// the client sent that was read already.
    pub(super) fn serve_http_or_https(&self, stream: TcpStream, claim: &Claim, first: Vec<u8>) {
        match speaks_tls(&stream, &first) {
            Some(true) => {
                if let Some(tls) = self.terminate_tls(stream, claim, &first) {
                    self.serve_http(tls, true, claim, Vec::new());
                }
            }
            Some(false) => self.serve_http(stream, false, claim, first),
            None => {}
        }
    }

    pub(super) fn leaf_cache(&self) -> Result<Arc<LeafCache>, String> {
        let loaded = self.tls.get_or_init(|| {
            let files = crate::ca_store::CaFiles::from_env()?;
            let ca = crate::ca_store::load_or_create(&files)?;
            if files.generated {
                // Later processes under a bare LD_PRELOAD find it ready (best effort).
                let _ = crate::trust::write_bare_bundle(&files, ca.cert_pem());
            }
            Ok(Arc::new(LeafCache::new(ca)?))
        });
        loaded.clone()
    }

    /// Completes the handshake, `first` being the client's bytes already read (or none); `None`
    /// (after saying why) when it fails.
    pub(super) fn terminate_tls(
        &self,
        mut stream: TcpStream,
        claim: &Claim,
        first: &[u8],
    ) -> Option<TlsStream> {
        // Each flight of the handshake may take up to the idle timeout, whatever timeout was
        // left by whoever peeked at the first byte (the record proxy peeks with 200 ms).
        self.idle_timeout.apply(&stream);
        let cache = match self.leaf_cache() {
            Ok(cache) => cache,
            Err(e) => {
                self.tls_failure(claim, format!("cannot terminate TLS: {e}"));
                return None;
            }
        };
        let session = read_client_hello(&stream, first).and_then(|(hello, rest)| {
            let mut session = start_session(&cache, hello, &claim.dest.host, &mut stream)?;
            feed(&mut session, rest)?;
            Ok(session)
        });
        let mut session = match session {
            Ok(session) => session,
            Err(e) => {
                self.handshake_failed(claim, &e);
                return None;
            }
        };
        while session.is_handshaking() {
            if let Err(e) = session.complete_io(&mut stream) {
                self.handshake_failed(claim, &e);
                return None;
            }
        }
        Some(StreamOwned::new(session, stream))
    }

    /// Says why a handshake failed: the client refused mocket's certificate, went away, or
    /// spoke TLS mocket cannot serve.
    fn handshake_failed(&self, claim: &Claim, e: &io::Error) {
        match rejection_reason(e) {
            Some(reason) => self.tls_failure(
                claim,
                format!(
                    "{reason}: it does not trust the mocket CA. Clients with compiled-in \
                     roots (webpki-roots) or pinned certificates cannot be intercepted \
                     for HTTPS: make the client use the system roots (SSL_CERT_FILE, \
                     rustls-native-certs, OpenSSL), or point it at `mocket serve`"
                ),
            ),
            None if abandoned(e) => self.handshake_abandoned(claim, e),
            None => self.tls_failure(claim, format!("TLS handshake failed: {e}")),
        }
    }

    /// A client that went away mid-handshake without an alert (it exited, was killed, or gave
    /// up): no request was made, so nothing is unmatched; the journal says what happened.
    fn handshake_abandoned(&self, claim: &Claim, error: &io::Error) {
        let why = match super::idle::timed_out(error) {
            true => format!(
                "the client sent nothing more during the TLS handshake for the idle timeout \
                 ({})",
                super::IDLE_TIMEOUT_VAR
            ),
            false => format!("the client closed the connection during the TLS handshake ({error})"),
        };
        self.info(&format!("https {}: {why}", claim.dest));
        let event = claim
            .event("http", Action::Closed)
            .with("reason", json!(why));
        self.journal.record(&event);
    }

    fn tls_failure(&self, claim: &Claim, why: String) {
        let event = claim
            .event("http", Action::Unmatched)
            .with("reason", json!(why));
        self.count_unmatched(claim, "https", why, event);
    }
}
