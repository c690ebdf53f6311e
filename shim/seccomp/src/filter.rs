//! The classic-BPF filter and its installation.
//!
//! What it does with each system call of the tree (x86_64 and aarch64 numbers):
//! - `connect`: notifies the supervisor (every family: BPF cannot read the address);
//! - `getpeername`: notifies, so that a redirected socket's peer is its original destination;
//! - `io_uring_setup`: `ENOSYS`, so runtimes fall back to plain syscalls (an io_uring
//!   `IORING_OP_CONNECT` would bypass the filter);
//! - strict only: `sendto` with a destination, `sendmsg`, `sendmmsg` notify (a `sendmsg`'s
//!   destination sits behind a pointer, so every call is asked about; `send`/`write` never are);
//!   another architecture's calls (32-bit `int 0x80`, x32) fail with `ENOSYS`;
//! - everything else is allowed without leaving the kernel: reads and writes never notify.
//!
//! When the supervisor's listener is closed (the daemon died), the kernel answers every
//! notifying call with `ENOSYS`: the tree fails closed.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::Listener;

#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ARCH: u32 = 0;

pub(crate) const ARCH_SUPPORTED: bool = NATIVE_ARCH != 0;

/// x32 system calls carry this bit in their number on x86_64.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// `args[4]` (sendto's `dest_addr`), low and high halves on these little-endian machines.
const ARG4_LOW: u32 = 16 + 8 * 4;
const ARG4_HIGH: u32 = ARG4_LOW + 4;

/// How the filter is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterOptions {
    /// Also ask about datagrams with a destination and refuse other architectures' calls.
    pub strict: bool,
}

/// Why the filter could not be installed.
#[derive(Debug)]
pub struct InstallError {
    pub step: &'static str,
    pub error: io::Error,
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot install the seccomp filter ({}): {}",
            self.step, self.error
        )
    }
}

impl std::error::Error for InstallError {}

