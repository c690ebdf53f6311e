//! Whether a request matches an entry, and if not, why: the reasons end up in the `501` body,
//! the journal and the end-of-run report, so they name the difference the way a user would look
//! for it (`method differs: GET vs POST`, `query id=2 vs id=1`, `header authorization missing`).
//! Each reason shows the request's value first, then the entry's.

use serde_json::Value;

use std::ops::Not;

use super::entry::HttpEntry;
use super::parser::Request;
use super::url;
use super::value_match::ValueMatcher;
use crate::field::Destination;

/// Why `request` (on a TLS connection when `tls`) does not match `entry`, as if it came to the
/// entry's own destination; empty when it does.
pub fn mismatches(entry: &HttpEntry, request: &Request, tls: bool) -> Vec<String> {
    mismatches_on(entry, request, tls, entry.destination())
}

/// Why `request`, on a connection to `dest` (TLS when `tls`), does not match `entry`; empty
/// when it does. The destination itself is not checked: the engine only asks about entries for
/// the connection's (which, with a host pattern, is not the entry's text).
pub fn mismatches_on(
    entry: &HttpEntry,
    request: &Request,
    tls: bool,
    dest: &Destination,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if entry.url.tls != tls {
        reasons.push(format!(
            "scheme differs: {} vs {}",
            scheme(tls),
            scheme(entry.url.tls)
        ));
    }
    if let Some(method) = &entry.method
        && *method != request.method
    {
        reasons.push(format!("method differs: {} vs {method}", request.method));
    }
    reasons.extend(path_reason(entry, request));
    reasons.extend(url_reason(entry, request, tls, dest));
    reasons.extend(query_reasons(&entry.url.query, &request.query()));
    reasons.extend(query_matcher_reasons(&entry.conditions.query, request));
    reasons.extend(header_reasons(&entry.conditions.headers, request));
    match request.body.len() as u64 == request.body_len {
        true => reasons.extend(body_reasons(entry, &request.body)),
        // Fails closed: a body the server did not hold matches no body condition.
        false if entry.conditions.matches_on_body() => reasons.push(format!(
            "body not compared: only its first {} of {} bytes were kept",
            request.body.len(),
            request.body_len
        )),
        false => {}
    }
    reasons
}

/// `http` or `https`.
pub fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// The URL `url_regex` and templates see: `scheme://host:port/path?query`, the port always
/// written, path and query as the client sent them.
pub fn request_url(request: &Request, tls: bool, dest: &Destination) -> String {
    format!("{}://{dest}{}", scheme(tls), request.path_and_query())
}

fn url_reason(
    entry: &HttpEntry,
    request: &Request,
    tls: bool,
    dest: &Destination,
) -> Option<String> {
    let re = entry.conditions.url_regex.as_ref()?;
    let url = request_url(request, tls, dest);
    (!re.is_match(&url)).then(|| {
        format!(
            "url {} does not match url_regex {}",
            quote(&url),
            re.as_str()
        )
    })
}

fn path_reason(entry: &HttpEntry, request: &Request) -> Option<String> {
    let path = url::percent_decode(request.path(), false);
    if entry.conditions.url_regex.is_some() && entry.conditions.path_regex.is_none() {
        return None;
    }
    match &entry.conditions.path_regex {
        Some(re) if !re.is_match(&path) => Some(format!(
            "path {path} does not match path_regex {}",
            re.as_str()
        )),
        Some(_) => None,
        None if path != entry.url.path => {
            Some(format!("path differs: {path} vs {}", entry.url.path))
        }
        None => None,
    }
}

/// Every query pair of the entry must be in the request; extra request pairs are fine.
fn query_reasons(wanted: &[(String, String)], got: &[(String, String)]) -> Vec<String> {
    wanted
        .iter()
        .filter(|pair| !got.contains(pair))
        .map(|(key, value)| {
            let values: Vec<String> = got
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| format!("{key}={v}"))
                .collect();
            match values.is_empty() {
                true => format!("query {key} missing (entry wants {key}={value})"),
                false => format!("query {} vs {key}={value}", values.join("&")),
            }
        })
        .collect()
}

/// Header names are compared case-insensitively (both sides are lower-case already); a
/// header sent several times matches when one of its values, or all of them joined by `, `,
/// matches.
fn header_reasons(wanted: &[(String, ValueMatcher)], request: &Request) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(name, matcher)| {
            let got: Vec<&str> = request.headers_named(name).collect();
            matcher
                .accepts(&got)
                .not()
                .then(|| value_reason("header", name, &got, matcher))
        })
        .collect()
}

/// `match.query`: only the names it lists are checked.
fn query_matcher_reasons(wanted: &[(String, ValueMatcher)], request: &Request) -> Vec<String> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let query = request.query();
    wanted
        .iter()
        .filter_map(|(name, matcher)| {
            let got: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            matcher
                .accepts(&got)
                .not()
                .then(|| value_reason("query", name, &got, matcher))
        })
        .collect()
}

/// `header authorization missing`, `query page "3" vs regex ^[12]$`, `header x-debug "1" vs absent`.
fn value_reason(what: &str, name: &str, got: &[&str], matcher: &ValueMatcher) -> String {
    match (got.is_empty(), matcher) {
        (true, ValueMatcher::Exact(_)) => format!("{what} {name} missing"),
        (true, _) => format!("{what} {name} missing (entry wants {})", matcher.describe()),
        (false, _) => format!(
            "{what} {name} {} vs {}",
            quote(&got.join(", ")),
            cut(&matcher.describe())
        ),
    }
}

