//! The control connection's spin (issue 12's round-trip costs): both ends read without
//! sleeping for a moment before they block, and stop spinning while it does not pay. Whatever
//! the spin does, every message must arrive whole and in order: back-to-back requests (the
//! spin catches them), requests after pauses longer than the spin (it ran out and backs off),
//! and messages longer than one read, under both placements.
//!
//! As in test_api.rs, the test that uses the API is an `#[ignore]`d fixture, run by the test
//! at the bottom as this very binary under `mocket run` or a bare `LD_PRELOAD`.

#![forbid(unsafe_code)]

use mocket_tests::*;

mod fixture {
    use std::io::BufReader;
    use std::net::TcpStream;
    use std::time::Duration;

    use mocket::{Mocket, http};
    use mocket_tests::{keep_alive_connect, keep_alive_get};

    /// One keep-alive GET that must answer 200: the body.
    fn get(stream: &mut BufReader<TcpStream>, host: &str, path: &str) -> String {
        let (status, body) = keep_alive_get(stream, host, path);
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
        body
    }

    #[test]
    #[ignore]
    fn messages_arrive_whole_across_the_spin() {
        let m = Mocket::start();
        let host = "spin.latency.test";
        // Back to back: each request follows its reply at once.
        let mocks: Vec<_> = (0..200)
            .map(|i| {
                let url = format!("http://{host}/e{i}");
                m.mock(http::get(url).respond(http::status(200).body(format!("e{i}"))))
            })
            .collect();
        let mut stream = keep_alive_connect(host);
        for (i, mock) in mocks.iter().enumerate().step_by(20) {
            assert_eq!(get(&mut stream, host, &format!("/e{i}")), format!("e{i}"));
            assert_eq!(mock.hits(), 1);
        }
        // Pauses longer than any spin: the ends block, and spin less for a while.
        for i in 0..8 {
            std::thread::sleep(Duration::from_millis(3));
            let path = format!("/late{i}");
            let late = m.mock(
                http::get(format!("http://{host}{path}")).respond(http::status(200).body("late")),
            );
            assert_eq!(late.hits(), 0);
            assert_eq!(get(&mut stream, host, &path), "late");
            assert_eq!(late.hits(), 1);
        }
        // A registration and a reply longer than a read (64 KiB) on each end.
        let big: String = (0..300_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let entry = m.mock(
            http::get(format!("http://{host}/big")).respond(http::status(200).body(big.clone())),
        );
        assert_eq!(get(&mut stream, host, "/big"), big);
        assert_eq!(entry.hits(), 1);
        assert_eq!(m.requests().len(), 10 + 8 + 1);
        m.verify();
    }
}

#[test]
fn control_messages_arrive_whole_whether_the_ends_spin_or_sleep() {
    for placement in PLACEMENTS {
        run_fixture(placement, "messages_arrive_whole_across_the_spin");
    }
}
