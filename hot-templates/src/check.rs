//! A checker for Heat's template grammar: sections, parameter declarations, resource
//! definitions, intrinsic-function shapes, references between parameters, resources and
//! nested template files.

use crate::codes;
use crate::generate::pointer_escape;
use crate::lines::line_of_pointer;
use crate::template::{HotBundle, TOP_FILE, Template};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use vnf_package::{Location, Report};

/// HOT versions in order, with their release-name aliases.
const VERSIONS: &[(&str, Option<&str>)] = &[
    ("2013-05-23", None),
    ("2014-10-16", None),
    ("2015-04-30", None),
    ("2015-10-15", None),
    ("2016-04-08", None),
    ("2016-10-14", Some("newton")),
    ("2017-02-24", Some("ocata")),
    ("2017-09-01", Some("pike")),
    ("2018-03-02", Some("queens")),
    ("2018-08-31", Some("rocky")),
    ("2021-04-16", Some("wallaby")),
];

/// Intrinsic functions with the index in [`VERSIONS`] of the first version offering them
/// (from Heat's HOT specification).
const FUNCTIONS: &[(&str, usize)] = &[
    ("get_attr", 0),
    ("get_file", 0),
    ("get_param", 0),
    ("get_resource", 0),
    ("str_replace", 0),
    ("Fn::Select", 0),
    ("Fn::Base64", 0),
    ("Fn::GetAZs", 0),
    ("Fn::Join", 0),
    ("Fn::MemberListToMap", 0),
    ("Fn::Replace", 0),
    ("Fn::ResourceFacade", 0),
    ("Fn::Split", 0),
    ("list_join", 1),
    ("repeat", 1),
    ("resource_facade", 1),
    ("digest", 2),
    ("str_split", 3),
    ("map_merge", 4),
    ("yaql", 5),
    ("equals", 5),
    ("if", 5),
    ("not", 5),
    ("and", 5),
    ("or", 5),
    ("map_replace", 6),
    ("str_replace_strict", 6),
    ("filter", 7),
    ("make_url", 7),
    ("list_concat", 7),
    ("contains", 7),
    ("list_concat_unique", 8),
    ("str_replace_vstrict", 8),
];

/// Resource types the checker knows (resource types are not tied to template versions).
const KNOWN_TYPES: &[&str] = &[
    "OS::Aodh::Alarm",
    "OS::Aodh::CompositeAlarm",
    "OS::Aodh::EventAlarm",
    "OS::Aodh::GnocchiAggregationByResourcesAlarm",
    "OS::Barbican::Secret",
    "OS::Cinder::EncryptedVolumeType",
    "OS::Cinder::QoSSpecs",
    "OS::Cinder::Quota",
    "OS::Cinder::Volume",
    "OS::Cinder::VolumeAttachment",
    "OS::Cinder::VolumeType",
    "OS::Designate::RecordSet",
    "OS::Designate::Zone",
    "OS::Glance::WebImage",
    "OS::Heat::AccessPolicy",
    "OS::Heat::AutoScalingGroup",
    "OS::Heat::CloudConfig",
    "OS::Heat::InstanceGroup",
    "OS::Heat::MultipartMime",
    "OS::Heat::None",
    "OS::Heat::RandomString",
    "OS::Heat::ResourceChain",
    "OS::Heat::ResourceGroup",
    "OS::Heat::ScalingPolicy",
    "OS::Heat::SoftwareComponent",
    "OS::Heat::SoftwareConfig",
    "OS::Heat::SoftwareDeployment",
    "OS::Heat::SoftwareDeploymentGroup",
    "OS::Heat::Stack",
    "OS::Heat::StructuredConfig",
    "OS::Heat::StructuredDeployment",
    "OS::Heat::SwiftSignal",
    "OS::Heat::SwiftSignalHandle",
    "OS::Heat::TestResource",
    "OS::Heat::UpdateWaitConditionHandle",
    "OS::Heat::Value",
    "OS::Heat::WaitCondition",
    "OS::Heat::WaitConditionHandle",
    "OS::Keystone::Project",
    "OS::Keystone::Role",
    "OS::Keystone::User",
    "OS::Neutron::AddressScope",
    "OS::Neutron::ExtraRoute",
    "OS::Neutron::FloatingIP",
    "OS::Neutron::FloatingIPAssociation",
    "OS::Neutron::Net",
    "OS::Neutron::NetworkGateway",
    "OS::Neutron::Port",
    "OS::Neutron::ProviderNet",
    "OS::Neutron::QoSBandwidthLimitRule",
    "OS::Neutron::QoSPolicy",
    "OS::Neutron::Quota",
    "OS::Neutron::RBACPolicy",
    "OS::Neutron::Router",
    "OS::Neutron::RouterInterface",
    "OS::Neutron::SecurityGroup",
    "OS::Neutron::SecurityGroupRule",
    "OS::Neutron::Segment",
    "OS::Neutron::Subnet",
    "OS::Neutron::SubnetPool",
    "OS::Neutron::Trunk",
    "OS::Nova::Flavor",
    "OS::Nova::HostAggregate",
    "OS::Nova::KeyPair",
    "OS::Nova::Quota",
    "OS::Nova::Server",
    "OS::Nova::ServerGroup",
    "OS::Octavia::HealthMonitor",
    "OS::Octavia::L7Policy",
    "OS::Octavia::L7Rule",
    "OS::Octavia::Listener",
    "OS::Octavia::LoadBalancer",
    "OS::Octavia::Pool",
    "OS::Octavia::PoolMember",
    "OS::Swift::Container",
];

