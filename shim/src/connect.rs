//! `connect`, `getpeername`, `sendto`, `sendmsg`: where each connection goes.

use std::net::{Ipv4Addr, SocketAddr};
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicU64, Ordering};

use libc::{AF_INET, AF_INET6, c_int, c_void, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::addr::{self, Copied, as_v4, socket_type};
use crate::errno::{self, Errno};
use crate::lasting;
use crate::link::{self, Reply, Transport};
use crate::user_mem::{self, Fault};
use crate::{guard, real, warn};
use mocket_control::Redirect;
use mocket_control::preamble::Preamble;
use mocket_control::source_tag::SourceTag;

/// What a hook does after asking.
enum Outcome {
    /// Call libc with the caller's own arguments.
    Untouched,
    /// Call libc with this destination instead, encoded for a socket of `family`.
    To { target: SocketAddr, family: c_int },
    /// Connect to the engine instead.
    Redirect(EngineRoute),
    /// Fail with this errno.
    Fail(c_int),
}

/// Where a redirected socket connects, and how the engine learns who it is.
struct EngineRoute {
    /// Where the application meant to connect.
    dest: SocketAddr,
    /// The family to encode addresses in ([`family_for`]).
    family: c_int,
    /// The engine's answer, as given: its port, whether the preamble may wait for the
    /// application's first bytes (`client_first`), and the source tag to connect from (without
    /// one, or when the socket cannot be bound to it, the preamble naming `dest` is written
    /// after connecting).
    redirect: Redirect,
}

/// Original destinations of redirected sockets, by fd, so `getpeername` can answer with them:
/// the original IPv4 address, its port and the engine's port, packed. A slot whose socket no
/// longer talks to that engine port is stale (the fd was closed and reused) and is ignored.
const PEERS_LEN: usize = 65536;
static PEERS: [AtomicU64; PEERS_LEN] = [const { AtomicU64::new(0) }; PEERS_LEN];

fn pack(orig: Ipv4Addr, orig_port: u16, engine_port: u16) -> u64 {
    (u64::from(u32::from(orig)) << 32) | (u64::from(orig_port) << 16) | u64::from(engine_port)
}

fn unpack(v: u64) -> (SocketAddr, u16) {
    let ip = Ipv4Addr::from((v >> 32) as u32);
    (SocketAddr::from((ip, (v >> 16) as u16)), v as u16)
}

/// # Safety
/// The arguments are those of libc's `connect`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let copied = match Copied::from_user(addr, len) {
        Ok(copied) => copied,
        Err(Fault) => return fail(libc::EFAULT),
    };
    let dest = copied.and_then(|c| c.socket_addr().map(|dest| (c, dest)));
    let (Some((copied, dest)), Some(_guard)) = (dest, guard::enter()) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::connect(fd, addr, len) };
    };
    let saved = Errno::save();
    let outcome = catch_unwind(|| decide(fd, dest)).unwrap_or_else(|_| {
        warn("internal error while routing a connect; refused");
        Outcome::Fail(libc::ECONNREFUSED)
    });
    match outcome {
        Outcome::Untouched => {
            saved.restore();
            // SAFETY: our copy of the caller's address, of its length.
            unsafe { real::connect(fd, copied.as_ptr(), copied.len()) }
        }
        Outcome::To { target, family } => {
            let (storage, len) = addr::encode(target, family);
            saved.restore();
            // SAFETY: storage holds a valid address of `len` bytes for the socket's family.
            unsafe { real::connect(fd, (&raw const storage).cast(), len) }
        }
        Outcome::Redirect(route) => {
            saved.restore();
            connect_to_engine(fd, &route)
        }
        Outcome::Fail(code) => fail(code),
    }
}

/// glibc's internal name for `connect`, exported too: a caller that binds to it directly is
/// judged the same way.
///
/// # Safety
/// The arguments are those of libc's `connect`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the same contract.
    unsafe { connect(fd, addr, len) }
}

fn errno_now() -> c_int {
    Errno::save().get()
}

/// Fails a hooked call with `code`, as libc does: -1 and errno.
fn fail<T: From<i8>>(code: c_int) -> T {
    errno::set(code);
    T::from(-1)
}

