//! The storm against an embedded gateway on loopback (issue 6, Tests):
//! 20,000 clients resume at once through 2 workers; every SA reaches the
//! control plane exactly once; injected drops and duplicates, and garbage,
//! do not stop a legitimate resume; replayed tickets are all refused. With
//! `--full`, phase 1 gets every ticket by a full exchange through the
//! gateway's slow path, under faults too.
//!
//! The storms run one at a time (each starts its own gateway with busy
//! polling workers).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rebound_storm::{self, Arrival, FaultConfig, StormConfig, StormReport, TicketSource};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const CLIENTS: usize = 20_000;

fn config(clients: usize) -> StormConfig {
    let mut cfg = StormConfig {
        clients,
        arrival: Arrival::Burst,
        progress: false,
        seed: Some(0x5eed),
        phase_timeout: Duration::from_secs(90),
        ..StormConfig::default()
    };
    cfg.gateway.workers = 2;
    // A debug build resumes about 15 times slower than a release build, so
    // a 20,000-client burst queues for seconds: give each request ten
    // transmissions (about 55 s) instead of six (23.5 s) before it counts
    // as a timeout.
    cfg.initiator.retransmit.max_sends = 10;
    cfg
}

fn storm(cfg: &StormConfig) -> StormReport {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let report = rebound_storm::run(cfg).expect("storm runs");
    eprintln!("{}", report.summary());
    eprintln!("(took {:.1} s)", t0.elapsed().as_secs_f64());
    report
}

/// Every client resumed (minted tickets), every SA reached the control
/// plane once, and both workers took part.
fn assert_all_resumed(r: &StormReport, n: usize) {
    assert_all_resumed_counts(r, n);
    let c = r.control.expect("embedded control plane").counts;
    // Every ticket was minted for an SA this gateway never saw.
    assert_eq!(c.replaced_unknown, n as u64);
    assert_eq!(c.silent_deletes, 0);
}

/// Every client resumed, every resumed SA reached the control plane once,
/// and both workers took part.
fn assert_all_resumed_counts(r: &StormReport, n: usize) {
    assert_eq!(r.failures, Default::default(), "{}", r.summary());
    assert_eq!(r.established, n as u64, "{}", r.summary());
    assert_eq!(r.timeouts, 0);
    let c = r.control.expect("embedded control plane").counts;
    assert_eq!(c.received, n as u64, "{}", r.summary());
    assert_eq!(c.duplicates, 0);
    assert_eq!(c.abandoned, 0);
    assert_eq!(r.per_worker.len(), 2, "{:?}", r.per_worker);
    assert!(
        r.per_worker.iter().all(|w| w.established > 0),
        "{:?}",
        r.per_worker
    );
    let total: u64 = r.per_worker.iter().map(|w| w.established).sum();
    assert_eq!(total, n as u64);
    assert_eq!(r.latency.samples, n as u64);
    assert!(r.latency.p50_us <= r.latency.p99_us && r.latency.p99_us <= r.latency.max_us);
}

#[test]
fn every_client_resumes_once_and_no_ticket_works_twice() {
    let mut cfg = config(CLIENTS);
    cfg.replay = true;
    let r = storm(&cfg);
    assert_all_resumed(&r, CLIENTS);
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
    // Phase 4: the same tickets again, all refused (RFC 5723 §4.3.1).
    let replay = r.replay.as_ref().expect("replay phase");
    assert_eq!(replay.presented, CLIENTS as u64);
    assert_eq!(replay.accepted, 0, "{}", r.summary());
    assert_eq!(replay.refused, CLIENTS as u64, "{}", r.summary());
    // Every replayed ticket is refused as reused; a replay request the
    // client retransmits (its NACK was late on a loaded machine) is refused
    // again, the gateway keeping no state for a refusal.
    let nacks = r.nacks.as_ref().expect("embedded NACK counts");
    let reused = nacks.get("reused").copied().unwrap_or(0);
    assert!(reused >= CLIENTS as u64, "{nacks:?}");
    assert!(
        reused <= CLIENTS as u64 + r.wire.retransmissions,
        "{nacks:?}, {} retransmissions",
        r.wire.retransmissions
    );
    // No SA more than the phase-3 ones reached the control plane.
    assert_eq!(r.control.unwrap().counts.received, CLIENTS as u64);
}

