//! Lab-up benchmark (not a test): time to bring up N hosts answering SSH, teardown
//! time, and memory per host (PSS of the host's processes + its tmpfs layers, idle). Run: `cargo bench -p vnf-lab --bench lab_up [-- 10 50]`.
//! Needs root. Prints one JSON line per size and a readable table on stderr.

use std::time::Instant;

use vnf_lab::{Lab, LabSpec};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 50]
    } else {
        sizes
    };
    eprintln!("hosts  up_s   down_s  pss+tmpfs_MiB/host");
    for n in sizes {
        let mut b = LabSpec::builder();
        for i in 0..n {
            b = b.host(&format!("h{i}"));
        }
        let spec = b.build();
        let t = Instant::now();
        let lab = Lab::up(spec).expect("lab up");
        let up = t.elapsed().as_secs_f64();
        // Let the hosts settle (sshd forks nothing until a login).
        std::thread::sleep(std::time::Duration::from_millis(500));
        let sample: Vec<String> = lab
            .hosts()
            .iter()
            .take(10)
            .map(|h| h.name.clone())
            .collect();
        let per_host: f64 = sample
            .iter()
            .map(|h| lab.host_memory_bytes(h).expect("memory") as f64)
            .sum::<f64>()
            / sample.len() as f64;
        let t = Instant::now();
        lab.down().expect("teardown");
        let down = t.elapsed().as_secs_f64();
        eprintln!("{n:5}  {up:5.2}  {down:6.2}  {:18.1}", per_host / 1048576.0);
        println!(
            "{}",
            serde_json::json!({
                "type": "lab_up", "hosts": n, "up_seconds": up, "down_seconds": down,
                "pss_tmpfs_bytes_per_host": per_host as u64,
            })
        );
    }
}
