//! The commands mocket knows, with Redis's arity, flags and key positions: the source of the
//! arity errors and of the `COMMAND` reply.

use super::command::Command;
use super::command_meta;
use super::reply::Reply;

/// One command as `COMMAND INFO` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Lower-case, as Redis names commands in errors.
    pub name: &'static str,
    /// Redis's convention: `n` exactly n words (name included), `-n` at least n.
    pub arity: i32,
    pub flags: &'static [&'static str],
    /// First key, last key (negative: from the end), step; zeros for no keys.
    pub keys: (i32, i32, i32),
}

impl Spec {
    /// Whether `words` (name included) is a number of words the command accepts.
    pub fn arity_ok(&self, words: usize) -> bool {
        let words = i64::try_from(words).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            words == arity
        } else {
            words >= -arity
        }
    }

    /// The `COMMAND INFO` entry: Redis's own (categories, tips, key specs, subcommands), or
    /// for a command Redis lacks, its arity, flags and key range alone.
    pub fn info(&self) -> Reply {
        if let Some(meta) = command_meta::find(self.name) {
            return meta.info();
        }
        let (first, last, step) = self.keys;
        Reply::Array(vec![
            Reply::bulk(self.name),
            Reply::Int(self.arity.into()),
            Reply::Set(
                self.flags
                    .iter()
                    .map(|f| Reply::Simple(f.to_string()))
                    .collect(),
            ),
            Reply::Int(first.into()),
            Reply::Int(last.into()),
            Reply::Int(step.into()),
            Reply::Set(vec![]),
            Reply::Set(vec![]),
            Reply::Array(vec![]),
            Reply::Array(vec![]),
        ])
    }
}

impl Spec {
    /// The indexes of the keys of `args` (name first), as Redis's key specs locate them for
    /// the command or its subcommand: what WATCH, ACL key rules and `COMMAND GETKEYS` use.
    /// Empty when they cannot be located (the command then answers a syntax error).
    pub fn key_indexes(&self, args: &[Vec<u8>]) -> Vec<usize> {
        let Some(meta) = command_meta::resolve(args) else {
            return Vec::new();
        };
        if !meta.has_keys() {
            return Vec::new();
        }
        meta.keys(args)
            .map(|keys| keys.iter().map(|k| k.index).collect())
            .unwrap_or_default()
    }
}

/// Redis's error for a wrong number of arguments; `name` is the canonical lower-case name
/// (`client|setname` for a subcommand).
pub fn arity_error(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis's reply to a command it does not have: the name, then the first arguments quoted,
/// up to about 128 characters, each followed by a space.
pub fn unknown_command(cmd: &Command) -> Reply {
    let mut args = Vec::new();
    for arg in cmd.params() {
        if args.len() >= 128 {
            break;
        }
        // C's `%.*s`: at most the room left, and a NUL ends the string.
        let text = arg.split(|b| *b == 0).next().unwrap_or_default();
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(&text[..text.len().min(room)]);
        args.extend_from_slice(b"' ");
    }
    let name = &cmd.args[0];
    let name = &name[..name.len().min(128)];
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(&args)
    ))
}

/// The spec of a command by name, case-insensitively.
pub fn find(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

const R: &[&str] = &["readonly", "fast"];
const RS: &[&str] = &["readonly"];
const W: &[&str] = &["write", "fast"];
const WS: &[&str] = &["write"];
const WD: &[&str] = &["write", "denyoom", "fast"];
const WDS: &[&str] = &["write", "denyoom"];
const CONN: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const PUBSUB: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const BLOCKING: &[&str] = &["write", "noscript", "blocking"];
const BLOCKING_DENYOOM: &[&str] = &["write", "denyoom", "noscript", "blocking"];
const BLOCKING_FAST: &[&str] = &["write", "noscript", "blocking", "fast"];
const SCRIPT: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];
const SCRIPT_RO: &[&str] = &[
    "readonly",
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
    }
}

const ONE: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const NONE: (i32, i32, i32) = (0, 0, 0);

