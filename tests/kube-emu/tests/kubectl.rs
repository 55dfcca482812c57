//! The emulator through the real kubectl and raw HTTPS: PV lifecycle, errors, auth, drain.

use kube_emu::harness::LocalCluster;
use serde_json::{Value, json};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn phase(c: &LocalCluster, what: &[&str]) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "jsonpath={.status.phase}"]);
    ok(c.kubectl(&args).unwrap())
}

const PV: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: nfs-pv1, labels: {storage: nfs}}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  nfs: {server: 198.18.0.10, path: /volume/pv1}
"#;

const PVC: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
  selector: {matchLabels: {storage: nfs}}
"#;

#[test]
fn pv_lifecycle_available_bound_released_via_kubectl() {
    let c = LocalCluster::start().unwrap();
    ok(
        c.kubectl_stdin(&["create", "--validate=false", "-f", "-"], PV)
            .unwrap(),
    );
    assert_eq!(phase(&c, &["pv", "nfs-pv1"]), "Available");
    ok(
        c.kubectl_stdin(&["create", "--validate=false", "-f", "-"], PVC)
            .unwrap(),
    );
    assert_eq!(phase(&c, &["pvc", "data", "-n", "default"]), "Bound");
    assert_eq!(phase(&c, &["pv", "nfs-pv1"]), "Bound");
    let vol = ok(c
        .kubectl(&["get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"])
        .unwrap());
    assert_eq!(vol, "nfs-pv1");
    let claim = ok(c
        .kubectl(&[
            "get",
            "pv",
            "nfs-pv1",
            "-o",
            "jsonpath={.spec.claimRef.namespace}/{.spec.claimRef.name}",
        ])
        .unwrap());
    assert_eq!(claim, "default/data");
    // Table output the way a person reads it.
    let table = ok(c.kubectl(&["get", "pv"]).unwrap());
    assert!(
        table.contains("STATUS") && table.contains("Bound") && table.contains("default/data"),
        "{table}"
    );
    ok(c.kubectl(&["delete", "pvc", "data"]).unwrap());
    assert_eq!(phase(&c, &["pv", "nfs-pv1"]), "Released");
    // A new claim does not bind a Released volume.
    ok(c.kubectl_stdin(
        &["create", "--validate=false", "-f", "-"],
        &PVC.replace("name: data", "name: data2"),
    )
    .unwrap());
    assert_eq!(phase(&c, &["pvc", "data2"]), "Pending");
    ok(c.kubectl(&["delete", "pv", "nfs-pv1"]).unwrap());
    let out = c.kubectl(&["get", "pv", "nfs-pv1"]).unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("persistentvolumes \"nfs-pv1\" not found")
    );
}

#[test]
fn kubectl_apply_cordon_drain_with_pdb() {
    let c = LocalCluster::start().unwrap();
    let node = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"w1","labels":{"kubernetes.io/hostname":"w1"}},
        "status":{"conditions":[{"type":"Ready","status":"True"}]}}"#;
    let out = ok(c
        .kubectl_stdin(
            &["apply", "--server-side", "--validate=false", "-f", "-"],
            node,
        )
        .unwrap());
    assert!(out.contains("node/w1 serverside-applied"), "{out}");
    ok(c.kubectl(&["cordon", "w1"]).unwrap());
    assert_eq!(
        ok(
            c.kubectl(&["get", "node", "w1", "-o", "jsonpath={.spec.unschedulable}"])
                .unwrap()
        ),
        "true"
    );
    let objs = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds1, namespace: default}
spec:
  selector: {matchLabels: {app: ds}}
  template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: c, image: x}]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: dsp
  namespace: default
  labels: {app: ds}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: ds1, uid: u1, controller: true}]
