//! Issue 18: one `cargo install --path cli` gives a `mocket` that carries `libmocket.so` and the
//! engine library, writes them to a per-user cache on first use and needs nothing else.
//!
//! The install is a debug one with `MOCKET_EMBED=1` into its own target dir
//! (`target/install-test`, kept between runs): a release install would compile every dependency
//! a second time with optimisations, for the same embedding code (the build script differs only
//! in the profile name it passes on). It runs offline, inside a network namespace, with
//! `--locked`: the build script's inner cargo builds the libraries from `Cargo.lock`, and the
//! CLI must link the same dependency versions as the engine it embeds.
//!
//! A cold install compiles the engine and its dependencies twice: once for the CLI (outer
//! cargo) and once for the embedded libraries (the build script's inner cargo, in
//! `<target>/debug/embedded`), at the same time. So the test first runs the inner cargo's build
//! itself and seeds the outer build's directory with a copy of it: the outer cargo then finds
//! the dependencies both share already built (its fingerprints match), and the inner cargo finds
//! all of its work done. The install still runs the build script and both cargos in full.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mocket_tests::*;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "GET https://api.example.com/v1/users/1", "response": { "json": { "id": 1, "name": "Ada" } } }
  ]
}"#;

const CURL: [&str; 3] = ["curl", "-sS", "https://api.example.com/v1/users/1"];

/// The installed `mocket` (installed once per test binary).
fn installed() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let target = build_dir().parent().unwrap().join("install-test");
        let root = target.join("root");
        build_embedded_libraries_first(workspace, &target);
        let out = offline_cargo(&target)
            .args([
                "install",
                "--locked",
                "--offline",
                "--debug",
                "--force",
                "--path",
            ])
            .arg(workspace.join("cli"))
            .arg("--root")
            .arg(&root)
            .output()
            .expect("run cargo install");
        assert!(
            out.status.success(),
            "cargo install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = root.join("bin");
        let files: Vec<_> = std::fs::read_dir(&bin)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["mocket"], "the install holds only the executable");
        bin.join("mocket")
    })
}

/// `cargo` with the install's environment, offline in a network namespace (the install must
/// work offline), building into `target`. Without the variables `cargo test` sets for this test
/// binary (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...), as from a user's shell, and as
/// `cli/build.rs` runs its inner cargo: some build scripts (ring's) name them in
/// `rerun-if-env-changed`, so cargo records their values in its fingerprints.
fn offline_cargo(target: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new("timeout");
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_this_test = [
            "OUT_DIR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .contains(&name)
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_");
        if set_for_this_test {
            c.env_remove(name);
        }
    }
    c.args(["-k", "5", "3600", "unshare", "-n", "--"])
        .arg(cargo)
        .env("CARGO_TARGET_DIR", target)
        .env("MOCKET_EMBED", "1")
        // Less to compile and write: the test needs no debugger.
        .env("CARGO_PROFILE_DEV_DEBUG", "false");
    c
}

