//! Seeded random command sequences over the families the first generator ([`super::random_command`])
//! leaves out: streams and consumer groups, sorted-set algebra and lexicographic ranges, set
//! algebra, bitmaps and `BITFIELD`, HyperLogLog, `LMPOP`, `GETEX`/`LCS`/`INCRBYFLOAT`, hash
//! floats, `COPY`, `OBJECT ENCODING`, `DUMP`+`RESTORE` round trips (inside a script, since a
//! payload's bytes differ by design for aggregates) and `EXPIRE` options, mixed with the first
//! generator's commands on the same keys, in transactions with `WATCH`, with expiry, and on
//! connections speaking RESP2 or RESP3 (chosen per sequence).
//!
//! Replies that are random or clock-dependent by design are left out rather than masked: `XADD
//! *` (explicit IDs and `ms-*` are used), `XPENDING`'s extended form and `XINFO CONSUMERS`
//! (idle times), `XINFO STREAM FULL` (delivery times), the members `HRANDFIELD`/`SRANDMEMBER`/
//! `ZRANDMEMBER`/`SPOP` pick (only how many they return is compared, in a script), and
//! replies listing a hashtable set (`SMEMBERS`, `SINTER`...; their `STORE` and `CARD` forms
//! are used instead), `*BYLEX` on sorted sets of differing scores (see [`LEX_KEYS`]) and
//! `OBJECT ENCODING` of strings (see [`keys_command`]). HyperLogLogs are kept on keys of their own ([`HLL_KEYS`]): their bytes
//! differ from Redis's by design.
//!
//! `MOCKET_DIFF_SEQUENCES=N` and `MOCKET_DIFF_SEED=S` apply here as to the first generator;
//! `MOCKET_DIFF_FIRST_SEED=F` starts the N sequences at seed F rather than 1.

use super::{CONNECTIONS, KEYS, MEMBERS, Rng, Step, VALUES, random_command, real_or_skip};
use super::{random_sequence_of, run_random_of};
use std::time::Instant;

const STREAM_IDS: &[&str] = &["1-1", "1-2", "2-0", "2-*", "3", "0-1", "5-0"];
const GROUPS: &[&str] = &["g1", "g2"];
const CONSUMERS: &[&str] = &["alice", "bob"];
const LEX: &[&str] = &["-", "+", "[a", "(b", "[c", "(1"];
/// HyperLogLogs live on keys of their own: the emulator stores them dense where Redis starts
/// sparse (see [`super::super::hyperloglog`]), so their bytes, which the string and bit
/// commands on [`KEYS`] would show, differ by design; counts and errors do not.
const HLL_KEYS: &[&str] = &["h0", "h1"];
/// Lexicographic ranges are defined on sorted sets whose scores are all equal; elsewhere
/// Redis's answer depends on its skiplist's random levels. These keys only ever get score 0.
const LEX_KEYS: &[&str] = &["z0", "z1"];
const FLOATS: &[&str] = &["1.5", "-0.25", "10", "1e2", "abc", "3.0e-1"];

fn stream_command(rng: &mut Rng) -> String {
    let k = rng.pick(KEYS);
    let id = rng.pick(STREAM_IDS);
    let id2 = rng.pick(STREAM_IDS);
    let g = rng.pick(GROUPS);
    let c = rng.pick(CONSUMERS);
    let m = rng.pick(MEMBERS);
    let v = rng.pick(VALUES);
    match rng.below(22) {
        0..=3 => format!("xadd {k} {id} f{m} {v}"),
        4 => format!(
            "xadd {k} {} {id} a {v}",
            rng.pick(&["maxlen 2", "maxlen ~ 1", "minid 2", "nomkstream", "limit 1"])
        ),
        5 => format!("xrange {k} - + count {}", rng.below(4)),
        6 => format!("xrevrange {k} + (1-1"),
        7 => format!("xrange {k} {id} {id2}"),
        8 => format!("xdel {k} {id} {id2}"),
        9 => format!(
            "xtrim {k} {}",
            rng.pick(&["maxlen 1", "minid 2-0", "maxlen = 0"])
        ),
        10 => format!("xlen {k}"),
        11 => format!(
            "xgroup create {k} {g} {} {}",
            rng.pick(&["0", "$", "1-1"]),
            rng.pick(&["", "mkstream", "entriesread 1"])
        ),
        // Only well-formed subcommands: inside MULTI, Redis refuses a subcommand's wrong arity
        // when queueing it, the emulator at EXEC (a known difference).
        12 => match rng.below(4) {
            0 => format!("xgroup createconsumer {k} {g} {c}"),
            1 => format!("xgroup delconsumer {k} {g} {c}"),
            2 => format!("xgroup setid {k} {g} {}", rng.pick(&["0", "$", "1-2"])),
            _ => format!("xgroup destroy {k} {g}"),
        },
        13..=14 => format!(
            "xreadgroup group {g} {c} count {} {}streams {k} {}",
            rng.below(3),
            rng.pick(&["", "noack "]),
            rng.pick(&[">", ">", "0"])
        ),
        15 => format!("xack {k} {g} {id} {id2}"),
        16 => format!("xpending {k} {g}"),
        17 => format!(
            "xclaim {k} {g} {c} 0 {id} {id2} {}",
            rng.pick(&["", "justid"])
        ),
        18 => format!(
            "xautoclaim {k} {g} {c} 0 0 count 2 {}",
            rng.pick(&["", "justid"])
        ),
        19 => format!("xinfo {} {k}", rng.pick(&["stream", "groups"])),
        20 => format!("xread count 2 streams {k} {}", rng.pick(&["0", "1-1"])),
        _ => format!(
            "xsetid {k} {}",
            rng.pick(&["9-0", "0-1", "5-0 entriesadded 9"])
        ),
    }
}

