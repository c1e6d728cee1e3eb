//! Child SAs on an established IKE SA, in memory on a virtual clock: new
//! child SAs with and without PFS, child rekeys and deletes, every refusal
//! (CHILD_SA_NOT_FOUND, TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN,
//! INVALID_KE_PAYLOAD, NO_ADDITIONAL_SAS, INVALID_SYNTAX for a peer SPI in
//! use, TEMPORARY_FAILURE on an IKE SA a rekey replaced), hand-made
//! hostile requests (invalid public values, missing or malformed
//! payloads), SPIs unique on the gateway (an adopted child's SPI colliding
//! counted), and retransmitted requests answered from the cache (RFC 7296
//! §1.3.1, §1.3.3, §1.4.1, §2.1, §2.18, §2.25).

#[path = "common/full_pair.rs"]
mod full_pair;
#[path = "common/pair.rs"]
mod pair;

use std::net::{IpAddr, Ipv4Addr};

use full_pair::*;
use rebound_engine::child::{EspProposal, esp_transforms_pfs};
use rebound_engine::client::{ChildRequest, ClientSession, FullInitiator, SessionResponse};
use rebound_engine::crypto::{ChildKeys, DhGroup, DhPrivate};
use rebound_engine::handoff::{ChildSa, ChildSpis, TsRange};
use rebound_engine::slow_path::{SaEvent, SlowPathConfig, SlowPathCounter};
use rebound_engine::wire::{
    ExchangeType, KeRepr, NonceRepr, NotifyRepr, NotifyType, Payload, PayloadType, ProposalSpec,
    ProtocolId, SaRepr, TsRepr,
};

/// Both sides' keys of a child SA are equal and not empty.
fn assert_child_keys_equal(a: &ChildKeys, b: &ChildKeys) {
    assert!(a.encr_i2r.ct_eq(&b.encr_i2r), "encr_i2r differs");
    assert!(a.encr_r2i.ct_eq(&b.encr_r2i), "encr_r2i differs");
    assert!(a.integ_i2r.ct_eq(&b.integ_i2r), "integ_i2r differs");
    assert!(a.integ_r2i.ct_eq(&b.integ_r2i), "integ_r2i differs");
    assert!(!a.encr_i2r.is_empty());
}

/// The client's and the gateway's view of one child SA agree.
fn assert_same_child(client: &ChildSa, gw: &ChildSa) {
    assert_eq!(client.spi_i, gw.spi_i);
    assert_eq!(client.spi_r, gw.spi_r);
    assert_eq!((client.encr, client.integ), (gw.encr, gw.integ));
    assert_eq!(client.ts_i, gw.ts_i);
    assert_eq!(client.ts_r, gw.ts_r);
    assert_child_keys_equal(&client.keys, &gw.keys);
}

/// The last slow-path event, which must be ChildCreated on `session`'s SA.
fn created(p: &FullPair, session: &ClientSession) -> ChildSa {
    match p.gw_events.last() {
        Some(SaEvent::ChildCreated { ike, child }) => {
            assert_eq!(*ike, (session.spi_i(), session.spi_r()));
            (**child).clone()
        }
        other => panic!("expected ChildCreated, got {other:?}"),
    }
}

fn new_child(p: &mut FullPair, session: &mut ClientSession, offer: &ChildRequest) -> ChildSa {
    let req = session.create_child(offer, &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(session, &req);
    let SessionResponse::ChildCreated(child) = r else {
        panic!("expected a child SA, got {r:?}");
    };
    let gw = created(p, session);
    assert_same_child(&child, &gw);
    *child
}

fn refused(p: &mut FullPair, session: &mut ClientSession, req: &[u8]) -> NotifyType {
    let events = p.gw_events.len();
    let (r, _) = p.exchange(session, req);
    assert_eq!(p.gw_events.len(), events, "a refusal makes no event");
    match r {
        SessionResponse::Refused(t) => t,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn v4(a: [u8; 4], b: [u8; 4]) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: IpAddr::V4(Ipv4Addr::from(a)),
        end: IpAddr::V4(Ipv4Addr::from(b)),
    }
}

// RFC 7296 §1.3.1 without a KE: KEYMAT = prf+(SK_d, Ni | Nr); both sides
// agree, TSi is narrowed to the internal address, TSr to the policy.
#[test]
fn new_child_without_pfs_agrees_on_keys_and_narrowed_selectors() {
    let mut config = slow_path_config();
    config.responder.ts_local = vec![v4([192, 0, 2, 0], [192, 0, 2, 255])];
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let first = e.sa.child.clone().expect("the IKE_AUTH child");
    let child = new_child(&mut p, &mut e.session, &ChildRequest::default());
    let addr = e.session.internal_addr().expect("an internal address");
    assert_eq!(child.ts_i, vec![v4_single(addr)]);
    assert_eq!(child.ts_r, vec![v4([192, 0, 2, 0], [192, 0, 2, 255])]);
    assert_ne!(child.spi_r, first.spi_r);
    assert!(!child.keys.encr_i2r.ct_eq(&first.keys.encr_i2r));
    assert_eq!(p.count(SlowPathCounter::ChildCreated), 1);
}

fn v4_single(a: IpAddr) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: a,
        end: a,
    }
}