/// Clients that got their tickets by full exchanges (`--full`).
const FULL_CLIENTS: usize = 2_000;

fn full_config() -> StormConfig {
    let mut cfg = config(FULL_CLIENTS);
    cfg.tickets = TicketSource::Full;
    cfg.replay = true;
    cfg
}

/// Every client got its ticket by a full exchange through the slow path,
/// then resumed: the slow path counted each full exchange once, the
/// control plane received each resumed SA once, and each resumed SA
/// replaced its client's full-exchange SA (deleted silently).
fn assert_full_then_resumed(r: &StormReport, n: usize) {
    let f = r.full.as_ref().expect("phase 1 by full exchanges");
    assert_eq!(r.ticket_source, "full");
    assert_eq!(f.established, n as u64, "{}", r.summary());
    assert_eq!(f.tickets, n as u64, "{}", r.summary());
    assert!(f.failures.is_empty(), "{:?}", f.failures);
    assert_eq!(f.gateway_established(), Some(n as u64), "{:?}", f.slow_path);
    let slow = f.slow_path.as_ref().unwrap();
    assert_eq!(slow.get("tickets_issued").copied(), Some(n as u64));
    assert!(f.full_exchanges_per_sec > 0.0 && f.resume_speedup.is_some());
    assert_eq!(f.latency.samples, n as u64);
    let phase1 = &r.phases[0];
    assert_eq!(phase1.detail, format!("{n} full exchanges, {n} tickets"));
    assert!(phase1.per_sec.is_some() && phase1.latency.is_some());
    assert_all_resumed_counts(r, n);
    let c = r.control.unwrap().counts;
    assert_eq!(c.silent_deletes, n as u64, "{}", r.summary());
    assert_eq!(c.replaced_unknown, 0);
    // The full exchanges' SAs, replaced one for one by the resumed ones.
    assert_eq!(c.sa_table, n as u64);
    assert!(r.summary().contains("full exchanges/s"), "{}", r.summary());
}

#[test]
fn full_exchanges_issue_every_ticket_then_every_client_resumes() {
    let cfg = full_config();
    let r = storm(&cfg);
    assert_full_then_resumed(&r, FULL_CLIENTS);
    let replay = r.replay.as_ref().expect("replay phase");
    assert_eq!(replay.presented, FULL_CLIENTS as u64);
    assert_eq!(replay.accepted, 0, "{}", r.summary());
    assert_eq!(replay.refused, FULL_CLIENTS as u64, "{}", r.summary());
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
}

#[test]
fn full_exchanges_survive_drops_and_duplicates() {
    let mut cfg = full_config();
    cfg.replay = false;
    cfg.fault = FaultConfig {
        drop: 0.01,
        dup: 0.01,
    };
    let r = storm(&cfg);
    assert_full_then_resumed(&r, FULL_CLIENTS);
    let f = r.full.as_ref().unwrap();
    assert!(f.wire.retransmissions > 0, "{}", r.summary());
    assert!(f.faults.dropped_out > 0 && f.faults.dropped_in > 0);
    assert!(f.faults.duplicated > 0);
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
}

#[test]
fn drops_and_duplicates_are_recovered_by_retransmission() {
    let mut cfg = config(CLIENTS);
    cfg.fault = FaultConfig {
        drop: 0.01,
        dup: 0.01,
    };
    let r = storm(&cfg);
    assert_all_resumed(&r, CLIENTS);
    assert!(r.wire.retransmissions > 0, "{}", r.summary());
    assert!(r.faults.counts.dropped_out > 0 && r.faults.counts.dropped_in > 0);
    assert!(r.faults.counts.duplicated > 0);
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
}

