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
        /// A heal or scale target is not a node of the topology.
        UNKNOWN_TARGET = "driver.plan.unknown_target";
        /// A heal names the storage server together with cluster nodes.
        MIXED_TARGETS = "driver.plan.mixed_targets";
        /// A master heal on a single-master cluster (its etcd would be lost): heal the entire VNF instead.
        SINGLE_MASTER_HEAL = "driver.plan.single_master_heal";
        /// Every master is targeted at once: none would be left to keep the cluster.
        NO_SURVIVING_MASTER = "driver.plan.no_surviving_master";
        /// More than one master but no control-plane VIP (with its subnet prefix) in the topology.
        NO_CLUSTER_VIP = "driver.plan.no_cluster_vip";
        /// A scale-in targets something other than workers.
        SCALE_IN_NOT_WORKER = "driver.plan.scale_in_not_worker";
        /// The CNI choice does not fit: Calico, Cilium or none on k3s (which runs its own flannel), Cilium without a manifest, or a manifest URL that is not https:// or file:// or holds credentials.
        BAD_CNI = "driver.plan.bad_cni";
        /// A master or worker has no cluster address (neither a NIC address nor an IP SSH host) for the cluster install.
        NO_NODE_ADDRESS = "driver.plan.no_node_address";
        /// The Kubernetes minor release for pkgs.k8s.io is not of the form `v1.31`.
        BAD_K8S_MINOR = "driver.plan.bad_kubernetes_minor";
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

pub(crate) fn err(code: vnf_package::Code, message: String) -> PlanError {
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
    /// Plan the Kubernetes cluster install (kubeadm: node preparation, `kubeadm init` on
    /// the master, workers joining in parallel) before the PersistentVolume registration;
    /// off: the cluster must already run.
    pub install_cluster: bool,
    /// Kubernetes minor release of the `pkgs.k8s.io` repository (`v1.31`), used only
    /// when kubeadm/kubelet/kubectl are missing on a node.
    pub k8s_minor: String,
    /// How the cluster is (or was) installed: kubeadm or k3s. Also decides where the
    /// admin kubeconfig lives on a master for every Kubernetes step.
    pub runtime: crate::cluster::ClusterRuntime,
    /// Nodes a heal rebuilds or a scale-in removes: topology node names, resource ids
    /// (VNFC / Nova server ids) or Kubernetes node names.
    pub targets: Vec<String>,
    /// After the cluster install: export the orchestrator's access (a ServiceAccount with
    /// a token; kubeconfig and VIM registration data from the run's summary).
    pub export_access: bool,
    /// `terminate_start`: drain the workers before the VMs go away.
    pub drain_on_terminate: bool,
    /// The pod network applied after `kubeadm init`: `None` = the runtime's default
    /// (kubeadm: Calico; k3s: its built-in flannel, the only choice there).
    pub cni: Option<crate::cluster::Cni>,
    /// Where the CNI manifest comes from (`https://…` or `file://…`, e.g. a mirror);
    /// default: the pinned upstream release of the chosen CNI.
    pub cni_manifest: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            nfs_client_package: "nfs-common".into(),
            script_timeout_secs: 600,
            upload_timeout_secs: 60,
            kube_timeout_secs: 150,
            register_pvs: true,
            install_cluster: false,
            k8s_minor: "v1.31".into(),
            runtime: crate::cluster::ClusterRuntime::Kubeadm,
            targets: Vec::new(),
            export_access: true,
            drain_on_terminate: false,
            cni: None,
            cni_manifest: None,
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

pub(crate) struct Login<'a> {
    pub(crate) prefix: &'static str,
    pub(crate) username: &'a str,
    pub(crate) password: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
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

/// Plans `instantiate_end`: storage server volumes and exports, NFS client on every
/// master and worker, with [`PlanOptions::install_cluster`] the Kubernetes install
/// ([`crate::cluster_plan`]), then the PersistentVolume registration. The request must
/// already be validated against the package.
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
        Some(&[]),
    )
}

