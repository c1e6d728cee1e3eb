//! The IKEv2 wire codec (RFC 7296 §3, RFC 5723, RFC 7383), in the smoltcp
//! style: checked views over borrowed bytes and `Repr`s whose parse and emit
//! round-trip. Nothing here allocates, and no input can make it panic.
//!
//! - [`header`]: the IKE header and the UDP/4500 non-ESP marker.
//! - [`chain`]: the generic payload header and the payload chain iterator.
//! - [`Payload`]: the decoded body of every recognised payload type.
//! - [`MessageBuilder`]: writes a message into a caller's buffer.

pub mod builder;
pub mod chain;
pub mod consts;
pub mod cp;
pub mod error;
pub mod header;
pub mod message;
pub mod payload;
pub mod sa;
pub mod simple;
pub mod ts;

pub use builder::{MessageBuilder, SkSection};
pub use chain::{GENERIC_HEADER_LEN, PayloadIter, RawPayload};
pub use consts::*;
pub use cp::{CfgAttr, CpRepr};
pub use error::WireError;
pub use header::{
    Flags, HEADER_LEN, HeaderRepr, IkeHeader, NON_ESP_MARKER_LEN, emit_non_esp_marker,
    strip_non_esp_marker,
};
pub use message::Message;
pub use payload::Payload;
pub use sa::{Proposal, ProposalSpec, SaRepr, TransformRepr};
pub use simple::{
    AuthRepr, CertRepr, DeleteRepr, IdRepr, KeRepr, NONCE_MAX, NONCE_MIN, NonceRepr, NotifyRepr,
    SkRepr, SkfRepr,
};
pub use ts::{TrafficSelector, TsRepr};
