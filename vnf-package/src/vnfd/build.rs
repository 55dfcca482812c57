//! Builds the typed [`Vnfd`] from a loaded TOSCA service and runs the SOL001
//! cross-checks. Types are recognised by their `derived_from` chain, so a node type
//! derived from `tosca.nodes.nfv.Vdu.Compute` is a VDU.

use super::codes;
use super::model::*;
use crate::diag::{Location, Report};
use crate::tosca::yaml::{Node, Value};
use crate::tosca::{
    self, Files, NodeTemplate, ServiceSet, ServiceTemplate, Topology, TypeKind, TypeRegistry,
    scalar,
};
use indexmap::IndexMap;

/// SOL001 type names the builder recognises (and anything derived from them).
pub mod sol001 {
    /// The VNF node type.
    pub const VNF: &str = "tosca.nodes.nfv.VNF";
    /// A VDU.
    pub const VDU: &str = "tosca.nodes.nfv.Vdu.Compute";
    /// A VDU connection point.
    pub const VDU_CP: &str = "tosca.nodes.nfv.VduCp";
    /// Block storage.
    pub const BLOCK_STORAGE: &str = "tosca.nodes.nfv.Vdu.VirtualBlockStorage";
    /// An internal virtual link.
    pub const VIRTUAL_LINK: &str = "tosca.nodes.nfv.VnfVirtualLink";
    /// Software image artifact.
    pub const SW_IMAGE: &str = "tosca.artifacts.nfv.SwImage";
    /// Scaling aspects policy.
    pub const SCALING_ASPECTS: &str = "tosca.policies.nfv.ScalingAspects";
    /// Per-VDU scaling deltas policy.
    pub const VDU_SCALING_DELTAS: &str = "tosca.policies.nfv.VduScalingAspectDeltas";
    /// Per-VDU initial delta policy.
    pub const VDU_INITIAL_DELTA: &str = "tosca.policies.nfv.VduInitialDelta";
    /// Instantiation levels policy.
    pub const INSTANTIATION_LEVELS: &str = "tosca.policies.nfv.InstantiationLevels";
    /// Per-VDU instantiation levels policy.
    pub const VDU_INSTANTIATION_LEVELS: &str = "tosca.policies.nfv.VduInstantiationLevels";
    /// Affinity rule.
    pub const AFFINITY: &str = "tosca.policies.nfv.AffinityRule";
    /// Anti-affinity rule.
    pub const ANTI_AFFINITY: &str = "tosca.policies.nfv.AntiAffinityRule";
    /// The LCM interface name on the VNF node.
    pub const VNFLCM: &str = "Vnflcm";
}

/// Loads the VNFD whose entry definitions are `entry` from any [`Files`] source: parses
/// and type-checks the TOSCA service, then builds and cross-checks the model.
///
/// Returns `None` when no model can be built (entry unreadable, no VNF node); the
/// model may be returned even when `report` holds errors.
pub fn load_files(files: &dyn Files, entry: &str, report: &mut Report) -> Option<Vnfd> {
    let set = tosca::load(files, entry, report)?;
    build(&set, report)
}

