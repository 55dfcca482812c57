//! Lab benchmark (not a test): `vnf-mgmt instantiate --install-cluster` of 1 master +
//! N workers (default 20) with a fixed per-node install delay in the kubeadm shim
//! (`VNF_LAB_INSTALL_DELAY_MS`, default 2000 ms for `kubeadm init` and each `kubeadm
//! join`), with the workers in parallel and with `--parallel 1`, against the critical
//! path measured in the same run: 1 master + 1 worker.
//!
//! Target: parallel wall time ≤ 1.3 × the critical path. Reported as ratios, never
//! asserted.
//!
//! Run: `cargo bench -p mgmt-driver --bench cluster_parallel [-- workers=20 delay_ms=2000]`.
//! Needs root and the lab; without root, or when run as a test (no `--bench`
//! argument), it prints why it skipped and exits 0.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use vnf_lab::{Lab, LabSpec};

mod common;
use common::{is_root, repo_root};

const VOL: &str = "0b7e8e4c-3f0f-4c43-9d8e-2c0f6f1f0a11";
const PASSWORD: &str = "Bench-Pw-7d2e41";

/// A lab with `s1`, `m1` and `w1..wN`, the shims with the install delay, the inputs.
struct Bench {
    lab: Lab,
    dir: tempfile::TempDir,
    _shims: kube_emu::harness::TempDir,
    _delay: tempfile::TempDir,
}

