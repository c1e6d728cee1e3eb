//! Multi-buffer SHA-256: many independent messages hashed together.
//!
//! The kernels compress one 64-byte block into each of `width()`
//! independent states at once ([`Sha256Kernel`]). [`sha256_many`] feeds
//! them from messages of any lengths, each given as a list of parts that
//! are concatenated: a lane whose message ends is refilled with the next
//! message, and once no message is left the stragglers run on whichever
//! kernel the calibration found cheapest for that many lanes.
//!
//! Which kernel is used is decided by measurement at first use
//! ([`calibration`]), cached for the life of the process.

use std::sync::OnceLock;
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scheduler;
#[cfg(target_arch = "x86_64")]
mod shani;

pub(crate) use scheduler::{Msg, Policy, compress_refs, hash_jobs};

/// The round constants (FIPS 180-4 §4.2.2).
pub(crate) static K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The initial hash value (FIPS 180-4 §5.3.3).
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The widest kernel's lane count: the most blocks one kernel call takes.
pub const MAX_LANES: usize = 16;

/// A SHA-256 compression kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sha256Kernel {
    /// `sha2::compress256`, one block at a time (the RustCrypto crate,
    /// which uses SHA-NI itself when it finds it).
    Portable,
    /// SHA-NI, one stream.
    ShaNi,
    /// SHA-NI, two streams interleaved.
    ShaNi2,
    /// SHA-NI, four streams interleaved.
    ShaNi4,
    /// SHA-NI, eight streams interleaved.
    ShaNi8,
    /// AVX2, eight messages in the eight 32-bit lanes of a ymm register.
    Avx2x8,
    /// AVX-512, sixteen messages in the sixteen 32-bit lanes of a zmm.
    Avx512x16,
}

impl Sha256Kernel {
    /// Every kernel, whether this CPU runs it or not.
    pub const ALL: [Sha256Kernel; 7] = [
        Sha256Kernel::Portable,
        Sha256Kernel::ShaNi,
        Sha256Kernel::ShaNi2,
        Sha256Kernel::ShaNi4,
        Sha256Kernel::ShaNi8,
        Sha256Kernel::Avx2x8,
        Sha256Kernel::Avx512x16,
    ];

    /// How many independent blocks one call compresses.
    pub const fn width(self) -> usize {
        match self {
            Sha256Kernel::Portable | Sha256Kernel::ShaNi => 1,
            Sha256Kernel::ShaNi2 => 2,
            Sha256Kernel::ShaNi4 => 4,
            Sha256Kernel::ShaNi8 | Sha256Kernel::Avx2x8 => 8,
            Sha256Kernel::Avx512x16 => 16,
        }
    }

    /// A short name for logs and benchmark ids.
    pub const fn name(self) -> &'static str {
        match self {
            Sha256Kernel::Portable => "portable",
            Sha256Kernel::ShaNi => "sha_ni",
            Sha256Kernel::ShaNi2 => "sha_ni_x2",
            Sha256Kernel::ShaNi4 => "sha_ni_x4",
            Sha256Kernel::ShaNi8 => "sha_ni_x8",
            Sha256Kernel::Avx2x8 => "avx2_x8",
            Sha256Kernel::Avx512x16 => "avx512_x16",
        }
    }

    /// This CPU can run the kernel (always true for `Portable`; false for
    /// every other one when `REBOUND_KERNELS=portable`).
    pub fn is_available(self) -> bool {
        let f = crate::cpu::features();
        match self {
            Sha256Kernel::Portable => true,
            Sha256Kernel::ShaNi
            | Sha256Kernel::ShaNi2
            | Sha256Kernel::ShaNi4
            | Sha256Kernel::ShaNi8 => f.sha_ni,
            Sha256Kernel::Avx2x8 => f.avx2,
            Sha256Kernel::Avx512x16 => f.avx512 && f.avx2,
        }
    }

    /// The kernels this CPU can run, `Portable` first.
    pub fn available() -> impl Iterator<Item = Sha256Kernel> {
        Sha256Kernel::ALL.into_iter().filter(|k| k.is_available())
    }

    fn assert_available(self) {
        assert!(
            self.is_available(),
            "the {} SHA-256 kernel is not available on this CPU",
            self.name()
        );
    }
}

