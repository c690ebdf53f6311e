use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use super::*;
use crate::journal::Journal;

pub(crate) fn engine(text: &str) -> Arc<Engine> {
    let config = Config::parse(text, "m.json", Path::new(".")).map(Arc::new);
    Engine::with_config(config, LogLevel::Error, Journal::default(), None)
}

fn route(e: &Arc<Engine>, addr: &str, port: u16) -> Reply {
    let addr = addr.parse().unwrap();
    e.handle(Request::Route {
        pid: 1,
        transport: Transport::Tcp,
        addr,
        port,
    })
}

/// Connects like the shim does: ask, connect to where the engine says, write the preamble.
pub(crate) fn connect(e: &Arc<Engine>, host: &str, port: u16) -> TcpStream {
    let Reply::Fake(ip) = e.handle(Request::Resolve {
        pid: 1,
        name: host.into(),
    }) else {
        panic!()
    };
    let Reply::Redirect(Redirect { port: eport, .. }) = route(e, &ip.to_string(), port) else {
        panic!()
    };
    let mut stream = TcpStream::connect(("127.0.0.1", eport)).unwrap();
    let preamble = crate::control::preamble::Preamble {
        pid: 1,
        addr: ip.into(),
        port,
    };
    stream.write_all(&preamble.encode()).unwrap();
    stream
}

#[test]
fn resolves_entry_names_to_fake_addresses() {
    let e = engine(r#"{"entries": [{"tcp": "legacy.internal:9000", "response": "x"}]}"#);
    let reply = e.handle(Request::Resolve {
        pid: 1,
        name: "LEGACY.internal".into(),
    });
    assert_eq!(reply, Reply::Fake(e.fake_ip_of("legacy.internal").unwrap()));
    let reply = e.handle(Request::Resolve {
        pid: 1,
        name: "localhost".into(),
    });
    assert_eq!(reply, Reply::RealTell);
    // Unknown names in strict mode get a fake address too: the connect is refused by name.
    assert!(matches!(
        e.handle(Request::Resolve {
            pid: 1,
            name: "x.test".into()
        }),
        Reply::Fake(_)
    ));
}

#[test]
fn strict_mode_refuses_with_a_message() {
    let e = engine(r#"{"entries": [{"tcp": "a.test:1", "response": "x"}]}"#);
    let ip = e.fake_ip_of("api.example.com").unwrap().to_string();
    let Reply::Refuse(msg) = route(&e, &ip, 443) else {
        panic!()
    };
    assert_eq!(
        msg,
        "strict mode refused api.example.com:443 (no entry matches; allowed: localhost, 127.0.0.0/8, ::1)"
    );
    let ip = e.fake_ip_of("a.test").unwrap().to_string();
    let Reply::Refuse(msg) = route(&e, &ip, 2) else {
        panic!()
    };
    assert!(msg.contains("no entry for this port"), "{msg}");
    assert_eq!(route(&e, "127.0.0.1", 5), Reply::Pass);
    assert!(matches!(route(&e, "10.1.1.1", 5), Reply::Refuse(_)));
    let report = e.report();
    assert_eq!(report.refused.len(), 3);
    assert_eq!(report.passthrough, 1);
    assert_eq!(report.unused_entries, vec!["#0 tcp a.test:1".to_string()]);
}

#[test]
fn names_allowed_by_name_are_judged_by_name() {
    let e = engine(r#"{"allow": ["db.internal:5432"]}"#);
    assert_eq!(
        e.handle(Request::Resolve {
            pid: 1,
            name: "db.internal".into()
        }),
        Reply::RealTell
    );
    let addrs = vec!["10.9.9.9".parse().unwrap()];
    e.handle(Request::Resolved {
        pid: 1,
        name: "db.internal".into(),
        addrs,
    });
    assert_eq!(route(&e, "10.9.9.9", 5432), Reply::Pass);
    assert!(matches!(route(&e, "10.9.9.9", 5433), Reply::Refuse(_)));
}

#[test]
fn non_strict_passes_and_udp_to_fake_names_is_refused() {
    let e = engine(r#"{"strict": false, "entries": [{"tcp": "a.test:1", "response": "x"}]}"#);
    assert_eq!(
        e.handle(Request::Resolve {
            pid: 1,
            name: "b.test".into()
        }),
        Reply::Real
    );
    let ip = e.fake_ip_of("a.test").unwrap();
    assert_eq!(
        route(&e, &ip.to_string(), 2),
        Reply::PassHost("a.test".into())
    );
    assert_eq!(route(&e, "10.1.1.1", 5), Reply::Pass);
    let udp = Request::Route {
        pid: 1,
        transport: Transport::Udp,
        addr: IpAddr::V4(ip),
        port: 1,
    };
    assert!(matches!(e.handle(udp), Reply::Refuse(m) if m.contains("TCP only")));
}

#[test]
fn broken_config_refuses_everything() {
    let e = engine(r#"{"entries": [{"tcp": "a.test"}]}"#);
    let Reply::Refuse(msg) = route(&e, "127.0.0.1", 5) else {
        panic!()
    };
    assert!(msg.contains("m.json:1:15: entries[0].tcp"), "{msg}");
    assert!(matches!(
        e.handle(Request::Resolve {
            pid: 1,
            name: "localhost".into()
        }),
        Reply::Refuse(_)
    ));
}

#[test]
fn serves_a_tcp_script_and_honours_times() {
    let e = engine(
        r#"{"entries": [
            {"tcp": "smtp.test:25", "greeting": "220 hi\r\n", "request": "HELO\r\n", "responses": ["250 a\r\n", "250 b\r\n"], "times": 1},
            {"tcp": "smtp.test:25", "greeting": "220 second\r\n", "response": "x"}]}"#,
    );
    let mut c = connect(&e, "smtp.test", 25);
    let mut buf = [0u8; 8];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"220 hi\r\n");
    c.write_all(b"HE").unwrap();
    c.write_all(b"LO\r\nHELO\r\nHELO\r\n").unwrap();
    let mut buf = [0u8; 21];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"250 a\r\n250 b\r\n250 b\r\n");
    let mut c2 = connect(&e, "smtp.test", 25);
    let mut buf = [0u8; 12];
    c2.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"220 second\r\n");
}

