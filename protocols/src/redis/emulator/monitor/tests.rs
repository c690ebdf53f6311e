use super::*;
use crate::redis::conn::Session;
use crate::redis::emulator::{ManualClock, OutputLimits};
use crate::redis::entry::Seed;

/// Sends one command as RESP and returns the bytes answered.
fn send(em: &mut Emulator, session: &mut Session, words: &[&[u8]]) -> String {
    let mut wire = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        wire.extend_from_slice(format!("${}\r\n", w.len()).as_bytes());
        wire.extend_from_slice(w);
        wire.extend_from_slice(b"\r\n");
    }
    String::from_utf8(session.receive(&wire, em).bytes).unwrap()
}

fn say(em: &mut Emulator, session: &mut Session, line: &str) -> String {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    send(em, session, &words)
}

/// An emulator at unix time 1700000000.5 s, with a monitor (id 1) and a client (id 2).
fn monitored() -> (Emulator, Session, Session) {
    let clock = ManualClock::new(1_700_000_000_500);
    let mut em = Emulator::with_clock(&Seed::new(), clock);
    em.connect(1, "127.0.0.1:40001", "127.0.0.1:6379");
    em.connect(2, "127.0.0.1:40002", "127.0.0.1:6379");
    let (mut monitor, client) = (Session::new(1), Session::new(2));
    assert_eq!(say(&mut em, &mut monitor, "MONITOR"), "+OK\r\n");
    (em, monitor, client)
}

fn outbox(em: &mut Emulator, id: u64) -> String {
    String::from_utf8(em.take_outbox(id)).unwrap()
}

const AT: &str = "+1700000000.500000";

#[test]
fn another_connections_commands_reach_the_monitor_in_redis_format() {
    let (mut em, _monitor, mut client) = monitored();
    say(&mut em, &mut client, "SET a 1");
    say(&mut em, &mut client, "SELECT 3");
    say(&mut em, &mut client, "get a");
    assert_eq!(em.take_wakeups(), vec![1]);
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"SET\" \"a\" \"1\"\r\n\
             {AT} [3 127.0.0.1:40002] \"SELECT\" \"3\"\r\n\
             {AT} [3 127.0.0.1:40002] \"get\" \"a\"\r\n"
        )
    );
}

#[test]
fn words_are_quoted_as_redis_sdscatrepr_does() {
    let (mut em, _monitor, mut client) = monitored();
    send(
        &mut em,
        &mut client,
        &[b"SET", b"b\n\"\\\x01\xc3\xbf \xc3\xa9\t\r\x07\x08", b"x y"],
    );
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"SET\" \
             \"b\\n\\\"\\\\\\x01\\xc3\\xbf \\xc3\\xa9\\t\\r\\a\\b\" \"x y\"\r\n"
        )
    );
}

#[test]
fn credentials_are_redacted_and_admin_commands_hidden() {
    let (mut em, _monitor, mut client) = monitored();
    say(&mut em, &mut client, "AUTH u pw");
    say(&mut em, &mut client, "HELLO 3 AUTH default pw SETNAME n");
    say(&mut em, &mut client, "CONFIG GET maxmemory");
    say(&mut em, &mut client, "CLIENT LIST");
    say(&mut em, &mut client, "CLIENT NOSUCH");
    say(&mut em, &mut client, "SLOWLOG GET");
    say(&mut em, &mut client, "CLIENT ID");
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n\
             {AT} [0 127.0.0.1:40002] \"HELLO\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\" \
             \"SETNAME\" \"n\"\r\n\
             {AT} [0 127.0.0.1:40002] \"CLIENT\" \"ID\"\r\n"
        )
    );
}

#[test]
fn refused_and_queued_commands_are_not_shown_and_exec_follows_its_commands() {
    let (mut em, _monitor, mut client) = monitored();
    say(&mut em, &mut client, "GET");
    say(&mut em, &mut client, "NOSUCH x");
    say(&mut em, &mut client, "MULTI");
    say(&mut em, &mut client, "SET x 1");
    assert_eq!(
        outbox(&mut em, 1),
        format!("{AT} [0 127.0.0.1:40002] \"MULTI\"\r\n")
    );
    say(&mut em, &mut client, "EXEC");
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"SET\" \"x\" \"1\"\r\n\
             {AT} [0 127.0.0.1:40002] \"EXEC\"\r\n"
        )
    );
}

