//! HOT generation: VNFD flavour + instantiation level + instantiate request → [`HotBundle`].
//!
//! Layout (the naming contract Tacker and the driver rely on):
//! - one `OS::Heat::AutoScalingGroup` per scaling aspect, named after the aspect, with
//!   `OS::Heat::ScalingPolicy` resources `<aspect>_scale_out` / `<aspect>_scale_in`
//!   (adjustment = the aspect's step delta); its member template `nested/<aspect>.yaml`
//!   holds the aspect's VDU server (named after the VDU), its ports (named after the
//!   VduCps) and volumes (named after the VirtualBlockStorages);
//! - VDUs outside any aspect live in the top template under the same names;
//! - flavor, image and network come from the `nfv` parameter in Tacker's shape
//!   (`{get_param: [nfv, VDU, <vdu>, flavor]}`), passed into nested templates as
//!   parameters `flavor`, `image`, `<cp>_network`, `<cp>_fixed_ips`;
//! - placement rules become `OS::Nova::ServerGroup` resources named after the policy,
//!   wired as `scheduler_hints: {group: …}` (through the nested parameter
//!   `scheduler_hints`, the name Tacker's driver looks for);
//! - for an HA cluster whose `cluster_cp_name` is not a CP, a VIP port on the masters'
//!   network, whose address reaches the master ports' `allowed_address_pairs` through the
//!   nested parameter `vip_port_ip`.

use crate::error::HotError;
use crate::nfv::nfv_parameters;
use crate::template::{HEAT_TEMPLATE_VERSION, HotBundle, Template};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use vnf_package::request::InstantiateVnfRequest;
use vnf_package::vnfd::{
    Flavour, InstantiationLevel, PlacementKind, PlacementRule, ScalingAspect, Vdu, Vnfd,
};

/// The nested template key (and ASG `resource.type`) of an aspect.
pub fn nested_file_name(aspect: &str) -> String {
    format!("nested/{aspect}.yaml")
}

/// The only placement scope a Nova server group can express.
pub const SUPPORTED_PLACEMENT_SCOPE: &str = "nfvi_node";

/// Nested-template parameter carrying the VIP address into master members.
pub const VIP_PORT_IP_PARAM: &str = "vip_port_ip";

/// Nested-template parameter carrying the server group id (Tacker's name).
pub const SCHEDULER_HINTS_PARAM: &str = "scheduler_hints";

