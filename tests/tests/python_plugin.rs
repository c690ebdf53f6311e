//! pymocket, the pytest plugin in `python/` (issue 13): its own pytest suite (`python/tests`,
//! which drives requests, httpx sync and async, aiohttp, urllib, redis-py and a raw socket, and
//! runs the tests that must fail as child pytests whose failure and message it asserts) under
//! `mocket run` and under a bare `LD_PRELOAD`, in one process and with four pytest-xdist workers.
//!
//! The suite imports pymocket from `python/src` (so it tests this checkout), while the `pytest11`
//! entry point comes from the installed package (`pip install ./python`, done by `.ci/run`).
//! The suite is run in parts, one at a time, so each part stays well inside the harness's 120 s
//! limit on a busy machine (every child pytest is a Python start-up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use mocket_tests::{Placement, Run, mocks_file, need_python_module, scratch_dir};

/// A part of `python/tests`: its files and the tests that must be among its passes.
struct Part {
    files: &'static [&'static str],
    must_pass: &'static [&'static str],
}

const CLIENTS: Part = Part {
    files: &[
        "test_protocol.py",
        "test_http_clients.py",
        "test_redis.py",
        "test_tcp.py",
        "test_isolation.py",
    ],
    must_pass: &[
        "test_a_silent_peer_times_out_with_a_message",
        "test_requests_post_is_matched_counted_and_recorded",
        "test_httpx_sync_matches_query_and_headers",
        "test_httpx_async_over_https",
        "test_aiohttp_with_respond_with",
        "test_urllib_with_a_sequence_of_responses",
        "test_respond_with_sees_every_part_of_the_request",
        "test_a_bad_entry_fails_at_registration_with_the_key",
        "test_command_entry_is_counted_and_recorded",
        "test_each_scope_gets_a_fresh_emulator",
        "test_a_raw_socket_talks_to_a_tcp_entry",
        "test_a_pooled_connection_is_answered_by_the_current_scope",
        "test_same_host_waits_for_the_holder_and_other_hosts_do_not",
    ],
};

const FAILURES: Part = Part {
    files: &["test_failures.py"],
    must_pass: &[
        "test_an_unmet_expectation_fails_the_test_naming_entry_and_counts",
        "test_an_unmatched_request_gets_501_and_fails_with_the_nearest_miss",
        "test_a_raising_callback_answers_500_and_fails_with_its_traceback",
        "test_a_callback_returning_a_non_dict_fails_the_test",
        "test_verify_raises_inside_the_test",
        "test_a_passing_child_passes",
        "test_without_interception_the_fixture_fails_with_one_line",
        "test_pytest_help_lists_the_fixture",
    ],
};

const XDIST: Part = Part {
    files: &["test_xdist.py"],
    must_pass: &["test_four_workers_isolate_and_serialize_per_host"],
};

/// The tests left out of the runs with four workers (they ran in the parts above): the one
/// that starts four workers itself, and the one that loads every installed plugin.
const NOT_UNDER_WORKERS: &str = "not test_four_workers_isolate_and_serialize_per_host and not test_pytest_help_lists_the_fixture";

