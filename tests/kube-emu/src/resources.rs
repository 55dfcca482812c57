//! The resource types the emulator serves, and discovery documents built from them.

use serde_json::{Value, json};

pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    /// Subresources served (`status` is a plain read/write of the object).
    pub subresources: &'static [&'static str],
    /// etcd key segment, as kube-apiserver uses (`/registry/<segment>/...`).
    pub etcd: &'static str,
}

impl Res {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `persistentvolumes` → `persistentvolumes`; qualified for errors (`daemonsets.apps`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

macro_rules! res {
    ($g:expr, $p:expr, $s:expr, $k:expr, $ns:expr, $short:expr, $sub:expr, $etcd:expr) => {
        Res {
            group: $g,
            version: "v1",
            plural: $p,
            singular: $s,
            kind: $k,
            namespaced: $ns,
            short: $short,
            subresources: $sub,
            etcd: $etcd,
        }
    };
}

pub static RESOURCES: &[Res] = &[
    res!(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status", "finalize"],
        "namespaces"
    ),
    res!(
        "",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &["status"],
        "minions"
    ),
    res!(
        "",
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        false,
        &["pv"],
        &["status"],
        "persistentvolumes"
    ),
    res!(
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &["status"],
        "persistentvolumeclaims"
    ),
    res!(
        "",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["status", "eviction"],
        "pods"
    ),
    res!("", "secrets", "secret", "Secret", true, &[], &[], "secrets"),
    res!(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &["token"],
        "serviceaccounts"
    ),
    res!(
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
        "configmaps"
    ),
    res!(
        "",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["status"],
        "services/specs"
    ),
    res!("", "events", "event", "Event", true, &["ev"], &[], "events"),
    res!(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        &["status"],
        "daemonsets"
    ),
    res!(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["status"],
        "deployments"
    ),
    res!(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["status"],
        "replicasets"
    ),
    res!(
        "apps",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        &["status"],
        "statefulsets"
    ),
    res!(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
        "poddisruptionbudgets"
    ),
    res!(
        "storage.k8s.io",
        "storageclasses",
        "storageclass",
        "StorageClass",
        false,
        &["sc"],
        &[],
        "storageclasses"
    ),
    res!(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        &[],
        "clusterroles"
    ),
    res!(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
        "clusterrolebindings"
    ),
    res!(
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
        &[],
        "roles"
    ),
    res!(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        &[],
        "rolebindings"
    ),
];

pub const GROUPS: &[&str] = &[
    "apps",
    "policy",
    "storage.k8s.io",
    "rbac.authorization.k8s.io",
];

/// RBAC objects (stored, not enforced): their names are path segments, not DNS names
/// (`system:controller:...`).
pub fn is_rbac(res: &Res) -> bool {
    res.group == "rbac.authorization.k8s.io"
}

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Res> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Res> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

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

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut items = Vec::new();
    let mut any = false;
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        any = true;
        let mut e = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS,
        });
        if !r.short.is_empty() {
            e["shortNames"] = json!(r.short);
        }
        items.push(e);
        for s in r.subresources {
            let (kind, verbs, g, v): (&str, &[&str], &str, &str) = match *s {
                "eviction" => ("Eviction", &["create"], "policy", "v1"),
                "token" => ("TokenRequest", &["create"], "authentication.k8s.io", "v1"),
                "finalize" => (r.kind, &["update"], "", ""),
                _ => (r.kind, &["get", "patch", "update"], "", ""),
            };
            let mut e = json!({"name": format!("{}/{}", r.plural, s), "singularName": "",
                "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
            if !g.is_empty() {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            items.push(e);
        }
    }
    any.then(|| json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}))
}

pub fn group(name: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1",
        "groups": GROUPS.iter().map(|g| group(g)).collect::<Vec<_>>()})
}
