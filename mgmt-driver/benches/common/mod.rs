//! What the lab benchmarks share: the root check, the repository root, and the sample
//! request adapted to a lab.

use std::path::{Path, PathBuf};
use vnf_lab::Lab;

/// Whether this process runs as root (the lab needs it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Writes the sample request adapted to `lab` to `path`: `password` for every node, no
/// proxy, exports opened to the lab subnet.
pub fn write_lab_request(lab: &Lab, password: &str, path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(repo_root().join("samples/requests/instantiate_simple_pv.json"))?;
    let mut r: serde_json::Value = serde_json::from_str(&text)?;
    let (net, len) = lab.subnet();
    let p = &mut r["additionalParams"]["k8s_cluster_installation_param"];
    for k in ["master_node", "worker_node", "storage_server"] {
        p[k]["password"] = password.into();
    }
    if let Some(o) = p.as_object_mut() {
        o.remove("proxy");
    }
    if let Some(a) = p["storage_server"]["nfs_server_setup_params"].as_array_mut() {
        for e in a {
            e["export_to"] = format!("{net}/{len}").into();
        }
    }
    std::fs::write(path, serde_json::to_vec_pretty(&r)?)?;
    Ok(())
}
