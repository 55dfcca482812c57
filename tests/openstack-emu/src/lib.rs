//! openstack-emu: Keystone v3, Heat v1 and the Nova/Neutron/Cinder reads vnf-mgmt makes,
//! deploying generated HOT onto vnf-lab hosts and volumes.
//!
//! Test infrastructure only; nothing in the product depends on it. See README.md for
//! what is emulated and which behaviour was guessed rather than taken from the API
//! references.
//!
//! ```no_run
//! use openstack_emu::{Cloud, CloudConfig};
//! let cloud = Cloud::start(CloudConfig::default())?;
//! println!("{}", cloud.clouds_yaml());
//! # Ok::<(), anyhow::Error>(())
//! ```

mod api;
mod engine;
mod model;
pub mod template;
mod util;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vnf_lab::{Lab, LabSpec};

/// How the emulated cloud is set up. Every field has a default.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// Listen address; loopback only (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// Region name in the catalog.
    pub region: String,
    /// Domain id and name of the user and project.
    pub domain_id: String,
    /// Domain name.
    pub domain_name: String,
    /// The user's name.
    pub username: String,
    /// The user's password.
    pub password: String,
    /// The project's name.
    pub project_name: String,
    /// Application credential name.
    pub app_cred_name: String,
    /// Application credential secret.
    pub app_cred_secret: String,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Bytes of lab volume per GB of Cinder volume size (sparse files), rounded up to
    /// whole MiB per volume. Default 1 GiB (no scaling).
    pub volume_bytes_per_gb: u64,
    /// Number of emulated compute hosts (`OS-EXT-SRV-ATTR:host` values).
    pub compute_hosts: usize,
    /// Id of the one subnet every port gets its address from (the lab subnet).
    pub subnet_id: String,
    /// Network id -> name, for server `addresses` (default: the id as given).
    pub network_names: BTreeMap<String, String>,
    /// Login user of every server (cloud-init `default_user` of every image).
    pub image_user: String,
    /// Its password (as a cloud-config `chpasswd` would set).
    pub image_password: String,
    /// Shim directories installed into every server (`/opt/vnf-lab/bin`).
    pub shim_dirs: Vec<PathBuf>,
    /// Public keys authorized for the login user on every server.
    pub authorized_keys: Vec<String>,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "RegionOne".into(),
            domain_id: "default".into(),
            domain_name: "Default".into(),
            username: "admin".into(),
            password: util::hex_id(),
            project_name: "admin".into(),
            app_cred_name: "vnf-mgmt".into(),
            app_cred_secret: util::hex_id(),
            token_ttl: Duration::from_secs(3600),
            volume_bytes_per_gb: 1 << 30,
            compute_hosts: 8,
            subnet_id: util::uuid4(),
            network_names: BTreeMap::new(),
            image_user: "ubuntu".into(),
            image_password: "ubuntu".into(),
            shim_dirs: vec![],
            authorized_keys: vec![],
        }
    }
}

/// Credentials for the emulated cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Keystone v3 URL (`http://127.0.0.1:PORT/identity/v3`).
    pub auth_url: String,
    /// User name.
    pub username: String,
    /// User id.
    pub user_id: String,
    /// Password.
    pub password: String,
    /// Project name.
    pub project_name: String,
    /// Project id.
    pub project_id: String,
    /// Domain name of user and project.
    pub domain_name: String,
    /// Application credential id.
    pub app_cred_id: String,
    /// Application credential name.
    pub app_cred_name: String,
    /// Application credential secret.
    pub app_cred_secret: String,
    /// Region.
    pub region: String,
}

/// What the emulator still holds (for "nothing left behind" checks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Live stacks (top and nested) by name.
    pub stacks: Vec<String>,
    /// Server ids.
    pub servers: Vec<String>,
    /// Port ids.
    pub ports: Vec<String>,
    /// Volume ids.
    pub volumes: Vec<String>,
    /// Server group ids.
    pub server_groups: Vec<String>,
}

