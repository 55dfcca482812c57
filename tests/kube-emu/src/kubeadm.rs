//! `kubeadm` shim: init, join, token create, init phase upload-certs, reset, version.
//!
//! Starts a real etcd member and a kube-emu API server as daemons on this host, writes
//! /etc/kubernetes (admin.conf, pki/), and registers the Node, as kubeadm + kubelet would.

use crate::cli::Args;
use crate::etcd::Etcd;
use crate::kubeconfig::{self, Cred};
use crate::node::{self, Api, Auth, NodeReg, host_path, write_file};
use crate::pki::{self, Ca};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

pub const VERSION: &str = "v1.32.0";
const ETCD_ANN: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";
const CERT_FILES: &[&str] = &[
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
];

pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

const BOOL_FLAGS: &[&str] = &[
    "upload-certs",
    "control-plane",
    "print-join-command",
    "force",
    "f",
    "discovery-token-unsafe-skip-ca-verification",
    "skip-token-print",
    "dry-run",
];

fn run(argv: &[String]) -> Result<()> {
    let sub: Vec<&str> = argv
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let a = Args::parse(argv, BOOL_FLAGS)?;
    let rt = node::runtime()?;
    match sub.as_slice() {
        ["init", "phase", "upload-certs"] => rt.block_on(upload_certs_phase(&a)),
        ["init"] => rt.block_on(init(&a)),
        ["join", ..] => rt.block_on(join(&a)),
        ["token", "create", ..] => rt.block_on(token_create(&a)),
        ["token", "list"] => rt.block_on(token_list()),
        ["reset"] => rt.block_on(reset(&a)),
        ["version"] => {
            if a.get("o") == Some("short") || a.get("output") == Some("short") {
                println!("{VERSION}");
            } else {
                println!(
                    "kubeadm version: &version.Info{{Major:\"1\", Minor:\"32\", GitVersion:\"{VERSION}\", GitTreeState:\"clean\", GoVersion:\"go1.23.3\", Compiler:\"gc\", Platform:\"linux/amd64\"}}"
                );
            }
            Ok(())
        }
        _ => bail!(
            "unknown command {:?} for \"kubeadm\"\nsupported: init, init phase upload-certs, join, token create, token list, reset, version",
            sub.join(" ")
        ),
    }
}

fn pki_dir() -> std::path::PathBuf {
    host_path("/etc/kubernetes/pki")
}

fn check_cidr(flag: &str, v: &str) -> Result<()> {
    for part in v.split(',') {
        let ok = part.split_once('/').is_some_and(|(ip, len)| {
            ip.parse::<std::net::IpAddr>().is_ok()
                && len
                    .parse::<u8>()
                    .is_ok_and(|l| l <= if ip.contains(':') { 128 } else { 32 })
        });
        if !ok {
            bail!("{flag}: Invalid value: {v:?}: couldn't parse subnet");
        }
    }
    Ok(())
}

fn new_token() -> String {
    format!("{}.{}", short_rand(6), short_rand(16))
}

fn short_rand(n: usize) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    pki::random_bytes(n)
        .into_iter()
        .map(|b| A[b as usize % A.len()] as char)
        .collect()
}

pub fn valid_token(t: &str) -> bool {
    t.split_once('.').is_some_and(|(id, s)| {
        id.len() == 6
            && s.len() == 16
            && (id.to_string() + s)
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

/// Detached JWS (HS256, kid = token id) over the cluster-info kubeconfig, as the
/// bootstrap signer controller writes into `jws-kubeconfig-<id>`.
pub fn jws_detached(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = B64URL
        .encode(serde_json::to_vec(&json!({"alg": "HS256", "kid": token_id})).unwrap_or_default());
    let payload = B64URL.encode(content);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, token_secret.as_bytes());
    let sig = aws_lc_rs::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    format!("{header}..{}", B64URL.encode(sig.as_ref()))
}

fn aead_key(hexkey: &str) -> Result<aws_lc_rs::aead::LessSafeKey> {
    let bytes: Vec<u8> = (0..hexkey.len())
        .step_by(2)
        .map(|i| {
            hexkey
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .filter(|b: &Vec<u8>| b.len() == 32 && hexkey.len() == 64)
        .ok_or_else(|| {
            anyhow!(
                "error decoding certificate key: the certificate key must be 32 bytes hex-encoded"
            )
        })?;
    let k = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &bytes)
        .map_err(|_| anyhow!("bad certificate key"))?;
    Ok(aws_lc_rs::aead::LessSafeKey::new(k))
}

fn encrypt(key: &aws_lc_rs::aead::LessSafeKey, data: &[u8]) -> Result<Vec<u8>> {
    let nonce_bytes: [u8; 12] = pki::random_bytes(12)
        .try_into()
        .map_err(|_| anyhow!("rng"))?;
    let mut buf = data.to_vec();
    key.seal_in_place_append_tag(
        aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce_bytes),
        aws_lc_rs::aead::Aad::empty(),
        &mut buf,
    )
    .map_err(|_| anyhow!("encryption failed"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend(buf);
    Ok(out)
}

fn decrypt(key: &aws_lc_rs::aead::LessSafeKey, data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < 12 {
        bail!("ciphertext too short");
    }
    let nonce: [u8; 12] = data[..12].try_into()?;
    let mut buf = data[12..].to_vec();
    let plain = key
        .open_in_place(
            aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
            aws_lc_rs::aead::Aad::empty(),
            &mut buf,
        )
        .map_err(|_| anyhow!("cipher: message authentication failed"))?;
    Ok(plain.to_vec())
}

async fn upload_certs(api: &Api, key_hex: &str) -> Result<()> {
    let key = aead_key(key_hex)?;
    let mut data = json!({});
    for f in CERT_FILES {
        let content = std::fs::read(pki_dir().join(f)).with_context(|| format!("read {f}"))?;
        data[f.replace('/', "-")] = json!(B64.encode(encrypt(&key, &content)?));
    }
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "kubeadm-certs", "namespace": "kube-system"}, "data": data});
    api.apply(
        "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
        &secret,
        "kubeadm",
    )
    .await?;
    println!(
        "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace"
    );
    println!("[upload-certs] Using certificate key:\n{key_hex}");
    Ok(())
}

async fn create_bootstrap_token(api: &Api, token: &str, ttl_secs: i64) -> Result<()> {
    let (id, secret) = token.split_once('.').ok_or_else(|| anyhow!("bad token"))?;
    let mut data = json!({"token-id": B64.encode(id), "token-secret": B64.encode(secret),
        "usage-bootstrap-authentication": B64.encode("true"), "usage-bootstrap-signing": B64.encode("true"),
        "auth-extra-groups": B64.encode("system:bootstrappers:kubeadm:default-node-token"),
        "description": B64.encode("Bootstrap token generated by 'kubeadm init'.")});
    if ttl_secs > 0 {
        data["expiration"] = json!(B64.encode(crate::util::rfc3339_after(ttl_secs)));
    }
    let s = json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"}, "data": data});
    api.apply(
        &format!("/api/v1/namespaces/kube-system/secrets/bootstrap-token-{id}"),
        &s,
        "kubeadm",
    )
    .await?;
    // The bootstrap signer's job: sign cluster-info with the new token.
    let (code, ci) = api
        .get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        .await?;
    if code == 200 {
        let kc = ci["data"]["kubeconfig"].as_str().unwrap_or("");
        let patch = json!({"data": {format!("jws-kubeconfig-{id}"): jws_detached(kc, id, secret)}});
        api.ok(
            Method::PATCH,
            "/api/v1/namespaces/kube-public/configmaps/cluster-info",
            Some(("application/merge-patch+json", &patch)),
        )
        .await?;
    }
    Ok(())
}

fn parse_ttl(v: Option<&str>) -> Result<i64> {
    let Some(v) = v else { return Ok(86400) };
    if v == "0" {
        return Ok(0);
    }
    let mut total = 0i64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: i64 = num.parse().map_err(|_| anyhow!("invalid --ttl {v:?}"))?;
            num.clear();
            total += n * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => bail!("invalid --ttl {v:?}"),
            };
        }
    }
    if !num.is_empty() {
        bail!("invalid --ttl {v:?}: missing unit");
    }
    Ok(total)
}

