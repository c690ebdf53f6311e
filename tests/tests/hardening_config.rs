//! Issue 10, the mocks file and the names it holds: bodies that are devices or FIFOs, duplicate
//! keys, unbracketed IPv6 hints, Unicode host names, secrets in the journal, and fake addresses
//! (exhaustion, agreement between processes of one tree).

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mocket_tests::*;

/// `mocket check FILE`.
fn check(mocks: &Path) -> Run {
    let mut c = Command::new(mocket_bin());
    c.args(["check", mocks.to_str().unwrap()]);
    run(c)
}

/// Runs `f`, failing the test if it took longer than a prompt answer may.
fn promptly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    within(Duration::from_secs(20), what, f)
}

/// Runs `f`, failing the test if it took longer than `limit` (a hang ends at the harness's
/// 120 s timeout).
fn within<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "{what} took {took:?}");
    eprintln!("{what} took {took:?}");
    out
}

/// A mocks file whose only entry serves `file` (a path, written as given).
fn mocks_serving(file: &str) -> std::path::PathBuf {
    mocks_file(&format!(
        "{{\"entries\": [\n  {{\"http\": \"GET http://api.example.com/\",\n   \"response\": {{\"file\": \"{file}\"}}}}]}}\n"
    ))
}

fn assert_refused_body_file(mocks: &Path, kind: &str) {
    let expected = format!("{}:3:17: entries[0].response.file: ", mocks.display());
    let checked = promptly("mocket check", || check(mocks));
    checked.expect_code(2);
    assert!(checked.stderr.contains(&expected), "{}", checked.stderr);
    assert!(
        checked
            .stderr
            .contains(&format!("is {kind}, not a regular file")),
        "{}",
        checked.stderr
    );
    let ran = promptly("mocket run", || {
        mocket_run(mocks, &[], &["sh", "-c", "echo SHOULD-NOT-RUN"])
    });
    ran.expect_code(2);
    assert!(!ran.stdout.contains("SHOULD-NOT-RUN"));
    assert!(ran.stderr.contains(&expected), "{}", ran.stderr);
}

#[test]
fn a_device_as_response_file_is_refused_promptly() {
    assert_refused_body_file(&mocks_serving("/dev/zero"), "a character device");
}

#[test]
fn a_fifo_as_response_file_is_refused_promptly() {
    let dir = scratch_dir("fifo");
    let fifo = dir.join("body.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    assert_refused_body_file(&mocks_serving(fifo.to_str().unwrap()), "a FIFO");
}

#[test]
fn a_device_as_mocks_file_is_refused_promptly() {
    let checked = promptly("mocket check", || check(Path::new("/dev/zero")));
    checked.expect_code(2);
    assert!(
        checked
            .stderr
            .contains("/dev/zero: cannot read the mocks file: /dev/zero is a character device"),
        "{}",
        checked.stderr
    );
}

#[test]
fn duplicate_keys_are_refused_by_check() {
    let mocks = mocks_file(
        "{\"entries\": [\n  {\"tcp\": \"legacy.internal:9000\", \"response\": \"a\",\n   \"response\": \"b\"}]}\n",
    );
    let checked = check(&mocks);
    checked.expect_code(2);
    let expected = format!(
        "{}:3:4: entries[0].response: duplicate key \"response\" (first given at line 2, \
         column 35): JSON would keep only the last value; give the key once",
        mocks.display()
    );
    assert!(checked.stderr.contains(&expected), "{}", checked.stderr);
}

#[test]
fn unbracketed_ipv6_with_port_gets_the_bracketed_hint() {
    let mocks = mocks_file("{\"entries\": [{\"tcp\": \"2001:db8::1:9000\", \"response\": \"x\"}]}");
    let checked = check(&mocks);
    checked.expect_code(2);
    let expected = format!(
        "{}:1:15: entries[0].tcp: \"2001:db8::1:9000\": an IPv6 address needs brackets around \
         it, then the port: write \"[2001:db8::1]:9000\"",
        mocks.display()
    );
    assert!(checked.stderr.contains(&expected), "{}", checked.stderr);
    let fixed =
        mocks_file("{\"entries\": [{\"tcp\": \"[2001:db8::1]:9000\", \"response\": \"x\"}]}");
    check(&fixed).success();
}

const UNICODE_MOCKS: &str = r#"{"entries": [
  {"http": "GET http://bücher.example/katalog", "response": {"body": "unicode entry"}}]}"#;

