//! SHA-1 of many already-padded single blocks, for NAT detection
//! (RFC 7296 §2.23: every IKE_SA_INIT and IKE_SESSION_RESUME hashes
//! `SPIi | SPIr | IP | port`, 22 or 34 bytes, i.e. one padded block, four
//! times; a burst of requests has hundreds of such independent hashes).
//!
//! [`sha1_one_block_many`] compresses each block from the initial hash
//! value and returns the digests. The AVX-512 kernel holds sixteen
//! messages, one per 32-bit lane of a zmm register; a group of fewer than
//! sixteen (the stragglers) runs either on it with dummy lanes or block by
//! block on the `sha1` crate (which uses SHA-NI itself when it finds it),
//! whichever the calibration at first use ([`calibration`]) found cheaper.
//!
//! The inputs are public (SPIs, addresses, ports): nothing is wiped.

use std::sync::OnceLock;
use std::time::Instant;

/// The initial hash value (FIPS 180-4 §5.3.1).
pub const IV: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

/// The widest kernel's lane count.
pub const MAX_LANES: usize = 16;

/// A one-block SHA-1 kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sha1Kernel {
    /// `sha1::compress`, one block at a time (the RustCrypto crate, which
    /// uses SHA-NI itself when it finds it).
    Portable,
    /// AVX-512, sixteen blocks in the sixteen 32-bit lanes of a zmm.
    Avx512x16,
}

impl Sha1Kernel {
    /// Every kernel, whether this CPU runs it or not.
    pub const ALL: [Sha1Kernel; 2] = [Sha1Kernel::Portable, Sha1Kernel::Avx512x16];

    /// How many independent blocks one call compresses.
    pub const fn width(self) -> usize {
        match self {
            Sha1Kernel::Portable => 1,
            Sha1Kernel::Avx512x16 => 16,
        }
    }

