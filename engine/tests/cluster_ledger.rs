//! A responder of a cluster gateway defers a request until the cluster
//! says whose the ticket is, then answers from the ledger: Nr when the
//! ticket is this gateway's, TICKET_NACK (`reused`, or
//! `cluster_unavailable`) otherwise; a by-reference ticket held by another
//! gateway resumes from the stub the claim handed over.

#[path = "common/pair.rs"]
mod pair;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use pair::*;
use rebound_engine::client::{ClientTicket, InitiatorConfig, ResumeInitiator};
use rebound_engine::responder::{Counter, PacketMeta, ResponderConfig};
use rebound_engine::ticket::cluster::{Outcome, Want};
use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal, seal_stub};
use rebound_engine::ticket::store::TicketStore;
use rebound_engine::time::Timestamp;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 0, i as u8)), 500)
}

fn request(gw: &Gateway, t: ClientTicket, i: usize) -> (PacketMeta, Vec<u8>) {
    let now = Timestamp::from_secs(T0);
    let mut r = rng(1000 + i as u64);
    let mut c = ResumeInitiator::new(
        Arc::new(InitiatorConfig::default()),
        t,
        addr(i),
        gw.addr,
        now,
        &mut r,
    )
    .expect("initiator");
    let mut buf = vec![0u8; 4096];
    let len = c.poll_transmit(now, &mut buf).expect("request");
    buf.truncate(len);
    (
        PacketMeta {
            peer: addr(i),
            local: gw.addr,
        },
        buf,
    )
}

fn run(gw: &mut Gateway, reqs: &[(PacketMeta, Vec<u8>)]) -> Vec<(Option<usize>, bool)> {
    let now = Timestamp::from_secs(T0);
    reqs.iter()
        .map(|(meta, data)| {
            let mut out = [0u8; 2048];
            let h = gw.responder.handle(now, meta, data, &mut out);
            (h.reply, h.deferred)
        })
        .collect()
}

fn wants(gw: &mut Gateway) -> Vec<Want> {
    let mut w = Vec::new();
    gw.responder
        .cluster_mut()
        .expect("cluster enabled")
        .take_wants(&mut w);
    w
}

#[test]
fn deferred_until_the_cluster_answers() {
    let mut gw = Gateway::new(ResponderConfig::default());
    gw.responder.enable_cluster();
    let tickets: Vec<ClientTicket> = (0..3).map(|n| gw.ticket(n)).collect();
    let ids: Vec<_> = tickets.iter().map(|t| t.state.ticket_id).collect();
    let reqs: Vec<_> = tickets
        .into_iter()
        .enumerate()
        .map(|(i, t)| request(&gw, t, i))
        .collect();

    // Nothing answered, nothing kept, one question per ticket.
    let first = run(&mut gw, &reqs);
    assert!(
        first
            .iter()
            .all(|&(reply, deferred)| reply.is_none() && deferred)
    );
    assert_eq!(gw.responder.half_open(), 0);
    assert_eq!(gw.count(Counter::ResumeDeferred), 3);
    let w = wants(&mut gw);
    assert_eq!(w.iter().map(|w| w.id).collect::<Vec<_>>(), ids);
    assert!(w.iter().all(|w| !w.stub && w.expiry > T0));
    // Asked again before the answer: deferred again, not asked twice.
    assert!(run(&mut gw, &reqs[..1])[0].1);
    assert!(wants(&mut gw).is_empty());

    let now = Timestamp::from_secs(T0);
    assert!(
        gw.responder
            .resolve_cluster(ids[0], Outcome::Mine, None, now)
    );
    assert!(
        gw.responder
            .resolve_cluster(ids[1], Outcome::Taken, None, now)
    );
    assert!(
        gw.responder
            .resolve_cluster(ids[2], Outcome::Unavailable, None, now)
    );
    let second = run(&mut gw, &reqs);
    assert!(
        second
            .iter()
            .all(|&(reply, deferred)| reply.is_some() && !deferred)
    );
    assert_eq!(gw.count(Counter::ResumeAccepted), 1);
    assert_eq!(gw.responder.half_open(), 1);
    assert_eq!(gw.count(Counter::NackReused), 1);
    assert_eq!(gw.count(Counter::NackClusterUnavailable), 1);
    assert!(wants(&mut gw).is_empty());

    // Forgotten after the rerun: a new request with the ticket asks the
    // cluster anew.
    gw.responder.cluster_mut().unwrap().forget(&ids[1]);
    assert!(run(&mut gw, &reqs[1..2])[0].1);
    assert_eq!(wants(&mut gw).len(), 1);
}

