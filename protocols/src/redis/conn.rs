//! One client connection: the state Redis keeps per client (protocol version, database, name,
//! transaction, subscriptions), the commands that only touch that state (the handshake real
//! clients send, `MULTI`/`EXEC`), and [`Session`], which turns bytes in into bytes out.
//!
//! Everything else goes to a [`Backend`]: command entries, the emulator, or both.

use super::auth::{self, DEFAULT_USER};
use super::clients::ClientRegistry;
use super::command::{Command, Decoder, strict_i64};
use super::command_meta;
use super::info::Figures;
use super::reply::{Protocol, Reply};
use super::spec::{self, SPECS};

/// The Redis whose replies mocket reproduces (Debian 12's); `HELLO` and `INFO` report it.
pub const VERSION: &str = "7.0.15";

/// Databases `SELECT` accepts, as a default Redis has.
pub const DATABASES: usize = 16;

/// What answers the commands a connection does not answer itself.
pub trait Backend {
    /// Whether the backend can run `cmd` at all: `Err` is the error reply (unknown command,
    /// arity), and the backend journals it itself. Asked before running or queuing a command,
    /// as Redis checks.
    fn check(&mut self, _cmd: &Command) -> Result<(), Reply> {
        Ok(())
    }

    /// Answers one command.
    fn call(&mut self, conn: &mut Connection, cmd: &Command) -> Reply;

    /// Told of each command the connection answered itself, so the driver can journal it.
    fn answered_locally(&mut self, _conn: &Connection, _cmd: &Command, _reply: &Reply) {}

    /// Appends the pub/sub messages waiting for this connection; called before each reply, so
    /// a message published before a command arrives before that command's reply.
    fn drain_pushes(&mut self, _conn: &Connection, _out: &mut Vec<u8>) {}

