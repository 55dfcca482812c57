//! Start real etcd members and emulator processes from Rust (for tests and the lab).
//!
//! ```no_run
//! let c = kube_emu::harness::LocalCluster::start().unwrap();
//! let out = c.kubectl(&["get", "nodes"]).unwrap();
//! # let _ = out;
//! ```

use crate::{kubeconfig, pki};
use anyhow::{Context, Result, anyhow, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; small race window).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!(
            "kube-emu-{tag}-{}-{}",
            std::process::id(),
            pki::random_alnum(8)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kube-emu binary: `$KUBE_EMU_BIN`, else next to the running test executable
/// (`target/<profile>/kube-emu` when run from `target/<profile>/deps/`).
pub fn find_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KUBE_EMU_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(3) {
        let c = dir.join("kube-emu");
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!("kube-emu binary not found: set KUBE_EMU_BIN")
}

fn kill_child(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// One real etcd member on loopback (or any local address).
pub struct EtcdMember {
    child: Option<Child>,
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
}

impl EtcdMember {
    /// `initial_cluster` is `name=peerURL,...`; `state` is `new` or `existing`.
    pub fn start(
        name: &str,
        ip: &str,
        data_dir: &Path,
        initial_cluster: Option<&str>,
        state: &str,
        ports: (u16, u16),
    ) -> Result<EtcdMember> {
        let client_url = format!("http://{ip}:{}", ports.0);
        let peer_url = format!("http://{ip}:{}", ports.1);
        let ic = initial_cluster
            .map(String::from)
            .unwrap_or_else(|| format!("{name}={peer_url}"));
        std::fs::create_dir_all(data_dir)?;
        let log = std::fs::File::create(data_dir.with_extension("log"))?;
        let child = Command::new("etcd")
            .args(["--name", name, "--data-dir"])
            .arg(data_dir)
            .args([
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &ic, "--initial-cluster-state", state])
            .args([
                "--initial-cluster-token",
                "kube-emu",
                "--heartbeat-interval",
                "100",
                "--election-timeout",
                "1000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawn etcd")?;
        Ok(EtcdMember {
            child: Some(child),
            name: name.into(),
            client_url,
            peer_url,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Wait until the member answers a KV read through its gateway.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = self.client_url.trim_start_matches("http://").to_string();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(st) = c.try_wait()?
            {
                bail!(
                    "etcd {} exited: {st}; see {}",
                    self.name,
                    self.data_dir.with_extension("log").display()
                );
            }
            if http_post_ok(&addr, "/v3/kv/range", r#"{"key":"Lw=="}"#) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("etcd {} not ready after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Minimal blocking HTTP/1.1 POST to a plain-HTTP endpoint; true on a 200 answer.
fn http_post_ok(addr: &str, path: &str, body: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(sa) = addr.parse::<std::net::SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200")
}

/// One emulator API server process.
pub struct ApiServer {
    child: Option<Child>,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub addr: String,
    pub pki_dir: PathBuf,
}

impl ApiServer {
    pub fn start(
        bin: &Path,
        etcd_urls: &[String],
        listen: &str,
        pki_dir: &Path,
        token_file: Option<&Path>,
        log: &Path,
    ) -> Result<ApiServer> {
        let ready = pki_dir.join(format!("ready-{}", pki::random_alnum(6)));
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args([
                "--etcd",
                &etcd_urls.join(","),
                "--listen",
                listen,
                "--pki-dir",
            ])
            .arg(pki_dir)
            .arg("--ready-file")
            .arg(&ready);
        if let Some(t) = token_file {
            cmd.arg("--token-auth-file").arg(t);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("spawn kube-emu serve")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(&ready) {
                let _ = std::fs::remove_file(&ready);
                break a;
            }
            if let Some(st) = child.try_wait()? {
                bail!(
                    "kube-emu serve exited: {st}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                kill_child(&mut child);
                bail!(
                    "kube-emu serve not ready: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(ApiServer {
            child: Some(child),
            url: format!("https://{addr}"),
            addr,
            pki_dir: pki_dir.to_path_buf(),
        })
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A ready single-member cluster on loopback: etcd + one API server, an admin kubeconfig
/// (client certificate) and an admin bearer token. Everything is removed on drop.
pub struct LocalCluster {
    pub api: ApiServer,
    pub etcd: EtcdMember,
    pub dir: TempDir,
    pub ca_pem: String,
    /// Static admin bearer token (in `<dir>/tokens.csv`).
    pub admin_token: String,
    /// kubeconfig with the admin client certificate.
    pub kubeconfig: PathBuf,
    /// kubeconfig with the admin bearer token.
    pub token_kubeconfig: PathBuf,
}

impl LocalCluster {
    pub fn start() -> Result<LocalCluster> {
        Self::start_with(&find_bin()?)
    }

    pub fn start_with(bin: &Path) -> Result<LocalCluster> {
        let dir = TempDir::new("cluster")?;
        let mut etcd = None;
        for _ in 0..3 {
            let ports = (free_port()?, free_port()?);
            let mut m = EtcdMember::start(
                "m0",
                "127.0.0.1",
                &dir.path().join("etcd"),
                None,
                "new",
                ports,
            )?;
            if m.wait_ready(Duration::from_secs(20)).is_ok() {
                etcd = Some(m);
                break;
            }
            let _ = std::fs::remove_dir_all(dir.path().join("etcd"));
        }
        let etcd = etcd.ok_or_else(|| anyhow!("etcd did not start"))?;
        let pki_dir = dir.path().join("pki");
        std::fs::create_dir_all(&pki_dir)?;
        let ca = crate::ensure_serving_pki(&pki_dir, &["127.0.0.1".into()])?;
        let admin_token = pki::hex(&pki::random_bytes(16));
        let token_file = dir.path().join("tokens.csv");
        pki::write_private(
            &token_file,
            &format!("{admin_token},admin-token,uid-admin,\"system:masters\"\n"),
        )?;
        let api = ApiServer::start(
            bin,
            std::slice::from_ref(&etcd.client_url),
            "127.0.0.1:0",
            &pki_dir,
            Some(&token_file),
            &dir.path().join("api.log"),
        )?;
        let admin = pki::client_cert(&ca, "kubernetes-admin", &["kubeadm:cluster-admins"])?;
        let kubeconfig = dir.path().join("admin.conf");
        pki::write_private(
            &kubeconfig,
            &kubeconfig::render(
                "kubernetes",
                &api.url,
                &ca.cert_pem,
                "kubernetes-admin",
                kubeconfig::Cred::Cert {
                    cert_pem: &admin.cert_pem,
                    key_pem: &admin.key_pem,
                },
            ),
        )?;
        let token_kubeconfig = dir.path().join("token.conf");
        pki::write_private(
            &token_kubeconfig,
            &kubeconfig::render(
                "kubernetes",
                &api.url,
                &ca.cert_pem,
                "admin-token",
                kubeconfig::Cred::Token(&admin_token),
            ),
        )?;
        Ok(LocalCluster {
            api,
            etcd,
            dir,
            ca_pem: ca.cert_pem,
            admin_token,
            kubeconfig,
            token_kubeconfig,
        })
    }

    /// Run the real kubectl with the admin kubeconfig (and `--validate=false` where needed).
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        kubectl(&self.kubeconfig, args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Result<Output> {
        kubectl(&self.kubeconfig, args, Some(stdin))
    }
}

pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<Output> {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", kubeconfig.parent().unwrap_or(Path::new("/tmp")));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("spawn kubectl")?;
    if let Some(s) = stdin
        && let Some(mut i) = child.stdin.take()
    {
        i.write_all(s.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}
