//! The full exchange end to end, in memory: the full-exchange initiator
//! against the slow-path responder (IKE_SA_INIT, IKE_AUTH with a PSK,
//! INFORMATIONAL, CREATE_CHILD_SA), real datagrams between them, a virtual
//! clock; and the tickets the slow path issues resumed by the resumption
//! initiator against the resumption responder (RFC 5723). Every case
//! checks both the outcome and the slow path's counters.

#[path = "common/pair.rs"]
mod pair;

#[path = "common/full_pair.rs"]
mod full_pair;

use std::net::{IpAddr, Ipv4Addr};

use full_pair::*;
use pair::{Dir, Fate, HOUR, T0};
use rebound_engine::client::{
    ChildRequest, Fallback, FullConfig, FullFailure, InitiatorEvent, SessionError, SessionResponse,
    TicketReply,
};
use rebound_engine::crypto::{ChildKeys, DhGroup, IkeKeys, SecretBuf};
use rebound_engine::handoff::Origin;
use rebound_engine::responder::Counter;
use rebound_engine::slow_path::{
    CONTROL_SPI_TAG, IkeProposal, Psk, SaChange, SaEvent, SlowPathConfig, SlowPathCounter,
};
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::wire::{IdType, Message, NotifyRepr, NotifyType, Payload};

/// Curve25519 with AES-256-GCM and PRF-SHA256; P-256; P-384; MODP-2048
/// with AES-CBC-128 and HMAC-SHA256.
const SUITES: [(&str, DhGroup); 4] = [
    (CURVE, DhGroup::Curve25519),
    ("aes128gcm16-prfsha256-ecp256", DhGroup::Ecp256),
    ("aes256gcm16-prfsha384-ecp384", DhGroup::Ecp384),
    ("aes128-sha256-modp2048", DhGroup::Modp2048),
];

// 1. The full exchange in four groups and suites.
#[test]
fn full_exchange_in_every_group_agrees_on_keys_child_sa_and_ticket() {
    for (ike, group) in SUITES {
        let (p, e) = full(ike, group);
        let (c, g) = (&*e.sa, p.gw_sa());
        // The same IKE SA on both sides.
        assert_eq!((c.spi_i, c.spi_r), (g.spi_i, g.spi_r), "{ike}");
        assert_eq!(g.spi_r[0], CONTROL_SPI_TAG);
        assert_eq!(c.suite, g.suite);
        assert_eq!(c.suite.encr(), IkeProposal::parse(ike).unwrap().encr[0]);
        assert_eq!((c.dh_group, g.dh_group), (group.id(), group.id()));
        assert_eq!((&c.ni, &c.nr), (&g.ni, &g.nr));
        assert_keys_equal(&c.keys, &g.keys);
        assert_keys_equal(e.session.keys(), &g.keys);
        assert_eq!((c.origin, g.origin), (Origin::Initial, Origin::Initial));
        assert_eq!((c.id_i, g.id_i), (alice(), alice()));
        assert_eq!((c.id_r, g.id_r), (fqdn(GW_ID), fqdn(GW_ID)));
        assert!(c.nat.detection && !c.nat.any() && g.nat.detection && !g.nat.any());
        // The child SA: mirror SPIs, equal keys = prf+(SK_d, Ni | Nr).
        assert_eq!(e.child_error, None);
        let (cc, gc) = (c.child.as_ref().unwrap(), g.child.as_ref().unwrap());
        assert_eq!((cc.spi_i, cc.spi_r), (gc.spi_i, gc.spi_r));
        assert_eq!((cc.encr, cc.integ, cc.esn), (gc.encr, gc.integ, gc.esn));
        let k = ChildKeys::derive(
            g.suite.prf(),
            g.keys.sk_d.as_bytes(),
            None,
            &g.ni,
            &g.nr,
            gc.encr,
            gc.integ,
        )
        .unwrap();
        for (x, y, z) in [
            (&k.encr_i2r, &cc.keys.encr_i2r, &gc.keys.encr_i2r),
            (&k.integ_i2r, &cc.keys.integ_i2r, &gc.keys.integ_i2r),
            (&k.encr_r2i, &cc.keys.encr_r2i, &gc.keys.encr_r2i),
            (&k.integ_r2i, &cc.keys.integ_r2i, &gc.keys.integ_r2i),
        ] {
            assert!(x.ct_eq(y) && x.ct_eq(z));
        }
        assert_eq!((&cc.ts_i, &cc.ts_r), (&gc.ts_i, &gc.ts_r));
        // CP: the internal address from the pool, TSi narrowed to it.
        let addr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!((c.internal_addr, g.internal_addr), (Some(addr), Some(addr)));
        assert_eq!(cc.ts_i.len(), 1);
        assert_eq!((cc.ts_i[0].start, cc.ts_i[0].end), (addr, addr));
        // A ticket for this SA.
        let t = e.ticket.as_ref().expect("a ticket");
        assert!(!e.ticket_acked && !e.ticket_nacked);
        assert!(g.new_ticket.is_some());
        assert_eq!((t.state.old_spi_i, t.state.old_spi_r), (g.spi_i, g.spi_r));
        assert!(t.state.sk_d.ct_eq(&g.keys.sk_d));
        assert_eq!(t.state.suite.dh_group, group.id());
        assert_eq!(t.state.id_r, fqdn(GW_ID));
        assert_eq!(t.state.internal_addr, Some(addr));
        assert!(t.expires_at > T0 && t.expires_at <= T0 + 20 * HOUR);
        // RFC 4478: AUTH_LIFETIME tells the client the deadline.
        assert_eq!(e.auth_lifetime, Some((20 * HOUR) as u32));
        assert_eq!(c.reauth_deadline, g.reauth_deadline);
        assert!(t.expires_at <= c.reauth_deadline);
        // The session goes on at message id 2.
        assert_eq!(e.session.next_message_id(), 2);
        assert_eq!((e.session.spi_i(), e.session.spi_r()), (g.spi_i, g.spi_r));
        assert_eq!(e.session.group(), group);
        assert_eq!(p.client.stats().sent, 2);
        assert_eq!(p.client.stats().retransmissions, 0);
        assert_counts(
            &p,
            &[
                (SlowPathCounter::InitRequests, 1),
                (SlowPathCounter::InitAccepted, 1),
                (SlowPathCounter::AuthRequests, 1),
                (SlowPathCounter::Established, 1),
                (SlowPathCounter::TicketsIssued, 1),
                (SlowPathCounter::AuthFailed, 0),
                (SlowPathCounter::ChildRefused, 0),
            ],
        );
        assert_eq!((p.slow.established(), p.slow.half_open()), (1, 0));
        assert!(p.slow.contains(&g.spi_i, &g.spi_r));
    }
}

