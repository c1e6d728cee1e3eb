//! A whole IKE message: validated header plus its payload chain.

use super::chain::PayloadIter;
use super::error::WireError;
use super::header::{HEADER_LEN, HeaderRepr, IkeHeader};
use super::payload::Payload;

/// A received IKE message (without any non-ESP marker), header checked.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub header: HeaderRepr,
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Check the header of `datagram` (version, length = datagram length).
    /// Payloads are decoded lazily by [`Message::payloads`]; use
    /// [`Message::parse_all`] to validate every payload up front.
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<Self, WireError> {
        let hdr = IkeHeader::new_checked(datagram)?;
        let header = HeaderRepr::parse(&hdr)?;
        Ok(Message {
            header,
            bytes: datagram,
        })
    }

    /// The whole message, header included, as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The bytes after the IKE header.
    pub fn payload_bytes(&self) -> &'a [u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// Iterate the top-level payload chain.
    pub fn payloads(&self) -> PayloadIter<'a> {
        PayloadIter::new(self.header.next_payload, self.payload_bytes())
    }

    /// Walk the chain and decode every payload, calling `f` on each; the
    /// first error stops the walk. Returns the number of payloads seen.
    #[inline]
    pub fn parse_all(
        &self,
        mut f: impl FnMut(Payload<'a>) -> Result<(), WireError>,
    ) -> Result<usize, WireError> {
        let mut n = 0;
        for raw in self.payloads() {
            f(raw?.parse()?)?;
            n += 1;
        }
        Ok(n)
    }
}
