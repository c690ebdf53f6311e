//! Redis in cassettes: each connection as its commands, each with the exact bytes the server
//! replied. Replies are kept as raw RESP (`"+OK\r\n"`) so replay sends what the server sent,
//! RESP2 or RESP3, byte for byte.
//!
//! Recording pairs replies with commands in order (pipelining keeps the order); frames the
//! server sends when no command awaits one (pub/sub messages, the extra confirmations of a
//! multi-channel `SUBSCRIBE`) are appended to the latest reply, so replay sends them at the
//! same point of the conversation.

use mocket_protocols::field::Destination;
use mocket_protocols::redis::Decoder;

use crate::redact::REDACTED;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisExchange {
    /// The name and arguments, as sent.
    pub command: Vec<Vec<u8>>,
    /// One or more whole RESP frames.
    pub reply: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConnection {
    pub id: String,
    pub destination: Destination,
    pub tls: bool,
    pub exchanges: Vec<RedisExchange>,
}

/// The length of the first complete RESP2/RESP3 frame in `buf`, `None` until it is complete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let after = line_end + 2;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(&buf[1..line_end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "bad RESP length {:?}",
                    String::from_utf8_lossy(&buf[..line_end])
                )
            })
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after)),
        b'$' | b'!' | b'=' => match number()? {
            n if n < 0 => Ok(Some(after)),
            n => {
                let end = after + n as usize + 2;
                Ok((buf.len() >= end).then_some(end))
            }
        },
        b'*' | b'~' | b'>' => nested(buf, after, number()?),
        b'%' => nested(buf, after, number()?.saturating_mul(2)),
        // An attribute map precedes the frame it describes: both are one reply.
        b'|' => match nested(buf, after, number()?.saturating_mul(2))? {
            Some(end) => Ok(frame_len(&buf[end..])?.map(|n| end + n)),
            None => Ok(None),
        },
        other => Err(format!(
            "not a RESP frame (starts with {:?})",
            other as char
        )),
    }
}

/// `count` frames from `start`; a negative count is a null aggregate.
fn nested(buf: &[u8], start: usize, count: i64) -> Result<Option<usize>, String> {
    let mut end = start;
    for _ in 0..count.max(0) {
        match frame_len(&buf[end..])? {
            Some(n) => end += n,
            None => return Ok(None),
        }
    }
    Ok(Some(end))
}

/// Whether a recorded command answers a live one: the name case-insensitively, arguments
/// exactly, a redacted argument matching anything.
pub fn command_matches(recorded: &[Vec<u8>], live: &[Vec<u8>]) -> bool {
    recorded.len() == live.len()
        && recorded.iter().zip(live).enumerate().all(|(i, (r, l))| {
            (i == 0 && r.eq_ignore_ascii_case(l)) || r == l || r == REDACTED.as_bytes()
        })
}

/// Builds a [`RedisConnection`] from the bytes both sides send.
#[derive(Debug)]
pub struct RedisRecorder {
    conn: RedisConnection,
    commands: Decoder,
    replies: Vec<u8>,
    /// Exchanges that have their reply; the rest await one.
    answered: usize,
    /// Reply frames seen, pushed ones included.
    frames: usize,
}

impl RedisRecorder {
    pub fn new(id: String, destination: Destination, tls: bool) -> Self {
        RedisRecorder {
            conn: RedisConnection {
                id,
                destination,
                tls,
                exchanges: Vec::new(),
            },
            commands: Decoder::default(),
            replies: Vec::new(),
            answered: 0,
            frames: 0,
        }
    }

