//! Loading a request: JSON text → `serde_json::Value` (syntax errors with line/column) →
//! typed [`InstantiateVnfRequest`] (structural errors with JSON pointers).

use super::codes;
use super::shape::{ShapeError, check_shape, type_name};
use super::source::{RequestSource, push_token};
use super::{InstantiateVnfRequest, json_schema};
use crate::diag::Report;
use serde::Deserialize;
use serde_json::Value;

/// Largest request accepted (bytes). Real requests are a few KiB.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// A loaded request: the generic value (always, when the text is JSON) and the typed
/// request (when the value has the right shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The document as parsed.
    pub value: Value,
    /// The typed request; `None` when structural errors were reported.
    pub request: Option<InstantiateVnfRequest>,
}

/// Parses the text of `src`. Syntax errors are reported with line and column and give
/// `None`; structural errors (missing keys, unknown keys, wrong types) are all reported with
/// their JSON pointers and give a [`Loaded`] without a typed request.
pub fn load(src: &RequestSource, report: &mut Report) -> Option<Loaded> {
    if src.text.len() > MAX_REQUEST_BYTES {
        report.error(
            codes::TOO_LARGE,
            format!(
                "request is {} bytes; the limit is {MAX_REQUEST_BYTES}",
                src.text.len()
            ),
            crate::diag::Location::file(src.file.clone()),
        );
        return None;
    }
    let value: Value = match serde_json::from_str(&src.text) {
        Ok(v) => v,
        Err(e) => {
            let line = u32::try_from(e.line()).unwrap_or(u32::MAX);
            let col = u32::try_from(e.column()).unwrap_or(u32::MAX);
            let msg = syntax_message(&e);
            report.error(codes::JSON_SYNTAX, msg, src.at(line.max(1), col.max(1)));
            return None;
        }
    };
    let request = typed(&value, src, report);
    Some(Loaded { value, request })
}

/// [`load`], keeping only the typed request.
pub fn parse(src: &RequestSource, report: &mut Report) -> Option<InstantiateVnfRequest> {
    load(src, report).and_then(|l| l.request)
}

/// Deserializes a value into the typed request, reporting every structural problem.
pub fn typed(
    value: &Value,
    src: &RequestSource,
    report: &mut Report,
) -> Option<InstantiateVnfRequest> {
    let shape = check_shape(cached_schema(), value);
    for e in &shape {
        report_shape(e, src, report);
    }
    match serde_path_to_error::deserialize::<_, InstantiateVnfRequest>(value) {
        Ok(req) if shape.is_empty() => Some(req),
        Ok(_) => None,
        Err(e) => {
            if shape.is_empty() {
                // The schema accepted what serde rejects: report serde's own error.
                let pointer = path_to_pointer(e.path());
                let found = lookup(value, &pointer).map(type_name).unwrap_or("nothing");
                report.error(
                    codes::INVALID_VALUE,
                    format!(
                        "{} (found {found})",
                        sanitize_serde_message(&e.inner().to_string())
                    ),
                    src.location(&pointer),
                );
            }
            None
        }
    }
}

/// Deserializes one part of a request value (e.g. `master_node`) when it has the right
/// shape; used to keep checking the valid parts of a request that has structural errors.
pub fn part<T: for<'de> Deserialize<'de>>(value: &Value, pointer: &str) -> Option<T> {
    let v = lookup(value, pointer)?;
    T::deserialize(v).ok()
}

/// The value at a JSON pointer.
pub fn lookup<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    value.pointer(pointer)
}

/// The schema, generated once per process.
fn cached_schema() -> &'static Value {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(json_schema)
}

fn report_shape(e: &ShapeError, src: &RequestSource, report: &mut Report) {
    match e {
        ShapeError::MissingKey { pointer, key } => report.error(
            codes::MISSING_KEY,
            format!("missing required key `{key}`"),
            src.location(pointer),
        ),
        ShapeError::UnknownKey {
            pointer,
            key,
            suggestion,
        } => {
            let hint = suggestion
                .as_ref()
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            report.error(
                codes::UNKNOWN_KEY,
                format!("unknown key `{}`{hint}", printable(key)),
                src.location(pointer),
            )
        }
        ShapeError::Invalid {
            pointer,
            expected,
            found,
        } => report.error(
            codes::INVALID_VALUE,
            format!("expected {expected}, found {found}"),
            src.location(pointer),
        ),
    }
}

