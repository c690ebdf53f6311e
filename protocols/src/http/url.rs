//! The URLs of `http` entries and the request targets clients send: just enough URL handling to
//! compare a request with an entry (scheme, destination, path, query), without normalising
//! anything the user did not write.

use crate::field::{self, Destination, FieldError};

/// The URL of an entry, split into what matching compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryUrl {
    /// `https`: the connection must be TLS.
    pub tls: bool,
    pub destination: Destination,
    /// Percent-decoded; `/` when the URL has no path.
    pub path: String,
    /// Percent-decoded pairs, in the order written.
    pub query: Vec<(String, String)>,
}

/// Parses `http://host[:port]/path?query` (or `https://`).
pub fn parse_entry_url(url: &str) -> Result<EntryUrl, FieldError> {
    let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else {
        return Err(FieldError::new(format!(
            "\"{url}\" must start with http:// or https://"
        )));
    };
    if rest.contains('#') {
        return Err(FieldError::new(format!(
            "\"{url}\" has a #fragment, which clients never send: remove it"
        )));
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(split);
    if authority.contains('@') {
        return Err(FieldError::new(format!(
            "\"{url}\": user:password@ is not supported in entry URLs; match the authorization header instead"
        )));
    }
    let default_port = if tls { 443 } else { 80 };
    let destination = field::host_port(authority, Some(default_port))?;
    let (path, query) = split_target(path_and_query);
    let path = if path.is_empty() { "/" } else { path };
    Ok(EntryUrl {
        tls,
        destination,
        path: percent_decode(path, false),
        query: parse_query(query.unwrap_or("")),
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Splits a request target into its path and its query (without the `?`). An absolute-form
/// target (`http://host/path`, sent by clients that believe they talk to a proxy) is reduced to
/// its path.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let origin = absolute_form_path(target).unwrap_or(target);
    let (path, query) = match origin.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (origin, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

fn absolute_form_path(target: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))?;
    Some(rest.find(['/', '?']).map_or("", |i| &rest[i..]))
}

/// The pairs of a query string, percent-decoded (`+` is a space, as in forms).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` when `plus_is_space`); a `%` not followed by two hex digits
/// stays as written, and bytes that do not form UTF-8 are replaced, never rejected.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_urls_with_default_ports() {
        let u = parse_entry_url("https://API.example.com/v1/users/1?expand=teams&x=a%20b").unwrap();
        assert!(u.tls);
        assert_eq!(u.destination, Destination::new("api.example.com", 443));
        assert_eq!(u.path, "/v1/users/1");
        assert_eq!(
            u.query,
            vec![
                ("expand".into(), "teams".into()),
                ("x".into(), "a b".into())
            ]
        );
        let u = parse_entry_url("HTTP://h:8080").unwrap();
        assert!(!u.tls);
        assert_eq!(u.destination, Destination::new("h", 8080));
        assert_eq!(u.path, "/");
        assert!(u.query.is_empty());
        let u = parse_entry_url("http://[::1]?a").unwrap();
        assert_eq!(u.destination, Destination::new("::1", 80));
        assert_eq!(u.query, vec![("a".into(), String::new())]);
    }

    #[test]
    fn bad_entry_urls_say_why() {
        let msg = |url| parse_entry_url(url).unwrap_err().message;
        assert!(msg("api.example.com/x").contains("must start with http://"));
        assert!(msg("ftp://h/x").contains("must start with http://"));
        assert!(msg("http://h/x#top").contains("fragment"));
        assert!(msg("http://u:p@h/x").contains("authorization"));
        assert!(msg("http://h:0/").contains("port"));
        assert!(msg("http:///x").contains("not a host:port"));
    }

    #[test]
    fn targets_split_into_path_and_query() {
        assert_eq!(split_target("/a/b?x=1"), ("/a/b", Some("x=1")));
        assert_eq!(split_target("/a"), ("/a", None));
        assert_eq!(split_target("http://h:1/p?q"), ("/p", Some("q")));
        assert_eq!(split_target("http://h:1"), ("/", None));
        assert_eq!(split_target("HTTPS://h?q=1"), ("/", Some("q=1")));
        assert_eq!(split_target("*"), ("*", None));
        assert_eq!(split_target("/p#frag"), ("/p", None));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%2Fb%zz%4", false), "a/b%zz%4");
        assert_eq!(percent_decode("a+b%2B", true), "a b+");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("%C3%A9%FF", false), "é\u{fffd}");
        assert_eq!(
            parse_query("b=2&&a=1&a=%31&c"),
            vec![
                ("b".into(), "2".into()),
                ("a".into(), "1".into()),
                ("a".into(), "1".into()),
                ("c".into(), String::new())
            ]
        );
    }
}
