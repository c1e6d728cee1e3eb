//! IKEv2 cryptography for session resumption: prf and prf+, SKEYSEED and key
//! splitting (RFC 7296 §2.13–2.18, RFC 5723 §5.1), SK payload protection
//! (RFC 7296 §3.14, RFC 5282, RFC 4868) and the NAT-D hash (§2.23).
//!
//! Every function returns a [`CryptoError`] rather than panicking, on any
//! input. The per-message paths (prf, prf+, [`SkCipher::protect`],
//! [`SkCipher::unprotect`]) do not allocate. Types that hold keys wipe them
//! on drop and never print them.
//!
//! | module | concept |
//! | --- | --- |
//! | `secret` | [`SecretBuf`], the key buffer |
//! | `prf` | [`PrfAlg`], [`PrfKey`], [`prf`], [`prf_plus`] |
//! | `integ` | [`Integ`], the truncated-HMAC ICV |
//! | `suite` | [`Encr`], [`IkeSuite`] |
//! | `kdf` | SKEYSEED, [`IkeKeys`], [`ChildKeys`] |
//! | `gcm` | [`AesGcmKey`], detached in-place AES-GCM |
//! | `sk` | [`SkCipher`], the SK payload |
//! | `natd` | [`nat_detection_hash`] |
//! | `auth` | [`resume_auth`], the AUTH of a resumed SA |

mod auth;
mod dh;
mod error;
mod gcm;
mod integ;
mod kdf;
mod keyed_hmac;
mod natd;
mod prf;
mod secret;
mod sk;
mod suite;
mod xcbc;

pub use auth::{AuthForm, resume_auth, verify_resume_auth};
pub use dh::DhGroup;
pub use error::CryptoError;
pub use gcm::{AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN};
pub use integ::Integ;
pub use kdf::{
    ChildKeys, IkeKeys, KDF_MAX_NONCE_LEN, KDF_MIN_NONCE_LEN, RESUMPTION_LABEL, child_keymat,
    ike_keymat, skeyseed_initial, skeyseed_rekey, skeyseed_resume,
};
pub use natd::nat_detection_hash;
pub use prf::{PrfAlg, PrfKey, prf, prf_plus};
pub use secret::SecretBuf;
pub use sk::{Role, SkCipher, SkLayout};
pub use suite::{Encr, IkeSuite};
