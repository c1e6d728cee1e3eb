//! GHASH on the carry-less multipliers, computed as POLYVAL (RFC 8452,
//! appendix A): every block is byte-reversed, H becomes
//! `mulX_POLYVAL(ByteReverse(H))`, and the product `a·b·x⁻¹²⁸` is reduced
//! with two folds by the constant `0xc2…01` (a Montgomery reduction, no bit
//! shifts). Products of up to 16 blocks with the matching powers of H are
//! summed unreduced and reduced once (aggregated reduction).
//!
//! The table of powers is laid out descending: `pw[POW_MAX - k] = H^k`, so
//! a chunk of `m` blocks multiplies block `j` by `pw[POW_MAX - m + j]`; three
//! zero entries after `H^1` let a vector load of up to four powers run past
//! the end of a short chunk (those lanes multiply zero blocks).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The most powers of H a key holds (the longest aggregated chunk).
pub(crate) const POW_MAX: usize = 16;
/// `POW_MAX` powers plus three zero entries.
pub(crate) const POW_SLOTS: usize = POW_MAX + 3;

/// `ByteReverse(E_K(0))` multiplied by x in POLYVAL's field: the GHASH key
/// in the POLYVAL domain, as a little-endian integer.
pub(crate) fn polyval_h(ek0: &[u8; 16]) -> u128 {
    let x = u128::from_be_bytes(*ek0);
    let v = x << 1;
    if x >> 127 == 1 {
        v ^ 0xc200_0000_0000_0000_0000_0000_0000_0001
    } else {
        v
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[inline]
    #[target_feature(enable = "sse2,ssse3,pclmulqdq")]
    pub(super) fn bswap128(x: __m128i) -> __m128i {
        let m = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm_shuffle_epi8(x, m)
    }

    /// Adds the unreduced product `a·b` into `(lo, mid, hi)`.
    #[inline]
    #[target_feature(enable = "sse2,pclmulqdq")]
    pub(super) fn mul_acc(a: __m128i, b: __m128i, acc: &mut [__m128i; 3]) {
        acc[0] = _mm_xor_si128(acc[0], _mm_clmulepi64_si128::<0x00>(a, b));
        acc[2] = _mm_xor_si128(acc[2], _mm_clmulepi64_si128::<0x11>(a, b));
        acc[1] = _mm_xor_si128(acc[1], _mm_clmulepi64_si128::<0x01>(a, b));
        acc[1] = _mm_xor_si128(acc[1], _mm_clmulepi64_si128::<0x10>(a, b));
    }

    /// `(hi·x¹²⁸ + mid·x⁶⁴ + lo)·x⁻¹²⁸ mod P`.
    #[inline]
    #[target_feature(enable = "sse2,pclmulqdq")]
    pub(super) fn reduce(acc: [__m128i; 3]) -> __m128i {
        let lo = _mm_xor_si128(acc[0], _mm_slli_si128::<8>(acc[1]));
        let hi = _mm_xor_si128(acc[2], _mm_srli_si128::<8>(acc[1]));
        let poly = _mm_set_epi64x(0xc200_0000_0000_0000_u64 as i64, 1);
        let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
        let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
        let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
        let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
        _mm_xor_si128(hi, lo)
    }

    /// POLYVAL's dot product `a·b·x⁻¹²⁸`.
    #[inline]
    #[target_feature(enable = "sse2,pclmulqdq")]
    pub(super) fn dot(a: __m128i, b: __m128i) -> __m128i {
        let mut acc = [_mm_setzero_si128(); 3];
        mul_acc(a, b, &mut acc);
        reduce(acc)
    }

    /// Loads the block at `data[off..]`, zero-padded if fewer than 16
    /// bytes remain.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn load_block(data: &[u8], off: usize) -> __m128i {
        if let Some(b) = data.get(off..off + 16) {
            // SAFETY: `b` is 16 readable bytes; loadu has no alignment need.
            unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
        } else {
            let mut t = [0u8; 16];
            let rest = &data[off..];
            t[..rest.len()].copy_from_slice(rest);
            // SAFETY: `t` is 16 readable bytes.
            unsafe { _mm_loadu_si128(t.as_ptr().cast()) }
        }
    }

    #[inline]
    pub(super) fn load_pow(pw: &[[u8; 16]; POW_SLOTS], i: usize) -> __m128i {
        // SAFETY: `pw[i]` is 16 readable bytes (the index is bounds-checked);
        // SSE2 is part of the x86_64 baseline.
        unsafe { _mm_loadu_si128(pw[i].as_ptr().cast()) }
    }
}

