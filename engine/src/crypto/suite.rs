//! Encryption algorithms and the IKE SA cryptographic suite.

use super::{CryptoError, Integ, PrfAlg};

/// An encryption algorithm (IANA "Transform Type 1 - Encryption Algorithm
/// Transform IDs") with its key size (the Key Length attribute, RFC 7296
/// §3.3.5). Only 128- and 256-bit AES keys are supported; anything else is
/// refused by [`Encr::validate`], which every constructor taking an `Encr`
/// calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_GCM_16 (20): AES-GCM with a 16-byte ICV (RFC 5282 for IKE,
    /// RFC 4106 for ESP).
    AesGcm16 {
        /// AES key size in bits: 128 or 256.
        key_bits: u16,
    },
    /// ENCR_AES_CBC (12): AES-CBC (RFC 3602), with a separate integrity
    /// algorithm.
    AesCbc {
        /// AES key size in bits: 128 or 256.
        key_bits: u16,
    },
}

impl Encr {
    /// ENCR_AES_CBC transform id.
    pub const ENCR_AES_CBC: u16 = 12;
    /// ENCR_AES_GCM_16 transform id.
    pub const ENCR_AES_GCM_16: u16 = 20;

    /// AES-GCM with a 128-bit key.
    pub const AES_GCM_128: Encr = Encr::AesGcm16 { key_bits: 128 };
    /// AES-GCM with a 256-bit key.
    pub const AES_GCM_256: Encr = Encr::AesGcm16 { key_bits: 256 };
    /// AES-CBC with a 128-bit key.
    pub const AES_CBC_128: Encr = Encr::AesCbc { key_bits: 128 };
    /// AES-CBC with a 256-bit key.
    pub const AES_CBC_256: Encr = Encr::AesCbc { key_bits: 256 };

    /// The algorithm for a transform id and Key Length attribute, if
    /// supported.
    pub const fn from_transform(id: u16, key_bits: u16) -> Option<Self> {
        if key_bits != 128 && key_bits != 256 {
            return None;
        }
        match id {
            Self::ENCR_AES_CBC => Some(Self::AesCbc { key_bits }),
            Self::ENCR_AES_GCM_16 => Some(Self::AesGcm16 { key_bits }),
            _ => None,
        }
    }

    /// The IANA transform id.
    pub const fn id(self) -> u16 {
        match self {
            Self::AesCbc { .. } => Self::ENCR_AES_CBC,
            Self::AesGcm16 { .. } => Self::ENCR_AES_GCM_16,
        }
    }

    /// The AES key size in bits.
    pub const fn key_bits(self) -> u16 {
        match self {
            Self::AesCbc { key_bits } | Self::AesGcm16 { key_bits } => key_bits,
        }
    }

    /// Refuses key sizes other than 128 and 256 bits.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedKeySize`].
    pub const fn validate(self) -> Result<(), CryptoError> {
        match self.key_bits() {
            128 | 256 => Ok(()),
            bits => Err(CryptoError::UnsupportedKeySize { bits }),
        }
    }

    /// Whether this is a combined-mode (AEAD) cipher.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16 { .. })
    }

    /// The AES key length in bytes.
    pub const fn key_len(self) -> usize {
        self.key_bits() as usize / 8
    }

    /// The salt length in bytes: 4 for AES-GCM (RFC 5282 §7.1, RFC 4106
    /// §8.1), 0 for AES-CBC.
    pub const fn salt_len(self) -> usize {
        match self {
            Self::AesGcm16 { .. } => 4,
            Self::AesCbc { .. } => 0,
        }
    }

    /// The length of the encryption key material taken from prf+ (SK_ei,
    /// SK_er, or an ESP encryption key): the key plus any salt.
    pub const fn keymat_len(self) -> usize {
        self.key_len() + self.salt_len()
    }

    /// The length of the IV carried in each SK payload: 8 for AES-GCM
    /// (RFC 5282 §3), the 16-byte block size for AES-CBC (RFC 7296 §3.14).
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesGcm16 { .. } => 8,
            Self::AesCbc { .. } => 16,
        }
    }

    /// The alignment the encrypted data (inner payloads, padding and pad
    /// length) must have: the AES block size for CBC, none (1) for GCM.
    pub const fn block_len(self) -> usize {
        match self {
            Self::AesGcm16 { .. } => 1,
            Self::AesCbc { .. } => 16,
        }
    }
}

/// Checks that `encr` and `integ` go together.
///
/// - RFC 7296 §3.3: "Combined-mode ciphers include both integrity and
///   encryption in a single encryption algorithm, and MUST either offer no
///   integrity algorithm or a single integrity algorithm of "NONE"". Rebound
///   takes the RECOMMENDED form: no integrity algorithm.
/// - RFC 7296 §3.3.3 makes the integrity transform optional for IKE only
///   with a combined-mode cipher; with AES-CBC the SK payload's Integrity
///   Checksum Data (§3.14) needs one.
pub(crate) const fn check_pair(encr: Encr, integ: Option<Integ>) -> Result<(), CryptoError> {
    if let Err(e) = encr.validate() {
        return Err(e);
    }
    match (encr.is_aead(), integ) {
        (true, Some(_)) => Err(CryptoError::AeadWithIntegrity),
        (false, None) => Err(CryptoError::MissingIntegrity),
        _ => Ok(()),
    }
}

/// The negotiated cryptographic suite of an IKE SA: encryption, prf and
/// (for non-AEAD ciphers) integrity. Always valid once built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    encr: Encr,
    prf: PrfAlg,
    integ: Option<Integ>,
}

impl IkeSuite {
    /// Builds a suite after checking that the parts go together.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedKeySize`], [`CryptoError::AeadWithIntegrity`]
    /// or [`CryptoError::MissingIntegrity`].
    pub const fn new(encr: Encr, prf: PrfAlg, integ: Option<Integ>) -> Result<Self, CryptoError> {
        match check_pair(encr, integ) {
            Ok(()) => Ok(Self { encr, prf, integ }),
            Err(e) => Err(e),
        }
    }

    /// The encryption algorithm.
    pub const fn encr(&self) -> Encr {
        self.encr
    }

    /// The prf.
    pub const fn prf(&self) -> PrfAlg {
        self.prf
    }

    /// The integrity algorithm (`None` for AEAD).
    pub const fn integ(&self) -> Option<Integ> {
        self.integ
    }

    /// The length of SK_ai and SK_ar: the integrity key length, 0 for AEAD
    /// (RFC 5282 §7.1).
    pub const fn sk_a_len(&self) -> usize {
        match self.integ {
            Some(i) => i.key_len(),
            None => 0,
        }
    }

    /// The length of SK_ei and SK_er: the key plus, for AES-GCM, the 4-byte
    /// salt (RFC 5282 §7.1).
    pub const fn sk_e_len(&self) -> usize {
        self.encr.keymat_len()
    }

    /// The length of SK_d, SK_pi and SK_pr: the prf's preferred key length
    /// (RFC 7296 §2.14).
    pub const fn sk_d_len(&self) -> usize {
        self.prf.key_len()
    }

    /// The number of prf+ bytes `{SK_d | SK_ai | SK_ar | SK_ei | SK_er |
    /// SK_pi | SK_pr}` takes.
    pub const fn ike_keymat_len(&self) -> usize {
        3 * self.sk_d_len() + 2 * self.sk_a_len() + 2 * self.sk_e_len()
    }

    /// The ICV length of the SK payload: the AEAD tag (16) or the truncated
    /// HMAC.
    pub const fn icv_len(&self) -> usize {
        match self.integ {
            Some(i) => i.icv_len(),
            None => 16,
        }
    }
}
