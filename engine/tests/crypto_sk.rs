//! SK payload protection: round trips for every suite, tampering,
//! truncation, contract violations, padding rules and known answers.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use rebound_engine::crypto::{
    AesGcmKey, CryptoError, Encr, IkeKeys, IkeSuite, Integ, PrfAlg, Role, SkCipher,
};
use sha2::Sha256;

const SPII: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
const SPIR: [u8; 8] = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];

/// The five SK suites Rebound supports.
fn suites() -> Vec<(&'static str, IkeSuite)> {
    let s = |e, i| IkeSuite::new(e, PrfAlg::HmacSha256, i).expect("valid suite");
    vec![
        ("GCM-128", s(Encr::AES_GCM_128, None)),
        ("GCM-256", s(Encr::AES_GCM_256, None)),
        (
            "CBC-128+SHA256_128",
            s(Encr::AES_CBC_128, Some(Integ::HmacSha256_128)),
        ),
        (
            "CBC-256+SHA384_192",
            s(Encr::AES_CBC_256, Some(Integ::HmacSha384_192)),
        ),
        (
            "CBC-256+SHA512_256",
            s(Encr::AES_CBC_256, Some(Integ::HmacSha512_256)),
        ),
    ]
}

fn keys_for(suite: &IkeSuite) -> IkeKeys {
    IkeKeys::derive(suite, &[0x5a; 32], &[0xa1; 32], &[0xb2; 32], &SPII, &SPIR).expect("derive")
}

/// The fixed IKE header (RFC 7296 §3.1) of an IKE_AUTH request.
fn ike_header(first_payload: u8, total_len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(28);
    h.extend_from_slice(&SPII);
    h.extend_from_slice(&SPIR);
    h.extend_from_slice(&[first_payload, 0x20, 35, 0x08]);
    h.extend_from_slice(&1u32.to_be_bytes());
    h.extend_from_slice(&u32::try_from(total_len).unwrap().to_be_bytes());
    h
}

/// A message ready for `protect`: header, optional unencrypted payload
/// bytes `pre`, the SK generic header, and the plaintext in place.
/// Returns the message and the SK payload offset.
fn unprotected(cipher: &SkCipher, pre: &[u8], plaintext: &[u8]) -> (Vec<u8>, usize) {
    let layout = cipher.layout(plaintext.len());
    let sk_offset = 28 + pre.len();
    let total = sk_offset + 4 + layout.body_len;
    let first = if pre.is_empty() { 46 } else { 41 };
    let mut msg = ike_header(first, total);
    msg.extend_from_slice(pre);
    msg.extend_from_slice(&[35, 0]);
    msg.extend_from_slice(&u16::try_from(4 + layout.body_len).unwrap().to_be_bytes());
    msg.resize(total, 0xee); // garbage where IV, padding and ICV go
    let pt_start = sk_offset + 4 + layout.iv_len;
    msg[pt_start..pt_start + plaintext.len()].copy_from_slice(plaintext);
    (msg, sk_offset)
}

