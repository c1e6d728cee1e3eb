//! Resumption tickets (RFC 5723 §5, §6, §9, Appendix A): the state a ticket
//! carries, the by-value and by-reference formats, the rotating key ring,
//! the single-use guard and revocation.

pub mod cluster;
pub mod format;
pub mod guard;
pub mod keyfile;
pub mod keyring;
pub mod revocation;
pub mod state;
pub mod store;
pub mod types;

pub use types::{TICKET_ID_LEN, TicketId, TicketReject, UnixSeconds};
