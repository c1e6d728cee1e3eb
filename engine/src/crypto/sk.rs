//! SK (Encrypted) payload protection, in place and without allocation
//! (RFC 7296 §3.14; RFC 5282 for AES-GCM; RFC 4868 for the HMAC-SHA-2
//! integrity check).
//!
//! The SK payload body, after its 4-byte generic header:
//!
//! ```text
//! | IV | inner payloads | Padding | Pad Length (1) | ICV |
//!      \_______________ encrypted ________________/
//! ```
//!
//! - AES-GCM: 8-byte IV, no alignment (padding 0), 16-byte tag as the ICV.
//!   Nonce = salt (last 4 bytes of SK_e) | IV; associated data = the message
//!   from the IKE header through the SK generic header.
//! - AES-CBC: 16-byte IV, padding to a 16-byte multiple, ICV = truncated HMAC
//!   over the whole message from the IKE header through the Pad Length.

use core::fmt;
use core::ops::Range;

use aes::{Aes128, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use rebound_kernels::gcm::{KeyedOpenJob, OpenJob};
use zeroize::Zeroize;

use super::gcm::{AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN, MAX_GCM_MESSAGE};
use super::integ::IntegKey;
use super::suite::check_pair;
use super::{CryptoError, Encr, IkeKeys, IkeSuite, Integ};

// The message layout comes from the codec (RFC 7296 §3.1, §3.2).
use crate::wire::chain::{GENERIC_HEADER_LEN, PAYLOAD_LENGTH_FIELD};
use crate::wire::header::{HEADER_LEN as IKE_HEADER_LEN, LENGTH_FIELD as IKE_LENGTH_FIELD};

/// The GCM salt length (RFC 5282 §7.1).
const SALT_LEN: usize = 4;
/// The AES block size.
const AES_BLOCK: usize = 16;

/// Which end of the IKE SA we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The original initiator: sends with SK_ei/SK_ai, receives with
    /// SK_er/SK_ar.
    Initiator,
    /// The original responder: sends with SK_er/SK_ar, receives with
    /// SK_ei/SK_ai.
    Responder,
}

/// The sizes of an SK payload body (everything after its 4-byte generic
/// header) for a given plaintext length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SkLayout {
    /// IV length: 8 (GCM) or 16 (CBC).
    pub iv_len: usize,
    /// Padding bytes before the Pad Length byte.
    pub pad_len: usize,
    /// ICV length: the GCM tag or the truncated HMAC.
    pub icv_len: usize,
    /// `iv_len + plaintext_len + pad_len + 1 + icv_len`: the SK payload's
    /// length is `4 + body_len`.
    pub body_len: usize,
}

impl SkLayout {
    /// Offset of the plaintext (the inner payloads) from the start of the
    /// body: the IV length.
    pub const fn plaintext_offset(&self) -> usize {
        self.iv_len
    }

    /// Bytes after the plaintext: padding, the Pad Length octet and the
    /// ICV. What [`crate::wire::MessageBuilder::end_sk`] must reserve.
    pub const fn trailer_len(&self) -> usize {
        self.pad_len + 1 + self.icv_len
    }
}

/// The SK payload cipher of one direction of an IKE SA, keyed once.
///
/// Holds the expanded AES-GCM key and salt, or the AES-CBC key schedule and
/// the keyed HMAC. `Debug` prints only the algorithms; all key state is
/// wiped on drop.
pub struct SkCipher {
    encr: Encr,
    engine: Engine,
}

// Variants are stored inline on purpose: the crypto paths do not allocate,
// and the size difference is bounded (a few hundred bytes of key schedule).
#[allow(clippy::large_enum_variant)]
enum Engine {
    Gcm {
        key: AesGcmKey,
        salt: [u8; SALT_LEN],
    },
    Cbc {
        aes: CbcKey,
        mac: IntegKey,
    },
}

/// An AES key schedule for CBC; the `aes` crate zeroizes it on drop.
// Variants are stored inline on purpose: the crypto paths do not allocate,
// and the size difference is bounded (a few hundred bytes of key schedule).
#[allow(clippy::large_enum_variant)]
enum CbcKey {
    A128(Aes128),
    A256(Aes256),
}

