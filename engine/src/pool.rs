//! Threads for connections: at most [`MAX_CONNECTION_THREADS`], kept for a while after their
//! connection ends.
//!
//! Why this design (measured): one thread per connection cost 3 000 threads and 5 GB of
//! virtual memory for 3 000 idle connections. Every protocol here is served by blocking code on
//! a thread (rustls streams, pub/sub writes from the publisher's thread, the record proxy), so
//! a poll-based rewrite of every protocol is out of proportion; instead:
//! - a connection that has not sent its first byte waits in the [`super::idle`] waiting room,
//!   one thread watching all of them with epoll, and takes a thread only once it speaks;
//! - a connection on a thread is bounded by the idle timeout ([`super::idle::IdleTimeout`]);
//! - at most [`MAX_CONNECTION_THREADS`] threads serve connections; past that, jobs queue, and
//!   past [`MAX_QUEUED`] queued jobs the accept loop stops accepting (back-pressure: the
//!   kernel's listen backlog holds the clients, nothing is refused).
//!
//! Measured with 5 000 idle connections through one `mocket run` daemon (the test
//! `five_thousand_idle_connections_hold_few_threads_and_time_out`): 38 to 81 threads (those
//! beyond the fixed few waited for claims that arrived just after the accept, before connections
//! carried their claim in a preamble), 13 MB RSS, 1 GB of
//! virtual memory; before, 5 000 threads.
//!
//! Threads are kept [`IDLE`] after their job: starting a thread costs more than serving a short
//! connection (measured: 68-89 us of engine CPU per new connection with a fresh thread each),
//! and tests open many short connections.

use std::collections::VecDeque;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Engine, lock};

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle thread waits for a new connection before it ends.
const IDLE: Duration = Duration::from_secs(30);

/// The most threads serving connections at once. Each is a connection mid-exchange (an HTTP
/// keep-alive connection between requests, a Redis subscriber, a recording): 256 keeps the
/// virtual memory of the stacks near 512 MB and is far above what a test suite keeps busy.
pub(super) const MAX_CONNECTION_THREADS: usize = 256;

/// How many jobs may wait for a thread before the accept loop waits too.
const MAX_QUEUED: usize = 64;

pub(super) struct ConnectionPool {
    state: Mutex<PoolState>,
    /// Signalled when a job is handed to a waiting thread.
    ready: Condvar,
    /// Signalled when a queued job is taken: the accept loop may go on.
    room: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    /// Jobs promised to threads that were waiting (one per `idle` decrement).
    handed: VecDeque<Job>,
    /// Jobs waiting for any thread to finish, when all `max_threads` are busy.
    queued: VecDeque<Job>,
    /// Threads waiting for a job and not yet promised one.
    idle: usize,
    /// Threads alive.
    threads: usize,
}

impl Default for ConnectionPool {
    fn default() -> Self {
        ConnectionPool::with_limit(MAX_CONNECTION_THREADS)
    }
}

impl ConnectionPool {
    pub(super) fn with_limit(max_threads: usize) -> Self {
        ConnectionPool {
            state: Mutex::default(),
            ready: Condvar::new(),
            room: Condvar::new(),
            max_threads: max_threads.max(1),
        }
    }

    /// Threads alive now.
    #[cfg(test)]
    pub(super) fn threads(&self) -> usize {
        lock(&self.state).threads
    }

    /// Whether jobs wait for a thread.
    pub(super) fn has_queued(&self) -> bool {
        !lock(&self.state).queued.is_empty()
    }

