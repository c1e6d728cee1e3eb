//! The IKE_AUTH half against hand-built responder messages: keys, the new
//! ticket, NAT status, child refusals, authentication failures, the CP
//! exchange.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::peer::{AuthReply, PEER_ESP_SPI, Peer, TestRng, client_ticket, plain_response, suites};
use super::*;
#[test]
fn established_with_the_peers_keys_and_a_new_ticket() {
    for suite in suites() {
        let t = client_ticket(suite, T0.secs());
        let mut peer = Peer::new(&t, REMOTE, LOCAL);
        let assigned = IpAddr::V4(Ipv4Addr::new(10, 8, 0, 9));
        let reply = AuthReply {
            address: Some(assigned),
            ticket: Some((7_200, vec![0xbb; 120])),
            ..AuthReply::default()
        };
        let cfg = InitiatorConfig::default();
        let (i, ev) = run(cfg.clone(), t.clone(), &mut peer, &reply);

        // What the peer saw in IKE_AUTH.
        let seen = &peer.seen;
        assert_eq!(seen.form, Some(AuthForm::Rfc));
        use PayloadType as P;
        assert_eq!(
            seen.inner,
            [
                P::IDI,
                P::IDR,
                P::AUTH,
                P::CP,
                P::SA,
                P::TSI,
                P::TSR,
                P::NOTIFY
            ]
        );
        assert_eq!(
            seen.idi,
            Some((IdType::FQDN, b"client.example.net".to_vec()))
        );
        assert_eq!(seen.idr, Some((IdType::FQDN, b"vpn.example.com".to_vec())));
        assert_eq!(
            seen.cp,
            Some((
                CfgType::CFG_REQUEST,
                vec![(CfgAttrType::INTERNAL_IP4_ADDRESS, vec![10, 8, 0, 7])]
            ))
        );
        assert!(seen.ticket_request);
        let nums: Vec<u8> = seen.proposals.iter().map(|p| p.0).collect();
        assert_eq!(nums, [1, 2, 3, 4]);
        let esp_spi = seen.proposals[0].1.clone();
        assert!(
            seen.proposals
                .iter()
                .all(|p| p.1 == esp_spi && p.1.len() == 4)
        );

        let InitiatorEvent::Established {
            sa,
            new_ticket,
            ticket_acked,
            child_error,
            ..
        } = ev
        else {
            panic!("{ev:?}")
        };
        let keys = peer.keys.as_ref().unwrap();
        assert_eq!((sa.spi_i, sa.spi_r), (i.spi_i(), peer.spi_r));
        assert_eq!((sa.peer, sa.local), (REMOTE, LOCAL));
        assert_eq!(
            sa.nat,
            NatStatus {
                detection: true,
                peer_behind_nat: false,
                local_behind_nat: false
            }
        );
        assert_eq!((sa.id_i, sa.id_r), (t.state.id_i, t.state.id_r));
        assert_eq!((sa.suite, sa.dh_group), (suite, 31));
        assert_eq!((&sa.ni[..], &sa.nr[..]), (&peer.ni[..], &peer.nr[..]));
        for (a, b) in [
            (&sa.keys.sk_d, &keys.sk_d),
            (&sa.keys.sk_ai, &keys.sk_ai),
            (&sa.keys.sk_ar, &keys.sk_ar),
            (&sa.keys.sk_ei, &keys.sk_ei),
            (&sa.keys.sk_er, &keys.sk_er),
            (&sa.keys.sk_pi, &keys.sk_pi),
            (&sa.keys.sk_pr, &keys.sk_pr),
        ] {
            assert!(a.ct_eq(b));
        }
        let child = sa.child.as_ref().expect("a child SA");
        assert_eq!(child.spi_i.to_vec(), esp_spi);
        assert_eq!(child.spi_r, PEER_ESP_SPI);
        assert_eq!(
            (child.encr, child.integ, child.esn),
            (Encr::AES_GCM_256, None, false)
        );
        let want = ChildKeys::derive(
            suite.prf(),
            keys.sk_d.as_bytes(),
            None,
            &peer.ni,
            &peer.nr,
            Encr::AES_GCM_256,
            None,
        )
        .unwrap();
        assert!(child.keys.encr_i2r.ct_eq(&want.encr_i2r));
        assert!(child.keys.encr_r2i.ct_eq(&want.encr_r2i));
        assert!(child.keys.integ_i2r.is_empty() && child.keys.integ_r2i.is_empty());
        assert_eq!(
            (&child.ts_i[..], &child.ts_r[..]),
            (&cfg.ts_i[..], &cfg.ts_r[..])
        );
        assert_eq!(sa.internal_addr, Some(assigned));
        assert_eq!(sa.new_ticket, None);
        assert_eq!(
            sa.origin,
            Origin::Resumed {
                replaces: ([1; 8], [2; 8]),
                auth_form: AuthForm::Rfc
            }
        );
        assert_eq!(sa.worker, peer.spi_r[0]);
        assert_eq!(sa.established_at, T0.plus_millis(40));
        assert_eq!(sa.reauth_deadline, t.state.reauth_deadline);
        assert!(!ticket_acked);
        assert_eq!(child_error, None);

        let nt = new_ticket.expect("a new ticket");
        assert_eq!(nt.opaque, vec![0xbb; 120]);
        assert_eq!(nt.expires_at, T0.secs() + 7_200);
        let s = &nt.state;
        assert!(s.sk_d.ct_eq(&keys.sk_d));
        assert_eq!((s.old_spi_i, s.old_spi_r), (sa.spi_i, sa.spi_r));
        assert_eq!(
            (s.id_i, s.id_r, s.suite),
            (t.state.id_i, t.state.id_r, t.state.suite)
        );
        assert_eq!(s.internal_addr, Some(assigned));
        assert_eq!((s.issued_at, s.expiry), (T0.secs(), T0.secs() + 7_200));
        assert_eq!(s.reauth_deadline, t.state.reauth_deadline);

        // Done: no more datagrams, no timer; keys never printed.
        let mut i = i;
        assert_eq!(i.poll_transmit(T0, &mut [0u8; 4096]), None);
        assert_eq!(i.poll_timeout(), None);
        let shown = format!("{sa:?} {nt:?} {i:?}");
        assert!(shown.contains("redacted"));
        for secret in [&keys.sk_d, &keys.sk_pi, &keys.sk_ei] {
            let hex: String = secret
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(!shown.contains(&hex));
            assert!(!shown.contains(&format!("{:?}", &secret.as_bytes()[..6])));
        }
    }
}

