//! The DNS server of `mocket run --seccomp`: resolvers that bypass libc (Go's) send their
//! queries over UDP to the nameservers of `/etc/resolv.conf`; the supervisor connects those
//! sockets here instead. A mocked name gets its fake address (the same one the shim hands
//! out), a name the engine lets resolve for real is forwarded to the first real nameserver,
//! and anything else is answered with an error: no query leaves unasked.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use mocket_config::LogLevel;
use mocket_control::{Reply, Request};
use mocket_engine::Engine;
use mocket_protocols::dns::{Query, Rcode, answer_addresses};

/// How long a forwarded query waits for the real nameserver.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest DNS datagram read (EDNS0 sizes stay below it).
const MAX_DATAGRAM: usize = 4096;

pub struct DnsServer {
    addr: SocketAddr,
    nameservers: Vec<IpAddr>,
}

impl DnsServer {
    /// Listens on a loopback port and answers from a thread of its own.
    pub fn start(engine: Arc<Engine>, log: LogLevel) -> io::Result<DnsServer> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = socket.local_addr()?;
        let nameservers =
            nameservers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let upstream = nameservers.first().copied();
        std::thread::Builder::new()
            .name("mocket-dns".into())
            .spawn(move || serve(&socket, &engine, upstream, log))?;
        Ok(DnsServer { addr, nameservers })
    }

    /// Whether `dest` is this server.
    pub fn is(&self, dest: SocketAddr) -> bool {
        dest.ip().to_canonical() == self.addr.ip() && dest.port() == self.addr.port()
    }

    /// Whether `dest` is a nameserver whose queries this server answers instead.
    pub fn serves(&self, dest: SocketAddr) -> bool {
        dest.port() == 53 && self.nameservers.contains(&dest.ip().to_canonical())
    }

    /// This server's address in the family of a socket that was connecting to `dest`.
    pub fn address_for(&self, dest: SocketAddr) -> SocketAddr {
        match (dest, self.addr.ip()) {
            (SocketAddr::V6(_), IpAddr::V4(v4)) => {
                SocketAddr::from((v4.to_ipv6_mapped(), self.addr.port()))
            }
            _ => self.addr,
        }
    }
}

/// The `nameserver` lines of a resolv.conf.
fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect()
}

fn serve(socket: &UdpSocket, engine: &Arc<Engine>, upstream: Option<IpAddr>, log: LogLevel) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let query = match Query::parse(&buf[..n]) {
            Ok(q) => q,
            Err(e) => {
                if log >= LogLevel::Debug {
                    mocket_engine::say(&format!("DNS server: ignored {e} from {client}"));
                }
                continue;
            }
        };
        let answer = match mocket_control::check_name(&query.name) {
            Err(_) => Some(query.error(Rcode::Refused)),
            Ok(()) => answer(engine, &query, &buf[..n], client, socket, upstream, log),
        };
        if let Some(answer) = answer {
            let _ = socket.send_to(&answer, client);
        }
    }
}

/// The answer to send now, or `None` when a forwarding thread will send it.
fn answer(
    engine: &Arc<Engine>,
    query: &Query,
    raw: &[u8],
    client: SocketAddr,
    socket: &UdpSocket,
    upstream: Option<IpAddr>,
    log: LogLevel,
) -> Option<Vec<u8>> {
    let reply = engine.handle(Request::Resolve {
        pid: 0,
        name: query.name.clone(),
    });
    match reply {
        Reply::Fake(ip) => Some(query.answer(IpAddr::V4(ip))),
        Reply::Real | Reply::RealTell => {
            let tell = reply == Reply::RealTell;
            let Some(upstream) = upstream else {
                return Some(query.error(Rcode::ServFail));
            };
            let (engine, query, raw, socket) = (
                Arc::clone(engine),
                query.clone(),
                raw.to_vec(),
                socket.try_clone().ok()?,
            );
            std::thread::spawn(move || {
                let answer =
                    forward(&raw, upstream).unwrap_or_else(|_| query.error(Rcode::ServFail));
                if tell && let Ok(addrs) = answer_addresses(&answer) {
                    let _ = engine.handle(Request::Resolved {
                        pid: 0,
                        name: query.name.clone(),
                        addrs,
                    });
                }
                let _ = socket.send_to(&answer, client);
            });
            None
        }
        Reply::Refuse(message) => {
            if log >= LogLevel::Warn {
                mocket_engine::say(&message);
            }
            Some(query.error(Rcode::NxDomain))
        }
        _ => Some(query.error(Rcode::ServFail)),
    }
}

/// Sends `raw` to the real nameserver and returns its answer.
fn forward(raw: &[u8], upstream: IpAddr) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(FORWARD_TIMEOUT))?;
    socket.connect((upstream, 53))?;
    socket.send(raw)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = socket.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines() {
        let conf = "# c\nsearch x\nnameserver 10.0.0.2\nnameserver ::1 # v6\nnameserver bad\n";
        assert_eq!(
            nameservers(conf),
            vec![
                IpAddr::from([10, 0, 0, 2]),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
    }
}
