//! What the node shims share: host paths, daemons (etcd, API server), an API client,
//! Node registration, the install delay.

use crate::etcd::Etcd;
use crate::pki;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Host path: `$KUBE_EMU_ROOT` + absolute path (the real path when unset).
pub fn host_path(p: &str) -> PathBuf {
    match std::env::var_os("KUBE_EMU_ROOT") {
        Some(r) if !r.is_empty() => PathBuf::from(r).join(p.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

pub fn env_port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VNF_LAB_INSTALL_DELAY_MS`: models slow installs in benchmarks.
pub fn install_delay() {
    if let Some(ms) = std::env::var("VNF_LAB_INSTALL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// The host's primary IPv4 (first global address), or 127.0.0.1.
pub fn host_ip() -> String {
    if let Ok(out) = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut it = line.split_whitespace();
            while let Some(w) = it.next() {
                if w == "inet"
                    && let Some(a) = it.next()
                {
                    return a.split('/').next().unwrap_or("127.0.0.1").to_string();
                }
            }
        }
    }
    "127.0.0.1".into()
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_else(|_| "localhost".into())
}

fn pid_file(name: &str) -> PathBuf {
    host_path(&format!("/run/kube-emu/{name}.pid"))
}

/// Start a detached daemon (own session, output to /var/log/kube-emu/<name>.log).
pub fn spawn_daemon(name: &str, program: &Path, args: &[String]) -> Result<u32> {
    let logdir = host_path("/var/log/kube-emu");
    std::fs::create_dir_all(&logdir)?;
    std::fs::create_dir_all(host_path("/run/kube-emu"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logdir.join(format!("{name}.log")))?;
    let child = Command::new("setsid")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {name}"))?;
    let pid = child.id();
    std::fs::write(pid_file(name), pid.to_string())?;
    // The child is reaped by whoever inherits it; we do not wait for it.
    std::mem::forget(child);
    Ok(pid)
}

pub fn daemon_pid(name: &str) -> Option<u32> {
    std::fs::read_to_string(pid_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn daemon_alive(name: &str) -> bool {
    daemon_pid(name).is_some_and(|p| {
        Path::new(&format!("/proc/{p}")).exists()
            && !std::fs::read_to_string(format!("/proc/{p}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    })
}

pub fn stop_daemon(name: &str) {
    if let Some(pid) = daemon_pid(name) {
        let _ = Command::new("kill")
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while daemon_alive(name) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if daemon_alive(name) {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = std::fs::remove_file(pid_file(name));
}

pub struct EtcdSpec<'a> {
    pub name: &'a str,
    pub ip: &'a str,
    pub client_port: u16,
    pub peer_port: u16,
    pub initial_cluster: String,
    pub state: &'a str,
    pub data_dir: PathBuf,
}

pub fn etcd_urls(ip: &str, client_port: u16, peer_port: u16) -> (String, String) {
    (
        format!("http://{ip}:{client_port}"),
        format!("http://{ip}:{peer_port}"),
    )
}

/// The client URLs an etcd member listens on: loopback first, then the host address
/// (one URL when the host address is the loopback address), as kubeadm writes them.
pub fn etcd_listen_client_urls(ip: &str, client_port: u16) -> String {
    if ip == "127.0.0.1" {
        format!("http://127.0.0.1:{client_port}")
    } else {
        format!("http://127.0.0.1:{client_port},http://{ip}:{client_port}")
    }
}

pub fn start_etcd(s: &EtcdSpec<'_>) -> Result<String> {
    let (client, peer) = etcd_urls(s.ip, s.client_port, s.peer_port);
    let listen = etcd_listen_client_urls(s.ip, s.client_port);
    std::fs::create_dir_all(&s.data_dir)?;
    let etcd = which("etcd").ok_or_else(|| anyhow!("etcd not found in PATH"))?;
    let args: Vec<String> = [
        "--name",
        s.name,
        "--data-dir",
        &s.data_dir.to_string_lossy(),
        "--listen-client-urls",
        &listen,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &s.initial_cluster,
        "--initial-cluster-state",
        s.state,
        "--initial-cluster-token",
        "kube-emu",
        "--heartbeat-interval",
        "100",
        "--election-timeout",
        "1000",
        "--snapshot-count",
        "10000",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    spawn_daemon("etcd", &etcd, &args)?;
    Ok(client)
}

pub fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(prog))
            .find(|c| c.is_file())
    })
}

pub async fn wait_etcd(url: &str, timeout: Duration) -> Result<()> {
    let e = Etcd::new(vec![url.to_string()])?;
    let deadline = Instant::now() + timeout;
    loop {
        if !daemon_alive("etcd") {
            bail!(
                "etcd exited; see {}",
                host_path("/var/log/kube-emu/etcd.log").display()
            );
        }
        if tokio::time::timeout(Duration::from_secs(2), e.revision())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("etcd did not become ready in {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start `kube-emu serve` as the API server daemon and wait until it serves.
pub fn start_apiserver(
    etcd: &[String],
    bind: &str,
    advertise: &str,
    pki_dir: &Path,
) -> Result<String> {
    let exe = std::env::current_exe()?;
    let ready = host_path("/run/kube-emu/apiserver.ready");
    let _ = std::fs::remove_file(&ready);
    let args = vec![
        "serve".to_string(),
        "--etcd".into(),
        etcd.join(","),
        "--listen".into(),
        bind.into(),
        "--advertise-address".into(),
        advertise.into(),
        "--pki-dir".into(),
        pki_dir.to_string_lossy().into_owned(),
        "--ready-file".into(),
        ready.to_string_lossy().into_owned(),
    ];
    spawn_daemon("apiserver", &exe, &args)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(a) = std::fs::read_to_string(&ready) {
            return Ok(a);
        }
        if !daemon_alive("apiserver") {
            bail!(
                "API server exited; see {}",
                host_path("/var/log/kube-emu/apiserver.log").display()
            );
        }
        if Instant::now() > deadline {
            bail!("API server did not start in 60s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small API client (reqwest, rustls) trusting `ca_pem` (or nothing: discovery).
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    token: Option<String>,
    basic: Option<(String, String)>,
}

pub enum Auth<'a> {
    Cert(&'a str, &'a str),
    Token(&'a str),
    Basic(&'a str, &'a str),
    Anonymous,
}

impl Api {
    pub fn new(base: &str, ca_pem: Option<&str>, auth: Auth<'_>) -> Result<Api> {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5));
        match ca_pem {
            Some(ca) => b = b.tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes())?]),
            None => b = b.tls_danger_accept_invalid_certs(true),
        }
        let mut token = None;
        let mut basic = None;
        match auth {
            Auth::Cert(c, k) => {
                b = b.identity(reqwest::Identity::from_pem(format!("{c}\n{k}").as_bytes())?)
            }
            Auth::Token(t) => token = Some(t.to_string()),
            Auth::Basic(u, p) => basic = Some((u.to_string(), p.to_string())),
            Auth::Anonymous => {}
        }
        let base = if base.starts_with("https://") {
            base.to_string()
        } else {
            format!("https://{base}")
        };
        Ok(Api {
            http: b.build()?,
            base: base.trim_end_matches('/').to_string(),
            token,
            basic,
        })
    }

    pub fn from_kubeconfig(path: &Path) -> Result<Api> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let k = crate::kubeconfig::parse(&text)?;
        let auth = match (&k.cert_pem, &k.key_pem, &k.token) {
            (Some(c), Some(kk), _) => Auth::Cert(c, kk),
            (_, _, Some(t)) => Auth::Token(t),
            _ => Auth::Anonymous,
        };
        Api::new(&k.server, Some(&k.ca_pem), auth)
    }

    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<(u16, Value)> {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some((u, p)) = &self.basic {
            r = r.basic_auth(u, Some(p));
        }
        if let Some((ct, b)) = body {
            r = r.header("content-type", ct).body(serde_json::to_vec(b)?);
        }
        let resp = r
            .send()
            .await
            .with_context(|| format!("{} unreachable", self.base))?;
        let code = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// GET returning the raw body text (for non-JSON endpoints such as /cacerts).
    pub async fn get_text(&self, path: &str) -> Result<(u16, String)> {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some((u, p)) = &self.basic {
            r = r.basic_auth(u, Some(p));
        }
        let resp = r
            .send()
            .await
            .with_context(|| format!("{} unreachable", self.base))?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.req(reqwest::Method::GET, path, None).await
    }

    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Value> {
        let (code, v) = self.req(method.clone(), path, body).await?;
        if !(200..300).contains(&code) {
            bail!(
                "{method} {path}: HTTP {code}: {}",
                v["message"].as_str().unwrap_or(&v.to_string())
            );
        }
        Ok(v)
    }

    /// Server-side apply.
    pub async fn apply(&self, path: &str, obj: &Value, manager: &str) -> Result<Value> {
        self.ok(
            reqwest::Method::PATCH,
            &format!("{path}?fieldManager={manager}&force=true"),
            Some(("application/apply-patch+yaml", obj)),
        )
        .await
    }
}

pub struct NodeReg<'a> {
    pub name: &'a str,
    pub ip: &'a str,
    pub control_plane: bool,
    pub kubelet_version: &'a str,
    pub extra_labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// `spec.taints`; `None`: kubeadm's default (the control-plane NoSchedule taint on
    /// control-plane nodes, none elsewhere).
    pub taints: Option<Vec<Value>>,
}

/// Register (or refresh) the Node object as a kubelet would: Ready, addresses, labels.
pub async fn register_node(api: &Api, n: &NodeReg<'_>) -> Result<()> {
    let now = crate::util::now_rfc3339();
    let mut labels = json!({"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"});
    let mut taints = json!([]);
    if n.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    if let Some(t) = &n.taints {
        taints = Value::Array(t.clone());
    }
    for (k, v) in &n.extra_labels {
        labels[k] = json!(v);
    }
    let mut ann = json!({"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"});
    for (k, v) in &n.annotations {
        ann[k] = json!(v);
    }
    let mut spec = json!({});
    if n.control_plane || n.taints.as_ref().is_some_and(|t| !t.is_empty()) {
        spec["taints"] = taints;
    }
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name, "labels": labels, "annotations": ann},
        "spec": spec});
    api.apply(&format!("/api/v1/nodes/{}", n.name), &node, "kubelet")
        .await?;
    let status = json!({"status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
        "capacity": {"cpu": "2", "memory": "4014080Ki", "pods": "110", "ephemeral-storage": "20134592Ki"},
        "allocatable": {"cpu": "2", "memory": "3911680Ki", "pods": "110", "ephemeral-storage": "18556039957"},
        "nodeInfo": {"kubeletVersion": n.kubelet_version, "kubeProxyVersion": n.kubelet_version, "operatingSystem": "linux",
            "architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.24", "osImage": "kube-emu node shim",
            "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""}}});
    api.ok(
        reqwest::Method::PATCH,
        &format!("/api/v1/nodes/{}/status", n.name),
        Some(("application/merge-patch+json", &status)),
    )
    .await?;
    Ok(())
}

/// Write a file creating parent directories; private (0600) when `secret`.
pub fn write_file(path: &Path, data: &str, secret: bool) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    if secret {
        pki::write_private(path, data)
    } else {
        std::fs::write(path, data).with_context(|| format!("write {}", path.display()))
    }
}

/// Test-only fault injection: when `/etc/kube-emu/fail-next-<verb>` exists, remove it and
/// fail before anything is changed (verbs: `kubeadm-init`, `kubeadm-join`, `k3s-server`,
/// `k3s-agent`). The next run proceeds normally.
pub fn injected_failure(verb: &str) -> Result<()> {
    let rel = format!("/etc/kube-emu/fail-next-{verb}");
    let p = host_path(&rel);
    if p.exists() {
        std::fs::remove_file(&p).with_context(|| format!("remove {}", p.display()))?;
        bail!(
            "injected failure: {rel} was present (kube-emu test fault injection); it has been removed and nothing was changed, the next run proceeds"
        );
    }
    Ok(())
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
