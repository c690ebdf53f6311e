//! The embedded placement's control channel, made safe: `libmocket.so` (under a bare
//! `LD_PRELOAD`) exports `mocket_control_open/send/free/close` (README, "Control protocol").
//! They are found with `dlsym(RTLD_DEFAULT)` at run time, so a test binary never links
//! `libmocket.so`: without the preload, [`Session::open`] says the functions are absent.
//!
//! It also reads a socket spinning briefly before it sleeps ([`read_soon`]), for both ends of
//! a daemon control connection, and sets `TCP_DEFER_ACCEPT` on the engine listener
//! ([`defer_accept`]). This crate holds the only unsafe code of the test API (the `mocket` crate forbids it).

use std::ffi::{CStr, c_void};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod sockopt;
mod spin;

pub use sockopt::defer_accept;
pub use spin::{Spin, read_soon, spin_for};

/// `void (*on_message)(void *ctx, const uint8_t *msg, size_t len)`.
type OnMessage = extern "C" fn(ctx: *mut c_void, msg: *const u8, len: usize);
type OpenFn = unsafe extern "C" fn(on_message: OnMessage, ctx: *mut c_void) -> u64;
type SendFn = unsafe extern "C" fn(
    session: u64,
    req: *const u8,
    len: usize,
    reply_len: *mut usize,
) -> *mut u8;
type FreeFn = unsafe extern "C" fn(reply: *mut u8, len: usize);
type CloseFn = unsafe extern "C" fn(session: u64);

/// What a caller gives to receive the engine's own messages (responder calls): one JSON object
/// per call, on an engine thread. It must return quickly (queue the message).
pub type MessageHandler = Box<dyn Fn(&[u8]) + Send + Sync + 'static>;

/// Why the control channel cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// This process has no `mocket_control_*` functions: `libmocket.so` is not preloaded (or is
    /// an older build without them).
    Absent,
    /// `mocket_control_open` returned 0: the embedded engine could not start (it printed why).
    EngineDidNotStart,
    /// `mocket_control_send` returned NULL: the session does not exist (closed).
    NoSession,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiError::Absent => {
                "libmocket.so's control functions (mocket_control_open) are not in this process: it does not run under LD_PRELOAD=libmocket.so, or that libmocket.so predates the test API"
            }
            ApiError::EngineDidNotStart => {
                "the embedded mocket engine did not start (its reason is on stderr, in the lines starting with \"mocket:\")"
            }
            ApiError::NoSession => "the mocket control session is closed",
        })
    }
}

impl std::error::Error for ApiError {}

/// The four functions, as found in this process.
#[derive(Clone, Copy)]
struct Functions {
    open: OpenFn,
    send: SendFn,
    free: FreeFn,
    close: CloseFn,
}

/// Looks one symbol up in the process's global scope (the preloaded `libmocket.so` is there).
fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name has no preconditions.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

impl Functions {
    fn find() -> Result<Self, ApiError> {
        let open = symbol(c"mocket_control_open").ok_or(ApiError::Absent)?;
        let send = symbol(c"mocket_control_send").ok_or(ApiError::Absent)?;
        let free = symbol(c"mocket_control_free").ok_or(ApiError::Absent)?;
        let close = symbol(c"mocket_control_close").ok_or(ApiError::Absent)?;
        // SAFETY: these symbols are libmocket.so's functions with exactly the C signatures of
        // the README's "Control protocol" section, which the types above spell out.
        unsafe {
            Ok(Functions {
                open: std::mem::transmute::<*mut c_void, OpenFn>(open),
                send: std::mem::transmute::<*mut c_void, SendFn>(send),
                free: std::mem::transmute::<*mut c_void, FreeFn>(free),
                close: std::mem::transmute::<*mut c_void, CloseFn>(close),
            })
        }
    }
}

/// Whether this process can open an embedded session (`libmocket.so` is preloaded).
pub fn available() -> bool {
    Functions::find().is_ok()
}

