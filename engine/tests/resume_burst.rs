//! The resume stage over a burst answers exactly as one datagram at a time:
//! same bytes, same counters, same half-open SAs, including requests that
//! repeat or contradict one another inside the burst, garbage, a forged
//! ticket, and a burst longer than the stage's chunk.

#[path = "common/pair.rs"]
mod pair;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use pair::*;
use rebound_engine::client::{InitiatorConfig, ResumeInitiator};
use rebound_engine::responder::{
    BurstItem, Counter, MAX_RESUME_BURST, PacketMeta, ResponderConfig,
};
use rebound_engine::time::Timestamp;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)),
        500,
    )
}

/// `n` clients' IKE_SESSION_RESUME requests against `gw`'s key ring, each
/// with the offset of its ticket in the request.
fn requests(gw: &Gateway, n: usize) -> Vec<(PacketMeta, Vec<u8>, usize)> {
    let config = Arc::new(InitiatorConfig::default());
    let now = Timestamp::from_secs(T0);
    let mut r = rng(99);
    (0..n)
        .map(|i| {
            let t = gw.ticket(i as u8);
            let opaque = t.opaque.clone();
            let mut c = ResumeInitiator::new(config.clone(), t, addr(i), gw.addr, now, &mut r)
                .expect("initiator");
            let mut buf = vec![0u8; 4096];
            let len = c.poll_transmit(now, &mut buf).expect("request");
            buf.truncate(len);
            let at = buf
                .windows(opaque.len())
                .position(|w| w == opaque)
                .expect("the ticket is in the request");
            (
                PacketMeta {
                    peer: addr(i),
                    local: gw.addr,
                },
                buf,
                at,
            )
        })
        .collect()
}

/// The datagrams of the burst: real requests with, in between, an exact
/// duplicate, a same-SPI different-bytes copy, a forged ticket, garbage.
fn burst(gw: &Gateway, n: usize) -> Vec<(PacketMeta, Vec<u8>)> {
    let real = requests(gw, n);
    let mut out = Vec::new();
    for (i, (meta, req, at)) in real.iter().enumerate() {
        out.push((*meta, req.clone()));
        match i % 5 {
            1 => out.push((*meta, req.clone())),
            2 => {
                let mut other = req.clone();
                let last = other.len() - 1;
                other[last] ^= 0x40;
                out.push((*meta, other));
            }
            3 => {
                // A new SPIi with a forged ticket (a byte of its
                // ciphertext changed).
                let mut forged = req.clone();
                forged[0] ^= 0xff;
                forged[at + 40] ^= 0x01;
                out.push((*meta, forged.clone()));
                // And again: a refused request repeated in the burst is
                // refused again, as it would be one at a time.
                out.push((*meta, forged));
            }
            4 => out.push((*meta, req[..req.len() / 2].to_vec())),
            _ => {}
        }
    }
    out
}

/// `datagrams` through a fresh responder with `config` one at a time, and
/// through another as one burst of the resume stage: every answer, counter
/// and the half-open count must be equal. Returns both gateways.
fn compare(config: ResponderConfig, datagrams: &[(PacketMeta, Vec<u8>)]) -> (Gateway, Gateway) {
    let mut one = Gateway::new(config.clone());
    let mut many = Gateway::new(config);
    let now = Timestamp::from_secs(T0);

    let mut singly = Vec::new();
    for (meta, d) in datagrams {
        let mut out = vec![0u8; 2048];
        let h = one.responder.handle(now, meta, d, &mut out);
        singly.push(h.reply.map(|n| out[..n].to_vec()));
    }

    let mut outs: Vec<Vec<u8>> = datagrams.iter().map(|_| vec![0u8; 2048]).collect();
    let mut items: Vec<BurstItem<'_>> = datagrams
        .iter()
        .zip(outs.iter_mut())
        .map(|((meta, d), out)| BurstItem::new(*meta, d, out))
        .collect();
    many.responder.resume_stage(now, &mut items);
    let together: Vec<Option<Vec<u8>>> = items
        .iter()
        .map(|it| it.handled.reply.map(|n| it.out[..n].to_vec()))
        .collect();

    assert_eq!(singly.len(), together.len());
    for (i, (a, b)) in singly.iter().zip(&together).enumerate() {
        assert_eq!(a, b, "datagram {i}");
    }
    for c in Counter::ALL {
        assert_eq!(one.count(*c), many.count(*c), "{}", c.label());
    }
    assert_eq!(one.responder.half_open(), many.responder.half_open());
    (one, many)
}

#[test]
fn a_burst_answers_exactly_as_one_datagram_at_a_time() {
    let gw = Gateway::new(ResponderConfig::default());
    // More than one chunk of the stage.
    let datagrams = burst(&gw, MAX_RESUME_BURST + 40);
    assert!(datagrams.len() > 2 * MAX_RESUME_BURST);
    let (_, many) = compare(ResponderConfig::default(), &datagrams);
    // The burst really exercised each kind of request.
    assert_eq!(
        many.count(Counter::ResumeAccepted),
        (MAX_RESUME_BURST + 40) as u64
    );
    assert!(many.count(Counter::ResumeRetransmits) > 0);
    assert!(many.count(Counter::ResumeSpiConflict) > 0);
    assert!(many.count(Counter::NackBadTag) > 0);
    assert!(many.count(Counter::ResumeMalformed) + many.count(Counter::ResumeBadHeader) > 0);
}

