//! The Rust `redis` crate's script helper (`redis::Script`: `EVALSHA`, then `SCRIPT LOAD` on
//! `NOSCRIPT`) on scripts that switch to RESP3 with `redis.setresp(3)`, return typed tables
//! or use the `cmsgpack` and `struct` libraries, for the integration tests:
//! `mocket-redis-script-types URL` prints each reply as the crate parsed it.

#![forbid(unsafe_code)]

/// Each script, with the key it reads.
const SCRIPTS: &[&str] = &[
    "redis.setresp(3) local r = redis.call('hgetall', KEYS[1]) return {type(r.map), r.map.field}",
    "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
    "redis.setresp(3) return redis.call('zscore', KEYS[1] .. 'z', 'm')",
    "redis.setresp(3) return {true, false, redis.call('get', 'nosuch') == nil}",
    "return {double = 0.25}",
    "return {map = {only = KEYS[1]}}",
    "return {big_number = '123456789012345678901234567890'}",
    "return cmsgpack.pack({1, 2, {a = KEYS[1]}}, 1.5, -200)",
    "local t, n = cmsgpack.unpack(cmsgpack.pack({KEYS[1], 7})) return {t[1], t[2], n}",
    "return struct.pack('>I2 c0 d', 3, KEYS[1] .. 'xy', 0.5)",
    "return {struct.unpack('>I2 c0', struct.pack('>I2 c0', 2, 'ok'))}",
];

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mocket-redis-script-types URL");
        std::process::exit(2);
    };
    if let Err(e) = run(&url) {
        eprintln!("redis error: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    redis::cmd("FLUSHALL").exec(&mut con)?;
    redis::cmd("HSET")
        .arg("h")
        .arg("field")
        .arg("v")
        .exec(&mut con)?;
    redis::cmd("ZADD")
        .arg("hz")
        .arg(1.5)
        .arg("m")
        .exec(&mut con)?;
    for body in SCRIPTS {
        let value: redis::Value = redis::Script::new(body).key("h").invoke(&mut con)?;
        println!("{value:?}");
    }
    Ok(())
}
