//! HOT handling: validation (resource types, intrinsic functions, references) and
//! evaluation of the intrinsic functions the generated templates use.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Resource types the emulator can instantiate (besides template resources from `files`).
pub const SUPPORTED_TYPES: &[&str] = &[
    "OS::Nova::Server",
    "OS::Neutron::Port",
    "OS::Neutron::FloatingIP",
    "OS::Cinder::Volume",
    "OS::Heat::AutoScalingGroup",
    "OS::Heat::ScalingPolicy",
    "OS::Nova::ServerGroup",
];

/// Intrinsic functions the emulator evaluates.
pub const SUPPORTED_FUNCTIONS: &[&str] = &[
    "get_param",
    "get_resource",
    "get_attr",
    "list_join",
    "str_replace",
];

/// Every other function name Heat knows (any HOT version); using one is a 400.
const OTHER_FUNCTIONS: &[&str] = &[
    "get_file",
    "resource_facade",
    "digest",
    "repeat",
    "str_split",
    "map_merge",
    "map_replace",
    "yaql",
    "equals",
    "if",
    "not",
    "and",
    "or",
    "filter",
    "make_url",
    "list_concat",
    "list_concat_unique",
    "contains",
    "str_replace_strict",
    "str_replace_vstrict",
    "Fn::Select",
    "Fn::GetAZs",
    "Fn::Join",
    "Fn::Split",
    "Fn::Replace",
    "Fn::Base64",
    "Fn::MemberListToMap",
    "Fn::ResourceFacade",
    "Fn::GetAtt",
    "Ref",
];

/// Pseudo parameters every stack has.
pub const PSEUDO_PARAMS: &[&str] = &["OS::stack_name", "OS::stack_id", "OS::project_id"];

/// A validation failure: Heat answers it with 400 and this `error.type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Heat exception class name, e.g. `StackValidationFailed`.
    pub kind: &'static str,
    /// Human-readable message.
    pub message: String,
}

fn invalid(kind: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        kind,
        message: message.into(),
    }
}

/// Parses a template given as a JSON object or as YAML/JSON text.
pub fn parse_template(what: &str, v: &Value) -> Result<Value, Invalid> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::String(s) => serde_saphyr::from_str::<Value>(s).map_err(|e| {
            let first = e.to_string().lines().next().unwrap_or("").to_string();
            invalid("InvalidTemplateFormat", format!("{what}: {first}"))
        }),
        _ => Err(invalid(
            "InvalidTemplateFormat",
            format!("{what}: a template must be a mapping or YAML text"),
        )),
    }
}

