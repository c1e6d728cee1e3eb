//! [`SecretBuf`]: a fixed-capacity key buffer that is wiped on drop and never
//! printed.

use core::fmt;
use core::sync::atomic::{Ordering, compiler_fence};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// A secret of at most [`SecretBuf::CAPACITY`] bytes (SKEYSEED, SK_d, SK_e,
/// SK_a, SK_p, ESP keys), stored inline with no heap allocation.
///
/// - The bytes are zeroized when the value is dropped.
/// - `Debug` prints only the length: `SecretBuf(32 bytes, redacted)`.
/// - There is no `PartialEq`; compare with [`SecretBuf::ct_eq`], which
///   runs in time independent of the contents.
///
/// Copies the compiler makes when a `SecretBuf` is moved are beyond the
/// reach of zeroize; keep long-lived secrets in one place and pass
/// references.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBuf {
    len: u8,
    /// Words, not bytes, so wiping is eight volatile stores rather than
    /// sixty-four (zeroize writes element by element, and a resumption
    /// wipes a dozen of these); read and written as bytes through
    /// `bytemuck`.
    bytes: [u64; SecretBuf::WORDS],
}

impl SecretBuf {
    /// The largest secret a `SecretBuf` holds: 64 bytes, the output of
    /// HMAC-SHA-512 and the longest IKEv2 key Rebound derives.
    pub const CAPACITY: usize = 64;
    const WORDS: usize = Self::CAPACITY / 8;

    /// An empty secret (length 0), e.g. SK_a under an AEAD cipher.
    pub const fn empty() -> Self {
        Self {
            len: 0,
            bytes: [0; Self::WORDS],
        }
    }

    /// Copies `bytes` into a new secret.
    ///
    /// # Errors
    /// [`CryptoError::SecretTooLong`] if `bytes` is longer than
    /// [`SecretBuf::CAPACITY`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut out = Self::zeroed(bytes.len())?;
        out.as_mut_bytes().copy_from_slice(bytes);
        Ok(out)
    }

    /// A secret of `len` zero bytes, to be filled in place through
    /// [`SecretBuf::as_mut_bytes`].
    pub(crate) fn zeroed(len: usize) -> Result<Self, CryptoError> {
        let len8 = u8::try_from(len)
            .ok()
            .filter(|&l| usize::from(l) <= Self::CAPACITY)
            .ok_or(CryptoError::SecretTooLong { len })?;
        Ok(Self {
            len: len8,
            bytes: [0; Self::WORDS],
        })
    }

    /// Replace the secret with `bytes`, in place: the old bytes past the
    /// new length are overwritten with zeros (the buffer stays live, so
    /// the stores stay).
    ///
    /// # Errors
    /// [`CryptoError::SecretTooLong`] beyond [`SecretBuf::CAPACITY`]
    /// (nothing changes then).
    pub(crate) fn set(&mut self, bytes: &[u8]) -> Result<(), CryptoError> {
        let len8 = u8::try_from(bytes.len())
            .ok()
            .filter(|&l| usize::from(l) <= Self::CAPACITY)
            .ok_or(CryptoError::SecretTooLong { len: bytes.len() })?;
        let all = bytemuck::bytes_of_mut(&mut self.bytes);
        let (head, tail) = all.split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        tail.fill(0);
        self.len = len8;
        Ok(())
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // `len <= CAPACITY` is an invariant of every constructor.
        bytemuck::bytes_of(&self.bytes)
            .get(..usize::from(self.len))
            .unwrap_or(&[])
    }

    /// The secret's bytes, mutable (the length is fixed).
    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        bytemuck::bytes_of_mut(&mut self.bytes)
            .get_mut(..usize::from(self.len))
            .unwrap_or(&mut [])
    }

    /// The secret's length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Compares two secrets in constant time (the lengths, which are not
    /// secret, are compared first).
    pub fn ct_eq(&self, other: &Self) -> bool {
        bool::from(self.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl Default for SecretBuf {
    fn default() -> Self {
        Self::empty()
    }
}

impl ConstantTimeEq for SecretBuf {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf({} bytes, redacted)", self.len)
    }
}

/// Overwrites a keyed state that has no zeroize support of its own (the
/// `hmac` 0.12 and `aes-gcm` 0.10 GHASH states) with a value derived from a
/// public all-zero key.
///
/// The assignment drops the old value in place and writes the new one over
/// the same bytes; `black_box` and the compiler fence keep the optimiser from
/// treating the write as dead, which is what `zeroize` does with volatile
/// writes for plain bytes.
pub(crate) fn scrub_with<T>(slot: &mut T, public: T) {
    *slot = public;
    core::hint::black_box(&mut *slot);
    compiler_fence(Ordering::SeqCst);
}