/// Every command mocket answers: the connection's own and the emulator's.
pub static SPECS: &[Spec] = &[
    // Connection.
    spec("hello", -1, CONN, NONE),
    spec("auth", -2, CONN, NONE),
    spec("client", -2, &[], NONE),
    spec("select", 2, &["loading", "stale", "fast"], NONE),
    spec("ping", -1, &["fast"], NONE),
    spec("echo", 2, &["loading", "stale", "fast"], NONE),
    spec("command", -1, &["loading", "stale"], NONE),
    spec("info", -1, &["loading", "stale"], NONE),
    spec("quit", -1, CONN, NONE),
    spec("reset", 1, CONN, NONE),
    spec("time", 1, &["loading", "stale", "fast"], NONE),
    // Transactions.
    spec("multi", 1, TX, NONE),
    spec(
        "exec",
        1,
        &["noscript", "loading", "stale", "skip_slowlog"],
        NONE,
    ),
    spec("discard", 1, TX, NONE),
    spec("watch", -2, TX, ALL),
    spec("unwatch", 1, TX, NONE),
    // Strings.
    spec("get", 2, R, ONE),
    spec("set", -3, WDS, ONE),
    spec("setnx", 3, WD, ONE),
    spec("setex", 4, WDS, ONE),
    spec("psetex", 4, WDS, ONE),
    spec("getset", 3, WD, ONE),
    spec("getdel", 2, W, ONE),
    spec("mget", -2, R, ALL),
    spec("mset", -3, WDS, (1, -1, 2)),
    spec("msetnx", -3, WDS, (1, -1, 2)),
    spec("incr", 2, WD, ONE),
    spec("decr", 2, WD, ONE),
    spec("incrby", 3, WD, ONE),
    spec("decrby", 3, WD, ONE),
    spec("append", 3, WD, ONE),
    spec("strlen", 2, R, ONE),
    spec("getrange", 4, RS, ONE),
    spec("substr", 4, RS, ONE),
    spec("setrange", 4, WDS, ONE),
    spec("getex", -2, W, ONE),
    // Keys.
    spec("del", -2, WS, ALL),
    spec("unlink", -2, W, ALL),
    spec("exists", -2, R, ALL),
    spec("expire", -3, W, ONE),
    spec("pexpire", -3, W, ONE),
    spec("expireat", -3, W, ONE),
    spec("pexpireat", -3, W, ONE),
    spec("expiretime", 2, R, ONE),
    spec("pexpiretime", 2, R, ONE),
    spec("ttl", 2, R, ONE),
    spec("pttl", 2, R, ONE),
    spec("persist", 2, W, ONE),
    spec("keys", 2, RS, NONE),
    spec("scan", -2, RS, NONE),
    spec("type", 2, R, ONE),
    spec("rename", 3, WS, (1, 2, 1)),
    spec("renamenx", 3, W, (1, 2, 1)),
    spec("flushdb", -1, WS, NONE),
    spec("flushall", -1, WS, NONE),
    spec("dbsize", 1, R, NONE),
    spec("touch", -2, R, ALL),
    // Hashes.
    spec("hset", -4, WD, ONE),
    spec("hmset", -4, WD, ONE),
    spec("hsetnx", 4, WD, ONE),
    spec("hget", 3, R, ONE),
    spec("hmget", -3, R, ONE),
    spec("hgetall", 2, RS, ONE),
    spec("hdel", -3, W, ONE),
    spec("hincrby", 4, WD, ONE),
    spec("hexists", 3, R, ONE),
    spec("hkeys", 2, RS, ONE),
    spec("hvals", 2, RS, ONE),
    spec("hlen", 2, R, ONE),
    spec("hstrlen", 3, R, ONE),
    spec("hscan", -3, RS, ONE),
    // Lists.
    spec("lpush", -3, WD, ONE),
    spec("rpush", -3, WD, ONE),
    spec("lpop", -2, W, ONE),
    spec("rpop", -2, W, ONE),
    spec("lrange", 4, RS, ONE),
    spec("llen", 2, R, ONE),
    spec("lindex", 3, RS, ONE),
    spec("lrem", 4, WS, ONE),
    spec("ltrim", 4, WS, ONE),
    spec("lmove", 5, WDS, (1, 2, 1)),
    spec("lpushx", -3, WD, ONE),
    spec("rpushx", -3, WD, ONE),
    spec("lset", 4, WDS, ONE),
    spec("linsert", 5, WDS, ONE),
    spec("lpos", -3, RS, ONE),
    spec("rpoplpush", 3, WDS, (1, 2, 1)),
    spec("blpop", -3, BLOCKING, (1, -2, 1)),
    spec("brpop", -3, BLOCKING, (1, -2, 1)),
    spec("blmove", 6, BLOCKING_DENYOOM, (1, 2, 1)),
    spec("brpoplpush", 4, BLOCKING_DENYOOM, (1, 2, 1)),
    // Sets.
    spec("sadd", -3, WD, ONE),
    spec("srem", -3, W, ONE),
    spec("smembers", 2, RS, ONE),
    spec("sismember", 3, R, ONE),
    spec("smismember", -3, R, ONE),
    spec("scard", 2, R, ONE),
    spec("sinter", -2, RS, ALL),
    spec("sunion", -2, RS, ALL),
    spec("sdiff", -2, RS, ALL),
    spec("sinterstore", -3, WDS, ALL),
    spec("sunionstore", -3, WDS, ALL),
    spec("sdiffstore", -3, WDS, ALL),
    spec("sintercard", -3, &["readonly", "movablekeys"], NONE),
    spec("smove", 4, W, (1, 2, 1)),
    spec("sscan", -3, RS, ONE),
    spec("spop", -2, W, ONE),
    spec("srandmember", -2, RS, ONE),
    // Sorted sets.
    spec("zadd", -4, WD, ONE),
    spec("zincrby", 4, WD, ONE),
    spec("zrange", -4, RS, ONE),
    spec("zrevrange", -4, RS, ONE),
    spec("zrangebyscore", -4, RS, ONE),
    spec("zrevrangebyscore", -4, RS, ONE),
    spec("zrangebylex", -4, RS, ONE),
    spec("zrevrangebylex", -4, RS, ONE),
    spec("zremrangebyscore", 4, WS, ONE),
    spec("zremrangebyrank", 4, WS, ONE),
    spec("zremrangebylex", 4, WS, ONE),
    spec("zlexcount", 4, R, ONE),
    spec("zscan", -3, RS, ONE),
    spec("zscore", 3, R, ONE),
    spec("zrank", 3, R, ONE),
    spec("zrevrank", 3, R, ONE),
    spec("zmscore", -3, R, ONE),
    spec("zrem", -3, W, ONE),
    spec("zcard", 2, R, ONE),
    spec("zcount", 4, R, ONE),
    spec("zpopmin", -2, W, ONE),
    spec("zpopmax", -2, W, ONE),
    spec("bzpopmin", -3, BLOCKING_FAST, (1, -2, 1)),
    spec("bzpopmax", -3, BLOCKING_FAST, (1, -2, 1)),
    // Data-type commands of issue 19: sorted-set algebra and multi-pops.
    spec("zunion", -3, &["readonly", "movablekeys"], NONE),
    spec("zinter", -3, &["readonly", "movablekeys"], NONE),
    spec("zdiff", -3, &["readonly", "movablekeys"], NONE),
    spec("zunionstore", -4, &["write", "denyoom", "movablekeys"], ONE),
    spec("zinterstore", -4, &["write", "denyoom", "movablekeys"], ONE),
    spec("zdiffstore", -4, &["write", "denyoom", "movablekeys"], ONE),
    spec("zintercard", -3, &["readonly", "movablekeys"], NONE),
    spec("zrangestore", -5, WDS, (1, 2, 1)),
    spec("zrandmember", -2, RS, ONE),
    spec("zmpop", -4, &["write", "movablekeys"], NONE),
    spec("bzmpop", -5, &["write", "blocking", "movablekeys"], NONE),
    spec("lmpop", -4, &["write", "movablekeys"], NONE),
    spec("blmpop", -5, &["write", "blocking", "movablekeys"], NONE),
    spec("incrbyfloat", 3, WD, ONE),
    spec("hincrbyfloat", 4, WD, ONE),
    spec("hrandfield", -2, RS, ONE),
    spec("lcs", -3, RS, (1, 2, 1)),
    spec("copy", -3, WDS, (1, 2, 1)),
    spec("move", 3, W, ONE),
    spec("swapdb", 3, W, NONE),
    spec("randomkey", 1, RS, NONE),
    spec("object", -2, &[], NONE),
    spec("setbit", 4, WDS, ONE),
    spec("getbit", 3, R, ONE),
    spec("bitcount", -2, RS, ONE),
    spec("bitpos", -3, RS, ONE),
    spec("bitop", -4, WDS, (2, -1, 1)),
    spec("bitfield", -2, WDS, ONE),
    spec("bitfield_ro", -2, R, ONE),
    spec("sort", -2, &["write", "denyoom", "movablekeys"], ONE),
    spec("sort_ro", -2, &["readonly", "movablekeys"], ONE),
    // Scripting.
    spec("eval", -3, SCRIPT, NONE),
    spec("eval_ro", -3, SCRIPT_RO, NONE),
    spec("evalsha", -3, SCRIPT, NONE),
    spec("evalsha_ro", -3, SCRIPT_RO, NONE),
    spec("script", -2, &["noscript"], NONE),
    // Functions.
    spec("fcall", -3, SCRIPT, NONE),
    spec("fcall_ro", -3, SCRIPT_RO, NONE),
    spec("function", -2, &["noscript"], NONE),
    // Pub/sub.
    spec("subscribe", -2, PUBSUB, NONE),
    spec("unsubscribe", -1, PUBSUB, NONE),
    spec("psubscribe", -2, PUBSUB, NONE),
    spec("punsubscribe", -1, PUBSUB, NONE),
    spec("publish", 3, &["pubsub", "loading", "stale", "fast"], NONE),
    // Sharded pub/sub and introspection.
    spec("ssubscribe", -2, PUBSUB, (1, -1, 1)),
    spec("sunsubscribe", -1, PUBSUB, (1, -1, 1)),
    spec("spublish", 3, &["pubsub", "loading", "stale", "fast"], ONE),
    spec("pubsub", -2, &[], NONE),
    // Streams.
    spec("xadd", -5, WD, ONE),
    spec("xlen", 2, R, ONE),
    spec("xrange", -4, RS, ONE),
    spec("xrevrange", -4, RS, ONE),
    spec("xdel", -3, W, ONE),
    spec("xtrim", -4, WS, ONE),
    spec("xsetid", -3, WD, ONE),
    spec("xread", -4, &["readonly", "blocking", "movablekeys"], NONE),
    spec(
        "xreadgroup",
        -7,
        &["write", "blocking", "movablekeys"],
        NONE,
    ),
    spec("xgroup", -2, &[], NONE),
    spec("xack", -4, W, ONE),
    spec("xpending", -3, RS, ONE),
    spec("xclaim", -6, W, ONE),
    spec("xautoclaim", -6, W, ONE),
    spec("xinfo", -2, &[], NONE),
    // HyperLogLog.
    spec("pfadd", -2, WD, ONE),
    spec("pfcount", -2, RS, ALL),
    spec("pfmerge", -2, WDS, ALL),
    // Geo.
    spec("geoadd", -5, WDS, ONE),
    spec("geodist", -4, RS, ONE),
    spec("geohash", -2, RS, ONE),
    spec("geopos", -2, RS, ONE),
    spec("georadius", -6, &["write", "denyoom", "movablekeys"], ONE),
    spec("georadius_ro", -6, RS, ONE),
    spec(
        "georadiusbymember",
        -5,
        &["write", "denyoom", "movablekeys"],
        ONE,
    ),
    spec("georadiusbymember_ro", -5, RS, ONE),
    spec("geosearch", -7, RS, ONE),
    spec("geosearchstore", -8, WDS, (1, 2, 1)),
    // DUMP and RESTORE.
    spec("dump", 2, RS, ONE),
    spec("restore", -4, WDS, ONE),
    // MIGRATE between emulated addresses.
    spec("migrate", -6, &["write", "movablekeys"], (3, 3, 1)),
    // Replication introspection of a standalone server (issue 19).
    spec("wait", 3, &["noscript"], NONE),
    spec("role", 1, &["noscript", "loading", "stale", "fast"], NONE),
    // Cluster commands, which a standalone server refuses.
    spec("cluster", -2, &[], NONE),
    spec("readonly", 1, &["loading", "stale", "fast"], NONE),
    spec("readwrite", 1, &["loading", "stale", "fast"], NONE),
    spec("asking", 1, &["fast"], NONE),
    // Server administration (container commands: flags are the subcommands').
    spec("config", -2, &[], NONE),
    spec("acl", -2, &[], NONE),
    spec("slowlog", -2, &[], NONE),
    spec("latency", -2, &[], NONE),
    spec("memory", -2, &[], NONE),
    spec(
        "debug",
        -2,
        &["admin", "noscript", "loading", "stale"],
        NONE,
    ),
    // MONITOR (issue 19).
    spec(
        "monitor",
        1,
        &["admin", "noscript", "loading", "stale"],
        NONE,
    ),
];

