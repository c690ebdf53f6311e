//! `libmocket_engine.so`: mocket's engine for a bare `LD_PRELOAD`, loaded by `libmocket.so`
//! with `dlopen` on the first lookup or connect it has to decide, so processes that never
//! touch the network never load it (and never pay for serde, the protocols or the threads).
//!
//! It keeps one engine per process: after a `fork`, the child's first request starts a fresh
//! engine (the parent's threads do not exist in the child) that inherits the parent's fake
//! names, so connections resolved before the fork still work. Counters are per process, as
//! DESIGN.md says for the embedded placement.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use mocket_config::Settings;
use mocket_engine::Engine;
use mocket_engine::journal::Journal;
use mocket_engine::scopes::{Handled, Placement};

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

/// Receives an engine-initiated message of the control protocol (`ctx`, the JSON bytes).
type OnMessage = unsafe extern "C" fn(*mut c_void, *const u8, usize);

/// Opens a control session (the test API, see the README's "Control protocol"); 0 when the
/// engine cannot be started. `on_message` gets the engine's calls, on engine threads.
///
/// # Safety
/// `on_message` must be a function that can be called from any thread with `ctx` for as long
/// as the session is open.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_engine_control_open(
    on_message: Option<OnMessage>,
    ctx: *mut c_void,
) -> u64 {
    let Some(on_message) = on_message else {
        return 0;
    };
    // The context is the client's: an address it keeps valid while the session is open.
    let ctx = ctx as usize;
    let sink = move |message: &str| {
        // SAFETY: the caller promised the callback may be called from any thread with ctx
        // while the session is open; the message is valid for its length during the call.
        unsafe { on_message(ctx as *mut c_void, message.as_ptr(), message.len()) };
        true
    };
    catch_unwind(AssertUnwindSafe(|| current().control_open(Box::new(sink)))).unwrap_or(0)
}

/// Answers one request of `session`; the reply is allocated here and freed with
/// [`mocket_engine_control_free`]. Null when the session does not exist.
///
/// # Safety
/// `request` must be valid for `len` bytes of reads, `reply_len` for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_engine_control_send(
    session: u64,
    request: *const u8,
    len: usize,
    reply_len: *mut usize,
) -> *mut u8 {
    if reply_len.is_null() || (request.is_null() && len > 0) {
        return std::ptr::null_mut();
    }
    let request = match len {
        0 => &[][..],
        // SAFETY: guaranteed by the caller.
        _ => unsafe { std::slice::from_raw_parts(request, len) },
    };
    let handled = catch_unwind(AssertUnwindSafe(|| {
        current().control_handle(session, request, Placement::Embedded, true)
    }));
    let reply = match handled {
        Ok(Handled::Reply(reply)) => reply,
        Ok(Handled::NoSession) => return std::ptr::null_mut(),
        Ok(Handled::WouldWait) | Err(_) => {
            r#"{"id":null,"ok":false,"error":{"kind":"bad_request","message":"the embedded engine failed on this request"}}"#.to_string()
        }
    };
    let reply = reply.into_bytes().into_boxed_slice();
    // SAFETY: reply_len is valid for a write (checked non-null, promised by the caller).
    unsafe { *reply_len = reply.len() };
    Box::into_raw(reply).cast::<u8>()
}

/// Frees a reply of [`mocket_engine_control_send`].
///
/// # Safety
/// `reply` and `len` must be a pointer and length that `mocket_engine_control_send` returned,
/// not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_engine_control_free(reply: *mut u8, len: usize) {
    if reply.is_null() {
        return;
    }
    // SAFETY: the pointer and length are those of a boxed slice made by control_send.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(reply, len)) });
}

/// Closes `session` as a closed connection does in the daemon: its scopes are closed.
#[unsafe(no_mangle)]
pub extern "C" fn mocket_engine_control_close(session: u64) {
    let _ = catch_unwind(|| current().control_close(session));
}
