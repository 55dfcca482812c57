//! Execution: runs exactly the steps of a [`Plan`] over SSH.
//!
//! - One connection per host per operation, opened (host key verified, authenticated,
//!   sudo checked) for every host **before** any step runs, and reused for every step.
//! - Per phase, hosts run in parallel (at most [`ExecOptions::max_parallel`]); each
//!   host's steps run in order. Success is the exit status; stderr only feeds messages.
//! - Transport errors (connection lost, refused) are retried with exponential backoff
//!   after reconnecting; a script failing or timing out is not retried.
//! - The [`Journal`] records completed steps; a re-run skips steps still holding.
//! - Cancellation: set [`ExecOptions::cancel`]; no new step starts afterwards.
//! - Every message that leaves this module has the secrets redacted.

// Errors are the rare path and carry host, step, status and output for the message.
#![allow(clippy::result_large_err)]

pub mod hostkey;
pub mod ssh;

pub use ssh::{HostKeyPolicy, shell_quote};

use crate::events::{Event, EventSink, Outcome, Phase, now_ms};
use crate::journal::Journal;
use crate::plan::{Action, FileSource, Plan, PlanHost, Step};
use crate::secret::Secrets;
use ssh::{Conn, ConnError, RunError, Trusted};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Error codes of execution.
pub mod codes {
    vnf_package::codes! {
        /// TCP connect or SSH handshake to a host failed (after retries).
        CONNECT = "driver.ssh.connect";
        /// The host rejected the SSH credentials.
        AUTH_FAILED = "driver.ssh.auth_failed";
        /// The host key differs from the pinned or known one; nothing was done.
        HOST_KEY_MISMATCH = "driver.ssh.host_key_mismatch";
        /// The host key is unknown and trust-on-first-use was not requested.
        HOST_KEY_UNKNOWN = "driver.ssh.host_key_unknown";
        /// The connection broke during a step (after retries).
        TRANSPORT = "driver.ssh.transport";
        /// `sudo` does not work for the login user.
        SUDO_FAILED = "driver.ssh.sudo_failed";
        /// A remote step exited with a non-zero status.
        STEP_FAILED = "driver.step.failed";
        /// A remote step exceeded its timeout.
        STEP_TIMEOUT = "driver.step.timeout";
        /// The operation was cancelled; steps not yet started did not run.
        CANCELLED = "driver.exec.cancelled";
        /// Setup problem: missing secret, unknown host in a step, unknown embedded file, unreadable file.
        SETUP = "driver.exec.setup";
        /// The journal cannot be read or written.
        JOURNAL = "driver.journal.io";
        /// The admin kubeconfig cannot be read from the master.
        KUBECONFIG = "driver.kube.kubeconfig";
        /// A Kubernetes API request failed.
        KUBE_API = "driver.kube.api";
        /// A Kubernetes object did not reach the wanted phase in time.
        KUBE_TIMEOUT = "driver.kube.timeout";
        /// A PersistentVolume to delete is bound to a claim (the message lists `pv -> namespace/claim`); nothing was deleted.
        PV_IN_USE = "driver.kube.pv_in_use";
        /// A step needs a secret on stdin that neither the request nor an earlier step's output provides.
        SECRET_MISSING = "driver.step.secret_missing";
        /// A capturing step succeeded but did not print one of the `key=value` outputs it must produce.
        OUTPUT_MISSING = "driver.step.output_missing";
        /// A drain could not evict a pod before the step timeout because a PodDisruptionBudget kept refusing it (the message names the pod and the budget); the Nodes stay cordoned, none was deleted.
        DRAIN_BLOCKED = "driver.kube.drain_blocked";
    }
}

/// Name of the exported access token in the run's secret store (a later step may take it
/// on stdin as this secret).
pub const ACCESS_TOKEN_SECRET: &str = "cluster.access.bearer_token";

