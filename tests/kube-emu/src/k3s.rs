//! `k3s` shim: `server` (first with `--cluster-init`, others with `--server URL`), `agent`,
//! `etcd-snapshot save`, `kubectl`, `--version`.
//!
//! `server` and `agent` run in the foreground like the real binary. The server keeps a
//! real etcd member as a child process and serves the API in-process.

use crate::cli::Args;
use crate::etcd::Etcd;
use crate::kubeconfig::{self, Cred};
use crate::node::{self, Api, Auth, NodeReg, host_path, write_file};
use crate::pki::{self, Ca};
use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

pub const VERSION: &str = "v1.32.0+k3s1";

/// The secret part of a k3s token: `K10<ca hash>::server:<secret>` → `<secret>`; a plain
/// token is its own secret.
pub fn token_secret(token: &str) -> String {
    let t = token.trim();
    if let Some(rest) = t.strip_prefix("K10")
        && let Some((_, cred)) = rest.split_once("::")
    {
        return cred
            .split_once(':')
            .map(|(_, s)| s)
            .unwrap_or(cred)
            .to_string();
    }
    t.to_string()
}

/// The CA hash a `K10` token pins, if any.
fn token_ca_hash(token: &str) -> Option<String> {
    token
        .trim()
        .strip_prefix("K10")
        .and_then(|r| r.split_once("::"))
        .map(|(h, _)| h.to_string())
}

fn log(level: &str, msg: &str) {
    let t = crate::util::now_rfc3339();
    eprintln!(
        "time=\"{t}\" level={level} msg=\"{}\"",
        msg.replace('"', "\\\"")
    );
}

pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            log("fatal", &format!("{e:#}"));
            1
        }
    }
}

const BOOL_FLAGS: &[&str] = &[
    "cluster-init",
    "disable-network-policy",
    "disable-cloud-controller",
    "disable-kube-proxy",
    "secrets-encryption",
    "debug",
    "version",
    "v",
    "help",
    "h",
    "with-node-id",
    "disable-helm-controller",
    "embedded-registry",
];

const SERVER_FLAGS: &[&str] = &[
    "config",
    "c",
    "cluster-init",
    "server",
    "token",
    "token-file",
    "agent-token",
    "node-ip",
    "node-name",
    "node-external-ip",
    "bind-address",
    "advertise-address",
    "https-listen-port",
    "tls-san",
    "write-kubeconfig-mode",
    "write-kubeconfig",
    "cluster-cidr",
    "service-cidr",
    "cluster-dns",
    "disable",
    "flannel-backend",
    "data-dir",
    "node-label",
    "node-taint",
    "disable-network-policy",
    "disable-cloud-controller",
    "disable-kube-proxy",
    "kube-apiserver-arg",
    "kubelet-arg",
    "kube-controller-manager-arg",
    "secrets-encryption",
    "debug",
    "etcd-expose-metrics",
    "etcd-snapshot-schedule-cron",
    "etcd-snapshot-retention",
    "disable-helm-controller",
    "embedded-registry",
];

const AGENT_FLAGS: &[&str] = &[
    "config",
    "c",
    "server",
    "token",
    "token-file",
    "node-ip",
    "node-name",
    "node-external-ip",
    "node-label",
    "node-taint",
    "data-dir",
    "kubelet-arg",
    "debug",
    "with-node-id",
];

