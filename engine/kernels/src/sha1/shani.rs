//! SHA-NI SHA-1 kernel: `N` independent streams interleaved, four rounds
//! of every stream before the next four.

use core::arch::x86_64::*;

/// Compresses one block into each of `N` states.
///
/// # Safety
/// The CPU must support SHA, SSSE3 and SSE4.1 (`cpu::features().sha_ni`).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn compress<const N: usize>(states: &mut [[u32; 5]; N], blocks: &[&[u8; 64]; N]) {
    // Whole-register byte reversal: word 0 big-endian in the top lane.
    let rev = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
    let mut abcd = [_mm_setzero_si128(); N];
    let mut e0 = [_mm_setzero_si128(); N];
    let mut e1 = [_mm_setzero_si128(); N];
    let mut w = [[_mm_setzero_si128(); 4]; N];
    for j in 0..N {
        // SAFETY: `states[j]` is 20 bytes; the unaligned 16-byte load reads
        // its first four words.
        let s = unsafe { _mm_loadu_si128(states[j].as_ptr().cast()) };
        abcd[j] = _mm_shuffle_epi32::<0x1B>(s);
        e0[j] = _mm_set_epi32(states[j][4] as i32, 0, 0, 0);
        for (q, wq) in w[j].iter_mut().enumerate() {
            // SAFETY: `blocks[j]` is 64 bytes and `q < 4`: the unaligned
            // 16-byte load at offset 16q stays inside it.
            let m = unsafe { _mm_loadu_si128(blocks[j].as_ptr().add(16 * q).cast()) };
            *wq = _mm_shuffle_epi8(m, rev);
        }
    }
    let (abcd0, e00) = (abcd, e0);

    // Rounds 4g..4g+4 of every stream, message words W_g in slot g % 4;
    // then the schedule's share of the words still to come.
    macro_rules! group {
        ($g:literal, $ecur:ident, $eother:ident) => {
            for j in 0..N {
                let wg = w[j][$g % 4];
                if $g == 0 {
                    $ecur[j] = _mm_add_epi32($ecur[j], wg);
                } else {
                    $ecur[j] = _mm_sha1nexte_epu32($ecur[j], wg);
                }
                $eother[j] = abcd[j];
                if $g >= 3 && $g <= 18 {
                    w[j][($g + 1) % 4] = _mm_sha1msg2_epu32(w[j][($g + 1) % 4], wg);
                }
                abcd[j] = _mm_sha1rnds4_epu32::<{ $g / 5 }>(abcd[j], $ecur[j]);
                if $g >= 1 && $g <= 16 {
                    w[j][($g + 3) % 4] = _mm_sha1msg1_epu32(w[j][($g + 3) % 4], wg);
                }
                if $g >= 2 && $g <= 17 {
                    w[j][($g + 2) % 4] = _mm_xor_si128(w[j][($g + 2) % 4], wg);
                }
            }
        };
    }
    group!(0, e0, e1);
    group!(1, e1, e0);
    group!(2, e0, e1);
    group!(3, e1, e0);
    group!(4, e0, e1);
    group!(5, e1, e0);
    group!(6, e0, e1);
    group!(7, e1, e0);
    group!(8, e0, e1);
    group!(9, e1, e0);
    group!(10, e0, e1);
    group!(11, e1, e0);
    group!(12, e0, e1);
    group!(13, e1, e0);
    group!(14, e0, e1);
    group!(15, e1, e0);
    group!(16, e0, e1);
    group!(17, e1, e0);
    group!(18, e0, e1);
    group!(19, e1, e0);

    for j in 0..N {
        let e = _mm_sha1nexte_epu32(e0[j], e00[j]);
        let s = _mm_shuffle_epi32::<0x1B>(_mm_add_epi32(abcd[j], abcd0[j]));
        // SAFETY: `states[j]` is 20 bytes; the unaligned 16-byte store
        // writes its first four words.
        unsafe { _mm_storeu_si128(states[j].as_mut_ptr().cast(), s) };
        states[j][4] = _mm_extract_epi32::<3>(e) as u32;
    }
}
