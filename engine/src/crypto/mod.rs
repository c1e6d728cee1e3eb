//! IKEv2 cryptography for session resumption: prf and prf+, SKEYSEED and key
//! splitting (RFC 7296 §2.13–2.18, RFC 5723 §5.1), SK payload protection
//! (RFC 7296 §3.14, RFC 5282, RFC 4868), the NAT-D hash (§2.23), the
//! Diffie-Hellman groups of a full IKE_SA_INIT (§3.4, RFC 3526, RFC 5903,
//! RFC 8031) and the AUTH values (§2.15, RFC 5723 §4.3.3).
//!
//! Every function returns a [`CryptoError`] rather than panicking, on any
//! input (the one panic: [`DhPrivate::generate`] when the injected random
//! source keeps returning unusable values, i.e. is broken). The per-message
//! paths (prf, prf+, [`SkCipher::protect`], [`SkCipher::unprotect`]) do not
//! allocate. Types that hold keys wipe them on drop and never print them.
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
//! | `natd` | [`nat_detection_hash`], [`nat_detection_hash_many`] (a burst's, on the SHA-1 kernels) |
//! | `dh` | [`DhGroup`], [`DhPrivate`], [`DhShared`]: the key exchange |
//! | `auth` | [`resume_auth`], the AUTH of a resumed SA; [`psk_auth`], the pre-shared-key AUTH |

mod auth;
pub mod batch;
mod dh;
mod error;
mod gcm;
mod integ;
mod kdf;
mod keyed_hmac;
mod natd;
mod packed;
mod prf;
mod secret;
mod sk;
mod suite;
mod xcbc;

pub use auth::{AuthForm, KEY_PAD, psk_auth, resume_auth, verify_psk_auth, verify_resume_auth};
pub use dh::{DhGroup, DhPrivate, DhShared};
pub use error::CryptoError;
pub use gcm::{AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN};
pub use integ::Integ;
pub use kdf::{
    ChildKeys, IkeKeys, KDF_MAX_NONCE_LEN, KDF_MIN_NONCE_LEN, RESUMPTION_LABEL, child_keymat,
    ike_keymat, skeyseed_initial, skeyseed_rekey, skeyseed_resume,
};
pub use natd::{NatdInput, nat_detection_hash, nat_detection_hash_many};
pub use packed::PackedKeys;
pub use prf::{PrfAlg, PrfKey, prf, prf_plus};
pub use secret::SecretBuf;
pub use sk::{Role, SkCipher, SkLayout};
pub use suite::{Encr, IkeSuite};
