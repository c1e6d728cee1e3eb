//! Steering: an IKE_AUTH that reaches a worker other than the one that
//! answered its IKE_SESSION_RESUME is forwarded to the owner named by
//! SPIr's top byte. Clients here do what a client behind a NAT does: the
//! request goes to the IKE port, the IKE_AUTH floats to the NAT-T port
//! (with the non-ESP marker) from another source port, so SO_REUSEPORT's
//! hash picks the worker afresh.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound_dataplane::config::GatewaySettings;
use rebound_dataplane::gateway::{Gateway, ephemeral_ring};
use rebound_dataplane::runtime::{BufferedOsRng, now};
use rebound_engine::client::{InitiatorConfig, InitiatorEvent, ResumeInitiator};
use rebound_storm::mint::mint_ticket;

const CLIENTS: usize = 64;

/// Run one client: request to `ike`, IKE_AUTH to `natt` from another
/// socket, with the non-ESP marker. Returns the event.
fn resume_floating(
    i: usize,
    ring: &rebound_engine::ticket::keyring::TicketKeyRing,
    ike: SocketAddr,
    natt: SocketAddr,
    config: &Arc<InitiatorConfig>,
) -> InitiatorEvent {
    let mut rng = BufferedOsRng::try_new().expect("OS randomness");
    let ticket = mint_ticket(i, ring, now().secs(), &mut rng).expect("ticket");
    let first = UdpSocket::bind("127.0.0.1:0").unwrap();
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&first, &second] {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let local = first.local_addr().unwrap();
    let mut c = ResumeInitiator::new(config.clone(), ticket, local, ike, now(), &mut rng)
        .expect("initiator");
    let mut buf = vec![0u8; 8192];
    let mut sends = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        while let Some(n) = c.poll_transmit(now(), &mut buf[4..]) {
            if sends == 0 {
                first.send_to(&buf[4..4 + n], ike).unwrap();
            } else {
                // The IKE_AUTH (and its retransmissions): port 4500 style.
                buf[..4].fill(0);
                second.send_to(&buf[..4 + n], natt).unwrap();
            }
            sends += 1;
        }
        if let Some(e) = c.poll_event() {
            return e;
        }
        let sock = if sends <= 1 { &first } else { &second };
        match sock.recv(&mut buf) {
            Ok(n) if sends <= 1 => c.handle(now(), &buf[..n], &mut rng),
            Ok(n) if n > 4 && buf[..4] == [0; 4] => c.handle(now(), &buf[4..n], &mut rng),
            Ok(_) => panic!("client {i}: an answer on port 4500 without the marker"),
            Err(_) => {
                if c.poll_timeout().is_some_and(|t| t <= now()) {
                    c.handle_timeout(now());
                }
            }
        }
    }
    panic!("client {i}: no outcome");
}

#[test]
fn ike_auth_on_another_worker_is_forwarded_to_the_owner() {
    let ring = ephemeral_ring().expect("ring");
    let settings = GatewaySettings {
        workers: 2,
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        listen_natt: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        ..GatewaySettings::default()
    };
    let gw = Gateway::start(settings, Some(ring.clone())).expect("gateway");
    let addrs = gw.local_addrs();
    let (ike, natt) = (addrs[0], addrs[1]);
    let config = Arc::new(InitiatorConfig::default());
    let mut owners = [0u64; 2];
    for i in 0..CLIENTS {
        match resume_floating(i, &ring, ike, natt, &config) {
            InitiatorEvent::Established { sa, .. } => {
                owners[usize::from(sa.spi_r[0])] += 1;
            }
            other => panic!("client {i}: {other:?}"),
        }
    }
    let stats = gw.shutdown();
    let forwarded_out: u64 = stats.workers.iter().map(|w| w.io.forwarded_out).sum();
    let forwarded_in: u64 = stats.workers.iter().map(|w| w.io.forwarded_in).sum();
    let dropped: u64 = stats.workers.iter().map(|w| w.io.forward_dropped).sum();
    eprintln!("owners {owners:?}, forwarded {forwarded_out}, {stats:?}");
    assert_eq!(stats.control.received, CLIENTS as u64);
    assert_eq!(dropped, 0);
    assert_eq!(forwarded_out, forwarded_in);
    // With two workers, the chance that none of 64 floating IKE_AUTHs lands
    // on the other worker is 2^-64.
    assert!(forwarded_out > 0, "no IKE_AUTH was forwarded");
    assert!(owners.iter().all(|&n| n > 0), "{owners:?}");
}