#[test]
fn garbage_does_not_stop_legitimate_resumes() {
    let mut cfg = config(CLIENTS);
    cfg.garbage = 0.05;
    let r = storm(&cfg);
    assert_all_resumed(&r, CLIENTS);
    let g = r.garbage;
    assert!(g.sent > 0, "{}", r.summary());
    assert!(g.random_bytes > 0 && g.truncated > 0 && g.forged_ticket > 0);
    assert!(g.flipped_ticket > 0 && g.auth_random_spi > 0);
    // The gateway refused the forged tickets and dropped the rest.
    let nacks: u64 = r.nacks.as_ref().expect("embedded").values().sum();
    assert!(nacks > 0, "{}", r.summary());
    let dropped: u64 = [
        "auth_unknown_spi",
        "resume_bad_header",
        "not_resumption",
        "resume_malformed",
    ]
    .iter()
    .filter_map(|k| r.gateway_counters.get(*k))
    .sum();
    assert!(
        dropped > 0 || !r.gateway_malformed.is_empty(),
        "{:?}",
        r.gateway_counters
    );
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
}

#[test]
fn small_storm_writes_pcap_keylog_and_json() {
    let dir = std::env::temp_dir().join(format!("rebound-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = config(200);
    cfg.arrival = Arrival::Ramp { secs: 0.2 };
    cfg.pcap = Some(dir.join("storm.pcap"));
    cfg.keylog = Some(dir.join("keys.jsonl"));
    cfg.json = Some(dir.join("report.json"));
    let r = storm(&cfg);
    assert_all_resumed(&r, 200);
    // Two requests and two responses per client, and any retransmission.
    let packets = r.wire.datagrams_sent + r.wire.datagrams_received;
    assert!(packets >= 800);
    assert_eq!(r.pcap_packets, Some(packets), "{}", r.summary());
    let bytes = std::fs::read(dir.join("storm.pcap")).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert_eq!(p.data[0] >> 4, 4);
        assert_eq!(
            u16::from_be_bytes([p.data[2], p.data[3]]) as usize,
            p.data.len()
        );
        n += 1;
    }
    assert_eq!(n, packets);
    let keys = std::fs::read_to_string(dir.join("keys.jsonl")).unwrap();
    assert_eq!(keys.lines().count(), 200);
    assert_eq!(r.keylog_entries, Some(200));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["established"], 200);
    assert_eq!(json["control"]["received"], 200);
    assert_eq!(json["control"]["replaced_unknown"], 200);
    let worker = &json["gateway_workers"][0];
    assert!(worker["rx_datagrams"].as_u64().is_some(), "{worker}");
    assert!(
        worker["backend"]["tx_errors"].as_u64().is_some(),
        "{worker}"
    );
    assert!(json["latency"]["p99_us"].as_u64().is_some());
    std::fs::remove_dir_all(&dir).ok();
}

/// A separate "gateway": one engine responder behind one UDP socket on a
/// thread of its own, with worker id 7, until `stop` is set. Returns the
/// SAs it established.
fn stand_in_gateway(
    ring: rebound_engine::ticket::keyring::TicketKeyRing,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (std::net::SocketAddr, std::thread::JoinHandle<u64>) {
    use rebound_dataplane::backend::udp::{UdpBackend, UdpOptions};
    use rebound_dataplane::backend::{Backend, RxBatch, TxBatch};
    use rebound_engine::responder::{
        PacketMeta, ResponderConfig, ResponderShared, ResumeResponder,
    };
    use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard};
    use rebound_engine::ticket::keyring::KeyRingCell;
    use rebound_engine::time::Timestamp;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let now = || {
        Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        )
    };
    let mut sock = UdpBackend::bind(
        "127.0.0.1:0".parse().unwrap(),
        UdpOptions {
            reuse_port: false,
            recv_buffer: Some(4 << 20),
            send_buffer: Some(4 << 20),
            ..UdpOptions::default()
        },
    )
    .unwrap();
    let addr = sock.local_addr();
    let guard = GuardConfig {
        claims_per_generation: 100_000,
        ..GuardConfig::default()
    };
    let shared = ResponderShared {
        keys: Arc::new(KeyRingCell::new(ring)),
        guard: Arc::new(MemoryGuard::new(guard, [9; 16]).unwrap()),
        revocations: None,
        store: None,
        pool: None,
    };
    let config = ResponderConfig {
        worker_id: 7,
        ..ResponderConfig::default()
    };
    let mut state = 1u64;
    let rng = move |b: &mut [u8]| {
        for x in b {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *x = (state >> 33) as u8;
        }
    };
    let mut responder = ResumeResponder::new(config, shared, Box::new(rng), now());
    let h = std::thread::spawn(move || {
        let mut rx = RxBatch::new(64);
        let mut tx = TxBatch::new(64);
        let mut out = vec![0u8; 4096];
        let mut established = 0;
        while !stop.load(Ordering::Relaxed) {
            let n = sock.rx_burst(&mut rx).unwrap();
            if n == 0 {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            let t = now();
            for i in 0..n {
                let meta = PacketMeta {
                    peer: rx.meta(i).peer,
                    local: addr,
                };
                let h = responder.handle(t, &meta, rx.datagram(i), &mut out);
                established += u64::from(h.established.is_some());
                if let Some(len) = h.reply {
                    tx.push(meta.peer, None, &out[..len]);
                }
            }
            while !tx.is_empty() {
                let sent = sock.tx_burst(&tx).unwrap();
                tx.consume(sent);
            }
        }
        established
    });
    (addr, h)
}

