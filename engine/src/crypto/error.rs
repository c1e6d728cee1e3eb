//! The one error type of the crypto module.
//!
//! Variants are grouped by cause: a bad algorithm or key choice (a
//! configuration or programming error), bad derivation parameters, a broken
//! contract when *building* an SK payload (the caller's bug), a received
//! SK payload that fails to open, and a peer's key-exchange public value
//! that fails validation (both the peer's or an attacker's doing). The
//! responder maps each variant, in one place, to the IKEv2 notify it
//! produces and to a drop-reason counter.

use core::fmt;

/// Why a crypto operation was refused.
///
/// No variant carries key material or message bytes, so the error can be
/// logged freely.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoError {
    // ---- Algorithm and key configuration -------------------------------
    /// An AES key size other than 128 or 256 bits was requested.
    UnsupportedKeySize {
        /// The requested key size, in bits.
        bits: u16,
    },
    /// An AEAD cipher was combined with a separate integrity algorithm.
    AeadWithIntegrity,
    /// A non-AEAD cipher was configured without an integrity algorithm.
    MissingIntegrity,
    /// A key of the wrong length was supplied.
    KeyLength {
        /// The length the algorithm requires, in bytes.
        expected: usize,
        /// The length supplied, in bytes.
        actual: usize,
    },
    /// A secret longer than [`SecretBuf::CAPACITY`](super::SecretBuf::CAPACITY).
    SecretTooLong {
        /// The length supplied, in bytes.
        len: usize,
    },

    // ---- Key-derivation parameters -------------------------------------
    /// A nonce outside the 8..=256 byte range the KDF accepts.
    NonceLength {
        /// The length supplied, in bytes.
        len: usize,
    },
    /// More prf+ output was requested than RFC 7296 §2.13 defines
    /// (255 times the prf output length).
    OutputTooLong {
        /// Bytes requested.
        requested: usize,
        /// The most prf+ can produce with this prf.
        max: usize,
    },
    /// The output buffer is smaller than the prf output.
    OutputTooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        actual: usize,
    },
    /// Key material of the wrong length was handed to a key split.
    KeymatLength {
        /// Bytes the suite needs.
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },

    // ---- Building an SK payload: the caller broke the contract ---------
    /// The IV handed to `protect` has the wrong length for the cipher.
    IvLength {
        /// The cipher's IV length.
        expected: usize,
        /// The length supplied.
        actual: usize,
    },
    /// The plaintext exceeds what the cipher can protect in one message.
    PlaintextTooLong,
    /// The message buffer handed to `protect` is not exactly
    /// `sk_offset + 4 + layout.body_len` bytes long.
    MessageLength {
        /// The length the layout requires.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },

    // ---- A received (or built) SK payload is malformed -----------------
    /// The SK payload offset is inside the IKE header or its generic
    /// header runs past the end of the message.
    SkOffsetOutOfRange,
    /// The IKE header length or the SK payload length field disagrees with
    /// the message buffer (the SK payload must be the last payload).
    LengthFieldMismatch,
    /// The SK payload body is too short to hold IV, pad length and ICV.
    SkTooShort,
    /// The CBC ciphertext is not a whole number of cipher blocks.
    SkBadAlignment,
    /// The ICV (HMAC or AEAD tag) did not verify.
    IntegrityCheckFailed,
    /// The decrypted pad length exceeds the decrypted data.
    BadPadding,

    // ---- Key exchange: the peer's public value -------------------------
    /// The peer's Key Exchange Data is not the length its group defines
    /// (RFC 7296 §3.4, RFC 5903 §7, RFC 8031 §2).
    DhPublicLength {
        /// The Diffie-Hellman group's IANA id.
        group: u16,
        /// The group's public value length, in bytes.
        expected: usize,
        /// The length received, in bytes.
        actual: usize,
    },
    /// The peer's public value is not a usable element of the group: outside
    /// 1 < y < p-1 (MODP), not an uncompressed point on the curve (ECP), or
    /// a low-order point that makes the X25519 output all zeros (curve25519).
    DhPublicInvalid {
        /// The Diffie-Hellman group's IANA id.
        group: u16,
    },
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedKeySize { bits } => {
                write!(f, "unsupported AES key size: {bits} bits (128 or 256)")
            }
            Self::AeadWithIntegrity => {
                f.write_str("an AEAD cipher must not be combined with an integrity algorithm")
            }
            Self::MissingIntegrity => {
                f.write_str("a non-AEAD cipher requires an integrity algorithm")
            }
            Self::KeyLength { expected, actual } => {
                write!(f, "key length {actual} bytes, expected {expected}")
            }
            Self::SecretTooLong { len } => write!(
                f,
                "secret of {len} bytes exceeds the {} byte capacity",
                super::SecretBuf::CAPACITY
            ),
            Self::NonceLength { len } => {
                write!(f, "nonce length {len} bytes outside 8..=256")
            }
            Self::OutputTooLong { requested, max } => {
                write!(
                    f,
                    "prf+ output of {requested} bytes exceeds the maximum {max}"
                )
            }
            Self::OutputTooShort { needed, actual } => {
                write!(f, "output buffer of {actual} bytes, need {needed}")
            }
            Self::KeymatLength { expected, actual } => {
                write!(f, "key material of {actual} bytes, expected {expected}")
            }
            Self::IvLength { expected, actual } => {
                write!(f, "IV of {actual} bytes, expected {expected}")
            }
            Self::PlaintextTooLong => f.write_str("plaintext too long for the cipher"),
            Self::MessageLength { expected, actual } => {
                write!(
                    f,
                    "message buffer of {actual} bytes, SK layout needs {expected}"
                )
            }
            Self::SkOffsetOutOfRange => f.write_str("SK payload offset out of range"),
            Self::LengthFieldMismatch => {
                f.write_str("IKE or SK payload length field disagrees with the message length")
            }
            Self::SkTooShort => f.write_str("SK payload too short"),
            Self::SkBadAlignment => {
                f.write_str("SK ciphertext is not a multiple of the cipher block size")
            }
            Self::IntegrityCheckFailed => f.write_str("SK payload integrity check failed"),
            Self::BadPadding => f.write_str("SK pad length exceeds the decrypted data"),
            Self::DhPublicLength {
                group,
                expected,
                actual,
            } => write!(
                f,
                "key exchange data of {actual} bytes for DH group {group}, expected {expected}"
            ),
            Self::DhPublicInvalid { group } => {
                write!(f, "invalid public value for DH group {group}")
            }
        }
    }
}

impl std::error::Error for CryptoError {}
