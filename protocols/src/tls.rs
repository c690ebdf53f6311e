//! TLS termination: the mocket CA and the leaf certificates it issues per host name
//! (DESIGN.md section 5).
//!
//! Sans-IO: the CA is ECDSA P-256, made from PEM text or generated here; where it lives on disk
//! and creating it there is `mocket_engine::ca_store`'s. Leaves are issued on first use for a name
//! and kept in memory. The server configs are shared by every connection (one for hellos with
//! SNI, one per dialed name for hellos without), with a session cache and a ticketer, so clients
//! resume sessions instead of paying a full handshake per connection.

mod tickets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mocket_control::sync::lock;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{
    Accepted, AcceptedAlert, ClientHello, ResolvesServerCert, ServerSessionMemoryCache,
};
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

/// At most this many leaves are kept: the names come from the clients' SNI, so a client that
/// sends a new name per connection would otherwise grow the cache without end. Names past the
/// limit still get a leaf, issued for that connection only.
const MAX_LEAVES: usize = 1024;

/// At most this many server configs for hellos without SNI are kept (one per name the client
/// dialed); past the limit a connection gets a config of its own and cannot resume.
const MAX_NAMELESS_CONFIGS: usize = 256;

/// Sessions each server config keeps for TLS 1.2 session-ID resumption (TLS 1.3 and TLS 1.2
/// tickets are encrypted by the ticketer and kept by the client, not here).
const SESSION_CACHE_SIZE: usize = 1024;

/// The CA, its crypto provider and the leaves issued so far, by name.
struct Leaves {
    ca: CertificateAuthority,
    provider: Arc<CryptoProvider>,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl Leaves {
    /// The leaf for `name`, issued on first use.
    fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(leaf) = lock(&self.issued).get(&name) {
            return Ok(Arc::clone(leaf));
        }
        // Issued outside the lock: signing takes a while and other names need not wait.
        let leaf = Arc::new(self.ca.issue(&name, &self.provider)?);
        let mut issued = lock(&self.issued);
        if let Some(raced) = issued.get(&name) {
            return Ok(Arc::clone(raced));
        }
        if issued.len() < MAX_LEAVES {
            issued.insert(name, Arc::clone(&leaf));
        }
        Ok(leaf)
    }
}

/// The TLS server side of every intercepted connection: leaves from the mocket CA, issued per
/// host name on first use, and the server configs that serve them. The configs are shared by
/// all connections, so their session cache and ticket keys let clients resume.
pub struct LeafCache {
    leaves: Arc<Leaves>,
    /// The config for every ClientHello that names its server (SNI). rustls resumes a session
    /// only for the name it was made for, so one config serves every name.
    by_sni: Arc<ServerConfig>,
    /// Configs for hellos without SNI, by the name behind the address the client dialed: each
    /// has its own session cache and ticket keys, so a session is resumed only at its host.
    nameless: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

/// Why a session could not start, and the alert for the client, if rustls made one.
#[derive(Debug)]
pub struct Refusal {
    pub error: TlsError,
    pub alert: Option<AcceptedAlert>,
}

impl LeafCache {
    pub fn new(ca: CertificateAuthority) -> Result<Self, TlsError> {
        let leaves = Arc::new(Leaves {
            ca,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            issued: Mutex::default(),
        });
        let by_sni = server_config(&leaves, None)?;
        Ok(LeafCache {
            leaves,
            by_sni,
            nameless: Mutex::default(),
        })
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.leaves.ca
    }

    /// The leaf for `name`, issued on first use.
    pub fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        self.leaves.leaf(name)
    }

    /// The server config for a ClientHello that named `sni` (if any); `dialed_name` is the name
    /// behind the address the client connected to, whose leaf serves a hello without SNI.
    pub fn config_for(
        &self,
        sni: Option<&str>,
        dialed_name: &str,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        if sni.is_some() {
            return Ok(Arc::clone(&self.by_sni));
        }
        if let Some(config) = lock(&self.nameless).get(dialed_name) {
            return Ok(Arc::clone(config));
        }
        let config = server_config(&self.leaves, Some(dialed_name))?;
        let mut nameless = lock(&self.nameless);
        if nameless.len() < MAX_NAMELESS_CONFIGS {
            let kept = nameless.entry(dialed_name.to_string()).or_insert(config);
            return Ok(Arc::clone(kept));
        }
        Ok(config)
    }

    /// The server session for a connection whose ClientHello is in (see [`rustls::server::Acceptor`]).
    pub fn accept(
        &self,
        accepted: Accepted,
        dialed_name: &str,
    ) -> Result<ServerConnection, Refusal> {
        let config = self
            .config_for(accepted.client_hello().server_name(), dialed_name)
            .map_err(|error| Refusal { error, alert: None })?;
        accepted
            .into_connection(config)
            .map_err(|(error, alert)| Refusal {
                error: TlsError::Rustls(error),
                alert: Some(alert),
            })
    }
}

