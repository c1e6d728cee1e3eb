//! Types every ticket module shares: time, ticket ids, rejection reasons.

use core::fmt;

use crate::wire::NotifyType;

/// Seconds since the Unix epoch. The engine never reads a clock: callers
/// pass `now` in.
pub type UnixSeconds = u64;

/// Length of a ticket id.
pub const TICKET_ID_LEN: usize = 16;

/// A random 128-bit ticket id, used for single use and revocation. Not
/// secret (it is the ticket's name, not a key), but it only ever appears
/// inside the ticket's ciphertext or the gateway's own state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub [u8; TICKET_ID_LEN]);

impl TicketId {
    pub fn as_bytes(&self) -> &[u8; TICKET_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Why a ticket was not accepted. Every reason answers TICKET_NACK
/// (RFC 5723 §4.3.2: the client then falls back to a full exchange) and
/// has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TicketReject {
    /// Too short, or fields that cannot be decoded.
    Malformed,
    /// A format version this gateway does not speak.
    UnknownVersion,
    /// The ciphertext is longer than the longest ticket we ever issue
    /// (refused before decryption).
    TooLong,
    /// No key with this id is inside its accept window.
    UnknownKey,
    /// The AEAD tag (by value) or the MAC (by reference) does not verify.
    BadTag,
    /// Past the ticket's absolute expiry.
    Expired,
    /// Revoked by id or by identity (RFC 5723 §9.8).
    Revoked,
    /// Already used for a successful resumption (§4.3.1).
    Reused,
    /// A reference ticket whose state is not (or no longer) in the store.
    NotFound,
    /// The cluster (Redis) could not say in time whether another gateway
    /// used the ticket, and the policy is fail-closed.
    Unavailable,
    /// Not a refusal: the cluster's answer is awaited. The responder
    /// defers the request (no answer, no state) and runs it again when
    /// the answer is in (`ticket::cluster`). Never answered, never in
    /// [`TicketReject::ALL`].
    Pending,
}

impl TicketReject {
    /// Every reason, for metrics that pre-register their counters.
    pub const ALL: [TicketReject; 10] = [
        TicketReject::Malformed,
        TicketReject::UnknownVersion,
        TicketReject::TooLong,
        TicketReject::UnknownKey,
        TicketReject::BadTag,
        TicketReject::Expired,
        TicketReject::Revoked,
        TicketReject::Reused,
        TicketReject::NotFound,
        TicketReject::Unavailable,
    ];

    /// The notify the responder answers with.
    pub const fn notify(self) -> NotifyType {
        NotifyType::TICKET_NACK
    }

    /// A stable, low-cardinality counter label.
    pub const fn counter_label(self) -> &'static str {
        match self {
            TicketReject::Malformed => "malformed",
            TicketReject::UnknownVersion => "unknown_version",
            TicketReject::TooLong => "too_long",
            TicketReject::UnknownKey => "unknown_key",
            TicketReject::BadTag => "bad_tag",
            TicketReject::Expired => "expired",
            TicketReject::Revoked => "revoked",
            TicketReject::Reused => "reused",
            TicketReject::NotFound => "not_found",
            TicketReject::Unavailable => "cluster_unavailable",
            TicketReject::Pending => "pending",
        }
    }
}

impl fmt::Display for TicketReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TicketReject::Malformed => "malformed ticket",
            TicketReject::UnknownVersion => "unknown ticket format version",
            TicketReject::TooLong => "ticket longer than any this gateway issues",
            TicketReject::UnknownKey => "ticket key unknown or no longer accepted",
            TicketReject::BadTag => "ticket authentication failed",
            TicketReject::Expired => "ticket expired",
            TicketReject::Revoked => "ticket revoked",
            TicketReject::Reused => "ticket already used",
            TicketReject::NotFound => "ticket state not found",
            TicketReject::Unavailable => "ticket cluster unavailable",
            TicketReject::Pending => "ticket awaiting the cluster's answer",
        };
        f.write_str(s)
    }
}

impl std::error::Error for TicketReject {}