/// Plans `heal_start`. Without [`PlanOptions::targets`], or when they name the storage
/// server: the storage server's heal_start (below). `entire` (the whole VNF is
/// re-created): the access exported at instantiate is revoked, as for terminate.
/// Otherwise the cluster nodes' heal
/// ([`crate::cluster_plan::heal_start`]): drain and delete them, and for masters an etcd
/// snapshot, the etcd member removed and HAProxy on the survivors without them.
///
/// Storage server: one step on a master deleting the VNF's PersistentVolumes (instance
/// label plus the names in the package's `pv_registration_params` manifests) and waiting
/// until they are gone; refused at run time, deleting nothing, while any is bound to a
/// claim.
pub fn heal_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    match crate::cluster_plan::targets(topology, opts)? {
        crate::cluster_plan::Targets::Storage => {
            heal_storage_start(topology, request, package, vnf_instance_id, opts)
        }
        crate::cluster_plan::Targets::Entire => {
            let mut p =
                crate::cluster_plan::terminate_start(topology, request, vnf_instance_id, opts)?;
            p.plan.operation = Operation::HealStart;
            Ok(p)
        }
        crate::cluster_plan::Targets::Nodes(nodes) => {
            crate::cluster_plan::heal_start(topology, request, vnf_instance_id, opts, &nodes)
        }
    }
}

/// Plans `heal_end`. Storage server (no targets, or the storage server named): its
/// setup on the rebuilt VM (volumes mounted — formatted only when blank or
/// `force_format`, so a kept volume keeps its data — and exports), then the
/// PersistentVolumes registered again with its current address; the NFS clients are
/// untouched. `entire`: the whole instantiate with the cluster install on the new
/// stack, storage server and PersistentVolumes included. Cluster nodes: the whole
/// instantiate plan again with the cluster install (every step checks before it acts),
/// the rebuilt nodes' stale Node objects deleted and their kubeadm/k3s state reset
/// before they join again.
pub fn heal_end(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    match crate::cluster_plan::targets(topology, opts)? {
        crate::cluster_plan::Targets::Storage => {
            heal_storage_end(topology, request, package, vnf_instance_id, opts)
        }
        crate::cluster_plan::Targets::Entire => with_cluster_install(
            topology,
            request,
            package,
            vnf_instance_id,
            opts,
            Operation::HealEnd,
            &[],
        ),
        crate::cluster_plan::Targets::Nodes(nodes) => {
            crate::cluster_plan::check_heal(topology, &nodes)?;
            with_cluster_install(
                topology,
                request,
                package,
                vnf_instance_id,
                opts,
                Operation::HealEnd,
                &nodes,
            )
        }
    }
}

/// Plans `scale_start`: for a scale-in, the [`PlanOptions::targets`] (workers Heat will
/// remove) are drained (evictions, PodDisruptionBudgets respected) and their Nodes
/// deleted; a scale-out has nothing to do before Heat adds the VMs.
pub fn scale_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    _package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    crate::cluster_plan::scale_start(topology, request, vnf_instance_id, opts)
}

/// Plans `scale_end` on the topology after Heat's change: the instantiate plan with the
/// cluster install again — new workers are prepared and join (in parallel), every
/// node's `/etc/hosts` block is rewritten, joined nodes are left as they are.
pub fn scale_end(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    with_cluster_install(
        topology,
        request,
        package,
        vnf_instance_id,
        opts,
        Operation::ScaleEnd,
        &[],
    )
}

/// The instantiate plan with the cluster install for `operation` (scale_end, heal_end of
/// nodes or of the entire VNF): every step checks before it acts, so on the changed
/// topology it completes what changed and leaves the rest alone.
fn with_cluster_install(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
    operation: Operation,
    healed: &[&Node],
) -> Result<Planned, PlanError> {
    let opts = PlanOptions {
        install_cluster: true,
        ..opts.clone()
    };
    storage_and_pvs(
        topology,
        request,
        package,
        vnf_instance_id,
        &opts,
        operation,
        Some(healed),
    )
}

/// Plans `terminate_start`: optionally drain the workers
/// ([`PlanOptions::drain_on_terminate`]), and revoke the access exported at
/// instantiate (ServiceAccount, binding, token Secret).
pub fn terminate_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    _package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    crate::cluster_plan::terminate_start(topology, request, vnf_instance_id, opts)
}

/// Plans `heal_end` of the storage server: the storage server's steps of instantiate
/// (volumes mounted — formatted only when blank or `force_format`, so a kept volume keeps
/// its data — and exports) on the rebuilt VM, then the PersistentVolumes registered again
/// with the storage server's current address. The NFS clients are untouched.
fn heal_storage_end(
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
        None,
    )
}