#[test]
fn a_mismatch_closes_and_is_reported() {
    let e = engine(r#"{"entries": [{"tcp": "a.test:1", "request": "PING", "response": "PONG"}]}"#);
    let mut c = connect(&e, "a.test", 1);
    c.write_all(b"PUNG").unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let report = e.report();
    assert_eq!(report.unmatched_count, 1);
    assert!(
        report.unmatched[0].contains("expected \"PING\", received \"PU"),
        "{:?}",
        report.unmatched
    );
}

#[test]
fn reverse_lookups_of_real_addresses_follow_strict_mode_and_allow() {
    let reverse = |e: &Arc<Engine>, addr: &str| {
        e.handle(Request::Reverse {
            pid: 1,
            addr: addr.parse().unwrap(),
        })
    };
    let strict = engine(r#"{"allow": ["10.0.0.0/8", "db.internal"], "entries": []}"#);
    assert!(matches!(reverse(&strict, "8.8.8.8"), Reply::Refuse(m) if m.contains("8.8.8.8")));
    assert!(matches!(
        reverse(&strict, "::ffff:8.8.8.8"),
        Reply::Refuse(_)
    ));
    assert_eq!(reverse(&strict, "10.1.2.3"), Reply::Real);
    assert!(
        strict.report().failed(),
        "a refused reverse lookup is reported"
    );
    let open = engine(r#"{"strict": false, "entries": []}"#);
    assert_eq!(reverse(&open, "8.8.8.8"), Reply::Real);
    let fake = strict.fake_ip_of("x.test").unwrap();
    assert_eq!(
        strict.handle(Request::Resolve {
            pid: 1,
            name: "x.test".into()
        }),
        Reply::Fake(fake)
    );
    assert_eq!(
        reverse(&strict, &fake.to_string()),
        Reply::Name("x.test".into())
    );
}

#[test]
fn a_reply_the_line_cannot_carry_becomes_a_refusal() {
    let e = engine(r#"{"entries": []}"#);
    let line = e.handle_line("resolve 1 a b");
    assert!(line.starts_with("refuse "), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn index_caches_are_bounded_and_rebuild_what_they_dropped() {
    let mut cache = HashMap::new();
    let mut built = 0;
    for n in 0..10 {
        let dest = Destination::new(&format!("h{n}.example.com"), 80);
        let index = cached_index(&mut cache, &dest, 3, || {
            built += 1;
            n
        });
        assert_eq!(*index, n);
        assert!(cache.len() <= 3, "{} cached", cache.len());
        assert!(cache.contains_key(&dest));
    }
    assert_eq!(built, 10);
    let last = Destination::new("h9.example.com", 80);
    assert_eq!(*cached_index(&mut cache, &last, 3, || unreachable!()), 9);
    let dropped = (0..9)
        .map(|n| Destination::new(&format!("h{n}.example.com"), 80))
        .find(|d| !cache.contains_key(d))
        .unwrap();
    assert_eq!(
        *cached_index(&mut cache, &dropped, 3, || 100),
        100,
        "rebuilt"
    );
    assert_eq!(cache.len(), 3);
}

/// A redirect is lasting (the shim may reuse it without asking) only when nothing can change
/// it for the rest of the run: mocks-file entries on a fake address.
#[test]
fn only_file_entries_on_fake_addresses_make_a_lasting_redirect() {
    let e = engine(
        r#"{"entries": [{"tcp": "a.test:1", "response": "x"}, {"tcp": "10.1.1.1:2", "response": "y"}]}"#,
    );
    let ip = e.fake_ip_of("a.test").unwrap().to_string();
    assert!(matches!(
        route(&e, &ip, 1),
        Reply::Redirect(Redirect { lasting: true, .. })
    ));
    // A real address may later be judged by a name (a lookup told to the engine).
    assert!(matches!(
        route(&e, "10.1.1.1", 2),
        Reply::Redirect(Redirect { lasting: false, .. })
    ));
}

/// Whether `route` told the shim that the client speaks first at a destination.
fn client_first(reply: Reply) -> bool {
    match reply {
        Reply::Redirect(Redirect { client_first, .. }) => client_first,
        other => panic!("not redirected: {other:?}"),
    }
}

/// A redirect says the client speaks first (the shim may hold the preamble back for the
/// application's first bytes) only when every entry at the destination is HTTP(S), Redis or
/// Kubernetes: never where a raw TCP entry may greet, alone or among others.
#[test]
fn only_protocols_whose_client_speaks_first_make_a_client_first_redirect() {
    let e = engine(
        r#"{"entries": [
            {"http": "GET http://web.test/", "response": {}},
            {"http": "GET https://secure.test/", "response": {}},
            {"redis": "cache.test:6379", "emulate": true},
            {"kubernetes": "https://kube.test:6443"},
            {"tcp": "smtp.test:25", "greeting": "220 ready\r\n", "response": "250 ok\r\n"},
            {"tcp": "echo.test:7", "response": "x"},
            {"http": "GET http://mixed.test:8000/", "response": {}},
            {"tcp": "mixed.test:8000", "greeting": "hello\r\n", "response": "x"},
            {"http": "GET http://10.1.1.1:2/", "response": {}}]}"#,
    );
    let at = |host: &str, port| route(&e, &e.fake_ip_of(host).unwrap().to_string(), port);
    assert!(client_first(at("web.test", 80)));
    assert!(client_first(at("secure.test", 443)));
    assert!(client_first(at("cache.test", 6379)));
    assert!(client_first(at("kube.test", 6443)));
    assert!(!client_first(at("smtp.test", 25)));
    assert!(!client_first(at("echo.test", 7)));
    assert!(!client_first(at("mixed.test", 8000)));
    // A real address: not lasting, but its protocol is known as well.
    assert!(matches!(
        route(&e, "10.1.1.1", 2),
        Reply::Redirect(Redirect {
            lasting: false,
            client_first: true,
            ..
        })
    ));
    assert!(matches!(
        at("web.test", 80),
        Reply::Redirect(Redirect {
            lasting: true,
            client_first: true,
            ..
        })
    ));
}

/// A recorded destination (no entries) never makes a client-first redirect: the real server
/// behind the record proxy may greet (SMTP, MySQL).
#[test]
fn a_recorded_destination_is_not_client_first() {
    let dir = std::env::temp_dir().join(format!("mocket-client-first-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::parse(
        r#"{"entries": [{"http": "GET http://web.test/", "response": {}}]}"#,
        "m.json",
        Path::new("."),
    )
    .unwrap();
    config.record = Some(mocket_recordings::RecordSettings {
        dir: dir.clone(),
        namespace: "default".into(),
        mode: mocket_recordings::Mode::default(),
        upstream_ca: None,
        redactor: mocket_recordings::Redactor::default(),
        matcher: Default::default(),
    });
    let e = Engine::with_config(
        Ok(Arc::new(config)),
        LogLevel::Error,
        Journal::default(),
        None,
    );
    assert!(e.recorder.is_some(), "not recording");
    let Reply::Fake(ip) = e.handle(Request::Resolve {
        pid: 1,
        name: "db.example.com".into(),
    }) else {
        panic!("no fake address")
    };
    assert!(!client_first(route(&e, &ip.to_string(), 3306)));
    let web = e.fake_ip_of("web.test").unwrap().to_string();
    assert!(client_first(route(&e, &web, 80)));
    let _ = std::fs::remove_dir_all(&dir);
}
