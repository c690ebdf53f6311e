//! The constructor's work: it runs before `main` in the processes whose environment needs it
//! (the stub decides), and only reads and adjusts the environment.

use std::path::PathBuf;

use mocket_control::preload_env::PATH_VARS;

/// Makes relative paths in [`PATH_VARS`] absolute, from this process's working directory.
///
/// # Safety
/// Only from the constructor: it changes the environment, which nothing may read meanwhile.
unsafe fn anchor_relative_paths() {
    for var in PATH_VARS {
        let Some(path) = std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
        else {
            continue;
        };
        // getcwd only when there is something to anchor: most processes have nothing.
        if path.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            // SAFETY: guaranteed by the caller.
            unsafe { std::env::set_var(var, cwd.join(path)) };
        }
    }
}

/// The constructor's work, called by the stub's constructor (`shim/stub/mocket_stub.c`) when
/// its cheap check of the environment says there is some: this library is loaded lazily, so
/// it has no constructor of its own (loaded later, in a process with threads, changing the
/// environment would race with them).
///
/// # Safety
/// Only before `main`, on the process's only thread: nothing may read the environment
/// meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mocket_shim_init() {
    // SAFETY: guaranteed by the caller.
    unsafe {
        anchor_relative_paths();
        crate::trust::point_clients_at_the_bundle();
    }
}
