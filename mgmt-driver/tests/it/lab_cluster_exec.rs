//! Executor support for the cluster install on real lab hosts: a step's `key=value`
//! outputs captured into the run's secret store and given to a later step's script on
//! stdin (a 0600 file, removed after), never in argv, events or journals.

use mgmt_driver::events::Recorder;
use mgmt_driver::exec::{ExecOptions, HostKeyPolicy, execute};
use mgmt_driver::journal::Journal;
use mgmt_driver::plan::{
    Action, Credential, FileSource, NamedSecret, Operation, Plan, PlanHost, Step,
};
use mgmt_driver::scripts;
use mgmt_driver::secret::{Secret, Secrets};
use mgmt_driver::topology::Role;
use vnf_lab::{Lab, LabSpec};

const PASSWORD: &str = "Sentinel-Pw-c4e1";
/// A bootstrap token shaped like kubeadm's, easy to find anywhere it leaks.
const TOKEN: &str = "s3ntnl.q9z8x7w6v5u4t3s2";
const HASH: &str = "sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// A fake `kubeadm`: on the master it prints a join command with the sentinel token; on
/// a worker `join --config F` records the config, its mode and its own argv.
const FAKE_KUBEADM: &str = r#"#!/bin/sh
case "$1 $2" in
  "token create")
    echo "kubeadm join 10.0.0.1:6443 --token s3ntnl.q9z8x7w6v5u4t3s2 --discovery-token-ca-cert-hash sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
    ;;
  "join --config")
    cp "$3" /root/join-config-seen
    stat -c %a "$3" >/root/join-config-mode
    echo "$*" >>/root/kubeadm-argv
    mkdir -p /etc/kubernetes && echo joined >/etc/kubernetes/kubelet.conf
    ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#;

fn host(lab: &Lab, name: &str, role: Role) -> PlanHost {
    let h = lab.host(name).expect("lab host");
    PlanHost {
        name: name.into(),
        role,
        address: h.ip.to_string(),
        port: h.ssh_port,
        user: h.user.clone(),
        credential: Credential::Password {
            secret: "lab.password".into(),
        },
        sudo_password: Some("lab.password".into()),
        host_keys: vec![],
    }
}

fn upload(host: &str, name: &str) -> Step {
    Step {
        id: format!("{host}/upload/{name}"),
        phase: 0,
        host: host.into(),
        action: Action::UploadFile {
            path: scripts::remote_path(name),
            mode: 0o700,
            sha256: scripts::sha256(name).unwrap_or_default(),
            source: FileSource::Embedded { name: name.into() },
        },
        reason: format!("script {name}"),
        timeout_secs: 60,
    }
}

fn script(host: &str, id: &str, phase: u32, name: &str, args: &[&str]) -> Step {
    Step {
        id: format!("{host}/{id}"),
        phase,
        host: host.into(),
        action: Action::RunScript {
            script: scripts::remote_path(name),
            args: args.iter().map(|a| a.to_string()).collect(),
            sudo: true,
            stdin_secrets: vec![],
            capture: vec![],
        },
        reason: id.into(),
        timeout_secs: 60,
    }
}

fn secrets_of(keys: &[(&str, &str)]) -> Vec<NamedSecret> {
    keys.iter()
        .map(|(k, s)| NamedSecret {
            key: (*k).into(),
            secret: (*s).into(),
        })
        .collect()
}

fn plan(lab: &Lab) -> Plan {
    let pairs = [
        ("token", "cluster.join_token"),
        ("ca_cert_hash", "cluster.ca_cert_hash"),
    ];
    let mut info = script("m1", "join-info", 1, "k8s_join_info.sh", &[]);
    if let Action::RunScript { capture, .. } = &mut info.action {
        *capture = secrets_of(&pairs);
    }
    let mut join = script("w1", "join", 2, "k8s_join.sh", &["w1", "10.0.0.1:6443"]);
    if let Action::RunScript { stdin_secrets, .. } = &mut join.action {
        *stdin_secrets = secrets_of(&pairs);
    }
    Plan {
        format_version: mgmt_driver::plan::FORMAT_VERSION,
        operation: Operation::Instantiate,
        vnf_instance_id: "cluster-exec-test".into(),
        inventory_fingerprint: "f".repeat(64),
        hosts: vec![host(lab, "m1", Role::Master), host(lab, "w1", Role::Worker)],
        steps: vec![
            upload("m1", "lib.sh"),
            upload("m1", "k8s_join_info.sh"),
            upload("w1", "lib.sh"),
            upload("w1", "k8s_join.sh"),
            info,
            join,
        ],
    }
}

