//! Response templates (DESIGN.md section 7): a response with `"template": true` renders its
//! `status` (when a string), header values, `body` and every string inside `json` per request,
//! with minijinja (Jinja syntax), from the request, the captures of `path_regex`/`url_regex`,
//! the entry's use count, the time and a fresh UUID.
//!
//! Templates are parsed when the mocks file is read (a template that does not parse is an
//! error of the file) and rendered per request under a fuel limit, so no template runs
//! forever; a render error becomes the engine's `500`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value as JinjaValue};
use regex::Regex;
use serde_json::{Map, Value};

use super::entry::{HttpEntry, HttpResponse};
use super::matching::request_url;
use super::parser::Request;
use super::url;
use crate::field::{Destination, FieldError};

/// The template parts of a response; what is not here is sent as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTemplate {
    /// `status` given as a string.
    pub status: Option<String>,
    /// `body` (text) or `json` (each string inside rendered).
    pub body: Option<TemplateBody>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateBody {
    Text(String),
    Json(Value),
}

/// A template that failed to render, with the part it was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// `status`, `body`, `json`, `headers.x-id`.
    pub part: String,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "template {} failed to render: {}",
            self.part, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

/// The most instructions one template may run: far above any response a test needs, and a
/// bound on a loop that never ends.
const FUEL: u64 = 1_000_000;

/// The body keys a template cannot render.
const NOT_TEMPLATES: &[&str] = &["base64", "file", "chunks"];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt variable is an error the user sees, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env
    })
}

/// Whether `source` parses as a template.
fn check(source: &str) -> Result<(), FieldError> {
    environment()
        .template_from_str(source)
        .map(drop)
        .map_err(|e| FieldError::new(format!("template does not parse: {}", describe(&e))))
}

/// The error with its cause chain, on one line.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl ResponseTemplate {
    /// The template of a response object: `None` unless it says `"template": true`. Checks
    /// that every template in it parses; `headers` are checked as given.
    pub fn from_json(map: &Map<String, Value>) -> Result<Option<Self>, FieldError> {
        match map.get("template") {
            None | Some(Value::Bool(false)) => return Ok(None),
            Some(Value::Bool(true)) => {}
            Some(other) => {
                return Err(FieldError::new(format!(
                    "template must be true or false, found {}",
                    crate::field::type_name(other)
                ))
                .in_key("template"));
            }
        }
        if let Some(key) = NOT_TEMPLATES.iter().find(|k| map.contains_key(**k)) {
            return Err(FieldError::new(format!(
                "a template renders status, headers, body and json; \"{key}\" cannot be one: \
                 use body or json, or remove \"template\""
            ))
            .in_key("template"));
        }
        let status = match map.get("status") {
            Some(Value::String(s)) => {
                check(s).map_err(|e| e.in_key("status"))?;
                Some(s.clone())
            }
            _ => None,
        };
        if let Some(Value::Object(headers)) = map.get("headers") {
            for (name, value) in headers {
                let values = match value {
                    Value::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                for v in values.into_iter().filter_map(Value::as_str) {
                    check(v).map_err(|e| e.in_key(name).in_key("headers"))?;
                }
            }
        }
        let body = match (map.get("body"), map.get("json")) {
            (Some(Value::String(text)), _) => {
                check(text).map_err(|e| e.in_key("body"))?;
                Some(TemplateBody::Text(text.clone()))
            }
            (_, Some(json)) => {
                check_json(json).map_err(|e| e.in_key("json"))?;
                Some(TemplateBody::Json(json.clone()))
            }
            _ => None,
        };
        Ok(Some(ResponseTemplate { status, body }))
    }
}

fn check_json(v: &Value) -> Result<(), FieldError> {
    match v {
        Value::String(s) => check(s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_json(item).map_err(|e| e.in_index(i))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, item)| check_json(item).map_err(|e| e.in_key(k))),
        _ => Ok(()),
    }
}

/// What a template sees of one request.
pub struct RenderInput<'a> {
    pub entry: &'a HttpEntry,
    pub request: &'a Request,
    /// The connection's scheme and destination (with a host pattern, not the entry's text).
    pub tls: bool,
    pub dest: &'a Destination,
    /// 1 for the entry's first use.
    pub seq: u64,
}

