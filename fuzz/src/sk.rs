//! SK payloads with a fixture's keys: open a recorded message to get its
//! plaintext (a seed), and seal fuzzed plaintext into a message the
//! responder decrypts, so a target reaches the checks after decryption
//! instead of stopping at the ICV.

use rebound_engine::crypto::SkCipher;
use rebound_engine::wire::{
    GENERIC_HEADER_LEN, HEADER_LEN, HeaderRepr, IkeHeader, Message, PayloadType,
};

/// The offset of `msg`'s SK payload (its generic header) and the type of
/// its first inner payload.
pub fn sk_payload(msg: &[u8]) -> Option<(usize, PayloadType)> {
    let m = Message::parse(msg).ok()?;
    for raw in m.payloads() {
        let raw = raw.ok()?;
        if raw.ptype == PayloadType::SK {
            return Some((HEADER_LEN + raw.offset, raw.next));
        }
    }
    None
}

/// The first inner payload type and the plaintext of `msg`'s SK payload,
/// opened with `inbound` (the receiver's cipher).
pub fn open(inbound: &SkCipher, msg: &[u8]) -> Option<(u8, Vec<u8>)> {
    let (offset, first) = sk_payload(msg)?;
    let mut copy = msg.to_vec();
    let plain = inbound.unprotect(&mut copy, offset).ok()?;
    Some((first.0, copy[plain].to_vec()))
}

/// `HDR, SK{plaintext}` with `header`'s fields, the SK payload's Next
/// Payload `first_inner`, sealed with `outbound` (the sender's cipher).
/// `plaintext` is cut so the message stays under 64 KiB.
pub fn seal(
    outbound: &SkCipher,
    header: &HeaderRepr,
    first_inner: u8,
    plaintext: &[u8],
) -> Vec<u8> {
    let plaintext = &plaintext[..plaintext.len().min(8192)];
    let layout = outbound.layout(plaintext.len());
    let sk_offset = HEADER_LEN;
    let total = sk_offset + GENERIC_HEADER_LEN + layout.body_len;
    let mut msg = vec![0u8; total];
    let hdr = HeaderRepr {
        next_payload: PayloadType::SK,
        ..*header
    };
    let len = u32::try_from(total).expect("under 64 KiB");
    hdr.emit(&mut IkeHeader::new_unchecked(&mut msg[..HEADER_LEN]), len);
    let sk_len = u16::try_from(GENERIC_HEADER_LEN + layout.body_len).expect("under 64 KiB");
    msg[sk_offset] = first_inner;
    msg[sk_offset + 2..sk_offset + 4].copy_from_slice(&sk_len.to_be_bytes());
    let pt = sk_offset + GENERIC_HEADER_LEN + layout.iv_len;
    msg[pt..pt + plaintext.len()].copy_from_slice(plaintext);
    let iv = vec![0x5a; layout.iv_len];
    outbound
        .protect(&mut msg, sk_offset, plaintext.len(), &iv)
        .expect("a well-formed SK payload seals");
    msg
}
