//! Kubernetes API actions (kube-rs), on one tokio runtime owned by the library.

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::sync::OnceLock;
use std::time::Duration;

/// Field manager name used for server-side apply.
pub const FIELD_MANAGER: &str = "vnf-mgmt";

/// Label marking objects managed by vnf-mgmt.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Label carrying the VNF instance id.
pub const INSTANCE_LABEL: &str = "vnf-mgmt.io/vnf-instance-id";

/// Where the admin kubeconfig lives on a kubeadm master.
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The library's tokio runtime (created on first use; two workers).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("vnf-mgmt-rt")
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Why a Kubernetes action failed.
#[derive(Debug)]
pub enum KubeError {
    /// Kubeconfig unusable, API unreachable, request refused.
    Api(String),
    /// The object did not reach the wanted phase in time.
    Timeout(String),
    /// PersistentVolumes are bound to claims (one `pv -> namespace/claim` per entry);
    /// nothing was deleted.
    InUse(Vec<String>),
    /// A drain could not evict a pod before the step timeout because a
    /// PodDisruptionBudget kept refusing it (the message names the pod and the budget);
    /// the Nodes stay cordoned and none was deleted.
    DrainBlocked(String),
}

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeError::Api(m) | KubeError::Timeout(m) | KubeError::DrainBlocked(m) => {
                f.write_str(m)
            }
            KubeError::InUse(b) => write!(f, "PersistentVolume(s) in use: {}", b.join("; ")),
        }
    }
}

async fn client_config(kubeconfig_yaml: &str, endpoint: Option<&str>) -> Result<Config, KubeError> {
    let kc = Kubeconfig::from_yaml(kubeconfig_yaml)
        .map_err(|e| KubeError::Api(format!("admin kubeconfig: {e}")))?;
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| KubeError::Api(format!("admin kubeconfig: {e}")))?;
    if let Some(ep) = endpoint {
        cfg.cluster_url = ep
            .parse()
            .map_err(|e| KubeError::Api(format!("cluster endpoint {ep}: {e}")))?;
    }
    cfg.connect_timeout = Some(Duration::from_secs(10));
    cfg.read_timeout = Some(Duration::from_secs(60));
    Ok(cfg)
}

async fn client(kubeconfig_yaml: &str, endpoint: Option<&str>) -> Result<Client, KubeError> {
    let cfg = client_config(kubeconfig_yaml, endpoint).await?;
    Client::try_from(cfg).map_err(|e| KubeError::Api(format!("Kubernetes client: {e}")))
}

fn phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// Server-side applies a PersistentVolume and waits (watch, bounded by `timeout`) until
/// its phase is `wanted_phase` (empty: no wait).
pub fn apply_pv(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    object: &serde_json::Value,
    name: &str,
    wanted_phase: &str,
    timeout: Duration,
) -> Result<(), KubeError> {
    let rt = runtime().map_err(KubeError::Api)?;
    rt.block_on(async {
        let fut = async {
            let client = client(kubeconfig_yaml, endpoint).await?;
            let api: Api<PersistentVolume> = Api::all(client);
            let applied = api
                .patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(object),
                )
                .await
                .map_err(|e| KubeError::Api(format!("apply PersistentVolume {name}: {e}")))?;
            if wanted_phase.is_empty() || phase(&applied) == Some(wanted_phase) {
                return Ok(());
            }
            let current = api
                .get(name)
                .await
                .map_err(|e| KubeError::Api(format!("get PersistentVolume {name}: {e}")))?;
            if phase(&current) == Some(wanted_phase) {
                return Ok(());
            }
            let rv = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_else(|| "0".into());
            let secs = timeout.as_secs().clamp(1, 290) as u32;
            let stream = api
                .watch(&WatchParams::default().timeout(secs), &rv)
                .await
                .map_err(|e| KubeError::Api(format!("watch PersistentVolume {name}: {e}")))?;
            use futures_util::StreamExt;
            let mut stream = stream.boxed();
            let mut last = phase(&current).unwrap_or("none").to_string();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Added(pv)) | Ok(WatchEvent::Modified(pv))
                        if pv.metadata.name.as_deref() == Some(name) =>
                    {
                        if phase(&pv) == Some(wanted_phase) {
                            return Ok(());
                        }
                        last = phase(&pv).unwrap_or("none").to_string();
                    }
                    Ok(WatchEvent::Deleted(pv)) if pv.metadata.name.as_deref() == Some(name) => {
                        return Err(KubeError::Api(format!(
                            "PersistentVolume {name} was deleted while waiting"
                        )));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(KubeError::Api(format!(
                            "watch PersistentVolume {name}: {e}"
                        )));
                    }
                }
            }
            Err(KubeError::Timeout(format!(
                "PersistentVolume {name} is {last}, not {wanted_phase}"
            )))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(KubeError::Timeout(format!(
                "PersistentVolume {name} not {wanted_phase} within {} s",
                timeout.as_secs()
            ))),
        }
    })
}

