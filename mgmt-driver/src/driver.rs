//! The engine's entry points: validate → discover → plan → execute.

// Errors are the rare path and carry host, step, status and output for the message.
#![allow(clippy::result_large_err)]

use crate::events::EventSink;
use crate::exec::{ExecError, ExecOptions, Summary};
use crate::inventory::InventoryError;
use crate::journal::{Journal, JournalError};
use crate::planner::{PlanError, PlanOptions, Planned};
use crate::topology::Topology;
use crate::validate::Invalid;
use std::path::Path;

/// Codes of this module (input problems found before planning).
pub mod codes {
    vnf_package::codes! {
        /// The package or request file cannot be read.
        UNREADABLE = "driver.input.unreadable";
        /// The package or request is invalid (see the validation findings); nothing was contacted.
        INVALID = "driver.input.invalid";
    }
}

/// Every code the engine can report (inventory, planning, execution, journal).
pub fn all_codes() -> Vec<vnf_package::Code> {
    let mut v = codes::ALL.to_vec();
    v.extend_from_slice(crate::inventory::codes::ALL);
    v.extend_from_slice(crate::planner::codes::ALL);
    v.extend_from_slice(crate::cluster_config::codes::ALL);
    v.extend_from_slice(crate::exec::codes::ALL);
    v.extend(crate::openstack::all_codes());
    v
}

/// Sets `cancel` when the process receives Ctrl-C (SIGINT): no new step starts, the
/// running ones finish, and the operation fails with `driver.exec.cancelled` (re-run to
/// resume). Uses the library's runtime.
pub fn cancel_on_ctrl_c(
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), String> {
    let rt = crate::kube::runtime()?;
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    Ok(())
}

/// Any failure of the engine.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The package or request cannot be read.
    #[error(transparent)]
    Read(#[from] vnf_package::validate::Error),
    /// The package or request is invalid (checked before any connection).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The inventory cannot be loaded.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// OpenStack discovery failed.
    #[error(transparent)]
    Discovery(#[from] crate::openstack::DiscoveryError),
    /// No plan could be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Execution failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl DriverError {
    /// The stable code (`driver.ssh.auth_failed`, …); `invalid` for invalid input.
    pub fn code(&self) -> &'static str {
        match self {
            DriverError::Read(_) => codes::UNREADABLE.id,
            DriverError::Invalid(_) => codes::INVALID.id,
            DriverError::Inventory(e) => e.code.id,
            DriverError::Discovery(e) => e.code.id,
            DriverError::Plan(e) => e.code.id,
            DriverError::Journal(_) => crate::exec::codes::JOURNAL.id,
            DriverError::Exec(e) => e.code.id,
        }
    }
}

/// Inputs of planning an instantiate.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// Package directory or CSAR.
    pub package: &'a Path,
    /// InstantiateVnfRequest JSON.
    pub request: &'a Path,
    /// Static inventory YAML.
    pub inventory: &'a Path,
    /// VNF instance id.
    pub vnf_instance_id: &'a str,
    /// Verify artifact digests while validating the package.
    pub verify_digests: bool,
    /// Planning knobs.
    pub options: PlanOptions,
}

/// Validates the package and request (nothing is contacted when they are invalid),
/// loads the inventory and plans the instantiate.
pub fn plan_instantiate(input: &PlanInput<'_>) -> Result<(Topology, Planned), DriverError> {
    plan_with(
        input,
        crate::planner::instantiate,
        &TopologySource::Inventory,
    )
}

/// Where the topology comes from.
#[derive(Debug, Clone, Copy)]
pub enum TopologySource<'a> {
    /// The static inventory file of [`PlanInput::inventory`].
    Inventory,
    /// OpenStack discovery of a Heat stack (see [`crate::openstack`]).
    OpenStack {
        /// Cloud name of `clouds.yaml` (else `OS_CLOUD`, the `OS_*` variables, or the
        /// request's `vimConnectionInfo[].accessInfo`).
        os_cloud: Option<&'a str>,
        /// Stack name or id.
        stack: &'a str,
    },
}

/// Like [`plan_instantiate`], with the topology from `source` (`PlanInput::inventory` is
/// only read for [`TopologySource::Inventory`]).
pub fn plan_instantiate_from(
    input: &PlanInput<'_>,
    source: &TopologySource<'_>,
) -> Result<(Topology, Planned), DriverError> {
    plan_with(input, crate::planner::instantiate, source)
}

/// Validates the package and request, then discovers the topology from OpenStack
/// (credentials as for [`TopologySource::OpenStack`]).
pub fn discover(
    package: &Path,
    request: &Path,
    verify_digests: bool,
    os_cloud: Option<&str>,
    stack: &str,
) -> Result<Topology, DriverError> {
    let request_model = validated_request(package, request, verify_digests)?.0;
    Ok(crate::openstack::discover_for_request(
        os_cloud,
        stack,
        &request_model,
        &crate::openstack::DiscoverOptions::default(),
    )?)
}

fn validated_request(
    package: &Path,
    request: &Path,
    verify_digests: bool,
) -> Result<
    (
        vnf_package::request::InstantiateVnfRequest,
        crate::validate::Validated,
    ),
    DriverError,
> {
    let v = crate::validate::validate(
        package,
        Some(request),
        &crate::validate::Options { verify_digests },
    )?;
    match (&v.inner.request, v.report.has_errors()) {
        (Some(r), false) => Ok((r.clone(), v)),
        _ => Err(Invalid {
            what: format!("{} with request {}", package.display(), request.display()),
            errors: v.report.count(vnf_package::Severity::Error).max(1),
            report: v.report,
        }
        .into()),
    }
}

