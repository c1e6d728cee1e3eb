//! The hot paths allocate nothing: the parse, and the responder's
//! IKE_SESSION_RESUME stage in steady state. Counted with a global allocator,
//! per thread, so tests running in parallel do not see each other.

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
