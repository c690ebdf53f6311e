//! What `libmocket.so` and the engine must agree on: the control protocol, the fake address
//! range, and the names of the trust bundle. A crate of its own, without dependencies, so the
//! shim can share it without growing.
//!
//! # The control protocol
//!
//! One request line, one reply line, both plain text so the shim can speak it without any
//! dependency: over the `MOCKET_SOCKET` Unix socket to a daemon, or through one C call into the
//! embedded engine library. Fields are separated by single spaces; only a refusal's message
//! and a path (always last) may contain spaces. No field may contain a line break or another
//! control character, and a name must pass [`check_name`]: encoding such a field is an error,
//! and so is a line with one, or with words left over.
//!
//! ```text
//! resolve <pid> <name>                         -> fake <ipv4> | real | real-tell | refuse <msg>
//! resolved <pid> <name> <ip>...                -> ok     (real addresses of an allowed name)
//! route <pid> <tcp|udp> <ip> <port>          -> redirect <port> [lasting] [client-first] [from <127.a.b.c>] | pass | pass-host <name> | refuse <msg>
//! query <pid> <name>                           -> real | refuse <msg>      (res_query, res_send, ...)
//! reverse <pid> <ip>                           -> name <name> | real | refuse <msg>  (getnameinfo, gethostbyaddr)
//! ca <pid>                                     -> path <cert.pem> | refuse <msg>   (OpenSSL trust injection)
//! ```
//!
//! A connection redirected to the engine carries its own claim: when the `redirect` reply names
//! a [`source_tag`] address (`from`), the shim binds the socket to it before connecting, and the
//! address the engine accepts from says who connected and where to; otherwise, right after
//! connecting, the shim writes a fixed [`preamble`] (pid, original destination) on the socket,
//! before the application's first byte. Nothing about a connection travels on the control
//! channel.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use source_tag::SourceTag;

pub mod ca_location;
pub mod fake_range;
pub mod fnv;
/// Fuzz targets' entry points (the `fuzz/` crate) and the corpus replay.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod log_level;
pub mod preamble;
pub mod preload_env;
pub mod source_tag;
pub mod sync;
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
    /// Connect to the engine instead, as the [`Redirect`] says.
    Redirect(Redirect),
    Pass,
    /// Connect for real to `name` on the same port (a mocked name on a port without entries,
    /// outside strict mode).
    PassHost(String),
    Refuse(String),
    Ok,
    Name(String),
    Path(String),
}

/// Where and how a connection goes to the engine (the `redirect` reply): one value that the
/// engine builds, the line carries and the shim keeps and acts on, so that a new field is added
/// in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The engine listener's loopback port: connect there, then write the [`preamble`] (unless
    /// `from` introduces the connection).
    pub port: u16,
    /// Every connect to this destination will be redirected here for the rest of the run (its
    /// entries come from the mocks file, which never changes), so the shim may route the next
    /// ones itself instead of asking again (a round trip per new connection).
    pub lasting: bool,
    /// Every entry at this destination is of a protocol whose client speaks first (HTTP, TLS,
    /// Redis), so the engine never greets, and the shim may hold the preamble back until the
    /// application's first bytes, to travel in the same segment (issue 15).
    pub client_first: bool,
    /// Bind the socket to this tag's address before connecting, and write no preamble (see
    /// [`source_tag`]); when the socket cannot be bound, the preamble introduces it as usual.
    pub from: Option<SourceTag>,
}

