//! The process's one session with the engine, shared by every scope of every test thread:
//! over `MOCKET_SOCKET` to the daemon of `mocket run`, or through `libmocket.so`'s exported
//! functions to the embedded engine of a bare `LD_PRELOAD`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::daemon::Daemon;
use crate::error::Error;
use crate::protocol::{self, Incoming, Op};
use crate::responders::Responders;

/// Said when neither placement is there (one line: it is the whole panic message).
pub const NOT_INTERCEPTED: &str = "mocket: nothing intercepts this process: run the tests under `mocket run -- cargo test` (or set runner = [\"mocket\", \"run\", \"--\"] in .cargo/config.toml), or with LD_PRELOAD=/path/to/libmocket.so";

/// How long the engine may take beyond a lease wait before the daemon is given up on.
const REPLY_MARGIN: Duration = Duration::from_secs(30);

type Fields = Map<String, Value>;

enum Channel {
    Daemon(Arc<Daemon>),
    Embedded(mocket_shim_api::Session),
}

/// The session, with the closures its calls go to.
pub struct Client {
    channel: Channel,
    next_id: AtomicU64,
    pub responders: Arc<Responders>,
    placement: OnceLock<String>,
}

/// The process's client, connected on first use. A failure is kept: every test then reports
/// the same cause.
pub fn global() -> Result<Arc<Client>, String> {
    static CLIENT: OnceLock<Result<Arc<Client>, String>> = OnceLock::new();
    CLIENT.get_or_init(connect).clone()
}

fn connect() -> Result<Arc<Client>, String> {
    let responders = Arc::new(Responders::default());
    // The channel needs the responders (calls go there) and the responders need the channel
    // (to answer): the answering side gets a weak reference once the client exists.
    let answerer: Arc<OnceLock<Weak<Client>>> = Arc::new(OnceLock::new());
    let on_call = call_handler(Arc::clone(&responders), Arc::clone(&answerer));
    let channel = match std::env::var_os("MOCKET_SOCKET") {
        Some(path) => Channel::Daemon(Daemon::connect(
            path.as_ref(),
            on_call,
            lease_timeout() + REPLY_MARGIN,
        )?),
        None => {
            match mocket_shim_api::Session::open(Box::new(move |msg| match protocol::decode(msg) {
                Ok(Incoming::Call(call)) => on_call(*call),
                Ok(Incoming::Reply { id, .. }) => {
                    eprintln!("mocket: the embedded engine sent a reply ({id}) as a message")
                }
                Err(e) => eprintln!("mocket: {e}"),
            })) {
                Ok(session) => Channel::Embedded(session),
                Err(mocket_shim_api::ApiError::Absent) => return Err(NOT_INTERCEPTED.into()),
                Err(e) => return Err(format!("mocket: {e}")),
            }
        }
    };
    let client = Arc::new(Client {
        channel,
        next_id: AtomicU64::new(1),
        responders,
        placement: OnceLock::new(),
    });
    let _ = answerer.set(Arc::downgrade(&client));
    let hello = client
        .request(&Op::hello(std::process::id()))
        .map_err(|e| format!("mocket: the engine refused this client: {e}"))?;
    let placement = protocol::str_field(&hello, "placement").unwrap_or_default();
    let _ = client.placement.set(placement);
    Ok(client)
}

/// What the transport does with a call: run its closure, then send `respond`.
fn call_handler(
    responders: Arc<Responders>,
    answerer: Arc<OnceLock<Weak<Client>>>,
) -> Arc<dyn Fn(protocol::Call) + Send + Sync> {
    Arc::new(move |call| {
        let answerer = Arc::clone(&answerer);
        responders.dispatch(call, move |id, outcome| {
            let Some(client) = answerer.get().and_then(Weak::upgrade) else {
                return;
            };
            if let Err(e) = client.request(&Op::respond(id, outcome)) {
                eprintln!("mocket: answering respond_with call {id} failed: {e}");
            }
        })
    })
}

impl Client {
    /// `daemon` or `embedded`, as the engine said.
    pub fn placement(&self) -> &str {
        self.placement.get().map_or("", String::as_str)
    }

    /// Makes sure the engine's `respond_with` calls are read: needed before registering a
    /// responder (the embedded engine delivers calls itself).
    pub fn expect_calls(&self) -> Result<(), Error> {
        match &self.channel {
            Channel::Daemon(daemon) => daemon.expect_calls(),
            Channel::Embedded(_) => Ok(()),
        }
    }

    /// Sends one request and waits for its reply.
    pub fn request(&self, op: &Op) -> Result<Fields, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let line = op.encode(id);
        match &self.channel {
            Channel::Daemon(daemon) => daemon.request(id, op.name(), line),
            Channel::Embedded(session) => {
                let reply = session
                    .send(line.as_bytes())
                    .map_err(|e| Error::Transport(format!("mocket: {e}")))?;
                match protocol::decode(&reply)? {
                    Incoming::Reply { result, .. } => result.map_err(Error::Control),
                    Incoming::Call(_) => Err(Error::Protocol(
                        "the embedded engine answered a request with a call".into(),
                    )),
                }
            }
        }
    }
}

/// MOCKET_LEASE_TIMEOUT_MS as the engine reads it (default 60 s): a register may wait that
/// long for a destination.
fn lease_timeout() -> Duration {
    std::env::var("MOCKET_LEASE_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_intercepted_message_is_one_line() {
        assert!(!NOT_INTERCEPTED.contains('\n'));
        assert!(NOT_INTERCEPTED.contains("mocket run -- cargo test"));
    }
}
