//! The AES kernels: counter blocks encrypted in place, many at a time, on
//! xmm (AES-NI, one block per register), ymm (VAES, two) and zmm (VAES,
//! four). The batch driver fills the counter blocks of several messages
//! into one run, so the pipeline stays full whatever the message lengths.
//! Each pass keeps eight registers in flight, enough to cover the latency
//! of an AES round.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One AES block.
pub(crate) type Block = [u8; 16];

/// Expanded round keys (at most 15, for AES-256) and the round count.
pub(crate) type RoundKeys = [Block; 15];

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "sse2,aes")]
fn enc_xmm<const N: usize>(rk: &RoundKeys, nr: usize, blocks: &mut [Block; N]) {
    let ld = |b: &Block| {
        // SAFETY: `b` is 16 readable bytes; SSE2 is baseline on x86_64.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    };
    let k0 = ld(&rk[0]);
    let mut s = [_mm_setzero_si128(); N];
    for i in 0..N {
        s[i] = _mm_xor_si128(ld(&blocks[i]), k0);
    }
    for key in &rk[1..nr] {
        let k = ld(key);
        for x in s.iter_mut() {
            *x = _mm_aesenc_si128(*x, k);
        }
    }
    let k = ld(&rk[nr]);
    for i in 0..N {
        // SAFETY: `blocks[i]` is 16 writable bytes.
        unsafe { _mm_storeu_si128(blocks[i].as_mut_ptr().cast(), _mm_aesenclast_si128(s[i], k)) };
    }
}

/// Encrypts `blocks` in place, eight at a time on xmm registers.
///
/// # Safety
/// The CPU must support AES-NI; `nr` is 10 or 14 and `rk[..=nr]` is an
/// expanded key.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,aes")]
pub(crate) unsafe fn encrypt_xmm(rk: &RoundKeys, nr: usize, blocks: &mut [Block]) {
    let mut chunks = blocks.chunks_exact_mut(8);
    for c in &mut chunks {
        enc_xmm::<8>(rk, nr, c.try_into().expect("8 blocks"));
    }
    let mut rest = chunks.into_remainder();
    if rest.len() >= 4 {
        let (a, b) = rest.split_at_mut(4);
        enc_xmm::<4>(rk, nr, a.try_into().expect("4 blocks"));
        rest = b;
    }
    if rest.len() >= 2 {
        let (a, b) = rest.split_at_mut(2);
        enc_xmm::<2>(rk, nr, a.try_into().expect("2 blocks"));
        rest = b;
    }
    if let Ok(a) = <&mut [Block; 1]>::try_from(rest) {
        enc_xmm::<1>(rk, nr, a);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,vaes")]
fn enc_ymm<const N: usize>(keys: &[__m256i; 15], nr: usize, blocks: &mut [Block]) {
    // The loads and stores below rely on this: checked, not assumed.
    assert_eq!(blocks.len(), 2 * N, "enc_ymm takes exactly 2N blocks");
    let p = blocks.as_mut_ptr().cast::<__m256i>();
    let mut s = [_mm256_setzero_si256(); N];
    for (i, x) in s.iter_mut().enumerate() {
        // SAFETY: `blocks` holds 2N blocks, so block pair `i < N` is 32
        // readable bytes; loadu has no alignment need.
        *x = _mm256_xor_si256(unsafe { _mm256_loadu_si256(p.add(i)) }, keys[0]);
    }
    for k in &keys[1..nr] {
        for x in s.iter_mut() {
            *x = _mm256_aesenc_epi128(*x, *k);
        }
    }
    for (i, x) in s.iter().enumerate() {
        // SAFETY: as above, 32 writable bytes (the slice is borrowed mutably).
        unsafe { _mm256_storeu_si256(p.add(i), _mm256_aesenclast_epi128(*x, keys[nr])) };
    }
}

/// Encrypts `blocks` (an even number) in place, sixteen at a time on ymm
/// registers.
///
/// # Safety
/// The CPU must support AVX2 and VAES; `nr` is 10 or 14 and `rk[..=nr]` is
/// an expanded key. `blocks.len()` must be even: an odd last block would be
/// left unencrypted (checked: it panics).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,vaes")]
pub(crate) unsafe fn encrypt_ymm(rk: &RoundKeys, nr: usize, blocks: &mut [Block]) {
    assert!(blocks.len().is_multiple_of(2), "an even number of blocks");
    let mut keys = [_mm256_setzero_si256(); 15];
    for (k, r) in keys.iter_mut().zip(rk) {
        // SAFETY: `r` is 16 readable bytes.
        *k = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(r.as_ptr().cast()) });
    }
    let mut chunks = blocks.chunks_exact_mut(16);
    for c in &mut chunks {
        enc_ymm::<8>(&keys, nr, c);
    }
    let mut rest = chunks.into_remainder();
    if rest.len() >= 8 {
        let (a, b) = rest.split_at_mut(8);
        enc_ymm::<4>(&keys, nr, a);
        rest = b;
    }
    if rest.len() >= 4 {
        let (a, b) = rest.split_at_mut(4);
        enc_ymm::<2>(&keys, nr, a);
        rest = b;
    }
    if rest.len() >= 2 {
        enc_ymm::<1>(&keys, nr, &mut rest[..2]);
    }
    // The broadcast round keys are key material.
    for k in keys.iter_mut() {
        // SAFETY: `k` is a valid, aligned, exclusively borrowed element.
        unsafe { core::ptr::write_volatile(k, _mm256_setzero_si256()) };
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,vaes")]
fn enc_zmm<const N: usize>(keys: &[__m512i; 15], nr: usize, blocks: &mut [Block]) {
    // The loads and stores below rely on this: checked, not assumed.
    assert_eq!(blocks.len(), 4 * N, "enc_zmm takes exactly 4N blocks");
    let p = blocks.as_mut_ptr().cast::<__m512i>();
    let mut s = [_mm512_setzero_si512(); N];
    for (i, x) in s.iter_mut().enumerate() {
        // SAFETY: `blocks` holds 4N blocks, so group `i < N` is 64 readable
        // bytes; loadu has no alignment need.
        *x = _mm512_xor_si512(unsafe { _mm512_loadu_si512(p.add(i).cast()) }, keys[0]);
    }
    for k in &keys[1..nr] {
        for x in s.iter_mut() {
            *x = _mm512_aesenc_epi128(*x, *k);
        }
    }
    for (i, x) in s.iter().enumerate() {
        // SAFETY: as above, 64 writable bytes (the slice is borrowed mutably).
        unsafe { _mm512_storeu_si512(p.add(i).cast(), _mm512_aesenclast_epi128(*x, keys[nr])) };
    }
}

/// Encrypts `blocks` (a multiple of four) in place, 32 at a time on zmm
/// registers.
///
/// # Safety
/// The CPU must support AVX-512F and VAES; `nr` is 10 or 14 and
/// `rk[..=nr]` is an expanded key. `blocks.len()` must be a multiple of
/// four: a short tail would be left unencrypted (checked: it panics).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vaes")]
pub(crate) unsafe fn encrypt_zmm(rk: &RoundKeys, nr: usize, blocks: &mut [Block]) {
    assert!(blocks.len().is_multiple_of(4), "a multiple of four blocks");
    let mut keys = [_mm512_setzero_si512(); 15];
    for (k, r) in keys.iter_mut().zip(rk) {
        // SAFETY: `r` is 16 readable bytes.
        *k = _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(r.as_ptr().cast()) });
    }
    let mut chunks = blocks.chunks_exact_mut(32);
    for c in &mut chunks {
        enc_zmm::<8>(&keys, nr, c);
    }
    let mut rest = chunks.into_remainder();
    if rest.len() >= 16 {
        let (a, b) = rest.split_at_mut(16);
        enc_zmm::<4>(&keys, nr, a);
        rest = b;
    }
    if rest.len() >= 8 {
        let (a, b) = rest.split_at_mut(8);
        enc_zmm::<2>(&keys, nr, a);
        rest = b;
    }
    if rest.len() >= 4 {
        enc_zmm::<1>(&keys, nr, &mut rest[..4]);
    }
    // The broadcast round keys are key material.
    for k in keys.iter_mut() {
        // SAFETY: `k` is a valid, aligned, exclusively borrowed element.
        unsafe { core::ptr::write_volatile(k, _mm512_setzero_si512()) };
    }
}