/// Builds the bundle for `flavour_id` at `level_id` (else the request's
/// `instantiationLevelId`, else the flavour's `default_level`; with none of them every
/// aspect is at scale level 0).
pub fn generate(
    vnfd: &Vnfd,
    flavour_id: &str,
    level_id: Option<&str>,
    request: &InstantiateVnfRequest,
) -> Result<HotBundle, HotError> {
    let flavour = vnfd
        .flavour(flavour_id)
        .ok_or_else(|| HotError::UnknownFlavour {
            flavour: flavour_id.to_string(),
            known: vnfd
                .flavours
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let level_id = level_id
        .or(request.instantiation_level_id.as_deref())
        .or(flavour.default_level.as_deref());
    let level =
        match level_id {
            Some(id) => Some(flavour.instantiation_levels.get(id).ok_or_else(|| {
                HotError::UnknownLevel {
                    flavour: flavour.id.clone(),
                    level: id.to_string(),
                }
            })?),
            None => None,
        };
    let level_name = level_id.unwrap_or("<none>");

    check_references(flavour)?;
    let groups = aspect_groups(flavour)?;
    let rules = placement(flavour)?;
    let nfv = nfv_parameters(flavour, request)?;
    check_fixed_addresses(flavour, &nfv)?;
    let vip = vip_plan(flavour, request, level, &groups)?;

    let mut top = Resources::new("top.yaml");
    let mut files = IndexMap::new();

    let mut used_rules: Vec<&PlacementRule> = Vec::new();
    for rule in rules.values() {
        if !used_rules.iter().any(|r| r.name == rule.name) {
            used_rules.push(rule);
        }
    }
    for rule in &used_rules {
        let policy = match rule.kind {
            PlacementKind::Affinity => "affinity",
            PlacementKind::AntiAffinity => "anti-affinity",
        };
        top.insert(
            &rule.name,
            "server group",
            json!({
                "type": "OS::Nova::ServerGroup",
                "properties": { "name": rule.name, "policies": [policy] }
            }),
        )?;
    }

    if let Some(vip) = &vip {
        top.insert(
            &vip.name,
            "VIP port",
            json!({
                "type": "OS::Neutron::Port",
                "properties": {
                    "network": { "get_param": ["nfv", "CP", vip.master_cp, "network"] }
                }
            }),
        )?;
    }

    for (aspect, vdu) in &groups {
        let desired = flavour.instances_at_level(&vdu.name, level);
        if desired < vdu.min_instances || desired > vdu.max_instances {
            return Err(HotError::CapacityOutOfRange {
                vdu: vdu.name.clone(),
                level: level_name.to_string(),
                desired,
                min: vdu.min_instances,
                max: vdu.max_instances,
            });
        }
        let delta = aspect.step_delta(&vdu.name);
        let file = nested_file_name(&aspect.id);
        let rule = rules.get(vdu.name.as_str()).copied();
        let vip_here = vip.as_ref().filter(|v| v.master_vdu == vdu.name);

        let mut props = Map::new();
        props.insert("flavor".into(), nfv_ref("VDU", &vdu.name, "flavor"));
        props.insert("image".into(), nfv_ref("VDU", &vdu.name, "image"));
        let mut params = Map::new();
        params.insert("flavor".into(), json!({ "type": "string" }));
        params.insert("image".into(), json!({ "type": "string" }));
        for cp in flavour.cps_of(&vdu.name) {
            props.insert(
                format!("{}_network", cp.name),
                nfv_ref("CP", &cp.name, "network"),
            );
            props.insert(
                format!("{}_fixed_ips", cp.name),
                nfv_ref("CP", &cp.name, "fixed_ips"),
            );
            params.insert(format!("{}_network", cp.name), json!({ "type": "string" }));
            params.insert(format!("{}_fixed_ips", cp.name), json!({ "type": "json" }));
        }
        if let Some(v) = vip_here {
            props.insert(
                VIP_PORT_IP_PARAM.into(),
                json!({ "get_attr": [v.name, "fixed_ips", 0, "ip_address"] }),
            );
            params.insert(VIP_PORT_IP_PARAM.into(), json!({ "type": "string" }));
        }
        if let Some(rule) = rule {
            props.insert(
                SCHEDULER_HINTS_PARAM.into(),
                json!({ "get_resource": rule.name }),
            );
            params.insert(SCHEDULER_HINTS_PARAM.into(), json!({ "type": "string" }));
        }

        let mut nested = Resources::new(&file);
        let mode = Mode::Nested {
            vip_cp: vip_here.map(|v| v.master_cp.as_str()),
            grouped: rule.is_some(),
        };
        vdu_resources(flavour, vdu, &mode, &mut nested)?;
        files.insert(
            file.clone(),
            Template(json!({
                "heat_template_version": HEAT_TEMPLATE_VERSION,
                "description": format!(
                    "Member of scaling aspect {} (VDU {}), generated by vnf-mgmt",
                    aspect.id, vdu.name
                ),
                "parameters": params,
                "resources": nested.map,
            })),
        );

        top.insert(
            &aspect.id,
            "AutoScalingGroup",
            json!({
                "type": "OS::Heat::AutoScalingGroup",
                "properties": {
                    "min_size": vdu.min_instances,
                    "max_size": vdu.max_instances,
                    "desired_capacity": desired,
                    "resource": { "type": file, "properties": props }
                }
            }),
        )?;
        for (suffix, adjustment) in [
            ("scale_out", i64::from(delta)),
            ("scale_in", -i64::from(delta)),
        ] {
            top.insert(
                &format!("{}_{suffix}", aspect.id),
                "ScalingPolicy",
                json!({
                    "type": "OS::Heat::ScalingPolicy",
                    "properties": {
                        "adjustment_type": "change_in_capacity",
                        "auto_scaling_group_id": { "get_resource": aspect.id },
                        "scaling_adjustment": adjustment
                    }
                }),
            )?;
        }
    }

    for vdu in flavour.vdus.values() {
        if groups.iter().any(|(_, v)| v.name == vdu.name) {
            continue;
        }
        let count = flavour.instances_at_level(&vdu.name, level);
        if count != 1 {
            return Err(HotError::InstancesWithoutAspect {
                vdu: vdu.name.clone(),
                count,
            });
        }
        let mode = Mode::Top {
            group: rules.get(vdu.name.as_str()).map(|r| r.name.as_str()),
        };
        vdu_resources(flavour, vdu, &mode, &mut top)?;
    }

    let description = format!(
        "{} {} flavour {}{}, generated by vnf-mgmt",
        vnfd.provider,
        vnfd.product_name,
        flavour.id,
        level_id.map(|l| format!(" level {l}")).unwrap_or_default()
    );
    let top = Template(json!({
        "heat_template_version": HEAT_TEMPLATE_VERSION,
        "description": description,
        "parameters": { "nfv": { "type": "json" } },
        "resources": top.map,
    }));
    let mut parameters = Map::new();
    parameters.insert("nfv".into(), nfv);
    Ok(HotBundle {
        top,
        files,
        parameters,
    })
}

/// Resources of one template, with collision detection.
struct Resources {
    template: String,
    map: Map<String, Value>,
}

impl Resources {
    fn new(template: &str) -> Self {
        Resources {
            template: template.to_string(),
            map: Map::new(),
        }
    }

    fn insert(&mut self, name: &str, what: &str, value: Value) -> Result<(), HotError> {
        if self.map.contains_key(name) {
            return Err(HotError::NameCollision {
                name: name.to_string(),
                template: self.template.clone(),
                what: what.to_string(),
            });
        }
        self.map.insert(name.to_string(), value);
        Ok(())
    }
}

enum Mode<'a> {
    /// In the top template; `group` is the server group resource, if any.
    Top { group: Option<&'a str> },
    /// In an aspect's nested template.
    Nested {
        vip_cp: Option<&'a str>,
        grouped: bool,
    },
}

fn nfv_ref(kind: &str, name: &str, attr: &str) -> Value {
    json!({ "get_param": ["nfv", kind, name, attr] })
}

/// Volumes, ports and the server of one VDU.
fn vdu_resources(
    flavour: &Flavour,
    vdu: &Vdu,
    mode: &Mode<'_>,
    out: &mut Resources,
) -> Result<(), HotError> {
    let mut bdm = Vec::new();
    for (i, vol) in flavour.volumes_of(&vdu.name).into_iter().enumerate() {
        let letter = b"bcdefghijklmnopqrstuvwxyz"
            .get(i)
            .copied()
            .ok_or_else(|| HotError::TooManyVolumes {
                vdu: vdu.name.clone(),
                count: vdu.virtual_storages.len(),
            })?;
        out.insert(
            &vol.name,
            "volume",
            json!({
                "type": "OS::Cinder::Volume",
                "properties": { "name": vol.name, "size": vol.size_gib() }
            }),
        )?;
        bdm.push(json!({
            "device_name": format!("vd{}", char::from(letter)),
            "volume_id": { "get_resource": vol.name },
            "boot_index": -1
        }));
    }
    let mut networks = Vec::new();
    for cp in flavour.cps_of(&vdu.name) {
        let mut props = Map::new();
        match mode {
            Mode::Top { .. } => {
                props.insert("network".into(), nfv_ref("CP", &cp.name, "network"));
                props.insert("fixed_ips".into(), nfv_ref("CP", &cp.name, "fixed_ips"));
            }
            Mode::Nested { vip_cp, .. } => {
                props.insert(
                    "network".into(),
                    json!({ "get_param": format!("{}_network", cp.name) }),
                );
                props.insert(
                    "fixed_ips".into(),
                    json!({ "get_param": format!("{}_fixed_ips", cp.name) }),
                );
                if *vip_cp == Some(cp.name.as_str()) {
                    props.insert(
                        "allowed_address_pairs".into(),
                        json!([{ "ip_address": { "get_param": VIP_PORT_IP_PARAM } }]),
                    );
                }
            }
        }
        out.insert(
            &cp.name,
            "port",
            json!({ "type": "OS::Neutron::Port", "properties": props }),
        )?;
        networks.push(json!({ "port": { "get_resource": cp.name } }));
    }
    let mut props = Map::new();
    props.insert("name".into(), Value::String(vdu.name.clone()));
    match mode {
        Mode::Top { .. } => {
            props.insert("flavor".into(), nfv_ref("VDU", &vdu.name, "flavor"));
            props.insert("image".into(), nfv_ref("VDU", &vdu.name, "image"));
        }
        Mode::Nested { .. } => {
            props.insert("flavor".into(), json!({ "get_param": "flavor" }));
            props.insert("image".into(), json!({ "get_param": "image" }));
        }
    }
    if !bdm.is_empty() {
        props.insert("block_device_mapping_v2".into(), Value::Array(bdm));
    }
    if !networks.is_empty() {
        props.insert("networks".into(), Value::Array(networks));
    }
    match mode {
        Mode::Top { group: Some(g) } => {
            props.insert(
                "scheduler_hints".into(),
                json!({ "group": { "get_resource": g } }),
            );
        }
        Mode::Nested { grouped: true, .. } => {
            props.insert(
                "scheduler_hints".into(),
                json!({ "group": { "get_param": SCHEDULER_HINTS_PARAM } }),
            );
        }
        _ => {}
    }
    out.insert(
        &vdu.name,
        "server",
        json!({ "type": "OS::Nova::Server", "properties": props }),
    )
}

fn check_references(flavour: &Flavour) -> Result<(), HotError> {
    for cp in flavour.cps.values() {
        if !flavour.vdus.contains_key(&cp.vdu) {
            return Err(HotError::CpUnknownVdu {
                cp: cp.name.clone(),
                vdu: cp.vdu.clone(),
            });
        }
    }
    for vdu in flavour.vdus.values() {
        for s in &vdu.virtual_storages {
            if !flavour.volumes.contains_key(s) {
                return Err(HotError::VolumeUnknown {
                    vdu: vdu.name.clone(),
                    volume: s.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Each aspect with its single VDU.
fn aspect_groups(flavour: &Flavour) -> Result<Vec<(&ScalingAspect, &Vdu)>, HotError> {
    let mut out = Vec::new();
    for aspect in flavour.aspects.values() {
        let names: Vec<&str> = aspect.vdus().collect();
        match names.as_slice() {
            [] => {
                return Err(HotError::AspectWithoutVdu {
                    aspect: aspect.id.clone(),
                });
            }
            [one] => match flavour.vdus.get(*one) {
                Some(vdu) => out.push((aspect, vdu)),
                None => {
                    return Err(HotError::AspectWithoutVdu {
                        aspect: aspect.id.clone(),
                    });
                }
            },
            many => {
                return Err(HotError::AspectMultipleVdus {
                    aspect: aspect.id.clone(),
                    vdus: many.join(", "),
                });
            }
        }
    }
    Ok(out)
}

/// VDU → the placement rule that targets it.
fn placement(flavour: &Flavour) -> Result<IndexMap<&str, &PlacementRule>, HotError> {
    let mut out: IndexMap<&str, &PlacementRule> = IndexMap::new();
    for rule in &flavour.placement_rules {
        if rule.scope != SUPPORTED_PLACEMENT_SCOPE {
            return Err(HotError::PlacementUnsupportedScope {
                rule: rule.name.clone(),
                scope: rule.scope.clone(),
            });
        }
        for target in &rule.targets {
            if !flavour.vdus.contains_key(target) {
                return Err(HotError::PlacementUnknownTarget {
                    rule: rule.name.clone(),
                    target: target.clone(),
                });
            }
            if let Some(prev) = out.get(target.as_str())
                && prev.name != rule.name
            {
                return Err(HotError::PlacementConflict {
                    vdu: target.clone(),
                    first: prev.name.clone(),
                    second: rule.name.clone(),
                });
            }
            out.insert(target.as_str(), rule);
        }
    }
    Ok(out)
}

/// A fixed address on a CP of a VDU that may have several instances would be given to
/// every instance.
fn check_fixed_addresses(flavour: &Flavour, nfv: &Value) -> Result<(), HotError> {
    for cp in flavour.cps.values() {
        let Some(vdu) = flavour.vdus.get(&cp.vdu) else {
            continue;
        };
        if vdu.max_instances <= 1 {
            continue;
        }
        let address = nfv
            .pointer(&format!("/CP/{}/fixed_ips", pointer_escape(&cp.name)))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|e| e.get("ip_address").and_then(Value::as_str));
        if let Some(address) = address {
            return Err(HotError::FixedAddressOnScaledCp {
                cp: cp.name.clone(),
                vdu: vdu.name.clone(),
                address: address.to_string(),
                max: vdu.max_instances,
            });
        }
    }
    Ok(())
}

pub(crate) fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Vip {
    name: String,
    master_vdu: String,
    master_cp: String,
}

fn vip_plan(
    flavour: &Flavour,
    request: &InstantiateVnfRequest,
    level: Option<&InstantiationLevel>,
    groups: &[(&ScalingAspect, &Vdu)],
) -> Result<Option<Vip>, HotError> {
    let Some(k8s) = request
        .additional_params
        .as_ref()
        .and_then(|a| a.k8s_cluster_installation_param.as_ref())
    else {
        return Ok(None);
    };
    let master = &k8s.master_node;
    let vip = &master.cluster_cp_name;
    if flavour.cps.contains_key(vip) {
        return Ok(None);
    }
    let no_master = || HotError::VipNoMasterCp { vip: vip.clone() };
    let from_aspect = master
        .aspect_id
        .as_deref()
        .and_then(|a| groups.iter().find(|(asp, _)| asp.id == a))
        .map(|(_, v)| v.name.clone());
    let from_cp = [Some(&master.ssh_cp_name), master.nic_cp_name.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|cp| flavour.cps.get(cp))
        .map(|cp| cp.vdu.clone());
    let master_vdu = from_aspect.or(from_cp).ok_or_else(no_master)?;
    let masters = flavour.instances_at_level(&master_vdu, level);
    if masters <= 1 {
        return Err(HotError::VipSingleMaster {
            vip: vip.clone(),
            vdu: master_vdu,
            masters,
        });
    }
    let cps = flavour.cps_of(&master_vdu);
    let master_cp = [master.nic_cp_name.as_ref(), Some(&master.ssh_cp_name)]
        .into_iter()
        .flatten()
        .find(|name| cps.iter().any(|c| &c.name == *name))
        .cloned()
        .or_else(|| cps.first().map(|c| c.name.clone()))
        .ok_or_else(no_master)?;
    Ok(Some(Vip {
        name: vip.clone(),
        master_vdu,
        master_cp,
    }))
}