/// The family to encode a replacement for the caller's destination `dest` in: its own.
///
/// Why the caller's family is enough (no `getsockopt(SO_DOMAIN)`): a stream socket refuses an
/// address of another family before looking at it (an `AF_INET` address on an `AF_INET6`
/// socket with `EINVAL`, as it is shorter than an IPv6 one; an `AF_INET6` address on an
/// `AF_INET` socket with `EAFNOSUPPORT`), and so refuses a replacement of the same family with
/// the same errno: the application sees what it would see without mocket. A datagram's
/// destination is never replaced (an `AF_INET6` UDP socket takes an `AF_INET` address, and
/// gets it untouched). Left out: an `AF_INET` address passed with a length of 24 bytes or
/// more to an `AF_INET6` socket, which the kernel refuses with `EAFNOSUPPORT` and the
/// replacement (16 bytes) with `EINVAL`.
fn family_for(dest: SocketAddr) -> c_int {
    if dest.is_ipv4() { AF_INET } else { AF_INET6 }
}

/// How long a non-blocking connect to the engine may take to complete before the shim writes
/// the preamble: on loopback the handshake completes inside `connect`, so this only bounds an
/// engine whose listen backlog is full. Past it the connect is refused (fail closed).
const ENGINE_CONNECT_WAIT_MS: c_int = 2000;

/// Connects `fd` to the engine and introduces it: from the route's source tag (bound before
/// connecting), or else by writing the [`preamble`] (pid, original `dest`) before the
/// application can write anything. Returns what the application's `connect` returns: 0, or -1
/// with the kernel's errno (`EINPROGRESS` for a non-blocking socket, even though the handshake
/// is complete by then, as the application expects). A preamble that cannot be written refuses
/// the connect (`ECONNREFUSED`) and dissolves the connection.
///
/// A connect repeated on a socket whose connect is under way or done writes nothing: the kernel
/// answers it `EALREADY` or `EISCONN`, or 0 on a non-blocking socket whose connect completed.
/// (Left out: a socket whose non-blocking connect is repeated after it was made blocking again,
/// which gets 0 too and would write a second preamble.)
///
/// [`preamble`]: mocket_control::preamble
fn connect_to_engine(fd: c_int, route: &EngineRoute) -> c_int {
    let &EngineRoute {
        dest,
        family,
        redirect,
    } = route;
    let engine = redirect.engine();
    let tagged = redirect.from.is_some_and(|tag| tag_source(fd, tag, family));
    let (storage, len) = addr::encode(engine, family);
    // SAFETY: storage holds a valid address of `len` bytes for the socket's family.
    let r = unsafe { real::connect(fd, (&raw const storage).cast(), len) };
    let saved = Errno::save();
    if tagged || (r != 0 && saved.get() != libc::EINPROGRESS) {
        return r;
    }
    if r == 0 && is_nonblocking(fd) {
        // A first non-blocking connect returns EINPROGRESS; 0 answers a connect repeated to
        // learn that one completed (hiredis does so), which had its preamble then.
        return r;
    }
    let written = catch_unwind(|| write_preamble(fd, dest, redirect.client_first))
        .unwrap_or(Err("internal error"));
    match written {
        Ok(()) => {
            saved.restore();
            r
        }
        Err(why) => {
            warn(&format!(
                "refused a connect to {dest}: cannot write the connection's preamble to the \
                 engine at {engine} ({why}); is the engine overloaded or gone?"
            ));
            dissolve(fd);
            fail(libc::ECONNREFUSED)
        }
    }
}

/// Binds `fd` to `tag`'s address (its port chosen at connect: `IP_BIND_ADDRESS_NO_PORT`, so
/// tags do not use up ports); whether the socket now connects from that tag, which is also the
/// case when a connect repeated on the socket bound it before. A socket the application bound
/// itself keeps its address and gets a preamble. Leaves errno as it found it.
fn tag_source(fd: c_int, tag: SourceTag, family: c_int) -> bool {
    let saved = Errno::save();
    let one: c_int = 1;
    let (storage, len) = addr::encode(SocketAddr::from((tag.address(), 0)), family);
    // SAFETY: an int option of its size; a socket option the kernel may not know only fails.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast(),
            size_of::<c_int>() as socklen_t,
        )
    };
    // SAFETY: storage holds a valid address of `len` bytes for the socket's family.
    let bound =
        unsafe { libc::bind(fd, (&raw const storage).cast(), len) } == 0 || local_tag(fd).is_some();
    saved.restore();
    bound
}

