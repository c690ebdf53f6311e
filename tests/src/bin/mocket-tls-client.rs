//! A rustls client for the TLS resumption tests (issue 15):
//! `mocket-tls-client URL N --ca FILE [--tls12]` makes N `GET URL` requests, each on a new TCP
//! connection (`Connection: close`), all through one rustls `ClientConfig` with its default
//! in-memory session cache, so every connection after the first offers to resume. Roots are the
//! certificates of FILE only; `--tls12` limits the client to TLS 1.2 (tickets or session IDs).
//!
//! Prints one line per connection: `full` or `resumed` (rustls's handshake kind), the protocol
//! version, then the response's status code, e.g. `resumed TLSv1_3 200`. On an error it prints
//! the error on stderr and exits 1.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, n, ca, tls12) = match args.as_slice() {
        [url, n, flag, ca, rest @ ..] if flag == "--ca" => {
            (url, n, ca, rest.iter().any(|a| a == "--tls12"))
        }
        _ => {
            eprintln!("usage: mocket-tls-client https://HOST[:PORT]/PATH N --ca FILE [--tls12]");
            std::process::exit(2);
        }
    };
    let n: usize = n.parse().expect("N is a number");
    if let Err(e) = run(url, n, ca, tls12) {
        eprintln!("mocket-tls-client: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str, n: usize, ca: &str, tls12: bool) -> Result<(), BoxError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("the URL must be https://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>()?),
        None => (authority, 443),
    };
    let config = Arc::new(client_config(ca, tls12)?);
    let name = ServerName::try_from(host.to_string())?;
    let path = if path.is_empty() { "/" } else { path };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    for _ in 0..n {
        let mut sock = TcpStream::connect((host, port))?;
        let mut conn = ClientConnection::new(Arc::clone(&config), name.clone())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        let kind = match conn.handshake_kind() {
            Some(HandshakeKind::Resumed) => "resumed",
            _ => "full",
        };
        let version = format!("{:?}", conn.protocol_version().ok_or("no version")?);
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(request.as_bytes())?;
        let response = read_head(&mut tls)?;
        let status = response.split(' ').nth(1).unwrap_or("?").to_string();
        println!("{kind} {version} {status}");
    }
    Ok(())
}

/// Reads until the end of the response head, or the end of the stream.
fn read_head(tls: &mut impl Read) -> Result<String, BoxError> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf)? {
            0 => break,
            k => got.extend_from_slice(&buf[..k]),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

fn client_config(ca: &str, tls12: bool) -> Result<ClientConfig, BoxError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match tls12 {
        true => &[&rustls::version::TLS12],
        false => rustls::DEFAULT_VERSIONS,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