/// Which half of a heal of the storage server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealPhase {
    /// `heal_start`: delete the VNF's PersistentVolumes (refused while any is bound).
    Start,
    /// `heal_end`: set the rebuilt storage server up again and re-register the PVs.
    End,
}

/// Like [`plan_instantiate`], for one phase of `heal storage_server`.
pub fn plan_heal(
    input: &PlanInput<'_>,
    phase: HealPhase,
) -> Result<(Topology, Planned), DriverError> {
    plan_heal_from(input, phase, &TopologySource::Inventory)
}

/// Like [`plan_heal`], with the topology from `source`.
pub fn plan_heal_from(
    input: &PlanInput<'_>,
    phase: HealPhase,
    source: &TopologySource<'_>,
) -> Result<(Topology, Planned), DriverError> {
    match phase {
        HealPhase::Start => plan_with(input, crate::planner::heal_start, source),
        HealPhase::End => plan_with(input, crate::planner::heal_end, source),
    }
}

/// Plans any operation of [`crate::plan::Operation`] with the topology from `source`:
/// instantiate, heal_start/heal_end (storage server, or the cluster nodes named in
/// [`PlanOptions::targets`]), scale_start/scale_end, terminate_start. The package and
/// request are validated first; nothing is contacted when they are invalid.
pub fn plan_operation_from(
    input: &PlanInput<'_>,
    operation: crate::plan::Operation,
    source: &TopologySource<'_>,
) -> Result<(Topology, Planned), DriverError> {
    use crate::plan::Operation as Op;
    let f: PlanFn = match operation {
        Op::Instantiate => crate::planner::instantiate,
        Op::HealStart => crate::planner::heal_start,
        Op::HealEnd => crate::planner::heal_end,
        Op::ScaleStart => crate::planner::scale_start,
        Op::ScaleEnd => crate::planner::scale_end,
        Op::TerminateStart => crate::planner::terminate_start,
    };
    plan_with(input, f, source)
}

/// The middle of `heal storage_server --phase all`: rebuilds the storage server of
/// `topology` (as discovered for heal_start) through Heat (mark unhealthy + stack update
/// with `existing: true`, see [`crate::openstack::rebuild_storage_server`]).
/// Credentials as for [`TopologySource::OpenStack`].
pub fn rebuild_storage_server(
    input: &PlanInput<'_>,
    os_cloud: Option<&str>,
    stack: &str,
    topology: &Topology,
    opts: &crate::openstack::RebuildOptions,
    progress: &dyn Fn(&str),
) -> Result<(), DriverError> {
    let request = validated_request(input.package, input.request, input.verify_digests)?.0;
    let server_id = topology
        .with_role(crate::topology::Role::Storage)
        .find_map(|n| n.resource_id.clone())
        .ok_or_else(|| crate::openstack::DiscoveryError {
            code: crate::openstack::heal_codes::RESOURCE_MISSING,
            message: format!("stack {stack} has no storage server with a server id"),
        })?;
    Ok(crate::openstack::rebuild_storage_server_for_request(
        os_cloud, stack, &request, &server_id, opts, progress,
    )?)
}

type PlanFn = fn(
    &Topology,
    &vnf_package::request::InstantiateVnfRequest,
    &dyn crate::planner::PackageFiles,
    &str,
    &PlanOptions,
) -> Result<Planned, PlanError>;

fn plan_with(
    input: &PlanInput<'_>,
    f: PlanFn,
    source: &TopologySource<'_>,
) -> Result<(Topology, Planned), DriverError> {
    let v = crate::validate::validate(
        input.package,
        Some(input.request),
        &crate::validate::Options {
            verify_digests: input.verify_digests,
        },
    )?;
    let request = match (&v.inner.request, v.report.has_errors()) {
        (Some(r), false) => r.clone(),
        _ => {
            return Err(Invalid {
                what: format!(
                    "{} with request {}",
                    input.package.display(),
                    input.request.display()
                ),
                errors: v.report.count(vnf_package::Severity::Error).max(1),
                report: v.report,
            }
            .into());
        }
    };
    let topology = match source {
        TopologySource::Inventory => crate::inventory::load(input.inventory)?,
        TopologySource::OpenStack { os_cloud, stack } => crate::openstack::discover_for_request(
            *os_cloud,
            stack,
            &request,
            &crate::openstack::DiscoverOptions::default(),
        )?,
    };
    let Some(package) = &v.inner.package else {
        return Err(Invalid {
            what: input.package.display().to_string(),
            errors: 1,
            report: v.report,
        }
        .into());
    };
    let planned = f(
        &topology,
        &request,
        package,
        input.vnf_instance_id,
        &input.options,
    )?;
    Ok((topology, planned))
}

/// Executes a plan with its journal under `state_dir`.
pub fn execute(
    planned: &Planned,
    state_dir: &Path,
    opts: &ExecOptions,
    events: &dyn EventSink,
) -> Result<Summary, DriverError> {
    let plan = &planned.plan;
    let journal = Journal::open(
        state_dir,
        &plan.vnf_instance_id,
        plan.operation.as_str(),
        &plan.inventory_fingerprint,
    )?;
    Ok(crate::exec::execute(
        plan,
        &planned.secrets,
        opts,
        journal,
        events,
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_dotted_and_documented() {
        let codes = super::all_codes();
        let mut ids: Vec<&str> = codes.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate codes");
        for c in &codes {
            assert!(c.id.starts_with("driver."), "{}", c.id);
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '.' || ch == '_'),
                "{}",
                c.id
            );
            assert!(!c.summary.trim().is_empty(), "{}", c.id);
        }
    }
}
