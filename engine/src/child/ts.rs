//! Traffic selectors of a child SA (RFC 7296 §2.9, §3.13): the responder
//! narrows what the initiator proposed to what its policy allows
//! ([`narrow`]); the initiator checks the answer only narrows
//! ([`is_narrowing_of`]).
//!
//! Only TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE selectors are
//! interpreted; a range's addresses, ports and protocol are compared as
//! ranges of integers.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ChildError;
use crate::handoff::TsRange;
use crate::wire::TsRepr;

/// The most selectors [`narrow`] returns for one TS payload.
pub const MAX_SELECTORS: usize = 16;

/// An address as (is IPv6, value) so ranges of one family compare as
/// integers.
fn key(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// The address of family `v6` with integer value `n` (which came from an
/// address of that family, so it fits).
fn addr(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// The family and the (start, end) address values of a range whose two
/// addresses share a family.
fn span(r: &TsRange) -> Option<(bool, u128, u128)> {
    let (v6, start) = key(r.start);
    let (v6_end, end) = key(r.end);
    (v6 == v6_end).then_some((v6, start, end))
}

/// Whether `r` describes some traffic: one family, start ≤ end for both
/// addresses and ports.
fn well_formed(r: &TsRange) -> bool {
    span(r).is_some_and(|(_, s, e)| s <= e) && r.start_port <= r.end_port
}

/// The traffic both ranges select, if any. Protocol: equal, or 0 (any)
/// gives the other.
fn intersect(a: &TsRange, b: &TsRange) -> Option<TsRange> {
    let ip_proto = match (a.ip_proto, b.ip_proto) {
        (x, y) if x == y => x,
        (0, y) => y,
        (x, 0) => x,
        _ => return None,
    };
    let (v6, a_start, a_end) = span(a)?;
    let (b_v6, b_start, b_end) = span(b)?;
    if v6 != b_v6 {
        return None;
    }
    let (start, end) = (a_start.max(b_start), a_end.min(b_end));
    let (start_port, end_port) = (a.start_port.max(b.start_port), a.end_port.min(b.end_port));
    (start <= end && start_port <= end_port).then(|| TsRange {
        ip_proto,
        start_port,
        end_port,
        start: addr(v6, start),
        end: addr(v6, end),
    })
}

/// Whether `outer` selects all the traffic `inner` does.
fn contains(outer: &TsRange, inner: &TsRange) -> bool {
    let (Some((ov6, os, oe)), Some((iv6, is, ie))) = (span(outer), span(inner)) else {
        return false;
    };
    ov6 == iv6
        && os <= is
        && ie <= oe
        && outer.start_port <= inner.start_port
        && inner.end_port <= outer.end_port
        && (outer.ip_proto == 0 || outer.ip_proto == inner.ip_proto)
}

/// Responder narrowing (RFC 7296 §2.9): every range selector offered,
/// intersected with every policy range (address range ∩, port range ∩,
/// protocol: equal, or 0 meaning any gives the other); non-empty results in
/// offered order, deduplicated, at most [`MAX_SELECTORS`]; selector types
/// Rebound doesn't interpret are skipped.
///
/// Offered order is kept so that the initiator's first selector, the
/// packet that triggered the SA, leads the answer when policy allows it.
///
/// # Errors
/// [`ChildError::TsUnacceptable`] when nothing is left.
pub fn narrow(policy: &[TsRange], offered: &TsRepr<'_>) -> Result<TsList, ChildError> {
    let mut out = TsList::new();
    'offered: for sel in offered.selectors() {
        // Selector types Rebound does not interpret (RFC 4595 Fibre
        // Channel, RFC 9478 security labels, ...) select nothing here.
        let Some(o) = TsRange::from_selector(&sel) else {
            continue;
        };
        // RFC 7296 §2.9: "When the responder chooses a subset of the traffic
        // proposed by the initiator, it narrows the Traffic Selectors to
        // some subset of the initiator's proposal (provided the set does
        // not become the null set)." And: "If the responder's policy allows
        // it to accept the first selector of TSi and TSr, then the
        // responder MUST narrow the Traffic Selectors to a subset that
        // includes the initiator's first choices" -- intersecting in
        // offered order keeps the first selector first.
        for p in policy {
            if let Some(r) = intersect(&o, p)
                && !out.contains(&r)
            {
                out.push(r);
                if out.len() == MAX_SELECTORS {
                    break 'offered;
                }
            }
        }
    }
    // RFC 7296 §2.9: "If the responder's policy does not allow it to accept
    // any part of the proposed Traffic Selectors, it responds with a
    // TS_UNACCEPTABLE Notify message."
    if out.is_empty() {
        Err(ChildError::TsUnacceptable)
    } else {
        Ok(out)
    }
}

/// Narrowed traffic selectors: the common one or two inline, so a resumed
/// IKE_AUTH does not allocate for them (more than two spill to the heap).
pub type TsList = smallvec::SmallVec<[TsRange; 2]>;

/// Initiator check: every range of `result` lies within some range of
/// `offered` (same family, address, port and protocol containment).
///
/// An empty `result` is not a narrowing (the responder answers
/// TS_UNACCEPTABLE rather than the null set, RFC 7296 §2.9), and neither is
/// a range that selects nothing (start after end).
pub fn is_narrowing_of(result: &[TsRange], offered: &[TsRange]) -> bool {
    // RFC 7296 §2.9: the responder "narrows the Traffic Selectors to some
    // subset of the initiator's proposal"; an answer wider than the offer
    // would let the peer choose the traffic we send into the SA.
    !result.is_empty()
        && result
            .iter()
            .all(|r| well_formed(r) && offered.iter().any(|o| contains(o, r)))
}

/// One address, any protocol, all ports.
pub fn single_address(addr: IpAddr) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: addr,
        end: addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TrafficSelector, TsType};

    fn v4(a: [u8; 4], z: [u8; 4], proto: u8, ports: (u16, u16)) -> TsRange {
        TsRange {
            ip_proto: proto,
            start_port: ports.0,
            end_port: ports.1,
            start: IpAddr::from(a),
            end: IpAddr::from(z),
        }
    }

    #[test]
    fn intersect_cases() {
        let any = v4([0, 0, 0, 0], [255, 255, 255, 255], 0, (0, 65535));
        let net = v4([10, 0, 0, 0], [10, 0, 0, 255], 6, (80, 443));
        assert_eq!(intersect(&any, &net), Some(net));
        assert_eq!(intersect(&net, &any), Some(net));
        let udp = v4([10, 0, 0, 0], [10, 0, 0, 255], 17, (0, 65535));
        assert_eq!(intersect(&net, &udp), None);
        let ports = v4([10, 0, 0, 128], [10, 0, 1, 0], 0, (443, 1000));
        assert_eq!(
            intersect(&net, &ports),
            Some(v4([10, 0, 0, 128], [10, 0, 0, 255], 6, (443, 443)))
        );
        let v6 = single_address(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(intersect(&any, &v6), None);
        let mixed = TsRange {
            end: IpAddr::V6(Ipv6Addr::LOCALHOST),
            ..any
        };
        assert_eq!(intersect(&mixed, &any), None);
        // OPAQUE ports (start 65535, end 0) select nothing here.
        let opaque = v4([10, 0, 0, 0], [10, 0, 0, 255], 0, (65535, 0));
        assert_eq!(intersect(&opaque, &any), None);
    }

    #[test]
    fn uninterpreted_selector_types_are_skipped() {
        let sels = [
            TrafficSelector::Other {
                ts_type: TsType(9),
                ip_proto: 0,
                data: &[0; 12],
            },
            single_address(IpAddr::from([192, 0, 2, 7])).selector(),
        ];
        let policy = [v4([192, 0, 2, 0], [192, 0, 2, 255], 0, (0, 65535))];
        let got = narrow(&policy, &TsRepr::new(&sels)).unwrap();
        assert_eq!(got[..], [single_address(IpAddr::from([192, 0, 2, 7]))]);
        assert_eq!(
            narrow(&policy, &TsRepr::new(&sels[..1])),
            Err(ChildError::TsUnacceptable)
        );
        assert_eq!(
            narrow(&[], &TsRepr::new(&sels[1..])),
            Err(ChildError::TsUnacceptable)
        );
    }

    #[test]
    fn narrowing_check() {
        let offered = [v4([10, 0, 0, 0], [10, 0, 0, 255], 0, (0, 65535))];
        let inside = v4([10, 0, 0, 4], [10, 0, 0, 4], 17, (53, 53));
        assert!(is_narrowing_of(&[inside], &offered));
        assert!(is_narrowing_of(&offered, &offered));
        assert!(!is_narrowing_of(&[], &offered));
        let wider = v4([10, 0, 0, 0], [10, 0, 1, 0], 0, (0, 65535));
        assert!(!is_narrowing_of(&[inside, wider], &offered));
        let backwards = v4([10, 0, 0, 9], [10, 0, 0, 4], 0, (0, 65535));
        assert!(!is_narrowing_of(&[backwards], &offered));
        let tcp_only = [v4([10, 0, 0, 0], [10, 0, 0, 255], 6, (0, 65535))];
        assert!(!is_narrowing_of(&offered, &tcp_only));
    }

    #[test]
    fn single_address_selects_one_host() {
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let r = single_address(a);
        assert_eq!((r.start, r.end, r.ip_proto), (a, a, 0));
        assert_eq!((r.start_port, r.end_port), (0, 65535));
        assert!(well_formed(&r));
    }
}
