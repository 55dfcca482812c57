//! The HA control-plane scripts: `k8s_lb.sh` (HAProxy + keepalived VIP), `k8s_etcd.sh`
//! (snapshot, exact-name member removal, member count) and the k3s scripts
//! (`k3s_server.sh`, `k3s_agent.sh`, `k3s_join_info.sh`). Generated configurations and
//! argument checks locally; behaviour on real lab hosts (kube-emu kubeadm masters, the
//! k3s shim) through hand-built plans run by the executor.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// VRRP password, easy to find anywhere it leaks (8 characters, keepalived's limit).
const VRRP_PASSWORD: &str = "Vr#9qZx!";
/// Frontend port of HAProxy (the planner's default).
const FRONTEND: &str = "16443";

// ---------------------------------------------------------------------------------
// Local checks: generated configurations and argument validation (nothing on the host
// is touched: every call below fails validation or only renders text).

/// Every embedded script in a fresh directory (lib.sh next to them).
fn script_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in scripts::ALL {
        std::fs::write(dir.path().join(name), content).expect("write script");
    }
    dir
}

/// `bash SCRIPT ARGS` with `stdin`: (exit code, stdout, stderr).
fn run_local(dir: &Path, name: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new("bash")
        .arg(dir.join(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sources `script` (its `main` does not run) and runs `code`; returns stdout.
fn sourced(dir: &Path, script: &str, code: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source \"$1\"\n{code}"))
        .arg("test-harness")
        .arg(dir.join(script))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lb_configs_use_the_given_prefix_and_exactly_the_given_backends() {
    let dir = script_dir();
    let ka = sourced(
        dir.path(),
        "k8s_lb.sh",
        "keepalived_config 10.20.30.70 26 110 42 ens3 'pa#ss!'",
    );
    assert!(ka.contains("    10.20.30.70/26 dev ens3\n"), "{ka}");
    assert!(!ka.contains("/24"), "{ka}");
    assert!(ka.contains("  interface ens3\n"), "{ka}");
    assert!(ka.contains("  virtual_router_id 42\n"), "{ka}");
    assert!(ka.contains("  priority 110\n"), "{ka}");
    assert!(ka.contains("    auth_type PASS\n"), "{ka}");
    // Quoted: keepalived would read '#' and '!' as the start of a comment.
    assert!(ka.contains("    auth_pass \"pa#ss!\"\n"), "{ka}");
    assert!(ka.contains("track_script {\n    chk_haproxy\n  }"), "{ka}");
    assert!(ka.contains("-x haproxy\""), "{ka}");

    let ha = sourced(
        dir.path(),
        "k8s_lb.sh",
        "haproxy_config 16443 master1=10.20.30.1:6443 master12=10.20.30.12:6443",
    );
    assert!(
        ha.contains("frontend kubernetes-apiserver\n  mode tcp\n  bind *:16443\n"),
        "{ha}"
    );
    let servers: Vec<&str> = ha
        .lines()
        .filter(|l| l.trim_start().starts_with("server "))
        .collect();
    assert_eq!(
        servers,
        [
            "  server master1 10.20.30.1:6443 check",
            "  server master12 10.20.30.12:6443 check"
        ],
        "{ha}"
    );
    // The survivors' list alone: master12 without master1 (no prefix matching).
    let ha = sourced(
        dir.path(),
        "k8s_lb.sh",
        "haproxy_config 16443 master12=10.20.30.12:6443",
    );
    let servers: Vec<&str> = ha
        .lines()
        .filter(|l| l.trim_start().starts_with("server "))
        .collect();
    assert_eq!(
        servers,
        ["  server master12 10.20.30.12:6443 check"],
        "{ha}"
    );
    // What the real HAProxy says about it (when installed, as in the lab).
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, &ha).expect("write cfg");
        let out = Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&cfg)
            .output()
            .expect("haproxy -c");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn etcd_client_flags_come_from_the_manifest() {
    let dir = script_dir();
    // kubeadm's manifest: TLS, the loopback listen URL preferred over the advertised one.
    let kubeadm = dir.path().join("etcd-kubeadm.yaml");
    std::fs::write(
        &kubeadm,
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n\
         \x20   - --advertise-client-urls=https://10.0.0.11:2379\n\
         \x20   - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n\
         \x20   - --key-file=/etc/kubernetes/pki/etcd/server.key\n\
         \x20   - --listen-client-urls=https://10.0.0.11:2379,https://127.0.0.1:2379\n\
         \x20   - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt\n\
         \x20   - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/peer-ca.crt\n\
         \x20   - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n",
    )
    .expect("write manifest");
    let code = |m: &Path| {
        format!(
            "MANIFEST={}; setup_etcdctl; printf '%s\\n' \"${{ETCDCTL[@]}}\"",
            m.display()
        )
    };
    let argv = sourced(dir.path(), "k8s_etcd.sh", &code(&kubeadm));
    let argv: Vec<&str> = argv.lines().collect();
    let after = |flag: &str| {
        argv.iter()
            .position(|a| *a == flag)
            .and_then(|i| argv.get(i + 1).copied())
    };
    assert_eq!(
        after("--endpoints"),
        Some("https://127.0.0.1:2379"),
        "{argv:?}"
    );
    assert_eq!(
        after("--cert"),
        Some("/etc/kubernetes/pki/etcd/server.crt"),
        "{argv:?}"
    );
    assert_eq!(
        after("--key"),
        Some("/etc/kubernetes/pki/etcd/server.key"),
        "{argv:?}"
    );
    assert_eq!(
        after("--cacert"),
        Some("/etc/kubernetes/pki/etcd/ca.crt"),
        "{argv:?}"
    );
    // Plain HTTP without a loopback URL (and no TLS files): the advertised URL, no certs.
    let plain = dir.path().join("etcd-plain.yaml");
    std::fs::write(
        &plain,
        "spec:\n  containers:\n  - command: [\"sh\", \"-c\", \"etcd --advertise-client-urls=http://10.0.0.12:2379\"]\n",
    )
    .expect("write manifest");
    let argv = sourced(dir.path(), "k8s_etcd.sh", &code(&plain));
    assert!(
        argv.contains("--endpoints\nhttp://10.0.0.12:2379\n"),
        "{argv}"
    );
    assert!(!argv.contains("--cert"), "{argv}");
    // An https URL without the TLS files is refused, naming the manifest.
    let bad = dir.path().join("etcd-bad.yaml");
    std::fs::write(
        &bad,
        "    - --advertise-client-urls=https://10.0.0.13:2379\n",
    )
    .expect("write manifest");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source \"$1\"\n{}", code(&bad)))
        .arg("test-harness")
        .arg(dir.path().join("k8s_etcd.sh"))
        .output()
        .expect("bash");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("etcd-bad.yaml: an https client URL without"),
        "{err}"
    );
}

