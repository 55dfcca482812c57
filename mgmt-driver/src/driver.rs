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
            DriverError::Read(_) => "driver.input.unreadable",
            DriverError::Invalid(_) => "driver.input.invalid",
            DriverError::Inventory(e) => e.code.id,
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
    let topology = crate::inventory::load(input.inventory)?;
    let Some(package) = &v.inner.package else {
        return Err(Invalid {
            what: input.package.display().to_string(),
            errors: 1,
            report: v.report,
        }
        .into());
    };
    let planned = crate::planner::instantiate(
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
