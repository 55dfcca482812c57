//! Per-node settings of the cluster install that come from the request: `proxy` (package
//! manager, container runtime, kubelet) and `private_registry_connection_info`
//! (container runtime). Planned around `k8s_node.sh` by [`crate::cluster_plan`].
//!
//! * `proxy` → `k8s_proxy.sh RUNTIME NO_PROXY_ENTRY...` before `k8s_node.sh` (its package
//!   installs go through the proxy). The proxy URLs may carry `user:password@`: they are
//!   secrets of the run (`proxy.http_proxy`, `proxy.https_proxy`) and reach the script
//!   only on stdin. `no_proxy` is the request's entries, `k8s_node_cidr`, the pod and
//!   service CIDRs (as CIDRs, never enumerated), every node address and the loopback
//!   names.
//! * `private_registry_connection_info` → one `k8s_registry.sh RUNTIME REGISTRY...
//!   [hosts:IP=NAME[,NAME...]...]` after `k8s_node.sh` (the runtime is installed), for
//!   every registry at once (the containerd credentials block, k3s's `registries.yaml`
//!   and the `/etc/hosts` block each hold all registries). Usernames, passwords and the
//!   CA certificates from the package arrive on stdin (`username_<i>`, `password_<i>`,
//!   `ca_<i>` = base64 PEM), never in argv.

use crate::cluster::ClusterRuntime;
use crate::plan::NamedSecret;
use crate::planner::{Builder, PackageFiles, PlanError, err};
use crate::secret::Secret;
use crate::topology::{Node, Role};
use base64::Engine as _;
use std::net::IpAddr;
use vnf_package::request::syntax;
use vnf_package::request::{K8sClusterInstallationParam, PrivateRegistry, Proxy};

/// Error codes of the proxy and registry settings.
pub mod codes {
    vnf_package::codes! {
        /// An `http_proxy` / `https_proxy` URL is not `http(s)://[user[:password]@]host[:port][/path]` (the URL itself is never shown).
        BAD_PROXY_URL = "driver.config.bad_proxy_url";
        /// A `no_proxy` entry, `k8s_node_cidr`, the pod or the service CIDR is not an IP address, CIDR or domain.
        BAD_NO_PROXY = "driver.config.bad_no_proxy";
        /// A private registry's `connection_type` is not 0 (HTTP) or 1 (HTTPS), or its `server` is not `host:port`.
        BAD_REGISTRY = "driver.config.bad_registry";
        /// Two `private_registry_connection_info` entries name the same `server`.
        DUPLICATE_REGISTRY = "driver.config.duplicate_registry";
        /// A private registry has a username without a password or a password without a username, or one with forbidden characters.
        BAD_REGISTRY_CREDENTIALS = "driver.config.bad_registry_credentials";
        /// A private registry's `certificate_path` cannot be read from the package or holds no PEM certificate.
        BAD_REGISTRY_CA = "driver.config.bad_registry_ca";
        /// A private registry's `hosts_string` is not `IP name [name...]`.
        BAD_HOSTS_STRING = "driver.config.bad_hosts_string";
    }
}

/// Secret names of the proxy URLs, by stdin key.
const PROXY_SECRETS: [(&str, &str); 2] = [
    ("http_proxy", "proxy.http_proxy"),
    ("https_proxy", "proxy.https_proxy"),
];

/// What the settings need to know about the cluster.
pub(crate) struct NodeConfig<'a> {
    /// kubeadm or k3s.
    pub runtime: ClusterRuntime,
    /// Pod network CIDR.
    pub pod_cidr: &'a str,
    /// Service CIDR.
    pub service_cidr: &'a str,
    /// Cluster addresses of every master and worker.
    pub node_addresses: &'a [IpAddr],
    /// The control-plane VIP (more than one master): reached directly, never through
    /// the proxy.
    pub cluster_vip: Option<IpAddr>,
}