#[test]
fn a_script_is_shown_before_its_calls_which_come_from_lua() {
    let (mut em, _monitor, mut client) = monitored();
    say(
        &mut em,
        &mut client,
        "EVAL redis.call('set','k','v')redis.call('ping') 0",
    );
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"EVAL\" \"redis.call('set','k','v')redis.call('ping')\" \
             \"0\"\r\n\
             {AT} [0 lua] \"set\" \"k\" \"v\"\r\n\
             {AT} [0 lua] \"ping\"\r\n"
        )
    );
}

#[test]
fn a_monitor_sees_its_own_commands_after_their_replies_and_not_the_keyspace() {
    let (mut em, mut monitor, _client) = monitored();
    assert_eq!(
        say(&mut em, &mut monitor, "PING"),
        format!("+PONG\r\n{AT} [0 127.0.0.1:40001] \"PING\"\r\n")
    );
    assert_eq!(
        say(&mut em, &mut monitor, "GET a"),
        "-ERR Replica can't interact with the keyspace\r\n"
    );
    assert_eq!(
        say(&mut em, &mut monitor, "PUBLISH c m"),
        "-ERR Replica can't interact with the keyspace\r\n"
    );
    assert_eq!(
        say(&mut em, &mut monitor, "MONITOR"),
        "",
        "a second MONITOR answers nothing"
    );
    assert!(em.take_wakeups().is_empty(), "own lines need no pusher");
}

#[test]
fn monitor_in_a_transaction_is_refused_as_redis_does() {
    let (mut em, _monitor, mut client) = monitored();
    say(&mut em, &mut client, "MULTI");
    say(&mut em, &mut client, "MONITOR");
    assert_eq!(
        say(&mut em, &mut client, "EXEC"),
        "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"
    );
}

#[test]
fn reset_and_disconnect_end_monitoring_and_client_list_shows_flag_o() {
    let (mut em, mut monitor, mut client) = monitored();
    let list = say(&mut em, &mut client, "CLIENT LIST");
    assert!(
        list.contains(
            "id=1 addr=127.0.0.1:40001 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=O "
        ),
        "{list}"
    );
    assert_eq!(say(&mut em, &mut monitor, "RESET"), "+RESET\r\n");
    say(&mut em, &mut client, "SET a 1");
    assert!(em.take_outbox(1).is_empty(), "RESET ends monitoring");
    say(&mut em, &mut monitor, "MONITOR");
    em.disconnect(1);
    say(&mut em, &mut client, "SET a 1");
    assert!(em.take_outbox(1).is_empty());
    assert_eq!(em.monitors.len(), 0);
}

#[test]
fn a_monitor_that_does_not_read_is_disconnected_past_the_limit() {
    let (mut em, _monitor, mut client) = monitored();
    em.set_output_limits(OutputLimits {
        hard: 200,
        soft: 100,
        soft_ms: 60_000,
    });
    for _ in 0..5 {
        say(&mut em, &mut client, "SET key value");
    }
    let evictions = em.take_evictions();
    assert_eq!(evictions.len(), 1, "{evictions:?}");
    assert_eq!(evictions[0].id, 1);
    assert!(
        evictions[0]
            .reason
            .contains("MONITOR connection 1 stopped reading")
    );
    assert!(em.take_outbox(1).is_empty(), "its output is dropped");
    assert_eq!(em.monitors.len(), 0, "and it no longer monitors");
}

#[test]
fn a_connection_keeps_its_address_after_reset() {
    let (mut em, _monitor, mut client) = monitored();
    say(&mut em, &mut client, "RESET");
    say(&mut em, &mut client, "PING");
    assert_eq!(
        outbox(&mut em, 1),
        format!(
            "{AT} [0 127.0.0.1:40002] \"RESET\"\r\n\
             {AT} [0 127.0.0.1:40002] \"PING\"\r\n"
        )
    );
}