    /// A short name for logs and benchmark ids.
    pub const fn name(self) -> &'static str {
        match self {
            Sha1Kernel::Portable => "portable",
            Sha1Kernel::Avx512x16 => "avx512_x16",
        }
    }

    /// This CPU can run the kernel (always true for `Portable`; false for
    /// the other one when `REBOUND_KERNELS=portable`).
    pub fn is_available(self) -> bool {
        match self {
            Sha1Kernel::Portable => true,
            Sha1Kernel::Avx512x16 => crate::cpu::features().avx512,
        }
    }

    /// The kernels this CPU can run, `Portable` first.
    pub fn available() -> impl Iterator<Item = Sha1Kernel> {
        Sha1Kernel::ALL.into_iter().filter(|k| k.is_available())
    }

    fn assert_available(self) {
        assert!(
            self.is_available(),
            "the {} SHA-1 kernel is not available on this CPU",
            self.name()
        );
    }
}

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// Hashes `blocks` (at most `k.width()`) into `out` with kernel `k`; a
/// narrower group runs with dummy lanes whose results are dropped.
fn run(k: Sha1Kernel, blocks: &[[u8; 64]], out: &mut [[u8; 20]]) {
    debug_assert_eq!(blocks.len(), out.len());
    debug_assert!(blocks.len() <= k.width());
    k.assert_available();
    match k {
        Sha1Kernel::Portable => {
            for (b, o) in blocks.iter().zip(out.iter_mut()) {
                let mut s = IV;
                sha1::compress(&mut s, &[(*b).into()]);
                *o = digest_bytes(&s);
            }
        }
        #[cfg(target_arch = "x86_64")]
        Sha1Kernel::Avx512x16 => {
            let n = blocks.len();
            let refs: [&[u8; 64]; 16] =
                core::array::from_fn(|i| blocks.get(i).unwrap_or(&ZERO_BLOCK));
            let mut s = [[0u32; 16]; 5];
            // SAFETY: `assert_available` above checked that the CPU has
            // AVX-512F and AVX-512BW.
            unsafe { avx512::hash16(&refs, &mut s) };
            for (i, o) in out.iter_mut().enumerate().take(n) {
                *o = digest_bytes(&core::array::from_fn(|j| s[j][i]));
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable kernel is available off x86_64"),
    }
}

/// A state's words as the big-endian digest.
fn digest_bytes(s: &[u32; 5]) -> [u8; 20] {
    let mut d = [0u8; 20];
    for (c, w) in d.chunks_exact_mut(4).zip(s) {
        c.copy_from_slice(&w.to_be_bytes());
    }
    d
}

/// The calibration's figures: ns per block of every available kernel at
/// full occupancy, the kernel chosen, and the kernel for each number of
/// stragglers.
#[derive(Debug, Clone)]
pub struct Calibration {
    ns: [Option<f64>; 2],
    chosen: Sha1Kernel,
    best_for: [Sha1Kernel; MAX_LANES + 1],
}

impl Calibration {
    /// The kernel with the lowest ns per block at full occupancy.
    pub fn chosen(&self) -> Sha1Kernel {
        self.chosen
    }

    /// The measured ns per block of `k` (None when not available).
    pub fn ns_per_block(&self, k: Sha1Kernel) -> Option<f64> {
        self.ns[k as usize]
    }

    /// Every available kernel with its measured ns per block.
    pub fn entries(&self) -> impl Iterator<Item = (Sha1Kernel, f64)> + '_ {
        Sha1Kernel::ALL
            .into_iter()
            .filter_map(|k| self.ns_per_block(k).map(|ns| (k, ns)))
    }

    /// The kernel for a group of `n` blocks (1..=16): the least ns for the
    /// group, a kernel costing `ceil(n / width)` full calls.
    pub fn best_for(&self, n: usize) -> Sha1Kernel {
        self.best_for[n.clamp(1, MAX_LANES)]
    }

    fn measure() -> Calibration {
        let c = crate::calibrate::choose::<Sha1Kernel, 2>(time_kernel);
        Calibration {
            ns: c.ns,
            chosen: c.chosen,
            best_for: c.best_for,
        }
    }
}

impl crate::calibrate::LaneKernel for Sha1Kernel {
    const PORTABLE: Self = Sha1Kernel::Portable;
    fn width(self) -> usize {
        Sha1Kernel::width(self)
    }
    fn index(self) -> usize {
        self as usize
    }
    fn available_kernels() -> impl Iterator<Item = Self> {
        Sha1Kernel::available()
    }
}

/// ns per block of `k` at full occupancy: the best of a few short runs.
fn time_kernel(k: Sha1Kernel) -> f64 {
    let w = k.width();
    let mut blocks = [[0u8; 64]; MAX_LANES];
    for (i, b) in blocks.iter_mut().enumerate() {
        for (j, x) in b.iter_mut().enumerate() {
            *x = (i * 64 + j).wrapping_mul(0x9d) as u8;
        }
    }
    let mut out = [[0u8; 20]; 4 * MAX_LANES];
    let calls = 1024 / w;
    let mut best = f64::INFINITY;
    for rep in 0..4 {
        let t = Instant::now();
        for c in 0..calls {
            let at = (c * w) % (4 * MAX_LANES);
            run(k, std::hint::black_box(&blocks[..w]), &mut out[at..at + w]);
        }
        let el = t.elapsed().as_nanos() as f64 / (calls * w) as f64;
        std::hint::black_box(&out);
        if rep > 0 {
            best = best.min(el);
        }
    }
    best
}

/// The calibration, measured at first use (well under a millisecond) and
/// cached. Under `REBOUND_KERNELS=portable` only the portable kernel is
/// measured and chosen.
pub fn calibration() -> &'static Calibration {
    static C: OnceLock<Calibration> = OnceLock::new();
    C.get_or_init(Calibration::measure)
}

/// The kernel [`sha1_one_block_many`] uses at full occupancy.
pub fn chosen() -> Sha1Kernel {
    calibration().chosen()
}

/// `out[i] = SHA-1` of the message whose padded form (FIPS 180-4 §5.1.1)
/// is the single block `blocks[i]`: one compression from the initial hash
/// value, with the calibrated kernels. Blocks that are not correctly
/// padded give the compression's output all the same.
///
/// # Panics
/// When `blocks` and `out` differ in length.
pub fn sha1_one_block_many(blocks: &[[u8; 64]], out: &mut [[u8; 20]]) {
    assert_eq!(blocks.len(), out.len(), "one digest per block");
    let c = calibration();
    for (b, o) in blocks.chunks(MAX_LANES).zip(out.chunks_mut(MAX_LANES)) {
        let k = c.best_for(b.len());
        for (b, o) in b.chunks(k.width()).zip(o.chunks_mut(k.width())) {
            run(k, b, o);
        }
    }
}