#[test]
fn message_only_auth_form() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let cfg = InitiatorConfig {
        auth_form: AuthForm::MessageOnly,
        ..InitiatorConfig::default()
    };
    let (_, ev) = run(cfg, t, &mut peer, &AuthReply::default());
    assert_eq!(peer.seen.form, Some(AuthForm::MessageOnly));
    let InitiatorEvent::Established { sa, .. } = ev else {
        panic!("{ev:?}")
    };
    assert!(matches!(
        sa.origin,
        Origin::Resumed {
            auth_form: AuthForm::MessageOnly,
            ..
        }
    ));
}

#[test]
fn nat_status_comes_from_the_responders_hashes() {
    let behind = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 4500);
    let private = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 500);
    for (peer_addr, client_seen, peer_nat, local_nat) in [
        (REMOTE, behind, false, true),
        (private, LOCAL, true, false),
        (private, behind, true, true),
    ] {
        let t = ticket();
        let mut peer = Peer::new(&t, peer_addr, client_seen);
        let (_, ev) = run(
            InitiatorConfig::default(),
            t,
            &mut peer,
            &AuthReply::default(),
        );
        let InitiatorEvent::Established { sa, .. } = ev else {
            panic!("{ev:?}")
        };
        assert!(sa.nat.detection);
        assert_eq!(
            (sa.nat.peer_behind_nat, sa.nat.local_behind_nat),
            (peer_nat, local_nat)
        );
    }
    // No NAT-D in the response: no detection.
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let mut rng = TestRng(8);
    let mut i = start(InitiatorConfig::default(), t, &mut rng);
    let req = send(&mut i, T0);
    peer.accept(&req);
    let nr = peer.nr;
    let bare = plain_response(
        i.spi_i(),
        peer.spi_r,
        &[Payload::Nonce(crate::wire::NonceRepr { nonce: &nr })],
    );
    peer.message2 = bare.clone();
    i.handle(T0, &bare, &mut rng);
    let auth = send(&mut i, T0);
    i.handle(T0, &peer.auth(&auth, &AuthReply::default()), &mut rng);
    let Some(InitiatorEvent::Established { sa, .. }) = i.poll_event() else {
        panic!()
    };
    assert_eq!(sa.nat, NatStatus::default());
}

