//! Ticket storage through the real `rebound gateway` process: by-reference
//! tickets kept in the gateway's store, the revocation list, and
//! `revoke_on_delete`. A client (the engine's initiators over a UDP socket)
//! runs the full exchange with a pre-shared key, gets a ticket, deletes its
//! SA or not, and resumes; the gateway's metrics say why each ticket was
//! refused.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::client::{client_socket, exchange, fqdn, full_exchange, resume};
use common::{GatewayProcess, TempDir, metric_sum, metric_with};
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::client::{
    ClientSession, ClientTicket, Fallback, FullConfig, FullEvent, InitiatorEvent, SessionResponse,
};
use rebound_engine::crypto::SecretBuf;
use rebound_engine::ticket::format::REFERENCE_TICKET_LEN;

const PSK: &str = "a pre-shared key of forty bytes, or so!!";
const NACKS: &str = "rebound_ticket_nacks_total";
const EVENTS: &str = "rebound_full_exchange_events_total";

/// A gateway config: one worker, PSKs for `clients`, the `[tickets]` lines
/// given.
fn config(dir: &TempDir, clients: &[&str], tickets: &str) -> String {
    let mut text = format!(
        "[gateway]\nworkers = 1\nidle_sleep_us = 100\ndrain_timeout_ms = 500\n\n\
         [tickets]\n{tickets}\n\n[ike]\nlocal_id = \"fqdn:gw.example.net\"\n"
    );
    for c in clients {
        text.push_str(&format!(
            "\n[[psk]]\nid = \"fqdn:{c}\"\nsecret = \"{PSK}\"\n"
        ));
    }
    dir.write_private("gateway.toml", &text);
    "gateway.toml".into()
}

/// A client of the gateway: its socket and its full-exchange settings.
struct Client {
    sock: UdpSocket,
    config: Arc<FullConfig>,
}

impl Client {
    fn new(name: &str) -> Client {
        let mut config =
            FullConfig::new(fqdn(name), SecretBuf::from_slice(PSK.as_bytes()).unwrap());
        config.id_r = Some(fqdn("gw.example.net"));
        Client {
            sock: client_socket(),
            config: Arc::new(config),
        }
    }

    /// The full exchange: the client's side of the SA and the ticket (if
    /// the gateway gave one).
    fn connect(&self, gw: SocketAddr) -> (ClientSession, Option<ClientTicket>) {
        match full_exchange(&self.sock, gw, &self.config) {
            FullEvent::Established {
                session,
                ticket,
                child_error: None,
                ..
            } => (session, ticket),
            other => panic!("the full exchange failed: {other:?}"),
        }
    }

    /// DELETE of the IKE SA (INFORMATIONAL), answered.
    fn delete(&self, gw: SocketAddr, mut session: ClientSession) {
        let mut rng = BufferedOsRng::new();
        let req = session.delete(&mut rng).expect("a delete request");
        let r = exchange(&self.sock, gw, &mut session, &req);
        assert!(matches!(r, SessionResponse::Deleted), "{r:?}");
    }

    fn resume(&self, gw: SocketAddr, ticket: ClientTicket) -> InitiatorEvent {
        resume(&self.sock, gw, ticket)
    }
}

fn resumed(e: &InitiatorEvent) -> bool {
    matches!(e, InitiatorEvent::Established { .. })
}

fn refused(e: &InitiatorEvent) -> bool {
    matches!(e, InitiatorEvent::Failed(Fallback::TicketRefused))
}

