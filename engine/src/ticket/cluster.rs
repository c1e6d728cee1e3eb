//! A worker's view of the cluster's single use and stub bank: the
//! completion-shaped side of a guard that lives across gateways (Redis).
//!
//! The engine never waits for the network. When a ticket opens and the
//! cluster has not yet said whether this gateway may resume it, the check
//! answers [`TicketReject::Pending`]: the responder *defers* the request
//! (no answer, no state kept, [`Handled::deferred`]) and the ledger notes a
//! [`Want`]. The worker takes the burst's wants ([`ClusterLedger::take_wants`]),
//! sends them to the cluster as one pipeline, parks the deferred datagrams,
//! carries on with other bursts, and when the answers come back records
//! them ([`ClusterLedger::resolve`]) and runs the parked datagrams through
//! the responder again; the check then answers from the ledger.
//!
//! What the cluster decides is a *reservation*: the first gateway whose
//! claim reaches the cluster owns the ticket cluster-wide until the
//! ticket's expiry (a second request on the same gateway is "mine" again,
//! and the local [`SingleUseGuard`](super::guard::SingleUseGuard) still
//! lets only one IKE_AUTH succeed there). RFC 5723 §4.3.1 counts a ticket
//! as used "only when an IKE SA has been established successfully with
//! it"; a gateway cannot know that without a second round trip at
//! IKE_AUTH, so across gateways a ticket belongs to the first gateway it
//! reached (docs/TICKETS.md, "A cluster").
//!
//! [`Handled::deferred`]: crate::responder::Handled::deferred

use std::cell::RefCell;
use std::collections::HashMap;

use super::state::TicketState;
use super::types::{TicketId, TicketReject, UnixSeconds};

/// What a worker asks the cluster for one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub id: TicketId,
    /// The ticket's absolute expiry: how long the cluster remembers the
    /// claim.
    pub expiry: UnixSeconds,
    /// A by-reference ticket whose state this gateway does not hold: the
    /// claim also takes the stub from the bank.
    pub stub: bool,
}

/// The cluster's answer for one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This gateway holds the claim: resume (the local guard still
    /// decides between two requests of this gateway).
    Mine,
    /// Another gateway claimed it first: TICKET_NACK (`reused`).
    Taken,
    /// The cluster could not answer in time and the policy is
    /// fail-closed: TICKET_NACK (`cluster_unavailable`).
    Unavailable,
}

enum Entry {
    /// Asked, not answered yet.
    InFlight,
    Done(Outcome, Option<Box<TicketState>>),
}

#[derive(Default)]
struct Inner {
    wants: Vec<Want>,
    entries: HashMap<TicketId, Entry>,
}

/// One worker's ledger (see the module documentation). Single-threaded:
/// the responder that owns it checks through a shared reference while a
/// burst's tickets open, hence the `RefCell`.
#[derive(Default)]
pub struct ClusterLedger {
    inner: RefCell<Inner>,
}

impl core::fmt::Debug for ClusterLedger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let i = self.inner.borrow();
        write!(
            f,
            "ClusterLedger({} wanted, {} known)",
            i.wants.len(),
            i.entries.len()
        )
    }
}

impl ClusterLedger {
    pub fn new() -> Self {
        ClusterLedger::default()
    }

    /// The cluster's word on `id`: `Ok` when this gateway owns it,
    /// `Reused` when another does, `Unavailable` when the cluster could
    /// not say, `Pending` (the request waits) when it was never asked or
    /// has not answered. Asking is noted once per ticket.
    pub fn check(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        stub: bool,
    ) -> Result<(), TicketReject> {
        let mut i = self.inner.borrow_mut();
        match i.entries.get(id) {
            Some(Entry::Done(Outcome::Mine, _)) => Ok(()),
            Some(Entry::Done(Outcome::Taken, _)) => Err(TicketReject::Reused),
            Some(Entry::Done(Outcome::Unavailable, _)) => Err(TicketReject::Unavailable),
            Some(Entry::InFlight) => Err(TicketReject::Pending),
            None => {
                i.entries.insert(*id, Entry::InFlight);
                i.wants.push(Want {
                    id: *id,
                    expiry,
                    stub,
                });
                Err(TicketReject::Pending)
            }
        }
    }

