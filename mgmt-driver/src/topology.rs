//! The discovered topology of one VNF instance: its nodes (masters, workers, storage
//! server) with SSH and cluster-NIC addresses, resource ids, ports and volumes.
//!
//! Both discovery paths feed this one type: a static inventory file
//! ([`crate::inventory`]) and, later, OpenStack (Heat resources → Neutron ports, Cinder
//! attachments). Planning only ever sees a `Topology`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A node's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Kubernetes control-plane node.
    Master,
    /// Kubernetes worker node.
    Worker,
    /// The NFS storage server.
    Storage,
}

impl Role {
    /// `master`, `worker` or `storage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Storage => "storage",
        }
    }
}

/// Where to reach a node over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshEndpoint {
    /// IP address or DNS name.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A block volume attached to a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Cinder volume id; the guest sees `/dev/disk/by-id/virtio-<first 20 chars>`.
    pub cinder_id: String,
    /// The attachment's device name (e.g. `/dev/vdb`): only a fallback hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique name (inventory name or Nova server name).
    pub name: String,
    /// Role.
    pub role: Role,
    /// SSH endpoint.
    pub ssh: SshEndpoint,
    /// Cluster NIC address (what other nodes and NFS clients use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic: Option<IpAddr>,
    /// VDU / Heat resource id (VNFC), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Connection points of this node by CP name → fixed address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, IpAddr>,
    /// Volumes by Heat resource name (the request's `volume_resource_id`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Pinned public host keys (OpenSSH one-line format), when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_keys: Vec<String>,
    /// The scaling-group member resource holding the node (Heat's member name, what
    /// Tacker's `scale_name_list` carries), when it is a group member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_member: Option<String>,
}

impl Node {
    /// The address clients use for this node's services: the NIC address, else the SSH
    /// host when it is an IP address.
    pub fn service_address(&self) -> Option<IpAddr> {
        self.nic.or_else(|| self.ssh.host.parse().ok())
    }
}

/// The control-plane virtual IP of a cluster with more than one master: keepalived holds
/// it on the masters' network, HAProxy on each master forwards it to every API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterVip {
    /// The VIP (`cluster_cp_name` port's fixed address).
    pub address: IpAddr,
    /// Prefix length of the VIP port's subnet (from its CIDR; never assumed to be /24).
    pub prefix_len: u8,
}

impl std::fmt::Display for ClusterVip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl std::str::FromStr for ClusterVip {
    type Err = String;

    /// Parses `ADDRESS/PREFIX` (`10.10.0.100/24`).
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not ADDRESS/PREFIX_LENGTH (e.g. 10.10.0.100/24)"))?;
        let address: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len: u8 = p
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("prefix length {p:?} is not a number from 1 to {max}"))?;
        Ok(ClusterVip {
            address,
            prefix_len,
        })
    }
}

/// Everything discovery knows about one VNF instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Where it came from (`inventory:<file>` or `openstack:<stack id>`).
    pub source: String,
    /// Kubernetes API endpoint (`https://VIP:6443`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_endpoint: Option<String>,
    /// The control-plane VIP (clusters with more than one master), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_vip: Option<ClusterVip>,
    /// Nodes, in a stable order (as listed / discovered).
    pub nodes: Vec<Node>,
}

impl Topology {
    /// Nodes with a role, in order.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.role == role)
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node owning connection point `cp`, if any.
    pub fn node_with_port(&self, cp: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.ports.contains_key(cp))
    }

    /// SHA-256 (hex) over the canonical JSON of the topology (without `source`): a plan
    /// made from one topology is stale against another.
    pub fn fingerprint(&self) -> String {
        let mut t = self.clone();
        t.source.clear();
        // Serializing plain data with string keys cannot fail.
        let json = serde_json::to_vec(&t).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: Role) -> Node {
        Node {
            name: name.into(),
            role,
            ssh: SshEndpoint {
                host: "10.0.0.1".into(),
                port: 22,
            },
            nic: None,
            resource_id: None,
            ports: BTreeMap::new(),
            volumes: BTreeMap::new(),
            host_keys: vec![],
            group_member: None,
        }
    }

    #[test]
    fn fingerprint_ignores_source_but_not_nodes() {
        let a = Topology {
            source: "inventory:a.yaml".into(),
            cluster_endpoint: None,
            cluster_vip: None,
            nodes: vec![node("s", Role::Storage)],
        };
        let mut b = a.clone();
        b.source = "inventory:b.yaml".into();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.nodes[0].ssh.port = 2222;
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn cluster_vip_parses_and_rejects() {
        let v: ClusterVip = "10.0.0.100/26".parse().expect("vip");
        assert_eq!(v.prefix_len, 26);
        assert_eq!(v.to_string(), "10.0.0.100/26");
        for bad in [
            "10.0.0.100",
            "10.0.0.100/33",
            "10.0.0.100/0",
            "x/24",
            "10.0.0.1/a",
        ] {
            assert!(bad.parse::<ClusterVip>().is_err(), "{bad}");
        }
        assert!("fd00::1/64".parse::<ClusterVip>().is_ok());
    }

    #[test]
    fn service_address_prefers_nic() {
        let mut n = node("w", Role::Worker);
        assert_eq!(n.service_address(), "10.0.0.1".parse().ok());
        n.nic = "10.1.0.1".parse().ok();
        assert_eq!(n.service_address(), "10.1.0.1".parse().ok());
        n.nic = None;
        n.ssh.host = "w.example".into();
        assert_eq!(n.service_address(), None);
    }
}
