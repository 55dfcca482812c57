//! Syntax layer: one YAML file → [`ServiceTemplate`]. Shape errors become findings;
//! semantics (types, values, references) are checked later by [`super::check`].

use super::codes;
use super::model::*;
use super::yaml::{self, Key, Node, Value};
use crate::diag::{Code, Location, Report};
use indexmap::IndexMap;

/// Accepted `tosca_definitions_version` values.
pub const VERSIONS: &[&str] = &["tosca_simple_yaml_1_2", "tosca_simple_yaml_1_3"];

struct P<'a> {
    file: &'a str,
    report: &'a mut Report,
}

impl P<'_> {
    fn loc(&self, line: u32, column: u32, pointer: &str) -> Location {
        let mut l = if line == 0 {
            Location::file(self.file)
        } else {
            Location::at(self.file, line, column)
        };
        if !pointer.is_empty() {
            l = l.with_pointer(pointer);
        }
        l
    }
    fn at(&self, n: &Node, pointer: &str) -> Location {
        self.loc(n.line, n.column, pointer)
    }
    fn key_at(&self, k: &Key, pointer: &str) -> Location {
        self.loc(k.line, k.column, pointer)
    }
    fn err(&mut self, code: Code, msg: impl Into<String>, loc: Location) {
        self.report.error(code, msg, loc);
    }

    /// The node as a mapping, or a structure finding. `Null` is an empty mapping.
    fn map<'n>(&mut self, n: &'n Node, pointer: &str, what: &str) -> &'n [(Key, Node)] {
        match &n.value {
            Value::Map(m) => m,
            Value::Null => &[],
            _ => {
                let loc = self.at(n, pointer);
                self.err(
                    codes::STRUCTURE,
                    format!("{what} must be a map, found {}", n.kind()),
                    loc,
                );
                &[]
            }
        }
    }

    fn string(&mut self, n: &Node, pointer: &str, what: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(n.render()),
            _ => {
                let loc = self.at(n, pointer);
                self.err(
                    codes::STRUCTURE,
                    format!("{what} must be a string, found {}", n.kind()),
                    loc,
                );
                None
            }
        }
    }

    fn opt_string(&mut self, parent: &Node, key: &str, pointer: &str) -> Option<String> {
        let n = parent.get(key)?;
        if n.is_null() {
            return None;
        }
        self.string(n, &format!("{pointer}/{key}"), &format!("`{key}`"))
    }

    fn string_list(&mut self, n: &Node, pointer: &str, what: &str) -> Vec<(String, Location)> {
        match &n.value {
            Value::Seq(items) => {
                let mut v = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    let p = format!("{pointer}/{i}");
                    if let Some(s) = self.string(it, &p, what) {
                        v.push((s, self.at(it, &p)));
                    }
                }
                v
            }
            Value::Null => Vec::new(),
            Value::Str(s) => vec![(s.clone(), self.at(n, pointer))],
            _ => {
                let loc = self.at(n, pointer);
                self.err(
                    codes::STRUCTURE,
                    format!("{what} must be a list of names, found {}", n.kind()),
                    loc,
                );
                Vec::new()
            }
        }
    }

    fn props(&mut self, n: Option<&Node>, pointer: &str) -> IndexMap<String, Node> {
        let mut out = IndexMap::new();
        if let Some(n) = n {
            for (k, v) in self.map(n, pointer, "`properties`") {
                out.insert(k.name.clone(), v.clone());
            }
        }
        out
    }
}

