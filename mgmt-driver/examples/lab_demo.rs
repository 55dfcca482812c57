//! The main job on this machine: instantiate the sample VNF on the lab.
//!
//! Brings up real hosts (network namespaces with sshd; a loop-device "Cinder" volume on
//! the storage server) with the `kubeadm` shim (the API emulator over a real etcd),
//! writes a static inventory, then runs the real `vnf-mgmt`: plan, instantiate with the
//! cluster install (kubeadm init, workers joining in parallel, pod network, storage
//! server with filesystem, mount and NFS exports, NFS clients, PersistentVolumes, the
//! orchestrator's kubeconfig); shows the result from the machines' side; re-runs
//! instantiate to show that nothing is redone; scales the workers out and in; heals a
//! worker on a rebuilt VM; heals the storage server (refused while a claim binds a PV,
//! then — after the VM is rebuilt — set up again with its data kept); terminates.
//!
//! Run as root through `make demo` (which builds the binaries first). Environment:
//! `VNF_MGMT` (default `target/debug/vnf-mgmt`), `KUBE_EMU_BIN` (default
//! `target/debug/kube-emu`). Everything is torn down at the end, also on failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use vnf_lab::{Lab, LabSpec};

const VOLUME_ID: &str = "6f1c2a9e-4b7d-4e21-9c3a-0d5e8f7a1b23";
const INSTANCE: &str = "demo-vnf-1";

fn main() {
    if let Err(e) = run() {
        eprintln!("lab_demo: {e:#}");
        std::process::exit(1);
    }
}

fn step(title: &str) {
    println!("\n==> {title}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn vnf_mgmt() -> PathBuf {
    std::env::var_os("VNF_MGMT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/vnf-mgmt"))
}

/// Runs a command, echoing it, streaming its output; fails on a non-zero exit.
fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let shown: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    println!("$ {}", shown.join(" "));
    let st = cmd.current_dir(repo_root()).status()?;
    anyhow::ensure!(st.success(), "`{}` failed: {st}", shown.join(" "));
    Ok(())
}

