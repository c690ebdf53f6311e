//! `kubernetes` entries (DESIGN.md section 9): a stateful, in-memory Kubernetes API server,
//! sans-IO. [`Emulator::handle`] takes an HTTP request and gives a reply or a watch to stream;
//! the engine (`engine/src/kubernetes.rs`) owns the sockets, TLS, the journal and the wakeups of
//! watches.
//!
//! - [`resources`]: the resource types (built-in core and apps kinds, declared `resources`, and
//!   kinds seen in `objects`) and the discovery documents.
//! - [`store`]: objects, the resourceVersion counter, the history watches start from, and the
//!   bounded queue of each watch.
//! - [`selector`]: label and field selectors; [`patch`]: merge and JSON patch.
//! - [`api`]: paths, verbs, server-set metadata, conflicts and `Status` errors.

mod api;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod store;

use serde_json::{Map, Value};

pub use api::{ApiError, Emulator, Outcome, Reply, SERVER_MINOR, WatchStart, valid_name};
pub use resources::{Registry, ResourceType};

use crate::field::{self, Destination, FieldError};

const KEYS: &[&str] = &["kubernetes", "objects", "resources", "watch_buffer"];
const RESOURCE_KEYS: &[&str] = &["group", "version", "kind", "plural", "namespaced"];

/// One `kubernetes` entry.
#[derive(Debug, Clone)]
pub struct KubernetesEntry {
    /// The URL as written, for reports: `https://kube.test:6443`.
    pub url: String,
    pub destination: Destination,
    /// The objects the server starts with, namespaced ones with their namespace filled in.
    pub objects: Vec<Value>,
    /// The built-in kinds, the declared `resources` and the kinds of `objects`.
    pub registry: Registry,
    /// How many events a watch may have waiting before it is dropped (`watch_buffer`).
    pub watch_buffer: usize,
}

impl KubernetesEntry {
    pub fn from_json(v: &Value) -> Result<Self, FieldError> {
        let map = field::object(v, "a kubernetes entry")?;
        field::reject_unknown_keys(map, KEYS)?;
        let url = field::string(map.get("kubernetes").unwrap_or(&Value::Null), "kubernetes")
            .map_err(|e| e.in_key("kubernetes"))?;
        let parsed = crate::http::url::parse_entry_url(url).map_err(|e| e.in_key("kubernetes"))?;
        if parsed.path != "/" || !parsed.query.is_empty() {
            return Err(FieldError::new(format!(
                "\"{url}\": a kubernetes entry is a server address (scheme, host and port) \
                 without a path or query: the API paths are served under it"
            ))
            .in_key("kubernetes"));
        }
        let mut registry = Registry::default();
        if let Some(resources) = map.get("resources") {
            let items = array(resources, "resources")?;
            for (i, item) in items.iter().enumerate() {
                let ty = resource_type(item).map_err(|e| e.in_index(i).in_key("resources"))?;
                registry.declare(ty);
            }
        }
        let objects = match map.get("objects") {
            None => Vec::new(),
            Some(objects) => array(objects, "objects")?
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    seed_object(o, &mut registry).map_err(|e| e.in_index(i).in_key("objects"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        reject_duplicates(&objects)?;
        let watch_buffer = match map.get("watch_buffer") {
            None => store::DEFAULT_WATCH_BUFFER,
            Some(v) => match field::unsigned(v, "watch_buffer") {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    return Err(FieldError::new(
                        "watch_buffer must be a whole number of events, at least 1",
                    )
                    .in_key("watch_buffer"));
                }
            },
        };
        Ok(KubernetesEntry {
            url: url.to_string(),
            destination: parsed.destination,
            objects,
            registry,
            watch_buffer,
        })
    }
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, FieldError> {
    v.as_array().ok_or_else(|| {
        FieldError::new(format!(
            "{key} must be an array, found {}",
            field::type_name(v)
        ))
        .in_key(key)
    })
}

fn required_text<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a str, FieldError> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(FieldError::new(format!(
            "{key} must be a non-empty string ({what}), found {}",
            field::type_name(other)
        ))
        .in_key(key)),
        None => Err(FieldError::new(format!("{key} is missing: give {what}"))),
    }
}

/// A `resources` item: `{"group", "version", "kind", "plural", "namespaced"}`.
fn resource_type(v: &Value) -> Result<ResourceType, FieldError> {
    let map = field::object(v, "a resource")?;
    field::reject_unknown_keys(map, RESOURCE_KEYS)?;
    let group = match map.get("group") {
        Some(v) => field::string(v, "group").map_err(|e| e.in_key("group"))?,
        None => {
            return Err(FieldError::new(
                "group is missing: give the API group, e.g. \"example.com\" (\"\" for core)",
            ));
        }
    };
    let version = required_text(map, "version", "the API version, e.g. \"v1\"")?;
    let kind = required_text(map, "kind", "the kind, e.g. \"Widget\"")?;
    let plural = match map.get("plural") {
        None => resources::guess_plural(kind),
        Some(v) => {
            let p = field::string(v, "plural").map_err(|e| e.in_key("plural"))?;
            if !valid_name(p) || p.contains('.') {
                return Err(FieldError::new(format!(
                    "plural {p:?} must be lower-case letters, digits and '-', e.g. \"widgets\""
                ))
                .in_key("plural"));
            }
            p.to_string()
        }
    };
    let namespaced = match map.get("namespaced") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(FieldError::new(format!(
                "namespaced must be true or false, found {}",
                field::type_name(v)
            ))
            .in_key("namespaced"));
        }
    };
    Ok(ResourceType::new(group, version, kind, &plural, namespaced))
}

