//! AVX-512 kernel: sixteen independent messages, one per 32-bit lane of a
//! zmm register. Same layout as the AVX2 kernel (whose 8x8 transposes it
//! reuses for each half), with `vprord` for the rotations and
//! `vpternlogd` for the three-input functions.

use core::arch::x86_64::*;

use super::K;
use super::avx2::{load_states, load_words, store_states};

#[inline]
#[target_feature(enable = "avx512f")]
fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f")]
fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// Compresses one block into each of sixteen states.
///
/// # Safety
/// The CPU must support AVX-512F and AVX2 (`cpu::features().avx512`).
#[target_feature(enable = "avx512f,avx2")]
pub(super) unsafe fn compress16(states: &mut [[u32; 8]; 16], blocks: &[&[u8; 64]; 16]) {
    let (blo, bhi) = blocks.split_at(8);
    let (l0, l1) = (load_words(blo, 0), load_words(blo, 32));
    let (h0, h1) = (load_words(bhi, 0), load_words(bhi, 32));
    let mut w = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        w[i] = join(l0[i], h0[i]);
        w[8 + i] = join(l1[i], h1[i]);
    }
    let (slo, shi) = states.split_at_mut(8);
    let (sl, sh) = (load_states(slo), load_states(shi));
    let mut s0 = [_mm512_setzero_si512(); 8];
    for i in 0..8 {
        s0[i] = join(sl[i], sh[i]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = s0;

    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $t:expr, $s:literal) => {
            if $t >= 16 {
                let w15 = w[($s + 1) % 16];
                let w2 = w[($s + 14) % 16];
                let sig0 = xor3(
                    _mm512_ror_epi32::<7>(w15),
                    _mm512_ror_epi32::<18>(w15),
                    _mm512_srli_epi32::<3>(w15),
                );
                let sig1 = xor3(
                    _mm512_ror_epi32::<17>(w2),
                    _mm512_ror_epi32::<19>(w2),
                    _mm512_srli_epi32::<10>(w2),
                );
                w[$s] = _mm512_add_epi32(
                    _mm512_add_epi32(w[$s], sig0),
                    _mm512_add_epi32(w[($s + 9) % 16], sig1),
                );
            }
            let big1 = xor3(
                _mm512_ror_epi32::<6>($e),
                _mm512_ror_epi32::<11>($e),
                _mm512_ror_epi32::<25>($e),
            );
            let ch = _mm512_ternarylogic_epi32::<0xCA>($e, $f, $g);
            let kw = _mm512_add_epi32(_mm512_set1_epi32(K[$t] as i32), w[$s]);
            let t1 = _mm512_add_epi32(_mm512_add_epi32($h, big1), _mm512_add_epi32(ch, kw));
            let big0 = xor3(
                _mm512_ror_epi32::<2>($a),
                _mm512_ror_epi32::<13>($a),
                _mm512_ror_epi32::<22>($a),
            );
            let maj = _mm512_ternarylogic_epi32::<0xE8>($a, $b, $c);
            $d = _mm512_add_epi32($d, t1);
            $h = _mm512_add_epi32(t1, _mm512_add_epi32(big0, maj));
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
    let (mut vl, mut vh) = ([_mm256_setzero_si256(); 8], [_mm256_setzero_si256(); 8]);
    for i in 0..8 {
        let v = _mm512_add_epi32(out[i], s0[i]);
        vl[i] = _mm512_castsi512_si256(v);
        vh[i] = _mm512_extracti64x4_epi64::<1>(v);
    }
    store_states(vl, slo);
    store_states(vh, shi);
}
