//! Links the unwinder (libgcc_eh) into libmocket.so privately instead of depending on
//! libgcc_s.so: loading one more shared library is most of what a Rust cdylib costs a process
//! that never connects (measured: /bin/true +125 us for libgcc_s alone). Panics still unwind
//! (every hook catches them); the copy is not exported (rustc's version script for cdylibs
//! keeps only the hooks global).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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
