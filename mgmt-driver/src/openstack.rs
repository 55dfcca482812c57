//! OpenStack discovery: Keystone v3 token → Heat stack resources → [`Topology`].
//!
//! The walk follows Tacker's driver: the top stack → the group named by `aspect_id` →
//! its member stacks → the resources named by `ssh_cp_name` / `nic_cp_name` (a floating
//! IP is preferred for SSH when the resource has one); without `aspect_id` the ports are
//! in the top stack. The storage server's ports and its `volume_resource_id` volumes are
//! in the top stack (Cinder id = the volume's `physical_resource_id`, device from
//! `attachments[0].device`). The cluster endpoint is the `cluster_cp_name` port: in the
//! top stack when there is more than one master, else in the master's member stack.
//! Each server (found through its port's `device_id`) is a node named by its Nova name,
//! with the server id as resource id; its SSH host keys are pinned from the Nova console
//! log (`-----BEGIN SSH HOST KEY KEYS-----` block) when present.
//!
//! HTTP is async reqwest on the library's runtime ([`crate::kube::runtime`]); an
//! expired token (401) is renewed once. Secrets never appear in errors or logs.

use crate::clouds::{Auth, Credential};
use crate::secret::Secret;
use crate::topology::{ClusterVip, Node, Role, SshEndpoint, Topology, Volume};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;
use vnf_package::request::InstantiateVnfRequest;
use vnf_package::request::model::K8sClusterInstallationParam;

/// Error codes of OpenStack discovery.
pub mod codes {
    vnf_package::codes! {
        /// Keystone refused the credentials (or a renewed token was refused again).
        AUTH_FAILED = "driver.discovery.auth_failed";
        /// The Keystone catalog has no endpoint for a needed service (type, interface, region).
        ENDPOINT_MISSING = "driver.discovery.endpoint_missing";
        /// The Heat stack (by name or id) does not exist.
        STACK_NOT_FOUND = "driver.discovery.stack_not_found";
        /// A resource the request names (group, port, volume, server) is not in the stack.
        RESOURCE_MISSING = "driver.discovery.resource_missing";
        /// An OpenStack API call failed (unreachable, unexpected status or body).
        API = "driver.discovery.api";
        /// The request lacks what discovery needs (`additionalParams.k8s_cluster_installation_param`).
        REQUEST = "driver.discovery.request";
    }
}

/// Error codes of the storage-server rebuild (heal through Heat).
pub mod heal_codes {
    vnf_package::codes! {
        /// The Heat resource of the storage server (or of a volume to replace) is not in the stack.
        RESOURCE_MISSING = "driver.heal.resource_missing";
        /// Heat refused to mark a resource unhealthy or to start the stack update.
        REFUSED = "driver.heal.refused";
        /// The stack update ended in `UPDATE_FAILED` (or another `*_FAILED` status).
        UPDATE_FAILED = "driver.heal.update_failed";
        /// The stack update did not reach `UPDATE_COMPLETE` within the timeout.
        TIMEOUT = "driver.heal.timeout";
    }
}

/// All codes of discovery (credentials and API) and of the rebuild through Heat.
pub fn all_codes() -> Vec<vnf_package::Code> {
    let mut v = crate::clouds::codes::ALL.to_vec();
    v.extend_from_slice(codes::ALL);
    v.extend_from_slice(heal_codes::ALL);
    v
}

/// Knobs of [`rebuild_storage_server`].
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Also mark each `volume_resource_id` volume unhealthy, so Heat replaces it by a
    /// new empty volume (Tacker's `heal_vnfc_block_storage`). Default: keep the volume.
    pub replace_volumes: bool,
    /// How long the stack update may take (default 30 min).
    pub timeout: Duration,
    /// Delay between two status polls (default 2 s).
    pub poll_interval: Duration,
    /// Timeout of each HTTP request (default 60 s).
    pub request_timeout: Duration,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        RebuildOptions {
            replace_volumes: false,
            timeout: Duration::from_secs(1800),
            poll_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Rebuilds the storage server `server_id` of `stack` through Heat: marks its server
/// resource (and, with [`RebuildOptions::replace_volumes`], each `volume_resource_id`
/// volume) unhealthy, updates the stack with `existing: true` and waits for
/// `UPDATE_COMPLETE`. `progress` receives one line per step. Blocking, on the
/// library's runtime.
pub fn rebuild_storage_server(
    auth: &Auth,
    stack: &str,
    params: &K8sClusterInstallationParam,
    server_id: &str,
    opts: &RebuildOptions,
    progress: &dyn Fn(&str),
) -> Result<(), DiscoveryError> {
    let rt = crate::kube::runtime().map_err(|e| err(codes::API, e))?;
    rt.block_on(async {
        let dopts = DiscoverOptions {
            request_timeout: opts.request_timeout,
            ..DiscoverOptions::default()
        };
        let mut s = Session::connect(auth.clone(), &dopts).await?;
        s.rebuild_storage_server(stack, params, server_id, opts, progress)
            .await
    })
}

/// Like [`rebuild_storage_server`] for a validated request (credentials from
/// [`auth_for`]).
pub fn rebuild_storage_server_for_request(
    os_cloud: Option<&str>,
    stack: &str,
    request: &InstantiateVnfRequest,
    server_id: &str,
    opts: &RebuildOptions,
    progress: &dyn Fn(&str),
) -> Result<(), DiscoveryError> {
    let params = request
        .additional_params
        .as_ref()
        .and_then(|a| a.k8s_cluster_installation_param.as_ref())
        .ok_or_else(|| {
            err(
                codes::REQUEST,
                "the request has no additionalParams.k8s_cluster_installation_param",
            )
        })?;
    let auth = auth_for(os_cloud, &crate::clouds::process_env, request)?;
    rebuild_storage_server(&auth, stack, params, server_id, opts, progress)
}

/// Why discovery failed. The message never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.id)]
pub struct DiscoveryError {
    /// The stable code.
    pub code: vnf_package::Code,
    /// What failed, naming the stack, resource, URL or credential origin.
    pub message: String,
}

impl From<crate::clouds::ConfigError> for DiscoveryError {
    fn from(e: crate::clouds::ConfigError) -> Self {
        DiscoveryError {
            code: crate::clouds::codes::CONFIG,
            message: e.message,
        }
    }
}

fn err(code: vnf_package::Code, message: impl Into<String>) -> DiscoveryError {
    DiscoveryError {
        code,
        message: message.into(),
    }
}

/// Discovery knobs.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Pin host keys from the Nova console log (default true).
    pub pin_host_keys: bool,
    /// SSH port of every node (default 22).
    pub ssh_port: u16,
    /// Timeout of each HTTP request (default 60 s).
    pub request_timeout: Duration,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            pin_host_keys: true,
            ssh_port: 22,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// An authenticated OpenStack session (token + catalog), renewed on 401.
pub struct Session {
    http: reqwest::Client,
    auth: Auth,
    token: Option<Secret>,
    catalog: Value,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("auth_url", &self.auth.auth_url)
            .field("origin", &self.auth.origin)
            .finish_non_exhaustive()
    }
}