#[test]
fn ha_scripts_reject_bad_arguments_before_touching_the_host() {
    let dir = script_dir();
    let d = dir.path();
    let pw = format!("vrrp_password={VRRP_PASSWORD}\n");
    let lb_ok = [
        "10.0.0.100",
        "24",
        "16443",
        "100",
        "51",
        "10.0.0.1",
        "master1=10.0.0.1:6443",
    ];
    let bad_lb = [
        (0, "10.0.0.256", "invalid VIP"),
        (1, "33", "invalid prefix length"),
        (1, "0", "invalid prefix length"),
        (2, "70000", "invalid frontend port"),
        (3, "255", "invalid priority"),
        (4, "256", "invalid virtual router id"),
        (4, "051", "invalid virtual router id"),
        (5, "10.0.0.100", "must not be the node's own address"),
        (6, "Master1=10.0.0.1:6443", "invalid backend"),
        (6, "master1=10.0.0.1", "invalid backend"),
        (6, "master1=10.0.0.1:6443;reboot", "invalid backend"),
    ];
    for (i, bad, message) in bad_lb {
        let mut args = lb_ok;
        args[i] = bad;
        let (code, _, err) = run_local(d, "k8s_lb.sh", &args, &pw);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let mut dup = lb_ok.to_vec();
    dup.push("master1=10.0.0.2:6443");
    let (code, _, err) = run_local(d, "k8s_lb.sh", &dup, &pw);
    assert_eq!(code, 1);
    assert!(err.contains("duplicate backend name: master1"), "{err}");
    // The password only on stdin; a bad one is refused without being echoed.
    for stdin in [
        "",
        "vrrp_password=\n",
        "vrrp_password=123456789\n",
        "vrrp_password=a b\n",
    ] {
        let (code, out, err) = run_local(d, "k8s_lb.sh", &lb_ok, stdin);
        assert_eq!(code, 1, "{stdin:?}");
        assert!(err.contains("no valid vrrp_password on stdin"), "{err}");
        assert!(!err.contains("123456789") && !out.contains("123456789"));
    }
    let (code, _, err) = run_local(d, "k8s_lb.sh", &lb_ok[..6], &pw);
    assert_eq!(code, 1);
    assert!(err.contains("usage: k8s_lb.sh"), "{err}");

    for (args, message) in [
        (&[][..], "usage: k8s_etcd.sh"),
        (&["snapshot"][..], "usage: k8s_etcd.sh snapshot PATH"),
        (&["snapshot", "relative.db"][..], "invalid snapshot path"),
        (&["snapshot", "/var/../etc/x"][..], "invalid snapshot path"),
        (&["snapshot", "/tmp/a b"][..], "invalid snapshot path"),
        (&["member-remove", "master1*"][..], "invalid node name"),
        (&["member-remove", "-1"][..], "invalid node name"),
        (
            &["member-count", "x"][..],
            "usage: k8s_etcd.sh member-count",
        ),
        (&["member-list"][..], "unknown command: member-list"),
    ] {
        let (code, _, err) = run_local(d, "k8s_etcd.sh", args, "");
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
    }

    let token = "K10abc::server:Sentinel-k3s-token";
    let tok = format!("token={token}\n");
    for (args, stdin, message) in [
        (&["s1", "10.0.0.1"][..], "", "usage: k3s_server.sh"),
        (&["S1", "10.0.0.1", "init"][..], "", "invalid node name"),
        (
            &["s1", "10.0.0.1.5", "init"][..],
            "",
            "invalid node address",
        ),
        (&["s1", "10.0.0.1", "bootstrap"][..], "", "invalid mode"),
        (
            &["s1", "10.0.0.1", "join"][..],
            tok.as_str(),
            "join needs SERVER_URL",
        ),
        (
            &["s1", "10.0.0.1", "join", "http://10.0.0.2:6443"][..],
            tok.as_str(),
            "invalid server URL",
        ),
        (
            &["s1", "10.0.0.1", "join", "https://10.0.0.2:6443"][..],
            "",
            "no valid token on stdin",
        ),
        (
            &["s1", "10.0.0.1", "init", "-", "bad san"][..],
            "",
            "invalid TLS SAN",
        ),
        (
            &["s1", "10.0.0.1", "init"][..],
            tok.as_str(),
            "init takes no token on stdin",
        ),
        (
            &["s1", "10.0.0.1", "join", "https://10.0.0.2:6443"][..],
            "token=has space\n",
            "no valid token on stdin",
        ),
    ] {
        let (code, out, err) = run_local(d, "k3s_server.sh", args, stdin);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains(token) && !out.contains(token), "token echoed");
    }
    for (args, stdin, message) in [
        (&["a1", "10.0.0.3"][..], tok.as_str(), "usage: k3s_agent.sh"),
        (
            &["a1", "10.0.0.3", "https://10.0.0.1:6443", token][..],
            "",
            "usage: k3s_agent.sh",
        ),
        (
            &["a1", "10.0.0.3", "10.0.0.1:6443"][..],
            tok.as_str(),
            "invalid server URL",
        ),
        (
            &["a1", "10.0.0.3", "https://10.0.0.1:6443"][..],
            "",
            "no valid token on stdin",
        ),
    ] {
        let (code, out, err) = run_local(d, "k3s_agent.sh", args, stdin);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains(token) && !out.contains(token), "token echoed");
    }
    let (code, _, err) = run_local(d, "k3s_join_info.sh", &["x"], "");
    assert_eq!(code, 1);
    assert!(err.contains("usage: k3s_join_info.sh"), "{err}");
}