// 2. The slow path's ticket resumes (RFC 5723) against the resumption
// responder sharing its key ring and guard.
#[test]
fn the_full_exchange_ticket_resumes_with_the_resumption_initiator() {
    for (ike, group) in SUITES {
        let (mut p, e) = full(ike, group);
        let ticket = e.ticket.expect("a ticket");
        p.advance_to(p.now.plus_millis(60_000));
        let (ev, gw) = p.resume(ticket);
        let (c, next) = resumed(&ev);
        let g = gw.expect("the gateway resumed it");
        let old = (e.sa.spi_i, e.sa.spi_r);
        assert_eq!(c.replaces(), Some(old), "{ike}");
        assert_eq!(g.replaces(), Some(old));
        assert_eq!((c.spi_i, c.spi_r), (g.spi_i, g.spi_r));
        assert_keys_equal(&c.keys, &g.keys);
        // RFC 5723 §5.1 from the full exchange's SK_d.
        let want = IkeKeys::derive_resumed(
            &e.sa.suite,
            e.sa.keys.sk_d.as_bytes(),
            &g.ni,
            &g.nr,
            &g.spi_i,
            &g.spi_r,
        )
        .unwrap();
        assert_keys_equal(&want, &g.keys);
        assert_eq!(g.suite, e.sa.suite);
        assert_eq!(g.dh_group, group.id());
        assert_eq!((g.id_i, g.id_r), (alice(), fqdn(GW_ID)));
        assert!(next.is_some(), "and the next ticket");
        assert_eq!(p.gw_count(Counter::Established), 1);
        assert_eq!(p.gw_count(Counter::TicketsIssued), 1);
    }
}

// 3. INVALID_KE_PAYLOAD: a wrong guess is retried in the responder's group,
// in IKE_SA_INIT and in a rekey.
#[test]
fn invalid_ke_is_retried_in_the_responders_group() {
    let mut cfg = slow_path_config();
    cfg.ike = vec![IkeProposal::parse(CURVE).unwrap()];
    let client = client_config("aes256gcm16-prfsha256-ecp256-curve25519", DhGroup::Ecp256);
    let mut p = FullPair::new(cfg, vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    let mut e = p.established();
    assert_eq!((e.sa.dh_group, p.gw_sa().dh_group), (31, 31));
    assert_keys_equal(&e.sa.keys, &p.gw_sa().keys);
    let to_gw = sent(&p, Dir::ToGateway);
    let ke_group = |b: &[u8]| {
        payloads(b).iter().find_map(|x| match x {
            Payload::Ke(k) => Some(k.dh_group),
            _ => None,
        })
    };
    let nonce = |b: &[u8]| {
        payloads(b).iter().find_map(|x| match x {
            Payload::Nonce(n) => Some(n.nonce.to_vec()),
            _ => None,
        })
    };
    assert_eq!(
        (ke_group(to_gw[0]), ke_group(to_gw[1])),
        (Some(19), Some(31))
    );
    let spi = |b: &[u8]| Message::parse(b).unwrap().header.spi_i;
    assert_eq!(spi(to_gw[0]), spi(to_gw[1]), "the same SPIi");
    assert_eq!(nonce(to_gw[0]), nonce(to_gw[1]), "the same Ni");
    // RFC 7296 §3.10.1: the notify data is the group, two octets.
    let refusal = sent(&p, Dir::ToClient)[0].to_vec();
    assert_eq!(
        only_notify(&refusal),
        (NotifyType::INVALID_KE_PAYLOAD, vec![0, 31])
    );
    assert_eq!(p.client.stats().sent, 3);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRequests, 2),
            (SlowPathCounter::InitInvalidKe, 1),
            (SlowPathCounter::InitAccepted, 1),
            (SlowPathCounter::Established, 1),
        ],
    );
    // A rekey guessing ecp256 again: INVALID_KE_PAYLOAD, then curve25519.
    let req = e.session.rekey(DhGroup::Ecp256, &mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::RekeyRetry { group, request } = r else {
        panic!("expected a retry, got {r:?}");
    };
    assert_eq!(group, DhGroup::Curve25519);
    assert_eq!(message_id(&request), 3);
    let (r, _) = p.exchange(&mut e.session, &request);
    let SessionResponse::Rekeyed(new) = r else {
        panic!("expected the rekeyed SA, got {r:?}");
    };
    assert_eq!(new.group(), DhGroup::Curve25519);
    assert_keys_equal(new.keys(), &p.gw_sa().keys);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitInvalidKe, 2),
            (SlowPathCounter::Rekeyed, 1),
        ],
    );
}