/// The `resources` mapping of a template.
pub fn resources(t: &Value) -> Map<String, Value> {
    t.get("resources")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Validates a template and, recursively, the nested templates its resources use.
/// `files` maps the names resource types use to parsed templates. `given` are the
/// parameter values (top stack only: nested ones come from properties).
pub fn validate(
    what: &str,
    t: &Value,
    files: &BTreeMap<String, Value>,
    given: Option<&Map<String, Value>>,
    depth: usize,
) -> Result<(), Invalid> {
    if depth > 5 {
        return Err(invalid(
            "StackValidationFailed",
            format!("{what}: template nesting deeper than 5"),
        ));
    }
    let obj = t.as_object().ok_or_else(|| {
        invalid(
            "StackValidationFailed",
            format!("{what}: template is not a mapping"),
        )
    })?;
    if !obj
        .get("heat_template_version")
        .is_some_and(|v| v.is_string())
    {
        return Err(invalid(
            "StackValidationFailed",
            format!("{what}: missing or invalid heat_template_version"),
        ));
    }
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "heat_template_version"
                | "description"
                | "parameters"
                | "resources"
                | "outputs"
                | "parameter_groups"
                | "conditions"
        ) {
            return Err(invalid(
                "StackValidationFailed",
                format!("{what}: unknown section \"{key}\""),
            ));
        }
    }
    if obj.get("conditions").is_some_and(|c| !c.is_null()) {
        return Err(invalid(
            "StackValidationFailed",
            format!("{what}: the conditions section is not supported by openstack-emu"),
        ));
    }
    let params: Map<String, Value> = obj
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(given) = given {
        for (name, p) in &params {
            if p.get("default").is_none() && !given.contains_key(name) {
                return Err(invalid(
                    "UserParameterMissing",
                    format!("The Parameter ({name}) was not provided."),
                ));
            }
        }
        for name in given.keys() {
            if !params.contains_key(name) {
                return Err(invalid(
                    "StackValidationFailed",
                    format!("{what}: The Parameter ({name}) was not defined in template."),
                ));
            }
        }
    }
    let res = match obj.get("resources") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(invalid(
                "StackValidationFailed",
                format!("{what}: resources must be a mapping"),
            ));
        }
    };
    for (name, r) in &res {
        let rtype = r.get("type").and_then(Value::as_str).ok_or_else(|| {
            invalid(
                "StackValidationFailed",
                format!("{what}: resources.{name}: missing type"),
            )
        })?;
        check_type(what, name, rtype, files)?;
        if let Some(nested) = files.get(rtype) {
            validate(rtype, nested, files, None, depth + 1)?;
        }
        if rtype == "OS::Heat::AutoScalingGroup" {
            let mtype = r
                .pointer("/properties/resource/type")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(
                        "StackValidationFailed",
                        format!("{what}: resources.{name}: Property resource.type not assigned"),
                    )
                })?;
            check_type(what, name, mtype, files)?;
            if let Some(nested) = files.get(mtype) {
                validate(mtype, nested, files, None, depth + 1)?;
            }
        }
        for (k, v) in r.as_object().into_iter().flatten() {
            match k.as_str() {
                "type" | "metadata" | "update_policy" | "deletion_policy" | "description" => {}
                "properties" => {
                    check_functions(what, &format!("{name}.properties"), v, &params, &res)?
                }
                "depends_on" => {
                    let deps: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for d in deps {
                        let d = d.as_str().unwrap_or("");
                        if !res.contains_key(d) {
                            return Err(invalid(
                                "InvalidTemplateReference",
                                format!(
                                    "{what}: The specified reference \"{d}\" (in {name}) is incorrect."
                                ),
                            ));
                        }
                    }
                }
                other => {
                    return Err(invalid(
                        "StackValidationFailed",
                        format!("{what}: resources.{name}: unknown key \"{other}\""),
                    ));
                }
            }
        }
    }
    if let Some(outs) = obj.get("outputs").and_then(Value::as_object) {
        for (name, o) in outs {
            check_functions(what, &format!("outputs.{name}"), o, &params, &res)?;
        }
    }
    dependency_order(t)
        .map_err(|m| invalid("CircularDependencyException", format!("{what}: {m}")))?;
    Ok(())
}

fn check_type(
    what: &str,
    name: &str,
    rtype: &str,
    files: &BTreeMap<String, Value>,
) -> Result<(), Invalid> {
    if SUPPORTED_TYPES.contains(&rtype) || files.contains_key(rtype) {
        return Ok(());
    }
    if rtype.ends_with(".yaml") || rtype.ends_with(".yml") || rtype.ends_with(".template") {
        return Err(invalid(
            "NotFound",
            format!(
                "{what}: resources.{name}: Could not fetch remote template \"{rtype}\": not in files"
            ),
        ));
    }
    Err(invalid(
        "StackValidationFailed",
        format!(
            "{what}: resources.{name}: The Resource Type ({rtype}) could not be found (openstack-emu supports {}).",
            SUPPORTED_TYPES.join(", ")
        ),
    ))
}

/// The single-key function call in `v`, if it is one.
fn as_call(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, a) = m.iter().next()?;
    (SUPPORTED_FUNCTIONS.contains(&k.as_str()) || OTHER_FUNCTIONS.contains(&k.as_str()))
        .then_some((k.as_str(), a))
}

