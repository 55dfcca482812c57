//! Operations that change hosts: instantiate (storage server, NFS clients, PVs, and the
//! cluster install), heal (storage server or cluster nodes), scale, terminate_start.
//!
//! The operation runs on its own thread; the calling thread waits without the GIL and
//! every 100 ms takes it back to run Python's signal handlers. On `KeyboardInterrupt`
//! (or any exception a handler raises) the engine's cancel flag is set, the running
//! steps finish, and the exception is raised; a re-run resumes from the journal.

use crate::errors::{Failure, to_py_err};
use mgmt_driver::events::{Event, EventSink};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, Copy)]
enum Operation {
    /// One engine operation.
    Plan(mgmt_driver::plan::Operation),
    /// heal_start, the rebuild through Heat, heal_end on the re-discovered topology
    /// (storage server only).
    HealAll,
}

/// The engine operation named `name` (`heal` = [`Operation::HealAll`]).
fn parse_operation(name: &str) -> Option<Operation> {
    use mgmt_driver::plan::Operation as Op;
    Some(match name {
        "instantiate" => Operation::Plan(Op::Instantiate),
        "heal_start" => Operation::Plan(Op::HealStart),
        "heal_end" => Operation::Plan(Op::HealEnd),
        "heal" => Operation::HealAll,
        "scale_start" => Operation::Plan(Op::ScaleStart),
        "scale_end" => Operation::Plan(Op::ScaleEnd),
        "terminate_start" => Operation::Plan(Op::TerminateStart),
        _ => return None,
    })
}

/// The operation names [`_run`] accepts.
pub const OPERATIONS: &str =
    "instantiate, heal_start, heal_end, heal, scale_start, scale_end, terminate_start";

/// `calico`, `flannel`, `cilium`, or None (the runtime's default).
pub fn parse_cni(name: Option<&str>) -> PyResult<Option<mgmt_driver::cluster::Cni>> {
    use mgmt_driver::cluster::Cni;
    match name {
        None => Ok(None),
        Some("calico") => Ok(Some(Cni::Calico)),
        Some("flannel") => Ok(Some(Cni::Flannel)),
        Some("cilium") => Ok(Some(Cni::Cilium)),
        Some(other) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown cni {other:?} (calico, flannel, cilium)"
        ))),
    }
}

/// `kubeadm` or `k3s`.
pub fn parse_runtime(name: &str) -> PyResult<mgmt_driver::cluster::ClusterRuntime> {
    match name {
        "kubeadm" => Ok(mgmt_driver::cluster::ClusterRuntime::Kubeadm),
        "k3s" => Ok(mgmt_driver::cluster::ClusterRuntime::K3s),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown runtime {other:?} (kubeadm, k3s)"
        ))),
    }
}

/// Everything the worker thread needs (owned, so it can move there).
struct Job {
    operation: Operation,
    package: PathBuf,
    request: PathBuf,
    vnf_instance_id: String,
    inventory: Option<PathBuf>,
    os_cloud: Option<String>,
    stack: Option<String>,
    state_dir: PathBuf,
    opts: mgmt_driver::exec::ExecOptions,
    plan_options: mgmt_driver::planner::PlanOptions,
    rebuild: mgmt_driver::openstack::RebuildOptions,
    events: Sink,
}

/// Events to a Python callable (one dict per event), else progress lines to the
/// `vnf_mgmt.api` logger. A failing callable is logged, never fails the operation.
struct Sink(Option<Py<PyAny>>);

impl EventSink for Sink {
    fn emit(&self, e: &Event) {
        match &self.0 {
            Some(cb) => Python::attach(|py| {
                let call = || -> PyResult<()> {
                    let v = serde_json::to_value(e)
                        .map_err(|err| pyo3::exceptions::PyValueError::new_err(err.to_string()))?;
                    cb.call1(py, (crate::convert::value(py, &v)?,))?;
                    Ok(())
                };
                if let Err(err) = call() {
                    log::warn!(target: "api", "events callback failed: {err}");
                }
            }),
            None => {
                if let Some(line) = mgmt_driver::events::progress_line(e) {
                    log::info!(target: "api", "{line}");
                }
            }
        }
    }
}

/// The operation's summary as a plain dict.
fn summary_dict<'py>(
    py: Python<'py>,
    s: &mgmt_driver::exec::Summary,
    operation: &str,
    vnf_instance_id: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("operation", operation)?;
    d.set_item("vnf_instance_id", vnf_instance_id)?;
    d.set_item("executed", s.executed)?;
    d.set_item("skipped", s.skipped)?;
    d.set_item("trusted_on_first_use", s.trusted_on_first_use.clone())?;
    let access = match &s.access {
        Some(a) => Bound::new(py, crate::access::PyClusterAccess(a.clone()))?.into_any(),
        None => py.None().into_bound(py),
    };
    d.set_item("access", access)?;
    Ok(d.into_any())
}

