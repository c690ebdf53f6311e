//! TLS termination: the mocket CA and the leaf certificates it issues per host name
//! (DESIGN.md section 5).
//!
//! Sans-IO: the CA is ECDSA P-256, made from PEM text or generated here; where it lives on disk
//! and creating it there is `mocket_engine::ca_store`'s. Leaves are issued on first use for a name
//! and kept in memory; each connection gets a server config whose resolver falls back to the
//! name behind the fake address when the client sends no SNI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mocket_control::sync::lock;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection};

/// Why a CA could not be made or loaded, or a leaf or session not made.
#[derive(Debug)]
pub enum TlsError {
    /// The CA's key PEM does not hold a usable key.
    BadKey(rcgen::Error),
    /// The CA's certificate PEM does not hold a usable CA certificate.
    BadCertificate(rcgen::Error),
    /// The CA's certificate PEM has no decodable `CERTIFICATE` block.
    BadCertificatePem,
    /// The certificate and key do not make a CA that can sign.
    CannotLoad(rcgen::Error),
    /// A leaf was asked for a name that is neither an IP address nor a DNS name.
    NotADnsName { name: String, error: rcgen::Error },
    /// Generating or signing a certificate failed.
    Certificate(rcgen::Error),
    /// rustls refused the key or the server configuration.
    Rustls(rustls::Error),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::BadKey(e) => write!(f, "bad key: {e}"),
            TlsError::BadCertificate(e) => write!(f, "bad certificate: {e}"),
            TlsError::BadCertificatePem => f.write_str("bad certificate PEM"),
            TlsError::CannotLoad(e) => write!(f, "cannot load: {e}"),
            TlsError::NotADnsName { name, error } => {
                write!(f, "{name:?} is not a DNS name: {error}")
            }
            TlsError::Certificate(e) => e.fmt(f),
            TlsError::Rustls(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TlsError {}

/// Lets callers that still report errors as text use `?`.
impl From<TlsError> for String {
    fn from(e: TlsError) -> String {
        e.to_string()
    }
}

/// The mocket CA, able to issue leaves.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    signer: rcgen::Certificate,
    key: KeyPair,
}

impl CertificateAuthority {
    /// A CA from its certificate and key in PEM.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem).map_err(TlsError::BadKey)?;
        let params =
            CertificateParams::from_ca_cert_pem(cert_pem).map_err(TlsError::BadCertificate)?;
        // Re-signing the same parameters with the same key gives a certificate with the same
        // subject and key: leaves it signs verify against the one on disk.
        let signer = params.self_signed(&key).map_err(TlsError::CannotLoad)?;
        let cert_der = pem_to_der(cert_pem).ok_or(TlsError::BadCertificatePem)?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            cert_der,
            signer,
            key,
        })
    }

    /// A fresh CA, in PEM: (certificate, key).
    pub fn generate() -> Result<(String, String), TlsError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Certificate)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "mocket CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "mocket");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).map_err(TlsError::Certificate)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A leaf for `name` (a DNS name or an IP), with the chain leaf + CA.
    pub fn issue(&self, name: &str, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Certificate)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.try_into().map_err(|error| TlsError::NotADnsName {
                name: name.to_string(),
                error,
            })?),
        };
        params.subject_alt_names = vec![san];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params
            .signed_by(&key, &self.signer, &self.key)
            .map_err(TlsError::Certificate)?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = provider
            .key_provider
            .load_private_key(private)
            .map_err(TlsError::Rustls)?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signing,
        ))
    }
}

fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(CertificateDer::from)
}

