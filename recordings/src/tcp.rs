//! Raw TCP in cassettes: each connection as the ordered chunks both sides sent, and which side
//! spoke first, so server-first protocols (SMTP, FTP, a database greeting) replay too.
//!
//! Chunk boundaries are whatever the network delivered; consecutive chunks from the same side
//! are merged, and replay compares the client's bytes as a stream, however they are cut.

use mocket_protocols::field::Destination;

/// Which side sent a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Client,
    Server,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::Client => "client",
            Dir::Server => "server",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub from: Dir,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConnection {
    pub id: String,
    pub destination: Destination,
    pub tls: bool,
    pub chunks: Vec<Chunk>,
    /// Set when `chunks` are only the start of the connection, saying why (a connection that
    /// went on past [`crate::http::RECORD_MAX_BODY`]). Replay sends what was recorded.
    pub truncated: Option<String>,
}

impl TcpConnection {
    /// The side that spoke first, `None` for a connection where nobody said anything.
    pub fn first(&self) -> Option<Dir> {
        self.chunks.first().map(|c| c.from)
    }

    /// Appends bytes, merged with the last chunk when the same side sent it.
    pub fn push(&mut self, from: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.chunks.last_mut() {
            Some(last) if last.from == from => last.bytes.extend_from_slice(bytes),
            _ => self.chunks.push(Chunk {
                from,
                bytes: bytes.to_vec(),
            }),
        }
    }

    /// The client's first chunk, when the client speaks first.
    fn opening(&self) -> Option<&[u8]> {
        match self.chunks.first() {
            Some(c) if c.from == Dir::Client => Some(&c.bytes),
            _ => None,
        }
    }
}

/// Replays one connection: commits to a recorded connection (the first server-first one at
/// once, since its client waits for the greeting; otherwise the first whose opening chunk the
/// client's bytes match), then sends each server chunk once the client bytes before it arrived.
#[derive(Debug)]
pub struct TcpReplay {
    candidates: Vec<(usize, TcpConnection)>,
    chosen: Option<TcpConnection>,
    /// Client bytes received before committing.
    pending: Vec<u8>,
    /// The next chunk of the chosen connection, and how much of it (a client chunk) arrived.
    pos: usize,
    offset: usize,
}

impl TcpReplay {
    pub fn new(candidates: Vec<(usize, TcpConnection)>) -> Self {
        TcpReplay {
            candidates,
            chosen: None,
            pending: Vec::new(),
            pos: 0,
            offset: 0,
        }
    }

    /// Called before reading anything: commits to a server-first connection when the first
    /// candidate is one, and returns its greeting.
    pub fn start(&mut self, claim: &mut dyn FnMut(usize) -> bool) -> Vec<u8> {
        let server_first = self
            .candidates
            .first()
            .is_some_and(|(_, c)| c.first() == Some(Dir::Server));
        if !server_first {
            return Vec::new();
        }
        let found = self
            .candidates
            .iter()
            .position(|(i, c)| c.first() == Some(Dir::Server) && claim(*i));
        match found {
            Some(i) => {
                self.chosen = Some(self.candidates.swap_remove(i).1);
                self.server_chunks()
            }
            None => Vec::new(),
        }
    }

    /// Client bytes in, server bytes out; `Err` when they differ from the recording.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        claim: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<u8>, String> {
        if self.chosen.is_some() {
            return self.follow(bytes);
        }
        self.pending.extend_from_slice(bytes);
        let pending = &self.pending;
        let mut possible = false;
        let mut found = None;
        for (n, (index, c)) in self.candidates.iter().enumerate() {
            let Some(opening) = c.opening() else { continue };
            if pending.starts_with(opening) {
                if claim(*index) {
                    found = Some(n);
                    break;
                }
                continue;
            }
            possible |= opening.starts_with(pending);
        }
        match found {
            Some(n) => {
                self.chosen = Some(self.candidates.swap_remove(n).1);
                let pending = std::mem::take(&mut self.pending);
                self.follow(&pending)
            }
            None if possible => Ok(Vec::new()),
            None => Err(format!(
                "no recorded connection starts with {}",
                excerpt(&self.pending)
            )),
        }
    }

    /// Whether a recorded connection was chosen for this one.
    pub fn committed(&self) -> bool {
        self.chosen.is_some()
    }

    /// Whether the recorded connection is over: the server closed there.
    pub fn done(&self) -> bool {
        self.chosen
            .as_ref()
            .is_some_and(|c| self.pos >= c.chunks.len())
    }

    fn follow(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = self.server_chunks();
        while !bytes.is_empty() {
            let chosen = self.chosen.as_ref().expect("following a chosen connection");
            let Some(chunk) = chosen.chunks.get(self.pos) else {
                return Err(format!(
                    "the client sent {} after the recorded connection ended",
                    excerpt(bytes)
                ));
            };
            let expected = &chunk.bytes[self.offset..];
            let n = expected.len().min(bytes.len());
            if expected[..n] != bytes[..n] {
                return Err(format!(
                    "the client sent {} where the recording has {}",
                    excerpt(bytes),
                    excerpt(expected)
                ));
            }
            bytes = &bytes[n..];
            let complete = self.offset + n == chunk.bytes.len();
            self.offset += n;
            if complete {
                self.pos += 1;
                self.offset = 0;
                out.extend(self.server_chunks());
            }
        }
        Ok(out)
    }

    /// The server chunks from the current position up to the next client chunk.
    fn server_chunks(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(c) = &self.chosen else { return out };
        while let Some(chunk) = c.chunks.get(self.pos).filter(|c| c.from == Dir::Server) {
            out.extend_from_slice(&chunk.bytes);
            self.pos += 1;
        }
        out
    }
}