/// `response` with its templates rendered for `input`; `response` itself when it has none.
pub fn render(
    response: &HttpResponse,
    input: &RenderInput<'_>,
) -> Result<HttpResponse, TemplateError> {
    let mut out = response.clone();
    let Some(template) = response.template.as_deref() else {
        return Ok(out);
    };
    out.template = None;
    let ctx = context(input);
    let run = |part: &str, source: &str| -> Result<String, TemplateError> {
        environment()
            .render_str(source, &ctx)
            .map_err(|e| TemplateError {
                part: part.to_string(),
                message: describe(&e),
            })
    };
    if let Some(source) = &template.status {
        let text = run("status", source)?;
        out.status = text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|s| (200..=999).contains(s))
            .ok_or_else(|| TemplateError {
                part: "status".into(),
                message: format!("rendered {text:?}, which is not a final HTTP status (200-999)"),
            })?;
    }
    for (name, value) in &mut out.headers {
        let rendered = run(&format!("headers.{name}"), value)?;
        if rendered.contains(['\r', '\n']) {
            return Err(TemplateError {
                part: format!("headers.{name}"),
                message: "the rendered value contains a line break".into(),
            });
        }
        *value = rendered;
    }
    match &template.body {
        Some(TemplateBody::Text(source)) => out.body = run("body", source)?.into_bytes(),
        Some(TemplateBody::Json(value)) => {
            out.body = render_json(value, &|s| run("json", s))?
                .to_string()
                .into_bytes();
        }
        None => {}
    }
    Ok(out)
}

fn render_json(
    v: &Value,
    run: &dyn Fn(&str) -> Result<String, TemplateError>,
) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => Value::String(run(s)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_json(i, run))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| Ok((k.clone(), render_json(i, run)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// The variables of DESIGN.md section 7.
fn context(input: &RenderInput<'_>) -> JinjaValue {
    let request = input.request;
    let path = url::percent_decode(request.path(), false);
    let url = request_url(request, input.tls, input.dest);
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut query = BTreeMap::new();
    for (k, v) in request.query() {
        query.entry(k).or_insert(v);
    }
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &request.headers {
        headers
            .entry(name.clone())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let json = serde_json::from_slice::<Value>(&request.body).ok();
    let conditions = &input.entry.conditions;
    let captures = match (&conditions.path_regex, &conditions.url_regex) {
        (Some(re), _) => captures(re, &path),
        (None, Some(re)) => captures(re, &url),
        (None, None) => JinjaValue::from_iter(Vec::<(JinjaValue, JinjaValue)>::new()),
    };
    let request_value = JinjaValue::from_iter([
        ("method", JinjaValue::from(request.method.clone())),
        ("url", JinjaValue::from(url)),
        ("path", JinjaValue::from(path)),
        ("segments", JinjaValue::from_serialize(&segments)),
        ("query", JinjaValue::from_serialize(&query)),
        ("headers", JinjaValue::from_serialize(&headers)),
        ("body", JinjaValue::from(body)),
        ("json", JinjaValue::from_serialize(&json)),
    ]);
    JinjaValue::from_iter([
        ("request", request_value),
        ("captures", captures),
        ("seq", JinjaValue::from(input.seq)),
        ("now", JinjaValue::from(now_rfc3339())),
        ("uuid", JinjaValue::from(uuid_v4())),
    ])
}

/// The groups of `re` in `text`, by number (0: the whole match) and by name.
fn captures(re: &Regex, text: &str) -> JinjaValue {
    let mut out: Vec<(JinjaValue, JinjaValue)> = Vec::new();
    if let Some(caps) = re.captures(text) {
        for (i, name) in re.capture_names().enumerate() {
            let Some(m) = caps.get(i) else { continue };
            out.push((JinjaValue::from(i), JinjaValue::from(m.as_str())));
            if let Some(name) = name {
                out.push((JinjaValue::from(name), JinjaValue::from(m.as_str())));
            }
        }
    }
    JinjaValue::from_iter(out)
}

/// The current time, RFC 3339 in UTC with whole seconds: `2026-11-29T20:40:00Z`.
fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A random (version 4) UUID.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No entropy source: still unique within this process.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = n.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
