//! The IKE_SESSION_RESUME exchange from the client's side (RFC 5723 §4.3.1,
//! §4.3.2): building the request and reading what comes back; the
//! unprotected-response reader and the NAT-D notifies it shares with the
//! full exchange's IKE_SA_INIT.

use core::net::SocketAddr;

use crate::crypto::nat_detection_hash;
use crate::handoff::NatStatus;
use crate::responder::{PacketMeta, push_natd};
use crate::wire::{
    ExchangeType, HeaderRepr, KeRepr, Message, MessageBuilder, NonceRepr, NotifyRepr, NotifyType,
    Payload, SaRepr, WireError,
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
pub(super) const COOKIE_MAX: usize = 64;

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
        // RFC 5723 §4.3.2: "The client's NAT traversal status SHOULD be
        // determined anew in IKE_SESSION_RESUME." "NAT status is
        // explicitly not part of the session resumption state."
        push_natd_request(&mut b, spi_i, local, remote)?;
        b.finish()
    };
    let len = build(&mut buf).map_err(|_| "the ticket does not fit an IKE message")?;
    buf.truncate(len);
    Ok(buf)
}

/// N(NAT_DETECTION_SOURCE_IP) and N(NAT_DETECTION_DESTINATION_IP) of a
/// first request. RFC 7296 §2.23: the hashes of the addresses and ports
/// this packet is sent from and to, over the SPIs as they appear in the
/// header (SPIr is still zero).
pub(super) fn push_natd_request(
    b: &mut MessageBuilder<'_>,
    spi_i: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<(), WireError> {
    // The responder's helper: source = our address, destination = the
    // peer's.
    push_natd(
        b,
        spi_i,
        &[0; 8],
        &PacketMeta {
            peer: remote,
            local,
        },
    )
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

/// The payloads of an unprotected response (to IKE_SESSION_RESUME or
/// IKE_SA_INIT), the first of each kind.
#[derive(Default)]
pub(super) struct PlainReply<'a> {
    pub spi_r: [u8; 8],
    pub cookie: Option<&'a [u8]>,
    pub nack: bool,
    /// The first error notify other than TICKET_NACK, with its data.
    pub error: Option<(NotifyType, &'a [u8])>,
    pub nonce: Option<&'a [u8]>,
    pub sa: Option<SaRepr<'a>>,
    pub ke: Option<KeRepr<'a>>,
    pub natd_src: Option<&'a [u8]>,
    pub natd_dst: Option<&'a [u8]>,
}

impl<'a> PlainReply<'a> {
    /// Reads a response to our request `exchange` (message id 0) for
    /// `spi_i`; `Err` for anything else, or a malformed one.
    pub(super) fn read(
        datagram: &'a [u8],
        spi_i: &[u8; 8],
        exchange: ExchangeType,
    ) -> Result<Self, Unrelated> {
        let msg = Message::parse(datagram).map_err(|_| "not an IKE message")?;
        if !is_response_to(&msg, spi_i, exchange, 0) {
            return Err("not a response to the first request");
        }
        let mut r = PlainReply {
            spi_r: msg.header.spi_r,
            ..PlainReply::default()
        };
        msg.parse_all(|p| {
            match p {
                Payload::Nonce(n) => r.nonce = r.nonce.or(Some(n.nonce)),
                Payload::Sa(sa) => r.sa = r.sa.or(Some(sa)),
                Payload::Ke(ke) => r.ke = r.ke.or(Some(ke)),
                Payload::Notify(n) => match n.notify_type {
                    NotifyType::COOKIE => r.cookie = r.cookie.or(Some(n.data)),
                    NotifyType::TICKET_NACK => r.nack = true,
                    NotifyType::NAT_DETECTION_SOURCE_IP => {
                        r.natd_src = r.natd_src.or(Some(n.data));
                    }
                    NotifyType::NAT_DETECTION_DESTINATION_IP => {
                        r.natd_dst = r.natd_dst.or(Some(n.data));
                    }
                    t if t.is_error() => r.error = r.error.or(Some((t, n.data))),
                    _ => {}
                },
                _ => {}
            }
            Ok(())
        })
        .map_err(|_| "malformed response")?;
        Ok(r)
    }

    /// The cookie, if its length is valid (RFC 7296 §3.10.1: 1 to 64
    /// octets).
    pub(super) fn valid_cookie(&self) -> Result<Option<&'a [u8]>, Unrelated> {
        match self.cookie {
            Some(c) if (1..=COOKIE_MAX).contains(&c.len()) => Ok(Some(c)),
            Some(_) => Err("COOKIE data not 1 to 64 octets"),
            None => Ok(None),
        }
    }

    /// The NAT status its NAT-D notifies give (RFC 7296 §2.23).
    pub(super) fn nat(&self, spi_i: &[u8; 8], local: SocketAddr, remote: SocketAddr) -> NatStatus {
        nat_status(
            spi_i,
            &self.spi_r,
            self.natd_src,
            self.natd_dst,
            local,
            remote,
        )
    }
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
    let r = PlainReply::read(datagram, spi_i, ExchangeType::IKE_SESSION_RESUME)?;
    // RFC 5723 §4.3.2: the responder "responds with an unprotected
    // N(TICKET_NACK) notification, if it rejects the ticket for any reason.
    // In that case, the initiator should re-initiate a regular IKE
    // exchange."
    if r.nack {
        return Ok(ResumeReply::Nack);
    }
    if let Some((t, _)) = r.error {
        return Ok(ResumeReply::Error(t));
    }
    if let Some(c) = r.valid_cookie()? {
        return Ok(ResumeReply::Cookie(c));
    }
    let nr = r.nonce.ok_or("response without a nonce")?;
    if r.spi_r == [0; 8] {
        return Err("accepting response with SPIr 0");
    }
    let nat = r.nat(spi_i, local, remote);
    Ok(ResumeReply::Accepted {
        spi_r: r.spi_r,
        nr,
        nat,
    })
}

/// NAT status from the responder's NAT-D notifies (RFC 7296 §2.23): its
/// source hash covers the address it sent from (our `remote` unless a NAT
/// rewrote it), its destination hash the address it sent to (our `local`
/// unless we are behind a NAT). RFC 5723 §4.3.2: "The client's NAT
/// traversal status SHOULD be determined anew in IKE_SESSION_RESUME."
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
