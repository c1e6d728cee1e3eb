//! Issuing the ticket an IKE_AUTH asked for with N(TICKET_REQUEST)
//! (RFC 5723 §4.1).

use super::answer::TicketAnswer;
use crate::rand::RandomSource;
use crate::responder::TicketIssuePolicy;
use crate::ticket::format::{TicketKind, seal};
use crate::ticket::keyring::TicketKeyRing;
use crate::ticket::state::TicketState;
use crate::ticket::store::TicketStore;
use crate::time::Timestamp;

/// RFC 5723 §4.1 with §6.2: a ticket for `state`, living no longer than
/// the SA, its re-authentication deadline, the issuing key, or the policy
/// maximum. The 4-byte lifetime and the ticket are written to `buf`.
pub(crate) fn issue_ticket(
    policy: TicketIssuePolicy,
    ring: &TicketKeyRing,
    store: Option<&dyn TicketStore>,
    rng: &mut dyn RandomSource,
    now: Timestamp,
    state: &mut TicketState,
    buf: &mut [u8],
) -> TicketAnswer {
    let Some(kind) = policy.kind else {
        return TicketAnswer::Nack;
    };
    let now_s = now.secs();
    let Some(key) = ring.issuing_key(now_s) else {
        return TicketAnswer::Nack;
    };
    let lifetime = policy
        .ike_lifetime_secs
        .min(policy.max_lifetime_secs)
        .min(state.reauth_deadline.saturating_sub(now_s))
        .min(key.accept_until().saturating_sub(now_s))
        .min(u64::from(u32::MAX));
    if lifetime == 0 {
        return TicketAnswer::Nack;
    }
    state.expiry = now_s + lifetime;
    let store = if kind == TicketKind::ByReference {
        store
    } else {
        None
    };
    if buf.len() < 4 {
        return TicketAnswer::Nack;
    }
    let (lt, body) = buf.split_at_mut(4);
    match seal(kind, state, ring, store, rng, now_s, body) {
        Ok(len) => {
            // Bounded by u32::MAX above.
            let lifetime = u32::try_from(lifetime).unwrap_or(u32::MAX);
            lt.copy_from_slice(&lifetime.to_be_bytes());
            TicketAnswer::Issued { len }
        }
        Err(_) => TicketAnswer::Nack,
    }
}
