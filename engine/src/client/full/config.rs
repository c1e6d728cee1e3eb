//! What the full-exchange initiator is told ([`FullConfig`]) and what it
//! reports ([`FullEvent`], [`FullFailure`]).

use core::fmt;

use crate::child::EspProposal;
use crate::crypto::{DhGroup, SecretBuf};
use crate::handoff::{EstablishedSa, TsRange};
use crate::slow_path::IkeProposal;
use crate::ticket::state::TicketIdentity;
use crate::wire::NotifyType;

use super::super::auth::ChildOffer;
use super::super::config::{ANY_IPV4, ClientTicket, RetransmitPolicy};
use super::session::ClientSession;

/// How a client makes a new IKE SA with a pre-shared key (RFC 7296 §1.2,
/// §2.15): what it offers and who it is. Shared (`Arc`) by the initiator
/// and the [`ClientSession`] it leaves behind.
#[derive(Clone)]
pub struct FullConfig {
    /// The IKE proposals of SAi1, numbered 1.. in this order (at most 255).
    pub ike: Vec<IkeProposal>,
    /// The group of the KE payload (the guess, RFC 7296 §1.2); it must be
    /// in one of `ike`.
    pub group: DhGroup,
    /// Our identity (IDi); the responder finds the PSK by it.
    pub id_i: TicketIdentity,
    /// The pre-shared key.
    pub psk: SecretBuf,
    /// The responder's identity: sent as IDr and required of its IDr.
    /// `None` sends no IDr and takes any.
    pub id_r: Option<TicketIdentity>,
    /// The ESP proposals of SAi2, numbered 1.. in this order.
    pub esp: Vec<EspProposal>,
    /// The offered TSi (our side of the tunnel).
    pub ts_i: Vec<TsRange>,
    /// The offered TSr (the gateway's side).
    pub ts_r: Vec<TsRange>,
    /// Send CP(CFG_REQUEST) for an internal address.
    pub request_address: bool,
    /// Send N(TICKET_REQUEST) in IKE_AUTH (RFC 5723 §4.1).
    pub request_ticket: bool,
    /// Send N(INITIAL_CONTACT) in IKE_AUTH (RFC 7296 §2.4).
    pub initial_contact: bool,
    /// Retransmission of IKE_SA_INIT and IKE_AUTH.
    pub retransmit: RetransmitPolicy,
}

impl FullConfig {
    /// `id_i` with `psk`, and defaults for the rest: the default IKE policy
    /// with a curve25519 KE, no IDr, the default ESP proposals, TSi and TSr
    /// "anything" over IPv4, an internal address and a ticket asked for.
    pub fn new(id_i: TicketIdentity, psk: SecretBuf) -> Self {
        FullConfig {
            ike: IkeProposal::default_policy(),
            group: DhGroup::Curve25519,
            id_i,
            psk,
            id_r: None,
            esp: EspProposal::DEFAULT.to_vec(),
            ts_i: vec![ANY_IPV4],
            ts_r: vec![ANY_IPV4],
            request_address: true,
            request_ticket: true,
            initial_contact: false,
            retransmit: RetransmitPolicy::default(),
        }
    }

    /// The child SA offer and requests of this configuration.
    pub(in crate::client) fn offer(&self) -> ChildOffer<'_> {
        ChildOffer {
            esp: &self.esp,
            ts_i: &self.ts_i,
            ts_r: &self.ts_r,
            request_address: self.request_address,
            request_ticket: self.request_ticket,
            initial_contact: self.initial_contact,
        }
    }

    /// Whether `group` is in one of the IKE proposals.
    pub(super) fn offers_group(&self, group: DhGroup) -> bool {
        self.ike.iter().any(|p| p.groups.contains(&group))
    }
}

