//! Rebound engine: the sans-IO core of an IKEv2 session-resumption
//! (RFC 5723) offload engine.
//!
//! No sockets, threads, clocks or globals live here: time comes in as `now`,
//! randomness from an injected generator, packets as byte slices.
//!
//! - [`wire`]: the IKEv2 codec (RFC 7296 §3), zero-copy and panic-free on
//!   hostile input.
//! - [`crypto`]: prf, prf+, SKEYSEED and key splitting (RFC 7296 §2.13–2.18,
//!   RFC 5723 §5.1), SK payload protection (RFC 7296 §3.14, RFC 5282) and the
//!   NAT-D hash (§2.23).
#![forbid(unsafe_code)]

pub mod crypto;
pub mod rand;
pub mod ticket;
pub mod wire;
