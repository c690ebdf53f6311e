//! The Rust `redis` crate's stream API for the integration tests: `mocket-redis-streams URL`
//! runs a work queue through a consumer group (`xgroup_create_mkstream`, `xadd`,
//! `xread_options` with a group, `xack`, `xpending`, `xinfo_stream`), copies the stream with
//! `DUMP`/`RESTORE` and prints what each step returned, in an order that is the same on every
//! run (entry IDs are given, field maps are sorted).

#![forbid(unsafe_code)]

use redis::Commands;
use redis::streams::{StreamId, StreamPendingReply, StreamReadOptions, StreamReadReply};

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mocket-redis-streams URL");
        std::process::exit(2);
    };
    if let Err(e) = run(&url) {
        eprintln!("redis error: {e}");
        std::process::exit(1);
    }
}

/// An entry as `ID {field: value, ...}`, fields sorted.
fn entry(id: &StreamId) -> String {
    let mut fields: Vec<String> = id
        .map
        .keys()
        .map(|field| format!("{field}={}", id.get::<String>(field).unwrap_or_default()))
        .collect();
    fields.sort();
    format!("{} {{{}}}", id.id, fields.join(", "))
}

fn entries(reply: &StreamReadReply) -> String {
    let keys: Vec<String> = reply
        .keys
        .iter()
        .map(|key| {
            let ids: Vec<String> = key.ids.iter().map(entry).collect();
            format!("{}: [{}]", key.key, ids.join("; "))
        })
        .collect();
    keys.join(" | ")
}

fn run(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    let _: () = con.del(&["jobs", "jobs-copy"])?;
    let created: String = con.xgroup_create_mkstream("jobs", "workers", "$")?;
    println!("group {created}");
    for (id, task, size) in [
        ("1-0", "resize", "3"),
        ("2-0", "crop", "10"),
        ("3-0", "blur", "7"),
    ] {
        let added: String = con.xadd("jobs", id, &[("task", task), ("size", size)])?;
        println!("added {added}");
    }
    let alice = StreamReadOptions::default()
        .group("workers", "alice")
        .count(2);
    let read: StreamReadReply = con.xread_options(&["jobs"], &[">"], &alice)?;
    println!("alice read {}", entries(&read));
    let acked: usize = con.xack("jobs", "workers", &["1-0"])?;
    println!("acked {acked}");
    let bob = StreamReadOptions::default().group("workers", "bob");
    let read: StreamReadReply = con.xread_options(&["jobs"], &[">"], &bob)?;
    println!("bob read {}", entries(&read));
    match con.xpending("jobs", "workers")? {
        StreamPendingReply::Data(data) => {
            let consumers: Vec<String> = data
                .consumers
                .iter()
                .map(|c| format!("{}:{}", c.name, c.pending))
                .collect();
            println!(
                "pending {} {}..{} {}",
                data.count,
                data.start_id,
                data.end_id,
                consumers.join(",")
            );
        }
        _ => println!("pending none"),
    }
    let info: redis::streams::StreamInfoStreamReply = con.xinfo_stream("jobs")?;
    println!(
        "info length {} last {} groups {} first {}",
        info.length,
        info.last_generated_id,
        info.groups,
        entry(&info.first_entry)
    );
    let payload: Vec<u8> = redis::cmd("DUMP").arg("jobs").query(&mut con)?;
    let restored: String = redis::cmd("RESTORE")
        .arg("jobs-copy")
        .arg(0)
        .arg(payload)
        .query(&mut con)?;
    let copy: redis::streams::StreamRangeReply = con.xrange_all("jobs-copy")?;
    let copied: Vec<String> = copy.ids.iter().map(entry).collect();
    println!("restore {restored}: {}", copied.join("; "));
    let still_pending: StreamPendingReply = con.xpending("jobs-copy", "workers")?;
    println!("copy pending {}", still_pending.count());
    Ok(())
}
