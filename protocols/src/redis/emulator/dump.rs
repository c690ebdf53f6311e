//! DUMP and RESTORE with Redis 7.0's payloads ([`object`]): a value dumped by a real Redis 7
//! restores here and one dumped here restores in a real Redis.

pub(super) mod object;

use super::rdb::PayloadError;

use super::{Emulator, Handler, NOT_INTEGER, SYNTAX, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "DUMP" => dump,
        "RESTORE" => restore,
        _ => return None,
    })
}

/// `DUMP key`: the payload, or nil for a missing key.
fn dump(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let Some(value) = em.value(conn.db, &args[1]) else {
        return Reply::Nil;
    };
    Reply::Bulk(object::encode(value))
}

/// The fuzz target's property (`fuzzing::redis_dump_payload`): `body` read as a payload with a
/// valid footer, and as given, never panics; a value read dumps to a payload that reads back as
/// the same value.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn check_payload(body: &[u8]) {
    let _ = object::decode(body);
    if let Ok(value) = object::decode(&super::rdb::seal(body.to_vec())) {
        let dumped = object::encode(&value);
        assert_eq!(
            object::decode(&dumped),
            Ok(value),
            "a dumped value reads back"
        );
    }
}

/// RESTORE's options after the payload.
#[derive(Debug, Default)]
struct RestoreOptions {
    replace: bool,
    absolute: bool,
}

/// `[REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`, checked as Redis checks them
/// (IDLETIME and FREQ exclude each other). The emulator keeps no access statistics, so the
/// idle time and frequency are validated and then not kept.
fn restore_options(args: &[Vec<u8>]) -> Result<RestoreOptions, Reply> {
    let mut options = RestoreOptions::default();
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        if is(&args[j], "replace") {
            options.replace = true;
        } else if is(&args[j], "absttl") {
            options.absolute = true;
        } else if is(&args[j], "idletime") && more >= 1 && freq.is_none() {
            let seconds = strict_i64(&args[j + 1]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
            if seconds < 0 {
                return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(seconds);
            j += 1;
        } else if is(&args[j], "freq") && more >= 1 && idle.is_none() {
            let frequency = strict_i64(&args[j + 1]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
            if !(0..=255).contains(&frequency) {
                return Err(Reply::error(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(frequency);
            j += 1;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        j += 1;
    }
    Ok(options)
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`.
fn restore(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match run_restore(em, conn.db, args) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn run_restore(em: &mut Emulator, db: usize, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let options = restore_options(args)?;
    let key = &args[1];
    if !options.replace && em.exists(db, key) {
        return Err(Reply::error("BUSYKEY Target key name already exists."));
    }
    let ttl = strict_i64(&args[2]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
    if ttl < 0 {
        return Err(Reply::error("ERR Invalid TTL value, must be >= 0"));
    }
    let value = object::decode(&args[3]).map_err(|e| {
        Reply::error(match e {
            PayloadError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            PayloadError::Malformed => "ERR Bad data format",
        })
    })?;
    if options.replace {
        em.remove(db, key);
    }
    let now = i64::try_from(em.now).unwrap_or(i64::MAX);
    let expires_at = match ttl {
        0 => None,
        ttl if options.absolute => Some(ttl),
        ttl => Some(ttl.saturating_add(now)),
    };
    if expires_at.is_some_and(|at| at <= now) {
        // Already expired: Redis answers OK and stores nothing.
        return Ok(Reply::ok());
    }
    em.put(db, key, value);
    if let Some(at) = expires_at {
        let slot = em.slot(db, key).expect("just stored");
        slot.expires_at = Some(at as u64);
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::emulator::run_line;
    use crate::redis::entry::Seed;
    use crate::redis::reply::Protocol;

    fn run(em: &mut Emulator, conn: &mut Connection, args: &[&[u8]]) -> String {
        let args = args.iter().map(|a| a.to_vec()).collect();
        let reply = em.execute(conn, &crate::redis::command::Command { args });
        String::from_utf8_lossy(&reply.to_bytes(Protocol::Resp2)).into_owned()
    }

    #[test]
    fn dump_then_restore_copies_every_type() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::default();
        for line in [
            "set s hello",
            "rpush l a 1 b",
            "sadd st x 2",
            "hset h f v",
            "zadd z 1 a 2.5 b",
        ] {
            run_line(&mut em, &mut conn, line);
        }
        for key in ["s", "l", "st", "h", "z"] {
            let Reply::Bulk(payload) = run_line(&mut em, &mut conn, &format!("dump {key}")) else {
                panic!("dump {key}");
            };
            let copy = format!("{key}_copy");
            let restored = run(
                &mut em,
                &mut conn,
                &[b"restore", copy.as_bytes(), b"0", &payload],
            );
            assert_eq!(restored, "+OK\r\n");
            let original = em.dbs[0][key.as_bytes()].value.clone();
            assert_eq!(em.dbs[0][copy.as_bytes()].value, original, "{key}");
        }
    }

    #[test]
    fn restore_errors_come_in_redis_order() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::default();
        run_line(&mut em, &mut conn, "set s hello");
        let Reply::Bulk(payload) = run_line(&mut em, &mut conn, "dump s") else {
            panic!("dump");
        };
        let cases: [(&[&[u8]], &str); 7] = [
            (
                &[b"restore", b"s", b"0", &payload],
                "-BUSYKEY Target key name already exists.\r\n",
            ),
            (
                &[b"restore", b"s", b"x", &payload, b"replace"],
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                &[b"restore", b"t", b"-1", &payload],
                "-ERR Invalid TTL value, must be >= 0\r\n",
            ),
            (
                &[b"restore", b"t", b"0", b"garbage-payload"],
                "-ERR DUMP payload version or checksum are wrong\r\n",
            ),
            (
                &[
                    b"restore",
                    b"t",
                    b"0",
                    &payload,
                    b"idletime",
                    b"1",
                    b"freq",
                    b"1",
                ],
                "-ERR syntax error\r\n",
            ),
            (
                &[b"restore", b"t", b"0", &payload, b"freq", b"256"],
                "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n",
            ),
            (
                &[b"restore", b"s", b"0", &payload, b"foo"],
                "-ERR syntax error\r\n",
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(run(&mut em, &mut conn, args), expected, "{args:?}");
        }
    }

    #[test]
    fn restore_sets_relative_and_absolute_ttls() {
        let clock = crate::redis::emulator::ManualClock::new(1_000_000);
        let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
        let mut conn = Connection::default();
        run_line(&mut em, &mut conn, "set s hello");
        let Reply::Bulk(payload) = run_line(&mut em, &mut conn, "dump s") else {
            panic!("dump");
        };
        run(&mut em, &mut conn, &[b"restore", b"a", b"5000", &payload]);
        assert_eq!(run_line(&mut em, &mut conn, "pttl a"), Reply::Int(5000));
        run(
            &mut em,
            &mut conn,
            &[b"restore", b"b", b"1003000", &payload, b"absttl"],
        );
        assert_eq!(run_line(&mut em, &mut conn, "pttl b"), Reply::Int(3000));
        let past = run(
            &mut em,
            &mut conn,
            &[b"restore", b"c", b"999999", &payload, b"absttl"],
        );
        assert_eq!(past, "+OK\r\n");
        assert_eq!(run_line(&mut em, &mut conn, "exists c"), Reply::Int(0));
    }
}
