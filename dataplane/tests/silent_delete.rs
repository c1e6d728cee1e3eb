//! RFC 5723 §4.3.4 in the control plane: once a resumed SA is up, the SA
//! it replaces is deleted silently (no Delete payload is sent; the client
//! already forgot it).
//!
//! 20 clients resume twice against an embedded gateway, over real UDP
//! sockets on loopback, each initiator driven by hand. Round 1 presents
//! minted tickets, whose old SAs this gateway never saw (`replaced_unknown`);
//! round 2 presents the ticket each client got in round 1, so each new SA
//! replaces a round-1 SA that is in the table (`silent_deletes`), and the
//! table ends with one SA per client.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound_dataplane::config::GatewaySettings;
use rebound_dataplane::gateway::{self, Gateway};
use rebound_dataplane::runtime::{BufferedOsRng, now};
use rebound_dataplane::stats::ControlSnapshot;
use rebound_engine::client::{ClientTicket, InitiatorConfig, InitiatorEvent, ResumeInitiator};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::rand::RandomSource as _;
use rebound_storm::mint::mint_ticket;

const CLIENTS: usize = 20;
/// The longest one resumption, or the control plane's settling, may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// The longest wait on the socket between checks of the initiator's timer.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// One client: its socket (kept across both rounds) and what it holds.
struct Client {
    socket: UdpSocket,
    ticket: Option<ClientTicket>,
}

/// Resumes with `ticket` over `socket`: sends what the initiator has due,
/// hands it every datagram that arrives, fires its retransmission timer,
/// until it reports. Returns the SA and the next ticket.
fn resume(
    config: &Arc<InitiatorConfig>,
    ticket: ClientTicket,
    socket: &UdpSocket,
    gateway: SocketAddr,
    rng: &mut BufferedOsRng,
) -> (Box<EstablishedSa>, Option<ClientTicket>) {
    let local = socket.local_addr().unwrap();
    let mut fill = |b: &mut [u8]| rng.fill(b);
    let mut init = ResumeInitiator::new(config.clone(), ticket, local, gateway, now(), &mut fill)
        .expect("the ticket is usable");
    let mut out = vec![0u8; 4096];
    let mut buf = vec![0u8; 65_536];
    let give_up = Instant::now() + DEADLINE;
    loop {
        while let Some(n) = init.poll_transmit(now(), &mut out) {
            socket.send_to(&out[..n], gateway).unwrap();
        }
        if let Some(ev) = init.poll_event() {
            return match ev {
                InitiatorEvent::Established {
                    sa,
                    new_ticket,
                    child_error,
                    ..
                } => {
                    assert_eq!(child_error, None, "child SA refused");
                    (sa, new_ticket)
                }
                InitiatorEvent::Failed(why) => panic!("resumption failed: {why:?}"),
            };
        }
        assert!(Instant::now() < give_up, "no outcome within {DEADLINE:?}");
        let wait = init
            .poll_timeout()
            .map_or(MAX_WAIT, |d| {
                Duration::from_millis(d.millis_since(now())).min(MAX_WAIT)
            })
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait)).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from, gateway);
                let mut fill = |b: &mut [u8]| rng.fill(b);
                init.handle(now(), &buf[..n], &mut fill);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if init.poll_timeout().is_some_and(|d| d <= now()) {
                    init.handle_timeout(now());
                }
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Every client resumes once with the ticket it holds, which is replaced
/// by the one it gets. Returns the SAs, in client order.
fn round(
    clients: &mut [Client],
    config: &Arc<InitiatorConfig>,
    gateway: SocketAddr,
    rng: &mut BufferedOsRng,
) -> Vec<EstablishedSa> {
    clients
        .iter_mut()
        .enumerate()
        .map(|(i, c)| {
            let ticket = c.ticket.take().expect("a ticket to present");
            let (sa, next) = resume(config, ticket, &c.socket, gateway, rng);
            assert!(next.is_some(), "client {i}: no new ticket");
            c.ticket = next;
            *sa
        })
        .collect()
}

/// The control plane's counts once it has received `want` SAs.
fn settled(gw: &Gateway, want: u64) -> ControlSnapshot {
    let give_up = Instant::now() + DEADLINE;
    loop {
        let c = gw.stats().control;
        if c.received >= want && c.queue_depth == 0 {
            return c;
        }
        assert!(
            Instant::now() < give_up,
            "the control plane received {} of {want} SAs: {c:?}",
            c.received
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_replaced_sa_is_deleted_silently() {
    let ring = gateway::ephemeral_ring().unwrap();
    let mut rng = BufferedOsRng::new();
    let minted: Vec<ClientTicket> = (0..CLIENTS)
        .map(|i| mint_ticket(i, &ring, now().secs(), &mut rng).unwrap())
        .collect();
    let settings = GatewaySettings {
        workers: 1,
        ..GatewaySettings::default()
    };
    let gw = Gateway::start(settings, Some(ring)).unwrap();
    let target = gw.local_addrs()[0];
    assert!(target.ip().is_loopback(), "{target}");

    let mut clients: Vec<Client> = minted
        .iter()
        .map(|t| Client {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            ticket: Some(t.clone()),
        })
        .collect();
    let config = Arc::new(InitiatorConfig::default());

    // Round 1: each SA replaces the minted one, unknown to this gateway.
    let first = round(&mut clients, &config, target, &mut rng);
    for (sa, t) in first.iter().zip(&minted) {
        assert_eq!(sa.replaces(), Some((t.state.old_spi_i, t.state.old_spi_r)));
    }
    // Round 2: each SA replaces the client's round-1 SA.
    let second = round(&mut clients, &config, target, &mut rng);
    for (i, (new, old)) in second.iter().zip(&first).enumerate() {
        assert_eq!(
            new.replaces(),
            Some((old.spi_i, old.spi_r)),
            "client {i}: the second SA replaces the first"
        );
        assert_ne!((new.spi_i, new.spi_r), (old.spi_i, old.spi_r));
    }

    let n = CLIENTS as u64;
    let c = settled(&gw, 2 * n);
    assert_eq!(c.received, 2 * n, "{c:?}");
    assert_eq!(c.duplicates, 0, "{c:?}");
    // RFC 5723 §4.3.4: every round-1 SA was in the table and is gone.
    assert_eq!(c.silent_deletes, n, "{c:?}");
    assert_eq!(c.replaced_unknown, n, "{c:?}");
    assert_eq!(c.sa_table, n, "{c:?}");

    let finals = gw.shutdown().control;
    assert_eq!(finals.received, 2 * n, "{finals:?}");
    assert_eq!(finals.abandoned, 0, "{finals:?}");
}
