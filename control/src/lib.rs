//! What `libmocket.so` and the engine must agree on: the control protocol, the fake address
//! range, and the names of the trust bundle. A crate of its own, without dependencies, so the
//! shim can share it without growing.
//!
//! # The control protocol
//!
//! One request line, one reply line, both plain text so the shim can speak it without any
//! dependency: over the `MOCKET_SOCKET` Unix socket to a daemon, or through one C call into the
//! embedded engine library. Fields are separated by single spaces; only a refusal's message
//! (always last) may contain spaces.
//!
//! ```text
//! resolve <pid> <name>                         -> fake <ipv4> | real | real-tell | refuse <msg>
//! resolved <pid> <name> <ip>...                -> ok     (real addresses of an allowed name)
//! route <pid> <tcp|udp> <ip> <port>          -> redirect <port> | pass | pass-host <name> | refuse <msg>
//! claim <pid> <lport> <ip> <port>              -> ok     (after connecting to a redirect)
//! query <pid> <name>                           -> real | refuse <msg>      (res_query, res_search)
//! reverse <pid> <ip>                           -> name <name> | real       (getnameinfo, gethostbyaddr)
//! ca <pid>                                     -> path <cert.pem> | refuse <msg>   (OpenSSL trust injection)
//! ```

use std::net::{IpAddr, Ipv4Addr};

pub mod fake_range;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod trust_names;

/// The transport protocol of a connection or datagram the shim asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A name lookup through `getaddrinfo` and friends.
    Resolve { pid: u32, name: String },
    /// The real addresses the shim got for a name that is allowed by name.
    Resolved {
        pid: u32,
        name: String,
        addrs: Vec<IpAddr>,
    },
    /// A `connect` (or an unconnected `sendto`) to `addr:port`.
    Route {
        pid: u32,
        transport: Transport,
        addr: IpAddr,
        port: u16,
    },
    /// After a redirected connect: the connection from the client's `local_port` to the engine
    /// is the one meant for `addr:port`. Sent once the kernel has given the socket its port (the
    /// shim never binds the application's socket itself: an explicit bind could not reuse ports
    /// in TIME-WAIT, and runs of short connections would exhaust them).
    Claim {
        pid: u32,
        local_port: u16,
        addr: IpAddr,
        port: u16,
    },
    /// A raw DNS query (`res_query`, `res_search`).
    Query { pid: u32, name: String },
    /// The name behind an address (`getnameinfo`, `gethostbyaddr`).
    Reverse { pid: u32, addr: IpAddr },
    /// The mocket CA's certificate file, created if needed.
    Ca { pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Fake(Ipv4Addr),
    Real,
    /// Resolve for real, then send [`Request::Resolved`] with the addresses.
    RealTell,
    /// Connect to the engine on this loopback port, then send [`Request::Claim`].
    Redirect(u16),
    Pass,
    /// Connect for real to `name` on the same port (a mocked name on a port without entries,
    /// outside strict mode).
    PassHost(String),
    Refuse(String),
    Ok,
    Name(String),
    Path(String),
}

