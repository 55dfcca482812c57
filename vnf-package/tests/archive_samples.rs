//! Every `samples/invalid/pkg-*` case yields exactly its expected error code from the
//! archive layer (open + digest verification), and that code survives a full VNFD load.

use std::path::{Path, PathBuf};
use vnf_package::archive::Package;
use vnf_package::{Report, vnfd};

fn cases() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("samples/invalid")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pkg-"))
        })
        .collect();
    cases.sort();
    cases
}

fn case(case: &Path) -> (PathBuf, String) {
    let text = std::fs::read_to_string(case.join("case.json")).expect("case.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("case.json is JSON");
    let get = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{}: case.json has no string `{k}`", case.display()))
            .to_owned()
    };
    (case.join(get("package")), get("expected_code"))
}

#[test]
fn package_cases_report_exactly_their_code() {
    let cases = cases();
    assert!(cases.len() >= 8, "only {} pkg- cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (pkg_path, expected) = case(c);
        let mut report = Report::new();
        let pkg = Package::open(&pkg_path, &mut report).expect("case package is readable");
        pkg.verify_digests(&mut report);
        let codes = report.error_codes();
        if codes != vec![expected.as_str()] {
            let all: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
            failures.push(format!(
                "{}: expected [{expected}], got {codes:?}\n  {}",
                c.display(),
                all.join("\n  ")
            ));
        }
        for f in &report.findings {
            assert!(f.location.file.is_some(), "{}: {f}", c.display());
        }
        // The rest of each package is valid: the VNFD layer adds nothing, except "no
        // entry definitions" when the defect is exactly that.
        let _ = vnfd::load(&pkg, &mut report);
        let allowed = [expected.as_str(), vnfd::codes::NO_ENTRY_DEFINITIONS.id];
        let full = report.error_codes();
        assert!(
            full.contains(&expected.as_str()) && full.iter().all(|c| allowed.contains(c)),
            "{}: after VNFD load: {full:?}",
            c.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
