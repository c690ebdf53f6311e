//! The live connections of one emulated address, as `CLIENT LIST`, `CLIENT INFO` and `CLIENT
//! KILL` see them: the emulator is shared by every connection of the engine (and so of the
//! process tree), so each connection's state is mirrored here after each of its commands.
//!
//! Sans-IO: the driver registers a connection when it opens ([`ClientRegistry::register`]),
//! removes it when it closes, and closes the connections `CLIENT KILL` chose
//! ([`ClientRegistry::take_kills`]).

use std::collections::BTreeMap;

use super::auth::DEFAULT_USER;
use super::command::{Command, strict_i64};
use super::conn::Connection;
use super::reply::Reply;
use super::spec;

/// Redis's default `maxclients`: connections past it are served but not listed, so a client
/// opening connections in a loop cannot grow the registry without bound.
pub const MAX_CLIENTS: usize = 10_000;

/// Where a connection comes from when the driver did not say (unit tests).
const UNKNOWN_ADDR: &str = "127.0.0.1:0";
const UNKNOWN_LADDR: &str = "127.0.0.1:6379";

/// One connection as `CLIENT LIST` shows it.
#[derive(Debug, Clone)]
struct ClientRecord {
    addr: String,
    laddr: String,
    created_ms: u64,
    last_ms: u64,
    /// The last command, `client|list` for a subcommand; `NULL` before the first, as in Redis.
    cmd: String,
    name: String,
    db: usize,
    /// Channels, patterns and shard channels.
    subs: [usize; 3],
    /// Commands queued by `MULTI`; -1 outside a transaction.
    multi: i64,
    blocked: bool,
    no_evict: bool,
    /// Ran `MONITOR`: flag `O`.
    monitor: bool,
    user: String,
    resp: i64,
    /// Client-side caching: the `t`, `R` and `B` flags and `redir=`, set by the emulator.
    tracking: TrackingView,
}

/// What `CLIENT LIST` shows of a connection's `CLIENT TRACKING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingView {
    /// The flag letters, in Redis's order (`t`, `R`, `B`); empty while tracking is off.
    pub flags: String,
    /// The connection invalidations are redirected to, 0 for none, -1 while tracking is off.
    pub redir: i64,
}

impl Default for TrackingView {
    fn default() -> Self {
        TrackingView {
            flags: String::new(),
            redir: -1,
        }
    }
}

impl ClientRecord {
    fn new(addr: &str, laddr: &str, now: u64) -> Self {
        ClientRecord {
            addr: addr.into(),
            laddr: laddr.into(),
            created_ms: now,
            last_ms: now,
            cmd: "NULL".into(),
            name: String::new(),
            db: 0,
            subs: [0; 3],
            multi: -1,
            blocked: false,
            no_evict: false,
            monitor: false,
            user: DEFAULT_USER.into(),
            resp: 2,
            tracking: TrackingView::default(),
        }
    }

    fn is_pubsub(&self) -> bool {
        self.subs.iter().any(|&n| n > 0)
    }

    /// Redis's flag letters, in Redis's order; `N` when none applies.
    fn flags(&self) -> String {
        let mut flags = String::new();
        for (set, letter) in [
            (self.monitor, 'O'),
            (self.is_pubsub(), 'P'),
            (self.multi >= 0, 'x'),
            (self.blocked, 'b'),
            (self.no_evict, 'e'),
        ] {
            if set {
                flags.push(letter);
            }
            if letter == 'b' {
                flags.push_str(&self.tracking.flags);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }

    /// The `CLIENT LIST` line, fields in Redis 7.0's order. Memory and buffer figures the
    /// emulator does not have are those of an idle Redis connection.
    fn line(&self, id: u64, now: u64) -> String {
        format!(
            "id={id} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} \
             ssub={} multi={} qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=16384 rbp=16384 \
             obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd={} user={} redir={} resp={}\n",
            self.addr,
            self.laddr,
            id + 7,
            self.name,
            now.saturating_sub(self.created_ms) / 1000,
            now.saturating_sub(self.last_ms) / 1000,
            self.flags(),
            self.db,
            self.subs[0],
            self.subs[1],
            self.subs[2],
            self.multi,
            self.cmd,
            self.user,
            self.tracking.redir,
            self.resp,
        )
    }
}

/// The connections of an emulated address, by `CLIENT ID`.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: BTreeMap<u64, ClientRecord>,
    /// Connections `CLIENT KILL` chose, for the driver to close.
    kills: Vec<u64>,
    /// Unix milliseconds, set by the backend before it lends the registry out.
    pub(crate) now: u64,
}

/// Which connections a `CLIENT KILL` filter or `CLIENT LIST TYPE` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    /// Replicas and masters: the emulator has none.
    Replication,
    Pubsub,
}

