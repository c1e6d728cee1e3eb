//! Resumption end to end, in memory: the initiator and the responder
//! driven through every case of RFC 5723 §4.3 by the pair harness, with a
//! virtual clock and a fault injector.

#[path = "common/pair.rs"]
mod pair;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use pair::*;
use rebound_engine::child::{EspProposal, MemoryPool};
use rebound_engine::client::{ClientTicket, Fallback, InitiatorConfig, InitiatorEvent};
use rebound_engine::crypto::{AuthForm, ChildKeys, IkeKeys, PrfAlg, Role, SkCipher, resume_auth};
use rebound_engine::handoff::{Origin, TsRange};
use rebound_engine::responder::{Counter, ResponderConfig, TicketIssuePolicy};
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::{TicketId, TicketReject};
use rebound_engine::time::Timestamp;
use rebound_engine::wire::*;

fn client() -> InitiatorConfig {
    InitiatorConfig::default()
}

fn established(
    p: &Pair,
    i: usize,
) -> (&EstablishedSaRef, Option<&ClientTicket>, Option<NotifyType>) {
    match p.event(i) {
        InitiatorEvent::Established {
            sa,
            new_ticket,
            child_error,
            ..
        } => (sa, new_ticket.as_ref(), *child_error),
        other => panic!("client {i} did not resume: {other:?}"),
    }
}

type EstablishedSaRef = rebound_engine::handoff::EstablishedSa;

fn failed(p: &Pair, i: usize) -> Fallback {
    match p.event(i) {
        InitiatorEvent::Failed(f) => *f,
        other => panic!("client {i} resumed but should not have: {other:?}"),
    }
}

fn one(gw: Gateway, cfg: InitiatorConfig, ticket: ClientTicket) -> Pair {
    let mut p = Pair::new(gw);
    p.connect(cfg, ticket).expect("initiator starts");
    p.run();
    p
}

#[test]
fn happy_path_both_sides_agree_on_everything() {
    let gw = Gateway::new(ResponderConfig::default());
    let ticket = gw.ticket(1);
    let old = (ticket.state.old_spi_i, ticket.state.old_spi_r);
    let p = one(gw, client(), ticket);
    let (c, new_ticket, child_error) = established(&p, 0);
    assert_eq!(child_error, None);
    assert_eq!(p.established.len(), 1);
    let g = &p.established[0];
    // Same SA on both sides.
    assert_eq!((c.spi_i, c.spi_r), (g.spi_i, g.spi_r));
    assert_eq!(g.spi_r[0], 0, "SPIr names worker 0");
    assert_eq!(c.ni, g.ni);
    assert_eq!(c.nr, g.nr);
    assert_eq!(g.nr.len(), 32);
    for (a, b) in [
        (&c.keys.sk_d, &g.keys.sk_d),
        (&c.keys.sk_ei, &g.keys.sk_ei),
        (&c.keys.sk_er, &g.keys.sk_er),
        (&c.keys.sk_pi, &g.keys.sk_pi),
        (&c.keys.sk_pr, &g.keys.sk_pr),
    ] {
        assert!(a.ct_eq(b));
        assert!(!a.is_empty());
    }
    // The keys are those of RFC 5723 §5.1, computed independently here.
    let st = client_state(1, gcm256_sha256());
    let want = IkeKeys::derive_resumed(
        &st.suite.suite,
        st.sk_d.as_bytes(),
        &g.ni,
        &g.nr,
        &g.spi_i,
        &g.spi_r,
    )
    .unwrap();
    assert!(want.sk_d.ct_eq(&g.keys.sk_d) && want.sk_er.ct_eq(&g.keys.sk_er));
    // The child SA: mirror SPIs, equal keys = prf+(SK_d, Ni | Nr).
    let (cc, gc) = (c.child.as_ref().unwrap(), g.child.as_ref().unwrap());
    assert_eq!((cc.spi_i, cc.spi_r), (gc.spi_i, gc.spi_r));
    assert_eq!(gc.encr, rebound_engine::crypto::Encr::AES_GCM_256);
    let k = ChildKeys::derive(
        PrfAlg::HmacSha256,
        g.keys.sk_d.as_bytes(),
        None,
        &g.ni,
        &g.nr,
        gc.encr,
        gc.integ,
    )
    .unwrap();
    assert!(k.encr_i2r.ct_eq(&gc.keys.encr_i2r) && k.encr_r2i.ct_eq(&cc.keys.encr_r2i));
    assert_eq!(gc.ts_i, cc.ts_i);
    assert_eq!(gc.ts_r, cc.ts_r);
    // The old SA is named for silent deletion (§4.3.4), identities kept.
    assert_eq!(g.replaces(), Some(old));
    assert_eq!(c.replaces(), Some(old));
    assert!(matches!(
        g.origin,
        Origin::Resumed {
            auth_form: AuthForm::Rfc,
            ..
        }
    ));
    assert_eq!(g.id_i.data(), b"client-1.example.net");
    assert_eq!(g.peer, client_addr(0));
    assert!(!g.nat.any() && g.nat.detection);
    // A new ticket for the new SA, whose id the gateway reports.
    let nt = new_ticket.expect("a new ticket");
    assert!(g.new_ticket.is_some());
    assert_eq!((nt.state.old_spi_i, nt.state.old_spi_r), (g.spi_i, g.spi_r));
    assert_eq!(p.gw.count(Counter::Established), 1);
    assert_eq!(p.gw.count(Counter::TicketsIssued), 1);
    assert_eq!(p.gw.count(Counter::AuthFormRfc), 1);
    assert_eq!(p.gw.responder.half_open(), 0);
}

#[test]
fn new_ticket_resumes_again_and_the_old_one_is_refused() {
    let gw = Gateway::new(ResponderConfig::default());
    let first = gw.ticket(2);
    let replay = first.clone();
    let mut p = one(gw, client(), first);
    let (sa1, nt, _) = established(&p, 0);
    let (spis1, nt) = ((sa1.spi_i, sa1.spi_r), nt.unwrap().clone());
    let sk_d1 = sa1.keys.sk_d.as_bytes().to_vec();
    assert!(nt.expires_at > T0 && nt.expires_at <= T0 + 20 * HOUR);
    p.advance_secs(60);
    p.connect(client(), nt).unwrap();
    p.run();
    let (sa2, _, _) = established(&p, 1);
    assert_eq!(
        sa2.replaces(),
        Some(spis1),
        "the second SA replaces the first"
    );
    assert_ne!(sa2.keys.sk_d.as_bytes(), &sk_d1[..]);
    // The first ticket again: single use.
    p.connect(client(), replay).unwrap();
    p.run();
    assert_eq!(failed(&p, 2), Fallback::TicketRefused);
    assert_eq!(p.gw.count(Counter::NackReused), 1);
    assert_eq!(p.established.len(), 2);
}

