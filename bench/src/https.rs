//! Section 7: HTTPS, a new TCP connection and a TLS handshake per request (issue 7 item 4, issue
//! 4's closing note, issue 15): mocket terminating TLS (daemon and embedded placements) against a
//! plain rustls server on loopback, with the same client in every column, once with a full
//! handshake per connection and once resuming the session of an earlier connection.
//!
//! The rustls server runs in the harness: tokio-rustls + hyper on tokio's default runtime, the
//! same crypto provider (ring), certificate type (ECDSA P-256) and chain (leaf + CA) as mocket's
//! leaves, ALPN `http/1.1`, one shared `ServerConfig`. Its CA is made by the harness; the clients
//! trust a bundle of that CA and the mocket CA (`mocket ca`). Both servers can resume (the rustls
//! server with rustls's session cache and ring ticketer, as mocket's shared configs); the
//! "full" rows disable it in the client (curl `--no-sessionid`, the rustls client's
//! `Resumption::disabled`), the "resumed" rows let the client keep its sessions (curl's cache
//! across the URLs of one command line, the rustls client's in-memory cache).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::Cfg;
use crate::common::{Env, Placement, Report, Series, command, fmt, median, percentile, ratio, run_json};
use crate::servers::{BODY, PATH};

pub const MOCKED_URL: &str = "https://api.example.com/v1/users/1";

pub struct TlsServer {
    port: u16,
    ca_pem: String,
    _rt: tokio::runtime::Runtime,
}

/// A CA and a leaf for `localhost` and 127.0.0.1, both ECDSA P-256, as mocket issues them.
fn certificates() -> (String, Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name.push(DnType::CommonName, "mocket-bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let leaf = params.signed_by(&leaf_key, &ca, &ca_key).expect("leaf certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    (ca.pem(), vec![leaf.der().clone(), ca.der().clone()], key)
}

impl TlsServer {
    pub fn start() -> TlsServer {
        let (ca_pem, chain, key) = certificates();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
        config.ticketer = rustls::crypto::ring::Ticketer::new().expect("ticketer");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let port = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(serve(listener, acceptor));
            port
        });
        TlsServer { port, ca_pem, _rt: rt }
    }
}

async fn serve(listener: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY)))
                        .unwrap(),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// The rustls server alone, for profiling by hand (`mocket-bench serve`): its port, and its CA
/// written to `ca_path`. The server runs as long as the returned value lives.
pub fn serve_rustls(ca_path: &Path) -> (TlsServer, u16) {
    let server = TlsServer::start();
    std::fs::write(ca_path, &server.ca_pem).expect("write the rustls server's CA");
    let port = server.port;
    (server, port)
}

/// The mocket CA's certificate, from `mocket ca` (created on first use).
fn mocket_ca(env: &Env) -> Option<String> {
    let out = command(env, &Placement::Direct, &[env.mocket.display().to_string(), "ca".into()])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::fs::read_to_string(Path::new(&path)).ok()
}

/// curl, all URLs on one command line: per transfer `time_total` (the latency) and
/// `time_appconnect - time_connect` (the handshake). `mode` "full": `Connection: close` and no TLS
/// session reuse; "resumed": `Connection: close`, sessions reused across the URLs (curl's
/// default); "keep-alive": one connection for every URL (its handshake shows once, in the warm-up).
fn curl_run(env: &Env, placement: &Placement, url: &str, bundle: &Path, n: usize, mode: &str) -> Option<Value> {
    let warmup = (n / 10).clamp(1, 50);
    let keep_alive = mode == "keep-alive";
    let mut argv: Vec<String> = ["curl", "-s", "--noproxy", "*"].iter().map(|s| s.to_string()).collect();
    if mode == "full" {
        argv.push("--no-sessionid".into());
    }
    if !keep_alive {
        argv.extend(["-H".to_string(), "Connection: close".to_string()]);
    }
    argv.push("--cacert".into());
    argv.push(bundle.display().to_string());
    for a in ["-w", "#T#%{time_total} %{time_connect} %{time_appconnect}\\n"] {
        argv.push(a.into());
    }
    argv.extend(std::iter::repeat_n(url.to_string(), warmup + n));
    let out = command(env, placement, &argv)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<(f64, f64)> = text
        .split("#T#")
        .skip(1)
        .filter_map(|s| {
            let f: Vec<f64> = s.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect();
            (f.len() == 3 && (keep_alive || f[2] > 0.0)).then(|| (f[0], f[2] - f[1]))
        })
        .collect();
    let ok = text.matches("{\"id\":1}").count();
    if rows.len() != warmup + n || !out.status.success() {
        eprintln!(
            "  ! curl https {placement:?}: {} transfers of {}, exit {}: {}",
            rows.len(),
            warmup + n,
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("")
        );
        if rows.len() <= warmup {
            return None;
        }
    }
    let timed = &rows[warmup..];
    let total: f64 = timed.iter().map(|r| r.0).sum();
    Some(json!({
        "n": timed.len(), "secs": total, "rps": timed.len() as f64 / total,
        "errors": (warmup + n).saturating_sub(ok),
        "lat_ns": timed.iter().map(|r| (r.0 * 1e9) as u64).collect::<Vec<_>>(),
        "hs_ns": timed.iter().map(|r| (r.1 * 1e9) as u64).collect::<Vec<_>>(),
    }))
}

