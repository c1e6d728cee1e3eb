//! Criterion benchmarks for the key exchange of a full IKE_SA_INIT: per
//! group, one side's work (a fresh private value and its public value, then
//! g^ir from the peer's public value, which is validated first), and the
//! agreement alone. Figures in docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_bench::resume::seeded;
use rebound_engine::crypto::{DhGroup, DhPrivate};

fn dh(c: &mut Criterion) {
    let mut g = c.benchmark_group("dh");
    g.throughput(Throughput::Elements(1));
    for group in DhGroup::ALL {
        let peer = DhPrivate::generate(group, &mut seeded(0x9ee7));
        let peer_public = peer.public_value().to_vec();
        let mut rng = seeded(0x00d1_ff1e);
        g.bench_function(format!("{}_generate_agree", group.name()), |b| {
            b.iter(|| {
                let own = DhPrivate::generate(black_box(group), &mut rng);
                let shared = own.agree(black_box(&peer_public));
                (own.public_value()[0], shared.map(|s| s.as_bytes()[0]))
            })
        });
        let own = DhPrivate::generate(group, &mut rng);
        g.bench_function(format!("{}_agree", group.name()), |b| {
            b.iter(|| {
                black_box(&own)
                    .agree(black_box(&peer_public))
                    .map(|s| s.as_bytes()[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dh);
criterion_main!(benches);
