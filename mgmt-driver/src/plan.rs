//! Plan types: plain data, no handles, no secrets.
//!
//! A plan lists, per host and in dependency order, each file to upload (with mode and
//! checksum) and each script to run with its arguments. The executor runs exactly the
//! plan it is given; printing a plan is a dry run. Credentials are referenced by name
//! (e.g. `storage_server.password`) and resolved from [`crate::secret::Secrets`] only
//! when executing. The same inputs give byte-identical JSON.

use crate::topology::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The plan format version written in `format_version`.
pub const FORMAT_VERSION: u32 = 1;

/// The lifecycle operation a plan implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `instantiate_end`: storage server, NFS clients, optionally the cluster install,
    /// PersistentVolumes.
    Instantiate,
    /// `heal_start`: of the storage server, delete the VNF's PersistentVolumes (refused
    /// while any is bound to a claim); of cluster nodes, drain and delete them (masters:
    /// etcd snapshot, member removed, HAProxy backends of the survivors).
    HealStart,
    /// `heal_end`: of the storage server, set it up again on the rebuilt VM (data on a
    /// kept volume is kept) and register the PersistentVolumes again; of cluster nodes,
    /// reset and join the rebuilt nodes.
    HealEnd,
    /// `scale_start`: drain and delete the workers a scale-in removes.
    ScaleStart,
    /// `scale_end`: prepare and join the workers a scale-out added (joined nodes are
    /// left as they are); every node's `/etc/hosts` block rewritten.
    ScaleEnd,
    /// `terminate_start`: optional drain, revoke the exported access.
    TerminateStart,
}

impl Operation {
    /// The operation's name (`instantiate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Instantiate => "instantiate",
            Operation::HealStart => "heal_start",
            Operation::HealEnd => "heal_end",
            Operation::ScaleStart => "scale_start",
            Operation::ScaleEnd => "scale_end",
            Operation::TerminateStart => "terminate_start",
        }
    }
}

/// How to authenticate to a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Credential {
    /// Password authentication; `secret` names the password in the secret store.
    Password {
        /// Secret name.
        secret: String,
    },
    /// Public-key authentication with a private key file (not a secret itself: a path).
    PrivateKey {
        /// Path of the private key file.
        path: String,
    },
}

/// A host the plan touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHost {
    /// Topology node name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// SSH address.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// How to log in.
    pub credential: Credential,
    /// Secret name of the password `sudo` may ask for (given on stdin, never in argv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_password: Option<String>,
    /// Pinned host keys (OpenSSH one-line format); empty: use known_hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_keys: Vec<String>,
}

/// Where an uploaded file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileSource {
    /// A script embedded in vnf-mgmt ([`crate::scripts`]).
    Embedded {
        /// Script file name (`storage_volume.sh`).
        name: String,
    },
}

/// A `key=value` line of a script's stdin or stdout bound to a secret name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedSecret {
    /// Key of the line (`token`).
    pub key: String,
    /// Secret name in the run's secret store (`cluster.join_token`).
    pub secret: String,
}

