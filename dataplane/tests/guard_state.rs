//! The single-use guard across a restart (`guard.state_file`): a gateway
//! saves its guard when it drains and at an interval, and the next gateway
//! with the same key ring and state file refuses every ticket the first one
//! had already taken; tickets never used still resume. A state file that
//! cannot be loaded stops the gateway with an error naming the file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TempDir;
use common::client::{client_socket, fqdn, full_exchange, resume};
use rebound_dataplane::config::{GatewaySettings, GuardStateSettings, Psk};
use rebound_dataplane::gateway::{Gateway, ephemeral_ring};
use rebound_dataplane::parts::GatewayParts;
use rebound_engine::client::{ClientTicket, Fallback, FullConfig, FullEvent, InitiatorEvent};
use rebound_engine::crypto::SecretBuf;
use rebound_engine::responder::Counter;
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard, SingleUseGuard};
use rebound_engine::ticket::keyring::TicketKeyRing;

const PSK: &[u8] = b"a pre-shared key of forty bytes, or so!!";

/// A guard small enough for a test (a few hundred KiB), valid for the
/// default ticket lifetime.
fn small_guard() -> GuardConfig {
    GuardConfig {
        claims_per_generation: 10_000,
        shards: 4,
        ..GuardConfig::default()
    }
}

fn settings(state: &Path, interval: u64, clients: &[&str]) -> GatewaySettings {
    let mut s = GatewaySettings {
        guard: small_guard(),
        guard_state: GuardStateSettings {
            state_file: Some(state.to_path_buf()),
            save_interval_secs: interval,
        },
        psks: clients
            .iter()
            .map(|c| Psk {
                id: fqdn(c),
                secret: SecretBuf::from_slice(PSK).unwrap(),
                tickets: true,
            })
            .collect(),
        drain_timeout_ms: 200,
        ..GatewaySettings::default()
    };
    s.ike.local_id = fqdn("gw.example.net");
    s
}

/// A ticket from a full exchange of `client`.
fn ticket(gw: &Gateway, client: &str) -> ClientTicket {
    let mut config = FullConfig::new(fqdn(client), SecretBuf::from_slice(PSK).unwrap());
    config.id_r = Some(fqdn("gw.example.net"));
    match full_exchange(&client_socket(), gw.local_addrs()[0], &Arc::new(config)) {
        FullEvent::Established {
            ticket: Some(t), ..
        } => t,
        other => panic!("the full exchange failed: {other:?}"),
    }
}

/// Resume with `t`: the next ticket when it resumed, `None` when the
/// gateway refused the ticket (TICKET_NACK).
fn resumed(gw: &Gateway, t: &ClientTicket) -> Option<ClientTicket> {
    match resume(&client_socket(), gw.local_addrs()[0], t.clone()) {
        InitiatorEvent::Established {
            new_ticket: Some(next),
            ..
        } => Some(next),
        InitiatorEvent::Failed(Fallback::TicketRefused) => None,
        other => panic!("neither resumed nor refused: {other:?}"),
    }
}

fn reused(gw: &Gateway) -> u64 {
    gw.stats()
        .workers
        .iter()
        .map(|w| w.responder.get(Counter::NackReused))
        .sum()
}

/// The workers publish their counters every 50 ms.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tickets_used_before_a_restart_stay_refused_after_it() {
    let dir = TempDir::new("guard-restart");
    let state = dir.file("guard.state");
    let ring: TicketKeyRing = ephemeral_ring().expect("ring");
    let clients = ["a.example.net", "b.example.net", "c.example.net"];
    // An interval far longer than the test: only the drain saves.
    let s = settings(&state, 3600, &clients);

    let gw = Gateway::start(s.clone(), Some(ring.clone())).expect("gateway");
    assert!(
        !state.exists(),
        "nothing saved before an interval or a drain"
    );
    let used: Vec<ClientTicket> = clients[..2].iter().map(|c| ticket(&gw, c)).collect();
    let unused = ticket(&gw, clients[2]);
    let next: Vec<ClientTicket> = used
        .iter()
        .map(|t| resumed(&gw, t).expect("a first use resumes"))
        .collect();
    // Refused in the same process, of course.
    assert!(resumed(&gw, &used[0]).is_none());
    let stats = gw.shutdown();
    let saves = stats.guard_state.expect("persistence stats");
    assert_eq!((saves.saves, saves.failures), (1, 0), "{saves:?}");
    let meta = std::fs::metadata(&state).expect("saved at drain");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(saves.bytes, meta.len());
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![PathBuf::from("guard.state").into_os_string()]);

    // A new process: the same key ring and state file.
    let gw = Gateway::start(s, Some(ring)).expect("restarted gateway");
    for t in &used {
        assert!(
            resumed(&gw, t).is_none(),
            "a ticket used before the restart resumed again"
        );
    }
    wait_for("the reused NACKs", || reused(&gw) == 2);
    // Tickets never used resume: the one kept aside, and the ones the
    // first resumptions issued.
    assert!(resumed(&gw, &unused).is_some());
    for t in &next {
        assert!(resumed(&gw, t).is_some());
    }
    assert_eq!(reused(&gw), 2);
    let stats = gw.shutdown();
    // Three claims since the load: saved again at drain.
    assert_eq!(stats.guard_state.expect("stats").saves, 1);
}

fn id(n: u64) -> TicketId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    TicketId(b)
}

