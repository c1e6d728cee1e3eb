//! The initiator against hand-built responder messages (no responder code):
//! request layout, cookies, NACK, retransmission, hostile input, and full
//! exchanges whose keys are checked against the peer's.

mod full;
mod ike_auth;
mod peer;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::*;
use crate::child::EspProposal;
use crate::crypto::{AuthForm, ChildKeys, Encr, nat_detection_hash};
use crate::handoff::TsRange;
use crate::wire::{
    CfgAttrType, CfgType, ExchangeType, Flags, HEADER_LEN, IdType, Message, NotifyRepr, NotifyType,
    Payload, PayloadType, ProtocolId, TrafficSelector,
};
use peer::{AuthReply, Peer, TestRng, client_ticket, plain_response, suites};

const LOCAL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 500);
const REMOTE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);
const T0: Timestamp = Timestamp(1_800_000_000_000);

fn ticket() -> ClientTicket {
    client_ticket(suites()[0], T0.secs())
}

fn start(cfg: InitiatorConfig, ticket: ClientTicket, rng: &mut TestRng) -> ResumeInitiator {
    ResumeInitiator::new(Arc::new(cfg), ticket, LOCAL, REMOTE, T0, rng).unwrap()
}

/// The datagram due at `now`.
fn send(i: &mut ResumeInitiator, now: Timestamp) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let n = i.poll_transmit(now, &mut buf).expect("a datagram is due");
    buf[..n].to_vec()
}

fn payloads(bytes: &[u8]) -> Vec<Payload<'_>> {
    let mut v = Vec::new();
    Message::parse(bytes)
        .unwrap()
        .parse_all(|p| {
            v.push(p);
            Ok(())
        })
        .unwrap();
    v
}

fn notify(t: NotifyType, data: &[u8]) -> Payload<'_> {
    Payload::Notify(NotifyRepr::ike(t, data))
}

/// Runs a whole resumption against `peer`; returns the initiator (done)
/// and its event.
fn run(
    cfg: InitiatorConfig,
    ticket: ClientTicket,
    peer: &mut Peer,
    reply: &AuthReply,
) -> (ResumeInitiator, InitiatorEvent) {
    let mut rng = TestRng(0x5eed);
    let mut i = start(cfg, ticket, &mut rng);
    let req = send(&mut i, T0);
    assert!(!i.accepted());
    i.handle(T0.plus_millis(20), &peer.accept(&req), &mut rng);
    assert!(i.accepted(), "Nr came: the ticket was accepted");
    let auth = send(&mut i, T0.plus_millis(20));
    i.handle(T0.plus_millis(40), &peer.auth(&auth, reply), &mut rng);
    assert!(i.is_done());
    assert!(
        i.accepted(),
        "accepted stays true, whatever IKE_AUTH brought"
    );
    let ev = i.poll_event().expect("an event");
    assert!(i.poll_event().is_none(), "the event comes once");
    (i, ev)
}

#[test]
fn request_layout() {
    let mut rng = TestRng(1);
    let t = ticket();
    let mut i = start(InitiatorConfig::default(), t.clone(), &mut rng);
    let spi_i = i.spi_i();
    assert_ne!(spi_i, [0; 8]);
    let bytes = send(&mut i, T0);
    let msg = Message::parse(&bytes).unwrap();
    let h = msg.header;
    assert_eq!((h.spi_i, h.spi_r), (spi_i, [0; 8]));
    assert_eq!(h.exchange_type, ExchangeType::IKE_SESSION_RESUME);
    assert_eq!(h.flags, Flags::new(true, false));
    assert_eq!((h.message_id, h.minor_version), (0, 0));
    let p = payloads(&bytes);
    assert_eq!(p.len(), 4, "no cookie the first time: {p:?}");
    let Payload::Nonce(ni) = p[0] else {
        panic!("Ni first: {p:?}")
    };
    assert_eq!(ni.nonce.len(), NONCE_LEN);
    assert_ne!(ni.nonce, &[0; NONCE_LEN]);
    let src = nat_detection_hash(&spi_i, &[0; 8], LOCAL.ip(), LOCAL.port());
    let dst = nat_detection_hash(&spi_i, &[0; 8], REMOTE.ip(), REMOTE.port());
    assert_eq!(p[1], notify(NotifyType::TICKET_OPAQUE, &t.opaque));
    assert_eq!(p[2], notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src));
    assert_eq!(p[3], notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst));
    for n in &p[1..] {
        let Payload::Notify(n) = n else { panic!() };
        assert_eq!((n.protocol, n.spi), (ProtocolId::NONE, &[][..]));
    }
    // Sent once; the timer runs.
    assert_eq!(i.poll_transmit(T0, &mut [0u8; 4096]), None);
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(500)));
    assert_eq!(i.stats().sent, 1);
    assert!(!i.is_done());
    assert!(i.poll_event().is_none());
    // Debug names the SPI, never keys.
    assert!(format!("{i:?}").contains("ResumeInitiator"));
}

