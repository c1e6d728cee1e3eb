//! The IKE_AUTH exchange from the initiator's side (RFC 7296 §1.2, §2.15),
//! after a resumption (RFC 5723 §4.3.3: AUTH keyed with SK_px) or after
//! IKE_SA_INIT (a pre-shared key): the protected request and what the
//! response says. Both exchanges share everything but the AUTH value's key
//! ([`Signer`]).

use core::net::IpAddr;
use core::ops::Range;

use subtle::ConstantTimeEq;

use crate::child::{EspProposal, accept_esp, esp_transforms, is_narrowing_of};
use crate::crypto::{
    AuthForm, ChildKeys, CryptoError, IkeKeys, PrfAlg, SkCipher, psk_auth, resume_auth,
};
use crate::handoff::{ChildSa, TsRange};
use crate::ike_auth::protected;
use crate::rand::RandomSource;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity};
use crate::wire::{
    AuthMethod, AuthRepr, CfgAttr, CfgAttrType, CfgType, CpRepr, ExchangeType, HEADER_LEN,
    HeaderRepr, IdRepr, Message, NotifyRepr, NotifyType, Payload, PayloadIter, PayloadType,
    ProposalSpec, ProtocolId, SaRepr, TrafficSelector, TransformRepr, TsRepr,
};

use super::config::Fallback;
use super::request::{Unrelated, is_response_to};

/// The message id of the IKE_AUTH exchange: the resumed SA's first request
/// after IKE_SESSION_RESUME (message id 0).
pub(super) const AUTH_MESSAGE_ID: u32 = 1;

/// What keys the AUTH payloads (RFC 7296 §2.15).
#[derive(Clone, Copy)]
pub(super) enum Signer<'a> {
    /// A resumed SA (RFC 5723 §4.3.3): `AUTH = prf(SK_px, <octets>)`, the
    /// octets in this form.
    Resumed(AuthForm),
    /// A full exchange with a pre-shared key (Auth Method 2): `AUTH =
    /// prf(prf(PSK, "Key Pad for IKEv2"), <octets>)`.
    Psk(&'a [u8]),
}

impl Signer<'_> {
    /// The AUTH value over `real_message | peer_nonce | prf(sk_p, id_body)`.
    fn mac(
        &self,
        prf: PrfAlg,
        sk_p: &[u8],
        real_message: &[u8],
        peer_nonce: &[u8],
        id_body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        match *self {
            Signer::Resumed(form) => {
                resume_auth(prf, sk_p, form, real_message, peer_nonce, id_body, out)
            }
            Signer::Psk(psk) => psk_auth(prf, psk, sk_p, real_message, peer_nonce, id_body, out),
        }
    }
}

/// What the initiator offers for the child SA and asks of the responder,
/// borrowed from its configuration.
#[derive(Clone, Copy)]
pub(super) struct ChildOffer<'a> {
    /// The ESP proposals, numbered 1.. in this order.
    pub esp: &'a [EspProposal],
    pub ts_i: &'a [TsRange],
    pub ts_r: &'a [TsRange],
    /// Send CP(CFG_REQUEST).
    pub request_address: bool,
    /// Send N(TICKET_REQUEST).
    pub request_ticket: bool,
    /// Send N(INITIAL_CONTACT) (RFC 7296 §2.4).
    pub initial_contact: bool,
}

/// RFC 7296 §3.3.1: "the first proposal in an SA payload MUST be 1, and
/// subsequent proposals MUST be one more than the previous proposal" (at
/// most 255: callers check the count).
pub(super) fn numbered_proposals<'a>(
    protocol: ProtocolId,
    spi: &'a [u8],
    sets: impl Iterator<Item = &'a [TransformRepr]>,
) -> Vec<ProposalSpec<'a>> {
    sets.enumerate()
        .map(|(i, transforms)| ProposalSpec {
            num: u8::try_from(i + 1).unwrap_or(u8::MAX),
            protocol,
            spi,
            transforms,
        })
        .collect()
}

/// The transforms of each ESP proposal, for [`numbered_proposals`].
pub(super) fn esp_transform_sets(esp: &[EspProposal]) -> Vec<([TransformRepr; 3], usize)> {
    esp.iter().map(esp_transforms).collect()
}