#[test]
fn the_guard_is_saved_at_the_interval_and_only_when_it_changed() {
    let dir = TempDir::new("guard-interval");
    let state = dir.file("guard.state");
    let s = settings(&state, 1, &[]);
    let parts = GatewayParts::from_settings(&s).expect("parts");
    let guard = parts.guard.clone();
    let gw = Gateway::start_with(s.clone(), parts).expect("gateway");
    let now = rebound_dataplane::runtime::now().secs();
    let expiry = now + 3600;
    for n in 0..100 {
        guard.claim(&id(n), expiry, now).expect("a fresh id");
    }
    let saved = || gw.stats().guard_state.expect("stats");
    wait_for("a save holding the 100 claims", || {
        saved().saved_changes == Some(100)
    });
    let first = saved();
    assert!(first.saves >= 1 && first.failures == 0, "{first:?}");
    assert!(first.last_success_unix >= now);
    // What a crash now would leave: the file holds every claim.
    let file = std::fs::File::open(&state).expect("the state file");
    let loaded = MemoryGuard::load(small_guard(), &mut std::io::BufReader::new(file))
        .expect("the saved guard loads");
    for n in 0..100 {
        assert!(
            loaded.is_claimed(&id(n), expiry, now),
            "claim {n} not saved"
        );
    }
    assert!(!loaded.is_claimed(&id(1000), expiry, now));
    // Nothing claimed since: the next intervals write nothing, nor does
    // the drain.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(saved().saves, first.saves);
    let end = gw.shutdown().guard_state.expect("stats");
    assert_eq!((end.saves, end.failures), (first.saves, 0));
}

#[test]
fn a_state_file_that_cannot_be_loaded_stops_the_gateway() {
    let dir = TempDir::new("guard-bad");
    let state = dir.file("guard.state");
    let start = |s: &GatewaySettings| match Gateway::start(s.clone(), None) {
        Ok(_) => panic!("started"),
        Err(e) => e.to_string(),
    };
    let s = settings(&state, 10, &[]);
    // A valid file, saved by a gateway that drained.
    let parts = GatewayParts::from_settings(&s).expect("parts");
    let guard = parts.guard.clone();
    let gw = Gateway::start_with(s.clone(), parts).expect("gateway");
    let now = rebound_dataplane::runtime::now().secs();
    guard.claim(&id(1), now + 60, now).expect("claim");
    gw.shutdown();
    let good = std::fs::read(&state).expect("saved");

    // Damaged.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    std::fs::write(&state, &bad).unwrap();
    let e = start(&s);
    assert!(e.contains(&state.display().to_string()), "{e}");
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(e.contains("move"), "{e}");

    // Cut short.
    std::fs::write(&state, &good[..good.len() - 1]).unwrap();
    let e = start(&s);
    assert!(e.contains("truncated"), "{e}");

    // Saved with other [guard] settings.
    std::fs::write(&state, &good).unwrap();
    let mut other = s.clone();
    other.guard.shards = 8;
    let e = start(&other);
    assert!(e.contains("shards = 4") && e.contains("shards = 8"), "{e}");
    assert!(e.contains("[guard] settings changed"), "{e}");

    // Not a state file at all.
    std::fs::write(&state, "hello").unwrap();
    let e = start(&s);
    assert!(e.contains("not a saved single-use guard"), "{e}");

    // A directory where the file should be.
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let e = start(&s);
    assert!(e.contains("not a regular file"), "{e}");

    // A directory that does not exist: no save could succeed.
    let missing = dir.file("no-such-dir/guard.state");
    let e = start(&settings(&missing, 10, &[]));
    assert!(e.contains("does not exist"), "{e}");

    // The good file still loads.
    std::fs::remove_dir(&state).unwrap();
    std::fs::write(&state, &good).unwrap();
    let gw = Gateway::start(s, None).expect("a good file loads");
    drop(gw);
}

/// A save that cannot be written is counted and logged; the gateway runs
/// on, and the previous file stays.
#[test]
fn a_failed_save_is_counted_and_the_gateway_runs_on() {
    let dir = TempDir::new("guard-fail");
    let sub = dir.file("state");
    std::fs::create_dir(&sub).unwrap();
    let state = sub.join("guard.state");
    let s = settings(&state, 1, &["a.example.net"]);
    let parts = GatewayParts::from_settings(&s).expect("parts");
    let guard = parts.guard.clone();
    let gw = Gateway::start_with(s, parts).expect("gateway");
    // The first interval writes the fresh guard.
    wait_for("the first save", || {
        gw.stats().guard_state.expect("stats").saves >= 1
    });
    let before = std::fs::read(&state).unwrap();
    // The directory goes away: saves fail.
    std::fs::remove_dir_all(&sub).unwrap();
    let now = rebound_dataplane::runtime::now().secs();
    guard.claim(&id(7), now + 60, now).expect("claim");
    wait_for("a failed save", || {
        gw.stats().guard_state.expect("stats").failures >= 1
    });
    // Still answering: a full exchange completes.
    let _ = ticket(&gw, "a.example.net");
    // The directory comes back: the next save succeeds.
    std::fs::create_dir(&sub).unwrap();
    let saves = gw.stats().guard_state.expect("stats").saves;
    wait_for("a save after the failure", || {
        gw.stats().guard_state.expect("stats").saves > saves
    });
    assert_ne!(std::fs::read(&state).unwrap(), before);
    drop(gw);
}
