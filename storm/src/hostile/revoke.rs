//! `revoked`: tickets the gateway has revoked. Before phase 3, a few
//! clients resume through the gateway (asking for a new ticket, as every
//! storm client does) and then delete their resumed IKE SA with an
//! INFORMATIONAL D(IKE) (RFC 7296 §1.4.1). With `tickets.revoke_on_delete`
//! (the default) the gateway revokes the ticket it gave the deleted SA
//! (RFC 5723 §6.2); those tickets, never used, are what `revoked` presents.
//! One client at a time over a socket of its own, in the clear of the
//! storm's machinery: a handful of exchanges.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound_engine::client::{
    ClientSession, ClientTicket, FullConfig, InitiatorConfig, InitiatorEvent, ResumeInitiator,
    SessionResponse,
};
use rebound_engine::rand::RandomSource;
use rebound_engine::time::Timestamp;

use crate::StormError;

/// How long one exchange may take, retransmissions included.
const PATIENCE: Duration = Duration::from_secs(10);
/// Between retransmissions of a request.
const RETRY: Duration = Duration::from_millis(200);

/// What [`revoke`] needs.
pub struct RevokeInputs<'a> {
    pub config: Arc<InitiatorConfig>,
    /// For the client's side of the resumed SA (its DELETE).
    pub full: Arc<FullConfig>,
    pub local: std::net::IpAddr,
    pub target: SocketAddr,
    pub now: &'a dyn Fn() -> Timestamp,
}

/// Resume with each of `tickets`, keep the new ticket the gateway sent,
/// delete the SA: returns the new tickets, now revoked at the gateway.
pub fn revoke(
    i: &RevokeInputs<'_>,
    tickets: Vec<ClientTicket>,
    rng: &mut dyn RandomSource,
) -> Result<Vec<ClientTicket>, StormError> {
    let sock = UdpSocket::bind(SocketAddr::new(i.local, 0))
        .and_then(|s| s.set_read_timeout(Some(RETRY)).map(|()| s))
        .map_err(|e| StormError::Socket(format!("revoked: {e}")))?;
    let local = sock
        .local_addr()
        .map_err(|e| StormError::Socket(format!("revoked: {e}")))?;
    let mut out = Vec::with_capacity(tickets.len());
    for t in tickets {
        let (sa, new) = resume(i, &sock, local, t, rng)?;
        let Some(new) = new else {
            return Err(StormError::Config(
                "--hostile revoked: the gateway issued no ticket on resumption (tickets off?)"
                    .into(),
            ));
        };
        delete(i, &sock, &sa, rng)?;
        out.push(new);
    }
    Ok(out)
}

/// One resumption, to its end.
fn resume(
    i: &RevokeInputs<'_>,
    sock: &UdpSocket,
    local: SocketAddr,
    ticket: ClientTicket,
    rng: &mut dyn RandomSource,
) -> Result<
    (
        Box<rebound_engine::handoff::EstablishedSa>,
        Option<ClientTicket>,
    ),
    StormError,
> {
    let fail = |why: &str| StormError::Tickets(format!("--hostile revoked: a resumption {why}"));
    let mut c = ResumeInitiator::new(i.config.clone(), ticket, local, i.target, (i.now)(), rng)
        .map_err(|e| fail(&format!("could not start: {}", e.counter_label())))?;
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let now = (i.now)();
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        while let Some(n) = c.poll_transmit(now, &mut buf) {
            sock.send_to(&buf[..n], i.target)
                .map_err(|e| StormError::Socket(format!("revoked: {e}")))?;
        }
        if let Some(e) = c.poll_event() {
            return match e {
                InitiatorEvent::Established { sa, new_ticket, .. } => Ok((sa, new_ticket)),
                InitiatorEvent::Failed(why) => {
                    Err(fail(&format!("failed: {}", why.counter_label())))
                }
            };
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && from == i.target
        {
            c.handle((i.now)(), &buf[..n], rng);
        }
    }
    Err(fail("timed out"))
}

/// D(IKE) on the resumed SA, retransmitted until answered.
fn delete(
    i: &RevokeInputs<'_>,
    sock: &UdpSocket,
    sa: &rebound_engine::handoff::EstablishedSa,
    rng: &mut dyn RandomSource,
) -> Result<(), StormError> {
    let fail = |why: String| StormError::Tickets(format!("--hostile revoked: a DELETE {why}"));
    let mut s = ClientSession::resumed(i.full.clone(), sa).map_err(|e| fail(e.into()))?;
    let req = s.delete(rng).map_err(|e| fail(format!("{e:?}")))?;
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + PATIENCE;
    // The control plane adopts the SA a moment after the worker resumed
    // it: until then the DELETE finds no SA and is dropped, and is sent
    // again.
    while Instant::now() < deadline {
        sock.send_to(&req, i.target)
            .map_err(|e| StormError::Socket(format!("revoked: {e}")))?;
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if from != i.target {
            continue;
        }
        match s.response((i.now)(), &buf[..n], rng) {
            Ok(SessionResponse::Deleted) => return Ok(()),
            Ok(other) => return Err(fail(format!("was answered {other:?}"))),
            // Not the answer (a late retransmission of the resumption's).
            Err(_) => continue,
        }
    }
    Err(fail("was never answered".into()))
}