/// Every command and subcommand (`client|tracking`) of Redis 7.0.15, lower-case and sorted, as
/// its `COMMAND LIST` names them: a command outside this list is one Redis rejects too, so a
/// client that probes it is not a gap of the emulator.
pub static REDIS_7_COMMANDS: &[&str] = &[
    "acl",
    "acl|cat",
    "acl|deluser",
    "acl|dryrun",
    "acl|genpass",
    "acl|getuser",
    "acl|help",
    "acl|list",
    "acl|load",
    "acl|log",
    "acl|save",
    "acl|setuser",
    "acl|users",
    "acl|whoami",
    "append",
    "asking",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "bitcount",
    "bitfield",
    "bitfield_ro",
    "bitop",
    "bitpos",
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "client",
    "client|caching",
    "client|getname",
    "client|getredir",
    "client|help",
    "client|id",
    "client|info",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|pause",
    "client|reply",
    "client|setname",
    "client|tracking",
    "client|trackinginfo",
    "client|unblock",
    "client|unpause",
    "cluster",
    "cluster|addslots",
    "cluster|addslotsrange",
    "cluster|bumpepoch",
    "cluster|count-failure-reports",
    "cluster|countkeysinslot",
    "cluster|delslots",
    "cluster|delslotsrange",
    "cluster|failover",
    "cluster|flushslots",
    "cluster|forget",
    "cluster|getkeysinslot",
    "cluster|help",
    "cluster|info",
    "cluster|keyslot",
    "cluster|links",
    "cluster|meet",
    "cluster|myid",
    "cluster|nodes",
    "cluster|replicas",
    "cluster|replicate",
    "cluster|reset",
    "cluster|saveconfig",
    "cluster|set-config-epoch",
    "cluster|setslot",
    "cluster|shards",
    "cluster|slaves",
    "cluster|slots",
    "command",
    "command|count",
    "command|docs",
    "command|getkeys",
    "command|getkeysandflags",
    "command|help",
    "command|info",
    "command|list",
    "config",
    "config|get",
    "config|help",
    "config|resetstat",
    "config|rewrite",
    "config|set",
    "copy",
    "dbsize",
    "debug",
    "decr",
    "decrby",
    "del",
    "discard",
    "dump",
    "echo",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "failover",
    "fcall",
    "fcall_ro",
    "flushall",
    "flushdb",
    "function",
    "function|delete",
    "function|dump",
    "function|flush",
    "function|help",
    "function|kill",
    "function|list",
    "function|load",
    "function|restore",
    "function|stats",
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
    "get",
    "getbit",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "hdel",
    "hello",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hrandfield",
    "hscan",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "incr",
    "incrby",
    "incrbyfloat",
    "info",
    "keys",
    "lastsave",
    "latency",
    "latency|doctor",
    "latency|graph",
    "latency|help",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "lcs",
    "lindex",
    "linsert",
    "llen",
    "lmove",
    "lmpop",
    "lolwut",
    "lpop",
    "lpos",
    "lpush",
    "lpushx",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "memory",
    "memory|doctor",
    "memory|help",
    "memory|malloc-stats",
    "memory|purge",
    "memory|stats",
    "memory|usage",
    "mget",
    "migrate",
    "module",
    "module|help",
    "module|list",
    "module|load",
    "module|loadex",
    "module|unload",
    "monitor",
    "move",
    "mset",
    "msetnx",
    "multi",
    "object",
    "object|encoding",
    "object|freq",
    "object|help",
    "object|idletime",
    "object|refcount",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "pfadd",
    "pfcount",
    "pfdebug",
    "pfmerge",
    "pfselftest",
    "ping",
    "psetex",
    "psubscribe",
    "psync",
    "pttl",
    "publish",
    "pubsub",
    "pubsub|channels",
    "pubsub|help",
    "pubsub|numpat",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    "punsubscribe",
    "quit",
    "randomkey",
    "readonly",
    "readwrite",
    "rename",
    "renamenx",
    "replconf",
    "replicaof",
    "reset",
    "restore",
    "restore-asking",
    "role",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
    "sadd",
    "save",
    "scan",
    "scard",
    "script",
    "script|debug",
    "script|exists",
    "script|flush",
    "script|help",
    "script|kill",
    "script|load",
    "sdiff",
    "sdiffstore",
    "select",
    "set",
    "setbit",
    "setex",
    "setnx",
    "setrange",
    "shutdown",
    "sinter",
    "sintercard",
    "sinterstore",
    "sismember",
    "slaveof",
    "slowlog",
    "slowlog|get",
    "slowlog|help",
    "slowlog|len",
    "slowlog|reset",
    "smembers",
    "smismember",
    "smove",
    "sort",
    "sort_ro",
    "spop",
    "spublish",
    "srandmember",
    "srem",
    "sscan",
    "ssubscribe",
    "strlen",
    "subscribe",
    "substr",
    "sunion",
    "sunionstore",
    "sunsubscribe",
    "swapdb",
    "sync",
    "time",
    "touch",
    "ttl",
    "type",
    "unlink",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|help",
    "xgroup|setid",
    "xinfo",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|help",
    "xinfo|stream",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xsetid",
    "xtrim",
    "zadd",
    "zcard",
    "zcount",
    "zdiff",
    "zdiffstore",
    "zincrby",
    "zinter",
    "zintercard",
    "zinterstore",
    "zlexcount",
    "zmpop",
    "zmscore",
    "zpopmax",
    "zpopmin",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
    "zunionstore",
];