/// Runs the build that `cli/build.rs` runs for a dev profile (`cargo build -p mocket-shim -p
/// mocket-embedded` into `<target>/debug/embedded`, debug info off), then, the first time,
/// copies its `deps`, `build` and `.fingerprint` into `<target>/debug`, where the install's
/// outer cargo builds the CLI. A copy (`cp -a`: cargo compares modification times), not links:
/// the two cargos run at the same time and cargo rewrites fingerprint files in place. Only a
/// speed-up: whatever differs from the build script's command is compiled by the install.
fn build_embedded_libraries_first(workspace: &Path, target: &Path) {
    let inner = target.join("debug").join("embedded");
    let out = offline_cargo(&inner)
        .args([
            "build",
            "--offline",
            "-p",
            "mocket-shim",
            "-p",
            "mocket-embedded",
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--profile", "dev", "--config", "profile.dev.debug=false"])
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "building the libraries to embed failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outer = target.join("debug");
    if outer.join(".fingerprint").exists() {
        return;
    }
    let built = inner.join("debug");
    let copy = Command::new("cp")
        .arg("-a")
        .args(["deps", "build", ".fingerprint"].map(|d| built.join(d)))
        .arg(&outer)
        .output()
        .expect("run cp");
    assert!(
        copy.status.success(),
        "seeding {} failed:\n{}",
        outer.display(),
        String::from_utf8_lossy(&copy.stderr)
    );
}

/// `mocket ARGS...` as installed, in a fresh network namespace, run from `cwd` with `cache` as
/// `XDG_CACHE_HOME` and no library override.
fn mocket(cwd: &Path, cache: &Path, args: &[&str]) -> Command {
    let bin = installed().to_str().unwrap();
    let mut all = vec![bin];
    all.extend_from_slice(args);
    let mut c = netns_command(&all);
    c.current_dir(cwd)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("MOCKET_LIB")
        .env_remove("MOCKET_ENGINE_LIB")
        .env_remove("MOCKET_SOCKET");
    c
}

/// `mocket run --config MOCKS -- sh -c 'echo $LD_PRELOAD; curl ...'`: prints the preloaded path,
/// then the mocked answer.
fn run_curl(cwd: &Path, cache: &Path, mocks: &Path) -> Command {
    let script = format!("echo \"$LD_PRELOAD\"; {}", CURL.join(" "));
    let mocks = mocks.to_str().unwrap();
    mocket(
        cwd,
        cache,
        &["run", "--config", mocks, "--", "sh", "-c", &script],
    )
}

/// The one `<hash>` directory in `<cache>/mocket/` and the files in it.
fn cached(cache: &Path) -> (PathBuf, Vec<String>) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(cache.join("mocket"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let mut files: Vec<String> = std::fs::read_dir(&dirs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    (dirs[0].clone(), files)
}

#[test]
fn the_installed_mocket_run_serves_a_mocked_https_api_from_an_unrelated_directory() {
    let mocks = mocks_file(MOCKS);
    let elsewhere = scratch_dir("elsewhere");
    let cache = scratch_dir("cache");
    let run = run(run_curl(&elsewhere, &cache, &mocks));
    run.success();
    let (dir, files) = cached(&cache);
    assert_eq!(
        files,
        ["libmocket.so", "libmocket_engine.so", "libmocket_shim.so"]
    );
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(dir.join("libmocket.so").to_str().unwrap())
    );
    assert_eq!(lines.next(), Some(r#"{"id":1,"name":"Ada"}"#));
}

#[test]
fn ld_preload_of_mocket_shim_serves_a_mocks_file() {
    let mocks = mocks_file(MOCKS);
    let elsewhere = scratch_dir("elsewhere");
    let cache = scratch_dir("cache");
    let shim = run(mocket(&elsewhere, &cache, &["shim"]));
    shim.success();
    let path = shim.stdout.trim();
    let (dir, _) = cached(&cache);
    assert_eq!(path, dir.join("libmocket.so").to_str().unwrap());
    // The shim finds the engine library beside itself: no MOCKET_ENGINE_LIB.
    let mut curl = netns_command(&CURL);
    curl.current_dir(&elsewhere)
        .env("LD_PRELOAD", path)
        .env("MOCKET_CONFIG", &mocks)
        .env_remove("MOCKET_ENGINE_LIB")
        .env_remove("MOCKET_SOCKET");
    let curl = run(curl);
    curl.success();
    assert_eq!(curl.stdout, r#"{"id":1,"name":"Ada"}"#);
}

#[test]
fn eight_first_starts_at_once_all_succeed_and_leave_one_copy() {
    let mocks = mocks_file(MOCKS);
    let elsewhere = scratch_dir("elsewhere");
    let cache = scratch_dir("cache");
    let runs: Vec<Run> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..8)
            .map(|_| s.spawn(|| run(run_curl(&elsewhere, &cache, &mocks))))
            .collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for run in &runs {
        run.success();
        assert!(run.stdout.ends_with(r#"{"id":1,"name":"Ada"}"#), "{run:?}");
    }
    let (_, files) = cached(&cache);
    assert_eq!(
        files,
        ["libmocket.so", "libmocket_engine.so", "libmocket_shim.so"],
        "one copy each, no leftovers"
    );
}

#[test]
fn a_tampered_cached_library_is_rewritten() {
    let mocks = mocks_file(MOCKS);
    let elsewhere = scratch_dir("elsewhere");
    let cache = scratch_dir("cache");
    run(mocket(&elsewhere, &cache, &["shim"])).success();
    let (dir, _) = cached(&cache);
    let shim = dir.join("libmocket.so");
    let engine = dir.join("libmocket_engine.so");
    let (good_shim, good_engine) = (
        std::fs::read(&shim).unwrap(),
        std::fs::read(&engine).unwrap(),
    );
    // Same size, one byte changed: only a check of the content sees it.
    let mut tampered = good_shim.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(&shim, &tampered).unwrap();
    let run_after = run(run_curl(&elsewhere, &cache, &mocks));
    run_after.success();
    assert!(
        std::fs::read(&shim).unwrap() == good_shim,
        "libmocket.so was not rewritten"
    );
    // A truncated engine library is rewritten by `mocket shim`.
    std::fs::write(&engine, &good_engine[..1000]).unwrap();
    run(mocket(&elsewhere, &cache, &["shim"])).success();
    assert!(
        std::fs::read(&engine).unwrap() == good_engine,
        "libmocket_engine.so was not rewritten"
    );
}

/// `mocket run` with a cache directory made unwritable by `mount` (as root, permissions would
/// not stop the writes) inside a mount namespace, and `TMPDIR` for the fallback.
fn run_with_cache_mount(mount: &str) -> (Run, PathBuf) {
    let mocks = mocks_file(MOCKS);
    let scratch = scratch_dir("cache-mount");
    let cache = scratch.join("cache");
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(cache.join("mocket")).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let script = format!("{mount} \"$0\" && ip link set lo up && exec \"$@\"",);
    let bin = installed();
    let mut c = Command::new("unshare");
    c.args(["-m", "-n", "--", "sh", "-c", &script])
        .arg(cache.join("mocket"))
        .arg(bin)
        .args(["run", "--config", mocks.to_str().unwrap(), "--", "sh", "-c"])
        .arg(format!("echo \"$LD_PRELOAD\"; {}", CURL.join(" ")))
        .current_dir(&scratch)
        .env("XDG_CACHE_HOME", &cache)
        .env("TMPDIR", &tmp)
        .env_remove("MOCKET_LIB")
        .env_remove("MOCKET_SOCKET");
    (run(c), tmp)
}

fn assert_fell_back(run: &Run, tmp: &Path, why: &str) {
    run.success();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("libmocket.so"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].contains(why), "{}", warnings[0]);
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let fallback = tmp.join(format!("mocket-{}", uid.trim()));
    assert!(
        warnings[0].contains(fallback.to_str().unwrap()),
        "{}",
        warnings[0]
    );
    let preloaded = run.stdout.lines().next().unwrap();
    assert!(
        preloaded.starts_with(fallback.to_str().unwrap()),
        "{preloaded}"
    );
    assert!(
        run.stdout.ends_with(r#"{"id":1,"name":"Ada"}"#),
        "{}",
        run.stdout
    );
}

#[test]
fn a_read_only_cache_falls_back_to_tmpdir_with_one_warning() {
    let (run, tmp) = run_with_cache_mount("mount --bind -o ro \"$0\"");
    assert_fell_back(&run, &tmp, "Read-only file system");
}

#[test]
fn a_full_cache_falls_back_to_tmpdir_with_one_warning() {
    let (run, tmp) = run_with_cache_mount("mount -t tmpfs -o size=64k tmpfs");
    assert_fell_back(&run, &tmp, "No space left on device");
}
