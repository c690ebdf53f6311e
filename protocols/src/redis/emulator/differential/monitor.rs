//! Differential script for `MONITOR`: connection 0 monitors while connections 1 and 2 run
//! commands; after every step, both the step's reply and what the monitor received are
//! compared byte for byte with the real server's.
//!
//! Masked, because they differ by server and by run: each line's timestamp
//! (`+1700000000.123456 [` becomes `+T [`) and each connection's address (the real server's
//! clients all come through its unix socket, shown as `unix:<path>`; the emulator's have the
//! addresses it registered): both become `client`, so the lines are compared without telling
//! the connections apart (the unit tests check each line's address).
//! The monitor's stream is cut after each step by a `PING` on the monitor: Redis runs
//! commands in order, so every line of the step precedes its `+PONG`, which its own `PING`
//! line follows.

use std::io::Read;
use std::path::Path;

use super::{Pair, RealConn, Step, encode, mask_hello_id, real_or_skip, steps};
use crate::redis::command::split_args;

/// The steps; connection 0 is the monitor. No step may answer nothing (a second `MONITOR`),
/// and the monitor stays one to the end.
const MONITOR_SCRIPT: &[&str] = &[
    "0: monitor",
    "1: set a 1",
    "1: SET b \"x y\\n\\x01\\xff\\\"\\\\\"",
    "1: get a",
    "1: select 3",
    "1: set k v",
    "1: select 99",
    "1: select 0",
    "2: incr n",
    "2: incrbyfloat f 1.5",
    "1: hello 2 auth default pw",
    "1: config get maxmemory",
    "1: slowlog len",
    "1: client setname worker",
    "1: client nosuch",
    "1: get",
    "1: nosuch a b",
    "1: multi",
    "1: set x 1",
    "1: incr x",
    "1: exec",
    "1: multi",
    "1: get",
    "1: exec",
    "1: multi",
    "1: monitor",
    "1: exec",
    "1: eval \"redis.call('set','k','v') redis.call('select','2') return redis.call('ping')\" 0",
    "1: eval \"return redis.pcall('nosuch')\" 0",
    "1: evalsha 0000000000000000000000000000000000000000 0",
    "1: ping",
    "1: echo hi",
    "0: ping",
    "0: get a",
    "0: publish c m",
    "0: client list type pubsub",
    "1: watch x",
    "1: unwatch",
    "1: subscribe ch",
    "1: ping",
    "1: unsubscribe",
    "2: blpop nolist 0.01",
    "1: lpush l 1 2",
    "1: hset h f v",
    "1: del l h 12345678901234567890 -7",
    "1: exists a",
    "2: quit",
];

/// The port the emulator's connection `n` comes from.
fn emulated_port(n: usize) -> u16 {
    40_000 + n as u16
}

