//! The Kubernetes cluster part of the plans: install (kubeadm or k3s, one master or an
//! HA control plane behind a keepalived/HAProxy VIP), scale, heal of workers and
//! masters, terminate. Pure functions from a topology and the request to plan steps;
//! the names and arguments of every remote script are fixed here.
//!
//! Phases of the install (each phase finishes on every host before the next starts;
//! hosts of one phase run in parallel, bounded by the executor):
//!
//! 1. every master and worker prepared (`k8s_node.sh`: node name, `/etc/hosts` block,
//!    swap, modules, runtime and packages only when missing);
//! 2. more than one master: HAProxy + keepalived on every master (`k8s_lb.sh`), VIP with
//!    the real subnet prefix, a per-instance VRRP router id and password;
//! 3. the first master initialises the cluster (skipped when it already runs one);
//!    rebuilt nodes (heal) have their stale Node deleted and their state reset;
//! 4. the join information captured on the first master (token, CA hash, certificate
//!    key; k3s: the server token) into the run's secret store;
//! 5. each further master joins as a control plane, one per phase (etcd adds members one
//!    at a time);
//! 6. all workers join at once;
//! 7. all Nodes Ready in the API; the orchestrator's access exported.

use crate::cluster::{API_PORT, ClusterRuntime, LB_FRONTEND_PORT};
use crate::plan::{Action, NamedSecret, Operation, Plan, Step};
use crate::planner::{
    Builder, PlanError, PlanOptions, Planned, codes, err, install_params, master_login, node_login,
};
use crate::secret::{Secret, Secrets};
use crate::topology::{ClusterVip, Node, Role, Topology};
use std::collections::BTreeMap;
use std::net::IpAddr;
use vnf_package::request::{InstantiateVnfRequest, K8sClusterInstallationParam};

/// Secret names of the join information, by `key=value` key.
const KUBEADM_JOIN: [(&str, &str); 2] = [
    ("token", "cluster.join_token"),
    ("ca_cert_hash", "cluster.ca_cert_hash"),
];
const CERT_KEY: (&str, &str) = ("certificate_key", "cluster.certificate_key");
const K3S_TOKEN: (&str, &str) = ("token", "cluster.k3s_token");
const VRRP: (&str, &str) = ("vrrp_password", "cluster.vrrp_password");

fn named(pairs: &[(&str, &str)]) -> Vec<NamedSecret> {
    pairs
        .iter()
        .map(|(k, s)| NamedSecret {
            key: (*k).into(),
            secret: (*s).into(),
        })
        .collect()
}

fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The kubeconfig path on a master and the API URL (overriding the kubeconfig's server)
/// for the Kubernetes steps: the topology's cluster endpoint, else with more than one
/// master the VIP's HAProxy frontend, else for k3s the first server (its kubeconfig
/// names 127.0.0.1).
pub(crate) fn api_access(topology: &Topology, opts: &PlanOptions) -> (String, Option<String>) {
    let kubeconfig = opts.runtime.admin_kubeconfig().to_string();
    let masters: Vec<&Node> = topology.with_role(Role::Master).collect();
    let endpoint = topology.cluster_endpoint.clone().or_else(|| {
        if masters.len() > 1 {
            topology
                .cluster_vip
                .map(|v| format!("https://{}", host_port(v.address, LB_FRONTEND_PORT)))
        } else if opts.runtime == ClusterRuntime::K3s {
            masters
                .first()
                .and_then(|m| m.service_address())
                .map(|ip| format!("https://{}", host_port(ip, API_PORT)))
        } else {
            None
        }
    });
    (kubeconfig, endpoint)
}

/// What a heal or scale names.
pub(crate) enum Targets<'t> {
    /// The storage server (or nothing named: the storage heal of earlier releases).
    Storage,
    /// `entire`: the whole VNF (a new stack).
    Entire,
    /// Masters and workers.
    Nodes(Vec<&'t Node>),
}

/// Resolves [`PlanOptions::targets`]: topology node names, resource ids (VNFC / server
/// ids), scaling-group member names (Tacker's `scale_name_list`) or Kubernetes node names; `storage_server` or the storage node alone means the
/// storage server; `entire` alone the whole VNF.
pub(crate) fn targets<'t>(
    topology: &'t Topology,
    opts: &PlanOptions,
) -> Result<Targets<'t>, PlanError> {
    if opts.targets.is_empty() {
        return Ok(Targets::Storage);
    }
    if opts.targets.iter().any(|t| t == "entire") {
        if opts.targets.len() > 1 {
            return Err(err(
                codes::MIXED_TARGETS,
                "`entire` heals the whole VNF; name nothing else with it".into(),
            ));
        }
        return Ok(Targets::Entire);
    }
    let names = crate::cluster::node_names(topology);
    let mut nodes: Vec<&Node> = Vec::new();
    let mut storage = 0;
    for t in &opts.targets {
        if t == "storage_server" {
            storage += 1;
            continue;
        }
        let found = topology.nodes.iter().find(|n| {
            n.name == *t
                || n.resource_id.as_deref() == Some(t.as_str())
                || n.group_member.as_deref() == Some(t.as_str())
                || names.get(&n.name).is_some_and(|k| k == t)
        });
        match found {
            Some(n) if n.role == Role::Storage => storage += 1,
            Some(n) => {
                if !nodes.iter().any(|m| m.name == n.name) {
                    nodes.push(n);
                }
            }
            None => {
                return Err(err(
                    codes::UNKNOWN_TARGET,
                    format!(
                        "{t} is not a node of the topology (known: {})",
                        topology
                            .nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    match (storage, nodes.is_empty()) {
        (_, true) => Ok(Targets::Storage),
        (0, false) => Ok(Targets::Nodes(nodes)),
        _ => Err(err(
            codes::MIXED_TARGETS,
            "heal the storage server on its own, not together with cluster nodes".into(),
        )),
    }
}

/// Refuses heals the cluster cannot survive: a master of a single-master cluster (its
/// etcd and API go with it: respawn the VNF instead), or every master at once.
pub(crate) fn check_heal(topology: &Topology, healed: &[&Node]) -> Result<(), PlanError> {
    let masters: Vec<&Node> = topology.with_role(Role::Master).collect();
    let healed_masters = healed.iter().filter(|n| n.role == Role::Master).count();
    if healed_masters == 0 {
        return Ok(());
    }
    if masters.len() == 1 {
        return Err(err(
            codes::SINGLE_MASTER_HEAL,
            format!(
                "{} is the only master: healing it would lose the cluster's etcd; heal the entire VNF (respawn) instead",
                masters[0].name
            ),
        ));
    }
    if healed_masters >= masters.len() {
        return Err(err(
            codes::NO_SURVIVING_MASTER,
            "every master is to be healed at once: at least one must keep the cluster; heal them one after another, or the entire VNF".into(),
        ));
    }
    Ok(())
}

/// The cluster seen by the install: masters, workers, names, endpoint.
struct Cluster<'t> {
    masters: Vec<&'t Node>,
    workers: Vec<&'t Node>,
    names: BTreeMap<String, String>,
    vip: Option<ClusterVip>,
    /// `host:port` nodes join through (VIP:16443, or the first master's API).
    endpoint: String,
    runtime: ClusterRuntime,
}

impl<'t> Cluster<'t> {
    fn new(topology: &'t Topology, opts: &PlanOptions) -> Result<Self, PlanError> {
        let masters: Vec<&Node> = topology.with_role(Role::Master).collect();
        let workers: Vec<&Node> = topology.with_role(Role::Worker).collect();
        if masters.is_empty() {
            return Err(err(
                codes::NO_MASTER,
                "the cluster install needs at least one master in the topology".into(),
            ));
        }
        for n in masters.iter().chain(&workers) {
            address(n)?;
        }
        let names = crate::cluster::node_names(topology);
        let vip = if masters.len() > 1 {
            Some(topology.cluster_vip.ok_or_else(|| {
                err(
                    codes::NO_CLUSTER_VIP,
                    format!(
                        "{} masters need the control-plane VIP with its subnet prefix: cluster_vip in the inventory (e.g. 10.10.0.100/24), or the cluster_cp_name port with its subnet in OpenStack",
                        masters.len()
                    ),
                )
            })?)
        } else {
            None
        };
        let endpoint = match vip {
            Some(v) => host_port(v.address, LB_FRONTEND_PORT),
            None => match &topology.cluster_endpoint {
                Some(e) if opts.runtime == ClusterRuntime::Kubeadm => e
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string(),
                _ => host_port(address(masters[0])?, API_PORT),
            },
        };
        Ok(Cluster {
            masters,
            workers,
            names,
            vip,
            endpoint,
            runtime: opts.runtime,
        })
    }

    /// [`api_access`], with the join endpoint when the topology names no API URL.
    fn api_access(&self, topology: &Topology, opts: &PlanOptions) -> (String, Option<String>) {
        let (kubeconfig, api) = api_access(topology, opts);
        (
            kubeconfig,
            api.or_else(|| Some(format!("https://{}", self.endpoint))),
        )
    }

    fn name(&self, n: &Node) -> String {
        self.names.get(&n.name).cloned().unwrap_or_default()
    }

    fn nodes(&self) -> impl Iterator<Item = &&'t Node> {
        self.masters.iter().chain(&self.workers)
    }
}

fn address(n: &Node) -> Result<IpAddr, PlanError> {
    n.service_address().ok_or_else(|| {
        err(
            codes::NO_NODE_ADDRESS,
            format!(
                "node {} has no cluster address (no nic and the SSH host {} is not an IP address)",
                n.name, n.ssh.host
            ),
        )
    })
}

fn check_minor(opts: &PlanOptions) -> Result<(), PlanError> {
    let ok = opts
        .k8s_minor
        .strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 3
                && b.len() <= 3
                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(err(
            codes::BAD_K8S_MINOR,
            format!(
                "Kubernetes minor release {:?} is not of the form v1.31",
                opts.k8s_minor
            ),
        ))
    }
}

/// The CNI to apply and its manifest URL; `None`: nothing to apply (k3s's built-in
/// flannel, or `none`).
fn cni_choice(opts: &PlanOptions) -> Result<Option<(crate::cluster::Cni, String)>, PlanError> {
    use crate::cluster::Cni;
    let cni = match (opts.runtime, opts.cni) {
        (ClusterRuntime::K3s, None | Some(Cni::Flannel)) => return Ok(None),
        (ClusterRuntime::K3s, Some(other)) => {
            return Err(err(
                codes::BAD_CNI,
                format!(
                    "k3s runs its built-in flannel; the CNI {} applies to kubeadm clusters only",
                    other.as_str()
                ),
            ));
        }
        (ClusterRuntime::Kubeadm, None) => Cni::Calico,
        (ClusterRuntime::Kubeadm, Some(Cni::None)) => return Ok(None),
        (ClusterRuntime::Kubeadm, Some(c)) => c,
    };
    let manifest = match (&opts.cni_manifest, cni.default_manifest()) {
        (Some(m), _) => m.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            return Err(err(
                codes::BAD_CNI,
                format!(
                    "{} has no plain upstream manifest: render one (e.g. helm template) and give it with --cni-manifest",
                    cni.as_str()
                ),
            ));
        }
    };
    let ok = (manifest.starts_with("https://") || manifest.starts_with("file:///"))
        && manifest.len() < 2048
        && manifest
            .bytes()
            .all(|c| c.is_ascii_graphic() && !matches!(c, b'\'' | b'"' | b'\\' | b'`' | b'$'));
    if !ok {
        return Err(err(
            codes::BAD_CNI,
            format!("CNI manifest {manifest:?} is not an https:// or file:/// URL"),
        ));
    }
    // The URL is a script argument: credentials in it would reach argv.
    let authority = manifest
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if authority.contains('@') {
        return Err(err(
            codes::BAD_CNI,
            "the CNI manifest URL holds credentials (user@host): they would reach a command line; use a URL without them".into(),
        ));
    }
    Ok(Some((cni, manifest)))
}

/// `k8s_lb.sh` on `master` with `backends` (every master the VIP forwards to).
fn lb_step(
    b: &mut Builder<'_>,
    c: &Cluster<'_>,
    master: &Node,
    backends: &[&Node],
    phase: u32,
    instance: &str,
) -> Result<(), PlanError> {
    let Some(vip) = c.vip else { return Ok(()) };
    let index = c
        .masters
        .iter()
        .position(|m| m.name == master.name)
        .unwrap_or(0);
    let mut args = vec![
        vip.address.to_string(),
        vip.prefix_len.to_string(),
        LB_FRONTEND_PORT.to_string(),
        // The first master is preferred; each further one a step lower.
        (150 - index.min(100)).to_string(),
        crate::cluster::vrrp_router_id(instance).to_string(),
        address(master)?.to_string(),
    ];
    for m in backends {
        args.push(format!(
            "{}={}",
            c.name(m),
            host_port(address(m)?, API_PORT)
        ));
    }
    b.secrets.insert(
        VRRP.1.to_string(),
        Secret::new(crate::cluster::vrrp_password(instance)),
    );
    b.script_in(
        phase,
        master,
        "k8s-lb".into(),
        "k8s_lb.sh",
        args,
        named(&[VRRP]),
        vec![],
        format!(
            "HAProxy :{LB_FRONTEND_PORT} to {} API server(s), keepalived holding {vip}",
            backends.len()
        ),
    );
    Ok(())
}

/// Plans the cluster install into `b` (see the module docs). `healed` are rebuilt nodes
/// of a heal. Returns the first phase after it (for the PersistentVolumes).
pub(crate) fn install(
    b: &mut Builder<'_>,
    topology: &Topology,
    params: &K8sClusterInstallationParam,
    healed: &[&Node],
    instance: &str,
    package: &dyn crate::planner::PackageFiles,
) -> Result<u32, PlanError> {
    if b.opts.runtime == ClusterRuntime::Kubeadm {
        check_minor(b.opts)?;
    }
    let c = Cluster::new(topology, b.opts)?;
    let is_healed = |n: &Node| healed.iter().any(|h| h.name == n.name);
    let k3s = c.runtime == ClusterRuntime::K3s;
    let hosts = crate::cluster::hosts_entries(topology, &c.names);
    let pod_cidr = params
        .master_node
        .pod_cidr
        .clone()
        .unwrap_or_else(|| "192.168.0.0/16".into());
    let svc_cidr = params
        .master_node
        .cluster_cidr
        .clone()
        .unwrap_or_else(|| "10.96.0.0/12".into());
    let node_addresses: Vec<IpAddr> = c.nodes().filter_map(|n| n.service_address()).collect();

    // 1: node preparation everywhere.
    for node in c.nodes() {
        b.add_host(node, &node_login(params, node))?;
        let mut scripts = vec!["lib.sh", "k8s_node.sh"];
        if is_healed(node) {
            scripts.push("k8s_reset.sh");
        }
        match (k3s, node.role) {
            (false, Role::Master) => {
                scripts.extend([
                    "k8s_init.sh",
                    "k8s_cni.sh",
                    "k8s_join_info.sh",
                    "k8s_join.sh",
                ]);
                if c.vip.is_some() {
                    scripts.extend(["k8s_lb.sh", "k8s_etcd.sh"]);
                }
            }
            (false, _) => scripts.push("k8s_join.sh"),
            (true, Role::Master) => {
                scripts.extend(["k3s_server.sh", "k3s_join_info.sh"]);
                if c.vip.is_some() {
                    scripts.extend(["k8s_lb.sh", "k8s_etcd.sh"]);
                }
            }
            (true, _) => scripts.push("k3s_agent.sh"),
        }
        b.uploads(node, &scripts, 1);
        let config = crate::cluster_config::NodeConfig {
            runtime: c.runtime,
            pod_cidr: &pod_cidr,
            service_cidr: &svc_cidr,
            node_addresses: &node_addresses,
            cluster_vip: c.vip.map(|v| v.address),
        };
        // Proxy settings first: the package installs of k8s_node.sh go through them.
        crate::cluster_config::before_node(b, node, params, package, &config)?;
        let mut args = vec![
            c.name(node),
            if k3s {
                "k3s".to_string()
            } else {
                b.opts.k8s_minor.clone()
            },
        ];
        args.extend(hosts.iter().cloned());
        b.script(
            node,
            "k8s-node".into(),
            "k8s_node.sh",
            args,
            format!(
                "prepare Kubernetes node {} (hostname, /etc/hosts, swap, modules{})",
                c.name(node),
                if k3s { "" } else { ", runtime, kubeadm" }
            ),
        );
        // Container runtime settings (registries) once the runtime is installed.
        crate::cluster_config::after_node(b, node, params, package, &config)?;
    }
    let mut phase = 2;

    // 2: the VIP in front of every master.
    if c.vip.is_some() {
        for m in &c.masters {
            lb_step(b, &c, m, &c.masters, phase, instance)?;
        }
        phase += 1;
    }

    // 3: the first master (not being rebuilt) initialises, or keeps, the cluster.
    let first = *c.masters.iter().find(|m| !is_healed(m)).ok_or_else(|| {
        err(
            codes::NO_SURVIVING_MASTER,
            "no master outside the healed nodes to keep the cluster".into(),
        )
    })?;
    let first_ip = address(first)?;
    // k3s: the server that initialised the cluster (the first master) keeps its
    // `cluster-init` configuration; the others keep their `join` one, also when one of
    // them stands in as `first` during the heal of the first master (rewriting its
    // configuration would restart it). A rebuilt first master joins like the others:
    // `--cluster-init` never runs against a cluster that exists.
    let k3s_origin_healed = k3s && c.masters.first().is_some_and(|m| is_healed(m));
    if k3s && k3s_origin_healed {
        // Nothing to initialise: the survivors run the cluster.
    } else if k3s {
        let mut args = vec![
            c.name(first),
            first_ip.to_string(),
            "init".into(),
            "-".into(),
        ];
        if let Some(v) = c.vip {
            args.push(v.address.to_string());
        }
        b.script_in(
            phase,
            first,
            "k3s-server".into(),
            "k3s_server.sh",
            args,
            vec![],
            vec![],
            format!(
                "k3s server --cluster-init on {} (embedded etcd; kept when it runs)",
                c.name(first)
            ),
        );
    } else {
        b.script_in(
            phase,
            first,
            "k8s-init".into(),
            "k8s_init.sh",
            vec![
                c.name(first),
                first_ip.to_string(),
                c.endpoint.clone(),
                pod_cidr.clone(),
                svc_cidr.clone(),
            ],
            vec![],
            vec![],
            format!(
                "kubeadm init on {} (endpoint {})",
                c.name(first),
                c.endpoint
            ),
        );
    }
    let (kubeconfig, api) = c.api_access(topology, b.opts);
    if !healed.is_empty() {
        b.steps.push(Step {
            id: format!("{}/delete-healed-nodes", first.name),
            phase,
            host: first.name.clone(),
            action: Action::KubeDeleteNodes {
                kubeconfig: kubeconfig.clone(),
                endpoint: api.clone(),
                nodes: healed.iter().map(|n| c.name(n)).collect(),
            },
            reason: "the rebuilt nodes' old Node objects go before they join again".into(),
            timeout_secs: b.opts.kube_timeout_secs,
        });
        for n in healed {
            b.script_in(
                phase,
                n,
                "k8s-reset".into(),
                "k8s_reset.sh",
                vec![c.runtime.as_str().into()],
                vec![],
                vec![],
                format!(
                    "clear {} state left on {} before it joins again",
                    c.runtime.as_str(),
                    c.name(n)
                ),
            );
        }
    }
    phase += 1;

    // 3: the pod network, right after the control plane exists (Nodes become Ready
    // with it).
    if let Some((cni, manifest)) = cni_choice(b.opts)? {
        let (ns, ds) = cni.daemonset().unwrap_or(("kube-system", cni.as_str()));
        b.script_in(
            phase,
            first,
            "k8s-cni".into(),
            "k8s_cni.sh",
            vec![
                cni.as_str().into(),
                manifest.clone(),
                pod_cidr.clone(),
                ns.into(),
                ds.into(),
            ],
            vec![],
            vec![],
            format!(
                "{} pod network from {manifest} (once: skipped when DaemonSet {ns}/{ds} exists)",
                cni.as_str()
            ),
        );
    }

    // 4: join information, captured as secrets.
    let join: Vec<(&str, &str)> = if k3s {
        vec![K3S_TOKEN]
    } else if c.masters.len() > 1 {
        vec![KUBEADM_JOIN[0], KUBEADM_JOIN[1], CERT_KEY]
    } else {
        KUBEADM_JOIN.to_vec()
    };
    if k3s {
        b.script_in(
            phase,
            first,
            "k3s-join-info".into(),
            "k3s_join_info.sh",
            vec![],
            vec![],
            named(&join),
            "the k3s server token for the joins (captured as a secret)".into(),
        );
    } else {
        b.script_in(
            phase,
            first,
            "k8s-join-info".into(),
            "k8s_join_info.sh",
            if c.masters.len() > 1 {
                vec!["--certificate-key".into()]
            } else {
                vec![]
            },
            vec![],
            named(&join),
            if c.masters.len() > 1 {
                "bootstrap token, CA hash and a fresh certificate key for the joins (captured as secrets)".into()
            } else {
                "bootstrap token and CA hash for the joins (captured as secrets)".into()
            },
        );
    }
    phase += 1;

    // 5: further masters, one per phase.
    let server_url = format!("https://{}", c.endpoint);
    for m in c.masters.iter().filter(|m| m.name != first.name) {
        let ip = address(m)?.to_string();
        if k3s {
            let mut args = vec![c.name(m), ip, "join".into(), server_url.clone()];
            if let Some(v) = c.vip {
                args.push(v.address.to_string());
            }
            b.script_in(
                phase,
                m,
                "k3s-server".into(),
                "k3s_server.sh",
                args,
                named(&join),
                vec![],
                format!(
                    "{} joins as a k3s server through {server_url} (token on stdin)",
                    c.name(m)
                ),
            );
        } else {
            b.script_in(
                phase,
                m,
                "k8s-join".into(),
                "k8s_join.sh",
                vec![c.name(m), c.endpoint.clone(), "control-plane".into(), ip],
                named(&join),
                vec![],
                format!(
                    "{} joins as a control plane (token and certificate key on stdin)",
                    c.name(m)
                ),
            );
        }
        phase += 1;
    }

    // 6: workers, all at once.
    if !c.workers.is_empty() {
        for w in &c.workers {
            let ip = address(w)?.to_string();
            if k3s {
                b.script_in(
                    phase,
                    w,
                    "k3s-agent".into(),
                    "k3s_agent.sh",
                    vec![c.name(w), ip, server_url.clone()],
                    named(&join),
                    vec![],
                    format!("{} joins as a k3s agent (token on stdin)", c.name(w)),
                );
            } else {
                b.script_in(
                    phase,
                    w,
                    "k8s-join".into(),
                    "k8s_join.sh",
                    vec![c.name(w), c.endpoint.clone()],
                    named(&join[..2]),
                    vec![],
                    format!("{} joins as a worker (token on stdin)", c.name(w)),
                );
            }
        }
        phase += 1;
    }

    // 7: everything Ready; access for the orchestrator.
    let all: Vec<String> = c.nodes().map(|n| c.name(n)).collect();
    b.steps.push(Step {
        id: format!("{}/nodes-ready", first.name),
        phase,
        host: first.name.clone(),
        action: Action::KubeWaitNodesReady {
            kubeconfig: kubeconfig.clone(),
            endpoint: api.clone(),
            nodes: all.clone(),
        },
        reason: format!("all {} nodes Ready", all.len()),
        timeout_secs: b.opts.kube_timeout_secs,
    });
    if b.opts.export_access {
        let account = crate::cluster::access_account(instance);
        b.steps.push(Step {
            id: format!("{}/export-access", first.name),
            phase,
            host: first.name.clone(),
            action: Action::KubeExportAccess {
                kubeconfig,
                endpoint: api,
                namespace: "kube-system".into(),
                service_account: account.clone(),
            },
            reason: format!(
                "orchestrator access: ServiceAccount kube-system/{account} with a token (kubeconfig and VIM data)"
            ),
            timeout_secs: b.opts.kube_timeout_secs,
        });
    }
    Ok(phase + 1)
}

fn new_builder(opts: &PlanOptions) -> Builder<'_> {
    Builder {
        hosts: Vec::new(),
        steps: Vec::new(),
        secrets: Secrets::new(),
        opts,
    }
}