fn run() -> anyhow::Result<()> {
    if std::env::var_os("KUBE_EMU_BIN").is_none() {
        let bin = repo_root().join("target/debug/kube-emu");
        anyhow::ensure!(bin.is_file(), "{} missing: run `make build`", bin.display());
        // The fixture reads KUBE_EMU_BIN from the environment: run again with it set.
        return reexec_with("KUBE_EMU_BIN", &bin);
    }
    let work = tempfile::tempdir()?;
    let path = |n: &str| work.path().join(n);

    step("bring up the lab: master m1, workers w1 w2, storage server s1 with a 64 MiB volume");
    let lab = Lab::up(
        LabSpec::builder()
            .host("m1")
            .host("w1")
            .host("w2")
            .host_with_volume("s1", VOLUME_ID, "64M")
            .user("ubuntu")
            .password("ubuntu")
            .build(),
    )?;
    for h in lab.hosts() {
        println!("  {:<3} {}", h.name, h.ip);
    }

    let _shims = kube_emu::fixture::install_shims(&lab)?;

    step("inventory and request (the sample request; exports opened to the lab subnet)");
    let write_inventory = |workers: &[&str]| -> anyhow::Result<String> {
        let ip = |h: &str| -> anyhow::Result<String> { Ok(lab.host(h)?.ip.to_string()) };
        let (m1, s1) = (ip("m1")?, ip("s1")?);
        let mut inventory = format!(
            "format_version: 1\n\
             hosts:\n\
             \x20 - {{name: m1, role: master, ssh: {m1}, ports: {{masterNode_CP1: {m1}}}}}\n"
        );
        for w in workers {
            let a = ip(w)?;
            inventory.push_str(&format!(
                "  - {{name: {w}, role: worker, ssh: {a}, ports: {{workerNode_CP2: {a}}}}}\n"
            ));
        }
        inventory.push_str(&format!(
            "  - name: s1\n\
             \x20   role: storage\n\
             \x20   ssh: {s1}\n\
             \x20   ports: {{storage_server_CP: {s1}}}\n\
             \x20   volumes: {{storage_server_volume: {{cinder_id: {VOLUME_ID}}}}}\n"
        ));
        std::fs::write(path("inventory.yaml"), &inventory)?;
        Ok(inventory)
    };
    print!("{}", write_inventory(&["w1", "w2"])?);
    let sample =
        std::fs::read_to_string(repo_root().join("samples/requests/instantiate_simple_pv.json"))?;
    let mut req: serde_json::Value = serde_json::from_str(&sample)?;
    let (net, len) = lab.subnet();
    let p = &mut req["additionalParams"]["k8s_cluster_installation_param"];
    if let Some(o) = p.as_object_mut() {
        o.remove("proxy"); // the lab has no proxy
    }
    if let Some(exports) = p["storage_server"]["nfs_server_setup_params"].as_array_mut() {
        for e in exports {
            e["export_to"] = format!("{net}/{len}").into();
        }
    }
    std::fs::write(path("request.json"), serde_json::to_vec_pretty(&req)?)?;

    let pkg = "samples/packages/k8s_cluster_with_pv";
    let common = |c: &mut Command| {
        c.arg(pkg)
            .arg("-r")
            .arg(path("request.json"))
            .arg("-i")
            .arg(path("inventory.yaml"))
            .args(["--vnf-instance-id", INSTANCE]);
    };

    step("dry run: the plan (plain data; secrets are referenced by name)");
    let mut c = Command::new(vnf_mgmt());
    c.args(["plan", "instantiate"]);
    common(&mut c);
    sh(&mut c)?;

    // The lab is offline: the pod network comes from a Calico-shaped stand-in file, put
    // on the master.
    let cni = kube_emu::fixture::install_cni_stand_in(&lab, "m1")?;
    let run = |args: &[&str]| {
        let mut c = Command::new(vnf_mgmt());
        c.args(args);
        common(&mut c);
        c.arg("--known-hosts")
            .arg(lab.known_hosts())
            .arg("--state-dir")
            .arg(path("state"))
            .arg("--cni-manifest")
            .arg(cni);
        c
    };

    step(
        "instantiate: Kubernetes (kubeadm init, workers in parallel, pod network), storage server, NFS clients, PersistentVolumes",
    );
    let instantiate = || {
        let mut c = run(&["instantiate", "--install-cluster"]);
        c.arg("--events")
            .arg(path("events.jsonl"))
            .arg("--kubeconfig-out")
            .arg(path("kubeconfig"));
        c
    };
    sh(&mut instantiate())?;
    let kubectl_here = |args: &[&str]| -> anyhow::Result<String> {
        let o = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(path("kubeconfig"))
            .args(args)
            .output()?;
        anyhow::ensure!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    println!(
        "kubectl get nodes (from here, with the exported kubeconfig: a ServiceAccount token, mode 0600)\n{}",
        kubectl_here(&["get", "nodes"])?
    );

    step("what the machines say");
    println!(
        "s1: {}",
        lab.exec_ok(
            "s1",
            &["findmnt", "-n", "-o", "SOURCE,TARGET,FSTYPE", "/volume"]
        )?
        .trim()
    );
    println!(
        "s1: exportfs -v\n{}",
        lab.exec_ok("s1", &["exportfs", "-v"])?
    );
    lab.nfs_write(
        "w1",
        lab.host("s1")?.ip,
        "/volume/nfs/pv1",
        "hello.txt",
        b"written by w1 over NFS\n",
    )?;
    println!(
        "s1: /volume/nfs/pv1/hello.txt = {}",
        lab.exec_ok("s1", &["cat", "/volume/nfs/pv1/hello.txt"])?
            .trim()
    );
    println!(
        "m1: kubectl get pv\n{}",
        lab.exec_ok(
            "m1",
            &[
                "kubectl",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "get",
                "pv"
            ]
        )?
    );

    step("instantiate again: every step is checked and nothing is redone (no reformat)");
    let uuid_before = lab.exec_ok("s1", &["blkid", "-o", "value", "-s", "UUID", "/dev/vdb"])?;
    sh(&mut instantiate())?;
    let uuid_after = lab.exec_ok("s1", &["blkid", "-o", "value", "-s", "UUID", "/dev/vdb"])?;
    anyhow::ensure!(uuid_before == uuid_after, "the volume was reformatted");
    anyhow::ensure!(
        lab.exec_ok("s1", &["cat", "/volume/nfs/pv1/hello.txt"])?
            .contains("written by w1"),
        "the file written before the re-run is gone"
    );
    println!(
        "filesystem UUID unchanged ({}), data kept",
        uuid_after.trim()
    );

    step("scale out 2 -> 3 workers: the orchestrator adds w3, scale_end joins it");
    lab.add_host(vnf_lab::HostSpec::new("w3"))?;
    write_inventory(&["w1", "w2", "w3"])?;
    sh(&mut run(&[
        "scale",
        "--aspect",
        "worker_instance",
        "--out",
        "--steps",
        "1",
        "--phase",
        "end",
    ]))?;
    println!("{}", kubectl_here(&["get", "nodes"])?);

    step("scale in 3 -> 2: scale_start drains and deletes w3, the orchestrator removes it");
    sh(&mut run(&[
        "scale",
        "--aspect",
        "worker_instance",
        "--in",
        "--steps",
        "1",
        "--phase",
        "start",
        "--remove",
        "w3",
    ]))?;
    lab.remove_host("w3")?;
    write_inventory(&["w1", "w2"])?;
    sh(&mut run(&[
        "scale",
        "--aspect",
        "worker_instance",
        "--in",
        "--steps",
        "1",
        "--phase",
        "end",
    ]))?;
    println!("{}", kubectl_here(&["get", "nodes"])?);

    step(
        "heal worker w2: drained and deleted, rebuilt (same address, new host keys), joined again",
    );
    sh(&mut run(&["heal", "w2", "--phase", "start"]))?;
    let w2_ip = lab.host("w2")?.ip;
    lab.remove_host("w2")?;
    lab.add_host(vnf_lab::HostSpec {
        name: "w2".into(),
        ip: Some(w2_ip),
        ..Default::default()
    })?;
    sh(&mut run(&["heal", "w2", "--phase", "end"]))?;
    println!("{}", kubectl_here(&["get", "nodes"])?);

    step("heal storage_server while a claim binds nfs-pv1: refused, nothing changed");
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: default}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  volumeName: nfs-pv1\n  resources: {requests: {storage: 1Gi}}\n";
    let kubectl = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"];
    let o = lab.exec_input(
        "m1",
        &[&kubectl[..], &["create", "--validate=false", "-f", "-"]].concat(),
        pvc.as_bytes(),
    )?;
    anyhow::ensure!(
        o.status.success(),
        "kubectl create pvc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let phase_of = |pv: &str| {
        lab.exec_ok(
            "m1",
            &[
                &kubectl[..],
                &["get", "pv", pv, "-o", "jsonpath={.status.phase}"],
            ]
            .concat(),
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while phase_of("nfs-pv1")?.trim() != "Bound" {
        anyhow::ensure!(std::time::Instant::now() < deadline, "nfs-pv1 never bound");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!("claim default/data bound to nfs-pv1");
    let heal = |phase: &str| {
        let mut c = Command::new(vnf_mgmt());
        c.args(["heal", "storage_server", "--phase", phase]);
        common(&mut c);
        c.arg("--known-hosts")
            .arg(lab.known_hosts())
            .arg("--state-dir")
            .arg(path("state"));
        c
    };
    let refused = heal("start").current_dir(repo_root()).status()?;
    anyhow::ensure!(!refused.success(), "heal started although nfs-pv1 is bound");
    println!("(refused as expected: {refused})");
    let pvs = lab.exec_ok("m1", &[&kubectl[..], &["get", "pv", "-o", "name"]].concat())?;
    anyhow::ensure!(
        pvs.contains("nfs-pv1") && pvs.contains("nfs-pv2"),
        "PVs changed: {pvs}"
    );

    step("the claim is gone: heal storage_server --phase start deletes the VNF's PVs");
    lab.exec_ok("m1", &[&kubectl[..], &["delete", "pvc", "data"]].concat())?;
    sh(&mut heal("start"))?;

    step("the orchestrator rebuilds the VM: same address, new host keys, volume re-attached");
    let sum = |lab: &Lab| lab.exec_ok("s1", &["sha256sum", "/volume/nfs/pv1/hello.txt"]);
    let before = sum(&lab)?;
    let s1_ip = lab.host("s1")?.ip;
    lab.remove_host("s1")?;
    lab.add_host(vnf_lab::HostSpec {
        name: "s1".into(),
        ip: Some(s1_ip),
        ..Default::default()
    })?;
    lab.attach_volume(VOLUME_ID, "s1")?;
    println!("s1 rebuilt at {s1_ip}; its new host keys are in the lab's known_hosts");

    step("heal storage_server --phase end: no mkfs on a volume with a filesystem, PVs again");
    sh(&mut heal("end"))?;
    let after = sum(&lab)?;
    anyhow::ensure!(before == after, "data changed across the heal");
    println!("s1: {}", after.trim());
    println!(
        "m1: kubectl get pv\n{}",
        lab.exec_ok("m1", &[&kubectl[..], &["get", "pv"]].concat())?
    );

    step("terminate: the orchestrator's access revoked (the exported token stops working)");
    sh(&mut run(&["terminate", "--phase", "start"]))?;
    anyhow::ensure!(
        kubectl_here(&["get", "nodes"]).is_err(),
        "the exported token still works after terminate"
    );
    sh(&mut run(&["terminate", "--phase", "end"]))?;

    step("tear down the lab");
    lab.down()?;
    println!("\nlab_demo: done");
    Ok(())
}

/// Re-runs this program with one more environment variable (the kube-emu fixture reads
/// it from the environment).
fn reexec_with(key: &str, value: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let st = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(key, value)
        .status()?;
    std::process::exit(st.code().unwrap_or(1));
}
