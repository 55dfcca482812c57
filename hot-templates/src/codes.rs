//! Finding and error codes of the `hot-templates` crate (prefix `hot.`).
//!
//! Codes are stable: once published a code keeps its meaning; messages may change.

vnf_package::codes! {
    /// A YAML file (template) could not be parsed.
    YAML_SYNTAX = "hot.yaml.syntax";
    /// A template could not be serialised to YAML.
    YAML_EMIT = "hot.yaml.emit";
    /// Writing the bundle to disk failed.
    IO = "hot.io";

    /// The requested deployment flavour is not in the VNFD.
    FLAVOUR_UNKNOWN = "hot.flavour.unknown";
    /// The requested instantiation level is not defined in the flavour.
    LEVEL_UNKNOWN = "hot.level.unknown";
    /// A scaling aspect scales more than one VDU (one group member = one server).
    ASPECT_MULTIPLE_VDUS = "hot.aspect.multiple_vdus";
    /// A VDU outside any scaling aspect would need other than exactly one instance.
    VDU_INSTANCES_WITHOUT_ASPECT = "hot.vdu.instances_without_aspect";
    /// A scaling aspect scales no VDU of the flavour.
    ASPECT_NO_VDU = "hot.aspect.no_vdu";
    /// The desired number of group members is outside the VDU's vdu_profile.
    CAPACITY_OUT_OF_RANGE = "hot.capacity.out_of_range";
    /// A VduCp is bound to a VDU that is not in the flavour.
    CP_UNKNOWN_VDU = "hot.vnfd.cp_unknown_vdu";
    /// A VDU requires a virtual storage that is not in the flavour.
    VOLUME_UNKNOWN = "hot.vnfd.volume_unknown";
    /// A VDU has more volumes than device names vdb..vdz.
    TOO_MANY_VOLUMES = "hot.vnfd.too_many_volumes";
    /// Two generated resources would get the same name in one template.
    NAME_COLLISION = "hot.name_collision";
    /// A placement rule has a scope that Nova server groups cannot express.
    PLACEMENT_UNSUPPORTED_SCOPE = "hot.placement.unsupported_scope";
    /// A placement rule targets something that is not a VDU of the flavour.
    PLACEMENT_UNKNOWN_TARGET = "hot.placement.unknown_target";
    /// A VDU is targeted by more than one placement rule (a server joins one group).
    PLACEMENT_CONFLICT = "hot.placement.conflict";
    /// A CP used by the templates has no extCp in the request's extVirtualLinks.
    REQUEST_CP_MISSING = "hot.request.cp_missing";
    /// A fixed IP address is requested for a CP of a VDU that can have several instances.
    FIXED_ADDRESS_ON_SCALED_CP = "hot.request.fixed_address_on_scaled_cp";
    /// The cluster endpoint needs a VIP port but the master CP cannot be determined.
    VIP_NO_MASTER_CP = "hot.vip.no_master_cp";
    /// `cluster_cp_name` is not a CP of the flavour, yet there is only one master.
    VIP_SINGLE_MASTER = "hot.vip.single_master";

    /// A template is not a YAML mapping.
    TEMPLATE_NOT_MAPPING = "hot.template.not_mapping";
    /// `heat_template_version` is missing or not a known HOT version.
    TEMPLATE_VERSION = "hot.template.version";
    /// A top-level section of the template is not part of the HOT grammar.
    TEMPLATE_UNKNOWN_SECTION = "hot.template.unknown_section";
    /// A parameter declaration is malformed (not a mapping or bad `type`).
    TEMPLATE_BAD_PARAMETER = "hot.template.bad_parameter";
    /// A resource definition is malformed (not a mapping, no `type`, unknown key).
    TEMPLATE_BAD_RESOURCE = "hot.template.bad_resource";
    /// A resource `type` is neither a known OpenStack type nor a file of the bundle.
    TEMPLATE_UNKNOWN_TYPE = "hot.template.unknown_type";
    /// A resource type names a template file that is not in the bundle.
    TEMPLATE_FILE_MISSING = "hot.template.file_missing";
    /// A nested template file of the bundle is not used by any resource.
    TEMPLATE_FILE_UNREFERENCED = "hot.template.file_unreferenced";
    /// `get_param` names a parameter the template does not declare.
    TEMPLATE_UNDECLARED_PARAMETER = "hot.template.undeclared_parameter";
    /// `get_resource`, `get_attr` or `depends_on` names a resource not in the template.
    TEMPLATE_UNKNOWN_RESOURCE = "hot.template.unknown_resource";
    /// An intrinsic function has the wrong argument shape.
    TEMPLATE_BAD_FUNCTION = "hot.template.bad_function";
    /// A key looks like an intrinsic function but is not one (e.g. `get_parm`).
    TEMPLATE_UNKNOWN_FUNCTION = "hot.template.unknown_function";
    /// An intrinsic function is not available in the template's `heat_template_version`.
    TEMPLATE_FUNCTION_VERSION = "hot.template.function_version";
    /// A property passed to a nested template is not one of its parameters.
    TEMPLATE_NESTED_UNKNOWN_PROPERTY = "hot.template.nested_unknown_property";
    /// A nested template parameter without default is not passed by the using resource.
    TEMPLATE_NESTED_MISSING_PROPERTY = "hot.template.nested_missing_property";

    /// The package has no top template in `BaseHOT/<flavour>/`.
    BASE_NO_TOP = "hot.base.no_top_template";
    /// `BaseHOT/<flavour>/` holds several top templates (Tacker takes the last one found).
    BASE_MULTIPLE_TOP = "hot.base.multiple_top_templates";
    /// A VDU of the flavour has no `OS::Nova::Server` named after it.
    BASE_VDU_SERVER_MISSING = "hot.base.vdu_server_missing";
    /// An `OS::Nova::Server` is not named after a VDU of the flavour.
    BASE_SERVER_NOT_VDU = "hot.base.server_not_vdu";
    /// A VduCp of the flavour has no `OS::Neutron::Port` named after it.
    BASE_CP_PORT_MISSING = "hot.base.cp_port_missing";
    /// A port attached to a server is not named after a VduCp of the flavour.
    BASE_PORT_NOT_CP = "hot.base.port_not_cp";
    /// A CP's port is not attached to the server of the CP's VDU.
    BASE_CP_NOT_ATTACHED = "hot.base.cp_not_attached";
    /// A VirtualBlockStorage has no `OS::Cinder::Volume` named after it.
    BASE_VOLUME_MISSING = "hot.base.volume_missing";
    /// A volume is not attached to the server of the VDU that requires it.
    BASE_VOLUME_NOT_ATTACHED = "hot.base.volume_not_attached";
    /// An `OS::Cinder::Volume` is not named after a VirtualBlockStorage of the flavour.
    BASE_VOLUME_NOT_VBS = "hot.base.volume_not_vbs";
    /// A scaling aspect has no `OS::Heat::AutoScalingGroup` named after it in the top template.
    BASE_ASG_MISSING = "hot.base.asg_missing";
    /// An `OS::Heat::AutoScalingGroup` is not named after a scaling aspect of the flavour.
    BASE_ASG_NOT_ASPECT = "hot.base.asg_not_aspect";
    /// The ASG's min_size/max_size/desired_capacity disagree with the VNFD.
    BASE_ASG_SIZE_MISMATCH = "hot.base.asg_size_mismatch";
    /// `<aspect>_scale_out` / `<aspect>_scale_in` scaling policy is missing or malformed.
    BASE_SCALING_POLICY = "hot.base.scaling_policy";
    /// A scaling policy's adjustment differs from the aspect's step delta.
    BASE_SCALING_ADJUSTMENT = "hot.base.scaling_adjustment";
    /// A scaled VDU's server is not in the nested template of its aspect's group.
    BASE_VDU_OUTSIDE_GROUP = "hot.base.vdu_outside_group";
    /// A VDU outside any aspect is not defined in the top template.
    BASE_VDU_NOT_IN_TOP = "hot.base.vdu_not_in_top";
    /// An `nfv` reference names a VDU that is not in the flavour.
    BASE_NFV_UNKNOWN_VDU = "hot.base.nfv_unknown_vdu";
    /// An `nfv` reference names a CP that is not in the flavour.
    BASE_NFV_UNKNOWN_CP = "hot.base.nfv_unknown_cp";
    /// An `nfv` reference is not `[nfv, VDU|CP, <name>, <attribute>]` as Tacker's UserData expects.
    BASE_NFV_BAD_PATH = "hot.base.nfv_bad_path";
}