impl CbcKey {
    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let bad = |expected| CryptoError::KeyLength {
            expected,
            actual: key.len(),
        };
        match key.len() {
            16 => Aes128::new_from_slice(key)
                .map(Self::A128)
                .map_err(|_| bad(16)),
            32 => Aes256::new_from_slice(key)
                .map(Self::A256)
                .map_err(|_| bad(32)),
            _ => Err(bad(if key.len() < 32 { 16 } else { 32 })),
        }
    }

    /// AES-CBC encryption of whole blocks in place. The key schedule is
    /// copied (not re-expanded) into the mode; the copy zeroizes on drop.
    fn encrypt(&self, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> Result<(), CryptoError> {
        let len = buf.len();
        let res = match self {
            Self::A128(k) => cbc::Encryptor::<Aes128>::inner_iv_init(k.clone(), iv.into())
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .map(|_| ()),
            Self::A256(k) => cbc::Encryptor::<Aes256>::inner_iv_init(k.clone(), iv.into())
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .map(|_| ()),
        };
        res.map_err(|_| CryptoError::SkBadAlignment)
    }

    /// AES-CBC decryption of whole blocks in place.
    fn decrypt(&self, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> Result<(), CryptoError> {
        let res = match self {
            Self::A128(k) => cbc::Decryptor::<Aes128>::inner_iv_init(k.clone(), iv.into())
                .decrypt_padded_mut::<NoPadding>(buf)
                .map(|_| ()),
            Self::A256(k) => cbc::Decryptor::<Aes256>::inner_iv_init(k.clone(), iv.into())
                .decrypt_padded_mut::<NoPadding>(buf)
                .map(|_| ()),
        };
        res.map_err(|_| CryptoError::SkBadAlignment)
    }
}

/// Checks that the SK generic header lies within the message, after the IKE
/// header, and returns the offset of the SK body.
fn body_start(msg_len: usize, sk_offset: usize) -> Result<usize, CryptoError> {
    if sk_offset < IKE_HEADER_LEN {
        return Err(CryptoError::SkOffsetOutOfRange);
    }
    sk_offset
        .checked_add(GENERIC_HEADER_LEN)
        .filter(|&start| start <= msg_len)
        .ok_or(CryptoError::SkOffsetOutOfRange)
}

/// RFC 7296 §3.14: "the Encrypted payload, if present in a message, MUST be
/// the last payload in the message." So the IKE header's Length (§3.1) must
/// equal the message length and the SK payload's Payload Length must reach
/// exactly to its end. `sk_offset + 4 <= msg.len()` was checked.
fn check_length_fields(msg: &[u8], sk_offset: usize) -> Result<(), CryptoError> {
    let ike_len = msg
        .get(IKE_LENGTH_FIELD)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes);
    let sk_len = msg
        .get(sk_offset + PAYLOAD_LENGTH_FIELD.start..sk_offset + PAYLOAD_LENGTH_FIELD.end)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes);
    let ike_ok = ike_len.is_some_and(|l| usize::try_from(l).is_ok_and(|l| l == msg.len()));
    let sk_ok = sk_len.is_some_and(|l| usize::from(l) == msg.len() - sk_offset);
    if ike_ok && sk_ok {
        Ok(())
    } else {
        Err(CryptoError::LengthFieldMismatch)
    }
}

