//! A Rust `redis` crate client that reads RESP3 pushes, for the client-side caching tests:
//! `mocket-redis-tracking URL 'CMD ARG...'...` runs each command on one connection and prints
//! its reply, then each push the crate delivered meanwhile (`push KIND DATA`).

#![forbid(unsafe_code)]

use std::sync::mpsc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, commands)) = args.split_first() else {
        eprintln!("usage: mocket-redis-tracking URL 'CMD ARG...'...");
        std::process::exit(2);
    };
    if let Err(e) = run(url, commands) {
        eprintln!("redis error: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str, commands: &[String]) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    let (pushes, received) = mpsc::channel();
    con.set_push_sender(pushes);
    for line in commands {
        let mut words = line.split_whitespace();
        let mut cmd = redis::cmd(words.next().expect("a command"));
        for w in words {
            cmd.arg(w);
        }
        match cmd.query::<redis::Value>(&mut con) {
            Ok(v) => println!("{v:?}"),
            Err(e) => println!("error: {e}"),
        }
        while let Ok(push) = received.try_recv() {
            println!("push {:?} {:?}", push.kind, push.data);
        }
    }
    Ok(())
}