/// Computes `H^1..H^n` into `pw` (descending layout) from `h` (POLYVAL
/// domain).
///
/// # Safety
/// The CPU must support PCLMULQDQ and SSSE3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
pub(crate) unsafe fn powers(h: u128, n: usize, pw: &mut [[u8; 16]; POW_SLOTS]) {
    pw[POW_MAX - 1] = h.to_le_bytes();
    let h1 = x86::load_pow(pw, POW_MAX - 1);
    let mut p = h1;
    for k in 2..=n.min(POW_MAX) {
        p = x86::dot(p, h1);
        let mut out = [0u8; 16];
        // SAFETY: `out` is 16 writable bytes.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), p) };
        pw[POW_MAX - k] = out;
    }
}

/// GHASH update on xmm registers: absorbs `data` zero-padded to whole
/// blocks into `acc` (POLYVAL domain), `chunk` blocks per reduction.
///
/// # Safety
/// The CPU must support PCLMULQDQ and SSSE3; `1 <= chunk <= POW_MAX` and
/// `pw` holds `H^1..H^chunk`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
pub(crate) unsafe fn update_xmm(
    pw: &[[u8; 16]; POW_SLOTS],
    chunk: usize,
    acc: __m128i,
    data: &[u8],
) -> __m128i {
    let mut acc = acc;
    let mut off = 0;
    while off < data.len() {
        let m = chunk.min((data.len() - off).div_ceil(16));
        let base = POW_MAX - m;
        let mut sum = [_mm_setzero_si128(); 3];
        for j in 0..m {
            let mut x = x86::bswap128(x86::load_block(data, off));
            if j == 0 {
                x = _mm_xor_si128(x, acc);
            }
            x86::mul_acc(x, x86::load_pow(pw, base + j), &mut sum);
            off += 16;
        }
        acc = x86::reduce(sum);
    }
    acc
}

/// The same on ymm registers (VPCLMULQDQ, two blocks per register).
///
/// # Safety
/// The CPU must support AVX2 and VPCLMULQDQ (and PCLMULQDQ); `chunk` is even
/// and at most `POW_MAX`, and `pw` holds `H^1..H^chunk`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
pub(crate) unsafe fn update_ymm(
    pw: &[[u8; 16]; POW_SLOTS],
    chunk: usize,
    acc: __m128i,
    data: &[u8],
) -> __m128i {
    let rev = _mm256_set_epi8(
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
        12, 13, 14, 15,
    );
    let mut acc = acc;
    let mut off = 0;
    while off < data.len() {
        let m = chunk.min((data.len() - off).div_ceil(16));
        let base = POW_MAX - m;
        let (mut lo, mut mid, mut hi) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        for v in 0..m.div_ceil(2) {
            let x = if let Some(b) = data.get(off..off + 32) {
                // SAFETY: `b` is 32 readable bytes.
                unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
            } else {
                let mut t = [0u8; 32];
                let rest = &data[off..];
                t[..rest.len()].copy_from_slice(rest);
                // SAFETY: `t` is 32 readable bytes.
                unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
            };
            let mut x = _mm256_shuffle_epi8(x, rev);
            if v == 0 {
                x = _mm256_xor_si256(x, _mm256_zextsi128_si256(acc));
            }
            let p = &pw[base + 2 * v..base + 2 * v + 2];
            // SAFETY: `p` is two consecutive 16-byte entries, 32 readable bytes.
            let h = unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
            lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128::<0x00>(x, h));
            hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128::<0x11>(x, h));
            mid = _mm256_xor_si256(mid, _mm256_clmulepi64_epi128::<0x01>(x, h));
            mid = _mm256_xor_si256(mid, _mm256_clmulepi64_epi128::<0x10>(x, h));
            off += 32;
        }
        off = off.min(data.len());
        let fold =
            |z: __m256i| _mm_xor_si128(_mm256_castsi256_si128(z), _mm256_extracti128_si256::<1>(z));
        acc = x86::reduce([fold(lo), fold(mid), fold(hi)]);
    }
    acc
}