/// The `RUNTIME` argument of both scripts: `kubeadm`, `k3s` (server) or `k3s-agent`.
fn runtime_arg(config: &NodeConfig<'_>, node: &Node) -> &'static str {
    match (config.runtime, node.role) {
        (ClusterRuntime::Kubeadm, _) => "kubeadm",
        (ClusterRuntime::K3s, Role::Master) => "k3s",
        (ClusterRuntime::K3s, _) => "k3s-agent",
    }
}

/// The `no_proxy` entries: the request's, `k8s_node_cidr`, pod and service CIDR, every
/// node address, `localhost` and `127.0.0.1`; each checked, duplicates dropped, order
/// kept.
pub(crate) fn no_proxy_entries(
    proxy: &Proxy,
    config: &NodeConfig<'_>,
) -> Result<Vec<String>, PlanError> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |entry: &str, what: &str| -> Result<(), PlanError> {
        syntax::check_no_proxy_entry(entry).map_err(|e| {
            err(
                codes::BAD_NO_PROXY,
                format!(
                    "{what} `{entry}` {e} (/additionalParams/k8s_cluster_installation_param/proxy)"
                ),
            )
        })?;
        if !out.iter().any(|e| e == entry) {
            out.push(entry.to_string());
        }
        Ok(())
    };
    if let Some(np) = &proxy.no_proxy {
        for entry in np.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            push(entry, "no_proxy entry")?;
        }
    }
    let cidrs = [
        ("k8s_node_cidr", proxy.k8s_node_cidr.as_deref()),
        ("pod CIDR", Some(config.pod_cidr)),
        ("service CIDR", Some(config.service_cidr)),
    ];
    for (what, cidr) in cidrs {
        if let Some(c) = cidr {
            let parsed = syntax::parse_cidr(c).map_err(|e| {
                err(
                    codes::BAD_NO_PROXY,
                    format!("{what} `{c}` {e} (/additionalParams/k8s_cluster_installation_param)"),
                )
            })?;
            // The network itself (host bits cleared): curl and Go match CIDRs by network.
            push(&parsed.net.to_string(), what)?;
        }
    }
    for a in config.node_addresses {
        push(&a.to_string(), "node address")?;
    }
    if let Some(v) = config.cluster_vip {
        push(&v.to_string(), "cluster VIP")?;
    }
    push("localhost", "loopback")?;
    push("127.0.0.1", "loopback")?;
    Ok(out)
}

/// Steps on `node` before `k8s_node.sh` (which may install packages): with `proxy` in the
/// request (and at least one proxy URL), `k8s_proxy.sh`. Without it, no step.
pub(crate) fn before_node(
    b: &mut Builder<'_>,
    node: &Node,
    params: &K8sClusterInstallationParam,
    _package: &dyn PackageFiles,
    config: &NodeConfig<'_>,
) -> Result<(), PlanError> {
    let Some(proxy) = &params.proxy else {
        return Ok(());
    };
    let mut stdin = Vec::new();
    for ((key, secret), url) in PROXY_SECRETS
        .iter()
        .zip([&proxy.http_proxy, &proxy.https_proxy])
    {
        let Some(url) = url else { continue };
        // The URL may hold credentials: the message names the field, never the value.
        syntax::check_proxy_url(url).map_err(|e| {
            err(
                codes::BAD_PROXY_URL,
                format!(
                    "`{key}` {e} (/additionalParams/k8s_cluster_installation_param/proxy/{key})"
                ),
            )
        })?;
        b.secrets.insert(*secret, Secret::new(url.as_str()));
        stdin.push(NamedSecret {
            key: (*key).into(),
            secret: (*secret).into(),
        });
    }
    if stdin.is_empty() {
        return Ok(());
    }
    let mut args = vec![runtime_arg(config, node).to_string()];
    args.extend(no_proxy_entries(proxy, config)?);
    b.uploads(node, &["k8s_proxy.sh"], 1);
    let n = args.len() - 1;
    b.script_in(
        1,
        node,
        "k8s-proxy".into(),
        "k8s_proxy.sh",
        args,
        stdin,
        vec![],
        format!(
            "proxy for the package manager, container runtime and kubelet ({n} no_proxy entries)"
        ),
    );
    Ok(())
}

/// One registry checked for the script.
struct Registry {
    /// `http` or `https`.
    scheme: &'static str,
    server: String,
    hosts: Option<String>,
}

