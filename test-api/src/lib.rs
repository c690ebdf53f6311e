//! mocket's test API: each test declares its mocks in code, on real host names, for any client
//! in the process (HTTP, HTTPS, Redis, raw TCP), and they are checked when the test ends.
//!
//! ```no_run
//! use mocket::{http, Mocket};
//! use serde_json::json;
//!
//! let m = Mocket::start(); // this test's scope, named after the test
//! let charge = m
//!     .mock(http::post("https://api.stripe.com/v1/charges")
//!         .json_contains(json!({ "amount": 1200 }))
//!         .respond(http::status(201).json(json!({ "id": "ch_1" }))))
//!     .expect(1);
//! // ... code under test calls https://api.stripe.com with any client ...
//! assert_eq!(charge.hits(), 1);
//! // drop: expectations are checked; requests nothing matched fail the test
//! ```
//!
//! The crate is a thin client of the mocket engine, which it never links: the tests run under
//! `mocket run -- cargo test` (or with `runner = ["mocket", "run", "--"]` in
//! `.cargo/config.toml`), where it talks to the daemon over `MOCKET_SOCKET`, or under a bare
//! `LD_PRELOAD=libmocket.so`, where it calls the embedded engine through the functions
//! `libmocket.so` exports. With neither, [`Mocket::start`] panics saying how to run the tests.
//! The protocol is the README's "Control protocol".

#![forbid(unsafe_code)]

mod client;
mod daemon;
mod error;
pub mod http;
mod protocol;
pub mod redis;
mod request;
mod responders;
pub mod tcp;
mod times;
mod verdict;

use std::sync::Arc;

use serde_json::Value;

pub use error::{ControlError, Error};
pub use http::Request;
pub use times::Times;
pub use verdict::{Failure, Verdict};

use client::Client;
use protocol::Op;

/// A `respond_with` closure.
pub(crate) type Responder = Arc<dyn Fn(&http::Request) -> http::Response + Send + Sync>;

/// What [`Mocket::mock`] registers: a mocks-file entry, and the closure of `respond_with`.
pub struct EntrySpec {
    json: Value,
    responder: Option<Responder>,
}

impl EntrySpec {
    /// The mocks-file entry (DESIGN 3 and 7).
    pub fn json(&self) -> &Value {
        &self.json
    }
}

/// Adds an entry's answers and `times` the way every kind of the mocks file writes them: one
/// answer as `response`, several as `responses` (served in order, the last repeating).
pub(crate) fn insert_answers(
    map: &mut serde_json::Map<String, Value>,
    answers: Vec<Value>,
    times: Option<u64>,
) {
    match answers.len() {
        0 => {}
        1 => {
            map.insert("response".into(), answers.into_iter().next().unwrap());
        }
        _ => {
            map.insert("responses".into(), Value::Array(answers));
        }
    }
    if let Some(n) = times {
        map.insert("times".into(), n.into());
    }
}

/// Anything [`Mocket::mock`] takes: the builders of [`http`], [`redis`] and [`tcp`].
pub trait IntoEntry {
    fn into_entry(self) -> EntrySpec;
}

/// A mocks-file entry given as JSON (what [`Mocket::mock_json`] takes).
impl IntoEntry for Value {
    fn into_entry(self) -> EntrySpec {
        EntrySpec {
            json: self,
            responder: None,
        }
    }
}

/// One test's scope: its entries answer only while it lives, before the mocks file's entries,
/// and are checked when it is dropped (or by [`Mocket::verify`]).
pub struct Mocket {
    scope: Arc<Scope>,
}

struct Scope {
    client: Arc<Client>,
    id: u64,
    name: String,
}

impl Scope {
    /// Sends a request of this scope; a failure panics (this is a test API), naming the test.
    #[track_caller]
    fn request(&self, op: &Op) -> serde_json::Map<String, Value> {
        match self.client.request(op) {
            Ok(reply) => reply,
            Err(Error::Control(e)) if e.kind == "invalid" => panic!("mocket: {}", e.message),
            Err(e) => panic!("mocket: {} (test {}): {e}", op.name(), self.name),
        }
    }
}

/// Panics with `message` at the caller.
#[track_caller]
fn fail(message: &str) -> ! {
    panic!("{message}")
}

/// The value, or a panic at the caller with the error.
#[track_caller]
fn or_fail<T>(result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => fail(&e.to_string()),
    }
}

impl Mocket {
    /// Opens this test's scope, named after the current thread (the test harness names each
    /// test's thread after the test). Panics with one line when nothing intercepts the process.
    #[track_caller]
    pub fn start() -> Mocket {
        let client = match client::global() {
            Ok(client) => client,
            Err(e) => fail(&e),
        };
        let thread = std::thread::current();
        let name = thread
            .name()
            .map_or_else(|| format!("{:?}", thread.id()), str::to_string);
        let reply = match client.request(&Op::open_scope(&name, std::process::id())) {
            Ok(reply) => reply,
            Err(e) => fail(&format!("mocket: opening the scope of test {name}: {e}")),
        };
        let id = or_fail(protocol::u64_field(&reply, "scope"));
        client.responders.open_scope(id);
        Mocket {
            scope: Arc::new(Scope { client, id, name }),
        }
    }

