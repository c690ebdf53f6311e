//! Reads the upstream's response while recording: the head with httparse, then a body framed by
//! `content-length`, chunked encoding, or the end of the connection. Interim `1xx` responses
//! are skipped: the proxy answers `Expect: 100-continue` itself.

use crate::cassette::Headers;

/// Larger response heads than this are not a server speaking HTTP.
const MAX_HEAD: usize = 256 * 1024;
const MAX_HEADERS: usize = 256;

/// One complete upstream response, body decoded from its transfer framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    pub status: u16,
    /// Lower-case names, in order, framing headers included.
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The upstream connection cannot carry another request.
    pub closes: bool,
}

#[derive(Debug)]
enum Chunk {
    Size,
    Data(usize),
    DataEnd,
    Trailer,
}

#[derive(Debug)]
enum Body {
    Length(usize),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug)]
struct Head {
    status: u16,
    headers: Headers,
    closes: bool,
}

/// Feed bytes as they arrive, [`poll`](Self::poll) for the response, and call
/// [`eof`](Self::eof) when the upstream closes.
#[derive(Debug)]
pub struct ResponseReader {
    buf: Vec<u8>,
    /// The request was `HEAD`: the response has no body whatever its headers say.
    head_request: bool,
    head: Option<(Head, Body)>,
    body: Vec<u8>,
}

impl ResponseReader {
    pub fn new(head_request: bool) -> Self {
        ResponseReader {
            buf: Vec::new(),
            head_request,
            head: None,
            body: Vec::new(),
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The response once it is complete.
    pub fn poll(&mut self) -> Result<Option<UpstreamResponse>, String> {
        if self.head.is_none() && !self.parse_head()? {
            return Ok(None);
        }
        let Some((_, body)) = &mut self.head else {
            return Ok(None);
        };
        let done = match body {
            Body::Length(left) => {
                let take = (*left).min(self.buf.len());
                self.body.extend(self.buf.drain(..take));
                *left -= take;
                *left == 0
            }
            Body::Chunked(state) => dechunk(state, &mut self.buf, &mut self.body)?,
            Body::UntilClose => {
                self.body.append(&mut self.buf);
                false
            }
        };
        Ok(done.then(|| self.finish()))
    }

    /// The upstream closed: completes a body that ends with the connection.
    pub fn eof(&mut self) -> Result<UpstreamResponse, String> {
        match self.poll()? {
            Some(r) => Ok(r),
            None => match &self.head {
                Some((_, Body::UntilClose)) => Ok(self.finish()),
                Some(_) => Err("the server closed the connection in the middle of the body".into()),
                None => Err("the server closed the connection without a response".into()),
            },
        }
    }

    fn finish(&mut self) -> UpstreamResponse {
        let (head, body) = self.head.take().expect("finish after a head");
        UpstreamResponse {
            status: head.status,
            headers: head.headers,
            body: std::mem::take(&mut self.body),
            closes: head.closes || matches!(body, Body::UntilClose),
        }
    }

    /// Parses a final head (skipping interim ones); `false` when more bytes are needed.
    fn parse_head(&mut self) -> Result<bool, String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut res = httparse::Response::new(&mut headers);
            let len = match res.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => return Ok(false),
                Ok(httparse::Status::Partial) => return Err("response head too large".into()),
                Err(e) => return Err(format!("the server's response is not HTTP/1.x: {e}")),
            };
            let status = res.code.unwrap_or_default();
            let version = res.version.unwrap_or(1);
            let headers: Headers = res
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).trim().to_string();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect();
            self.buf.drain(..len);
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let body = self.framing(status, &headers)?;
            let closes = closes(version, &headers);
            self.head = Some((
                Head {
                    status,
                    headers,
                    closes,
                },
                body,
            ));
            return Ok(true);
        }
    }

    /// RFC 9112 section 6.3, for responses.
    fn framing(&self, status: u16, headers: &Headers) -> Result<Body, String> {
        if self.head_request || matches!(status, 101 | 204 | 304) {
            return Ok(Body::Length(0));
        }
        let values = |name: &str| -> Vec<String> {
            headers
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
                .collect()
        };
        if values("transfer-encoding")
            .last()
            .is_some_and(|c| c == "chunked")
        {
            return Ok(Body::Chunked(Chunk::Size));
        }
        match values("content-length").first() {
            Some(n) => n
                .parse()
                .map(Body::Length)
                .map_err(|_| format!("bad content-length {n:?} from the server")),
            None => Ok(Body::UntilClose),
        }
    }
}

fn closes(version: u8, headers: &Headers) -> bool {
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

/// Moves decoded chunk data from `buf` to `body`; `true` after the last chunk and trailers.
fn dechunk(state: &mut Chunk, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, String> {
    loop {
        match state {
            Chunk::Size => match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((len, size))) => {
                    buf.drain(..len);
                    let size = usize::try_from(size).map_err(|_| "chunk too large")?;
                    *state = if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    };
                }
                Ok(httparse::Status::Partial) => return Ok(false),
                Err(_) => return Err("invalid chunk size in the server's response".into()),
            },
            Chunk::Data(left) => {
                let take = (*left).min(buf.len());
                if take == 0 {
                    return Ok(false);
                }
                body.extend(buf.drain(..take));
                *left -= take;
                if *left == 0 {
                    *state = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    return Ok(false);
                }
                if &buf[..2] != b"\r\n" {
                    return Err("chunk data longer than its size".into());
                }
                buf.drain(..2);
                *state = Chunk::Size;
            }
            Chunk::Trailer => {
                let Some(end) = buf.iter().position(|b| *b == b'\n') else {
                    return Ok(false);
                };
                let empty = end == 0 || (end == 1 && buf[0] == b'\r');
                buf.drain(..=end);
                if empty {
                    return Ok(true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` one byte at a time, as a slow server would.
    fn read(wire: &[u8], head_request: bool) -> Option<UpstreamResponse> {
        let mut r = ResponseReader::new(head_request);
        for b in wire {
            r.feed(&[*b]);
            if let Some(res) = r.poll().unwrap() {
                return Some(res);
            }
        }
        None
    }

    #[test]
    fn content_length_bodies() {
        let res = read(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc",
            false,
        )
        .unwrap();
        assert_eq!(res.status, 200);
        assert_eq!(res.body, b"abc");
        assert_eq!(res.headers[1], ("x-a".to_string(), "b".to_string()));
        assert!(!res.closes);
        let head = read(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true).unwrap();
        assert!(head.body.is_empty());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let res = read(wire, false).unwrap();
        assert_eq!(res.body, b"abcde");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(read(wire, false).unwrap().status, 204);
    }

    #[test]
    fn close_delimited_bodies_end_at_eof() {
        let mut r = ResponseReader::new(false);
        r.feed(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ");
        assert_eq!(r.poll().unwrap(), None);
        r.feed(b"world");
        let res = r.eof().unwrap();
        assert_eq!(res.body, b"hello world");
        assert!(res.closes);
    }

    #[test]
    fn broken_responses_say_why() {
        let mut r = ResponseReader::new(false);
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
        assert!(r.eof().unwrap_err().contains("middle of the body"));
        let mut r = ResponseReader::new(false);
        assert!(r.eof().unwrap_err().contains("without a response"));
        let mut r = ResponseReader::new(false);
        r.feed(b"SSH-2.0-OpenSSH\r\n");
        assert!(r.poll().unwrap_err().contains("not HTTP"));
        let res = read(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert!(!res.unwrap().closes);
    }
}
