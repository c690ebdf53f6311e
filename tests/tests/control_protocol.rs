//! The test API's control protocol (README "Control protocol") spoken by a small Python client:
//! over the daemon's socket (`mocket run`, plain `socket`) and through `libmocket.so`'s C
//! functions (bare `LD_PRELOAD`, `ctypes.CDLL(None)`), with real clients (Python `requests`,
//! curl) sent at the hosts the scopes mock.

#![forbid(unsafe_code)]

use std::path::Path;

use mocket_tests::*;

/// A client of the protocol for either placement, then the scenario named by `argv[1]`.
const CLIENT: &str = r#"
import ctypes, json, os, queue, socket, subprocess, sys, threading, time

class Client:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()
        self.calls = queue.Queue()
        if os.environ.get("MOCKET_SOCKET"):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(os.environ["MOCKET_SOCKET"])
            self.replies, self.cv = {}, threading.Condition()
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.sock = None
            lib = ctypes.CDLL(None)
            cb = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)
            self._cb = cb(lambda ctx, p, n: self.calls.put(json.loads(ctypes.string_at(p, n))))
            lib.mocket_control_open.restype = ctypes.c_uint64
            lib.mocket_control_open.argtypes = [cb, ctypes.c_void_p]
            lib.mocket_control_send.restype = ctypes.POINTER(ctypes.c_uint8)
            lib.mocket_control_send.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t,
                                                ctypes.POINTER(ctypes.c_size_t)]
            lib.mocket_control_free.argtypes = [ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t]
            lib.mocket_control_close.argtypes = [ctypes.c_uint64]
            self.lib = lib
            self.session = lib.mocket_control_open(self._cb, None)
            assert self.session, "mocket_control_open failed"

    def _read(self):
        for line in self.sock.makefile("rb"):
            message = json.loads(line)
            if "call" in message and "id" not in message:
                self.calls.put(message)
                continue
            with self.cv:
                self.replies[message["id"]] = message
                self.cv.notify_all()

    def send(self, op, **fields):
        with self.lock:
            self.n += 1
            i = self.n
        fields.update(id=i, op=op)
        data = json.dumps(fields).encode()
        if self.sock:
            self.sock.sendall(data + b"\n")
            with self.cv:
                while i not in self.replies:
                    self.cv.wait()
                return self.replies.pop(i)
        size = ctypes.c_size_t()
        p = self.lib.mocket_control_send(self.session, data, len(data), ctypes.byref(size))
        assert p, "no such session"
        reply = ctypes.string_at(p, size.value)
        self.lib.mocket_control_free(p, size.value)
        return json.loads(reply)

    def ok(self, op, **fields):
        reply = self.send(op, **fields)
        assert reply["ok"] is True, reply
        return reply

    def scope(self, name):
        return self.ok("open_scope", name=name, pid=os.getpid())["scope"]

    def register(self, scope, entry, **fields):
        return self.ok("register", scope=scope, entry=entry, **fields)["entry"]

    def close(self):
        if self.sock:
            self.sock.close()
        else:
            self.lib.mocket_control_close(self.session)

    def answer_calls(self, answer, count):
        def run():
            for _ in range(count):
                call = self.calls.get(timeout=30)
                self.ok("respond", call=call["call"], **answer(call))
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

import requests

def users(path="/v1/users/1"):
    return {"http": "GET http://api.example.com" + path, "response": {"json": {"id": 1}}}

def basic(c):
    hello = c.ok("hello", version=1, client="control_protocol.rs", pid=os.getpid())
    assert hello["placement"] == ("daemon" if c.sock else "embedded"), hello
    s = c.scope("tests::basic")
    reply = c.ok("register", scope=s, entry=users())
    assert reply["destination"] == "api.example.com:80", reply
    assert reply["label"] == "GET http://api.example.com/v1/users/1", reply
    r = requests.get("http://api.example.com/v1/users/1?expand=teams", headers={"x-test": "yes"})
    assert (r.status_code, r.json()) == (200, {"id": 1}), r.text
    assert c.ok("hits", scope=s, entry=reply["entry"])["hits"] == 1
    [req] = c.ok("requests", scope=s, entry=reply["entry"])["requests"]
    assert req["url"] == "http://api.example.com/v1/users/1?expand=teams", req
    assert req["query"] == [["expand", "teams"]], req
    assert ["x-test", "yes"] in req["headers"], req
    assert req["pid"] == os.getpid() and req["matched"] is True, req
    verdict = c.ok("close_scope", scope=s)
    assert verdict["passed"] is True and verdict["message"] is None, verdict

