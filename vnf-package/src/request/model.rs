//! Typed SOL003 `InstantiateVnfRequest` and the Kubernetes driver's `additionalParams`.
//!
//! Field names follow the wire format exactly (camelCase in the request, snake_case inside
//! `k8s_cluster_installation_param`, as Tacker passes it through unchanged). Unknown keys
//! inside our own parameter blocks are rejected (`deny_unknown_fields`) so typos surface
//! before anything runs; unknown top-level request keys are kept for forward compatibility.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// SOL003 `InstantiateVnfRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstantiateVnfRequest {
    /// Deployment flavour to instantiate.
    pub flavour_id: String,
    /// Instantiation level; the flavour's `default_level` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instantiation_level_id: Option<String>,
    /// External virtual links the VNF's external CPs connect to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_virtual_links: Vec<ExtVirtualLinkData>,
    /// Externally-managed internal virtual links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_managed_virtual_links: Vec<serde_json::Value>,
    /// VIM connection information (OpenStack access info).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vim_connection_info: Vec<VimConnectionInfo>,
    /// Localization language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localization_language: Option<String>,
    /// Additional parameters for the VNF and its mgmt driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_params: Option<AdditionalParams>,
}

/// SOL003 `ExtVirtualLinkData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtVirtualLinkData {
    /// Identifier of this external VL in the request.
    pub id: String,
    /// VIM identifier, when several VIMs are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vim_connection_id: Option<String>,
    /// Resource provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<String>,
    /// The network's id in the VIM (Neutron network UUID).
    pub resource_id: String,
    /// External CPs connected to this VL.
    #[serde(default)]
    pub ext_cps: Vec<VnfExtCpData>,
    /// Pre-created link ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_link_ports: Vec<serde_json::Value>,
}

/// SOL003 `VnfExtCpData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VnfExtCpData {
    /// The CPD (VduCp node template name) this applies to.
    pub cpd_id: String,
    /// Per-instance configurations. SOL003 v2.6.1 uses a list; later versions a map keyed
    /// by an id. Both are accepted.
    #[serde(default)]
    pub cp_config: CpConfigs,
}

/// `cpConfig` as a list (v2.6.1) or a map (v3.x).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CpConfigs {
    /// SOL003 v2.6.1: a list.
    List(Vec<VnfExtCpConfig>),
    /// SOL003 v3.x: a map keyed by configuration id.
    Map(IndexMap<String, VnfExtCpConfig>),
}

impl Default for CpConfigs {
    fn default() -> Self {
        CpConfigs::List(Vec::new())
    }
}

impl CpConfigs {
    /// The configurations in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &VnfExtCpConfig> + '_> {
        match self {
            CpConfigs::List(v) => Box::new(v.iter()),
            CpConfigs::Map(m) => Box::new(m.values()),
        }
    }
}

/// SOL003 `VnfExtCpConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VnfExtCpConfig {
    /// Instance identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cp_instance_id: Option<String>,
    /// Pre-created link port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_port_id: Option<String>,
    /// Protocol data (addresses).
    #[serde(default)]
    pub cp_protocol_data: Vec<CpProtocolData>,
}

/// SOL003 `CpProtocolData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpProtocolData {
    /// `IP_OVER_ETHERNET`.
    pub layer_protocol: String,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_over_ethernet: Option<IpOverEthernetAddressData>,
}

/// SOL003 `IpOverEthernetAddressData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpOverEthernetAddressData {
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// IP addresses.
    #[serde(default)]
    pub ip_addresses: Vec<IpAddressData>,
}

/// One entry of `ipOverEthernet.ipAddresses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressData {
    /// `IPV4` or `IPV6`.
    #[serde(rename = "type")]
    pub ip_type: String,
    /// Fixed addresses.
    #[serde(default)]
    pub fixed_addresses: Vec<String>,
    /// Number of dynamic addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_dynamic_addresses: Option<u32>,
    /// Subnet (Neutron subnet UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

/// SOL003 `VimConnectionInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VimConnectionInfo {
    /// Identifier within the request.
    pub id: String,
    /// VIM id known to the NFVO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vim_id: Option<String>,
    /// e.g. `openstack`, `ETSINFV.OPENSTACK_KEYSTONE.v_3`.
    pub vim_type: String,
    /// Endpoint information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_info: Option<IndexMap<String, serde_json::Value>>,
    /// Credentials (password, application credential, project, …). Secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_info: Option<IndexMap<String, serde_json::Value>>,
    /// Extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<IndexMap<String, serde_json::Value>>,
}

/// `additionalParams` of the instantiate request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdditionalParams {
    /// The Kubernetes cluster installation parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_cluster_installation_param: Option<K8sClusterInstallationParam>,
    /// Tacker's UserData module path (`./UserData/k8s_cluster_user_data.py`).
    #[serde(
        rename = "lcm-operation-user-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lcm_operation_user_data: Option<String>,
    /// Tacker's UserData class name.
    #[serde(
        rename = "lcm-operation-user-data-class",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lcm_operation_user_data_class: Option<String>,
    /// Any other key: top-HOT parameter pass-throughs and extensions.
    #[serde(flatten)]
    pub other: IndexMap<String, serde_json::Value>,
}