    /// Bytes from the client; returns the commands they completed.
    pub fn client(&mut self, bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, String> {
        self.commands.feed(bytes);
        let mut new = Vec::new();
        while let Some(command) = self.commands.next_command() {
            let command = command.map_err(|e| e.0)?;
            new.push(command.args.clone());
            self.conn.exchanges.push(RedisExchange {
                command: command.args,
                reply: Vec::new(),
            });
        }
        Ok(new)
    }

    /// Bytes from the server; returns the indexes of the exchanges they completed.
    pub fn server(&mut self, bytes: &[u8]) -> Result<Vec<usize>, String> {
        self.replies.extend_from_slice(bytes);
        let mut done = Vec::new();
        while let Some(n) = frame_len(&self.replies)? {
            let frame: Vec<u8> = self.replies.drain(..n).collect();
            self.frames += 1;
            if self.answered < self.conn.exchanges.len() {
                self.conn.exchanges[self.answered].reply = frame;
                done.push(self.answered);
                self.answered += 1;
            } else if let Some(last) = self.answered.checked_sub(1) {
                self.conn.exchanges[last].reply.extend_from_slice(&frame);
            }
        }
        Ok(done)
    }

    /// How many whole frames the server sent: when it grows, the connection has news to save
    /// even if no command got its reply (a pushed pub/sub message).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The connection so far: the commands that have their reply.
    pub fn connection(&self) -> RedisConnection {
        let mut conn = self.conn.clone();
        conn.exchanges.truncate(self.answered);
        conn
    }
}

/// What replay answered to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Replayed {
        command: Vec<Vec<u8>>,
        reply: Vec<u8>,
    },
    /// Not in the cassette: `reply` is a Redis error saying so.
    Unmatched {
        command: Vec<Vec<u8>>,
        reply: Vec<u8>,
        why: String,
    },
    /// The client sent something that is not Redis; the connection ends after `reply`.
    Broken { reply: Vec<u8>, why: String },
}

/// Replays one connection. It starts with every recorded connection to the destination as a
/// candidate and commits, on the first command, to the first one whose first command matches
/// (`claim` marks it used, so concurrent connections each get their own); after that commands
/// must follow that connection in order.
#[derive(Debug)]
pub struct RedisReplay {
    commands: Decoder,
    candidates: Vec<(usize, RedisConnection)>,
    chosen: Option<RedisConnection>,
    next: usize,
}

impl RedisReplay {
    /// `candidates` are (cassette index, connection), in recorded order.
    pub fn new(candidates: Vec<(usize, RedisConnection)>) -> Self {
        RedisReplay {
            commands: Decoder::default(),
            candidates,
            chosen: None,
            next: 0,
        }
    }

    pub fn receive(&mut self, bytes: &[u8], claim: &mut dyn FnMut(usize) -> bool) -> Vec<Answer> {
        self.commands.feed(bytes);
        let mut answers = Vec::new();
        while let Some(command) = self.commands.next_command() {
            match command {
                Ok(command) => answers.push(self.answer(command.args, claim)),
                Err(e) => answers.push(Answer::Broken {
                    reply: format!("-{}\r\n", e.0).into_bytes(),
                    why: e.0,
                }),
            }
        }
        answers
    }

    fn answer(&mut self, command: Vec<Vec<u8>>, claim: &mut dyn FnMut(usize) -> bool) -> Answer {
        if self.chosen.is_none() {
            self.choose(&command, claim);
        }
        let recorded = self
            .chosen
            .as_ref()
            .and_then(|c| c.exchanges.get(self.next));
        match recorded {
            Some(e) if command_matches(&e.command, &command) => {
                self.next += 1;
                Answer::Replayed {
                    reply: e.reply.clone(),
                    command,
                }
            }
            Some(e) => {
                let why = format!(
                    "expected {} (command #{} of the recorded connection)",
                    words(&e.command),
                    self.next + 1
                );
                unmatched(command, why)
            }
            None if self.chosen.is_some() => unmatched(
                command,
                "the recorded connection ended before this command".into(),
            ),
            None => unmatched(command, "no recorded connection starts with it".into()),
        }
    }

    fn choose(&mut self, first: &[Vec<u8>], claim: &mut dyn FnMut(usize) -> bool) {
        let found = self.candidates.iter().position(|(index, c)| {
            c.exchanges
                .first()
                .is_some_and(|e| command_matches(&e.command, first))
                && claim(*index)
        });
        if let Some(i) = found {
            self.chosen = Some(self.candidates.swap_remove(i).1);
        }
    }
}

fn unmatched(command: Vec<Vec<u8>>, why: String) -> Answer {
    let line = format!(
        "ERR mocket: {} is not in the cassette: {why}",
        words(&command)
    );
    // A Redis error is one line.
    let reply = format!("-{}\r\n", line.replace(['\r', '\n'], " ")).into_bytes();
    Answer::Unmatched {
        command,
        reply,
        why,
    }
}