/// The source tag `fd` is bound to, if any.
fn local_tag(fd: c_int) -> Option<SourceTag> {
    // SAFETY: getsockname writes at most `len` bytes at `addr`, both ours.
    let local = address_of(|addr, len| unsafe { libc::getsockname(fd, addr, len) })?;
    SourceTag::of_address(as_v4(local.ip())?)
}

/// The address `query` (`getsockname` or the real `getpeername` of a socket) writes, read into
/// a whole buffer of our own, whatever the application's buffer can hold.
fn address_of(query: impl FnOnce(*mut sockaddr, *mut socklen_t) -> c_int) -> Option<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    if query((&raw mut storage).cast(), &mut len) != 0 {
        return None;
    }
    // SAFETY: the kernel wrote a valid address of `len` bytes.
    unsafe { addr::read((&raw const storage).cast(), len) }
}

/// Writes the preamble on a socket whose connect to the engine returned 0 or `EINPROGRESS`,
/// with the real `sendto` (no read or write path is hooked), waiting at most
/// [`ENGINE_CONNECT_WAIT_MS`] for the socket to become writable.
///
/// `client_first` (every protocol at the destination has the client speak first): sent with
/// `MSG_MORE`, so the kernel holds the preamble until the application's first write and sends
/// both in one segment: the engine wakes once, with the request, instead of once for the
/// preamble and again for the request (issue 15). An application that stays silent gets its
/// preamble sent by the kernel's probe timer (from 200 ms; seconds once the cached round-trip
/// time of loopback grew, and the engine waits for it), or at once by setting `TCP_NODELAY`;
/// a protocol where the server may speak first never waits.
fn write_preamble(fd: c_int, dest: SocketAddr, client_first: bool) -> Result<(), &'static str> {
    let preamble = Preamble {
        pid: crate::pid::current(),
        addr: dest.ip(),
        port: dest.port(),
    }
    .encode();
    let mut rest: &[u8] = &preamble;
    let mut waited = false;
    while !rest.is_empty() {
        let more = if client_first { libc::MSG_MORE } else { 0 };
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | more;
        // SAFETY: rest is valid for reads of its length; no address is passed.
        let n = unsafe {
            real::sendto(
                fd,
                rest.as_ptr().cast(),
                rest.len(),
                flags,
                std::ptr::null(),
                0,
            )
        };
        if n > 0 {
            rest = &rest[n as usize..];
            continue;
        }
        match Errno::save().get() {
            libc::EINTR => {}
            libc::EAGAIN | libc::ENOTCONN if !waited => {
                waited = true;
                wait_writable(fd)?;
            }
            libc::EAGAIN | libc::ENOTCONN => return Err("the connection did not complete in time"),
            _ => return Err("the engine closed the connection"),
        }
    }
    Ok(())
}

/// Whether `fd` is in non-blocking mode.
fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL reads the file status flags of any fd; a bad fd only fails.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags != -1 && flags & libc::O_NONBLOCK != 0
}

/// Waits until `fd` is connected and writable, at most [`ENGINE_CONNECT_WAIT_MS`].
fn wait_writable(fd: c_int) -> Result<(), &'static str> {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, ENGINE_CONNECT_WAIT_MS) } {
            1 if poll.revents & (libc::POLLERR | libc::POLLHUP) != 0 => {
                return Err("the engine refused the connection");
            }
            1 => return Ok(()),
            0 => return Err("the connection did not complete in time"),
            _ if Errno::save().get() == libc::EINTR => {}
            _ => return Err("poll failed"),
        }
    }
}

/// Ends the association of a socket whose preamble could not be written, so nothing the
/// application writes later reaches the engine without one (`connect` to `AF_UNSPEC`).
fn dissolve(fd: c_int) {
    // SAFETY: all-zero is a valid sockaddr; AF_UNSPEC is 0.
    let unspec: libc::sockaddr = unsafe { std::mem::zeroed() };
    let len = size_of::<libc::sockaddr>() as socklen_t;
    // SAFETY: a valid address of `len` bytes.
    unsafe { real::connect(fd, &unspec, len) };
}