impl fmt::Debug for FullConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ike: Vec<String> = self.ike.iter().map(IkeProposal::name).collect();
        f.debug_struct("FullConfig")
            .field("ike", &ike)
            .field("group", &self.group)
            .field("id_i", &self.id_i)
            .field("id_r", &self.id_r)
            .field("esp", &self.esp)
            .field("request_address", &self.request_address)
            .field("request_ticket", &self.request_ticket)
            .finish_non_exhaustive()
    }
}

/// Why a full exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FullFailure {
    /// The responder answered N(AUTHENTICATION_FAILED), or its AUTH or IDr
    /// did not verify.
    AuthenticationFailed,
    /// The responder took none of our IKE proposals (N(NO_PROPOSAL_CHOSEN)
    /// to IKE_SA_INIT).
    NoProposalChosen,
    /// N(INVALID_KE_PAYLOAD) named a group we did not offer, or one we
    /// already retried with.
    InvalidKe { group: u16 },
    /// No response after the last retransmission.
    Timeout,
    /// The responder refused with this error notify (to IKE_SA_INIT, or
    /// alone in the IKE_AUTH response).
    ErrorNotify(NotifyType),
    /// The responder broke the protocol (an answer we did not offer, an
    /// invalid public value, a malformed authenticated response, too many
    /// COOKIE rounds).
    ProtocolError(&'static str),
    /// The configuration cannot make a request (no proposal, a KE group
    /// not offered, no traffic selector).
    Unusable(&'static str),
}

impl FullFailure {
    /// A stable, low-cardinality counter label.
    pub const fn counter_label(&self) -> &'static str {
        match self {
            FullFailure::AuthenticationFailed => "authentication_failed",
            FullFailure::NoProposalChosen => "no_proposal_chosen",
            FullFailure::InvalidKe { .. } => "invalid_ke",
            FullFailure::Timeout => "timeout",
            FullFailure::ErrorNotify(_) => "error_notify",
            FullFailure::ProtocolError(_) => "protocol_error",
            FullFailure::Unusable(_) => "unusable",
        }
    }
}

impl fmt::Display for FullFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullFailure::AuthenticationFailed => f.write_str("the gateway did not authenticate"),
            FullFailure::NoProposalChosen => f.write_str("the gateway took no IKE proposal"),
            FullFailure::InvalidKe { group } => {
                write!(
                    f,
                    "the gateway wants key-exchange group {group}, not usable"
                )
            }
            FullFailure::Timeout => f.write_str("no response from the gateway"),
            FullFailure::ErrorNotify(n) => write!(f, "the gateway answered {n}"),
            FullFailure::ProtocolError(what) => write!(f, "protocol error: {what}"),
            FullFailure::Unusable(what) => write!(f, "cannot start: {what}"),
        }
    }
}

impl std::error::Error for FullFailure {}

/// What the full-exchange initiator reports, once.
// One event per exchange, moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FullEvent {
    /// The IKE SA is up.
    Established {
        /// The new IKE SA (origin `Initial`) and its child SA unless
        /// `child_error`.
        sa: Box<EstablishedSa>,
        /// The SA from our side, for INFORMATIONAL and CREATE_CHILD_SA.
        session: ClientSession,
        /// The ticket, when the gateway sent N(TICKET_LT_OPAQUE): it
        /// resumes this SA with a [`ResumeInitiator`](crate::client::ResumeInitiator).
        ticket: Option<ClientTicket>,
        /// The gateway answered N(TICKET_ACK): ask again with
        /// [`ClientSession::request_ticket`] (RFC 5723 §4.1).
        ticket_acked: bool,
        /// The gateway answered N(TICKET_NACK).
        ticket_nacked: bool,
        /// The IKE SA is up but the child SA is not (RFC 7296 §1.2): the
        /// responder's error notify, or the one we would send.
        child_error: Option<NotifyType>,
        /// N(AUTH_LIFETIME) (RFC 4478): seconds, from now, until the
        /// gateway wants a full re-authentication; `sa.reauth_deadline`
        /// is set from it.
        auth_lifetime: Option<u32>,
    },
    /// The exchange failed; no IKE SA.
    Failed(FullFailure),
}
