//! OpenStack discovery against the emulated cloud (openstack-emu on vnf-lab hosts): the
//! sample's simple stack is deployed from the generated HOT, then discovered through
//! Keystone and Heat, and its storage part instantiated with the console-pinned keys.

use crate::util::{SAMPLE_PKG, repo_root, show, vnf_mgmt};
use mgmt_driver::clouds;
use mgmt_driver::openstack::{self, DiscoverOptions};
use mgmt_driver::topology::{Role, Topology};
use openstack_emu::{Cloud, CloudConfig};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vnf_package::request::model::K8sClusterInstallationParam;

/// Clouds are heavy (hosts, volumes): one at a time.
pub(crate) static HEAVY: Mutex<()> = Mutex::new(());

/// The sample request adapted to the lab: exports to the lab subnet, no proxy.
pub(crate) fn write_request(cloud: &Cloud, dir: &Path, sample: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("samples/requests").join(sample))
        .expect("sample request");
    let mut r: Value = serde_json::from_str(&text).expect("sample request JSON");
    let (net, len) = cloud.lab().subnet();
    let p = &mut r["additionalParams"]["k8s_cluster_installation_param"];
    for k in ["master_node", "worker_node", "storage_server"] {
        p[k]["password"] = cloud.lab().password().into();
    }
    if let Some(o) = p.as_object_mut() {
        o.remove("proxy");
    }
    for e in p["storage_server"]["nfs_server_setup_params"]
        .as_array_mut()
        .expect("exports")
    {
        e["export_to"] = format!("{net}/{len}").into();
    }
    let path = dir.join("request.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&r).expect("json")).expect("write request");
    path
}

pub(crate) fn params(request: &Path) -> K8sClusterInstallationParam {
    let text = std::fs::read_to_string(request).expect("request");
    let v: Value = serde_json::from_str(&text).expect("json");
    serde_json::from_value(v["additionalParams"]["k8s_cluster_installation_param"].clone())
        .expect("installation params")
}

pub(crate) fn create_stack(cloud: &Cloud, request: &Path, name: &str) -> String {
    let b =
        mgmt_driver::hot::generate_for_package(&repo_root().join(SAMPLE_PKG), request, None, None)
            .expect("generate the bundle");
    let files: serde_json::Map<String, Value> = b
        .files
        .iter()
        .map(|(k, t)| (k.clone(), json!(t.to_yaml().expect("yaml"))))
        .collect();
    let body = json!({"stack_name": name, "template": b.top_yaml().expect("yaml"),
        "files": files, "parameters": b.parameters});
    cloud.create_stack(&body).expect("create the stack")
}

fn key_set(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .collect()
}

pub(crate) fn auth_from_yaml(cloud: &Cloud, dir: &Path, name: &str) -> clouds::Auth {
    let f = dir.join("clouds.yaml");
    std::fs::write(&f, cloud.clouds_yaml()).expect("write clouds.yaml");
    clouds::from_clouds_yaml_files(name, &[f]).expect("clouds.yaml entry")
}

fn check_topology(cloud: &Cloud, t: &Topology, stack_id: &str) {
    assert_eq!(t.source, format!("openstack:{stack_id}"));
    let lab = cloud.lab();
    let masters: Vec<_> = t.with_role(Role::Master).collect();
    let workers: Vec<_> = t.with_role(Role::Worker).collect();
    let storage: Vec<_> = t.with_role(Role::Storage).collect();
    assert_eq!(
        (masters.len(), workers.len(), storage.len()),
        (1, 2, 1),
        "{t:#?}"
    );
    for (n, cp) in masters
        .iter()
        .map(|n| (n, "masterNode_CP1"))
        .chain(workers.iter().map(|n| (n, "workerNode_CP2")))
        .chain(storage.iter().map(|n| (n, "storage_server_CP")))
    {
        let ip = n
            .ports
            .get(cp)
            .copied()
            .unwrap_or_else(|| panic!("{} lacks {cp}", n.name));
        assert_eq!(n.ssh.host, ip.to_string());
        assert_eq!(n.nic, Some(ip));
        let server = n.resource_id.as_deref().expect("server id");
        let host_name = cloud.lab_host_of(server).expect("server is a lab host");
        let std::net::IpAddr::V4(v4) = ip else {
            panic!("lab addresses are IPv4")
        };
        let host = lab
            .host_by_ip(v4)
            .expect("a lab host at the port's address");
        assert_eq!(
            host.name, host_name,
            "{} port address is its server's host",
            n.name
        );
        let want: BTreeSet<String> =
            key_set(&[host.host_keys.ed25519.clone(), host.host_keys.ecdsa.clone()]);
        assert_eq!(
            key_set(&n.host_keys),
            want,
            "host keys of {} from the console",
            n.name
        );
    }
    let m_ip = masters[0].ports["masterNode_CP1"];
    assert_eq!(t.cluster_endpoint, Some(format!("https://{m_ip}:6443")));
    let s = storage[0];
    let vol = s
        .volumes
        .get("storage_server_volume")
        .expect("storage volume");
    assert!(
        cloud.inventory().volumes.contains(&vol.cinder_id),
        "{vol:?}"
    );
    assert_eq!(vol.device.as_deref(), Some("/dev/vdb"));
    let host = cloud
        .lab_host_of(s.resource_id.as_deref().unwrap_or_default())
        .expect("storage host");
    let by_id = format!("/dev/disk/by-id/virtio-{}", &vol.cinder_id[..20]);
    let out = lab.exec(&host, &["test", "-e", &by_id]).expect("exec");
    assert!(out.status.success(), "{by_id} missing on {host}");
}

