//! The raw DNS functions (`res_query` and its relatives, `res_send`): libc sends the query
//! when the engine allows the name, else the call fails as for an unknown name. Strict mode
//! cannot fake a DNS answer for a name it does not know, so nothing is sent.

use std::ffi::CStr;
use std::panic::catch_unwind;

use libc::{c_char, c_int, c_uchar, c_void};

use mocket_control::check_name;

use crate::errno::{self, Errno};
use crate::host_entry::{self, HOST_NOT_FOUND, NO_RECOVERY};
use crate::link::{self, Reply};
use crate::resolver::{Verdict, verdict};
use crate::user_mem::copy_bytes;
use crate::{guard, real, warn};

/// Asks the engine whether libc may send a query for `name`; `Err(h_errno)` when not.
fn ask(name: &str) -> Result<(), c_int> {
    let saved = Errno::save();
    let reply = catch_unwind(|| link::query(name))
        .unwrap_or_else(|_| Reply::Refuse(format!("internal error while querying {name}")));
    saved.restore();
    match reply {
        Reply::Real => Ok(()),
        Reply::Refuse(message) => {
            warn(&message);
            Err(HOST_NOT_FOUND)
        }
        other => {
            warn(&format!(
                "unexpected engine reply {other:?} for a DNS query of {name}"
            ));
            Err(NO_RECOVERY)
        }
    }
}

/// Whether libc may query the name at `node`. Unlike a lookup, a numeric name is a name here
/// (`res_query("8.8.8.8")` asks a nameserver).
///
/// # Safety
/// `node` must be null or a NUL-terminated string.
unsafe fn may_query(node: *const c_char) -> Result<(), c_int> {
    if node.is_null() {
        return Ok(());
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { CStr::from_ptr(node) }.to_bytes();
    match std::str::from_utf8(bytes) {
        // SAFETY: as above.
        Ok(name) if check_name(name).is_ok() => match guard::enter() {
            Some(_guard) => ask(name),
            None => Ok(()),
        },
        // SAFETY: as above.
        _ => match unsafe { verdict(node) } {
            Verdict::Forward => Ok(()),
            Verdict::Refused | Verdict::Ask(..) => Err(HOST_NOT_FOUND),
        },
    }
}

/// Whether libc may query `name` in `domain` (`res_querydomain`): the name it would send.
///
/// # Safety
/// Both must be null or NUL-terminated strings.
unsafe fn may_query_in(node: *const c_char, domain: *const c_char) -> Result<(), c_int> {
    if node.is_null() || domain.is_null() {
        // SAFETY: guaranteed by the caller.
        return unsafe { may_query(node) };
    }
    // SAFETY: guaranteed by the caller.
    let (name, domain) = unsafe { (CStr::from_ptr(node), CStr::from_ptr(domain)) };
    let mut full = name.to_bytes().to_vec();
    full.push(b'.');
    full.extend_from_slice(domain.to_bytes());
    match std::ffi::CString::new(full) {
        // SAFETY: a NUL-terminated string we own.
        Ok(full) => unsafe { may_query(full.as_ptr()) },
        Err(_) => Err(HOST_NOT_FOUND),
    }
}

/// The question names of a DNS query packet; `None` when it cannot be read as one.
fn question_names(packet: &[u8]) -> Option<Vec<String>> {
    let count = u16::from_be_bytes(packet.get(4..6)?.try_into().ok()?);
    let mut at = 12;
    let mut names = Vec::new();
    for _ in 0..count {
        let mut labels: Vec<&str> = Vec::new();
        loop {
            let len = usize::from(*packet.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            // Longer labels are compression pointers or extended types: not in a question.
            if len > 63 {
                return None;
            }
            let label = std::str::from_utf8(packet.get(at..at + len)?).ok()?;
            if label.contains('.') {
                return None;
            }
            labels.push(label);
            at += len;
        }
        packet.get(at..at + 4)?; // type and class
        at += 4;
        names.push(labels.join("."));
    }
    (!names.is_empty()).then_some(names)
}

/// The longest message `res_send` is given (a DNS message over TCP).
const MAX_MESSAGE: usize = 65535;

/// Whether libc may send the query packet at `msg`: every question's name is judged.
fn may_send(msg: *const c_uchar, msglen: c_int) -> Result<(), c_int> {
    let len = usize::try_from(msglen).unwrap_or(0).min(MAX_MESSAGE);
    let mut packet = vec![0u8; len];
    if copy_bytes(msg.cast(), &mut packet).is_err() {
        errno::set(libc::EFAULT);
        return Err(NO_RECOVERY);
    }
    let Some(_guard) = guard::enter() else {
        return Ok(());
    };
    let Some(names) = question_names(&packet) else {
        warn("refused a raw DNS message whose question cannot be read; nothing was sent");
        return Err(NO_RECOVERY);
    };
    for name in names {
        if let Err(problem) = check_name(&name) {
            warn(&format!(
                "refused a raw DNS query of {name:?}: {problem}; nothing was sent"
            ));
            return Err(HOST_NOT_FOUND);
        }
        ask(&name)?;
    }
    Ok(())
}

/// Runs `send` when `judged` allows it, else fails as libc does for an unknown name.
fn judged_call(judged: Result<(), c_int>, send: impl FnOnce() -> c_int) -> c_int {
    match judged {
        Ok(()) => send(),
        Err(h_errno) => {
            host_entry::set_h_errno(h_errno);
            -1
        }
    }
}

/// Declares a hook and its glibc alias for a function whose arguments include a name.
macro_rules! query_hooks {
    ($(($name:ident, $alias:ident, $real:path, |$($arg:ident : $ty:ty),*| $judge:expr);)*) => {$(
        /// # Safety
        /// The arguments are those of libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            // SAFETY: the caller passes this function's arguments: the strings are null or
            // NUL-terminated, the buffers as libc documents.
            #[allow(unused_unsafe)]
            let judged = catch_unwind(|| unsafe { $judge }).unwrap_or(Err(NO_RECOVERY));
            // SAFETY: forwarding the caller's arguments unchanged.
            judged_call(judged, || unsafe { $real($($arg),*) })
        }

        /// glibc's other name for the same function.
        ///
        /// # Safety
        /// As above.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $alias($($arg: $ty),*) -> c_int {
            // SAFETY: the same contract.
            unsafe { $name($($arg),*) }
        }
    )*};
}

