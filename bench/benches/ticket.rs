//! Ticket seal and open with the plain crates (aes-gcm), one 150-byte
//! by-value ticket at a time and as a batch of 64. Figures in
//! docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_engine::ticket::format::{
    MAX_VALUE_TICKET_LEN, OpenContext, OpenSlot, TicketKind, open_batch, open_into, seal,
};

fn ticket(c: &mut Criterion) {
    let (ring, mut state, now) = rebound_bench::ticket_fixture();
    // Ticket ids from a counter: the bench measures sealing, not the OS RNG.
    let mut n = 0u128;
    let mut rng = move |b: &mut [u8]| {
        n += 1;
        b.copy_from_slice(&n.to_le_bytes()[..b.len()]);
    };
    let mut buf = vec![0u8; MAX_VALUE_TICKET_LEN];
    let n = seal(
        TicketKind::ByValue,
        &mut state,
        &ring,
        None,
        &mut rng,
        now,
        &mut buf,
    )
    .expect("seal");
    let t = buf[..n].to_vec();
    assert_eq!(t.len(), rebound_bench::TICKET_LEN);
    let ctx = OpenContext::default();
    let mut one = OpenSlot::default();

    let mut g = c.benchmark_group("ticket");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seal_by_value_150B", |b| {
        b.iter(|| {
            seal(
                TicketKind::ByValue,
                black_box(&mut state),
                &ring,
                None,
                &mut rng,
                now,
                &mut buf,
            )
        })
    });
    g.bench_function("open_by_value_150B", |b| {
        b.iter(|| open_into(black_box(&t), &ring, &ctx, now, &mut one.state))
    });
    let batch: Vec<&[u8]> = (0..64).map(|_| &t[..]).collect();
    let mut out = vec![OpenSlot::default(); 64];
    g.throughput(Throughput::Elements(64));
    g.bench_function("open_batch_64x150B", |b| {
        b.iter(|| open_batch(black_box(&batch), &ring, &ctx, now, &mut out))
    });
    g.finish();
}

criterion_group!(benches, ticket);
criterion_main!(benches);