// RFC 7296 §1.3.1 with KEi: PFS in each group the slow path speaks;
// KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), equal on both sides.
#[test]
fn new_child_with_pfs_in_every_group_agrees_on_keys() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    for g in DhGroup::ALL {
        let child = new_child(&mut p, &mut e.session, &ChildRequest::pfs(g));
        let req = e
            .session
            .delete_child(&[child.spi_i], &mut p.client_rng)
            .unwrap();
        p.exchange(&mut e.session, &req);
    }
    // Three more make four with the IKE_AUTH child, the limit: one more
    // is NO_ADDITIONAL_SAS.
    for _ in 0..3 {
        new_child(&mut p, &mut e.session, &ChildRequest::default());
    }
    let req = e
        .session
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::NO_ADDITIONAL_SAS
    );
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildCreated, 7),
            (SlowPathCounter::ChildDeleted, 4),
            (SlowPathCounter::NoAdditionalSas, 1),
        ],
    );
}

// RFC 7296 §1.3.3: N(REKEY_SA) with the old child's SPI; the new child
// replaces it (ChildRekeyed with the old SPIs), new keys, both sides equal;
// a second rekey of the replaced child is CHILD_SA_NOT_FOUND; the delete
// of the old child lists our SPI and hands ChildDeleted off.
#[test]
fn child_rekey_replaces_the_child_and_the_old_one_is_deleted() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let old = e.sa.child.clone().expect("the IKE_AUTH child");
    let req = e
        .session
        .rekey_child(
            old.spi_i,
            &ChildRequest::pfs(DhGroup::Ecp256),
            &mut p.client_rng,
        )
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildRekeyed { old_spi, child } = r else {
        panic!("expected a rekeyed child, got {r:?}");
    };
    assert_eq!(old_spi, old.spi_i);
    let Some(SaEvent::ChildRekeyed {
        ike,
        old: gw_old,
        child: gw_child,
    }) = p.gw_events.last()
    else {
        panic!("expected ChildRekeyed: {:?}", p.gw_events.last());
    };
    assert_eq!(*ike, (e.session.spi_i(), e.session.spi_r()));
    assert_eq!(
        *gw_old,
        ChildSpis {
            spi_i: old.spi_i,
            spi_r: old.spi_r
        }
    );
    assert_same_child(&child, gw_child);
    assert_ne!((child.spi_i, child.spi_r), (old.spi_i, old.spi_r));
    assert!(!child.keys.encr_i2r.ct_eq(&old.keys.encr_i2r));
    assert_eq!(p.count(SlowPathCounter::ChildRekeyed), 1);

    // The replaced child cannot be rekeyed again (RFC 7296 §2.25).
    let req = e
        .session
        .rekey_child(old.spi_i, &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::CHILD_SA_NOT_FOUND
    );
    assert_eq!(p.count(SlowPathCounter::ChildAlreadyRekeyed), 1);

    // RFC 7296 §1.4.1: the old child is deleted; the answer's Delete lists
    // our SPI of the pair; an unknown SPI in the same request is ignored.
    let req = e
        .session
        .delete_child(&[old.spi_i, [9, 9, 9, 9]], &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildrenDeleted(ours) = r else {
        panic!("expected the deleted children, got {r:?}");
    };
    assert_eq!(ours, vec![old.spi_r]);
    match p.gw_events.last() {
        Some(SaEvent::ChildDeleted { ike, children }) => {
            assert_eq!(*ike, (e.session.spi_i(), e.session.spi_r()));
            assert_eq!(
                children,
                &[ChildSpis {
                    spi_i: old.spi_i,
                    spi_r: old.spi_r
                }]
            );
        }
        other => panic!("expected ChildDeleted, got {other:?}"),
    }
    assert_eq!(p.count(SlowPathCounter::ChildDeleted), 1);

    // The new child rekeys in turn.
    let req = e
        .session
        .rekey_child(child.spi_i, &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::ChildRekeyed { .. }), "{r:?}");
    assert_eq!(p.count(SlowPathCounter::ChildRekeyed), 2);
}

// RFC 7296 §1.3.3 with §2.25: REKEY_SA naming no child SA of this IKE SA
// (never made, or deleted) is CHILD_SA_NOT_FOUND.
#[test]
fn rekey_of_an_unknown_child_is_child_sa_not_found() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let req = e
        .session
        .rekey_child([1, 2, 3, 4], &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::CHILD_SA_NOT_FOUND
    );
    // Deleted, then rekeyed: not found either.
    let first = e.sa.child.clone().unwrap();
    let req = e
        .session
        .delete_child(&[first.spi_i], &mut p.client_rng)
        .unwrap();
    p.exchange(&mut e.session, &req);
    let req = e
        .session
        .rekey_child(first.spi_i, &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::CHILD_SA_NOT_FOUND
    );
    assert_eq!(p.count(SlowPathCounter::ChildNotFound), 2);
}

// RFC 7296 §2.9: selectors with nothing in common with the policy are
// TS_UNACCEPTABLE.
#[test]
fn selectors_outside_the_policy_are_ts_unacceptable() {
    let mut config = slow_path_config();
    config.responder.ts_local = vec![v4([192, 0, 2, 0], [192, 0, 2, 255])];
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let offer = ChildRequest {
        ts_r: Some(vec![v4([203, 0, 113, 0], [203, 0, 113, 255])]),
        ..ChildRequest::default()
    };
    let req = e.session.create_child(&offer, &mut p.client_rng).unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::TS_UNACCEPTABLE
    );
    assert_eq!(p.count(SlowPathCounter::ChildTsUnacceptable), 1);
}