#[test]
fn by_reference_tickets_resume_and_issue_by_reference() {
    let cfg = ResponderConfig {
        tickets: TicketIssuePolicy {
            kind: Some(TicketKind::ByReference),
            ..TicketIssuePolicy::default()
        },
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.mint(
        TicketKind::ByReference,
        client_state(3, gcm256_sha256()),
        T0,
    );
    assert_eq!(t.opaque.len(), 49);
    let mut p = one(gw, client(), t);
    let (_, nt, _) = established(&p, 0);
    let nt = nt.unwrap().clone();
    assert_eq!(nt.opaque.len(), 49);
    p.connect(client(), nt).unwrap();
    p.run();
    established(&p, 1);
}

/// Build a ticket that fails to open for `reason`, on the given pair.
#[test]
fn every_nack_reason_is_refused_counted_and_falls_back() {
    for reason in TicketReject::ALL {
        let gw = Gateway::new(ResponderConfig::default());
        let kind = if reason == TicketReject::NotFound {
            TicketKind::ByReference
        } else {
            TicketKind::ByValue
        };
        let mut t = gw.mint(kind, client_state(4, gcm256_sha256()), T0);
        let mut p = Pair::new(gw);
        match reason {
            TicketReject::Malformed => t.opaque.truncate(10),
            TicketReject::UnknownVersion => t.opaque[0] = 99,
            TicketReject::TooLong => t.opaque.resize(2000, 0),
            TicketReject::UnknownKey => t.opaque[1] ^= 0xff,
            TicketReject::BadTag => {
                let last = t.opaque.len() - 1;
                t.opaque[last] ^= 1;
            }
            TicketReject::Expired => {
                // The gateway's clock is past the expiry; the client still
                // believes the ticket valid.
                t.expires_at = T0 + 100 * HOUR;
                p.now = Timestamp::from_secs(T0 + 7 * HOUR);
            }
            TicketReject::Revoked => {
                p.gw.revocations
                    .revoke_identity(
                        &[&[IdType::FQDN.0][..], b"client-4.example.net"].concat(),
                        T0,
                        T0 + 24 * HOUR,
                    )
                    .unwrap()
            }
            TicketReject::Reused => {
                use rebound_engine::ticket::guard::SingleUseGuard;
                let id = TicketId(t.opaque[9..25].try_into().unwrap());
                p.gw.guard.claim(&id, t.state.expiry, T0).unwrap();
            }
            TicketReject::NotFound => {
                use rebound_engine::ticket::store::TicketStore;
                let id = TicketId(t.opaque[9..25].try_into().unwrap());
                assert!(p.gw.store.remove(&id).unwrap());
            }
            TicketReject::Unavailable => {
                // A gateway of a cluster whose Redis did not answer in
                // time, policy fail-closed.
                let id = TicketId(t.opaque[9..25].try_into().unwrap());
                p.gw.responder.enable_cluster();
                p.gw.responder.resolve_cluster(
                    id,
                    rebound_engine::ticket::cluster::Outcome::Unavailable,
                    None,
                    Timestamp::from_secs(T0),
                );
            }
            _ => unreachable!(),
        }
        p.connect(client(), t).unwrap();
        p.run();
        assert_eq!(failed(&p, 0), Fallback::TicketRefused, "{reason:?}");
        let label = format!("nack_{}", reason.counter_label());
        let c = rebound_engine::responder::nack_counter(reason);
        assert_eq!(c.label(), label);
        assert_eq!(p.gw.count(c), 1, "{reason:?}");
        assert_eq!(p.gw.responder.half_open(), 0);
        assert!(p.established.is_empty());
        // The NACK is unprotected, SPIr zero, and nothing else.
        let last = &p.capture.last().unwrap().bytes;
        let m = Message::parse(last).unwrap();
        assert_eq!(m.header.spi_r, [0; 8]);
        let kinds: Vec<_> = m.payloads().map(|r| r.unwrap().parse().unwrap()).collect();
        assert!(
            matches!(kinds.as_slice(), [Payload::Notify(n)] if n.notify_type == NotifyType::TICKET_NACK)
        );
    }
}

#[test]
fn expired_ticket_is_never_presented_and_expired_key_is_refused() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(5);
    let mut p = Pair::new(gw);
    p.now = Timestamp::from_secs(t.expires_at);
    assert_eq!(
        p.connect(client(), t.clone()).unwrap_err(),
        Fallback::TicketExpired
    );
    assert!(p.capture.is_empty(), "nothing was sent");
    // The key's acceptance window is over (the ticket itself still valid
    // in the client's eyes): UnknownKey.
    let mut t2 = t;
    t2.expires_at = T0 + 100 * HOUR;
    p.now = Timestamp::from_secs(T0 + 19 * HOUR);
    p.connect(client(), t2).unwrap();
    p.run();
    assert_eq!(failed(&p, 0), Fallback::TicketRefused);
    // The ticket itself expired at T0 + 6 h as well; the key is checked
    // first, so the refusal names the key.
    assert_eq!(p.gw.count(Counter::NackUnknownKey), 1);
    assert_eq!(p.gw.count(Counter::NackExpired), 0);
}

#[test]
fn reauth_deadline_passed_is_refused() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut st = client_state(6, gcm256_sha256());
    st.reauth_deadline = T0 + 60;
    let t = gw.mint(TicketKind::ByValue, st, T0);
    let mut p = Pair::new(gw);
    p.now = Timestamp::from_secs(T0 + 61);
    p.connect(client(), t).unwrap();
    p.run();
    assert_eq!(failed(&p, 0), Fallback::TicketRefused);
    assert_eq!(p.gw.count(Counter::NackReauthDue), 1);
}