impl SkCipher {
    /// Keys one direction's SK cipher.
    ///
    /// - `enc_key_with_salt`: SK_ei or SK_er, [`Encr::keymat_len`] bytes
    ///   (for AES-GCM the last 4 bytes are the salt, RFC 5282 §7.1).
    /// - `integ_key`: SK_ai or SK_ar, [`Integ::key_len`] bytes; empty for
    ///   AEAD.
    ///
    /// # Errors
    /// An invalid `encr`/`integ` pair (as [`IkeSuite::new`]) or
    /// [`CryptoError::KeyLength`].
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        enc_key_with_salt: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, CryptoError> {
        check_pair(encr, integ)?;
        if enc_key_with_salt.len() != encr.keymat_len() {
            return Err(CryptoError::KeyLength {
                expected: encr.keymat_len(),
                actual: enc_key_with_salt.len(),
            });
        }
        let engine = match integ {
            None => {
                // RFC 5282 §7.1: SK_ai and SK_ar are not used with AEAD
                // (their length is 0).
                if !integ_key.is_empty() {
                    return Err(CryptoError::KeyLength {
                        expected: 0,
                        actual: integ_key.len(),
                    });
                }
                let (key, salt) = enc_key_with_salt.split_last_chunk::<SALT_LEN>().ok_or(
                    CryptoError::KeyLength {
                        expected: encr.keymat_len(),
                        actual: enc_key_with_salt.len(),
                    },
                )?;
                Engine::Gcm {
                    key: AesGcmKey::new_once(key)?,
                    salt: *salt,
                }
            }
            Some(integ) => Engine::Cbc {
                aes: CbcKey::new(enc_key_with_salt)?,
                mac: IntegKey::new(integ, integ_key)?,
            },
        };
        Ok(Self { encr, engine })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// The integrity algorithm (`None` for AEAD).
    pub fn integ(&self) -> Option<Integ> {
        match &self.engine {
            Engine::Gcm { .. } => None,
            Engine::Cbc { mac, .. } => Some(mac.integ()),
        }
    }

    /// The ICV length.
    pub fn icv_len(&self) -> usize {
        match &self.engine {
            Engine::Gcm { .. } => GCM_TAG_LEN,
            Engine::Cbc { mac, .. } => mac.integ().icv_len(),
        }
    }

    /// The body layout for `plaintext_len` bytes of inner payloads.
    ///
    /// RFC 7296 §3.14: Padding "MUST have a length that makes the
    /// combination of the payload, the Padding, and the Pad Length to be a
    /// multiple of the encryption block size", and "The sender SHOULD set
    /// the Pad Length to the minimum value that makes [that combination] a
    /// multiple of the block size": this is that minimum (0..=15 for CBC,
    /// always 0 for GCM, whose block size is 1).
    ///
    /// Sizes saturate at `usize::MAX` for absurd inputs, which `protect`
    /// then refuses because no buffer is that long.
    pub fn layout(&self, plaintext_len: usize) -> SkLayout {
        let block = self.encr.block_len();
        let rem = (plaintext_len % block + 1) % block;
        let pad_len = (block - rem) % block;
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let body_len = iv_len
            .saturating_add(plaintext_len)
            .saturating_add(pad_len)
            .saturating_add(1)
            .saturating_add(icv_len);
        SkLayout {
            iv_len,
            pad_len,
            icv_len,
            body_len,
        }
    }

    /// Protects an outgoing message in place.
    ///
    /// Contract: `msg` is the whole IKE message from the IKE header (no
    /// non-ESP marker), exactly `sk_offset + 4 + layout.body_len` bytes,
    /// with the IKE header Length and the SK generic header already final,
    /// and the inner payloads at `msg[sk_offset + 4 + iv_len..]
    /// [..plaintext_len]`. This writes the IV, padding (zeros) and Pad
    /// Length, encrypts, and writes the ICV.
    ///
    /// `iv` is the caller's: for GCM an 8-byte value that never repeats
    /// under one key (RFC 4106 §3.1, which RFC 5282 applies to IKE: "For a
    /// given key, the IV MUST NOT repeat"; a counter is the usual choice);
    /// for CBC 16 random bytes (RFC 7296 §3.14: "Senders MUST select a new
    /// unpredictable IV for every message").
    ///
    /// # Errors
    /// [`CryptoError::SkOffsetOutOfRange`], [`CryptoError::MessageLength`],
    /// [`CryptoError::LengthFieldMismatch`] or [`CryptoError::IvLength`]
    /// when the contract is broken; nothing is written then.
    pub fn protect(
        &self,
        msg: &mut [u8],
        sk_offset: usize,
        plaintext_len: usize,
        iv: &[u8],
    ) -> Result<(), CryptoError> {
        let layout = self.layout(plaintext_len);
        let start = body_start(msg.len(), sk_offset)?;
        let expected = start
            .checked_add(layout.body_len)
            .ok_or(CryptoError::MessageLength {
                expected: usize::MAX,
                actual: msg.len(),
            })?;
        if msg.len() != expected {
            return Err(CryptoError::MessageLength {
                expected,
                actual: msg.len(),
            });
        }
        check_length_fields(msg, sk_offset)?;
        if iv.len() != layout.iv_len {
            return Err(CryptoError::IvLength {
                expected: layout.iv_len,
                actual: iv.len(),
            });
        }
        let pad_byte = u8::try_from(layout.pad_len).map_err(|_| CryptoError::BadPadding)?;
        let signed_len = msg.len() - layout.icv_len;
        let enc_range = start + layout.iv_len..signed_len;

        {
            let (head, body) = msg
                .split_at_mut_checked(start)
                .ok_or(CryptoError::SkOffsetOutOfRange)?;
            let (iv_dst, rest) = body
                .split_at_mut_checked(layout.iv_len)
                .ok_or(CryptoError::SkTooShort)?;
            iv_dst.copy_from_slice(iv);
            let (enc, icv) = rest
                .split_at_mut_checked(enc_range.len())
                .ok_or(CryptoError::SkTooShort)?;
            // The padding and the Pad Length follow the plaintext. RFC 7296
            // §3.14: "Padding MAY contain any value chosen by the sender";
            // Rebound sends zeros.
            if let Some((pad_len_dst, padding)) = enc
                .get_mut(plaintext_len..)
                .and_then(<[u8]>::split_last_mut)
            {
                padding.fill(0);
                *pad_len_dst = pad_byte;
            }
            match &self.engine {
                Engine::Gcm { key, salt } => {
                    // The associated data (RFC 5282 §5.1) is the message
                    // from the first octet of the IKE header through the
                    // last octet of the Encrypted payload's generic header.
                    let nonce = gcm_nonce(salt, iv_dst)?;
                    let tag = key.seal_in_place_detached(&nonce, head, enc)?;
                    icv.copy_from_slice(&tag);
                }
                Engine::Cbc { aes, .. } => {
                    let iv16: &[u8; AES_BLOCK] =
                        (&*iv_dst).try_into().map_err(|_| CryptoError::IvLength {
                            expected: AES_BLOCK,
                            actual: iv_dst.len(),
                        })?;
                    aes.encrypt(iv16, enc)?;
                }
            }
        }
        if let Engine::Cbc { mac, .. } = &self.engine {
            // RFC 7296 §3.14: "Integrity Checksum Data is the cryptographic
            // checksum of the entire message starting with the Fixed IKE
            // header through the Pad Length. The checksum MUST be computed
            // over the encrypted message."
            let (signed, icv) = msg
                .split_at_mut_checked(signed_len)
                .ok_or(CryptoError::SkTooShort)?;
            mac.compute(&[signed], icv)?;
        }
        Ok(())
    }

    /// Verifies and decrypts a received message in place, returning the
    /// range of the inner payloads within `msg`.
    ///
    /// `msg` is the whole message from the IKE header; its length must equal
    /// the header's Length field (the caller checked) and the SK payload at
    /// `sk_offset` must be the last payload. Any input, including an
    /// `sk_offset` past the end, gives an error rather than a panic.
    ///
    /// # Errors
    /// [`CryptoError::SkOffsetOutOfRange`], [`CryptoError::LengthFieldMismatch`],
    /// [`CryptoError::SkTooShort`], [`CryptoError::SkBadAlignment`],
    /// [`CryptoError::IntegrityCheckFailed`] or [`CryptoError::BadPadding`].
    pub fn unprotect(&self, msg: &mut [u8], sk_offset: usize) -> Result<Range<usize>, CryptoError> {
        let start = body_start(msg.len(), sk_offset)?;
        check_length_fields(msg, sk_offset)?;
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        // The body holds at least the IV, the Pad Length byte and the ICV.
        let min_body = iv_len + 1 + icv_len;
        if msg.len() - start < min_body {
            return Err(CryptoError::SkTooShort);
        }
        let signed_len = msg.len() - icv_len;
        let enc_range = start + iv_len..signed_len;

        match &self.engine {
            Engine::Cbc { aes, mac } => {
                // RFC 7296 §3.14: the Padding "MUST have a length that makes
                // the combination of the payload, the Padding, and the Pad
                // Length to be a multiple of the encryption block size".
                if enc_range.len() % AES_BLOCK != 0 {
                    return Err(CryptoError::SkBadAlignment);
                }
                // Integrity first, decryption only of authentic data.
                let (signed, icv) = msg
                    .split_at_checked(signed_len)
                    .ok_or(CryptoError::SkTooShort)?;
                mac.verify(&[signed], icv)?;
                let mut iv = [0u8; AES_BLOCK];
                iv.copy_from_slice(
                    msg.get(start..start + AES_BLOCK)
                        .ok_or(CryptoError::SkTooShort)?,
                );
                let enc = msg
                    .get_mut(enc_range.clone())
                    .ok_or(CryptoError::SkTooShort)?;
                aes.decrypt(&iv, enc)?;
            }
            Engine::Gcm { key, salt } => {
                let (head, body) = msg
                    .split_at_mut_checked(start)
                    .ok_or(CryptoError::SkOffsetOutOfRange)?;
                let (iv, rest) = body
                    .split_at_mut_checked(iv_len)
                    .ok_or(CryptoError::SkTooShort)?;
                let (enc, icv) = rest
                    .split_at_mut_checked(enc_range.len())
                    .ok_or(CryptoError::SkTooShort)?;
                let nonce = gcm_nonce(salt, iv)?;
                let tag: &[u8; GCM_TAG_LEN] =
                    (&*icv).try_into().map_err(|_| CryptoError::SkTooShort)?;
                key.open_in_place_detached(&nonce, head, enc, tag)?;
            }
        }

        plaintext_range(msg, enc_range)
    }

    /// For AES-GCM, [`unprotect`](Self::unprotect) split for a batch: its
    /// checks, then the kernels' job that decrypts `msg`'s SK payload in
    /// place, and the range it decrypts (for [`SkOpened::finish`]);
    /// `None` for AES-CBC (use `unprotect`).
    pub(crate) fn open_job<'a>(
        &'a self,
        msg: &'a mut [u8],
        sk_offset: usize,
    ) -> Option<Result<SkOpenJob<'a>, CryptoError>> {
        let Engine::Gcm { key, salt } = &self.engine else {
            return None;
        };
        Some(gcm_open_job(self.encr, key, salt, msg, sk_offset))
    }
}

