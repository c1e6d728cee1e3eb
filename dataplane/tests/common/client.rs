//! A client driving the engine's initiators over a UDP socket against a
//! gateway: the full exchange, a resumption, one request of an
//! established SA. Shared by the gateway's tests (in process) and the
//! binary's (cli/tests, through the real process).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound_dataplane::runtime::{BufferedOsRng, now};
use rebound_engine::client::{
    ClientSession, FullConfig, FullEvent, FullInitiator, InitiatorConfig, InitiatorEvent,
    ResumeInitiator, SessionResponse,
};
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::wire::IdType;

/// An FQDN identity.
pub fn fqdn(name: &str) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, name.as_bytes()).expect("identity")
}

/// A loopback client socket that waits 200 ms for an answer.
pub fn client_socket() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock
}

/// Send what the client has, wait for answers, until `done`.
pub fn drive(
    sock: &UdpSocket,
    gw: SocketAddr,
    mut transmit: impl FnMut(&mut [u8]) -> Option<usize>,
    mut receive: impl FnMut(&[u8]),
    mut done: impl FnMut() -> bool,
) {
    let mut buf = vec![0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "no answer from the gateway");
        while let Some(n) = transmit(&mut buf) {
            sock.send_to(&buf[..n], gw).expect("send");
        }
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            receive(&buf[..n]);
        }
    }
}

/// One request of `session`, sent again until its answer comes.
pub fn exchange(
    sock: &UdpSocket,
    gw: SocketAddr,
    session: &mut ClientSession,
    req: &[u8],
) -> SessionResponse {
    let mut buf = vec![0u8; 8192];
    let mut rng = BufferedOsRng::new();
    for _ in 0..50 {
        sock.send_to(req, gw).expect("send");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return session
                .response(now(), &buf[..n], &mut rng)
                .expect("the answer to the request");
        }
    }
    panic!("the control plane did not answer");
}

/// One full exchange through the gateway at `addr` from `sock`.
pub fn full_exchange(sock: &UdpSocket, addr: SocketAddr, config: &Arc<FullConfig>) -> FullEvent {
    let local = sock.local_addr().unwrap();
    let mut rng = BufferedOsRng::new();
    let mut full = FullInitiator::new(config.clone(), local, addr, &mut rng).expect("client");
    let mut event = None;
    let full = std::cell::RefCell::new(&mut full);
    drive(
        sock,
        addr,
        |b| full.borrow_mut().poll_transmit(now(), b),
        |d| full.borrow_mut().handle(now(), d, &mut rng),
        || {
            if event.is_none() {
                event = full.borrow_mut().poll_event();
            }
            event.is_some()
        },
    );
    event.expect("an event")
}

/// One resumption with `ticket` through the gateway at `addr` from `sock`.
pub fn resume(
    sock: &UdpSocket,
    addr: SocketAddr,
    ticket: rebound_engine::client::ClientTicket,
) -> InitiatorEvent {
    let local = sock.local_addr().unwrap();
    let mut rng = BufferedOsRng::new();
    let rcfg = Arc::new(InitiatorConfig::default());
    let mut resume =
        ResumeInitiator::new(rcfg, ticket, local, addr, now(), &mut rng).expect("resume");
    let mut revent = None;
    let resume = std::cell::RefCell::new(&mut resume);
    drive(
        sock,
        addr,
        |b| resume.borrow_mut().poll_transmit(now(), b),
        |d| resume.borrow_mut().handle(now(), d, &mut rng),
        || {
            if revent.is_none() {
                revent = resume.borrow_mut().poll_event();
            }
            revent.is_some()
        },
    );
    revent.expect("an event")
}