/// Asks the engine about a connect (or datagram) from `fd` to `dest`.
fn decide(fd: c_int, dest: SocketAddr) -> Outcome {
    crate::failpoint("connect");
    let Some(kind) = socket_type(fd) else {
        return Outcome::Untouched;
    };
    let family = family_for(dest);
    if kind != libc::SOCK_STREAM {
        return decide_datagram(dest);
    }
    if let Some(known) = lasting::lookup(dest) {
        return redirect(fd, dest, known, family);
    }
    match link::route(Transport::Tcp, dest) {
        Reply::Redirect(to) => {
            if to.lasting {
                lasting::remember(dest, to);
            }
            redirect(fd, dest, to, family)
        }
        Reply::Pass => Outcome::Untouched,
        Reply::PassHost(name) => pass_to_host(&name, dest.port(), family),
        Reply::Refuse(message) => refuse(&message),
        other => refuse(&format!("unexpected engine reply {other:?} for {dest}")),
    }
}

fn redirect(fd: c_int, dest: SocketAddr, to: Redirect, family: c_int) -> Outcome {
    remember_peer(fd, dest, to.port);
    Outcome::Redirect(EngineRoute {
        dest,
        family,
        redirect: to,
    })
}

fn decide_datagram(dest: SocketAddr) -> Outcome {
    match link::route(Transport::Udp, dest) {
        Reply::Pass => Outcome::Untouched,
        Reply::Refuse(message) => {
            warn(&message);
            Outcome::Fail(libc::EPERM)
        }
        other => refuse(&format!("unexpected engine reply {other:?} for udp {dest}")),
    }
}

fn refuse(message: &str) -> Outcome {
    warn(message);
    Outcome::Fail(libc::ECONNREFUSED)
}

fn remember_peer(fd: c_int, dest: SocketAddr, engine_port: u16) {
    let slot = usize::try_from(fd).ok().and_then(|i| PEERS.get(i));
    if let (Some(slot), Some(v4)) = (slot, as_v4(dest.ip())) {
        slot.store(pack(v4, dest.port(), engine_port), Ordering::Relaxed);
    }
}

/// A mocked name on a port without entries, outside strict mode: the real host.
fn pass_to_host(name: &str, port: u16, family: c_int) -> Outcome {
    let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(name, port));
    let found = addrs
        .ok()
        .and_then(|mut it| it.find(|a| family == AF_INET6 || a.is_ipv4()));
    match found {
        Some(target) => Outcome::To { target, family },
        None => refuse(&format!(
            "cannot resolve {name} for a pass-through connection"
        )),
    }
}

/// The original destination of a socket the shim redirected; a socket whose slot is empty (most
/// sockets: the application's own, the allowed ones) is forwarded to libc with no system call
/// more than the application's.
///
/// # Safety
/// The arguments are those of libc's `getpeername`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let slot = usize::try_from(fd).ok().and_then(|i| PEERS.get(i));
    let Some(slot) = slot.filter(|slot| slot.load(Ordering::Relaxed) != 0) else {
        // SAFETY: forwarding the caller's arguments unchanged.
        return unsafe { real::getpeername(fd, addr, len) };
    };
    // An unreadable `len` is the kernel's to refuse (EFAULT).
    let capacity = user_mem::read(len).unwrap_or(0);
    // SAFETY: forwarding the caller's arguments unchanged.
    let r = unsafe { real::getpeername(fd, addr, len) };
    let packed = slot.load(Ordering::Relaxed);
    if r != 0 || capacity == 0 || packed == 0 {
        return r;
    }
    let (orig, engine_port) = unpack(packed);
    // Checked on a whole address: a buffer too short to hold one (a peer read in part) gets
    // the first bytes of the original destination, never the engine's.
    // SAFETY: getpeername writes at most `len` bytes at `addr`, both ours.
    let peer = address_of(|addr, len| unsafe { real::getpeername(fd, addr, len) });
    let Some(peer) = peer.filter(|peer| is_engine(*peer, engine_port)) else {
        // The fd was closed and reused for a socket that does not talk to our engine.
        slot.store(0, Ordering::Relaxed);
        return r;
    };
    // The kernel's answer is in the socket's family: ours must be too.
    let family = if peer.is_ipv6() { AF_INET6 } else { AF_INET };
    let (storage, full) = addr::encode(orig, family);
    // SAFETY: copying at most `capacity` bytes into the caller's buffer, as the kernel does.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&raw const storage).cast::<u8>(),
            addr.cast::<u8>(),
            capacity.min(full) as usize,
        );
        *len = full;
    }
    0
}

