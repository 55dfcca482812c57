//! `vnf-mgmt plan` without hosts: inventory and planning errors, exit codes.

use crate::util::{SAMPLE_PKG, run, show, vnf_mgmt};

const REQ: &str = "samples/requests/instantiate_simple_pv.json";

fn plan_with(inventory: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, inventory).expect("write inventory");
    run(vnf_mgmt()
        .args(["plan", "instantiate", SAMPLE_PKG, "-r", REQ, "-i"])
        .arg(&inv)
        .args(["--vnf-instance-id", "vnf-1", "--no-digests"]))
}

const INV: &str = "\
format_version: 1
hosts:
  - name: m1
    role: master
    ssh: 10.0.0.1
    ports: {masterNode_CP1: 10.0.0.1}
  - name: s1
    role: storage
    ssh: 10.0.0.3
    ports: {storage_server_CP: 10.0.0.3}
    volumes:
      storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11}
";

#[test]
fn plan_prints_steps_and_no_password() {
    let o = plan_with(INV);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("m1/pv/nfs-pv2: kube apply PersistentVolume nfs-pv2"),
        "{out}"
    );
    assert!(out.contains("(nfs server 10.0.0.3)"), "{out}");
    // The sample's password is "ubuntu" (also the user): only the secret's name appears.
    assert!(out.contains("password <master_node.password>"), "{out}");
    assert!(!out.contains("\"ubuntu\""), "{out}");
}

#[test]
fn inventory_and_fit_errors_exit_1_with_their_code() {
    for (inv, code, detail) in [
        (
            INV.replace("role: master", "role: worker"),
            "driver.plan.no_master",
            "master",
        ),
        (
            INV.replace("storage_server_volume:", "data:"),
            "driver.plan.unknown_volume",
            "data",
        ),
        (
            INV.replace("ssh: 10.0.0.3", "ssh: [10.0.0.3"),
            "driver.inventory.syntax",
            "inv.yaml",
        ),
        (
            INV.replace("ssh: 10.0.0.3", "ssh: 10.0.0.3\n    nic: nope"),
            "driver.inventory.invalid",
            "/hosts/1/nic",
        ),
    ] {
        let o = plan_with(&inv);
        assert_eq!(o.status.code(), Some(1), "{code}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(code) && err.contains(detail), "{code}: {err}");
        assert!(o.stdout.is_empty(), "{code}: no plan on error");
    }
}

fn plan_heal(phase: &str, format: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, INV).expect("write inventory");
    run(vnf_mgmt()
        .args([
            "plan", "heal", "--phase", phase, SAMPLE_PKG, "-r", REQ, "-i",
        ])
        .arg(&inv)
        .args([
            "--vnf-instance-id",
            "vnf-1",
            "--no-digests",
            "--format",
            format,
        ]))
}

#[test]
fn plan_heal_prints_each_phase() {
    let o = plan_heal("start", "text");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("plan heal_start for VNF instance vnf-1"),
        "{out}"
    );
    assert!(
        out.contains("m1/pv-delete: kube delete PersistentVolumes labelled vnf-mgmt.io/vnf-instance-id=vnf-1 and nfs-pv1, nfs-pv2"),
        "{out}"
    );
    assert!(
        !out.contains("s1/"),
        "heal_start does not touch the storage server: {out}"
    );

    let o = plan_heal("end", "json");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    assert_eq!(plan["operation"], "heal_end");
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&"s1/volume/storage_server_volume"), "{ids:?}");
    assert!(ids.contains(&"m1/pv/nfs-pv1"), "{ids:?}");
    assert!(!ids.contains(&"m1/nfs-client"), "{ids:?}");
    // Deterministic.
    assert_eq!(plan_heal("end", "json").stdout, o.stdout);
}
