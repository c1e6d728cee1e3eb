//! The slow path over an SA's life, in memory: a resumed SA adopted from a
//! worker (tickets by INFORMATIONAL, DELETE revoking them whatever their
//! lifetime), timers, internal addresses given back, and forged KE
//! payloads refused before any key is generated.

#[path = "common/full_pair.rs"]
mod full_pair;
#[path = "common/pair.rs"]
mod pair;

use std::sync::Arc;

use full_pair::*;
use pair::{Gateway, HOUR, ring_with};
use rebound_engine::client::{
    ClientSession, Fallback, FullConfig, FullInitiator, InitiatorConfig, InitiatorEvent,
    SessionResponse, TicketReply,
};
use rebound_engine::crypto::DhGroup;
use rebound_engine::responder::ResponderConfig;
use rebound_engine::slow_path::{SaChange, SaEvent, SlowPathCounter};
use rebound_engine::time::Timestamp;

// The control plane adopts every SA a worker resumes into the slow path,
// which then answers its INFORMATIONAL exchanges: a ticket request (the
// next ticket) and DELETE (revoking it), message ids going on from 2.
#[test]
fn a_resumed_sa_adopted_by_the_slow_path_gets_tickets_and_is_deleted() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let ticket = e.ticket.take().unwrap();
    let (ev, gw_sa) = p.resume(ticket);
    let (client_sa, _) = resumed(&ev);
    let gw_sa = gw_sa.expect("the gateway resumed the SA");
    // As the control plane does: the replaced SA goes silently, the
    // resumed one is adopted.
    let (old_i, old_r) = gw_sa.replaces().expect("a resumed SA");
    assert!(p.slow.remove_silently(&old_i, &old_r));
    assert!(p.slow.adopt(p.now, &gw_sa).unwrap().is_empty());
    assert!(
        p.slow.adopt(p.now, &gw_sa).is_err(),
        "the same SPIs twice are refused"
    );
    assert!(p.slow.contains(&gw_sa.spi_i, &gw_sa.spi_r));

    let config = Arc::new(client_config(CURVE, DhGroup::Curve25519));
    let mut session = ClientSession::resumed(config, client_sa).expect("a session");
    assert_eq!(session.next_message_id(), 2);
    let req = session.request_ticket(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut session, &req);
    let next = match r {
        SessionResponse::Ticket(TicketReply::Issued(t)) => t,
        other => panic!("expected a ticket, got {other:?}"),
    };
    assert_eq!(p.count(SlowPathCounter::TicketsIssued), 2);
    // The ticket the resumption issued is replaced (and revoked).
    assert_eq!(p.count(SlowPathCounter::TicketsRevoked), 1);

    let req = session.delete(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut session, &req);
    assert!(matches!(r, SessionResponse::Deleted));
    assert!(!p.slow.contains(&gw_sa.spi_i, &gw_sa.spi_r));
    assert_eq!(p.count(SlowPathCounter::Deleted), 1);
    // (Past the resumption gateway's cache of the first resumption: the
    // harness's second client reuses the first one's SPIi and address.)
    let later = p.now.plus_millis(31_000);
    p.advance_to(later);
    // The ticket went with the SA.
    let (ev, gw) = p.resume(next);
    assert!(
        matches!(ev, InitiatorEvent::Failed(Fallback::TicketRefused)),
        "{ev:?}"
    );
    assert!(gw.is_none());
}

