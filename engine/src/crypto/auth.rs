//! The AUTH payload of a resumed IKE SA (RFC 5723 §4.3.3 over RFC 7296
//! §2.15).
//!
//! RFC 5723 §4.3.3: "the AUTH payload ... is computed as
//! `AUTH = prf(SK_px, <message octets>)`", the octets being those RFC 7296
//! §2.15 defines, with the IKE_SESSION_RESUME messages in the place of
//! IKE_SA_INIT:
//!
//! ```text
//! InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//! MACedIDForI           = prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//! ```
//!
//! That is [`AuthForm::Rfc`]. libreswan, the only other open implementation
//! of RFC 5723, MACs the IKE_SESSION_RESUME message alone, without the
//! peer's nonce and the ID hash: [`AuthForm::MessageOnly`]. A responder
//! accepts both and answers in the form the initiator used.

use subtle::ConstantTimeEq;

use super::error::CryptoError;
use super::prf::{PrfAlg, PrfKey};

/// Which octets the resumed AUTH covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthForm {
    /// RFC 7296 §2.15 octets: message | peer nonce | prf(SK_px, ID body).
    #[default]
    Rfc,
    /// The IKE_SESSION_RESUME message alone (libreswan's form).
    MessageOnly,
}

impl AuthForm {
    /// Both forms, the RFC's first.
    pub const ALL: [AuthForm; 2] = [AuthForm::Rfc, AuthForm::MessageOnly];

    /// The name used in configuration, metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthForm::Rfc => "rfc",
            AuthForm::MessageOnly => "message-only",
        }
    }

    /// Parse a configuration value (`rfc` or `message-only`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "rfc" => Some(AuthForm::Rfc),
            "message-only" => Some(AuthForm::MessageOnly),
            _ => None,
        }
    }
}

/// The AUTH value of a resumed SA, written to `out`; returns its length
/// (the prf output length).
///
/// - `sk_p`: SK_pi for the initiator's AUTH, SK_pr for the responder's.
/// - `real_message`: the IKE_SESSION_RESUME request (initiator) or response
///   (responder), exactly as sent.
/// - `peer_nonce`: Nr for the initiator's AUTH, Ni for the responder's.
/// - `id_body`: the sender's ID payload body (ID type, three reserved bytes,
///   data), RFC 7296 §2.15 "RestOfInitIDPayload".
///
/// # Errors
/// [`CryptoError`] when `out` is shorter than the prf output.
pub fn resume_auth(
    prf: PrfAlg,
    sk_p: &[u8],
    form: AuthForm,
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let key = PrfKey::new(prf, sk_p);
    match form {
        AuthForm::MessageOnly => key.compute(&[real_message], out),
        AuthForm::Rfc => {
            let mut maced_id = [0u8; PrfAlg::MAX_OUTPUT_LEN];
            let n = key.compute(&[id_body], &mut maced_id)?;
            key.compute(&[real_message, peer_nonce, &maced_id[..n]], out)
        }
    }
}

/// Check a received resumed AUTH value against both forms, in constant time
/// per comparison; returns the form that matched.
///
/// Arguments as [`resume_auth`], from the sender's point of view.
pub fn verify_resume_auth(
    prf: PrfAlg,
    sk_p: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
    received: &[u8],
) -> Option<AuthForm> {
    let mut expect = [0u8; PrfAlg::MAX_OUTPUT_LEN];
    let mut found = None;
    for form in AuthForm::ALL {
        let Ok(n) = resume_auth(
            prf,
            sk_p,
            form,
            real_message,
            peer_nonce,
            id_body,
            &mut expect,
        ) else {
            return None;
        };
        // Both forms are always computed so the time taken does not say
        // which one matched.
        if bool::from(expect[..n].ct_eq(received)) && found.is_none() {
            found = Some(form);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_form_is_prf_of_message_nonce_and_id_mac() {
        let (key, msg, nonce, id) = ([7u8; 32], [1u8; 100], [2u8; 32], [2u8, 0, 0, 0, b'a']);
        let mut mac_id = [0u8; 32];
        crate::crypto::prf(PrfAlg::HmacSha256, &key, &[&id], &mut mac_id).unwrap();
        let mut want = [0u8; 32];
        crate::crypto::prf(
            PrfAlg::HmacSha256,
            &key,
            &[&msg, &nonce, &mac_id],
            &mut want,
        )
        .unwrap();
        let mut got = [0u8; 64];
        let n = resume_auth(
            PrfAlg::HmacSha256,
            &key,
            AuthForm::Rfc,
            &msg,
            &nonce,
            &id,
            &mut got,
        )
        .unwrap();
        assert_eq!(&got[..n], &want);
        let mut only = [0u8; 64];
        let m = resume_auth(
            PrfAlg::HmacSha256,
            &key,
            AuthForm::MessageOnly,
            &msg,
            &nonce,
            &id,
            &mut only,
        )
        .unwrap();
        let mut want_only = [0u8; 32];
        crate::crypto::prf(PrfAlg::HmacSha256, &key, &[&msg], &mut want_only).unwrap();
        assert_eq!(&only[..m], &want_only);
        assert_ne!(&only[..m], &got[..n]);
    }

    #[test]
    fn verify_names_the_form_and_refuses_others() {
        let (key, msg, nonce, id) = ([9u8; 48], [3u8; 80], [4u8; 32], [1u8, 0, 0, 0, 10, 0, 0, 1]);
        for prf in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
            for form in AuthForm::ALL {
                let mut v = [0u8; 64];
                let n = resume_auth(prf, &key, form, &msg, &nonce, &id, &mut v).unwrap();
                assert_eq!(
                    verify_resume_auth(prf, &key, &msg, &nonce, &id, &v[..n]),
                    Some(form)
                );
                v[0] ^= 1;
                assert_eq!(
                    verify_resume_auth(prf, &key, &msg, &nonce, &id, &v[..n]),
                    None
                );
                v[0] ^= 1;
                assert_eq!(
                    verify_resume_auth(prf, &key, &msg, &nonce, &id, &v[..n - 1]),
                    None
                );
                assert_eq!(
                    verify_resume_auth(prf, &key, &msg[1..], &nonce, &id, &v[..n]),
                    None
                );
            }
        }
        assert_eq!(
            AuthForm::from_name("message-only"),
            Some(AuthForm::MessageOnly)
        );
        assert_eq!(
            AuthForm::from_name(AuthForm::Rfc.as_str()),
            Some(AuthForm::Rfc)
        );
        assert_eq!(AuthForm::from_name("RFC"), None);
    }
}