fn iv_for(cipher: &SkCipher, n: u64) -> Vec<u8> {
    let mut iv = vec![0u8; cipher.encr().iv_len()];
    let len = iv.len();
    iv[len - 8..].copy_from_slice(&n.to_be_bytes());
    if len > 8 {
        iv[..8].copy_from_slice(&[0x9c; 8]);
    }
    iv
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn protected(cipher: &SkCipher, pre: &[u8], pt: &[u8], n: u64) -> (Vec<u8>, usize) {
    let (mut msg, sk_offset) = unprotected(cipher, pre, pt);
    cipher
        .protect(&mut msg, sk_offset, pt.len(), &iv_for(cipher, n))
        .expect("protect");
    (msg, sk_offset)
}

#[test]
fn round_trip_every_suite_and_length() {
    for (name, suite) in suites() {
        let keys = keys_for(&suite);
        let (i_out, i_in) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (r_out, r_in) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        for len in 0..=70 {
            let pt = plaintext(len);
            let layout = i_out.layout(len);
            let block = suite.encr().block_len();
            assert_eq!((len + layout.pad_len + 1) % block, 0, "{name} {len}");
            assert!(layout.pad_len < block, "{name}: minimal padding");
            assert_eq!(layout.icv_len, suite.icv_len());
            assert_eq!(
                layout.body_len,
                layout.iv_len + len + layout.pad_len + 1 + layout.icv_len
            );

            // Initiator to responder.
            let (mut msg, off) = protected(&i_out, &[], &pt, len as u64);
            let ct_start = off + 4 + layout.iv_len;
            if len >= 8 {
                assert_ne!(&msg[ct_start..ct_start + len], &pt[..], "{name}: encrypted");
            }
            // The initiator cannot open its own outbound message with its
            // inbound key: directions use different keys.
            assert!(i_in.unprotect(&mut msg.clone(), off).is_err(), "{name}");
            let range = r_in.unprotect(&mut msg, off).expect("unprotect");
            assert_eq!(range, ct_start..ct_start + len, "{name} {len}");
            assert_eq!(&msg[range], &pt[..], "{name} {len}");

            // Responder to initiator, with an unencrypted payload before SK.
            let pre = [0u8, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef];
            let (mut msg, off) = protected(&r_out, &pre, &pt, 1000 + len as u64);
            let range = i_in.unprotect(&mut msg, off).expect("unprotect");
            assert_eq!(&msg[range], &pt[..], "{name} {len}");
        }
    }
}

#[test]
fn any_flipped_byte_is_rejected() {
    for (name, suite) in suites() {
        let keys = keys_for(&suite);
        let (out, _) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (_, inb) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        for (pre, len) in [
            (&[][..], 0),
            (&[][..], 1),
            (&[][..], 16),
            (&[0, 0, 0, 5, 9][..], 33),
        ] {
            let (msg, off) = protected(&out, pre, &plaintext(len), 7);
            for i in 0..msg.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = msg.clone();
                    bad[i] ^= bit;
                    let err = inb.unprotect(&mut bad, off).expect_err("tampered accepted");
                    assert!(
                        matches!(
                            err,
                            CryptoError::IntegrityCheckFailed | CryptoError::LengthFieldMismatch
                        ),
                        "{name} len {len} byte {i}: {err:?}"
                    );
                }
            }
            // The untouched message still opens.
            assert!(inb.unprotect(&mut msg.clone(), off).is_ok());
        }
    }
}

#[test]
fn truncated_messages_are_rejected_without_panic() {
    for (name, suite) in suites() {
        let keys = keys_for(&suite);
        let (out, _) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (_, inb) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        let (msg, off) = protected(&out, &[], &plaintext(40), 3);
        for cut in 0..msg.len() {
            // As received: the length fields no longer match.
            let mut short = msg[..cut].to_vec();
            assert!(inb.unprotect(&mut short, off).is_err(), "{name} cut {cut}");
            // With the length fields patched to the truncated length, the
            // deeper checks must catch it.
            if cut >= off + 4 {
                let mut short = msg[..cut].to_vec();
                short[24..28].copy_from_slice(&u32::try_from(cut).unwrap().to_be_bytes());
                short[off + 2..off + 4]
                    .copy_from_slice(&u16::try_from(cut - off).unwrap().to_be_bytes());
                let err = inb
                    .unprotect(&mut short, off)
                    .expect_err("truncated accepted");
                assert!(
                    matches!(
                        err,
                        CryptoError::SkTooShort
                            | CryptoError::SkBadAlignment
                            | CryptoError::IntegrityCheckFailed
                    ),
                    "{name} cut {cut}: {err:?}"
                );
            }
        }
        // SK offsets inside the header or past the end.
        for bad_off in [0, 27, msg.len() - 3, msg.len(), msg.len() + 1, usize::MAX] {
            let mut m = msg.clone();
            assert_eq!(
                inb.unprotect(&mut m, bad_off),
                Err(CryptoError::SkOffsetOutOfRange),
                "{name} offset {bad_off}"
            );
        }
        assert_eq!(
            inb.unprotect(&mut [], 28),
            Err(CryptoError::SkOffsetOutOfRange)
        );
    }
}

