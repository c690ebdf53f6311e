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
        run.stderr
            .contains(":2:15: entries[0].response.reason: reason"),
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
                run.stdout, "200 matched\n404 fallback\n404 fallback\n404 fallback\n404 fallback\n",
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

#[test]
fn host_patterns_in_entries_and_allow() {
    let mocks = mocks_file(
        r#"{"allow": ["*.allowed.test", "real.example.com"], "entries": [
            {"http": "GET http://*.example.com/who", "response": {"body": "pattern"}},
            {"http": "GET http://api.example.com/who", "response": {"body": "exact"}},
            {"tcp": "*.svc.test:9000", "response": "tcp pattern\n"}
        ]}"#,
    );
    for placement in PLACEMENTS {
        let run = curl(
            placement,
            &mocks,
            &[
                "-w",
                "\n",
                "http://api.example.com/who",
                "http://a.example.com/who",
                "http://b.c.example.com/who",
            ],
        );
        run.success();
        assert_eq!(run.stdout, "exact\npattern\npattern\n", "{placement:?}");
        // example.com itself is not covered: strict mode refuses it.
        let run = curl(placement, &mocks, &["http://example.com/who"]);
        assert_ne!(run.code, Some(0), "{placement:?}");
        assert!(run.stderr.contains("refused"), "{}", run.stderr);
        let program = r#"
import socket
def fake(name):
    try:
        return socket.getaddrinfo(name, 80, socket.AF_INET)[0][4][0].startswith(("198.18.", "198.19."))
    except socket.gaierror:
        return False
s = socket.create_connection(("x.svc.test", 9000)); s.sendall(b"hi\n")
print(s.recv(100).decode().strip())
# Allowed by pattern, and the exact allow rule over the entry's pattern: the real resolver
# answers (and finds nothing in this namespace); other names get a fake address.
print(fake("a.allowed.test"), fake("b.a.allowed.test"), fake("real.example.com"), fake("x.example.com"))
"#;
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout, "tcp pattern\nFalse False False True\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
    for (text, key, col) in [
        (
            r#"{"entries": [{"http": "GET http://a.*.com/", "response": {}}]}"#,
            "entries[0].http",
            15,
        ),
        (
            r#"{"entries": [{"tcp": "*:1", "response": "x"}]}"#,
            "entries[0].tcp",
            15,
        ),
        (r#"{"allow": ["*foo.com"]}"#, "allow[0]", 12),
    ] {
        let run = check(&mocks_file(text));
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!(":1:{col}: {key}: "))
                && run
                    .stderr
                    .contains("a host pattern is \"*.\" then a domain"),
            "{text}: {}",
            run.stderr
        );
    }
}

#[test]
fn expect_and_fail_unused_fail_mocket_run() {
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "GET http://api.example.com/a", "response": {"body": "a"}, "expect": 2},
            {"http": "GET http://api.example.com/b", "response": {"body": "b"}, "expect": {"min": 1}},
            {"http": "GET http://api.example.com/c", "response": {"body": "c"}, "expect": {"max": 1}},
            {"http": "GET http://api.example.com/unused", "response": {"body": "u"}}
        ]}"#,
    );
    let once = [
        "http://api.example.com/a",
        "http://api.example.com/c",
        "http://api.example.com/c",
    ];
    let run = mocket_run(&mocks, &[], &["curl", "-sS", once[0], once[1], once[2]]);
    run.expect_code(1);
    for line in [
        "mocket: 3 mocked, 0 refused, 0 passed through, 0 unmatched",
        "  expectation failed: entry #0 http GET http://api.example.com/a: expected exactly 2, used 1 time(s)",
        "  expectation failed: entry #1 http GET http://api.example.com/b: expected at least 1, used 0 time(s)",
        "  expectation failed: entry #2 http GET http://api.example.com/c: expected at most 1, used 2 time(s)",
        "  never used: entry #3 http GET http://api.example.com/unused",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }
    // Every expectation met: an unused entry passes, unless --fail-unused says otherwise.
    let met = [
        "http://api.example.com/a",
        "http://api.example.com/a",
        "http://api.example.com/b",
    ];
    let run = mocket_run(&mocks, &[], &["curl", "-sS", met[0], met[1], met[2]]);
    run.success();
    let run = mocket_run(
        &mocks,
        &["--fail-unused"],
        &["curl", "-sS", met[0], met[1], met[2]],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "  never used (--fail-unused): entry #3 http GET http://api.example.com/unused"
        ),
        "{}",
        run.stderr
    );
    let env = [("MOCKET_FAIL_UNUSED", "1")];
    let run = mocket_run_env(&mocks, &[], &env, &["curl", "-sS", met[0], met[1], met[2]]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("never used (--fail-unused)"),
        "{}",
        run.stderr
    );
    let env = [("MOCKET_FAIL_UNUSED", "maybe")];
    let run = mocket_run_env(&mocks, &[], &env, &["true"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("MOCKET_FAIL_UNUSED: \"maybe\""),
        "{}",
        run.stderr
    );
    // A bare LD_PRELOAD has no end of run to fail, but takes the same file.
    let run = preload_run(&mocks, &[], &["curl", "-sS", met[0]]);
    run.success();
    assert_eq!(run.stdout, "a");
    let bad = mocks_file(
        "{\"entries\": [{\"tcp\": \"a:1\", \"response\": \"x\",\n \"expect\": {\"min\": 3, \"max\": 1}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(":2:13: entries[0].expect.min: expect min 3 is more than max 1"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_report_counts_requests_commands_and_tcp_connections() {
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "GET http://api.example.com/a", "response": {"body": "a"}},
            {"redis": "cache.internal:6379", "command": ["GET", "k"], "response": "v"},
            {"tcp": "legacy.internal:9000", "response": "pong\n"}
        ]}"#,
    );
    let program = r#"
