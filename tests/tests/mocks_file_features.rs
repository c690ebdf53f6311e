//! The mocks-file keys of DESIGN.md section 7 (issue 14) with real clients, under both
//! placements: `reason`, header and query matchers, `url_regex`, host patterns, `expect` and
//! `--fail-unused`, request counts in the report, templates, per-message `tcp` entries, `repeat`
//! streams and `"unmatched": "passthrough"`.

#![forbid(unsafe_code)]

use std::path::Path;

use mocket_tests::*;

fn curl(placement: Placement, mocks: &Path, args: &[&str]) -> Run {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mut cmd = vec!["curl", "-sS"];
    cmd.extend_from_slice(args);
    placement.run(mocks, &cmd)
}

/// `mocket check FILE`.
fn check(mocks: &Path) -> Run {
    let mut c = std::process::Command::new(mocket_bin());
    c.arg("check").arg(mocks);
    run(c)
}

#[test]
fn reason_sets_the_status_line_phrase() {
    let mocks = mocks_file(
        r#"{"entries": [{"http": "GET http://api.example.com/x",
            "response": {"status": 299, "reason": "Mostly Fine", "body": "ok"}}]}"#,
    );
    for placement in PLACEMENTS {
        let run = curl(placement, &mocks, &["-i", "http://api.example.com/x"]);
        run.success();
        assert!(
            run.stdout.starts_with("HTTP/1.1 299 Mostly Fine\r\n"),
            "{placement:?}: {}",
            run.stdout
        );
    }
    let bad = mocks_file(
        "{\"entries\": [{\"http\": \"GET http://a/\",\n \"response\": {\"reason\": \"a\\nb\"}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr.contains(":2:15: entries[0].response.reason: reason"),
        "{}",
        run.stderr
    );
}

#[test]
fn header_and_query_matchers_with_requests_and_httpx() {
    need_python_module("requests");
    need_python_module("httpx");
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "GET http://api.example.com/s",
             "match": {"headers": {"authorization": {"regex": "^Bearer [a-z0-9]+$"},
                                   "x-debug": {"absent": true}},
                       "query": {"page": {"regex": "^[12]$"}, "trace": {"absent": true}, "q": "café"}},
             "response": {"body": "matched"}},
            {"http": "GET http://api.example.com/s", "response": {"status": 404, "body": "fallback"}}
        ]}"#,
    );
    let program = r#"
import sys, requests, httpx
get = requests.get if sys.argv[1] == "requests" else httpx.get
def call(headers, params):
    r = get("http://api.example.com/s", headers=headers, params=params)
    return f"{r.status_code} {r.text}"
print(call({"Authorization": "Bearer t0k"}, {"q": "café", "page": "2", "other": "x"}))
print(call({"Authorization": "Basic eA=="}, {"q": "café", "page": "2"}))
print(call({"Authorization": "Bearer t0k", "X-Debug": "1"}, {"q": "café", "page": "1"}))
print(call({"Authorization": "Bearer t0k"}, {"q": "café", "page": "3"}))
print(call({"Authorization": "Bearer t0k"}, {"q": "café", "page": "1", "trace": "1"}))
"#;
    for placement in PLACEMENTS {
        for client in ["requests", "httpx"] {
            let run = python(placement, &mocks, program, &[client]);
            run.success();
            assert_eq!(
                run.stdout,
                "200 matched\n404 fallback\n404 fallback\n404 fallback\n404 fallback\n",
                "{placement:?} {client}: {}",
                run.stderr
            );
        }
    }
    let bad = mocks_file(
        "{\"entries\": [{\"http\": \"GET http://a/\",\n \"match\": {\"query\": {\"p\": {\"regex\": \"(\"}}},\n \"response\": {}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(":2:28: entries[0].match.query.p.regex: invalid regular expression"),
        "{}",
        run.stderr
    );
}

#[test]
fn url_regex_matches_the_whole_url() {
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "GET http://api.example.com/",
             "match": {"url_regex": "^http://api\\.example\\.com:80/v[0-9]+/users/[0-9]+\\?full=1$"},
             "response": {"body": "user"}}
        ]}"#,
    );
    for placement in PLACEMENTS {
        let run = curl(
            placement,
            &mocks,
            &[
                "-w",
                " %{http_code}\n",
                "http://api.example.com/v2/users/7?full=1",
                "http://api.example.com/v2/users/x?full=1",
            ],
        );
        // `mocket run` fails a run with an unmatched request; a bare LD_PRELOAD cannot.
        run.expect_code(match placement {
            Placement::Daemon => 1,
            Placement::Embedded => 0,
        });
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines[0], "user 200", "{placement:?}: {}", run.stdout);
        assert!(lines.last().unwrap().ends_with(" 501"), "{}", run.stdout);
        assert!(
            run.stdout.contains("does not match url_regex"),
            "{}",
            run.stdout
        );
    }
    let bad = mocks_file(
        "{\"entries\": [{\"http\": \"GET http://a/\",\n \"match\": {\"url_regex\": \"[\"}, \"response\": {}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(":2:12: entries[0].match.url_regex: invalid regular expression"),
        "{}",
        run.stderr
    );
}