fn finish(b: Builder<'_>, topology: &Topology, operation: Operation, instance: &str) -> Planned {
    let mut steps = b.steps;
    steps.sort_by_key(|s| s.phase);
    Planned {
        plan: Plan {
            format_version: crate::plan::FORMAT_VERSION,
            operation,
            vnf_instance_id: instance.to_string(),
            inventory_fingerprint: topology.fingerprint(),
            hosts: b.hosts,
            steps,
        },
        secrets: b.secrets,
    }
}

/// The master Kubernetes steps run from: the first one not in `excluded`.
fn survivor<'t>(topology: &'t Topology, excluded: &[&Node]) -> Result<&'t Node, PlanError> {
    topology
        .with_role(Role::Master)
        .find(|m| !excluded.iter().any(|e| e.name == m.name))
        .ok_or_else(|| {
            err(
                codes::NO_SURVIVING_MASTER,
                "no master outside the targeted nodes to reach the cluster from".into(),
            )
        })
}

/// The drain step on `first` (phase 1): cordon, evict (PodDisruptionBudgets respected,
/// DaemonSets left), and with `delete` the Node objects deleted.
fn drain_step(
    b: &mut Builder<'_>,
    first: &Node,
    (kubeconfig, endpoint): (String, Option<String>),
    c: &Cluster<'_>,
    nodes: &[&Node],
    delete: bool,
    why: &str,
) {
    let names: Vec<String> = nodes.iter().map(|n| c.name(n)).collect();
    b.steps.push(Step {
        id: format!("{}/drain", first.name),
        phase: 1,
        host: first.name.clone(),
        action: Action::KubeDrainNodes {
            kubeconfig,
            endpoint,
            nodes: names.clone(),
            delete_nodes: delete,
        },
        reason: format!(
            "{why}: drain (PodDisruptionBudgets respected, DaemonSets left){} {}",
            if delete { " and delete" } else { "" },
            names.join(", ")
        ),
        timeout_secs: b.opts.kube_timeout_secs,
    });
}