// RFC 7296 §2.7: no acceptable ESP proposal is NO_PROPOSAL_CHOSEN.
#[test]
fn esp_proposals_outside_the_policy_are_no_proposal_chosen() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let offer = ChildRequest {
        esp: Some(vec![EspProposal::AES_CBC_256_SHA512]),
        ..ChildRequest::default()
    };
    let req = e.session.create_child(&offer, &mut p.client_rng).unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::NO_PROPOSAL_CHOSEN
    );
    assert_eq!(p.count(SlowPathCounter::ChildNoProposal), 1);
}

// RFC 7296 §1.3.1: a KE of a group the chosen proposal does not list is
// INVALID_KE_PAYLOAD naming our preferred group of it; the client retries
// in that group and the child is made.
#[test]
fn ke_of_another_group_is_invalid_ke_then_retried() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let offer = ChildRequest {
        pfs: vec![DhGroup::Ecp256, DhGroup::Curve25519],
        ke: Some(DhGroup::Modp2048),
        ..ChildRequest::default()
    };
    let req = e.session.create_child(&offer, &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildRetry { group, request } = r else {
        panic!("expected a retry, got {r:?}");
    };
    // Curve25519 comes first in the slow path's preference.
    assert_eq!(group, DhGroup::Curve25519);
    assert_eq!(p.count(SlowPathCounter::ChildInvalidKe), 1);
    let (r, _) = p.exchange(&mut e.session, &request);
    let SessionResponse::ChildCreated(child) = r else {
        panic!("expected a child SA, got {r:?}");
    };
    assert_same_child(&child, &created(&p, &e.session));
}

// RFC 7296 §2.1: a retransmitted CREATE_CHILD_SA gets the same answer,
// byte for byte, and makes no second child SA.
#[test]
fn retransmitted_create_child_sa_is_answered_identically() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let req = e
        .session
        .create_child(&ChildRequest::pfs(DhGroup::Curve25519), &mut p.client_rng)
        .unwrap();
    let first = p.gw_handle(&req).expect("an answer");
    let events = p.gw_events.len();
    let again = p.gw_handle(&req).expect("the answer again");
    assert_eq!(first, again);
    assert_eq!(p.gw_events.len(), events);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildCreated, 1),
            (SlowPathCounter::Retransmits, 1),
        ],
    );
    let r = e
        .session
        .response(p.now, &again, &mut p.client_rng)
        .unwrap();
    assert!(matches!(r, SessionResponse::ChildCreated(_)), "{r:?}");
}

// RFC 7296 §2.1: the DELETE of an IKE SA whose answer was lost is
// answered again, byte for byte, after the SA is gone; for the half-open
// timeout only, and only for the same bytes.
#[test]
fn retransmitted_delete_is_answered_identically_after_the_sa_is_gone() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let req = e.session.delete(&mut p.client_rng).unwrap();
    let first = p.gw_handle(&req).expect("an answer");
    assert!(!p.slow.contains(&e.session.spi_i(), &e.session.spi_r()));
    let again = p.gw_handle(&req).expect("the answer again");
    assert_eq!(first, again);
    assert_eq!(p.count(SlowPathCounter::DeletedRetransmits), 1);
    // One Deleted event only.
    let deleted = p
        .gw_events
        .iter()
        .filter(|e| matches!(e, SaEvent::Deleted { .. }))
        .count();
    assert_eq!(deleted, 1);
    // Other bytes for the same SPIs: nothing.
    let mut other = req.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    assert!(p.gw_handle(&other).is_none());
    // Past the half-open timeout the answer is forgotten.
    let timeout = slow_path_config().responder.half_open_timeout_ms;
    let later = p.now.plus_millis(timeout);
    p.advance_to(later);
    assert!(p.gw_handle(&req).is_none());
    assert_eq!(p.count(SlowPathCounter::DeletedRetransmits), 1);
    let r = e
        .session
        .response(p.now, &again, &mut p.client_rng)
        .unwrap();
    assert!(matches!(r, SessionResponse::Deleted));
}

// A child SA made on an IKE SA moves with it when the IKE SA is rekeyed
// (RFC 7296 §2.18), and is deleted there.
#[test]
fn children_move_with_an_ike_rekey() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let child = new_child(&mut p, &mut e.session, &ChildRequest::default());
    let req = e
        .session
        .rekey(DhGroup::Curve25519, &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::Rekeyed(mut new) = r else {
        panic!("expected a rekey, got {r:?}");
    };
    let req = new.delete_child(&[child.spi_i], &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut new, &req);
    let SessionResponse::ChildrenDeleted(ours) = r else {
        panic!("{r:?}");
    };
    assert_eq!(ours, vec![child.spi_r]);
}

// The configured limit counts live children only.
#[test]
fn a_limit_of_one_child_refuses_a_second_but_allows_a_rekey() {
    let config = SlowPathConfig {
        max_children: 1,
        ..slow_path_config()
    };
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let req = e
        .session
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::NO_ADDITIONAL_SAS
    );
    let first = e.sa.child.clone().unwrap();
    for _ in 0..3 {
        let spi = match p.gw_events.last() {
            Some(SaEvent::ChildRekeyed { child, .. }) => child.spi_i,
            _ => first.spi_i,
        };
        let req = e
            .session
            .rekey_child(spi, &ChildRequest::default(), &mut p.client_rng)
            .unwrap();
        let (r, _) = p.exchange(&mut e.session, &req);
        assert!(matches!(r, SessionResponse::ChildRekeyed { .. }), "{r:?}");
    }
    assert_eq!(p.count(SlowPathCounter::ChildRekeyed), 3);
}

