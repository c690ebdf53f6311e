//! Reading one entry of a mocks file out of a JSON value, with errors that say which key is wrong.
//!
//! Every protocol parses its own entries from `serde_json::Value`s. A [`FieldError`] carries the
//! path of the offending key relative to the value being read; the config loader in `mocket-config`
//! prefixes it (`entries[3].`) and turns it into a file, line and column.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A problem with one key of a mocks file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is, outermost step first.
    pub path: Vec<PathSeg>,
    pub message: String,
}

impl FieldError {
    pub fn new(message: impl Into<String>) -> Self {
        FieldError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The same error seen from the object that holds `key`.
    pub fn in_key(mut self, key: &str) -> Self {
        self.path.insert(0, PathSeg::Key(key.to_string()));
        self
    }

    /// The same error seen from the array that holds it at `index`.
    pub fn in_index(mut self, index: usize) -> Self {
        self.path.insert(0, PathSeg::Index(index));
        self
    }

    /// The path as a user reads it: `entries[2].response.status`.
    pub fn path_text(&self) -> String {
        path_text(&self.path)
    }
}

/// Renders a path as `a.b[2].c`.
pub fn path_text(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path_text(), self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// The JSON type of a value, as a user names it in an error message.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `v` as an object, or an error saying what was found instead.
pub fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, FieldError> {
    v.as_object()
        .ok_or_else(|| FieldError::new(format!("{what} must be an object, found {}", type_name(v))))
}

/// Rejects keys outside `known`, naming the closest known key: a typo must never be ignored.
pub fn reject_unknown_keys(map: &Map<String, Value>, known: &[&str]) -> Result<(), FieldError> {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let hint = closest(key, known)
                .map(|k| format!(" (did you mean \"{k}\"?)"))
                .unwrap_or_default();
            return Err(FieldError::new(format!(
                "unknown key \"{key}\"{hint}; known keys here: {}",
                known.join(", ")
            ))
            .in_key(key));
        }
    }
    Ok(())
}

/// The known word nearest to `word` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A string value.
pub fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str, FieldError> {
    v.as_str()
        .ok_or_else(|| FieldError::new(format!("{what} must be a string, found {}", type_name(v))))
}

/// A non-negative integer value.
pub fn unsigned(v: &Value, what: &str) -> Result<u64, FieldError> {
    v.as_u64()
        .ok_or_else(|| FieldError::new(format!("{what} must be a non-negative integer, found {v}")))
}

/// The optional `times` key shared by every kind of entry: how many uses the entry answers.
pub fn times(map: &Map<String, Value>) -> Result<Option<u64>, FieldError> {
    match map.get("times") {
        None => Ok(None),
        Some(v) => match unsigned(v, "times") {
            Ok(0) => Err(FieldError::new("times must be at least 1").in_key("times")),
            Ok(n) => Ok(Some(n)),
            Err(e) => Err(e.in_key("times")),
        },
    }
}

/// Bytes given either as text or as `{"base64": "..."}`.
pub fn bytes(v: &Value, what: &str) -> Result<Vec<u8>, FieldError> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(map) => {
            reject_unknown_keys(map, &["base64"])?;
            let encoded = map
                .get("base64")
                .ok_or_else(|| FieldError::new(format!("{what} as an object needs \"base64\"")))?;
            let text = string(encoded, "base64").map_err(|e| e.in_key("base64"))?;
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| FieldError::new(format!("invalid base64: {e}")).in_key("base64"))
        }
        other => Err(FieldError::new(format!(
            "{what} must be text or {{\"base64\": ...}}, found {}",
            type_name(other)
        ))),
    }
}

/// The largest file a mocks file may name as a response body: 64 MiB. Bodies are read when the
/// mocks file is loaded and kept in memory by every engine (under a bare preload, in every
/// process that resolves a name), so an unbounded file would exhaust memory; 64 MiB is far above
/// any fixture a test serves.
pub const MAX_BODY_FILE_BYTES: u64 = 64 << 20;