#[test]
fn storms_a_separate_gateway_with_its_key_file() {
    use rebound_engine::ticket::keyfile::format_key_file;
    use rebound_engine::ticket::keyring::{KeyWindow, TicketKey, TicketKeyRing};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = TicketKey::new(
        [3; 8],
        [0x42; 32],
        KeyWindow {
            issue_from: now - 60,
            issue_until: now + 3600,
            accept_until: now + 7200,
        },
    )
    .unwrap();
    let ring = TicketKeyRing::new(vec![key]).unwrap();
    let dir = std::env::temp_dir().join(format!("rebound-storm-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("ticket.keys");
    std::fs::write(&key_file, format_key_file(&ring).as_bytes()).unwrap();
    // The storm, like the gateway, refuses a key file others may read.
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (addr, gw) = stand_in_gateway(ring, stop.clone());
    let cfg = StormConfig {
        clients: 1000,
        target: Some(addr),
        key_file: Some(key_file),
        threads: 2,
        sockets: 4,
        arrival: Arrival::Poisson { rate: 20_000.0 },
        replay: true,
        progress: false,
        seed: Some(1),
        phase_timeout: Duration::from_secs(60),
        ..StormConfig::default()
    };
    let r = storm(&cfg);
    stop.store(true, Ordering::Relaxed);
    let gateway_established = gw.join().unwrap();
    std::fs::remove_dir_all(&dir).ok();

    assert!(!r.embedded);
    assert_eq!(r.established, 1000, "{}", r.summary());
    assert_eq!(gateway_established, 1000);
    // Per-worker counts come from SPIr's top byte.
    assert_eq!(r.per_worker.len(), 1);
    assert_eq!(r.per_worker[0].worker, 7);
    assert_eq!(r.per_worker[0].established, 1000);
    assert!(r.nacks.is_none() && r.control.is_none());
    let replay = r.replay.as_ref().unwrap();
    assert_eq!((replay.accepted, replay.refused), (0, 1000));
    rebound_storm::verdict(&cfg, &r).expect("a clean storm");
}

#[test]
fn ipv6_with_the_non_esp_marker() {
    let dir = std::env::temp_dir().join(format!("rebound-storm-v6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = config(300);
    cfg.gateway.listen = Vec::new();
    cfg.gateway.listen_natt = vec!["[::1]:0".parse().unwrap()];
    cfg.threads = 2;
    cfg.pcap = Some(dir.join("v6.pcap"));
    let r = storm(&cfg);
    assert_all_resumed(&r, 300);
    let bytes = std::fs::read(dir.join("v6.pcap")).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert_eq!(p.data[0] >> 4, 6);
        let udp_len = u16::from_be_bytes([p.data[4], p.data[5]]) as usize;
        assert_eq!(40 + udp_len, p.data.len());
        // The non-ESP marker, then the IKE header (version 2.0).
        assert_eq!(&p.data[48..52], &[0, 0, 0, 0]);
        assert_eq!(p.data[52 + 17], 0x20);
        n += 1;
    }
    assert_eq!(n, r.wire.datagrams_sent + r.wire.datagrams_received);
    std::fs::remove_dir_all(&dir).ok();
}