#[test]
fn ha_scripts_are_shellcheck_clean() {
    let files = [
        "lib.sh",
        "k8s_lb.sh",
        "k8s_etcd.sh",
        "k3s_server.sh",
        "k3s_agent.sh",
        "k3s_join_info.sh",
    ]
    .map(|f| format!("mgmt-driver/scripts/{f}"));
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&files)
        .current_dir(crate::util::repo_root())
        .output()
        .expect("shellcheck is needed for this test: apt-get install -y shellcheck");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------
// Lab: plans run by the executor on real hosts.

fn plan_host(lab: &Lab, name: &str, role: Role) -> PlanHost {
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

/// A `run_script` step; `stdin`/`capture` as (key, secret name) pairs.
fn script(
    host: &str,
    id: &str,
    phase: u32,
    name: &str,
    args: &[String],
    stdin: &[(&str, &str)],
    capture: &[(&str, &str)],
) -> Step {
    let named = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, s)| NamedSecret {
                key: (*k).into(),
                secret: (*s).into(),
            })
            .collect::<Vec<_>>()
    };
    Step {
        id: format!("{host}/{id}"),
        phase,
        host: host.into(),
        action: Action::RunScript {
            script: scripts::remote_path(name),
            args: args.to_vec(),
            sudo: true,
            stdin_secrets: named(stdin),
            capture: named(capture),
        },
        reason: id.into(),
        timeout_secs: 180,
    }
}

/// Runs plans against one lab with its password and pinned host keys.
struct Runner<'a> {
    lab: &'a Lab,
    secrets: Secrets,
    opts: ExecOptions,
    state: tempfile::TempDir,
    /// Every event of every run, as JSON lines.
    events: String,
}

