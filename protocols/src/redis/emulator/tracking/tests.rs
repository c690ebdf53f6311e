use std::sync::Arc;

use super::*;
use crate::redis::conn::Session;
use crate::redis::emulator::ManualClock;
use crate::redis::entry::Seed;

fn send(em: &mut Emulator, session: &mut Session, words: &[&str]) -> String {
    let mut wire = format!("*{}\r\n", words.len());
    for w in words {
        wire.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    String::from_utf8(session.receive(wire.as_bytes(), em).bytes).unwrap()
}

fn outbox(em: &mut Emulator, id: u64) -> String {
    String::from_utf8(em.take_outbox(id)).unwrap()
}

const INVALIDATE_K: &str = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";

/// A RESP3 connection with tracking on, and a second connection, on a fresh emulator.
fn tracking_pair(options: &[&str]) -> (Emulator, Session, Session) {
    let mut em = Emulator::new(&Seed::new());
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    send(&mut em, &mut a, &["HELLO", "3"]);
    send(&mut em, &mut b, &["PING"]);
    let mut words = vec!["CLIENT", "TRACKING", "on"];
    words.extend_from_slice(options);
    assert_eq!(send(&mut em, &mut a, &words), "+OK\r\n");
    (em, a, b)
}

#[test]
fn own_write_invalidates_after_the_reply_and_others_writes_wait_in_the_outbox() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    assert_eq!(send(&mut em, &mut a, &["GET", "k"]), "_\r\n");
    assert_eq!(
        send(&mut em, &mut a, &["SET", "k", "v"]),
        format!("+OK\r\n{INVALIDATE_K}")
    );
    send(&mut em, &mut a, &["GET", "k"]);
    assert_eq!(send(&mut em, &mut b, &["SET", "k", "w"]), "+OK\r\n");
    assert_eq!(em.take_wakeups(), vec![1]);
    assert_eq!(outbox(&mut em, 1), INVALIDATE_K);
    assert_eq!(
        send(&mut em, &mut b, &["SET", "k", "x"]),
        "+OK\r\n",
        "the key left the table: one invalidation until it is read again"
    );
    assert!(em.take_outbox(1).is_empty());
}

