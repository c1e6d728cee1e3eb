//! The first child SA of an IKE_AUTH (RFC 7296 §1.2, §2.7, §2.9) and the
//! address family its CP(CFG_REQUEST) asks for (§3.15).

use core::net::IpAddr;

use super::request::AuthRequest;
use crate::child::{self, AddressPool, ChildError, SelectedEsp, single_address};
use crate::crypto::{ChildKeys, CryptoError, PrfAlg};
use crate::handoff::{ChildSa, TsRange};
use crate::rand::RandomSource;
use crate::responder::ResponderConfig;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity};
use crate::wire::{CfgAttrType, CfgType, CpRepr, SaRepr, TsRepr};

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
    let (ts_i, ts_r) = narrow_selectors(config, tsi, tsr, address)?;
    let spi_r = fresh_child_spi(rng, |_| false);
    Ok(ChildOutcome {
        esp,
        spi_r,
        ts_i,
        ts_r,
    })
}

/// RFC 7296 §2.9: the responder narrows TSi and TSr to its policy; a
/// client given an internal address gets exactly that address as TSi.
pub(crate) fn narrow_selectors(
    config: &ResponderConfig,
    tsi: &TsRepr<'_>,
    tsr: &TsRepr<'_>,
    address: Option<IpAddr>,
) -> Result<(Vec<TsRange>, Vec<TsRange>), ChildError> {
    let ts_i = match address {
        Some(a) => child::narrow(&[single_address(a)], tsi)?,
        None => child::narrow(&config.ts_remote, tsi)?,
    };
    let ts_r = child::narrow(&config.ts_local, tsr)?;
    Ok((ts_i, ts_r))
}

/// A random inbound ESP SPI of ours, not `taken`.
pub(crate) fn fresh_child_spi(
    rng: &mut dyn RandomSource,
    taken: impl Fn(&[u8; 4]) -> bool,
) -> [u8; 4] {
    let mut spi_r = [0u8; 4];
    // SPI values 1..=255 are reserved (RFC 4303 §2.1) and 0 is invalid.
    while u32::from_be_bytes(spi_r) < 256 || taken(&spi_r) {
        rng.fill(&mut spi_r);
    }
    spi_r
}

/// Which address family a CP(CFG_REQUEST) asks for, if any.
pub(crate) fn requested_family(cp: &CpRepr<'_>) -> Option<bool> {
    cp.attributes().find_map(|a| match a.attr_type {
        CfgAttrType::INTERNAL_IP4_ADDRESS => Some(false),
        CfgAttrType::INTERNAL_IP6_ADDRESS => Some(true),
        _ => None,
    })
}

/// Who holds an internal-address lease: the peer's IDi, as its revocation
/// key.
pub(crate) struct LeaseOwner {
    key: [u8; 1 + MAX_ID_DATA],
    len: usize,
}

impl LeaseOwner {
    pub(crate) fn new(id_i: &TicketIdentity) -> Self {
        let mut key = [0u8; 1 + MAX_ID_DATA];
        let len = id_i.revocation_key(&mut key);
        LeaseOwner { key, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.key[..self.len]
    }
}

/// What an IKE_AUTH request gets besides the IKE SA: its child SA and
/// internal address, or why not.
pub(crate) struct ChildPlan {
    pub(crate) child: Option<ChildOutcome>,
    /// Why the child SA or its address was refused (RFC 7296 §2.21.1:
    /// the IKE SA is made all the same, the answer carries the error).
    pub(crate) error: Option<ChildError>,
    /// The internal address the answer gives with CP(CFG_REPLY).
    pub(crate) address: Option<IpAddr>,
    /// Whether the pool leased an address, even one given back since
    /// because the child SA failed (for the counters).
    pub(crate) lease: Option<Lease>,
}

/// An address the pool leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    /// The address the peer had (RFC 5723 §5 Note 5).
    Reassigned,
    /// Another one.
    New,
}

/// The child SA and internal address of an IKE_AUTH request: an address
/// from `pool` for a CP(CFG_REQUEST) (`wanted`, if of the family asked
/// for, when it is free), then the child SA negotiated with that address
/// as TSi. When either fails the address is given back.
pub(crate) fn plan_child(
    config: &ResponderConfig,
    pool: Option<&dyn AddressPool>,
    rng: &mut dyn RandomSource,
    owner: &LeaseOwner,
    wanted: Option<IpAddr>,
    req: &AuthRequest<'_>,
) -> ChildPlan {
    let mut plan = ChildPlan {
        child: None,
        error: None,
        address: None,
        lease: None,
    };
    if let (Some(cp), Some(pool)) = (req.cp, pool)
        && cp.cfg_type == CfgType::CFG_REQUEST
        && let Some(v6) = requested_family(&cp)
    {
        let wanted = wanted.filter(|a| a.is_ipv6() == v6);
        match pool.lease(owner.as_bytes(), wanted, v6) {
            Ok(a) => {
                plan.address = Some(a);
                plan.lease = Some(if Some(a) == wanted {
                    Lease::Reassigned
                } else {
                    Lease::New
                });
            }
            Err(e) => plan.error = Some(e),
        }
    }
    if plan.error.is_none()
        && let Some((sa, tsi, tsr)) = req.child_request()
    {
        match negotiate_child(config, rng, &sa, &tsi, &tsr, plan.address) {
            Ok(c) => plan.child = Some(c),
            Err(e) => plan.error = Some(e),
        }
    }
    if plan.error.is_some()
        && let (Some(a), Some(pool)) = (plan.address.take(), pool)
    {
        pool.release(a, owner.as_bytes());
    }
    plan
}

/// RFC 7296 §2.17: the child SA's KEYMAT = prf+(SK_d, Ni | Nr), split for
/// its ESP suite; `None` without a child SA.
pub(crate) fn child_keys(
    child: Option<&ChildOutcome>,
    prf: PrfAlg,
    sk_d: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Result<Option<ChildKeys>, CryptoError> {
    child
        .map(|c| ChildKeys::derive(prf, sk_d, None, ni, nr, c.esp.encr, c.esp.integ))
        .transpose()
}
