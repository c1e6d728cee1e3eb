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
//! | `request` | the request's inner payloads (`AuthRequest`) |
//! | `child` | the first child SA: CP address family, ESP choice, narrowed selectors ([`negotiate_child`]) |
//! | `ticket` | issuing the ticket the request asked for ([`issue_ticket`]) |
//! | `answer` | the answer's payloads ([`AuthAnswer`], [`push_ticket_answer`]) |
//! | `protect` | a message in one SK payload ([`protected`], [`protected_notify`]) |

mod answer;
mod child;
mod protect;
mod request;
mod ticket;

pub(crate) use answer::{AuthAnswer, TicketAnswer, push_ticket_answer};
pub(crate) use child::{ChildOutcome, negotiate_child, requested_family};
pub(crate) use protect::{protected, protected_notify};
pub(crate) use request::read_inner;
pub(crate) use ticket::issue_ticket;
