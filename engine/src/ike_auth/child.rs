//! The first child SA of an IKE_AUTH (RFC 7296 §1.2, §2.7, §2.9) and the
//! address family its CP(CFG_REQUEST) asks for (§3.15).

use core::net::IpAddr;

use crate::child::{self, ChildError, SelectedEsp, single_address};
use crate::crypto::ChildKeys;
use crate::handoff::{ChildSa, TsRange};
use crate::rand::RandomSource;
use crate::responder::ResponderConfig;
use crate::wire::{CfgAttrType, CpRepr, SaRepr, TsRepr};

/// The child SA the answer describes.
pub(crate) struct ChildOutcome {
    pub(crate) esp: SelectedEsp,
    pub(crate) spi_r: [u8; 4],
    pub(crate) ts_i: Vec<TsRange>,
    pub(crate) ts_r: Vec<TsRange>,
}

impl ChildOutcome {
    /// The child SA as handed off, with its keys.
    pub(crate) fn into_child_sa(self, keys: ChildKeys) -> ChildSa {
        ChildSa {
            spi_i: self.esp.peer_spi,
            spi_r: self.spi_r,
            encr: self.esp.encr,
            integ: self.esp.integ,
            esn: self.esp.esn,
            keys,
            ts_i: self.ts_i,
            ts_r: self.ts_r,
        }
    }
}

/// RFC 7296 §2.7, §2.9: the child SA's ESP suite, narrowed selectors and
/// our SPI; a client given an internal address gets exactly that address
/// as TSi.
pub(crate) fn negotiate_child(
    config: &ResponderConfig,
    rng: &mut dyn RandomSource,
    sa: &SaRepr<'_>,
    tsi: &TsRepr<'_>,
    tsr: &TsRepr<'_>,
    address: Option<IpAddr>,
) -> Result<ChildOutcome, ChildError> {
    // RFC 7296 §2.7: one proposal chosen, from the peer's in its order.
    let esp = child::choose_esp(&config.esp, sa)?;
    // RFC 7296 §2.9: the responder narrows the selectors to its policy.
    let ts_i = match address {
        Some(a) => child::narrow(&[single_address(a)], tsi)?,
        None => child::narrow(&config.ts_remote, tsi)?,
    };
    let ts_r = child::narrow(&config.ts_local, tsr)?;
    let mut spi_r = [0u8; 4];
    // SPI values 1..=255 are reserved (RFC 4303 §2.1) and 0 is invalid.
    while u32::from_be_bytes(spi_r) < 256 {
        rng.fill(&mut spi_r);
    }
    Ok(ChildOutcome {
        esp,
        spi_r,
        ts_i,
        ts_r,
    })
}

/// Which address family a CP(CFG_REQUEST) asks for, if any.
pub(crate) fn requested_family(cp: &CpRepr<'_>) -> Option<bool> {
    cp.attributes().find_map(|a| match a.attr_type {
        CfgAttrType::INTERNAL_IP4_ADDRESS => Some(false),
        CfgAttrType::INTERNAL_IP6_ADDRESS => Some(true),
        _ => None,
    })
}
