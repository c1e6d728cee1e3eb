//! The established IKE SA from the client's side: one protected request at
//! a time (RFC 7296 §2.3: window size 1) and the reading of its response.
//!
//! ```text
//! INFORMATIONAL    SK {}                  -->  <--  SK {}                   liveness (§1.4)
//! INFORMATIONAL    SK {N(TICKET_REQUEST)} -->  <--  SK {N(TICKET_LT_OPAQUE | TICKET_ACK | TICKET_NACK)}
//! INFORMATIONAL    SK {D(IKE)}            -->  <--  SK {}                   the SA is gone (§1.4.1)
//! CREATE_CHILD_SA  SK {SA(IKE, SPIi'), Ni, KEi}  -->  <--  SK {SA(SPIr'), Nr, KEr}   rekey (§1.3.2)
//! CREATE_CHILD_SA  SK {[N(REKEY_SA)], SA(ESP), Ni, [KEi], TSi, TSr}
//!                                            -->  <--  SK {SA, Nr, [KEr], TSi, TSr}  child SA (§1.3.1, §1.3.3)
//! INFORMATIONAL    SK {D(ESP, SPIs)}      -->  <--  SK {D(ESP, SPIs)}      child delete (§1.4.1)
//! ```
//!
//! The child SA requests are in `child`.
//!
//! Sans-IO and synchronous: [`ClientSession::request`] hands out the bytes
//! of a request, [`ClientSession::pending_request`] the same bytes again
//! for a retransmission (RFC 7296 §2.1: bitwise identical), and
//! [`ClientSession::response`] reads the answer.

use core::fmt;
use core::net::IpAddr;
use std::sync::Arc;

use crate::crypto::{DhGroup, DhPrivate, IkeKeys, IkeSuite, Role, SkCipher};
use crate::handoff::{ChildSa, EstablishedSa, Hex};
use crate::ike_auth::protected;
use crate::rand::RandomSource;
use crate::slow_path::proposal::{IKE_SPI_LEN, accept_ike};
use crate::ticket::TicketId;
use crate::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use crate::time::Timestamp;
use crate::wire::{
    AuthMethod, DeleteRepr, ExchangeType, HeaderRepr, KeRepr, NonceRepr, NotifyRepr, NotifyType,
    Payload, PayloadIter, PayloadType, ProtocolId, SaRepr, TransformRepr, TsRepr, WireError,
};

use super::super::auth::{lifetime_and_ticket, numbered_proposals, open_response};
use super::super::config::ClientTicket;
use super::super::driver::random_spi;
use super::super::request::NONCE_LEN;
use super::config::FullConfig;

/// The largest request a session builds (an IKE rekey with a MODP-2048
/// public value and every default proposal is well under it).
const MAX_REQUEST_LEN: usize = 2048;

mod child;

pub use child::ChildRequest;
use child::ChildState;

/// What to ask of the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRequest {
    /// An empty INFORMATIONAL: is the peer alive (RFC 7296 §1.4)?
    Liveness,
    /// INFORMATIONAL with N(TICKET_REQUEST) (RFC 5723 §4.1: after a
    /// TICKET_ACK, or for a fresh ticket).
    Ticket,
    /// INFORMATIONAL with D(IKE): delete this IKE SA (RFC 7296 §1.4.1).
    Delete,
    /// CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 §1.3.2) with a KE of
    /// this group.
    Rekey(DhGroup),
    /// CREATE_CHILD_SA for another ESP child SA (RFC 7296 §1.3.1) as the
    /// configuration offers it, without PFS ([`ClientSession::create_child`]
    /// takes more).
    CreateChild,
}

/// The answer to N(TICKET_REQUEST).
// Read once and moved out.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TicketReply {
    /// N(TICKET_LT_OPAQUE): a ticket that resumes this SA.
    Issued(ClientTicket),
    /// N(TICKET_ACK): none now, ask again later.
    Acked,
    /// N(TICKET_NACK): refused.
    Nacked,
    /// No ticket notify at all.
    Missing,
}

impl TicketReply {
    /// The ticket, if one was issued.
    pub fn ticket(self) -> Option<ClientTicket> {
        match self {
            TicketReply::Issued(t) => Some(t),
            _ => None,
        }
    }
}

