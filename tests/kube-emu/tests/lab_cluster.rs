//! kubeadm shim on real lab hosts (network namespaces with sshd, `/opt/vnf-lab/bin` first
//! in PATH): three stacked-etcd masters, a worker, a master killed like a VM dying, the
//! dead etcd member removed with the real etcdctl, and a replacement master joining.
//! Every command runs inside a lab host; nothing leaves the lab's bridge.

use kube_emu::harness::TempDir;
use vnf_lab::{Auth, HostSpec, Lab, LabSpec};

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

/// Write `text` to `path` (mode 0600) inside a lab host.
fn put(lab: &Lab, host: &str, path: &str, text: &str) {
    let o = lab
        .exec_input(
            host,
            &[
                "sh",
                "-c",
                "umask 077 && mkdir -p \"$(dirname \"$1\")\" && cat >\"$1\"",
                "put",
                path,
            ],
            text.as_bytes(),
        )
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The value of `--NAME=VALUE` in a static Pod manifest, read the way the product's
/// etcd script reads it (grep over the file).
fn manifest_flag(lab: &Lab, host: &str, manifest: &str, name: &str) -> String {
    ok(
        lab,
        host,
        &[
            "sh",
            "-c",
            "grep -oE -- \"--$1=[^\\\"'[:space:]]+\" \"/etc/kubernetes/manifests/$2.yaml\" | head -n 1 | sed -E \"s/^--$1=//\"",
            "flag",
            name,
            manifest,
        ],
    )
    .trim()
    .to_string()
}

/// kubeadm driven by config files on lab hosts, as the product's scripts do: init from
/// an InitConfiguration + ClusterConfiguration, etcdctl through the URL in the etcd
/// manifest, a worker join from a JoinConfiguration failing once by injection and
/// completing on the re-run, the re-join preflight, reset.
#[test]
fn kubeadm_config_files_manifests_and_injected_join_failure_on_lab_hosts() {
    let shims = shim_dir();
    let lab = Lab::up(
        LabSpec::builder()
            .host("m1")
            .host("w1")
            .shim_dir(shims.path())
            .build(),
    )
    .unwrap();
    let m1 = lab.host("m1").unwrap().ip.to_string();
    let w1 = lab.host("w1").unwrap().ip.to_string();
    put(
        &lab,
        "m1",
        "/root/kubeadm-init.yaml",
        &format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: {m1}\n  bindPort: 6443\nnodeRegistration:\n  name: m1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"{m1}:6443\"\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n"
        ),
    );
    let init = ok(
        &lab,
        "m1",
        &[
            "kubeadm",
            "init",
            "--config",
            "/root/kubeadm-init.yaml",
            "--upload-certs",
        ],
    );
    assert!(
        init.contains("Your Kubernetes control-plane has initialized successfully!"),
        "{init}"
    );

    // The etcd manifest gives the client URLs; etcdctl works with them (plain HTTP).
    let listen = manifest_flag(&lab, "m1", "etcd", "listen-client-urls");
    assert_eq!(listen, format!("http://127.0.0.1:2379,http://{m1}:2379"));
    let advertise = manifest_flag(&lab, "m1", "etcd", "advertise-client-urls");
    assert_eq!(advertise, format!("http://{m1}:2379"));
    assert_eq!(manifest_flag(&lab, "m1", "etcd", "name"), "m1");
    assert_eq!(
        manifest_flag(&lab, "m1", "etcd", "data-dir"),
        "/var/lib/etcd"
    );
    assert_eq!(manifest_flag(&lab, "m1", "etcd", "cert-file"), "");
    for url in ["http://127.0.0.1:2379", advertise.as_str()] {
        let members = ok(
            &lab,
            "m1",
            &["etcdctl", "--endpoints", url, "member", "list"],
        );
        assert!(
            members.contains(&format!(", m1, http://{m1}:2380, http://{m1}:2379")),
            "{members}"
        );
    }
    assert_eq!(
        manifest_flag(&lab, "m1", "kube-apiserver", "advertise-address"),
        m1
    );
    assert_eq!(
        manifest_flag(&lab, "m1", "kube-apiserver", "secure-port"),
        "6443"
    );

    // Join information as the product reads it.
    let cmd = ok(
        &lab,
        "m1",
        &[
            "kubeadm",
            "token",
            "create",
            "--print-join-command",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
        ],
    );
    let token = after(&cmd, "--token ").to_string();
    let hash = after(&cmd, "--discovery-token-ca-cert-hash ").to_string();
    let secret = token.split_once('.').unwrap().1.to_string();
    put(
        &lab,
        "w1",
        "/root/kubeadm-join.yaml",
        &format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: \"{m1}:6443\"\n    token: \"{token}\"\n    caCertHashes:\n      - \"{hash}\"\nnodeRegistration:\n  name: \"w1\"\n"
        ),
    );
    let join = ["kubeadm", "join", "--config", "/root/kubeadm-join.yaml"];
    assert!(kube_emu::fixture::fail_next(&lab, "w1", "kubeadm-joins").is_err());
    kube_emu::fixture::fail_next(&lab, "w1", "kubeadm-join").unwrap();
    let (good, out) = run(&lab, "w1", &join);
    assert!(!good && out.contains("injected failure"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    ok(
        &lab,
        "w1",
        &["test", "!", "-e", "/etc/kube-emu/fail-next-kubeadm-join"],
    );
    ok(
        &lab,
        "w1",
        &["test", "!", "-e", "/etc/kubernetes/kubelet.conf"],
    );
    let out = ok(&lab, "w1", &join);
    assert!(out.contains("This node has joined the cluster:"), "{out}");
    assert!(!out.contains(&secret), "{out}");
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
            "jsonpath={range .items[*]}{.metadata.name}={.status.addresses[0].address}:{.status.conditions[-1:].status} {end}",
        ],
    );
    assert_eq!(nodes.trim(), format!("m1={m1}:True w1={w1}:True"));
    // Joining again fails kubeadm's preflight; reset -f clears the node.
    let (good, out) = run(&lab, "w1", &join);
    assert!(!good, "{out}");
    assert!(
        out.contains("[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists"),
        "{out}"
    );
    ok(&lab, "w1", &["kubeadm", "reset", "-f"]);
    ok(
        &lab,
        "w1",
        &["test", "!", "-e", "/etc/kubernetes/kubelet.conf"],
    );
    ok(&lab, "w1", &["test", "!", "-e", "/etc/kubernetes/pki"]);
    ok(&lab, "w1", &join);
}

