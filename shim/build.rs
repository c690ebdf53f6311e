//! Builds the two libraries of the shim:
//! - `libmocket.so`, the preloaded stub (`stub/mocket_stub.c`, compiled here with `cc`): as
//!   small as a no-op preload, it loads the Rust shim on the first hooked call needing a
//!   decision. Cargo cannot name a C artifact, so it is written beside the crate's own output
//!   in the profile directory (`target/<profile>/`), where `mocket`, the tests and the benchmark
//!   look for it. Its header is generated from mocket-control's names.
//! - `libmocket_shim.so`, this crate's cdylib, made cheap to load:
//!   - the unwinder (libgcc_eh) is linked in privately instead of depending on libgcc_s.so
//!     (measured: /bin/true +125 us for libgcc_s alone). Panics still unwind (every hook
//!     catches them); the copy is not exported (rustc's version script for cdylibs keeps only
//!     the hooks global);
//!   - relative relocations are packed (DT_RELR) and symbols bound lazily, so the loader does
//!     less work; both only where the linker supports them. The stub gets the same flags, and
//!     [`STUB_LINK_FLAGS`].

use std::path::{Path, PathBuf};
use std::process::Command;

use mocket_control::ca_location::CaFiles;
use mocket_control::preload_env::{NODE_CA_VAR, PATH_VARS, SOCKET_VAR};
use mocket_control::trust_names::BUNDLE_VARS;

const LINK_FLAGS: [&str; 2] = ["-Wl,-z,pack-relative-relocs", "-Wl,-z,lazy"];

/// The stub's headers, code and constants in one read-only mapping instead of three: each
/// mapping is an `mmap` for the loader and at least one page fault (about 3 µs on a VM), and the
/// kernel maps a mapping's neighbouring cached pages together on its first fault. Measured on
/// `/bin/true`: 6 → 4 page faults of the stub, 15-20 µs less. The cost is that the stub's ELF
/// headers, symbol tables and 1 KB of constants are executable, as in every library linked
/// before binutils 2.31 (its writable data keeps RELRO).
const STUB_LINK_FLAGS: [&str; 1] = ["-Wl,-z,noseparate-code"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=stub/mocket_stub.c");
    println!("cargo:rerun-if-env-changed=CC");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let accepted: Vec<&str> = LINK_FLAGS
        .into_iter()
        .filter(|flag| linker_accepts(&out_dir, flag))
        .collect();
    for flag in &accepted {
        println!("cargo:rustc-cdylib-link-arg={flag}");
    }
    link_unwinder_privately();
    let stub_flags: Vec<&str> = STUB_LINK_FLAGS
        .into_iter()
        .filter(|flag| linker_accepts(&out_dir, flag))
        .chain(accepted)
        .collect();
    build_stub(&out_dir, &stub_flags);
}

fn compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cc".into())
}

/// Whether `cc` links a shared object with `flag`.
fn linker_accepts(out_dir: &Path, flag: &str) -> bool {
    let probe = out_dir.join("probe.so");
    Command::new(compiler())
        .args(["-shared", "-x", "c", "/dev/null", "-o"])
        .arg(&probe)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn link_unwinder_privately() {
    let out = Command::new(compiler())
        .arg("-print-file-name=libgcc_eh.a")
        .output();
    let Ok(out) = out else { return };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let Some(dir) = Path::new(&path).parent().filter(|_| path.starts_with('/')) else {
        return; // no static unwinder here: keep the shared one
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
}

/// Compiles the stub into `OUT_DIR/libmocket.so` and installs it in the profile directory.
fn build_stub(out_dir: &Path, link_flags: &[&str]) {
    let header = out_dir.join("mocket_stub_env.h");
    std::fs::write(&header, stub_header())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", header.display()));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("stub/mocket_stub.c");
    let built = out_dir.join("libmocket.so");
    let status = Command::new(compiler())
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-std=gnu11",
            "-fvisibility=hidden",
            // The constructor calls nothing in libc (see mocket_stub.c): no loop made a memcpy.
            "-fno-tree-loop-distribute-patterns",
        ])
        .args(["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-s"])
        .arg("-I")
        .arg(out_dir)
        .arg("-o")
        .arg(&built)
        .arg(&source)
        .args(link_flags)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} to build the stub libmocket.so: {e}",
                compiler()
            )
        });
    assert!(
        status.success(),
        "compiling {} failed (see above): a C compiler (cc) is needed to build libmocket.so",
        source.display()
    );
    // OUT_DIR is <target>/[<triple>/]<profile dir>/build/mocket-shim-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is in a profile dir");
    let installed = profile_dir.join("libmocket.so");
    // Beside, then renamed: a process preloading the old file keeps a whole one.
    let temporary = profile_dir.join(format!(".libmocket.so.{}.tmp", std::process::id()));
    std::fs::copy(&built, &temporary)
        .and_then(|_| std::fs::rename(&temporary, &installed))
        .unwrap_or_else(|e| panic!("cannot install {}: {e}", installed.display()));
}

/// The stub's header: the names its constructor reads and sets, from mocket-control (the
/// per-user CA's place relative to the home it is under).
fn stub_header() -> String {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let under = |var: &str| {
        let files = CaFiles::locate(|k| (k == var).then(|| "/@".into()))
            .expect("the per-user CA is placed under a home");
        let cert = files.cert.display().to_string();
        cert.strip_prefix("/@/")
            .expect("the per-user CA is under the home")
            .to_string()
    };
    format!(
        "/* Generated by shim/build.rs from mocket-control: do not edit. */\n\
         static const char *const PATH_VARS[] = {{{}}};\n\
         static const char *const BUNDLE_VARS[] = {{{}}};\n\
         #define SOCKET_VAR \"{SOCKET_VAR}\"\n\
         #define NODE_CA_VAR \"{NODE_CA_VAR}\"\n\
         #define CA_CERT_VAR \"{}\"\n\
         #define CA_KEY_VAR \"{}\"\n\
         #define CA_CERT_UNDER_XDG_DATA_HOME \"{}\"\n\
         #define CA_CERT_UNDER_HOME \"{}\"\n",
        list(PATH_VARS),
        list(BUNDLE_VARS),
        mocket_control::ca_location::CERT_VAR,
        mocket_control::ca_location::KEY_VAR,
        under("XDG_DATA_HOME"),
        under("HOME"),
    )
}