/// What an authentic response said.
// Read once and moved out.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SessionResponse {
    /// An answer without error to a liveness check: the peer is alive.
    Alive,
    /// The answer to D(IKE): the SA is deleted (RFC 7296 §1.4.1); this
    /// session can send nothing more.
    Deleted,
    /// The answer to N(TICKET_REQUEST).
    Ticket(TicketReply),
    /// The IKE SA was rekeyed: the new SA, message ids from 0 (RFC 7296
    /// §2.18). The old one stays until deleted.
    Rekeyed(Box<ClientSession>),
    /// N(INVALID_KE_PAYLOAD) to a rekey named a group we offer and have
    /// not tried: the rekey request in that group is pending now; send
    /// `request`.
    RekeyRetry { group: DhGroup, request: Vec<u8> },
    /// The responder refused with this error notify (NO_ADDITIONAL_SAS,
    /// NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD for a group we cannot use,
    /// INVALID_SYNTAX ...).
    Refused(NotifyType),
    /// A new child SA (RFC 7296 §1.3.1): `spi_i` is ours (inbound).
    ChildCreated(Box<ChildSa>),
    /// The child SA whose inbound SPI (ours) was `old_spi` is rekeyed into
    /// `child` (§1.3.3); delete the old one next.
    ChildRekeyed {
        old_spi: [u8; 4],
        child: Box<ChildSa>,
    },
    /// N(INVALID_KE_PAYLOAD) to a child SA request named a group we offer
    /// and have not tried: the request with a KE of that group is pending
    /// now; send `request`.
    ChildRetry { group: DhGroup, request: Vec<u8> },
    /// The answer to a child delete: the responder's SPIs its Delete
    /// payload listed (§1.4.1), the other direction of each pair.
    ChildrenDeleted(Vec<[u8; 4]>),
}

