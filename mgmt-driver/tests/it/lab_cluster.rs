//! The Kubernetes cluster lifecycle end to end on real lab hosts: `vnf-mgmt instantiate
//! --install-cluster` with the kubeadm and k3s shims (real etcd members, the API
//! emulator), HAProxy + keepalived holding a VIP, scale out/in with a
//! PodDisruptionBudget, heal of a worker and of a master, a failure injected halfway
//! through the workers.

use crate::lab_instantiate::{VOL, cmdlines, ensure_kube_emu_bin, run_ok, text};
use crate::util::{SAMPLE_PKG, repo_root, show, vnf_mgmt};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use vnf_lab::{HostSpec, Lab, LabSpec};

const PASSWORD: &str = "Sentinel-Pw-2b8d";
const INSTANCE: &str = "vnf-cluster-1";

/// A lab with a storage server `s1`, masters and workers, the shims, and the inputs.
struct Cluster {
    lab: Lab,
    dir: tempfile::TempDir,
    masters: Vec<String>,
    workers: Vec<String>,
    vip: Option<Ipv4Addr>,
    runtime: &'static str,
    _shims: kube_emu::harness::TempDir,
}

impl Cluster {
    fn up(masters: &[&str], workers: &[&str], runtime: &'static str) -> Cluster {
        ensure_kube_emu_bin();
        let mut spec = LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .password(PASSWORD);
        for h in masters.iter().chain(workers) {
            spec = spec.host(h);
        }
        let lab = Lab::up(spec.build()).expect("lab up");
        let shims = kube_emu::fixture::install_shims(&lab).expect("kubeadm/k3s shims");
        let (net, _) = lab.subnet();
        let o = net.octets();
        // Outside the range the lab hands out to hosts (.10–.250).
        let vip = (masters.len() > 1).then(|| Ipv4Addr::new(o[0], o[1], o[2], 253));
        let c = Cluster {
            lab,
            dir: tempfile::tempdir().expect("tempdir"),
            masters: masters.iter().map(|s| s.to_string()).collect(),
            workers: workers.iter().map(|s| s.to_string()).collect(),
            vip,
            runtime,
            _shims: shims,
        };
        for m in &c.masters {
            kube_emu::fixture::install_cni_stand_in(&c.lab, m).expect("CNI stand-in");
        }
        c.write_inventory();
        c.write_request();
        c
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn ip(&self, host: &str) -> Ipv4Addr {
        self.lab.host(host).expect("host").ip
    }

    fn write_inventory(&self) {
        let s1 = self.ip("s1");
        let mut inv = String::from("format_version: 1\n");
        if let Some(v) = self.vip {
            inv.push_str(&format!("cluster_vip: {v}/{}\n", self.lab.subnet().1));
        }
        inv.push_str(&format!(
            "hosts:\n  - name: s1\n    role: storage\n    ssh: {s1}\n    ports: {{storage_server_CP: {s1}}}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}, device: /dev/vdb}}\n"
        ));
        for m in &self.masters {
            inv.push_str(&format!(
                "  - name: {m}\n    role: master\n    ssh: {}\n",
                self.ip(m)
            ));
        }
        for w in &self.workers {
            inv.push_str(&format!(
                "  - name: {w}\n    role: worker\n    ssh: {}\n",
                self.ip(w)
            ));
        }
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
            self.path("request.json"),
            serde_json::to_vec_pretty(&r).expect("json"),
        )
        .expect("write request");
    }