pub fn run(env: &Env, cfg: &Cfg, report: &mut Report) {
    report.section("7. HTTPS: a new connection and a TLS handshake (full or resumed) per request");
    let Some(mocket_ca) = mocket_ca(env) else {
        report.line("`mocket ca` gave no readable certificate: skipped.");
        return;
    };
    let server = TlsServer::start();
    let bundle: PathBuf = env.write("https-bundle.pem", &format!("{}\n{}", mocket_ca.trim_end(), server.ca_pem));
    let config = env.write(
        "https-mocks.json",
        &json!({"entries": [
            {"http": format!("GET {MOCKED_URL}"), "response": {"status": 200, "json": {"id": 1}}}
        ]})
        .to_string(),
    );
    let local = format!("https://127.0.0.1:{}{PATH}", server.port);
    let cols: Vec<(&str, Placement, String)> = vec![
        ("mocket daemon", Placement::Daemon(config.clone()), MOCKED_URL.into()),
        ("mocket embedded", Placement::Embedded(config.clone()), MOCKED_URL.into()),
        ("rustls + hyper (loopback)", Placement::Direct, local),
    ];
    let n = cfg.n_https;
    report.line(&format!(
        "`GET` over a new TCP connection and a TLS 1.3 handshake per request (`Connection: close`), ECDSA P-256 leaf + CA chain, ALPN http/1.1; {n} timed requests per run, {} runs per cell interleaved. Both servers keep sessions and issue tickets; \"full\" rows: the client does not resume (curl `--no-sessionid`, rustls `Resumption::disabled`), so every handshake is full; \"resumed\" rows: the client resumes the session of an earlier connection (curl's session cache across the URLs of one command line, rustls's in-memory cache; the rustls client counts its resumed handshakes in the notes). The rustls server runs in the harness (tokio-rustls + hyper, ring, one shared `ServerConfig` with `ServerSessionMemoryCache` and the ring `Ticketer`); the clients trust a bundle of its CA and the mocket CA. Clients: curl (OpenSSL; `--cacert`, handshake = `time_appconnect - time_connect`) and `bench-client https` (rustls 0.23 with ring; handshake = connected socket to completed handshake). \"added\" is the row's p50 minus the rustls server's p50 (same client, same mode).",
        cfg.reps
    ));
    report.line("");
    let mut rows = Vec::new();
    let mut figures = serde_json::Map::new();
    let runs = [("curl", "full"), ("rustls", "full"), ("curl", "resumed"), ("rustls", "resumed"), ("curl", "keep-alive")];
    for (client, mode) in runs {
        let resume = mode == "resumed";
        let mut series = vec![Series::default(); cols.len()];
        let mut hs: Vec<Vec<f64>> = vec![Vec::new(); cols.len()];
        let mut resumed = vec![(0u64, 0u64); cols.len()];
        for _ in 0..cfg.reps {
            for (i, (_, placement, url)) in cols.iter().enumerate() {
                crate::common::drain_time_wait(cfg.time_wait_max);
                let v = if client == "curl" {
                    curl_run(env, placement, url, &bundle, n, mode)
                } else {
                    let mut argv: Vec<String> = vec![
                        env.client.display().to_string(),
                        "https".into(),
                        url.clone(),
                        n.to_string(),
                        "--ca".into(),
                        bundle.display().to_string(),
                        "--warmup".into(),
                        (n / 10).clamp(1, 50).to_string(),
                        "--budget-ms".into(),
                        cfg.budget_ms.to_string(),
                    ];
                    if resume {
                        argv.push("--resume".into());
                    }
                    run_json(env, placement, &argv)
                };
                if let Some(h) = v.as_ref().and_then(|v| v["hs_ns"].as_array()) {
                    hs[i].extend(h.iter().filter_map(Value::as_f64).map(|ns| ns / 1000.0));
                    if let Some(r) = v.as_ref().and_then(|v| v["resumed"].as_u64()) {
                        resumed[i].0 += r;
                        resumed[i].1 += h.len() as u64;
                    }
                }
                series[i].add(v.as_ref());
            }
        }
        let base = cols.len() - 1;
        let (base_p50, base_hs) = (series[base].p50(), median(&hs[base]));
        for (i, (name, ..)) in cols.iter().enumerate() {
            let s = &series[i];
            let hs50 = median(&hs[i]);
            let cpu = if client == "curl" {
                "- / -".to_string()
            } else {
                format!("{} / {}", fmt(s.client_cpu()), fmt(s.server_cpu()))
            };
            let added = if i == base { "-".to_string() } else { format!("{:+.0} µs", s.p50() - base_p50) };
            let mut notes = Vec::new();
            if client == "rustls" {
                notes.push(format!("resumed {}/{}", resumed[i].0, resumed[i].1));
            }
            if s.errors + s.failed_runs > 0 {
                notes.push(format!("{} err, {} failed runs", s.errors, s.failed_runs));
            }
            rows.push(vec![
                client.to_string(),
                mode.to_string(),
                name.to_string(),
                fmt(s.rps()),
                fmt(s.p50()),
                fmt(s.p99()),
                fmt(hs50),
                fmt(percentile(&hs[i], 99.0)),
                cpu,
                ratio(s.rps(), series[base].rps()),
                ratio(hs50, base_hs),
                added,
                notes.join(", "),
            ]);
            let mut j = s.json();
            j["handshake_us_p50"] = crate::common::finite(hs50);
            j["handshake_us_p99"] = crate::common::finite(percentile(&hs[i], 99.0));
            if client == "rustls" {
                j["resumed"] = json!(resumed[i].0);
                j["handshakes"] = json!(resumed[i].1);
            }
            figures.insert(format!("{client}/{mode}/{name}"), j);
        }
        eprintln!("  https {client} {mode} done");
    }
    report.table(
        &[
            "client", "TLS session", "server", "req/s", "p50 µs", "p99 µs", "handshake p50 µs", "handshake p99 µs",
            "CPU µs/req client / server", "req/s vs rustls", "handshake vs rustls", "added (p50)", "notes",
        ],
        &rows,
    );
    report.json.insert("https".into(), Value::Object(figures));
}
