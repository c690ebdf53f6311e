//! `libmocket.so`: the hooks that an `LD_PRELOAD`ed process calls instead of libc's.
//!
//! Only policy lives here: name lookups and connects are asked about (see the `mocket-control`
//! crate for the protocol) and then carried out with libc's real functions. This library has
//! no constructor: the preloaded C stub (`stub/mocket_stub.c`) adjusts the environment before
//! `main` (`mocket_control::preload_env`) and loads it on first use; symbols are resolved on
//! first use, and the engine is reached
//! (or loaded, for a bare `LD_PRELOAD`) on the first lookup or connect. No read or write path
//! is hooked: a redirected socket is a real kernel TCP socket connected to the engine.
//!
//! Every hook: re-entrancy guard (our own calls go straight to libc), errno saved and restored,
//! `catch_unwind` at the boundary with a fail-closed result.

mod addr;
mod async_lookup;
mod connect;
mod control_api;
#[cfg(test)]
mod counted;
mod errno;
mod guard;
mod host_entry;
mod lasting;
mod link;
mod openssl;
mod pid;
mod raw_dns;
mod real;
mod resolver;
mod stack;
mod trust;
mod user_mem;

/// Writes `mocket: <message>` on stderr, unless `MOCKET_LOG=error`.
fn warn(message: &str) {
    if link::log_warnings() {
        let line = format!("mocket: {message}\n");
        // SAFETY: writing a valid buffer of the given length to fd 2; failure is ignored.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }
}

/// Panics when `MOCKET_FAILPOINT` names `point`: lets the tests prove that a panic inside a hook
/// fails closed (refused, never the real network) and never crashes the process.
fn failpoint(point: &str) {
    if std::env::var("MOCKET_FAILPOINT").is_ok_and(|v| v.split(',').any(|p| p == point)) {
        panic!("mocket failpoint {point}");
    }
}
