//! The Rust `redis` crate's script helper (`redis::Script`, which sends `EVALSHA` and, on
//! `NOSCRIPT`, loads the script and retries) for the integration tests:
//! `mocket-redis-script URL` takes a lock with `SET NX PX`, releases it with the usual
//! compare-and-delete script (first with a wrong token), and prints each step's result.

#![forbid(unsafe_code)]

/// Deletes the lock only if it still holds our token: the release of every Redis lock recipe.
const RELEASE: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
";

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mocket-redis-script URL");
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
    let taken: Option<String> = redis::cmd("SET")
        .arg("lock")
        .arg("token-1")
        .arg("NX")
        .arg("PX")
        .arg(10_000)
        .query(&mut con)?;
    println!("acquired {taken:?}");
    let release = redis::Script::new(RELEASE);
    let wrong: i64 = release.key("lock").arg("token-2").invoke(&mut con)?;
    println!("release with another token {wrong}");
    let right: i64 = release.key("lock").arg("token-1").invoke(&mut con)?;
    println!("release with our token {right}");
    let left: Option<String> = redis::cmd("GET").arg("lock").query(&mut con)?;
    println!("lock now {left:?}");
    let failing = redis::Script::new("return redis.call('incr', KEYS[1])");
    redis::cmd("SET").arg("text").arg("abc").exec(&mut con)?;
    match failing.key("text").invoke::<i64>(&mut con) {
        Ok(v) => println!("unexpected {v}"),
        Err(e) => println!("error {e}"),
    }
    Ok(())
}