fn generate_pki(sans: &[String]) -> Result<Ca> {
    let dir = pki_dir();
    let ca = pki::new_ca("kubernetes")?;
    ca.save(&dir)?;
    let fp = pki::new_ca("front-proxy-ca")?;
    write_file(&dir.join("front-proxy-ca.crt"), &fp.cert_pem, false)?;
    write_file(&dir.join("front-proxy-ca.key"), &fp.key_pem, true)?;
    let etcd = pki::new_ca("etcd-ca")?;
    write_file(&dir.join("etcd/ca.crt"), &etcd.cert_pem, false)?;
    write_file(&dir.join("etcd/ca.key"), &etcd.key_pem, true)?;
    let sa = rcgen::KeyPair::generate()?;
    write_file(&dir.join("sa.key"), &sa.serialize_pem(), true)?;
    write_file(&dir.join("sa.pub"), &sa.public_key_pem(), false)?;
    issue_apiserver(sans)?;
    Ok(ca)
}

fn issue_apiserver(sans: &[String]) -> Result<()> {
    let _ = std::fs::remove_file(pki_dir().join("apiserver.crt"));
    crate::ensure_serving_pki(&pki_dir(), sans)?;
    Ok(())
}

fn write_kubeconfigs(ca: &Ca, server: &str, node_name: &str, control_plane: bool) -> Result<()> {
    let dir = host_path("/etc/kubernetes");
    let mut files: Vec<(&str, String, Vec<&str>, &str)> = vec![(
        "kubelet.conf",
        format!("system:node:{node_name}"),
        vec!["system:nodes"],
        "system:node",
    )];
    if control_plane {
        files.push((
            "admin.conf",
            "kubernetes-admin".into(),
            vec!["kubeadm:cluster-admins"],
            "kubernetes-admin",
        ));
        files.push((
            "super-admin.conf",
            "kubernetes-super-admin".into(),
            vec!["system:masters"],
            "kubernetes-super-admin",
        ));
        files.push((
            "controller-manager.conf",
            "system:kube-controller-manager".into(),
            vec![],
            "system:kube-controller-manager",
        ));
        files.push((
            "scheduler.conf",
            "system:kube-scheduler".into(),
            vec![],
            "system:kube-scheduler",
        ));
    }
    for (file, cn, groups, user) in files {
        let c = pki::client_cert(ca, &cn, &groups)?;
        let user = if user == "system:node" {
            cn.as_str()
        } else {
            user
        };
        write_file(
            &dir.join(file),
            &kubeconfig::render(
                "kubernetes",
                server,
                &ca.cert_pem,
                user,
                Cred::Cert {
                    cert_pem: &c.cert_pem,
                    key_pem: &c.key_pem,
                },
            ),
            true,
        )?;
    }
    Ok(())
}

/// What the static Pod manifests describe: the etcd member and API server as started.
struct Manifests<'a> {
    name: &'a str,
    ip: &'a str,
    api_port: u16,
    etcd_client_port: u16,
    etcd_peer_port: u16,
    /// `name=peerURL,...`
    initial_cluster: &'a str,
    /// `new` (init) or `existing` (control-plane join).
    state: &'a str,
    service_cidr: &'a str,
}

/// Static Pod manifests shaped like kubeadm's (`spec.containers[0].command`, one flag per
/// line, sorted), describing the daemons the shim actually runs. The product reads the
/// etcd client URL and TLS files from `etcd.yaml`; etcd serves plain HTTP here, so no
/// `--cert-file`/`--key-file`/`--trusted-ca-file` lines are written.
fn write_manifests(m: &Manifests<'_>) -> Result<()> {
    let dir = host_path("/etc/kubernetes/manifests");
    let pki = pki_dir().display().to_string();
    let data_dir = host_path("/var/lib/etcd").display().to_string();
    let (client, peer) = node::etcd_urls(m.ip, m.etcd_client_port, m.etcd_peer_port);
    let mut etcd = vec![
        "etcd".to_string(),
        format!("--advertise-client-urls={client}"),
        format!("--data-dir={data_dir}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster={}", m.initial_cluster),
    ];
    if m.state == "existing" {
        etcd.push("--initial-cluster-state=existing".into());
    }
    etcd.extend([
        format!(
            "--listen-client-urls={}",
            node::etcd_listen_client_urls(m.ip, m.etcd_client_port)
        ),
        format!("--listen-peer-urls={peer}"),
        format!("--name={}", m.name),
        "--snapshot-count=10000".into(),
    ]);
    let apiserver = vec![
        "kube-apiserver".to_string(),
        format!("--advertise-address={}", m.ip),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={pki}/ca.crt"),
        "--enable-bootstrap-token-auth=true".into(),
        format!("--etcd-servers={client}"),
        format!("--secure-port={}", m.api_port),
        format!("--service-cluster-ip-range={}", m.service_cidr),
        format!("--tls-cert-file={pki}/apiserver.crt"),
        format!("--tls-private-key-file={pki}/apiserver.key"),
    ];
    let pods: [(&str, Vec<String>, String, String); 4] = [
        (
            "etcd",
            etcd,
            format!("kubeadm.kubernetes.io/etcd.advertise-client-urls: {client}"),
            format!(
                "    volumeMounts:\n    - mountPath: {data_dir}\n      name: etcd-data\n  hostNetwork: true\n  priorityClassName: system-node-critical\n  volumes:\n  - hostPath:\n      path: {data_dir}\n      type: DirectoryOrCreate\n    name: etcd-data\n"
            ),
        ),
        (
            "kube-apiserver",
            apiserver,
            format!(
                "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: {}:{}",
                m.ip, m.api_port
            ),
            "  hostNetwork: true\n  priorityClassName: system-node-critical\n".into(),
        ),
        (
            "kube-controller-manager",
            vec![
                "kube-controller-manager".into(),
                "--kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
            ],
            String::new(),
            "  hostNetwork: true\n".into(),
        ),
        (
            "kube-scheduler",
            vec![
                "kube-scheduler".into(),
                "--kubeconfig=/etc/kubernetes/scheduler.conf".into(),
            ],
            String::new(),
            "  hostNetwork: true\n".into(),
        ),
    ];
    let image_tag = |name: &str| match name {
        "etcd" => "etcd:3.5.16-0".to_string(),
        n => format!("{n}:{VERSION}"),
    };
    for (name, command, annotation, tail) in pods {
        let annotations = if annotation.is_empty() {
            String::new()
        } else {
            format!("  annotations:\n    {annotation}\n")
        };
        let cmd: String = command.iter().map(|c| format!("    - {c}\n")).collect();
        write_file(
            &dir.join(format!("{name}.yaml")),
            &format!(
                "# Written by the kube-emu kubeadm shim in the shape of kubeadm's static Pod manifest;\n# the component runs as a kube-emu daemon (etcd over plain HTTP, no etcd TLS).\napiVersion: v1\nkind: Pod\nmetadata:\n{annotations}  labels:\n    component: {name}\n    tier: control-plane\n  name: {name}\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n{cmd}    image: registry.k8s.io/{}\n    imagePullPolicy: IfNotPresent\n    name: {name}\n{tail}status: {{}}\n",
                image_tag(name)
            ),
            false,
        )?;
    }
    Ok(())
}

fn save_state(v: &Value) -> Result<()> {
    write_file(
        &host_path("/var/lib/kube-emu/node.json"),
        &serde_json::to_string_pretty(v)?,
        true,
    )
}

fn load_state() -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(host_path("/var/lib/kube-emu/node.json")).ok()?)
        .ok()
}

/// Which preflight checks run.
#[derive(Clone, Copy, PartialEq)]
enum Preflight {
    Init,
    JoinWorker,
    JoinControlPlane,
}

