//! Differential scripts for the server administration commands (`CONFIG`, `ACL`, `SLOWLOG`,
//! `LATENCY`, `MEMORY`, `DEBUG`): the replies that depend on neither timings nor the machine,
//! compared byte for byte with a real `redis-server` of their own (they change its settings).
//! `INFO`'s layout is checked against the real server's field names in `info_fields_...`.

use super::{Pair, RealConn, real_or_skip, steps};

/// Scripts per family; each leaves the server's settings and users as it found them.
const ADMIN_FAMILIES: &[(&str, &[&str])] = &[
    (
        "config",
        &[
            "config get maxmemory",
            "config get maxmemory-policy",
            "config get hz",
            "config get hash-max-ziplist-entries",
            "config get nosuch",
            "config get",
            "config set",
            "config set maxmemory",
            "config set foo 1",
            "config set hz 5 daemonize no",
            "config set hz 5 lfu-log-factor x",
            "config get hz",
            "config set maxmemory 1gb",
            "config get maxmemory",
            "config set maxmemory 0",
            "config set Maxmemory-Policy ALLKEYS-LRU",
            "config get maxmemory-policy",
            "config set maxmemory-policy lru",
            "config set maxmemory-policy noeviction",
            "config set maxmemory 1 maxmemory 2",
            "config set hash-max-ziplist-entries 1 hash-max-listpack-entries 2",
            "config set notify-keyspace-events KEA",
            "config get notify-keyspace-events",
            "config set notify-keyspace-events x",
            "config set notify-keyspace-events \"\"",
            "config set port 70000",
            "config set port abc",
            "config set appendonly maybe",
            "config set dir /tmp",
            "config set maxmemory-clients 10%",
            "config get maxmemory-clients",
            "config set maxmemory-clients 0",
            "config set save \"10 20 30\"",
            "config set hash-max-listpack-entries 2",
            "hset h a 1 b 2",
            "object encoding h",
            "hset h c 3",
            "object encoding h",
            "config set hash-max-listpack-entries 512",
            "config set zset-max-listpack-entries 1",
            "zadd z 1 a 2 b",
            "object encoding z",
            "config set zset-max-listpack-entries 128",
            "config rewrite",
            "config rewrite x",
            "config resetstat",
            "config help",
            "config nosuch",
        ],
    ),
    (
        "acl",
        &[
            "acl whoami",
            "acl whoami x",
            "acl users",
            "acl list",
            "acl getuser default",
            "acl getuser nobody",
            "acl setuser bob",
            "acl list",
            "acl getuser bob",
            "acl setuser bob on foo",
            "acl setuser bob +nosuch",
            "acl setuser bob +@nosuch",
            "acl setuser bob +config|nosuch",
            "acl setuser bob <nosuch",
            "acl setuser bob #abc",
            "acl setuser bob on >pw ~* &* +@all",
            "acl list",
            "acl users",
            "1: auth bob wrong",
            "1: auth bob pw",
            "1: acl whoami",
            "1: set k v",
            "acl setuser bob -get",
            "1: get k",
            "acl setuser bob resetkeys ~app:* +get",
            "1: get k",
            "1: get app:1",
            "1: mget app:1 k",
            "acl dryrun bob get k",
            "acl dryrun bob get app:1",
            "acl dryrun nobody get k",
            "acl dryrun bob nosuch",
            "acl dryrun bob get",
            "acl setuser bob off",
            "2: auth bob pw",
            "acl deluser default",
            "acl deluser bob nobody",
            "acl deluser bob",
            "acl users",
            "acl cat",
            "acl cat nosuch",
            "acl cat a b",
            "acl genpass 0",
            "acl genpass 4097",
            "acl genpass x",
            "acl log x",
            "acl log -1",
            "acl log reset",
            "acl log",
            "acl load",
            "acl save",
            "acl help",
            "acl nosuch",
            "acl",
        ],
    ),
    (
        "slowlog, latency, memory, debug",
        &[
            "slowlog reset",
            "slowlog len",
            "slowlog get -2",
            "slowlog get x",
            "slowlog get 1 2",
            "slowlog len x",
            "slowlog help",
            "slowlog nosuch",
            "latency latest",
            "latency history command",
            "latency history",
            "latency reset",
            "latency reset a b",
            "latency graph command",
            "latency doctor",
            "latency help",
            "latency nosuch",
            "memory usage nokey",
            "memory usage",
            "memory usage k samples",
            "memory usage k samples x",
            "memory usage k samples -1",
            "memory usage k foo",
            "memory purge",
            "memory help",
            "memory nosuch",
            "debug sleep 0",
            "debug object k",
            "debug",
        ],
    ),
];

#[test]
fn admin_families_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("admin_families_answer_byte_for_byte_like_redis_server") else {
        return;
    };
    for protocol in ["2", "3"] {
        for (family, lines) in ADMIN_FAMILIES {
            let mut pair = Pair::new(&server);
            let mut script = vec![format!("hello {protocol}")];
            script.extend(lines.iter().map(|l| l.to_string()));
            let script: Vec<&str> = script.iter().map(String::as_str).collect();
            if let Err(e) = pair.compare(&steps(&script)) {
                panic!("family {family}, RESP{protocol}: {e}");
            }
        }
    }
}

/// `INFO everything`'s section titles and field names, in order, from a reply's text.
fn layout(text: &str) -> Vec<String> {
    text.split("\r\n")
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once(':') {
            Some((name, _)) => name.to_string(),
            None => line.to_string(),
        })
        // Per-command and per-error lines depend on what ran.
        .filter(|name| {
            !name.starts_with("cmdstat_")
                && !name.starts_with("errorstat_")
                && !name.starts_with("latency_percentiles_usec_")
                && !name.starts_with("db")
        })
        .collect()
}

#[test]
fn info_fields_are_redis_servers_in_its_order() {
    let Some(server) = real_or_skip("info_fields_are_redis_servers_in_its_order") else {
        return;
    };
    let stream = server.connect();
    let mut real = RealConn {
        stream,
        pending: Vec::new(),
    };
    let words = vec![b"INFO".to_vec(), b"everything".to_vec()];
    let reply = real.ask(&words);
    let real_text = String::from_utf8_lossy(&reply).into_owned();
    let mut pair = Pair::new(&server);
    let ours = pair.sessions[0].receive(b"INFO everything\r\n", &mut pair.emulator);
    let our_text = String::from_utf8_lossy(&ours.bytes).into_owned();
    let skip_header = |t: &str| t.split_once("\r\n").map(|(_, rest)| rest.to_string());
    assert_eq!(
        layout(&skip_header(&our_text).unwrap()),
        layout(&skip_header(&real_text).unwrap())
    );
}