const SECTIONS: &[&str] = &[
    "heat_template_version",
    "description",
    "parameter_groups",
    "parameters",
    "resources",
    "outputs",
    "conditions",
];

const RESOURCE_KEYS: &[&str] = &[
    "type",
    "properties",
    "metadata",
    "depends_on",
    "update_policy",
    "deletion_policy",
    "external_id",
    "condition",
];

const PARAMETER_TYPES: &[&str] = &[
    "string",
    "number",
    "json",
    "comma_delimited_list",
    "boolean",
];

/// Checks one template. `files` are the other templates of the bundle keyed as resource
/// types name them; locations name `file` and a JSON pointer.
pub fn check_template(
    file: &str,
    template: &Template,
    files: &IndexMap<String, Template>,
    report: &mut Report,
) {
    Checker::new(file, None, template, files, report).run();
}

/// Like [`check_template`], with line numbers looked up in the template's source text.
pub(crate) fn check_template_text(
    file: &str,
    text: &str,
    template: &Template,
    files: &IndexMap<String, Template>,
    report: &mut Report,
) {
    Checker::new(file, Some(text), template, files, report).run();
}

/// Checks every template of a bundle, and that every nested file is used.
pub fn check_bundle(bundle: &HotBundle, report: &mut Report) {
    check_template(TOP_FILE, &bundle.top, &bundle.files, report);
    for (name, tpl) in &bundle.files {
        check_template(name, tpl, &bundle.files, report);
    }
    let mut all = vec![(TOP_FILE, &bundle.top)];
    all.extend(bundle.files.iter().map(|(k, v)| (k.as_str(), v)));
    check_files_referenced(&all, &bundle.files, |f| Location::file(f), report);
}

/// Reports files of `files` that no resource of `templates` uses.
pub(crate) fn check_files_referenced(
    templates: &[(&str, &Template)],
    files: &IndexMap<String, Template>,
    location: impl Fn(&str) -> Location,
    report: &mut Report,
) {
    let mut used = BTreeSet::new();
    for (_, t) in templates {
        for (_, res) in t.resources().into_iter().flatten() {
            for (ty, _, _) in type_uses(res) {
                used.insert(ty.to_string());
            }
        }
    }
    for name in files.keys() {
        if !used.contains(name) {
            report.warning(
                codes::TEMPLATE_FILE_UNREFERENCED,
                format!("nested template {name} is not used as a resource type by any template"),
                location(name),
            );
        }
    }
}

