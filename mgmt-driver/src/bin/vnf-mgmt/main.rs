//! `vnf-mgmt`: a thin command line over the mgmt-driver library.
//!
//! Results go to stdout, diagnostics to stderr prefixed `vnf-mgmt:`. Exit codes are
//! defined in [`exit`].

mod args;
mod exit;
mod render;

use args::{
    Cli, CniArg, Command, DiscoverArgs, Format, HealArgs, HealPhaseArg, HotArgs, InstantiateArgs,
    OperationInput, PackArgs, PlanArgs, PlanOperation, RuntimeArg, ScaleArgs, StartEnd,
    TerminateArgs, ValidateArgs,
};
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Validate(a) => validate(a),
        Command::Pack(a) => pack(a),
        Command::Hot(a) => hot(a),
        Command::Plan(a) => plan(a),
        Command::Instantiate(a) => instantiate(a),
        Command::Heal(a) => heal(a),
        Command::Scale(a) => scale(a),
        Command::Terminate(a) => terminate(a),
        Command::Discover(a) => discover(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::SUCCESS;
            }
            eprintln!("vnf-mgmt: {}", render::error_chain(&err));
            exit::code_for_error(&err)
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let opts = mgmt_driver::validate::Options {
        verify_digests: !a.no_digests,
    };
    let v = mgmt_driver::validate::validate(&a.package, a.request.as_deref(), &opts)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Text => render::report_text(&mut out, &v, &a.package, a.request.as_deref())?,
        Format::Json => render::report_json(&mut out, &v, &a.package, a.request.as_deref())?,
    }
    out.flush()?;
    Ok(if v.report.ok() {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::INVALID)
    })
}

fn pack(a: PackArgs) -> anyhow::Result<ExitCode> {
    let opts = vnf_package::archive::PackOptions {
        update_in_place: a.in_place,
    };
    let summary = vnf_package::archive::pack(&a.dir, &a.output, &opts)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Text => render::pack_text(&mut out, &summary, &a.output)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &render::pack_json(&summary, &a.output))?;
            writeln!(out)?;
        }
    }
    Ok(exit::SUCCESS)
}

fn hot(a: HotArgs) -> anyhow::Result<ExitCode> {
    let bundle = mgmt_driver::hot::generate_for_package(
        &a.package,
        &a.request,
        a.flavour.as_deref(),
        a.level.as_deref(),
    )?;
    let mut out = std::io::stdout().lock();
    if let Some(dir) = &a.out {
        bundle.write_to(dir)?;
        if a.format.is_none() {
            writeln!(out, "wrote {}", dir.join("top.yaml").display())?;
            for key in bundle.files.keys() {
                writeln!(out, "wrote {}", dir.join(key).display())?;
            }
            writeln!(out, "wrote {}", dir.join("parameters.json").display())?;
        }
    }
    match a.format {
        Some(Format::Json) => {
            serde_json::to_writer_pretty(&mut out, &bundle)?;
            writeln!(out)?;
        }
        Some(Format::Text) => {
            writeln!(out, "# top.yaml")?;
            write!(out, "{}", bundle.top_yaml()?)?;
            for (key, tpl) in &bundle.files {
                writeln!(out, "# {key}")?;
                write!(out, "{}", tpl.to_yaml()?)?;
            }
            writeln!(out, "# parameters.json")?;
            serde_json::to_writer_pretty(&mut out, &bundle.parameters)?;
            writeln!(out)?;
        }
        None => {}
    }
    Ok(exit::SUCCESS)
}

/// Exit status of an operation that failed on the hosts (re-run to resume).
const OPERATION_FAILED: u8 = 3;

