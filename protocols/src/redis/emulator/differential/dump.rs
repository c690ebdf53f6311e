//! DUMP and RESTORE against a real `redis-server` 7.0: payloads Redis dumps (every encoding it
//! uses for the emulator's types) restore in the emulator to the same values, payloads the
//! emulator dumps restore in Redis, and the errors match byte for byte.

use super::{Pair, encode, real_or_skip, steps};
use crate::redis::command::split_args;

/// Keys of every type in each encoding Redis 7.0 picks for them.
const SETUP: &[&str] = &[
    "set str_short hello",
    "set str_int 12345",
    "set str_negative -7",
    "set str_big_int 123456789012345",
    "set str_lzf aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "set str_long abcdefghijklmnopqrstuvwxyz0123456789",
    "rpush list_small a 1 -300 70000 5000000000 \"\"",
    "sadd set_intset 1 -2 300 70000 5000000000",
    "sadd set_table a b 1",
    "hset hash_small f v n 1 big 99999999999",
    "zadd zset_small 1 a 2.5 b -inf c 12 d",
];

/// Large values, built by repetition: multi-node quicklists, hashtable hashes and skiplists.
fn large_setup() -> Vec<String> {
    let mut lines = Vec::new();
    let items: Vec<String> = (0..600)
        .map(|i| format!("item-{i}-{}", "x".repeat(i % 50)))
        .collect();
    lines.push(format!("rpush list_large {}", items.join(" ")));
    lines.push(format!("rpush list_plain {}", "p".repeat(10_000)));
    let ints: Vec<String> = (0..600).map(|i| (i * 7919).to_string()).collect();
    lines.push(format!("sadd set_large_ints {}", ints.join(" ")));
    let pairs: Vec<String> = (0..300).map(|i| format!("field{i} value{i}")).collect();
    lines.push(format!("hset hash_large {}", pairs.join(" ")));
    lines.push(format!("hset hash_long_value f {}", "v".repeat(100)));
    let scored: Vec<String> = (0..300).map(|i| format!("{}.25 m{i}", i)).collect();
    lines.push(format!("zadd zset_large {}", scored.join(" ")));
    lines
}

const KEYS: &[&str] = &[
    "str_short",
    "str_int",
    "str_negative",
    "str_big_int",
    "str_lzf",
    "str_long",
    "list_small",
    "set_intset",
    "set_table",
    "hash_small",
    "zset_small",
    "list_large",
    "list_plain",
    "set_large_ints",
    "hash_large",
    "hash_long_value",
    "zset_large",
];

/// The bytes of a RESP2 bulk string reply.
pub(super) fn bulk(reply: &[u8]) -> Vec<u8> {
    let end = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a header");
    assert_eq!(
        reply[0],
        b'$',
        "a bulk string: {}",
        String::from_utf8_lossy(reply)
    );
    reply[end + 2..reply.len() - 2].to_vec()
}

/// The emulator's RESP2 answer to `words` on connection 0.
pub(super) fn emulator_answer(pair: &mut Pair, words: &[Vec<u8>]) -> Vec<u8> {
    pair.sessions[0]
        .receive(&encode(words), &mut pair.emulator)
        .bytes
}

/// `RESTORE key 0 payload`, as words.
pub(super) fn restore(key: &str, payload: &[u8]) -> Vec<Vec<u8>> {
    vec![
        b"RESTORE".to_vec(),
        key.as_bytes().to_vec(),
        b"0".to_vec(),
        payload.to_vec(),
    ]
}

pub(super) fn words(line: &str) -> Vec<Vec<u8>> {
    split_args(line.as_bytes()).expect("a valid line")
}

#[test]
fn payloads_cross_between_redis_server_and_the_emulator() {
    let Some(server) = real_or_skip("payloads_cross_between_redis_server_and_the_emulator") else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut setup: Vec<String> = SETUP.iter().map(|s| s.to_string()).collect();
    setup.extend(large_setup());
    let lines: Vec<&str> = setup.iter().map(String::as_str).collect();
    pair.compare(&steps(&lines))
        .expect("the setup answers alike");
    for key in KEYS {
        // Redis -> emulator.
        let from_redis = bulk(&pair.real[0].ask(&[b"DUMP".to_vec(), key.as_bytes().to_vec()]));
        let copy = format!("{key}:from_redis");
        let reply = emulator_answer(&mut pair, &restore(&copy, &from_redis));
        assert_eq!(
            reply, b"+OK\r\n",
            "{key}: the emulator restores Redis's payload"
        );
        let original = pair.emulator.dbs[0][key.as_bytes()].value.clone();
        assert_eq!(
            pair.emulator.dbs[0][copy.as_bytes()].value,
            original,
            "{key}"
        );
        // Emulator -> Redis -> emulator.
        let dumped = emulator_answer(&mut pair, &words(&format!("dump {key}")));
        let from_emulator = bulk(&dumped);
        let copy = format!("{key}:from_emulator");
        let answer = pair.real[0].ask(&restore(&copy, &from_emulator));
        assert_eq!(
            answer, b"+OK\r\n",
            "{key}: Redis restores the emulator's payload"
        );
        let again = bulk(&pair.real[0].ask(&[b"DUMP".to_vec(), copy.as_bytes().to_vec()]));
        let back = format!("{key}:round_trip");
        let reply = emulator_answer(&mut pair, &restore(&back, &again));
        assert_eq!(reply, b"+OK\r\n", "{key}");
        assert_eq!(
            pair.emulator.dbs[0][back.as_bytes()].value,
            original,
            "{key} round trip"
        );
        // Short strings are dumped byte for byte as Redis dumps them.
        if key.starts_with("str_") && *key != "str_lzf" && *key != "str_long" {
            assert_eq!(from_emulator, from_redis, "{key}: identical DUMP bytes");
        }
    }
}

#[test]
fn dump_and_restore_errors_answer_byte_for_byte_like_redis_server() {
    let Some(server) =
        real_or_skip("dump_and_restore_errors_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    for resp3 in [false, true] {
        let mut lines = vec![
            "set s hello",
            "set n 42",
            "dump s",
            "dump n",
            "dump nokey",
            "dump",
            "dump a b",
            "restore",
            "restore k 0",
            "restore s 0 payload",
            "restore k x payload",
            "restore k -1 payload",
            "restore k 0 payload",
            "restore k 0 \"\"",
            "restore k 0 0123456789",
            "restore k 0 payload replace absttl",
            "restore k 0 payload idletime",
            "restore k 0 payload idletime x",
            "restore k 0 payload idletime -1",
            "restore k 0 payload freq 256",
            "restore k 0 payload freq -1",
            "restore k 0 payload freq x",
            "restore k 0 payload idletime 1 freq 1",
            "restore k 0 payload freq 1 idletime 1",
            "restore k 0 payload foo",
            "restore s x payload foo",
            "restore s x payload replace",
            "restore k 0 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\"",
            "get k",
            "restore k 0 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\"",
            "restore k 0 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\" replace",
            "restore k 0 \"\\x00\\x05hello\\x0b\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\" replace",
            "restore k 0 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0b\" replace",
            "restore k 1 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\" replace absttl",
            "exists k",
            "restore k 100000 \"\\x00\\x05hello\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\"",
            "ttl k",
        ];
        if resp3 {
            lines.insert(0, "hello 3");
        }
        let mut pair = Pair::new(&server);
        if let Err(e) = pair.compare(&steps(&lines)) {
            panic!("dump/restore (RESP{}): {e}", if resp3 { 3 } else { 2 });
        }
    }
}