fn body_reasons(entry: &HttpEntry, body: &[u8]) -> Vec<String> {
    let c = &entry.conditions;
    let text = String::from_utf8_lossy(body);
    let mut reasons = Vec::new();
    if let Some(want) = &c.body
        && body != want.as_bytes()
    {
        reasons.push(format!("body differs: {} vs {}", quote(&text), quote(want)));
    }
    if c.json.is_some() || c.json_contains.is_some() {
        match serde_json::from_slice::<Value>(body) {
            Err(_) => reasons.push(format!("body is not JSON: {}", quote(&text))),
            Ok(got) => {
                if let Some(diff) = c.json.as_ref().and_then(|w| json_diff(&got, w, false)) {
                    reasons.push(format!("json differs{diff}"));
                }
                if let Some(diff) = c
                    .json_contains
                    .as_ref()
                    .and_then(|w| json_diff(&got, w, true))
                {
                    reasons.push(format!("json does not contain the entry's{diff}"));
                }
            }
        }
    }
    if let Some(re) = &c.body_regex
        && !re.is_match(&text)
    {
        reasons.push(format!(
            "body {} does not match body_regex {}",
            quote(&text),
            re.as_str()
        ));
    }
    reasons
}

/// The first difference between `got` and `want`, as ` at items[0].id: 2 vs 1` (or `: 2 vs 1`
/// at the top); `None` when they are equal, or when `got` contains `want` if `contains`.
///
/// Containment is PostgreSQL's `@>`: an object contains the keys it is given, an array
/// contains each given item somewhere, anything else must be equal. Numbers compare by value
/// (`1` equals `1.0`).
pub fn json_diff(got: &Value, want: &Value, contains: bool) -> Option<String> {
    diff_at(got, want, contains, &mut String::new())
}

fn diff_at(got: &Value, want: &Value, contains: bool, path: &mut String) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (key, wv) in w {
                let mark = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let diff = match g.get(key) {
                    None => at(path, "missing".into()),
                    Some(gv) => diff_at(gv, wv, contains, path),
                };
                path.truncate(mark);
                if diff.is_some() {
                    return diff;
                }
            }
            let extra = g.keys().find(|k| !w.contains_key(*k));
            match (contains, extra) {
                (false, Some(k)) => at(path, format!("unexpected key {}", quote(k))),
                _ => None,
            }
        }
        (Value::Array(g), Value::Array(w)) if contains => w
            .iter()
            .find(|wv| !g.iter().any(|gv| json_diff(gv, wv, true).is_none()))
            .and_then(|wv| at(path, format!("no item contains {}", short(wv)))),
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return at(path, format!("{} items vs {}", g.len(), w.len()));
            }
            g.iter().zip(w).enumerate().find_map(|(i, (gv, wv))| {
                let mark = path.len();
                path.push_str(&format!("[{i}]"));
                let diff = diff_at(gv, wv, contains, path);
                path.truncate(mark);
                diff
            })
        }
        (Value::Number(g), Value::Number(w)) if g.as_f64() == w.as_f64() => None,
        (g, w) if g == w => None,
        (g, w) => at(path, format!("{} vs {}", short(g), short(w))),
    }
}

/// A difference located at `path` (nothing for the top of the document).
fn at(path: &str, what: String) -> Option<String> {
    match path.is_empty() {
        true => Some(format!(": {what}")),
        false => Some(format!(" at {path}: {what}")),
    }
}

/// A JSON value for a reason line, cut short.
fn short(v: &Value) -> String {
    cut(&v.to_string())
}

/// Text quoted for a reason line, cut short.
fn quote(text: &str) -> String {
    cut(&format!("{text:?}"))
}

fn cut(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// An entry that did not answer a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The entry's index in the mocks file.
    pub index: usize,
    /// The entry's `http` value.
    pub entry: String,
    pub reasons: Vec<String>,
    /// How many leading bytes the entry's path shares with the request's: among misses with
    /// as many reasons, `/v1/users/1` is closer to `/v1/users/2` than `/health` is.
    pub shared_path: usize,
}

impl Miss {
    pub fn new(index: usize, entry: &HttpEntry, request: &Request, reasons: Vec<String>) -> Self {
        let path = url::percent_decode(request.path(), false);
        let shared_path = path
            .bytes()
            .zip(entry.url.path.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        Miss {
            index,
            entry: entry.text.clone(),
            reasons,
            shared_path,
        }
    }
}

/// How many of the closest entries a `501` lists.
const CLOSEST: usize = 3;

/// The closest misses first (fewest reasons, then the nearest path, then file order), at
/// most three.
pub fn closest(mut misses: Vec<Miss>) -> Vec<Miss> {
    misses.sort_by_key(|m| (m.reasons.len(), std::cmp::Reverse(m.shared_path), m.index));
    misses.truncate(CLOSEST);
    misses
}

/// One line for logs and the end-of-run report: `GET /x: no entry matched (closest #0 ...)`.
pub fn unmatched_summary(request: &Request, misses: &[Miss]) -> String {
    let mut line = format!("{} {}: no entry matched", request.method, request.target);
    if let Some(m) = misses.first() {
        line.push_str(&format!(
            " (closest: #{} {}: {})",
            m.index,
            m.entry,
            m.reasons.join("; ")
        ));
    }
    line
}

/// The body of the `501` answer to a request no entry matched.
pub fn unmatched_body(request: &Request, origin: &str, misses: &[Miss]) -> String {
    let mut body = format!(
        "mocket: no entry matched {} {} on {origin}\n",
        request.method, request.target
    );
    if misses.is_empty() {
        body.push_str("there is no http entry for this destination\n");
        return body;
    }
    body.push_str("closest entries (request vs entry):\n");
    for m in misses {
        body.push_str(&format!("  #{} {}\n", m.index, m.entry));
        for reason in &m.reasons {
            body.push_str(&format!("    - {reason}\n"));
        }
    }
    body
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
