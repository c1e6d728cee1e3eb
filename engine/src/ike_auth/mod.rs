//! The IKE_AUTH toolkit: what the resumed IKE_AUTH (RFC 5723 §4.3.3, the
//! workers' [`responder`](crate::responder)) and the full IKE_AUTH with a
//! pre-shared key (RFC 7296 §1.2, the control plane's
//! [`slow_path`](crate::slow_path)) share, and the protected message both
//! they and the [`client`](crate::client) build.
//!
//! ```text
//! HDR, SK {IDi, [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr [, N(TICKET_REQUEST)]}  -->
//!                  <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr [, N(TICKET_*)]}
//! ```
//!
//! | module | concept |
//! | --- | --- |
//! | `request` | the request's inner payloads and the ones it must carry ([`AuthRequest::required`]) |
//! | `child` | the first child SA and its internal address ([`plan_child`]), its keys ([`child_keys`]) |
//! | `ticket` | issuing the ticket the request asked for ([`issue_ticket`]) |
//! | `answer` | the answer's payloads ([`AuthAnswer`], [`push_ticket_answer`]), TICKET_ACK when the ticket does not fit ([`fit_ticket`]) |
//! | `protect` | a message in one SK payload ([`protected`], [`protected_notify`]) |

mod answer;
mod child;
mod protect;
mod request;
mod ticket;

pub(crate) use answer::{AuthAnswer, TicketAnswer, auth_lifetime, fit_ticket, push_ticket_answer};
pub(crate) use child::{
    ChildOutcome, ChildPlan, Lease, LeaseOwner, SpiSpace, child_keys, fresh_child_spi,
    narrow_selectors, plan_child,
};
pub(crate) use protect::{protected, protected_notify};
pub(crate) use request::{AuthRequest, Required, read_inner};
pub(crate) use ticket::issue_ticket;

use crate::wire::NotifyType;

/// Why an IKE_AUTH ends without an SA: what a step that refuses returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nothing is sent; the half-open SA stays for a genuine request.
    Drop,
    /// `SK {N(notify)}` is sent and the exchange ends.
    Notify(NotifyType),
}