/// Reads `path`, which must be a regular file of at most `limit` bytes.
///
/// A device (`/dev/zero`), a FIFO or a directory is refused before it is opened: reading a
/// device never ends and opening a FIFO waits for a writer. The size is checked again while
/// reading, so a file that grows between the check and the read cannot exceed `limit`.
pub fn read_regular_file(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, ReadFileError> {
    use std::io::Read;
    let io = |error| ReadFileError::Io {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadFileError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        });
    }
    let too_big = |size: u64| ReadFileError::TooBig {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Why [`read_regular_file`] read nothing.
#[derive(Debug)]
pub enum ReadFileError {
    /// The file could not be examined, opened or read.
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// Not a regular file; `kind` says what it is ("a FIFO", "a directory", ...).
    NotRegular {
        path: std::path::PathBuf,
        kind: &'static str,
    },
    /// Larger than the limit.
    TooBig {
        path: std::path::PathBuf,
        size: u64,
        limit: u64,
    },
}

impl fmt::Display for ReadFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFileError::Io { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ReadFileError::NotRegular { path, kind } => write!(
                f,
                "{} is {kind}, not a regular file: name a regular file \
                 (reading a device may never end, opening a FIFO blocks)",
                path.display()
            ),
            ReadFileError::TooBig { path, size, limit } => write!(
                f,
                "{} is {size} bytes, over the limit of {limit} bytes: use a smaller file",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadFileError {}

/// Lets callers that report errors as text ([`FieldError::new`]) take it as is.
impl From<ReadFileError> for String {
    fn from(e: ReadFileError) -> String {
        e.to_string()
    }
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The `response` / `responses` pair every kind of entry has: exactly one of them, and
/// `responses` not empty. `parse` reads one response.
pub fn responses<T>(
    map: &Map<String, Value>,
    parse: impl Fn(&Value) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    match (map.get("response"), map.get("responses")) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "give either \"response\" or \"responses\", not both",
        )
        .in_key("responses")),
        (Some(one), None) => Ok(vec![parse(one).map_err(|e| e.in_key("response"))?]),
        (None, Some(Value::Array(many))) if many.is_empty() => {
            Err(FieldError::new("responses must not be empty").in_key("responses"))
        }
        (None, Some(Value::Array(many))) => many
            .iter()
            .enumerate()
            .map(|(i, v)| parse(v).map_err(|e| e.in_index(i).in_key("responses")))
            .collect(),
        (None, Some(other)) => Err(FieldError::new(format!(
            "responses must be an array, found {}",
            type_name(other)
        ))
        .in_key("responses")),
        (None, None) => Err(FieldError::new("missing \"response\" (or \"responses\")")),
    }
}

/// A network destination named by an entry: a lower-case host (name or IP) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub host: String,
    pub port: u16,
}

impl Destination {
    pub fn new(host: &str, port: u16) -> Self {
        Destination {
            host: normalize_host(host),
            port,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Host names compare case-insensitively, without a trailing dot, and in their ASCII form:
/// `bücher.example` is `xn--bcher-kva.example`, the name clients put in DNS queries, SNI and
/// `Host`. A name that is not a valid internationalized name stays as written (lower-cased), so
/// it matches nothing valid; [`ascii_host`] is the checked form for the mocks file.
pub fn normalize_host(host: &str) -> String {
    ascii_host(host).unwrap_or_else(|_| host.trim_end_matches('.').to_lowercase())
}

/// The ASCII (IDNA, UTS #46) form of `host`, lower-cased and without a trailing dot; an error
/// says why a non-ASCII name has none. ASCII names are only lower-cased (no IDNA cost).
pub fn ascii_host(host: &str) -> Result<String, NotIdnaHost> {
    let host = host.trim_end_matches('.');
    // A pattern's `*` is no IDNA label: the domain after it is converted on its own.
    if let Some(domain) = crate::host_pattern::pattern_domain(host)
        && !domain.is_ascii()
    {
        return ascii_host(domain).map(|d| format!("*.{d}"));
    }
    if host.is_ascii() {
        return Ok(host.to_ascii_lowercase());
    }
    idna::domain_to_ascii(host).map_err(|e| NotIdnaHost {
        host: host.to_string(),
        reason: e.to_string(),
    })
}

/// A non-ASCII host name without an IDNA form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotIdnaHost {
    /// The name, without its trailing dot.
    pub host: String,
    /// Why IDNA refused it.
    pub reason: String,
}

impl fmt::Display for NotIdnaHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a valid internationalized domain name ({})",
            self.host, self.reason
        )
    }
}

impl std::error::Error for NotIdnaHost {}

/// Parses `host:port` or `[v6]:port`; `default_port` applies when the port is absent.
pub fn host_port(text: &str, default_port: Option<u16>) -> Result<Destination, FieldError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| {
            FieldError::new(format!("\"{text}\": missing ']' after IPv6 address"))
        })?;
        (host, after.strip_prefix(':'))
    } else if text.matches(':').count() > 1 {
        return Err(unbracketed_ipv6(text, default_port));
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(FieldError::new(format!(
            "\"{text}\" is not a host:port (expected for example \"cache.internal:6379\")"
        )));
    }
    if let Err(e) = ascii_host(host) {
        return Err(FieldError::new(e.to_string()));
    }
    crate::host_pattern::check(host).map_err(|e| FieldError::new(e.to_string()))?;
    let port = match (port, default_port) {
        (Some(p), _) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            FieldError::new(format!(
                "\"{text}\": port \"{p}\" is not a number from 1 to 65535"
            ))
        })?,
        (None, Some(d)) => d,
        (None, None) => {
            return Err(FieldError::new(format!(
                "\"{text}\" has no port (expected host:port, for example \"{host}:9000\")"
            )));
        }
    };
    Ok(Destination::new(host, port))
}

