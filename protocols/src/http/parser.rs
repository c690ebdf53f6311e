//! The server side of HTTP/1.1 requests, incremental: bytes go in as they arrive (one byte at a
//! time, one header line per write, the body much later), whole requests come out in order.
//!
//! A client that stalls a read because the server waited for a full packet is a classic failure
//! of socket-level mocks; this parser keeps no assumption about how the bytes are cut.

use std::fmt;

use super::url;

/// The largest request head accepted: far above what real clients send, low enough that a
/// client sending garbage without a blank line does not grow memory without bound.
pub const MAX_HEAD: usize = 64 * 1024;
/// More headers than any real client sends in one request.
const MAX_HEADERS: usize = 128;
/// A chunk-size line (with extensions) longer than this is not a client speaking HTTP.
const MAX_CHUNK_LINE: usize = 4096;
/// How much of a head without its blank line yet is parsed on every feed, so a client that
/// sends something other than HTTP gets its 400 at once instead of waiting for a blank line.
const EARLY_PARSE: usize = 2048;

/// One complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent: `/path?query`, or an absolute URL.
    pub target: String,
    /// The minor version: `HTTP/1.0` is 0, `HTTP/1.1` is 1.
    pub version: u8,
    /// Lower-case names, values as sent (bytes that are not UTF-8 replaced), in order.
    pub headers: Vec<(String, String)>,
    /// The body, already de-chunked.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of header `name` (lower-case), in order.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = name.to_string();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path of the target, without the query.
    pub fn path(&self) -> &str {
        url::split_target(&self.target).0
    }

    /// The path and query as sent, also when the client sent an absolute URL.
    pub fn path_and_query(&self) -> String {
        match url::split_target(&self.target) {
            (path, Some(query)) => format!("{path}?{query}"),
            (path, None) => path.to_string(),
        }
    }

    /// The query pairs of the target, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        url::parse_query(url::split_target(&self.target).1.unwrap_or(""))
    }

    /// Whether the response must go without a body (but with the headers of one).
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// Whether the client expects the connection to stay open after the response.
    pub fn keep_alive(&self) -> bool {
        let connection = |token: &str| {
            self.headers_named("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.version == 0 {
            connection("keep-alive")
        } else {
            !connection("close")
        }
    }
}

/// What the parser has for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The client sent `Expect: 100-continue` and waits: answer `HTTP/1.1 100 Continue`.
    Continue,
    Request(Request),
}

/// Why the bytes are not an HTTP/1.1 request. The connection cannot go on after one: the server
/// answers 400 and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// The head of the request whose body is being read.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    version: u8,
    headers: Vec<(String, String)>,
}

#[derive(Debug)]
enum Chunk {
    /// Awaiting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Awaiting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
}

#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked(Chunk),
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        framing: Framing,
        body: Vec<u8>,
        /// `Expect: 100-continue` not yet answered.
        expects_continue: bool,
    },
}

