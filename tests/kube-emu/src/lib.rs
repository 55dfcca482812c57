//! kube-emu: the subset of the Kubernetes API that vnf-mgmt uses, stored in a real etcd.
//!
//! Test infrastructure only; nothing in the product depends on it. See README.md.

pub mod api;
pub mod cli;
pub mod etcd;
pub mod fixture;
pub mod harness;
pub mod k3s;
pub mod kubeadm;
pub mod kubeconfig;
pub mod node;
pub mod pki;
pub mod resources;
pub mod serve;
pub mod table;
pub mod util;

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Options of `kube-emu serve`.
#[derive(Debug, Clone)]
pub struct ServeOpts {
    pub etcd: Vec<String>,
    pub listen: String,
    pub pki_dir: PathBuf,
    pub token_auth_file: Option<PathBuf>,
    pub advertise_address: Option<String>,
    /// Written once serving: the bound `ip:port`.
    pub ready_file: Option<PathBuf>,
}

pub fn load_static_tokens(path: &Path) -> Result<HashMap<String, api::User>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut m = HashMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.splitn(4, ',');
        let tok = parts.next().unwrap_or("").to_string();
        let user = parts.next().unwrap_or("").to_string();
        let _uid = parts.next();
        let groups = parts
            .next()
            .unwrap_or("")
            .trim_matches('"')
            .split(',')
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        if !tok.is_empty() && !user.is_empty() {
            m.insert(tok, api::User { name: user, groups });
        }
    }
    Ok(m)
}

/// Make sure `pki_dir` has ca.crt/ca.key and an apiserver serving pair covering `sans`.
pub fn ensure_serving_pki(pki_dir: &Path, sans: &[String]) -> Result<pki::Ca> {
    let ca = match pki::Ca::load(pki_dir) {
        Ok(ca) => ca,
        Err(_) => {
            let ca = pki::new_ca("kubernetes")?;
            ca.save(pki_dir)?;
            ca
        }
    };
    let crt = pki_dir.join("apiserver.crt");
    if !crt.exists() {
        let mut all: Vec<String> = vec![
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            "localhost".into(),
            "127.0.0.1".into(),
        ];
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let h = h.trim().to_string();
            if !h.is_empty() && util::valid_name(&h) {
                all.push(h);
            }
        }
        for s in sans {
            if !s.is_empty() && !all.contains(s) && s != "0.0.0.0" {
                all.push(s.clone());
            }
        }
        let issued = pki::serving_cert(&ca, &all)?;
        std::fs::write(&crt, &issued.cert_pem)?;
        pki::write_private(&pki_dir.join("apiserver.key"), &issued.key_pem)?;
    }
    Ok(ca)
}

/// Run the API server until the process is killed.
pub async fn serve(opts: ServeOpts) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("listen on {}", opts.listen))?;
    let local = listener.local_addr()?;
    let adv_ip = opts
        .advertise_address
        .clone()
        .unwrap_or_else(|| local.ip().to_string());
    let ca = ensure_serving_pki(&opts.pki_dir, &[adv_ip.clone(), local.ip().to_string()])?;
    let cert = std::fs::read_to_string(opts.pki_dir.join("apiserver.crt"))?;
    let key = std::fs::read_to_string(opts.pki_dir.join("apiserver.key"))?;
    let tls = pki::server_tls(&ca.cert_pem, &cert, &key)?;
    let static_tokens = match &opts.token_auth_file {
        Some(p) => load_static_tokens(p)?,
        None => HashMap::new(),
    };
    let etcd = etcd::Etcd::new(opts.etcd.clone())?;
    let server = api::Server::new(api::ServerConfig {
        etcd,
        static_tokens,
        ca_pem: ca.cert_pem.clone(),
        advertise: format!("{}:{}", adv_ip, local.port()),
    });
    let mut tries = 0;
    loop {
        match server.bootstrap().await {
            Ok(()) => break,
            Err(e) if tries < 60 => {
                tries += 1;
                eprintln!("kube-emu: waiting for etcd: {e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
    eprintln!(
        "kube-emu: serving https://{local} (etcd {})",
        opts.etcd.join(",")
    );
    if let Some(rf) = &opts.ready_file {
        let tmp = rf.with_extension("tmp");
        std::fs::write(&tmp, local.to_string())?;
        std::fs::rename(&tmp, rf)?;
    }
    serve::serve(listener, tls, server).await
}