/// One session with the embedded engine. Closed on drop, as a closed socket closes a daemon
/// session (every scope of it is removed).
pub struct Session {
    functions: Functions,
    id: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

/// Calls the caller's handler; a panic in it must not unwind into the engine (C frames).
extern "C" fn trampoline(ctx: *mut c_void, msg: *const u8, len: usize) {
    if ctx.is_null() {
        return;
    }
    let bytes: &[u8] = if msg.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the engine passes a buffer of `len` readable bytes that stays valid for the
        // duration of this call (README, "Control protocol").
        unsafe { std::slice::from_raw_parts(msg, len) }
    };
    // SAFETY: ctx is the `MessageHandler` leaked by `Session::open` (never freed), so it is
    // valid for as long as the engine may call back.
    let handler = unsafe { &*(ctx as *const MessageHandler) };
    let _ = catch_unwind(AssertUnwindSafe(|| handler(bytes)));
}

impl Session {
    /// Opens a session; `on_message` receives the engine's calls. The handler is kept for the
    /// life of the process (it is leaked): the engine gives no promise about when it stops
    /// calling it after a close, so freeing it could leave the engine with a dangling pointer.
    pub fn open(on_message: MessageHandler) -> Result<Session, ApiError> {
        let functions = Functions::find()?;
        let ctx: *mut MessageHandler = Box::into_raw(Box::new(on_message));
        // SAFETY: `trampoline` has the C signature `on_message` needs, and ctx points to a
        // handler that is never freed.
        let id = unsafe { (functions.open)(trampoline, ctx.cast()) };
        if id == 0 {
            return Err(ApiError::EngineDidNotStart);
        }
        Ok(Session { functions, id })
    }

    /// Sends one request (a JSON object) and returns the engine's reply. Blocks while the
    /// engine works on it.
    pub fn send(&self, request: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut reply_len: usize = 0;
        // SAFETY: `request` is a valid buffer of the given length, `reply_len` a valid place to
        // write the reply's length; the session id came from `mocket_control_open`.
        let reply = unsafe {
            (self.functions.send)(self.id, request.as_ptr(), request.len(), &mut reply_len)
        };
        if reply.is_null() {
            return Err(ApiError::NoSession);
        }
        let copy = if reply_len == 0 {
            Vec::new()
        } else {
            // SAFETY: the engine returned a buffer of `reply_len` readable bytes, ours until it
            // is given back with mocket_control_free.
            unsafe { std::slice::from_raw_parts(reply, reply_len) }.to_vec()
        };
        // SAFETY: `reply` and its length are exactly what mocket_control_send returned, freed
        // once.
        unsafe { (self.functions.free)(reply, reply_len) };
        Ok(copy)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the id came from mocket_control_open and is closed once.
        unsafe { (self.functions.close)(self.id) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_preload_the_functions_are_absent() {
        // This test binary is not run under LD_PRELOAD=libmocket.so by `cargo test`.
        if std::env::var_os("LD_PRELOAD").is_some_and(|p| p.to_string_lossy().contains("libmocket"))
        {
            return;
        }
        assert!(!available());
        let err = Session::open(Box::new(|_| {})).unwrap_err();
        assert_eq!(err, ApiError::Absent);
        assert!(err.to_string().contains("LD_PRELOAD=libmocket.so"), "{err}");
    }

    #[test]
    fn the_trampoline_contains_a_panicking_handler() {
        let handler: MessageHandler = Box::new(|msg| panic!("handler saw {} bytes", msg.len()));
        let ctx = Box::into_raw(Box::new(handler));
        trampoline(ctx.cast(), b"{}".as_ptr(), 2);
        trampoline(ctx.cast(), std::ptr::null(), 0);
        trampoline(std::ptr::null_mut(), b"{}".as_ptr(), 2);
        // SAFETY (test): ctx came from Box::into_raw above and is freed once.
        drop(unsafe { Box::from_raw(ctx) });
    }

    #[test]
    fn the_trampoline_passes_the_bytes() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&seen);
        let handler: MessageHandler = Box::new(move |msg| sink.lock().unwrap().push(msg.to_vec()));
        let ctx = Box::into_raw(Box::new(handler));
        trampoline(ctx.cast(), b"{\"call\":1}".as_ptr(), 10);
        // SAFETY (test): ctx came from Box::into_raw above and is freed once.
        drop(unsafe { Box::from_raw(ctx) });
        assert_eq!(*seen.lock().unwrap(), vec![b"{\"call\":1}".to_vec()]);
    }
}
