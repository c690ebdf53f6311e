//! The re-entrancy guard: while a hook runs, and in the embedded engine's own threads, every
//! hooked call goes straight to libc.

use std::cell::Cell;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static INTERNAL: Cell<bool> = const { Cell::new(false) };
}

/// Held while a hook does mocket's work.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters a hook; `None` when the call must go straight to libc (nested, mocket's own thread,
/// or a thread being torn down).
pub fn enter() -> Option<Guard> {
    let internal = INTERNAL.try_with(Cell::get).unwrap_or(true);
    let depth = DEPTH.try_with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    match (internal, depth) {
        (false, Ok(0)) => Some(Guard(())),
        (_, Ok(_)) => {
            let _ = DEPTH.try_with(|d| d.set(d.get() - 1));
            None
        }
        (_, Err(_)) => None,
    }
}

/// Marks the calling thread as mocket's own. The embedded engine calls this at the start of
/// every thread it starts.
pub extern "C" fn mark_internal_thread() {
    let _ = INTERNAL.try_with(|i| i.set(true));
}