/// kubeadm's preflight: `[ERROR <check>]` lines, exit 1; checks named in
/// `--ignore-preflight-errors` (or `all`) become `[WARNING <check>]` lines.
fn preflight(kind: Preflight, api_port: u16, ignore: &[String]) -> Result<()> {
    let mut errs: Vec<(String, String)> = Vec::new();
    let k = host_path("/etc/kubernetes");
    if kind == Preflight::Init {
        for m in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "etcd",
        ] {
            if k.join(format!("manifests/{m}.yaml")).exists() {
                errs.push((
                    format!("FileAvailable--etc-kubernetes-manifests-{m}.yaml"),
                    format!("/etc/kubernetes/manifests/{m}.yaml already exists"),
                ));
            }
        }
    } else if std::fs::read_dir(k.join("manifests")).is_ok_and(|mut d| d.next().is_some()) {
        errs.push((
            "DirAvailable--etc-kubernetes-manifests".into(),
            "/etc/kubernetes/manifests is not empty".into(),
        ));
    }
    if kind != Preflight::JoinWorker {
        if std::net::TcpListener::bind(("127.0.0.1", api_port)).is_err()
            && node::daemon_alive("apiserver")
        {
            errs.push((
                format!("Port-{api_port}"),
                format!("Port {api_port} is in use"),
            ));
        }
        let etcd_dir = host_path("/var/lib/etcd");
        if std::fs::read_dir(&etcd_dir).is_ok_and(|mut d| d.next().is_some()) {
            errs.push((
                "DirAvailable--var-lib-etcd".into(),
                "/var/lib/etcd is not empty".into(),
            ));
        }
    }
    if k.join("kubelet.conf").exists() {
        errs.push((
            "FileAvailable--etc-kubernetes-kubelet.conf".into(),
            "/etc/kubernetes/kubelet.conf already exists".into(),
        ));
    }
    if kind == Preflight::JoinWorker && k.join("pki/ca.crt").exists() {
        errs.push((
            "FileAvailable--etc-kubernetes-pki-ca.crt".into(),
            "/etc/kubernetes/pki/ca.crt already exists".into(),
        ));
    }
    let ignored = |check: &str| {
        ignore
            .iter()
            .any(|i| i.eq_ignore_ascii_case("all") || i.eq_ignore_ascii_case(check))
    };
    let mut fatal = Vec::new();
    for (check, msg) in errs {
        if ignored(&check) {
            eprintln!("\t[WARNING {check}]: {msg}");
        } else {
            fatal.push(format!("\t[ERROR {check}]: {msg}"));
        }
    }
    if !fatal.is_empty() {
        bail!(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n{}\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\nTo see the stack trace of this error execute with --v=5 or higher",
            fatal.join("\n")
        );
    }
    Ok(())
}

fn ignore_list(a: &Args) -> Vec<String> {
    a.all("ignore-preflight-errors")
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

const INIT_FLAGS: &[&str] = &[
    "config",
    "control-plane-endpoint",
    "pod-network-cidr",
    "service-cidr",
    "upload-certs",
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "node-name",
    "token",
    "token-ttl",
    "certificate-key",
    "kubernetes-version",
    "ignore-preflight-errors",
    "cri-socket",
    "v",
    "service-dns-domain",
    "apiserver-cert-extra-sans",
    "skip-token-print",
    "skip-phases",
    "image-repository",
    "dry-run",
    "kubeconfig",
];

/// What `kubeadm init` does, from flags or from `--config`.
struct InitOpts {
    endpoint: Option<String>,
    pod_cidr: Option<String>,
    service_cidr: String,
    upload_certs: bool,
    cert_key: Option<String>,
    ip: Option<String>,
    api_port: Option<u16>,
    node: NodeRegOpts,
    /// Bootstrap tokens (`None`: generated) with their TTL in seconds (0: no expiry).
    tokens: Vec<(Option<String>, i64)>,
    extra_sans: Vec<String>,
    ignore: Vec<String>,
    /// `--dry-run` / `dryRun: true`: validate, change nothing.
    dry_run: bool,
    from_config: bool,
}

fn init_opts_from_flags(a: &Args) -> Result<InitOpts> {
    Ok(InitOpts {
        endpoint: a.get("control-plane-endpoint").map(String::from),
        pod_cidr: a.get("pod-network-cidr").map(String::from),
        service_cidr: a.get("service-cidr").unwrap_or("10.96.0.0/12").to_string(),
        upload_certs: a.has("upload-certs"),
        cert_key: a.get("certificate-key").map(String::from),
        ip: a.get("apiserver-advertise-address").map(String::from),
        api_port: a
            .get("apiserver-bind-port")
            .map(|p| p.parse())
            .transpose()
            .map_err(|_| anyhow!("invalid --apiserver-bind-port"))?,
        node: NodeRegOpts {
            name: a.get("node-name").map(String::from),
            ..NodeRegOpts::default()
        },
        tokens: vec![(
            a.get("token").map(String::from),
            parse_ttl(a.get("token-ttl"))?,
        )],
        extra_sans: a
            .all("apiserver-cert-extra-sans")
            .iter()
            .flat_map(|s| s.split(','))
            .map(String::from)
            .collect(),
        ignore: ignore_list(a),
        dry_run: a.has("dry-run"),
        from_config: false,
    })
}

const INIT_CONFIGURATION_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "bootstrapTokens",
    "certificateKey",
    "localAPIEndpoint",
    "localAPIEndpoint.advertiseAddress",
    "localAPIEndpoint.bindPort",
    "skipPhases",
    "dryRun",
    "patches.*",
    "timeouts.*",
];

const CLUSTER_CONFIGURATION_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "controlPlaneEndpoint",
    "networking",
    "networking.podSubnet",
    "networking.serviceSubnet",
    "networking.dnsDomain",
    "apiServer",
    "apiServer.certSANs",
    "apiServer.extraArgs.*",
    "apiServer.extraVolumes.*",
    "apiServer.extraEnvs.*",
    "apiServer.timeoutForControlPlane",
    "kubernetesVersion",
    "clusterName",
    "certificatesDir",
    "imageRepository",
    "etcd.*",
    "controllerManager.*",
    "scheduler.*",
    "dns.*",
    "proxy.*",
    "featureGates.*",
    "encryptionAlgorithm",
    "certificateValidityPeriod",
    "caCertificateValidityPeriod",
    "ciImageRepository",
];

fn init_opts_from_config(a: &Args, path: &str) -> Result<InitOpts> {
    check_mixed(a)?;
    let docs = load_config(path, &["InitConfiguration", "ClusterConfiguration"])?;
    let ic = single(&docs, "InitConfiguration");
    let cc = single(&docs, "ClusterConfiguration");
    if ic.is_none() && cc.is_none() {
        bail!("no InitConfiguration or ClusterConfiguration kind was found in the YAML file");
    }
    let mut o = InitOpts {
        endpoint: None,
        pod_cidr: None,
        service_cidr: "10.96.0.0/12".into(),
        upload_certs: a.has("upload-certs"),
        cert_key: None,
        ip: None,
        api_port: None,
        node: NodeRegOpts::default(),
        tokens: vec![],
        extra_sans: vec![],
        ignore: ignore_list(a),
        dry_run: a.has("dry-run"),
        from_config: true,
    };
    if let Some(d) = ic {
        let known: Vec<&str> = INIT_CONFIGURATION_FIELDS
            .iter()
            .chain(NODE_REGISTRATION_FIELDS)
            .copied()
            .collect();
        d.warn_unknown(&known);
        o.dry_run |= d.bool("dryRun")?;
        o.cert_key = d.str("certificateKey")?;
        o.ip = d.str("localAPIEndpoint.advertiseAddress")?;
        o.api_port = d.port("localAPIEndpoint.bindPort")?.filter(|p| *p != 0);
        o.node = node_registration(d)?;
        o.ignore.extend(o.node.ignore_preflight.iter().cloned());
        match d.get("bootstrapTokens") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, t) in items.iter().enumerate() {
                    let field = format!("bootstrapTokens[{i}]");
                    let token = match &t["token"] {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        v => return Err(d.type_error(&format!("{field}.token"), v, "string")),
                    };
                    let ttl = match &t["ttl"] {
                        Value::Null => 86400,
                        Value::String(s) => parse_ttl(Some(s))
                            .map_err(|e| anyhow!("{}: {e}", d.at(&format!("{field}.ttl"))))?,
                        v => return Err(d.type_error(&format!("{field}.ttl"), v, "Duration")),
                    };
                    o.tokens.push((token, ttl));
                }
            }
            Some(v) => return Err(d.type_error("bootstrapTokens", v, "[]v1.BootstrapToken")),
        }
    }
    if o.tokens.is_empty() {
        o.tokens.push((None, 86400));
    }
    if let Some(d) = cc {
        d.warn_unknown(CLUSTER_CONFIGURATION_FIELDS);
        o.endpoint = d.str("controlPlaneEndpoint")?.filter(|s| !s.is_empty());
        o.pod_cidr = d.str("networking.podSubnet")?.filter(|s| !s.is_empty());
        if let Some(s) = d.str("networking.serviceSubnet")?.filter(|s| !s.is_empty()) {
            o.service_cidr = s;
        }
        o.extra_sans = d.strings("apiServer.certSANs")?;
    }
    Ok(o)
}

