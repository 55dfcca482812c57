//! End-to-end tests of the emulated cloud: Keystone, Heat with the bundle `vnf-mgmt hot`
//! generates for the sample package, scaling, heal, console host keys and cleanup.
//! Run as root (the lab makes network namespaces and loop devices).

use openstack_emu::{Cloud, CloudConfig};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vnf_lab::Auth;

/// The stack tests are heavy (hosts, volumes): one at a time on a small machine.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sample's 5 GB storage volume becomes a 1 GiB sparse lab volume.
fn config() -> CloudConfig {
    CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    }
}

struct Api {
    http: Client,
    token: String,
    heat: String,
    nova: String,
    neutron: String,
    cinder: String,
}

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

fn endpoint(catalog: &Value, ty: &str) -> String {
    catalog
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == ty)
        .and_then(|s| {
            s["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["interface"] == "public")
        })
        .and_then(|e| e["url"].as_str())
        .unwrap_or_else(|| panic!("no {ty} endpoint in {catalog}"))
        .to_string()
}

fn password_body(cloud: &Cloud, password: &str) -> Value {
    let c = cloud.credentials();
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "domain": {"name": c.domain_name}, "password": password}}},
        "scope": {"project": {"name": c.project_name, "domain": {"name": c.domain_name}}}
    }})
}

fn login(cloud: &Cloud) -> Api {
    let http = http();
    let c = cloud.credentials();
    let r = http
        .post(format!("{}/auth/tokens", c.auth_url))
        .json(&password_body(cloud, &c.password))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string();
    let body: Value = r.json().expect("json");
    let cat = &body["token"]["catalog"];
    Api {
        heat: endpoint(cat, "orchestration"),
        nova: endpoint(cat, "compute"),
        neutron: endpoint(cat, "network"),
        cinder: endpoint(cat, "volumev3"),
        http,
        token,
    }
}

impl Api {
    fn get(&self, url: &str) -> (u16, Value) {
        let r = self
            .http
            .get(url)
            .header("X-Auth-Token", &self.token)
            .send()
            .expect("GET");
        let s = r.status().as_u16();
        (s, r.json().unwrap_or(Value::Null))
    }
    fn send(&self, method: reqwest::Method, url: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, url)
            .header("X-Auth-Token", &self.token)
            .json(body)
            .send()
            .expect("request");
        let s = r.status().as_u16();
        (s, r.json().unwrap_or(Value::Null))
    }
    fn ok(&self, url: &str) -> Value {
        let (s, v) = self.get(url);
        assert_eq!(s, 200, "GET {url}: {v}");
        v
    }
    /// Polls a stack until its status is `want` (fails on *_FAILED or after 5 min).
    fn wait_stack(&self, stack_url: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (s, v) = self.get(stack_url);
            assert_eq!(s, 200, "{v}");
            let st = v["stack"]["stack_status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if st == want {
                return v;
            }
            assert!(
                !st.ends_with("FAILED"),
                "stack {st}: {}",
                v["stack"]["stack_status_reason"]
            );
            assert!(Instant::now() < deadline, "stack stuck in {st}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    fn wait_resource(&self, url: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let v = self.ok(url);
            let st = v["resource"]["resource_status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if st == want {
                return v;
            }
            assert!(
                !st.ends_with("FAILED"),
                "resource {st}: {}",
                v["resource"]["resource_status_reason"]
            );
            assert!(Instant::now() < deadline, "resource stuck in {st}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    fn resources(&self, stack_url: &str) -> Vec<Value> {
        self.ok(&format!("{stack_url}/resources?nested_depth=3"))["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn link(r: &Value, rel: &str) -> String {
    r["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
        .unwrap_or_else(|| panic!("no {rel} link in {r}"))
        .to_string()
}

fn sample(request: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = vnf_package::validate::validate(
        &root.join("samples/packages/k8s_cluster_with_pv"),
        Some(&root.join("samples/requests").join(request)),
        &Default::default(),
    )
    .expect("read the sample package");
    let (Some(vnfd), Some(req)) = (v.vnfd, v.request) else {
        panic!("sample package or request invalid: {:?}", v.report);
    };
    let level = req.instantiation_level_id.clone();
    let b = hot_templates::generate(&vnfd, &req.flavour_id, level.as_deref(), &req)
        .expect("generate the sample bundle");
    let files: serde_json::Map<String, Value> = b
        .files
        .iter()
        .map(|(k, t)| (k.clone(), json!(t.to_yaml().expect("yaml"))))
        .collect();
    json!({"template": b.top_yaml().expect("yaml"), "files": files, "parameters": b.parameters})
}

fn create(api: &Api, name: &str, bundle: &Value) -> String {
    let mut body = bundle.clone();
    body["stack_name"] = json!(name);
    let (s, v) = api.send(
        reqwest::Method::POST,
        &format!("{}/stacks", api.heat),
        &body,
    );
    assert_eq!(s, 201, "{v}");
    let url = link(&v["stack"], "self");
    let (_, first) = api.get(&url);
    assert!(
        matches!(
            first["stack"]["stack_status"].as_str(),
            Some("CREATE_IN_PROGRESS" | "CREATE_COMPLETE")
        ),
        "{first}"
    );
    api.wait_stack(&url, "CREATE_COMPLETE");
    url
}

fn port_ip(api: &Api, res_url: &str) -> Ipv4Addr {
    let v = api.ok(res_url);
    let fixed = &v["resource"]["attributes"]["fixed_ips"];
    assert!(fixed[0]["subnet_id"].is_string(), "{fixed}");
    fixed[0]["ip_address"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no ip in {v}"))
}

fn res_url(r: &Value) -> String {
    link(r, "self")
}

fn of_type<'a>(rs: &'a [Value], ty: &str) -> Vec<&'a Value> {
    rs.iter().filter(|r| r["resource_type"] == ty).collect()
}

/// Every server's host answers SSH at the address its port reports.
fn check_servers_reachable(cloud: &Cloud, api: &Api, rs: &[Value]) -> BTreeSet<Ipv4Addr> {
    let lab = cloud.lab();
    let mut ips = BTreeSet::new();
    for p in of_type(rs, "OS::Neutron::Port") {
        let ip = port_ip(api, &res_url(p));
        let port = api.ok(&format!(
            "{}/v2.0/ports/{}",
            api.neutron,
            p["physical_resource_id"].as_str().unwrap_or("")
        ));
        let device = port["port"]["device_id"].as_str().unwrap_or("").to_string();
        if device.is_empty() {
            continue; // a VIP port
        }
        let host = lab
            .host_by_ip(ip)
            .unwrap_or_else(|| panic!("no lab host at {ip}"));
        assert_eq!(
            cloud.lab_host_of(&device).as_deref(),
            Some(host.name.as_str())
        );
        let out = lab
            .ssh(
                &host.name,
                Auth::Password,
                "cat /etc/hostname; sudo -n id -u",
            )
            .expect("ssh");
        assert!(
            out.status.success(),
            "ssh {ip}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&host.name));
        let server = api.ok(&format!("{}/servers/{device}", api.nova));
        let addrs = server["server"]["addresses"].to_string();
        assert!(addrs.contains(&ip.to_string()), "{addrs}");
        assert!(server["server"]["OS-EXT-SRV-ATTR:host"].is_string());
        ips.insert(ip);
    }
    assert_eq!(ips.len(), of_type(rs, "OS::Nova::Server").len());
    ips
}

fn console_keys(api: &Api, server_id: &str) -> BTreeSet<String> {
    let (s, v) = api.send(
        reqwest::Method::POST,
        &format!("{}/servers/{server_id}/action", api.nova),
        &json!({"os-getConsoleOutput": {"length": null}}),
    );
    assert_eq!(s, 200, "{v}");
    let text = v["output"].as_str().expect("output");
    let start = text
        .find("-----BEGIN SSH HOST KEY KEYS-----")
        .expect("begin marker");
    let end = text
        .find("-----END SSH HOST KEY KEYS-----")
        .expect("end marker");
    text[start..end]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some(format!("{} {}", p.next()?, p.next()?))
        })
        .collect()
}

fn keyscan(cloud: &Cloud, ip: Ipv4Addr) -> BTreeSet<String> {
    cloud.lab().guard(ip).expect("lab address");
    let out = std::process::Command::new("ssh-keyscan")
        .args(["-T", "10", "-t", "ed25519,ecdsa", &ip.to_string()])
        .output()
        .expect("ssh-keyscan");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut p = l.split_whitespace().skip(1);
            Some(format!("{} {}", p.next()?, p.next()?))
        })
        .collect()
}

