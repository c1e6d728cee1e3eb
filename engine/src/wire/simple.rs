//! Fixed-layout payload bodies: KE, ID, CERT, CERTREQ, AUTH, Nonce, Notify,
//! Delete, Vendor ID, EAP, and the Encrypted (SK) and Encrypted Fragment (SKF)
//! payloads. Each `Repr` borrows its variable part from the packet.

use super::consts::{AuthMethod, CertEncoding, IdType, NotifyType, PayloadType, ProtocolId};
use super::error::{WireError, need};
use super::header::be16;

/// Emit a fixed prefix followed by a variable part, checking the buffer size.
fn emit_prefixed(buf: &mut [u8], prefix: &[u8], data: &[u8]) -> Result<(), WireError> {
    let total = prefix.len() + data.len();
    if buf.len() != total {
        return Err(WireError::BufferTooSmall {
            need: total,
            have: buf.len(),
        });
    }
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..].copy_from_slice(data);
    Ok(())
}

/// Key Exchange payload (RFC 7296 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeRepr<'a> {
    /// Diffie-Hellman group number.
    pub dh_group: u16,
    pub key_data: &'a [u8],
}

impl<'a> KeRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4).map_err(|_| WireError::malformed(PayloadType::KE, "shorter than 4 bytes"))?;
        Ok(KeRepr {
            dh_group: be16(&body[0..2]),
            key_data: &body[4..],
        })
    }
    pub fn body_len(&self) -> usize {
        4 + self.key_data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let g = self.dh_group.to_be_bytes();
        emit_prefixed(buf, &[g[0], g[1], 0, 0], self.key_data)
    }
}

/// Identification payload, IDi or IDr (RFC 7296 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRepr<'a> {
    pub id_type: IdType,
    pub data: &'a [u8],
}

impl<'a> IdRepr<'a> {
    pub fn parse(ptype: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4).map_err(|_| WireError::malformed(ptype, "shorter than 4 bytes"))?;
        let id_type = IdType(body[0]);
        let data = &body[4..];
        // RFC 7296 §3.5: ID_IPV4_ADDR is "a single four (4) octet IPv4
        // address", ID_IPV6_ADDR "a single sixteen (16) octet IPv6 address".
        match id_type {
            IdType::IPV4_ADDR if data.len() != 4 => {
                return Err(WireError::malformed(ptype, "ID_IPV4_ADDR is not 4 bytes"));
            }
            IdType::IPV6_ADDR if data.len() != 16 => {
                return Err(WireError::malformed(ptype, "ID_IPV6_ADDR is not 16 bytes"));
            }
            _ => {}
        }
        if data.is_empty() {
            return Err(WireError::malformed(ptype, "empty identification data"));
        }
        Ok(IdRepr { id_type, data })
    }
    pub fn body_len(&self) -> usize {
        4 + self.data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        emit_prefixed(buf, &[self.id_type.0, 0, 0, 0], self.data)
    }
}

/// Certificate or Certificate Request payload (RFC 7296 §3.6, §3.7).
/// Rebound recognises them so it can refuse them on the resumption path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertRepr<'a> {
    pub encoding: CertEncoding,
    pub data: &'a [u8],
}

impl<'a> CertRepr<'a> {
    pub fn parse(ptype: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 1).map_err(|_| WireError::malformed(ptype, "missing encoding"))?;
        Ok(CertRepr {
            encoding: CertEncoding(body[0]),
            data: &body[1..],
        })
    }
    pub fn body_len(&self) -> usize {
        1 + self.data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        emit_prefixed(buf, &[self.encoding.0], self.data)
    }
}

/// Authentication payload (RFC 7296 §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRepr<'a> {
    pub method: AuthMethod,
    pub data: &'a [u8],
}

impl<'a> AuthRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4)
            .map_err(|_| WireError::malformed(PayloadType::AUTH, "shorter than 4 bytes"))?;
        Ok(AuthRepr {
            method: AuthMethod(body[0]),
            data: &body[4..],
        })
    }
    pub fn body_len(&self) -> usize {
        4 + self.data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        emit_prefixed(buf, &[self.method.0, 0, 0, 0], self.data)
    }
}

/// Smallest legal nonce (RFC 7296 §3.9).
pub const NONCE_MIN: usize = 16;
/// Largest legal nonce (RFC 7296 §3.9).
pub const NONCE_MAX: usize = 256;

/// Nonce payload (RFC 7296 §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceRepr<'a> {
    pub nonce: &'a [u8],
}

impl<'a> NonceRepr<'a> {
    #[inline]
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        // RFC 7296 §3.9: "The size of the Nonce Data MUST be between 16 and
        // 256 octets, inclusive."
        if !(NONCE_MIN..=NONCE_MAX).contains(&body.len()) {
            return Err(WireError::malformed(
                PayloadType::NONCE,
                "nonce not between 16 and 256 bytes",
            ));
        }
        Ok(NonceRepr { nonce: body })
    }
    pub fn body_len(&self) -> usize {
        self.nonce.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        emit_prefixed(buf, &[], self.nonce)
    }
}

/// Notify payload (RFC 7296 §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyRepr<'a> {
    pub protocol: ProtocolId,
    pub notify_type: NotifyType,
    /// Empty for notifies about the IKE SA.
    pub spi: &'a [u8],
    pub data: &'a [u8],
}