async fn init(a: &Args) -> Result<()> {
    a.check_known(INIT_FLAGS)?;
    let o = match a.get("config") {
        Some(path) => init_opts_from_config(a, path)?,
        None => init_opts_from_flags(a)?,
    };
    node::injected_failure("kubeadm-init")?;
    let (pod_flag, svc_flag) = if o.from_config {
        ("networking.podSubnet", "networking.serviceSubnet")
    } else {
        ("--pod-network-cidr", "--service-cidr")
    };
    if let Some(v) = &o.pod_cidr {
        check_cidr(pod_flag, v)?;
    }
    let service_cidr = o.service_cidr.as_str();
    check_cidr(svc_flag, service_cidr)?;
    let ip = o.ip.clone().unwrap_or_else(node::host_ip);
    ip.parse::<std::net::IpAddr>()
        .map_err(|_| anyhow!("--apiserver-advertise-address: invalid IP {ip:?}"))?;
    let api_port = o
        .api_port
        .unwrap_or_else(|| node::env_port("KUBE_EMU_API_PORT", 6443));
    let endpoint = o
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("{ip}:{api_port}"));
    let endpoint = if endpoint.contains(':') {
        endpoint
    } else {
        format!("{endpoint}:{api_port}")
    };
    let mut tokens = Vec::new();
    for (i, (t, ttl)) in o.tokens.iter().enumerate() {
        tokens.push(match t {
            Some(t) if !valid_token(t) && o.from_config => bail!(
                "bootstrapTokens[{i}].token: Invalid value: the bootstrap token in the config file was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
            ),
            Some(t) if !valid_token(t) => bail!(
                "the bootstrap token \"{t}\" was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
            ),
            Some(t) => (t.clone(), *ttl),
            None => (new_token(), *ttl),
        });
    }
    let token = tokens
        .first()
        .map(|(t, _)| t.clone())
        .ok_or_else(|| anyhow!("no bootstrap token"))?;
    if let Some(k) = &o.cert_key {
        aead_key(k)?;
    }
    let name = o.node.name.clone().unwrap_or_else(node::hostname);
    if o.dry_run {
        println!(
            "[dry-run] The configuration is valid; the kube-emu shim changes nothing in dry-run mode"
        );
        return Ok(());
    }
    let node_ip = o.node.node_ip.clone().unwrap_or_else(|| ip.clone());
    println!("[init] Using Kubernetes version: {VERSION}");
    println!("[preflight] Running pre-flight checks");
    preflight(Preflight::Init, api_port, &o.ignore)?;
    node::install_delay();
    let ep_host = endpoint
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default();
    let mut sans = vec![ip.clone(), ep_host, name.clone(), service_ip(service_cidr)];
    sans.extend(o.extra_sans.iter().cloned());
    println!("[certs] Using certificateDir folder \"/etc/kubernetes/pki\"");
    let ca = generate_pki(&sans)?;
    println!(
        "[certs] Generating \"ca\" certificate and key\n[certs] Generating \"apiserver\" certificate and key\n[certs] apiserver serving cert is signed for DNS names [kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local {name}] and IPs [{} {ip}]",
        service_ip(service_cidr)
    );
    let server = format!("https://{endpoint}");
    write_kubeconfigs(&ca, &server, &name, true)?;
    println!(
        "[kubeconfig] Using kubeconfig folder \"/etc/kubernetes\"\n[kubeconfig] Writing \"admin.conf\" kubeconfig file\n[kubeconfig] Writing \"super-admin.conf\" kubeconfig file\n[kubeconfig] Writing \"kubelet.conf\" kubeconfig file\n[kubeconfig] Writing \"controller-manager.conf\" kubeconfig file\n[kubeconfig] Writing \"scheduler.conf\" kubeconfig file"
    );
    let (cport, pport) = (
        node::env_port("KUBE_EMU_ETCD_CLIENT_PORT", 2379),
        node::env_port("KUBE_EMU_ETCD_PEER_PORT", 2380),
    );
    let (client, peer) = node::etcd_urls(&ip, cport, pport);
    println!("[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\"");
    let initial_cluster = format!("{name}={peer}");
    write_manifests(&Manifests {
        name: &name,
        ip: &ip,
        api_port,
        etcd_client_port: cport,
        etcd_peer_port: pport,
        initial_cluster: &initial_cluster,
        state: "new",
        service_cidr,
    })?;
    node::start_etcd(&node::EtcdSpec {
        name: &name,
        ip: &ip,
        client_port: cport,
        peer_port: pport,
        initial_cluster: initial_cluster.clone(),
        state: "new",
        data_dir: host_path("/var/lib/etcd"),
    })?;
    node::wait_etcd(&client, Duration::from_secs(30)).await?;
    println!("[control-plane] Creating static Pod manifest for \"kube-apiserver\"");
    let bind = bind_addr(&ip, api_port);
    node::start_apiserver(std::slice::from_ref(&client), &bind, &ip, &pki_dir())?;
    println!(
        "[kubelet-start] Starting the kubelet\n[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"\n[api-check] The API server is healthy"
    );
    save_state(
        &json!({"role": "control-plane", "name": name, "ip": ip, "etcd_client": client, "etcd_peer": peer, "api_port": api_port, "endpoint": endpoint}),
    )?;
    let api = local_admin(&ip, api_port, &ca)?;
    let cfg = cluster_config(
        &endpoint,
        o.pod_cidr.as_deref(),
        service_cidr,
        &o.extra_sans,
    );
    api.apply("/api/v1/namespaces/kube-system/configmaps/kubeadm-config", &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"}, "data": {"ClusterConfiguration": cfg}}), "kubeadm").await?;
    println!(
        "[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace"
    );
    let cert_key = if o.upload_certs {
        let k = o
            .cert_key
            .clone()
            .unwrap_or_else(|| pki::hex(&pki::random_bytes(32)));
        upload_certs(&api, &k).await?;
        Some(k)
    } else {
        None
    };
    println!(
        "[mark-control-plane] Marking the node {name} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]"
    );
    println!(
        "[mark-control-plane] Marking the node {name} as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]"
    );
    node::register_node(
        &api,
        &NodeReg {
            name: &name,
            ip: &node_ip,
            control_plane: true,
            kubelet_version: VERSION,
            extra_labels: o.node.labels.clone(),
            annotations: vec![(ETCD_ANN.into(), client.clone())],
            taints: o.node.taints.clone(),
        },
    )
    .await?;
    // cluster-info for discovery, then the tokens sign it.
    let ci_kc = kubeconfig::render("", &server, &ca.cert_pem, "", Cred::Token(""))
        .lines()
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    let ci_kc = format!(
        "{ci_kc}\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n"
    );
    api.apply("/api/v1/namespaces/kube-public/configmaps/cluster-info", &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": {"kubeconfig": ci_kc}}), "kubeadm").await?;
    println!("[bootstrap-token] Using token: {token}");
    println!("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles");
    for (t, ttl) in &tokens {
        create_bootstrap_token(&api, t, *ttl).await?;
    }
    let hash = pki::ca_cert_hash(&ca.cert_pem)?;
    println!(
        "[addons] Applied essential addon: CoreDNS\n[addons] Applied essential addon: kube-proxy\n"
    );
    println!(
        "Your Kubernetes control-plane has initialized successfully!\n\nTo start using your cluster, you need to run the following as a regular user:\n\n  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nAlternatively, if you are the root user, you can run:\n\n  export KUBECONFIG=/etc/kubernetes/admin.conf\n\nYou should now deploy a pod network to the cluster.\nRun \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n"
    );
    if let Some(k) = &cert_key {
        println!(
            "You can now join any number of control-plane nodes running the following command on each as root:\n\n  kubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {hash} \\\n\t--control-plane --certificate-key {k}\n\nPlease note that the certificate-key gives access to cluster sensitive data, keep it secret!\nAs a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\"kubeadm init phase upload-certs --upload-certs\" to reload certs afterward.\n"
        );
    }
    println!(
        "Then you can join any number of worker nodes by running the following on each as root:\n\nkubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {hash} "
    );
    Ok(())
}

fn bind_addr(ip: &str, port: u16) -> String {
    // Loopback (tests on the build machine): bind only that address. On a lab host (its
    // own network namespace) bind every address so a VIP on the host reaches it too.
    if ip.starts_with("127.") {
        format!("{ip}:{port}")
    } else {
        format!("0.0.0.0:{port}")
    }
}

fn service_ip(cidr: &str) -> String {
    let base = cidr
        .split(',')
        .next()
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    match base.parse::<std::net::Ipv4Addr>() {
        Ok(v4) => std::net::Ipv4Addr::from(u32::from(v4) + 1).to_string(),
        Err(_) => "10.96.0.1".into(),
    }
}

fn cluster_config(endpoint: &str, pod: Option<&str>, svc: &str, sans: &[String]) -> String {
    let api_server = if sans.is_empty() {
        "apiServer: {}\n".to_string()
    } else {
        let list: String = sans.iter().map(|s| format!("  - {s}\n")).collect();
        format!("apiServer:\n  certSANs:\n{list}")
    };
    format!(
        "{api_server}apiVersion: kubeadm.k8s.io/v1beta4\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrolPlaneEndpoint: {endpoint}\netcd:\n  local:\n    dataDir: /var/lib/etcd\nkind: ClusterConfiguration\nkubernetesVersion: {VERSION}\nnetworking:\n  dnsDomain: cluster.local\n{}  serviceSubnet: {svc}\n",
        pod.map(|p| format!("  podSubnet: {p}\n"))
            .unwrap_or_default()
    )
}

fn local_admin(ip: &str, port: u16, ca: &Ca) -> Result<Api> {
    let c = pki::client_cert(ca, "kubernetes-admin", &["kubeadm:cluster-admins"])?;
    Api::new(
        &format!("{ip}:{port}"),
        Some(&ca.cert_pem),
        Auth::Cert(&c.cert_pem, &c.key_pem),
    )
}

fn admin_api() -> Result<Api> {
    Api::from_kubeconfig(&host_path("/etc/kubernetes/admin.conf"))
        .context("this command needs /etc/kubernetes/admin.conf (run it on a control-plane node)")
}

async fn upload_certs_phase(a: &Args) -> Result<()> {
    if !a.has("upload-certs") {
        bail!("this phase needs --upload-certs");
    }
    let api = admin_api()?;
    let k = a
        .get("certificate-key")
        .map(String::from)
        .unwrap_or_else(|| pki::hex(&pki::random_bytes(32)));
    upload_certs(&api, &k).await
}

async fn token_create(a: &Args) -> Result<()> {
    let api = admin_api()?;
    let token = match a
        .all("token")
        .first()
        .copied()
        .or_else(|| a.positional.get(2).map(String::as_str))
    {
        Some(t) if !valid_token(t) => bail!(
            "the bootstrap token \"{t}\" was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
        ),
        Some(t) => t.to_string(),
        None => new_token(),
    };
    create_bootstrap_token(&api, &token, parse_ttl(a.get("ttl"))?).await?;
    if a.has("print-join-command") {
        let ci = api
            .ok(
                Method::GET,
                "/api/v1/namespaces/kube-public/configmaps/cluster-info",
                None,
            )
            .await?;
        let k = kubeconfig::parse(ci["data"]["kubeconfig"].as_str().unwrap_or(""))?;
        let ep = k.server.trim_start_matches("https://");
        println!(
            "kubeadm join {ep} --token {token} --discovery-token-ca-cert-hash {} ",
            pki::ca_cert_hash(&k.ca_pem)?
        );
    } else {
        println!("{token}");
    }
    Ok(())
}

async fn token_list() -> Result<()> {
    let api = admin_api()?;
    let l = api
        .ok(Method::GET, "/api/v1/namespaces/kube-system/secrets", None)
        .await?;
    println!(
        "TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION                                                EXTRA GROUPS"
    );
    for s in l["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "bootstrap.kubernetes.io/token")
    {
        let d = |k: &str| {
            s["data"][k]
                .as_str()
                .and_then(|x| B64.decode(x).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        println!(
            "{}.{}   <n/a>       {}   authentication,signing   {}   {}",
            d("token-id"),
            d("token-secret"),
            d("expiration"),
            d("description"),
            d("auth-extra-groups")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// `--config` files (kubeadm.k8s.io/v1beta3 and v1beta4)

/// Flags kubeadm accepts together with `--config` (kubeadm's `isAllowedFlag`, plus any
/// `--skip-*` flag); every other flag is refused with "can not mix '--config' ...".
const CONFIG_COMPATIBLE: &[&str] = &[
    "config",
    "ignore-preflight-errors",
    "dry-run",
    "kubeconfig",
    "node-name",
    "kubeconfig-dir",
    "upload-certs",
    "print-join-command",
    "rootfs",
    "v",
    "log-file",
];

/// kubeadm's `ValidateMixedArguments`: the offending flag names, sorted, as Go prints a
/// `[]string`.
fn check_mixed(a: &Args) -> Result<()> {
    let mut mixed: Vec<&str> = a
        .flags
        .iter()
        .map(|(f, _)| f.as_str())
        .filter(|f| !CONFIG_COMPATIBLE.contains(f) && !f.starts_with("skip-"))
        .collect();
    mixed.sort_unstable();
    mixed.dedup();
    if !mixed.is_empty() {
        bail!(
            "can not mix '--config' with arguments [{}]\nTo see the stack trace of this error execute with --v=5 or higher",
            mixed.join(" ")
        );
    }
    Ok(())
}

const KUBEADM_SCHEME: &str = "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31";

/// A warning line in klog's format (kubeadm logs its warnings through klog on stderr).
fn klog_warning(msg: &str) {
    let t = time::OffsetDateTime::now_utc();
    eprintln!(
        "W{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>7} common.go:101] {msg}",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond(),
        std::process::id()
    );
}

/// One document of a `--config` file.
struct Doc {
    path: String,
    index: usize,
    kind: String,
    body: Value,
}

impl Doc {
    fn at(&self, field: &str) -> String {
        format!(
            "{}.{field} (config file \"{}\", document {})",
            self.kind, self.path, self.index
        )
    }

    fn get(&self, field: &str) -> Option<&Value> {
        field
            .split('.')
            .try_fold(&self.body, |v, k| v.get(k))
            .filter(|v| !v.is_null())
    }

    fn type_error(&self, field: &str, v: &Value, want: &str) -> anyhow::Error {
        let got = match v {
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        anyhow!(
            "json: cannot unmarshal {got} into Go struct field {} of type {want}",
            self.at(field)
        )
    }

    fn str(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.type_error(field, v, "string")),
        }
    }

    fn bool(&self, field: &str) -> Result<bool> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.type_error(field, v, "bool")),
        }
    }

    fn port(&self, field: &str) -> Result<Option<u16>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .map(Some)
                .ok_or_else(|| self.type_error(field, v, "int32 (a port 0-65535)")),
        }
    }

    fn strings(&self, field: &str) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_str()
                        .map(String::from)
                        .ok_or_else(|| self.type_error(&format!("{field}[{i}]"), s, "string"))
                })
                .collect(),
            Some(v) => Err(self.type_error(field, v, "[]string")),
        }
    }

    /// kubeadm's strict decoding: unknown fields are warnings. Only key names are
    /// printed (values may be secrets). `known` lists dotted paths; `a.*` allows
    /// anything under `a`.
    fn warn_unknown(&self, known: &[&str]) {
        let mut stack = vec![(String::new(), &self.body)];
        while let Some((prefix, v)) = stack.pop() {
            let Some(m) = v.as_object() else { continue };
            for (k, child) in m {
                let full = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if known.contains(&format!("{full}.*").as_str()) {
                    continue;
                }
                if !known.contains(&full.as_str()) {
                    klog_warning(&format!(
                        "strict decoding error: unknown field \"{full}\" in {} (config file \"{}\", document {})",
                        self.kind, self.path, self.index
                    ));
                    continue;
                }
                let sub = format!("{full}.");
                if known.iter().any(|p| p.starts_with(&sub)) {
                    stack.push((full, child));
                }
            }
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// Read a kubeadm config file: every document must have `apiVersion` and `kind`;
/// kubeadm API versions other than v1beta3 (deprecated, a warning) and v1beta4 fail as
/// kubeadm fails. The file's content is never echoed (it holds tokens and keys).
fn load_config(path: &str, wanted: &[&str]) -> Result<Vec<Doc>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow!(
            "unable to read config from \"{path}\" : open {path}: {}",
            io_reason(&e)
        )
    })?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}: column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        anyhow!(
            "error converting YAML to JSON: yaml: {at}invalid YAML in config file \"{path}\" (content not shown)"
        )
    })?;
    let mut out = Vec::new();
    for (i, body) in docs.into_iter().enumerate() {
        let index = i + 1;
        if body.is_null() {
            continue;
        }
        if !body.is_object() {
            bail!("error decoding config file \"{path}\": document {index} is not a YAML mapping");
        }
        let kind = body["kind"].as_str().unwrap_or("").to_string();
        let api_version = body["apiVersion"].as_str().unwrap_or("").to_string();
        if kind.is_empty() {
            bail!("Object 'Kind' is missing in config file \"{path}\", document {index}");
        }
        if api_version.is_empty() {
            bail!("Object 'apiVersion' is missing in config file \"{path}\", document {index}");
        }
        if let Some(v) = api_version.strip_prefix("kubeadm.k8s.io/") {
            let old = match v {
                "v1alpha1" => Some("v1.11"),
                "v1alpha2" => Some("v1.12"),
                "v1alpha3" => Some("v1.14"),
                "v1beta1" => Some("v1.15"),
                "v1beta2" => Some("v1.22"),
                _ => None,
            };
            if let Some(use_version) = old {
                bail!(
                    "your configuration file uses an old API spec: \"{api_version}\" (kind: \"{kind}\"). Please use kubeadm {use_version} instead and run 'kubeadm config migrate --old-config old-config-file --new-config new-config-file', which will write the new, similar spec using a newer API version."
                );
            }
            match v {
                "v1beta4" => {}
                "v1beta3" => klog_warning(&format!(
                    "your configuration file uses a deprecated API spec: \"{api_version}\" (kind: \"{kind}\"). Please use 'kubeadm config migrate --old-config old-config-file --new-config new-config-file', which will write the new, similar spec using a newer API version."
                )),
                _ => bail!(
                    "no kind \"{kind}\" is registered for version \"{api_version}\" in scheme \"{KUBEADM_SCHEME}\""
                ),
            }
        }
        let component_config = matches!(
            (api_version.as_str(), kind.as_str()),
            ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")
                | ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration")
        );
        let is_kubeadm = api_version.starts_with("kubeadm.k8s.io/");
        if !(is_kubeadm && wanted.contains(&kind.as_str())) {
            if !component_config {
                let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
                klog_warning(&format!(
                    "[config] WARNING: Ignored YAML document with GroupVersionKind {group}/{version}, Kind={kind}"
                ));
            }
            continue;
        }
        out.push(Doc {
            path: path.to_string(),
            index,
            kind,
            body,
        });
    }
    Ok(out)
}

