//! HTTP/1.1 entries, server side and sans-IO: [`RequestParser`] turns the bytes a client sends
//! into requests, [`mismatches`] says whether (and why not) a request matches an [`HttpEntry`],
//! and [`plan`] turns the chosen response into writes, pauses and the end of the connection.
//! The engine in `mocket-core` owns the socket and the entry counters.

mod entry;
mod matching;
mod parser;
mod response;
pub mod url;

pub use entry::{Conditions, Fault, HttpEntry, HttpResponse, Transfer};
pub use matching::{
    Miss, closest, json_diff, mismatches, scheme, unmatched_body, unmatched_summary,
};
pub use parser::{MAX_HEAD, ParseError, Parsed, Request, RequestParser};
pub use response::{CONTINUE, GARBAGE, Step, bad_request, plan, reason_phrase, text_response};
