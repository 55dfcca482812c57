//! Checks a hand-written BaseHOT (Tacker's layout: `BaseHOT/<flavour>/*.yaml` is the top
//! template, `BaseHOT/<flavour>/nested/*.yaml` the nested ones, referenced by bare file
//! name) against the VNFD flavour and the naming contract.

use crate::check::{check_files_referenced, check_template_text, type_uses};
use crate::codes;
use crate::generate::pointer_escape;
use crate::lines::line_of_pointer;
use crate::template::Template;
use indexmap::IndexMap;
use serde_json::Value;
use vnf_package::vnfd::{Flavour, Vnfd};
use vnf_package::{Code, Location, Report};

const SERVER: &str = "OS::Nova::Server";
const PORT: &str = "OS::Neutron::Port";
const VOLUME: &str = "OS::Cinder::Volume";
const ASG: &str = "OS::Heat::AutoScalingGroup";
const POLICY: &str = "OS::Heat::ScalingPolicy";

/// One parsed file of the BaseHOT.
struct Doc<'a> {
    /// Package path.
    path: &'a str,
    text: &'a str,
    template: Template,
}

/// Checks the BaseHOT of `flavour` found among `files` (package path, text). Does nothing
/// when the package has no `BaseHOT/<flavour>/` files.
pub fn check_base_hot(files: &[(String, String)], vnfd: &Vnfd, flavour: &str, report: &mut Report) {
    let prefix = format!("BaseHOT/{flavour}/");
    let is_yaml = |p: &str| p.ends_with(".yaml") || p.ends_with(".yml");
    let mut tops = Vec::new();
    let mut nested = Vec::new();
    for (path, text) in files {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        if !is_yaml(rest) {
            continue;
        }
        if !rest.contains('/') {
            tops.push((path.as_str(), text.as_str()));
        } else if let Some(name) = rest.strip_prefix("nested/")
            && !name.contains('/')
        {
            nested.push((name, path.as_str(), text.as_str()));
        }
    }
    if tops.is_empty() && nested.is_empty() {
        return;
    }
    let Some(fl) = vnfd.flavour(flavour) else {
        report.error(
            codes::FLAVOUR_UNKNOWN,
            format!("BaseHOT/{flavour}/ exists but the VNFD has no flavour `{flavour}`"),
            Location::file(prefix.clone()),
        );
        return;
    };
    let Some(&(top_path, top_text)) = tops.last() else {
        report.error(
            codes::BASE_NO_TOP,
            format!("{prefix} has nested templates but no top template (*.yaml directly in it)"),
            Location::file(prefix.clone()),
        );
        return;
    };
    if tops.len() > 1 {
        report.warning(
            codes::BASE_MULTIPLE_TOP,
            format!(
                "{prefix} holds {} top templates ({}); Tacker uses whichever it lists last, \
                 this check uses {top_path}",
                tops.len(),
                tops.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
            ),
            Location::file(top_path),
        );
    }
    let parse = |path: &str, text: &str, report: &mut Report| -> Option<Template> {
        match Template::from_yaml(path, text) {
            Ok(t) => Some(t),
            Err(e) => {
                report.error(
                    codes::YAML_SYNTAX,
                    format!("invalid YAML: {}", e.message),
                    Location {
                        file: Some(path.to_string()),
                        line: e.line,
                        column: e.column,
                        pointer: None,
                    },
                );
                None
            }
        }
    };
    let Some(top_tpl) = parse(top_path, top_text, report) else {
        return;
    };
    let top = Doc {
        path: top_path,
        text: top_text,
        template: top_tpl,
    };
    let mut nested_docs: IndexMap<String, Doc<'_>> = IndexMap::new();
    for (name, path, text) in nested {
        if let Some(t) = parse(path, text, report) {
            nested_docs.insert(
                name.to_string(),
                Doc {
                    path,
                    text,
                    template: t,
                },
            );
        }
    }
    let file_map: IndexMap<String, Template> = nested_docs
        .iter()
        .map(|(k, d)| (k.clone(), d.template.clone()))
        .collect();

    check_template_text(top.path, top.text, &top.template, &file_map, report);
    for d in nested_docs.values() {
        check_template_text(d.path, d.text, &d.template, &file_map, report);
    }
    let mut all: Vec<(&str, &Template)> = vec![(top.path, &top.template)];
    all.extend(nested_docs.values().map(|d| (d.path, &d.template)));
    check_files_referenced(
        &all,
        &file_map,
        |name| {
            nested_docs
                .get(name)
                .map(|d| Location::file(d.path))
                .unwrap_or_default()
        },
        report,
    );

    let mut docs: Vec<&Doc<'_>> = vec![&top];
    docs.extend(nested_docs.values());
    Contract {
        flavour: fl,
        top: &top,
        docs,
        nested: &nested_docs,
        report,
    }
    .run();
}

