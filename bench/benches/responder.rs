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

/// How the responder is set up for each pass over the fixture's clients.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    /// A fresh responder (set-up not timed): every half-open SA takes a
    /// new slot, as in the first wave of a storm.
    FirstWave,
    /// One responder throughout; the clock moves past the half-open
    /// timeout between passes, so entries expire and slots are reused
    /// (steady state). Only requests: IKE_AUTH needs the recorded Nr.
    SteadyState,
}

/// Time `iters` operations, each over the next client of the fixture;
/// `with_auth` adds each client's IKE_AUTH.
fn run(f: &ResumeFixture, iters: u64, pass: Pass, with_auth: bool, out: &mut [u8]) -> Duration {
    let mut now = Timestamp::from_secs(NOW);
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    let mut gw = responder(f);
    let mut first = true;
    while left > 0 {
        let take = left.min(f.clients.len());
        if pass == Pass::FirstWave && !first {
            gw = responder(f);
        } else if !first {
            now = now.plus_millis(31_000);
        }
        first = false;
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
        b.iter_custom(|iters| run(&f, iters, Pass::SteadyState, false, &mut out))
    });
    g.bench_function("resume_request_to_response_first_wave", |b| {
        b.iter_custom(|iters| run(&f, iters, Pass::FirstWave, false, &mut out))
    });
    g.bench_function("resume_and_ike_auth_first_wave", |b| {
        b.iter_custom(|iters| run(&f, iters, Pass::FirstWave, true, &mut out))
    });
    g.finish();
}

criterion_group!(benches, responder_bench);
criterion_main!(benches);