/// `nodeRegistration` (InitConfiguration and JoinConfiguration), the parts with an effect.
#[derive(Default)]
struct NodeRegOpts {
    name: Option<String>,
    /// `None`: kubeadm's default taints; `Some([])`: none.
    taints: Option<Vec<Value>>,
    /// kubelet `--node-labels`
    labels: Vec<(String, String)>,
    /// kubelet `--node-ip`
    node_ip: Option<String>,
    ignore_preflight: Vec<String>,
}

const NODE_REGISTRATION_FIELDS: &[&str] = &[
    "nodeRegistration",
    "nodeRegistration.name",
    "nodeRegistration.criSocket",
    "nodeRegistration.taints",
    "nodeRegistration.kubeletExtraArgs",
    "nodeRegistration.ignorePreflightErrors",
    "nodeRegistration.imagePullPolicy",
    "nodeRegistration.imagePullSerial",
];

fn node_registration(d: &Doc) -> Result<NodeRegOpts> {
    let mut o = NodeRegOpts {
        name: d.str("nodeRegistration.name")?,
        ignore_preflight: d.strings("nodeRegistration.ignorePreflightErrors")?,
        ..NodeRegOpts::default()
    };
    let _cri_socket = d.str("nodeRegistration.criSocket")?;
    // `taints: null` or absent → default; `taints: []` → none.
    match d.body["nodeRegistration"].get("taints") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut taints = Vec::new();
            for (i, t) in items.iter().enumerate() {
                let field = format!("nodeRegistration.taints[{i}]");
                let key = t["key"].as_str().unwrap_or("");
                if key.is_empty() {
                    bail!("{}.key: Required value", d.at(&field));
                }
                let effect = t["effect"].as_str().unwrap_or("");
                if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                    bail!(
                        "{}.effect: Unsupported value: \"{effect}\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"",
                        d.at(&field)
                    );
                }
                let mut taint = json!({"key": key, "effect": effect});
                if let Some(v) = t["value"].as_str() {
                    taint["value"] = json!(v);
                }
                taints.push(taint);
            }
            o.taints = Some(taints);
        }
        Some(v) => return Err(d.type_error("nodeRegistration.taints", v, "[]v1.Taint")),
    }
    // v1beta3: a map; v1beta4: a list of {name, value}.
    let v1beta3 = d.body["apiVersion"] == "kubeadm.k8s.io/v1beta3";
    let mut args: Vec<(String, String)> = Vec::new();
    match d.get("nodeRegistration.kubeletExtraArgs") {
        None => {}
        Some(Value::Object(m)) if v1beta3 => {
            for (k, v) in m {
                let v = v.as_str().ok_or_else(|| {
                    d.type_error(
                        &format!("nodeRegistration.kubeletExtraArgs.{k}"),
                        v,
                        "string",
                    )
                })?;
                args.push((k.clone(), v.to_string()));
            }
        }
        Some(Value::Array(items)) if !v1beta3 => {
            for (i, item) in items.iter().enumerate() {
                let (Some(n), Some(v)) = (item["name"].as_str(), item["value"].as_str()) else {
                    return Err(d.type_error(
                        &format!("nodeRegistration.kubeletExtraArgs[{i}]"),
                        item,
                        "v1beta4.Arg (name and value strings)",
                    ));
                };
                args.push((n.to_string(), v.to_string()));
            }
        }
        Some(v) => {
            return Err(d.type_error(
                "nodeRegistration.kubeletExtraArgs",
                v,
                if v1beta3 {
                    "map[string]string"
                } else {
                    "[]v1beta4.Arg"
                },
            ));
        }
    }
    for (k, v) in args {
        match k.as_str() {
            "node-ip" => o.node_ip = Some(v),
            "node-labels" => o.labels.extend(
                v.split(',')
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            ),
            _ => {}
        }
    }
    Ok(o)
}