/// The used part of each set of [`esp_transform_sets`].
pub(super) fn used(sets: &[([TransformRepr; 3], usize)]) -> impl Iterator<Item = &[TransformRepr]> {
    sets.iter().map(|(t, n)| t.get(..*n).unwrap_or(t))
}

/// The traffic selectors of `ranges` in wire form.
pub(super) fn selectors(ranges: &[TsRange]) -> Vec<TrafficSelector<'static>> {
    ranges.iter().map(TsRange::selector).collect()
}

/// A response to our request `exchange`/`message_id` on the SA
/// `spi_i`/`spi_r`, its SK payload opened with `inbound`: the decrypted
/// copy, the plaintext's range in it and the first inner payload's type.
/// `Err` for anything else (another SA or message, garbled, unprotected,
/// or failing its integrity check), which is ignored.
pub(super) fn open_response(
    datagram: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    exchange: ExchangeType,
    message_id: u32,
    inbound: &SkCipher,
) -> Result<(Vec<u8>, Range<usize>, PayloadType), Unrelated> {
    let msg = Message::parse(datagram).map_err(|_| "not an IKE message")?;
    if !is_response_to(&msg, spi_i, exchange, message_id) || msg.header.spi_r != *spi_r {
        return Err("not a response to the outstanding request");
    }
    // RFC 7296 §3.14: the SK payload is the last one. A response without
    // one is unauthenticated and believed in nothing.
    let mut sk = None;
    for raw in msg.payloads() {
        let raw = raw.map_err(|_| "malformed response")?;
        if raw.ptype == PayloadType::SK {
            sk = Some((HEADER_LEN + raw.offset, raw.next));
        }
    }
    let (sk_offset, first_inner) = sk.ok_or("unprotected response")?;
    let mut copy = datagram.to_vec();
    let range = inbound
        .unprotect(&mut copy, sk_offset)
        .map_err(|_| "response failed its integrity check")?;
    Ok((copy, range, first_inner))
}

/// RFC 5723 §7 (TICKET_LT_OPAQUE): the data is a 4-octet lifetime in
/// seconds followed by the ticket. A zero lifetime or an empty ticket
/// gives nothing to keep.
pub(super) fn lifetime_and_ticket(data: &[u8]) -> Option<(u32, Vec<u8>)> {
    let (lt, t) = data.split_first_chunk::<4>()?;
    let lifetime = u32::from_be_bytes(*lt);
    (lifetime > 0 && !t.is_empty()).then(|| (lifetime, t.to_vec()))
}

/// An ID payload body as RFC 7296 §2.15 MACs it ("RestOfInitIDPayload"):
/// ID type, three reserved zero octets, identification data.
fn id_body(id: &TicketIdentity, out: &mut [u8; 4 + MAX_ID_DATA]) -> usize {
    let data = id.data();
    out[0] = id.id_type.0;
    out[1..4].fill(0);
    let n = data.len().min(MAX_ID_DATA);
    out[4..4 + n].copy_from_slice(data.get(..n).unwrap_or_default());
    4 + n
}

/// Everything the IKE_AUTH request is made of.
pub(super) struct AuthRequest<'a> {
    pub offer: ChildOffer<'a>,
    pub signer: Signer<'a>,
    pub id_i: &'a TicketIdentity,
    /// Sent as IDr when present.
    pub id_r: Option<&'a TicketIdentity>,
    /// The internal address to ask for again (a resumed ticket's).
    pub internal_addr: Option<IpAddr>,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// RealMessage1: the first message we sent (IKE_SESSION_RESUME or
    /// IKE_SA_INIT request) exactly as sent.
    pub message1: &'a [u8],
    pub nr: &'a [u8],
    pub prf: PrfAlg,
    pub keys: &'a IkeKeys,
    pub outbound: &'a SkCipher,
    /// Our inbound ESP SPI, in every SAi2 proposal.
    pub esp_spi: [u8; 4],
}

