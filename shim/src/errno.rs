//! errno, saved on entry to a hook and restored before calling through, so the work mocket does
//! in between never shows up in the caller's errno.

use libc::c_int;

#[derive(Clone, Copy)]
pub struct Errno(c_int);

impl Errno {
    pub fn save() -> Self {
        // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
        Errno(unsafe { *libc::__errno_location() })
    }

    pub fn get(self) -> c_int {
        self.0
    }

    pub fn restore(self) {
        set(self.0);
    }
}

pub fn set(value: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = value };
}