#[test]
fn noloop_skips_own_changes_only() {
    let (mut em, mut a, mut b) = tracking_pair(&["NOLOOP"]);
    send(&mut em, &mut a, &["MGET", "k", "j"]);
    assert_eq!(send(&mut em, &mut a, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(send(&mut em, &mut b, &["DEL", "k", "j"]), ":1\r\n");
    assert!(
        em.take_outbox(1).is_empty(),
        "k left the table on a's own SET"
    );
    send(&mut em, &mut b, &["SET", "j", "1"]);
    assert_eq!(
        outbox(&mut em, 1),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nj\r\n"
    );
}

#[test]
fn resp2_redirect_reaches_a_subscribed_connection_as_a_pubsub_message() {
    let mut em = Emulator::new(&Seed::new());
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    send(&mut em, &mut b, &["SUBSCRIBE", "__redis__:invalidate"]);
    assert_eq!(
        send(
            &mut em,
            &mut a,
            &["CLIENT", "TRACKING", "on", "REDIRECT", "2"]
        ),
        "+OK\r\n"
    );
    send(&mut em, &mut a, &["GET", "k"]);
    assert_eq!(
        send(&mut em, &mut a, &["MSET", "k", "1", "j", "2"]),
        "+OK\r\n"
    );
    assert_eq!(
        outbox(&mut em, 2),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
    );
    assert_eq!(send(&mut em, &mut a, &["CLIENT", "GETREDIR"]), ":2\r\n");
}

#[test]
fn resp2_tracking_without_redirect_sends_nothing() {
    let mut em = Emulator::new(&Seed::new());
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    send(&mut em, &mut a, &["CLIENT", "TRACKING", "on"]);
    send(&mut em, &mut a, &["GET", "k"]);
    assert_eq!(send(&mut em, &mut a, &["SET", "k", "1"]), "+OK\r\n");
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut b, &["SET", "k", "2"]);
    assert!(em.take_outbox(1).is_empty());
}

#[test]
fn bcast_batches_changed_keys_per_prefix_after_the_command() {
    let (mut em, mut a, mut b) = tracking_pair(&["BCAST", "PREFIX", "u:", "PREFIX", "v:"]);
    assert_eq!(
        send(
            &mut em,
            &mut b,
            &["MSET", "u:2", "a", "u:1", "b", "w", "c", "v:1", "d"]
        ),
        "+OK\r\n"
    );
    assert_eq!(
        outbox(&mut em, 1),
        ">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\nu:1\r\n$3\r\nu:2\r\n\
         >2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nv:1\r\n"
    );
    assert_eq!(
        send(&mut em, &mut a, &["SET", "u:3", "x"]),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nu:3\r\n".replace(">2", "+OK\r\n>2"),
        "a BCAST connection hears of its own changes after its reply"
    );
}

#[test]
fn bcast_noloop_leaves_out_own_changes() {
    let (mut em, mut a, mut b) = tracking_pair(&["BCAST", "NOLOOP"]);
    assert_eq!(send(&mut em, &mut a, &["SET", "x", "1"]), "+OK\r\n");
    send(&mut em, &mut b, &["SET", "y", "1"]);
    assert_eq!(
        outbox(&mut em, 1),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ny\r\n"
    );
}

#[test]
fn optin_tracks_only_after_caching_yes_and_optout_skips_after_caching_no() {
    let (mut em, mut a, mut b) = tracking_pair(&["OPTIN"]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut b, &["SET", "k", "1"]);
    assert!(em.take_outbox(1).is_empty(), "not read under CACHING yes");
    send(&mut em, &mut a, &["CLIENT", "CACHING", "yes"]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut a, &["GET", "j"]);
    send(&mut em, &mut b, &["MSET", "k", "2", "j", "2"]);
    assert_eq!(
        outbox(&mut em, 1),
        INVALIDATE_K,
        "CACHING yes lasts one command"
    );

    let (mut em, mut a, mut b) = tracking_pair(&["OPTOUT"]);
    send(&mut em, &mut a, &["CLIENT", "CACHING", "no"]);
    send(&mut em, &mut a, &["GET", "j"]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut b, &["MSET", "k", "2", "j", "2"]);
    assert_eq!(outbox(&mut em, 1), INVALIDATE_K);
}

#[test]
fn caching_yes_covers_a_whole_transaction() {
    let (mut em, mut a, mut b) = tracking_pair(&["OPTIN"]);
    send(&mut em, &mut a, &["CLIENT", "CACHING", "yes"]);
    send(&mut em, &mut a, &["MULTI"]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut a, &["GET", "j"]);
    send(&mut em, &mut a, &["EXEC"]);
    send(&mut em, &mut b, &["MSET", "k", "2", "j", "2"]);
    assert_eq!(
        outbox(&mut em, 1),
        format!("{INVALIDATE_K}>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nj\r\n")
    );
}

#[test]
fn own_invalidations_of_a_transaction_follow_the_exec_reply() {
    let (mut em, mut a, _b) = tracking_pair(&[]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(&mut em, &mut a, &["MULTI"]);
    send(&mut em, &mut a, &["SET", "k", "1"]);
    assert_eq!(
        send(&mut em, &mut a, &["EXEC"]),
        format!("*1\r\n+OK\r\n{INVALIDATE_K}")
    );
}

#[test]
fn a_script_write_invalidates() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(&mut em, &mut a, &["GET", "k"]);
    send(
        &mut em,
        &mut b,
        &["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "k"],
    );
    assert_eq!(outbox(&mut em, 1), INVALIDATE_K);
}

#[test]
fn flush_sends_a_null_invalidation_to_every_tracking_connection() {
    let (mut em, mut a, mut b) = tracking_pair(&["BCAST"]);
    send(&mut em, &mut b, &["HELLO", "3"]);
    send(&mut em, &mut b, &["CLIENT", "TRACKING", "on"]);
    send(&mut em, &mut b, &["GET", "k"]);
    assert_eq!(
        send(&mut em, &mut b, &["FLUSHDB"]),
        "+OK\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n"
    );
    assert_eq!(outbox(&mut em, 1), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert!(send(&mut em, &mut a, &["INFO", "stats"]).contains("tracking_total_keys:0\r\n"));
}

#[test]
fn a_gone_redirect_target_breaks_the_redirect_and_says_so_in_resp3() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(&mut em, &mut b, &["SUBSCRIBE", "__redis__:invalidate"]);
    send(
        &mut em,
        &mut a,
        &["CLIENT", "TRACKING", "on", "REDIRECT", "2"],
    );
    send(&mut em, &mut a, &["GET", "k"]);
    em.disconnect(2);
    assert_eq!(
        send(&mut em, &mut a, &["SET", "k", "1"]),
        "+OK\r\n>2\r\n$21\r\ntracking-redir-broken\r\n:2\r\n"
    );
    let info = send(&mut em, &mut a, &["CLIENT", "INFO"]);
    assert!(info.contains(" flags=tR "), "{info}");
    assert!(info.contains(" redir=2 "), "{info}");
    let flags = send(&mut em, &mut a, &["CLIENT", "TRACKINGINFO"]);
    assert!(flags.contains("broken_redirect"), "{flags}");
}

#[test]
fn client_list_shows_tracking_flags_and_redirect() {
    let (mut em, mut a, mut b) = tracking_pair(&["BCAST", "REDIRECT", "2"]);
    let info = send(&mut em, &mut a, &["CLIENT", "INFO"]);
    assert!(info.contains(" flags=tB "), "{info}");
    assert!(info.contains(" redir=2 "), "{info}");
    let other = send(&mut em, &mut b, &["CLIENT", "INFO"]);
    assert!(
        other.contains(" flags=N ") && other.contains(" redir=-1 "),
        "{other}"
    );
    send(&mut em, &mut a, &["CLIENT", "TRACKING", "off"]);
    let info = send(&mut em, &mut a, &["CLIENT", "INFO"]);
    assert!(
        info.contains(" flags=N ") && info.contains(" redir=-1 "),
        "{info}"
    );
}

#[test]
fn info_reports_the_tracking_table() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(&mut em, &mut b, &["HELLO", "3"]);
    send(&mut em, &mut b, &["CLIENT", "TRACKING", "on"]);
    send(&mut em, &mut a, &["MGET", "k", "j"]);
    send(&mut em, &mut b, &["GET", "k"]);
    let stats = send(&mut em, &mut a, &["INFO"]);
    for line in [
        "tracking_clients:2\r\n",
        "tracking_total_keys:2\r\n",
        "tracking_total_items:3\r\n",
        "tracking_total_prefixes:0\r\n",
    ] {
        assert!(stats.contains(line), "{line} in {stats}");
    }
}

#[test]
fn the_table_stays_within_tracking_table_max_keys() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(
        &mut em,
        &mut b,
        &["CONFIG", "SET", "tracking-table-max-keys", "2"],
    );
    send(&mut em, &mut a, &["MGET", "a", "b", "c"]);
    send(&mut em, &mut b, &["PING"]);
    assert!(em.take_outbox(1).is_empty(), "PING is no emulator command");
    send(&mut em, &mut b, &["GET", "x"]);
    assert_eq!(
        outbox(&mut em, 1),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n",
        "the key evicted from the table is invalidated"
    );
    assert!(send(&mut em, &mut a, &["INFO", "stats"]).contains("tracking_total_keys:2\r\n"));
}