impl AuthRequest<'_> {
    /// `HDR, SK { IDi, [IDr], AUTH, [CP(CFG_REQUEST)], SAi2, TSi, TSr,
    /// [N(TICKET_REQUEST)] }`, protected with a random IV from `rng`.
    pub fn build(&self, rng: &mut dyn RandomSource) -> Result<Vec<u8>, &'static str> {
        let offer = &self.offer;
        let mut idi = [0u8; 4 + MAX_ID_DATA];
        let idi_len = id_body(self.id_i, &mut idi);
        // RFC 7296 §2.15: AUTH over <InitiatorSignedOctets> = RealMessage1
        // | NonceRData | prf(SK_pi, RestOfInitIDPayload); RFC 5723 §4.3.3:
        // for a resumed SA, keyed with SK_pi and with IDi (and IDr)
        // exactly the ticket's.
        let mut auth = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let auth_len = self
            .signer
            .mac(
                self.prf,
                self.keys.sk_pi.as_bytes(),
                self.message1,
                self.nr,
                idi.get(..idi_len).unwrap_or_default(),
                &mut auth,
            )
            .map_err(|_| "AUTH computation failed")?;

        // RFC 5723 Note 5 / RFC 7296 §3.15: ask for the address the ticket
        // remembers (the gateway MAY assign it again), or for any.
        let mut addr_value = [0u8; 17];
        let cp_attr = self.internal_addr_request(&mut addr_value);
        let cp_attrs = [cp_attr];

        let sets = esp_transform_sets(offer.esp);
        let proposals = numbered_proposals(ProtocolId::ESP, &self.esp_spi, used(&sets));
        let ts_i = selectors(offer.ts_i);
        let ts_r = selectors(offer.ts_r);

        let hdr = HeaderRepr::initiator_request(
            self.spi_i,
            self.spi_r,
            ExchangeType::IKE_AUTH,
            AUTH_MESSAGE_ID,
        );
        let cap = 256
            + 2 * (8 + MAX_ID_DATA)
            + auth_len
            + proposals.len() * (8 + 4 + 3 * 12)
            + (ts_i.len() + ts_r.len()) * 40;
        let mut buf = vec![0u8; cap];
        let len = protected(&mut buf, &hdr, self.outbound, rng, |b| {
            b.push(&Payload::IdI(IdRepr {
                id_type: self.id_i.id_type,
                data: self.id_i.data(),
            }))?;
            if let Some(id_r) = self.id_r {
                b.push(&Payload::IdR(IdRepr {
                    id_type: id_r.id_type,
                    data: id_r.data(),
                }))?;
            }
            b.push(&Payload::Auth(AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth.get(..auth_len).unwrap_or_default(),
            }))?;
            if offer.request_address {
                b.push(&Payload::Cp(CpRepr::new(CfgType::CFG_REQUEST, &cp_attrs)))?;
            }
            b.push(&Payload::Sa(SaRepr::new(&proposals)))?;
            b.push(&Payload::TsI(TsRepr::new(&ts_i)))?;
            b.push(&Payload::TsR(TsRepr::new(&ts_r)))?;
            // RFC 7296 §2.4: INITIAL_CONTACT in the IKE_AUTH request tells
            // the responder we keep no other IKE SA with it.
            if offer.initial_contact {
                b.push(&Payload::Notify(NotifyRepr::ike(
                    NotifyType::INITIAL_CONTACT,
                    &[],
                )))?;
            }
            if offer.request_ticket {
                // RFC 5723 §4.1: the client asks for a ticket with
                // N(TICKET_REQUEST) in the IKE_AUTH request.
                b.push(&Payload::Notify(NotifyRepr::ike(
                    NotifyType::TICKET_REQUEST,
                    &[],
                )))?;
            }
            Ok(())
        })
        .ok_or("IKE_AUTH request does not fit")?;
        buf.truncate(len);
        Ok(buf)
    }

    /// The CFG_REQUEST attribute: the ticket's address, or an empty one of
    /// the family the traffic selectors use.
    fn internal_addr_request<'v>(&self, value: &'v mut [u8; 17]) -> CfgAttr<'v> {
        match self.internal_addr {
            Some(IpAddr::V4(a)) => {
                value[..4].copy_from_slice(&a.octets());
                CfgAttr {
                    attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                    value: &value[..4],
                }
            }
            Some(IpAddr::V6(a)) => {
                // RFC 7296 §3.15.1: INTERNAL_IP6_ADDRESS is the address
                // and a one-octet prefix length.
                value[..16].copy_from_slice(&a.octets());
                value[16] = 128;
                CfgAttr {
                    attr_type: CfgAttrType::INTERNAL_IP6_ADDRESS,
                    value: &value[..],
                }
            }
            None => {
                let v6 = !self.offer.ts_i.is_empty()
                    && self.offer.ts_i.iter().all(|t| t.start.is_ipv6());
                CfgAttr {
                    attr_type: if v6 {
                        CfgAttrType::INTERNAL_IP6_ADDRESS
                    } else {
                        CfgAttrType::INTERNAL_IP4_ADDRESS
                    },
                    value: &[],
                }
            }
        }
    }
}