    /// `vnf-mgmt <args> PACKAGE -r … -i … --vnf-instance-id … --runtime …` with the
    /// execution options.
    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_kube_timeout(args, "60")
    }

    /// [`Cluster::cmd`] with another timeout of the Kubernetes steps (seconds).
    fn cmd_kube_timeout(&self, args: &[&str], kube_timeout: &str) -> Command {
        let mut c = vnf_mgmt();
        c.args(args)
            .arg(SAMPLE_PKG)
            .arg("-r")
            .arg(self.path("request.json"))
            .arg("-i")
            .arg(self.path("inventory.yaml"))
            .args([
                "--vnf-instance-id",
                INSTANCE,
                "--no-digests",
                "--connect-timeout",
                "5",
                "--kube-timeout",
                kube_timeout,
                "--runtime",
                self.runtime,
            ])
            .arg("--known-hosts")
            .arg(self.lab.known_hosts())
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--events")
            .arg(self.path("events.jsonl"));
        if self.runtime == "kubeadm" {
            // Calico's pinned manifest is not reachable offline: the stand-in file.
            c.arg("--cni-manifest")
                .arg(kube_emu::fixture::CNI_STAND_IN_URL);
        }
        c
    }

    fn instantiate(&self) -> Command {
        let mut c = self.cmd(&["instantiate"]);
        c.arg("--install-cluster")
            .arg("--kubeconfig-out")
            .arg(self.path("kubeconfig"))
            .arg("--vim-info-out")
            .arg(self.path("vim.json"));
        c
    }

    fn first_master(&self) -> &str {
        &self.masters[0]
    }

    fn admin_kubeconfig(&self) -> &'static str {
        if self.runtime == "k3s" {
            "/etc/rancher/k3s/k3s.yaml"
        } else {
            "/etc/kubernetes/admin.conf"
        }
    }

    /// `kubectl` on `host` with the admin kubeconfig; stdout.
    fn kubectl_on(&self, host: &str, args: &[&str]) -> String {
        let mut argv = vec!["kubectl", "--kubeconfig", self.admin_kubeconfig()];
        argv.extend_from_slice(args);
        let o = self.lab.exec(host, &argv).expect("kubectl runs");
        assert!(
            o.status.success(),
            "kubectl {args:?} on {host}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_on(self.first_master(), args)
    }

    /// Node name → (uid, Ready, unschedulable).
    fn nodes(&self) -> BTreeMap<String, (String, bool, bool)> {
        let json = self.kubectl(&["get", "nodes", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("nodes JSON");
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                let ready = n["status"]["conditions"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                    .unwrap_or(false);
                (
                    n["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    (
                        n["metadata"]["uid"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        ready,
                        n["spec"]["unschedulable"].as_bool().unwrap_or(false),
                    ),
                )
            })
            .collect()
    }

    fn assert_nodes_ready(&self, expected: &[&str]) {
        let nodes = self.nodes();
        let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = expected.to_vec();
        want.sort_unstable();
        assert_eq!(names, want, "{nodes:?}");
        for (n, (_, ready, _)) in &nodes {
            assert!(ready, "{n} not Ready: {nodes:?}");
        }
    }

    fn events(&self) -> String {
        std::fs::read_to_string(self.path("events.jsonl")).unwrap_or_default()
    }

    /// Everything vnf-mgmt wrote on this side: events, journals, kubeconfig excluded.
    fn local_records(&self) -> String {
        let mut all = self.events();
        if let Ok(rd) = std::fs::read_dir(self.path("state")) {
            for e in rd.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
    }

    /// Replaces a VM by a fresh one with the same address (what Heat does on a heal).
    fn rebuild(&self, host: &str) {
        let ip = self.ip(host);
        self.lab.remove_host(host).expect("remove host");
        self.lab
            .add_host(HostSpec {
                name: host.into(),
                ip: Some(ip),
                ..Default::default()
            })
            .expect("add the rebuilt host");
    }

    /// The `server` lines of HAProxy's backend on `host`.
    fn haproxy_servers(&self, host: &str) -> Vec<String> {
        let cfg = self
            .lab
            .exec_ok(host, &["cat", "/etc/haproxy/haproxy.cfg"])
            .expect("haproxy.cfg");
        let mut names: Vec<String> = cfg
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("server "))
            .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
            .collect();
        names.sort();
        names
    }

    fn etcd_members(&self, host: &str) -> Vec<String> {
        let out = self
            .lab
            .exec_ok(
                host,
                &[
                    "etcdctl",
                    "--endpoints",
                    "http://127.0.0.1:2379",
                    "member",
                    "list",
                ],
            )
            .expect("etcdctl member list");
        let mut names: Vec<String> = out
            .lines()
            .filter_map(|l| l.split(", ").nth(2).map(|s| s.trim().to_string()))
            .collect();
        names.sort();
        names
    }

    /// The master holding the VIP.
    fn vip_holder(&self) -> Option<String> {
        let vip = self.vip?.to_string();
        self.masters.iter().find_map(|m| {
            let out = self.lab.exec_ok(m, &["ip", "-o", "-4", "addr"]).ok()?;
            out.contains(&format!(" {vip}/")).then(|| m.clone())
        })
    }
}

/// Runs `cmd`; on a non-zero exit panics with its output and the last lines of the
/// kubeadm/k3s logs of every master (what an operator would look at).
fn ok(c: &Cluster, cmd: &mut Command) -> Output {
    let o = cmd.output().expect("vnf-mgmt runs");
    if o.status.code() != Some(0) {
        let mut logs = String::new();
        for m in &c.masters {
            let out = c
                .lab
                .exec(
                    m,
                    &[
                        "sh",
                        "-c",
                        "tail -n 15 /var/log/vnf-mgmt-k3s.log /var/log/kube-emu/*.log /var/log/vnf-mgmt-kubeadm-*.log 2>/dev/null",
                    ],
                )
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            logs.push_str(&format!("--- logs on {m}\n{out}\n"));
        }
        panic!("{}\n{logs}", show(&o));
    }
    o
}

fn fails(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(3), "{}", show(o));
    text(o)
}

/// `kubectl --kubeconfig FILE` from this machine (outside the lab hosts), until it
/// answers or `within` passes.
fn kubectl_local(kubeconfig: &std::path::Path, args: &[&str], within: Duration) -> String {
    let t0 = Instant::now();
    loop {
        let o = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "5s"])
            .args(args)
            .output()
            .expect("kubectl runs");
        if o.status.success() {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(
            t0.elapsed() < within,
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The bootstrap token secrets on a kubeadm master.
fn token_secrets(c: &Cluster) -> Vec<String> {
    let tokens = c
        .lab
        .exec_ok(c.first_master(), &["kubeadm", "token", "list"])
        .expect("token list");
    tokens
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() == 23 && w.as_bytes().get(6) == Some(&b'.'))
        .map(|w| w[7..].to_string())
        .collect()
}

#[test]
fn simple_cluster_joins_workers_and_resumes_after_a_failed_join() {
    let c = Cluster::up(&["m1"], &["w1", "w2"], "kubeadm");
    // w2's join fails once (the shim's test hook), after w1 has joined in the same phase.
    c.lab
        .exec_ok(
            "w2",
            &[
                "sh",
                "-c",
                "mkdir -p /etc/kube-emu && touch /etc/kube-emu/fail-next-kubeadm-join",
            ],
        )
        .expect("inject a join failure");
    let o = c.instantiate().output().expect("vnf-mgmt runs");
    let first = fails(&o);
    assert!(first.contains("w2/k8s-join"), "{first}");
    // The pod network went on in an earlier phase of this first run.
    assert!(first.contains("m1/k8s-cni ok"), "{first}");
    let before = c.nodes();
    let (w1_uid, ..) = before
        .get("w1")
        .cloned()
        .unwrap_or_else(|| panic!("w1 joined: {before:?}"));
    assert!(!before.contains_key("w2"), "{before:?}");
    // Nothing after the failed phase ran: no PersistentVolume yet.
    let pvs = c.kubectl(&["get", "pv", "-o", "name"]);
    assert!(pvs.trim().is_empty(), "{pvs}");

    // The re-run completes; the joined worker is untouched.
    let o = ok(&c, &mut c.instantiate());
    let t = text(&o);
    c.assert_nodes_ready(&["m1", "w1", "w2"]);
    assert_eq!(c.nodes()["w1"].0, w1_uid, "w1 was joined again");
    assert!(t.contains("m1/pv/nfs-pv1 ok"), "{t}");
    let pv: serde_json::Value =
        serde_json::from_str(&c.kubectl(&["get", "pv", "nfs-pv1", "-o", "json"])).expect("PV");
    assert_eq!(pv["spec"]["nfs"]["server"], c.ip("s1").to_string());
    assert_eq!(pv["status"]["phase"], "Available");
    // Calico applied once, with the request's pod network as its pool.
    let ds: serde_json::Value = serde_json::from_str(&c.kubectl(&[
        "get",
        "daemonset",
        "calico-node",
        "-n",
        "kube-system",
        "-o",
        "json",
    ]))
    .expect("calico-node DaemonSet");
    let env = ds
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    let pool = env
        .iter()
        .find(|e| e["name"] == "CALICO_IPV4POOL_CIDR")
        .map(|e| e["value"].clone());
    assert_eq!(pool, Some("192.168.3.0/16".into()), "{env:?}");
    // /etc/hosts on every node lists every node by its name.
    for h in ["m1", "w1", "w2"] {
        let hosts = c.lab.exec_ok(h, &["cat", "/etc/hosts"]).expect("hosts");
        for n in ["m1", "w1", "w2"] {
            assert!(
                hosts.contains(&format!("{} {n}\n", c.ip(n))),
                "{h}: {hosts}"
            );
        }
    }

    // The exported access: a 0600 kubeconfig that works from here, and the VIM data.
    let kc = c.path("kubeconfig");
    let mode = std::fs::metadata(&kc)
        .expect("kubeconfig written")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let nodes = kubectl_local(
        &kc,
        &["get", "nodes", "-o", "name"],
        Duration::from_secs(10),
    );
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    let vim: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("vim.json")).expect("vim.json"))
            .expect("JSON");
    let vim_text = vim.to_string();
    assert!(vim_text.contains(&c.ip("m1").to_string()), "{vim_text}");
    let token = vim
        .pointer("/access_info/bearer_token")
        .or_else(|| vim.pointer("/accessInfo/bearer_token"))
        .or_else(|| vim.pointer("/interfaceInfo/bearer_token"))
        .and_then(|v| v.as_str())
        .map(String::from);

    // No secret in the output, events, journals, or any process command line.
    let mut secrets = token_secrets(&c);
    assert!(!secrets.is_empty());
    secrets.push(PASSWORD.to_string());
    secrets.extend(token);
    let records = c.local_records();
    let mut argv = String::new();
    for h in ["s1", "m1", "w1", "w2"] {
        argv.push_str(&cmdlines(&c.lab, h));
    }
    for s in &secrets {
        assert!(!t.contains(s.as_str()), "a secret in the output");
        assert!(
            !records.contains(s.as_str()),
            "a secret in events or journals"
        );
        assert!(!argv.contains(s.as_str()), "a secret in a command line");
    }

    // heal entire on the same VMs: everything again, all checks pass, nothing broken.
    run_ok(&mut c.cmd(&["heal", "entire", "--phase", "start"]));
    run_ok(&mut c.cmd(&["heal", "entire", "--phase", "end"]));
    c.assert_nodes_ready(&["m1", "w1", "w2"]);
}

