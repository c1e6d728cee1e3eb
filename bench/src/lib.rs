//! Rebound benchmarks live in `benches/`; see docs/PERFORMANCE.md.
