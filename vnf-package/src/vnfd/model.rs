//! The typed SOL001 VNFD model: what the rest of vnf-mgmt reads.
//!
//! Built from parsed TOSCA service templates by [`super::build`]. Every element keeps the
//! location of its definition so later checks (HOT generation, request checks) can point
//! at the VNFD.

use crate::diag::Location;
use indexmap::IndexMap;
use serde::Serialize;

/// A whole VNFD: the VNF node of the top template plus every deployment flavour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vnfd {
    /// Package-relative path of the entry definitions (top VNFD).
    pub entry_file: String,
    /// The VNF node type (e.g. `company.provider.VNF`), derived from `tosca.nodes.nfv.VNF`.
    pub node_type: String,
    /// `descriptor_id`.
    pub descriptor_id: String,
    /// `descriptor_version`.
    pub descriptor_version: Option<String>,
    /// `provider`.
    pub provider: String,
    /// `product_name`.
    pub product_name: String,
    /// `software_version`.
    pub software_version: String,
    /// `vnfm_info`.
    pub vnfm_info: Vec<String>,
    /// Deployment flavours by `flavour_id`, in the order the files were read.
    pub flavours: IndexMap<String, Flavour>,
    /// Where the VNF node (or its type) is defined.
    pub location: Location,
}

impl Vnfd {
    /// The flavour with this id.
    pub fn flavour(&self, id: &str) -> Option<&Flavour> {
        self.flavours.get(id)
    }
}

/// One deployment flavour (one DF file joined by `substitution_mappings`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flavour {
    /// `flavour_id`.
    pub id: String,
    /// `flavour_description`.
    pub description: Option<String>,
    /// Package-relative path of the file that defines this flavour.
    pub file: String,
    /// `Vdu.Compute` node templates by name.
    pub vdus: IndexMap<String, Vdu>,
    /// `VduCp` node templates by name.
    pub cps: IndexMap<String, VduCp>,
    /// `Vdu.VirtualBlockStorage` node templates by name.
    pub volumes: IndexMap<String, VirtualBlockStorage>,
    /// `VnfVirtualLink` node templates by name.
    pub virtual_links: IndexMap<String, VirtualLink>,
    /// Scaling aspects (from `ScalingAspects` + `VduScalingAspectDeltas`) by aspect id.
    pub aspects: IndexMap<String, ScalingAspect>,
    /// Instantiation levels by level id (from `InstantiationLevels`).
    pub instantiation_levels: IndexMap<String, InstantiationLevel>,
    /// `InstantiationLevels.default_level`.
    pub default_level: Option<String>,
    /// `AffinityRule` / `AntiAffinityRule` policies.
    pub placement_rules: Vec<PlacementRule>,
    /// `Vnflcm` interface operations of the flavour's VNF node: operation → implementation.
    pub lcm_hooks: IndexMap<String, LcmHook>,
    /// Artifacts of the flavour's VNF node by name (e.g. the mgmt driver script).
    pub artifacts: IndexMap<String, Artifact>,
    /// `substitution_mappings.requirements`: requirement name → (node template, requirement).
    pub substitution_requirements: IndexMap<String, (String, String)>,
    /// Where the flavour's `substitution_mappings` is.
    pub location: Location,
}

impl Flavour {
    /// The aspect that scales this VDU, if any (a VDU belongs to at most one aspect).
    pub fn aspect_of_vdu(&self, vdu: &str) -> Option<&ScalingAspect> {
        self.aspects
            .values()
            .find(|a| a.vdu_deltas.contains_key(vdu))
    }

