//! The resolver hooks: mocked names get fake addresses, allowed names the real resolver, and
//! in strict mode no lookup of an unlisted name ever reaches a real DNS server.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mocket_control::{NameProblem, check_name};
use std::panic::catch_unwind;

use libc::{
    AF_INET, AF_INET6, addrinfo, c_char, c_int, c_void, hostent, size_t, sockaddr, socklen_t,
};

use crate::addr::{self, Copied, is_fake};
use crate::errno::{self, Errno};
use crate::host_entry::{self, HOSTENT};
use crate::link::{self, Reply};
use crate::user_mem::{Fault, copy_bytes};
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

/// What a lookup's name argument is.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    /// libc alone should see it: null, or a numeric address.
    Libc,
    /// A name no lookup can carry (a space or control character, over 253 bytes, empty, or
    /// not UTF-8: `None`): refused before anything is sent.
    Invalid(Option<NameProblem>),
    Name(&'a str),
}

/// Classifies a lookup's name argument.
///
/// # Safety
/// `node` must be null or a NUL-terminated string.
pub(crate) unsafe fn classify<'a>(node: *const c_char) -> Node<'a> {
    if node.is_null() {
        return Node::Libc;
    }
    // SAFETY: guaranteed by the caller.
    classify_bytes(unsafe { CStr::from_ptr(node) }.to_bytes())
}

fn classify_bytes(bytes: &[u8]) -> Node<'_> {
    let Ok(name) = std::str::from_utf8(bytes) else {
        return Node::Invalid(None);
    };
    if is_numeric(name) {
        return Node::Libc;
    }
    match check_name(name) {
        Ok(()) => Node::Name(name),
        Err(problem) => Node::Invalid(Some(problem)),
    }
}

/// A numeric address libc parses without any lookup: dotted IPv4 (also the short forms
/// `inet_aton` takes) or IPv6, with an optional `%scope`.
fn is_numeric(name: &str) -> bool {
    let dotted = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let v6 = name
        .split('%')
        .next()
        .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
    dotted || v6
}

/// Says why a lookup of an invalid name was refused (one stderr line).
///
/// # Safety
/// `node` must be a NUL-terminated string.
pub(crate) unsafe fn warn_invalid(node: *const c_char, problem: Option<NameProblem>) {
    // SAFETY: guaranteed by the caller.
    let name = unsafe { CStr::from_ptr(node) }.to_string_lossy();
    let shown: String = name.chars().take(80).collect();
    let why = problem.map_or("not UTF-8".to_string(), |p| p.to_string());
    warn(&format!(
        "refused a lookup of {shown:?}: {why}; not a host name, nothing was sent"
    ));
}

/// What a hook does with its name argument.
pub(crate) enum Verdict<'a> {
    /// Call libc with the caller's arguments (no name to judge, or mocket's own call).
    Forward,
    /// An invalid name: answer "not found" without sending anything.
    Refused,
    /// Ask the engine about `name`, holding the guard meanwhile.
    Ask(&'a str, guard::Guard),
}

