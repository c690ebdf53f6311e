//! Issue 19, `MONITOR` (and `CLIENT PAUSE`/`UNPAUSE`) of the shared emulator, judged by real
//! clients: `redis-cli monitor` in one process while redis-py runs commands in another, and
//! redis-py's own `monitor()` API in RESP2 and RESP3. Every expected output below is what the
//! same program printed against redis-server 7.0.15 (run it with `REDIS_HOST`/`REDIS_PORT` set
//! to check).

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// redis-cli monitors from its own process while redis-py runs commands (a transaction, a
/// script, binary data, a hidden admin command); then redis-py's `monitor()` in both
/// protocols. Timestamps and client ports differ by run: the program prints whether each
/// line's address is the client's own and whether the timestamps are the time now.
const MONITOR_PROGRAM: &str = r##"
import os, re, socket, subprocess, sys, threading, time, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))

def monitors(r):
    return sum("O" in c["flags"] for c in r.client_list())

def wait_monitors(r, count):
    for _ in range(200):
        if monitors(r) == count:
            return
        time.sleep(0.05)
    raise SystemExit("expected %d monitors, have %d" % (count, monitors(r)))

r = redis.Redis(host=host, port=port, decode_responses=True, single_connection_client=True)
r.flushall()
r.ping()
me = "%s:%d" % r.connection._sock.getsockname()[:2]