/// The template types a resource uses: (type, properties, pointer suffix of the type).
pub(crate) fn type_uses(res: &Value) -> Vec<(&str, Option<&Value>, &'static str)> {
    let mut out = Vec::new();
    if let Some(t) = res.get("type").and_then(Value::as_str) {
        out.push((t, res.get("properties"), "/type"));
        let props = res.get("properties");
        let inner = match t {
            "OS::Heat::AutoScalingGroup" => props
                .and_then(|p| p.get("resource"))
                .map(|r| (r, "/properties/resource/type")),
            "OS::Heat::ResourceGroup" => props
                .and_then(|p| p.get("resource_def"))
                .map(|r| (r, "/properties/resource_def/type")),
            _ => None,
        };
        if let Some((def, ptr)) = inner
            && let Some(it) = def.get("type").and_then(Value::as_str)
        {
            out.push((it, def.get("properties"), ptr));
        }
    }
    out
}

struct Checker<'a> {
    file: &'a str,
    text: Option<&'a str>,
    root: &'a Value,
    files: &'a IndexMap<String, Template>,
    report: &'a mut Report,
    version: usize,
    params: BTreeSet<&'a str>,
    resources: BTreeSet<&'a str>,
}

impl<'a> Checker<'a> {
    fn new(
        file: &'a str,
        text: Option<&'a str>,
        template: &'a Template,
        files: &'a IndexMap<String, Template>,
        report: &'a mut Report,
    ) -> Self {
        Checker {
            file,
            text,
            root: &template.0,
            files,
            report,
            version: 0,
            params: BTreeSet::new(),
            resources: BTreeSet::new(),
        }
    }

    fn loc(&self, pointer: &str) -> Location {
        let mut l = Location::file(self.file).with_pointer(pointer);
        l.line = self.text.and_then(|t| line_of_pointer(t, pointer));
        l
    }

    fn error(&mut self, code: vnf_package::Code, msg: String, pointer: &str) {
        let loc = self.loc(pointer);
        self.report.error(code, msg, loc);
    }