/// k3s started the way the product starts it without systemd: `setsid … &` with a pid
/// file over an SSH session that then ends; the config comes from
/// /etc/rancher/k3s/config.yaml; the daemon keeps serving, an agent joins the same way,
/// and SIGTERM through the pid file stops the server and its etcd.
#[test]
fn k3s_background_daemons_started_over_ssh() {
    let shims = shim_dir();
    let lab = Lab::up(
        LabSpec::builder()
            .host("k1")
            .host("k2")
            .shim_dir(shims.path())
            .build(),
    )
    .unwrap();
    let k1 = lab.host("k1").unwrap().ip.to_string();
    put(
        &lab,
        "k1",
        "/etc/rancher/k3s/config.yaml",
        &format!(
            "cluster-init: true\ntoken: \"lab-k3s-secret\"\nnode-name: k1\nnode-ip: {k1}\ntls-san:\n  - {k1}\nwrite-kubeconfig-mode: \"0600\"\n"
        ),
    );
    let start = |host: &str, sub: &str| {
        let o = lab
            .ssh(
                host,
                Auth::Password,
                &format!(
                    "sudo -n sh -c 'setsid k3s {sub} >/var/log/k3s.log 2>&1 </dev/null & echo $! >/run/k3s.pid'"
                ),
            )
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let wait_for = |host: &str, what: &str, script: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (good, _) = run(&lab, host, &["sh", "-c", script]);
            if good {
                return;
            }
            let log = run(&lab, host, &["cat", "/var/log/k3s.log"]).1;
            assert!(
                std::time::Instant::now() < deadline,
                "{host}: {what} not reached:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    start("k1", "server");
    wait_for(
        "k1",
        "server up",
        "grep -q 'k3s is up and running' /var/log/k3s.log",
    );
    // The SSH session is over; the daemon (and its etcd) keep running.
    ok(&lab, "k1", &["sh", "-c", "kill -0 \"$(cat /run/k3s.pid)\""]);
    let nodes = ok(
        &lab,
        "k1",
        &[
            "kubectl",
            "--kubeconfig",
            "/etc/rancher/k3s/k3s.yaml",
            "get",
            "nodes",
            "-o",
            "name",
        ],
    );
    assert_eq!(nodes.trim(), "node/k1");
    let token = ok(
        &lab,
        "k1",
        &["cat", "/var/lib/rancher/k3s/server/node-token"],
    );
    assert!(token.trim().ends_with("::server:lab-k3s-secret"), "{token}");
    put(
        &lab,
        "k2",
        "/etc/rancher/k3s/config.yaml",
        &format!(
            "server: https://{k1}:6443\ntoken: \"{}\"\nnode-name: k2\nnode-label:\n  - vnf.example/role=worker\n",
            token.trim()
        ),
    );
    start("k2", "agent");
    wait_for(
        "k1",
        "agent registered",
        "kubectl --kubeconfig /etc/rancher/k3s/k3s.yaml get node k2 -o jsonpath='{.metadata.labels.vnf\\.example/role}' | grep -qx worker",
    );
    ok(&lab, "k2", &["sh", "-c", "kill -0 \"$(cat /run/k3s.pid)\""]);
    // Stop through the pid file: the server stops its etcd member too.
    let etcd_pid = ok(&lab, "k1", &["cat", "/run/kube-emu/etcd.pid"]);
    ok(&lab, "k1", &["sh", "-c", "kill \"$(cat /run/k3s.pid)\""]);
    wait_for(
        "k1",
        "server stopped",
        &format!(
            "! kill -0 \"$(cat /run/k3s.pid)\" 2>/dev/null && ! kill -0 {} 2>/dev/null",
            etcd_pid.trim()
        ),
    );
}
