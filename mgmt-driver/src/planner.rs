//! Planning: a pure function from topology + validated request to a [`Plan`].

use crate::plan::{Action, Credential, FileSource, Operation, Plan, PlanHost, Step};
use crate::scripts;
use crate::secret::{Secret, Secrets};
use crate::topology::{Node, Role, Topology};
use vnf_package::request::{InstantiateVnfRequest, K8sClusterInstallationParam};

/// Error codes of planning.
pub mod codes {
    vnf_package::codes! {
        /// The request has no `k8s_cluster_installation_param`.
        NO_INSTALL_PARAMS = "driver.plan.no_install_params";
        /// The request configures a storage server but the topology has none.
        NO_STORAGE_SERVER = "driver.plan.no_storage_server";
        /// A `volume_resource_id` of the request is not attached to the storage server.
        UNKNOWN_VOLUME = "driver.plan.unknown_volume";
        /// A node has neither a password nor a private key.
        NO_CREDENTIALS = "driver.plan.no_credentials";
        /// The VNF instance id is empty, longer than 63, or has characters other than letters, digits, '-', '_', '.'.
        BAD_INSTANCE_ID = "driver.plan.bad_instance_id";
        /// A `nfs_server_cp` is not a port of any node in the topology.
        UNKNOWN_CP = "driver.plan.unknown_cp";
        /// A PersistentVolume manifest cannot be read or is not a named PersistentVolume with `spec.nfs`.
        BAD_MANIFEST = "driver.plan.bad_manifest";
        /// PersistentVolumes are requested but the topology has no master to reach the cluster from.
        NO_MASTER = "driver.plan.no_master";
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", code.id)]
pub struct PlanError {
    /// Stable code.
    pub code: vnf_package::Code,
    /// What is wrong.
    pub message: String,
}

fn err(code: vnf_package::Code, message: String) -> PlanError {
    PlanError { code, message }
}

/// Planning knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Debian package that provides the NFS client (`mount.nfs`); installed on masters and
    /// workers only when `mount.nfs` is absent.
    pub nfs_client_package: String,
    /// Timeout of script steps, seconds.
    pub script_timeout_secs: u64,
    /// Timeout of uploads, seconds.
    pub upload_timeout_secs: u64,
    /// Timeout of a Kubernetes apply including the wait for `Available`, seconds.
    pub kube_timeout_secs: u64,
    /// Plan the PersistentVolume registration (`pv_registration_params`); off: only the
    /// storage server and NFS clients.
    pub register_pvs: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            nfs_client_package: "nfs-common".into(),
            script_timeout_secs: 600,
            upload_timeout_secs: 60,
            kube_timeout_secs: 150,
            register_pvs: true,
        }
    }
}

/// A plan plus the secrets its credentials reference (kept apart; never serialized).
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Secrets referenced by name from the plan.
    pub secrets: Secrets,
}

struct Login<'a> {
    prefix: &'static str,
    username: &'a str,
    password: Option<&'a str>,
    key: Option<&'a str>,
}

/// Checks a VNF instance id (it names journal files).
pub fn check_instance_id(id: &str) -> Result<(), PlanError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(err(
            codes::BAD_INSTANCE_ID,
            format!("invalid VNF instance id {id:?}"),
        ))
    }
}

/// Reads package files for planning (PV manifests).
pub trait PackageFiles {
    /// The text of a package file.
    fn read_text(&self, path: &str) -> Result<String, String>;
}

impl PackageFiles for vnf_package::archive::Package {
    fn read_text(&self, path: &str) -> Result<String, String> {
        vnf_package::archive::Package::read_text(self, path).map_err(|e| e.to_string())
    }
}

/// Plans `instantiate_end` (this slice: storage server volumes and exports, NFS client on
/// every master and worker, PersistentVolume registration). The request must already be
/// validated against the package.
pub fn instantiate(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    storage_and_pvs(
        topology,
        request,
        package,
        vnf_instance_id,
        opts,
        Operation::Instantiate,
    )
}