impl Bench {
    fn up(workers: usize, delay_ms: u64) -> anyhow::Result<Bench> {
        let mut spec = LabSpec::builder()
            .host_with_volume("s1", VOL, "64M")
            .host("m1")
            .password(PASSWORD);
        for i in 1..=workers {
            spec = spec.host(&format!("w{i}"));
        }
        let lab = Lab::up(spec.build())?;
        let shims = kube_emu::fixture::install_shims(&lab)?;
        // `kubeadm` as a wrapper that sets the install delay (sudo drops the variable
        // from the environment, so it cannot come from the caller).
        let delay = tempfile::tempdir()?;
        std::fs::write(
            delay.path().join("kubeadm"),
            format!(
                "#!/bin/sh\nVNF_LAB_INSTALL_DELAY_MS={delay_ms} exec /opt/vnf-lab/bin/kube-emu kubeadm \"$@\"\n"
            ),
        )?;
        std::fs::set_permissions(
            delay.path().join("kubeadm"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        lab.add_shim(None, delay.path())?;
        // The lab is offline: a Calico-shaped stand-in manifest on the master.
        kube_emu::fixture::install_cni_stand_in(&lab, "m1")?;
        let dir = tempfile::tempdir()?;
        let b = Bench {
            lab,
            dir,
            _shims: shims,
            _delay: delay,
        };
        b.write_request()?;
        Ok(b)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_inventory(&self, name: &str, workers: &[String]) -> anyhow::Result<PathBuf> {
        let s1 = self.lab.host("s1")?.ip;
        let m1 = self.lab.host("m1")?.ip;
        let mut inv = format!(
            "format_version: 1\nhosts:\n  - name: s1\n    role: storage\n    ssh: {s1}\n    ports: {{storage_server_CP: {s1}}}\n    volumes:\n      storage_server_volume: {{cinder_id: {VOL}, device: /dev/vdb}}\n  - name: m1\n    role: master\n    ssh: {m1}\n"
        );
        for w in workers {
            let ip = self.lab.host(w)?.ip;
            inv.push_str(&format!("  - name: {w}\n    role: worker\n    ssh: {ip}\n"));
        }
        let path = self.path(name);
        std::fs::write(&path, inv)?;
        Ok(path)
    }

    fn write_request(&self) -> anyhow::Result<()> {
        common::write_lab_request(&self.lab, PASSWORD, &self.path("request.json"))
    }

    /// Resets the cluster on every node (between measurements) so each instantiate
    /// installs from scratch.
    fn reset(&self, hosts: &[String]) -> anyhow::Result<()> {
        for h in hosts {
            let o = self.lab.exec(h, &["kubeadm", "reset", "-f"])?;
            if !o.status.success() {
                anyhow::bail!(
                    "kubeadm reset on {h}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            self.lab
                .exec(h, &["rm", "-rf", "/etc/kubernetes", "/var/lib/etcd"])?;
        }
        Ok(())
    }

    /// One instantiate with the cluster install; seconds.
    fn instantiate(
        &self,
        inventory: &Path,
        instance: &str,
        parallel: usize,
    ) -> anyhow::Result<f64> {
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
            .arg(inventory)
            .args([
                "--vnf-instance-id",
                instance,
                "--no-digests",
                "--install-cluster",
                "--quiet",
                "--parallel",
                &parallel.to_string(),
            ])
            .arg("--cni-manifest")
            .arg(kube_emu::fixture::CNI_STAND_IN_URL)
            .arg("--known-hosts")
            .arg(self.lab.known_hosts())
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--events")
            .arg(self.path(&format!("{instance}.events.jsonl")))
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
        Ok(secs)
    }
}

/// Where the time of a run went: per step kind (the part of the step id after the host),
/// the sum of the step durations and the longest one, from the events file.
fn breakdown(events: &Path) -> String {
    let mut by: std::collections::BTreeMap<String, (u64, u64, usize)> = Default::default();
    for line in std::fs::read_to_string(events).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(d), Some(phase)) = (v["duration_ms"].as_u64(), v["phase"].as_str()) else {
            continue;
        };
        let kind = match v["step"].as_str() {
            Some(step) => step
                .split_once('/')
                .map(|(_, k)| k)
                .unwrap_or(step)
                .to_string(),
            None => phase.to_string(),
        };
        let e = by.entry(kind).or_default();
        e.0 += d;
        e.1 = e.1.max(d);
        e.2 += 1;
    }
    by.iter()
        .map(|(k, (sum, max, n))| format!("{k}: {n}x, sum {sum} ms, max {max} ms"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn run(workers: usize, delay_ms: u64) -> anyhow::Result<()> {
    let b = Bench::up(workers, delay_ms)?;
    let all: Vec<String> = (1..=workers).map(|i| format!("w{i}")).collect();
    let mut nodes = vec!["m1".to_string()];
    nodes.extend(all.iter().cloned());

    let one = b.write_inventory("one.yaml", &all[..1])?;
    let full = b.write_inventory("full.yaml", &all)?;
    let critical = b.instantiate(&one, "bench-critical", workers + 1)?;
    b.reset(&nodes)?;
    let parallel = b.instantiate(&full, "bench-parallel", workers + 1)?;
    b.reset(&nodes)?;
    let serial = b.instantiate(&full, "bench-serial", 1)?;
    let ratio = parallel / critical;
    eprintln!(
        "where the parallel run's time went: {}",
        breakdown(&b.path("bench-parallel.events.jsonl"))
    );
    eprintln!(
        "1 master + {workers} workers, {delay_ms} ms per kubeadm init/join: critical path (1+1) {critical:.2} s, parallel {parallel:.2} s ({ratio:.2}x the critical path, target <= 1.3), --parallel 1 {serial:.2} s ({:.2}x)",
        serial / critical
    );
    println!(
        "{}",
        serde_json::json!({
            "type": "cluster_install_parallel", "workers": workers, "install_delay_ms": delay_ms,
            "critical_path_seconds": critical, "parallel_seconds": parallel,
            "serial_seconds": serial, "parallel_over_critical_path": ratio,
            "serial_over_critical_path": serial / critical, "target_ratio": 1.3,
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
    let num = |key: &str, default: u64| {
        args.iter()
            .find_map(|a| a.strip_prefix(key).and_then(|v| v.parse().ok()))
            .unwrap_or(default)
    };
    let workers = num("workers=", 20).max(1) as usize;
    let delay_ms = num("delay_ms=", 2000);
    if let Err(e) = run(workers, delay_ms) {
        eprintln!("cluster_parallel: {e:#}");
        std::process::exit(1);
    }
}