/// Checks a seed object and fills in its namespace; a kind the registry does not know yet is
/// declared (namespaced, with the guessed plural).
fn seed_object(v: &Value, registry: &mut Registry) -> Result<Value, FieldError> {
    let map = field::object(v, "a Kubernetes object")?;
    let api_version = required_text(map, "apiVersion", "the object's apiVersion, e.g. \"v1\"")?;
    let kind = required_text(map, "kind", "the object's kind, e.g. \"ConfigMap\"")?;
    let meta = match map.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(FieldError::new(format!(
                "metadata must be an object, found {}",
                field::type_name(other)
            ))
            .in_key("metadata"));
        }
        None => {
            return Err(FieldError::new(
                "metadata is missing: give at least metadata.name",
            ));
        }
    };
    let name =
        required_text(meta, "name", "the object's name").map_err(|e| e.in_key("metadata"))?;
    if !valid_name(name) {
        return Err(FieldError::new(format!(
            "{name:?} is not a valid object name: lower-case letters, digits, '-' and '.'"
        ))
        .in_key("name")
        .in_key("metadata"));
    }
    let resource = match registry.by_kind(api_version, kind) {
        Some(id) => id,
        None => {
            let (group, version) = resources::split_api_version(api_version);
            let plural = resources::guess_plural(kind);
            registry.declare(ResourceType::new(group, version, kind, &plural, true))
        }
    };
    let mut object = v.clone();
    let namespace = meta.get("namespace");
    match (registry.get(resource).namespaced, namespace) {
        (true, None) => object["metadata"]["namespace"] = Value::from("default"),
        (true, Some(Value::String(ns))) if valid_name(ns) => {}
        (true, Some(other)) => {
            return Err(FieldError::new(format!(
                "metadata.namespace must be a valid name, found {other}"
            ))
            .in_key("namespace")
            .in_key("metadata"));
        }
        (false, Some(_)) => {
            return Err(FieldError::new(format!(
                "{kind} is cluster-scoped: remove metadata.namespace (or declare the kind in \
                 \"resources\" with \"namespaced\": true)"
            ))
            .in_key("namespace")
            .in_key("metadata"));
        }
        (false, None) => {}
    }
    Ok(object)
}

fn reject_duplicates(objects: &[Value]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, o) in objects.iter().enumerate() {
        let id = (
            o["apiVersion"].as_str(),
            o["kind"].as_str(),
            o["metadata"]["namespace"].as_str(),
            o["metadata"]["name"].as_str(),
        );
        if !seen.insert(id) {
            return Err(FieldError::new(format!(
                "{} {:?} is given twice: each object once",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            ))
            .in_index(i)
            .in_key("objects"));
        }
    }
    Ok(())
}

