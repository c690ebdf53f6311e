//! The client side of HTTP/1.1 responses, incremental, for relaying a real server's answer while
//! recording: the head with httparse, then the body framed by [`super::framing`] (the same
//! framing the request parser uses), handed over piece by piece as it arrives so that a
//! large or endless response never has to be held. Interim `1xx` responses are skipped: the
//! proxy answers `Expect: 100-continue` itself.

use super::framing::{BodyDecoder, Framing, FramingError, excerpt, response_framing};

/// Larger response heads than this are not a server speaking HTTP (cookies make response heads
/// larger than request heads).
pub const MAX_RESPONSE_HEAD: usize = 256 * 1024;
const MAX_HEADERS: usize = 256;

/// The head of the final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Lower-case names, values as sent, in order, framing headers included.
    pub headers: Vec<(String, String)>,
    /// The connection cannot carry another request after this response.
    pub closes: bool,
}

/// What one [`ResponseReader::feed`] brought.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The head, in the feed that completed it.
    pub head: Option<ResponseHead>,
    /// The bytes of the final response in this feed as they were on the wire (head and framed
    /// body), for a relay that passes the response on unchanged.
    pub wire: Vec<u8>,
    /// The body bytes in this feed, decoded from their framing.
    pub body: Vec<u8>,
    /// The response is complete.
    pub done: bool,
}

/// Feed bytes as they arrive; call [`eof`](Self::eof) when the server closes.
#[derive(Debug)]
pub struct ResponseReader {
    /// Bytes not yet consumed: a partial head or a partial chunk-size line.
    pending: Vec<u8>,
    /// The request was `HEAD`: the response has no body whatever its headers say.
    head_request: bool,
    decoder: Option<BodyDecoder>,
}

impl ResponseReader {
    pub fn new(head_request: bool) -> Self {
        ResponseReader {
            pending: Vec::new(),
            head_request,
            decoder: None,
        }
    }

    /// Whether the final head has arrived.
    pub fn has_head(&self) -> bool {
        self.decoder.is_some()
    }

    /// Reads `data`, the next bytes from the server.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, FramingError> {
        self.pending.extend_from_slice(data);
        let mut progress = Progress::default();
        if self.decoder.is_none() {
            let Some((head, len, framing)) = self.parse_head()? else {
                return Ok(progress);
            };
            progress.wire.extend(self.pending.drain(..len));
            progress.head = Some(head);
            self.decoder = Some(BodyDecoder::new(framing));
        }
        let decoder = self.decoder.as_mut().expect("set above");
        if !decoder.is_done() {
            let body = &mut progress.body;
            let used = decoder.decode(&self.pending, &mut |piece| body.extend_from_slice(piece))?;
            progress.wire.extend(self.pending.drain(..used));
        }
        progress.done = decoder.is_done();
        if progress.done {
            // Nothing may follow a response the client did not ask for.
            self.pending.clear();
        }
        Ok(progress)
    }

    /// The server closed: the end of a body that ends with the connection, else an error that
    /// says what was missing.
    pub fn eof(&mut self) -> Result<(), FramingError> {
        match &mut self.decoder {
            Some(decoder) => decoder.at_eof(),
            None => Err(FramingError {
                message: "the server closed the connection without a response".into(),
            }),
        }
    }

    /// Parses the final head (skipping interim ones): the head, its length on the wire and the
    /// body's framing; `None` when more bytes are needed.
    fn parse_head(&mut self) -> Result<Option<(ResponseHead, usize, Framing)>, FramingError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut res = httparse::Response::new(&mut headers);
            let len = match res.parse(&self.pending) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if self.pending.len() <= MAX_RESPONSE_HEAD => {
                    return Ok(None);
                }
                Ok(httparse::Status::Partial) => {
                    return Err(error(format!(
                        "the server's response head is larger than {} KiB",
                        MAX_RESPONSE_HEAD / 1024
                    )));
                }
                Err(e) => {
                    return Err(error(format!(
                        "the server's response is not HTTP/1.x ({e}): {}",
                        excerpt(&self.pending)
                    )));
                }
            };
            let status = res.code.unwrap_or_default();
            let version = res.version.unwrap_or(1);
            let headers: Vec<(String, String)> = res
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).trim().to_string();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect();
            if (100..200).contains(&status) && status != 101 {
                self.pending.drain(..len);
                continue;
            }
            let framing = response_framing(status, self.head_request, &headers)?;
            let closes = closes(version, &headers) || framing == Framing::UntilClose;
            let head = ResponseHead {
                status,
                headers,
                closes,
            };
            return Ok(Some((head, len, framing)));
        }
    }
}

