//! Sessions: one per control connection (daemon) or `mocket_control_open` (embedded). A session
//! owns scopes, and carries the engine's responder calls to the test process.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mocket_config::{Entry, Kind};
use serde_json::{Value, json};

use super::protocol::{self, ErrorKind, Op, ProtocolError, VERSION};
use super::{Expectation, LeaseError, Scope, Verdict};
use crate::Engine;
use crate::control::sync::lock;

/// Delivers one engine-initiated message (a JSON object, no newline) to the session's client;
/// `false` when the client is gone.
pub type Sink = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// How long a responder call waits for the test's answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type Answer = Result<Value, String>;

pub struct Session {
    pub id: u64,
    sink: Sink,
    /// Responder calls waiting for their `respond`, by call id.
    calls: Mutex<HashMap<u64, SyncSender<Answer>>>,
    next_call: AtomicU64,
    closed: AtomicBool,
}

impl Session {
    pub(super) fn new(id: u64, sink: Sink) -> Session {
        Session {
            id,
            sink,
            calls: Mutex::default(),
            next_call: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Asks the client to compute a response (`respond_with`) and waits for it, at most
    /// `timeout`. The error says why there is no response.
    pub fn call(&self, message: Value, timeout: Duration) -> Result<Value, String> {
        if self.closed.load(Ordering::Acquire) {
            return Err("the test's control session is closed".into());
        }
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        lock(&self.calls).insert(id, tx);
        let mut message = message;
        message["call"] = json!(id);
        if self.closed.load(Ordering::Acquire) || !(self.sink)(&message.to_string()) {
            lock(&self.calls).remove(&id);
            return Err("the test's control session is closed".into());
        }
        match rx.recv_timeout(timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                lock(&self.calls).remove(&id);
                Err(format!("no answer within {} s", timeout.as_secs()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err("the test's control session closed before answering".into())
            }
        }
    }

    fn answer(&self, call: u64, answer: Answer) -> bool {
        match lock(&self.calls).remove(&call) {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// Fails every waiting call: their senders are dropped.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.calls).clear();
    }
}

/// What handling a message gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Reply(String),
    /// A `register` would wait for a lease: handle it again where waiting is fine.
    WouldWait,
    NoSession,
}

/// Where the engine runs, as `hello` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Daemon,
    Embedded,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Daemon => "daemon",
            Placement::Embedded => "embedded",
        }
    }
}

impl Engine {
    /// Opens a control session whose engine-initiated messages go to `sink`.
    pub fn control_open(&self, sink: Sink) -> u64 {
        self.scopes.add_session(sink).id
    }

    /// Answers one message of `session`. With `may_wait: false`, a `register` that would wait
    /// for a lease gives [`Handled::WouldWait`] instead.
    pub fn control_handle(
        self: &Arc<Self>,
        session: u64,
        line: &[u8],
        placement: Placement,
        may_wait: bool,
    ) -> Handled {
        let Some(session) = self.scopes.session(session) else {
            return Handled::NoSession;
        };
        let (id, op) = protocol::parse(line);
        let result = op.and_then(|op| self.control_op(&session, op, placement, may_wait));
        match result {
            Ok(Some(fields)) => Handled::Reply(protocol::ok_reply(id, fields)),
            Ok(None) => Handled::WouldWait,
            Err(e) => Handled::Reply(protocol::error_reply(id, &e)),
        }
    }

    /// Closes `session`: every scope of it is closed, its waiting calls fail.
    pub fn control_close(&self, session: u64) {
        let Some(session) = self.scopes.remove_session(session) else {
            return;
        };
        session.close();
        for scope in self.scopes.of_session(session.id) {
            self.close_scope(&scope);
        }
    }

