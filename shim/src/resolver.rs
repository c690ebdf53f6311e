//! The resolver hooks: mocked names get fake addresses, allowed names the real resolver, and
//! in strict mode no lookup of an unlisted name ever reaches a real DNS server.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::catch_unwind;

use libc::{
    AF_INET, AF_INET6, addrinfo, c_char, c_int, c_uchar, c_void, hostent, size_t, sockaddr,
    socklen_t,
};

use crate::addr::{self, is_fake};
use crate::errno::Errno;
use crate::host_entry::{self, HOSTENT};
use crate::link::{self, Reply};
use crate::{guard, real, warn};

/// What a name lookup gets.
enum Lookup {
    Fake(Ipv4Addr),
    /// The real resolver; `tell` asks to report the addresses back to the engine.
    Real {
        tell: bool,
    },
    Refused,
}

/// The name to look up, unless libc alone should see it (a numeric address, non-UTF-8).
///
/// # Safety
/// `node` must be null or a NUL-terminated string.
unsafe fn lookup_name<'a>(node: *const c_char) -> Option<&'a str> {
    if node.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    let name = unsafe { CStr::from_ptr(node) }.to_str().ok()?;
    let numeric = name.contains(':') || name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (!numeric && !name.is_empty()).then_some(name)
}

/// How many names a thread remembers the fake address of.
const REMEMBERED: usize = 256;

thread_local! {
    /// Fake addresses this thread was given. A name's fake address never changes for the life
    /// of an engine (nor across a fork: the child's engine inherits its parent's names), so
    /// clients that look a name up before every request (ureq) ask the engine once. Per thread:
    /// no lock for a `fork` to find held.
    static FAKES: RefCell<HashMap<String, Ipv4Addr>> = RefCell::new(HashMap::new());
}

fn remembered(name: &str) -> Option<Ipv4Addr> {
    FAKES
        .try_with(|f| f.borrow().get(name).copied())
        .ok()
        .flatten()
}

fn remember(name: &str, ip: Ipv4Addr) {
    let _ = FAKES.try_with(|f| {
        let mut fakes = f.borrow_mut();
        if fakes.len() >= REMEMBERED {
            fakes.clear();
        }
        fakes.insert(name.to_string(), ip);
    });
}

fn lookup(name: &str) -> Lookup {
    if let Some(ip) = remembered(name) {
        return Lookup::Fake(ip);
    }
    let asked = catch_unwind(|| {
        crate::failpoint("resolve");
        link::resolve(name)
    });
    match asked {
        Ok(Reply::Fake(ip)) => {
            remember(name, ip);
            Lookup::Fake(ip)
        }
        Ok(Reply::Real) => Lookup::Real { tell: false },
        Ok(Reply::RealTell) => Lookup::Real { tell: true },
        Ok(Reply::Refuse(message)) => {
            warn(&message);
            Lookup::Refused
        }
        Ok(other) => {
            warn(&format!(
                "unexpected engine reply {other:?} for a lookup of {name}"
            ));
            Lookup::Refused
        }
        Err(_) => {
            warn(&format!("internal error while resolving {name}; refused"));
            Lookup::Refused
        }
    }
}

/// # Safety
/// The arguments are those of libc's `getaddrinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    // SAFETY: the caller passes getaddrinfo's arguments.
    let numeric_only =
        unsafe { hints.as_ref() }.is_some_and(|h| h.ai_flags & libc::AI_NUMERICHOST != 0);
    // SAFETY: node is null or NUL-terminated.
    let name = unsafe { lookup_name(node) }.filter(|_| !numeric_only);
    let (Some(name), Some(_guard)) = (name, guard::enter()) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    };
    let saved = Errno::save();
    let outcome = lookup(name);
    saved.restore();
    match outcome {
        // SAFETY: forwarding the caller's arguments, then reading the list libc returned.
        Lookup::Fake(ip) => unsafe { fake_addrinfo(name, ip, service, hints, res) },
        Lookup::Real { tell } => {
            // SAFETY: forwarding the caller's arguments unchanged.
            let r = unsafe { real::getaddrinfo(node, service, hints, res) };
            if r == 0 && tell {
                // SAFETY: on success *res is the list libc built.
                link::resolved(name, &unsafe { addrinfo_ips(*res) });
            }
            r
        }
        Lookup::Refused => libc::EAI_NONAME,
    }
}

