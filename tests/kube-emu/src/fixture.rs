//! Lab fixture: a ready kubeadm-style cluster on lab hosts (masters initialised, stacked
//! etcd, admin kubeconfig in place), without running the driver's install path.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use vnf_lab::{Lab, LabSpec};
//! let lab = Lab::up(LabSpec::builder().host("m1").host("m2").host("m3").host("w1").build())?;
//! let c = kube_emu::fixture::kubeadm_cluster(&lab, &["m1", "m2", "m3"], &["w1"])?;
//! let nodes = lab.exec_ok("m1", &["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes"])?;
//! # let _ = (c, nodes); Ok(()) }
//! ```

use crate::harness::{TempDir, find_bin};
use anyhow::{Context, Result, anyhow, bail};
use std::path::PathBuf;
use vnf_lab::Lab;

/// What a test needs to talk to (or join more nodes to) the fixture cluster.
pub struct LabCluster {
    /// `ip:6443` of the first master (the control-plane endpoint).
    pub endpoint: String,
    pub token: String,
    pub ca_cert_hash: String,
    pub certificate_key: String,
    pub masters: Vec<String>,
    pub workers: Vec<String>,
    /// A copy of /etc/kubernetes/admin.conf outside the lab (also recorded with
    /// `Lab::set_kubeconfig` for every node). Connecting to it from the test process
    /// needs `Lab::guard(ip)` first.
    pub admin_conf: PathBuf,
    _dir: TempDir,
}

/// Install the `kubeadm`/`k3s` shims into every lab host's bin dir.
pub fn install_shims(lab: &Lab) -> Result<TempDir> {
    let d = TempDir::new("shims")?;
    let bin = find_bin()?;
    // The binary under its own name, and the tools as links to it: it dispatches on the
    // name it is called by, also when it starts itself as the API server daemon.
    std::os::unix::fs::symlink(&bin, d.path().join("kube-emu"))?;
    for name in ["kubeadm", "k3s"] {
        std::os::unix::fs::symlink("kube-emu", d.path().join(name))?;
    }
    lab.add_shim(None, d.path()).map_err(|e| anyhow!("{e}"))?;
    Ok(d)
}

/// The shim verbs [`fail_next`] can make fail.
pub const FAULT_VERBS: &[&str] = &["kubeadm-init", "kubeadm-join", "k3s-server", "k3s-agent"];

/// Test-only fault injection: the next `kubeadm init|join` / `k3s server|agent` on
/// `host` exits 1 with "injected failure" before changing anything (it creates
/// `/etc/kube-emu/fail-next-<verb>`, which that run removes); later runs work.
pub fn fail_next(lab: &Lab, host: &str, verb: &str) -> Result<()> {
    if !FAULT_VERBS.contains(&verb) {
        bail!("unknown fault verb {verb:?} (one of {FAULT_VERBS:?})");
    }
    exec(
        lab,
        host,
        &[
            "sh",
            "-c",
            "mkdir -p /etc/kube-emu && : >\"/etc/kube-emu/fail-next-$1\"",
            "fail-next",
            verb,
        ],
    )?;
    Ok(())
}

/// A Calico-shaped stand-in for Calico's manifest (the lab is offline and the emulator
/// serves no CRDs): the `calico-node` DaemonSet with Calico's commented pool lines.
pub const CNI_STAND_IN: &[u8] = include_bytes!("../fixtures/calico-lab.yaml");

/// Where [`install_cni_stand_in`] puts it on a host, as a `--cni-manifest` URL.
pub const CNI_STAND_IN_URL: &str = "file:///var/lib/vnf-lab-fixtures/calico-lab.yaml";

/// Puts [`CNI_STAND_IN`] on a lab host at [`CNI_STAND_IN_URL`] (the hosts do not see
/// every path of this machine: each has a private /tmp, where a checkout may live).
pub fn install_cni_stand_in(lab: &Lab, host: &str) -> Result<&'static str> {
    let path = CNI_STAND_IN_URL.trim_start_matches("file://");
    let o = lab
        .exec_input(
            host,
            &[
                "sh",
                "-c",
                "mkdir -p \"${1%/*}\" && cat >\"$1\"",
                "put",
                path,
            ],
            CNI_STAND_IN,
        )
        .map_err(|e| anyhow!("{e}"))?;
    if !o.status.success() {
        bail!(
            "{host}: writing {path} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(CNI_STAND_IN_URL)
}

fn exec(lab: &Lab, host: &str, argv: &[&str]) -> Result<String> {
    let o = lab.exec(host, argv).map_err(|e| anyhow!("{e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        bail!("{host}: {} failed:\n{text}", argv.join(" "));
    }
    Ok(text)
}

fn after(out: &str, marker: &str) -> Result<String> {
    out.split(marker)
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(String::from)
        .ok_or_else(|| anyhow!("kubeadm output lacks {marker:?}"))
}

/// `kubeadm init` on `masters[0]`, control-plane joins on the other masters, worker joins.
pub fn kubeadm_cluster(lab: &Lab, masters: &[&str], workers: &[&str]) -> Result<LabCluster> {
    let first = masters
        .first()
        .ok_or_else(|| anyhow!("need at least one master"))?;
    let dir = install_shims(lab)?;
    let ip = lab.host(first).map_err(|e| anyhow!("{e}"))?.ip;
    let endpoint = format!("{ip}:6443");
    let init = exec(
        lab,
        first,
        &[
            "kubeadm",
            "init",
            "--control-plane-endpoint",
            &endpoint,
            "--pod-network-cidr",
            "10.244.0.0/16",
            "--upload-certs",
        ],
    )?;
    let token = after(&init, "--token ")?;
    let ca_cert_hash = after(&init, "--discovery-token-ca-cert-hash ")?;
    let certificate_key = after(&init, "[upload-certs] Using certificate key:\n")?;
    for m in &masters[1..] {
        exec(
            lab,
            m,
            &[
                "kubeadm",
                "join",
                &endpoint,
                "--token",
                &token,
                "--discovery-token-ca-cert-hash",
                &ca_cert_hash,
                "--control-plane",
                "--certificate-key",
                &certificate_key,
            ],
        )?;
    }
    for w in workers {
        exec(
            lab,
            w,
            &[
                "kubeadm",
                "join",
                &endpoint,
                "--token",
                &token,
                "--discovery-token-ca-cert-hash",
                &ca_cert_hash,
            ],
        )?;
    }
    let admin =
        exec(lab, first, &["cat", "/etc/kubernetes/admin.conf"]).context("read admin.conf")?;
    let admin_conf = dir.path().join("admin.conf");
    crate::pki::write_private(&admin_conf, &admin)?;
    for h in masters.iter().chain(workers) {
        lab.set_kubeconfig(h, &admin_conf)
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(LabCluster {
        endpoint,
        token,
        ca_cert_hash,
        certificate_key,
        masters: masters.iter().map(|s| s.to_string()).collect(),
        workers: workers.iter().map(|s| s.to_string()).collect(),
        admin_conf,
        _dir: dir,
    })
}