/// Whether `peer` is the engine listening on loopback at `engine_port`.
fn is_engine(peer: SocketAddr, engine_port: u16) -> bool {
    as_v4(peer.ip()).is_some_and(|ip| ip.is_loopback()) && peer.port() == engine_port
}

/// `sendto` with a destination: a datagram (UDP policy) or a TCP Fast Open connect. Without a
/// destination it is the data path and goes straight to libc.
///
/// # Safety
/// The arguments are those of libc's `sendto`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    let copied = match Copied::from_user(addr, len) {
        Ok(copied) => copied,
        Err(Fault) => return fail(libc::EFAULT),
    };
    let (target, target_len) = copied.map_or((addr, len), |c| (c.as_ptr(), c.len()));
    match policy_for_send(fd, copied) {
        // SAFETY: the caller's arguments, the address being our copy of theirs.
        Outcome::Untouched => unsafe { real::sendto(fd, buf, n, flags, target, target_len) },
        Outcome::To { target, family } => {
            let (storage, len) = addr::encode(target, family);
            // SAFETY: storage holds a valid address of `len` bytes.
            unsafe { real::sendto(fd, buf, n, flags, (&raw const storage).cast(), len) }
        }
        Outcome::Redirect(route) => {
            // A Fast Open connect: the preamble must come first, so connect, then send.
            if connect_to_engine(fd, &route) != 0 && errno_now() != libc::EINPROGRESS {
                return -1;
            }
            let flags = flags & !libc::MSG_FASTOPEN;
            // SAFETY: the caller's buffer, on the now connected socket, without an address.
            unsafe { real::sendto(fd, buf, n, flags, std::ptr::null(), 0) }
        }
        Outcome::Fail(code) => fail(code),
    }
}

/// # Safety
/// The arguments are those of libc's `sendmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if msg.is_null() {
        // SAFETY: the kernel refuses a null message (EFAULT).
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    let Ok(header) = user_mem::read(msg) else {
        return fail(libc::EFAULT);
    };
    let copied = match Copied::from_user(header.msg_name.cast(), header.msg_namelen) {
        Ok(copied) => copied,
        Err(Fault) => return fail(libc::EFAULT),
    };
    match policy_for_send(fd, copied) {
        Outcome::Untouched => {
            let mut header = header;
            if let Some(c) = &copied {
                header.msg_name = c.as_ptr().cast_mut().cast();
            }
            // SAFETY: our copy of the caller's msghdr, sharing their buffers; its address is
            // our copy of theirs, which outlives the call.
            unsafe { real::sendmsg(fd, &header, flags) }
        }
        Outcome::To { target, family } => sendmsg_to(fd, header, flags, target, family),
        Outcome::Redirect(route) => {
            // A Fast Open connect: the preamble must come first, so connect, then send.
            if connect_to_engine(fd, &route) != 0 && errno_now() != libc::EINPROGRESS {
                return -1;
            }
            let mut header = header;
            header.msg_name = std::ptr::null_mut();
            header.msg_namelen = 0;
            // SAFETY: the caller's msghdr without its address, on the now connected socket.
            unsafe { real::sendmsg(fd, &header, flags & !libc::MSG_FASTOPEN) }
        }
        Outcome::Fail(code) => fail(code),
    }
}

/// `sendmsg` of the caller's message (copied) to `target` instead of its own destination.
fn sendmsg_to(
    fd: c_int,
    mut header: msghdr,
    flags: c_int,
    target: SocketAddr,
    family: c_int,
) -> ssize_t {
    let (mut storage, len) = addr::encode(target, family);
    header.msg_name = (&raw mut storage).cast();
    header.msg_namelen = len;
    // SAFETY: header is the caller's msghdr with our address, which outlives the call.
    unsafe { real::sendmsg(fd, &header, flags) }
}

