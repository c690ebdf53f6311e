//! `libmocket_engine.so`: mocket's engine for a bare `LD_PRELOAD`, loaded by `libmocket.so`
//! with `dlopen` on the first lookup or connect it has to decide, so processes that never
//! touch the network never load it (and never pay for serde, the protocols or the threads).
//!
//! It keeps one engine per process: after a `fork`, the child's first request starts a fresh
//! engine (the parent's threads do not exist in the child) that inherits the parent's fake
//! names, so connections resolved before the fork still work. Counters are per process, as
//! DESIGN.md says for the embedded placement.

use std::panic::catch_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use mocket_config::Settings;
use mocket_engine::Engine;
use mocket_engine::journal::Journal;

struct Slot {
    pid: u32,
    engine: Arc<Engine>,
}

static CURRENT: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

fn thread_hook() {
    let hook = HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: HOOK only ever holds a function pointer stored by
        // mocket_engine_set_thread_hook with this signature.
        let f: extern "C" fn() = unsafe { std::mem::transmute(hook) };
        f();
    }
}

/// This process's engine, started on first use.
fn current() -> Arc<Engine> {
    let pid = std::process::id();
    loop {
        let p = CURRENT.load(Ordering::Acquire);
        // SAFETY: slots are never freed (a parent's slot stays valid in a forked child).
        let old = unsafe { p.as_ref() };
        if let Some(slot) = old.filter(|s| s.pid == pid) {
            return Arc::clone(&slot.engine);
        }
        let engine = match Settings::from_env() {
            Ok(settings) => Engine::new(&settings, Some(thread_hook)),
            Err(e) => Engine::with_config(
                Err(e),
                Default::default(),
                Journal::default(),
                Some(thread_hook),
            ),
        };
        if let Some(old) = old {
            engine.inherit_names(&old.engine);
        }
        let new = Box::into_raw(Box::new(Slot { pid, engine }));
        if CURRENT
            .compare_exchange(p, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // The old slot is leaked on purpose: its threads belong to the parent process.
            // SAFETY: `new` was just created and published; slots are never freed.
            return Arc::clone(unsafe { &(*new).engine });
        }
        // SAFETY: `new` was never published; reclaim it and retry.
        drop(unsafe { Box::from_raw(new) });
    }
}

/// Answers one control request (see `mocket_engine::control`); returns the reply's length.
///
/// # Safety
/// `request` must be valid for `request_len` bytes of reads and `out` for `out_cap` bytes of
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_engine_request(
    request: *const u8,
    request_len: usize,
    out: *mut u8,
    out_cap: usize,
) -> isize {
    // SAFETY: guaranteed by the caller.
    let request = unsafe { std::slice::from_raw_parts(request, request_len) };
    let line = String::from_utf8_lossy(request);
    let reply = catch_unwind(|| current().handle_line(&line))
        .unwrap_or_else(|_| "refuse the embedded engine failed; refused".to_string());
    let n = reply.len().min(out_cap);
    // SAFETY: out is valid for out_cap >= n bytes.
    unsafe { std::ptr::copy_nonoverlapping(reply.as_ptr(), out, n) };
    n as isize
}

/// Sets the function every engine thread calls first (the shim marks the thread as its own).
#[unsafe(no_mangle)]
pub extern "C" fn mocket_engine_set_thread_hook(hook: extern "C" fn()) {
    HOOK.store(hook as *mut (), Ordering::Release);
}