query_hooks! {
    (res_query, __res_query, real::res_query,
        |name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query(name));
    (res_search, __res_search, real::res_search,
        |name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query(name));
    (res_querydomain, __res_querydomain, real::res_querydomain,
        |name: *const c_char, domain: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query_in(name, domain));
    (res_nquery, __res_nquery, real::res_nquery,
        |state: *mut c_void, name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query(name));
    (res_nsearch, __res_nsearch, real::res_nsearch,
        |state: *mut c_void, name: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query(name));
    (res_nquerydomain, __res_nquerydomain, real::res_nquerydomain,
        |state: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, kind: c_int, answer: *mut c_uchar, anslen: c_int|
        may_query_in(name, domain));
    (res_send, __res_send, real::res_send,
        |msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int|
        may_send(msg, msglen));
    (res_nsend, __res_nsend, real::res_nsend,
        |state: *mut c_void, msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int|
        may_send(msg, msglen));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query packet for `labels` (type A, class IN), as res_mkquery builds it.
    fn packet(questions: &[&[&[u8]]]) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 1, 0, 0, questions.len() as u8, 0, 0, 0, 0, 0, 0];
        for labels in questions {
            for label in *labels {
                p.push(label.len() as u8);
                p.extend_from_slice(label);
            }
            p.extend_from_slice(&[0, 0, 1, 0, 1]);
        }
        p
    }

    #[test]
    fn reads_the_question_names() {
        let p = packet(&[&[b"www", b"example", b"org"]]);
        assert_eq!(
            question_names(&p),
            Some(vec!["www.example.org".to_string()])
        );
        let two = packet(&[&[b"a"], &[b"b", b"c"]]);
        assert_eq!(question_names(&two), Some(vec!["a".into(), "b.c".into()]));
    }

    #[test]
    fn refuses_what_is_not_a_plain_question() {
        let p = packet(&[&[b"www", b"example", b"org"]]);
        assert_eq!(question_names(&p[..p.len() - 1]), None, "truncated");
        assert_eq!(question_names(&p[..8]), None, "header only");
        assert_eq!(question_names(&packet(&[])), None, "no question");
        assert_eq!(
            question_names(&packet(&[&[b"a.b"]])),
            None,
            "dot in a label"
        );
        assert_eq!(question_names(&packet(&[&[b"\xff"]])), None, "not UTF-8");
        let mut pointer = packet(&[&[b"a"]]);
        pointer[12] = 0xc0;
        assert_eq!(question_names(&pointer), None, "compression pointer");
        // A name with a line break parses, and check_name refuses it.
        let names = question_names(&packet(&[&[b"a\nb"]])).unwrap();
        assert!(check_name(&names[0]).is_err());
    }
}