/// A second full exchange of Alice on `p`'s slow path.
fn alice_again(p: &mut FullPair) -> Established {
    let cfg = std::sync::Arc::new(client_config(CURVE, DhGroup::Curve25519));
    p.client = FullInitiator::new(cfg, p.client_addr, p.gw_addr, &mut p.client_rng)
        .expect("the client starts");
    p.run();
    p.established()
}

// RFC 7296 §2.18: the IKE SA a rekey replaced only waits for its DELETE.
// Its children and internal address moved to the new SA, so a child SA
// made on it would have no address to narrow TSi to (and would cover any
// address); a CREATE_CHILD_SA for a child or another rekey, and a
// TICKET_REQUEST, get TEMPORARY_FAILURE (§2.25), counted. Liveness and the
// DELETE are answered; the new SA narrows to the address.
#[test]
fn an_ike_sa_replaced_by_a_rekey_answers_only_delete_and_liveness() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let addr = e.session.internal_addr().expect("an internal address");
    let req = e
        .session
        .rekey(DhGroup::Curve25519, &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::Rekeyed(mut new) = r else {
        panic!("expected a rekey, got {r:?}");
    };
    let old = &mut e.session;

    let req = old
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, old, &req),
        NotifyType::TEMPORARY_FAILURE,
        "a child SA on the replaced SA"
    );
    let req = old.rekey(DhGroup::Curve25519, &mut p.client_rng).unwrap();
    assert_eq!(
        refused(&mut p, old, &req),
        NotifyType::TEMPORARY_FAILURE,
        "a second rekey of the replaced SA"
    );
    let req = old.request_ticket(&mut p.client_rng).unwrap();
    let r = p.exchange(old, &req).0;
    assert!(
        matches!(r, SessionResponse::Refused(NotifyType::TEMPORARY_FAILURE)),
        "a ticket for the replaced SA: {r:?}"
    );
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ReplacedSaRefused, 3),
            (SlowPathCounter::ChildCreated, 0),
            (SlowPathCounter::Rekeyed, 1),
            (SlowPathCounter::TicketsIssued, 1),
        ],
    );

    let req = old.informational_liveness(&mut p.client_rng).unwrap();
    assert!(matches!(p.exchange(old, &req).0, SessionResponse::Alive));
    let spis = (old.spi_i(), old.spi_r());
    let req = old.delete(&mut p.client_rng).unwrap();
    assert!(matches!(p.exchange(old, &req).0, SessionResponse::Deleted));
    assert!(matches!(
        p.gw_events.last(),
        Some(SaEvent::Deleted { spi_i, spi_r }) if (*spi_i, *spi_r) == spis
    ));

    // The new SA makes children narrowed to the address.
    let child = new_child(&mut p, &mut new, &ChildRequest::default());
    assert_eq!(child.ts_i, vec![v4_single(addr)]);
}

// Our inbound ESP SPIs are unique across the gateway's IKE SAs, not only
// within one: a draw equal to another IKE SA's child SPI is drawn again.
// Every SPI the slow path picks carries its tag (0xff, as its IKE SPIrs),
// which the workers' never do; an SPI is free again once its SA is gone.
#[test]
fn child_spis_are_unique_across_ike_sas() {
    let (rng, forced) = forcing_rng(0x510e_0002);
    let mut p = FullPair::with_slow_rng(
        slow_path_config(),
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
        rng,
    );
    p.run();
    let mut a = p.established();
    let a_child = a.sa.child.clone().expect("the IKE_AUTH child");
    let mut b = alice_again(&mut p);
    let b_child = b.sa.child.clone().expect("the IKE_AUTH child");
    for spi in [a_child.spi_r, b_child.spi_r] {
        assert_eq!(spi[0], 0xff, "the slow path's tag: {spi:02x?}");
    }

    // B's next child draws A's SPI first: not taken.
    forced.lock().unwrap().push_back(a_child.spi_r);
    let child = new_child(&mut p, &mut b.session, &ChildRequest::default());
    assert_ne!(child.spi_r, a_child.spi_r);
    assert_eq!(child.spi_r[0], 0xff);
    assert!(
        forced.lock().unwrap().is_empty(),
        "the forced draw was made"
    );

    // With A deleted, its SPI is free.
    let req = a.session.delete(&mut p.client_rng).unwrap();
    p.exchange(&mut a.session, &req);
    forced.lock().unwrap().push_back(a_child.spi_r);
    let child = new_child(&mut p, &mut b.session, &ChildRequest::default());
    assert_eq!(child.spi_r, a_child.spi_r);
}