/// Whether Redis 7.0 has the command `name`, or its subcommand `sub` when given
/// (case-insensitively).
pub fn redis_has(name: &str, sub: Option<&str>) -> bool {
    let mut full = name.to_ascii_lowercase();
    if let Some(sub) = sub {
        full.push('|');
        full.push_str(&sub.to_ascii_lowercase());
    }
    REDIS_7_COMMANDS.binary_search(&full.as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_follows_redis_convention() {
        let get = find("GeT").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let set = find("set").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(9) && !set.arity_ok(2));
        assert!(find("nosuch").is_none());
    }

    #[test]
    fn unknown_command_quotes_the_first_arguments() {
        let text = |words: &[&str]| match unknown_command(&Command::new(words)) {
            Reply::Error(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text(&["foo", "a", "b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            text(&["Foo"]),
            "ERR unknown command 'Foo', with args beginning with: "
        );
        let long = "x".repeat(200);
        let e = text(&["f", &long, "next"]);
        assert_eq!(
            e,
            format!(
                "ERR unknown command 'f', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
    }

    #[test]
    fn redis_7_commands_are_sorted_and_include_every_spec() {
        assert!(REDIS_7_COMMANDS.windows(2).all(|w| w[0] < w[1]));
        for s in SPECS {
            assert!(redis_has(s.name, None), "{}", s.name);
        }
        assert!(redis_has("Client", Some("TRACKING")));
        assert!(!redis_has("client", Some("nosuch")));
        assert!(!redis_has("nosuch", None));
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        for (i, s) in SPECS.iter().enumerate() {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(SPECS[..i].iter().all(|o| o.name != s.name), "{}", s.name);
        }
    }
}
