//! The IKE header (RFC 7296 §3.1) and the non-ESP marker (RFC 3948 §2.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::ops::Range;

use super::consts::{ExchangeType, PayloadType};
use super::error::{WireError, need};

mod field {
    use core::ops::Range;
    pub const SPI_I: Range<usize> = 0..8;
    pub const SPI_R: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// Length of the IKE header.
pub const HEADER_LEN: usize = 28;
/// Length of the non-ESP marker that precedes IKE on UDP port 4500.
pub const NON_ESP_MARKER_LEN: usize = 4;
/// The IKE major version this codec speaks.
pub const IKE_MAJOR_VERSION: u8 = 2;
/// Offset of the length field, for callers that patch it.
pub const LENGTH_FIELD: Range<usize> = field::LENGTH;

/// Header flags (RFC 7296 §3.1). The whole octet is kept so reserved bits
/// round-trip; they are ignored on receipt as the RFC requires.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// "Version": the sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// Set in responses.
    pub const RESPONSE: u8 = 0x20;

    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR;
        }
        if response {
            f |= Self::RESPONSE;
        }
        Flags(f)
    }
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
    pub fn version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Flags(")?;
        let mut sep = "";
        for (bit, name) in [
            (Self::INITIATOR, "I"),
            (Self::VERSION, "V"),
            (Self::RESPONSE, "R"),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{sep}{name}")?;
                sep = "|";
            }
        }
        let rest = self.0 & !(Self::INITIATOR | Self::VERSION | Self::RESPONSE);
        if rest != 0 {
            write!(f, "{sep}{rest:#04x}")?;
        }
        write!(f, ")")
    }
}

/// A read/write view of an IKE header over a buffer.
#[derive(Debug, Clone)]
pub struct IkeHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IkeHeader<T> {
    /// Wrap a buffer without checking it. Accessors may panic if it is
    /// shorter than [`HEADER_LEN`]; use [`IkeHeader::new_checked`] on input.
    pub const fn new_unchecked(buffer: T) -> Self {
        IkeHeader { buffer }
    }