fn gcm_open_job<'a>(
    encr: Encr,
    key: &'a AesGcmKey,
    salt: &[u8; SALT_LEN],
    msg: &'a mut [u8],
    sk_offset: usize,
) -> Result<SkOpenJob<'a>, CryptoError> {
    let start = body_start(msg.len(), sk_offset)?;
    check_length_fields(msg, sk_offset)?;
    let iv_len = encr.iv_len();
    if msg.len() - start < iv_len + 1 + GCM_TAG_LEN {
        return Err(CryptoError::SkTooShort);
    }
    let signed_len = msg.len() - GCM_TAG_LEN;
    let enc_range = start + iv_len..signed_len;
    let (head, body) = msg
        .split_at_mut_checked(start)
        .ok_or(CryptoError::SkOffsetOutOfRange)?;
    let (iv, rest) = body
        .split_at_mut_checked(iv_len)
        .ok_or(CryptoError::SkTooShort)?;
    let (enc, icv) = rest
        .split_at_mut_checked(enc_range.len())
        .ok_or(CryptoError::SkTooShort)?;
    // As `unprotect`: AAD = the message through the SK generic
    // header (RFC 5282 §5.1), nonce = salt | IV.
    if enc.len() as u64 > MAX_GCM_MESSAGE || head.len() as u64 > MAX_GCM_MESSAGE {
        return Err(CryptoError::IntegrityCheckFailed);
    }
    let nonce = gcm_nonce(salt, iv)?;
    let tag: [u8; GCM_TAG_LEN] = (&*icv).try_into().map_err(|_| CryptoError::SkTooShort)?;
    Ok(SkOpenJob {
        job: KeyedOpenJob {
            key: key.kernel(),
            job: OpenJob::new(nonce, head, enc, tag),
        },
        opened: SkOpened { enc: enc_range },
    })
}

