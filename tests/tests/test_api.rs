//! The test API (crate `mocket`, DESIGN 8) with real clients, under both placements.
//!
//! The tests that use the API are the `fixture` module below: they are `#[ignore]`d, because
//! they only make sense inside an intercepted process, and the tests at the bottom run this
//! very test binary (prebuilt by cargo) on them, under `mocket run -- <binary>` or a bare
//! `LD_PRELOAD=libmocket.so <binary>`, in a fresh network namespace, and check what passed,
//! what failed and with which message.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use mocket_tests::*;

/// Tests that run only under mocket, through [`run_fixtures`].
mod fixture {
    use std::io::{Read, Write};
    use std::sync::{Condvar, LazyLock, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use mocket::{Mocket, http, redis, tcp};
    use serde_json::{Value, json};

    /// One multi-thread runtime and one client for every test of the process: their pooled
    /// keep-alive connections outlive the tests.
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .tls_built_in_webpki_certs(false)
            .tls_built_in_native_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client")
    });

    /// A response as the test saw it.
    #[derive(Debug)]
    pub struct Got {
        pub status: u16,
        pub body: String,
    }

    /// Sends a request through the shared client, on a runtime worker thread (never the test's).
    pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Got {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = CLIENT.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let task = RUNTIME.spawn(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>(Got {
                status,
                body: response.text().await?,
            })
        });
        RUNTIME
            .block_on(task)
            .expect("request task")
            .unwrap_or_else(|e| panic!("{url}: {e:?}"))
    }

    fn get(url: &str) -> Got {
        send("GET", url, &[], None)
    }

    fn now_us() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros()
    }

    /// Appends `<group> <test> <start> <end>` (microseconds) to FIXTURE_LOG.
    fn log_interval(group: &str, test: &str, start: u128, end: u128) {
        let path = std::env::var("FIXTURE_LOG").expect("FIXTURE_LOG");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        // One write per line: the tests append at the same time (O_APPEND keeps each whole).
        f.write_all(format!("{group} {test} {start} {end}\n").as_bytes())
            .unwrap();
    }

    /// Many tests, one destination, one shared client: each sees only its own responses and
    /// requests. The interval logged is while the test holds the destination.
    fn same_destination(me: &str) {
        let m = Mocket::start();
        assert_eq!(m.name(), format!("fixture::{me}"));
        let entry = m
            .mock(http::get("https://shared.example.com/who").respond(http::status(200).body(me)))
            .expect(5);
        let start = now_us();
        for _ in 0..5 {
            let got = send(
                "GET",
                "https://shared.example.com/who",
                &[("x-test", me)],
                None,
            );
            assert_eq!((got.status, got.body.as_str()), (200, me));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(entry.hits(), 5);
        let seen: Vec<_> = m.requests();
        assert_eq!(seen.len(), 5, "{seen:?}");
        for request in &seen {
            assert_eq!(request.header("x-test"), Some(me), "{request:?}");
        }
        log_interval("same", me, start, now_us());
    }

    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn same_1() {
        same_destination("same_1");
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn same_2() {
        same_destination("same_2");
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn same_3() {
        same_destination("same_3");
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn same_4() {
        same_destination("same_4");
    }

    /// Tests on different destinations: each waits, inside its scope, until all of them are
    /// inside theirs (they could not all get there if scopes ran one after another).
    fn other_destination(me: &str, n: usize) {
        static INSIDE: Mutex<usize> = Mutex::new(0);
        static ALL_IN: Condvar = Condvar::new();
        let m = Mocket::start();
        let url = format!("http://other-{n}.example.com/who");
        m.mock(http::get(&url).respond(http::status(200).body(me)))
            .expect(1);
        let start = now_us();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut inside = INSIDE.lock().unwrap();
        *inside += 1;
        ALL_IN.notify_all();
        while *inside < 4 {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("the four tests on other destinations were never inside their scopes at the same time");
            inside = ALL_IN.wait_timeout(inside, left).unwrap().0;
        }
        drop(inside);
        assert_eq!(get(&url).body, me);
        log_interval("other", me, start, now_us());
    }

    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn other_1() {
        other_destination("other_1", 1);
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn other_2() {
        other_destination("other_2", 2);
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn other_3() {
        other_destination("other_3", 3);
    }
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn other_4() {
        other_destination("other_4", 4);
    }

    /// The API end to end, passing: HTTP with conditions, sequences and a closure, Redis
    /// commands and an emulator (the `redis` crate), a TCP script (std's TcpStream),
    /// `mock_json`, hits, requests and verify.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn every_builder() {
        let m = Mocket::start();
        let charge = m
            .mock(
                http::post("http://api.stripe.test/v1/charges")
                    .header("authorization", "Bearer sk")
                    .json_contains(json!({"amount": 1200}))
                    .respond(http::status(201).json(json!({"id": "ch_1"}))),
            )
            .expect(1);
        let seq = m
            .mock(
                http::get("http://api.example.com/v1/flaky")
                    .query("page", "2")
                    .respond_seq([http::status(503).body("busy"), http::status(200).body("ok")]),
            )
            .expect(2..);
        let echo = m
            .mock(
                http::any("http://api.example.com/v1/users/7")
                    .path_regex("^/v1/users/[0-9]+$")
                    .respond_with(|req| {
                        http::status(200)
                            .header("x-seen", req.method())
                            .json(json!({
                                "path": req.path(),
                                "q": req.query("q"),
                                "agent": req.header("X-Agent"),
                                "name": req.json::<Value>().ok().map(|v| v["name"].clone()),
                            }))
                    }),
            )
            .expect(1..=2);
        m.mock_json(json!({"http": "GET http://api.example.com/health",
                           "response": {"body": "healthy"}}))
            .expect(..=1);
        let never = m
            .mock(http::delete("http://api.example.com/v1/users/7").respond(http::status(204)))
            .expect(0);

        let got = send(
            "POST",
            "http://api.stripe.test/v1/charges",
            &[
                ("authorization", "Bearer sk"),
                ("content-type", "application/json"),
            ],
            Some(r#"{"amount": 1200, "currency": "eur"}"#),
        );
        assert_eq!((got.status, got.body.as_str()), (201, r#"{"id":"ch_1"}"#));
        let flaky = "http://api.example.com/v1/flaky?page=2&x=1";
        assert_eq!((get(flaky).status, get(flaky).status), (503, 200));
        assert_eq!(get(flaky).body, "ok");
        let got = send(
            "PUT",
            "http://api.example.com/v1/users/7?q=ada",
            &[("x-agent", "fixture")],
            Some(r#"{"name": "Ada"}"#),
        );
        assert_eq!(got.status, 200, "{got:?}");
        let body: Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(
            body,
            json!({"path": "/v1/users/7", "q": "ada", "agent": "fixture", "name": "Ada"})
        );
        assert_eq!(get("http://api.example.com/health").body, "healthy");

        assert_eq!(charge.hits(), 1);
        let sent = &charge.requests()[0];
        assert_eq!(sent.method(), "POST");
        assert_eq!(sent.url(), "http://api.stripe.test/v1/charges");
        assert_eq!(sent.json::<Value>().unwrap()["currency"], "eur");
        assert_eq!(sent.text(), r#"{"amount": 1200, "currency": "eur"}"#);
        assert_eq!(sent.body(), br#"{"amount": 1200, "currency": "eur"}"#);
        assert_eq!(seq.hits(), 3);
        assert_eq!(seq.requests()[0].query("x"), Some("1"));
        assert_eq!(echo.hits(), 1);
        assert_eq!(never.hits(), 0);
        assert_eq!(charge.label(), "POST http://api.stripe.test/v1/charges");

        // Redis: a command entry and an emulator on two addresses.
        m.mock(
            redis::command(["GET", "greeting"])
                .reply("hello")
                .at("cache.internal:6379"),
        )
        .expect(1);
        m.mock(redis::emulate("sessions.internal:6380").data(json!({"user:1": "Ada"})));
        let mut cache = ::redis::Client::open("redis://cache.internal:6379/")
            .unwrap()
            .get_connection()
            .unwrap();
        let greeting: String = ::redis::cmd("GET")
            .arg("greeting")
            .query(&mut cache)
            .unwrap();
        assert_eq!(greeting, "hello");
        let mut sessions = ::redis::Client::open("redis://sessions.internal:6380/")
            .unwrap()
            .get_connection()
            .unwrap();
        let user: String = ::redis::cmd("GET")
            .arg("user:1")
            .query(&mut sessions)
            .unwrap();
        assert_eq!(user, "Ada");
        let _: () = ::redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query(&mut sessions)
            .unwrap();
        let k: String = ::redis::cmd("GET").arg("k").query(&mut sessions).unwrap();
        assert_eq!(k, "v");

        // Raw TCP.
        m.mock(
            tcp::at("legacy.internal:9000")
                .greeting("220 ready\r\n")
                .request("HELO me\r\n")
                .response("250 ok\r\n"),
        )
        .expect(1);
        let mut conn = std::net::TcpStream::connect("legacy.internal:9000").unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut greeting = [0u8; 11];
        conn.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting, b"220 ready\r\n");
        conn.write_all(b"HELO me\r\n").unwrap();
        let mut reply = [0u8; 8];
        conn.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"250 ok\r\n");
        drop(conn);

        let all = m.requests();
        assert!(
            all.iter()
                .any(|r| r.protocol() == "redis" && r.command() == ["GET", "greeting"]),
            "{all:?}"
        );
        assert!(all.iter().all(|r| r.matched()), "{all:?}");
        m.verify();
        println!("every_builder placement={}", m.placement());
    }

    /// A scope entry answers before the mocks file's entry for the same request; the file's
    /// entry answers once the scope has ended.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn scope_entries_come_before_file_entries() {
        assert_eq!(get("http://file.example.com/v").body, "from the file");
        {
            let m = Mocket::start();
            m.mock(
                http::get("http://file.example.com/v")
                    .respond(http::status(200).body("from the scope")),
            );
            assert_eq!(get("http://file.example.com/v").body, "from the scope");
        }
        assert_eq!(get("http://file.example.com/v").body, "from the file");
    }

    /// Must fail: an expectation not met, and a request nothing matched.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn fails_expectation_and_unmatched() {
        let m = Mocket::start();
        m.mock(http::post("http://api.stripe.test/v1/charges").respond(http::status(201)))
            .expect(1);
        let got = send("POST", "http://api.stripe.test/v1/charge", &[], Some("{}"));
        println!("unmatched status {}", got.status);
    }

    /// Must fail with the closure's panic, after the client got a 500.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn fails_with_panicking_closure() {
        let m = Mocket::start();
        m.mock(
            http::get("http://api.example.com/v1/boom")
                .respond_with(|_| panic!("boom in the closure")),
        );
        let got = get("http://api.example.com/v1/boom");
        println!("closure status {} body {:?}", got.status, got.body);
    }

    /// Must fail with its own panic only: the scope, dropped while unwinding, does not panic
    /// again (which would abort the process).
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn fails_while_scope_unmet() {
        let m = Mocket::start();
        m.mock(http::get("http://api.example.com/v1/never").respond(http::status(200)))
            .expect(1);
        panic!("the test's own failure");
    }

    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn bad_key() {
        let m = Mocket::start();
        m.mock_json(json!({"http": "GET http://a.example.com/", "respnse": {"status": 200}}));
    }

    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn bad_url() {
        let m = Mocket::start();
        m.mock(http::get("htp://a.example.com/").respond(http::status(200)));
    }

    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn bad_regex() {
        let m = Mocket::start();
        m.mock(
            http::get("http://a.example.com/")
                .path_regex("(")
                .respond(http::status(200)),
        );
    }

    /// Holds lease.example.com:80 for a while (lease tests run with a short lease timeout).
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn lease_holder() {
        let m = Mocket::start();
        m.mock(http::get("http://lease.example.com/").respond(http::status(200)));
        std::fs::write(std::env::var("FIXTURE_LOG").unwrap(), "held").unwrap();
        std::thread::sleep(Duration::from_secs(4));
    }

    /// Must fail: waits for the holder's lease longer than MOCKET_LEASE_TIMEOUT_MS.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn lease_waiter() {
        let log = std::env::var("FIXTURE_LOG").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(&log).unwrap_or_default() != "held" {
            assert!(Instant::now() < deadline, "the holder never registered");
            std::thread::sleep(Duration::from_millis(20));
        }
        let m = Mocket::start();
        m.mock(http::get("http://lease.example.com/other").respond(http::status(200)));
    }

    /// A child process (curl) hits this test's entry (under `mocket run`, one daemon serves the
    /// whole process tree).
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn child_process_uses_the_scope() {
        let m = Mocket::start();
        let ping = m
            .mock(
                http::get("http://child.example.com/ping").respond(http::status(200).body("pong")),
            )
            .expect(1);
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "http://child.example.com/ping"])
            .output()
            .expect("curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "pong", "{out:?}");
        assert_eq!(ping.hits(), 1);
        assert_ne!(
            ping.requests()[0].pid(),
            Some(u64::from(std::process::id()))
        );
    }

    /// Must fail (run without mocket): the one-line panic.
    #[test]
    #[ignore = "fixture: run by test_api.rs under mocket"]
    fn start_only() {
        let _m = Mocket::start();
    }
}

/// What a fixture run reported, per test: `ok`, `FAILED` or `ignored`.
#[derive(Debug)]
struct FixtureRun {
    run: Run,
    results: BTreeMap<String, String>,
}

impl FixtureRun {
    #[track_caller]
    fn expect(&self, test: &str, result: &str) {
        assert_eq!(
            self.results
                .get(&format!("fixture::{test}"))
                .map(String::as_str),
            Some(result),
            "fixture::{test}\nstdout:\n{}\nstderr:\n{}",
            self.run.stdout,
            self.run.stderr
        );
    }

    /// Everything the run printed.
    fn output(&self) -> String {
        format!("{}\n{}", self.run.stdout, self.run.stderr)
    }
}

/// Runs fixture tests (exact names) of this binary under `placement`, with a mocks file and
/// extra environment.
fn run_fixtures(
    placement: Placement,
    mocks: &Path,
    env: &[(&str, &str)],
    tests: &[&str],
    threads: usize,
) -> FixtureRun {
    let exe = std::env::current_exe().expect("test binary");
    let names: Vec<String> = tests.iter().map(|t| format!("fixture::{t}")).collect();
    let threads = format!("--test-threads={threads}");
    let mut cmd = vec![
        exe.to_str().unwrap(),
        "--ignored",
        "--exact",
        "--show-output",
        &threads,
    ];
    cmd.extend(names.iter().map(String::as_str));
    let mut env = env.to_vec();
    env.push(("RUST_BACKTRACE", "0"));
    let run = placement.run_env(mocks, &env, &cmd);
    let results = run
        .stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.split_once(" ... ")?;
            Some((name.to_string(), result.trim().to_string()))
        })
        .collect();
    FixtureRun { run, results }
}

const NO_ENTRIES: &str = r#"{"entries": []}"#;

/// A private data home (the CA and the trust bundle), shared by the daemon run and the
/// embedded run after it: under a bare `LD_PRELOAD`, rustls trusts mocket through the bundle a
/// previous run created (see rust_clients.rs).
fn data_home() -> String {
    scratch_dir("data-home").to_string_lossy().into_owned()
}

#[test]
fn parallel_tests_on_one_destination_never_cross_talk_and_others_overlap() {
    let mocks = mocks_file(NO_ENTRIES);
    let data = data_home();
    let tests = [
        "same_1", "same_2", "same_3", "same_4", "other_1", "other_2", "other_3", "other_4",
    ];
    for placement in PLACEMENTS {
        let log = scratch_dir("intervals").join("log");
        let log_text = log.to_string_lossy().into_owned();
        let env = [("XDG_DATA_HOME", data.as_str()), ("FIXTURE_LOG", &log_text)];
        let run = run_fixtures(placement, &mocks, &env, &tests, 8);
        for test in tests {
            run.expect(test, "ok");
        }
        let mut same = Vec::new();
        let mut other = Vec::new();
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let interval = (
                parts[2].parse::<u128>().unwrap(),
                parts[3].parse::<u128>().unwrap(),
            );
            match parts[0] {
                "same" => same.push((parts[1].to_string(), interval)),
                _ => other.push((parts[1].to_string(), interval)),
            }
        }
        assert_eq!(
            (same.len(), other.len()),
            (4, 4),
            "{placement:?}: {same:?} {other:?}"
        );
        // One destination: one test at a time (the lease), each interval apart from the others.
        same.sort_by_key(|(_, (start, _))| *start);
        for pair in same.windows(2) {
            assert!(
                pair[0].1.1 <= pair[1].1.0,
                "{placement:?}: {} and {} held shared.example.com at the same time: {same:?}",
                pair[0].0,
                pair[1].0
            );
        }
        // Different destinations: all four inside their scopes at one instant.
        let latest_start = other.iter().map(|(_, (s, _))| *s).max().unwrap();
        let earliest_end = other.iter().map(|(_, (_, e))| *e).min().unwrap();
        assert!(
            latest_start < earliest_end,
            "{placement:?}: no instant when all four were running: {other:?}"
        );
    }
}