/// `additionalParams.k8s_cluster_installation_param`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sClusterInstallationParam {
    /// Install script inside the package (Tacker compatibility; vnf-mgmt ships its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_path: Option<String>,
    /// Name under which the cluster is registered as a VIM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vim_name: Option<String>,
    /// Master nodes.
    pub master_node: MasterNode,
    /// Worker nodes.
    pub worker_node: WorkerNode,
    /// Proxy settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// Helm installer script inside the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_installation_script_path: Option<String>,
    /// Private container registries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_registry_connection_info: Vec<PrivateRegistry>,
    /// The NFS storage server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_server: Option<StorageServer>,
    /// PersistentVolumes to register (requires `storage_server`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pv_registration_params: Vec<PvRegistration>,
    /// Kubernetes distribution: `kubeadm` (default) or `k3s`. A vnf-mgmt extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_distribution: Option<K8sDistribution>,
    /// CNI plugin: `calico` (default), `flannel` or `cilium`. A vnf-mgmt extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<Cni>,
}

/// Kubernetes distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum K8sDistribution {
    /// kubeadm (default).
    Kubeadm,
    /// k3s with embedded etcd.
    K3s,
}

/// CNI plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    /// Calico (default).
    Calico,
    /// Flannel.
    Flannel,
    /// Cilium.
    Cilium,
}

/// `master_node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterNode {
    /// ScalingAspect / AutoScalingGroup name holding the masters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_id: Option<String>,
    /// Port (or floating IP) resource used for SSH.
    pub ssh_cp_name: String,
    /// Port resource whose fixed IP is the node's cluster address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_cp_name: Option<String>,
    /// SSH user.
    pub username: String,
    /// SSH password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Private key file inside the package or an absolute path (vnf-mgmt extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key_path: Option<String>,
    /// Pod network CIDR (default `192.168.0.0/16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// Service CIDR (default `10.96.0.0/12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_cidr: Option<String>,
    /// Port resource holding the cluster endpoint (the master's own port, or the VIP port).
    pub cluster_cp_name: String,
    /// Floating IP resource of the cluster endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_fip_name: Option<String>,
}

/// `worker_node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerNode {
    /// ScalingAspect / AutoScalingGroup name holding the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_id: Option<String>,
    /// Port (or floating IP) resource used for SSH.
    pub ssh_cp_name: String,
    /// Port resource whose fixed IP is the node's cluster address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_cp_name: Option<String>,
    /// SSH user.
    pub username: String,
    /// SSH password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Private key file inside the package or an absolute path (vnf-mgmt extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key_path: Option<String>,
}

/// `proxy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// HTTP proxy URL (may hold credentials: secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// HTTPS proxy URL (may hold credentials: secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// Comma-separated hosts/CIDRs that bypass the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// The nodes' network CIDR, added to `no_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_node_cidr: Option<String>,
}

/// One `private_registry_connection_info` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivateRegistry {
    /// `0` = HTTP, `1` = HTTPS (number or string, as Tacker accepts).
    pub connection_type: serde_json::Value,
    /// `host:port`.
    pub server: String,
    /// Registry user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Registry password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// CA certificate inside the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_path: Option<String>,
    /// `/etc/hosts` line for the registry, e.g. `192.168.0.20 registry.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_string: Option<String>,
}

/// `storage_server`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageServer {
    /// Port (or floating IP) resource used for SSH.
    pub ssh_cp_name: String,
    /// Port resource of the storage server's NIC (identifies it in heal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_cp_name: Option<String>,
    /// SSH user.
    pub username: String,
    /// SSH password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Private key file inside the package or an absolute path (vnf-mgmt extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key_path: Option<String>,
    /// Volumes to mount.
    pub cinder_volume_setup_params: Vec<CinderVolumeSetup>,
    /// Directories to export.
    pub nfs_server_setup_params: Vec<NfsExport>,
}

/// One `cinder_volume_setup_params` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CinderVolumeSetup {
    /// Heat `OS::Cinder::Volume` resource name (the VirtualBlockStorage name).
    pub volume_resource_id: String,
    /// Absolute mount point.
    pub mount_to: String,
    /// Reformat even if the volume already has a filesystem (destroys data). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_format: bool,
}

/// One `nfs_server_setup_params` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NfsExport {
    /// Absolute directory under a `mount_to`.
    pub export_dir: String,
    /// Client spec for `/etc/exports`: host, CIDR or wildcard.
    pub export_to: String,
}

/// One `pv_registration_params` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PvRegistration {
    /// PersistentVolume manifest inside the package.
    pub pv_manifest_file_path: String,
    /// Port resource whose fixed IP becomes `spec.nfs.server`.
    pub nfs_server_cp: String,
}