#[test]
fn scale_workers_out_and_in_respecting_a_pdb_then_heal_a_worker() {
    let mut c = Cluster::up(&["m1"], &["w1", "w2"], "kubeadm");
    run_ok(&mut c.instantiate());
    c.assert_nodes_ready(&["m1", "w1", "w2"]);

    // Scale out 2 → 4: the orchestrator adds two VMs; scale_end joins them.
    for w in ["w3", "w4"] {
        c.lab.add_host(HostSpec::new(w)).expect("add worker");
        c.workers.push(w.into());
    }
    c.write_inventory();
    let o = run_ok(&mut c.cmd(&[
        "scale",
        "--aspect",
        "worker_instance",
        "--out",
        "--steps",
        "2",
        "--phase",
        "end",
    ]));
    assert!(text(&o).contains("w4/k8s-join ok"), "{}", text(&o));
    c.assert_nodes_ready(&["m1", "w1", "w2", "w3", "w4"]);
    for h in ["m1", "w1"] {
        let hosts = c.lab.exec_ok(h, &["cat", "/etc/hosts"]).expect("hosts");
        assert!(
            hosts.contains(&format!("{} w4\n", c.ip("w4"))),
            "{h}: {hosts}"
        );
    }

    // A pod on w3 under a PodDisruptionBudget that allows no disruption, a DaemonSet
    // pod on w4 (left alone) and a plain pod on w4 (evicted).
    let manifest = c.path("workload.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: guarded, namespace: default, labels: {app: guarded}}\nspec: {nodeName: w3, containers: [{name: c, image: busybox}]}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: guarded-pdb, namespace: default}\nspec: {minAvailable: 1, selector: {matchLabels: {app: guarded}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: plain, namespace: kube-system}\nspec: {nodeName: w4, containers: [{name: c, image: busybox}]}\n",
    )
    .expect("write manifest");
    let admin = c.path("admin.conf");
    std::fs::write(
        &admin,
        c.lab
            .exec_ok("m1", &["cat", "/etc/kubernetes/admin.conf"])
            .expect("admin.conf"),
    )
    .expect("write admin.conf");
    kubectl_local(
        &admin,
        &[
            "apply",
            "--validate=false",
            "-f",
            &manifest.display().to_string(),
        ],
        Duration::from_secs(10),
    );

    // Scale in 4 → 2: refused while the budget forbids the eviction; both nodes stay.
    let scale_in = |c: &Cluster| {
        let args = [
            "scale",
            "--aspect",
            "worker_instance",
            "--in",
            "--steps",
            "2",
            "--phase",
            "start",
            "--remove",
            "w3",
            "--remove",
            "w4",
        ];
        c.cmd_kube_timeout(&args, "6")
            .output()
            .expect("vnf-mgmt runs")
    };
    let t = fails(&scale_in(&c));
    assert!(t.contains("guarded-pdb") || t.contains("guarded"), "{t}");
    let nodes = c.nodes();
    assert!(
        nodes.contains_key("w3") && nodes.contains_key("w4"),
        "{nodes:?}"
    );
    assert!(nodes["w3"].2, "w3 cordoned: {nodes:?}");
    // The budget relaxed: the drain completes and the Nodes go.
    kubectl_local(
        &admin,
        &["delete", "pdb", "guarded-pdb", "-n", "default"],
        Duration::from_secs(10),
    );
    let o = scale_in(&c);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    c.assert_nodes_ready(&["m1", "w1", "w2"]);
    let pods = kubectl_local(
        &admin,
        &["get", "pods", "-A", "-o", "name"],
        Duration::from_secs(10),
    );
    assert!(
        !pods.contains("guarded") && !pods.contains("plain"),
        "{pods}"
    );
    // The orchestrator removes the VMs; scale_end rewrites the hosts blocks.
    for w in ["w3", "w4"] {
        c.lab.remove_host(w).expect("remove worker");
    }
    c.workers.retain(|w| w != "w3" && w != "w4");
    c.write_inventory();
    run_ok(&mut c.cmd(&[
        "scale",
        "--aspect",
        "worker_instance",
        "--in",
        "--steps",
        "2",
        "--phase",
        "end",
    ]));
    let hosts = c.lab.exec_ok("m1", &["cat", "/etc/hosts"]).expect("hosts");
    assert!(
        !hosts.contains(" w3\n") && !hosts.contains(" w4\n"),
        "{hosts}"
    );

    // Heal a worker: drained and deleted before, a fresh VM joins after.
    let (old_uid, ..) = c.nodes()["w2"].clone();
    run_ok(&mut c.cmd(&["heal", "w2", "--phase", "start"]));
    assert!(!c.nodes().contains_key("w2"));
    c.rebuild("w2");
    run_ok(&mut c.cmd(&["heal", "w2", "--phase", "end"]));
    c.assert_nodes_ready(&["m1", "w1", "w2"]);
    assert_ne!(c.nodes()["w2"].0, old_uid, "w2 registered anew");
    // A single master cannot be healed.
    let o = c
        .cmd(&["heal", "m1", "--phase", "start"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o).contains("driver.plan.single_master_heal"),
        "{}",
        show(&o)
    );
}

