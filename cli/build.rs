//! Embeds `libmocket.so` (the preloaded stub), `libmocket_shim.so` (the Rust shim it loads) and
//! `libmocket_engine.so` into `mocket`, so that `cargo install --path
//! cli` gives a `mocket` that needs nothing else (issue 18).
//!
//! Cargo cannot depend on a cdylib's artifact on stable (artifact dependencies are unstable), so
//! this script runs a second cargo: `cargo build -p mocket-shim -p mocket-embedded` with the same
//! profile (so `[profile.release.package.mocket-shim]`'s size settings hold) into its own target
//! dir, `<target>/<profile>/embedded`. Its own dir, because the outer cargo holds the lock of
//! `<target>/<profile>` while this script runs: a second cargo there would wait for it forever.
//! The inner cargo inherits the outer one's jobserver (`CARGO_MAKEFLAGS`), flags
//! (`CARGO_ENCODED_RUSTFLAGS`) and `CARGO_NET_OFFLINE`, so it builds with no more jobs than
//! asked and offline when the dependencies are fetched.
//!
//! Release builds embed (what `cargo install` uses); dev builds do not, unless `MOCKET_EMBED=1`:
//! they would compile the engine a second time (the workspace build already puts the libraries
//! beside `target/debug/mocket`, where a binary without embedded libraries looks for them).
//! `MOCKET_EMBED=0` turns embedding off in any profile.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries, as the inner cargo names them and as they are written at run time.
const LIBRARIES: [(&str, &str); 3] = [
    ("MOCKET_EMBEDDED_SHIM", "libmocket.so"),
    ("MOCKET_EMBEDDED_RUST_SHIM", "libmocket_shim.so"),
    ("MOCKET_EMBEDDED_ENGINE", "libmocket_engine.so"),
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mocket_embedded)");
    println!("cargo::rerun-if-env-changed=MOCKET_EMBED");
    println!("cargo::rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/[<triple>/]<profile dir>/build/mocket-cli-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is in a profile dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(name) => name.to_string(),
        None => panic!("unexpected OUT_DIR {}", out_dir.display()),
    };
    let embed = match std::env::var("MOCKET_EMBED").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        Ok(other) if !other.is_empty() => {
            panic!("MOCKET_EMBED={other}: use 1 (embed the libraries) or 0 (do not)")
        }
        _ => profile != "dev",
    };
    if !embed {
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is inside the workspace");
    let built = build_libraries(workspace, &profile, &profile_dir.join("embedded"));
    let mut all = Vec::new();
    for (variable, name) in LIBRARIES {
        let bytes = std::fs::read(built.join(name))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", built.join(name).display()));
        // A copy of its own: the inner target dir may be rebuilt while this crate compiles.
        let copy = out_dir.join(name);
        std::fs::write(&copy, &bytes)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", copy.display()));
        println!("cargo::rustc-env={variable}={}", copy.display());
        all.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        all.extend_from_slice(&bytes);
    }
    // The cache directory's name: one per set of libraries.
    let hash = mocket_control::fnv::fnv1a_64(&all);
    println!("cargo::rustc-env=MOCKET_EMBEDDED_HASH={hash:016x}");
    println!("cargo::rustc-cfg=mocket_embedded");
    watch_sources(workspace, &built);
}

/// Runs the inner cargo and returns the directory holding the libraries.
fn build_libraries(workspace: &Path, profile: &str, target_dir: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    remove_build_script_variables(&mut command);
    command
        .args(["build", "-p", "mocket-shim", "-p", "mocket-embedded"])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir);
    if profile == "dev" {
        // Smaller copies to embed and write (77 MB -> about a tenth), and a faster build.
        command.args(["--config", "profile.dev.debug=false"]);
    }
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let mut built = target_dir.to_path_buf();
    if std::env::var("HOST").ok().as_deref() != Some(&target) {
        command.args(["--target", &target]);
        built.push(&target);
    }
    built.push(if profile == "dev" { "debug" } else { profile });
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build libmocket.so: {e}"));
    assert!(
        status.success(),
        "building libmocket.so and libmocket_engine.so to embed them failed (see above); \
         MOCKET_EMBED=0 builds a mocket that looks for them beside itself"
    );
    built
}

/// Removes the variables cargo sets for this build script (`OUT_DIR`, `CARGO_PKG_NAME`,
/// `CARGO_CFG_*`, ...) from the inner cargo's environment: they describe this script, not the
/// inner build, and the inner cargo records them in its fingerprints wherever a dependency's
/// build script names them in `rerun-if-env-changed` (ring names `OUT_DIR`,
/// `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and `DEBUG`). Left in, they would make the inner build
/// differ from the same `cargo build` run from a shell, and rerun ring's build script (and
/// recompile everything above ring) whenever this script's `OUT_DIR` changes. The jobserver
/// (`CARGO_MAKEFLAGS`), `CARGO_ENCODED_RUSTFLAGS`, `CARGO_NET_OFFLINE` and `RUSTC` stay.
fn remove_build_script_variables(command: &mut Command) {
    const NAMES: [&str; 12] = [
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
        "RUSTDOC",
        "RUSTC_LINKER",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
    ];
    const PREFIXES: [&str; 4] = ["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_", "DEP_"];
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
            command.env_remove(name);
        }
    }
}

/// Reruns this script when a workspace source file of either library changes: the inner
/// cargo's dep-info files name every source it compiled.
fn watch_sources(workspace: &Path, built: &Path) {
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    let mut manifests = std::collections::BTreeSet::new();
    manifests.insert(workspace.join("Cargo.toml"));
    // The stub's C source is compiled by the shim's build script: no dep-info names it.
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("shim/stub/mocket_stub.c").display()
    );
    for dep_info in ["libmocket_shim.d", "libmocket_engine.d"] {
        let text = std::fs::read_to_string(built.join(dep_info)).unwrap_or_default();
        let Some((_, sources)) = text.split_once(": ") else {
            continue;
        };
        for source in sources.split_whitespace().map(Path::new) {
            if !source.starts_with(workspace) {
                continue;
            }
            println!("cargo::rerun-if-changed={}", source.display());
            if let Some(package) = source.ancestors().find(|d| d.join("Cargo.toml").is_file()) {
                manifests.insert(package.join("Cargo.toml"));
                manifests.insert(package.join("build.rs"));
            }
        }
    }
    for file in manifests.iter().filter(|f| f.is_file()) {
        println!("cargo::rerun-if-changed={}", file.display());
    }
}