/// An SK payload decryption handed to the batch kernels
/// (`rebound_kernels::gcm::open_keyed`).
pub(crate) struct SkOpenJob<'a> {
    pub(crate) job: KeyedOpenJob<'a>,
    pub(crate) opened: SkOpened,
}

/// What is left of [`SkCipher::unprotect`] once the kernels have opened a
/// job.
#[derive(Debug, Clone)]
pub(crate) struct SkOpened {
    enc: Range<usize>,
}

impl SkOpened {
    /// The inner payloads' range in `msg` (decrypted in place by a job
    /// whose tag matched), as [`SkCipher::unprotect`] returns it.
    pub(crate) fn finish(self, msg: &[u8]) -> Result<Range<usize>, CryptoError> {
        plaintext_range(msg, self.enc)
    }
}

/// The inner payloads within the decrypted `enc_range` of `msg`.
fn plaintext_range(msg: &[u8], enc_range: Range<usize>) -> Result<Range<usize>, CryptoError> {
    // RFC 7296 §3.14: "The sender SHOULD set the Pad Length to the
    // minimum value ..., but the recipient MUST accept any length that
    // results in proper alignment." So any pad length is accepted as
    // long as it stays within the decrypted data.
    let pad_len = msg
        .get(enc_range.clone())
        .and_then(<[u8]>::last)
        .map(|&b| usize::from(b))
        .ok_or(CryptoError::SkTooShort)?;
    let plaintext_end = enc_range
        .end
        .checked_sub(pad_len + 1)
        .filter(|&end| end >= enc_range.start)
        .ok_or(CryptoError::BadPadding)?;
    Ok(enc_range.start..plaintext_end)
}

