//! Kubernetes API actions (kube-rs), on one tokio runtime owned by the library.

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
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