    /// Wrap a buffer after checking that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), HEADER_LEN)?;
        Ok(IkeHeader { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn spi_i(&self) -> [u8; 8] {
        let mut s = [0; 8];
        s.copy_from_slice(&self.buffer.as_ref()[field::SPI_I]);
        s
    }
    pub fn spi_r(&self) -> [u8; 8] {
        let mut s = [0; 8];
        s.copy_from_slice(&self.buffer.as_ref()[field::SPI_R]);
        s
    }
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buffer.as_ref()[field::EXCHANGE])
    }
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn message_id(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::MESSAGE_ID])
    }
    pub fn length(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::LENGTH])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IkeHeader<T> {
    pub fn set_spi_i(&mut self, v: &[u8; 8]) {
        self.buffer.as_mut()[field::SPI_I].copy_from_slice(v);
    }
    pub fn set_spi_r(&mut self, v: &[u8; 8]) {
        self.buffer.as_mut()[field::SPI_R].copy_from_slice(v);
    }
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = v.0;
    }
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }
    pub fn set_exchange_type(&mut self, v: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE] = v.0;
    }
    pub fn set_flags(&mut self, v: Flags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
    }
    pub fn set_message_id(&mut self, v: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_length(&mut self, v: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
}

/// The parsed content of an IKE header, except the length (derived when
/// emitting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub next_payload: PayloadType,
    pub minor_version: u8,
    pub exchange_type: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

impl HeaderRepr {
    /// The header of a request from the original initiator (Initiator flag
    /// set, Response clear), IKEv2.0; `next_payload` is filled in by the
    /// message builder.
    pub fn initiator_request(
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        exchange_type: ExchangeType,
        message_id: u32,
    ) -> HeaderRepr {
        HeaderRepr {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            minor_version: 0,
            exchange_type,
            flags: Flags::new(true, false),
            message_id,
        }
    }

    /// The header of the original responder's response (Initiator clear,
    /// Response set).
    pub fn responder_response(
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        exchange_type: ExchangeType,
        message_id: u32,
    ) -> HeaderRepr {
        HeaderRepr {
            flags: Flags::new(false, true),
            ..Self::initiator_request(spi_i, spi_r, exchange_type, message_id)
        }
    }

    /// Parse and validate a header against the datagram it arrived in.
    ///
    /// RFC 7296 §3.1: "Implementations based on this version of the protocol
    /// MUST set the major version to 2"; §2.5: a message with a higher major
    /// version is answered with INVALID_MAJOR_VERSION. The length field must
    /// equal the datagram length: a shorter datagram is truncated, a longer
    /// one carries bytes no one vouches for.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(hdr: &IkeHeader<T>) -> Result<HeaderRepr, WireError> {
        let datagram = hdr.buffer.as_ref().len();
        if hdr.major_version() != IKE_MAJOR_VERSION {
            return Err(WireError::UnsupportedMajorVersion(hdr.major_version()));
        }
        let length = hdr.length();
        if (length as usize) < HEADER_LEN || length as usize != datagram {
            return Err(WireError::HeaderLength {
                header: length,
                datagram,
            });
        }
        Ok(HeaderRepr {
            spi_i: hdr.spi_i(),
            spi_r: hdr.spi_r(),
            next_payload: hdr.next_payload(),
            minor_version: hdr.minor_version(),
            exchange_type: hdr.exchange_type(),
            flags: hdr.flags(),
            message_id: hdr.message_id(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header with the given total message length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, hdr: &mut IkeHeader<T>, length: u32) {
        hdr.set_spi_i(&self.spi_i);
        hdr.set_spi_r(&self.spi_r);
        hdr.set_next_payload(self.next_payload);
        hdr.set_version(IKE_MAJOR_VERSION, self.minor_version);
        hdr.set_exchange_type(self.exchange_type);
        hdr.set_flags(self.flags);
        hdr.set_message_id(self.message_id);
        hdr.set_length(length);
    }
}

/// Strip the non-ESP marker of a datagram received on UDP port 4500.
///
/// RFC 3948 §2.2 / RFC 7296 §2.23: IKE on port 4500 is preceded by four zero
/// octets; anything else is ESP (a non-zero SPI) or a one-byte NAT keepalive.
pub fn strip_non_esp_marker(datagram: &[u8]) -> Result<&[u8], WireError> {
    match datagram.split_first_chunk::<NON_ESP_MARKER_LEN>() {
        Some(([0, 0, 0, 0], rest)) => Ok(rest),
        _ => Err(WireError::NotIke),
    }
}

/// Write the non-ESP marker into the first four bytes of `buf`.
pub fn emit_non_esp_marker(buf: &mut [u8]) -> Result<(), WireError> {
    let have = buf.len();
    match buf.first_chunk_mut::<NON_ESP_MARKER_LEN>() {
        Some(m) => {
            *m = [0; NON_ESP_MARKER_LEN];
            Ok(())
        }
        None => Err(WireError::BufferTooSmall {
            need: NON_ESP_MARKER_LEN,
            have,
        }),
    }
}

#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HeaderRepr {
        HeaderRepr {
            spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
            spi_r: [0; 8],
            next_payload: PayloadType::NONCE,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SESSION_RESUME,
            flags: Flags::new(true, false),
            message_id: 0,
        }
    }

    #[test]
    fn round_trip_known_bytes() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit(&mut IkeHeader::new_unchecked(&mut buf[..]), 28);
        assert_eq!(
            buf,
            [
                1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0x20, 38, 0x08, 0, 0, 0, 0, 0,
                0, 0, 28
            ]
        );
        let h = IkeHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(HeaderRepr::parse(&h).unwrap(), sample());
    }

    #[test]
    fn rejects_version_and_length() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit(&mut IkeHeader::new_unchecked(&mut buf[..]), 28);
        buf[17] = 0x30;
        let h = IkeHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(
            HeaderRepr::parse(&h),
            Err(WireError::UnsupportedMajorVersion(3))
        );
        buf[17] = 0x20;
        buf[27] = 29;
        let h = IkeHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(
            HeaderRepr::parse(&h),
            Err(WireError::HeaderLength {
                header: 29,
                datagram: 28
            })
        );
        assert!(IkeHeader::new_checked(&buf[..27]).is_err());
    }

    #[test]
    fn marker() {
        assert_eq!(strip_non_esp_marker(&[0, 0, 0, 0, 9]).unwrap(), &[9]);
        assert_eq!(
            strip_non_esp_marker(&[0, 0, 0, 1, 9]),
            Err(WireError::NotIke)
        );
        assert_eq!(strip_non_esp_marker(&[0xff]), Err(WireError::NotIke));
        let mut b = [7u8; 5];
        emit_non_esp_marker(&mut b).unwrap();
        assert_eq!(b, [0, 0, 0, 0, 7]);
    }
}