/// JSON-pointer escaping of one path segment (RFC 6901).
pub fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Parses one service-template file. Pure: reads nothing but `text`.
///
/// Every problem is pushed to `report` with `file`, line and column; `None` only when the
/// YAML itself cannot be parsed or the document is not a mapping.
pub fn parse_str(text: &str, file: &str, report: &mut Report) -> Option<ServiceTemplate> {
    let root = match yaml::parse(text) {
        Ok(n) => n,
        Err(e) => {
            let loc = match (e.line, e.column) {
                (Some(l), Some(c)) => Location::at(file, l, c),
                (Some(l), None) => Location {
                    line: Some(l),
                    ..Location::file(file)
                },
                _ => Location::file(file),
            };
            report.error(
                codes::YAML_SYNTAX,
                format!("invalid YAML: {}", e.message),
                loc,
            );
            return None;
        }
    };
    let mut p = P { file, report };
    if !matches!(root.value, Value::Map(_)) {
        let loc = p.at(&root, "");
        p.err(
            codes::STRUCTURE,
            format!("a service template must be a map, found {}", root.kind()),
            loc,
        );
        return None;
    }
    let version = match root.entry("tosca_definitions_version") {
        None => {
            let loc = Location::file(file);
            p.err(
                codes::VERSION_MISSING,
                "`tosca_definitions_version` is missing",
                loc,
            );
            String::new()
        }
        Some((_, v)) => {
            let s = p
                .string(
                    v,
                    "/tosca_definitions_version",
                    "`tosca_definitions_version`",
                )
                .unwrap_or_default();
            if !VERSIONS.contains(&s.as_str()) {
                let loc = p.at(v, "/tosca_definitions_version");
                p.err(
                    codes::VERSION_UNSUPPORTED,
                    format!(
                        "unsupported tosca_definitions_version `{s}` (expected one of {})",
                        VERSIONS.join(", ")
                    ),
                    loc,
                );
            }
            s
        }
    };
    let description = p.opt_string(&root, "description", "");
    let metadata = match root.get("metadata") {
        Some(m) => {
            let mut out = IndexMap::new();
            for (k, v) in p.map(m, "/metadata", "`metadata`") {
                out.insert(k.name.clone(), v.clone());
            }
            out
        }
        None => IndexMap::new(),
    };
    let imports = root
        .get("imports")
        .map(|n| parse_imports(&mut p, n))
        .unwrap_or_default();
    let mut types = Vec::new();
    for kind in TypeKind::ALL {
        if let Some(sec) = root.get(kind.section()) {
            let ptr = format!("/{}", kind.section());
            for (k, v) in p.map(sec, &ptr, &format!("`{}`", kind.section())) {
                let tp = format!("{ptr}/{}", esc(&k.name));
                if let Some(t) = parse_type(&mut p, kind, k, v, &tp) {
                    types.push(t);
                }
            }
        }
    }
    let topology = root
        .get("topology_template")
        .map(|n| parse_topology(&mut p, n));
    for (k, _) in root.as_map().unwrap_or(&[]) {
        const KNOWN: &[&str] = &[
            "tosca_definitions_version",
            "description",
            "metadata",
            "imports",
            "dsl_definitions",
            "repositories",
            "namespace",
            "topology_template",
            "node_types",
            "data_types",
            "capability_types",
            "relationship_types",
            "interface_types",
            "artifact_types",
            "policy_types",
            "group_types",
        ];
        if !KNOWN.contains(&k.name.as_str()) {
            let loc = p.key_at(k, &format!("/{}", esc(&k.name)));
            p.report.warning(
                codes::UNKNOWN_KEY,
                format!("unknown service template key `{}`", k.name),
                loc,
            );
        }
    }
    Some(ServiceTemplate {
        file: file.to_owned(),
        version,
        description,
        metadata,
        imports,
        types,
        topology,
    })
}

fn parse_imports(p: &mut P, n: &Node) -> Vec<Import> {
    let mut out = Vec::new();
    let Some(items) = n.as_seq() else {
        if !n.is_null() {
            let loc = p.at(n, "/imports");
            p.err(codes::STRUCTURE, "`imports` must be a list", loc);
        }
        return out;
    };
    for (i, it) in items.iter().enumerate() {
        let ptr = format!("/imports/{i}");
        match &it.value {
            Value::Str(s) => out.push(Import {
                file: s.clone(),
                location: p.at(it, &ptr),
            }),
            Value::Map(m) => {
                // `- file: x` (TOSCA 1.2) or the legacy `- name: {file: x}` form.
                if let Some(f) = it.get("file") {
                    if let Some(s) = p.string(f, &format!("{ptr}/file"), "import `file`") {
                        out.push(Import {
                            file: s,
                            location: p.at(f, &format!("{ptr}/file")),
                        });
                    }
                } else if m.len() == 1 {
                    let (k, v) = &m[0];
                    let inner = format!("{ptr}/{}", esc(&k.name));
                    match &v.value {
                        Value::Str(s) => out.push(Import {
                            file: s.clone(),
                            location: p.at(v, &inner),
                        }),
                        _ => match v.get("file") {
                            Some(f) => {
                                if let Some(s) = p.string(f, &inner, "import `file`") {
                                    out.push(Import {
                                        file: s,
                                        location: p.at(f, &inner),
                                    });
                                }
                            }
                            None => {
                                let loc = p.at(it, &ptr);
                                p.err(codes::STRUCTURE, "import without `file`", loc);
                            }
                        },
                    }
                } else {
                    let loc = p.at(it, &ptr);
                    p.err(codes::STRUCTURE, "import without `file`", loc);
                }
            }
            _ => {
                let loc = p.at(it, &ptr);
                p.err(
                    codes::STRUCTURE,
                    format!("an import must be a string or a map, found {}", it.kind()),
                    loc,
                );
            }
        }
    }
    out
}

