//! The API server's behaviour: one HTTP request in, one [`Outcome`] out (a reply, or a watch to
//! stream). Paths, verbs, server-set metadata, optimistic concurrency and `Status` errors live
//! here; the objects and watches in [`super::store`].

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::KubernetesEntry;
use super::patch::{self, PatchError};
use super::resources::{Registry, ResourceId, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ChangeKind, Key, Store, WatchFilter, event_line, rfc3339};
use crate::http::Request;

/// The version `/version` reports (kubectl warns about more than one minor of skew).
pub const SERVER_MINOR: &str = "32";

/// The largest `timeoutSeconds` honoured for a watch (a day): a bound, not a default.
const MAX_WATCH_TIMEOUT: u64 = 86_400;

/// An answer to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// The request changed the store: open watches may have news.
    pub changed: bool,
}

/// A watch to stream: `200`, then `backlog`, then what [`Store::drain`] gives for `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStart {
    /// `None`: the stream is only `backlog` (an `ERROR` event), then ends.
    pub id: Option<u64>,
    pub backlog: Vec<Vec<u8>>,
    /// `timeoutSeconds`: when the server ends the stream.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    Watch(WatchStart),
}

/// A failed request, answered with a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `BadRequest`, `MethodNotAllowed`, ...
    pub reason: &'static str,
    pub message: String,
    details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    fn invalid(ty: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        ApiError::new(422, "Invalid", message).about(ty, name)
    }

    fn about(mut self, ty: &ResourceType, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": ty.plural});
        if !ty.group.is_empty() {
            details["group"] = json!(ty.group);
        }
        self.details = Some(details);
        self
    }

    fn not_found(ty: &ResourceType, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", plural_group(ty)),
        )
        .about(ty, name)
    }

    fn no_such_path() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    fn conflict(ty: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                plural_group(ty)
            ),
        )
        .about(ty, name)
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    pub fn reply(&self) -> Reply {
        json_reply(self.code, &self.status())
    }
}

/// `configmaps` or `deployments.apps`, as Kubernetes names a resource in messages.
fn plural_group(ty: &ResourceType) -> String {
    match ty.group.is_empty() {
        true => ty.plural.clone(),
        false => format!("{}.{}", ty.plural, ty.group),
    }
}

fn json_reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        content_type: "application/json".into(),
        body: serde_json::to_vec(body).expect("a JSON value always serializes"),
        changed: false,
    }
}

/// Which object or collection a request is about.
struct Target {
    resource: ResourceId,
    namespace: Option<String>,
    name: Option<String>,
    /// Only `status` exists here.
    status: bool,
}

/// The emulated API server of one `kubernetes` entry.
pub struct Emulator {
    registry: Registry,
    store: Store,
    /// Makes uids and generated names unique.
    serial: u64,
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

impl Emulator {
    /// A server holding the entry's objects (already validated by the entry).
    pub fn new(entry: &KubernetesEntry, now: u64) -> Self {
        let mut emulator = Emulator {
            registry: entry.registry.clone(),
            store: Store::new(entry.watch_buffer),
            serial: 0,
        };
        for object in &entry.objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            if let Some(resource) = emulator.registry.by_kind(api_version, kind) {
                let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
                // Validated by the entry; a seed that still fails is skipped, not fatal.
                let _ = emulator.create(resource, namespace, object.clone(), now, false);
            }
        }
        emulator
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Answers `request`; `now` is the time in seconds since the Unix epoch.
    pub fn handle(&mut self, request: &Request, now: u64) -> Outcome {
        self.route(request, now)
            .unwrap_or_else(|e| Outcome::Reply(e.reply()))
    }