#[test]
fn the_api_end_to_end_under_both_placements() {
    let mocks = mocks_file(NO_ENTRIES);
    for (placement, name) in [
        (Placement::Daemon, "daemon"),
        (Placement::Embedded, "embedded"),
    ] {
        let journal = scratch_dir("journal").join("journal.jsonl");
        let journal_text = journal.to_string_lossy().into_owned();
        let env = [("MOCKET_JOURNAL", journal_text.as_str())];
        let run = run_fixtures(placement, &mocks, &env, &["every_builder"], 1);
        run.expect("every_builder", "ok");
        assert!(
            run.run
                .stdout
                .contains(&format!("every_builder placement={name}")),
            "{}",
            run.output()
        );
        // The journal names the test of each scope entry's event.
        let events: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let of_test = events
            .iter()
            .filter(|e| e["scope"] == "fixture::every_builder" && e["action"] == "mocked")
            .count();
        assert!(of_test >= 10, "{placement:?}: {events:#?}");
        // The daemon's end-of-run report lists scope entries with their test.
        if let Placement::Daemon = placement {
            assert!(
                run.run.stderr.contains(
                    r#"http POST http://api.stripe.test/v1/charges (test "fixture::every_builder"): 1 request(s)"#
                ),
                "{}",
                run.run.stderr
            );
        }
    }
}

