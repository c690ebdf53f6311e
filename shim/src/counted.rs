//! Test-only counts, per thread, of the system calls the shim makes on a hook's behalf (a
//! checked copy of the caller's memory, a question about a socket), so unit tests can prove
//! that a hook's fast path makes none. Per thread: the unit tests run in parallel.

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// `process_vm_readv` calls made to copy the caller's memory.
    pub static CHECKED_READS: Cell<u32> = const { Cell::new(0) };
    /// `getsockopt` calls made to learn a socket's family or type.
    pub static SOCKET_QUERIES: Cell<u32> = const { Cell::new(0) };
}

/// Counts one call.
pub fn add(counter: &'static LocalKey<Cell<u32>>) {
    counter.with(|c| c.set(c.get() + 1));
}

/// The calls one piece of work made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calls {
    pub checked_reads: u32,
    pub socket_queries: u32,
}

fn now() -> Calls {
    Calls {
        checked_reads: CHECKED_READS.with(Cell::get),
        socket_queries: SOCKET_QUERIES.with(Cell::get),
    }
}

/// `f`'s value, and the calls made on this thread while it ran.
pub fn during<T>(f: impl FnOnce() -> T) -> (T, Calls) {
    let before = now();
    let value = f();
    let after = now();
    let calls = Calls {
        checked_reads: after.checked_reads - before.checked_reads,
        socket_queries: after.socket_queries - before.socket_queries,
    };
    (value, calls)
}
