//! The constructor: it runs before `main` in every process the library is preloaded into, most
//! of which never touch the network, so it only reads and adjusts the environment.

use std::path::PathBuf;

/// Variables holding paths that children must read the same way, whatever their working
/// directory (`cargo test` runs each test binary in its own package's directory).
const PATH_VARS: &[&str] = &[
    "MOCKET_CONFIG",
    "MOCKET_JOURNAL",
    "MOCKET_RECORD_DIR",
    "MOCKET_CA_CERT",
    "MOCKET_CA_KEY",
    "MOCKET_UPSTREAM_CA",
];

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

extern "C" fn init() {
    // SAFETY: constructors of preloaded libraries run before `main`, on the process's only
    // thread: nothing reads the environment meanwhile.
    unsafe {
        anchor_relative_paths();
        crate::trust::point_clients_at_the_bundle();
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = init;
