//! Child SAs on an established IKE SA, in memory on a virtual clock: new
//! child SAs with and without PFS, child rekeys and deletes, every refusal
//! (CHILD_SA_NOT_FOUND, TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN,
//! INVALID_KE_PAYLOAD, NO_ADDITIONAL_SAS, INVALID_SYNTAX for a peer SPI in
//! use, TEMPORARY_FAILURE on an IKE SA a rekey replaced), SPIs unique on
//! the gateway, and retransmitted requests answered from the cache (RFC
//! 7296 §1.3.1, §1.3.3, §1.4.1, §2.1, §2.18, §2.25). Hand-made hostile
//! requests are in slow_path_child_hostile.rs.

#[path = "common/children.rs"]
mod children;
#[path = "common/full_pair.rs"]
mod full_pair;
#[path = "common/pair.rs"]
mod pair;

use children::*;
use full_pair::*;
use rebound_engine::child::EspProposal;
use rebound_engine::client::{ChildRequest, SessionResponse};
use rebound_engine::crypto::DhGroup;
use rebound_engine::handoff::ChildSpis;
use rebound_engine::slow_path::{SaChange, SaEvent, SlowPathConfig, SlowPathCounter};
use rebound_engine::wire::NotifyType;

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
    assert_eq!(child.ts_i[..], [v4_single(addr)]);
    assert_eq!(child.ts_r[..], [v4([192, 0, 2, 0], [192, 0, 2, 255])]);
    assert_ne!(child.spi_r, first.spi_r);
    assert!(!child.keys.encr_i2r.ct_eq(&first.keys.encr_i2r));
    assert_eq!(p.count(SlowPathCounter::ChildCreated), 1);
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
    let Some(SaEvent::Changed(SaChange::ChildRekeyed {
        ike,
        old: gw_old,
        child: gw_child,
    })) = p.gw_events.last()
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
        Some(SaEvent::Changed(SaChange::ChildDeleted { ike, children })) => {
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
        .filter(|e| matches!(e, SaEvent::Changed(SaChange::Deleted { .. })))
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
            Some(SaEvent::Changed(SaChange::ChildRekeyed { child, .. })) => child.spi_i,
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
        Some(SaEvent::Changed(SaChange::Deleted { spi_i, spi_r })) if (*spi_i, *spi_r) == spis
    ));

    // The new SA makes children narrowed to the address.
    let child = new_child(&mut p, &mut new, &ChildRequest::default());
    assert_eq!(child.ts_i[..], [v4_single(addr)]);
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
            (0, [SaEvent::Changed(SaChange::ChildRekeyed { .. })]) => {}
            (
                _,
                [
                    SaEvent::Changed(SaChange::ChildDeleted { ike: i, children }),
                    SaEvent::Changed(SaChange::ChildRekeyed { .. }),
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
        Some(SaEvent::Changed(SaChange::ChildDeleted { children: gone, .. })) => {
            assert_eq!(gone.len(), 20)
        }
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
        Some(SaEvent::Changed(SaChange::ChildDeleted { children, .. })) if children.len() == 1
    ));
    assert_eq!(p.count(SlowPathCounter::ChildDeleted), 1);
}