def failing(c):
    s = c.scope("tests::failing")
    c.register(s, users())
    charge = c.register(s, {"http": "POST http://api.example.com/v1/charges",
                            "response": {"status": 201}})
    c.ok("expect", scope=s, entry=charge, min=1, max=1)
    r = requests.get("http://api.example.com/v1/users/2")
    assert r.status_code == 501, r.text
    assert "path differs: /v1/users/2 vs /v1/users/1" in r.text, r.text
    verdict = c.ok("verify", scope=s)
    assert verdict["passed"] is False, verdict
    assert verdict["failures"] == [{"entry": charge, "label": "POST http://api.example.com/v1/charges",
                                    "expected": {"min": 1, "max": 1}, "actual": 0}], verdict
    [unmatched] = verdict["unmatched"]
    assert unmatched["entry"] is None and "path differs" in unmatched["miss"], unmatched
    print(verdict["message"])
    c.ok("close_scope", scope=s)

def bad_entry(c):
    s = c.scope("tests::bad")
    reply = c.send("register", scope=s, entry=json.loads(sys.argv[2]))
    assert reply["ok"] is False and reply["error"]["kind"] == "invalid", reply
    print("KEY " + reply["error"]["key"])
    print("MESSAGE " + reply["error"]["message"])

def lease_wait(c):
    other = Client()
    a = c.scope("tests::first")
    c.register(a, users())
    b = other.scope("tests::second")
    got = {}
    def register():
        got["entry"] = other.register(b, users("/v1/users/2"))
        got["at"] = time.monotonic()
    thread = threading.Thread(target=register)
    thread.start()
    time.sleep(0.5)
    assert "entry" not in got, "the second scope did not wait for the lease"
    assert requests.get("http://api.example.com/v1/users/1").status_code == 200
    closed = time.monotonic()
    c.ok("close_scope", scope=a)
    thread.join(10)
    assert got["at"] >= closed, got
    assert requests.get("http://api.example.com/v1/users/2").status_code == 200
    assert requests.get("http://api.example.com/v1/users/1").status_code == 501

def lease_timeout(c):
    other = Client()
    a = c.scope("tests::holder")
    c.register(a, users())
    b = other.scope("tests::waiter")
    start = time.monotonic()
    reply = other.send("register", scope=b, entry=users())
    assert reply["ok"] is False and reply["error"]["kind"] == "lease_timeout", reply
    assert time.monotonic() - start >= 0.25
    expected = ('api.example.com:80 is held by test "tests::holder" (pid %d) for 300 ms; tests '
                'that mock the same destination run one after another (MOCKET_LEASE_TIMEOUT_MS)'
                % os.getpid())
    assert reply["error"]["message"] == expected, reply

def responder(c):
    s = c.scope("tests::responder")
    echo = c.register(s, {"http": "GET http://api.example.com/echo"}, responder=True)
    boom = c.register(s, {"http": "GET http://api.example.com/boom"}, responder=True)
    def answer(call):
        assert call["op"] == "respond_with" and call["scope"] == s, call
        if call["entry"] == echo:
            return {"response": {"status": 202, "json": {"path": call["request"]["path"]}}}
        return {"error": "panicked: boom"}
    thread = c.answer_calls(answer, 2)
    r = requests.get("http://api.example.com/echo")
    assert (r.status_code, r.json()) == (202, {"path": "/echo"}), r.text
    r = requests.get("http://api.example.com/boom")
    assert r.status_code == 500 and "panicked: boom" in r.text, r.text
    thread.join(10)
    verdict = c.ok("close_scope", scope=s)
    assert verdict["errors"] == ["respond_with of GET http://api.example.com/boom panicked: boom"], verdict

def dead_session(c):
    if c.sock:
        child = subprocess.run([sys.executable, __file__, "hold_and_die"])
        assert child.returncode == 7, child
    else:
        holder = Client()
        holder.register(holder.scope("tests::dies"), users())
        holder.close()
    s = c.scope("tests::after")
    start = time.monotonic()
    c.register(s, users())
    assert time.monotonic() - start < 1.0, "the dead session's lease was not released"
    assert requests.get("http://api.example.com/v1/users/1").status_code == 200

def hold_and_die(c):
    c.register(c.scope("tests::dies"), users())
    os._exit(7)

def fresh_host(c):
    try:
        socket.getaddrinfo("never-resolved.test", 80)
    except OSError:
        pass
    s = c.scope("tests::fresh")
    c.register(s, {"http": "GET http://never-resolved.test/x", "response": {"body": "fresh"}})
    r = requests.get("http://never-resolved.test/x")
    assert (r.status_code, r.text) == (200, "fresh"), r.text

def child_process(c):
    s = c.scope("tests::parent")
    entry = c.register(s, users())
    out = subprocess.run(["curl", "-sS", "http://api.example.com/v1/users/1"],
                         capture_output=True, text=True)
    assert out.stdout == '{"id":1}', out
    assert c.ok("hits", scope=s, entry=entry)["hits"] == 1
    [req] = c.ok("requests", scope=s)["requests"]
    assert req["pid"] != os.getpid(), req

