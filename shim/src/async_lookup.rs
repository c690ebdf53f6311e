//! `getaddrinfo_a`: each request is answered at once, on the caller's thread, through the
//! `getaddrinfo` hook, so a name that no rule allows gets its fake address (or its refusal)
//! and never reaches a real resolver. The requests are complete when the call returns:
//! `gai_error` reads their results, `gai_suspend` returns at once, and the notification the
//! caller asked for is delivered.

use std::panic::catch_unwind;

use libc::{addrinfo, c_char, c_int, c_void, sigevent};

use crate::resolver::{self, Node};
use crate::{real, warn};

/// glibc's `struct gaicb` (netdb.h): the caller's request and, after it, glibc's private
/// fields, of which `gai_error` reads the first.
#[repr(C)]
struct Gaicb {
    name: *const c_char,
    service: *const c_char,
    request: *const addrinfo,
    result: *mut addrinfo,
    status: c_int,
    reserved: [c_int; 5],
}

/// The start of glibc's `struct sigevent` for `SIGEV_THREAD`: the function and its attributes
/// follow the three common fields.
#[repr(C)]
struct ThreadSigevent {
    value: libc::sigval,
    signo: c_int,
    notify: c_int,
    function: Option<extern "C" fn(libc::sigval)>,
}

const GAI_WAIT: c_int = 0;
const GAI_NOWAIT: c_int = 1;

/// # Safety
/// The arguments are those of glibc's `getaddrinfo_a`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo_a(
    mode: c_int,
    list: *mut *mut c_void,
    count: c_int,
    notify: *mut sigevent,
) -> c_int {
    let requests: &[*mut c_void] = match usize::try_from(count) {
        // SAFETY: the caller passes an array of `count` request pointers.
        Ok(n) if !list.is_null() && n > 0 => unsafe { std::slice::from_raw_parts(list, n) },
        _ => &[],
    };
    let requests: Vec<*mut Gaicb> = requests.iter().map(|r| r.cast()).collect();
    // SAFETY: each non-null request is the caller's gaicb.
    let names_any = requests.iter().any(|r| unsafe { carries_a_name(*r) });
    if !names_any || !matches!(mode, GAI_WAIT | GAI_NOWAIT) {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::getaddrinfo_a(mode, list, count, notify) };
    }
    for request in &requests {
        // SAFETY: as above.
        if let Some(request) = unsafe { request.as_mut() } {
            // SAFETY: the request's fields are getaddrinfo's arguments, as glibc passes them.
            request.status = unsafe {
                resolver::getaddrinfo(
                    request.name,
                    request.service,
                    request.request,
                    &mut request.result,
                )
            };
        }
    }
    if mode == GAI_NOWAIT && !notify.is_null() {
        // SAFETY: a non-null notify is the caller's sigevent.
        let _ = catch_unwind(|| unsafe { deliver(notify) });
    }
    0
}

/// Whether a request names a host that mocket judges (not a numeric address).
///
/// # Safety
/// `request` must be null or a valid gaicb.
unsafe fn carries_a_name(request: *const Gaicb) -> bool {
    // SAFETY: guaranteed by the caller; its name is null or NUL-terminated.
    unsafe { request.as_ref() }
        .is_some_and(|r| !matches!(unsafe { resolver::classify(r.name) }, Node::Libc))
}

/// Delivers the completion notification the caller asked for, as glibc would.
///
/// # Safety
/// `notify` must point to a valid sigevent.
unsafe fn deliver(notify: *const sigevent) {
    // SAFETY: guaranteed by the caller; the SIGEV_THREAD layout is a prefix of sigevent.
    let event = unsafe { &*notify.cast::<ThreadSigevent>() };
    match event.notify {
        libc::SIGEV_SIGNAL => {
            // SAFETY: queueing a signal to our own process with the caller's value.
            unsafe { libc::sigqueue(libc::getpid(), event.signo, event.value) };
        }
        libc::SIGEV_THREAD => {
            if let Some(function) = event.function {
                start_notification(function, event.value);
            }
        }
        _ => {}
    }
}

/// What the notification thread calls, and with what.
struct Notification {
    function: extern "C" fn(libc::sigval),
    value: libc::sigval,
}

/// Calls `function(value)` on a new detached thread, as glibc's `SIGEV_THREAD` does (a plain
/// pthread: std's thread machinery would grow the library for this one use).
fn start_notification(function: extern "C" fn(libc::sigval), value: libc::sigval) {
    extern "C" fn run(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box leaked below, handed to this thread alone.
        let notification = unsafe { Box::from_raw(arg.cast::<Notification>()) };
        (notification.function)(notification.value);
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(Notification { function, value }));
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `run` takes ownership of `arg`; default attributes.
    let started = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), run, arg.cast()) };
    if started == 0 {
        // SAFETY: a thread we just started and never join.
        unsafe { libc::pthread_detach(thread) };
    } else {
        // SAFETY: the thread did not start: the Box is still ours.
        drop(unsafe { Box::from_raw(arg) });
        warn("getaddrinfo_a: cannot start the notification thread");
    }
}