impl Request {
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut words = line_content(line).split(' ');
        let verb = words.next().unwrap_or_default();
        let pid: u32 = number(words.next(), "pid")?;
        // An empty word (two spaces) is a missing one: `resolve 1  x` has no name, and a name ""
        // would be written back as a line without one. A control character cannot be carried
        // (a name ending in `\r` reads back without it): refused.
        let mut next = |what: &str| match words.next() {
            None | Some("") => Err(format!("missing {what}")),
            Some(w) if w.chars().any(char::is_control) => {
                Err(format!("control character in {what} {w:?}"))
            }
            Some(w) => Ok(w),
        };
        match verb {
            "resolve" => Ok(Request::Resolve {
                pid,
                name: next("name")?.to_string(),
            }),
            "query" => Ok(Request::Query {
                pid,
                name: next("name")?.to_string(),
            }),
            "ca" => Ok(Request::Ca { pid }),
            "reverse" => {
                let addr = next("address")?
                    .parse()
                    .map_err(|_| "bad address".to_string())?;
                Ok(Request::Reverse { pid, addr })
            }
            "resolved" => {
                let name = next("name")?.to_string();
                let addrs = words.map(|w| w.parse().map_err(|_| format!("bad address {w:?}")));
                Ok(Request::Resolved {
                    pid,
                    name,
                    addrs: addrs.collect::<Result<_, _>>()?,
                })
            }
            "route" => {
                let transport = match next("transport")? {
                    "tcp" => Transport::Tcp,
                    "udp" => Transport::Udp,
                    other => return Err(format!("unknown transport {other:?}")),
                };
                let addr = next("address")?
                    .parse()
                    .map_err(|_| "bad address".to_string())?;
                let port = number(Some(next("port")?), "port")?;
                Ok(Request::Route {
                    pid,
                    transport,
                    addr,
                    port,
                })
            }
            "claim" => {
                let local_port = number(Some(next("local port")?), "local port")?;
                let addr = next("address")?
                    .parse()
                    .map_err(|_| "bad address".to_string())?;
                let port = number(Some(next("port")?), "port")?;
                Ok(Request::Claim {
                    pid,
                    local_port,
                    addr,
                    port,
                })
            }
            other => Err(format!("unknown request {other:?}")),
        }
    }

    pub fn to_line(&self) -> String {
        match self {
            Request::Resolve { pid, name } => format!("resolve {pid} {name}"),
            Request::Query { pid, name } => format!("query {pid} {name}"),
            Request::Reverse { pid, addr } => format!("reverse {pid} {addr}"),
            Request::Ca { pid } => format!("ca {pid}"),
            Request::Resolved { pid, name, addrs } => {
                let addrs: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
                format!("resolved {pid} {name} {}", addrs.join(" "))
                    .trim_end()
                    .to_string()
            }
            Request::Route {
                pid,
                transport,
                addr,
                port,
            } => format!("route {pid} {} {addr} {port}", transport.name()),
            Request::Claim {
                pid,
                local_port,
                addr,
                port,
            } => format!("claim {pid} {local_port} {addr} {port}"),
        }
    }
}

impl Reply {
    pub fn parse(line: &str) -> Result<Self, String> {
        let line = line.trim_end();
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "fake" => rest
                .parse()
                .map(Reply::Fake)
                .map_err(|_| format!("bad address {rest:?}")),
            "real" => Ok(Reply::Real),
            "real-tell" => Ok(Reply::RealTell),
            "redirect" => number(Some(rest), "port").map(Reply::Redirect),
            "name" => Ok(Reply::Name(rest.to_string())),
            "path" => Ok(Reply::Path(rest.to_string())),
            "pass" => Ok(Reply::Pass),
            "pass-host" => Ok(Reply::PassHost(rest.to_string())),
            "refuse" => Ok(Reply::Refuse(rest.to_string())),
            "ok" => Ok(Reply::Ok),
            other => Err(format!("unknown reply {other:?}")),
        }
    }

    pub fn to_line(&self) -> String {
        match self {
            Reply::Fake(ip) => format!("fake {ip}"),
            Reply::Real => "real".into(),
            Reply::RealTell => "real-tell".into(),
            Reply::Redirect(port) => format!("redirect {port}"),
            Reply::Name(name) => format!("name {name}"),
            Reply::Path(path) => format!("path {path}"),
            Reply::Pass => "pass".into(),
            Reply::PassHost(name) => format!("pass-host {name}"),
            Reply::Refuse(msg) => format!("refuse {}", msg.replace(['\n', '\r'], " ")),
            Reply::Ok => "ok".into(),
        }
    }
}

