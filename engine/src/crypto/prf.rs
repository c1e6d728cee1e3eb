//! The IKEv2 pseudorandom functions and prf+ (RFC 7296 §2.13).
//!
//! - PRF_HMAC_SHA1 (RFC 2104), PRF_HMAC_SHA2_256/384/512 (RFC 4868),
//!   PRF_AES128_XCBC (RFC 4434).
//! - Inputs are given as a list of parts, hashed as their concatenation, so
//!   callers never build `Ni | Nr | SPIi | SPIr` in a buffer.
//! - No heap allocation: the key is absorbed once into a [`PrfKey`] and each
//!   prf call clones that state on the stack.

use core::fmt;

use zeroize::Zeroize;

use super::CryptoError;
use super::keyed_hmac::{HashAlg, HmacState, KeyedHmac};
use super::xcbc::{XcbcKey, XcbcState};

/// An IKEv2 pseudorandom function (IANA "Transform Type 2 - Pseudorandom
/// Function Transform IDs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
    /// PRF_AES128_XCBC (4).
    Aes128Xcbc,
}

impl PrfAlg {
    /// The longest prf output (HMAC-SHA-512), in bytes.
    pub const MAX_OUTPUT_LEN: usize = 64;

    /// Every supported prf, for iteration.
    pub const ALL: [PrfAlg; 5] = [
        Self::HmacSha1,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
        Self::Aes128Xcbc,
    ];

    /// The prf for an IANA transform id, if Rebound supports it.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            2 => Some(Self::HmacSha1),
            4 => Some(Self::Aes128Xcbc),
            5 => Some(Self::HmacSha256),
            6 => Some(Self::HmacSha384),
            7 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The IANA transform id.
    pub const fn id(self) -> u16 {
        match self {
            Self::HmacSha1 => 2,
            Self::Aes128Xcbc => 4,
            Self::HmacSha256 => 5,
            Self::HmacSha384 => 6,
            Self::HmacSha512 => 7,
        }
    }

    /// The prf output length in bytes.
    pub const fn output_len(self) -> usize {
        match self.hash() {
            Some(h) => h.output_len(),
            None => 16,
        }
    }

    /// The preferred key length in bytes: the length of SK_d, SK_pi and
    /// SK_pr (RFC 7296 §2.14).
    ///
    /// For the HMAC prfs this is the output length (RFC 4868 §2.1.2 for
    /// SHA-2; RFC 7296 §2.13 for SHA-1); AES-XCBC-PRF-128 takes a 128-bit key
    /// (RFC 4434 §2). Both equal the output length.
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    /// The most bytes prf+ can produce: RFC 7296 §2.13, "The prf+ function
    /// is not defined beyond 255 times the size of the prf function output."
    pub const fn max_prf_plus_len(self) -> usize {
        255 * self.output_len()
    }

    pub(crate) const fn hash(self) -> Option<HashAlg> {
        match self {
            Self::HmacSha1 => Some(HashAlg::Sha1),
            Self::HmacSha256 => Some(HashAlg::Sha256),
            Self::HmacSha384 => Some(HashAlg::Sha384),
            Self::HmacSha512 => Some(HashAlg::Sha512),
            Self::Aes128Xcbc => None,
        }
    }
}

/// A prf keyed once, for repeated use (prf+ blocks, AUTH computations).
///
/// The keyed state is wiped on drop; `Debug` shows only the algorithm.
/// (The one-shot [`prf`] and [`prf_plus`] key a stack-only state that skips
/// the wipe, which costs as much as keying HMAC again.)
pub struct PrfKey {
    alg: PrfAlg,
    state: PrfState,
}

// Variants are stored inline on purpose: the crypto paths do not allocate,
// and the size difference is bounded (a few hundred bytes of key schedule).
#[allow(clippy::large_enum_variant)]
enum PrfState {
    Hmac(KeyedHmac),
    Xcbc(XcbcKey),
}

// Variants are stored inline on purpose: the crypto paths do not allocate,
// and the size difference is bounded (a few hundred bytes of key schedule).
#[allow(clippy::large_enum_variant)]
enum Running<'k> {
    Hmac(HmacState),
    Xcbc(XcbcState<'k>),
}

impl Running<'_> {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Hmac(m) => m.update(data),
            Self::Xcbc(m) => m.update(data),
        }
    }

    /// Writes the prf output to the front of `out`.
    fn finish_into(self, out: &mut [u8; PrfAlg::MAX_OUTPUT_LEN]) {
        match self {
            Self::Hmac(m) => m.finish_into(out),
            Self::Xcbc(m) => {
                if let Some(first) = out.first_chunk_mut::<16>() {
                    m.finish_into(first);
                }
            }
        }
    }
}

