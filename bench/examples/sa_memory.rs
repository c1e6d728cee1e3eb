//! The memory the control plane holds per established SA
//! (`rebound_bench::memory::adopt`).
//!
//! `cargo run --release -p rebound-bench --example sa_memory -- [CLIENTS]`

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let (before, after) = rebound_bench::memory::adopt(n);
    let per = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!("{n} SAs adopted: RSS {before} KiB -> {after} KiB, {per:.0} bytes per SA");
}