fn parse_type(p: &mut P, kind: TypeKind, k: &Key, v: &Node, ptr: &str) -> Option<TypeDef> {
    p.map(v, ptr, &format!("{} `{}`", kind.noun(), k.name));
    let derived_from = match v.get("derived_from") {
        Some(d) => p
            .string(d, &format!("{ptr}/derived_from"), "`derived_from`")
            .map(|s| (s, p.at(d, &format!("{ptr}/derived_from")))),
        None => None,
    };
    let description = p.opt_string(v, "description", ptr);
    let mut properties = IndexMap::new();
    if let Some(pr) = v.get("properties") {
        let pp = format!("{ptr}/properties");
        for (pk, pv) in p.map(pr, &pp, "`properties`") {
            let ptrp = format!("{pp}/{}", esc(&pk.name));
            if let Some(d) = parse_property_def(p, pk, pv, &ptrp) {
                properties.insert(pk.name.clone(), d);
            }
        }
    }
    let mut requirements = Vec::new();
    if let Some(rq) = v.get("requirements") {
        let rp = format!("{ptr}/requirements");
        let items: Vec<&Node> = match &rq.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Map(_) => vec![rq],
            Value::Null => vec![],
            _ => {
                let loc = p.at(rq, &rp);
                p.err(codes::STRUCTURE, "`requirements` must be a list", loc);
                vec![]
            }
        };
        for (i, it) in items.into_iter().enumerate() {
            let ip = format!("{rp}/{i}");
            for (rk, rv) in p.map(it, &ip, "a requirement definition") {
                let rpp = format!("{ip}/{}", esc(&rk.name));
                let (capability, node, relationship) = match &rv.value {
                    Value::Str(s) => (Some(s.clone()), None, None),
                    Value::Map(_) => {
                        let relationship = match rv.get("relationship") {
                            Some(r) if r.as_map().is_some() => {
                                p.opt_string(r, "type", &format!("{rpp}/relationship"))
                            }
                            Some(_) => p.opt_string(rv, "relationship", &rpp),
                            None => None,
                        };
                        (
                            p.opt_string(rv, "capability", &rpp),
                            p.opt_string(rv, "node", &rpp),
                            relationship,
                        )
                    }
                    _ => {
                        let loc = p.at(rv, &rpp);
                        p.err(
                            codes::STRUCTURE,
                            "a requirement definition must be a capability name or a map",
                            loc,
                        );
                        (None, None, None)
                    }
                };
                requirements.push(RequirementDef {
                    name: rk.name.clone(),
                    capability,
                    node,
                    relationship,
                    location: p.key_at(rk, &rpp),
                });
            }
        }
    }
    let mut capabilities = IndexMap::new();
    if let Some(c) = v.get("capabilities") {
        let cp = format!("{ptr}/capabilities");
        for (ck, cv) in p.map(c, &cp, "`capabilities`") {
            let cpp = format!("{cp}/{}", esc(&ck.name));
            let t = match &cv.value {
                Value::Str(s) => Some((s.clone(), p.at(cv, &cpp))),
                _ => cv.get("type").and_then(|t| {
                    p.string(t, &format!("{cpp}/type"), "capability `type`")
                        .map(|s| (s, p.at(t, &format!("{cpp}/type"))))
                }),
            };
            match t {
                Some(t) => {
                    capabilities.insert(ck.name.clone(), t);
                }
                None => {
                    let loc = p.key_at(ck, &cpp);
                    p.err(
                        codes::STRUCTURE,
                        "capability definition without `type`",
                        loc,
                    );
                }
            }
        }
    }
    let mut interfaces = IndexMap::new();
    if let Some(c) = v.get("interfaces") {
        let ip = format!("{ptr}/interfaces");
        for (ik, iv) in p.map(c, &ip, "`interfaces`") {
            let ipp = format!("{ip}/{}", esc(&ik.name));
            match iv.get("type") {
                Some(t) => {
                    if let Some(s) = p.string(t, &format!("{ipp}/type"), "interface `type`") {
                        interfaces.insert(ik.name.clone(), (s, p.at(t, &format!("{ipp}/type"))));
                    }
                }
                None => {
                    let loc = p.key_at(ik, &ipp);
                    p.err(codes::STRUCTURE, "interface definition without `type`", loc);
                }
            }
        }
    }
    let mut operations = Vec::new();
    if kind == TypeKind::Interface {
        const KW: &[&str] = &[
            "derived_from",
            "description",
            "version",
            "metadata",
            "inputs",
            "operations",
            "notifications",
        ];
        for (ok, _) in v.as_map().unwrap_or(&[]) {
            if !KW.contains(&ok.name.as_str()) {
                operations.push(ok.name.clone());
            }
        }
        if let Some(ops) = v.get("operations") {
            for (ok, _) in p.map(ops, &format!("{ptr}/operations"), "`operations`") {
                operations.push(ok.name.clone());
            }
        }
    }
    let mut targets = Vec::new();
    for key in ["targets", "members"] {
        if let Some(t) = v.get(key) {
            targets.extend(
                p.string_list(t, &format!("{ptr}/{key}"), &format!("`{key}`"))
                    .into_iter()
                    .map(|(s, _)| s),
            );
        }
    }
    let mut constraints = Vec::new();
    if let Some(items) = v.get("constraints").and_then(Node::as_seq) {
        for (i, it) in items.iter().enumerate() {
            if let Some(c) = parse_constraint(p, it, &format!("{ptr}/constraints/{i}")) {
                constraints.push(c);
            }
        }
    }
    Some(TypeDef {
        name: k.name.clone(),
        constraints,
        kind,
        derived_from,
        description,
        properties,
        requirements,
        capabilities,
        interfaces,
        operations,
        targets,
        file: p.file.to_owned(),
        location: p.key_at(k, ptr),
    })
}

