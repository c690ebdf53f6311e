//! A Rust `redis` crate client for the integration tests:
//! `mocket-redis-client URL 'CMD ARG...'...` runs each command on one connection and prints
//! each reply on a line; `mocket-redis-client URL --pipeline N` sends N `INCR counter` in one
//! pipeline and prints the last reply.

#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, rest)) = args.split_first() else {
        eprintln!("usage: mocket-redis-client URL 'CMD ARG...'... | URL --pipeline N");
        std::process::exit(2);
    };
    if let Err(e) = run(url, rest) {
        eprintln!("redis error: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str, rest: &[String]) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    if let [flag, n] = rest
        && flag == "--pipeline"
    {
        let n: usize = n.parse().expect("a count");
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("INCR").arg("counter");
        }
        let replies: Vec<i64> = pipe.query(&mut con)?;
        println!("{} replies, last {:?}", replies.len(), replies.last());
        return Ok(());
    }
    for line in rest {
        let mut words = line.split_whitespace();
        let mut cmd = redis::cmd(words.next().expect("a command"));
        for w in words {
            cmd.arg(w);
        }
        match cmd.query::<redis::Value>(&mut con) {
            Ok(v) => println!("{v:?}"),
            Err(e) => println!("error: {e}"),
        }
    }
    Ok(())
}
