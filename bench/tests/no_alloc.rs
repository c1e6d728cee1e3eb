//! The hot paths allocate nothing: the parse, and the responder's
//! IKE_SESSION_RESUME stage in steady state. Counted with a global allocator,
//! per thread, so tests running in parallel do not see each other.

// The one `unsafe` here, the counting allocator, is fenced as in the
// crates that hold unsafe (docs/ARCHITECTURE.md, "Unsafe").
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rebound_engine::responder::PacketMeta;
use rebound_engine::time::Timestamp;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations made by this thread so far.
fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn parsing_a_resume_request_does_not_allocate() {
    let req = rebound_bench::resume_request();
    let before = allocs();
    let mut tickets = 0;
    for _ in 0..1000 {
        let f = rebound_bench::parse_resume_request(std::hint::black_box(&req)).unwrap();
        tickets += f.ticket.len();
    }
    let after = allocs();
    assert_eq!(tickets, 172_000);
    assert_eq!(after - before, 0, "parse allocated");
    // The counter works: a Vec does allocate.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocs() > after);
    drop(v);
}

#[test]
fn the_resume_stage_does_not_allocate_in_steady_state() {
    let f = rebound_bench::resume::fixture(256);
    let mut gw = rebound_bench::resume::responder(&f);
    let mut out = vec![0u8; 4096];
    let mut now = Timestamp::from_secs(rebound_bench::resume::NOW);
    let mut pass = |gw: &mut rebound_engine::responder::ResumeResponder, now| {
        let mut answered = 0;
        for (peer, req, _) in &f.clients {
            let meta = PacketMeta {
                peer: *peer,
                local: f.gateway,
            };
            answered += usize::from(gw.handle(now, &meta, req, &mut out).reply.is_some());
        }
        answered
    };
    // The first waves size the slabs, maps and free lists; then every
    // half-open SA expires and the same clients come back.
    for _ in 0..2 {
        assert_eq!(pass(&mut gw, now), 256);
        now = now.plus_millis(31_000);
    }
    let before = allocs();
    assert_eq!(pass(&mut gw, now), 256);
    let after = allocs();
    assert_eq!(
        gw.half_open(),
        256,
        "each request made a half-open SA again"
    );
    assert_eq!(after - before, 0, "the resume stage allocated");
}

/// The resume stage over bursts, as a worker runs it (the batch kernels:
/// ticket decryption, SKEYSEED and prf+ over the burst).
#[test]
fn the_resume_stage_in_bursts_does_not_allocate_in_steady_state() {
    use rebound_bench::resume::Exchange;
    let f = rebound_bench::resume::fixture(512);
    let mut gw = rebound_bench::resume::responder(&f);
    let mut outs = vec![vec![0u8; 2048]; 32];
    let mut now = Timestamp::from_secs(rebound_bench::resume::NOW);
    let mut pass = |gw: &mut rebound_engine::responder::ResumeResponder, now| {
        let (mut answered, mut inside) = (0, 0);
        for chunk in f.clients.chunks(32) {
            let mut items = f.items(chunk, Exchange::Resume, &mut outs[..]);
            // Only the stage's own allocations count (not the test's Vec).
            let a = allocs();
            gw.resume_stage(now, &mut items);
            inside += allocs() - a;
            answered += items.iter().filter(|i| i.handled.reply.is_some()).count();
        }
        (answered, inside)
    };
    for _ in 0..2 {
        assert_eq!(pass(&mut gw, now).0, 512);
        now = now.plus_millis(31_000);
    }
    let (answered, inside) = pass(&mut gw, now);
    assert_eq!(answered, 512);
    assert_eq!(gw.half_open(), 512);
    assert_eq!(inside, 0, "the resume stage allocated");
}
/// Both exchanges, as a worker runs them (the resume stage, then the
/// IKE_AUTH stage, over bursts of 32), after a first wave has sized the
/// tables: the responder allocates nothing. The boxed `EstablishedSa` it
/// hands off comes back (here from the test, in the gateway from the
/// control plane once every sink has it) and the next SA is written into
/// it; a clone of an SA allocates exactly once, so nothing in it (nonces,
/// traffic selectors, ticket) is on the heap. Counted inside the
/// responder's calls only.
#[test]
fn both_exchanges_allocate_nothing_after_a_first_wave() {
    use rebound_bench::resume::Exchange;
    let f = rebound_bench::resume::fixture(1024);
    let mut gw = rebound_bench::resume::responder(&f);
    let mut outs = vec![vec![0u8; 2048]; rebound_bench::resume::RECORD_BURST];
    let mut now = Timestamp::from_secs(rebound_bench::resume::NOW);
    let (warm, measured) = f.clients.split_at(512);
    let mut run = |gw: &mut rebound_engine::responder::ResumeResponder,
                   now,
                   clients: &[(std::net::SocketAddr, Vec<u8>, Vec<u8>)]| {
        let (mut resumed, mut inside, mut cloned) = (0, 0, 0);
        for chunk in clients.chunks(rebound_bench::resume::RECORD_BURST) {
            for exchange in 0..2 {
                let mut items = f.items(
                    chunk,
                    if exchange == 0 {
                        Exchange::Resume
                    } else {
                        Exchange::Auth
                    },
                    &mut outs[..],
                );
                let a = allocs();
                if exchange == 0 {
                    gw.resume_stage(now, &mut items);
                } else {
                    gw.auth_stage(now, &mut items);
                }
                inside += allocs() - a;
                for it in &mut items {
                    assert!(it.handled.reply.is_some());
                    if let Some(sa) = it.handled.established.take() {
                        resumed += 1;
                        let b = allocs();
                        let copy = sa.clone();
                        cloned += allocs() - b;
                        drop(copy);
                        let a = allocs();
                        gw.recycle(sa);
                        inside += allocs() - a;
                    }
                }
            }
        }
        (resumed, inside, cloned)
    };
    assert_eq!(run(&mut gw, now, warm).0, 512);
    // Everything of the first wave expires; the second reuses its slots.
    now = now.plus_millis(31_000);
    let (resumed, inside, cloned) = run(&mut gw, now, measured);
    assert_eq!(resumed, 512);
    assert_eq!(cloned, 512, "an SA is one heap block");
    assert_eq!(
        inside, 0,
        "both exchanges allocated {inside} times for 512 SAs"
    );
}