/// The slow path's answer to `req` sent once more.
fn sent_answer_of(p: &mut FullPair, req: &[u8]) -> Option<Vec<u8>> {
    let events = p.gw_events.len();
    let a = p.gw_handle(req);
    assert_eq!(
        p.gw_events.len(),
        events,
        "no new event for a retransmission"
    );
    a
}

#[test]
fn invalid_ke_for_a_group_not_offered_or_already_tried_fails() {
    // A group we do not offer.
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let spi_i = p.client.spi_i();
    p.client_transmit();
    p.client_receive(&refusal(spi_i, NotifyType::INVALID_KE_PAYLOAD, &[0, 14]));
    assert_eq!(p.failure(), FullFailure::InvalidKe { group: 14 });
    // A loop: 19 -> 31 -> 19 again (a late answer to the first request,
    // ignored) -> 31 again (the group we use: a loop).
    let mut p = FullPair::alice("aes256gcm16-prfsha256-ecp256-curve25519", DhGroup::Ecp256);
    let spi_i = p.client.spi_i();
    p.client_transmit();
    p.client_receive(&refusal(spi_i, NotifyType::INVALID_KE_PAYLOAD, &[0, 31]));
    assert_eq!(p.client_transmit().len(), 1, "the retry");
    p.client_receive(&refusal(spi_i, NotifyType::INVALID_KE_PAYLOAD, &[0, 19]));
    assert!(!p.client.is_done());
    assert_eq!(p.client.stats().ignored, 1);
    p.client_receive(&refusal(spi_i, NotifyType::INVALID_KE_PAYLOAD, &[0, 31]));
    assert_eq!(p.failure(), FullFailure::InvalidKe { group: 31 });
    // A malformed group (not two octets) is not believed.
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let spi_i = p.client.spi_i();
    p.client_transmit();
    p.client_receive(&refusal(spi_i, NotifyType::INVALID_KE_PAYLOAD, &[31]));
    assert!(!p.client.is_done());
}

// 4. Cookies.
#[test]
fn cookie_round_then_established_and_a_wrong_cookie_is_refused() {
    let mut cfg = slow_path_config();
    cfg.responder.cookie_threshold = 0;
    let mut p = FullPair::new(
        cfg,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    let req1 = p.client_transmit().pop().unwrap();
    let ans1 = p.gw_handle(&req1).unwrap();
    let (t, cookie) = only_notify(&ans1);
    assert_eq!(t, NotifyType::COOKIE);
    assert!((1..=64).contains(&cookie.len()));
    assert_eq!(p.slow.half_open(), 0, "no state for a cookie");
    p.client_receive(&ans1);
    let req2 = p.client_transmit().pop().unwrap();
    // RFC 7296 §2.6: N(COOKIE) first, every other payload unchanged.
    let (first, rest) = (payloads(&req2), payloads(&req1));
    assert_eq!(
        first[0],
        Payload::Notify(NotifyRepr::ike(NotifyType::COOKIE, &cookie))
    );
    assert_eq!(&first[1..], &rest[..]);
    // A wrong cookie gets a new cookie, and no state.
    let mut bad = req2.clone();
    bad[28 + 8] ^= 0x01;
    let ans_bad = p.gw_handle(&bad).unwrap();
    assert_eq!(only_notify(&ans_bad).0, NotifyType::COOKIE);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::CookiesSent, 2),
            (SlowPathCounter::CookiesInvalid, 1),
            (SlowPathCounter::InitAccepted, 0),
        ],
    );
    assert_eq!(p.slow.half_open(), 0);
    // The genuine retry is taken.
    let ans2 = p.gw_handle(&req2).unwrap();
    p.client_receive(&ans2);
    p.run();
    let e = p.established();
    assert_keys_equal(&e.sa.keys, &p.gw_sa().keys);
    assert_eq!(p.client.stats().cookies_received, 1);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRequests, 3),
            (SlowPathCounter::CookiesSent, 2),
            (SlowPathCounter::CookiesInvalid, 1),
            (SlowPathCounter::InitAccepted, 1),
            (SlowPathCounter::Established, 1),
        ],
    );
}