#[test]
fn protect_refuses_broken_contracts() {
    for (name, suite) in suites() {
        let keys = keys_for(&suite);
        let (out, _) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let pt = plaintext(10);
        let iv = iv_for(&out, 1);
        let (msg, off) = unprotected(&out, &[], &pt);

        let mut m = msg.clone();
        m.push(0);
        assert!(
            matches!(
                out.protect(&mut m, off, pt.len(), &iv),
                Err(CryptoError::MessageLength { .. })
            ),
            "{name}"
        );
        let mut m = msg.clone();
        assert!(matches!(
            out.protect(&mut m, off, pt.len() + 16, &iv),
            Err(CryptoError::MessageLength { .. })
        ));
        let mut m = msg.clone();
        assert_eq!(
            out.protect(&mut m, off, pt.len(), &iv[1..]),
            Err(CryptoError::IvLength {
                expected: iv.len(),
                actual: iv.len() - 1
            })
        );
        assert_eq!(m, msg, "{name}: nothing written on error");
        let mut m = msg.clone();
        m[27] ^= 1;
        assert_eq!(
            out.protect(&mut m, off, pt.len(), &iv),
            Err(CryptoError::LengthFieldMismatch)
        );
        let mut m = msg.clone();
        m[off + 3] ^= 1;
        assert_eq!(
            out.protect(&mut m, off, pt.len(), &iv),
            Err(CryptoError::LengthFieldMismatch)
        );
        let mut m = msg.clone();
        assert_eq!(
            out.protect(&mut m, 20, pt.len(), &iv),
            Err(CryptoError::SkOffsetOutOfRange)
        );
        assert!(
            out.protect(&mut m, off, usize::MAX, &iv).is_err(),
            "{name}: absurd plaintext length"
        );
    }
}

/// Known answer for AES-128-GCM: if the AAD range, nonce layout (salt | IV),
/// padding or tag placement were wrong, these bytes would differ.
///
/// Computed independently with Python 3 and `cryptography` 48.0.0:
/// `AESGCM(bytes(range(16))).encrypt(bytes.fromhex("a0a1a2a3") + iv,
/// pt + b"\x00", msg[:32])` with iv = 0000000000000001, pt as below, and
/// msg[:32] the IKE header + SK generic header shown in the expected bytes.
#[test]
fn gcm_known_answer() {
    let mut sk_e: Vec<u8> = (0..16).collect();
    sk_e.extend_from_slice(&[0xa0, 0xa1, 0xa2, 0xa3]);
    let cipher = SkCipher::new(Encr::AES_GCM_128, None, &sk_e, &[]).unwrap();
    let pt = hex::decode("2900000c01000000c000020a2900000800004000").unwrap();
    let (mut msg, off) = unprotected(&cipher, &[], &pt);
    cipher
        .protect(
            &mut msg,
            off,
            pt.len(),
            &hex::decode("0000000000000001").unwrap(),
        )
        .unwrap();
    let expected = "010203040506070811121314151617182e202308000000010000004d\
                    2300003100000000000000016f711cfe6d847750476c441df204946e\
                    11f25983964d37e957dd08e4709e59de768d84170b";
    assert_eq!(hex::encode(&msg), expected);
    let range = cipher.unprotect(&mut msg, off).unwrap();
    assert_eq!(&msg[range], &pt[..]);
}

/// Known answer for AES-128-CBC + HMAC-SHA-256-128 (11 bytes of zero
/// padding, ICV over the whole message through the Pad Length).
///
/// Computed independently with Python 3: `cryptography` 48.0.0 AES-CBC with
/// key 202122..2f and IV 707172..7f over pt | 00*11 | 0b, then
/// `hmac.new(bytes(range(0x40, 0x60)), msg_without_icv,
/// hashlib.sha256).digest()[:16]`.
#[test]
fn cbc_known_answer() {
    let sk_e: Vec<u8> = (0x20..0x30).collect();
    let sk_a: Vec<u8> = (0x40..0x60).collect();
    let cipher =
        SkCipher::new(Encr::AES_CBC_128, Some(Integ::HmacSha256_128), &sk_e, &sk_a).unwrap();
    let pt = hex::decode("2900000c01000000c000020a2900000800004000").unwrap();
    let (mut msg, off) = unprotected(&cipher, &[], &pt);
    let iv: Vec<u8> = (0x70..0x80).collect();
    cipher.protect(&mut msg, off, pt.len(), &iv).unwrap();
    let expected = "010203040506070811121314151617182e2023080000000100000060\
                    23000044707172737475767778797a7b7c7d7e7feaa12682565ab962\
                    36ac978a337b0221b1d9abba237e97b3ae36b99ea932f219ae14bd96\
                    cfb8be8d2149a9c39a01b42f";
    assert_eq!(hex::encode(&msg), expected);
    let range = cipher.unprotect(&mut msg, off).unwrap();
    assert_eq!(&msg[range], &pt[..]);
}

