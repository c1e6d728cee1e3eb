//! The slow path through a real gateway on loopback: a client with a
//! pre-shared key runs the full exchange (answered by the control plane
//! through the worker that received each request), resumes with the
//! ticket it got (answered by a worker), and deletes the resumed SA with an
//! INFORMATIONAL exchange (answered by the control plane, which adopted the
//! resumed SA). A hand-off daemon sees the full SA, the resumed SA that
//! replaces it, and the delete.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::client::{exchange, fqdn, full_exchange, resume};
use common::{TempDir, handoff_daemon};
use rebound_dataplane::config::{GatewaySettings, HandoffTarget, Psk};
use rebound_dataplane::gateway::Gateway;
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::client::{
    ClientSession, FullConfig, FullEvent, InitiatorEvent, SessionResponse,
};
use rebound_engine::crypto::SecretBuf;
use rebound_engine::slow_path::{CONTROL_SPI_TAG, SlowPathCounter};

const PSK: &[u8] = b"a pre-shared key of forty bytes, or so!!";

/// While the hand-off daemon is down the slow path goes on: a second
/// client's full exchange completes with the first SA still undelivered.
/// When the daemon comes up it gets both SAs.
#[test]
fn the_slow_path_answers_while_the_handoff_daemon_is_down() {
    let dir = TempDir::new("slow-path-down");
    let socket = dir.file("handoff.sock");
    let ids = [fqdn("first.example.net"), fqdn("second.example.net")];
    let settings = GatewaySettings {
        handoff: vec![HandoffTarget::Unix(socket.clone())],
        psks: ids
            .iter()
            .map(|id| Psk {
                id: *id,
                secret: SecretBuf::from_slice(PSK).unwrap(),
                tickets: true,
            })
            .collect(),
        ..GatewaySettings::default()
    };
    let gw = Gateway::start(settings, None).expect("gateway");
    let addr = gw.local_addrs()[0];
    let mut spis = Vec::new();
    for id in ids {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let config = Arc::new(FullConfig::new(id, SecretBuf::from_slice(PSK).unwrap()));
        match full_exchange(&sock, addr, &config) {
            FullEvent::Established { sa, .. } => spis.push((sa.spi_i, sa.spi_r)),
            other => panic!("{other:?}"),
        }
    }
    // The sink holds both SAs unacknowledged (its window has room, so
    // the control plane is not held up), failing to connect. The control
    // plane publishes its counters on its next loop after the answer went
    // out: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stuck = loop {
        let c = gw.stats().control;
        if (c.unacked >= 2 && c.sink_errors > 0) || Instant::now() >= deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(stuck.unacked, 2, "{stuck:?}");
    assert!(stuck.sink_errors > 0, "{stuck:?}");
    let lines = handoff_daemon(&socket);
    for (spi_i, spi_r) in spis {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("a line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ike"]["spi_i"], hex::encode(spi_i), "{line}");
        assert_eq!(v["ike"]["spi_r"], hex::encode(spi_r), "{line}");
    }
    let c = gw.shutdown().control;
    assert_eq!(c.handed_off, 2);
    assert_eq!(c.slow_path_counters.get(SlowPathCounter::Established), 2);
}

#[test]
fn full_exchange_then_resumption_then_delete_through_the_gateway() {
    let dir = TempDir::new("slow-path");
    let lines = handoff_daemon(&dir.file("handoff.sock"));
    let client_id = fqdn("road-warrior.example.net");
    let mut settings = GatewaySettings {
        workers: 2,
        handoff: vec![HandoffTarget::Unix(dir.file("handoff.sock"))],
        psks: vec![Psk {
            id: client_id,
            secret: SecretBuf::from_slice(PSK).unwrap(),
            tickets: true,
        }],
        ..GatewaySettings::default()
    };
    settings.ike.local_id = fqdn("gw.example.net");
    let gw = Gateway::start(settings, None).expect("gateway");
    let addr = gw.local_addrs()[0];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _local = sock.local_addr().unwrap();
    let mut rng = BufferedOsRng::new();

    // 1. The full exchange, with a ticket.
    let mut config = FullConfig::new(client_id, SecretBuf::from_slice(PSK).unwrap());
    config.id_r = Some(fqdn("gw.example.net"));
    let config = Arc::new(config);
    let event = Some(full_exchange(&sock, addr, &config));
    let (sa1, ticket) = match event {
        Some(FullEvent::Established {
            sa,
            ticket: Some(ticket),
            child_error: None,
            ..
        }) => (sa, ticket),
        other => panic!("the full exchange failed: {other:?}"),
    };
    assert_eq!(sa1.spi_r[0], CONTROL_SPI_TAG, "the slow path's SPI");

    // 2. Resumption with that ticket: a worker answers.
    let revent = Some(resume(&sock, addr, ticket));
    let sa2 = match revent {
        Some(InitiatorEvent::Established { sa, .. }) => sa,
        other => panic!("the resumption failed: {other:?}"),
    };
    assert_ne!(sa2.spi_r[0], CONTROL_SPI_TAG, "a worker's SPI");
    assert_eq!(sa2.replaces(), Some((sa1.spi_i, sa1.spi_r)));

    // 3. DELETE of the resumed SA: the control plane adopted it. The
    //    hand-off of the resumed SA comes first, so the adoption happened.
    let want = [
        ("initial", sa1.spi_i, sa1.spi_r),
        ("resumed", sa2.spi_i, sa2.spi_r),
    ];
    for (origin, spi_i, spi_r) in want {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a hand-off line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["origin"], origin, "{line}");
        assert_eq!(v["ike"]["spi_i"], hex::encode(spi_i), "{line}");
        assert_eq!(v["ike"]["spi_r"], hex::encode(spi_r), "{line}");
    }
    let mut session = ClientSession::resumed(config, &sa2).expect("session");
    let req = session.delete(&mut rng).unwrap();
    let r = exchange(&sock, addr, &mut session, &req);
    assert!(matches!(r, SessionResponse::Deleted), "{r:?}");
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the delete's hand-off line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["deleted"]["spi_i"], hex::encode(sa2.spi_i), "{line}");
    assert_eq!(v["deleted"]["spi_r"], hex::encode(sa2.spi_r), "{line}");

    let stats = gw.shutdown();
    let c = stats.control;
    assert_eq!(c.slow_path_counters.get(SlowPathCounter::Established), 1);
    assert_eq!(c.slow_path_counters.get(SlowPathCounter::Deleted), 1);
    assert_eq!(c.received, 1, "one SA from the workers");
    assert_eq!(c.silent_deletes, 1, "the full SA, replaced");
    assert_eq!(c.deleted, 1);
    assert_eq!(c.sa_table, 0);
    assert_eq!(c.duplicates, 0);
    assert_eq!(c.handed_off, 2);
}