globals()[sys.argv[1]](Client())
print("PASS " + sys.argv[1])
"#;

/// Runs scenario `name` of [`CLIENT`] under `placement`; `args` follow the name.
fn scenario(
    placement: Placement,
    mocks: &Path,
    env: &[(&str, &str)],
    name: &str,
    args: &[&str],
) -> Run {
    need_python_module("requests");
    let program = scratch_dir("control-protocol").join("client.py");
    std::fs::write(&program, CLIENT).expect("write the client");
    let program = program.to_string_lossy();
    let mut cmd = vec!["python3", &program, name];
    cmd.extend_from_slice(args);
    placement.run_env(mocks, env, &cmd)
}

fn passes(run: &Run, name: &str) {
    assert!(
        run.stdout.contains(&format!("PASS {name}")),
        "{name} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

fn empty_mocks() -> std::path::PathBuf {
    mocks_file("{}")
}

#[test]
fn register_then_request_then_hits_and_requests() {
    for placement in PLACEMENTS {
        let run = scenario(placement, &empty_mocks(), &[], "basic", &[]);
        passes(&run, "basic");
        run.success();
    }
    // The end-of-run report names the scope's entry and its test.
    let run = scenario(Placement::Daemon, &empty_mocks(), &[], "basic", &[]);
    assert!(
        run.stderr.contains(
            "test entry #0 http GET http://api.example.com/v1/users/1 (test \"tests::basic\"): \
             1 request(s)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_fails_with_expected_actual_and_the_nearest_miss() {
    for placement in PLACEMENTS {
        let run = scenario(placement, &empty_mocks(), &[], "failing", &[]);
        passes(&run, "failing");
        for line in [
            "mocket: test \"tests::failing\" failed its mocks:",
            "  POST http://api.example.com/v1/charges: expected exactly 1 request, got 0",
            "  unmatched request GET http://api.example.com/v1/users/2",
            "      - path differs: /v1/users/2 vs /v1/users/1",
        ] {
            assert!(
                run.stdout.contains(line),
                "{line:?} missing:\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn a_bad_entry_gives_the_message_of_mocket_check() {
    let entry =
        r#"{"http": "GET http://api.example.com/x", "match": {"path_regex": "("}, "response": {}}"#;
    let file = mocks_file(&format!("{{\"entries\": [{entry}]}}"));
    let mut check = std::process::Command::new(mocket_bin());
    check.arg("check").arg(&file);
    let check = run(check);
    check.expect_code(2);
    for placement in PLACEMENTS {
        let run = scenario(placement, &empty_mocks(), &[], "bad_entry", &[entry]);
        passes(&run, "bad_entry");
        assert!(
            run.stdout.contains("KEY match.path_regex\n"),
            "{}",
            run.stdout
        );
        let message = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("MESSAGE "))
            .expect("a message");
        // `mocket check` says `FILE:LINE:COL: entries[0].<message>`.
        assert!(
            check.stderr.contains(&format!("entries[0].{message}")),
            "check: {}\nregister: {message}",
            check.stderr
        );
    }
}

#[test]
fn a_second_scope_waits_for_the_destinations_lease() {
    for placement in PLACEMENTS {
        let run = scenario(placement, &empty_mocks(), &[], "lease_wait", &[]);
        passes(&run, "lease_wait");
    }
}

#[test]
fn the_lease_timeout_names_the_holder() {
    for placement in PLACEMENTS {
        let env = [("MOCKET_LEASE_TIMEOUT_MS", "300")];
        let run = scenario(placement, &empty_mocks(), &env, "lease_timeout", &[]);
        passes(&run, "lease_timeout");
    }
}

#[test]
fn responder_calls_are_answered_by_the_test_and_errors_answer_500() {
    for placement in PLACEMENTS {
        let run = scenario(placement, &empty_mocks(), &[], "responder", &[]);
        passes(&run, "responder");
    }
}

#[test]
fn a_session_that_dies_releases_its_leases() {
    for placement in PLACEMENTS {
        let env = [("MOCKET_LEASE_TIMEOUT_MS", "5000")];
        let run = scenario(placement, &empty_mocks(), &env, "dead_session", &[]);
        passes(&run, "dead_session");
    }
}

#[test]
fn a_host_never_resolved_before_works_strict_or_not() {
    for mocks in ["{}", r#"{"strict": false}"#] {
        for placement in PLACEMENTS {
            let run = scenario(placement, &mocks_file(mocks), &[], "fresh_host", &[]);
            passes(&run, "fresh_host");
        }
    }
}

#[test]
fn a_child_process_under_mocket_run_hits_its_parents_scope() {
    assert!(have("curl"), "curl is missing (.ci/run installs it)");
    let run = scenario(Placement::Daemon, &empty_mocks(), &[], "child_process", &[]);
    passes(&run, "child_process");
    run.success();
}