    /// `INFO keyspace` lines: `db0:keys=1,expires=0,avg_ttl=0`.
    fn keyspace(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// What `INFO` reports; without an emulator, an idle server's figures and the keyspace.
    fn figures(&mut self) -> Figures {
        Figures {
            keyspace: self.keyspace(),
            ..Figures::default()
        }
    }

    /// `RESET`: forget the connection's subscriptions.
    fn reset(&mut self, _conn: &mut Connection) {}

    /// Runs a blocked command again (the [`Session`] holds it), without journaling it twice.
    fn retry(&mut self, conn: &mut Connection, cmd: &Command) -> Reply {
        self.call(conn, cmd)
    }

    /// Whether a new connection is authenticated as `default` without `AUTH`: no password is
    /// configured. Command entries keep no users, so their addresses are open.
    fn open(&mut self) -> bool {
        true
    }

    /// `AUTH [user] password` and `HELLO ... AUTH`: the user now authenticated, or the refusal.
    /// Command entries accept any password (DESIGN.md section 6a: AUTH succeeds).
    fn authenticate(&mut self, user: Option<&[u8]>, _password: &[u8]) -> Result<String, Reply> {
        Ok(auth::accept_any(user))
    }

    /// `CLIENT UNBLOCK id`: whether connection `id` was blocked.
    fn unblock(&mut self, _id: u64, _error: bool) -> bool {
        false
    }

    /// `WATCH key ...`: remember the keys for this connection; `Err` is the refusal.
    /// Command entries keep no data, so without an emulator nothing is watched.
    fn watch(&mut self, _conn: &Connection, _keys: &[Vec<u8>]) -> Result<(), Reply> {
        Ok(())
    }

    /// `UNWATCH`, and what `EXEC` and `DISCARD` do to the watched keys.
    fn unwatch(&mut self, _conn: &Connection) {}

    /// Whether a key this connection watches changed since, so `EXEC` must abort.
    fn watch_broken(&mut self, _conn: &Connection) -> bool {
        false
    }

    /// The live connections of the address, for `CLIENT LIST`, `INFO` and `KILL`; `None`
    /// without an emulator: command entries keep no state shared between connections.
    fn clients(&mut self) -> Option<&mut ClientRegistry> {
        None
    }

    /// The users `CLIENT KILL USER` may name: `default` and the entry's ACL users.
    fn user_names(&mut self) -> Vec<String> {
        vec![DEFAULT_USER.into()]
    }

    /// `CLIENT TRACKING|CACHING|GETREDIR|TRACKINGINFO` (client-side caching). Command entries
    /// keep no data that could change, so only an emulator tracks keys.
    fn client_tracking(&mut self, _conn: &mut Connection, params: &[Vec<u8>]) -> Reply {
        tracking_needs_emulator(&params[0])
    }

    /// Appends what must follow a command's reply on this connection: the invalidations of
    /// keys it changed itself and the `BCAST` invalidations of the command (Redis sends both
    /// after the reply), and the `MONITOR` lines of its own command. Called even when
    /// `CLIENT REPLY` silences the reply.
    fn after_reply(&mut self, _conn: &Connection, _out: &mut Vec<u8>) {}

    /// Told of a command `conn` is about to run (`ran` false) and once it ran, for `MONITOR`;
    /// never of one refused before running or queued by `MULTI`.
    fn monitor(&mut self, _conn: &Connection, _cmd: &Command, _ran: bool) {}

    /// `CLIENT PAUSE`: command entries keep no state shared between connections, so without
    /// an emulator nothing is paused.
    fn pause(&mut self, _timeout_ms: u64, _all: bool) {}

    /// `CLIENT UNPAUSE`.
    fn unpause(&mut self) {}

    /// Until when (unix ms) a running `CLIENT PAUSE` holds `cmd` (`queued`: what `EXEC` would
    /// run); `None` runs it now.
    fn paused_until(
        &mut self,
        _conn: &Connection,
        _cmd: &Command,
        _queued: &[Command],
    ) -> Option<u64> {
        None
    }
}

/// The state of one client connection.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// What `CLIENT ID` answers; pub/sub deliveries are addressed by it.
    pub id: u64,
    pub protocol: Protocol,
    pub db: usize,
    pub name: Option<Vec<u8>>,
    /// Channels plus patterns; a RESP2 connection with any is restricted to pub/sub commands.
    /// Kept by the backend that handles `SUBSCRIBE`.
    pub subscriptions: usize,
    /// The same, split into channels, patterns and shard channels, for `CLIENT LIST`.
    pub(crate) subscription_kinds: [usize; 3],
    multi: Option<Transaction>,
    closing: bool,
    /// The user `AUTH` authenticated; `None` until then when a password is required.
    user: Option<String>,
    /// Whether `user` was set from the backend's configuration, on the first command: a
    /// connection made while no password was required stays authenticated, as in Redis.
    auth_settled: bool,
    /// Set by a blocking command that found nothing to take: the connection waits.
    pub(crate) blocked: Option<Blocked>,
    /// Blocking commands answer at once (inside `EXEC`).
    pub(crate) no_block: bool,
    /// `CLIENT NO-EVICT on`: shown as the `e` flag (the emulator evicts no client for memory).
    pub(crate) no_evict: bool,
    /// `CLIENT REPLY`.
    reply_mode: ReplyMode,
    /// `CLIENT CACHING yes|no` was given for the next command (client-side caching's OPTIN
    /// and OPTOUT modes); cleared after a command other than `CLIENT`, outside `MULTI`.
    pub(crate) tracking_caching: bool,
    /// `MONITOR` ran: the connection is shown every command, and may not touch the keyspace.
    pub(crate) monitoring: bool,
    /// `CLIENT PAUSE` holds the blocked command: it runs again from the start.
    paused: bool,
    /// While `EXEC` runs, how many commands it runs: Redis still shows the transaction then.
    executing: Option<usize>,
}

/// Which replies `CLIENT REPLY` lets through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ReplyMode {
    #[default]
    On,
    Off,
    /// `CLIENT REPLY SKIP` was just run: its own reply is not sent, nor the next command's.
    SkipNext,
    /// The running command's reply is not sent.
    Skip,
}

/// A connection blocked by `BLPOP` and the like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// Unix milliseconds when the command times out; `None`: never.
    pub deadline: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct Transaction {
    queue: Vec<Command>,
    /// A command was refused while queuing: `EXEC` then discards everything.
    failed: bool,
}

/// Commands that act on a transaction rather than being queued in it.
const TX_CONTROL: &[&str] = &["MULTI", "EXEC", "DISCARD", "WATCH", "QUIT", "RESET"];

/// What a RESP2 connection may still send while subscribed.
const WHILE_SUBSCRIBED: &[&str] = &[
    "SUBSCRIBE",
    "SSUBSCRIBE",
    "PSUBSCRIBE",
    "UNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "PING",
    "QUIT",
    "RESET",
];

/// What a connection may send before it authenticated (Redis's `no-auth` commands).
const NO_AUTH: &[&str] = &["AUTH", "HELLO", "QUIT", "RESET"];