spec: {nodeName: w1, containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs1, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: x}]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web1
  namespace: default
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs1, uid: u2, controller: true}]
spec: {nodeName: w1, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web2
  namespace: default
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs1, uid: u2, controller: true}]
spec: {nodeName: w2, containers: [{name: c, image: x}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb1, namespace: default}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
"#;
    ok(
        c.kubectl_stdin(&["create", "--validate=false", "-f", "-"], objs)
            .unwrap(),
    );
    let on_w1 = ok(c
        .kubectl(&[
            "get",
            "pods",
            "--field-selector",
            "spec.nodeName=w1",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .unwrap());
    assert_eq!(on_w1, "dsp web1");
    // The budget forbids evicting web1: drain gives up at its timeout.
    let out = c
        .kubectl(&["drain", "w1", "--ignore-daemonsets", "--timeout=3s"])
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("evicting"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(c.kubectl(&["get", "pod", "web1"]).unwrap());
    ok(c.kubectl(&["delete", "pdb", "pdb1"]).unwrap());
    let out = ok(c
        .kubectl(&["drain", "w1", "--ignore-daemonsets", "--timeout=20s"])
        .unwrap());
    assert!(out.contains("node/w1 drained"), "{out}");
    let left = ok(c
        .kubectl(&["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"])
        .unwrap());
    assert_eq!(left, "dsp web2");
}

fn client(c: &LocalCluster) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(c.ca_pem.as_bytes()).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

#[test]
fn status_errors_and_auth() {
    let c = LocalCluster::start().unwrap();
    let http = client(&c);
    let u = |p: &str| format!("{}{p}", c.api.url);
    let tok = format!("Bearer {}", c.admin_token);
    // No credentials, or a wrong token: 401 with a Status body.
    for auth in [None, Some("Bearer nope")] {
        let mut r = http.get(u("/api/v1/nodes"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Unauthorized");
        assert_eq!(v["code"], 401);
    }
    let get = |p: &str| http.get(u(p)).header("authorization", &tok).send().unwrap();
    let r = get("/api/v1/persistentvolumes/missing");
    assert_eq!(r.status(), 404);
    let v: Value = r.json().unwrap();
    assert_eq!(
        v,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"persistentvolumes \"missing\" not found","reason":"NotFound",
        "details":{"name":"missing","group":"","kind":"persistentvolumes"},"code":404})
    );
    let post = |p: &str, body: &str| {
        http.post(u(p))
            .header("authorization", &tok)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    // Malformed JSON → 400.
    let r = post("/api/v1/persistentvolumes", "{not json");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["reason"], "BadRequest");
    // Missing required fields → 422 Invalid with causes.
    let r = post(
        "/api/v1/persistentvolumes",
        r#"{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{}}"#,
    );
    assert_eq!(r.status(), 422);
    let v: Value = r.json().unwrap();
    assert_eq!(v["reason"], "Invalid");
    let fields: Vec<&str> = v["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"spec.capacity") && fields.contains(&"spec.accessModes"),
        "{v}"
    );
    // Create, duplicate → 409 AlreadyExists; stale update → 409 Conflict.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"},"data":{"a":"1"}}"#;
    let r = post("/api/v1/namespaces/default/configmaps", cm);
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    let rv: i64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > 0);
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(created["metadata"]["creationTimestamp"].is_string());
    let r = post("/api/v1/namespaces/default/configmaps", cm);
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["reason"], "AlreadyExists");
    let mut upd = created.clone();
    upd["data"]["a"] = json!("2");
    let put = |body: &Value| {
        http.put(u("/api/v1/namespaces/default/configmaps/c1"))
            .header("authorization", &tok)
            .json(body)
            .send()
            .unwrap()
    };
    let r = put(&upd);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["data"]["a"], "2");
    assert!(
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > rv
    );
    let r = put(&upd); // still carries the old resourceVersion
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["reason"], "Conflict");
    // Namespaced object in a missing namespace → 404 for the namespace.
    let r = post("/api/v1/namespaces/nope/configmaps", cm);
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().unwrap()["message"],
        "namespaces \"nope\" not found"
    );
    // Lists carry kind and resourceVersion; label selectors filter.
    let r = get("/api/v1/namespaces/default/configmaps?labelSelector=x%3Dy");
    let v: Value = r.json().unwrap();
    assert_eq!(v["kind"], "ConfigMapList");
    assert!(
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > rv
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
    let r = get("/api/v1/namespaces/default/configmaps?labelSelector=%3D%3D%3D");
    assert_eq!(r.status(), 400);
    // Unknown resources → 404.
    assert_eq!(get("/api/v1/widgets").status(), 404);
    // Anonymous /version works (kubeadm's preflight does this).
    let v: Value = http.get(u("/version")).send().unwrap().json().unwrap();
    assert_eq!(v["major"], "1");
}