    fn route(&mut self, request: &Request, now: u64) -> Result<Outcome> {
        let path = crate::http::url::percent_decode(request.path(), false);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let reply = |v: Value| Ok(Outcome::Reply(json_reply(200, &v)));
        let discovery = matches!(
            segments.as_slice(),
            [] | ["version" | "healthz" | "livez" | "readyz" | "api" | "apis"]
                | ["api", _]
                | ["apis", _]
                | ["apis", _, _]
        );
        if discovery && request.method != "GET" {
            return Err(method_not_allowed(&request.method));
        }
        match segments.as_slice() {
            ["version"] => reply(version()),
            ["healthz" | "livez" | "readyz"] => Ok(Outcome::Reply(Reply {
                status: 200,
                content_type: "text/plain".into(),
                body: b"ok".to_vec(),
                changed: false,
            })),
            ["api"] => Ok(self.discovery(request, true)),
            ["apis"] => Ok(self.discovery(request, false)),
            ["api", "v1"] => reply(self.registry.resource_list("", "v1")),
            ["apis", group] => self
                .registry
                .group(group)
                .map_or(Err(ApiError::no_such_path()), reply),
            ["apis", group, version] if self.registry.has_group_version(group, version) => {
                reply(self.registry.resource_list(group, version))
            }
            ["api", "v1", rest @ ..] if !rest.is_empty() => {
                let target = self.target("", "v1", rest)?;
                self.verb(request, target, now)
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                let target = self.target(group, version, rest)?;
                self.verb(request, target, now)
            }
            _ => Err(ApiError::no_such_path()),
        }
    }

    /// `/api` or `/apis`, aggregated when the client asks for it in `Accept`.
    fn discovery(&self, request: &Request, core: bool) -> Outcome {
        let accept = request.header("accept").unwrap_or("");
        let wanted = ["v2", "v2beta1"].into_iter().find(|v| {
            accept.split(',').any(|media| {
                let params: Vec<&str> = media.split(';').map(str::trim).collect();
                params.contains(&"g=apidiscovery.k8s.io")
                    && params.contains(&"as=APIGroupDiscoveryList")
                    && params.contains(&format!("v={v}").as_str())
            })
        });
        match wanted {
            Some(v) => {
                let mut reply = json_reply(200, &self.registry.aggregated(core, v));
                reply.content_type = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                Outcome::Reply(reply)
            }
            None if core => Outcome::Reply(json_reply(200, &self.registry.core_versions())),
            None => Outcome::Reply(json_reply(200, &self.registry.group_list())),
        }
    }

    /// Reads `[namespaces/NS/]PLURAL[/NAME[/status]]`.
    fn target(&self, group: &str, version: &str, rest: &[&str]) -> Result<Target> {
        let (namespace, rest) = match rest {
            ["namespaces", ns, plural, ..]
                if !matches!(*plural, "status" | "finalize") || rest.len() > 3 =>
            {
                (Some(ns.to_string()), &rest[2..])
            }
            _ => (None, rest),
        };
        let (plural, name, sub) = match rest {
            [plural] => (*plural, None, None),
            [plural, name] => (*plural, Some(name.to_string()), None),
            [plural, name, sub] => (*plural, Some(name.to_string()), Some(*sub)),
            _ => return Err(ApiError::no_such_path()),
        };
        let resource = self
            .registry
            .by_path(group, version, plural)
            .ok_or_else(ApiError::no_such_path)?;
        let ty = self.registry.get(resource);
        let misplaced = match (&namespace, &name) {
            (Some(_), _) => !ty.namespaced,
            (None, Some(_)) => ty.namespaced,
            (None, None) => false,
        };
        if misplaced || sub.is_some_and(|s| s != "status") {
            return Err(ApiError::no_such_path());
        }
        Ok(Target {
            resource,
            namespace,
            name,
            status: sub.is_some(),
        })
    }

    fn verb(&mut self, request: &Request, target: Target, now: u64) -> Result<Outcome> {
        let query = Query(request.query());
        let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
        let reply = |status: u16, v: Value| Ok(Outcome::Reply(json_reply(status, &v)));
        let changed = |status: u16, v: Value| {
            let mut r = json_reply(status, &v);
            r.changed = !dry_run;
            Ok(Outcome::Reply(r))
        };
        let Target {
            resource,
            namespace,
            name,
            status,
        } = target;
        match (request.method.as_str(), name, status) {
            ("GET", None, false) if query.flag("watch") => {
                self.watch(resource, namespace, &query).map(Outcome::Watch)
            }
            ("GET", None, false) => reply(200, self.list(resource, namespace.as_deref(), &query)?),
            ("GET", Some(name), _) => {
                let key = self.key(resource, namespace.as_deref(), &name);
                let object = self.existing(&key)?;
                reply(200, object.clone())
            }
            ("POST", None, false) => {
                let body = json_body(request)?;
                let object = self.create(resource, namespace, body, now, dry_run)?;
                changed(201, object)
            }
            ("PUT", Some(name), status) => {
                let body = json_body(request)?;
                let key = self.key(resource, namespace.as_deref(), &name);
                changed(200, self.replace(&key, body, status, now, dry_run)?)
            }
            ("PATCH", Some(name), status) => {
                let key = self.key(resource, namespace.as_deref(), &name);
                let patched = self.patched(&key, request)?;
                changed(200, self.replace(&key, patched, status, now, dry_run)?)
            }
            ("DELETE", Some(name), false) => {
                let key = self.key(resource, namespace.as_deref(), &name);
                let options = match request.body.is_empty() {
                    true => Value::Null,
                    false => json_body(request)?,
                };
                changed(200, self.delete(&key, &options, now, dry_run)?)
            }
            ("DELETE", None, false) => {
                let deleted =
                    self.delete_collection(resource, namespace.as_deref(), &query, now, dry_run)?;
                changed(200, deleted)
            }
            (method, _, _) => Err(method_not_allowed(method)),
        }
    }

