//! What a client speaks, from its first bytes, when nothing was recorded for its destination
//! yet: an HTTP request line, Redis (RESP or an inline command), or anything else (raw TCP).

/// The protocol a recorded connection is proxied as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Redis,
    Raw,
}

/// Beyond this many bytes without a line end, the client is not sending a text request line.
pub(crate) const MAX_LINE: usize = 8 * 1024;

/// Inline commands a person or a script types to Redis (`printf 'PING\r\n' | nc`): only these
/// make a text line Redis, so that other line protocols stay raw TCP.
const INLINE_REDIS: &[&str] = &[
    "PING",
    "AUTH",
    "HELLO",
    "SELECT",
    "INFO",
    "ECHO",
    "GET",
    "SET",
    "DEL",
    "EXISTS",
    "KEYS",
    "INCR",
    "DECR",
    "MGET",
    "MSET",
    "EXPIRE",
    "TTL",
    "TYPE",
    "DBSIZE",
    "FLUSHALL",
    "FLUSHDB",
    "LPUSH",
    "RPUSH",
    "LRANGE",
    "HGET",
    "HSET",
    "HGETALL",
    "SADD",
    "SMEMBERS",
    "ZADD",
    "ZRANGE",
    "SUBSCRIBE",
    "PUBLISH",
    "CLIENT",
    "COMMAND",
    "CONFIG",
    "MONITOR",
    "QUIT",
];

/// `None` while the bytes so far could still be any protocol.
pub fn sniff(prefix: &[u8]) -> Option<Protocol> {
    let first = *prefix.first()?;
    if first == b'*' {
        return Some(Protocol::Redis);
    }
    if !first.is_ascii_alphabetic() {
        return Some(Protocol::Raw);
    }
    let Some(end) = prefix.iter().position(|b| *b == b'\n') else {
        return (prefix.len() > MAX_LINE).then_some(Protocol::Raw);
    };
    let line = String::from_utf8_lossy(&prefix[..end]);
    let line = line.trim_end_matches('\r');
    if is_request_line(line) {
        return Some(Protocol::Http);
    }
    let word = line.split_ascii_whitespace().next().unwrap_or_default();
    match INLINE_REDIS.iter().any(|c| c.eq_ignore_ascii_case(word)) {
        true => Some(Protocol::Redis),
        false => Some(Protocol::Raw),
    }
}

/// `METHOD target HTTP/1.x`.
fn is_request_line(line: &str) -> bool {
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return false;
    };
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        && !target.is_empty()
        && version.starts_with("HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_protocols_apart() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"GET /x HTT"), None);
        assert_eq!(
            sniff(b"GET /x HTTP/1.1\r\nHost: h\r\n"),
            Some(Protocol::Http)
        );
        assert_eq!(sniff(b"M-SEARCH * HTTP/1.1\r\n"), Some(Protocol::Http));
        assert_eq!(sniff(b"*1\r\n$4\r\nPING"), Some(Protocol::Redis));
        assert_eq!(sniff(b"ping\r\n"), Some(Protocol::Redis));
        assert_eq!(sniff(b"GET key\r\n"), Some(Protocol::Redis));
        assert_eq!(sniff(b"HELO me\r\n"), Some(Protocol::Raw));
        assert_eq!(
            sniff(b"\x00\x00\x00\x08\x04\xd2\x16\x2f"),
            Some(Protocol::Raw)
        );
        assert_eq!(sniff(&[b'a'; MAX_LINE + 1]), Some(Protocol::Raw));
    }
}