#[test]
fn cookie_round_trip_above_the_threshold() {
    let cfg = ResponderConfig {
        cookie_threshold: 0,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(7);
    let p = one(gw, client(), t);
    established(&p, 0);
    assert_eq!(p.gw.count(Counter::CookiesSent), 1);
    assert_eq!(p.gw.count(Counter::CookiesValid), 1);
    assert_eq!(p.clients[0].init.stats().cookies_received, 1);
    // The second request starts with N(COOKIE) and is otherwise the first.
    let reqs: Vec<_> = p
        .capture
        .iter()
        .filter(|c| c.dir == Dir::ToGateway)
        .take(2)
        .map(|c| c.bytes.clone())
        .collect();
    let first = Message::parse(&reqs[0]).unwrap();
    let second = Message::parse(&reqs[1]).unwrap();
    let p2: Vec<_> = second
        .payloads()
        .map(|r| r.unwrap().parse().unwrap())
        .collect();
    assert!(matches!(p2[0], Payload::Notify(n) if n.notify_type == NotifyType::COOKIE));
    let p1: Vec<_> = first
        .payloads()
        .map(|r| r.unwrap().parse().unwrap())
        .collect();
    assert_eq!(&p2[1..], &p1[..]);
    assert_eq!(first.header.spi_i, second.header.spi_i);
}

#[test]
fn forged_or_stale_cookies_get_a_fresh_cookie_and_no_state() {
    let cfg = ResponderConfig {
        cookie_threshold: 0,
        cookie_rotate_ms: 10_000,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(8);
    let mut p = Pair::new(gw);
    // A forged cookie in front of a genuine request.
    let mut hdr =
        HeaderRepr::initiator_request([3; 8], [0; 8], ExchangeType::IKE_SESSION_RESUME, 0);
    let forged = build(
        &hdr,
        &[
            Payload::Notify(NotifyRepr::ike(NotifyType::COOKIE, &[0; 33])),
            Payload::Nonce(NonceRepr { nonce: &[1; 32] }),
            Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, &t.opaque)),
        ],
    );
    p.inject(0, forged);
    p.step();
    assert_eq!(p.gw.count(Counter::CookiesInvalid), 1);
    assert_eq!(p.gw.count(Counter::CookiesSent), 1);
    assert_eq!(p.gw.responder.half_open(), 0);
    // A genuine cookie that has seen two rotations is stale.
    let answer = p.capture.last().unwrap().bytes.clone();
    let cookie = notify_data(&answer, NotifyType::COOKIE).unwrap();
    p.advance_secs(25);
    hdr.spi_i = [3; 8];
    let stale = build(
        &hdr,
        &[
            Payload::Notify(NotifyRepr::ike(NotifyType::COOKIE, &cookie)),
            Payload::Nonce(NonceRepr { nonce: &[1; 32] }),
            Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, &t.opaque)),
        ],
    );
    p.inject(0, stale);
    p.step();
    assert_eq!(p.gw.count(Counter::CookiesInvalid), 2);
    assert_eq!(p.gw.responder.half_open(), 0);
}

fn build(hdr: &HeaderRepr, payloads: &[Payload<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = MessageBuilder::new(&mut buf, hdr).unwrap();
    for p in payloads {
        b.push(p).unwrap();
    }
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

fn notify_data(msg: &[u8], t: NotifyType) -> Option<Vec<u8>> {
    let m = Message::parse(msg).ok()?;
    m.payloads().find_map(|r| match r.ok()?.parse().ok()? {
        Payload::Notify(n) if n.notify_type == t => Some(n.data.to_vec()),
        _ => None,
    })
}

#[test]
fn lost_and_duplicated_packets_in_both_exchanges() {
    // Every combination of dropping or duplicating the n-th datagram in
    // either direction still ends in exactly one established SA.
    for dir in [Dir::ToGateway, Dir::ToClient] {
        // Each direction carries two datagrams (resume, IKE_AUTH).
        for index in 0..2 {
            for fate in [Fate::Drop, Fate::Duplicate] {
                let gw = Gateway::new(ResponderConfig::default());
                let t = gw.ticket(9);
                let mut p = Pair::new(gw);
                p.fault_once(dir, index, fate);
                p.connect(client(), t).unwrap();
                p.run();
                let what = format!("{fate:?} {dir:?} #{index}");
                established(&p, 0);
                assert_eq!(p.established.len(), 1, "{what}");
                assert_eq!(p.gw.count(Counter::Established), 1, "{what}");
                assert_eq!(
                    p.gw.count(Counter::ResumeAccepted),
                    1,
                    "one half-open SA: {what}"
                );
            }
        }
    }
}

#[test]
fn retransmitted_request_gets_the_byte_identical_answer() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(10);
    let mut p = Pair::new(gw);
    // Lose the first answer: the client retransmits its request.
    p.fault_once(Dir::ToClient, 0, Fate::Drop);
    p.connect(client(), t).unwrap();
    p.run();
    established(&p, 0);
    let answers: Vec<_> = p
        .capture
        .iter()
        .filter(|c| c.dir == Dir::ToClient)
        .map(|c| c.bytes.clone())
        .collect();
    assert_eq!(answers[0], answers[1], "same Nr, same SPIr, same bytes");
    assert_eq!(p.gw.count(Counter::ResumeRetransmits), 1);
    assert_eq!(p.gw.count(Counter::ResumeAccepted), 1);
    assert_eq!(p.clients[0].init.stats().retransmissions, 1);
}

#[test]
fn same_spi_other_bytes_is_dropped() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(11);
    let mut p = Pair::new(gw);
    p.connect(client(), t).unwrap();
    p.step();
    let mut req = p.capture[0].bytes.clone();
    // Change a byte of Ni.
    req[40] ^= 1;
    p.inject(0, req);
    p.step();
    assert_eq!(p.gw.count(Counter::ResumeSpiConflict), 1);
    assert_eq!(p.gw.count(Counter::ResumeAccepted), 1);
}

#[test]
fn racing_resumptions_with_one_ticket_yield_one_sa() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(12);
    let mut p = Pair::new(gw);
    // Both present the ticket before either IKE_AUTH: both pass the
    // IKE_SESSION_RESUME stage; the guard lets one IKE_AUTH win.
    p.connect(client(), t.clone()).unwrap();
    p.connect(client(), t).unwrap();
    p.run();
    let outcomes: Vec<bool> = (0..2)
        .map(|i| matches!(p.event(i), InitiatorEvent::Established { .. }))
        .collect();
    assert_eq!(outcomes.iter().filter(|&&x| x).count(), 1, "{outcomes:?}");
    let loser = outcomes.iter().position(|&x| !x).unwrap();
    assert_eq!(failed(&p, loser), Fallback::TicketRefused);
    assert_eq!(p.gw.count(Counter::ResumeAccepted), 2);
    assert_eq!(p.gw.count(Counter::NackClaimLost), 1);
    assert_eq!(p.established.len(), 1);
    assert_eq!(p.gw.responder.half_open(), 0);
}

#[test]
fn message_only_auth_form_is_answered_in_kind_and_counted() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(13);
    let cfg = InitiatorConfig {
        auth_form: AuthForm::MessageOnly,
        ..client()
    };
    let p = one(gw, cfg, t);
    established(&p, 0);
    assert!(matches!(
        p.established[0].origin,
        Origin::Resumed {
            auth_form: AuthForm::MessageOnly,
            ..
        }
    ));
    assert_eq!(p.gw.count(Counter::AuthFormMessageOnly), 1);
    assert_eq!(p.gw.count(Counter::AuthFormRfc), 0);
}

#[test]
fn wrong_idi_is_authentication_failed() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut t = gw.ticket(14);
    // The client's copy names someone else than the sealed ticket.
    t.state.id_i =
        rebound_engine::ticket::state::TicketIdentity::new(IdType::FQDN, b"mallory.example")
            .unwrap();
    let p = one(gw, client(), t);
    assert_eq!(failed(&p, 0), Fallback::AuthenticationFailed);
    assert_eq!(p.gw.count(Counter::AuthIdMismatch), 1);
    assert_eq!(p.gw.responder.half_open(), 0, "half-open SA gone");
    assert!(p.established.is_empty());
}

