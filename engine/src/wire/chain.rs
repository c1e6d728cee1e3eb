//! The generic payload header and the payload chain (RFC 7296 §3.2).
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Iteration is bounded by the buffer: every payload consumes at least four
//! bytes, so a chain can neither loop nor run past its end.

use super::consts::PayloadType;
use super::error::WireError;
use super::header::be16;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// The Payload Length field within the generic payload header.
pub const PAYLOAD_LENGTH_FIELD: core::ops::Range<usize> = 2..4;
/// The critical bit in the second octet of the generic header.
pub const CRITICAL_BIT: u8 = 0x80;

/// One payload of a chain, undecoded: its type (from the previous header's
/// Next Payload field), its own header fields and its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// This payload's type.
    pub ptype: PayloadType,
    /// The Next Payload field of this payload's header. For SK and SKF it is
    /// the type of the first payload inside the encrypted data (§3.14).
    pub next: PayloadType,
    /// The critical bit as received.
    pub critical: bool,
    /// The payload body, after the generic header.
    pub body: &'a [u8],
    /// Offset of this payload's generic header in the chain buffer.
    pub offset: usize,
}

impl<'a> RawPayload<'a> {
    /// Decode the body according to the payload type.
    #[inline]
    pub fn parse(&self) -> Result<super::Payload<'a>, WireError> {
        super::Payload::parse(self.ptype, self.next, self.body)
    }
}

/// Iterator over a payload chain. Yields every recognised payload; skips
/// unrecognised non-critical ones; stops with an error at the first problem
/// and is fused afterwards.
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    next: PayloadType,
    buf: &'a [u8],
    pos: usize,
    done: bool,
    skipped: usize,
}

impl<'a> PayloadIter<'a> {
    /// Iterate the chain in `buf` whose first payload has type `first`
    /// (the IKE header's Next Payload, or an SK payload's).
    pub fn new(first: PayloadType, buf: &'a [u8]) -> Self {
        PayloadIter {
            next: first,
            buf,
            pos: 0,
            done: false,
            skipped: 0,
        }
    }

    /// How many unrecognised, non-critical payloads were skipped so far.
    pub fn skipped_unknown(&self) -> usize {
        self.skipped
    }

    fn fail(&mut self, e: WireError) -> Option<Result<RawPayload<'a>, WireError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<RawPayload<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            if self.next == PayloadType::NONE {
                self.done = true;
                if !rest.is_empty() {
                    return Some(Err(WireError::TrailingBytes { count: rest.len() }));
                }
                return None;
            }
            let ptype = self.next;
            let Some(hdr) = rest.first_chunk::<GENERIC_HEADER_LEN>() else {
                return self.fail(WireError::Truncated {
                    need: GENERIC_HEADER_LEN,
                    have: rest.len(),
                });
            };
            let length = be16(&hdr[PAYLOAD_LENGTH_FIELD]);
            if (length as usize) < GENERIC_HEADER_LEN || length as usize > rest.len() {
                return self.fail(WireError::PayloadLength {
                    payload: ptype,
                    length,
                });
            }
            let raw = RawPayload {
                ptype,
                next: PayloadType(hdr[0]),
                critical: hdr[1] & CRITICAL_BIT != 0,
                body: &rest[GENERIC_HEADER_LEN..length as usize],
                offset: self.pos,
            };
            self.pos += length as usize;
            self.next = raw.next;

            if ptype == PayloadType::SK || ptype == PayloadType::SKF {
                // RFC 7296 §3.14: "the Encrypted payload, if present in a
                // message, MUST be the last payload in the message". Its Next
                // Payload names the first inner payload, not a successor.
                self.done = true;
                let left = self.buf.len() - self.pos;
                if left != 0 {
                    return Some(Err(WireError::TrailingBytes { count: left }));
                }
                return Some(Ok(raw));
            }
            if !ptype.is_known() {
                // RFC 7296 §2.5: an unrecognised payload with the critical
                // bit set MUST cause the message to be rejected with
                // UNSUPPORTED_CRITICAL_PAYLOAD; without it, it MUST be skipped.
                if raw.critical {
                    return self.fail(WireError::UnsupportedCriticalPayload(ptype));
                }
                self.skipped += 1;
                continue;
            }
            return Some(Ok(raw));
        }
    }
}

impl core::iter::FusedIterator for PayloadIter<'_> {}

/// Write a generic payload header.
pub(crate) fn emit_generic_header(buf: &mut [u8], next: PayloadType, critical: bool, length: u16) {
    buf[0] = next.0;
    buf[1] = if critical { CRITICAL_BIT } else { 0 };
    buf[PAYLOAD_LENGTH_FIELD].copy_from_slice(&length.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(first: PayloadType, buf: &[u8]) -> Vec<Result<RawPayload<'_>, WireError>> {
        PayloadIter::new(first, buf).collect()
    }

    #[test]
    fn walks_and_skips_unknown_noncritical() {
        // Nonce(4 bytes body) -> unknown 200 (non-critical) -> Vendor ID
        let buf = [
            200, 0, 0, 8, 1, 2, 3, 4, //
            43, 0, 0, 5, 9, //
            0, 0, 0, 5, 7,
        ];
        let mut it = PayloadIter::new(PayloadType::NONCE, &buf);
        let a = it.next().unwrap().unwrap();
        assert_eq!(a.ptype, PayloadType::NONCE);
        assert_eq!(a.body, &[1, 2, 3, 4]);
        let b = it.next().unwrap().unwrap();
        assert_eq!(b.ptype, PayloadType::VENDOR_ID);
        assert_eq!(b.body, &[7]);
        assert_eq!(b.offset, 13);
        assert!(it.next().is_none());
        assert_eq!(it.skipped_unknown(), 1);
    }

    #[test]
    fn rejects_unknown_critical_with_its_type() {
        let buf = [0, CRITICAL_BIT, 0, 4];
        let r = collect(PayloadType(200), &buf);
        assert_eq!(
            r,
            vec![Err(WireError::UnsupportedCriticalPayload(PayloadType(200)))]
        );
        // The critical bit on a known payload is ignored (§2.5).
        let r = collect(PayloadType::VENDOR_ID, &buf);
        assert!(r[0].is_ok());
    }

    #[test]
    fn length_errors_and_trailing_bytes() {
        assert_eq!(
            collect(PayloadType::NONCE, &[0, 0, 0, 3]),
            vec![Err(WireError::PayloadLength {
                payload: PayloadType::NONCE,
                length: 3
            })]
        );
        assert_eq!(
            collect(PayloadType::NONCE, &[0, 0, 0, 9, 1]),
            vec![Err(WireError::PayloadLength {
                payload: PayloadType::NONCE,
                length: 9
            })]
        );
        assert_eq!(
            collect(PayloadType::NONCE, &[0, 0]),
            vec![Err(WireError::Truncated { need: 4, have: 2 })]
        );
        let r = collect(PayloadType::NONCE, &[0, 0, 0, 4, 0xaa]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1], Err(WireError::TrailingBytes { count: 1 }));
        // SK must be last.
        let r = collect(PayloadType::SK, &[33, 0, 0, 4, 0, 0, 0, 4]);
        assert_eq!(r[0], Err(WireError::TrailingBytes { count: 4 }));
    }
}
