//! The kubeadm shim on loopback: three stacked-etcd masters (each a "host" under its own
//! KUBE_EMU_ROOT and ports), a worker, wrong tokens, failover, and the real etcdctl.

use kube_emu::harness::{EtcdMember, TempDir, free_port, kubectl};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

struct Host {
    name: &'static str,
    root: PathBuf,
    api: u16,
    etcd_client: u16,
    etcd_peer: u16,
}

impl Host {
    fn new(dir: &Path, name: &'static str) -> Host {
        Host {
            name,
            root: dir.join(name),
            api: free_port().unwrap(),
            etcd_client: free_port().unwrap(),
            etcd_peer: free_port().unwrap(),
        }
    }
    /// Run the shim as `kubeadm` (multi-call through a symlink), as this host.
    fn kubeadm(&self, bin: &Path, args: &[&str]) -> Output {
        Command::new(bin)
            .args(args)
            .env("KUBE_EMU_ROOT", &self.root)
            .env("KUBE_EMU_API_PORT", self.api.to_string())
            .env("KUBE_EMU_ETCD_CLIENT_PORT", self.etcd_client.to_string())
            .env("KUBE_EMU_ETCD_PEER_PORT", self.etcd_peer.to_string())
            .output()
            .unwrap()
    }
    fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.etcd_client)
    }
    fn admin_conf(&self) -> PathBuf {
        self.root.join("etc/kubernetes/admin.conf")
    }
    fn kill(&self) {
        for d in ["apiserver", "etcd"] {
            if let Ok(pid) =
                std::fs::read_to_string(self.root.join(format!("run/kube-emu/{d}.pid")))
            {
                let _ = Command::new("kill")
                    .args(["-9", pid.trim()])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoint)
        .args(args)
        .output()
        .unwrap()
}

/// kubectl against one master's own API endpoint (not the control-plane endpoint).
fn kubectl_at(h: &Host, args: &[&str], stdin: Option<&str>) -> Output {
    let mut a = vec![
        "--server".to_string(),
        format!("https://127.0.0.1:{}", h.api),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    kubectl(&h.admin_conf(), &a, stdin).unwrap()
}

fn after<'a>(out: &'a str, marker: &str) -> &'a str {
    out.split(marker)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
}

