//! Kubernetes cluster install: the pure parts the instantiate planner builds on.
//!
//! Node names come from the topology's node identity (inventory name or Nova server
//! name, which carries the VDU and VNFC), never from an address octet: they are stable
//! across re-runs and unique within the VNF. [`hosts_entries`] gives the `/etc/hosts`
//! block `k8s_node.sh` writes on every node.

use crate::topology::{Role, Topology};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// HAProxy's frontend port on every master of a cluster with more than one master: the
/// control-plane endpoint is `VIP:16443` (the API servers themselves listen on 6443).
pub const LB_FRONTEND_PORT: u16 = 16443;

/// The API server port on every master.
pub const API_PORT: u16 = 6443;

/// How the cluster is installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ClusterRuntime {
    /// kubeadm (packages from pkgs.k8s.io): `kubeadm init` on the first master,
    /// control-plane joins with the certificate key, worker joins.
    #[default]
    Kubeadm,
    /// k3s: the first server with `--cluster-init` (embedded etcd), further servers and
    /// agents joining with the token through the fixed registration address.
    K3s,
}

impl ClusterRuntime {
    /// `kubeadm` or `k3s`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterRuntime::Kubeadm => "kubeadm",
            ClusterRuntime::K3s => "k3s",
        }
    }

    /// Where a master keeps the admin kubeconfig.
    pub fn admin_kubeconfig(self) -> &'static str {
        match self {
            ClusterRuntime::Kubeadm => crate::kube::ADMIN_KUBECONFIG,
            ClusterRuntime::K3s => "/etc/rancher/k3s/k3s.yaml",
        }
    }
}

impl std::str::FromStr for ClusterRuntime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kubeadm" => Ok(ClusterRuntime::Kubeadm),
            "k3s" => Ok(ClusterRuntime::K3s),
            other => Err(format!(
                "unknown cluster runtime {other:?} (kubeadm or k3s)"
            )),
        }
    }
}

/// The pod network (CNI) the install applies on a kubeadm cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cni {
    /// Calico (the default on kubeadm).
    Calico,
    /// Flannel (k3s's built-in network is flannel too).
    Flannel,
    /// Cilium (from a manifest the operator renders: `--cni-manifest`).
    Cilium,
    /// No CNI applied (the operator installs one).
    None,
}

impl Cni {
    /// `calico`, `flannel`, `cilium` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Calico => "calico",
            Cni::Flannel => "flannel",
            Cni::Cilium => "cilium",
            Cni::None => "none",
        }
    }

    /// The upstream manifest of the pinned release, when there is one.
    pub fn default_manifest(self) -> Option<&'static str> {
        match self {
            Cni::Calico => Some(
                "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml",
            ),
            Cni::Flannel => Some(
                "https://github.com/flannel-io/flannel/releases/download/v0.26.2/kube-flannel.yml",
            ),
            Cni::Cilium | Cni::None => None,
        }
    }

    /// Namespace and name of the DaemonSet whose presence means the CNI is applied.
    pub fn daemonset(self) -> Option<(&'static str, &'static str)> {
        match self {
            Cni::Calico => Some(("kube-system", "calico-node")),
            Cni::Flannel => Some(("kube-flannel", "kube-flannel-ds")),
            Cni::Cilium => Some(("kube-system", "cilium")),
            Cni::None => None,
        }
    }
}

impl std::str::FromStr for Cni {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "calico" => Ok(Cni::Calico),
            "flannel" => Ok(Cni::Flannel),
            "cilium" => Ok(Cni::Cilium),
            "none" => Ok(Cni::None),
            other => Err(format!(
                "unknown CNI {other:?} (calico, flannel, cilium or none)"
            )),
        }
    }
}

/// keepalived's `virtual_router_id` for a VNF instance: 1–255 from a hash of the
/// instance id, so two clusters on one network do not share a VRRP router by default
/// (Tacker's 51 for everyone made neighbours fight over their VIPs).
pub fn vrrp_router_id(vnf_instance_id: &str) -> u8 {
    let d = Sha256::digest(format!("vnf-mgmt vrrp router id {vnf_instance_id}").as_bytes());
    (u16::from_be_bytes([d[0], d[1]]) % 255) as u8 + 1
}

