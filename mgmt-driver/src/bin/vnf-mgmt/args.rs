//! Command-line syntax only: clap structs, no I/O. `main` turns them into library calls.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// VNF LCM management driver for a Kubernetes-cluster VNF on OpenStack.
///
/// Validates SOL004 VNF packages and instantiate requests, generates Heat templates,
/// and runs the lifecycle (instantiate, heal, scale, terminate) over SSH and the
/// Kubernetes API.
#[derive(Debug, Parser)]
#[command(name = "vnf-mgmt", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands, in lifecycle order.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a VNF package (directory or CSAR) and, optionally, an instantiate request.
    ///
    /// Reports every finding with severity, stable code, message and location.
    /// Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.
    Validate(ValidateArgs),
    /// Write a CSAR from a package directory, with freshly computed manifest and
    /// TOSCA.meta digests.
    Pack(PackArgs),
    /// Generate the Heat templates (top, one nested template per scaling aspect) and the
    /// `nfv` parameter values for a flavour.
    Hot(HotArgs),
    /// Print what an operation would do: per host, in order, each file to upload (mode,
    /// checksum) and each script with its arguments. No connection is made; secrets are
    /// referenced by name, never printed. Exit status: 0 planned, 1 invalid input
    /// (package, request, inventory, or a request that does not fit the inventory), 2
    /// usage or I/O error.
    Plan(PlanArgs),
    /// Run instantiate (this version: storage server volumes and NFS exports, NFS client
    /// on every Kubernetes node) over SSH, exactly as `vnf-mgmt plan instantiate` prints
    /// it. Exit status: 0 done, 1 invalid input (nothing contacted), 2 usage or I/O
    /// error, 3 the operation failed on the hosts (re-run to resume).
    Instantiate(InstantiateArgs),
    /// Heal a VNFC. `heal storage_server`: `--phase start` deletes the VNF's
    /// PersistentVolumes (refused, changing nothing, while a claim binds one); the VM is
    /// then rebuilt (with a static inventory: by the operator, who updates the inventory
    /// and host keys); `--phase end` sets the storage server up again — a kept volume
    /// keeps its data — and registers the PersistentVolumes with the current address.
    /// `heal NODE...` (workers or masters, by node name, server id or Kubernetes name):
    /// `--phase start` drains and deletes them (masters: etcd snapshot on a survivor,
    /// etcd member removed, HAProxy of the survivors without them; a single master is
    /// refused); `--phase end` resets the rebuilt nodes and joins them again.
    /// Exit status as for instantiate.
    Heal(HealArgs),
    /// Scale workers. With a static inventory: `--in --phase start --remove NODE...`
    /// drains (evictions, PodDisruptionBudgets respected, DaemonSets left) and deletes
    /// the Nodes before the VMs go; `--phase end` with the inventory after the change
    /// prepares and joins new workers (in parallel; joined ones are left alone) and
    /// rewrites every node's /etc/hosts block. Exit status as for instantiate.
    Scale(ScaleArgs),
    /// Terminate: `--phase start` optionally drains the workers (--drain) and revokes the
    /// access exported at instantiate; `--phase end` prints the VIM deregistration data
    /// (nothing is left on the orchestrator side). Exit status as for instantiate.
    Terminate(TerminateArgs),
    /// Discover a deployed VNF's topology from OpenStack (Keystone, Heat, Nova): masters,
    /// workers and the storage server with SSH/NIC addresses, ports, volumes, server ids
    /// and host keys pinned from the console log. Credentials: --os-cloud / OS_CLOUD
    /// (clouds.yaml), the OS_* variables, else the request's vimConnectionInfo.
    /// Exit status: 0 discovered, 1 invalid package or request, 2 discovery failed.
    Discover(DiscoverArgs),
}

/// `vnf-mgmt discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Package directory or .csar/.zip file.
    pub package: PathBuf,
    /// Instantiate request JSON (its additionalParams name the groups and ports).
    #[arg(long, short = 'r')]
    pub request: PathBuf,
    /// Cloud of clouds.yaml (default: OS_CLOUD, else the OS_* variables).
    #[arg(long)]
    pub os_cloud: Option<String>,
    /// Heat stack name or id.
    #[arg(long)]
    pub stack: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Skip verifying artifact digests while validating the package.
    #[arg(long)]
    pub no_digests: bool,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// Machine-readable JSON (stable, versioned by `format_version`).
    Json,
}

/// `vnf-mgmt validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Package directory or .csar/.zip file.
    pub package: PathBuf,
    /// Instantiate request JSON (SOL003 InstantiateVnfRequest) to check against the package.
    #[arg(long, short = 'r')]
    pub request: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Skip verifying artifact digests (faster for large images; the result says so).
    #[arg(long)]
    pub no_digests: bool,
}