fn events_text(r: &Recorder) -> String {
    r.events()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn captured_join_token_reaches_the_worker_on_stdin_only() {
    let lab = Lab::up(
        LabSpec::builder()
            .host("m1")
            .host("w1")
            .password(PASSWORD)
            .build(),
    )
    .expect("lab up");
    // sudo asks for the password on the worker: it goes to sudo, the secrets to the script.
    lab.exec_ok(
        "w1",
        &["sed", "-i", "s/NOPASSWD://", "/etc/sudoers.d/90-vnf-lab"],
    )
    .expect("sudo with password");
    let bin = tempfile::tempdir().expect("tempdir");
    let kubeadm = bin.path().join("kubeadm");
    std::fs::write(&kubeadm, FAKE_KUBEADM).expect("write fake kubeadm");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kubeadm, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fake kubeadm");
    }
    lab.add_shim(None, bin.path())
        .expect("fake kubeadm on PATH");
    lab.exec_ok(
        "m1",
        &[
            "sh",
            "-c",
            "mkdir -p /etc/kubernetes && echo admin >/etc/kubernetes/admin.conf",
        ],
    )
    .expect("admin.conf");

    let plan = plan(&lab);
    let mut secrets = Secrets::new();
    secrets.insert("lab.password", Secret::new(PASSWORD));
    let opts = ExecOptions {
        host_keys: HostKeyPolicy {
            known_hosts: Some(lab.known_hosts()),
            trust_on_first_use: false,
        },
        ..ExecOptions::default()
    };
    let state = tempfile::tempdir().expect("state dir");
    let open = || {
        Journal::open(
            state.path(),
            &plan.vnf_instance_id,
            "instantiate",
            &plan.inventory_fingerprint,
        )
        .expect("journal")
    };

    let rec = Recorder::default();
    let sum = execute(&plan, &secrets, &opts, open(), &rec).expect("first run");
    assert_eq!(sum.executed, 6);

    // The worker's kubeadm got both values from its config file (mode 0600) only.
    let seen = lab
        .exec_ok("w1", &["cat", "/root/join-config-seen"])
        .expect("config seen");
    assert!(seen.contains(TOKEN) && seen.contains(HASH), "{seen}");
    assert!(seen.contains("name: \"w1\""), "{seen}");
    let mode = lab
        .exec_ok("w1", &["cat", "/root/join-config-mode"])
        .expect("mode");
    assert_eq!(mode.trim(), "600");
    let argv = lab
        .exec_ok("w1", &["cat", "/root/kubeadm-argv"])
        .expect("argv");
    assert!(!argv.contains(TOKEN) && !argv.contains("sha256:"), "{argv}");
    // The stdin file and the JoinConfiguration are gone.
    let list = format!(
        "ls -A \"$(getent passwd {} | cut -d: -f6)/.vnf-mgmt/run\" && (ls -d /etc/kubernetes-join.* 2>/dev/null; true)",
        lab.user()
    );
    let left = lab.exec_ok("w1", &["sh", "-c", &list]).expect("ls run dir");
    assert!(left.trim().is_empty(), "left behind: {left}");
    // Never in events or the journal.
    let ev = events_text(&rec);
    assert!(!ev.contains(TOKEN) && !ev.contains("5e5e5e5e"), "{ev}");
    let journal = std::fs::read_to_string(
        state
            .path()
            .join(&plan.vnf_instance_id)
            .join("instantiate.done.json"),
    )
    .expect("finished journal");
    assert!(journal.contains("w1/join"), "{journal}");
    assert!(!journal.contains(TOKEN));

    // Re-run (a finished run leaves no journal, every step runs again): the capture
    // works again and the joined worker is left alone (kubeadm join not called again).
    let rec = Recorder::default();
    let sum = execute(&plan, &secrets, &opts, open(), &rec).expect("re-run");
    assert_eq!(sum.executed, 6, "{}", events_text(&rec));
    assert!(!events_text(&rec).contains(TOKEN));
    let argv = lab
        .exec_ok("w1", &["cat", "/root/kubeadm-argv"])
        .expect("argv");
    assert_eq!(argv.lines().count(), 1, "joined twice: {argv}");
}

#[test]
fn a_missing_output_or_secret_is_a_clear_error() {
    let lab = Lab::up(LabSpec::builder().host("w1").password(PASSWORD).build()).expect("lab up");
    let mut join = script("w1", "join", 1, "k8s_join.sh", &["w1", "10.0.0.1:6443"]);
    if let Action::RunScript { stdin_secrets, .. } = &mut join.action {
        *stdin_secrets = secrets_of(&[("token", "cluster.join_token")]);
    }
    let plan = Plan {
        format_version: mgmt_driver::plan::FORMAT_VERSION,
        operation: Operation::Instantiate,
        vnf_instance_id: "cluster-exec-missing".into(),
        inventory_fingerprint: "e".repeat(64),
        hosts: vec![host(&lab, "w1", Role::Worker)],
        steps: vec![upload("w1", "lib.sh"), upload("w1", "k8s_join.sh"), join],
    };
    let mut secrets = Secrets::new();
    secrets.insert("lab.password", Secret::new(PASSWORD));
    let opts = ExecOptions {
        host_keys: HostKeyPolicy {
            known_hosts: Some(lab.known_hosts()),
            trust_on_first_use: false,
        },
        ..ExecOptions::default()
    };
    let state = tempfile::tempdir().expect("state dir");
    let journal = Journal::open(
        state.path(),
        &plan.vnf_instance_id,
        "instantiate",
        &plan.inventory_fingerprint,
    )
    .expect("journal");
    let err = execute(&plan, &secrets, &opts, journal, &Recorder::default())
        .expect_err("no token captured");
    assert_eq!(err.code.id, "driver.step.secret_missing");
    assert_eq!(err.step.as_deref(), Some("w1/join"));
    assert!(
        err.message.contains("cluster.join_token"),
        "{}",
        err.message
    );
}

