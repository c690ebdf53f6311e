//! The resource types a Kubernetes emulator serves (the built-in core and apps kinds, plus every
//! kind a mocks file declares or seeds) and the discovery documents that describe them.

use serde_json::{Value, json};

/// One resource type: where it lives in the API and what its objects are called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Lower-case plural, the path segment: `configmaps`.
    pub plural: String,
    pub namespaced: bool,
    /// What `kubectl get cm` accepts for `configmaps`.
    pub short_names: Vec<String>,
}

/// The built-in kinds: (group, version, kind, plural, namespaced, short name).
const BUILT_IN: &[(&str, &str, &str, &str, bool, &str)] = &[
    ("", "v1", "Pod", "pods", true, "po"),
    ("", "v1", "Service", "services", true, "svc"),
    ("", "v1", "ConfigMap", "configmaps", true, "cm"),
    ("", "v1", "Secret", "secrets", true, ""),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, "sa"),
    ("", "v1", "Event", "events", true, "ev"),
    ("", "v1", "Endpoints", "endpoints", true, "ep"),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        "pvc",
    ),
    ("", "v1", "Namespace", "namespaces", false, "ns"),
    ("", "v1", "Node", "nodes", false, "no"),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        "pv",
    ),
    ("apps", "v1", "Deployment", "deployments", true, "deploy"),
    ("apps", "v1", "StatefulSet", "statefulsets", true, "sts"),
    ("apps", "v1", "DaemonSet", "daemonsets", true, "ds"),
    ("apps", "v1", "ReplicaSet", "replicasets", true, "rs"),
];

/// Every verb a resource supports here, as discovery lists them.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceType {
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            short_names: Vec::new(),
        }
    }

    /// `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// `configmap`: the lower-case kind.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    fn scope(&self) -> &'static str {
        if self.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
    }

    /// Its entry in an `APIResourceList` (`/api/v1`, `/apis/G/V`).
    fn api_resource(&self) -> Value {
        json!({
            "name": self.plural, "singularName": self.singular(), "namespaced": self.namespaced,
            "kind": self.kind, "verbs": VERBS, "shortNames": self.short_names,
        })
    }

    fn status_resource(&self) -> Value {
        json!({
            "name": format!("{}/status", self.plural), "singularName": "", "namespaced": self.namespaced,
            "kind": self.kind, "verbs": ["get", "patch", "update"],
        })
    }

    /// Its entry in an aggregated discovery document.
    fn discovery_resource(&self) -> Value {
        let kind = json!({"group": self.group, "version": self.version, "kind": self.kind});
        json!({
            "resource": self.plural, "responseKind": kind, "scope": self.scope(),
            "singularResource": self.singular(), "verbs": VERBS, "shortNames": self.short_names,
            "subresources": [{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}],
        })
    }
}

/// `v1` for the core group, else `group/version`.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// The plural Kubernetes would guess for a kind it was not told the plural of.
pub fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        format!("{lower}es")
    } else if let Some(stem) = lower
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// The resource types of one emulator, in discovery order.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let types = BUILT_IN
            .iter()
            .map(|(g, v, k, p, n, short)| ResourceType {
                short_names: short.split_terminator(',').map(str::to_string).collect(),
                ..ResourceType::new(g, v, k, p, *n)
            })
            .collect();
        Registry { types }
    }
}

/// An index into a [`Registry`].
pub type ResourceId = usize;

impl Registry {
    /// Adds `ty`, replacing a type of the same group, version and plural or kind.
    pub fn declare(&mut self, ty: ResourceType) -> ResourceId {
        let same = |t: &ResourceType| {
            t.group == ty.group
                && t.version == ty.version
                && (t.plural == ty.plural || t.kind == ty.kind)
        };
        match self.types.iter().position(same) {
            Some(i) => {
                self.types[i] = ty;
                i
            }
            None => {
                self.types.push(ty);
                self.types.len() - 1
            }
        }
    }