impl Redirect {
    /// The engine listener's address: loopback, at [`Redirect::port`].
    pub fn engine(self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The reply's words after the verb: `<port> [lasting] [client-first] [from <127.a.b.c>]`.
    fn to_words(self) -> String {
        let Redirect {
            port,
            lasting,
            client_first,
            from,
        } = self;
        let lasting = if lasting { " lasting" } else { "" };
        let client_first = if client_first { " client-first" } else { "" };
        let from = from.map_or(String::new(), |tag| format!(" from {}", tag.address()));
        format!("{port}{lasting}{client_first}{from}")
    }

    /// Reads [`Redirect::to_words`] back: the flags each at most once and in that order, the
    /// tag last, nothing after it.
    fn parse_words(rest: &str) -> Result<Self, LineError> {
        let mut words = words(rest)?;
        let port = words.parse("port")?;
        let mut next = words.0.next();
        let mut flag = |name: &str| {
            let set = next == Some(name);
            if set {
                next = words.0.next();
            }
            set
        };
        let lasting = flag("lasting");
        let client_first = flag("client-first");
        let bad = |field: &'static str, word: &str| LineError::Bad {
            field,
            word: word.to_string(),
        };
        let from = match next {
            None => None,
            Some("from") => {
                let word = words.next("from")?;
                let tag = word.parse().ok().and_then(SourceTag::of_address);
                Some(tag.ok_or_else(|| bad("from", word))?)
            }
            Some(word) => return Err(bad("redirect flag", word)),
        };
        words.end()?;
        Ok(Redirect {
            port,
            lasting,
            client_first,
            from,
        })
    }
}

/// Why a line could not be written or read. Names and text travel as single fields of one
/// line, so a field that could end the line or split it is refused on both sides: a name can
/// never shift the replies of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// A name field that a lookup could never legitimately carry.
    BadName { name: String, problem: NameProblem },
    /// A text field (message, path) with a line break or another control character.
    BadText { field: &'static str },
    /// A field is missing.
    Missing(&'static str),
    /// A field that does not parse as what it must be.
    Bad { field: &'static str, word: String },
    /// Words after the last field.
    Trailing(String),
    /// An unknown request or reply verb.
    UnknownVerb(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::BadName { name, problem } => write!(f, "bad name {name:?}: {problem}"),
            LineError::BadText { field } => {
                write!(f, "the {field} contains a line break or control character")
            }
            LineError::Missing(field) => write!(f, "missing {field}"),
            LineError::Bad { field, word } => write!(f, "bad {field} {word:?}"),
            LineError::Trailing(rest) => write!(f, "unexpected words after the request: {rest:?}"),
            LineError::UnknownVerb(verb) => write!(f, "unknown verb {verb:?}"),
        }
    }
}

impl std::error::Error for LineError {}

/// What makes a string unfit to be a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// Longer than the 253 bytes DNS allows (a trailing dot aside).
    TooLong(usize),
    /// A space, a control character (line breaks included) or DEL.
    Unprintable,
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "empty"),
            NameProblem::TooLong(n) => write!(f, "{n} bytes, over the {MAX_NAME_LEN} DNS allows"),
            NameProblem::Unprintable => write!(f, "contains a space or a control character"),
        }
    }
}

/// The longest host name DNS can carry, without its trailing dot.
pub const MAX_NAME_LEN: usize = 253;

/// Checks that `name` can be a host name: not empty, at most [`MAX_NAME_LEN`] bytes (plus a
/// trailing dot), and without spaces or control characters. The shim refuses other names
/// before anything is sent; the protocol cannot carry them.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err(NameProblem::Empty);
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong(bare.len()));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NameProblem::Unprintable);
    }
    Ok(())
}

fn name_field(name: &str) -> Result<&str, LineError> {
    check_name(name).map_err(|problem| LineError::BadName {
        name: name.to_string(),
        problem,
    })?;
    Ok(name)
}

/// A rest-of-line text field: spaces allowed, no line breaks or other control characters.
fn text_field<'a>(text: &'a str, field: &'static str) -> Result<&'a str, LineError> {
    match text.chars().any(char::is_control) {
        true => Err(LineError::BadText { field }),
        false => Ok(text),
    }
}

/// A line's words, each taken once; a request with words left over is refused.
struct Words<'a>(std::str::Split<'a, char>);

impl<'a> Words<'a> {
    fn next(&mut self, field: &'static str) -> Result<&'a str, LineError> {
        self.0.next().ok_or(LineError::Missing(field))
    }

    fn parse<T: std::str::FromStr>(&mut self, field: &'static str) -> Result<T, LineError> {
        let word = self.next(field)?;
        word.parse().map_err(|_| LineError::Bad {
            field,
            word: word.to_string(),
        })
    }

    fn name(&mut self) -> Result<String, LineError> {
        Ok(name_field(self.next("name")?)?.to_string())
    }

    fn end(mut self) -> Result<(), LineError> {
        match self.0.next() {
            None => Ok(()),
            Some(word) => {
                let rest: Vec<&str> = std::iter::once(word).chain(self.0).collect();
                Err(LineError::Trailing(rest.join(" ")))
            }
        }
    }
}

/// Splits a line into words, refusing control characters anywhere in it.
fn words(line: &str) -> Result<Words<'_>, LineError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    text_field(line, "line")?;
    Ok(Words(line.split(' ')))
}