#[test]
fn a_burst_keeps_the_per_ticket_and_per_source_caps_as_one_at_a_time() {
    let config = ResponderConfig {
        half_open_per_ticket: 2,
        half_open_per_source: 3,
        ..ResponderConfig::default()
    };
    let real = requests(&Gateway::new(config.clone()), 8);
    let mut datagrams = Vec::new();
    // First a forged ticket from the shared address: refused, so it holds
    // no half-open SA and does not count towards the address's cap.
    let (mut meta, mut forged, at) = real[7].clone();
    forged[at + 40] ^= 0x01;
    meta.peer = addr(200);
    datagrams.push((meta, forged));
    // Ticket 0 replayed with fresh SPIs from ten more addresses (a stolen
    // ticket), interleaved with six clients behind one address.
    for k in 0..11u8 {
        let (mut meta, mut d, _) = real[0].clone();
        if k > 0 {
            d[0] ^= k;
            meta.peer = addr(300 + k as usize);
        }
        datagrams.push((meta, d));
        if let Some((mut meta, d, _)) = real.get(1 + k as usize).cloned().filter(|_| k < 6) {
            meta.peer = addr(200);
            datagrams.push((meta, d));
        }
    }
    let (_, many) = compare(config, &datagrams);
    assert_eq!(many.count(Counter::NackTicketBusy), 9);
    assert_eq!(many.count(Counter::HalfOpenPerSource), 3);
    assert_eq!(many.count(Counter::NackBadTag), 1);
    assert_eq!(many.responder.half_open(), 2 + 3);
}

/// Cookies from `threshold` half-open SAs, room for twice as many.
fn cookies_from(threshold: usize) -> ResponderConfig {
    ResponderConfig {
        cookie_threshold: threshold,
        half_open_limit: 2 * threshold,
        ..ResponderConfig::default()
    }
}

/// Found by fuzzing (fuzz target `resume_responder`): one request nine
/// times in a burst, cookies from 8 half-open SAs. One at a time, the
/// first makes the only half-open SA and the others are retransmissions
/// answered with its Nr; the resume stage counted every copy admitted
/// before it as pending and answered the ninth with N(COOKIE), a client
/// then stuck between two answers.
#[test]
fn repeats_in_a_burst_do_not_count_toward_the_cookie_threshold() {
    let gw = Gateway::new(ResponderConfig::default());
    let (meta, req, _) = requests(&gw, 1).remove(0);
    let datagrams = vec![(meta, req); 9];
    let (_, many) = compare(cookies_from(8), &datagrams);
    assert_eq!(many.count(Counter::ResumeAccepted), 1);
    assert_eq!(many.count(Counter::ResumeRetransmits), 8);
    assert_eq!(many.count(Counter::CookiesSent), 0);
    assert_eq!(many.responder.half_open(), 1);
}

/// The same for refused requests: eight forged tickets (each its own SPIi)
/// make no half-open SA, so the valid request after them in the burst
/// is accepted without a cookie, as it is one at a time.
#[test]
fn refused_requests_in_a_burst_do_not_count_toward_the_cookie_threshold() {
    let gw = Gateway::new(ResponderConfig::default());
    let mut real = requests(&gw, 9);
    let (meta, valid, _) = real.pop().expect("nine requests");
    let mut datagrams: Vec<(PacketMeta, Vec<u8>)> = real
        .into_iter()
        .map(|(meta, mut req, at)| {
            req[at + 40] ^= 0x01;
            (meta, req)
        })
        .collect();
    datagrams.push((meta, valid));
    let (_, many) = compare(cookies_from(8), &datagrams);
    assert_eq!(many.count(Counter::NackBadTag), 8);
    assert_eq!(many.count(Counter::ResumeAccepted), 1);
    assert_eq!(many.count(Counter::CookiesSent), 0);
    // And the half-open bound likewise: room for one SA, eight refused
    // requests before the valid one.
    let one_sa = ResponderConfig {
        half_open_limit: 1,
        ..ResponderConfig::default()
    };
    let (_, many) = compare(one_sa, &datagrams);
    assert_eq!(many.count(Counter::ResumeAccepted), 1);
    assert_eq!(many.count(Counter::HalfOpenFull), 0);
}

/// Accepted requests do count: the ninth of nine valid ones in a burst
/// gets N(COOKIE), and a burst longer than the table fills it.
#[test]
fn accepted_requests_in_a_burst_count_toward_the_cookie_threshold() {
    let gw = Gateway::new(ResponderConfig::default());
    let datagrams: Vec<(PacketMeta, Vec<u8>)> = requests(&gw, 20)
        .into_iter()
        .map(|(meta, req, _)| (meta, req))
        .collect();
    let (_, many) = compare(cookies_from(8), &datagrams[..9]);
    assert_eq!(many.count(Counter::ResumeAccepted), 8);
    assert_eq!(many.count(Counter::CookiesSent), 1);
    let room_for_4 = ResponderConfig {
        half_open_limit: 4,
        ..ResponderConfig::default()
    };
    let (_, many) = compare(room_for_4, &datagrams);
    assert_eq!(many.count(Counter::ResumeAccepted), 4);
    assert_eq!(many.count(Counter::HalfOpenFull), 16);
}
