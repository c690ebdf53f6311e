//! HTTP/1.1 message framing (RFC 9112 section 6), sans-IO and the same for both directions:
//! where a request's or a response's body ends (`content-length`, chunked, or the end of the
//! connection), decoded incrementally. The engine's request parser and the recorder's response
//! reader both use it, so a limit set here (chunk-size lines, trailers) holds for both.
//!
//! [`BodyDecoder::decode`] hands body bytes to a sink as they are found instead of collecting
//! them: the caller decides what to hold (everything, the first bytes, nothing).

use std::fmt;

/// A chunk-size line (with extensions) longer than this is not a peer speaking HTTP.
pub const MAX_CHUNK_LINE: usize = 4096;
/// The trailer section of a chunked body, all lines together.
pub const MAX_TRAILERS: usize = 64 * 1024;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (`content-length`; 0 when a message has no body).
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the peer closes the connection (responses only).
    UntilClose,
}

/// Why the bytes are not a well-framed HTTP/1.1 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    pub message: String,
}

impl FramingError {
    fn new(message: impl Into<String>) -> Self {
        FramingError {
            message: message.into(),
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FramingError {}

/// The values of header `name` (lower-case), split on commas and trimmed, in order.
fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
}

/// How a request's body is delimited (RFC 9112 section 6.3): a request that could be read two
/// ways is refused, since a server behind mocket might read it the other way.
pub fn request_framing(headers: &[(String, String)]) -> Result<Framing, FramingError> {
    let codings: Vec<&str> = values(headers, "transfer-encoding").collect();
    let lengths: Vec<&str> = values(headers, "content-length").collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(FramingError::new(
                "both Transfer-Encoding and Content-Length: a request must have one framing",
            ));
        }
        return match codings.last() {
            Some(last) if last.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(FramingError::new(format!(
                "Transfer-Encoding \"{}\" does not end with chunked, so the body has no end",
                codings.join(", ")
            ))),
        };
    }
    match content_length(&lengths)? {
        Some(n) => Ok(Framing::Length(n)),
        None => Ok(Framing::Length(0)),
    }
}

/// How a response's body is delimited (RFC 9112 section 6.3). `head_request`: the response
/// answers `HEAD`, so it has no body whatever its headers say.
pub fn response_framing(
    status: u16,
    head_request: bool,
    headers: &[(String, String)],
) -> Result<Framing, FramingError> {
    if head_request || (100..200).contains(&status) || matches!(status, 204 | 304) {
        return Ok(Framing::Length(0));
    }
    let codings: Vec<&str> = values(headers, "transfer-encoding").collect();
    if let Some(last) = codings.last() {
        return Ok(match last.eq_ignore_ascii_case("chunked") {
            true => Framing::Chunked,
            false => Framing::UntilClose,
        });
    }
    let lengths: Vec<&str> = values(headers, "content-length").collect();
    Ok(match content_length(&lengths)? {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// The one `content-length` all values agree on.
fn content_length(lengths: &[&str]) -> Result<Option<u64>, FramingError> {
    let Some(first) = lengths.first() else {
        return Ok(None);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(FramingError::new(format!(
            "conflicting Content-Length values: {}",
            lengths.join(", ")
        )));
    }
    match first.parse::<u64>() {
        Ok(n) if first.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(FramingError::new(format!(
            "Content-Length \"{first}\" is not a number"
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Awaiting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Awaiting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; this many bytes so far.
    Trailer(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

/// Decodes one message body as its bytes arrive.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size),
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    /// Whether the whole body is in.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`, handing each piece of body to `body`; returns how
    /// many bytes of `input` belong to this message. Bytes after that belong to the next one
    /// (and stay unread once [`is_done`](Self::is_done)); bytes before it that are not
    /// consumed await more input (a partial chunk-size line).
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            let used = match &mut self.state {
                State::Done => return Ok(at),
                State::UntilClose => {
                    if !rest.is_empty() {
                        body(rest);
                    }
                    return Ok(input.len());
                }
                State::Length(left) => {
                    let take = take(*left, rest.len());
                    if take == 0 {
                        return Ok(at);
                    }
                    body(&rest[..take]);
                    *left -= take as u64;
                    if *left == 0 {
                        self.state = State::Done;
                    }
                    take
                }
                State::Chunked(chunk) => match step_chunked(chunk, rest, body)? {
                    Some(used) => used,
                    None => return Ok(at),
                },
            };
            if self.state == State::Chunked(Chunk::Trailer(usize::MAX)) {
                self.state = State::Done;
            }
            at += used;
        }
    }

    /// The peer closed the connection: fine when the body ends with it (which it now has).
    pub fn at_eof(&mut self) -> Result<(), FramingError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(FramingError::new(
                "the connection closed in the middle of the body",
            )),
        }
    }
}

fn take(left: u64, available: usize) -> usize {
    usize::try_from(left).unwrap_or(usize::MAX).min(available)
}

/// One step of a chunked body: how many bytes of `rest` it used, `None` when it needs more.
/// A finished body is marked by `Chunk::Trailer(usize::MAX)`.
fn step_chunked(
    chunk: &mut Chunk,
    rest: &[u8],
    body: &mut dyn FnMut(&[u8]),
) -> Result<Option<usize>, FramingError> {
    match chunk {
        Chunk::Size => {
            if !rest.is_empty() && !rest[0].is_ascii_hexdigit() {
                return Err(chunk_error(rest));
            }
            match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((len, size))) => {
                    *chunk = match size {
                        0 => Chunk::Trailer(0),
                        n => Chunk::Data(n),
                    };
                    Ok(Some(len))
                }
                Ok(httparse::Status::Partial) if rest.len() <= MAX_CHUNK_LINE => Ok(None),
                _ => Err(chunk_error(rest)),
            }
        }
        Chunk::Data(left) => {
            let take = take(*left, rest.len());
            if take == 0 {
                return Ok(None);
            }
            body(&rest[..take]);
            *left -= take as u64;
            if *left == 0 {
                *chunk = Chunk::DataEnd;
            }
            Ok(Some(take))
        }
        Chunk::DataEnd => match rest {
            [b'\r', b'\n', ..] => {
                *chunk = Chunk::Size;
                Ok(Some(2))
            }
            [] | [b'\r'] => Ok(None),
            _ => Err(FramingError::new(format!(
                "chunk data longer than its size (expected CRLF, found {})",
                excerpt(rest)
            ))),
        },
        Chunk::Trailer(seen) => {
            let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                return match *seen + rest.len() > MAX_TRAILERS {
                    true => Err(trailer_error()),
                    false => Ok(None),
                };
            };
            *seen += end + 1;
            if *seen > MAX_TRAILERS {
                return Err(trailer_error());
            }
            let empty = end == 0 || (end == 1 && rest[0] == b'\r');
            if empty {
                *chunk = Chunk::Trailer(usize::MAX);
            }
            Ok(Some(end + 1))
        }
    }
}

fn trailer_error() -> FramingError {
    FramingError::new(format!(
        "chunked trailer larger than {} KiB",
        MAX_TRAILERS / 1024
    ))
}

fn chunk_error(rest: &[u8]) -> FramingError {
    FramingError::new(format!(
        "invalid chunk size line in a chunked body: {}",
        excerpt(rest)
    ))
}

/// The start of `bytes`, quoted and escaped, for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let shown = &bytes[..bytes.len().min(MAX)];
    let mut text = format!("\"{}\"", shown.escape_ascii());
    if bytes.len() > MAX {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