/// Builds a CBC + HMAC-SHA-256-128 SK message by hand with the given
/// encrypted region (plaintext, padding, pad length), using the plain
/// `cbc`/`hmac` crates rather than `SkCipher`.
fn hand_built_cbc(sk_e: &[u8], sk_a: &[u8], enc: &[u8]) -> (Vec<u8>, usize) {
    let iv = [0x33u8; 16];
    let body_len = 16 + enc.len() + 16;
    let total = 28 + 4 + body_len;
    let mut msg = ike_header(46, total);
    msg.extend_from_slice(&[35, 0]);
    msg.extend_from_slice(&u16::try_from(4 + body_len).unwrap().to_be_bytes());
    msg.extend_from_slice(&iv);
    let mut ct = enc.to_vec();
    let n = ct.len();
    cbc::Encryptor::<aes::Aes128>::new_from_slices(sk_e, &iv)
        .unwrap()
        .encrypt_padded_mut::<NoPadding>(&mut ct, n)
        .unwrap();
    msg.extend_from_slice(&ct);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(sk_a).unwrap();
    mac.update(&msg);
    msg.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    (msg, 28)
}

/// RFC 7296 §3.14: "the recipient MUST accept any length that results in
/// proper alignment"; a pad length beyond the decrypted data is refused.
#[test]
fn cbc_padding_rules() {
    let sk_e = [0x21u8; 16];
    let sk_a = [0x43u8; 32];
    let cipher =
        SkCipher::new(Encr::AES_CBC_128, Some(Integ::HmacSha256_128), &sk_e, &sk_a).unwrap();

    // 14 bytes of payload, 17 bytes of (non-minimal, non-zero) padding.
    let mut enc = plaintext(14);
    enc.extend_from_slice(&[0x5c; 17]);
    enc.push(17);
    assert_eq!(enc.len(), 32);
    let (mut msg, off) = hand_built_cbc(&sk_e, &sk_a, &enc);
    let range = cipher
        .unprotect(&mut msg, off)
        .expect("extra padding accepted");
    assert_eq!(&msg[range], &plaintext(14)[..]);

    // Pad length 31 in a 32-byte region: empty plaintext, accepted.
    let mut enc = vec![0u8; 31];
    enc.push(31);
    let (mut msg, off) = hand_built_cbc(&sk_e, &sk_a, &enc);
    let range = cipher.unprotect(&mut msg, off).unwrap();
    assert!(range.is_empty());

    // Pad length 32 (or more) exceeds the decrypted data.
    for pad in [32u8, 200, 255] {
        let mut enc = vec![0u8; 31];
        enc.push(pad);
        let (mut msg, off) = hand_built_cbc(&sk_e, &sk_a, &enc);
        assert_eq!(
            cipher.unprotect(&mut msg, off),
            Err(CryptoError::BadPadding)
        );
    }

    // A ciphertext that is not a whole number of blocks.
    let (mut msg, off) = hand_built_cbc(&sk_e, &sk_a, &[0u8; 32]);
    msg.remove(40);
    let len = msg.len();
    msg[24..28].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
    msg[off + 2..off + 4].copy_from_slice(&u16::try_from(len - off).unwrap().to_be_bytes());
    assert_eq!(
        cipher.unprotect(&mut msg, off),
        Err(CryptoError::SkBadAlignment)
    );
}

