//! OpenSSL trust injection: the mocket CA is added to the certificate store of every `SSL_CTX`
//! (at `SSL_CTX_new`, and again at `SSL_new` in case the store was replaced), so OpenSSL clients
//! that pin their own bundle (`curl --cacert`, `requests` with certifi) still trust it.
//!
//! libssl is never linked: its functions are found at run time, in the libssl the caller
//! actually uses. A process may load several (the system's, and a wheel's private
//! `libssl-<hash>.so.3` loaded `RTLD_LOCAL`): `SSL_CTX_new` finds the one that defines the
//! caller's method (its address lies inside that library), `SSL_new` the one that made the
//! context. Only when neither tells is a libssl searched for: `dlsym(RTLD_NEXT)`, then every
//! loaded object. The real function is always called when one exists, trust or not.

use std::ffi::{CStr, CString, c_void};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::errno::Errno;
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

/// The functions of one loaded libssl.
struct OpenSsl {
    ctx_new: CtxNew,
    ssl_new: SslNew,
    /// What trust injection needs, when this libssl (and its libcrypto) has it.
    trust: Option<Trust>,
}

struct Trust {
    get_store: GetStore,
    add_cert: AddCert,
    /// The mocket CA, parsed by this library's libcrypto once; null when there is none.
    ca: *mut c_void,
}

// SAFETY: the function pointers are immutable, and the X509 is only read (reference-counted by
// OpenSSL when added to a store).
unsafe impl Send for OpenSsl {}
// SAFETY: as above.
unsafe impl Sync for OpenSsl {}

/// The libraries found so far, by the base address of the object that defines them.
static LIBRARIES: Mutex<Vec<(usize, &'static OpenSsl)>> = Mutex::new(Vec::new());

/// The library that made each recent context, while several libraries are known, the newest
/// last.
static CONTEXTS: Mutex<Vec<(usize, &'static OpenSsl)>> = Mutex::new(Vec::new());

/// Contexts remembered at most (a process that leaks contexts must not grow this forever; a
/// process makes few live ones).
const MAX_CONTEXTS: usize = 256;

fn symbol(handle: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym on a valid handle searches it and its dependencies (libcrypto).
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Whether `p` is mocket's own hook (this library's `own`, or the stub's), which a search
/// must never take for libssl's function.
fn is_mocket_hook(p: *mut c_void, own: *const ()) -> bool {
    std::ptr::eq(p.cast_const().cast(), own) || crate::real::in_stub(p)
}

/// The libssl that contains `addr` (a function or an `SSL_METHOD`), loaded once.
fn library_at(addr: *const c_void) -> Option<&'static OpenSsl> {
    // SAFETY: dladdr only looks the address up among loaded objects; it never reads it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    let base = info.dli_fbase as usize;
    let mut known = LIBRARIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, lib)) = known.iter().find(|(b, _)| *b == base) {
        return Some(*lib);
    }
    // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded.
    let handle = unsafe { libc::dlopen(info.dli_fname, libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if handle.is_null() {
        return None;
    }
    let lib: &'static OpenSsl = Box::leak(Box::new(load(handle)?));
    known.push((base, lib));
    Some(lib)
}

/// Reads a library's functions; `None` when it has no `SSL_CTX_new` of its own.
fn load(h: *mut c_void) -> Option<OpenSsl> {
    let ctx_new =
        symbol(h, c"SSL_CTX_new").filter(|p| !is_mocket_hook(*p, SSL_CTX_new as *const ()))?;
    let ssl_new = symbol(h, c"SSL_new").filter(|p| !is_mocket_hook(*p, SSL_new as *const ()))?;
    // SAFETY: each symbol is OpenSSL's function with the C signature of its type alias.
    unsafe {
        Some(OpenSsl {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(ctx_new),
            ssl_new: std::mem::transmute::<*mut c_void, SslNew>(ssl_new),
            trust: load_trust(h),
        })
    }
}

fn load_trust(h: *mut c_void) -> Option<Trust> {
    // SAFETY: each symbol is OpenSSL's function with the C signature of its type alias.
    unsafe {
        let bio_new = std::mem::transmute::<*mut c_void, BioNew>(symbol(h, c"BIO_new_mem_buf")?);
        let bio_free = std::mem::transmute::<*mut c_void, BioFree>(symbol(h, c"BIO_free")?);
        let read = std::mem::transmute::<*mut c_void, ReadX509>(symbol(h, c"PEM_read_bio_X509")?);
        let get_store =
            std::mem::transmute::<*mut c_void, GetStore>(symbol(h, c"SSL_CTX_get_cert_store")?);
        let add_cert =
            std::mem::transmute::<*mut c_void, AddCert>(symbol(h, c"X509_STORE_add_cert")?);
        let ca = match ca_pem() {
            Some(pem) => {
                let bio = bio_new(pem.as_ptr().cast(), pem.len() as i32);
                let null = std::ptr::null_mut();
                let x509 = match bio.is_null() {
                    true => null,
                    false => read(bio, null, null, null),
                };
                if !bio.is_null() {
                    bio_free(bio);
                }
                x509
            }
            None => std::ptr::null_mut(),
        };
        Some(Trust {
            get_store,
            add_cert,
            ca,
        })
    }
}

/// A libssl when the call itself does not tell which: the next `SSL_CTX_new` after this
/// library, else any loaded object that defines one.
fn any_library() -> Option<&'static OpenSsl> {
    let next = crate::real::next_symbol(c"SSL_CTX_new");
    if !next.is_null()
        && let Some(lib) = library_at(next)
    {
        return Some(lib);
    }
    loaded_objects().iter().find_map(|path| {
        // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded.
        let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        let found = (!h.is_null())
            .then(|| symbol(h, c"SSL_CTX_new"))
            .flatten()
            .filter(|p| !is_mocket_hook(*p, SSL_CTX_new as *const ()))?;
        library_at(found)
    })
}

/// The paths of the objects loaded in this process (the main program aside).
fn loaded_objects() -> Vec<CString> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our own Vec as data.
        unsafe {
            let paths = &mut *data.cast::<Vec<CString>>();
            let name = (*info).dlpi_name;
            if !name.is_null() && *name != 0 {
                paths.push(CStr::from_ptr(name).to_owned());
            }
        }
        0
    }
    let mut paths: Vec<CString> = Vec::new();
    // SAFETY: the callback only copies names; the objects are opened after the walk, outside
    // the loader's lock.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut paths).cast()) };
    paths
}