fn find<'a>(rs: &'a [Value], name: &str) -> &'a Value {
    rs.iter()
        .find(|r| r["resource_name"] == name)
        .unwrap_or_else(|| panic!("no resource {name}"))
}

fn members(rs: &[Value], group: &str) -> Vec<Value> {
    rs.iter()
        .filter(|r| r["parent_resource"] == group)
        .cloned()
        .collect()
}

fn delete_and_check_clean(cloud: &Cloud, api: &Api, url: &str, name: &str) {
    let r = api
        .http
        .delete(url)
        .header("X-Auth-Token", &api.token)
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    api.wait_stack(url, "DELETE_COMPLETE");
    let (s, v) = api.get(&format!("{}/stacks/{name}", api.heat));
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["type"], "EntityNotFound");
    let inv = cloud.inventory();
    assert!(inv.is_empty(), "left behind: {inv:?}");
    assert!(
        cloud.lab().hosts().is_empty(),
        "hosts left: {:?}",
        cloud.lab().hosts()
    );
    assert!(
        cloud.lab().info().volumes.is_empty(),
        "volumes left: {:?}",
        cloud.lab().info().volumes
    );
}

#[test]
fn keystone_password_and_application_credential() {
    let cloud = Cloud::start(CloudConfig::default()).expect("cloud");
    let c = cloud.credentials();
    let http = http();
    let url = format!("{}/auth/tokens", c.auth_url);

    // Password, project-scoped by name: token header, expiry, catalog.
    let r = http
        .post(&url)
        .json(&password_body(&cloud, &c.password))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);
    let tok = r.headers()["x-subject-token"]
        .to_str()
        .expect("hdr")
        .to_string();
    let body: Value = r.json().expect("json");
    assert!(
        body["token"]["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    assert_eq!(body["token"]["project"]["id"], c.project_id);
    assert_eq!(body["token"]["methods"], json!(["password"]));
    for ty in [
        "orchestration",
        "compute",
        "network",
        "volumev3",
        "identity",
    ] {
        let u = endpoint(&body["token"]["catalog"], ty);
        assert!(u.starts_with("http://127.0.0.1:"), "{ty}: {u}");
    }

    // Password by ids, project by id.
    let r = http
        .post(&url)
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": c.user_id, "password": c.password}}},
                                "scope": {"project": {"id": c.project_id}}}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);

    // Unscoped: no catalog, and Heat refuses it.
    let r = http
        .post(&url)
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": c.username, "domain": {"id": "default"}, "password": c.password}}}}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);
    let unscoped = r.headers()["x-subject-token"]
        .to_str()
        .expect("hdr")
        .to_string();
    let body: Value = r.json().expect("json");
    assert!(body["token"].get("catalog").is_none(), "{body}");
    let heat = format!(
        "http://{}/heat-api/v1/{}/stacks",
        cloud.addr(),
        c.project_id
    );
    let r = http
        .get(&heat)
        .header("X-Auth-Token", &unscoped)
        .send()
        .expect("heat");
    assert_eq!(r.status(), 403);

    // Application credential by id, and by name + user.
    let r = http
        .post(&url)
        .json(
            &json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": c.app_cred_id, "secret": c.app_cred_secret}}}}),
        )
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);
    let app_tok = r.headers()["x-subject-token"]
        .to_str()
        .expect("hdr")
        .to_string();
    let body: Value = r.json().expect("json");
    assert_eq!(body["token"]["application_credential"]["id"], c.app_cred_id);
    assert_eq!(body["token"]["project"]["id"], c.project_id);
    assert_eq!(
        endpoint(&body["token"]["catalog"], "orchestration"),
        format!("http://{}/heat-api/v1/{}", cloud.addr(), c.project_id)
    );
    let r = http
        .post(&url)
        .json(&json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"name": c.app_cred_name, "user": {"name": c.username, "domain": {"name": c.domain_name}}, "secret": c.app_cred_secret}}}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 201);

    // Wrong credentials: 401 with a Keystone error body.
    for bad in [
        password_body(&cloud, "wrong"),
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": c.app_cred_id, "secret": "wrong"}}}}),
        json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "nope", "secret": c.app_cred_secret}}}}),
    ] {
        let r = http.post(&url).json(&bad).send().expect("auth");
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("x-subject-token").is_none());
        let e: Value = r.json().expect("json");
        assert_eq!(e["error"]["code"], 401);
        assert_eq!(e["error"]["title"], "Unauthorized");
    }
    // Malformed: 400.
    let r = http
        .post(&url)
        .json(&json!({"auth": {}}))
        .send()
        .expect("auth");
    assert_eq!(r.status(), 400);

    // The token works on every service; unknown and expired ones are rejected everywhere.
    let svc = [
        format!(
            "http://{}/heat-api/v1/{}/stacks",
            cloud.addr(),
            c.project_id
        ),
        format!("http://{}/compute/v2.1/servers", cloud.addr()),
        format!("http://{}/networking/v2.0/ports", cloud.addr()),
        format!("http://{}/volume/v3/{}/volumes", cloud.addr(), c.project_id),
    ];
    for u in &svc {
        let r = http
            .get(u)
            .header("X-Auth-Token", &app_tok)
            .send()
            .expect("svc");
        assert_eq!(r.status(), 200, "{u}");
        let r = http
            .get(u)
            .header("X-Auth-Token", "not-a-token")
            .send()
            .expect("svc");
        assert_eq!(r.status(), 401, "{u}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap_or("")
                .starts_with("Keystone uri=")
        );
        let r = http.get(u).send().expect("svc");
        assert_eq!(r.status(), 401, "{u}");
    }
    // Token validation.
    let r = http
        .get(&url)
        .header("X-Auth-Token", &app_tok)
        .header("X-Subject-Token", &tok)
        .send()
        .expect("validate");
    assert_eq!(r.status(), 200);
    cloud.expire_tokens();
    for u in &svc {
        let r = http
            .get(u)
            .header("X-Auth-Token", &app_tok)
            .send()
            .expect("svc");
        assert_eq!(r.status(), 401, "expired token accepted by {u}");
    }
    // A fresh token works again.
    let api = login(&cloud);
    assert_eq!(api.get(&format!("{}/stacks", api.heat)).0, 200);
    // Nova microversions.
    let r = http
        .get(&svc[1])
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", "compute 2.79")
        .send()
        .expect("nova");
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.79");
    let r = http
        .get(&svc[1])
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", "compute 9.0")
        .send()
        .expect("nova");
    assert_eq!(r.status(), 406);
}