impl Request {
    pub fn parse(line: &str) -> Result<Self, LineError> {
        let mut words = words(line)?;
        let verb = words.next("verb")?;
        let pid: u32 = words.parse("pid")?;
        let request = match verb {
            "resolve" => Request::Resolve {
                pid,
                name: words.name()?,
            },
            "query" => Request::Query {
                pid,
                name: words.name()?,
            },
            "ca" => Request::Ca { pid },
            "reverse" => Request::Reverse {
                pid,
                addr: words.parse("address")?,
            },
            "resolved" => {
                let name = words.name()?;
                let mut addrs = Vec::new();
                for word in words.0.by_ref() {
                    addrs.push(word.parse().map_err(|_| LineError::Bad {
                        field: "address",
                        word: word.to_string(),
                    })?);
                }
                Request::Resolved { pid, name, addrs }
            }
            "route" => {
                let transport = match words.next("transport")? {
                    "tcp" => Transport::Tcp,
                    "udp" => Transport::Udp,
                    other => {
                        return Err(LineError::Bad {
                            field: "transport",
                            word: other.to_string(),
                        });
                    }
                };
                Request::Route {
                    pid,
                    transport,
                    addr: words.parse("address")?,
                    port: words.parse("port")?,
                }
            }
            other => return Err(LineError::UnknownVerb(other.to_string())),
        };
        words.end()?;
        Ok(request)
    }

    /// The request as one line (without its line break); a name the protocol cannot carry is
    /// an error, never a line.
    pub fn to_line(&self) -> Result<String, LineError> {
        Ok(match self {
            Request::Resolve { pid, name } => format!("resolve {pid} {}", name_field(name)?),
            Request::Query { pid, name } => format!("query {pid} {}", name_field(name)?),
            Request::Reverse { pid, addr } => format!("reverse {pid} {addr}"),
            Request::Ca { pid } => format!("ca {pid}"),
            Request::Resolved { pid, name, addrs } => {
                let mut line = format!("resolved {pid} {}", name_field(name)?);
                for addr in addrs {
                    line.push_str(&format!(" {addr}"));
                }
                line
            }
            Request::Route {
                pid,
                transport,
                addr,
                port,
            } => format!("route {pid} {} {addr} {port}", transport.name()),
        })
    }
}