/// Plans `heal_start` of the storage server: one step on a master deleting the VNF's
/// PersistentVolumes (instance label plus the names in the package's
/// `pv_registration_params` manifests) and waiting until they are gone; refused at run
/// time, deleting nothing, while any is bound to a claim.
fn heal_storage_start(
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
    let (kubeconfig, endpoint) = crate::cluster_plan::api_access(topology, opts);
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
            kubeconfig,
            endpoint,
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

pub(crate) fn install_params(
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

/// The login of a master or worker (`master_node` / `worker_node` of the request).
pub(crate) fn node_login<'p>(params: &'p K8sClusterInstallationParam, node: &Node) -> Login<'p> {
    if node.role == Role::Master {
        master_login(params)
    } else {
        worker_login(params)
    }
}

pub(crate) fn worker_login(params: &K8sClusterInstallationParam) -> Login<'_> {
    Login {
        prefix: "worker_node",
        username: &params.worker_node.username,
        password: params.worker_node.password.as_deref(),
        key: params.worker_node.ssh_private_key_path.as_deref(),
    }
}

pub(crate) fn master_login(params: &K8sClusterInstallationParam) -> Login<'_> {
    Login {
        prefix: "master_node",
        username: &params.master_node.username,
        password: params.master_node.password.as_deref(),
        key: params.master_node.ssh_private_key_path.as_deref(),
    }
}