/// Key names are shown, but without control characters.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut p = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => p = push_token(&p, &index.to_string()),
            Segment::Map { key } => p = push_token(&p, key),
            Segment::Enum { .. } => {}
            Segment::Unknown => break,
        }
    }
    p
}

/// serde messages such as `invalid type: string "hunter2", expected u32` quote the value;
/// keep only what was expected.
fn sanitize_serde_message(msg: &str) -> String {
    if let Some(i) = msg.find(", expected ") {
        let head = &msg[..i];
        let kind = if head.starts_with("invalid type") {
            "invalid type"
        } else if head.starts_with("invalid length") {
            "invalid length"
        } else {
            "invalid value"
        };
        return format!("{kind}{}", &msg[i..]);
    }
    if msg.starts_with("unknown variant") || msg.starts_with("invalid") {
        return "invalid value".into();
    }
    msg.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    format!("invalid JSON: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Option<Loaded>, Report) {
        let src = RequestSource::new("req.json", text);
        let mut r = Report::new();
        let l = load(&src, &mut r);
        (l, r)
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let (l, r) = run("{\n  \"flavourId\": \"simple\",\n  \"x\": [1 2]\n}");
        assert!(l.is_none());
        assert_eq!(r.error_codes(), vec![codes::JSON_SYNTAX.id]);
        let f = &r.findings[0];
        assert_eq!((f.location.line, f.location.column), (Some(3), Some(11)));
        assert_eq!(f.location.file.as_deref(), Some("req.json"));
        assert!(f.message.starts_with("invalid JSON"), "{}", f.message);
    }

    #[test]
    fn structural_errors_name_pointer_and_position() {
        let text = "{\n  \"flavourId\": 3,\n  \"additionalParams\": {\"k8s_cluster_installation_param\": {\n    \"master_node\": {\"ssh_cp_name\": \"a\", \"username\": \"u\"},\n    \"worker_node\": {\"ssh_cp_name\": \"b\", \"username\": \"u\"}}}\n}";
        let (l, r) = run(text);
        let l = l.expect("value");
        assert!(l.request.is_none());
        let f = r
            .findings
            .iter()
            .find(|f| f.code == codes::MISSING_KEY)
            .expect("missing key finding");
        assert_eq!(
            f.location.pointer.as_deref(),
            Some("/additionalParams/k8s_cluster_installation_param/master_node/cluster_cp_name")
        );
        assert_eq!(f.location.line, Some(4));
        let t = r
            .findings
            .iter()
            .find(|f| f.code == codes::INVALID_VALUE)
            .expect("type finding");
        assert_eq!(t.location.pointer.as_deref(), Some("/flavourId"));
        assert_eq!((t.location.line, t.location.column), (Some(2), Some(3)));
        assert_eq!(t.message, "expected a string, found integer");
        assert_eq!(r.findings.len(), 2, "{:?}", r.findings);
    }

    #[test]
    fn valid_request_is_typed() {
        let (l, r) = run(r#"{"flavourId": "simple", "instantiationLevelId": "l1"}"#);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let req = l.and_then(|l| l.request).expect("typed");
        assert_eq!(req.flavour_id, "simple");
    }

    #[test]
    fn misplaced_secret_is_not_echoed() {
        let (_, r) = run(
            r#"{"flavourId": "s", "additionalParams": {"k8s_cluster_installation_param": {
            "master_node": {"ssh_cp_name": "a", "username": "u", "cluster_cp_name": "a", "password": ["S3NTINEL"]},
            "worker_node": {"ssh_cp_name": "b", "username": "u", "password": {"S3NTINEL": 1}}}}}"#,
        );
        assert_eq!(r.count(crate::diag::Severity::Error), 2, "{:?}", r.findings);
        for f in &r.findings {
            assert!(!f.to_string().contains("S3NTINEL"), "{f}");
        }
    }

    #[test]
    fn serde_messages_lose_values() {
        assert_eq!(
            sanitize_serde_message("invalid type: string \"hunter2\", expected u32"),
            "invalid type, expected u32"
        );
        assert_eq!(
            sanitize_serde_message("unknown variant `hunter2`"),
            "invalid value"
        );
    }
}