    fn key(&self, resource: ResourceId, namespace: Option<&str>, name: &str) -> Key {
        Key {
            resource,
            namespace: namespace.unwrap_or("").to_string(),
            name: name.to_string(),
        }
    }

    fn existing(&self, key: &Key) -> Result<&Value> {
        self.store
            .get(key)
            .ok_or_else(|| ApiError::not_found(self.registry.get(key.resource), &key.name))
    }

    fn selectors(query: &Query) -> Result<(LabelSelector, FieldSelector)> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.0))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.0))?;
        Ok((labels, fields))
    }

    fn filter(
        resource: ResourceId,
        namespace: Option<String>,
        query: &Query,
    ) -> Result<WatchFilter> {
        let (labels, fields) = Emulator::selectors(query)?;
        Ok(WatchFilter {
            resource,
            namespace,
            labels,
            fields,
        })
    }

    fn list(&self, resource: ResourceId, namespace: Option<&str>, query: &Query) -> Result<Value> {
        let filter = Emulator::filter(resource, namespace.map(str::to_string), query)?;
        let items: Vec<Value> = self
            .store
            .list(resource, namespace)
            .filter(|(_, o)| filter.selects(o))
            .map(|(_, o)| o.clone())
            .collect();
        Ok(self.list_of(resource, items))
    }

    fn list_of(&self, resource: ResourceId, items: Vec<Value>) -> Value {
        let ty = self.registry.get(resource);
        json!({
            "kind": format!("{}List", ty.kind), "apiVersion": ty.api_version(),
            "metadata": {"resourceVersion": self.store.revision().to_string()},
            "items": items,
        })
    }

    fn watch(
        &mut self,
        resource: ResourceId,
        namespace: Option<String>,
        query: &Query,
    ) -> Result<WatchStart> {
        let filter = Emulator::filter(resource, namespace, query)?;
        let since = match query.get("resourceVersion") {
            None | Some("" | "0") => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "resourceVersion {v:?} is not a resourceVersion this server gave"
                ))
            })?),
        };
        let timeout = match query.get("timeoutSeconds") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "timeoutSeconds {v:?} is not a whole number of seconds"
                ))
            })?),
        }
        .map(|s| Duration::from_secs(s.min(MAX_WATCH_TIMEOUT)));
        match self.store.watch(filter, since) {
            Ok((id, backlog)) => Ok(WatchStart {
                id: Some(id),
                backlog,
                timeout,
            }),
            Err(too_old) => {
                let status = ApiError::new(
                    410,
                    "Expired",
                    format!(
                        "too old resource version: {} ({})",
                        since.unwrap_or(0),
                        too_old.oldest
                    ),
                )
                .status();
                Ok(WatchStart {
                    id: None,
                    backlog: vec![event_line("ERROR", &status)],
                    timeout,
                })
            }
        }
    }

    /// Checks `kind` and `apiVersion` of a body against the resource, filling them in when
    /// absent.
    fn check_type(&self, resource: ResourceId, body: &mut Value) -> Result<()> {
        let ty = self.registry.get(resource);
        let Some(map) = body.as_object_mut() else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        for (key, want) in [("kind", ty.kind.clone()), ("apiVersion", ty.api_version())] {
            match map.get(key) {
                None => {
                    map.insert(key.into(), json!(want));
                }
                Some(Value::String(s)) if *s == want => {}
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "the {key} of the body is {other}, but this is the endpoint of {} {}",
                        ty.api_version(),
                        ty.kind
                    )));
                }
            }
        }
        match map.get("metadata") {
            None => {
                map.insert("metadata".into(), json!({}));
                Ok(())
            }
            Some(Value::Object(_)) => Ok(()),
            Some(_) => Err(ApiError::bad_request("metadata must be an object")),
        }
    }

    fn create(
        &mut self,
        resource: ResourceId,
        namespace: Option<String>,
        mut body: Value,
        now: u64,
        dry_run: bool,
    ) -> Result<Value> {
        self.check_type(resource, &mut body)?;
        let ty = self.registry.get(resource).clone();
        let meta = body["metadata"].as_object_mut().expect("checked above");
        let namespace = match (
            ty.namespaced,
            namespace,
            meta.get("namespace").and_then(Value::as_str),
        ) {
            (false, _, _) => String::new(),
            (true, Some(url), Some(body)) if url != body => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({body}) does not match the namespace \
                     sent on the request ({url})"
                )));
            }
            (true, Some(url), _) => url,
            (true, None, Some(body)) => body.to_string(),
            (true, None, None) => "default".to_string(),
        };
        self.serial += 1;
        let name = match (
            meta.get("name").and_then(Value::as_str),
            meta.get("generateName").and_then(Value::as_str),
        ) {
            (Some(name), _) if !name.is_empty() => name.to_string(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                format!("{prefix}{}", name_suffix(self.serial))
            }
            _ => {
                return Err(ApiError::invalid(
                    &ty,
                    "",
                    "metadata.name or metadata.generateName is required",
                ));
            }
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &ty,
                &name,
                format!(
                    "metadata.name {name:?} is not a valid name: lower-case letters, digits, '-' and '.', at most 253"
                ),
            ));
        }
        meta.insert("name".into(), json!(name));
        if ty.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid(self.serial)));
        meta.insert("creationTimestamp".into(), json!(rfc3339(now)));
        meta.insert("generation".into(), json!(1));
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        let key = Key {
            resource,
            namespace,
            name: name.clone(),
        };
        if self.store.get(&key).is_some() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", plural_group(&ty)),
            )
            .about(&ty, &name));
        }
        if dry_run {
            return Ok(body);
        }
        Ok(self.store.put(key, body, ChangeKind::Added))
    }

    /// The object after the request's patch, before the checks a replace makes.
    fn patched(&self, key: &Key, request: &Request) -> Result<Value> {
        let mut object = self.existing(key)?.clone();
        let content_type = request
            .header("content-type")
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = json_body(request)?;
        let applied = match content_type.as_str() {
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                if !body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                patch::merge_patch(&mut object, &body);
                Ok(())
            }
            "application/json-patch+json" => patch::json_patch(&mut object, &body),
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the patch content type {other:?} is not supported: use \
                         application/merge-patch+json, application/strategic-merge-patch+json \
                         (applied as a merge patch) or application/json-patch+json"
                    ),
                ));
            }
        };
        applied.map_err(|e| match e {
            PatchError::Malformed(m) => ApiError::bad_request(m),
            PatchError::NotApplicable(m) => {
                ApiError::invalid(self.registry.get(key.resource), &key.name, m)
            }
        })?;
        Ok(object)
    }

    /// Replaces the object at `key` (or only its status) with `body`, keeping what the server
    /// owns and refusing a stale `resourceVersion`.
    fn replace(
        &mut self,
        key: &Key,
        mut body: Value,
        status_only: bool,
        now: u64,
        dry_run: bool,
    ) -> Result<Value> {
        self.check_type(key.resource, &mut body)?;
        let ty = self.registry.get(key.resource).clone();
        let old = self.existing(key)?.clone();
        match body["metadata"]["name"].as_str() {
            None | Some("") => body["metadata"]["name"] = json!(key.name),
            Some(name) if name != key.name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    key.name
                )));
            }
            Some(_) => {}
        }
        match body["metadata"]["resourceVersion"].as_str() {
            Some(rv)
                if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() =>
            {
                return Err(ApiError::conflict(&ty, &key.name));
            }
            _ => {}
        }
        let mut new = if status_only {
            let mut new = old.clone();
            set_or_remove(&mut new, "status", body.get("status").cloned());
            new
        } else {
            set_or_remove(&mut body, "status", old.get("status").cloned());
            body
        };
        let meta = new["metadata"].as_object_mut().expect("checked");
        for owned in [
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(owned) {
                Some(v) => meta.insert(owned.into(), v.clone()),
                None => meta.remove(owned),
            };
        }
        if !status_only && without_meta_and_status(&new) != without_meta_and_status(&old) {
            let generation = old["metadata"]["generation"].as_u64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        let _ = now;
        if new == old || dry_run {
            return Ok(new);
        }
        let finalized =
            new["metadata"].get("deletionTimestamp").is_some() && finalizers(&new).is_empty();
        if finalized {
            self.store.put(key.clone(), new, ChangeKind::Modified);
            return Ok(self.store.remove(key).expect("just stored"));
        }
        Ok(self.store.put(key.clone(), new, ChangeKind::Modified))
    }

    /// Deletes the object, or marks it for deletion while it has finalizers.
    fn delete(&mut self, key: &Key, options: &Value, now: u64, dry_run: bool) -> Result<Value> {
        let ty = self.registry.get(key.resource).clone();
        let old = self.existing(key)?.clone();
        let preconditions = &options["preconditions"];
        for (field, path) in [("resourceVersion", "resourceVersion"), ("uid", "uid")] {
            if let Some(want) = preconditions.get(field).and_then(Value::as_str)
                && Some(want) != old["metadata"][path].as_str()
            {
                return Err(ApiError::conflict(&ty, &key.name));
            }
        }
        if dry_run {
            return Ok(old);
        }
        if finalizers(&old).is_empty() {
            return Ok(self.store.remove(key).expect("exists"));
        }
        if old["metadata"].get("deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old;
        marked["metadata"]["deletionTimestamp"] = json!(rfc3339(now));
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        Ok(self.store.put(key.clone(), marked, ChangeKind::Modified))
    }

    fn delete_collection(
        &mut self,
        resource: ResourceId,
        namespace: Option<&str>,
        query: &Query,
        now: u64,
        dry_run: bool,
    ) -> Result<Value> {
        let filter = Emulator::filter(resource, namespace.map(str::to_string), query)?;
        let keys: Vec<Key> = self
            .store
            .list(resource, namespace)
            .filter(|(_, o)| filter.selects(o))
            .map(|(k, _)| k.clone())
            .collect();
        let mut deleted = Vec::new();
        for key in keys {
            deleted.push(self.delete(&key, &Value::Null, now, dry_run)?);
        }
        Ok(self.list_of(resource, deleted))
    }
}