#[test]
fn a_unicode_entry_host_matches_curl_under_both_placements() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mocks = mocks_file(UNICODE_MOCKS);
    for placement in PLACEMENTS {
        // curl converts the name to xn--bcher-kva.example itself (libidn2); the second URL
        // gives the punycode form directly, as a client without IDN support must.
        for url in [
            "http://bücher.example/katalog",
            "http://xn--bcher-kva.example/katalog",
        ] {
            let ran = placement.run(&mocks, &["curl", "-sS", url]);
            ran.success();
            assert_eq!(
                ran.stdout, "unicode entry",
                "{placement:?} {url}: {}",
                ran.stderr
            );
        }
    }
}

#[test]
fn a_unicode_entry_host_matches_python_with_the_punycode_name() {
    let mocks = mocks_file(UNICODE_MOCKS);
    let program = r#"
import socket
(ip, _), = {a[4] for a in socket.getaddrinfo("xn--bcher-kva.example", 80, socket.AF_INET, socket.SOCK_STREAM)}
s = socket.create_connection((ip, 80))
s.sendall(b"GET /katalog HTTP/1.1\r\nHost: xn--bcher-kva.example\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.split(b"\r\n\r\n", 1)[1].decode())
"#;
    for placement in PLACEMENTS {
        let ran = python(placement, &mocks, program, &[]);
        ran.success();
        assert_eq!(
            ran.stdout, "unicode entry\n",
            "{placement:?}: {}",
            ran.stderr
        );
    }
}

#[test]
fn secrets_of_mocked_traffic_stay_out_of_the_journal() {
    assert!(
        have("curl") && have("redis-cli"),
        "curl and redis-cli are needed"
    );
    let mocks = mocks_file(
        r#"{"entries": [
  {"http": "GET http://api.example.com/me?access_token=query-secret-1&page=2",
   "response": {"headers": {"set-cookie": "session=cookie-secret-2"}, "body": "me"}},
  {"http": "GET http://private.example.com/private",
   "match": {"headers": {"authorization": "Bearer right"}}, "response": {"body": "private"}},
  {"redis": "cache.internal:6379", "emulate": true}]}"#,
    );
    let script = r#"
curl -sS -H 'Authorization: Bearer header-secret-3' -H 'Cookie: c=cookie-secret-4' \
  -H 'X-Api-Key: key-secret-5' -H 'X-Tenant: tenant-secret-6' \
  'http://api.example.com/me?access_token=query-secret-1&page=2' && echo