impl Inventory {
    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        *self == Inventory::default()
    }
}

/// A running emulated cloud. Dropping it stops the API and removes every server and
/// volume it made (and the lab, if it brought the lab up).
pub struct Cloud {
    emu: Arc<engine::Emu>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Cloud {
    /// Brings up a fresh lab (no hosts yet) and serves the APIs on it.
    pub fn start(cfg: CloudConfig) -> Result<Cloud> {
        let mut spec = LabSpec::builder()
            .user(&cfg.image_user)
            .password(&cfg.image_password);
        for d in &cfg.shim_dirs {
            spec = spec.shim_dir(d.clone());
        }
        for k in &cfg.authorized_keys {
            spec = spec.authorized_key(k);
        }
        let lab = Lab::up(spec.build()).context("bring up the lab")?;
        Cloud::start_on(Arc::new(lab), cfg)
    }

    /// Serves the APIs on an existing lab (its user and password are the servers').
    pub fn start_on(lab: Arc<Lab>, cfg: CloudConfig) -> Result<Cloud> {
        if !cfg.listen.ip().is_loopback() {
            anyhow::bail!("openstack-emu listens on loopback only, not {}", cfg.listen);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(cfg.listen))
            .with_context(|| format!("listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let emu = Arc::new(engine::Emu {
            lab,
            model: Mutex::new(model::Model::default()),
            ops: Mutex::new(()),
            base: format!("http://{addr}"),
            project_id: util::hex_id(),
            user_id: util::hex_id(),
            app_cred_id: util::hex_id(),
            cfg,
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let server = emu.clone();
        let thread = std::thread::Builder::new()
            .name("openstack-emu".into())
            .spawn(move || {
                rt.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            acc = listener.accept() => {
                                let Ok((tcp, _)) = acc else { continue };
                                let emu = server.clone();
                                tokio::spawn(async move {
                                    let svc = service_fn(move |req| {
                                        let emu = emu.clone();
                                        async move { Ok::<_, std::convert::Infallible>(serve_one(emu, req).await) }
                                    });
                                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
                                });
                            }
                        }
                    }
                });
            })
            .context("spawn server thread")?;
        Ok(Cloud {
            emu,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Keystone v3 URL.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.emu.base)
    }

    /// The lab behind the cloud.
    pub fn lab(&self) -> &Arc<Lab> {
        &self.emu.lab
    }

    /// Credentials (password and application credential).
    pub fn credentials(&self) -> Credentials {
        let c = &self.emu.cfg;
        Credentials {
            auth_url: self.auth_url(),
            username: c.username.clone(),
            user_id: self.emu.user_id.clone(),
            password: c.password.clone(),
            project_name: c.project_name.clone(),
            project_id: self.emu.project_id.clone(),
            domain_name: c.domain_name.clone(),
            app_cred_id: self.emu.app_cred_id.clone(),
            app_cred_name: c.app_cred_name.clone(),
            app_cred_secret: c.app_cred_secret.clone(),
            region: c.region.clone(),
        }
    }

    /// A `clouds.yaml` document with two entries: `vnf-lab` (password) and
    /// `vnf-lab-appcred` (application credential).
    pub fn clouds_yaml(&self) -> String {
        let c = self.credentials();
        format!(
            "clouds:\n  vnf-lab:\n    auth_type: password\n    auth:\n      auth_url: {a}\n      username: {u}\n      password: \"{p}\"\n      project_name: {pn}\n      user_domain_name: {d}\n      project_domain_name: {d}\n    region_name: {r}\n    interface: public\n    identity_api_version: 3\n  vnf-lab-appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {a}\n      application_credential_id: {ai}\n      application_credential_secret: \"{as}\"\n    region_name: {r}\n    interface: public\n    identity_api_version: 3\n",
            a = c.auth_url,
            u = c.username,
            p = c.password,
            pn = c.project_name,
            d = c.domain_name,
            r = c.region,
            ai = c.app_cred_id,
            as = c.app_cred_secret,
        )
    }