/// A line without its line end (`\n` or `\r\n`). Only that: trimming all trailing whitespace
/// would cut Unicode spaces off the end of a name, so the engine would answer for another name
/// than the one sent.
fn line_content(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn number<T: std::str::FromStr>(word: Option<&str>, what: &str) -> Result<T, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    word.parse().map_err(|_| format!("bad {what} {word:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let all = [
            Request::Resolve {
                pid: 7,
                name: "a.test".into(),
            },
            Request::Reverse {
                pid: 7,
                addr: "198.18.0.9".parse().unwrap(),
            },
            Request::Ca { pid: 3 },
            Request::Query {
                pid: 7,
                name: "_x._tcp.a.test".into(),
            },
            Request::Resolved {
                pid: 1,
                name: "db".into(),
                addrs: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            },
            Request::Resolved {
                pid: 1,
                name: "db".into(),
                addrs: vec![],
            },
            Request::Route {
                pid: 9,
                transport: Transport::Udp,
                addr: "198.18.0.1".parse().unwrap(),
                port: 53,
            },
            Request::Route {
                pid: 9,
                transport: Transport::Tcp,
                addr: "::1".parse().unwrap(),
                port: 1,
            },
            Request::Claim {
                pid: 9,
                local_port: 40000,
                addr: "198.18.0.1".parse().unwrap(),
                port: 443,
            },
        ];
        for r in all {
            assert_eq!(Request::parse(&r.to_line()).unwrap(), r);
        }
        assert!(Request::parse("route 1 sctp 1.2.3.4 1").is_err());
        assert!(Request::parse("bogus 1").is_err());
        assert!(Request::parse("resolve x a").is_err());
    }

    #[test]
    fn replies_round_trip() {
        let all = [
            Reply::Fake("198.18.1.2".parse().unwrap()),
            Reply::Real,
            Reply::RealTell,
            Reply::Redirect(4000),
            Reply::Name("a.test".into()),
            Reply::Path("/a b/cert.pem".into()),
            Reply::Pass,
            Reply::PassHost("a.test".into()),
            Reply::Refuse("strict mode refused a:1 (x)".into()),
            Reply::Ok,
        ];
        for r in all {
            assert_eq!(Reply::parse(&r.to_line()).unwrap(), r);
        }
        assert_eq!(Reply::Refuse("a\nb".into()).to_line(), "refuse a b");
    }

    /// Found by the `control_line` fuzz target: `resolve 429  x` was a request for the name "",
    /// which `to_line` writes as `resolve 429 `, a line without a name.
    #[test]
    fn an_empty_word_is_a_missing_one() {
        assert_eq!(
            Request::parse("resolve 429  x\n"),
            Err("missing name".into())
        );
        assert_eq!(Request::parse("query 1 "), Err("missing name".into()));
        assert_eq!(
            Request::parse("reverse 1  ::1"),
            Err("missing address".into())
        );
        assert_eq!(
            Request::parse("route 1 tcp ::1 "),
            Err("missing port".into())
        );
        assert!(Request::parse("resolved 1 db  10.0.0.1").is_err());
    }

    /// Found by the `control_line` fuzz target: `resolve 1 \r\r\n` was a request for the name
    /// "\r", which reads back from its own line as no name.
    #[test]
    fn a_word_with_a_control_character_is_refused() {
        let refused = |line: &str| Request::parse(line).unwrap_err();
        assert!(refused("resolve 1 \r\r\n").contains("control character in name"));
        assert!(refused("query 1 a\u{7}b").contains("control character in name"));
        assert!(refused("resolved 1 a\u{85} ::1").contains("control character in name"));
    }

    /// Only the line end is cut: the whole-line trim took a Unicode space off the end of a name
    /// and answered for another name than the one sent.
    #[test]
    fn only_the_line_end_is_trimmed() {
        let cut = Request::Resolve {
            pid: 1,
            name: "a".into(),
        };
        assert_ne!(Request::parse("resolve 1 a\u{3000}\r\n"), Ok(cut.clone()));
        assert_eq!(Request::parse("resolve 1 a\r\n"), Ok(cut.clone()));
        assert_eq!(Request::parse("resolve 1 a\n"), Ok(cut));
    }
}
