//! The first child SA of an IKE_AUTH (RFC 7296 §1.2, §2.7, §2.9) and the
//! address family its CP(CFG_REQUEST) asks for (§3.15).

use crate::child::TsList;
use core::net::IpAddr;

use super::request::AuthRequest;
use crate::child::{self, AddressPool, ChildError, SelectedEsp, single_address};
use crate::crypto::{ChildKeys, CryptoError, PrfAlg};
use crate::handoff::ChildSa;
use crate::rand::RandomSource;
use crate::responder::ResponderConfig;
use crate::slow_path::CONTROL_SPI_TAG;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity};
use crate::wire::{CfgAttrType, CfgType, CpRepr, SaRepr, TsRepr};

/// The child SA the answer describes.
pub(crate) struct ChildOutcome {
    pub(crate) esp: SelectedEsp,
    pub(crate) spi_r: [u8; 4],
    pub(crate) ts_i: TsList,
    pub(crate) ts_r: TsList,
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
    space: SpiSpace<'_>,
    sa: &SaRepr<'_>,
    tsi: &TsRepr<'_>,
    tsr: &TsRepr<'_>,
    address: Option<IpAddr>,
) -> Result<ChildOutcome, ChildError> {
    // RFC 7296 §2.7: one proposal chosen, from the peer's in its order.
    let esp = child::choose_esp(&config.esp, sa)?;
    let (ts_i, ts_r) = narrow_selectors(config, tsi, tsr, address)?;
    let spi_r = fresh_child_spi(rng, space);
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
) -> Result<(TsList, TsList), ChildError> {
    let ts_i = match address {
        Some(a) => child::narrow(&[single_address(a)], tsi)?,
        None => child::narrow(&config.ts_remote, tsi)?,
    };
    let ts_r = child::narrow(&config.ts_local, tsr)?;
    Ok((ts_i, ts_r))
}

/// Who draws an inbound ESP SPI of ours, and from which values.
///
/// The slow path's SPIs start with [`CONTROL_SPI_TAG`] (as its IKE SPIrs
/// do) and the workers' never do, so a worker's SPI never equals one the
/// slow path holds or will draw. The slow path knows every child SA of
/// the gateway (its own and those of the SAs it adopts), so it also
/// avoids every SPI in use; the workers cannot (the children they make
/// are deleted in the slow path), so theirs are 32 random bits less the
/// tagged 2²⁴ values (docs/ARCHITECTURE.md, the inbound ESP SPI).
#[derive(Clone, Copy)]
pub(crate) enum SpiSpace<'a> {
    /// A worker's resumed IKE_AUTH: random, never tagged.
    Worker,
    /// The slow path: tagged, and none for which `taken` is true.
    Control(&'a dyn Fn(&[u8; 4]) -> bool),
}

/// How many tagged values the slow path tries before it gives up the tag
/// (its 2²⁴ values nearly all in use: never in practice; the SPI is then
/// still one no child SA here has, from the whole space).
const TAGGED_TRIES: usize = 64;

/// A random inbound ESP SPI of ours from `space`.
pub(crate) fn fresh_child_spi(rng: &mut dyn RandomSource, space: SpiSpace<'_>) -> [u8; 4] {
    // SPI values 1..=255 are reserved (RFC 4303 §2.1) and 0 is invalid.
    let usable = |s: &[u8; 4]| u32::from_be_bytes(*s) >= 256;
    let mut spi = [0u8; 4];
    match space {
        SpiSpace::Worker => {
            while !usable(&spi) || spi[0] == CONTROL_SPI_TAG {
                rng.fill(&mut spi);
            }
        }
        SpiSpace::Control(taken) => {
            for _ in 0..TAGGED_TRIES {
                rng.fill(&mut spi);
                spi[0] = CONTROL_SPI_TAG;
                if !taken(&spi) {
                    return spi;
                }
            }
            // The set of SPIs in use cannot hold all 2³² values: this ends.
            while !usable(&spi) || taken(&spi) {
                rng.fill(&mut spi);
            }
        }
    }
    spi
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
    space: SpiSpace<'_>,
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
        match negotiate_child(config, rng, space, &sa, &tsi, &tsr, plan.address) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out `values` (4 bytes each) in turn.
    fn scripted(values: Vec<[u8; 4]>) -> impl FnMut(&mut [u8]) {
        let mut it = values.into_iter();
        move |out: &mut [u8]| out.copy_from_slice(&it.next().expect("a scripted value"))
    }

    #[test]
    fn workers_never_draw_a_tagged_or_reserved_spi() {
        let mut rng = scripted(vec![[0, 0, 0, 7], [0xff, 1, 2, 3], [0x12, 0, 0, 1]]);
        assert_eq!(fresh_child_spi(&mut rng, SpiSpace::Worker), [0x12, 0, 0, 1]);
    }

    #[test]
    fn the_slow_path_draws_tagged_spis_not_in_use() {
        let taken = |s: &[u8; 4]| *s == [0xff, 1, 2, 3];
        let mut rng = scripted(vec![[0x00, 1, 2, 3], [0x42, 4, 5, 6]]);
        let spi = fresh_child_spi(&mut rng, SpiSpace::Control(&taken));
        assert_eq!(spi, [0xff, 4, 5, 6]);
        // Every tagged value taken: one from the whole space, not taken.
        let all_tagged = |s: &[u8; 4]| s[0] == 0xff;
        let mut values = vec![[0xff, 0, 0, 1]; TAGGED_TRIES];
        values.extend([[0, 0, 0, 1], [0xff, 9, 9, 9], [0x10, 0, 0, 0]]);
        let mut rng = scripted(values);
        let spi = fresh_child_spi(&mut rng, SpiSpace::Control(&all_tagged));
        assert_eq!(spi, [0x10, 0, 0, 0]);
    }
}