/// Commands the connection answers itself, without entries or emulator.
const LOCAL: &[&str] = &[
    "HELLO", "AUTH", "CLIENT", "SELECT", "PING", "ECHO", "COMMAND", "INFO", "QUIT", "RESET",
    "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
];

impl Connection {
    pub fn new(id: u64) -> Self {
        Connection {
            id,
            ..Connection::default()
        }
    }

    /// Whether a `QUIT` or a protocol error asked to close the connection.
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// Whether the connection waits for what other connections cause (pub/sub messages,
    /// `MONITOR` lines) however long its client stays silent.
    pub fn waits_for_pushes(&self) -> bool {
        self.subscriptions > 0 || self.monitoring
    }

    pub fn in_transaction(&self) -> bool {
        self.multi.is_some()
    }

    /// How many commands `MULTI` queued; `None` outside a transaction.
    pub fn queued(&self) -> Option<usize> {
        self.multi
            .as_ref()
            .map(|t| t.queue.len())
            .or(self.executing)
    }

    /// Runs `cmd` as a command read from the client: `CLIENT LIST` sees it, and its reply is
    /// `None` when `CLIENT REPLY` silences it.
    fn run_from_client(&mut self, cmd: &Command, backend: &mut impl Backend) -> Option<Reply> {
        if let Some(clients) = backend.clients() {
            clients.command_started(self, cmd);
        }
        let skipping = self.reply_mode == ReplyMode::Skip;
        let reply = self.execute(cmd, backend);
        if !self.in_transaction() && !cmd.args[0].eq_ignore_ascii_case(b"CLIENT") {
            self.tracking_caching = false;
        }
        let silent = skipping || matches!(self.reply_mode, ReplyMode::Off | ReplyMode::SkipNext);
        self.reply_mode = match self.reply_mode {
            ReplyMode::Skip if skipping => ReplyMode::On,
            ReplyMode::SkipNext => ReplyMode::Skip,
            mode => mode,
        };
        if let Some(clients) = backend.clients() {
            clients.refresh(self);
        }
        (!silent).then_some(reply)
    }

    /// The user the connection is authenticated as, if it is.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// A connection authenticated as `user`, for unit tests of the rules.
    #[cfg(test)]
    pub(crate) fn set_user_for_test(&mut self, user: &str) {
        self.user = Some(user.into());
        self.auth_settled = true;
    }

    /// Runs one command and returns its reply.
    pub fn execute(&mut self, cmd: &Command, backend: &mut impl Backend) -> Reply {
        let name = cmd.name();
        let is_local = LOCAL.contains(&name.as_str());
        let admitted = self
            .admissible(cmd, &name, is_local, backend)
            .and_then(|()| self.authorized(cmd, &name, backend));
        if let Err(refusal) = admitted {
            if let Some(tx) = &mut self.multi {
                tx.failed = true;
            }
            return refusal;
        }
        if self.held_by_pause(cmd, &name, backend) {
            // Not sent: the session holds the command until the pause ends.
            return Reply::NilArray;
        }
        if let Some(tx) = &mut self.multi
            && !TX_CONTROL.contains(&name.as_str())
        {
            tx.queue.push(cmd.clone());
            return Reply::Simple("QUEUED".into());
        }
        backend.monitor(self, cmd, false);
        let reply = if is_local {
            let reply = self.local(&name, cmd, backend);
            backend.answered_locally(self, cmd, &reply);
            reply
        } else {
            backend.call(self, cmd)
        };
        backend.monitor(self, cmd, true);
        reply
    }

    /// The checks Redis makes before running or queuing a command, in its order: unknown
    /// command, arity, then the pub/sub context of a RESP2 connection. The backend hears of
    /// the refusals it did not make itself, for its journal.
    fn admissible(
        &self,
        cmd: &Command,
        name: &str,
        is_local: bool,
        backend: &mut impl Backend,
    ) -> Result<(), Reply> {
        if !is_local {
            backend.check(cmd)?;
        }
        let refusal = self.refusal(cmd, name, is_local);
        match refusal {
            Some(reply) => {
                backend.answered_locally(self, cmd, &reply);
                Err(reply)
            }
            None => Ok(()),
        }
    }