/// The gateway's metrics once `ready` holds for them (workers and the
/// control plane publish their counters every few tens of milliseconds).
fn metrics_when(gw: &GatewayProcess, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = gw.scrape();
        if ready(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nacks(text: &str, reason: &str) -> u64 {
    metric_with(text, NACKS, &format!("reason=\"{reason}\""))
}

#[test]
fn by_reference_tickets_are_issued_resumed_once_and_dropped_from_the_store() {
    let dir = TempDir::new("byref");
    let cfg = config(&dir, &["alice.example.net"], "kind = \"by-reference\"");
    let gw = GatewayProcess::start(&dir.0, &["--config", &cfg]);
    let alice = Client::new("alice.example.net");

    let (_session, ticket) = alice.connect(gw.ike);
    let ticket = ticket.expect("a ticket from the full exchange");
    assert_eq!(
        ticket.opaque.len(),
        REFERENCE_TICKET_LEN,
        "a by-reference ticket (an id, an expiry and a MAC), not the state"
    );
    let m = gw.scrape();
    assert_eq!(metric_sum(&m, "rebound_ticket_store_entries"), 1, "{m}");

    let first = alice.resume(gw.ike, ticket.clone());
    let InitiatorEvent::Established { new_ticket, .. } = &first else {
        panic!("the by-reference ticket did not resume: {first:?}");
    };
    // The resumed IKE_AUTH asked for the next ticket: by reference too.
    let next = new_ticket.as_ref().expect("the next ticket");
    assert_eq!(next.opaque.len(), REFERENCE_TICKET_LEN);

    // The used ticket's state left the store; its replay is refused as
    // a reuse (not as an unknown ticket).
    let replay = alice.resume(gw.ike, ticket);
    assert!(refused(&replay), "{replay:?}");
    let m = metrics_when(&gw, |m| nacks(m, "reused") >= 1);
    assert_eq!(nacks(&m, "reused"), 1, "{m}");
    assert_eq!(nacks(&m, "not_found"), 0, "{m}");
    assert_eq!(
        metric_sum(&m, "rebound_ticket_store_entries"),
        1,
        "only the next ticket's state: {m}"
    );
    assert_eq!(metric_sum(&m, "rebound_ticket_store_full_total"), 0, "{m}");

    // The next ticket resumes in its turn.
    let again = alice.resume(gw.ike, next.clone());
    assert!(resumed(&again), "{again:?}");
    gw.stop();
}

/// An SA deleted by its peer takes its ticket with it (RFC 5723 §6.2): the
/// ticket comes back refused as `revoked`, by value and by reference.
#[test]
fn a_deleted_sas_ticket_is_refused_as_revoked() {
    for kind in ["by-value", "by-reference"] {
        let dir = TempDir::new("revoked");
        let cfg = config(&dir, &["bob.example.net"], &format!("kind = \"{kind}\""));
        let gw = GatewayProcess::start(&dir.0, &["--config", &cfg]);
        let bob = Client::new("bob.example.net");
        let (session, ticket) = bob.connect(gw.ike);
        let ticket = ticket.expect("a ticket");
        bob.delete(gw.ike, session);

        let r = bob.resume(gw.ike, ticket);
        assert!(refused(&r), "{kind}: {r:?}");
        let m = metrics_when(&gw, |m| nacks(m, "revoked") >= 1);
        assert_eq!(nacks(&m, "revoked"), 1, "{kind}: {m}");
        assert_eq!(
            nacks(&m, "reused"),
            0,
            "{kind}: a revocation is no replay: {m}"
        );
        assert_eq!(
            metric_with(&m, EVENTS, "event=\"tickets_revoked\""),
            1,
            "{kind}: {m}"
        );
        assert_eq!(
            metric_sum(&m, "rebound_revocation_list_entries"),
            1,
            "{kind}: {m}"
        );
        if kind == "by-reference" {
            assert_eq!(
                metric_sum(&m, "rebound_ticket_store_entries"),
                0,
                "the deleted SA's ticket state is gone: {m}"
            );
        }
        gw.stop();
    }
}

/// `revoke_on_delete = false`: a client that deletes its SA and resumes it
/// later with the same ticket (libreswan's `whack --suspend`) resumes once,
/// never twice.
#[test]
fn without_revoke_on_delete_a_deleted_sas_ticket_resumes_once() {
    for kind in ["by-value", "by-reference"] {
        let dir = TempDir::new("suspend");
        let cfg = config(
            &dir,
            &["carol.example.net"],
            &format!("kind = \"{kind}\"\nrevoke_on_delete = false"),
        );
        let gw = GatewayProcess::start(&dir.0, &["--config", &cfg]);
        let carol = Client::new("carol.example.net");
        let (session, ticket) = carol.connect(gw.ike);
        let ticket = ticket.expect("a ticket");
        carol.delete(gw.ike, session);

        let first = carol.resume(gw.ike, ticket.clone());
        assert!(resumed(&first), "{kind}: {first:?}");
        let second = carol.resume(gw.ike, ticket);
        assert!(refused(&second), "{kind}: {second:?}");
        let m = metrics_when(&gw, |m| nacks(m, "reused") >= 1);
        assert_eq!(nacks(&m, "reused"), 1, "{kind}: {m}");
        assert_eq!(nacks(&m, "revoked"), 0, "{kind}: {m}");
        assert_eq!(
            metric_with(&m, EVENTS, "event=\"tickets_kept_on_delete\""),
            1,
            "{kind}: {m}"
        );
        gw.stop();
    }
}

/// A by-reference ticket past its expiry is refused as `expired`, and its
/// state leaves the store at the next purge (every second) even though
/// nobody presented it.
#[test]
fn an_expired_by_reference_ticket_is_refused_and_purged() {
    let dir = TempDir::new("byref-expired");
    let cfg = config(
        &dir,
        &["dave.example.net", "erin.example.net"],
        "kind = \"by-reference\"\nmax_lifetime_secs = 3",
    );
    let gw = GatewayProcess::start(&dir.0, &["--config", &cfg]);
    let dave = Client::new("dave.example.net");
    let erin = Client::new("erin.example.net");
    let (_s1, t1) = dave.connect(gw.ike);
    let (_s2, _t2) = erin.connect(gw.ike);
    let mut t1 = t1.expect("a ticket");
    assert_eq!(metric_sum(&gw.scrape(), "rebound_ticket_store_entries"), 2);

    let m = metrics_when(&gw, |m| {
        metric_sum(m, "rebound_ticket_store_expired_total") >= 2
    });
    assert_eq!(metric_sum(&m, "rebound_ticket_store_entries"), 0, "{m}");
    assert_eq!(
        metric_sum(&m, "rebound_ticket_store_expired_total"),
        2,
        "{m}"
    );

    // A client whose clock lags presents it anyway.
    t1.expires_at += 3600;
    let r = dave.resume(gw.ike, t1);
    assert!(refused(&r), "{r:?}");
    let m = metrics_when(&gw, |m| nacks(m, "expired") >= 1);
    assert_eq!(nacks(&m, "expired"), 1, "{m}");
    gw.stop();
}

/// A full store refuses new by-reference tickets with TICKET_NACK (the
/// client falls back to a full exchange next time), counts them, and
/// keeps serving the tickets it holds.
#[test]
fn a_full_ticket_store_refuses_new_tickets_and_counts_them() {
    let dir = TempDir::new("byref-full");
    let cfg = config(
        &dir,
        &["frank.example.net", "grace.example.net"],
        "kind = \"by-reference\"\nstore_capacity = 1",
    );
    let gw = GatewayProcess::start(&dir.0, &["--config", &cfg]);
    let frank = Client::new("frank.example.net");
    let grace = Client::new("grace.example.net");
    let (_s1, t1) = frank.connect(gw.ike);
    let t1 = t1.expect("a ticket while the store has room");

    let FullEvent::Established {
        ticket,
        ticket_nacked,
        ..
    } = full_exchange(&grace.sock, gw.ike, &grace.config)
    else {
        panic!("grace's full exchange failed");
    };
    assert!(ticket.is_none() && ticket_nacked, "TICKET_NACK when full");
    let m = gw.scrape();
    assert_eq!(metric_sum(&m, "rebound_ticket_store_full_total"), 1, "{m}");
    assert_eq!(metric_sum(&m, "rebound_ticket_store_capacity"), 1, "{m}");
    assert_eq!(metric_sum(&m, "rebound_ticket_store_entries"), 1, "{m}");

    // Frank's ticket still resumes. Its successor is refused too: the used
    // ticket's state leaves the store only once the resumption has
    // succeeded, after the answer (and its ticket) was built.
    let r = frank.resume(gw.ike, t1);
    let InitiatorEvent::Established { new_ticket, .. } = &r else {
        panic!("a ticket the store holds resumes: {r:?}");
    };
    assert!(new_ticket.is_none(), "no room for the successor yet");
    let m = metrics_when(&gw, |m| metric_sum(m, "rebound_ticket_store_entries") == 0);
    assert_eq!(metric_sum(&m, "rebound_ticket_store_entries"), 0, "{m}");
    assert_eq!(metric_sum(&m, "rebound_ticket_store_full_total"), 2, "{m}");

    // With the place free, the next full exchange gets a ticket again.
    let (_s3, t3) = grace.connect(gw.ike);
    assert!(t3.is_some(), "a ticket once the store has room");
    gw.stop();
}
