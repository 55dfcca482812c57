//! `proxy` and `private_registry_connection_info` on real lab hosts: `vnf-mgmt
//! instantiate --install-cluster` (kubeadm shim) with a proxy holding credentials, an
//! HTTPS registry with a CA from the package and credentials, and an HTTP registry.
//! The managed files' content and modes on every node, `no_proxy` with the CIDRs as
//! CIDRs, no credential in any command line, output, event or journal, and a re-run
//! that rewrites no file.

use crate::lab_instantiate::{VOL, cmdlines, ensure_kube_emu_bin, text};
use crate::util::{SAMPLE_PKG, repo_root, show, vnf_mgmt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use vnf_lab::{Lab, LabSpec};

const PASSWORD: &str = "Sentinel-Pw-5c1e";
const PROXY_SECRET: &str = "Pr0xy-Secret-71d4";
const REGISTRY_SECRET: &str = "Reg-Secret-\"q\\9e";
const HTTPS_REGISTRY: &str = "registry.example.com:5000";
const HTTP_REGISTRY: &str = "10.250.0.7:5001";
const NODES: [&str; 2] = ["m1", "w1"];

/// Every file the settings manage on a kubeadm node, with its expected mode.
const MANAGED: [(&str, &str); 7] = [
    ("/etc/apt/apt.conf.d/95vnf-mgmt-proxy", "600"),
    ("/etc/vnf-mgmt/proxy.env", "600"),
    (
        "/etc/systemd/system/containerd.service.d/90-vnf-mgmt-proxy.conf",
        "600",
    ),
    (
        "/etc/systemd/system/kubelet.service.d/90-vnf-mgmt-proxy.conf",
        "600",
    ),
    ("/etc/containerd/config.toml", "600"),
    (
        "/etc/containerd/certs.d/registry.example.com:5000/hosts.toml",
        "644",
    ),
    (
        "/etc/containerd/certs.d/registry.example.com:5000/ca.crt",
        "644",
    ),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// What `containerd config default` (1.7) writes, in part: the CRI registry table with
/// an empty `config_path`, and a setting that must survive (SystemdCgroup).
const CONTAINERD_17_CONFIG: &str = r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.8"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""

      [plugins."io.containerd.grpc.v1.cri".registry.auths]

      [plugins."io.containerd.grpc.v1.cri".registry.configs]

      [plugins."io.containerd.grpc.v1.cri".registry.headers]

      [plugins."io.containerd.grpc.v1.cri".registry.mirrors]
"#;

struct Setup {
    lab: Lab,
    runtime: &'static str,
    dir: tempfile::TempDir,
    _shims: kube_emu::harness::TempDir,
    ca: String,
}

impl Setup {
    fn up(runtime: &'static str) -> Setup {
        ensure_kube_emu_bin();
        let spec = LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .password(PASSWORD)
            .host("m1")
            .host("w1");
        let lab = Lab::up(spec.build()).expect("lab up");
        let shims = kube_emu::fixture::install_shims(&lab).expect("kubeadm shim");
        kube_emu::fixture::install_cni_stand_in(&lab, "m1").expect("CNI stand-in");
        let dir = tempfile::tempdir().expect("tempdir");
        // The sample package with the registry's CA in Files/.
        let pkg = dir.path().join("pkg");
        copy_dir(&repo_root().join(SAMPLE_PKG), &pkg);
        let o = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=vnf-mgmt lab registry CA",
                "-keyout",
            ])
            .arg(dir.path().join("ca.key"))
            .arg("-out")
            .arg(pkg.join("Files/registry-ca.crt"))
            .output()
            .expect("openssl runs");
        assert!(o.status.success(), "{}", show(&o));
        let ca = std::fs::read_to_string(pkg.join("Files/registry-ca.crt")).expect("CA");
        let s = Setup {
            lab,
            runtime,
            dir,
            _shims: shims,
            ca,
        };
        s.write_inventory();
        s.write_request();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ip(&self, host: &str) -> String {
        self.lab.host(host).expect("host").ip.to_string()
    }

    fn write_inventory(&self) {
        let s1 = self.ip("s1");
        let mut inv = format!(
            "format_version: 1\nhosts:\n  - name: s1\n    role: storage\n    ssh: {s1}\n    ports: {{storage_server_CP: {s1}}}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}, device: /dev/vdb}}\n"
        );
        inv.push_str(&format!(
            "  - name: m1\n    role: master\n    ssh: {}\n  - name: w1\n    role: worker\n    ssh: {}\n",
            self.ip("m1"),
            self.ip("w1")
        ));
        std::fs::write(self.path("inventory.yaml"), inv).expect("write inventory");
    }

    fn write_request(&self) {
        let text = std::fs::read_to_string(
            repo_root().join("samples/requests/instantiate_simple_pv.json"),
        )
        .expect("sample request");
        let mut r: serde_json::Value = serde_json::from_str(&text).expect("request JSON");
        let (net, len) = self.lab.subnet();
        let p = &mut r["additionalParams"]["k8s_cluster_installation_param"];
        for k in ["master_node", "worker_node", "storage_server"] {
            p[k]["password"] = PASSWORD.into();
        }
        for e in p["storage_server"]["nfs_server_setup_params"]
            .as_array_mut()
            .expect("exports")
        {
            e["export_to"] = format!("{net}/{len}").into();
        }
        // Nothing listens there: the settings are written, never used in the lab.
        p["proxy"] = serde_json::json!({
            "http_proxy": format!("http://proxyuser:{PROXY_SECRET}@192.0.2.1:3128"),
            "https_proxy": format!("http://proxyuser:{PROXY_SECRET}@192.0.2.1:3129"),
            "no_proxy": "example.org,.svc",
            "k8s_node_cidr": format!("{net}/{len}")
        });
        p["private_registry_connection_info"] = serde_json::json!([
            {
                "connection_type": 1,
                "server": HTTPS_REGISTRY,
                "username": "reguser",
                "password": REGISTRY_SECRET,
                "certificate_path": "Files/registry-ca.crt",
                "hosts_string": "10.250.0.5 registry.example.com"
            },
            {"connection_type": "0", "server": HTTP_REGISTRY}
        ]);
        std::fs::write(
            self.path("request.json"),
            serde_json::to_vec_pretty(&r).expect("json"),
        )
        .expect("write request");
    }

    fn instantiate(&self) -> Command {
        let mut c = vnf_mgmt();
        c.arg("instantiate")
            .arg(self.path("pkg"))
            .arg("-r")
            .arg(self.path("request.json"))
            .arg("-i")
            .arg(self.path("inventory.yaml"))
            .args([
                "--vnf-instance-id",
                "vnf-config-1",
                "--no-digests",
                "--connect-timeout",
                "5",
                "--kube-timeout",
                "60",
                "--runtime",
                self.runtime,
                "--install-cluster",
            ]);
        if self.runtime == "kubeadm" {
            c.arg("--cni-manifest")
                .arg(kube_emu::fixture::CNI_STAND_IN_URL);
        }
        c.arg("--known-hosts")
            .arg(self.lab.known_hosts())
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--events")
            .arg(self.path("events.jsonl"));
        c
    }

    /// Runs the instantiate while sampling every process command line on the nodes;
    /// returns (output, command lines seen).
    fn run_watching(&self) -> (Output, String) {
        let mut child = self
            .instantiate()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vnf-mgmt");
        let mut seen = String::new();
        while child.try_wait().expect("wait").is_none() {
            for h in NODES {
                seen.push_str(&cmdlines(&self.lab, h));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let o = child.wait_with_output().expect("output");
        if o.status.code() != Some(0) {
            // What an operator would look at: the kubeadm/k3s logs of the nodes.
            let mut logs = String::new();
            for h in NODES {
                let out = self
                    .lab
                    .exec(
                        h,
                        &[
                            "sh",
                            "-c",
                            "tail -n 30 /var/log/vnf-mgmt-k3s.log /var/log/kube-emu/*.log /var/log/vnf-mgmt-kubeadm-*.log 2>/dev/null",
                        ],
                    )
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                logs.push_str(&format!("--- logs on {h}\n{out}\n"));
            }
            panic!("{}\n{logs}", show(&o));
        }
        (o, seen)
    }

    fn on(&self, host: &str, script: &str) -> String {
        self.lab
            .exec_ok(host, &["sh", "-c", script])
            .unwrap_or_else(|e| panic!("{host}: {script}: {e}"))
    }

    /// A TOML (`tomllib`) or YAML (`yaml`) file on `host` parsed by Python, as JSON.
    fn parsed(&self, host: &str, module: &str, path: &str) -> serde_json::Value {
        let load = if module == "tomllib" {
            "tomllib.load(open(sys.argv[1], 'rb'))"
        } else {
            "yaml.safe_load(open(sys.argv[1]))"
        };
        let o = self
            .lab
            .exec(
                host,
                &[
                    "python3",
                    "-c",
                    &format!("import sys, json, {module}; print(json.dumps({load}))"),
                    path,
                ],
            )
            .expect("python3 runs");
        assert!(o.status.success(), "{host}: {path}: {}", show(&o));
        serde_json::from_slice(&o.stdout).expect("JSON")
    }

    fn local_records(&self) -> String {
        let mut all = std::fs::read_to_string(self.path("events.jsonl")).unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(self.path("state")) {
            for e in rd.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
    }

    /// `path mode mtime(ns)` of every managed file on `host`.
    fn stat(&self, host: &str) -> String {
        let paths: Vec<&str> = MANAGED.iter().map(|(p, _)| *p).collect();
        self.on(
            host,
            &format!(
                "stat -c '%n %a %.9Y' {} /etc/containerd/certs.d/{HTTP_REGISTRY}/hosts.toml",
                paths
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
    }
}

#[test]
fn proxy_and_registries_are_written_once_with_their_secrets_kept_off_argv() {
    let s = Setup::up("kubeadm");
    // w1 has containerd's own configuration (as `containerd config default` writes it);
    // m1 has none.
    s.on(
        "w1",
        &format!(
            "mkdir -p /etc/containerd && printf '%s' '{CONTAINERD_17_CONFIG}' >/etc/containerd/config.toml && chmod 0644 /etc/containerd/config.toml"
        ),
    );
    let (o, argv) = s.run_watching();
    let out = text(&o);
    for h in NODES {
        assert!(out.contains(&format!("{h}/k8s-proxy ok")), "{out}");
        assert!(out.contains(&format!("{h}/k8s-registry ok")), "{out}");
    }
    let (net, len) = s.lab.subnet();
    for h in NODES {
        // Modes: every file holding a proxy URL or a credential is 0600.
        let stat = s.stat(h);
        for (path, mode) in MANAGED {
            assert!(stat.contains(&format!("{path} {mode} ")), "{h}: {stat}");
        }
        let apt = s.on(h, "cat /etc/apt/apt.conf.d/95vnf-mgmt-proxy");
        assert!(
            apt.contains(&format!(
                "Acquire::http::Proxy \"http://proxyuser:{PROXY_SECRET}@192.0.2.1:3128\";"
            )),
            "{h}: {apt}"
        );
        let dropin = s.on(
            h,
            "cat /etc/systemd/system/containerd.service.d/90-vnf-mgmt-proxy.conf",
        );
        assert!(dropin.starts_with("# Managed by vnf-mgmt"), "{dropin}");
        assert!(dropin.contains("[Service]\n"), "{dropin}");
        assert!(
            dropin.contains(&format!(
                "Environment=\"HTTPS_PROXY=http://proxyuser:{PROXY_SECRET}@192.0.2.1:3129\""
            )),
            "{dropin}"
        );
        // no_proxy: the request's entries, the node, pod (host bits cleared) and service
        // networks as CIDRs, every node address, loopback.
        let no_proxy = dropin
            .lines()
            .find_map(|l| l.strip_prefix("Environment=\"NO_PROXY="))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap_or_else(|| panic!("no NO_PROXY in {dropin}"));
        let entries: Vec<&str> = no_proxy.split(',').collect();
        let node_cidr = format!("{net}/{len}");
        let m1 = s.ip("m1");
        let w1 = s.ip("w1");
        for want in [
            "example.org",
            ".svc",
            node_cidr.as_str(),
            "192.168.0.0/16",
            // The sample request's cluster_cidr.
            "10.199.187.0/24",
            m1.as_str(),
            w1.as_str(),
            "localhost",
            "127.0.0.1",
        ] {
            assert!(entries.contains(&want), "{want} not in {no_proxy}");
        }
        assert_eq!(entries.len(), 9, "{no_proxy}");
        // Every script run later on the node has the proxy in its environment (curl
        // downloads in k8s_node.sh, k8s_cni.sh, the k3s installer).
        let seen = s.on(
            h,
            "cd ~/.vnf-mgmt/scripts 2>/dev/null || cd /home/*/.vnf-mgmt/scripts; bash -c 'source ./lib.sh; printf \"%s|%s|%s\" \"$NO_PROXY\" \"$no_proxy\" \"${HTTPS_PROXY#*@}\"'",
        );
        assert_eq!(seen, format!("{no_proxy}|{no_proxy}|192.0.2.1:3129"), "{h}");
        let kubelet = s.on(
            h,
            "cat /etc/systemd/system/kubelet.service.d/90-vnf-mgmt-proxy.conf",
        );
        assert!(
            kubelet.contains(&format!("Environment=\"no_proxy={no_proxy}\"")),
            "{kubelet}"
        );

        // Registries: containerd's hosts directory, the CA from the package, the
        // credentials in config.toml next to config_path.
        let https = s.on(
            h,
            &format!("cat /etc/containerd/certs.d/{HTTPS_REGISTRY}/hosts.toml"),
        );
        assert!(
            https.contains(&format!("server = \"https://{HTTPS_REGISTRY}\"")),
            "{https}"
        );
        assert!(
            https.contains(&format!("[host.\"https://{HTTPS_REGISTRY}\"]")),
            "{https}"
        );
        assert!(
            https.contains(&format!(
                "ca = \"/etc/containerd/certs.d/{HTTPS_REGISTRY}/ca.crt\""
            )),
            "{https}"
        );
        assert!(!https.contains("skip_verify"), "{https}");
        let ca = s.on(
            h,
            &format!("cat /etc/containerd/certs.d/{HTTPS_REGISTRY}/ca.crt"),
        );
        assert_eq!(ca, s.ca, "{h}: the CA differs from the package's");
        let http = s.on(
            h,
            &format!("cat /etc/containerd/certs.d/{HTTP_REGISTRY}/hosts.toml"),
        );
        assert!(
            http.contains(&format!("server = \"http://{HTTP_REGISTRY}\"")),
            "{http}"
        );
        assert!(
            http.contains("capabilities = [\"pull\", \"resolve\"]"),
            "{http}"
        );
        assert!(!http.contains("ca ="), "{http}");
        let config = s.on(h, "cat /etc/containerd/config.toml");
        assert!(
            config.contains("config_path = \"/etc/containerd/certs.d\""),
            "{config}"
        );
        assert!(
            config.contains(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"{HTTPS_REGISTRY}\".auth]\n  username = \"reguser\"\n  password = \"Reg-Secret-\\\"q\\\\9e\"\n"
            )),
            "{config}"
        );
        assert!(!config.contains(HTTP_REGISTRY), "{config}");
        assert_eq!(config.matches("config_path").count(), 1, "{config}");
        // containerd can read it: valid TOML, the password intact through the escaping,
        // config_path where the CRI plugin reads it, w1's own settings kept.
        let toml = s.parsed(h, "tomllib", "/etc/containerd/config.toml");
        let registry = &toml["plugins"]["io.containerd.grpc.v1.cri"]["registry"];
        assert_eq!(registry["config_path"], "/etc/containerd/certs.d", "{toml}");
        assert_eq!(
            registry["configs"][HTTPS_REGISTRY]["auth"],
            serde_json::json!({"username": "reguser", "password": REGISTRY_SECRET}),
            "{toml}"
        );
        if h == "w1" {
            assert_eq!(
                toml["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]
                    ["SystemdCgroup"],
                true,
                "{toml}"
            );
            assert!(config.starts_with("version = 2\n"), "{config}");
        }
        for file in [
            format!("/etc/containerd/certs.d/{HTTPS_REGISTRY}/hosts.toml"),
            format!("/etc/containerd/certs.d/{HTTP_REGISTRY}/hosts.toml"),
        ] {
            let t = s.parsed(h, "tomllib", &file);
            assert!(
                t["server"].as_str().is_some_and(|u| u.starts_with("http")),
                "{t}"
            );
        }
        // /etc/hosts: the registry in its own block, the cluster nodes' block intact.
        let hosts = s.on(h, "cat /etc/hosts");
        assert!(
            hosts.contains(
                "# BEGIN vnf-mgmt registries\n10.250.0.5 registry.example.com\n# END vnf-mgmt registries\n"
            ),
            "{hosts}"
        );
        assert!(
            hosts.contains("# BEGIN vnf-mgmt cluster nodes\n"),
            "{hosts}"
        );
        assert!(hosts.contains(&format!("{m1} m1\n")), "{hosts}");
    }

    // No credential in any command line, the output, the events or the journals.
    let records = s.local_records();
    // (The registry password by its distinctive prefix: JSON escapes its quote.)
    for secret in [PROXY_SECRET, "Reg-Secret-"] {
        assert!(!argv.contains(secret), "{secret} in a command line");
        assert!(!out.contains(secret), "{secret} in the output: {out}");
        assert!(!records.contains(secret), "{secret} in events or journals");
    }
    assert!(
        argv.contains("k8s_proxy.sh"),
        "the sampling saw no script run"
    );

    // The re-run rewrites nothing: same modes and modification times.
    let before: Vec<String> = NODES.iter().map(|h| s.stat(h)).collect();
    let (o, _) = s.run_watching();
    let again = text(&o);
    let after: Vec<String> = NODES.iter().map(|h| s.stat(h)).collect();
    assert_eq!(before, after, "{again}");
    // Whether the journal skipped the steps or they ran, no file changed; run the
    // scripts' own check directly too: a second run on a node reports "up to date".
    let direct = s.on(
        "w1",
        &format!(
            "cd ~/.vnf-mgmt/scripts 2>/dev/null || cd /home/*/.vnf-mgmt/scripts; printf 'http_proxy=http://proxyuser:{PROXY_SECRET}@192.0.2.1:3128\\nhttps_proxy=http://proxyuser:{PROXY_SECRET}@192.0.2.1:3129\\n' | bash k8s_proxy.sh kubeadm {}",
            no_proxy_args(&s).join(" ")
        ),
    );
    assert!(direct.contains("apt proxy up to date"), "{direct}");
    assert!(
        direct.contains("containerd proxy drop-in up to date"),
        "{direct}"
    );
    assert!(!direct.contains(PROXY_SECRET), "{direct}");
    assert_eq!(s.stat("w1"), after[1]);
}

/// The no_proxy arguments the plan gives (read back from the plan's JSON).
fn no_proxy_args(s: &Setup) -> Vec<String> {
    let mut c = vnf_mgmt();
    c.args(["plan", "instantiate", "--format", "json"])
        .arg(s.path("pkg"))
        .arg("-r")
        .arg(s.path("request.json"))
        .arg("-i")
        .arg(s.path("inventory.yaml"))
        .args([
            "--vnf-instance-id",
            "vnf-config-1",
            "--no-digests",
            "--install-cluster",
            "--runtime",
            "kubeadm",
        ]);
    let o = c.output().expect("vnf-mgmt plan runs");
    assert!(o.status.success(), "{}", show(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("plan JSON");
    let step = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == "w1/k8s-proxy")
        .cloned()
        .unwrap_or_default();
    step["action"]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1)
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

#[test]
fn k3s_nodes_get_the_proxy_environment_and_registries_yaml() {
    let s = Setup::up("k3s");
    let (o, argv) = s.run_watching();
    let out = text(&o);
    for (h, unit) in [("m1", "k3s"), ("w1", "k3s-agent")] {
        assert!(out.contains(&format!("{h}/k8s-proxy ok")), "{out}");
        assert!(out.contains(&format!("{h}/k8s-registry ok")), "{out}");
        let stat = s.on(
            h,
            &format!(
                "stat -c '%n %a' /etc/default/{unit} /etc/rancher/k3s/registries.yaml /etc/apt/apt.conf.d/95vnf-mgmt-proxy /etc/vnf-mgmt/proxy.env"
            ),
        );
        for f in [
            format!("/etc/default/{unit} 600"),
            "/etc/rancher/k3s/registries.yaml 600".into(),
            "/etc/apt/apt.conf.d/95vnf-mgmt-proxy 600".into(),
            "/etc/vnf-mgmt/proxy.env 600".into(),
        ] {
            assert!(stat.contains(&f), "{h}: {stat}");
        }
        // The unit's environment file (EnvironmentFile=-/etc/default/%N): a marked block.
        let env = s.on(h, &format!("cat /etc/default/{unit}"));
        assert!(env.starts_with("# BEGIN vnf-mgmt proxy\n"), "{env}");
        assert!(
            env.contains(&format!(
                "\"HTTP_PROXY=http://proxyuser:{PROXY_SECRET}@192.0.2.1:3128\""
            )),
            "{env}"
        );
        assert!(env.contains("192.168.0.0/16,10.199.187.0/24"), "{env}");
        assert!(env.ends_with("# END vnf-mgmt proxy\n"), "{env}");
        // No containerd drop-ins on k3s nodes.
        let dropins = s.on(
            h,
            "ls /etc/systemd/system/containerd.service.d 2>/dev/null || true",
        );
        assert!(!dropins.contains("vnf-mgmt"), "{dropins}");
        // registries.yaml as k3s reads it.
        let y = s.parsed(h, "yaml", "/etc/rancher/k3s/registries.yaml");
        assert_eq!(
            y["mirrors"][HTTPS_REGISTRY]["endpoint"],
            serde_json::json!([format!("https://{HTTPS_REGISTRY}")]),
            "{y}"
        );
        assert_eq!(
            y["mirrors"][HTTP_REGISTRY]["endpoint"],
            serde_json::json!([format!("http://{HTTP_REGISTRY}")]),
            "{y}"
        );
        let config = &y["configs"][HTTPS_REGISTRY];
        assert_eq!(
            config["auth"],
            serde_json::json!({"username": "reguser", "password": REGISTRY_SECRET}),
            "{y}"
        );
        let ca_file = config["tls"]["ca_file"].as_str().unwrap_or_default();
        assert!(ca_file.starts_with("/etc/rancher/k3s/"), "{y}");
        assert_eq!(s.on(h, &format!("cat '{ca_file}'")), s.ca);
        assert!(y["configs"].get(HTTP_REGISTRY).is_none(), "{y}");
        let hosts = s.on(h, "cat /etc/hosts");
        assert!(
            hosts.contains("# BEGIN vnf-mgmt registries\n10.250.0.5 registry.example.com\n"),
            "{hosts}"
        );
    }
    let records = s.local_records();
    for secret in [PROXY_SECRET, "Reg-Secret-"] {
        assert!(!argv.contains(secret), "{secret} in a command line");
        assert!(!out.contains(secret), "{secret} in the output: {out}");
        assert!(!records.contains(secret), "{secret} in events or journals");
    }
    // A re-run rewrites neither file.
    // (/etc/hosts is left out: k8s_node.sh's replace_block touches it on every run.)
    let files = "/etc/default/k3s* /etc/rancher/k3s/registries.yaml /etc/rancher/k3s/vnf-mgmt-registry-certs/*/ca.crt";
    let stat = |h: &str| {
        s.on(
            h,
            &format!("stat -c '%n %a %.9Y' {files} 2>/dev/null || true"),
        )
    };
    let before = (stat("m1"), stat("w1"));
    let (o, _) = s.run_watching();
    assert_eq!(before, (stat("m1"), stat("w1")));
    let again = text(&o);
    for h in ["m1", "w1"] {
        assert!(again.contains(&format!("{h}/k8s-registry ok")), "{again}");
    }
    // The registries' /etc/hosts block is written only when it changes.
    let direct = s.on(
        "w1",
        &format!(
            "cd ~/.vnf-mgmt/scripts 2>/dev/null || cd /home/*/.vnf-mgmt/scripts; bash k8s_registry.sh k3s-agent 1=http://{HTTP_REGISTRY} hosts:10.250.0.5=registry.example.com </dev/null"
        ),
    );
    assert!(
        direct.contains("/etc/hosts registries block up to date"),
        "{direct}"
    );
}
