//! Kubernetes API operations of the cluster lifecycle (drain, Node delete, access export
//! and revocation) against the kube-emu API server on loopback, directly through
//! `mgmt_driver::kube` and through the executor (`exec::execute` with a hand-built plan,
//! the admin kubeconfig read over SSH from a lab host).

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod, Secret as KSecret, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kube_emu::harness::LocalCluster;
use mgmt_driver::events::Recorder;
use mgmt_driver::exec::{ExecOptions, HostKeyPolicy, Summary, execute};
use mgmt_driver::journal::Journal;
use mgmt_driver::kube::{self as mk, ClusterAccess, KubeError};
use mgmt_driver::plan::{Action, Credential, Operation, Plan, PlanHost, Step};
use mgmt_driver::secret::{Secret, Secrets};
use mgmt_driver::topology::Role;
use serde_json::json;
use std::time::Duration;

const NS: &str = "kube-system";
const SA: &str = "vnf-mgmt-vim";

fn cluster() -> LocalCluster {
    crate::lab_instantiate::ensure_kube_emu_bin();
    LocalCluster::start().expect("kube-emu cluster on loopback")
}

fn admin_yaml(c: &LocalCluster) -> String {
    std::fs::read_to_string(&c.kubeconfig).expect("admin kubeconfig")
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(f)
}

/// A kube-rs client from a kubeconfig file, optionally with another bearer token.
async fn client_from(path: &std::path::Path, token: Option<&str>) -> Client {
    let kc = Kubeconfig::read_from(path).expect("kubeconfig");
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    cfg.default_retry = false;
    if let Some(t) = token {
        cfg.auth_info.token = Some(t.to_string().into());
    }
    Client::try_from(cfg).expect("client")
}

/// Lists Nodes with `token`: `Ok(count)` or the HTTP status of the refusal.
fn list_nodes_with(c: &LocalCluster, token: &str) -> Result<usize, u16> {
    block_on(async {
        let client = client_from(&c.token_kubeconfig, Some(token)).await;
        let nodes: Api<Node> = Api::all(client);
        match nodes.list(&ListParams::default()).await {
            Ok(l) => Ok(l.items.len()),
            Err(kube::Error::Api(s)) => Err(s.code),
            Err(e) => panic!("list Nodes: {e}"),
        }
    })
}

async fn create<K>(api: &Api<K>, v: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object JSON");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

/// Nodes w1 and w2; on w1 a DaemonSet pod (kube-system/agent-w1), a plain pod
/// (default/web) and a pod under a budget that allows no disruption (default/db,
/// PodDisruptionBudget default/db-pdb); on w2 a plain pod (default/other).
fn seed_workloads(c: &LocalCluster) {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        let nodes: Api<Node> = Api::all(client.clone());
        for n in ["w1", "w2"] {
            create(
                &nodes,
                json!({"metadata": {"name": n},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            )
            .await;
        }
        let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
        let ds = create(
            &ds,
            json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}}),
        )
        .await;
        let ds_uid = ds.metadata.uid.clone().expect("DaemonSet uid");
        let sys: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
        create(
            &sys,
            json!({"metadata": {"name": "agent-w1", "labels": {"app": "agent"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                "uid": ds_uid, "controller": true}]},
            "spec": {"nodeName": "w1", "containers": [{"name": "a", "image": "agent:1"}]}}),
        )
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        for (name, node, app) in [
            ("web", "w1", "web"),
            ("db", "w1", "db"),
            ("other", "w2", "web"),
        ] {
            create(
                &pods,
                json!({"metadata": {"name": name, "labels": {"app": app}},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "img:1"}]}}),
            )
            .await;
        }
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "default");
        create(
            &pdbs,
            json!({"metadata": {"name": "db-pdb"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}),
        )
        .await;
    });
}

fn relax_budget(c: &LocalCluster) {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "default");
        pdbs.patch(
            "db-pdb",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
        )
        .await
        .expect("relax the budget");
    });
}

fn node(c: &LocalCluster, name: &str) -> Option<Node> {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        Api::<Node>::all(client)
            .get_opt(name)
            .await
            .expect("get Node")
    })
}

fn pod_exists(c: &LocalCluster, ns: &str, name: &str) -> bool {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        Api::<Pod>::namespaced(client, ns)
            .get_opt(name)
            .await
            .expect("get pod")
            .is_some()
    })
}

