//! Whether a command is dynamically linked: `mocket run` turns `--seccomp` on by itself for a
//! CMD that `LD_PRELOAD` cannot reach (an ELF executable without a `PT_INTERP` header: static
//! C, Go without cgo).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

const PT_INTERP: u32 = 3;
/// Program headers beyond this many are not read (real executables have about a dozen).
const MAX_HEADERS: usize = 256;

/// `true` when `program` (looked up in `PATH` like `exec` does) is an ELF executable without
/// an interpreter; `false` for dynamic executables, scripts and anything unreadable.
pub fn is_static_executable(program: &OsStr) -> bool {
    let Some(path) = find_in_path(program) else {
        return false;
    };
    let mut bytes = Vec::new();
    let limit = 64 * 1024;
    let read = std::fs::File::open(&path).and_then(|f| f.take(limit).read_to_end(&mut bytes));
    read.is_ok() && lacks_interpreter(&bytes) == Some(true)
}

fn find_in_path(program: &OsStr) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return Some(path.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn field(bytes: &[u8], at: usize, len: usize) -> Option<u64> {
    let b = bytes.get(at..at + len)?;
    Some(
        b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
    )
}

/// `Some(true)` for an ELF (little-endian, 32 or 64 bits) without `PT_INTERP`, `Some(false)`
/// with one, `None` when it is not an ELF whose headers are within `bytes`.
fn lacks_interpreter(bytes: &[u8]) -> Option<bool> {
    if bytes.get(0..4)? != b"\x7fELF" || *bytes.get(5)? != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = match bytes.get(4)? {
        2 => (
            field(bytes, 32, 8)?,
            field(bytes, 54, 2)?,
            field(bytes, 56, 2)?,
        ),
        1 => (
            field(bytes, 28, 4)?,
            field(bytes, 42, 2)?,
            field(bytes, 44, 2)?,
        ),
        _ => return None,
    };
    let (phoff, phentsize) = (usize::try_from(phoff).ok()?, phentsize as usize);
    for i in 0..(phnum as usize).min(MAX_HEADERS) {
        let p_type = field(bytes, phoff.checked_add(i.checked_mul(phentsize)?)?, 4)?;
        if p_type as u32 == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_executable_is_not_static() {
        // The test binary itself is dynamically linked (glibc).
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_executable(me.as_os_str()));
        assert!(!is_static_executable(OsStr::new("/no/such/program")));
    }

    #[test]
    fn finds_the_missing_interpreter_header() {
        let mut elf = vec![0u8; 64 + 56 * 2];
        elf[0..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[32] = 64; // e_phoff
        elf[54] = 56; // e_phentsize
        elf[56] = 2; // e_phnum
        elf[64] = 1; // PT_LOAD
        elf[64 + 56] = 6; // PT_PHDR
        assert_eq!(lacks_interpreter(&elf), Some(true));
        elf[64 + 56] = 3; // PT_INTERP
        assert_eq!(lacks_interpreter(&elf), Some(false));
        assert_eq!(lacks_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(lacks_interpreter(&elf[..70]), None);
    }
}