fn zset_and_set_command(rng: &mut Rng) -> String {
    let k = rng.pick(KEYS);
    let k2 = rng.pick(KEYS);
    let (lk, lk2) = (rng.pick(LEX_KEYS), rng.pick(LEX_KEYS));
    let lo = rng.pick(LEX);
    let hi = rng.pick(LEX);
    let m = rng.pick(MEMBERS);
    match rng.below(16) {
        0 => format!("zadd {lk} 0 {m} 0 {}", rng.pick(MEMBERS)),
        1 => format!(
            "{}store {k} 2 {k} {k2} {}",
            rng.pick(&["zunion", "zinter"]),
            rng.pick(&[
                "",
                "weights 1 2",
                "aggregate min",
                "aggregate max",
                "weights 2 -1 aggregate sum"
            ])
        ),
        2 => format!("zdiffstore {k} 2 {k} {k2}"),
        3 => format!(
            "{} 2 {k} {k2} withscores",
            rng.pick(&["zunion", "zinter", "zdiff"])
        ),
        4 => format!("zintercard 2 {k} {k2} limit {}", rng.below(3)),
        5 => format!(
            "{} {lk} {lo} {hi}",
            rng.pick(&["zrangebylex", "zlexcount", "zremrangebylex"])
        ),
        6 => format!("zrevrangebylex {lk} {hi} {lo} limit 0 2"),
        7 => match rng.below(2) {
            0 => format!("zrangestore {lk2} {lk} [a [c bylex"),
            _ => format!(
                "zrangestore {k2} {k} {}",
                rng.pick(&["0 -1", "(1 +inf byscore limit 0 1", "0 1 rev"])
            ),
        },
        8 => format!("zrange {lk} {lo} {hi} bylex"),
        9 => format!(
            "{} {k} {}",
            rng.pick(&["zremrangebyrank", "zremrangebyscore", "zrevrangebyscore"]),
            rng.pick(&["0 1", "-inf +inf", "(1 3", "+inf -inf"])
        ),
        10 => format!("sadd {k} {m} {}", rng.pick(MEMBERS)),
        11 => format!(
            "{}store {k} {k} {k2}",
            rng.pick(&["sinter", "sunion", "sdiff"])
        ),
        12 => format!("sintercard 2 {k} {k2} limit {}", rng.below(3)),
        13 => format!("smismember {k} {m} z"),
        14 => format!("scard {k}"),
        _ => format!("zmpop 2 {k} {k2} {} count 2", rng.pick(&["min", "max"])),
    }
}