/// Discovers the topology of `stack` (name or id) for the request's installation
/// parameters: a blocking wrapper over [`Session`] on the library's runtime.
pub fn discover(
    auth: &Auth,
    stack: &str,
    params: &K8sClusterInstallationParam,
    opts: &DiscoverOptions,
) -> Result<Topology, DiscoveryError> {
    let rt = crate::kube::runtime().map_err(|e| err(codes::API, e))?;
    rt.block_on(async {
        let mut s = Session::connect(auth.clone(), opts).await?;
        s.discover(stack, params, opts).await
    })
}

/// The credentials for discovery, in this order: `os_cloud` or `OS_CLOUD` (a
/// `clouds.yaml` entry), the `OS_*` variables when `OS_AUTH_URL` is set, else the first
/// `vimConnectionInfo[]` of the request with an `accessInfo`.
pub fn auth_for(
    os_cloud: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    request: &InstantiateVnfRequest,
) -> Result<Auth, DiscoveryError> {
    let configured = os_cloud.is_some()
        || env("OS_CLOUD").is_some_and(|c| !c.is_empty())
        || env("OS_AUTH_URL").is_some_and(|c| !c.is_empty());
    if !configured
        && let Some((id, access)) = request
            .vim_connection_info
            .iter()
            .find_map(|v| v.access_info.as_ref().map(|a| (v.id.as_str(), a)))
    {
        return Ok(crate::clouds::from_access_info(id, access)?);
    }
    Ok(crate::clouds::resolve(os_cloud, env)?)
}

/// Discovers `stack` for a validated request: credentials from [`auth_for`] (process
/// environment), installation parameters from its `additionalParams`.
pub fn discover_for_request(
    os_cloud: Option<&str>,
    stack: &str,
    request: &InstantiateVnfRequest,
    opts: &DiscoverOptions,
) -> Result<Topology, DiscoveryError> {
    let params = request
        .additional_params
        .as_ref()
        .and_then(|a| a.k8s_cluster_installation_param.as_ref())
        .ok_or_else(|| {
            err(
                codes::REQUEST,
                "the request has no additionalParams.k8s_cluster_installation_param",
            )
        })?;
    let auth = auth_for(os_cloud, &crate::clouds::process_env, request)?;
    discover(&auth, stack, params, opts)
}

fn keystone_base(auth_url: &str) -> String {
    let u = auth_url.trim_end_matches('/');
    if u.ends_with("/v3") {
        u.to_string()
    } else {
        format!("{u}/v3")
    }
}

fn auth_body(auth: &Auth) -> Value {
    let domain = |name: &Option<String>, id: &Option<String>| match (id, name) {
        (Some(id), _) => Some(json!({"id": id})),
        (None, Some(name)) => Some(json!({"name": name})),
        _ => None,
    };
    let user =
        |name: &Option<String>, id: &Option<String>, dn: &Option<String>, di: &Option<String>| {
            let mut u = serde_json::Map::new();
            if let Some(id) = id {
                u.insert("id".into(), json!(id));
            } else if let Some(n) = name {
                u.insert("name".into(), json!(n));
                u.insert(
                    "domain".into(),
                    domain(dn, di).unwrap_or_else(|| json!({"id": "default"})),
                );
            }
            u
        };
    let identity = match &auth.credential {
        Credential::Password {
            username,
            user_id,
            user_domain_name,
            user_domain_id,
            password,
        } => {
            let mut u = user(username, user_id, user_domain_name, user_domain_id);
            u.insert("password".into(), json!(password.expose()));
            json!({"methods": ["password"], "password": {"user": u}})
        }
        Credential::ApplicationCredential {
            id,
            name,
            username,
            user_id,
            user_domain_name,
            user_domain_id,
            secret,
        } => {
            let mut ac = serde_json::Map::new();
            if let Some(id) = id {
                ac.insert("id".into(), json!(id));
            } else if let Some(n) = name {
                ac.insert("name".into(), json!(n));
                ac.insert(
                    "user".into(),
                    Value::Object(user(username, user_id, user_domain_name, user_domain_id)),
                );
            }
            ac.insert("secret".into(), json!(secret.expose()));
            json!({"methods": ["application_credential"], "application_credential": ac})
        }
    };
    let mut a = json!({"identity": identity});
    let is_app_cred = matches!(auth.credential, Credential::ApplicationCredential { .. });
    if !is_app_cred {
        if let Some(id) = &auth.project_id {
            a["scope"] = json!({"project": {"id": id}});
        } else if let Some(name) = &auth.project_name {
            let d = domain(&auth.project_domain_name, &auth.project_domain_id)
                .unwrap_or_else(|| json!({"id": "default"}));
            a["scope"] = json!({"project": {"name": name, "domain": d}});
        }
    }
    json!({"auth": a})
}

