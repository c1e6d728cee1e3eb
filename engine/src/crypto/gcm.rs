//! AES-GCM with a 96-bit nonce and a 128-bit tag, in place and detached:
//! the primitive under the SK payload (RFC 5282) and, later, the ticket
//! seal.
//!
//! The key schedule and the GHASH key are computed once per key. No heap
//! allocation: the buffer is encrypted where it lies and the tag returned
//! (or checked) separately.

use core::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce, Tag};

use super::CryptoError;
use super::secret::scrub_with;

/// The AES-GCM nonce length in bytes.
pub const GCM_NONCE_LEN: usize = 12;
/// The AES-GCM tag length in bytes.
pub const GCM_TAG_LEN: usize = 16;

/// An AES-128-GCM or AES-256-GCM key, expanded once.
///
/// `Debug` shows only the key size. On drop the AES key schedule zeroizes
/// itself (`aes` "zeroize" feature) and the whole state, including the GHASH
/// key H that `aes-gcm` 0.10 does not wipe, is overwritten with the state of
/// an all-zero key.
pub struct AesGcmKey {
    inner: Inner,
}

// Variants are stored inline on purpose: the crypto paths do not allocate,
// and the size difference is bounded (a few hundred bytes of key schedule).
#[allow(clippy::large_enum_variant)]
enum Inner {
    A128(Aes128Gcm),
    A256(Aes256Gcm),
}

impl AesGcmKey {
    /// Expands a 16-byte (AES-128) or 32-byte (AES-256) key.
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for any other length.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::KeyLength {
            expected: if key.len() < 32 { 16 } else { 32 },
            actual: key.len(),
        };
        let inner = match key.len() {
            16 => Inner::A128(Aes128Gcm::new_from_slice(key).map_err(|_| bad)?),
            32 => Inner::A256(Aes256Gcm::new_from_slice(key).map_err(|_| bad)?),
            _ => return Err(bad),
        };
        Ok(Self { inner })
    }

    /// The AES key size in bits.
    pub fn key_bits(&self) -> u16 {
        match self.inner {
            Inner::A128(_) => 128,
            Inner::A256(_) => 256,
        }
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
        let nonce = Nonce::from(*nonce);
        let tag = match &self.inner {
            Inner::A128(c) => c.encrypt_in_place_detached(&nonce, aad, buf),
            Inner::A256(c) => c.encrypt_in_place_detached(&nonce, aad, buf),
        }
        .map_err(|_| CryptoError::PlaintextTooLong)?;
        Ok(tag.into())
    }

    /// Checks `tag` over `aad` and the ciphertext in `buf` and, only if it
    /// verifies, decrypts `buf` in place. On failure `buf` is unchanged.
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
        let nonce = Nonce::from(*nonce);
        let tag = Tag::from(*tag);
        match &self.inner {
            Inner::A128(c) => c.decrypt_in_place_detached(&nonce, aad, buf, &tag),
            Inner::A256(c) => c.decrypt_in_place_detached(&nonce, aad, buf, &tag),
        }
        .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

impl Drop for AesGcmKey {
    fn drop(&mut self) {
        match &mut self.inner {
            Inner::A128(c) => scrub_with(c, Aes128Gcm::new(&Default::default())),
            Inner::A256(c) => scrub_with(c, Aes256Gcm::new(&Default::default())),
        }
    }
}

impl fmt::Debug for AesGcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AesGcmKey(AES-{}, redacted)", self.key_bits())
    }
}
