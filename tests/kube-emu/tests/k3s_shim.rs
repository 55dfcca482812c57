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
