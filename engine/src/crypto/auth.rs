//! AUTH payload values computed with a prf (RFC 7296 §2.15): the
//! pre-shared-key AUTH of a full IKE_AUTH, and the AUTH of a resumed IKE SA
//! (RFC 5723 §4.3.3).
//!
//! Both MAC the octets RFC 7296 §2.15 defines:
//!
//! ```text
//! InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//! MACedIDForI           = prf(SK_pi, RestOfInitIDPayload)
//! ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//! ```
//!
//! - Pre-shared key (RFC 7296 §2.15): `AUTH = prf( prf(Shared Secret,
//!   "Key Pad for IKEv2"), <SignedOctets>)`, RealMessage being the sender's
//!   IKE_SA_INIT message: [`psk_auth`].
//! - Resumption (RFC 5723 §4.3.3): "The value of the AUTH payload is
//!   derived in a manner similar to the usage of IKEv2 pre-shared secret
//!   authentication: `AUTH = prf(SK_px, <message octets>)`" and "The exact
//!   material to be signed is defined in Section 2.15 of \[RFC4306\].", read
//!   with the IKE_SESSION_RESUME messages in the place of IKE_SA_INIT:
//!   [`resume_auth`] in
//!   [`AuthForm::Rfc`]. libreswan, the only other open implementation of
//!   RFC 5723, MACs the IKE_SESSION_RESUME message alone, without the
//!   peer's nonce and the ID hash: [`AuthForm::MessageOnly`]. A responder
//!   accepts both and answers in the form the initiator used.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::error::CryptoError;
use super::prf::{PrfAlg, PrfKey};

/// RFC 7296 §2.15 "Key Pad for IKEv2" (17 ASCII bytes, no NUL).
pub const KEY_PAD: &[u8; 17] = b"Key Pad for IKEv2";

/// `prf(key, RealMessage | peer nonce | prf(id_key, RestOfIDPayload))`:
/// the MAC of RFC 7296 §2.15's signed octets, written to `out`; returns
/// the prf output length.
fn mac_signed_octets(
    key: &PrfKey,
    id_key: &PrfKey,
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    let mut maced_id = [0u8; PrfAlg::MAX_OUTPUT_LEN];
    let n = id_key.compute(&[id_body], &mut maced_id)?;
    key.compute(&[real_message, peer_nonce, &maced_id[..n]], out)
}

/// The pre-shared-key AUTH value (RFC 7296 §2.15, Shared Key Message
/// Integrity Code, Auth Method 2), written to `out`; returns its length
/// (the prf output length):
///
/// ```text
/// AUTH          = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
/// SignedOctets  = RealMessage | NonceData(peer's nonce) | prf(SK_px, RestOfIDPayload)
/// ```
///
/// - `psk`: the shared secret, any length. RFC 7296 §2.15: "The shared
///   secret can be variable length"; the management interface "MUST accept
///   ASCII strings of at least 64 octets and MUST NOT add a null terminator
///   before using them as shared secrets". [`PrfKey`] takes keys of any
///   length (HMAC hashes one longer than its block, RFC 2104 §2;
///   AES-XCBC-PRF-128 shortens it, RFC 4434 §2).
/// - `sk_p`: SK_pi for the initiator's AUTH, SK_pr for the responder's.
/// - `real_message`: the sender's IKE_SA_INIT message, exactly as sent.
/// - `peer_nonce`: the other side's nonce (Nr for the initiator's AUTH, Ni
///   for the responder's).
/// - `id_body`: the sender's ID payload body (ID type, three reserved
///   bytes, data), RFC 7296 §2.15 "RestOfInitIDPayload".
///
/// # Errors
/// [`CryptoError::OutputTooShort`] when `out` is shorter than the prf
/// output.
pub fn psk_auth(
    prf: PrfAlg,
    psk: &[u8],
    sk_p: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
    out: &mut [u8],
) -> Result<usize, CryptoError> {
    // prf(Shared Secret, "Key Pad for IKEv2") is password-equivalent for
    // IKEv2 (RFC 7296 §2.15): wiped after use, as are the keyed states.
    let mut padded = [0u8; PrfAlg::MAX_OUTPUT_LEN];
    let n = PrfKey::new(prf, psk).compute(&[KEY_PAD], &mut padded)?;
    let key = PrfKey::new(prf, &padded[..n]);
    padded.zeroize();
    mac_signed_octets(
        &key,
        &PrfKey::new(prf, sk_p),
        real_message,
        peer_nonce,
        id_body,
        out,
    )
}