redis-cli -h cache.internal AUTH user-secret-7 password-secret-8
redis-cli -h cache.internal HELLO 2 AUTH user-secret-9 password-secret-10 SETNAME tool
redis-cli -h cache.internal -a password-secret-11 --no-auth-warning PING
curl -sS -o /dev/null -H "Authorization: Bearer $LONG_TOKEN" http://private.example.com/private
"#;
    // A JWT-sized token: mismatch reasons quote the value cut short, which must not leak either.
    let long_token = format!("secret-12-{}", "x".repeat(100));
    for placement in PLACEMENTS {
        let journal = scratch_dir("redacted-journal").join("events.jsonl");
        let path = journal.to_str().unwrap();
        let env = [
            ("MOCKET_REDACT_HEADERS", "x-tenant"),
            ("LONG_TOKEN", long_token.as_str()),
        ];
        let ran = match placement {
            Placement::Daemon => {
                mocket_run_env(&mocks, &["--journal", path], &env, &["sh", "-c", script])
            }
            Placement::Embedded => {
                let env = [env[0], env[1], ("MOCKET_JOURNAL", path)];
                preload_run(&mocks, &env, &["sh", "-c", script])
            }
        };
        // The mismatched request is unmatched: `mocket run` fails the run for it.
        ran.expect_code(match placement {
            Placement::Daemon => 1,
            Placement::Embedded => 0,
        });
        assert!(
            ran.stdout.starts_with("me\nOK\n"),
            "{placement:?}: {}{}",
            ran.stdout,
            ran.stderr
        );
        let text = std::fs::read_to_string(&journal).expect("journal written");
        assert!(text.contains("\"unmatched\""), "{text}");
        for n in 1..=12 {
            let secret = format!("secret-{n}");
            assert!(
                !text.contains(&secret),
                "{placement:?}: {secret} in the journal:\n{text}"
            );
        }
        assert!(
            text.contains("page=2") && text.contains("<redacted>"),
            "{text}"
        );
        assert!(text.contains(r#""SETNAME","tool""#), "{text}");
    }
}

/// Looks up `count` distinct names with `gethostbyname`, printing `name ip` (or `name -`).
const LOOKUPS: &str = r#"
import socket, sys
count, reverse = int(sys.argv[1]), sys.argv[2] == "reverse"
order = range(count - 1, -1, -1) if reverse else range(count)
for i in order:
    name = f"n{i}.fake.test"
    try:
        print(name, socket.gethostbyname(name))
    except OSError:
        print(name, "-")
"#;

#[test]
fn running_out_of_fake_addresses_fails_the_lookup_with_the_limit() {
    let mocks = mocks_file("{}");
    let runtime = scratch_dir("exhaust-runtime");
    let env = [("XDG_RUNTIME_DIR", runtime.to_str().unwrap())];
    for placement in PLACEMENTS {
        // About 25 s for a debug build on a busy 2-core machine: the bound catches a hang.
        let ran = within(Duration::from_secs(100), "130 100 lookups", || {
            placement.run_env(
                &mocks,
                &env,
                &["python3", "-c", LOOKUPS, "130100", "forward"],
            )
        });
        let answered = ran.stdout.lines().filter(|l| !l.ends_with(" -")).count();
        let failed = ran.stdout.lines().filter(|l| l.ends_with(" -")).count();
        assert_eq!(
            (answered, failed),
            (130_048, 52),
            "{placement:?}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr
                .contains("all 130048 fake addresses (198.18.0.0/15) are handed out"),
            "{placement:?}: {}",
            ran.stderr
        );
    }
}

#[test]
fn separate_processes_agree_on_fake_addresses_whatever_their_order() {
    let mocks = mocks_file(r#"{"entries": [{"tcp": "legacy.internal:9000", "response": "x"}]}"#);
    let runtime = scratch_dir("agree-runtime");
    let out = scratch_dir("agree-out");
    let script = format!(
        "python3 -c '{LOOKUPS}' 20000 forward > {0}/a & python3 -c '{LOOKUPS}' 20000 reverse > {0}/b; wait",
        out.display()
    );
    let env = [("XDG_RUNTIME_DIR", runtime.to_str().unwrap())];
    let ran = promptly("two processes of 20 000 lookups", || {
        preload_run(&mocks, &env, &["sh", "-c", &script])
    });
    ran.success();
    let read = |f: &str| {
        let mut lines: Vec<String> = std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let (a, b) = (read("a"), read("b"));
    assert_eq!(a.len(), 20_000, "{}", ran.stderr);
    assert!(a.iter().all(|l| l.contains(" 198.1")), "{}", ran.stderr);
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(differing, 0, "{differing} of 20000 names differ");
    let distinct: std::collections::HashSet<_> =
        a.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(distinct.len(), 20_000);
}

#[test]
fn a_fake_address_resolved_by_another_process_keeps_its_name() {
    let mocks = mocks_file("{}");
    let runtime = scratch_dir("name-of-runtime");
    let script = r#"
ip=$(python3 -c 'import socket; print(socket.gethostbyname("other.test"))')
python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], 9000), timeout=5); print("connected")
except OSError: print("refused")' "$ip"
"#;
    let env = [("XDG_RUNTIME_DIR", runtime.to_str().unwrap())];
    let ran = preload_run(&mocks, &env, &["sh", "-c", script]);
    ran.success();
    assert_eq!(ran.stdout, "refused\n", "{}", ran.stderr);
    // Judged by its name, as in the process that resolved it.
    assert!(
        ran.stderr.contains("strict mode refused other.test:9000"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("never handed out"), "{}", ran.stderr);
}