/// Builds the model from an already loaded service and runs the cross-checks.
pub fn build(set: &ServiceSet, report: &mut Report) -> Option<Vnfd> {
    let types = &set.types;
    let is_node = |nt: &NodeTemplate, ancestor: &str| {
        types.derives_from(TypeKind::Node, &nt.type_name, ancestor)
    };
    // The VNF node: entry file first, then any other file.
    let entry = set.entry_template();
    fn vnf_in<'a>(types: &TypeRegistry, t: &'a ServiceTemplate) -> Option<&'a NodeTemplate> {
        t.topology.as_ref().and_then(|topo| {
            topo.node_templates
                .values()
                .find(|nt| types.derives_from(TypeKind::Node, &nt.type_name, sol001::VNF))
        })
    }
    let found = entry
        .and_then(|t| vnf_in(types, t))
        .or_else(|| set.templates.values().find_map(|t| vnf_in(types, t)));
    let Some(vnf) = found else {
        report.error(
            codes::NO_VNF_NODE,
            format!("no node template derived from `{}` was found", sol001::VNF),
            Location::file(&set.entry),
        );
        return None;
    };
    let props = types.effective_properties(TypeKind::Node, &vnf.type_name, &vnf.properties);
    let text = |k: &str| props.get(k).and_then(scalar_text);
    let mut vnfd = Vnfd {
        entry_file: set.entry.clone(),
        node_type: vnf.type_name.clone(),
        descriptor_id: text("descriptor_id").unwrap_or_default(),
        descriptor_version: text("descriptor_version"),
        provider: text("provider").unwrap_or_default(),
        product_name: text("product_name").unwrap_or_default(),
        software_version: text("software_version").unwrap_or_default(),
        vnfm_info: props
            .get("vnfm_info")
            .and_then(Node::as_seq)
            .map(|s| s.iter().filter_map(scalar_text).collect())
            .unwrap_or_default(),
        flavours: IndexMap::new(),
        location: vnf.location.clone(),
    };
    for key in [
        "descriptor_id",
        "provider",
        "product_name",
        "software_version",
    ] {
        if text(key).is_none() && !is_function(props.get(key)) {
            report.error(
                codes::VNF_PROPERTY,
                format!("the VNF node `{}` has no `{key}`", vnf.name),
                vnf.location.clone(),
            );
        }
    }

    for t in set.templates.values() {
        let Some(topo) = &t.topology else { continue };
        let sm_vnf = topo
            .substitution
            .as_ref()
            .filter(|sm| types.derives_from(TypeKind::Node, &sm.node_type, sol001::VNF));
        let local_vnf = topo
            .node_templates
            .values()
            .find(|nt| is_node(nt, sol001::VNF));
        let (id, loc) = match sm_vnf {
            Some(sm) => {
                match sm.properties.get("flavour_id") {
                    Some(n) => match scalar_text(n) {
                        Some(s) => (
                            s,
                            at(
                                &t.file,
                                n,
                                "/topology_template/substitution_mappings/properties/flavour_id",
                            ),
                        ),
                        None => {
                            report.error(
                            codes::FLAVOUR_ID_MISSING,
                            "substitution_mappings.properties.flavour_id must be a string",
                            at(&t.file, n, "/topology_template/substitution_mappings/properties/flavour_id"),
                        );
                            continue;
                        }
                    },
                    None => match local_vnf
                        .and_then(|v| v.properties.get("flavour_id"))
                        .and_then(scalar_text)
                    {
                        Some(s) => (s, sm.location.clone()),
                        None => {
                            report.error(
                                codes::FLAVOUR_ID_MISSING,
                                "substitution_mappings has no properties.flavour_id",
                                sm.location.clone(),
                            );
                            continue;
                        }
                    },
                }
            }
            // A single-file VNFD: the entry topology is the flavour when its VNF node
            // names a literal flavour_id and no other file substitutes the VNF.
            None => continue,
        };
        if let Some(prev) = vnfd.flavours.get(&id) {
            report.error(
                codes::FLAVOUR_DUPLICATE,
                format!("flavour_id `{id}` is also defined in `{}`", prev.file),
                loc,
            );
            continue;
        }
        let f = build_flavour(types, t, topo, &id, loc, report);
        vnfd.flavours.insert(id, f);
    }
    if vnfd.flavours.is_empty() {
        let single = entry.and_then(|t| t.topology.as_ref().map(|topo| (t, topo)));
        let id = props.get("flavour_id").and_then(scalar_text);
        match (single, id) {
            (Some((t, topo)), Some(id)) => {
                let f = build_flavour(types, t, topo, &id, vnf.location.clone(), report);
                vnfd.flavours.insert(id, f);
            }
            _ => report.error(
                codes::NO_FLAVOUR,
                "the VNFD defines no deployment flavour (no substitution_mappings of the VNF \
                 node type with properties.flavour_id)",
                Location::file(&set.entry),
            ),
        }
    }
    Some(vnfd)
}

fn is_function(n: Option<&Node>) -> bool {
    matches!(n.and_then(Node::as_map), Some([(k, _)]) if k.name.starts_with("get_") || k.name == "concat")
}

/// A string, number or boolean rendered as text; None for other kinds.
fn scalar_text(n: &Node) -> Option<String> {
    match &n.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(n.render()),
        _ => None,
    }
}

fn at(file: &str, n: &Node, pointer: &str) -> Location {
    let l = if n.line == 0 {
        Location::file(file)
    } else {
        Location::at(file, n.line, n.column)
    };
    l.with_pointer(pointer)
}

