//! The responder per core: IKE_SESSION_RESUME request to response (ticket
//! opened, keys derived, half-open SA kept, answer built), and both
//! exchanges (plus the IKE_AUTH: SK decrypted, AUTH verified, ticket
//! claimed, child SA and new ticket made, answer protected). Plain crypto
//! crates, AES-256-GCM + PRF-HMAC-SHA256. Figures in docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_bench::resume::{NOW, ResumeFixture, fixture, responder};
use rebound_engine::responder::PacketMeta;
use rebound_engine::time::Timestamp;

const CLIENTS: usize = 4096;

/// Time `iters` operations, each over the next client of the fixture, with
/// a fresh responder (not timed) whenever the fixture's clients are used
/// up; `with_auth` adds each client's IKE_AUTH.
fn run(f: &ResumeFixture, iters: u64, with_auth: bool, out: &mut [u8]) -> Duration {
    let now = Timestamp::from_secs(NOW);
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let take = left.min(f.clients.len());
        let mut gw = responder(f);
        let start = Instant::now();
        for (peer, req, auth) in &f.clients[..take] {
            let meta = PacketMeta {
                peer: *peer,
                local: f.gateway,
            };
            black_box(gw.handle(now, &meta, req, out).reply);
            if with_auth {
                let h = gw.handle(now, &meta, auth, out);
                black_box(h.established);
            }
        }
        total += start.elapsed();
        left -= take;
    }
    total
}

fn responder_bench(c: &mut Criterion) {
    let f = fixture(CLIENTS);
    let mut out = vec![0u8; 4096];
    let mut g = c.benchmark_group("responder");
    g.throughput(Throughput::Elements(1));
    g.bench_function("resume_request_to_response", |b| {
        b.iter_custom(|iters| run(&f, iters, false, &mut out))
    });
    g.bench_function("resume_and_ike_auth", |b| {
        b.iter_custom(|iters| run(&f, iters, true, &mut out))
    });
    g.finish();
}

criterion_group!(benches, responder_bench);
criterion_main!(benches);