/// Plans `heal_end` of the storage server: the storage server's steps of instantiate
/// (volumes mounted — formatted only when blank or `force_format`, so a kept volume keeps
/// its data — and exports) on the rebuilt VM, then the PersistentVolumes registered again
/// with the storage server's current address. The NFS clients are untouched.
pub fn heal_end(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    storage_and_pvs(
        topology,
        request,
        package,
        vnf_instance_id,
        opts,
        Operation::HealEnd,
    )
}

/// Plans `heal_start` of the storage server: one step on a master deleting the VNF's
/// PersistentVolumes (instance label plus the names in the package's
/// `pv_registration_params` manifests) and waiting until they are gone; refused at run
/// time, deleting nothing, while any is bound to a claim.
pub fn heal_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    check_instance_id(vnf_instance_id)?;
    let params = install_params(request)?;
    let mut b = Builder {
        hosts: Vec::new(),
        steps: Vec::new(),
        secrets: Secrets::new(),
        opts,
    };
    let master = topology.with_role(Role::Master).next().ok_or_else(|| {
        err(
            codes::NO_MASTER,
            "heal storage_server needs a master in the topology to reach the cluster from".into(),
        )
    })?;
    b.add_host(master, &master_login(params))?;
    let mut names = Vec::new();
    for pv in &params.pv_registration_params {
        let (name, _) = pv_object(
            package,
            &pv.pv_manifest_file_path,
            "0.0.0.0",
            vnf_instance_id,
        )?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    b.steps.push(Step {
        id: format!("{}/pv-delete", master.name),
        phase: 1,
        host: master.name.clone(),
        action: Action::KubeDeletePvs {
            kubeconfig: crate::kube::ADMIN_KUBECONFIG.into(),
            endpoint: topology.cluster_endpoint.clone(),
            instance: vnf_instance_id.to_string(),
            names,
        },
        reason: "delete the PersistentVolumes served by the storage server before it is rebuilt (refused while a claim binds one)".into(),
        timeout_secs: opts.kube_timeout_secs,
    });
    Ok(Planned {
        plan: Plan {
            format_version: crate::plan::FORMAT_VERSION,
            operation: Operation::HealStart,
            vnf_instance_id: vnf_instance_id.to_string(),
            inventory_fingerprint: topology.fingerprint(),
            hosts: b.hosts,
            steps: b.steps,
        },
        secrets: b.secrets,
    })
}

fn install_params(
    request: &InstantiateVnfRequest,
) -> Result<&K8sClusterInstallationParam, PlanError> {
    request
        .additional_params
        .as_ref()
        .and_then(|a| a.k8s_cluster_installation_param.as_ref())
        .ok_or_else(|| {
            err(
                codes::NO_INSTALL_PARAMS,
                "additionalParams.k8s_cluster_installation_param is missing".into(),
            )
        })
}

fn master_login(params: &K8sClusterInstallationParam) -> Login<'_> {
    Login {
        prefix: "master_node",
        username: &params.master_node.username,
        password: params.master_node.password.as_deref(),
        key: params.master_node.ssh_private_key_path.as_deref(),
    }
}

