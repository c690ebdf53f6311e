//! libc's own functions, looked up on first use and kept: through the stub (`libmocket.so`,
//! which loaded this library), whose `dlsym(RTLD_NEXT)` finds what comes after the preload.
//! `RTLD_NEXT` from this library itself would search after a `dlopen`ed object, which is not
//! in the process's global scope.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The stub's `dlsym(RTLD_NEXT, name)`.
type NextSymbolFn = unsafe extern "C" fn(*const c_char) -> *mut c_void;

static NEXT_SYMBOL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static STUB_BASE: AtomicUsize = AtomicUsize::new(0);

/// Called by the stub right after loading this library: how to find libc's functions, and
/// where the stub is loaded (its hooks must never be taken for another library's functions).
///
/// # Safety
/// `next_symbol` must be a `dlsym(RTLD_NEXT, name)` of the preloaded library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_shim_attach(next_symbol: NextSymbolFn, stub_base: *const c_void) {
    STUB_BASE.store(stub_base as usize, Ordering::Release);
    NEXT_SYMBOL.store(next_symbol as *mut c_void, Ordering::Release);
}

/// The next definition of `name` after the preload (libc's, or libssl's); null when none.
pub fn next_symbol(name: &CStr) -> *mut c_void {
    let f = NEXT_SYMBOL.load(Ordering::Acquire);
    if f.is_null() {
        // Not loaded by the stub (a unit test): this library is then in the global scope.
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no preconditions.
        return unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    }
    // SAFETY: the stub handed this function over with the NextSymbolFn signature.
    unsafe { std::mem::transmute::<*mut c_void, NextSymbolFn>(f)(name.as_ptr()) }
}

/// Whether `addr` lies in the stub (one of its hooks).
pub fn in_stub(addr: *const c_void) -> bool {
    let base = STUB_BASE.load(Ordering::Acquire);
    // SAFETY: dladdr only looks the address up among loaded objects; it never reads it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    base != 0 && unsafe { libc::dladdr(addr, &mut info) } != 0 && info.dli_fbase as usize == base
}

/// Looks `name` up once; null when libc has no such symbol.
fn lookup(name: &CStr, slot: &AtomicPtr<c_void>) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    let p = next_symbol(name);
    slot.store(p, Ordering::Release);
    p
}

/// Declares `real::$name(...)`, calling the next definition of the symbol (libc's), or of its
/// alternative name (`res_query` was `__res_query` before glibc 2.34). A missing symbol fails
/// with ENOSYS rather than crashing.
macro_rules! real_fns {
    ($( fn $name:ident = $sym:literal $(| $alt:literal)? ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $fail:expr; )*) => {
        $(
            #[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                static SLOT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
                let p = lookup($sym, &SLOT);
                $(
                    static ALT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
                    let p = if p.is_null() { lookup($alt, &ALT) } else { p };
                )?
                if p.is_null() {
                    crate::errno::set(libc::ENOSYS);
                    return $fail;
                }
                // SAFETY: p is libc's definition of this symbol, whose C signature is the one
                // declared here; the caller upholds that function's contract.
                unsafe {
                    let f: unsafe extern "C" fn($($ty),*) -> $ret = std::mem::transmute(p);
                    f($($arg),*)
                }
            }
        )*
    };
}

use libc::{
    addrinfo, c_char, c_int, c_uchar, c_uint, hostent, mmsghdr, msghdr, size_t, sockaddr,
    socklen_t, ssize_t,
};

real_fns! {
    fn connect = c"connect"(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int, -1;
    fn getpeername = c"getpeername"(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int, -1;
    fn sendto = c"sendto"(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t, -1;
    fn sendmsg = c"sendmsg"(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t, -1;
    fn sendmmsg = c"sendmmsg"(fd: c_int, msgvec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int, -1;
    fn getaddrinfo = c"getaddrinfo"(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int, libc::EAI_SYSTEM;
    fn getnameinfo = c"getnameinfo"(sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t, serv: *mut c_char, servlen: socklen_t, flags: c_int) -> c_int, libc::EAI_SYSTEM;
    fn gethostbyname = c"gethostbyname"(name: *const c_char) -> *mut hostent, std::ptr::null_mut();
    fn gethostbyname2 = c"gethostbyname2"(name: *const c_char, af: c_int) -> *mut hostent, std::ptr::null_mut();
    fn gethostbyname_r = c"gethostbyname_r"(name: *const c_char, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int, libc::ENOSYS;
    fn gethostbyname2_r = c"gethostbyname2_r"(name: *const c_char, af: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int, libc::ENOSYS;
    fn gethostbyaddr_r = c"gethostbyaddr_r"(addr: *const c_void, len: socklen_t, kind: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int, libc::ENOSYS;
    fn gethostbyaddr = c"gethostbyaddr"(addr: *const c_void, len: socklen_t, kind: c_int) -> *mut hostent, std::ptr::null_mut();
    fn res_query = c"res_query" | c"__res_query"(name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_search = c"res_search" | c"__res_search"(name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_querydomain = c"res_querydomain" | c"__res_querydomain"(name: *const c_char, domain: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_nquery = c"res_nquery" | c"__res_nquery"(state: *mut c_void, name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_nsearch = c"res_nsearch" | c"__res_nsearch"(state: *mut c_void, name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_nquerydomain = c"res_nquerydomain" | c"__res_nquerydomain"(state: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_send = c"res_send" | c"__res_send"(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn res_nsend = c"res_nsend" | c"__res_nsend"(state: *mut c_void, msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int, -1;
    fn getaddrinfo_a = c"getaddrinfo_a"(mode: c_int, list: *mut *mut c_void, count: c_int, notify: *mut libc::sigevent) -> c_int, libc::EAI_SYSTEM;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_stub_the_next_symbol_is_found_from_here() {
        // This test binary is not loaded by the stub: RTLD_NEXT from it reaches libc.
        assert!(!next_symbol(c"getpid").is_null());
        assert!(next_symbol(c"no_such_function_in_libc").is_null());
    }

    /// What the stub's `next_symbol` does, from this binary.
    unsafe extern "C" fn next_from_here(name: *const std::ffi::c_char) -> *mut c_void {
        // SAFETY: dlsym with RTLD_NEXT and the caller's NUL-terminated name.
        unsafe { libc::dlsym(libc::RTLD_NEXT, name) }
    }

    #[test]
    fn once_attached_lookups_go_through_the_stub_and_its_hooks_are_known() {
        let here = next_from_here as *const c_void;
        // SAFETY: dladdr only looks the address up.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_ne!(unsafe { libc::dladdr(here, &mut info) }, 0);
        assert!(!in_stub(here), "nothing is the stub before it attaches");
        // SAFETY: next_from_here is a dlsym(RTLD_NEXT) as the contract asks.
        unsafe { mocket_shim_attach(next_from_here, info.dli_fbase) };
        assert!(
            in_stub(here),
            "an address in the attached object is the stub's"
        );
        assert!(
            !in_stub(next_symbol(c"getpid")),
            "libc's getpid is not the stub's"
        );
        assert!(!next_symbol(c"getpid").is_null());
    }
}