#[test]
fn scope_entries_answer_before_the_mocks_file() {
    let mocks = mocks_file(
        r#"{"entries": [{"http": "GET http://file.example.com/v", "response": {"body": "from the file"}}]}"#,
    );
    for placement in PLACEMENTS {
        let run = run_fixtures(
            placement,
            &mocks,
            &[],
            &["scope_entries_come_before_file_entries"],
            1,
        );
        run.expect("scope_entries_come_before_file_entries", "ok");
    }
}

#[test]
fn a_failed_expectation_names_the_entry_the_counts_and_the_unmatched_request() {
    let mocks = mocks_file(NO_ENTRIES);
    for placement in PLACEMENTS {
        let run = run_fixtures(
            placement,
            &mocks,
            &[],
            &["fails_expectation_and_unmatched"],
            1,
        );
        run.expect("fails_expectation_and_unmatched", "FAILED");
        let out = run.output();
        assert!(out.contains("unmatched status 501"), "{placement:?}: {out}");
        assert!(
            out.contains(
                "POST http://api.stripe.test/v1/charges: expected exactly 1 request, got 0"
            ),
            "{placement:?}: {out}"
        );
        // The unmatched request, with why the nearest entry did not match.
        assert!(out.contains("/v1/charge"), "{placement:?}: {out}");
        assert!(
            out.contains(
                "mocket: test \"fixture::fails_expectation_and_unmatched\" failed its mocks"
            ),
            "{placement:?}: {out}"
        );
    }
}

