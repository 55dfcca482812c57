//! The `vnf_mgmt._vnf_mgmt` extension module: a thin PyO3 layer over `mgmt-driver`.
//!
//! What it does: exposes validation, HOT generation and planning as functions that take
//! paths and return plain Python values (dicts, lists, strings); the pure-Python package
//! `vnf_mgmt` wraps them in typed classes. Every call that reads files runs with the GIL
//! released, and every error goes through [`errors::to_py_err`]. `log`/`tracing` records
//! reach Python `logging` under the `vnf_mgmt` logger.
//!
//! What it deliberately does not do: no business logic (that is `mgmt-driver`), no
//! Tacker specifics (those are Python, `vnf_mgmt.tacker`), and no secrets cross into
//! Python (a plan references credentials by name only) except the cluster access token an
//! install exports, held in a `Secret` that never prints (see [`access`]).

// Errors are the rare path and carry the engine's full report (as mgmt-driver's own API).
#![allow(clippy::result_large_err)]

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::time::Instant;

mod access;
mod convert;
mod errors;
mod ops;

use errors::{Failure, to_py_err};

/// Runs `f` without the GIL and converts its error.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Failure> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| to_py_err(py, e))
}

/// Validates a package (directory or CSAR) and, if given, an instantiate request.
///
/// Returns `{"ok": bool, "findings": [...], "notes": [...]}`. Raises `OSError` when a
/// path cannot be read, `vnf_mgmt.Error` (code `driver.input.unreadable`) for an
/// unreadable archive.
#[pyfunction]
#[pyo3(signature = (package, request=None, verify_digests=true))]
fn validate(
    py: Python<'_>,
    package: PathBuf,
    request: Option<PathBuf>,
    verify_digests: bool,
) -> PyResult<Bound<'_, PyAny>> {
    let v = run(py, || {
        Ok(mgmt_driver::validate::validate(
            &package,
            request.as_deref(),
            &mgmt_driver::validate::Options { verify_digests },
        )?)
    })?;
    log::debug!(
        target: "api",
        "validated {}: {} error(s), {} warning(s)",
        package.display(),
        v.report.count(vnf_package::Severity::Error),
        v.report.count(vnf_package::Severity::Warning)
    );
    convert::report(py, &v.report, &v.notes)
}

/// Times `n` runs of the Rust validation (GIL released), returning seconds per run.
/// Used by the benchmark to measure the Python layer's overhead.
#[pyfunction]
#[pyo3(signature = (package, request=None, n=100, verify_digests=true))]
fn _validate_timing(
    py: Python<'_>,
    package: PathBuf,
    request: Option<PathBuf>,
    n: u32,
    verify_digests: bool,
) -> PyResult<f64> {
    let n = n.max(1);
    run(py, || {
        let t0 = Instant::now();
        for _ in 0..n {
            let v = mgmt_driver::validate::validate(
                &package,
                request.as_deref(),
                &mgmt_driver::validate::Options { verify_digests },
            )?;
            std::hint::black_box(v);
        }
        Ok(t0.elapsed().as_secs_f64() / f64::from(n))
    })
}

/// Generates the HOT bundle for a package and instantiate request.
///
/// Returns `{"top": yaml, "files": {name: yaml}, "parameters": {...}}`.
#[pyfunction]
#[pyo3(signature = (package, request, flavour=None, level=None))]
fn generate_hot(
    py: Python<'_>,
    package: PathBuf,
    request: PathBuf,
    flavour: Option<String>,
    level: Option<String>,
) -> PyResult<Bound<'_, PyAny>> {
    let (top, files, parameters) = run(py, || {
        let b = mgmt_driver::hot::generate_for_package(
            &package,
            &request,
            flavour.as_deref(),
            level.as_deref(),
        )?;
        let top = b.top_yaml().map_err(Failure::Hot)?;
        let mut files = Vec::with_capacity(b.files.len());
        for (name, t) in &b.files {
            let yaml = t.to_yaml().map_err(|e| {
                Failure::Hot(hot_templates::HotError::YamlEmit {
                    template: name.clone(),
                    message: e.to_string(),
                })
            })?;
            files.push((name.clone(), yaml));
        }
        Ok((top, files, serde_json::Value::Object(b.parameters)))
    })?;
    let d = PyDict::new(py);
    d.set_item("top", top)?;
    let f = PyDict::new(py);
    for (k, v) in files {
        f.set_item(k, v)?;
    }
    d.set_item("files", f)?;
    d.set_item("parameters", convert::value(py, &parameters)?)?;
    Ok(d.into_any())
}

