//! Generation time for the sample flavours (hand-built VNFD mirroring the sample package).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let vnfd = common::vnfd();
    let simple = common::simple_request();
    let complex = common::complex_request();
    c.bench_function("generate simple", |b| {
        b.iter(|| hot_templates::generate(black_box(&vnfd), "simple", None, black_box(&simple)))
    });
    c.bench_function("generate complex", |b| {
        b.iter(|| hot_templates::generate(black_box(&vnfd), "complex", None, black_box(&complex)))
    });
    let bundle = hot_templates::generate(&vnfd, "complex", None, &complex).expect("generates");
    c.bench_function("generate complex + YAML", |b| {
        b.iter(|| {
            let g = hot_templates::generate(black_box(&vnfd), "complex", None, black_box(&complex))
                .expect("generates");
            let mut n = g.top_yaml().map(|s| s.len()).unwrap_or(0);
            for t in g.files.values() {
                n += t.to_yaml().map(|s| s.len()).unwrap_or(0);
            }
            n
        })
    });
    c.bench_function("check_bundle complex", |b| {
        b.iter(|| {
            let mut r = vnf_package::Report::new();
            hot_templates::check_bundle(black_box(&bundle), &mut r);
            r
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
