//! Issue 15, the preload's load cost: the C stub's constructor adjusts the environment itself
//! (relative `MOCKET_*` paths made absolute; under a bare `LD_PRELOAD` with a mocket CA, the
//! CA-bundle variables pointed at it), never loading the Rust shim for it, and does what
//! `mocket_control::preload_env` says, the rule's Rust side. `mocket run` gives the command
//! absolute paths, so no process under it has anything to adjust.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mocket_control::preload_env::{NODE_CA_VAR, PATH_VARS, anchored_paths, bundle_pointing};
use mocket_control::trust_names::{BUNDLE_VARS, bundle_file_name};
use mocket_tests::*;

/// Every variable the constructor reads or sets: removed from the test's own environment.
fn variables() -> Vec<&'static str> {
    let mut all: Vec<&str> = PATH_VARS.iter().chain(BUNDLE_VARS).copied().collect();
    all.extend([NODE_CA_VAR, "MOCKET_SOCKET", "XDG_DATA_HOME", "HOME"]);
    all
}

/// A C program that prints each variable named by its arguments (`NAME=value`, `NAME` alone
/// when unset), then whether the Rust shim is mapped (`rust shim 1`). In C, not Python: the
/// tree's first process must be the one that reports (`python3` may be a shell wrapper).
const REPORT_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = getenv(argv[i]);
        if (v) printf("%s=%s\n", argv[i], v); else printf("%s\n", argv[i]);
    }
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    int shim = 0;
    while (maps && fgets(line, sizeof line, maps))
        shim |= strstr(line, "libmocket_shim.so") != NULL;
    printf("rust shim %d\n", shim);
    return 0;
}
"#;

/// Compiles `source` (C) with `cc` into the scratch directory; `flags` go before `-o`.
fn compile_c(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = scratch_dir(name);
    let file = dir.join(format!("{name}.c"));
    std::fs::write(&file, source).unwrap();
    let program = dir.join(name);
    let built = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&program)
        .arg(&file)
        .status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "cc cannot build {} (install gcc and libc6-dev)",
        file.display()
    );
    program
}

fn report_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| compile_c("report_env", REPORT_C, &[]))
}

/// What a process sees under a bare preload of the stub with exactly `env` (of
/// [`variables`]) set, in `cwd`: each variable's value, and whether the Rust shim was loaded.
fn seen_under_the_stub(
    env: &BTreeMap<&str, String>,
    cwd: &Path,
) -> (BTreeMap<String, Option<String>>, bool) {
    let names = variables();
    // The preload is set by `env` for the report alone: it is the tree's first process.
    let preload = format!("LD_PRELOAD={}", shim_lib().display());
    let report = report_program().to_str().unwrap();
    let mut cmd = vec!["env", &preload, report];
    cmd.extend(&names);
    let mut c = netns_command(&cmd);
    for name in &names {
        c.env_remove(name);
    }
    c.env_remove("LD_PRELOAD").envs(env).current_dir(cwd);
    let run = run(c);
    run.success();
    let mut seen = BTreeMap::new();
    let mut rust_shim = None;
    for line in run.stdout.lines() {
        if let Some(loaded) = line.strip_prefix("rust shim ") {
            rust_shim = Some(loaded == "1");
        } else if let Some((name, value)) = line.split_once('=') {
            seen.insert(name.to_string(), Some(value.to_string()));
        } else {
            seen.insert(line.to_string(), None);
        }
    }
    (
        seen,
        rust_shim.expect("the report ends with the Rust shim's state"),
    )
}

/// The values `preload_env`'s rules give [`variables`] from `env`, in `cwd`.
fn expected(env: &BTreeMap<&str, String>, cwd: &Path) -> BTreeMap<String, Option<String>> {
    let lookup = |k: &str| env.get(k).map(OsString::from);
    let mut after: BTreeMap<&str, String> = env.clone();
    for (name, path) in anchored_paths(lookup, cwd) {
        after.insert(name, path.display().to_string());
    }
    let lookup = |k: &str| after.get(k).map(OsString::from);
    let pointed = bundle_pointing(lookup, Path::is_file);
    for (name, path) in pointed {
        after.insert(name, path.display().to_string());
    }
    variables()
        .into_iter()
        .map(|name| (name.to_string(), after.get(name).cloned()))
        .collect()
}