/// The same on zmm registers (four blocks per register, masked loads for
/// the tail).
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL and VPCLMULQDQ (and PCLMULQDQ);
/// `chunk` is a multiple of 4 and at most `POW_MAX`,
/// and `pw` holds `H^1..H^chunk`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,pclmulqdq,vpclmulqdq")]
pub(crate) unsafe fn update_zmm(
    pw: &[[u8; 16]; POW_SLOTS],
    chunk: usize,
    acc: __m128i,
    data: &[u8],
) -> __m128i {
    let rev = _mm512_broadcast_i32x4(_mm_set_epi8(
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ));
    let mut acc = acc;
    let mut off = 0;
    while off < data.len() {
        let m = chunk.min((data.len() - off).div_ceil(16));
        let base = POW_MAX - m;
        let (mut lo, mut mid, mut hi) = (
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
        );
        for v in 0..m.div_ceil(4) {
            let n = (data.len() - off).min(64);
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let rest = &data[off..];
            // SAFETY: the mask selects only the first `n <= rest.len()`
            // bytes, the only ones read; masked-off bytes are not accessed.
            let x = unsafe { _mm512_maskz_loadu_epi8(mask, rest.as_ptr().cast()) };
            let mut x = _mm512_shuffle_epi8(x, rev);
            if v == 0 {
                x = _mm512_xor_si512(x, _mm512_zextsi128_si512(acc));
            }
            let p = &pw[base + 4 * v..base + 4 * v + 4];
            // SAFETY: `p` is four consecutive 16-byte entries, 64 readable bytes.
            let h = unsafe { _mm512_loadu_si512(p.as_ptr().cast()) };
            lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128::<0x00>(x, h));
            hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128::<0x11>(x, h));
            mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x01>(x, h));
            mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x10>(x, h));
            off += n;
        }
        let fold = |z: __m512i| {
            let y = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64::<1>(z));
            _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y))
        };
        acc = x86::reduce([fold(lo), fold(mid), fold(hi)]);
    }
    acc
}

/// The whole GHASH of a short message on zmm registers with a single
/// reduction: AAD, ciphertext and the length block, `n` blocks in all,
/// block `i` multiplied by `H^(n-i)`.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL and VPCLMULQDQ (and PCLMULQDQ);
/// the whole message is at most `POW_MAX` blocks (counting the length
/// block) and `pw` holds that many powers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,pclmulqdq,vpclmulqdq")]
pub(crate) unsafe fn oneshot_zmm(
    pw: &[[u8; 16]; POW_SLOTS],
    aad: &[u8],
    ct: &[u8],
    len: &[u8; 16],
) -> __m128i {
    let rev = _mm512_broadcast_i32x4(_mm_set_epi8(
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ));
    let n = aad.len().div_ceil(16) + ct.len().div_ceil(16) + 1;
    debug_assert!(n <= POW_MAX);
    let mut p = POW_MAX - n;
    let (mut lo, mut mid, mut hi) = (
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
    );
    for seg in [aad, ct] {
        let mut off = 0;
        while off < seg.len() {
            let k = (seg.len() - off).min(64);
            let mask = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
            let rest = &seg[off..];
            // SAFETY: the mask selects only the first `k <= rest.len()`
            // bytes, the only ones read.
            let x = _mm512_shuffle_epi8(
                unsafe { _mm512_maskz_loadu_epi8(mask, rest.as_ptr().cast()) },
                rev,
            );
            let pp = &pw[p..p + 4];
            // SAFETY: `pp` is four consecutive 16-byte entries, 64 bytes.
            let h = unsafe { _mm512_loadu_si512(pp.as_ptr().cast()) };
            lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128::<0x00>(x, h));
            hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128::<0x11>(x, h));
            mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x01>(x, h));
            mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x10>(x, h));
            off += k;
            p += k.div_ceil(16);
        }
    }
    let fold = |z: __m512i| {
        let y = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64::<1>(z));
        _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y))
    };
    let mut acc = [fold(lo), fold(mid), fold(hi)];
    let l = x86::bswap128(x86::load_block(len, 0));
    x86::mul_acc(l, x86::load_pow(pw, POW_MAX - 1), &mut acc);
    x86::reduce(acc)
}

/// The final GHASH value in GCM's byte order.
///
/// # Safety
/// The CPU must support SSSE3 and PCLMULQDQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
pub(crate) unsafe fn finish(acc: __m128i) -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: `out` is 16 writable bytes.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), x86::bswap128(acc)) };
    out
}