/// keepalived's VRRP `auth_pass` for a VNF instance (8 characters, PASS auth's limit),
/// derived from the instance id: it keeps clusters apart, it is not a defence (VRRP
/// PASS authentication travels in clear on the wire). Handled as a secret all the same.
pub fn vrrp_password(vnf_instance_id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("vnf-mgmt vrrp auth {vnf_instance_id}").as_bytes(),
    ))[..8]
        .to_string()
}

/// A ServiceAccount name for the orchestrator's access to the cluster of a VNF
/// instance: `vnf-mgmt-<instance>` as a DNS-1123 label (hashed when it must change).
pub fn access_account(vnf_instance_id: &str) -> String {
    let raw = format!("vnf-mgmt-{vnf_instance_id}");
    let (l, changed) = label(&raw);
    if !changed {
        return l;
    }
    let h = short_hash(&raw);
    let keep = MAX_NODE_NAME - h.len() - 1;
    let mut base: String = l.chars().take(keep).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("{base}-{h}")
}

/// Longest Kubernetes node name used (a DNS-1123 label).
pub const MAX_NODE_NAME: usize = 63;

/// Turns `name` into a DNS-1123 label: lowercase letters, digits and `-`, starting and
/// ending with an alphanumeric, at most [`MAX_NODE_NAME`] characters. Returns the label
/// and whether anything had to change.
fn label(name: &str) -> (String, bool) {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let mut l: String = trimmed.chars().take(MAX_NODE_NAME).collect();
    while l.ends_with('-') {
        l.pop();
    }
    let changed = l != name;
    (l, changed)
}

fn short_hash(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))[..8].to_string()
}

/// The Kubernetes node name of every master and worker, by topology node name.
///
/// A name that is already a valid label is kept as it is. Otherwise it is lowercased,
/// every run of other characters becomes one `-`, and an 8-hex-digit hash of the
/// original name is appended (shortening the label to fit), so two names that differ
/// only in the replaced characters still get different node names. The result depends
/// only on the node's own name, so it stays the same when nodes are added or removed.
pub fn node_names(topology: &Topology) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for node in topology
        .nodes
        .iter()
        .filter(|n| matches!(n.role, Role::Master | Role::Worker))
    {
        let (l, changed) = label(&node.name);
        let name = if changed || l.is_empty() {
            let h = short_hash(&node.name);
            let keep = MAX_NODE_NAME - h.len() - 1;
            let mut base: String = l.chars().take(keep).collect();
            while base.ends_with('-') {
                base.pop();
            }
            if base.is_empty() {
                format!("node-{h}")
            } else {
                format!("{base}-{h}")
            }
        } else {
            l
        };
        names.insert(node.name.clone(), name);
    }
    names
}

/// Whether all node names are distinct (always true unless a topology contains both a
/// name and a label that happens to equal another name's hashed form).
pub fn names_unique(names: &BTreeMap<String, String>) -> bool {
    names.values().collect::<BTreeSet<_>>().len() == names.len()
}

