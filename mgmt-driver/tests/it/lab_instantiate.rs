//! `vnf-mgmt plan` / `vnf-mgmt instantiate` (storage part) end to end on real lab hosts:
//! sshd, sudo, SFTP, a loop-device "Cinder" volume and userspace NFS (vnf-lab).

use crate::util::{SAMPLE_PKG, repo_root, show, vnf_mgmt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use vnf_lab::{Lab, LabSpec};

pub(crate) const VOL: &str = "0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11";
pub(crate) const SENTINEL: &str = "Sentinel-Pw-7f3a9c";
pub(crate) const EXPORTS: [&str; 2] = ["/volume/nfs/pv1", "/volume/nfs/pv2"];

pub(crate) struct Setup {
    pub(crate) lab: Lab,
    dir: tempfile::TempDir,
    with_master: bool,
}

impl Setup {
    fn up() -> Setup {
        Setup::up_with(false)
    }

    /// Storage host s1 (with a volume), worker w1 and, `with_master`, master m1.
    pub(crate) fn up_with(with_master: bool) -> Setup {
        Setup::up_with_key(with_master, None)
    }

    /// Like [`Setup::up_with`], authorizing `key` (an OpenSSH public key) on every host.
    fn up_with_key(with_master: bool, key: Option<&str>) -> Setup {
        let mut spec = LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .host("w1")
            .password(SENTINEL);
        if let Some(k) = key {
            spec = spec.authorized_key(k);
        }
        if with_master {
            spec = spec.host("m1");
        }
        let lab = Lab::up(spec.build()).expect("lab up");
        // Make sudo on the storage host ask for the password: the executor must give
        // it on stdin (never in argv).
        lab.exec_ok(
            "s1",
            &["sed", "-i", "s/NOPASSWD://", "/etc/sudoers.d/90-vnf-lab"],
        )
        .expect("sudo with password");
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Setup {
            lab,
            dir,
            with_master,
        };
        s.write_inventory();
        s.write_request("request.json", SENTINEL);
        std::fs::copy(s.lab.known_hosts(), s.path("known_hosts")).expect("copy known_hosts");
        s
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write_inventory(&self) {
        let s1 = self.lab.host("s1").expect("s1").ip;
        let w1 = self.lab.host("w1").expect("w1").ip;
        let mut inv = format!(
            "format_version: 1\nhosts:\n  - name: s1\n    role: storage\n    ssh: {s1}\n    ports: {{storage_server_CP: {s1}}}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}, device: /dev/vdb}}\n  - name: w1\n    role: worker\n    ssh: {w1}\n    ports: {{workerNode_CP2: {w1}}}\n"
        );
        if self.with_master {
            let m1 = self.lab.host("m1").expect("m1").ip;
            inv.push_str(&format!(
                "  - name: m1\n    role: master\n    ssh: {m1}\n    ports: {{masterNode_CP1: {m1}}}\n"
            ));
        }
        std::fs::write(self.path("inventory.yaml"), inv).expect("write inventory");
    }

    fn write_request(&self, name: &str, password: &str) {
        let text = std::fs::read_to_string(
            repo_root().join("samples/requests/instantiate_simple_pv.json"),
        )
        .expect("sample request");
        let mut r: serde_json::Value = serde_json::from_str(&text).expect("sample request JSON");
        let (net, len) = self.lab.subnet();
        let p = &mut r["additionalParams"]["k8s_cluster_installation_param"];
        for k in ["master_node", "worker_node", "storage_server"] {
            p[k]["password"] = password.into();
        }
        if let Some(o) = p.as_object_mut() {
            o.remove("proxy");
        }
        for e in p["storage_server"]["nfs_server_setup_params"]
            .as_array_mut()
            .expect("exports")
        {
            e["export_to"] = format!("{net}/{len}").into();
        }
        std::fs::write(
            self.path(name),
            serde_json::to_vec_pretty(&r).expect("json"),
        )
        .expect("write request");
    }

    pub(crate) fn instantiate_cmd(&self, request: &str, extra: &[&str]) -> Command {
        let mut c = vnf_mgmt();
        c.arg("instantiate")
            .arg(SAMPLE_PKG)
            .arg("-r")
            .arg(self.path(request))
            .arg("-i")
            .arg(self.path("inventory.yaml"))
            .args([
                "--vnf-instance-id",
                "vnf-lab-1",
                "--no-digests",
                "--connect-timeout",
                "5",
            ])
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--events")
            .arg(self.path("events.jsonl"))
            .args(extra);
        if !self.with_master {
            // No cluster here: the storage part only (PVs: see the kube-emu test).
            c.arg("--skip-pv-registration");
        }
        c
    }

    pub(crate) fn known_hosts_args(&self) -> Vec<String> {
        vec![
            "--known-hosts".into(),
            self.path("known_hosts").display().to_string(),
        ]
    }

    pub(crate) fn events(&self) -> String {
        std::fs::read_to_string(self.path("events.jsonl")).unwrap_or_default()
    }

    pub(crate) fn s1(&self, argv: &[&str]) -> String {
        self.lab.exec_ok("s1", argv).expect("exec on s1")
    }

    pub(crate) fn uuid(&self) -> String {
        self.s1(&["blkid", "-o", "value", "-s", "UUID", "/dev/vdb"])
            .trim()
            .to_string()
    }

    /// Nothing was changed on the storage host: no filesystem, no exports block, no
    /// uploaded scripts.
    fn assert_untouched(&self) {
        let fs = self.lab.exec("s1", &["blkid", "/dev/vdb"]).expect("blkid");
        assert!(
            fs.stdout.is_empty(),
            "volume got a filesystem: {}",
            String::from_utf8_lossy(&fs.stdout)
        );
        let exports = self.s1(&["sh", "-c", "cat /etc/exports 2>/dev/null || true"]);
        assert!(!exports.contains("vnf-mgmt"), "{exports}");
        let home = self.s1(&["sh", "-c", "ls -a ~ubuntu"]);
        assert!(!home.contains(".vnf-mgmt"), "{home}");
    }
}

pub(crate) fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("vnf-mgmt runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    o
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every process command line on a host, NUL-separated words joined by spaces.
pub(crate) fn cmdlines(lab: &Lab, host: &str) -> String {
    lab.exec(
        host,
        &[
            "sh",
            "-c",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <\"$f\" 2>/dev/null; echo; done",
        ],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    .unwrap_or_default()
}

#[test]
fn instantiate_storage_serves_exports_and_rerun_keeps_data() {
    let s = Setup::up();
    let s1 = s.lab.host("s1").expect("s1").ip;
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();

    // The run, while watching every process argv on both hosts for the password.
    let mut child = s
        .instantiate_cmd("request.json", &kh)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vnf-mgmt");
    let mut seen = String::new();
    let mut polls = 0;
    while child.try_wait().expect("wait").is_none() {
        seen.push_str(&cmdlines(&s.lab, "s1"));
        seen.push_str(&cmdlines(&s.lab, "w1"));
        polls += 1;
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        polls > 0 && seen.contains("sshd"),
        "the argv scan saw the hosts' processes"
    );
    assert!(
        !seen.contains(SENTINEL),
        "the password appeared in a process argv on a host"
    );
    assert!(!text(&out).contains(SENTINEL), "{}", show(&out));
    let events = s.events();
    assert!(!events.contains(SENTINEL));
    assert!(events.lines().count() > 5, "{events}");
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("event is JSON");
        assert_eq!(v["type"], "event");
        assert_eq!(v["operation"], "instantiate");
    }
    assert!(
        events.contains("\"step\":\"s1/volume/storage_server_volume\""),
        "{events}"
    );

    // Mounted by UUID in fstab, exported, and served over NFS to the worker.
    let uuid = s.uuid();
    assert!(!uuid.is_empty());
    let fstab = s.s1(&["cat", "/etc/fstab"]);
    assert!(
        fstab.contains(&format!("UUID={uuid} /volume ext4")),
        "{fstab}"
    );
    for (i, export) in EXPORTS.iter().enumerate() {
        let data = format!("written from w1 into export {i}\n");
        s.lab
            .nfs_write("w1", s1, export, "probe.txt", data.as_bytes())
            .expect("NFS write from the worker");
        let back = s.s1(&["cat", &format!("{export}/probe.txt")]);
        assert_eq!(back, data, "{export}");
    }
    let exports = s.s1(&["cat", "/etc/exports"]);
    assert_eq!(
        exports.matches("# BEGIN vnf-mgmt exports").count(),
        1,
        "{exports}"
    );

    // Re-run: a no-op that keeps the filesystem and the data.
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    assert!(!text(&o).contains(SENTINEL));
    assert_eq!(s.uuid(), uuid, "the re-run must not reformat");
    assert_eq!(
        s.s1(&["cat", "/volume/nfs/pv1/probe.txt"]),
        "written from w1 into export 0\n"
    );
    let exports2 = s.s1(&["cat", "/etc/exports"]);
    assert_eq!(
        exports2, exports,
        "the exports block is rewritten identically"
    );
    let fstab2 = s.s1(&["cat", "/etc/fstab"]);
    assert_eq!(fstab2, fstab);
    assert!(s.path("state/vnf-lab-1/instantiate.done.json").exists());
}

#[test]
fn wrong_password_is_an_auth_error_before_any_change() {
    let s = Setup::up();
    s.write_request("wrong.json", "not-the-password");
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    let o = s.instantiate_cmd("wrong.json", &kh).output().expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(t.contains("driver.ssh.auth_failed"), "{t}");
    assert!(t.contains("host s1") || t.contains("host w1"), "{t}");
    assert!(!t.contains("not-the-password"), "{t}");
    assert!(!s.events().contains("not-the-password"));
    s.assert_untouched();
}

#[test]
fn changed_host_key_is_refused_and_unknown_needs_trust_on_first_use() {
    let s = Setup::up();
    let s1 = s.lab.host("s1").expect("s1");
    let w1 = s.lab.host("w1").expect("w1");
    // s1's address with w1's keys: exactly what a changed host key looks like.
    let kh = s.path("changed_known_hosts");
    std::fs::write(
        &kh,
        format!(
            "{ip} {}\n{ip} {}\n{wip} {}\n",
            w1.host_keys.ed25519,
            w1.host_keys.ecdsa,
            w1.host_keys.ed25519,
            ip = s1.ip,
            wip = w1.ip
        ),
    )
    .expect("write known_hosts");
    let o = s
        .instantiate_cmd(
            "request.json",
            &["--known-hosts", &kh.display().to_string()],
        )
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(
        t.contains("driver.ssh.host_key_mismatch") && t.contains("host s1"),
        "{t}"
    );
    s.assert_untouched();

    // Changed keys are refused even with trust-on-first-use.
    let o = s
        .instantiate_cmd(
            "request.json",
            &[
                "--known-hosts",
                &kh.display().to_string(),
                "--trust-on-first-use",
            ],
        )
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(text(&o).contains("driver.ssh.host_key_mismatch"));

    // Unknown keys: refused without the opt-in, recorded with it.
    let fresh = s.path("fresh_known_hosts");
    let o = s
        .instantiate_cmd(
            "request.json",
            &["--known-hosts", &fresh.display().to_string()],
        )
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        text(&o).contains("driver.ssh.host_key_unknown"),
        "{}",
        show(&o)
    );
    s.assert_untouched();
    let o = run_ok(&mut s.instantiate_cmd(
        "request.json",
        &[
            "--known-hosts",
            &fresh.display().to_string(),
            "--trust-on-first-use",
        ],
    ));
    assert!(
        text(&o).contains("trusted the host key of s1 on first use"),
        "{}",
        show(&o)
    );
    let recorded = std::fs::read_to_string(&fresh).expect("known_hosts written");
    assert!(
        recorded.contains(&format!("{} ", s1.ip))
            && [&s1.host_keys.ed25519, &s1.host_keys.ecdsa]
                .iter()
                .any(|k| recorded.contains(k.split_whitespace().nth(1).unwrap_or("-"))),
        "{recorded}"
    );
    assert!(s.events().contains("trust_on_first_use"));
}

#[test]
fn lost_connection_names_host_and_step_and_rerun_resumes() {
    let s = Setup::up();
    // A mkfs.ext4 that waits for a go signal, so the connection can be cut mid-step.
    let shim_dir = tempfile::tempdir().expect("tempdir");
    let shim = shim_dir.path().join("mkfs.ext4");
    std::fs::write(
        &shim,
        "#!/bin/sh\necho $$ > /tmp/mkfs-shim.pid\nwhile [ ! -e /tmp/mkfs-go ]; do sleep 0.1; done\nexec /sbin/mkfs.ext4 \"$@\"\n",
    )
    .expect("write shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod shim");
    s.lab.add_shim(Some("s1"), &shim).expect("add shim");

    let kh = s.known_hosts_args();
    let mut args: Vec<&str> = kh.iter().map(String::as_str).collect();
    args.extend(["--attempts", "1"]);
    let child = s
        .instantiate_cmd("request.json", &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until mkfs is blocked inside the step (or vnf-mgmt ended early: a failure).
    let mut child = child;
    loop {
        let o = s
            .lab
            .exec("s1", &["cat", "/tmp/mkfs-shim.pid"])
            .expect("exec");
        if o.status.success() {
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!("vnf-mgmt ended before mkfs ran: {}", show(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Kill the SSH session's sshd processes (by pid) and the blocked shim.
    let pids = s.s1(&["pgrep", "-f", "^sshd: ubuntu"]);
    assert!(!pids.trim().is_empty(), "an SSH session to s1 is open");
    let shim_pid = s.s1(&["cat", "/tmp/mkfs-shim.pid"]);
    let mut kill = vec!["kill", "-9", shim_pid.trim()];
    kill.extend(pids.split_whitespace());
    s.s1(&kill);
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let t = text(&out);
    assert!(t.contains("host s1"), "{t}");
    assert!(t.contains("step s1/volume/storage_server_volume"), "{t}");
    assert!(!t.contains(SENTINEL));
    assert!(s.path("state/vnf-lab-1/instantiate.journal.json").exists());

    // Re-run: completed steps are skipped, the rest runs, the exports are served.
    s.s1(&["touch", "/tmp/mkfs-go"]);
    let o = run_ok(&mut s.instantiate_cmd(
        "request.json",
        &kh.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let t = text(&o);
    assert!(t.contains("s1/upload/lib.sh already done, skipped"), "{t}");
    assert!(t.contains("s1/volume/storage_server_volume ok"), "{t}");
    let s1 = s.lab.host("s1").expect("s1").ip;
    s.lab
        .nfs_write("w1", s1, EXPORTS[1], "after-resume.txt", b"ok\n")
        .expect("NFS write");
    assert_eq!(s.s1(&["cat", "/volume/nfs/pv2/after-resume.txt"]), "ok\n");
}

#[test]
fn plan_json_is_deterministic_and_secret_free() {
    let s = Setup::up();
    let plan = |format: &str| {
        let o = vnf_mgmt()
            .arg("plan")
            .arg("instantiate")
            .arg(SAMPLE_PKG)
            .arg("-r")
            .arg(s.path("request.json"))
            .arg("-i")
            .arg(s.path("inventory.yaml"))
            .args([
                "--vnf-instance-id",
                "vnf-lab-1",
                "--no-digests",
                "--format",
                format,
                "--skip-pv-registration",
            ])
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        o.stdout
    };
    let a = plan("json");
    let b = plan("json");
    assert_eq!(a, b, "same inputs, byte-identical plan");
    let t = String::from_utf8_lossy(&a);
    assert!(!t.contains(SENTINEL), "{t}");
    let v: serde_json::Value = serde_json::from_slice(&a).expect("plan JSON");
    assert_eq!(v["format_version"], 1);
    let ids: Vec<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "s1/upload/lib.sh",
            "s1/upload/storage_volume.sh",
            "s1/upload/nfs_server.sh",
            "s1/volume/storage_server_volume",
            "s1/nfs-exports",
            "w1/upload/lib.sh",
            "w1/upload/nfs_client.sh",
            "w1/nfs-client"
        ]
    );
    let text_plan = String::from_utf8_lossy(&plan("text")).into_owned();
    assert!(!text_plan.contains(SENTINEL));
    assert!(
        text_plan.contains("password <storage_server.password>"),
        "{text_plan}"
    );
    // Nothing was contacted by planning.
    s.assert_untouched();
}

/// An invalid request is rejected before any connection: the inventory points at a
/// local listener that must see no connection at all.
#[test]
fn bad_request_is_rejected_before_any_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv.yaml");
    std::fs::write(
        &inv,
        format!(
            "format_version: 1\nhosts:\n  - name: s1\n    role: storage\n    ssh: 127.0.0.1\n    ssh_port: {port}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}}}\n"
        ),
    )
    .expect("write inventory");
    let case = repo_root().join("samples/invalid/req-export-dir-metachar");
    let req = case.join("request.json");
    let o = vnf_mgmt()
        .arg("instantiate")
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(&req)
        .arg("-i")
        .arg(&inv)
        .args(["--vnf-instance-id", "x", "--no-digests"])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o).contains("request.value.unsafe_chars"),
        "{}",
        show(&o)
    );
    assert!(
        listener.accept().is_err(),
        "vnf-mgmt connected although the request is invalid"
    );
    assert!(!dir.path().join("state").exists());
}

/// The kube-emu binary the fixture runs on the masters (built on demand).
pub(crate) fn ensure_kube_emu_bin() {
    if kube_emu::harness::find_bin().is_ok() {
        return;
    }
    let st = Command::new(env!("CARGO"))
        .args(["build", "-p", "kube-emu", "--bin", "kube-emu"])
        .current_dir(repo_root())
        .status()
        .expect("run cargo build -p kube-emu");
    assert!(st.success(), "cargo build -p kube-emu failed");
    kube_emu::harness::find_bin().expect("kube-emu binary after building it");
}

#[test]
fn instantiate_registers_persistent_volumes_on_the_cluster() {
    ensure_kube_emu_bin();
    let s = Setup::up_with(true);
    let _cluster =
        kube_emu::fixture::kubeadm_cluster(&s.lab, &["m1"], &["w1"]).expect("kubeadm cluster");
    let s1 = s.lab.host("s1").expect("s1").ip;
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    let t = text(&o);
    assert!(!t.contains(SENTINEL), "{t}");
    assert!(t.contains("m1/pv/nfs-pv1 ok"), "{t}");
    for (name, export) in [("nfs-pv1", EXPORTS[0]), ("nfs-pv2", EXPORTS[1])] {
        let json = s
            .lab
            .exec_ok(
                "m1",
                &[
                    "kubectl",
                    "--kubeconfig",
                    "/etc/kubernetes/admin.conf",
                    "get",
                    "pv",
                    name,
                    "-o",
                    "json",
                ],
            )
            .expect("kubectl get pv");
        let pv: serde_json::Value = serde_json::from_str(&json).expect("PV JSON");
        assert_eq!(pv["spec"]["nfs"]["server"], s1.to_string(), "{json}");
        assert_eq!(pv["spec"]["nfs"]["path"], export, "{json}");
        assert_eq!(pv["status"]["phase"], "Available", "{json}");
        let labels = &pv["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "vnf-mgmt", "{json}");
        assert_eq!(labels["vnf-mgmt.io/vnf-instance-id"], "vnf-lab-1", "{json}");
    }
    // Re-run: server-side apply again, same result.
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    assert!(text(&o).contains("m1/pv/nfs-pv2 ok"), "{}", show(&o));
    assert!(!s.events().contains(SENTINEL));
}

/// Edits the request's `k8s_cluster_installation_param` in place.
fn edit_request(s: &Setup, name: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let path = s.path(name);
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read request")).expect("JSON");
    f(&mut r["additionalParams"]["k8s_cluster_installation_param"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&r).expect("json")).expect("write request");
}

#[test]
fn key_auth_is_used_and_force_format_reformats() {
    let keys = tempfile::tempdir().expect("tempdir");
    let kp = vnf_lab::generate_keypair(keys.path(), "driver").expect("keypair");
    let s = Setup::up_with_key(false, Some(&kp.public_key));
    let key = kp.private_key.display().to_string();
    edit_request(&s, "request.json", |p| {
        // The worker has only a key: login can only succeed by key (sudo is NOPASSWD).
        if let Some(w) = p["worker_node"].as_object_mut() {
            w.remove("password");
            w.insert("ssh_private_key_path".into(), key.clone().into());
        }
        // The storage server logs in by key; its password is kept for sudo.
        p["storage_server"]["ssh_private_key_path"] = key.clone().into();
    });
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    assert!(!text(&o).contains(SENTINEL));
    let uuid = s.uuid();
    s.s1(&["touch", "/volume/nfs/pv1/keep-me"]);

    // Reformatting only on explicit request.
    edit_request(&s, "request.json", |p| {
        p["storage_server"]["cinder_volume_setup_params"][0]["force_format"] = true.into();
    });
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    assert!(
        text(&o).contains("s1/volume/storage_server_volume ok"),
        "{}",
        show(&o)
    );
    assert_ne!(s.uuid(), uuid, "force_format makes a new filesystem");
    let gone = s
        .lab
        .exec("s1", &["test", "-e", "/volume/nfs/pv1/keep-me"])
        .expect("exec");
    assert!(
        !gone.status.success(),
        "the old data is gone after reformatting"
    );
    // The exports were recreated on the new filesystem and are served.
    let s1 = s.lab.host("s1").expect("s1").ip;
    s.lab
        .nfs_write("w1", s1, EXPORTS[0], "new.txt", b"new fs\n")
        .expect("NFS write after reformat");
}

#[test]
fn a_hanging_step_times_out_with_host_and_step() {
    let s = Setup::up();
    let shim_dir = tempfile::tempdir().expect("tempdir");
    let shim = shim_dir.path().join("mkfs.ext4");
    std::fs::write(&shim, "#!/bin/sh\nwhile :; do sleep 1; done\n").expect("write shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod shim");
    s.lab.add_shim(Some("s1"), &shim).expect("add shim");
    let kh = s.known_hosts_args();
    let mut args: Vec<&str> = kh.iter().map(String::as_str).collect();
    args.extend(["--script-timeout", "2"]);
    let o = s
        .instantiate_cmd("request.json", &args)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(t.contains("driver.step.timeout"), "{t}");
    assert!(
        t.contains("host s1, step s1/volume/storage_server_volume"),
        "{t}"
    );
    let events = s.events();
    assert!(events.contains("\"outcome\":\"failed\""), "{events}");
}

#[test]
fn ctrl_c_cancels_before_the_next_step_and_rerun_resumes() {
    let s = Setup::up();
    let shim_dir = tempfile::tempdir().expect("tempdir");
    let shim = shim_dir.path().join("mkfs.ext4");
    std::fs::write(
        &shim,
        "#!/bin/sh\necho $$ > /tmp/mkfs-shim.pid\nwhile [ ! -e /tmp/mkfs-go ]; do sleep 0.1; done\nexec /sbin/mkfs.ext4 \"$@\"\n",
    )
    .expect("write shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod shim");
    s.lab.add_shim(Some("s1"), &shim).expect("add shim");
    let kh = s.known_hosts_args();
    let plan_out = s.path("executed-plan.json").display().to_string();
    let mut args: Vec<&str> = kh.iter().map(String::as_str).collect();
    args.extend(["--plan-out", &plan_out]);
    let mut child = s
        .instantiate_cmd("request.json", &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    loop {
        let o = s
            .lab
            .exec("s1", &["cat", "/tmp/mkfs-shim.pid"])
            .expect("exec");
        if o.status.success() {
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!("vnf-mgmt ended before mkfs ran: {}", show(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    // Let the running step finish; the next one must not start.
    s.s1(&["touch", "/tmp/mkfs-go"]);
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let t = text(&out);
    assert!(t.contains("driver.exec.cancelled"), "{t}");
    assert!(t.contains("s1/volume/storage_server_volume ok"), "{t}");
    let exports = s.s1(&["sh", "-c", "cat /etc/exports 2>/dev/null || true"]);
    assert!(!exports.contains("vnf-mgmt"), "{exports}");

    // The executed plan is exactly what `vnf-mgmt plan` prints for the same inputs.
    let printed = vnf_mgmt()
        .arg("plan")
        .arg("instantiate")
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(s.path("request.json"))
        .arg("-i")
        .arg(s.path("inventory.yaml"))
        .args([
            "--vnf-instance-id",
            "vnf-lab-1",
            "--no-digests",
            "--skip-pv-registration",
            "--format",
            "json",
        ])
        .output()
        .expect("plan runs");
    assert_eq!(
        std::fs::read(s.path("executed-plan.json")).expect("plan written"),
        printed.stdout
    );

    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    let o = run_ok(&mut s.instantiate_cmd("request.json", &kh));
    let t = text(&o);
    assert!(
        t.contains("s1/volume/storage_server_volume already done, skipped"),
        "{t}"
    );
    assert!(t.contains("s1/nfs-exports ok"), "{t}");
}

#[test]
fn host_keys_pinned_in_the_inventory_are_enforced() {
    let s = Setup::up();
    let s1 = s.lab.host("s1").expect("s1");
    let w1 = s.lab.host("w1").expect("w1");
    let inv = std::fs::read_to_string(s.path("inventory.yaml")).expect("inventory");
    let pin = |inv: &str, host: &str, keys: &vnf_lab::HostKeys| {
        inv.replace(
            &format!("  - name: {host}\n"),
            &format!(
                "  - name: {host}\n    host_keys: [\"{}\", \"{}\"]\n",
                keys.ed25519, keys.ecdsa
            ),
        )
    };
    // Correct pins: no known_hosts file needed.
    let good = pin(&pin(&inv, "s1", &s1.host_keys), "w1", &w1.host_keys);
    std::fs::write(s.path("inventory.yaml"), &good).expect("write");
    run_ok(&mut s.instantiate_cmd("request.json", &[]));
    // s1 pinned to w1's keys: refused, even with a known_hosts file that would match.
    let bad = pin(&pin(&inv, "s1", &w1.host_keys), "w1", &w1.host_keys);
    std::fs::write(s.path("inventory.yaml"), &bad).expect("write");
    let kh = s.known_hosts_args();
    let kh: Vec<&str> = kh.iter().map(String::as_str).collect();
    let o = s
        .instantiate_cmd("request.json", &kh)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let t = text(&o);
    assert!(
        t.contains("driver.ssh.host_key_mismatch") && t.contains("host s1"),
        "{t}"
    );
    assert!(t.contains("pinned"), "{t}");
}