/// `kubectl get node NAME -o json` on m1 with the admin kubeconfig.
fn node_json(lab: &Lab, name: &str) -> serde_json::Value {
    let json = lab
        .exec_ok(
            "m1",
            &[
                "kubectl",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
                "get",
                "node",
                name,
                "-o",
                "json",
            ],
        )
        .expect("kubectl get node");
    serde_json::from_str(&json).expect("node JSON")
}

/// `vnf-mgmt instantiate --install-cluster` on a master with the kubeadm shim and no
/// pre-made cluster: the master is initialised, the PVs registered on that cluster; a
/// re-run leaves the node alone. (Workers, HA, scale, heal: `lab_cluster.rs`.)
#[test]
fn instantiate_installs_the_master_and_registers_pvs_on_it() {
    use crate::lab_instantiate::{SENTINEL, Setup, ensure_kube_emu_bin, run_ok, text};
    ensure_kube_emu_bin();
    let s = Setup::up_with(true);
    let _shims = kube_emu::fixture::install_shims(&s.lab).expect("kubeadm shim");
    // Only the master and the storage server in the topology.
    let inv = std::fs::read_to_string(s.path("inventory.yaml")).expect("inventory");
    let inv = inv.replace(
        &format!(
            "  - name: w1\n    role: worker\n    ssh: {w1}\n    ports: {{workerNode_CP2: {w1}}}\n",
            w1 = s.lab.host("w1").expect("w1").ip
        ),
        "",
    );
    assert!(!inv.contains("w1"), "{inv}");
    std::fs::write(s.path("inventory.yaml"), inv).expect("write inventory");
    let kh = s.known_hosts_args();
    let mut args: Vec<&str> = kh.iter().map(String::as_str).collect();
    args.push("--install-cluster");
    // No pod network here (none reachable offline; lab_cluster.rs applies a stand-in).
    args.extend(["--cni", "none"]);

    let o = run_ok(&mut s.instantiate_cmd("request.json", &args));
    let t = text(&o);
    assert!(t.contains("m1/k8s-init ok"), "{t}");
    assert!(t.contains("m1/nodes-ready ok"), "{t}");
    assert!(t.contains("m1/pv/nfs-pv1 ok"), "{t}");
    assert!(!t.contains(SENTINEL), "{t}");
    let node = node_json(&s.lab, "m1");
    let created = node["metadata"]["creationTimestamp"].clone();
    assert!(created.is_string(), "{node}");
    let ready = node["status"]["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .unwrap_or(false);
    assert!(ready, "{node}");
    // The hosts block names the master.
    let hosts = s.lab.exec_ok("m1", &["cat", "/etc/hosts"]).expect("hosts");
    let m1 = s.lab.host("m1").expect("m1").ip;
    assert!(
        hosts.contains(&format!(
            "# BEGIN vnf-mgmt cluster nodes\n{m1} m1\n# END vnf-mgmt cluster nodes"
        )),
        "{hosts}"
    );
    // The bootstrap token the join information step captured is nowhere in the output.
    let tokens = s
        .lab
        .exec_ok("m1", &["kubeadm", "token", "list"])
        .expect("token list");
    let ids: Vec<&str> = tokens
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() == 23 && w.as_bytes().get(6) == Some(&b'.'))
        .collect();
    assert!(!ids.is_empty(), "{tokens}");
    for id in &ids {
        let secret = &id[7..];
        assert!(!t.contains(secret), "token in output");
        assert!(!s.events().contains(secret), "token in events");
    }

    // Re-run: kubeadm init is not run again; the node object is the same.
    let o = run_ok(&mut s.instantiate_cmd("request.json", &args));
    assert!(text(&o).contains("m1/pv/nfs-pv2 ok"), "{}", text(&o));
    let again = node_json(&s.lab, "m1");
    assert_eq!(again["metadata"]["creationTimestamp"], created);
    assert_eq!(again["metadata"]["uid"], node["metadata"]["uid"]);
}