/// Runs one case and checks the stub agrees with the Rust rules without loading the shim.
#[track_caller]
fn check_agreement(case: &str, env: &[(&'static str, &str)], cwd: &Path) {
    let env: BTreeMap<&str, String> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let (seen, rust_shim) = seen_under_the_stub(&env, cwd);
    assert_eq!(
        seen,
        expected(&env, cwd),
        "case {case}: the stub and preload_env differ"
    );
    assert!(
        !rust_shim,
        "case {case}: the Rust shim was loaded by the constructor: {seen:?}"
    );
}

/// A per-user CA (only its certificate's existence matters to the constructor) under
/// `data_home/mocket/ca`, with the bundle the engine would write for the bundle variables'
/// `values`.
fn per_user_ca(data_home: &Path, values: &[&str]) -> PathBuf {
    let dir = data_home.join("mocket/ca");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), "CA\n").unwrap();
    std::fs::write(dir.join(bundle_file_name(values)), "BUNDLE\n").unwrap();
    dir.join("cert.pem")
}

#[test]
fn the_stub_anchors_relative_paths_as_preload_env_says() {
    let cwd = scratch_dir("cwd");
    let home = scratch_dir("home");
    let home = home.to_str().unwrap();
    check_agreement(
        "relative paths",
        &[
            ("HOME", home),
            ("MOCKET_CONFIG", "mocks.json"),
            ("MOCKET_JOURNAL", "./logs/journal.jsonl"),
            ("MOCKET_RECORD_DIR", "/abs/recordings"),
            ("MOCKET_UPSTREAM_CA", ""),
        ],
        &cwd,
    );
    check_agreement(
        "under mocket run's socket",
        &[
            ("HOME", home),
            ("MOCKET_SOCKET", "/nonexistent/m.sock"),
            ("MOCKET_CONFIG", "m.json"),
        ],
        &cwd,
    );
    // Anchored first, then the CA they name is found and pointed at.
    let ca = scratch_dir("given-ca");
    std::fs::write(ca.join("cert.pem"), "CA\n").unwrap();
    std::fs::write(ca.join(bundle_file_name(&[""; 6])), "BUNDLE\n").unwrap();
    check_agreement(
        "a relative given CA",
        &[
            ("HOME", home),
            ("MOCKET_CA_CERT", "cert.pem"),
            ("MOCKET_CA_KEY", "key.pem"),
        ],
        &ca,
    );
}

#[test]
fn the_first_process_of_a_bare_tree_points_the_bundle_variables_as_preload_env_says() {
    let cwd = scratch_dir("cwd");
    let roots = "/etc/ssl/certs/ca-certificates.crt";
    // XDG_DATA_HOME first, with other bundles named: the bundle's name hashes every value.
    let data = scratch_dir("xdg");
    let cert = per_user_ca(&data, &[roots, "", "/x/curl.pem", "", "", ""]);
    let data_str = data.to_str().unwrap();
    check_agreement(
        "XDG_DATA_HOME and two bundle variables",
        &[
            ("XDG_DATA_HOME", data_str),
            ("HOME", "/nonexistent"),
            ("SSL_CERT_FILE", roots),
            ("CURL_CA_BUNDLE", "/x/curl.pem"),
            ("PIP_CERT", ""),
        ],
        &cwd,
    );
    // HOME with a trailing slash: the paths are joined as Rust's Path::join does.
    let home = scratch_dir("home");
    per_user_ca(&home.join(".local/share"), &[""; 6]);
    let home_slash = format!("{}/", home.display());
    check_agreement("HOME with a trailing slash", &[("HOME", &home_slash)], &cwd);
    // A given CA's certificate; no bundle for these values yet: only Node is pointed.
    let given = scratch_dir("given");
    std::fs::write(given.join("cert.pem"), "CA\n").unwrap();
    let given_cert = given.join("cert.pem");
    check_agreement(
        "a given CA without a bundle",
        &[
            ("HOME", "/nonexistent"),
            ("MOCKET_CA_CERT", given_cert.to_str().unwrap()),
            ("MOCKET_CA_KEY", "/nonexistent/key.pem"),
            ("REQUESTS_CA_BUNDLE", roots),
        ],
        &cwd,
    );
    // Already pointed by a parent, one certificate alone, and mocket run: nothing changes.
    let pointed = cert.with_file_name("bundle-0000000000000000.pem");
    for (case, env) in [
        (
            "pointed by a parent",
            vec![
                ("XDG_DATA_HOME", data_str),
                ("GIT_SSL_CAINFO", pointed.to_str().unwrap()),
            ],
        ),
        (
            "a certificate without its key",
            vec![
                ("XDG_DATA_HOME", "/none"),
                ("MOCKET_CA_CERT", cert.to_str().unwrap()),
            ],
        ),
        (
            "under mocket run",
            vec![
                ("XDG_DATA_HOME", data_str),
                ("MOCKET_SOCKET", "/nonexistent/m.sock"),
            ],
        ),
    ] {
        check_agreement(case, &env, &cwd);
    }
}

