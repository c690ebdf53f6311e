//! Differential scripts for client-side caching (`CLIENT TRACKING` and its invalidations), in
//! RESP2 and RESP3. Invalidations arrive on other connections than the one that sent the
//! command, and after its reply, so this harness compares everything each connection received
//! after each step, not one reply: on the real server, what arrived once it went quiet.
//!
//! A line may name a connection's id as `{idN}` (ids differ by server), `close N` closes
//! connection N and opens a fresh one, and `quiet N: line` expects no reply (`CLIENT REPLY`).

use super::*;

/// How long the real server's connections must stay silent before a step counts as done:
/// Redis writes the pushes of a command in the event-loop iteration that writes its reply.
const SETTLE: Duration = Duration::from_millis(10);

/// Replies that carry a connection id, which differs by server: the id is masked after them.
const ID_MARKERS: &[&[u8]] = &[b"tracking-redir-broken\r\n:", b"$8\r\nredirect\r\n:"];

/// One step of a tracking script.
enum TrackingStep {
    Send {
        conn: usize,
        line: String,
        quiet: bool,
    },
    Close(usize),
}

fn tracking_steps(lines: &[&str]) -> Vec<TrackingStep> {
    lines
        .iter()
        .map(|line| {
            if let Some(n) = line.strip_prefix("close ") {
                return TrackingStep::Close(n.parse().expect("a connection number"));
            }
            let (quiet, line) = match line.strip_prefix("quiet ") {
                Some(rest) => (true, rest),
                None => (false, *line),
            };
            match steps(&[line]).remove(0) {
                Step::Send(conn, line) => TrackingStep::Send { conn, line, quiet },
                Step::Sleep(_) => panic!("no sleeps in tracking scripts"),
            }
        })
        .collect()
}

/// Everything connection `c` of the real server sent until it stayed quiet for [`SETTLE`],
/// after at least one complete reply unless `quiet`.
fn real_output(conn: &mut RealConn, quiet: bool) -> Vec<u8> {
    let mut out = std::mem::take(&mut conn.pending);
    let mut chunk = [0u8; 65536];
    if !quiet {
        conn.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while out.is_empty() || reply_len(&out).is_none() {
            let n = conn.stream.read(&mut chunk).expect("redis-server replies");
            assert!(n > 0, "redis-server closed the connection");
            out.extend_from_slice(&chunk[..n]);
        }
    }
    conn.stream.set_read_timeout(Some(SETTLE)).unwrap();
    while let Ok(n) = conn.stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    out
}

fn mask_ids(mut reply: Vec<u8>) -> Vec<u8> {
    for marker in ID_MARKERS {
        let mut from = 0;
        while let Some(at) = reply[from..]
            .windows(marker.len())
            .position(|w| w == *marker)
        {
            let start = from + at + marker.len();
            let end = start + reply[start..].iter().position(|b| *b == b'\r').unwrap_or(0);
            reply.splice(start..end, *b"N");
            from = start;
        }
    }
    mask_hello_id(reply)
}

/// The real server and the emulator, each with [`CONNECTIONS`] connections.
struct TrackingPair {
    pair: Pair,
    real_ids: Vec<String>,
    emulator_ids: Vec<u64>,
    next_emulator_id: u64,
    socket: PathBuf,
}

impl TrackingPair {
    fn new(server: &RealRedis) -> TrackingPair {
        let mut pair = Pair::new(server);
        // The engine registers a connection when it opens, before its first command.
        for id in 1..=CONNECTIONS as u64 {
            pair.emulator
                .connect(id, "127.0.0.1:40000", "127.0.0.1:6379");
        }
        let real_ids = (0..CONNECTIONS)
            .map(|c| {
                let reply = pair.real[c].ask(&[b"CLIENT".to_vec(), b"ID".to_vec()]);
                String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
            })
            .collect();
        TrackingPair {
            pair,
            real_ids,
            emulator_ids: (1..=CONNECTIONS as u64).collect(),
            next_emulator_id: CONNECTIONS as u64 + 1,
            socket: server.socket.clone(),
        }
    }