fn parse_property_def(p: &mut P, k: &Key, v: &Node, ptr: &str) -> Option<PropertyDef> {
    if v.as_map().is_none() {
        let loc = p.at(v, ptr);
        p.err(
            codes::STRUCTURE,
            format!("property definition `{}` must be a map", k.name),
            loc,
        );
        return None;
    }
    let schema = parse_schema(p, v, ptr)?;
    let required = match v.get("required") {
        None => true,
        Some(r) => match r.as_bool() {
            Some(b) => b,
            None => {
                let loc = p.at(r, &format!("{ptr}/required"));
                p.err(codes::STRUCTURE, "`required` must be true or false", loc);
                true
            }
        },
    };
    Some(PropertyDef {
        name: k.name.clone(),
        schema,
        required,
        default: v.get("default").cloned(),
        description: p.opt_string(v, "description", ptr),
        location: p.key_at(k, ptr),
    })
}

/// Parses `type`, `constraints` and `entry_schema` of a property definition or an
/// `entry_schema` (which may also be a bare type name).
fn parse_schema(p: &mut P, v: &Node, ptr: &str) -> Option<Schema> {
    if let Value::Str(s) = &v.value {
        return Some(Schema {
            type_name: s.clone(),
            constraints: Vec::new(),
            entry_schema: None,
            location: p.at(v, ptr),
        });
    }
    let Some(t) = v.get("type") else {
        let loc = p.at(v, ptr);
        p.err(codes::STRUCTURE, "definition without `type`", loc);
        return None;
    };
    let tp = format!("{ptr}/type");
    let type_name = p.string(t, &tp, "`type`")?;
    let location = p.at(t, &tp);
    let mut constraints = Vec::new();
    if let Some(c) = v.get("constraints") {
        let cp = format!("{ptr}/constraints");
        match c.as_seq() {
            Some(items) => {
                for (i, it) in items.iter().enumerate() {
                    if let Some(c) = parse_constraint(p, it, &format!("{cp}/{i}")) {
                        constraints.push(c);
                    }
                }
            }
            None => {
                if !c.is_null() {
                    let loc = p.at(c, &cp);
                    p.err(codes::STRUCTURE, "`constraints` must be a list", loc);
                }
            }
        }
    }
    let entry_schema = match v.get("entry_schema") {
        Some(e) => parse_schema(p, e, &format!("{ptr}/entry_schema")).map(Box::new),
        None => None,
    };
    Some(Schema {
        type_name,
        constraints,
        entry_schema,
        location,
    })
}

