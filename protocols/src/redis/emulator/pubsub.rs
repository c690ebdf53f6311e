//! Pub/sub between the connections of one emulator: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE (sharded
//! channels: one shard here, as a standalone Redis), their UNs, PUBLISH, SPUBLISH and the
//! `PUBSUB` introspection subcommands. A published message is encoded for each receiver in its own protocol and left in
//! that receiver's outbox; the engine writes it to the receiver's socket. An outbox is bounded
//! as Redis bounds a subscriber's output buffer ([`OutputLimits`]): past it, the subscriber
//! is dropped and the engine told to disconnect it ([`Eviction`]).

use std::collections::HashMap;

use indexmap::IndexSet;

use super::{Emulator, Handler};
use crate::redis::conn::Connection;
use crate::redis::glob;
use crate::redis::reply::{Protocol, Reply};

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => subscribe,
        "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" => unsubscribe,
        "PUBLISH" => publish,
        "SPUBLISH" => spublish,
        "PUBSUB" => introspect,
        _ => return None,
    })
}

/// Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`: a subscriber with more than the
/// hard limit of messages waiting, or more than the soft limit for longer than the seconds
/// given, is disconnected. Messages wait here only while the subscriber does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub hard: usize,
    pub soft: usize,
    pub soft_ms: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            hard: 32 * 1024 * 1024,
            soft: 8 * 1024 * 1024,
            soft_ms: 60_000,
        }
    }
}

/// A subscriber disconnected for not reading its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// The connection, as [`Connection::id`].
    pub id: u64,
    /// Why, for the driver's log and journal.
    pub reason: String,
}

/// Who listens to what, and the messages not yet written.
#[derive(Debug, Default)]
pub(super) struct PubSub {
    subscribers: HashMap<u64, Subscriber>,
    outbox: HashMap<u64, Outbox>,
    wakeups: Vec<u64>,
    pub(super) limits: OutputLimits,
    evictions: Vec<Eviction>,
}

#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    /// Since when (ms) it has held more than the soft limit.
    over_soft_since: Option<u64>,
}

#[derive(Debug, Default)]
struct Subscriber {
    protocol: Protocol,
    channels: IndexSet<Vec<u8>>,
    patterns: IndexSet<Vec<u8>>,
    shard_channels: IndexSet<Vec<u8>>,
}

/// What a (un)subscribe command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The kind a command subscribes to, by its name without `UN`: `SUBSCRIBE`, `PSUBSCRIBE`...
    fn of(command: &[u8]) -> Kind {
        match command.to_ascii_uppercase().as_slice() {
            b"PSUBSCRIBE" | b"PUNSUBSCRIBE" => Kind::Pattern,
            b"SSUBSCRIBE" | b"SUNSUBSCRIBE" => Kind::Shard,
            _ => Kind::Channel,
        }
    }

    /// The confirmation's kind word: `ssubscribe`, `punsubscribe`...
    fn word(self, subscribe: bool) -> String {
        let prefix = match self {
            Kind::Channel => "",
            Kind::Pattern => "p",
            Kind::Shard => "s",
        };
        let verb = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        format!("{prefix}{verb}")
    }
}

impl Subscriber {
    fn names(&self, kind: Kind) -> &IndexSet<Vec<u8>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn names_mut(&mut self, kind: Kind) -> &mut IndexSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The count a confirmation carries: shard channels are counted apart, as in Redis.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard_channels.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

impl PubSub {
    pub(super) fn take_outbox(&mut self, id: u64) -> Vec<u8> {
        self.outbox.remove(&id).map(|o| o.bytes).unwrap_or_default()
    }

    pub(super) fn take_wakeups(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.wakeups)
    }

    pub(super) fn take_evictions(&mut self) -> Vec<Eviction> {
        std::mem::take(&mut self.evictions)
    }

    /// Connection `id`'s channels, patterns and shard channels, for `CLIENT LIST`.
    pub(super) fn counts(&self, id: u64) -> [usize; 3] {
        self.subscribers.get(&id).map_or([0; 3], |s| {
            [s.channels.len(), s.patterns.len(), s.shard_channels.len()]
        })
    }

    pub(super) fn forget(&mut self, id: u64) {
        self.subscribers.remove(&id);
        self.outbox.remove(&id);
    }

    /// The subscriber record of a connection, made on first use.
    fn of(&mut self, conn: &Connection) -> &mut Subscriber {
        let sub = self.subscribers.entry(conn.id).or_default();
        sub.protocol = conn.protocol;
        sub
    }

    /// Records the connection's new subscription count, dropping it when it reaches zero.
    fn settle(&mut self, conn: &mut Connection) {
        let count = self.subscribers.get(&conn.id).map_or(0, Subscriber::total);
        conn.subscriptions = count;
        conn.subscription_kinds = self.counts(conn.id);
        if count == 0 {
            self.subscribers.remove(&conn.id);
        }
    }

