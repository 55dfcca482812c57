//! Lab benchmark (not a test): `vnf-mgmt instantiate` (storage slice,
//! `--skip-pv-registration`) on a vnf-lab with one storage host and N workers.
//!
//! Reports the wall time (median over K runs; the first run formats the volume, the
//! later ones are re-runs that find everything done) and the SSH connections opened per
//! host per operation (target: 1). Connections are counted from the server side: each
//! host's sshd runs as `sshd -D -e`, its stderr goes to `<lab state>/hosts/<name>/log`,
//! and every authenticated login logs one `Accepted <method> for …` line. The count is
//! cross-checked against the `connect` events vnf-mgmt writes.
//!
//! Run: `cargo bench -p mgmt-driver --bench lab_instantiate [-- 1 4 8 runs=3]`.
//! Needs root and the lab; without root, or when run as a test (`cargo test
//! --all-targets`, no `--bench` argument), it prints why it skipped and exits 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use vnf_lab::{Lab, LabSpec};

mod common;
use common::{is_root, repo_root};

const VOL: &str = "0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11";
const PASSWORD: &str = "Bench-Pw-51c0e2";

/// `Accepted …` lines in each host's sshd log.
fn accepted(lab: &Lab) -> BTreeMap<String, usize> {
    lab.hosts()
        .iter()
        .map(|h| {
            let log = lab.state_dir().join("hosts").join(&h.name).join("log");
            let n = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("Accepted "))
                .count();
            (h.name.clone(), n)
        })
        .collect()
}

/// Successful `connect` events per host in an events file.
fn connect_events(path: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["phase"] == "connect"
            && v["outcome"] == "ok"
            && let Some(h) = v["host"].as_str()
        {
            *m.entry(h.to_string()).or_insert(0) += 1;
        }
    }
    m
}

struct Bench {
    lab: Lab,
    dir: tempfile::TempDir,
}

impl Bench {
    fn up(workers: usize) -> anyhow::Result<Bench> {
        let mut spec = LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .password(PASSWORD);
        for i in 1..=workers {
            spec = spec.host(&format!("w{i}"));
        }
        let lab = Lab::up(spec.build())?;
        let dir = tempfile::tempdir()?;
        let b = Bench { lab, dir };
        b.write_inventory(workers)?;
        b.write_request()?;
        std::fs::copy(b.lab.known_hosts(), b.path("known_hosts"))?;
        Ok(b)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_inventory(&self, workers: usize) -> anyhow::Result<()> {
        let s1 = self.lab.host("s1")?.ip;
        let mut inv = format!(
            "format_version: 1\nhosts:\n  - name: s1\n    role: storage\n    ssh: {s1}\n    ports: {{storage_server_CP: {s1}}}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}, device: /dev/vdb}}\n"
        );
        for i in 1..=workers {
            let ip = self.lab.host(&format!("w{i}"))?.ip;
            inv.push_str(&format!(
                "  - name: w{i}\n    role: worker\n    ssh: {ip}\n    ports: {{workerNode_CP2: {ip}}}\n"
            ));
        }
        std::fs::write(self.path("inventory.yaml"), inv)?;
        Ok(())
    }

    fn write_request(&self) -> anyhow::Result<()> {
        common::write_lab_request(&self.lab, PASSWORD, &self.path("request.json"))
    }

    /// One instantiate; returns (seconds, events file).
    fn instantiate(&self, run: usize) -> anyhow::Result<(f64, PathBuf)> {
        let events = self.path(&format!("events-{run}.jsonl"));
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_vnf-mgmt"))
            .current_dir(repo_root())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .arg("instantiate")
            .arg("samples/packages/k8s_cluster_with_pv")
            .arg("-r")
            .arg(self.path("request.json"))
            .arg("-i")
            .arg(self.path("inventory.yaml"))
            .args([
                "--vnf-instance-id",
                "vnf-bench-1",
                "--no-digests",
                "--skip-pv-registration",
            ])
            .arg("--known-hosts")
            .arg(self.path("known_hosts"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--events")
            .arg(&events)
            .output()?;
        let secs = t.elapsed().as_secs_f64();
        if !o.status.success() {
            anyhow::bail!(
                "instantiate failed ({:?}):\n{}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok((secs, events))
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn bench(workers: usize, runs: usize) -> anyhow::Result<()> {
    let b = Bench::up(workers)?;
    let mut times = Vec::new();
    let mut max_per_host = 0usize;
    let mut per_host_runs: Vec<BTreeMap<String, usize>> = Vec::new();
    let mut mismatch = false;
    for run in 0..runs {
        let before = accepted(&b.lab);
        let (secs, events) = b.instantiate(run)?;
        // sshd logs the login before the client proceeds, so the lines are there.
        let after = accepted(&b.lab);
        let per_host: BTreeMap<String, usize> = after
            .iter()
            .map(|(h, n)| {
                (
                    h.clone(),
                    n.saturating_sub(before.get(h).copied().unwrap_or(0)),
                )
            })
            .collect();
        let ev = connect_events(&events);
        for (h, n) in &per_host {
            if ev.get(h).copied().unwrap_or(0) != *n {
                mismatch = true;
            }
            max_per_host = max_per_host.max(*n);
        }
        times.push(secs);
        per_host_runs.push(per_host);
    }
    let first = times.first().copied().unwrap_or(f64::NAN);
    let med = median(&mut times.clone());
    eprintln!(
        "{workers:7}  {runs:4}  {first:7.2}  {med:8.2}  {max_per_host:21}  {}",
        if mismatch { "MISMATCH" } else { "ok" }
    );
    println!(
        "{}",
        serde_json::json!({
            "type": "lab_instantiate_storage", "workers": workers, "hosts": workers + 1,
            "runs": runs, "first_seconds": first, "median_seconds": med,
            "run_seconds": times,
            "ssh_connections_per_host_per_run": per_host_runs,
            "max_ssh_connections_per_host_per_operation": max_per_host,
            "target_connections_per_host": 1,
            "events_agree_with_sshd_log": !mismatch,
        })
    );
    b.lab.down()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("skipped: lab benchmark, run it with cargo bench");
        return;
    }
    if !is_root() {
        println!("skipped: needs root");
        return;
    }
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1, 4, 8];
    }
    let runs = args
        .iter()
        .find_map(|a| a.strip_prefix("runs=").and_then(|v| v.parse().ok()))
        .unwrap_or(3usize)
        .max(1);
    eprintln!("workers  runs  first_s  median_s  max_ssh_conn_per_host  sshd_log_vs_events");
    for n in sizes {
        if let Err(e) = bench(n, runs) {
            eprintln!("lab_instantiate with {n} workers failed: {e:#}");
            std::process::exit(1);
        }
    }
}