/// What the verifier of the IKE_AUTH response needs.
pub(super) struct AuthResponseCheck<'a> {
    pub offer: ChildOffer<'a>,
    pub signer: Signer<'a>,
    /// The IDr the responder must send, when we know it.
    pub id_r: Option<&'a TicketIdentity>,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub prf: PrfAlg,
    pub keys: &'a IkeKeys,
    pub inbound: &'a SkCipher,
    /// RealMessage2: the responder's first message (IKE_SESSION_RESUME or
    /// IKE_SA_INIT response).
    pub message2: &'a [u8],
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub esp_spi: [u8; 4],
}

/// What an authentic IKE_AUTH response says.
// Made once per exchange and moved straight into the event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum AuthOutcome {
    /// The responder authenticated: the IKE SA is up.
    Established {
        /// The child SA, or the error notify that explains its absence.
        child: Result<ChildSa, NotifyType>,
        /// From CP(CFG_REPLY).
        internal_addr: Option<IpAddr>,
        /// N(TICKET_LT_OPAQUE): lifetime in seconds and the ticket.
        ticket: Option<(u32, Vec<u8>)>,
        /// N(TICKET_ACK).
        ticket_acked: bool,
        /// N(TICKET_NACK).
        ticket_nacked: bool,
        /// The responder's authenticated identity (its IDr).
        id_r: TicketIdentity,
        /// N(AUTH_LIFETIME) (RFC 4478): seconds until re-authentication.
        auth_lifetime: Option<u32>,
    },
    /// The exchange failed.
    Failed(Fallback),
}

/// The notifies that refuse the child SA but not the IKE SA.
///
/// RFC 7296 §1.2: "The list of Notify message types in the IKE_AUTH
/// exchange that do not prevent an IKE SA from being set up include at
/// least the following: NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE,
/// SINGLE_PAIR_REQUIRED, INTERNAL_ADDRESS_FAILURE, and FAILED_CP_REQUIRED."
/// NO_ADDITIONAL_SAS and INVALID_SELECTORS are about child SAs too.
fn is_child_error(t: NotifyType) -> bool {
    matches!(
        t,
        NotifyType::NO_PROPOSAL_CHOSEN
            | NotifyType::TS_UNACCEPTABLE
            | NotifyType::INTERNAL_ADDRESS_FAILURE
            | NotifyType::FAILED_CP_REQUIRED
            | NotifyType::SINGLE_PAIR_REQUIRED
            | NotifyType::NO_ADDITIONAL_SAS
            | NotifyType::INVALID_SELECTORS
    )
}

/// The payloads of a decrypted IKE_AUTH response.
#[derive(Default)]
struct Inner<'p> {
    idr: Option<(IdRepr<'p>, &'p [u8])>,
    auth: Option<AuthRepr<'p>>,
    cp: Option<CpRepr<'p>>,
    sa: Option<SaRepr<'p>>,
    ts_i: Option<TsRepr<'p>>,
    ts_r: Option<TsRepr<'p>>,
    auth_failed: bool,
    nack: bool,
    ack: bool,
    error: Option<NotifyType>,
    ticket: Option<&'p [u8]>,
    auth_lifetime: Option<u32>,
}