fn uint(n: Option<&Node>) -> Option<u32> {
    n.and_then(Node::as_i64).and_then(|i| u32::try_from(i).ok())
}

fn size(n: Option<&Node>) -> Option<u64> {
    n.and_then(Node::as_str)
        .and_then(|s| scalar::size_bytes(s).ok())
}

fn strings(n: Option<&Node>) -> Vec<String> {
    match n {
        Some(n) => match n.as_seq() {
            Some(items) => items.iter().filter_map(scalar_text).collect(),
            None => scalar_text(n).into_iter().collect(),
        },
        None => Vec::new(),
    }
}

fn build_flavour(
    types: &TypeRegistry,
    t: &ServiceTemplate,
    topo: &Topology,
    id: &str,
    location: Location,
    report: &mut Report,
) -> Flavour {
    let file = t.file.as_str();
    let is = |nt: &NodeTemplate, a: &str| types.derives_from(TypeKind::Node, &nt.type_name, a);
    let mut f = Flavour {
        id: id.to_owned(),
        description: None,
        file: file.to_owned(),
        vdus: IndexMap::new(),
        cps: IndexMap::new(),
        volumes: IndexMap::new(),
        virtual_links: IndexMap::new(),
        aspects: IndexMap::new(),
        instantiation_levels: IndexMap::new(),
        default_level: None,
        placement_rules: Vec::new(),
        lcm_hooks: IndexMap::new(),
        artifacts: IndexMap::new(),
        substitution_requirements: IndexMap::new(),
        location,
    };
    if let Some(sm) = &topo.substitution {
        for (k, (node, req, _)) in &sm.requirements {
            f.substitution_requirements
                .insert(k.clone(), (node.clone(), req.clone()));
        }
    }
    // The flavour's VNF node: interfaces and artifacts.
    if let Some(vnf) = topo.node_templates.values().find(|nt| is(nt, sol001::VNF)) {
        let props = types.effective_properties(TypeKind::Node, &vnf.type_name, &vnf.properties);
        f.description = props.get("flavour_description").and_then(scalar_text);
        for a in vnf.artifacts.values() {
            f.artifacts.insert(
                a.name.clone(),
                Artifact {
                    name: a.name.clone(),
                    artifact_type: a.artifact_type.clone(),
                    file: a.resolved.clone().unwrap_or_else(|| a.file.clone()),
                    in_package: a.resolved.is_some(),
                    location: a.location.clone(),
                },
            );
        }
        if let Some(ia) = vnf.interfaces.get(sol001::VNFLCM) {
            for op in ia.operations.values() {
                let Some(imp) = &op.implementation else {
                    continue;
                };
                for name in std::iter::once(&imp.primary).chain(imp.dependencies.iter()) {
                    match f.artifacts.get(name) {
                        None => report.error(
                            codes::HOOK_UNKNOWN_ARTIFACT,
                            format!(
                                "Vnflcm `{}` names artifact `{name}`, which `{}` does not define",
                                op.name, vnf.name
                            ),
                            imp.location.clone(),
                        ),
                        Some(a) if !a.in_package => report.warning(
                            codes::HOOK_ARTIFACT_OUTSIDE,
                            format!(
                                "Vnflcm `{}` artifact `{name}` is not a file of the package \
                                 (`{}`)",
                                op.name, a.file
                            ),
                            imp.location.clone(),
                        ),
                        Some(_) => {}
                    }
                }
                f.lcm_hooks.insert(
                    op.name.clone(),
                    LcmHook {
                        operation: op.name.clone(),
                        artifact: imp.primary.clone(),
                        dependencies: imp.dependencies.clone(),
                        location: op.location.clone(),
                    },
                );
            }
        }
    }
    // Node templates.
    for nt in topo.node_templates.values() {
        let props = types.effective_properties(TypeKind::Node, &nt.type_name, &nt.properties);
        let ptr = nt.pointer.as_str();
        let image_artifact = nt
            .artifacts
            .values()
            .find(|a| types.derives_from(TypeKind::Artifact, &a.artifact_type, sol001::SW_IMAGE))
            .map(|a| a.resolved.clone().unwrap_or_else(|| a.file.clone()));
        if is(nt, sol001::VDU) {
            let profile = props.get("vdu_profile");
            let min = uint(profile.and_then(|p| p.get("min_number_of_instances")));
            let max = uint(profile.and_then(|p| p.get("max_number_of_instances")));
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                report.error(
                    codes::VDU_PROFILE,
                    format!(
                        "VDU `{}`: min_number_of_instances {lo} > max_number_of_instances {hi}",
                        nt.name
                    ),
                    profile
                        .map(|p| at(file, p, &format!("{ptr}/properties/vdu_profile")))
                        .unwrap_or_else(|| nt.location.clone()),
                );
            }
            let sw_image = props.get("sw_image_data").and_then(|s| {
                Some(SwImageData {
                    name: s.get("name").and_then(scalar_text)?,
                    version: s.get("version").and_then(scalar_text),
                    checksum: s.get("checksum").and_then(|c| {
                        Some(Checksum {
                            algorithm: c.get("algorithm").and_then(scalar_text)?,
                            hash: c.get("hash").and_then(scalar_text)?,
                        })
                    }),
                    container_format: s.get("container_format").and_then(scalar_text),
                    disk_format: s.get("disk_format").and_then(scalar_text),
                    min_disk_bytes: size(s.get("min_disk")),
                    min_ram_bytes: size(s.get("min_ram")),
                    size_bytes: size(s.get("size")),
                })
            });
            let vc = nt.capabilities.get("virtual_compute").map(|(p, _)| p);
            let flavor_name = vc
                .and_then(|p| p.get("requested_additional_capabilities"))
                .and_then(|r| {
                    r.get("properties")
                        .or_else(|| r.as_map().and_then(|m| m.first().map(|(_, v)| v)))
                })
                .and_then(|r| r.get("requested_additional_capability_name"))
                .and_then(scalar_text);
            let virtual_storages = nt
                .requirements
                .iter()
                .filter(|r| r.name == "virtual_storage")
                .filter_map(|r| r.node.clone())
                .collect();
            f.vdus.insert(
                nt.name.clone(),
                Vdu {
                    name: nt.name.clone(),
                    display_name: props.get("name").and_then(scalar_text),
                    description: props.get("description").and_then(scalar_text),
                    min_instances: min.unwrap_or(0),
                    max_instances: max.unwrap_or(0),
                    initial_delta: 1,
                    sw_image,
                    image_artifact,
                    flavor_name,
                    num_virtual_cpu: uint(
                        vc.and_then(|p| p.get("virtual_cpu"))
                            .and_then(|c| c.get("num_virtual_cpu")),
                    ),
                    virtual_mem_bytes: size(
                        vc.and_then(|p| p.get("virtual_memory"))
                            .and_then(|m| m.get("virtual_mem_size")),
                    ),
                    local_storage_bytes: size(
                        vc.and_then(|p| p.get("virtual_local_storage"))
                            .and_then(Node::as_seq)
                            .and_then(|s| s.first())
                            .and_then(|s| s.get("size_of_storage")),
                    ),
                    virtual_storages,
                    level_instances: IndexMap::new(),
                    location: nt.location.clone(),
                },
            );
        } else if is(nt, sol001::VDU_CP) {
            let binding = nt.requirements.iter().find(|r| r.name == "virtual_binding");
            let vdu = binding.and_then(|b| b.node.clone());
            if vdu.is_none() {
                report.error(
                    codes::CP_BINDING_MISSING,
                    format!("VduCp `{}` has no virtual_binding requirement", nt.name),
                    nt.location.clone(),
                );
            }
            let virtual_link = nt
                .requirements
                .iter()
                .find(|r| r.name == "virtual_link")
                .and_then(|r| r.node.clone())
                .filter(|n| topo.node_templates.contains_key(n));
            f.cps.insert(
                nt.name.clone(),
                VduCp {
                    name: nt.name.clone(),
                    vdu: vdu.unwrap_or_default(),
                    virtual_link,
                    order: uint(props.get("order")),
                    layer_protocols: strings(props.get("layer_protocols")),
                    vnic_type: props.get("vnic_type").and_then(scalar_text),
                    location: nt.location.clone(),
                },
            );
        } else if is(nt, sol001::BLOCK_STORAGE) {
            let size_bytes = size(
                props
                    .get("virtual_block_storage_data")
                    .and_then(|d| d.get("size_of_storage")),
            )
            .unwrap_or(0);
            f.volumes.insert(
                nt.name.clone(),
                VirtualBlockStorage {
                    name: nt.name.clone(),
                    size_bytes,
                    image_artifact,
                    location: nt.location.clone(),
                },
            );
        } else if is(nt, sol001::VIRTUAL_LINK) {
            let cidr = props
                .get("vl_profile")
                .and_then(|p| p.get("virtual_link_protocol_data"))
                .and_then(Node::as_seq)
                .and_then(|items| {
                    items.iter().find_map(|d| {
                        d.get("l3_protocol_data")
                            .and_then(|l| l.get("cidr"))
                            .and_then(scalar_text)
                    })
                });
            f.virtual_links.insert(
                nt.name.clone(),
                VirtualLink {
                    name: nt.name.clone(),
                    layer_protocols: strings(
                        props
                            .get("connectivity_type")
                            .and_then(|c| c.get("layer_protocols")),
                    ),
                    cidr,
                    location: nt.location.clone(),
                },
            );
        }
    }
    // Type checks of bindings and storage targets (missing targets are TOSCA findings).
    for nt in topo.node_templates.values() {
        for r in &nt.requirements {
            let Some(target) = r.node.as_deref() else {
                continue;
            };
            let Some(tnt) = topo.node_templates.get(target) else {
                continue;
            };
            if is(nt, sol001::VDU_CP) && r.name == "virtual_binding" && !is(tnt, sol001::VDU) {
                report.error(
                    codes::CP_BINDING_TYPE,
                    format!(
                        "VduCp `{}` is bound to `{target}` of type `{}`, which is not a VDU",
                        nt.name, tnt.type_name
                    ),
                    r.node_location.clone(),
                );
            }
            if is(nt, sol001::VDU) && r.name == "virtual_storage" && !is(tnt, sol001::BLOCK_STORAGE)
            {
                report.error(
                    codes::STORAGE_TYPE,
                    format!(
                        "VDU `{}` virtual_storage `{target}` is of type `{}`, not a \
                         Vdu.VirtualBlockStorage",
                        nt.name, tnt.type_name
                    ),
                    r.node_location.clone(),
                );
            }
        }
    }
    build_policies(types, t, topo, &mut f, report);
    cross_check(&f, report);
    f
}

