//! IKE_SA_INIT from the initiator's side (RFC 7296 §1.2, §2.6, §2.7,
//! §2.23): the request, and what its response says.
//!
//! ```text
//! HDR(SPIi, 0, msg 0), [N(COOKIE)], SAi1, KEi, Ni, N(NAT_D_SRC), N(NAT_D_DST)  -->
//!                 <--  HDR, N(COOKIE)                  retry with it first
//!                 <--  HDR, N(INVALID_KE_PAYLOAD)      retry in that group
//!                 <--  HDR, N(error)                   Failed
//!                 <--  HDR(SPIi, SPIr), SAr1, KEr, Nr, [N(NAT_D)*2]
//! ```

use core::net::SocketAddr;

use crate::crypto::DhPrivate;
use crate::handoff::NatStatus;
use crate::slow_path::IkeProposal;
use crate::wire::{
    ExchangeType, HeaderRepr, KeRepr, MessageBuilder, NonceRepr, NotifyRepr, NotifyType, Payload,
    ProtocolId, SaRepr, TransformRepr,
};

use super::super::auth::numbered_proposals;
use super::super::request::{COOKIE_MAX, NONCE_LEN, PlainReply, Unrelated, push_natd_request};

/// What the IKE_SA_INIT request carries.
pub(super) struct InitRequest<'a> {
    pub spi_i: [u8; 8],
    pub ike: &'a [IkeProposal],
    pub dh: &'a DhPrivate,
    pub ni: &'a [u8; NONCE_LEN],
    pub cookie: Option<&'a [u8]>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl InitRequest<'_> {
    /// `HDR, [N(COOKIE)], SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP),
    /// N(NAT_DETECTION_DESTINATION_IP)`: message id 0, SPIr 0.
    pub fn build(&self) -> Result<Vec<u8>, &'static str> {
        let hdr = HeaderRepr::initiator_request(self.spi_i, [0; 8], ExchangeType::IKE_SA_INIT, 0);
        // RFC 7296 §1.2: the KE payload is of the group we guess; it comes
        // first among each proposal's groups (any group listed is valid).
        let group = self.dh.group();
        let sets: Vec<Vec<TransformRepr>> =
            self.ike.iter().map(|p| p.transforms(Some(group))).collect();
        let proposals = numbered_proposals(ProtocolId::IKE, &[], sets.iter().map(Vec::as_slice));
        let public = self.dh.public_value();
        let transforms: usize = sets.iter().map(Vec::len).sum();
        let cap = 28
            + 4
            + proposals.len() * 8
            + transforms * 12
            + (8 + public.len())
            + (4 + NONCE_LEN)
            + 2 * (8 + 20)
            + (8 + COOKIE_MAX);
        let mut buf = vec![0u8; cap];
        let build = |buf: &mut [u8]| {
            let mut b = MessageBuilder::new(buf, &hdr)?;
            // RFC 7296 §2.6: "the initiator MUST then retry the IKE_SA_INIT
            // request, and include the COOKIE notification containing the
            // received data as the first payload, and all other payloads
            // unchanged".
            if let Some(c) = self.cookie {
                b.push(&Payload::Notify(NotifyRepr::ike(NotifyType::COOKIE, c)))?;
            }
            b.push(&Payload::Sa(SaRepr::new(&proposals)))?;
            b.push(&Payload::Ke(KeRepr {
                dh_group: group.id(),
                key_data: public,
            }))?;
            b.push(&Payload::Nonce(NonceRepr { nonce: self.ni }))?;
            // RFC 7296 §2.23: both NAT_DETECTION notifies, hashed with SPIr
            // zero as it is in this header.
            push_natd_request(&mut b, &self.spi_i, self.local, self.remote)?;
            b.finish()
        };
        let len = build(&mut buf).map_err(|_| "the IKE_SA_INIT request does not fit")?;
        buf.truncate(len);
        Ok(buf)
    }
}

/// What a response to the IKE_SA_INIT request says.
pub(super) enum InitReply<'a> {
    /// `HDR, N(COOKIE)`: retry with this cookie (RFC 7296 §2.6).
    Cookie(&'a [u8]),
    /// `HDR, N(INVALID_KE_PAYLOAD)`: the group the responder wants.
    InvalidKe(u16),
    /// `HDR, N(error)`: another error notify.
    Error(NotifyType),
    /// `HDR(SPIr), SAr1, KEr, Nr [, N(NAT_DETECTION_*)]`.
    Accepted {
        spi_r: [u8; 8],
        sa: SaRepr<'a>,
        ke: KeRepr<'a>,
        nr: &'a [u8],
        nat: NatStatus,
    },
}

/// Reads a response to the IKE_SA_INIT request. Anything that is not a
/// well-formed response to it is `Err` and ignored.
pub(super) fn read_init_reply<'a>(
    datagram: &'a [u8],
    spi_i: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<InitReply<'a>, Unrelated> {
    let r = PlainReply::read(datagram, spi_i, ExchangeType::IKE_SA_INIT)?;
    match r.error {
        // RFC 7296 §3.10.1, INVALID_KE_PAYLOAD: "the notification data
        // contains the accepted DH Group # in big endian order" (2 octets).
        Some((NotifyType::INVALID_KE_PAYLOAD, data)) => {
            let group = <[u8; 2]>::try_from(data)
                .map_err(|_| "INVALID_KE_PAYLOAD without a 2-octet group")?;
            return Ok(InitReply::InvalidKe(u16::from_be_bytes(group)));
        }
        Some((t, _)) => return Ok(InitReply::Error(t)),
        None => {}
    }
    if let Some(c) = r.valid_cookie()? {
        return Ok(InitReply::Cookie(c));
    }
    // RFC 7296 §3.1: the responder's SPI "MUST NOT be zero" once chosen.
    if r.spi_r == [0; 8] {
        return Err("accepting response with SPIr 0");
    }
    let (Some(sa), Some(ke), Some(nr)) = (r.sa, r.ke, r.nonce) else {
        return Err("IKE_SA_INIT response without SAr1, KEr or Nr");
    };
    let nat = r.nat(spi_i, local, remote);
    Ok(InitReply::Accepted {
        spi_r: r.spi_r,
        sa,
        ke,
        nr,
        nat,
    })
}
