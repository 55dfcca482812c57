//! Structural validation of a request `Value` against the schema generated from the Rust
//! types ([`super::json_schema`]).
//!
//! serde stops at the first error and loses the path inside `#[serde(flatten)]` and
//! untagged enums. This small validator walks the whole document instead and reports every
//! missing key, unknown key and wrong type with an exact JSON pointer. It understands the
//! subset of JSON Schema that schemars emits for our types (`$ref`, `type`, `properties`,
//! `required`, `additionalProperties`, `items`, `anyOf`, `oneOf`, `const`, `enum`,
//! `minimum`, integer `format`s). Messages never contain the offending value, so a
//! misplaced secret cannot leak into a finding.

use super::source::push_token;
use serde_json::{Map, Value};

/// What is wrong at a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// A required key is absent; the pointer names the missing key.
    MissingKey {
        /// Pointer to the absent member.
        pointer: String,
        /// The key.
        key: String,
    },
    /// A key that the schema does not allow.
    UnknownKey {
        /// Pointer to the member.
        pointer: String,
        /// The key.
        key: String,
        /// Closest allowed key, if one is close.
        suggestion: Option<String>,
    },
    /// A value of the wrong type or outside the allowed values.
    Invalid {
        /// Pointer to the value.
        pointer: String,
        /// What was expected.
        expected: String,
        /// JSON type found (never the value itself).
        found: &'static str,
    },
}

impl ShapeError {
    /// The pointer of the problem.
    pub fn pointer(&self) -> &str {
        match self {
            ShapeError::MissingKey { pointer, .. }
            | ShapeError::UnknownKey { pointer, .. }
            | ShapeError::Invalid { pointer, .. } => pointer,
        }
    }
}

/// Validates `value` against the root of `schema`; returns every problem found.
pub fn check_shape(schema: &Value, value: &Value) -> Vec<ShapeError> {
    let mut out = Vec::new();
    let v = Validator { root: schema };
    v.check(schema, value, "", &mut out, 0);
    out
}

/// The JSON type name of a value.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Validator<'a> {
    root: &'a Value,
}

const MAX_REF_DEPTH: usize = 64;

