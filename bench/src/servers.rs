//! The comparison servers on loopback, each answering `GET /v1/users/1` with `200`,
//! `content-type: application/json` and `{"id":1}`: a minimal hyper server (the fastest
//! hand-written server), and the `httpmock` and `wiremock` crates' servers in their default
//! configuration (what a Rust user picks today).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub const PATH: &str = "/v1/users/1";
pub const BODY: &[u8] = b"{\"id\":1}";

pub struct Servers {
    pub hyper: u16,
    pub httpmock: u16,
    pub wiremock: u16,
    _rt: tokio::runtime::Runtime,
    _httpmock: httpmock::MockServer,
    _wiremock: wiremock::MockServer,
}

impl Servers {
    pub fn start() -> Servers {
        // The hyper server gets tokio's default multi-threaded runtime (one worker per core).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let hyper = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind hyper");
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(serve_hyper(listener));
            port
        });

        let hm = httpmock::MockServer::start();
        hm.mock(|when, then| {
            when.method(httpmock::Method::GET).path(PATH);
            then.status(200)
                .header("content-type", "application/json")
                .body(BODY);
        });
        let httpmock_port = hm.port();

        // wiremock runs its server on a thread of its own (a current-thread runtime).
        let wm = rt.block_on(async {
            use wiremock::matchers::{method, path};
            let s = wiremock::MockServer::start().await;
            wiremock::Mock::given(method("GET"))
                .and(path(PATH))
                .respond_with(
                    wiremock::ResponseTemplate::new(200)
                        .set_body_raw(BODY, "application/json"),
                )
                .mount(&s)
                .await;
            s
        });
        let wiremock_port = wm.address().port();

        Servers {
            hyper,
            httpmock: httpmock_port,
            wiremock: wiremock_port,
            _rt: rt,
            _httpmock: hm,
            _wiremock: wm,
        }
    }
}

async fn serve_hyper(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY)))
                        .unwrap(),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
