//! Semantic layer: the type registry (built-in normative types + every loaded file),
//! `derived_from` chains, and type-checking of every property value, requirement,
//! capability, interface, artifact, policy, group and substitution mapping.

use super::codes;
use super::model::*;
use super::parse::esc;
use super::scalar::{self, ScalarKind};
use super::yaml::{Node, Value};
use super::{Files, ServiceSet};
use crate::diag::{Location, Report};
use indexmap::IndexMap;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Pseudo file name of the built-in normative types.
pub const NORMATIVE_FILE: &str = "<normative>";

/// The built-in normative types (YAML source).
pub const NORMATIVE_TYPES: &str = include_str!("normative_types.yaml");

/// Primitive TOSCA type names.
pub const PRIMITIVES: &[&str] = &[
    "string",
    "integer",
    "float",
    "boolean",
    "timestamp",
    "version",
    "range",
    "list",
    "map",
    "null",
    "any",
    "scalar-unit.size",
    "scalar-unit.time",
    "scalar-unit.frequency",
    "scalar-unit.bitrate",
];

/// TOSCA intrinsic functions whose values are not checked statically.
const FUNCTIONS: &[&str] = &[
    "get_input",
    "get_property",
    "get_attribute",
    "get_operation_output",
    "get_nodes_of_type",
    "get_artifact",
    "concat",
    "join",
    "token",
];

const MAX_DEPTH: usize = 64;

/// Every type definition known to a service, by kind and name.
#[derive(Debug, Clone, Default)]
pub struct TypeRegistry {
    types: HashMap<(TypeKind, String), TypeDef>,
}

impl TypeRegistry {
    /// A registry holding only the built-in normative types.
    pub fn normative() -> Self {
        let mut r = TypeRegistry::default();
        let mut scratch = Report::new();
        if let Some(t) = super::parse::parse_str(NORMATIVE_TYPES, NORMATIVE_FILE, &mut scratch) {
            for ty in t.types {
                r.types.insert((ty.kind, ty.name.clone()), ty);
            }
        }
        debug_assert!(scratch.findings.is_empty(), "{:?}", scratch.findings);
        r
    }

    /// Adds a definition; returns the one already registered under that name, if any
    /// (the first definition wins).
    pub fn add(&mut self, ty: TypeDef) -> Option<&TypeDef> {
        let key = (ty.kind, ty.name.clone());
        if self.types.contains_key(&key) {
            return self.types.get(&key);
        }
        self.types.insert(key, ty);
        None
    }

    /// The definition of a type.
    pub fn get(&self, kind: TypeKind, name: &str) -> Option<&TypeDef> {
        self.types.get(&(kind, name.to_owned()))
    }

    /// Every definition of a kind (unordered).
    pub fn all(&self, kind: TypeKind) -> impl Iterator<Item = &TypeDef> {
        self.types.values().filter(move |t| t.kind == kind)
    }

    /// The type and its ancestors, nearest first. Stops at an unknown parent or a cycle.
    pub fn ancestors(&self, kind: TypeKind, name: &str) -> Vec<&TypeDef> {
        let mut out: Vec<&TypeDef> = Vec::new();
        let mut cur = self.get(kind, name);
        while let Some(t) = cur {
            if out.iter().any(|o| o.name == t.name) || out.len() > MAX_DEPTH {
                break;
            }
            out.push(t);
            cur = t.derived_from.as_ref().and_then(|(p, _)| self.get(kind, p));
        }
        out
    }

    /// True when `name` is `ancestor` or derives from it.
    pub fn derives_from(&self, kind: TypeKind, name: &str, ancestor: &str) -> bool {
        name == ancestor
            || self
                .ancestors(kind, name)
                .iter()
                .any(|t| t.name == ancestor)
    }