/// Plans an operation from a package, request and static inventory. Nothing is contacted.
///
/// `operation`: `instantiate`, `heal_start`, `heal_end`, `scale_start`, `scale_end`,
/// `terminate_start`. Returns `{"plan": {...}, "text": str}`; the plan holds no secrets
/// (credentials are referenced by name).
#[pyfunction]
#[pyo3(signature = (
    operation, package, request, inventory, vnf_instance_id, verify_digests=false, *,
    targets=None, install_cluster=false, runtime="kubeadm", cni=None, cni_manifest=None,
    drain=false, register_pvs=true
))]
#[allow(clippy::too_many_arguments)]
fn plan<'py>(
    py: Python<'py>,
    operation: &str,
    package: PathBuf,
    request: PathBuf,
    inventory: PathBuf,
    vnf_instance_id: String,
    verify_digests: bool,
    targets: Option<Vec<String>>,
    install_cluster: bool,
    runtime: &str,
    cni: Option<&str>,
    cni_manifest: Option<String>,
    drain: bool,
    register_pvs: bool,
) -> PyResult<Bound<'py, PyAny>> {
    use mgmt_driver::plan::Operation as Op;
    let op = match operation {
        "instantiate" => Op::Instantiate,
        "heal_start" => Op::HealStart,
        "heal_end" => Op::HealEnd,
        "scale_start" => Op::ScaleStart,
        "scale_end" => Op::ScaleEnd,
        "terminate_start" => Op::TerminateStart,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown operation {other:?} (instantiate, heal_start, heal_end, \
                 scale_start, scale_end, terminate_start)"
            )));
        }
    };
    let runtime = ops::parse_runtime(runtime)?;
    let cni = ops::parse_cni(cni)?;
    let (json, text) = run(py, || {
        let input = mgmt_driver::driver::PlanInput {
            package: &package,
            request: &request,
            inventory: &inventory,
            vnf_instance_id: &vnf_instance_id,
            verify_digests,
            options: mgmt_driver::planner::PlanOptions {
                targets: targets.unwrap_or_default(),
                install_cluster,
                runtime,
                drain_on_terminate: drain,
                register_pvs,
                cni,
                cni_manifest,
                ..Default::default()
            },
        };
        let (_topology, planned) = mgmt_driver::driver::plan_operation_from(
            &input,
            op,
            &mgmt_driver::driver::TopologySource::Inventory,
        )?;
        let json = serde_json::to_value(&planned.plan)
            .map_err(|e| Failure::Internal(format!("cannot serialise the plan: {e}")))?;
        Ok((json, planned.plan.to_text()))
    })?;
    let d = PyDict::new(py);
    d.set_item("plan", convert::value(py, &json)?)?;
    d.set_item("text", text)?;
    Ok(d.into_any())
}

/// Every finding and error code as `(code, summary)`, sorted by code.
#[pyfunction]
fn all_codes() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = mgmt_driver::validate::all_codes()
        .into_iter()
        .chain(mgmt_driver::inventory::codes::ALL.iter().copied())
        .chain(mgmt_driver::planner::codes::ALL.iter().copied())
        .chain(mgmt_driver::exec::codes::ALL.iter().copied())
        .map(|c| (c.id, c.summary.trim()))
        .collect();
    v.sort_unstable();
    v.dedup_by_key(|c| c.0);
    v
}

/// The exception class name (in `vnf_mgmt.exceptions`) a code is raised as.
#[pyfunction]
fn _class_for_code(code: &str) -> &'static str {
    errors::class_for(code)
}

/// Emits a `log` record (target `vnf_mgmt.<target>`) from Rust; for testing the bridge.
#[pyfunction]
fn _emit_log(level: &str, target: &str, message: &str) -> PyResult<()> {
    let level = match level {
        "error" => log::Level::Error,
        "warning" => log::Level::Warn,
        "info" => log::Level::Info,
        "debug" => log::Level::Debug,
        "trace" => log::Level::Trace,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown level {other:?} (error, warning, info, debug, trace)"
            )));
        }
    };
    log::log!(target: target, level, "{message}");
    Ok(())
}

/// Log targets forwarded at every level (the project's crates and this module).
const OWN_TARGETS: &[&str] = &["api", "mgmt_driver", "vnf_package", "hot_templates", "test"];

#[pymodule]
fn _vnf_mgmt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Rust log records (and tracing events, which the workspace emits as log records too)
    // go to Python loggers named `vnf_mgmt.<rust target>`. Loggers are cached, levels are
    // not, so `logging.getLogger("vnf_mgmt").setLevel(...)` takes effect at any time.
    // A second import in the same process (sub-interpreters) keeps the first logger.
    // Dependencies (tokio, kube, rustls, …) pass at Info and above only: every record
    // that passes the Rust-side filter costs a GIL acquisition.
    if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) {
        let logger = OWN_TARGETS
            .iter()
            .fold(logger.filter(log::LevelFilter::Info), |l, t| {
                l.filter_target((*t).to_string(), log::LevelFilter::Trace)
            });
        let _ = logger.set_prefix("vnf_mgmt").install();
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(_validate_timing, m)?)?;
    m.add_function(wrap_pyfunction!(generate_hot, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(ops::_run, m)?)?;
    m.add_function(wrap_pyfunction!(all_codes, m)?)?;
    m.add_function(wrap_pyfunction!(_class_for_code, m)?)?;
    m.add_function(wrap_pyfunction!(_emit_log, m)?)?;
    m.add_class::<access::PyClusterAccess>()?;
    m.add_class::<access::PySecret>()?;
    Ok(())
}