    /// The stub the cluster handed over with the claim of `id`, if any.
    pub fn stub(&self, id: &TicketId) -> Option<TicketState> {
        match self.inner.borrow().entries.get(id) {
            Some(Entry::Done(Outcome::Mine, Some(s))) => Some((**s).clone()),
            _ => None,
        }
    }

    /// The wants noted since the last call, appended to `out`.
    pub fn take_wants(&mut self, out: &mut Vec<Want>) {
        out.append(&mut self.inner.get_mut().wants);
    }

    /// Withdraw the question about `id` if it has not been taken yet (the
    /// request that asked was refused before it could wait: no claim is
    /// made for it). Whether it was withdrawn.
    pub fn withdraw(&self, id: &TicketId) -> bool {
        let mut i = self.inner.borrow_mut();
        let Some(at) = i.wants.iter().position(|w| w.id == *id) else {
            return false;
        };
        i.wants.remove(at);
        i.entries.remove(id);
        true
    }

    /// Whether wants wait to be taken.
    pub fn has_wants(&self) -> bool {
        !self.inner.borrow().wants.is_empty()
    }

    /// Record the cluster's answer for `id` (and the by-reference state
    /// it handed over).
    pub fn resolve(&mut self, id: TicketId, outcome: Outcome, stub: Option<TicketState>) {
        self.inner
            .get_mut()
            .entries
            .insert(id, Entry::Done(outcome, stub.map(Box::new)));
    }

    /// Forget `id`: its deferred requests have run again (a later request
    /// with the ticket asks the cluster anew; the half-open table answers
    /// retransmissions of the ones that ran).
    pub fn forget(&mut self, id: &TicketId) {
        self.inner.get_mut().entries.remove(id);
    }

    /// Tickets asked about or answered and not yet forgotten.
    pub fn len(&self) -> usize {
        self.inner.borrow().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_once_then_answer() {
        let mut l = ClusterLedger::new();
        let a = TicketId([1; 16]);
        assert_eq!(l.check(&a, 10, false), Err(TicketReject::Pending));
        assert_eq!(l.check(&a, 10, false), Err(TicketReject::Pending));
        let mut w = Vec::new();
        l.take_wants(&mut w);
        assert_eq!(
            w,
            [Want {
                id: a,
                expiry: 10,
                stub: false
            }]
        );
        assert!(!l.has_wants());
        l.resolve(a, Outcome::Mine, None);
        assert_eq!(l.check(&a, 10, false), Ok(()));
        assert!(l.stub(&a).is_none());
        let b = TicketId([2; 16]);
        let c = TicketId([3; 16]);
        l.resolve(b, Outcome::Taken, None);
        l.resolve(c, Outcome::Unavailable, None);
        assert_eq!(l.check(&b, 10, false), Err(TicketReject::Reused));
        assert_eq!(l.check(&c, 10, false), Err(TicketReject::Unavailable));
        l.forget(&a);
        assert_eq!(l.check(&a, 10, true), Err(TicketReject::Pending));
        w.clear();
        l.take_wants(&mut w);
        assert!(w[0].stub);
        // Withdrawn before it is taken: no question, and the next check
        // asks again; once taken it stays asked.
        let d = TicketId([4; 16]);
        assert_eq!(l.check(&d, 10, false), Err(TicketReject::Pending));
        assert!(l.withdraw(&d));
        assert!(!l.has_wants());
        assert_eq!(l.check(&d, 10, false), Err(TicketReject::Pending));
        w.clear();
        l.take_wants(&mut w);
        assert!(!l.withdraw(&d));
        assert_eq!(l.check(&d, 10, false), Err(TicketReject::Pending));
        assert!(!l.has_wants());
    }
}