// 5. Authentication failures.
#[test]
fn wrong_psk_fails_authentication_and_the_failure_is_answered_again() {
    let mut client = client_config(CURVE, DhGroup::Curve25519);
    client.psk = SecretBuf::from_slice(b"not alice's key").unwrap();
    let mut p = FullPair::new(slow_path_config(), vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    assert_eq!(p.failure(), FullFailure::AuthenticationFailed);
    assert!(p.gw_events.is_empty());
    assert_eq!(p.slow.established(), 0);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::AuthRequests, 1),
            (SlowPathCounter::AuthFailed, 1),
            (SlowPathCounter::Established, 0),
            (SlowPathCounter::TicketsIssued, 0),
        ],
    );
    // RFC 7296 §2.1: the IKE_AUTH again gets the same answer.
    let auth = sent(&p, Dir::ToGateway)[1].to_vec();
    let answer = sent(&p, Dir::ToClient)[1].to_vec();
    assert_eq!(p.gw_handle(&auth), Some(answer));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Retransmits, 1),
            (SlowPathCounter::AuthRequests, 1),
            (SlowPathCounter::AuthFailed, 1),
        ],
    );
}

#[test]
fn unknown_identity_or_wrong_idr_fails_authentication() {
    let mut client = client_config(CURVE, DhGroup::Curve25519);
    client.id_i = fqdn(b"mallory.example.net");
    let mut p = FullPair::new(slow_path_config(), vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    assert_eq!(p.failure(), FullFailure::AuthenticationFailed);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::AuthUnknownIdentity, 1),
            (SlowPathCounter::AuthFailed, 0),
            (SlowPathCounter::Established, 0),
        ],
    );
    // An IDr that is not the gateway's.
    let mut client = client_config(CURVE, DhGroup::Curve25519);
    client.id_r = Some(fqdn(b"other-gw.example.net"));
    let mut p = FullPair::new(slow_path_config(), vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    assert_eq!(p.failure(), FullFailure::AuthenticationFailed);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::AuthRefused, 1),
            (SlowPathCounter::Established, 0),
        ],
    );
}

// 6. No common proposal.
#[test]
fn proposal_mismatch_is_no_proposal_chosen() {
    let mut cfg = slow_path_config();
    cfg.ike = vec![IkeProposal::parse(CURVE).unwrap()];
    let client = client_config("aes128-sha512-modp2048", DhGroup::Modp2048);
    let mut p = FullPair::new(cfg, vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    assert_eq!(p.failure(), FullFailure::NoProposalChosen);
    assert_eq!(
        only_notify(sent(&p, Dir::ToClient)[0]).0,
        NotifyType::NO_PROPOSAL_CHOSEN
    );
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitNoProposal, 1),
            (SlowPathCounter::InitAccepted, 0),
        ],
    );
    assert_eq!(p.slow.half_open(), 0);
}

// 7. Identity types.
#[test]
fn every_id_type_authenticates_with_its_own_psk() {
    let ids = [
        TicketIdentity::new(IdType::FQDN, b"host.example.org").unwrap(),
        TicketIdentity::new(IdType::RFC822_ADDR, b"carol@example.org").unwrap(),
        TicketIdentity::new(IdType::IPV4_ADDR, &[192, 0, 2, 77]).unwrap(),
        TicketIdentity::new(
            IdType::IPV6_ADDR,
            &[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77,
            ],
        )
        .unwrap(),
        TicketIdentity::new(IdType::KEY_ID, b"\x01\x02key-id\xff").unwrap(),
    ];
    let key = |i: usize| format!("pre-shared key number {i}").into_bytes();
    let psks: Vec<Psk> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| psk(*id, &key(i)))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mut client = FullConfig::new(*id, SecretBuf::from_slice(&key(i)).unwrap());
        client.ike = vec![IkeProposal::parse(CURVE).unwrap()];
        client.id_r = Some(fqdn(GW_ID));
        let mut p = FullPair::new(slow_path_config(), psks.clone(), client);
        p.run();
        let e = p.established();
        assert_eq!(p.gw_sa().id_i, *id, "{id:?}");
        assert_eq!(e.sa.id_i, *id);
        assert_eq!(e.ticket.expect("a ticket").state.id_i, *id);
        assert_eq!(p.count(SlowPathCounter::Established), 1);
        // Another identity's key does not do.
        let mut client = FullConfig::new(*id, SecretBuf::from_slice(&key(i + 1)).unwrap());
        client.ike = vec![IkeProposal::parse(CURVE).unwrap()];
        let mut p = FullPair::new(slow_path_config(), psks.clone(), client);
        p.run();
        assert_eq!(p.failure(), FullFailure::AuthenticationFailed);
        assert_eq!(p.count(SlowPathCounter::AuthFailed), 1);
    }
}