/// The kernel's limit on messages per `sendmmsg` (UIO_MAXIOV): it sends at most that many.
const MAX_MMSG: usize = 1024;

/// Every message with a destination is judged like a `sendto`; when any is refused, the whole
/// call fails with that error and nothing is sent.
///
/// # Safety
/// The arguments are those of libc's `sendmmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgvec: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
) -> c_int {
    let count = (vlen as usize).min(MAX_MMSG);
    if count > 0 {
        let Ok(messages) = user_mem::read_array(msgvec.cast_const(), count) else {
            return fail(libc::EFAULT);
        };
        let judged = catch_unwind(|| judge_messages(fd, &messages)).unwrap_or_else(|_| {
            warn("internal error while routing a sendmmsg; refused");
            Err(libc::EPERM)
        });
        if let Err(code) = judged {
            return fail(code);
        }
    }
    // SAFETY: forwarding the caller's arguments unchanged.
    unsafe { real::sendmmsg(fd, msgvec, vlen, flags) }
}

/// Judges each distinct destination of a `sendmmsg` once; the error of the first refusal.
fn judge_messages(fd: c_int, messages: &[libc::mmsghdr]) -> Result<(), c_int> {
    let mut judged: Vec<SocketAddr> = Vec::new();
    for message in messages {
        let header = &message.msg_hdr;
        let copied = Copied::from_user(header.msg_name.cast(), header.msg_namelen)
            .map_err(|Fault| libc::EFAULT)?;
        let dest = copied.and_then(|c| c.socket_addr());
        if dest.is_none_or(|d| judged.contains(&d)) {
            continue;
        }
        match policy_for_send(fd, copied) {
            Outcome::Untouched => judged.extend(dest),
            Outcome::Fail(code) => return Err(code),
            Outcome::To { .. } | Outcome::Redirect(_) => {
                warn("sendmmsg to a mocked TCP destination (Fast Open) is not supported; refused");
                return Err(libc::ECONNREFUSED);
            }
        }
    }
    Ok(())
}