fn registry_at(
    i: usize,
    reg: &PrivateRegistry,
    package: &dyn PackageFiles,
) -> Result<(Registry, Option<String>), PlanError> {
    let at = format!(
        "/additionalParams/k8s_cluster_installation_param/private_registry_connection_info/{i}"
    );
    let scheme = match &reg.connection_type {
        serde_json::Value::Number(n) if n.as_u64() == Some(0) => "http",
        serde_json::Value::Number(n) if n.as_u64() == Some(1) => "https",
        serde_json::Value::String(s) if s == "0" => "http",
        serde_json::Value::String(s) if s == "1" => "https",
        other => {
            return Err(err(
                codes::BAD_REGISTRY,
                format!(
                    "connection_type {other} is not 0 (HTTP) or 1 (HTTPS) ({at}/connection_type)"
                ),
            ));
        }
    };
    syntax::check_host_port(&reg.server).map_err(|e| {
        err(
            codes::BAD_REGISTRY,
            format!("server `{}` {e} ({at}/server)", reg.server.escape_debug()),
        )
    })?;
    match (&reg.username, &reg.password) {
        (None, None) => {}
        (Some(u), Some(p)) => {
            if u.is_empty() || syntax::unsafe_char(u).is_some() {
                return Err(err(
                    codes::BAD_REGISTRY_CREDENTIALS,
                    format!(
                        "username must be non-empty, without whitespace or shell metacharacters ({at}/username)"
                    ),
                ));
            }
            if p.is_empty() || p.chars().any(char::is_control) {
                return Err(err(
                    codes::BAD_REGISTRY_CREDENTIALS,
                    format!(
                        "password must be non-empty, without control characters ({at}/password)"
                    ),
                ));
            }
        }
        (Some(_), None) => {
            return Err(err(
                codes::BAD_REGISTRY_CREDENTIALS,
                format!("username without password ({at}/password)"),
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                codes::BAD_REGISTRY_CREDENTIALS,
                format!("password without username ({at}/username)"),
            ));
        }
    }
    // The CA matters for HTTPS only (an HTTP registry has no TLS to verify).
    let ca = match (&reg.certificate_path, scheme) {
        (Some(path), "https") => {
            let bad = |m: String| {
                err(
                    codes::BAD_REGISTRY_CA,
                    format!("{path}: {m} ({at}/certificate_path)"),
                )
            };
            let pem = package.read_text(path).map_err(bad)?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(bad(
                    "no PEM certificate (-----BEGIN CERTIFICATE-----)".into()
                ));
            }
            Some(base64::engine::general_purpose::STANDARD.encode(pem.as_bytes()))
        }
        _ => None,
    };
    let hosts = match &reg.hosts_string {
        None => None,
        Some(h) => {
            syntax::check_hosts_line(h).map_err(|e| {
                err(
                    codes::BAD_HOSTS_STRING,
                    format!(
                        "hosts_string `{}` {e} ({at}/hosts_string)",
                        h.escape_debug()
                    ),
                )
            })?;
            let mut it = h.split([' ', '\t']).filter(|t| !t.is_empty());
            let ip = it.next().unwrap_or_default();
            let names: Vec<&str> = it.collect();
            Some(format!("hosts:{ip}={}", names.join(",")))
        }
    };
    Ok((
        Registry {
            scheme,
            server: reg.server.clone(),
            hosts,
        },
        ca,
    ))
}

