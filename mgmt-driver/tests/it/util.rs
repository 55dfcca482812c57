//! Shared helpers: run the built `vnf-mgmt`, find the repository root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mgmt-driver has a parent directory")
        .to_path_buf()
}

/// A `vnf-mgmt` command running in the repository root.
pub fn vnf_mgmt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vnf-mgmt"));
    c.current_dir(repo_root());
    c.env_remove("RUST_LOG");
    c.env("NO_COLOR", "1");
    c
}

/// Runs and returns the output, with stdout/stderr shown on failure of an assertion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("vnf-mgmt runs")
}

/// Both output streams as text, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The sample package directory.
pub const SAMPLE_PKG: &str = "samples/packages/k8s_cluster_with_pv";
