//! The engine's loopback listener and the dispatch of each redirected connection to the
//! protocol of its destination's entries.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::{Claim, Engine, lock};
use crate::config::Kind;
use crate::journal::Action;

/// How long an accepted connection waits for its claim: the shim sends it right after its
/// `connect` returns, so this only bounds a client that died in between.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

impl Engine {
    /// The port of the listener, started on first use: an engine that never redirects anything
    /// starts no thread.
    pub(super) fn listener_port(self: &Arc<Self>) -> io::Result<u16> {
        let mut port = lock(&self.listener_port);
        if let Some(p) = *port {
            return Ok(p);
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let p = listener.local_addr()?.port();
        let engine = Arc::clone(self);
        self.spawn("mocket-accept", move || engine.accept_loop(listener))?;
        *port = Some(p);
        Ok(p)
    }

    pub(super) fn spawn(
        &self,
        name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> io::Result<thread::JoinHandle<()>> {
        let hook = self.thread_hook;
        thread::Builder::new().name(name.into()).spawn(move || {
            if let Some(hook) = hook {
                hook();
            }
            work()
        })
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let engine = Arc::clone(&self);
            self.active.fetch_add(1, Ordering::AcqRel);
            let spawned = self.run_connection(move || {
                // The shim claims its connection once connect() has returned, which may be
                // after the accept.
                match engine.await_claim(&stream) {
                    Some(claim) => Arc::clone(&engine).serve(stream, claim),
                    None => {
                        engine.warn("dropped a connection to the engine that no process claimed")
                    }
                }
                engine.active.fetch_sub(1, Ordering::AcqRel);
            });
            if let Err(e) = spawned {
                self.active.fetch_sub(1, Ordering::AcqRel);
                self.warn(&format!("cannot start a connection thread: {e}"));
            }
        }
    }

    /// The claim for `stream`, waiting for it a while.
    fn await_claim(&self, stream: &TcpStream) -> Option<Claim> {
        let port = stream.peer_addr().ok()?.port();
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut claims = lock(&self.claims);
        loop {
            if let Some(claim) = claims.remove(&port) {
                return Some(claim);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            claims = self
                .claimed
                .wait_timeout(claims, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(super) fn serve(self: Arc<Self>, stream: TcpStream, claim: Claim) {
        let _ = stream.set_nodelay(true);
        let config = match &self.config {
            Ok(c) => Arc::clone(c),
            Err(_) => return,
        };
        let candidates = config.entries_for(&claim.dest);
        if candidates.is_empty() && self.recorder.is_some() {
            return self.serve_recorded(stream, &claim);
        }
        lock(&self.report).mocked += 1;
        self.info(&format!("pid {} connected to {}", claim.pid, claim.dest));
        match candidates.first().map(|i| config.entries[*i].kind()) {
            Some(Kind::Http) => self.serve_http_or_https(stream, &claim, candidates),
            Some(Kind::Redis) => self.serve_redis(stream, &claim, candidates),
            Some(Kind::Tcp) => self.serve_tcp(stream, &claim, candidates),
            None => {
                let event = claim.event("tcp", Action::Unmatched);
                self.count_unmatched(&claim, "tcp", "no entry".into(), event);
            }
        }
    }
}