impl<'a> Runner<'a> {
    fn new(lab: &'a Lab, extra: &[(&str, &str)]) -> Self {
        let mut secrets = Secrets::new();
        secrets.insert("lab.password", Secret::new(lab.password()));
        for (k, v) in extra {
            secrets.insert(*k, Secret::new(*v));
        }
        Runner {
            lab,
            secrets,
            opts: ExecOptions {
                host_keys: HostKeyPolicy {
                    known_hosts: Some(lab.known_hosts()),
                    trust_on_first_use: false,
                },
                ..ExecOptions::default()
            },
            state: tempfile::tempdir().expect("state dir"),
            events: String::new(),
        }
    }

    /// Uploads lib.sh and `uploads` to every host of `hosts`, then runs `steps`.
    fn run(&mut self, id: &str, hosts: &[(&str, Role)], uploads: &[&str], steps: Vec<Step>) {
        let mut all = Vec::new();
        for (h, _) in hosts {
            for name in std::iter::once(&"lib.sh").chain(uploads) {
                all.push(upload(h, name));
            }
        }
        all.extend(steps);
        let plan = Plan {
            format_version: mgmt_driver::plan::FORMAT_VERSION,
            operation: Operation::Instantiate,
            vnf_instance_id: id.into(),
            inventory_fingerprint: "a".repeat(64),
            hosts: hosts
                .iter()
                .map(|(h, r)| plan_host(self.lab, h, *r))
                .collect(),
            steps: all,
        };
        let journal = Journal::open(
            self.state.path(),
            &plan.vnf_instance_id,
            "instantiate",
            &plan.inventory_fingerprint,
        )
        .expect("journal");
        let rec = Recorder::default();
        let res = execute(&plan, &self.secrets, &self.opts, journal, &rec);
        let ev = rec
            .events()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        self.events.push_str(&ev);
        self.events.push('\n');
        if let Err(e) = res {
            panic!("{id}: {e}\n{ev}");
        }
    }
}

/// Polls `f` (bounded; a wait, not a timing assertion).
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn holds_vip(lab: &Lab, host: &str, vip: Ipv4Addr) -> bool {
    lab.exec_ok(host, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        .is_ok_and(|s| s.contains(&format!(" {vip}/")))
}

/// The pid in `file` on `host` (empty when missing).
fn pid_of(lab: &Lab, host: &str, file: &str) -> String {
    lab.exec_ok(
        host,
        &["sh", "-c", &format!("cat {file} 2>/dev/null || true")],
    )
    .unwrap_or_default()
    .trim()
    .to_string()
}

/// Node names listed by the real kubectl through `server` (admin kubeconfig; the API
/// certificate is checked for its `kubernetes.default` name, which every master has).
fn nodes_via(lab: &Lab, admin_conf: &Path, ip: Ipv4Addr, server: &str) -> Option<Vec<String>> {
    lab.guard(ip).ok()?;
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(admin_conf)
        .args([
            "--server",
            server,
            "--tls-server-name",
            "kubernetes.default",
            "--request-timeout",
            "5s",
            "get",
            "nodes",
            "-o",
            "name",
        ])
        .output()
        .ok()?;
    out.status.success().then(|| {
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_start_matches("node/").to_string())
            .collect();
        v.sort();
        v
    })
}

