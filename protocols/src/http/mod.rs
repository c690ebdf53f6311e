//! HTTP/1.1 entries, server side and sans-IO: [`RequestParser`] turns the bytes a client sends
//! into requests, [`mismatches`] says whether (and why not) a request matches an [`HttpEntry`],
//! and [`plan`] turns the chosen response into writes, pauses and the end of the connection.
//! [`ResponseReader`] reads a real server's responses while recording. Both directions frame
//! bodies with [`framing`], the one HTTP/1.1 framing of mocket.
//! The engine in `mocket-engine` owns the socket and the entry counters.

mod entry;
pub mod framing;
mod matching;
mod parser;
mod response;
mod response_reader;
mod routes;
mod template;
pub mod url;
mod value_match;

pub use entry::{Conditions, Fault, HttpEntry, HttpResponse, Transfer};
pub use matching::{
    Miss, closest, json_diff, mismatches, mismatches_on, request_url, scheme, unmatched_body,
    unmatched_summary,
};
pub use parser::{
    BodyPolicy, DEFAULT_MAX_BODY, MAX_HEAD, ParseError, Parsed, Request, RequestParser,
};
pub use response::{CONTINUE, GARBAGE, Step, error_response, plan, reason_phrase, text_response};
pub use response_reader::{MAX_RESPONSE_HEAD, Progress, ResponseHead, ResponseReader};
pub use routes::RouteIndex;
pub use template::{RenderInput, ResponseTemplate, TemplateBody, TemplateError, render};
pub use value_match::ValueMatcher;

use base64::Engine as _;
use serde_json::{Value, json};

/// A body as the journal and cassettes show it: text when it is UTF-8, else
/// `{"base64": ...}` (what [`crate::field::bytes`] reads back).
pub fn body_json(body: &[u8]) -> Value {
    match std::str::from_utf8(body) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(body) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_through_json() {
        for body in [&b"text"[..], b"", &[0xff, 0, 1]] {
            let v = body_json(body);
            assert_eq!(crate::field::bytes(&v, "body").unwrap(), body);
        }
        assert_eq!(body_json(b"hi"), json!("hi"));
        assert_eq!(body_json(&[0xff]), json!({"base64": "/w=="}));
    }
}