fn build_policies(
    types: &TypeRegistry,
    t: &ServiceTemplate,
    topo: &Topology,
    f: &mut Flavour,
    report: &mut Report,
) {
    let file = t.file.as_str();
    let is_pol = |ty: &str, a: &str| types.derives_from(TypeKind::Policy, ty, a);
    // Pass 1: aspects and levels.
    for p in &topo.policies {
        let ptr = format!("{}/properties", p.pointer);
        if is_pol(&p.type_name, sol001::SCALING_ASPECTS) {
            let Some(aspects) = p.properties.get("aspects").and_then(Node::as_map) else {
                continue;
            };
            for (k, a) in aspects {
                f.aspects.insert(
                    k.name.clone(),
                    ScalingAspect {
                        id: k.name.clone(),
                        name: a.get("name").and_then(scalar_text),
                        description: a.get("description").and_then(scalar_text),
                        max_scale_level: uint(a.get("max_scale_level")).unwrap_or(0),
                        step_deltas: strings(a.get("step_deltas")),
                        vdu_deltas: IndexMap::new(),
                        location: at(
                            file,
                            a,
                            &format!("{ptr}/aspects/{}", tosca::parse::esc(&k.name)),
                        ),
                    },
                );
            }
        } else if is_pol(&p.type_name, sol001::INSTANTIATION_LEVELS) {
            if let Some(levels) = p.properties.get("levels").and_then(Node::as_map) {
                for (k, l) in levels {
                    let mut scale_info = IndexMap::new();
                    if let Some(si) = l.get("scale_info").and_then(Node::as_map) {
                        for (ak, av) in si {
                            scale_info
                                .insert(ak.name.clone(), uint(av.get("scale_level")).unwrap_or(0));
                        }
                    }
                    f.instantiation_levels.insert(
                        k.name.clone(),
                        InstantiationLevel {
                            id: k.name.clone(),
                            description: l.get("description").and_then(scalar_text),
                            scale_info,
                            location: at(
                                file,
                                l,
                                &format!("{ptr}/levels/{}", tosca::parse::esc(&k.name)),
                            ),
                        },
                    );
                }
            }
            if let Some(d) = p.properties.get("default_level") {
                f.default_level = scalar_text(d);
                if let Some(id) = &f.default_level
                    && !levels_contains(p, id)
                {
                    report.error(
                        codes::DEFAULT_LEVEL_UNKNOWN,
                        format!("default_level `{id}` is not one of the policy's levels"),
                        at(file, d, &format!("{ptr}/default_level")),
                    );
                }
            }
        }
    }
    // Pass 2: per-VDU policies.
    for p in &topo.policies {
        let ptr = format!("{}/properties", p.pointer);
        let vdu_policy = [
            sol001::VDU_SCALING_DELTAS,
            sol001::VDU_INITIAL_DELTA,
            sol001::VDU_INSTANTIATION_LEVELS,
        ]
        .iter()
        .any(|a| is_pol(&p.type_name, a));
        let placement = if is_pol(&p.type_name, sol001::ANTI_AFFINITY) {
            Some(PlacementKind::AntiAffinity)
        } else if is_pol(&p.type_name, sol001::AFFINITY) {
            Some(PlacementKind::Affinity)
        } else {
            None
        };
        if !vdu_policy && placement.is_none() {
            continue;
        }
        // Targets, groups expanded to members; only existing VDUs are kept.
        let mut targets: Vec<String> = Vec::new();
        for (name, loc) in &p.targets {
            let members: Vec<String> = match topo.groups.get(name) {
                Some(g) if placement.is_some() => {
                    g.members.iter().map(|(m, _)| m.clone()).collect()
                }
                _ => vec![name.clone()],
            };
            for m in members {
                if f.vdus.contains_key(&m) {
                    targets.push(m);
                } else if topo.node_templates.contains_key(&m) {
                    report.error(
                        codes::POLICY_TARGET_TYPE,
                        format!("policy `{}` targets `{m}`, which is not a VDU", p.name),
                        loc.clone(),
                    );
                }
            }
        }
        if let Some(kind) = placement {
            f.placement_rules.push(PlacementRule {
                name: p.name.clone(),
                kind,
                scope: p
                    .properties
                    .get("scope")
                    .and_then(scalar_text)
                    .unwrap_or_default(),
                targets,
                location: p.location.clone(),
            });
        } else if is_pol(&p.type_name, sol001::VDU_SCALING_DELTAS) {
            let aspect_node = p.properties.get("aspect");
            let Some(aspect) = aspect_node.and_then(scalar_text) else {
                continue;
            };
            let mut deltas = IndexMap::new();
            if let Some(d) = p.properties.get("deltas").and_then(Node::as_map) {
                for (k, v) in d {
                    deltas.insert(
                        k.name.clone(),
                        uint(v.get("number_of_instances")).unwrap_or(0),
                    );
                }
            }
            match f.aspects.get_mut(&aspect) {
                Some(a) => {
                    for vdu in targets {
                        a.vdu_deltas.insert(vdu, deltas.clone());
                    }
                }
                None => report.error(
                    codes::ASPECT_UNKNOWN,
                    format!(
                        "policy `{}` names aspect `{aspect}`, which no ScalingAspects policy defines",
                        p.name
                    ),
                    aspect_node
                        .map(|n| at(file, n, &format!("{ptr}/aspect")))
                        .unwrap_or_else(|| p.location.clone()),
                ),
            }
        } else if is_pol(&p.type_name, sol001::VDU_INITIAL_DELTA) {
            let n = uint(
                p.properties
                    .get("initial_delta")
                    .and_then(|d| d.get("number_of_instances")),
            );
            if let Some(n) = n {
                for vdu in targets {
                    if let Some(v) = f.vdus.get_mut(&vdu) {
                        v.initial_delta = n;
                    }
                }
            }
        } else if is_pol(&p.type_name, sol001::VDU_INSTANTIATION_LEVELS) {
            let Some(levels) = p.properties.get("levels").and_then(Node::as_map) else {
                continue;
            };
            for (k, l) in levels {
                if !f.instantiation_levels.contains_key(&k.name) {
                    report.error(
                        codes::LEVEL_UNKNOWN,
                        format!(
                            "policy `{}` names level `{}`, which no InstantiationLevels policy defines",
                            p.name, k.name
                        ),
                        Location::at(file, k.line, k.column)
                            .with_pointer(format!("{ptr}/levels/{}", tosca::parse::esc(&k.name))),
                    );
                }
                if let Some(n) = uint(l.get("number_of_instances")) {
                    for vdu in &targets {
                        if let Some(v) = f.vdus.get_mut(vdu) {
                            v.level_instances.insert(k.name.clone(), n);
                        }
                    }
                }
            }
        }
    }
}

