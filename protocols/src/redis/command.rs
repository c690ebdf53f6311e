//! Commands as clients send them: RESP arrays of bulk strings (pipelined, split anywhere by
//! TCP), or inline lines the way `nc` and `telnet` users type them.

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

    /// Whether Redis takes this for a cross-protocol attack (an HTTP request sent to Redis):
    /// its `post` and `host:` commands, which close the connection at once.
    pub fn is_cross_protocol(&self) -> bool {
        self.args[0].eq_ignore_ascii_case(b"POST") || self.args[0].eq_ignore_ascii_case(b"HOST:")
    }

    /// The command as text, for journals and error messages.
    pub fn to_strings(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// A request Redis would refuse to read; the connection is closed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Redis answers this error (`ERR Protocol error: ...`), then closes.
    Reply(String),
    /// Redis closes without a word: the client sent more than a query buffer holds
    /// (`client-query-buffer-limit`); the text says so for mocket's own log.
    Overflow(String),
}

impl ProtocolError {
    fn reply(what: &str) -> Self {
        ProtocolError::Reply(format!("ERR Protocol error: {what}"))
    }

    /// The error line Redis sends before closing, if any.
    pub fn reply_text(&self) -> Option<&str> {
        match self {
            ProtocolError::Reply(text) => Some(text),
            ProtocolError::Overflow(_) => None,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Reply(text) | ProtocolError::Overflow(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Redis 7's limits (`networking.c`, `config.c`); beyond them it refuses the request rather
/// than buffer without end, and so does the decoder, with Redis's words.
///
/// `PROTO_INLINE_MAX_SIZE`: an inline line, or a `*N`/`$N` header, without its end.
pub const MAX_INLINE: usize = 64 * 1024;
/// A multibulk count above `INT_MAX` is refused at once.
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// `proto-max-bulk-len`: 512 MB per argument.
pub const MAX_BULK: i64 = 512 * 1024 * 1024;
/// `client-query-buffer-limit`: what one connection may make the decoder hold (the bytes not
/// yet decoded plus the arguments of the command being read), 1 GB.
pub const MAX_QUERY: usize = 1024 * 1024 * 1024;
/// What an argument costs besides its bytes (its `Vec`), so a count of empty arguments
/// cannot hold memory the limit does not see.
const ARG_OVERHEAD: usize = std::mem::size_of::<Vec<u8>>();
/// Arguments reserved up front at most, whatever the count claims (Redis reserves 1024 too).
const PREALLOCATED_ARGS: usize = 1024;

/// Reassembles commands from the bytes of successive reads, the way Redis's
/// `processMultibulkBuffer` and `processInlineBuffer` read them: a multibulk request is an
/// array of bulk strings only (anything else is `expected '$'`), so nothing nests, and a long
/// command is decoded as its arguments arrive rather than re-read from its start.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where undecoded bytes start in `buf`; consumed bytes are dropped once per read.
    pos: usize,
    /// Bytes after `pos` already searched for the end of a line, so a header that arrives
    /// byte by byte is not searched again from its start.
    searched: usize,
    /// The multibulk command being read.
    pending: Option<Pending>,
    failed: bool,
    max_query: usize,
}

#[derive(Debug)]
struct Pending {
    args: Vec<Vec<u8>>,
    /// Arguments still to read.
    remaining: i64,
    /// The length of the argument being read, once its `$N` line is read.
    bulk: Option<usize>,
    /// Memory held by `args`, as [`MAX_QUERY`] counts it.
    held: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::with_limit(MAX_QUERY)
    }
}

/// What one decoding step found.
enum Step {
    /// The bytes so far end inside a request.
    More,
    /// A request with nothing to run (`*0`, `*-1`, an empty line), which Redis skips.
    Skip,
    /// An argument of a multibulk command was read; the command goes on.
    Progress,
    Command(Command),
}

impl Decoder {
    /// A decoder that gives up (with [`ProtocolError::Overflow`]) once a connection makes it
    /// hold more than `max_query` bytes; `default()` holds what Redis holds.
    pub fn with_limit(max_query: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            searched: 0,
            pending: None,
            failed: false,
            max_query,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete command, `None` until more bytes arrive. After an error, nothing more.
    pub fn next_command(&mut self) -> Option<Result<Command, ProtocolError>> {
        while !self.failed {
            let step = if self.held() > self.max_query {
                Err(ProtocolError::Overflow(format!(
                    "the client sent more than {} bytes that do not make a whole command \
                     (Redis's client-query-buffer-limit); closed the connection as Redis does",
                    self.max_query
                )))
            } else if self.pending.is_some() {
                self.argument()
            } else if self.pos == self.buf.len() {
                Ok(Step::More)
            } else if self.buf[self.pos] == b'*' {
                self.multibulk_header()
            } else {
                self.inline()
            };
            match step {
                Ok(Step::More) => return None,
                Ok(Step::Skip | Step::Progress) => {}
                Ok(Step::Command(command)) => return Some(Ok(command)),
                Err(e) => {
                    self.failed = true;
                    self.pending = None;
                    return Some(Err(e));
                }
            }
        }
        None
    }

    /// What the connection makes the decoder hold right now.
    fn held(&self) -> usize {
        let pending = self.pending.as_ref().map_or(0, |p| p.held);
        pending + self.buf.len() - self.pos
    }

    fn consume(&mut self, to: usize) {
        self.pos = to;
        self.searched = 0;
    }

    /// The position of the next `byte` at or after `pos`, searching each byte once.
    fn find(&mut self, byte: u8) -> Option<usize> {
        let from = self.pos + self.searched;
        match self.buf[from..].iter().position(|b| *b == byte) {
            Some(i) => Some(from + i),
            None => {
                self.searched = self.buf.len() - self.pos;
                None
            }
        }
    }

    /// A `*N` or `$N` line: the number's bytes, and where the line ends. Like Redis, the line
    /// ends at `\r` and the byte after it is skipped unread. `too_big` names a line that has
    /// no end within [`MAX_INLINE`] bytes.
    fn header(&mut self, too_big: &str) -> Result<Option<(usize, usize)>, ProtocolError> {
        let Some(cr) = self.find(b'\r') else {
            return if self.buf.len() - self.pos > MAX_INLINE {
                Err(ProtocolError::reply(too_big))
            } else {
                Ok(None)
            };
        };
        Ok((cr + 1 < self.buf.len()).then_some((cr, cr + 2)))
    }

    /// `*N\r\n`: how many bulk strings follow.
    fn multibulk_header(&mut self) -> Result<Step, ProtocolError> {
        let Some((cr, end)) = self.header("too big mbulk count string")? else {
            return Ok(Step::More);
        };
        let count = strict_i64(&self.buf[self.pos + 1..cr])
            .filter(|n| *n <= MAX_MULTIBULK)
            .ok_or_else(|| ProtocolError::reply("invalid multibulk length"))?;
        self.consume(end);
        if count <= 0 {
            return Ok(Step::Skip);
        }
        self.pending = Some(Pending {
            args: Vec::with_capacity((count as usize).min(PREALLOCATED_ARGS)),
            remaining: count,
            bulk: None,
            held: 0,
        });
        Ok(Step::Progress)
    }

    /// `$len\r\n` then `len` bytes and two more: one argument of the pending command.
    fn argument(&mut self) -> Result<Step, ProtocolError> {
        let bulk = match self.pending.as_ref().and_then(|p| p.bulk) {
            Some(len) => len,
            None => {
                let Some((cr, end)) = self.header("too big bulk count string")? else {
                    return Ok(Step::More);
                };
                let mark = self.buf[self.pos];
                if mark != b'$' {
                    return Err(expected_dollar(mark));
                }
                let len = strict_i64(&self.buf[self.pos + 1..cr])
                    .filter(|n| (0..=MAX_BULK).contains(n))
                    .ok_or_else(|| ProtocolError::reply("invalid bulk length"))?;
                self.consume(end);
                let len = len as usize;
                self.pending_mut().bulk = Some(len);
                len
            }
        };
        // Redis skips the two bytes after the argument without looking at them.
        if self.buf.len() - self.pos < bulk + 2 {
            return Ok(Step::More);
        }
        let arg = self.buf[self.pos..self.pos + bulk].to_vec();
        self.consume(self.pos + bulk + 2);
        let pending = self.pending_mut();
        pending.args.push(arg);
        pending.held += bulk + ARG_OVERHEAD;
        pending.bulk = None;
        pending.remaining -= 1;
        if pending.remaining > 0 {
            return Ok(Step::Progress);
        }
        let args = self.pending.take().expect("pending").args;
        Ok(Step::Command(Command { args }))
    }

    fn pending_mut(&mut self) -> &mut Pending {
        self.pending
            .as_mut()
            .expect("a multibulk command is being read")
    }

    /// A line of words separated by spaces, with Redis's quoting rules.
    fn inline(&mut self) -> Result<Step, ProtocolError> {
        let Some(newline) = self.find(b'\n') else {
            return if self.buf.len() - self.pos > MAX_INLINE {
                Err(ProtocolError::reply("too big inline request"))
            } else {
                Ok(Step::More)
            };
        };
        let line = &self.buf[self.pos..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let words =
            split_args(line).ok_or_else(|| ProtocolError::reply("unbalanced quotes in request"))?;
        self.consume(newline + 1);
        Ok(match words.is_empty() {
            true => Step::Skip,
            false => Step::Command(Command { args: words }),
        })
    }
}

/// Redis's `expected '$', got '%c'`, with a line break shown as a space as Redis's error
/// replies show it (an error is one line).
fn expected_dollar(got: u8) -> ProtocolError {
    let shown = match got {
        b'\r' | b'\n' => ' ',
        other => other as char,
    };
    ProtocolError::reply(&format!("expected '$', got '{shown}'"))
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
        Err(ProtocolError::Reply(format!("ERR Protocol error: {text}")))
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
    fn nested_arrays_are_refused_at_the_second_header_without_recursion() {
        // 1 MB of `*1\r\n`: Redis reads the first as a count, the second where a `$` belongs.
        let wire = b"*1\r\n".repeat(256 * 1024);
        assert_eq!(all(&wire), vec![err("expected '$', got '*'")]);
        assert_eq!(all(b"*1\r\n\r\n"), vec![err("expected '$', got ' '")]);
    }

    #[test]
    fn counts_and_lengths_at_redis_limits() {
        let mut d = Decoder::default();
        d.feed(b"*2147483647\r\n$536870912\r\n");
        assert_eq!(
            d.next_command(),
            None,
            "both within Redis's limits: it waits"
        );
        assert_eq!(
            all(b"*2147483648\r\n"),
            vec![err("invalid multibulk length")]
        );
        assert_eq!(
            all(b"*1\r\n$536870913\r\n"),
            vec![err("invalid bulk length")]
        );
        let long_count = [&b"*"[..], &[b'1'; MAX_INLINE + 1]].concat();
        assert_eq!(all(&long_count), vec![err("too big mbulk count string")]);
        let long_len = [&b"*1\r\n$"[..], &[b'1'; MAX_INLINE + 1]].concat();
        assert_eq!(all(&long_len), vec![err("too big bulk count string")]);
    }

    #[test]
    fn the_two_bytes_after_an_argument_are_skipped_unread_like_redis() {
        assert_eq!(all(b"*1\r\n$4\r\nPINGxx"), vec![cmd(&["PING"])]);
    }

    #[test]
    fn a_command_that_outgrows_the_query_limit_closes_without_a_reply() {
        let mut d = Decoder::with_limit(1000);
        d.feed(b"*1000000\r\n");
        let mut closed = None;
        for _ in 0..1000 {
            d.feed(b"$0\r\n\r\n");
            if let Some(result) = d.next_command() {
                closed = Some(result);
                break;
            }
        }
        let Some(Err(e)) = closed else {
            panic!("{closed:?}")
        };
        assert!(matches!(e, ProtocolError::Overflow(_)), "{e:?}");
        assert_eq!(e.reply_text(), None);
        assert!(e.to_string().contains("client-query-buffer-limit"), "{e}");
        // Empty arguments count: 1000 bytes hold fewer than 1000 / 24 of them.
        assert_eq!(d.next_command(), None, "nothing after an error");
        let mut bytes = Decoder::with_limit(1000);
        bytes.feed(&[b'$'; 1001]);
        assert!(matches!(
            bytes.next_command(),
            Some(Err(ProtocolError::Overflow(_)))
        ));
    }

    #[test]
    fn a_long_command_is_decoded_as_its_arguments_arrive() {
        let count = 20_000;
        let mut d = Decoder::default();
        d.feed(format!("*{count}\r\n").as_bytes());
        for i in 0..count {
            d.feed(format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes());
            let got = d.next_command();
            assert_eq!(got.is_some(), i == count - 1, "at {i}");
            // The decoder keeps only the argument not yet whole.
            assert!(d.buf.len() - d.pos < 16, "at {i}");
            if let Some(got) = got {
                let got = got.unwrap();
                assert_eq!(got.args.len(), count);
                assert_eq!(got.args[count - 1], (count - 1).to_string().as_bytes());
            }
        }
    }

    #[test]
    fn a_header_arriving_byte_by_byte_is_searched_once() {
        let mut d = Decoder::default();
        for _ in 0..100 {
            d.feed(b"1");
            assert_eq!(d.next_command(), None);
        }
        assert_eq!(d.searched, 100, "the bytes before are not searched again");
        d.feed(b"\r\n");
        assert_eq!(d.next_command(), Some(Ok(Command::new(["1".repeat(100)]))));
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
