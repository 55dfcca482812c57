//! Stack lifecycle benchmark (not a test): wall time through the HTTP API for the
//! sample package's `simple` (4 servers, 1 volume) and `complex` (6 servers, VIP)
//! flavours: create → CREATE_COMPLETE, one worker scale-out and scale-in, heal of the
//! storage server, delete → DELETE_COMPLETE. Needs root.
//! Run: `cargo bench -p openstack-emu --bench stack [-- ROUNDS]` (default 3 rounds).
//! Prints one JSON line per flavour and a table on stderr (median seconds).

use openstack_emu::{Cloud, CloudConfig};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

struct Api {
    http: Client,
    token: String,
    heat: String,
}

impl Api {
    fn login(cloud: &Cloud) -> Api {
        let c = cloud.credentials();
        let http = Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .expect("client");
        let r = http
            .post(format!("{}/auth/tokens", c.auth_url))
            .json(
                &json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": c.app_cred_id, "secret": c.app_cred_secret}}}}),
            )
            .send()
            .expect("auth");
        let token = r.headers()["x-subject-token"]
            .to_str()
            .expect("token")
            .to_string();
        let heat = format!("http://{}/heat-api/v1/{}", cloud.addr(), c.project_id);
        Api { http, token, heat }
    }

    fn call(&self, m: reqwest::Method, url: &str, body: Option<&Value>) -> Value {
        let mut rq = self
            .http
            .request(m, url)
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            rq = rq.json(b);
        }
        let r = rq.send().expect("request");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.json().unwrap_or(Value::Null)
    }

    fn wait(&self, url: &str, pointer: &str, want: &str) {
        loop {
            let v = self.call(reqwest::Method::GET, url, None);
            let st = v.pointer(pointer).and_then(Value::as_str).unwrap_or("");
            if st == want {
                return;
            }
            assert!(!st.ends_with("FAILED"), "{url}: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sample(request: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let v = vnf_package::validate::validate(
        &root.join("samples/packages/k8s_cluster_with_pv"),
        Some(&root.join("samples/requests").join(request)),
        &Default::default(),
    )
    .expect("sample package");
    let (Some(vnfd), Some(req)) = (v.vnfd, v.request) else {
        panic!("sample invalid");
    };
    let b = hot_templates::generate(
        &vnfd,
        &req.flavour_id,
        req.instantiation_level_id.as_deref(),
        &req,
    )
    .expect("bundle");
    let files: serde_json::Map<String, Value> = b
        .files
        .iter()
        .map(|(k, t)| (k.clone(), json!(t.to_yaml().expect("yaml"))))
        .collect();
    json!({"template": b.top_yaml().expect("yaml"), "files": files, "parameters": b.parameters})
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let cloud = Cloud::start(CloudConfig {
        volume_bytes_per_gb: (1 << 30) / 5,
        ..Default::default()
    })
    .expect("cloud");
    let api = Api::login(&cloud);
    eprintln!("flavour  servers  create_s  scale_out_s  scale_in_s  heal_s  delete_s");
    for (flavour, request, servers) in [
        ("simple", "instantiate_simple_pv.json", 4),
        ("complex", "instantiate_complex_pv.json", 6),
    ] {
        let bundle = sample(request);
        let mut t: [Vec<f64>; 5] = Default::default();
        for round in 0..rounds {
            let mut body = bundle.clone();
            body["stack_name"] = json!(format!("bench-{flavour}-{round}"));
            let s = Instant::now();
            let v = api.call(
                reqwest::Method::POST,
                &format!("{}/stacks", api.heat),
                Some(&body),
            );
            let url = v["stack"]["links"][0]["href"]
                .as_str()
                .expect("link")
                .to_string();
            api.wait(&url, "/stack/stack_status", "CREATE_COMPLETE");
            t[0].push(s.elapsed().as_secs_f64());
            for (i, policy) in [
                (1, "worker_instance_scale_out"),
                (2, "worker_instance_scale_in"),
            ] {
                let s = Instant::now();
                let p = format!("{url}/resources/{policy}");
                api.call(
                    reqwest::Method::POST,
                    &format!("{p}/signal"),
                    Some(&json!({})),
                );
                api.wait(&p, "/resource/resource_status", "SIGNAL_COMPLETE");
                t[i].push(s.elapsed().as_secs_f64());
            }
            let s = Instant::now();
            api.call(
                reqwest::Method::PATCH,
                &format!("{url}/resources/storage_server"),
                Some(&json!({"mark_unhealthy": true})),
            );
            api.call(reqwest::Method::PATCH, &url, Some(&json!({})));
            api.wait(&url, "/stack/stack_status", "UPDATE_COMPLETE");
            t[3].push(s.elapsed().as_secs_f64());
            let s = Instant::now();
            api.call(reqwest::Method::DELETE, &url, None);
            api.wait(&url, "/stack/stack_status", "DELETE_COMPLETE");
            t[4].push(s.elapsed().as_secs_f64());
        }
        let m: Vec<f64> = t.into_iter().map(median).collect();
        eprintln!(
            "{flavour:8} {servers:8} {:9.2} {:12.2} {:11.2} {:7.2} {:9.2}",
            m[0], m[1], m[2], m[3], m[4]
        );
        println!(
            "{}",
            json!({"type": "stack_lifecycle", "flavour": flavour, "servers": servers, "rounds": rounds,
                   "create_s": m[0], "scale_out_s": m[1], "scale_in_s": m[2], "heal_server_s": m[3], "delete_s": m[4]})
        );
    }
}
