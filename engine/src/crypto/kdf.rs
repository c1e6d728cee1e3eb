//! IKEv2 key derivation: SKEYSEED (initial, rekey, resumption), the IKE SA
//! keys and CHILD_SA key material (RFC 7296 §2.14, §2.17, §2.18; RFC 5723
//! §5.1).
//!
//! Nonces are checked against the range the KDF accepts, 8..=256 bytes (the
//! range of NIST's ACVP IKEv2 KDF tests, whose vectors use 8-byte nonces).
//! The protocol minimum of RFC 7296 §2.10 ("at least 128 bits") is enforced
//! where the Nonce payload is parsed, not here.

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::suite::check_pair;
use super::{CryptoError, Encr, IkeSuite, Integ, PrfAlg, PrfKey, SecretBuf, prf_plus};

/// The shortest nonce the KDF accepts, in bytes.
pub const KDF_MIN_NONCE_LEN: usize = 8;
/// The longest nonce the KDF accepts, in bytes (RFC 7296 §3.9: "between 16
/// and 256 octets").
pub const KDF_MAX_NONCE_LEN: usize = 256;

/// The label of the resumption SKEYSEED: the 10 ASCII bytes of
/// `Resumption`, no terminating NUL (RFC 5723 §5.1).
pub const RESUMPTION_LABEL: &[u8; 10] = b"Resumption";

/// The most bytes `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}`
/// can take with the supported algorithms: three 64-byte prf keys, two
/// 64-byte HMAC-SHA-512 keys, two 36-byte AES-256-GCM keys with salt.
pub(super) const MAX_IKE_KEYMAT: usize = 3 * 64 + 2 * 64 + 2 * 36;

/// The most bytes of CHILD_SA key material: two 64-byte integrity keys plus
/// two 36-byte encryption keys.
const MAX_CHILD_KEYMAT: usize = 2 * 64 + 2 * 36;

fn check_nonce(nonce: &[u8]) -> Result<(), CryptoError> {
    if (KDF_MIN_NONCE_LEN..=KDF_MAX_NONCE_LEN).contains(&nonce.len()) {
        Ok(())
    } else {
        Err(CryptoError::NonceLength { len: nonce.len() })
    }
}

pub(super) fn check_nonces(ni: &[u8], nr: &[u8]) -> Result<(), CryptoError> {
    check_nonce(ni)?;
    check_nonce(nr)
}

/// SKEYSEED of a new IKE SA: `prf(Ni | Nr, g^ir)` (RFC 7296 §2.14).
/// Writes `alg.output_len()` bytes to the front of `out` and returns that
/// length.
///
/// # Errors
/// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes,
/// [`CryptoError::OutputTooShort`] if `out` is too small.
pub fn skeyseed_initial(
    alg: PrfAlg,
    ni: &[u8],
    nr: &[u8],
    g_ir: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    check_nonces(ni, nr)?;
    let mut key = [0u8; 2 * KDF_MAX_NONCE_LEN];
    let key_len = match alg {
        // RFC 7296 §2.14: "If the negotiated PRF is AES-XCBC-PRF-128
        // [AESXCBCPRF128] or AES-CMAC-PRF-128 [AESCMACPRF128], only the
        // first 64 bits of Ni and the first 64 bits of Nr are used in
        // calculating SKEYSEED, but all the bits are used for input to the
        // prf+ function."
        PrfAlg::Aes128Xcbc => concat_into(&mut key, &[prefix8(ni), prefix8(nr)]),
        _ => concat_into(&mut key, &[ni, nr]),
    };
    let result = PrfKey::ephemeral(alg, key.get(..key_len).unwrap_or(&[])).compute(&[g_ir], out);
    key.zeroize();
    result
}

/// The first 64 bits of a nonce (nonces are at least 8 bytes here).
fn prefix8(nonce: &[u8]) -> &[u8] {
    nonce.get(..8).unwrap_or(nonce)
}

