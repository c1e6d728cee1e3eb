//! The slow path's counters, one per outcome, each with a stable metric
//! label. The control plane owns the responder, so these are plain
//! integers.

macro_rules! init_counters {
    ($($(#[$m:meta])* $name:ident = $label:literal,)*) => {
        /// Everything the slow path counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum SlowPathCounter { $($(#[$m])* $name,)* }

        impl SlowPathCounter {
            /// Every counter, in declaration order.
            pub const ALL: &'static [SlowPathCounter] = &[$(SlowPathCounter::$name,)*];
            /// The metric label.
            pub const fn label(self) -> &'static str {
                match self { $(SlowPathCounter::$name => $label,)* }
            }
        }
    };
}

init_counters! {
    /// The IKE header did not parse, or did not fit the exchange.
    BadHeader = "bad_header",
    /// A response: the slow path sends no requests.
    UnexpectedResponse = "unexpected_response",
    /// IKE_SA_INIT requests received.
    InitRequests = "init_requests",
    /// IKE_SA_INIT answered with SAr1, KEr, Nr: a half-open SA.
    InitAccepted = "init_accepted",
    /// A retransmitted IKE_SA_INIT answered again.
    InitRetransmits = "init_retransmits",
    /// Same SPIi and peer as a half-open SA, different bytes: dropped.
    InitConflict = "init_conflict",
    /// IKE_SA_INIT payloads malformed or missing: INVALID_SYNTAX.
    InitMalformed = "init_malformed",
    /// No acceptable IKE proposal: NO_PROPOSAL_CHOSEN.
    InitNoProposal = "init_no_proposal",
    /// KE of another group: INVALID_KE_PAYLOAD with ours.
    InitInvalidKe = "init_invalid_ke",
    /// The peer's public value failed validation: INVALID_SYNTAX.
    InitBadPublicValue = "init_bad_public_value",
    /// N(COOKIE) sent: too many half-open SAs.
    CookiesSent = "cookies_sent",
    /// A request with a wrong or stale cookie: a new one is sent.
    CookiesInvalid = "cookies_invalid",
    /// New exchanges dropped while draining, or beyond the half-open limit.
    InitRefused = "init_refused",
    /// Half-open SAs that timed out waiting for IKE_AUTH.
    HalfOpenExpired = "half_open_expired",
    /// Protected requests for an SPI not known here.
    UnknownSpi = "unknown_spi",
    /// A message id outside the window, or a different message reusing the
    /// last one: dropped (RFC 7296 §2.2).
    BadMessageId = "bad_message_id",
    /// Retransmitted requests answered from the cache.
    Retransmits = "retransmits",
    /// The SK payload failed its integrity check: dropped.
    IntegrityFailed = "integrity_failed",
    /// Decrypted payloads malformed: INVALID_SYNTAX.
    Malformed = "malformed",
    /// IKE_AUTH requests received.
    AuthRequests = "auth_requests",
    /// No PSK for IDi: AUTHENTICATION_FAILED.
    AuthUnknownIdentity = "auth_unknown_identity",
    /// A wrong AUTH value (wrong PSK): AUTHENTICATION_FAILED.
    AuthFailed = "auth_failed",
    /// An auth method other than shared key, or an IDr not ours:
    /// AUTHENTICATION_FAILED.
    AuthRefused = "auth_refused",
    /// Full exchanges completed.
    Established = "established",
    /// Child SAs refused (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, address).
    ChildRefused = "child_refused",
    /// Tickets issued (IKE_AUTH or INFORMATIONAL).
    TicketsIssued = "tickets_issued",
    /// TICKET_ACK: the ticket did not fit the IKE_AUTH answer.
    TicketsAcked = "tickets_acked",
    /// TICKET_NACK by policy or for want of an issuing key.
    TicketsRefused = "tickets_refused",
    /// Tickets revoked: their SA was deleted or rekeyed, or a new ticket
    /// replaced them.
    TicketsRevoked = "tickets_revoked",
    /// A ticket to revoke that the single-use guard could not take (its
    /// expiry is beyond the guard's memory): it may still resume unless a
    /// revocation list holds it. Should stay 0.
    RevokeFailed = "revoke_failed",
    /// A revocation the revocation list could not hold (it is full): the
    /// single-use guard still refuses the ticket, counted as `reused`.
    RevocationListFull = "revocation_list_full",
    /// IKE SAs deleted by their peer whose ticket was kept
    /// (`revoke_on_delete = false`): it may still resume once.
    TicketsKeptOnDelete = "tickets_kept_on_delete",
    /// Empty INFORMATIONAL (liveness) answered.
    Liveness = "liveness",
    /// IKE SAs deleted by the peer.
    Deleted = "deleted",
    /// Child SAs deleted by the peer.
    ChildDeleted = "child_deleted",
    /// IKE SAs rekeyed with CREATE_CHILD_SA.
    Rekeyed = "rekeyed",
    /// CREATE_CHILD_SA for a child SA beyond `max_children`:
    /// NO_ADDITIONAL_SAS.
    NoAdditionalSas = "no_additional_sas",
    /// Child SAs made by CREATE_CHILD_SA (RFC 7296 §1.3.1).
    ChildCreated = "child_created",
    /// Child SAs rekeyed by CREATE_CHILD_SA with N(REKEY_SA) (§1.3.3).
    ChildRekeyed = "child_rekeyed",
    /// No acceptable ESP proposal in CREATE_CHILD_SA: NO_PROPOSAL_CHOSEN.
    ChildNoProposal = "child_no_proposal_chosen",
    /// No acceptable traffic selectors in CREATE_CHILD_SA: TS_UNACCEPTABLE.
    ChildTsUnacceptable = "child_ts_unacceptable",
    /// A KE of a group the chosen ESP proposal does not have:
    /// INVALID_KE_PAYLOAD with ours.
    ChildInvalidKe = "child_invalid_ke",
    /// A CREATE_CHILD_SA for a child SA lacking SA, Ni, TSi or TSr, or
    /// with a bad nonce or REKEY_SA SPI: INVALID_SYNTAX.
    ChildInvalidSyntax = "child_invalid_syntax",
    /// The peer's KE public value failed validation: INVALID_SYNTAX.
    ChildBadPublicValue = "child_bad_public_value",
    /// N(REKEY_SA) naming no child SA of the IKE SA: CHILD_SA_NOT_FOUND.
    ChildNotFound = "child_not_found",
    /// N(REKEY_SA) naming a child SA rekeyed already: CHILD_SA_NOT_FOUND.
    ChildAlreadyRekeyed = "child_already_rekeyed",
    /// A CREATE_CHILD_SA whose SA offer carries a peer SPI one of the IKE
    /// SA's child SAs has already: INVALID_SYNTAX.
    ChildSpiReused = "child_spi_reused",
    /// Replaced child SAs the peer never deleted, forgotten when more
    /// than `max_children` waited (handed off as deleted).
    ChildEvicted = "child_evicted",
    /// A child SA of an adopted SA whose inbound SPI another child SA here
    /// has (a worker drew it: see docs/ARCHITECTURE.md). Should stay 0.
    ChildSpiCollision = "child_spi_collision",
    /// A CREATE_CHILD_SA or TICKET_REQUEST on an IKE SA replaced by a
    /// rekey (RFC 7296 §2.18, §2.25): TEMPORARY_FAILURE.
    ReplacedSaRefused = "replaced_sa_refused",
    /// A retransmitted DELETE of an SA gone since, answered again.
    DeletedRetransmits = "deleted_retransmits",
    /// IKE SAs deleted because a new SA of their identity carried
    /// INITIAL_CONTACT (RFC 7296 §2.4).
    InitialContactDeleted = "initial_contact_deleted",
    /// Established SAs dropped at their re-authentication deadline.
    ReauthExpired = "reauth_expired",
}

/// The counters' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowPathCounters {
    values: [u64; SlowPathCounter::ALL.len()],
}

impl Default for SlowPathCounters {
    fn default() -> Self {
        SlowPathCounters {
            values: [0; SlowPathCounter::ALL.len()],
        }
    }
}

impl SlowPathCounters {
    #[inline]
    pub fn bump(&mut self, c: SlowPathCounter) {
        self.values[c as usize] += 1;
    }

    pub fn get(&self, c: SlowPathCounter) -> u64 {
        self.values[c as usize]
    }

    /// Every counter with its value.
    pub fn iter(&self) -> impl Iterator<Item = (SlowPathCounter, u64)> + '_ {
        SlowPathCounter::ALL.iter().map(|&c| (c, self.get(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = SlowPathCounter::ALL.iter().map(|c| c.label()).collect();
        labels.sort_unstable();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n);
    }
}
