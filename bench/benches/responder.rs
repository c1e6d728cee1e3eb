//! The responder per core: IKE_SESSION_RESUME request to response (ticket
//! opened, keys derived, half-open SA kept, answer built), and both
//! exchanges (plus the IKE_AUTH: SK decrypted, AUTH verified, ticket
//! claimed, child SA and new ticket made, answer protected). Plain crypto
//! crates, AES-256-GCM + PRF-HMAC-SHA256. Figures in docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_bench::resume::{Exchange, NOW, RECORD_BURST, ResumeFixture, fixture, responder};
use rebound_engine::responder::{PacketMeta, ResumeResponder};
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
/// The responder under test and its clock. In steady state it lives for
/// the whole benchmark, so every pass reuses the slots of the last.
struct Rig {
    gw: ResumeResponder,
    now: Timestamp,
}

impl Rig {
    fn new(f: &ResumeFixture) -> Self {
        Rig {
            gw: responder(f),
            now: Timestamp::from_secs(NOW),
        }
    }

    /// Before a pass over the fixture's clients (not timed): a fresh
    /// responder for a first wave, or the clock moved past the half-open
    /// timeout so the last pass's entries expire.
    fn next_pass(&mut self, f: &ResumeFixture, pass: Pass) {
        match pass {
            Pass::FirstWave => *self = Rig::new(f),
            Pass::SteadyState => self.now = self.now.plus_millis(31_000),
        }
    }
}

fn run(
    f: &ResumeFixture,
    rig: &mut Rig,
    iters: u64,
    pass: Pass,
    with_auth: bool,
    out: &mut [u8],
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let take = left.min(f.clients.len());
        rig.next_pass(f, pass);
        let Rig { gw, now } = rig;
        let now = *now;
        let mut resumed = 0;
        let start = Instant::now();
        // In the order the fixture was recorded: a burst's requests, then
        // (with `with_auth`) its IKE_AUTHs.
        for chunk in f.clients[..take].chunks(RECORD_BURST) {
            for (peer, req, _) in chunk {
                let meta = PacketMeta {
                    peer: *peer,
                    local: f.gateway,
                };
                black_box(gw.handle(now, &meta, req, out).reply);
            }
            if with_auth {
                for (peer, _, auth) in chunk {
                    let meta = PacketMeta {
                        peer: *peer,
                        local: f.gateway,
                    };
                    let h = gw.handle(now, &meta, auth, out);
                    resumed += usize::from(h.established.is_some());
                    black_box(h.established);
                }
            }
        }
        total += start.elapsed();
        // The bench measures resumptions only if they happen.
        assert!(!with_auth || resumed == take, "{resumed} of {take} resumed");
        left -= take;
    }
    total
}

/// Bursts of this many datagrams, as a worker takes them from its queue.
const BURST: usize = RECORD_BURST;

/// As [`run`], but the requests go through the resume stage a burst at a
/// time, as the gateway's workers run them (answers written into a burst
/// of output buffers); `with_auth` then answers that burst's IKE_AUTHs
/// through the IKE_AUTH stage.
fn run_bursts(
    f: &ResumeFixture,
    rig: &mut Rig,
    iters: u64,
    pass: Pass,
    with_auth: bool,
    outs: &mut [Vec<u8>],
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let take = left.min(f.clients.len());
        rig.next_pass(f, pass);
        let Rig { gw, now } = rig;
        let now = *now;
        let mut resumed = 0;
        let start = Instant::now();
        for chunk in f.clients[..take].chunks(BURST) {
            // One allocation per burst (the bench's, not the responder's).
            let mut items = f.items(chunk, Exchange::Resume, &mut outs[..]);
            gw.resume_stage(now, &mut items);
            black_box(items.first().map(|i| i.handled.reply));
            drop(items);
            if with_auth {
                // The burst's IKE_AUTHs through the IKE_AUTH stage.
                let mut items = f.items(chunk, Exchange::Auth, &mut outs[..]);
                gw.auth_stage(now, &mut items);
                for it in &mut items {
                    let sa = it.handled.established.take();
                    resumed += usize::from(sa.is_some());
                    black_box(sa);
                }
            }
        }
        total += start.elapsed();
        // The bench measures resumptions only if they happen.
        assert!(!with_auth || resumed == take, "{resumed} of {take} resumed");
        left -= take;
    }
    total
}

fn responder_bench(c: &mut Criterion) {
    let f = fixture(CLIENTS);
    let mut out = vec![0u8; 4096];
    let mut g = c.benchmark_group("responder");
    g.throughput(Throughput::Elements(1));
    // Made once: criterion calls the closure for every sample.
    let mut rig = Rig::new(&f);
    g.bench_function("resume_request_to_response", |b| {
        b.iter_custom(|iters| run(&f, &mut rig, iters, Pass::SteadyState, false, &mut out))
    });
    // Made once: criterion calls the closure for every sample.
    let mut rig = Rig::new(&f);
    g.bench_function("resume_request_to_response_first_wave", |b| {
        b.iter_custom(|iters| run(&f, &mut rig, iters, Pass::FirstWave, false, &mut out))
    });
    // Made once: criterion calls the closure for every sample.
    let mut rig = Rig::new(&f);
    g.bench_function("resume_and_ike_auth_first_wave", |b| {
        b.iter_custom(|iters| run(&f, &mut rig, iters, Pass::FirstWave, true, &mut out))
    });
    let mut outs = vec![vec![0u8; 2048]; BURST];
    // Made once: criterion calls the closure for every sample.
    let mut rig = Rig::new(&f);
    g.bench_function("resume_stage_burst32", |b| {
        b.iter_custom(|iters| run_bursts(&f, &mut rig, iters, Pass::SteadyState, false, &mut outs))
    });
    // Made once: criterion calls the closure for every sample.
    let mut rig = Rig::new(&f);
    g.bench_function("resume_stage_burst32_and_ike_auth_first_wave", |b| {
        b.iter_custom(|iters| run_bursts(&f, &mut rig, iters, Pass::FirstWave, true, &mut outs))
    });
    g.finish();
}

criterion_group!(benches, responder_bench);
criterion_main!(benches);