/// One action. Closed: the executor handles exactly these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Upload a file over SFTP (atomically: temporary name, then rename).
    UploadFile {
        /// Remote path, relative to the login user's home directory unless absolute.
        path: String,
        /// File mode (e.g. 0o700), written as a number.
        mode: u32,
        /// SHA-256 of the content (hex).
        sha256: String,
        /// Where the bytes come from.
        source: FileSource,
    },
    /// Run an uploaded script with bash; each argument is one argv word.
    RunScript {
        /// Remote path of the script (relative to the home directory unless absolute).
        script: String,
        /// Arguments.
        args: Vec<String>,
        /// Run as root through `sudo`.
        sudo: bool,
        /// Secrets the script reads on stdin as `key=value` lines (uploaded as a 0600
        /// file by SFTP, removed after the run; never in argv). The values are resolved
        /// from the run's secret store, which includes earlier steps' `capture`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stdin_secrets: Vec<NamedSecret>,
        /// `key=value` lines of the script's stdout to keep as secrets of this run, for
        /// later steps' `stdin_secrets`. A capturing step always runs (never skipped by
        /// the journal), so a re-run obtains fresh values.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        capture: Vec<NamedSecret>,
    },
    /// Server-side apply a Kubernetes object with the cluster's admin credentials, read
    /// from `kubeconfig` on the step's host (a master) over SSH with sudo; then wait
    /// (watch, step timeout) until its `status.phase` is `wait_for_phase`.
    KubeApply {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Package file the object comes from.
        manifest: String,
        /// Object kind (`PersistentVolume`).
        kind: String,
        /// Object name.
        name: String,
        /// The object exactly as applied.
        object: serde_json::Value,
        /// Phase to wait for (`Available`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_for_phase: Option<String>,
    },
    /// Wait (step timeout) until every Node in `nodes` is `Ready` in the API, with the
    /// admin credentials read from `kubeconfig` on the step's host (a master).
    KubeWaitNodesReady {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Kubernetes node names.
        nodes: Vec<String>,
    },
    /// Delete the VNF instance's PersistentVolumes (label
    /// `vnf-mgmt.io/vnf-instance-id=<instance>` plus `names`) with the admin credentials
    /// read from `kubeconfig` on the step's host, and wait (watch, step timeout) until
    /// they are gone. Refused, deleting nothing, while any of them is `Bound`.
    KubeDeletePvs {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// VNF instance id (value of the instance label).
        instance: String,
        /// PersistentVolume names from the package's manifests.
        names: Vec<String>,
    },
    /// Cordon each Node, evict its pods through the Eviction API (all namespaces; pods
    /// owned by a DaemonSet and mirror/static pods are left; PodDisruptionBudgets
    /// respected: a 429 is retried every 2 s until the step timeout, then the step fails
    /// naming the pod and the budget), wait until the evicted pods are gone, then delete
    /// the Node objects when `delete_nodes`. A Node that does not exist counts as drained
    /// and deleted (idempotent re-run). Admin credentials are read from `kubeconfig` on
    /// the step's host (a master).
    KubeDrainNodes {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Kubernetes node names.
        nodes: Vec<String>,
        /// Delete the Node objects once drained.
        delete_nodes: bool,
    },
    /// Delete Node objects without draining (a node whose VM is already gone). Missing =
    /// done. Admin credentials are read from `kubeconfig` on the step's host.
    KubeDeleteNodes {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Kubernetes node names.
        nodes: Vec<String>,
    },
    /// Create (server-side apply, idempotent) ServiceAccount `service_account` in
    /// `namespace`, a ClusterRoleBinding `<service_account>` to `cluster-admin`, and an
    /// explicit `kubernetes.io/service-account-token` Secret `<service_account>-token`
    /// (the auto-created token Secret does not exist on Kubernetes >= 1.24; an explicit
    /// one gives the non-expiring token a VIM registration needs); wait until the token
    /// controller has filled it; keep the token (a secret, redacted everywhere), the CA
    /// certificate and the API endpoint (`endpoint` if given, else the admin kubeconfig's
    /// server) as the run's cluster access ([`crate::exec::Summary::access`]). Always
    /// runs (never skipped by the journal), so every run returns the access.
    KubeExportAccess {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known;
        /// also the endpoint of the exported access.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Namespace of the ServiceAccount (`kube-system`).
        namespace: String,
        /// ServiceAccount name (DNS-1123 label, at most 57 characters).
        service_account: String,
    },
    /// Delete what [`Action::KubeExportAccess`] created (token Secret, ClusterRoleBinding,
    /// ServiceAccount); missing = done. Afterwards the token no longer authenticates.
    KubeRevokeAccess {
        /// Path of the admin kubeconfig on the host.
        kubeconfig: String,
        /// API endpoint overriding the kubeconfig's server (the cluster VIP), if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Namespace of the ServiceAccount.
        namespace: String,
        /// ServiceAccount name.
        service_account: String,
    },
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Stable id, unique in the plan (`<host>/<what>`).
    pub id: String,
    /// Steps of phase N all finish before any step of phase N+1 starts; within a phase,
    /// each host's steps run in order and hosts run in parallel.
    pub phase: u32,
    /// Host name (a [`PlanHost::name`]).
    pub host: String,
    /// What to do.
    pub action: Action,
    /// Why, for humans only; the executor never looks at it.
    pub reason: String,
    /// Per-step timeout in seconds.
    pub timeout_secs: u64,
}

