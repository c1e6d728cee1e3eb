//! Hand-made hostile CREATE_CHILD_SA requests against an established IKE
//! SA, in memory on a virtual clock: invalid public values, missing or
//! malformed payloads, and an adopted child whose SPI is already in use
//! (RFC 7296 §1.3.1, §1.3.3; the slow path's refusals and counters).

#[path = "common/children.rs"]
mod children;
#[path = "common/full_pair.rs"]
mod full_pair;
#[path = "common/pair.rs"]
mod pair;

use children::*;
use full_pair::*;

use rebound_engine::child::{EspProposal, esp_transforms_pfs};
use rebound_engine::client::{ChildRequest, ClientSession, SessionResponse};
use rebound_engine::crypto::{DhGroup, DhPrivate};
use rebound_engine::slow_path::{SaChange, SaEvent, SlowPathCounter};
use rebound_engine::wire::{
    ExchangeType, KeRepr, NonceRepr, NotifyRepr, NotifyType, Payload, PayloadType, ProposalSpec,
    ProtocolId, SaRepr, TsRepr,
};

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
        Some(SaEvent::Changed(SaChange::ChildCreated { ike, child })) => {
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
            Some(SaEvent::Changed(SaChange::ChildRekeyed { old, child, .. }))
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