/// Leaves issued so far, by name, and the server configs that serve them.
pub struct LeafCache {
    ca: CertificateAuthority,
    provider: Arc<CryptoProvider>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl LeafCache {
    pub fn new(ca: CertificateAuthority) -> Self {
        LeafCache {
            ca,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            leaves: Mutex::default(),
        }
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The leaf for `name`, issued on first use.
    pub fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut leaves = lock(&self.leaves);
        if let Some(leaf) = leaves.get(&name) {
            return Ok(Arc::clone(leaf));
        }
        let leaf = Arc::new(self.ca.issue(&name, &self.provider)?);
        leaves.insert(name, Arc::clone(&leaf));
        Ok(leaf)
    }

    /// A server session for one connection; `fallback_name` is used without SNI.
    pub fn accept(self: &Arc<Self>, fallback_name: &str) -> Result<ServerConnection, TlsError> {
        let resolver = ConnectionResolver {
            cache: Arc::clone(self),
            fallback: fallback_name.to_string(),
        };
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        ServerConnection::new(Arc::new(config)).map_err(TlsError::Rustls)
    }
}

#[derive(Debug)]
struct ConnectionResolver {
    cache: Arc<LeafCache>,
    fallback: String,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafCache")
    }
}

impl ResolvesServerCert for ConnectionResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().unwrap_or(&self.fallback);
        self.cache.leaf(name).ok()
    }
}

/// Why a client refused the handshake, in words for the one line mocket prints, or `None` when
/// the failure is not a refusal of mocket's certificate.
pub fn rejection_reason(error: &std::io::Error) -> Option<String> {
    use rustls::AlertDescription as A;
    let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::AlertReceived(
            alert @ (A::UnknownCA
            | A::BadCertificate
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::AccessDenied),
        ) => Some(format!(
            "the client rejected mocket's certificate (TLS alert {alert:?})"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use std::io::{Read, Write};

    fn ca() -> CertificateAuthority {
        let (cert, key) = CertificateAuthority::generate().unwrap();
        CertificateAuthority::from_pem(&cert, &key).unwrap()
    }

    /// Runs a full handshake in memory between a rustls client that trusts `trusted` and a
    /// session from `cache`, then exchanges one message.
    fn handshake(
        cache: &Arc<LeafCache>,
        trusted: &str,
        sni: &str,
    ) -> Result<Vec<u8>, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pem_to_der(trusted).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(sni.to_string()).unwrap(),
        )
        .unwrap();
        let mut server = cache.accept("fallback.test").unwrap();
        client.writer().write_all(b"ping").unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut back = Vec::new();
            server.write_tls(&mut back).unwrap();
            client.read_tls(&mut back.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        let mut got = [0u8; 4];
        server.reader().read_exact(&mut got).unwrap();
        Ok(got.to_vec())
    }

    #[test]
    fn a_client_that_trusts_the_ca_completes_the_handshake() {
        let cache = Arc::new(LeafCache::new(ca()));
        let pem = cache.ca().cert_pem().to_string();
        assert_eq!(handshake(&cache, &pem, "api.example.com").unwrap(), b"ping");
        assert_eq!(
            handshake(&cache, &pem, "other.example.com").unwrap(),
            b"ping"
        );
        assert_eq!(cache.leaves.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_client_that_trusts_another_ca_fails() {
        let cache = Arc::new(LeafCache::new(ca()));
        let other = ca();
        let err = handshake(&cache, other.cert_pem(), "api.example.com").unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        let (cert, key) = CertificateAuthority::generate().unwrap();
        let bad_key = CertificateAuthority::from_pem(&cert, "not a key")
            .err()
            .unwrap();
        assert!(matches!(bad_key, TlsError::BadKey(_)), "{bad_key:?}");
        assert!(bad_key.to_string().starts_with("bad key: "), "{bad_key}");
        let bad_cert = CertificateAuthority::from_pem("nothing", &key)
            .err()
            .unwrap();
        assert!(
            bad_cert.to_string().starts_with("bad certificate: "),
            "{bad_cert}"
        );
        let provider = rustls::crypto::ring::default_provider();
        let bad_name = ca().issue("bad é", &provider).err().unwrap();
        assert!(
            bad_name
                .to_string()
                .starts_with("\"bad é\" is not a DNS name: "),
            "{bad_name}"
        );
    }

    #[test]
    fn reloaded_ca_signs_leaves_that_verify_against_the_file() {
        let (cert, key) = CertificateAuthority::generate().unwrap();
        let cache = Arc::new(LeafCache::new(
            CertificateAuthority::from_pem(&cert, &key).unwrap(),
        ));
        assert_eq!(handshake(&cache, &cert, "x.test").unwrap(), b"ping");
    }
}