fn run(argv: &[String]) -> Result<()> {
    let Some(sub) = argv.first().map(String::as_str) else {
        bail!("usage: k3s server|agent|etcd-snapshot|kubectl ...");
    };
    match sub {
        "--version" | "-v" | "version" => {
            println!("k3s version {VERSION} (kube-emu)\ngo version go1.23.3");
            Ok(())
        }
        "kubectl" => {
            let st = std::process::Command::new("kubectl")
                .env(
                    "KUBECONFIG",
                    std::env::var_os("KUBECONFIG")
                        .unwrap_or_else(|| host_path("/etc/rancher/k3s/k3s.yaml").into()),
                )
                .args(&argv[1..])
                .status()
                .context("kubectl")?;
            std::process::exit(st.code().unwrap_or(1))
        }
        "server" => {
            let a = Args::parse(&argv[1..], BOOL_FLAGS)?;
            check_flags(&a, SERVER_FLAGS)?;
            let a = with_config_file(a, SERVER_FLAGS)?;
            node::injected_failure("k3s-server")?;
            node::runtime()?.block_on(server(&a))
        }
        "agent" => {
            let a = Args::parse(&argv[1..], BOOL_FLAGS)?;
            check_flags(&a, AGENT_FLAGS)?;
            let a = with_config_file(a, AGENT_FLAGS)?;
            node::injected_failure("k3s-agent")?;
            node::runtime()?.block_on(agent(&a))
        }
        "etcd-snapshot" => {
            let a = Args::parse(&argv[1..], BOOL_FLAGS)?;
            match a.positional.first().map(String::as_str) {
                Some("save") | None => snapshot_save(&a),
                Some(o) => bail!("etcd-snapshot: unsupported subcommand {o:?} (only save)"),
            }
        }
        o => bail!("No help topic for '{o}'"),
    }
}

fn check_flags(a: &Args, known: &[&str]) -> Result<()> {
    for (f, _) in &a.flags {
        if !known.contains(&f.as_str()) {
            bail!("flag provided but not defined: -{f}");
        }
    }
    Ok(())
}

/// The config file k3s reads: `--config`/`-c`, else `$K3S_CONFIG_FILE`, else
/// `/etc/rancher/k3s/config.yaml` (optional only when it is the default).
fn config_file(a: &Args) -> (std::path::PathBuf, bool) {
    match a
        .get("config")
        .or(a.get("c"))
        .map(String::from)
        .or_else(|| {
            std::env::var("K3S_CONFIG_FILE")
                .ok()
                .filter(|f| !f.is_empty())
        }) {
        Some(f) => (std::path::PathBuf::from(f), true),
        None => (host_path("/etc/rancher/k3s/config.yaml"), false),
    }
}

/// Merge the config file into the arguments like k3s: its keys are long flag names
/// (`token`, `server`, `cluster-init`, `node-name`, `tls-san: [..]`, `node-label: [..]`,
/// …); a flag given on the command line wins over the file; keys that are not flags of
/// this subcommand are ignored (server and agent share one file). The file's content
/// is never echoed (it may hold the token).
fn with_config_file(a: Args, known: &[&str]) -> Result<Args> {
    let (path, explicit) = config_file(&a);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(a),
        Err(e) => bail!("failed to read config file {}: {e}", path.display()),
    };
    let v: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        anyhow!(
            "failed to parse config file {}: invalid YAML{at} (content not shown)",
            path.display()
        )
    })?;
    let map = match v {
        serde_json::Value::Null => return Ok(a),
        serde_json::Value::Object(m) => m,
        _ => bail!(
            "failed to parse config file {}: the top level is not a mapping of flag names",
            path.display()
        ),
    };
    let mut from_file: Vec<(String, Option<String>)> = Vec::new();
    for (k, v) in map {
        if k == "config" || !known.contains(&k.as_str()) || a.flags.iter().any(|(f, _)| *f == k) {
            continue;
        }
        let scalar = |v: &serde_json::Value| -> Result<String> {
            match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                serde_json::Value::Bool(b) => Ok(b.to_string()),
                _ => bail!(
                    "failed to parse config file {}: key {k:?} must be a string, number, boolean or a list of them",
                    path.display()
                ),
            }
        };
        match &v {
            serde_json::Value::Null | serde_json::Value::Bool(false) => {}
            serde_json::Value::Bool(true) if BOOL_FLAGS.contains(&k.as_str()) => {
                from_file.push((k.clone(), None))
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    from_file.push((k.clone(), Some(scalar(item)?)));
                }
            }
            other => from_file.push((k.clone(), Some(scalar(other)?))),
        }
    }
    let mut flags = from_file;
    flags.extend(a.flags);
    Ok(Args {
        flags,
        positional: a.positional,
    })
}

