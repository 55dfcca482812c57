//! Every `samples/invalid/<case>/case.json` is rejected with exit 1 and its exact code.

use crate::util::{repo_root, run, show, vnf_mgmt};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    package: String,
    #[serde(default)]
    request: Option<String>,
    expected_code: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// Case-dir-relative first, then repository-root-relative.
fn resolve(case_dir: &Path, p: &str) -> PathBuf {
    let local = case_dir.join(p);
    if local.exists() {
        local
    } else {
        repo_root().join(p)
    }
}

fn cases() -> Vec<(String, PathBuf, Case)> {
    let dir = repo_root().join("samples/invalid");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples/invalid exists") {
        let entry = entry.expect("readable entry");
        let case_dir = entry.path();
        let case_json = case_dir.join("case.json");
        if !case_json.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&case_json).expect("case.json readable");
        let case: Case = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad case.json: {e}", case_json.display()));
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            case_dir,
            case,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn at_least_25_cases() {
    let n = cases().len();
    assert!(
        n >= 25,
        "samples/invalid holds {n} cases, the project promises at least 25"
    );
}

#[test]
fn every_case_is_rejected_with_its_code() {
    let known: std::collections::BTreeSet<String> = mgmt_driver::validate::all_codes()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let mut failures = Vec::new();
    for (name, case_dir, case) in cases() {
        if !known.contains(&case.expected_code) {
            failures.push(format!(
                "{name}: expected_code {} is not a known code",
                case.expected_code
            ));
            continue;
        }
        let mut cmd = vnf_mgmt();
        cmd.arg("validate")
            .arg(resolve(&case_dir, &case.package))
            .args(["--format", "json"]);
        if let Some(r) = &case.request {
            cmd.arg("--request").arg(resolve(&case_dir, r));
        }
        let o = run(&mut cmd);
        if o.status.code() != Some(1) {
            failures.push(format!("{name}: expected exit 1\n{}", show(&o)));
            continue;
        }
        let doc: serde_json::Value = match serde_json::from_slice(&o.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: stdout is not JSON ({e})\n{}", show(&o)));
                continue;
            }
        };
        let codes: Vec<&str> = doc["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|f| f["severity"] == "error")
                    .filter_map(|f| f["code"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if !codes.contains(&case.expected_code.as_str()) {
            failures.push(format!(
                "{name}: expected error code {}, got {:?}\n{}",
                case.expected_code,
                codes,
                show(&o)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
