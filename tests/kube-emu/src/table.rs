//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for.

use crate::resources::Res;
use serde_json::{Value, json};

fn age(obj: &Value) -> String {
    let Some(t) = obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(crate::util::parse_rfc3339)
    else {
        return "<unknown>".into();
    };
    let s = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn modes(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    o => o,
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn columns(res: &Res, o: &Value) -> (Vec<&'static str>, Vec<String>) {
    let name = s(&o["metadata"]["name"]);
    match res.plural {
        "persistentvolumes" => {
            let cr = &o["spec"]["claimRef"];
            let claim = if cr.is_null() {
                String::new()
            } else {
                format!("{}/{}", s(&cr["namespace"]), s(&cr["name"]))
            };
            (
                vec![
                    "Name",
                    "Capacity",
                    "Access Modes",
                    "Reclaim Policy",
                    "Status",
                    "Claim",
                    "StorageClass",
                    "Reason",
                    "Age",
                ],
                vec![
                    name,
                    s(&o["spec"]["capacity"]["storage"]),
                    modes(&o["spec"]["accessModes"]),
                    s(&o["spec"]["persistentVolumeReclaimPolicy"]),
                    s(&o["status"]["phase"]),
                    claim,
                    s(&o["spec"]["storageClassName"]),
                    s(&o["status"]["reason"]),
                    age(o),
                ],
            )
        }
        "persistentvolumeclaims" => (
            vec![
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "Age",
            ],
            vec![
                name,
                s(&o["status"]["phase"]),
                s(&o["spec"]["volumeName"]),
                s(&o["status"]["capacity"]["storage"]),
                modes(&o["status"]["accessModes"]),
                s(&o["spec"]["storageClassName"]),
                age(o),
            ],
        ),
        "nodes" => {
            let ready = o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            let mut st = match ready.map(|c| s(&c["status"])) {
                Some(x) if x == "True" => "Ready".to_string(),
                _ => "NotReady".to_string(),
            };
            if o["spec"]["unschedulable"] == true {
                st.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
                .collect();
            let roles = if roles.is_empty() {
                "<none>".into()
            } else {
                roles.join(",")
            };
            (
                vec!["Name", "Status", "Roles", "Age", "Version"],
                vec![
                    name,
                    st,
                    roles,
                    age(o),
                    s(&o["status"]["nodeInfo"]["kubeletVersion"]),
                ],
            )
        }
        "pods" => (
            vec!["Name", "Ready", "Status", "Restarts", "Age"],
            vec![
                name,
                format!(
                    "{}/{}",
                    if o["status"]["phase"] == "Running" {
                        o["spec"]["containers"].as_array().map_or(0, Vec::len)
                    } else {
                        0
                    },
                    o["spec"]["containers"].as_array().map_or(0, Vec::len)
                ),
                s(&o["status"]["phase"]),
                "0".into(),
                age(o),
            ],
        ),
        "namespaces" => (
            vec!["Name", "Status", "Age"],
            vec![name, s(&o["status"]["phase"]), age(o)],
        ),
        _ => (vec!["Name", "Age"], vec![name, age(o)]),
    }
}

pub fn table(res: &Res, items: &[Value], rev: i64) -> Value {
    let mut defs = Vec::new();
    let mut rows = Vec::new();
    for o in items {
        let (cols, cells) = columns(res, o);
        if defs.is_empty() {
            defs = cols
                .iter()
                .map(|c| json!({"name": c, "type": "string", "format": if *c == "Name" { "name" } else { "" }, "description": "", "priority": 0}))
                .collect();
        }
        let mut obj = o.clone();
        obj["kind"] = json!(res.kind);
        obj["apiVersion"] = json!(res.api_version());
        rows.push(json!({"cells": cells, "object": obj}));
    }
    if defs.is_empty() {
        let (cols, _) = columns(res, &json!({}));
        defs = cols.iter().map(|c| json!({"name": c, "type": "string", "format": "", "description": "", "priority": 0})).collect();
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rev.to_string()},
        "columnDefinitions": defs, "rows": rows})
}
