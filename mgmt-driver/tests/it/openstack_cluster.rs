//! The cluster install from the generated HOT: the `simple` (1 master + 2 workers +
//! storage server) and `complex` (3 masters behind the `vip_CP` VIP + 2 workers +
//! storage server) flavours deployed on the emulated cloud (openstack-emu on vnf-lab
//! hosts), discovered from Heat with console-pinned host keys, and installed with
//! `vnf-mgmt instantiate --install-cluster --stack …` and the kubeadm shim.

use crate::lab_instantiate::ensure_kube_emu_bin;
use crate::openstack_discovery::{HEAVY, auth_from_yaml, create_stack, params, write_request};
use crate::util::{SAMPLE_PKG, show, vnf_mgmt};
use mgmt_driver::openstack::{self, DiscoverOptions};
use mgmt_driver::topology::{Role, Topology};
use openstack_emu::{Cloud, CloudConfig};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The cloud, and the shim directory (kept while the hosts start).
fn cloud() -> (Cloud, kube_emu::harness::TempDir) {
    ensure_kube_emu_bin();
    let cloud = Cloud::start(CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    })
    .expect("cloud up");
    // kubeadm on every server the stack will create.
    let shims = kube_emu::fixture::install_shims(cloud.lab()).expect("shims");
    (cloud, shims)
}

/// The sample request for the lab, without the private registry (not reachable here).
fn request(cloud: &Cloud, dir: &Path, sample: &str) -> std::path::PathBuf {
    let path = write_request(cloud, dir, sample);
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("request")).expect("JSON");
    if let Some(p) = r["additionalParams"]["k8s_cluster_installation_param"].as_object_mut() {
        p.remove("private_registry_connection_info");
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&r).expect("json")).expect("write");
    path
}

fn instantiate(yaml: &Path, request: &Path, stack: &str, dir: &Path) -> std::process::Output {
    let mut c: Command = vnf_mgmt();
    c.env("OS_CLIENT_CONFIG_FILE", yaml)
        .env_remove("OS_CLOUD")
        .arg("instantiate")
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(request)
        .args(["--os-cloud", "vnf-lab", "--stack", stack])
        .args([
            "--vnf-instance-id",
            "os-cluster-1",
            "--no-digests",
            "--connect-timeout",
            "5",
            "--kube-timeout",
            "60",
            "--install-cluster",
        ])
        .arg("--cni-manifest")
        .arg(kube_emu::fixture::CNI_STAND_IN_URL)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--kubeconfig-out")
        .arg(dir.join("kubeconfig"));
    c.output().expect("vnf-mgmt runs")
}

fn lab_host(cloud: &Cloud, t: &Topology, role: Role) -> Vec<String> {
    t.with_role(role)
        .map(|n| {
            cloud
                .lab_host_of(n.resource_id.as_deref().unwrap_or_default())
                .unwrap_or_else(|| panic!("{} is no lab host", n.name))
        })
        .collect()
}