#[test]
fn client_certificate_from_another_ca_is_refused() {
    let c = LocalCluster::start().unwrap();
    let other = kube_emu::pki::new_ca("other").unwrap();
    let cert = kube_emu::pki::client_cert(&other, "mallory", &["system:masters"]).unwrap();
    let id = reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())
        .unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(c.ca_pem.as_bytes()).unwrap())
        .identity(id)
        .no_proxy()
        .build()
        .unwrap();
    let r = http.get(format!("{}/api/v1/nodes", c.api.url)).send();
    match r {
        Err(_) => {}
        Ok(r) => assert_eq!(r.status(), 401),
    }
    // The cluster's own admin certificate works through kubectl.
    let out = c.kubectl(&["get", "namespaces", "-o", "name"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));
}

#[test]
fn malformed_requests_get_4xx_statuses_and_the_server_stays_up() {
    let c = LocalCluster::start().unwrap();
    let http = client(&c);
    let tok = format!("Bearer {}", c.admin_token);
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"},"data":{"a":"1"}}"#;
    let r = http
        .post(format!(
            "{}/api/v1/namespaces/default/configmaps",
            c.api.url
        ))
        .header("authorization", &tok)
        .header("content-type", "application/json")
        .body(cm)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            "[1,2,3]",
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":"x"}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":"a"},"spec":"x"}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":"a"},"spec":{"capacity":[]}}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":"a","labels":"x"}}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":7}}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":"UPPER"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/x"}}}"#,
        ),
        (
            "POST",
            "/api/v1/persistentvolumes",
            "application/json",
            r#"{"metadata":{"name":"q"},"spec":{"capacity":{"storage":"lots"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/x"}}}"#,
        ),
        (
            "POST",
            "/api/v1/namespaces/default/secrets",
            "application/json",
            r#"{"metadata":{"name":"s"},"data":"x"}"#,
        ),
        (
            "POST",
            "/api/v1/namespaces/default/secrets",
            "application/json",
            r#"{"metadata":{"name":"s"},"data":{"k":"%%%"}}"#,
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/yaml",
            "a: [unclosed",
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/default/daemonsets",
            "application/json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/merge-patch+json",
            r#"{"metadata":"gone"}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/merge-patch+json",
            "[]",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json-patch+json",
            r#"{"op":"add"}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/metadata","value":5}]"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/nope/deeper"}]"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json-patch+json",
            r#"[{"op":"test","path":"/data/a","value":"2"}]"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/apply-patch+yaml",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"}}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c1",
            "text/plain",
            "x",
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json",
            r#"{"metadata":{"name":"other"}}"#,
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json",
            "",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            "application/json",
            "[]",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            "application/json",
            r#"{"spec":{"expirationSeconds":5}}"#,
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods/nope/eviction",
            "application/json",
            r#"{"kind":"Eviction"}"#,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json",
            r#"{"preconditions":{"uid":"wrong"}}"#,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?fieldSelector=a%20in%20(b)",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=abc",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/c1/status",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/c1/x/y",
            "",
            "",
        ),
        ("POST", "/api/v1/nodes/n1", "application/json", "{}"),
    ];
    for (method, path, ct, body) in cases {
        let mut req = http
            .request(method.parse().unwrap(), format!("{}{path}", c.api.url))
            .header("authorization", &tok);
        if !ct.is_empty() {
            req = req.header("content-type", *ct);
        }
        let r = req.body(body.to_string()).send().unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&code),
            "{method} {path} {body}: {code} {v}"
        );
        assert_eq!(v["kind"], "Status", "{method} {path} {body}: {v}");
        assert_eq!(v["code"], code);
    }
    // The object survived every bad patch unchanged.
    let v: Value = http
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps/c1",
            c.api.url
        ))
        .header("authorization", &tok)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["data"], json!({"a": "1"}));
}