// 8. Ticket policy: NACK by PSK entry or policy; ACK then INFORMATIONAL.
#[test]
fn tickets_refused_by_psk_entry_or_policy_are_nacked() {
    let no_tickets = Psk {
        tickets: false,
        ..psk(alice(), ALICE_PSK)
    };
    let mut p = FullPair::new(
        slow_path_config(),
        vec![no_tickets],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    assert!(e.ticket.is_none() && e.ticket_nacked && !e.ticket_acked);
    assert!(p.gw_sa().new_ticket.is_none());
    assert_counts(
        &p,
        &[
            (SlowPathCounter::TicketsRefused, 1),
            (SlowPathCounter::TicketsIssued, 0),
        ],
    );
    // Asking again on the SA gets the same answer.
    let req = e.session.request_ticket(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::Ticket(TicketReply::Nacked)));
    assert_eq!(p.count(SlowPathCounter::TicketsRefused), 2);

    let mut cfg = slow_path_config();
    cfg.responder.tickets.kind = None;
    let mut p = FullPair::new(
        cfg,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let e = p.established();
    assert!(e.ticket.is_none() && e.ticket_nacked);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::TicketsRefused, 1),
            (SlowPathCounter::TicketsIssued, 0),
            (SlowPathCounter::Established, 1),
        ],
    );
}

#[test]
fn ticket_acked_when_too_large_then_requested_by_informational_and_resumed() {
    let mut cfg = slow_path_config();
    cfg.responder.tickets.max_message_len = 300;
    let mut p = FullPair::new(
        cfg,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    assert!(e.ticket.is_none() && e.ticket_acked && !e.ticket_nacked);
    assert!(p.gw_sa().new_ticket.is_none());
    assert!(sent(&p, Dir::ToClient)[1].len() <= 300);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::TicketsAcked, 1),
            (SlowPathCounter::TicketsIssued, 0),
        ],
    );
    // RFC 5723 §4.1: the client asks again with an INFORMATIONAL exchange.
    let req = e.session.request_ticket(&mut p.client_rng).unwrap();
    assert_eq!(message_id(&req), 2);
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::Ticket(TicketReply::Issued(t)) = r else {
        panic!("expected a ticket, got {r:?}");
    };
    assert_eq!(p.count(SlowPathCounter::TicketsIssued), 1);
    assert_eq!(
        (t.state.old_spi_i, t.state.old_spi_r),
        (e.sa.spi_i, e.sa.spi_r)
    );
    let (ev, _) = p.resume(t);
    let (c, _) = resumed(&ev);
    assert_eq!(c.replaces(), Some((e.sa.spi_i, e.sa.spi_r)));
}

#[test]
fn a_new_ticket_by_informational_revokes_the_previous_one() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let first = e.ticket.take().unwrap();
    let req = e.session.request_ticket(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    let SessionResponse::Ticket(TicketReply::Issued(second)) = r else {
        panic!("expected a ticket, got {r:?}");
    };
    assert_ne!(first.opaque, second.opaque);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::TicketsIssued, 2),
            (SlowPathCounter::TicketsRevoked, 1),
        ],
    );
    // RFC 5723 §6.2 (and Rebound's policy): one live ticket per SA.
    let (ev, _) = p.resume(first);
    assert!(matches!(
        ev,
        InitiatorEvent::Failed(Fallback::TicketRefused)
    ));
    let (ev, _) = p.resume(second);
    let (c, _) = resumed(&ev);
    assert_eq!(c.replaces(), Some((e.sa.spi_i, e.sa.spi_r)));
}

// 9. INFORMATIONAL liveness, retransmission, stale message ids.
#[test]
fn informational_liveness_retransmission_and_stale_ids() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let req2 = e.session.informational_liveness(&mut p.client_rng).unwrap();
    assert_eq!(message_id(&req2), 2);
    assert_eq!(
        e.session.informational_liveness(&mut p.client_rng),
        Err(SessionError::Busy)
    );
    assert_eq!(e.session.pending_request(), Some(req2.as_slice()));
    let (r, ans2) = p.exchange(&mut e.session, &req2);
    assert!(matches!(r, SessionResponse::Alive));
    assert_eq!(p.count(SlowPathCounter::Liveness), 1);
    // RFC 7296 §2.1: a retransmitted request gets the identical answer.
    assert_eq!(p.gw_handle(&req2), Some(ans2.clone()));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Retransmits, 1),
            (SlowPathCounter::Liveness, 1),
        ],
    );
    // The duplicate answer finds nothing pending at the client.
    assert_eq!(
        e.session
            .response(p.now, &ans2, &mut p.client_rng)
            .unwrap_err(),
        SessionError::Idle
    );
    let req3 = e.session.informational_liveness(&mut p.client_rng).unwrap();
    assert_eq!(message_id(&req3), 3);
    // An old answer is not the response to the new request.
    assert!(matches!(
        e.session.response(p.now, &ans2, &mut p.client_rng),
        Err(SessionError::Unrelated(_))
    ));
    let (r, _) = p.exchange(&mut e.session, &req3);
    assert!(matches!(r, SessionResponse::Alive));
    // RFC 7296 §2.2: a request older than the last is dropped.
    assert_eq!(p.gw_handle(&req2), None);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::BadMessageId, 1),
            (SlowPathCounter::Liveness, 2),
            (SlowPathCounter::Retransmits, 1),
        ],
    );
    assert_eq!(e.session.next_message_id(), 4);
}