    /// The reply fields of `op`; `None` when it would wait and may not.
    fn control_op(
        self: &Arc<Self>,
        session: &Arc<Session>,
        op: Op,
        placement: Placement,
        may_wait: bool,
    ) -> Result<Option<Value>, ProtocolError> {
        let scope = |id: u64| {
            self.scopes.get(session.id, id).ok_or_else(|| {
                ProtocolError::new(
                    ErrorKind::NoScope,
                    format!("no open scope {id} in this session (closed, or never opened)"),
                )
            })
        };
        let entry_of = |scope: &Scope, id: usize| {
            scope.entry(id).ok_or_else(|| {
                ProtocolError::new(
                    ErrorKind::NoEntry,
                    format!("scope {} has no entry {id}", scope.id),
                )
            })
        };
        Ok(Some(match op {
            Op::Hello { version, .. } if version != VERSION => {
                return Err(ProtocolError::new(
                    ErrorKind::Version,
                    format!(
                        "this engine speaks control protocol version {VERSION}, the client \
                         version {version}: use the client of the same mocket release"
                    ),
                ));
            }
            Op::Hello { .. } => json!({"version": VERSION, "placement": placement.name()}),
            Op::OpenScope { name, pid } => {
                json!({"scope": self.scopes.open(session.id, &name, pid).id})
            }
            Op::Register {
                scope: id,
                entry,
                responder,
            } => {
                let scope = scope(id)?;
                return self.register(&scope, entry, responder, may_wait);
            }
            Op::Expect {
                scope: id,
                entry,
                min,
                max,
            } => {
                let scope = scope(id)?;
                entry_of(&scope, entry)?.expect(Expectation { min, max });
                json!({})
            }
            Op::Hits { scope: id, entry } => {
                let scope = scope(id)?;
                json!({"hits": entry_of(&scope, entry)?.hits()})
            }
            Op::Requests { scope: id, entry } => {
                let scope = scope(id)?;
                if let Some(entry) = entry {
                    entry_of(&scope, entry)?;
                }
                json!({"requests": scope.requests(entry)})
            }
            Op::Verify { scope: id } => {
                let scope = scope(id)?;
                Verdict::of(&scope).to_json(&scope.name)
            }
            Op::CloseScope { scope: id } => {
                let scope = scope(id)?;
                self.close_scope(&scope).to_json(&scope.name)
            }
            Op::Respond { call, answer } => {
                if !session.answer(call, answer) {
                    return Err(ProtocolError::new(
                        ErrorKind::NoCall,
                        format!(
                            "no responder call {call} is waiting (answered already, or \
                                 it timed out)"
                        ),
                    ));
                }
                json!({})
            }
        }))
    }

    fn register(
        &self,
        scope: &Arc<Scope>,
        entry: Value,
        responder: bool,
        may_wait: bool,
    ) -> Result<Option<Value>, ProtocolError> {
        let entry = parse_entry(entry, responder)?;
        if let Err(e) = self.config.as_ref() {
            return Err(ProtocolError::new(
                ErrorKind::Invalid,
                format!("the mocks file is broken, so mocket refuses everything: {e}"),
            ));
        }
        let dest = entry.destination().clone();
        match self.scopes.lease(scope, &dest, may_wait) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(LeaseError::Timeout(timeout)) => {
                return Err(ProtocolError::new(
                    ErrorKind::LeaseTimeout,
                    timeout.to_string(),
                ));
            }
            Err(LeaseError::Closed) => {
                return Err(ProtocolError::new(
                    ErrorKind::NoScope,
                    format!("scope {} was closed while it waited for {dest}", scope.id),
                ));
            }
        }
        // A host never resolved before gets its fake address now, so the lookup that
        // follows is answered with it in strict and non-strict mode alike.
        if let Err(e) = self.fake_ip_of(&dest.host) {
            return Err(ProtocolError::new(
                ErrorKind::Invalid,
                format!("no fake address for {}: {e}", dest.host),
            ));
        }
        let registered = self.scopes.add(scope, entry, responder);
        Ok(Some(json!({
            "entry": registered.entry,
            "destination": registered.destination.to_string(),
            "label": registered.label,
        })))
    }

    /// Verifies `scope`, removes it and lists its entries in the end-of-run report.
    pub(crate) fn close_scope(&self, scope: &Arc<Scope>) -> Verdict {
        let verdict = Verdict::of(scope);
        self.scopes.remove(scope);
        self.redis.drop_scope(scope.id);
        let mut report = lock(&self.report);
        for entry in scope.entries() {
            report.scope_entries.push(format!(
                "#{} {} (test \"{}\"): {} request(s)",
                entry.id,
                entry.entry.summary(),
                scope.name,
                entry.hits()
            ));
        }
        verdict
    }
}

/// Parses a registered entry with the mocks file's parser. A responder entry is an `http`
/// entry without responses: its responses come from the test.
pub(crate) fn parse_entry(mut value: Value, responder: bool) -> Result<Entry, ProtocolError> {
    let invalid = |key: String, message: String| ProtocolError {
        kind: ErrorKind::Invalid,
        message,
        key: (!key.is_empty()).then_some(key),
    };
    if responder {
        let Value::Object(map) = &mut value else {
            return Err(invalid(
                String::new(),
                "an entry must be a JSON object".into(),
            ));
        };
        for key in ["response", "responses"] {
            if map.contains_key(key) {
                return Err(invalid(
                    key.into(),
                    format!(
                        "{key}: a responder entry gets its responses from the test's \
                         callback; remove \"{key}\""
                    ),
                ));
            }
        }
        map.insert("response".into(), json!({}));
    }
    let entry = Entry::parse_one(&value, Path::new("."))
        .map_err(|e| invalid(e.key.clone(), e.to_string()))?;
    if responder && entry.kind() != Kind::Http {
        return Err(invalid(
            "responder".into(),
            "responder: only http entries can have a responder".into(),
        ));
    }
    Ok(entry)
}

impl super::ScopeEntry {
    pub fn expect(&self, expectation: Expectation) {
        *lock(&self.expectation) = Some(expectation);
    }
}
