//! TLS on intercepted connections: a connection whose first byte is a TLS handshake record
//! (0x16) is terminated with a leaf from the mocket CA for the name it asked for (SNI), or the
//! name behind its fake address, and then served as plaintext.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use mocket_protocols::tls::{LeafCache, rejection_reason};
use rustls::{ServerConnection, StreamOwned};
use serde_json::json;

use super::http::Connection;
use super::{Claim, Engine};
use crate::journal::Action;

/// The first byte of a TLS handshake record.
pub(super) const TLS_HANDSHAKE: u8 = 0x16;

pub(super) type TlsStream = StreamOwned<ServerConnection, TcpStream>;

impl Connection for TlsStream {
    fn reset_on_close(&self) -> io::Result<()> {
        self.sock.reset_on_close()
    }
}

impl Engine {
    /// Serves `http` entries over plaintext or TLS, whichever the client speaks.
    pub(super) fn serve_http_or_https(
        &self,
        stream: TcpStream,
        claim: &Claim,
        candidates: &[usize],
    ) {
        let mut first = [0u8; 1];
        match stream.peek(&mut first) {
            Ok(1) if first[0] == TLS_HANDSHAKE => {
                if let Some(tls) = self.terminate_tls(stream, claim) {
                    self.serve_http(tls, true, claim, candidates);
                }
            }
            Ok(1) => self.serve_http(stream, false, claim, candidates),
            _ => {}
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
            Ok(Arc::new(LeafCache::new(ca)))
        });
        loaded.clone()
    }

    /// Completes the handshake; `None` (after saying why) when it fails.
    pub(super) fn terminate_tls(&self, mut stream: TcpStream, claim: &Claim) -> Option<TlsStream> {
        // The handshake blocks until done: a read timeout left by whoever peeked at the first
        // byte would turn a slow client's next flight into a failed handshake.
        let _ = stream.set_read_timeout(None);
        let session = self
            .leaf_cache()
            .and_then(|cache| cache.accept(&claim.dest.host).map_err(String::from));
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                self.tls_failure(claim, format!("cannot terminate TLS: {e}"));
                return None;
            }
        };
        while session.is_handshaking() {
            if let Err(e) = session.complete_io(&mut stream) {
                let why = match rejection_reason(&e) {
                    Some(reason) => format!(
                        "{reason}: it does not trust the mocket CA. Clients with compiled-in \
                         roots (webpki-roots) or pinned certificates cannot be intercepted for \
                         HTTPS: make the client use the system roots (SSL_CERT_FILE, \
                         rustls-native-certs, OpenSSL), or point it at `mocket serve`"
                    ),
                    None if e.kind() == io::ErrorKind::UnexpectedEof => {
                        "the client closed the connection during the TLS handshake (it may not \
                         trust the mocket CA)"
                            .to_string()
                    }
                    None => format!("TLS handshake failed: {e}"),
                };
                self.tls_failure(claim, why);
                return None;
            }
        }
        Some(StreamOwned::new(session, stream))
    }

    fn tls_failure(&self, claim: &Claim, why: String) {
        let event = claim
            .event("http", Action::Unmatched)
            .with("reason", json!(why));
        self.count_unmatched(claim, "https", why, event);
    }
}