// Timers: a half-open SA expires after `half_open_timeout_ms` (its late
// IKE_AUTH is then unknown), an established one at its re-authentication
// deadline, and nothing expires early.
#[test]
fn half_open_and_established_sas_expire_at_their_deadlines() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    // IKE_SA_INIT only: the answer reaches the client, its IKE_AUTH is
    // held back.
    let init = p.client_transmit().remove(0);
    let answer = p.gw_handle(&init).expect("IKE_SA_INIT answered");
    p.client_receive(&answer);
    let auth = p.client_transmit().remove(0);
    assert_eq!(p.slow.half_open(), 1);
    let timeout = ResponderConfig::default().half_open_timeout_ms;
    let almost = p.now.plus_millis(timeout - 1);
    p.slow.handle_timeout(almost);
    assert_eq!(p.slow.half_open(), 1, "not yet");
    let past = p.now.plus_millis(timeout);
    p.slow.handle_timeout(past);
    assert_eq!(p.slow.half_open(), 0);
    assert_eq!(p.count(SlowPathCounter::HalfOpenExpired), 1);
    assert_eq!(p.gw_handle(&auth), None);
    assert_eq!(p.count(SlowPathCounter::UnknownSpi), 1);

    // An established SA lives until its re-authentication deadline
    // (20 hours in `slow_path_config`).
    let (mut p, e) = full(CURVE, DhGroup::Curve25519);
    assert_eq!(p.slow.established(), 1);
    let deadline = Timestamp::from_secs(p.gw_sa().reauth_deadline);
    p.slow
        .handle_timeout(Timestamp::from_secs(deadline.secs() - 1));
    assert!(p.slow.contains(&e.sa.spi_i, &e.sa.spi_r));
    p.slow.handle_timeout(deadline);
    assert!(!p.slow.contains(&e.sa.spi_i, &e.sa.spi_r));
    assert_eq!(p.slow.established(), 0);
    assert_eq!(p.count(SlowPathCounter::ReauthExpired), 1);
    assert_eq!(
        p.count(SlowPathCounter::HalfOpenExpired),
        0,
        "the half-open deadline it had is stale"
    );
}

// A resumed SA whose resumption ticket lives 2 hours while its SA may live
// 20: DELETE of the adopted SA still revokes that ticket (claimed in the
// guard under the ticket's own expiry, which the hand-off carries).
#[test]
fn delete_of_an_adopted_sa_revokes_its_short_lived_resumption_ticket() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let old = p.gw.take().unwrap();
    let mut cfg = ResponderConfig::default();
    cfg.tickets.ike_lifetime_secs = 2 * HOUR;
    p.gw = Some(Gateway::with(
        cfg,
        None,
        old.guard.clone(),
        ring_with(1, 0x11),
    ));
    let (ev, gw_sa) = p.resume(e.ticket.take().unwrap());
    let (client_sa, next) = resumed(&ev);
    let (client_sa, next) = (client_sa.clone(), next.cloned().expect("a next ticket"));
    let gw_sa = gw_sa.unwrap();
    let issued = gw_sa.new_ticket.expect("the gateway's ticket");
    assert!(issued.expiry < gw_sa.reauth_deadline, "a shorter ticket");
    let (oi, or) = gw_sa.replaces().unwrap();
    assert!(p.slow.remove_silently(&oi, &or));
    assert!(p.slow.adopt(p.now, &gw_sa).unwrap().is_empty());
    let config = Arc::new(client_config(CURVE, DhGroup::Curve25519));
    let mut session = ClientSession::resumed(config, &client_sa).unwrap();
    let req = session.delete(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut session, &req);
    assert!(matches!(r, SessionResponse::Deleted));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::TicketsRevoked, 1),
            (SlowPathCounter::RevokeFailed, 0),
        ],
    );
    let later = p.now.plus_millis(31_000);
    p.advance_to(later);
    let (ev, gw) = p.resume(next);
    assert!(
        matches!(ev, InitiatorEvent::Failed(Fallback::TicketRefused)),
        "{ev:?}"
    );
    assert!(gw.is_none());
}

// Forged KE payloads (wrong length, out of range, off the curve) are
// refused with INVALID_SYNTAX and leave no state; the cheap checks run
// before the responder generates its own value (see `check_public`).
#[test]
fn forged_ke_payloads_are_refused_and_leave_no_state() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let modp = "aes256gcm16-prfsha256-modp2048";
    let cases: [(&str, DhGroup, Vec<u8>); 4] = [
        (modp, DhGroup::Modp2048, vec![1]),
        (modp, DhGroup::Modp2048, vec![0xff; 256]),
        ("aes256gcm16-prfsha256-ecp384", DhGroup::Ecp384, vec![0; 96]),
        ("aes256gcm16-prfsha256-ecp256", DhGroup::Ecp256, vec![1; 63]),
    ];
    for (i, (prop, group, key)) in cases.iter().enumerate() {
        let req = crafted_init_offering([0x77, i as u8, 1, 2, 3, 4, 5, 6], prop, *group, key);
        let answer = p.gw_handle(&req).expect("an answer");
        let (n, _) = only_notify(&answer);
        assert_eq!(
            n,
            rebound_engine::wire::NotifyType::INVALID_SYNTAX,
            "case {i}"
        );
    }
    assert_eq!(p.slow.half_open(), 0);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitBadPublicValue, 4),
            (SlowPathCounter::InitAccepted, 0),
        ],
    );
}

