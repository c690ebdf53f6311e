//! Replies, and their bytes in the protocol version of the connection.
//!
//! A [`Reply`] says what a command answers (a map, a double, a nil...), not how: the same reply
//! is `*4` flattened pairs under RESP2 and `%2` under RESP3, `$3\r\n1.5` or `,1.5`. Encoding is
//! written here rather than with `redis-protocol`'s encoder because that encoder cannot express
//! a RESP2 nil array (`*-1`, what `LPOP key 2` answers on a missing key) and formats doubles the
//! way Rust prints them (`0.1`), where the Redis the emulator reproduces prints `%.17g`
//! (`0.10000000000000001`). The tests decode every encoding back with `redis-protocol`.

use std::fmt::Write as _;

/// The RESP version a connection speaks; `HELLO 3` switches to RESP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn number(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// What a command answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// A missing value: `$-1` in RESP2.
    Nil,
    /// A missing array: `*-1` in RESP2.
    NilArray,
    Array(Vec<Reply>),
    /// Pairs: a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// An array in RESP2.
    Set(Vec<Reply>),
    /// A bulk string in RESP2.
    Double(f64),
    /// A double already printed in another format than `%.17g` (geo coordinates): `,text` in
    /// RESP3, a bulk string in RESP2.
    FormattedDouble(String),
    /// Out-of-band data (pub/sub messages): an array in RESP2.
    Push(Vec<Reply>),
    /// Text for humans (`INFO`): a bulk string in RESP2.
    Verbatim(String),
    /// Several replies in a row: `SUBSCRIBE a b` answers once per channel.
    Several(Vec<Reply>),
    /// A RESP3 boolean (`#t`): `:1` or `:0` in RESP2. Scripts after `redis.setresp(3)`.
    Bool(bool),
    /// A RESP3 big number (`(digits`): a bulk string in RESP2. Scripts' `{big_number = s}`.
    BigNumber(String),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Error(message.into())
    }

    pub fn bulk(data: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(data.as_ref().to_vec())
    }

    /// A bulk string, or nil for `None`.
    pub fn bulk_or_nil(data: Option<impl AsRef<[u8]>>) -> Reply {
        data.map_or(Reply::Nil, Reply::bulk)
    }

    /// An array of bulk strings.
    pub fn bulks<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> Reply {
        Reply::Array(items.into_iter().map(Reply::bulk).collect())
    }

    /// An array of simple strings: the text lines of a `HELP` subcommand.
    pub fn simples(lines: &[&str]) -> Reply {
        Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The reply as `protocol` puts it on the wire.
    pub fn to_bytes(&self, protocol: Protocol) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(protocol, &mut out);
        out
    }

    /// Appends the reply as `protocol` puts it on the wire.
    pub fn encode(&self, protocol: Protocol, out: &mut Vec<u8>) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::Simple(s) => line(out, '+', &one_line(s)),
            Reply::Error(s) => line(out, '-', &one_line(s)),
            Reply::Int(i) => line(out, ':', &i.to_string()),
            Reply::Bulk(b) => blob(out, '$', b),
            Reply::Nil | Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, '*', items, protocol),
            Reply::Set(items) => aggregate(out, if resp3 { '~' } else { '*' }, items, protocol),
            Reply::Push(items) => aggregate(out, if resp3 { '>' } else { '*' }, items, protocol),
            Reply::Map(pairs) => {
                let (mark, len) = if resp3 {
                    ('%', pairs.len())
                } else {
                    ('*', pairs.len() * 2)
                };
                line(out, mark, &len.to_string());
                for (k, v) in pairs {
                    k.encode(protocol, out);
                    v.encode(protocol, out);
                }
            }
            Reply::Double(d) if resp3 => line(out, ',', &format_double(*d)),
            Reply::Double(d) => blob(out, '$', format_double(*d).as_bytes()),
            Reply::FormattedDouble(text) if resp3 => line(out, ',', text),
            Reply::FormattedDouble(text) => blob(out, '$', text.as_bytes()),
            Reply::Verbatim(text) if resp3 => blob(out, '=', format!("txt:{text}").as_bytes()),
            Reply::Verbatim(text) => blob(out, '$', text.as_bytes()),
            Reply::Several(replies) => replies.iter().for_each(|r| r.encode(protocol, out)),
            Reply::Bool(b) if resp3 => line(out, '#', if *b { "t" } else { "f" }),
            Reply::Bool(b) => line(out, ':', if *b { "1" } else { "0" }),
            Reply::BigNumber(digits) if resp3 => line(out, '(', &one_line(digits)),
            Reply::BigNumber(digits) => blob(out, '$', digits.as_bytes()),
        }
    }
}

fn line(out: &mut Vec<u8>, mark: char, text: &str) {
    out.push(mark as u8);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn blob(out: &mut Vec<u8>, mark: char, data: &[u8]) {
    line(out, mark, &data.len().to_string());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut Vec<u8>, mark: char, items: &[Reply], protocol: Protocol) {
    line(out, mark, &items.len().to_string());
    items.iter().for_each(|r| r.encode(protocol, out));
}

/// Simple strings and errors cannot hold a line break; Redis replaces them with spaces too.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        text.replace(['\r', '\n'], " ").into()
    } else {
        text.into()
    }
}

