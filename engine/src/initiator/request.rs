//! The IKE_SESSION_RESUME exchange from the client's side (RFC 5723 §4.3.1,
//! §4.3.2): building the request and reading what comes back.

use core::net::SocketAddr;

use crate::crypto::nat_detection_hash;
use crate::handoff::NatStatus;
use crate::wire::{
    ExchangeType, HeaderRepr, Message, MessageBuilder, NonceRepr, NotifyRepr, NotifyType, Payload,
};

/// Length of the nonce the initiator sends.
///
/// RFC 7296 §2.10: "Nonces used in IKEv2 MUST be randomly chosen, MUST be
/// at least 128 bits in size, and MUST be at least half the key size of the
/// negotiated pseudorandom function (PRF)." 32 bytes is half the key of the
/// largest prf (HMAC-SHA-512).
pub const NONCE_LEN: usize = 32;

/// The most COOKIE rounds one resumption goes through.
pub const MAX_COOKIE_ROUNDS: u32 = 3;

/// RFC 7296 §3.10.1, COOKIE: "The data associated with this notification
/// MUST be between 1 and 64 octets in length, inclusive."
const COOKIE_MAX: usize = 64;

/// Bytes of an IKE header, a Nonce and the two NAT-D notifies, plus the
/// generic and notify headers of the ticket and the cookie.
const REQUEST_FIXED: usize = 28 + (4 + NONCE_LEN) + 2 * (8 + 20) + 8 + 8;

/// The IKE_SESSION_RESUME request (RFC 5723 §4.3.1):
/// `HDR, [N(COOKIE)], Ni, N(TICKET_OPAQUE), N(NAT_DETECTION_SOURCE_IP),
/// N(NAT_DETECTION_DESTINATION_IP)`, message id 0, SPIr 0.
///
/// # Errors
/// When the ticket (or cookie) does not fit a notify payload.
pub(super) fn resume_request(
    spi_i: &[u8; 8],
    ni: &[u8; NONCE_LEN],
    ticket: &[u8],
    cookie: Option<&[u8]>,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Vec<u8>, &'static str> {
    let hdr = HeaderRepr::initiator_request(*spi_i, [0; 8], ExchangeType::IKE_SESSION_RESUME, 0);
    // RFC 7296 §2.23: the hashes of the addresses and ports this packet is
    // sent from and to, over the SPIs as they appear in the header (SPIr is
    // still zero). RFC 5723 (paraphrased): NAT status is determined anew
    // by the resumption exchange, never taken from the ticket.
    let src = nat_detection_hash(spi_i, &[0; 8], local.ip(), local.port());
    let dst = nat_detection_hash(spi_i, &[0; 8], remote.ip(), remote.port());
    let cap = REQUEST_FIXED + ticket.len() + cookie.map_or(0, <[u8]>::len);
    let mut buf = vec![0u8; cap];
    let build = |buf: &mut [u8]| {
        let mut b = MessageBuilder::new(buf, &hdr)?;
        // RFC 7296 §2.6: "the initiator MUST then retry the IKE_SA_INIT
        // request, and include the COOKIE notification containing the
        // received data as the first payload, and all other payloads
        // unchanged" -- the `[N(COOKIE)]` of RFC 5723's IKE_SESSION_RESUME.
        if let Some(c) = cookie {
            b.push(&Payload::Notify(NotifyRepr::ike(NotifyType::COOKIE, c)))?;
        }
        b.push(&Payload::Nonce(NonceRepr { nonce: ni }))?;
        b.push(&Payload::Notify(NotifyRepr::ike(
            NotifyType::TICKET_OPAQUE,
            ticket,
        )))?;
        b.push(&Payload::Notify(NotifyRepr::ike(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            &src,
        )))?;
        b.push(&Payload::Notify(NotifyRepr::ike(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            &dst,
        )))?;
        b.finish()
    };
    let len = build(&mut buf).map_err(|_| "the ticket does not fit an IKE message")?;
    buf.truncate(len);
    Ok(buf)
}

/// What a response to the IKE_SESSION_RESUME request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ResumeReply<'a> {
    /// `HDR, N(COOKIE)`: retry with this cookie (RFC 7296 §2.6).
    Cookie(&'a [u8]),
    /// `HDR, N(TICKET_NACK)` (RFC 5723 §4.3.2).
    Nack,
    /// `HDR, N(error)`: another error notify.
    Error(NotifyType),
    /// `HDR(SPIr), Nr [, N(NAT_DETECTION_*)]`: the ticket was accepted.
    Accepted {
        spi_r: [u8; 8],
        nr: &'a [u8],
        nat: NatStatus,
    },
}