fn length_operand(p: &mut P, n: &Node, ptr: &str) -> Option<u64> {
    match n.as_i64().and_then(|i| u64::try_from(i).ok()) {
        Some(u) => Some(u),
        None => {
            let loc = p.at(n, ptr);
            p.err(
                codes::CONSTRAINT_INVALID,
                "length operand must be a non-negative integer",
                loc,
            );
            None
        }
    }
}

fn parse_constraint(p: &mut P, n: &Node, ptr: &str) -> Option<Constraint> {
    let m = n.as_map().filter(|m| m.len() == 1);
    let Some([(k, v)]) = m else {
        let loc = p.at(n, ptr);
        p.err(
            codes::CONSTRAINT_INVALID,
            "a constraint must be a map with exactly one operator",
            loc,
        );
        return None;
    };
    let op_ptr = format!("{ptr}/{}", esc(&k.name));
    let location = p.key_at(k, &op_ptr);
    let op = match k.name.as_str() {
        "equal" => ConstraintOp::Equal(v.clone()),
        "greater_than" => ConstraintOp::GreaterThan(v.clone()),
        "greater_or_equal" => ConstraintOp::GreaterOrEqual(v.clone()),
        "less_than" => ConstraintOp::LessThan(v.clone()),
        "less_or_equal" => ConstraintOp::LessOrEqual(v.clone()),
        "in_range" => match v.as_seq() {
            Some([a, b]) => ConstraintOp::InRange(a.clone(), b.clone()),
            _ => {
                let loc = p.at(v, &op_ptr);
                p.err(
                    codes::CONSTRAINT_INVALID,
                    "`in_range` needs a list of two values",
                    loc,
                );
                return None;
            }
        },
        "valid_values" => match v.as_seq() {
            Some(items) => ConstraintOp::ValidValues(items.to_vec()),
            None => {
                let loc = p.at(v, &op_ptr);
                p.err(
                    codes::CONSTRAINT_INVALID,
                    "`valid_values` needs a list",
                    loc,
                );
                return None;
            }
        },
        "length" => ConstraintOp::Length(length_operand(p, v, &op_ptr)?),
        "min_length" => ConstraintOp::MinLength(length_operand(p, v, &op_ptr)?),
        "max_length" => ConstraintOp::MaxLength(length_operand(p, v, &op_ptr)?),
        "pattern" => {
            let src = p.string(v, &op_ptr, "`pattern`")?;
            match regex::Regex::new(&format!("^(?:{src})$")) {
                Ok(re) => ConstraintOp::Pattern(src, re),
                Err(e) => {
                    let loc = p.at(v, &op_ptr);
                    p.err(
                        codes::CONSTRAINT_INVALID,
                        format!("invalid `pattern` regular expression: {e}"),
                        loc,
                    );
                    return None;
                }
            }
        }
        other => {
            let loc = location.clone();
            p.err(
                codes::CONSTRAINT_INVALID,
                format!("unknown constraint operator `{other}`"),
                loc,
            );
            return None;
        }
    };
    Some(Constraint { op, location })
}

