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

/// A bootstrap token whose secret part is easy to look for in any output.
const CFG_TOKEN: &str = "emu001.s3cr3tt0k3nabcde";
const CFG_SECRET: &str = "s3cr3tt0k3nabcde";
const CFG_CERT_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// The failure text, and that it does not leak the token secret or certificate key.
fn failed(o: Output) -> String {
    let t = text(&o);
    assert!(!o.status.success(), "unexpected success: {t}");
    assert!(!t.contains(CFG_SECRET), "token secret echoed: {t}");
    assert!(!t.contains(CFG_CERT_KEY), "certificate key echoed: {t}");
    t
}

fn join_config(version: &str, endpoint: &str, token: &str, hash: &str, rest: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/{version}\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: \"{endpoint}\"\n    token: \"{token}\"\n    caCertHashes:\n      - \"{hash}\"\n{rest}"
    )
}

/// The `spec.containers[0].command` of a static Pod manifest.
fn manifest_command(h: &Host, name: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(h.root.join(format!("etc/kubernetes/manifests/{name}.yaml")))
            .unwrap();
    let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    v["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

fn flag_value(cmd: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    cmd.iter()
        .find_map(|c| c.strip_prefix(&prefix).map(String::from))
}

#[test]
fn config_files_fault_injection_manifests_and_rejoin_preflight() {
    let dir = TempDir::new("kubeadm-cfg").unwrap();
    let bin = dir.path().join("kubeadm");
    std::os::unix::fs::symlink(kube_emu::harness::find_bin().unwrap(), &bin).unwrap();
    let m1 = Host::new(dir.path(), "m1");
    let m2 = Host::new(dir.path(), "m2");
    let w1 = Host::new(dir.path(), "w1");
    let endpoint = format!("127.0.0.1:{}", m1.api);
    let init_cfg = write(
        dir.path(),
        "init.yaml",
        &format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n  - token: \"{CFG_TOKEN}\"\n    ttl: 24h0m0s\ncertificateKey: \"{CFG_CERT_KEY}\"\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\nnodeRegistration:\n  name: m1\n  criSocket: unix:///var/run/containerd/containerd.sock\n  kubeletExtraArgs:\n    - name: node-labels\n      value: vnf.example/role=master\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"{endpoint}\"\napiServer:\n  certSANs:\n    - vip.example.test\n    - 198.18.250.250\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.97.0.0/16\n",
            m1.api
        ),
    );

    // Flags kubeadm refuses next to --config: named, sorted, nothing started.
    let mixed = failed(m1.kubeadm(
        &bin,
        &[
            "init",
            "--config",
            &init_cfg,
            "--token",
            CFG_TOKEN,
            "--pod-network-cidr",
            "10.0.0.0/16",
            "--upload-certs",
        ],
    ));
    assert!(
        mixed.contains("can not mix '--config' with arguments [pod-network-cidr token]"),
        "{mixed}"
    );
    // Old, unknown and missing config files.
    let old = write(
        dir.path(),
        "old.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n",
    );
    let t = failed(m1.kubeadm(&bin, &["init", "--config", &old]));
    assert!(
        t.contains("your configuration file uses an old API spec: \"kubeadm.k8s.io/v1beta2\""),
        "{t}"
    );
    let unknown = write(
        dir.path(),
        "unknown.yaml",
        &format!(
            "apiVersion: kubeadm.k8s.io/v1beta9\nkind: JoinConfiguration\ndiscovery:\n  tlsBootstrapToken: \"{CFG_TOKEN}\"\n"
        ),
    );
    let t = failed(m1.kubeadm(&bin, &["join", "--config", &unknown]));
    assert!(
        t.contains(
            "no kind \"JoinConfiguration\" is registered for version \"kubeadm.k8s.io/v1beta9\""
        ),
        "{t}"
    );
    let missing = dir.path().join("missing.yaml");
    let t = failed(m1.kubeadm(&bin, &["init", "--config", missing.to_str().unwrap()]));
    assert!(
        t.contains(&format!(
            "unable to read config from \"{}\"",
            missing.display()
        )),
        "{t}"
    );
    let broken = write(
        dir.path(),
        "broken.yaml",
        &format!("kind: JoinConfiguration\ndiscovery: [\"{CFG_TOKEN}\"\n"),
    );
    let t = failed(m1.kubeadm(&bin, &["join", "--config", &broken]));
    assert!(t.contains("broken.yaml"), "{t}");

    // --dry-run validates and changes nothing.
    let dry = ok(m1.kubeadm(&bin, &["init", "--config", &init_cfg, "--dry-run"]));
    assert!(dry.contains("[dry-run]"), "{dry}");
    assert!(!m1.root.join("etc/kubernetes").exists());

    // Injected failure: fails once, changes nothing, then init runs.
    let fail_init = m1.root.join("etc/kube-emu/fail-next-kubeadm-init");
    std::fs::create_dir_all(fail_init.parent().unwrap()).unwrap();
    std::fs::write(&fail_init, "").unwrap();
    let t = failed(m1.kubeadm(&bin, &["init", "--config", &init_cfg, "--upload-certs"]));
    assert!(t.contains("injected failure"), "{t}");
    assert!(!fail_init.exists());
    assert!(!m1.root.join("etc/kubernetes").exists());
    assert!(!m1.root.join("var/lib/etcd").exists());
    assert!(!m1.root.join("run/kube-emu").exists());

    let init = ok(m1.kubeadm(&bin, &["init", "--config", &init_cfg, "--upload-certs"]));
    assert!(init.contains("Your Kubernetes control-plane has initialized successfully!"));
    assert_eq!(after(&init, "--token "), CFG_TOKEN);
    assert_eq!(after(&init, "--certificate-key "), CFG_CERT_KEY);
    let hash = after(&init, "--discovery-token-ca-cert-hash ").to_string();
    let cc = ok(kubectl_at(
        &m1,
        &[
            "get",
            "configmap",
            "-n",
            "kube-system",
            "kubeadm-config",
            "-o",
            "jsonpath={.data.ClusterConfiguration}",
        ],
        None,
    ));
    assert!(cc.contains("serviceSubnet: 10.97.0.0/16"), "{cc}");
    assert!(cc.contains("podSubnet: 10.244.0.0/16"), "{cc}");
    assert!(
        cc.contains(&format!("controlPlaneEndpoint: {endpoint}")),
        "{cc}"
    );
    let m1_node = ok(kubectl_at(
        &m1,
        &[
            "get",
            "node",
            "m1",
            "-o",
            "jsonpath={.metadata.labels.vnf\\.example/role} {.spec.taints[0].key}",
        ],
        None,
    ));
    assert_eq!(m1_node, "master node-role.kubernetes.io/control-plane");

    // A second init fails preflight; an ignored check becomes a warning.
    let t = failed(m1.kubeadm(
        &bin,
        &[
            "init",
            "--config",
            &init_cfg,
            "--ignore-preflight-errors",
            "FileAvailable--etc-kubernetes-manifests-etcd.yaml",
        ],
    ));
    assert!(
        t.contains("[WARNING FileAvailable--etc-kubernetes-manifests-etcd.yaml]"),
        "{t}"
    );
    assert!(
        t.contains("[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]"),
        "{t}"
    );
    assert!(!t.contains("[ERROR FileAvailable--etc-kubernetes-manifests-etcd.yaml]"));

    // The static Pod manifests carry the command lines the product reads.
    let etcd = manifest_command(&m1, "etcd");
    assert_eq!(etcd[0], "etcd");
    assert!(etcd.contains(&"--name=m1".to_string()), "{etcd:?}");
    let client = flag_value(&etcd, "--advertise-client-urls").unwrap();
    assert_eq!(client, m1.etcd_url());
    assert_eq!(
        flag_value(&etcd, "--listen-client-urls").unwrap(),
        m1.etcd_url()
    );
    assert_eq!(
        flag_value(&etcd, "--initial-advertise-peer-urls").unwrap(),
        format!("http://127.0.0.1:{}", m1.etcd_peer)
    );
    assert!(
        flag_value(&etcd, "--data-dir")
            .unwrap()
            .ends_with("/m1/var/lib/etcd")
    );
    for tls in ["--cert-file", "--key-file", "--trusted-ca-file"] {
        assert!(flag_value(&etcd, tls).is_none(), "{etcd:?}");
    }
    let list = ok(etcdctl(&client, &["member", "list"]));
    assert!(list.contains(", m1, "), "{list}");
    let apiserver = manifest_command(&m1, "kube-apiserver");
    assert_eq!(apiserver[0], "kube-apiserver");
    assert_eq!(
        flag_value(&apiserver, "--advertise-address").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        flag_value(&apiserver, "--secure-port").unwrap(),
        m1.api.to_string()
    );
    assert_eq!(
        flag_value(&apiserver, "--service-cluster-ip-range").unwrap(),
        "10.97.0.0/16"
    );

    // Control-plane join from a v1beta3 JoinConfiguration (deprecated: a warning).
    let cp = |key: &str| {
        join_config(
            "v1beta3",
            &endpoint,
            CFG_TOKEN,
            &hash,
            &format!(
                "nodeRegistration:\n  name: m2\n  kubeletExtraArgs:\n    node-labels: vnf.example/role=master\ncontrolPlane:\n  localAPIEndpoint:\n    advertiseAddress: 127.0.0.1\n    bindPort: {}\n  certificateKey: \"{key}\"\n",
                m2.api
            ),
        )
    };
    let bad_key = write(
        dir.path(),
        "cp-bad.yaml",
        &cp("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    );
    let t = failed(m2.kubeadm(&bin, &["join", "--config", &bad_key]));
    assert!(t.contains("message authentication failed"), "{t}");
    let cp_cfg = write(dir.path(), "cp.yaml", &cp(CFG_CERT_KEY));
    let o = m2.kubeadm(&bin, &["join", "--config", &cp_cfg]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(
        !all.contains(CFG_SECRET) && !all.contains(CFG_CERT_KEY),
        "{all}"
    );
    assert!(
        all.contains(
            "This node has joined the cluster and a new control plane instance was created"
        )
    );
    assert!(
        all.contains("uses a deprecated API spec: \"kubeadm.k8s.io/v1beta3\""),
        "{all}"
    );
    // Both masters serve a certificate with the ClusterConfiguration's certSANs.
    for h in [&m1, &m2] {
        let pem = std::fs::read(h.root.join("etc/kubernetes/pki/apiserver.crt")).unwrap();
        let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = p.parse_x509().unwrap();
        let sans = format!(
            "{:?}",
            cert.subject_alternative_name().unwrap().unwrap().value
        );
        assert!(
            sans.contains("DNSName(\"vip.example.test\")")
                && sans.contains("IPAddress([198, 18, 250, 250])"),
            "{}: {sans}",
            h.name
        );
    }
    let m2_etcd = manifest_command(&m2, "etcd");
    assert!(m2_etcd.contains(&"--initial-cluster-state=existing".to_string()));
    let m2_client = flag_value(&m2_etcd, "--advertise-client-urls").unwrap();
    let members = ok(etcdctl(&m2_client, &["member", "list"]));
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        2,
        "{members}"
    );
    assert_eq!(
        flag_value(
            &manifest_command(&m2, "kube-apiserver"),
            "--service-cluster-ip-range"
        )
        .unwrap(),
        "10.97.0.0/16"
    );

    // Worker join from a v1beta4 JoinConfiguration.
    let worker_rest = "nodeRegistration:\n  name: w1\n  labels: {typo: here}\n  criSocket: unix:///run/containerd/containerd.sock\n  taints:\n    - key: vnf.example/dedicated\n      value: storage\n      effect: NoSchedule\n  kubeletExtraArgs:\n    - name: node-ip\n      value: 127.0.0.1\n";
    let w_cfg = |name: &str, token: &str, hash: &str| {
        write(
            dir.path(),
            name,
            &join_config("v1beta4", &endpoint, token, hash, worker_rest),
        )
    };
    let good = w_cfg("w1.yaml", CFG_TOKEN, &hash);
    let t = failed(w1.kubeadm(
        &bin,
        &[
            "join",
            "--config",
            &good,
            "--token",
            CFG_TOKEN,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--v",
            "5",
        ],
    ));
    assert!(
        t.contains("can not mix '--config' with arguments [discovery-token-ca-cert-hash token]"),
        "{t}"
    );
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &init_cfg]));
    assert!(
        t.contains("no JoinConfiguration found in the supplied config"),
        "{t}"
    );
    let wrong_secret = w_cfg("w1-secret.yaml", "emu001.0123456789abcdef", &hash);
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &wrong_secret]));
    assert!(t.contains("failed to verify JWS signature"), "{t}");
    let wrong_id = w_cfg("w1-id.yaml", "zzzzzz.s3cr3tt0k3nabcde", &hash);
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &wrong_id]));
    assert!(
        t.contains("could not find a JWS signature in the cluster-info ConfigMap"),
        "{t}"
    );
    let wrong_hash = w_cfg(
        "w1-hash.yaml",
        CFG_TOKEN,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &wrong_hash]));
    assert!(
        t.contains("not signed by any of the public keys pinned"),
        "{t}"
    );
    let malformed = w_cfg("w1-malformed.yaml", "not-a-token-s3cr3tt0k3nabcde", &hash);
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &malformed]));
    assert!(t.contains("was not of the form"), "{t}");
    assert!(!w1.root.join("etc/kubernetes/kubelet.conf").exists());

    // Injected join failure: fails once with nothing changed; the re-run joins.
    let fail_join = w1.root.join("etc/kube-emu/fail-next-kubeadm-join");
    std::fs::create_dir_all(fail_join.parent().unwrap()).unwrap();
    std::fs::write(&fail_join, "").unwrap();
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &good]));
    assert!(t.contains("injected failure"), "{t}");
    assert!(!fail_join.exists());
    assert!(!w1.root.join("etc/kubernetes").exists());
    let o = w1.kubeadm(&bin, &["join", "--config", &good, "--v", "5"]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(!all.contains(CFG_SECRET), "{all}");
    assert!(all.contains("This node has joined the cluster:"));
    assert!(
        all.contains("strict decoding error: unknown field \"nodeRegistration.labels\""),
        "{all}"
    );
    let kubelet_conf =
        std::fs::read_to_string(w1.root.join("etc/kubernetes/kubelet.conf")).unwrap();
    assert!(kubelet_conf.contains(&format!("server: https://{endpoint}")));
    let w1_node = ok(kubectl_at(
        &m2,
        &[
            "get",
            "node",
            "w1",
            "-o",
            "jsonpath={.spec.taints[0].key}={.spec.taints[0].value}:{.spec.taints[0].effect} {.status.addresses[0].address}",
        ],
        None,
    ));
    assert_eq!(
        w1_node,
        "vnf.example/dedicated=storage:NoSchedule 127.0.0.1"
    );

    // A second join on a joined node fails kubeadm's preflight; nothing is changed.
    let t = failed(w1.kubeadm(&bin, &["join", "--config", &good]));
    assert!(
        t.contains(
            "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists"
        ),
        "{t}"
    );
    assert!(
        t.contains("[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(w1.root.join("etc/kubernetes/kubelet.conf")).unwrap(),
        kubelet_conf
    );
    // reset -f on the worker removes kubelet.conf and pki/; then it can join again.
    ok(w1.kubeadm(&bin, &["reset", "-f"]));
    assert!(!w1.root.join("etc/kubernetes/kubelet.conf").exists());
    assert!(!w1.root.join("etc/kubernetes/pki").exists());
    ok(w1.kubeadm(&bin, &["join", "--config", &good]));
}