/// One instruction with symbolic jump targets, resolved by [`assemble`].
#[derive(Clone, Copy)]
enum Op {
    Load(u32),
    /// Jump to the label when the accumulator equals the value, else fall through.
    JumpIfEqual(u32, Label),
    /// Jump to the label when the accumulator is >= the value, else fall through.
    JumpIfAtLeast(u32, Label),
    Return(u32),
    Mark(Label),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Label {
    Native,
    Notify,
    Foreign,
    NoSys,
    Allow,
    SendtoHigh,
}

fn errno_action(code: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (code as u32 & libc::SECCOMP_RET_DATA)
}

fn program(options: FilterOptions) -> Vec<Op> {
    use Label::*;
    use Op::*;
    let nr = |n: libc::c_long| n as u32;
    let foreign = match options.strict {
        true => errno_action(libc::ENOSYS),
        false => libc::SECCOMP_RET_ALLOW,
    };
    let mut ops = vec![
        Load(ARCH),
        JumpIfEqual(NATIVE_ARCH, Native),
        Return(foreign),
        Mark(Native),
        Load(NR),
    ];
    if cfg!(target_arch = "x86_64") {
        ops.push(JumpIfAtLeast(X32_SYSCALL_BIT, Foreign));
    }
    ops.extend([
        JumpIfEqual(nr(libc::SYS_connect), Notify),
        JumpIfEqual(nr(libc::SYS_getpeername), Notify),
        JumpIfEqual(nr(libc::SYS_io_uring_setup), NoSys),
    ]);
    if options.strict {
        ops.extend([
            JumpIfEqual(nr(libc::SYS_sendmsg), Notify),
            JumpIfEqual(nr(libc::SYS_sendmmsg), Notify),
            JumpIfEqual(nr(libc::SYS_sendto), SendtoHigh),
            Return(libc::SECCOMP_RET_ALLOW),
            // sendto: notify only with a destination (args[4] != NULL).
            Mark(SendtoHigh),
            Load(ARG4_HIGH),
            JumpIfAtLeast(1, Notify),
            Load(ARG4_LOW),
            JumpIfEqual(0, Allow),
            Return(libc::SECCOMP_RET_USER_NOTIF),
        ]);
    }
    ops.extend([
        Return(libc::SECCOMP_RET_ALLOW),
        Mark(Notify),
        Return(libc::SECCOMP_RET_USER_NOTIF),
        Mark(Foreign),
        Return(foreign),
        Mark(NoSys),
        Return(errno_action(libc::ENOSYS)),
        Mark(Allow),
        Return(libc::SECCOMP_RET_ALLOW),
    ]);
    ops
}

/// Resolves labels into relative jumps (all forward, as classic BPF requires).
fn assemble(ops: &[Op]) -> Vec<libc::sock_filter> {
    let mut at = std::collections::HashMap::new();
    let mut pc = 0usize;
    for op in ops {
        match op {
            Op::Mark(label) => {
                at.insert(*label, pc);
            }
            _ => pc += 1,
        }
    }
    let mut out = Vec::with_capacity(pc);
    for op in ops {
        let here = out.len();
        let offset = |label: &Label| -> u8 {
            let target = at[label];
            u8::try_from(target - here - 1).expect("a seccomp jump fits in 8 bits")
        };
        let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        match op {
            Op::Load(offset) => out.push(insn(
                libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
                0,
                0,
                *offset,
            )),
            Op::JumpIfEqual(k, label) => out.push(insn(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                offset(label),
                0,
                *k,
            )),
            Op::JumpIfAtLeast(k, label) => out.push(insn(
                libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
                offset(label),
                0,
                *k,
            )),
            Op::Return(k) => out.push(insn(libc::BPF_RET | libc::BPF_K, 0, 0, *k)),
            Op::Mark(_) => {}
        }
    }
    out
}

/// Installs the filter on the calling thread (and, through fork and exec, on everything it
/// starts) and returns the listener the supervisor decides with. Call it in a single-threaded
/// process, just before `exec`.
///
/// Without `CAP_SYS_ADMIN` the kernel requires `no_new_privs` first; it is set only then, so
/// a root tree keeps setuid programs working.
pub fn install(options: FilterOptions) -> Result<Listener, InstallError> {
    let code = assemble(&program(options));
    let fprog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_ptr().cast_mut(),
    };
    let attempt = || {
        // SAFETY: fprog points at `code`, alive for the call; the kernel copies the program.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &raw const fprog,
            )
        }
    };
    let mut fd = attempt();
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(InstallError {
                step: "prctl(PR_SET_NO_NEW_PRIVS)",
                error: io::Error::last_os_error(),
            });
        }
        fd = attempt();
    }
    if fd < 0 {
        return Err(InstallError {
            step: "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)",
            error: io::Error::last_os_error(),
        });
    }
    // SAFETY: the kernel just returned this descriptor (close-on-exec) and nothing else owns it.
    Ok(Listener::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_land_on_their_labels() {
        for strict in [false, true] {
            let ops = program(FilterOptions { strict });
            let code = assemble(&ops);
            // Every jump stays inside the program and every path ends in a return.
            for (pc, insn) in code.iter().enumerate() {
                if insn.code as u32 & 0x07 == libc::BPF_JMP {
                    assert!(pc + 1 + (insn.jt as usize) < code.len());
                }
            }
            let last = code.last().unwrap();
            assert_eq!(last.code as u32, libc::BPF_RET | libc::BPF_K);
        }
    }

    #[test]
    fn non_strict_leaves_datagrams_alone() {
        let code = assemble(&program(FilterOptions { strict: false }));
        let watched: Vec<u32> = code.iter().map(|i| i.k).collect();
        assert!(!watched.contains(&(libc::SYS_sendmsg as u32)));
        let strict = assemble(&program(FilterOptions { strict: true }));
        assert!(strict.iter().any(|i| i.k == libc::SYS_sendmsg as u32));
    }
}
