//! Rebound engine: the sans-IO core of an IKEv2 session-resumption
//! (RFC 5723) offload engine.
//!
//! No sockets, threads, clocks or globals live here: time comes in as `now`,
//! randomness from an injected generator, packets as byte slices.
//!
//! - [`wire`]: the IKEv2 codec (RFC 7296 §3), zero-copy and panic-free on
//!   hostile input.
//! - [`crypto`]: prf, prf+, SKEYSEED and key splitting (RFC 7296 §2.13–2.18,
//!   RFC 5723 §5.1), SK payload protection (RFC 7296 §3.14, RFC 5282), the
//!   NAT-D hash (§2.23), the Diffie-Hellman groups (§3.4, RFC 3526, RFC 5903,
//!   RFC 8031), the pre-shared-key AUTH (§2.15) and the resumed AUTH
//!   (RFC 5723 §4.3.3).
//! - [`ticket`]: ticket formats, key ring, single-use guard, revocation.
//! - [`child`]: ESP proposal choice, traffic-selector narrowing, the
//!   internal-address pool.
//! - [`responder`]: IKE_SESSION_RESUME and the resumed IKE_AUTH (the
//!   workers' fast path).
//! - [`slow_path`]: the server's full IKE_SA_INIT + IKE_AUTH with pre-shared
//!   keys that issues tickets, and INFORMATIONAL / CREATE_CHILD_SA on
//!   established SAs (the control plane's slow path).
//! - [`client`]: the client (initiator) side of both: resumption and the full
//!   exchange.
//! - `ike_auth` (crate-private): the IKE_AUTH toolkit the responder, the slow
//!   path and the client share (protected answers, the answer's payloads,
//!   ticket issue, child SA negotiation).
//! - [`handoff`]: [`handoff::EstablishedSa`], what the control plane gets.
//! - [`keylog`]: the SSLKEYLOGFILE-like key log.
#![forbid(unsafe_code)]

pub mod child;
pub mod client;
pub mod cookie;
pub mod crypto;
pub mod handoff;
mod ike_auth;
pub mod keylog;
pub mod rand;
pub mod responder;
pub mod slow_path;
pub mod ticket;
pub mod time;
pub mod wire;