import socket, urllib.request
# Three HTTP requests on one keep-alive connection (http.client), two Redis commands on one
# connection, one TCP connection with two messages.
import http.client
c = http.client.HTTPConnection("api.example.com", 80)
for _ in range(3):
    c.request("GET", "/a"); r = c.getresponse(); assert r.read() == b"a"
r = socket.create_connection(("cache.internal", 6379))
for _ in range(2):
    r.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"); assert r.recv(100) == b"$1\r\nv\r\n"
t = socket.create_connection(("legacy.internal", 9000))
for _ in range(2):
    t.sendall(b"ping\n"); assert t.recv(100) == b"pong\n"
print("ok")
"#;
    let run = mocket_run(&mocks, &[], &["python3", "-c", program]);
    run.success();
    assert!(
        run.stderr
            .contains("mocket: 6 mocked, 0 refused, 0 passed through, 0 unmatched"),
        "{}",
        run.stderr
    );
}

#[test]
fn templates_echo_the_request() {
    need_python_module("httpx");
    let mocks = mocks_file(
        r#"{"entries": [
            {"http": "POST http://api.example.com/",
             "match": {"path_regex": "^/users/(?P<id>[0-9]+)$"},
             "response": {"template": true, "status": "{{ 200 + seq }}",
                          "headers": {"x-user": "{{ captures.id }}", "x-trace": "{{ request.headers['x-trace'] }}"},
                          "json": {"id": "{{ captures[1] }}", "name": "{{ request.json.name }}",
                                   "page": "{{ request.query.page }}", "path": "{{ request.segments | join('/') }}",
                                   "url": "{{ request.url }}", "method": "{{ request.method }}",
                                   "raw": "{{ request.body }}", "n": 1}}},
            {"http": "GET http://api.example.com/broken",
             "response": {"template": true, "body": "{{ request.json.name }}"}}
        ]}"#,
    );
    let program = r#"
import json, httpx
r = httpx.post("http://api.example.com/users/7?page=2", json={"name": "Ada"}, headers={"x-trace": "t1"})
print(r.status_code, r.headers["x-user"], r.headers["x-trace"], json.dumps(r.json(), sort_keys=True))
r = httpx.post("http://api.example.com/users/8", json={"name": "Bob"})
print(r.status_code)
r = httpx.get("http://api.example.com/broken")
print(r.status_code, r.text.strip())
"#;
    let journal = scratch_dir("template-journal").join("journal.jsonl");
    for placement in PLACEMENTS {
        let env = [("MOCKET_JOURNAL", journal.to_str().unwrap())];
        let _ = std::fs::remove_file(&journal);
        let run = placement.run_env(&mocks, &env, &["python3", "-c", program]);
        // The render failure counts as unmatched: mocket run fails.
        run.expect_code(match placement {
            Placement::Daemon => 1,
            Placement::Embedded => 0,
        });
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines[0],
            r#"201 7 t1 {"id": "7", "method": "POST", "n": 1, "name": "Ada", "page": "2", "path": "users/7", "raw": "{\"name\":\"Ada\"}", "url": "http://api.example.com:80/users/7?page=2"}"#,
            "{placement:?}: {}",
            run.stderr
        );
        // seq: the entry's second use; the missing query parameter is an error.
        assert!(lines[1].starts_with("500"), "{placement:?}: {}", run.stdout);
        assert!(
            lines[2].starts_with("500 mocket: entry #1: template body failed to render: "),
            "{placement:?}: {}",
            run.stdout
        );
        let journal = std::fs::read_to_string(&journal).unwrap();
        assert!(
            journal.contains("template body failed to render"),
            "{journal}"
        );
        if let Placement::Daemon = placement {
            assert!(run.stderr.contains("2 unmatched"), "{}", run.stderr);
        }
    }
    let bad = mocks_file(
        "{\"entries\": [{\"http\": \"GET http://a/\",\n \"response\": {\"template\": true, \"body\": \"{{ x \"}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(":2:33: entries[0].response.body: template does not parse: "),
        "{}",
        run.stderr
    );
}

