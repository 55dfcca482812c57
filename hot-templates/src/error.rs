//! Errors of HOT generation and bundle writing.

use crate::codes;
use vnf_package::Code;

/// Why a [`crate::HotBundle`] could not be generated or written.
///
/// Every variant has a stable [`Code`] (see [`HotError::code`]) and a message naming the
/// VNFD element, request entry or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HotError {
    /// The flavour is not in the VNFD.
    #[error("deployment flavour `{flavour}` is not defined in the VNFD (known: {known})")]
    UnknownFlavour {
        /// Requested flavour id.
        flavour: String,
        /// Comma-separated known flavour ids.
        known: String,
    },
    /// The instantiation level is not in the flavour.
    #[error("instantiation level `{level}` is not defined in flavour `{flavour}`")]
    UnknownLevel {
        /// Flavour id.
        flavour: String,
        /// Requested level id.
        level: String,
    },
    /// An aspect scales several VDUs; one AutoScalingGroup member holds one server.
    #[error(
        "scaling aspect `{aspect}` scales several VDUs ({vdus}); one AutoScalingGroup member \
         holds one server, so each aspect must scale exactly one VDU"
    )]
    AspectMultipleVdus {
        /// Aspect id.
        aspect: String,
        /// Comma-separated VDU names.
        vdus: String,
    },
    /// An aspect scales no VDU of the flavour.
    #[error("scaling aspect `{aspect}` scales no VDU of the flavour (no VduScalingAspectDeltas)")]
    AspectWithoutVdu {
        /// Aspect id.
        aspect: String,
    },
    /// A VDU outside any aspect needs other than one instance; its server is a single
    /// resource named after the VDU.
    #[error(
        "VDU `{vdu}` is not in any scaling aspect but needs {count} instance(s); a VDU outside \
         an aspect is one server resource named after the VDU, so it must have exactly one"
    )]
    InstancesWithoutAspect {
        /// VDU name.
        vdu: String,
        /// Needed instances.
        count: u32,
    },
    /// The computed group size is outside vdu_profile.
    #[error(
        "VDU `{vdu}` needs {desired} instance(s) at instantiation level `{level}` but its \
         vdu_profile allows {min}..{max}"
    )]
    CapacityOutOfRange {
        /// VDU name.
        vdu: String,
        /// Level id (or `<none>`).
        level: String,
        /// Computed instances.
        desired: u32,
        /// `min_number_of_instances`.
        min: u32,
        /// `max_number_of_instances`.
        max: u32,
    },
    /// A CP is bound to a VDU outside the flavour.
    #[error("VduCp `{cp}` is bound to VDU `{vdu}`, which is not in the flavour")]
    CpUnknownVdu {
        /// CP name.
        cp: String,
        /// VDU name.
        vdu: String,
    },
    /// A VDU requires an unknown virtual storage.
    #[error("VDU `{vdu}` requires virtual storage `{volume}`, which is not in the flavour")]
    VolumeUnknown {
        /// VDU name.
        vdu: String,
        /// Storage name.
        volume: String,
    },
    /// A VDU has more volumes than device names.
    #[error("VDU `{vdu}` has {count} volumes; at most 24 (vdb..vdz) can be mapped")]
    TooManyVolumes {
        /// VDU name.
        vdu: String,
        /// Number of volumes.
        count: usize,
    },
    /// Two resources of one template would share a name.
    #[error("resource name `{name}` would be used twice in {template} ({what})")]
    NameCollision {
        /// Resource name.
        name: String,
        /// Template key.
        template: String,
        /// What the second use is.
        what: String,
    },
    /// Placement scope not expressible as a Nova server group.
    #[error(
        "placement rule `{rule}` has scope `{scope}`; only `nfvi_node` can be expressed as a \
         Nova server group"
    )]
    PlacementUnsupportedScope {
        /// Rule name.
        rule: String,
        /// Scope.
        scope: String,
    },
    /// Placement rule target is not a VDU.
    #[error("placement rule `{rule}` targets `{target}`, which is not a VDU of the flavour")]
    PlacementUnknownTarget {
        /// Rule name.
        rule: String,
        /// Target name.
        target: String,
    },
    /// A VDU is in several placement rules.
    #[error(
        "VDU `{vdu}` is targeted by placement rules `{first}` and `{second}`; a server can \
         join only one server group"
    )]
    PlacementConflict {
        /// VDU name.
        vdu: String,
        /// First rule.
        first: String,
        /// Second rule.
        second: String,
    },
    /// A CP has no extCp in the request.
    #[error(
        "CP `{cp}` is used by the templates but no extVirtualLinks[].extCps[] entry of the \
         request has cpdId `{cp}`"
    )]
    RequestCpMissing {
        /// CP name.
        cp: String,
    },
    /// Fixed IP requested on a CP whose VDU can have several instances.
    #[error(
        "the request gives fixed address {address} for CP `{cp}`, but VDU `{vdu}` can have up \
         to {max} instances, which would all get the same address"
    )]
    FixedAddressOnScaledCp {
        /// CP name.
        cp: String,
        /// VDU name.
        vdu: String,
        /// The address.
        address: String,
        /// max_number_of_instances.
        max: u32,
    },
    /// The VIP needs the master CP, which cannot be determined.
    #[error(
        "cluster_cp_name `{vip}` is not a CP of the flavour, so a VIP port is needed, but the \
         master VDU cannot be found from master_node.aspect_id / ssh_cp_name / nic_cp_name"
    )]
    VipNoMasterCp {
        /// The cluster_cp_name.
        vip: String,
    },
    /// cluster_cp_name not a CP while there is one master.
    #[error(
        "cluster_cp_name `{vip}` is not a CP of the flavour; a VIP port is generated only for \
         more than one master, but VDU `{vdu}` has {masters} instance(s) at this level"
    )]
    VipSingleMaster {
        /// The cluster_cp_name.
        vip: String,
        /// Master VDU.
        vdu: String,
        /// Masters at the level.
        masters: u32,
    },
    /// YAML emission failed.
    #[error("cannot serialise template {template} to YAML: {message}")]
    YamlEmit {
        /// Template key.
        template: String,
        /// Serializer message.
        message: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Path written.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl HotError {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            HotError::UnknownFlavour { .. } => codes::FLAVOUR_UNKNOWN,
            HotError::UnknownLevel { .. } => codes::LEVEL_UNKNOWN,
            HotError::AspectMultipleVdus { .. } => codes::ASPECT_MULTIPLE_VDUS,
            HotError::AspectWithoutVdu { .. } => codes::ASPECT_NO_VDU,
            HotError::CapacityOutOfRange { .. } => codes::CAPACITY_OUT_OF_RANGE,
            HotError::InstancesWithoutAspect { .. } => codes::VDU_INSTANCES_WITHOUT_ASPECT,
            HotError::CpUnknownVdu { .. } => codes::CP_UNKNOWN_VDU,
            HotError::VolumeUnknown { .. } => codes::VOLUME_UNKNOWN,
            HotError::TooManyVolumes { .. } => codes::TOO_MANY_VOLUMES,
            HotError::NameCollision { .. } => codes::NAME_COLLISION,
            HotError::PlacementUnsupportedScope { .. } => codes::PLACEMENT_UNSUPPORTED_SCOPE,
            HotError::PlacementUnknownTarget { .. } => codes::PLACEMENT_UNKNOWN_TARGET,
            HotError::PlacementConflict { .. } => codes::PLACEMENT_CONFLICT,
            HotError::RequestCpMissing { .. } => codes::REQUEST_CP_MISSING,
            HotError::FixedAddressOnScaledCp { .. } => codes::FIXED_ADDRESS_ON_SCALED_CP,
            HotError::VipNoMasterCp { .. } => codes::VIP_NO_MASTER_CP,
            HotError::VipSingleMaster { .. } => codes::VIP_SINGLE_MASTER,
            HotError::YamlEmit { .. } => codes::YAML_EMIT,
            HotError::Io { .. } => codes::IO,
        }
    }
}
