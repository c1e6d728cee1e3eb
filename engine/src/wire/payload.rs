//! The decoded payload, one variant per recognised payload type.

use super::consts::PayloadType;
use super::cp::CpRepr;
use super::error::WireError;
use super::sa::SaRepr;
use super::simple::{
    AuthRepr, CertRepr, DeleteRepr, IdRepr, KeRepr, NonceRepr, NotifyRepr, SkRepr, SkfRepr,
    emit_opaque,
};
use super::ts::TsRepr;

/// A decoded payload body (the generic header is handled by the chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    Sa(SaRepr<'a>),
    Ke(KeRepr<'a>),
    IdI(IdRepr<'a>),
    IdR(IdRepr<'a>),
    Cert(CertRepr<'a>),
    CertReq(CertRepr<'a>),
    Auth(AuthRepr<'a>),
    Nonce(NonceRepr<'a>),
    Notify(NotifyRepr<'a>),
    Delete(DeleteRepr<'a>),
    VendorId(&'a [u8]),
    TsI(TsRepr<'a>),
    TsR(TsRepr<'a>),
    Sk(SkRepr<'a>),
    Cp(CpRepr<'a>),
    Eap(&'a [u8]),
    Skf(SkfRepr<'a>),
}

impl Eq for SaRepr<'_> {}
impl Eq for TsRepr<'_> {}
impl Eq for CpRepr<'_> {}

impl<'a> Payload<'a> {
    /// Decode a payload body. `next` is the payload's own Next Payload field,
    /// which SK and SKF need (it names their first inner payload).
    #[inline]
    pub fn parse(ptype: PayloadType, next: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        Ok(match ptype {
            PayloadType::SA => Payload::Sa(SaRepr::parse(body)?),
            PayloadType::KE => Payload::Ke(KeRepr::parse(body)?),
            PayloadType::IDI => Payload::IdI(IdRepr::parse(ptype, body)?),
            PayloadType::IDR => Payload::IdR(IdRepr::parse(ptype, body)?),
            PayloadType::CERT => Payload::Cert(CertRepr::parse(ptype, body)?),
            PayloadType::CERTREQ => Payload::CertReq(CertRepr::parse(ptype, body)?),
            PayloadType::AUTH => Payload::Auth(AuthRepr::parse(body)?),
            PayloadType::NONCE => Payload::Nonce(NonceRepr::parse(body)?),
            PayloadType::NOTIFY => Payload::Notify(NotifyRepr::parse(body)?),
            PayloadType::DELETE => Payload::Delete(DeleteRepr::parse(body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(body),
            PayloadType::TSI => Payload::TsI(TsRepr::parse(ptype, body)?),
            PayloadType::TSR => Payload::TsR(TsRepr::parse(ptype, body)?),
            PayloadType::SK => Payload::Sk(SkRepr {
                first_inner: next,
                data: body,
            }),
            PayloadType::CP => Payload::Cp(CpRepr::parse(body)?),
            PayloadType::EAP => Payload::Eap(body),
            PayloadType::SKF => Payload::Skf(SkfRepr::parse(next, body)?),
            other => return Err(WireError::malformed(other, "not a recognised payload type")),
        })
    }

    /// The payload type this body is sent as.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Skf(_) => PayloadType::SKF,
        }
    }

    /// For SK/SKF: the type written into the payload's own Next Payload field.
    pub(crate) fn own_next(&self) -> Option<PayloadType> {
        match self {
            Payload::Sk(s) => Some(s.first_inner),
            Payload::Skf(s) => Some(s.first_inner),
            _ => None,
        }
    }

    /// Length of the body, without the generic header.
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => p.body_len(),
            Payload::Ke(p) => p.body_len(),
            Payload::IdI(p) | Payload::IdR(p) => p.body_len(),
            Payload::Cert(p) | Payload::CertReq(p) => p.body_len(),
            Payload::Auth(p) => p.body_len(),
            Payload::Nonce(p) => p.body_len(),
            Payload::Notify(p) => p.body_len(),
            Payload::Delete(p) => p.body_len(),
            Payload::VendorId(d) | Payload::Eap(d) => d.len(),
            Payload::TsI(p) | Payload::TsR(p) => p.body_len(),
            Payload::Sk(p) => p.data.len(),
            Payload::Cp(p) => p.body_len(),
            Payload::Skf(p) => p.body_len(),
        }
    }

    /// Write the body into `buf`, which must be exactly `body_len()` long.
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        match self {
            Payload::Sa(p) => p.emit_body(buf),
            Payload::Ke(p) => p.emit_body(buf),
            Payload::IdI(p) | Payload::IdR(p) => p.emit_body(buf),
            Payload::Cert(p) | Payload::CertReq(p) => p.emit_body(buf),
            Payload::Auth(p) => p.emit_body(buf),
            Payload::Nonce(p) => p.emit_body(buf),
            Payload::Notify(p) => p.emit_body(buf),
            Payload::Delete(p) => p.emit_body(buf),
            Payload::VendorId(d) | Payload::Eap(d) => emit_opaque(buf, d),
            Payload::TsI(p) | Payload::TsR(p) => p.emit_body(buf),
            Payload::Sk(p) => emit_opaque(buf, p.data),
            Payload::Cp(p) => p.emit_body(buf),
            Payload::Skf(p) => p.emit_body(buf),
        }
    }
}
