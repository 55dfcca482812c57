//! kube-rs calls the product makes, against the emulator.

use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use kube::api::{
    Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_emu::harness::LocalCluster;
use serde_json::json;

async fn client(path: &std::path::Path) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    // kube's default retry layer retries 429 (a PDB-refused eviction) for minutes.
    cfg.default_retry = false;
    Client::try_from(cfg).unwrap()
}

fn pv(name: &str, size: &str) -> PersistentVolume {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"vnf": "nfs"}},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
            "nfs": {"server": "198.18.0.10", "path": format!("/volume/{name}")}}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pv_crud_selectors_watch_and_ssa() {
    let c = LocalCluster::start().unwrap();
    let client = client(&c.kubeconfig).await;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut watch = pvs
        .watch(&WatchParams::default().labels("vnf=nfs").timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    let a = pvs
        .create(&PostParams::default(), &pv("pv-a", "1Gi"))
        .await
        .unwrap();
    assert_eq!(a.status.unwrap().phase.as_deref(), Some("Available"));
    let mut other = pv("pv-b", "5Gi");
    other.metadata.labels = None;
    pvs.create(&PostParams::default(), &other).await.unwrap();
    let listed = pvs
        .list(&ListParams::default().labels("vnf=nfs"))
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["pv-a"]
    );
    assert!(
        listed
            .metadata
            .resource_version
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    // The watch saw pv-a added, and not pv-b (filtered by label).
    match watch.next().await.unwrap().unwrap() {
        WatchEvent::Added(p) => assert_eq!(p.metadata.name.as_deref(), Some("pv-a")),
        other => panic!("unexpected event {other:?}"),
    }
    // 404 maps to kube::Error::Api.
    match pvs.get("nope").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.reason, "NotFound");
        }
        other => panic!("expected 404, got {other:?}"),
    }
    // Server-side apply: create, then a conflicting manager gets 409, force wins.
    let applied = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-ssa", "labels": {"vnf": "nfs"}},
        "spec": {"capacity": {"storage": "3Gi"}, "accessModes": ["ReadWriteMany"], "nfs": {"server": "198.18.0.10", "path": "/volume/ssa"}}});
    let p = pvs
        .patch(
            "pv-ssa",
            &PatchParams::apply("vnf-mgmt"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    let rv1 = p.metadata.resource_version.clone().unwrap();
    let mf = p.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("vnf-mgmt"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let mut other_apply = applied.clone();
    other_apply["spec"]["capacity"]["storage"] = json!("4Gi");
    match pvs
        .patch(
            "pv-ssa",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&other_apply),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("conflict with \"vnf-mgmt\""),
                "{}",
                s.message
            );
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    let p = pvs
        .patch(
            "pv-ssa",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&other_apply),
        )
        .await
        .unwrap();
    assert_eq!(p.spec.unwrap().capacity.unwrap()["storage"].0, "4Gi");
    assert_ne!(p.metadata.resource_version.unwrap(), rv1);
    // Re-applying the same config is a no-op (same resourceVersion).
    let again = pvs
        .patch(
            "pv-ssa",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&other_apply),
        )
        .await
        .unwrap();
    let again2 = pvs
        .patch(
            "pv-ssa",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&other_apply),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        again2.metadata.resource_version
    );
    // Claims bind through kube-rs too.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "2Gi"}}, "selector": {"matchLabels": {"vnf": "nfs"}}}})).unwrap();
    pvcs.create(&PostParams::default(), &claim).await.unwrap();
    let bound = pvcs.get("c").await.unwrap();
    assert_eq!(bound.status.unwrap().phase.as_deref(), Some("Bound"));
    // smallest matching volume: pv-ssa (4Gi); pv-a is too small
    assert_eq!(bound.spec.unwrap().volume_name.as_deref(), Some("pv-ssa"));
    pvcs.delete("c", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        pvs.get("pv-ssa")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Released")
    );
    pvs.delete("pv-a", &DeleteParams::default()).await.unwrap();
    loop {
        match watch.next().await.unwrap().unwrap() {
            WatchEvent::Deleted(p) => {
                assert_eq!(p.metadata.name.as_deref(), Some("pv-a"));
                break;
            }
            WatchEvent::Added(_) | WatchEvent::Modified(_) => continue,
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_cordon_pods_evict_tokens() {
    let c = LocalCluster::start().unwrap();
    let client = client(&c.token_kubeconfig).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node = serde_json::from_value(json!({"metadata": {"name": "worker-1", "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "198.18.0.21"}]}})).unwrap();
    let mut node_events = nodes
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    nodes.cordon("worker-1").await.unwrap();
    match node_events.next().await.unwrap().unwrap() {
        WatchEvent::Added(n) => assert_eq!(n.metadata.name.as_deref(), Some("worker-1")),
        other => panic!("unexpected event {other:?}"),
    }
    match node_events.next().await.unwrap().unwrap() {
        WatchEvent::Modified(n) => assert_eq!(n.spec.unwrap().unschedulable, Some(true)),
        other => panic!("unexpected event {other:?}"),
    }
    assert_eq!(
        nodes
            .get("worker-1")
            .await
            .unwrap()
            .spec
            .unwrap()
            .unschedulable,
        Some(true)
    );
    nodes.uncordon("worker-1").await.unwrap();
    assert_eq!(
        nodes
            .get("worker-1")
            .await
            .unwrap()
            .spec
            .unwrap()
            .unschedulable,
        Some(false)
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, node) in [("p1", "worker-1"), ("p2", "worker-1"), ("p3", "worker-2")] {
        let p: Pod =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "db"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "db"}]}}))
            .unwrap();
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    let on = pods
        .list(&ListParams::default().fields("spec.nodeName=worker-1"))
        .await
        .unwrap();
    assert_eq!(on.items.len(), 2);
    let pdbs: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
        Api::namespaced(client.clone(), "default");
    pdbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    pods.evict("p1", &EvictParams::default()).await.unwrap();
    match pods.evict("p2", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 429);
            assert_eq!(s.reason, "TooManyRequests");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(pods.get("p2").await.is_ok());
    assert!(pods.get_opt("p1").await.unwrap().is_none());
    nodes
        .delete("worker-1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(nodes.get_opt("worker-1").await.unwrap().is_none());

    // TokenRequest for a service account; the token authenticates.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "vnf"}})).unwrap(),
    )
    .await
    .unwrap();
    let tr: TokenRequest = serde_json::from_value(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": [], "expirationSeconds": 3600}})).unwrap();
    let tr = sas
        .create_token_request("vnf", &PostParams::default(), &tr)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    assert!(token.len() > 20);
    let cfg = {
        let mut cfg = Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&c.token_kubeconfig).unwrap(),
            &KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        cfg.auth_info.token = Some(token.into());
        cfg.default_retry = false;
        cfg
    };
    let sa_client = Client::try_from(cfg).unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(sa_client);
    assert!(ns.list(&ListParams::default()).await.unwrap().items.len() >= 4);
    // A legacy service-account token Secret gets its token filled in.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "vnf-token", "annotations": {"kubernetes.io/service-account.name": "vnf"}},
        "type": "kubernetes.io/service-account-token"})).unwrap();
    secrets.create(&PostParams::default(), &s).await.unwrap();
    let s = secrets.get("vnf-token").await.unwrap();
    let data = s.data.unwrap();
    assert!(!data["token"].0.is_empty());
    assert_eq!(String::from_utf8_lossy(&data["ca.crt"].0), c.ca_pem);
}