fn run_job(job: &Job) -> Result<(String, mgmt_driver::exec::Summary), Failure> {
    use mgmt_driver::driver::{self as d, TopologySource};
    let empty = PathBuf::new();
    let input = d::PlanInput {
        package: &job.package,
        request: &job.request,
        inventory: job.inventory.as_deref().unwrap_or(&empty),
        vnf_instance_id: &job.vnf_instance_id,
        verify_digests: false,
        options: job.plan_options.clone(),
    };
    let source = match (&job.inventory, &job.stack) {
        (Some(_), _) => TopologySource::Inventory,
        (None, Some(stack)) => TopologySource::OpenStack {
            os_cloud: job.os_cloud.as_deref(),
            stack,
        },
        (None, None) => {
            return Err(Failure::Internal(
                "neither an inventory nor a stack was given".into(),
            ));
        }
    };
    let (topology, planned) = match job.operation {
        Operation::Plan(op) => d::plan_operation_from(&input, op, &source)?,
        Operation::HealAll => d::plan_heal_from(&input, d::HealPhase::Start, &source)?,
    };
    let summary = d::execute(&planned, &job.state_dir, &job.opts, &job.events)?;
    let Operation::HealAll = job.operation else {
        return Ok((planned.plan.operation.as_str().to_string(), summary));
    };
    let Some(stack) = job.stack.as_deref() else {
        return Err(Failure::Internal("heal phase all needs a stack".into()));
    };
    if job.opts.cancel.load(Ordering::SeqCst) {
        // Interrupted after heal_start: the VM is not rebuilt; the caller re-raises.
        return Ok((planned.plan.operation.as_str().to_string(), summary));
    }
    let progress = |line: &str| log::info!(target: "api", "{line}");
    d::rebuild_storage_server(
        &input,
        job.os_cloud.as_deref(),
        stack,
        &topology,
        &job.rebuild,
        &progress,
    )?;
    log::info!(target: "api", "storage server rebuilt; re-discovering the stack for heal_end");
    let (_, planned) = d::plan_heal_from(&input, d::HealPhase::End, &source)?;
    let end = d::execute(&planned, &job.state_dir, &job.opts, &job.events)?;
    let mut trusted = summary.trusted_on_first_use;
    trusted.extend(end.trusted_on_first_use);
    Ok((
        "heal".to_string(),
        mgmt_driver::exec::Summary {
            executed: summary.executed + end.executed,
            skipped: summary.skipped + end.skipped,
            trusted_on_first_use: trusted,
            access: end.access.or(summary.access),
        },
    ))
}

/// Runs `job` on a thread, watching for Python signals while it runs.
fn run_watched<'py>(py: Python<'py>, job: Job) -> PyResult<Bound<'py, PyAny>> {
    let cancel = job.opts.cancel.clone();
    let id = job.vnf_instance_id.clone();
    let (tx, rx) = mpsc::channel();
    // `detach` needs `Sync`; only this thread ever locks it.
    let rx = std::sync::Mutex::new(rx);
    let worker = std::thread::Builder::new()
        .name("vnf-mgmt-op".into())
        .spawn(move || {
            let r = run_job(&job);
            // The receiver only goes away when the caller is gone; nothing to report to.
            let _ = tx.send(r);
        })
        .map_err(|e| {
            to_py_err(
                py,
                Failure::Internal(format!("cannot start the worker: {e}")),
            )
        })?;
    let mut interrupted: Option<PyErr> = None;
    let result = loop {
        let waited = py.detach(|| match rx.lock() {
            Ok(rx) => rx.recv_timeout(Duration::from_millis(100)),
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        });
        match waited {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Failure::Internal(
                    "the operation's thread ended early".into(),
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if interrupted.is_none()
            && let Err(e) = py.check_signals()
        {
            // No new step starts; the running ones finish (their results are journaled).
            cancel.store(true, Ordering::SeqCst);
            interrupted = Some(e);
        }
    };
    let _ = py.detach(|| worker.join());
    if let Some(e) = interrupted {
        return Err(e);
    }
    match result {
        Ok((operation, summary)) => summary_dict(py, &summary, &operation, &id),
        Err(f) => Err(to_py_err(py, f)),
    }
}

fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("vnf-mgmt");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/state/vnf-mgmt"),
        None => PathBuf::from(".vnf-mgmt-state"),
    }
}