impl ClientType {
    fn parse(word: &[u8]) -> Result<Self, Reply> {
        let lower = String::from_utf8_lossy(word).to_ascii_lowercase();
        match lower.as_str() {
            "normal" => Ok(ClientType::Normal),
            "master" | "replica" | "slave" => Ok(ClientType::Replication),
            "pubsub" => Ok(ClientType::Pubsub),
            _ => Err(Reply::error(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(word)
            ))),
        }
    }

    fn of(record: &ClientRecord) -> Self {
        if record.is_pubsub() {
            ClientType::Pubsub
        } else {
            ClientType::Normal
        }
    }
}

/// The filters of the new form of `CLIENT KILL`; every one given must match.
#[derive(Debug, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
    kind: Option<ClientType>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, id: u64, record: &ClientRecord, caller: u64) -> bool {
        (!self.skip_me || id != caller)
            && self.id.is_none_or(|want| want == id)
            && self
                .addr
                .as_ref()
                .is_none_or(|a| a == record.addr.as_bytes())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| a == record.laddr.as_bytes())
            && self
                .user
                .as_ref()
                .is_none_or(|u| u == record.user.as_bytes())
            && self.kind.is_none_or(|k| k == ClientType::of(record))
    }
}

impl ClientRegistry {
    /// A new connection from `addr` to `laddr` (`ip:port`); `false` when the registry is full
    /// and the connection goes unlisted.
    pub fn register(&mut self, id: u64, addr: &str, laddr: &str) -> bool {
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&id) {
            return false;
        }
        self.clients
            .insert(id, ClientRecord::new(addr, laddr, self.now));
        true
    }

    /// Forgets a closed connection.
    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
        self.kills.retain(|&k| k != id);
    }

    /// Whether connection `id` is open (as `CLIENT TRACKING ... REDIRECT` asks).
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.clients.contains_key(&id)
    }

    /// Sets what `CLIENT LIST` shows of connection `id`'s client-side caching.
    pub fn set_tracking(&mut self, id: u64, view: TrackingView) {
        if let Some(record) = self.record(id) {
            record.tracking = view;
        }
    }

    /// The protocol version (2 or 3) of connection `id`, and whether it is subscribed to
    /// anything: how an invalidation reaches it. `None` for a connection that is gone.
    pub fn delivery(&self, id: u64) -> Option<(i64, bool)> {
        self.clients.get(&id).map(|r| (r.resp, r.is_pubsub()))
    }

    /// The connections `CLIENT KILL` chose since the last call: the driver closes them, after
    /// writing the replies of the batch (a connection may kill itself with `SKIPME no`).
    pub fn take_kills(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.kills)
    }

    /// Notes that `conn` starts running `cmd`: its idle time restarts and `cmd=` names it.
    pub fn command_started(&mut self, conn: &Connection, cmd: &Command) {
        let now = self.now;
        let Some(record) = self.record(conn.id) else {
            return;
        };
        record.last_ms = now;
        if let Some(name) = command_name(cmd) {
            record.cmd = name;
        }
    }

    /// Copies `conn`'s state after a command (or after a blocked command completed).
    pub fn refresh(&mut self, conn: &Connection) {
        let Some(record) = self.record(conn.id) else {
            return;
        };
        record.name = conn
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        record.db = conn.db;
        record.multi = conn.queued().map_or(-1, |n| n as i64);
        record.blocked = conn.blocked.is_some();
        record.user = conn.user().unwrap_or(DEFAULT_USER).to_string();
        record.resp = conn.protocol.number();
        record.no_evict = conn.no_evict;
        record.subs = conn.subscription_kinds;
        record.monitor = conn.monitoring;
    }

    /// The `ip:port` connection `id` comes from, as `MONITOR` lines show it.
    pub fn addr(&self, id: u64) -> Option<&str> {
        self.clients.get(&id).map(|r| r.addr.as_str())
    }

    /// The record of `id`, registered with unknown addresses if the driver did not.
    fn record(&mut self, id: u64) -> Option<&mut ClientRecord> {
        if !self.clients.contains_key(&id) && !self.register(id, UNKNOWN_ADDR, UNKNOWN_LADDR) {
            return None;
        }
        self.clients.get_mut(&id)
    }

    /// `CLIENT INFO`: the caller's line.
    pub fn info(&mut self, conn: &Connection) -> Reply {
        self.refresh(conn);
        let now = self.now;
        let line = self
            .clients
            .get(&conn.id)
            .map(|r| r.line(conn.id, now))
            .unwrap_or_default();
        Reply::Verbatim(line)
    }

    /// `CLIENT LIST [TYPE type] [ID id ...]`.
    pub fn list(&mut self, conn: &Connection, options: &[Vec<u8>]) -> Reply {
        self.refresh(conn);
        let now = self.now;
        let (kind, ids) = match list_options(options) {
            Ok(selection) => selection,
            Err(refusal) => return refusal,
        };
        let text: String = self
            .clients
            .iter()
            .filter(|(id, r)| {
                kind.is_none_or(|k| k == ClientType::of(r))
                    && ids.as_ref().is_none_or(|ids| ids.contains(id))
            })
            .map(|(id, r)| r.line(*id, now))
            .collect();
        Reply::Verbatim(text)
    }

    /// `CLIENT KILL ip:port` (answers OK or an error) and `CLIENT KILL <filter> <value> ...`
    /// (answers how many it killed).
    /// `user_exists` tells whether a `USER` filter names a configured user.
    pub fn kill(
        &mut self,
        caller: u64,
        params: &[Vec<u8>],
        user_exists: impl Fn(&[u8]) -> bool,
    ) -> Reply {
        if let [addr] = params {
            let found = self
                .clients
                .iter()
                .find(|(_, r)| r.addr.as_bytes() == addr.as_slice())
                .map(|(id, _)| *id);
            return match found {
                Some(id) => {
                    self.kills.push(id);
                    Reply::ok()
                }
                None => Reply::error("ERR No such client"),
            };
        }
        let filter = match kill_filter(params, user_exists) {
            Ok(filter) => filter,
            Err(refusal) => return refusal,
        };
        let chosen: Vec<u64> = self
            .clients
            .iter()
            .filter(|(id, r)| filter.matches(**id, r, caller))
            .map(|(id, _)| *id)
            .collect();
        let count = chosen.len();
        self.kills.extend(chosen);
        Reply::Int(count as i64)
    }
}

