//! Keeping secrets off disk: credentials in headers, query parameters and Redis `AUTH` are
//! replaced by [`REDACTED`] before anything is written. Replay treats a redacted value as
//! matching anything, so a cassette recorded with one token replays for another.

use crate::cassette::{Headers, Interaction};

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Headers that carry credentials, redacted in requests and responses.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// A query parameter whose name contains one of these (case-insensitive) is a secret.
const SECRET_QUERY_WORDS: &[&str] = &["token", "key", "secret", "password", "signature"];

/// The redaction rules: the built-in ones plus names the user adds
/// (`MOCKET_REDACT_HEADERS`, `MOCKET_REDACT_QUERY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    extra_headers: Vec<String>,
    extra_query: Vec<String>,
}

impl Redactor {
    /// Extra header names and extra query parameter names (both compared case-insensitively).
    pub fn new(extra_headers: &[String], extra_query: &[String]) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        Redactor {
            extra_headers: lower(extra_headers),
            extra_query: lower(extra_query),
        }
    }

    pub fn is_secret_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SECRET_HEADERS.contains(&name.as_str()) || self.extra_headers.contains(&name)
    }

    pub fn is_secret_query(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SECRET_QUERY_WORDS.iter().any(|w| name.contains(w)) || self.extra_query.contains(&name)
    }

    pub fn headers(&self, headers: &mut Headers) {
        for (name, value) in headers {
            if self.is_secret_header(name) {
                *value = REDACTED.to_string();
            }
        }
    }

    /// Replaces the values of secret query parameters, leaving the rest of the URL as sent.
    pub fn url(&self, url: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => return url.to_string(),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if self.is_secret_query(&decode(name)) => {
                    format!("{name}={REDACTED}")
                }
                _ => pair.to_string(),
            })
            .collect();
        format!("{base}?{}", pairs.join("&"))
    }

    /// `AUTH [user] password`, `HELLO ... AUTH user password`, `MIGRATE ... AUTH password` /
    /// `AUTH2 user password`.
    pub fn redis_command(&self, args: &mut [Vec<u8>]) {
        let Some(name) = args.first().map(|a| a.to_ascii_uppercase()) else {
            return;
        };
        if name == b"AUTH" {
            args[1..].iter_mut().for_each(redact_bytes);
            return;
        }
        if name != b"HELLO" && name != b"MIGRATE" {
            return;
        }
        let mut i = 1;
        while i < args.len() {
            let secrets = match args[i].to_ascii_uppercase().as_slice() {
                b"AUTH" if name == b"HELLO" => 2,
                b"AUTH" => 1,
                b"AUTH2" => 2,
                _ => 0,
            };
            let end = (i + 1 + secrets).min(args.len());
            args[i + 1..end].iter_mut().for_each(redact_bytes);
            i = end.max(i + 1);
        }
    }

    /// Everything secret in one interaction.
    pub fn interaction(&self, interaction: &mut Interaction) {
        match interaction {
            Interaction::Http(h) => {
                h.request.url = self.url(&h.request.url);
                self.headers(&mut h.request.headers);
                self.headers(&mut h.response.headers);
            }
            Interaction::Redis(r) => {
                for e in &mut r.exchanges {
                    self.redis_command(&mut e.command);
                }
            }
            // Raw bytes have no names to go by: a raw TCP cassette holds what was said.
            Interaction::Tcp(_) => {}
        }
    }
}

fn redact_bytes(arg: &mut Vec<u8>) {
    *arg = REDACTED.as_bytes().to_vec();
}

fn decode(name: &str) -> String {
    mocket_protocols::http::url::percent_decode(name, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_redacted() {
        let r = Redactor::new(&["X-Session".into()], &[]);
        let mut h: Headers = vec![
            ("authorization".into(), "Bearer abc".into()),
            ("cookie".into(), "s=1".into()),
            ("x-api-key".into(), "k".into()),
            ("x-session".into(), "42".into()),
            ("accept".into(), "*/*".into()),
        ];
        r.headers(&mut h);
        let values: Vec<&str> = h.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, [REDACTED, REDACTED, REDACTED, REDACTED, "*/*"]);
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        let r = Redactor::new(&[], &["sid".into()]);
        assert_eq!(
            r.url("http://h/p?access_token=abc&page=2&API%5FKey=x&sid=9&Signature=s&pw"),
            "http://h/p?access_token=<redacted>&page=2&API%5FKey=<redacted>&sid=<redacted>&Signature=<redacted>&pw"
        );
        assert_eq!(r.url("http://h/p"), "http://h/p");
        assert!(r.is_secret_query("client_secret") && r.is_secret_query("PASSWORD"));
        assert!(!r.is_secret_query("page"));
    }

    #[test]
    fn redis_credentials_are_redacted() {
        let r = Redactor::default();
        let words = |v: &[&str]| v.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
        let mut auth = words(&["auth", "user", "pw"]);
        r.redis_command(&mut auth);
        assert_eq!(auth, words(&["auth", REDACTED, REDACTED]));
        let mut hello = words(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "me"]);
        r.redis_command(&mut hello);
        assert_eq!(
            hello,
            words(&["HELLO", "3", "AUTH", REDACTED, REDACTED, "SETNAME", "me"])
        );
        let mut migrate = words(&["MIGRATE", "h", "1", "", "0", "5", "AUTH", "p", "KEYS", "a"]);
        r.redis_command(&mut migrate);
        assert_eq!(migrate[7], REDACTED.as_bytes());
        assert_eq!(migrate[9], b"a");
        let mut get = words(&["GET", "auth"]);
        r.redis_command(&mut get);
        assert_eq!(get, words(&["GET", "auth"]));
    }
}
