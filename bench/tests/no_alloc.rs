//! The hot-path parse allocates nothing: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut tickets = 0;
    for _ in 0..1000 {
        let f = rebound_bench::parse_resume_request(std::hint::black_box(&req)).unwrap();
        tickets += f.ticket.len();
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(tickets, 172_000);
    assert_eq!(after - before, 0, "parse allocated");
    // The counter works: a Vec does allocate.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(ALLOCS.load(Ordering::Relaxed) > after);
    drop(v);
}
