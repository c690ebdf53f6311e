//! Just enough DNS (RFC 1035) to answer the queries of resolvers that bypass libc (Go's,
//! musl's) under `mocket run --seccomp`: read the question of a query, answer it with one
//! address or an error code, and read the addresses out of a real server's answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const HEADER: usize = 12;
pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// How long a client may cache a fake answer: short, the run is short.
const TTL: u32 = 5;

/// Response codes mocket sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    ServFail = 2,
    NxDomain = 3,
    Refused = 5,
}

/// The single question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The name, lower-cased, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question's bytes as sent (echoed in the answer: resolvers compare them).
    question: Vec<u8>,
    /// The query's opcode and RD bit, echoed.
    flags: u16,
}

/// Why a datagram is not a query mocket answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    Truncated,
    NotAQuery,
    /// Zero or several questions (every real resolver sends one).
    QuestionCount(u16),
    BadName,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Truncated => write!(f, "a truncated DNS message"),
            DnsError::NotAQuery => write!(f, "a DNS message that is not a standard query"),
            DnsError::QuestionCount(n) => write!(f, "a DNS query with {n} questions (1 expected)"),
            DnsError::BadName => write!(f, "a DNS query with a malformed name"),
        }
    }
}

impl std::error::Error for DnsError {}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, DnsError> {
    let b = bytes.get(at..at + 2).ok_or(DnsError::Truncated)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads the (uncompressed) name at `at`; returns it and the offset after it.
fn read_name(bytes: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *bytes.get(at).ok_or(DnsError::Truncated)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return Err(DnsError::BadName);
        }
        let label = bytes.get(at..at + len).ok_or(DnsError::Truncated)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let name = labels.join(".");
    if name.len() > 253 {
        return Err(DnsError::BadName);
    }
    Ok((name, at))
}

/// Skips a possibly compressed name.
fn skip_name(bytes: &[u8], mut at: usize) -> Result<usize, DnsError> {
    loop {
        let len = *bytes.get(at).ok_or(DnsError::Truncated)?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xC0 == 0xC0 => return Ok(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

impl Query {
    pub fn parse(bytes: &[u8]) -> Result<Query, DnsError> {
        let id = u16_at(bytes, 0)?;
        let flags = u16_at(bytes, 2)?;
        // QR must be 0 (a query) and the opcode 0 (standard).
        if flags & 0x8000 != 0 || (flags >> 11) & 0xF != 0 {
            return Err(DnsError::NotAQuery);
        }
        let count = u16_at(bytes, 4)?;
        if count != 1 {
            return Err(DnsError::QuestionCount(count));
        }
        let (name, end) = read_name(bytes, HEADER)?;
        let qtype = u16_at(bytes, end)?;
        let qclass = u16_at(bytes, end + 2)?;
        Ok(Query {
            id,
            name,
            qtype,
            qclass,
            question: bytes[HEADER..end + 4].to_vec(),
            flags: flags & 0x0100,
        })
    }

    /// An answer with `addr` when it fits the question's type (an A question gets an IPv4
    /// address, AAAA an IPv6 one), else an empty success ("no address of this type").
    pub fn answer(&self, addr: IpAddr) -> Vec<u8> {
        let record = match (self.qclass, self.qtype, addr) {
            (CLASS_IN, TYPE_A, IpAddr::V4(v4)) => Some(v4.octets().to_vec()),
            (CLASS_IN, TYPE_AAAA, IpAddr::V6(v6)) => Some(v6.octets().to_vec()),
            _ => None,
        };
        let mut out = self.header(Rcode::NoError, u16::from(record.is_some()));
        if let Some(data) = record {
            // A pointer to the question's name, then type, class, TTL, length, data.
            out.extend_from_slice(&[0xC0, HEADER as u8]);
            out.extend_from_slice(&self.qtype.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&TTL.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(&data);
        }
        out
    }

    /// An answer without records, with `rcode`.
    pub fn error(&self, rcode: Rcode) -> Vec<u8> {
        self.header(rcode, 0)
    }

    fn header(&self, rcode: Rcode, answers: u16) -> Vec<u8> {
        // QR, AA and RA set: an authoritative, recursive answer (Go rejects a "lame" one).
        let flags: u16 = 0x8000 | 0x0400 | self.flags | 0x0080 | rcode as u16;
        let mut out = Vec::with_capacity(HEADER + self.question.len() + 32);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        for count in [1, answers, 0, 0] {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(&self.question);
        out
    }
}

/// The A and AAAA addresses in a real server's answer.
pub fn answer_addresses(bytes: &[u8]) -> Result<Vec<IpAddr>, DnsError> {
    let questions = u16_at(bytes, 4)?;
    let answers = u16_at(bytes, 6)?;
    let mut at = HEADER;
    for _ in 0..questions {
        at = skip_name(bytes, at)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..answers {
        at = skip_name(bytes, at)?;
        let rtype = u16_at(bytes, at)?;
        let len = u16_at(bytes, at + 8)? as usize;
        let data = bytes
            .get(at + 10..at + 10 + len)
            .ok_or(DnsError::Truncated)?;
        match (rtype, len) {
            (TYPE_A, 4) => addrs.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (TYPE_AAAA, 16) => {
                let octets: [u8; 16] = data.try_into().map_err(|_| DnsError::Truncated)?;
                addrs.push(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            _ => {}
        }
        at += 10 + len;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as Go sends it: id, RD, one question, an EDNS0 OPT record.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn answers_an_a_question_with_the_address() {
        let q = Query::parse(&query("Api.Example.com", TYPE_A)).unwrap();
        assert_eq!(q.name, "api.example.com");
        let answer = q.answer(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 7)));
        assert_eq!(&answer[0..2], &[0x12, 0x34]);
        assert_eq!(
            answer_addresses(&answer).unwrap(),
            vec![IpAddr::from([198, 18, 0, 7])]
        );
        // The question is echoed byte for byte (case included).
        assert!(answer.windows(3).any(|w| w == b"Api"));
    }

    #[test]
    fn an_aaaa_question_about_an_ipv4_address_gets_no_records() {
        let q = Query::parse(&query("a.internal", TYPE_AAAA)).unwrap();
        let answer = q.answer(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 7)));
        assert_eq!(u16_at(&answer, 6).unwrap(), 0);
        assert_eq!(u16_at(&answer, 2).unwrap() & 0xF, 0);
    }

    #[test]
    fn refuses_to_parse_what_is_not_one_query() {
        assert_eq!(Query::parse(&[0; 5]), Err(DnsError::Truncated));
        let mut reply = query("a.b", TYPE_A);
        reply[2] |= 0x80;
        assert_eq!(Query::parse(&reply), Err(DnsError::NotAQuery));
        let mut two = query("a.b", TYPE_A);
        two[5] = 2;
        assert_eq!(Query::parse(&two), Err(DnsError::QuestionCount(2)));
        let mut long_label = query("a.b", TYPE_A);
        long_label[12] = 64;
        assert!(Query::parse(&long_label).is_err());
        let q = Query::parse(&query("x.y", TYPE_A)).unwrap();
        assert_eq!(u16_at(&q.error(Rcode::Refused), 2).unwrap() & 0xF, 5);
    }

    #[test]
    fn truncated_answers_are_errors_not_panics() {
        let q = Query::parse(&query("a.internal", TYPE_A)).unwrap();
        let answer = q.answer(IpAddr::from([1, 2, 3, 4]));
        for cut in 0..answer.len() {
            let _ = answer_addresses(&answer[..cut]);
        }
    }
}
