//! `vnf-mgmt heal storage_server` end to end on lab hosts with a kube-emu cluster: the
//! "PV in use" guard, the VM rebuilt by the "orchestrator" (the test) with the volume
//! kept (data kept) or replaced (fresh filesystem), PVs registered again.

use crate::lab_instantiate::{EXPORTS, SENTINEL, Setup, VOL, ensure_kube_emu_bin, run_ok, text};
use crate::util::{SAMPLE_PKG, show, vnf_mgmt};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
const NEW_VOL: &str = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

fn heal_cmd(s: &Setup, phase: &str) -> Command {
    let mut c = vnf_mgmt();
    c.args(["heal", "storage_server", "--phase", phase])
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(s.path("request.json"))
        .arg("-i")
        .arg(s.path("inventory.yaml"))
        .args([
            "--vnf-instance-id",
            "vnf-lab-1",
            "--no-digests",
            "--connect-timeout",
            "5",
            "--kube-timeout",
            "60",
        ])
        .arg("--state-dir")
        .arg(s.path("state"))
        .arg("--events")
        .arg(s.path("events.jsonl"))
        .args(s.known_hosts_args());
    c
}

fn kubectl(s: &Setup, args: &[&str]) -> Output {
    let mut argv = vec!["kubectl", "--kubeconfig", KUBECONFIG];
    argv.extend_from_slice(args);
    s.lab.exec("m1", &argv).expect("kubectl runs")
}

fn kubectl_input(s: &Setup, args: &[&str], input: &str) -> Output {
    let mut argv = vec!["kubectl", "--kubeconfig", KUBECONFIG];
    argv.extend_from_slice(args);
    s.lab
        .exec_input("m1", &argv, input.as_bytes())
        .expect("kubectl runs")
}

