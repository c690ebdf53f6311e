//! Redis in cassettes: each connection as its commands, each with the exact bytes the server
//! replied. Replies are kept as raw RESP (`"+OK\r\n"`) so replay sends what the server sent,
//! RESP2 or RESP3, byte for byte.
//!
//! Recording pairs replies with commands in order (pipelining keeps the order); frames the
//! server sends when no command awaits one (pub/sub messages, the extra confirmations of a
//! multi-channel `SUBSCRIBE`) are appended to the latest reply, so replay sends them at the
//! same point of the conversation.

use mocket_protocols::field::Destination;
use mocket_protocols::redis::{Alarm, Decoder};

use crate::RecordingError;
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

/// How deep a recorded reply may nest. Replies of real commands nest a few levels (`EXEC` of
/// `XREADGROUP`, `COMMAND DOCS`: 5 or 6), and hiredis, which `redis-cli` uses, read at most 9
/// for years; 128 is far above any of them and refuses a hostile or broken server's reply
/// (`*1\r\n` repeated) early. The scan keeps its levels in a `Vec`, never on the stack.
pub const MAX_REPLY_DEPTH: usize = 128;
/// The longest line of a reply (a simple string, an error, a length): Redis's own are short
/// (error texts quote at most 128 bytes of each argument).
pub const MAX_REPLY_LINE: usize = 1024 * 1024;
/// The largest reply recorded, like Redis's `client-query-buffer-limit` for requests (a
/// reply is held whole until it ends, to pair it with its command).
pub const MAX_REPLY: usize = 1024 * 1024 * 1024;

/// The length of the first complete RESP2/RESP3 frame in `buf`, `None` until it is complete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, RecordingError> {
    FrameScanner::default().scan(buf)
}

/// Finds where a RESP2/RESP3 frame ends, iteratively and incrementally: fed the same buffer
/// as it grows, it resumes where the last call stopped, so a large reply arriving in many
/// reads is scanned once.
#[derive(Debug, Default)]
pub struct FrameScanner {
    /// Frames still expected by each open aggregate, outermost first.
    open: Vec<i64>,
    /// Where the next unscanned frame starts.
    pos: usize,
}

impl FrameScanner {
    /// The length of the first complete frame in `buf`, which holds the bytes of the previous
    /// calls and more; after `Some`, the scanner starts afresh for the next frame.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, RecordingError> {
        self.scan_text(buf).map_err(RecordingError::Protocol)
    }

    fn scan_text(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        if buf.len() > MAX_REPLY {
            return Err(format!(
                "a reply longer than {MAX_REPLY} bytes cannot be recorded"
            ));
        }
        loop {
            let Some((next, children)) = frame_head(&buf[self.pos..])? else {
                return Ok(None);
            };
            self.pos += next;
            if children > 0 {
                if self.open.len() == MAX_REPLY_DEPTH {
                    return Err(format!(
                        "a reply nested deeper than {MAX_REPLY_DEPTH} levels cannot be recorded"
                    ));
                }
                self.open.push(children);
                continue;
            }
            // A whole frame: it may complete the aggregates that hold it.
            loop {
                let Some(left) = self.open.last_mut() else {
                    let len = self.pos;
                    *self = FrameScanner::default();
                    return Ok(Some(len));
                };
                *left -= 1;
                if *left > 0 {
                    break;
                }
                self.open.pop();
            }
        }
    }
}

