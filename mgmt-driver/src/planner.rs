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
        /// The VNF instance id is empty or has characters other than letters, digits, '-', '_', '.'.
        BAD_INSTANCE_ID = "driver.plan.bad_instance_id";
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
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            nfs_client_package: "nfs-common".into(),
            script_timeout_secs: 600,
            upload_timeout_secs: 60,
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
        && id.len() <= 128
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

/// Plans `instantiate_end` (this slice: storage server volumes and exports, NFS client on
/// every master and worker). The request must already be validated against the package.
pub fn instantiate(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    vnf_instance_id: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    check_instance_id(vnf_instance_id)?;
    let params: &K8sClusterInstallationParam = request
        .additional_params
        .as_ref()
        .and_then(|a| a.k8s_cluster_installation_param.as_ref())
        .ok_or_else(|| {
            err(
                codes::NO_INSTALL_PARAMS,
                "additionalParams.k8s_cluster_installation_param is missing".into(),
            )
        })?;
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

        // NFS client on every Kubernetes node.
        for node in topology
            .nodes
            .iter()
            .filter(|n| matches!(n.role, Role::Master | Role::Worker))
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

    Ok(Planned {
        plan: Plan {
            format_version: crate::plan::FORMAT_VERSION,
            operation: Operation::Instantiate,
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
            },
            reason,
            timeout_secs: self.opts.script_timeout_secs,
        });
    }
}