#[test]
fn three_masters_worker_failover_and_etcd_membership() {
    let dir = TempDir::new("kubeadm").unwrap();
    let bin = dir.path().join("kubeadm");
    std::os::unix::fs::symlink(kube_emu::harness::find_bin().unwrap(), &bin).unwrap();
    let m1 = Host::new(dir.path(), "m1");
    let m2 = Host::new(dir.path(), "m2");
    let m3 = Host::new(dir.path(), "m3");
    let w1 = Host::new(dir.path(), "w1");
    let endpoint = format!("127.0.0.1:{}", m1.api);

    // Bad arguments fail like kubeadm's validation.
    let bad = m1.kubeadm(
        &bin,
        &[
            "init",
            "--pod-network-cidr",
            "10.244.0.0/99",
            "--apiserver-advertise-address",
            "127.0.0.1",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("couldn't parse subnet"),
        "{}",
        text(&bad)
    );

    let init = ok(m1.kubeadm(
        &bin,
        &[
            "init",
            "--control-plane-endpoint",
            &endpoint,
            "--pod-network-cidr",
            "10.244.0.0/16",
            "--service-cidr",
            "10.96.0.0/12",
            "--upload-certs",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--node-name",
            "m1",
        ],
    ));
    assert!(init.contains("Your Kubernetes control-plane has initialized successfully!"));
    assert!(init.contains("[upload-certs] Using certificate key:\n"));
    let token = after(&init, "--token ").to_string();
    let hash = after(&init, "--discovery-token-ca-cert-hash ").to_string();
    let key1 = after(&init, "[upload-certs] Using certificate key:\n").to_string();
    assert_eq!(key1.len(), 64);
    assert!(hash.starts_with("sha256:") && hash.len() == 71);
    assert!(m1.root.join("etc/kubernetes/admin.conf").is_file());
    let ca = std::fs::read_to_string(m1.root.join("etc/kubernetes/pki/ca.crt")).unwrap();
    assert_eq!(kube_emu::pki::ca_cert_hash(&ca).unwrap(), hash);
    // A second init on the same host fails preflight.
    let again = m1.kubeadm(
        &bin,
        &[
            "init",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--node-name",
            "m1",
        ],
    );
    assert!(!again.status.success());
    assert!(
        text(&again)
            .contains("[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]"),
        "{}",
        text(&again)
    );

    let join_cp = |h: &Host, key: &str| {
        h.kubeadm(
            &bin,
            &[
                "join",
                &endpoint,
                "--token",
                &token,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--control-plane",
                "--certificate-key",
                key,
                "--apiserver-advertise-address",
                "127.0.0.1",
                "--node-name",
                h.name,
            ],
        )
    };
    let j2 = ok(join_cp(&m2, &key1));
    assert!(
        j2.contains(
            "This node has joined the cluster and a new control plane instance was created"
        )
    );
    // Re-uploading the certificates with a new key invalidates the old one.
    let up = ok(m1.kubeadm(&bin, &["init", "phase", "upload-certs", "--upload-certs"]));
    let key2 = after(&up, "[upload-certs] Using certificate key:\n").to_string();
    assert_ne!(key1, key2);
    let stale = join_cp(&m3, &key1);
    assert!(!stale.status.success());
    assert!(
        text(&stale).contains("message authentication failed"),
        "{}",
        text(&stale)
    );
    ok(join_cp(&m3, &key2));

    let members = ok(etcdctl(&m1.etcd_url(), &["member", "list"]));
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        3,
        "{members}"
    );

    // Workers: wrong token and wrong CA hash fail; the right ones join.
    let w = |tok: &str, h: &str| {
        w1.kubeadm(
            &bin,
            &[
                "join",
                &endpoint,
                "--token",
                tok,
                "--discovery-token-ca-cert-hash",
                h,
                "--apiserver-advertise-address",
                "127.0.0.1",
                "--node-name",
                "w1",
            ],
        )
    };
    let r = w("abcdef.0123456789abcdef", &hash);
    assert!(!r.status.success());
    assert!(
        text(&r).contains("couldn't validate the identity of the API Server"),
        "{}",
        text(&r)
    );
    let wrong_secret = format!("{}.0123456789abcdef", &token[..6]);
    let r = w(&wrong_secret, &hash);
    assert!(!r.status.success());
    assert!(
        text(&r).contains("failed to verify JWS signature"),
        "{}",
        text(&r)
    );
    let r = w(
        &token,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    assert!(!r.status.success());
    assert!(
        text(&r).contains("not signed by any of the public keys pinned"),
        "{}",
        text(&r)
    );
    let r = w("not-a-token", &hash);
    assert!(!r.status.success());
    // A fresh token from `token create --print-join-command` works.
    let cmd = ok(m2.kubeadm(&bin, &["token", "create", "--print-join-command"]));
    assert!(
        cmd.starts_with(&format!("kubeadm join {endpoint} --token ")),
        "{cmd}"
    );
    let new_token = after(&cmd, "--token ").to_string();
    assert_ne!(new_token, token);
    let wj = ok(w(
        &new_token,
        after(&cmd, "--discovery-token-ca-cert-hash "),
    ));
    assert!(wj.contains("This node has joined the cluster:"));
    let nodes = ok(kubectl_at(
        &m1,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}:{.metadata.labels.node-role\\.kubernetes\\.io/control-plane}:{.status.conditions[-1:].type}={.status.conditions[-1:].status} {end}",
        ],
        None,
    ));
    assert_eq!(
        nodes.trim(),
        "m1::Ready=True m2::Ready=True m3::Ready=True w1::Ready=True",
        "{nodes}"
    );

    // Lose m1 entirely (its etcd member and API server): m2 and m3 keep serving.
    let pv = r#"{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv1"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteMany"],"nfs":{"server":"198.18.0.10","path":"/volume/a"}}}"#;
    ok(kubectl_at(
        &m1,
        &["create", "--validate=false", "-f", "-"],
        Some(pv),
    ));
    m1.kill();
    let pvc = r#"{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c1","namespace":"default"},"spec":{"accessModes":["ReadWriteMany"],"resources":{"requests":{"storage":"1Gi"}}}}"#;
    ok(kubectl_at(
        &m2,
        &["create", "--validate=false", "-f", "-"],
        Some(pvc),
    ));
    assert_eq!(
        ok(kubectl_at(
            &m3,
            &["get", "pv", "pv1", "-o", "jsonpath={.status.phase}"],
            None
        )),
        "Bound"
    );
    assert!(!kubectl_at(&m1, &["get", "nodes"], None).status.success());

    // Replace the lost member with the real etcdctl: remove, add, start it empty.
    let list = ok(etcdctl(&m2.etcd_url(), &["member", "list"]));
    let m1_id = list
        .lines()
        .find(|l| l.contains(", m1,"))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    ok(etcdctl(&m2.etcd_url(), &["member", "remove", &m1_id]));
    assert_eq!(
        ok(etcdctl(&m2.etcd_url(), &["member", "list"]))
            .lines()
            .count(),
        2
    );
    let peer = format!("http://127.0.0.1:{}", m1.etcd_peer);
    let mut add = None;
    for _ in 0..40 {
        let o = etcdctl(
            &m2.etcd_url(),
            &["member", "add", "m1", &format!("--peer-urls={peer}")],
        );
        if o.status.success() {
            add = Some(String::from_utf8_lossy(&o.stdout).into_owned());
            break;
        }
        assert!(text(&o).contains("unhealthy cluster"), "{}", text(&o));
        std::thread::sleep(Duration::from_millis(500));
    }
    let add = add.expect("member add");
    let initial = after(&add, "ETCD_INITIAL_CLUSTER=\"")
        .trim_end_matches('"')
        .to_string();
    let mut fresh = EtcdMember::start(
        "m1",
        "127.0.0.1",
        &dir.path().join("m1-new-etcd"),
        Some(&initial),
        "existing",
        (m1.etcd_client, m1.etcd_peer),
    )
    .unwrap();
    fresh.wait_ready(Duration::from_secs(30)).unwrap();
    let members = ok(etcdctl(&m2.etcd_url(), &["member", "list"]));
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        3,
        "{members}"
    );
    // The new member has the data.
    let keys = ok(etcdctl(
        &m1.etcd_url(),
        &[
            "get",
            "--prefix",
            "/registry/persistentvolumeclaims/",
            "--keys-only",
        ],
    ));
    assert!(
        keys.contains("/registry/persistentvolumeclaims/default/c1"),
        "{keys}"
    );
    // Snapshot with the real tool.
    let snap = dir.path().join("snap.db");
    ok(etcdctl(
        &m2.etcd_url(),
        &["snapshot", "save", snap.to_str().unwrap()],
    ));
    let status = ok(etcdctl(
        &m2.etcd_url(),
        &["snapshot", "status", snap.to_str().unwrap(), "-w", "json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(v["totalKey"].as_i64().unwrap() > 10, "{status}");
    drop(fresh);

    // reset -f on the worker removes its files.
    ok(w1.kubeadm(&bin, &["reset", "-f"]));
    assert!(!w1.root.join("etc/kubernetes/kubelet.conf").exists());
}