    /// Leaves `message` in `to`'s outbox at `now` (ms), and disconnects `to` if the outbox
    /// is past its limits.
    fn deliver(&mut self, to: u64, from: u64, message: &Reply, now: u64) {
        let Some(sub) = self.subscribers.get(&to) else {
            return;
        };
        let protocol = sub.protocol;
        self.push_to(to, from, protocol, message, now);
    }

    /// Leaves `message`, encoded in `protocol`, in `to`'s outbox at `now` (ms), whether or not
    /// `to` subscribes: client-side caching's invalidations reach plain connections too.
    /// `from` is the connection running the command: its own session drains its outbox.
    pub(super) fn push_to(
        &mut self,
        to: u64,
        from: u64,
        protocol: Protocol,
        message: &Reply,
        now: u64,
    ) {
        let mut bytes = Vec::new();
        message.encode(protocol, &mut bytes);
        self.enqueue(to, from, &bytes, now, OutputClass::Pubsub);
    }

    /// Appends `bytes` to `to`'s outbox at `now` (ms) and wakes `to`'s pusher; `false` when
    /// the outbox went past its limits and `to` was dropped for the driver to disconnect.
    pub(super) fn enqueue(
        &mut self,
        to: u64,
        from: u64,
        bytes: &[u8],
        now: u64,
        class: OutputClass,
    ) -> bool {
        let outbox = self.outbox.entry(to).or_default();
        outbox.bytes.extend_from_slice(bytes);
        let waiting = outbox.bytes.len();
        let limits = self.limits;
        let over_soft_since = match waiting > limits.soft {
            true => *outbox.over_soft_since.get_or_insert(now),
            false => {
                outbox.over_soft_since = None;
                now
            }
        };
        let reason = if waiting > limits.hard {
            Some(format!("more than {} bytes", limits.hard))
        } else if now.saturating_sub(over_soft_since) > limits.soft_ms {
            Some(format!(
                "more than {} bytes for more than {} s",
                limits.soft,
                limits.soft_ms / 1000
            ))
        } else {
            None
        };
        if let Some(limit) = reason {
            self.forget(to);
            self.evictions.push(Eviction {
                id: to,
                reason: class.eviction(to, &limit),
            });
            return false;
        }
        if to != from && !self.wakeups.contains(&to) {
            self.wakeups.push(to);
        }
        true
    }
}

/// Whose output waits in an outbox: it names the limit in the eviction notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutputClass {
    Pubsub,
    /// A `MONITOR` connection: Redis counts it in the `normal` class, which has no limit by
    /// default; mocket applies the pub/sub limits so a monitor that stops reading cannot grow
    /// the engine's memory without bound.
    Monitor,
}

impl OutputClass {
    fn eviction(self, to: u64, limit: &str) -> String {
        match self {
            OutputClass::Pubsub => format!(
                "subscriber connection {to} stopped reading: {limit} of pub/sub or invalidation \
                 messages waited for it (Redis's client-output-buffer-limit pubsub 32mb 8mb 60); \
                 disconnected it as Redis does"
            ),
            OutputClass::Monitor => format!(
                "MONITOR connection {to} stopped reading: {limit} of monitor output waited for \
                 it (mocket caps a monitor like Redis's client-output-buffer-limit pubsub \
                 32mb 8mb 60; Redis's normal class has no limit); disconnected it"
            ),
        }
    }
}

/// The confirmation Redis sends for each (un)subscription: kind, name, count left.
fn notice(kind: &str, name: Reply, count: usize) -> Reply {
    Reply::Push(vec![Reply::bulk(kind), name, Reply::Int(count as i64)])
}

/// `SUBSCRIBE channel...`, `PSUBSCRIBE pattern...`, `SSUBSCRIBE shardchannel...`: one
/// confirmation per name.
fn subscribe(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let kind = Kind::of(&args[0]);
    let sub = em.pubsub.of(conn);
    let notices = args[1..]
        .iter()
        .map(|name| {
            sub.names_mut(kind).insert(name.clone());
            notice(&kind.word(true), Reply::bulk(name), sub.count(kind))
        })
        .collect();
    em.pubsub.settle(conn);
    Reply::Several(notices)
}

/// `UNSUBSCRIBE [channel...]`, `PUNSUBSCRIBE [pattern...]`, `SUNSUBSCRIBE [shardchannel...]`:
/// without names, all of them; with none to drop, a single confirmation naming nil.
fn unsubscribe(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let kind = Kind::of(&args[0]);
    let word = kind.word(false);
    let sub = em.pubsub.of(conn);
    let names: Vec<Vec<u8>> = match &args[1..] {
        [] => sub.names(kind).iter().cloned().collect(),
        given => given.to_vec(),
    };
    let mut notices = Vec::new();
    for name in &names {
        sub.names_mut(kind).shift_remove(name);
        notices.push(notice(&word, Reply::bulk(name), sub.count(kind)));
    }
    if names.is_empty() {
        notices.push(notice(&word, Reply::Nil, sub.count(kind)));
    }
    em.pubsub.settle(conn);
    Reply::Several(notices)
}