    /// Whether `CLIENT PAUSE` holds `cmd`, checked before `MULTI` queues it as Redis does (not
    /// inside `EXEC`): the connection then blocks until the pause's end.
    fn held_by_pause(&mut self, cmd: &Command, name: &str, backend: &mut impl Backend) -> bool {
        if self.executing.is_some() {
            return false;
        }
        let queued = match (&self.multi, name) {
            (Some(tx), "EXEC") => tx.queue.as_slice(),
            _ => &[],
        };
        let Some(end) = backend.paused_until(self, cmd, queued) else {
            return false;
        };
        self.blocked = Some(Blocked {
            deadline: Some(end),
        });
        self.paused = true;
        true
    }

    /// `NOAUTH` for what a connection sends before `AUTH` when a password is required; checked
    /// after the command is known, as Redis does.
    fn authorized(
        &mut self,
        cmd: &Command,
        name: &str,
        backend: &mut impl Backend,
    ) -> Result<(), Reply> {
        if !self.auth_settled {
            self.auth_settled = true;
            if backend.open() {
                self.user = Some(DEFAULT_USER.into());
            }
        }
        if self.user.is_some() || NO_AUTH.contains(&name) {
            return Ok(());
        }
        let refusal = Reply::error(auth::NOAUTH);
        backend.answered_locally(self, cmd, &refusal);
        Err(refusal)
    }

    /// `AUTH [user] password`.
    fn auth(&mut self, params: &[Vec<u8>], backend: &mut impl Backend) -> Reply {
        let (user, password) = match params {
            [password] => (None, password),
            [user, password] => (Some(user.as_slice()), password),
            _ => return Reply::error("ERR syntax error"),
        };
        match backend.authenticate(user, password) {
            Ok(name) => {
                self.user = Some(name);
                Reply::ok()
            }
            Err(refusal) => refusal,
        }
    }

