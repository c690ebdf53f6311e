//! What the `--seccomp` supervisor (in `mocket run`) asks the engine: the same routing as the
//! shim's, without journaling twice a connect that the shim already decided.
//!
//! Under `--seccomp` a preloaded process's connects reach the filter after the shim decided
//! them: a redirect arrives as a connect to the engine listener, a pass as a connect to the
//! real destination. The latter was journaled when the shim asked; the supervisor consumes the
//! shim's note instead of routing (and journaling) it again. A note only ever stands for a
//! destination the policy let through, so consuming one never lets through what routing
//! would refuse.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mocket_control::sync::lock;
use mocket_control::{Reply, Request, Transport};

use crate::Engine;

/// At most this many notes wait (a shim whose pass never reached `connect` leaves one).
const MAX_NOTES: usize = 4096;

#[derive(Default)]
pub(crate) struct ShimPasses {
    /// Set when a supervisor runs: only then are notes kept.
    enabled: AtomicBool,
    notes: std::sync::Mutex<HashMap<(IpAddr, u16), u32>>,
}

impl ShimPasses {
    /// Remembers a pass the shim is about to carry out.
    pub(crate) fn note(&self, reply: &Reply, addr: IpAddr, port: u16) {
        if *reply != Reply::Pass || !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut notes = lock(&self.notes);
        if notes.len() >= MAX_NOTES {
            notes.clear();
        }
        *notes.entry((addr.to_canonical(), port)).or_default() += 1;
    }

    fn take(&self, addr: IpAddr, port: u16) -> bool {
        let mut notes = lock(&self.notes);
        let key = (addr.to_canonical(), port);
        match notes.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                notes.remove(&key);
                true
            }
            None => false,
        }
    }
}

impl Engine {
    /// Routes a connect (or datagram) the seccomp filter stopped; see the module doc.
    pub fn route_stopped_call(
        self: &Arc<Self>,
        pid: u32,
        transport: Transport,
        addr: IpAddr,
        port: u16,
    ) -> Reply {
        self.shim_passes.enabled.store(true, Ordering::Relaxed);
        if self.shim_passes.take(addr, port) {
            return Reply::Pass;
        }
        self.handle_unnoted(Request::Route {
            pid,
            transport,
            addr,
            port,
        })
    }

    /// Starts keeping the shim's notes (called when a supervisor starts).
    pub fn expect_supervisor(&self) {
        self.shim_passes.enabled.store(true, Ordering::Relaxed);
    }

    /// Whether `addr` is one of the engine's own listeners (the engine listener, and the one
    /// for tagged connections), which redirected connects reach.
    pub fn is_engine_listener(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        let port = Some(addr.port());
        ip.is_loopback() && (*lock(&self.listener_port) == port || *lock(&self.tagged_port) == port)
    }

    fn handle_unnoted(self: &Arc<Self>, request: Request) -> Reply {
        let config = match &self.config {
            Ok(c) => c.clone(),
            Err(e) => return Reply::Refuse(format!("refused: the mocks file is broken: {e}")),
        };
        match request {
            Request::Route {
                pid,
                transport,
                addr,
                port,
            } => self.route(&config, pid, transport, addr, port),
            other => self.handle(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;
    use mocket_config::{Config, LogLevel};

    #[test]
    fn a_shim_pass_is_consumed_once_and_never_widens_the_policy() {
        let config = Config::parse(r#"{"strict": true, "entries": []}"#, "m.json", ".".as_ref())
            .map(Arc::new);
        let engine = Engine::with_config(config, LogLevel::Error, Journal::default(), None);
        engine.expect_supervisor();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let shim = |engine: &Arc<Engine>| {
            engine.handle(Request::Route {
                pid: 1,
                transport: Transport::Tcp,
                addr: loopback,
                port: 9,
            })
        };
        assert_eq!(shim(&engine), Reply::Pass);
        assert!(engine.shim_passes.take(loopback, 9));
        assert!(!engine.shim_passes.take(loopback, 9));
        // A refused destination never leaves a note.
        let outside: IpAddr = "203.0.113.1".parse().unwrap();
        let refused = engine.handle(Request::Route {
            pid: 1,
            transport: Transport::Tcp,
            addr: outside,
            port: 80,
        });
        assert!(matches!(refused, Reply::Refuse(_)));
        assert!(matches!(
            engine.route_stopped_call(1, Transport::Tcp, outside, 80),
            Reply::Refuse(_)
        ));
    }

    /// Both listeners are the engine's: a shim's connect to either is never judged (nor
    /// journaled) as a connect of its own.
    #[test]
    fn both_listeners_are_the_engines() {
        let engine = crate::tests::engine(
            r#"{"entries": [{"http": "GET http://a.test/", "response": {"body": "x"}}]}"#,
        );
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let listener = engine.listener_port().unwrap();
        let tagged = engine.tagged_port().unwrap();
        assert!(engine.is_engine_listener(at(listener)));
        assert!(engine.is_engine_listener(at(tagged)));
        assert!(!engine.is_engine_listener(at(9)));
    }
}