#[test]
fn repeat_streams_until_the_client_closes() {
    need_python_module("requests");
    let mocks = mocks_file(
        r#"{"entries": [{"http": "GET http://api.example.com/events",
            "response": {"headers": {"content-type": "text/event-stream"},
                         "chunks": ["data: tick\n\n", "data: tock\n\n"],
                         "chunk_delay_ms": 20, "repeat": true}}]}"#,
    );
    let program = r#"
import requests, time
start = time.monotonic()
with requests.get("http://api.example.com/events", stream=True, timeout=5) as r:
    events = []
    for line in r.iter_lines():
        if line:
            events.append(line.decode())
        if len(events) == 7:
            break
print(" ".join(events))
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        run.success();
        assert_eq!(
            run.stdout,
            "data: tick data: tock data: tick data: tock data: tick data: tock data: tick\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
    let bad = mocks_file(
        "{\"entries\": [{\"http\": \"GET http://a/\",\n \"response\": {\"chunks\": [\"a\"], \"repeat\": true}}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr.contains(":2:32: entries[0].response.repeat: "),
        "{}",
        run.stderr
    );
}

#[test]
fn tcp_entries_chosen_per_message() {
    let mocks = mocks_file(
        r#"{"entries": [
            {"tcp": "mail.internal:25", "greeting": "220 ready\r\n", "request": "HELO me\r\n", "response": "250 hello\r\n"},
            {"tcp": "mail.internal:25", "request_regex": "^MAIL FROM:<[^>]+>\r\n$", "responses": ["250 ok\r\n", "250 again\r\n"]},
            {"tcp": "mail.internal:25", "request": "QUIT\r\n", "response": "221 bye\r\n"}
        ]}"#,
    );
    let program = r#"
import socket
s = socket.create_connection(("mail.internal", 25))
f = s.makefile("rb")
out = [f.readline()]
for line in [b"HELO me\r\n", b"MAIL FROM:<a@b>\r\n", b"MAIL FROM:<c@d>\r\n", b"QUIT\r\n"]:
    s.sendall(line)
    out.append(f.readline())
s.sendall(b"RSET\r\n")
out.append(f.readline())  # b"": the connection was closed
print(b"".join(out).decode().replace("\r\n", "|"), out[-1])
"#;
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, program, &[]);
        assert_eq!(
            run.stdout, "220 ready|250 hello|250 ok|250 again|221 bye| b''\n",
            "{placement:?}: {}",
            run.stderr
        );
        run.expect_code(match placement {
            Placement::Daemon => 1,
            Placement::Embedded => 0,
        });
        assert!(
            run.stderr
                .contains("no tcp entry's request or request_regex matches this message"),
            "{}",
            run.stderr
        );
    }
    // nc: one message, answered by the regex entry.
    assert!(have("nc"), "nc is missing (.ci/run installs it)");
    for placement in PLACEMENTS {
        let run = placement.run(
            &mocks,
            &[
                "sh",
                "-c",
                "printf 'MAIL FROM:<x@y>\\r\\n' | nc -q 1 mail.internal 25",
            ],
        );
        assert_eq!(
            run.stdout, "220 ready\r\n250 ok\r\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
    let bad = mocks_file(
        "{\"entries\": [{\"tcp\": \"a:1\", \"response\": \"x\",\n \"request_regex\": \"(\"}]}",
    );
    let run = check(&bad);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains(":2:2: entries[0].request_regex: invalid regular expression"),
        "{}",
        run.stderr
    );
}