/// `vnf-mgmt pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// Package directory.
    pub dir: PathBuf,
    /// Output CSAR file.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Also write the refreshed manifest and TOSCA.meta back into the directory.
    #[arg(long)]
    pub in_place: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `vnf-mgmt hot`.
#[derive(Debug, Args)]
pub struct HotArgs {
    /// Package directory or .csar/.zip file.
    pub package: PathBuf,
    /// Instantiate request JSON.
    #[arg(long, short = 'r')]
    pub request: PathBuf,
    /// Flavour id (default: the request's `flavourId`).
    #[arg(long)]
    pub flavour: Option<String>,
    /// Instantiation level id (default: the request's `instantiationLevelId`, else the
    /// flavour's `default_level`).
    #[arg(long)]
    pub level: Option<String>,
    /// Directory to write `top.yaml`, `nested/<aspect>.yaml` and `parameters.json` to.
    #[arg(long, short = 'o', required_unless_present = "format")]
    pub out: Option<PathBuf>,
    /// Print the bundle instead of (or as well as) writing it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Operations that can be planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOperation {
    /// instantiate_end.
    Instantiate,
    /// heal (one phase: see `--phase`) of the storage server, or of `--target` nodes.
    Heal,
    /// scale (one phase: see `--phase`); scale-in names the removed workers with `--target`.
    Scale,
    /// terminate_start.
    Terminate,
}

/// Cluster installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// kubeadm with packages from pkgs.k8s.io.
    Kubeadm,
    /// k3s (embedded etcd).
    K3s,
}

/// Pod network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CniArg {
    /// Calico.
    Calico,
    /// Flannel.
    Flannel,
    /// Cilium (needs --cni-manifest).
    Cilium,
    /// None: the operator installs one.
    None,
}

/// Which part of a scale or terminate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartEnd {
    /// The `*_start` hook (before the orchestrator changes the VMs).
    Start,
    /// The `*_end` hook (after).
    End,
}

/// `vnf-mgmt scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Scaling aspect (e.g. worker_instance).
    #[arg(long)]
    pub aspect: String,
    /// Scale out (add workers).
    #[arg(
        long,
        conflicts_with = "scale_in",
        required_unless_present = "scale_in"
    )]
    pub out: bool,
    /// Scale in (remove workers).
    #[arg(long = "in", id = "scale_in")]
    pub scale_in: bool,
    /// Scaling steps; with --remove it must equal the number of nodes removed.
    #[arg(long)]
    pub steps: Option<u32>,
    /// Which hook.
    #[arg(long, value_enum)]
    pub phase: StartEnd,
    /// Scale-in, --phase start: the workers the orchestrator removes (node name, server
    /// id or Kubernetes node name).
    #[arg(long, value_name = "NODE")]
    pub remove: Vec<String>,
    /// Inputs and execution options, as for instantiate.
    #[command(flatten)]
    pub run: InstantiateArgs,
}

/// `vnf-mgmt terminate`.
#[derive(Debug, Args)]
pub struct TerminateArgs {
    /// Which hook.
    #[arg(long, value_enum, default_value_t = StartEnd::Start)]
    pub phase: StartEnd,
    /// --phase start: drain every worker first.
    #[arg(long)]
    pub drain: bool,
    /// Inputs and execution options, as for instantiate.
    #[command(flatten)]
    pub run: InstantiateArgs,
}

/// Which part of a heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealPhaseArg {
    /// heal_start: delete the PersistentVolumes.
    Start,
    /// heal_end: set up the rebuilt storage server, register the PersistentVolumes.
    End,
    /// start, rebuild the VM through the orchestrator, end (needs OpenStack access).
    All,
}

/// `vnf-mgmt heal`.
#[derive(Debug, Args)]
pub struct HealArgs {
    /// What to heal: `storage_server`; masters/workers by topology node name, server
    /// (VNFC) id or Kubernetes node name; or `entire` (the whole VNF on a new stack:
    /// --phase start revokes the exported access, --phase end instantiates everything).
    /// Several nodes: comma-separated (`w1,w2`).
    #[arg(value_name = "TARGET", value_delimiter = ',', num_args = 1, required = true, action = clap::ArgAction::Set)]
    pub targets: Vec<String>,
    /// Which part: start, end, or all (all rebuilds the VM through OpenStack).
    #[arg(long, value_enum, default_value_t = HealPhaseArg::All)]
    pub phase: HealPhaseArg,
    /// With --phase all: also replace the storage volumes (Heat marks each
    /// volume_resource_id unhealthy; the data is lost). Default: keep the volumes.
    #[arg(long)]
    pub replace_volume: bool,
    /// With --phase all: how long the Heat stack update may take, seconds.
    #[arg(long, default_value_t = 1800)]
    pub rebuild_timeout: u64,
    /// Inputs and execution options, as for instantiate.
    #[command(flatten)]
    pub run: InstantiateArgs,
}

