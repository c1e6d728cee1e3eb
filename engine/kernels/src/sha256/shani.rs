//! SHA-NI kernels: one stream, and 2, 4 or 8 independent streams
//! interleaved so that the latency of `sha256rnds2` on one stream is hidden
//! behind the rounds of the others.
//!
//! The state lives in the layout the instructions want: ABEF and CDGH in
//! two registers. Each group of four rounds is done for every stream before
//! the next group starts.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::K;

/// Compresses one block into each of `N` states.
///
/// # Safety
/// The CPU must support SHA, SSSE3 and SSE4.1 (`cpu::features().sha_ni`).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn compress<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[&[u8; 64]; N]) {
    let bswap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    let mut abef = [_mm_setzero_si128(); N];
    let mut cdgh = [_mm_setzero_si128(); N];
    let mut w = [[_mm_setzero_si128(); 4]; N];
    for j in 0..N {
        // SAFETY: `states[j]` is 32 bytes; the two unaligned 16-byte loads
        // read its first and second half.
        let (dcba, hgfe) = unsafe {
            let p = states[j].as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
        };
        let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
        let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
        abef[j] = _mm_alignr_epi8::<8>(cdab, efgh);
        cdgh[j] = _mm_blend_epi16::<0xF0>(efgh, cdab);
        for (q, wq) in w[j].iter_mut().enumerate() {
            // SAFETY: `blocks[j]` is 64 bytes and `q < 4`: the unaligned
            // 16-byte load at offset 16q stays inside it.
            let m = unsafe { _mm_loadu_si128(blocks[j].as_ptr().add(16 * q).cast()) };
            *wq = _mm_shuffle_epi8(m, bswap);
        }
    }
    let (abef0, cdgh0) = (abef, cdgh);

    // Four rounds of every stream with message words W[4i..4i+4] in slot s.
    macro_rules! quad {
        ($i:expr, $s:literal) => {
            // SAFETY: `K` has 64 words and `$i < 16`: the 16-byte load at
            // word 4i stays inside it.
            let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * $i).cast()) };
            for j in 0..N {
                if $i >= 4 {
                    let wj = &mut w[j];
                    let t = _mm_sha256msg1_epu32(wj[$s], wj[($s + 1) % 4]);
                    let t =
                        _mm_add_epi32(t, _mm_alignr_epi8::<4>(wj[($s + 3) % 4], wj[($s + 2) % 4]));
                    wj[$s] = _mm_sha256msg2_epu32(t, wj[($s + 3) % 4]);
                }
                let m = _mm_add_epi32(w[j][$s], k);
                cdgh[j] = _mm_sha256rnds2_epu32(cdgh[j], abef[j], m);
                abef[j] = _mm_sha256rnds2_epu32(abef[j], cdgh[j], _mm_shuffle_epi32::<0x0E>(m));
            }
        };
    }
    for g in 0..4 {
        quad!(4 * g, 0);
        quad!(4 * g + 1, 1);
        quad!(4 * g + 2, 2);
        quad!(4 * g + 3, 3);
    }

    for j in 0..N {
        let abef = _mm_add_epi32(abef[j], abef0[j]);
        let cdgh = _mm_add_epi32(cdgh[j], cdgh0[j]);
        let feba = _mm_shuffle_epi32::<0x1B>(abef);
        let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
        let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
        let hgfe = _mm_alignr_epi8::<8>(dchg, feba);
        // SAFETY: `states[j]` is 32 bytes; the two unaligned 16-byte stores
        // write its first and second half.
        unsafe {
            let p = states[j].as_mut_ptr().cast::<__m128i>();
            _mm_storeu_si128(p, dcba);
            _mm_storeu_si128(p.add(1), hgfe);
        }
    }
}