#[test]
fn the_constructor_leaves_errno_as_the_program_would_find_it() {
    // A bare preload without a CA: the constructor looks for the certificate and finds none.
    let dir = scratch_dir("errno-home");
    let source = "#include <errno.h>\n#include <stdio.h>\n\
                  int main(void) { printf(\"%d\\n\", errno); return 0; }\n";
    let program = compile_c("errno_at_main", source, &[]);
    let program = program.to_str().unwrap();
    let errno_at_main = |preload: Option<&Path>| {
        let mut c = netns_command(&[program]);
        c.env("HOME", &dir).env_remove("XDG_DATA_HOME");
        for name in ["MOCKET_CA_CERT", "MOCKET_CA_KEY", "MOCKET_SOCKET"] {
            c.env_remove(name);
        }
        match preload {
            Some(lib) => c.env("LD_PRELOAD", lib),
            None => c.env_remove("LD_PRELOAD"),
        };
        let run = run(c);
        run.success();
        run.stdout.trim().to_string()
    };
    assert_eq!(errno_at_main(Some(&shim_lib())), errno_at_main(None));
}

#[test]
fn mocket_run_gives_even_a_static_command_absolute_paths() {
    // A statically linked command loads no preload, so only mocket run can anchor its paths.
    let source = "#include <stdio.h>\n#include <stdlib.h>\n\
        int main(int argc, char **argv) {\n\
          for (int i = 1; i < argc; i++) { const char *v = getenv(argv[i]); \
          printf(\"%s=%s\\n\", argv[i], v ? v : \"\"); }\n\
          return 0;\n}\n";
    let program = compile_c("print_env", source, &["-static"]);
    let dir = scratch_dir("static-cwd");
    std::fs::write(dir.join("mocks.json"), r#"{ "entries": [] }"#).unwrap();
    let mocket = mocket_bin();
    let mut c = netns_command(&[
        mocket.to_str().unwrap(),
        "run",
        "--",
        program.to_str().unwrap(),
        "MOCKET_CONFIG",
        "MOCKET_UPSTREAM_CA",
    ]);
    c.env("MOCKET_CONFIG", "mocks.json")
        .env("MOCKET_UPSTREAM_CA", "roots/upstream.pem")
        .current_dir(&dir);
    let run = run(c);
    run.success();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            format!("MOCKET_CONFIG={}", dir.join("mocks.json").display()),
            format!(
                "MOCKET_UPSTREAM_CA={}",
                dir.join("roots/upstream.pem").display()
            ),
        ],
        "{run:?}"
    );
}