impl<'a> NotifyRepr<'a> {
    /// A notify about the IKE SA (protocol 0, no SPI).
    pub const fn ike(notify_type: NotifyType, data: &'a [u8]) -> Self {
        NotifyRepr {
            protocol: ProtocolId::NONE,
            notify_type,
            spi: &[],
            data,
        }
    }
    #[inline]
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4)
            .map_err(|_| WireError::malformed(PayloadType::NOTIFY, "shorter than 4 bytes"))?;
        let spi_size = body[1] as usize;
        let rest = &body[4..];
        if rest.len() < spi_size {
            return Err(WireError::malformed(
                PayloadType::NOTIFY,
                "SPI size exceeds the payload",
            ));
        }
        Ok(NotifyRepr {
            protocol: ProtocolId(body[0]),
            notify_type: NotifyType(be16(&body[2..4])),
            spi: &rest[..spi_size],
            data: &rest[spi_size..],
        })
    }
    pub fn body_len(&self) -> usize {
        4 + self.spi.len() + self.data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let spi_size =
            u8::try_from(self.spi.len()).map_err(|_| WireError::Unrepresentable("notify SPI"))?;
        if buf.len() != self.body_len() {
            return Err(WireError::BufferTooSmall {
                need: self.body_len(),
                have: buf.len(),
            });
        }
        let t = self.notify_type.0.to_be_bytes();
        buf[..4].copy_from_slice(&[self.protocol.0, spi_size, t[0], t[1]]);
        buf[4..4 + self.spi.len()].copy_from_slice(self.spi);
        buf[4 + self.spi.len()..].copy_from_slice(self.data);
        Ok(())
    }
}

/// Delete payload (RFC 7296 §3.11). The SPIs stay packed as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteRepr<'a> {
    pub protocol: ProtocolId,
    pub spi_size: u8,
    /// `num_spis * spi_size` bytes.
    pub spis: &'a [u8],
}

impl<'a> DeleteRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4)
            .map_err(|_| WireError::malformed(PayloadType::DELETE, "shorter than 4 bytes"))?;
        let protocol = ProtocolId(body[0]);
        let spi_size = body[1];
        let num = be16(&body[2..4]) as usize;
        let spis = &body[4..];
        // RFC 7296 §3.11: for the IKE SA the SPI size "MUST be zero"
        // and no SPIs are present.
        if protocol == ProtocolId::IKE && (spi_size != 0 || num != 0) {
            return Err(WireError::malformed(
                PayloadType::DELETE,
                "IKE SA delete with SPIs",
            ));
        }
        // RFC 7296 §3.11: for AH and ESP the SPI Size "MUST be four".
        if (protocol == ProtocolId::AH || protocol == ProtocolId::ESP) && spi_size != 4 {
            return Err(WireError::malformed(
                PayloadType::DELETE,
                "AH/ESP delete with an SPI size other than 4",
            ));
        }
        if spi_size == 0 && num != 0 {
            return Err(WireError::malformed(
                PayloadType::DELETE,
                "SPIs counted but of size zero",
            ));
        }
        if num * spi_size as usize != spis.len() {
            return Err(WireError::malformed(
                PayloadType::DELETE,
                "SPI count does not match the payload length",
            ));
        }
        Ok(DeleteRepr {
            protocol,
            spi_size,
            spis,
        })
    }
    /// Number of SPIs.
    pub fn num_spis(&self) -> usize {
        if self.spi_size == 0 {
            0
        } else {
            self.spis.len() / self.spi_size as usize
        }
    }
    /// The SPIs, one slice each.
    pub fn iter_spis(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let size = (self.spi_size as usize).max(1);
        let spis = if self.spi_size == 0 {
            &[][..]
        } else {
            self.spis
        };
        spis.chunks_exact(size)
    }
    pub fn body_len(&self) -> usize {
        4 + self.spis.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let num = self.num_spis();
        if (self.spi_size == 0 && !self.spis.is_empty())
            || (self.spi_size != 0 && !self.spis.len().is_multiple_of(self.spi_size as usize))
        {
            return Err(WireError::Unrepresentable(
                "delete SPIs not a multiple of the SPI size",
            ));
        }
        let n = u16::try_from(num).map_err(|_| WireError::Unrepresentable("too many SPIs"))?;
        let n = n.to_be_bytes();
        emit_prefixed(
            buf,
            &[self.protocol.0, self.spi_size, n[0], n[1]],
            self.spis,
        )
    }
}

/// Encrypted and Authenticated payload (RFC 7296 §3.14): IV, ciphertext,
/// padding and ICV, opaque to the codec; `crypto` opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkRepr<'a> {
    /// Type of the first payload inside (the SK header's Next Payload).
    pub first_inner: PayloadType,
    pub data: &'a [u8],
}

/// Encrypted Fragment payload (RFC 7383 §2.5). Recognised, not reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkfRepr<'a> {
    /// Type of the first inner payload; non-zero only in fragment 1.
    pub first_inner: PayloadType,
    pub fragment_number: u16,
    pub total_fragments: u16,
    pub data: &'a [u8],
}

impl<'a> SkfRepr<'a> {
    pub fn parse(first_inner: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        need(body, 4)
            .map_err(|_| WireError::malformed(PayloadType::SKF, "shorter than 4 bytes"))?;
        let fragment_number = be16(&body[0..2]);
        let total_fragments = be16(&body[2..4]);
        // RFC 7383 §2.5: fragment numbers start at 1 and never exceed the total.
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(WireError::malformed(
                PayloadType::SKF,
                "fragment number outside 1..=total",
            ));
        }
        Ok(SkfRepr {
            first_inner,
            fragment_number,
            total_fragments,
            data: &body[4..],
        })
    }
    pub fn body_len(&self) -> usize {
        4 + self.data.len()
    }
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let a = self.fragment_number.to_be_bytes();
        let b = self.total_fragments.to_be_bytes();
        emit_prefixed(buf, &[a[0], a[1], b[0], b[1]], self.data)
    }
}

pub(crate) fn emit_opaque(buf: &mut [u8], data: &[u8]) -> Result<(), WireError> {
    emit_prefixed(buf, &[], data)
}