// Internal addresses go back to the pool when the SA is deleted or expires:
// one client connecting and deleting 150 times never exhausts a pool of
// 100 addresses.
#[test]
fn deleted_and_expired_sas_give_their_internal_address_back() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let cfg = Arc::new(client_config(CURVE, DhGroup::Curve25519));
    for round in 0..150 {
        if round > 0 {
            p.client = FullInitiator::new(cfg.clone(), p.client_addr, p.gw_addr, &mut p.client_rng)
                .unwrap();
        }
        p.run();
        let mut e = p.established();
        assert_eq!(e.child_error, None, "round {round}");
        assert!(e.sa.internal_addr.is_some(), "round {round}");
        let req = e.session.delete(&mut p.client_rng).unwrap();
        let (r, _) = p.exchange(&mut e.session, &req);
        assert!(matches!(r, SessionResponse::Deleted));
    }
    // And at the re-authentication deadline: 101 SAs that expire one after
    // the other.
    for round in 0..101 {
        p.client =
            FullInitiator::new(cfg.clone(), p.client_addr, p.gw_addr, &mut p.client_rng).unwrap();
        p.run();
        let e = p.established();
        assert_eq!(e.child_error, None, "expiry round {round}");
        let deadline = Timestamp::from_secs(p.gw_sa().reauth_deadline);
        p.advance_to(deadline);
    }
    assert_eq!(p.count(SlowPathCounter::ReauthExpired), 101);
}

/// A second full exchange of the client in `cfg` on `p`'s slow path.
fn full_again(p: &mut FullPair, cfg: FullConfig) -> full_pair::Established {
    p.client = FullInitiator::new(Arc::new(cfg), p.client_addr, p.gw_addr, &mut p.client_rng)
        .expect("the client starts");
    p.run();
    p.established()
}

fn deleted_spis(events: &[SaEvent]) -> Vec<([u8; 8], [u8; 8])> {
    events
        .iter()
        .filter_map(|e| match e {
            SaEvent::Changed(SaChange::Deleted { spi_i, spi_r }) => Some((*spi_i, *spi_r)),
            _ => None,
        })
        .collect()
}

// RFC 4478: the IKE_AUTH answer carries AUTH_LIFETIME, the seconds left
// until the re-authentication deadline, in a full exchange and in a
// resumption (which keeps the full exchange's deadline); the client reads
// it. The ticket never outlives the deadline (resume_pair.rs,
// `the_new_ticket_never_outlives_the_reauth_deadline`).
#[test]
fn auth_lifetime_is_sent_in_full_and_resumed_ike_auth() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    assert_eq!(e.auth_lifetime, Some((20 * HOUR) as u32));
    assert_eq!(e.sa.reauth_deadline, p.gw_sa().reauth_deadline);
    let later = p.now.plus_millis(HOUR * 1000);
    p.advance_to(later);
    let (ev, _) = p.resume(e.ticket.take().unwrap());
    match ev {
        InitiatorEvent::Established { auth_lifetime, .. } => {
            assert_eq!(auth_lifetime, Some((19 * HOUR) as u32));
        }
        other => panic!("the ticket did not resume: {other:?}"),
    }
}

