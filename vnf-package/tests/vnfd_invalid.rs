//! Every `samples/invalid/{vnfd,tosca}-*` case yields exactly its expected error code,
//! and the sample package opened through the archive layer loads cleanly.

use std::path::{Path, PathBuf};
use vnf_package::archive::Package;
use vnf_package::{Report, vnfd};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

fn case_field(json: &serde_json::Value, key: &str) -> String {
    json.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("case.json has no string `{key}`"))
        .to_owned()
}

fn run(pkg_dir: &Path) -> Report {
    let mut report = Report::new();
    match Package::open(pkg_dir, &mut report) {
        Ok(pkg) => {
            let _ = vnfd::load(&pkg, &mut report);
        }
        Err(e) => panic!("{}: cannot open: {e}", pkg_dir.display()),
    }
    report
}

#[test]
fn invalid_cases_report_exactly_their_code() {
    let dir = samples().join("invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("samples/invalid")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vnfd-") || n.starts_with("tosca-"))
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case.join("case.json")).expect("case.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("case.json is JSON");
        let expected = case_field(&json, "expected_code");
        let report = run(&case.join(case_field(&json, "package")));
        let codes = report.error_codes();
        if codes != vec![expected.as_str()] {
            let all: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
            failures.push(format!(
                "{}: expected [{expected}], got {codes:?}\n  {}",
                case.display(),
                all.join("\n  ")
            ));
        }
        // Every error names its file and position.
        for f in &report.findings {
            assert!(f.location.file.is_some(), "{}: {f}", case.display());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sample_package_through_archive_is_clean() {
    let report = run(&samples().join("packages/k8s_cluster_with_pv"));
    assert!(report.ok(), "{:#?}", report.findings);
}