/// `heal_start` of cluster nodes (see [`crate::planner::heal_start`]).
pub(crate) fn heal_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    instance: &str,
    opts: &PlanOptions,
    healed: &[&Node],
) -> Result<Planned, PlanError> {
    crate::planner::check_instance_id(instance)?;
    let params = install_params(request)?;
    check_heal(topology, healed)?;
    let mut b = new_builder(opts);
    let c = Cluster::new(topology, opts)?;
    let first = survivor(topology, healed)?;
    let (kubeconfig, api) = c.api_access(topology, opts);
    b.add_host(first, &master_login(params))?;
    let healed_masters: Vec<&Node> = healed
        .iter()
        .copied()
        .filter(|n| n.role == Role::Master)
        .collect();
    // kubeadm's stacked etcd and k3s's embedded etcd alike (k8s_etcd.sh finds either).
    if !healed_masters.is_empty() {
        b.uploads(first, &["lib.sh", "k8s_etcd.sh"], 1);
        b.script_in(
            1,
            first,
            "etcd-snapshot".into(),
            "k8s_etcd.sh",
            vec![
                "snapshot".into(),
                format!("/var/lib/vnf-mgmt/etcd-snapshots/{instance}-before-heal.db"),
            ],
            vec![],
            vec![],
            format!(
                "etcd snapshot on {} before {} leaves the cluster (kept off the healed node)",
                first.name,
                healed_masters
                    .iter()
                    .map(|m| c.name(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    drain_step(&mut b, first, (kubeconfig, api), &c, healed, true, "heal");
    for m in &healed_masters {
        b.script_in(
            1,
            first,
            format!("etcd-member-remove/{}", c.name(m)),
            "k8s_etcd.sh",
            vec!["member-remove".into(), c.name(m)],
            vec![],
            vec![],
            format!("remove etcd member {} (exact name)", c.name(m)),
        );
    }
    // HAProxy on every surviving master forwards to the survivors only.
    if !healed_masters.is_empty() && c.vip.is_some() {
        let survivors: Vec<&Node> = c
            .masters
            .iter()
            .copied()
            .filter(|m| !healed_masters.iter().any(|h| h.name == m.name))
            .collect();
        for m in &survivors {
            b.add_host(m, &master_login(params))?;
            b.uploads(m, &["lib.sh", "k8s_lb.sh"], 2);
            lb_step(&mut b, &c, m, &survivors, 2, instance)?;
        }
    }
    Ok(finish(b, topology, Operation::HealStart, instance))
}

/// `scale_start` (see [`crate::planner::scale_start`]).
pub(crate) fn scale_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    instance: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    crate::planner::check_instance_id(instance)?;
    let params = install_params(request)?;
    let mut b = new_builder(opts);
    let removed = match targets(topology, opts)? {
        Targets::Nodes(n) => n,
        Targets::Storage if opts.targets.is_empty() => Vec::new(),
        Targets::Storage | Targets::Entire => {
            return Err(err(
                codes::SCALE_IN_NOT_WORKER,
                "scale-in removes workers, not the storage server".into(),
            ));
        }
    };
    if let Some(m) = removed.iter().find(|n| n.role != Role::Worker) {
        return Err(err(
            codes::SCALE_IN_NOT_WORKER,
            format!(
                "scale-in removes workers; {} is a {}",
                m.name,
                m.role.as_str()
            ),
        ));
    }
    if !removed.is_empty() {
        let c = Cluster::new(topology, opts)?;
        let first = survivor(topology, &[])?;
        let (kubeconfig, api) = c.api_access(topology, opts);
        b.add_host(first, &master_login(params))?;
        drain_step(
            &mut b,
            first,
            (kubeconfig, api),
            &c,
            &removed,
            true,
            "scale-in",
        );
    }
    Ok(finish(b, topology, Operation::ScaleStart, instance))
}

/// `terminate_start` (see [`crate::planner::terminate_start`]).
pub(crate) fn terminate_start(
    topology: &Topology,
    request: &InstantiateVnfRequest,
    instance: &str,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    crate::planner::check_instance_id(instance)?;
    let params = install_params(request)?;
    let mut b = new_builder(opts);
    let c = Cluster::new(topology, opts)?;
    let first = survivor(topology, &[])?;
    let (kubeconfig, api) = c.api_access(topology, opts);
    b.add_host(first, &master_login(params))?;
    if opts.drain_on_terminate && !c.workers.is_empty() {
        let access = (kubeconfig.clone(), api.clone());
        drain_step(&mut b, first, access, &c, &c.workers, false, "terminate");
    }
    let account = crate::cluster::access_account(instance);
    b.steps.push(Step {
        id: format!("{}/revoke-access", first.name),
        phase: 1,
        host: first.name.clone(),
        action: Action::KubeRevokeAccess {
            kubeconfig,
            endpoint: api,
            namespace: "kube-system".into(),
            service_account: account.clone(),
        },
        reason: format!("revoke the orchestrator's access (kube-system/{account})"),
        timeout_secs: opts.kube_timeout_secs,
    });
    Ok(finish(b, topology, Operation::TerminateStart, instance))
}
