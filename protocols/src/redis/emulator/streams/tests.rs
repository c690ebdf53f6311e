//! Unit tests of the stream model: what the differential tests cannot show (the clock,
//! blocking, the radix tree model on its own).

use super::*;

#[test]
fn radix_tree_nodes_as_redis_counts_them() {
    let id = |ms, seq| StreamId { ms, seq };
    let mut s = Stream::default();
    assert_eq!(s.rax_nodes(), 1);
    s.append(id(1, 1), vec![b"f".to_vec(), b"v".to_vec()]);
    assert_eq!(s.rax_nodes(), 2);
    for ms in 2..=101 {
        s.append(id(ms, 1), vec![b"f".to_vec(), b"v".to_vec()]);
    }
    // Two listpacks (100 entries, then 1), keyed 1-1 and 101-1: what redis-server reports.
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.rax_nodes(), 6);
}

use std::sync::Arc;

use crate::redis::command::split_args;
use crate::redis::conn::Session;
use crate::redis::emulator::ManualClock;
use crate::redis::entry::Seed;

const START: u64 = 1_700_000_000_000;

/// An emulator on a manual clock, and its connections.
struct Bench {
    em: Emulator,
    clock: Arc<ManualClock>,
}

impl Bench {
    fn new() -> Self {
        let clock = ManualClock::new(START);
        Bench {
            em: Emulator::with_clock(&Seed::new(), clock.clone()),
            clock,
        }
    }

    /// Runs inline lines on `session`; the reply bytes as text.
    fn on(&mut self, session: &mut Session, lines: &[&str]) -> String {
        let mut wire = Vec::new();
        for line in lines {
            let words = split_args(line.as_bytes()).unwrap();
            wire.extend(format!("*{}\r\n", words.len()).into_bytes());
            for w in words {
                wire.extend(format!("${}\r\n", w.len()).into_bytes());
                wire.extend(w);
                wire.extend(b"\r\n");
            }
        }
        String::from_utf8(session.receive(&wire, &mut self.em).bytes).unwrap()
    }

    fn retry(&mut self, session: &mut Session) -> String {
        String::from_utf8(session.retry(&mut self.em).bytes).unwrap()
    }
}

#[test]
fn star_ids_come_from_the_clock_and_never_go_back() {
    let mut b = Bench::new();
    let mut s = Session::new(1);
    let first = b.on(&mut s, &["xadd s * a 1", "xadd s * a 2"]);
    assert_eq!(first, format!("$15\r\n{START}-0\r\n$15\r\n{START}-1\r\n"));
    b.clock.advance(5);
    assert_eq!(
        b.on(&mut s, &["xadd s * a 3"]),
        format!("$15\r\n{}-0\r\n", START + 5)
    );
    // A last ID in the future: `*` continues its sequence instead of going back in time.
    let future = START + 1_000;
    b.on(&mut s, &[&format!("xadd s {future}-7 a 4")]);
    assert_eq!(
        b.on(&mut s, &["xadd s * a 5"]),
        format!("$15\r\n{future}-8\r\n")
    );
}

#[test]
fn xread_block_dollar_waits_for_an_xadd_after_it_blocked() {
    let mut b = Bench::new();
    let (mut reader, mut writer) = (Session::new(1), Session::new(2));
    b.on(&mut writer, &["xadd s 1-1 old 1"]);
    assert_eq!(
        b.on(&mut reader, &["xread block 0 streams s $", "ping"]),
        ""
    );
    assert_eq!(reader.blocked(), Some(None));
    // Another key changing does not serve it.
    b.on(&mut writer, &["xadd other 1-1 x 1"]);
    assert_eq!(b.retry(&mut reader), "");
    // `$` was fixed when it blocked: the new entry is served, not skipped as the last one.
    b.on(&mut writer, &["xadd s 2-1 new 2"]);
    assert_eq!(
        b.retry(&mut reader),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$3\r\nnew\r\n$1\r\n2\r\n+PONG\r\n"
    );
    assert_eq!(reader.blocked(), None);
}