def cli_monitor():
    cli = subprocess.Popen(["timeout", "30", "redis-cli", "-h", host, "-p", str(port), "monitor"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        return commands_seen_by(cli)
    finally:
        cli.terminate()
        cli.wait()

def commands_seen_by(cli):
    lines = []
    def read_cli():
        for line in cli.stdout:
            lines.append(line.rstrip("\n"))
    threading.Thread(target=read_cli, daemon=True).start()
    wait_monitors(r, 1)
    monitor = [c for c in r.client_list() if "O" in c["flags"]][0]
    print("laddr is the address connected to",
          monitor["laddr"] == "%s:%d" % (socket.gethostbyname(host), port))
    r.set("k", "v")
    r.get("k")
    r.set(b"bin", b"\x00\xff\n\"")
    r.config_get("maxmemory")
    with r.pipeline() as p:
        p.incr("n")
        p.get("n")
        p.execute()
    r.eval("return redis.call('incr', KEYS[1])", 1, "n")
    r.ping()
    deadline = time.time() + 10
    while not any('"PING"' in l for l in lines) and time.time() < deadline:
        time.sleep(0.05)
    return lines

# redis-cli is another process: under a bare LD_PRELOAD it would have its own emulator.
lines = cli_monitor() if sys.argv[1:] == ["cli"] else []
line_re = re.compile(r'^(\d+)\.(\d{6}) \[(\d+) ([^\]]+)\] (.*)$')
for line in lines:
    if line == "OK":
        print("cli", line)
        continue
    m = line_re.match(line)
    secs, _, db, addr, command = m.groups()
    who = {me: "me", "lua": "lua"}.get(addr, "other")
    if 'client' in command.lower():
        continue
    print("cli", abs(int(secs) - time.time()) < 60, db, who, command)

wait_monitors(r, 0)
for protocol in (2, 3):
    other = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True,
                        socket_timeout=10)
    with other.monitor() as m:
        wait_monitors(r, 1)
        r.set("p%d" % protocol, "x y")
        r.eval("return redis.call('get', KEYS[1])", 1, "p%d" % protocol)
        r.ping()
        while True:
            c = m.next_command()
            if c["command"].startswith("CLIENT"):
                continue
            mine = "%s:%s" % (c["client_address"], c["client_port"]) == me
            print("py", protocol, c["db"], c["client_type"], mine, c["command"])
            if c["command"] == "PING":
                break
    other.close()
    wait_monitors(r, 0)
"##;

/// What redis-server 7.0.15 made the program print (with argument `cli`).
const MONITOR_OUTPUT: &str = "\
laddr is the address connected to True\n\
cli OK\n\
cli True 0 me \"SET\" \"k\" \"v\"\n\
cli True 0 me \"GET\" \"k\"\n\
cli True 0 me \"SET\" \"bin\" \"\\x00\\xff\\n\\\"\"\n\
cli True 0 other \"HELLO\" \"3\"\n\
cli True 0 other \"MULTI\"\n\
cli True 0 other \"INCRBY\" \"n\" \"1\"\n\
cli True 0 other \"GET\" \"n\"\n\
cli True 0 other \"EXEC\"\n\
cli True 0 me \"EVAL\" \"return redis.call('incr', KEYS[1])\" \"1\" \"n\"\n\
cli True 0 lua \"incr\" \"n\"\n\
cli True 0 me \"PING\"\n\
py 2 0 tcp True SET p2 x y\n\
py 2 0 tcp True EVAL return redis.call('get', KEYS[1]) 1 p2\n\
py 2 0 lua False get p2\n\
py 2 0 tcp True PING\n\
py 3 0 tcp True SET p3 x y\n\
py 3 0 tcp True EVAL return redis.call('get', KEYS[1]) 1 p3\n\
py 3 0 lua False get p3\n\
py 3 0 tcp True PING\n\
";

#[test]
fn redis_cli_and_redis_py_monitor_another_process_commands() {
    need_python_module("redis");
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let run = python(Placement::Daemon, &mocks, MONITOR_PROGRAM, &["cli"]);
    run.success();
    assert_eq!(run.stdout, MONITOR_OUTPUT, "{}", run.stderr);
    // Under a bare LD_PRELOAD, redis-py's monitor in the same process.
    let run = python(Placement::Embedded, &mocks, MONITOR_PROGRAM, &[]);
    run.success();
    let same_process: String = MONITOR_OUTPUT
        .lines()
        .filter(|l| l.starts_with("py "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(run.stdout, same_process, "{}", run.stderr);
}

/// `CLIENT PAUSE WRITE` from this process holds another process's `SET` (the Rust `redis`
/// crate, then redis-py in RESP3) but not its `GET`, until `CLIENT UNPAUSE` or the pause's
/// end. Bounds are generous: a process starts in well under a second.
const PAUSE_PROGRAM: &str = r##"
import os, subprocess, sys, time, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
rust_client = sys.argv[1]
url = "redis://%s:%d" % (host, port)
PY_CHILD = """
import sys, redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), protocol=3, decode_responses=True)
print(r.execute_command(*sys.argv[3:]))
"""

def start(client, *words):
    if client == "rust":
        cmd = [rust_client, url, " ".join(words)]
    else:
        cmd = [sys.executable, "-c", PY_CHILD, host, str(port), *words]
    return time.time(), subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

def finish(started):
    t, child = started
    out, _ = child.communicate(timeout=30)
    return time.time() - t, out.strip()

admin = redis.Redis(host=host, port=port, decode_responses=True, single_connection_client=True)
admin.flushall()
for client in ("rust", "py"):
    print(client, "pause", admin.client_pause(5000, all=False))
    took, out = finish(start(client, "GET", "k"))
    print(client, "get runs", out, took < 2.5)
    setter = start(client, "SET", "k", client)
    time.sleep(1.0)
    print(client, "set held", setter[1].poll() is None, admin.get("k"))
    print(client, "unpause", admin.client_unpause())
    took, out = finish(setter)
    print(client, "set released", out, 1.0 <= took < 4.5, admin.get("k"))
    admin.client_pause(1200, all=False)
    took, out = finish(start(client, "INCR", "n"))
    print(client, "incr held until the end", out, 1.0 <= took < 4.5)
"##;

/// What redis-server 7.0.15 made the program print.
const PAUSE_OUTPUT: &str = "\
rust pause True\n\
rust get runs nil True\n\
rust set held True None\n\
rust unpause OK\n\
rust set released ok True rust\n\
rust incr held until the end int(1) True\n\
py pause True\n\
py get runs rust True\n\
py set held True rust\n\
py unpause OK\n\
py set released True True py\n\
py incr held until the end 2 True\n\
";

#[test]
fn client_pause_write_holds_another_process_set_but_not_its_get() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let run = python(Placement::Daemon, &mocks, PAUSE_PROGRAM, &[client]);
    run.success();
    assert_eq!(run.stdout, PAUSE_OUTPUT, "{}", run.stderr);
}

/// A monitor waits for lines however long its client stays silent, past the idle timeout
/// (as a subscriber does).
const MONITOR_IDLE_PROGRAM: &str = r##"
import time, redis
r = redis.Redis(host="sessions.internal", port=6379, decode_responses=True)
m = redis.Redis(host="sessions.internal", port=6379, decode_responses=True, socket_timeout=10)
with m.monitor() as mon:
    time.sleep(1.0)
    r.set("late", "1")
    while True:
        command = mon.next_command()["command"]
        if command.startswith("SET"):
            print(command)
            break
"##;

#[test]
fn a_monitor_outlives_the_idle_timeout() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let idle = [("MOCKET_IDLE_TIMEOUT_MS", "300")];
        let run = placement.run_env(&mocks, &idle, &["python3", "-c", MONITOR_IDLE_PROGRAM]);
        run.success();
        assert_eq!(run.stdout, "SET late 1\n", "{placement:?}: {}", run.stderr);
    }
}