#[test]
fn expired_ticket_or_bad_config_is_refused_before_anything_is_sent() {
    let calls = core::cell::Cell::new(0u32);
    let mut rng = |b: &mut [u8]| {
        calls.set(calls.get() + 1);
        b.fill(9);
    };
    for expires_at in [0, T0.secs() - 1, T0.secs()] {
        let mut t = ticket();
        t.expires_at = expires_at;
        let r = ResumeInitiator::new(Arc::default(), t, LOCAL, REMOTE, T0, &mut rng);
        assert_eq!(r.unwrap_err(), Fallback::TicketExpired);
    }
    for cfg in [
        InitiatorConfig {
            esp: vec![],
            ..InitiatorConfig::default()
        },
        InitiatorConfig {
            ts_r: vec![],
            ..InitiatorConfig::default()
        },
    ] {
        let r = ResumeInitiator::new(Arc::new(cfg), ticket(), LOCAL, REMOTE, T0, &mut rng);
        assert!(matches!(r.unwrap_err(), Fallback::Unusable(_)));
    }
    let mut t = ticket();
    t.opaque = vec![1; 70_000];
    let r = ResumeInitiator::new(Arc::default(), t, LOCAL, REMOTE, T0, &mut rng);
    assert!(matches!(r.unwrap_err(), Fallback::Unusable(_)));
    assert_eq!(
        calls.get(),
        2,
        "only the ticket too long drew SPI and nonce"
    );
    let mut t = ticket();
    t.expires_at = T0.secs() + 1;
    assert!(ResumeInitiator::new(Arc::default(), t, LOCAL, REMOTE, T0, &mut rng).is_ok());
}

#[test]
fn cookie_is_sent_first_with_everything_else_unchanged() {
    let mut rng = TestRng(2);
    let mut i = start(InitiatorConfig::default(), ticket(), &mut rng);
    let first = send(&mut i, T0);
    let spi_i = i.spi_i();
    let cookie = b"cookie-from-the-gateway";
    let resp = plain_response(spi_i, [0; 8], &[notify(NotifyType::COOKIE, cookie)]);
    i.handle(T0.plus_millis(10), &resp, &mut rng);
    assert_eq!(i.stats().cookies_received, 1);
    let second = send(&mut i, T0.plus_millis(10));
    let (a, b) = (payloads(&first), payloads(&second));
    assert_eq!(b[0], notify(NotifyType::COOKIE, cookie));
    assert_eq!(b[1..], a[..], "all other payloads unchanged");
    // Byte for byte: same SPIs and flags; the old payloads follow the cookie.
    let cookie_len = 8 + cookie.len();
    assert_eq!(second[..16], first[..16]);
    assert_eq!(second[18..24], first[18..24]);
    assert_eq!(second[HEADER_LEN + cookie_len..], first[HEADER_LEN..]);
    assert_eq!(second[HEADER_LEN], PayloadType::NONCE.0);
    // A repeat of the same cookie is ignored (the timer covers losses).
    i.handle(T0.plus_millis(20), &resp, &mut rng);
    assert_eq!(i.stats().ignored, 1);
    assert_eq!(i.poll_transmit(T0, &mut [0u8; 4096]), None);
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(510)));
    // Two more rounds are accepted, the fourth is a protocol error.
    for round in 2..=MAX_COOKIE_ROUNDS + 1 {
        let c = [round as u8; 16];
        let resp = plain_response(spi_i, [0; 8], &[notify(NotifyType::COOKIE, &c)]);
        i.handle(T0.plus_millis(30), &resp, &mut rng);
        if round <= MAX_COOKIE_ROUNDS {
            let again = send(&mut i, T0.plus_millis(30));
            assert_eq!(payloads(&again)[0], notify(NotifyType::COOKIE, &c));
            assert_eq!(payloads(&again)[1..], a[..]);
        }
    }
    assert_eq!(i.stats().cookies_received, u64::from(MAX_COOKIE_ROUNDS));
    assert!(matches!(
        i.poll_event(),
        Some(InitiatorEvent::Failed(Fallback::ProtocolError(_)))
    ));
    // Cookies of the wrong size are ignored.
    let mut i = start(InitiatorConfig::default(), ticket(), &mut rng);
    send(&mut i, T0);
    for c in [&[][..], &[1; 65][..]] {
        let resp = plain_response(i.spi_i(), [0; 8], &[notify(NotifyType::COOKIE, c)]);
        i.handle(T0, &resp, &mut rng);
    }
    assert_eq!((i.stats().ignored, i.stats().cookies_received), (2, 0));
}

