//! kubeadm shim on real lab hosts (network namespaces with sshd, `/opt/vnf-lab/bin` first
//! in PATH): three stacked-etcd masters, a worker, a master killed like a VM dying, the
//! dead etcd member removed with the real etcdctl, and a replacement master joining.
//! Every command runs inside a lab host; nothing leaves the lab's bridge.

use kube_emu::harness::TempDir;
use vnf_lab::{HostSpec, Lab, LabSpec};

fn run(lab: &Lab, host: &str, argv: &[&str]) -> (bool, String) {
    let o = lab.exec(host, argv).unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn ok(lab: &Lab, host: &str, argv: &[&str]) -> String {
    let (good, out) = run(lab, host, argv);
    assert!(good, "{host}: {argv:?} failed:\n{out}");
    out
}

fn after<'a>(out: &'a str, marker: &str) -> &'a str {
    out.split(marker)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
}

fn shim_dir() -> TempDir {
    let d = TempDir::new("shims").unwrap();
    let bin = kube_emu::harness::find_bin().unwrap();
    // Same layout as `fixture::install_shims`: the binary, and the tools linked to it.
    std::os::unix::fs::symlink(&bin, d.path().join("kube-emu")).unwrap();
    for name in ["kubeadm", "k3s"] {
        std::os::unix::fs::symlink("kube-emu", d.path().join(name)).unwrap();
    }
    d
}

