//! JSON helpers: merge patch, JSON patch, label and field selectors, quantities, field paths.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if k == "$patch"
                    || k.starts_with("$setElementOrder")
                    || k.starts_with("$deleteFromPrimitiveList")
                    || k == "$retainKeys"
                {
                    // strategic-merge directives: not modelled
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Deep merge used by server-side apply: objects merge, everything else is replaced.
pub fn apply_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => apply_merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn pointer_parts(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    if !path.starts_with('/') {
        return Err(format!("invalid JSON pointer {path:?}"));
    }
    Ok(path[1..].split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, parts: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for p in &parts[..parts.len().saturating_sub(1)] {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(p)
                .ok_or_else(|| format!("path element {p:?} not found"))?,
            Value::Array(a) => {
                let i: usize = p.parse().map_err(|_| format!("bad array index {p:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("path element {p:?} is not a container")),
        };
    }
    Ok(cur)
}

fn remove_at(doc: &mut Value, parts: &[String]) -> Result<Value, String> {
    let last = parts.last().ok_or("cannot remove the whole document")?;
    match parent_mut(doc, parts)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| format!("{last:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("array index {i} out of range"))
            }
        }
        _ => Err("parent is not a container".into()),
    }
}

fn add_at(doc: &mut Value, parts: &[String], v: Value, replace: bool) -> Result<(), String> {
    let Some(last) = parts.last() else {
        *doc = v;
        return Ok(());
    };
    match parent_mut(doc, parts)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!("{last:?} not found"));
            }
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(v);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if replace {
                *a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))? = v;
            } else if i <= a.len() {
                a.insert(i, v);
            } else {
                return Err(format!("array index {i} out of range"));
            }
            Ok(())
        }
        _ => Err("parent is not a container".into()),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch must be an array")?;
    for op in ops {
        let name = op["op"].as_str().ok_or("operation without \"op\"")?;
        let path = pointer_parts(op["path"].as_str().ok_or("operation without \"path\"")?)?;
        match name {
            "add" => add_at(
                doc,
                &path,
                op.get("value").cloned().ok_or("add without value")?,
                false,
            )?,
            "replace" => add_at(
                doc,
                &path,
                op.get("value").cloned().ok_or("replace without value")?,
                true,
            )?,
            "remove" => {
                remove_at(doc, &path)?;
            }
            "test" => {
                let p = op["path"].as_str().unwrap_or("");
                if doc.pointer(p) != op.get("value") {
                    return Err(format!("test operation failed at {p}"));
                }
            }
            "move" | "copy" => {
                let from = op["from"].as_str().ok_or("move/copy without from")?;
                let v = doc
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("{from} not found"))?;
                if name == "move" {
                    remove_at(doc, &pointer_parts(from)?)?;
                }
                add_at(doc, &path, v, false)?;
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

pub fn parse_selector(s: &str) -> Result<Vec<Req>, String> {
    let mut reqs = Vec::new();
    for term in split_top(s) {
        let t = term.trim();
        if t.is_empty() {
            continue;
        }
        let bad = || format!("unable to parse requirement: {t:?}");
        let r = if let Some(k) = t.strip_prefix('!') {
            Req::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = t.split_once("!=") {
            Req::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once("==") {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once('=') {
            Req::Eq(k.trim().into(), v.trim().into())
        } else if let Some(open) = t.find('(') {
            let head: Vec<&str> = t[..open].split_whitespace().collect();
            let inner = t[open + 1..].strip_suffix(')').ok_or_else(bad)?;
            let vals: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            match head.as_slice() {
                [k, "in"] => Req::In(k.to_string(), vals),
                [k, "notin"] => Req::NotIn(k.to_string(), vals),
                _ => return Err(bad()),
            }
        } else {
            Req::Exists(t.to_string())
        };
        let key = match &r {
            Req::Eq(k, _)
            | Req::Ne(k, _)
            | Req::In(k, _)
            | Req::NotIn(k, _)
            | Req::Exists(k)
            | Req::NotExists(k) => k,
        };
        if !valid_key(key) {
            return Err(bad());
        }
        reqs.push(r);
    }
    Ok(reqs)
}

pub fn selector_matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
        Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

pub fn label_of(obj: &Value, k: &str) -> Option<String> {
    obj["metadata"]["labels"][k].as_str().map(String::from)
}

pub fn field_of(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A metav1.LabelSelector (matchLabels + matchExpressions) against labels.
pub fn label_selector_matches(sel: &Value, obj: &Value) -> bool {
    if sel.is_null() {
        return false;
    }
    for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
        if label_of(obj, k).as_deref() != v.as_str() {
            return false;
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let k = e["key"].as_str().unwrap_or("");
        let vals: Vec<String> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let l = label_of(obj, k);
        let ok = match e["operator"].as_str().unwrap_or("") {
            "In" => l.is_some_and(|x| vals.contains(&x)),
            "NotIn" => l.is_none_or(|x| !vals.contains(&x)),
            "Exists" => l.is_some(),
            "DoesNotExist" => l.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Parse a resource.Quantity into bytes/units (integer part; fractions truncated).
pub fn parse_quantity(q: &Value) -> Option<f64> {
    let s = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suf) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mul = match suf {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => {
            let (m, e) = suf.split_once(['e', 'E'])?;
            if !m.is_empty() {
                return None;
            }
            10f64.powi(e.parse().ok()?)
        }
    };
    Some(n * mul)
}

/// Leaf field paths of an object, for managedFields bookkeeping. Lists are atomic.
pub fn leaf_paths(v: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                if prefix.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "status") {
                    continue;
                }
                if prefix.len() == 1
                    && prefix[0] == "metadata"
                    && !matches!(
                        k.as_str(),
                        "labels" | "annotations" | "finalizers" | "ownerReferences"
                    )
                {
                    continue;
                }
                prefix.push(k.clone());
                leaf_paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

pub fn paths_to_fields_v1(paths: &BTreeSet<Vec<String>>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            cur = cur
                .entry(format!("f:{seg}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("object");
        }
    }
    Value::Object(root)
}

pub fn fields_v1_to_paths(v: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, c) in m {
                if let Some(seg) = k.strip_prefix("f:") {
                    prefix.push(seg.to_string());
                    fields_v1_to_paths(c, prefix, out);
                    prefix.pop();
                } else if k == "." {
                    out.insert(prefix.clone());
                }
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

pub fn get_path<'a>(v: &'a Value, p: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for s in p {
        cur = cur.get(s)?;
    }
    Some(cur)
}

pub fn remove_path(v: &mut Value, p: &[String]) {
    let Some((last, head)) = p.split_last() else {
        return;
    };
    let mut cur = v;
    for s in head {
        match cur.get_mut(s) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn rfc3339_after(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// RFC 1123 DNS subdomain, as most object names must be.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}