/// Builds the answer for a fake address with libc itself: a numeric lookup of the unspecified
/// address with the caller's service and hints gives exactly the entries (socket types,
/// protocols, service ports) libc would give, allocated so that libc's `freeaddrinfo` frees
/// them; then the address and canonical name are rewritten.
///
/// # Safety
/// The arguments are those of libc's `getaddrinfo`.
unsafe fn fake_addrinfo(
    name: &str,
    ip: Ipv4Addr,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    // SAFETY: all-zero is a valid addrinfo (no hints).
    let user = unsafe { hints.as_ref().copied().unwrap_or(std::mem::zeroed()) };
    let (anchor, family) = match user.ai_family {
        libc::AF_UNSPEC | AF_INET => (c"0.0.0.0", AF_INET),
        AF_INET6 => (c"::", AF_INET6),
        _ => return libc::EAI_FAMILY,
    };
    let mut h = user;
    h.ai_family = family;
    // AI_ADDRCONFIG would hide a mocked name in a namespace with only loopback.
    h.ai_flags = (user.ai_flags & !libc::AI_ADDRCONFIG) | libc::AI_NUMERICHOST;
    // SAFETY: anchor is NUL-terminated; the rest are the caller's.
    let r = unsafe { real::getaddrinfo(anchor.as_ptr(), service, &h, res) };
    if r != 0 {
        return r;
    }
    let cname = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: *res is the list libc just built; each ai_addr has the size of its family.
    unsafe {
        let mut ai = *res;
        while let Some(entry) = ai.as_mut() {
            let port = addr::read(entry.ai_addr, entry.ai_addrlen).map_or(0, |a| a.port());
            let (storage, len) = addr::encode((ip, port).into(), entry.ai_family);
            std::ptr::copy_nonoverlapping(
                (&raw const storage).cast::<u8>(),
                entry.ai_addr.cast::<u8>(),
                len as usize,
            );
            if !entry.ai_canonname.is_null() {
                libc::free(entry.ai_canonname.cast());
                entry.ai_canonname = libc::strdup(cname.as_ptr());
            }
            ai = entry.ai_next;
        }
    }
    0
}

/// The addresses in a libc result list.
///
/// # Safety
/// `ai` must be null or a list returned by getaddrinfo.
unsafe fn addrinfo_ips(mut ai: *const addrinfo) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    // SAFETY: walking a valid list.
    while let Some(entry) = unsafe { ai.as_ref() } {
        // SAFETY: ai_addr has ai_addrlen bytes.
        let found = unsafe { addr::read(entry.ai_addr, entry.ai_addrlen) };
        if let Some(a) = found.filter(|a| !ips.contains(&a.ip())) {
            ips.push(a.ip());
        }
        ai = entry.ai_next;
    }
    ips
}

/// The address bytes a hostent of family `af` carries for a fake IPv4 address.
fn fake_bytes(ip: Ipv4Addr, af: c_int) -> Option<Vec<u8>> {
    match af {
        AF_INET => Some(ip.octets().to_vec()),
        AF_INET6 => Some(ip.to_ipv6_mapped().octets().to_vec()),
        _ => None,
    }
}

/// Tells the engine the addresses of a hostent libc returned for an allowed name.
///
/// # Safety
/// `ent` must be null or a valid hostent.
unsafe fn tell_hostent(name: &str, ent: *const hostent) {
    // SAFETY: guaranteed by the caller; h_addr_list is a null-terminated array of h_length-byte
    // addresses.
    let ips = unsafe {
        let Some(ent) = ent.as_ref() else { return };
        let mut ips = Vec::new();
        let mut p = ent.h_addr_list;
        while !p.is_null() && !(*p).is_null() {
            let bytes = std::slice::from_raw_parts((*p).cast::<u8>(), ent.h_length as usize);
            match bytes.len() {
                4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default())),
                16 => ips.push(IpAddr::from(
                    <[u8; 16]>::try_from(bytes).unwrap_or_default(),
                )),
                _ => {}
            }
            p = p.add(1);
        }
        ips
    };
    link::resolved(name, &ips);
}