/// The PV as JSON, `None` when it does not exist.
fn pv(s: &Setup, name: &str) -> Option<serde_json::Value> {
    let o = kubectl(s, &["get", "pv", name, "-o", "json"]);
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
fn wait_phase(s: &Setup, name: &str, phase: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cur = pv(s, name);
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

fn sha256_on_s1(s: &Setup, path: &str) -> String {
    s.s1(&["sha256sum", path])
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What an orchestrator does on a rebuild: the host keys of the new VM are trusted
/// explicitly (known_hosts entries for its address replaced by the new keys).
fn trust_new_host_keys(s: &Setup, host: &str) {
    let h = s.lab.host(host).expect("host");
    let path = s.path("known_hosts");
    let old = std::fs::read_to_string(&path).expect("known_hosts");
    let prefix = format!("{} ", h.ip);
    let mut kh: String = old
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    for k in [&h.host_keys.ed25519, &h.host_keys.ecdsa] {
        let mut parts = k.split_whitespace();
        if let (Some(t), Some(b)) = (parts.next(), parts.next()) {
            kh.push_str(&format!("{} {t} {b}\n", h.ip));
        }
    }
    std::fs::write(&path, kh).expect("write known_hosts");
}

/// Replaces the storage VM by a new one with the same address, with the volume `VOL`
/// re-attached (`keep_volume`) or destroyed and replaced by a blank `NEW_VOL`.
fn rebuild_s1(s: &Setup, keep_volume: bool) {
    let ip = s.lab.host("s1").expect("s1").ip;
    s.lab.remove_host("s1").expect("remove s1");
    let mut spec = vnf_lab::HostSpec {
        name: "s1".into(),
        ip: Some(ip),
        ..Default::default()
    };
    if !keep_volume {
        s.lab.destroy_volume(VOL).expect("destroy the old volume");
        spec.volumes.push(vnf_lab::VolumeSpec {
            id: NEW_VOL.into(),
            size: Some("64M".into()),
        });
    }
    s.lab.add_host(spec).expect("add the rebuilt s1");
    if keep_volume {
        s.lab
            .attach_volume(VOL, "s1")
            .expect("attach the kept volume");
    }
}

#[test]
fn heal_storage_server_refuses_while_bound_then_keeps_data_or_starts_fresh() {
    ensure_kube_emu_bin();
    let s = Setup::up_with(true);
    let _cluster = match kube_emu::fixture::kubeadm_cluster(&s.lab, &["m1"], &["w1"]) {
        Ok(c) => c,
        Err(e) => {
            let log = s
                .lab
                .exec("m1", &["sh", "-c", "tail -n 30 /var/log/kube-emu/*.log"])
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("kubeadm cluster: {e:#}\nkube-emu logs on m1:\n{log}");
        }
    };
    let s1_ip = s.lab.host("s1").expect("s1").ip.to_string();
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    run_ok(&mut s.instantiate_cmd("request.json", &kh));
    let uuid = s.uuid();
    s.s1(&[
        "sh",
        "-c",
        "head -c 200000 /dev/urandom > /volume/nfs/pv1/data.bin",
    ]);
    let sum = sha256_on_s1(&s, "/volume/nfs/pv1/data.bin");

    // The plan of each phase is printed without connecting anywhere.
    let o = vnf_mgmt()
        .args(["plan", "heal", "--phase", "start"])
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(s.path("request.json"))
        .arg("-i")
        .arg(s.path("inventory.yaml"))
        .args(["--vnf-instance-id", "vnf-lab-1", "--no-digests"])
        .output()
        .expect("plan runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        text(&o).contains("plan heal_start for VNF instance vnf-lab-1"),
        "{}",
        show(&o)
    );
    assert!(text(&o).contains("m1/pv-delete"), "{}", show(&o));

    // A claim binds nfs-pv1: heal is refused and changes nothing.
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: default\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  volumeName: nfs-pv1\n  resources:\n    requests:\n      storage: 1Gi\n";
    let o = kubectl_input(&s, &["create", "--validate=false", "-f", "-"], pvc);
    assert!(o.status.success(), "{}", show(&o));
    wait_phase(&s, "nfs-pv1", "Bound");
    let exports_before = s.s1(&["cat", "/etc/exports"]);
    let o = heal_cmd(&s, "start").output().expect("heal runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(t.contains("driver.kube.pv_in_use"), "{t}");
    assert!(t.contains("nfs-pv1 -> default/data"), "{t}");
    assert!(!t.contains(SENTINEL), "{t}");
    assert_eq!(
        pv(&s, "nfs-pv1").expect("nfs-pv1 kept")["status"]["phase"],
        "Bound"
    );
    assert!(
        pv(&s, "nfs-pv2").is_some(),
        "nfs-pv2 deleted although refused"
    );
    assert_eq!(s.s1(&["cat", "/etc/exports"]), exports_before);

    // The claim goes away: a Released PV of ours is not in use; heal_start deletes both.
    let o = kubectl(&s, &["delete", "pvc", "data", "-n", "default"]);
    assert!(o.status.success(), "{}", show(&o));
    wait_phase(&s, "nfs-pv1", "Released");
    let o = run_ok(&mut heal_cmd(&s, "start"));
    assert!(
        text(&o).contains("heal_start of vnf-lab-1 done"),
        "{}",
        show(&o)
    );
    assert!(pv(&s, "nfs-pv1").is_none() && pv(&s, "nfs-pv2").is_none());

    // The orchestrator rebuilds the VM and keeps the volume. The new VM has new host
    // keys: with the old known_hosts, heal_end is refused before anything happens.
    rebuild_s1(&s, true);
    let o = heal_cmd(&s, "end").output().expect("heal runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        text(&o).contains("driver.ssh.host_key_mismatch"),
        "{}",
        show(&o)
    );
    assert!(
        pv(&s, "nfs-pv1").is_none(),
        "PV registered although refused"
    );
    trust_new_host_keys(&s, "s1");
    let o = run_ok(&mut heal_cmd(&s, "end"));
    let t = text(&o);
    assert!(t.contains("heal_end of vnf-lab-1 done"), "{t}");
    assert!(
        !t.contains("w1/nfs-client"),
        "the NFS clients are left alone: {t}"
    );
    assert_eq!(s.uuid(), uuid, "the kept volume was not reformatted");
    assert_eq!(sha256_on_s1(&s, "/volume/nfs/pv1/data.bin"), sum);
    for (name, export) in [("nfs-pv1", EXPORTS[0]), ("nfs-pv2", EXPORTS[1])] {
        let p = wait_phase(&s, name, "Available");
        assert_eq!(p["spec"]["nfs"]["server"], s1_ip.as_str(), "{p}");
        assert_eq!(p["spec"]["nfs"]["path"], export, "{p}");
    }
    let ip = s.lab.host("s1").expect("s1").ip;
    s.lab
        .nfs_write("w1", ip, EXPORTS[1], "after-heal.txt", b"served again\n")
        .expect("NFS write after heal");

    // Heal again, this time with the volume replaced: a fresh filesystem, PVs back.
    run_ok(&mut heal_cmd(&s, "start"));
    rebuild_s1(&s, false);
    let inv = std::fs::read_to_string(s.path("inventory.yaml")).expect("inventory");
    std::fs::write(s.path("inventory.yaml"), inv.replace(VOL, NEW_VOL)).expect("write");
    trust_new_host_keys(&s, "s1");
    run_ok(&mut heal_cmd(&s, "end"));
    assert_ne!(s.uuid(), uuid, "a new volume gets a new filesystem");
    let gone = s
        .lab
        .exec("s1", &["test", "-e", "/volume/nfs/pv1/data.bin"])
        .expect("exec");
    assert!(
        !gone.status.success(),
        "data on the replaced volume is gone"
    );
    for name in ["nfs-pv1", "nfs-pv2"] {
        let p = wait_phase(&s, name, "Available");
        assert_eq!(p["spec"]["nfs"]["server"], s1_ip.as_str(), "{p}");
        assert_eq!(
            p["metadata"]["labels"]["vnf-mgmt.io/vnf-instance-id"], "vnf-lab-1",
            "{p}"
        );
    }
    s.lab
        .nfs_write("w1", ip, EXPORTS[0], "fresh.txt", b"fresh fs\n")
        .expect("NFS write on the fresh filesystem");
}

#[test]
fn heal_phase_all_without_a_way_to_rebuild_is_a_clear_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = vnf_mgmt()
        .args(["heal", "storage_server"])
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(dir.path().join("request.json"))
        .arg("-i")
        .arg(dir.path().join("inventory.yaml"))
        .args(["--vnf-instance-id", "v1"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let t = text(&o);
    assert!(
        t.contains("needs --os-cloud/--stack (a static inventory cannot rebuild it)")
            && t.contains("--phase start"),
        "{t}"
    );
    let o = vnf_mgmt()
        .args(["plan", "heal"])
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(dir.path().join("request.json"))
        .arg("-i")
        .arg(dir.path().join("inventory.yaml"))
        .args(["--vnf-instance-id", "v1"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o).contains("--phase start or --phase end"),
        "{}",
        show(&o)
    );
}
