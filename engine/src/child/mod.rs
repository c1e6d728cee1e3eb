//! Child SA negotiation: what the IKE_AUTH of a resumed (RFC 5723 §4.3.3)
//! or full (RFC 7296 §1.2) exchange needs to create the first ESP child SA.
//!
//! | module | concept |
//! | --- | --- |
//! | [`esp`] | ESP proposals: choosing one (responder), offering and checking the answer (initiator) |
//! | [`ts`] | traffic-selector narrowing (RFC 7296 §2.9) and its check |
//! | [`pool`] | internal (virtual) addresses handed out with CP(CFG_REPLY) |
//!
//! Every refusal is a [`ChildError`], mapped in one place to the notify the
//! responder answers with and to a counter label. Nothing here panics on
//! input from the network.

pub mod esp;
pub mod pool;
pub mod ts;

use core::fmt;

use crate::wire::NotifyType;

pub use esp::{
    ESP_SPI_LEN, EspProposal, PfsChoice, PfsRefusal, SelectedEsp, accept_esp, accept_esp_pfs,
    choose_esp, choose_esp_pfs, esp_transforms, esp_transforms_pfs,
};
pub use pool::{AddressPool, MemoryPool, PoolConfigError};
pub use ts::{MAX_SELECTORS, TsList, is_narrowing_of, narrow, single_address};

/// Why a child SA could not be made; each maps to the notify it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildError {
    /// No ESP proposal of the peer is acceptable to our policy (responder),
    /// or the responder's SAr2 is not consistent with what we offered
    /// (initiator).
    NoProposalChosen,
    /// No part of the proposed traffic selectors is acceptable (RFC 7296
    /// §2.9).
    TsUnacceptable,
    /// No internal address could be assigned (RFC 7296 §3.15.4).
    InternalAddressFailure,
}

impl ChildError {
    /// Every reason, for metrics that pre-register their counters.
    pub const ALL: [ChildError; 3] = [
        ChildError::NoProposalChosen,
        ChildError::TsUnacceptable,
        ChildError::InternalAddressFailure,
    ];

    /// The error notify the responder answers with: NO_PROPOSAL_CHOSEN,
    /// TS_UNACCEPTABLE or INTERNAL_ADDRESS_FAILURE (RFC 7296 §3.10.1).
    pub const fn notify(self) -> NotifyType {
        match self {
            ChildError::NoProposalChosen => NotifyType::NO_PROPOSAL_CHOSEN,
            ChildError::TsUnacceptable => NotifyType::TS_UNACCEPTABLE,
            ChildError::InternalAddressFailure => NotifyType::INTERNAL_ADDRESS_FAILURE,
        }
    }

    /// A stable, low-cardinality counter label.
    pub const fn counter_label(self) -> &'static str {
        match self {
            ChildError::NoProposalChosen => "no_proposal_chosen",
            ChildError::TsUnacceptable => "ts_unacceptable",
            ChildError::InternalAddressFailure => "internal_address_failure",
        }
    }
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildError::NoProposalChosen => "no acceptable ESP proposal",
            ChildError::TsUnacceptable => "no acceptable traffic selectors",
            ChildError::InternalAddressFailure => "no internal address available",
        })
    }
}

impl std::error::Error for ChildError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_label_and_display() {
        let want = [
            (14, "no_proposal_chosen"),
            (38, "ts_unacceptable"),
            (36, "internal_address_failure"),
        ];
        for (e, (n, label)) in ChildError::ALL.into_iter().zip(want) {
            assert_eq!(e.notify().0, n);
            assert!(e.notify().is_error());
            assert_eq!(e.counter_label(), label);
            assert!(!e.to_string().is_empty());
        }
    }
}