    fn refusal(&self, cmd: &Command, name: &str, is_local: bool) -> Option<Reply> {
        if is_local {
            let spec = spec::find(name).expect("local commands have specs");
            let too_many_pings = name == "PING" && cmd.args.len() > 2;
            if !spec.arity_ok(cmd.args.len()) || too_many_pings {
                return Some(spec::arity_error(spec.name));
            }
        }
        if self.monitoring
            && let Some(refusal) = super::emulator::refused_to_monitor(cmd)
        {
            return Some(refusal);
        }
        if self.protocol == Protocol::Resp2
            && self.subscriptions > 0
            && !WHILE_SUBSCRIBED.contains(&name)
        {
            return Some(Reply::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
                 RESET are allowed in this context",
                name.to_ascii_lowercase()
            )));
        }
        None
    }

    fn local(&mut self, name: &str, cmd: &Command, backend: &mut impl Backend) -> Reply {
        let params = cmd.params();
        match name {
            "HELLO" => self.hello(params, backend),
            "AUTH" => self.auth(params, backend),
            "CLIENT" => self.client(params, backend),
            "SELECT" => self.select(&params[0]),
            "PING" => self.ping(params.first()),
            "ECHO" => Reply::bulk(&params[0]),
            "COMMAND" => command(params),
            "INFO" => super::info::info(params, &backend.figures()),
            "QUIT" => {
                self.closing = true;
                Reply::ok()
            }
            "RESET" => {
                backend.reset(self);
                *self = Connection::new(self.id);
                Reply::Simple("RESET".into())
            }
            "MULTI" if self.multi.is_some() => Reply::error("ERR MULTI calls can not be nested"),
            "MULTI" => {
                self.multi = Some(Transaction::default());
                Reply::ok()
            }
            "EXEC" => self.exec(backend),
            "DISCARD" => match self.multi.take() {
                Some(_) => {
                    backend.unwatch(self);
                    Reply::ok()
                }
                None => Reply::error("ERR DISCARD without MULTI"),
            },
            "WATCH" if self.multi.is_some() => {
                Reply::error("ERR WATCH inside MULTI is not allowed")
            }
            "WATCH" => match backend.watch(self, params) {
                Ok(()) => Reply::ok(),
                Err(refusal) => refusal,
            },
            "UNWATCH" => {
                backend.unwatch(self);
                Reply::ok()
            }
            _ => unreachable!("{name} is listed in LOCAL"),
        }
    }

    fn exec(&mut self, backend: &mut impl Backend) -> Reply {
        let Some(tx) = self.multi.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        // Redis checks the watched keys first, then forgets them before running anything.
        let broken = backend.watch_broken(self);
        backend.unwatch(self);
        if tx.failed {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        if broken {
            return Reply::NilArray;
        }
        let mut replies = Vec::with_capacity(tx.queue.len());
        self.no_block = true;
        self.executing = Some(tx.queue.len());
        for cmd in &tx.queue {
            match self.execute(cmd, backend) {
                Reply::Several(many) => replies.extend(many),
                one => replies.push(one),
            }
        }
        self.no_block = false;
        self.executing = None;
        Reply::Array(replies)
    }

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    fn hello(&mut self, params: &[Vec<u8>], backend: &mut impl Backend) -> Reply {
        let mut protocol = self.protocol;
        if let Some(version) = params.first() {
            protocol = match strict_i64(version) {
                Some(2) => Protocol::Resp2,
                Some(3) => Protocol::Resp3,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
                None => {
                    return Reply::error("ERR Protocol version is not an integer or out of range");
                }
            };
        }
        let mut name = None;
        let mut credentials = None;
        let mut i = 1;
        while i < params.len() {
            let option = String::from_utf8_lossy(&params[i]);
            let left = params.len() - i - 1;
            match option.to_ascii_uppercase().as_str() {
                "AUTH" if left >= 2 => {
                    credentials = Some((&params[i + 1], &params[i + 2]));
                    i += 3;
                }
                "SETNAME" if left >= 1 => {
                    if let Err(e) = valid_name(&params[i + 1]) {
                        return e;
                    }
                    name = Some(params[i + 1].clone());
                    i += 2;
                }
                _ => {
                    return Reply::error(format!("ERR Syntax error in HELLO option '{option}'"));
                }
            }
        }
        if let Some((user, password)) = credentials {
            match backend.authenticate(Some(user), password) {
                Ok(user) => self.user = Some(user),
                Err(refusal) => return refusal,
            }
        }
        if self.user.is_none() {
            return Reply::error(auth::HELLO_NOAUTH);
        }
        self.protocol = protocol;
        if let Some(name) = name {
            self.name = (!name.is_empty()).then_some(name);
        }
        let field = |k: &str, v: Reply| (Reply::bulk(k), v);
        Reply::Map(vec![
            field("server", Reply::bulk("redis")),
            field("version", Reply::bulk(VERSION)),
            field("proto", Reply::Int(protocol.number())),
            field("id", Reply::Int(self.id as i64)),
            field("mode", Reply::bulk("standalone")),
            field("role", Reply::bulk("master")),
            field("modules", Reply::Array(vec![])),
        ])
    }

    fn client(&mut self, params: &[Vec<u8>], backend: &mut impl Backend) -> Reply {
        let sub = String::from_utf8_lossy(&params[0]).to_ascii_lowercase();
        let arity = match sub.as_str() {
            "setname" | "no-evict" | "reply" => 3,
            "getname" | "id" | "info" | "help" => 2,
            // Client-side caching (emulator/tracking.rs).
            "caching" => 3,
            "getredir" | "trackinginfo" => 2,
            "tracking" => -3,
            "setinfo" => 4,
            "list" => -2,
            "unblock" | "kill" => -3,
            // CLIENT PAUSE/UNPAUSE.
            "pause" => -3,
            "unpause" => 2,
            _ => return unknown_subcommand(&params[0], "CLIENT"),
        };
        let words = params.len() + 1;
        if (arity > 0 && words != arity as usize) || (arity < 0 && words < (-arity) as usize) {
            return spec::arity_error(&format!("client|{sub}"));
        }
        match sub.as_str() {
            "setname" => match valid_name(&params[1]) {
                Ok(()) => {
                    self.name = (!params[1].is_empty()).then(|| params[1].clone());
                    Reply::ok()
                }
                Err(e) => e,
            },
            "getname" => Reply::bulk_or_nil(self.name.as_ref()),
            "id" => Reply::Int(self.id as i64),
            "info" => self.with_clients(backend, |clients, me| clients.info(me)),
            "list" => self.with_clients(backend, |clients, me| clients.list(me, &params[1..])),
            "kill" => {
                let users = backend.user_names();
                let exists = |u: &[u8]| users.iter().any(|n| n.as_bytes() == u);
                self.with_clients(backend, |clients, me| {
                    clients.kill(me.id, &params[1..], exists)
                })
            }
            "reply" => self.client_reply(&params[1]),
            "no-evict" => match on_off(&params[1]) {
                Some(on) => {
                    self.no_evict = on;
                    Reply::ok()
                }
                None => Reply::error("ERR syntax error"),
            },
            "help" => Reply::simples(CLIENT_HELP),
            "setinfo" => setinfo(&params[1], &params[2]),
            "unblock" if params.len() > 3 => subcommand_syntax_error(&params[0], "CLIENT"),
            "unblock" => unblock(&params[1..], backend),
            "tracking" | "caching" | "getredir" | "trackinginfo" => {
                backend.client_tracking(self, params)
            }
            // CLIENT PAUSE/UNPAUSE.
            "pause" if params.len() > 3 => subcommand_syntax_error(&params[0], "CLIENT"),
            "pause" => match super::emulator::pause_arguments(&params[1..]) {
                Ok((timeout_ms, all)) => {
                    backend.pause(timeout_ms, all);
                    Reply::ok()
                }
                Err(refusal) => refusal,
            },
            "unpause" => {
                backend.unpause();
                Reply::ok()
            }
            _ => unreachable!("{sub} is listed above"),
        }
    }

    /// Runs `with` on the address's connections, or, without an emulator, on a registry of
    /// this connection alone.
    fn with_clients(
        &self,
        backend: &mut impl Backend,
        with: impl FnOnce(&mut ClientRegistry, &Connection) -> Reply,
    ) -> Reply {
        match backend.clients() {
            Some(clients) => with(clients, self),
            None => with(&mut ClientRegistry::default(), self),
        }
    }

    /// `CLIENT REPLY ON|OFF|SKIP`: only `ON` answers.
    fn client_reply(&mut self, mode: &[u8]) -> Reply {
        if mode.eq_ignore_ascii_case(b"on") {
            self.reply_mode = ReplyMode::On;
        } else if mode.eq_ignore_ascii_case(b"off") {
            self.reply_mode = ReplyMode::Off;
        } else if mode.eq_ignore_ascii_case(b"skip") {
            if self.reply_mode != ReplyMode::Off {
                self.reply_mode = ReplyMode::SkipNext;
            }
        } else {
            return Reply::error("ERR syntax error");
        }
        Reply::ok()
    }

    fn select(&mut self, index: &[u8]) -> Reply {
        match strict_i64(index) {
            None => Reply::error("ERR value is not an integer or out of range"),
            Some(i) if i < 0 || i >= DATABASES as i64 => {
                Reply::error("ERR DB index is out of range")
            }
            Some(i) => {
                self.db = i as usize;
                Reply::ok()
            }
        }
    }

    fn ping(&self, message: Option<&Vec<u8>>) -> Reply {
        if self.protocol == Protocol::Resp2 && self.subscriptions > 0 {
            let message = message.map_or(Reply::bulk(""), Reply::bulk);
            return Reply::Array(vec![Reply::bulk("pong"), message]);
        }
        message.map_or(Reply::Simple("PONG".into()), Reply::bulk)
    }
}