fn parse_topology(p: &mut P, n: &Node) -> Topology {
    let ptr = "/topology_template";
    let mut t = Topology {
        location: p.at(n, ptr),
        ..Default::default()
    };
    p.map(n, ptr, "`topology_template`");
    t.description = p.opt_string(n, "description", ptr);
    if let Some(inputs) = n.get("inputs") {
        let ip = format!("{ptr}/inputs");
        for (k, v) in p.map(inputs, &ip, "`inputs`") {
            let pp = format!("{ip}/{}", esc(&k.name));
            if let Some(d) = parse_property_def(p, k, v, &pp) {
                t.inputs.insert(k.name.clone(), d);
            }
        }
    }
    if let Some(nts) = n.get("node_templates") {
        let np = format!("{ptr}/node_templates");
        for (k, v) in p.map(nts, &np, "`node_templates`") {
            let pp = format!("{np}/{}", esc(&k.name));
            if let Some(nt) = parse_node_template(p, k, v, &pp) {
                t.node_templates.insert(k.name.clone(), nt);
            }
        }
    }
    if let Some(g) = n.get("groups") {
        let gp = format!("{ptr}/groups");
        for (k, v) in p.map(g, &gp, "`groups`") {
            let pp = format!("{gp}/{}", esc(&k.name));
            p.map(v, &pp, "a group");
            let Some((type_name, type_location)) = required_type(p, k, v, &pp) else {
                continue;
            };
            let members = v
                .get("members")
                .map(|m| p.string_list(m, &format!("{pp}/members"), "`members`"))
                .unwrap_or_default();
            let properties = p.props(v.get("properties"), &format!("{pp}/properties"));
            t.groups.insert(
                k.name.clone(),
                Group {
                    name: k.name.clone(),
                    type_name,
                    properties,
                    members,
                    location: p.key_at(k, &pp),
                    type_location,
                    pointer: pp,
                },
            );
        }
    }
    if let Some(pol) = n.get("policies") {
        let pp = format!("{ptr}/policies");
        // List of single-entry maps (TOSCA 1.2+) or a plain map.
        let entries: Vec<(String, &Key, &Node)> = match &pol.value {
            Value::Seq(items) => {
                let mut v = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    let ip = format!("{pp}/{i}");
                    for (k, val) in p.map(it, &ip, "a policy") {
                        v.push((format!("{ip}/{}", esc(&k.name)), k, val));
                    }
                }
                v
            }
            _ => p
                .map(pol, &pp, "`policies`")
                .iter()
                .map(|(k, val)| (format!("{pp}/{}", esc(&k.name)), k, val))
                .collect(),
        };
        for (ip, k, v) in entries {
            p.map(v, &ip, "a policy");
            let Some((type_name, type_location)) = required_type(p, k, v, &ip) else {
                continue;
            };
            let targets = v
                .get("targets")
                .map(|m| p.string_list(m, &format!("{ip}/targets"), "`targets`"))
                .unwrap_or_default();
            let properties = p.props(v.get("properties"), &format!("{ip}/properties"));
            t.policies.push(Policy {
                name: k.name.clone(),
                type_name,
                properties,
                targets,
                location: p.key_at(k, &ip),
                type_location,
                pointer: ip,
            });
        }
    }
    if let Some(sm) = n.get("substitution_mappings") {
        t.substitution = parse_substitution(p, sm, &format!("{ptr}/substitution_mappings"));
    }
    t
}

fn required_type(p: &mut P, k: &Key, v: &Node, ptr: &str) -> Option<(String, Location)> {
    match v.get("type") {
        Some(t) => {
            let tp = format!("{ptr}/type");
            let s = p.string(t, &tp, "`type`")?;
            Some((s, p.at(t, &tp)))
        }
        None => {
            let loc = p.key_at(k, ptr);
            p.err(codes::STRUCTURE, format!("`{}` has no `type`", k.name), loc);
            None
        }
    }
}

fn parse_substitution(p: &mut P, sm: &Node, ptr: &str) -> Option<SubstitutionMappings> {
    p.map(sm, ptr, "`substitution_mappings`");
    let Some(nt) = sm.get("node_type") else {
        let loc = p.at(sm, ptr);
        p.err(
            codes::STRUCTURE,
            "`substitution_mappings` has no `node_type`",
            loc,
        );
        return None;
    };
    let ntp = format!("{ptr}/node_type");
    let node_type = p.string(nt, &ntp, "`node_type`")?;
    let node_type_location = p.at(nt, &ntp);
    let properties = p.props(sm.get("properties"), &format!("{ptr}/properties"));
    let mut requirements = IndexMap::new();
    if let Some(r) = sm.get("requirements") {
        let rp = format!("{ptr}/requirements");
        // Map form `name: [node, req]`, or the list-of-maps form.
        let entries: Vec<(&Key, &Node)> = match &r.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| i.as_map())
                .flat_map(|m| m.iter().map(|(k, v)| (k, v)))
                .collect(),
            _ => p
                .map(r, &rp, "`requirements`")
                .iter()
                .map(|(k, v)| (k, v))
                .collect(),
        };
        for (k, v) in entries {
            let ep = format!("{rp}/{}", esc(&k.name));
            match v.as_seq() {
                Some([a, b]) => {
                    let (Some(a), Some(b)) = (
                        p.string(a, &ep, "a node template name"),
                        p.string(b, &ep, "a requirement name"),
                    ) else {
                        continue;
                    };
                    requirements.insert(k.name.clone(), (a, b, p.at(v, &ep)));
                }
                _ => {
                    let loc = p.at(v, &ep);
                    p.err(
                        codes::STRUCTURE,
                        "a substitution requirement must be `[node_template, requirement]`",
                        loc,
                    );
                }
            }
        }
    }
    Some(SubstitutionMappings {
        node_type,
        properties,
        requirements,
        location: p.at(sm, ptr),
        node_type_location,
    })
}