// RFC 7296 §2.4: a new IKE SA whose IKE_AUTH carries INITIAL_CONTACT ends
// the other SAs of the same identity (handed off as deleted, tickets
// revoked); another identity's SA stays.
#[test]
fn initial_contact_in_a_full_exchange_deletes_the_identitys_other_sas() {
    let bob = fqdn(b"bob.example.net");
    let mut bob_cfg = client_config(CURVE, DhGroup::Curve25519);
    bob_cfg.id_i = bob;
    bob_cfg.psk = secret(b"bob's pre-shared key, long enough too");
    let mut p = FullPair::new(
        slow_path_config(),
        vec![
            psk(alice(), ALICE_PSK),
            psk(bob, b"bob's pre-shared key, long enough too"),
        ],
        bob_cfg,
    );
    p.run();
    let b = p.established();
    let mut a = full_again(&mut p, client_config(CURVE, DhGroup::Curve25519));
    let a_spis = (a.sa.spi_i, a.sa.spi_r);
    let mut cfg = client_config(CURVE, DhGroup::Curve25519);
    cfg.initial_contact = true;
    let events = p.gw_events.len();
    let c = full_again(&mut p, cfg);
    let new: Vec<_> = p.gw_events.drain(events..).collect();
    assert!(matches!(new.first(), Some(SaEvent::Established(_))));
    assert_eq!(deleted_spis(&new), vec![a_spis]);
    assert!(!p.slow.contains(&a_spis.0, &a_spis.1));
    assert!(p.slow.contains(&b.sa.spi_i, &b.sa.spi_r));
    assert!(p.slow.contains(&c.sa.spi_i, &c.sa.spi_r));
    assert_eq!(p.count(SlowPathCounter::InitialContactDeleted), 1);
    // Its ticket went with it, as for a delete.
    let (ev, _) = p.resume(a.ticket.take().unwrap());
    assert!(
        matches!(ev, InitiatorEvent::Failed(Fallback::TicketRefused)),
        "{ev:?}"
    );
}

// RFC 7296 §2.4 via the workers: a resumed IKE_AUTH with INITIAL_CONTACT
// marks the SA, and adopting it deletes the identity's other SAs (the SA
// the resumption replaced was removed silently before).
#[test]
fn initial_contact_in_a_resumption_deletes_the_identitys_other_sas_on_adopt() {
    let (mut p, mut a) = full(CURVE, DhGroup::Curve25519);
    let other = full_again(&mut p, client_config(CURVE, DhGroup::Curve25519));
    let cfg = InitiatorConfig {
        initial_contact: true,
        ..InitiatorConfig::default()
    };
    let (ev, gw_sa) = p.resume_with(cfg, a.ticket.take().unwrap());
    resumed(&ev);
    let gw_sa = gw_sa.expect("the gateway resumed the SA");
    assert!(gw_sa.initial_contact);
    let (old_i, old_r) = gw_sa.replaces().unwrap();
    assert!(p.slow.remove_silently(&old_i, &old_r));
    let events = p.slow.adopt(p.now, &gw_sa).expect("adopted");
    assert_eq!(
        deleted_spis(&events),
        vec![(other.sa.spi_i, other.sa.spi_r)]
    );
    assert!(!p.slow.contains(&other.sa.spi_i, &other.sa.spi_r));
    assert!(p.slow.contains(&gw_sa.spi_i, &gw_sa.spi_r));
    assert_eq!(p.count(SlowPathCounter::InitialContactDeleted), 1);
}

// RFC 7296 §2.4 via the workers, with a newer SA: between the resumed
// IKE_AUTH carrying INITIAL_CONTACT and its adoption, the same identity
// made another SA through the slow path. Adopting ends only the SAs
// established by the time of the resumption; the newer one stays.
#[test]
fn initial_contact_on_adopt_spares_an_sa_established_after_the_resumption() {
    let (mut p, mut a) = full(CURVE, DhGroup::Curve25519);
    let older = full_again(&mut p, client_config(CURVE, DhGroup::Curve25519));
    let cfg = InitiatorConfig {
        initial_contact: true,
        ..InitiatorConfig::default()
    };
    let (ev, gw_sa) = p.resume_with(cfg, a.ticket.take().unwrap());
    resumed(&ev);
    let gw_sa = gw_sa.expect("the gateway resumed the SA");
    assert!(gw_sa.initial_contact);
    // The hand-off takes a second; meanwhile a full exchange completes.
    let later = p.now.plus_millis(1000);
    p.advance_to(later);
    let newer = full_again(&mut p, client_config(CURVE, DhGroup::Curve25519));
    let (old_i, old_r) = gw_sa.replaces().unwrap();
    assert!(p.slow.remove_silently(&old_i, &old_r));
    let events = p.slow.adopt(p.now, &gw_sa).expect("adopted");
    assert_eq!(
        deleted_spis(&events),
        vec![(older.sa.spi_i, older.sa.spi_r)]
    );
    assert!(p.slow.contains(&newer.sa.spi_i, &newer.sa.spi_r));
    assert!(p.slow.contains(&gw_sa.spi_i, &gw_sa.spi_r));
    assert_eq!(p.count(SlowPathCounter::InitialContactDeleted), 1);
}