/// Execution knobs.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Host key verification.
    pub host_keys: HostKeyPolicy,
    /// Directory relative private-key paths are resolved against.
    pub key_base: Option<PathBuf>,
    /// Hosts worked on at the same time.
    pub max_parallel: usize,
    /// TCP connect / SSH handshake timeout.
    pub connect_timeout: Duration,
    /// Attempts for transport errors (connect and steps), at least 1.
    pub attempts: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Set to stop starting new steps.
    pub cancel: Arc<AtomicBool>,
    /// Lines of remote output kept in error messages.
    pub tail_lines: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            host_keys: HostKeyPolicy::default(),
            key_base: None,
            max_parallel: 8,
            connect_timeout: Duration::from_secs(20),
            attempts: 3,
            backoff: Duration::from_millis(500),
            cancel: Arc::new(AtomicBool::new(false)),
            tail_lines: 10,
        }
    }
}

/// Why an operation failed. Every text field is already redacted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct ExecError {
    /// Stable code.
    pub code: vnf_package::Code,
    /// The host, when host-specific.
    pub host: Option<String>,
    /// The step, when step-specific.
    pub step: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Exit status of the remote command, when it ran.
    pub exit_status: Option<i32>,
    /// Last lines of the remote output (stdout then stderr).
    pub output_tail: Vec<String>,
}

impl ExecError {
    fn render(&self) -> String {
        let mut s = format!("{}:", self.code.id);
        if let Some(h) = &self.host {
            s.push_str(&format!(" host {h}"));
        }
        if let Some(st) = &self.step {
            s.push_str(&format!(", step {st}"));
        }
        s.push_str(&format!(": {}", self.message));
        if let Some(x) = self.exit_status {
            s.push_str(&format!(" (exit status {x})"));
        }
        if !self.output_tail.is_empty() {
            s.push_str("; last output:");
            for l in &self.output_tail {
                s.push_str("\n  | ");
                s.push_str(l);
            }
        }
        s
    }
}

/// What an operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Steps executed.
    pub executed: usize,
    /// Steps skipped (journal).
    pub skipped: usize,
    /// Host keys trusted on first use (host, description).
    pub trusted_on_first_use: Vec<(String, String)>,
    /// The cluster access a [`Action::KubeExportAccess`] step produced in this run (the
    /// last one, if several); its token is a [`crate::secret::Secret`].
    pub access: Option<crate::kube::ClusterAccess>,
}

struct Ctx<'a> {
    plan: &'a Plan,
    secrets: &'a Secrets,
    opts: &'a ExecOptions,
    events: &'a dyn EventSink,
    journal: Mutex<Journal>,
    /// Secrets produced by earlier steps of this run (`capture`).
    outputs: std::sync::RwLock<Secrets>,
    /// Cluster access exported by a `kube_export_access` step of this run.
    access: Mutex<Option<crate::kube::ClusterAccess>>,
}

