//! Measure the emulator on loopback: cluster start-up time and request latency.
//!
//! `cargo run -p kube-emu --example measure` (bounded: 200 requests per kind, loopback only).

use kube_emu::harness::LocalCluster;
use std::time::{Duration, Instant};

fn pct(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        p(0.5),
        p(0.95),
        p(1.0)
    )
}

fn main() -> anyhow::Result<()> {
    let t = Instant::now();
    let c = LocalCluster::start()?;
    println!(
        "LocalCluster::start (etcd + API server ready): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(c.ca_pem.as_bytes())?)
        .no_proxy()
        .build()?;
    let auth = format!("Bearer {}", c.admin_token);
    let n = 200;
    let mut create = Vec::new();
    for i in 0..n {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"PersistentVolume","metadata":{{"name":"pv{i}","labels":{{"i":"{i}"}}}},"spec":{{"capacity":{{"storage":"1Gi"}},"accessModes":["ReadWriteMany"],"nfs":{{"server":"198.18.0.10","path":"/v/{i}"}}}}}}"#
        );
        let t = Instant::now();
        let r = http
            .post(format!("{}/api/v1/persistentvolumes", c.api.url))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body)
            .send()?;
        anyhow::ensure!(r.status() == 201, "create: {}", r.status());
        create.push(t.elapsed());
    }
    let mut get = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let r = http
            .get(format!("{}/api/v1/persistentvolumes/pv{i}", c.api.url))
            .header("authorization", &auth)
            .send()?;
        anyhow::ensure!(r.status() == 200);
        get.push(t.elapsed());
    }
    let mut list = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let r = http
            .get(format!(
                "{}/api/v1/persistentvolumes?labelSelector=i%3D7",
                c.api.url
            ))
            .header("authorization", &auth)
            .send()?;
        anyhow::ensure!(r.status() == 200);
        list.push(t.elapsed());
    }
    let mut patch = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let r = http
            .patch(format!("{}/api/v1/persistentvolumes/pv{i}", c.api.url))
            .header("authorization", &auth)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"metadata":{"labels":{"patched":"yes"}}}"#)
            .send()?;
        anyhow::ensure!(r.status() == 200);
        patch.push(t.elapsed());
    }
    println!("create PV ({n}): {}", pct(create));
    println!("get PV ({n}): {}", pct(get));
    println!("list 200 PVs with label selector (50): {}", pct(list));
    println!("merge-patch PV ({n}): {}", pct(patch));
    let t = Instant::now();
    let o = c.kubectl(&["get", "pv", "pv1", "-o", "name"])?;
    anyhow::ensure!(o.status.success());
    println!(
        "kubectl get pv (process incl. discovery): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
