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

/// Run `datagrams` through one responder a datagram at a time and through
/// another as one burst; both must answer and count the same. Returns the
/// burst's gateway.
fn same_either_way(config: ResponderConfig, datagrams: &[(PacketMeta, Vec<u8>)]) -> Gateway {
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
    many
}

#[test]
fn a_burst_answers_exactly_as_one_datagram_at_a_time() {
    let config = ResponderConfig::default();
    // More than one chunk of the stage.
    let datagrams = burst(&Gateway::new(config.clone()), MAX_RESUME_BURST + 40);
    assert!(datagrams.len() > 2 * MAX_RESUME_BURST);
    let many = same_either_way(config, &datagrams);
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
    let many = same_either_way(config, &datagrams);
    assert_eq!(many.count(Counter::NackTicketBusy), 9);
    assert_eq!(many.count(Counter::HalfOpenPerSource), 3);
    assert_eq!(many.responder.half_open(), 2 + 3);
}
