//! AES-XCBC-MAC (RFC 3566) and its use as PRF_AES128_XCBC (RFC 4434).
//!
//! Streaming, with no allocation: input may arrive in any number of parts.
//! The MAC is kept at its full 128 bits (RFC 4434 uses all of it; the 96-bit
//! truncation of RFC 3566 is the ESP integrity algorithm, not used here).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};
use zeroize::Zeroize;

const BLOCK: usize = 16;

/// The three XCBC subkeys (RFC 3566 §4): K1 as an expanded AES key schedule,
/// K2 and K3 as the blocks XORed into the last message block.
///
/// The `aes` crate zeroizes K1's schedule on drop ("zeroize" feature); `Drop`
/// here wipes K2 and K3.
pub(crate) struct XcbcKey {
    k1: Aes128,
    k2: [u8; BLOCK],
    k3: [u8; BLOCK],
}

fn encrypt(cipher: &Aes128, block: &mut [u8; BLOCK]) {
    let mut b = Block::from(*block);
    cipher.encrypt_block(&mut b);
    *block = b.into();
    b.as_mut_slice().zeroize();
}

fn xor_into(dst: &mut [u8; BLOCK], src: &[u8; BLOCK]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

impl XcbcKey {
    /// RFC 3566 §4 (1): "Derive 3 128-bit keys (K1, K2 and K3) from the
    /// 128-bit secret key K, as follows: K1 = 0x01010101010101010101010101010101
    /// encrypted with Key K; K2 = 0x02020202... encrypted with Key K;
    /// K3 = 0x03030303... encrypted with Key K."
    fn from_aes_key(key: &[u8; BLOCK]) -> Self {
        let cipher = Aes128::new(&(*key).into());
        let mut k1 = [0x01; BLOCK];
        let mut k2 = [0x02; BLOCK];
        let mut k3 = [0x03; BLOCK];
        encrypt(&cipher, &mut k1);
        encrypt(&cipher, &mut k2);
        encrypt(&cipher, &mut k3);
        let k1_cipher = Aes128::new(&k1.into());
        k1.zeroize();
        // `cipher` (the schedule of K) zeroizes itself when it drops here.
        Self {
            k1: k1_cipher,
            k2,
            k3,
        }
    }

    /// The key for PRF_AES128_XCBC, from a key of any length.
    ///
    /// RFC 4434 §2: "If the key is exactly 128 bits, then it is used as-is.
    /// If the key is longer than 128 bits, then it is shortened to exactly
    /// 128 bits by performing the steps in [AES-XCBC-MAC] ... using a
    /// 128-bit key of all zeros. If the key is shorter than 128 bits, then
    /// it is padded with zeros on the right."
    pub(crate) fn for_prf(key: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() <= BLOCK {
            if let Some(dst) = k.get_mut(..key.len()) {
                dst.copy_from_slice(key);
            }
        } else {
            let zero = Self::from_aes_key(&[0u8; BLOCK]);
            let mut mac = zero.start();
            mac.update(key);
            mac.finish_into(&mut k);
        }
        let out = Self::from_aes_key(&k);
        k.zeroize();
        out
    }

    /// Starts one MAC computation.
    pub(crate) fn start(&self) -> XcbcState<'_> {
        XcbcState {
            key: self,
            e: [0; BLOCK],
            buf: [0; BLOCK],
            buf_len: 0,
        }
    }
}

impl Drop for XcbcKey {
    fn drop(&mut self) {
        self.k2.zeroize();
        self.k3.zeroize();
    }
}

/// One running AES-XCBC-MAC computation.
///
/// The last block must be treated differently (K2 or K3), so a full block is
/// only absorbed once more input shows it is not the last.
pub(crate) struct XcbcState<'k> {
    key: &'k XcbcKey,
    /// The CBC chaining value E[i].
    e: [u8; BLOCK],
    /// Buffered, not yet absorbed input (0..=16 bytes).
    buf: [u8; BLOCK],
    buf_len: usize,
}

impl XcbcState<'_> {
    /// Absorbs more message bytes.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.buf_len == BLOCK {
                // RFC 3566 §4 (3): "For each block M[i], where i = 1 ... n-1:
                // XOR M[i] with E[i-1], then encrypt the result with Key K1,
                // yielding E[i]."
                xor_into(&mut self.e, &self.buf);
                encrypt(&self.key.k1, &mut self.e);
                self.buf_len = 0;
            }
            let take = (BLOCK - self.buf_len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.buf_len..self.buf_len + take) {
                dst.copy_from_slice(head);
            }
            self.buf_len += take;
            data = rest;
        }
    }

    /// Writes the 128-bit MAC to `out`.
    pub(crate) fn finish_into(mut self, out: &mut [u8; BLOCK]) {
        if self.buf_len == BLOCK {
            // RFC 3566 §4 (4): "If the blocksize of M[n] is 128 bits: XOR
            // M[n] with E[n-1] and Key K2, then encrypt the result with Key
            // K1, yielding E[n]."
            xor_into(&mut self.buf, &self.key.k2);
        } else {
            // RFC 3566 §4 (5): "If the blocksize of M[n] is less than 128
            // bits: Pad M[n] with a single "1" bit, followed by the number of
            // "0" bits (possibly none) required to increase M[n]'s blocksize
            // to 128 bits. XOR M[n] with E[n-1] and Key K3, then encrypt the
            // result with Key K1, yielding E[n]." (An empty message is one
            // empty, hence incomplete, block.)
            if let Some(tail) = self.buf.get_mut(self.buf_len..) {
                tail.fill(0);
                if let Some(first) = tail.first_mut() {
                    *first = 0x80;
                }
            }
            xor_into(&mut self.buf, &self.key.k3);
        }
        xor_into(&mut self.e, &self.buf);
        encrypt(&self.key.k1, &mut self.e);
        *out = self.e;
    }
}

impl Drop for XcbcState<'_> {
    fn drop(&mut self) {
        self.e.zeroize();
        self.buf.zeroize();
    }
}