    /// Blocks while too many jobs wait for a thread: the back-pressure of the accept loops.
    pub(super) fn wait_for_room(&self) {
        let mut state = lock(&self.state);
        while state.queued.len() >= MAX_QUEUED {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// What [`Engine::start_job`] does with a job when every thread is busy.
enum WhenBusy {
    /// Queue it for the first thread that becomes free.
    Queue,
    /// Hand it back (then one thread beyond the limit may be started).
    Refuse,
}

/// Whether a job was taken (run or queued).
enum Started {
    Yes,
    No,
}

/// Counts a connection in [`Engine::wait_idle`]'s `active` for as long as it lives, even when
/// the code serving it panics.
pub(super) struct Active(Arc<Engine>);

impl Active {
    pub(super) fn new(engine: &Arc<Engine>) -> Active {
        engine.active.fetch_add(1, Ordering::AcqRel);
        Active(Arc::clone(engine))
    }

    pub(super) fn engine(&self) -> &Arc<Engine> {
        &self.0
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Engine {
    /// Runs `job` on an idle connection thread, a new one, or, when all are busy, the first
    /// that becomes free.
    pub(super) fn run_connection(
        self: &Arc<Self>,
        job: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        self.start_job(Box::new(job), WhenBusy::Queue).map(drop)
    }

    /// Runs `job` on an idle connection thread or a new one, never queued: false when every
    /// thread is busy or none could be started (the caller then does the work itself). For the
    /// engine listener's accepting (see `Engine::lead`), which holds its thread until a
    /// connection comes: one thread beyond the limit is kept for it, so that the accepting
    /// thread never holds the last thread queued connections wait for.
    pub(super) fn try_run_connection(
        self: &Arc<Self>,
        job: impl FnOnce() + Send + 'static,
    ) -> bool {
        matches!(
            self.start_job(Box::new(job), WhenBusy::Refuse),
            Ok(Started::Yes)
        )
    }

    fn start_job(self: &Arc<Self>, job: Job, when_busy: WhenBusy) -> io::Result<Started> {
        let pool = &self.pool;
        let mut state = lock(&pool.state);
        if state.idle > 0 {
            state.idle -= 1;
            state.handed.push_back(job);
            pool.ready.notify_one();
            return Ok(Started::Yes);
        }
        let limit = match when_busy {
            WhenBusy::Queue => pool.max_threads,
            WhenBusy::Refuse => pool.max_threads + 1,
        };
        if state.threads >= limit {
            if matches!(when_busy, WhenBusy::Refuse) {
                return Ok(Started::No);
            }
            state.queued.push_back(job);
            return Ok(Started::Yes);
        }
        state.threads += 1;
        drop(state);
        let engine = Arc::clone(self);
        let spawned = self.spawn("mocket-conn", move || {
            run_caught(job);
            engine.wait_for_jobs();
        });
        if let Err(e) = spawned {
            lock(&pool.state).threads -= 1;
            return Err(e);
        }
        Ok(Started::Yes)
    }

    /// A pooled thread's life after its first job: the next jobs, until it idles too long.
    fn wait_for_jobs(&self) {
        let pool = &self.pool;
        loop {
            let mut state = lock(&pool.state);
            if let Some(job) = state.queued.pop_front() {
                pool.room.notify_all();
                drop(state);
                run_caught(job);
                continue;
            }
            state.idle += 1;
            let job = loop {
                if let Some(job) = state.handed.pop_front() {
                    break job;
                }
                let (next, timeout) = pool
                    .ready
                    .wait_timeout(state, IDLE)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                // A job handed to this thread is always in `handed` before the wake-up, so an
                // empty queue after a timeout means nobody counts on this thread.
                if timeout.timed_out() && state.handed.is_empty() {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            };
            drop(state);
            run_caught(job);
        }
    }
}

/// Runs a job; a panic ends the job, not the thread (the panic hook has printed it already).
fn run_caught(job: Job) {
    let _ = catch_unwind(AssertUnwindSafe(job));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn engine_with_limit(max_threads: usize) -> Arc<Engine> {
        let engine = super::super::tests::engine(r#"{"entries": []}"#);
        let mut engine = Arc::try_unwrap(engine).ok().expect("a fresh engine");
        engine.pool = ConnectionPool::with_limit(max_threads);
        Arc::new(engine)
    }

    #[test]
    fn threads_are_capped_and_queued_jobs_still_run() {
        let engine = engine_with_limit(3);
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let (done, finished) = mpsc::channel();
        for i in 0..10 {
            let gate = Arc::clone(&gate);
            let done = done.clone();
            engine
                .run_connection(move || {
                    let _ = lock(&gate).recv();
                    done.send(i).unwrap();
                })
                .unwrap();
        }
        assert_eq!(engine.pool.threads(), 3);
        for _ in 0..10 {
            release.send(()).unwrap();
        }
        let mut ran: Vec<i32> = (0..10)
            .map(|_| finished.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        ran.sort();
        assert_eq!(ran, (0..10).collect::<Vec<_>>());
        assert_eq!(engine.pool.threads(), 3);
    }

    #[test]
    fn a_panicking_job_is_not_counted_as_active() {
        let engine = engine_with_limit(1);
        let active = Active::new(&engine);
        engine
            .run_connection(move || {
                let _active = active;
                panic!("a bug while serving a connection");
            })
            .unwrap();
        // Printing the panic may take a while; a count stuck at 1 would wait the whole limit.
        let start = Instant::now();
        engine.wait_idle(Duration::from_secs(20));
        assert_eq!(engine.active.load(Ordering::Acquire), 0);
        assert!(start.elapsed() < Duration::from_secs(20));
        // The thread survived the panic and serves the next job.
        let (done, finished) = mpsc::channel();
        engine
            .run_connection(move || done.send(()).unwrap())
            .unwrap();
        finished.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(engine.pool.threads(), 1);
    }
}