// 10. DELETE.
#[test]
fn delete_removes_the_sa_and_revokes_its_ticket() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let ticket = e.ticket.take().unwrap();
    let spis = (e.sa.spi_i, e.sa.spi_r);
    assert!(p.slow.contains(&spis.0, &spis.1));
    let req = e.session.delete(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::Deleted));
    assert!(e.session.is_closed());
    assert_eq!(
        e.session.informational_liveness(&mut p.client_rng),
        Err(SessionError::Closed)
    );
    match p.gw_events.last() {
        Some(SaEvent::Changed(SaChange::Deleted { spi_i, spi_r })) => {
            assert_eq!((*spi_i, *spi_r), spis)
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
    assert!(!p.slow.contains(&spis.0, &spis.1));
    assert_eq!(p.slow.established(), 0);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Deleted, 1),
            (SlowPathCounter::TicketsRevoked, 1),
        ],
    );
    // The SA is gone: the DELETE sent again gets its answer again (RFC
    // 7296 §2.1), any other request for it none.
    assert!(p.gw_handle(&req).is_some());
    assert_eq!(p.count(SlowPathCounter::DeletedRetransmits), 1);
    let mut other = req.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    assert_eq!(p.gw_handle(&other), None);
    assert_eq!(p.count(SlowPathCounter::UnknownSpi), 1);
    // RFC 5723 §6.2: the ticket went with its SA.
    let (ev, gw) = p.resume(ticket);
    assert!(matches!(
        ev,
        InitiatorEvent::Failed(Fallback::TicketRefused)
    ));
    assert!(gw.is_none());
    assert_eq!(p.gw_count(Counter::NackReused), 1);
}

/// `revoke_on_delete = false` (libreswan's `whack --suspend`): the deleted
/// SA's ticket is kept, counted, and resumes once; the second time the
/// single-use guard refuses it.
#[test]
fn without_revoke_on_delete_the_ticket_resumes_once_after_the_delete() {
    let config = SlowPathConfig {
        revoke_on_delete: false,
        ..slow_path_config()
    };
    let mut p = FullPair::new(
        config,
        vec![psk(alice(), ALICE_PSK)],
        client_config(CURVE, DhGroup::Curve25519),
    );
    p.run();
    let mut e = p.established();
    let ticket = e.ticket.take().unwrap();
    let req = e.session.delete(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::Deleted));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Deleted, 1),
            (SlowPathCounter::TicketsRevoked, 0),
            (SlowPathCounter::TicketsKeptOnDelete, 1),
        ],
    );
    let (ev, gw) = p.resume(ticket.clone());
    assert!(resumed(&ev).0.replaces().is_some(), "{ev:?}");
    assert!(gw.is_some());
    // A second client a second later (not a retransmission of the first).
    p.advance_to(p.now.plus_millis(1_000));
    let (again, gw) = p.resume(ticket);
    assert!(
        matches!(again, InitiatorEvent::Failed(Fallback::TicketRefused)),
        "{again:?}"
    );
    assert!(gw.is_none());
    assert_eq!(p.gw_count(Counter::NackReused), 1);
}

// 11. CREATE_CHILD_SA: IKE SA rekey; ESP child SA refused.
#[test]
fn rekey_makes_a_new_sa_revokes_the_old_ticket_and_tickets_the_new_one() {
    let (mut p, mut e) = full(CURVE, DhGroup::Curve25519);
    let old_ticket = e.ticket.take().unwrap();
    let old = (e.sa.spi_i, e.sa.spi_r);
    let req = e
        .session
        .rekey(DhGroup::Curve25519, &mut p.client_rng)
        .unwrap();
    assert_eq!(message_id(&req), 2);
    let (r, rekey_answer) = p.exchange(&mut e.session, &req);
    let SessionResponse::Rekeyed(mut new) = r else {
        panic!("expected the rekeyed SA, got {r:?}");
    };
    let g = p.gw_sa().clone();
    assert_eq!(g.origin, Origin::Rekeyed { replaces: old });
    assert_eq!((g.spi_i, g.spi_r), (new.spi_i(), new.spi_r()));
    assert_ne!((g.spi_i, g.spi_r), old);
    assert_eq!(g.spi_r[0], CONTROL_SPI_TAG);
    assert_keys_equal(new.keys(), &g.keys);
    assert!(!new.keys().sk_d.ct_eq(&e.sa.keys.sk_d));
    assert_eq!((new.ni(), new.nr()), (g.ni.as_slice(), g.nr.as_slice()));
    // A retransmitted rekey request gets the same answer and no second SA.
    assert_eq!(sent_answer_of(&mut p, &req), Some(rekey_answer));
    assert_eq!(p.count(SlowPathCounter::Rekeyed), 1);
    assert_eq!(p.count(SlowPathCounter::Retransmits), 1);
    // RFC 7296 §2.18: the new SA counts message ids from 0.
    assert_eq!(new.next_message_id(), 0);
    assert_eq!(e.session.next_message_id(), 3);
    assert_eq!(p.slow.established(), 2, "the old SA stays until deleted");
    // The old SA still answers until it is deleted.
    let live = e.session.informational_liveness(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &live);
    assert!(matches!(r, SessionResponse::Alive));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Rekeyed, 1),
            (SlowPathCounter::TicketsRevoked, 1),
        ],
    );
    // The old SA's ticket no longer resumes.
    let (ev, _) = p.resume(old_ticket);
    assert!(matches!(
        ev,
        InitiatorEvent::Failed(Fallback::TicketRefused)
    ));
    // A ticket for the new SA does.
    let req = new.request_ticket(&mut p.client_rng).unwrap();
    assert_eq!(message_id(&req), 0);
    let (r, _) = p.exchange(&mut new, &req);
    let Some(t) = (match r {
        SessionResponse::Ticket(t) => t.ticket(),
        other => panic!("expected a ticket, got {other:?}"),
    }) else {
        panic!("no ticket");
    };
    assert_eq!((t.state.old_spi_i, t.state.old_spi_r), (g.spi_i, g.spi_r));
    assert_eq!(p.count(SlowPathCounter::TicketsIssued), 2);
    // Deleting the old SA leaves the new SA and its ticket alone.
    let req = e.session.delete(&mut p.client_rng).unwrap();
    let (r, _) = p.exchange(&mut e.session, &req);
    assert!(matches!(r, SessionResponse::Deleted));
    assert!(!p.slow.contains(&old.0, &old.1));
    assert!(p.slow.contains(&g.spi_i, &g.spi_r));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Deleted, 1),
            (SlowPathCounter::TicketsRevoked, 1),
        ],
    );
    let (ev, gw) = p.resume(t);
    let (c, _) = resumed(&ev);
    assert_eq!(c.replaces(), Some((g.spi_i, g.spi_r)));
    assert_keys_equal(&c.keys, &gw.unwrap().keys);
    // Another ESP child SA on the rekeyed IKE SA.
    let req = new
        .create_child(&ChildRequest::default(), &mut p.client_rng)
        .unwrap();
    let (r, _) = p.exchange(&mut new, &req);
    assert!(matches!(r, SessionResponse::ChildCreated(_)), "{r:?}");
    assert_eq!(p.count(SlowPathCounter::ChildCreated), 1);
}

