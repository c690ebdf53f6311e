//! pymocket, the pytest plugin in `python/` (issue 13): its own pytest suite (`python/tests`,
//! which drives requests, httpx sync and async, aiohttp, urllib and redis-py, and runs the tests
//! that must fail as child pytests whose failure it asserts) under `mocket run` and under a bare
//! `LD_PRELOAD`, each with one process and with four pytest-xdist workers.
//!
//! The suite imports pymocket from `python/src` (so it tests this checkout), while the `pytest11`
//! entry point comes from the installed package (`pip install ./python`, done by `.ci/run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use mocket_tests::{Placement, Run, mocks_file, need_python_module, scratch_dir};

/// The reasons of the tests each placement skips: the daemon's lease timeout is fixed when
/// `mocket run` starts; only the daemon serves a test's child processes.
fn expected_skips(placement: Placement) -> &'static [&'static str] {
    match placement {
        Placement::Daemon => &["MOCKET_LEASE_TIMEOUT_MS is fixed when `mocket run` starts"],
        Placement::Embedded => &["only the daemon of `mocket run` serves a whole process tree"],
    }
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .join("python")
}

/// Fails, saying how to fix it, unless pytest, its plugins, the clients and pymocket's entry
/// point are installed.
fn need_python_packages() {
    for module in [
        "pytest",
        "xdist",
        "pytest_asyncio",
        "requests",
        "httpx",
        "redis",
        "aiohttp",
    ] {
        need_python_module(module);
    }
    let check = Command::new("python3")
        .args([
            "-c",
            "from importlib.metadata import entry_points\n\
             assert any(e.value == 'pymocket.plugin' for e in entry_points(group='pytest11'))",
        ])
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "pymocket's pytest plugin is not installed: run `pip install ./python` (.ci/run does)"
    );
}

/// One suite at a time: each run starts many Python processes (child pytests, xdist workers),
/// and four at once on a small machine would crowd out the harness's 120 s limit.
static ONE_SUITE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `python/tests` under `placement` with extra pytest arguments.
fn pytest(placement: Placement, extra: &[&str]) -> Run {
    need_python_packages();
    let _turn = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let python = python_dir();
    let src = python.join("src");
    let tests = python.join("tests");
    let basetemp = scratch_dir("pytest").join("tmp");
    let basetemp_arg = format!("--basetemp={}", basetemp.display());
    let mut cmd = vec![
        "python3",
        "-m",
        "pytest",
        tests.to_str().unwrap(),
        "-p",
        "no:cacheprovider",
        "-rA",
        "-q",
        &basetemp_arg,
    ];
    cmd.extend_from_slice(extra);
    let mocks = mocks_file(r#"{"entries": []}"#);
    placement.run_env(&mocks, &[("PYTHONPATH", src.to_str().unwrap())], &cmd)
}

/// The counts of pytest's last summary line (`== 40 passed, 1 skipped in 3.2s ==`).
fn outcome_counts(stdout: &str) -> BTreeMap<String, usize> {
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.contains(" in ") && (line.contains("passed") || line.contains("failed")))
        .unwrap_or_else(|| panic!("no pytest summary line in:\n{stdout}"));
    let counts = summary.trim_matches(|c: char| c == '=' || c.is_whitespace());
    let counts = counts.split(" in ").next().unwrap_or_default();
    counts
        .split(", ")
        .filter_map(|part| {
            let (number, what) = part.split_once(' ')?;
            Some((what.to_string(), number.parse().ok()?))
        })
        .collect()
}

/// Asserts that every test passed except the placement's expected skips, and that the suite ran
/// at least the tests this file knows about.
fn assert_suite_passed(placement: Placement, run: &Run) {
    let counts = outcome_counts(&run.stdout);
    let context = format!(
        "{placement:?}: {counts:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(counts.get("failed"), None, "{context}");
    assert_eq!(
        counts.get("error").or(counts.get("errors")),
        None,
        "{context}"
    );
    let skips = expected_skips(placement);
    assert_eq!(
        counts.get("skipped").copied().unwrap_or(0),
        skips.len(),
        "{context}"
    );
    for reason in skips {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("SKIPPED") && l.contains(reason)),
            "no test was skipped because {reason}\n{context}"
        );
    }
    let passed = counts.get("passed").copied().unwrap_or(0);
    assert!(passed >= 30, "only {passed} tests passed\n{context}");
    for must_pass in [
        "test_requests_post_is_matched_counted_and_recorded",
        "test_httpx_async_over_https",
        "test_aiohttp_with_respond_with",
        "test_urllib_with_a_sequence_of_responses",
        "test_emulator_is_seeded_and_stateful",
        "test_same_host_waits_for_the_holder_and_other_hosts_do_not",
        "test_a_raising_callback_answers_500_and_fails_with_its_traceback",
        "test_without_interception_the_fixture_fails_with_one_line",
        "test_four_workers_isolate_and_serialize_per_host",
        "test_a_silent_peer_times_out_with_a_message",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("PASSED") && l.contains(must_pass)),
            "{must_pass} did not pass\n{context}"
        );
    }
    run.success();
}

#[test]
fn pytest_suite_passes_under_mocket_run() {
    let run = pytest(Placement::Daemon, &[]);
    assert_suite_passed(Placement::Daemon, &run);
}

#[test]
fn pytest_suite_passes_under_ld_preload() {
    let run = pytest(Placement::Embedded, &[]);
    assert_suite_passed(Placement::Embedded, &run);
}

#[test]
fn pytest_suite_passes_with_four_xdist_workers_under_mocket_run() {
    let run = pytest(Placement::Daemon, &["-n", "4"]);
    assert_suite_passed(Placement::Daemon, &run);
}

#[test]
fn pytest_suite_passes_with_four_xdist_workers_under_ld_preload() {
    let run = pytest(Placement::Embedded, &["-n", "4"]);
    assert_suite_passed(Placement::Embedded, &run);
}
