//! The responder's per-core rate without criterion around it, for `perf`
//! and for a quick look at the spread: passes over the fixture's clients
//! in bursts, one responder throughout (steady state: each pass's
//! half-open SAs expire before the next), then first waves of both
//! exchanges. Prints the median, min and max pass in ns per client.
//!
//! `cargo run --release -p rebound-bench --example resume_rate -- [PASSES] [BURST]`

use std::hint::black_box;
use std::time::Instant;

use rebound_bench::resume::{Exchange, NOW, fixture, responder};
use rebound_engine::time::Timestamp;

fn main() {
    let mut args = std::env::args().skip(1);
    let passes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let burst: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let f = fixture(4096);
    let mut outs = vec![vec![0u8; 2048]; burst];

    // IKE_SESSION_RESUME, steady state.
    let mut gw = responder(&f);
    let mut now = Timestamp::from_secs(NOW);
    let mut per = Vec::new();
    for _ in 0..passes {
        now = now.plus_millis(31_000);
        let start = Instant::now();
        let mut answered = 0usize;
        for chunk in f.clients.chunks(burst) {
            let mut items = f.items(chunk, Exchange::Resume, &mut outs[..]);
            gw.resume_stage(now, &mut items);
            answered += items.iter().filter(|i| i.handled.reply.is_some()).count();
        }
        per.push(start.elapsed().as_nanos() as f64 / f.clients.len() as f64);
        assert_eq!(answered, f.clients.len());
        // Every request made a half-open SA (none refused).
        assert_eq!(gw.half_open(), f.clients.len());
    }
    report("IKE_SESSION_RESUME (steady state)", &mut per);

    // Both exchanges, first wave (the recorded IKE_AUTHs need a fresh
    // responder each pass; its set-up is not timed).
    let mut per = Vec::new();
    for _ in 0..passes.div_ceil(4) {
        let mut gw = responder(&f);
        let now = Timestamp::from_secs(NOW);
        let start = Instant::now();
        let mut resumed = 0usize;
        for chunk in f.clients.chunks(32) {
            let mut items = f.items(chunk, Exchange::Resume, &mut outs[..]);
            gw.resume_stage(now, &mut items);
            drop(items);
            let mut items = f.items(chunk, Exchange::Auth, &mut outs[..]);
            gw.auth_stage(now, &mut items);
            for it in &mut items {
                let sa = it.handled.established.take();
                resumed += usize::from(sa.is_some());
                black_box(sa);
            }
        }
        per.push(start.elapsed().as_nanos() as f64 / f.clients.len() as f64);
        assert_eq!(resumed, f.clients.len());
        drop(gw);
    }
    report("both exchanges (first wave)", &mut per);
}

fn report(what: &str, per: &mut [f64]) {
    per.sort_by(f64::total_cmp);
    let med = per[per.len() / 2];
    println!(
        "{what}: median {med:.0} ns/client ({:.0}/s), min {:.0}, max {:.0}, {} passes",
        1e9 / med,
        per[0],
        per[per.len() - 1],
        per.len()
    );
}
