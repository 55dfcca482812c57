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

fn write_manifests(ip: &str, api_port: u16, etcd_client: &str) -> Result<()> {
    let dir = host_path("/etc/kubernetes/manifests");
    for (name, cmd) in [
        (
            "etcd",
            format!("etcd --advertise-client-urls={etcd_client}"),
        ),
        (
            "kube-apiserver",
            format!(
                "kube-apiserver --advertise-address={ip} --secure-port={api_port} --etcd-servers={etcd_client}"
            ),
        ),
        (
            "kube-controller-manager",
            "kube-controller-manager".to_string(),
        ),
        ("kube-scheduler", "kube-scheduler".to_string()),
    ] {
        write_file(
            &dir.join(format!("{name}.yaml")),
            &format!(
                "# Written by the kube-emu kubeadm shim; the component runs as a kube-emu daemon.\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: kube-system\nspec:\n  containers:\n  - name: {name}\n    command: [\"sh\", \"-c\", \"{cmd}\"]\n"
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

fn preflight(control_plane: bool, api_port: u16) -> Result<()> {
    let mut errs = Vec::new();
    let k = host_path("/etc/kubernetes");
    if control_plane {
        for m in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "etcd",
        ] {
            let p = k.join(format!("manifests/{m}.yaml"));
            if p.exists() {
                errs.push(format!("\t[ERROR FileAvailable--etc-kubernetes-manifests-{m}.yaml]: /etc/kubernetes/manifests/{m}.yaml already exists"));
            }
        }
        if std::net::TcpListener::bind(("127.0.0.1", api_port)).is_err()
            && node::daemon_alive("apiserver")
        {
            errs.push(format!(
                "\t[ERROR Port-{api_port}]: Port {api_port} is in use"
            ));
        }
        let etcd_dir = host_path("/var/lib/etcd");
        if std::fs::read_dir(&etcd_dir).is_ok_and(|mut d| d.next().is_some()) {
            errs.push("\t[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty".into());
        }
    }
    if k.join("kubelet.conf").exists() {
        errs.push("\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists".into());
    }
    if !errs.is_empty() {
        bail!(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n{}\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`",
            errs.join("\n")
        );
    }
    Ok(())
}

const INIT_FLAGS: &[&str] = &[
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
    "image-repository",
    "dry-run",
];

async fn init(a: &Args) -> Result<()> {
    a.check_known(INIT_FLAGS)?;
    if let Some(v) = a.get("pod-network-cidr") {
        check_cidr("--pod-network-cidr", v)?;
    }
    let service_cidr = a.get("service-cidr").unwrap_or("10.96.0.0/12");
    check_cidr("--service-cidr", service_cidr)?;
    let ip = a
        .get("apiserver-advertise-address")
        .map(String::from)
        .unwrap_or_else(node::host_ip);
    ip.parse::<std::net::IpAddr>()
        .map_err(|_| anyhow!("--apiserver-advertise-address: invalid IP {ip:?}"))?;
    let api_port: u16 = a
        .get("apiserver-bind-port")
        .map(|p| p.parse())
        .transpose()
        .map_err(|_| anyhow!("invalid --apiserver-bind-port"))?
        .unwrap_or_else(|| node::env_port("KUBE_EMU_API_PORT", 6443));
    let endpoint = a
        .get("control-plane-endpoint")
        .map(String::from)
        .unwrap_or_else(|| format!("{ip}:{api_port}"));
    let endpoint = if endpoint.contains(':') {
        endpoint
    } else {
        format!("{endpoint}:{api_port}")
    };
    let token = match a.get("token") {
        Some(t) if !valid_token(t) => bail!(
            "the bootstrap token \"{t}\" was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
        ),
        Some(t) => t.to_string(),
        None => new_token(),
    };
    let ttl = parse_ttl(a.get("token-ttl"))?;
    let name = a
        .get("node-name")
        .map(String::from)
        .unwrap_or_else(node::hostname);
    println!("[init] Using Kubernetes version: {VERSION}");
    println!("[preflight] Running pre-flight checks");
    preflight(true, api_port)?;
    node::install_delay();
    let ep_host = endpoint
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default();
    let mut sans = vec![ip.clone(), ep_host, name.clone(), service_ip(service_cidr)];
    sans.extend(
        a.all("apiserver-cert-extra-sans")
            .iter()
            .flat_map(|s| s.split(','))
            .map(String::from),
    );
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
    write_manifests(&ip, api_port, &client)?;
    node::start_etcd(&node::EtcdSpec {
        name: &name,
        ip: &ip,
        client_port: cport,
        peer_port: pport,
        initial_cluster: format!("{name}={peer}"),
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
    let cfg = cluster_config(&endpoint, a.get("pod-network-cidr"), service_cidr);
    api.apply("/api/v1/namespaces/kube-system/configmaps/kubeadm-config", &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"}, "data": {"ClusterConfiguration": cfg}}), "kubeadm").await?;
    println!(
        "[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace"
    );
    let cert_key = if a.has("upload-certs") {
        let k = a
            .get("certificate-key")
            .map(String::from)
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
            ip: &ip,
            control_plane: true,
            kubelet_version: VERSION,
            extra_labels: vec![],
            annotations: vec![(ETCD_ANN.into(), client.clone())],
        },
    )
    .await?;
    // cluster-info for discovery, then the token signs it.
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
    create_bootstrap_token(&api, &token, ttl).await?;
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

fn cluster_config(endpoint: &str, pod: Option<&str>, svc: &str) -> String {
    format!(
        "apiServer: {{}}\napiVersion: kubeadm.k8s.io/v1beta4\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrolPlaneEndpoint: {endpoint}\netcd:\n  local:\n    dataDir: /var/lib/etcd\nkind: ClusterConfiguration\nkubernetesVersion: {VERSION}\nnetworking:\n  dnsDomain: cluster.local\n{}  serviceSubnet: {svc}\n",
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

const JOIN_FLAGS: &[&str] = &[
    "token",
    "discovery-token",
    "tls-bootstrap-token",
    "discovery-token-ca-cert-hash",
    "discovery-token-unsafe-skip-ca-verification",
    "control-plane",
    "certificate-key",
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "node-name",
    "ignore-preflight-errors",
    "cri-socket",
    "v",
];

async fn join(a: &Args) -> Result<()> {
    a.check_known(JOIN_FLAGS)?;
    let endpoint = a.positional.get(1).cloned().ok_or_else(|| anyhow!("discovery: Invalid value: \"\": using token-based discovery without a discovery token API server endpoint"))?;
    let token = a.get("discovery-token").or(a.get("token")).ok_or_else(|| anyhow!("discovery.bootstrapToken.token: Invalid value: \"\": using token-based discovery without a discovery token"))?.to_string();
    let hashes = a
        .all("discovery-token-ca-cert-hash")
        .iter()
        .flat_map(|h| h.split(','))
        .map(String::from)
        .collect::<Vec<_>>();
    if hashes.is_empty() && !a.has("discovery-token-unsafe-skip-ca-verification") {
        bail!(
            "discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"
        );
    }
    let control_plane = a.has("control-plane");
    let cert_key = a.get("certificate-key");
    if control_plane && cert_key.is_none() {
        bail!(
            "error execution phase control-plane-prepare/download-certs: the --certificate-key flag is required for downloading the certificates"
        );
    }
    if !valid_token(&token) {
        bail!(
            "error execution phase preflight: the bootstrap token \"{token}\" was not of the form \"^([a-z0-9]{{6}})\\.([a-z0-9]{{16}})$\""
        );
    }
    let ip = a
        .get("apiserver-advertise-address")
        .map(String::from)
        .unwrap_or_else(node::host_ip);
    let api_port: u16 = a
        .get("apiserver-bind-port")
        .map(|p| p.parse())
        .transpose()
        .map_err(|_| anyhow!("invalid --apiserver-bind-port"))?
        .unwrap_or_else(|| node::env_port("KUBE_EMU_API_PORT", 6443));
    let name = a
        .get("node-name")
        .map(String::from)
        .unwrap_or_else(node::hostname);
    println!("[preflight] Running pre-flight checks");
    preflight(control_plane, api_port)?;
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
    if !a.has("discovery-token-unsafe-skip-ca-verification")
        && !hashes.iter().any(|h| h.eq_ignore_ascii_case(&hash))
    {
        bail!(
            "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is not signed by any of the public keys pinned: none of the public keys \"{hash}\" are pinned\nTo see the stack trace of this error execute with --v=5 or higher"
        );
    }
    println!(
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"..."
    );
    let api = Api::new(&endpoint, Some(&parsed.ca_pem), Auth::Token(&token))?;
    let (code, _) = api
        .get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        .await?;
    if code != 200 {
        bail!(
            "error execution phase preflight: unable to fetch the kubeadm-config ConfigMap: HTTP {code} (bootstrap token rejected or expired)"
        );
    }
    let server = format!("https://{endpoint}");
    if control_plane {
        println!(
            "[preflight] Running pre-flight checks before initializing the new control plane instance"
        );
        println!(
            "[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace"
        );
        let key = aead_key(cert_key.unwrap_or(""))?;
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
        let ep_host = endpoint
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_default();
        issue_apiserver(&[ip.clone(), ep_host, name.clone(), "10.96.0.1".into()])?;
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
        write_manifests(&ip, api_port, &client)?;
        node::start_etcd(&node::EtcdSpec {
            name: &name,
            ip: &ip,
            client_port: cport,
            peer_port: pport,
            initial_cluster: initial.join(","),
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
                ip: &ip,
                control_plane: true,
                kubelet_version: VERSION,
                extra_labels: vec![],
                annotations: vec![(ETCD_ANN.into(), client.clone())],
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
    // Worker: the kubelet's TLS bootstrap is modelled by keeping the bootstrap token.
    write_file(&pki_dir().join("ca.crt"), &parsed.ca_pem, false)?;
    write_file(
        &host_path("/etc/kubernetes/kubelet.conf"),
        &kubeconfig::render(
            "kubernetes",
            &server,
            &parsed.ca_pem,
            &format!("system:node:{name}"),
            Cred::Token(&token),
        ),
        true,
    )?;
    println!(
        "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n[kubelet-start] Starting the kubelet\n[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap"
    );
    node::register_node(
        &api,
        &NodeReg {
            name: &name,
            ip: &ip,
            control_plane: false,
            kubelet_version: VERSION,
            extra_labels: vec![],
            annotations: vec![],
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
