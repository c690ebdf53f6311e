//! Commands as clients send them: RESP arrays of bulk strings (pipelined, split anywhere by
//! TCP), or inline lines the way `nc` and `telnet` users type them.

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;

/// One command: its name and arguments, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// `args[0]` is the name; never empty.
    pub args: Vec<Vec<u8>>,
}

impl Command {
    /// A command from its words; panics on an empty list, which no decoder produces.
    pub fn new<T: AsRef<[u8]>>(words: impl IntoIterator<Item = T>) -> Command {
        let args: Vec<Vec<u8>> = words.into_iter().map(|w| w.as_ref().to_vec()).collect();
        assert!(!args.is_empty(), "a command has a name");
        Command { args }
    }

    /// The name, upper-cased: command names are case-insensitive.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_uppercase()
    }

    /// The arguments after the name.
    pub fn params(&self) -> &[Vec<u8>] {
        &self.args[1..]
    }

    /// The command as text, for journals and error messages.
    pub fn to_strings(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// A request Redis would refuse to read; the connection is closed after the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(what: &str) -> Self {
        ProtocolError(format!("ERR Protocol error: {what}"))
    }
}

/// Redis's limits: beyond them it refuses the request rather than buffer without end.
const MAX_INLINE: usize = 64 * 1024;
const MAX_MULTIBULK: i64 = 1024 * 1024;

/// Reassembles commands from the bytes of successive reads.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the next command starts in `buf`; consumed bytes are dropped once per read.
    pos: usize,
    failed: bool,
}

