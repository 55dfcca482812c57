//! The shell that runs inside hosts and in the reaper is shellcheck-clean.

use std::process::Command;

#[test]
fn scripts_are_shellcheck_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let out = Command::new("shellcheck")
        .arg("--shell=bash")
        .args(&files)
        .output()
        .expect("shellcheck is needed for this test: apt-get install -y shellcheck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.contains("set -euo pipefail"),
            "{} lacks set -euo pipefail",
            f.display()
        );
    }
}
