//! Helpers of the child-SA tests (slow_path_children.rs,
//! slow_path_child_hostile.rs): a child made and checked on both sides, a
//! refusal, selectors, a second full exchange.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use rebound_engine::client::{ChildRequest, ClientSession, FullInitiator, SessionResponse};
use rebound_engine::crypto::{ChildKeys, DhGroup};
use rebound_engine::handoff::{ChildSa, TsRange};
use rebound_engine::slow_path::{SaChange, SaEvent};
use rebound_engine::wire::NotifyType;

use crate::full_pair::*;

/// Both sides' keys of a child SA are equal and not empty.
pub fn assert_child_keys_equal(a: &ChildKeys, b: &ChildKeys) {
    assert!(a.encr_i2r.ct_eq(&b.encr_i2r), "encr_i2r differs");
    assert!(a.encr_r2i.ct_eq(&b.encr_r2i), "encr_r2i differs");
    assert!(a.integ_i2r.ct_eq(&b.integ_i2r), "integ_i2r differs");
    assert!(a.integ_r2i.ct_eq(&b.integ_r2i), "integ_r2i differs");
    assert!(!a.encr_i2r.is_empty());
}

/// The client's and the gateway's view of one child SA agree.
pub fn assert_same_child(client: &ChildSa, gw: &ChildSa) {
    assert_eq!(client.spi_i, gw.spi_i);
    assert_eq!(client.spi_r, gw.spi_r);
    assert_eq!((client.encr, client.integ), (gw.encr, gw.integ));
    assert_eq!(client.ts_i, gw.ts_i);
    assert_eq!(client.ts_r, gw.ts_r);
    assert_child_keys_equal(&client.keys, &gw.keys);
}

/// The last slow-path event, which must be ChildCreated on `session`'s SA.
pub fn created(p: &FullPair, session: &ClientSession) -> ChildSa {
    match p.gw_events.last() {
        Some(SaEvent::Changed(SaChange::ChildCreated { ike, child })) => {
            assert_eq!(*ike, (session.spi_i(), session.spi_r()));
            (**child).clone()
        }
        other => panic!("expected ChildCreated, got {other:?}"),
    }
}

pub fn new_child(p: &mut FullPair, session: &mut ClientSession, offer: &ChildRequest) -> ChildSa {
    let req = session.create_child(offer, &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(session, &req);
    let SessionResponse::ChildCreated(child) = r else {
        panic!("expected a child SA, got {r:?}");
    };
    let gw = created(p, session);
    assert_same_child(&child, &gw);
    *child
}

pub fn refused(p: &mut FullPair, session: &mut ClientSession, req: &[u8]) -> NotifyType {
    let events = p.gw_events.len();
    let (r, _) = p.exchange(session, req);
    assert_eq!(p.gw_events.len(), events, "a refusal makes no event");
    match r {
        SessionResponse::Refused(t) => t,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub fn v4(a: [u8; 4], b: [u8; 4]) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: IpAddr::V4(Ipv4Addr::from(a)),
        end: IpAddr::V4(Ipv4Addr::from(b)),
    }
}

pub fn v4_single(a: IpAddr) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: a,
        end: a,
    }
}

/// A second full exchange of Alice on `p`'s slow path.
pub fn alice_again(p: &mut FullPair) -> Established {
    let cfg = std::sync::Arc::new(client_config(CURVE, DhGroup::Curve25519));
    p.client = FullInitiator::new(cfg, p.client_addr, p.gw_addr, &mut p.client_rng)
        .expect("the client starts");
    p.run();
    p.established()
}