#[test]
fn heat_rejects_what_it_cannot_deploy() {
    let cloud = Cloud::start(CloudConfig::default()).expect("cloud");
    let api = login(&cloud);
    let url = format!("{}/stacks", api.heat);
    let cases = [
        (
            json!({"heat_template_version": "2013-05-23", "resources": {"db": {"type": "OS::Trove::Instance"}}}),
            "OS::Trove::Instance",
        ),
        (
            json!({"heat_template_version": "2013-05-23", "resources": {"p": {"type": "OS::Neutron::Port",
            "properties": {"network": {"get_file": "net.txt"}}}}}),
            "get_file",
        ),
        (
            json!({"heat_template_version": "2013-05-23", "resources": {"s": {"type": "OS::Nova::Server",
            "properties": {"networks": [{"port": {"get_resource": "missing"}}]}}}}),
            "missing",
        ),
        (
            json!({"heat_template_version": "2013-05-23", "parameters": {"nfv": {"type": "json"}}, "resources": {}}),
            "The Parameter (nfv) was not provided.",
        ),
        (
            json!({"heat_template_version": "2013-05-23", "resources": {"g": {"type": "nested/absent.yaml"}}}),
            "nested/absent.yaml",
        ),
    ];
    for (tpl, needle) in cases {
        let (s, v) = api.send(
            reqwest::Method::POST,
            &url,
            &json!({"stack_name": "bad", "template": tpl}),
        );
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["code"], 400);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{needle}: {v}"
        );
        assert!(v["error"]["type"].is_string());
    }
    let (s, v) = api.send(
        reqwest::Method::POST,
        &url,
        &json!({"stack_name": "1bad", "template": {"heat_template_version": "2013-05-23"}}),
    );
    assert_eq!(s, 400, "{v}");
    // An empty stack is created, a second one with the same name conflicts.
    let ok = json!({"stack_name": "empty", "template": "heat_template_version: 2013-05-23\nresources: {}\n"});
    let (s, v) = api.send(reqwest::Method::POST, &url, &ok);
    assert_eq!(s, 201, "{v}");
    let (s, v) = api.send(reqwest::Method::POST, &url, &ok);
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["type"], "StackExists");
    // A requested fixed IP off the lab subnet fails the stack (asynchronously, as in Heat).
    let bad_ip = json!({"stack_name": "badip", "template": {"heat_template_version": "2013-05-23", "resources": {
        "p": {"type": "OS::Neutron::Port", "properties": {"network": "net0", "fixed_ips": [{"ip_address": "10.99.0.5"}]}}}}});
    let (s, v) = api.send(reqwest::Method::POST, &url, &bad_ip);
    assert_eq!(s, 201, "{v}");
    let stack = link(&v["stack"], "self");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api.ok(&stack);
        if v["stack"]["stack_status"] == "CREATE_FAILED" {
            assert!(
                v["stack"]["stack_status_reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("InvalidIpForSubnet"),
                "{v}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn simple_flavour_deploy_scale_heal_delete() {
    let _g = heavy();
    let cloud = Cloud::start(config()).expect("cloud");
    let api = login(&cloud);
    let t0 = Instant::now();
    let url = create(&api, "vnf-simple", &sample("instantiate_simple_pv.json"));
    eprintln!("simple: CREATE_COMPLETE after {:?}", t0.elapsed());
    let stack = api.ok(&url);
    let stack_id = stack["stack"]["id"].as_str().expect("id").to_string();
    // By name: Heat redirects to /stacks/{name}/{id}.
    let by_name = api.ok(&format!("{}/stacks/vnf-simple", api.heat));
    assert_eq!(by_name["stack"]["id"], stack_id.as_str());
    assert_eq!(
        by_name["stack"]["parameters"]["OS::stack_name"],
        "vnf-simple"
    );
    // heatclient style: /stacks/{id}/resources[/{name}] redirect to the canonical URL.
    let by_id = api.ok(&format!("{}/stacks/{stack_id}/resources", api.heat));
    assert_eq!(
        by_id["resources"].as_array().map(Vec::len),
        Some(9),
        "{by_id}"
    );
    let r = api.ok(&format!(
        "{}/stacks/vnf-simple/resources/storage_server_CP",
        api.heat
    ));
    assert!(r["resource"]["attributes"]["fixed_ips"][0]["ip_address"].is_string());
    let (s, _) = api.get(&format!("{}/stacks/nope/resources", api.heat));
    assert_eq!(s, 404);

    // Topology: 1 master, 2 workers, a storage server with its volume.
    let rs = api.resources(&url);
    assert_eq!(of_type(&rs, "OS::Nova::Server").len(), 4);
    let workers = find(&rs, "worker_instance");
    assert_eq!(workers["resource_type"], "OS::Heat::AutoScalingGroup");
    let group_link = link(workers, "nested");
    let group = api.ok(&group_link);
    assert_eq!(group["stack"]["id"], workers["physical_resource_id"]);
    let group_name = group["stack"]["stack_name"]
        .as_str()
        .expect("name")
        .to_string();
    assert!(
        group_name.starts_with("vnf-simple-worker_instance-"),
        "{group_name}"
    );
    let wm = members(&rs, "worker_instance");
    assert_eq!(wm.len(), 2);
    for m in &wm {
        assert_eq!(m["resource_type"], "nested/worker_instance.yaml");
        let ms = api.ok(&link(m, "nested"));
        assert_eq!(ms["stack"]["id"], m["physical_resource_id"]);
        let n = ms["stack"]["stack_name"].as_str().expect("name");
        assert!(
            n.starts_with(&format!(
                "{group_name}-{}-",
                m["resource_name"].as_str().unwrap_or("")
            )),
            "{n}"
        );
    }
    assert_eq!(members(&rs, "master_instance").len(), 1);
    let tpl = api.ok(&format!("{url}/template"));
    assert!(tpl["resources"]["storage_server"].is_object());
    let ips = check_servers_reachable(&cloud, &api, &rs);
    assert_eq!(ips.len(), 4);

    // The volume: attached to the storage server only, at its by-id path.
    let storage = find(&rs, "storage_server");
    let storage_id = storage["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    let vol = api.ok(&res_url(find(&rs, "storage_server_volume")));
    let vol_id = vol["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    let att = &vol["resource"]["attributes"]["attachments"][0];
    assert_eq!(att["server_id"], storage_id.as_str());
    assert_eq!(att["volume_id"], vol_id.as_str());
    assert_eq!(att["device"], "/dev/vdb");
    let cinder = api.ok(&format!("{}/volumes/{vol_id}", api.cinder));
    assert_eq!(cinder["volume"]["status"], "in-use");
    assert_eq!(cinder["volume"]["size"], 5);
    let by_id = format!("/dev/disk/by-id/virtio-{}", &vol_id[..20]);
    let storage_host = cloud.lab_host_of(&storage_id).expect("host");
    let lab = cloud.lab();
    for h in lab.hosts() {
        let out = lab.exec(&h.name, &["test", "-b", &by_id]).expect("exec");
        assert_eq!(
            out.status.success(),
            h.name == storage_host,
            "{by_id} on {}",
            h.name
        );
    }
    let size = lab
        .exec_ok(&storage_host, &["blockdev", "--getsize64", &by_id])
        .expect("size");
    assert_eq!(size.trim(), (1u64 << 30).to_string());
    let server = api.ok(&format!("{}/servers/{storage_id}", api.nova));
    assert_eq!(
        server["server"]["os-extended-volumes:volumes_attached"][0]["id"],
        vol_id.as_str()
    );

    // Host keys from the console log match what the hosts present.
    for s in of_type(&rs, "OS::Nova::Server") {
        let sid = s["physical_resource_id"].as_str().expect("id");
        let host = lab
            .host(&cloud.lab_host_of(sid).expect("host"))
            .expect("host");
        let keys = console_keys(&api, sid);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys, keyscan(&cloud, host.ip), "{sid}");
    }

    // Scale out the workers, then in: the oldest member goes.
    let policy_out = res_url(find(&rs, "worker_instance_scale_out"));
    let sig = api.ok(&policy_out)["resource"]["attributes"]["signal_url"]
        .as_str()
        .expect("signal_url")
        .to_string();
    assert_eq!(sig, format!("{policy_out}/signal"));
    let (s, v) = api.send(reqwest::Method::POST, &sig, &json!({}));
    assert_eq!(s, 200, "{v}");
    api.wait_resource(&policy_out, "SIGNAL_COMPLETE");
    api.wait_resource(&res_url(workers), "UPDATE_COMPLETE");
    let rs2 = api.resources(&url);
    let wm2 = members(&rs2, "worker_instance");
    assert_eq!(wm2.len(), 3);
    assert_eq!(of_type(&rs2, "OS::Nova::Server").len(), 5);
    let ips2 = check_servers_reachable(&cloud, &api, &rs2);
    assert!(ips.is_subset(&ips2));
    let group_attrs = api.ok(&res_url(find(&rs2, "worker_instance")));
    assert_eq!(group_attrs["resource"]["attributes"]["current_size"], 3);

    // Out again to max_size (4); a further signal keeps 4.
    for _ in 0..2 {
        let (s, _) = api.send(reqwest::Method::POST, &sig, &json!({}));
        assert_eq!(s, 200);
        api.wait_resource(&policy_out, "SIGNAL_COMPLETE");
        api.wait_resource(&res_url(workers), "UPDATE_COMPLETE");
    }
    assert_eq!(
        members(&api.resources(&url), "worker_instance").len(),
        4,
        "max_size holds"
    );
    assert_eq!(lab.hosts().len(), 6);

    // Scale in: the oldest members go first; a third signal stops at min_size (2).
    let policy_in = res_url(find(&rs, "worker_instance_scale_in"));
    let oldest: BTreeSet<String> = wm
        .iter()
        .map(|m| m["resource_name"].as_str().unwrap_or("").to_string())
        .collect();
    let (s, _) = api.send(
        reqwest::Method::POST,
        &format!("{policy_in}/signal"),
        &json!({}),
    );
    assert_eq!(s, 200);
    api.wait_resource(&policy_in, "SIGNAL_COMPLETE");
    api.wait_resource(&res_url(workers), "UPDATE_COMPLETE");
    let after_one: Vec<String> = members(&api.resources(&url), "worker_instance")
        .iter()
        .map(|m| m["resource_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(after_one.len(), 3);
    assert_eq!(
        after_one.iter().filter(|n| oldest.contains(*n)).count(),
        1,
        "one of the oldest went first"
    );
    for _ in 0..2 {
        let (s, _) = api.send(
            reqwest::Method::POST,
            &format!("{policy_in}/signal"),
            &json!({}),
        );
        assert_eq!(s, 200);
        api.wait_resource(&policy_in, "SIGNAL_COMPLETE");
        api.wait_resource(&res_url(workers), "UPDATE_COMPLETE");
    }
    let rs3 = api.resources(&url);
    let wm3 = members(&rs3, "worker_instance");
    assert_eq!(wm3.len(), 2, "min_size holds");
    assert!(
        wm3.iter()
            .all(|m| !oldest.contains(m["resource_name"].as_str().unwrap_or("")))
    );
    let ips3 = check_servers_reachable(&cloud, &api, &rs3);
    assert_eq!(lab.hosts().len(), 4);
    assert_eq!(ips3.len(), 4);

    // Heal the storage server alone: new host (new keys), same IP, data kept.
    lab.exec_ok(&storage_host, &["mkfs.ext4", "-q", &by_id])
        .expect("mkfs");
    lab.exec_ok(&storage_host, &["sh", "-c", &format!("mkdir -p /volume && mount {by_id} /volume && echo kept > /volume/data && sync && umount /volume")])
        .expect("write data");
    let storage_port_ip = port_ip(&api, &res_url(find(&rs, "storage_server_CP")));
    let old_keys = console_keys(&api, &storage_id);
    let server_res = res_url(storage);
    let (s, v) = api.send(
        reqwest::Method::PATCH,
        &server_res,
        &json!({"mark_unhealthy": true, "resource_status_reason": "heal"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        api.ok(&server_res)["resource"]["resource_status"],
        "CHECK_FAILED"
    );
    let t0 = Instant::now();
    let (s, v) = api.send(reqwest::Method::PATCH, &url, &json!({"existing": true}));
    assert_eq!(s, 202, "{v}");
    api.wait_stack(&url, "UPDATE_COMPLETE");
    eprintln!(
        "simple: heal (server) UPDATE_COMPLETE after {:?}",
        t0.elapsed()
    );
    let healed = api.ok(&server_res);
    let new_id = healed["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(new_id, storage_id);
    let new_host = cloud.lab_host_of(&new_id).expect("host");
    assert_ne!(new_host, storage_host);
    assert_eq!(lab.host(&new_host).expect("host").ip, storage_port_ip);
    let new_keys = console_keys(&api, &new_id);
    assert!(new_keys.is_disjoint(&old_keys), "fresh host keys");
    assert_eq!(new_keys, keyscan(&cloud, storage_port_ip));
    let vol_now = api.ok(&res_url(find(&rs, "storage_server_volume")));
    assert_eq!(
        vol_now["resource"]["physical_resource_id"],
        vol_id.as_str(),
        "same volume"
    );
    assert_eq!(
        vol_now["resource"]["attributes"]["attachments"][0]["server_id"],
        new_id.as_str()
    );
    let data = lab
        .exec_ok(
            &new_host,
            &[
                "sh",
                "-c",
                &format!(
                    "mkdir -p /volume && mount {by_id} /volume && cat /volume/data; umount /volume"
                ),
            ],
        )
        .expect("read data");
    assert_eq!(data.trim(), "kept");

    // Heal server and volume: a fresh, empty volume.
    let vol_res = res_url(find(&rs, "storage_server_volume"));
    for r in [&server_res, &vol_res] {
        let (s, _) = api.send(reqwest::Method::PATCH, r, &json!({"mark_unhealthy": true}));
        assert_eq!(s, 200);
    }
    let (s, _) = api.send(reqwest::Method::PATCH, &url, &json!({"existing": true}));
    assert_eq!(s, 202);
    api.wait_stack(&url, "UPDATE_COMPLETE");
    let v2 = api.ok(&vol_res);
    let vol2 = v2["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(vol2, vol_id);
    let (s, _) = api.get(&format!("{}/volumes/{vol_id}", api.cinder));
    assert_eq!(s, 404, "old volume deleted");
    let id3 = api.ok(&server_res)["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        v2["resource"]["attributes"]["attachments"][0]["server_id"],
        id3.as_str()
    );
    let host3 = cloud.lab_host_of(&id3).expect("host");
    let by_id2 = format!("/dev/disk/by-id/virtio-{}", &vol2[..20]);
    let blkid = lab.exec(&host3, &["blkid", &by_id2]).expect("blkid");
    assert_eq!(
        blkid.status.code(),
        Some(2),
        "new volume is empty: {}",
        String::from_utf8_lossy(&blkid.stdout)
    );
    assert!(
        !lab.exec(&host3, &["test", "-e", &by_id])
            .expect("exec")
            .status
            .success()
    );
    assert_eq!(lab.info().volumes.len(), 1);
    check_servers_reachable(&cloud, &api, &api.resources(&url));

    // The stack is listed; delete leaves nothing behind.
    let list = api.ok(&format!("{}/stacks", api.heat));
    assert!(
        list["stacks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["id"] == stack_id.as_str()))
    );
    let t0 = Instant::now();
    delete_and_check_clean(&cloud, &api, &url, "vnf-simple");
    eprintln!("simple: DELETE_COMPLETE and clean after {:?}", t0.elapsed());
}

#[test]
fn complex_flavour_deploys_with_vip_and_anti_affinity() {
    let _g = heavy();
    let cloud = Cloud::start(config()).expect("cloud");
    let api = login(&cloud);
    let t0 = Instant::now();
    let url = create(&api, "vnf-complex", &sample("instantiate_complex_pv.json"));
    eprintln!("complex: CREATE_COMPLETE after {:?}", t0.elapsed());
    let rs = api.resources(&url);
    let masters = members(&rs, "master_instance");
    assert_eq!(masters.len(), 3);
    assert_eq!(of_type(&rs, "OS::Nova::Server").len(), 6);
    check_servers_reachable(&cloud, &api, &rs);
    let vip = port_ip(&api, &res_url(find(&rs, "vip_CP")));
    assert!(
        cloud.lab().host_by_ip(vip).is_none(),
        "the VIP is no host's address"
    );
    let mut computes = BTreeSet::new();
    for p in rs.iter().filter(|r| r["resource_name"] == "masterNode_CP1") {
        let a = api.ok(&res_url(p));
        assert_eq!(
            a["resource"]["attributes"]["allowed_address_pairs"][0]["ip_address"],
            vip.to_string()
        );
    }
    let sg = find(&rs, "master_anti_affinity");
    let sg_id = sg["physical_resource_id"].as_str().expect("id").to_string();
    let sg_show = api.ok(&res_url(sg));
    assert_eq!(sg_show["resource"]["attributes"]["policy"], "anti-affinity");
    for s in rs.iter().filter(|r| r["resource_name"] == "masterNode") {
        let a = api.ok(&res_url(s));
        // Resource show returns the raw Nova object as attributes, as Heat does.
        assert_eq!(a["resource"]["attributes"]["server_groups"], json!([sg_id]));
        assert_eq!(a["resource"]["attributes"]["status"], "ACTIVE");
        computes.insert(
            a["resource"]["attributes"]["OS-EXT-SRV-ATTR:host"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(computes.len(), 3, "anti-affinity: {computes:?}");
    let g = api.ok(&format!(
        "{}/os-server-groups/{}",
        api.nova,
        sg["physical_resource_id"].as_str().unwrap_or("")
    ));
    assert_eq!(g["server_group"]["policies"], json!(["anti-affinity"]));
    assert_eq!(
        g["server_group"]["members"].as_array().map(Vec::len),
        Some(3)
    );

    // Heal one master the way Tacker does: mark the server in its member stack
    // unhealthy, update the top stack with `existing`. Same port and IP, new server.
    let member = &masters[0];
    let member_stack = link(member, "nested");
    let server_url = format!("{member_stack}/resources/masterNode");
    let old = api.ok(&server_url);
    let old_id = old["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    let port_url = format!("{member_stack}/resources/masterNode_CP1");
    let ip = port_ip(&api, &port_url);
    let (s, v) = api.send(
        reqwest::Method::PATCH,
        &server_url,
        &json!({"mark_unhealthy": true}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = api.send(reqwest::Method::PATCH, &url, &json!({}));
    assert_eq!(s, 202, "{v}");
    api.wait_stack(&url, "UPDATE_COMPLETE");
    let new = api.ok(&server_url);
    let new_id = new["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(new["resource"]["resource_status"], "UPDATE_COMPLETE");
    assert_eq!(port_ip(&api, &port_url), ip);
    assert_eq!(
        new["resource"]["attributes"]["server_groups"],
        json!([sg_id])
    );
    let (s, _) = api.get(&format!("{}/servers/{old_id}", api.nova));
    assert_eq!(s, 404);
    let rs2 = api.resources(&url);
    check_servers_reachable(&cloud, &api, &rs2);
    let computes2: BTreeSet<String> = rs2
        .iter()
        .filter(|r| r["resource_name"] == "masterNode")
        .map(|s| {
            api.ok(&res_url(s))["resource"]["attributes"]["OS-EXT-SRV-ATTR:host"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        computes2.len(),
        3,
        "anti-affinity after heal: {computes2:?}"
    );

    // Marking a whole group member unhealthy replaces the member (new name, new stack).
    let group_stack = link(find(&rs2, "master_instance"), "nested");
    let victim = members(&rs2, "master_instance")[1]["resource_name"]
        .as_str()
        .expect("name")
        .to_string();
    let (s, _) = api.send(
        reqwest::Method::PATCH,
        &format!("{group_stack}/resources/{victim}"),
        &json!({"mark_unhealthy": true}),
    );
    assert_eq!(s, 200);
    let (s, _) = api.send(reqwest::Method::PATCH, &url, &json!({}));
    assert_eq!(s, 202);
    api.wait_stack(&url, "UPDATE_COMPLETE");
    let rs3 = api.resources(&url);
    let names3: Vec<String> = members(&rs3, "master_instance")
        .iter()
        .map(|m| m["resource_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names3.len(), 3);
    assert!(!names3.contains(&victim), "{names3:?}");
    assert_eq!(check_servers_reachable(&cloud, &api, &rs3).len(), 6);

    delete_and_check_clean(&cloud, &api, &url, "vnf-complex");
}

#[test]
fn clouds_yaml_names_both_credentials() {
    let cloud = Cloud::start(CloudConfig::default()).expect("cloud");
    let y = cloud.clouds_yaml();
    let v: Value = serde_saphyr::from_str(&y).expect("yaml");
    let c = cloud.credentials();
    assert_eq!(
        v["clouds"]["vnf-lab"]["auth"]["auth_url"],
        c.auth_url.as_str()
    );
    assert_eq!(
        v["clouds"]["vnf-lab"]["auth"]["password"],
        c.password.as_str()
    );
    assert_eq!(
        v["clouds"]["vnf-lab-appcred"]["auth"]["application_credential_id"],
        c.app_cred_id.as_str()
    );
    assert!(c.auth_url.starts_with("http://127.0.0.1:"));
}

#[test]
fn resource_level_errors_and_service_error_bodies() {
    let cloud = Cloud::start(CloudConfig::default()).expect("cloud");
    let api = login(&cloud);
    let (base, _) = cloud.lab().subnet();
    let o = base.octets();
    let wanted = Ipv4Addr::new(o[0], o[1], o[2], 77);
    let body = json!({"stack_name": "light", "template": {
    "heat_template_version": "2013-05-23",
    "resources": {
        "sg": {"type": "OS::Nova::ServerGroup", "properties": {"name": "g", "policies": ["affinity"]}},
        "port": {"type": "OS::Neutron::Port", "properties": {
            "network": "net0", "fixed_ips": [{"ip_address": wanted.to_string()}],
            "name": {"str_replace": {"template": "p-$S", "params": {"$S": {"get_param": "OS::stack_name"}}}}}},
        "fip": {"type": "OS::Neutron::FloatingIP", "properties": {
            "floating_network": "public", "port_id": {"get_resource": "port"}}}
    }}});
    let (s, v) = api.send(
        reqwest::Method::POST,
        &format!("{}/stacks", api.heat),
        &body,
    );
    assert_eq!(s, 201, "{v}");
    let url = link(&v["stack"], "self");
    api.wait_stack(&url, "CREATE_COMPLETE");

    // The requested fixed IP is honoured; intrinsic functions were evaluated.
    let port = api.ok(&format!("{url}/resources/port"));
    assert_eq!(
        port["resource"]["attributes"]["fixed_ips"][0]["ip_address"],
        wanted.to_string()
    );
    assert_eq!(port["resource"]["attributes"]["name"], "p-light");
    let pid = port["resource"]["physical_resource_id"]
        .as_str()
        .expect("id")
        .to_string();
    let fip = api.ok(&format!("{url}/resources/fip"));
    assert_eq!(
        fip["resource"]["attributes"]["floating_ip_address"],
        wanted.to_string()
    );
    let listed = api.ok(&format!("{}/v2.0/ports?name=p-light", api.neutron));
    assert_eq!(listed["ports"][0]["id"], pid.as_str());

    // The Rust entry point validates the same way and deploys synchronously.
    let err = cloud
        .create_stack(
            &json!({"stack_name": "r", "template": {"heat_template_version": "2013-05-23",
            "resources": {"x": {"type": "OS::Swift::Container"}}}}),
        )
        .expect_err("unsupported type");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    let sid = cloud
        .create_stack(&json!({"stack_name": "direct", "template": {"heat_template_version": "2013-05-23",
            "resources": {"g": {"type": "OS::Nova::ServerGroup", "properties": {"policies": ["anti-affinity"]}}}}}))
        .expect("direct create");
    assert_eq!(
        cloud.stack_status("direct").map(|s| s.0),
        Some("CREATE_COMPLETE".into())
    );
    assert_eq!(
        cloud.stack_status(&sid).map(|s| s.0),
        Some("CREATE_COMPLETE".into())
    );
    let direct = format!("{}/stacks/direct/{sid}", api.heat);

    // Resource-level errors.
    let (s, v) = api.send(
        reqwest::Method::POST,
        &format!("{url}/resources/port/signal"),
        &json!({}),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = api.send(
        reqwest::Method::PATCH,
        &format!("{url}/resources/port"),
        &json!({"mark_unhealthy": "yes"}),
    );
    assert_eq!(s, 400, "{v}");
    let (s, v) = api.get(&format!("{url}/resources/nope"));
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["type"], "ResourceNotFound");
    let (s, v) = api.send(
        reqwest::Method::PUT,
        &url,
        &json!({"template": {"heat_template_version": "2013-05-23"}}),
    );
    assert_eq!(s, 400, "{v}");
    // Mark unhealthy and back.
    let (s, _) = api.send(
        reqwest::Method::PATCH,
        &format!("{url}/resources/sg"),
        &json!({"mark_unhealthy": true, "resource_status_reason": "why"}),
    );
    assert_eq!(s, 200);
    let sg = api.ok(&format!("{url}/resources/sg"));
    assert_eq!(sg["resource"]["resource_status"], "CHECK_FAILED");
    assert_eq!(sg["resource"]["resource_status_reason"], "why");
    let (s, _) = api.send(
        reqwest::Method::PATCH,
        &format!("{url}/resources/sg"),
        &json!({"mark_unhealthy": false}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        api.ok(&format!("{url}/resources/sg"))["resource"]["resource_status"],
        "CHECK_COMPLETE"
    );

    // Error bodies of the other services.
    let (s, v) = api.get(&format!("{}/servers/nope", api.nova));
    assert_eq!(s, 404);
    assert_eq!(v["itemNotFound"]["code"], 404);
    let (s, v) = api.get(&format!("{}/v2.0/ports/nope", api.neutron));
    assert_eq!(s, 404);
    assert_eq!(v["NeutronError"]["type"], "PortNotFound");
    let (s, v) = api.get(&format!("{}/volumes/nope", api.cinder));
    assert_eq!(s, 404);
    assert_eq!(v["itemNotFound"]["code"], 404);

    // A second stack cannot take the same fixed IP.
    let mut again = body.clone();
    again["stack_name"] = json!("light2");
    let (s, v) = api.send(
        reqwest::Method::POST,
        &format!("{}/stacks", api.heat),
        &again,
    );
    assert_eq!(s, 201, "{v}");
    let url2 = link(&v["stack"], "self");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api.ok(&url2);
        if v["stack"]["stack_status"] == "CREATE_FAILED" {
            assert!(
                v["stack"]["stack_status_reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("IpAddressAlreadyAllocated"),
                "{v}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for u in [&url2, &url, &direct] {
        let r = api
            .http
            .delete(u.as_str())
            .header("X-Auth-Token", &api.token)
            .send()
            .expect("delete");
        assert_eq!(r.status().as_u16(), 204);
        api.wait_stack(u, "DELETE_COMPLETE");
    }
    assert!(cloud.inventory().is_empty(), "{:?}", cloud.inventory());
}
