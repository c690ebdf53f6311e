//! The test API's fast paths (issue 12's costs) with a real client, under both placements:
//! test threads that share the process's one control session read their own replies (the
//! daemon placement no longer hands each reply over from a reader thread), `respond_with` calls
//! still arrive between requests, and a scope with many entries on one destination answers
//! with the entry registered last.
//!
//! As in test_api.rs, the tests that use the API are `#[ignore]`d fixtures, run by the tests at
//! the bottom as this very binary under `mocket run` or a bare `LD_PRELOAD`.

#![forbid(unsafe_code)]

use mocket_tests::*;

mod fixture {
    use mocket::{Mocket, http};
    use mocket_tests::{keep_alive_connect, keep_alive_get};

    /// Eight test threads, each with its own destination, send requests and read their hits
    /// at the same time through the process's one session: every thread gets its own replies
    /// (hits differ per thread). Halfway, one registers a `respond_with` closure, whose calls
    /// must then reach it while the others go on.
    #[test]
    #[ignore]
    fn threads_read_their_own_replies_and_calls_still_arrive() {
        let threads: Vec<_> = (1..=8u64)
            .map(|t| {
                std::thread::Builder::new()
                    .name(format!("worker-{t}"))
                    .spawn(move || {
                        let m = Mocket::start();
                        let host = format!("w{t}.perf.test");
                        let url = format!("http://{host}/n");
                        let entry = m.mock(http::get(&url).respond(http::status(200).body("n")));
                        let mut stream = keep_alive_connect(&host);
                        for round in 1..=50u64 {
                            for _ in 0..t {
                                assert_eq!(keep_alive_get(&mut stream, &host, "/n").1, "n");
                            }
                            assert_eq!(entry.hits(), round * t, "{host}");
                            if t == 3 && round == 25 {
                                m.mock(http::get(format!("http://{host}/echo")).respond_with(
                                    |request| http::status(200).body(request.path().to_string()),
                                ));
                            }
                            if t == 3 && round > 25 {
                                let (status, body) = keep_alive_get(&mut stream, &host, "/echo");
                                assert_eq!(
                                    (status.as_str(), body.as_str()),
                                    ("HTTP/1.1 200 OK", "/echo")
                                );
                            }
                        }
                        assert_eq!(
                            m.requests().len() as u64,
                            match t {
                                3 => 50 * 3 + 25,
                                _ => 50 * t,
                            }
                        );
                    })
                    .unwrap()
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// Many entries on one destination (a registration no longer copies them): each request
    /// between registrations sees the entries registered so far, the latest one included.
    #[test]
    #[ignore]
    fn requests_see_every_registration_of_a_large_scope() {
        let m = Mocket::start();
        let mut stream = None;
        for i in 0..300 {
            let url = format!("http://many.perf.test/e{i}");
            m.mock(http::get(url).respond(http::status(200).body(format!("e{i}"))));
            // Connected once the host is registered (strict mode refuses it before).
            let stream = stream.get_or_insert_with(|| keep_alive_connect("many.perf.test"));
            if i % 30 == 0 {
                let path = format!("/e{i}");
                assert_eq!(
                    keep_alive_get(stream, "many.perf.test", &path).1,
                    format!("e{i}")
                );
            }
        }
        let stream = stream.as_mut().unwrap();
        let (status, body) = keep_alive_get(stream, "many.perf.test", "/e299");
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "e299")
        );
        assert_eq!(m.requests().len(), 11);
    }
}

#[test]
fn threads_sharing_the_session_get_their_own_replies_and_calls() {
    for placement in PLACEMENTS {
        run_fixture(
            placement,
            "threads_read_their_own_replies_and_calls_still_arrive",
        );
    }
}

#[test]
fn a_large_scope_answers_with_its_latest_registrations() {
    for placement in PLACEMENTS {
        run_fixture(
            placement,
            "requests_see_every_registration_of_a_large_scope",
        );
    }
}
