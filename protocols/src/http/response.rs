//! Turning a response of an entry into what the engine does on the socket: bytes to write,
//! pauses, and how the connection ends. The plan is data, so the framing of every case (HEAD,
//! HTTP/1.0, chunked, streamed, faults) is unit-tested without a socket.

use std::time::Duration;

use super::entry::{Fault, HttpResponse, Transfer};
use super::parser::{ParseError, Request};

/// One thing for the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes and flush, so a streaming client sees them now.
    Write(Vec<u8>),
    Sleep(Duration),
    /// End the connection with a TCP reset (RST).
    Reset,
    /// End the connection with an orderly close (FIN).
    Close,
    /// These steps again and again, until a write fails (the client closed): a `repeat`
    /// stream.
    Repeat(Vec<Step>),
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the `garbage` fault sends: no HTTP version in sight, binary bytes, and a blank line so
/// that a client waiting for the end of a head stops waiting.
pub const GARBAGE: &[u8] = b"\x00\x01\x02\x03 mocket fault: garbage \xff\xfe\xfd\r\n\r\n";

/// The reason phrase for `status`: the registered one (RFC 9110 and the IANA registry), or the
/// name of its class for codes nobody registered.
pub fn reason_phrase(status: u16) -> &'static str {
    registered_reason(status).unwrap_or(match status / 100 {
        1 => "Informational",
        2 => "Success",
        3 => "Redirection",
        4 => "Client Error",
        5 => "Server Error",
        _ => "Unknown",
    })
}

fn registered_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// A plain-text response made by mocket itself (the `501` for an unmatched request).
pub fn text_response(status: u16, text: String) -> HttpResponse {
    HttpResponse {
        status,
        reason: None,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: text.into_bytes(),
        delay: Duration::ZERO,
        fault: None,
        transfer: Transfer::Length,
        template: None,
    }
}

/// The whole answer to a request that could not be parsed or was refused (`error.status`); the
/// connection closes after it, since where the next request would start is unknown.
pub fn error_response(error: &ParseError) -> Vec<u8> {
    let what = match error.status {
        413 => "request refused",
        _ => "malformed HTTP request",
    };
    let body = format!("mocket: {what}: {error}\n");
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        error.status,
        reason_phrase(error.status),
        body.len()
    )
    .into_bytes()
}
/// What to do to answer `request` with `response`. The connection stays open after the last
/// step unless that step is [`Step::Close`] or [`Step::Reset`].
pub fn plan(response: &HttpResponse, request: &Request) -> Vec<Step> {
    let mut steps = Vec::new();
    if !response.delay.is_zero() {
        steps.push(Step::Sleep(response.delay));
    }
    match response.fault {
        Some(Fault::Reset) => return with(steps, [Step::Reset]),
        Some(Fault::Close) => return with(steps, [Step::Close]),
        Some(Fault::Garbage) => return with(steps, [Step::Write(GARBAGE.to_vec()), Step::Close]),
        Some(Fault::Truncate) | None => {}
    }
    let framing = Framing::of(response, request);
    let head = head(response, &framing);
    if request.is_head() || framing.bodyless {
        steps.push(Step::Write(head));
    } else if response.fault == Some(Fault::Truncate) {
        let mut wire = head;
        let body = framing.encode_all(response);
        wire.extend_from_slice(&body[..body.len() / 2]);
        return with(steps, [Step::Write(wire), Step::Close]);
    } else {
        steps.extend(framing.body_steps(response, head));
    }
    if framing.close {
        steps.push(Step::Close);
    }
    steps
}

fn with<const N: usize>(mut steps: Vec<Step>, more: [Step; N]) -> Vec<Step> {
    steps.extend(more);
    steps
}

/// How a response's body is delimited for one request.
struct Framing {
    /// A status that never has a body (204, 304).
    bodyless: bool,
    /// `Transfer-Encoding: chunked` (the response wants chunks and the client speaks 1.1).
    chunked: bool,
    /// The connection closes after the response: the client asked for it, the response says
    /// so, or the body of a chunked response to an HTTP/1.0 client ends by closing.
    close: bool,
    /// The client is HTTP/1.0 and asked to keep the connection.
    keep_alive_1_0: bool,
}

impl Framing {
    fn of(response: &HttpResponse, request: &Request) -> Self {
        let wants_chunks = response.transfer != Transfer::Length;
        let bodyless = matches!(response.status, 204 | 304);
        let chunked = wants_chunks && request.version == 1 && !bodyless;
        let response_closes = response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        // A stream to an HTTP/1.0 client has no chunked encoding: its end is the close.
        let streamed = matches!(response.transfer, Transfer::Stream { .. });
        let close_delimited = streamed && !chunked && !bodyless && !request.is_head();
        let close = !request.keep_alive() || response_closes || close_delimited;
        Framing {
            bodyless,
            chunked,
            close,
            keep_alive_1_0: request.version == 0 && !close,
        }
    }

    /// The chunks of the body as written on the wire.
    fn pieces(response: &HttpResponse) -> Vec<&[u8]> {
        match &response.transfer {
            Transfer::Stream { chunks, .. } => chunks.iter().map(Vec::as_slice).collect(),
            _ => vec![response.body.as_slice()],
        }
    }

    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u8>) {
        if !self.chunked {
            out.extend_from_slice(piece);
        } else if !piece.is_empty() {
            // An empty chunk would end the body: empty pieces are skipped.
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn end(&self) -> &'static [u8] {
        if self.chunked { b"0\r\n\r\n" } else { b"" }
    }

    /// The whole body on the wire, pauses left out.
    fn encode_all(&self, response: &HttpResponse) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in Self::pieces(response) {
            self.encode_piece(piece, &mut out);
        }
        out.extend_from_slice(self.end());
        out
    }

    /// The head and body as writes, with the pauses of a streamed response between chunks.
    fn body_steps(&self, response: &HttpResponse, head: Vec<u8>) -> Vec<Step> {
        let Transfer::Stream {
            chunks,
            delay,
            repeat,
        } = &response.transfer
        else {
            let mut wire = head;
            wire.extend_from_slice(&self.encode_all(response));
            return vec![Step::Write(wire)];
        };
        if *repeat {
            let mut round = Vec::new();
            for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                let mut wire = Vec::new();
                self.encode_piece(chunk, &mut wire);
                round.push(Step::Write(wire));
                round.push(Step::Sleep(*delay));
            }
            return vec![Step::Write(head), Step::Repeat(round)];
        }
        let mut steps = Vec::new();
        let mut wire = head;
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                if !wire.is_empty() {
                    steps.push(Step::Write(std::mem::take(&mut wire)));
                }
                if !delay.is_zero() {
                    steps.push(Step::Sleep(*delay));
                }
            }
            self.encode_piece(chunk, &mut wire);
        }
        wire.extend_from_slice(self.end());
        steps.push(Step::Write(wire));
        steps
    }
}

/// The status line and headers, with the framing headers mocket adds.
fn head(response: &HttpResponse, framing: &Framing) -> Vec<u8> {
    let status = response.status;
    let reason = response.reason.as_deref().unwrap_or(reason_phrase(status));
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if framing.chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else if !framing.bodyless && !matches!(response.transfer, Transfer::Stream { .. }) {
        head.push_str(&format!("content-length: {}\r\n", response.body.len()));
    }
    if response.header("connection").is_none() {
        if framing.close {
            head.push_str("connection: close\r\n");
        } else if framing.keep_alive_1_0 {
            head.push_str("connection: keep-alive\r\n");
        }
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
