//! Which recorded raw TCP connection replay gives a live one: a server-first connection is
//! given the first unused recorded connection before it says anything, so the cassette must
//! hold connections in the order they opened, however long the engine takes to finish each.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Engine;
use crate::journal::Journal;
use crate::tests::connect;
use mocket_config::{Config, LogLevel};
use mocket_recordings::{Mode, RecordSettings};

/// A server-first service numbering its connections: `220 #n`, then for one line `L` the
/// answer `250 L #n`, then it closes.
fn numbering_greeter() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, conn) in (1..).zip(listener.incoming().flatten()) {
            std::thread::spawn(move || greet(conn, n));
        }
    });
    port
}

fn greet(mut conn: TcpStream, n: u32) {
    conn.write_all(format!("220 #{n}\r\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(conn.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    let answer = format!("250 {} #{n}\r\n", line.trim_end());
    conn.write_all(answer.as_bytes()).unwrap();
}

/// An engine recording (or replaying, as `mode` and the cassette decide) everything under
/// `dir`: nothing is allowed.
fn recording_engine(dir: &Path, mode: Mode) -> Arc<Engine> {
    let mut config = Config::parse(r#"{"allow": []}"#, "m.json", Path::new(".")).unwrap();
    config.record = Some(RecordSettings {
        dir: dir.to_path_buf(),
        namespace: "default".into(),
        mode,
        upstream_ca: None,
        redactor: Default::default(),
        matcher: Default::default(),
    });
    Engine::with_config(
        Ok(Arc::new(config)),
        LogLevel::Error,
        Journal::default(),
        None,
    )
}

/// A client of the greeter: connected, greeting read.
struct Client {
    reader: BufReader<TcpStream>,
    greeting: String,
}

impl Client {
    fn open(engine: &Arc<Engine>, port: u16) -> Client {
        let conn = connect(engine, "localhost", port);
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(conn);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).unwrap();
        Client { reader, greeting }
    }

    /// Sends `line` and returns the rest of what the server said until it closed.
    fn finish(mut self, line: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        let mut rest = String::new();
        self.reader.read_to_string(&mut rest).unwrap();
        rest
    }
}

/// Waits until the cassette under `dir` holds `text` (the engine saves after the client saw
/// the connection end).
fn wait_for_cassette(dir: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = dir.join("default.json");
    while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains(text)) {
        assert!(
            Instant::now() < deadline,
            "{text:?} never reached the cassette"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mocket-order-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn raw_tcp_connections_replay_in_the_order_they_opened_not_the_order_they_ended() {
    let port = numbering_greeter();
    let dir = temp_dir("opened");
    let recording = recording_engine(&dir, Mode::Once);
    // The first connection stays open while a second one opens, finishes and is saved whole.
    let first = Client::open(&recording, port);
    assert_eq!(first.greeting, "220 #1\r\n");
    let second = Client::open(&recording, port);
    assert_eq!(second.finish("HELO b"), "250 HELO b #2\r\n");
    wait_for_cassette(&dir, "HELO b");
    assert_eq!(first.finish("HELO a"), "250 HELO a #1\r\n");
    wait_for_cassette(&dir, "HELO a");
    drop(recording);

    // Replayed one after the other, they get the connections in the order they opened.
    let replay = recording_engine(&dir, Mode::None);
    let first = Client::open(&replay, port);
    assert_eq!(
        first.greeting, "220 #1\r\n",
        "the second connection replayed first"
    );
    assert_eq!(first.finish("HELO a"), "250 HELO a #1\r\n");
    let second = Client::open(&replay, port);
    assert_eq!(second.greeting, "220 #2\r\n");
    assert_eq!(second.finish("HELO b"), "250 HELO b #2\r\n");
    // The engine counts a connection after the client saw it end.
    let deadline = Instant::now() + Duration::from_secs(10);
    while replay.report().replayed < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = replay.report();
    assert_eq!((report.replayed, report.unmatched_count), (2, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}
