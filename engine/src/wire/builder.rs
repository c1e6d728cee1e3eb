//! Writing a message into a caller's buffer without allocating.
//!
//! The builder writes the IKE header, then each payload with a generic
//! header whose Next Payload is patched when the following payload is
//! pushed, and fixes the SK payload length and the IKE header length at the
//! end. Inside an SK payload the first inner payload's type goes into the SK
//! header's Next Payload (RFC 7296 §3.14).
//!
//! ```
//! use rebound_engine::wire::*;
//! let hdr = HeaderRepr {
//!     spi_i: [1; 8], spi_r: [0; 8], next_payload: PayloadType::NONE,
//!     minor_version: 0, exchange_type: ExchangeType::IKE_SESSION_RESUME,
//!     flags: Flags::new(true, false), message_id: 0,
//! };
//! let mut buf = [0u8; 128];
//! let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
//! b.push(&Payload::Nonce(NonceRepr { nonce: &[7; 32] })).unwrap();
//! b.push(&Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, b"ticket"))).unwrap();
//! let len = b.finish().unwrap();
//! let msg = Message::parse(&buf[..len]).unwrap();
//! assert_eq!(msg.payloads().count(), 2);
//! ```

use core::ops::Range;

use super::chain::{GENERIC_HEADER_LEN, emit_generic_header};
use super::consts::PayloadType;
use super::error::WireError;
use super::header::{HEADER_LEN, HeaderRepr, IkeHeader, LENGTH_FIELD};
use super::payload::Payload;

/// Where the SK payload sits in a built message, for the crypto layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkSection {
    /// Offset of the SK payload's generic header in the message.
    pub sk_offset: usize,
    /// The inner payloads (the plaintext), in the message.
    pub plaintext: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sk {
    None,
    Open { hdr: usize, iv_len: usize },
    Closed,
}

/// Writes one IKE message into a borrowed buffer.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// Offset of the Next Payload byte to patch with the next payload's type.
    next_field: usize,
    sk: Sk,
}

impl<'b> MessageBuilder<'b> {
    /// Start a message. `header.next_payload` is ignored: it is filled in
    /// from the first payload pushed.
    pub fn new(buf: &'b mut [u8], header: &HeaderRepr) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let mut h = *header;
        h.next_payload = PayloadType::NONE;
        h.emit(&mut IkeHeader::new_unchecked(&mut buf[..HEADER_LEN]), 0);
        Ok(MessageBuilder {
            buf,
            len: HEADER_LEN,
            next_field: 16,
            sk: Sk::None,
        })
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    fn reserve(&mut self, n: usize) -> Result<Range<usize>, WireError> {
        let end = self
            .len
            .checked_add(n)
            .ok_or(WireError::Unrepresentable("length"))?;
        if end > self.buf.len() {
            return Err(WireError::BufferTooSmall {
                need: end,
                have: self.buf.len(),
            });
        }
        let r = self.len..end;
        self.len = end;
        Ok(r)
    }

    fn start_payload(
        &mut self,
        ptype: PayloadType,
        critical: bool,
        body_len: usize,
    ) -> Result<Range<usize>, WireError> {
        if self.sk == Sk::Closed {
            return Err(WireError::BuilderState("payload after the SK payload"));
        }
        let total = GENERIC_HEADER_LEN + body_len;
        let len16 = u16::try_from(total)
            .map_err(|_| WireError::Unrepresentable("payload > 65535 bytes"))?;
        let start = self.len;
        let r = self.reserve(total)?;
        emit_generic_header(
            &mut self.buf[r.start..r.start + GENERIC_HEADER_LEN],
            PayloadType::NONE,
            critical,
            len16,
        );
        self.buf[self.next_field] = ptype.0;
        self.next_field = start;
        Ok(r.start + GENERIC_HEADER_LEN..r.end)
    }

    /// Append a payload.
    pub fn push(&mut self, p: &Payload<'_>) -> Result<(), WireError> {
        self.push_with_flag(p, false)
    }

    /// Append a payload with the critical bit set as given.
    pub fn push_with_flag(&mut self, p: &Payload<'_>, critical: bool) -> Result<(), WireError> {
        if matches!(p, Payload::Sk(_) | Payload::Skf(_)) && self.sk != Sk::None {
            return Err(WireError::BuilderState("SK inside SK"));
        }
        let body = self.start_payload(p.payload_type(), critical, p.body_len())?;
        let hdr = body.start - GENERIC_HEADER_LEN;
        p.emit_body(&mut self.buf[body])?;
        if let Some(first_inner) = p.own_next() {
            // An opaque SK/SKF is the last payload; its Next Payload is its own.
            self.buf[hdr] = first_inner.0;
            self.sk = Sk::Closed;
        }
        Ok(())
    }

    /// Append a payload of any type with an opaque body (used to test
    /// peers' handling of unknown payloads).
    pub fn push_raw(
        &mut self,
        ptype: PayloadType,
        critical: bool,
        body: &[u8],
    ) -> Result<(), WireError> {
        let r = self.start_payload(ptype, critical, body.len())?;
        self.buf[r].copy_from_slice(body);
        Ok(())
    }

    /// Open an SK payload: write its generic header and reserve `iv_len`
    /// bytes for the IV. Payloads pushed afterwards go inside it.
    pub fn begin_sk(&mut self, iv_len: usize) -> Result<(), WireError> {
        if self.sk != Sk::None {
            return Err(WireError::BuilderState("second SK payload"));
        }
        let hdr = self.len;
        self.start_payload(PayloadType::SK, false, 0)?;
        self.reserve(iv_len)?;
        // The first inner payload's type goes into the SK header itself.
        self.next_field = hdr;
        self.sk = Sk::Open { hdr, iv_len };
        Ok(())
    }

    /// Close the SK payload: `trailer_len(plaintext_len)` says how many bytes
    /// follow the plaintext (padding, pad length and ICV), which are reserved
    /// and zeroed. Sets the SK payload length.
    pub fn end_sk(
        &mut self,
        trailer_len: impl FnOnce(usize) -> usize,
    ) -> Result<SkSection, WireError> {
        let Sk::Open { hdr, iv_len } = self.sk else {
            return Err(WireError::BuilderState("end_sk without begin_sk"));
        };
        let pt_start = hdr + GENERIC_HEADER_LEN + iv_len;
        let plaintext = pt_start..self.len;
        let t = self.reserve(trailer_len(plaintext.len()))?;
        self.buf[t].fill(0);
        let sk_len = u16::try_from(self.len - hdr)
            .map_err(|_| WireError::Unrepresentable("SK payload > 65535 bytes"))?;
        self.buf[hdr + 2..hdr + 4].copy_from_slice(&sk_len.to_be_bytes());
        self.sk = Sk::Closed;
        Ok(SkSection {
            sk_offset: hdr,
            plaintext,
        })
    }

    /// Set the IKE header length and return the message length.
    pub fn finish(self) -> Result<usize, WireError> {
        if matches!(self.sk, Sk::Open { .. }) {
            return Err(WireError::BuilderState("SK payload left open"));
        }
        let len = u32::try_from(self.len).map_err(|_| WireError::Unrepresentable("length"))?;
        self.buf[LENGTH_FIELD].copy_from_slice(&len.to_be_bytes());
        Ok(self.len)
    }
}