fn unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn drain_leaves_daemonset_pods_respects_the_budget_then_deletes_the_node() {
    let c = cluster();
    let admin = admin_yaml(&c);
    seed_workloads(&c);

    let e = mk::drain_nodes(&admin, None, &names(&["w1"]), true, Duration::from_secs(3))
        .expect_err("the budget refuses the eviction of db");
    let KubeError::DrainBlocked(msg) = &e else {
        panic!("expected DrainBlocked, got {e:?}");
    };
    assert!(
        msg.contains("default/db ") && msg.contains("PodDisruptionBudget default/db-pdb"),
        "{msg}"
    );
    assert!(msg.contains("nothing deleted"), "{msg}");
    let w1 = node(&c, "w1").expect("w1 not deleted");
    assert!(unschedulable(&w1), "w1 stays cordoned");
    assert!(pod_exists(&c, "default", "db"));
    assert!(pod_exists(&c, "kube-system", "agent-w1"));
    assert!(!node(&c, "w2").is_some_and(|n| unschedulable(&n)));

    relax_budget(&c);
    let out = mk::drain_nodes(&admin, None, &names(&["w1"]), true, Duration::from_secs(20))
        .expect("drain after the budget allows it");
    assert!(out.evicted.contains(&"default/db".to_string()), "{out:?}");
    assert_eq!(out.left, vec!["kube-system/agent-w1".to_string()]);
    assert_eq!(out.deleted_nodes, vec!["w1".to_string()]);
    assert!(node(&c, "w1").is_none(), "w1 deleted");
    assert!(!pod_exists(&c, "default", "db"));
    assert!(!pod_exists(&c, "default", "web"));
    // The DaemonSet pod and the other node's pod are untouched.
    assert!(pod_exists(&c, "kube-system", "agent-w1"));
    assert!(pod_exists(&c, "default", "other"));

    // Re-run: the node is gone, which counts as drained and deleted.
    let again = mk::drain_nodes(&admin, None, &names(&["w1"]), true, Duration::from_secs(5))
        .expect("re-run");
    assert_eq!(again.missing_nodes, vec!["w1".to_string()]);
    assert!(again.evicted.is_empty() && again.deleted_nodes.is_empty());
}

#[test]
fn a_node_that_is_not_ready_is_deleted_without_waiting_on_evictions() {
    let c = cluster();
    let admin = admin_yaml(&c);
    seed_workloads(&c);
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        create(
            &Api::<Node>::all(client.clone()),
            json!({"metadata": {"name": "dead"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        )
        .await;
        // Under the budget that refuses every eviction of app=db.
        create(
            &Api::<Pod>::namespaced(client, "default"),
            json!({"metadata": {"name": "db-dead", "labels": {"app": "db"}},
            "spec": {"nodeName": "dead", "containers": [{"name": "c", "image": "img:1"}]}}),
        )
        .await;
    });
    let out = mk::drain_nodes(
        &admin,
        None,
        &names(&["dead"]),
        true,
        Duration::from_secs(6),
    )
    .expect("a dead node is deleted, not drained");
    assert_eq!(out.not_ready, names(&["dead"]));
    assert_eq!(out.deleted_nodes, names(&["dead"]));
    assert!(out.evicted.is_empty(), "{out:?}");
    assert!(node(&c, "dead").is_none());
    // No eviction was attempted: its pod is left to the pod garbage collector (which
    // removes the pods of deleted Nodes in a real cluster).
    assert!(pod_exists(&c, "default", "db-dead"));
}

#[test]
fn drain_without_delete_keeps_the_cordoned_node_and_missing_nodes_are_drained() {
    let c = cluster();
    let admin = admin_yaml(&c);
    seed_workloads(&c);
    let out = mk::drain_nodes(
        &admin,
        None,
        &names(&["w2", "ghost"]),
        false,
        Duration::from_secs(10),
    )
    .expect("drain w2");
    assert_eq!(out.evicted, vec!["default/other".to_string()]);
    assert_eq!(out.missing_nodes, vec!["ghost".to_string()]);
    assert!(out.deleted_nodes.is_empty());
    let w2 = node(&c, "w2").expect("w2 kept");
    assert!(unschedulable(&w2));
    // w1 was not touched.
    assert!(!unschedulable(&node(&c, "w1").expect("w1")));
    assert!(pod_exists(&c, "default", "web"));

    let e = mk::drain_nodes(
        &admin,
        None,
        &names(&["Bad_Name"]),
        true,
        Duration::from_secs(5),
    )
    .expect_err("invalid node name");
    assert!(e.to_string().contains("\"Bad_Name\""), "{e}");
}

#[test]
fn delete_nodes_without_draining_missing_is_done() {
    let c = cluster();
    let admin = admin_yaml(&c);
    seed_workloads(&c);
    let deleted = mk::delete_nodes(
        &admin,
        None,
        &names(&["w2", "ghost"]),
        Duration::from_secs(10),
    )
    .expect("delete nodes");
    assert_eq!(deleted, vec!["w2".to_string()]);
    assert!(node(&c, "w2").is_none());
    assert!(node(&c, "w1").is_some());
    // No drain: the pod bound to w2 was not evicted.
    assert!(pod_exists(&c, "default", "other"));
    let again =
        mk::delete_nodes(&admin, None, &names(&["w2"]), Duration::from_secs(10)).expect("again");
    assert!(again.is_empty());
}

fn secret_token(c: &LocalCluster) -> Option<String> {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        let s = Api::<KSecret>::namespaced(client, NS)
            .get_opt(&mk::token_secret_name(SA))
            .await
            .expect("get token Secret")?;
        let d = s.data?;
        d.get("token")
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    })
}

