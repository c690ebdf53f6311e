//! Issue 19, the connection commands over every connection of the shared emulator (`CLIENT
//! LIST/INFO/KILL/REPLY`, `MONITOR`, `WAIT`, `ROLE`) and `WATCH` across connections, judged by
//! real clients: redis-py in RESP2 and RESP3, `redis-cli` and the Rust `redis` crate. Every
//! expected output below is what the same client printed against redis-server 7.0.15 (run the
//! program with `REDIS_HOST`/`REDIS_PORT` set to check).

#![forbid(unsafe_code)]

use mocket_tests::*;

const EMULATED: &str = r#"{
  "entries": [
    { "redis": "sessions.internal:6379", "emulate": true }
  ]
}"#;

/// redis-py lists, inspects and kills other connections (raw sockets it can watch close):
/// an idle one, a subscriber and one blocked in `BLPOP`.
const CLIENTS_PROGRAM: &str = r##"
import os, socket, time, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))

def raw(words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out

def victim(*setup):
    s = socket.create_connection((host, port))
    s.settimeout(5)
    for words in setup:
        s.sendall(raw(words))
        s.recv(1000)
    return s

for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True,
                    single_connection_client=True)
    r.flushall()
    print("protocol", protocol)
    w = victim(["CLIENT", "SETNAME", "worker"], ["SELECT", "2"], ["SET", "k", "v"])
    p = victim(["CLIENT", "SETNAME", "listener"], ["SUBSCRIBE", "a", "b"])
    me = r.client_info()
    print("info", me["name"], me["flags"], me["db"], me["cmd"], me["user"], me["resp"], me["multi"])
    clients = {c["name"]: c for c in r.client_list()}
    print("list", sorted(clients))
    wc = clients["worker"]
    print("fields", " ".join(wc))
    print("worker", wc["flags"], wc["db"], wc["cmd"], wc["sub"], wc["multi"], wc["laddr"].endswith(":%d" % port))
    print("worker addr", wc["addr"] == "%s:%d" % w.getsockname())
    lc = clients["listener"]
    print("listener", lc["flags"], lc["sub"], lc["psub"], lc["cmd"])
    print("pubsub", [c["name"] for c in r.client_list(_type="pubsub")])
    print("by id", [c["name"] for c in r.client_list(client_id=[int(wc["id"])])])
    try:
        r.execute_command("CLIENT", "LIST", "TYPE", "foo")
    except redis.ResponseError as e:
        print("error", e)
    print("kill pubsub", r.client_kill_filter(_type="pubsub"))
    print("listener closed", p.recv(1000) == b"")
    print("kill addr", r.client_kill(wc["addr"]))
    print("worker closed", w.recv(1000) == b"")
    b = victim()
    b.sendall(raw(["BLPOP", "nothing", "0"]))
    time.sleep(0.3)
    bid = [c["id"] for c in r.client_list() if c["cmd"] == "blpop"]
    print("blocked", [c["flags"] for c in r.client_list() if c["cmd"] == "blpop"])
    print("kill blocked", r.client_kill_filter(_id=int(bid[0])))
    print("blocked closed", b.recv(1000) == b"")
    try:
        r.client_kill("1.2.3.4:5")
    except redis.ResponseError as e:
        print("error", e)
    # A connection closed by its client (the previous round's) or killed leaves the list when
    # the engine sees its end, which may come a moment after this client's next command.
    for _ in range(50):
        left = [c["name"] for c in r.client_list()]
        if len(left) == 1:
            break
        time.sleep(0.1)
    print("left", left, r.ping())
    r.close()
"##;

/// What redis-server 7.0.15 made the program print.
const CLIENTS_OUTPUT: &str = "\
protocol 2\n\
info  N 0 client|info default 2 -1\n\
list ['', 'listener', 'worker']\n\
fields id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp\n\
worker N 2 set 0 -1 True\n\
worker addr True\n\
listener P 2 0 subscribe\n\
pubsub ['listener']\n\
by id ['worker']\n\
error Unknown client type 'foo'\n\
kill pubsub 1\n\
listener closed True\n\
kill addr True\n\
worker closed True\n\
blocked ['b']\n\
kill blocked 1\n\
blocked closed True\n\
error No such client\n\
left [''] True\n\
protocol 3\n\
info  N 0 client|info default 3 -1\n\
list ['', 'listener', 'worker']\n\
fields id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp\n\
worker N 2 set 0 -1 True\n\
worker addr True\n\
listener P 2 0 subscribe\n\
pubsub ['listener']\n\
by id ['worker']\n\
error Unknown client type 'foo'\n\
kill pubsub 1\n\
listener closed True\n\
kill addr True\n\
worker closed True\n\
blocked ['b']\n\
kill blocked 1\n\
blocked closed True\n\
error No such client\n\
left [''] True\n\
";

#[test]
fn redis_py_lists_and_kills_other_connections_in_resp2_and_resp3() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, CLIENTS_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, CLIENTS_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