#[test]
fn resumption_after_a_cookie_signs_the_request_with_the_cookie() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let mut rng = TestRng(3);
    let mut i = start(InitiatorConfig::default(), t, &mut rng);
    send(&mut i, T0);
    let resp = plain_response(i.spi_i(), [0; 8], &[notify(NotifyType::COOKIE, &[5; 32])]);
    i.handle(T0, &resp, &mut rng);
    let with_cookie = send(&mut i, T0);
    // The peer checks AUTH over RealMessage1 = the request with the cookie.
    i.handle(T0, &peer.accept(&with_cookie), &mut rng);
    let auth = send(&mut i, T0);
    i.handle(T0, &peer.auth(&auth, &AuthReply::default()), &mut rng);
    assert_eq!(peer.seen.form, Some(AuthForm::Rfc));
    assert!(matches!(
        i.poll_event(),
        Some(InitiatorEvent::Established {
            child_error: None,
            ..
        })
    ));
}

#[test]
fn nack_or_error_fails_and_nothing_more_is_sent() {
    for (payload_type, want) in [
        (NotifyType::TICKET_NACK, Fallback::TicketRefused),
        (
            NotifyType::INVALID_SYNTAX,
            Fallback::ErrorNotify(NotifyType::INVALID_SYNTAX),
        ),
    ] {
        let mut rng = TestRng(4);
        let mut i = start(InitiatorConfig::default(), ticket(), &mut rng);
        let req = send(&mut i, T0);
        let resp = plain_response(i.spi_i(), [0; 8], &[notify(payload_type, &[])]);
        i.handle(T0.plus_millis(5), &resp, &mut rng);
        assert!(i.is_done());
        assert!(!i.accepted(), "a refusal is no acceptance");
        assert_eq!(i.poll_transmit(T0, &mut [0u8; 4096]), None);
        assert_eq!(i.poll_timeout(), None);
        i.handle_timeout(T0.plus_millis(60_000));
        assert_eq!(i.poll_transmit(T0, &mut [0u8; 4096]), None);
        match i.poll_event() {
            Some(InitiatorEvent::Failed(f)) => assert_eq!(f, want),
            other => panic!("{other:?}"),
        }
        // Late duplicates are ignored.
        i.handle(T0.plus_millis(6), &resp, &mut rng);
        assert_eq!(i.stats().ignored, 1);
        assert!(i.poll_event().is_none());
        assert_eq!(i.stats().sent, 1);
        drop(req);
    }
}

#[test]
fn retransmits_byte_identical_with_backoff_then_times_out() {
    let mut rng = TestRng(5);
    let mut i = start(InitiatorConfig::default(), ticket(), &mut rng);
    let first = send(&mut i, T0);
    let mut sent_at = vec![0];
    loop {
        let due = i.poll_timeout().expect("a timer runs");
        i.handle_timeout(Timestamp(due.0 - 1));
        assert_eq!(
            i.poll_transmit(due, &mut [0u8; 4096]),
            None,
            "early: nothing"
        );
        i.handle_timeout(due);
        if i.is_done() {
            assert_eq!(due.millis_since(T0), 23_500);
            break;
        }
        assert_eq!(i.poll_timeout(), None, "a datagram is due first");
        assert_eq!(send(&mut i, due), first, "byte-identical resend");
        sent_at.push(due.millis_since(T0));
    }
    assert_eq!(sent_at, [0, 500, 1_500, 3_500, 7_500, 15_500]);
    assert!(matches!(
        i.poll_event(),
        Some(InitiatorEvent::Failed(Fallback::Timeout))
    ));
    assert_eq!((i.stats().sent, i.stats().retransmissions), (6, 5));
    assert_eq!(i.poll_timeout(), None);

    // The IKE_AUTH request is retransmitted the same way.
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let mut i = start(InitiatorConfig::default(), t, &mut rng);
    let req = send(&mut i, T0);
    i.handle(T0, &peer.accept(&req), &mut rng);
    let auth = send(&mut i, T0.plus_millis(100));
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(600)));
    i.handle_timeout(T0.plus_millis(600));
    assert_eq!(send(&mut i, T0.plus_millis(600)), auth);
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(1_600)));
    // A response to the first copy still completes the exchange.
    i.handle(
        T0.plus_millis(700),
        &peer.auth(&auth, &AuthReply::default()),
        &mut rng,
    );
    assert!(matches!(
        i.poll_event(),
        Some(InitiatorEvent::Established { .. })
    ));
    assert_eq!(i.stats().retransmissions, 1);
}