/// Inputs shared by `plan` and the operations.
#[derive(Debug, Args)]
pub struct OperationInput {
    /// Package directory or .csar/.zip file.
    pub package: PathBuf,
    /// Instantiate request JSON.
    #[arg(long, short = 'r')]
    pub request: PathBuf,
    /// Static inventory YAML (hosts with role, SSH and NIC addresses, volumes, ports).
    #[arg(
        long,
        short = 'i',
        required_unless_present = "stack",
        conflicts_with = "stack"
    )]
    pub inventory: Option<PathBuf>,
    /// Instead of --inventory: discover the topology of this Heat stack (name or id).
    #[arg(long)]
    pub stack: Option<String>,
    /// With --stack: the cloud of clouds.yaml (default: OS_CLOUD, else the OS_*
    /// variables, else the request's vimConnectionInfo).
    #[arg(long, requires = "stack")]
    pub os_cloud: Option<String>,
    /// VNF instance id (keys the journal that lets a failed operation resume).
    #[arg(long)]
    pub vnf_instance_id: String,
    /// Debian package providing the NFS client; installed only when `mount.nfs` is absent.
    #[arg(long, default_value = "nfs-common")]
    pub nfs_client_package: String,
    /// Skip verifying artifact digests while validating the package.
    #[arg(long)]
    pub no_digests: bool,
    /// Timeout of each remote script step, seconds.
    #[arg(long, default_value_t = 600)]
    pub script_timeout: u64,
    /// Storage part only: do not register the request's PersistentVolumes.
    #[arg(long)]
    pub skip_pv_registration: bool,
    /// Install the Kubernetes cluster first (one master, or several behind the VIP with
    /// HAProxy + keepalived; workers join in parallel); without it the cluster must
    /// already run. heal of nodes and scale always install what is missing.
    #[arg(long)]
    pub install_cluster: bool,
    /// Cluster installer (also where the admin kubeconfig is read on a master).
    #[arg(long, value_enum, default_value_t = RuntimeArg::Kubeadm)]
    pub runtime: RuntimeArg,
    /// Pod network applied after kubeadm init (default: calico; k3s runs its built-in
    /// flannel).
    #[arg(long, value_enum)]
    pub cni: Option<CniArg>,
    /// CNI manifest URL (https:// or file:///), e.g. a mirror for offline sites;
    /// default: the pinned upstream release.
    #[arg(long, value_name = "URL")]
    pub cni_manifest: Option<String>,
    /// Kubernetes minor release of the pkgs.k8s.io repository, used only on nodes where
    /// kubeadm, kubelet or kubectl is missing.
    #[arg(long, default_value = "v1.31")]
    pub k8s_minor: String,
    /// Timeout of each Kubernetes step (apply + wait until Available), seconds.
    #[arg(long, default_value_t = 150)]
    pub kube_timeout: u64,
}

/// `vnf-mgmt plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The operation to plan.
    #[arg(value_enum)]
    pub operation: PlanOperation,
    /// Inputs.
    #[command(flatten)]
    pub input: OperationInput,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// For `plan heal` / `plan scale`: the phase to plan (start or end).
    #[arg(long, value_enum)]
    pub phase: Option<HealPhaseArg>,
    /// For `plan heal` / `plan scale`: nodes healed or removed (repeatable).
    #[arg(long, value_name = "NODE")]
    pub target: Vec<String>,
}

/// `vnf-mgmt instantiate`.
#[derive(Debug, Args)]
pub struct InstantiateArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: OperationInput,
    /// known_hosts file for hosts without pinned keys.
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// Accept unknown host keys and record them in the --known-hosts file (recorded in
    /// the events too). A changed key is always refused.
    #[arg(long, requires = "known_hosts")]
    pub trust_on_first_use: bool,
    /// Write events as JSON lines to this file.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Directory of the per-instance journals (default: $XDG_STATE_HOME/vnf-mgmt or
    /// ~/.local/state/vnf-mgmt).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Hosts worked on in parallel.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Attempts on transport errors (connection refused or lost).
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Connect / handshake timeout, seconds.
    #[arg(long, default_value_t = 20)]
    pub connect_timeout: u64,
    /// After an instantiate with --install-cluster: write a kubeconfig for the exported
    /// access (ServiceAccount token) to this file, mode 0600.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// After an instantiate with --install-cluster: write the VIM registration data
    /// (Tacker's Kubernetes vim_connection_info: endpoint, bearer token, CA) as JSON to
    /// this file, mode 0600.
    #[arg(long)]
    pub vim_info_out: Option<PathBuf>,
    /// Also write the plan being executed (JSON) to this file.
    #[arg(long)]
    pub plan_out: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}
