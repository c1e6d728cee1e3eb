//! What the initiator is told (configuration, the ticket) and what it
//! reports (events, fallback reasons, counters).

use core::fmt;

use crate::child::EspProposal;
use crate::crypto::AuthForm;
use crate::handoff::{EstablishedSa, TsRange};
use crate::ticket::state::TicketState;
use crate::ticket::{TicketId, UnixSeconds};
use crate::time::Timestamp;
use crate::wire::NotifyType;

use super::auth::ChildOffer;

/// When and how often a request is retransmitted (RFC 7296 §2.1: the
/// initiator retransmits until it gets a response or deems the SA failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetransmitPolicy {
    /// The wait after the first transmission, in milliseconds; it doubles
    /// after every retransmission.
    pub initial_ms: u64,
    /// The longest wait between two transmissions, in milliseconds.
    pub max_ms: u64,
    /// Transmissions of one request in total (the first one included);
    /// after the last one's wait the exchange fails with
    /// [`Fallback::Timeout`]. 0 counts as 1.
    pub max_sends: u32,
}

impl Default for RetransmitPolicy {
    /// 500 ms doubling up to 8 s, six transmissions.
    fn default() -> Self {
        RetransmitPolicy {
            initial_ms: 500,
            max_ms: 8_000,
            max_sends: 6,
        }
    }
}

/// How a client resumes: what it offers for the child SA and what it asks
/// of the gateway. Shared (`Arc`) by every initiator a storm generator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorConfig {
    /// The ESP proposals of SAi2, numbered 1.. in this order.
    pub esp: Vec<EspProposal>,
    /// The offered TSi (our side of the tunnel).
    pub ts_i: Vec<TsRange>,
    /// The offered TSr (the gateway's side).
    pub ts_r: Vec<TsRange>,
    /// Send CP(CFG_REQUEST) for an internal address: the ticket's one when
    /// it has one (RFC 5723 Note 5), else any.
    pub request_address: bool,
    /// Send N(TICKET_REQUEST) in IKE_AUTH (RFC 5723 §4.1) to get the next
    /// ticket.
    pub request_ticket: bool,
    /// Send N(INITIAL_CONTACT) in IKE_AUTH (RFC 7296 §2.4): this client
    /// keeps no other IKE SA with the gateway, whose other SAs of our
    /// identity are then deleted.
    pub initial_contact: bool,
    /// Include IDr (the ticket's) in IKE_AUTH.
    pub send_idr: bool,
    /// Which octets the AUTH payloads cover.
    pub auth_form: AuthForm,
    /// Retransmission of both requests.
    pub retransmit: RetransmitPolicy,
}

/// The traffic selector "anything over IPv4": 0.0.0.0 to 255.255.255.255,
/// all protocols and ports.
pub(super) const ANY_IPV4: TsRange = TsRange {
    ip_proto: 0,
    start_port: 0,
    end_port: u16::MAX,
    start: core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
    end: core::net::IpAddr::V4(core::net::Ipv4Addr::BROADCAST),
};

impl InitiatorConfig {
    /// The child SA offer and requests of this configuration.
    pub(super) fn offer(&self) -> ChildOffer<'_> {
        ChildOffer {
            esp: &self.esp,
            ts_i: &self.ts_i,
            ts_r: &self.ts_r,
            request_address: self.request_address,
            request_ticket: self.request_ticket,
            initial_contact: self.initial_contact,
        }
    }
}

/// Refuses a child SA offer no request can be built from.
pub(super) fn check_offer(o: &ChildOffer<'_>) -> Result<(), &'static str> {
    let count_ok = |n: usize| (1..=usize::from(u8::MAX)).contains(&n);
    if !count_ok(o.esp.len()) {
        return Err("1 to 255 ESP proposals are needed");
    }
    if !count_ok(o.ts_i.len()) || !count_ok(o.ts_r.len()) {
        return Err("1 to 255 TSi and TSr selectors are needed");
    }
    Ok(())
}

impl Default for InitiatorConfig {
    /// The default ESP proposals; TSi and TSr "anything" (0.0.0.0 to
    /// 255.255.255.255, all protocols and ports); an internal address and a
    /// new ticket requested; IDr sent; the RFC AUTH form.
    fn default() -> Self {
        InitiatorConfig {
            esp: EspProposal::DEFAULT.to_vec(),
            ts_i: vec![ANY_IPV4],
            ts_r: vec![ANY_IPV4],
            request_address: true,
            request_ticket: true,
            initial_contact: false,
            send_idr: true,
            auth_form: AuthForm::Rfc,
            retransmit: RetransmitPolicy::default(),
        }
    }
}

/// What a client keeps with its ticket (RFC 5723 §4.2): the opaque ticket
/// as the gateway sent it, the state "from the ticket" the client needs to
/// derive the resumed SA's keys (ids, suite, SK_d, the old SPIs, the
/// internal address) and when the ticket expires.
///
/// A client does not learn the gateway's ticket id: `state.ticket_id` of a
/// ticket the initiator received is all zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientTicket {
    /// The ticket, opaque to the client (N(TICKET_OPAQUE) data).
    pub opaque: Vec<u8>,
    /// The state of the SA the ticket resumes. SK_d is wiped on drop.
    pub state: TicketState,
    /// Absolute expiry, from the TICKET_LT_OPAQUE lifetime (RFC 5723 §7).
    pub expires_at: UnixSeconds,
}