/// Compresses `blocks[i]` into `states[i]` for every `i`, with kernel `k`;
/// at most `k.width()` of them. Narrower groups run with dummy lanes.
fn run(k: Sha256Kernel, states: &mut [[u32; 8]], blocks: &[&[u8; 64]]) {
    debug_assert_eq!(states.len(), blocks.len());
    debug_assert!(states.len() <= k.width());
    k.assert_available();
    match k {
        Sha256Kernel::Portable => {
            for (s, b) in states.iter_mut().zip(blocks) {
                let b = sha2::digest::generic_array::GenericArray::from_slice(&b[..]);
                sha2::compress256(s, core::slice::from_ref(b));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::ShaNi => padded::<1>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<1>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::ShaNi2 => padded::<2>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<2>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::ShaNi4 => padded::<4>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<4>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::ShaNi8 => padded::<8>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<8>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::Avx2x8 => padded::<8>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has AVX2.
            unsafe { avx2::compress8(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha256Kernel::Avx512x16 => padded::<16>(states, blocks, |s, b| {
            // SAFETY: `assert_available` above checked that the CPU has
            // AVX-512F and AVX2.
            unsafe { avx512::compress16(s, b) }
        }),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable kernel is available off x86_64"),
    }
}

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// Runs `f` on exactly `W` lanes: directly when there are `W`, else on a
/// copy with dummy lanes whose results are dropped.
#[inline(always)]
fn padded<const W: usize>(
    states: &mut [[u32; 8]],
    blocks: &[&[u8; 64]],
    f: impl FnOnce(&mut [[u32; 8]; W], &[&[u8; 64]; W]),
) {
    let n = states.len();
    if n == W {
        f(states.try_into().unwrap(), blocks.try_into().unwrap());
    } else {
        let mut s = [IV; W];
        let mut b = [&ZERO_BLOCK; W];
        s[..n].copy_from_slice(states);
        b[..n].copy_from_slice(blocks);
        f(&mut s, &b);
        states.copy_from_slice(&s[..n]);
        // The copies may be HMAC key states.
        for x in &mut s[..n] {
            zeroize::Zeroize::zeroize(x);
        }
    }
}

/// The calibration's figures: ns per block of every available kernel at
/// full occupancy, and the kernel to use for each number of busy lanes.
#[derive(Debug, Clone)]
pub struct Calibration {
    ns: [Option<f64>; 7],
    chosen: Sha256Kernel,
    best_for: [Sha256Kernel; MAX_LANES + 1],
}

impl Calibration {
    /// The kernel with the lowest ns per block at full occupancy.
    pub fn chosen(&self) -> Sha256Kernel {
        self.chosen
    }

    /// The measured ns per block of `k` (None when not available).
    pub fn ns_per_block(&self, k: Sha256Kernel) -> Option<f64> {
        self.ns[k as usize]
    }

    /// Every available kernel with its measured ns per block.
    pub fn entries(&self) -> impl Iterator<Item = (Sha256Kernel, f64)> + '_ {
        Sha256Kernel::ALL
            .into_iter()
            .filter_map(|k| self.ns_per_block(k).map(|ns| (k, ns)))
    }

    /// The kernel for `busy` lanes (1..=16): the least ns per step, a step
    /// costing `ceil(busy / width)` full calls of the kernel.
    pub(crate) fn best_for(&self, busy: usize) -> Sha256Kernel {
        self.best_for[busy.clamp(1, MAX_LANES)]
    }

    fn measure() -> Calibration {
        let c = crate::calibrate::choose::<Sha256Kernel, 7>(time_kernel);
        Calibration {
            ns: c.ns,
            chosen: c.chosen,
            best_for: c.best_for,
        }
    }
}

impl crate::calibrate::LaneKernel for Sha256Kernel {
    const PORTABLE: Self = Sha256Kernel::Portable;
    fn width(self) -> usize {
        Sha256Kernel::width(self)
    }
    fn index(self) -> usize {
        self as usize
    }
    fn available_kernels() -> impl Iterator<Item = Self> {
        Sha256Kernel::available()
    }
}

/// ns per block of `k` at full occupancy: the best of a few short runs.
/// Successive calls compress into different states, as in a batch: the
/// CPU may overlap them (a single stream gains from this too).
fn time_kernel(k: Sha256Kernel) -> f64 {
    let w = k.width();
    let mut blocks = [[0u8; 64]; MAX_LANES];
    for (i, b) in blocks.iter_mut().enumerate() {
        for (j, x) in b.iter_mut().enumerate() {
            *x = (i * 64 + j).wrapping_mul(0x9d) as u8;
        }
    }
    let refs: [&[u8; 64]; MAX_LANES] = core::array::from_fn(|i| &blocks[i]);
    let mut states = [IV; 4 * MAX_LANES];
    let calls = 1024 / w;
    let mut best = f64::INFINITY;
    for rep in 0..4 {
        let t = Instant::now();
        for c in 0..calls {
            let at = (c * w) % (4 * MAX_LANES);
            run(k, &mut states[at..at + w], &refs[..w]);
        }
        let el = t.elapsed().as_nanos() as f64 / (calls * w) as f64;
        std::hint::black_box(&states);
        if rep > 0 {
            best = best.min(el);
        }
    }
    best
}

/// The calibration, measured at first use (a few milliseconds) and cached.
/// Under `REBOUND_KERNELS=portable` only the portable kernel is measured
/// and chosen.
pub fn calibration() -> &'static Calibration {
    static C: OnceLock<Calibration> = OnceLock::new();
    C.get_or_init(Calibration::measure)
}

/// The kernel [`sha256_many`] uses at full occupancy, picked by
/// measurement at first use.
pub fn chosen() -> Sha256Kernel {
    calibration().chosen()
}

/// Compresses `blocks[i]` into `states[i]` for every `i` (one block per
/// independent state) with the calibrated kernels.
pub fn compress_many(states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    compress_many_policy(Policy::Auto, states, blocks);
}

/// [`compress_many`] with kernel `k` only.
///
/// # Panics
/// When `k` is not available on this CPU, or the lengths differ.
pub fn compress_many_with(k: Sha256Kernel, states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    k.assert_available();
    compress_many_policy(Policy::Fixed(k), states, blocks);
}

fn compress_many_policy(p: Policy, states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    assert_eq!(states.len(), blocks.len(), "one block per state");
    for (s, b) in states.chunks_mut(MAX_LANES).zip(blocks.chunks(MAX_LANES)) {
        let refs: [&[u8; 64]; MAX_LANES] =
            core::array::from_fn(|i| b.get(i).unwrap_or(&ZERO_BLOCK));
        compress_refs(p, s, &refs[..s.len()]);
    }
}

/// Hashes every message (`msgs[i]` is the concatenation of its parts) into
/// `out[i]`, with the calibrated kernels.
///
/// # Panics
/// When `msgs` and `out` differ in length.
pub fn sha256_many(msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    sha256_many_policy(Policy::Auto, msgs, out);
}

/// [`sha256_many`] with kernel `k` only (narrow steps run with dummy
/// lanes).
///
/// # Panics
/// When `k` is not available on this CPU, or the lengths differ.
pub fn sha256_many_with(k: Sha256Kernel, msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    k.assert_available();
    sha256_many_policy(Policy::Fixed(k), msgs, out);
}

fn sha256_many_policy(p: Policy, msgs: &[&[&[u8]]], out: &mut [[u8; 32]]) {
    assert_eq!(msgs.len(), out.len(), "one digest per message");
    hash_jobs(
        p,
        msgs.len(),
        |i| Msg::parts(msgs[i]),
        |_| IV,
        0,
        |i, s| out[i] = digest_bytes(s),
    );
}

/// A state's words as the big-endian digest.
pub(crate) fn digest_bytes(s: &[u32; 8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    for (c, w) in d.chunks_exact_mut(4).zip(s) {
        c.copy_from_slice(&w.to_be_bytes());
    }
    d
}