fn plan_input(i: &OperationInput) -> mgmt_driver::driver::PlanInput<'_> {
    mgmt_driver::driver::PlanInput {
        package: &i.package,
        request: &i.request,
        inventory: i.inventory.as_deref().unwrap_or(std::path::Path::new("")),
        vnf_instance_id: &i.vnf_instance_id,
        verify_digests: !i.no_digests,
        options: mgmt_driver::planner::PlanOptions {
            nfs_client_package: i.nfs_client_package.clone(),
            script_timeout_secs: i.script_timeout.max(1),
            kube_timeout_secs: i.kube_timeout.max(1),
            register_pvs: !i.skip_pv_registration,
            install_cluster: i.install_cluster,
            k8s_minor: i.k8s_minor.clone(),
            runtime: match i.runtime {
                RuntimeArg::Kubeadm => mgmt_driver::cluster::ClusterRuntime::Kubeadm,
                RuntimeArg::K3s => mgmt_driver::cluster::ClusterRuntime::K3s,
            },
            cni: i.cni.map(|c| match c {
                CniArg::Calico => mgmt_driver::cluster::Cni::Calico,
                CniArg::Flannel => mgmt_driver::cluster::Cni::Flannel,
                CniArg::Cilium => mgmt_driver::cluster::Cni::Cilium,
                CniArg::None => mgmt_driver::cluster::Cni::None,
            }),
            cni_manifest: i.cni_manifest.clone(),
            ..Default::default()
        },
    }
}

/// [`plan_input`] with heal/scale targets.
fn plan_input_targets<'a>(
    i: &'a OperationInput,
    targets: &[String],
) -> mgmt_driver::driver::PlanInput<'a> {
    let mut input = plan_input(i);
    input.options.targets = targets.to_vec();
    input
}

/// The topology source of an operation: the inventory, or OpenStack with --stack.
fn topology_source(i: &OperationInput) -> mgmt_driver::driver::TopologySource<'_> {
    match &i.stack {
        Some(stack) => mgmt_driver::driver::TopologySource::OpenStack {
            os_cloud: i.os_cloud.as_deref(),
            stack,
        },
        None => mgmt_driver::driver::TopologySource::Inventory,
    }
}

fn discover(a: DiscoverArgs) -> anyhow::Result<ExitCode> {
    let topology = match mgmt_driver::driver::discover(
        &a.package,
        &a.request,
        !a.no_digests,
        a.os_cloud.as_deref(),
        &a.stack,
    ) {
        Ok(t) => t,
        Err(e) => return driver_failure(e),
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &topology)?;
            writeln!(out)?;
        }
        Format::Text => write!(out, "{}", topology_text(&topology))?,
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

/// The topology as text: one block per node.
fn topology_text(t: &mgmt_driver::topology::Topology) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "source: {}", t.source);
    if let Some(e) = &t.cluster_endpoint {
        let _ = writeln!(s, "cluster endpoint: {e}");
    }
    for n in &t.nodes {
        let _ = writeln!(
            s,
            "{} {} ssh {}:{}{}",
            n.role.as_str(),
            n.name,
            n.ssh.host,
            n.ssh.port,
            n.nic.map(|a| format!(" nic {a}")).unwrap_or_default()
        );
        if let Some(r) = &n.resource_id {
            let _ = writeln!(s, "  server {r}");
        }
        for (cp, ip) in &n.ports {
            let _ = writeln!(s, "  port {cp} {ip}");
        }
        for (name, v) in &n.volumes {
            let _ = writeln!(
                s,
                "  volume {name} {}{}",
                v.cinder_id,
                v.device
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
        for k in &n.host_keys {
            let _ = writeln!(s, "  host key {k}");
        }
    }
    s
}

/// Prints an engine error; invalid input also gets its findings. Returns the exit code.
fn driver_failure(e: mgmt_driver::driver::DriverError) -> anyhow::Result<ExitCode> {
    use mgmt_driver::driver::DriverError;
    match e {
        DriverError::Invalid(inv) => {
            let mut err = std::io::stderr().lock();
            for f in &inv.report.findings {
                if f.severity == vnf_package::Severity::Error {
                    writeln!(err, "vnf-mgmt: {f}")?;
                }
            }
            writeln!(err, "vnf-mgmt: {inv}")?;
            Ok(ExitCode::from(exit::INVALID))
        }
        DriverError::Read(e) => Err(e.into()),
        DriverError::Exec(e) => {
            eprintln!("vnf-mgmt: {e}");
            Ok(ExitCode::from(OPERATION_FAILED))
        }
        // The inventory or its fit with the request is wrong: invalid input.
        e @ (DriverError::Inventory(_) | DriverError::Plan(_)) => {
            eprintln!("vnf-mgmt: {e}");
            Ok(ExitCode::from(exit::INVALID))
        }
        other => {
            eprintln!("vnf-mgmt: {other}");
            Ok(ExitCode::from(exit::USAGE_OR_IO))
        }
    }
}

fn plan(a: PlanArgs) -> anyhow::Result<ExitCode> {
    use mgmt_driver::plan::Operation as Op;
    let input = plan_input_targets(&a.input, &a.target);
    let src = topology_source(&a.input);
    let op = match (a.operation, a.phase) {
        (PlanOperation::Instantiate, None) => Op::Instantiate,
        (PlanOperation::Terminate, None) => Op::TerminateStart,
        (PlanOperation::Heal, Some(HealPhaseArg::Start)) => Op::HealStart,
        (PlanOperation::Heal, Some(HealPhaseArg::End)) => Op::HealEnd,
        (PlanOperation::Scale, Some(HealPhaseArg::Start)) => Op::ScaleStart,
        (PlanOperation::Scale, Some(HealPhaseArg::End)) => Op::ScaleEnd,
        (PlanOperation::Instantiate | PlanOperation::Terminate, Some(_)) => {
            eprintln!("vnf-mgmt: --phase is for plan heal and plan scale only");
            return Ok(ExitCode::from(exit::USAGE_OR_IO));
        }
        (PlanOperation::Heal | PlanOperation::Scale, None | Some(HealPhaseArg::All)) => {
            eprintln!(
                "vnf-mgmt: plan heal/scale needs --phase start or --phase end (the VM changes between them are not plan steps)"
            );
            return Ok(ExitCode::from(exit::USAGE_OR_IO));
        }
    };
    let result = mgmt_driver::driver::plan_operation_from(&input, op, &src);
    let planned = match result {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Text => write!(out, "{}", planned.plan.to_text())?,
        Format::Json => write!(out, "{}", planned.plan.to_json())?,
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}

fn default_state_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return std::path::PathBuf::from(d).join("vnf-mgmt");
    }
    match std::env::var_os("HOME") {
        Some(h) => std::path::PathBuf::from(h).join(".local/state/vnf-mgmt"),
        None => std::path::PathBuf::from(".vnf-mgmt-state"),
    }
}

