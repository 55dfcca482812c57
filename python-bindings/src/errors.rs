//! The one conversion from engine errors to Python exceptions.
//!
//! Exception classes live in `vnf_mgmt.exceptions` (pure Python, so they are typed and
//! documented there); this module only picks the class from the stable code and fills in
//! the attributes. I/O errors become the built-in `OSError` subclasses
//! (`FileNotFoundError`, `PermissionError`, …) through `OSError(errno, strerror, filename)`.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::Path;

/// Code of an unreadable package or request that is not a plain I/O error (bad zip, …).
pub const UNREADABLE: &str = "driver.input.unreadable";
/// Code of invalid input (the findings carry the individual codes).
pub const INVALID: &str = "driver.input.invalid";

/// Every failure the bindings can report, before conversion.
#[derive(Debug)]
pub enum Failure {
    /// A package or request could not be read.
    Read(vnf_package::validate::Error),
    /// Invalid package or request; the report has the findings.
    Invalid(mgmt_driver::validate::Invalid),
    /// HOT generation failed.
    Hot(hot_templates::HotError),
    /// Inventory, planning, journal or execution failure.
    Driver(mgmt_driver::driver::DriverError),
    /// A value could not be converted (a bug, reported rather than panicking).
    Internal(String),
}

impl From<vnf_package::validate::Error> for Failure {
    fn from(e: vnf_package::validate::Error) -> Self {
        Failure::Read(e)
    }
}

impl From<mgmt_driver::hot::HotError> for Failure {
    fn from(e: mgmt_driver::hot::HotError) -> Self {
        use mgmt_driver::hot::HotError as H;
        match e {
            H::Read(e) => Failure::Read(e),
            H::Invalid(e) => Failure::Invalid(e),
            H::Generate(e) => Failure::Hot(e),
        }
    }
}

impl From<mgmt_driver::driver::DriverError> for Failure {
    fn from(e: mgmt_driver::driver::DriverError) -> Self {
        use mgmt_driver::driver::DriverError as D;
        match e {
            D::Read(e) => Failure::Read(e),
            D::Invalid(e) => Failure::Invalid(e),
            other => Failure::Driver(other),
        }
    }
}

/// The `vnf_mgmt.exceptions` class name for a stable code.
pub fn class_for(code: &str) -> &'static str {
    match code {
        INVALID => "ValidationError",
        "driver.ssh.auth_failed" => "AuthenticationError",
        "driver.ssh.host_key_mismatch" | "driver.ssh.host_key_unknown" => "HostKeyMismatch",
        "driver.step.timeout" | "driver.kube.timeout" => "Timeout",
        "driver.step.failed" | "driver.ssh.sudo_failed" => "RemoteCommandError",
        "driver.kube.pv_in_use" => "PersistentVolumeInUse",
        "driver.exec.cancelled" => "Cancelled",
        c if c.starts_with("driver.inventory.") || c.starts_with("driver.discovery.") => {
            "DiscoveryError"
        }
        c if c.starts_with("driver.plan.") => "PlanError",
        c if c.starts_with("hot.") => "HotGenerationError",
        c if c.starts_with("driver.ssh.")
            || c.starts_with("driver.exec.")
            || c.starts_with("driver.kube.")
            || c.starts_with("driver.journal.") =>
        {
            "ExecutionError"
        }
        _ => "Error",
    }
}

fn os_error(path: &Path, e: &std::io::Error) -> PyErr {
    let errno = e.raw_os_error().unwrap_or(match e.kind() {
        std::io::ErrorKind::NotFound => 2,
        std::io::ErrorKind::PermissionDenied => 13,
        _ => 5,
    });
    // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError, …).
    PyOSError::new_err((errno, e.kind().to_string(), path.display().to_string()))
}

fn raise(py: Python<'_>, code: &str, message: String, kw: &Bound<'_, PyDict>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("vnf_mgmt.exceptions")?.getattr(class_for(code))?;
        kw.set_item("code", code)?;
        Ok(PyErr::from_value(cls.call((message,), Some(kw))?))
    };
    build().unwrap_or_else(|e| e)
}

/// Converts a failure to the Python exception to raise.
pub fn to_py_err(py: Python<'_>, failure: Failure) -> PyErr {
    let kw = PyDict::new(py);
    match failure {
        Failure::Read(vnf_package::validate::Error::Request { path, source }) => {
            os_error(&path, &source)
        }
        Failure::Read(vnf_package::validate::Error::Package(vnf_package::archive::Error::Io {
            path,
            source,
        })) => os_error(&path, &source),
        Failure::Read(e) => raise(py, UNREADABLE, e.to_string(), &kw),
        Failure::Invalid(inv) => {
            let report = crate::convert::report(py, &inv.report, &[]);
            match report.and_then(|r| kw.set_item("report", r)) {
                Ok(()) => raise(py, INVALID, inv.to_string(), &kw),
                Err(e) => e,
            }
        }
        Failure::Hot(e) => raise(py, e.code().id, e.to_string(), &kw),
        Failure::Driver(e) => {
            let code = e.code();
            let filled = match &e {
                mgmt_driver::driver::DriverError::Exec(x) => kw
                    .set_item("host", x.host.as_deref())
                    .and_then(|()| kw.set_item("step", x.step.as_deref()))
                    .and_then(|()| kw.set_item("exit_status", x.exit_status))
                    .and_then(|()| kw.set_item("output_tail", x.output_tail.clone()))
                    .and_then(|()| {
                        if x.code.id == "driver.kube.pv_in_use" {
                            let (volumes, claims) = bound_volumes(&x.message);
                            kw.set_item("volumes", volumes)?;
                            kw.set_item("claims", claims)
                        } else {
                            Ok(())
                        }
                    }),
                _ => Ok(()),
            };
            match filled {
                Ok(()) => raise(py, code, e.to_string(), &kw),
                Err(err) => err,
            }
        }
        Failure::Internal(m) => raise(py, "driver.internal", m, &kw),
    }
}

/// Splits the engine's `driver.kube.pv_in_use` message (`…: pv -> ns/claim; pv2 -> …`)
/// into the volume names and the `namespace/claim` names, in order.
pub fn bound_volumes(message: &str) -> (Vec<String>, Vec<String>) {
    let list = message.rsplit_once("): ").map_or("", |(_, l)| l);
    let mut volumes = Vec::new();
    let mut claims = Vec::new();
    for item in list.split("; ") {
        if let Some((pv, claim)) = item.split_once(" -> ") {
            volumes.push(pv.trim().to_string());
            claims.push(claim.trim().to_string());
        }
    }
    (volumes, claims)
}

#[cfg(test)]
mod tests {
    use super::bound_volumes;

    #[test]
    fn pv_in_use_message_gives_volumes_and_claims() {
        let m = "PersistentVolume(s) in use, nothing deleted (remove the claims first): \
                 nfs-pv1 -> default/data; nfs-pv2 -> team-a/logs";
        let (v, c) = bound_volumes(m);
        assert_eq!(v, ["nfs-pv1", "nfs-pv2"]);
        assert_eq!(c, ["default/data", "team-a/logs"]);
    }

    #[test]
    fn unexpected_message_gives_nothing() {
        assert_eq!(bound_volumes("something else"), (vec![], vec![]));
    }
}
