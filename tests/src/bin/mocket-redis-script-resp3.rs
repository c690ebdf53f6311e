//! The Rust `redis` crate's script helper (`redis::Script`: `EVALSHA`, then `SCRIPT LOAD` on
//! `NOSCRIPT`) on scripts that switch to RESP3 with `redis.setresp(3)` and return typed
//! tables, for the integration tests: `mocket-redis-script-resp3 URL` prints each reply as
//! the crate parsed it.

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
];

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mocket-redis-script-resp3 URL");
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