#[test]
fn a_connection_cannot_register_prefixes_without_bound() {
    let (mut em, mut a, _b) = tracking_pair(&["BCAST", "PREFIX", "p0"]);
    let prefixes: Vec<String> = (1..MAX_PREFIXES_PER_CONNECTION)
        .map(|i| format!("q{i}:"))
        .collect();
    let mut words = vec!["CLIENT", "TRACKING", "on", "BCAST"];
    for p in &prefixes {
        words.extend(["PREFIX", p.as_str()]);
    }
    assert_eq!(send(&mut em, &mut a, &words), "+OK\r\n");
    let refused = send(
        &mut em,
        &mut a,
        &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "z"],
    );
    assert!(
        refused.starts_with("-ERR mocket: a connection may track at most"),
        "{refused}"
    );
}

#[test]
fn one_key_read_by_many_connections_keeps_only_those_still_tracking() {
    let mut em = Emulator::new(&Seed::new());
    for id in 1..=200 {
        let mut s = Session::new(id);
        send(&mut em, &mut s, &["HELLO", "3"]);
        send(&mut em, &mut s, &["CLIENT", "TRACKING", "on"]);
        send(&mut em, &mut s, &["GET", "k"]);
        em.disconnect(id);
    }
    assert!(em.tracking.items <= PRUNE_AT + 1, "{}", em.tracking.items);
}

#[test]
fn an_expired_tracked_key_is_invalidated_before_the_next_command() {
    let clock = ManualClock::new(1_000_000);
    let mut em = Emulator::with_clock(&Seed::new(), Arc::clone(&clock) as Arc<_>);
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    send(&mut em, &mut a, &["HELLO", "3"]);
    send(&mut em, &mut a, &["CLIENT", "TRACKING", "on"]);
    send(&mut em, &mut b, &["SET", "k", "v", "PX", "100"]);
    send(&mut em, &mut a, &["GET", "k"]);
    clock.advance(200);
    send(&mut em, &mut b, &["SET", "other", "1"]);
    assert_eq!(outbox(&mut em, 1), INVALIDATE_K);
}