/// Why a request was not made or a datagram not taken as its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionError {
    /// A request is outstanding: one at a time (RFC 7296 §2.3, window 1).
    Busy,
    /// No request is outstanding.
    Idle,
    /// The SA was deleted.
    Closed,
    /// Not the response to the outstanding request (another SA or
    /// message, garbled, or failing its integrity check): ignore it and
    /// keep waiting.
    Unrelated(&'static str),
    /// The authentic response broke the protocol; the exchange is over.
    Protocol(&'static str),
    /// The request could not be built.
    Unusable(&'static str),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Busy => f.write_str("a request is outstanding"),
            SessionError::Idle => f.write_str("no request is outstanding"),
            SessionError::Closed => f.write_str("the IKE SA was deleted"),
            SessionError::Unrelated(why) => write!(f, "not the response: {why}"),
            SessionError::Protocol(why) => write!(f, "protocol error: {why}"),
            SessionError::Unusable(why) => write!(f, "cannot build the request: {why}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// The new SA a rekey request proposes.
struct RekeyState {
    spi_i: [u8; 8],
    ni: [u8; NONCE_LEN],
    dh: DhPrivate,
    /// Groups tried in this rekey, the current one included.
    tried: Vec<DhGroup>,
}

enum PendingKind {
    Liveness,
    Ticket,
    Delete,
    Rekey(Box<RekeyState>),
    Child(Box<ChildState>),
    /// D(ESP) of these inbound SPIs of ours.
    DeleteChildren(Vec<[u8; 4]>),
}

/// The outstanding request.
struct Pending {
    message_id: u32,
    exchange: ExchangeType,
    bytes: Vec<u8>,
    kind: PendingKind,
}

/// What the SA's new parts are, at its making.
pub(super) struct SessionKeys {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub suite: IkeSuite,
    pub group: DhGroup,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub keys: IkeKeys,
}

/// An established IKE SA from the client's side: keys, SPIs, the next
/// message id, and what a ticket for it holds. Keys wipe themselves on
/// drop and are never printed.
pub struct ClientSession {
    config: Arc<FullConfig>,
    sa: SessionKeys,
    outbound: SkCipher,
    inbound: SkCipher,
    /// The next request's message id.
    next_id: u32,
    id_r: TicketIdentity,
    internal_addr: Option<IpAddr>,
    pending: Option<Pending>,
    closed: bool,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("spi_i", &Hex(&self.sa.spi_i))
            .field("spi_r", &Hex(&self.sa.spi_r))
            .field("suite", &self.sa.suite)
            .field("group", &self.sa.group)
            .field("next_id", &self.next_id)
            .field("id_r", &self.id_r)
            .field("keys", &self.sa.keys)
            .finish_non_exhaustive()
    }
}

/// The payloads of a decrypted response.
#[derive(Default)]
struct Answer<'p> {
    error: Option<(NotifyType, &'p [u8])>,
    ticket: Option<&'p [u8]>,
    ack: bool,
    nack: bool,
    sa: Option<SaRepr<'p>>,
    nonce: Option<&'p [u8]>,
    ke: Option<KeRepr<'p>>,
    ts_i: Option<TsRepr<'p>>,
    ts_r: Option<TsRepr<'p>>,
    /// The SPIs of D(ESP) payloads.
    deleted_esp: Vec<[u8; 4]>,
}

impl<'p> Answer<'p> {
    fn parse(first: PayloadType, plaintext: &'p [u8]) -> Result<Self, WireError> {
        let mut a = Answer::default();
        for raw in PayloadIter::new(first, plaintext) {
            match raw?.parse()? {
                Payload::Sa(sa) => a.sa = a.sa.or(Some(sa)),
                Payload::Nonce(n) => a.nonce = a.nonce.or(Some(n.nonce)),
                Payload::Ke(ke) => a.ke = a.ke.or(Some(ke)),
                Payload::TsI(ts) => a.ts_i = a.ts_i.or(Some(ts)),
                Payload::TsR(ts) => a.ts_r = a.ts_r.or(Some(ts)),
                Payload::Delete(d) if d.protocol == ProtocolId::ESP && d.spi_size == 4 => {
                    let spis = d.iter_spis().filter_map(|s| <[u8; 4]>::try_from(s).ok());
                    a.deleted_esp.extend(spis);
                }
                Payload::Notify(n) => match n.notify_type {
                    NotifyType::TICKET_LT_OPAQUE => a.ticket = a.ticket.or(Some(n.data)),
                    NotifyType::TICKET_ACK => a.ack = true,
                    NotifyType::TICKET_NACK => a.nack = true,
                    t if t.is_error() => a.error = a.error.or(Some((t, n.data))),
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(a)
    }
}

impl ClientSession {
    /// The SA `sa` established, message ids from `next_id` (2 after
    /// IKE_AUTH, 0 after a rekey).
    pub(super) fn new(
        config: Arc<FullConfig>,
        sa: SessionKeys,
        next_id: u32,
        id_r: TicketIdentity,
        internal_addr: Option<IpAddr>,
    ) -> Result<Self, &'static str> {
        let (outbound, inbound) = sa
            .keys
            .sk_ciphers(&sa.suite, Role::Initiator)
            .map_err(|_| "SK cipher setup failed")?;
        Ok(ClientSession {
            config,
            sa,
            outbound,
            inbound,
            next_id,
            id_r,
            internal_addr,
            pending: None,
            closed: false,
        })
    }

    /// The client's side of an SA it resumed (`sa` from
    /// [`InitiatorEvent::Established`](crate::client::InitiatorEvent)):
    /// its INFORMATIONAL and CREATE_CHILD_SA exchanges go on from message
    /// id 2, as after a full exchange. `config` supplies the proposals of
    /// a later rekey.
    ///
    /// # Errors
    /// When the SA's DH group is not one Rebound speaks (the rekey would
    /// need it) or its ciphers cannot be set up.
    pub fn resumed(config: Arc<FullConfig>, sa: &EstablishedSa) -> Result<Self, &'static str> {
        let group = DhGroup::from_id(sa.dh_group).ok_or("unsupported DH group")?;
        let keys = SessionKeys {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            suite: sa.suite,
            group,
            ni: sa.ni[..].into(),
            nr: sa.nr[..].into(),
            keys: sa.keys.clone(),
        };
        Self::new(config, keys, 2, sa.id_r, sa.internal_addr)
    }

    pub fn spi_i(&self) -> [u8; 8] {
        self.sa.spi_i
    }

    pub fn spi_r(&self) -> [u8; 8] {
        self.sa.spi_r
    }

    /// The SA's seven keys.
    pub fn keys(&self) -> &IkeKeys {
        &self.sa.keys
    }

    pub fn suite(&self) -> IkeSuite {
        self.sa.suite
    }

    /// The key-exchange group the SA's keys came from.
    pub fn group(&self) -> DhGroup {
        self.sa.group
    }

    pub fn ni(&self) -> &[u8] {
        &self.sa.ni
    }

    pub fn nr(&self) -> &[u8] {
        &self.sa.nr
    }

    /// The message id of the next request.
    pub fn next_message_id(&self) -> u32 {
        self.next_id
    }

    pub fn id_i(&self) -> &TicketIdentity {
        &self.config.id_i
    }

    /// The responder's authenticated identity.
    pub fn id_r(&self) -> &TicketIdentity {
        &self.id_r
    }

    /// The internal address CP(CFG_REPLY) gave.
    pub fn internal_addr(&self) -> Option<IpAddr> {
        self.internal_addr
    }

    /// Whether a D(IKE) was answered: nothing more can be sent.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The outstanding request's bytes, to send again after a loss.
    pub fn pending_request(&self) -> Option<&[u8]> {
        self.pending.as_ref().map(|p| p.bytes.as_slice())
    }

    /// An empty INFORMATIONAL (liveness check).
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn informational_liveness(
        &mut self,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        self.request(SessionRequest::Liveness, rng)
    }

    /// INFORMATIONAL with N(TICKET_REQUEST).
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn request_ticket(&mut self, rng: &mut dyn RandomSource) -> Result<Vec<u8>, SessionError> {
        self.request(SessionRequest::Ticket, rng)
    }

    /// INFORMATIONAL with D(IKE).
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn delete(&mut self, rng: &mut dyn RandomSource) -> Result<Vec<u8>, SessionError> {
        self.request(SessionRequest::Delete, rng)
    }

    /// CREATE_CHILD_SA rekeying the IKE SA with a KE of `group`.
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn rekey(
        &mut self,
        group: DhGroup,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        self.request(SessionRequest::Rekey(group), rng)
    }

    /// The protected request for `what`, with the next message id; it
    /// stays pending until its response is read.
    ///
    /// # Errors
    /// [`SessionError::Busy`] while another request is pending,
    /// [`SessionError::Closed`] after a delete, and
    /// [`SessionError::Unusable`] for a rekey group none of our IKE
    /// proposals has, or a request that cannot be built.
    pub fn request(
        &mut self,
        what: SessionRequest,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        if self.pending.is_some() {
            return Err(SessionError::Busy);
        }
        let kind = match what {
            SessionRequest::Liveness => PendingKind::Liveness,
            SessionRequest::Ticket => PendingKind::Ticket,
            SessionRequest::Delete => PendingKind::Delete,
            SessionRequest::CreateChild => {
                PendingKind::Child(ChildState::new(&ChildRequest::default(), None, rng))
            }
            SessionRequest::Rekey(group) => {
                if !self.config.offers_group(group) {
                    return Err(SessionError::Unusable("a rekey group we do not offer"));
                }
                PendingKind::Rekey(Box::new(RekeyState {
                    spi_i: random_spi(rng),
                    ni: nonce(rng),
                    dh: DhPrivate::generate(group, rng),
                    tried: vec![group],
                }))
            }
        };
        self.send(kind, rng)
    }

    /// Builds the request for `kind` and makes it pending.
    fn send(
        &mut self,
        kind: PendingKind,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        let exchange = match kind {
            PendingKind::Liveness
            | PendingKind::Ticket
            | PendingKind::Delete
            | PendingKind::DeleteChildren(_) => ExchangeType::INFORMATIONAL,
            PendingKind::Rekey(_) | PendingKind::Child(_) => ExchangeType::CREATE_CHILD_SA,
        };
        let hdr =
            HeaderRepr::initiator_request(self.sa.spi_i, self.sa.spi_r, exchange, self.next_id);
        let mut buf = vec![0u8; MAX_REQUEST_LEN];
        let cfg = &*self.config;
        let n = match &kind {
            PendingKind::Liveness => protected(&mut buf, &hdr, &self.outbound, rng, |_| Ok(())),
            PendingKind::Ticket => protected(&mut buf, &hdr, &self.outbound, rng, |b| {
                b.push(&Payload::Notify(NotifyRepr::ike(
                    NotifyType::TICKET_REQUEST,
                    &[],
                )))
            }),
            // RFC 7296 §3.11: for the IKE SA, the SPI Size is zero and no
            // SPI follows (the header's SPIs name it).
            PendingKind::Delete => protected(&mut buf, &hdr, &self.outbound, rng, |b| {
                b.push(&Payload::Delete(DeleteRepr {
                    protocol: ProtocolId::IKE,
                    spi_size: 0,
                    spis: &[],
                }))
            }),
            PendingKind::Rekey(r) => {
                // RFC 7296 §1.3.2: `SK {SA, Ni, KEi}`, the SA offer
                // carrying the new initiator SPI (§3.3.1: 8 octets).
                let group = r.dh.group();
                let sets: Vec<Vec<TransformRepr>> =
                    cfg.ike.iter().map(|p| p.transforms(Some(group))).collect();
                let props =
                    numbered_proposals(ProtocolId::IKE, &r.spi_i, sets.iter().map(Vec::as_slice));
                protected(&mut buf, &hdr, &self.outbound, rng, |b| {
                    b.push(&Payload::Sa(SaRepr::new(&props)))?;
                    b.push(&Payload::Nonce(NonceRepr { nonce: &r.ni }))?;
                    b.push(&Payload::Ke(KeRepr {
                        dh_group: group.id(),
                        key_data: r.dh.public_value(),
                    }))
                })
            }
            PendingKind::Child(c) => c.build(cfg, &mut buf, &hdr, &self.outbound, rng),
            // RFC 7296 §1.4.1: D(ESP) lists our inbound SPIs.
            PendingKind::DeleteChildren(spis) => {
                let flat: Vec<u8> = spis.iter().flatten().copied().collect();
                protected(&mut buf, &hdr, &self.outbound, rng, |b| {
                    b.push(&Payload::Delete(DeleteRepr {
                        protocol: ProtocolId::ESP,
                        spi_size: 4,
                        spis: &flat,
                    }))
                })
            }
        };
        let n = n.ok_or(SessionError::Unusable("the request does not fit"))?;
        buf.truncate(n);
        self.pending = Some(Pending {
            message_id: self.next_id,
            exchange,
            bytes: buf.clone(),
            kind,
        });
        Ok(buf)
    }

    /// Reads `datagram` as the response to the pending request.
    ///
    /// # Errors
    /// [`SessionError::Idle`] with nothing pending;
    /// [`SessionError::Unrelated`] for a datagram that is not the response
    /// (the request stays pending); [`SessionError::Protocol`] for an
    /// authentic response that makes no sense (the exchange is over).
    pub fn response(
        &mut self,
        now: Timestamp,
        datagram: &[u8],
        rng: &mut dyn RandomSource,
    ) -> Result<SessionResponse, SessionError> {
        let p = self.pending.as_ref().ok_or(SessionError::Idle)?;
        let (copy, range, first) = open_response(
            datagram,
            &self.sa.spi_i,
            &self.sa.spi_r,
            p.exchange,
            p.message_id,
            &self.inbound,
        )
        .map_err(SessionError::Unrelated)?;
        // Authentic: the exchange is complete (RFC 7296 §2.2).
        let Some(p) = self.pending.take() else {
            return Err(SessionError::Idle);
        };
        self.next_id = self.next_id.wrapping_add(1);
        let plaintext = copy.get(range).unwrap_or_default();
        let a = Answer::parse(first, plaintext)
            .map_err(|_| SessionError::Protocol("malformed payloads in the response"))?;
        match p.kind {
            // RFC 7296 §1.4.1: "If the Delete was for the IKE SA, the
            // response is an empty INFORMATIONAL"; the SA is gone whatever
            // it says.
            PendingKind::Delete => {
                self.closed = true;
                Ok(SessionResponse::Deleted)
            }
            PendingKind::Liveness => match a.error {
                Some((t, _)) => Ok(SessionResponse::Refused(t)),
                None => Ok(SessionResponse::Alive),
            },
            PendingKind::Child(c) => self.child_answer(c, &a, rng),
            PendingKind::DeleteChildren(_) => match a.error {
                Some((t, _)) => Ok(SessionResponse::Refused(t)),
                None => Ok(SessionResponse::ChildrenDeleted(a.deleted_esp)),
            },
            PendingKind::Ticket => Ok(match (a.ticket.and_then(lifetime_and_ticket), a.error) {
                (Some((lifetime, opaque)), _) => SessionResponse::Ticket(TicketReply::Issued(
                    ClientTicket::received(opaque, lifetime, now, self.ticket_state()),
                )),
                _ if a.ack => SessionResponse::Ticket(TicketReply::Acked),
                _ if a.nack => SessionResponse::Ticket(TicketReply::Nacked),
                (None, Some((t, _))) => SessionResponse::Refused(t),
                (None, None) => SessionResponse::Ticket(TicketReply::Missing),
            }),
            PendingKind::Rekey(r) => self.rekeyed(r, &a, rng),
        }
    }

    /// The answer to a rekey request.
    fn rekeyed(
        &mut self,
        mut r: Box<RekeyState>,
        a: &Answer<'_>,
        rng: &mut dyn RandomSource,
    ) -> Result<SessionResponse, SessionError> {
        match a.error {
            // RFC 7296 §1.3 with §1.2: a responder wanting another group
            // answers INVALID_KE_PAYLOAD with it; the initiator retries in
            // that group (once per group here).
            Some((NotifyType::INVALID_KE_PAYLOAD, data)) => {
                let group = invalid_ke_group(data, |g| {
                    self.config.offers_group(g) && !r.tried.contains(&g)
                });
                let Some(group) = group else {
                    return Ok(SessionResponse::Refused(NotifyType::INVALID_KE_PAYLOAD));
                };
                r.dh = DhPrivate::generate(group, rng);
                r.ni = nonce(rng);
                r.tried.push(group);
                let request = self.send(PendingKind::Rekey(r), rng)?;
                return Ok(SessionResponse::RekeyRetry { group, request });
            }
            Some((t, _)) => return Ok(SessionResponse::Refused(t)),
            None => {}
        }
        let (Some(sa), Some(nr), Some(ke)) = (a.sa, a.nonce, a.ke) else {
            return Err(SessionError::Protocol("rekey answer without SA, Nr or KEr"));
        };
        // RFC 7296 §2.7: the answer is one of our proposals, with its new
        // SPI (§3.3.1) and the group our KE carried.
        let group = r.dh.group();
        let sel = accept_ike(&self.config.ike, &sa, IKE_SPI_LEN, group)
            .ok_or(SessionError::Protocol("the rekey answer was not offered"))?;
        let spi_r = sel
            .spi
            .filter(|s| *s != [0; 8])
            .ok_or(SessionError::Protocol("the rekey answer has no SPI"))?;
        if ke.dh_group != group.id() {
            return Err(SessionError::Protocol("KEr of another group"));
        }
        // RFC 7296 §5 (and RFC 8031 §2, RFC 5903 §7): the peer's public
        // value is checked before use.
        let shared =
            r.dh.agree(ke.key_data)
                .map_err(|_| SessionError::Protocol("invalid KEr public value"))?;
        // RFC 7296 §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
        // with the old SA's prf, then prf+ of the new suite over the new
        // nonces and SPIs.
        let keys = IkeKeys::derive_rekeyed(
            self.sa.suite.prf(),
            self.sa.keys.sk_d.as_bytes(),
            &sel.suite,
            shared.as_bytes(),
            &r.ni,
            nr,
            &r.spi_i,
            &spi_r,
        )
        .map_err(|_| SessionError::Protocol("rekey key derivation failed"))?;
        let sa = SessionKeys {
            spi_i: r.spi_i,
            spi_r,
            suite: sel.suite,
            group,
            ni: r.ni.to_vec(),
            nr: nr.to_vec(),
            keys,
        };
        // RFC 7296 §2.18: "The new IKE SA MUST reset its message counters
        // to 0."
        let new = ClientSession::new(self.config.clone(), sa, 0, self.id_r, self.internal_addr)
            .map_err(SessionError::Protocol)?;
        Ok(SessionResponse::Rekeyed(Box::new(new)))
    }

    /// What a ticket for this SA holds (RFC 5723 §5): identities, the
    /// PSK method, suite and group, SK_d, SPIs and internal address; the
    /// times are set when a ticket arrives.
    pub(super) fn ticket_state(&self) -> TicketState {
        TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: self.config.id_i,
            id_r: self.id_r,
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite: self.sa.suite,
                dh_group: self.sa.group.id(),
            },
            sk_d: self.sa.keys.sk_d.clone(),
            old_spi_i: self.sa.spi_i,
            old_spi_r: self.sa.spi_r,
            internal_addr: self.internal_addr,
            issued_at: 0,
            expiry: 0,
            reauth_deadline: 0,
        }
    }
}

/// The group an N(INVALID_KE_PAYLOAD) asks for (its data is the 2-octet
/// group number, RFC 7296 §3.10.1), if `usable` takes it: the retry of a
/// rekey or of a child SA request.
fn invalid_ke_group(data: &[u8], usable: impl Fn(DhGroup) -> bool) -> Option<DhGroup> {
    <[u8; 2]>::try_from(data)
        .ok()
        .and_then(|g| DhGroup::from_id(u16::from_be_bytes(g)))
        .filter(|g| usable(*g))
}

/// A fresh nonce (RFC 7296 §2.10: "Nonces used in IKEv2 MUST be randomly
/// chosen").
pub(super) fn nonce(rng: &mut dyn RandomSource) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rng.fill(&mut n);
    n
}
