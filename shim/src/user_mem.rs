//! Reading memory the application handed to a hook without trusting the pointer: an
//! unreadable address becomes `EFAULT`, as the kernel answers, never a crash inside the shim.
//! The bytes are copied with `process_vm_readv` on our own process, which the kernel checks
//! like any system call argument; memory on the live part of the calling thread's stack (see
//! `crate::stack`), which cannot be unreadable, is copied directly.

use std::mem::{MaybeUninit, size_of};

use libc::{c_void, iovec};

/// Some of the bytes asked for are not readable memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

/// Plain C data: every bit pattern of its size is a valid value, so bytes copied from the
/// application make one.
///
/// # Safety
/// Only for `repr(C)` types made of integers and raw pointers.
pub unsafe trait Plain: Copy {}

// SAFETY: each is a repr(C) struct of integers and raw pointers.
unsafe impl Plain for libc::sockaddr_storage {}
// SAFETY: as above.
unsafe impl Plain for libc::msghdr {}
// SAFETY: as above.
unsafe impl Plain for libc::mmsghdr {}
// SAFETY: an integer.
unsafe impl Plain for libc::socklen_t {}

/// Copies `out.len()` bytes from `addr` into `out`.
pub fn copy_bytes(addr: *const c_void, out: &mut [u8]) -> Result<(), Fault> {
    if out.is_empty() {
        return Ok(());
    }
    if addr.is_null() {
        return Err(Fault);
    }
    if crate::stack::holds(addr as usize, out.len()) {
        // SAFETY: the bytes lie between a frame of this call and the top of the stack the
        // thread runs on: live frames, mapped and readable. `copy`, not `copy_nonoverlapping`:
        // a pointer below the application's own frame may point into the shim's, `out`
        // included.
        unsafe { std::ptr::copy(addr.cast::<u8>(), out.as_mut_ptr(), out.len()) };
        return Ok(());
    }
    crate::stack::count_checked_copy();
    let local = iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: out.len(),
    };
    let remote = iovec {
        iov_base: addr.cast_mut(),
        iov_len: out.len(),
    };
    #[cfg(test)]
    crate::counted::add(&crate::counted::CHECKED_READS);
    // SAFETY: `local` describes `out`, which we own; the kernel checks `remote` and fails
    // with EFAULT instead of touching unreadable memory.
    let n = unsafe {
        libc::process_vm_readv(
            crate::pid::current() as libc::pid_t,
            &local,
            1,
            &remote,
            1,
            0,
        )
    };
    match n {
        n if n >= 0 && n as usize == out.len() => Ok(()),
        -1 if !copy_unavailable() => Err(Fault),
        // A sandbox that forbids process_vm_readv: the memory is read as libc would read it.
        -1 => {
            // SAFETY: the caller's contract with libc says `addr` holds these bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(addr.cast::<u8>(), out.as_mut_ptr(), out.len())
            };
            Ok(())
        }
        _ => Err(Fault),
    }
}

/// Whether the last `process_vm_readv` failed because it is not allowed here (seccomp, an old
/// kernel), rather than because the memory is unreadable.
fn copy_unavailable() -> bool {
    let code = std::io::Error::last_os_error().raw_os_error();
    matches!(code, Some(libc::ENOSYS) | Some(libc::EPERM))
}

/// Copies one `T` from `addr`.
pub fn read<T: Plain>(addr: *const T) -> Result<T, Fault> {
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the slice covers exactly the storage of `value`, which we own.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    copy_bytes(addr.cast(), bytes)?;
    // SAFETY: every byte was written, and every bit pattern is a valid T (Plain).
    Ok(unsafe { value.assume_init() })
}

/// Copies `count` values of `T` from `addr`.
pub fn read_array<T: Plain>(addr: *const T, count: usize) -> Result<Vec<T>, Fault> {
    let len = count
        .checked_mul(size_of::<T>())
        .filter(|len| *len <= isize::MAX as usize)
        .ok_or(Fault)?;
    let mut values: Vec<T> = Vec::with_capacity(count);
    // SAFETY: the slice covers the vector's allocated (uninitialised) capacity.
    let bytes = unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), len) };
    copy_bytes(addr.cast(), bytes)?;
    // SAFETY: all `count` values were written, and every bit pattern is a valid T (Plain).
    unsafe { values.set_len(count) };
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_readable_memory() {
        let source = [1u8, 2, 3, 4, 5];
        let mut out = [0u8; 5];
        copy_bytes(source.as_ptr().cast(), &mut out).unwrap();
        assert_eq!(out, source);
        let n: libc::socklen_t = 77;
        assert_eq!(read(&raw const n), Ok(77));
        assert_eq!(
            read_array(source.as_ptr().cast::<libc::socklen_t>(), 1)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn unreadable_memory_is_a_fault_not_a_crash() {
        let mut out = [0u8; 16];
        assert_eq!(copy_bytes(16 as *const c_void, &mut out), Err(Fault));
        assert_eq!(copy_bytes(std::ptr::null(), &mut out), Err(Fault));
        assert_eq!(read(usize::MAX as *const libc::socklen_t), Err(Fault));
        assert!(read_array(std::ptr::dangling::<libc::msghdr>(), 3).is_err());
        assert!(read_array(std::ptr::dangling::<libc::msghdr>(), usize::MAX).is_err());
        // An address whose first bytes are readable but not the rest: a guard page after a
        // mapping.
        // SAFETY: mapping two fresh anonymous pages and unmapping the second.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let map = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            libc::munmap(map.cast::<u8>().add(page).cast(), page);
            let straddling = map.cast::<u8>().add(page - 4).cast();
            assert_eq!(copy_bytes(straddling, &mut out), Err(Fault));
            libc::munmap(map, page);
        }
    }

    #[test]
    fn a_thread_that_learned_its_stack_copies_from_it_without_a_system_call() {
        std::thread::spawn(|| {
            let local = [3u8; 16];
            let heap = Box::new([4u8; 16]);
            let mut out = [0u8; 16];
            for _ in 0..crate::stack::LEARN_AFTER {
                copy_bytes(heap.as_ptr().cast(), &mut out).unwrap();
            }
            let copy = |addr: *const u8, out: &mut [u8]| {
                crate::counted::during(|| copy_bytes(addr.cast(), out))
            };
            let (copied, calls) = copy(local.as_ptr(), &mut out);
            assert_eq!((copied, out, calls.checked_reads), (Ok(()), local, 0));
            let (copied, calls) = copy(heap.as_ptr(), &mut out);
            assert_eq!((copied, out, calls.checked_reads), (Ok(()), [4; 16], 1));
            let (copied, calls) = copy(16 as *const u8, &mut out);
            assert_eq!((copied, calls.checked_reads), (Err(Fault), 1));
            let (copied, _) = copy(usize::MAX as *const u8, &mut out);
            assert_eq!(copied, Err(Fault));
        })
        .join()
        .unwrap();
    }
}