fn single<'a>(docs: &'a [Doc], kind: &str) -> Option<&'a Doc> {
    docs.iter().rev().find(|d| d.kind == kind)
}

const JOIN_FLAGS: &[&str] = &[
    "config",
    "token",
    "discovery-token",
    "tls-bootstrap-token",
    "discovery-token-ca-cert-hash",
    "discovery-token-unsafe-skip-ca-verification",
    "discovery-file",
    "control-plane",
    "certificate-key",
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "node-name",
    "ignore-preflight-errors",
    "cri-socket",
    "v",
    "skip-phases",
    "dry-run",
];

/// What `kubeadm join` does, from flags or from a `JoinConfiguration`.
struct JoinOpts {
    endpoint: Option<String>,
    token: Option<String>,
    /// The token the kubelet authenticates with (defaults to the discovery token).
    tls_token: Option<String>,
    hashes: Vec<String>,
    unsafe_skip: bool,
    control_plane: bool,
    cert_key: Option<String>,
    ip: Option<String>,
    api_port: Option<u16>,
    node: NodeRegOpts,
    ignore: Vec<String>,
    /// `--dry-run` / `dryRun: true`: validate, change nothing.
    dry_run: bool,
    from_config: bool,
}

fn join_opts_from_flags(a: &Args) -> Result<JoinOpts> {
    if a.get("discovery-file").is_some() {
        bail!("file-based discovery (--discovery-file) is not supported by the kube-emu shim");
    }
    Ok(JoinOpts {
        endpoint: a.positional.get(1).cloned(),
        token: a
            .get("discovery-token")
            .or(a.get("token"))
            .map(String::from),
        tls_token: a
            .get("tls-bootstrap-token")
            .or(a.get("token"))
            .map(String::from),
        hashes: a
            .all("discovery-token-ca-cert-hash")
            .iter()
            .flat_map(|h| h.split(','))
            .map(String::from)
            .collect(),
        unsafe_skip: a.has("discovery-token-unsafe-skip-ca-verification"),
        control_plane: a.has("control-plane"),
        cert_key: a.get("certificate-key").map(String::from),
        ip: a.get("apiserver-advertise-address").map(String::from),
        api_port: a
            .get("apiserver-bind-port")
            .map(|p| p.parse())
            .transpose()
            .map_err(|_| anyhow!("invalid --apiserver-bind-port"))?,
        node: NodeRegOpts {
            name: a.get("node-name").map(String::from),
            ..NodeRegOpts::default()
        },
        ignore: ignore_list(a),
        dry_run: a.has("dry-run"),
        from_config: false,
    })
}