fn storage_and_pvs(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
    operation: Operation,
) -> Result<Planned, PlanError> {
    check_instance_id(vnf_instance_id)?;
    let params = install_params(request)?;
    let heal = operation == Operation::HealEnd;
    if heal && params.storage_server.is_none() {
        return Err(err(
            codes::NO_STORAGE_SERVER,
            "heal storage_server: the request configures no storage_server".into(),
        ));
    }
    let mut b = Builder {
        hosts: Vec::new(),
        steps: Vec::new(),
        secrets: Secrets::new(),
        opts,
    };

    // Storage server first: its exports must exist before clients use them (phase 1 for
    // both; PV registration will follow in a later phase).
    if let Some(ss) = &params.storage_server {
        let node = topology
            .node_with_port(&ss.ssh_cp_name)
            .filter(|n| n.role == Role::Storage)
            .or_else(|| single(topology.with_role(Role::Storage)))
            .ok_or_else(|| {
                err(
                    codes::NO_STORAGE_SERVER,
                    format!(
                        "the request configures storage_server (ssh_cp_name {}) but the topology has no single node with role storage",
                        ss.ssh_cp_name
                    ),
                )
            })?;
        b.add_host(
            node,
            &Login {
                prefix: "storage_server",
                username: &ss.username,
                password: ss.password.as_deref(),
                key: ss.ssh_private_key_path.as_deref(),
            },
        )?;
        let uses = if ss.cinder_volume_setup_params.is_empty() {
            vec!["lib.sh", "nfs_server.sh"]
        } else {
            vec!["lib.sh", "storage_volume.sh", "nfs_server.sh"]
        };
        b.uploads(node, &uses, 1);
        for v in &ss.cinder_volume_setup_params {
            let vol = node.volumes.get(&v.volume_resource_id).ok_or_else(|| {
                err(
                    codes::UNKNOWN_VOLUME,
                    format!(
                        "volume {} is not attached to storage server {} in the topology (known: {})",
                        v.volume_resource_id,
                        node.name,
                        node.volumes.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            let mut args = vec![
                vol.cinder_id.clone(),
                v.mount_to.clone(),
                vol.device.clone().unwrap_or_else(|| "-".into()),
            ];
            if v.force_format {
                args.push("--force-format".into());
            }
            b.script(
                node,
                format!("volume/{}", v.volume_resource_id),
                "storage_volume.sh",
                args,
                format!(
                    "mount Cinder volume {} at {}{}",
                    v.volume_resource_id,
                    v.mount_to,
                    if v.force_format {
                        " (reformat requested)"
                    } else {
                        ""
                    }
                ),
            );
        }
        if !ss.nfs_server_setup_params.is_empty() {
            let args = ss
                .nfs_server_setup_params
                .iter()
                .flat_map(|e| [e.export_dir.clone(), e.export_to.clone()])
                .collect();
            b.script(
                node,
                "nfs-exports".into(),
                "nfs_server.sh",
                args,
                format!(
                    "export {} over NFS",
                    ss.nfs_server_setup_params
                        .iter()
                        .map(|e| e.export_dir.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }

        // NFS client on every Kubernetes node (kept as is by a heal of the storage server).
        for node in topology
            .nodes
            .iter()
            .filter(|n| !heal && matches!(n.role, Role::Master | Role::Worker))
        {
            let login = if node.role == Role::Master {
                Login {
                    prefix: "master_node",
                    username: &params.master_node.username,
                    password: params.master_node.password.as_deref(),
                    key: params.master_node.ssh_private_key_path.as_deref(),
                }
            } else {
                Login {
                    prefix: "worker_node",
                    username: &params.worker_node.username,
                    password: params.worker_node.password.as_deref(),
                    key: params.worker_node.ssh_private_key_path.as_deref(),
                }
            };
            b.add_host(node, &login)?;
            b.uploads(node, &["lib.sh", "nfs_client.sh"], 1);
            b.script(
                node,
                "nfs-client".into(),
                "nfs_client.sh",
                vec![opts.nfs_client_package.clone()],
                format!(
                    "NFS client ({}) so pods can mount the exports",
                    opts.nfs_client_package
                ),
            );
        }
    }

    if opts.register_pvs && !params.pv_registration_params.is_empty() {
        let master = topology.with_role(Role::Master).next().ok_or_else(|| {
            err(
                codes::NO_MASTER,
                "pv_registration_params needs a master in the topology".into(),
            )
        })?;
        b.add_host(
            master,
            &Login {
                prefix: "master_node",
                username: &params.master_node.username,
                password: params.master_node.password.as_deref(),
                key: params.master_node.ssh_private_key_path.as_deref(),
            },
        )?;
        for pv in &params.pv_registration_params {
            let server = topology
                .node_with_port(&pv.nfs_server_cp)
                .and_then(|n| n.ports.get(&pv.nfs_server_cp))
                .ok_or_else(|| {
                    err(
                        codes::UNKNOWN_CP,
                        format!(
                            "nfs_server_cp {} of {} is not a port of any node in the topology",
                            pv.nfs_server_cp, pv.pv_manifest_file_path
                        ),
                    )
                })?;
            let (name, object) = pv_object(
                package,
                &pv.pv_manifest_file_path,
                &server.to_string(),
                vnf_instance_id,
            )?;
            b.steps.push(Step {
                id: format!("{}/pv/{name}", master.name),
                phase: 2,
                host: master.name.clone(),
                action: Action::KubeApply {
                    kubeconfig: crate::kube::ADMIN_KUBECONFIG.into(),
                    endpoint: topology.cluster_endpoint.clone(),
                    manifest: pv.pv_manifest_file_path.clone(),
                    kind: "PersistentVolume".into(),
                    name: name.clone(),
                    object,
                    wait_for_phase: Some("Available".into()),
                },
                reason: format!(
                    "register PersistentVolume {name} on NFS server {server} ({})",
                    pv.nfs_server_cp
                ),
                timeout_secs: opts.kube_timeout_secs,
            });
        }
    }

    Ok(Planned {
        plan: Plan {
            format_version: crate::plan::FORMAT_VERSION,
            operation,
            vnf_instance_id: vnf_instance_id.to_string(),
            inventory_fingerprint: topology.fingerprint(),
            hosts: b.hosts,
            steps: b.steps,
        },
        secrets: b.secrets,
    })
}

fn single<'a>(mut it: impl Iterator<Item = &'a Node>) -> Option<&'a Node> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

struct Builder<'o> {
    hosts: Vec<PlanHost>,
    steps: Vec<Step>,
    secrets: Secrets,
    opts: &'o PlanOptions,
}

impl Builder<'_> {
    fn add_host(&mut self, node: &Node, login: &Login<'_>) -> Result<(), PlanError> {
        if self.hosts.iter().any(|h| h.name == node.name) {
            return Ok(());
        }
        let password_name = format!("{}.password", login.prefix);
        if let Some(pw) = login.password {
            self.secrets.insert(password_name.clone(), Secret::new(pw));
        }
        // Key preferred; the password (when given) still serves sudo.
        let credential = match (login.key, login.password) {
            (Some(k), _) => Credential::PrivateKey {
                path: k.to_string(),
            },
            (None, Some(_)) => Credential::Password {
                secret: password_name.clone(),
            },
            (None, None) => {
                return Err(err(
                    codes::NO_CREDENTIALS,
                    format!(
                        "{}: neither password nor ssh_private_key_path for node {}",
                        login.prefix, node.name
                    ),
                ));
            }
        };
        self.hosts.push(PlanHost {
            name: node.name.clone(),
            role: node.role,
            address: node.ssh.host.clone(),
            port: node.ssh.port,
            user: login.username.to_string(),
            credential,
            sudo_password: login.password.map(|_| password_name),
            host_keys: node.host_keys.clone(),
        });
        Ok(())
    }

    fn uploads(&mut self, node: &Node, names: &[&str], phase: u32) {
        for name in names {
            let sha256 = scripts::sha256(name).unwrap_or_default();
            self.steps.push(Step {
                id: format!("{}/upload/{name}", node.name),
                phase,
                host: node.name.clone(),
                action: Action::UploadFile {
                    path: scripts::remote_path(name),
                    mode: 0o700,
                    sha256,
                    source: FileSource::Embedded {
                        name: (*name).to_string(),
                    },
                },
                reason: format!("script {name}"),
                timeout_secs: self.opts.upload_timeout_secs,
            });
        }
    }

    fn script(&mut self, node: &Node, what: String, name: &str, args: Vec<String>, reason: String) {
        self.steps.push(Step {
            id: format!("{}/{what}", node.name),
            phase: 1,
            host: node.name.clone(),
            action: Action::RunScript {
                script: scripts::remote_path(name),
                args,
                sudo: true,
                stdin_secrets: vec![],
                capture: vec![],
            },
            reason,
            timeout_secs: self.opts.script_timeout_secs,
        });
    }
}

/// Loads a PV manifest, points `spec.nfs.server` at `server` and labels it as managed by
/// vnf-mgmt for `instance`. Returns (name, object).
fn pv_object(
    package: &dyn PackageFiles,
    path: &str,
    server: &str,
    instance: &str,
) -> Result<(String, serde_json::Value), PlanError> {
    let bad = |m: String| err(codes::BAD_MANIFEST, format!("{path}: {m}"));
    let text = package.read_text(path).map_err(bad)?;
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    let mut obj: serde_json::Value =
        serde_saphyr::from_str_with_options(&text, opts).map_err(|e| bad(e.to_string()))?;
    if obj["kind"] != "PersistentVolume" {
        return Err(bad(format!(
            "kind is {}, not PersistentVolume",
            obj["kind"]
        )));
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("metadata.name is missing".into()))?
        .to_string();
    let Some(nfs) = obj["spec"]["nfs"].as_object_mut() else {
        return Err(bad("spec.nfs is missing".into()));
    };
    nfs.insert("server".into(), server.into());
    let Some(meta) = obj["metadata"].as_object_mut() else {
        return Err(bad("metadata is not a mapping".into()));
    };
    let labels = meta
        .entry("labels")
        .or_insert_with(|| serde_json::json!({}));
    let Some(labels) = labels.as_object_mut() else {
        return Err(bad("metadata.labels is not a mapping".into()));
    };
    labels.insert(crate::kube::MANAGED_BY_LABEL.into(), "vnf-mgmt".into());
    labels.insert(crate::kube::INSTANCE_LABEL.into(), instance.into());
    Ok((name, obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use std::collections::BTreeMap;
    use std::path::Path;

    struct Files(BTreeMap<&'static str, &'static str>);

    impl PackageFiles for Files {
        fn read_text(&self, path: &str) -> Result<String, String> {
            self.0
                .get(path)
                .map(|s| s.to_string())
                .ok_or_else(|| format!("no file {path}"))
        }
    }

    const PV: &str = "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: nfs-pv1\nspec:\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  nfs:\n    server: 0.0.0.0\n    path: /volume/nfs/pv1\n";

    fn files() -> Files {
        Files(BTreeMap::from([
            ("Files/kubernetes/nfs-pv1.yaml", PV),
            (
                "Files/kubernetes/nfs-pv2.yaml",
                "kind: PersistentVolume\nmetadata: {name: nfs-pv2, labels: {team: a}}\nspec: {nfs: {server: 1.2.3.4, path: /volume/nfs/pv2}}\n",
            ),
        ]))
    }

    const INV: &str = "\
format_version: 1
hosts:
  - name: m1
    role: master
    ssh: 10.0.0.1
    ports: {masterNode_CP1: 10.0.0.1}
  - name: s1
    role: storage
    ssh: 10.0.0.3
    ports: {storage_server_CP: 10.10.0.3}
    volumes:
      storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11}
  - name: w1
    role: worker
    ssh: 10.0.0.2
";

    fn request() -> InstantiateVnfRequest {
        serde_json::from_str(include_str!(
            "../../samples/requests/instantiate_simple_pv.json"
        ))
        .expect("sample request parses")
    }

    fn topo(text: &str) -> Topology {
        crate::inventory::parse(text, Path::new("inv.yaml")).expect("inventory")
    }

    fn plan() -> Planned {
        instantiate(
            &topo(INV),
            &request(),
            &files(),
            "vnf-1",
            &PlanOptions::default(),
        )
        .expect("plan")
    }

    #[test]
    fn steps_in_order_by_phase_and_host() {
        let p = plan().plan;
        let ids: Vec<(&str, u32)> = p.steps.iter().map(|s| (s.id.as_str(), s.phase)).collect();
        assert_eq!(
            ids,
            [
                ("s1/upload/lib.sh", 1),
                ("s1/upload/storage_volume.sh", 1),
                ("s1/upload/nfs_server.sh", 1),
                ("s1/volume/storage_server_volume", 1),
                ("s1/nfs-exports", 1),
                ("m1/upload/lib.sh", 1),
                ("m1/upload/nfs_client.sh", 1),
                ("m1/nfs-client", 1),
                ("w1/upload/lib.sh", 1),
                ("w1/upload/nfs_client.sh", 1),
                ("w1/nfs-client", 1),
                ("m1/pv/nfs-pv1", 2),
                ("m1/pv/nfs-pv2", 2),
            ]
        );
        match &p.steps[3].action {
            Action::RunScript { args, sudo, .. } => {
                assert!(sudo);
                // No attachment device known: "-" tells the script there is no fallback.
                assert_eq!(
                    args,
                    &["0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11", "/volume", "-"]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pv_points_at_the_nfs_cp_address_and_is_labelled() {
        let p = plan().plan;
        let Some(Action::KubeApply { object, name, .. }) =
            p.steps.iter().rev().nth(1).map(|s| &s.action)
        else {
            panic!("no PV step");
        };
        assert_eq!(name, "nfs-pv1");
        assert_eq!(object["spec"]["nfs"]["server"], "10.10.0.3");
        assert_eq!(object["spec"]["capacity"]["storage"], "1Gi");
        assert_eq!(
            object["metadata"]["labels"][crate::kube::INSTANCE_LABEL],
            "vnf-1"
        );
        let Some(Action::KubeApply { object, .. }) = p.steps.last().map(|s| &s.action) else {
            panic!("no PV step");
        };
        assert_eq!(
            object["metadata"]["labels"]["team"], "a",
            "existing labels kept"
        );
        assert_eq!(object["spec"]["nfs"]["server"], "10.10.0.3");
    }

    #[test]
    fn json_is_deterministic_and_secret_free() {
        let a = plan();
        let b = plan();
        assert_eq!(a.plan.to_json(), b.plan.to_json());
        let json = a.plan.to_json();
        // The sample's passwords are "ubuntu", also the user name: look for the field.
        assert!(!json.contains("\"password\":"), "{json}");
        assert!(
            json.contains("\"secret\": \"storage_server.password\""),
            "{json}"
        );
        assert_eq!(
            a.secrets.get("storage_server.password").map(|s| s.expose()),
            Some("ubuntu")
        );
        let back: crate::plan::Plan = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, a.plan);
    }

    #[test]
    fn key_is_preferred_and_password_kept_for_sudo() {
        let mut r = request();
        if let Some(p) = r
            .additional_params
            .as_mut()
            .and_then(|a| a.k8s_cluster_installation_param.as_mut())
            .and_then(|k| k.storage_server.as_mut())
        {
            p.ssh_private_key_path = Some("/keys/id_ed25519".into());
        }
        let p = instantiate(&topo(INV), &r, &files(), "vnf-1", &PlanOptions::default())
            .expect("plan")
            .plan;
        let s1 = p.host("s1").expect("s1");
        assert_eq!(
            s1.credential,
            crate::plan::Credential::PrivateKey {
                path: "/keys/id_ed25519".into()
            }
        );
        assert_eq!(s1.sudo_password.as_deref(), Some("storage_server.password"));
    }

    #[test]
    fn heal_start_deletes_the_instance_pvs_from_a_master() {
        let p = heal_start(
            &topo(INV),
            &request(),
            &files(),
            "vnf-1",
            &PlanOptions::default(),
        )
        .expect("plan")
        .plan;
        assert_eq!(p.operation, Operation::HealStart);
        assert_eq!(
            p.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["m1"]
        );
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].id, "m1/pv-delete");
        assert_eq!(
            p.steps[0].action,
            Action::KubeDeletePvs {
                kubeconfig: "/etc/kubernetes/admin.conf".into(),
                endpoint: None,
                instance: "vnf-1".into(),
                names: vec!["nfs-pv1".into(), "nfs-pv2".into()],
            }
        );
        assert!(
            p.to_text().contains("refused while bound"),
            "{}",
            p.to_text()
        );
        let no_master = INV.replace("role: master", "role: worker");
        let e = heal_start(
            &topo(&no_master),
            &request(),
            &files(),
            "vnf-1",
            &PlanOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_master");
    }

    #[test]
    fn heal_end_redoes_the_storage_server_and_pvs_not_the_clients() {
        let p = heal_end(
            &topo(INV),
            &request(),
            &files(),
            "vnf-1",
            &PlanOptions::default(),
        )
        .expect("plan")
        .plan;
        assert_eq!(p.operation, Operation::HealEnd);
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "s1/upload/lib.sh",
                "s1/upload/storage_volume.sh",
                "s1/upload/nfs_server.sh",
                "s1/volume/storage_server_volume",
                "s1/nfs-exports",
                "m1/pv/nfs-pv1",
                "m1/pv/nfs-pv2",
            ]
        );
        // Same steps as instantiate for the storage server (no forced format).
        let inst = plan().plan;
        assert_eq!(p.steps[3], inst.steps[3]);
        // A rebuilt server with a new address: the PVs follow it.
        let moved = INV.replace("10.10.0.3", "10.10.0.9");
        let p = heal_end(
            &topo(&moved),
            &request(),
            &files(),
            "vnf-1",
            &PlanOptions::default(),
        )
        .expect("plan")
        .plan;
        let Some(Action::KubeApply { object, .. }) = p.steps.last().map(|s| &s.action) else {
            panic!("no PV step");
        };
        assert_eq!(object["spec"]["nfs"]["server"], "10.10.0.9");
    }

    #[test]
    fn errors_have_codes() {
        let r = request();
        let o = PlanOptions::default();
        let e = instantiate(&topo(INV), &r, &files(), "bad/id", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.bad_instance_id");
        let no_storage = INV.replace("role: storage", "role: worker");
        let e = instantiate(&topo(&no_storage), &r, &files(), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_storage_server", "{e}");
        let no_vol = INV.replace("storage_server_volume:", "other_volume:");
        let e = instantiate(&topo(&no_vol), &r, &files(), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.unknown_volume", "{e}");
        assert!(e.message.contains("other_volume"), "{e}");
        let no_master = INV.replace("role: master", "role: worker");
        let e = instantiate(&topo(&no_master), &r, &files(), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_master", "{e}");
        let e = instantiate(&topo(INV), &r, &Files(BTreeMap::new()), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.bad_manifest", "{e}");
        let not_pv = Files(BTreeMap::from([
            (
                "Files/kubernetes/nfs-pv1.yaml",
                "kind: Pod\nmetadata: {name: x}\n",
            ),
            ("Files/kubernetes/nfs-pv2.yaml", PV),
        ]));
        let e = instantiate(&topo(INV), &r, &not_pv, "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.bad_manifest", "{e}");
        let no_cp = INV.replace("storage_server_CP", "other_CP");
        let e = instantiate(&topo(&no_cp), &r, &files(), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.unknown_cp", "{e}");
        let mut nopw = request();
        if let Some(k) = nopw
            .additional_params
            .as_mut()
            .and_then(|a| a.k8s_cluster_installation_param.as_mut())
        {
            k.worker_node.password = None;
        }
        let e = instantiate(&topo(INV), &nopw, &files(), "v", &o).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_credentials", "{e}");
    }
}