#[test]
fn kubeadm_masters_on_lab_hosts_survive_losing_one() {
    let shims = shim_dir();
    let lab = Lab::up(
        LabSpec::builder()
            .host("m1")
            .host("m2")
            .host("m3")
            .host("w1")
            .shim_dir(shims.path())
            .build(),
    )
    .unwrap();
    let ip = |h: &str| lab.host(h).unwrap().ip.to_string();
    let (m1, m2, m3) = (ip("m1"), ip("m2"), ip("m3"));
    let endpoint = format!("{m1}:6443");
    assert_eq!(
        ok(&lab, "m1", &["sh", "-c", "command -v kubeadm"]).trim(),
        "/opt/vnf-lab/bin/kubeadm"
    );

    let init = ok(
        &lab,
        "m1",
        &[
            "kubeadm",
            "init",
            "--control-plane-endpoint",
            &endpoint,
            "--pod-network-cidr",
            "10.244.0.0/16",
            "--upload-certs",
        ],
    );
    assert!(
        init.contains("Your Kubernetes control-plane has initialized successfully!"),
        "{init}"
    );
    let token = after(&init, "--token ").to_string();
    let hash = after(&init, "--discovery-token-ca-cert-hash ").to_string();
    let key = after(&init, "[upload-certs] Using certificate key:\n").to_string();
    // The real files, at the real paths, inside the host only.
    ok(&lab, "m1", &["test", "-s", "/etc/kubernetes/admin.conf"]);
    ok(&lab, "m1", &["test", "-s", "/etc/kubernetes/pki/ca.crt"]);
    assert!(
        !std::path::Path::new("/etc/kubernetes/pki/ca.crt").exists()
            || std::fs::read_to_string("/etc/kubernetes/pki/ca.crt").unwrap()
                != ok(&lab, "m1", &["cat", "/etc/kubernetes/pki/ca.crt"])
    );

    for h in ["m2", "m3"] {
        let out = ok(
            &lab,
            h,
            &[
                "kubeadm",
                "join",
                &endpoint,
                "--token",
                &token,
                "--discovery-token-ca-cert-hash",
                &hash,
                "--control-plane",
                "--certificate-key",
                &key,
            ],
        );
        assert!(
            out.contains("a new control plane instance was created"),
            "{out}"
        );
    }
    let (good, out) = run(
        &lab,
        "w1",
        &[
            "kubeadm",
            "join",
            &endpoint,
            "--token",
            "abcdef.0123456789abcdef",
            "--discovery-token-ca-cert-hash",
            &hash,
        ],
    );
    assert!(!good, "{out}");
    assert!(
        out.contains("couldn't validate the identity of the API Server"),
        "{out}"
    );
    let out = ok(
        &lab,
        "w1",
        &[
            "kubeadm",
            "join",
            &endpoint,
            "--token",
            &token,
            "--discovery-token-ca-cert-hash",
            &hash,
        ],
    );
    assert!(out.contains("This node has joined the cluster:"), "{out}");

    let kubectl = |host: &str, server: &str, args: &[&str]| {
        let mut a = vec![
            "kubectl",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            "--server",
        ];
        let s = format!("https://{server}:6443");
        a.push(&s);
        a.extend_from_slice(args);
        run(&lab, host, &a)
    };
    let (good, nodes) = kubectl(
        "m2",
        &m2,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.addresses[0].address} {end}",
        ],
    );
    assert!(good, "{nodes}");
    assert_eq!(
        nodes.trim(),
        format!("m1={m1} m2={m2} m3={m3} w1={}", ip("w1"))
    );
    let members = ok(
        &lab,
        "m2",
        &[
            "etcdctl",
            "--endpoints",
            "http://127.0.0.1:2379",
            "member",
            "list",
        ],
    );
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        3,
        "{members}"
    );

    // m1 dies like a VM: its etcd member and API server go with it.
    lab.kill_host("m1").unwrap();
    let pv = r#"{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-after-loss"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteMany"],"nfs":{"server":"198.18.0.10","path":"/volume/a"}}}"#;
    let o = lab
        .exec_input(
            "m2",
            &[
                "kubectl",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "--server",
                &format!("https://{m2}:6443"),
                "create",
                "--validate=false",
                "-f",
                "-",
            ],
            pv.as_bytes(),
        )
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (good, phase) = kubectl(
        "m3",
        &m3,
        &[
            "get",
            "pv",
            "pv-after-loss",
            "-o",
            "jsonpath={.status.phase}",
        ],
    );
    assert!(good && phase == "Available", "{phase}");

    // Remove the dead member with the real etcdctl, then a replacement m1 joins.
    let list = ok(
        &lab,
        "m2",
        &[
            "etcdctl",
            "--endpoints",
            "http://127.0.0.1:2379",
            "member",
            "list",
        ],
    );
    let id = list
        .lines()
        .find(|l| l.contains(", m1,"))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    ok(
        &lab,
        "m2",
        &[
            "etcdctl",
            "--endpoints",
            "http://127.0.0.1:2379",
            "member",
            "remove",
            &id,
        ],
    );
    assert_eq!(
        ok(
            &lab,
            "m2",
            &[
                "etcdctl",
                "--endpoints",
                "http://127.0.0.1:2379",
                "member",
                "list"
            ]
        )
        .lines()
        .count(),
        2
    );
    let old_ip = lab.host("m1").unwrap().ip;
    lab.remove_host("m1").unwrap();
    let mut spec = HostSpec::new("m1");
    spec.ip = Some(old_ip);
    lab.add_host(spec).unwrap();
    let out = ok(
        &lab,
        "m1",
        &[
            "kubeadm",
            "join",
            &format!("{m2}:6443"),
            "--token",
            &token,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--control-plane",
            "--certificate-key",
            &key,
        ],
    );
    assert!(out.contains("A new etcd member was added"), "{out}");
    let members = ok(
        &lab,
        "m3",
        &[
            "etcdctl",
            "--endpoints",
            "http://127.0.0.1:2379",
            "member",
            "list",
        ],
    );
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        3,
        "{members}"
    );
    // The replacement serves the data written while it was gone.
    let (good, phase) = kubectl(
        "m1",
        &m1,
        &[
            "get",
            "pv",
            "pv-after-loss",
            "-o",
            "jsonpath={.status.phase}",
        ],
    );
    assert!(good && phase == "Available", "{phase}");
    let snap = ok(
        &lab,
        "m1",
        &[
            "sh",
            "-c",
            "etcdctl --endpoints http://127.0.0.1:2379 snapshot save /tmp/s.db >/dev/null && etcdctl snapshot status /tmp/s.db -w json",
        ],
    );
    assert!(snap.contains("\"totalKey\""), "{snap}");
}

#[test]
fn fixture_gives_a_ready_cluster() {
    let lab = Lab::up(LabSpec::builder().host("m1").host("w1").build()).unwrap();
    let c = kube_emu::fixture::kubeadm_cluster(&lab, &["m1"], &["w1"]).unwrap();
    assert_eq!(c.endpoint, format!("{}:6443", lab.host("m1").unwrap().ip));
    let nodes = ok(
        &lab,
        "m1",
        &[
            "kubectl",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            "get",
            "nodes",
            "-o",
            "name",
        ],
    );
    assert_eq!(nodes.trim(), "node/m1\nnode/w1");
    assert_eq!(
        lab.host("w1").unwrap().kubeconfig.as_deref(),
        Some(c.admin_conf.as_path())
    );
    let kc = kube_emu::kubeconfig::parse(&std::fs::read_to_string(&c.admin_conf).unwrap()).unwrap();
    assert_eq!(kc.server, format!("https://{}", c.endpoint));
    assert!(kc.cert_pem.is_some());
}
