//! Hash throughput benchmark: our streaming SHA-256 against `sha256sum` on the same file,
//! in the same run, plus parallel digest verification of a package.
//!
//! ```text
//! cargo bench -p vnf-package --bench hash                 # generates a 1 GiB file
//! HASH_BENCH_FILE=/path/to/image cargo bench -p vnf-package --bench hash
//! HASH_BENCH_MIB=256 cargo bench -p vnf-package --bench hash
//! ```
//!
//! Each measurement is the best of three runs (warm page cache), so both tools are
//! compared on CPU throughput rather than disk speed. Target: ratio ≥ 0.9.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vnf_package::Report;
use vnf_package::archive::{Algorithm, Package, hash_bytes, hash_file};

const RUNS: usize = 3;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        let d = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, out));
        }
    }
    match best {
        Some(b) => b,
        None => unreachable!("RUNS > 0"),
    }
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Writes `mib` MiB of pseudo-random (incompressible, non-zero) data.
fn generate(path: &Path, mib: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for b in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b.copy_from_slice(&state.to_le_bytes());
        }
        f.write_all(&chunk)?;
    }
    f.flush()
}

fn sha256sum(path: &Path) -> Option<String> {
    let out = Command::new("sha256sum").arg(path).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// A package of `n` files of `mib` MiB each with a correct manifest.
fn make_package(dir: &Path, n: usize, mib: u64) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir.join("Files"))?;
    let vnfd = "tosca_definitions_version: tosca_simple_yaml_1_2\n";
    std::fs::write(dir.join("vnfd.yaml"), vnfd)?;
    let mut mf = String::from(
        "metadata:\n  vnf_provider_id: C\n  vnf_product_name: P\n  vnf_release_date_time: 2021-01-01T00:00:00Z\n  vnf_package_version: 1\n",
    );
    mf.push_str(&format!(
        "\nSource: vnfd.yaml\nAlgorithm: SHA-256\nHash: {}\n",
        hash_bytes(vnfd.as_bytes(), Algorithm::Sha256)
    ));
    let mut total = 0;
    for i in 0..n {
        let rel = format!("Files/f{i}.bin");
        let p = dir.join(&rel);
        generate(&p, mib)?;
        let (h, size) = hash_file(&p, Algorithm::Sha256)?;
        total += size;
        mf.push_str(&format!("\nSource: {rel}\nAlgorithm: SHA-256\nHash: {h}\n"));
    }
    std::fs::write(dir.join("vnfd.mf"), mf)?;
    Ok(total)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either.
    // Honour a quick mode so `cargo test --all-targets` does not generate 1 GiB.
    if std::env::args().all(|a| a != "--bench") {
        println!("hash bench: run with `cargo bench -p vnf-package --bench hash`");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let (file, generated): (PathBuf, bool) = match std::env::var_os("HASH_BENCH_FILE") {
        Some(p) => (PathBuf::from(p), false),
        None => {
            let mib = std::env::var("HASH_BENCH_MIB")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1024u64);
            let p = tmp.path().join("bench.bin");
            eprintln!("generating {mib} MiB test file …");
            generate(&p, mib)?;
            (p, true)
        }
    };
    let size = std::fs::metadata(&file)?.len();
    println!(
        "file: {} ({:.1} MiB{})",
        file.display(),
        size as f64 / 1048576.0,
        if generated { ", generated" } else { "" }
    );

    let (ours_t, ours) = best(|| hash_file(&file, Algorithm::Sha256));
    let (ours_hash, _) = ours?;
    let ours_mbps = mbps(size, ours_t);
    println!("vnf-package SHA-256 (1 MiB streaming): {ours_mbps:8.1} MB/s  ({ours_t:.2?})");

    let (sys_t, sys) = best(|| sha256sum(&file));
    match sys {
        Some(sys_hash) => {
            let sys_mbps = mbps(size, sys_t);
            println!("sha256sum:                             {sys_mbps:8.1} MB/s  ({sys_t:.2?})");
            println!(
                "ratio vnf-package / sha256sum:         {:8.2}  (target >= 0.90)",
                ours_mbps / sys_mbps
            );
            if sys_hash != ours_hash {
                return Err(
                    format!("digest differs: ours {ours_hash}, sha256sum {sys_hash}").into(),
                );
            }
        }
        None => println!("sha256sum: not available"),
    }

    for alg in [Algorithm::Sha512, Algorithm::Sha224, Algorithm::Sha384] {
        let (t, r) = best(|| hash_file(&file, alg));
        r?;
        println!("vnf-package {alg}: {:8.1} MB/s", mbps(size, t));
    }

    // Parallel verification of a package of several files (rayon, one file per task).
    let n = rayon::current_num_threads().max(2) * 2;
    let pkg_dir = tmp.path().join("pkg");
    let total = make_package(&pkg_dir, n, 64)?;
    let (t, findings) = best(|| {
        let mut r = Report::new();
        match Package::open(&pkg_dir, &mut r) {
            Ok(p) => p.verify_digests(&mut r),
            Err(e) => eprintln!("open failed: {e}"),
        }
        r
    });
    if findings.has_errors() {
        return Err(format!("bench package has errors: {:?}", findings.findings).into());
    }
    println!(
        "verify_digests, {n} files x 64 MiB on {} threads: {:8.1} MB/s ({t:.2?})",
        rayon::current_num_threads(),
        mbps(total, t)
    );
    Ok(())
}
