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
        /// The cluster install (this release) supports exactly one master; the topology has another number.
        CLUSTER_MASTERS = "driver.plan.cluster_masters";
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
    /// Plan the Kubernetes cluster install (kubeadm: node preparation, `kubeadm init` on
    /// the master, workers joining in parallel) before the PersistentVolume registration;
    /// off: the cluster must already run.
    pub install_cluster: bool,
    /// Kubernetes minor release of the `pkgs.k8s.io` repository (`v1.31`), used only
    /// when kubeadm/kubelet/kubectl are missing on a node.
    pub k8s_minor: String,
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

    let pv_phase = if opts.install_cluster && operation == Operation::Instantiate {
        cluster_install(&mut b, topology, params)?;
        CLUSTER_JOIN_PHASE + 2
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
                phase: pv_phase,
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

/// Phase of the workers' joins; the PersistentVolume registration follows it.
const CLUSTER_JOIN_PHASE: u32 = 4;

/// Secret names (and `key=value` keys) the master's join information is captured under.
const JOIN_SECRETS: [(&str, &str); 2] = [
    ("token", "cluster.join_token"),
    ("ca_cert_hash", "cluster.ca_cert_hash"),
];

fn join_secrets() -> Vec<crate::plan::NamedSecret> {
    JOIN_SECRETS
        .iter()
        .map(|(k, s)| crate::plan::NamedSecret {
            key: (*k).into(),
            secret: (*s).into(),
        })
        .collect()
}

/// Plans the kubeadm install: phase 1 node preparation on every master and worker,
/// phase 2 `kubeadm init` on the master, phase 3 the join information captured from it,
/// phase [`CLUSTER_JOIN_PHASE`] the workers joining (in parallel, bounded by the
/// executor) with the token on stdin, then a wait on the master until all nodes are
/// Ready in the API.
fn cluster_install(
    b: &mut Builder<'_>,
    topology: &Topology,
    params: &K8sClusterInstallationParam,
) -> Result<(), PlanError> {
    let minor_ok = b
        .opts
        .k8s_minor
        .strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 3
                && b.len() <= 3
                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
    if !minor_ok {
        return Err(err(
            codes::BAD_K8S_MINOR,
            format!(
                "Kubernetes minor release {:?} is not of the form v1.31",
                b.opts.k8s_minor
            ),
        ));
    }
    let masters: Vec<&Node> = topology.with_role(Role::Master).collect();
    let [master] = masters.as_slice() else {
        return Err(err(
            codes::CLUSTER_MASTERS,
            format!(
                "the cluster install supports exactly one master for now; the topology has {}",
                masters.len()
            ),
        ));
    };
    let names = crate::cluster::node_names(topology);
    let address = |n: &Node| {
        n.service_address().ok_or_else(|| {
            err(
                codes::NO_NODE_ADDRESS,
                format!(
                    "node {} has no cluster address (no nic and the SSH host {} is not an IP address)",
                    n.name, n.ssh.host
                ),
            )
        })
    };
    let master_ip = address(master)?;
    let endpoint = match &topology.cluster_endpoint {
        Some(e) => e
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string(),
        None => match master_ip {
            std::net::IpAddr::V4(ip) => format!("{ip}:6443"),
            std::net::IpAddr::V6(ip) => format!("[{ip}]:6443"),
        },
    };
    let hosts = crate::cluster::hosts_entries(topology, &names);
    let name_of = |n: &Node| names.get(&n.name).cloned().unwrap_or_default();
    let nodes: Vec<&Node> = topology
        .nodes
        .iter()
        .filter(|n| matches!(n.role, Role::Master | Role::Worker))
        .collect();
    for node in &nodes {
        address(node)?;
        let login = if node.role == Role::Master {
            master_login(params)
        } else {
            Login {
                prefix: "worker_node",
                username: &params.worker_node.username,
                password: params.worker_node.password.as_deref(),
                key: params.worker_node.ssh_private_key_path.as_deref(),
            }
        };
        b.add_host(node, &login)?;
        let scripts: &[&str] = if node.role == Role::Master {
            &["lib.sh", "k8s_node.sh", "k8s_init.sh", "k8s_join_info.sh"]
        } else {
            &["lib.sh", "k8s_node.sh", "k8s_join.sh"]
        };
        b.uploads(node, scripts, 1);
        let mut args = vec![name_of(node), b.opts.k8s_minor.clone()];
        args.extend(hosts.iter().cloned());
        b.script(
            node,
            "k8s-node".into(),
            "k8s_node.sh",
            args,
            format!(
                "prepare Kubernetes node {} (hostname, /etc/hosts, swap, modules, runtime, kubeadm)",
                name_of(node)
            ),
        );
    }
    b.script_in(
        2,
        master,
        "k8s-init".into(),
        "k8s_init.sh",
        vec![
            name_of(master),
            master_ip.to_string(),
            endpoint.clone(),
            params
                .master_node
                .pod_cidr
                .clone()
                .unwrap_or_else(|| "192.168.0.0/16".into()),
            params
                .master_node
                .cluster_cidr
                .clone()
                .unwrap_or_else(|| "10.96.0.0/12".into()),
        ],
        vec![],
        vec![],
        format!("kubeadm init on {} (endpoint {endpoint})", name_of(master)),
    );
    b.script_in(
        3,
        master,
        "k8s-join-info".into(),
        "k8s_join_info.sh",
        vec![],
        vec![],
        join_secrets(),
        "bootstrap token and CA hash for the joins (captured as secrets)".into(),
    );
    for node in nodes.iter().filter(|n| n.role == Role::Worker) {
        b.script_in(
            CLUSTER_JOIN_PHASE,
            node,
            "k8s-join".into(),
            "k8s_join.sh",
            vec![name_of(node), endpoint.clone()],
            join_secrets(),
            vec![],
            format!("join {} as a worker (token on stdin)", name_of(node)),
        );
    }
    let all: Vec<String> = nodes.iter().map(|n| name_of(n)).collect();
    b.steps.push(Step {
        id: format!("{}/nodes-ready", master.name),
        phase: CLUSTER_JOIN_PHASE + 1,
        host: master.name.clone(),
        action: Action::KubeWaitNodesReady {
            kubeconfig: crate::kube::ADMIN_KUBECONFIG.into(),
            endpoint: topology.cluster_endpoint.clone(),
            nodes: all.clone(),
        },
        reason: format!("all {} nodes Ready before the PersistentVolumes", all.len()),
        timeout_secs: b.opts.kube_timeout_secs,
    });
    Ok(())
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

    fn script(&mut self, node: &Node, what: String, name: &str, args: Vec<String>, reason: String) {
        self.script_in(1, node, what, name, args, vec![], vec![], reason);
    }

    #[allow(clippy::too_many_arguments)]
    fn script_in(
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
    fn cluster_install_is_off_by_default_and_needs_exactly_one_master() {
        let p = plan().plan;
        assert!(p.steps.iter().all(|s| !s.id.contains("k8s")));
        assert!(!p.to_json().contains("stdin_secrets"));
        let inv = format!("{INV}  - name: m2\n    role: master\n    ssh: 10.0.0.5\n");
        let e = instantiate(&topo(&inv), &request(), &files(), "v", &cluster_opts()).unwrap_err();
        assert_eq!(e.code.id, "driver.plan.cluster_masters", "{e}");
        assert!(e.message.contains("has 2"), "{e}");
        for bad in ["1.31", "v1", "v1.31.0", "v1.x", "v1.31;rm"] {
            let o = PlanOptions {
                k8s_minor: bad.into(),
                ..cluster_opts()
            };
            let e = instantiate(&topo(INV), &request(), &files(), "v", &o).unwrap_err();
            assert_eq!(e.code.id, "driver.plan.bad_kubernetes_minor", "{bad}: {e}");
        }
    }
}