    fn run(mut self) {
        let Some(root) = self.root.as_object() else {
            self.error(
                codes::TEMPLATE_NOT_MAPPING,
                "a HOT template must be a mapping".into(),
                "",
            );
            return;
        };
        for key in root.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                self.error(
                    codes::TEMPLATE_UNKNOWN_SECTION,
                    format!(
                        "`{key}` is not a HOT section (expected one of {})",
                        SECTIONS.join(", ")
                    ),
                    &format!("/{}", pointer_escape(key)),
                );
            }
        }
        match root.get("heat_template_version").and_then(Value::as_str) {
            Some(v) => match VERSIONS
                .iter()
                .position(|(d, alias)| *d == v || *alias == Some(v))
            {
                Some(i) => self.version = i,
                None => self.error(
                    codes::TEMPLATE_VERSION,
                    format!("`{v}` is not a known heat_template_version"),
                    "/heat_template_version",
                ),
            },
            None => self.error(
                codes::TEMPLATE_VERSION,
                "heat_template_version is missing (or not a date string)".into(),
                "/heat_template_version",
            ),
        }
        self.check_parameters(root);
        let resources = match root.get("resources") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(Value::Null) => None,
            Some(_) => {
                self.error(
                    codes::TEMPLATE_BAD_RESOURCE,
                    "`resources` must be a mapping".into(),
                    "/resources",
                );
                None
            }
        };
        if let Some(res) = resources {
            self.resources = res.keys().map(String::as_str).collect();
            for (name, def) in res {
                self.check_resource(name, def);
            }
        }
        if let Some(outputs) = root.get("outputs").and_then(Value::as_object) {
            for (name, out) in outputs {
                self.walk(out, &format!("/outputs/{}", pointer_escape(name)));
            }
        }
        if let Some(conds) = root.get("conditions") {
            self.walk(conds, "/conditions");
        }
    }

    fn check_parameters(&mut self, root: &'a Map<String, Value>) {
        let params = match root.get("parameters") {
            None | Some(Value::Null) => return,
            Some(Value::Object(m)) => m,
            Some(_) => {
                self.error(
                    codes::TEMPLATE_BAD_PARAMETER,
                    "`parameters` must be a mapping".into(),
                    "/parameters",
                );
                return;
            }
        };
        for (name, decl) in params {
            self.params.insert(name.as_str());
            let ptr = format!("/parameters/{}", pointer_escape(name));
            match decl.get("type").and_then(Value::as_str) {
                Some(t) if PARAMETER_TYPES.contains(&t) => {}
                Some(t) => self.error(
                    codes::TEMPLATE_BAD_PARAMETER,
                    format!(
                        "parameter `{name}` has type `{t}` (expected one of {})",
                        PARAMETER_TYPES.join(", ")
                    ),
                    &format!("{ptr}/type"),
                ),
                None => self.error(
                    codes::TEMPLATE_BAD_PARAMETER,
                    format!("parameter `{name}` has no `type`"),
                    &ptr,
                ),
            }
        }
    }

    fn check_resource(&mut self, name: &str, def: &'a Value) {
        let ptr = format!("/resources/{}", pointer_escape(name));
        let Some(map) = def.as_object() else {
            self.error(
                codes::TEMPLATE_BAD_RESOURCE,
                format!("resource `{name}` must be a mapping"),
                &ptr,
            );
            return;
        };
        for key in map.keys() {
            if !RESOURCE_KEYS.contains(&key.as_str()) {
                self.error(
                    codes::TEMPLATE_BAD_RESOURCE,
                    format!(
                        "resource `{name}` has unknown key `{key}` (expected one of {})",
                        RESOURCE_KEYS.join(", ")
                    ),
                    &format!("{ptr}/{}", pointer_escape(key)),
                );
            }
        }
        if map.get("type").and_then(Value::as_str).is_none() {
            self.error(
                codes::TEMPLATE_BAD_RESOURCE,
                format!("resource `{name}` has no string `type`"),
                &ptr,
            );
        }
        for (ty, props, suffix) in type_uses(def) {
            self.check_type(name, ty, props, &format!("{ptr}{suffix}"));
        }
        if let Some(dep) = map.get("depends_on") {
            let deps: Vec<(Option<&str>, String)> = match dep {
                Value::String(s) => vec![(Some(s.as_str()), format!("{ptr}/depends_on"))],
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.as_str(), format!("{ptr}/depends_on/{i}")))
                    .collect(),
                _ => vec![(None, format!("{ptr}/depends_on"))],
            };
            for (d, p) in deps {
                match d {
                    Some(d) if self.resources.contains(d) && d != name => {}
                    Some(d) => self.error(
                        codes::TEMPLATE_UNKNOWN_RESOURCE,
                        format!("resource `{name}` depends on `{d}`, which is not another resource of this template"),
                        &p,
                    ),
                    None => self.error(
                        codes::TEMPLATE_BAD_RESOURCE,
                        format!("`depends_on` of resource `{name}` must be a resource name or a list of them"),
                        &p,
                    ),
                }
            }
        }
        for key in ["properties", "metadata", "update_policy"] {
            if let Some(v) = map.get(key) {
                self.walk(v, &format!("{ptr}/{key}"));
            }
        }
    }

    fn check_type(&mut self, name: &str, ty: &str, props: Option<&Value>, ptr: &str) {
        if ty.starts_with("OS::") || ty.starts_with("AWS::") {
            if !KNOWN_TYPES.contains(&ty) {
                self.error(
                    codes::TEMPLATE_UNKNOWN_TYPE,
                    format!("resource `{name}` has unknown resource type `{ty}`"),
                    ptr,
                );
            }
            return;
        }
        let Some(nested) = self.files.get(ty) else {
            self.error(
                codes::TEMPLATE_FILE_MISSING,
                format!(
                    "resource `{name}` uses template `{ty}`, which is not a file of the bundle \
                     (files: {})",
                    if self.files.is_empty() {
                        "none".to_string()
                    } else {
                        self.files.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
                ptr,
            );
            return;
        };
        let declared = nested.parameters();
        let passed = props.and_then(Value::as_object);
        let props_ptr = ptr.strip_suffix("/type").unwrap_or(ptr).to_string() + "/properties";
        for key in passed.into_iter().flat_map(|m| m.keys()) {
            if !declared.is_some_and(|d| d.contains_key(key)) {
                self.error(
                    codes::TEMPLATE_NESTED_UNKNOWN_PROPERTY,
                    format!(
                        "resource `{name}` passes property `{key}` to `{ty}`, which declares no \
                         such parameter"
                    ),
                    &format!("{props_ptr}/{}", pointer_escape(key)),
                );
            }
        }
        for (param, decl) in declared.into_iter().flatten() {
            let has_default = decl.get("default").is_some_and(|d| !d.is_null());
            if !has_default && !passed.is_some_and(|p| p.contains_key(param)) {
                self.error(
                    codes::TEMPLATE_NESTED_MISSING_PROPERTY,
                    format!(
                        "resource `{name}` does not pass parameter `{param}` required by `{ty}`"
                    ),
                    ptr,
                );
            }
        }
    }

    /// Walks a value, checking every intrinsic function found.
    fn walk(&mut self, v: &Value, ptr: &str) {
        match v {
            Value::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    self.walk(item, &format!("{ptr}/{i}"));
                }
            }
            Value::Object(m) => {
                if m.len() == 1
                    && let Some((key, arg)) = m.iter().next()
                {
                    let fptr = format!("{ptr}/{}", pointer_escape(key));
                    if let Some(&(_, since)) = FUNCTIONS.iter().find(|(f, _)| f == key) {
                        self.check_function(key, since, arg, &fptr);
                        return;
                    }
                    if looks_like_function(key) {
                        self.error(
                            codes::TEMPLATE_UNKNOWN_FUNCTION,
                            format!("`{key}` looks like an intrinsic function but is not one"),
                            &fptr,
                        );
                    }
                }
                for (k, item) in m {
                    self.walk(item, &format!("{ptr}/{}", pointer_escape(k)));
                }
            }
            _ => {}
        }
    }

    fn bad(&mut self, f: &str, expected: &str, ptr: &str) {
        self.error(
            codes::TEMPLATE_BAD_FUNCTION,
            format!("`{f}` takes {expected}"),
            ptr,
        );
    }

    fn check_function(&mut self, f: &str, since: usize, arg: &Value, ptr: &str) {
        if since > self.version {
            let (need, _) = VERSIONS.get(since).copied().unwrap_or(("?", None));
            let (have, _) = VERSIONS.get(self.version).copied().unwrap_or(("?", None));
            self.error(
                codes::TEMPLATE_FUNCTION_VERSION,
                format!("`{f}` needs heat_template_version {need} or later (template has {have})"),
                ptr,
            );
        }
        let is_fn = |v: &Value| v.as_object().is_some_and(|m| m.len() == 1);
        match f {
            "get_param" => {
                let name = match arg {
                    Value::String(s) => Some((s.as_str(), ptr.to_string())),
                    Value::Array(a) => match a.first() {
                        Some(Value::String(s)) => Some((s.as_str(), format!("{ptr}/0"))),
                        Some(v) if is_fn(v) => None,
                        _ => {
                            self.bad(f, "a parameter name or a list starting with one", ptr);
                            None
                        }
                    },
                    v if is_fn(v) => None,
                    _ => {
                        self.bad(f, "a parameter name or a list starting with one", ptr);
                        None
                    }
                };
                if let Some((name, p)) = name
                    && !self.params.contains(name)
                {
                    self.error(
                        codes::TEMPLATE_UNDECLARED_PARAMETER,
                        format!("`get_param` names `{name}`, which this template does not declare"),
                        &p,
                    );
                }
            }
            "get_resource" => match arg {
                Value::String(s) => {
                    if !self.resources.contains(s.as_str()) {
                        self.error(
                            codes::TEMPLATE_UNKNOWN_RESOURCE,
                            format!("`get_resource` names `{s}`, which is not a resource of this template"),
                            ptr,
                        );
                    }
                }
                _ => self.bad(f, "a resource name", ptr),
            },
            "get_attr" => match arg {
                Value::Array(a) if a.len() >= 2 => match a.first() {
                    Some(Value::String(s)) => {
                        if !self.resources.contains(s.as_str()) {
                            self.error(
                                codes::TEMPLATE_UNKNOWN_RESOURCE,
                                format!("`get_attr` names `{s}`, which is not a resource of this template"),
                                &format!("{ptr}/0"),
                            );
                        }
                    }
                    Some(v) if is_fn(v) => {}
                    _ => self.bad(f, "a list [resource, attribute, path…]", ptr),
                },
                _ => self.bad(
                    f,
                    "a list [resource, attribute, path…] of at least 2 elements",
                    ptr,
                ),
            },
            "get_file" if !arg.is_string() => self.bad(f, "a file name", ptr),
            "list_join" => match arg.as_array() {
                Some(a) if a.len() >= 2 && (a.first().is_some_and(Value::is_string)) => {
                    for (i, item) in a.iter().enumerate().skip(1) {
                        if !item.is_array() && !is_fn(item) {
                            self.bad(
                                f,
                                "[delimiter, list, …] whose lists are lists or functions",
                                &format!("{ptr}/{i}"),
                            );
                        }
                    }
                }
                _ => self.bad(f, "a list [delimiter, list, …]", ptr),
            },
            "str_replace" | "str_replace_strict" | "str_replace_vstrict" => match arg.as_object() {
                Some(m) if m.contains_key("template") && m.contains_key("params") => {
                    if let Some(p) = m.get("params")
                        && !p.is_object()
                        && !is_fn(p)
                    {
                        self.bad(f, "`params` as a mapping", &format!("{ptr}/params"));
                    }
                    if let Some(extra) = m.keys().find(|k| *k != "template" && *k != "params") {
                        self.bad(
                            f,
                            &format!("only `template` and `params` (found `{extra}`)"),
                            ptr,
                        );
                    }
                }
                _ => self.bad(f, "a mapping {template, params}", ptr),
            },
            "repeat" => match arg.as_object() {
                Some(m) if m.contains_key("for_each") && m.contains_key("template") => {}
                _ => self.bad(f, "a mapping {for_each, template}", ptr),
            },
            "digest" if arg.as_array().is_none_or(|a| a.len() != 2) => {
                self.bad(f, "a list [algorithm, value]", ptr);
            }
            "str_split" if arg.as_array().is_none_or(|a| !(2..=3).contains(&a.len())) => {
                self.bad(f, "a list [delimiter, string, index?]", ptr);
            }
            "map_merge" | "list_concat" | "list_concat_unique"
                if !arg.is_array() && !is_fn(arg) =>
            {
                self.bad(f, "a list", ptr);
            }
            "if" if arg.as_array().is_none_or(|a| !(2..=3).contains(&a.len())) => {
                self.bad(f, "a list [condition, value_if_true, value_if_false]", ptr);
            }
            _ => {}
        }
        self.walk(arg, ptr);
    }
}

/// A single-key mapping whose key resembles an intrinsic function name.
fn looks_like_function(key: &str) -> bool {
    const PREFIXES: &[&str] = &["get_", "str_", "list_", "map_", "Fn::", "resource_"];
    if PREFIXES.iter().any(|p| key.starts_with(p)) {
        return true;
    }
    key.len() >= 5
        && FUNCTIONS
            .iter()
            .any(|(f, _)| f.len() >= 5 && edit_distance(key, f) == 1)
}

/// Optimal-string-alignment distance (edits plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        d[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        d[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[at(i - 1, j)] + 1)
                .min(d[at(i, j - 1)] + 1)
                .min(d[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[at(i - 2, j - 2)] + 1);
            }
            d[at(i, j)] = best;
        }
    }
    d[at(a.len(), b.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_functions_look_like_functions() {
        assert!(looks_like_function("get_parm"));
        assert!(looks_like_function("repaet"));
        assert!(looks_like_function("Fn::Foo"));
        assert!(!looks_like_function("group"));
        assert!(!looks_like_function("port"));
        assert!(!looks_like_function("network"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("repaet", "repeat"), 1);
    }
}
