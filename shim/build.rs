//! Makes libmocket.so cheap to load into processes that never connect:
//! - the unwinder (libgcc_eh) is linked in privately instead of depending on libgcc_s.so:
//!   loading one more shared library was most of what the cdylib cost (measured: /bin/true
//!   +125 us for libgcc_s alone). Panics still unwind (every hook catches them); the copy is not
//!   exported (rustc's version script for cdylibs keeps only the hooks global);
//! - relative relocations are packed (DT_RELR) and symbols bound lazily, so the loader does
//!   less work before `main`; both only where the linker supports them.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for flag in ["-Wl,-z,pack-relative-relocs", "-Wl,-z,lazy"] {
        if linker_accepts(flag) {
            println!("cargo:rustc-cdylib-link-arg={flag}");
        }
    }
    link_unwinder_privately();
}

/// Whether `cc` links a shared object with `flag`.
fn linker_accepts(flag: &str) -> bool {
    let out =
        std::env::var("OUT_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let probe = std::path::Path::new(&out).join("probe.so");
    Command::new("cc")
        .args(["-shared", "-x", "c", "/dev/null", "-o"])
        .arg(&probe)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn link_unwinder_privately() {
    let out = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output();
    let Ok(out) = out else { return };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let Some(dir) = std::path::Path::new(&path)
        .parent()
        .filter(|_| path.starts_with('/'))
    else {
        return; // no static unwinder here: keep the shared one
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
}