/// Copies `parts` one after another into `buf`, returning the length used.
/// Parts that do not fit are cut (callers size `buf` for the worst case).
fn concat_into(buf: &mut [u8], parts: &[&[u8]]) -> usize {
    let mut at = 0;
    for part in parts {
        let n = part.len().min(buf.len().saturating_sub(at));
        if let (Some(dst), Some(src)) = (buf.get_mut(at..at + n), part.get(..n)) {
            dst.copy_from_slice(src);
        }
        at += n;
    }
    at
}

/// SKEYSEED of a rekeyed IKE SA: `prf(SK_d (old), g^ir (new) | Ni | Nr)`
/// (RFC 7296 §2.18). Returns the number of bytes written to `out`.
///
/// # Errors
/// As [`skeyseed_initial`].
pub fn skeyseed_rekey(
    alg: PrfAlg,
    sk_d_old: &[u8],
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    check_nonces(ni, nr)?;
    PrfKey::ephemeral(alg, sk_d_old).compute(&[g_ir_new, ni, nr], out)
}

/// SKEYSEED of a resumed IKE SA (RFC 5723 §5.1):
/// `SKEYSEED = prf(SK_d_old, "Resumption" | Ni | Nr)`, where
/// "Resumption" is [`RESUMPTION_LABEL`]. Returns the number of bytes written
/// to `out`.
///
/// # Errors
/// As [`skeyseed_initial`].
pub fn skeyseed_resume(
    alg: PrfAlg,
    sk_d_old: &[u8],
    ni: &[u8],
    nr: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    check_nonces(ni, nr)?;
    PrfKey::ephemeral(alg, sk_d_old).compute(&[RESUMPTION_LABEL, ni, nr], out)
}

/// The IKE SA key material (RFC 7296 §2.14):
/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
/// prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)`, filling all of `out`.
///
/// # Errors
/// [`CryptoError::NonceLength`], or [`CryptoError::OutputTooLong`] beyond
/// 255 prf outputs.
pub fn ike_keymat(
    alg: PrfAlg,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spii: &[u8; 8],
    spir: &[u8; 8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    check_nonces(ni, nr)?;
    prf_plus(alg, skeyseed, &[ni, nr, spii, spir], out)
}

/// CHILD_SA key material (RFC 7296 §2.17), filling all of `out`:
/// `KEYMAT = prf+(SK_d, Ni | Nr)`, or with a CREATE_CHILD_SA Diffie-Hellman
/// exchange `KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)`.
///
/// # Errors
/// [`CryptoError::NonceLength`], or [`CryptoError::OutputTooLong`] beyond
/// 255 prf outputs.
pub fn child_keymat(
    alg: PrfAlg,
    sk_d: &[u8],
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    check_nonces(ni, nr)?;
    match g_ir_new {
        Some(g) => prf_plus(alg, sk_d, &[g, ni, nr], out),
        None => prf_plus(alg, sk_d, &[ni, nr], out),
    }
}

/// Takes the next `n` bytes of key material as a secret.
fn take(rest: &mut &[u8], n: usize) -> Result<SecretBuf, CryptoError> {
    SecretBuf::from_slice(take_slice(rest, n)?)
}

fn take_slice<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], CryptoError> {
    let (head, tail) = rest.split_at_checked(n).ok_or(CryptoError::KeymatLength {
        expected: n,
        actual: rest.len(),
    })?;
    *rest = tail;
    Ok(head)
}

