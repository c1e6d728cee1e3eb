//! AVX2 kernel: eight independent messages, one per 32-bit lane. The eight
//! states and the eight blocks are transposed (word t of every lane in one
//! register), the rounds run on whole registers, and the states are
//! transposed back.

use core::arch::x86_64::*;

use super::K;

#[inline]
#[target_feature(enable = "avx2")]
fn rotr<const R: i32, const L: i32>(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_srli_epi32::<R>(x), _mm256_slli_epi32::<L>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

/// Transposes an 8x8 matrix of 32-bit words (row j = lane j).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

/// Loads 32 bytes at `offset` of each of eight blocks, transposed and byte
/// swapped: element t is message word `offset/4 + t` of every lane.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn load_words(blocks: &[&[u8; 64]], offset: usize) -> [__m256i; 8] {
    let bswap = _mm256_set_epi64x(
        0x0c0d_0e0f_0809_0a0b,
        0x0405_0607_0001_0203,
        0x0c0d_0e0f_0809_0a0b,
        0x0405_0607_0001_0203,
    );
    let mut r = [_mm256_setzero_si256(); 8];
    for (j, rj) in r.iter_mut().enumerate() {
        let b: &[u8; 32] = blocks[j][offset..offset + 32].try_into().unwrap();
        // SAFETY: `b` is 32 bytes, the size of the unaligned load.
        *rj = unsafe { _mm256_loadu_si256(b.as_ptr().cast()) };
    }
    let mut t = transpose8(r);
    for x in &mut t {
        *x = _mm256_shuffle_epi8(*x, bswap);
    }
    t
}

/// Loads eight states transposed: element i is word i of every lane.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn load_states(states: &[[u32; 8]]) -> [__m256i; 8] {
    let mut r = [_mm256_setzero_si256(); 8];
    for (j, rj) in r.iter_mut().enumerate() {
        // SAFETY: `states[j]` is 32 bytes, the size of the unaligned load.
        *rj = unsafe { _mm256_loadu_si256(states[j].as_ptr().cast()) };
    }
    transpose8(r)
}

/// Stores eight transposed states back.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn store_states(v: [__m256i; 8], states: &mut [[u32; 8]]) {
    let r = transpose8(v);
    for (j, rj) in r.iter().enumerate() {
        // SAFETY: `states[j]` is 32 bytes, the size of the unaligned store.
        unsafe { _mm256_storeu_si256(states[j].as_mut_ptr().cast(), *rj) };
    }
}

/// Compresses one block into each of eight states.
///
/// # Safety
/// The CPU must support AVX2 (`cpu::features().avx2`).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn compress8(states: &mut [[u32; 8]; 8], blocks: &[&[u8; 64]; 8]) {
    let lo = load_words(blocks, 0);
    let hi = load_words(blocks, 32);
    let mut w = [
        lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], hi[0], hi[1], hi[2], hi[3], hi[4],
        hi[5], hi[6], hi[7],
    ];
    let s0 = load_states(states);
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = s0;

    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $t:expr, $s:literal) => {
            if $t >= 16 {
                let w15 = w[($s + 1) % 16];
                let w2 = w[($s + 14) % 16];
                let sig0 = xor3(
                    rotr::<7, 25>(w15),
                    rotr::<18, 14>(w15),
                    _mm256_srli_epi32::<3>(w15),
                );
                let sig1 = xor3(
                    rotr::<17, 15>(w2),
                    rotr::<19, 13>(w2),
                    _mm256_srli_epi32::<10>(w2),
                );
                w[$s] = _mm256_add_epi32(
                    _mm256_add_epi32(w[$s], sig0),
                    _mm256_add_epi32(w[($s + 9) % 16], sig1),
                );
            }
            let big1 = xor3(rotr::<6, 26>($e), rotr::<11, 21>($e), rotr::<25, 7>($e));
            let ch = _mm256_xor_si256(_mm256_and_si256($e, $f), _mm256_andnot_si256($e, $g));
            let kw = _mm256_add_epi32(_mm256_set1_epi32(K[$t] as i32), w[$s]);
            let t1 = _mm256_add_epi32(_mm256_add_epi32($h, big1), _mm256_add_epi32(ch, kw));
            let big0 = xor3(rotr::<2, 30>($a), rotr::<13, 19>($a), rotr::<22, 10>($a));
            let maj = _mm256_or_si256(
                _mm256_and_si256($a, $b),
                _mm256_and_si256($c, _mm256_or_si256($a, $b)),
            );
            $d = _mm256_add_epi32($d, t1);
            $h = _mm256_add_epi32(t1, _mm256_add_epi32(big0, maj));
        };
    }
    for r in 0..4 {
        let t = 16 * r;
        round!(a, b, c, d, e, f, g, h, t, 0);
        round!(h, a, b, c, d, e, f, g, t + 1, 1);
        round!(g, h, a, b, c, d, e, f, t + 2, 2);
        round!(f, g, h, a, b, c, d, e, t + 3, 3);
        round!(e, f, g, h, a, b, c, d, t + 4, 4);
        round!(d, e, f, g, h, a, b, c, t + 5, 5);
        round!(c, d, e, f, g, h, a, b, t + 6, 6);
        round!(b, c, d, e, f, g, h, a, t + 7, 7);
        round!(a, b, c, d, e, f, g, h, t + 8, 8);
        round!(h, a, b, c, d, e, f, g, t + 9, 9);
        round!(g, h, a, b, c, d, e, f, t + 10, 10);
        round!(f, g, h, a, b, c, d, e, t + 11, 11);
        round!(e, f, g, h, a, b, c, d, t + 12, 12);
        round!(d, e, f, g, h, a, b, c, t + 13, 13);
        round!(c, d, e, f, g, h, a, b, t + 14, 14);
        round!(b, c, d, e, f, g, h, a, t + 15, 15);
    }
    let out = [a, b, c, d, e, f, g, h];
    let mut v = [_mm256_setzero_si256(); 8];
    for i in 0..8 {
        v[i] = _mm256_add_epi32(out[i], s0[i]);
    }
    store_states(v, states);
}
