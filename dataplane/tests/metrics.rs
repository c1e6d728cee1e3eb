//! The Prometheus endpoint: the exposition text, parsed back line by line,
//! and the HTTP server over a raw TCP stream.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rebound_dataplane::backend::BackendStats;
use rebound_dataplane::cluster::WorkerClusterCounters;
use rebound_dataplane::metrics::{
    CONTENT_TYPE, HEADER_READ_TIMEOUT, MAX_REQUEST_HEAD, MetricsServer, render,
};
use rebound_dataplane::stats::{
    ClusterThreadStats, ControlSnapshot, GatewayStats, GuardSaveStats, TicketStorageStats,
    WorkerIo, WorkerSnapshot,
};
use rebound_engine::responder::{Counter, ResponderCounters};
use rebound_engine::slow_path::{SlowPathCounter, SlowPathCounters};
use rebound_engine::ticket::store::StoreStats;

/// One sample: labels sorted by name.
type Labels = BTreeMap<String, String>;

#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<(Labels, u64)>,
}

/// Parse exposition text strictly: every line is `# HELP`, `# TYPE` or a
/// sample `name{labels} value`; each metric has exactly one HELP and one
/// TYPE, both before its samples, and its samples are contiguous.
fn parse(text: &str) -> BTreeMap<String, Family> {
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut switch_to = |name: &str, current: &mut Option<String>| {
        if current.as_deref() != Some(name) {
            if let Some(prev) = current.take() {
                finished.push(prev);
            }
            assert!(
                !finished.iter().any(|f| f == name),
                "lines of {name} are not grouped together"
            );
            *current = Some(name.to_string());
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            switch_to(name, &mut current);
            let f = families.entry(name.into()).or_default();
            assert!(f.help.is_none(), "second HELP for {name}");
            assert!(f.samples.is_empty(), "HELP after samples of {name}");
            assert!(!help.is_empty());
            f.help = Some(help.into());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            switch_to(name, &mut current);
            let f = families.entry(name.into()).or_default();
            assert!(f.kind.is_none(), "second TYPE for {name}");
            assert!(f.samples.is_empty(), "TYPE after samples of {name}");
            assert!(kind == "counter" || kind == "gauge", "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} lacks _total");
            }
            f.kind = Some(kind.into());
        } else {
            assert!(!line.starts_with('#'), "stray comment {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let value: u64 = value
                .parse()
                .unwrap_or_else(|_| panic!("value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, parse_labels(l.strip_suffix('}').expect("closing brace"))),
                None => (series, Labels::new()),
            };
            assert!(
                name.starts_with("rebound_")
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "metric name {name:?}"
            );
            switch_to(name, &mut current);
            let f = families.get_mut(name).expect("sample before HELP/TYPE");
            assert!(
                f.help.is_some() && f.kind.is_some(),
                "{name}: HELP and TYPE first"
            );
            assert!(
                !f.samples.iter().any(|(l, _)| *l == labels),
                "{name}{labels:?} twice"
            );
            f.samples.push((labels, value));
        }
    }
    families
}

fn parse_labels(s: &str) -> Labels {
    let mut out = Labels::new();
    for pair in s.split(',') {
        let (k, v) = pair.split_once('=').expect("label k=v");
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .expect("quoted label value");
        assert!(!v.contains('"') && !v.contains('\\'));
        assert!(out.insert(k.to_string(), v.to_string()).is_none());
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value(f: &BTreeMap<String, Family>, name: &str, l: &[(&str, &str)]) -> u64 {
    let fam = f.get(name).unwrap_or_else(|| panic!("no metric {name}"));
    let want = labels(l);
    fam.samples
        .iter()
        .find(|(have, _)| *have == want)
        .unwrap_or_else(|| panic!("no sample {name}{want:?}"))
        .1
}

/// A worker whose every counter has a distinct, recognisable value.
fn worker(id: u8) -> WorkerSnapshot {
    let base = 1000 * (u64::from(id) + 1);
    let mut responder = ResponderCounters::default();
    for (i, &c) in Counter::ALL.iter().enumerate() {
        for _ in 0..(i as u64 + 1 + u64::from(id)) {
            responder.bump(c);
        }
    }
    for _ in 0..(3 + u64::from(id)) {
        responder.bump_malformed("truncated");
    }
    responder.bump_malformed("bad_payload_length");
    WorkerSnapshot {
        id,
        responder,
        half_open: base + 99,
        half_open_bytes: base + 98,
        cpu_user_ms: base + 30,
        cpu_system_ms: base + 31,
        backend: BackendStats {
            rx_datagrams: 1,
            tx_datagrams: 2,
            rx_truncated: base + 20,
            rx_keepalives: base + 21,
            rx_esp: base + 22,
            rx_runts: base + 23,
            tx_errors: base + 24,
            rx_kernel_dropped: base + 25,
        },
        io: WorkerIo {
            rx_datagrams: base + 1,
            tx_datagrams: base + 2,
            tx_dropped: base + 3,
            forwarded_out: base + 4,
            forwarded_in: base + 5,
            forward_dropped: base + 6,
            to_control: base + 7,
            slow_dropped: base + 10,
            handoff_stalls: base + 8,
            handed_off: base + 9,
        },
        cluster: WorkerClusterCounters {
            parked: base + 40,
            park_dropped: base + 41,
            batches: base + 42,
            batch_timeouts: base + 43,
            late_conflicts: base + 45,
            park_expired: base + 46,
        },
        parked_now: base + 44,
    }
}

fn stats() -> GatewayStats {
    GatewayStats {
        workers: vec![worker(0), worker(1)],
        control: ControlSnapshot {
            received: 11,
            duplicates: 12,
            sa_table: 13,
            silent_deletes: 14,
            replaced_unknown: 15,
            handed_off: 16,
            sink_errors: 17,
            slow_path: 18,
            queue_depth: 19,
            expired: 20,
            sink_waits: 21,
            unacked: 22,
            abandoned: 23,
            replies_dropped: 24,
            deleted: 25,
            half_open: 26,
            abandoned_deletes: 27,
            adopt_failed: 28,
            child_created: 29,
            child_rekeyed: 30,
            child_deleted: 31,
            abandoned_child_events: 32,
            slow_held: 33,
            slow_path_counters: {
                let mut c = SlowPathCounters::default();
                c.bump(SlowPathCounter::Established);
                c.bump(SlowPathCounter::Established);
                c.bump(SlowPathCounter::AuthFailed);
                c
            },
        },
        tickets: TicketStorageStats {
            store: Some(StoreStats {
                entries: 21,
                capacity: 22,
                full: 23,
                expired: 24,
            }),
            revoked_entries: 25,
            revocation_list_max: 26,
        },
        cluster: Some(ClusterThreadStats {
            up: 1,
            pipelines: 51,
            claims_mine: 52,
            claims_taken: 53,
            claims_unavailable: 54,
            local_decisions: 55,
            stubs_put: 56,
            stubs_removed: 57,
            stubs_taken: 58,
            writes_failed: 59,
            queue_full: 60,
            errors: 61,
            last_rtt_us: 62,
            reconciled: 70,
            reconcile_conflicts: 71,
            reconcile_dropped: 72,
            key_syncs: 63,
            key_sync_failures: [64, 65, 66, 67],
            key_generation: 1_700_000_000_123,
            key_publishes: 68,
            key_publish_failures: 69,
        }),
        guard_state: Some(GuardSaveStats {
            saves: 41,
            failures: 42,
            last_duration_ms: 43,
            last_success_unix: 44,
            bytes: 45,
            saved_changes: Some(46),
        }),
        ..GatewayStats::default()
    }
}

#[test]
fn cluster_metrics_carry_the_cluster_counters() {
    let s = stats();
    let f = parse(&render(&s));
    for (name, want) in [
        ("rebound_cluster_up", 1),
        ("rebound_cluster_pipelines_total", 51),
        ("rebound_cluster_claims_mine_total", 52),
        ("rebound_cluster_claims_taken_total", 53),
        ("rebound_cluster_claims_unavailable_total", 54),
        ("rebound_cluster_local_decisions_total", 55),
        ("rebound_cluster_stubs_put_total", 56),
        ("rebound_cluster_stubs_taken_total", 58),
        ("rebound_cluster_writes_failed_total", 59),
        ("rebound_cluster_queue_full_total", 60),
        ("rebound_cluster_errors_total", 61),
        ("rebound_cluster_last_rtt_microseconds", 62),
        ("rebound_cluster_reconciled_total", 70),
        ("rebound_cluster_reconcile_conflicts_total", 71),
        ("rebound_cluster_reconcile_dropped_total", 72),
        ("rebound_cluster_key_syncs_total", 63),
        ("rebound_cluster_key_generation", 1_700_000_000_123),
        ("rebound_cluster_key_publishes_total", 68),
        ("rebound_cluster_key_publish_failures_total", 69),
    ] {
        assert_eq!(value(&f, name, &[]), want, "{name}");
    }
    for (reason, want) in [
        ("unreachable", 64),
        ("decrypt", 65),
        ("parse", 66),
        ("refused_by_rule", 67),
    ] {
        assert_eq!(
            value(
                &f,
                "rebound_cluster_key_sync_failures_total",
                &[("reason", reason)]
            ),
            want,
            "{reason}"
        );
    }
    for w in &s.workers {
        let id = w.id.to_string();
        let l: &[(&str, &str)] = &[("worker", &id)];
        assert_eq!(value(&f, "rebound_cluster_parked", l), w.parked_now);
        assert_eq!(
            value(&f, "rebound_cluster_parked_total", l),
            w.cluster.parked
        );
        assert_eq!(
            value(&f, "rebound_cluster_park_dropped_total", l),
            w.cluster.park_dropped
        );
        assert_eq!(
            value(&f, "rebound_cluster_batches_total", l),
            w.cluster.batches
        );
        assert_eq!(
            value(&f, "rebound_cluster_batch_timeouts_total", l),
            w.cluster.batch_timeouts
        );
        assert_eq!(
            value(&f, "rebound_cluster_late_conflicts_total", l),
            w.cluster.late_conflicts
        );
        assert_eq!(
            value(&f, "rebound_cluster_park_expired_total", l),
            w.cluster.park_expired
        );
    }
    // A gateway alone has no cluster metrics.
    let alone = GatewayStats {
        cluster: None,
        ..stats()
    };
    assert!(!render(&alone).contains("rebound_cluster_"));
}

#[test]
fn render_is_valid_exposition_text_with_the_right_values() {
    let s = stats();
    let f = parse(&render(&s));

    for w in &s.workers {
        let id = w.id.to_string();
        let l: &[(&str, &str)] = &[("worker", &id)];
        let io = w.io;
        for (name, want) in [
            ("rebound_rx_datagrams_total", io.rx_datagrams),
            ("rebound_tx_datagrams_total", io.tx_datagrams),
            ("rebound_tx_dropped_total", io.tx_dropped),
            ("rebound_forwarded_out_total", io.forwarded_out),
            ("rebound_forwarded_in_total", io.forwarded_in),
            ("rebound_forward_dropped_total", io.forward_dropped),
            ("rebound_to_control_total", io.to_control),
            ("rebound_slow_dropped_total", io.slow_dropped),
            ("rebound_handoff_stalls_total", io.handoff_stalls),
            ("rebound_handed_off_total", io.handed_off),
            ("rebound_half_open", w.half_open),
            ("rebound_half_open_bytes", w.half_open_bytes),
            ("rebound_worker_cpu_user_milliseconds_total", w.cpu_user_ms),
            (
                "rebound_worker_cpu_system_milliseconds_total",
                w.cpu_system_ms,
            ),
            ("rebound_backend_rx_truncated_total", w.backend.rx_truncated),
            (
                "rebound_backend_rx_kernel_dropped_total",
                w.backend.rx_kernel_dropped,
            ),
            (
                "rebound_backend_rx_keepalives_total",
                w.backend.rx_keepalives,
            ),
            ("rebound_backend_rx_esp_total", w.backend.rx_esp),
            ("rebound_backend_rx_runts_total", w.backend.rx_runts),
            ("rebound_backend_tx_errors_total", w.backend.tx_errors),
        ] {
            assert_eq!(value(&f, name, l), want, "{name} worker {id}");
        }
        // Every responder counter: NACKs under one metric by reason, the
        // rest one metric each.
        for (c, n) in w.responder.iter() {
            match c.label().strip_prefix("nack_") {
                Some(reason) => assert_eq!(
                    value(
                        &f,
                        "rebound_ticket_nacks_total",
                        &[("worker", &id), ("reason", reason)]
                    ),
                    n
                ),
                None => assert_eq!(value(&f, &format!("rebound_{}_total", c.label()), l), n),
            }
        }
        for &(reason, n) in w.responder.malformed() {
            assert_eq!(
                value(
                    &f,
                    "rebound_malformed_total",
                    &[("worker", &id), ("reason", reason)]
                ),
                n
            );
        }
    }
    assert_eq!(
        value(
            &f,
            "rebound_ticket_nacks_total",
            &[("worker", "1"), ("reason", "reused")]
        ),
        s.workers[1].responder.get(Counter::NackReused)
    );
    assert_eq!(
        value(
            &f,
            "rebound_malformed_total",
            &[("worker", "1"), ("reason", "truncated")]
        ),
        4
    );
    let nack_reasons = Counter::ALL
        .iter()
        .filter(|c| c.label().starts_with("nack_"))
        .count();
    assert_eq!(
        f["rebound_ticket_nacks_total"].samples.len(),
        2 * nack_reasons
    );

    let c = s.control;
    for (name, want) in [
        ("rebound_control_received_total", c.received),
        ("rebound_control_duplicates_total", c.duplicates),
        ("rebound_control_sa_table", c.sa_table),
        ("rebound_control_silent_deletes_total", c.silent_deletes),
        ("rebound_control_replaced_unknown_total", c.replaced_unknown),
        ("rebound_control_expired_total", c.expired),
        ("rebound_control_sink_waits_total", c.sink_waits),
        ("rebound_control_handoff_unacked", c.unacked),
        ("rebound_control_abandoned_total", c.abandoned),
        ("rebound_control_handed_off_total", c.handed_off),
        ("rebound_control_sink_errors_total", c.sink_errors),
        ("rebound_control_slow_path_total", c.slow_path),
        ("rebound_control_handoff_queue_depth", c.queue_depth),
        (
            "rebound_control_slow_replies_dropped_total",
            c.replies_dropped,
        ),
        ("rebound_control_deleted_total", c.deleted),
        ("rebound_control_full_half_open", c.half_open),
        ("rebound_control_adopt_failed_total", c.adopt_failed),
        (
            "rebound_control_abandoned_deletes_total",
            c.abandoned_deletes,
        ),
        ("rebound_control_child_created_total", c.child_created),
        ("rebound_control_child_rekeyed_total", c.child_rekeyed),
        ("rebound_control_child_deleted_total", c.child_deleted),
        (
            "rebound_control_abandoned_child_events_total",
            c.abandoned_child_events,
        ),
        ("rebound_control_slow_held_total", c.slow_held),
    ] {
        assert_eq!(value(&f, name, &[]), want, "{name}");
    }
    let slow = "rebound_full_exchange_events_total";
    assert_eq!(f[slow].samples.len(), SlowPathCounter::ALL.len());
    assert_eq!(value(&f, slow, &[("event", "established")]), 2);
    assert_eq!(value(&f, slow, &[("event", "auth_failed")]), 1);
    assert_eq!(value(&f, slow, &[("event", "init_requests")]), 0);

    // The by-reference store and the revocation list.
    for (name, want) in [
        ("rebound_ticket_store_entries", 21),
        ("rebound_ticket_store_capacity", 22),
        ("rebound_ticket_store_full_total", 23),
        ("rebound_ticket_store_expired_total", 24),
        ("rebound_revocation_list_entries", 25),
        ("rebound_revocation_list_capacity", 26),
        ("rebound_guard_saves_total", 41),
        ("rebound_guard_save_failures_total", 42),
        ("rebound_guard_save_duration_milliseconds", 43),
        ("rebound_guard_last_save_timestamp_seconds", 44),
    ] {
        assert_eq!(value(&f, name, &[]), want, "{name}");
    }

    // Gauges are the levels; everything else counts.
    for (name, fam) in &f {
        let gauge = matches!(
            name.as_str(),
            "rebound_half_open"
                | "rebound_half_open_bytes"
                | "rebound_control_sa_table"
                | "rebound_control_handoff_queue_depth"
                | "rebound_control_handoff_unacked"
                | "rebound_control_full_half_open"
                | "rebound_ticket_store_entries"
                | "rebound_ticket_store_capacity"
                | "rebound_revocation_list_entries"
                | "rebound_revocation_list_capacity"
                | "rebound_guard_save_duration_milliseconds"
                | "rebound_guard_last_save_timestamp_seconds"
                | "rebound_cluster_up"
                | "rebound_cluster_last_rtt_microseconds"
                | "rebound_cluster_parked"
                | "rebound_build_info"
                | "rebound_cluster_key_generation"
        );
        assert_eq!(
            fam.kind.as_deref(),
            Some(if gauge { "gauge" } else { "counter" }),
            "{name}"
        );
        // Every responder counter has a written HELP text.
        assert!(
            !fam.help.as_deref().unwrap().contains("undocumented"),
            "{name} has no HELP text"
        );
    }
    let version = &f["rebound_build_info"].samples[0].0["version"];
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn render_without_workers_still_declares_every_metric() {
    let f = parse(&render(&GatewayStats::default()));
    assert!(f["rebound_rx_datagrams_total"].samples.is_empty());
    assert!(f["rebound_ticket_nacks_total"].samples.is_empty());
    assert_eq!(value(&f, "rebound_control_sa_table", &[]), 0);
    // The guard's saves appear only with a state file.
    assert!(!f.contains_key("rebound_guard_saves_total"));
}

/// Send `request`, read the whole answer: (status, headers, body).
fn http(addr: SocketAddr, request: &[u8]) -> (u16, HashMap<String, String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    // HTTP/1.1, or 1.0 to a 1.0 request.
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r[..3].parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    (status, headers, body.to_string())
}

fn counting_server() -> (MetricsServer, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let source = Arc::new(move || {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let mut s = stats();
        s.control.sa_table = n;
        render(&s)
    });
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), source).unwrap();
    (server, calls)
}

#[test]
fn server_answers_get_metrics_and_refuses_the_rest() {
    let (server, calls) = counting_server();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let (status, headers, body) = http(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
    assert_eq!(headers["content-length"], body.len().to_string());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut want = stats();
    want.control.sa_table = 1;
    assert_eq!(body, render(&want));

    // A query string is ignored; HEAD gets the headers only.
    let (status, _, body) = http(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    assert!(body.contains("rebound_control_sa_table 2\n"));
    let (status, headers, body) = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_ne!(headers["content-length"], "0");

    let (status, _, _) = http(addr, b"GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(status, 404);
    let (status, _, _) = http(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, 404);
    let (status, headers, _) = http(
        addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, HEAD");
    let (status, _, _) = http(addr, b"garbage\r\n\r\n");
    assert_eq!(status, 400);

    // A head over 8 KiB is refused without waiting for its end.
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    big.resize(MAX_REQUEST_HEAD + 2048, b'a');
    let (status, _, _) = http(addr, &big);
    assert_eq!(status, 431);
    // The source ran only for the successful GETs and the HEAD.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_slow_client_does_not_stall_the_server() {
    let (server, _) = counting_server();
    let addr = server.local_addr();
    // Connect and send half a request line, then nothing; another client
    // connects and sends nothing at all.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /met").unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    // The next client is served while they hang (connections are served
    // concurrently: the client's read timeout is the bound).
    let (status, _, _) = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200);
    // Both are closed once the header read timeout passes, with no answer.
    for s in [&mut slow, &mut silent] {
        s.set_read_timeout(Some(HEADER_READ_TIMEOUT * 4)).unwrap();
        let mut answer = Vec::new();
        match s.read_to_end(&mut answer) {
            Ok(_) => assert!(answer.is_empty(), "{answer:?}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

#[test]
fn server_stops_on_drop() {
    let (server, _) = counting_server();
    let addr = server.local_addr();
    assert_eq!(http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0, 200);
    drop(server);
    // The listener is closed with its thread: connecting fails.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

#[test]
fn a_panicking_source_gets_500_and_the_server_survives() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let source = Arc::new(move || {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("source failed");
        }
        "rebound_up 1\n".to_string()
    });
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), source).unwrap();
    let addr = server.local_addr();
    assert_eq!(http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0, 500);
    let (status, _, body) = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, "rebound_up 1\n"));
}
