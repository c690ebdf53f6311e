//! Entry points for coverage-guided fuzzing (the `fuzz/` crate) and for the replay of its corpus
//! as unit tests: one function per parser a peer feeds, each asserting that parser's contract,
//! so that a violation is a crash the fuzzer reports and the replay test fails on.

use std::path::{Path, PathBuf};

use crate::http::{Parsed, Request, RequestParser};
use crate::redis::{Command, Decoder, ProtocolError};

/// Feeds every input the fuzzer kept for `target` (`fuzz/corpus/<target>/`) to `run`; the
/// corpus replay test of each crate calls it, so CI replays the corpus without a fuzzer.
pub fn replay_corpus(target: &str, run: fn(&[u8])) {
    replay(&fuzz_dir().join("corpus").join(target), run);
}

/// Feeds every crash input kept for `target` (`fuzz/regressions/<target>/`) to `run`.
pub fn replay_regressions(target: &str, run: fn(&[u8])) {
    replay(&fuzz_dir().join("regressions").join(target), run);
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Panics (naming the file) on the first input `run` panics on, and when `dir` holds no input:
/// a replay that replays nothing must not pass.
fn replay(dir: &Path, run: fn(&[u8])) {
    let files = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file());
    let mut replayed = 0;
    for path in files {
        let input =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| run(&input));
        assert!(outcome.is_ok(), "fuzz input {} fails", path.display());
        replayed += 1;
    }
    assert!(replayed > 0, "no fuzz input in {}", dir.display());
}

/// The HTTP request parser on a client's bytes (the first byte picks a read size): never
/// panics, and reads of any size give the same requests and the same failure as one read.
pub fn http_request(data: &[u8]) {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let whole = requests_in_reads(bytes, bytes.len().max(1));
    let pieces = requests_in_reads(bytes, read_size(cut));
    assert_eq!(
        whole, pieces,
        "the requests depend on how the bytes were cut"
    );
}

/// The requests parsed from `bytes` fed `size` bytes at a time, and whether parsing failed.
fn requests_in_reads(bytes: &[u8], size: usize) -> (Vec<Request>, bool) {
    let mut parser = RequestParser::new();
    let mut requests = Vec::new();
    for read in bytes.chunks(size) {
        parser.feed(read);
        loop {
            match parser.poll() {
                // Whether 100-continue is due depends on the timing of the reads: not compared.
                Ok(Some(Parsed::Continue)) => {}
                Ok(Some(Parsed::Request(request))) => requests.push(request),
                Ok(None) => break,
                Err(_) => return (requests, true),
            }
        }
    }
    (requests, false)
}

/// The RESP command decoder the engine and the recorder use on a client's bytes (the first
/// byte picks a read size): never panics, and reads of any size give the same commands and the
/// same protocol error as one read.
pub fn resp_commands(data: &[u8]) {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let whole = commands_in_reads(bytes, bytes.len().max(1));
    let pieces = commands_in_reads(bytes, read_size(cut));
    assert_eq!(
        whole, pieces,
        "the commands depend on how the bytes were cut"
    );
}

fn commands_in_reads(bytes: &[u8], size: usize) -> Vec<Result<Command, ProtocolError>> {
    let mut decoder = Decoder::default();
    let mut commands = Vec::new();
    for read in bytes.chunks(size) {
        decoder.feed(read);
        while let Some(command) = decoder.next_command() {
            commands.push(command);
        }
    }
    commands
}

/// The DNS code on a datagram (a client's query, or a nameserver's answer): never panics, and
/// a query it accepts gets an answer that carries the address and reads back.
pub fn dns_message(data: &[u8]) {
    let _ = crate::dns::answer_addresses(data);
    let Ok(query) = crate::dns::Query::parse(data) else {
        return;
    };
    let addr = std::net::IpAddr::from([198, 18, 0, 1]);
    let answer = query.answer(addr);
    let read = crate::dns::answer_addresses(&answer).expect("our own answer reads back");
    let fits = query.qtype == crate::dns::TYPE_A && query.qclass == 1;
    assert_eq!(read, if fits { vec![addr] } else { vec![] });
    assert_eq!(
        &answer[0..2],
        &data[0..2],
        "the answer keeps the query's id"
    );
}