impl PrfKey {
    /// Keys `alg` with `key`.
    ///
    /// Any key length is accepted: HMAC hashes long keys and pads short
    /// ones (RFC 2104 §2); AES-XCBC-PRF-128 pads or shortens to 128 bits
    /// (RFC 4434 §2).
    pub fn new(alg: PrfAlg, key: &[u8]) -> Self {
        let state = match alg.hash() {
            Some(h) => PrfState::Hmac(KeyedHmac::new(h, key)),
            None => PrfState::Xcbc(XcbcKey::for_prf(key)),
        };
        Self { alg, state }
    }

    /// A key for one computation on the stack (the one-shot functions):
    /// the HMAC state skips the drop-time scrub (see `KeyedHmac`). The AES
    /// schedule of XCBC still zeroizes itself.
    pub(crate) fn ephemeral(alg: PrfAlg, key: &[u8]) -> Self {
        let state = match alg.hash() {
            Some(h) => PrfState::Hmac(KeyedHmac::new_ephemeral(h, key)),
            None => PrfState::Xcbc(XcbcKey::for_prf(key)),
        };
        Self { alg, state }
    }

    /// The prf this key is for.
    pub fn alg(&self) -> PrfAlg {
        self.alg
    }

    fn start(&self) -> Running<'_> {
        match &self.state {
            PrfState::Hmac(k) => Running::Hmac(k.start()),
            PrfState::Xcbc(k) => Running::Xcbc(k.start()),
        }
    }

    /// `prf(K, data[0] | data[1] | ...)`: writes `output_len` bytes to the
    /// front of `out` and returns that length.
    ///
    /// # Errors
    /// [`CryptoError::OutputTooShort`] if `out` is shorter than the prf
    /// output.
    pub fn compute(&self, data: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        let n = self.alg.output_len();
        let actual = out.len();
        let dst = out
            .get_mut(..n)
            .ok_or(CryptoError::OutputTooShort { needed: n, actual })?;
        let mut running = self.start();
        for part in data {
            running.update(part);
        }
        let mut block = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        running.finish_into(&mut block);
        if let Some(src) = block.get(..n) {
            dst.copy_from_slice(src);
        }
        block.zeroize();
        Ok(n)
    }

    /// `prf+(K, seed[0] | seed[1] | ...)`, filling all of `out`.
    ///
    /// RFC 7296 §2.13: "prf+ (K,S) = T1 | T2 | T3 | T4 | ... where:
    /// T1 = prf (K, S | 0x01), T2 = prf (K, T1 | S | 0x02),
    /// T3 = prf (K, T2 | S | 0x03), T4 = prf (K, T3 | S | 0x04), ...".
    ///
    /// # Errors
    /// [`CryptoError::OutputTooLong`] if `out` is longer than
    /// [`PrfAlg::max_prf_plus_len`].
    pub fn expand(&self, seed: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        let hlen = self.alg.output_len();
        let max = self.alg.max_prf_plus_len();
        // RFC 7296 §2.13: "The prf+ function is not defined beyond 255 times
        // the size of the prf function output."
        if out.len() > max {
            return Err(CryptoError::OutputTooLong {
                requested: out.len(),
                max,
            });
        }
        let mut t = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let mut t_len = 0; // T0 is empty
        let mut result = Ok(());
        for (i, chunk) in out.chunks_mut(hlen).enumerate() {
            // i < 255 by the length check above.
            let Ok(counter) = u8::try_from(i + 1) else {
                result = Err(CryptoError::OutputTooLong {
                    requested: out.len(),
                    max,
                });
                break;
            };
            let mut running = self.start();
            running.update(t.get(..t_len).unwrap_or(&[]));
            for part in seed {
                running.update(part);
            }
            running.update(&[counter]);
            running.finish_into(&mut t);
            t_len = hlen;
            if let Some(src) = t.get(..chunk.len()) {
                chunk.copy_from_slice(src);
            }
        }
        t.zeroize();
        result
    }
}

impl fmt::Debug for PrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrfKey({:?}, redacted)", self.alg)
    }
}

/// `prf(key, data[0] | data[1] | ...)` in one call: writes `alg.output_len()`
/// bytes to the front of `out` and returns that length.
///
/// # Errors
/// [`CryptoError::OutputTooShort`] if `out` is shorter than the prf output.
pub fn prf(alg: PrfAlg, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
    PrfKey::ephemeral(alg, key).compute(data, out)
}

/// `prf+(key, seed[0] | seed[1] | ...)` (RFC 7296 §2.13) in one call,
/// filling all of `out`.
///
/// # Errors
/// [`CryptoError::OutputTooLong`] if `out` is longer than 255 prf outputs.
pub fn prf_plus(
    alg: PrfAlg,
    key: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    // Refuse before doing any key setup.
    if out.len() > alg.max_prf_plus_len() {
        return Err(CryptoError::OutputTooLong {
            requested: out.len(),
            max: alg.max_prf_plus_len(),
        });
    }
    PrfKey::ephemeral(alg, key).expand(seed, out)
}