/// Replaces timestamps and client addresses as the module docs say.
fn mask(stream: &[u8], addresses: &[String]) -> String {
    let mut text = String::from_utf8_lossy(stream).into_owned();
    for address in addresses {
        text = text.replace(&format!("{address}]"), "client]");
    }
    text.split("\r\n")
        .map(|line| match (line.strip_prefix('+'), line.find(" [")) {
            (Some(rest), Some(at))
                if rest[..at - 1]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                format!("+T{}", &line[at..])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Reads the real monitor's stream up to the end of the line that follows `+PONG`.
fn read_through_pong(monitor: &mut RealConn) -> Vec<u8> {
    let mut chunk = [0u8; 65536];
    loop {
        let pending = &monitor.pending;
        if let Some(at) = pending.windows(7).position(|w| w == b"+PONG\r\n")
            && let Some(end) = pending[at + 7..].windows(2).position(|w| w == b"\r\n")
        {
            let end = at + 7 + end + 2;
            return monitor.pending.drain(..end).collect();
        }
        let n = monitor
            .stream
            .read(&mut chunk)
            .expect("the monitor's stream");
        assert!(n > 0, "redis-server closed the monitor");
        monitor.pending.extend_from_slice(&chunk[..n]);
    }
}

impl Pair {
    /// Runs the monitor script; `Err` describes the first difference.
    fn compare_monitored(&mut self, steps: &[Step], real: &Path) -> Result<usize, String> {
        let real_addresses = [format!("unix:{}", real.display())];
        let emulated_addresses: Vec<String> = (0..self.real.len())
            .map(|n| format!("127.0.0.1:{}", emulated_port(n)))
            .collect();
        let ping = [b"PING".to_vec()];
        let mut commands = 0;
        let mut monitoring = false;
        for (i, step) in steps.iter().enumerate() {
            let Step::Send(c, line) = step else {
                continue;
            };
            let (c, words) = (*c, split_args(line.as_bytes()).expect("a valid line"));
            let expected = mask_hello_id(self.real[c].ask(&words));
            let session = &mut self.sessions[c];
            let mut got = session.receive(&encode(&words), &mut self.emulator).bytes;
            while session.blocked().is_some() {
                std::thread::sleep(std::time::Duration::from_millis(2));
                got.extend(session.retry(&mut self.emulator).bytes);
            }
            let got = mask_hello_id(got);
            monitoring |= c == 0 && line.eq_ignore_ascii_case("monitor");
            if !monitoring {
                if expected != got {
                    return Err(difference(i, c, line, &expected, &got));
                }
                commands += 1;
                continue;
            }
            let (expected_monitor, got_monitor) = if c == 0 {
                // The emulator's reply holds the monitor's own line: compare the streams.
                let real = [expected, self.real_monitor_tail(&ping)].concat();
                let emulated = [got, self.emulated_monitor_tail(&ping)].concat();
                (real, emulated)
            } else {
                if expected != got {
                    return Err(difference(i, c, line, &expected, &got));
                }
                (
                    self.real_monitor_tail(&ping),
                    self.emulated_monitor_tail(&ping),
                )
            };
            commands += 2;
            let (expected_monitor, got_monitor) = (
                mask(&expected_monitor, &real_addresses),
                mask(&got_monitor, &emulated_addresses),
            );
            if expected_monitor != got_monitor {
                return Err(difference(
                    i,
                    0,
                    &format!("monitor after {line}"),
                    expected_monitor.as_bytes(),
                    got_monitor.as_bytes(),
                ));
            }
        }
        Ok(commands)
    }

    /// The real monitor's stream up to its `PING`'s line.
    fn real_monitor_tail(&mut self, ping: &[Vec<u8>]) -> Vec<u8> {
        self.real[0].stream.write_all_words(ping);
        read_through_pong(&mut self.real[0])
    }

    /// The emulator's lines for the monitor, then its `PING`'s reply and line.
    fn emulated_monitor_tail(&mut self, ping: &[Vec<u8>]) -> Vec<u8> {
        let mut stream = self.emulator.take_outbox(1);
        stream.extend(
            self.sessions[0]
                .receive(&encode(ping), &mut self.emulator)
                .bytes,
        );
        stream
    }
}

/// Sends a command without reading its reply.
trait WriteWords {
    fn write_all_words(&mut self, words: &[Vec<u8>]);
}

impl WriteWords for std::os::unix::net::UnixStream {
    fn write_all_words(&mut self, words: &[Vec<u8>]) {
        std::io::Write::write_all(self, &encode(words)).expect("redis-server takes commands");
    }
}

fn difference(i: usize, c: usize, line: &str, expected: &[u8], got: &[u8]) -> String {
    format!(
        "step {i}, connection {c}: {line}\n  redis:    {:?}\n  emulator: {:?}",
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(got)
    )
}

/// The script in RESP2, then with every connection in RESP3.
#[test]
fn monitor_streams_match_redis_server_in_resp2_and_resp3() {
    let Some(server) = real_or_skip("monitor_streams_match_redis_server_in_resp2_and_resp3") else {
        return;
    };
    let mut total = 0;
    for resp3 in [false, true] {
        let mut pair = Pair::new(&server);
        for n in 0..pair.real.len() {
            let addr = format!("127.0.0.1:{}", emulated_port(n));
            pair.emulator.connect(n as u64 + 1, &addr, "127.0.0.1:6379");
        }
        let mut lines: Vec<String> = Vec::new();
        if resp3 {
            lines.extend((0..3).map(|c| format!("{c}: hello 3")));
        }
        lines.extend(MONITOR_SCRIPT.iter().map(|l| l.to_string()));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        match pair.compare_monitored(&steps(&refs), &server.socket) {
            Ok(n) => total += n,
            Err(diff) => panic!("MONITOR (resp3: {resp3}):\n{diff}"),
        }
    }
    eprintln!("monitor differential: {total} replies and monitor streams compared");
}

/// `CLIENT PAUSE`/`UNPAUSE`: their errors, a write held until a short pause ends while reads
/// run, a write inside `EXEC` never held, and expiry suspended during a pause. Connection 1
/// waits as long on both servers (the emulator's session is retried until it answers).
const PAUSE_SCRIPT: &[&str] = &[
    "client pause",
    "client pause abc",
    "client pause 1.5",
    "client pause -1",
    "client pause abc foo",
    "client pause 10 foo",
    "client pause 10 write x",
    "client unpause x",
    "client pause 0",
    "client pause 9223372036854775807",
    "set free 1",
    "client unpause",
    "client pause 80 write",
    "1: get free",
    "1: ping",
    "1: set held 1",
    "1: get held",
    "client pause 80 write",
    "1: multi",
    "1: get free",
    "1: incr held",
    "1: exec",
    "multi",
    "client pause 80 write",
    "set inside 1",
    "exec",
    "client unpause",
    "set k v px 30",
    "client pause 300 write",
    "sleep 60",
    "get k",
    "exists k",
    "ttl k",
    "dbsize",
    "client unpause",
];

#[test]
fn client_pause_answers_like_redis_server_in_resp2_and_resp3() {
    let Some(server) = real_or_skip("client_pause_answers_like_redis_server_in_resp2_and_resp3")
    else {
        return;
    };
    let mut total = 0;
    for resp3 in [false, true] {
        let mut pair = Pair::new(&server);
        let mut lines: Vec<&str> = Vec::new();
        if resp3 {
            lines.extend(["hello 3", "1: hello 3"]);
        }
        lines.extend(PAUSE_SCRIPT);
        match pair.compare(&steps(&lines)) {
            Ok(n) => total += n,
            Err(diff) => panic!("CLIENT PAUSE (resp3: {resp3}):\n{diff}"),
        }
    }
    eprintln!("client pause differential: {total} replies compared");
}