fn levels_contains(p: &tosca::Policy, id: &str) -> bool {
    p.properties.get("levels").and_then(|l| l.get(id)).is_some()
}

fn cross_check(f: &Flavour, report: &mut Report) {
    for a in f.aspects.values() {
        for (vdu, deltas) in &a.vdu_deltas {
            for d in &a.step_deltas {
                if !deltas.contains_key(d) {
                    report.error(
                        codes::DELTA_UNKNOWN,
                        format!(
                            "aspect `{}` step delta `{d}` is not among the deltas of VDU `{vdu}`",
                            a.id
                        ),
                        a.location.clone(),
                    );
                }
            }
        }
    }
    for l in f.instantiation_levels.values() {
        for (aspect, level) in &l.scale_info {
            match f.aspects.get(aspect) {
                None => report.error(
                    codes::ASPECT_UNKNOWN,
                    format!(
                        "instantiation level `{}` names aspect `{aspect}`, which no \
                         ScalingAspects policy defines",
                        l.id
                    ),
                    l.location.clone(),
                ),
                Some(a) if *level > a.max_scale_level => report.error(
                    codes::SCALE_LEVEL_EXCEEDS,
                    format!(
                        "instantiation level `{}`: scale_level {level} of aspect `{aspect}` \
                         exceeds its max_scale_level {}",
                        l.id, a.max_scale_level
                    ),
                    l.location.clone(),
                ),
                Some(_) => {}
            }
        }
    }
    let mut seen: IndexMap<&str, &str> = IndexMap::new();
    for a in f.aspects.values() {
        for vdu in a.vdus() {
            if let Some(prev) = seen.insert(vdu, &a.id) {
                report.warning(
                    codes::VDU_MULTIPLE_ASPECTS,
                    format!("VDU `{vdu}` is scaled by both `{prev}` and `{}`", a.id),
                    a.location.clone(),
                );
            }
        }
    }
    for v in f.vdus.values() {
        if v.min_instances > v.max_instances {
            continue; // reported as a profile error
        }
        if v.initial_delta < v.min_instances || v.initial_delta > v.max_instances {
            report.error(
                codes::INSTANCES_OUT_OF_PROFILE,
                format!(
                    "VDU `{}`: initial delta {} is outside vdu_profile [{}, {}]",
                    v.name, v.initial_delta, v.min_instances, v.max_instances
                ),
                v.location.clone(),
            );
            continue;
        }
        if let Some(a) = f.aspect_of_vdu(&v.name) {
            let top = u64::from(v.initial_delta)
                + u64::from(a.step_delta(&v.name)) * u64::from(a.max_scale_level);
            if top > u64::from(v.max_instances) {
                report.error(
                    codes::INSTANCES_OUT_OF_PROFILE,
                    format!(
                        "VDU `{}`: initial delta {} + {} per step × max_scale_level {} of `{}` \
                         = {top} exceeds vdu_profile max {}",
                        v.name,
                        v.initial_delta,
                        a.step_delta(&v.name),
                        a.max_scale_level,
                        a.id,
                        v.max_instances
                    ),
                    v.location.clone(),
                );
                continue;
            }
        }
        for (level, n) in &v.level_instances {
            let Some(l) = f.instantiation_levels.get(level) else {
                continue;
            };
            let computed = f.instances_at_level(&v.name, Some(l));
            if computed != *n {
                report.warning(
                    codes::LEVEL_INSTANCES_MISMATCH,
                    format!(
                        "VDU `{}` at level `{level}`: VduInstantiationLevels says {n}, the \
                         aspects give {computed}",
                        v.name
                    ),
                    v.location.clone(),
                );
            }
        }
    }
}