impl Ctx<'_> {
    /// Redacts the request's secrets and every captured output.
    fn redact(&self, text: &str) -> String {
        let text = self.secrets.redact(text);
        match self.outputs.read() {
            Ok(o) => o.redact(&text),
            Err(_) => text,
        }
    }

    /// A secret by name: captured outputs first, then the request's secrets.
    fn secret(&self, name: &str) -> Option<crate::secret::Secret> {
        if let Some(v) = self.outputs.read().ok().and_then(|o| o.get(name).cloned()) {
            return Some(v);
        }
        self.secrets.get(name).cloned()
    }

    fn event(
        &self,
        host: Option<&str>,
        step: Option<&str>,
        phase: Phase,
        duration: Option<Duration>,
        outcome: Option<Outcome>,
        message: Option<String>,
    ) {
        self.events.emit(&Event {
            kind: "event",
            ts_ms: now_ms(),
            operation: self.plan.operation.as_str().to_string(),
            vnf_instance_id: self.plan.vnf_instance_id.clone(),
            host: host.map(str::to_string),
            step: step.map(str::to_string),
            phase,
            duration_ms: duration.map(|d| d.as_millis() as u64),
            outcome,
            message: message.map(|m| self.redact(&m)),
        });
    }

    fn error(
        &self,
        code: vnf_package::Code,
        host: Option<&str>,
        step: Option<&str>,
        message: String,
    ) -> ExecError {
        ExecError {
            code,
            host: host.map(str::to_string),
            step: step.map(str::to_string),
            message: self.redact(&message),
            exit_status: None,
            output_tail: vec![],
        }
    }

    fn connect_with_retry(
        &self,
        h: &PlanHost,
        step: Option<&str>,
    ) -> Result<(Conn, Trusted), ExecError> {
        let mut delay = self.opts.backoff;
        let attempts = self.opts.attempts.max(1);
        let t0 = Instant::now();
        for attempt in 1..=attempts {
            match ssh::connect(
                h,
                self.secrets,
                &self.opts.host_keys,
                self.opts.key_base.as_deref(),
                self.opts.connect_timeout,
            ) {
                Ok(c) => {
                    self.event(
                        Some(&h.name),
                        step,
                        Phase::Connect,
                        Some(t0.elapsed()),
                        Some(Outcome::Ok),
                        None,
                    );
                    return Ok(c);
                }
                Err(ConnError::Transport(m)) if attempt < attempts && !self.cancelled() => {
                    self.event(
                        Some(&h.name),
                        step,
                        Phase::Retry,
                        None,
                        None,
                        Some(format!("connect attempt {attempt}/{attempts}: {m}")),
                    );
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(e) => {
                    let (code, m) = match e {
                        ConnError::Transport(m) => {
                            (codes::CONNECT, format!("{m} (after {attempt} attempt(s))"))
                        }
                        ConnError::Auth(m) => (codes::AUTH_FAILED, m),
                        ConnError::HostKeyMismatch(m) => (codes::HOST_KEY_MISMATCH, m),
                        ConnError::HostKeyUnknown(m) => (codes::HOST_KEY_UNKNOWN, m),
                        ConnError::Sudo(m) => (codes::SUDO_FAILED, m),
                        ConnError::Other(m) => (codes::SETUP, m),
                    };
                    let err = self.error(
                        code,
                        Some(&h.name),
                        step,
                        format!("{}@{}:{}: {m}", h.user, h.address, h.port),
                    );
                    self.event(
                        Some(&h.name),
                        step,
                        Phase::Connect,
                        Some(t0.elapsed()),
                        Some(Outcome::Failed),
                        Some(err.to_string()),
                    );
                    return Err(err);
                }
            }
        }
        Err(self.error(
            codes::CONNECT,
            Some(&h.name),
            step,
            "no connection attempt made".into(),
        ))
    }

    fn cancelled(&self) -> bool {
        self.opts.cancel.load(Ordering::SeqCst)
    }

    fn tail(&self, out: &ssh::RemoteOutput) -> Vec<String> {
        let text = format!("{}{}", out.stdout, out.stderr);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let n = self.opts.tail_lines;
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| self.redact(l))
            .collect()
    }

    /// Runs one step on a connection; `Err(Ok(e))` for a final error, `Err(Err(msg))`
    /// for a transport error worth a retry.
    fn run_step(
        &self,
        conn: &Conn,
        h: &PlanHost,
        step: &Step,
    ) -> Result<(), Result<ExecError, String>> {
        let timeout = Duration::from_secs(step.timeout_secs.max(1));
        match &step.action {
            Action::UploadFile {
                path,
                mode,
                sha256,
                source,
            } => {
                let data = match source {
                    FileSource::Embedded { name } => {
                        crate::scripts::get(name).ok_or_else(|| {
                            Ok(self.error(
                                codes::SETUP,
                                Some(&h.name),
                                Some(&step.id),
                                format!("no embedded file {name}"),
                            ))
                        })?
                    }
                };
                let actual = crate::scripts::sha256(match source {
                    FileSource::Embedded { name } => name,
                })
                .unwrap_or_default();
                if &actual != sha256 {
                    return Err(Ok(self.error(
                        codes::SETUP,
                        Some(&h.name),
                        Some(&step.id),
                        format!("the plan expects {path} with sha256 {sha256} but this vnf-mgmt has {actual}: make a new plan"),
                    )));
                }
                if conn.remote_sha256(path).as_deref() == Some(sha256.as_str()) {
                    return Ok(());
                }
                conn.upload(path, data.as_bytes(), *mode, timeout)
                    .map_err(|e| self.run_error(e, h, step))?;
                match conn.remote_sha256(path) {
                    Some(s) if &s == sha256 => Ok(()),
                    other => Err(Ok(self.error(
                        codes::STEP_FAILED,
                        Some(&h.name),
                        Some(&step.id),
                        format!(
                            "uploaded {path} reads back with sha256 {}",
                            other.unwrap_or_else(|| "(unreadable)".into())
                        ),
                    ))),
                }
            }
            Action::KubeApply {
                kubeconfig,
                endpoint,
                name,
                object,
                wait_for_phase,
                ..
            } => self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                let wanted = wait_for_phase.as_deref().unwrap_or("");
                crate::kube::apply_pv(admin, endpoint.as_deref(), object, name, wanted, timeout)
            }),
            Action::KubeWaitNodesReady {
                kubeconfig,
                endpoint,
                nodes,
            } => self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                crate::kube::wait_nodes_ready(admin, endpoint.as_deref(), nodes, timeout)
            }),
            Action::KubeDeletePvs {
                kubeconfig,
                endpoint,
                instance,
                names,
            } => {
                let deleted = self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                    crate::kube::delete_pvs(admin, endpoint.as_deref(), instance, names, timeout)
                })?;
                self.done(
                    h,
                    step,
                    format!("deleted PersistentVolume(s): {}", deleted.join(", ")),
                );
                Ok(())
            }
            Action::KubeDrainNodes {
                kubeconfig,
                endpoint,
                nodes,
                delete_nodes,
            } => {
                let out = self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                    crate::kube::drain_nodes(
                        admin,
                        endpoint.as_deref(),
                        nodes,
                        *delete_nodes,
                        timeout,
                    )
                })?;
                self.done(
                    h,
                    step,
                    format!(
                        "drained Node(s) {}: evicted [{}], left [{}], deleted [{}], missing [{}], not Ready (not drained) [{}]",
                        nodes.join(", "),
                        out.evicted.join(", "),
                        out.left.join(", "),
                        out.deleted_nodes.join(", "),
                        out.missing_nodes.join(", "),
                        out.not_ready.join(", ")
                    ),
                );
                Ok(())
            }
            Action::KubeDeleteNodes {
                kubeconfig,
                endpoint,
                nodes,
            } => {
                let deleted = self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                    crate::kube::delete_nodes(admin, endpoint.as_deref(), nodes, timeout)
                })?;
                self.done(h, step, format!("deleted Node(s): {}", deleted.join(", ")));
                Ok(())
            }
            Action::KubeExportAccess {
                kubeconfig,
                endpoint,
                namespace,
                service_account,
            } => {
                let access = self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                    crate::kube::export_access(
                        admin,
                        endpoint.as_deref(),
                        namespace,
                        service_account,
                        timeout,
                    )
                })?;
                // Redacted everywhere from now on; later steps may take it on stdin.
                if let Ok(mut o) = self.outputs.write() {
                    o.insert(ACCESS_TOKEN_SECRET, access.bearer_token.clone());
                }
                if let Ok(mut a) = self.access.lock() {
                    *a = Some(access);
                }
                Ok(())
            }
            Action::KubeRevokeAccess {
                kubeconfig,
                endpoint,
                namespace,
                service_account,
            } => {
                let deleted = self.kube(conn, kubeconfig, timeout, h, step, |admin| {
                    crate::kube::revoke_access(
                        admin,
                        endpoint.as_deref(),
                        namespace,
                        service_account,
                        timeout,
                    )
                })?;
                self.done(
                    h,
                    step,
                    format!(
                        "revoked cluster access: deleted {}",
                        if deleted.is_empty() {
                            "nothing (already gone)".to_string()
                        } else {
                            deleted.join(", ")
                        }
                    ),
                );
                Ok(())
            }
            Action::RunScript {
                script,
                args,
                sudo,
                stdin_secrets,
                capture,
            } => {
                let out = if stdin_secrets.is_empty() {
                    conn.run_script(script, args, *sudo, timeout)
                } else {
                    let mut input = String::new();
                    for ns in stdin_secrets {
                        let v = self.secret(&ns.secret).ok_or_else(|| {
                            Ok(self.error(
                                codes::SECRET_MISSING,
                                Some(&h.name),
                                Some(&step.id),
                                format!("secret {} is not available", ns.secret),
                            ))
                        })?;
                        input.push_str(&ns.key);
                        input.push('=');
                        input.push_str(v.expose());
                        input.push('\n');
                    }
                    let path = format!(
                        "{}/run/{}.in",
                        crate::scripts::REMOTE_DIR.trim_end_matches("/scripts"),
                        &step.digest()[..16]
                    );
                    conn.run_script_with_input(
                        script,
                        args,
                        *sudo,
                        input.as_bytes(),
                        &path,
                        timeout,
                    )
                }
                .map_err(|e| self.run_error(e, h, step))?;
                if out.status == 0 {
                    self.capture(h, step, capture, &out.stdout)
                } else {
                    let mut e = self.error(
                        codes::STEP_FAILED,
                        Some(&h.name),
                        Some(&step.id),
                        format!("{script} failed"),
                    );
                    e.exit_status = Some(out.status);
                    e.output_tail = self.tail(&out);
                    Err(Ok(e))
                }
            }
        }
    }

    /// Stores the `key=value` lines of `stdout` named by `capture` as run secrets.
    fn capture(
        &self,
        h: &PlanHost,
        step: &Step,
        capture: &[crate::plan::NamedSecret],
        stdout: &str,
    ) -> Result<(), Result<ExecError, String>> {
        let mut found = Vec::new();
        for ns in capture {
            let prefix = format!("{}=", ns.key);
            match stdout.lines().find_map(|l| l.strip_prefix(prefix.as_str())) {
                Some(v) if !v.is_empty() => found.push((ns.secret.clone(), v.to_string())),
                _ => {
                    // Hide what was printed before reporting.
                    if let Ok(mut o) = self.outputs.write() {
                        for (n, v) in &found {
                            o.insert(n.clone(), crate::secret::Secret::new(v.clone()));
                        }
                    }
                    return Err(Ok(self.error(
                        codes::OUTPUT_MISSING,
                        Some(&h.name),
                        Some(&step.id),
                        format!("{} printed no {}=… line", step.id, ns.key),
                    )));
                }
            }
        }
        if let Ok(mut o) = self.outputs.write() {
            for (n, v) in found {
                o.insert(n, crate::secret::Secret::new(v));
            }
        }
        Ok(())
    }

    /// Reads the admin kubeconfig on the host (sudo); a non-zero exit is a final error.
    fn read_kubeconfig(
        &self,
        conn: &Conn,
        kubeconfig: &str,
        timeout: Duration,
        h: &PlanHost,
        step: &Step,
    ) -> Result<String, Result<ExecError, String>> {
        let out = conn
            .sudo_read(kubeconfig, timeout)
            .map_err(|e| self.run_error(e, h, step))?;
        if out.status != 0 {
            let mut e = self.error(
                codes::KUBECONFIG,
                Some(&h.name),
                Some(&step.id),
                format!("cannot read {kubeconfig}"),
            );
            e.exit_status = Some(out.status);
            e.output_tail = out.stderr.lines().map(|l| self.redact(l)).collect();
            return Err(Ok(e));
        }
        Ok(out.stdout)
    }

    /// The step error for a Kubernetes API failure.
    /// A Kubernetes action: the admin kubeconfig read from the step's host over SSH, then
    /// `f` with it; its error mapped to the step's error.
    fn kube<T>(
        &self,
        conn: &Conn,
        kubeconfig: &str,
        timeout: Duration,
        h: &PlanHost,
        step: &Step,
        f: impl FnOnce(&str) -> Result<T, crate::kube::KubeError>,
    ) -> Result<T, Result<ExecError, String>> {
        let admin = self.read_kubeconfig(conn, kubeconfig, timeout, h, step)?;
        f(&admin).map_err(|e| Ok(self.kube_error(e, h, step)))
    }

    /// What a Kubernetes step did, for the log.
    fn done(&self, h: &PlanHost, step: &Step, what: String) {
        tracing::info!(host = %h.name, step = %step.id, "{what}");
    }

    fn kube_error(&self, e: crate::kube::KubeError, h: &PlanHost, step: &Step) -> ExecError {
        let (code, message) = match e {
            crate::kube::KubeError::Api(m) => (codes::KUBE_API, m),
            crate::kube::KubeError::Timeout(m) => (codes::KUBE_TIMEOUT, m),
            crate::kube::KubeError::DrainBlocked(m) => (codes::DRAIN_BLOCKED, m),
            crate::kube::KubeError::InUse(bound) => (
                codes::PV_IN_USE,
                format!(
                    "PersistentVolume(s) in use, nothing deleted (remove the claims first): {}",
                    bound.join("; ")
                ),
            ),
        };
        self.error(code, Some(&h.name), Some(&step.id), message)
    }

    fn run_error(&self, e: RunError, h: &PlanHost, step: &Step) -> Result<ExecError, String> {
        match e {
            RunError::Transport(m) => Err(m),
            RunError::Timeout => Ok(self.error(
                codes::STEP_TIMEOUT,
                Some(&h.name),
                Some(&step.id),
                format!("no result within {} s", step.timeout_secs),
            )),
            RunError::Sftp(m) => Ok(self.error(
                codes::STEP_FAILED,
                Some(&h.name),
                Some(&step.id),
                format!("SFTP: {m}"),
            )),
        }
    }

    /// Runs one host's steps of a phase, reconnecting on transport errors.
    fn run_host(
        &self,
        h: &PlanHost,
        conn: &mut Option<Conn>,
        steps: &[&Step],
    ) -> Result<(usize, usize), ExecError> {
        let (mut executed, mut skipped) = (0, 0);
        for step in steps {
            if self.cancelled() {
                self.event(
                    Some(&h.name),
                    Some(&step.id),
                    Phase::End,
                    None,
                    Some(Outcome::Cancelled),
                    None,
                );
                return Err(self.error(
                    codes::CANCELLED,
                    Some(&h.name),
                    Some(&step.id),
                    "cancelled before this step".into(),
                ));
            }
            let digest = step.digest();
            let done = self
                .journal
                .lock()
                .map(|j| j.is_done(&step.id, &digest))
                .unwrap_or(false);
            if done {
                // Uploads are re-checked on the host; scripts are idempotent and trusted.
                let holds = match (&step.action, conn.as_ref()) {
                    (Action::UploadFile { path, sha256, .. }, Some(c)) => {
                        c.remote_sha256(path).as_deref() == Some(sha256.as_str())
                    }
                    (Action::UploadFile { .. }, None) => false,
                    (Action::RunScript { capture, .. }, _) if !capture.is_empty() => false,
                    // The access (token) must be produced by every run.
                    (Action::KubeExportAccess { .. }, _) => false,
                    // Done means done: re-running a drain or delete after the journal says
                    // so could remove a Node that joined again meanwhile.
                    (
                        Action::KubeDrainNodes { .. }
                        | Action::KubeDeleteNodes { .. }
                        | Action::KubeRevokeAccess { .. },
                        _,
                    ) => true,
                    (
                        Action::RunScript { .. }
                        | Action::KubeApply { .. }
                        | Action::KubeDeletePvs { .. }
                        | Action::KubeWaitNodesReady { .. },
                        _,
                    ) => true,
                };
                if holds {
                    skipped += 1;
                    self.event(
                        Some(&h.name),
                        Some(&step.id),
                        Phase::Skip,
                        None,
                        Some(Outcome::Skipped),
                        None,
                    );
                    continue;
                }
            }
            self.event(
                Some(&h.name),
                Some(&step.id),
                Phase::Start,
                None,
                None,
                None,
            );
            let t0 = Instant::now();
            let mut delay = self.opts.backoff;
            let attempts = self.opts.attempts.max(1);
            let mut attempt = 1;
            let result = loop {
                if conn.is_none() {
                    match self.connect_with_retry(h, Some(&step.id)) {
                        Ok((c, _)) => *conn = Some(c),
                        Err(e) => break Err(e),
                    }
                }
                let Some(c) = conn.as_ref() else {
                    break Err(self.error(
                        codes::CONNECT,
                        Some(&h.name),
                        Some(&step.id),
                        "no connection".into(),
                    ));
                };
                match self.run_step(c, h, step) {
                    Ok(()) => break Ok(()),
                    Err(Ok(e)) => break Err(e),
                    Err(Err(m)) => {
                        *conn = None;
                        if attempt >= attempts || self.cancelled() {
                            break Err(self.error(
                                codes::TRANSPORT,
                                Some(&h.name),
                                Some(&step.id),
                                format!("connection lost: {m} (after {attempt} attempt(s))"),
                            ));
                        }
                        self.event(
                            Some(&h.name),
                            Some(&step.id),
                            Phase::Retry,
                            None,
                            None,
                            Some(format!(
                                "attempt {attempt}/{attempts}: connection lost: {m}"
                            )),
                        );
                        std::thread::sleep(delay);
                        delay *= 2;
                        attempt += 1;
                    }
                }
            };
            match result {
                Ok(()) => {
                    self.event(
                        Some(&h.name),
                        Some(&step.id),
                        Phase::End,
                        Some(t0.elapsed()),
                        Some(Outcome::Ok),
                        None,
                    );
                    executed += 1;
                    let mut j = self.journal.lock().map_err(|_| {
                        self.error(codes::JOURNAL, None, None, "journal lock poisoned".into())
                    })?;
                    j.record(&step.id, &digest).map_err(|e| {
                        self.error(codes::JOURNAL, Some(&h.name), Some(&step.id), e.to_string())
                    })?;
                }
                Err(e) => {
                    self.event(
                        Some(&h.name),
                        Some(&step.id),
                        Phase::End,
                        Some(t0.elapsed()),
                        Some(Outcome::Failed),
                        Some(e.to_string()),
                    );
                    return Err(e);
                }
            }
        }
        Ok((executed, skipped))
    }
}