    /// `line` with `{idN}` replaced by connection N's id on one side.
    fn with_ids(line: &str, ids: &[String]) -> String {
        let mut line = line.to_string();
        for (n, id) in ids.iter().enumerate() {
            line = line.replace(&format!("{{id{n}}}"), id);
        }
        line
    }

    fn close(&mut self, c: usize) {
        let stream = connect_to(&self.socket);
        let old = std::mem::replace(
            &mut self.pair.real[c],
            RealConn {
                stream,
                pending: Vec::new(),
            },
        );
        drop(old);
        let reply = self.pair.real[c].ask(&[b"CLIENT".to_vec(), b"ID".to_vec()]);
        self.real_ids[c] = String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned();
        self.pair.emulator.disconnect(self.emulator_ids[c]);
        self.emulator_ids[c] = self.next_emulator_id;
        self.pair.sessions[c] = Session::new(self.next_emulator_id);
        self.pair
            .emulator
            .connect(self.next_emulator_id, "127.0.0.1:40001", "127.0.0.1:6379");
        self.next_emulator_id += 1;
        self.pair.sessions[c].receive(
            &encode(&[b"CLIENT".to_vec(), b"ID".to_vec()]),
            &mut self.pair.emulator,
        );
    }

    /// Runs the steps on both; `Err` describes the first difference. Returns the number of
    /// commands compared.
    fn compare(&mut self, steps: &[TrackingStep]) -> Result<usize, String> {
        let mut commands = 0;
        for (i, step) in steps.iter().enumerate() {
            let (c, line, quiet) = match step {
                TrackingStep::Close(c) => {
                    self.close(*c);
                    continue;
                }
                TrackingStep::Send { conn, line, quiet } => (*conn, line, *quiet),
            };
            let emulator_ids: Vec<String> =
                self.emulator_ids.iter().map(|id| id.to_string()).collect();
            let real_words = split_args(Self::with_ids(line, &self.real_ids).as_bytes()).unwrap();
            let emulator_words =
                split_args(Self::with_ids(line, &emulator_ids).as_bytes()).unwrap();
            self.pair.real[c]
                .stream
                .write_all(&encode(&real_words))
                .unwrap();
            let mut expected: Vec<Vec<u8>> = Vec::new();
            for n in 0..CONNECTIONS {
                expected.push(real_output(&mut self.pair.real[n], quiet || n != c));
            }
            let emulator = &mut self.pair.emulator;
            let mut got = vec![Vec::new(); CONNECTIONS];
            got[c] = self.pair.sessions[c]
                .receive(&encode(&emulator_words), emulator)
                .bytes;
            for (n, id) in self.emulator_ids.iter().enumerate() {
                got[n].extend(emulator.take_outbox(*id));
            }
            commands += 1;
            for n in 0..CONNECTIONS {
                let (want, have) = (
                    mask_ids(expected[n].clone()),
                    mask_ids(std::mem::take(&mut got[n])),
                );
                if want != have {
                    return Err(format!(
                        "step {i} ({c}: {line}), connection {n} received\n  redis:    {:?}\n  \
                         emulator: {:?}",
                        String::from_utf8_lossy(&want),
                        String::from_utf8_lossy(&have)
                    ));
                }
            }
        }
        Ok(commands)
    }
}