impl<'a> Validator<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..MAX_REF_DEPTH {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            let Some(name) = r.strip_prefix("#/$defs/") else {
                return s;
            };
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(t) => s = t,
                None => return s,
            }
        }
        s
    }

    /// True when the schema's own `type` admits the value's type (no `type`: true).
    fn type_admits(&self, schema: &'a Value, value: &Value) -> bool {
        let s = self.resolve(schema);
        match s.get("type") {
            None => true,
            Some(Value::String(t)) => type_matches(t, value),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            Some(_) => true,
        }
    }

    fn check(
        &self,
        schema: &'a Value,
        value: &Value,
        ptr: &str,
        out: &mut Vec<ShapeError>,
        depth: usize,
    ) {
        if depth > 256 {
            return;
        }
        let s = self.resolve(schema);
        let obj = match s {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(ShapeError::Invalid {
                    pointer: ptr.to_string(),
                    expected: "nothing (not allowed here)".into(),
                    found: type_name(value),
                });
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };

        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                self.check_branches(branches, value, ptr, out, depth);
            }
        }

        if let Some(t) = obj.get("type")
            && !self.type_admits(s, value)
        {
            out.push(ShapeError::Invalid {
                pointer: ptr.to_string(),
                expected: describe_type(t),
                found: type_name(value),
            });
            return;
        }
        if let Some(c) = obj.get("const")
            && c != value
        {
            out.push(ShapeError::Invalid {
                pointer: ptr.to_string(),
                expected: format!("the value {c}"),
                found: type_name(value),
            });
            return;
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            out.push(ShapeError::Invalid {
                pointer: ptr.to_string(),
                expected: format!("one of {}", join_values(allowed)),
                found: type_name(value),
            });
            return;
        }
        if let Value::Number(n) = value {
            self.check_number(obj, n, ptr, out);
        }
        match value {
            Value::Object(members) => self.check_object(obj, members, ptr, out, depth),
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(
                            item_schema,
                            item,
                            &push_token(ptr, &i.to_string()),
                            out,
                            depth + 1,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn check_number(
        &self,
        obj: &Map<String, Value>,
        n: &serde_json::Number,
        ptr: &str,
        out: &mut Vec<ShapeError>,
    ) {
        let is_integer_schema = match obj.get("type") {
            Some(Value::String(t)) => t == "integer",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
            _ => false,
        };
        if !is_integer_schema {
            return;
        }
        let max = match obj.get("format").and_then(Value::as_str) {
            Some("uint8") => Some(u8::MAX as u64),
            Some("uint16") => Some(u16::MAX as u64),
            Some("uint32") => Some(u32::MAX as u64),
            _ => None,
        };
        let min = obj.get("minimum").and_then(Value::as_f64);
        let below = match (min, n.as_f64()) {
            (Some(min), Some(x)) => x < min,
            _ => false,
        };
        let above = match (max, n.as_u64()) {
            (Some(max), Some(x)) => x > max,
            (Some(_), None) => n.as_i64().is_none(),
            _ => false,
        };
        if below || above {
            let expected = match (min, max) {
                (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
                (Some(min), None) => format!("an integer of at least {min}"),
                (None, Some(max)) => format!("an integer of at most {max}"),
                (None, None) => "an integer".into(),
            };
            out.push(ShapeError::Invalid {
                pointer: ptr.to_string(),
                expected,
                found: "integer out of range",
            });
        }
    }

    fn check_object(
        &self,
        obj: &'a Map<String, Value>,
        members: &Map<String, Value>,
        ptr: &str,
        out: &mut Vec<ShapeError>,
        depth: usize,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !members.contains_key(key) {
                    out.push(ShapeError::MissingKey {
                        pointer: push_token(ptr, key),
                        key: key.to_string(),
                    });
                }
            }
        }
        let additional = obj.get("additionalProperties");
        for (key, member) in members {
            let child = push_token(ptr, key);
            if let Some(ps) = props.and_then(|p| p.get(key)) {
                self.check(ps, member, &child, out, depth + 1);
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let suggestion = props.and_then(|p| closest(key, p.keys()));
                    out.push(ShapeError::UnknownKey {
                        pointer: child,
                        key: key.clone(),
                        suggestion,
                    });
                }
                Some(extra) => self.check(extra, member, &child, out, depth + 1),
                None => {}
            }
        }
    }

    fn check_branches(
        &self,
        branches: &'a [Value],
        value: &Value,
        ptr: &str,
        out: &mut Vec<ShapeError>,
        depth: usize,
    ) {
        let mut candidate: Option<Vec<ShapeError>> = None;
        let mut candidates = 0;
        for b in branches {
            let mut errs = Vec::new();
            self.check(b, value, ptr, &mut errs, depth + 1);
            if errs.is_empty() {
                return;
            }
            if self.type_admits(b, value) {
                candidates += 1;
                if candidate.is_none() {
                    candidate = Some(errs);
                }
            }
        }
        if candidates == 1
            && let Some(errs) = candidate
        {
            out.extend(errs);
            return;
        }
        let consts: Vec<&Value> = branches
            .iter()
            .filter_map(|b| self.resolve(b).get("const"))
            .collect();
        let expected = if !consts.is_empty() && consts.len() == branches.len() {
            format!(
                "one of {}",
                consts
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            let kinds: Vec<String> = branches
                .iter()
                .filter_map(|b| self.resolve(b).get("type").map(describe_type))
                .collect();
            if kinds.is_empty() {
                "a value of one of the allowed forms".into()
            } else {
                kinds.join(" or ")
            }
        };
        out.push(ShapeError::Invalid {
            pointer: ptr.to_string(),
            expected,
            found: type_name(value),
        });
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn describe_type(t: &Value) -> String {
    let one = |s: &str| match s {
        "object" => "an object".to_string(),
        "array" => "an array".to_string(),
        "integer" => "an integer".to_string(),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    };
    match t {
        Value::String(s) => one(s),
        Value::Array(ts) => {
            let v: Vec<String> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| *s != "null")
                .map(one)
                .collect();
            if v.is_empty() {
                "null".into()
            } else {
                v.join(" or ")
            }
        }
        _ => "a valid value".into(),
    }
}

fn join_values(vs: &[Value]) -> String {
    vs.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allowed key closest to `key` by edit distance, if it is close (a typo).
fn closest<'k>(key: &str, allowed: impl Iterator<Item = &'k String>) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for a in allowed {
        let d = edit_distance(key, a);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, a));
        }
    }
    let (d, a) = best?;
    let limit = (key.chars().count().max(a.chars().count()) / 3).max(1);
    (d <= limit).then(|| a.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(128).collect();
    let b: Vec<char> = b.chars().take(128).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        crate::request::json_schema()
    }

    #[test]
    fn reports_every_problem_with_pointers() {
        let v = json!({
            "additionalParams": {
                "k8s_cluster_installation_param": {
                    "master_node": {"ssh_cp_name": "a", "usrname": "u", "cluster_cp_name": 5},
                    "worker_node": {"ssh_cp_name": "b", "username": "u"},
                    "k8s_distribution": "rke"
                }
            },
            "extVirtualLinks": [{"id": "x", "resourceId": "y", "extCps": [{"cpdId": "c", "cpConfig": [{"cpProtocolData": [{}]}]}]}]
        });
        let errs = check_shape(&schema(), &v);
        let k8s = "/additionalParams/k8s_cluster_installation_param";
        assert!(
            errs.contains(&ShapeError::MissingKey {
                pointer: "/flavourId".into(),
                key: "flavourId".into()
            }),
            "{errs:?}"
        );
        assert!(
            errs.contains(&ShapeError::MissingKey {
                pointer: format!("{k8s}/master_node/username"),
                key: "username".into()
            }),
            "{errs:?}"
        );
        assert!(
            errs.contains(&ShapeError::UnknownKey {
                pointer: format!("{k8s}/master_node/usrname"),
                key: "usrname".into(),
                suggestion: Some("username".into())
            }),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.pointer() == format!("{k8s}/master_node/cluster_cp_name")),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| matches!(e, ShapeError::Invalid { pointer, expected, .. } if pointer == &format!("{k8s}/k8s_distribution") && expected.contains("kubeadm"))), "{errs:?}");
        assert!(
            errs.contains(&ShapeError::MissingKey {
                pointer: "/extVirtualLinks/0/extCps/0/cpConfig/0/cpProtocolData/0/layerProtocol"
                    .into(),
                key: "layerProtocol".into()
            }),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 6, "{errs:?}");
    }

    #[test]
    fn valid_minimal_request_has_no_problems() {
        let v = json!({"flavourId": "simple", "additionalParams": {"lcm-operation-user-data": null, "x": [1]}});
        assert_eq!(check_shape(&schema(), &v), vec![]);
    }

    #[test]
    fn integer_ranges() {
        let v = json!({"flavourId": "s", "extVirtualLinks": [{"id": "x", "resourceId": "y", "extCps": [{"cpdId": "c", "cpConfig": [{"cpProtocolData": [{"layerProtocol": "IP_OVER_ETHERNET", "ipOverEthernet": {"ipAddresses": [{"type": "IPV4", "numDynamicAddresses": 4294967296u64}]}}]}]}]}]});
        let errs = check_shape(&schema(), &v);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].pointer().ends_with("/numDynamicAddresses"));
    }
}