/// Runs `plan`. Connects to every host first (nothing changes if any host cannot be
/// reached, authenticated or trusted), then runs the phases in order.
pub fn execute(
    plan: &Plan,
    secrets: &Secrets,
    opts: &ExecOptions,
    journal: Journal,
    events: &dyn EventSink,
) -> Result<Summary, ExecError> {
    let ctx = Ctx {
        plan,
        secrets,
        opts,
        events,
        journal: Mutex::new(journal),
        outputs: std::sync::RwLock::new(Secrets::new()),
        access: Mutex::new(None),
    };
    let t0 = Instant::now();
    let r = execute_inner(&ctx);
    let outcome = if r.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let msg = r.as_ref().err().map(|e| e.to_string());
    if r.is_ok() {
        let j = ctx.journal.into_inner().map_err(|_| ExecError {
            code: codes::JOURNAL,
            host: None,
            step: None,
            message: "journal lock poisoned".into(),
            exit_status: None,
            output_tail: vec![],
        })?;
        j.finish().map_err(|e| ExecError {
            code: codes::JOURNAL,
            host: None,
            step: None,
            message: e.to_string(),
            exit_status: None,
            output_tail: vec![],
        })?;
    }
    events.emit(&Event {
        kind: "event",
        ts_ms: now_ms(),
        operation: plan.operation.as_str().to_string(),
        vnf_instance_id: plan.vnf_instance_id.clone(),
        host: None,
        step: None,
        phase: Phase::Operation,
        duration_ms: Some(t0.elapsed().as_millis() as u64),
        outcome: Some(outcome),
        message: msg,
    });
    r
}