    /// The level to use: the requested one or `default_level`.
    pub fn level<'a>(&'a self, requested: Option<&str>) -> Option<&'a InstantiationLevel> {
        let id = requested.or(self.default_level.as_deref())?;
        self.instantiation_levels.get(id)
    }

    /// Volumes attached to this VDU, in requirement order.
    pub fn volumes_of(&self, vdu: &str) -> Vec<&VirtualBlockStorage> {
        self.vdus
            .get(vdu)
            .map(|v| {
                v.virtual_storages
                    .iter()
                    .filter_map(|s| self.volumes.get(s))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// CPs bound to this VDU, ordered by `order` then name.
    pub fn cps_of(&self, vdu: &str) -> Vec<&VduCp> {
        let mut v: Vec<&VduCp> = self.cps.values().filter(|c| c.vdu == vdu).collect();
        v.sort_by(|a, b| {
            a.order
                .unwrap_or(u32::MAX)
                .cmp(&b.order.unwrap_or(u32::MAX))
                .then_with(|| a.name.cmp(&b.name))
        });
        v
    }

    /// Number of instances of a VDU at an instantiation level:
    /// initial delta + step delta × the aspect's scale level (0 when the level does not
    /// mention the aspect). VDUs outside any aspect have their initial delta.
    pub fn instances_at_level(&self, vdu: &str, level: Option<&InstantiationLevel>) -> u32 {
        let Some(v) = self.vdus.get(vdu) else {
            return 0;
        };
        match self.aspect_of_vdu(vdu) {
            None => v.initial_delta,
            Some(aspect) => {
                let scale_level = level
                    .and_then(|l| l.scale_info.get(&aspect.id))
                    .copied()
                    .unwrap_or(0);
                v.initial_delta + aspect.step_delta(vdu) * scale_level
            }
        }
    }
}

/// A `tosca.nodes.nfv.Vdu.Compute` node template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vdu {
    /// Node template name (the Heat server resource name).
    pub name: String,
    /// `properties.name`.
    pub display_name: Option<String>,
    /// `properties.description`.
    pub description: Option<String>,
    /// `vdu_profile.min_number_of_instances`.
    pub min_instances: u32,
    /// `vdu_profile.max_number_of_instances`.
    pub max_instances: u32,
    /// `VduInitialDelta` for this VDU (1 when no policy targets it).
    pub initial_delta: u32,
    /// `sw_image_data`.
    pub sw_image: Option<SwImageData>,
    /// Package-relative path of the `tosca.artifacts.nfv.SwImage` artifact file, if any.
    pub image_artifact: Option<String>,
    /// Flavor name: `capabilities.virtual_compute.properties.requested_additional_capabilities
    /// .properties.requested_additional_capability_name` (Tacker's reading).
    pub flavor_name: Option<String>,
    /// `virtual_compute.virtual_cpu.num_virtual_cpu`.
    pub num_virtual_cpu: Option<u32>,
    /// `virtual_compute.virtual_memory.virtual_mem_size` in bytes.
    pub virtual_mem_bytes: Option<u64>,
    /// `virtual_compute.virtual_local_storage[0].size_of_storage` in bytes.
    pub local_storage_bytes: Option<u64>,
    /// `virtual_storage` requirement targets, in requirement order.
    pub virtual_storages: Vec<String>,
    /// `VduInstantiationLevels`: level id → number of instances.
    pub level_instances: IndexMap<String, u32>,
    /// Where the node template is.
    pub location: Location,
}

/// `tosca.datatypes.nfv.SwImageData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwImageData {
    /// `name` (Tacker uploads the image to Glance under this name).
    pub name: String,
    /// `version`.
    pub version: Option<String>,
    /// `checksum`.
    pub checksum: Option<Checksum>,
    /// `container_format`.
    pub container_format: Option<String>,
    /// `disk_format`.
    pub disk_format: Option<String>,
    /// `min_disk` in bytes.
    pub min_disk_bytes: Option<u64>,
    /// `min_ram` in bytes.
    pub min_ram_bytes: Option<u64>,
    /// `size` in bytes.
    pub size_bytes: Option<u64>,
}

/// `tosca.datatypes.nfv.ChecksumData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checksum {
    /// e.g. `sha-512`.
    pub algorithm: String,
    /// Hex digest.
    pub hash: String,
}

/// A `tosca.nodes.nfv.VduCp` node template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VduCp {
    /// Node template name (the Heat port resource name).
    pub name: String,
    /// The VDU of its `virtual_binding` requirement.
    pub vdu: String,
    /// The internal virtual link of its `virtual_link` requirement, if any.
    pub virtual_link: Option<String>,
    /// `order`.
    pub order: Option<u32>,
    /// `layer_protocols`.
    pub layer_protocols: Vec<String>,
    /// `vnic_type`.
    pub vnic_type: Option<String>,
    /// Where the node template is.
    pub location: Location,
}