/// The seven keys of an IKE SA. `Debug` shows only their lengths; all are
/// zeroized on drop.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct IkeKeys {
    /// SK_d: the key CHILD_SA keys (and a resumed SA's SKEYSEED) derive from.
    pub sk_d: SecretBuf,
    /// SK_ai: integrity key for messages from the initiator (empty for AEAD).
    pub sk_ai: SecretBuf,
    /// SK_ar: integrity key for messages from the responder (empty for AEAD).
    pub sk_ar: SecretBuf,
    /// SK_ei: encryption key (plus salt for AES-GCM) from the initiator.
    pub sk_ei: SecretBuf,
    /// SK_er: encryption key (plus salt for AES-GCM) from the responder.
    pub sk_er: SecretBuf,
    /// SK_pi: the key of the initiator's AUTH payload.
    pub sk_pi: SecretBuf,
    /// SK_pr: the key of the responder's AUTH payload.
    pub sk_pr: SecretBuf,
}

impl IkeKeys {
    /// No keys, every one empty: a place to derive into.
    pub const fn empty() -> Self {
        IkeKeys {
            sk_d: SecretBuf::empty(),
            sk_ai: SecretBuf::empty(),
            sk_ar: SecretBuf::empty(),
            sk_ei: SecretBuf::empty(),
            sk_er: SecretBuf::empty(),
            sk_pi: SecretBuf::empty(),
            sk_pr: SecretBuf::empty(),
        }
    }

    /// Split `keymat` (exactly `suite.ike_keymat_len()` bytes of prf+
    /// output) into `self`'s keys, in place (RFC 7296 §2.14 order: SK_d,
    /// SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr).
    ///
    /// # Errors
    /// [`CryptoError::KeymatLength`] if `keymat` has another length.
    pub fn split_into(&mut self, suite: &IkeSuite, keymat: &[u8]) -> Result<(), CryptoError> {
        let total = suite.ike_keymat_len();
        if keymat.len() != total {
            return Err(CryptoError::KeymatLength {
                expected: total,
                actual: keymat.len(),
            });
        }
        let mut rest = keymat;
        let (d, a, e) = (suite.sk_d_len(), suite.sk_a_len(), suite.sk_e_len());
        // Overwritten where they are: no key is built elsewhere and moved.
        self.sk_d.set(take_slice(&mut rest, d)?)?;
        self.sk_ai.set(take_slice(&mut rest, a)?)?;
        self.sk_ar.set(take_slice(&mut rest, a)?)?;
        self.sk_ei.set(take_slice(&mut rest, e)?)?;
        self.sk_er.set(take_slice(&mut rest, e)?)?;
        self.sk_pi.set(take_slice(&mut rest, d)?)?;
        self.sk_pr.set(take_slice(&mut rest, d)?)?;
        Ok(())
    }

    /// As [`IkeKeys::derive_resumed`], written into `self` (a half-open
    /// SA's keys are derived where they stay).
    ///
    /// # Errors
    /// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes.
    pub fn derive_resumed_into(
        &mut self,
        suite: &IkeSuite,
        sk_d_old: &[u8],
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
    ) -> Result<(), CryptoError> {
        let mut seed = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let mut buf = [0u8; MAX_IKE_KEYMAT];
        let total = suite.ike_keymat_len();
        let result = skeyseed_resume(suite.prf(), sk_d_old, ni, nr, &mut seed).and_then(|n| {
            let keymat = buf.get_mut(..total).ok_or(CryptoError::KeymatLength {
                expected: total,
                actual: MAX_IKE_KEYMAT,
            })?;
            ike_keymat(
                suite.prf(),
                seed.get(..n).unwrap_or(&[]),
                ni,
                nr,
                spii,
                spir,
                keymat,
            )?;
            self.split_into(suite, keymat)
        });
        seed.zeroize();
        buf.zeroize();
        result
    }

    /// Derives and splits the IKE SA keys from SKEYSEED (RFC 7296 §2.14).
    ///
    /// RFC 7296 §2.14: "The lengths of SK_d, SK_pi, and SK_pr MUST be the
    /// preferred key length of the PRF agreed upon." SK_ai/SK_ar take the
    /// integrity key length (0 for AEAD) and SK_ei/SK_er the encryption key
    /// length; RFC 5282 §7.1 adds a 4-byte salt to each AES-GCM SK_e, giving
    /// 20 (AES-128) or 36 (AES-256) bytes.
    ///
    /// # Errors
    /// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes.
    pub fn derive(
        suite: &IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        let mut buf = [0u8; MAX_IKE_KEYMAT];
        let result = Self::derive_into(suite, skeyseed, ni, nr, spii, spir, &mut buf);
        buf.zeroize();
        result
    }

