//! The full-exchange initiator's IKE_SA_INIT against hand-built answers:
//! request layout, configuration checks, cookie rounds, hostile answers.
//! (The whole exchange against the real responder is in
//! tests/slow_path_pair.rs.)

use super::peer::TestRng;
use super::{LOCAL, REMOTE, T0, notify, payloads};
use crate::client::{FullConfig, FullEvent, FullFailure, FullInitiator, MAX_COOKIE_ROUNDS};
use crate::crypto::{DhGroup, DhPrivate, SecretBuf, nat_detection_hash};
use crate::slow_path::IkeProposal;
use crate::ticket::state::TicketIdentity;
use crate::wire::{
    ExchangeType, Flags, HeaderRepr, IdType, KeRepr, Message, MessageBuilder, NonceRepr,
    NotifyType, Payload, ProposalSpec, ProtocolId, SaRepr, TransformType,
};
use std::sync::Arc;

fn config(ike: &[&str], group: DhGroup) -> FullConfig {
    let id = TicketIdentity::new(IdType::FQDN, b"alice.example.net").unwrap();
    let mut c = FullConfig::new(id, SecretBuf::from_slice(b"secret").unwrap());
    c.ike = ike.iter().map(|s| IkeProposal::parse(s).unwrap()).collect();
    c.group = group;
    c
}

fn start(c: FullConfig) -> (FullInitiator, Vec<u8>) {
    let mut rng = TestRng(0xf011);
    let mut i = FullInitiator::new(Arc::new(c), LOCAL, REMOTE, &mut rng).unwrap();
    let mut buf = [0u8; 4096];
    let n = i.poll_transmit(T0, &mut buf).expect("IKE_SA_INIT is due");
    (i, buf[..n].to_vec())
}

fn next(i: &mut FullInitiator) -> Option<Vec<u8>> {
    let mut buf = [0u8; 4096];
    let n = i.poll_transmit(T0, &mut buf)?;
    Some(buf[..n].to_vec())
}

/// An unprotected IKE_SA_INIT answer made of `payloads`.
fn answer(spi_i: [u8; 8], spi_r: [u8; 8], payloads: &[Payload<'_>]) -> Vec<u8> {
    let hdr = HeaderRepr::responder_response(spi_i, spi_r, ExchangeType::IKE_SA_INIT, 0);
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    for p in payloads {
        b.push(p).unwrap();
    }
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

fn failure(i: &mut FullInitiator) -> FullFailure {
    assert!(i.is_done());
    match i.poll_event() {
        Some(FullEvent::Failed(f)) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn sa_init_request_layout() {
    let c = config(
        &[
            "aes128gcm16-prfsha256-curve25519-ecp256",
            "aes256-sha256-modp2048",
        ],
        DhGroup::Ecp256,
    );
    let (i, bytes) = start(c);
    let spi_i = i.spi_i();
    assert_ne!(spi_i, [0; 8]);
    let h = Message::parse(&bytes).unwrap().header;
    assert_eq!((h.spi_i, h.spi_r), (spi_i, [0; 8]));
    assert_eq!(h.exchange_type, ExchangeType::IKE_SA_INIT);
    assert_eq!(h.flags, Flags::new(true, false));
    assert_eq!(h.message_id, 0);
    let p = payloads(&bytes);
    assert_eq!(p.len(), 5, "{p:?}");
    let Payload::Sa(sa) = p[0] else {
        panic!("SA first: {p:?}")
    };
    let props: Vec<_> = sa.proposals().collect();
    assert_eq!(props.len(), 2);
    for (n, prop) in props.iter().enumerate() {
        assert_eq!(usize::from(prop.num), n + 1, "numbered 1..");
        assert_eq!((prop.protocol, prop.spi), (ProtocolId::IKE, &[][..]));
    }
    let groups = |k: usize| -> Vec<u16> {
        props[k]
            .transforms()
            .filter(|t| t.ttype == TransformType::DH)
            .map(|t| t.id)
            .collect()
    };
    // RFC 7296 §1.2: the KE payload's group leads where it is offered.
    assert_eq!(groups(0), vec![19, 31]);
    assert_eq!(groups(1), vec![14]);
    let Payload::Ke(ke) = p[1] else {
        panic!("KE second: {p:?}")
    };
    assert_eq!((ke.dh_group, ke.key_data.len()), (19, 64));
    let Payload::Nonce(ni) = p[2] else {
        panic!("Ni third: {p:?}")
    };
    assert_eq!(ni.nonce.len(), 32);
    let src = nat_detection_hash(&spi_i, &[0; 8], LOCAL.ip(), LOCAL.port());
    let dst = nat_detection_hash(&spi_i, &[0; 8], REMOTE.ip(), REMOTE.port());
    assert_eq!(p[3], notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src));
    assert_eq!(p[4], notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst));
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(500)));
    assert!(format!("{i:?}").contains("sa_init"));
}

