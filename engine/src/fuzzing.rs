//! Entry point for coverage-guided fuzzing of the control protocol's messages (the `fuzz/`
//! crate) and for the replay of its corpus as a unit test.

use crate::scopes::protocol::{self, Op};

/// One message line of a test API client, as the engine reads it: never panics, a request
/// that parses gets a reply that is one line of JSON, and a registered entry goes through the
/// mocks file's parser (its errors render).
pub fn control_message(data: &[u8]) {
    let (id, op) = protocol::parse(data);
    let reply = match op {
        Ok(Op::Register {
            entry, responder, ..
        }) => match crate::scopes::session::parse_entry(entry, responder) {
            Ok(_) => protocol::ok_reply(id, serde_json::json!({})),
            Err(e) => protocol::error_reply(id, &e),
        },
        Ok(_) => protocol::ok_reply(id, serde_json::json!({})),
        Err(e) => protocol::error_reply(id, &e),
    };
    assert!(!reply.contains('\n'), "a reply is one line: {reply}");
    serde_json::from_str::<serde_json::Value>(&reply).expect("a reply is JSON");
}

#[cfg(test)]
mod tests {
    use super::*;
    use mocket_protocols::fuzzing::replay_corpus;

    #[test]
    fn control_message_corpus_replays() {
        replay_corpus("control_message", control_message);
    }
}