// A CREATE_CHILD_SA whose offer carries a peer SPI (the initiator's
// inbound SPI) one of the IKE SA's children has already, replaced ones
// included, is INVALID_SYNTAX: REKEY_SA and the Delete payload name a
// child by that SPI. Counted; no child is made.
#[test]
fn a_peer_spi_already_used_by_a_child_is_refused() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let first = e.sa.child.clone().expect("the IKE_AUTH child");
    force_client_spi(&mut p, first.spi_i);
    let req = e
        .session
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::INVALID_SYNTAX
    );
    // The rekey of `first` offering its own SPI again.
    force_client_spi(&mut p, first.spi_i);
    let req = e
        .session
        .rekey_child(first.spi_i, &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::INVALID_SYNTAX
    );
    // A fresh SPI rekeys it; the replaced child's SPI stays taken until
    // its DELETE.
    let req = e
        .session
        .rekey_child(first.spi_i, &ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::ChildRekeyed { .. }), "{r:?}");
    force_client_spi(&mut p, first.spi_i);
    let req = e
        .session
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    assert_eq!(
        refused(&mut p, &mut e.session, &req),
        NotifyType::INVALID_SYNTAX
    );
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildSpiReused, 3),
            (SlowPathCounter::ChildCreated, 0),
            (SlowPathCounter::ChildRekeyed, 1),
        ],
    );
    // The Delete of `first` names one child, deleted once.
    let req = e
        .session
        .delete_child(&[first.spi_i], &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildrenDeleted(ours) = r else {
        panic!("{r:?}");
    };
    assert_eq!(ours, vec![first.spi_r]);
}

// Replaced children the peer never deletes: beyond `max_children` of them
// the oldest is forgotten, and handed off as deleted (before the rekey
// that pushed it out), so the consumer does not keep it installed.
#[test]
fn replaced_children_evicted_past_the_limit_are_handed_off_as_deleted() {
    let config = SlowPathConfig {
        max_children: 1,
        ..slow_path_config()
    };
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let first = e.sa.child.clone().unwrap();
    let mut chain = vec![ChildSpis {
        spi_i: first.spi_i,
        spi_r: first.spi_r,
    }];
    let ike = (e.session.spi_i(), e.session.spi_r());
    for round in 0..3 {
        let current = *chain.last().unwrap();
        let req = e
            .session
            .rekey_child(current.spi_i, &ChildRequest::default(), &mut p.client_rng)
            .unwrap();
        let events = p.gw_events.len();
        let (r, _) = p.exchange(&mut e.session, &req);
        let SessionResponse::ChildRekeyed { child, .. } = r else {
            panic!("round {round}: {r:?}");
        };
        let new: Vec<_> = p.gw_events.drain(events..).collect();
        match (round, new.as_slice()) {
            (0, [SaEvent::ChildRekeyed { .. }]) => {}
            (
                _,
                [
                    SaEvent::ChildDeleted { ike: i, children },
                    SaEvent::ChildRekeyed { .. },
                ],
            ) => {
                assert_eq!(*i, ike);
                // The oldest replaced child.
                assert_eq!(children, &[chain[round - 1]], "round {round}");
            }
            other => panic!("round {round}: {other:?}"),
        }
        chain.push(ChildSpis {
            spi_i: child.spi_i,
            spi_r: child.spi_r,
        });
    }
    assert_eq!(p.count(SlowPathCounter::ChildEvicted), 2);
    // The evicted child is unknown now: its Delete names nothing here.
    let req = e
        .session
        .delete_child(&[first.spi_i], &mut p.client_rng)
        .unwrap();
    let events = p.gw_events.len();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(
        matches!(&r, SessionResponse::ChildrenDeleted(v) if v.is_empty()),
        "{r:?}"
    );
    assert_eq!(p.gw_events.len(), events);
}

// RFC 7296 §1.4.1: one Delete payload naming more than 16 child SAs (20
// here) deletes every one, and the answer lists our SPI of each.
#[test]
fn one_delete_payload_deletes_every_child_it_names() {
    let config = SlowPathConfig {
        max_children: 20,
        ..slow_path_config()
    };
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let mut children = vec![e.sa.child.clone().unwrap()];
    for _ in 0..19 {
        children.push(new_child(&mut p, &mut e.session, &ChildRequest::default()));
    }
    let theirs: Vec<[u8; 4]> = children.iter().map(|c| c.spi_i).collect();
    let req = e.session.delete_child(&theirs, &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildrenDeleted(ours) = r else {
        panic!("{r:?}");
    };
    let want: Vec<[u8; 4]> = children.iter().map(|c| c.spi_r).collect();
    assert_eq!(ours, want);
    match p.gw_events.last() {
        Some(SaEvent::ChildDeleted { children: gone, .. }) => assert_eq!(gone.len(), 20),
        other => panic!("expected ChildDeleted, got {other:?}"),
    }
    assert_eq!(p.count(SlowPathCounter::ChildDeleted), 20);
    // None is left: twenty new ones fit again.
    for _ in 0..20 {
        new_child(&mut p, &mut e.session, &ChildRequest::default());
    }
}

// A child delete whose answer cannot be built (no room for it) deletes
// nothing: no event, no answer, and the request, sent again, is answered
// with the child's SPI and handed off then.
#[test]
fn a_child_delete_whose_answer_fails_deletes_nothing() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let first = e.sa.child.clone().unwrap();
    let req = e
        .session
        .delete_child(&[first.spi_i], &mut p.client_rng)
        .unwrap();
    let meta = rebound_engine::responder::PacketMeta {
        peer: p.client_addr,
        local: p.gw_addr,
    };
    let mut small = [0u8; 40];
    let o = p.slow.handle(p.now, &meta, &req, &mut small);
    assert!(o.reply.is_none() && o.events.is_empty(), "{o:?}");
    assert_eq!(p.count(SlowPathCounter::ChildDeleted), 0);
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::ChildrenDeleted(ours) = r else {
        panic!("{r:?}");
    };
    assert_eq!(ours, vec![first.spi_r]);
    assert!(matches!(
        p.gw_events.last(),
        Some(SaEvent::ChildDeleted { children, .. }) if children.len() == 1
    ));
    assert_eq!(p.count(SlowPathCounter::ChildDeleted), 1);
}

