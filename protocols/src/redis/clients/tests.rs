use super::*;
use crate::redis::conn::Session;
use crate::redis::emulator::{Emulator, ManualClock};
use crate::redis::entry::Seed;

/// Sends one command as RESP and returns the bytes answered.
fn send(em: &mut Emulator, session: &mut Session, words: &[&str]) -> String {
    let mut wire = format!("*{}\r\n", words.len());
    for w in words {
        wire.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    String::from_utf8(session.receive(wire.as_bytes(), em).bytes).unwrap()
}

/// The text of a bulk reply (`$n\r\ntext\r\n`).
fn bulk_text(answer: &str) -> String {
    let (_, text) = answer.split_once("\r\n").expect("a bulk reply");
    text.strip_suffix("\r\n").unwrap().to_string()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn emulator() -> (Emulator, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(1_000_000);
    (Emulator::with_clock(&Seed::new(), clock.clone()), clock)
}

#[test]
fn client_list_shows_every_connection_with_redis_fields_in_order() {
    let (mut em, clock) = emulator();
    em.connect(1, "127.0.0.1:50001", "127.0.0.1:6379");
    em.connect(2, "127.0.0.1:50002", "127.0.0.1:6379");
    let (mut one, mut two) = (Session::new(1), Session::new(2));
    send(&mut em, &mut one, &["CLIENT", "SETNAME", "worker"]);
    send(&mut em, &mut one, &["SELECT", "3"]);
    send(&mut em, &mut one, &["SUBSCRIBE", "a", "b"]);
    send(&mut em, &mut one, &["PSUBSCRIBE", "x*"]);
    clock.advance(5_000);
    let list = bulk_text(&send(&mut em, &mut two, &["CLIENT", "LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let names: Vec<&str> = lines[0]
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap().0)
        .collect();
    assert_eq!(
        names.join(" "),
        "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem \
         multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
    );
    let first = lines[0];
    assert_eq!(field(first, "id"), "1");
    assert_eq!(field(first, "addr"), "127.0.0.1:50001");
    assert_eq!(field(first, "laddr"), "127.0.0.1:6379");
    assert_eq!(field(first, "name"), "worker");
    assert_eq!(field(first, "age"), "5");
    assert_eq!(field(first, "idle"), "5");
    assert_eq!(field(first, "flags"), "P");
    assert_eq!(field(first, "db"), "3");
    assert_eq!((field(first, "sub"), field(first, "psub")), ("2", "1"));
    assert_eq!(field(first, "cmd"), "psubscribe");
    assert_eq!(field(lines[1], "cmd"), "client|list");
    assert_eq!(field(lines[1], "flags"), "N");
}

#[test]
fn client_info_inside_multi_shows_the_transaction() {
    let (mut em, _) = emulator();
    let mut one = Session::new(1);
    send(&mut em, &mut one, &["MULTI"]);
    send(&mut em, &mut one, &["PING"]);
    send(&mut em, &mut one, &["CLIENT", "INFO"]);
    let answer = send(&mut em, &mut one, &["EXEC"]);
    assert!(answer.contains("flags=x "), "{answer}");
    assert!(answer.contains("multi=2 "), "{answer}");
    assert!(answer.contains("cmd=exec "), "{answer}");
}

#[test]
fn client_list_filters_by_type_and_id_with_redis_errors() {
    let (mut em, _) = emulator();
    let (mut one, mut two) = (Session::new(1), Session::new(2));
    send(&mut em, &mut one, &["SUBSCRIBE", "a"]);
    let pubsub = bulk_text(&send(
        &mut em,
        &mut two,
        &["CLIENT", "LIST", "TYPE", "pubsub"],
    ));
    assert!(pubsub.starts_with("id=1 ") && pubsub.lines().count() == 1);
    let normal = bulk_text(&send(
        &mut em,
        &mut two,
        &["CLIENT", "LIST", "TYPE", "NORMAL"],
    ));
    assert!(normal.starts_with("id=2 ") && normal.lines().count() == 1);
    let none = send(&mut em, &mut two, &["CLIENT", "LIST", "TYPE", "replica"]);
    assert_eq!(none, "$0\r\n\r\n");
    let by_id = bulk_text(&send(
        &mut em,
        &mut two,
        &["CLIENT", "LIST", "ID", "2", "99"],
    ));
    assert!(by_id.starts_with("id=2 ") && by_id.lines().count() == 1);
    for (words, error) in [
        (
            &["CLIENT", "LIST", "TYPE", "foo"][..],
            "-ERR Unknown client type 'foo'\r\n",
        ),
        (
            &["CLIENT", "LIST", "ID", "x"][..],
            "-ERR Invalid client ID\r\n",
        ),
        (&["CLIENT", "LIST", "ID"][..], "-ERR syntax error\r\n"),
        (&["CLIENT", "LIST", "foo"][..], "-ERR syntax error\r\n"),
    ] {
        assert_eq!(send(&mut em, &mut two, words), error, "{words:?}");
    }
}

#[test]
fn client_kill_chooses_connections_for_the_driver_to_close() {
    let (mut em, _) = emulator();
    em.connect(1, "127.0.0.1:50001", "127.0.0.1:6379");
    em.connect(2, "127.0.0.1:50002", "127.0.0.1:6379");
    em.connect(3, "127.0.0.1:50003", "127.0.0.1:6380");
    let mut me = Session::new(2);
    let kill = |em: &mut Emulator, me: &mut Session, words: &[&str]| {
        let mut all = vec!["CLIENT", "KILL"];
        all.extend_from_slice(words);
        send(em, me, &all)
    };
    assert_eq!(kill(&mut em, &mut me, &["127.0.0.1:50001"]), "+OK\r\n");
    assert_eq!(em.take_kills(), vec![1]);
    assert_eq!(
        kill(&mut em, &mut me, &["127.0.0.1:1"]),
        "-ERR No such client\r\n"
    );
    // SKIPME yes by default: the caller survives a filter that matches it.
    assert_eq!(
        kill(&mut em, &mut me, &["LADDR", "127.0.0.1:6379"]),
        ":1\r\n"
    );
    assert_eq!(em.take_kills(), vec![1]);
    assert_eq!(
        kill(&mut em, &mut me, &["USER", "default", "SKIPME", "no"]),
        ":3\r\n"
    );
    assert_eq!(em.take_kills(), vec![1, 2, 3]);
    assert_eq!(
        kill(&mut em, &mut me, &["ID", "3", "TYPE", "pubsub"]),
        ":0\r\n"
    );
    assert!(em.take_kills().is_empty());
    for (words, error) in [
        (
            &["ID", "x"][..],
            "-ERR client-id should be greater than 0\r\n",
        ),
        (
            &["ID", "0"][..],
            "-ERR client-id should be greater than 0\r\n",
        ),
        (&["foo", "bar"][..], "-ERR syntax error\r\n"),
        (&["TYPE", "foo"][..], "-ERR Unknown client type 'foo'\r\n"),
        (&["SKIPME", "x"][..], "-ERR syntax error\r\n"),
        (&["USER", "nobody"][..], "-ERR No such user 'nobody'\r\n"),
        (&["MAXAGE", "5"][..], "-ERR syntax error\r\n"),
        (&["ID", "1", "ADDR"][..], "-ERR syntax error\r\n"),
    ] {
        assert_eq!(kill(&mut em, &mut me, words), error, "{words:?}");
    }
    assert!(em.take_kills().is_empty());
}

#[test]
fn a_closed_connection_leaves_the_list() {
    let (mut em, _) = emulator();
    let (mut one, mut two) = (Session::new(1), Session::new(2));
    send(&mut em, &mut one, &["PING"]);
    em.disconnect(1);
    let list = bulk_text(&send(&mut em, &mut two, &["CLIENT", "LIST"]));
    assert!(
        list.starts_with("id=2 ") && list.lines().count() == 1,
        "{list}"
    );
}

#[test]
fn the_registry_is_bounded() {
    let mut registry = ClientRegistry::default();
    for id in 0..MAX_CLIENTS as u64 {
        assert!(registry.register(id, "a:1", "b:2"));
    }
    assert!(!registry.register(u64::MAX, "a:1", "b:2"));
    assert_eq!(registry.clients.len(), MAX_CLIENTS);
}

#[test]
fn client_reply_off_and_skip_silence_replies_as_redis() {
    let (mut em, _) = emulator();
    let mut one = Session::new(1);
    assert_eq!(send(&mut em, &mut one, &["CLIENT", "REPLY", "SKIP"]), "");
    assert_eq!(send(&mut em, &mut one, &["SET", "k", "1"]), "");
    assert_eq!(send(&mut em, &mut one, &["GET", "k"]), "$1\r\n1\r\n");
    assert_eq!(send(&mut em, &mut one, &["CLIENT", "REPLY", "OFF"]), "");
    assert_eq!(send(&mut em, &mut one, &["GET", "k"]), "");
    assert_eq!(
        send(&mut em, &mut one, &["CLIENT", "REPLY", "ON"]),
        "+OK\r\n"
    );
    assert_eq!(
        send(&mut em, &mut one, &["CLIENT", "REPLY", "foo"]),
        "-ERR syntax error\r\n"
    );
}

#[test]
fn client_no_evict_sets_the_e_flag_and_help_lists_subcommands() {
    let (mut em, _) = emulator();
    let mut one = Session::new(1);
    assert_eq!(
        send(&mut em, &mut one, &["CLIENT", "NO-EVICT", "on"]),
        "+OK\r\n"
    );
    assert!(send(&mut em, &mut one, &["CLIENT", "INFO"]).contains(" flags=e "));
    assert_eq!(
        send(&mut em, &mut one, &["CLIENT", "NO-EVICT", "x"]),
        "-ERR syntax error\r\n"
    );
    let help = send(&mut em, &mut one, &["CLIENT", "HELP"]);
    assert!(help.starts_with("*48\r\n+CLIENT <subcommand>"), "{help}");
}
