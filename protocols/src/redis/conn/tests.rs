use super::*;
use crate::redis::command::split_args;

/// A backend that answers every command with its name and remembers what it saw.
#[derive(Default)]
struct Recorder {
    called: Vec<String>,
    local: Vec<String>,
}

impl Backend for Recorder {
    fn check(&mut self, cmd: &Command) -> Result<(), Reply> {
        match cmd.name().as_str() {
            "BAD" => Err(spec::unknown_command(cmd)),
            _ => Ok(()),
        }
    }

    fn call(&mut self, _conn: &mut Connection, cmd: &Command) -> Reply {
        self.called.push(cmd.to_strings().join(" "));
        Reply::bulk(cmd.name())
    }

    fn answered_locally(&mut self, _conn: &Connection, cmd: &Command, _reply: &Reply) {
        self.local.push(cmd.name());
    }

    fn keyspace(&mut self) -> Vec<String> {
        vec!["db0:keys=1,expires=0,avg_ttl=0".into()]
    }
}

/// Sends inline commands, one per line, and returns the reply bytes as text.
fn send(session: &mut Session, backend: &mut Recorder, lines: &[&str]) -> String {
    let mut wire = Vec::new();
    for line in lines {
        let words = split_args(line.as_bytes()).unwrap();
        wire.extend(format!("*{}\r\n", words.len()).into_bytes());
        for w in words {
            wire.extend(format!("${}\r\n", w.len()).into_bytes());
            wire.extend(w);
            wire.extend(b"\r\n");
        }
    }
    String::from_utf8(session.receive(&wire, backend).bytes).unwrap()
}

fn one(lines: &[&str]) -> String {
    send(&mut Session::new(7), &mut Recorder::default(), lines)
}

