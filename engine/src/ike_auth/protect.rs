//! A protected message: every payload in one SK payload (RFC 7296 §3.14),
//! for IKE_AUTH answers and the exchanges that follow on the SA.

use crate::crypto::SkCipher;
use crate::rand::RandomSource;
use crate::wire::{HeaderRepr, MessageBuilder, NotifyRepr, NotifyType, Payload, WireError};

/// A protected message carrying one notify about the IKE SA (an error
/// answer, or a refusal).
pub(crate) fn protected_notify(
    out: &mut [u8],
    hdr: &HeaderRepr,
    outbound: &SkCipher,
    rng: &mut dyn RandomSource,
    notify: NotifyType,
    data: &[u8],
) -> Option<usize> {
    protected(out, hdr, outbound, rng, |b| {
        b.push(&Payload::Notify(NotifyRepr::ike(notify, data)))
    })
}

/// Build a message whose payloads all sit in one SK payload, and protect
/// it with a fresh IV.
pub(crate) fn protected(
    out: &mut [u8],
    hdr: &HeaderRepr,
    outbound: &SkCipher,
    rng: &mut dyn RandomSource,
    push: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), WireError>,
) -> Option<usize> {
    let iv_len = outbound.layout(0).iv_len;
    let mut b = MessageBuilder::new(out, hdr).ok()?;
    b.begin_sk(iv_len).ok()?;
    push(&mut b).ok()?;
    let sec = b.end_sk(|pt| outbound.layout(pt).trailer_len()).ok()?;
    let n = b.finish().ok()?;
    let mut iv = [0u8; 16];
    let iv = iv.get_mut(..iv_len)?;
    rng.fill(iv);
    outbound
        .protect(out.get_mut(..n)?, sec.sk_offset, sec.plaintext.len(), iv)
        .ok()?;
    Some(n)
}
