//! Keyed HMAC state shared by the prf (RFC 2104 / RFC 4868 PRF_HMAC_*) and
//! the SK integrity check (RFC 4868 AUTH_HMAC_SHA2_*).
//!
//! The key is absorbed once (the ipad / opad blocks are hashed when the
//! state is built); each computation clones that state on the stack, which
//! costs a few hundred bytes of copying and no hashing and no allocation.

use core::fmt;

use hmac::Hmac;
use hmac::digest::{KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroize;

use super::secret::scrub_with;

/// The hash functions IKEv2 uses with HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The full HMAC output length in bytes.
    pub(crate) const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// HMAC keyed once; scrubbed on drop unless built with
/// [`KeyedHmac::new_ephemeral`].
///
/// `hmac` 0.12 has no zeroize support, so `Drop` overwrites the keyed state
/// with the state of a public all-zero key (see `scrub_with`). That costs as
/// much as keying HMAC again, so it is reserved for states that outlive a
/// call (an SA's integrity key, a caller's `PrfKey`). One-shot computations
/// skip it: their keyed state lives only on the stack, like the per-block
/// clones every computation makes, which are not scrubbed either.
pub(crate) struct KeyedHmac {
    state: HmacState,
    scrub_on_drop: bool,
}

/// The running HMAC of one computation (a clone of the keyed state).
#[derive(Clone)]
pub(crate) enum HmacState {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

fn keyed<M: Mac + KeyInit>(key: &[u8]) -> M {
    // HMAC accepts keys of any length (RFC 2104 §2: longer keys are hashed,
    // shorter ones zero-padded), so `new_from_slice` cannot fail; fall back
    // to the block-size zero key only to avoid an unwrap.
    match <M as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => <M as KeyInit>::new(&Default::default()),
    }
}

impl KeyedHmac {
    /// Absorbs `key` (any length); the state is scrubbed on drop.
    pub(crate) fn new(hash: HashAlg, key: &[u8]) -> Self {
        Self {
            state: HmacState::keyed(hash, key),
            scrub_on_drop: true,
        }
    }

    /// Absorbs `key` for a one-shot computation on the stack; no drop-time
    /// scrub.
    pub(crate) fn new_ephemeral(hash: HashAlg, key: &[u8]) -> Self {
        Self {
            state: HmacState::keyed(hash, key),
            scrub_on_drop: false,
        }
    }

    /// The hash this state was keyed for.
    pub(crate) fn hash(&self) -> HashAlg {
        match self.state {
            HmacState::Sha1(_) => HashAlg::Sha1,
            HmacState::Sha256(_) => HashAlg::Sha256,
            HmacState::Sha384(_) => HashAlg::Sha384,
            HmacState::Sha512(_) => HashAlg::Sha512,
        }
    }

    /// Starts one computation.
    pub(crate) fn start(&self) -> HmacState {
        self.state.clone()
    }

    /// HMAC over the concatenation of `parts`, truncated to `out.len()`
    /// bytes (at most the full output length; any excess is left untouched).
    pub(crate) fn compute_into(&self, parts: &[&[u8]], out: &mut [u8]) {
        let mut running = self.start();
        for part in parts {
            running.update(part);
        }
        running.finish_into(out);
    }
}

impl HmacState {
    fn keyed(hash: HashAlg, key: &[u8]) -> Self {
        match hash {
            HashAlg::Sha1 => Self::Sha1(keyed(key)),
            HashAlg::Sha256 => Self::Sha256(keyed(key)),
            HashAlg::Sha384 => Self::Sha384(keyed(key)),
            HashAlg::Sha512 => Self::Sha512(keyed(key)),
        }
    }

    /// Absorbs more message bytes.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(m) => m.update(data),
            Self::Sha256(m) => m.update(data),
            Self::Sha384(m) => m.update(data),
            Self::Sha512(m) => m.update(data),
        }
    }

    /// Writes the first `min(out.len(), output_len)` bytes of the HMAC to
    /// `out` (truncation as in RFC 4868 §2.3 keeps the leftmost bits).
    pub(crate) fn finish_into(self, out: &mut [u8]) {
        match self {
            Self::Sha1(m) => copy_tag(m, out),
            Self::Sha256(m) => copy_tag(m, out),
            Self::Sha384(m) => copy_tag(m, out),
            Self::Sha512(m) => copy_tag(m, out),
        }
    }
}

fn copy_tag<M: Mac>(mac: M, out: &mut [u8]) {
    let mut full = mac.finalize().into_bytes();
    let n = out.len().min(full.len());
    if let (Some(dst), Some(src)) = (out.get_mut(..n), full.get(..n)) {
        dst.copy_from_slice(src);
    }
    // The full output may be key material (prf+ blocks); wipe the copy.
    full.as_mut_slice().zeroize();
}

impl Drop for KeyedHmac {
    fn drop(&mut self) {
        if !self.scrub_on_drop {
            return;
        }
        let zero_key = [0u8; 0];
        match &mut self.state {
            HmacState::Sha1(m) => scrub_with(m, keyed(&zero_key)),
            HmacState::Sha256(m) => scrub_with(m, keyed(&zero_key)),
            HmacState::Sha384(m) => scrub_with(m, keyed(&zero_key)),
            HmacState::Sha512(m) => scrub_with(m, keyed(&zero_key)),
        }
    }
}

impl fmt::Debug for KeyedHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyedHmac({:?}, redacted)", self.hash())
    }
}