/// The payloads of a hand-made CREATE_CHILD_SA for a child SA: by default
/// a well-formed request without PFS, `SA, Ni, TSi, TSr`, offering the
/// first default ESP proposal with peer SPI `spi` and any IPv4 address on
/// both sides.
struct Hostile<'a> {
    spi: [u8; 4],
    /// N(REKEY_SA): its protocol and SPI.
    rekey: Option<(ProtocolId, &'a [u8])>,
    sa: bool,
    nonce: Option<&'a [u8]>,
    /// KEi; its group is offered in the proposal too (PFS).
    ke: Option<(DhGroup, &'a [u8])>,
    tsi: bool,
    tsr: bool,
}

impl Hostile<'_> {
    fn new(spi: [u8; 4]) -> Self {
        Hostile {
            spi,
            rekey: None,
            sa: true,
            nonce: Some(&[0x4e; 32]),
            ke: None,
            tsi: true,
            tsr: true,
        }
    }
}

/// `h` as a protected request of `session`'s IKE SA with message id `id`.
fn hostile(session: &ClientSession, id: u32, h: &Hostile<'_>) -> Vec<u8> {
    let groups: Vec<DhGroup> = h.ke.iter().map(|(g, _)| *g).collect();
    let tf = esp_transforms_pfs(&EspProposal::DEFAULT[0], &groups);
    let props = [ProposalSpec {
        num: 1,
        protocol: ProtocolId::ESP,
        spi: &h.spi,
        transforms: &tf,
    }];
    let any = [v4([0; 4], [255; 4]).selector()];
    let mut inner = Vec::new();
    if let Some((protocol, spi)) = h.rekey {
        inner.push(Payload::Notify(NotifyRepr {
            protocol,
            notify_type: NotifyType::REKEY_SA,
            spi,
            data: &[],
        }));
    }
    if h.sa {
        inner.push(Payload::Sa(SaRepr::new(&props)));
    }
    if let Some(nonce) = h.nonce {
        inner.push(Payload::Nonce(NonceRepr { nonce }));
    }
    if let Some((g, key_data)) = h.ke {
        inner.push(Payload::Ke(KeRepr {
            dh_group: g.id(),
            key_data,
        }));
    }
    if h.tsi {
        inner.push(Payload::TsI(TsRepr::new(&any)));
    }
    if h.tsr {
        inner.push(Payload::TsR(TsRepr::new(&any)));
    }
    crafted_create_child(session, id, &inner)
}

/// Send the hand-made `req` (message id `id`) and open the answer; the
/// slow path makes no event for it.
fn hostile_refused(p: &mut FullPair, session: &ClientSession, id: u32, req: &[u8]) -> Opened {
    let events = p.gw_events.len();
    let answer = p.gw_handle(req).expect("the slow path answers");
    assert_eq!(p.gw_events.len(), events, "a refusal makes no event");
    let opened = open_answer(session, &answer);
    assert_eq!(
        (opened.message_id, opened.exchange),
        (id, ExchangeType::CREATE_CHILD_SA)
    );
    opened
}

/// A hand-made request that is accepted: the slow path hands off a child
/// SA with peer SPI `spi`; the answer's payload types.
fn hostile_accepted(
    p: &mut FullPair,
    session: &ClientSession,
    id: u32,
    req: &[u8],
    spi: [u8; 4],
) -> Vec<PayloadType> {
    let answer = p.gw_handle(req).expect("the slow path answers");
    let opened = open_answer(session, &answer);
    assert_eq!(opened.message_id, id);
    assert!(opened.notifies.is_empty(), "{opened:?}");
    match p.gw_events.last() {
        Some(SaEvent::ChildCreated { ike, child }) => {
            assert_eq!(*ike, (session.spi_i(), session.spi_r()));
            assert_eq!(child.spi_i, spi);
        }
        other => panic!("expected ChildCreated, got {other:?}"),
    }
    opened.types
}

/// `SA, Nr, TSi, TSr`: a child SA without PFS.
const CHILD_ANSWER: [PayloadType; 4] = [
    PayloadType::SA,
    PayloadType::NONCE,
    PayloadType::TSI,
    PayloadType::TSR,
];