/// The frame starting `buf`: how many bytes its header (and, for scalars, its body) take, and
/// how many frames it contains; `None` until those bytes are there.
fn frame_head(buf: &[u8]) -> Result<Option<(usize, i64)>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > MAX_REPLY_LINE {
            Err(format!(
                "a reply line longer than {MAX_REPLY_LINE} bytes cannot be recorded"
            ))
        } else {
            Ok(None)
        };
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
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some((after, 0))),
        b'$' | b'!' | b'=' => match number()? {
            n if n < 0 => Ok(Some((after, 0))),
            n => {
                let end = (n as usize).saturating_add(after + 2);
                Ok((buf.len() >= end).then_some((end, 0)))
            }
        },
        b'*' | b'~' | b'>' => Ok(Some((after, number()?.max(0)))),
        b'%' => Ok(Some((after, number()?.max(0).saturating_mul(2)))),
        // An attribute map precedes the frame it describes: both are one reply.
        b'|' => Ok(Some((after, number()?.max(0).saturating_mul(2) + 1))),
        other => Err(format!(
            "not a RESP frame (starts with {:?})",
            other as char
        )),
    }
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
    /// Where the reply being received ends, scanned as it arrives.
    scanner: FrameScanner,
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
            scanner: FrameScanner::default(),
            answered: 0,
            frames: 0,
        }
    }

    /// Bytes from the client; returns the commands they completed.
    pub fn client(&mut self, bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, RecordingError> {
        self.commands.feed(bytes);
        let mut new = Vec::new();
        while let Some(command) = self.commands.next_command() {
            let command = command.map_err(|e| RecordingError::Protocol(e.to_string()))?;
            new.push(command.args.clone());
            self.conn.exchanges.push(RedisExchange {
                command: command.args,
                reply: Vec::new(),
            });
        }
        Ok(new)
    }

    /// Bytes from the server; returns the indexes of the exchanges they completed.
    pub fn server(&mut self, bytes: &[u8]) -> Result<Vec<usize>, RecordingError> {
        self.replies.extend_from_slice(bytes);
        let mut done = Vec::new();
        while let Some(n) = self.scanner.scan(&self.replies)? {
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
                Ok(command) if command.is_cross_protocol() => {
                    answers.push(Answer::Broken {
                        reply: Vec::new(),
                        why: Alarm::CrossProtocol(command).to_string(),
                    });
                    break;
                }
                Ok(command) => answers.push(self.answer(command.args, claim)),
                Err(e) => answers.push(Answer::Broken {
                    reply: e
                        .reply_text()
                        .map(|text| format!("-{text}\r\n").into_bytes())
                        .unwrap_or_default(),
                    why: e.to_string(),
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
    fn nesting_is_bounded_and_never_recursive() {
        let nested = |depth: usize| [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat();
        let deepest = nested(MAX_REPLY_DEPTH);
        assert_eq!(frame_len(&deepest), Ok(Some(deepest.len())));
        let err = frame_len(&nested(MAX_REPLY_DEPTH + 1)).unwrap_err();
        assert!(err.message().contains("deeper than 128 levels"), "{err}");
        // 10 000 levels (40 KB), the input that overflowed the stack of the recursive scan.
        assert!(frame_len(&nested(10_000)).is_err());
        assert!(frame_len(&b"*1\r\n".repeat(256 * 1024)).is_err());
    }

    #[test]
    fn scanning_resumes_where_it_stopped() {
        let mut reply = b"*3\r\n".to_vec();
        for _ in 0..3 {
            reply.extend_from_slice(b"%1\r\n+k\r\n*2\r\n$5\r\nhello\r\n|1\r\n+a\r\n:1\r\n_\r\n");
        }
        for step in [1, 2, 7] {
            let mut scanner = FrameScanner::default();
            let mut found = None;
            for end in (0..=reply.len()).step_by(step).chain([reply.len()]) {
                found = scanner.scan(&reply[..end]).unwrap();
                if found.is_some() {
                    assert_eq!(end, reply.len(), "step {step}");
                    break;
                }
            }
            assert_eq!(found, Some(reply.len()), "step {step}");
        }
    }

    #[test]
    fn an_endless_line_or_a_huge_length_is_refused_or_awaited_not_scanned_forever() {
        let line = [&b"+"[..], &vec![b'a'; MAX_REPLY_LINE + 1]].concat();
        assert!(
            frame_len(&line)
                .unwrap_err()
                .message()
                .contains("reply line longer")
        );
        assert_eq!(frame_len(b"$9223372036854775807\r\nab"), Ok(None));
    }

    #[test]
    fn a_hostile_client_or_server_stops_the_recording_without_a_crash() {
        let mut r = RedisRecorder::new("c1".into(), Destination::new("h", 6379), false);
        let err = r.client(&b"*1\r\n".repeat(10_000)).unwrap_err();
        assert_eq!(err.message(), "ERR Protocol error: expected '$', got '*'");
        let mut r = RedisRecorder::new("c2".into(), Destination::new("h", 6379), false);
        r.client(&resp(&["EVAL", "x", "0"])).unwrap();
        let nested = [b"*1\r\n".repeat(10_000), b":1\r\n".to_vec()].concat();
        assert!(
            r.server(&nested)
                .unwrap_err()
                .message()
                .contains("deeper than 128")
        );
    }

    #[test]
    fn replay_closes_on_an_http_request_without_answering_its_body() {
        let a = recorded("a", &[(&["SET", "pwned", "1"], "+OK\r\n")]);
        let mut replay = RedisReplay::new(vec![(0, a)]);
        let answers = replay.receive(
            b"POST / HTTP/1.1\r\nHost: h\r\n\r\nSET pwned 1\r\n",
            &mut |_| true,
        );
        let [Answer::Broken { reply, why }] = answers.as_slice() else {
            panic!("{answers:?}")
        };
        assert!(reply.is_empty());
        assert!(why.contains("SECURITY ATTACK"), "{why}");
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