    /// Property definitions including inherited ones (a child's definition wins), in
    /// root-first order.
    pub fn properties(&self, kind: TypeKind, name: &str) -> IndexMap<String, PropertyDef> {
        let mut out = IndexMap::new();
        for t in self.ancestors(kind, name).into_iter().rev() {
            for (k, d) in &t.properties {
                out.insert(k.clone(), d.clone());
            }
        }
        out
    }

    /// The requirement definition `req` of a node type (nearest definition).
    pub fn requirement(&self, node_type: &str, req: &str) -> Option<&RequirementDef> {
        self.ancestors(TypeKind::Node, node_type)
            .into_iter()
            .find_map(|t| t.requirements.iter().find(|r| r.name == req))
    }

    /// The capability type of capability `cap` of a node type.
    pub fn capability_type(&self, node_type: &str, cap: &str) -> Option<&str> {
        self.ancestors(TypeKind::Node, node_type)
            .into_iter()
            .find_map(|t| t.capabilities.get(cap).map(|(s, _)| s.as_str()))
    }

    /// The interface type of interface `iface` of a node type.
    pub fn interface_type(&self, node_type: &str, iface: &str) -> Option<&str> {
        self.ancestors(TypeKind::Node, node_type)
            .into_iter()
            .find_map(|t| t.interfaces.get(iface).map(|(s, _)| s.as_str()))
    }

    /// Operation names of an interface type, inherited ones included.
    pub fn operations(&self, interface_type: &str) -> Vec<&str> {
        self.ancestors(TypeKind::Interface, interface_type)
            .into_iter()
            .flat_map(|t| t.operations.iter().map(String::as_str))
            .collect()
    }