#[test]
fn discovers_the_simple_stack_pins_console_keys_and_instantiates_storage() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let cloud = Cloud::start(CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    })
    .expect("cloud up");
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write_request(&cloud, dir.path(), "instantiate_simple_pv.json");
    let stack_id = create_stack(&cloud, &request, "vnf-simple");
    let p = params(&request);
    let opts = DiscoverOptions::default();

    // Password credential from clouds.yaml, the stack by name.
    let auth = auth_from_yaml(&cloud, dir.path(), "vnf-lab");
    let t0 = std::time::Instant::now();
    let t = openstack::discover(&auth, "vnf-simple", &p, &opts).expect("discover");
    eprintln!("discovery of 4 servers took {:?}", t0.elapsed());
    check_topology(&cloud, &t, &stack_id);

    // Application credential, the stack by id, and an expired token renewed on 401.
    let appcred = auth_from_yaml(&cloud, dir.path(), "vnf-lab-appcred");
    let rt = mgmt_driver::kube::runtime().expect("runtime");
    let t2 = rt
        .block_on(async {
            let mut s = openstack::Session::connect(appcred, &opts).await?;
            cloud.expire_tokens();
            s.discover(&stack_id, &p, &opts).await
        })
        .expect("discover after the token expired");
    assert_eq!(t2.fingerprint(), t.fingerprint());

    // Wrong password: auth_failed, the password nowhere in the message.
    let mut bad = auth.clone();
    if let clouds::Credential::Password { password, .. } = &mut bad.credential {
        *password = mgmt_driver::secret::Secret::new("Wrong-Pw-4711");
    }
    let e = openstack::discover(&bad, "vnf-simple", &p, &opts).expect_err("wrong password");
    assert_eq!(e.code.id, "driver.discovery.auth_failed", "{e}");
    assert!(!e.to_string().contains("Wrong-Pw-4711"), "{e}");

    // A group the stack does not have, and a stack that does not exist.
    let mut no_group = p.clone();
    no_group.worker_node.aspect_id = Some("no_such_group".into());
    let e = openstack::discover(&auth, "vnf-simple", &no_group, &opts).expect_err("no group");
    assert_eq!(e.code.id, "driver.discovery.resource_missing", "{e}");
    assert!(e.message.contains("no_such_group"), "{e}");
    let e = openstack::discover(&auth, "no-such-stack", &p, &opts).expect_err("no stack");
    assert_eq!(e.code.id, "driver.discovery.stack_not_found", "{e}");
    assert!(e.message.contains("no-such-stack"), "{e}");

    // The CLI prints the same topology.
    let yaml = dir.path().join("clouds.yaml");
    let o = vnf_mgmt()
        .env("OS_CLIENT_CONFIG_FILE", &yaml)
        .env_remove("OS_CLOUD")
        .args(["discover", SAMPLE_PKG, "-r"])
        .arg(&request)
        .args([
            "--os-cloud",
            "vnf-lab",
            "--stack",
            "vnf-simple",
            "--format",
            "json",
        ])
        .output()
        .expect("vnf-mgmt runs");
    assert!(o.status.success(), "{}", show(&o));
    let printed: Topology = serde_json::from_slice(&o.stdout).expect("topology JSON");
    assert_eq!(printed, t);
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&cloud.credentials().password));
    let o = vnf_mgmt()
        .env("OS_CLIENT_CONFIG_FILE", &yaml)
        .env_remove("OS_CLOUD")
        .args(["discover", SAMPLE_PKG, "--no-digests", "-r"])
        .arg(&request)
        .args(["--os-cloud", "vnf-lab", "--stack", "vnf-simple"])
        .output()
        .expect("vnf-mgmt runs");
    assert!(o.status.success(), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let storage = t.with_role(Role::Storage).next().expect("storage");
    assert!(
        text.contains(&format!(
            "storage {} ssh {}:22",
            storage.name, storage.ssh.host
        )),
        "{text}"
    );
    // An unknown cloud name: a configuration error naming the cloud, exit 2.
    let o = vnf_mgmt()
        .env("OS_CLIENT_CONFIG_FILE", &yaml)
        .args(["discover", SAMPLE_PKG, "--no-digests", "-r"])
        .arg(&request)
        .args(["--os-cloud", "elsewhere", "--stack", "vnf-simple"])
        .output()
        .expect("vnf-mgmt runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        err.contains("driver.discovery.config") && err.contains("elsewhere"),
        "{err}"
    );
    // --inventory and --stack are alternatives.
    let o = vnf_mgmt()
        .args(["plan", "instantiate", SAMPLE_PKG, "-r"])
        .arg(&request)
        .args([
            "-i",
            "inv.yaml",
            "--stack",
            "vnf-simple",
            "--vnf-instance-id",
            "x",
        ])
        .output()
        .expect("vnf-mgmt runs");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));

    // Instantiate (storage part) from the discovered topology: no known_hosts at all,
    // the console-pinned keys are the only trust.
    let o = vnf_mgmt()
        .env("OS_CLIENT_CONFIG_FILE", &yaml)
        .env_remove("OS_CLOUD")
        .arg("instantiate")
        .arg(SAMPLE_PKG)
        .arg("-r")
        .arg(&request)
        .args(["--os-cloud", "vnf-lab", "--stack", &stack_id])
        .args([
            "--vnf-instance-id",
            "os-discovery-1",
            "--skip-pv-registration",
            "-q",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .expect("vnf-mgmt runs");
    assert!(o.status.success(), "{}", show(&o));
    let s = t.with_role(Role::Storage).next().expect("storage");
    let host = cloud
        .lab_host_of(s.resource_id.as_deref().unwrap_or_default())
        .expect("host");
    let fstab = cloud
        .lab()
        .exec_ok(&host, &["cat", "/etc/fstab"])
        .expect("fstab");
    assert!(fstab.contains(" /volume ext4"), "{fstab}");
    let w = t.with_role(Role::Worker).next().expect("worker");
    let w_host = cloud
        .lab_host_of(w.resource_id.as_deref().unwrap_or_default())
        .expect("worker host");
    let std::net::IpAddr::V4(server) = s.ports["storage_server_CP"] else {
        panic!("IPv4")
    };
    cloud
        .lab()
        .nfs_write(
            &w_host,
            server,
            "/volume/nfs/pv1",
            "probe.txt",
            b"from the worker\n",
        )
        .expect("NFS write from a worker");
    let back = cloud
        .lab()
        .exec_ok(&host, &["cat", "/volume/nfs/pv1/probe.txt"])
        .expect("read back");
    assert_eq!(back, "from the worker\n");
}

#[test]
fn complex_stack_has_three_masters_and_the_vip_as_cluster_endpoint() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let cloud = Cloud::start(CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    })
    .expect("cloud up");
    let dir = tempfile::tempdir().expect("tempdir");
    let request = write_request(&cloud, dir.path(), "instantiate_complex_pv.json");
    let stack_id = create_stack(&cloud, &request, "vnf-complex");
    let auth = auth_from_yaml(&cloud, dir.path(), "vnf-lab");
    let t = openstack::discover(
        &auth,
        &stack_id,
        &params(&request),
        &DiscoverOptions::default(),
    )
    .expect("discover");
    let masters: Vec<_> = t.with_role(Role::Master).collect();
    assert_eq!(masters.len(), 3, "{t:#?}");
    assert_eq!(
        t.nodes.len(),
        cloud.inventory().servers.len(),
        "one node per server"
    );
    let mut ids: Vec<_> = t
        .nodes
        .iter()
        .filter_map(|n| n.resource_id.clone())
        .collect();
    ids.sort();
    let mut servers = cloud.inventory().servers;
    servers.sort();
    assert_eq!(ids, servers, "resource ids are the Nova server ids");
    // The VIP port of the top stack: no node's address, no lab host; the endpoint is
    // HAProxy's frontend on it; the prefix is the subnet's.
    let ep = t.cluster_endpoint.clone().expect("cluster endpoint");
    let vip: std::net::Ipv4Addr = ep
        .strip_prefix("https://")
        .and_then(|r| r.strip_suffix(":16443"))
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("endpoint {ep}"));
    assert!(cloud.lab().host_by_ip(vip).is_none(), "{vip} is a host");
    let cv = t.cluster_vip.expect("cluster VIP");
    assert_eq!(cv.address, std::net::IpAddr::V4(vip));
    assert_eq!(cv.prefix_len, cloud.lab().subnet().1, "the subnet's prefix");
    assert!(
        t.nodes.iter().all(|n| n.ssh.host != vip.to_string()),
        "{vip} is a node"
    );
    for m in &masters {
        assert_eq!(m.host_keys.len(), 2, "{}: {:?}", m.name, m.host_keys);
    }
}
