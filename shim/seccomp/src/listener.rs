//! The supervisor's side of the filter: receive a notification, answer it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// The listener of an installed filter (`SECCOMP_FILTER_FLAG_NEW_LISTENER`).
#[derive(Debug)]
pub struct Listener(OwnedFd);

impl From<OwnedFd> for Listener {
    /// Wraps a descriptor that must be a seccomp listener (one taken from the child with
    /// [`crate::Caller::take_fd`]); the ioctls fail with `EINVAL` on anything else.
    fn from(fd: OwnedFd) -> Self {
        Listener(fd)
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

/// The system calls the filter notifies about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    Connect,
    Sendto,
    Sendmsg,
    Sendmmsg,
    Getpeername,
    Other(i32),
}

/// One stopped system call: the calling thread waits until it is answered.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's cookie, valid while the call waits.
    pub id: u64,
    /// The calling thread's id (in the supervisor's pid namespace).
    pub tid: u32,
    pub syscall: Syscall,
    pub args: [u64; 6],
}

/// How a notified call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The kernel runs the call as the caller made it (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
    Continue,
    /// The call returns -1 with this errno.
    Fail(i32),
    /// The call returns this value without running.
    Return(i64),
}

impl Listener {
    /// Waits for the next notification. A caller that died before it was read, or a signal
    /// to the supervisor, is retried here.
    pub fn receive(&self) -> io::Result<Notification> {
        loop {
            // SAFETY: seccomp_notif is plain data; all-zero is the required initial value.
            let mut raw: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: RECV fills a seccomp_notif of the size the kernel reports for this ABI.
            let r = unsafe {
                libc::ioctl(
                    self.0.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV,
                    &raw mut raw,
                )
            };
            if r == 0 {
                return Ok(Notification {
                    id: raw.id,
                    tid: raw.pid,
                    syscall: syscall_of(raw.data.nr),
                    args: raw.data.args,
                });
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                _ => return Err(error),
            }
        }
    }

    /// Whether the call is still waiting (its thread was not killed, its id not reused): asked
    /// after reading the caller's memory or taking its descriptors, before acting on them.
    pub fn still_waiting(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: ID_VALID reads one u64 from a valid pointer.
        unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &raw mut id,
            ) == 0
        }
    }

    /// Answers a notification. `ENOENT` means the call is gone (the thread was interrupted by
    /// a signal and will restart it, or died): nothing to do.
    pub fn respond(&self, id: u64, response: Response) -> io::Result<()> {
        // SAFETY: seccomp_notif_resp is plain data.
        let mut raw: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        raw.id = id;
        match response {
            Response::Continue => raw.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Response::Fail(code) => raw.error = -code,
            Response::Return(value) => raw.val = value,
        }
        // SAFETY: SEND reads a seccomp_notif_resp from a valid pointer.
        let r = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &raw mut raw,
            )
        };
        match r {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

fn syscall_of(nr: i32) -> Syscall {
    match nr as libc::c_long {
        libc::SYS_connect => Syscall::Connect,
        libc::SYS_sendto => Syscall::Sendto,
        libc::SYS_sendmsg => Syscall::Sendmsg,
        libc::SYS_sendmmsg => Syscall::Sendmmsg,
        libc::SYS_getpeername => Syscall::Getpeername,
        _ => Syscall::Other(nr),
    }
}
