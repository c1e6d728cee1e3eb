//! AES-GCM with a 96-bit nonce and a 128-bit tag, in place and detached:
//! the primitive under the SK payload (RFC 5282) and, later, the ticket
//! seal.
//!
//! The key schedule and the GHASH key powers are computed once per key, by
//! the kernels crate. No heap allocation: the buffer is encrypted where it
//! lies and the tag returned (or checked) separately.

use core::fmt;

use rebound_kernels::gcm as kernel;

use super::CryptoError;

/// The AES-GCM nonce length in bytes.
pub const GCM_NONCE_LEN: usize = 12;
/// The AES-GCM tag length in bytes.
pub const GCM_TAG_LEN: usize = 16;

/// GCM's limit on one message: 2^32 - 2 blocks of 16 bytes (NIST SP
/// 800-38D §5.2.1.1); never reached by an IKE message, refused rather than
/// left to the kernel.
pub(super) const MAX_GCM_MESSAGE: u64 = ((1 << 32) - 2) * 16;

/// An AES-128-GCM or AES-256-GCM key, expanded once: the AES key schedule
/// and the powers of the GHASH key H, for the kernels of `rebound-kernels`
/// (VAES / VPCLMULQDQ, AES-NI, or the portable fallback, whichever was
/// measured fastest on this CPU).
///
/// `Debug` shows only the key size. The kernel key zeroizes its schedule
/// and every power of H on drop.
pub struct AesGcmKey {
    inner: kernel::AesGcmKey,
}

impl AesGcmKey {
    /// Expands a 16-byte (AES-128) or 32-byte (AES-256) key, with the
    /// powers of H for long and batched messages (a key used many times,
    /// such as a ticket key).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for any other length.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        kernel::AesGcmKey::new(key)
            .map(|inner| Self { inner })
            .map_err(|_| bad_length(key))
    }

    /// As [`AesGcmKey::new`], with fewer powers of H: cheaper to set up, for
    /// a key that protects a message or two (an SA's SK payloads).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for a key of neither 16 nor 32 bytes.
    pub fn new_once(key: &[u8]) -> Result<Self, CryptoError> {
        kernel::AesGcmKey::new_once(key)
            .map(|inner| Self { inner })
            .map_err(|_| bad_length(key))
    }

    /// The key for the batch kernels.
    pub(crate) fn kernel(&self) -> &kernel::AesGcmKey {
        &self.inner
    }

    /// The AES key size in bits.
    pub fn key_bits(&self) -> u16 {
        if self.inner.len() == 16 { 128 } else { 256 }
    }

    /// Encrypts `buf` in place and returns the tag over `aad` and the
    /// ciphertext.
    ///
    /// The caller owns nonce uniqueness: a (key, nonce) pair must never
    /// seal two different messages.
    ///
    /// # Errors
    /// [`CryptoError::PlaintextTooLong`] beyond GCM's limit of about 2^36
    /// bytes (never for an IKE message).
    pub fn seal_in_place_detached(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], CryptoError> {
        if buf.len() as u64 > MAX_GCM_MESSAGE || aad.len() as u64 > MAX_GCM_MESSAGE {
            return Err(CryptoError::PlaintextTooLong);
        }
        Ok(kernel::seal(&self.inner, nonce, aad, buf))
    }

    /// Checks `tag` over `aad` and the ciphertext in `buf` and, only if it
    /// verifies, leaves the plaintext in `buf`; the tag is compared in
    /// constant time. On failure `buf` is zeroed: no unauthenticated
    /// plaintext is left behind.
    ///
    /// # Errors
    /// [`CryptoError::IntegrityCheckFailed`] if the tag does not verify.
    pub fn open_in_place_detached(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        if buf.len() as u64 > MAX_GCM_MESSAGE || aad.len() as u64 > MAX_GCM_MESSAGE {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        kernel::open(&self.inner, nonce, aad, buf, tag)
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

fn bad_length(key: &[u8]) -> CryptoError {
    CryptoError::KeyLength {
        expected: if key.len() < 32 { 16 } else { 32 },
        actual: key.len(),
    }
}

impl fmt::Debug for AesGcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AesGcmKey(AES-{}, redacted)", self.key_bits())
    }
}
