//! The calling thread's stack, so that memory an application hands to a hook on its own stack
//! (a `sockaddr` or `socklen_t` local, as most clients pass) is copied without a system call:
//! every byte between a live local of the running function and the top of the stack the thread
//! runs on belongs to a live frame, mapped and readable. Anything else (the heap, a coroutine's
//! or a signal's alternate stack, a bad pointer) keeps the checked copy of `user_mem`.
//!
//! The bounds come from `pthread_getattr_np`, once per thread, and only after
//! [`LEARN_AFTER`] checked copies in that thread: measured here, it costs 1-10 µs in a thread
//! and 40-120 µs in the main thread (glibc reads `/proc/self/maps` for it), against 1.5-3 µs
//! per `process_vm_readv`, so a thread that makes a few connections never pays for it and one
//! that makes many pays it back. It calls
//! no hooked function (a lock of the thread's descriptor, `malloc`, `sched_getaffinity`, and for
//! the main thread `fopen`, `getline`, `getrlimit`), so it cannot recurse into the shim.
//!
//! Where it could go wrong, and why it does not:
//! - A signal handler on the thread's stack runs below the interrupted frames: the live part
//!   still reaches the top. On an alternate stack its locals are outside the bounds.
//! - A signal arriving while the bounds are learned finds them not known (a flag, set first,
//!   cleared last): its hooks copy with `process_vm_readv` and learn nothing, so
//!   `pthread_getattr_np` never runs twice at once on one thread. Like the first use of the
//!   shim's thread-locals (which `malloc`), learning is not async-signal-safe: a thread whose
//!   32nd copy is made in a signal handler that interrupted `malloc` in that very thread could
//!   deadlock in glibc.
//! - A `vfork` child runs on its parent thread's stack with its thread-locals: the bounds are
//!   the right ones. A forked child keeps its thread's stack at the same addresses.
//! - A thread's bounds are its thread-locals, set anew for every thread, so a stack reused
//!   by glibc for a new thread is learned again.
//! - The main thread's bounds reach as far down as `RLIMIT_STACK` allows (glibc stops them at
//!   the mapping below at the time they are learned); only the part between the running frame
//!   and the top is read, which is the stack's mapping unless the thread runs on a mapping the
//!   application placed inside that range later (`MAP_FIXED`, or after raising the limit), used
//!   as a stack: not supported.

use std::cell::Cell;
use std::sync::atomic::{Ordering, compiler_fence};

/// Checked copies a thread makes before it learns its stack's bounds.
pub const LEARN_AFTER: u32 = 32;

/// [`STATE`] while the bounds are learned.
const LEARNING: u32 = u32::MAX - 2;
/// [`STATE`] once [`LOW`] and [`HIGH`] hold the bounds.
const KNOWN: u32 = u32::MAX - 1;
/// [`STATE`] when glibc could not tell them.
const UNAVAILABLE: u32 = u32::MAX;

thread_local! {
    /// Below [`LEARN_AFTER`]: the checked copies made so far; else one of the states above.
    static STATE: Cell<u32> = const { Cell::new(0) };
    /// The lowest and one past the highest address of the thread's stack.
    static LOW: Cell<usize> = const { Cell::new(0) };
    static HIGH: Cell<usize> = const { Cell::new(0) };
}

/// Whether the `len` bytes at `addr` lie on the live part of the calling thread's stack:
/// between a local of this function (so of a frame below the caller's) and the stack's top.
#[inline(never)]
pub fn holds(addr: usize, len: usize) -> bool {
    let Some((low, high)) = bounds() else {
        return false;
    };
    let marker = 0u8;
    let here = std::hint::black_box(&raw const marker) as usize;
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    low <= here && here <= addr && end <= high
}

/// The thread's stack bounds, when known.
fn bounds() -> Option<(usize, usize)> {
    if STATE.try_with(Cell::get).ok()? != KNOWN {
        return None;
    }
    compiler_fence(Ordering::SeqCst);
    Some((
        LOW.try_with(Cell::get).ok()?,
        HIGH.try_with(Cell::get).ok()?,
    ))
}

/// Counts a checked copy made by this thread, and learns the bounds at the [`LEARN_AFTER`]th.
pub fn count_checked_copy() {
    let Ok(state) = STATE.try_with(Cell::get) else {
        return;
    };
    match state {
        n if n < LEARN_AFTER - 1 => {
            let _ = STATE.try_with(|s| s.set(n + 1));
        }
        n if n == LEARN_AFTER - 1 => learn(),
        _ => {}
    }
}

/// Asks glibc for the calling thread's stack and keeps it.
fn learn() {
    let _ = STATE.try_with(|s| s.set(LEARNING));
    compiler_fence(Ordering::SeqCst);
    let state = match pthread_stack() {
        Some((low, high)) => {
            let _ = LOW.try_with(|c| c.set(low));
            let _ = HIGH.try_with(|c| c.set(high));
            KNOWN
        }
        None => UNAVAILABLE,
    };
    compiler_fence(Ordering::SeqCst);
    let _ = STATE.try_with(|s| s.set(state));
}

/// The calling thread's stack as glibc describes it: `[low, high)`.
fn pthread_stack() -> Option<(usize, usize)> {
    // SAFETY: pthread_attr_t is plain data, initialised by pthread_getattr_np before use.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: the calling thread is alive; attr is ours to fill.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return None;
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: attr was initialised above; addr and size are ours to fill.
    let r = unsafe { libc::pthread_attr_getstack(&attr, &mut addr, &mut size) };
    // SAFETY: attr was initialised by pthread_getattr_np and is destroyed once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    let low = addr as usize;
    let high = low.checked_add(size)?;
    (r == 0 && low != 0 && size != 0).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts `LEARN_AFTER` checked copies on this thread, as `user_mem` does.
    fn learn_by_copying() {
        for _ in 0..LEARN_AFTER {
            count_checked_copy();
        }
    }

    #[test]
    fn a_thread_learns_its_stack_only_after_enough_checked_copies() {
        std::thread::spawn(|| {
            let local = [7u8; 16];
            let addr = local.as_ptr() as usize;
            for _ in 1..LEARN_AFTER {
                count_checked_copy();
            }
            assert!(!holds(addr, local.len()), "learned too early");
            count_checked_copy();
            assert!(
                holds(addr, local.len()),
                "a caller's local is on the live stack"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn only_the_live_part_of_the_stack_is_held() {
        std::thread::spawn(|| {
            learn_by_copying();
            let (low, high) = bounds().expect("bounds learned");
            let local = 0u64;
            let addr = &raw const local as usize;
            assert!(low < addr && addr < high);
            assert!(holds(addr, 8));
            assert!(
                !holds(low, 8),
                "the stack's far end is below the running frame"
            );
            assert!(!holds(high - 4, 8), "past the top");
            assert!(!holds(addr, usize::MAX), "a length that wraps around");
            let heap = Box::new(0u64);
            assert!(!holds(&raw const *heap as usize, 8), "the heap");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn another_threads_stack_is_not_held() {
        let local = [1u8; 8];
        let addr = local.as_ptr() as usize;
        std::thread::scope(|s| {
            s.spawn(|| {
                learn_by_copying();
                assert!(!holds(addr, local.len()));
            });
        });
    }

    #[test]
    fn learned_or_unavailable_bounds_are_never_learned_again() {
        std::thread::spawn(|| {
            for state in [LEARNING, KNOWN, UNAVAILABLE] {
                STATE.with(|s| s.set(state));
                count_checked_copy();
                assert_eq!(STATE.with(Cell::get), state);
            }
        })
        .join()
        .unwrap();
    }
}
