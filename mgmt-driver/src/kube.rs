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
}

async fn client(kubeconfig_yaml: &str, endpoint: Option<&str>) -> Result<Client, KubeError> {
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