    /// Assigned property values merged over the type's defaults, in definition order
    /// (assigned properties that the type does not define come last).
    pub fn effective_properties(
        &self,
        kind: TypeKind,
        type_name: &str,
        assigned: &IndexMap<String, Node>,
    ) -> IndexMap<String, Node> {
        let mut out = IndexMap::new();
        for (k, d) in self.properties(kind, type_name) {
            if let Some(v) = assigned.get(&k) {
                out.insert(k, v.clone());
            } else if let Some(def) = d.default {
                out.insert(k, def);
            }
        }
        for (k, v) in assigned {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// The primitive a data type is ultimately derived from (`string` for
    /// `tosca.datatypes.json`), if any.
    pub fn primitive_base(&self, data_type: &str) -> Option<String> {
        let chain = self.ancestors(TypeKind::Data, data_type);
        let last = chain.last()?;
        let (p, _) = last.derived_from.as_ref()?;
        PRIMITIVES.contains(&p.as_str()).then(|| p.clone())
    }
}

/// Normalises a package-relative path: resolves `.` and `..`, drops empty segments.
/// None when it escapes the package root or is absolute.
pub fn normalize(rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains('\\') || rel.contains("://") {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// Resolves `rel` against the directory of the package file `from_file`.
pub fn resolve(from_file: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains("://") {
        return None;
    }
    let dir = match from_file.rfind('/') {
        Some(i) => &from_file[..i],
        None => "",
    };
    if dir.is_empty() {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

/// Where a value sits, for findings.
struct Ctx<'a> {
    file: &'a str,
    inputs: Option<&'a IndexMap<String, PropertyDef>>,
}

impl Ctx<'_> {
    fn at(&self, n: &Node, pointer: &str) -> Location {
        let l = if n.line == 0 {
            Location::file(self.file)
        } else {
            Location::at(self.file, n.line, n.column)
        };
        l.with_pointer(pointer)
    }
}

/// Runs every semantic check over a loaded service; fills in artifact paths.
pub(crate) fn check_service(set: &mut ServiceSet, files: &dyn Files, report: &mut Report) {
    check_types(&set.types, report);
    let types = &set.types;
    for t in set.templates.values_mut() {
        let file = t.file.clone();
        if let Some(topo) = t.topology.as_mut() {
            resolve_artifacts(topo, &file, files, report);
            check_topology(types, topo, &file, report);
        }
    }
}

fn type_known(types: &TypeRegistry, kind: TypeKind, name: &str) -> bool {
    types.get(kind, name).is_some() || (kind == TypeKind::Data && PRIMITIVES.contains(&name))
}

fn check_types(types: &TypeRegistry, report: &mut Report) {
    let mut all: Vec<&TypeDef> = types
        .types
        .values()
        .filter(|t| t.file != NORMATIVE_FILE)
        .collect();
    all.sort_by(|a, b| a.location.cmp(&b.location));
    for t in all {
        if let Some((parent, loc)) = &t.derived_from {
            let primitive_parent =
                t.kind == TypeKind::Data && PRIMITIVES.contains(&parent.as_str());
            if !primitive_parent && types.get(t.kind, parent).is_none() {
                report.error(
                    codes::TYPE_UNKNOWN_PARENT,
                    format!(
                        "{} `{}` is derived from unknown {} `{parent}`",
                        t.kind.noun(),
                        t.name,
                        t.kind.noun()
                    ),
                    loc.clone(),
                );
            }
            // Cycle: walking up from the parent reaches this type again.
            let mut seen = HashSet::new();
            let mut cur = types.get(t.kind, parent);
            while let Some(c) = cur {
                if c.name == t.name {
                    report.error(
                        codes::TYPE_CYCLE,
                        format!(
                            "{} `{}` derives from itself through `derived_from`",
                            t.kind.noun(),
                            t.name
                        ),
                        loc.clone(),
                    );
                    break;
                }
                if !seen.insert(c.name.as_str()) {
                    break;
                }
                cur = c
                    .derived_from
                    .as_ref()
                    .and_then(|(p, _)| types.get(t.kind, p));
            }
        }
        let ctx = Ctx {
            file: &t.file,
            inputs: None,
        };
        for d in t.properties.values() {
            check_schema_types(types, &d.schema, report);
            if let Some(def) = &d.default {
                let ptr = d.location.pointer.clone().unwrap_or_default();
                check_value(
                    types,
                    &ctx,
                    def,
                    &d.schema,
                    &format!("{ptr}/default"),
                    report,
                    0,
                );
            }
        }
        for r in &t.requirements {
            let refs = [
                (TypeKind::Capability, &r.capability),
                (TypeKind::Node, &r.node),
                (TypeKind::Relationship, &r.relationship),
            ];
            for (kind, name) in refs {
                if let Some(name) = name
                    && types.get(kind, name).is_none()
                {
                    report.error(
                        codes::TYPE_UNKNOWN,
                        format!(
                            "requirement `{}` of `{}` refers to unknown {} `{name}`",
                            r.name,
                            t.name,
                            kind.noun()
                        ),
                        r.location.clone(),
                    );
                }
            }
        }
        for (name, (ct, loc)) in &t.capabilities {
            if types.get(TypeKind::Capability, ct).is_none() {
                report.error(
                    codes::TYPE_UNKNOWN,
                    format!(
                        "capability `{name}` of `{}` has unknown type `{ct}`",
                        t.name
                    ),
                    loc.clone(),
                );
            }
        }
        for (name, (it, loc)) in &t.interfaces {
            if types.get(TypeKind::Interface, it).is_none() {
                report.error(
                    codes::TYPE_UNKNOWN,
                    format!("interface `{name}` of `{}` has unknown type `{it}`", t.name),
                    loc.clone(),
                );
            }
        }
    }
}

fn check_schema_types(types: &TypeRegistry, s: &Schema, report: &mut Report) {
    if !type_known(types, TypeKind::Data, &s.type_name) {
        report.error(
            codes::TYPE_UNKNOWN,
            format!("unknown data type `{}`", s.type_name),
            s.location.clone(),
        );
    }
    if let Some(e) = &s.entry_schema {
        check_schema_types(types, e, report);
    }
}

fn resolve_artifacts(topo: &mut Topology, file: &str, files: &dyn Files, report: &mut Report) {
    for nt in topo.node_templates.values_mut() {
        for a in nt.artifacts.values_mut() {
            if a.file.contains("://") || a.file.starts_with('/') {
                a.external = true;
                report.info(
                    codes::ARTIFACT_REMOTE,
                    format!(
                        "artifact `{}` of `{}` points outside the package (`{}`); not checked",
                        a.name, nt.name, a.file
                    ),
                    a.location.clone(),
                );
                continue;
            }
            let rel = resolve(file, &a.file).filter(|p| files.contains(p));
            let pkg = normalize(&a.file).filter(|p| files.contains(p));
            a.resolved = rel.or(pkg);
            if a.resolved.is_none() {
                report.error(
                    codes::ARTIFACT_FILE,
                    format!(
                        "artifact `{}` of `{}`: file `{}` is not in the package (looked \
                         relative to `{file}` and to the package root)",
                        a.name, nt.name, a.file
                    ),
                    a.location.clone(),
                );
            }
        }
    }
}

fn check_topology(types: &TypeRegistry, topo: &Topology, file: &str, report: &mut Report) {
    let ctx = Ctx {
        file,
        inputs: Some(&topo.inputs),
    };
    for d in topo.inputs.values() {
        check_schema_types(types, &d.schema, report);
        if let Some(def) = &d.default {
            let ptr = d.location.pointer.clone().unwrap_or_default();
            check_value(
                types,
                &ctx,
                def,
                &d.schema,
                &format!("{ptr}/default"),
                report,
                0,
            );
        }
    }
    for nt in topo.node_templates.values() {
        if types.get(TypeKind::Node, &nt.type_name).is_none() {
            report.error(
                codes::NODE_TYPE_UNKNOWN,
                format!(
                    "node template `{}` has unknown node type `{}`",
                    nt.name, nt.type_name
                ),
                nt.type_location.clone(),
            );
            continue;
        }
        let defs = types.properties(TypeKind::Node, &nt.type_name);
        check_assignments(
            types,
            &ctx,
            &nt.properties,
            &defs,
            true,
            &format!("node template `{}`", nt.name),
            &nt.location,
            &format!("{}/properties", nt.pointer),
            report,
        );
        for r in &nt.requirements {
            if types.requirement(&nt.type_name, &r.name).is_none() {
                report.error(
                    codes::REQUIREMENT_UNDEFINED,
                    format!(
                        "node type `{}` defines no requirement `{}`",
                        nt.type_name, r.name
                    ),
                    r.location.clone(),
                );
            }
            if let Some(target) = &r.node
                && !topo.node_templates.contains_key(target)
                && types.get(TypeKind::Node, target).is_none()
            {
                report.error(
                    codes::REQUIREMENT_TARGET,
                    format!(
                        "requirement `{}` of `{}` names `{target}`, which is neither a node \
                         template of this topology nor a node type",
                        r.name, nt.name
                    ),
                    r.node_location.clone(),
                );
            }
        }
        for (cname, (props, loc)) in &nt.capabilities {
            match types.capability_type(&nt.type_name, cname) {
                None => report.error(
                    codes::CAPABILITY_UNDEFINED,
                    format!(
                        "node type `{}` defines no capability `{cname}`",
                        nt.type_name
                    ),
                    loc.clone(),
                ),
                Some(ct) => {
                    let defs = types.properties(TypeKind::Capability, ct);
                    check_assignments(
                        types,
                        &ctx,
                        props,
                        &defs,
                        !props.is_empty(),
                        &format!("capability `{cname}` of `{}`", nt.name),
                        loc,
                        &format!("{}/capabilities/{}/properties", nt.pointer, esc(cname)),
                        report,
                    );
                }
            }
        }
        for (iname, ia) in &nt.interfaces {
            match types.interface_type(&nt.type_name, iname) {
                None => report.error(
                    codes::INTERFACE_UNDEFINED,
                    format!(
                        "node type `{}` defines no interface `{iname}`",
                        nt.type_name
                    ),
                    ia.location.clone(),
                ),
                Some(it) => {
                    let ops = types.operations(it);
                    if ops.is_empty() {
                        continue;
                    }
                    for op in ia.operations.values() {
                        if !ops.contains(&op.name.as_str()) {
                            report.error(
                                codes::OPERATION_UNKNOWN,
                                format!("interface type `{it}` has no operation `{}`", op.name),
                                op.location.clone(),
                            );
                        }
                    }
                }
            }
        }
        for a in nt.artifacts.values() {
            if !a.artifact_type.is_empty()
                && types.get(TypeKind::Artifact, &a.artifact_type).is_none()
            {
                report.error(
                    codes::ARTIFACT_TYPE,
                    format!(
                        "artifact `{}` of `{}` has unknown artifact type `{}`",
                        a.name, nt.name, a.artifact_type
                    ),
                    a.type_location.clone(),
                );
            }
        }
    }
    for g in topo.groups.values() {
        if types.get(TypeKind::Group, &g.type_name).is_none() {
            report.error(
                codes::GROUP_TYPE,
                format!(
                    "group `{}` has unknown group type `{}`",
                    g.name, g.type_name
                ),
                g.type_location.clone(),
            );
        } else {
            let defs = types.properties(TypeKind::Group, &g.type_name);
            check_assignments(
                types,
                &ctx,
                &g.properties,
                &defs,
                true,
                &format!("group `{}`", g.name),
                &g.location,
                &format!("{}/properties", g.pointer),
                report,
            );
        }
        for (m, loc) in &g.members {
            if !topo.node_templates.contains_key(m) {
                report.error(
                    codes::GROUP_MEMBER,
                    format!("group `{}` member `{m}` is not a node template", g.name),
                    loc.clone(),
                );
            }
        }
    }
    for p in &topo.policies {
        if types.get(TypeKind::Policy, &p.type_name).is_none() {
            report.error(
                codes::POLICY_TYPE,
                format!(
                    "policy `{}` has unknown policy type `{}`",
                    p.name, p.type_name
                ),
                p.type_location.clone(),
            );
        } else {
            let defs = types.properties(TypeKind::Policy, &p.type_name);
            check_assignments(
                types,
                &ctx,
                &p.properties,
                &defs,
                true,
                &format!("policy `{}`", p.name),
                &p.location,
                &format!("{}/properties", p.pointer),
                report,
            );
        }
        for (t, loc) in &p.targets {
            if !topo.node_templates.contains_key(t) && !topo.groups.contains_key(t) {
                report.error(
                    codes::POLICY_TARGET,
                    format!(
                        "policy `{}` target `{t}` is neither a node template nor a group",
                        p.name
                    ),
                    loc.clone(),
                );
            }
        }
    }
    if let Some(sm) = &topo.substitution {
        if types.get(TypeKind::Node, &sm.node_type).is_none() {
            report.error(
                codes::SUBSTITUTION_TYPE,
                format!(
                    "substitution_mappings names unknown node type `{}`",
                    sm.node_type
                ),
                sm.node_type_location.clone(),
            );
        } else {
            let defs = types.properties(TypeKind::Node, &sm.node_type);
            check_assignments(
                types,
                &ctx,
                &sm.properties,
                &defs,
                false,
                "substitution_mappings",
                &sm.location,
                "/topology_template/substitution_mappings/properties",
                report,
            );
        }
        for (name, (node, _req, loc)) in &sm.requirements {
            if !topo.node_templates.contains_key(node) {
                report.error(
                    codes::SUBSTITUTION_TARGET,
                    format!(
                        "substitution requirement `{name}` maps to `{node}`, which is not a \
                         node template"
                    ),
                    loc.clone(),
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_assignments(
    types: &TypeRegistry,
    ctx: &Ctx,
    values: &IndexMap<String, Node>,
    defs: &IndexMap<String, PropertyDef>,
    require_all: bool,
    owner: &str,
    owner_loc: &Location,
    pointer: &str,
    report: &mut Report,
) {
    for (k, v) in values {
        let ptr = format!("{pointer}/{}", esc(k));
        match defs.get(k) {
            None => report.error(
                codes::PROPERTY_UNDEFINED,
                format!("{owner}: property `{k}` is not defined by its type"),
                ctx.at(v, &ptr),
            ),
            Some(d) => {
                if v.is_null() {
                    if d.required && d.default.is_none() {
                        report.error(
                            codes::PROPERTY_MISSING,
                            format!("{owner}: required property `{k}` is null"),
                            ctx.at(v, &ptr),
                        );
                    }
                } else {
                    check_value(types, ctx, v, &d.schema, &ptr, report, 0);
                }
            }
        }
    }
    if require_all {
        for d in defs.values() {
            if d.required && d.default.is_none() && !values.contains_key(&d.name) {
                report.error(
                    codes::PROPERTY_MISSING,
                    format!("{owner}: required property `{}` is missing", d.name),
                    owner_loc.clone().with_pointer(pointer),
                );
            }
        }
    }
}

fn is_function(v: &Node) -> Option<(&str, &Node)> {
    match v.as_map() {
        Some([(k, arg)]) if FUNCTIONS.contains(&k.name.as_str()) => Some((k.name.as_str(), arg)),
        _ => None,
    }
}

/// Type-checks `v` against `schema` (recursively for lists, maps and data types), then
/// applies the schema's constraints. Returns false if a finding was pushed.
fn check_value(
    types: &TypeRegistry,
    ctx: &Ctx,
    v: &Node,
    schema: &Schema,
    pointer: &str,
    report: &mut Report,
    depth: usize,
) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    if let Some((f, arg)) = is_function(v) {
        if f == "get_input"
            && let (Some(inputs), Some(name)) = (ctx.inputs, arg.as_str())
            && !inputs.contains_key(name)
        {
            report.error(
                codes::UNKNOWN_INPUT,
                format!("`get_input: {name}` names no input of this topology"),
                ctx.at(v, pointer),
            );
            return false;
        }
        return true;
    }
    let t = schema.type_name.as_str();
    let wrong = |report: &mut Report, expected: &str| {
        report.error(
            codes::PROPERTY_TYPE,
            format!("expected {expected}, found {} {}", v.kind(), v.render()),
            ctx.at(v, pointer),
        );
        false
    };
    let ok = match t {
        "string" | "timestamp" => matches!(v.value, Value::Str(_)) || wrong(report, t),
        "integer" => matches!(v.value, Value::Int(_)) || wrong(report, t),
        "float" => matches!(v.value, Value::Int(_) | Value::Float(_)) || wrong(report, t),
        "boolean" => matches!(v.value, Value::Bool(_)) || wrong(report, t),
        "version" => {
            matches!(v.value, Value::Str(_) | Value::Int(_) | Value::Float(_)) || wrong(report, t)
        }
        "null" => v.is_null() || wrong(report, t),
        "any" => true,
        "range" => match v.as_seq() {
            Some([a, b])
                if a.as_i64().is_some()
                    && (b.as_i64().is_some() || b.as_str() == Some("UNBOUNDED")) =>
            {
                true
            }
            _ => wrong(report, "range `[min, max]`"),
        },
        "list" => match v.as_seq() {
            Some(items) => {
                let mut ok = true;
                if let Some(es) = &schema.entry_schema {
                    for (i, it) in items.iter().enumerate() {
                        ok &= check_value(
                            types,
                            ctx,
                            it,
                            es,
                            &format!("{pointer}/{i}"),
                            report,
                            depth + 1,
                        );
                    }
                }
                ok
            }
            None => wrong(report, "list"),
        },
        "map" => match v.as_map() {
            Some(entries) => {
                let mut ok = true;
                if let Some(es) = &schema.entry_schema {
                    for (k, it) in entries {
                        ok &= check_value(
                            types,
                            ctx,
                            it,
                            es,
                            &format!("{pointer}/{}", esc(&k.name)),
                            report,
                            depth + 1,
                        );
                    }
                }
                ok
            }
            None => wrong(report, "map"),
        },
        _ => {
            if let Some(kind) = ScalarKind::from_type_name(t) {
                match v.as_str() {
                    Some(s) => match scalar::parse(kind, s) {
                        Ok(_) => true,
                        Err(e) => {
                            report.error(
                                codes::SCALAR_UNIT,
                                format!("invalid {kind}: {e}"),
                                ctx.at(v, pointer),
                            );
                            false
                        }
                    },
                    None => wrong(report, &format!("{kind} string such as `5 GB`")),
                }
            } else if types.get(TypeKind::Data, t).is_some() {
                check_data_value(types, ctx, v, t, pointer, report, depth)
            } else {
                // Unknown type: reported once at the definition.
                true
            }
        }
    };
    if ok {
        for c in &schema.constraints {
            if !check_constraint(v, t, c, ctx, pointer, report) {
                return false;
            }
        }
    }
    ok
}

fn check_data_value(
    types: &TypeRegistry,
    ctx: &Ctx,
    v: &Node,
    data_type: &str,
    pointer: &str,
    report: &mut Report,
    depth: usize,
) -> bool {
    if let Some(prim) = types.primitive_base(data_type) {
        let s = Schema {
            type_name: prim.clone(),
            constraints: types
                .ancestors(TypeKind::Data, data_type)
                .iter()
                .flat_map(|t| t.constraints.iter().cloned())
                .collect(),
            entry_schema: None,
            location: Location::default(),
        };
        return check_value(types, ctx, v, &s, pointer, report, depth + 1);
    }
    let Some(entries) = v.as_map() else {
        report.error(
            codes::PROPERTY_TYPE,
            format!(
                "expected a map of data type `{data_type}`, found {} {}",
                v.kind(),
                v.render()
            ),
            ctx.at(v, pointer),
        );
        return false;
    };
    let defs = types.properties(TypeKind::Data, data_type);
    let before = report.findings.len();
    let mut ok = true;
    for (k, it) in entries {
        let ptr = format!("{pointer}/{}", esc(&k.name));
        match defs.get(&k.name) {
            None => {
                report.error(
                    codes::PROPERTY_UNDEFINED,
                    format!("data type `{data_type}` has no property `{}`", k.name),
                    ctx.at(it, &ptr).with_pointer(ptr.clone()),
                );
                ok = false;
            }
            Some(d) => {
                if !it.is_null() {
                    ok &= check_value(types, ctx, it, &d.schema, &ptr, report, depth + 1);
                }
            }
        }
    }
    for d in defs.values() {
        let present = entries
            .iter()
            .any(|(k, it)| k.name == d.name && !it.is_null());
        if d.required && d.default.is_none() && !present {
            report.error(
                codes::PROPERTY_MISSING,
                format!(
                    "data type `{data_type}`: required property `{}` is missing",
                    d.name
                ),
                ctx.at(v, pointer),
            );
            ok = false;
        }
    }
    ok && report.findings.len() == before
}

fn num(n: &Node) -> Option<f64> {
    match n.value {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        _ => None,
    }
}

/// Compares two values of type `t` (numbers, scalar-units, strings).
fn compare(a: &Node, b: &Node, t: &str) -> Option<Ordering> {
    if let Some(kind) = ScalarKind::from_type_name(t) {
        let x = scalar::parse(kind, a.as_str()?).ok()?;
        let y = scalar::parse(kind, b.as_str()?).ok()?;
        return x.canonical.partial_cmp(&y.canonical);
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x.partial_cmp(&y);
    }
    match (&a.value, &b.value) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Node, b: &Node, t: &str) -> bool {
    compare(a, b, t) == Some(Ordering::Equal) || a.to_json() == b.to_json()
}

fn check_constraint(
    v: &Node,
    t: &str,
    c: &Constraint,
    ctx: &Ctx,
    pointer: &str,
    report: &mut Report,
) -> bool {
    let len = || match &v.value {
        Value::Str(s) => Some(s.chars().count() as u64),
        Value::Seq(s) => Some(s.len() as u64),
        Value::Map(m) => Some(m.len() as u64),
        _ => None,
    };
    let ord = |op: &Node| compare(v, op, t);
    let (ok, operand) = match &c.op {
        ConstraintOp::Equal(o) => (Some(equal(v, o, t)), o.render()),
        ConstraintOp::GreaterThan(o) => (ord(o).map(|x| x == Ordering::Greater), o.render()),
        ConstraintOp::GreaterOrEqual(o) => (ord(o).map(|x| x != Ordering::Less), o.render()),
        ConstraintOp::LessThan(o) => (ord(o).map(|x| x == Ordering::Less), o.render()),
        ConstraintOp::LessOrEqual(o) => (ord(o).map(|x| x != Ordering::Greater), o.render()),
        ConstraintOp::InRange(lo, hi) => {
            let lower = ord(lo).map(|x| x != Ordering::Less);
            let upper = if hi.as_str() == Some("UNBOUNDED") {
                Some(true)
            } else {
                ord(hi).map(|x| x != Ordering::Greater)
            };
            (
                lower.zip(upper).map(|(a, b)| a && b),
                format!("[{}, {}]", lo.render(), hi.render()),
            )
        }
        ConstraintOp::ValidValues(vals) => (
            Some(vals.iter().any(|o| equal(v, o, t))),
            format!(
                "[{}]",
                vals.iter().map(Node::render).collect::<Vec<_>>().join(", ")
            ),
        ),
        ConstraintOp::Length(n) => (len().map(|l| l == *n), n.to_string()),
        ConstraintOp::MinLength(n) => (len().map(|l| l >= *n), n.to_string()),
        ConstraintOp::MaxLength(n) => (len().map(|l| l <= *n), n.to_string()),
        ConstraintOp::Pattern(src, re) => (v.as_str().map(|s| re.is_match(s)), format!("{src:?}")),
    };
    match ok {
        Some(true) => true,
        Some(false) => {
            report.error(
                codes::CONSTRAINT,
                format!(
                    "value {} violates constraint `{}: {operand}`",
                    v.render(),
                    c.op.keyword()
                ),
                ctx.at(v, pointer),
            );
            false
        }
        None => {
            report.error(
                codes::CONSTRAINT_INVALID,
                format!(
                    "constraint `{}: {operand}` cannot be applied to {} {}",
                    c.op.keyword(),
                    v.kind(),
                    v.render()
                ),
                c.location.clone(),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normative_types_parse_cleanly() {
        let mut r = Report::new();
        let t = super::super::parse::parse_str(NORMATIVE_TYPES, NORMATIVE_FILE, &mut r);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let t = t.expect("parses");
        assert!(t.types.iter().any(|t| t.name == "tosca.nodes.Root"));
        let reg = TypeRegistry::normative();
        assert!(reg.derives_from(
            TypeKind::Artifact,
            "tosca.artifacts.Implementation.Python",
            "tosca.artifacts.Root"
        ));
        assert_eq!(
            reg.primitive_base("tosca.datatypes.json").as_deref(),
            Some("string")
        );
    }

    #[test]
    fn path_resolution() {
        assert_eq!(
            resolve("Definitions/top.yaml", "../Scripts/a.py").as_deref(),
            Some("Scripts/a.py")
        );
        assert_eq!(
            resolve("Definitions/top.yaml", "types.yaml").as_deref(),
            Some("Definitions/types.yaml")
        );
        assert_eq!(
            resolve("top.yaml", "./a/../b.yaml").as_deref(),
            Some("b.yaml")
        );
        assert_eq!(resolve("Definitions/top.yaml", "../../etc/passwd"), None);
        assert_eq!(resolve("Definitions/top.yaml", "/etc/passwd"), None);
    }
}