fn check_functions(
    what: &str,
    at: &str,
    v: &Value,
    params: &Map<String, Value>,
    res: &Map<String, Value>,
) -> Result<(), Invalid> {
    if let Some((f, arg)) = as_call(v) {
        let bad_ref = |r: &str| {
            invalid(
                "InvalidTemplateReference",
                format!("{what}: The specified reference \"{r}\" (in {at}) is incorrect."),
            )
        };
        match f {
            "get_param" => {
                let name = match arg {
                    Value::String(s) => Some(s.as_str()),
                    Value::Array(a) => a.first().and_then(Value::as_str),
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(invalid(
                        "StackValidationFailed",
                        format!("{what}: {at}: get_param needs a parameter name"),
                    ));
                };
                if !params.contains_key(name) && !PSEUDO_PARAMS.contains(&name) {
                    return Err(invalid(
                        "StackValidationFailed",
                        format!(
                            "{what}: {at}: The Parameter ({name}) was not defined in template."
                        ),
                    ));
                }
            }
            "get_resource" => {
                let r = arg.as_str().unwrap_or("");
                if !res.contains_key(r) {
                    return Err(bad_ref(r));
                }
            }
            "get_attr" => {
                let r = arg
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !res.contains_key(r) || arg.as_array().is_none_or(|a| a.len() < 2) {
                    return Err(bad_ref(r));
                }
            }
            "list_join" | "str_replace" => {}
            other => {
                return Err(invalid(
                    "StackValidationFailed",
                    format!(
                        "{what}: {at}: function \"{other}\" is not supported by openstack-emu (supported: {})",
                        SUPPORTED_FUNCTIONS.join(", ")
                    ),
                ));
            }
        }
        return check_functions(what, at, arg, params, res);
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                check_functions(what, &format!("{at}.{k}"), x, params, res)?;
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_functions(what, &format!("{at}[{i}]"), x, params, res)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    if let Some((f, arg)) = as_call(v) {
        match f {
            "get_resource" => {
                if let Some(r) = arg.as_str() {
                    out.insert(r.to_string());
                }
            }
            "get_attr" => {
                if let Some(r) = arg
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                {
                    out.insert(r.to_string());
                }
            }
            _ => {}
        }
    }
    match v {
        Value::Object(m) => m.values().for_each(|x| collect_refs(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Resource names in an order where every resource comes after those it references.
pub fn dependency_order(t: &Value) -> Result<Vec<String>, String> {
    let res = resources(t);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, r) in &res {
        let mut d = BTreeSet::new();
        if let Some(p) = r.get("properties") {
            collect_refs(p, &mut d);
        }
        match r.get("depends_on") {
            Some(Value::String(s)) => {
                d.insert(s.clone());
            }
            Some(Value::Array(a)) => {
                d.extend(a.iter().filter_map(Value::as_str).map(String::from));
            }
            _ => {}
        }
        d.retain(|x| res.contains_key(x));
        deps.insert(name.clone(), d);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while order.len() < res.len() {
        let next = res
            .keys()
            .find(|n| !done.contains(*n) && deps[*n].iter().all(|d| done.contains(d)));
        match next {
            Some(n) => {
                done.insert(n.clone());
                order.push(n.clone());
            }
            None => {
                let left: Vec<&String> = res.keys().filter(|n| !done.contains(*n)).collect();
                return Err(format!("Circular Dependency Found: {left:?}"));
            }
        }
    }
    Ok(order)
}

/// What evaluation needs from the stack it runs in.
pub trait Ctx {
    /// A parameter value (pseudo parameters included).
    fn param(&self, name: &str) -> Result<Value, String>;
    /// `get_resource`: the resource's physical id.
    fn resource_ref(&self, name: &str) -> Result<Value, String>;
    /// `get_attr` without the path.
    fn attr(&self, resource: &str, attr: &str) -> Result<Value, String>;
}

fn walk_path(mut v: Value, path: &[Value], what: &str) -> Result<Value, String> {
    for p in path {
        v = match (p, &v) {
            (Value::String(k), Value::Object(m)) => m.get(k).cloned(),
            (Value::Number(n), Value::Array(a)) => {
                n.as_u64().and_then(|i| a.get(i as usize)).cloned()
            }
            (Value::String(k), Value::Array(a)) => {
                k.parse::<usize>().ok().and_then(|i| a.get(i)).cloned()
            }
            _ => None,
        }
        .ok_or_else(|| format!("{what}: path element {p} not found"))?;
    }
    Ok(v)
}

fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Evaluates the intrinsic functions in `v`.
pub fn eval(v: &Value, ctx: &dyn Ctx) -> Result<Value, String> {
    if let Some((f, arg)) = as_call(v) {
        let arg = eval(arg, ctx)?;
        return match f {
            "get_param" => {
                let (name, path) = match &arg {
                    Value::String(s) => (s.clone(), vec![]),
                    Value::Array(a) => (
                        a.first().map(stringify).unwrap_or_default(),
                        a.get(1..).map(<[Value]>::to_vec).unwrap_or_default(),
                    ),
                    _ => return Err("get_param: bad arguments".into()),
                };
                let val = ctx.param(&name)?;
                walk_path(val, &path, &format!("get_param {name}"))
            }
            "get_resource" => ctx.resource_ref(arg.as_str().unwrap_or("")),
            "get_attr" => {
                let a = arg.as_array().cloned().unwrap_or_default();
                let (Some(r), Some(at)) = (a.first(), a.get(1)) else {
                    return Err("get_attr: needs [resource, attribute, ...]".into());
                };
                let (r, at) = (stringify(r), stringify(at));
                let val = ctx.attr(&r, &at)?;
                walk_path(val, &a[2..], &format!("get_attr {r} {at}"))
            }
            "list_join" => {
                let a = arg.as_array().cloned().unwrap_or_default();
                let delim = a.first().map(stringify).unwrap_or_default();
                let mut items = Vec::new();
                for l in a.iter().skip(1) {
                    match l {
                        Value::Array(xs) => items.extend(xs.iter().map(stringify)),
                        Value::Null => {}
                        _ => return Err("list_join: arguments must be lists".into()),
                    }
                }
                Ok(Value::String(items.join(&delim)))
            }
            "str_replace" => {
                let tpl = arg
                    .get("template")
                    .map(stringify)
                    .ok_or("str_replace: missing template")?;
                let params = arg
                    .get("params")
                    .and_then(Value::as_object)
                    .cloned()
                    .ok_or("str_replace: missing params")?;
                // Heat replaces longer keys first, in one pass over the template.
                let mut keys: Vec<&String> = params.keys().collect();
                keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
                let mut out = String::new();
                let mut rest = tpl.as_str();
                'outer: while !rest.is_empty() {
                    for k in &keys {
                        if !k.is_empty() && rest.starts_with(k.as_str()) {
                            out.push_str(&stringify(&params[k.as_str()]));
                            rest = &rest[k.len()..];
                            continue 'outer;
                        }
                    }
                    let c = rest.chars().next().unwrap_or(' ');
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
                Ok(Value::String(out))
            }
            other => Err(format!(
                "function {other} is not supported by openstack-emu"
            )),
        };
    }
    Ok(match v {
        Value::Object(m) => {
            let mut o = Map::new();
            for (k, x) in m {
                o.insert(k.clone(), eval(x, ctx)?);
            }
            Value::Object(o)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| eval(x, ctx)).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct C;
    impl Ctx for C {
        fn param(&self, name: &str) -> Result<Value, String> {
            match name {
                "nfv" => Ok(
                    json!({"VDU": {"a": {"image": "img"}}, "CP": {"x": {"fixed_ips": [{"ip_address": "1.2.3.4"}]}}}),
                ),
                "n" => Ok(json!(3)),
                _ => Err(format!("no param {name}")),
            }
        }
        fn resource_ref(&self, name: &str) -> Result<Value, String> {
            Ok(json!(format!("id-of-{name}")))
        }
        fn attr(&self, r: &str, a: &str) -> Result<Value, String> {
            Ok(json!({"r": r, "a": a, "list": [{"ip_address": "10.0.0.1"}]}))
        }
    }

    #[test]
    fn evaluates_the_functions_generated_templates_use() {
        let v = json!({
            "image": {"get_param": ["nfv", "VDU", "a", "image"]},
            "ip": {"get_param": ["nfv", "CP", "x", "fixed_ips", 0, "ip_address"]},
            "port": {"get_resource": "p"},
            "vip": {"get_attr": ["vip", "fixed_ips", "list", 0, "ip_address"]},
            "joined": {"list_join": [",", ["a", "b"], [{"get_param": "n"}]]},
            "s": {"str_replace": {"template": "host-$N-$NN", "params": {"$N": 1, "$NN": "two"}}}
        });
        let out = eval(&v, &C).expect("eval");
        assert_eq!(out["image"], "img");
        assert_eq!(out["ip"], "1.2.3.4");
        assert_eq!(out["port"], "id-of-p");
        assert_eq!(out["joined"], "a,b,3");
        assert_eq!(out["s"], "host-1-two");
        assert!(eval(&json!({"get_attr": ["vip", "fixed_ips", "nope"]}), &C).is_err());
        assert!(eval(&json!({"get_param": "missing"}), &C).is_err());
    }

    fn tpl(resources: Value) -> Value {
        json!({"heat_template_version": "2013-05-23", "parameters": {"nfv": {"type": "json"}}, "resources": resources})
    }

    #[test]
    fn unsupported_types_and_functions_are_rejected() {
        let files = BTreeMap::new();
        let given = json!({"nfv": {}});
        let given = given.as_object();
        let e = validate(
            "t",
            &tpl(json!({"x": {"type": "OS::Trove::Instance"}})),
            &files,
            given,
            0,
        )
        .expect_err("type");
        assert!(e.message.contains("OS::Trove::Instance"), "{}", e.message);
        let e = validate(
            "t",
            &tpl(json!({"x": {"type": "OS::Neutron::Port", "properties": {"network": {"get_file": "a"}}}})),
            &files,
            given,
            0,
        )
        .expect_err("function");
        assert!(e.message.contains("get_file"), "{}", e.message);
        let e = validate(
            "t",
            &tpl(json!({"x": {"type": "OS::Nova::Server", "properties": {"networks": [{"port": {"get_resource": "nope"}}]}}})),
            &files,
            given,
            0,
        )
        .expect_err("reference");
        assert_eq!(e.kind, "InvalidTemplateReference");
        let e = validate("t", &tpl(json!({})), &files, Some(&Map::new()), 0).expect_err("param");
        assert_eq!(e.message, "The Parameter (nfv) was not provided.");
        let e = validate(
            "t",
            &tpl(json!({"g": {"type": "nested/x.yaml"}})),
            &files,
            given,
            0,
        )
        .expect_err("file");
        assert!(e.message.contains("nested/x.yaml"));
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("get_param".to_string()),
            Just("get_resource".to_string()),
            Just("get_attr".to_string()),
            Just("list_join".to_string()),
            Just("str_replace".to_string()),
            Just("template".to_string()),
            Just("params".to_string()),
            Just("type".to_string()),
            Just("properties".to_string()),
            Just("nfv".to_string()),
            "[a-z$]{0,3}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z$é]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_templates_never_panic(props in arb_value(), res in arb_value()) {
            let _ = eval(&props, &C);
            let t = json!({"heat_template_version": "2013-05-23",
                "parameters": {"nfv": {"type": "json"}},
                "resources": {"a": {"type": "OS::Neutron::Port", "properties": props}, "b": res}});
            let _ = validate("t", &t, &BTreeMap::new(), None, 0);
            let _ = dependency_order(&t);
        }
    }

    #[test]
    fn dependency_order_and_cycles() {
        let t = tpl(json!({
            "server": {"type": "OS::Nova::Server", "properties": {"networks": [{"port": {"get_resource": "port"}}]}},
            "port": {"type": "OS::Neutron::Port", "depends_on": "vol"},
            "vol": {"type": "OS::Cinder::Volume"}
        }));
        assert_eq!(
            dependency_order(&t).expect("order"),
            vec!["vol", "port", "server"]
        );
        let c = tpl(json!({
            "a": {"type": "OS::Neutron::Port", "depends_on": "b"},
            "b": {"type": "OS::Neutron::Port", "depends_on": "a"}
        }));
        assert!(dependency_order(&c).is_err());
    }
}