/// The head of a watch response: chunked, so each event goes out as it happens.
pub const WATCH_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
cache-control: no-cache, private\r\ntransfer-encoding: chunked\r\n\r\n";

/// The end of a watch stream's chunked body.
pub const WATCH_END: &[u8] = b"0\r\n\r\n";

/// One event line as a chunk.
pub fn watch_chunk(line: &[u8]) -> Vec<u8> {
    let mut chunk = format!("{:x}\r\n", line.len()).into_bytes();
    chunk.extend_from_slice(line);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> Result<KubernetesEntry, FieldError> {
        KubernetesEntry::from_json(&v)
    }

    #[test]
    fn objects_get_their_namespace_and_new_kinds() {
        let e = entry(json!({"kubernetes": "https://kube.test:6443", "objects": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "team"}},
        ]}))
        .unwrap();
        assert_eq!(e.destination, Destination::new("kube.test", 6443));
        assert_eq!(e.objects[0]["metadata"]["namespace"], "default");
        assert!(e.objects[1]["metadata"].get("namespace").is_none());
        assert!(e.registry.by_path("example.com", "v1", "widgets").is_some());
        assert_eq!(e.watch_buffer, store::DEFAULT_WATCH_BUFFER);
    }

    #[test]
    fn bad_entries_name_the_key() {
        let cases = [
            (json!({"kubernetes": "kube.test"}), "kubernetes"),
            (json!({"kubernetes": "https://kube.test/api"}), "kubernetes"),
            (json!({"kubernetes": "https://k", "objects": {}}), "objects"),
            (
                json!({"kubernetes": "https://k", "objects": [{"kind": "ConfigMap", "metadata": {"name": "a"}}]}),
                "objects[0]",
            ),
            (
                json!({"kubernetes": "https://k", "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]}),
                "objects[0].metadata",
            ),
            (
                json!({"kubernetes": "https://k", "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "A_b"}}]}),
                "objects[0].metadata.name",
            ),
            (
                json!({"kubernetes": "https://k", "objects": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}}]}),
                "objects[0].metadata.namespace",
            ),
            (
                json!({"kubernetes": "https://k", "objects": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}}]}),
                "objects[1]",
            ),
            (
                json!({"kubernetes": "https://k", "resources": [{"group": "x", "version": "v1"}]}),
                "resources[0]",
            ),
            (
                json!({"kubernetes": "https://k", "resources": [{"group": "x", "version": "v1", "kind": "W", "plural": "Ws"}]}),
                "resources[0].plural",
            ),
            (
                json!({"kubernetes": "https://k", "resources": [{"group": "x", "version": "v1", "kind": "W", "namespaced": "yes"}]}),
                "resources[0].namespaced",
            ),
            (
                json!({"kubernetes": "https://k", "resources": [{"group": "x", "version": "v1", "kind": "W", "scope": "x"}]}),
                "resources[0]",
            ),
            (
                json!({"kubernetes": "https://k", "watch_buffer": 0}),
                "watch_buffer",
            ),
            (json!({"kubernetes": "https://k", "object": []}), ""),
        ];
        for (v, key) in cases {
            let err = entry(v.clone()).unwrap_err();
            assert!(
                err.path_text().starts_with(key),
                "{v}: {} ({})",
                err.path_text(),
                err.message
            );
        }
    }

    #[test]
    fn declared_resources_shape_the_seeds() {
        let e = entry(json!({"kubernetes": "http://kube.test", "resources": [
            {"group": "example.com", "version": "v1", "kind": "Cluster", "plural": "clusters", "namespaced": false}],
            "objects": [{"apiVersion": "example.com/v1", "kind": "Cluster", "metadata": {"name": "c"}}]}))
        .unwrap();
        assert_eq!(e.destination, Destination::new("kube.test", 80));
        assert!(e.objects[0]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn watch_chunks() {
        assert_eq!(watch_chunk(b"{}\n"), b"3\r\n{}\n\r\n");
    }
}
