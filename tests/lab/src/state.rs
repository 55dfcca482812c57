//! The on-disk record of running labs under `/run/vnf-lab`, and cleanup of stale ones.
//!
//! Every lab owns `/run/vnf-lab/<id>/`. Teardown (`scripts/teardown.sh`) works from that
//! directory alone, so any process can finish a lab whose owner died: the lab's reaper
//! does it at once, and [`sweep_stale`] (run at every [`crate::Lab::up`] and by
//! `vnf-lab down --all-stale`) catches labs whose reaper died too.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

/// Root of all lab state on this machine.
pub const RUN_ROOT: &str = "/run/vnf-lab";
/// Subnet claims: `RUN_ROOT/subnets/198.18.N -> <lab id>`.
pub(crate) const SUBNETS: &str = "/run/vnf-lab/subnets";

pub(crate) const TEARDOWN_SH: &str = include_str!("../scripts/teardown.sh");
pub(crate) const REAPER_SH: &str = include_str!("../scripts/reaper.sh");
pub(crate) const HOST_INIT_SH: &str = include_str!("../scripts/host-init.sh");
pub(crate) const EXPORTFS_SH: &str = include_str!("../scripts/exportfs.sh");
pub(crate) const ASKPASS_SH: &str = include_str!("../scripts/askpass.sh");

/// Version of [`LabInfo`]'s JSON form.
pub const FORMAT_VERSION: u32 = 1;

/// What a running lab looks like from outside: printed by `vnf-lab up`/`status`,
/// stored as `<state dir>/lab.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabInfo {
    /// JSON format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Lab id (6 hex digits).
    pub id: String,
    /// State directory.
    pub state_dir: PathBuf,
    /// Bridge in the root namespace.
    pub bridge: String,
    /// Lab subnet, e.g. `198.18.7.0/24`.
    pub subnet: String,
    /// The bridge's own address (not a host; no host routes through it).
    pub gateway: Ipv4Addr,
    /// JSON file with the login user and password.
    pub credentials_file: PathBuf,
    /// known_hosts file with every host's keys, for pinning.
    pub known_hosts: PathBuf,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Volumes.
    pub volumes: Vec<Volume>,
}

/// One host as seen by tests and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Name and hostname.
    pub name: String,
    /// Address on the lab subnet.
    pub ip: Ipv4Addr,
    /// Login user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// sshd port.
    pub ssh_port: u16,
    /// Public host keys, for pinning.
    pub host_keys: HostKeys,
    /// False once killed.
    pub alive: bool,
    /// Kubeconfig for this host's cluster, once a Kubernetes emulator provides one.
    pub kubeconfig: Option<PathBuf>,
}

/// A host's public keys (OpenSSH one-line format).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostKeys {
    /// `ssh-ed25519 AAAA... root@name`
    pub ed25519: String,
    /// `ecdsa-sha2-nistp256 AAAA... root@name`
    pub ecdsa: String,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Volume id.
    pub id: String,
    /// Size in bytes.
    pub size: u64,
    /// Sparse image file.
    pub image: PathBuf,
    /// Loop device in the root namespace.
    pub loop_device: String,
    /// Host it is attached to, and its device there (`/dev/vdb`).
    pub attachment: Option<(String, String)>,
    /// `/dev/disk/by-id/...` path inside the host.
    pub by_id: String,
}

/// State directory of lab `id`.
pub fn state_dir(id: &str) -> PathBuf {
    Path::new(RUN_ROOT).join(id)
}

/// Ids of all labs with a state directory on this machine.
pub fn list_labs() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(RUN_ROOT)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n != "subnets")
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Reads a lab's `lab.json`.
pub fn read_info(id: &str) -> Result<LabInfo> {
    let path = state_dir(id).join("lab.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|_| Error::NotFound(format!("no lab {id} (no {})", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Environment(format!("{}: {e}", path.display())))
}

/// Why a lab is (not) stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Its owner process or reaper is alive.
    Owned,
    /// Left running on purpose (`vnf-lab up`); only `vnf-lab down` removes it.
    Detached,
    /// Being created right now (no owner recorded yet).
    Young,
    /// Nobody looks after it: safe to tear down.
    Stale,
}

/// Classifies lab `id`.
pub fn liveness(id: &str) -> Liveness {
    let dir = state_dir(id);
    if dir.join("detached").exists() {
        return Liveness::Detached;
    }
    let rec = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    match (rec("owner"), rec("reaper")) {
        (Some(o), _) if sys::record_alive(&o) => Liveness::Owned,
        (_, Some(r)) if sys::record_alive(&r) => Liveness::Owned,
        (None, _) => {
            let young = std::fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() < 60);
            if young {
                Liveness::Young
            } else {
                Liveness::Stale
            }
        }
        _ => Liveness::Stale,
    }
}

/// Tears down lab `id` from its state directory (idempotent).
pub fn teardown(id: &str) -> Result<()> {
    let dir = state_dir(id);
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(TEARDOWN_SH)
        .arg("teardown.sh")
        .arg(&dir)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    sys::run(&format!("tear down lab {id}"), &mut cmd)?;
    Ok(())
}

/// Tears down every stale lab; returns their ids.
pub fn sweep_stale() -> Result<Vec<String>> {
    let mut swept = Vec::new();
    for id in list_labs() {
        if liveness(&id) == Liveness::Stale {
            teardown(&id)?;
            swept.push(id);
        }
    }
    sweep_claims();
    Ok(swept)
}

/// Removes subnet claims whose lab directory is gone (and that are not brand new).
fn sweep_claims() {
    let Ok(dir) = std::fs::read_dir(SUBNETS) else {
        return;
    };
    for e in dir.flatten() {
        let path = e.path();
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let old = std::fs::symlink_metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a.as_secs() > 60);
        if old && !Path::new(RUN_ROOT).join(&target).exists() {
            let _ = std::fs::remove_file(&path);
        }
    }
}