impl Decoder {
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete command, `None` until more bytes arrive. After an error, nothing more.
    pub fn next_command(&mut self) -> Option<Result<Command, ProtocolError>> {
        while !self.failed && self.pos < self.buf.len() {
            let rest = &self.buf[self.pos..];
            let parsed = if rest[0] == b'*' {
                multibulk(rest)
            } else {
                inline(rest)
            };
            match parsed {
                Ok(None) => return None,
                Ok(Some((used, command))) => {
                    self.pos += used;
                    if let Some(command) = command {
                        return Some(Ok(command));
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// What one parse step found: bytes used, and the command (`None` for an empty request, which
/// Redis skips silently).
type Step = Result<Option<(usize, Option<Command>)>, ProtocolError>;

/// `*N\r\n$len\r\n...`: the framing is read by `redis-protocol`; the header is checked here
/// first so errors carry Redis's own wording.
fn multibulk(rest: &[u8]) -> Step {
    let Some(header_end) = rest.iter().position(|b| *b == b'\n') else {
        return if rest.len() > MAX_INLINE {
            Err(ProtocolError::new("too big mbulk count string"))
        } else {
            Ok(None)
        };
    };
    let header = rest[1..header_end]
        .strip_suffix(b"\r")
        .unwrap_or(&rest[1..header_end]);
    let count = strict_i64(header)
        .filter(|n| *n <= MAX_MULTIBULK)
        .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
    if count <= 0 {
        return Ok(Some((header_end + 1, None)));
    }
    match decode(rest) {
        Ok(None) => Ok(None),
        Ok(Some((OwnedFrame::Array(items), used))) => {
            let args = items
                .into_iter()
                .map(|item| match item {
                    OwnedFrame::BulkString(b) => Ok(b),
                    OwnedFrame::Null => Err(ProtocolError::new("invalid bulk length")),
                    other => Err(expected_dollar(frame_mark(&other))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some((used, Some(Command { args }))))
        }
        Ok(Some(_)) => Err(ProtocolError::new("invalid multibulk length")),
        Err(_) => Err(classify(&rest[header_end + 1..])),
    }
}

/// Why a multibulk body is malformed, as Redis words it, judged from its first element.
fn classify(body: &[u8]) -> ProtocolError {
    match body.first() {
        Some(b'$') | None => ProtocolError::new("invalid bulk length"),
        Some(other) => expected_dollar(*other),
    }
}

fn expected_dollar(got: u8) -> ProtocolError {
    ProtocolError::new(&format!("expected '$', got '{}'", got as char))
}

fn frame_mark(frame: &OwnedFrame) -> u8 {
    match frame {
        OwnedFrame::SimpleString(_) => b'+',
        OwnedFrame::Error(_) => b'-',
        OwnedFrame::Integer(_) => b':',
        OwnedFrame::BulkString(_) | OwnedFrame::Null => b'$',
        OwnedFrame::Array(_) => b'*',
    }
}

/// A line of words separated by spaces, with Redis's quoting rules.
fn inline(rest: &[u8]) -> Step {
    let Some(end) = rest.iter().position(|b| *b == b'\n') else {
        return if rest.len() > MAX_INLINE {
            Err(ProtocolError::new("too big inline request"))
        } else {
            Ok(None)
        };
    };
    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
    let words =
        split_args(line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    Ok(Some((
        end + 1,
        (!words.is_empty()).then_some(Command { args: words }),
    )))
}

/// Splits a line like Redis's `sdssplitargs`: `"..."` with `\n \r \t \b \a \\ \" \xHH`
/// escapes, `'...'` with `\'`, and a closing quote must be followed by a space or the end.
/// `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(words);
        }
        let (word, next) = match line[i] {
            b'"' => double_quoted(line, i + 1)?,
            b'\'' => single_quoted(line, i + 1)?,
            _ => {
                let end = line[i..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .map_or(line.len(), |n| i + n);
                (line[i..end].to_vec(), end)
            }
        };
        words.push(word);
        i = next;
    }
}

/// A `"..."` word starting after the quote: the word and where scanning goes on.
fn double_quoted(line: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let mut word = Vec::new();
    loop {
        match *line.get(i)? {
            b'\\' if line.get(i + 1) == Some(&b'x') && hex_pair(line, i + 2).is_some() => {
                word.push(hex_pair(line, i + 2)?);
                i += 4;
            }
            b'\\' if i + 1 < line.len() => {
                word.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
            }
            b'"' => return after_quote(line, i + 1).map(|next| (word, next)),
            other => {
                word.push(other);
                i += 1;
            }
        }
    }
}

fn single_quoted(line: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let mut word = Vec::new();
    loop {
        match *line.get(i)? {
            b'\\' if line.get(i + 1) == Some(&b'\'') => {
                word.push(b'\'');
                i += 2;
            }
            b'\'' => return after_quote(line, i + 1).map(|next| (word, next)),
            other => {
                word.push(other);
                i += 1;
            }
        }
    }
}

/// A closing quote must end the word.
fn after_quote(line: &[u8], i: usize) -> Option<usize> {
    match line.get(i) {
        None => Some(i),
        Some(b) if b.is_ascii_whitespace() => Some(i),
        Some(_) => None,
    }
}

fn hex_pair(line: &[u8], i: usize) -> Option<u8> {
    let digits = line.get(i..i + 2)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// An integer as Redis's `string2ll` reads it: no sign `+`, no leading zeros, no spaces.
pub fn strict_i64(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let plain = match digits {
        [b'0'] => text.len() == 1,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !plain {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(wire: &[u8]) -> Vec<Result<Command, ProtocolError>> {
        let mut d = Decoder::default();
        d.feed(wire);
        std::iter::from_fn(|| d.next_command()).collect()
    }

    fn cmd(words: &[&str]) -> Result<Command, ProtocolError> {
        Ok(Command::new(words))
    }

    fn err(text: &str) -> Result<Command, ProtocolError> {
        Err(ProtocolError(format!("ERR Protocol error: {text}")))
    }

    #[test]
    fn pipelined_multibulk_and_inline_mixed() {
        let wire = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\n\r\n*-1\r\nset a \"b c\"\n";
        assert_eq!(
            all(wire),
            vec![
                cmd(&["GET", "k"]),
                cmd(&["PING"]),
                cmd(&["set", "a", "b c"])
            ]
        );
    }

    #[test]
    fn split_at_every_boundary() {
        let wire: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n*1\r\n$4\r\nPING\r\necho 'x y'\r\n";
        let expected = vec![
            Command::new(["SET", "k", "a\r\nb"]),
            Command::new(["PING"]),
            Command::new(["echo", "x y"]),
        ];
        for cut in 0..=wire.len() {
            for cut2 in cut..=wire.len() {
                let mut d = Decoder::default();
                let mut got = Vec::new();
                for part in [&wire[..cut], &wire[cut..cut2], &wire[cut2..]] {
                    d.feed(part);
                    while let Some(c) = d.next_command() {
                        got.push(c.unwrap());
                    }
                }
                assert_eq!(got, expected, "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let wire = b"*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n";
        let mut d = Decoder::default();
        for (i, b) in wire.iter().enumerate() {
            d.feed(&[*b]);
            let got = d.next_command();
            assert_eq!(got.is_some(), i == wire.len() - 1, "at {i}");
        }
    }

    #[test]
    fn protocol_errors_use_redis_words_and_stop() {
        assert_eq!(all(b"*x\r\n"), vec![err("invalid multibulk length")]);
        assert_eq!(all(b"*1\r\n:5\r\n"), vec![err("expected '$', got ':'")]);
        assert_eq!(all(b"*1\r\nX3\r\n"), vec![err("expected '$', got 'X'")]);
        assert_eq!(all(b"*1\r\n$x\r\n"), vec![err("invalid bulk length")]);
        assert_eq!(all(b"*1\r\n$-1\r\n"), vec![err("invalid bulk length")]);
        assert_eq!(
            all(b"get \"a\r\nPING\r\n"),
            vec![err("unbalanced quotes in request")]
        );
        assert_eq!(
            all(&vec![b'a'; MAX_INLINE + 1]),
            vec![err("too big inline request")]
        );
    }

    #[test]
    fn inline_quoting_like_sdssplitargs() {
        let words = |s: &str| split_args(s.as_bytes()).map(|w| Command { args: w }.to_strings());
        assert_eq!(
            words(r#"set "a\x41\n" 'it\'s'  x"#).unwrap(),
            vec!["set", "aA\n", "it's", "x"]
        );
        assert_eq!(words(r#""\q""#).unwrap(), vec!["q"]);
        assert_eq!(words("   ").unwrap(), Vec::<String>::new());
        assert_eq!(words(r#""a"b"#), None);
        assert_eq!(words("'a"), None);
    }

    #[test]
    fn strict_integers() {
        assert_eq!(strict_i64(b"12"), Some(12));
        assert_eq!(strict_i64(b"-7"), Some(-7));
        assert_eq!(strict_i64(b"0"), Some(0));
        for bad in [
            &b"01"[..],
            b"+1",
            b"-0",
            b" 1",
            b"",
            b"-",
            b"1a",
            b"99999999999999999999",
        ] {
            assert_eq!(strict_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(strict_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(Command::new(["gEt", "k"]).name(), "GET");
    }
}
