//! Bounded bodies with real clients (issue 11): an upload no entry looks at is streamed through
//! the daemon without being held (its peak RSS checked), an entry that matches on the body
//! holds at most `MOCKET_MAX_BODY` and refuses more with `413`, the journal shows the start of
//! a body only, and a never-ending upstream response is relayed and recorded in bounded pieces.

use mocket_tests::*;
use serde_json::Value;

const MOCKS: &str = r#"{
  "entries": [
    { "http": "POST http://upload.example.com/blob", "response": { "body": "stored\n" } },
    { "http": "POST http://upload.example.com/json",
      "match": { "json_contains": { "kind": "doc" } },
      "response": { "body": "matched\n" } }
  ]
}"#;

/// The peak RSS in kB of `mocket` (the daemon of `mocket run`), printed by the command, whose
/// parent it is, while the daemon still runs.
const DAEMON_PEAK: &str = "grep VmHWM /proc/$PPID/status | tr -dc 0-9";

fn peak_kb(line: &str) -> u64 {
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a VmHWM in kB: {line:?}"))
}

#[test]
fn a_300_mb_upload_nobody_matches_on_is_streamed_not_held() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mocks = mocks_file(MOCKS);
    let journal = mocks.parent().unwrap().join("journal.jsonl");
    let script = format!(
        "head -c 300M /dev/zero | tr '\\0' x | curl -sS --data-binary @- http://upload.example.com/blob && {DAEMON_PEAK}"
    );
    let run = mocket_run(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &["sh", "-c", &script],
    );
    run.success();
    let (answer, peak) = run.stdout.split_once('\n').expect("answer, then the peak");
    assert_eq!(answer, "stored", "{}", run.stderr);
    let peak = peak_kb(peak);
    assert!(
        peak < 64 * 1024,
        "the daemon's peak RSS was {peak} kB for a 300 MB upload"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.len() < 1024 * 1024, "journal of {} bytes", text.len());
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let request = &line["request"];
    assert_eq!(request["body_truncated"], 300 * 1024 * 1024, "{request}");
    let shown = request["body"].as_str().unwrap();
    assert!(
        shown.len() == 64 * 1024 && shown.bytes().all(|b| b == b'x'),
        "journal body of {} bytes",
        shown.len()
    );
}

#[test]
fn a_body_over_mocket_max_body_gets_413_that_says_how_to_raise_it() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let mocks = mocks_file(MOCKS);
    let journal = mocks.parent().unwrap().join("journal.jsonl");
    // 2 MB of JSON that would match, then a small one that does.
    let script = r#"
big=$(mktemp)
{ printf '{"kind": "doc", "pad": "'; head -c 2M /dev/zero | tr '\0' p; printf '"}'; } > "$big"
for expect in 'Expect:' 'Expect: 100-continue'; do
  curl -sS -H "$expect" -H 'content-type: application/json' -w '|%{http_code}\n' \
    --data-binary @"$big" http://upload.example.com/json
done
printf '{"kind": "doc"}' | curl -sS -H 'Transfer-Encoding: chunked' --data-binary @- -w '|%{http_code}\n' http://upload.example.com/json
"#;
    let run = mocket_run_env(
        &mocks,
        &["--journal", journal.to_str().unwrap()],
        &[("MOCKET_MAX_BODY", "1M")],
        &["sh", "-c", script],
    );
    assert_ne!(
        run.code,
        Some(0),
        "a refused request fails the run\n{}",
        run.stderr
    );
    let answers: Vec<&str> = run.stdout.split('|').collect();
    assert_eq!(answers.len(), 4, "{}\n{}", run.stdout, run.stderr);
    let refusal =
        "mocket: request refused: request body larger than MOCKET_MAX_BODY (1048576 bytes)";
    assert!(
        answers[0].starts_with(refusal),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        answers[0].contains("raise it (e.g. MOCKET_MAX_BODY=4M)"),
        "{}",
        run.stdout
    );
    assert!(
        answers[1].starts_with(&format!("413\n{refusal}")),
        "{}",
        run.stdout
    );
    assert!(answers[2].starts_with("413\nmatched\n"), "{}", run.stdout);
    assert_eq!(answers[3], "200\n");
    let journal = std::fs::read_to_string(&journal).unwrap();
    let refused: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["response"]["status"] == 413)
        .collect();
    assert_eq!(refused.len(), 2, "{journal}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("larger than MOCKET_MAX_BODY"),
        "{}",
        refused[0]
    );
}
