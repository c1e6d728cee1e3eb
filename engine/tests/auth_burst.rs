//! The resumed IKE_AUTH stage over a burst answers exactly as one datagram
//! at a time: same bytes, same counters, same established SAs, same
//! half-open SAs, with retransmissions inside the burst, tampered SK
//! payloads before and after the genuine request, a wrong AUTH, the
//! message-only AUTH form, AES-CBC and a PRF the batch kernels do not run,
//! garbage, an unknown SPI, and a burst longer than the stage's chunk.

#[path = "common/pair.rs"]
mod pair;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use pair::*;
use rebound_engine::client::{InitiatorConfig, ResumeInitiator};
use rebound_engine::crypto::{AuthForm, Encr, IkeSuite, Integ, PrfAlg};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::responder::{
    BurstItem, Counter, MAX_RESUME_BURST, PacketMeta, ResponderConfig,
};
use rebound_engine::time::Timestamp;

const CLIENTS: usize = MAX_RESUME_BURST + 40;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 2, (i >> 8) as u8, i as u8)),
        500,
    )
}

fn suite(i: usize) -> IkeSuite {
    match i % 11 {
        // AES-CBC: decrypted one at a time.
        4 => IkeSuite::new(
            Encr::AES_CBC_256,
            PrfAlg::HmacSha256,
            Some(Integ::HmacSha256_128),
        )
        .unwrap(),
        // A PRF the HMAC-SHA-256 lanes do not take.
        7 => IkeSuite::new(Encr::AES_GCM_128, PrfAlg::HmacSha384, None).unwrap(),
        _ => gcm256_sha256(),
    }
}

/// Every client's IKE_SESSION_RESUME through both gateways (one at a
/// time: the stage under test is IKE_AUTH), then its IKE_AUTH request.
fn ike_auths(one: &mut Gateway, many: &mut Gateway) -> Vec<(PacketMeta, Vec<u8>)> {
    let now = Timestamp::from_secs(T0);
    let mut r = rng(77);
    let mut out = Vec::new();
    for i in 0..CLIENTS {
        let mut config = InitiatorConfig::default();
        if i % 7 == 3 {
            config.auth_form = AuthForm::MessageOnly;
        }
        let t = one.mint(
            rebound_engine::ticket::format::TicketKind::ByValue,
            client_state(i as u8, suite(i)),
            T0,
        );
        let meta = PacketMeta {
            peer: addr(i),
            local: one.addr,
        };
        let mut c = ResumeInitiator::new(Arc::new(config), t, addr(i), one.addr, now, &mut r)
            .expect("initiator");
        let mut buf = vec![0u8; 4096];
        let len = c.poll_transmit(now, &mut buf).expect("request");
        let mut req = buf[..len].to_vec();
        if i % 13 == 6 {
            // A bit the receiver ignores (RFC 7296 §3.1: the X flags "MUST
            // be ignored on receipt"): the gateway's RealMessage1 is not
            // the octets the client signed, so its AUTH is wrong while its
            // SK payload is genuine.
            req[19] |= 0x01;
        }
        let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
        let ha = one.responder.handle(now, &meta, &req, &mut a);
        let hb = many.responder.handle(now, &meta, &req, &mut b);
        let n = ha.reply.expect("resume answered");
        assert_eq!(hb.reply, Some(n));
        assert_eq!(a[..n], b[..n]);
        c.handle(now, &a[..n], &mut r);
        let len = c.poll_transmit(now, &mut buf).expect("IKE_AUTH");
        out.push((meta, buf[..len].to_vec()));
    }
    out
}

/// The burst: every IKE_AUTH with, in between, exact duplicates, tampered
/// copies (before and after the genuine one), garbage, an unknown SPI, and
/// a few retransmissions of exchanges answered in an earlier chunk.
fn burst(auths: &[(PacketMeta, Vec<u8>)]) -> Vec<(PacketMeta, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (meta, a)) in auths.iter().enumerate() {
        let mut tampered = a.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 0x10;
        match i % 6 {
            0 => out.push((*meta, a.clone())),
            1 => {
                out.push((*meta, a.clone()));
                out.push((*meta, a.clone()));
            }
            2 => {
                out.push((*meta, tampered));
                out.push((*meta, a.clone()));
            }
            3 => {
                out.push((*meta, a.clone()));
                out.push((*meta, tampered));
            }
            4 => {
                out.push((*meta, a[..a.len() / 2].to_vec()));
                let mut unknown = a.clone();
                unknown[15] ^= 0x5a;
                out.push((*meta, unknown));
                out.push((*meta, a.clone()));
            }
            _ => {
                // Garbage behind a genuine IKE header (the items of the
                // stage are datagrams that classify as IKE_AUTH).
                let mut garbage = a[..28].to_vec();
                garbage.extend_from_slice(&[0x42; 60]);
                out.push((*meta, garbage));
                out.push((*meta, a.clone()));
            }
        }
        if i >= MAX_RESUME_BURST && i % 9 == 0 {
            let (m, early) = &auths[i - MAX_RESUME_BURST];
            out.push((*m, early.clone()));
        }
    }
    out
}

