//! Filling a `struct hostent` for a mocked name, in a caller's buffer (the `_r` functions) or
//! in a per-thread one (the classic, non-reentrant functions).

use std::cell::UnsafeCell;

use libc::{c_char, c_int, hostent};

/// h_errno values (netdb.h), which the libc crate does not export.
pub const HOST_NOT_FOUND: c_int = 1;
pub const NO_RECOVERY: c_int = 3;
pub const NETDB_INTERNAL: c_int = -1;

const PTR: usize = size_of::<*mut c_char>();

/// Lays out `name` and one address in `buf` and points `ret` at them. `Err(())` when `buf` is
/// too small (the caller reports ERANGE).
///
/// # Safety
/// `ret` must be valid for writes and `buf` for `buflen` bytes of writes.
pub unsafe fn fill(
    name: &[u8],
    af: c_int,
    addr: &[u8],
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
) -> Result<(), ()> {
    let pad = buf.align_offset(PTR);
    let need = pad + 3 * PTR + addr.len() + name.len() + 1;
    if pad == usize::MAX || need > buflen {
        return Err(());
    }
    // SAFETY: every write below lies within `buf[..need]`, need <= buflen; the pointer slots
    // are aligned by `pad`.
    unsafe {
        let slots = buf.add(pad).cast::<*mut c_char>();
        let addr_at = buf.add(pad + 3 * PTR);
        let name_at = addr_at.add(addr.len());
        std::ptr::copy_nonoverlapping(addr.as_ptr().cast(), addr_at, addr.len());
        std::ptr::copy_nonoverlapping(name.as_ptr().cast(), name_at, name.len());
        *name_at.add(name.len()) = 0;
        *slots = std::ptr::null_mut(); // h_aliases: empty
        *slots.add(1) = addr_at; // h_addr_list[0]
        *slots.add(2) = std::ptr::null_mut(); // h_addr_list[1]
        (*ret).h_name = name_at;
        (*ret).h_aliases = slots;
        (*ret).h_addrtype = af;
        (*ret).h_length = addr.len() as c_int;
        (*ret).h_addr_list = slots.add(1);
    }
    Ok(())
}

/// The storage `gethostbyname` and friends return a pointer into, one per thread as glibc's.
pub struct ThreadHostent {
    pub ent: UnsafeCell<hostent>,
    pub buf: UnsafeCell<[c_char; 1024]>,
}

thread_local! {
    pub static HOSTENT: ThreadHostent = const {
        ThreadHostent {
            ent: UnsafeCell::new(hostent {
                h_name: std::ptr::null_mut(),
                h_aliases: std::ptr::null_mut(),
                h_addrtype: 0,
                h_length: 0,
                h_addr_list: std::ptr::null_mut(),
            }),
            buf: UnsafeCell::new([0; 1024]),
        }
    };
}

unsafe extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

pub fn set_h_errno(value: c_int) {
    // SAFETY: glibc's __h_errno_location returns this thread's h_errno.
    unsafe { *__h_errno_location() = value };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_checks_size() {
        let mut ent: hostent = unsafe { std::mem::zeroed() };
        let mut buf = [0 as c_char; 64];
        unsafe {
            fill(
                b"a.test",
                libc::AF_INET,
                &[198, 18, 0, 1],
                &mut ent,
                buf.as_mut_ptr(),
                64,
            )
            .unwrap();
            assert_eq!(
                std::ffi::CStr::from_ptr(ent.h_name).to_str().unwrap(),
                "a.test"
            );
            let a = std::slice::from_raw_parts(*ent.h_addr_list as *const u8, 4);
            assert_eq!(a, [198, 18, 0, 1]);
            assert!((*ent.h_addr_list.add(1)).is_null());
            assert!((*ent.h_aliases).is_null());
            assert!(
                fill(
                    b"a.test",
                    libc::AF_INET,
                    &[0; 4],
                    &mut ent,
                    buf.as_mut_ptr(),
                    20
                )
                .is_err()
            );
        }
    }
}
