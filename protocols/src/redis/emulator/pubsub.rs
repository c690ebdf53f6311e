//! Pub/sub between the connections of one emulator: SUBSCRIBE, PSUBSCRIBE, their UNs, and
//! PUBLISH. A published message is encoded for each receiver in its own protocol and left in
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
        "SUBSCRIBE" | "PSUBSCRIBE" => subscribe,
        "UNSUBSCRIBE" | "PUNSUBSCRIBE" => unsubscribe,
        "PUBLISH" => publish,
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
}

impl Subscriber {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
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
        let count = self.subscribers.get(&conn.id).map_or(0, Subscriber::count);
        conn.subscriptions = count;
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
        let outbox = self.outbox.entry(to).or_default();
        message.encode(sub.protocol, &mut outbox.bytes);
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
                reason: format!(
                    "subscriber connection {to} stopped reading: {limit} of pub/sub messages \
                     waited for it (Redis's client-output-buffer-limit pubsub 32mb 8mb 60); \
                     disconnected it as Redis does"
                ),
            });
            return;
        }
        if to != from && !self.wakeups.contains(&to) {
            self.wakeups.push(to);
        }
    }
}

/// The confirmation Redis sends for each (un)subscription: kind, name, count left.
fn notice(kind: &str, name: Reply, count: usize) -> Reply {
    Reply::Push(vec![Reply::bulk(kind), name, Reply::Int(count as i64)])
}

/// `SUBSCRIBE channel...` and `PSUBSCRIBE pattern...`: one confirmation per name.
fn subscribe(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let patterns = args[0].eq_ignore_ascii_case(b"PSUBSCRIBE");
    let kind = if patterns { "psubscribe" } else { "subscribe" };
    let sub = em.pubsub.of(conn);
    let notices = args[1..]
        .iter()
        .map(|name| {
            let set = if patterns {
                &mut sub.patterns
            } else {
                &mut sub.channels
            };
            set.insert(name.clone());
            notice(kind, Reply::bulk(name), sub.count())
        })
        .collect();
    em.pubsub.settle(conn);
    Reply::Several(notices)
}

/// `UNSUBSCRIBE [channel...]` and `PUNSUBSCRIBE [pattern...]`: without names, all of them;
/// with none to drop, a single confirmation naming nil.
fn unsubscribe(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let patterns = args[0].eq_ignore_ascii_case(b"PUNSUBSCRIBE");
    let kind = if patterns {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let sub = em.pubsub.of(conn);
    let set = if patterns {
        &sub.patterns
    } else {
        &sub.channels
    };
    let names: Vec<Vec<u8>> = match &args[1..] {
        [] => set.iter().cloned().collect(),
        given => given.to_vec(),
    };
    let mut notices = Vec::new();
    for name in &names {
        let set = if patterns {
            &mut sub.patterns
        } else {
            &mut sub.channels
        };
        set.shift_remove(name);
        notices.push(notice(kind, Reply::bulk(name), sub.count()));
    }
    if names.is_empty() {
        notices.push(notice(kind, Reply::Nil, sub.count()));
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
