//! Criterion benchmarks for the engine's hot paths. Figures and the machine
//! they were measured on are in docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse(c: &mut Criterion) {
    let req = rebound_bench::resume_request();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_resume_request_300B", |b| {
        b.iter(|| rebound_bench::parse_resume_request(black_box(&req)).map(|f| f.ticket.len()))
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