/// # Safety
/// The arguments are those of libc's `gethostbyname2_r`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2_r(
    node: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: node is null or NUL-terminated.
    let name = unsafe { lookup_name(node) };
    let (Some(name), Some(_guard)) = (name, guard::enter()) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::gethostbyname2_r(node, af, ret, buf, buflen, result, h_errnop) };
    };
    let saved = Errno::save();
    let outcome = lookup(name);
    saved.restore();
    // SAFETY: result and h_errnop are the caller's out-parameters.
    let fail = |h_err: c_int, code: c_int| unsafe {
        *result = std::ptr::null_mut();
        *h_errnop = h_err;
        code
    };
    match outcome {
        Lookup::Fake(ip) => match fake_bytes(ip, af) {
            // SAFETY: ret and buf are the caller's, valid for buflen bytes.
            Some(bytes) => {
                match unsafe { host_entry::fill(name.as_bytes(), af, &bytes, ret, buf, buflen) } {
                    Ok(()) => {
                        // SAFETY: as above.
                        unsafe { *result = ret };
                        0
                    }
                    Err(()) => fail(host_entry::NETDB_INTERNAL, libc::ERANGE),
                }
            }
            None => fail(host_entry::HOST_NOT_FOUND, 0),
        },
        Lookup::Real { tell } => {
            // SAFETY: forwarding the caller's arguments unchanged.
            let r = unsafe { real::gethostbyname2_r(node, af, ret, buf, buflen, result, h_errnop) };
            if r == 0 && tell {
                // SAFETY: on success *result is null or ret, filled by libc.
                unsafe { tell_hostent(name, *result) };
            }
            r
        }
        Lookup::Refused => fail(host_entry::HOST_NOT_FOUND, 0),
    }
}

/// # Safety
/// The arguments are those of libc's `gethostbyname_r`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname_r(
    node: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: node is null or NUL-terminated.
    let name = unsafe { lookup_name(node) };
    if name.is_none() {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::gethostbyname_r(node, ret, buf, buflen, result, h_errnop) };
    }
    // SAFETY: the same contract, IPv4 as gethostbyname_r means.
    unsafe { gethostbyname2_r(node, AF_INET, ret, buf, buflen, result, h_errnop) }
}

/// # Safety
/// The argument is that of libc's `gethostbyname2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2(node: *const c_char, af: c_int) -> *mut hostent {
    // SAFETY: node is null or NUL-terminated.
    if unsafe { lookup_name(node) }.is_none() || guard::enter().is_none() {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::gethostbyname2(node, af) };
    }
    // The guard above was dropped: gethostbyname2_r takes its own.
    HOSTENT.with(|t| {
        let mut result: *mut hostent = std::ptr::null_mut();
        let mut h_err: c_int = 0;
        // SAFETY: the thread's own hostent storage, valid for its size.
        let r = unsafe {
            gethostbyname2_r(
                node,
                af,
                t.ent.get(),
                t.buf.get().cast(),
                1024,
                &mut result,
                &mut h_err,
            )
        };
        if r != 0 || result.is_null() {
            host_entry::set_h_errno(if h_err == 0 {
                host_entry::HOST_NOT_FOUND
            } else {
                h_err
            });
            return std::ptr::null_mut();
        }
        result
    })
}

/// # Safety
/// The argument is that of libc's `gethostbyname`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname(node: *const c_char) -> *mut hostent {
    // SAFETY: node is null or NUL-terminated.
    if unsafe { lookup_name(node) }.is_none() {
        // SAFETY: forwarding the caller's argument unchanged.
        return unsafe { real::gethostbyname(node) };
    }
    // SAFETY: the same contract.
    unsafe { gethostbyname2(node, AF_INET) }
}

/// The name behind a fake address, if the engine handed it out.
fn fake_name(ip: IpAddr) -> Option<String> {
    if !is_fake(ip) {
        return None;
    }
    let _guard = guard::enter()?;
    let saved = Errno::save();
    let reply = catch_unwind(|| link::reverse(ip)).ok();
    saved.restore();
    match reply {
        Some(Reply::Name(name)) => Some(name),
        _ => None,
    }
}

/// # Safety
/// The arguments are those of libc's `getnameinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: sa has salen bytes.
    let addr = unsafe { addr::read(sa, salen) };
    let Some(addr) = addr.filter(|a| is_fake(a.ip())) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    };
    // A fake address never goes to a real reverse lookup: libc formats it numerically.
    // SAFETY: forwarding the caller's buffers with NI_NUMERICHOST added.
    let r = unsafe {
        real::getnameinfo(
            sa,
            salen,
            host,
            hostlen,
            serv,
            servlen,
            flags | libc::NI_NUMERICHOST,
        )
    };
    if r != 0 || host.is_null() || hostlen == 0 || flags & libc::NI_NUMERICHOST != 0 {
        return r;
    }
    match fake_name(addr.ip()) {
        Some(name) if name.len() < hostlen as usize => {
            // SAFETY: host has hostlen bytes; name plus its NUL fits.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr().cast(), host, name.len());
                *host.add(name.len()) = 0;
            }
            0
        }
        Some(_) => libc::EAI_OVERFLOW,
        None if flags & libc::NI_NAMEREQD != 0 => libc::EAI_NONAME,
        None => 0,
    }
}