/// Classifies `node` and enters the guard.
///
/// # Safety
/// `node` must be null or a NUL-terminated string.
pub(crate) unsafe fn verdict<'a>(node: *const c_char) -> Verdict<'a> {
    // SAFETY: guaranteed by the caller.
    match (unsafe { classify(node) }, guard::enter()) {
        (Node::Name(name), Some(guard)) => Verdict::Ask(name, guard),
        (Node::Invalid(problem), Some(_guard)) => {
            // SAFETY: an invalid name is a non-null NUL-terminated string.
            unsafe { warn_invalid(node, problem) };
            Verdict::Refused
        }
        _ => Verdict::Forward,
    }
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
    if res.is_null() {
        // glibc itself would write through it and crash: a system error instead.
        errno::set(libc::EFAULT);
        return libc::EAI_SYSTEM;
    }
    // SAFETY: the caller passes getaddrinfo's arguments.
    let numeric_only =
        unsafe { hints.as_ref() }.is_some_and(|h| h.ai_flags & libc::AI_NUMERICHOST != 0);
    let judged = match numeric_only {
        true => Verdict::Forward,
        // SAFETY: node is null or NUL-terminated.
        false => unsafe { verdict(node) },
    };
    let (name, _guard) = match judged {
        Verdict::Ask(name, guard) => (name, guard),
        Verdict::Refused => return libc::EAI_NONAME,
        // SAFETY: forwarding the caller's arguments unchanged.
        Verdict::Forward => return unsafe { real::getaddrinfo(node, service, hints, res) },
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
    // SAFETY: result and h_errnop are the caller's out-parameters.
    let fail = |h_err: c_int, code: c_int| unsafe {
        *result = std::ptr::null_mut();
        *h_errnop = h_err;
        code
    };
    // SAFETY: node is null or NUL-terminated.
    let (name, _guard) = match unsafe { verdict(node) } {
        Verdict::Ask(name, guard) => (name, guard),
        Verdict::Refused => return fail(host_entry::HOST_NOT_FOUND, 0),
        Verdict::Forward => {
            // SAFETY: forwarding the caller's arguments unchanged.
            return unsafe { real::gethostbyname2_r(node, af, ret, buf, buflen, result, h_errnop) };
        }
    };
    let saved = Errno::save();
    let outcome = lookup(name);
    saved.restore();
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
    if matches!(unsafe { classify(node) }, Node::Libc) {
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
    if matches!(unsafe { classify(node) }, Node::Libc) || guard::enter().is_none() {
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
    if matches!(unsafe { classify(node) }, Node::Libc) {
        // SAFETY: forwarding the caller's argument unchanged.
        return unsafe { real::gethostbyname(node) };
    }
    // SAFETY: the same contract.
    unsafe { gethostbyname2(node, AF_INET) }
}

/// What a reverse lookup of an address gets.
enum Reverse {
    /// The name behind a fake address.
    Name(String),
    /// The real resolver may answer.
    Real,
    /// No name and no lookup: a fake address the engine never handed out, or a real address
    /// strict mode keeps from the resolver.
    NoName,
}

/// Asks the engine about a reverse lookup of `ip` (mocket's own calls: fake addresses get no
/// name, others the real resolver).
fn reverse(ip: IpAddr) -> Reverse {
    let Some(_guard) = guard::enter() else {
        return if is_fake(ip) {
            Reverse::NoName
        } else {
            Reverse::Real
        };
    };
    let saved = Errno::save();
    let reply = catch_unwind(|| link::reverse(ip))
        .unwrap_or_else(|_| Reply::Refuse(format!("internal error in a reverse lookup of {ip}")));
    saved.restore();
    match reply {
        Reply::Name(name) => Reverse::Name(name),
        Reply::Real if !is_fake(ip) => Reverse::Real,
        Reply::Refuse(message) if !is_fake(ip) => {
            warn(&message);
            Reverse::NoName
        }
        _ => Reverse::NoName,
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
    let copied = match Copied::from_user(sa, salen) {
        Ok(copied) => copied,
        Err(Fault) => {
            errno::set(libc::EFAULT);
            return libc::EAI_SYSTEM;
        }
    };
    let ip = copied.and_then(|c| c.socket_addr()).map(|a| a.ip());
    // No host name asked for, or a numeric one: libc looks nothing up.
    let no_lookup = host.is_null() || hostlen == 0 || flags & libc::NI_NUMERICHOST != 0;
    let (Some(copied), Some(ip), false) = (copied, ip, no_lookup) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    };
    let answer = reverse(ip);
    let numeric = match answer {
        Reverse::Real => 0,
        Reverse::Name(_) | Reverse::NoName => libc::NI_NUMERICHOST,
    };
    // SAFETY: our copy of the caller's address; the caller's buffers; without a real lookup
    // unless the engine allowed one.
    let r = unsafe {
        real::getnameinfo(
            copied.as_ptr(),
            copied.len(),
            host,
            hostlen,
            serv,
            servlen,
            flags | numeric,
        )
    };
    if r != 0 {
        return r;
    }
    match answer {
        Reverse::Real => 0,
        Reverse::Name(name) if name.len() < hostlen as usize => {
            // SAFETY: host has hostlen bytes; name plus its NUL fits.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr().cast(), host, name.len());
                *host.add(name.len()) = 0;
            }
            0
        }
        Reverse::Name(_) => libc::EAI_OVERFLOW,
        Reverse::NoName if flags & libc::NI_NAMEREQD != 0 => libc::EAI_NONAME,
        Reverse::NoName => 0,
    }
}

/// The address a `gethostbyaddr` call names, copied: `Ok(None)` for a family or length that
/// is not an IP address.
fn host_address(
    addr: *const c_void,
    len: socklen_t,
    kind: c_int,
) -> Result<Option<(Vec<u8>, IpAddr)>, Fault> {
    let mut bytes = match (kind, len) {
        (AF_INET, 4) | (AF_INET6, 16) => vec![0u8; len as usize],
        _ => return Ok(None),
    };
    copy_bytes(addr, &mut bytes)?;
    let ip = match <[u8; 4]>::try_from(bytes.as_slice()) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => IpAddr::from(<[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| Fault)?),
    };
    Ok(Some((bytes, ip)))
}

/// What a `gethostbyaddr` call does.
enum ByAddr {
    Forward,
    Fill(Vec<u8>, String),
    /// Fail with this h_errno.
    Fail(c_int),
}

fn by_addr(addr: *const c_void, len: socklen_t, kind: c_int) -> ByAddr {
    match host_address(addr, len, kind) {
        Err(Fault) => {
            errno::set(libc::EFAULT);
            ByAddr::Fail(host_entry::NETDB_INTERNAL)
        }
        Ok(None) => ByAddr::Forward,
        Ok(Some((bytes, ip))) => match reverse(ip) {
            Reverse::Real => ByAddr::Forward,
            Reverse::Name(name) => ByAddr::Fill(bytes, name),
            Reverse::NoName => ByAddr::Fail(host_entry::HOST_NOT_FOUND),
        },
    }
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
    let (bytes, name) = match by_addr(addr, len, kind) {
        ByAddr::Fill(bytes, name) => (bytes, name),
        ByAddr::Fail(h_err) => {
            // SAFETY: result and h_errnop are the caller's out-parameters.
            unsafe {
                *result = std::ptr::null_mut();
                *h_errnop = h_err;
            }
            return if h_err == host_entry::NETDB_INTERNAL {
                libc::EFAULT
            } else {
                0
            };
        }
        ByAddr::Forward => {
            // SAFETY: forwarding the caller's arguments unchanged.
            return unsafe {
                real::gethostbyaddr_r(addr, len, kind, ret, buf, buflen, result, h_errnop)
            };
        }
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
    let (bytes, name) = match by_addr(addr, len, kind) {
        ByAddr::Fill(bytes, name) => (bytes, name),
        ByAddr::Fail(h_err) => {
            host_entry::set_h_errno(h_err);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarding the caller's arguments unchanged.
        ByAddr::Forward => return unsafe { real::gethostbyaddr(addr, len, kind) },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_are_left_to_libc() {
        for numeric in [
            "127.0.0.1",
            "127.1",
            "10",
            "::1",
            "fe80::1%lo",
            "::ffff:1.2.3.4",
        ] {
            assert!(
                matches!(classify_bytes(numeric.as_bytes()), Node::Libc),
                "{numeric}"
            );
        }
    }

    #[test]
    fn names_are_judged_and_unfit_ones_refused() {
        assert!(matches!(
            classify_bytes(b"api.example.com"),
            Node::Name("api.example.com")
        ));
        assert!(matches!(classify_bytes(b"a:b"), Node::Name("a:b")));
        let long = "a".repeat(254);
        for bad in [
            &b"a\nb"[..],
            b"a b",
            b"a\tb",
            b"",
            b"\xff.example",
            long.as_bytes(),
        ] {
            assert!(matches!(classify_bytes(bad), Node::Invalid(_)), "{bad:?}");
        }
    }
}
