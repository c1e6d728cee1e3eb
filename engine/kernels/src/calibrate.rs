//! Choosing among lane kernels by measurement, shared by `sha256` and
//! `sha1`: each kernel's ns per block at full occupancy is timed, the
//! least is the kernel for full groups, and each smaller group of `n`
//! busy lanes gets the kernel with the least cost for it, a kernel of
//! width `w` costing `ceil(n / w)` full calls (never one wider than the
//! chosen kernel).

/// The most lanes a group has (both hashes' widest kernel).
pub(crate) const MAX_LANES: usize = 16;

/// A family of kernels that hash `width()` independent blocks per call.
pub(crate) trait LaneKernel: Copy {
    /// The kernel every CPU runs.
    const PORTABLE: Self;
    /// Blocks per call.
    fn width(self) -> usize;
    /// Its index in the family's figures.
    fn index(self) -> usize;
    /// The kernels this CPU runs.
    fn available_kernels() -> impl Iterator<Item = Self>;
}

/// What [`choose`] measured and decided.
pub(crate) struct Choice<K, const N: usize> {
    /// ns per block of each available kernel, by index.
    pub ns: [Option<f64>; N],
    /// The least ns per block at full occupancy.
    pub chosen: K,
    /// The kernel for each number of busy lanes (index 0 unused).
    pub best_for: [K; MAX_LANES + 1],
}

/// Time every available kernel with `time` (ns per block) and decide.
pub(crate) fn choose<K: LaneKernel, const N: usize>(time: impl Fn(K) -> f64) -> Choice<K, N> {
    let mut ns = [None; N];
    for k in K::available_kernels() {
        ns[k.index()] = Some(time(k));
    }
    let cost = |k: K, busy: usize| {
        ns[k.index()].map(|t| (busy.div_ceil(k.width()) * k.width()) as f64 * t)
    };
    let least = |it: &mut dyn Iterator<Item = (K, f64)>| {
        it.min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(K::PORTABLE, |(k, _)| k)
    };
    // At full occupancy: the least ns per block.
    let chosen = least(&mut K::available_kernels().filter_map(|k| ns[k.index()].map(|t| (k, t))));
    let mut best_for = [chosen; MAX_LANES + 1];
    for (busy, b) in best_for.iter_mut().enumerate().skip(1) {
        if busy < chosen.width() {
            *b = least(
                &mut K::available_kernels()
                    .filter(|k| k.width() <= chosen.width())
                    .filter_map(|k| cost(k, busy).map(|c| (k, c))),
            );
        }
    }
    Choice {
        ns,
        chosen,
        best_for,
    }
}