/// The `server` lines of a host's HAProxy configuration.
fn server_lines(lab: &Lab, host: &str) -> Vec<String> {
    lab.exec_ok(host, &["cat", "/etc/haproxy/haproxy.cfg"])
        .expect("haproxy.cfg")
        .lines()
        .filter(|l| l.trim_start().starts_with("server "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Every process's argv on the host, NUL turned into spaces.
fn all_cmdlines(lab: &Lab, host: &str) -> String {
    lab.exec_ok(
        host,
        &[
            "sh",
            "-c",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <\"$f\" 2>/dev/null; echo; done",
        ],
    )
    .unwrap_or_default()
}

/// Runs an uploaded script as root on the host, directly (for its printed output).
fn run_uploaded(lab: &Lab, host: &str, name: &str, args: &[&str]) -> (bool, String) {
    let cmd = format!(
        "bash \"$(getent passwd {} | cut -d: -f6)/{}\" \"$@\"",
        lab.user(),
        scripts::remote_path(name)
    );
    let mut argv = vec!["bash", "-c", cmd.as_str(), name];
    argv.extend_from_slice(args);
    let o = lab.exec(host, &argv).expect("exec");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn ensure_kube_emu() {
    crate::lab_instantiate::ensure_kube_emu_bin();
}

/// Three kubeadm masters (`master1`, `master12`, `m3`: one name a prefix of another)
/// behind `k8s_lb.sh`: the API answers through the VIP, the VIP moves when its holder
/// dies, re-runs change nothing, backend lists are rewritten exactly; `k8s_etcd.sh`
/// snapshots, counts and removes members by exact name.
#[test]
fn kubeadm_masters_behind_the_vip_and_etcd_maintenance() {
    ensure_kube_emu();
    let names = ["master1", "master12", "m3"];
    let lab = Lab::up(
        LabSpec::builder()
            .host("master1")
            .host("master12")
            .host("m3")
            .build(),
    )
    .expect("lab up");
    let cluster = kube_emu::fixture::kubeadm_cluster(&lab, &names, &[]).expect("kubeadm cluster");
    let ip = |h: &str| lab.host(h).expect("host").ip;
    let vip = lab.reserve_ip().expect("VIP");
    let (_, prefix) = lab.subnet();
    let backend = |h: &str| format!("{h}={}:6443", ip(h));
    let lb_args = |h: &str, prio: u32, backends: &[&str]| {
        let mut a = vec![
            vip.to_string(),
            prefix.to_string(),
            FRONTEND.to_string(),
            prio.to_string(),
            "42".to_string(),
            ip(h).to_string(),
        ];
        a.extend(backends.iter().map(|b| backend(b)));
        a
    };
    let prios = [("master1", 150), ("master12", 120), ("m3", 100)];
    let hosts: Vec<(&str, Role)> = names.iter().map(|n| (*n, Role::Master)).collect();
    let lb_steps = |backends: &[&str], only: Option<&str>| {
        prios
            .iter()
            .filter(|(h, _)| only.is_none_or(|o| o == *h))
            .map(|(h, p)| {
                script(
                    h,
                    "lb",
                    1,
                    "k8s_lb.sh",
                    &lb_args(h, *p, backends),
                    &[("vrrp_password", "cluster.vrrp_password")],
                    &[],
                )
            })
            .collect::<Vec<_>>()
    };
    let mut runner = Runner::new(&lab, &[("cluster.vrrp_password", VRRP_PASSWORD)]);
    runner.run(
        "ha-lb",
        &hosts,
        &["k8s_lb.sh", "k8s_etcd.sh"],
        lb_steps(&names, None),
    );

    // The highest priority holds the VIP, with the subnet's prefix; only there.
    wait_for("VIP on master1", 40, || holds_vip(&lab, "master1", vip));
    let addr = lab
        .exec_ok(
            "master1",
            &["ip", "-4", "-o", "addr", "show", "dev", "eth0"],
        )
        .expect("ip addr");
    assert!(addr.contains(&format!(" {vip}/{prefix} ")), "{addr}");
    assert!(!holds_vip(&lab, "master12", vip) && !holds_vip(&lab, "m3", vip));
    for h in names {
        let conf = lab
            .exec_ok(h, &["cat", "/etc/keepalived/keepalived.conf"])
            .expect("keepalived.conf");
        assert!(
            conf.contains(&format!("    {vip}/{prefix} dev eth0\n")),
            "{conf}"
        );
        assert!(conf.contains("virtual_router_id 42\n"), "{conf}");
        let mode = lab
            .exec_ok(h, &["stat", "-c", "%a", "/etc/keepalived/keepalived.conf"])
            .expect("stat");
        assert_eq!(mode.trim(), "600", "{h}");
        assert_eq!(server_lines(&lab, h).len(), 3, "{h}");
    }
    // The API through the VIP: the three masters listed with the admin credentials.
    let server = format!("https://{vip}:{FRONTEND}");
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    wait_for("the API through the VIP", 60, || {
        nodes_via(&lab, &cluster.admin_conf, vip, &server).as_ref() == Some(&expected)
    });

    // Re-run unchanged: nothing restarted or reloaded (same pids).
    let pids = |h: &str| {
        (
            pid_of(&lab, h, "/run/haproxy.pid"),
            pid_of(&lab, h, "/run/keepalived.pid"),
        )
    };
    let before: Vec<_> = names.iter().map(|h| pids(h)).collect();
    assert!(
        before.iter().all(|(a, b)| !a.is_empty() && !b.is_empty()),
        "{before:?}"
    );
    runner.run(
        "ha-lb",
        &hosts,
        &["k8s_lb.sh", "k8s_etcd.sh"],
        lb_steps(&names, None),
    );
    let after: Vec<_> = names.iter().map(|h| pids(h)).collect();
    assert_eq!(before, after, "a re-run restarted a service");
    let conf_before = lab
        .exec_ok("m3", &["stat", "-c", "%Y %i", "/etc/haproxy/haproxy.cfg"])
        .expect("stat");

    // Heal-style rewrite on m3: the survivors' list, then the full list again.
    runner.run(
        "ha-lb-survivors",
        &hosts[2..],
        &["k8s_lb.sh"],
        lb_steps(&["master12", "m3"], Some("m3")),
    );
    assert_eq!(
        server_lines(&lab, "m3"),
        [
            format!("server master12 {}:6443 check", ip("master12")),
            format!("server m3 {}:6443 check", ip("m3")),
        ]
    );
    assert_ne!(
        pids("m3").0,
        before[2].0,
        "HAProxy not reloaded after a change"
    );
    assert_eq!(
        pids("m3").1,
        before[2].1,
        "keepalived restarted though unchanged"
    );
    runner.run(
        "ha-lb-full",
        &hosts[2..],
        &["k8s_lb.sh"],
        lb_steps(&names, Some("m3")),
    );
    assert_eq!(
        server_lines(&lab, "m3"),
        [
            format!("server master1 {}:6443 check", ip("master1")),
            format!("server master12 {}:6443 check", ip("master12")),
            format!("server m3 {}:6443 check", ip("m3")),
        ]
    );
    let conf_after = lab
        .exec_ok("m3", &["stat", "-c", "%Y %i", "/etc/haproxy/haproxy.cfg"])
        .expect("stat");
    assert_ne!(conf_before, conf_after, "config not rewritten");
    let conf = lab
        .exec_ok("m3", &["cat", "/etc/haproxy/haproxy.cfg"])
        .expect("cfg");
    assert!(conf.contains("frontend kubernetes-apiserver\n  mode tcp\n  bind *:16443\n"));

    // etcd: snapshot (0600, the printed digest is the file's), members, exact names.
    let (ok, out) = run_uploaded(
        &lab,
        "master12",
        "k8s_etcd.sh",
        &["snapshot", "/var/backups/etcd-snap.db"],
    );
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("snapshot="))
        .unwrap_or_default()
        .to_string();
    let sha = lab
        .exec_ok("master12", &["sha256sum", "/var/backups/etcd-snap.db"])
        .expect("sha256sum");
    let sha = sha.split_whitespace().next().unwrap_or_default();
    assert_eq!(
        line,
        format!("snapshot=/var/backups/etcd-snap.db sha256={sha}")
    );
    let mode = lab
        .exec_ok(
            "master12",
            &["stat", "-c", "%a %s", "/var/backups/etcd-snap.db"],
        )
        .expect("stat");
    let (mode, size) = mode.trim().split_once(' ').unwrap_or_default();
    assert_eq!(mode, "600");
    assert!(size.parse::<u64>().unwrap_or(0) > 0, "empty snapshot");
    let count = |h: &str| {
        let (ok, out) = run_uploaded(&lab, h, "k8s_etcd.sh", &["member-count"]);
        assert!(ok, "{out}");
        out.lines()
            .find_map(|l| l.strip_prefix("members="))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(count("master12"), "3");
    let (ok, out) = run_uploaded(
        &lab,
        "master12",
        "k8s_etcd.sh",
        &["member-remove", "master"],
    );
    assert!(ok && out.contains("no etcd member named master"), "{out}");
    assert_eq!(count("master12"), "3", "an absent name removed something");
    // Its own member: refused on this node (the manifest's --name).
    let (ok, out) = run_uploaded(&lab, "m3", "k8s_etcd.sh", &["member-remove", "m3"]);
    assert!(!ok && out.contains("refusing to remove m3"), "{out}");
    assert_eq!(count("master12"), "3");
    // Also through the executor (no stdin, no capture).
    runner.run(
        "ha-etcd-count",
        &hosts[1..2],
        &["k8s_etcd.sh"],
        vec![script(
            "master12",
            "etcd-count",
            1,
            "k8s_etcd.sh",
            &["member-count".to_string()],
            &[],
            &[],
        )],
    );

    // The VIP holder dies: the VIP moves to master12, the API answers through it.
    let killed = Instant::now();
    lab.kill_host("master1").expect("kill master1");
    wait_for("VIP on master12 after master1 died", 60, || {
        holds_vip(&lab, "master12", vip)
    });
    let moved = killed.elapsed();
    assert!(!holds_vip(&lab, "m3", vip));
    wait_for("the API through the VIP after the failover", 90, || {
        nodes_via(&lab, &cluster.admin_conf, vip, &server).as_ref() == Some(&expected)
    });
    // Reported, not asserted (measurements belong to benchmarks).
    eprintln!(
        "failover: VIP moved after {} ms, API answering through it after {} ms",
        moved.as_millis(),
        killed.elapsed().as_millis()
    );

    // The dead master's member goes, by its exact name: master12 stays.
    runner.run(
        "ha-etcd-remove",
        &hosts[1..2],
        &["k8s_etcd.sh"],
        vec![script(
            "master12",
            "etcd-remove",
            1,
            "k8s_etcd.sh",
            &["member-remove".to_string(), "master1".to_string()],
            &[],
            &[],
        )],
    );
    assert_eq!(count("master12"), "2");
    let list = lab
        .exec_ok(
            "master12",
            &[
                "etcdctl",
                "--endpoints",
                "http://127.0.0.1:2379",
                "member",
                "list",
            ],
        )
        .expect("member list");
    assert!(
        list.contains(", master12, ") && list.contains(", m3, "),
        "{list}"
    );
    assert!(!list.contains(", master1, "), "{list}");
    // Removing it again: nothing to do.
    let (ok, out) = run_uploaded(&lab, "m3", "k8s_etcd.sh", &["member-remove", "master1"]);
    assert!(ok && out.contains("no etcd member named master1"), "{out}");
    assert_eq!(count("m3"), "2");

    // The VRRP password: only in the 0600 file, nowhere in argv or events.
    for h in ["master12", "m3"] {
        assert!(
            !all_cmdlines(&lab, h).contains(VRRP_PASSWORD),
            "{h}: password in argv"
        );
    }
    assert!(!runner.events.contains(VRRP_PASSWORD), "password in events");
}

/// k3s: a cluster-init server, a second server joining with the captured token on stdin,
/// an agent; all registered; a re-run changes nothing; the token nowhere in argv/events.
#[test]
fn k3s_servers_and_agent_join_with_the_token_on_stdin_only() {
    ensure_kube_emu();
    let lab = Lab::up(LabSpec::builder().host("s1").host("s2").host("a1").build()).expect("lab up");
    let _shims = kube_emu::fixture::install_shims(&lab).expect("k3s shim");
    let ip = |h: &str| lab.host(h).expect("host").ip.to_string();
    let url = format!("https://{}:6443", ip("s1"));
    let vip_san = "10.99.0.10".to_string();
    let tok = [("token", "cluster.k3s_token")];
    let steps = || {
        vec![
            script(
                "s1",
                "k3s-init",
                1,
                "k3s_server.sh",
                &[
                    "s1".into(),
                    ip("s1"),
                    "init".into(),
                    "-".into(),
                    vip_san.clone(),
                ],
                &[],
                &[],
            ),
            script("s1", "k3s-join-info", 2, "k3s_join_info.sh", &[], &[], &tok),
            script(
                "s2",
                "k3s-join",
                3,
                "k3s_server.sh",
                &[
                    "s2".into(),
                    ip("s2"),
                    "join".into(),
                    url.clone(),
                    vip_san.clone(),
                ],
                &tok,
                &[],
            ),
            script(
                "a1",
                "k3s-agent",
                4,
                "k3s_agent.sh",
                &["a1".into(), ip("a1"), url.clone()],
                &tok,
                &[],
            ),
        ]
    };
    let hosts = [
        ("s1", Role::Master),
        ("s2", Role::Master),
        ("a1", Role::Worker),
    ];
    let uploads = ["k3s_server.sh", "k3s_agent.sh", "k3s_join_info.sh"];
    let mut runner = Runner::new(&lab, &[]);
    runner.run("k3s", &hosts, &uploads, steps());

    // Registered, seen through the API of s1 (its admin kubeconfig).
    let nodes = || {
        let out = lab
            .exec_ok(
                "s1",
                &[
                    "kubectl",
                    "--kubeconfig",
                    "/etc/rancher/k3s/k3s.yaml",
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={range .items[*]}{.metadata.name} {.metadata.uid}{\"\\n\"}{end}",
                ],
            )
            .expect("kubectl get nodes");
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    };
    let first = nodes();
    let names: Vec<&str> = first
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["a1", "s1", "s2"], "{first:?}");
    // Two etcd members (both servers).
    let members = lab
        .exec_ok(
            "s1",
            &[
                "etcdctl",
                "--endpoints",
                "http://127.0.0.1:2379",
                "member",
                "list",
            ],
        )
        .expect("member list");
    assert_eq!(members.lines().count(), 2, "{members}");

    // The configuration files: 0600, the token only where a join needs it.
    let token = lab
        .exec_ok("s1", &["cat", "/var/lib/rancher/k3s/server/token"])
        .expect("token")
        .trim()
        .to_string();
    assert!(token.starts_with("K10"), "unexpected token format");
    for (h, has_token) in [("s1", false), ("s2", true), ("a1", true)] {
        let mode = lab
            .exec_ok(h, &["stat", "-c", "%a", "/etc/rancher/k3s/config.yaml"])
            .expect("stat");
        assert_eq!(mode.trim(), "600", "{h}");
        let conf = lab
            .exec_ok(h, &["cat", "/etc/rancher/k3s/config.yaml"])
            .expect("config.yaml");
        assert_eq!(conf.contains(&token), has_token, "{h}");
        assert!(conf.contains(&format!("node-name: \"{h}\"")), "{h}");
    }
    let s1_conf = lab
        .exec_ok("s1", &["cat", "/etc/rancher/k3s/config.yaml"])
        .expect("config.yaml");
    assert!(s1_conf.contains("cluster-init: true\n"), "{s1_conf}");
    assert!(
        s1_conf.contains("tls-san:\n  - \"10.99.0.10\"\n"),
        "{s1_conf}"
    );

    // The daemons outlived the SSH sessions; a re-run leaves them (same pids, same nodes).
    let pids = || {
        ["s1", "s2", "a1"]
            .iter()
            .map(|h| pid_of(&lab, h, "/run/vnf-mgmt-k3s.pid"))
            .collect::<Vec<_>>()
    };
    let before = pids();
    assert!(before.iter().all(|p| !p.is_empty()), "{before:?}");
    runner.run("k3s", &hosts, &uploads, steps());
    assert_eq!(pids(), before, "a re-run restarted k3s");
    assert_eq!(nodes(), first, "a re-run changed the nodes");

    // A changed agent configuration (another server) restarts the agent; it registers
    // again as the same Node.
    let url2 = format!("https://{}:6443", ip("s2"));
    runner.run(
        "k3s-agent-s2",
        &[("s1", Role::Master), ("a1", Role::Worker)],
        &["k3s_join_info.sh", "k3s_agent.sh"],
        vec![
            script("s1", "k3s-join-info", 1, "k3s_join_info.sh", &[], &[], &tok),
            script(
                "a1",
                "k3s-agent",
                2,
                "k3s_agent.sh",
                &["a1".into(), ip("a1"), url2.clone()],
                &tok,
                &[],
            ),
        ],
    );
    let a1_pid = pid_of(&lab, "a1", "/run/vnf-mgmt-k3s.pid");
    assert_ne!(
        a1_pid, before[2],
        "agent not restarted after its server changed"
    );
    let conf = lab
        .exec_ok("a1", &["cat", "/etc/rancher/k3s/config.yaml"])
        .expect("config.yaml");
    assert!(conf.contains(&format!("server: \"{url2}\"")), "{conf}");
    assert_eq!(nodes(), first, "the agent's Node changed");

    // The first server's k3s stops; `init` again restarts it on its existing datastore:
    // the same cluster (same token, same Node objects), not a fresh one.
    lab.exec_ok("s1", &["sh", "-c", "kill $(cat /run/vnf-mgmt-k3s.pid)"])
        .expect("stop k3s on s1");
    wait_for("k3s on s1 stopped", 30, || {
        let pid = pid_of(&lab, "s1", "/run/vnf-mgmt-k3s.pid");
        lab.exec_ok(
            "s1",
            &[
                "sh",
                "-c",
                &format!("test -e /proc/{pid} && echo alive || true"),
            ],
        )
        .map(|o| o.trim().is_empty())
        .unwrap_or(false)
    });
    runner.run(
        "k3s-restart",
        &[("s1", Role::Master)],
        &["k3s_server.sh"],
        vec![script(
            "s1",
            "k3s-init",
            1,
            "k3s_server.sh",
            &[
                "s1".into(),
                ip("s1"),
                "init".into(),
                "-".into(),
                vip_san.clone(),
            ],
            &[],
            &[],
        )],
    );
    assert_ne!(pid_of(&lab, "s1", "/run/vnf-mgmt-k3s.pid"), before[0]);
    let again = lab
        .exec_ok("s1", &["cat", "/var/lib/rancher/k3s/server/token"])
        .expect("token")
        .trim()
        .to_string();
    assert!(again == token, "a new cluster token after the restart");
    assert_eq!(nodes(), first, "the restarted server made a new cluster");

    // The token: never in any process's argv, never in events.
    let secret = token.rsplit(':').next().unwrap_or_default().to_string();
    assert!(secret.len() >= 16, "short token secret");
    for h in ["s1", "s2", "a1"] {
        let argv = all_cmdlines(&lab, h);
        assert!(argv.contains("k3s "), "{h}: no k3s process: {argv}");
        assert!(!argv.contains(&secret), "{h}: token in argv");
    }
    assert!(!runner.events.contains(&secret), "token in events");
    // Nor left in a temporary file, a log or the login user's run directory.
    for h in ["s1", "s2", "a1"] {
        let found = lab
            .exec_ok(
                h,
                &[
                    "sh",
                    "-c",
                    "grep -rlF -- \"$1\" /tmp /var/log /home 2>/dev/null || true",
                    "sh",
                    &secret,
                ],
            )
            .expect("grep");
        assert!(found.trim().is_empty(), "{h}: token left in {found}");
    }
}