#[test]
fn xread_block_times_out_on_the_clock_and_client_unblock_wakes_it() {
    let mut b = Bench::new();
    let (mut reader, mut other) = (Session::new(1), Session::new(2));
    assert_eq!(b.on(&mut reader, &["xread block 100 streams s 0"]), "");
    assert_eq!(reader.blocked(), Some(Some(START + 100)));
    b.clock.advance(99);
    assert_eq!(b.retry(&mut reader), "");
    b.clock.advance(1);
    assert_eq!(b.retry(&mut reader), "*-1\r\n");
    // HELLO answers (its map ends with the empty module list); the XREAD blocks.
    let hello = b.on(&mut reader, &["hello 3", "xread block 0 streams s 0"]);
    assert!(hello.ends_with("$7\r\nmodules\r\n*0\r\n"), "{hello}");
    assert_eq!(b.on(&mut other, &["client unblock 1 error"]), ":1\r\n");
    assert_eq!(
        b.retry(&mut reader),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
}

#[test]
fn xreadgroup_block_serves_the_consumer_that_blocked_first() {
    let mut b = Bench::new();
    let (mut first, mut second, mut writer) = (Session::new(1), Session::new(2), Session::new(3));
    b.on(&mut writer, &["xgroup create s g $ mkstream"]);
    assert_eq!(
        b.on(&mut first, &["xreadgroup group g c1 block 0 streams s >"]),
        ""
    );
    assert_eq!(
        b.on(&mut second, &["xreadgroup group g c2 block 0 streams s >"]),
        ""
    );
    b.on(&mut writer, &["xadd s 1-1 job 1"]);
    // The later waiter retries first and must leave the entry to the earlier one.
    assert_eq!(b.retry(&mut second), "");
    assert!(b.retry(&mut first).contains("$3\r\n1-1\r\n"));
    assert_eq!(first.blocked(), None);
    assert_eq!(second.blocked(), Some(None));
    assert_eq!(
        b.on(&mut writer, &["xpending s g - + 10 c1"]),
        "*1\r\n*4\r\n$3\r\n1-1\r\n$2\r\nc1\r\n:0\r\n:1\r\n"
    );
    b.on(&mut writer, &["xadd s 2-1 job 2"]);
    assert!(b.retry(&mut second).contains("2-1"));
}

#[test]
fn idle_times_follow_the_clock_for_xpending_xclaim_and_xautoclaim() {
    let mut b = Bench::new();
    let mut s = Session::new(1);
    b.on(
        &mut s,
        &[
            "xadd s 1-1 a 1",
            "xadd s 2-1 b 2",
            "xgroup create s g 0",
            "xreadgroup group g c1 streams s >",
        ],
    );
    b.clock.advance(500);
    assert_eq!(
        b.on(&mut s, &["xpending s g idle 400 - + 10"]),
        "*2\r\n*4\r\n$3\r\n1-1\r\n$2\r\nc1\r\n:500\r\n:1\r\n*4\r\n$3\r\n2-1\r\n$2\r\nc1\r\n:500\r\n:1\r\n"
    );
    assert_eq!(b.on(&mut s, &["xpending s g idle 600 - + 10"]), "*0\r\n");
    // Not idle long enough: nothing claimed; then claimed, its idle time reset.
    assert_eq!(b.on(&mut s, &["xclaim s g c2 1000 1-1 justid"]), "*0\r\n");
    assert_eq!(
        b.on(&mut s, &["xclaim s g c2 400 1-1 justid"]),
        "*1\r\n$3\r\n1-1\r\n"
    );
    assert_eq!(
        b.on(&mut s, &["xpending s g - + 1"]),
        "*1\r\n*4\r\n$3\r\n1-1\r\n$2\r\nc2\r\n:0\r\n:1\r\n"
    );
    assert_eq!(
        b.on(&mut s, &["xautoclaim s g c3 400 0 justid"]),
        "*3\r\n$3\r\n0-0\r\n*1\r\n$3\r\n2-1\r\n*0\r\n"
    );
    b.clock.advance(30);
    let consumers = b.on(&mut s, &["xinfo consumers s g"]);
    assert!(
        consumers.contains("$2\r\nc1\r\n$7\r\npending\r\n:0\r\n$4\r\nidle\r\n:530\r\n"),
        "{consumers}"
    );
    assert!(
        consumers.contains("$2\r\nc3\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:30\r\n"),
        "{consumers}"
    );
    // XCLAIM IDLE sets the delivery time in the past.
    b.on(&mut s, &["xclaim s g c1 0 2-1 idle 5000 justid"]);
    assert!(
        b.on(&mut s, &["xpending s g - + 10 c1"])
            .contains(":5000\r\n")
    );
}

#[test]
fn a_blocked_xreadgroup_wakes_with_redis_errors_when_its_stream_or_group_goes() {
    let mut b = Bench::new();
    let (mut reader, mut writer) = (Session::new(1), Session::new(2));
    b.on(&mut writer, &["xgroup create s g $ mkstream"]);
    let read = "xreadgroup group g c block 0 streams s >";
    assert_eq!(b.on(&mut reader, &[read]), "");
    b.on(&mut writer, &["del s"]);
    assert_eq!(
        b.retry(&mut reader),
        "-UNBLOCKED the stream key no longer exists\r\n"
    );
    b.on(&mut writer, &["xgroup create s g $ mkstream"]);
    assert_eq!(b.on(&mut reader, &[read]), "");
    b.on(&mut writer, &["xgroup destroy s g"]);
    assert_eq!(
        b.retry(&mut reader),
        "-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    );
    // A plain XREAD keeps waiting for a deleted stream, as in Redis.
    assert_eq!(b.on(&mut reader, &["xread block 0 streams s 0"]), "");
    b.on(&mut writer, &["del s"]);
    assert_eq!(b.retry(&mut reader), "");
}

#[test]
fn xack_answers_0_for_a_missing_group_before_reading_ids() {
    // Found by the random family sequences: Redis looks the group up first.
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::default();
    let run =
        |em: &mut Emulator, conn: &mut Connection, line| super::super::run_line(em, conn, line);
    assert_eq!(run(&mut em, &mut conn, "xack nokey g 2-*"), Reply::Int(0));
    run(&mut em, &mut conn, "xadd s 1-1 a b");
    assert_eq!(run(&mut em, &mut conn, "xack s g 2-*"), Reply::Int(0));
    run(&mut em, &mut conn, "xgroup create s g 0");
    assert_eq!(
        run(&mut em, &mut conn, "xack s g 1-1 2-*"),
        Reply::error(INVALID_ID)
    );
}

#[test]
fn xdel_checks_the_key_before_its_ids() {
    // Found by the random family sequences; what redis-server 7.0.15 answers.
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::default();
    let run =
        |em: &mut Emulator, conn: &mut Connection, line| super::super::run_line(em, conn, line);
    assert_eq!(run(&mut em, &mut conn, "xdel nokey 2-*"), Reply::Int(0));
    run(&mut em, &mut conn, "set s v");
    assert_eq!(
        run(&mut em, &mut conn, "xdel s 2-*"),
        Reply::error(super::super::WRONGTYPE)
    );
}

#[test]
fn xsetid_may_go_below_the_greatest_deleted_id_as_in_redis_7_0() {
    // Found by the random family sequences; redis-server 7.0.15 answers OK to both.
    let mut em = Emulator::new(&Seed::new());
    let mut conn = Connection::default();
    let run =
        |em: &mut Emulator, conn: &mut Connection, line| super::super::run_line(em, conn, line);
    run(&mut em, &mut conn, "xadd e 2-0 a b");
    run(&mut em, &mut conn, "xdel e 2-0");
    assert_eq!(run(&mut em, &mut conn, "xsetid e 0-1"), Reply::ok());
    run(&mut em, &mut conn, "xadd s 2-0 a b");
    run(&mut em, &mut conn, "xadd s 3-0 a b");
    run(&mut em, &mut conn, "xdel s 3-0");
    assert_eq!(run(&mut em, &mut conn, "xsetid s 2-5"), Reply::ok());
}