#[test]
fn wrong_idr_is_authentication_failed() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut t = gw.ticket(15);
    t.state.id_r =
        rebound_engine::ticket::state::TicketIdentity::new(IdType::FQDN, b"other-gw").unwrap();
    let p = one(gw, client(), t);
    assert_eq!(failed(&p, 0), Fallback::AuthenticationFailed);
    assert_eq!(p.gw.count(Counter::AuthIdMismatch), 1);
}

/// A hand-driven initiator for what the real one never sends.
struct Manual {
    spi_i: [u8; 8],
    ni: [u8; 32],
    ticket: ClientTicket,
    request: Vec<u8>,
}

impl Manual {
    fn new(ticket: ClientTicket, seed: u8) -> Self {
        let spi_i = [0x77, seed, 1, 1, 1, 1, 1, 1];
        let ni = [seed; 32];
        let hdr = HeaderRepr {
            spi_i,
            spi_r: [0; 8],
            next_payload: PayloadType::NONE,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SESSION_RESUME,
            flags: Flags::new(true, false),
            message_id: 0,
        };
        let request = build(
            &hdr,
            &[
                Payload::Nonce(NonceRepr { nonce: &ni }),
                Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, &ticket.opaque)),
            ],
        );
        Manual {
            spi_i,
            ni,
            ticket,
            request,
        }
    }

    /// Keys and ciphers from the gateway's answer.
    fn keys(&self, response: &[u8]) -> ([u8; 8], Vec<u8>, IkeKeys, SkCipher, SkCipher) {
        let m = Message::parse(response).unwrap();
        let nr = m
            .payloads()
            .find_map(|r| match r.unwrap().parse().unwrap() {
                Payload::Nonce(n) => Some(n.nonce.to_vec()),
                _ => None,
            })
            .unwrap();
        let suite = self.ticket.state.suite.suite;
        let keys = IkeKeys::derive_resumed(
            &suite,
            self.ticket.state.sk_d.as_bytes(),
            &self.ni,
            &nr,
            &self.spi_i,
            &m.header.spi_r,
        )
        .unwrap();
        let (out, inb) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        (m.header.spi_r, nr, keys, out, inb)
    }

    /// The correct AUTH for this exchange.
    fn auth(&self, keys: &IkeKeys, nr: &[u8]) -> Vec<u8> {
        let id = &self.ticket.state.id_i;
        let body = [&[id.id_type.0, 0, 0, 0][..], id.data()].concat();
        let mut out = [0u8; 64];
        let n = resume_auth(
            PrfAlg::HmacSha256,
            keys.sk_pi.as_bytes(),
            AuthForm::Rfc,
            &self.request,
            nr,
            &body,
            &mut out,
        )
        .unwrap();
        out[..n].to_vec()
    }

    /// The genuine IKE_AUTH for the gateway's answer `response`: IDi and
    /// the correct AUTH; also returns the ciphers of the exchange.
    fn genuine_auth(&self, response: &[u8]) -> (Vec<u8>, SkCipher, SkCipher) {
        let (spi_r, nr, keys, out_c, inb) = self.keys(response);
        let auth = self.auth(&keys, &nr);
        let id = self.ticket.state.id_i;
        let req = self.ike_auth(
            spi_r,
            &out_c,
            &[
                Payload::IdI(IdRepr {
                    id_type: id.id_type,
                    data: id.data(),
                }),
                Payload::Auth(AuthRepr {
                    method: AuthMethod::SHARED_KEY_MIC,
                    data: &auth,
                }),
            ],
        );
        (req, out_c, inb)
    }

    fn ike_auth(&self, spi_r: [u8; 8], out_c: &SkCipher, payloads: &[Payload<'_>]) -> Vec<u8> {
        let hdr = HeaderRepr {
            spi_i: self.spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_AUTH,
            flags: Flags::new(true, false),
            message_id: 1,
        };
        let mut buf = vec![0u8; 4096];
        let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
        b.begin_sk(out_c.layout(0).iv_len).unwrap();
        for p in payloads {
            b.push(p).unwrap();
        }
        let sec = b.end_sk(|pt| out_c.layout(pt).trailer_len()).unwrap();
        let n = b.finish().unwrap();
        buf.truncate(n);
        let iv = vec![9u8; out_c.layout(0).iv_len];
        out_c
            .protect(&mut buf, sec.sk_offset, sec.plaintext.len(), &iv)
            .unwrap();
        buf
    }
}