// RFC 7296 §1.3.1 with PFS: a KEi of the chosen proposal's group whose
// public value is invalid (RFC 8031 §2.3 all-zero X25519, whose shared
// secret is all zero; a length other than the group's, RFC 7296 §3.4; a
// P-256 point not on the curve, RFC 5903 §7; a MODP value of 1) is
// refused INVALID_SYNTAX, counted `child_bad_public_value`, and makes no
// child: the same peer SPI with a valid value is taken after.
#[test]
fn child_bad_public_value_is_invalid_syntax_and_makes_no_child() {
    let (mut p, e) = full(CURVE, DhGroup::Curve25519);
    let mut modp_one = vec![0; 256];
    modp_one[255] = 1;
    let cases: [(DhGroup, Vec<u8>); 5] = [
        (DhGroup::Curve25519, vec![0; 32]),
        (DhGroup::Curve25519, vec![9; 31]),
        (DhGroup::Ecp256, vec![0; 64]),
        (DhGroup::Ecp256, vec![1; 63]),
        (DhGroup::Modp2048, modp_one),
    ];
    let spi = [0x0b, 0xad, 0x00, 0x01];
    let mut id = e.session.next_message_id();
    for (i, (group, key)) in cases.iter().enumerate() {
        let req = hostile(
            &e.session,
            id,
            &Hostile {
                ke: Some((*group, key)),
                ..Hostile::new(spi)
            },
        );
        let answer = hostile_refused(&mut p, &e.session, id, &req);
        assert_eq!(
            answer.only_notify(),
            (NotifyType::INVALID_SYNTAX, vec![]),
            "case {i}"
        );
        assert_eq!(
            p.count(SlowPathCounter::ChildBadPublicValue),
            i as u64 + 1,
            "case {i}"
        );
        id += 1;
    }
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildCreated, 0),
            (SlowPathCounter::ChildInvalidKe, 0),
            (SlowPathCounter::ChildSpiReused, 0),
            (SlowPathCounter::ChildInvalidSyntax, 0),
            (SlowPathCounter::Malformed, 0),
        ],
    );
    // No child kept the SPI: a valid value with it makes one.
    let mut rng = pair::rng(0xbad);
    let dh = DhPrivate::generate(DhGroup::Curve25519, &mut rng);
    let req = hostile(
        &e.session,
        id,
        &Hostile {
            ke: Some((DhGroup::Curve25519, dh.public_value())),
            ..Hostile::new(spi)
        },
    );
    let types = hostile_accepted(&mut p, &e.session, id, &req, spi);
    assert_eq!(
        types,
        [
            PayloadType::SA,
            PayloadType::NONCE,
            PayloadType::KE,
            PayloadType::TSI,
            PayloadType::TSR
        ]
    );
    assert_eq!(p.count(SlowPathCounter::ChildCreated), 1);
}

// RFC 7296 §1.3.1: a child SA request is `[N(REKEY_SA)], SA, Ni, [KEi],
// TSi, TSr`. Without SA, Ni, TSi or TSr, or with N(REKEY_SA) for ESP
// whose SPI is not 4 octets (§3.10: the SPI of an ESP SA), it is
// INVALID_SYNTAX, counted `child_invalid_syntax`. A nonce outside
// 16..=256 octets (§3.9) is refused by the payload codec already: the
// request is malformed (`malformed`), answered INVALID_SYNTAX as well.
// N(REKEY_SA) for another protocol than ESP names no child here:
// CHILD_SA_NOT_FOUND. None of them changes anything: a well-formed
// request with the same SPI makes a child after.
#[test]
fn child_invalid_syntax_for_missing_payloads_short_nonce_and_bad_rekey_spi() {
    let (mut p, e) = full(CURVE, DhGroup::Curve25519);
    let first = e.sa.child.clone().expect("the IKE_AUTH child");
    let spi = [0x5e, 0x00, 0x00, 0x01];
    let three = [first.spi_i[0], first.spi_i[1], first.spi_i[2]];
    let short = [0x4e; 15];
    let long = [0x4e; 257];
    // (what is wrong, the request, its counter and that counter's value
    // after it)
    let cases: Vec<(&str, Hostile<'_>, SlowPathCounter, u64)> = vec![
        (
            "no TSr",
            Hostile {
                tsr: false,
                ..Hostile::new(spi)
            },
            SlowPathCounter::ChildInvalidSyntax,
            1,
        ),
        (
            "no SA",
            Hostile {
                sa: false,
                ..Hostile::new(spi)
            },
            SlowPathCounter::ChildInvalidSyntax,
            2,
        ),
        (
            "no Ni",
            Hostile {
                nonce: None,
                ..Hostile::new(spi)
            },
            SlowPathCounter::ChildInvalidSyntax,
            3,
        ),
        (
            "no TSi",
            Hostile {
                tsi: false,
                ..Hostile::new(spi)
            },
            SlowPathCounter::ChildInvalidSyntax,
            4,
        ),
        (
            "REKEY_SA with a 3-octet ESP SPI",
            Hostile {
                rekey: Some((ProtocolId::ESP, &three)),
                ..Hostile::new(spi)
            },
            SlowPathCounter::ChildInvalidSyntax,
            5,
        ),
        (
            "a 15-octet nonce",
            Hostile {
                nonce: Some(&short),
                ..Hostile::new(spi)
            },
            SlowPathCounter::Malformed,
            1,
        ),
        (
            "a 257-octet nonce",
            Hostile {
                nonce: Some(&long),
                ..Hostile::new(spi)
            },
            SlowPathCounter::Malformed,
            2,
        ),
    ];
    let mut id = e.session.next_message_id();
    for (what, h, counter, n) in &cases {
        let req = hostile(&e.session, id, h);
        let answer = hostile_refused(&mut p, &e.session, id, &req);
        assert_eq!(
            answer.only_notify(),
            (NotifyType::INVALID_SYNTAX, vec![]),
            "{what}"
        );
        assert_eq!(p.count(*counter), *n, "{what}");
        id += 1;
    }
    // REKEY_SA for AH, with the SPI of the ESP child: no such child.
    let req = hostile(
        &e.session,
        id,
        &Hostile {
            rekey: Some((ProtocolId::AH, &first.spi_i)),
            ..Hostile::new(spi)
        },
    );
    let answer = hostile_refused(&mut p, &e.session, id, &req);
    assert_eq!(
        answer.only_notify(),
        (NotifyType::CHILD_SA_NOT_FOUND, vec![])
    );
    id += 1;
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildInvalidSyntax, 5),
            (SlowPathCounter::Malformed, 2),
            (SlowPathCounter::ChildNotFound, 1),
            (SlowPathCounter::ChildCreated, 0),
            (SlowPathCounter::ChildRekeyed, 0),
            (SlowPathCounter::ChildSpiReused, 0),
            (SlowPathCounter::BadMessageId, 0),
        ],
    );
    // Nothing changed: the same SPI makes a child; the IKE_AUTH child is
    // still there to be rekeyed by its 4-octet SPI.
    let req = hostile(&e.session, id, &Hostile::new(spi));
    let types = hostile_accepted(&mut p, &e.session, id, &req, spi);
    assert_eq!(types, CHILD_ANSWER);
    id += 1;
    let next = [0x5e, 0x00, 0x00, 0x02];
    let req = hostile(
        &e.session,
        id,
        &Hostile {
            rekey: Some((ProtocolId::ESP, &first.spi_i)),
            ..Hostile::new(next)
        },
    );
    let answer = p.gw_handle(&req).expect("the slow path answers");
    assert_eq!(open_answer(&e.session, &answer).types, CHILD_ANSWER);
    assert!(
        matches!(
            p.gw_events.last(),
            Some(SaEvent::ChildRekeyed { old, child, .. })
                if old.spi_i == first.spi_i && child.spi_i == next
        ),
        "{:?}",
        p.gw_events.last()
    );
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildCreated, 1),
            (SlowPathCounter::ChildRekeyed, 1),
        ],
    );
}