#[test]
fn a_panicking_closure_answers_500_and_fails_the_scope() {
    let mocks = mocks_file(NO_ENTRIES);
    for placement in PLACEMENTS {
        let run = run_fixtures(placement, &mocks, &[], &["fails_with_panicking_closure"], 1);
        run.expect("fails_with_panicking_closure", "FAILED");
        let out = run.output();
        assert!(out.contains("closure status 500"), "{placement:?}: {out}");
        assert!(
            out.contains(
                "respond_with of GET http://api.example.com/v1/boom panicked: boom in the closure"
            ),
            "{placement:?}: {out}"
        );
    }
}

#[test]
fn a_scope_dropped_during_a_panic_does_not_panic_again() {
    let mocks = mocks_file(NO_ENTRIES);
    for placement in PLACEMENTS {
        let run = run_fixtures(placement, &mocks, &[], &["fails_while_scope_unmet"], 1);
        run.expect("fails_while_scope_unmet", "FAILED");
        let out = run.output();
        // The harness reported the failure (a panic while panicking would abort instead).
        assert!(
            out.contains("test result: FAILED. 0 passed; 1 failed"),
            "{placement:?}: {out}"
        );
        assert!(
            out.contains("the test's own failure"),
            "{placement:?}: {out}"
        );
        assert!(
            !out.contains("panicked while processing panic"),
            "{placement:?}: {out}"
        );
        // The scope's report is still printed.
        assert!(
            out.contains("expected exactly 1 request, got 0"),
            "{placement:?}: {out}"
        );
    }
}

