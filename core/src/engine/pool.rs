//! Threads for connections, kept for a while after their connection ends: starting a thread
//! costs more than serving a short connection (measured: 68-89 us of engine CPU per new
//! connection with a fresh thread each), and tests open many short connections.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Engine, lock};

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle thread waits for a new connection before it ends.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct ConnectionPool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job and not yet promised one.
    idle: usize,
}

impl Engine {
    /// Runs `job` on an idle connection thread, or on a new one.
    pub(super) fn run_connection(
        self: &Arc<Self>,
        job: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let mut state = lock(&self.pool.state);
        if state.idle > 0 {
            state.idle -= 1;
            state.jobs.push_back(Box::new(job));
            self.pool.ready.notify_one();
            return Ok(());
        }
        drop(state);
        let engine = Arc::clone(self);
        self.spawn("mocket-conn", move || {
            job();
            engine.wait_for_jobs();
        })?;
        Ok(())
    }

    /// A pooled thread's life after its first job: the next jobs, until it idles too long.
    fn wait_for_jobs(&self) {
        loop {
            let mut state = lock(&self.pool.state);
            state.idle += 1;
            let job = loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                let (next, timeout) = self
                    .pool
                    .ready
                    .wait_timeout(state, IDLE)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                // A job pushed for this thread is always in the queue before the wake-up, so an
                // empty queue after a timeout means nobody counts on this thread.
                if timeout.timed_out() && state.jobs.is_empty() {
                    state.idle -= 1;
                    return;
                }
            };
            drop(state);
            job();
        }
    }
}