#[test]
fn a_huge_environment_is_pointed_the_same_way() {
    // More variables than the stub's static arena holds: it maps memory for its environ.
    let data = scratch_dir("xdg-huge");
    per_user_ca(&data, &[""; 6]);
    let fillers: Vec<(String, String)> = (0..1100)
        .map(|i| (format!("MOCKET_TEST_FILLER_{i}"), "x".repeat(8)))
        .collect();
    let mut env: Vec<(&'static str, &str)> = fillers
        .iter()
        .map(|(k, v)| (&*k.clone().leak(), v.as_str()))
        .collect();
    env.push(("XDG_DATA_HOME", data.to_str().unwrap()));
    check_agreement("1 100 more variables", &env, &scratch_dir("cwd"));
}

#[test]
fn changes_too_long_for_the_static_arena_are_made_the_same_way() {
    // Nine changes of about 1 000 bytes each (two anchored paths, then the CA's): more than the
    // stub's 2 KB arena holds, so it goes on in memory it maps.
    let mut deep = scratch_dir("deep");
    for i in 0..4 {
        deep.push(format!("{i}{}", "d".repeat(240)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    per_user_ca(&deep, &[""; 6]);
    check_agreement(
        "1 000-byte paths",
        &[
            ("XDG_DATA_HOME", deep.to_str().unwrap()),
            ("MOCKET_CONFIG", "mocks.json"),
            ("MOCKET_JOURNAL", "journal.jsonl"),
        ],
        &deep,
    );
}

#[test]
fn the_program_can_still_change_the_environment_the_stub_changed() {
    let data = scratch_dir("xdg-edit");
    let cert = per_user_ca(&data, &[""; 6]);
    let source = r#"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    if (setenv("ADDED_LATER", "yes", 1) || unsetenv("SSL_CERT_FILE") || putenv("PUT=1"))
        return 1;
    const char *names[] = {"ADDED_LATER", "SSL_CERT_FILE", "PUT", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"};
    for (int i = 0; i < 5; i++) {
        const char *v = getenv(names[i]);
        printf("%s=%s\n", names[i], v ? v : "(unset)");
    }
    clearenv();
    printf("after clearenv %s\n", getenv("CURL_CA_BUNDLE") ? "set" : "unset");
    return 0;
}
"#;
    let program = compile_c("edit_env", source, &[]);
    let preload = format!("LD_PRELOAD={}", shim_lib().display());
    let mut c = netns_command(&["env", &preload, program.to_str().unwrap()]);
    for name in variables() {
        c.env_remove(name);
    }
    c.env_remove("LD_PRELOAD").env("XDG_DATA_HOME", &data);
    let run = run(c);
    run.success();
    let bundle = cert.with_file_name(bundle_file_name(&[""; 6]));
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "ADDED_LATER=yes".to_string(),
            "SSL_CERT_FILE=(unset)".into(),
            "PUT=1".into(),
            format!("CURL_CA_BUNDLE={}", bundle.display()),
            format!("NODE_EXTRA_CA_CERTS={}", cert.display()),
            "after clearenv unset".into(),
        ],
        "{run:?}"
    );
}

/// `bench/c/<name>`, the load-cost benchmark's sources.
fn bench_c(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/c")
        .join(name)
}

/// Compiles a C file of `bench/c` with `cc` into the scratch directory.
fn compile_bench_c(name: &str, flags: &[&str]) -> PathBuf {
    let source = bench_c(&format!("{name}.c"));
    let out = scratch_dir(name).join(name);
    let built = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "cc cannot build {} (install gcc and libc6-dev)",
        source.display()
    );
    out
}

/// The environments of the load-cost table (`bench/c/preload_cost.sh`), as variables to set
/// on top of a clean environment: without a per-user CA, under `mocket run`, in a child of a
/// bare tree (bundle variables already pointed), in the tree's first process, and in a first
/// process that anchors a relative path.
fn load_cost_environments() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let empty_home = scratch_dir("empty-home");
    let ca_home = scratch_dir("ca-home");
    let cert = per_user_ca(&ca_home.join(".local/share"), &[""; 6]);
    let bundle = cert.with_file_name(bundle_file_name(&[""; 6]));
    let path = |p: &Path| p.display().to_string();
    vec![
        ("no per-user CA", vec![("HOME", path(&empty_home))]),
        (
            "under mocket run",
            vec![
                ("HOME", path(&empty_home)),
                ("MOCKET_SOCKET", "/nonexistent/m.sock".into()),
            ],
        ),
        (
            "a child of a bare tree",
            vec![("HOME", path(&ca_home)), ("SSL_CERT_FILE", path(&bundle))],
        ),
        (
            "the first process of a bare tree",
            vec![("HOME", path(&ca_home))],
        ),
        (
            "a relative MOCKET_CONFIG",
            vec![
                ("HOME", path(&empty_home)),
                ("MOCKET_CONFIG", "mocks.json".into()),
            ],
        ),
    ]
}