/// The instantiate plan (storage server, NFS clients, optionally the cluster install,
/// PersistentVolumes) for `operation`: every step checks before it acts, so the same
/// plan on a later topology completes a scale-out or a heal of cluster nodes.
/// `healed` lists the topology nodes a heal rebuilt (reset and joined again); `None`:
/// the storage server's heal_end (its steps and the PersistentVolumes only).
pub(crate) fn storage_and_pvs(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    package: &dyn PackageFiles,
    vnf_instance_id: &str,
    opts: &PlanOptions,
    operation: Operation,
    healed: Option<&[&Node]>,
) -> Result<Planned, PlanError> {
    check_instance_id(vnf_instance_id)?;
    let params = install_params(request)?;
    // heal_end of the storage server (no cluster nodes healed): the NFS clients are
    // kept as they are.
    let heal = healed.is_none();
    let healed = healed.unwrap_or(&[]);
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

    let install = opts.install_cluster
        && matches!(
            operation,
            Operation::Instantiate | Operation::ScaleEnd | Operation::HealEnd
        );
    let pv_phase = if install {
        crate::cluster_plan::install(&mut b, topology, params, healed, vnf_instance_id, package)?
    } else {
        2
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
            b.add_host(node, &node_login(params, node))?;
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
        let (kubeconfig, endpoint) = crate::cluster_plan::api_access(topology, opts);
        let master = topology.with_role(Role::Master).next().ok_or_else(|| {
            err(
                codes::NO_MASTER,
                "pv_registration_params needs a master in the topology".into(),
            )
        })?;
        b.add_host(master, &master_login(params))?;
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
                phase: pv_phase,
                host: master.name.clone(),
                action: Action::KubeApply {
                    kubeconfig: kubeconfig.clone(),
                    endpoint: endpoint.clone(),
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

    // Execution order is phase order (stable: within a phase, as planned).
    b.steps.sort_by_key(|s| s.phase);
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

pub(crate) struct Builder<'o> {
    pub(crate) hosts: Vec<PlanHost>,
    pub(crate) steps: Vec<Step>,
    pub(crate) secrets: Secrets,
    pub(crate) opts: &'o PlanOptions,
}

impl Builder<'_> {
    pub(crate) fn add_host(&mut self, node: &Node, login: &Login<'_>) -> Result<(), PlanError> {
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

    pub(crate) fn uploads(&mut self, node: &Node, names: &[&str], phase: u32) {
        for name in names {
            let id = format!("{}/upload/{name}", node.name);
            if self.steps.iter().any(|s| s.id == id) {
                continue;
            }
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

    pub(crate) fn script(
        &mut self,
        node: &Node,
        what: String,
        name: &str,
        args: Vec<String>,
        reason: String,
    ) {
        self.script_in(1, node, what, name, args, vec![], vec![], reason);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn script_in(
        &mut self,
        phase: u32,
        node: &Node,
        what: String,
        name: &str,
        args: Vec<String>,
        stdin_secrets: Vec<crate::plan::NamedSecret>,
        capture: Vec<crate::plan::NamedSecret>,
        reason: String,
    ) {
        self.steps.push(Step {
            id: format!("{}/{what}", node.name),
            phase,
            host: node.name.clone(),
            action: Action::RunScript {
                script: scripts::remote_path(name),
                args,
                sudo: true,
                stdin_secrets,
                capture,
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
pub(crate) mod tests {
    use super::*;
    use crate::plan::Action;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Package files from a map (path → text), for planning tests.
    pub(crate) struct Files(pub(crate) BTreeMap<&'static str, &'static str>);

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

    fn cluster_opts() -> PlanOptions {
        PlanOptions {
            install_cluster: true,
            ..PlanOptions::default()
        }
    }

    #[test]
    fn cluster_install_precedes_the_pv_registration_and_workers_join_in_one_phase() {
        let inv = format!("{INV}  - name: w2\n    role: worker\n    ssh: 10.0.0.4\n");
        let p = instantiate(&topo(&inv), &request(), &files(), "vnf-1", &cluster_opts())
            .expect("plan")
            .plan;
        let phase = |id: &str| {
            p.steps
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.phase)
                .unwrap_or_else(|| panic!("no step {id}"))
        };
        for n in ["m1", "w1", "w2"] {
            assert_eq!(phase(&format!("{n}/k8s-node")), 1, "{n}");
            assert_eq!(phase(&format!("{n}/nfs-client")), 1, "{n}");
            // lib.sh is uploaded once per host although two scripts need it.
            let libs = p
                .steps
                .iter()
                .filter(|s| s.id == format!("{n}/upload/lib.sh"))
                .count();
            assert_eq!(libs, 1, "{n}");
        }
        assert_eq!(phase("m1/k8s-init"), 2);
        assert_eq!(phase("m1/k8s-join-info"), 3);
        assert_eq!(phase("w1/k8s-join"), 4);
        assert_eq!(phase("w2/k8s-join"), 4);
        assert!(p.steps.iter().all(|s| s.id != "m1/k8s-join"));
        assert_eq!(phase("m1/nodes-ready"), 5);
        assert_eq!(phase("m1/pv/nfs-pv1"), 6);
        match &p
            .steps
            .iter()
            .find(|s| s.id == "m1/nodes-ready")
            .map(|s| &s.action)
        {
            Some(Action::KubeWaitNodesReady { nodes, .. }) => {
                assert_eq!(nodes, &["m1", "w1", "w2"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Steps are listed in phase order.
        assert!(p.steps.windows(2).all(|w| w[0].phase <= w[1].phase));
        // kubeadm init arguments: node name, advertise address, endpoint, CIDRs.
        match &p
            .steps
            .iter()
            .find(|s| s.id == "m1/k8s-init")
            .map(|s| &s.action)
        {
            Some(Action::RunScript { args, .. }) => {
                assert_eq!(args[0], "m1");
                assert_eq!(args[1], "10.0.0.1");
                assert_eq!(args[2], "10.0.0.1:6443");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The hosts block lists every master and worker under its node name.
        match &p
            .steps
            .iter()
            .find(|s| s.id == "w2/k8s-node")
            .map(|s| &s.action)
        {
            Some(Action::RunScript { args, .. }) => {
                assert_eq!(args[..2], ["w2".to_string(), "v1.31".to_string()]);
                assert!(args.contains(&"10.0.0.1=m1".to_string()), "{args:?}");
                assert!(args.contains(&"10.0.0.4=w2".to_string()), "{args:?}");
                assert!(!args.iter().any(|a| a.starts_with("10.0.0.3=")), "{args:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The token travels by secret name only: captured on the master, stdin on workers.
        let json = p.to_json();
        assert!(json.contains("\"secret\": \"cluster.join_token\""));
        match &p
            .steps
            .iter()
            .find(|s| s.id == "w1/k8s-join")
            .map(|s| &s.action)
        {
            Some(Action::RunScript {
                stdin_secrets,
                args,
                ..
            }) => {
                assert_eq!(stdin_secrets.len(), 2);
                assert_eq!(args, &["w1".to_string(), "10.0.0.1:6443".to_string()]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cluster_install_is_off_by_default_and_checks_its_inputs() {
        let p = plan().plan;
        assert!(p.steps.iter().all(|s| !s.id.contains("k8s")));
        assert!(!p.to_json().contains("stdin_secrets"));
        let inv = format!("{INV}  - name: m2\n    role: master\n    ssh: 10.0.0.5\n");
        let e = instantiate(&topo(&inv), &request(), &files(), "v", &cluster_opts()).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_cluster_vip", "{e}");
        for bad in ["1.31", "v1", "v1.31.0", "v1.x", "v1.31;rm"] {
            let o = PlanOptions {
                k8s_minor: bad.into(),
                ..cluster_opts()
            };
            let e = instantiate(&topo(INV), &request(), &files(), "v", &o).unwrap_err();
            assert_eq!(e.code.id, "driver.plan.bad_kubernetes_minor", "{bad}: {e}");
        }
    }

    /// Three masters behind a VIP, two workers.
    fn ha_inventory() -> String {
        let mut inv = INV.replace(
            "format_version: 1\n",
            "format_version: 1\ncluster_vip: 10.0.0.100/26\n",
        );
        for (n, ip) in [("m2", "10.0.0.5"), ("m3", "10.0.0.6")] {
            inv.push_str(&format!("  - name: {n}\n    role: master\n    ssh: {ip}\n"));
        }
        inv.push_str("  - name: w2\n    role: worker\n    ssh: 10.0.0.4\n");
        inv
    }

    fn step<'p>(p: &'p Plan, id: &str) -> &'p Step {
        p.steps.iter().find(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "no step {id} in {:?}",
                p.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            )
        })
    }

    fn script_args<'p>(p: &'p Plan, id: &str) -> (&'p [String], Vec<&'p str>) {
        match &step(p, id).action {
            Action::RunScript {
                args,
                stdin_secrets,
                ..
            } => (
                args,
                stdin_secrets.iter().map(|s| s.secret.as_str()).collect(),
            ),
            other => panic!("{id}: unexpected {other:?}"),
        }
    }

    #[test]
    fn ha_install_puts_the_vip_first_and_joins_masters_one_at_a_time() {
        let planned = instantiate(
            &topo(&ha_inventory()),
            &request(),
            &files(),
            "vnf-ha",
            &cluster_opts(),
        )
        .expect("plan");
        let p = &planned.plan;
        // VIP with the subnet's prefix, per-instance router id, all three backends.
        for m in ["m1", "m2", "m3"] {
            assert_eq!(step(p, &format!("{m}/k8s-lb")).phase, 2);
        }
        let (args, secrets) = script_args(p, "m2/k8s-lb");
        assert_eq!(args[0], "10.0.0.100");
        assert_eq!(args[1], "26");
        assert_eq!(args[2], "16443");
        assert_eq!(
            args[4],
            crate::cluster::vrrp_router_id("vnf-ha").to_string()
        );
        assert_eq!(args[5], "10.0.0.5");
        assert_eq!(
            args[6..],
            ["m1=10.0.0.1:6443", "m2=10.0.0.5:6443", "m3=10.0.0.6:6443"]
        );
        assert_eq!(secrets, ["cluster.vrrp_password"]);
        // The first master is preferred by keepalived.
        let prio = |m: &str| -> u32 {
            script_args(p, &format!("{m}/k8s-lb")).0[3]
                .parse()
                .unwrap_or(0)
        };
        assert!(prio("m1") > prio("m2") && prio("m2") > prio("m3"));
        // kubeadm init with the VIP endpoint; certificate key captured.
        let (init, _) = script_args(p, "m1/k8s-init");
        assert_eq!(init[2], "10.0.0.100:16443");
        assert_eq!(step(p, "m1/k8s-init").phase, 3);
        let (info, _) = script_args(p, "m1/k8s-join-info");
        assert_eq!(info, ["--certificate-key"]);
        // Control planes one per phase, then both workers together.
        assert_eq!(step(p, "m2/k8s-join").phase, 5);
        assert_eq!(step(p, "m3/k8s-join").phase, 6);
        let (cp, cp_secrets) = script_args(p, "m3/k8s-join");
        assert_eq!(cp, ["m3", "10.0.0.100:16443", "control-plane", "10.0.0.6"]);
        assert_eq!(
            cp_secrets,
            [
                "cluster.join_token",
                "cluster.ca_cert_hash",
                "cluster.certificate_key"
            ]
        );
        assert_eq!(step(p, "w1/k8s-join").phase, 7);
        assert_eq!(step(p, "w2/k8s-join").phase, 7);
        let (_, w_secrets) = script_args(p, "w2/k8s-join");
        assert_eq!(w_secrets, ["cluster.join_token", "cluster.ca_cert_hash"]);
        assert_eq!(step(p, "m1/nodes-ready").phase, 8);
        assert_eq!(step(p, "m1/export-access").phase, 8);
        assert_eq!(step(p, "m1/pv/nfs-pv1").phase, 9);
        // Kubernetes steps go through the VIP.
        match &step(p, "m1/pv/nfs-pv1").action {
            Action::KubeApply { endpoint, .. } => {
                assert_eq!(endpoint.as_deref(), Some("https://10.0.0.100:16443"));
            }
            other => panic!("unexpected {other:?}"),
        }
        // The VRRP password is a secret of the plan, not in its JSON.
        let pw = planned
            .secrets
            .get("cluster.vrrp_password")
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        assert_eq!(pw, crate::cluster::vrrp_password("vnf-ha"));
        assert!(!p.to_json().contains(&pw));
    }

    fn targeted(targets: &[&str]) -> PlanOptions {
        PlanOptions {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..cluster_opts()
        }
    }

    #[test]
    fn heal_of_a_master_snapshots_removes_the_member_and_trims_haproxy() {
        let t = topo(&ha_inventory());
        let p = heal_start(&t, &request(), &files(), "vnf-ha", &targeted(&["m1"]))
            .expect("plan")
            .plan;
        assert_eq!(p.operation, Operation::HealStart);
        // Everything runs from the first survivor, m2.
        let (snap, _) = script_args(&p, "m2/etcd-snapshot");
        assert_eq!(snap[0], "snapshot");
        match &step(&p, "m2/drain").action {
            Action::KubeDrainNodes {
                nodes,
                delete_nodes,
                ..
            } => {
                assert_eq!(nodes, &["m1"]);
                assert!(delete_nodes);
            }
            other => panic!("unexpected {other:?}"),
        }
        let (rm, _) = script_args(&p, "m2/etcd-member-remove/m1");
        assert_eq!(rm, ["member-remove", "m1"]);
        // Survivors' HAProxy lists exactly the survivors; nothing runs on m1.
        for m in ["m2", "m3"] {
            let (args, _) = script_args(&p, &format!("{m}/k8s-lb"));
            assert_eq!(args[6..], ["m2=10.0.0.5:6443", "m3=10.0.0.6:6443"]);
        }
        assert!(p.hosts.iter().all(|h| h.name != "m1"));
        let order: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        let pos = |id: &str| order.iter().position(|s| *s == id).unwrap_or(usize::MAX);
        assert!(pos("m2/etcd-snapshot") < pos("m2/drain"));
        assert!(pos("m2/drain") < pos("m2/etcd-member-remove/m1"));

        // heal_end: m2 keeps the cluster (no init on the rebuilt m1), m1 is reset and
        // joins as a control plane, every HAProxy has all three masters again.
        let p = heal_end(&t, &request(), &files(), "vnf-ha", &targeted(&["m1"]))
            .expect("plan")
            .plan;
        assert!(p.steps.iter().all(|s| s.id != "m1/k8s-init"));
        assert_eq!(script_args(&p, "m2/k8s-init").0[0], "m2");
        assert_eq!(script_args(&p, "m1/k8s-reset").0, ["kubeadm"]);
        assert!(step(&p, "m1/k8s-reset").phase < step(&p, "m1/k8s-join").phase);
        assert_eq!(script_args(&p, "m1/k8s-join").0[2], "control-plane");
        match &step(&p, "m2/delete-healed-nodes").action {
            Action::KubeDeleteNodes { nodes, .. } => assert_eq!(nodes, &["m1"]),
            other => panic!("unexpected {other:?}"),
        }
        for m in ["m1", "m2", "m3"] {
            assert_eq!(script_args(&p, &format!("{m}/k8s-lb")).0.len(), 9, "{m}");
        }
    }

    #[test]
    fn heal_refusals_and_target_resolution() {
        // A single master cannot be healed; the storage server goes alone.
        let e = heal_start(&topo(INV), &request(), &files(), "v", &targeted(&["m1"])).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.single_master_heal", "{e}");
        assert!(e.message.contains("respawn"), "{e}");
        let e = heal_start(&topo(INV), &request(), &files(), "v", &targeted(&["w9"])).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.unknown_target", "{e}");
        assert!(e.message.contains("w1"), "{e}");
        let e = heal_start(
            &topo(INV),
            &request(),
            &files(),
            "v",
            &targeted(&["s1", "w1"]),
        )
        .unwrap_err();
        assert_eq!(e.code.id, "driver.plan.mixed_targets", "{e}");
        let e = heal_start(
            &topo(&ha_inventory()),
            &request(),
            &files(),
            "v",
            &targeted(&["m1", "m2", "m3"]),
        )
        .unwrap_err();
        assert_eq!(e.code.id, "driver.plan.no_surviving_master", "{e}");
        // Naming the storage server (by node or by its literal) is the storage heal.
        for t in ["s1", "storage_server"] {
            let p = heal_start(&topo(INV), &request(), &files(), "v", &targeted(&[t]))
                .expect("plan")
                .plan;
            assert!(
                matches!(p.steps[0].action, Action::KubeDeletePvs { .. }),
                "{t}"
            );
        }
        // A worker heal: drain + delete from the master; nothing on the worker itself.
        let p = heal_start(&topo(INV), &request(), &files(), "v", &targeted(&["w1"]))
            .expect("plan")
            .plan;
        assert_eq!(p.steps.len(), 1);
        assert!(p.hosts.iter().all(|h| h.name == "m1"));
        assert!(matches!(p.steps[0].action, Action::KubeDrainNodes { .. }));
    }

    #[test]
    fn cni_is_applied_once_on_the_first_master_with_the_pod_cidr() {
        use crate::cluster::{ClusterRuntime, Cni};
        let p = instantiate(&topo(INV), &request(), &files(), "v", &cluster_opts())
            .expect("plan")
            .plan;
        let (args, _) = script_args(&p, "m1/k8s-cni");
        assert_eq!(args[0], "calico");
        assert!(
            args[1].starts_with("https://raw.githubusercontent.com/projectcalico/calico/v3."),
            "{args:?}"
        );
        assert_eq!(args[2], "192.168.3.0/16");
        assert_eq!(args[3..], ["kube-system", "calico-node"]);
        // Before the joins, so the Nodes can become Ready.
        assert!(step(&p, "m1/k8s-cni").phase < step(&p, "w1/k8s-join").phase);
        let with = |cni: Option<Cni>, manifest: Option<&str>, runtime| PlanOptions {
            cni,
            cni_manifest: manifest.map(String::from),
            runtime,
            ..cluster_opts()
        };
        let plan_of = |o: &PlanOptions| instantiate(&topo(INV), &request(), &files(), "v", o);
        let p = plan_of(&with(
            Some(Cni::Flannel),
            Some("file:///srv/flannel.yml"),
            ClusterRuntime::Kubeadm,
        ))
        .expect("plan")
        .plan;
        let (args, _) = script_args(&p, "m1/k8s-cni");
        assert_eq!(args[..2], ["flannel", "file:///srv/flannel.yml"]);
        assert_eq!(args[3..], ["kube-flannel", "kube-flannel-ds"]);
        for o in [
            with(Some(Cni::None), None, ClusterRuntime::Kubeadm),
            with(None, None, ClusterRuntime::K3s),
            with(Some(Cni::Flannel), None, ClusterRuntime::K3s),
        ] {
            let p = plan_of(&o).expect("plan").plan;
            assert!(p.steps.iter().all(|s| !s.id.ends_with("k8s-cni")), "{o:?}");
        }
        for o in [
            with(Some(Cni::Cilium), None, ClusterRuntime::Kubeadm),
            with(Some(Cni::Calico), None, ClusterRuntime::K3s),
            with(
                Some(Cni::Calico),
                Some("http://mirror/calico.yaml"),
                ClusterRuntime::Kubeadm,
            ),
            with(
                Some(Cni::Calico),
                Some("https://m/c.yaml;rm -rf /"),
                ClusterRuntime::Kubeadm,
            ),
            with(
                Some(Cni::Calico),
                Some("https://user:pw@mirror/calico.yaml"),
                ClusterRuntime::Kubeadm,
            ),
        ] {
            let e = plan_of(&o).unwrap_err();
            assert_eq!(e.code.id, "driver.plan.bad_cni", "{o:?}: {e}");
        }
    }

    #[test]
    fn scale_targets_resolve_by_scaling_group_member_name() {
        let mut t = topo(&ha_inventory());
        for n in t.nodes.iter_mut().filter(|n| n.name == "w2") {
            n.group_member = Some("a1b2c3d4e5f6".into());
        }
        let p = scale_start(&t, &request(), &files(), "v", &targeted(&["a1b2c3d4e5f6"]))
            .expect("plan")
            .plan;
        match &p.steps[0].action {
            Action::KubeDrainNodes { nodes, .. } => assert_eq!(nodes, &["w2"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn heal_entire_revokes_then_instantiates_everything() {
        let p = heal_start(
            &topo(INV),
            &request(),
            &files(),
            "v",
            &targeted(&["entire"]),
        )
        .expect("plan")
        .plan;
        assert_eq!(p.operation, Operation::HealStart);
        assert!(matches!(p.steps[0].action, Action::KubeRevokeAccess { .. }));
        let p = heal_end(
            &topo(INV),
            &request(),
            &files(),
            "v",
            &targeted(&["entire"]),
        )
        .expect("plan")
        .plan;
        for id in [
            "s1/nfs-exports",
            "w1/nfs-client",
            "m1/k8s-init",
            "w1/k8s-join",
            "m1/pv/nfs-pv1",
        ] {
            assert!(p.steps.iter().any(|s| s.id == id), "{id}");
        }
        let e = heal_end(
            &topo(INV),
            &request(),
            &files(),
            "v",
            &targeted(&["entire", "w1"]),
        )
        .unwrap_err();
        assert_eq!(e.code.id, "driver.plan.mixed_targets", "{e}");
    }

    #[test]
    fn scale_in_drains_only_workers_and_scale_end_joins_everyone() {
        let t = topo(&ha_inventory());
        let p = scale_start(&t, &request(), &files(), "v", &targeted(&["w2"]))
            .expect("plan")
            .plan;
        assert_eq!(p.operation, Operation::ScaleStart);
        match &p.steps[0].action {
            Action::KubeDrainNodes {
                nodes,
                delete_nodes,
                ..
            } => {
                assert_eq!(nodes, &["w2"]);
                assert!(delete_nodes);
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = scale_start(&t, &request(), &files(), "v", &targeted(&["m2"])).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.scale_in_not_worker", "{e}");
        // Scale-out start has nothing to do.
        let p = scale_start(&t, &request(), &files(), "v", &PlanOptions::default())
            .expect("plan")
            .plan;
        assert!(p.steps.is_empty());
        let p = scale_end(&t, &request(), &files(), "v", &PlanOptions::default())
            .expect("plan")
            .plan;
        assert_eq!(p.operation, Operation::ScaleEnd);
        assert!(p.steps.iter().any(|s| s.id == "w2/k8s-join"));
        assert!(p.steps.iter().all(|s| !s.id.ends_with("k8s-reset")));
    }

    #[test]
    fn k3s_install_uses_the_server_token_and_the_k3s_kubeconfig() {
        let o = PlanOptions {
            runtime: crate::cluster::ClusterRuntime::K3s,
            ..cluster_opts()
        };
        let p = instantiate(&topo(&ha_inventory()), &request(), &files(), "v", &o)
            .expect("plan")
            .plan;
        assert_eq!(script_args(&p, "m1/k8s-node").0[1], "k3s");
        let (init, _) = script_args(&p, "m1/k3s-server");
        assert_eq!(init[..4], ["m1", "10.0.0.1", "init", "-"]);
        let (join, secrets) = script_args(&p, "m2/k3s-server");
        assert_eq!(
            join[..4],
            ["m2", "10.0.0.5", "join", "https://10.0.0.100:16443"]
        );
        assert_eq!(secrets, ["cluster.k3s_token"]);
        let (agent, _) = script_args(&p, "w1/k3s-agent");
        assert_eq!(agent, ["w1", "10.0.0.2", "https://10.0.0.100:16443"]);
        match &step(&p, "m1/nodes-ready").action {
            Action::KubeWaitNodesReady { kubeconfig, .. } => {
                assert_eq!(kubeconfig, "/etc/rancher/k3s/k3s.yaml");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            p.steps
                .iter()
                .all(|s| !s.id.contains("kubeadm") && !s.id.ends_with("k8s-init"))
        );
    }

    #[test]
    fn k3s_heal_of_the_first_server_never_initialises_again() {
        let o = PlanOptions {
            runtime: crate::cluster::ClusterRuntime::K3s,
            targets: vec!["m1".into()],
            ..cluster_opts()
        };
        let t = topo(&ha_inventory());
        let start = heal_start(&t, &request(), &files(), "v", &o)
            .expect("plan")
            .plan;
        assert_eq!(
            script_args(&start, "m2/etcd-member-remove/m1").0,
            ["member-remove", "m1"]
        );
        assert_eq!(script_args(&start, "m2/etcd-snapshot").0[0], "snapshot");
        let end = heal_end(&t, &request(), &files(), "v", &o)
            .expect("plan")
            .plan;
        // No server runs cluster-init; m1 joins through the VIP after its reset; the
        // survivors' configuration is not rewritten.
        for s in &end.steps {
            if let Action::RunScript { args, .. } = &s.action {
                assert!(!args.iter().any(|a| a == "init"), "{}: {args:?}", s.id);
            }
        }
        assert!(end.steps.iter().all(|s| s.id != "m2/k3s-server"));
        let (join, _) = script_args(&end, "m1/k3s-server");
        assert_eq!(join[2..4], ["join", "https://10.0.0.100:16443"]);
        assert!(step(&end, "m1/k8s-reset").phase < step(&end, "m1/k3s-server").phase);
        assert_eq!(script_args(&end, "m2/k3s-join-info").0.len(), 0);
    }
}