    /// Registers an entry (a builder of [`http`], [`redis`] or [`tcp`]). A bad entry panics
    /// here with the message `mocket check` gives. When another live test holds the entry's
    /// destination, this waits until that test ends (MOCKET_LEASE_TIMEOUT_MS, then panics
    /// naming it).
    #[track_caller]
    pub fn mock(&self, entry: impl IntoEntry) -> Mock {
        let EntrySpec { json, responder } = entry.into_entry();
        if responder.is_some() {
            or_fail(self.scope.client.expect_calls());
        }
        let reply = self
            .scope
            .request(&Op::register(self.scope.id, json, responder.is_some()));
        let mock = Mock {
            scope: Arc::clone(&self.scope),
            entry: or_fail(protocol::u64_field(&reply, "entry")),
            label: or_fail(protocol::str_field(&reply, "label")),
            destination: protocol::str_field(&reply, "destination").unwrap_or_default(),
        };
        if let Some(closure) = responder {
            let responders = &self.scope.client.responders;
            responders.add(self.scope.id, mock.entry, closure);
        }
        mock
    }

    /// Registers any entry of the mocks file, given as JSON (DESIGN 3 and 7).
    #[track_caller]
    pub fn mock_json(&self, entry: Value) -> Mock {
        self.mock(entry)
    }

    /// Every request of this scope, answered or unmatched, in arrival order.
    #[track_caller]
    pub fn requests(&self) -> Vec<Request> {
        let reply = self.scope.request(&Op::requests(self.scope.id, None));
        or_fail(protocol::requests_field(&reply))
    }

    /// Checks the scope now and returns the outcome, without panicking.
    #[track_caller]
    pub fn verdict(&self) -> Verdict {
        let reply = self.scope.request(&Op::verify(self.scope.id));
        or_fail(Verdict::from_reply(&reply))
    }

    /// Checks the scope now: panics with the engine's report if an expectation failed, a
    /// request matched nothing or a `respond_with` closure failed.
    #[track_caller]
    pub fn verify(&self) {
        let verdict = self.verdict();
        if !verdict.passed {
            fail(&failure_text(&self.scope.name, &verdict));
        }
    }

    /// The scope's name: the test's.
    pub fn name(&self) -> &str {
        &self.scope.name
    }

    /// `daemon` (under `mocket run`) or `embedded` (a bare `LD_PRELOAD`).
    pub fn placement(&self) -> &str {
        self.scope.client.placement()
    }
}

/// The engine's report (it names the test), or one made here if it sent none.
fn failure_text(test: &str, verdict: &Verdict) -> String {
    match &verdict.message {
        Some(message) => message.clone(),
        None => format!(
            "mocket: test \"{test}\" failed its mocks:\n{}",
            verdict.report()
        ),
    }
}

impl Drop for Mocket {
    /// Closes the scope (its entries and leases go) and checks it. A failure panics, unless the
    /// thread is already panicking: then it is printed, never a second panic.
    fn drop(&mut self) {
        let scope = &self.scope;
        let closed = scope.client.request(&Op::close_scope(scope.id));
        scope.client.responders.close_scope(scope.id);
        let message = match closed.and_then(|reply| Verdict::from_reply(&reply)) {
            Ok(verdict) if verdict.passed => return,
            Ok(verdict) => failure_text(&scope.name, &verdict),
            Err(e) => format!("mocket: closing the scope of test {}: {e}", scope.name),
        };
        if std::thread::panicking() {
            eprintln!("{message}");
        } else {
            panic!("{message}");
        }
    }
}

/// A registered entry: set its expectation, read its hits and requests.
pub struct Mock {
    scope: Arc<Scope>,
    entry: u64,
    label: String,
    destination: String,
}

impl std::fmt::Debug for Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mock")
            .field("entry", &self.entry)
            .field("label", &self.label)
            .field("test", &self.scope.name)
            .finish()
    }
}

impl Mock {
    /// How many requests the entry must answer by the end of the test: a number (`0`: never),
    /// `a..`, `..=b` or `a..=b`.
    #[track_caller]
    pub fn expect(self, times: impl Into<Times>) -> Self {
        let Times { min, max } = times.into();
        self.scope
            .request(&Op::expect(self.scope.id, self.entry, min, max));
        self
    }

    /// How many requests the entry answered so far.
    #[track_caller]
    pub fn hits(&self) -> u64 {
        let reply = self.scope.request(&Op::hits(self.scope.id, self.entry));
        or_fail(protocol::u64_field(&reply, "hits"))
    }

    /// The requests the entry answered, in order.
    #[track_caller]
    pub fn requests(&self) -> Vec<Request> {
        let reply = self
            .scope
            .request(&Op::requests(self.scope.id, Some(self.entry)));
        or_fail(protocol::requests_field(&reply))
    }

    /// How the engine names the entry: `POST https://api.stripe.com/v1/charges`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The entry's destination, `host:port`.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The entry's id in the engine.
    pub fn id(&self) -> u64 {
        self.entry
    }
}