/// `PUBLISH channel message`: the number of receivers (a pattern subscriber counts once per
/// matching pattern).
fn publish(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (channel, message) = (&args[1], &args[2]);
    let mut deliveries = Vec::new();
    let mut ids: Vec<u64> = em.pubsub.subscribers.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let sub = &em.pubsub.subscribers[&id];
        if sub.channels.contains(channel) {
            let m = Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk(channel),
                Reply::bulk(message),
            ]);
            deliveries.push((id, m));
        }
        for pattern in sub.patterns.iter().filter(|p| glob::matches(p, channel)) {
            let m = Reply::Push(vec![
                Reply::bulk("pmessage"),
                Reply::bulk(pattern),
                Reply::bulk(channel),
                Reply::bulk(message),
            ]);
            deliveries.push((id, m));
        }
    }
    for (id, m) in &deliveries {
        em.pubsub.deliver(*id, conn.id, m, em.now);
    }
    Reply::Int(deliveries.len() as i64)
}

/// `SPUBLISH shardchannel message`: the number of shard subscribers it reached.
fn spublish(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let (channel, message) = (&args[1], &args[2]);
    let mut ids: Vec<u64> = em
        .pubsub
        .subscribers
        .iter()
        .filter(|(_, sub)| sub.shard_channels.contains(channel))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    let m = Reply::Push(vec![
        Reply::bulk("smessage"),
        Reply::bulk(channel),
        Reply::bulk(message),
    ]);
    for id in &ids {
        em.pubsub.deliver(*id, conn.id, &m, em.now);
    }
    Reply::Int(ids.len() as i64)
}

/// `PUBSUB CHANNELS|SHARDCHANNELS [pattern]`, `PUBSUB NUMSUB|SHARDNUMSUB [channel...]`,
/// `PUBSUB NUMPAT`.
fn introspect(em: &mut Emulator, _conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let kind = if sub.starts_with("shard") {
        Kind::Shard
    } else {
        Kind::Channel
    };
    let words = args.len();
    match sub.as_str() {
        "channels" | "shardchannels" if words > 3 => {
            crate::redis::conn::subcommand_syntax_error(&args[1], "PUBSUB")
        }
        "channels" | "shardchannels" => {
            let pattern = args.get(2);
            let mut names: Vec<&Vec<u8>> = Vec::new();
            for subscriber in em.pubsub.subscribers.values() {
                for name in subscriber.names(kind).iter() {
                    let wanted = pattern.is_none_or(|p| glob::matches(p, name));
                    if wanted && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            names.sort();
            Reply::bulks(names)
        }
        "numsub" | "shardnumsub" => {
            let mut pairs = Vec::new();
            for channel in &args[2..] {
                let count = em
                    .pubsub
                    .subscribers
                    .values()
                    .filter(|s| s.names(kind).contains(channel))
                    .count();
                pairs.push(Reply::bulk(channel));
                pairs.push(Reply::Int(count as i64));
            }
            Reply::Array(pairs)
        }
        "numpat" if words != 2 => crate::redis::spec::arity_error("pubsub|numpat"),
        "numpat" => {
            let mut patterns: Vec<&Vec<u8>> = em
                .pubsub
                .subscribers
                .values()
                .flat_map(|s| s.patterns.iter())
                .collect();
            patterns.sort();
            patterns.dedup();
            Reply::Int(patterns.len() as i64)
        }
        _ => crate::redis::conn::unknown_subcommand(&args[1], "PUBSUB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::conn::Session;
    use crate::redis::entry::Seed;

    fn send(em: &mut Emulator, session: &mut Session, words: &[&str]) -> String {
        let mut wire = format!("*{}\r\n", words.len());
        for w in words {
            wire.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        String::from_utf8(session.receive(wire.as_bytes(), em).bytes).unwrap()
    }

    #[test]
    fn spublish_reaches_shard_subscribers_only_as_smessage() {
        let mut em = Emulator::new(&Seed::new());
        let (mut shard, mut plain, mut publisher) =
            (Session::new(1), Session::new(2), Session::new(3));
        send(&mut em, &mut shard, &["SSUBSCRIBE", "orders"]);
        send(&mut em, &mut plain, &["SUBSCRIBE", "orders"]);
        assert_eq!(
            send(&mut em, &mut publisher, &["SPUBLISH", "orders", "o1"]),
            ":1\r\n"
        );
        assert_eq!(
            String::from_utf8(em.take_outbox(1)).unwrap(),
            "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\no1\r\n"
        );
        assert!(
            em.take_outbox(2).is_empty(),
            "PUBLISH subscribers do not get SPUBLISH"
        );
        assert_eq!(
            send(&mut em, &mut publisher, &["PUBLISH", "orders", "p"]),
            ":1\r\n"
        );
        assert!(
            em.take_outbox(1).is_empty(),
            "shard subscribers do not get PUBLISH"
        );
        assert_eq!(em.take_wakeups(), vec![1, 2]);
    }
}
