//! The key: AES round keys expanded with AES-NI, the GHASH key H = E_K(0)
//! and its powers for aggregated reduction, zeroized on drop.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::GcmError;
use super::ghash::{POW_MAX, POW_SLOTS};
use super::kernels::{Block, RoundKeys};

/// The powers of H a key computes by default: the longest chunk GHASH
/// reduces at once (16 measured fastest on 200-byte tickets; 4, 8 and 16
/// are the choices).
pub const DEFAULT_POWERS: usize = 16;

/// An AES-128-GCM or AES-256-GCM key, ready for the kernels.
///
/// Holds the raw key (for the portable path, which builds the `aes-gcm`
/// cipher per call), the AES-NI round keys and H^1..H^n in GHASH's
/// POLYVAL form. Everything is zeroized on drop; `Debug` shows only the
/// key size.
#[derive(Clone, ZeroizeOnDrop)]
pub struct AesGcmKey {
    pub(crate) raw: [u8; 32],
    pub(crate) raw_len: usize,
    pub(crate) rk: RoundKeys,
    /// 10 or 14.
    pub(crate) nr: usize,
    pub(crate) pw: [Block; POW_SLOTS],
    /// How many powers `pw` holds (4, 8 or 16); 0 when the SIMD kernels
    /// are unavailable and only the raw key is kept.
    pub(crate) npow: usize,
}

impl std::fmt::Debug for AesGcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesGcmKey")
            .field("bits", &(self.raw_len * 8))
            .field("powers", &self.npow)
            .finish_non_exhaustive()
    }
}

impl AesGcmKey {
    /// A key from 16 (AES-128) or 32 (AES-256) bytes, with
    /// [`DEFAULT_POWERS`] powers of H: for keys that seal or open many
    /// messages (the ticket key).
    pub fn new(key: &[u8]) -> Result<Self, GcmError> {
        Self::with_powers(key, DEFAULT_POWERS)
    }

    /// A key for one or two messages (an SA's SK key): four powers of H,
    /// the fewest the kernels use, so setup is one AES block and three
    /// multiplications.
    pub fn new_once(key: &[u8]) -> Result<Self, GcmError> {
        Self::with_powers(key, 4)
    }

    /// A key with `powers` powers of H, rounded up to 4, 8 or 16.
    pub fn with_powers(key: &[u8], powers: usize) -> Result<Self, GcmError> {
        let nr = match key.len() {
            16 => 10,
            32 => 14,
            _ => return Err(GcmError::KeyLength),
        };
        let mut k = AesGcmKey {
            raw: [0; 32],
            raw_len: key.len(),
            rk: [[0; 16]; 15],
            nr,
            pw: [[0; 16]; POW_SLOTS],
            npow: 0,
        };
        k.raw[..key.len()].copy_from_slice(key);
        let npow = match powers {
            0..=4 => 4,
            5..=8 => 8,
            _ => POW_MAX,
        };
        k.expand(npow);
        Ok(k)
    }

    /// Key size in bytes (16 or 32).
    pub fn len(&self) -> usize {
        self.raw_len
    }

    /// Never true: a key has 16 or 32 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    #[cfg(target_arch = "x86_64")]
    fn expand(&mut self, npow: usize) {
        let f = crate::cpu::features();
        if !(f.aes_ni && f.pclmulqdq) {
            return;
        }
        // SAFETY: AES-NI, SSE4.1, SSSE3 and PCLMULQDQ were detected at run
        // time (`cpu::Features::aes_ni` requires all three of the first).
        unsafe {
            if self.raw_len == 16 {
                expand128(self.raw[..16].try_into().expect("16 bytes"), &mut self.rk);
            } else {
                expand256(&self.raw, &mut self.rk);
            }
            let mut ek0 = [[0u8; 16]; 1];
            super::kernels::encrypt_xmm(&self.rk, self.nr, &mut ek0);
            let h = super::ghash::polyval_h(&ek0[0]);
            ek0.zeroize();
            super::ghash::powers(h, npow, &mut self.pw);
        }
        self.npow = npow;
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn expand(&mut self, _npow: usize) {}
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "sse2")]
fn spread(x: __m128i) -> __m128i {
    let x = _mm_xor_si128(x, _mm_slli_si128::<4>(x));
    let x = _mm_xor_si128(x, _mm_slli_si128::<4>(x));
    _mm_xor_si128(x, _mm_slli_si128::<4>(x))
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn store(out: &mut Block, x: __m128i) {
    // SAFETY: `out` is 16 writable bytes; SSE2 is baseline on x86_64.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), x) }
}

/// AES-128 key expansion (FIPS 197 §5.2) with AESKEYGENASSIST.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,aes")]
unsafe fn expand128(key: &[u8; 16], rk: &mut RoundKeys) {
    // SAFETY: `key` is 16 readable bytes.
    let mut k = unsafe { _mm_loadu_si128(key.as_ptr().cast()) };
    store(&mut rk[0], k);
    macro_rules! round {
        ($i:expr, $rcon:expr) => {
            let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(k));
            k = _mm_xor_si128(spread(k), t);
            store(&mut rk[$i], k);
        };
    }
    round!(1, 0x01);
    round!(2, 0x02);
    round!(3, 0x04);
    round!(4, 0x08);
    round!(5, 0x10);
    round!(6, 0x20);
    round!(7, 0x40);
    round!(8, 0x80);
    round!(9, 0x1b);
    round!(10, 0x36);
}

/// AES-256 key expansion (FIPS 197 §5.2) with AESKEYGENASSIST.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,aes")]
unsafe fn expand256(key: &[u8; 32], rk: &mut RoundKeys) {
    // SAFETY: `key` is 32 readable bytes, two 16-byte loads.
    let (mut a, mut b) = unsafe {
        (
            _mm_loadu_si128(key.as_ptr().cast()),
            _mm_loadu_si128(key.as_ptr().add(16).cast()),
        )
    };
    store(&mut rk[0], a);
    store(&mut rk[1], b);
    // rk[2i] from rk[2i-2] and the rotated, substituted rk[2i-1].
    macro_rules! even {
        ($i:expr, $rcon:expr) => {
            let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(b));
            a = _mm_xor_si128(spread(a), t);
            store(&mut rk[2 * $i], a);
        };
    }
    // rk[2i+1] from rk[2i-1] and the substituted rk[2i].
    macro_rules! odd {
        ($i:expr) => {
            let t = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(a));
            b = _mm_xor_si128(spread(b), t);
            store(&mut rk[2 * $i + 1], b);
        };
    }
    even!(1, 0x01);
    odd!(1);
    even!(2, 0x02);
    odd!(2);
    even!(3, 0x04);
    odd!(3);
    even!(4, 0x08);
    odd!(4);
    even!(5, 0x10);
    odd!(5);
    even!(6, 0x20);
    odd!(6);
    even!(7, 0x40);
}