/// `IP=NAME` arguments of `k8s_node.sh` for the `/etc/hosts` block: every master and
/// worker with a service address, in topology order.
pub fn hosts_entries(topology: &Topology, names: &BTreeMap<String, String>) -> Vec<String> {
    topology
        .nodes
        .iter()
        .filter_map(|n| {
            let name = names.get(&n.name)?;
            let ip = n.service_address()?;
            Some(format!("{ip}={name}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Node, SshEndpoint};

    fn node(name: &str, role: Role, ip: &str) -> Node {
        Node {
            name: name.into(),
            role,
            ssh: SshEndpoint {
                host: ip.into(),
                port: 22,
            },
            nic: None,
            resource_id: None,
            ports: Default::default(),
            volumes: Default::default(),
            host_keys: vec![],
            group_member: None,
        }
    }

    fn topo(nodes: Vec<Node>) -> Topology {
        Topology {
            source: "test".into(),
            cluster_endpoint: None,
            cluster_vip: None,
            nodes,
        }
    }

    #[test]
    fn vrrp_settings_differ_per_instance_and_stay_in_range() {
        let ids: BTreeSet<u8> = (0..200)
            .map(|i| vrrp_router_id(&format!("vnf-{i}")))
            .collect();
        // 200 instances over 255 router ids: far from all the same value (Tacker: 51).
        assert!(ids.len() > 100, "{}", ids.len());
        assert!(!ids.contains(&0));
        assert_eq!(vrrp_router_id("a"), vrrp_router_id("a"));
        assert_ne!(vrrp_password("a"), vrrp_password("b"));
        assert_eq!(vrrp_password("a").len(), 8);
    }

    #[test]
    fn access_account_is_a_label() {
        assert_eq!(access_account("vnf-1"), "vnf-mgmt-vnf-1");
        let a = access_account("Vnf_1.x");
        assert!(a.starts_with("vnf-mgmt-vnf-1-x-"), "{a}");
        assert!(access_account(&"x".repeat(63)).len() <= MAX_NODE_NAME);
    }

    #[test]
    fn runtime_parses() {
        assert_eq!("k3s".parse::<ClusterRuntime>(), Ok(ClusterRuntime::K3s));
        assert!("k8s".parse::<ClusterRuntime>().is_err());
        assert_eq!(
            ClusterRuntime::K3s.admin_kubeconfig(),
            "/etc/rancher/k3s/k3s.yaml"
        );
    }

    #[test]
    fn valid_names_are_kept_and_storage_is_not_a_node() {
        let t = topo(vec![
            node("master-0", Role::Master, "10.0.0.10"),
            node("worker-0", Role::Worker, "10.0.0.20"),
            node("storage", Role::Storage, "10.0.0.30"),
        ]);
        let names = node_names(&t);
        assert_eq!(names.len(), 2);
        assert_eq!(names["master-0"], "master-0");
        assert_eq!(names["worker-0"], "worker-0");
        assert_eq!(
            hosts_entries(&t, &names),
            vec!["10.0.0.10=master-0", "10.0.0.20=worker-0"]
        );
    }

    #[test]
    fn same_last_octet_on_different_subnets_gives_different_names() {
        // Tacker named nodes after the last IP octet: these two would collide.
        let t = topo(vec![
            node("workerNode-a", Role::Worker, "10.0.1.5"),
            node("workerNode-b", Role::Worker, "10.0.2.5"),
        ]);
        let names = node_names(&t);
        assert!(names_unique(&names));
        assert_ne!(names["workerNode-a"], names["workerNode-b"]);
    }

    #[test]
    fn invalid_names_become_unique_stable_labels() {
        let t = topo(vec![
            node("vnf-abc-workerNode-Qx7_0", Role::Worker, "10.0.0.1"),
            node("vnf-abc-workerNode-Qx7.0", Role::Worker, "10.0.0.2"),
            node("___", Role::Master, "10.0.0.3"),
            node(&"M".repeat(80), Role::Master, "10.0.0.4"),
        ]);
        let names = node_names(&t);
        assert!(names_unique(&names));
        for n in names.values() {
            assert!(n.len() <= MAX_NODE_NAME, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(!n.starts_with('-') && !n.ends_with('-'), "{n}");
        }
        assert!(names["vnf-abc-workerNode-Qx7_0"].starts_with("vnf-abc-workernode-qx7-0-"));
        assert!(names["___"].starts_with("node-"));
        // Stable: a node's name does not depend on the other nodes.
        let alone = node_names(&topo(vec![node(
            "vnf-abc-workerNode-Qx7_0",
            Role::Worker,
            "10.0.0.9",
        )]));
        assert_eq!(
            alone["vnf-abc-workerNode-Qx7_0"],
            names["vnf-abc-workerNode-Qx7_0"]
        );
    }
}
