//! Integrity algorithms for the SK payload and ESP: AUTH_HMAC_SHA2_256_128,
//! AUTH_HMAC_SHA2_384_192 and AUTH_HMAC_SHA2_512_256 (RFC 4868).

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::CryptoError;
use super::keyed_hmac::{HashAlg, KeyedHmac};

/// An integrity algorithm (IANA "Transform Type 3 - Integrity Algorithm
/// Transform IDs"): HMAC-SHA-2 truncated to half its output (RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA2_256_128 (12): 32-byte key, 16-byte ICV.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13): 48-byte key, 24-byte ICV.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14): 64-byte key, 32-byte ICV.
    HmacSha512_256,
}

impl Integ {
    /// The longest ICV, in bytes.
    pub const MAX_ICV_LEN: usize = 32;

    /// Every supported integrity algorithm, for iteration.
    pub const ALL: [Integ; 3] = [
        Self::HmacSha256_128,
        Self::HmacSha384_192,
        Self::HmacSha512_256,
    ];

    /// The algorithm for an IANA transform id, if Rebound supports it.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            12 => Some(Self::HmacSha256_128),
            13 => Some(Self::HmacSha384_192),
            14 => Some(Self::HmacSha512_256),
            _ => None,
        }
    }

    /// The IANA transform id.
    pub const fn id(self) -> u16 {
        match self {
            Self::HmacSha256_128 => 12,
            Self::HmacSha384_192 => 13,
            Self::HmacSha512_256 => 14,
        }
    }

    /// The key length in bytes (the hash output length, RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        self.hash().output_len()
    }

    /// The ICV length in bytes: half the hash output (RFC 4868 §2.3).
    pub const fn icv_len(self) -> usize {
        self.hash().output_len() / 2
    }

    pub(crate) const fn hash(self) -> HashAlg {
        match self {
            Self::HmacSha256_128 => HashAlg::Sha256,
            Self::HmacSha384_192 => HashAlg::Sha384,
            Self::HmacSha512_256 => HashAlg::Sha512,
        }
    }

    /// Computes the truncated HMAC of `data[0] | data[1] | ...` into the
    /// front of `out`, returning [`Integ::icv_len`].
    ///
    /// This one-shot form accepts a key of any length, as HMAC does; the
    /// RFC 4868 §2.1.1 key length is enforced where SA keys are installed
    /// ([`SkCipher::new`](super::SkCipher::new)).
    ///
    /// # Errors
    /// [`CryptoError::OutputTooShort`] if `out` is shorter than the ICV.
    pub fn compute_icv(
        self,
        key: &[u8],
        data: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        icv_into(self, &KeyedHmac::new_ephemeral(self.hash(), key), data, out)
    }

    /// Checks `icv` against the truncated HMAC of `data[0] | data[1] | ...`
    /// in constant time. Any key length is accepted (see
    /// [`Integ::compute_icv`]).
    ///
    /// # Errors
    /// [`CryptoError::IntegrityCheckFailed`] if `icv` is not exactly the
    /// expected ICV.
    pub fn verify_icv(self, key: &[u8], data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        verify_with(self, &KeyedHmac::new_ephemeral(self.hash(), key), data, icv)
    }
}

fn icv_into(
    integ: Integ,
    mac: &KeyedHmac,
    data: &[&[u8]],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let n = integ.icv_len();
    let actual = out.len();
    let dst = out
        .get_mut(..n)
        .ok_or(CryptoError::OutputTooShort { needed: n, actual })?;
    // RFC 4868 §2.3: the ICV is the leftmost (output length / 2) bits.
    mac.compute_into(data, dst);
    Ok(n)
}

fn verify_with(
    integ: Integ,
    mac: &KeyedHmac,
    data: &[&[u8]],
    icv: &[u8],
) -> Result<(), CryptoError> {
    let mut expected = [0u8; Integ::MAX_ICV_LEN];
    let n = icv_into(integ, mac, data, &mut expected)?;
    // The ICV length is public (fixed by the algorithm); the comparison of
    // the bytes runs in constant time.
    let ok = expected
        .get(..n)
        .is_some_and(|e| icv.len() == n && bool::from(e.ct_eq(icv)));
    expected.zeroize();
    if ok {
        Ok(())
    } else {
        Err(CryptoError::IntegrityCheckFailed)
    }
}

/// An integrity key installed for an SA: the HMAC keyed once, wiped on drop.
pub(crate) struct IntegKey {
    integ: Integ,
    mac: KeyedHmac,
}

impl IntegKey {
    /// Keys `integ` for use on an SA.
    ///
    /// RFC 4868 §2.1.1: "... a fixed key length equal to the output length
    /// of the hash functions MUST be supported, and key lengths other than
    /// the output length of the associated hash function MUST NOT be
    /// supported."
    pub(crate) fn new(integ: Integ, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != integ.key_len() {
            return Err(CryptoError::KeyLength {
                expected: integ.key_len(),
                actual: key.len(),
            });
        }
        Ok(Self {
            integ,
            mac: KeyedHmac::new(integ.hash(), key),
        })
    }

    /// The algorithm.
    pub(crate) fn integ(&self) -> Integ {
        self.integ
    }

    /// Writes the ICV over `data[0] | data[1] | ...` to the front of `out`.
    pub(crate) fn compute(&self, data: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError> {
        icv_into(self.integ, &self.mac, data, out)
    }

    /// Checks `icv` in constant time.
    pub(crate) fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        verify_with(self.integ, &self.mac, data, icv)
    }
}

impl fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntegKey({:?}, redacted)", self.integ)
    }
}