// 12. Retransmitted IKE_SA_INIT; tampered IKE_AUTH; timeout.
#[test]
fn lost_sa_init_answer_is_retransmitted_and_answered_identically() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    p.faults = Box::new(|d, i, _| {
        if d == Dir::ToClient && i == 0 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    p.run();
    let e = p.established();
    assert_keys_equal(&e.sa.keys, &p.gw_sa().keys);
    let (to_gw, to_client) = (sent(&p, Dir::ToGateway), sent(&p, Dir::ToClient));
    assert_eq!(to_gw[0], to_gw[1], "RFC 7296 §2.1: bitwise identical");
    assert_eq!(to_client[0], to_client[1], "the same answer");
    assert_eq!(p.client.stats().retransmissions, 1);
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRequests, 2),
            (SlowPathCounter::InitRetransmits, 1),
            (SlowPathCounter::InitAccepted, 1),
            (SlowPathCounter::Established, 1),
        ],
    );
}

#[test]
fn duplicated_datagrams_are_answered_from_the_cache_and_ignored() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    p.faults = Box::new(|_, _, _| Fate::Duplicate);
    p.run();
    let e = p.established();
    assert_keys_equal(&e.sa.keys, &p.gw_sa().keys);
    // Each request twice; each answer twice to the client (four), the
    // second copies ignored.
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRetransmits, 1),
            (SlowPathCounter::Retransmits, 1),
            (SlowPathCounter::InitAccepted, 1),
            (SlowPathCounter::Established, 1),
        ],
    );
    assert_eq!(p.gw_events.len(), 1);
    assert_eq!(p.client.stats().sent, 2);
}

#[test]
fn cookie_then_invalid_ke_then_established_keeps_the_cookie() {
    let mut cfg = slow_path_config();
    cfg.responder.cookie_threshold = 0;
    cfg.ike = vec![IkeProposal::parse(CURVE).unwrap()];
    let client = client_config("aes256gcm16-prfsha256-ecp256-curve25519", DhGroup::Ecp256);
    let mut p = FullPair::new(cfg, vec![psk(alice(), ALICE_PSK)], client);
    p.run();
    let e = p.established();
    assert_eq!(e.sa.dh_group, 31);
    // RFC 7296 §2.6: the cookie is still valid for the second retry (same
    // SPIi and Ni) and is sent first in it.
    let third = sent(&p, Dir::ToGateway)[2].to_vec();
    assert!(matches!(
        payloads(&third)[0],
        Payload::Notify(n) if n.notify_type == NotifyType::COOKIE
    ));
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRequests, 3),
            (SlowPathCounter::CookiesSent, 1),
            (SlowPathCounter::CookiesInvalid, 0),
            (SlowPathCounter::InitInvalidKe, 1),
            (SlowPathCounter::InitAccepted, 1),
            (SlowPathCounter::Established, 1),
        ],
    );
}