fn sa_uid(c: &LocalCluster) -> Option<String> {
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        Api::<ServiceAccount>::namespaced(client, NS)
            .get_opt(SA)
            .await
            .expect("get ServiceAccount")
            .and_then(|s| s.metadata.uid)
    })
}

#[test]
fn export_access_gives_a_working_token_and_kubeconfig_revoke_ends_it() {
    let c = cluster();
    let admin = admin_yaml(&c);
    let access = mk::export_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("export");
    let token = access.bearer_token.expose().to_string();
    assert!(!token.is_empty());
    assert_eq!(Some(token.clone()), secret_token(&c));
    assert_eq!(access.ca_cert_pem, c.ca_pem);
    assert_eq!(access.endpoint, c.api.url.trim_end_matches('/'));
    assert!(
        !format!("{access:?}").contains(&token),
        "Debug hides the token"
    );
    assert_eq!(list_nodes_with(&c, &token), Ok(0));

    // The binding and the cluster-admin role it points at.
    block_on(async {
        let client = client_from(&c.kubeconfig, None).await;
        let crb = Api::<ClusterRoleBinding>::all(client.clone())
            .get(SA)
            .await
            .expect("ClusterRoleBinding");
        assert_eq!(crb.role_ref.kind, "ClusterRole");
        assert_eq!(crb.role_ref.name, "cluster-admin");
        let subj = crb.subjects.unwrap_or_default();
        assert_eq!(subj.len(), 1);
        assert_eq!(subj[0].kind, "ServiceAccount");
        assert_eq!(subj[0].name, SA);
        assert_eq!(subj[0].namespace.as_deref(), Some(NS));
        Api::<ClusterRole>::all(client)
            .get("cluster-admin")
            .await
            .expect("cluster-admin ClusterRole exists");
    });

    // The real kubectl finds the RBAC resources through discovery.
    let o = c
        .kubectl(&["get", "clusterrolebinding", SA, "-o", "name"])
        .expect("kubectl get clusterrolebinding");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("clusterrolebinding.rbac.authorization.k8s.io/{SA}"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The kubeconfig: mode 0600, works with kube-rs and the real kubectl.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vnf.kubeconfig");
    access
        .write_kubeconfig(&path, "vnf-cluster")
        .expect("write kubeconfig");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let n = block_on(async {
        let client = client_from(&path, None).await;
        Api::<Node>::all(client)
            .list(&ListParams::default())
            .await
            .map(|l| l.items.len())
    });
    assert_eq!(n.expect("kube-rs with the written kubeconfig"), 0);
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args(["get", "nodes"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing else in the directory (the temporary file was renamed).
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // Re-export: same ServiceAccount, same token, still valid.
    let uid = sa_uid(&c).expect("ServiceAccount exists");
    let again =
        mk::export_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("re-export");
    assert_eq!(again, access);
    assert_eq!(sa_uid(&c), Some(uid));
    assert_eq!(list_nodes_with(&c, &token), Ok(0));

    // Revoke: everything gone, the token no longer authenticates; again = nothing to do.
    let deleted = mk::revoke_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("revoke");
    assert_eq!(deleted.len(), 3, "{deleted:?}");
    assert_eq!(list_nodes_with(&c, &token), Err(401));
    assert_eq!(sa_uid(&c), None);
    assert_eq!(secret_token(&c), None);
    let none = mk::revoke_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("again");
    assert!(none.is_empty(), "{none:?}");
    // kubectl with the old kubeconfig is refused too.
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args(["get", "nodes"])
        .output()
        .expect("run kubectl");
    assert!(!out.status.success());
}

#[test]
fn deleting_only_the_token_secret_or_only_the_service_account_ends_the_token() {
    let c = cluster();
    let admin = admin_yaml(&c);
    for what in ["secret", "serviceaccount"] {
        let access =
            mk::export_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("export");
        let token = access.bearer_token.expose().to_string();
        assert_eq!(list_nodes_with(&c, &token), Ok(0));
        block_on(async {
            let client = client_from(&c.kubeconfig, None).await;
            let dp = DeleteParams::default();
            if what == "secret" {
                Api::<KSecret>::namespaced(client, NS)
                    .delete(&mk::token_secret_name(SA), &dp)
                    .await
                    .map(|_| ())
            } else {
                Api::<ServiceAccount>::namespaced(client, NS)
                    .delete(SA, &dp)
                    .await
                    .map(|_| ())
            }
            .expect("delete");
        });
        assert_eq!(
            list_nodes_with(&c, &token),
            Err(401),
            "after deleting the {what}"
        );
        if what == "serviceaccount" {
            // The token controller removes the token Secrets of a deleted ServiceAccount.
            assert_eq!(secret_token(&c), None);
        }
        mk::revoke_access(&admin, None, NS, SA, Duration::from_secs(20)).expect("clean up");
    }
}

#[test]
fn export_refuses_bad_names_and_reports_a_missing_namespace() {
    let c = cluster();
    let admin = admin_yaml(&c);
    let e = mk::export_access(&admin, None, "Bad NS", SA, Duration::from_secs(5))
        .expect_err("bad namespace");
    assert!(e.to_string().contains("\"Bad NS\""), "{e}");
    let e = mk::export_access(&admin, None, NS, &"a".repeat(60), Duration::from_secs(5))
        .expect_err("name too long for <sa>-token");
    assert!(e.to_string().contains("57"), "{e}");
    let e = mk::export_access(&admin, None, "no-such-ns", SA, Duration::from_secs(5))
        .expect_err("missing namespace");
    assert!(matches!(e, KubeError::Api(_)), "{e:?}");
    assert!(e.to_string().contains("no-such-ns"), "{e}");
}

fn sample_access() -> ClusterAccess {
    ClusterAccess {
        endpoint: "https://192.0.2.10:6443".into(),
        ca_cert_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        bearer_token: Secret::new("tok\"en: with yaml"),
        namespace: NS.into(),
        service_account: SA.into(),
    }
}

#[test]
fn kubeconfig_and_vim_connection_info_shapes() {
    let a = sample_access();
    let y = a.kubeconfig_yaml("vnf \"c\"");
    let kc = Kubeconfig::from_yaml(&y).expect("the kubeconfig parses");
    assert_eq!(kc.current_context.as_deref(), Some("vnf \"c\""));
    assert_eq!(kc.clusters.len(), 1);
    let cl = kc.clusters[0].cluster.as_ref().expect("cluster");
    assert_eq!(cl.server.as_deref(), Some("https://192.0.2.10:6443"));
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cl.certificate_authority_data.as_deref().expect("CA data"))
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&ca), a.ca_cert_pem);
    let raw: serde_json::Value = serde_saphyr::from_str(&y).expect("YAML");
    assert_eq!(raw["users"][0]["user"]["token"], "tok\"en: with yaml");
    assert_eq!(
        kc.contexts[0]
            .context
            .as_ref()
            .and_then(|c| c.namespace.as_deref()),
        Some(NS)
    );

    let v = a.vim_connection_info("vim-1");
    assert_eq!(v["vim_id"], "vim-1");
    assert_eq!(v["vim_type"], "kubernetes");
    assert_eq!(v["access_info"]["auth_url"], "https://192.0.2.10:6443");
    assert_eq!(v["access_info"]["bearer_token"], "tok\"en: with yaml");
    assert_eq!(v["access_info"]["ssl_ca_cert"], a.ca_cert_pem.as_str());
    assert_eq!(v["interface_info"]["endpoint"], "https://192.0.2.10:6443");
}