    pub fn get(&self, id: ResourceId) -> &ResourceType {
        &self.types[id]
    }

    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        self.types
            .iter()
            .position(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceId> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .position(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// The groups other than core, each with its versions, in order of first appearance.
    fn groups(&self) -> Vec<(&str, Vec<&str>)> {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version.as_str()) => {
                    versions.push(&t.version)
                }
                Some(_) => {}
                None => groups.push((&t.group, vec![&t.version])),
            }
        }
        groups
    }

    fn of_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> {
        self.types
            .iter()
            .filter(move |t| t.group == group && t.version == version)
    }

    /// Whether `group`/`version` has any resource here.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.of_group_version(group, version).next().is_some()
    }

    /// `/api/v1` or `/apis/G/V`: an `APIResourceList`.
    pub fn resource_list(&self, group: &str, version: &str) -> Value {
        let resources: Vec<Value> = self
            .of_group_version(group, version)
            .flat_map(|t| [t.api_resource(), t.status_resource()])
            .collect();
        json!({
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": api_version(group, version), "resources": resources,
        })
    }

    /// `/api`: the core versions.
    pub fn core_versions(&self) -> Value {
        json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        })
    }

    fn api_group(group: &str, versions: &[&str]) -> Value {
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": api_version(group, v), "version": v}))
            .collect();
        json!({
            "kind": "APIGroup", "apiVersion": "v1", "name": group,
            "versions": versions, "preferredVersion": versions[0],
        })
    }

    /// `/apis`: an `APIGroupList`.
    pub fn group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, vs)| Registry::api_group(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/G`: one `APIGroup`, if the group exists.
    pub fn group(&self, group: &str) -> Option<Value> {
        let groups = self.groups();
        let (g, vs) = groups.iter().find(|(g, _)| *g == group)?;
        Some(Registry::api_group(g, vs))
    }

    /// The aggregated discovery document (`APIGroupDiscoveryList`) of `/api` (`core`) or
    /// `/apis`, in `discovery_version` (`v2` or `v2beta1`).
    pub fn aggregated(&self, core: bool, discovery_version: &str) -> Value {
        let groups: Vec<(&str, Vec<&str>)> = if core {
            vec![("", vec!["v1"])]
        } else {
            self.groups()
        };
        let items: Vec<Value> = groups
            .iter()
            .map(|(group, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = self
                            .of_group_version(group, v)
                            .map(ResourceType::discovery_resource)
                            .collect();
                        json!({"version": v, "resources": resources, "freshness": "Current"})
                    })
                    .collect();
                json!({"metadata": {"name": group}, "versions": versions})
            })
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{discovery_version}"),
            "metadata": {}, "items": items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_guessed_like_kubernetes() {
        assert_eq!(guess_plural("Widget"), "widgets");
        assert_eq!(guess_plural("Policy"), "policies");
        assert_eq!(guess_plural("Gateway"), "gateways");
        assert_eq!(guess_plural("Ingress"), "ingresses");
    }

    #[test]
    fn discovery_lists_declared_groups() {
        let mut r = Registry::default();
        r.declare(ResourceType::new(
            "example.com",
            "v1",
            "Widget",
            "widgets",
            true,
        ));
        let groups = r.group_list();
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apps", "example.com"]);
        let list = r.resource_list("example.com", "v1");
        assert_eq!(list["resources"][0]["name"], "widgets");
        assert_eq!(list["resources"][1]["name"], "widgets/status");
        let agg = r.aggregated(false, "v2");
        assert_eq!(
            agg["items"][1]["versions"][0]["resources"][0]["scope"],
            "Namespaced"
        );
        let core = r.aggregated(true, "v2");
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        assert!(
            r.by_kind("v1", "Namespace")
                .is_some_and(|id| !r.get(id).namespaced)
        );
        assert_eq!(
            r.by_path("apps", "v1", "deployments")
                .map(|i| r.get(i).kind.as_str()),
            Some("Deployment")
        );
    }
}