/// Token from --token, --token-file, K3S_TOKEN, K3S_TOKEN_FILE (in that order).
fn token_arg(a: &Args) -> Result<Option<String>> {
    if let Some(t) = a.get("token") {
        return Ok(Some(t.trim().to_string()));
    }
    let file = a
        .get("token-file")
        .map(String::from)
        .or_else(|| std::env::var("K3S_TOKEN_FILE").ok());
    if let Some(f) = file {
        return Ok(Some(
            std::fs::read_to_string(&f)
                .with_context(|| format!("reading token file {f}"))?
                .trim()
                .to_string(),
        ));
    }
    Ok(std::env::var("K3S_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

fn server_dir() -> std::path::PathBuf {
    host_path("/var/lib/rancher/k3s/server")
}

fn tls_dir() -> std::path::PathBuf {
    server_dir().join("tls")
}

fn node_ip(a: &Args) -> String {
    a.get("node-ip")
        .map(String::from)
        .unwrap_or_else(node::host_ip)
}

fn node_name(a: &Args) -> String {
    a.get("node-name")
        .map(String::from)
        .or_else(|| std::env::var("K3S_NODE_NAME").ok())
        .unwrap_or_else(node::hostname)
}

async fn wait_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

async fn server(a: &Args) -> Result<()> {
    log("info", &format!("Starting k3s {VERSION}"));
    let ip = node_ip(a);
    let name = node_name(a);
    let port: u16 = a
        .get("https-listen-port")
        .map(|p| p.parse())
        .transpose()
        .map_err(|_| anyhow!("invalid --https-listen-port"))?
        .unwrap_or_else(|| node::env_port("KUBE_EMU_API_PORT", 6443));
    let join = a
        .get("server")
        .map(String::from)
        .or_else(|| std::env::var("K3S_URL").ok())
        .filter(|s| !s.is_empty());
    let token = token_arg(a)?;
    let (cport, pport) = (
        node::env_port("KUBE_EMU_ETCD_CLIENT_PORT", 2379),
        node::env_port("KUBE_EMU_ETCD_PEER_PORT", 2380),
    );
    let (client, peer) = node::etcd_urls(&ip, cport, pport);
    let bind = if ip.starts_with("127.") {
        format!("{ip}:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    // A second server on a node where one runs fails before touching anything (k3s
    // fails binding its ports); it must not take over the running one's etcd.
    if std::net::TcpListener::bind(&bind).is_err() {
        bail!(
            "starting kubernetes: preparing server: listen tcp {bind}: bind: address already in use (is another k3s server running on this node?)"
        );
    }
    // k3s embeds etcd, so it dies with the server; here etcd is a child daemon that
    // survives a SIGKILLed server. No server runs (the port is free): stop the orphan.
    if node::daemon_alive("etcd") {
        log(
            "info",
            "Stopping the etcd member left by a previous k3s server",
        );
        node::stop_daemon("etcd");
    }
    let data_dir = server_dir().join("db/etcd");
    // Serving certificate SANs: the node address and every --tls-san.
    let mut sans = vec![ip.clone()];
    sans.extend(
        a.all("tls-san")
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    );
    // A member whose database exists restarts it (whatever --cluster-init/--server say),
    // like k3s: it never bootstraps a second cluster or joins twice.
    let existing = data_dir.join("member").exists();
    node::install_delay();
    let ca: Ca;
    let secret: String;
    if let Some(url) = join.as_ref().filter(|_| !existing) {
        let token = token
            .ok_or_else(|| anyhow!("--token is required when joining a cluster (--server)"))?;
        secret = token_secret(&token);
        let anon = Api::new(url, None, Auth::Anonymous)?;
        let (code, cacerts) = anon
            .get_text("/cacerts")
            .await
            .map_err(|e| anyhow!("failed to get CA certs: {e:#}"))?;
        if code != 200 {
            bail!("failed to get CA certs: {url}/cacerts: {code}");
        }
        if let Some(h) = token_ca_hash(&token)
            && h != pki::sha256_hex(cacerts.as_bytes())
        {
            bail!(
                "token CA hash does not match the Cluster CA certificate hash: {h} != {}",
                pki::sha256_hex(cacerts.as_bytes())
            );
        }
        let api = Api::new(url, Some(&cacerts), Auth::Basic("server", &secret))?;
        let (code, boot) = api.get("/v1-k3s/server-bootstrap").await?;
        if code != 200 {
            bail!(
                "starting kubernetes: preparing server: failed to bootstrap cluster data: {url}/v1-k3s/server-bootstrap: {code} {}",
                if code == 401 { "Unauthorized" } else { "" }
            );
        }
        ca = Ca {
            cert_pem: boot["ca_crt"].as_str().unwrap_or("").to_string(),
            key_pem: boot["ca_key"].as_str().unwrap_or("").to_string(),
        };
        ca.save(&tls_dir())?;
        write_file(&tls_dir().join("server-ca.crt"), &ca.cert_pem, false)?;
        write_file(&tls_dir().join("client-ca.crt"), &ca.cert_pem, false)?;
        let _ = std::fs::remove_file(tls_dir().join("apiserver.crt"));
        crate::ensure_serving_pki(&tls_dir(), &sans)?;
        let admin = pki::client_cert(&ca, "system:admin", &["system:masters"])?;
        let aapi = Api::new(
            url,
            Some(&ca.cert_pem),
            Auth::Cert(&admin.cert_pem, &admin.key_pem),
        )?;
        let nodes = aapi
            .ok(
                Method::GET,
                "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fetcd",
                None,
            )
            .await?;
        // Our own Node may still carry its old client URL (a server whose database was
        // wiped rejoins): ask the others.
        let endpoints: Vec<String> = nodes["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                n["metadata"]["annotations"]["etcd.k3s.cattle.io/client-url"]
                    .as_str()
                    .map(String::from)
            })
            .filter(|u| *u != client)
            .collect();
        let etcd = Etcd::new(endpoints).context("no etcd members found in the cluster")?;
        let mut tries = 0;
        let (new_id, members) = loop {
            match etcd.member_add(&peer).await {
                Ok(x) => break x,
                Err(e) if tries < 40 && format!("{e:#}").contains("unhealthy cluster") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let initial: Vec<String> = members
            .iter()
            .filter_map(|m| {
                let n = if m.id == new_id {
                    name.clone()
                } else {
                    m.name.clone()
                };
                (!n.is_empty())
                    .then(|| format!("{n}={}", m.peer_urls.first().cloned().unwrap_or_default()))
            })
            .collect();
        log(
            "info",
            &format!("Adding member {name}={peer} to etcd cluster"),
        );
        node::start_etcd(&node::EtcdSpec {
            name: &name,
            ip: &ip,
            client_port: cport,
            peer_port: pport,
            initial_cluster: initial.join(","),
            state: "existing",
            data_dir,
        })?;
        node::wait_etcd(&client, Duration::from_secs(40)).await?;
    } else {
        ca = match Ca::load(&tls_dir()) {
            Ok(c) => c,
            Err(_) => {
                let c = pki::new_ca(&format!(
                    "k3s-server-ca@{}",
                    time::OffsetDateTime::now_utc().unix_timestamp()
                ))?;
                c.save(&tls_dir())?;
                c
            }
        };
        write_file(&tls_dir().join("server-ca.crt"), &ca.cert_pem, false)?;
        write_file(&tls_dir().join("client-ca.crt"), &ca.cert_pem, false)?;
        crate::ensure_serving_pki(&tls_dir(), &sans)?;
        // Without a token a restarting server uses the one it wrote before.
        let token = token.or_else(|| {
            std::fs::read_to_string(server_dir().join("token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        secret = match token {
            Some(t) => token_secret(&t),
            None => pki::hex(&pki::random_bytes(16)),
        };
        let fresh = !existing;
        log(
            "info",
            &format!(
                "Managed etcd cluster {}",
                if fresh {
                    "initializing"
                } else {
                    "bootstrap already complete"
                }
            ),
        );
        node::start_etcd(&node::EtcdSpec {
            name: &name,
            ip: &ip,
            client_port: cport,
            peer_port: pport,
            initial_cluster: format!("{name}={peer}"),
            state: "new",
            data_dir,
        })?;
        node::wait_etcd(&client, Duration::from_secs(30)).await?;
        let etcd = Etcd::new(vec![client.clone()])?;
        match etcd.get("/registry/kube-emu/k3s-token").await? {
            Some(kv)
                if String::from_utf8_lossy(&kv.value) != pki::sha256_hex(secret.as_bytes()) =>
            {
                node::stop_daemon("etcd");
                bail!(
                    "starting kubernetes: preparing server: bootstrap data already found and encrypted with different token"
                );
            }
            Some(_) => {}
            None => {
                etcd.put(
                    "/registry/kube-emu/k3s-token",
                    pki::sha256_hex(secret.as_bytes()).as_bytes(),
                )
                .await?;
                etcd.put(
                    "/registry/kube-emu/k3s-bootstrap",
                    &serde_json::to_vec(&json!({"ca_crt": ca.cert_pem, "ca_key": ca.key_pem}))?,
                )
                .await?;
            }
        }
    }
    let full_token = format!(
        "K10{}::server:{secret}",
        pki::sha256_hex(ca.cert_pem.as_bytes())
    );
    write_file(
        &server_dir().join("token"),
        &format!("{full_token}\n"),
        true,
    )?;
    write_file(
        &server_dir().join("node-token"),
        &format!("{full_token}\n"),
        true,
    )?;
    // API server, in this process.
    let ready = host_path("/run/kube-emu/k3s-apiserver.ready");
    let _ = std::fs::remove_file(&ready);
    std::fs::create_dir_all(host_path("/run/kube-emu"))?;
    let opts = crate::ServeOpts {
        etcd: vec![client.clone()],
        listen: bind,
        pki_dir: tls_dir(),
        token_auth_file: None,
        advertise_address: Some(ip.clone()),
        ready_file: Some(ready.clone()),
    };
    let srv = tokio::spawn(crate::serve(opts));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if srv.is_finished() || std::time::Instant::now() > deadline {
            node::stop_daemon("etcd");
            bail!("API server did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    log("info", "Running kube-apiserver");
    let admin = pki::client_cert(&ca, "system:admin", &["system:masters"])?;
    let local = Api::new(
        &format!("{ip}:{port}"),
        Some(&ca.cert_pem),
        Auth::Cert(&admin.cert_pem, &admin.key_pem),
    )?;
    // k3s labels servers control-plane/master/etcd = "true" and does not taint them.
    let mut labels: Vec<(String, String)> = ["control-plane", "master", "etcd"]
        .iter()
        .map(|r| (format!("node-role.kubernetes.io/{r}"), "true".to_string()))
        .collect();
    labels.extend(node_labels(a));
    node::register_node(
        &local,
        &NodeReg {
            name: &name,
            ip: &ip,
            control_plane: false,
            kubelet_version: VERSION,
            extra_labels: labels,
            annotations: vec![
                ("etcd.k3s.cattle.io/client-url".into(), client.clone()),
                ("k3s.io/node-args".into(), "[\"server\"]".into()),
            ],
            taints: None,
        },
    )
    .await?;
    let kc = host_path("/etc/rancher/k3s/k3s.yaml");
    write_file(
        &kc,
        &kubeconfig::render(
            "default",
            &format!("https://127.0.0.1:{port}"),
            &ca.cert_pem,
            "default",
            Cred::Cert {
                cert_pem: &admin.cert_pem,
                key_pem: &admin.key_pem,
            },
        ),
        true,
    )?;
    if let Some(mode) = a
        .get("write-kubeconfig-mode")
        .and_then(|m| u32::from_str_radix(m, 8).ok())
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(mode))?;
    }
    log("info", "Wrote kubeconfig /etc/rancher/k3s/k3s.yaml");
    log("info", "k3s is up and running");
    tokio::select! {
        _ = wait_signal() => {},
        r = srv => { log("error", &format!("API server stopped: {r:?}")); }
    }
    node::stop_daemon("etcd");
    Ok(())
}

fn node_labels(a: &Args) -> Vec<(String, String)> {
    a.all("node-label")
        .iter()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

async fn agent(a: &Args) -> Result<()> {
    log("info", &format!("Starting k3s agent {VERSION}"));
    let url = a
        .get("server")
        .map(String::from)
        .or_else(|| std::env::var("K3S_URL").ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("--server is required"))?;
    let token = token_arg(a)?.ok_or_else(|| anyhow!("--token is required"))?;
    let secret = token_secret(&token);
    node::install_delay();
    let anon = Api::new(&url, None, Auth::Anonymous)?;
    let (code, cacerts) = anon
        .get_text("/cacerts")
        .await
        .map_err(|e| anyhow!("failed to get CA certs: {e:#}"))?;
    if code != 200 {
        bail!("failed to get CA certs: {url}/cacerts: {code}");
    }
    if let Some(h) = token_ca_hash(&token)
        && h != pki::sha256_hex(cacerts.as_bytes())
    {
        bail!("token CA hash does not match the Cluster CA certificate hash");
    }
    let api = Api::new(&url, Some(&cacerts), Auth::Basic("node", &secret))?;
    let (code, _) = api.get("/api/v1/namespaces/default").await?;
    if code == 401 {
        bail!(
            "Failed to validate connection to cluster at {url}: token is not valid: 401 Unauthorized"
        );
    }
    let ip = node_ip(a);
    let name = node_name(a);
    write_file(
        &host_path("/var/lib/rancher/k3s/agent/server-ca.crt"),
        &cacerts,
        false,
    )?;
    node::register_node(
        &api,
        &NodeReg {
            name: &name,
            ip: &ip,
            control_plane: false,
            kubelet_version: VERSION,
            extra_labels: node_labels(a),
            annotations: vec![("k3s.io/node-args".into(), "[\"agent\"]".into())],
            taints: None,
        },
    )
    .await?;
    log(
        "info",
        &format!("Node {name} registered; k3s agent is up and running"),
    );
    wait_signal().await;
    Ok(())
}

fn snapshot_save(a: &Args) -> Result<()> {
    let name = a.get("name").unwrap_or("on-demand");
    let dir = a
        .get("etcd-snapshot-dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| server_dir().join("db/snapshots"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!(
        "{name}-{}-{}",
        node::hostname(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    ));
    let endpoint = format!(
        "http://127.0.0.1:{}",
        node::env_port("KUBE_EMU_ETCD_CLIENT_PORT", 2379)
    );
    log(
        "info",
        &format!("Saving etcd snapshot to {}", file.display()),
    );
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoint, "snapshot", "save"])
        .arg(&file)
        .output()
        .context("etcdctl")?;
    if !out.status.success() {
        bail!(
            "etcd-snapshot error: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    log(
        "info",
        &format!(
            "Snapshot {} saved.",
            file.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
    );
    Ok(())
}