fn parse_node_template(p: &mut P, k: &Key, v: &Node, ptr: &str) -> Option<NodeTemplate> {
    p.map(v, ptr, &format!("node template `{}`", k.name));
    let (type_name, type_location) = required_type(p, k, v, ptr)?;
    let properties = p.props(v.get("properties"), &format!("{ptr}/properties"));
    let mut requirements = Vec::new();
    if let Some(r) = v.get("requirements") {
        let rp = format!("{ptr}/requirements");
        let items: &[Node] = match &r.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                let loc = p.at(r, &rp);
                p.err(codes::STRUCTURE, "`requirements` must be a list", loc);
                &[]
            }
        };
        for (i, it) in items.iter().enumerate() {
            let ip = format!("{rp}/{i}");
            for (rk, rv) in p.map(it, &ip, "a requirement assignment") {
                let rpp = format!("{ip}/{}", esc(&rk.name));
                let location = p.key_at(rk, &rpp);
                let ra = match &rv.value {
                    // Short form: `- virtual_binding: masterNode`.
                    Value::Str(s) => RequirementAssignment {
                        name: rk.name.clone(),
                        node: Some(s.clone()),
                        capability: None,
                        relationship: None,
                        node_location: p.at(rv, &rpp),
                        location,
                    },
                    Value::Map(_) => {
                        let relationship = match rv.get("relationship") {
                            Some(rel) if rel.as_map().is_some() => {
                                p.opt_string(rel, "type", &format!("{rpp}/relationship"))
                            }
                            Some(_) => p.opt_string(rv, "relationship", &rpp),
                            None => None,
                        };
                        let node_location = rv
                            .get("node")
                            .map(|n| p.at(n, &format!("{rpp}/node")))
                            .unwrap_or_else(|| location.clone());
                        RequirementAssignment {
                            name: rk.name.clone(),
                            node: p.opt_string(rv, "node", &rpp),
                            capability: p.opt_string(rv, "capability", &rpp),
                            relationship,
                            location,
                            node_location,
                        }
                    }
                    Value::Null => RequirementAssignment {
                        name: rk.name.clone(),
                        node: None,
                        capability: None,
                        relationship: None,
                        node_location: location.clone(),
                        location,
                    },
                    _ => {
                        p.err(
                            codes::STRUCTURE,
                            format!(
                                "requirement `{}` must be a node name or a map, found {}",
                                rk.name,
                                rv.kind()
                            ),
                            location,
                        );
                        continue;
                    }
                };
                requirements.push(ra);
            }
        }
    }
    let mut capabilities = IndexMap::new();
    if let Some(c) = v.get("capabilities") {
        let cp = format!("{ptr}/capabilities");
        for (ck, cv) in p.map(c, &cp, "`capabilities`") {
            let cpp = format!("{cp}/{}", esc(&ck.name));
            p.map(cv, &cpp, "a capability assignment");
            let props = p.props(cv.get("properties"), &format!("{cpp}/properties"));
            capabilities.insert(ck.name.clone(), (props, p.key_at(ck, &cpp)));
        }
    }
    let mut interfaces = IndexMap::new();
    if let Some(c) = v.get("interfaces") {
        let ip = format!("{ptr}/interfaces");
        for (ik, iv) in p.map(c, &ip, "`interfaces`") {
            let ipp = format!("{ip}/{}", esc(&ik.name));
            let mut operations = IndexMap::new();
            // TOSCA 1.3 nests operations under `operations:`; 1.2 lists them directly.
            let ops_node = iv.get("operations").unwrap_or(iv);
            let ops_ptr = if iv.get("operations").is_some() {
                format!("{ipp}/operations")
            } else {
                ipp.clone()
            };
            for (ok, ov) in p.map(ops_node, &ops_ptr, "an interface assignment") {
                if ok.name == "inputs" || ok.name == "type" || ok.name == "operations" {
                    continue;
                }
                let opp = format!("{ops_ptr}/{}", esc(&ok.name));
                let op = parse_operation(p, ok, ov, &opp);
                operations.insert(ok.name.clone(), op);
            }
            interfaces.insert(
                ik.name.clone(),
                InterfaceAssignment {
                    name: ik.name.clone(),
                    operations,
                    location: p.key_at(ik, &ipp),
                },
            );
        }
    }
    let mut artifacts = IndexMap::new();
    if let Some(a) = v.get("artifacts") {
        let ap = format!("{ptr}/artifacts");
        for (ak, av) in p.map(a, &ap, "`artifacts`") {
            let app = format!("{ap}/{}", esc(&ak.name));
            let (file, artifact_type, type_location) = match &av.value {
                Value::Str(s) => (s.clone(), String::new(), p.at(av, &app)),
                Value::Map(_) => {
                    let file = match av.get("file") {
                        Some(f) => p.string(f, &format!("{app}/file"), "artifact `file`"),
                        None => {
                            let loc = p.key_at(ak, &app);
                            p.err(codes::STRUCTURE, "artifact without `file`", loc);
                            None
                        }
                    };
                    let Some(file) = file else { continue };
                    let Some((t, tl)) = required_type(p, ak, av, &app) else {
                        continue;
                    };
                    (file, t, tl)
                }
                _ => {
                    let loc = p.at(av, &app);
                    p.err(
                        codes::STRUCTURE,
                        "an artifact must be a file name or a map",
                        loc,
                    );
                    continue;
                }
            };
            let description = p.opt_string(av, "description", &app);
            artifacts.insert(
                ak.name.clone(),
                ArtifactDef {
                    name: ak.name.clone(),
                    artifact_type,
                    file,
                    resolved: None,
                    external: false,
                    description,
                    location: p.key_at(ak, &app),
                    type_location,
                },
            );
        }
    }
    Some(NodeTemplate {
        name: k.name.clone(),
        type_name,
        description: p.opt_string(v, "description", ptr),
        properties,
        requirements,
        capabilities,
        interfaces,
        artifacts,
        location: p.key_at(k, ptr),
        type_location,
        pointer: ptr.to_owned(),
    })
}

