//! DUMP and RESTORE of streams against a real `redis-server` 7.0: the same commands build the
//! same streams on both sides; small streams dump to the same bytes, and every stream's payload
//! restores on the other side to a stream whose `XINFO STREAM FULL` is the original's (groups,
//! pending entries with their delivery times and counts, consumers, deleted entries) and whose
//! nodes grow alike afterwards (`XINFO STREAM`'s radix-tree fields).

use super::dump::{bulk, emulator_answer, restore, words};
use super::{Pair, real_or_skip, steps};

/// Streams of every shape; the ones in [`IDENTICAL`] involve no clock and their listpacks are
/// too small for Redis to LZF-compress (`s_mixed`'s is compressed), so their payloads are
/// byte for byte Redis's.
const SETUP: &[&str] = &[
    "xadd s_plain 1-1 f v n 1",
    "xadd s_plain 1-2 f w n 2",
    "xadd s_mixed 5-0 a 1",
    "xadd s_mixed 5-1 b -4000 c 70000",
    "xadd s_mixed 6-0 a 5000000000",
    "xadd s_mixed 7-3 \"\" 007",
    "xadd s_deleted 1-1 f v n 1",
    "xadd s_deleted 1-2 f w n 2",
    "xadd s_deleted 2-0 a b",
    "xdel s_deleted 1-1",
    "xgroup create s_deleted g1 0",
    "xgroup create s_deleted g2 $ entriesread 3",
    "xadd s_empty 5-5 x y",
    "xdel s_empty 5-5",
    "xgroup create s_empty g 0",
    "xadd s_setid 3-0 k v",
    "xsetid s_setid 10-0 entriesadded 9 maxdeletedid 2-0",
    "xadd g_s 1-0 a 1",
    "xadd g_s 2-0 a 2 b 3",
    "xadd g_s 3-0 c 4",
    "xadd g_s 4-0 a 5",
    "xgroup create g_s grp 0",
    "xgroup create g_s late $",
    "xgroup create g_s mid 2-0 entriesread 2",
    "xreadgroup group grp alice count 2 streams g_s >",
    "xreadgroup group grp bob count 1 streams g_s >",
    "xack g_s grp 1-0",
    "xgroup createconsumer g_s grp carol",
    "xdel g_s 3-0",
    "xclaim g_s grp carol 0 2-0",
    "xreadgroup group mid dave streams g_s >",
];

const IDENTICAL: &[&str] = &["s_plain", "s_deleted", "s_empty", "s_setid"];

/// A stream of 260 entries over three nodes, exactly trimmed into its first node (which then
/// holds deleted entries), with a deletion in a later node.
fn large_setup() -> Vec<String> {
    let mut lines: Vec<String> = (1..=260)
        .map(|i| format!("xadd s_large {i}-0 f{} v{i}", i % 3))
        .collect();
    lines.push("xtrim s_large maxlen 180".into());
    lines.push("xdel s_large 150-0 151-0".into());
    lines.push("xgroup create s_large g 100-0".into());
    lines.push("xreadgroup group g c count 5 streams s_large >".into());
    lines
}

const KEYS: &[&str] = &[
    "s_plain",
    "s_mixed",
    "s_deleted",
    "s_empty",
    "s_setid",
    "g_s",
    "s_large",
];

#[test]
fn stream_payloads_cross_between_redis_server_and_the_emulator() {
    let Some(server) = real_or_skip("stream_payloads_cross_between_redis_server_and_the_emulator")
    else {
        return;
    };
    let mut pair = Pair::new(&server);
    let mut setup: Vec<String> = SETUP.iter().map(|s| s.to_string()).collect();
    setup.extend(large_setup());
    let lines: Vec<&str> = setup.iter().map(String::as_str).collect();
    pair.compare(&steps(&lines))
        .expect("the setup answers alike");
    for key in KEYS {
        let from_redis = bulk(&pair.real[0].ask(&words(&format!("dump {key}"))));
        let from_emulator = bulk(&emulator_answer(&mut pair, &words(&format!("dump {key}"))));
        if IDENTICAL.contains(key) {
            assert_eq!(from_emulator, from_redis, "{key}: identical DUMP bytes");
        }
        let redis_copy = format!("{key}:from_emulator");
        let answer = pair.real[0].ask(&restore(&redis_copy, &from_emulator));
        assert_eq!(answer, b"+OK\r\n", "{key}: Redis restores ours");
        let emulator_copy = format!("{key}:from_redis");
        let answer = emulator_answer(&mut pair, &restore(&emulator_copy, &from_redis));
        assert_eq!(answer, b"+OK\r\n", "{key}: the emulator restores Redis's");
        let info = |k: &str| words(&format!("xinfo stream {k} full"));
        assert_eq!(
            String::from_utf8_lossy(&pair.real[0].ask(&info(&redis_copy))),
            String::from_utf8_lossy(&emulator_answer(&mut pair, &info(key))),
            "{key}: Redis's copy of ours is ours"
        );
        assert_eq!(
            String::from_utf8_lossy(&emulator_answer(&mut pair, &info(&emulator_copy))),
            String::from_utf8_lossy(&pair.real[0].ask(&info(key))),
            "{key}: our copy of Redis's is Redis's"
        );
        // The restored nodes fill up as the originals would.
        for i in 0..120 {
            let add = words(&format!("xadd {{}} 99999{i:03}-0 f{} x", i % 2));
            let on = |k: &str| {
                let mut w = add.clone();
                w[1] = k.as_bytes().to_vec();
                w
            };
            pair.real[0].ask(&on(&redis_copy));
            emulator_answer(&mut pair, &on(&emulator_copy));
        }
        let brief = |k: &str| words(&format!("xinfo stream {k}"));
        assert_eq!(
            String::from_utf8_lossy(&pair.real[0].ask(&brief(&redis_copy))),
            String::from_utf8_lossy(&emulator_answer(&mut pair, &brief(&emulator_copy))),
            "{key}: restored copies grow alike"
        );
    }
}

#[test]
fn stream_restore_errors_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("stream_restore_errors_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    // An empty stream's payload, then the same with a damaged checksum and with a body cut
    // short (sealed again).
    let lines = [
        "xadd e 5-5 x y",
        "xdel e 5-5",
        "restore c 0 \"\\x13\\x00\\x00\\x05\\x05\\x00\\x00\\x05\\x05\\x01\\x00\\n\\x00.\\xc2\\x9e\\x19\\x8c\\xf6N$\"",
        "xinfo stream c full",
        "restore c 0 \"\\x13\\x00\\x00\\x05\\x05\\x00\\x00\\x05\\x05\\x01\\x00\\n\\x00.\\xc2\\x9e\\x19\\x8c\\xf6N$\"",
        "restore d 0 \"\\x13\\x00\\x00\\x05\\x05\\x00\\x00\\x05\\x05\\x01\\x00\\n\\x00.\\xc2\\x9e\\x19\\x8c\\xf6N%\"",
        "type c",
    ];
    let mut pair = Pair::new(&server);
    if let Err(e) = pair.compare(&steps(&lines)) {
        panic!("stream restore: {e}");
    }
}