/// Check a received pre-shared-key AUTH value in constant time (the
/// lengths, which are public, are compared first).
///
/// Arguments as [`psk_auth`], from the sender's point of view.
pub fn verify_psk_auth(
    prf: PrfAlg,
    psk: &[u8],
    sk_p: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
    received: &[u8],
) -> bool {
    let mut expect = [0u8; PrfAlg::MAX_OUTPUT_LEN];
    let ok = match psk_auth(
        prf,
        psk,
        sk_p,
        real_message,
        peer_nonce,
        id_body,
        &mut expect,
    ) {
        Ok(n) => bool::from(expect[..n].ct_eq(received)),
        Err(_) => false,
    };
    expect.zeroize();
    ok
}

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
        AuthForm::Rfc => mac_signed_octets(&key, &key, real_message, peer_nonce, id_body, out),
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

    /// The inputs of the pre-shared-key known answers.
    struct PskCase {
        msg: Vec<u8>,
        nonce: [u8; 32],
        id: Vec<u8>,
    }

    fn psk_case() -> PskCase {
        let mut msg: Vec<u8> = (0..=255u8).collect();
        msg.extend(0..44u8);
        let mut id = vec![2u8, 0, 0, 0];
        id.extend_from_slice(b"client.example");
        PskCase {
            msg,
            nonce: [0x4e; 32],
            id,
        }
    }

    /// HMAC-SHA-256 over the concatenation of `parts`, straight from the
    /// `hmac` and `sha2` crates.
    fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    #[test]
    fn psk_auth_known_answers() {
        let c = psk_case();
        let sk_pi = [0x5a; 32];
        // Expected values computed independently with CPython's hmac and
        // hashlib: prf(prf(psk, "Key Pad for IKEv2"), msg | nonce |
        // prf(SK_pi, id)).
        let long_psk: Vec<u8> = (0..100u32).map(|i| (i * 7 + 3) as u8).collect();
        for (psk, want) in [
            (
                &b"correct horse battery staple"[..],
                "60e3acde3d287269566f5fe15828dfc0ded39e2a7270683cf79e3663fb323049",
            ),
            // Longer than the 64-byte SHA-256 block: HMAC hashes it first.
            (
                &long_psk[..],
                "859a517eee52471974f9353f289129771b0a609b286879bc3f3b8026b30f9dd7",
            ),
        ] {
            let mut got = [0u8; 64];
            let n = psk_auth(
                PrfAlg::HmacSha256,
                psk,
                &sk_pi,
                &c.msg,
                &c.nonce,
                &c.id,
                &mut got,
            )
            .unwrap();
            assert_eq!(hex::encode(&got[..n]), want);
            // The same formula through the hmac crate directly.
            let direct = hmac_sha256(
                &hmac_sha256(psk, &[b"Key Pad for IKEv2"]),
                &[&c.msg, &c.nonce, &hmac_sha256(&sk_pi, &[&c.id])],
            );
            assert_eq!(&got[..n], &direct);
        }

        // HMAC-SHA-512 with a 200-byte PSK (beyond its 128-byte block).
        let psk: Vec<u8> = (0..200u32).map(|i| (i * 13 + 1) as u8).collect();
        let mut got = [0u8; 64];
        let n = psk_auth(
            PrfAlg::HmacSha512,
            &psk,
            &[0x77; 64],
            &c.msg,
            &c.nonce,
            &c.id,
            &mut got,
        )
        .unwrap();
        assert_eq!(
            hex::encode(&got[..n]),
            "acdab3171c00c3cd48e705e78a8577a44f93556a164528dfe9d9f64aa9db314e\
             9fe047ceec1a284384517f81a3014ca2cf801b00f9cdc3393819ecde9eba506f"
        );
        assert_eq!(KEY_PAD.len(), 17);
        assert_eq!(*KEY_PAD.last().unwrap(), b'2');
    }

    #[test]
    fn psk_auth_differs_from_resume_auth_and_needs_room() {
        let c = psk_case();
        let sk_p = [0x33; 32];
        let mut psk_v = [0u8; 64];
        let n = psk_auth(
            PrfAlg::HmacSha256,
            b"secret",
            &sk_p,
            &c.msg,
            &c.nonce,
            &c.id,
            &mut psk_v,
        )
        .unwrap();
        let mut resume_v = [0u8; 64];
        let m = resume_auth(
            PrfAlg::HmacSha256,
            &sk_p,
            AuthForm::Rfc,
            &c.msg,
            &c.nonce,
            &c.id,
            &mut resume_v,
        )
        .unwrap();
        assert_eq!(n, m);
        assert_ne!(psk_v[..n], resume_v[..m]);
        let mut short = [0u8; 31];
        assert_eq!(
            psk_auth(
                PrfAlg::HmacSha256,
                b"secret",
                &sk_p,
                &c.msg,
                &c.nonce,
                &c.id,
                &mut short
            ),
            Err(CryptoError::OutputTooShort {
                needed: 32,
                actual: 31
            })
        );
    }

    #[test]
    fn verify_psk_auth_accepts_only_the_exact_value() {
        let c = psk_case();
        let sk_p = [0x21; 64];
        let long_psk = [0xa5u8; 300];
        for prf in PrfAlg::ALL {
            for psk in [
                &b"k"[..],
                &b"sixty-four octets of ASCII are the least a PSK box must take...."[..],
                &long_psk[..],
            ] {
                let mut v = [0u8; 65]; // one spare byte for the too-long case
                let n = psk_auth(prf, psk, &sk_p, &c.msg, &c.nonce, &c.id, &mut v).unwrap();
                assert_eq!(n, prf.output_len());
                let ok = |v: &[u8]| verify_psk_auth(prf, psk, &sk_p, &c.msg, &c.nonce, &c.id, v);
                assert!(ok(&v[..n]), "{prf:?}");
                for bit in [0, 7, 8 * n - 1] {
                    v[bit / 8] ^= 1 << (bit % 8);
                    assert!(!ok(&v[..n]), "{prf:?} bit {bit}");
                    v[bit / 8] ^= 1 << (bit % 8);
                }
                assert!(!ok(&v[..n - 1]));
                assert!(!ok(&v[..n + 1]));
                assert!(!ok(&[]));
                // Any other input changes the value.
                let mut other_psk = psk.to_vec();
                other_psk[0] ^= 1;
                assert!(!verify_psk_auth(
                    prf,
                    &other_psk,
                    &sk_p,
                    &c.msg,
                    &c.nonce,
                    &c.id,
                    &v[..n]
                ));
                assert!(!verify_psk_auth(
                    prf,
                    psk,
                    &sk_p[1..],
                    &c.msg,
                    &c.nonce,
                    &c.id,
                    &v[..n]
                ));
                assert!(!verify_psk_auth(
                    prf,
                    psk,
                    &sk_p,
                    &c.msg[1..],
                    &c.nonce,
                    &c.id,
                    &v[..n]
                ));
                assert!(!verify_psk_auth(
                    prf,
                    psk,
                    &sk_p,
                    &c.msg,
                    &c.nonce[1..],
                    &c.id,
                    &v[..n]
                ));
                assert!(!verify_psk_auth(
                    prf,
                    psk,
                    &sk_p,
                    &c.msg,
                    &c.nonce,
                    &c.id[1..],
                    &v[..n]
                ));
            }
        }
    }
}