/// Judges a send to `copied` (when it is an IP address).
fn policy_for_send(fd: c_int, copied: Option<Copied>) -> Outcome {
    let dest = copied.and_then(|c| c.socket_addr());
    let (Some(dest), Some(_guard)) = (dest, guard::enter()) else {
        return Outcome::Untouched;
    };
    let saved = Errno::save();
    let outcome = catch_unwind(|| decide(fd, dest)).unwrap_or_else(|_| {
        warn("internal error while routing a send; refused");
        Outcome::Fail(libc::EPERM)
    });
    saved.restore();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counted::{self, Calls};
    use std::net::TcpListener;

    /// A socket of `family` connected (with libc's own connect, not the hook) to a fresh
    /// listener on loopback, and that listener.
    fn connected(family: c_int) -> (c_int, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0);
        let (storage, len) = addr::encode(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), family);
        // SAFETY: a valid address of `len` bytes.
        let r = unsafe { real::connect(fd, (&raw const storage).cast(), len) };
        assert_eq!(r, 0, "connect to the test listener");
        PEERS[fd as usize].store(0, Ordering::Relaxed);
        (fd, listener)
    }

    /// The hook's answer for `fd` with a buffer of `capacity` bytes.
    fn peer_of(fd: c_int, capacity: socklen_t) -> (c_int, Option<SocketAddr>, socklen_t) {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = capacity;
        // SAFETY: storage holds `capacity` (at most its size) writable bytes.
        let r = unsafe { getpeername(fd, (&raw mut storage).cast(), &mut len) };
        // SAFETY: storage is ours and initialised.
        let peer = unsafe { addr::read((&raw const storage).cast(), capacity.min(len)) };
        (r, peer, len)
    }

    fn close(fd: c_int) {
        PEERS[fd as usize].store(0, Ordering::Relaxed);
        // SAFETY: closing the test's own socket.
        unsafe { libc::close(fd) };
    }

    const FULL: socklen_t = size_of::<libc::sockaddr_storage>() as socklen_t;

    /// No call at all.
    const NONE: Calls = Calls {
        checked_reads: 0,
        socket_queries: 0,
    };

    #[test]
    fn a_socket_never_redirected_costs_getpeername_no_call_more() {
        let (fd, listener) = connected(AF_INET);
        let (answer, calls) = counted::during(|| peer_of(fd, FULL));
        let expected = listener.local_addr().unwrap();
        assert_eq!(
            answer,
            (
                0,
                Some(expected),
                size_of::<libc::sockaddr_in>() as socklen_t
            )
        );
        assert_eq!(calls, NONE);
        close(fd);
    }

    #[test]
    fn a_redirected_socket_answers_its_destination_in_the_sockets_family() {
        let dest: SocketAddr = "198.18.0.9:443".parse().unwrap();
        for (family, size) in [
            (AF_INET, size_of::<libc::sockaddr_in>()),
            (AF_INET6, size_of::<libc::sockaddr_in6>()),
        ] {
            let (fd, listener) = connected(family);
            remember_peer(fd, dest, listener.local_addr().unwrap().port());
            let ((r, peer, len), calls) = counted::during(|| peer_of(fd, FULL));
            assert_eq!((r, len), (0, size as socklen_t), "family {family}");
            let peer = peer.unwrap();
            assert_eq!(peer.is_ipv6(), family == AF_INET6);
            assert_eq!((as_v4(peer.ip()), peer.port()), (as_v4(dest.ip()), 443));
            assert_eq!(
                calls.socket_queries, 0,
                "the family comes from the kernel's answer"
            );
            close(fd);
        }
    }

    #[test]
    fn a_stale_slot_is_forgotten_and_the_real_peer_answered() {
        let (fd, listener) = connected(AF_INET);
        let port = listener.local_addr().unwrap().port();
        remember_peer(fd, "198.18.0.10:80".parse().unwrap(), port.wrapping_add(1));
        let (r, peer, _) = peer_of(fd, FULL);
        assert_eq!((r, peer), (0, Some(listener.local_addr().unwrap())));
        assert_eq!(PEERS[fd as usize].load(Ordering::Relaxed), 0);
        close(fd);
    }

    /// libc's connect of a fresh non-blocking stream socket of `family` to `addr` encoded in
    /// `addr_family`: 0 or the errno.
    fn connect_errno(family: c_int, addr: SocketAddr, addr_family: c_int) -> c_int {
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        let (storage, len) = addr::encode(addr, addr_family);
        // SAFETY: a valid address of `len` bytes.
        let r = unsafe { real::connect(fd, (&raw const storage).cast(), len) };
        let errno = if r == 0 { 0 } else { errno_now() };
        close(fd);
        errno
    }

    /// The claim [`family_for`] rests on: the kernel refuses a destination in another family
    /// than the socket's whatever its address, so the engine's address encoded in the caller's
    /// family is refused with the very errno the caller's own address gets.
    #[test]
    fn a_replacement_in_the_callers_family_fails_as_the_callers_address_does() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let engine = listener.local_addr().unwrap();
        let fake: SocketAddr = "198.18.0.12:80".parse().unwrap();
        for (socket, dest, expected) in [
            (AF_INET6, fake, libc::EINVAL),
            (
                AF_INET,
                "[::ffff:198.18.0.12]:80".parse().unwrap(),
                libc::EAFNOSUPPORT,
            ),
            (
                AF_INET,
                "[2001:db8::1]:80".parse().unwrap(),
                libc::EAFNOSUPPORT,
            ),
        ] {
            let family = family_for(dest);
            let callers = connect_errno(socket, dest, family);
            let ours = connect_errno(socket, engine, family);
            assert_eq!(
                (callers, ours),
                (expected, expected),
                "socket family {socket}, destination {dest}"
            );
        }
        // In the socket's own family, the replacement connects.
        let mapped: SocketAddr = "[::ffff:198.18.0.12]:80".parse().unwrap();
        for (socket, dest) in [(AF_INET, fake), (AF_INET6, mapped)] {
            let errno = connect_errno(socket, engine, family_for(dest));
            assert!(
                matches!(errno, 0 | libc::EINPROGRESS),
                "{dest}: errno {errno}"
            );
        }
    }
}
