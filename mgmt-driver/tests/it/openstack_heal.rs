//! `vnf-mgmt heal storage_server --phase all --stack …` on the emulated cloud
//! (openstack-emu on vnf-lab hosts, a kube-emu kubeadm cluster on the stack's master and
//! workers): refused while a claim binds a PV (nothing changed), then heal_start, the
//! rebuild through Heat (mark unhealthy + update with `existing`), heal_end on the
//! re-discovered server with the volume kept (data kept) or replaced (fresh filesystem).

use crate::lab_instantiate::{ensure_kube_emu_bin, run_ok, text};
use crate::openstack_discovery::{HEAVY, auth_from_yaml, create_stack, params, write_request};
use crate::util::{SAMPLE_PKG, show, vnf_mgmt};
use mgmt_driver::openstack::{self, DiscoverOptions};
use mgmt_driver::topology::{Role, Topology};
use openstack_emu::{Cloud, CloudConfig};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

fn kubectl(cloud: &Cloud, master: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut argv = vec!["kubectl", "--kubeconfig", KUBECONFIG];
    argv.extend_from_slice(args);
    match input {
        Some(i) => cloud.lab().exec_input(master, &argv, i.as_bytes()),
        None => cloud.lab().exec(master, &argv),
    }
    .expect("kubectl runs")
}

/// The PV as JSON, `None` when it does not exist.
fn pv(cloud: &Cloud, master: &str, name: &str) -> Option<serde_json::Value> {
    let o = kubectl(cloud, master, &["get", "pv", name, "-o", "json"], None);
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "{err}"
        );
        return None;
    }
    Some(serde_json::from_slice(&o.stdout).expect("PV JSON"))
}