/// A double as Redis 7.0 prints it: C's `%.17g`, with `inf` and `-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.into();
    }
    const PRECISION: i32 = 17;
    // `{:.16e}` rounds to 17 significant digits exactly as printf does; its exponent decides
    // between fixed and scientific notation the way %g does.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is a number");
    if (-4..PRECISION).contains(&exp) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exp) as usize, d);
        trim_fraction(&fixed).to_string()
    } else {
        let mut out = trim_fraction(mantissa).to_string();
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
        out
    }
}

/// Drops trailing zeros of a fraction, and the point if nothing is left after it.
fn trim_fraction(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_protocol::resp2::decode::decode as decode2;
    use redis_protocol::resp3::decode::complete::decode as decode3;

    fn both(r: &Reply) -> (String, String) {
        let s = |p| String::from_utf8(r.to_bytes(p)).unwrap();
        (s(Protocol::Resp2), s(Protocol::Resp3))
    }

    #[test]
    fn doubles_print_like_printf_17g() {
        let cases = [
            (0.1, "0.10000000000000001"),
            (1.0, "1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e21, "1e+21"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (123456789.125, "123456789.125"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0, "0"),
            (3.5, "3.5"),
            (1e-300, "1e-300"),
            (1e23, "9.9999999999999992e+22"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (1.0 / 3.0, "0.33333333333333331"),
        ];
        for (d, text) in cases {
            assert_eq!(format_double(d), text, "{d:e}");
        }
    }

    #[test]
    fn scalars_in_both_versions() {
        assert_eq!(both(&Reply::ok()).0, "+OK\r\n");
        assert_eq!(both(&Reply::error("ERR x\r\ny")).0, "-ERR x  y\r\n");
        assert_eq!(both(&Reply::Int(-3)).1, ":-3\r\n");
        assert_eq!(both(&Reply::bulk("hé")).0, "$3\r\nhé\r\n");
        assert_eq!(both(&Reply::Nil), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(&Reply::NilArray), ("*-1\r\n".into(), "_\r\n".into()));
        assert_eq!(
            both(&Reply::Double(1.5)),
            ("$3\r\n1.5\r\n".into(), ",1.5\r\n".into())
        );
        assert_eq!(
            both(&Reply::Verbatim("a\r\n".into())),
            ("$3\r\na\r\n\r\n".into(), "=7\r\ntxt:a\r\n\r\n".into())
        );
        assert_eq!(both(&Reply::Bool(true)), (":1\r\n".into(), "#t\r\n".into()));
        assert_eq!(
            both(&Reply::Bool(false)),
            (":0\r\n".into(), "#f\r\n".into())
        );
        assert_eq!(
            both(&Reply::BigNumber("123".into())),
            ("$3\r\n123\r\n".into(), "(123\r\n".into())
        );
    }

    #[test]
    fn aggregates_in_both_versions() {
        let map = Reply::Map(vec![(Reply::bulk("k"), Reply::Int(1))]);
        assert_eq!(
            both(&map),
            (
                "*2\r\n$1\r\nk\r\n:1\r\n".into(),
                "%1\r\n$1\r\nk\r\n:1\r\n".into()
            )
        );
        let set = Reply::Set(vec![Reply::bulk("a")]);
        assert_eq!(both(&set).1, "~1\r\n$1\r\na\r\n");
        let push = Reply::Push(vec![Reply::bulk("message")]);
        assert_eq!(
            both(&push),
            (
                "*1\r\n$7\r\nmessage\r\n".into(),
                ">1\r\n$7\r\nmessage\r\n".into()
            )
        );
        let several = Reply::Several(vec![Reply::Int(1), Reply::Int(2)]);
        assert_eq!(both(&several).0, ":1\r\n:2\r\n");
    }

    #[test]
    fn every_encoding_decodes_with_redis_protocol() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::error("ERR no"),
            Reply::Int(7),
            Reply::bulk(b"\x00\xff"),
            Reply::Nil,
            Reply::NilArray,
            Reply::Map(vec![(Reply::bulk("a"), Reply::Double(0.5))]),
            Reply::Set(vec![Reply::bulk("s")]),
            Reply::Push(vec![Reply::bulk("p")]),
            Reply::Verbatim("# Server\r\n".into()),
            Reply::Bool(false),
            Reply::BigNumber("-12345678901234567890".into()),
            Reply::Array(vec![]),
        ]);
        let resp2 = reply.to_bytes(Protocol::Resp2);
        assert_eq!(decode2(&resp2).unwrap().unwrap().1, resp2.len());
        let resp3 = reply.to_bytes(Protocol::Resp3);
        assert_eq!(decode3(&resp3).unwrap().unwrap().1, resp3.len());
    }
}