/// The 12-octet AES-GCM nonce (RFC 5282 §4): the 4-octet salt from the key
/// material followed by the 8-octet IV carried in the payload.
fn gcm_nonce(salt: &[u8; SALT_LEN], iv: &[u8]) -> Result<[u8; GCM_NONCE_LEN], CryptoError> {
    let mut nonce = [0u8; GCM_NONCE_LEN];
    let (s, i) = nonce.split_at_mut(SALT_LEN);
    s.copy_from_slice(salt);
    if i.len() != iv.len() {
        return Err(CryptoError::IvLength {
            expected: i.len(),
            actual: iv.len(),
        });
    }
    i.copy_from_slice(iv);
    Ok(nonce)
}

impl Drop for SkCipher {
    fn drop(&mut self) {
        // AesGcmKey, the AES schedules and IntegKey wipe themselves.
        if let Engine::Gcm { salt, .. } = &mut self.engine {
            salt.zeroize();
        }
    }
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ())
            .field("keys", &"redacted")
            .finish()
    }
}

impl IkeKeys {
    /// The SK ciphers of one end of the IKE SA: `(outbound, inbound)`.
    ///
    /// RFC 7296 §2.14: "The two directions of traffic flow use different
    /// keys. The keys used to protect messages from the original initiator
    /// are SK_ai and SK_ei. The keys used to protect messages in the other
    /// direction are SK_ar and SK_er." So the initiator sends with
    /// SK_ei/SK_ai and receives with SK_er/SK_ar; the responder the
    /// opposite.
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] if the keys were not derived for `suite`.
    pub fn sk_ciphers(
        &self,
        suite: &IkeSuite,
        role: Role,
    ) -> Result<(SkCipher, SkCipher), CryptoError> {
        let i2r = SkCipher::new(
            suite.encr(),
            suite.integ(),
            self.sk_ei.as_bytes(),
            self.sk_ai.as_bytes(),
        )?;
        let r2i = SkCipher::new(
            suite.encr(),
            suite.integ(),
            self.sk_er.as_bytes(),
            self.sk_ar.as_bytes(),
        )?;
        Ok(match role {
            Role::Initiator => (i2r, r2i),
            Role::Responder => (r2i, i2r),
        })
    }
}