fn bits_and_strings_command(rng: &mut Rng) -> String {
    let k = rng.pick(KEYS);
    let k2 = rng.pick(KEYS);
    let m = rng.pick(MEMBERS);
    let v = rng.pick(VALUES);
    match rng.below(18) {
        0 => format!("setbit {k} {} {}", rng.below(24), rng.below(2)),
        1 => format!("getbit {k} {}", rng.below(30)),
        2 => format!(
            "bitcount {k} {}",
            rng.pick(&["", "0 -1", "1 2 bit", "0 0 byte"])
        ),
        3 => format!(
            "bitpos {k} {} {}",
            rng.below(2),
            rng.pick(&["", "1", "0 -1 bit"])
        ),
        4 => format!("bitop {} {k} {k} {k2}", rng.pick(&["and", "or", "xor"])),
        5 => format!("bitop not {k2} {k}"),
        6 => format!(
            "bitfield {k} {} set u8 {} 200 get i4 0 incrby u2 100 1",
            rng.pick(&["overflow sat", "overflow fail", "overflow wrap", ""]),
            rng.below(16)
        ),
        7 => format!("bitfield_ro {k} get u8 0 get i16 #1"),
        8 => format!("pfadd {} {m} {}", rng.pick(HLL_KEYS), rng.pick(MEMBERS)),
        9 => format!("pfcount {} {}", rng.pick(HLL_KEYS), rng.pick(&["", k2])),
        10 => format!("pfmerge {} {}", rng.pick(HLL_KEYS), rng.pick(HLL_KEYS)),
        11 => format!(
            "getex {k} {}",
            rng.pick(&["", "ex 100", "px 5000", "persist", "exat 1", "ex 0"])
        ),
        12 => format!(
            "lcs {k} {k2} {}",
            rng.pick(&["", "len", "idx", "idx minmatchlen 1 withmatchlen"])
        ),
        13 => format!("incrbyfloat {k} {}", rng.pick(FLOATS)),
        14 => format!("hincrbyfloat {k} {m} {}", rng.pick(FLOATS)),
        15 => format!("lmpop 2 {k} {k2} {} count 2", rng.pick(&["left", "right"])),
        16 => format!("set {k} {v}"),
        _ => format!("hsetnx {k} {m} {v}"),
    }
}

fn keys_command(rng: &mut Rng) -> String {
    let k = rng.pick(KEYS);
    let k2 = rng.pick(KEYS);
    match rng.below(8) {
        0 => format!("copy {k} {k2} {}", rng.pick(&["", "replace"])),
        // Random picks compared by how many they return, which Redis fixes.
        6 => format!(
            "eval \"return #redis.call(ARGV[1], KEYS[1], ARGV[2])\" 1 {k} {} {}",
            rng.pick(&["hrandfield", "srandmember", "zrandmember"]),
            rng.pick(&["-5", "3", "0", "1"])
        ),
        // SPOP of more members than the set has empties it: the same state on both sides.
        7 => format!("eval \"return #redis.call('spop', KEYS[1], ARGV[1])\" 1 {k} 100"),
        // Redis turns a string modified in place (APPEND, SETRANGE, SETBIT...) into `raw`
        // whatever its length; the emulator keeps no such history, so strings are left out.
        1 => format!(
            "eval \"if redis.call('type', KEYS[1]).ok == 'string' then return 'a string' end; \
             return redis.call('object', 'encoding', KEYS[1])\" 1 {k}"
        ),
        2 => format!(
            "expire {k} {} {}",
            rng.pick(&["100", "50", "0"]),
            rng.pick(&["nx", "xx", "gt", "lt", ""])
        ),
        3 => format!("ttl {k}"),
        4 => format!("type {k}"),
        // DUMP then RESTORE in one script: the copy must equal the original.
        _ => format!(
            "eval \"local p = redis.call('dump', KEYS[1]); if not p then return 0 end; \
             redis.call('del', KEYS[2]); return redis.call('restore', KEYS[2], 0, p)\" 2 {k} {k2}"
        ),
    }
}

/// One command: most from the new families, some from the first generator.
fn family_command(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=2 => stream_command(rng),
        3..=4 => zset_and_set_command(rng),
        5..=6 => bits_and_strings_command(rng),
        7 => keys_command(rng),
        _ => random_command(rng),
    }
}

/// A sequence of [`family_command`]s; each connection speaks RESP3 with probability 1/2.
fn family_sequence(seed: u64, length: usize) -> Vec<Step> {
    let mut rng = Rng(seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1);
    let mut steps: Vec<Step> = (0..CONNECTIONS)
        .filter(|_| rng.below(2) == 1)
        .map(|c| Step::Send(c, "hello 3".into()))
        .collect();
    steps.extend(random_sequence_of(seed, length, family_command));
    steps
}

#[test]
fn random_family_sequences_answer_byte_for_byte_like_redis_server() {
    let Some(server) =
        real_or_skip("random_family_sequences_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let started = Instant::now();
    let (sequences, commands) = match (env("MOCKET_DIFF_SEED"), env("MOCKET_DIFF_SEQUENCES")) {
        (Some(seed), _) => run_random_of(&server, std::iter::once(seed), 200, family_sequence),
        (None, Some(n)) => {
            let first = env("MOCKET_DIFF_FIRST_SEED").unwrap_or(1);
            run_random_of(&server, first..first + n, 200, family_sequence)
        }
        // The bounded CI run: a few seconds.
        (None, None) => run_random_of(&server, 1..=30, 200, family_sequence),
    };
    eprintln!(
        "compared {sequences} random family sequences, {commands} commands, byte for byte in {:?}",
        started.elapsed()
    );
}