/// How the refusal of client-side caching on an address without emulator starts: the driver
/// counts such a command as unmatched, since Redis has it.
pub const TRACKING_NEEDS_EMULATOR: &str =
    "ERR mocket: client-side caching needs an emulated address";

/// The refusal of `CLIENT TRACKING` and its companions (`sub`) where no emulator keeps data.
pub fn tracking_needs_emulator(sub: &[u8]) -> Reply {
    Reply::error(format!(
        "{TRACKING_NEEDS_EMULATOR}: CLIENT {} invalidates keys the emulator stores; set \
         `emulate: true` on this address's redis entry",
        String::from_utf8_lossy(sub).to_ascii_uppercase()
    ))
}

/// Client names and library names: printable, no spaces.
fn valid_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(())
    } else {
        Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

fn setinfo(attribute: &[u8], value: &[u8]) -> Reply {
    let attr = String::from_utf8_lossy(attribute);
    let lower = attr.to_ascii_lowercase();
    if lower != "lib-name" && lower != "lib-ver" {
        return Reply::error(format!("ERR Unrecognized option '{attr}'"));
    }
    if !value.iter().all(|b| (b'!'..=b'~').contains(b)) {
        return Reply::error(format!(
            "ERR {lower} cannot contain spaces, newlines or special characters."
        ));
    }
    Reply::ok()
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`.
fn unblock(params: &[Vec<u8>], backend: &mut impl Backend) -> Reply {
    let Some(id) = strict_i64(&params[0]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let error = match params.get(1) {
        None => false,
        Some(r) if r.eq_ignore_ascii_case(b"timeout") => false,
        Some(r) if r.eq_ignore_ascii_case(b"error") => true,
        Some(_) => {
            return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| backend.unblock(id, error));
    Reply::Int(unblocked.into())
}

/// `ON` or `OFF`, as `Some(true|false)`.
fn on_off(value: &[u8]) -> Option<bool> {
    if value.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        None
    }
}

/// `CLIENT HELP` of Redis 7.0, for the subcommands the emulator answers and those it lacks.
const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// Redis's reply to a subcommand it does not have.
pub fn unknown_subcommand(sub: &[u8], command: &str) -> Reply {
    let sub = quoted_subcommand(sub);
    Reply::error(format!(
        "ERR unknown subcommand '{sub}'. Try {command} HELP."
    ))
}

/// Redis's `addReplySubcommandSyntaxError`: a subcommand given the wrong arguments. The one
/// place this text is built; every container command (CLIENT, ACL, PUBSUB, XINFO, ...) uses it.
pub fn subcommand_syntax_error(sub: &[u8], command: &str) -> Reply {
    let sub = quoted_subcommand(sub);
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {command} HELP."
    ))
}

/// A subcommand as Redis's `%.128s` prints it: up to a NUL, at most 128 bytes.
fn quoted_subcommand(sub: &[u8]) -> String {
    let text = sub.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(&text[..text.len().min(128)]).into_owned()
}

/// `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST|GETKEYS|GETKEYSANDFLAGS|HELP`, over the commands
/// mocket answers ([`SPECS`]) with Redis's metadata ([`command_meta`]). `DOCS` answers an
/// empty map: Redis's docs are its documentation text, which clients use for hints only.
fn command(params: &[Vec<u8>]) -> Reply {
    let Some(sub) = params.first() else {
        return Reply::Array(SPECS.iter().map(|s| s.info()).collect());
    };
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let words = params.len() + 1;
    let arity_ok = match lower.as_str() {
        "count" | "help" => words == 2,
        "info" | "docs" | "list" => true,
        "getkeys" | "getkeysandflags" => words >= 4,
        _ => return unknown_subcommand(sub, "COMMAND"),
    };
    if !arity_ok {
        return spec::arity_error(&format!("command|{lower}"));
    }
    match lower.as_str() {
        "count" => Reply::Int(SPECS.len() as i64),
        "help" => Reply::simples(COMMAND_HELP),
        "info" if params.len() == 1 => Reply::Array(SPECS.iter().map(|s| s.info()).collect()),
        "info" => Reply::Array(
            params[1..]
                .iter()
                .map(|n| command_info(&String::from_utf8_lossy(n)))
                .collect(),
        ),
        "docs" => Reply::Map(Vec::new()),
        "list" => command_meta::list(
            &SPECS.iter().map(|s| s.name).collect::<Vec<_>>(),
            &params[1..],
        ),
        _ => getkeys(&params[1..], lower == "getkeysandflags"),
    }
}

/// The `COMMAND INFO` entry of a command mocket answers (`container|sub` for a subcommand).
fn command_info(name: &str) -> Reply {
    let base = name.split('|').next().unwrap_or_default();
    if spec::find(base).is_none() {
        return Reply::Nil;
    }
    match spec::find(name) {
        Some(spec) => spec.info(),
        None => command_meta::find(name).map_or(Reply::Nil, command_meta::Meta::info),
    }
}

/// `COMMAND GETKEYS|GETKEYSANDFLAGS command arg...`: the keys, by Redis's key specs.
fn getkeys(words: &[Vec<u8>], with_flags: bool) -> Reply {
    let known = spec::find(&String::from_utf8_lossy(&words[0])).is_some();
    let Some(meta) = command_meta::resolve(words).filter(|_| known) else {
        return Reply::error("ERR Invalid command specified");
    };
    match meta.getkeys(words) {
        Err(e) => e.reply(),
        Ok(keys) => Reply::Array(
            keys.iter()
                .map(|k| {
                    let key = Reply::bulk(&words[k.index]);
                    if !with_flags {
                        return key;
                    }
                    let flags = k.flags.iter().map(|f| Reply::Simple(f.to_string()));
                    Reply::Array(vec![key, Reply::Set(flags.collect())])
                })
                .collect(),
        ),
    }
}

/// `COMMAND HELP` of Redis 7.0.
const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// Turns the bytes of one connection into replies, pipelined commands in order.
#[derive(Debug, Default)]
pub struct Session {
    decoder: Decoder,
    pub conn: Connection,
    /// The command a blocked connection waits to complete.
    pending: Option<Command>,
}

/// What to send back after a read, and whether to close afterwards.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub close: bool,
    /// Why the connection is closed, when the driver should say so in its log and journal.
    pub alarm: Option<Alarm>,
}

/// A connection Redis would close for what the client sent, not at the client's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// A command named `POST` or `Host:`: what an HTTP request sent to Redis looks like.
    /// Redis logs "Possible SECURITY ATTACK detected" and closes the connection at once,
    /// dropping the replies not yet written, so a request body never runs as commands.
    CrossProtocol(Command),
    /// The client made the decoder hold more than Redis's query buffer limit.
    Overflow(String),
}

impl std::fmt::Display for Alarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alarm::CrossProtocol(cmd) => write!(
                f,
                "Possible SECURITY ATTACK detected (as Redis logs it): '{}' is an HTTP request \
                 sent to a Redis address; the connection was closed without running it or what \
                 follows; send HTTP to an http entry's address",
                cmd.to_strings().join(" ")
            ),
            Alarm::Overflow(why) => f.write_str(why),
        }
    }
}

impl Session {
    pub fn new(id: u64) -> Self {
        Session {
            decoder: Decoder::default(),
            conn: Connection::new(id),
            pending: None,
        }
    }

    /// `Some(deadline)` while a blocking command waits (unix milliseconds, `None`: forever):
    /// the driver then calls [`Session::retry`] when the data changed or at the deadline, and
    /// reads nothing more from the client meanwhile, as Redis does.
    pub fn blocked(&self) -> Option<Option<u64>> {
        self.pending
            .as_ref()
            .and(self.conn.blocked.map(|b| b.deadline))
    }

    /// Runs the blocked command again; once it answers, the commands that followed it in the
    /// input run too.
    pub fn retry(&mut self, backend: &mut impl Backend) -> Output {
        let Some(cmd) = self.pending.take() else {
            return Output::default();
        };
        let reply = if self.conn.paused {
            // A command held by `CLIENT PAUSE` never started: it runs from the start.
            self.conn.paused = false;
            self.conn.blocked = None;
            self.conn.run_from_client(&cmd, backend)
        } else {
            Some(backend.retry(&mut self.conn, &cmd))
        };
        if self.conn.blocked.is_some() {
            self.pending = Some(cmd);
            return Output::default();
        }
        if let Some(clients) = backend.clients() {
            clients.refresh(&self.conn);
        }
        let mut bytes = Vec::new();
        backend.drain_pushes(&self.conn, &mut bytes);
        if let Some(reply) = reply {
            reply.encode(self.conn.protocol, &mut bytes);
        }
        backend.after_reply(&self.conn, &mut bytes);
        let mut rest = self.receive(&[], backend);
        bytes.append(&mut rest.bytes);
        rest.bytes = bytes;
        rest
    }

    /// Takes the bytes of one read and answers every complete command in them.
    pub fn receive(&mut self, data: &[u8], backend: &mut impl Backend) -> Output {
        self.decoder.feed(data);
        let mut bytes = Vec::new();
        let mut alarm = None;
        while !self.conn.closing && self.pending.is_none() {
            let Some(next) = self.decoder.next_command() else {
                break;
            };
            match next {
                Ok(cmd) if cmd.is_cross_protocol() => {
                    bytes.clear();
                    self.conn.closing = true;
                    alarm = Some(Alarm::CrossProtocol(cmd));
                }
                Ok(cmd) => {
                    let reply = self.conn.run_from_client(&cmd, backend);
                    if self.conn.blocked.is_some() {
                        self.pending = Some(cmd);
                        break;
                    }
                    backend.drain_pushes(&self.conn, &mut bytes);
                    if let Some(reply) = reply {
                        reply.encode(self.conn.protocol, &mut bytes);
                    }
                    backend.after_reply(&self.conn, &mut bytes);
                }
                Err(e) => {
                    match e.reply_text() {
                        Some(text) => Reply::error(text).encode(self.conn.protocol, &mut bytes),
                        None => alarm = Some(Alarm::Overflow(e.to_string())),
                    }
                    self.conn.closing = true;
                }
            }
        }
        Output {
            bytes,
            close: self.conn.closing,
            alarm,
        }
    }
}

#[cfg(test)]
mod tests;
