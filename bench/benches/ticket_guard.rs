//! Criterion benchmarks for the single-use guard and the revocation list.
//!
//! `guard/claim` claims fresh ids (pre-generated outside the timed loop)
//! into a guard of the default configuration (10M claims per generation at
//! 1 %, 47.6 MiB), all filed in one generation: the restart-storm case.
//! Each guard is filled to at most 40 % of its design load before a new
//! one replaces it (outside the timing). `guard/claim_batch32` does the same
//! claims in bursts of 32 through `claim_batch`; its time is per claim.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::TicketReject;
use rebound_engine::ticket::guard::{Claim, GuardConfig, MemoryGuard, SingleUseGuard};
use rebound_engine::ticket::revocation::RevocationList;

const NOW: u64 = 1_700_000_000;
const EXPIRY: u64 = NOW + 3600;
const POOL: usize = 4_000_000;

/// Deterministic pseudo-random ids (SplitMix64).
fn ids(seed: u64, n: usize) -> Vec<TicketId> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&next().to_le_bytes());
            b[8..].copy_from_slice(&next().to_le_bytes());
            TicketId(b)
        })
        .collect()
}

fn new_guard(cfg: &GuardConfig) -> MemoryGuard {
    MemoryGuard::new(cfg.clone(), [0x5e; 16]).expect("guard config")
}

/// Time `iters` claims of ids never claimed before in the current guard,
/// replacing the guard (untimed) when the pool runs out.
fn bench_fresh_claims(c: &mut Criterion, name: &str, cfg: &GuardConfig, pool: &[TicketId]) {
    let mut guard = new_guard(cfg);
    let mut cursor = 0usize;
    let mut g = c.benchmark_group("guard");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                if cursor == pool.len() {
                    guard = new_guard(cfg);
                    cursor = 0;
                }
                let n = left.min(pool.len() - cursor);
                let batch = &pool[cursor..cursor + n];
                let start = Instant::now();
                for id in batch {
                    let _ = black_box(guard.claim(black_box(id), EXPIRY, NOW));
                }
                total += start.elapsed();
                cursor += n;
                left -= n;
            }
            total
        })
    });
    g.finish();
}

/// As [`bench_fresh_claims`], through `claim_batch` in bursts of 32; one
/// criterion iteration is one claim.
fn bench_fresh_batches(c: &mut Criterion, name: &str, cfg: &GuardConfig, pool: &[TicketId]) {
    const BURST: usize = 32;
    let pool: Vec<Claim> = pool
        .iter()
        .map(|&id| Claim { id, expiry: EXPIRY })
        .collect();
    let mut guard = new_guard(cfg);
    let mut cursor = 0usize;
    let mut out = [Ok(()); BURST];
    let mut g = c.benchmark_group("guard");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                if cursor == pool.len() {
                    guard = new_guard(cfg);
                    cursor = 0;
                }
                let n = left.min(pool.len() - cursor);
                let batch = &pool[cursor..cursor + n];
                let start = Instant::now();
                for burst in batch.chunks(BURST) {
                    guard.claim_batch(black_box(burst), NOW, &mut out);
                    black_box(&out);
                }
                total += start.elapsed();
                cursor += n;
                left -= n;
            }
            total
        })
    });
    g.finish();
    let _: Result<(), TicketReject> = out[0];
}

fn guard(c: &mut Criterion) {
    let cfg = GuardConfig::default();
    let bytes = cfg.memory_bytes().expect("guard config");
    let m = cfg.bits_per_generation().expect("guard config");
    println!(
        "guard memory, default config (10M claims per generation, p = 1%, 8 h windows, \
         24 h tickets): {:.2} MiB per generation, {} generations, {:.2} MiB total, k = {}",
        m as f64 / 8.0 / (1 << 20) as f64,
        cfg.generations().expect("guard config"),
        bytes as f64 / (1 << 20) as f64,
        cfg.hash_count().expect("guard config"),
    );

    let pool = ids(1, POOL);
    bench_fresh_claims(c, "claim", &cfg, &pool);
    bench_fresh_batches(c, "claim_batch32", &cfg, &pool);

    // The same work on a filter that fits in L2 (100k claims, 124 KiB per
    // generation): the cost without cache misses.
    let small = GuardConfig {
        claims_per_generation: 100_000,
        ..GuardConfig::default()
    };
    bench_fresh_claims(c, "claim_small_filter", &small, &pool[..40_000]);

    // is_claimed on a guard holding 4M claims: ids that were claimed
    // (every probe is read) and ids that were not (stops at the first
    // clear bit).
    let guard = new_guard(&cfg);
    for id in &pool {
        let _ = guard.claim(id, EXPIRY, NOW);
    }
    let fresh = ids(2, 1 << 20);
    let mut g = c.benchmark_group("guard");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("is_claimed_hit", |b| {
        b.iter(|| {
            i = (i + 1) % pool.len();
            guard.is_claimed(black_box(&pool[i]), EXPIRY, NOW)
        })
    });
    let mut j = 0usize;
    g.bench_function("is_claimed_miss", |b| {
        b.iter(|| {
            j = (j + 1) & ((1 << 20) - 1);
            guard.is_claimed(black_box(&fresh[j]), EXPIRY, NOW)
        })
    });
    g.finish();
}

fn revocation(c: &mut Criterion) {
    let id = TicketId([7; 16]);
    let who = b"\x03alice@example.com";
    let mut g = c.benchmark_group("revocation");
    g.throughput(Throughput::Elements(1));
    let empty = RevocationList::new(100_000);
    g.bench_function("check_empty", |b| {
        b.iter(|| empty.check(black_box(&id), black_box(who), NOW - 10, NOW))
    });
    // 10k revoked tickets and 10k revoked identities; the checked ticket is
    // in neither (the common case: SHA-256 of the identity, two lookups).
    let full = RevocationList::new(100_000);
    for (k, t) in ids(3, 10_000).into_iter().enumerate() {
        full.revoke_ticket(t, NOW + 3600).expect("room");
        full.revoke_identity(
            format!("\x03user{k}@example.com").as_bytes(),
            NOW,
            NOW + 3600,
        )
        .expect("room");
    }
    g.bench_function("check_20k_entries", |b| {
        b.iter(|| full.check(black_box(&id), black_box(who), NOW - 10, NOW))
    });
    g.finish();
}

criterion_group!(benches, guard, revocation);
criterion_main!(benches);
