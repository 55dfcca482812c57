//! The SOL001 VNFD: typed model ([`model`]) built from TOSCA service templates, and the
//! cross-checks between its parts ([`build`]).
//!
//! Entry points: [`load`] (an opened [`crate::archive::Package`]), [`load_files`] (any [`crate::tosca::Files`] source, e.g. a directory
//! through [`crate::tosca::DirFiles`]) and [`build`] (an already loaded service).

pub mod build;
pub mod model;
mod package;

pub use build::{build, load_files, sol001};
pub use model::*;
pub use package::load;

pub mod codes {
    //! Finding codes of the VNFD layer.
    crate::codes! {
        /// No VNF node could be found in the entry definitions.
        NO_VNF_NODE = "vnfd.vnf.missing";
        /// The VNF node lacks descriptor_id, provider, product_name or software_version.
        VNF_PROPERTY = "vnfd.vnf.property_missing";
        /// The VNFD defines no deployment flavour.
        NO_FLAVOUR = "vnfd.flavour.missing";
        /// A deployment flavour file has no usable flavour_id.
        FLAVOUR_ID_MISSING = "vnfd.flavour.id_missing";
        /// Two files define the same flavour_id.
        FLAVOUR_DUPLICATE = "vnfd.flavour.duplicate";
        /// A Vnflcm operation names an artifact the VNF node does not define.
        HOOK_UNKNOWN_ARTIFACT = "vnfd.lcm.unknown_artifact";
        /// A Vnflcm operation's artifact is not a file of the package (URL or absolute path).
        HOOK_ARTIFACT_OUTSIDE = "vnfd.lcm.artifact_outside_package";
        /// vdu_profile min_number_of_instances exceeds max_number_of_instances.
        VDU_PROFILE = "vnfd.vdu.profile_invalid";
        /// A VDU's instance count (initial delta, or at max scale level) is outside vdu_profile.
        INSTANCES_OUT_OF_PROFILE = "vnfd.vdu.instances_out_of_profile";
        /// A VDU is scaled by more than one aspect.
        VDU_MULTIPLE_ASPECTS = "vnfd.vdu.multiple_aspects";
        /// A virtual_storage requirement targets a node that is not Vdu.VirtualBlockStorage.
        STORAGE_TYPE = "vnfd.vdu.storage_not_block_storage";
        /// A VduCp has no virtual_binding requirement.
        CP_BINDING_MISSING = "vnfd.cp.binding_missing";
        /// A VduCp's virtual_binding targets a node that is not a VDU.
        CP_BINDING_TYPE = "vnfd.cp.binding_not_vdu";
        /// A policy or level references a scaling aspect that is not defined.
        ASPECT_UNKNOWN = "vnfd.policy.unknown_aspect";
        /// An aspect's step delta is missing from a VDU's VduScalingAspectDeltas.
        DELTA_UNKNOWN = "vnfd.policy.unknown_delta";
        /// A VDU policy (deltas, initial delta, levels, placement) targets a non-VDU node.
        POLICY_TARGET_TYPE = "vnfd.policy.target_not_vdu";
        /// An instantiation level's scale_level exceeds the aspect's max_scale_level.
        SCALE_LEVEL_EXCEEDS = "vnfd.level.scale_level_exceeds_max";
        /// InstantiationLevels.default_level is not one of its levels.
        DEFAULT_LEVEL_UNKNOWN = "vnfd.level.default_unknown";
        /// VduInstantiationLevels names a level that InstantiationLevels does not define.
        LEVEL_UNKNOWN = "vnfd.level.unknown";
        /// VduInstantiationLevels disagrees with initial delta + aspect deltas × scale level.
        LEVEL_INSTANCES_MISMATCH = "vnfd.level.instances_mismatch";
        /// The package has no Entry-Definitions, so there is no VNFD to load.
        NO_ENTRY_DEFINITIONS = "vnfd.entry.missing";
    }
}