#[test]
fn ha_cluster_serves_through_the_vip_heals_a_master_and_survives_losing_the_vip_holder() {
    let c = Cluster::up(&["m1", "m2", "m3"], &["w1", "w2"], "kubeadm");
    // On m1, `kubeadm` records (root-only) every certificate key it hands out, so the
    // test can look for the real keys afterwards.
    let spy = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        spy.path().join("kubeadm"),
        "#!/bin/sh\nif [ \"$1 $2 $3\" = \"init phase upload-certs\" ]; then\n  out=$(/opt/vnf-lab/bin/kube-emu kubeadm \"$@\") || exit $?\n  (umask 077; printf '%s\\n' \"$out\" >>/root/certificate-keys)\n  printf '%s\\n' \"$out\"\n  exit 0\nfi\nexec /opt/vnf-lab/bin/kube-emu kubeadm \"$@\"\n",
    )
    .expect("write the kubeadm spy");
    std::fs::set_permissions(
        spy.path().join("kubeadm"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    c.lab.add_shim(Some("m1"), spy.path()).expect("spy on m1");
    let o = ok(&c, &mut c.instantiate());
    let t = text(&o);
    let keys: Vec<String> = c
        .lab
        .exec_ok("m1", &["cat", "/root/certificate-keys"])
        .expect("recorded certificate keys")
        .lines()
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(String::from)
        .collect();
    assert!(!keys.is_empty(), "no certificate key was handed out");
    let mut argv = String::new();
    for h in ["m1", "m2", "m3", "w1", "w2"] {
        argv.push_str(&cmdlines(&c.lab, h));
    }
    let records = c.local_records();
    for k in keys.iter().chain(&token_secrets(&c)) {
        assert!(
            !t.contains(k.as_str()),
            "a certificate key or token in the output"
        );
        assert!(
            !records.contains(k.as_str()),
            "a certificate key or token in events or journals"
        );
        assert!(
            !argv.contains(k.as_str()),
            "a certificate key or token in a command line"
        );
    }
    for h in ["m2", "m3", "w1"] {
        let logs = c
            .lab
            .exec_ok(
                h,
                &[
                    "sh",
                    "-c",
                    "cat /var/log/vnf-mgmt-* 2>/dev/null; ls /etc/kubernetes-join.* 2>/dev/null || true",
                ],
            )
            .unwrap_or_default();
        for k in &keys {
            assert!(
                !logs.contains(k.as_str()),
                "{h}: a certificate key in a log"
            );
        }
        assert!(
            !logs.contains("kubernetes-join."),
            "{h}: a JoinConfiguration file left behind"
        );
    }
    assert!(t.contains("m3/k8s-join ok"), "{t}");
    c.assert_nodes_ready(&["m1", "m2", "m3", "w1", "w2"]);
    let vip = c.vip.expect("vip").to_string();
    // The exported kubeconfig points at the VIP and works through HAProxy.
    let kc = c.path("kubeconfig");
    let text_kc = std::fs::read_to_string(&kc).expect("kubeconfig");
    assert!(
        text_kc.contains(&format!("https://{vip}:16443")),
        "{text_kc}"
    );
    let nodes = kubectl_local(
        &kc,
        &["get", "nodes", "-o", "name"],
        Duration::from_secs(20),
    );
    assert_eq!(nodes.lines().count(), 5, "{nodes}");
    for m in ["m1", "m2", "m3"] {
        assert_eq!(c.haproxy_servers(m), ["m1", "m2", "m3"], "{m}");
        let mode = c
            .lab
            .exec_ok(m, &["stat", "-c", "%a", "/etc/keepalived/keepalived.conf"])
            .expect("stat");
        assert_eq!(mode.trim(), "600", "{m}");
    }
    assert_eq!(c.etcd_members("m1"), ["m1", "m2", "m3"]);

    // Heal master 2 of 3.
    run_ok(&mut c.cmd(&["heal", "m2", "--phase", "start"]));
    assert_eq!(c.etcd_members("m1"), ["m1", "m3"]);
    for m in ["m1", "m3"] {
        assert_eq!(c.haproxy_servers(m), ["m1", "m3"], "{m}");
    }
    let snaps = c
        .lab
        .exec_ok("m1", &["sh", "-c", "ls /var/lib/vnf-mgmt/etcd-snapshots/"])
        .expect("snapshots");
    assert!(snaps.contains(INSTANCE), "{snaps}");
    c.rebuild("m2");
    run_ok(&mut c.cmd(&["heal", "m2", "--phase", "end"]));
    assert_eq!(c.etcd_members("m1"), ["m1", "m2", "m3"]);
    for m in ["m1", "m2", "m3"] {
        assert_eq!(c.haproxy_servers(m), ["m1", "m2", "m3"], "{m}");
    }
    c.assert_nodes_ready(&["m1", "m2", "m3", "w1", "w2"]);

    // The VIP holder dies: keepalived moves the VIP, the API still answers through it.
    let holder = c.vip_holder().expect("a master holds the VIP");
    c.lab.kill_host(&holder).expect("kill the VIP holder");
    let t0 = Instant::now();
    let moved = loop {
        if let Some(h) = c.vip_holder() {
            break h;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "VIP not taken over");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_ne!(moved, holder);
    let nodes = kubectl_local(
        &kc,
        &["get", "nodes", "-o", "name"],
        Duration::from_secs(60),
    );
    assert_eq!(nodes.lines().count(), 5, "{nodes}");
}

#[test]
fn k3s_simple_and_ha_clusters() {
    for (masters, workers) in [
        (&["m1"][..], &["w1", "w2"][..]),
        (&["m1", "m2", "m3"][..], &["w1"][..]),
    ] {
        let c = Cluster::up(masters, workers, "k3s");
        let o = ok(&c, &mut c.instantiate());
        let t = text(&o);
        let mut all: Vec<&str> = masters.to_vec();
        all.extend_from_slice(workers);
        c.assert_nodes_ready(&all);
        assert!(t.contains("m1/pv/nfs-pv1 ok"), "{t}");
        let kc = c.path("kubeconfig");
        let nodes = kubectl_local(
            &kc,
            &["get", "nodes", "-o", "name"],
            Duration::from_secs(20),
        );
        assert_eq!(nodes.lines().count(), all.len(), "{nodes}");
        // A re-run changes nothing.
        ok(&c, &mut c.instantiate());
        c.assert_nodes_ready(&all);
        // The k3s token is nowhere in the output, events, journals or command lines.
        let token = c
            .lab
            .exec_ok("m1", &["cat", "/var/lib/rancher/k3s/server/token"])
            .expect("token");
        let token = token.trim();
        let secret = token.rsplit(':').next().unwrap_or(token);
        assert!(!secret.is_empty());
        assert!(!t.contains(secret));
        assert!(!c.local_records().contains(secret));
        for h in &all {
            assert!(!cmdlines(&c.lab, h).contains(secret), "{h}");
        }
        if masters.len() == 1 {
            continue;
        }
        // Heal the first server (the one that ran --cluster-init): its etcd member goes,
        // the rebuilt VM joins the existing cluster (its data is still there), never a
        // second --cluster-init.
        let o = c
            .lab
            .exec_input(
                "m1",
                &[
                    "kubectl",
                    "--kubeconfig",
                    c.admin_kubeconfig(),
                    "create",
                    "--validate=false",
                    "-f",
                    "-",
                ],
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before-heal, namespace: default}\ndata: {k: v}\n",
            )
            .expect("kubectl runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let members = |host: &str| {
            c.lab
                .exec_ok(
                    host,
                    &[
                        "etcdctl",
                        "--endpoints",
                        "http://127.0.0.1:2379",
                        "member",
                        "list",
                    ],
                )
                .expect("etcdctl member list")
                .lines()
                .count()
        };
        assert_eq!(members("m2"), 3);
        ok(&c, &mut c.cmd(&["heal", "m1", "--phase", "start"]));
        assert_eq!(members("m2"), 2);
        c.rebuild("m1");
        ok(&c, &mut c.cmd(&["heal", "m1", "--phase", "end"]));
        assert_eq!(members("m2"), 3);
        c.assert_nodes_ready(&all);
        let cfg = c
            .lab
            .exec_ok("m1", &["cat", "/etc/rancher/k3s/config.yaml"])
            .expect("config");
        assert!(!cfg.contains("cluster-init"), "{cfg}");
        assert!(
            c.kubectl_on(
                "m1",
                &[
                    "get",
                    "configmap",
                    "before-heal",
                    "-n",
                    "default",
                    "-o",
                    "name"
                ]
            )
            .contains("before-heal")
        );
    }
}