/// Scripts per aspect of client-side caching; connection 0 tracks unless said otherwise.
const TRACKING_SCRIPTS: &[(&str, &[&str])] = &[
    (
        "resp3 default mode",
        &[
            "hello 3",
            "client tracking on",
            "get k",
            "set k v",
            "get k",
            "1: set k w",
            "1: set k x",
            "mget k j k",
            "hgetall j",
            "1: mset k 1 j 2",
            "get k",
            "1: del k nothere",
            "get k",
            "1: set k 1",
            "1: incr k",
            "get k",
            "1: expire k 100",
            "1: expire k 100 xx",
            "get k",
            "1: rename k k2",
            "get k2",
            "1: setrange k2 0 \"\"",
            "1: append k2 z",
            "get k2",
            "1: persist k2",
            "1: unlink k2",
            "lrange l 0 -1",
            "1: rpush l a",
            "smembers s",
            "1: sadd s a",
            "1: sadd s a",
            "smembers s",
            "1: srem s b",
            "1: srem s a",
            "client tracking off",
            "get k",
            "1: set k 2",
            "client trackinginfo",
            "client getredir",
        ],
    ),
    (
        "resp3 writers of every kind, across databases",
        &[
            "hello 3",
            "client tracking on",
            "mget a b c d",
            "1: select 1",
            "1: set a 1",
            "1: select 0",
            "1: set src v",
            "1: copy src b",
            "1: move src 1",
            "1: rpush l 3 1 2",
            "1: sort l store c",
            "get c",
            "1: sort l",
            "1: lmpop 1 l left",
            "lrange l 0 -1",
            "1: lmpop 1 l left count 5",
            "get d",
            "1: swapdb 0 1",
            "get a",
            "1: swapdb 0 1",
            "1: set n 5",
            "get n",
            "1: getdel n",
            "zrange z 0 -1",
            "1: zadd z 1 m",
            "1: zadd z 1 m",
            "zrange z 0 -1",
            "1: zadd z 2 m",
            "xlen s",
            "1: xadd s 1-1 f v",
            "xlen s",
            "1: xgroup create s g 0",
            "1: xtrim s maxlen 0",
            "get gone",
            "1: expire gone 10",
            "1: set gone 1 nx",
            "1: set gone 2 nx",
            "get gone",
            "1: set gone 3 xx get",
            "get gone",
            "1: pexpire gone -1",
            "hget h f",
            "1: hset h f 1",
            "hget h f",
            "1: hdel h nope",
            "1: hdel h f",
            "get e",
            "1: set e 1",
            "get e",
            "1: rename e e",
            "1: object encoding e",
            "1: getex e px 100000",
            "get e",
            "1: getex e persist",
            "scard s2",
            "1: sadd s1 a",
            "1: sunionstore s2 s1",
            "zunion 2 z1 z2",
            "sintercard 2 s8 s9",
            "xread streams x1 x2 0 0",
            "zinter 5 q",
            "1: zadd z2 1 a",
            "1: sadd s9 a",
            "1: xadd x2 1-1 f v",
            "1: zadd q 1 a",
            "get ro",
            "1: eval_ro \"return redis.call('get', KEYS[1])\" 1 ro",
            "1: set ro 1",
        ],
    ),
    (
        "resp3 transactions, scripts and flushes",
        &[
            "hello 3",
            "client tracking on",
            "get a",
            "get b",
            "multi",
            "set a 1",
            "set b 1",
            "exec",
            "get a",
            "1: multi",
            "1: set a 2",
            "1: get a",
            "1: exec",
            "get a",
            "1: eval \"return redis.call('set', KEYS[1], 'x')\" 1 a",
            "eval \"return redis.call('get', KEYS[1])\" 1 a",
            "1: set a y",
            "eval_ro \"return redis.call('get', KEYS[1])\" 1 a",
            "1: set a z",
            "get a",
            "flushdb",
            "get a",
            "1: flushall",
            "1: hello 3",
            "1: client tracking on bcast",
            "flushall",
            "1: ping",
            "1: set a 1",
        ],
    ),
    (
        "resp3 noloop and optin/optout",
        &[
            "hello 3",
            "client tracking on noloop",
            "get k",
            "set k 1",
            "get k",
            "1: set k 2",
            "client tracking on optin",
            "client trackinginfo",
            "get k",
            "1: set k 3",
            "client caching yes",
            "client trackinginfo",
            "get k",
            "client trackinginfo",
            "1: set k 4",
            "client caching yes",
            "client getname",
            "get j",
            "1: set j 1",
            "client caching yes",
            "multi",
            "get x",
            "get y",
            "exec",
            "1: mset x 1 y 1",
            "client tracking on optout",
            "client tracking off",
            "client tracking on optout",
            "get k",
            "client caching no",
            "get j",
            "1: mset k 5 j 5",
            "client caching yes",
            "client caching maybe",
            "client tracking on optin",
        ],
    ),
    (
        "resp3 bcast",
        &[
            "hello 3",
            "client tracking on bcast prefix u: prefix v:",
            "1: mset u:2 a u:1 b w c v:1 d",
            "set u:3 x",
            "client trackinginfo",
            "client tracking on bcast prefix x",
            "client tracking on bcast prefix u:1",
            "client tracking on bcast prefix u",
            "client trackinginfo",
            "client tracking on",
            "client tracking on bcast noloop prefix y",
            "set u:4 1",
            "1: set u:4 2",
            "1: del w",
            "1: expire v:1 0",
            "client tracking off",
            "client tracking on bcast",
            "1: set anything 1",
            "1: flushdb",
        ],
    ),
    (
        "resp2 redirect to a subscribed connection",
        &[
            "1: subscribe __redis__:invalidate",
            "client tracking on redirect {id1}",
            "get k",
            "set k 1",
            "mget k j",
            "mset k 2 j 3",
            "2: get k",
            "2: set k 4",
            "get k",
            "2: set k 5",
            "client tracking on bcast redirect {id1} prefix p",
            "client tracking off",
            "client tracking on bcast redirect {id1} prefix p",
            "2: mset p1 1 p2 2 q 3",
            "flushdb",
            "client tracking off",
            "client tracking on redirect {id2}",
            "get k",
            "2: set k 6",
            "client tracking on",
            "get k",
            "set k 7",
        ],
    ),
    (
        "resp3 redirect to a resp3 connection, then gone",
        &[
            "hello 3",
            "1: hello 3",
            "client tracking on redirect {id1}",
            "get k",
            "2: set k 1",
            "get k",
            "set k 2",
            "get k",
            "close 1",
            "2: set k 3",
            "get k",
            "2: set k 4",
            "client trackinginfo",
            "client tracking on",
            "client trackinginfo",
            "get k",
            "2: set k 5",
        ],
    ),
    (
        "client reply off",
        &[
            "hello 3",
            "client tracking on",
            "get k",
            "quiet client reply off",
            "1: set k 1",
            "quiet get k",
            "quiet set k 2",
            "client reply on",
            "1: subscribe ch",
            "2: publish ch m",
        ],
    ),
    (
        "errors, resp2 and resp3",
        &[
            "client tracking",
            "client tracking maybe",
            "client tracking on foo",
            "client tracking off foo",
            "client tracking on redirect",
            "client tracking on redirect x",
            "client tracking on redirect 0",
            "client tracking on redirect -1",
            "client tracking on redirect 99999999",
            "client tracking off redirect 99999999",
            "client tracking on redirect {id1} redirect {id1}",
            "client tracking on prefix a",
            "client tracking on bcast prefix a prefix ab",
            "client tracking on bcast prefix ab prefix a",
            "client tracking on bcast prefix a prefix b prefix bc",
            "client trackinginfo",
            "client tracking on bcast prefix x prefix ab",
            "client tracking off",
            "client tracking on optin optout",
            "client tracking on optin bcast",
            "client tracking on bcast optout",
            "client tracking on prefix",
            "client tracking off bcast noloop optin optout prefix x",
            "client caching",
            "client caching yes",
            "client caching no",
            "client caching maybe",
            "client caching yes x",
            "client getredir x",
            "client trackinginfo x",
            "client getredir",
            "client trackinginfo",
            "hello 3",
            "client trackinginfo",
            "client tracking on optin",
            "client caching no",
            "client caching yes",
            "client trackinginfo",
            "client tracking on optout",
            "client tracking on noloop",
            "client trackinginfo",
            "client tracking on optout",
            "client tracking off",
            "client tracking on optout",
            "client caching yes",
            "client caching no",
            "client trackinginfo",
            "client tracking on bcast",
            "client getredir",
            "client tracking off",
            "client getredir",
        ],
    ),
];

#[test]
fn client_side_caching_like_redis_server() {
    let Some(server) = real_or_skip("client_side_caching_like_redis_server") else {
        return;
    };
    let mut commands = 0;
    for (script, lines) in TRACKING_SCRIPTS {
        let mut pair = TrackingPair::new(&server);
        match pair.compare(&tracking_steps(lines)) {
            Ok(n) => commands += n,
            Err(e) => panic!("script {script}: {e}"),
        }
    }
    eprintln!(
        "compared {} tracking scripts, {commands} commands, every connection's bytes",
        TRACKING_SCRIPTS.len()
    );
}