impl Step {
    /// SHA-256 (hex) of the step's canonical JSON: a journal entry only counts for the
    /// exact same step.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The operation.
    pub operation: Operation,
    /// The VNF instance id (journal key).
    pub vnf_instance_id: String,
    /// [`crate::topology::Topology::fingerprint`] of the topology it was made from.
    pub inventory_fingerprint: String,
    /// Hosts touched, in topology order.
    pub hosts: Vec<PlanHost>,
    /// Steps, in execution order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&PlanHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Pretty JSON with a trailing newline (deterministic).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Human-readable listing.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan {} for VNF instance {} (format {}, topology {})",
            self.operation.as_str(),
            self.vnf_instance_id,
            self.format_version,
            &self.inventory_fingerprint[..self.inventory_fingerprint.len().min(12)]
        );
        for h in &self.hosts {
            let auth = match &h.credential {
                Credential::Password { secret } => format!("password <{secret}>"),
                Credential::PrivateKey { path } => format!("key {path}"),
            };
            let _ = writeln!(
                s,
                "host {} ({}) {}@{}:{} {}",
                h.name,
                h.role.as_str(),
                h.user,
                h.address,
                h.port,
                auth
            );
        }
        for st in &self.steps {
            let what = match &st.action {
                Action::UploadFile {
                    path, mode, sha256, ..
                } => format!(
                    "upload {path} mode {mode:04o} sha256 {}",
                    &sha256[..sha256.len().min(12)]
                ),
                Action::RunScript {
                    script, args, sudo, ..
                } => format!(
                    "run {}{script}{}{}",
                    if *sudo { "sudo " } else { "" },
                    if args.is_empty() { "" } else { " " },
                    args.iter()
                        .map(|a| crate::exec::shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Action::KubeApply {
                    manifest,
                    kind,
                    name,
                    object,
                    wait_for_phase,
                    ..
                } => format!(
                    "kube apply {kind} {name} from {manifest} (nfs server {}){}",
                    object["spec"]["nfs"]["server"].as_str().unwrap_or("-"),
                    wait_for_phase
                        .as_deref()
                        .map(|p| format!(", wait until {p}"))
                        .unwrap_or_default()
                ),
                Action::KubeWaitNodesReady { nodes, .. } => {
                    format!("kube wait until Nodes Ready: {}", nodes.join(", "))
                }
                Action::KubeDeletePvs {
                    instance, names, ..
                } => format!(
                    "kube delete PersistentVolumes labelled {}={instance} and {} (refused while bound), wait until gone",
                    crate::kube::INSTANCE_LABEL,
                    if names.is_empty() {
                        "-".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
                Action::KubeDrainNodes {
                    nodes,
                    delete_nodes,
                    ..
                } => format!(
                    "kube drain Nodes {} (cordon, evict except DaemonSet/mirror pods, PodDisruptionBudgets respected){}",
                    nodes.join(", "),
                    if *delete_nodes {
                        ", then delete them"
                    } else {
                        ""
                    }
                ),
                Action::KubeDeleteNodes { nodes, .. } => {
                    format!("kube delete Nodes {} (no drain)", nodes.join(", "))
                }
                Action::KubeExportAccess {
                    namespace,
                    service_account,
                    ..
                } => format!(
                    "kube export access: ServiceAccount {namespace}/{service_account}, ClusterRoleBinding {service_account} -> cluster-admin, token Secret {namespace}/{}",
                    crate::kube::token_secret_name(service_account)
                ),
                Action::KubeRevokeAccess {
                    namespace,
                    service_account,
                    ..
                } => format!(
                    "kube revoke access: delete Secret {namespace}/{}, ClusterRoleBinding {service_account}, ServiceAccount {namespace}/{service_account}",
                    crate::kube::token_secret_name(service_account)
                ),
            };
            let _ = writeln!(s, "[{}] {}: {}  # {}", st.phase, st.id, what, st.reason);
        }
        s
    }
}