#[test]
fn write_kubeconfig_refuses_symlinks_and_replaces_a_readable_file_with_0600() {
    use std::os::unix::fs::PermissionsExt;
    let a = sample_access();
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "keep").expect("target");
    let link = dir.path().join("link.kubeconfig");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let e = a.write_kubeconfig(&link, "c").expect_err("symlink refused");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep");

    let path = dir.path().join("old.kubeconfig");
    std::fs::write(&path, "old").expect("old file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    a.write_kubeconfig(&path, "c").expect("replace");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("current-context")
    );
}

#[test]
fn the_actions_serialize_with_stable_names() {
    let a = Action::KubeDrainNodes {
        kubeconfig: ADMIN_CONF.into(),
        endpoint: None,
        nodes: names(&["w1"]),
        delete_nodes: true,
    };
    let v = serde_json::to_value(&a).expect("json");
    assert_eq!(
        v,
        json!({"type": "kube_drain_nodes", "kubeconfig": ADMIN_CONF, "nodes": ["w1"], "delete_nodes": true})
    );
    let back: Action = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, a);
    for (a, ty) in [
        (
            Action::KubeDeleteNodes {
                kubeconfig: ADMIN_CONF.into(),
                endpoint: Some("https://192.0.2.10:6443".into()),
                nodes: names(&["w2"]),
            },
            "kube_delete_nodes",
        ),
        (
            Action::KubeExportAccess {
                kubeconfig: ADMIN_CONF.into(),
                endpoint: None,
                namespace: NS.into(),
                service_account: SA.into(),
            },
            "kube_export_access",
        ),
        (
            Action::KubeRevokeAccess {
                kubeconfig: ADMIN_CONF.into(),
                endpoint: None,
                namespace: NS.into(),
                service_account: SA.into(),
            },
            "kube_revoke_access",
        ),
    ] {
        let v = serde_json::to_value(&a).expect("json");
        assert_eq!(v["type"], ty);
        assert_eq!(v.get("endpoint").is_some(), ty == "kube_delete_nodes");
        assert_eq!(serde_json::from_value::<Action>(v).expect("round trip"), a);
    }
}