#[test]
fn hello_switches_protocol_and_answers_in_the_new_one() {
    let mut s = Session::new(7);
    let mut b = Recorder::default();
    let hello3 = send(&mut s, &mut b, &["HELLO 3"]);
    assert_eq!(
        hello3,
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n\
         $2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
         $7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(s.conn.protocol, Protocol::Resp3);
    assert!(send(&mut s, &mut b, &["HELLO 2"]).starts_with("*14\r\n"));
    assert_eq!(b.local, vec!["HELLO", "HELLO"]);
    assert!(b.called.is_empty());
}

#[test]
fn hello_errors_and_options() {
    assert_eq!(
        one(&["hello 4", "hello x", "hello 2 setname", "hello 2 auth a"]),
        "-NOPROTO unsupported protocol version\r\n\
         -ERR Protocol version is not an integer or out of range\r\n\
         -ERR Syntax error in HELLO option 'setname'\r\n\
         -ERR Syntax error in HELLO option 'auth'\r\n"
    );
    let mut s = Session::new(1);
    let mut b = Recorder::default();
    send(&mut s, &mut b, &["HELLO 3 AUTH default secret SETNAME app"]);
    assert_eq!(s.conn.name.as_deref(), Some(&b"app"[..]));
    assert_eq!(send(&mut s, &mut b, &["CLIENT GETNAME"]), "$3\r\napp\r\n");
}

#[test]
fn client_subcommands() {
    assert_eq!(
        one(&[
            "client setinfo lib-name redis-py",
            "client setinfo LIB-VER 5.0",
            "client setinfo foo bar",
            "client setname 'a b'",
            "client setname ab",
            "client getname",
            "client id",
            "client setname",
            "client foo",
            "client no-evict on",
            "client no-evict maybe",
        ]),
        "+OK\r\n+OK\r\n-ERR Unrecognized option 'foo'\r\n\
         -ERR Client names cannot contain spaces, newlines or special characters.\r\n\
         +OK\r\n$2\r\nab\r\n:7\r\n\
         -ERR wrong number of arguments for 'client|setname' command\r\n\
         -ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n+OK\r\n-ERR syntax error\r\n"
    );
    assert!(one(&["client info"]).contains("id=7 "));
}

#[test]
fn select_ping_echo_auth_with_redis_errors() {
    assert_eq!(
        one(&[
            "select 16",
            "select x",
            "select 3",
            "ping",
            "ping hi",
            "ping a b",
            "echo",
            "echo x",
            "auth secret",
            "auth user secret",
        ]),
        "-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n\
         +OK\r\n+PONG\r\n$2\r\nhi\r\n-ERR wrong number of arguments for 'ping' command\r\n\
         -ERR wrong number of arguments for 'echo' command\r\n$1\r\nx\r\n+OK\r\n+OK\r\n"
    );
}

#[test]
fn command_and_info() {
    let count = one(&["command count"]);
    assert_eq!(count, format!(":{}\r\n", SPECS.len()));
    assert_eq!(one(&["command docs get"]), "*0\r\n");
    assert_eq!(
        one(&["command info get nosuch"]),
        "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
         *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n\
         +access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n\
         *2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n\
         $4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n\
         :0\r\n*0\r\n$-1\r\n"
    );
    assert_eq!(
        one(&["command foo", "command count x"]),
        "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n\
         -ERR wrong number of arguments for 'command|count' command\r\n"
    );
    assert!(one(&["command"]).starts_with(&format!("*{}\r\n", SPECS.len())));
    let info = one(&["info server"]);
    assert!(
        info.contains("# Server\r\nredis_version:7.0.15\r\n"),
        "{info}"
    );
    assert_eq!(
        one(&["info keyspace"]),
        "$44\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n"
    );
    assert_eq!(one(&["info nosuch"]), "$0\r\n\r\n");
    let all = one(&["hello 3", "info"]);
    assert!(all.contains("=") && all.contains("txt:# Server") && all.contains("# Keyspace"));
}

#[test]
fn other_commands_go_to_the_backend() {
    let mut s = Session::new(1);
    let mut b = Recorder::default();
    assert_eq!(
        send(&mut s, &mut b, &["get k", "PING"]),
        "$3\r\nGET\r\n+PONG\r\n"
    );
    assert_eq!(b.called, vec!["get k"]);
    assert_eq!(b.local, vec!["PING"]);
}

#[test]
fn multi_exec_queues_and_aborts_like_redis() {
    assert_eq!(
        one(&[
            "multi", "multi", "set a 1", "bad x", "exec", "exec", "discard"
        ]),
        "+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n\
         -ERR unknown command 'bad', with args beginning with: 'x' \r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n\
         -ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n"
    );
    let mut s = Session::new(1);
    let mut b = Recorder::default();
    assert_eq!(
        send(
            &mut s,
            &mut b,
            &["multi", "watch x", "set a 1", "ping", "get", "exec"]
        ),
        "+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *3\r\n$3\r\nSET\r\n+PONG\r\n$3\r\nGET\r\n"
    );
    assert_eq!(b.called, vec!["set a 1", "get"]);
    assert_eq!(
        one(&["multi", "set a 1", "discard", "exec"]),
        "+OK\r\n+QUEUED\r\n+OK\r\n-ERR EXEC without MULTI\r\n"
    );
}

#[test]
fn subscribed_resp2_connections_are_restricted() {
    let mut s = Session::new(1);
    let mut b = Recorder::default();
    s.conn.subscriptions = 1;
    assert_eq!(
        send(&mut s, &mut b, &["get a", "ping", "ping x"]),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$1\r\nx\r\n"
    );
    s.conn.protocol = Protocol::Resp3;
    assert_eq!(
        send(&mut s, &mut b, &["get a", "ping"]),
        "$3\r\nGET\r\n+PONG\r\n"
    );
}

#[test]
fn an_http_request_closes_the_connection_before_its_body_runs() {
    let mut b = Recorder::default();
    let mut s = Session::new(1);
    let out = s.receive(b"SET before 1\r\n", &mut b);
    assert_eq!(out.bytes, b"$3\r\nSET\r\n");
    let request =
        b"PING\r\nPOST / HTTP/1.1\r\nHost: cache\r\nContent-Length: 12\r\n\r\nSET pwned 1\r\n";
    let out = s.receive(request, &mut b);
    assert_eq!(out.bytes, b"", "Redis drops the replies of the same read");
    assert!(out.close);
    let Some(Alarm::CrossProtocol(cmd)) = &out.alarm else {
        panic!("{out:?}")
    };
    assert_eq!(cmd.to_strings(), ["POST", "/", "HTTP/1.1"]);
    assert!(
        out.alarm
            .as_ref()
            .unwrap()
            .to_string()
            .contains("Possible SECURITY ATTACK")
    );
    assert_eq!(b.called, ["SET before 1"]);
    assert_eq!(
        b.local,
        ["PING"],
        "what came before in the same read ran, as in Redis"
    );
    assert!(s.receive(b"SET after 1\r\n", &mut b).bytes.is_empty());
    assert_eq!(b.called.len(), 1, "nothing runs after");
}

#[test]
fn a_host_header_in_any_case_or_a_multibulk_post_is_the_same_attack() {
    for wire in [
        &b"GET / HTTP/1.1\r\nhost: x\r\nSET k v\r\n"[..],
        b"HOST: x\r\n",
        b"*2\r\n$4\r\npost\r\n$1\r\nx\r\n",
    ] {
        let mut b = Recorder::default();
        let mut s = Session::new(1);
        s.receive(b"MULTI\r\n", &mut b);
        let out = s.receive(wire, &mut b);
        assert!(out.close && out.bytes.is_empty(), "{wire:?}: {out:?}");
        assert!(matches!(out.alarm, Some(Alarm::CrossProtocol(_))));
        assert!(b.called.is_empty(), "{wire:?}: {:?}", b.called);
    }
    // `Host` without the colon is just an unknown command name.
    let mut s = Session::new(1);
    let out = s.receive(b"Host x\r\n", &mut Recorder::default());
    assert!(!out.close);
}

#[test]
fn a_command_past_the_query_buffer_limit_closes_silently_with_an_alarm() {
    let mut s = Session {
        decoder: Decoder::with_limit(64),
        conn: Connection::new(1),
        pending: None,
    };
    let out = s.receive(&[b'$'; 65], &mut Recorder::default());
    assert!(out.close && out.bytes.is_empty());
    assert!(matches!(out.alarm, Some(Alarm::Overflow(_))));
}

#[test]
fn quit_and_protocol_errors_close_after_answering() {
    let mut b = Recorder::default();
    let mut s = Session::new(1);
    let out = s.receive(b"PING\r\nQUIT\r\nPING\r\n", &mut b);
    assert_eq!(out.bytes, b"+PONG\r\n+OK\r\n");
    assert!(out.close);
    let mut s = Session::new(1);
    let out = s.receive(b"PING\r\n*1\r\n:1\r\nPING\r\n", &mut b);
    assert_eq!(
        out.bytes,
        b"+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"
    );
    assert!(out.close);
}

#[test]
fn reset_returns_to_a_fresh_connection() {
    let mut s = Session::new(9);
    let mut b = Recorder::default();
    send(&mut s, &mut b, &["hello 3 setname x", "select 2", "multi"]);
    assert_eq!(send(&mut s, &mut b, &["reset"]), "+RESET\r\n");
    assert_eq!(s.conn.protocol, Protocol::Resp2);
    assert_eq!((s.conn.db, s.conn.id, s.conn.name.clone()), (0, 9, None));
    assert!(!s.conn.in_transaction());
}

#[test]
fn pipelines_split_at_every_boundary_answer_the_same() {
    let wire: &[u8] =
        b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\na\r\n\r\nGET k\r\n*1\r\n$5\r\nMULTI\r\n\
          *1\r\n$4\r\nEXEC\r\nhello 3\r\nping\r\n";
    let whole = Session::new(1)
        .receive(wire, &mut Recorder::default())
        .bytes;
    assert!(
        whole.ends_with(b"+PONG\r\n"),
        "{}",
        String::from_utf8_lossy(&whole)
    );
    for cut in 0..=wire.len() {
        for cut2 in cut..=wire.len() {
            let mut s = Session::new(1);
            let mut b = Recorder::default();
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..cut2], &wire[cut2..]] {
                got.extend(s.receive(part, &mut b).bytes);
            }
            assert_eq!(got, whole, "cuts {cut} {cut2}");
        }
    }
}

#[test]
fn subcommand_errors_quote_at_most_128_bytes_up_to_a_nul() {
    let text = |r: Reply| match r {
        Reply::Error(e) => e,
        other => panic!("{other:?}"),
    };
    let long = "é".repeat(100);
    assert_eq!(
        text(unknown_subcommand(long.as_bytes(), "OBJECT")),
        format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            "é".repeat(64)
        )
    );
    assert_eq!(
        text(subcommand_syntax_error(b"get\0more", "SLOWLOG")),
        "ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP."
    );
}