/// The notify types inside a protected answer.
fn inner_notifies(msg: &[u8], inb: &SkCipher) -> Vec<NotifyType> {
    let mut m = msg.to_vec();
    let parsed = Message::parse(msg).unwrap();
    let sk = parsed.payloads().next().unwrap().unwrap();
    let range = inb.unprotect(&mut m, HEADER_LEN + sk.offset).unwrap();
    PayloadIter::new(sk.next, &m[range])
        .filter_map(|r| match r.unwrap().parse().unwrap() {
            Payload::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

fn manual_exchange(
    p: &mut Pair,
    m: &Manual,
    make: impl FnOnce(&Manual, &IkeKeys, &[u8]) -> Vec<Payload<'static>>,
) -> (Vec<u8>, Vec<u8>, SkCipher) {
    p.inject(0, m.request.clone());
    p.step();
    let resp = p.capture.last().unwrap().bytes.clone();
    let (spi_r, nr, keys, out_c, inb) = m.keys(&resp);
    let payloads = make(m, &keys, &nr);
    let auth_req = m.ike_auth(spi_r, &out_c, &payloads);
    p.inject(0, auth_req.clone());
    p.step();
    let answer = p.capture.last().unwrap().bytes.clone();
    (auth_req, answer, inb)
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

#[test]
fn cert_payload_is_refused() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(16);
    let mut p = Pair::new(gw);
    let m = Manual::new(t, 16);
    let (_, answer, inb) = manual_exchange(&mut p, &m, |m, keys, nr| {
        let auth = leak(m.auth(keys, nr));
        let id = leak(m.ticket.state.id_i);
        vec![
            Payload::IdI(IdRepr {
                id_type: id.id_type,
                data: id.data(),
            }),
            Payload::Cert(CertRepr {
                encoding: CertEncoding::X509_SIGNATURE,
                data: b"cert",
            }),
            Payload::Auth(AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ]
    });
    assert_eq!(
        inner_notifies(&answer, &inb),
        vec![NotifyType::AUTHENTICATION_FAILED]
    );
    assert_eq!(p.gw.count(Counter::AuthCertPresent), 1);
    assert_eq!(p.gw.responder.half_open(), 0);
    assert!(p.established.is_empty());
}

#[test]
fn wrong_auth_fails_and_the_retransmission_gets_the_same_answer() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(17);
    let mut p = Pair::new(gw);
    let m = Manual::new(t, 17);
    let (req, answer, inb) = manual_exchange(&mut p, &m, |m, keys, nr| {
        let mut auth = m.auth(keys, nr);
        auth[0] ^= 0x80;
        let auth = leak(auth);
        let id = leak(m.ticket.state.id_i);
        vec![
            Payload::IdI(IdRepr {
                id_type: id.id_type,
                data: id.data(),
            }),
            Payload::Auth(AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ]
    });
    assert_eq!(
        inner_notifies(&answer, &inb),
        vec![NotifyType::AUTHENTICATION_FAILED]
    );
    assert_eq!(p.gw.count(Counter::AuthFailed), 1);
    assert_eq!(p.gw.responder.half_open(), 0, "half-open SA gone");
    p.inject(0, req);
    p.step();
    assert_eq!(p.capture.last().unwrap().bytes, answer);
    assert_eq!(p.gw.count(Counter::AuthRetransmits), 1);
    // The ticket was not claimed: the genuine client still resumes with it.
    p.connect(client(), m.ticket.clone()).unwrap();
    p.run();
    established(&p, 0);
    assert_eq!(p.established.len(), 1);
}

#[test]
fn ike_auth_with_a_broken_icv_is_dropped_and_the_sa_waits() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(18);
    let mut p = Pair::new(gw);
    let m = Manual::new(t, 18);
    p.inject(0, m.request.clone());
    p.step();
    let resp = p.capture.last().unwrap().bytes.clone();
    let (good, _, inb) = m.genuine_auth(&resp);
    let mut bad = good.clone();
    let l = bad.len();
    bad[l - 1] ^= 1;
    let before = p.capture.len();
    p.inject(0, bad);
    p.step();
    assert_eq!(
        p.capture.len(),
        before,
        "no answer to an unauthentic message"
    );
    assert_eq!(p.gw.count(Counter::AuthIntegrityFailed), 1);
    assert_eq!(p.gw.responder.half_open(), 1);
    p.inject(0, good);
    p.step();
    assert_eq!(p.established.len(), 1);
    // A childless resumption: no SA/TS sent, none answered, no child
    // error; only the re-authentication deadline (RFC 4478).
    assert!(p.established[0].child.is_none());
    assert_eq!(
        inner_notifies(&p.capture.last().unwrap().bytes, &inb),
        [NotifyType::AUTH_LIFETIME]
    );
}

#[test]
fn child_proposal_mismatch_keeps_the_ike_sa() {
    let cfg = ResponderConfig {
        esp: vec![EspProposal::AES_GCM_128],
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(19);
    let ccfg = InitiatorConfig {
        esp: vec![EspProposal::AES_CBC_256_SHA256],
        ..client()
    };
    let p = one(gw, ccfg, t);
    let (sa, nt, child_error) = established(&p, 0);
    assert_eq!(child_error, Some(NotifyType::NO_PROPOSAL_CHOSEN));
    assert!(sa.child.is_none() && p.established[0].child.is_none());
    assert!(nt.is_some(), "the ticket still comes");
    assert_eq!(p.gw.count(Counter::ChildNoProposal), 1);
}

fn range(a: [u8; 4], b: [u8; 4], lo: u16, hi: u16) -> TsRange {
    TsRange {
        ip_proto: 0,
        start_port: lo,
        end_port: hi,
        start: IpAddr::V4(Ipv4Addr::from(a)),
        end: IpAddr::V4(Ipv4Addr::from(b)),
    }
}

#[test]
fn traffic_selectors_are_narrowed_or_refused() {
    let cfg = ResponderConfig {
        ts_local: vec![range([10, 1, 0, 0], [10, 1, 255, 255], 0, 65535)],
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg.clone());
    let t = gw.ticket(20);
    let p = one(gw, client(), t);
    let (sa, _, err) = established(&p, 0);
    assert_eq!(err, None);
    let want = [range([10, 1, 0, 0], [10, 1, 255, 255], 0, 65535)];
    assert_eq!(sa.child.as_ref().unwrap().ts_r[..], want[..]);
    assert_eq!(p.established[0].child.as_ref().unwrap().ts_r[..], want[..]);

    let gw = Gateway::new(cfg);
    let t = gw.ticket(21);
    let ccfg = InitiatorConfig {
        ts_r: vec![range([172, 16, 0, 0], [172, 16, 255, 255], 0, 65535)],
        ..client()
    };
    let p = one(gw, ccfg, t);
    let (_, _, err) = established(&p, 0);
    assert_eq!(err, Some(NotifyType::TS_UNACCEPTABLE));
    assert_eq!(p.gw.count(Counter::ChildTsUnacceptable), 1);
}

fn pool() -> MemoryPool {
    MemoryPool::new(Some((Ipv4Addr::new(10, 99, 0, 1), 4)), None).unwrap()
}

#[test]
fn the_ticket_address_is_given_back() {
    let gw = Gateway::with_pool(ResponderConfig::default(), pool());
    let mut st = client_state(22, gcm256_sha256());
    st.internal_addr = Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 3)));
    let t = gw.mint(TicketKind::ByValue, st, T0);
    let p = one(gw, client(), t);
    let (sa, nt, _) = established(&p, 0);
    let a = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 3));
    assert_eq!(sa.internal_addr, Some(a));
    assert_eq!(p.established[0].internal_addr, Some(a));
    assert_eq!(nt.unwrap().state.internal_addr, Some(a));
    // TSi is narrowed to the address.
    let ts_i = &p.established[0].child.as_ref().unwrap().ts_i;
    assert_eq!(
        ts_i[..],
        [TsRange {
            start_port: 0,
            end_port: 65535,
            ..range([10, 99, 0, 3], [10, 99, 0, 3], 0, 65535)
        }]
    );
    assert_eq!(p.gw.count(Counter::AddressReassigned), 1);
}

#[test]
fn an_address_taken_by_someone_else_is_replaced_and_an_empty_pool_fails_the_child() {
    let gw = Gateway::with_pool(ResponderConfig::default(), pool());
    let taken = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 3));
    use rebound_engine::child::AddressPool;
    gw.pool
        .as_ref()
        .unwrap()
        .lease(b"someone", Some(taken), false)
        .unwrap();
    let mut st = client_state(23, gcm256_sha256());
    st.internal_addr = Some(taken);
    let t = gw.mint(TicketKind::ByValue, st, T0);
    let mut p = one(gw, client(), t);
    let (sa, _, _) = established(&p, 0);
    assert!(sa.internal_addr.is_some() && sa.internal_addr != Some(taken));
    assert_eq!(p.gw.count(Counter::AddressNew), 1);
    // Exhaust the pool (4 addresses: 1 someone, 1 client 23, 2 more).
    for o in [b"x1", b"x2"] {
        p.gw.pool.as_ref().unwrap().lease(o, None, false).unwrap();
    }
    let t = p.gw.ticket(24);
    p.connect(client(), t).unwrap();
    p.run();
    let (sa, _, err) = established(&p, 1);
    assert_eq!(err, Some(NotifyType::INTERNAL_ADDRESS_FAILURE));
    assert!(sa.internal_addr.is_none());
}