/// Runs one engine operation (`instantiate`, `heal_start`, `heal_end`, `scale_start`,
/// `scale_end`, `terminate_start`) or the whole storage-server heal with the rebuild
/// through Heat (`heal`, needs `stack`): plan from the inventory or the Heat stack, then
/// execute with the journal under `state_dir`. `cni`/`cni_manifest`: the pod network of
/// a kubeadm install (default Calico from its pinned upstream manifest). `targets`: nodes a heal rebuilds or a
/// scale-in removes (topology node names, server ids, Kubernetes node names,
/// `storage_server`, `entire`). Returns `{"operation", "vnf_instance_id", "executed",
/// "skipped", "trusted_on_first_use", "access"}` (`access`: a `ClusterAccess` when the
/// run exported one, else None).
#[pyfunction]
#[pyo3(signature = (
    package, request, vnf_instance_id, *, operation="instantiate", targets=None,
    install_cluster=false, runtime="kubeadm", cni=None, cni_manifest=None, drain=false,
    export_access=true, kube_timeout=150, inventory=None, os_cloud=None, stack=None, known_hosts=None,
    trust_on_first_use=false, state_dir=None, events=None, register_pvs=true,
    max_parallel=8, connect_timeout=20, attempts=3, replace_volumes=false,
    rebuild_timeout=1800
))]
#[allow(clippy::too_many_arguments)]
pub fn _run<'py>(
    py: Python<'py>,
    package: PathBuf,
    request: PathBuf,
    vnf_instance_id: String,
    operation: &str,
    targets: Option<Vec<String>>,
    install_cluster: bool,
    runtime: &str,
    cni: Option<&str>,
    cni_manifest: Option<String>,
    drain: bool,
    export_access: bool,
    kube_timeout: u64,
    inventory: Option<PathBuf>,
    os_cloud: Option<String>,
    stack: Option<String>,
    known_hosts: Option<PathBuf>,
    trust_on_first_use: bool,
    state_dir: Option<PathBuf>,
    events: Option<Py<PyAny>>,
    register_pvs: bool,
    max_parallel: usize,
    connect_timeout: u64,
    attempts: u32,
    replace_volumes: bool,
    rebuild_timeout: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(op) = parse_operation(operation) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown operation {operation:?} ({OPERATIONS})"
        )));
    };
    let runtime = parse_runtime(runtime)?;
    let cni = parse_cni(cni)?;
    let targets = targets.unwrap_or_default();
    if matches!(op, Operation::HealAll) {
        if stack.is_none() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "heal \"all\" rebuilds the VM through Heat and needs stack=; with a \
                 static inventory run phase \"start\", rebuild the VM, then phase \"end\"",
            ));
        }
        if targets.iter().any(|t| t != "storage_server") {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "heal \"all\" rebuilds only the storage server; for masters, workers or \
                 `entire` run phase \"start\", have the orchestrator rebuild the VMs, then \
                 phase \"end\"",
            ));
        }
    }
    if inventory.is_some() == stack.is_some() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "give exactly one of inventory= (static inventory YAML) and stack= (Heat stack)",
        ));
    }
    let key_base = Path::new(&package).is_dir().then(|| package.clone());
    let job = Job {
        operation: op,
        package,
        request,
        vnf_instance_id,
        inventory,
        os_cloud,
        stack,
        state_dir: state_dir.unwrap_or_else(default_state_dir),
        opts: mgmt_driver::exec::ExecOptions {
            host_keys: mgmt_driver::exec::HostKeyPolicy {
                known_hosts,
                trust_on_first_use,
            },
            key_base,
            max_parallel: max_parallel.max(1),
            connect_timeout: Duration::from_secs(connect_timeout.max(1)),
            attempts: attempts.max(1),
            cancel: Arc::new(AtomicBool::new(false)),
            ..Default::default()
        },
        plan_options: mgmt_driver::planner::PlanOptions {
            register_pvs,
            install_cluster,
            runtime,
            targets,
            export_access,
            drain_on_terminate: drain,
            kube_timeout_secs: kube_timeout.max(1),
            cni,
            cni_manifest,
            ..Default::default()
        },
        rebuild: mgmt_driver::openstack::RebuildOptions {
            replace_volumes,
            timeout: Duration::from_secs(rebuild_timeout.max(1)),
            ..Default::default()
        },
        events: Sink(events),
    };
    run_watched(py, job)
}