impl<'p> Inner<'p> {
    fn parse(first: PayloadType, plaintext: &'p [u8]) -> Option<Self> {
        let mut s = Inner::default();
        for raw in PayloadIter::new(first, plaintext) {
            let raw = raw.ok()?;
            match raw.parse().ok()? {
                Payload::IdR(id) => s.idr = s.idr.or(Some((id, raw.body))),
                Payload::Auth(a) => s.auth = s.auth.or(Some(a)),
                Payload::Cp(c) => s.cp = s.cp.or(Some(c)),
                Payload::Sa(sa) => s.sa = s.sa.or(Some(sa)),
                Payload::TsI(t) => s.ts_i = s.ts_i.or(Some(t)),
                Payload::TsR(t) => s.ts_r = s.ts_r.or(Some(t)),
                Payload::Notify(n) => match n.notify_type {
                    NotifyType::AUTHENTICATION_FAILED => s.auth_failed = true,
                    NotifyType::TICKET_NACK => s.nack = true,
                    NotifyType::TICKET_ACK => s.ack = true,
                    NotifyType::TICKET_LT_OPAQUE => s.ticket = s.ticket.or(Some(n.data)),
                    // RFC 4478: a 4-octet lifetime in seconds; another
                    // length is ignored.
                    NotifyType::AUTH_LIFETIME => {
                        let v = <[u8; 4]>::try_from(n.data).ok().map(u32::from_be_bytes);
                        s.auth_lifetime = s.auth_lifetime.or(v);
                    }
                    t if t.is_error() => s.error = s.error.or(Some(t)),
                    _ => {}
                },
                _ => {}
            }
        }
        Some(s)
    }
}

impl AuthResponseCheck<'_> {
    /// Reads a datagram that may be the IKE_AUTH response. `Err` means it
    /// is not (another SA, garbled, or not authentic) and is ignored.
    pub fn read(&self, datagram: &[u8]) -> Result<AuthOutcome, Unrelated> {
        let (copy, range, first_inner) = open_response(
            datagram,
            &self.spi_i,
            &self.spi_r,
            ExchangeType::IKE_AUTH,
            AUTH_MESSAGE_ID,
            self.inbound,
        )?;
        let plaintext = copy.get(range).unwrap_or_default();
        // Authentic from here on: what it says is acted upon.
        Ok(match Inner::parse(first_inner, plaintext) {
            Some(inner) => self.judge(&inner),
            None => AuthOutcome::Failed(Fallback::ProtocolError(
                "malformed payloads in the IKE_AUTH response",
            )),
        })
    }

    fn judge(&self, p: &Inner<'_>) -> AuthOutcome {
        if p.auth_failed {
            return AuthOutcome::Failed(Fallback::AuthenticationFailed);
        }
        let (Some((idr, idr_body)), Some(auth)) = (p.idr, p.auth) else {
            // No IKE SA: TICKET_NACK for a ticket another resumption
            // consumed first, AUTHENTICATION_FAILED (RFC 7296 §2.21.2,
            // handled above) or another error alone in the response.
            let why = if p.nack {
                Fallback::TicketRefused
            } else {
                match p.error {
                    Some(t) if is_child_error(t) => Fallback::ChildRefused(t),
                    Some(t) => Fallback::ErrorNotify(t),
                    None => Fallback::ProtocolError("IKE_AUTH response without IDr and AUTH"),
                }
            };
            return AuthOutcome::Failed(why);
        };
        let id_r = match TicketIdentity::new(idr.id_type, idr.data) {
            Some(id) if self.authentic(idr, idr_body, auth) => id,
            _ => return AuthOutcome::Failed(Fallback::AuthenticationFailed),
        };
        // RFC 7296 §1.2: "If creating the Child SA during the IKE_AUTH
        // exchange fails, the IKE SA is still created as usual" -- it is
        // reported with the child's error.
        let child = match p.error {
            Some(t) => Err(t),
            None => self.child(p),
        };
        AuthOutcome::Established {
            child,
            internal_addr: p.cp.and_then(internal_addr),
            ticket: p.ticket.and_then(lifetime_and_ticket),
            ticket_acked: p.ack,
            ticket_nacked: p.nack,
            id_r,
            auth_lifetime: p.auth_lifetime,
        }
    }

    /// RFC 7296 §2.15: the responder's AUTH covers RealMessage2 | NonceIData
    /// | prf(SK_pr, RestOfRespIDPayload); RFC 5723 §4.3.3: with the
    /// IKE_SESSION_RESUME response as RealMessage2, and the IDr must be the
    /// ticket's. A configured IDr must match.
    fn authentic(&self, idr: IdRepr<'_>, idr_body: &[u8], auth: AuthRepr<'_>) -> bool {
        let id_ok = self.id_r.is_none_or(|id| id.matches(idr.id_type, idr.data));
        if !id_ok || auth.method != AuthMethod::SHARED_KEY_MIC {
            return false;
        }
        let mut expect = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let Ok(n) = self.signer.mac(
            self.prf,
            self.keys.sk_pr.as_bytes(),
            self.message2,
            self.ni,
            idr_body,
            &mut expect,
        ) else {
            return false;
        };
        bool::from(expect.get(..n).unwrap_or_default().ct_eq(auth.data))
    }

    /// The child SA from SAr2, TSi and TSr, or the notify this initiator
    /// would refuse them with.
    fn child(&self, p: &Inner<'_>) -> Result<ChildSa, NotifyType> {
        let sa = p.sa.ok_or(NotifyType::NO_PROPOSAL_CHOSEN)?;
        // The responder picks one of the proposals it was offered (RFC 7296
        // §2.7); anything else is refused.
        let esp = accept_esp(self.offer.esp, &sa).map_err(|e| e.notify())?;
        // RFC 7296 §3.3.1: "When a proposal is accepted, the proposal
        // number in the SA payload MUST match the number on the proposal
        // sent that was accepted." Each of ours holds one suite.
        let offered = usize::from(esp.proposal_num)
            .checked_sub(1)
            .and_then(|i| self.offer.esp.get(i));
        if offered != Some(&esp.suite()) {
            return Err(NotifyType::NO_PROPOSAL_CHOSEN);
        }
        // The responder may narrow the selectors to a subset of the offer,
        // never widen them (RFC 7296 §2.9).
        let ts_i = narrowed(p.ts_i, self.offer.ts_i)?;
        let ts_r = narrowed(p.ts_r, self.offer.ts_r)?;
        let keys = ChildKeys::derive(
            self.prf,
            self.keys.sk_d.as_bytes(),
            None,
            self.ni,
            self.nr,
            esp.encr,
            esp.integ,
        )
        .map_err(|_| NotifyType::NO_PROPOSAL_CHOSEN)?;
        Ok(ChildSa {
            spi_i: self.esp_spi,
            spi_r: esp.peer_spi,
            encr: esp.encr,
            integ: esp.integ,
            esn: esp.esn,
            keys,
            ts_i: ts_i.into(),
            ts_r: ts_r.into(),
        })
    }
}

