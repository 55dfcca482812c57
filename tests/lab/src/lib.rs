//! vnf-lab: brings up a lab of real SSH hosts (network namespaces on a private bridge),
//! loop-device volumes and a userspace NFS server for vnf-mgmt's integration tests.
//!
//! Test infrastructure only; nothing in the product depends on it.
//!
//! Each host is an `unshare`d set of net/mount/uts/ipc/pid namespaces with an overlay
//! root over `/`, a fresh `/dev` holding only its own volumes, and Debian's real
//! `sshd` as PID 1. Hosts sit on a per-lab bridge with a per-lab `198.18.N.0/24`
//! subnet and no default route. What this crate does *not* do: boot kernels, run
//! systemd, or reach any address outside the lab.
//!
//! Teardown is guaranteed three ways: dropping the [`Lab`]; a reaper process that
//! tears the lab down when its owner dies however it dies (its stdin pipe closes);
//! and [`state::sweep_stale`], run by every [`Lab::up`] and `vnf-lab down --all-stale`.
//!
//! ```no_run
//! use vnf_lab::{Lab, LabSpec, Auth};
//! let lab = Lab::up(LabSpec::builder().host("m1").host_with_volume("s1", "0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11", "64M").build())?;
//! let out = lab.exec("s1", &["ls", "/dev/disk/by-id"])?;
//! let who = lab.ssh("m1", Auth::Password, "sudo -n whoami")?;
//! # Ok::<(), vnf_lab::Error>(())
//! ```

mod access;
mod error;
mod lab;
pub mod spec;
pub mod state;
mod sys;

pub use access::{KeyPair, generate_keypair};
pub use error::{Error, Result};
pub use lab::{Auth, HOST_BIN_DIR, HOST_PATH, Lab};
pub use spec::{HostSpec, LabSpec, VolumeSpec};
pub use state::{Host, HostKeys, LabInfo, Volume};