/// Why a datagram is not a response to our request (it is ignored).
pub(super) type Unrelated = &'static str;

/// Whether `msg` is a response from the responder to our request `exchange`
/// with `message_id` for `spi_i`.
///
/// RFC 7296 §3.1: the Response flag marks a response, and the Initiator
/// flag "MUST be cleared in messages sent by the original responder".
pub(super) fn is_response_to(
    msg: &Message<'_>,
    spi_i: &[u8; 8],
    exchange: ExchangeType,
    message_id: u32,
) -> bool {
    let h = &msg.header;
    h.spi_i == *spi_i
        && h.exchange_type == exchange
        && h.message_id == message_id
        && h.flags.response()
        && !h.flags.initiator()
}

/// Reads a response to the IKE_SESSION_RESUME request. Anything that is not
/// a well-formed response to it is `Err` and ignored: an unprotected message
/// is only believed when it makes sense.
pub(super) fn read_resume_reply<'a>(
    datagram: &'a [u8],
    spi_i: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<ResumeReply<'a>, Unrelated> {
    let msg = Message::parse(datagram).map_err(|_| "not an IKE message")?;
    if !is_response_to(&msg, spi_i, ExchangeType::IKE_SESSION_RESUME, 0) {
        return Err("not a response to the IKE_SESSION_RESUME request");
    }
    let mut cookie = None;
    let mut nack = false;
    let mut error = None;
    let mut nr = None;
    let (mut natd_src, mut natd_dst) = (None, None);
    msg.parse_all(|p| {
        match p {
            Payload::Nonce(n) => nr = nr.or(Some(n.nonce)),
            Payload::Notify(n) => match n.notify_type {
                NotifyType::COOKIE => cookie = cookie.or(Some(n.data)),
                NotifyType::TICKET_NACK => nack = true,
                NotifyType::NAT_DETECTION_SOURCE_IP => natd_src = natd_src.or(Some(n.data)),
                NotifyType::NAT_DETECTION_DESTINATION_IP => {
                    natd_dst = natd_dst.or(Some(n.data));
                }
                t if t.is_error() => error = error.or(Some(t)),
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })
    .map_err(|_| "malformed IKE_SESSION_RESUME response")?;

    // RFC 5723 §4.3.2 (paraphrased): a responder that does not accept the
    // ticket answers N(TICKET_NACK), and the client falls back to a full
    // exchange.
    if nack {
        return Ok(ResumeReply::Nack);
    }
    if let Some(t) = error {
        return Ok(ResumeReply::Error(t));
    }
    if let Some(c) = cookie {
        return if (1..=COOKIE_MAX).contains(&c.len()) {
            Ok(ResumeReply::Cookie(c))
        } else {
            Err("COOKIE data not 1 to 64 octets")
        };
    }
    let spi_r = msg.header.spi_r;
    let nr = nr.ok_or("response without a nonce")?;
    if spi_r == [0; 8] {
        return Err("accepting response with SPIr 0");
    }
    let nat = nat_status(spi_i, &spi_r, natd_src, natd_dst, local, remote);
    Ok(ResumeReply::Accepted { spi_r, nr, nat })
}

/// NAT status from the responder's NAT-D notifies (RFC 7296 §2.23): its
/// source hash covers the address it sent from (our `remote` unless a NAT
/// rewrote it), its destination hash the address it sent to (our `local`
/// unless we are behind a NAT). RFC 5723 (paraphrased): NAT status is
/// determined anew.
fn nat_status(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    src: Option<&[u8]>,
    dst: Option<&[u8]>,
    local: SocketAddr,
    remote: SocketAddr,
) -> NatStatus {
    let (Some(src), Some(dst)) = (src, dst) else {
        return NatStatus::default();
    };
    let peer = nat_detection_hash(spi_i, spi_r, remote.ip(), remote.port());
    let ours = nat_detection_hash(spi_i, spi_r, local.ip(), local.port());
    NatStatus {
        detection: true,
        peer_behind_nat: src != peer.as_slice(),
        local_behind_nat: dst != ours.as_slice(),
    }
}