impl ClientTicket {
    /// A ticket received at `now` in N(TICKET_LT_OPAQUE) with `lifetime`
    /// seconds (RFC 5723 §7) for the SA `state` describes (identities,
    /// suite, SK_d, SPIs, internal address). Its id is unknown to the
    /// client (zeros); a re-authentication deadline of 0 (unknown) becomes
    /// the ticket's expiry.
    pub(super) fn received(
        opaque: Vec<u8>,
        lifetime: u32,
        now: Timestamp,
        mut state: TicketState,
    ) -> Self {
        let expires_at = now.secs().saturating_add(u64::from(lifetime));
        state.ticket_id = TicketId([0; 16]);
        state.issued_at = now.secs();
        state.expiry = expires_at;
        if state.reauth_deadline == 0 {
            state.reauth_deadline = expires_at;
        }
        ClientTicket {
            opaque,
            state,
            expires_at,
        }
    }
}

impl fmt::Debug for ClientTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTicket")
            .field("opaque_len", &self.opaque.len())
            .field("state", &self.state)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a resumption failed: the client must fall back to a full IKEv2
/// exchange (RFC 5723 §4.3.2), or retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fallback {
    /// The gateway answered N(TICKET_NACK): unprotected to the
    /// IKE_SESSION_RESUME request, or protected in IKE_AUTH when another
    /// resumption with the same ticket won.
    TicketRefused,
    /// The ticket's lifetime is over; nothing was sent.
    TicketExpired,
    /// The responder's AUTH or IDr did not verify, or it answered
    /// N(AUTHENTICATION_FAILED).
    AuthenticationFailed,
    /// No response after the last retransmission.
    Timeout,
    /// The responder answered the IKE_SESSION_RESUME request with this
    /// error notify (other than TICKET_NACK).
    ErrorNotify(NotifyType),
    /// The responder refused the exchange with this child-SA error notify
    /// and no AUTH: no IKE SA was created.
    ChildRefused(NotifyType),
    /// The responder broke the protocol (an authenticated but malformed
    /// IKE_AUTH response, or more COOKIE rounds than allowed).
    ProtocolError(&'static str),
    /// The ticket or the configuration cannot make a request (no ESP
    /// proposal, no traffic selector, a ticket too long for a notify).
    Unusable(&'static str),
}

impl Fallback {
    /// A stable, low-cardinality counter label.
    pub const fn counter_label(&self) -> &'static str {
        match self {
            Fallback::TicketRefused => "ticket_refused",
            Fallback::TicketExpired => "ticket_expired",
            Fallback::AuthenticationFailed => "authentication_failed",
            Fallback::Timeout => "timeout",
            Fallback::ErrorNotify(_) => "error_notify",
            Fallback::ChildRefused(_) => "child_refused",
            Fallback::ProtocolError(_) => "protocol_error",
            Fallback::Unusable(_) => "unusable",
        }
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::TicketRefused => f.write_str("the gateway refused the ticket"),
            Fallback::TicketExpired => f.write_str("the ticket has expired"),
            Fallback::AuthenticationFailed => f.write_str("the gateway did not authenticate"),
            Fallback::Timeout => f.write_str("no response from the gateway"),
            Fallback::ErrorNotify(n) => write!(f, "the gateway answered {n}"),
            Fallback::ChildRefused(n) => write!(f, "the gateway refused the child SA: {n}"),
            Fallback::ProtocolError(what) => write!(f, "protocol error: {what}"),
            Fallback::Unusable(what) => write!(f, "cannot resume: {what}"),
        }
    }
}

impl std::error::Error for Fallback {}

/// What the initiator reports, once, at the end of the exchange.
// One event per exchange, moved once: the inline ticket costs nothing that
// matters and keeps `new_ticket` a plain `Option<ClientTicket>`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum InitiatorEvent {
    /// The IKE SA is resumed.
    Established {
        /// The new IKE SA (and its child SA unless `child_error`).
        sa: Box<EstablishedSa>,
        /// The next ticket, when the gateway sent N(TICKET_LT_OPAQUE).
        new_ticket: Option<ClientTicket>,
        /// The gateway answered N(TICKET_ACK) (RFC 5723 §4.1).
        ticket_acked: bool,
        /// The IKE SA is up but the child SA is not (RFC 7296 §1.2):
        /// the responder's error notify (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE,
        /// INTERNAL_ADDRESS_FAILURE ...), or the one this initiator would
        /// send because the responder's SAr2 or TSi/TSr was not acceptable
        /// (the caller should then delete that child SA with an
        /// INFORMATIONAL exchange). `sa.child` is `None` exactly when this
        /// is `Some`.
        child_error: Option<NotifyType>,
        /// N(AUTH_LIFETIME) (RFC 4478): seconds, from now, until the
        /// gateway wants a full re-authentication.
        auth_lifetime: Option<u32>,
    },
    /// The resumption failed; fall back to a full exchange.
    Failed(Fallback),
}

/// Counters of one initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InitiatorStats {
    /// Datagrams handed out by `poll_transmit`, retransmissions included.
    pub sent: u64,
    /// Of those, retransmissions (byte-identical resends on timeout).
    pub retransmissions: u64,
    /// N(COOKIE) responses acted upon.
    pub cookies_received: u64,
    /// Received datagrams ignored: garbled, unrelated (another SPI, a wrong
    /// message id or exchange), unauthentic, or late duplicates.
    pub ignored: u64,
}
