//! Criterion benchmarks for the engine's hot paths. Figures and the machine
//! they were measured on are in docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rebound_engine::crypto::{PrfAlg, PrfKey, prf_plus};

fn parse(c: &mut Criterion) {
    let req = rebound_bench::resume_request();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_resume_request_300B", |b| {
        b.iter(|| rebound_bench::parse_resume_request(black_box(&req)).map(|f| f.ticket.len()))
    });
    g.finish();
}

fn kdf(c: &mut Criterion) {
    // prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) for 168 bytes: the IKE key
    // stream of AES-256-GCM + PRF-SHA256 is 32+0+0+36+36+32+32 = 168.
    let skeyseed = [0x42u8; 32];
    let (ni, nr, spii, spir) = ([0x6bu8; 32], [0x9du8; 32], [1u8; 8], [2u8; 8]);
    let seed: [&[u8]; 4] = [&ni, &nr, &spii, &spir];
    let mut out = [0u8; 168];
    let mut g = c.benchmark_group("kdf");
    g.throughput(Throughput::Elements(1));
    g.bench_function("prf_plus_hmac_sha256_168B", |b| {
        b.iter(|| {
            prf_plus(PrfAlg::HmacSha256, black_box(&skeyseed), &seed, &mut out).map(|_| out[167])
        })
    });
    let key = PrfKey::new(PrfAlg::HmacSha256, &skeyseed);
    g.bench_function("prf_plus_hmac_sha256_168B_prekeyed", |b| {
        b.iter(|| black_box(&key).expand(&seed, &mut out).map(|_| out[167]))
    });
    g.finish();
}

fn sk(c: &mut Criterion) {
    let (msg, off, cipher) = rebound_bench::protected_ike_auth().expect("bench input");
    let mut g = c.benchmark_group("sk");
    g.throughput(Throughput::Bytes(msg.len() as u64));
    g.bench_function("unprotect_aes256gcm_400B", |b| {
        b.iter_batched_ref(
            || msg.clone(),
            |m| cipher.unprotect(m, off).map(|r| r.len()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, parse, kdf, sk);
criterion_main!(benches);