/// The fake address `addr` points to and its name, when the engine handed it out.
///
/// # Safety
/// `addr` must hold `len` readable bytes.
unsafe fn fake_address(
    addr: *const c_void,
    len: socklen_t,
    kind: c_int,
) -> Option<(Vec<u8>, String)> {
    let bytes = match (kind, len) {
        // SAFETY: the caller says addr holds `len` bytes.
        (AF_INET, 4) | (AF_INET6, 16) => unsafe {
            std::slice::from_raw_parts(addr.cast::<u8>(), len as usize)
        },
        _ => return None,
    };
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        _ => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
    };
    Some((bytes.to_vec(), fake_name(ip)?))
}

/// # Safety
/// The arguments are those of libc's `gethostbyaddr_r`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    kind: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    // SAFETY: the caller's address of `len` bytes.
    let Some((bytes, name)) = (unsafe { fake_address(addr, len, kind) }) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe {
            real::gethostbyaddr_r(addr, len, kind, ret, buf, buflen, result, h_errnop)
        };
    };
    // SAFETY: ret, buf, result and h_errnop are the caller's, valid as libc documents.
    unsafe {
        match host_entry::fill(name.as_bytes(), kind, &bytes, ret, buf, buflen) {
            Ok(()) => {
                *result = ret;
                0
            }
            Err(()) => {
                *result = std::ptr::null_mut();
                *h_errnop = host_entry::NETDB_INTERNAL;
                libc::ERANGE
            }
        }
    }
}

/// # Safety
/// The arguments are those of libc's `gethostbyaddr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyaddr(
    addr: *const c_void,
    len: socklen_t,
    kind: c_int,
) -> *mut hostent {
    // SAFETY: the caller's address of `len` bytes.
    let Some((bytes, name)) = (unsafe { fake_address(addr, len, kind) }) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::gethostbyaddr(addr, len, kind) };
    };
    HOSTENT.with(|t| {
        // SAFETY: the thread's own hostent storage, valid for its size.
        match unsafe {
            host_entry::fill(
                name.as_bytes(),
                kind,
                &bytes,
                t.ent.get(),
                t.buf.get().cast(),
                1024,
            )
        } {
            Ok(()) => t.ent.get(),
            Err(()) => {
                host_entry::set_h_errno(host_entry::NO_RECOVERY);
                std::ptr::null_mut()
            }
        }
    })
}

type ResolverFn = unsafe fn(*const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int;

/// The raw DNS query functions: answered by libc when the engine allows the name, else
/// refused (strict mode cannot fake a DNS packet for a name it does not know).
///
/// # Safety
/// The arguments are those of libc's `res_query`.
unsafe fn raw_query(
    f: ResolverFn,
    node: *const c_char,
    class: c_int,
    kind: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    // SAFETY: node is null or NUL-terminated.
    let name = unsafe { lookup_name(node) };
    let (Some(name), Some(_guard)) = (name, guard::enter()) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { f(node, class, kind, answer, anslen) };
    };
    let saved = Errno::save();
    let reply = catch_unwind(|| link::query(name)).unwrap_or(Reply::Refuse(format!(
        "internal error while querying {name}"
    )));
    saved.restore();
    match reply {
        // SAFETY: forwarding the caller's arguments unchanged.
        Reply::Real => unsafe { f(node, class, kind, answer, anslen) },
        Reply::Refuse(message) => {
            warn(&message);
            host_entry::set_h_errno(host_entry::HOST_NOT_FOUND);
            -1
        }
        other => {
            warn(&format!(
                "unexpected engine reply {other:?} for a DNS query of {name}"
            ));
            host_entry::set_h_errno(host_entry::NO_RECOVERY);
            -1
        }
    }
}

macro_rules! raw_query_hooks {
    ($($name:ident => $real:path;)*) => {$(
        /// # Safety
        /// The arguments are those of libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(node: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
            // SAFETY: the same contract.
            unsafe { raw_query($real, node, class, kind, answer, anslen) }
        }
    )*};
}

raw_query_hooks! {
    res_query => real::res_query;
    res_search => real::res_search;
    __res_query => real::res_query_internal;
    __res_search => real::res_search_internal;
}