#[test]
fn by_reference_ticket_from_the_stub_bank() {
    let mut gw = Gateway::new(ResponderConfig::default());
    gw.responder.enable_cluster();
    // A by-reference ticket another gateway issued: its state is not in
    // this gateway's store.
    let t = gw.mint(
        TicketKind::ByReference,
        client_state(7, gcm256_sha256()),
        T0,
    );
    let id = t.state.ticket_id;
    assert!(gw.store.remove(&id).unwrap());
    // The stub as the bank keeps it: the state sealed by value under the
    // shared keys.
    let mut stub = vec![0u8; MAX_VALUE_TICKET_LEN];
    let mut r = rng(5);
    let ring = gw.cell.load();
    let n = seal_stub(&t.state, &ring, T0, &mut stub).unwrap();
    stub.truncate(n);
    let reqs = [request(&gw, t.clone(), 1), request(&gw, t, 2)];

    assert!(run(&mut gw, &reqs[..1])[0].1);
    let w = wants(&mut gw);
    assert_eq!(w.len(), 1);
    assert!(w[0].stub && w[0].id == id);
    let now = Timestamp::from_secs(T0);
    // A stub naming another ticket is not taken for this one.
    let mut other = client_state(8, gcm256_sha256());
    let mut bad = vec![0u8; MAX_VALUE_TICKET_LEN];
    let m = seal(
        TicketKind::ByValue,
        &mut other,
        &ring,
        None,
        &mut r,
        T0,
        &mut bad,
    )
    .unwrap();
    assert!(
        !gw.responder
            .resolve_cluster(id, Outcome::Mine, Some(&bad[..m]), now)
    );
    assert!(run(&mut gw, &reqs[..1])[0].0.is_some());
    assert_eq!(gw.count(Counter::NackNotFound), 1);
    // The right stub: resumed.
    assert!(
        gw.responder
            .resolve_cluster(id, Outcome::Mine, Some(&stub), now)
    );
    let out = run(&mut gw, &reqs[1..]);
    assert!(out[0].0.is_some() && !out[0].1);
    assert_eq!(gw.count(Counter::ResumeAccepted), 1);
}

#[test]
fn without_a_cluster_nothing_is_deferred() {
    let mut gw = Gateway::new(ResponderConfig::default());
    let t = gw.ticket(1);
    let reqs = [request(&gw, t, 1)];
    let out = run(&mut gw, &reqs);
    assert!(out[0].0.is_some() && !out[0].1);
    assert!(gw.responder.cluster_mut().is_none());
    assert_eq!(gw.count(Counter::ResumeAccepted), 1);
}

#[test]
fn a_request_refused_before_it_waits_makes_no_claim() {
    use rebound_engine::responder::BurstItem;
    // Room for one half-open SA: in a burst whose first request is
    // accepted, the second is refused by the bound (pass 3) after its
    // ticket opened and asked the cluster.
    let mut gw = Gateway::new(ResponderConfig {
        half_open_limit: 1,
        ..ResponderConfig::default()
    });
    gw.responder.enable_cluster();
    let (ta, tb) = (gw.ticket(1), gw.ticket(2));
    let a = ta.state.ticket_id;
    let reqs = [request(&gw, ta, 1), request(&gw, tb, 2)];
    let now = Timestamp::from_secs(T0);
    gw.responder.resolve_cluster(a, Outcome::Mine, None, now);
    let mut outs = [[0u8; 2048]; 2];
    let [o0, o1] = &mut outs;
    let mut items = [
        BurstItem::new(reqs[0].0, &reqs[0].1, o0),
        BurstItem::new(reqs[1].0, &reqs[1].1, o1),
    ];
    gw.responder.resume_stage(now, &mut items);
    assert!(items[0].handled.reply.is_some());
    assert!(!items[1].handled.deferred && items[1].handled.reply.is_none());
    assert_eq!(gw.count(Counter::HalfOpenFull), 1);
    assert!(
        wants(&mut gw).is_empty(),
        "no claim for the refused request"
    );
}