/// What must be equal between two established SAs.
fn fingerprint(sa: &EstablishedSa) -> String {
    let k = &sa.keys;
    let child = sa.child.as_ref().map(|c| {
        (
            c.spi_i,
            c.spi_r,
            c.keys.encr_i2r.as_bytes().to_vec(),
            c.keys.integ_i2r.as_bytes().to_vec(),
            c.keys.encr_r2i.as_bytes().to_vec(),
            c.keys.integ_r2i.as_bytes().to_vec(),
        )
    });
    format!(
        "{:?} {:?} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        sa.spi_i,
        sa.spi_r,
        sa.peer,
        sa.local,
        sa.id_i,
        sa.ni,
        sa.nr,
        k.sk_d.as_bytes(),
        k.sk_ai.as_bytes(),
        k.sk_ar.as_bytes(),
        k.sk_ei.as_bytes(),
        k.sk_er.as_bytes(),
        k.sk_pi.as_bytes(),
        k.sk_pr.as_bytes(),
        child,
        sa.new_ticket,
        sa.internal_addr,
        sa.origin,
    )
}

/// Run `datagrams` through `one` one at a time and through `many`'s stage,
/// and compare everything.
fn same_as_one_at_a_time(
    one: &mut Gateway,
    many: &mut Gateway,
    datagrams: &[(PacketMeta, Vec<u8>)],
) {
    let now = Timestamp::from_secs(T0 + 1);
    let mut singly = Vec::new();
    for (meta, d) in datagrams {
        let mut out = vec![0u8; 2048];
        let h = one.responder.handle(now, meta, d, &mut out);
        singly.push((
            h.reply.map(|n| out[..n].to_vec()),
            h.established.map(|sa| fingerprint(&sa)),
        ));
    }

    let mut outs: Vec<Vec<u8>> = datagrams.iter().map(|_| vec![0u8; 2048]).collect();
    let mut items: Vec<BurstItem<'_>> = datagrams
        .iter()
        .zip(outs.iter_mut())
        .map(|((meta, d), out)| BurstItem::new(*meta, d, out))
        .collect();
    many.responder.auth_stage(now, &mut items);
    let together: Vec<_> = items
        .iter_mut()
        .map(|it| {
            (
                it.handled.reply.map(|n| it.out[..n].to_vec()),
                it.handled.established.take().map(|sa| fingerprint(&sa)),
            )
        })
        .collect();

    assert_eq!(singly.len(), together.len());
    for (i, (a, b)) in singly.iter().zip(&together).enumerate() {
        assert_eq!(a, b, "datagram {i}");
    }
    for c in Counter::ALL {
        assert_eq!(one.count(*c), many.count(*c), "{}", c.label());
    }
    assert_eq!(one.responder.half_open(), many.responder.half_open());
    // The batch really ran: every exchange was answered.
    let wrong_auth = (0..CLIENTS).filter(|i| i % 13 == 6).count() as u64;
    assert_eq!(many.count(Counter::AuthFailed), wrong_auth);
    assert_eq!(
        many.count(Counter::Established),
        CLIENTS as u64 - wrong_auth
    );
    assert!(many.count(Counter::AuthFormMessageOnly) > 0);
    assert!(many.count(Counter::TicketsIssued) > 0);
}

#[test]
fn an_auth_burst_answers_exactly_as_one_datagram_at_a_time() {
    let config = ResponderConfig::default();
    let mut one = Gateway::new(config.clone());
    let mut many = Gateway::new(config);
    let auths = ike_auths(&mut one, &mut many);
    let datagrams = burst(&auths);
    assert!(datagrams.len() > 2 * MAX_RESUME_BURST);
    same_as_one_at_a_time(&mut one, &mut many, &datagrams);
    assert!(many.count(Counter::AuthRetransmits) > 0);
    assert!(many.count(Counter::AuthConflict) > 0);
    assert!(many.count(Counter::AuthIntegrityFailed) > 0);
    assert!(many.count(Counter::AuthUnknownSpi) > 0);
    assert!(many.count(Counter::AuthBadHeader) > 0);
}

/// Distinct exchanges only (nothing ends a chunk early): full chunks of
/// the stage, then a short one.
#[test]
fn full_chunks_of_distinct_exchanges() {
    let config = ResponderConfig::default();
    let mut one = Gateway::new(config.clone());
    let mut many = Gateway::new(config);
    let auths = ike_auths(&mut one, &mut many);
    let mut datagrams = Vec::new();
    for (i, (meta, a)) in auths.iter().enumerate() {
        datagrams.push((*meta, a.clone()));
        if i % 10 == 5 {
            let mut unknown = a.clone();
            unknown[15] ^= 0x5a;
            datagrams.push((*meta, unknown));
        }
    }
    assert!(datagrams.len() > MAX_RESUME_BURST + 30);
    same_as_one_at_a_time(&mut one, &mut many, &datagrams);
    assert!(many.count(Counter::AuthUnknownSpi) > 0);
}
