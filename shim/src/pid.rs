//! This process's id without a system call per connect (issue 15: `getpid` was two of the
//! shim's extra calls per new connection).
//!
//! The id is kept in a page the kernel wipes in every child that gets a copy of our memory
//! (`MADV_WIPEONFORK`), whether libc's `fork` made it or a raw `clone` that runs no `atfork`
//! handler: a child never sees its parent's id, it finds the page zeroed and asks the kernel
//! once. A `vfork` child shares our memory and sees our id, as it sees the rest of our memory
//! (its `process_vm_readv` of our id reads that same memory). Where the page cannot be had (a
//! kernel before 4.14, a sandbox refusing `mmap`), every call asks the kernel, as before.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The wiped page, once mapped; [`UNAVAILABLE`] once mapping it failed.
static PAGE: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

/// Marks [`PAGE`] as unavailable, so that a failed mapping is not tried again per connect.
const UNAVAILABLE: *mut AtomicU32 = std::ptr::dangling_mut();

/// This process's id.
pub fn current() -> u32 {
    let Some(cell) = cell() else {
        return std::process::id();
    };
    match cell.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            cell.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// The id's cell in the wiped page, mapping the page on first use.
fn cell() -> Option<&'static AtomicU32> {
    let mut page = PAGE.load(Ordering::Acquire);
    if page.is_null() {
        let mapped = map_wiped_page().unwrap_or(UNAVAILABLE);
        page = match PAGE.compare_exchange(
            std::ptr::null_mut(),
            mapped,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => mapped,
            Err(first) => {
                // Another thread mapped one first: ours is not needed.
                if mapped != UNAVAILABLE {
                    // SAFETY: `mapped` is our own page of `page_size()` bytes, never shared.
                    unsafe { libc::munmap(mapped.cast(), page_size()) };
                }
                first
            }
        };
    }
    if page == UNAVAILABLE {
        return None;
    }
    // SAFETY: a non-null page other than UNAVAILABLE is a mapped, readable and writable page
    // that is never unmapped, aligned for an AtomicU32, zero-filled (a valid AtomicU32).
    Some(unsafe { &*page })
}

/// A private anonymous page the kernel zeroes in a forked child; `None` if it cannot be had.
fn map_wiped_page() -> Option<*mut AtomicU32> {
    let size = page_size();
    // SAFETY: an anonymous private mapping at an address of the kernel's choice: it touches no
    // existing memory.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `page` is the mapping just made, of `size` bytes.
    if unsafe { libc::madvise(page, size, libc::MADV_WIPEONFORK) } != 0 {
        // SAFETY: as above; nothing else knows of it.
        unsafe { libc::munmap(page, size) };
        return None;
    }
    Some(page.cast())
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_this_process_id() {
        assert_eq!(current(), std::process::id());
        assert_eq!(current(), std::process::id());
        assert!(cell().is_some(), "the wiped page could not be had");
    }

    /// A child made by a raw `clone` (no `atfork` handler runs) and one made by `fork` each
    /// get their own id, not the cached parent's.
    #[test]
    fn a_child_never_sees_its_parents_id() {
        let parent = current();
        for raw in [false, true] {
            // SAFETY: the child only reads memory, makes system calls and `_exit`s (no
            // allocation, no lock another thread of the test harness may hold).
            let child = unsafe {
                match raw {
                    false => libc::fork() as libc::c_long,
                    true => libc::syscall(
                        libc::SYS_clone,
                        libc::SIGCHLD as libc::c_ulong,
                        0usize,
                        0usize,
                        0usize,
                        0usize,
                    ),
                }
            };
            assert!(child >= 0, "cannot create a child");
            if child == 0 {
                // SAFETY: getpid and _exit are async-signal-safe.
                let own = unsafe { libc::getpid() } as u32;
                let seen = current();
                unsafe { libc::_exit(if seen == own && seen != parent { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child, into our own int.
            unsafe { libc::waitpid(child as libc::pid_t, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "raw clone {raw}: the child saw another id than its own ({status:#x})"
            );
        }
        assert_eq!(current(), parent);
    }
}