/// Waits (bounded) until the PV's phase is `phase`; returns the PV.
fn wait_phase(cloud: &Cloud, master: &str, name: &str, phase: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cur = pv(cloud, master, name);
        if let Some(p) = &cur
            && p["status"]["phase"] == phase
        {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "PersistentVolume {name} never became {phase}: {cur:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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

fn storage(t: &Topology) -> &mgmt_driver::topology::Node {
    t.with_role(Role::Storage).next().expect("storage node")
}

fn sha256(cloud: &Cloud, host: &str, path: &str) -> String {
    cloud
        .lab()
        .exec_ok(host, &["sha256sum", path])
        .expect("sha256sum")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn fs_uuid(cloud: &Cloud, host: &str) -> String {
    cloud
        .lab()
        .exec_ok(host, &["blkid", "-o", "value", "-s", "UUID", "/dev/vdb"])
        .expect("blkid")
        .trim()
        .to_string()
}

fn cli(yaml: &Path, request: &Path, stack: &str, state: &Path, args: &[&str]) -> Command {
    let mut c = vnf_mgmt();
    c.env("OS_CLIENT_CONFIG_FILE", yaml)
        .env_remove("OS_CLOUD")
        .args(args)
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(request)
        .args(["--os-cloud", "vnf-lab", "--stack", stack])
        .args([
            "--vnf-instance-id",
            "os-heal-1",
            "--no-digests",
            "--connect-timeout",
            "5",
            "--kube-timeout",
            "60",
        ])
        .arg("--state-dir")
        .arg(state);
    c
}

#[test]
fn heal_phase_all_rebuilds_the_storage_server_through_heat() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    ensure_kube_emu_bin();
    let cloud = Cloud::start(CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    })
    .expect("cloud up");
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write_request(&cloud, dir.path(), "instantiate_simple_pv.json");
    let stack_id = create_stack(&cloud, &request, "vnf-heal");
    let auth = auth_from_yaml(&cloud, dir.path(), "vnf-lab");
    let yaml = dir.path().join("clouds.yaml");
    let state = dir.path().join("state");
    let p = params(&request);
    let discover = || {
        openstack::discover(&auth, &stack_id, &p, &DiscoverOptions::default()).expect("discover")
    };
    let t0 = discover();
    let master = lab_host(&cloud, &t0, Role::Master).remove(0);
    let workers = lab_host(&cloud, &t0, Role::Worker);
    let workers: Vec<&str> = workers.iter().map(String::as_str).collect();
    let _cluster = kube_emu::fixture::kubeadm_cluster(cloud.lab(), &[&master], &workers)
        .unwrap_or_else(|e| panic!("kubeadm cluster: {e:#}"));

    run_ok(&mut cli(
        &yaml,
        &request,
        &stack_id,
        &state,
        &["instantiate"],
    ));
    let old_server = storage(&t0).resource_id.clone().expect("server id");
    let s_ip = storage(&t0).ports["storage_server_CP"].to_string();
    let old_vol = storage(&t0).volumes["storage_server_volume"]
        .cinder_id
        .clone();
    let host = cloud.lab_host_of(&old_server).expect("storage host");
    cloud
        .lab()
        .exec_ok(
            &host,
            &[
                "sh",
                "-c",
                "head -c 200000 /dev/urandom > /volume/nfs/pv1/data.bin",
            ],
        )
        .expect("write data");
    let sum = sha256(&cloud, &host, "/volume/nfs/pv1/data.bin");
    let uuid = fs_uuid(&cloud, &host);
    // A server that is not in the stack: nothing is marked, the code names the problem.
    let e = openstack::rebuild_storage_server(
        &auth,
        &stack_id,
        &p,
        "00000000-0000-4000-8000-000000000000",
        &openstack::RebuildOptions::default(),
        &|_| {},
    )
    .expect_err("unknown server");
    assert_eq!(e.code.id, "driver.heal.resource_missing", "{e}");
    assert!(
        e.message.contains("00000000-0000-4000-8000-000000000000"),
        "{e}"
    );
    assert_eq!(
        cloud.stack_status(&stack_id).map(|s| s.0).as_deref(),
        Some("CREATE_COMPLETE"),
        "no update was started"
    );

    let heal = |extra: &[&str]| {
        let mut args = vec!["heal", "storage_server", "--phase", "all"];
        args.extend_from_slice(extra);
        cli(&yaml, &request, &stack_id, &state, &args)
    };

    // A claim binds nfs-pv1: refused in heal_start, the server is not touched.
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: default\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  volumeName: nfs-pv1\n  resources:\n    requests:\n      storage: 1Gi\n";
    let o = kubectl(
        &cloud,
        &master,
        &["create", "--validate=false", "-f", "-"],
        Some(pvc),
    );
    assert!(o.status.success(), "{}", show(&o));
    wait_phase(&cloud, &master, "nfs-pv1", "Bound");
    let o = heal(&[]).output().expect("heal runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(t.contains("driver.kube.pv_in_use"), "{t}");
    assert!(!t.contains("unhealthy"), "no rebuild was asked for: {t}");
    assert_eq!(
        storage(&discover()).resource_id.as_deref(),
        Some(old_server.as_str()),
        "the server was replaced although heal was refused"
    );
    assert!(pv(&cloud, &master, "nfs-pv2").is_some(), "nfs-pv2 deleted");
    assert_eq!(
        pv(&cloud, &master, "nfs-pv1").expect("nfs-pv1 kept")["status"]["phase"],
        "Bound"
    );

    // The claim goes away: heal --phase all rebuilds the server and keeps the volume.
    let o = kubectl(
        &cloud,
        &master,
        &["delete", "pvc", "data", "-n", "default"],
        None,
    );
    assert!(o.status.success(), "{}", show(&o));
    wait_phase(&cloud, &master, "nfs-pv1", "Released");
    let events = dir.path().join("events.jsonl");
    let o = run_ok(heal(&[]).arg("--events").arg(&events));
    let ev = std::fs::read_to_string(&events).expect("events");
    for op in ["\"heal_start\"", "\"heal_end\""] {
        assert!(ev.contains(op), "events of both phases: {ev}");
    }
    let t = text(&o);
    assert!(t.contains("heal_start of os-heal-1 done"), "{t}");
    assert!(t.contains("marking "), "{t}");
    assert!(t.contains("UPDATE_COMPLETE"), "{t}");
    assert!(t.contains("heal_end of os-heal-1 done"), "{t}");
    let t1 = discover();
    let new_server = storage(&t1).resource_id.clone().expect("server id");
    assert_ne!(new_server, old_server, "Heat shows a new server");
    assert_eq!(storage(&t1).ports["storage_server_CP"].to_string(), s_ip);
    assert_eq!(
        storage(&t1).volumes["storage_server_volume"].cinder_id,
        old_vol,
        "the volume is kept"
    );
    let host = cloud.lab_host_of(&new_server).expect("new storage host");
    assert_eq!(sha256(&cloud, &host, "/volume/nfs/pv1/data.bin"), sum);
    assert_eq!(fs_uuid(&cloud, &host), uuid, "not reformatted");
    for name in ["nfs-pv1", "nfs-pv2"] {
        let pv = wait_phase(&cloud, &master, name, "Available");
        assert_eq!(pv["spec"]["nfs"]["server"], s_ip.as_str(), "{pv}");
    }

    // --replace-volume: Heat replaces the volume too; a fresh filesystem, PVs back.
    run_ok(&mut heal(&["--replace-volume"]));
    let t2 = discover();
    let server2 = storage(&t2).resource_id.clone().expect("server id");
    assert_ne!(server2, new_server);
    assert_ne!(
        storage(&t2).volumes["storage_server_volume"].cinder_id,
        old_vol,
        "a new volume"
    );
    let host = cloud.lab_host_of(&server2).expect("storage host");
    assert_ne!(fs_uuid(&cloud, &host), uuid, "a fresh filesystem");
    let gone = cloud
        .lab()
        .exec(&host, &["test", "-e", "/volume/nfs/pv1/data.bin"])
        .expect("exec");
    assert!(
        !gone.status.success(),
        "data on the replaced volume is gone"
    );
    for name in ["nfs-pv1", "nfs-pv2"] {
        let pv = wait_phase(&cloud, &master, name, "Available");
        assert_eq!(pv["spec"]["nfs"]["server"], s_ip.as_str(), "{pv}");
    }
}