/// An IPv6 address without brackets cannot carry a port: `2001:db8::1:9000` is itself a valid
/// address. The hint reads the last group as the port when that makes a valid address and port,
/// as a user who writes it almost always means.
fn unbracketed_ipv6(text: &str, default_port: Option<u16>) -> FieldError {
    let as_port = text.rsplit_once(':').filter(|(h, p)| {
        h.parse::<std::net::Ipv6Addr>().is_ok() && p.parse::<u16>().is_ok_and(|p| p != 0)
    });
    let suggestion = match (as_port, default_port) {
        (Some((h, p)), _) => format!("[{h}]:{p}"),
        (None, Some(_)) => format!("[{text}]"),
        (None, None) => format!("[{text}]:9000"),
    };
    FieldError::new(format!(
        "\"{text}\": an IPv6 address needs brackets around it, then the port: write \"{suggestion}\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            host_port("A.Example:80", None).unwrap(),
            Destination::new("a.example", 80)
        );
        assert_eq!(
            host_port("[::1]:9", None).unwrap(),
            Destination::new("::1", 9)
        );
        assert_eq!(host_port("h", Some(7)).unwrap().port, 7);
        assert!(
            host_port("h", None)
                .unwrap_err()
                .message
                .contains("no port")
        );
        assert!(host_port("h:0", None).is_err());
        assert!(host_port("h:70000", None).is_err());
        assert!(host_port(":80", None).is_err());
    }

    #[test]
    fn unicode_hosts_take_their_ascii_form() {
        assert_eq!(normalize_host("Bücher.Example."), "xn--bcher-kva.example");
        assert_eq!(
            normalize_host("xn--bcher-kva.example"),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            host_port("bücher.example:443", None).unwrap(),
            Destination::new("xn--bcher-kva.example", 443)
        );
        let err = host_port("a\u{200b}\u{5d0}1.example:1", None).unwrap_err();
        assert!(
            err.message.contains("not a valid internationalized"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unbracketed_ipv6_gets_the_bracketed_form_as_hint() {
        let hint = |text: &str, default| host_port(text, default).unwrap_err().message;
        assert_eq!(
            hint("2001:db8::1:9000", None),
            "\"2001:db8::1:9000\": an IPv6 address needs brackets around it, then the port: \
             write \"[2001:db8::1]:9000\""
        );
        assert!(hint("2001:db8::1:9000", Some(6379)).ends_with("write \"[2001:db8::1]:9000\""));
        assert!(hint("::1", Some(6379)).ends_with("write \"[::1]\""));
        assert!(hint("fe80::", None).ends_with("write \"[fe80::]:9000\""));
        assert_eq!(
            host_port("[2001:db8::1]:9000", None).unwrap(),
            Destination::new("2001:db8::1", 9000)
        );
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("mocket-field-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let err = read_regular_file(&fifo, 10).unwrap_err().to_string();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        let err = read_regular_file(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(
            matches!(err, ReadFileError::NotRegular { kind, .. } if kind == "a character device"),
            "{err:?}"
        );
        assert!(
            read_regular_file(&dir, 10)
                .unwrap_err()
                .to_string()
                .contains("a directory")
        );
        let missing = read_regular_file(&dir.join("missing"), 10).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with(&format!("cannot read {}: ", dir.join("missing").display())),
            "{missing}"
        );
        let file = dir.join("body");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_regular_file(&file, 10).unwrap(), b"0123456789");
        let err = read_regular_file(&file, 9).unwrap_err().to_string();
        assert!(err.contains("10 bytes, over the limit of 9 bytes"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_key_names_the_nearest() {
        let v = json!({"greting": "x"});
        let err = reject_unknown_keys(v.as_object().unwrap(), &["greeting", "tcp"]).unwrap_err();
        assert_eq!(err.path, vec![PathSeg::Key("greting".into())]);
        assert!(
            err.message.contains("did you mean \"greeting\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn bytes_text_and_base64() {
        assert_eq!(bytes(&json!("hi"), "x").unwrap(), b"hi");
        assert_eq!(bytes(&json!({"base64": "AAE="}), "x").unwrap(), vec![0, 1]);
        let err = bytes(&json!({"base64": "!!"}), "x").unwrap_err();
        assert_eq!(err.path_text(), "base64");
        assert!(bytes(&json!(3), "x").is_err());
    }

    #[test]
    fn responses_shorthand_and_errors() {
        let parse = |v: &Value| bytes(v, "response");
        let one = json!({"response": "a"});
        assert_eq!(
            responses(one.as_object().unwrap(), parse).unwrap(),
            vec![b"a".to_vec()]
        );
        let bad = json!({"responses": ["a", 1]});
        let err = responses(bad.as_object().unwrap(), parse).unwrap_err();
        assert_eq!(err.path_text(), "responses[1]");
        assert!(responses(json!({"responses": []}).as_object().unwrap(), parse).is_err());
        assert!(responses(json!({}).as_object().unwrap(), parse).is_err());
    }

    #[test]
    fn times_must_be_positive() {
        assert_eq!(
            times(json!({"times": 2}).as_object().unwrap()).unwrap(),
            Some(2)
        );
        assert_eq!(times(json!({}).as_object().unwrap()).unwrap(), None);
        assert!(times(json!({"times": 0}).as_object().unwrap()).is_err());
        assert_eq!(
            times(json!({"times": "x"}).as_object().unwrap())
                .unwrap_err()
                .path_text(),
            "times"
        );
    }
}