/// Ready Node names, through the exported kubeconfig from this machine.
fn ready_nodes(kubeconfig: &Path) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let o = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "5s", "get", "nodes", "-o", "json"])
            .output()
            .expect("kubectl runs");
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("nodes JSON");
            let mut names: Vec<String> = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| {
                    n["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                })
                .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
                .collect();
            names.sort();
            return names;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "kubectl get nodes: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn expected_names(t: &Topology) -> Vec<String> {
    let mut names: Vec<String> = mgmt_driver::cluster::node_names(t).into_values().collect();
    names.sort();
    names
}

#[test]
fn simple_flavour_from_the_generated_hot_gets_a_cluster_and_its_pvs() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let (cloud, _shims) = cloud();
    let dir = tempfile::tempdir().expect("tempdir");
    let request = request(&cloud, dir.path(), "instantiate_simple_pv.json");
    let stack = create_stack(&cloud, &request, "vnf-cluster-simple");
    let auth = auth_from_yaml(&cloud, dir.path(), "vnf-lab");
    let t = openstack::discover(
        &auth,
        &stack,
        &params(&request),
        &DiscoverOptions::default(),
    )
    .expect("discover");
    assert_eq!(
        (
            t.with_role(Role::Master).count(),
            t.with_role(Role::Worker).count()
        ),
        (1, 2)
    );
    // Each worker knows its scaling-group member (what Tacker's scale_name_list names).
    let members: std::collections::BTreeSet<_> = t
        .with_role(Role::Worker)
        .filter_map(|n| n.group_member.clone())
        .collect();
    assert_eq!(members.len(), 2, "{t:#?}");
    for m in lab_host(&cloud, &t, Role::Master) {
        kube_emu::fixture::install_cni_stand_in(cloud.lab(), &m).expect("CNI stand-in");
    }
    let o = instantiate(
        &dir.path().join("clouds.yaml"),
        &request,
        &stack,
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Every master and worker Ready under its VDU/VNFC-derived name (the two workers
    // share their Nova server name; the member id keeps their names apart).
    let ready = ready_nodes(&dir.path().join("kubeconfig"));
    assert_eq!(ready.len(), 3, "{ready:?}");
    assert_eq!(ready, expected_names(&t));
    let master = lab_host(&cloud, &t, Role::Master).remove(0);
    let pv = cloud
        .lab()
        .exec_ok(
            &master,
            &[
                "kubectl",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "get",
                "pv",
                "nfs-pv1",
                "-o",
                "jsonpath={.status.phase} {.spec.nfs.server}",
            ],
        )
        .expect("kubectl get pv");
    let storage_ip = t
        .with_role(Role::Storage)
        .next()
        .and_then(|n| n.ports.get("storage_server_CP"))
        .expect("storage CP")
        .to_string();
    assert_eq!(pv.trim(), format!("Available {storage_ip}"));
}

#[test]
fn complex_flavour_from_the_generated_hot_serves_the_api_through_the_vip() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let (cloud, _shims) = cloud();
    let dir = tempfile::tempdir().expect("tempdir");
    let request = request(&cloud, dir.path(), "instantiate_complex_pv.json");
    let stack = create_stack(&cloud, &request, "vnf-cluster-complex");
    let auth = auth_from_yaml(&cloud, dir.path(), "vnf-lab");
    let t = openstack::discover(
        &auth,
        &stack,
        &params(&request),
        &DiscoverOptions::default(),
    )
    .expect("discover");
    let masters = lab_host(&cloud, &t, Role::Master);
    assert_eq!(masters.len(), 3);
    let vip = t
        .cluster_vip
        .expect("the vip_CP port with its subnet")
        .address;
    for m in lab_host(&cloud, &t, Role::Master) {
        kube_emu::fixture::install_cni_stand_in(cloud.lab(), &m).expect("CNI stand-in");
    }
    let o = instantiate(
        &dir.path().join("clouds.yaml"),
        &request,
        &stack,
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // The exported kubeconfig names the VIP and works through it.
    let kc = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(&kc).expect("kubeconfig");
    assert!(text.contains(&format!("https://{vip}:16443")), "{text}");
    let ready = ready_nodes(&kc);
    assert_eq!(ready.len(), 5, "{ready:?}");
    assert_eq!(ready, expected_names(&t));
    // etcd has a member on every master; one of them holds the VIP.
    let members = cloud
        .lab()
        .exec_ok(
            &masters[0],
            &[
                "etcdctl",
                "--endpoints",
                "http://127.0.0.1:2379",
                "member",
                "list",
            ],
        )
        .expect("etcdctl");
    assert_eq!(members.lines().count(), 3, "{members}");
    let holders = masters
        .iter()
        .filter(|m| {
            cloud
                .lab()
                .exec_ok(m, &["ip", "-o", "-4", "addr"])
                .is_ok_and(|a| a.contains(&format!(" {vip}/")))
        })
        .count();
    assert_eq!(holders, 1, "exactly one master holds {vip}");
}