const JOIN_CONFIGURATION_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "caCertPath",
    "discovery",
    "discovery.bootstrapToken",
    "discovery.bootstrapToken.apiServerEndpoint",
    "discovery.bootstrapToken.token",
    "discovery.bootstrapToken.caCertHashes",
    "discovery.bootstrapToken.unsafeSkipCAVerification",
    "discovery.file.*",
    "discovery.tlsBootstrapToken",
    "discovery.timeout",
    "controlPlane",
    "controlPlane.localAPIEndpoint",
    "controlPlane.localAPIEndpoint.advertiseAddress",
    "controlPlane.localAPIEndpoint.bindPort",
    "controlPlane.certificateKey",
    "skipPhases",
    "dryRun",
    "patches.*",
    "timeouts.*",
];

fn join_opts_from_config(a: &Args, path: &str) -> Result<JoinOpts> {
    check_mixed(a)?;
    let docs = load_config(path, &["JoinConfiguration"])?;
    let d = single(&docs, "JoinConfiguration")
        .ok_or_else(|| anyhow!("no JoinConfiguration found in the supplied config"))?;
    let known: Vec<&str> = JOIN_CONFIGURATION_FIELDS
        .iter()
        .chain(NODE_REGISTRATION_FIELDS)
        .copied()
        .collect();
    d.warn_unknown(&known);
    if d.get("discovery.file").is_some() {
        bail!("file-based discovery (discovery.file) is not supported by the kube-emu shim");
    }
    if d.get("discovery.bootstrapToken").is_none() {
        bail!("discovery: Invalid value: \"\": bootstrapToken or file must be set");
    }
    let token = d.str("discovery.bootstrapToken.token")?;
    let node = node_registration(d)?;
    let mut ignore = ignore_list(a);
    ignore.extend(node.ignore_preflight.iter().cloned());
    let control_plane = d.get("controlPlane").is_some();
    Ok(JoinOpts {
        endpoint: d
            .str("discovery.bootstrapToken.apiServerEndpoint")?
            .filter(|s| !s.is_empty()),
        tls_token: d
            .str("discovery.tlsBootstrapToken")?
            .filter(|s| !s.is_empty())
            .or_else(|| token.clone()),
        token: token.filter(|s| !s.is_empty()),
        hashes: d.strings("discovery.bootstrapToken.caCertHashes")?,
        unsafe_skip: d.bool("discovery.bootstrapToken.unsafeSkipCAVerification")?,
        control_plane,
        cert_key: d
            .str("controlPlane.certificateKey")?
            .filter(|s| !s.is_empty()),
        ip: d
            .str("controlPlane.localAPIEndpoint.advertiseAddress")?
            .filter(|s| !s.is_empty()),
        api_port: d
            .port("controlPlane.localAPIEndpoint.bindPort")?
            .filter(|p| *p != 0),
        node,
        ignore,
        dry_run: a.has("dry-run") || d.bool("dryRun")?,
        from_config: true,
    })
}

/// The `ClusterConfiguration` of the cluster's `kubeadm-config` ConfigMap (null when
/// unreadable).
fn cluster_configuration(kubeadm_config: &Value) -> Value {
    kubeadm_config["data"]["ClusterConfiguration"]
        .as_str()
        .and_then(|c| serde_saphyr::from_str(c).ok())
        .unwrap_or(Value::Null)
}

fn host_of(endpoint: &str) -> String {
    endpoint
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_else(|| endpoint.to_string())
}