/// The responder's selectors, if they are a narrowing of what we offered.
pub(super) fn narrowed(
    ts: Option<TsRepr<'_>>,
    offered: &[TsRange],
) -> Result<Vec<TsRange>, NotifyType> {
    let ts = ts.ok_or(NotifyType::TS_UNACCEPTABLE)?;
    let ranges = ts
        .selectors()
        .map(|s| TsRange::from_selector(&s))
        .collect::<Option<Vec<_>>>()
        .filter(|r| !r.is_empty())
        .ok_or(NotifyType::TS_UNACCEPTABLE)?;
    if is_narrowing_of(&ranges, offered) {
        Ok(ranges)
    } else {
        Err(NotifyType::TS_UNACCEPTABLE)
    }
}

/// The address of a CP(CFG_REPLY): the first INTERNAL_IP4_ADDRESS (4
/// octets) or INTERNAL_IP6_ADDRESS (16 octets and a prefix length).
fn internal_addr(cp: CpRepr<'_>) -> Option<IpAddr> {
    if cp.cfg_type != CfgType::CFG_REPLY {
        return None;
    }
    cp.attributes().find_map(|a| match a.attr_type {
        CfgAttrType::INTERNAL_IP4_ADDRESS => <[u8; 4]>::try_from(a.value).ok().map(IpAddr::from),
        CfgAttrType::INTERNAL_IP6_ADDRESS => a
            .value
            .first_chunk::<16>()
            .filter(|_| a.value.len() == 17)
            .map(|b| IpAddr::from(*b)),
        _ => None,
    })
}