/// The Kubernetes emulator on a client's requests (paths, queries with label and field
/// selectors, bodies with objects and merge or JSON patches): never panics, every JSON answer
/// parses, every error is a `Status` with the response's code, and every watch event is a JSON
/// line.
pub fn kubernetes_requests(data: &[u8]) {
    use crate::http::BodyPolicy;
    use crate::kubernetes::{Emulator, KubernetesEntry, Outcome};
    use serde_json::{Value, json};

    let entry = KubernetesEntry::from_json(&json!({
        "kubernetes": "http://kube.test",
        "resources": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
        "objects": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "web"}}},
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "finalizers": ["x"]}},
        ],
        "watch_buffer": 4,
    }))
    .expect("a valid entry");
    let mut emulator = Emulator::new(&entry, 0);
    let mut parser = RequestParser::new();
    parser.feed(data);
    while let Ok(Some(parsed)) = parser.poll_with(&mut |_: &Request| BodyPolicy::whole(1 << 20)) {
        let Parsed::Request(request) = parsed else {
            continue;
        };
        match emulator.handle(&request, 0) {
            Outcome::Reply(reply) if reply.content_type.starts_with("application/json") => {
                let body: Value = serde_json::from_slice(&reply.body).expect("a JSON answer");
                if reply.status >= 400 {
                    assert_eq!(body["kind"], "Status", "{body}");
                    assert_eq!(body["code"], reply.status, "{body}");
                }
            }
            Outcome::Reply(reply) => assert_eq!(reply.status, 200),
            Outcome::Watch(watch) => {
                for line in &watch.backlog {
                    serde_json::from_slice::<Value>(line).expect("a JSON event");
                }
                if let Some(id) = watch.id {
                    emulator.store().unwatch(id);
                }
            }
        }
    }
}

/// The RESTORE payload reader of the Redis emulator on an RDB body (the footer, version and
/// CRC64, is added so the fuzzer reaches the RDB parser; the bytes are also tried as given):
/// never panics, allocates nothing a length claims, and a value it reads dumps to a payload
/// that reads back as the same value.
pub fn redis_dump_payload(body: &[u8]) {
    crate::redis::emulator::dump::check_payload(body);
}

/// The `cmsgpack.unpack` of scripts on any bytes: never panics nor allocates from a claimed
/// count; what decodes packs and decodes again to as many values.
pub fn lua_cmsgpack(data: &[u8]) {
    crate::redis::emulator::lua_libs::cmsgpack::check_unpack(data);
}

/// 1 to 16 bytes per read: small reads are where reassembly bugs hide.
fn read_size(cut: u8) -> usize {
    usize::from(cut % 16) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_cmsgpack_corpus_replays() {
        replay_corpus("lua_cmsgpack", lua_cmsgpack);
    }

    #[test]
    fn http_request_corpus_replays() {
        replay_corpus("http_request", http_request);
    }

    /// The crash inputs the fuzzer found (`fuzz/regressions/http_request/`).
    #[test]
    fn http_request_regressions_replay() {
        replay_regressions("http_request", http_request);
    }

    #[test]
    fn dns_message_corpus_replays() {
        replay_corpus("dns_message", dns_message);
    }

    #[test]
    fn kubernetes_corpus_replays() {
        replay_corpus("kubernetes", kubernetes_requests);
    }

    #[test]
    fn redis_dump_corpus_replays() {
        replay_corpus("redis_dump", redis_dump_payload);
    }

    #[test]
    fn resp_corpus_replays() {
        replay_corpus("resp", resp_commands);
    }

    /// The crash input of issue 10 (10 000 nested arrays, read 1 to 16 bytes at a time): the
    /// old decoder recursed once per level and overflowed a thread's stack; requests are now
    /// arrays of bulk strings only, refused at the second header.
    #[test]
    fn resp_regressions_replay() {
        replay_regressions("resp", resp_commands);
    }
}