/// Incremental request parser: [`feed`](Self::feed) bytes, then call [`poll`](Self::poll)
/// until it returns `Ok(None)`.
#[derive(Debug)]
pub struct RequestParser {
    buf: Vec<u8>,
    /// How far `buf` has been searched for the blank line that ends a head.
    scanned: usize,
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            buf: Vec::new(),
            scanned: 0,
            state: State::Head,
        }
    }
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received from the client.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether a request has started but is not complete: the client closing now cut it short.
    pub fn is_mid_request(&self) -> bool {
        matches!(self.state, State::Body { .. }) || !self.buf.is_empty()
    }

    /// The next thing for the server to act on, or `Ok(None)` when more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<Parsed>, ParseError> {
        loop {
            let progressed = match &self.state {
                State::Head => self.parse_head()?,
                State::Body { .. } => {
                    if let Some(continue_now) = self.take_continue() {
                        return Ok(Some(continue_now));
                    }
                    if let Some(request) = self.parse_body()? {
                        return Ok(Some(Parsed::Request(request)));
                    }
                    false
                }
            };
            if !progressed {
                return Ok(None);
            }
        }
    }

    /// Reads a head when a whole one is buffered; `true` when the state moved on.
    fn parse_head(&mut self) -> Result<bool, ParseError> {
        // Blank lines before a request line are allowed (RFC 9112 section 2.2).
        let blank = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if blank > 0 {
            self.buf.drain(..blank);
            self.scanned = 0;
        }
        if self.buf.is_empty() {
            return Ok(false);
        }
        if self.buf[0] == 0x16 {
            return Err(ParseError::new(
                "received a TLS handshake where plain HTTP was expected (an https:// client on an http:// entry?)",
            ));
        }
        if !self.find_head_end() {
            return self.check_partial_head().map(|()| false);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => return Err(head_too_large()),
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(e) => return Err(head_error(e, &self.buf)),
        };
        let head = Head {
            method: req.method.unwrap_or_default().to_string(),
            target: req.path.unwrap_or_default().to_string(),
            version: req.version.unwrap_or(1),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).trim().to_string();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect(),
        };
        self.buf.drain(..len);
        self.scanned = 0;
        let framing = framing(&head)?;
        let expects_continue = head.version == 1
            && !matches!(framing, Framing::Length(0))
            && head
                .headers
                .iter()
                .any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case("100-continue"));
        self.state = State::Body {
            head,
            framing,
            body: Vec::new(),
            expects_continue,
        };
        Ok(true)
    }

    /// Checks the start of a head that has no blank line yet, so that a client that sends
    /// something other than HTTP gets its 400 at once instead of waiting for a blank line
    /// forever. Only the first [`EARLY_PARSE`] bytes are parsed, whatever is buffered: a big
    /// head trickling in costs a bounded parse per read, and the answer does not depend on how
    /// the client's bytes were cut into reads (found by the `http_request` fuzz target: garbage
    /// arriving in one read of more than 2 KiB waited for a blank line, in small reads it did
    /// not).
    fn check_partial_head(&self) -> Result<(), ParseError> {
        if self.buf.len() > MAX_HEAD {
            return Err(head_too_large());
        }
        let start = &self.buf[..self.buf.len().min(EARLY_PARSE)];
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut headers).parse(start) {
            Err(e) => Err(head_error(e, start)),
            Ok(_) => Ok(()),
        }
    }

    /// Searches the new part of the buffer for the end of a head (`\r\n\r\n`, or bare `\n\n`
    /// which httparse also accepts), so a head sent a byte at a time costs linear time.
    fn find_head_end(&mut self) -> bool {
        let from = self.scanned.saturating_sub(3);
        let found = self.buf[from..].windows(2).enumerate().any(|(i, w)| {
            w == b"\n\n" || (w == b"\n\r" && self.buf.get(from + i + 2) == Some(&b'\n'))
        });
        self.scanned = self.buf.len();
        found
    }

    /// `Continue` when the client waits for it: no body byte has arrived yet.
    fn take_continue(&mut self) -> Option<Parsed> {
        let State::Body {
            expects_continue, ..
        } = &mut self.state
        else {
            return None;
        };
        let waiting = std::mem::take(expects_continue) && self.buf.is_empty();
        waiting.then_some(Parsed::Continue)
    }

    /// Moves buffered body bytes into the request; the request once its body is complete.
    fn parse_body(&mut self) -> Result<Option<Request>, ParseError> {
        let State::Body { framing, body, .. } = &mut self.state else {
            return Ok(None);
        };
        let done = match framing {
            Framing::Length(left) => {
                let take = (*left).min(self.buf.len());
                body.extend(self.buf.drain(..take));
                *left -= take;
                *left == 0
            }
            Framing::Chunked(chunk) => dechunk(chunk, &mut self.buf, body)?,
        };
        if !done {
            return Ok(None);
        }
        let State::Body { head, body, .. } = std::mem::replace(&mut self.state, State::Head) else {
            unreachable!("matched above")
        };
        Ok(Some(Request {
            method: head.method,
            target: head.target,
            version: head.version,
            headers: head.headers,
            body,
        }))
    }
}

