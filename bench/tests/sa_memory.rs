//! The control plane holds at most 1 KiB per established SA (issue
//! "hardening"), measured as the process's resident size grows while the
//! slow path adopts 20,000 resumed SAs. Run in release by
//! scripts/test.sh (the fixture's client crypto is slow in debug); alone
//! in its binary, so no other test's memory shows.

#[test]
#[ignore = "release only: scripts/test.sh runs it"]
fn the_control_plane_holds_at_most_1_kib_per_sa() {
    let n = 20_000;
    let (before, after) = rebound_bench::memory::adopt(n);
    let per = after.saturating_sub(before) * 1024 / n as u64;
    println!("{n} SAs: RSS {before} KiB -> {after} KiB, {per} bytes per SA");
    // Something was measured: the SAs do take memory.
    assert!(per > 100, "{per} bytes per SA: the measurement saw nothing");
    assert!(per <= 1024, "{per} bytes per SA");
}