/// GCM: any pad length within the data is accepted, one beyond is refused.
#[test]
fn gcm_padding_rules() {
    let mut sk_e = vec![0x77u8; 16];
    sk_e.extend_from_slice(&[1, 2, 3, 4]);
    let cipher = SkCipher::new(Encr::AES_GCM_128, None, &sk_e, &[]).unwrap();
    let gcm = AesGcmKey::new(&sk_e[..16]).unwrap();
    let build = |enc: &[u8]| {
        let body_len = 8 + enc.len() + 16;
        let total = 28 + 4 + body_len;
        let mut msg = ike_header(46, total);
        msg.extend_from_slice(&[35, 0]);
        msg.extend_from_slice(&u16::try_from(4 + body_len).unwrap().to_be_bytes());
        let iv = [0, 0, 0, 0, 0, 0, 0, 9];
        msg.extend_from_slice(&iv);
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&[1, 2, 3, 4]);
        nonce[4..].copy_from_slice(&iv);
        let mut ct = enc.to_vec();
        let tag = gcm
            .seal_in_place_detached(&nonce, &msg[..32], &mut ct)
            .unwrap();
        msg.extend_from_slice(&ct);
        msg.extend_from_slice(&tag);
        msg
    };
    // 5 bytes payload, 3 bytes padding.
    let mut m = build(&[1, 2, 3, 4, 5, 0, 0, 0, 3]);
    let r = cipher.unprotect(&mut m, 28).unwrap();
    assert_eq!(&m[r], &[1, 2, 3, 4, 5]);
    // Pad length 8 in 9 bytes: empty payload.
    let mut m = build(&[0, 0, 0, 0, 0, 0, 0, 0, 8]);
    assert!(cipher.unprotect(&mut m, 28).unwrap().is_empty());
    // Pad length 9 in 9 bytes: too long.
    let mut m = build(&[0, 0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(cipher.unprotect(&mut m, 28), Err(CryptoError::BadPadding));
}

#[test]
fn sk_cipher_refuses_wrong_keys() {
    let e20 = [0u8; 20];
    assert!(SkCipher::new(Encr::AES_GCM_128, None, &e20, &[]).is_ok());
    assert_eq!(
        SkCipher::new(Encr::AES_GCM_128, None, &e20[..16], &[]).err(),
        Some(CryptoError::KeyLength {
            expected: 20,
            actual: 16
        })
    );
    assert_eq!(
        SkCipher::new(Encr::AES_GCM_128, None, &e20, &[0; 32]).err(),
        Some(CryptoError::KeyLength {
            expected: 0,
            actual: 32
        })
    );
    assert_eq!(
        SkCipher::new(Encr::AES_GCM_128, Some(Integ::HmacSha256_128), &e20, &[]).err(),
        Some(CryptoError::AeadWithIntegrity)
    );
    assert_eq!(
        SkCipher::new(Encr::AES_CBC_128, None, &[0; 16], &[]).err(),
        Some(CryptoError::MissingIntegrity)
    );
    // RFC 4868 §2.1.1: integrity keys of other lengths MUST NOT be used.
    assert_eq!(
        SkCipher::new(
            Encr::AES_CBC_128,
            Some(Integ::HmacSha256_128),
            &[0; 16],
            &[0; 31]
        )
        .err(),
        Some(CryptoError::KeyLength {
            expected: 32,
            actual: 31
        })
    );
    assert_eq!(
        SkCipher::new(
            Encr::AesCbc { key_bits: 192 },
            Some(Integ::HmacSha256_128),
            &[0; 24],
            &[0; 32]
        )
        .err(),
        Some(CryptoError::UnsupportedKeySize { bits: 192 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes, with or without consistent length fields, at any
    /// offset: unprotect returns an error or a range inside the message,
    /// and never panics.
    #[test]
    fn unprotect_never_panics(
        mut msg in proptest::collection::vec(any::<u8>(), 0..160),
        off in 0usize..170,
        fix_lengths in any::<bool>(),
        suite_ix in 0usize..5,
    ) {
        let (_, suite) = suites()[suite_ix];
        let keys = keys_for(&suite);
        let (_, inb) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        if fix_lengths && msg.len() >= 28 && off + 4 <= msg.len() && off >= 28 {
            let len = msg.len();
            msg[24..28].copy_from_slice(&(len as u32).to_be_bytes());
            msg[off + 2..off + 4].copy_from_slice(&((len - off) as u16).to_be_bytes());
        }
        let len = msg.len();
        if let Ok(r) = inb.unprotect(&mut msg, off) {
            prop_assert!(r.end <= len);
        }
    }

    /// Round trip with arbitrary plaintext bytes and IVs.
    #[test]
    fn round_trip_arbitrary(
        pt in proptest::collection::vec(any::<u8>(), 0..300),
        n in any::<u64>(),
        suite_ix in 0usize..5,
    ) {
        let (_, suite) = suites()[suite_ix];
        let keys = keys_for(&suite);
        let (out, _) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        let (_, inb) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (mut msg, off) = protected(&out, &[], &pt, n);
        let r = inb.unprotect(&mut msg, off).unwrap();
        prop_assert_eq!(&msg[r], &pt[..]);
    }
}