/// A server config whose leaves come from `leaves`: the SNI's, else `fallback`'s. Sessions are
/// kept for TLS 1.2 session IDs and ticketed for TLS 1.3 and TLS 1.2 tickets.
fn server_config(
    leaves: &Arc<Leaves>,
    fallback: Option<&str>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = LeafResolver {
        leaves: Arc::clone(leaves),
        fallback: fallback.map(str::to_string),
    };
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&leaves.provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    // Each config has its own key (a session resumes only where it was made), the same in
    // every engine with this CA.
    let scope = match fallback {
        None => "sni".to_string(),
        Some(name) => format!("dialed {name}"),
    };
    let secret = leaves.ca.key.serialize_der();
    config.ticketer = Arc::new(tickets::DerivedTicketer::new(&secret, &scope));
    Ok(Arc::new(config))
}

/// Picks the leaf for the name the client sent (SNI), else for the name it dialed.
#[derive(Debug)]
struct LeafResolver {
    leaves: Arc<Leaves>,
    fallback: Option<String>,
}

impl std::fmt::Debug for Leaves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Leaves")
    }
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafCache")
    }
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().or(self.fallback.as_deref())?;
        self.leaves.leaf(name).ok()
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
    use rustls::HandshakeKind;
    use rustls::client::{Resumption, Tls12Resumption};
    use rustls::pki_types::ServerName;
    use std::io::{Read, Write};

    fn ca() -> CertificateAuthority {
        let (cert, key) = CertificateAuthority::generate().unwrap();
        CertificateAuthority::from_pem(&cert, &key).unwrap()
    }

    fn client_config(trusted: &str) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pem_to_der(trusted).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// Moves whatever `from` has to send into `to`.
    fn pass(from: &mut impl FnMut(&mut Vec<u8>), to: &mut impl FnMut(&[u8])) {
        let mut buf = Vec::new();
        from(&mut buf);
        to(&buf);
    }

    /// Runs a handshake in memory between a rustls client with `config`, asking for `sni`, and
    /// a session from `cache` for a connection to `dialed`, the way the engine does (ClientHello
    /// first, then the config for it), then sends one message. Both sides' handshake kinds.
    fn connect(
        cache: &LeafCache,
        config: &Arc<rustls::ClientConfig>,
        sni: &str,
        dialed: &str,
    ) -> Result<(HandshakeKind, HandshakeKind), rustls::Error> {
        let name = ServerName::try_from(sni.to_string()).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
        let mut acceptor = rustls::server::Acceptor::default();
        let accepted = loop {
            pass(
                &mut |b| {
                    client.write_tls(b).unwrap();
                },
                &mut |b| {
                    acceptor.read_tls(&mut &b[..]).unwrap();
                },
            );
            if let Some(accepted) = acceptor.accept().map_err(|(e, _)| e)? {
                break accepted;
            }
        };
        let mut server = cache.accept(accepted, dialed).map_err(|r| match r.error {
            TlsError::Rustls(e) => e,
            other => panic!("{other}"),
        })?;
        client.writer().write_all(b"ping").unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
            buf.clear();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
        }
        let mut got = [0u8; 4];
        server.reader().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        // TLS 1.3 tickets come after the handshake: let the client take them in.
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets()?;
        Ok((
            client.handshake_kind().unwrap(),
            server.handshake_kind().unwrap(),
        ))
    }

    /// A full handshake by a new client that trusts `trusted`, then one message.
    fn handshake(cache: &LeafCache, trusted: &str, sni: &str) -> Result<Vec<u8>, rustls::Error> {
        connect(
            cache,
            &Arc::new(client_config(trusted)),
            sni,
            "fallback.test",
        )?;
        Ok(b"ping".to_vec())
    }

    #[test]
    fn a_client_that_trusts_the_ca_completes_the_handshake() {
        let cache = LeafCache::new(ca()).unwrap();
        let pem = cache.ca().cert_pem().to_string();
        assert_eq!(handshake(&cache, &pem, "api.example.com").unwrap(), b"ping");
        assert_eq!(
            handshake(&cache, &pem, "other.example.com").unwrap(),
            b"ping"
        );
        assert_eq!(cache.leaves.issued.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_client_that_trusts_another_ca_fails() {
        let cache = LeafCache::new(ca()).unwrap();
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
        let cache = LeafCache::new(CertificateAuthority::from_pem(&cert, &key).unwrap()).unwrap();
        assert_eq!(handshake(&cache, &cert, "x.test").unwrap(), b"ping");
    }

    /// A first connection from a client with `config` is a full handshake, the second resumes,
    /// on both sides.
    fn resumes_with(
        ca: CertificateAuthority,
        config: rustls::ClientConfig,
        sni: &str,
        dialed: &str,
    ) {
        let cache = LeafCache::new(ca).unwrap();
        let config = Arc::new(config);
        let first = connect(&cache, &config, sni, dialed).unwrap();
        assert_eq!(first, (HandshakeKind::Full, HandshakeKind::Full));
        let second = connect(&cache, &config, sni, dialed).unwrap();
        assert_eq!(second, (HandshakeKind::Resumed, HandshakeKind::Resumed));
    }

    /// Two engines with the same CA (two processes of a bare-preload tree) take each other's
    /// tickets: a client resumes at the second the session it made at the first.
    #[test]
    fn a_session_made_at_one_engine_resumes_at_another_with_the_same_ca() {
        let (cert, key) = CertificateAuthority::generate().unwrap();
        let first = LeafCache::new(CertificateAuthority::from_pem(&cert, &key).unwrap()).unwrap();
        let second = LeafCache::new(CertificateAuthority::from_pem(&cert, &key).unwrap()).unwrap();
        let config = Arc::new(client_config(&cert));
        let made = connect(&first, &config, "api.example.com", "api.example.com").unwrap();
        assert_eq!(made, (HandshakeKind::Full, HandshakeKind::Full));
        let resumed = connect(&second, &config, "api.example.com", "api.example.com").unwrap();
        assert_eq!(resumed, (HandshakeKind::Resumed, HandshakeKind::Resumed));
        // Another CA's engine cannot open the ticket: a full handshake (the client then
        // rejects that CA's leaf, which it does not trust).
        let other = LeafCache::new(ca()).unwrap();
        assert!(connect(&other, &config, "api.example.com", "api.example.com").is_err());
    }

    #[test]
    fn a_tls13_client_resumes_with_a_ticket() {
        let cache_ca = ca();
        let config = client_config(cache_ca.cert_pem());
        resumes_with(cache_ca, config, "api.example.com", "api.example.com");
    }

    #[test]
    fn a_tls12_client_resumes_with_a_ticket_or_a_session_id() {
        for mode in [
            Tls12Resumption::SessionIdOrTickets,
            Tls12Resumption::SessionIdOnly,
        ] {
            let cache_ca = ca();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pem_to_der(cache_ca.cert_pem()).unwrap()).unwrap();
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.resumption = Resumption::in_memory_sessions(8).tls12_resumption(mode);
            resumes_with(cache_ca, config, "api.example.com", "api.example.com");
        }
    }

    #[test]
    fn a_client_without_sni_resumes_at_the_name_it_dialed_only() {
        let cache = LeafCache::new(ca()).unwrap();
        let mut config = client_config(cache.ca().cert_pem());
        config.enable_sni = false;
        let config = Arc::new(config);
        let kinds = |dialed| connect(&cache, &config, "a.test", dialed);
        assert_eq!(kinds("a.test").unwrap().1, HandshakeKind::Full);
        assert_eq!(kinds("a.test").unwrap().1, HandshakeKind::Resumed);
        // The same client session offered at another dialed name is not taken: the full
        // handshake that follows serves b.test's leaf, which the client rejects for a.test.
        let err = kinds("b.test").unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                    | rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForNameContext { .. }
                    )
            ),
            "{err:?}"
        );
    }

    #[test]
    fn one_config_serves_every_sni_and_nameless_configs_are_bounded() {
        let cache = LeafCache::new(ca()).unwrap();
        let a = cache.config_for(Some("a.test"), "x.test").unwrap();
        let b = cache.config_for(Some("b.test"), "y.test").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let x = cache.config_for(None, "x.test").unwrap();
        assert!(!Arc::ptr_eq(&a, &x));
        assert!(Arc::ptr_eq(&x, &cache.config_for(None, "x.test").unwrap()));
        for i in 0..MAX_NAMELESS_CONFIGS + 10 {
            cache.config_for(None, &format!("n{i}.test")).unwrap();
        }
        assert_eq!(cache.nameless.lock().unwrap().len(), MAX_NAMELESS_CONFIGS);
        let past = format!("n{}.test", MAX_NAMELESS_CONFIGS + 5);
        let one = cache.config_for(None, &past).unwrap();
        assert!(!Arc::ptr_eq(&one, &cache.config_for(None, &past).unwrap()));
    }

    #[test]
    fn leaves_for_client_chosen_names_are_bounded() {
        let cache = LeafCache::new(ca()).unwrap();
        for i in 0..MAX_LEAVES + 3 {
            cache.leaf(&format!("h{i}.test")).unwrap();
        }
        assert_eq!(cache.leaves.issued.lock().unwrap().len(), MAX_LEAVES);
        let kept = cache.leaf("h0.test").unwrap();
        assert!(Arc::ptr_eq(&kept, &cache.leaf("H0.test.").unwrap()));
    }
}