/// The CA certificate: the known file, or (first use ever) the one the engine creates.
fn ca_pem() -> Option<Vec<u8>> {
    static PEM: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    PEM.get_or_init(|| {
        let known = trust::ca_cert_path().filter(|p| p.is_file());
        let path = known.or_else(|| {
            let _guard = guard::enter()?;
            match link::ca() {
                Reply::Path(p) => Some(PathBuf::from(p)),
                _ => None,
            }
        })?;
        std::fs::read(path).ok()
    })
    .clone()
}

/// Adds the CA to `ctx`'s store. Adding a certificate already there is not an error.
fn trust_ca(ssl: &OpenSsl, ctx: *mut c_void) {
    let Some(trust) = &ssl.trust else { return };
    if ctx.is_null() || trust.ca.is_null() {
        return;
    }
    // SAFETY: ctx is a live SSL_CTX of this library; the store it returns belongs to it;
    // add_cert takes its own reference to the X509.
    unsafe {
        let store = (trust.get_store)(ctx);
        if !store.is_null() {
            (trust.add_cert)(store, trust.ca);
        }
    }
}

/// Remembers which library made `ctx`, for `SSL_new` (needed only with several libraries).
fn remember(ctx: *mut c_void, lib: &'static OpenSsl) {
    if ctx.is_null() || LIBRARIES.lock().map_or(0, |l| l.len()) < 2 {
        return;
    }
    let mut contexts = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    contexts.retain(|(c, _)| *c != ctx as usize);
    if contexts.len() >= MAX_CONTEXTS {
        contexts.remove(0);
    }
    contexts.push((ctx as usize, lib));
}

/// The library, when only one was found so far.
fn sole_library() -> Option<&'static OpenSsl> {
    let known = LIBRARIES.lock().ok()?;
    match known.as_slice() {
        [(_, lib)] => Some(*lib),
        _ => None,
    }
}

fn maker_of(ctx: *mut c_void) -> Option<&'static OpenSsl> {
    let contexts = CONTEXTS.lock().ok()?;
    let found = contexts.iter().rev().find(|(c, _)| *c == ctx as usize);
    found.map(|(_, lib)| *lib)
}

/// # Safety
/// The argument is that of OpenSSL's `SSL_CTX_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_new(method: *const c_void) -> *mut c_void {
    let found = std::panic::catch_unwind(|| {
        (!method.is_null())
            .then(|| library_at(method))
            .flatten()
            .or_else(any_library)
    });
    // No libssl at all: there is no real function to call.
    let Some(ssl) = found.ok().flatten() else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's argument to OpenSSL's own function.
    let ctx = unsafe { (ssl.ctx_new)(method) };
    let saved = Errno::save();
    let _ = std::panic::catch_unwind(|| {
        remember(ctx, ssl);
        if let Some(_guard) = guard::enter() {
            trust_ca(ssl, ctx);
        }
    });
    saved.restore();
    ctx
}

/// # Safety
/// The argument is that of OpenSSL's `SSL_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_new(ctx: *mut c_void) -> *mut c_void {
    let saved = Errno::save();
    let found =
        std::panic::catch_unwind(|| maker_of(ctx).or_else(sole_library).or_else(any_library));
    let Some(ssl) = found.ok().flatten() else {
        return std::ptr::null_mut();
    };
    let _ = std::panic::catch_unwind(|| {
        if let Some(_guard) = guard::enter() {
            trust_ca(ssl, ctx);
        }
    });
    saved.restore();
    // SAFETY: forwarding the caller's argument to OpenSSL's own function.
    unsafe { (ssl.ssl_new)(ctx) }
}
