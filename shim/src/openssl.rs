//! OpenSSL trust injection: the mocket CA is added to the certificate store of every `SSL_CTX`
//! (at `SSL_CTX_new`, and again at `SSL_new` in case the store was replaced), so OpenSSL clients
//! that pin their own bundle (`curl --cacert`, `requests` with certifi) still trust it.
//!
//! libssl is never linked: its functions are found at run time, with `dlsym(RTLD_NEXT)` or, for
//! a libssl loaded `RTLD_LOCAL` (Python's `_ssl`), through a `RTLD_NOLOAD` handle.

use std::ffi::{CStr, c_void};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::link::{self, Reply};
use crate::{guard, trust};

type CtxNew = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type SslNew = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type GetStore = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type AddCert = unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32;
type BioNew = unsafe extern "C" fn(*const c_void, i32) -> *mut c_void;
type BioFree = unsafe extern "C" fn(*mut c_void) -> i32;
type ReadX509 =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, *mut c_void) -> *mut c_void;

/// The libssl and libcrypto functions mocket uses, from the libssl the process loaded.
struct OpenSsl {
    ctx_new: CtxNew,
    ssl_new: SslNew,
    get_store: GetStore,
    add_cert: AddCert,
    /// The mocket CA, parsed once; null when there is none.
    ca: *mut c_void,
}

// SAFETY: the function pointers are immutable, and the X509 is only read (reference-counted by
// OpenSSL when added to a store).
unsafe impl Send for OpenSsl {}
// SAFETY: as above.
unsafe impl Sync for OpenSsl {}

static OPENSSL: OnceLock<Option<OpenSsl>> = OnceLock::new();

/// libssl's handle: the one `SSL_CTX_new` resolves to after this library, or an already
/// loaded libssl found without loading anything.
fn libssl() -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
    let next = unsafe { libc::dlsym(libc::RTLD_NEXT, c"SSL_CTX_new".as_ptr()) };
    if !next.is_null() {
        // SAFETY: dladdr fills `info` for an address inside a loaded object.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::dladdr(next, &mut info) } != 0 && !info.dli_fname.is_null() {
            // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded.
            let h = unsafe { libc::dlopen(info.dli_fname, libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
            if !h.is_null() {
                return Some(h);
            }
        }
    }
    [c"libssl.so.3", c"libssl.so.1.1", c"libssl.so"]
        .iter()
        .find_map(|name| {
            // SAFETY: as above.
            let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
            (!h.is_null()).then_some(h)
        })
}

fn symbol(handle: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym on a valid handle searches it and its dependencies (libcrypto).
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

fn load() -> Option<OpenSsl> {
    let h = libssl()?;
    // SAFETY: each symbol is OpenSSL's function with the C signature of its type alias.
    unsafe {
        let bio_new = std::mem::transmute::<*mut c_void, BioNew>(symbol(h, c"BIO_new_mem_buf")?);
        let bio_free = std::mem::transmute::<*mut c_void, BioFree>(symbol(h, c"BIO_free")?);
        let read = std::mem::transmute::<*mut c_void, ReadX509>(symbol(h, c"PEM_read_bio_X509")?);
        let ca = match ca_pem() {
            Some(pem) => {
                let bio = bio_new(pem.as_ptr().cast(), pem.len() as i32);
                let x509 = if bio.is_null() {
                    std::ptr::null_mut()
                } else {
                    read(
                        bio,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                };
                if !bio.is_null() {
                    bio_free(bio);
                }
                x509
            }
            None => std::ptr::null_mut(),
        };
        Some(OpenSsl {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(symbol(h, c"SSL_CTX_new")?),
            ssl_new: std::mem::transmute::<*mut c_void, SslNew>(symbol(h, c"SSL_new")?),
            get_store: std::mem::transmute::<*mut c_void, GetStore>(symbol(
                h,
                c"SSL_CTX_get_cert_store",
            )?),
            add_cert: std::mem::transmute::<*mut c_void, AddCert>(symbol(
                h,
                c"X509_STORE_add_cert",
            )?),
            ca,
        })
    }
}

/// The CA certificate: the known file, or (first use ever) the one the engine creates.
fn ca_pem() -> Option<Vec<u8>> {
    let known = trust::ca_cert_path().filter(|p| p.is_file());
    let path = known.or_else(|| {
        let _guard = guard::enter()?;
        match link::ca() {
            Reply::Path(p) => Some(PathBuf::from(p)),
            _ => None,
        }
    })?;
    std::fs::read(path).ok()
}

fn openssl() -> Option<&'static OpenSsl> {
    OPENSSL.get_or_init(load).as_ref()
}

/// Adds the CA to `ctx`'s store. Adding a certificate already there is not an error.
fn trust_ca(ssl: &OpenSsl, ctx: *mut c_void) {
    if ctx.is_null() || ssl.ca.is_null() {
        return;
    }
    // SAFETY: ctx is a live SSL_CTX; the store it returns belongs to it; add_cert takes its
    // own reference to the X509.
    unsafe {
        let store = (ssl.get_store)(ctx);
        if !store.is_null() {
            (ssl.add_cert)(store, ssl.ca);
        }
    }
}

/// # Safety
/// The argument is that of OpenSSL's `SSL_CTX_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_new(method: *const c_void) -> *mut c_void {
    let Some(ssl) = std::panic::catch_unwind(openssl).ok().flatten() else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's argument to OpenSSL's own function.
    let ctx = unsafe { (ssl.ctx_new)(method) };
    let _ = std::panic::catch_unwind(|| trust_ca(ssl, ctx));
    ctx
}

/// # Safety
/// The argument is that of OpenSSL's `SSL_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_new(ctx: *mut c_void) -> *mut c_void {
    let Some(ssl) = std::panic::catch_unwind(openssl).ok().flatten() else {
        return std::ptr::null_mut();
    };
    let _ = std::panic::catch_unwind(|| trust_ca(ssl, ctx));
    // SAFETY: forwarding the caller's argument to OpenSSL's own function.
    unsafe { (ssl.ssl_new)(ctx) }
}