#[test]
fn garbage_truncations_and_flipped_bits_are_ignored() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let mut rng = TestRng(6);
    let mut i = start(InitiatorConfig::default(), t, &mut rng);
    let req = send(&mut i, T0);
    let resp = peer.accept(&req);
    let mut ignored = 0;
    for cut in 0..resp.len() {
        i.handle(T0, &resp[..cut], &mut rng);
        ignored += 1;
    }
    let mut noise = TestRng(0xdead_beef);
    for n in 0..300usize {
        let mut d = vec![0u8; n % 97 + n / 3];
        noise.fill(&mut d);
        if n % 2 == 0 && d.len() >= HEADER_LEN {
            // A plausible header (ours, version 2, right length) on noise.
            d[..HEADER_LEN].copy_from_slice(&resp[..HEADER_LEN]);
            let len = d.len() as u32;
            d[24..28].copy_from_slice(&len.to_be_bytes());
        }
        i.handle(T0, &d, &mut rng);
        ignored += 1;
    }
    assert_eq!(i.stats().ignored, ignored);
    assert!(!i.is_done());
    assert_eq!(i.poll_timeout(), Some(T0.plus_millis(500)));

    i.handle(T0, &resp, &mut rng);
    let auth = send(&mut i, T0);
    let good = peer.auth(&auth, &AuthReply::default());
    for cut in 0..good.len() {
        i.handle(T0, &good[..cut], &mut rng);
        ignored += 1;
    }
    for bit in 0..good.len() * 8 {
        let mut d = good.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        i.handle(T0, &d, &mut rng);
        ignored += 1;
    }
    let mut long = good.clone();
    long.push(0);
    i.handle(T0, &long, &mut rng);
    ignored += 1;
    assert_eq!(i.stats().ignored, ignored);
    assert!(!i.is_done(), "nothing unauthentic ended the exchange");
    i.handle(T0, &good, &mut rng);
    assert!(matches!(
        i.poll_event(),
        Some(InitiatorEvent::Established { .. })
    ));
}

#[test]
fn unrelated_responses_are_ignored() {
    let t = ticket();
    let mut peer = Peer::new(&t, REMOTE, LOCAL);
    let mut rng = TestRng(7);
    let mut i = start(InitiatorConfig::default(), t, &mut rng);
    let req = send(&mut i, T0);
    let good = peer.accept(&req);
    let variants: [(usize, u8); 6] = [
        (0, good[0] ^ 1), // another SPIi
        (18, 35),         // IKE_AUTH instead of IKE_SESSION_RESUME
        (19, 0x08),       // a request (I flag, no R flag)
        (19, 0x28),       // R flag but also I: not from the responder
        (23, 1),          // message id 1
        (8, 0),           // an accepting answer with SPIr 0
    ];
    for (at, v) in variants {
        let mut d = good.clone();
        d[at] = v;
        if at == 8 {
            d[8..16].fill(0);
        }
        i.handle(T0, &d, &mut rng);
    }
    // Our own request reflected back.
    i.handle(T0, &req, &mut rng);
    assert_eq!(i.stats().ignored, 7);
    assert!(!i.is_done());

    i.handle(T0, &good, &mut rng);
    let auth = send(&mut i, T0);
    // In the IKE_AUTH phase: the late IKE_SESSION_RESUME response, and an
    // unprotected (unauthenticated) AUTHENTICATION_FAILED.
    i.handle(T0, &good, &mut rng);
    let mut fake = plain_response(
        i.spi_i(),
        peer.spi_r,
        &[notify(NotifyType::AUTHENTICATION_FAILED, &[])],
    );
    fake[18] = ExchangeType::IKE_AUTH.0;
    fake[23] = 1;
    i.handle(T0, &fake, &mut rng);
    assert_eq!(i.stats().ignored, 9);
    assert!(!i.is_done());
    i.handle(T0, &peer.auth(&auth, &AuthReply::default()), &mut rng);
    assert!(i.is_done());
}

#[test]
fn too_small_output_buffer_keeps_the_datagram_due() {
    let mut rng = TestRng(9);
    let mut i = start(InitiatorConfig::default(), ticket(), &mut rng);
    assert_eq!(i.poll_transmit(T0, &mut [0u8; 40]), None);
    assert_eq!(i.poll_timeout(), None);
    assert_eq!(i.stats().sent, 0);
    assert!(!send(&mut i, T0).is_empty());
}
