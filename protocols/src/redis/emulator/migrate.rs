//! `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS
//! key...]` between emulated addresses, with Redis 7.0's replies.
//!
//! The emulator opens no socket: the driver that owns the emulators gives it
//! [`MigrationTargets`], through which MIGRATE reaches the emulator of another emulated
//! address. There it sends what Redis sends on its migration connection (`AUTH`, `SELECT`,
//! one `RESTORE` per key with the key's DUMP payload and remaining TTL) through a session of
//! that emulator, so the target's password, users, databases and `BUSYKEY` answer as they
//! would, and words the reply as Redis does (`OK`, `NOKEY`, `ERR Target instance replied with
//! error: ...`). A target that is not an emulated address is never connected to: the reply is
//! Redis's for a host it cannot connect to.

use std::sync::Arc;
use std::time::Duration;

use super::dump::object;
use super::{Emulator, Handler, NOT_INTEGER, SYNTAX, is};
use crate::redis::conn::{Connection, Session};
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "MIGRATE" => migrate,
        _ => return None,
    })
}

/// Redis's reply when it cannot connect to the target.
pub const UNREACHABLE: &str = "IOERR error or timeout connecting to the client";
/// Redis's reply when the target does not answer within the timeout (as when an address
/// migrates to itself).
pub const TIMED_OUT: &str = "IOERR error or timeout reading to target instance";
/// The client id of the migration connection in the target's emulator.
const MIGRATION_CLIENT_ID: u64 = u64::MAX;

/// The other emulated addresses MIGRATE can reach.
pub trait MigrationTargets: Send + Sync {
    /// Runs `migrate` with the emulator of the emulated address `host:port`, waiting at most
    /// `timeout` for it to be free.
    fn with_target(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        migrate: &mut dyn FnMut(&mut Emulator),
    ) -> Result<(), TargetUnreachable>;
}

/// Why MIGRATE could not reach its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetUnreachable {
    /// `host:port` is not an emulated address: nothing is connected to.
    NotEmulated,
    /// The target stayed busy past the timeout, or is the source itself.
    TimedOut,
}

/// The emulator's [`MigrationTargets`], if its driver gave it some.
#[derive(Default, Clone)]
pub(super) struct Targets(Option<Arc<dyn MigrationTargets>>);

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Targets(set)"
        } else {
            "Targets(none)"
        })
    }
}

impl Emulator {
    /// This emulator with `targets` for MIGRATE; without them, every target is unreachable.
    pub fn with_migration_targets(mut self, targets: Arc<dyn MigrationTargets>) -> Self {
        self.migration = Targets(Some(targets));
        self
    }
}

/// MIGRATE's arguments once checked.
struct Request<'a> {
    host: &'a [u8],
    port: u16,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    /// `(user, password)`: `AUTH password` or `AUTH2 user password`.
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [Vec<u8>],
}

/// The arguments, checked in Redis's order: options, then timeout and database.
fn request(args: &[Vec<u8>]) -> Result<Request<'_>, Reply> {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = &args[3..4];
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "copy") {
            copy = true;
        } else if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "auth") && more >= 1 {
            auth = Some((None, args[j + 1].as_slice()));
            j += 1;
        } else if is(&args[j], "auth2") && more >= 2 {
            auth = Some((Some(args[j + 1].as_slice()), args[j + 2].as_slice()));
            j += 2;
        } else if is(&args[j], "keys") {
            if !args[3].is_empty() {
                return Err(Reply::error(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to \
                     the empty string",
                ));
            }
            keys = &args[j + 1..];
            break;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        j += 1;
    }
    let long = |arg: &[u8]| {
        crate::redis::command::strict_i64(arg).ok_or_else(|| Reply::error(NOT_INTEGER))
    };
    let timeout = long(&args[5])?;
    let db = long(&args[4])?;
    let timeout = if timeout <= 0 { 1000 } else { timeout };
    Ok(Request {
        host: &args[1],
        port: atoi_port(&args[2]),
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
        keys,
    })
}

/// The port as C's `atoi` reads it (leading digits, 0 for none), as Redis connects to it.
fn atoi_port(arg: &[u8]) -> u16 {
    let digits = arg.iter().take_while(|b| b.is_ascii_digit()).take(6);
    let n = digits.fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).unwrap_or(0)
}

/// One key to send: its name, remaining TTL in ms (0: none) and DUMP payload.
struct Outgoing {
    key: Vec<u8>,
    ttl: i64,
    payload: Vec<u8>,
}

