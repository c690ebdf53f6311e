//! Rust HTTP clients for the integration tests, each used the way an application would:
//!
//! `mocket-http-client MODE REQUEST...` where a REQUEST is one argument `METHOD URL [BODY]`
//! (a BODY starting with `{` is sent as `application/json`). All requests go through one
//! client, in order, so keep-alive reuses connections. MODE picks the client:
//!
//! - `reqwest-http`: reqwest (async, tokio), plain HTTP;
//! - `reqwest-rustls-native`: reqwest with rustls and the system roots (`rustls-native-certs`,
//!   which reads `SSL_CERT_FILE`);
//! - `reqwest-native-tls`: reqwest with native-tls (OpenSSL);
//! - `reqwest-rustls-webpki`: reqwest with rustls and only the compiled-in webpki roots (it
//!   cannot trust the mocket CA);
//! - `ureq-http`: ureq (blocking, its own connection pool), plain HTTP.
//!
//! Prints one JSON line per response, `{"status": 200, "headers": {...}, "body": "..."}`
//! (header names lower-case; a repeated header's values joined with `, `), then for the reqwest
//! modes `{"connections": N}`: how many connections the client opened, counted by its resolver,
//! which reqwest calls once per new connection. On an error it prints the error and its causes
//! on stderr and exits 1.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

struct Request {
    method: String,
    url: String,
    body: Option<String>,
}

fn parse_request(arg: &str) -> Request {
    let mut parts = arg.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_string();
    let Some(url) = parts.next() else {
        eprintln!("a request is \"METHOD URL [BODY]\", got {arg:?}");
        std::process::exit(2);
    };
    Request {
        method,
        url: url.to_string(),
        body: parts.next().map(str::to_string),
    }
}

fn is_json(body: &str) -> bool {
    body.starts_with('{')
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, requests)) = args.split_first() else {
        eprintln!(
            "usage: mocket-http-client reqwest-http|reqwest-rustls-native|reqwest-native-tls|\
             reqwest-rustls-webpki|ureq-http 'METHOD URL [BODY]'..."
        );
        std::process::exit(2);
    };
    let requests: Vec<Request> = requests.iter().map(|r| parse_request(r)).collect();
    let result = match mode.as_str() {
        "ureq-http" => with_ureq(&requests),
        "reqwest-http"
        | "reqwest-rustls-native"
        | "reqwest-native-tls"
        | "reqwest-rustls-webpki" => with_reqwest(mode, &requests),
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        let mut text = format!("client error: {e}");
        let mut cause = e.source();
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        eprintln!("{text}");
        std::process::exit(1);
    }
}

fn print_response(status: u16, headers: &BTreeMap<String, String>, body: &str) {
    println!(
        "{}",
        json!({ "status": status, "headers": headers, "body": body })
    );
}

/// Response headers, lower-case names, repeated values joined with `, `.
fn collect_headers<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in pairs {
        let value = String::from_utf8_lossy(value).into_owned();
        map.entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// The system resolver (`getaddrinfo`, so through the shim), counting its calls.
struct CountingResolver {
    calls: Arc<AtomicUsize>,
}

impl reqwest::dns::Resolve for CountingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

fn reqwest_client(mode: &str, calls: Arc<AtomicUsize>) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .dns_resolver(Arc::new(CountingResolver { calls }));
    let builder = match mode {
        "reqwest-http" => builder,
        "reqwest-rustls-native" => builder
            .use_rustls_tls()
            .tls_built_in_webpki_certs(false)
            .tls_built_in_native_certs(true),
        "reqwest-rustls-webpki" => builder
            .use_rustls_tls()
            .tls_built_in_native_certs(false)
            .tls_built_in_webpki_certs(true),
        "reqwest-native-tls" => builder.use_native_tls(),
        other => unreachable!("mode {other}"),
    };
    builder.build()
}

fn with_reqwest(mode: &str, requests: &[Request]) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = reqwest_client(mode, Arc::clone(&calls))?;
        for r in requests {
            let method = reqwest::Method::from_bytes(r.method.as_bytes())?;
            let mut request = client.request(method, &r.url);
            if let Some(body) = &r.body {
                if is_json(body) {
                    request = request.header("content-type", "application/json");
                }
                request = request.body(body.clone());
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = collect_headers(
                response
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_bytes())),
            );
            let body = response.text().await?;
            print_response(status, &headers, &body);
        }
        println!("{}", json!({ "connections": calls.load(Ordering::SeqCst) }));
        Ok::<(), BoxError>(())
    })
}

fn with_ureq(requests: &[Request]) -> Result<(), BoxError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    for r in requests {
        let mut response = match (r.method.as_str(), &r.body) {
            ("GET", None) => agent.get(&r.url).call()?,
            ("HEAD", None) => agent.head(&r.url).call()?,
            ("DELETE", None) => agent.delete(&r.url).call()?,
            ("POST", body) | ("PUT", body) => {
                let body = body.clone().unwrap_or_default();
                let builder = if r.method == "POST" {
                    agent.post(&r.url)
                } else {
                    agent.put(&r.url)
                };
                let builder = if is_json(&body) {
                    builder.header("content-type", "application/json")
                } else {
                    builder
                };
                builder.send(body.as_str())?
            }
            (method, _) => return Err(format!("ureq mode does not send {method}").into()),
        };
        let status = response.status().as_u16();
        let headers = collect_headers(
            response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        let body = response.body_mut().read_to_string()?;
        print_response(status, &headers, &body);
    }
    Ok(())
}