/// `TYPE type` and `ID id ...` of `CLIENT LIST`.
type ListSelection = (Option<ClientType>, Option<Vec<u64>>);

fn list_options(options: &[Vec<u8>]) -> Result<ListSelection, Reply> {
    match options {
        [] => Ok((None, None)),
        [word, kind] if word.eq_ignore_ascii_case(b"type") => {
            Ok((Some(ClientType::parse(kind)?), None))
        }
        [word, ids @ ..] if word.eq_ignore_ascii_case(b"id") && !ids.is_empty() => {
            let ids = ids
                .iter()
                .map(|id| {
                    // Zero and negative ids are valid words that match no connection.
                    strict_i64(id)
                        .map(|n| u64::try_from(n).unwrap_or(0))
                        .ok_or_else(|| Reply::error("ERR Invalid client ID"))
                })
                .collect::<Result<Vec<u64>, Reply>>()?;
            Ok((None, Some(ids)))
        }
        _ => Err(Reply::error("ERR syntax error")),
    }
}

/// The `<filter> <value>` pairs of `CLIENT KILL`, with Redis's errors.
fn kill_filter(
    params: &[Vec<u8>],
    user_exists: impl Fn(&[u8]) -> bool,
) -> Result<KillFilter, Reply> {
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    if !params.len().is_multiple_of(2) {
        return Err(Reply::error("ERR syntax error"));
    }
    for pair in params.chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        let option = String::from_utf8_lossy(option).to_ascii_lowercase();
        match option.as_str() {
            "id" => {
                let id = strict_i64(value)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Reply::error("ERR client-id should be greater than 0"))?;
                filter.id = Some(id as u64);
            }
            "type" => filter.kind = Some(ClientType::parse(value)?),
            "addr" => filter.addr = Some(value.clone()),
            "laddr" => filter.laddr = Some(value.clone()),
            "user" if !user_exists(value) => {
                return Err(Reply::error(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(value)
                )));
            }
            "user" => filter.user = Some(value.clone()),
            "skipme" if value.eq_ignore_ascii_case(b"yes") => filter.skip_me = true,
            "skipme" if value.eq_ignore_ascii_case(b"no") => filter.skip_me = false,
            _ => return Err(Reply::error("ERR syntax error")),
        }
    }
    Ok(filter)
}

/// A command as `cmd=` shows it: lower case, `container|sub` for a Redis subcommand; `None`
/// for a command Redis does not have, which leaves `cmd=` as it was, as in Redis.
fn command_name(cmd: &Command) -> Option<String> {
    let name = String::from_utf8_lossy(&cmd.args[0]).to_ascii_lowercase();
    if !spec::redis_has(&name, None) {
        return None;
    }
    let sub = cmd
        .params()
        .first()
        .map(|sub| String::from_utf8_lossy(sub).to_ascii_lowercase());
    Some(match sub {
        Some(sub) if spec::redis_has(&name, Some(&sub)) => format!("{name}|{sub}"),
        _ => name,
    })
}

#[cfg(test)]
mod tests;
