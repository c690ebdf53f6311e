//! The test API's C functions (`mocket_control_open/send/free/close`, see the README's "Control
//! protocol"): under a bare `LD_PRELOAD` they reach the embedded engine, loaded on first use
//! exactly as for the shim's own questions. The JSON is the engine's business: nothing here
//! reads it, so `libmocket.so` stays free of serde.
//!
//! Each function runs inside the re-entrancy guard (whatever the engine does on this thread
//! goes straight to libc) and `catch_unwind`: a failure is a 0 session or a null reply, never
//! a panic across the C boundary.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::link::{self, OnMessage};

/// Opens a control session of the embedded engine; 0 when there is none (the reason is said on
/// stderr, unless `MOCKET_LOG=error`).
///
/// # Safety
/// `on_message` must be callable from any thread with `ctx` until `mocket_control_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_control_open(
    on_message: Option<OnMessage>,
    ctx: *mut c_void,
) -> u64 {
    let _guard = crate::guard::enter();
    let opened = catch_unwind(AssertUnwindSafe(|| match link::control_fns() {
        // SAFETY: the engine's open has this contract too; the caller upholds it.
        Ok(fns) => unsafe { (fns.open)(on_message, ctx) },
        Err(why) => {
            crate::warn(&format!("mocket_control_open: {why}"));
            0
        }
    }));
    opened.unwrap_or(0)
}

/// Sends one request of the control protocol and returns the reply (its length in
/// `*reply_len`), to be freed with `mocket_control_free`; null when the session does not
/// exist.
///
/// # Safety
/// `request` must be valid for `len` bytes of reads and `reply_len` for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_control_send(
    session: u64,
    request: *const u8,
    len: usize,
    reply_len: *mut usize,
) -> *mut u8 {
    let _guard = crate::guard::enter();
    let sent = catch_unwind(AssertUnwindSafe(|| match link::control_fns() {
        // SAFETY: the engine's send has the same contract, which the caller upholds.
        Ok(fns) => unsafe { (fns.send)(session, request, len, reply_len) },
        Err(_) => std::ptr::null_mut(),
    }));
    sent.unwrap_or(std::ptr::null_mut())
}

/// Frees a reply of `mocket_control_send`.
///
/// # Safety
/// `reply` and `len` must come from one `mocket_control_send`, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_control_free(reply: *mut u8, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(fns) = link::control_fns() {
            // SAFETY: the reply was allocated by this engine's send, as the caller promises.
            unsafe { (fns.free)(reply, len) };
        }
    }));
}

/// Closes a session as a closed socket does in the daemon: its scopes are closed.
#[unsafe(no_mangle)]
pub extern "C" fn mocket_control_close(session: u64) {
    let _guard = crate::guard::enter();
    let _ = catch_unwind(|| {
        if let Ok(fns) = link::control_fns() {
            // SAFETY: close takes any session id; unknown ones are ignored.
            unsafe { (fns.close)(session) };
        }
    });
}