/// The start of `bytes`, quoted, for messages.
pub fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let more = if bytes.len() > MAX { "..." } else { "" };
    format!("\"{}\"{more}", bytes[..bytes.len().min(MAX)].escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(chunks: &[(Dir, &str)]) -> TcpConnection {
        let mut c = TcpConnection {
            truncated: None,
            id: "x".into(),
            destination: Destination::new("h", 1),
            tls: false,
            chunks: Vec::new(),
        };
        for (from, text) in chunks {
            c.push(*from, text.as_bytes());
        }
        c
    }

    #[test]
    fn same_side_chunks_merge() {
        let c = conn(&[
            (Dir::Server, "22"),
            (Dir::Server, "0\r\n"),
            (Dir::Client, "a"),
            (Dir::Client, ""),
        ]);
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(c.chunks[0].bytes, b"220\r\n");
        assert_eq!(c.first(), Some(Dir::Server));
    }

    #[test]
    fn server_first_replays_the_greeting_before_reading() {
        let c = conn(&[
            (Dir::Server, "220 hi\r\n"),
            (Dir::Client, "HELO\r\n"),
            (Dir::Server, "250\r\n"),
        ]);
        let mut r = TcpReplay::new(vec![(3, c)]);
        let mut claimed = None;
        assert_eq!(
            r.start(&mut |i| {
                claimed = Some(i);
                true
            }),
            b"220 hi\r\n"
        );
        assert_eq!(claimed, Some(3));
        assert_eq!(r.receive(b"HE", &mut |_| true).unwrap(), b"");
        assert!(!r.done());
        assert_eq!(r.receive(b"LO\r\n", &mut |_| true).unwrap(), b"250\r\n");
        assert!(r.done());
        assert!(
            r.receive(b"more", &mut |_| true)
                .unwrap_err()
                .contains("after the recorded")
        );
    }

    #[test]
    fn client_first_picks_the_connection_by_its_opening() {
        let a = conn(&[(Dir::Client, "PING a\n"), (Dir::Server, "A\n")]);
        let b = conn(&[(Dir::Client, "PING b\n"), (Dir::Server, "B\n")]);
        let mut r = TcpReplay::new(vec![(0, a), (1, b)]);
        assert_eq!(r.start(&mut |_| true), b"");
        assert_eq!(r.receive(b"PING ", &mut |_| true).unwrap(), b"");
        assert_eq!(r.receive(b"b\n", &mut |_| true).unwrap(), b"B\n");
        assert!(r.done());
    }

    #[test]
    fn pipelined_client_bytes_get_every_answer() {
        let c = conn(&[
            (Dir::Client, "1\n"),
            (Dir::Server, "a\n"),
            (Dir::Client, "2\n"),
            (Dir::Server, "b\n"),
        ]);
        let mut r = TcpReplay::new(vec![(0, c)]);
        assert_eq!(r.receive(b"1\n2\n", &mut |_| true).unwrap(), b"a\nb\n");
    }

    #[test]
    fn different_bytes_are_a_mismatch() {
        let c = conn(&[(Dir::Client, "hello\n"), (Dir::Server, "x")]);
        let mut r = TcpReplay::new(vec![(0, c.clone())]);
        assert!(
            r.receive(b"help", &mut |_| true)
                .unwrap_err()
                .contains("no recorded connection")
        );
        let mut r = TcpReplay::new(vec![(0, c.clone())]);
        assert!(
            r.receive(b"hello\n", &mut |_| false).is_err(),
            "taken by another connection"
        );
        let two = conn(&[(Dir::Client, "a"), (Dir::Server, "b"), (Dir::Client, "c")]);
        let mut r = TcpReplay::new(vec![(0, two)]);
        assert_eq!(r.receive(b"a", &mut |_| true).unwrap(), b"b");
        assert!(
            r.receive(b"d", &mut |_| true)
                .unwrap_err()
                .contains("where the recording has \"c\"")
        );
    }
}
