//! Codec errors: one variant per reason a message is refused, each mapped in
//! one place to the IKEv2 notify it produces and to a drop-reason counter.

use core::fmt;

use super::consts::{NotifyType, PayloadType};

/// Why a datagram or payload could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the structure needs.
    Truncated { need: usize, have: usize },
    /// A UDP/4500 datagram without the 4-byte non-ESP marker (it is ESP, or
    /// an ESP keepalive), RFC 3948 §2.2.
    NotIke,
    /// Major version other than 2 (RFC 7296 §3.1, §2.5).
    UnsupportedMajorVersion(u8),
    /// The IKE header's length field disagrees with the datagram.
    HeaderLength { header: u32, datagram: usize },
    /// A payload's length field is below its minimum or runs past the end.
    PayloadLength { payload: PayloadType, length: u16 },
    /// Bytes left over after the last payload of the chain.
    TrailingBytes { count: usize },
    /// An unrecognised payload with the critical bit set (RFC 7296 §2.5).
    UnsupportedCriticalPayload(PayloadType),
    /// A recognised payload whose content violates RFC 7296.
    Malformed {
        payload: PayloadType,
        what: &'static str,
    },
    /// The caller's buffer is too small for what is being emitted.
    BufferTooSmall { need: usize, have: usize },
    /// A value that cannot be represented on the wire (e.g. > 65535 bytes).
    Unrepresentable(&'static str),
    /// A builder method called out of order.
    BuilderState(&'static str),
}

impl WireError {
    /// The error notify a responder may send for this error, if any
    /// (RFC 7296 §2.21.1). Whether to send it or silently drop is the
    /// caller's choice: unauthenticated garbage is normally dropped.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            WireError::UnsupportedCriticalPayload(_) => {
                Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
            }
            WireError::UnsupportedMajorVersion(_) => Some(NotifyType::INVALID_MAJOR_VERSION),
            WireError::Truncated { .. }
            | WireError::HeaderLength { .. }
            | WireError::PayloadLength { .. }
            | WireError::TrailingBytes { .. }
            | WireError::Malformed { .. } => Some(NotifyType::INVALID_SYNTAX),
            WireError::NotIke
            | WireError::BufferTooSmall { .. }
            | WireError::Unrepresentable(_)
            | WireError::BuilderState(_) => None,
        }
    }

    /// Notification data to send with [`WireError::notify`]: for
    /// UNSUPPORTED_CRITICAL_PAYLOAD the one-octet payload type (§3.10.1).
    pub fn notify_data(&self) -> Option<u8> {
        match self {
            WireError::UnsupportedCriticalPayload(t) => Some(t.0),
            _ => None,
        }
    }

    /// A stable, low-cardinality label for drop counters and metrics.
    pub fn counter_label(&self) -> &'static str {
        match self {
            WireError::Truncated { .. } => "truncated",
            WireError::NotIke => "not_ike",
            WireError::UnsupportedMajorVersion(_) => "bad_major_version",
            WireError::HeaderLength { .. } => "header_length",
            WireError::PayloadLength { .. } => "payload_length",
            WireError::TrailingBytes { .. } => "trailing_bytes",
            WireError::UnsupportedCriticalPayload(_) => "unsupported_critical_payload",
            WireError::Malformed { .. } => "malformed_payload",
            WireError::BufferTooSmall { .. } => "buffer_too_small",
            WireError::Unrepresentable(_) => "unrepresentable",
            WireError::BuilderState(_) => "builder_state",
        }
    }

    pub(crate) fn malformed(payload: PayloadType, what: &'static str) -> Self {
        WireError::Malformed { payload, what }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { need, have } => {
                write!(f, "truncated: need {need} bytes, have {have}")
            }
            WireError::NotIke => write!(f, "UDP/4500 datagram without the non-ESP marker"),
            WireError::UnsupportedMajorVersion(v) => {
                write!(f, "unsupported IKE major version {v}")
            }
            WireError::HeaderLength { header, datagram } => write!(
                f,
                "IKE header length {header} does not match the {datagram}-byte datagram"
            ),
            WireError::PayloadLength { payload, length } => {
                write!(f, "{payload} payload length {length} is impossible here")
            }
            WireError::TrailingBytes { count } => {
                write!(f, "{count} bytes after the last payload")
            }
            WireError::UnsupportedCriticalPayload(t) => {
                write!(f, "unsupported critical payload type {}", t.0)
            }
            WireError::Malformed { payload, what } => write!(f, "malformed {payload}: {what}"),
            WireError::BufferTooSmall { need, have } => {
                write!(f, "output buffer too small: need {need} bytes, have {have}")
            }
            WireError::Unrepresentable(what) => write!(f, "cannot encode: {what}"),
            WireError::BuilderState(what) => write!(f, "message builder misuse: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Check that `buf` holds at least `need` bytes.
#[inline]
pub(crate) fn need(buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need {
        Err(WireError::Truncated {
            need,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}