/// Keystone's or a service's error message from an error body, if any.
fn error_message(body: &Value) -> String {
    body.pointer("/error/message")
        .or_else(|| body.pointer("/explanation"))
        .or_else(|| body.pointer("/message"))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(300).collect())
        .unwrap_or_default()
}

impl Session {
    /// Gets a token from Keystone (the catalog comes with it).
    pub async fn connect(auth: Auth, opts: &DiscoverOptions) -> Result<Session, DiscoveryError> {
        let http = reqwest::Client::builder()
            .timeout(opts.request_timeout)
            .build()
            .map_err(|e| err(codes::API, format!("cannot build the HTTP client: {e}")))?;
        let mut s = Session {
            http,
            auth,
            token: None,
            catalog: Value::Null,
        };
        s.authenticate().await?;
        Ok(s)
    }

    async fn authenticate(&mut self) -> Result<(), DiscoveryError> {
        let url = format!("{}/auth/tokens", keystone_base(&self.auth.auth_url));
        let resp = self
            .http
            .post(&url)
            .json(&auth_body(&self.auth))
            .send()
            .await
            .map_err(|e| {
                err(
                    codes::API,
                    format!("Keystone {url} unreachable: {}", e.without_url()),
                )
            })?;
        let status = resp.status();
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(err(
                codes::AUTH_FAILED,
                format!(
                    "Keystone {url} refused the credentials of {} (HTTP {}): {}",
                    self.auth.origin,
                    status.as_u16(),
                    error_message(&body)
                ),
            ));
        }
        if !status.is_success() {
            return Err(err(
                codes::API,
                format!(
                    "Keystone {url}: HTTP {}: {}",
                    status.as_u16(),
                    error_message(&body)
                ),
            ));
        }
        let Some(token) = token else {
            return Err(err(
                codes::API,
                format!("Keystone {url}: no X-Subject-Token in the response"),
            ));
        };
        self.token = Some(token);
        self.catalog = body
            .pointer("/token/catalog")
            .cloned()
            .unwrap_or(Value::Null);
        tracing::debug!(auth_url = %self.auth.auth_url, "authenticated");
        Ok(())
    }

    /// The endpoint URL of the first catalog service of one of `types`, for the
    /// configured interface and region.
    pub fn endpoint(&self, types: &[&str]) -> Result<String, DiscoveryError> {
        let services = self.catalog.as_array().map(Vec::as_slice).unwrap_or(&[]);
        for ty in types {
            for s in services.iter().filter(|s| s["type"] == *ty) {
                let eps = s["endpoints"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let found = eps.iter().find(|e| {
                    e["interface"] == self.auth.interface.as_str()
                        && self
                            .auth
                            .region
                            .as_deref()
                            .is_none_or(|r| e["region"] == r || e["region_id"] == r)
                });
                if let Some(url) = found.and_then(|e| e["url"].as_str()) {
                    return Ok(url.trim_end_matches('/').to_string());
                }
            }
        }
        Err(err(
            codes::ENDPOINT_MISSING,
            format!(
                "no {} endpoint of interface {}{} in the catalog of {}",
                types.join("/"),
                self.auth.interface,
                self.auth
                    .region
                    .as_deref()
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default(),
                self.auth.auth_url
            ),
        ))
    }

    /// Sends a request with the token; on 401 re-authenticates once and retries.
    /// Returns the status and the JSON body (`null` when empty or not JSON).
    pub async fn call(
        &mut self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), DiscoveryError> {
        for attempt in 0..2 {
            let token = self.token.as_ref().map(Secret::expose).unwrap_or_default();
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("X-Auth-Token", token)
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| err(codes::API, format!("{method} {url}: {}", e.without_url())))?;
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status == 401 {
                if attempt == 0 {
                    tracing::debug!(%url, "token rejected; re-authenticating");
                    self.authenticate().await?;
                    continue;
                }
                return Err(err(
                    codes::AUTH_FAILED,
                    format!("{method} {url}: HTTP 401 with a fresh token"),
                ));
            }
            return Ok((status, v));
        }
        Err(err(codes::API, format!("{method} {url}: no response")))
    }

    async fn get_ok(&mut self, url: &str) -> Result<Value, DiscoveryError> {
        let (s, v) = self.call(reqwest::Method::GET, url, None).await?;
        if !(200..300).contains(&s) {
            return Err(err(
                codes::API,
                format!("GET {url}: HTTP {s}: {}", error_message(&v)),
            ));
        }
        Ok(v)
    }

    /// Resolves a stack name or id to its `stacks/{name}/{id}` URL.
    async fn stack_url(&mut self, heat: &str, stack: &str) -> Result<String, DiscoveryError> {
        let url = format!("{heat}/stacks/{stack}");
        let (s, v) = self.call(reqwest::Method::GET, &url, None).await?;
        if s == 404 {
            return Err(err(
                codes::STACK_NOT_FOUND,
                format!("stack {stack:?} not found ({url})"),
            ));
        }
        if !(200..300).contains(&s) {
            return Err(err(
                codes::API,
                format!("GET {url}: HTTP {s}: {}", error_message(&v)),
            ));
        }
        let (Some(name), Some(id)) = (
            v.pointer("/stack/stack_name").and_then(Value::as_str),
            v.pointer("/stack/id").and_then(Value::as_str),
        ) else {
            return Err(err(codes::API, format!("GET {url}: no stack name/id")));
        };
        if v.pointer("/stack/stack_status").and_then(Value::as_str) == Some("DELETE_COMPLETE") {
            return Err(err(
                codes::STACK_NOT_FOUND,
                format!("stack {stack:?} is deleted"),
            ));
        }
        Ok(format!("{heat}/stacks/{name}/{id}"))
    }

    async fn resources(&mut self, stack_url: &str) -> Result<Vec<Value>, DiscoveryError> {
        let v = self.get_ok(&format!("{stack_url}/resources")).await?;
        Ok(v["resources"].as_array().cloned().unwrap_or_default())
    }

    async fn console_host_keys(
        &mut self,
        nova: &str,
        server_id: &str,
    ) -> Result<Vec<String>, DiscoveryError> {
        let url = format!("{nova}/servers/{server_id}/action");
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&json!({"os-getConsoleOutput": {}})),
            )
            .await?;
        if !(200..300).contains(&s) {
            tracing::warn!(%url, status = s, "console log unavailable; host keys not pinned");
            return Ok(vec![]);
        }
        Ok(parse_console_host_keys(
            v["output"].as_str().unwrap_or_default(),
        ))
    }

    /// Marks the resource `name` of the stack at `stack_url` unhealthy.
    async fn mark_unhealthy(
        &mut self,
        stack_url: &str,
        name: &str,
        reason: &str,
    ) -> Result<(), DiscoveryError> {
        let url = format!("{stack_url}/resources/{name}");
        let body = json!({"mark_unhealthy": true, "resource_status_reason": reason});
        let (s, v) = self.call(reqwest::Method::PATCH, &url, Some(&body)).await?;
        if !(200..300).contains(&s) {
            return Err(err(
                heal_codes::REFUSED,
                format!(
                    "mark {name} unhealthy: PATCH {url}: HTTP {s}: {}",
                    error_message(&v)
                ),
            ));
        }
        Ok(())
    }

    /// See [`rebuild_storage_server`].
    pub async fn rebuild_storage_server(
        &mut self,
        stack: &str,
        params: &K8sClusterInstallationParam,
        server_id: &str,
        opts: &RebuildOptions,
        progress: &dyn Fn(&str),
    ) -> Result<(), DiscoveryError> {
        let heat = self.endpoint(&["orchestration"])?;
        let stack_url = self.stack_url(&heat, stack).await?;
        let resources = self.resources(&stack_url).await?;
        let server = resources
            .iter()
            .find(|r| {
                r["physical_resource_id"] == server_id && r["resource_type"] == "OS::Nova::Server"
            })
            .and_then(|r| r["resource_name"].as_str())
            .ok_or_else(|| {
                err(
                    heal_codes::RESOURCE_MISSING,
                    format!(
                        "no OS::Nova::Server resource with physical id {server_id} in stack {stack}"
                    ),
                )
            })?
            .to_string();
        let mut marked = vec![server.clone()];
        if opts.replace_volumes {
            let ss = params.storage_server.as_ref().ok_or_else(|| {
                err(
                    codes::REQUEST,
                    "the request has no storage_server parameters",
                )
            })?;
            for v in &ss.cinder_volume_setup_params {
                let name = &v.volume_resource_id;
                if !resources
                    .iter()
                    .any(|r| r["resource_name"] == name.as_str())
                {
                    return Err(err(
                        heal_codes::RESOURCE_MISSING,
                        format!("volume_resource_id {name} is not a resource of stack {stack}"),
                    ));
                }
                marked.push(name.clone());
            }
        }
        for name in &marked {
            progress(&format!("marking {name} unhealthy in stack {stack}"));
            self.mark_unhealthy(&stack_url, name, "vnf-mgmt heal storage_server")
                .await?;
        }
        let before = self.get_ok(&stack_url).await?;
        let updated_before = before.pointer("/stack/updated_time").cloned();
        progress(&format!("updating stack {stack} (existing: true)"));
        let (s, v) = self
            .call(
                reqwest::Method::PATCH,
                &stack_url,
                Some(&json!({"existing": true})),
            )
            .await?;
        if !(200..300).contains(&s) {
            return Err(err(
                heal_codes::REFUSED,
                format!("PATCH {stack_url}: HTTP {s}: {}", error_message(&v)),
            ));
        }
        let deadline = tokio::time::Instant::now() + opts.timeout;
        let mut seen_progress = false;
        loop {
            let v = self.get_ok(&stack_url).await?;
            let status = v
                .pointer("/stack/stack_status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let reason = v
                .pointer("/stack/stack_status_reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            seen_progress |= status == "UPDATE_IN_PROGRESS"
                || v.pointer("/stack/updated_time").cloned() != updated_before;
            if status == "UPDATE_COMPLETE" && seen_progress {
                progress(&format!("stack {stack} UPDATE_COMPLETE"));
                return Ok(());
            }
            if status.ends_with("_FAILED") {
                return Err(err(
                    heal_codes::UPDATE_FAILED,
                    format!("stack {stack} {status}: {reason}"),
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(err(
                    heal_codes::TIMEOUT,
                    format!(
                        "stack {stack} still {status} after {} s (rebuild timeout)",
                        opts.timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(opts.poll_interval).await;
        }
    }

    /// Walks the stack and builds the topology.
    pub async fn discover(
        &mut self,
        stack: &str,
        params: &K8sClusterInstallationParam,
        opts: &DiscoverOptions,
    ) -> Result<Topology, DiscoveryError> {
        let heat = self.endpoint(&["orchestration"])?;
        let nova = self.endpoint(&["compute"])?;
        let top_url = self.stack_url(&heat, stack).await?;
        let stack_id = top_url.rsplit('/').next().unwrap_or(stack).to_string();
        let top = Level::load(self, &top_url, format!("stack {stack}")).await?;

        let mut found: Vec<Found> = Vec::new();
        let m = &params.master_node;
        let masters = self
            .role_levels(&heat, &top, m.aspect_id.as_deref())
            .await?;
        for lvl in &masters {
            let f = self
                .node_at(lvl, Role::Master, &m.ssh_cp_name, m.nic_cp_name.as_deref())
                .await?;
            found.push(f);
        }
        let w = &params.worker_node;
        for lvl in self
            .role_levels(&heat, &top, w.aspect_id.as_deref())
            .await?
        {
            let f = self
                .node_at(&lvl, Role::Worker, &w.ssh_cp_name, w.nic_cp_name.as_deref())
                .await?;
            found.push(f);
        }
        if let Some(ss) = &params.storage_server {
            let mut f = self
                .node_at(
                    &top,
                    Role::Storage,
                    &ss.ssh_cp_name,
                    ss.nic_cp_name.as_deref(),
                )
                .await?;
            for v in &ss.cinder_volume_setup_params {
                let name = &v.volume_resource_id;
                let r = top.resource(name, "volume_resource_id")?;
                let cinder_id = r["physical_resource_id"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        err(
                            codes::RESOURCE_MISSING,
                            format!("volume {name} in {} has no physical id", top.what),
                        )
                    })?
                    .to_string();
                let attrs = self.attributes(&top, name).await?;
                let device = attrs
                    .pointer("/attachments/0/device")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                f.volumes.insert(name.clone(), Volume { cinder_id, device });
            }
            found.push(f);
        }

        // Cluster endpoint: the VIP port in the top stack with >1 master, else the
        // master member's own port (the top stack's when the member has none).
        let cluster_level = if masters.len() > 1 {
            Some(&top)
        } else {
            masters
                .first()
                .filter(|l| l.has(&m.cluster_cp_name))
                .or(Some(&top))
        };
        let cluster_endpoint;
        let mut cluster_vip = None;
        if let Some(lvl) = cluster_level
            && lvl.has(&m.cluster_cp_name)
        {
            let a = self.attributes(lvl, &m.cluster_cp_name).await?;
            let ip = fixed_ip(&a).ok_or_else(|| {
                err(
                    codes::RESOURCE_MISSING,
                    format!(
                        "cluster_cp_name {} in {} has no fixed IP",
                        m.cluster_cp_name, lvl.what
                    ),
                )
            })?;
            // More than one master: the VIP, served by HAProxy on every master.
            let port = if masters.len() > 1 {
                cluster_vip = subnet_prefix(&a).map(|prefix_len| ClusterVip {
                    address: ip,
                    prefix_len,
                });
                crate::cluster::LB_FRONTEND_PORT
            } else {
                6443
            };
            cluster_endpoint = Some(match ip {
                IpAddr::V4(a) => format!("https://{a}:{port}"),
                IpAddr::V6(a) => format!("https://[{a}]:{port}"),
            });
        } else {
            return Err(err(
                codes::RESOURCE_MISSING,
                format!(
                    "cluster_cp_name {} not found in {}",
                    m.cluster_cp_name,
                    cluster_level
                        .map(|l| l.what.as_str())
                        .unwrap_or("the stack")
                ),
            ));
        }

        let mut named = Vec::new();
        for f in found {
            let server = self
                .get_ok(&format!("{nova}/servers/{}", f.server_id))
                .await?;
            let name = server
                .pointer("/server/name")
                .and_then(Value::as_str)
                .unwrap_or(&f.server_id)
                .to_string();
            named.push((name, f));
        }
        let names = unique_node_names(
            &named
                .iter()
                .map(|(n, f)| {
                    let member = f
                        .member
                        .clone()
                        .unwrap_or_else(|| f.server_id.chars().take(8).collect());
                    (n.clone(), member)
                })
                .collect::<Vec<_>>(),
        );
        let mut nodes = Vec::new();
        for (name, (_, f)) in names.into_iter().zip(named) {
            let host_keys = if opts.pin_host_keys {
                self.console_host_keys(&nova, &f.server_id).await?
            } else {
                vec![]
            };
            nodes.push(Node {
                name,
                role: f.role,
                ssh: SshEndpoint {
                    host: f.ssh.to_string(),
                    port: opts.ssh_port,
                },
                nic: Some(f.nic),
                resource_id: Some(f.server_id),
                ports: f.ports,
                volumes: f.volumes,
                host_keys,
                group_member: f.member,
            });
        }
        Ok(Topology {
            source: format!("openstack:{stack_id}"),
            cluster_endpoint,
            cluster_vip,
            nodes,
        })
    }

    /// The levels holding one node each: the members of the group `aspect_id`, or the
    /// top stack itself without an aspect.
    async fn role_levels(
        &mut self,
        heat: &str,
        top: &Level,
        aspect_id: Option<&str>,
    ) -> Result<Vec<Level>, DiscoveryError> {
        let Some(aspect) = aspect_id else {
            return Ok(vec![top.clone()]);
        };
        let group = top.resource(aspect, "aspect_id (scaling group)")?;
        let gid = group["physical_resource_id"].as_str().unwrap_or_default();
        let gurl = match nested_link(group) {
            Some(u) => u,
            None if !gid.is_empty() => self.stack_url(heat, gid).await?,
            None => {
                return Err(err(
                    codes::RESOURCE_MISSING,
                    format!("group {aspect} in {} has no nested stack", top.what),
                ));
            }
        };
        let g = Level::load(self, &gurl, format!("group {aspect}")).await?;
        let mut out = Vec::new();
        for member in g.list.clone() {
            let mname = member["resource_name"].as_str().unwrap_or("?").to_string();
            let mid = member["physical_resource_id"].as_str().unwrap_or_default();
            let murl = match nested_link(&member) {
                Some(u) => u,
                None if !mid.is_empty() => self.stack_url(heat, mid).await?,
                None => continue,
            };
            let mut lvl =
                Level::load(self, &murl, format!("member {mname} of group {aspect}")).await?;
            lvl.member = Some(mname);
            out.push(lvl);
        }
        Ok(out)
    }

    async fn attributes(&mut self, lvl: &Level, name: &str) -> Result<Value, DiscoveryError> {
        let v = self
            .get_ok(&format!("{}/resources/{name}", lvl.url))
            .await?;
        Ok(v.pointer("/resource/attributes")
            .cloned()
            .unwrap_or(Value::Null))
    }

    async fn node_at(
        &mut self,
        lvl: &Level,
        role: Role,
        ssh_cp: &str,
        nic_cp: Option<&str>,
    ) -> Result<Found, DiscoveryError> {
        let r = role.as_str();
        lvl.resource(ssh_cp, &format!("{r} ssh_cp_name"))?;
        let ssh_attrs = self.attributes(lvl, ssh_cp).await?;
        let ssh_fixed = fixed_ip(&ssh_attrs);
        let floating = ssh_attrs["floating_ip_address"]
            .as_str()
            .and_then(|s| s.parse::<IpAddr>().ok());
        let ssh = floating.or(ssh_fixed).ok_or_else(|| {
            err(
                codes::RESOURCE_MISSING,
                format!("{r} ssh_cp_name {ssh_cp} in {} has no IP address", lvl.what),
            )
        })?;
        let mut ports = BTreeMap::new();
        if let Some(ip) = ssh_fixed {
            ports.insert(ssh_cp.to_string(), ip);
        }
        let (nic, nic_attrs) = match nic_cp.filter(|n| *n != ssh_cp) {
            Some(n) => {
                lvl.resource(n, &format!("{r} nic_cp_name"))?;
                let a = self.attributes(lvl, n).await?;
                let ip = fixed_ip(&a).ok_or_else(|| {
                    err(
                        codes::RESOURCE_MISSING,
                        format!("{r} nic_cp_name {n} in {} has no fixed IP", lvl.what),
                    )
                })?;
                ports.insert(n.to_string(), ip);
                (ip, a)
            }
            None => (ssh_fixed.unwrap_or(ssh), ssh_attrs.clone()),
        };
        let server_id = self
            .server_of(lvl, &nic_attrs, &ssh_attrs)
            .await?
            .ok_or_else(|| {
                err(
                    codes::RESOURCE_MISSING,
                    format!("no server behind {r} port {ssh_cp} in {}", lvl.what),
                )
            })?;
        Ok(Found {
            role,
            ssh,
            nic,
            server_id,
            ports,
            volumes: BTreeMap::new(),
            member: lvl.member.clone(),
        })
    }

    /// The Nova server id behind a port (`device_id`, also through a floating IP's
    /// `port_id`), else the level's only `OS::Nova::Server`.
    async fn server_of(
        &mut self,
        lvl: &Level,
        nic_attrs: &Value,
        ssh_attrs: &Value,
    ) -> Result<Option<String>, DiscoveryError> {
        for a in [nic_attrs, ssh_attrs] {
            if let Some(d) = a["device_id"].as_str().filter(|s| !s.is_empty()) {
                return Ok(Some(d.to_string()));
            }
        }
        if let Some(port_id) = ssh_attrs["port_id"].as_str().filter(|s| !s.is_empty())
            && let Ok(neutron) = self.endpoint(&["network"])
        {
            let url = format!("{neutron}/v2.0/ports/{port_id}");
            let v = self.get_ok(&url).await?;
            if let Some(d) = v
                .pointer("/port/device_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                return Ok(Some(d.to_string()));
            }
        }
        let servers: Vec<&Value> = lvl
            .list
            .iter()
            .filter(|r| r["resource_type"] == "OS::Nova::Server")
            .collect();
        Ok(match servers.as_slice() {
            [one] => one["physical_resource_id"].as_str().map(str::to_string),
            _ => None,
        })
    }
}

/// One stack level (top, group or member) and its resources.
#[derive(Debug, Clone)]
struct Level {
    url: String,
    what: String,
    list: Vec<Value>,
    /// The scaling group's member resource name (Heat's stable member id), for levels
    /// that are members of a group.
    member: Option<String>,
}

impl Level {
    async fn load(s: &mut Session, url: &str, what: String) -> Result<Level, DiscoveryError> {
        let list = s.resources(url).await?;
        Ok(Level {
            url: url.to_string(),
            what,
            list,
            member: None,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.list.iter().any(|r| r["resource_name"] == name)
    }

    fn resource(&self, name: &str, role: &str) -> Result<&Value, DiscoveryError> {
        self.list
            .iter()
            .find(|r| r["resource_name"] == name)
            .ok_or_else(|| {
                err(
                    codes::RESOURCE_MISSING,
                    format!(
                        "resource {name} ({role}) not found in {} (resources: {})",
                        self.what,
                        self.list
                            .iter()
                            .filter_map(|r| r["resource_name"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }
}

/// What one node's ports yielded.
struct Found {
    role: Role,
    ssh: IpAddr,
    nic: IpAddr,
    server_id: String,
    ports: BTreeMap<String, IpAddr>,
    volumes: BTreeMap<String, Volume>,
    /// Scaling-group member resource name, when the node is a group member.
    member: Option<String>,
}

fn nested_link(r: &Value) -> Option<String> {
    r["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == "nested")?["href"]
        .as_str()
        .map(|s| s.trim_end_matches('/').to_string())
}

/// A port's `fixed_ips[0].ip_address`, or a floating IP's `fixed_ip_address`.
/// Node names: the Nova server name when it is unique in the VNF; the members of a
/// scaling group usually share their VDU's name (`masterNode`), so a shared name gets
/// the group member's resource name appended (`masterNode-a1b2c3d4e5f6`): unique, and
/// stable across a heal that replaces the server inside the member. Takes (server name,
/// member name or server id) pairs; returns the names in the same order.
fn unique_node_names(named: &[(String, String)]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, _) in named {
        *count.entry(n).or_default() += 1;
    }
    named
        .iter()
        .map(|(n, member)| {
            if count.get(n.as_str()).copied().unwrap_or(0) > 1 {
                format!("{n}-{member}")
            } else {
                n.clone()
            }
        })
        .collect()
}

/// Prefix length of a port's subnet: Heat's `subnets` attribute of the port (the subnet
/// of its first fixed IP, else the first listed), from its `cidr`.
fn subnet_prefix(attrs: &Value) -> Option<u8> {
    let subnets = attrs.get("subnets")?.as_array()?;
    let wanted = attrs
        .pointer("/fixed_ips/0/subnet_id")
        .and_then(Value::as_str);
    let subnet = subnets
        .iter()
        .find(|s| wanted.is_some() && s.get("id").and_then(Value::as_str) == wanted)
        .or_else(|| subnets.first())?;
    let cidr = subnet.get("cidr")?.as_str()?;
    cidr.split_once('/')?.1.parse().ok()
}

fn fixed_ip(attrs: &Value) -> Option<IpAddr> {
    attrs
        .pointer("/fixed_ips/0/ip_address")
        .or_else(|| attrs.get("fixed_ip_address"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// The public host keys between `-----BEGIN SSH HOST KEY KEYS-----` and
/// `-----END SSH HOST KEY KEYS-----` of a console log (cloud-init's block), as
/// `type base64 [comment]` lines. Empty when there is no complete block.
pub fn parse_console_host_keys(console: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN SSH HOST KEY KEYS-----";
    const END: &str = "-----END SSH HOST KEY KEYS-----";
    let Some(start) = console.find(BEGIN) else {
        return vec![];
    };
    let rest = &console[start + BEGIN.len()..];
    let Some(end) = rest.find(END) else {
        return vec![];
    };
    let mut keys: Vec<String> = Vec::new();
    for line in rest[..end].lines() {
        // Console lines may carry a prefix such as "ci-info: " or a timestamp: start at
        // the key type.
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words
            .iter()
            .position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-sha2-"))
        else {
            continue;
        };
        let Some(blob) = words.get(i + 1) else {
            continue;
        };
        let key = words[i..].join(" ");
        if !blob.is_empty() && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_block_is_parsed_and_other_text_ignored() {
        let log = "boot...\nssh-rsa AAAAnotinblock x\n-----BEGIN SSH HOST KEY KEYS-----\n\
                   ecdsa-sha2-nistp256 AAAAE2 root@h\n\r\n[  12.3] ssh-ed25519 AAAAC3 root@h\n\
                   -----END SSH HOST KEY KEYS-----\nmore\n";
        assert_eq!(
            parse_console_host_keys(log),
            vec![
                "ecdsa-sha2-nistp256 AAAAE2 root@h".to_string(),
                "ssh-ed25519 AAAAC3 root@h".to_string()
            ]
        );
        assert!(parse_console_host_keys("no block").is_empty());
        assert!(
            parse_console_host_keys("-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAA\n")
                .is_empty(),
            "an unterminated block is not trusted"
        );
    }

    fn auth(cred: Credential) -> Auth {
        Auth {
            auth_url: "http://k/identity".into(),
            credential: cred,
            project_name: Some("p".into()),
            project_id: None,
            project_domain_name: Some("D".into()),
            project_domain_id: None,
            region: None,
            interface: "public".into(),
            origin: "test".into(),
        }
    }

    #[test]
    fn keystone_bodies() {
        let a = auth(Credential::Password {
            username: Some("u".into()),
            user_id: None,
            user_domain_name: Some("D".into()),
            user_domain_id: None,
            password: Secret::new("pw"),
        });
        assert_eq!(keystone_base(&a.auth_url), "http://k/identity/v3");
        assert_eq!(keystone_base("http://k/v3/"), "http://k/v3");
        let b = auth_body(&a);
        assert_eq!(
            b,
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "u", "domain": {"name": "D"}, "password": "pw"}}},
                "scope": {"project": {"name": "p", "domain": {"name": "D"}}}}})
        );
        let a = auth(Credential::ApplicationCredential {
            id: Some("ac".into()),
            name: None,
            username: None,
            user_id: None,
            user_domain_name: None,
            user_domain_id: None,
            secret: Secret::new("s"),
        });
        assert_eq!(
            auth_body(&a),
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": "ac", "secret": "s"}}}})
        );
    }

    fn request(v: Value) -> InstantiateVnfRequest {
        serde_json::from_value(v).expect("request")
    }

    #[test]
    fn credentials_precedence_with_the_request() {
        let r = request(json!({"flavourId": "simple", "vimConnectionInfo": [
            {"id": "v0", "vimType": "openstack"},
            {"id": "v1", "vimType": "openstack", "accessInfo": {"authUrl": "http://req/v3",
                "username": "u", "password": "p", "project": "nfv"}}]}));
        let none = |_: &str| None;
        let a = auth_for(None, &none, &r).expect("from the request");
        assert_eq!(a.auth_url, "http://req/v3");
        assert_eq!(a.origin, "vimConnectionInfo v1");
        let env = |k: &str| match k {
            "OS_AUTH_URL" => Some("http://env/v3".to_string()),
            "OS_USERNAME" | "OS_PASSWORD" => Some("x".to_string()),
            _ => None,
        };
        assert_eq!(
            auth_for(None, &env, &r).expect("env").auth_url,
            "http://env/v3"
        );
        let bare = request(json!({"flavourId": "simple"}));
        let e = auth_for(None, &none, &bare).expect_err("nothing configured");
        assert_eq!(e.code.id, "driver.discovery.config", "{e}");
        assert!(e.message.contains("OS_AUTH_URL"), "{e}");
    }

    #[test]
    fn request_without_installation_params_is_refused_before_any_call() {
        let e = discover_for_request(
            None,
            "s",
            &request(json!({"flavourId": "simple"})),
            &DiscoverOptions::default(),
        )
        .expect_err("no params");
        assert_eq!(e.code.id, "driver.discovery.request", "{e}");
    }

    #[test]
    fn shared_server_names_get_the_member_name() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let names = unique_node_names(&[
            pair("masterNode", "m-aaa"),
            pair("masterNode", "m-bbb"),
            pair("storage_server", "-"),
        ]);
        assert_eq!(
            names,
            ["masterNode-m-aaa", "masterNode-m-bbb", "storage_server"]
        );
    }

    #[test]
    fn subnet_prefix_from_the_port_subnet() {
        let a = json!({
            "fixed_ips": [{"ip_address": "10.0.0.5", "subnet_id": "b"}],
            "subnets": [{"id": "a", "cidr": "10.1.0.0/16"}, {"id": "b", "cidr": "10.0.0.0/26"}]
        });
        assert_eq!(subnet_prefix(&a), Some(26));
        assert_eq!(
            subnet_prefix(&json!({"subnets": [{"cidr": "10.0.0.0/20"}]})),
            Some(20)
        );
        assert_eq!(subnet_prefix(&json!({"fixed_ips": []})), None);
    }

    #[test]
    fn fixed_ip_of_port_and_floating_ip() {
        assert_eq!(
            fixed_ip(&json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})),
            "10.0.0.5".parse().ok()
        );
        assert_eq!(
            fixed_ip(&json!({"fixed_ip_address": "10.0.0.6", "floating_ip_address": "1.2.3.4"})),
            "10.0.0.6".parse().ok()
        );
        assert_eq!(fixed_ip(&json!({"fixed_ips": []})), None);
        assert_eq!(
            fixed_ip(&json!({"fixed_ips": [{"ip_address": "bad"}]})),
            None
        );
    }

    /// A minimal Keystone + Heat: the stack update ends `UPDATE_FAILED` (`fail`) or stays
    /// `UPDATE_IN_PROGRESS`. Returns the auth URL and the log of requests (method, path,
    /// body).
    fn fake_heat(fail: bool) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", l.local_addr().expect("addr"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (log2, base2) = (log.clone(), base.clone());
        std::thread::spawn(move || {
            let mut updated = false;
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let mut w = line.split_whitespace();
                let (m, path) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
                log2.lock()
                    .expect("log")
                    .push(format!("{m} {path} {}", String::from_utf8_lossy(&body)));
                let stack = |status: &str| {
                    json!({"stack": {"stack_name": "s", "id": "1", "stack_status": status,
                        "stack_status_reason": "Resource CREATE failed: No valid host was found",
                        "updated_time": null}})
                };
                let (code, extra, v) = match (m, path) {
                    ("POST", "/identity/v3/auth/tokens") => (
                        201,
                        "X-Subject-Token: tok\r\n",
                        json!({"token": {"catalog": [{"type": "orchestration", "endpoints": [
                            {"interface": "public", "url": format!("{base2}/heat")}]}]}}),
                    ),
                    ("GET", "/heat/stacks/s") => (200, "", stack("CREATE_COMPLETE")),
                    ("GET", "/heat/stacks/s/1/resources") => (
                        200,
                        "",
                        json!({"resources": [{"resource_name": "storage_server",
                            "physical_resource_id": "srv", "resource_type": "OS::Nova::Server"},
                            {"resource_name": "storage_server_volume",
                            "physical_resource_id": "vol", "resource_type": "OS::Cinder::Volume"}]}),
                    ),
                    ("PATCH", "/heat/stacks/s/1") => {
                        updated = true;
                        (202, "", Value::Null)
                    }
                    ("GET", "/heat/stacks/s/1") => (
                        200,
                        "",
                        stack(match (updated, fail) {
                            (false, _) => "CREATE_COMPLETE",
                            (true, true) => "UPDATE_FAILED",
                            (true, false) => "UPDATE_IN_PROGRESS",
                        }),
                    ),
                    ("PATCH", p) if p.starts_with("/heat/stacks/s/1/resources/") => {
                        (200, "", json!({}))
                    }
                    _ => (404, "", json!({"error": {"message": "not found"}})),
                };
                let b = v.to_string();
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                );
            }
        });
        (format!("{base}/identity"), log)
    }

    fn sample_params() -> K8sClusterInstallationParam {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/requests/instantiate_simple_pv.json");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        serde_json::from_value(v["additionalParams"]["k8s_cluster_installation_param"].clone())
            .expect("params")
    }

    fn fake_auth(url: String) -> Auth {
        Auth {
            auth_url: url,
            ..auth(Credential::Password {
                username: Some("u".into()),
                user_id: None,
                user_domain_name: Some("D".into()),
                user_domain_id: None,
                password: Secret::new("pw"),
            })
        }
    }

    #[test]
    fn rebuild_fails_with_the_heat_status_reason() {
        let (url, log) = fake_heat(true);
        let opts = RebuildOptions {
            replace_volumes: true,
            poll_interval: Duration::from_millis(10),
            ..Default::default()
        };
        let lines = std::sync::Mutex::new(Vec::new());
        let e =
            rebuild_storage_server(&fake_auth(url), "s", &sample_params(), "srv", &opts, &|l| {
                lines.lock().expect("lines").push(l.to_string())
            })
            .expect_err("UPDATE_FAILED");
        assert_eq!(e.code, heal_codes::UPDATE_FAILED, "{e}");
        assert!(e.message.contains("UPDATE_FAILED"), "{e}");
        assert!(e.message.contains("No valid host was found"), "{e}");
        let log = log.lock().expect("log").join("\n");
        for want in [
            "PATCH /heat/stacks/s/1/resources/storage_server {\"mark_unhealthy\":true",
            "PATCH /heat/stacks/s/1/resources/storage_server_volume {\"mark_unhealthy\":true",
            "PATCH /heat/stacks/s/1 {\"existing\":true}",
        ] {
            assert!(log.contains(want), "{want} not in:\n{log}");
        }
        assert!(
            lines
                .lock()
                .expect("lines")
                .iter()
                .any(|l| l.contains("marking storage_server unhealthy")),
            "progress"
        );
    }

    #[test]
    fn rebuild_keeps_the_volume_by_default_and_times_out() {
        let (url, log) = fake_heat(false);
        let opts = RebuildOptions {
            timeout: Duration::ZERO,
            ..Default::default()
        };
        let e = rebuild_storage_server(
            &fake_auth(url),
            "s",
            &sample_params(),
            "srv",
            &opts,
            &|_| {},
        )
        .expect_err("timeout");
        assert_eq!(e.code, heal_codes::TIMEOUT, "{e}");
        assert!(e.message.contains("UPDATE_IN_PROGRESS"), "{e}");
        let log = log.lock().expect("log").join("\n");
        assert!(log.contains("resources/storage_server {"), "{log}");
        assert!(!log.contains("storage_server_volume"), "volume kept: {log}");
    }
}