/// Waits (polling every second, bounded by `timeout`) until every Node in `names` exists
/// and has the condition `Ready=True`. The timeout error lists the nodes not Ready.
pub fn wait_nodes_ready(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    names: &[String],
    timeout: Duration,
) -> Result<(), KubeError> {
    use k8s_openapi::api::core::v1::Node;
    let rt = runtime().map_err(KubeError::Api)?;
    rt.block_on(async {
        let client = match tokio::time::timeout(timeout, client(kubeconfig_yaml, endpoint)).await {
            Ok(c) => c?,
            Err(_) => {
                return Err(KubeError::Timeout(
                    "Kubernetes client setup timed out".into(),
                ));
            }
        };
        let api: Api<Node> = Api::all(client);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut not_ready = Vec::new();
            let mut last_error = None;
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    for name in names {
                        let ready = list.items.iter().any(|n| {
                            n.metadata.name.as_deref() == Some(name.as_str())
                                && n.status
                                    .as_ref()
                                    .and_then(|s| s.conditions.as_ref())
                                    .is_some_and(|c| {
                                        c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                                    })
                        });
                        if !ready {
                            not_ready.push(name.clone());
                        }
                    }
                    if not_ready.is_empty() {
                        return Ok(());
                    }
                }
                Err(e) => last_error = Some(format!("list Nodes: {e}")),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KubeError::Timeout(match last_error {
                    Some(e) => format!(
                        "Nodes not confirmed Ready within {} s: {e}",
                        timeout.as_secs()
                    ),
                    None => format!(
                        "Nodes not Ready within {} s: {}",
                        timeout.as_secs(),
                        not_ready.join(", ")
                    ),
                }));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// `pv -> namespace/claim` for a PersistentVolume whose phase is `Bound`; `None` when it
/// is not bound (Available, Released, Failed, Pending: not in use by a claim).
pub fn bound_claim(pv: &PersistentVolume) -> Option<String> {
    if phase(pv) != Some("Bound") {
        return None;
    }
    let name = pv.metadata.name.as_deref().unwrap_or("?");
    let claim = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let ns = claim.and_then(|c| c.namespace.as_deref()).unwrap_or("?");
    let cn = claim.and_then(|c| c.name.as_deref()).unwrap_or("?");
    Some(format!("{name} -> {ns}/{cn}"))
}

/// Deletes the PersistentVolumes of a VNF instance: those labelled
/// [`INSTANCE_LABEL`]`=instance` plus `names` (missing ones are fine). When any of them is
/// `Bound`, nothing is deleted and [`KubeError::InUse`] lists each `pv -> namespace/claim`.
/// Otherwise deletes them and waits (watch, bounded by `timeout`) until all are gone.
/// Returns the names deleted, sorted.
pub fn delete_pvs(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    instance: &str,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<String>, KubeError> {
    let rt = runtime().map_err(KubeError::Api)?;
    rt.block_on(async {
        let fut = async {
            let client = client(kubeconfig_yaml, endpoint).await?;
            let api: Api<PersistentVolume> = Api::all(client);
            let labelled = api
                .list(&ListParams::default().labels(&format!("{INSTANCE_LABEL}={instance}")))
                .await
                .map_err(|e| KubeError::Api(format!("list PersistentVolumes: {e}")))?;
            let mut pvs: std::collections::BTreeMap<String, PersistentVolume> = labelled
                .items
                .into_iter()
                .filter_map(|pv| pv.metadata.name.clone().map(|n| (n, pv)))
                .collect();
            for n in names {
                if pvs.contains_key(n) {
                    continue;
                }
                if let Some(pv) = api
                    .get_opt(n)
                    .await
                    .map_err(|e| KubeError::Api(format!("get PersistentVolume {n}: {e}")))?
                {
                    pvs.insert(n.clone(), pv);
                }
            }
            let in_use: Vec<String> = pvs.values().filter_map(bound_claim).collect();
            if !in_use.is_empty() {
                return Err(KubeError::InUse(in_use));
            }
            let mut remaining: std::collections::BTreeSet<String> = pvs.keys().cloned().collect();
            let deleted: Vec<String> = remaining.iter().cloned().collect();
            for n in &deleted {
                // Only the version that was checked: a PV bound meanwhile is not deleted.
                let dp = DeleteParams {
                    preconditions: Some(kube::api::Preconditions {
                        resource_version: pvs.get(n).and_then(|p| p.metadata.resource_version.clone()),
                        uid: pvs.get(n).and_then(|p| p.metadata.uid.clone()),
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(n, &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        return Err(KubeError::Api(format!(
                            "PersistentVolume {n} changed after it was checked (bound meanwhile?), not deleted; run heal_start again: {}",
                            s.message
                        )));
                    }
                    Err(e) => {
                        return Err(KubeError::Api(format!("delete PersistentVolume {n}: {e}")));
                    }
                }
            }
            if remaining.is_empty() {
                return Ok(deleted);
            }
            // Wait until gone: list once (drop the ones already gone), then watch from
            // that list's resourceVersion.
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| KubeError::Api(format!("list PersistentVolumes: {e}")))?;
            let present: std::collections::BTreeSet<String> = list
                .items
                .iter()
                .filter_map(|pv| pv.metadata.name.clone())
                .collect();
            remaining.retain(|n| present.contains(n));
            if remaining.is_empty() {
                return Ok(deleted);
            }
            let rv = list
                .metadata
                .resource_version
                .clone()
                .unwrap_or_else(|| "0".into());
            let secs = timeout.as_secs().clamp(1, 290) as u32;
            let stream = api
                .watch(&WatchParams::default().timeout(secs), &rv)
                .await
                .map_err(|e| KubeError::Api(format!("watch PersistentVolumes: {e}")))?;
            use futures_util::StreamExt;
            let mut stream = stream.boxed();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Deleted(pv)) => {
                        if let Some(n) = pv.metadata.name.as_deref() {
                            remaining.remove(n);
                        }
                        if remaining.is_empty() {
                            return Ok(deleted);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(KubeError::Api(format!("watch PersistentVolumes: {e}")));
                    }
                }
            }
            Err(KubeError::Timeout(format!(
                "PersistentVolume(s) {} still present",
                remaining.into_iter().collect::<Vec<_>>().join(", ")
            )))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(KubeError::Timeout(format!(
                "PersistentVolumes of {instance} not deleted within {} s",
                timeout.as_secs()
            ))),
        }
    })
}

// ----- cluster lifecycle: drain, node delete, access export/revoke --------------------

/// A client for the lifecycle actions: kube-rs's default retry layer is off (it would
/// retry a 429 from a PodDisruptionBudget for minutes); the callers retry themselves,
/// bounded by the step timeout.
async fn client_no_retry(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
) -> Result<(Client, Config), KubeError> {
    let mut cfg = client_config(kubeconfig_yaml, endpoint).await?;
    cfg.default_retry = false;
    let client = Client::try_from(cfg.clone())
        .map_err(|e| KubeError::Api(format!("Kubernetes client: {e}")))?;
    Ok((client, cfg))
}

/// Runs `fut` on the library runtime, bounded by `timeout` (+ `grace` so that the
/// future's own deadline handling can report first).
fn run_bounded<T>(
    timeout: Duration,
    grace: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, KubeError>>,
) -> Result<T, KubeError> {
    let rt = runtime().map_err(KubeError::Api)?;
    rt.block_on(async {
        match tokio::time::timeout(timeout + grace, fut).await {
            Ok(r) => r,
            Err(_) => Err(KubeError::Timeout(format!(
                "{what} not done within {} s",
                timeout.as_secs()
            ))),
        }
    })
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// A DNS-1123 label (namespace and ServiceAccount names are checked against it before
/// they are sent anywhere).
fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (Node names).
fn valid_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(valid_label)
}

fn check_names(what: &str, names: &[String]) -> Result<(), KubeError> {
    for n in names {
        if !valid_subdomain(n) {
            return Err(KubeError::Api(format!(
                "{what} name {n:?} is not a valid Kubernetes name (DNS-1123 subdomain)"
            )));
        }
    }
    Ok(())
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Pods evicted (`namespace/name`), sorted.
    pub evicted: Vec<String>,
    /// Pods left on the nodes because a DaemonSet owns them or they are mirror (static)
    /// pods (`namespace/name`), sorted.
    pub left: Vec<String>,
    /// Node objects deleted, in the order given.
    pub deleted_nodes: Vec<String>,
    /// Nodes that did not exist (counted as drained and deleted).
    pub missing_nodes: Vec<String>,
    /// Nodes that were not Ready (their kubelet is gone: a dead VM): not drained — no
    /// kubelet could stop their pods, so an eviction would wait for ever — and, with
    /// `delete_nodes`, deleted (the pod garbage collector then removes their pods).
    pub not_ready: Vec<String>,
}

/// Whether a Node's `Ready` condition is `True`.
fn node_ready(node: &k8s_openapi::api::core::v1::Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Why a pod stays on its node during a drain: owned by a DaemonSet, or a mirror pod.
fn drain_skips(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let md = &pod.metadata;
    let daemonset = md
        .owner_references
        .as_ref()
        .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet"));
    let mirror = md
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    daemonset || mirror
}

/// The budget named by a refused eviction (`The disruption budget <name> needs …`).
fn budget_of(status: &kube::core::Status) -> Option<(String, String)> {
    let cause = status
        .details
        .as_ref()?
        .causes
        .iter()
        .find(|c| c.reason == "DisruptionBudget")?;
    let name = cause
        .message
        .strip_prefix("The disruption budget ")?
        .split_whitespace()
        .next()?
        .to_string();
    Some((name, cause.message.clone()))
}

/// Drains Nodes: cordons each one, evicts its pods through the Eviction API (all
/// namespaces; pods owned by a DaemonSet and mirror pods are left), retrying evictions a
/// PodDisruptionBudget refuses (429) every 2 s until `timeout`, waits until the evicted
/// pods are gone, then deletes the Node objects when `delete_nodes`. A Node that does not
/// exist counts as drained and deleted; a Node that is not Ready (a dead VM, as in most
/// heals) is cordoned but not drained, and deleted with `delete_nodes`. When a budget
/// still refuses at the deadline the result is [`KubeError::DrainBlocked`] naming the pod
/// and the budget: the Nodes stay cordoned and none is deleted.
pub fn drain_nodes(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    nodes: &[String],
    delete_nodes: bool,
    timeout: Duration,
) -> Result<DrainOutcome, KubeError> {
    use k8s_openapi::api::core::v1::{Node, Pod};
    check_names("Node", nodes)?;
    let fut = async {
        let deadline = tokio::time::Instant::now() + timeout;
        let (client, _) = client_no_retry(kubeconfig_yaml, endpoint).await?;
        let node_api: Api<Node> = Api::all(client.clone());
        let pod_api: Api<Pod> = Api::all(client.clone());
        let mut out = DrainOutcome::default();
        let mut present = Vec::new();
        for n in nodes {
            match node_api.cordon(n).await {
                Ok(node) if node_ready(&node) => present.push(n.clone()),
                Ok(_) => out.not_ready.push(n.clone()),
                Err(e) if is_status(&e, 404) => out.missing_nodes.push(n.clone()),
                Err(e) => return Err(KubeError::Api(format!("cordon Node {n}: {e}"))),
            }
        }
        // (namespace, name, uid) of the pods to evict, in node order.
        let mut pending: Vec<(String, String, String)> = Vec::new();
        for n in &present {
            let pods = pod_api
                .list(&ListParams::default().fields(&format!("spec.nodeName={n}")))
                .await
                .map_err(|e| KubeError::Api(format!("list pods on Node {n}: {e}")))?;
            for p in pods.items {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                if drain_skips(&p) {
                    out.left.push(format!("{ns}/{name}"));
                } else {
                    pending.push((ns, name, p.metadata.uid.clone().unwrap_or_default()));
                }
            }
        }
        let mut evicted: Vec<(String, String, String)> = Vec::new();
        loop {
            let mut refused: Vec<(String, String, String)> = Vec::new();
            let mut last_refusal = String::new();
            for (ns, name, uid) in pending {
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                match api.evict(&name, &kube::api::EvictParams::default()).await {
                    Ok(_) => evicted.push((ns, name, uid)),
                    Err(e) if is_status(&e, 404) => {}
                    Err(kube::Error::Api(s)) if s.code == 429 => {
                        if last_refusal.is_empty() {
                            last_refusal = match budget_of(&s) {
                                Some((pdb, msg)) => format!(
                                    "eviction of pod {ns}/{name} refused by PodDisruptionBudget {ns}/{pdb}: {msg}"
                                ),
                                None => format!(
                                    "eviction of pod {ns}/{name} refused (429): {}",
                                    s.message
                                ),
                            };
                        }
                        refused.push((ns, name, uid));
                    }
                    Err(e) => {
                        return Err(KubeError::Api(format!("evict pod {ns}/{name}: {e}")));
                    }
                }
            }
            if refused.is_empty() {
                break;
            }
            let now = tokio::time::Instant::now();
            if now + Duration::from_secs(2) > deadline {
                let others = refused.len() - 1;
                return Err(KubeError::DrainBlocked(format!(
                    "Node(s) {} cordoned but not drained within {} s: {last_refusal}{}; nothing deleted",
                    present.join(", "),
                    timeout.as_secs(),
                    if others > 0 {
                        format!(" (and {others} more pod(s) refused)")
                    } else {
                        String::new()
                    }
                )));
            }
            pending = refused;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // Wait until every evicted pod is gone (a new pod with the same name is another pod).
        let mut remaining = evicted.clone();
        loop {
            let mut still = Vec::new();
            for (ns, name, uid) in remaining {
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                match api.get_opt(&name).await {
                    Ok(Some(p)) if p.metadata.uid.as_deref() == Some(uid.as_str()) => {
                        still.push((ns, name, uid));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(KubeError::Api(format!("get pod {ns}/{name}: {e}"))),
                }
            }
            if still.is_empty() {
                break;
            }
            if tokio::time::Instant::now() + Duration::from_secs(1) > deadline {
                return Err(KubeError::Timeout(format!(
                    "evicted pod(s) still present after {} s: {}; Node(s) {} stay cordoned, nothing deleted",
                    timeout.as_secs(),
                    still
                        .iter()
                        .map(|(ns, n, _)| format!("{ns}/{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    present.join(", ")
                )));
            }
            remaining = still;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        out.evicted = evicted
            .into_iter()
            .map(|(ns, n, _)| format!("{ns}/{n}"))
            .collect();
        out.evicted.sort();
        out.left.sort();
        if delete_nodes {
            for n in present.iter().chain(&out.not_ready.clone()) {
                match node_api.delete(n, &DeleteParams::default()).await {
                    Ok(_) => out.deleted_nodes.push(n.clone()),
                    Err(e) if is_status(&e, 404) => out.missing_nodes.push(n.clone()),
                    Err(e) => return Err(KubeError::Api(format!("delete Node {n}: {e}"))),
                }
            }
        }
        Ok(out)
    };
    run_bounded(timeout, Duration::from_secs(5), "drain", fut)
}

/// Deletes Node objects without draining (their VMs are gone). A missing Node counts as
/// deleted. Returns the Nodes that existed and were deleted.
pub fn delete_nodes(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    nodes: &[String],
    timeout: Duration,
) -> Result<Vec<String>, KubeError> {
    use k8s_openapi::api::core::v1::Node;
    check_names("Node", nodes)?;
    let fut = async {
        let (client, _) = client_no_retry(kubeconfig_yaml, endpoint).await?;
        let api: Api<Node> = Api::all(client);
        let mut deleted = Vec::new();
        for n in nodes {
            match api.delete(n, &DeleteParams::default()).await {
                Ok(_) => deleted.push(n.clone()),
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(KubeError::Api(format!("delete Node {n}: {e}"))),
            }
        }
        Ok(deleted)
    };
    run_bounded(timeout, Duration::ZERO, "Node deletion", fut)
}

/// Access to a cluster through a ServiceAccount token (what [`export_access`] produces):
/// what a VIM registration or a kubeconfig needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    /// API endpoint, `https://host:port` (no trailing slash).
    pub endpoint: String,
    /// The cluster CA certificate (PEM).
    pub ca_cert_pem: String,
    /// The ServiceAccount's non-expiring token (a secret: redacted in `Debug`).
    pub bearer_token: crate::secret::Secret,
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// The ServiceAccount's name.
    pub service_account: String,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl ClusterAccess {
    /// A kubeconfig (YAML) for this access: one cluster (server + certificate-authority-data), one user (token), one context.
    pub fn kubeconfig_yaml(&self, cluster_name: &str) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_cert_pem.as_bytes());
        let user = format!("{}@{cluster_name}", self.service_account);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {c}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {u}\n  user:\n    token: {token}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {u}\n    namespace: {ns}\ncurrent-context: {c}\npreferences: {{}}\n",
            c = yaml_str(cluster_name),
            server = yaml_str(&self.endpoint),
            ca = yaml_str(&ca),
            u = yaml_str(&user),
            token = yaml_str(self.bearer_token.expose()),
            ns = yaml_str(&self.namespace),
        )
    }

    /// Writes that kubeconfig to `path` with mode 0600 ([`write_private_file`]).
    pub fn write_kubeconfig(
        &self,
        path: &std::path::Path,
        cluster_name: &str,
    ) -> std::io::Result<()> {
        write_private_file(path, self.kubeconfig_yaml(cluster_name).as_bytes())
    }

    /// Tacker's VIM connection info for a Kubernetes VIM: the `vim_connection_info`
    /// entry Tacker v1 appends to the VNF instance after instantiate (`vim_type`
    /// `kubernetes`), with `access_info` holding what `vim register` needs:
    /// `auth_url` (= endpoint), `bearer_token`, `ssl_ca_cert` (PEM). Also
    /// `interface_info` in the ETSI SOL003 `VimConnectionInfo` shape for
    /// `ETSINFV.KUBERNETES.V_1` (`endpoint`, `ssl_ca_cert`). Returns JSON with the token
    /// in clear (callers decide where it goes; never logged).
    pub fn vim_connection_info(&self, vim_id: &str) -> serde_json::Value {
        serde_json::json!({
            "id": vim_id,
            "vim_id": vim_id,
            "vim_type": "kubernetes",
            "access_info": {
                "auth_url": self.endpoint,
                "bearer_token": self.bearer_token.expose(),
                "ssl_ca_cert": self.ca_cert_pem,
            },
            "interface_info": {
                "endpoint": self.endpoint,
                "ssl_ca_cert": self.ca_cert_pem,
            },
            "extra": {},
        })
    }
}

/// Writes `data` (a credential) to `path` with mode 0600 from the start: created with
/// that mode as a temporary file in the same directory, then renamed over `path`; never
/// readable by others, not even briefly; refuses to write through a symbolic link.
pub fn write_private_file(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is a symbolic link: not written", path.display()),
            ));
        }
        if m.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is a directory", path.display()),
            ));
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} names no file", path.display()),
            )
        })?;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.{nanos}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    // create_new: O_EXCL, so an existing file or symlink at the temp name is an error.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = (|| {
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        // rename replaces a path, never writes through a link created meanwhile.
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The Secret holding a ServiceAccount's non-expiring token: `<service_account>-token`.
pub fn token_secret_name(service_account: &str) -> String {
    format!("{service_account}-token")
}