#[test]
fn pushes_reach_a_connection_under_client_reply_off() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(&mut em, &mut a, &["GET", "k"]);
    assert_eq!(send(&mut em, &mut a, &["CLIENT", "REPLY", "OFF"]), "");
    send(&mut em, &mut b, &["SET", "k", "1"]);
    assert_eq!(outbox(&mut em, 1), INVALIDATE_K);
    send(&mut em, &mut a, &["GET", "k"]);
    assert_eq!(send(&mut em, &mut a, &["SET", "k", "2"]), INVALIDATE_K);
}

#[test]
fn reset_and_disconnect_turn_tracking_off() {
    let (mut em, mut a, mut b) = tracking_pair(&["BCAST", "PREFIX", "x"]);
    assert_eq!(send(&mut em, &mut a, &["RESET"]), "+RESET\r\n");
    assert_eq!(send(&mut em, &mut a, &["CLIENT", "GETREDIR"]), ":-1\r\n");
    send(&mut em, &mut b, &["SET", "x1", "1"]);
    assert!(em.take_outbox(1).is_empty());
    assert!(send(&mut em, &mut b, &["INFO"]).contains("tracking_total_prefixes:0\r\n"));
}

#[test]
fn tracking_options_are_checked_in_redis_order() {
    let (mut em, mut a, _b) = tracking_pair(&[]);
    for (words, error) in [
        (
            vec!["on", "REDIRECT", "99"],
            "The client ID you want redirect to does not exist",
        ),
        (
            vec!["on", "REDIRECT", "2", "REDIRECT", "2"],
            "A client can only redirect",
        ),
        (vec!["off", "REDIRECT"], "syntax error"),
        (vec!["on", "PREFIX", "a"], "PREFIX option requires BCAST"),
        (vec!["on", "BCAST"], "You can't switch BCAST mode"),
        (vec!["on", "OPTIN", "OPTOUT"], "You can't specify both"),
        (vec!["maybe"], "syntax error"),
    ] {
        let mut all = vec!["CLIENT", "TRACKING"];
        all.extend(words);
        let reply = send(&mut em, &mut a, &all);
        assert!(
            reply.starts_with("-ERR ") && reply.contains(error),
            "{all:?}: {reply}"
        );
    }
    let twice = send(
        &mut em,
        &mut a,
        &[
            "CLIENT", "TRACKING", "on", "PREFIX", "a", "PREFIX", "b", "PREFIX", "bc",
        ],
    );
    assert!(
        twice.starts_with("-ERR PREFIX option requires BCAST"),
        "{twice}"
    );
    let overlap = check_prefix_collisions(None, &[b"ab".to_vec(), b"a".to_vec()]);
    assert_eq!(
        overlap.unwrap_err(),
        Reply::error(
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single \
             client must not overlap."
        )
    );
}

#[test]
fn overlapping_given_prefixes_after_the_first_error_then_turn_tracking_on_as_in_redis_7_0() {
    let mut em = Emulator::new(&Seed::new());
    let mut a = Session::new(1);
    assert_eq!(
        send(
            &mut em,
            &mut a,
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b", "PREFIX", "bc"
            ]
        ),
        "-ERR Prefix 'b' overlaps with another provided prefix 'bc'. Prefixes for a single \
         client must not overlap.\r\n+OK\r\n"
    );
    assert_eq!(send(&mut em, &mut a, &["CLIENT", "GETREDIR"]), ":0\r\n");
}

#[test]
fn reads_of_commands_with_moving_keys_are_tracked() {
    let (mut em, mut a, mut b) = tracking_pair(&[]);
    send(&mut em, &mut a, &["ZUNION", "2", "z1", "z2"]);
    send(&mut em, &mut a, &["SINTERCARD", "1", "s1"]);
    send(&mut em, &mut a, &["XREAD", "STREAMS", "x1", "0"]);
    send(&mut em, &mut a, &["ZINTER", "99", "zz"]);
    send(&mut em, &mut b, &["ZADD", "z2", "1", "a"]);
    send(&mut em, &mut b, &["SADD", "s1", "a"]);
    send(&mut em, &mut b, &["XADD", "x1", "1-1", "f", "v"]);
    assert_eq!(
        outbox(&mut em, 1),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nz2\r\n\
         >2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ns1\r\n\
         >2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nx1\r\n"
    );
}
