//! The k3s shim on loopback: an embedded-etcd server, a second server joining, an agent,
//! wrong tokens, and etcd-snapshot.

use kube_emu::harness::{TempDir, free_port, kubectl};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Host {
    root: PathBuf,
    api: u16,
    ec: u16,
    ep: u16,
    child: Option<Child>,
}

impl Host {
    fn new(dir: &Path, name: &str) -> Host {
        Host {
            root: dir.join(name),
            api: free_port().unwrap(),
            ec: free_port().unwrap(),
            ep: free_port().unwrap(),
            child: None,
        }
    }
    fn cmd(&self, bin: &Path, token: Option<&str>) -> Command {
        let mut c = Command::new(bin);
        c.env("KUBE_EMU_ROOT", &self.root)
            .env("KUBE_EMU_API_PORT", self.api.to_string())
            .env("KUBE_EMU_ETCD_CLIENT_PORT", self.ec.to_string())
            .env("KUBE_EMU_ETCD_PEER_PORT", self.ep.to_string())
            .env_remove("K3S_TOKEN")
            .env_remove("K3S_URL");
        if let Some(t) = token {
            c.env("K3S_TOKEN", t); // never in argv
        }
        c
    }
    /// Start a foreground k3s process and wait for `ready` (a file it writes) or its exit.
    fn start(&mut self, mut cmd: Command, ready: &Path) -> Result<(), String> {
        let log = self.root.with_extension("log");
        std::fs::create_dir_all(&self.root).unwrap();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready.exists() {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(st) = child.try_wait().unwrap() {
                return Err(format!(
                    "exited {st}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "not ready: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn kubeconfig(&self) -> PathBuf {
        self.root.join("etc/rancher/k3s/k3s.yaml")
    }
    /// SIGKILL the k3s process only (its etcd daemon survives, unlike in k3s).
    fn kill_server_only(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let st = c.wait().ok();
        // A server stops its etcd member on SIGTERM.
        if let Ok(pid) = std::fs::read_to_string(self.root.join("run/kube-emu/etcd.pid")) {
            let _ = Command::new("kill")
                .args(["-9", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        st
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn k3s_servers_agent_tokens_snapshot() {
    let dir = TempDir::new("k3s").unwrap();
    let bin = dir.path().join("k3s");
    std::os::unix::fs::symlink(kube_emu::harness::find_bin().unwrap(), &bin).unwrap();
    let mut s1 = Host::new(dir.path(), "s1");
    let mut s2 = Host::new(dir.path(), "s2");
    let mut a1 = Host::new(dir.path(), "a1");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "cluster-secret-1\n").unwrap();

    let mut c = s1.cmd(&bin, None);
    c.args(["server", "--cluster-init", "--token-file"])
        .arg(&token_file)
        .args([
            "--node-ip",
            "127.0.0.1",
            "--node-name",
            "s1",
            "--write-kubeconfig-mode",
            "644",
        ]);
    s1.start(c, &s1.kubeconfig()).unwrap();
    let full = std::fs::read_to_string(s1.root.join("var/lib/rancher/k3s/server/token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        full.starts_with("K10") && full.ends_with("::server:cluster-secret-1"),
        "{full}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(s1.kubeconfig())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    let url = format!("https://127.0.0.1:{}", s1.api);

    // Wrong token: the joining server is refused and exits non-zero.
    let mut bad = s2.cmd(&bin, Some("not-the-secret"));
    bad.args([
        "server",
        "--server",
        &url,
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "s2",
    ]);
    let err = s2.start(bad, &s2.kubeconfig()).unwrap_err();
    assert!(err.contains("401 Unauthorized"), "{err}");
    // A K10 token pinning another CA is refused before any credential is sent.
    let pinned_wrong = format!("K10{}::server:cluster-secret-1", "0".repeat(64));
    let mut bad = a1.cmd(&bin, Some(&pinned_wrong));
    bad.args([
        "agent",
        "--server",
        &url,
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "a1",
    ]);
    let err = a1.start(bad, &dir.path().join("never")).unwrap_err();
    assert!(err.contains("CA certificate hash"), "{err}");

    let mut good = s2.cmd(&bin, Some(&full));
    good.args([
        "server",
        "--server",
        &url,
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "s2",
    ]);
    s2.start(good, &s2.kubeconfig()).unwrap();
    let ready = a1.root.join("var/lib/rancher/k3s/agent/server-ca.crt");
    let mut ag = a1.cmd(&bin, Some("cluster-secret-1"));
    ag.args([
        "agent",
        "--server",
        &url,
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "a1",
        "--node-label",
        "vnf=worker",
    ]);
    a1.start(ag, &ready).unwrap();
    // The agent registers after writing the CA: wait for its Node.
    let deadline = Instant::now() + Duration::from_secs(20);
    let nodes = loop {
        let n = ok(kubectl(&s2.kubeconfig(), &["get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.node-role\\.kubernetes\\.io/etcd},{.metadata.labels.vnf} {end}"], None).unwrap());
        if n.contains("a1") || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(nodes.trim(), "a1=,worker s1=true, s2=true,");
    let members = ok(Command::new("etcdctl")
        .args([
            "--endpoints",
            &format!("http://127.0.0.1:{}", s1.ec),
            "member",
            "list",
        ])
        .output()
        .unwrap());
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        2,
        "{members}"
    );

    // etcd-snapshot save through the real etcdctl.
    let snapdir = dir.path().join("snaps");
    let mut snap = s1.cmd(&bin, None);
    snap.args([
        "etcd-snapshot",
        "save",
        "--name",
        "pre-heal",
        "--etcd-snapshot-dir",
    ])
    .arg(&snapdir);
    let out = snap.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Snapshot pre-heal-"));
    let files: Vec<_> = std::fs::read_dir(&snapdir).unwrap().collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].as_ref().unwrap().metadata().unwrap().len() > 4096);

    // SIGTERM ends a server cleanly.
    assert!(a1.stop().unwrap().success());
    assert!(s2.stop().unwrap().success());
}

fn etcdctl(endpoint: u16, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &format!("http://127.0.0.1:{endpoint}")])
        .args(args)
        .output()
        .unwrap()
}

fn started_members(endpoint: u16) -> Vec<String> {
    ok(etcdctl(endpoint, &["member", "list"]))
        .lines()
        .filter(|l| l.contains("started"))
        .map(|l| l.split(", ").nth(2).unwrap_or("").to_string())
        .collect()
}

fn write_config(h: &Host, text: &str) {
    let p = h.root.join("etc/rancher/k3s/config.yaml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn fail_next(h: &Host, verb: &str) -> PathBuf {
    let p = h.root.join(format!("etc/kube-emu/fail-next-{verb}"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "").unwrap();
    p
}

/// Restart preparation: the readiness marker (k3s.yaml) is written again by the new run.
fn forget_kubeconfig(h: &Host) {
    let _ = std::fs::remove_file(h.kubeconfig());
}

fn jsonpath(h: &Host, args: &[&str]) -> String {
    ok(kubectl(&h.kubeconfig(), args, None).unwrap())
}

#[test]
fn k3s_config_file_injection_restart_and_first_server_heal() {
    let dir = TempDir::new("k3s-cfg").unwrap();
    let bin = dir.path().join("k3s");
    std::os::unix::fs::symlink(kube_emu::harness::find_bin().unwrap(), &bin).unwrap();
    let mut s1 = Host::new(dir.path(), "s1");
    let mut s2 = Host::new(dir.path(), "s2");
    let mut s3 = Host::new(dir.path(), "s3");
    let mut a1 = Host::new(dir.path(), "a1");

    // s1: everything from /etc/rancher/k3s/config.yaml; --node-name overrides the file.
    write_config(
        &s1,
        "cluster-init: true\ntoken: \"cfg-secret-7\"\nnode-name: name-from-file\nnode-ip: 127.0.0.1\ntls-san:\n  - vip.example\n  - 198.18.99.10\nwrite-kubeconfig-mode: \"0644\"\nnode-label:\n  - vnf.example/role=server\n  - tier=cp\n",
    );
    // Injected failure: the server exits 1 once, before creating anything.
    let marker = fail_next(&s1, "k3s-server");
    let mut c = s1.cmd(&bin, None);
    c.args(["server", "--node-name", "s1"]);
    let err = s1.start(c, &s1.kubeconfig()).unwrap_err();
    assert!(err.contains("injected failure"), "{err}");
    assert!(!marker.exists());
    assert!(!s1.root.join("var/lib/rancher").exists());
    assert!(!s1.root.join("run/kube-emu").exists());
    let mut c = s1.cmd(&bin, None);
    c.args(["server", "--node-name", "s1"]);
    s1.start(c, &s1.kubeconfig()).unwrap();
    let full = std::fs::read_to_string(s1.root.join("var/lib/rancher/k3s/server/token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(full.ends_with("::server:cfg-secret-7"), "{full}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(s1.kubeconfig())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    let pem = std::fs::read(s1.root.join("var/lib/rancher/k3s/server/tls/apiserver.crt")).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = p.parse_x509().unwrap();
    let sans = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value
    );
    assert!(
        sans.contains("DNSName(\"vip.example\")") && sans.contains("IPAddress([198, 18, 99, 10])"),
        "{sans}"
    );
    assert_eq!(
        jsonpath(
            &s1,
            &[
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}:{.metadata.labels.vnf\\.example/role}:{.metadata.labels.tier} {end}"
            ]
        )
        .trim(),
        "s1:server:cp"
    );
    let url1 = format!("https://127.0.0.1:{}", s1.api);
    // A second server on the same node fails and leaves the running one alone.
    let etcd_pid = std::fs::read_to_string(s1.root.join("run/kube-emu/etcd.pid")).unwrap();
    let again = s1
        .cmd(&bin, None)
        .args(["server", "--node-name", "s1"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("address already in use"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(s1.root.join("run/kube-emu/etcd.pid")).unwrap(),
        etcd_pid
    );

    // s2 joins from its config file (server + full token); s3 with flags.
    write_config(
        &s2,
        &format!("server: {url1}\ntoken: \"{full}\"\nnode-name: s2\nnode-ip: 127.0.0.1\n"),
    );
    let mut c = s2.cmd(&bin, None);
    c.arg("server");
    s2.start(c, &s2.kubeconfig()).unwrap();
    let mut c = s3.cmd(&bin, Some(&full));
    c.args([
        "server",
        "--server",
        &url1,
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "s3",
    ]);
    s3.start(c, &s3.kubeconfig()).unwrap();
    assert_eq!(started_members(s1.ec).len(), 3);

    // The agent reads the same keys; server-only keys (cluster-init, tls-san) are ignored.
    write_config(
        &a1,
        &format!(
            "server: {url1}\ntoken: cfg-secret-7\nnode-name: a1\nnode-ip: 127.0.0.1\ncluster-init: true\ntls-san: [x.example]\nnode-label: [vnf.example/role=worker]\n"
        ),
    );
    let marker = fail_next(&a1, "k3s-agent");
    let ready = a1.root.join("var/lib/rancher/k3s/agent/server-ca.crt");
    let mut c = a1.cmd(&bin, None);
    c.arg("agent");
    let err = a1.start(c, &ready).unwrap_err();
    assert!(err.contains("injected failure"), "{err}");
    assert!(!marker.exists() && !ready.exists());
    let mut c = a1.cmd(&bin, None);
    c.arg("agent");
    a1.start(c, &ready).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let role = jsonpath(
            &s2,
            &[
                "get",
                "nodes",
                "-o",
                "jsonpath={.items[?(@.metadata.name==\"a1\")].metadata.labels.vnf\\.example/role}",
            ],
        );
        if role == "worker" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent a1 not registered: {role:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pv = r#"{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-heal"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteMany"],"nfs":{"server":"198.18.0.10","path":"/volume/a"}}}"#;
    ok(kubectl(
        &s1.kubeconfig(),
        &["create", "--validate=false", "-f", "-"],
        Some(pv),
    )
    .unwrap());

    // `server --cluster-init` where the database exists restarts the existing member:
    // no second cluster (same member ids, the data is there).
    // s2 is SIGKILLed (its etcd daemon is left over and is stopped by the restart).
    let ids_before = ok(etcdctl(s1.ec, &["member", "list"]));
    s2.kill_server_only();
    forget_kubeconfig(&s2);
    let mut c = s2.cmd(&bin, None);
    c.args(["server", "--cluster-init"]);
    s2.start(c, &s2.kubeconfig()).unwrap();
    let log = std::fs::read_to_string(s2.root.with_extension("log")).unwrap();
    assert!(log.contains("bootstrap already complete"), "{log}");
    assert!(
        log.contains("Stopping the etcd member left by a previous k3s server"),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while started_members(s1.ec).len() < 3 {
        assert!(Instant::now() < deadline, "s2 did not rejoin its cluster");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok(etcdctl(s2.ec, &["member", "list"])), ids_before);
    assert_eq!(
        jsonpath(
            &s2,
            &["get", "pv", "pv-heal", "-o", "jsonpath={.metadata.name}"]
        ),
        "pv-heal"
    );

    // Heal of the first server: it dies, its member is removed, its database wiped; it
    // rejoins through another server with the token and serves again.
    assert!(s1.stop().unwrap().success());
    let list = ok(etcdctl(s2.ec, &["member", "list"]));
    let s1_id = list
        .lines()
        .find(|l| l.contains(", s1, "))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    ok(etcdctl(s2.ec, &["member", "remove", &s1_id]));
    std::fs::remove_dir_all(s1.root.join("var/lib/rancher/k3s/server/db")).unwrap();
    forget_kubeconfig(&s1);
    let url2 = format!("https://127.0.0.1:{}", s2.api);
    let mut c = s1.cmd(&bin, None);
    c.args(["server", "--server", &url2, "--node-name", "s1"]);
    s1.start(c, &s1.kubeconfig()).unwrap();
    let mut members = started_members(s2.ec);
    members.sort();
    assert_eq!(members, ["s1", "s2", "s3"]);
    assert!(!ok(etcdctl(s2.ec, &["member", "list"])).contains(&s1_id));
    assert_eq!(
        jsonpath(
            &s1,
            &["get", "pv", "pv-heal", "-o", "jsonpath={.metadata.name}"]
        ),
        "pv-heal"
    );
    let keys = ok(etcdctl(
        s1.ec,
        &["get", "--prefix", "/registry/minions/", "--keys-only"],
    ));
    assert!(keys.contains("/registry/minions/a1"), "{keys}");

    assert!(a1.stop().unwrap().success());
    assert!(s3.stop().unwrap().success());
}