// A worker draws its children's inbound SPIs without knowing the slow
// path's (docs/ARCHITECTURE.md): a resumed SA adopted with a child whose
// SPI a child here has already is adopted all the same, counted
// `child_spi_collision` (the hand-off consumer refuses the duplicate).
// The SPI stays taken while either child has it: a draw equal to it is
// drawn again until both are gone.
#[test]
fn child_spi_collision_on_adopt_is_counted_and_the_spi_stays_taken() {
    let (rng, forced) = forcing_rng(0x510e_0003);
    let mut p = FullPair::with_slow_rng(
        slow_path_config(),
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
        rng,
    );
    p.run();
    let mut a = p.established();
    let mut b = alice_again(&mut p);
    let taken = b.sa.child.clone().expect("the IKE_AUTH child").spi_r;

    let (ev, gw_sa) = p.resume(a.ticket.take().expect("a ticket"));
    let client_sa = resumed(&ev).0.clone();
    let mut gw_sa = gw_sa.expect("the gateway resumed the SA");
    // The worker's draw happened to be B's child's SPI.
    let worker_child = gw_sa.child.as_mut().expect("the resumed child");
    worker_child.spi_r = taken;
    let resumed_spi_i = worker_child.spi_i;
    let (old_i, old_r) = gw_sa.replaces().expect("a resumed SA");
    assert!(p.slow.remove_silently(&old_i, &old_r));
    assert_eq!(p.count(SlowPathCounter::ChildSpiCollision), 0);
    assert!(p.slow.adopt(p.now, &gw_sa).expect("adopted").is_empty());
    assert!(p.slow.contains(&gw_sa.spi_i, &gw_sa.spi_r));
    assert_eq!(p.count(SlowPathCounter::ChildSpiCollision), 1);

    let config = std::sync::Arc::new(client_config(CURVE, DhGroup::Curve25519));
    let mut c = ClientSession::resumed(config, &client_sa).expect("a session");
    // Both children have the SPI: a draw of it is drawn again.
    forced.lock().unwrap().push_back(taken);
    let child = new_child(&mut p, &mut c, &ChildRequest::default());
    assert_ne!(child.spi_r, taken);
    assert!(
        forced.lock().unwrap().is_empty(),
        "the forced draw was made"
    );
    // B gone, the adopted child still has it.
    let req = b.session.delete(&mut p.client_rng).unwrap();
    assert!(matches!(
        p.exchange(&mut b.session, &req).0,
        SessionResponse::Deleted
    ));
    forced.lock().unwrap().push_back(taken);
    let child = new_child(&mut p, &mut c, &ChildRequest::default());
    assert_ne!(child.spi_r, taken);
    // The adopted child deleted (its Delete answered with the SPI as
    // adopted), the SPI is free.
    let req = c.delete_child(&[resumed_spi_i], &mut p.client_rng).unwrap();
    let SessionResponse::ChildrenDeleted(ours) = p.exchange(&mut c, &req).0 else {
        panic!("expected the deleted children");
    };
    assert_eq!(ours, vec![taken]);
    forced.lock().unwrap().push_back(taken);
    let child = new_child(&mut p, &mut c, &ChildRequest::default());
    assert_eq!(child.spi_r, taken);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::ChildSpiCollision, 1),
            (SlowPathCounter::ChildCreated, 3),
            (SlowPathCounter::ChildDeleted, 1),
        ],
    );
}