#[test]
fn bad_registrations_fail_at_mock_with_the_message_of_mocket_check() {
    let mocks = mocks_file(NO_ENTRIES);
    let entries = [
        (
            "bad_key",
            r#"{"http": "GET http://a.example.com/", "respnse": {"status": 200}}"#,
        ),
        (
            "bad_url",
            r#"{"http": "GET htp://a.example.com/", "response": {"status": 200}}"#,
        ),
        (
            "bad_regex",
            r#"{"http": "GET http://a.example.com/", "match": {"path_regex": "("}, "response": {"status": 200}}"#,
        ),
    ];
    for (test, entry) in entries {
        // What `mocket check` says of the same entry in a file, without the file's place.
        let file = mocks_file(&format!(r#"{{"entries": [{entry}]}}"#));
        let check = run(netns_command(&[
            mocket_bin().to_str().unwrap(),
            "check",
            file.to_str().unwrap(),
        ]));
        check.expect_code(2);
        let first_line = check.stderr.lines().next().unwrap_or_default();
        let message = first_line
            .split_once("entries[0].")
            .map(|(_, m)| m)
            .unwrap_or_else(|| panic!("mocket check said {:?}", check.stderr));
        for placement in PLACEMENTS {
            let run = run_fixtures(placement, &mocks, &[], &[test], 1);
            run.expect(test, "FAILED");
            assert!(
                run.output().contains(&format!("mocket: {message}")),
                "{placement:?} {test}: expected {message:?} in\n{}",
                run.output()
            );
        }
    }
}

#[test]
fn a_lease_timeout_names_the_holder() {
    let mocks = mocks_file(NO_ENTRIES);
    for placement in PLACEMENTS {
        let log = scratch_dir("lease").join("log");
        let log_text = log.to_string_lossy().into_owned();
        let env = [
            ("MOCKET_LEASE_TIMEOUT_MS", "500"),
            ("FIXTURE_LOG", log_text.as_str()),
        ];
        let run = run_fixtures(
            placement,
            &mocks,
            &env,
            &["lease_holder", "lease_waiter"],
            2,
        );
        run.expect("lease_holder", "ok");
        run.expect("lease_waiter", "FAILED");
        let out = run.output();
        assert!(
            out.contains(r#"lease.example.com:80 is held by test "fixture::lease_holder""#),
            "{placement:?}: {out}"
        );
        assert!(
            out.contains("MOCKET_LEASE_TIMEOUT_MS"),
            "{placement:?}: {out}"
        );
    }
}

#[test]
fn a_child_process_under_mocket_run_hits_the_parent_scope() {
    assert!(have("curl"), "curl is needed (.ci/run installs it)");
    let mocks = mocks_file(NO_ENTRIES);
    let run = run_fixtures(
        Placement::Daemon,
        &mocks,
        &[],
        &["child_process_uses_the_scope"],
        1,
    );
    run.expect("child_process_uses_the_scope", "ok");
}

#[test]
fn without_interception_mocket_start_panics_with_one_line() {
    let exe = std::env::current_exe().unwrap();
    let mut c = netns_command(&[
        exe.to_str().unwrap(),
        "--ignored",
        "--exact",
        "fixture::start_only",
    ]);
    c.env_remove("LD_PRELOAD")
        .env_remove("MOCKET_SOCKET")
        .env("RUST_BACKTRACE", "0");
    let run = run(c);
    run.expect_code(101);
    let line = "mocket: nothing intercepts this process: run the tests under `mocket run -- cargo test` (or set runner = [\"mocket\", \"run\", \"--\"] in .cargo/config.toml), or with LD_PRELOAD=/path/to/libmocket.so";
    assert!(
        run.stdout.lines().any(|l| l == line),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// examples/test-api: a user's crate whose `cargo test` runs under mocket through the runner in
/// its .cargo/config.toml (with the built `mocket` first on PATH), offline, in a network
/// namespace. Its dependencies were fetched beforehand (.ci/run: `cargo fetch`). It shares
/// target/downstream with tests/downstream: crates built with the same features there (serde,
/// http, bytes, ...) compile once; tokio, hyper and rustls differ in features and compile again.
#[test]
fn the_examples_crate_passes_under_its_cargo_runner() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/test-api");
    let target = build_dir().parent().expect("target dir").join("downstream");
    let path = format!(
        "{}:{}",
        build_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let data = data_home();
    let cargo_test = |extra: &[&str]| {
        let mut args = vec![cargo.as_str(), "test", "--offline"];
        args.extend_from_slice(extra);
        let mut c = netns_command(&args);
        c.current_dir(&dir)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", &target)
            .env("XDG_DATA_HOME", &data)
            .env_remove("LD_PRELOAD")
            .env_remove("MOCKET_SOCKET");
        c
    };
    // The build alone, with room for a cold one.
    let mut build = std::process::Command::new("timeout");
    let no_run = cargo_test(&["--no-run"]);
    build
        .args(["-k", "5", "1800"])
        .arg(no_run.get_program())
        .args(no_run.get_args())
        .current_dir(&dir)
        .env("PATH", &path)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null());
    let started = std::time::Instant::now();
    let out = build.output().expect("spawn cargo");
    assert!(
        out.status.success(),
        "building examples/test-api failed (its crates must be fetched first: `cargo fetch --manifest-path examples/test-api/Cargo.toml`, as .ci/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "examples/test-api built in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let run = run(cargo_test(&[]));
    run.success();
    assert!(
        run.stdout.contains("test result: ok. 6 passed; 0 failed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // The runner did run the tests under mocket: its end-of-run report.
    assert!(run.stderr.contains("mocket: "), "{}", run.stderr);
}
