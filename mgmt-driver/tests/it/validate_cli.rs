//! `vnf-mgmt validate` on the good sample, output formats and exit codes.

use crate::util::{SAMPLE_PKG, run, show, vnf_mgmt};

#[test]
fn sample_package_is_valid() {
    let o = run(vnf_mgmt().args(["validate", SAMPLE_PKG]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(": valid (0 errors"), "{}", show(&o));
}

#[test]
fn sample_requests_are_valid() {
    let dir = crate::util::repo_root().join("samples/requests");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("samples/requests exists") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            n += 1;
            let o = run(vnf_mgmt()
                .arg("validate")
                .arg(SAMPLE_PKG)
                .arg("--request")
                .arg(&p));
            assert_eq!(o.status.code(), Some(0), "{}: {}", p.display(), show(&o));
        }
    }
    assert!(n >= 3, "expected at least 3 sample requests, found {n}");
}

#[test]
fn json_output_is_versioned_and_complete() {
    let o = run(vnf_mgmt().args([
        "validate",
        SAMPLE_PKG,
        "--request",
        "samples/requests/instantiate_simple_pv.json",
        "--format",
        "json",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["type"], "validation");
    assert_eq!(v["ok"], true);
    assert_eq!(v["summary"]["errors"], 0);
    assert!(v["findings"].is_array());
}

#[test]
fn missing_package_is_an_io_error_exit_2() {
    let o = run(vnf_mgmt().args(["validate", "does/not/exist"]));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("vnf-mgmt: "), "{}", show(&o));
    assert!(err.contains("does/not/exist"), "{}", show(&o));
}

#[test]
fn usage_error_exit_2() {
    let o = run(vnf_mgmt().args(["validate"]));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn pack_then_validate_the_csar() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csar = tmp.path().join("pkg.csar");
    let o = run(vnf_mgmt().arg("pack").arg(SAMPLE_PKG).arg("-o").arg(&csar));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(csar.is_file());
    let o = run(vnf_mgmt()
        .arg("validate")
        .arg(&csar)
        .args(["--request", "samples/requests/instantiate_simple_pv.json"]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // Packing twice gives the same bytes.
    let csar2 = tmp.path().join("pkg2.csar");
    let o = run(vnf_mgmt().arg("pack").arg(SAMPLE_PKG).arg("-o").arg(&csar2));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        std::fs::read(&csar).expect("read"),
        std::fs::read(&csar2).expect("read"),
        "pack is not deterministic"
    );
}

#[test]
fn a_tampered_csar_is_rejected_with_a_digest_finding() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pkg");
    copy_dir(&crate::util::repo_root().join(SAMPLE_PKG), &dir);
    // Change one listed file after hashing.
    let pv = dir.join("Files/kubernetes/nfs-pv1.yaml");
    let mut text = std::fs::read_to_string(&pv).expect("pv readable");
    text.push_str("# tampered\n");
    std::fs::write(&pv, text).expect("write");
    let o = run(vnf_mgmt()
        .arg("validate")
        .arg(&dir)
        .args(["--format", "json"]));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let hit = v["findings"].as_array().expect("findings").iter().any(|f| {
        f["severity"] == "error"
            && f["location"]["file"]
                .as_str()
                .is_some_and(|p| p.ends_with(".mf") || p.ends_with("TOSCA.meta"))
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("Files/kubernetes/nfs-pv1.yaml"))
    });
    assert!(hit, "no digest finding naming the file:\n{}", show(&o));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy");
        }
    }
}