// ----- through the executor (admin kubeconfig read over SSH from a lab host) -----------

const PASSWORD: &str = "Kube-Ops-Pw-7d21";

fn step(id: &str, phase: u32, action: Action, timeout_secs: u64) -> Step {
    Step {
        id: format!("m1/{id}"),
        phase,
        host: "m1".into(),
        action,
        reason: id.into(),
        timeout_secs,
    }
}

fn lab_plan(lab: &vnf_lab::Lab, id: &str, steps: Vec<Step>) -> Plan {
    let h = lab.host("m1").expect("m1");
    Plan {
        format_version: mgmt_driver::plan::FORMAT_VERSION,
        operation: Operation::Instantiate,
        vnf_instance_id: id.into(),
        inventory_fingerprint: "c".repeat(64),
        hosts: vec![PlanHost {
            name: "m1".into(),
            role: Role::Master,
            address: h.ip.to_string(),
            port: h.ssh_port,
            user: h.user.clone(),
            credential: Credential::Password {
                secret: "lab.password".into(),
            },
            sudo_password: Some("lab.password".into()),
            host_keys: vec![],
        }],
        steps,
    }
}

const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

fn export_step() -> Step {
    step(
        "export-access",
        0,
        Action::KubeExportAccess {
            kubeconfig: ADMIN_CONF.into(),
            endpoint: None,
            namespace: NS.into(),
            service_account: SA.into(),
        },
        30,
    )
}

