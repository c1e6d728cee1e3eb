//! [`PackedKeys`]: an IKE SA's seven keys in one heap block of exactly
//! their length, for SAs that are held for hours and used seldom (the
//! control plane's table). [`IkeKeys`] keeps every key in a 64-byte inline
//! buffer (504 bytes whatever the suite), which the hot path needs to
//! derive without allocating; an AES-GCM + PRF-HMAC-SHA256 SA's keys are
//! 168 bytes.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{CryptoError, IkeKeys, SecretBuf};

/// The keys of an IKE SA, packed: SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi,
/// SK_pr, one after the other. Wiped on drop; `Debug` prints only the
/// lengths.
#[derive(Clone)]
pub struct PackedKeys {
    lens: [u8; 7],
    bytes: Box<[u8]>,
}

impl PackedKeys {
    pub fn pack(keys: &IkeKeys) -> Self {
        let parts = Self::parts_of(keys);
        let mut lens = [0u8; 7];
        let total = parts.iter().map(|p| p.len()).sum();
        let mut bytes = vec![0u8; total].into_boxed_slice();
        let mut at = 0;
        for (l, p) in lens.iter_mut().zip(parts) {
            // A SecretBuf holds at most 64 bytes.
            *l = p.len() as u8;
            bytes[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        PackedKeys { lens, bytes }
    }

    fn parts_of(k: &IkeKeys) -> [&[u8]; 7] {
        [
            k.sk_d.as_bytes(),
            k.sk_ai.as_bytes(),
            k.sk_ar.as_bytes(),
            k.sk_ei.as_bytes(),
            k.sk_er.as_bytes(),
            k.sk_pi.as_bytes(),
            k.sk_pr.as_bytes(),
        ]
    }

    /// Key `i` in the order above.
    fn part(&self, i: usize) -> &[u8] {
        let start: usize = self.lens[..i].iter().map(|&l| usize::from(l)).sum();
        &self.bytes[start..start + usize::from(self.lens[i])]
    }

    pub fn sk_d(&self) -> &[u8] {
        self.part(0)
    }

    pub fn sk_pi(&self) -> &[u8] {
        self.part(5)
    }

    pub fn sk_pr(&self) -> &[u8] {
        self.part(6)
    }

    /// The keys as [`IkeKeys`] again (on the stack: wiped when dropped).
    ///
    /// # Errors
    /// None for keys packed by [`pack`](Self::pack) (each fits a
    /// [`SecretBuf`]); the `Result` is [`SecretBuf::from_slice`]'s.
    pub fn unpack(&self) -> Result<IkeKeys, CryptoError> {
        let key = |i| SecretBuf::from_slice(self.part(i));
        Ok(IkeKeys {
            sk_d: key(0)?,
            sk_ai: key(1)?,
            sk_ar: key(2)?,
            sk_ei: key(3)?,
            sk_er: key(4)?,
            sk_pi: key(5)?,
            sk_pr: key(6)?,
        })
    }

    /// Heap bytes held (for the memory accounting of tables).
    pub fn heap_len(&self) -> usize {
        self.bytes.len()
    }
}

impl Drop for PackedKeys {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The `Drop` above wipes the block.
impl ZeroizeOnDrop for PackedKeys {}

impl fmt::Debug for PackedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PackedKeys({:?} bytes, redacted)", self.lens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> IkeKeys {
        let k = |n: usize, b: u8| SecretBuf::from_slice(&vec![b; n]).unwrap();
        IkeKeys {
            sk_d: k(32, 1),
            sk_ai: k(0, 2),
            sk_ar: k(0, 3),
            sk_ei: k(36, 4),
            sk_er: k(36, 5),
            sk_pi: k(32, 6),
            sk_pr: k(64, 7),
        }
    }

    #[test]
    fn pack_and_unpack_are_inverse_and_exact() {
        let k = keys();
        let p = PackedKeys::pack(&k);
        assert_eq!(p.heap_len(), 32 + 36 + 36 + 32 + 64);
        let u = p.unpack().unwrap();
        for (a, b) in PackedKeys::parts_of(&k)
            .iter()
            .zip(PackedKeys::parts_of(&u))
        {
            assert_eq!(*a, b);
        }
        assert_eq!(p.sk_d(), &[1; 32]);
        assert_eq!(p.sk_pi(), &[6; 32]);
        assert_eq!(p.sk_pr(), &[7; 64]);
    }

    #[test]
    fn debug_shows_lengths_only() {
        let s = format!("{:?}", PackedKeys::pack(&keys()));
        assert_eq!(s, "PackedKeys([32, 0, 0, 36, 36, 32, 64] bytes, redacted)");
    }
}