impl Reply {
    pub fn parse(line: &str) -> Result<Self, LineError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        text_field(line, "line")?;
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let single = |field: &'static str| {
            let mut words = words(rest)?;
            let word = words.next(field)?;
            words.end()?;
            Ok::<&str, LineError>(word)
        };
        let bad = |field: &'static str, word: &str| LineError::Bad {
            field,
            word: word.to_string(),
        };
        let bare = |reply: Reply| match rest.is_empty() {
            true => Ok(reply),
            false => Err(LineError::Trailing(rest.to_string())),
        };
        match verb {
            "fake" => {
                let word = single("address")?;
                word.parse()
                    .map(Reply::Fake)
                    .map_err(|_| bad("address", word))
            }
            "redirect" => Redirect::parse_words(rest).map(Reply::Redirect),
            "name" => Ok(Reply::Name(name_field(single("name")?)?.to_string())),
            "pass-host" => Ok(Reply::PassHost(name_field(single("name")?)?.to_string())),
            "path" => Ok(Reply::Path(rest.to_string())),
            "refuse" => Ok(Reply::Refuse(rest.to_string())),
            "real" => bare(Reply::Real),
            "real-tell" => bare(Reply::RealTell),
            "pass" => bare(Reply::Pass),
            "ok" => bare(Reply::Ok),
            other => Err(LineError::UnknownVerb(other.to_string())),
        }
    }

    /// The reply as one line. A refusal's message has its control characters replaced by
    /// spaces (it is only shown to people); a name or path the line cannot carry is an error.
    pub fn to_line(&self) -> Result<String, LineError> {
        Ok(match self {
            Reply::Fake(ip) => format!("fake {ip}"),
            Reply::Real => "real".into(),
            Reply::RealTell => "real-tell".into(),
            Reply::Redirect(redirect) => format!("redirect {}", redirect.to_words()),
            Reply::Name(name) => format!("name {}", name_field(name)?),
            Reply::Path(path) => format!("path {}", text_field(path, "path")?),
            Reply::Pass => "pass".into(),
            Reply::PassHost(name) => format!("pass-host {}", name_field(name)?),
            Reply::Refuse(msg) => {
                let msg: String = msg
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                format!("refuse {msg}")
            }
            Reply::Ok => "ok".into(),
        })
    }
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
        ];
        for r in all {
            assert_eq!(Request::parse(&r.to_line().unwrap()).unwrap(), r);
        }
        assert!(Request::parse("route 1 sctp 1.2.3.4 1").is_err());
        assert!(Request::parse("bogus 1").is_err());
        // Connections carry their own claim now (the preamble): the verb is gone.
        assert!(Request::parse("claim 9 40000 198.18.0.1 443").is_err());
        assert!(Request::parse("resolve x a").is_err());
    }

    #[test]
    fn replies_round_trip() {
        let all = [
            Reply::Fake("198.18.1.2".parse().unwrap()),
            Reply::Real,
            Reply::RealTell,
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: false,
                client_first: false,
                from: None,
            }),
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: true,
                client_first: false,
                from: None,
            }),
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: false,
                client_first: true,
                from: None,
            }),
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: true,
                client_first: true,
                from: None,
            }),
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: true,
                client_first: true,
                from: SourceTag::new(70000),
            }),
            Reply::Redirect(Redirect {
                port: 4000,
                lasting: false,
                client_first: true,
                from: SourceTag::new(0),
            }),
            Reply::Name("a.test".into()),
            Reply::Path("/a b/cert.pem".into()),
            Reply::Pass,
            Reply::PassHost("a.test".into()),
            Reply::Refuse("strict mode refused a:1 (x)".into()),
            Reply::Ok,
        ];
        for r in all {
            assert_eq!(Reply::parse(&r.to_line().unwrap()).unwrap(), r);
        }
        assert_eq!(
            Reply::Refuse("a\nb\rc".into()).to_line().unwrap(),
            "refuse a b c"
        );
        let both = Reply::Redirect(Redirect {
            port: 4000,
            lasting: true,
            client_first: true,
            from: None,
        });
        assert_eq!(
            both.to_line().unwrap(),
            "redirect 4000 lasting client-first"
        );
        let tagged = Redirect {
            port: 4001,
            lasting: false,
            client_first: true,
            from: SourceTag::new(70000),
        };
        assert_eq!(
            Reply::Redirect(tagged).to_line().unwrap(),
            "redirect 4001 client-first from 127.2.17.112"
        );
        assert_eq!(tagged.engine(), "127.0.0.1:4001".parse().unwrap());
        assert_eq!(
            Reply::parse("redirect 4000 client-first"),
            Ok(Reply::Redirect(Redirect {
                port: 4000,
                lasting: false,
                client_first: true,
                from: None,
            }))
        );
    }

    #[test]
    fn names_the_line_cannot_carry_are_never_written() {
        let long = "a".repeat(254);
        for name in [
            "a\nb",
            "a b",
            "a\rb",
            "a\tb",
            "a\u{7f}b",
            "",
            ".",
            long.as_str(),
        ] {
            let resolve = Request::Resolve {
                pid: 1,
                name: name.into(),
            };
            assert!(
                matches!(resolve.to_line(), Err(LineError::BadName { .. })),
                "{name:?}"
            );
            let query = Request::Query {
                pid: 1,
                name: name.into(),
            };
            assert!(query.to_line().is_err(), "{name:?}");
            let resolved = Request::Resolved {
                pid: 1,
                name: name.into(),
                addrs: vec![],
            };
            assert!(resolved.to_line().is_err(), "{name:?}");
            assert!(Reply::Name(name.into()).to_line().is_err(), "{name:?}");
            assert!(Reply::PassHost(name.into()).to_line().is_err(), "{name:?}");
        }
        assert!(Reply::Path("/a\nb".into()).to_line().is_err());
        let longest = format!("{}.", "a".repeat(253));
        assert_eq!(check_name(&longest), Ok(()));
        assert_eq!(check_name(&long), Err(NameProblem::TooLong(254)));
    }

    #[test]
    fn lines_with_a_shifted_or_extra_field_are_refused() {
        assert_eq!(
            Request::parse("resolve 1 a b"),
            Err(LineError::Trailing("b".into()))
        );
        assert!(Request::parse("resolve 1 a\nroute 1 tcp 127.0.0.1 2").is_err());
        assert!(Request::parse("resolve 1 a\rb").is_err());
        assert!(Request::parse("route 1 tcp 127.0.0.1 2 3").is_err());
        assert!(Request::parse("resolve 1").is_err());
        assert_eq!(
            Request::parse("resolve 1 a\n"),
            Ok(Request::Resolve {
                pid: 1,
                name: "a".into()
            })
        );
        assert!(Reply::parse("pass extra").is_err());
        assert!(Reply::parse("fake 198.18.0.1 x").is_err());
        assert!(Reply::parse("redirect 4000 forever").is_err());
        assert!(Reply::parse("redirect 4000 lasting x").is_err());
        assert!(Reply::parse("redirect 4000 client-first lasting").is_err());
        assert!(Reply::parse("redirect 4000 lasting lasting").is_err());
        assert!(Reply::parse("redirect 4000 client-first client-first").is_err());
        assert!(Reply::parse("redirect 4000 lasting client-first x").is_err());
        // A `from` must be a tag's address, and come last.
        assert!(Reply::parse("redirect 4000 from 127.0.0.1").is_err());
        assert!(Reply::parse("redirect 4000 from 10.1.0.0").is_err());
        assert!(Reply::parse("redirect 4000 from").is_err());
        assert!(Reply::parse("redirect 4000 from 127.1.0.1 lasting").is_err());
        assert!(Reply::parse("redirect 4000 from 127.1.0.1 x").is_err());
        assert_eq!(
            Reply::parse("redirect 4000 client-first from 127.1.0.1"),
            Ok(Reply::Redirect(Redirect {
                port: 4000,
                lasting: false,
                client_first: true,
                from: SourceTag::new(1),
            }))
        );
        assert!(Reply::parse("redirect 4000  client-first").is_err());
        assert!(Reply::parse("redirect 4000 client-first ").is_err());
        assert!(Reply::parse("redirect").is_err());
        assert!(Reply::parse("name a b").is_err());
        assert!(Reply::parse("refuse a\nb").is_err());
        assert_eq!(
            Reply::parse("refuse no  entry here"),
            Ok(Reply::Refuse("no  entry here".into()))
        );
    }

    /// Found by the `control_line` fuzzer: an empty word (two spaces) is not a field.
    #[test]
    fn an_empty_word_is_never_a_field() {
        for line in [
            "resolve 429  x\n",
            "query 1 ",
            "reverse 1  ::1",
            "route 1 tcp ::1 ",
            "resolved 1 db  10.0.0.1",
        ] {
            assert!(Request::parse(line).is_err(), "{line:?}");
        }
    }

    /// Found by the `control_line` fuzzer: `\r` (or any control character) in a word read back
    /// as another name than the one sent.
    #[test]
    fn a_control_character_anywhere_is_refused() {
        for line in [
            "resolve 1 \r\r\n",
            "query 1 a\u{7}b",
            "resolved 1 a\u{85} ::1",
        ] {
            assert!(Request::parse(line).is_err(), "{line:?}");
        }
        let a = Request::Resolve {
            pid: 1,
            name: "a".into(),
        };
        assert_ne!(Request::parse("resolve 1 a\u{3000}"), Ok(a.clone()));
        assert_eq!(Request::parse("resolve 1 a\n"), Ok(a));
    }
}