/// The query of a request, decoded.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| matches!(v, "true" | "1" | ""))
    }
}

fn method_not_allowed(method: &str) -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        format!("the server does not allow this method on the requested resource ({method})"),
    )
}

fn json_body(request: &Request) -> Result<Value> {
    if request.body.len() as u64 != request.body_len {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            "the request body was not held whole",
        ));
    }
    let content_type = request.header("content-type").unwrap_or("application/json");
    if content_type.contains("protobuf") || content_type.contains("yaml") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body's content type {content_type:?} is not supported: send JSON"),
        ));
    }
    serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

fn version() -> Value {
    json!({
        "major": "1", "minor": SERVER_MINOR, "gitVersion": format!("v1.{SERVER_MINOR}.0-mocket"),
        "gitCommit": "mocket", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
    })
}

fn set_or_remove(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) => map.insert(key.into(), v),
            None => map.remove(key),
        };
    }
}

fn without_meta_and_status(object: &Value) -> Map<String, Value> {
    let mut map = object.as_object().cloned().unwrap_or_default();
    map.remove("metadata");
    map.remove("status");
    map
}

fn finalizers(object: &Value) -> Vec<Value> {
    object["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A DNS-1123 subdomain, as object names are.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A uid that is unique within the server and shaped like Kubernetes' (a UUID).
fn uid(serial: u64) -> String {
    format!("6d6f636b-6574-4000-8000-{serial:012x}")
}

/// Five characters from `[a-z0-9]` for a generated name, as Kubernetes appends.
fn name_suffix(serial: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = serial.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
