use std::sync::Arc;

use super::*;
use crate::redis::conn::Session;
use crate::redis::emulator::ManualClock;
use crate::redis::entry::Seed;

const START: u64 = 1_700_000_000_000;

fn say(em: &mut Emulator, session: &mut Session, line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let mut wire = format!("*{}\r\n", words.len());
    for w in words {
        wire.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    String::from_utf8(session.receive(wire.as_bytes(), em).bytes).unwrap()
}

fn retry(em: &mut Emulator, session: &mut Session) -> String {
    String::from_utf8(session.retry(em).bytes).unwrap()
}

/// An emulator on a manual clock with a pausing connection (1) and another (2).
fn paused(mode: &str) -> (Emulator, Arc<ManualClock>, Session, Session) {
    let clock = ManualClock::new(START);
    let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
    let (mut admin, other) = (Session::new(1), Session::new(2));
    assert_eq!(
        say(&mut em, &mut admin, &format!("CLIENT PAUSE 1000 {mode}")),
        "+OK\r\n"
    );
    (em, clock, admin, other)
}

#[test]
fn arguments_are_checked_with_redis_errors_in_redis_order() {
    let mut em = Emulator::new(&Seed::new());
    let mut s = Session::new(1);
    for (line, answer) in [
        (
            "CLIENT PAUSE",
            "-ERR wrong number of arguments for 'client|pause' command\r\n",
        ),
        (
            "CLIENT PAUSE abc",
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        (
            "CLIENT PAUSE 1.5",
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        ("CLIENT PAUSE -1", "-ERR timeout is negative\r\n"),
        (
            "CLIENT PAUSE abc foo",
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
        ),
        (
            "CLIENT PAUSE 10 write x",
            "-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.\r\n",
        ),
        (
            "CLIENT UNPAUSE x",
            "-ERR wrong number of arguments for 'client|unpause' command\r\n",
        ),
        ("CLIENT PAUSE 0", "+OK\r\n"),
        ("CLIENT PAUSE 9223372036854775807", "+OK\r\n"),
        ("CLIENT UNPAUSE", "+OK\r\n"),
    ] {
        assert_eq!(say(&mut em, &mut s, line), answer, "{line}");
    }
    assert_eq!(
        say(&mut em, &mut s, "SET k v"),
        "+OK\r\n",
        "an overflowing pause pauses nothing"
    );
}

#[test]
fn write_mode_holds_writes_until_unpause_and_lets_reads_run() {
    let (mut em, _clock, mut admin, mut other) = paused("WRITE");
    assert_eq!(say(&mut em, &mut other, "GET k"), "$-1\r\n");
    assert_eq!(say(&mut em, &mut other, "SET k v"), "", "held");
    assert_eq!(other.blocked(), Some(Some(START + 1000)));
    assert_eq!(retry(&mut em, &mut other), "", "still held");
    let list = say(&mut em, &mut admin, "CLIENT LIST");
    assert!(
        list.contains("id=2 ") && list.contains("flags=b "),
        "{list}"
    );
    let info = say(&mut em, &mut admin, "INFO clients");
    assert!(info.contains("blocked_clients:1\r\n"), "{info}");
    for held in [
        "PUBLISH c m",
        "EVAL return 1 0",
        "XGROUP CREATE s g $ MKSTREAM",
    ] {
        let mut third = Session::new(3);
        assert_eq!(say(&mut em, &mut third, held), "", "{held} is held");
    }
    say(&mut em, &mut admin, "CLIENT UNPAUSE");
    assert_eq!(retry(&mut em, &mut other), "+OK\r\n");
    assert_eq!(say(&mut em, &mut admin, "GET k"), "$1\r\nv\r\n");
}

#[test]
fn all_mode_holds_every_command_but_a_monitors_until_its_end() {
    let clock = ManualClock::new(START);
    let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
    let (mut admin, mut other, mut monitor) = (Session::new(1), Session::new(2), Session::new(3));
    say(&mut em, &mut monitor, "MONITOR");
    say(&mut em, &mut admin, "CLIENT PAUSE 500 ALL");
    assert_eq!(say(&mut em, &mut other, "PING"), "");
    assert_eq!(
        say(&mut em, &mut admin, "CLIENT UNPAUSE"),
        "",
        "UNPAUSE waits too"
    );
    assert!(say(&mut em, &mut monitor, "PING").starts_with("+PONG\r\n"));
    clock.advance(499);
    assert_eq!(retry(&mut em, &mut other), "");
    clock.advance(1);
    assert_eq!(retry(&mut em, &mut other), "+PONG\r\n");
    assert_eq!(retry(&mut em, &mut admin), "+OK\r\n");
}

#[test]
fn a_second_pause_keeps_the_later_end_and_the_stricter_mode() {
    let (mut em, clock, mut admin, mut other) = paused("ALL");
    // Only a transaction can pause again while ALL holds its connection.
    let mut tx = Session::new(3);
    em.unpause_clients();
    say(&mut em, &mut admin, "CLIENT PAUSE 1000 WRITE");
    say(&mut em, &mut tx, "CLIENT PAUSE 100 ALL");
    assert_eq!(say(&mut em, &mut other, "PING"), "", "ALL now");
    clock.advance(999);
    assert_eq!(retry(&mut em, &mut other), "", "until the later end");
    clock.advance(1);
    assert_eq!(retry(&mut em, &mut other), "+PONG\r\n");
    say(&mut em, &mut admin, "CLIENT PAUSE 100 WRITE");
    clock.advance(100);
    assert_eq!(
        say(&mut em, &mut other, "SET k v"),
        "+OK\r\n",
        "a pause that ended is gone"
    );
}

#[test]
fn a_queued_write_waits_and_exec_waits_when_it_holds_one() {
    let (mut em, _clock, mut admin, mut other) = paused("WRITE");
    assert_eq!(say(&mut em, &mut other, "MULTI"), "+OK\r\n");
    assert_eq!(say(&mut em, &mut other, "GET k"), "+QUEUED\r\n");
    assert_eq!(
        say(&mut em, &mut other, "SET k v"),
        "",
        "held before it is queued"
    );
    say(&mut em, &mut admin, "CLIENT UNPAUSE");
    assert_eq!(retry(&mut em, &mut other), "+QUEUED\r\n");
    say(&mut em, &mut admin, "CLIENT PAUSE 1000 WRITE");
    assert_eq!(say(&mut em, &mut other, "EXEC"), "", "EXEC holds a write");
    say(&mut em, &mut admin, "CLIENT UNPAUSE");
    assert_eq!(retry(&mut em, &mut other), "*2\r\n$-1\r\n+OK\r\n");
}

#[test]
fn keys_do_not_expire_while_a_pause_runs() {
    let clock = ManualClock::new(START);
    let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
    let mut s = Session::new(1);
    say(&mut em, &mut s, "SET k v PX 100");
    say(&mut em, &mut s, "CLIENT PAUSE 1000 WRITE");
    clock.advance(200);
    assert_eq!(say(&mut em, &mut s, "GET k"), "$-1\r\n", "reads as missing");
    assert_eq!(say(&mut em, &mut s, "DBSIZE"), ":1\r\n", "but stays");
    say(&mut em, &mut s, "CLIENT UNPAUSE");
    assert_eq!(say(&mut em, &mut s, "DBSIZE"), ":0\r\n");
}