    fn derive_into(
        suite: &IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
        buf: &mut [u8; MAX_IKE_KEYMAT],
    ) -> Result<Self, CryptoError> {
        let total = suite.ike_keymat_len();
        let keymat = buf.get_mut(..total).ok_or(CryptoError::KeymatLength {
            expected: total,
            actual: MAX_IKE_KEYMAT,
        })?;
        ike_keymat(suite.prf(), skeyseed, ni, nr, spii, spir, keymat)?;
        let mut rest: &[u8] = keymat;
        let (d, a, e) = (suite.sk_d_len(), suite.sk_a_len(), suite.sk_e_len());
        Ok(Self {
            sk_d: take(&mut rest, d)?,
            sk_ai: take(&mut rest, a)?,
            sk_ar: take(&mut rest, a)?,
            sk_ei: take(&mut rest, e)?,
            sk_er: take(&mut rest, e)?,
            sk_pi: take(&mut rest, d)?,
            sk_pr: take(&mut rest, d)?,
        })
    }

    /// The keys of a new IKE SA (RFC 7296 §2.14): SKEYSEED = prf(Ni | Nr,
    /// g^ir) from [`skeyseed_initial`], then the split for `suite`.
    ///
    /// # Errors
    /// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes.
    pub fn derive_initial(
        suite: &IkeSuite,
        ni: &[u8],
        nr: &[u8],
        g_ir: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        Self::derive_with(suite, ni, nr, spii, spir, |out| {
            skeyseed_initial(suite.prf(), ni, nr, g_ir, out)
        })
    }

    /// The keys of an IKE SA made by a rekey (RFC 7296 §2.18): SKEYSEED =
    /// prf(SK_d (old), g^ir (new) | Ni | Nr) with the old SA's prf
    /// (`old_prf`, [`skeyseed_rekey`]), then the split for the new `suite`
    /// over the new SA's nonces and SPIs.
    ///
    /// # Errors
    /// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekeyed(
        old_prf: PrfAlg,
        sk_d_old: &[u8],
        suite: &IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        Self::derive_with(suite, ni, nr, spii, spir, |out| {
            skeyseed_rekey(old_prf, sk_d_old, g_ir, ni, nr, out)
        })
    }

    /// The keys of an IKE SA resumed from a ticket (RFC 5723 §5.1):
    /// SKEYSEED from [`skeyseed_resume`] with the old SA's SK_d, then the
    /// usual split (`suite` is the old SA's suite, carried in the ticket).
    ///
    /// # Errors
    /// [`CryptoError::NonceLength`] for a nonce outside 8..=256 bytes.
    pub fn derive_resumed(
        suite: &IkeSuite,
        sk_d_old: &[u8],
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        Self::derive_with(suite, ni, nr, spii, spir, |out| {
            skeyseed_resume(suite.prf(), sk_d_old, ni, nr, out)
        })
    }

    /// SKEYSEED written by `skeyseed` into a buffer wiped afterwards, then
    /// [`IkeKeys::derive`].
    fn derive_with(
        suite: &IkeSuite,
        ni: &[u8],
        nr: &[u8],
        spii: &[u8; 8],
        spir: &[u8; 8],
        skeyseed: impl FnOnce(&mut [u8]) -> Result<usize, CryptoError>,
    ) -> Result<Self, CryptoError> {
        let mut seed = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let result = skeyseed(&mut seed)
            .and_then(|n| Self::derive(suite, seed.get(..n).unwrap_or(&[]), ni, nr, spii, spir));
        seed.zeroize();
        result
    }
}