#[test]
fn unusable_configurations_send_nothing() {
    let mut rng = TestRng(3);
    let cases = [
        config(&["aes256gcm16-prfsha256-curve25519"], DhGroup::Modp2048),
        config(&[], DhGroup::Curve25519),
        FullConfig {
            esp: vec![],
            ..config(&["aes256gcm16-prfsha256-curve25519"], DhGroup::Curve25519)
        },
        FullConfig {
            ts_i: vec![],
            ..config(&["aes256gcm16-prfsha256-curve25519"], DhGroup::Curve25519)
        },
    ];
    for c in cases {
        let r = FullInitiator::new(Arc::new(c), LOCAL, REMOTE, &mut rng);
        assert!(matches!(r.unwrap_err(), FullFailure::Unusable(_)));
    }
}

#[test]
fn cookies_are_sent_first_repeats_ignored_and_rounds_bounded() {
    let (mut i, first) = start(config(
        &["aes256gcm16-prfsha256-curve25519"],
        DhGroup::Curve25519,
    ));
    let spi_i = i.spi_i();
    // Not 1 to 64 octets: not believed.
    i.handle(
        T0,
        &answer(spi_i, [0; 8], &[notify(NotifyType::COOKIE, &[1; 65])]),
        &mut TestRng(1),
    );
    assert_eq!((i.stats().ignored, i.stats().cookies_received), (1, 0));
    for round in 1..=MAX_COOKIE_ROUNDS {
        let cookie = [round as u8; 16];
        let a = answer(spi_i, [0; 8], &[notify(NotifyType::COOKIE, &cookie)]);
        i.handle(T0, &a, &mut TestRng(1));
        let retry = next(&mut i).expect("a retry");
        let (p, q) = (payloads(&retry), payloads(&first));
        assert_eq!(p[0], notify(NotifyType::COOKIE, &cookie));
        assert_eq!(&p[1..], &q[..], "all other payloads unchanged");
        // The same cookie again: the retry is already outstanding.
        i.handle(T0, &a, &mut TestRng(1));
        assert!(next(&mut i).is_none());
    }
    assert_eq!(i.stats().cookies_received, u64::from(MAX_COOKIE_ROUNDS));
    let a = answer(spi_i, [0; 8], &[notify(NotifyType::COOKIE, &[0xee; 8])]);
    i.handle(T0, &a, &mut TestRng(1));
    assert_eq!(
        failure(&mut i),
        FullFailure::ProtocolError("too many COOKIE rounds")
    );
}