#[test]
fn half_open_sas_expire() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(25);
    let mut p = Pair::new(gw);
    let m = Manual::new(t, 25);
    p.inject(0, m.request.clone());
    p.step();
    assert_eq!(p.gw.responder.half_open(), 1);
    let resp = p.capture.last().unwrap().bytes.clone();
    p.advance_secs(29);
    assert_eq!(p.gw.responder.half_open(), 1);
    p.advance_secs(1);
    assert_eq!(p.gw.responder.half_open(), 0);
    assert_eq!(p.gw.count(Counter::HalfOpenExpired), 1);
    // Its IKE_AUTH now finds nothing.
    let (req, _, _) = m.genuine_auth(&resp);
    p.inject(0, req);
    p.step();
    assert_eq!(p.gw.count(Counter::AuthUnknownSpi), 1);
    assert!(p.established.is_empty());
}

#[test]
fn the_half_open_table_is_bounded() {
    let cfg = ResponderConfig {
        half_open_limit: 3,
        cookie_threshold: 100,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let mut p = Pair::new(gw);
    for n in 0..5u8 {
        let t = p.gw.mint(
            TicketKind::ByValue,
            client_state(30 + n, gcm256_sha256()),
            T0,
        );
        p.inject(n as usize, Manual::new(t, 30 + n).request);
    }
    p.step();
    assert_eq!(p.gw.responder.half_open(), 3);
    assert_eq!(p.gw.count(Counter::HalfOpenFull), 2);
}

/// The answers to the gateway's clients so far, in order.
fn answers(p: &Pair) -> Vec<Vec<u8>> {
    p.capture
        .iter()
        .filter(|c| c.dir == Dir::ToClient)
        .map(|c| c.bytes.clone())
        .collect()
}

#[test]
fn one_ticket_gets_at_most_half_open_per_ticket_sas() {
    // RFC 5723 §9.3: a stolen ticket replayed with fresh SPIs and nonces,
    // from addresses that differ, never holds more than its cap.
    let gw = Gateway::new(ResponderConfig::default());
    assert_eq!(gw.responder.config().half_open_per_ticket, 2);
    let t = gw.ticket(40);
    let mut p = Pair::new(gw);
    let tries: Vec<Manual> = (0..6).map(|k| Manual::new(t.clone(), 60 + k)).collect();
    for (k, m) in tries.iter().enumerate() {
        p.inject(k, m.request.clone());
    }
    p.step();
    assert_eq!(p.gw.responder.half_open(), 2);
    assert_eq!(p.gw.count(Counter::NackTicketBusy), 4);
    assert_eq!(p.gw.count(Counter::ResumeAccepted), 2);
    let a = answers(&p);
    assert_eq!(a.len(), 6);
    for nack in &a[2..] {
        assert!(notify_data(nack, NotifyType::TICKET_NACK).is_some());
    }
    // A retransmission of an accepted request is still answered the same.
    p.inject(0, tries[0].request.clone());
    p.step();
    assert_eq!(answers(&p)[6], a[0]);
    assert_eq!(p.gw.count(Counter::ResumeRetransmits), 1);
    // One of the two completes: the ticket is claimed, so a new attempt is
    // refused as reused (single use), not as busy.
    let (auth, _, _) = tries[0].genuine_auth(&a[0]);
    p.inject(0, auth);
    p.step();
    assert_eq!(p.established.len(), 1);
    assert_eq!(p.gw.responder.half_open(), 1);
    let again = Manual::new(t.clone(), 70);
    p.inject(7, again.request.clone());
    p.step();
    assert_eq!(p.gw.count(Counter::NackReused), 1);
    assert_eq!(p.gw.count(Counter::NackTicketBusy), 4);
}

#[test]
fn a_ticket_whose_half_open_sas_expired_may_try_again() {
    let cfg = ResponderConfig {
        half_open_per_ticket: 1,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(41);
    let mut p = Pair::new(gw);
    p.inject(0, Manual::new(t.clone(), 80).request);
    p.inject(1, Manual::new(t.clone(), 81).request);
    p.step();
    assert_eq!(
        (
            p.gw.responder.half_open(),
            p.gw.count(Counter::NackTicketBusy)
        ),
        (1, 1)
    );
    p.advance_secs(31);
    assert_eq!(p.gw.responder.half_open(), 0);
    let m = Manual::new(t.clone(), 82);
    p.inject(2, m.request.clone());
    p.step();
    assert_eq!(p.gw.responder.half_open(), 1);
    assert_eq!(p.gw.count(Counter::NackTicketBusy), 1);
    let resp = answers(&p).pop().unwrap();
    assert!(notify_data(&resp, NotifyType::TICKET_NACK).is_none());
}

#[test]
fn one_source_gets_at_most_half_open_per_source_sas() {
    let cfg = ResponderConfig {
        half_open_per_source: 3,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let tickets: Vec<_> = (0..6).map(|n| gw.ticket(50 + n)).collect();
    let mut p = Pair::new(gw);
    // Five valid tickets from one address (client 0), one from another
    // (client 1).
    for (k, t) in tickets[..5].iter().enumerate() {
        p.inject(0, Manual::new(t.clone(), 90 + k as u8).request);
    }
    p.inject(1, Manual::new(tickets[5].clone(), 99).request);
    p.step();
    assert_eq!(p.gw.responder.half_open(), 4);
    assert_eq!(p.gw.count(Counter::HalfOpenPerSource), 2);
    // Dropped silently: four answers (three from the first address).
    assert_eq!(answers(&p).len(), 4);
    // When they expire the address may start again.
    p.advance_secs(31);
    p.inject(0, Manual::new(tickets[4].clone(), 100).request);
    p.step();
    assert_eq!(p.gw.responder.half_open(), 1);
    assert_eq!(p.gw.count(Counter::HalfOpenPerSource), 2);
}

#[test]
fn the_half_open_memory_is_bounded() {
    let cfg = ResponderConfig {
        half_open_memory: 16 << 10,
        cookie_threshold: 1 << 16,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let tickets: Vec<_> = (0..40).map(|n| gw.ticket(100 + n)).collect();
    let mut p = Pair::new(gw);
    for (k, t) in tickets.iter().enumerate() {
        p.inject(k, Manual::new(t.clone(), k as u8).request);
    }
    p.step();
    let (bytes, _) = p.gw.responder.half_open_memory();
    let kept = p.gw.responder.half_open();
    assert!(kept > 0 && kept < 40, "{kept}");
    assert_eq!(p.gw.count(Counter::HalfOpenMemoryFull) as usize, 40 - kept);
    // Over the bound by at most the one entry that crossed it.
    assert!(bytes < (16 << 10) + (16 << 10) / kept, "{bytes}");
}

#[test]
fn nat_status_is_determined_anew() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(26);
    let mut p = Pair::new(gw);
    let inside: SocketAddr = "10.0.0.5:500".parse().unwrap();
    let outside: SocketAddr = "203.0.113.9:41234".parse().unwrap();
    p.connect_from(client(), t, inside, outside).unwrap();
    p.run();
    let (c, _, _) = established(&p, 0);
    let g = &p.established[0];
    assert!(g.nat.peer_behind_nat && !g.nat.local_behind_nat);
    assert_eq!(g.peer, outside);
    // The client sees the same from its side.
    assert!(c.nat.local_behind_nat && !c.nat.peer_behind_nat);
}

#[test]
fn malformed_requests_get_the_right_notify_and_garbage_is_dropped() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut p = Pair::new(gw);
    let hdr = HeaderRepr::initiator_request([5; 8], [0; 8], ExchangeType::IKE_SESSION_RESUME, 0);
    // No ticket: INVALID_SYNTAX.
    p.inject(
        0,
        build(&hdr, &[Payload::Nonce(NonceRepr { nonce: &[1; 32] })]),
    );
    // An unknown critical payload: UNSUPPORTED_CRITICAL_PAYLOAD with its type.
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    b.push_raw(PayloadType(200), true, b"x").unwrap();
    let n = b.finish().unwrap();
    buf.truncate(n);
    p.inject(0, buf);
    // SPIr set: dropped. Garbage: dropped.
    let mut h2 = hdr;
    h2.spi_r = [1; 8];
    p.inject(
        0,
        build(&h2, &[Payload::Nonce(NonceRepr { nonce: &[1; 32] })]),
    );
    p.inject(0, vec![0xff; 3]);
    p.step();
    let answers: Vec<_> = p
        .capture
        .iter()
        .filter(|c| c.dir == Dir::ToClient)
        .map(|c| c.bytes.clone())
        .collect();
    assert_eq!(answers.len(), 2);
    assert!(notify_data(&answers[0], NotifyType::INVALID_SYNTAX).is_some());
    assert_eq!(
        notify_data(&answers[1], NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD),
        Some(vec![200])
    );
    assert_eq!(p.gw.count(Counter::ResumeMalformed), 2);
    // Both are not resumption requests (SPIr set, no IKE header).
    assert_eq!(p.gw.count(Counter::NotResumption), 2);
    // A response sent to the responder is dropped by the header checks.
    let mut h3 = hdr;
    h3.flags = Flags::new(true, true);
    p.inject(
        0,
        build(&h3, &[Payload::Nonce(NonceRepr { nonce: &[1; 32] })]),
    );
    p.step();
    assert_eq!(p.gw.count(Counter::ResumeBadHeader), 1);
    assert_eq!(p.gw.responder.half_open(), 0);
}

#[test]
fn tickets_off_answers_ticket_nack_and_large_tickets_ticket_ack() {
    let cfg = ResponderConfig {
        tickets: TicketIssuePolicy {
            kind: None,
            ..TicketIssuePolicy::default()
        },
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(27);
    let p = one(gw, client(), t);
    let (_, nt, _) = established(&p, 0);
    assert!(nt.is_none());
    assert_eq!(p.gw.count(Counter::TicketsRefused), 1);

    let cfg = ResponderConfig {
        tickets: TicketIssuePolicy {
            max_message_len: 300,
            ..TicketIssuePolicy::default()
        },
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let t = gw.ticket(28);
    let p = one(gw, client(), t);
    match p.event(0) {
        InitiatorEvent::Established {
            new_ticket,
            ticket_acked,
            ..
        } => {
            assert!(new_ticket.is_none() && *ticket_acked);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(p.gw.count(Counter::TicketsAcked), 1);
}

#[test]
fn the_new_ticket_never_outlives_the_reauth_deadline() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut st = client_state(29, gcm256_sha256());
    st.reauth_deadline = T0 + 600;
    let t = gw.mint(TicketKind::ByValue, st, T0);
    let p = one(gw, client(), t);
    let (_, nt, _) = established(&p, 0);
    let nt = nt.unwrap();
    assert_eq!(nt.expires_at, T0 + 600);
    assert_eq!(p.established[0].reauth_deadline, T0 + 600);
}

#[test]
fn every_supported_suite_resumes() {
    use rebound_engine::crypto::{Encr, IkeSuite, Integ};
    for (encr, prf, integ) in [
        (Encr::AES_GCM_128, PrfAlg::HmacSha256, None),
        (Encr::AES_GCM_256, PrfAlg::HmacSha384, None),
        (Encr::AES_GCM_256, PrfAlg::HmacSha512, None),
        (
            Encr::AES_CBC_128,
            PrfAlg::HmacSha256,
            Some(Integ::HmacSha256_128),
        ),
        (
            Encr::AES_CBC_256,
            PrfAlg::HmacSha384,
            Some(Integ::HmacSha384_192),
        ),
        (
            Encr::AES_CBC_256,
            PrfAlg::HmacSha512,
            Some(Integ::HmacSha512_256),
        ),
        (
            Encr::AES_CBC_256,
            PrfAlg::HmacSha1,
            Some(Integ::HmacSha256_128),
        ),
        (Encr::AES_GCM_128, PrfAlg::Aes128Xcbc, None),
    ] {
        let suite = IkeSuite::new(encr, prf, integ).unwrap();
        for esp in [EspProposal::AES_GCM_256, EspProposal::AES_CBC_128_SHA256] {
            let gw = Gateway::new(ResponderConfig::default());
            let t = gw.mint(TicketKind::ByValue, client_state(40, suite), T0);
            let cfg = InitiatorConfig {
                esp: vec![esp],
                ..client()
            };
            let p = one(gw, cfg, t);
            let (c, _, err) = established(&p, 0);
            assert_eq!(err, None, "{suite:?} {esp:?}");
            assert!(c.keys.sk_er.ct_eq(&p.established[0].keys.sk_er));
            assert_eq!(c.child.as_ref().unwrap().encr, esp.encr);
        }
    }
}

#[test]
fn many_clients_one_gateway_no_sa_lost_or_doubled() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut p = Pair::new(gw);
    let mut tickets = Vec::new();
    for n in 0..200u8 {
        tickets.push(p.gw.ticket(n));
    }
    // 2 % loss and 2 % duplication, decided by a fixed pattern.
    p.faults = Box::new(|_, i, _| match i % 50 {
        7 => Fate::Drop,
        23 => Fate::Duplicate,
        _ => Fate::Deliver,
    });
    for t in tickets {
        p.connect(client(), t).unwrap();
    }
    p.run();
    let ok = (0..200)
        .filter(|&i| matches!(p.event(i), InitiatorEvent::Established { .. }))
        .count();
    assert_eq!(ok, 200);
    assert_eq!(p.established.len(), 200);
    let mut spis: Vec<_> = p.established.iter().map(|s| s.spi_r).collect();
    spis.sort_unstable();
    spis.dedup();
    assert_eq!(spis.len(), 200);
}

#[test]
fn the_cache_of_answered_ike_auths_is_bounded() {
    let cfg = ResponderConfig {
        completed_cache_limit: 1,
        ..ResponderConfig::default()
    };
    let gw = Gateway::new(cfg);
    let mut p = Pair::new(gw);
    for n in 0..2u8 {
        let t = p.gw.mint(
            TicketKind::ByValue,
            client_state(50 + n, gcm256_sha256()),
            T0,
        );
        p.connect(client(), t).unwrap();
    }
    p.run();
    assert_eq!(p.established.len(), 2);
    assert_eq!(p.gw.count(Counter::AuthCacheEvicted), 1);
    // The first client's IKE_AUTH is no longer answered from the cache.
    let first_auth = p
        .capture
        .iter()
        .find(|c| c.dir == Dir::ToGateway && c.client == 0 && c.bytes[18] == 35)
        .unwrap()
        .bytes
        .clone();
    p.inject(0, first_auth);
    p.step();
    assert_eq!(p.gw.count(Counter::AuthUnknownSpi), 1);
    assert_eq!(p.gw.count(Counter::AuthRetransmits), 0);
}

#[test]
fn hostile_datagrams_never_panic_and_never_establish() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(60);
    let mut p = Pair::new(gw);
    let m = Manual::new(t, 60);
    p.inject(0, m.request.clone());
    p.step();
    let resp = p.capture.last().unwrap().bytes.clone();
    let (good_auth, _, _) = m.genuine_auth(&resp);
    let mut r = rng(99);
    let mut byte = [0u8; 1];
    // Every single-byte change of both messages, every truncation, and
    // random datagrams with a plausible header.
    for msg in [&m.request, &good_auth] {
        for i in 0..msg.len() {
            let mut x = msg.clone();
            r(&mut byte);
            x[i] ^= byte[0] | 1;
            p.inject(1, x);
            p.inject(1, msg[..i].to_vec());
        }
        p.step();
    }
    for n in 0..2000usize {
        let mut x = vec![0u8; 28 + n % 300];
        r(&mut x);
        x[17] = 0x20;
        x[18] = if n % 2 == 0 { 38 } else { 35 };
        if n % 3 == 0 {
            x[8..16].copy_from_slice(&good_auth[8..16]);
        }
        let len = (x.len() as u32).to_be_bytes();
        x[24..28].copy_from_slice(&len);
        p.inject(1, x);
    }
    p.step();
    assert!(p.established.is_empty(), "nothing forged got through");
    // The genuine IKE_AUTH still completes afterwards.
    p.inject(0, good_auth);
    p.step();
    assert_eq!(p.established.len(), 1);
}

#[test]
fn a_revocation_during_the_exchange_stops_it_and_covers_the_chain() {
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(61);
    let mut p = Pair::new(gw);
    // The first IKE_AUTH is lost, so the operator's revocation lands while
    // the exchange is half open.
    p.fault_once(Dir::ToGateway, 1, Fate::Drop);
    p.connect(client(), t).unwrap();
    p.step();
    p.step();
    assert_eq!(p.gw.responder.half_open(), 1);
    let key = [&[IdType::FQDN.0][..], b"client-61.example.net"].concat();
    p.gw.revocations
        .revoke_identity(&key, T0 + 1, T0 + 24 * HOUR)
        .unwrap();
    p.run();
    assert_eq!(failed(&p, 0), Fallback::TicketRefused);
    assert_eq!(p.gw.count(Counter::NackRevoked), 1);
    assert!(p.established.is_empty());

    // A ticket resumed before the revocation carries the original
    // authentication time (T0 - 1 h), so revoking what was "issued before
    // T0 - 60" catches it although the resumption happened at T0.
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(62);
    let mut p = one(gw, client(), t);
    let nt = match p.event(0) {
        InitiatorEvent::Established { new_ticket, .. } => new_ticket.clone().unwrap(),
        e => panic!("{e:?}"),
    };
    p.advance_secs(120);
    let key = [&[IdType::FQDN.0][..], b"client-62.example.net"].concat();
    p.gw.revocations
        .revoke_identity(&key, T0 - 60, T0 + 24 * HOUR)
        .unwrap();
    p.connect(client(), nt).unwrap();
    p.run();
    assert_eq!(failed(&p, 1), Fallback::TicketRefused);
    assert_eq!(p.gw.count(Counter::NackRevoked), 1);
}

#[test]
fn the_loser_of_a_race_gives_back_its_address_and_its_new_ticket() {
    use rebound_engine::child::AddressPool;
    let cfg = ResponderConfig {
        tickets: TicketIssuePolicy {
            kind: Some(TicketKind::ByReference),
            ..TicketIssuePolicy::default()
        },
        ..ResponderConfig::default()
    };
    let gw = Gateway::with_pool(cfg, pool());
    let t = gw.ticket(63);
    let mut p = Pair::new(gw);
    p.connect(client(), t.clone()).unwrap();
    p.connect(client(), t).unwrap();
    p.run();
    assert_eq!(p.gw.count(Counter::NackClaimLost), 1);
    assert_eq!(p.established.len(), 1);
    // One lease and one by-reference ticket: the winner's.
    assert_eq!(p.gw.pool.as_ref().unwrap().leased(), 1);
    assert_eq!(p.gw.store.len(), 1);
}

#[test]
fn draining_answers_exchanges_in_flight_and_takes_no_new_ones() {
    let gw = Gateway::new(ResponderConfig::default());
    let t1 = gw.ticket(60);
    let t2 = gw.ticket(61);
    let mut p = Pair::new(gw);
    // Client 0's first answer is lost; then the gateway starts draining.
    p.fault_once(Dir::ToClient, 0, Fate::Drop);
    p.connect(client(), t1).unwrap();
    p.step();
    p.gw.responder.set_accepting(false);
    // A new client arrives during the drain.
    p.connect(client(), t2).unwrap();
    p.run();
    // Client 0's retransmission was answered from its half-open SA, and
    // its IKE_AUTH completed; client 1 got nothing and timed out.
    established(&p, 0);
    assert!(matches!(
        p.event(1),
        InitiatorEvent::Failed(Fallback::Timeout)
    ));
    assert_eq!(p.gw.count(Counter::ResumeRetransmits), 1);
    assert_eq!(p.gw.count(Counter::ResumeAccepted), 1);
    assert_eq!(p.gw.count(Counter::Established), 1);
    assert!(p.gw.count(Counter::ResumeDraining) >= 1);
    assert_eq!(p.gw.responder.half_open(), 0);
}