/// The keys of one ESP CHILD_SA pair, split from KEYMAT (RFC 7296 §2.17).
/// `Debug` shows only their lengths; all are zeroized on drop.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct ChildKeys {
    /// Encryption key (plus 4-byte salt for AES-GCM, RFC 4106 §8.1) of the
    /// SA carrying data from the initiator to the responder.
    pub encr_i2r: SecretBuf,
    /// Integrity key of the initiator-to-responder SA (empty for AEAD).
    pub integ_i2r: SecretBuf,
    /// Encryption key (plus salt for AES-GCM) of the responder-to-initiator
    /// SA.
    pub encr_r2i: SecretBuf,
    /// Integrity key of the responder-to-initiator SA (empty for AEAD).
    pub integ_r2i: SecretBuf,
}

impl ChildKeys {
    /// The number of KEYMAT bytes an ESP SA pair with `encr` and `integ`
    /// takes.
    ///
    /// # Errors
    /// As [`IkeSuite::new`]: unsupported key size, AEAD with integrity, or
    /// a non-AEAD cipher without.
    pub const fn keymat_len(encr: Encr, integ: Option<Integ>) -> Result<usize, CryptoError> {
        if let Err(e) = check_pair(encr, integ) {
            return Err(e);
        }
        let a = match integ {
            Some(i) => i.key_len(),
            None => 0,
        };
        Ok(2 * (encr.keymat_len() + a))
    }

    /// Splits KEYMAT, which must be exactly [`ChildKeys::keymat_len`] bytes.
    ///
    /// RFC 7296 §2.17: keying material "MUST be taken from the expanded
    /// KEYMAT using the following rules: All keys for SAs carrying data from
    /// the initiator to the responder are taken before SAs going from the
    /// responder to the initiator. ... For ESP and AH, \[IPSECARCH\] defines
    /// the order, namely: the encryption key (if any) MUST be taken from the
    /// first bits and the integrity key (if any) MUST be taken from the
    /// remaining bits." RFC 4106 §8.1: "The size of the KEYMAT for the
    /// AES-GCM-ESP MUST be four octets longer than is needed for the
    /// associated AES key"; those four octets, the last of each encryption
    /// key, are the salt.
    ///
    /// # Errors
    /// As [`ChildKeys::keymat_len`], or [`CryptoError::KeymatLength`].
    pub fn split(encr: Encr, integ: Option<Integ>, keymat: &[u8]) -> Result<Self, CryptoError> {
        let total = Self::keymat_len(encr, integ)?;
        if keymat.len() != total {
            return Err(CryptoError::KeymatLength {
                expected: total,
                actual: keymat.len(),
            });
        }
        let e = encr.keymat_len();
        let a = integ.map_or(0, Integ::key_len);
        let mut rest = keymat;
        Ok(Self {
            encr_i2r: take(&mut rest, e)?,
            integ_i2r: take(&mut rest, a)?,
            encr_r2i: take(&mut rest, e)?,
            integ_r2i: take(&mut rest, a)?,
        })
    }

    /// Derives KEYMAT with [`child_keymat`] and splits it.
    ///
    /// # Errors
    /// As [`child_keymat`] and [`ChildKeys::split`].
    pub fn derive(
        alg: PrfAlg,
        sk_d: &[u8],
        g_ir_new: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        encr: Encr,
        integ: Option<Integ>,
    ) -> Result<Self, CryptoError> {
        let total = Self::keymat_len(encr, integ)?;
        let mut buf = [0u8; MAX_CHILD_KEYMAT];
        let result = match buf.get_mut(..total) {
            Some(keymat) => child_keymat(alg, sk_d, g_ir_new, ni, nr, keymat)
                .and_then(|()| Self::split(encr, integ, keymat)),
            None => Err(CryptoError::KeymatLength {
                expected: total,
                actual: MAX_CHILD_KEYMAT,
            }),
        };
        buf.zeroize();
        result
    }
}