/// IKE_AUTH from port 4500 (RFC 7296 §2.23: the initiator moves there
/// when a NAT is detected, or always): the half-open index entry of the
/// IKE_SA_INIT, made for port 500, must still be removed. A repeat of that
/// IKE_SA_INIT is then a new exchange, exactly as without the float.
#[test]
fn ike_auth_after_a_port_float_completes_and_clears_the_half_open_entry() {
    for float in [false, true] {
        let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
        let init = p.client_transmit().pop().unwrap();
        let answer = p.gw_handle(&init).unwrap();
        p.client_receive(&answer);
        let auth = p.client_transmit().pop().unwrap();
        let mut from = p.client_addr;
        if float {
            from.set_port(4500);
        }
        let reply = p.gw_handle_from(from, &auth).unwrap();
        p.client_receive(&reply);
        p.established();
        assert_eq!(p.gw_sa().peer, from);
        assert_eq!((p.slow.half_open(), p.slow.established()), (0, 1));
        // The same IKE_SA_INIT again: a new half-open SA, not a conflict.
        let again = p.gw_handle(&init).expect("answered");
        assert_ne!(again, answer, "a new exchange (float: {float})");
        assert_counts(
            &p,
            &[
                (SlowPathCounter::InitConflict, 0),
                (SlowPathCounter::InitAccepted, 2),
                (SlowPathCounter::InitRetransmits, 0),
            ],
        );
        assert_eq!(p.slow.half_open(), 1);
    }
}

#[test]
fn tampered_ike_auth_is_dropped_and_the_genuine_one_succeeds() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let init = p.client_transmit().pop().unwrap();
    let answer = p.gw_handle(&init).unwrap();
    p.client_receive(&answer);
    let auth = p.client_transmit().pop().unwrap();
    for at in [auth.len() - 1, auth.len() / 2] {
        let mut bad = auth.clone();
        bad[at] ^= 0x80;
        assert_eq!(p.gw_handle(&bad), None);
    }
    assert_counts(
        &p,
        &[
            (SlowPathCounter::IntegrityFailed, 2),
            (SlowPathCounter::Established, 0),
        ],
    );
    assert_eq!(p.slow.half_open(), 1, "still waiting for the genuine one");
    let reply = p.gw_handle(&auth).unwrap();
    // A duplicate gets the identical answer; the client ignores the second.
    assert_eq!(p.gw_handle(&auth), Some(reply.clone()));
    p.client_receive(&reply);
    p.client_receive(&reply);
    let e = p.established();
    assert_keys_equal(&e.sa.keys, &p.gw_sa().keys);
    assert_eq!(p.client.stats().ignored, 1);
    // Received IKE_AUTH requests are counted, the forged ones included;
    // the duplicate is a retransmission.
    assert_counts(
        &p,
        &[
            (SlowPathCounter::Established, 1),
            (SlowPathCounter::Retransmits, 1),
            (SlowPathCounter::AuthRequests, 3),
        ],
    );
}

#[test]
fn tampered_ike_auth_answer_is_ignored_by_the_client() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let init = p.client_transmit().pop().unwrap();
    let answer = p.gw_handle(&init).unwrap();
    p.client_receive(&answer);
    let auth = p.client_transmit().pop().unwrap();
    let reply = p.gw_handle(&auth).unwrap();
    let mut bad = reply.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    p.client_receive(&bad);
    assert!(!p.client.is_done());
    assert_eq!(p.client.stats().ignored, 1);
    p.client_receive(&reply);
    p.established();
}

#[test]
fn no_answer_at_all_times_out() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    p.faults = Box::new(|d, _, _| {
        if d == Dir::ToGateway {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    p.run();
    assert_eq!(p.failure(), FullFailure::Timeout);
    assert_eq!(p.client.stats().sent, 6);
    assert_eq!(p.client.stats().retransmissions, 5);
}

// 13. Invalid public values.
#[test]
fn invalid_peer_public_values_are_invalid_syntax() {
    let mut p = FullPair::alice(CURVE, DhGroup::Curve25519);
    let cases: [(DhGroup, Vec<u8>); 4] = [
        // RFC 8031 §2.3: an all-zero X25519 result is refused.
        (DhGroup::Curve25519, vec![0; 32]),
        // RFC 7296 §3.4: the length is the group's.
        (DhGroup::Curve25519, vec![9; 31]),
        // RFC 5903 §7: a point not on the curve.
        (DhGroup::Ecp256, vec![0; 64]),
        (DhGroup::Ecp256, vec![1; 63]),
    ];
    for (i, (group, key)) in cases.iter().enumerate() {
        let spi = [0x33, i as u8, 1, 2, 3, 4, 5, 6];
        let answer = p.gw_handle(&crafted_init(spi, *group, key)).unwrap();
        assert_eq!(only_notify(&answer), (NotifyType::INVALID_SYNTAX, vec![]));
        assert_eq!(Message::parse(&answer).unwrap().header.spi_r, [0; 8]);
        assert_eq!(p.count(SlowPathCounter::InitBadPublicValue), i as u64 + 1);
    }
    assert_counts(
        &p,
        &[
            (SlowPathCounter::InitRequests, 4),
            (SlowPathCounter::InitAccepted, 0),
        ],
    );
    assert_eq!(p.slow.half_open(), 0);
    // A valid one from the same peer is still taken.
    let mut rng = pair::rng(5);
    let dh = rebound_engine::crypto::DhPrivate::generate(DhGroup::Curve25519, &mut rng);
    let ok = crafted_init([0x44; 8], DhGroup::Curve25519, dh.public_value());
    let answer = p.gw_handle(&ok).unwrap();
    assert_ne!(Message::parse(&answer).unwrap().header.spi_r, [0; 8]);
    assert_eq!(p.count(SlowPathCounter::InitAccepted), 1);
}
