//! The operating-system layer of `mocket run --seccomp` (DESIGN section 10), behind a safe API:
//! the user-notification filter a child installs before `exec` ([`install`]), the listener's
//! ioctls ([`Listener`]), and what the supervisor does to a stopped caller ([`Caller`]): take
//! one of its file descriptors with `pidfd_getfd`, read its memory with `process_vm_readv`.
//!
//! All the unsafe code of the feature is here (mocket keeps unsafe code under `shim/`); the
//! policy lives in the daemon (`mocket-cli`), which decides each notification.

use std::io;

mod caller;
mod filter;
mod listener;
mod sockaddr;

pub use caller::Caller;
pub use filter::{FilterOptions, InstallError, install};
pub use listener::{Listener, Notification, Response, Syscall};
pub use sockaddr::{MMSGHDR_SIZE, MSGHDR_SIZE, encode_sockaddr, msghdr_name, parse_sockaddr};

/// What the kernel lacks for `--seccomp` (checked by the daemon before anything runs).
#[derive(Debug)]
pub struct Unsupported {
    /// The missing feature, as the kernel documentation names it.
    pub feature: &'static str,
    /// The kernel version that brought it.
    pub since: &'static str,
    pub error: io::Error,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this kernel refuses {} (Linux >= {} needed): {}",
            self.feature, self.since, self.error
        )
    }
}

impl std::error::Error for Unsupported {}

/// Checks, without installing anything, that the kernel offers what `--seccomp` uses:
/// user notification (5.0), `pidfd_open` (5.3) and `pidfd_getfd` (5.6, which comes after
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`, 5.5).
pub fn supported() -> Result<(), Unsupported> {
    if !filter::ARCH_SUPPORTED {
        return Err(Unsupported {
            feature: "seccomp user notification on this architecture (mocket knows x86_64 and aarch64)",
            since: "5.9",
            error: io::Error::from_raw_os_error(libc::ENOSYS),
        });
    }
    let mut action = libc::SECCOMP_RET_USER_NOTIF;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from a valid pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &raw mut action,
        )
    };
    if r != 0 {
        return Err(Unsupported {
            feature: "SECCOMP_RET_USER_NOTIF",
            since: "5.0",
            error: io::Error::last_os_error(),
        });
    }
    caller::check_pidfd_syscalls()
}