/// Tests skipped on purpose, by file and placement, with the reason pytest prints: the
/// daemon's lease timeout is fixed when `mocket run` starts; only the daemon serves a test's
/// child processes.
fn expected_skips(placement: Placement, files: &[&str]) -> Vec<&'static str> {
    let (file, reason) = match placement {
        Placement::Daemon => (
            "test_failures.py",
            "MOCKET_LEASE_TIMEOUT_MS is fixed when `mocket run` starts",
        ),
        Placement::Embedded => (
            "test_http_clients.py",
            "only the daemon of `mocket run` serves a whole process tree",
        ),
    };
    if files.contains(&file) {
        vec![reason]
    } else {
        vec![]
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

/// One part at a time: each starts many Python processes (child pytests, xdist workers).
static ONE_PART_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `files` of `python/tests` under `placement`, with `extra` pytest arguments. Only the
/// plugins the suite uses are loaded (other installed plugins cost seconds per process).
fn pytest(placement: Placement, files: &[&str], extra: &[&str]) -> Run {
    need_python_packages();
    let _turn = ONE_PART_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let python = python_dir();
    let src = python.join("src");
    let paths: Vec<String> = files
        .iter()
        .map(|file| python.join("tests").join(file).display().to_string())
        .collect();
    let basetemp = format!("--basetemp={}", scratch_dir("pytest").join("tmp").display());
    let mut cmd = vec!["python3", "-m", "pytest"];
    cmd.extend(paths.iter().map(String::as_str));
    cmd.extend_from_slice(&[
        "-p",
        "pymocket.plugin",
        "-p",
        "pytest_asyncio.plugin",
        "-p",
        "xdist.plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfEsp",
        &basetemp,
    ]);
    cmd.extend_from_slice(extra);
    let mocks = mocks_file(r#"{"entries": []}"#);
    let env = [
        ("PYTHONPATH", src.to_str().unwrap()),
        ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1"),
    ];
    placement.run_env(&mocks, &env, &cmd)
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

/// Asserts that every test of `files` passed but the expected skips, that `must_pass` are among
/// the passes, and the exit status. Under `mocket run` it is 1 when the failing child tests ran:
/// one of them must make an unmatched request, and `mocket run` exits 1 after a run with
/// unmatched requests, naming it in its report.
fn assert_passed(placement: Placement, files: &[&str], must_pass: &[&str], run: &Run) {
    let counts = outcome_counts(&run.stdout);
    let context = format!(
        "{placement:?} {files:?}: {counts:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(counts.get("failed"), None, "{context}");
    assert_eq!(
        counts.get("error").or(counts.get("errors")),
        None,
        "{context}"
    );
    let skips = expected_skips(placement, files);
    let skipped = counts.get("skipped").copied().unwrap_or(0);
    assert_eq!(skipped, skips.len(), "{context}");
    for reason in skips {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("SKIPPED") && l.contains(reason)),
            "no test was skipped because {reason}\n{context}"
        );
    }
    assert!(counts.get("passed").copied().unwrap_or(0) >= must_pass.len());
    for name in must_pass {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("PASSED") && l.contains(&format!("::{name}"))),
            "{name} did not pass\n{context}"
        );
    }
    if matches!(placement, Placement::Daemon) && files.contains(&"test_failures.py") {
        run.expect_code(1);
        assert!(
            run.stderr.contains("1 unmatched")
                && run.stderr.contains("GET /v1/users/2: no entry matched"),
            "mocket run's report does not name the one unmatched request\n{context}"
        );
    } else {
        run.success();
    }
}

fn run_part(placement: Placement, part: &Part) {
    let run = pytest(placement, part.files, &[]);
    assert_passed(placement, part.files, part.must_pass, &run);
}

/// The whole suite but [`NOT_UNDER_WORKERS`], with `pytest -n 4`.
fn run_with_four_workers(placement: Placement) {
    let files: Vec<&str> = [CLIENTS.files, FAILURES.files].concat();
    let must_pass: Vec<&str> = [CLIENTS.must_pass, FAILURES.must_pass]
        .concat()
        .into_iter()
        .filter(|name| !NOT_UNDER_WORKERS.contains(name))
        .collect();
    let run = pytest(placement, &files, &["-n", "4", "-k", NOT_UNDER_WORKERS]);
    assert_passed(placement, &files, &must_pass, &run);
}

#[test]
fn clients_under_mocket_run() {
    run_part(Placement::Daemon, &CLIENTS);
}

#[test]
fn clients_under_ld_preload() {
    run_part(Placement::Embedded, &CLIENTS);
}

#[test]
fn failing_tests_under_mocket_run() {
    run_part(Placement::Daemon, &FAILURES);
}

#[test]
fn failing_tests_under_ld_preload() {
    run_part(Placement::Embedded, &FAILURES);
}

#[test]
fn xdist_isolation_under_mocket_run() {
    run_part(Placement::Daemon, &XDIST);
}

#[test]
fn xdist_isolation_under_ld_preload() {
    run_part(Placement::Embedded, &XDIST);
}

#[test]
fn whole_suite_with_four_workers_under_mocket_run() {
    run_with_four_workers(Placement::Daemon);
}

#[test]
fn whole_suite_with_four_workers_under_ld_preload() {
    run_with_four_workers(Placement::Embedded);
}
