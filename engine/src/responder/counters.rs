//! The responder's counters: one per outcome, each with a stable label for
//! metrics. A worker owns its responder, so these are plain integers; the
//! dataplane reads them between bursts.

use crate::ticket::TicketReject;

macro_rules! counters {
    ($($(#[$m:meta])* $name:ident = $label:literal,)*) => {
        /// Everything the responder counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Counter { $($(#[$m])* $name,)* }

        impl Counter {
            /// Every counter, in declaration order.
            pub const ALL: &'static [Counter] = &[$(Counter::$name,)*];
            /// The metric label.
            pub const fn label(self) -> &'static str {
                match self { $(Counter::$name => $label,)* }
            }
        }
    };
}

counters! {
    /// Datagrams that are neither IKE_SESSION_RESUME with SPIr zero nor
    /// IKE_AUTH with SPIr set (the control plane's; dropped here).
    NotResumption = "not_resumption",
    /// IKE_SESSION_RESUME requests received (any outcome).
    ResumeRequests = "resume_requests",
    /// Requests answered with Nr: a half-open SA was created.
    ResumeAccepted = "resume_accepted",
    /// A retransmitted request answered from the half-open SA.
    ResumeRetransmits = "resume_retransmits",
    /// Same SPIi and peer as a half-open SA but different bytes: dropped.
    ResumeSpiConflict = "resume_spi_conflict",
    /// New requests dropped while the responder takes no new exchanges
    /// (the gateway is draining); retransmissions are still answered.
    ResumeDraining = "resume_draining",
    /// Header checks failed (RFC 5723 §4.3.2): dropped.
    ResumeBadHeader = "resume_bad_header",
    /// The request was malformed and answered with an error notify.
    ResumeMalformed = "resume_malformed",
    /// Requests longer than the responder keeps: dropped.
    ResumeTooLong = "resume_too_long",
    /// The half-open table was full: dropped.
    HalfOpenFull = "half_open_full",
    /// The half-open table was at its memory bound (`half_open_memory`)
    /// with no cached answer left to drop: dropped.
    HalfOpenMemoryFull = "half_open_memory_full",
    /// The source (an IPv4 address or IPv6 /64) had
    /// `half_open_per_source` half-open SAs already: dropped.
    HalfOpenPerSource = "half_open_per_source",
    /// Half-open SAs that expired before their IKE_AUTH.
    HalfOpenExpired = "half_open_expired",
    /// N(COOKIE) answers sent (no state kept).
    CookiesSent = "cookies_sent",
    /// Requests that carried a valid cookie while cookies were required.
    CookiesValid = "cookies_valid",
    /// Requests that carried a wrong or stale cookie while cookies were
    /// required (answered with a fresh cookie).
    CookiesInvalid = "cookies_invalid",
    /// TICKET_NACK because the ticket did not open: one counter per reason.
    NackMalformed = "nack_malformed",
    NackUnknownVersion = "nack_unknown_version",
    NackTooLong = "nack_too_long",
    NackUnknownKey = "nack_unknown_key",
    NackBadTag = "nack_bad_tag",
    NackExpired = "nack_expired",
    NackRevoked = "nack_revoked",
    NackReused = "nack_reused",
    NackNotFound = "nack_not_found",
    /// TICKET_NACK because the cluster could not answer in time (policy
    /// fail-closed).
    NackClusterUnavailable = "nack_cluster_unavailable",
    /// Requests deferred until the cluster says whose the ticket is
    /// (each runs again when the answer is in).
    ResumeDeferred = "resume_deferred",
    /// TICKET_NACK because the ticket had `half_open_per_ticket` half-open
    /// SAs already (a stolen ticket replayed with fresh SPIs).
    NackTicketBusy = "nack_ticket_busy",
    /// TICKET_NACK because the re-authentication deadline has passed.
    NackReauthDue = "nack_reauth_due",
    /// TICKET_NACK at IKE_AUTH: another resumption with the same ticket
    /// claimed it first.
    NackClaimLost = "nack_claim_lost",
    /// IKE_AUTH requests for a half-open SA of this responder.
    AuthRequests = "auth_requests",
    /// IKE_AUTH for an SPIr this responder does not know: dropped.
    AuthUnknownSpi = "auth_unknown_spi",
    /// IKE_AUTH with a bad header (message id, flags, SPIi): dropped.
    AuthBadHeader = "auth_bad_header",
    /// IKE_AUTH whose SK payload failed the integrity check: dropped.
    AuthIntegrityFailed = "auth_integrity_failed",
    /// A retransmitted IKE_AUTH answered from the cache.
    AuthRetransmits = "auth_retransmits",
    /// Cached IKE_AUTH answers dropped to stay within the cache limit.
    AuthCacheEvicted = "auth_cache_evicted",
    /// IKE_AUTH with other bytes after the exchange completed: dropped.
    AuthConflict = "auth_conflict",
    /// Malformed inner payloads: INVALID_SYNTAX.
    AuthMalformed = "auth_malformed",
    /// IDi (or IDr) differs from the ticket's: AUTHENTICATION_FAILED.
    AuthIdMismatch = "auth_id_mismatch",
    /// A CERT payload was sent (RFC 5723 §4.3.3): AUTHENTICATION_FAILED.
    AuthCertPresent = "auth_cert_present",
    /// AUTH method other than Shared Key MIC: AUTHENTICATION_FAILED.
    AuthBadMethod = "auth_bad_method",
    /// AUTH did not verify: AUTHENTICATION_FAILED.
    AuthFailed = "auth_failed",
    /// Resumptions completed with the RFC 7296 §2.15 AUTH octets.
    AuthFormRfc = "auth_form_rfc",
    /// Resumptions completed with libreswan's message-only AUTH.
    AuthFormMessageOnly = "auth_form_message_only",
    /// IKE SAs resumed and handed off.
    Established = "established",
    /// Child SA refused: NO_PROPOSAL_CHOSEN.
    ChildNoProposal = "child_no_proposal_chosen",
    /// Child SA refused: TS_UNACCEPTABLE.
    ChildTsUnacceptable = "child_ts_unacceptable",
    /// Child SA refused: INTERNAL_ADDRESS_FAILURE.
    ChildAddressFailure = "child_internal_address_failure",
    /// Internal addresses assigned (the ticket's own address again).
    AddressReassigned = "address_reassigned",
    /// Internal addresses assigned (a different address).
    AddressNew = "address_new",
    /// New tickets issued (N(TICKET_LT_OPAQUE)).
    TicketsIssued = "tickets_issued",
    /// TICKET_REQUEST answered with TICKET_ACK (ticket too large).
    TicketsAcked = "tickets_acked",
    /// TICKET_REQUEST answered with TICKET_NACK by policy or failure.
    TicketsRefused = "tickets_refused",
}

/// The counter for a ticket refused at IKE_SESSION_RESUME time.
pub const fn nack_counter(reason: TicketReject) -> Counter {
    match reason {
        TicketReject::Malformed => Counter::NackMalformed,
        TicketReject::UnknownVersion => Counter::NackUnknownVersion,
        TicketReject::TooLong => Counter::NackTooLong,
        TicketReject::UnknownKey => Counter::NackUnknownKey,
        TicketReject::BadTag => Counter::NackBadTag,
        TicketReject::Expired => Counter::NackExpired,
        TicketReject::Revoked => Counter::NackRevoked,
        TicketReject::Reused => Counter::NackReused,
        TicketReject::NotFound => Counter::NackNotFound,
        TicketReject::Unavailable => Counter::NackClusterUnavailable,
        // Never answered: counted as a deferral.
        TicketReject::Pending => Counter::ResumeDeferred,
    }
}

/// The responder's counters.
#[derive(Debug, Clone)]
pub struct ResponderCounters {
    values: [u64; Counter::ALL.len()],
    /// Malformed requests by codec reason (`WireError::counter_label`).
    malformed: Vec<(&'static str, u64)>,
}

impl Default for ResponderCounters {
    fn default() -> Self {
        ResponderCounters {
            values: [0; Counter::ALL.len()],
            malformed: Vec::new(),
        }
    }
}

impl ResponderCounters {
    /// One more of `c`.
    #[inline]
    pub fn bump(&mut self, c: Counter) {
        self.values[c as usize] += 1;
    }

    /// The value of `c`.
    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize]
    }

    /// One more malformed message for the codec reason `label`.
    pub fn bump_malformed(&mut self, label: &'static str) {
        self.add_malformed(label, 1);
    }

    fn add_malformed(&mut self, label: &'static str, n: u64) {
        match self.malformed.iter_mut().find(|(l, _)| *l == label) {
            Some((_, m)) => *m += n,
            None => self.malformed.push((label, n)),
        }
    }

    /// Malformed messages by codec reason.
    pub fn malformed(&self) -> &[(&'static str, u64)] {
        &self.malformed
    }

    /// Every counter with its label.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|&c| (c, self.get(c)))
    }

    /// Add `other` into `self` (to total several workers).
    pub fn merge(&mut self, other: &ResponderCounters) {
        for (a, b) in self.values.iter_mut().zip(other.values.iter()) {
            *a += b;
        }
        for &(l, n) in &other.malformed {
            self.add_malformed(l, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_every_reject_has_a_counter() {
        let mut labels: Vec<_> = Counter::ALL.iter().map(|c| c.label()).collect();
        labels.sort_unstable();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n);
        assert!(!TicketReject::ALL.contains(&TicketReject::Pending));
        assert_eq!(nack_counter(TicketReject::Pending), Counter::ResumeDeferred);
        let mut seen: Vec<_> = TicketReject::ALL.iter().map(|&r| nack_counter(r)).collect();
        seen.dedup();
        assert_eq!(seen.len(), TicketReject::ALL.len());
        for r in TicketReject::ALL {
            assert_eq!(
                nack_counter(r).label(),
                format!("nack_{}", r.counter_label())
            );
        }
    }

    #[test]
    fn bump_get_merge() {
        let mut a = ResponderCounters::default();
        a.bump(Counter::Established);
        a.bump_malformed("truncated");
        let mut b = ResponderCounters::default();
        b.bump(Counter::Established);
        b.bump_malformed("truncated");
        b.bump_malformed("trailing_bytes");
        a.merge(&b);
        assert_eq!(a.get(Counter::Established), 2);
        assert_eq!(a.malformed(), &[("truncated", 2), ("trailing_bytes", 1)]);
    }
}