/// `WAIT` blocks the connection until its timeout when a replica is asked for (the emulator,
/// like a standalone Redis, has none), and answers 0 at once otherwise; `ROLE` is a master.
#[test]
fn redis_cli_wait_blocks_until_its_timeout_and_role_is_master() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h sessions.internal ROLE; s=$(date +%s%N); \
                  redis-cli -h sessions.internal WAIT 1 300; e=$(date +%s%N); \
                  [ $(( (e - s) / 1000000 )) -ge 290 ] && echo waited; \
                  redis-cli -h sessions.internal WAIT 0 0";
    for placement in PLACEMENTS {
        let run = placement.run(&mocks, &["sh", "-c", script]);
        run.success();
        // What redis-server 7.0.15 made the same script print.
        assert_eq!(
            run.stdout, "master\n0\n\n0\nwaited\n0\n",
            "{placement:?}: {}",
            run.stderr
        );
    }
}

/// The Rust `redis` crate reads `ROLE` and `WAIT` in RESP2 and RESP3.
#[test]
fn the_rust_redis_crate_reads_role_and_wait() {
    let client = env!("CARGO_BIN_EXE_mocket-redis-client");
    let mocks = mocks_file(EMULATED);
    // What the same client printed against redis-server 7.0.15, in both protocols.
    let expected = "array([bulk-string('\"master\"'), int(0), array([])])\nint(0)\nint(0)\n";
    for url in [
        "redis://sessions.internal:6379/",
        "redis://sessions.internal:6379/?protocol=resp3",
    ] {
        let run = Placement::Daemon.run(&mocks, &[client, url, "ROLE", "WAIT 0 0", "WAIT 1 50"]);
        run.success();
        assert_eq!(run.stdout, expected, "{url}: {}", run.stderr);
    }
}

/// redis-py's optimistic locking (`pipeline.watch` then `execute`) while another connection
/// writes with the commands whose keys their spec does not locate, and with consumer-group
/// commands, which Redis 7.0 never signals.
const WATCH_PROGRAM: &str = r##"
import os, redis
host = os.environ.get("REDIS_HOST", "sessions.internal")
port = int(os.environ.get("REDIS_PORT", "6379"))
cases = [
    ("lmpop", "l", ["LMPOP", "1", "l", "LEFT"]),
    ("zmpop", "z", ["ZMPOP", "1", "z", "MIN"]),
    ("sort store", "dst", ["SORT", "n", "STORE", "dst"]),
    ("copy", "c", ["COPY", "src", "c"]),
    ("xack", "st", ["XACK", "st", "g", "1-1"]),
    ("xgroup", "st", ["XGROUP", "CREATECONSUMER", "st", "g", "c2"]),
    ("swapdb", "s", ["SWAPDB", "0", "1"]),
]
for protocol in (2, 3):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    other = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True)
    r.flushall()
    r.rpush("l", "a", "b")
    r.zadd("z", {"a": 1})
    r.rpush("n", 3, 1, 2)
    r.set("s", "1")
    r.set("src", "v")
    r.xadd("st", {"f": "v"}, id="1-1")
    r.xgroup_create("st", "g", id="0")
    r.xreadgroup("g", "c", {"st": ">"})
    for name, key, write in cases:
        with r.pipeline() as p:
            p.watch(key)
            other.execute_command(*write)
            p.multi()
            p.ping()
            try:
                p.execute()
                print(protocol, name, "committed")
            except redis.WatchError:
                print(protocol, name, "aborted")
    r.close()
    other.close()
"##;

/// What redis-server 7.0.15 made the program print.
const WATCH_OUTPUT: &str = "\
2 lmpop aborted\n\
2 zmpop aborted\n\
2 sort store aborted\n\
2 copy aborted\n\
2 xack committed\n\
2 xgroup committed\n\
2 swapdb aborted\n\
3 lmpop aborted\n\
3 zmpop aborted\n\
3 sort store aborted\n\
3 copy aborted\n\
3 xack committed\n\
3 xgroup committed\n\
3 swapdb aborted\n\
";

#[test]
fn redis_py_watch_aborts_on_the_writes_redis_signals() {
    need_python_module("redis");
    let mocks = mocks_file(EMULATED);
    for placement in PLACEMENTS {
        let run = python(placement, &mocks, WATCH_PROGRAM, &[]);
        run.success();
        assert_eq!(run.stdout, WATCH_OUTPUT, "{placement:?}: {}", run.stderr);
    }
}

/// A `DEL` from another process wakes a blocked `XREADGROUP` with Redis's error.
#[test]
fn redis_cli_xreadgroup_block_wakes_when_another_process_deletes_the_stream() {
    assert!(
        have("redis-cli"),
        "redis-cli is missing (.ci/run installs redis-tools)"
    );
    let mocks = mocks_file(EMULATED);
    let script = "redis-cli -h sessions.internal XGROUP CREATE st g '$' MKSTREAM; \
                  redis-cli -h sessions.internal XREADGROUP GROUP g c BLOCK 0 STREAMS st '>' \
                  > woke 2>&1 & sleep 0.3; redis-cli -h sessions.internal DEL st; wait; cat woke";
    let run = Placement::Daemon.run(&mocks, &["sh", "-c", script]);
    run.success();
    // What redis-server 7.0.15 made the same script print.
    assert_eq!(
        run.stdout, "OK\n1\nUNBLOCKED the stream key no longer exists\n\n",
        "{}",
        run.stderr
    );
}