/// Steps on `node` after `k8s_node.sh` (the container runtime is installed): with
/// `private_registry_connection_info` in the request, one `k8s_registry.sh` for every
/// registry. Without it, no step.
pub(crate) fn after_node(
    b: &mut Builder<'_>,
    node: &Node,
    params: &K8sClusterInstallationParam,
    package: &dyn PackageFiles,
    config: &NodeConfig<'_>,
) -> Result<(), PlanError> {
    let regs = &params.private_registry_connection_info;
    if regs.is_empty() {
        return Ok(());
    }
    let mut args = vec![runtime_arg(config, node).to_string()];
    let mut hosts = Vec::new();
    let mut stdin = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, reg) in regs.iter().enumerate() {
        let (r, ca) = registry_at(i, reg, package)?;
        if seen.contains(&reg.server.as_str()) {
            return Err(err(
                codes::DUPLICATE_REGISTRY,
                format!(
                    "server {} is given twice (/additionalParams/k8s_cluster_installation_param/private_registry_connection_info/{i}/server)",
                    reg.server
                ),
            ));
        }
        seen.push(&reg.server);
        args.push(format!("{i}={}://{}", r.scheme, r.server));
        hosts.extend(r.hosts);
        let mut bind = |key: String, name: String, value: &str| {
            b.secrets.insert(name.clone(), Secret::new(value));
            stdin.push(NamedSecret { key, secret: name });
        };
        if let (Some(u), Some(p)) = (&reg.username, &reg.password) {
            bind(format!("username_{i}"), format!("registry.{i}.username"), u);
            bind(format!("password_{i}"), format!("registry.{i}.password"), p);
        }
        if let Some(ca) = ca {
            bind(format!("ca_{i}"), format!("registry.{i}.ca"), &ca);
        }
    }
    args.extend(hosts);
    b.uploads(node, &["k8s_registry.sh"], 1);
    b.script_in(
        1,
        node,
        "k8s-registry".into(),
        "k8s_registry.sh",
        args,
        stdin,
        vec![],
        format!(
            "{} private registr{} for the container runtime",
            regs.len(),
            if regs.len() == 1 { "y" } else { "ies" }
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::planner::PlanOptions;
    use crate::secret::Secrets;
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::planner::tests::Files;

    const CA: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n";

    fn files() -> Files {
        Files(BTreeMap::from([
            ("Files/registry-ca.crt", CA),
            ("Files/not-a-ca.txt", "hello\n"),
        ]))
    }

    const INV: &str = "\
format_version: 1
hosts:
  - name: m1
    role: master
    ssh: 10.0.0.1
  - name: w1
    role: worker
    ssh: 10.0.0.2
";

    fn nodes() -> Vec<Node> {
        crate::inventory::parse(INV, Path::new("inv.yaml"))
            .expect("inventory")
            .nodes
    }

    fn params(extra: serde_json::Value) -> K8sClusterInstallationParam {
        let mut v = serde_json::json!({
            "master_node": {
                "ssh_cp_name": "m", "username": "u", "password": "p", "cluster_cp_name": "c"
            },
            "worker_node": {"ssh_cp_name": "w", "username": "u", "password": "p"}
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).expect("params")
    }

    const ADDRS: [IpAddr; 2] = [
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    ];

    fn config(runtime: ClusterRuntime) -> NodeConfig<'static> {
        NodeConfig {
            runtime,
            pod_cidr: "192.168.0.0/16",
            service_cidr: "10.96.0.0/12",
            node_addresses: &ADDRS,
            cluster_vip: None,
        }
    }

    /// Runs both hooks for every node; returns (steps as JSON, secrets).
    fn run(
        p: &K8sClusterInstallationParam,
        runtime: ClusterRuntime,
    ) -> Result<(Vec<crate::plan::Step>, Secrets), PlanError> {
        let opts = PlanOptions::default();
        let mut b = Builder {
            hosts: vec![],
            steps: vec![],
            secrets: Secrets::new(),
            opts: &opts,
        };
        for n in &nodes() {
            before_node(&mut b, n, p, &files(), &config(runtime))?;
            after_node(&mut b, n, p, &files(), &config(runtime))?;
        }
        Ok((b.steps, b.secrets))
    }

    fn script<'s>(
        steps: &'s [crate::plan::Step],
        id: &str,
    ) -> (&'s str, &'s [String], Vec<(&'s str, &'s str)>) {
        let s = steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"));
        match &s.action {
            Action::RunScript {
                script,
                args,
                stdin_secrets,
                ..
            } => (
                script.as_str(),
                args.as_slice(),
                stdin_secrets
                    .iter()
                    .map(|n| (n.key.as_str(), n.secret.as_str()))
                    .collect(),
            ),
            other => panic!("{id} is {other:?}"),
        }
    }

    #[test]
    fn without_proxy_or_registries_there_is_no_step() {
        let (steps, _) =
            run(&params(serde_json::json!({})), ClusterRuntime::Kubeadm).expect("plan");
        assert!(steps.is_empty(), "{steps:?}");
        // A proxy object with only no_proxy has nothing to apply either.
        let p = params(serde_json::json!({"proxy": {"no_proxy": "example.com"}}));
        let (steps, _) = run(&p, ClusterRuntime::Kubeadm).expect("plan");
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn proxy_urls_are_secrets_and_no_proxy_holds_cidrs_not_enumerations() {
        let http = "http://puser:pr0xy-s3cret@proxy.example.com:3128";
        let https = "http://puser:pr0xy-s3cret@proxy.example.com:3129";
        let p = params(serde_json::json!({"proxy": {
            "http_proxy": http,
            "https_proxy": https,
            "no_proxy": "example.com, .internal,10.0.0.1",
            "k8s_node_cidr": "10.0.0.0/24"
        }}));
        let (steps, secrets) = run(&p, ClusterRuntime::Kubeadm).expect("plan");
        let (path, args, stdin) = script(&steps, "m1/k8s-proxy");
        assert_eq!(path, ".vnf-mgmt/scripts/k8s_proxy.sh");
        assert_eq!(
            args,
            [
                "kubeadm",
                "example.com",
                ".internal",
                "10.0.0.1",
                "10.0.0.0/24",
                "192.168.0.0/16",
                "10.96.0.0/12",
                "10.0.0.2",
                "localhost",
                "127.0.0.1"
            ]
        );
        assert_eq!(
            stdin,
            [
                ("http_proxy", "proxy.http_proxy"),
                ("https_proxy", "proxy.https_proxy")
            ]
        );
        assert_eq!(
            secrets.get("proxy.http_proxy").map(|s| s.expose()),
            Some(http)
        );
        assert_eq!(
            secrets.get("proxy.https_proxy").map(|s| s.expose()),
            Some(https)
        );
        // Before k8s_node.sh's place in the sequence: the upload and the step are planned
        // in phase 1, on every node.
        assert!(steps.iter().any(|s| s.id == "w1/k8s-proxy" && s.phase == 1));
        assert!(steps.iter().any(|s| s.id == "w1/upload/k8s_proxy.sh"));
        let json = serde_json::to_string(&steps).expect("json");
        assert!(!json.contains("pr0xy-s3cret"), "{json}");
        assert!(!json.contains("puser"), "{json}");
        // CIDRs as CIDRs: nothing like 192.168.0.1, .2, … enumerated.
        assert!(!json.contains("192.168.0.1\""), "{json}");
        assert!(args.len() < 16);
    }

    #[test]
    fn k3s_nodes_name_their_unit() {
        let p = params(serde_json::json!({"proxy": {"https_proxy": "http://p:3128"}}));
        let (steps, _) = run(&p, ClusterRuntime::K3s).expect("plan");
        assert_eq!(script(&steps, "m1/k8s-proxy").1[0], "k3s");
        assert_eq!(script(&steps, "w1/k8s-proxy").1[0], "k3s-agent");
        assert_eq!(
            script(&steps, "w1/k8s-proxy").2,
            [("https_proxy", "proxy.https_proxy")]
        );
    }

    #[test]
    fn http_and_https_registries_with_credentials_and_ca_on_stdin() {
        let p = params(serde_json::json!({"private_registry_connection_info": [
            {"connection_type": 1, "server": "registry.example.com:5000",
             "username": "reguser", "password": "r3g-s3cret",
             "certificate_path": "Files/registry-ca.crt",
             "hosts_string": "192.168.0.20 registry.example.com reg"},
            {"connection_type": "0", "server": "10.0.0.50:5000"}
        ]}));
        let (steps, secrets) = run(&p, ClusterRuntime::Kubeadm).expect("plan");
        let (path, args, stdin) = script(&steps, "w1/k8s-registry");
        assert_eq!(path, ".vnf-mgmt/scripts/k8s_registry.sh");
        assert_eq!(
            args,
            [
                "kubeadm",
                "0=https://registry.example.com:5000",
                "1=http://10.0.0.50:5000",
                "hosts:192.168.0.20=registry.example.com,reg"
            ]
        );
        assert_eq!(
            stdin,
            [
                ("username_0", "registry.0.username"),
                ("password_0", "registry.0.password"),
                ("ca_0", "registry.0.ca")
            ]
        );
        let ca = secrets
            .get("registry.0.ca")
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .expect("base64");
        assert_eq!(decoded, CA.as_bytes());
        assert_eq!(
            secrets.get("registry.0.password").map(|s| s.expose()),
            Some("r3g-s3cret")
        );
        let json = serde_json::to_string(&steps).expect("json");
        assert!(!json.contains("r3g-s3cret"), "{json}");
        assert!(!json.contains("BEGIN CERTIFICATE"), "{json}");
        // k3s: the same registries, the agent's runtime named.
        let (steps, _) = run(&p, ClusterRuntime::K3s).expect("plan");
        assert_eq!(script(&steps, "m1/k8s-registry").1[0], "k3s");
        assert_eq!(script(&steps, "w1/k8s-registry").1[0], "k3s-agent");
    }

    #[test]
    fn bad_values_are_refused_with_a_code_and_without_the_secret() {
        let cases = [
            (
                serde_json::json!({"proxy": {"http_proxy": "ftp://u:hunter22@p:21"}}),
                "driver.config.bad_proxy_url",
            ),
            (
                serde_json::json!({"proxy": {"http_proxy": "http://p:3128", "no_proxy": "a b"}}),
                "driver.config.bad_no_proxy",
            ),
            (
                serde_json::json!({"proxy": {"http_proxy": "http://p:3128", "k8s_node_cidr": "10.0.0.0"}}),
                "driver.config.bad_no_proxy",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 2, "server": "r:5000"}]}),
                "driver.config.bad_registry",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 0, "server": "r"}]}),
                "driver.config.bad_registry",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 0, "server": "r:1"},
                    {"connection_type": 1, "server": "r:1"}]}),
                "driver.config.duplicate_registry",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 0, "server": "r:1", "password": "hunter22"}]}),
                "driver.config.bad_registry_credentials",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 1, "server": "r:1", "certificate_path": "Files/none.crt"}]}),
                "driver.config.bad_registry_ca",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 1, "server": "r:1", "certificate_path": "Files/not-a-ca.txt"}]}),
                "driver.config.bad_registry_ca",
            ),
            (
                serde_json::json!({"private_registry_connection_info": [
                    {"connection_type": 1, "server": "r:1", "hosts_string": "r.example.com"}]}),
                "driver.config.bad_hosts_string",
            ),
        ];
        for (extra, code) in cases {
            let e = run(&params(extra.clone()), ClusterRuntime::Kubeadm)
                .err()
                .unwrap_or_else(|| panic!("{extra} accepted"));
            assert_eq!(e.code.id, code, "{extra}: {e}");
            assert!(e.message.contains("/additionalParams/"), "{e}");
            assert!(!e.to_string().contains("hunter22"), "{e}");
        }
        assert!(
            codes::ALL
                .iter()
                .all(|c| c.id.starts_with("driver.config."))
        );
    }

    #[test]
    fn the_install_plans_the_proxy_before_and_the_registries_after_the_node_script() {
        let mut request: vnf_package::request::InstantiateVnfRequest = serde_json::from_str(
            include_str!("../../samples/requests/instantiate_simple_pv.json"),
        )
        .expect("sample request parses");
        if let Some(k) = request
            .additional_params
            .as_mut()
            .and_then(|a| a.k8s_cluster_installation_param.as_mut())
        {
            k.proxy = params(serde_json::json!({"proxy": {"http_proxy": "http://p:3128"}})).proxy;
            k.private_registry_connection_info = params(serde_json::json!({
                "private_registry_connection_info": [{"connection_type": 0, "server": "r:5000"}]
            }))
            .private_registry_connection_info;
        }
        let inv = "\
format_version: 1
hosts:
  - name: m1
    role: master
    ssh: 10.0.0.1
    ports: {masterNode_CP1: 10.0.0.1}
  - name: s1
    role: storage
    ssh: 10.0.0.3
    ports: {storage_server_CP: 10.10.0.3}
    volumes:
      storage_server_volume: {cinder_id: 0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11}
  - name: w1
    role: worker
    ssh: 10.0.0.2
";
        let topology = crate::inventory::parse(inv, Path::new("inv.yaml")).expect("inventory");
        let pv = "kind: PersistentVolume\nmetadata: {name: nfs-pv1}\nspec: {nfs: {server: 1.2.3.4, path: /volume/nfs/pv1}}\n";
        let pkg = Files(BTreeMap::from([
            ("Files/kubernetes/nfs-pv1.yaml", pv),
            ("Files/kubernetes/nfs-pv2.yaml", pv),
        ]));
        let opts = PlanOptions {
            install_cluster: true,
            ..PlanOptions::default()
        };
        let planned =
            crate::planner::instantiate(&topology, &request, &pkg, "vnf-1", &opts).expect("plan");
        let ids: Vec<&str> = planned
            .plan
            .steps
            .iter()
            .filter(|s| s.host == "w1")
            .map(|s| s.id.as_str())
            .collect();
        let pos = |id: &str| {
            ids.iter()
                .position(|i| *i == id)
                .unwrap_or_else(|| panic!("no {id} in {ids:?}"))
        };
        assert!(pos("w1/upload/k8s_proxy.sh") < pos("w1/k8s-proxy"));
        assert!(pos("w1/k8s-proxy") < pos("w1/k8s-node"));
        assert!(pos("w1/k8s-node") < pos("w1/k8s-registry"));
        assert!(pos("w1/k8s-registry") < pos("w1/k8s-join"));
    }

    /// Runs an embedded script (from a fresh directory holding every script) with
    /// `args` and `stdin`; returns (exit code, stdout + stderr). Only for inputs the
    /// script refuses before it touches the host.
    fn refused(name: &str, args: &[&str], stdin: &str) -> (i32, String) {
        let dir = crate::scripts::tests::script_dir();
        let (code, out, err) = crate::scripts::tests::run(&dir, name, args, stdin);
        (code, format!("{out}{err}"))
    }

    #[test]
    fn scripts_refuse_bad_arguments_and_never_echo_a_secret() {
        let url = "http_proxy=http://u:Secr3t-9f@proxy:3128\n";
        let cases: [(&str, &[&str], &str, &str); 11] = [
            ("k8s_proxy.sh", &[], "", "usage: k8s_proxy.sh"),
            (
                "k8s_proxy.sh",
                &["docker", "a"],
                url,
                "invalid runtime: docker",
            ),
            (
                "k8s_proxy.sh",
                &["kubeadm", "10.0.0.0/8", "a;b"],
                url,
                "invalid no_proxy entry: a;b",
            ),
            (
                "k8s_proxy.sh",
                &["kubeadm", "10.0.0.0/8"],
                "http_proxy=http://u:Secr3t-9f@proxy:3128/$(id)\n",
                "invalid http_proxy on stdin (not shown)",
            ),
            (
                "k8s_proxy.sh",
                &["kubeadm", "10.0.0.0/8"],
                "",
                "no http_proxy or https_proxy on stdin",
            ),
            (
                "k8s_registry.sh",
                &["kubeadm"],
                "",
                "usage: k8s_registry.sh",
            ),
            (
                "k8s_registry.sh",
                &["kubeadm", "0=ftp://r:5000"],
                "",
                "invalid argument: 0=ftp://r:5000",
            ),
            (
                "k8s_registry.sh",
                &["kubeadm", "0=https://r;x:5000"],
                "",
                "invalid registry: 0=https://r;x:5000",
            ),
            (
                "k8s_registry.sh",
                &["k3s", "0=http://r:5000", "hosts:10.0.0.1=a;b"],
                "",
                "invalid argument: hosts:10.0.0.1=a;b",
            ),
            (
                "k8s_registry.sh",
                &["kubeadm", "0=http://r:5000"],
                "password_0=Secr3t-9f\n",
                "registry 0: username and password must come together on stdin",
            ),
            (
                "k8s_registry.sh",
                &["kubeadm", "0=http://r:5000"],
                "username_0=a b\npassword_0=Secr3t-9f\n",
                "registry 0: invalid username on stdin (not shown)",
            ),
        ];
        for (script, args, stdin, message) in cases {
            let (code, out) = refused(script, args, stdin);
            assert_eq!(code, 1, "{script} {args:?}: {out}");
            assert!(out.contains(message), "{script} {args:?}: {out}");
            assert!(!out.contains("Secr3t-9f"), "{script} {args:?}: {out}");
        }
    }
}