fn events_text(r: &Recorder) -> String {
    r.events()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lab_executor_exports_access_drains_deletes_and_revokes_without_leaking_the_token() {
    let c = cluster();
    seed_workloads(&c);
    let lab = vnf_lab::Lab::up(
        vnf_lab::LabSpec::builder()
            .host("m1")
            .password(PASSWORD)
            .build(),
    )
    .expect("lab up");
    lab.exec_input(
        "m1",
        &[
            "sh",
            "-c",
            "mkdir -p /etc/kubernetes && umask 077 && cat >/etc/kubernetes/admin.conf",
        ],
        admin_yaml(&c).as_bytes(),
    )
    .expect("admin.conf on m1");
    let mut secrets = Secrets::new();
    secrets.insert("lab.password", Secret::new(PASSWORD));
    let opts = ExecOptions {
        host_keys: HostKeyPolicy {
            known_hosts: Some(lab.known_hosts()),
            trust_on_first_use: false,
        },
        ..ExecOptions::default()
    };
    let state = tempfile::tempdir().expect("state dir");
    let run = |plan: &Plan, rec: &Recorder| -> Result<Summary, Box<mgmt_driver::exec::ExecError>> {
        let j = Journal::open(
            state.path(),
            &plan.vnf_instance_id,
            "instantiate",
            &plan.inventory_fingerprint,
        )
        .expect("journal");
        execute(plan, &secrets, &opts, j, rec).map_err(Box::new)
    };

    // Export, then a drain the budget blocks: the step fails with the budget named.
    let drain = step(
        "drain",
        1,
        Action::KubeDrainNodes {
            kubeconfig: ADMIN_CONF.into(),
            endpoint: None,
            nodes: names(&["w1"]),
            delete_nodes: true,
        },
        3,
    );
    let plan = lab_plan(&lab, "kube-ops-drain", vec![export_step(), drain]);
    let rec = Recorder::default();
    let e = run(&plan, &rec).expect_err("drain blocked by the budget");
    let token = secret_token(&c).expect("the export step created the token");
    assert_eq!(e.code.id, "driver.kube.drain_blocked", "{e}");
    assert_eq!(e.step.as_deref(), Some("m1/drain"));
    let text = e.to_string();
    assert!(
        text.contains("default/db") && text.contains("db-pdb"),
        "{text}"
    );
    assert!(!text.contains(&token));
    assert!(!events_text(&rec).contains(&token));
    assert!(node(&c, "w1").is_some_and(|n| unschedulable(&n)));

    // Budget relaxed: the re-run exports again (never skipped) and drains.
    relax_budget(&c);
    let rec = Recorder::default();
    let sum = run(&plan, &rec).expect("drain after the budget allows it");
    assert_eq!(sum.executed, 2, "{}", events_text(&rec));
    let access = sum.access.expect("the run's cluster access");
    assert_eq!(
        access.bearer_token.expose(),
        token,
        "same token after re-export"
    );
    assert_eq!(access.ca_cert_pem, c.ca_pem);
    assert!(node(&c, "w1").is_none(), "w1 deleted");
    assert!(pod_exists(&c, "kube-system", "agent-w1"));
    let ev = events_text(&rec);
    assert!(!ev.contains(&token), "{ev}");
    assert_eq!(list_nodes_with(&c, &token), Ok(1));

    // Delete the remaining node without draining (plus a missing one), then revoke.
    let plan = lab_plan(
        &lab,
        "kube-ops-revoke",
        vec![
            step(
                "delete-nodes",
                0,
                Action::KubeDeleteNodes {
                    kubeconfig: ADMIN_CONF.into(),
                    endpoint: None,
                    nodes: names(&["w2", "ghost"]),
                },
                30,
            ),
            step(
                "revoke-access",
                1,
                Action::KubeRevokeAccess {
                    kubeconfig: ADMIN_CONF.into(),
                    endpoint: None,
                    namespace: NS.into(),
                    service_account: SA.into(),
                },
                30,
            ),
        ],
    );
    let rec = Recorder::default();
    let sum = run(&plan, &rec).expect("delete nodes and revoke");
    assert_eq!(sum.executed, 2);
    assert!(sum.access.is_none());
    assert!(node(&c, "w2").is_none());
    assert_eq!(list_nodes_with(&c, &token), Err(401));
    assert!(!events_text(&rec).contains(&token));
}