/// A `tosca.nodes.nfv.Vdu.VirtualBlockStorage` node template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualBlockStorage {
    /// Node template name (the Heat volume resource name).
    pub name: String,
    /// `virtual_block_storage_data.size_of_storage` in bytes.
    pub size_bytes: u64,
    /// Package-relative path of a `sw_image` artifact, if the volume is created from one.
    pub image_artifact: Option<String>,
    /// Where the node template is.
    pub location: Location,
}

impl VirtualBlockStorage {
    /// Size in whole GiB for Cinder, rounded up (`5 GB` → 5).
    pub fn size_gib(&self) -> u64 {
        const GIB: u64 = 1 << 30;
        self.size_bytes.div_ceil(GIB).max(1)
    }
}

/// A `tosca.nodes.nfv.VnfVirtualLink` node template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualLink {
    /// Node template name.
    pub name: String,
    /// `connectivity_type.layer_protocols`.
    pub layer_protocols: Vec<String>,
    /// `vl_profile.virtual_link_protocol_data[].l3_protocol_data.cidr`, if given.
    pub cidr: Option<String>,
    /// Where the node template is.
    pub location: Location,
}

/// A scaling aspect with its per-VDU step deltas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingAspect {
    /// Aspect id (key in `ScalingAspects.aspects`; the Heat AutoScalingGroup name).
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `max_scale_level`.
    pub max_scale_level: u32,
    /// `step_deltas` (delta ids), in order.
    pub step_deltas: Vec<String>,
    /// From `VduScalingAspectDeltas`: VDU → (delta id → number_of_instances).
    pub vdu_deltas: IndexMap<String, IndexMap<String, u32>>,
    /// Where the aspect is defined.
    pub location: Location,
}

impl ScalingAspect {
    /// Instances of `vdu` added per scaling step (the first step delta; SOL001 uniform
    /// deltas use one delta id for every step). 0 if the VDU is not in this aspect.
    pub fn step_delta(&self, vdu: &str) -> u32 {
        let Some(deltas) = self.vdu_deltas.get(vdu) else {
            return 0;
        };
        self.step_deltas
            .first()
            .and_then(|d| deltas.get(d))
            .copied()
            .unwrap_or(0)
    }

    /// The VDUs this aspect scales.
    pub fn vdus(&self) -> impl Iterator<Item = &str> {
        self.vdu_deltas.keys().map(String::as_str)
    }
}

/// `tosca.datatypes.nfv.InstantiationLevel`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstantiationLevel {
    /// Level id.
    pub id: String,
    /// `description`.
    pub description: Option<String>,
    /// `scale_info`: aspect id → scale level.
    pub scale_info: IndexMap<String, u32>,
    /// Where the level is defined.
    pub location: Location,
}

/// Affinity or anti-affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementKind {
    /// `tosca.policies.nfv.AffinityRule`.
    Affinity,
    /// `tosca.policies.nfv.AntiAffinityRule`.
    AntiAffinity,
}

/// An `AffinityRule` / `AntiAffinityRule` policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementRule {
    /// Policy name.
    pub name: String,
    /// Affinity or anti-affinity.
    pub kind: PlacementKind,
    /// `scope` (e.g. `nfvi_node`).
    pub scope: String,
    /// Targeted VDUs (node templates; groups are expanded to their members).
    pub targets: Vec<String>,
    /// Where the policy is.
    pub location: Location,
}

/// The implementation of a `Vnflcm` operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LcmHook {
    /// Operation name, e.g. `instantiate_end`.
    pub operation: String,
    /// The artifact name (`implementation` or `implementation.primary`).
    pub artifact: String,
    /// `implementation.dependencies`.
    pub dependencies: Vec<String>,
    /// Where the operation is.
    pub location: Location,
}

/// A node artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Artifact name.
    pub name: String,
    /// `type`, e.g. `tosca.artifacts.Implementation.Python`.
    pub artifact_type: String,
    /// Package-relative path of `file` (resolved against the defining file), or the
    /// value as written when it points outside the package (absolute or URL).
    pub file: String,
    /// True when `file` resolved to a path inside the package.
    pub in_package: bool,
    /// Where the artifact is.
    pub location: Location,
}