    /// Makes every token issued so far expired (tokens issued later are fresh).
    pub fn expire_tokens(&self) {
        let past = util::now() - Duration::from_secs(1);
        for t in self.emu.m().tokens.values_mut() {
            t.expires = past;
        }
    }

    /// What the emulator still holds.
    pub fn inventory(&self) -> Inventory {
        let m = self.emu.m();
        Inventory {
            stacks: m
                .stacks
                .values()
                .filter(|s| !s.deleted)
                .map(|s| s.name.clone())
                .collect(),
            servers: m.servers.keys().cloned().collect(),
            ports: m.ports.keys().cloned().collect(),
            volumes: m.volumes.keys().cloned().collect(),
            server_groups: m.server_groups.keys().cloned().collect(),
        }
    }

    /// Creates a stack from a Heat stack-create body (what `POST /stacks` takes:
    /// `stack_name`, `template`, `files`, `parameters`) and waits until it is
    /// `CREATE_COMPLETE`; returns its id. For tests that need a deployed stack before
    /// exercising a client.
    pub fn create_stack(&self, body: &serde_json::Value) -> Result<String> {
        let (name, id) = self.emu.prepare_stack(body).map_err(|r| {
            let msg = r
                .body
                .as_ref()
                .and_then(|b| b.pointer("/error/message"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("rejected")
                .to_string();
            anyhow::anyhow!("stack create: HTTP {}: {msg}", r.status)
        })?;
        let _g = self.emu.op_lock();
        self.emu
            .create_stack(&id)
            .map_err(|e| anyhow::anyhow!("stack {name}: CREATE_FAILED: {e}"))?;
        Ok(id)
    }

    /// A live stack's `(stack_status, stack_status_reason)`, by name or id.
    pub fn stack_status(&self, name_or_id: &str) -> Option<(String, String)> {
        let m = self.emu.m();
        m.find_stack(name_or_id)
            .filter(|s| !s.deleted)
            .map(|s| (s.status_str(), s.reason.clone()))
    }

    /// The lab host name behind a Nova server id.
    pub fn lab_host_of(&self, server_id: &str) -> Option<String> {
        self.emu
            .m()
            .servers
            .get(server_id)
            .map(|s| s.lab_host.clone())
    }

    fn cleanup(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _g = self.emu.op_lock();
        let (servers, volumes): (Vec<String>, Vec<String>) = {
            let m = self.emu.m();
            (
                m.servers.values().map(|s| s.lab_host.clone()).collect(),
                m.volumes.keys().cloned().collect(),
            )
        };
        for h in servers {
            let _ = self.emu.lab.remove_host(&h);
        }
        for v in volumes {
            if let Ok(Some(_)) = self.emu.lab.volume_device(&v) {
                let _ = self.emu.lab.detach_volume(&v);
            }
            let _ = self.emu.lab.destroy_volume(&v);
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.cleanup();
    }
}

const MAX_BODY: usize = 16 << 20;

async fn serve_one(
    emu: Arc<engine::Emu>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return respond(api::Resp {
                status: 413,
                headers: vec![],
                body: Some(
                    serde_json::json!({"error": {"code": 413, "title": "Request Entity Too Large", "message": "request body too large"}}),
                ),
            });
        }
    };
    let query = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let r = api::Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers,
        body,
    };
    // Handlers only take short locks; the lab work runs on worker threads.
    let resp = match tokio::task::spawn_blocking(move || emu.handle(r)).await {
        Ok(r) => r,
        Err(_) => api::Resp {
            status: 500,
            headers: vec![],
            body: Some(
                serde_json::json!({"error": {"code": 500, "title": "Internal Server Error", "message": "handler failed"}}),
            ),
        },
    };
    respond(resp)
}

fn respond(r: api::Resp) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    let body = match &r.body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            Bytes::from(serde_json::to_vec(v).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