fn check_access_names(namespace: &str, service_account: &str) -> Result<(), KubeError> {
    if !valid_label(namespace) {
        return Err(KubeError::Api(format!(
            "namespace {namespace:?} is not a valid Kubernetes namespace name (DNS-1123 label)"
        )));
    }
    // `<sa>-token` must stay a valid name too.
    if !valid_label(service_account) || service_account.len() > 57 {
        return Err(KubeError::Api(format!(
            "ServiceAccount name {service_account:?} is not a DNS-1123 label of at most 57 characters"
        )));
    }
    Ok(())
}

/// Exports cluster access: server-side applies (idempotent) ServiceAccount
/// `service_account` in `namespace`, a ClusterRoleBinding `<service_account>` to
/// `cluster-admin`, and an explicit `kubernetes.io/service-account-token` Secret
/// `<service_account>-token`; waits (bounded by `timeout`) until the token controller has
/// filled the token; returns the token, the CA certificate (the Secret's `ca.crt`, else
/// the kubeconfig's) and the API endpoint (`endpoint` if given, else the kubeconfig's
/// server).
pub fn export_access(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    namespace: &str,
    service_account: &str,
    timeout: Duration,
) -> Result<ClusterAccess, KubeError> {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    check_access_names(namespace, service_account)?;
    let secret_name = token_secret_name(service_account);
    let fut = async {
        let deadline = tokio::time::Instant::now() + timeout;
        let (client, cfg) = client_no_retry(kubeconfig_yaml, endpoint).await?;
        let labels = serde_json::json!({ MANAGED_BY_LABEL: FIELD_MANAGER });
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        sas.patch(
            service_account,
            &pp,
            &Patch::Apply(serde_json::json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": service_account, "namespace": namespace, "labels": labels},
            })),
        )
        .await
        .map_err(|e| {
            KubeError::Api(format!(
                "apply ServiceAccount {namespace}/{service_account}: {e}"
            ))
        })?;
        let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
        crbs.patch(
            service_account,
            &pp,
            &Patch::Apply(serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": service_account, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
            })),
        )
        .await
        .map_err(|e| KubeError::Api(format!("apply ClusterRoleBinding {service_account}: {e}")))?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        secrets
            .patch(
                &secret_name,
                &pp,
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": secret_name, "namespace": namespace, "labels": labels,
                        "annotations": {"kubernetes.io/service-account.name": service_account}},
                    "type": "kubernetes.io/service-account-token",
                })),
            )
            .await
            .map_err(|e| KubeError::Api(format!("apply Secret {namespace}/{secret_name}: {e}")))?;
        // The token controller fills data.token (asynchronously on a real cluster).
        let (token, ca) = loop {
            let s = secrets.get(&secret_name).await.map_err(|e| {
                KubeError::Api(format!("get Secret {namespace}/{secret_name}: {e}"))
            })?;
            let data = s.data.unwrap_or_default();
            let token = data
                .get("token")
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .unwrap_or_default();
            if !token.is_empty() {
                let ca = data
                    .get("ca.crt")
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    .unwrap_or_default();
                break (token, ca);
            }
            if tokio::time::Instant::now() + Duration::from_millis(500) > deadline {
                return Err(KubeError::Timeout(format!(
                    "Secret {namespace}/{secret_name} has no token after {} s (is the token controller running?)",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let ca_cert_pem = if ca.contains("BEGIN CERTIFICATE") {
            ca
        } else {
            kubeconfig_ca_pem(kubeconfig_yaml).ok_or_else(|| {
                KubeError::Api(format!(
                    "Secret {namespace}/{secret_name} has no ca.crt and the admin kubeconfig no certificate-authority-data"
                ))
            })?
        };
        let endpoint = endpoint
            .map(str::to_string)
            .unwrap_or_else(|| cfg.cluster_url.to_string())
            .trim_end_matches('/')
            .to_string();
        Ok(ClusterAccess {
            endpoint,
            ca_cert_pem,
            bearer_token: crate::secret::Secret::new(token),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        })
    };
    run_bounded(timeout, Duration::from_secs(2), "access export", fut)
}

/// The current context's cluster CA (PEM) from a kubeconfig's `certificate-authority-data`.
fn kubeconfig_ca_pem(kubeconfig_yaml: &str) -> Option<String> {
    use base64::Engine;
    let kc = Kubeconfig::from_yaml(kubeconfig_yaml).ok()?;
    let ctx_name = kc.current_context.clone()?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)?
        .context
        .as_ref()?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)?
        .cluster
        .as_ref()?;
    let data = cluster.certificate_authority_data.as_deref()?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()?;
    String::from_utf8(pem).ok()
}

/// Revokes what [`export_access`] created: deletes the token Secret, the
/// ClusterRoleBinding and the ServiceAccount (missing ones are fine). Afterwards the
/// token no longer authenticates. Returns what was deleted (`Kind namespace/name`).
pub fn revoke_access(
    kubeconfig_yaml: &str,
    endpoint: Option<&str>,
    namespace: &str,
    service_account: &str,
    timeout: Duration,
) -> Result<Vec<String>, KubeError> {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    check_access_names(namespace, service_account)?;
    let secret_name = token_secret_name(service_account);
    let fut = async {
        let (client, _) = client_no_retry(kubeconfig_yaml, endpoint).await?;
        let dp = DeleteParams::default();
        let mut deleted = Vec::new();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        match secrets.delete(&secret_name, &dp).await {
            Ok(_) => deleted.push(format!("Secret {namespace}/{secret_name}")),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => {
                return Err(KubeError::Api(format!(
                    "delete Secret {namespace}/{secret_name}: {e}"
                )));
            }
        }
        let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
        match crbs.delete(service_account, &dp).await {
            Ok(_) => deleted.push(format!("ClusterRoleBinding {service_account}")),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => {
                return Err(KubeError::Api(format!(
                    "delete ClusterRoleBinding {service_account}: {e}"
                )));
            }
        }
        let sas: Api<ServiceAccount> = Api::namespaced(client, namespace);
        match sas.delete(service_account, &dp).await {
            Ok(_) => deleted.push(format!("ServiceAccount {namespace}/{service_account}")),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => {
                return Err(KubeError::Api(format!(
                    "delete ServiceAccount {namespace}/{service_account}: {e}"
                )));
            }
        }
        Ok(deleted)
    };
    run_bounded(timeout, Duration::ZERO, "access revocation", fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(phase: &str, claim: Option<(&str, &str)>) -> PersistentVolume {
        let mut v = serde_json::json!({
            "metadata": {"name": "nfs-pv1"},
            "spec": {},
            "status": {"phase": phase}
        });
        if let Some((ns, n)) = claim {
            v["spec"]["claimRef"] = serde_json::json!({"namespace": ns, "name": n});
        }
        serde_json::from_value(v).expect("pv")
    }

    #[test]
    fn only_bound_pvs_are_in_use() {
        assert_eq!(
            bound_claim(&pv("Bound", Some(("default", "data")))).as_deref(),
            Some("nfs-pv1 -> default/data")
        );
        assert_eq!(
            bound_claim(&pv("Released", Some(("default", "data")))),
            None
        );
        assert_eq!(bound_claim(&pv("Available", None)), None);
    }
}