struct Contract<'a, 'r> {
    flavour: &'a Flavour,
    top: &'a Doc<'a>,
    docs: Vec<&'a Doc<'a>>,
    nested: &'a IndexMap<String, Doc<'a>>,
    report: &'r mut Report,
}

/// `{get_resource: X}` → X.
fn get_resource(v: Option<&Value>) -> Option<&str> {
    v?.get("get_resource")?.as_str()
}

fn int(v: Option<&Value>) -> Option<i64> {
    v?.as_i64()
}

impl<'a> Contract<'a, '_> {
    fn loc(&self, doc: &Doc<'_>, pointer: &str) -> Location {
        let mut l = Location::file(doc.path).with_pointer(pointer);
        l.line = line_of_pointer(doc.text, pointer);
        l
    }

    fn res_loc(&self, doc: &Doc<'_>, name: &str) -> Location {
        self.loc(doc, &format!("/resources/{}", pointer_escape(name)))
    }

    fn emit(&mut self, code: Code, warning: bool, msg: String, loc: Location) {
        if warning {
            self.report.warning(code, msg, loc);
        } else {
            self.report.error(code, msg, loc);
        }
    }

    /// Resources of a type across all docs: (doc, name, definition).
    fn of_type(&self, ty: &str) -> Vec<(&'a Doc<'a>, &'a str, &'a Value)> {
        let mut out = Vec::new();
        for doc in &self.docs {
            for (name, def) in doc.template.resources().into_iter().flatten() {
                if def.get("type").and_then(Value::as_str) == Some(ty) {
                    out.push((*doc, name.as_str(), def));
                }
            }
        }
        out
    }

    fn run(mut self) {
        let fl = self.flavour;
        let servers = self.of_type(SERVER);
        let ports = self.of_type(PORT);
        let volumes = self.of_type(VOLUME);

        // Servers ↔ VDUs.
        for (doc, name, _) in &servers {
            if !fl.vdus.contains_key(*name) {
                let loc = self.res_loc(doc, name);
                self.emit(
                    codes::BASE_SERVER_NOT_VDU,
                    false,
                    format!(
                        "server `{name}` is not named after a VDU of flavour `{}` (VDUs: {})",
                        fl.id,
                        fl.vdus.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    loc,
                );
            }
        }
        for vdu in fl.vdus.values() {
            let Some((doc, _, server)) = servers.iter().find(|(_, n, _)| *n == vdu.name) else {
                let loc = Location::file(self.top.path);
                self.emit(
                    codes::BASE_VDU_SERVER_MISSING,
                    false,
                    format!(
                        "no OS::Nova::Server is named after VDU `{}` (defined at {})",
                        vdu.name, vdu.location
                    ),
                    loc,
                );
                continue;
            };
            match fl.aspect_of_vdu(&vdu.name) {
                Some(aspect) => {
                    let group_file = self
                        .top
                        .template
                        .resource(&aspect.id)
                        .and_then(|r| type_uses(r).get(1).map(|t| t.0));
                    let in_group = group_file
                        .and_then(|f| self.nested.get(f))
                        .is_some_and(|d| std::ptr::eq(d, *doc));
                    if group_file.is_some() && !in_group {
                        let loc = self.res_loc(doc, &vdu.name);
                        self.emit(
                            codes::BASE_VDU_OUTSIDE_GROUP,
                            false,
                            format!(
                                "VDU `{}` is scaled by aspect `{}`, so its server must be in the \
                                 group's template `{}`",
                                vdu.name,
                                aspect.id,
                                group_file.unwrap_or("?")
                            ),
                            loc,
                        );
                    }
                }
                None => {
                    if !std::ptr::eq(*doc, self.top) {
                        let loc = self.res_loc(doc, &vdu.name);
                        self.emit(
                            codes::BASE_VDU_NOT_IN_TOP,
                            false,
                            format!(
                                "VDU `{}` is in no scaling aspect, so its server must be in the \
                                 top template {}",
                                vdu.name, self.top.path
                            ),
                            loc,
                        );
                    }
                }
            }
            // Ports of the VDU's CPs attached to this server.
            let attached_ports: Vec<&str> = server
                .pointer("/properties/networks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|n| get_resource(n.get("port")))
                .collect();
            for cp in fl.cps_of(&vdu.name) {
                let Some((pdoc, _, _)) = ports.iter().find(|(_, n, _)| *n == cp.name) else {
                    let loc = self.res_loc(doc, &vdu.name);
                    self.emit(
                        codes::BASE_CP_PORT_MISSING,
                        false,
                        format!(
                            "no OS::Neutron::Port is named after CP `{}` of VDU `{}`",
                            cp.name, vdu.name
                        ),
                        loc,
                    );
                    continue;
                };
                if !std::ptr::eq(*pdoc, *doc) || !attached_ports.contains(&cp.name.as_str()) {
                    let loc = self.loc(
                        doc,
                        &format!("/resources/{}/properties", pointer_escape(&vdu.name)),
                    );
                    self.emit(
                        codes::BASE_CP_NOT_ATTACHED,
                        false,
                        format!(
                            "port `{}` is not in the `networks` of server `{}` (expected \
                             `- port: {{get_resource: {}}}` in the same template)",
                            cp.name, vdu.name, cp.name
                        ),
                        loc,
                    );
                }
            }
            // Volumes.
            let mut attached_vols: Vec<&str> = Vec::new();
            for key in ["block_device_mapping_v2", "block_device_mapping"] {
                attached_vols.extend(
                    server
                        .pointer(&format!("/properties/{key}"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|b| get_resource(b.get("volume_id"))),
                );
            }
            for (_, def) in doc.template.resources().into_iter().flatten() {
                if def.get("type").and_then(Value::as_str) == Some("OS::Cinder::VolumeAttachment")
                    && get_resource(def.pointer("/properties/instance_uuid"))
                        == Some(vdu.name.as_str())
                    && let Some(v) = get_resource(def.pointer("/properties/volume_id"))
                {
                    attached_vols.push(v);
                }
            }
            for vol in fl.volumes_of(&vdu.name) {
                let Some((vdoc, _, _)) = volumes.iter().find(|(_, n, _)| *n == vol.name) else {
                    let loc = self.res_loc(doc, &vdu.name);
                    self.emit(
                        codes::BASE_VOLUME_MISSING,
                        false,
                        format!(
                            "no OS::Cinder::Volume is named after virtual storage `{}` of VDU `{}`",
                            vol.name, vdu.name
                        ),
                        loc,
                    );
                    continue;
                };
                if !std::ptr::eq(*vdoc, *doc) || !attached_vols.contains(&vol.name.as_str()) {
                    let loc = self.res_loc(doc, &vdu.name);
                    self.emit(
                        codes::BASE_VOLUME_NOT_ATTACHED,
                        false,
                        format!(
                            "volume `{}` is not attached to server `{}` (expected a \
                             block_device_mapping_v2 entry with `volume_id: {{get_resource: {}}}`)",
                            vol.name, vdu.name, vol.name
                        ),
                        loc,
                    );
                }
            }
        }

        // Ports attached to servers but not named after a CP.
        for (doc, name, _) in &ports {
            if fl.cps.contains_key(*name) {
                continue;
            }
            let used_by_server = servers.iter().any(|(sdoc, _, s)| {
                std::ptr::eq(*sdoc, *doc)
                    && s.pointer("/properties/networks")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|n| get_resource(n.get("port")) == Some(*name))
            });
            if used_by_server {
                let loc = self.res_loc(doc, name);
                self.emit(
                    codes::BASE_PORT_NOT_CP,
                    false,
                    format!(
                        "port `{name}` is attached to a server but is not named after a VduCp of \
                         flavour `{}`",
                        fl.id
                    ),
                    loc,
                );
            }
        }
        for (doc, name, _) in &volumes {
            if !fl.volumes.contains_key(*name) {
                let loc = self.res_loc(doc, name);
                self.emit(
                    codes::BASE_VOLUME_NOT_VBS,
                    true,
                    format!(
                        "volume `{name}` is not named after a VirtualBlockStorage of flavour `{}`",
                        fl.id
                    ),
                    loc,
                );
            }
        }

        self.check_groups();
        self.check_nfv_refs();
    }

    fn check_groups(&mut self) {
        let fl = self.flavour;
        let top = self.top;
        let level = fl.level(None);
        for (name, def) in top.template.resources().into_iter().flatten() {
            if def.get("type").and_then(Value::as_str) == Some(ASG)
                && !fl.aspects.contains_key(name)
            {
                let loc = self.res_loc(top, name);
                self.emit(
                    codes::BASE_ASG_NOT_ASPECT,
                    false,
                    format!(
                        "AutoScalingGroup `{name}` is not named after a scaling aspect of flavour \
                         `{}` (aspects: {})",
                        fl.id,
                        fl.aspects.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    loc,
                );
            }
        }
        for aspect in fl.aspects.values() {
            let Some(asg) = top
                .template
                .resource(&aspect.id)
                .filter(|r| r.get("type").and_then(Value::as_str) == Some(ASG))
            else {
                let loc = Location::file(top.path);
                self.emit(
                    codes::BASE_ASG_MISSING,
                    false,
                    format!(
                        "the top template has no OS::Heat::AutoScalingGroup named after scaling \
                         aspect `{}`",
                        aspect.id
                    ),
                    loc,
                );
                continue;
            };
            let asg_ptr = format!("/resources/{}/properties", pointer_escape(&aspect.id));
            if let [vdu_name] = aspect.vdus().collect::<Vec<_>>().as_slice()
                && let Some(vdu) = fl.vdus.get(*vdu_name)
            {
                let desired = fl.instances_at_level(vdu_name, level);
                for (key, want) in [
                    ("min_size", vdu.min_instances),
                    ("max_size", vdu.max_instances),
                    ("desired_capacity", desired),
                ] {
                    if let Some(have) = int(asg.pointer(&format!("/properties/{key}")))
                        && have != i64::from(want)
                    {
                        let loc = self.loc(top, &format!("{asg_ptr}/{key}"));
                        self.emit(
                            codes::BASE_ASG_SIZE_MISMATCH,
                            true,
                            format!(
                                "AutoScalingGroup `{}` has {key} {have}, the VNFD gives {want} for \
                                 VDU `{vdu_name}`",
                                aspect.id
                            ),
                            loc,
                        );
                    }
                }
            }
            let delta = aspect
                .vdus()
                .next()
                .map(|v| i64::from(aspect.step_delta(v)))
                .unwrap_or(0);
            for (suffix, sign) in [("scale_out", 1i64), ("scale_in", -1i64)] {
                let pname = format!("{}_{suffix}", aspect.id);
                let Some(policy) = top
                    .template
                    .resource(&pname)
                    .filter(|r| r.get("type").and_then(Value::as_str) == Some(POLICY))
                else {
                    let loc = self.res_loc(top, &aspect.id);
                    self.emit(
                        codes::BASE_SCALING_POLICY,
                        false,
                        format!(
                            "the top template has no OS::Heat::ScalingPolicy `{pname}` (Tacker \
                             signals it to scale aspect `{}`)",
                            aspect.id
                        ),
                        loc,
                    );
                    continue;
                };
                let pptr = format!("/resources/{}/properties", pointer_escape(&pname));
                if get_resource(policy.pointer("/properties/auto_scaling_group_id"))
                    != Some(aspect.id.as_str())
                {
                    let loc = self.loc(top, &format!("{pptr}/auto_scaling_group_id"));
                    self.emit(
                        codes::BASE_SCALING_POLICY,
                        false,
                        format!(
                            "`{pname}` must have `auto_scaling_group_id: {{get_resource: {}}}`",
                            aspect.id
                        ),
                        loc,
                    );
                }
                let adj_type = policy
                    .pointer("/properties/adjustment_type")
                    .and_then(Value::as_str);
                if adj_type != Some("change_in_capacity") {
                    let loc = self.loc(top, &format!("{pptr}/adjustment_type"));
                    self.emit(
                        codes::BASE_SCALING_POLICY,
                        false,
                        format!("`{pname}` must have `adjustment_type: change_in_capacity`"),
                        loc,
                    );
                }
                let have = int(policy.pointer("/properties/scaling_adjustment"));
                if have != Some(sign * delta) {
                    let loc = self.loc(top, &format!("{pptr}/scaling_adjustment"));
                    self.emit(
                        codes::BASE_SCALING_ADJUSTMENT,
                        false,
                        format!(
                            "`{pname}` has scaling_adjustment {}, but aspect `{}` adds {delta} \
                             instance(s) per step (expected {})",
                            have.map(|h| h.to_string())
                                .unwrap_or_else(|| "<none>".into()),
                            aspect.id,
                            sign * delta
                        ),
                        loc,
                    );
                }
            }
        }
    }

    /// Every `{get_param: [nfv, …]}` in templates that declare `nfv`.
    fn check_nfv_refs(&mut self) {
        let docs = self.docs.clone();
        for doc in docs {
            if !doc
                .template
                .parameters()
                .is_some_and(|p| p.contains_key("nfv"))
            {
                continue;
            }
            let mut refs = Vec::new();
            collect_nfv_refs(&doc.template.0, String::new(), &mut refs);
            for (ptr, path) in refs {
                self.check_nfv_ref(doc, &ptr, path);
            }
        }
    }

    fn check_nfv_ref(&mut self, doc: &Doc<'_>, ptr: &str, path: &[Value]) {
        let fl = self.flavour;
        let strs: Vec<Option<&str>> = path.iter().map(Value::as_str).collect();
        let shown = path
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(", ");
        let loc = self.loc(doc, ptr);
        let bad = |this: &mut Self, why: &str| {
            this.emit(
                codes::BASE_NFV_BAD_PATH,
                false,
                format!("`get_param: [{shown}]`: {why}"),
                loc.clone(),
            );
        };
        match strs.as_slice() {
            [Some("nfv"), Some("VDU"), Some(vdu), Some(attr)] => {
                if !fl.vdus.contains_key(*vdu) {
                    self.emit(
                        codes::BASE_NFV_UNKNOWN_VDU,
                        false,
                        format!("`get_param: [{shown}]` names VDU `{vdu}`, which is not in flavour `{}`", fl.id),
                        loc.clone(),
                    );
                }
                if !["flavor", "image", "zone"].contains(attr) {
                    bad(
                        self,
                        "a VDU entry has only `flavor`, `image` (and `zone` with grants)",
                    );
                }
            }
            [Some("nfv"), Some("CP"), Some(cp), Some(attr)] => {
                if !fl.cps.contains_key(*cp) {
                    self.emit(
                        codes::BASE_NFV_UNKNOWN_CP,
                        false,
                        format!(
                            "`get_param: [{shown}]` names CP `{cp}`, which is not in flavour `{}`",
                            fl.id
                        ),
                        loc.clone(),
                    );
                }
                if !["network", "fixed_ips"].contains(attr) {
                    bad(self, "a CP entry has only `network` and `fixed_ips`");
                }
            }
            [Some("nfv")] => {}
            _ => bad(
                self,
                "Tacker's UserData fills only `[nfv, VDU|CP, <name>, <attribute>]` (4 elements)",
            ),
        }
    }
}

/// Collects (pointer of the `get_param` key, argument list) for list-form `nfv` references.
fn collect_nfv_refs<'v>(v: &'v Value, ptr: String, out: &mut Vec<(String, &'v [Value])>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::Array(a)) = m.get("get_param")
                && a.first().and_then(Value::as_str) == Some("nfv")
            {
                out.push((format!("{ptr}/get_param"), a.as_slice()));
                return;
            }
            for (k, item) in m {
                collect_nfv_refs(item, format!("{ptr}/{}", pointer_escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                collect_nfv_refs(item, format!("{ptr}/{i}"), out);
            }
        }
        _ => {}
    }
}
