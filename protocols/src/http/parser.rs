//! The server side of HTTP/1.1 requests, incremental: bytes go in as they arrive (one byte at a
//! time, one header line per write, the body much later), whole requests come out in order.
//!
//! A client that stalls a read because the server waited for a full packet is a classic failure
//! of socket-level mocks; this parser keeps no assumption about how the bytes are cut.

use std::fmt;

use super::framing::{BodyDecoder, Framing, FramingError, excerpt, request_framing};
use super::url;

/// The largest request head accepted: far above what real clients send, low enough that a
/// client sending garbage without a blank line does not grow memory without bound.
pub const MAX_HEAD: usize = 64 * 1024;
/// More headers than any real client sends in one request.
const MAX_HEADERS: usize = 128;
/// The default of `MOCKET_MAX_BODY`: the most of a request body held when an entry needs the
/// whole body to match it. Far above what tests send as JSON or forms; a body past it gets a
/// `413` that says how to raise it.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024 * 1024;
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
    /// The body, already de-chunked; only its first bytes when the server did not need it
    /// whole (see [`BodyPolicy`]).
    pub body: Vec<u8>,
    /// The length of the whole body as received, held or not.
    pub body_len: u64,
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

/// Why the bytes are not a request the server can take. The connection cannot go on after
/// one: the server answers `status` (400, or 413 for a body over the limit) and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub status: u16,
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            status: 400,
            message: message.into(),
        }
    }

    /// A body over `max` bytes where the server needs it whole.
    pub fn too_large(max: u64) -> Self {
        ParseError {
            status: 413,
            message: format!(
                "request body larger than MOCKET_MAX_BODY ({max} bytes), which an entry of this destination needs whole to match on the body; raise it (e.g. MOCKET_MAX_BODY={}M) or match without the body",
                (max / (1024 * 1024) + 1).max(1) * 2
            ),
        }
    }
}

impl From<FramingError> for ParseError {
    fn from(e: FramingError) -> Self {
        ParseError::new(e.message)
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

/// What the server holds of a request's body, decided once its head is in. Bytes past `keep`
/// are read and counted (in [`Request::body_len`]) but not held, so an upload nobody looks at
/// costs no memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    /// How many bytes of the body are held.
    pub keep: usize,
    /// A body longer than this is refused with `413` (the server needs it whole).
    pub refuse_over: Option<u64>,
}

impl BodyPolicy {
    /// The whole body is needed: held up to `max` bytes, refused past it.
    pub fn whole(max: usize) -> Self {
        BodyPolicy {
            keep: max,
            refuse_over: Some(max as u64),
        }
    }

    /// Only the first `keep` bytes are of interest (for a journal, say); any length is fine.
    pub fn first(keep: usize) -> Self {
        BodyPolicy {
            keep,
            refuse_over: None,
        }
    }
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        decoder: BodyDecoder,
        policy: BodyPolicy,
        body: Vec<u8>,
        body_len: u64,
        /// `Expect: 100-continue` not yet answered.
        expects_continue: bool,
    },
}

/// Incremental request parser: [`feed`](Self::feed) bytes, then call [`poll`](Self::poll)
/// (or [`poll_with`](Self::poll_with)) until it returns `Ok(None)`.
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

    /// As [`poll_with`](Self::poll_with), holding whole bodies up to [`DEFAULT_MAX_BODY`].
    pub fn poll(&mut self) -> Result<Option<Parsed>, ParseError> {
        self.poll_with(&mut |_| BodyPolicy::whole(DEFAULT_MAX_BODY))
    }

    /// The next thing for the server to act on, or `Ok(None)` when more bytes are needed.
    /// `policy` is asked, once per request that has a body, what to hold of it; it gets the
    /// request with its head only (an empty body).
    pub fn poll_with(
        &mut self,
        policy: &mut dyn FnMut(&Request) -> BodyPolicy,
    ) -> Result<Option<Parsed>, ParseError> {
        loop {
            let progressed = match &self.state {
                State::Head => self.parse_head(policy)?,
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
    fn parse_head(
        &mut self,
        policy: &mut dyn FnMut(&Request) -> BodyPolicy,
    ) -> Result<bool, ParseError> {
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
        let framing = request_framing(&head.headers)?;
        let policy = match framing {
            Framing::Length(0) => BodyPolicy::first(0),
            _ => policy(&head.request(Vec::new(), 0)),
        };
        if let (Framing::Length(n), Some(max)) = (framing, policy.refuse_over)
            && n > max
        {
            return Err(ParseError::too_large(max));
        }
        let expects_continue = head.version == 1
            && framing != Framing::Length(0)
            && head
                .headers
                .iter()
                .any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case("100-continue"));
        self.state = State::Body {
            head,
            decoder: BodyDecoder::new(framing),
            policy,
            body: Vec::new(),
            body_len: 0,
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

    /// Decodes the buffered body bytes, holding what the policy keeps; the request once its
    /// body is complete.
    fn parse_body(&mut self) -> Result<Option<Request>, ParseError> {
        let State::Body {
            decoder,
            policy,
            body,
            body_len,
            ..
        } = &mut self.state
        else {
            return Ok(None);
        };
        let used = decoder.decode(&self.buf, &mut |piece| {
            let room = policy.keep.saturating_sub(body.len());
            body.extend_from_slice(&piece[..piece.len().min(room)]);
            *body_len += piece.len() as u64;
        })?;
        self.buf.drain(..used);
        if let Some(max) = policy.refuse_over.filter(|max| *body_len > *max) {
            return Err(ParseError::too_large(max));
        }
        if !decoder.is_done() {
            return Ok(None);
        }
        let State::Body {
            head,
            body,
            body_len,
            ..
        } = std::mem::replace(&mut self.state, State::Head)
        else {
            unreachable!("matched above")
        };
        Ok(Some(head.request(body, body_len)))
    }
}

impl Head {
    fn request(&self, body: Vec<u8>, body_len: u64) -> Request {
        Request {
            method: self.method.clone(),
            target: self.target.clone(),
            version: self.version,
            headers: self.headers.clone(),
            body,
            body_len,
        }
    }
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

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