/// How the body of a request is delimited (RFC 9112 section 6.3).
fn framing(head: &Head) -> Result<Framing, ParseError> {
    let values = |name: &'static str| {
        head.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
    };
    let codings: Vec<&str> = values("transfer-encoding").collect();
    let lengths: Vec<&str> = values("content-length").collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(ParseError::new(
                "both Transfer-Encoding and Content-Length: a request must have one framing",
            ));
        }
        return match codings.last() {
            Some(last) if last.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked(Chunk::Size)),
            _ => Err(ParseError::new(format!(
                "Transfer-Encoding \"{}\" does not end with chunked, so the body has no end",
                codings.join(", ")
            ))),
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Length(0));
    };
    if lengths.iter().any(|l| l != first) {
        return Err(ParseError::new(format!(
            "conflicting Content-Length values: {}",
            lengths.join(", ")
        )));
    }
    match first.parse::<usize>() {
        Ok(n) if first.bytes().all(|b| b.is_ascii_digit()) => Ok(Framing::Length(n)),
        _ => Err(ParseError::new(format!(
            "Content-Length \"{first}\" is not a number"
        ))),
    }
}

/// Decodes as much chunked body as `buf` holds; `true` once the last chunk and trailers are in.
fn dechunk(chunk: &mut Chunk, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, ParseError> {
    loop {
        match chunk {
            Chunk::Size => {
                if !buf.is_empty() && !buf[0].is_ascii_hexdigit() {
                    return Err(chunk_error(buf));
                }
                match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        buf.drain(..len);
                        *chunk = if size == 0 {
                            Chunk::Trailer
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() <= MAX_CHUNK_LINE => {
                        return Ok(false);
                    }
                    _ => return Err(chunk_error(buf)),
                }
            }
            Chunk::Data(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                if take == 0 {
                    return Ok(false);
                }
                body.extend(buf.drain(..take));
                *left -= take as u64;
                if *left == 0 {
                    *chunk = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => match buf.as_slice() {
                [b'\r', b'\n', ..] => {
                    buf.drain(..2);
                    *chunk = Chunk::Size;
                }
                [] | [b'\r'] => return Ok(false),
                _ => {
                    return Err(ParseError::new(format!(
                        "chunk data longer than its size (expected CRLF, found {})",
                        excerpt(buf)
                    )));
                }
            },
            Chunk::Trailer => {
                let Some(end) = buf.iter().position(|b| *b == b'\n') else {
                    return match buf.len() > MAX_HEAD {
                        true => Err(ParseError::new("chunked trailer too large")),
                        false => Ok(false),
                    };
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

fn chunk_error(buf: &[u8]) -> ParseError {
    ParseError::new(format!(
        "invalid chunk size line in a chunked body: {}",
        excerpt(buf)
    ))
}

/// Says which part of the head httparse rejected, with the bytes in question.
fn head_too_large() -> ParseError {
    ParseError::new(format!("request head larger than {} KiB", MAX_HEAD / 1024))
}

fn head_error(e: httparse::Error, buf: &[u8]) -> ParseError {
    let what = match e {
        httparse::Error::Token => "invalid method or request line",
        httparse::Error::Version => "invalid HTTP version (mocket serves HTTP/1.0 and HTTP/1.1)",
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::TooManyHeaders => "more than 128 headers",
        httparse::Error::Status => "invalid status",
    };
    ParseError::new(format!("malformed request head ({what}): {}", excerpt(buf)))
}

/// The start of `bytes`, quoted and escaped, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let shown = &bytes[..bytes.len().min(MAX)];
    let mut text = format!("\"{}\"", shown.escape_ascii());
    if bytes.len() > MAX {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