async fn join(a: &Args) -> Result<()> {
    a.check_known(JOIN_FLAGS)?;
    let o = match a.get("config") {
        Some(path) => join_opts_from_config(a, path)?,
        None => join_opts_from_flags(a)?,
    };
    node::injected_failure("kubeadm-join")?;
    let endpoint = o.endpoint.clone().ok_or_else(|| anyhow!("discovery: Invalid value: \"\": using token-based discovery without a discovery token API server endpoint"))?;
    let token = o.token.clone().ok_or_else(|| anyhow!("discovery.bootstrapToken.token: Invalid value: \"\": using token-based discovery without a discovery token"))?;
    if o.hashes.is_empty() && !o.unsafe_skip {
        bail!(
            "discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"
        );
    }
    let control_plane = o.control_plane;
    if control_plane && o.cert_key.is_none() {
        bail!(
            "error execution phase control-plane-prepare/download-certs: the --certificate-key flag is required for downloading the certificates"
        );
    }
    let tls_token = o.tls_token.clone().unwrap_or_else(|| token.clone());
    for (field, t) in [
        ("discovery.bootstrapToken.token", &token),
        ("discovery.tlsBootstrapToken", &tls_token),
    ] {
        if !valid_token(t) {
            if o.from_config {
                bail!(
                    "error execution phase preflight: {field}: the bootstrap token in the config file was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
                );
            }
            bail!(
                "error execution phase preflight: the bootstrap token \"{t}\" was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
            );
        }
    }
    let ip = o.ip.clone().unwrap_or_else(node::host_ip);
    let api_port = o
        .api_port
        .unwrap_or_else(|| node::env_port("KUBE_EMU_API_PORT", 6443));
    let name = o.node.name.clone().unwrap_or_else(node::hostname);
    if o.dry_run {
        println!(
            "[dry-run] The configuration is valid; the kube-emu shim changes nothing in dry-run mode"
        );
        return Ok(());
    }
    let node_ip = o.node.node_ip.clone().unwrap_or_else(|| ip.clone());
    println!("[preflight] Running pre-flight checks");
    preflight(
        if control_plane {
            Preflight::JoinControlPlane
        } else {
            Preflight::JoinWorker
        },
        api_port,
        &o.ignore,
    )?;
    node::install_delay();
    // Token-based discovery: fetch cluster-info without trusting the server, then check
    // the JWS signature with the token and the CA against the pinned hashes.
    let anon = Api::new(&endpoint, None, Auth::Anonymous)?;
    let (code, ci) = anon.get("/api/v1/namespaces/kube-public/configmaps/cluster-info").await
        .map_err(|e| anyhow!("error execution phase preflight: couldn't validate the identity of the API Server: {e:#}"))?;
    if code != 200 {
        bail!(
            "error execution phase preflight: couldn't validate the identity of the API Server: failed to request the cluster-info ConfigMap: HTTP {code}"
        );
    }
    let (id, secret) = token.split_once('.').unwrap_or_default();
    let kc = ci["data"]["kubeconfig"].as_str().unwrap_or("");
    let Some(sig) = ci["data"][format!("jws-kubeconfig-{id}")].as_str() else {
        bail!(
            "error execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"{id}\"\nTo see the stack trace of this error execute with --v=5 or higher"
        );
    };
    if sig != jws_detached(kc, id, secret) {
        bail!(
            "error execution phase preflight: couldn't validate the identity of the API Server: failed to verify JWS signature of received cluster info object, can't trust this API server\nTo see the stack trace of this error execute with --v=5 or higher"
        );
    }
    let parsed = kubeconfig::parse(kc)?;
    let hash = pki::ca_cert_hash(&parsed.ca_pem)?;
    if !o.unsafe_skip && !o.hashes.iter().any(|h| h.eq_ignore_ascii_case(&hash)) {
        bail!(
            "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is not signed by any of the public keys pinned: none of the public keys \"{hash}\" are pinned\nTo see the stack trace of this error execute with --v=5 or higher"
        );
    }
    println!(
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"..."
    );
    let api = Api::new(&endpoint, Some(&parsed.ca_pem), Auth::Token(&token))?;
    let (code, kubeadm_config) = api
        .get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        .await?;
    if code != 200 {
        bail!(
            "error execution phase preflight: unable to fetch the kubeadm-config ConfigMap: HTTP {code} (bootstrap token rejected or expired)"
        );
    }
    let server = format!("https://{endpoint}");
    let cluster = cluster_configuration(&kubeadm_config);
    let service_cidr = cluster["networking"]["serviceSubnet"]
        .as_str()
        .unwrap_or("10.96.0.0/12")
        .to_string();
    if control_plane {
        println!(
            "[preflight] Running pre-flight checks before initializing the new control plane instance"
        );
        println!(
            "[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace"
        );
        let key = aead_key(o.cert_key.as_deref().unwrap_or(""))?;
        let s = api.ok(Method::GET, "/api/v1/namespaces/kube-system/secrets/kubeadm-certs", None).await
            .map_err(|e| anyhow!("error execution phase control-plane-prepare/download-certs: error downloading certs: {e:#}"))?;
        let mut files = Vec::new();
        for f in CERT_FILES {
            let enc = s["data"][f.replace('/', "-")]
                .as_str()
                .and_then(|x| B64.decode(x).ok())
                .ok_or_else(|| anyhow!("kubeadm-certs lacks {f}"))?;
            let plain = decrypt(&key, &enc).map_err(|e| anyhow!("error execution phase control-plane-prepare/download-certs: error downloading certs: error decoding secret data with provided key: {e}"))?;
            files.push((f, String::from_utf8_lossy(&plain).into_owned()));
        }
        for (f, content) in &files {
            write_file(&pki_dir().join(f), content, f.ends_with(".key"))?;
        }
        let ca = Ca::load(&pki_dir())?;
        // Serving certificate SANs as kubeadm derives them from the ClusterConfiguration:
        // the control-plane endpoint (e.g. a VIP) and certSANs, whichever endpoint this
        // node joined through.
        let mut sans = vec![
            ip.clone(),
            host_of(&endpoint),
            name.clone(),
            service_ip(&service_cidr),
        ];
        if let Some(cpe) = cluster["controlPlaneEndpoint"].as_str() {
            sans.push(host_of(cpe));
        }
        sans.extend(
            cluster["apiServer"]["certSANs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from),
        );
        issue_apiserver(&sans)?;
        println!("[certs] Using certificateDir folder \"/etc/kubernetes/pki\"");
        write_kubeconfigs(&ca, &server, &name, true)?;
        // Stacked etcd: add a member through the existing ones, then start it.
        let admin = Api::from_kubeconfig(&host_path("/etc/kubernetes/admin.conf"))?;
        let nodes = admin
            .ok(
                Method::GET,
                "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane",
                None,
            )
            .await?;
        let endpoints: Vec<String> = nodes["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                n["metadata"]["annotations"][ETCD_ANN]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        if endpoints.is_empty() {
            bail!(
                "error execution phase control-plane-join/etcd: no etcd endpoints found on control-plane nodes"
            );
        }
        let (cport, pport) = (
            node::env_port("KUBE_EMU_ETCD_CLIENT_PORT", 2379),
            node::env_port("KUBE_EMU_ETCD_PEER_PORT", 2380),
        );
        let (client, peer) = node::etcd_urls(&ip, cport, pport);
        let etcd = Etcd::new(endpoints)?;
        println!("[etcd] Announced new etcd member joining to the existing etcd cluster");
        // etcd refuses reconfiguration until every member has been connected for a few
        // seconds ("unhealthy cluster"); kubeadm retries the same way.
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
        let initial_cluster = initial.join(",");
        write_manifests(&Manifests {
            name: &name,
            ip: &ip,
            api_port,
            etcd_client_port: cport,
            etcd_peer_port: pport,
            initial_cluster: &initial_cluster,
            state: "existing",
            service_cidr: &service_cidr,
        })?;
        node::start_etcd(&node::EtcdSpec {
            name: &name,
            ip: &ip,
            client_port: cport,
            peer_port: pport,
            initial_cluster: initial_cluster.clone(),
            state: "existing",
            data_dir: host_path("/var/lib/etcd"),
        })?;
        println!(
            "[etcd] Creating static Pod manifest for \"etcd\"\n[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s"
        );
        node::wait_etcd(&client, Duration::from_secs(40)).await?;
        node::start_apiserver(
            std::slice::from_ref(&client),
            &bind_addr(&ip, api_port),
            &ip,
            &pki_dir(),
        )?;
        save_state(
            &json!({"role": "control-plane", "name": name, "ip": ip, "etcd_client": client, "etcd_peer": peer, "api_port": api_port, "endpoint": endpoint, "etcd_member_id": new_id.to_string()}),
        )?;
        let local = local_admin(&ip, api_port, &ca)?;
        node::register_node(
            &local,
            &NodeReg {
                name: &name,
                ip: &node_ip,
                control_plane: true,
                kubelet_version: VERSION,
                extra_labels: o.node.labels.clone(),
                annotations: vec![(ETCD_ANN.into(), client.clone())],
                taints: o.node.taints.clone(),
            },
        )
        .await?;
        println!(
            "[mark-control-plane] Marking the node {name} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]"
        );
        println!(
            "[mark-control-plane] Marking the node {name} as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]\n"
        );
        println!(
            "This node has joined the cluster and a new control plane instance was created:\n\n* Certificate signing request was sent to apiserver and approval was received.\n* The Kubelet was informed of the new secure connection details.\n* Control plane label and taint were applied to the new node.\n* The Kubernetes control plane instances scaled up.\n* A new etcd member was added to the local/stacked etcd cluster.\n\nTo start administering your cluster from this node, you need to run the following as a regular user:\n\n\tmkdir -p $HOME/.kube\n\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nRun 'kubectl get nodes' to see this node join the cluster.\n"
        );
        return Ok(());
    }
    // Worker: the kubelet's TLS bootstrap is modelled by keeping the TLS bootstrap token.
    println!(
        "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n[kubelet-start] Starting the kubelet\n[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap"
    );
    let kubelet = Api::new(&endpoint, Some(&parsed.ca_pem), Auth::Token(&tls_token))?;
    let (code, _) = kubelet.get("/api/v1/namespaces/default").await?;
    if code == 401 {
        bail!(
            "error execution phase kubelet-start: failed to run Kubelet: the TLS Bootstrap failed: the tlsBootstrapToken was rejected (401 Unauthorized)\nTo see the stack trace of this error execute with --v=5 or higher"
        );
    }
    write_file(&pki_dir().join("ca.crt"), &parsed.ca_pem, false)?;
    write_file(
        &host_path("/etc/kubernetes/kubelet.conf"),
        &kubeconfig::render(
            "kubernetes",
            &server,
            &parsed.ca_pem,
            &format!("system:node:{name}"),
            Cred::Token(&tls_token),
        ),
        true,
    )?;
    node::register_node(
        &kubelet,
        &NodeReg {
            name: &name,
            ip: &node_ip,
            control_plane: false,
            kubelet_version: VERSION,
            extra_labels: o.node.labels.clone(),
            annotations: vec![],
            taints: o.node.taints.clone(),
        },
    )
    .await?;
    save_state(&json!({"role": "worker", "name": name, "ip": ip, "endpoint": endpoint}))?;
    println!(
        "\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n"
    );
    Ok(())
}

async fn reset(a: &Args) -> Result<()> {
    if !a.has("force") && !a.has("f") {
        bail!(
            "[reset] Are you sure you want to proceed? [y/N]: aborted reset operation (use -f/--force)"
        );
    }
    let state = load_state();
    if let Some(s) = &state
        && s["role"] == "control-plane"
    {
        // Leave the stacked etcd cluster first (if others remain).
        if let Some(client) = s["etcd_client"].as_str()
            && node::daemon_alive("etcd")
            && let Ok(etcd) = Etcd::new(vec![client.to_string()])
            && let Ok(Ok(members)) =
                tokio::time::timeout(Duration::from_secs(5), etcd.member_list()).await
            && members.len() > 1
            && let Some(me) = members
                .iter()
                .find(|m| m.name == s["name"].as_str().unwrap_or(""))
        {
            let others: Vec<String> = members
                .iter()
                .filter(|m| m.id != me.id)
                .flat_map(|m| m.client_urls.clone())
                .collect();
            if let Ok(e2) = Etcd::new(others) {
                match e2.member_remove(me.id).await {
                    Ok(()) => println!(
                        "[reset] Removing info for node {:?} from the etcd cluster",
                        me.name
                    ),
                    Err(e) => eprintln!("[reset] Failed to remove etcd member: {e:#}"),
                }
            }
        }
    }
    println!("[reset] Stopping the kubelet service");
    node::stop_daemon("apiserver");
    node::stop_daemon("etcd");
    println!(
        "[reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]"
    );
    for d in [
        "/etc/kubernetes/manifests",
        "/etc/kubernetes/pki",
        "/var/lib/etcd",
        "/var/lib/kubelet",
        "/var/lib/kube-emu",
    ] {
        let _ = std::fs::remove_dir_all(host_path(d));
    }
    for f in [
        "admin.conf",
        "super-admin.conf",
        "kubelet.conf",
        "bootstrap-kubelet.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ] {
        let _ = std::fs::remove_file(host_path("/etc/kubernetes").join(f));
    }
    println!(
        "[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf]\n\nThe reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d\n\nThe reset process does not reset or clean up iptables rules or IPVS tables.\n\nThe reset process does not clean your kubeconfig files and you must remove them manually.\nPlease, check the contents of the $HOME/.kube/config file."
    );
    Ok(())
}