fn execute_inner(ctx: &Ctx<'_>) -> Result<Summary, ExecError> {
    let plan = ctx.plan;
    // Static checks first: every step's host is in the plan, every secret is available.
    for st in &plan.steps {
        if plan.host(&st.host).is_none() {
            return Err(ctx.error(
                codes::SETUP,
                Some(&st.host),
                Some(&st.id),
                "step names a host that is not in the plan".into(),
            ));
        }
    }
    for h in &plan.hosts {
        let names = [
            match &h.credential {
                crate::plan::Credential::Password { secret } => Some(secret),
                crate::plan::Credential::PrivateKey { .. } => None,
            },
            h.sudo_password.as_ref(),
        ];
        for n in names.into_iter().flatten() {
            if ctx.secrets.get(n).is_none() {
                return Err(ctx.error(
                    codes::SETUP,
                    Some(&h.name),
                    None,
                    format!("secret {n} is not available"),
                ));
            }
        }
    }
    if ctx.opts.host_keys.trust_on_first_use && ctx.opts.host_keys.known_hosts.is_none() {
        return Err(ctx.error(
            codes::SETUP,
            None,
            None,
            "trust-on-first-use needs a known_hosts file to record keys in".into(),
        ));
    }

    // Connect everywhere (bounded parallelism) before changing anything.
    let hosts: Vec<&PlanHost> = plan
        .hosts
        .iter()
        .filter(|h| plan.steps.iter().any(|s| s.host == h.name))
        .collect();
    let conns: Vec<Mutex<Option<Conn>>> = hosts.iter().map(|_| Mutex::new(None)).collect();
    let trusted: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let results = parallel(ctx.opts.max_parallel, hosts.len(), |i| {
        let h = hosts[i];
        let (c, t) = ctx.connect_with_retry(h, None)?;
        if let Trusted::FirstUse(what) = t {
            ctx.event(
                Some(&h.name),
                None,
                Phase::TrustOnFirstUse,
                None,
                Some(Outcome::Ok),
                Some(what.clone()),
            );
            if let Ok(mut v) = trusted.lock() {
                v.push((h.name.clone(), what));
            }
        }
        if let Ok(mut slot) = conns[i].lock() {
            *slot = Some(c);
        }
        Ok((0, 0))
    });
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(e);
    }

    let mut summary = Summary {
        trusted_on_first_use: trusted.into_inner().unwrap_or_default(),
        ..Summary::default()
    };
    let mut phases: Vec<u32> = plan.steps.iter().map(|s| s.phase).collect();
    phases.sort_unstable();
    phases.dedup();
    for phase in phases {
        let per_host: Vec<Vec<&Step>> = hosts
            .iter()
            .map(|h| {
                plan.steps
                    .iter()
                    .filter(|s| s.phase == phase && s.host == h.name)
                    .collect()
            })
            .collect();
        let results = parallel(ctx.opts.max_parallel, hosts.len(), |i| {
            if per_host[i].is_empty() {
                return Ok((0, 0));
            }
            let mut slot = conns[i].lock().map_err(|_| {
                ctx.error(
                    codes::SETUP,
                    Some(&hosts[i].name),
                    None,
                    "connection lock poisoned".into(),
                )
            })?;
            ctx.run_host(hosts[i], &mut slot, &per_host[i])
        });
        let mut first_err = None;
        for r in results {
            match r {
                Ok((e, s)) => {
                    summary.executed += e;
                    summary.skipped += s;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    summary.access = ctx.access.lock().ok().and_then(|mut a| a.take());
    Ok(summary)
}

/// Runs `f(0..n)` on at most `max` threads; results in index order.
fn parallel<T: Send>(
    max: usize,
    n: usize,
    f: impl Fn(usize) -> Result<T, ExecError> + Sync,
) -> Vec<Result<T, ExecError>> {
    let next = Mutex::new(0usize);
    let out: Vec<Mutex<Option<Result<T, ExecError>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..max.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = {
                        let Ok(mut g) = next.lock() else { return };
                        let i = *g;
                        *g += 1;
                        i
                    };
                    if i >= n {
                        return;
                    }
                    let r = f(i);
                    if let Ok(mut slot) = out[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    out.into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(ExecError {
                    code: codes::SETUP,
                    host: None,
                    step: None,
                    message: "worker thread did not finish".into(),
                    exit_status: None,
                    output_tail: vec![],
                })
            })
        })
        .collect()
}