#[test]
fn hostile_or_refusing_sa_init_answers() {
    let offer = "aes128gcm16-prfsha256-ecp256";
    let spi_r = [0xff, 1, 2, 3, 4, 5, 6, 7];
    let mut peer_rng = TestRng(77);
    let peer = DhPrivate::generate(DhGroup::Ecp256, &mut peer_rng);
    let x25519 = DhPrivate::generate(DhGroup::Curve25519, &mut peer_rng);
    let good_t = IkeProposal::parse(offer).unwrap().transforms(None);
    let other_t = IkeProposal::parse("aes128gcm16-prfsha512-ecp256")
        .unwrap()
        .transforms(None);
    let nr = [5u8; 32];
    let accept = |spi_i, spi_r, t: &[_], ke: KeRepr<'_>, nr: &[u8]| {
        let props = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: t,
        }];
        answer(
            spi_i,
            spi_r,
            &[
                Payload::Sa(SaRepr::new(&props)),
                Payload::Ke(ke),
                Payload::Nonce(NonceRepr { nonce: nr }),
            ],
        )
    };
    let ke = |g: u16, k| KeRepr {
        dh_group: g,
        key_data: k,
    };
    let zeros = [0u8; 64];
    let cases: [(&[_], KeRepr<'_>, &[u8], FullFailure); 3] = [
        (
            &other_t,
            ke(19, peer.public_value()),
            &nr,
            FullFailure::ProtocolError("SAr1 is not one of our proposals"),
        ),
        (
            &good_t,
            ke(31, x25519.public_value()),
            &nr,
            FullFailure::ProtocolError("KEr of another group"),
        ),
        (
            &good_t,
            ke(19, &zeros),
            &nr,
            FullFailure::ProtocolError("invalid KEr public value"),
        ),
    ];
    for (t, k, n, want) in cases {
        let (mut i, _) = start(config(&[offer], DhGroup::Ecp256));
        let spi_i = i.spi_i();
        // Another SA's answer, or one with SPIr zero: ignored.
        i.handle(T0, &accept([9; 8], spi_r, t, k, n), &mut TestRng(1));
        i.handle(T0, &accept(spi_i, [0; 8], t, k, n), &mut TestRng(1));
        assert!(!i.is_done());
        assert_eq!(i.stats().ignored, 2);
        i.handle(T0, &accept(spi_i, spi_r, t, k, n), &mut TestRng(1));
        assert_eq!(failure(&mut i), want);
        assert!(next(&mut i).is_none(), "nothing more is sent");
    }
    // RFC 7296 §3.9: an Nr shorter than 16 octets makes the answer
    // malformed: ignored.
    let (mut i, _) = start(config(&[offer], DhGroup::Ecp256));
    let spi_i = i.spi_i();
    let short = accept(spi_i, spi_r, &good_t, ke(19, peer.public_value()), &nr[..8]);
    i.handle(T0, &short, &mut TestRng(1));
    assert!(!i.is_done());
    assert_eq!(i.stats().ignored, 1);
    // Refusals.
    for (t, want) in [
        (
            NotifyType::NO_PROPOSAL_CHOSEN,
            FullFailure::NoProposalChosen,
        ),
        (
            NotifyType::INVALID_SYNTAX,
            FullFailure::ErrorNotify(NotifyType::INVALID_SYNTAX),
        ),
    ] {
        let (mut i, _) = start(config(&[offer], DhGroup::Ecp256));
        let spi_i = i.spi_i();
        i.handle(
            T0,
            &answer(spi_i, [0; 8], &[notify(t, &[])]),
            &mut TestRng(1),
        );
        assert_eq!(failure(&mut i), want);
    }
    // The genuine answer moves on to IKE_AUTH (message 1, protected).
    let (mut i, _) = start(config(&[offer], DhGroup::Ecp256));
    let spi_i = i.spi_i();
    let a = accept(spi_i, spi_r, &good_t, ke(19, peer.public_value()), &nr);
    i.handle(T0, &a, &mut TestRng(1));
    let auth = next(&mut i).expect("IKE_AUTH is due");
    let h = Message::parse(&auth).unwrap().header;
    assert_eq!((h.spi_i, h.spi_r, h.message_id), (spi_i, spi_r, 1));
    assert_eq!(h.exchange_type, ExchangeType::IKE_AUTH);
    assert!(matches!(payloads(&auth)[..], [Payload::Sk(_)]));
    assert!(!i.is_done());
}