fn migrate(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let request = match request(args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let outgoing = outgoing(em, conn.db, request.keys);
    if outgoing.is_empty() {
        return Reply::Simple("NOKEY".into());
    }
    let Some(targets) = em.migration.0.clone() else {
        return Reply::error(UNREACHABLE);
    };
    let host = String::from_utf8_lossy(request.host).into_owned();
    let mut lines = Vec::new();
    let sent = targets.with_target(&host, request.port, request.timeout, &mut |target| {
        lines = run_on_target(target, &request, &outgoing);
    });
    match sent {
        Ok(()) => {}
        Err(TargetUnreachable::NotEmulated) => return Reply::error(UNREACHABLE),
        Err(TargetUnreachable::TimedOut) => return Reply::error(TIMED_OUT),
    }
    conclude(em, conn.db, &request, &outgoing, &lines)
}

/// The keys present, with what RESTORE needs.
fn outgoing(em: &mut Emulator, db: usize, keys: &[Vec<u8>]) -> Vec<Outgoing> {
    let now = em.now;
    keys.iter()
        .filter_map(|key| {
            let payload = object::encode(em.value(db, key)?);
            let expires_at = em.slot(db, key)?.expires_at;
            let ttl = expires_at.map_or(0, |at| at.saturating_sub(now).max(1) as i64);
            Some(Outgoing {
                key: key.clone(),
                ttl,
                payload,
            })
        })
        .collect()
}

/// Sends Redis's migration commands to `target` in one batch, as Redis pipelines them, and
/// returns the reply lines (all single-line replies).
fn run_on_target(target: &mut Emulator, request: &Request, outgoing: &[Outgoing]) -> Vec<Vec<u8>> {
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    if let Some((user, password)) = request.auth {
        let mut auth = vec![b"AUTH".to_vec()];
        auth.extend(user.map(<[u8]>::to_vec));
        auth.push(password.to_vec());
        commands.push(auth);
    }
    commands.push(vec![
        b"SELECT".to_vec(),
        request.db.to_string().into_bytes(),
    ]);
    for key in outgoing {
        let mut restore = vec![
            b"RESTORE".to_vec(),
            key.key.clone(),
            key.ttl.to_string().into_bytes(),
            key.payload.clone(),
        ];
        if request.replace {
            restore.push(b"REPLACE".to_vec());
        }
        commands.push(restore);
    }
    let mut session = Session::new(MIGRATION_CLIENT_ID);
    let output = session.receive(&resp(&commands), target);
    target.disconnect(MIGRATION_CLIENT_ID);
    output
        .bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        .collect()
}

fn resp(commands: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for words in commands {
        wire.extend(format!("*{}\r\n", words.len()).into_bytes());
        for word in words {
            wire.extend(format!("${}\r\n", word.len()).into_bytes());
            wire.extend(word);
            wire.extend(b"\r\n");
        }
    }
    wire
}

/// Redis's reading of the target's replies: the first error (AUTH's, SELECT's, then the
/// RESTOREs') is the reply; every key the target restored while AUTH and SELECT succeeded
/// is deleted here unless COPY.
fn conclude(
    em: &mut Emulator,
    db: usize,
    request: &Request,
    outgoing: &[Outgoing],
    lines: &[Vec<u8>],
) -> Reply {
    let head = usize::from(request.auth.is_some()) + 1;
    let failed_head = lines.iter().take(head).find(|l| l.first() == Some(&b'-'));
    let mut error = None;
    for (key, restored) in outgoing.iter().zip(lines.iter().skip(head)) {
        match failed_head.or((restored.first() == Some(&b'-')).then_some(restored)) {
            Some(line) => {
                error.get_or_insert_with(|| {
                    Reply::error(format!(
                        "ERR Target instance replied with error: {}",
                        String::from_utf8_lossy(&line[1..])
                    ))
                });
            }
            None if !request.copy => {
                em.remove(db, &key.key);
            }
            None => {}
        }
    }
    error.unwrap_or_else(Reply::ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::auth::Credentials;
    use crate::redis::emulator::run_line;
    use crate::redis::entry::Seed;
    use std::sync::Mutex;

    /// One other emulator at `target.internal:6379`.
    struct OneTarget(Mutex<Emulator>);

    impl MigrationTargets for OneTarget {
        fn with_target(
            &self,
            host: &str,
            port: u16,
            _timeout: Duration,
            migrate: &mut dyn FnMut(&mut Emulator),
        ) -> Result<(), TargetUnreachable> {
            if (host, port) != ("target.internal", 6379) {
                return Err(TargetUnreachable::NotEmulated);
            }
            migrate(&mut self.0.lock().unwrap());
            Ok(())
        }
    }

    fn pair(password: Option<&str>) -> (Emulator, Arc<OneTarget>) {
        let credentials = Credentials {
            password: password.map(|p| p.as_bytes().to_vec()),
            users: Vec::new(),
        };
        let target = Emulator::new(&Seed::new()).with_credentials(credentials);
        let target = Arc::new(OneTarget(Mutex::new(target)));
        let source = Emulator::new(&Seed::new()).with_migration_targets(target.clone());
        (source, target)
    }

    fn on_target(target: &OneTarget, line: &str) -> Reply {
        run_line(
            &mut target.0.lock().unwrap(),
            &mut Connection::default(),
            line,
        )
    }

    #[test]
    fn migrate_moves_keys_with_their_ttl_and_answers_as_redis() {
        let (mut source, target) = pair(None);
        let mut conn = Connection::default();
        run_line(&mut source, &mut conn, "set a 1 px 100000");
        run_line(&mut source, &mut conn, "rpush b x y");
        let moved = run_line(
            &mut source,
            &mut conn,
            "migrate target.internal 6379 a 0 100",
        );
        assert_eq!(moved, Reply::ok());
        assert_eq!(run_line(&mut source, &mut conn, "exists a"), Reply::Int(0));
        assert_eq!(on_target(&target, "get a"), Reply::bulk("1"));
        let Reply::Int(ttl) = on_target(&target, "pttl a") else {
            panic!("a TTL");
        };
        assert!((99_000..=100_000).contains(&ttl), "{ttl}");
        let copied = "migrate target.internal 6379 \"\" 0 100 copy keys a b";
        assert_eq!(run_line(&mut source, &mut conn, copied), Reply::ok());
        assert_eq!(run_line(&mut source, &mut conn, "exists b"), Reply::Int(1));
        assert_eq!(on_target(&target, "llen b"), Reply::Int(2));
        let again = run_line(
            &mut source,
            &mut conn,
            "migrate target.internal 6379 b 0 100",
        );
        assert_eq!(
            again,
            Reply::error(
                "ERR Target instance replied with error: BUSYKEY Target key name already exists."
            )
        );
        assert_eq!(run_line(&mut source, &mut conn, "exists b"), Reply::Int(1));
        let replaced = "migrate target.internal 6379 b 0 100 replace";
        assert_eq!(run_line(&mut source, &mut conn, replaced), Reply::ok());
        assert_eq!(run_line(&mut source, &mut conn, "exists b"), Reply::Int(0));
        let none = run_line(
            &mut source,
            &mut conn,
            "migrate target.internal 6379 b 0 100",
        );
        assert_eq!(none, Reply::Simple("NOKEY".into()));
    }

    #[test]
    fn migrate_authenticates_and_selects_on_the_target() {
        let (mut source, target) = pair(Some("pw"));
        let mut conn = Connection::default();
        run_line(&mut source, &mut conn, "set k v");
        let cases = [
            (
                "migrate target.internal 6379 k 0 100 copy",
                "ERR Target instance replied with error: NOAUTH Authentication required.",
            ),
            (
                "migrate target.internal 6379 k 0 100 copy auth bad",
                "ERR Target instance replied with error: WRONGPASS invalid username-password \
                 pair or user is disabled.",
            ),
            (
                "migrate target.internal 6379 k 99 100 copy auth pw",
                "ERR Target instance replied with error: ERR DB index is out of range",
            ),
        ];
        for (line, error) in cases {
            assert_eq!(
                run_line(&mut source, &mut conn, line),
                Reply::error(error),
                "{line}"
            );
        }
        let moved = "migrate target.internal 6379 k 3 100 auth2 default pw";
        assert_eq!(run_line(&mut source, &mut conn, moved), Reply::ok());
        let mut target_conn = Connection::default();
        let mut target = target.0.lock().unwrap();
        run_line(&mut target, &mut target_conn, "auth pw");
        run_line(&mut target, &mut target_conn, "select 3");
        assert_eq!(
            run_line(&mut target, &mut target_conn, "get k"),
            Reply::bulk("v")
        );
    }

    #[test]
    fn migrate_checks_its_arguments_and_never_leaves_the_emulators() {
        let (mut source, _target) = pair(None);
        let mut conn = Connection::default();
        run_line(&mut source, &mut conn, "set k v");
        let cases = [
            ("migrate other.internal 6379 k 0 100", UNREACHABLE),
            ("migrate target.internal 6380 k 0 100", UNREACHABLE),
            (
                "migrate target.internal 6379 k 0 100 keys a",
                "ERR When using MIGRATE KEYS option, the key argument must be set to the \
                 empty string",
            ),
            ("migrate target.internal 6379 k x 100", NOT_INTEGER),
            ("migrate target.internal 6379 k 0 x", NOT_INTEGER),
            ("migrate target.internal 6379 k 0 100 foo", SYNTAX),
            ("migrate target.internal 6379 k 0 100 auth", SYNTAX),
            ("migrate target.internal 6379 k 0 100 auth2 u", SYNTAX),
        ];
        for (line, error) in cases {
            assert_eq!(
                run_line(&mut source, &mut conn, line),
                Reply::error(error),
                "{line}"
            );
        }
        let mut alone = Emulator::new(&Seed::new());
        run_line(&mut alone, &mut conn, "set k v");
        assert_eq!(
            run_line(
                &mut alone,
                &mut conn,
                "migrate target.internal 6379 k 0 100"
            ),
            Reply::error(UNREACHABLE)
        );
        assert_eq!(atoi_port(b"6379x"), 6379);
        assert_eq!(atoi_port(b"x"), 0);
        assert_eq!(atoi_port(b"99999999"), 0);
    }
}
