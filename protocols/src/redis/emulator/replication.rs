//! `WAIT` and `ROLE` of a standalone Redis, which the emulator is: a master without replicas;
//! and the cluster commands, which a standalone Redis refuses (clients send them to find out
//! whether they talk to a cluster, so they must not count as commands the emulator lacks).
//!
//! `WAIT numreplicas timeout` answers how many replicas acknowledged: with none, it answers 0
//! at once when no replica is asked for (or inside `MULTI`/scripts), and otherwise blocks the
//! connection (not a thread: the blocking mechanism of `blocking.rs`) until its timeout, as
//! Redis does; `CLIENT UNBLOCK` ends the wait early with the same 0.

use super::{Emulator, Handler, blocking, int_arg};
use crate::redis::conn::{Blocked, Connection, unknown_subcommand};
use crate::redis::reply::Reply;
use crate::redis::{command_meta, spec};

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "WAIT" => wait,
        "ROLE" => role,
        "CLUSTER" | "READONLY" | "READWRITE" | "ASKING" => cluster_disabled,
        _ => return None,
    })
}

/// `ROLE`: a master at replication offset 0 with no replicas.
fn role(_em: &mut Emulator, _conn: &mut Connection, _args: &[Vec<u8>]) -> Reply {
    Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Int(0),
        Reply::Array(vec![]),
    ])
}

/// `CLUSTER ...`, `READONLY`, `READWRITE`, `ASKING`: Redis's answer when `cluster-enabled` is
/// off (arity and unknown subcommands are checked before, as Redis checks them).
fn cluster_disabled(_em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    if args[0].eq_ignore_ascii_case(b"cluster") {
        match command_meta::resolve(args) {
            Some(sub) if sub.name.contains('|') && !sub.arity_ok(args.len()) => {
                return spec::arity_error(sub.name);
            }
            Some(sub) if sub.name.contains('|') => {}
            _ => return unknown_subcommand(&args[1], "CLUSTER"),
        }
    }
    Reply::error("ERR This instance has cluster support disabled")
}

/// `WAIT numreplicas timeout` (milliseconds, 0: forever).
fn wait(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let wanted = match int_arg(&args[1]) {
        Ok(n) => n,
        Err(refusal) => return refusal,
    };
    let timeout = match blocking::timeout_ms_integer(&args[2]) {
        Ok(ms) => ms,
        Err(refusal) => return refusal,
    };
    let acknowledged = Reply::Int(0);
    if conn.no_block || wanted <= 0 {
        return acknowledged;
    }
    if let Some(reply) = blocking::unblocked(em, conn) {
        // A `CLIENT UNBLOCK` (either reason) ends a `WAIT` with the replicas counted so far.
        return match reply {
            Reply::Error(_) => Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
            _ => acknowledged,
        };
    }
    let deadline = match &conn.blocked {
        Some(blocked) => blocked.deadline,
        None => (timeout > 0).then(|| em.now.saturating_add(timeout)),
    };
    if deadline.is_some_and(|d| em.now >= d) {
        return blocking::done(em, conn, acknowledged);
    }
    conn.blocked = Some(Blocked { deadline });
    em.waiters.register_keyless(conn.id, conn.db);
    Reply::NilArray
}

#[cfg(test)]
mod tests {
    use super::super::{ManualClock, run_line};
    use super::*;
    use crate::redis::entry::Seed;

    #[test]
    fn role_is_a_master_without_replicas() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        assert_eq!(
            run_line(&mut em, &mut conn, "role"),
            Reply::Array(vec![
                Reply::bulk("master"),
                Reply::Int(0),
                Reply::Array(vec![])
            ])
        );
    }

    #[test]
    fn wait_answers_zero_at_once_or_blocks_until_its_timeout() {
        let clock = ManualClock::new(1_000);
        let mut em = Emulator::with_clock(&Seed::new(), clock.clone());
        let mut conn = Connection::new(1);
        assert_eq!(run_line(&mut em, &mut conn, "wait 0 0"), Reply::Int(0));
        assert_eq!(run_line(&mut em, &mut conn, "wait 1 300"), Reply::NilArray);
        assert!(conn.blocked.is_some());
        clock.advance(299);
        run_line(&mut em, &mut conn, "wait 1 300");
        assert!(conn.blocked.is_some(), "still waiting before the timeout");
        clock.advance(1);
        assert_eq!(run_line(&mut em, &mut conn, "wait 1 300"), Reply::Int(0));
        assert!(conn.blocked.is_none());
        // Forever, until CLIENT UNBLOCK.
        run_line(&mut em, &mut conn, "wait 1 0");
        clock.advance(1_000_000);
        run_line(&mut em, &mut conn, "wait 1 0");
        assert!(conn.blocked.is_some());
        assert!(em.unblock(1, false));
        assert_eq!(run_line(&mut em, &mut conn, "wait 1 0"), Reply::Int(0));
        assert!(conn.blocked.is_none());
    }

    #[test]
    fn wait_errors_are_redis_errors() {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::new(1);
        for (line, error) in [
            ("wait x 0", "ERR value is not an integer or out of range"),
            ("wait 1 -1", "ERR timeout is negative"),
            ("wait 1 x", "ERR timeout is not an integer or out of range"),
            ("wait 1", "ERR wrong number of arguments for 'wait' command"),
            ("role x", "ERR wrong number of arguments for 'role' command"),
        ] {
            assert_eq!(
                run_line(&mut em, &mut conn, line),
                Reply::error(error),
                "{line}"
            );
        }
    }
}
