//! Whole-package validation time of the sample package (directory and CSAR), with and
//! without digest verification, and with the instantiate request.
//! Target: a few milliseconds. Run with `cargo bench -p mgmt-driver --bench validate`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let pkg = root().join("samples/packages/k8s_cluster_with_pv");
    let req = root().join("samples/requests/instantiate_simple_pv.json");
    let with = mgmt_driver::validate::Options {
        verify_digests: true,
    };
    let without = mgmt_driver::validate::Options {
        verify_digests: false,
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let csar = tmp.path().join("pkg.csar");
    vnf_package::archive::pack(&pkg, &csar, &Default::default()).expect("pack sample");

    let mut g = c.benchmark_group("validate");
    g.bench_function("dir+request", |b| {
        b.iter(|| mgmt_driver::validate::validate(&pkg, Some(&req), &with).expect("validate"))
    });
    g.bench_function("dir+request, no digests", |b| {
        b.iter(|| mgmt_driver::validate::validate(&pkg, Some(&req), &without).expect("validate"))
    });
    g.bench_function("csar+request", |b| {
        b.iter(|| mgmt_driver::validate::validate(&csar, Some(&req), &with).expect("validate"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