fn parse_operation(p: &mut P, k: &Key, v: &Node, ptr: &str) -> Operation {
    let location = p.key_at(k, ptr);
    let mut inputs = IndexMap::new();
    let implementation = match &v.value {
        Value::Str(s) => Some(Implementation {
            primary: s.clone(),
            dependencies: Vec::new(),
            location: p.at(v, ptr),
        }),
        Value::Null | Value::Seq(_) => None,
        Value::Map(_) => {
            if let Some(i) = v.get("inputs") {
                for (ik, iv) in p.map(i, &format!("{ptr}/inputs"), "`inputs`") {
                    inputs.insert(ik.name.clone(), iv.clone());
                }
            }
            match v.get("implementation") {
                None => None,
                Some(imp) => {
                    let ip = format!("{ptr}/implementation");
                    match &imp.value {
                        Value::Str(s) => Some(Implementation {
                            primary: s.clone(),
                            dependencies: Vec::new(),
                            location: p.at(imp, &ip),
                        }),
                        Value::Map(_) => {
                            let primary = p.opt_string(imp, "primary", &ip);
                            let dependencies = imp
                                .get("dependencies")
                                .map(|d| {
                                    p.string_list(d, &format!("{ip}/dependencies"), "a dependency")
                                        .into_iter()
                                        .map(|(s, _)| s)
                                        .collect()
                                })
                                .unwrap_or_default();
                            match primary {
                                Some(primary) => Some(Implementation {
                                    primary,
                                    dependencies,
                                    location: p.at(imp, &ip),
                                }),
                                None => {
                                    let loc = p.at(imp, &ip);
                                    p.err(
                                        codes::STRUCTURE,
                                        "`implementation` map without `primary`",
                                        loc,
                                    );
                                    None
                                }
                            }
                        }
                        Value::Null | Value::Seq(_) => None,
                        _ => {
                            let loc = p.at(imp, &ip);
                            p.err(
                                codes::STRUCTURE,
                                "`implementation` must be an artifact name or a map",
                                loc,
                            );
                            None
                        }
                    }
                }
            }
        }
        _ => {
            p.err(
                codes::STRUCTURE,
                format!("operation `{}` must be a map or an artifact name", k.name),
                location.clone(),
            );
            None
        }
    };
    Operation {
        name: k.name.clone(),
        implementation,
        inputs,
        location,
    }
}