#[test]
fn child_refusal_keeps_the_ike_sa_and_the_new_ticket() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let reply = AuthReply {
        child_error: Some(NotifyType::TS_UNACCEPTABLE),
        ticket: Some((3_600, vec![1; 40])),
        ..AuthReply::default()
    };
    let (_, ev) = run(InitiatorConfig::default(), t, &mut peer, &reply);
    let InitiatorEvent::Established {
        sa,
        new_ticket,
        child_error,
        ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert!(sa.child.is_none());
    assert_eq!(child_error, Some(NotifyType::TS_UNACCEPTABLE));
    assert!(new_ticket.is_some());

    // A responder that widens TSi: the initiator refuses the child itself.
    let narrow = TsRange {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: Ipv4Addr::new(10, 8, 0, 0).into(),
        end: Ipv4Addr::new(10, 8, 0, 255).into(),
    };
    let cfg = InitiatorConfig {
        ts_i: vec![narrow],
        ..InitiatorConfig::default()
    };
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let wide = TrafficSelector::Range {
        ip_proto: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: Ipv4Addr::new(10, 0, 0, 0).into(),
        end: Ipv4Addr::new(10, 255, 255, 255).into(),
    };
    let reply = AuthReply {
        ts_i: Some(vec![wide]),
        ..AuthReply::default()
    };
    let (_, ev) = run(cfg, t, &mut peer, &reply);
    let InitiatorEvent::Established {
        sa, child_error, ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert!(sa.child.is_none());
    assert_eq!(child_error, Some(NotifyType::TS_UNACCEPTABLE));
}

#[test]
fn authentication_and_refusals_in_ike_auth() {
    let other_idr =
        crate::ticket::state::TicketIdentity::new(IdType::FQDN, b"evil.example").unwrap();
    for (reply, want) in [
        (
            AuthReply {
                corrupt_auth: true,
                ..AuthReply::default()
            },
            Fallback::AuthenticationFailed,
        ),
        (
            AuthReply {
                idr: Some(other_idr),
                ..AuthReply::default()
            },
            Fallback::AuthenticationFailed,
        ),
        (
            AuthReply {
                only_notify: Some(NotifyType::AUTHENTICATION_FAILED),
                ..AuthReply::default()
            },
            Fallback::AuthenticationFailed,
        ),
        (
            AuthReply {
                only_notify: Some(NotifyType::TICKET_NACK),
                ..AuthReply::default()
            },
            Fallback::TicketRefused,
        ),
        (
            AuthReply {
                only_notify: Some(NotifyType::NO_PROPOSAL_CHOSEN),
                ..AuthReply::default()
            },
            Fallback::ChildRefused(NotifyType::NO_PROPOSAL_CHOSEN),
        ),
        (
            AuthReply {
                only_notify: Some(NotifyType::INVALID_SYNTAX),
                ..AuthReply::default()
            },
            Fallback::ErrorNotify(NotifyType::INVALID_SYNTAX),
        ),
    ] {
        let t = ticket();
        let mut peer = Peer::new(&t, REMOTE, LOCAL);
        let (i, ev) = run(InitiatorConfig::default(), t, &mut peer, &reply);
        match ev {
            InitiatorEvent::Failed(f) => assert_eq!(f, want, "{reply:?}"),
            other => panic!("{reply:?}: {other:?}"),
        }
        assert_eq!(i.poll_timeout(), None);
        assert!(!want.counter_label().is_empty() && !want.to_string().is_empty());
    }
}

#[test]
fn minimal_request_and_ticket_ack() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let cfg = InitiatorConfig {
        esp: vec![EspProposal::AES_CBC_256_SHA256],
        request_address: false,
        request_ticket: false,
        send_idr: false,
        ..InitiatorConfig::default()
    };
    let reply = AuthReply {
        ticket_ack: true,
        ..AuthReply::default()
    };
    let (_, ev) = run(cfg, t, &mut peer, &reply);
    use PayloadType as P;
    assert_eq!(peer.seen.inner, [P::IDI, P::AUTH, P::SA, P::TSI, P::TSR]);
    let InitiatorEvent::Established {
        sa,
        new_ticket,
        ticket_acked,
        child_error,
        ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert!(ticket_acked && new_ticket.is_none() && child_error.is_none());
    assert_eq!(sa.internal_addr, None);
    let child = sa.child.unwrap();
    assert_eq!(child.encr, Encr::AES_CBC_256);
    assert_eq!(child.keys.integ_i2r.len(), 32);
}

#[test]
fn ipv6_internal_address() {
    let mut t = ticket();
    let old = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7);
    t.state.internal_addr = Some(old.into());
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let new = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9);
    let reply = AuthReply {
        address: Some(new.into()),
        ticket: Some((60, vec![2; 30])),
        ..AuthReply::default()
    };
    let (_, ev) = run(InitiatorConfig::default(), t, &mut peer, &reply);
    let (_, attrs) = peer.seen.cp.clone().unwrap();
    let mut want = old.octets().to_vec();
    want.push(128);
    assert_eq!(attrs, [(CfgAttrType::INTERNAL_IP6_ADDRESS, want)]);
    let InitiatorEvent::Established { sa, new_ticket, .. } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(sa.internal_addr, Some(new.into()));
    assert_eq!(new_ticket.unwrap().state.internal_addr, Some(new.into()));

    // No address in the ticket: an empty request of the selectors' family.
    let mut t = ticket();
    t.state.internal_addr = None;
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    run(
        InitiatorConfig::default(),
        t,
        &mut peer,
        &AuthReply::default(),
    );
    let (_, attrs) = peer.seen.cp.clone().unwrap();
    assert_eq!(attrs, [(CfgAttrType::INTERNAL_IP4_ADDRESS, vec![])]);
}
