//! Per-node settings of the cluster install that come from the request: `proxy` (package
//! manager, container runtime, kubelet) and `private_registry_connection_info`
//! (container runtime). Planned around `k8s_node.sh` by [`crate::cluster_plan`].

use crate::cluster::ClusterRuntime;
use crate::planner::{Builder, PackageFiles, PlanError};
use crate::topology::Node;
use std::net::IpAddr;
use vnf_package::request::K8sClusterInstallationParam;

/// What the settings need to know about the cluster.
#[allow(dead_code)]
pub(crate) struct NodeConfig<'a> {
    /// kubeadm or k3s.
    pub runtime: ClusterRuntime,
    /// Pod network CIDR.
    pub pod_cidr: &'a str,
    /// Service CIDR.
    pub service_cidr: &'a str,
    /// Cluster addresses of every master and worker.
    pub node_addresses: &'a [IpAddr],
}

/// Steps on `node` before `k8s_node.sh` (which may install packages).
pub(crate) fn before_node(
    _b: &mut Builder<'_>,
    _node: &Node,
    _params: &K8sClusterInstallationParam,
    _package: &dyn PackageFiles,
    _config: &NodeConfig<'_>,
) -> Result<(), PlanError> {
    Ok(())
}

/// Steps on `node` after `k8s_node.sh` (the container runtime is installed).
pub(crate) fn after_node(
    _b: &mut Builder<'_>,
    _node: &Node,
    _params: &K8sClusterInstallationParam,
    _package: &dyn PackageFiles,
    _config: &NodeConfig<'_>,
) -> Result<(), PlanError> {
    Ok(())
}