fn error(message: String) -> FramingError {
    FramingError { message }
}

/// Whether the server says it closes after this response.
fn closes(version: u8, headers: &[(String, String)]) -> bool {
    let says = |token: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if version == 0 {
        !says("keep-alive")
    } else {
        says("close")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` one byte at a time, as a slow server would; the head, the body, the bytes
    /// passed on, and whether the response completed.
    fn read(wire: &[u8], head_request: bool) -> (ResponseHead, Vec<u8>, Vec<u8>, bool) {
        let mut r = ResponseReader::new(head_request);
        let (mut head, mut body, mut passed, mut done) = (None, Vec::new(), Vec::new(), false);
        for b in wire {
            let p = r.feed(&[*b]).unwrap();
            head = head.or(p.head);
            body.extend(p.body);
            passed.extend(p.wire);
            if p.done {
                done = true;
                break;
            }
        }
        (head.expect("a head"), body, passed, done)
    }

    #[test]
    fn content_length_bodies() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc";
        let (head, body, passed, done) = read(wire, false);
        assert_eq!(head.status, 200);
        assert_eq!(head.headers[1], ("x-a".to_string(), "b".to_string()));
        assert!(!head.closes && done);
        assert_eq!(
            (body.as_slice(), passed.as_slice()),
            (&b"abc"[..], &wire[..])
        );
        let (_, body, _, done) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true);
        assert!(body.is_empty() && done);
    }

    #[test]
    fn chunked_bodies_are_decoded_and_passed_on_as_sent() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let (_, body, passed, done) = read(wire, false);
        assert_eq!(body, b"abcde");
        assert_eq!(passed, wire);
        assert!(done);
    }

    #[test]
    fn endless_chunked_bodies_come_piece_by_piece() {
        let mut r = ResponseReader::new(false);
        let p = r
            .feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert!(p.head.is_some() && !p.done);
        for i in 0..1000 {
            let p = r.feed(format!("5\r\nn{i:04}\r\n").as_bytes()).unwrap();
            assert_eq!(p.body, format!("n{i:04}").as_bytes());
            assert!(!p.done);
        }
        assert!(r.pending.is_empty(), "nothing held between pieces");
    }

    #[test]
    fn chunk_size_lines_are_capped_as_for_requests() {
        let mut r = ResponseReader::new(false);
        r.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let err = r.feed(&vec![b'1'; 5000]).unwrap_err();
        assert!(err.message.contains("chunk size line"), "{err}");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (head, _, passed, done) = read(wire, false);
        assert_eq!(head.status, 204);
        assert_eq!(passed, b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(done);
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let mut r = ResponseReader::new(false);
        let p = r
            .feed(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ")
            .unwrap();
        assert!(p.head.unwrap().closes && !p.done);
        assert_eq!(r.feed(b"world").unwrap().body, b"world");
        r.eof().unwrap();
    }

    #[test]
    fn broken_responses_say_why() {
        let mut r = ResponseReader::new(false);
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
            .unwrap();
        assert!(r.eof().unwrap_err().message.contains("middle of the body"));
        let mut r = ResponseReader::new(false);
        assert!(r.eof().unwrap_err().message.contains("without a response"));
        let mut r = ResponseReader::new(false);
        let err = r.feed(b"SSH-2.0-OpenSSH\r\n").unwrap_err();
        assert!(err.message.contains("not HTTP"), "{err}");
        let (head, ..) = read(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert!(!head.closes);
    }
}