/// A command run with only `env` (and PATH) set.
fn with_only(cmd: &[&str], env: &[(&'static str, String)]) -> Command {
    let mut c = netns_command(cmd);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("MOCKET_CONFIG", "/nonexistent/mocks.json")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    c
}

/// Page faults are most of what a preload costs a short process beyond the loader's symbol
/// work (about 3 µs each on a VM; the stub once took 13 where a no-op preload takes 7) and,
/// unlike times, they do not vary with the machine's load: the stub may not add more than the
/// no-op C preload of the benchmark, in any environment of the load-cost table.
#[test]
fn the_stub_adds_no_more_page_faults_than_a_no_op_preload() {
    let spawn_loop = compile_bench_c("spawn_loop", &["-O2"]);
    let noop = compile_bench_c("noop_preload", &["-O2", "-shared", "-fPIC"]);
    let stub = shim_lib();
    let (noop, stub) = (noop.to_str().unwrap(), stub.to_str().unwrap());
    let added = |out: &str, lib: &str| -> f64 {
        let prefix = format!("faults {lib}: added ");
        let line = out.lines().find_map(|l| l.strip_prefix(&prefix));
        let line = line.unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    for (case, env) in load_cost_environments() {
        let cmd = [
            spawn_loop.to_str().unwrap(),
            "100",
            noop,
            stub,
            "--",
            "/bin/true",
        ];
        let run = run(with_only(&cmd, &env));
        run.success();
        let (noop_faults, stub_faults) = (added(&run.stdout, noop), added(&run.stdout, stub));
        assert!(
            stub_faults <= noop_faults,
            "{case}: the stub adds {stub_faults} page faults to /bin/true, the no-op preload \
             {noop_faults}:\n{}",
            run.stdout
        );
    }
}

/// In a child of a bare tree the bundle variables already point at the CA's directory: the
/// constructor sees that in the environment and reads no file (a `stat` there cost 5-12 µs).
#[test]
fn a_child_of_a_bare_tree_looks_at_no_file_for_the_ca() {
    if !have("strace") {
        panic!("strace is missing (apt-get install strace)");
    }
    let envs = load_cost_environments();
    let (_, child_env) = &envs[2];
    let ca_dir = format!("{}/.local/share/mocket/ca", child_env[0].1);
    let preload = format!("LD_PRELOAD={}", shim_lib().display());
    let traced = |env: &[(&'static str, String)]| {
        let cmd = [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=%file",
            "env",
            &preload,
            "/bin/true",
        ];
        let run = run(with_only(&cmd, env));
        run.success();
        run.stderr.clone()
    };
    let trace = traced(child_env);
    assert!(
        !trace.contains(&ca_dir),
        "a child of a bare tree looked at the CA's directory:\n{trace}"
    );
    // The tree's first process does look: the trace would show it.
    let (_, first_env) = &envs[3];
    assert!(traced(first_env).contains(&ca_dir));
}

/// The stub's writable data ends in the page that holds its `.got.plt`, which the loader
/// writes anyway: every other writable page would be one more mapping or page fault in every
/// process (its static storage for the constructor's changes lives there; see mocket_stub.c).
/// Its code and constants are one read-only mapping.
#[test]
fn the_stub_maps_two_segments_and_one_writable_page_past_relro() {
    let elf = std::fs::read(shim_lib()).unwrap();
    let segments = program_headers(&elf);
    let loads: Vec<&Segment> = segments.iter().filter(|s| s.kind == PT_LOAD).collect();
    assert_eq!(
        loads.len(),
        2,
        "libmocket.so should have one read-only and one writable LOAD segment: {segments:?}"
    );
    let writable = loads.iter().find(|s| s.flags & PF_W != 0).unwrap();
    let relro = segments.iter().find(|s| s.kind == PT_GNU_RELRO).unwrap();
    let page = writable.align;
    let relro_end = relro.vaddr + relro.memsz;
    let end = writable.vaddr + writable.memsz;
    assert!(
        (end - 1) / page == relro_end / page,
        "libmocket.so's writable data ends at {end:#x}, past the page after RELRO \
         ({relro_end:#x}): shrink its static buffers: {segments:?}"
    );
}

const PT_LOAD: u32 = 1;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_W: u32 = 2;

/// One program header of an ELF file.
#[derive(Debug)]
struct Segment {
    kind: u32,
    flags: u32,
    vaddr: u64,
    memsz: u64,
    align: u64,
}

/// The program headers of a 64-bit little-endian ELF file.
fn program_headers(elf: &[u8]) -> Vec<Segment> {
    assert!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "libmocket.so is not a 64-bit little-endian ELF file"
    );
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    let (offset, size, count) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    (0..count)
        .map(|i| offset + i * size)
        .map(|h| Segment {
            kind: u32_at(h),
            flags: u32_at(h + 4),
            vaddr: u64_at(h + 16),
            memsz: u64_at(h + 40),
            align: u64_at(h + 48),
        })
        .collect()
}