/// A command as text, for messages.
pub fn words(command: &[Vec<u8>]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn resp(words: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", words.len());
        for w in words {
            out.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        out.into_bytes()
    }

    #[test]
    fn frames_of_every_kind() {
        let whole: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":1\r\n",
            b"$-1\r\n",
            b"$5\r\nhe\r\nl\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n:2\r\n",
            b"%1\r\n+k\r\n*1\r\n_\r\n",
            b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
            b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
            b"=8\r\ntxt:abcd\r\n",
        ];
        for frame in whole {
            assert_eq!(frame_len(frame), Ok(Some(frame.len())), "{frame:?}");
            for cut in 0..frame.len() {
                assert_eq!(frame_len(&frame[..cut]), Ok(None), "{frame:?} cut at {cut}");
            }
            let mut two = frame.to_vec();
            two.extend_from_slice(b"+next\r\n");
            assert_eq!(frame_len(&two), Ok(Some(frame.len())));
        }
        assert!(frame_len(b"HTTP/1.1 200\r\n").is_err());
    }

    #[test]
    fn records_pipelined_commands_and_pushed_frames() {
        let mut r = RedisRecorder::new("c1".into(), Destination::new("h", 6379), false);
        let mut wire = resp(&["SET", "k", "v"]);
        wire.extend(resp(&["SUBSCRIBE", "a", "b"]));
        assert_eq!(r.client(&wire[..5]).unwrap(), Vec::<Vec<Vec<u8>>>::new());
        assert_eq!(r.client(&wire[5..]).unwrap().len(), 2);
        assert_eq!(
            r.server(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1")
                .unwrap(),
            [0]
        );
        assert_eq!(r.connection().exchanges.len(), 1);
        assert_eq!(r.server(b"\r\n").unwrap(), [1]);
        r.server(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
            .unwrap();
        let conn = r.connection();
        assert_eq!(conn.exchanges[0].reply, b"+OK\r\n");
        assert!(conn.exchanges[1].reply.ends_with(b"$1\r\nb\r\n:2\r\n"));
        assert!(r.client(b"*x\r\n").is_err());
    }

    fn recorded(id: &str, pairs: &[(&[&str], &str)]) -> RedisConnection {
        RedisConnection {
            id: id.into(),
            destination: Destination::new("h", 6379),
            tls: false,
            exchanges: pairs
                .iter()
                .map(|(c, r)| RedisExchange {
                    command: cmd(c),
                    reply: r.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn replays_the_connection_that_starts_like_the_live_one() {
        let a = recorded("a", &[(&["GET", "a"], "$1\r\n1\r\n")]);
        let b = recorded(
            "b",
            &[
                (&["AUTH", REDACTED], "+OK\r\n"),
                (&["GET", "b"], "$1\r\n2\r\n"),
            ],
        );
        let mut claimed = Vec::new();
        let mut claim = |i| {
            claimed.push(i);
            true
        };
        let mut replay = RedisReplay::new(vec![(0, a), (1, b)]);
        let mut wire = resp(&["auth", "s3cret"]);
        wire.extend(resp(&["GET", "b"]));
        wire.extend(resp(&["GET", "b"]));
        let answers = replay.receive(&wire, &mut claim);
        assert_eq!(claimed, [1]);
        assert!(matches!(&answers[0], Answer::Replayed { reply, .. } if reply == b"+OK\r\n"));
        assert!(matches!(&answers[1], Answer::Replayed { reply, .. } if reply == b"$1\r\n2\r\n"));
        let Answer::Unmatched { reply, why, .. } = &answers[2] else {
            panic!("{answers:?}")
        };
        assert!(reply.starts_with(b"-ERR mocket: GET b is not in the cassette"));
        assert!(why.contains("ended"), "{why}");
    }

    #[test]
    fn unknown_first_commands_and_taken_connections_are_unmatched() {
        let a = recorded("a", &[(&["GET", "a"], "$1\r\n1\r\n")]);
        let mut replay = RedisReplay::new(vec![(0, a)]);
        let answers = replay.receive(&resp(&["GET", "zzz"]), &mut |_| true);
        assert!(matches!(&answers[0], Answer::Unmatched { .. }));
        let answers = replay.receive(&resp(&["GET", "a"]), &mut |_| false);
        assert!(
            matches!(&answers[0], Answer::Unmatched { .. }),
            "taken by another connection"
        );
        let answers = replay.receive(b"inline ok\r\n", &mut |_| true);
        assert!(matches!(&answers[0], Answer::Unmatched { .. }));
    }
}
