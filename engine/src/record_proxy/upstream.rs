//! Reaching the real destination while recording (and for `"unmatched": "passthrough"`): TCP to every address of the host in turn,
//! and TLS verified against the system roots plus `MOCKET_UPSTREAM_CA`.
//!
//! Under `mocket run` the engine lives in the `mocket` process, which is not preloaded; in the
//! embedded placement the engine's threads are marked as mocket's own (the thread hook), so the
//! lookups and connects made here go straight to libc in both cases.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mocket_protocols::field::Destination;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::side::Side;
use crate::Engine;
use crate::trust::SYSTEM_BUNDLES;

pub(super) type ClientTls = StreamOwned<ClientConnection, TcpStream>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `dest` for real.
pub(super) fn connect(dest: &Destination) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (dest.host.as_str(), dest.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// The trusted roots: the system bundle, plus `extra` when given.
fn roots(extra: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if let Some(system) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        add_pem(&mut roots, system)?;
    }
    if let Some(extra) = extra {
        let before = roots.len();
        add_pem(&mut roots, extra)?;
        if roots.len() == before {
            return Err(format!(
                "MOCKET_UPSTREAM_CA {}: no certificate in it",
                extra.display()
            ));
        }
    }
    if roots.is_empty() {
        return Err(
            "no trusted roots for upstream TLS: no system CA bundle found (set MOCKET_UPSTREAM_CA)"
                .into(),
        );
    }
    Ok(roots)
}

fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        // A bundle may hold a certificate rustls cannot use; the others still count.
        let _ = roots.add(cert);
    }
    Ok(())
}

impl Engine {
    fn upstream_config(&self) -> Result<Arc<ClientConfig>, String> {
        let built = self.upstream_tls.get_or_init(|| {
            let extra = self
                .config
                .as_ref()
                .ok()
                .and_then(|c| c.upstream_ca.clone());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots(extra.as_deref())?)
                .with_no_client_auth();
            Ok(Arc::new(config))
        });
        built.clone()
    }

    /// A connection to the real `dest` for HTTP, with TLS to the server named `host` (ALPN
    /// `http/1.1`) when the client spoke TLS to mocket.
    pub(super) fn http_upstream(
        &self,
        dest: &Destination,
        tls: bool,
        host: &str,
    ) -> Result<Box<dyn Side>, String> {
        let tcp = connect(dest).map_err(|e| format!("cannot reach {dest}: {e}"))?;
        Ok(match tls {
            true => Box::new(self.upstream_tls(tcp, host, true)?),
            false => Box::new(tcp),
        })
    }

    /// TLS to the real server named `host` over `tcp`, handshake done. `http` offers ALPN
    /// `http/1.1`, as the client did to mocket.
    pub(super) fn upstream_tls(
        &self,
        mut tcp: TcpStream,
        host: &str,
        http: bool,
    ) -> Result<ClientTls, String> {
        let mut config = (*self.upstream_config()?).clone();
        if http {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
        let mut conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let _ = tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| {
                format!(
                    "TLS to {host} failed: {e} (mocket verifies real servers against the system \
                     roots; for a private CA, set MOCKET_UPSTREAM_CA to its PEM file)"
                )
            })?;
        }
        let _ = tcp.set_read_timeout(None);
        Ok(StreamOwned::new(conn, tcp))
    }
}
