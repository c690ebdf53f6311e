//! A process stopped in a notified call: its descriptors and its memory.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::Unsupported;

/// The process of a notifying thread, held by a pidfd so that a recycled pid can never be
/// mistaken for it.
#[derive(Debug)]
pub struct Caller {
    pidfd: OwnedFd,
    /// The process id (thread-group id).
    pub pid: u32,
    /// The thread that made the call.
    pub tid: u32,
}

impl Caller {
    /// Opens the process of thread `tid`. Check [`crate::Listener::still_waiting`] afterwards:
    /// the thread may have died and its id been reused in between.
    pub fn open(tid: u32) -> io::Result<Caller> {
        let (pidfd, pid) = match pidfd_open(tid) {
            Ok(fd) => (fd, tid),
            // Not a thread-group leader (EINVAL; ENOENT on recent kernels): open its process.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                let pid = thread_group_of(tid)?;
                (pidfd_open(pid)?, pid)
            }
            Err(e) => return Err(e),
        };
        Ok(Caller { pidfd, pid, tid })
    }

    /// A duplicate of the caller's descriptor `fd` (`pidfd_getfd`): the same open file, so the
    /// same kernel socket; what is done to it here is done to the caller's.
    pub fn take_fd(&self, fd: i32) -> io::Result<OwnedFd> {
        // SAFETY: pidfd_getfd with integer arguments; a returned descriptor is new and ours.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0) };
        match r {
            r if r >= 0 => Ok(unsafe_owned(r as i32)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// Reads `len` bytes (at most 4096) at `addr` in the calling thread's memory.
    pub fn read(&self, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        const MAX: usize = 4096;
        if len > MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to read {len} bytes of a caller's memory (at most {MAX})"),
            ));
        }
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` describes our own buffer of `len` bytes; the kernel checks `remote`
        // against the other process's mappings (never dereferenced here).
        let r = unsafe { libc::process_vm_readv(self.tid as i32, &local, 1, &remote, 1, 0) };
        match r {
            r if r < 0 => Err(io::Error::last_os_error()),
            r => {
                buf.truncate(r as usize);
                Ok(buf)
            }
        }
    }

    /// Writes `bytes` (at most 4096) at `addr` in the calling thread's memory: the answer of a
    /// call whose result is written through a pointer (`getpeername`).
    pub fn write(&self, addr: u64, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "refusing to write more than 4096 bytes into a caller's memory",
            ));
        }
        let local = libc::iovec {
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // SAFETY: `local` describes our own buffer, only read; the kernel checks `remote`
        // against the other process's writable mappings.
        let r = unsafe { libc::process_vm_writev(self.tid as i32, &local, 1, &remote, 1, 0) };
        match r {
            r if r as usize == bytes.len() => Ok(()),
            r if r < 0 => Err(io::Error::last_os_error()),
            _ => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "a partial write into a caller's memory",
            )),
        }
    }
}

/// Wraps a descriptor the kernel just returned.
fn unsafe_owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    match r {
        r if r >= 0 => Ok(unsafe_owned(r as i32)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The process a thread belongs to (`Tgid:` of `/proc/<tid>/status`).
fn thread_group_of(tid: u32) -> io::Result<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no Tgid in /proc/{tid}/status"),
            )
        })
}

/// `pidfd_open` (5.3) and `pidfd_getfd` (5.6) exist: called with a bad descriptor, they fail
/// with `EBADF` rather than `ENOSYS`.
pub(crate) fn check_pidfd_syscalls() -> Result<(), Unsupported> {
    let own = pidfd_open(std::process::id()).map_err(|error| Unsupported {
        feature: "pidfd_open",
        since: "5.3",
        error,
    })?;
    // SAFETY: pidfd_getfd with integer arguments; -1 is never a valid descriptor.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, own.as_raw_fd(), -1, 0) };
    let error = io::Error::last_os_error();
    match (r, error.raw_os_error()) {
        (r, _) if r >= 0 => Ok(()),
        (_, Some(libc::EBADF)) => Ok(()),
        _ => Err(Unsupported {
            feature: "pidfd_getfd",
            since: "5.6",
            error,
        }),
    }
}