/// Progress on stderr, one line per event worth showing.
struct Progress;

impl mgmt_driver::events::EventSink for Progress {
    fn emit(&self, e: &mgmt_driver::events::Event) {
        if let Some(line) = mgmt_driver::events::progress_line(e) {
            eprintln!("vnf-mgmt: {line}");
        }
    }
}

fn instantiate(a: InstantiateArgs) -> anyhow::Result<ExitCode> {
    let planned = match mgmt_driver::driver::plan_instantiate_from(
        &plan_input(&a.input),
        &topology_source(&a.input),
    ) {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    run_planned(&a, &planned)
}

fn heal(a: HealArgs) -> anyhow::Result<ExitCode> {
    use mgmt_driver::plan::Operation as Op;
    let storage = a.targets.iter().all(|t| t == "storage_server");
    let op = match a.phase {
        HealPhaseArg::Start => Op::HealStart,
        HealPhaseArg::End => Op::HealEnd,
        HealPhaseArg::All if storage => return heal_all(&a),
        HealPhaseArg::All => {
            eprintln!(
                "vnf-mgmt: heal --phase all rebuilds only the storage server; for masters, workers or `entire` run --phase start, have the orchestrator rebuild the VMs (update the inventory), then --phase end"
            );
            return Ok(ExitCode::from(exit::USAGE_OR_IO));
        }
    };
    if a.replace_volume {
        eprintln!(
            "vnf-mgmt: --replace-volume is for heal --phase all (the volume is replaced by the cloud during the rebuild)"
        );
        return Ok(ExitCode::from(exit::USAGE_OR_IO));
    }
    let planned = match mgmt_driver::driver::plan_operation_from(
        &plan_input_targets(&a.run.input, &a.targets),
        op,
        &topology_source(&a.run.input),
    ) {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    run_planned(&a.run, &planned)
}

fn scale(a: ScaleArgs) -> anyhow::Result<ExitCode> {
    use mgmt_driver::plan::Operation as Op;
    let usage = |m: &str| -> anyhow::Result<ExitCode> {
        eprintln!("vnf-mgmt: {m}");
        Ok(ExitCode::from(exit::USAGE_OR_IO))
    };
    if a.run.input.stack.is_some() {
        return usage(
            "scale drives the hooks around the orchestrator's change; run it with --inventory (before: the current nodes, after: the nodes after the change)",
        );
    }
    let op = match (a.phase, a.scale_in) {
        (StartEnd::Start, true) => {
            if a.remove.is_empty() {
                return usage(
                    "scale --in --phase start needs --remove NODE... (the workers that go)",
                );
            }
            if let Some(n) = a.steps
                && n as usize != a.remove.len()
            {
                return usage(&format!(
                    "--steps {n} but {} node(s) in --remove",
                    a.remove.len()
                ));
            }
            Op::ScaleStart
        }
        (StartEnd::Start, false) => Op::ScaleStart,
        (StartEnd::End, _) => Op::ScaleEnd,
    };
    if !a.remove.is_empty() && (a.out || a.phase == StartEnd::End) {
        return usage("--remove is for scale --in --phase start");
    }
    let input = plan_input_targets(&a.run.input, &a.remove);
    let planned = match mgmt_driver::driver::plan_operation_from(
        &input,
        op,
        &topology_source(&a.run.input),
    ) {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    if !a.run.quiet {
        eprintln!(
            "vnf-mgmt: scale {} of aspect {}: {}",
            if a.scale_in { "in" } else { "out" },
            a.aspect,
            op.as_str()
        );
    }
    run_planned(&a.run, &planned)
}

fn terminate(a: TerminateArgs) -> anyhow::Result<ExitCode> {
    if a.phase == StartEnd::End {
        // Nothing runs on the hosts: the VMs go with the stack. The orchestrator drops
        // the VIM it registered at instantiate.
        let account = mgmt_driver::cluster::access_account(&a.run.input.vnf_instance_id);
        let data = serde_json::json!({
            "operation": "terminate_end",
            "vnf_instance_id": a.run.input.vnf_instance_id,
            "deregister_vim": {"vim_type": "kubernetes", "service_account": format!("kube-system/{account}")},
        });
        println!("{}", serde_json::to_string_pretty(&data)?);
        return Ok(exit::SUCCESS);
    }
    let mut input = plan_input(&a.run.input);
    input.options.drain_on_terminate = a.drain;
    let planned = match mgmt_driver::driver::plan_operation_from(
        &input,
        mgmt_driver::plan::Operation::TerminateStart,
        &topology_source(&a.run.input),
    ) {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    run_planned(&a.run, &planned)
}

/// `heal storage_server --phase all --stack ID`: heal_start, the rebuild through Heat,
/// then heal_end on the re-discovered topology (new server, new console-pinned keys).
fn heal_all(a: &HealArgs) -> anyhow::Result<ExitCode> {
    use mgmt_driver::driver::{HealPhase, plan_heal_from};
    let Some(stack) = a.run.input.stack.as_deref() else {
        eprintln!(
            "vnf-mgmt: heal --phase all rebuilds the VM through OpenStack and needs --os-cloud/--stack (a static inventory cannot rebuild it); with a static inventory run --phase start, rebuild the VM and update the inventory, then --phase end"
        );
        return Ok(ExitCode::from(exit::USAGE_OR_IO));
    };
    let input = plan_input(&a.run.input);
    let source = topology_source(&a.run.input);
    let (topology, planned) = match plan_heal_from(&input, HealPhase::Start, &source) {
        Ok(p) => p,
        Err(e) => return driver_failure(e),
    };
    let code = run_planned(&a.run, &planned)?;
    if code != exit::SUCCESS {
        return Ok(code);
    }
    let opts = mgmt_driver::openstack::RebuildOptions {
        replace_volumes: a.replace_volume,
        timeout: std::time::Duration::from_secs(a.rebuild_timeout.max(1)),
        ..Default::default()
    };
    let quiet = a.run.quiet;
    let progress = |line: &str| {
        if !quiet {
            eprintln!("vnf-mgmt: {line}");
        }
    };
    if let Err(e) = mgmt_driver::driver::rebuild_storage_server(
        &input,
        a.run.input.os_cloud.as_deref(),
        stack,
        &topology,
        &opts,
        &progress,
    ) {
        eprintln!("vnf-mgmt: {e}");
        return Ok(ExitCode::from(OPERATION_FAILED));
    }
    progress("storage server rebuilt; re-discovering the stack for heal_end");
    let planned = match plan_heal_from(&input, HealPhase::End, &source) {
        Ok((_, p)) => p,
        Err(e) => return driver_failure(e),
    };
    run_planned_events(&a.run, &planned, true)
}

/// Executes a plan with the execution options of `a`; prints the summary.
fn run_planned(
    a: &InstantiateArgs,
    planned: &mgmt_driver::planner::Planned,
) -> anyhow::Result<ExitCode> {
    run_planned_events(a, planned, false)
}

/// Like [`run_planned`]; `append_events` appends to the --events file instead of
/// replacing it.
fn run_planned_events(
    a: &InstantiateArgs,
    planned: &mgmt_driver::planner::Planned,
    append_events: bool,
) -> anyhow::Result<ExitCode> {
    use mgmt_driver::events::{EventSink, Fanout, JsonLines};
    if let Some(path) = &a.plan_out {
        std::fs::write(path, planned.plan.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write plan {}: {e}", path.display()))?;
    }
    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    if let Some(path) = &a.events {
        // The phases of `heal --phase all` share one events file.
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append_events)
            .truncate(!append_events)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create events file {}: {e}", path.display()))?;
        sinks.push(Box::new(JsonLines::new(std::io::BufWriter::new(f))));
    }
    if !a.quiet {
        sinks.push(Box::new(Progress));
    }
    let events = Fanout(sinks);
    let key_base = if a.input.package.is_dir() {
        Some(a.input.package.clone())
    } else {
        None
    };
    let opts = mgmt_driver::exec::ExecOptions {
        host_keys: mgmt_driver::exec::HostKeyPolicy {
            known_hosts: a.known_hosts.clone(),
            trust_on_first_use: a.trust_on_first_use,
        },
        key_base,
        max_parallel: a.parallel.max(1),
        connect_timeout: std::time::Duration::from_secs(a.connect_timeout.max(1)),
        attempts: a.attempts.max(1),
        ..Default::default()
    };
    // Ctrl-C: finish the running steps, start no new one; a re-run resumes.
    if let Err(e) = mgmt_driver::driver::cancel_on_ctrl_c(opts.cancel.clone()) {
        eprintln!("vnf-mgmt: warning: Ctrl-C will not cancel cleanly: {e}");
    }
    let state_dir = a.state_dir.clone().unwrap_or_else(default_state_dir);
    match mgmt_driver::driver::execute(planned, &state_dir, &opts, &events) {
        Ok(summary) => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{} of {} done: {} step(s) run, {} skipped",
                planned.plan.operation.as_str(),
                planned.plan.vnf_instance_id,
                summary.executed,
                summary.skipped
            )?;
            for (host, what) in &summary.trusted_on_first_use {
                writeln!(out, "trusted the host key of {host} on first use: {what}")?;
            }
            write_access(
                a,
                &planned.plan.vnf_instance_id,
                summary.access.as_ref(),
                &mut out,
            )
        }
        Err(e) => driver_failure(e),
    }
}

/// Writes the exported cluster access where `--kubeconfig-out` / `--vim-info-out` ask
/// (mode 0600; the token never goes to stdout or stderr).
fn write_access(
    a: &InstantiateArgs,
    instance: &str,
    access: Option<&mgmt_driver::kube::ClusterAccess>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if a.kubeconfig_out.is_none() && a.vim_info_out.is_none() {
        return Ok(exit::SUCCESS);
    }
    let Some(access) = access else {
        eprintln!(
            "vnf-mgmt: no cluster access was exported by this operation (it needs --install-cluster): --kubeconfig-out/--vim-info-out not written"
        );
        return Ok(ExitCode::from(OPERATION_FAILED));
    };
    if let Some(path) = &a.kubeconfig_out {
        access
            .write_kubeconfig(path, instance)
            .map_err(|e| anyhow::anyhow!("cannot write kubeconfig {}: {e}", path.display()))?;
        writeln!(
            out,
            "kubeconfig for {} ({}/{}) written to {} (mode 0600)",
            access.endpoint,
            access.namespace,
            access.service_account,
            path.display()
        )?;
    }
    if let Some(path) = &a.vim_info_out {
        let json = serde_json::to_string_pretty(&access.vim_connection_info(instance))?;
        mgmt_driver::kube::write_private_file(path, json.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write VIM data {}: {e}", path.display()))?;
        writeln!(
            out,
            "VIM registration data written to {} (mode 0600)",
            path.display()
        )?;
    }
    Ok(exit::SUCCESS)
}