/// [`sha1_one_block_many`] with kernel `k` only (a group narrower than the
/// kernel runs with dummy lanes).
///
/// # Panics
/// When `k` is not available on this CPU, or the lengths differ.
pub fn sha1_one_block_many_with(k: Sha1Kernel, blocks: &[[u8; 64]], out: &mut [[u8; 20]]) {
    k.assert_available();
    assert_eq!(blocks.len(), out.len(), "one digest per block");
    for (b, o) in blocks.chunks(k.width()).zip(out.chunks_mut(k.width())) {
        run(k, b, o);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! Sixteen blocks, one per 32-bit lane: the 16x16 matrix of message
    //! words is transposed in registers, the 80 rounds run on whole zmm
    //! registers (`vprold` for the rotations, `vpternlogd` for Ch, Parity
    //! and Maj and the schedule's three-way xor), and the five state words
    //! are stored lane by lane.

    use core::arch::x86_64::*;

    use super::IV;

    const K: [u32; 4] = [0x5a82_7999, 0x6ed9_eba1, 0x8f1b_bcdc, 0xca62_c1d6];

    /// Transposes sixteen rows of sixteen 32-bit words (row j = block j)
    /// so that element t holds word t of every block.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        // Within each 128-bit lane: pairs, then quads of rows.
        let mut t = [_mm512_setzero_si512(); 16];
        for k in 0..8 {
            t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
        }
        // u[4m + j], 128-bit lane l: word 4l + j of rows 4m..4m+4.
        let mut u = [_mm512_setzero_si512(); 16];
        for m in 0..4 {
            u[4 * m] = _mm512_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
            u[4 * m + 1] = _mm512_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
            u[4 * m + 2] = _mm512_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
            u[4 * m + 3] = _mm512_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
        }
        // A 4x4 transpose of 128-bit lanes for each j.
        let mut o = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let (x0, x1, x2, x3) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
            let v0 = _mm512_shuffle_i32x4::<0x44>(x0, x1);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(x0, x1);
            let v2 = _mm512_shuffle_i32x4::<0x44>(x2, x3);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(x2, x3);
            o[j] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            o[4 + j] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            o[8 + j] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            o[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        o
    }

    /// Compresses `blocks[j]` from the initial hash value for every lane
    /// j; `out[i][j]` is word i of lane j's state.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW (`cpu::features().avx512`).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn hash16(blocks: &[&[u8; 64]; 16], out: &mut [[u32; 16]; 5]) {
        let mut r = [_mm512_setzero_si512(); 16];
        for (rj, b) in r.iter_mut().zip(blocks) {
            // SAFETY: `b` is 64 bytes, the size of the unaligned load.
            *rj = unsafe { _mm512_loadu_si512(b.as_ptr().cast()) };
        }
        let bswap =
            _mm512_broadcast_i32x4(_mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203));
        let mut w = transpose16(r);
        for x in &mut w {
            *x = _mm512_shuffle_epi8(*x, bswap);
        }
        let iv: [__m512i; 5] = core::array::from_fn(|i| _mm512_set1_epi32(IV[i] as i32));
        let mut s = iv;

        macro_rules! round {
            ($t:literal) => {{
                const T: usize = $t;
                if T >= 16 {
                    let x = _mm512_ternarylogic_epi32::<0x96>(
                        w[(T + 13) % 16],
                        w[(T + 8) % 16],
                        w[(T + 2) % 16],
                    );
                    w[T % 16] = _mm512_rol_epi32::<1>(_mm512_xor_si512(x, w[T % 16]));
                }
                let [a, b, c, d, e] = s;
                let f = match T / 20 {
                    0 => _mm512_ternarylogic_epi32::<0xCA>(b, c, d),
                    2 => _mm512_ternarylogic_epi32::<0xE8>(b, c, d),
                    _ => _mm512_ternarylogic_epi32::<0x96>(b, c, d),
                };
                let kw = _mm512_add_epi32(w[T % 16], _mm512_set1_epi32(K[T / 20] as i32));
                let tmp = _mm512_add_epi32(
                    _mm512_add_epi32(_mm512_rol_epi32::<5>(a), f),
                    _mm512_add_epi32(e, kw),
                );
                s = [tmp, a, _mm512_rol_epi32::<30>(b), c, d];
            }};
        }
        macro_rules! rounds {
            ($($t:literal)*) => { $( round!($t); )* };
        }
        rounds!(
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
            20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
            40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59
            60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79
        );
        for ((o, x), v) in out.iter_mut().zip(s).zip(iv) {
            // SAFETY: `o` is 64 bytes, the size of the unaligned store.
            unsafe { _mm512_storeu_si512(o.as_mut_ptr().cast(), _mm512_add_epi32(x, v)) };
        }
    }
}
