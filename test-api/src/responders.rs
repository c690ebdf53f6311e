//! `respond_with` closures: which closure answers which entry, and the threads that run them.
//!
//! The engine's calls arrive on a transport thread (whichever thread reads the daemon
//! connection at the time, or an engine thread through `on_message`), which must stay free;
//! each call runs on a pool thread of this crate. The pool grows when every thread is busy, so a closure that waits for
//! another call (a closure calling a mocked service itself) cannot deadlock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Responder;
use crate::protocol::Call;

/// How long a call may wait for its closure: the engine can call before the `register` reply
/// has reached the registering thread.
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Registered {
    closure: Responder,
}

#[derive(Default)]
struct Table {
    open_scopes: HashSet<u64>,
    by_entry: HashMap<(u64, u64), Arc<Registered>>,
}

/// The closures of every live scope of the process.
#[derive(Default)]
pub struct Responders {
    table: Mutex<Table>,
    changed: Condvar,
    pool: Pool,
}

impl Responders {
    pub fn open_scope(&self, scope: u64) {
        lock(&self.table).open_scopes.insert(scope);
    }

    pub fn close_scope(&self, scope: u64) {
        let mut table = lock(&self.table);
        table.open_scopes.remove(&scope);
        table.by_entry.retain(|(s, _), _| *s != scope);
        self.changed.notify_all();
    }

    pub fn add(&self, scope: u64, entry: u64, closure: Responder) {
        let registered = Arc::new(Registered { closure });
        lock(&self.table)
            .by_entry
            .insert((scope, entry), registered);
        self.changed.notify_all();
    }

    /// The closure of `entry`, waiting a little for one being registered.
    fn find(&self, scope: u64, entry: u64) -> Result<Arc<Registered>, String> {
        let deadline = Instant::now() + REGISTRATION_WAIT;
        let mut table = lock(&self.table);
        loop {
            if let Some(r) = table.by_entry.get(&(scope, entry)) {
                return Ok(Arc::clone(r));
            }
            let now = Instant::now();
            if !table.open_scopes.contains(&scope) || now >= deadline {
                return Err(format!(
                    "has no closure in process {} (entry {entry} of scope {scope}: the scope has ended)",
                    std::process::id()
                ));
            }
            table = self
                .changed
                .wait_timeout(table, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Runs the call's closure on a pool thread, then gives `answer` the response (a mocks-file
    /// response object) or the reason there is none.
    pub fn dispatch(
        self: &Arc<Self>,
        call: Call,
        answer: impl FnOnce(u64, Result<Value, String>) + Send + 'static,
    ) {
        let this = Arc::clone(self);
        self.pool.execute(Box::new(move || {
            let outcome = this.run(&call);
            answer(call.call, outcome);
        }));
    }

    /// The response, or what went wrong, worded to follow the engine's "respond_with of
    /// <entry> " (`panicked: boom`).
    fn run(&self, call: &Call) -> Result<Value, String> {
        let registered = self.find(call.scope, call.entry)?;
        catch_unwind(AssertUnwindSafe(|| (registered.closure)(&call.request)))
            .map(|response| response.to_json())
            .map_err(|panic| format!("panicked: {}", panic_text(panic.as_ref())))
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".into()
    }
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    idle: usize,
}

/// Threads named `mocket-responder` that run jobs; a new one starts when more jobs wait than
/// threads are idle.
#[derive(Default)]
struct Pool {
    state: Arc<(Mutex<PoolState>, Condvar)>,
}

impl Pool {
    fn execute(&self, job: Job) {
        let (state, ready) = &*self.state;
        let mut s = lock(state);
        s.jobs.push_back(job);
        if s.jobs.len() > s.idle {
            let shared = Arc::clone(&self.state);
            let spawned = std::thread::Builder::new()
                .name("mocket-responder".into())
                .spawn(move || worker(&shared));
            if let Err(e) = spawned {
                // The jobs still run when a thread frees up; say why this one is late.
                eprintln!("mocket: cannot start a respond_with thread: {e}");
            }
        } else {
            ready.notify_one();
        }
    }
}

fn worker(shared: &(Mutex<PoolState>, Condvar)) {
    let (state, ready) = shared;
    loop {
        let job = {
            let mut s = lock(state);
            loop {
                if let Some(job) = s.jobs.pop_front() {
                    break job;
                }
                s.idle += 1;
                s = ready.wait(s).unwrap_or_else(PoisonError::into_inner);
                s.idle -= 1;
            }
        };
        // A job never unwinds (closures run under catch_unwind), but a pool thread must
        // survive whatever happens.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{self, Request};
    use std::sync::mpsc;

    fn call(scope: u64, entry: u64) -> Call {
        Call {
            call: entry * 100,
            scope,
            entry,
            request: Request::default(),
        }
    }

    fn answer_of(r: &Arc<Responders>, c: Call) -> Result<Value, String> {
        let (tx, rx) = mpsc::channel();
        r.dispatch(c, move |id, outcome| tx.send((id, outcome)).unwrap());
        let (id, outcome) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(id % 100 == 0);
        outcome
    }

    #[test]
    fn a_registered_closure_answers() {
        let r = Arc::new(Responders::default());
        r.open_scope(1);
        r.add(1, 2, Arc::new(|_| http::status(204)));
        assert_eq!(answer_of(&r, call(1, 2)).unwrap()["status"], 204);
    }

    #[test]
    fn a_panicking_closure_becomes_an_error_with_its_message() {
        let r = Arc::new(Responders::default());
        r.open_scope(1);
        r.add(1, 2, Arc::new(|_| panic!("boom")));
        assert_eq!(answer_of(&r, call(1, 2)).unwrap_err(), "panicked: boom");
        // The pool survived it.
        r.add(1, 3, Arc::new(|_| http::status(200)));
        assert!(answer_of(&r, call(1, 3)).is_ok());
    }

    #[test]
    fn a_call_waits_for_a_registration_in_flight_but_not_for_a_closed_scope() {
        let r = Arc::new(Responders::default());
        r.open_scope(1);
        let later = Arc::clone(&r);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            later.add(1, 2, Arc::new(|_| http::status(201)));
        });
        assert_eq!(answer_of(&r, call(1, 2)).unwrap()["status"], 201);
        t.join().unwrap();
        r.close_scope(1);
        let err = answer_of(&r, call(1, 2)).unwrap_err();
        assert!(err.contains("has no closure"), "{err}");
    }

    #[test]
    fn closures_that_wait_for_each_other_do_not_deadlock() {
        // Each closure waits until the other has started: with one thread, this would hang.
        let r = Arc::new(Responders::default());
        r.open_scope(1);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        for entry in [1, 2] {
            let b = Arc::clone(&barrier);
            r.add(
                1,
                entry,
                Arc::new(move |_| {
                    b.wait();
                    http::status(200)
                }),
            );
        }
        let (tx, rx) = mpsc::channel();
        for entry in [1, 2] {
            let tx = tx.clone();
            r.dispatch(call(1, entry), move |_, outcome| tx.send(outcome).unwrap());
        }
        for _ in 0..2 {
            assert!(rx.recv_timeout(Duration::from_secs(20)).unwrap().is_ok());
        }
    }
}
