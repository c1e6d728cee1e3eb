//! The Prometheus text exposition format 0.0.4: [`render`] turns a
//! [`GatewayStats`] snapshot into text. Written here rather than with the
//! `prometheus` or `prometheus-client` crates: their registries want their
//! own counter types while the workers keep plain integers in snapshots
//! they publish, and the format is a few lines of `# HELP`, `# TYPE` and
//! samples.
//!
//! Every metric is named `rebound_*`; per-worker metrics carry a
//! `worker="N"` label. The list with what to watch for is in
//! `docs/OPERATIONS.md` ("Metrics").

use std::fmt::Write as _;

use rebound_engine::responder::Counter;

use crate::stats::{ControlSnapshot, GatewayStats, TicketStorageStats, WorkerSnapshot};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A worker's own metrics: name, type, help, value.
type WorkerMetric = (&'static str, Kind, &'static str, fn(&WorkerSnapshot) -> u64);

const WORKER_METRICS: &[WorkerMetric] = &[
    (
        "rebound_rx_datagrams_total",
        Kind::Counter,
        "Datagrams the worker received.",
        |w| w.io.rx_datagrams,
    ),
    (
        "rebound_tx_datagrams_total",
        Kind::Counter,
        "Datagrams the worker sent.",
        |w| w.io.tx_datagrams,
    ),
    (
        "rebound_tx_dropped_total",
        Kind::Counter,
        "Replies dropped because the socket stayed full.",
        |w| w.io.tx_dropped,
    ),
    (
        "rebound_forwarded_out_total",
        Kind::Counter,
        "IKE_AUTH requests sent to the worker that owns their SPIr.",
        |w| w.io.forwarded_out,
    ),
    (
        "rebound_forwarded_in_total",
        Kind::Counter,
        "IKE_AUTH requests received from other workers.",
        |w| w.io.forwarded_in,
    ),
    (
        "rebound_forward_dropped_total",
        Kind::Counter,
        "Forwarded datagrams dropped (owner unknown or its queue full).",
        |w| w.io.forward_dropped,
    ),
    (
        "rebound_to_control_total",
        Kind::Counter,
        "Datagrams passed to the control plane (the slow path).",
        |w| w.io.to_control,
    ),
    (
        "rebound_slow_dropped_total",
        Kind::Counter,
        "Slow-path datagrams dropped because the control plane's queue was full.",
        |w| w.io.slow_dropped,
    ),
    (
        "rebound_handoff_stalls_total",
        Kind::Counter,
        "Times the hand-off queue was full and the worker held established SAs back.",
        |w| w.io.handoff_stalls,
    ),
    (
        "rebound_handed_off_total",
        Kind::Counter,
        "Established SAs the worker passed to the control plane.",
        |w| w.io.handed_off,
    ),
    (
        "rebound_half_open",
        Kind::Gauge,
        "Half-open SAs waiting for their IKE_AUTH.",
        |w| w.half_open,
    ),
    (
        "rebound_half_open_bytes",
        Kind::Gauge,
        "Memory the half-open table holds (half-open SAs and cached IKE_AUTH answers), bounded by responder.half_open_memory_mb.",
        |w| w.half_open_bytes,
    ),
    (
        "rebound_worker_cpu_user_milliseconds_total",
        Kind::Counter,
        "CPU time of the worker thread in user mode: the engine and the poll loop (10 ms resolution).",
        |w| w.cpu_user_ms,
    ),
    (
        "rebound_worker_cpu_system_milliseconds_total",
        Kind::Counter,
        "CPU time of the worker thread in the kernel: the UDP path (10 ms resolution).",
        |w| w.cpu_system_ms,
    ),
    (
        "rebound_backend_rx_kernel_dropped_total",
        Kind::Counter,
        "Datagrams the kernel dropped on the socket, mostly for a full receive queue: the worker did not keep up (SO_RXQ_OVFL).",
        |w| w.backend.rx_kernel_dropped,
    ),
    (
        "rebound_backend_rx_truncated_total",
        Kind::Counter,
        "Datagrams longer than the 8 KiB receive slot, received cut short.",
        |w| w.backend.rx_truncated,
    ),
    (
        "rebound_backend_rx_keepalives_total",
        Kind::Counter,
        "NAT keepalives received on a NAT-T socket (RFC 3948 section 2.3), dropped.",
        |w| w.backend.rx_keepalives,
    ),
    (
        "rebound_backend_rx_esp_total",
        Kind::Counter,
        "ESP packets received on a NAT-T socket, dropped (this gateway terminates no ESP).",
        |w| w.backend.rx_esp,
    ),
    (
        "rebound_backend_rx_runts_total",
        Kind::Counter,
        "NAT-T datagrams shorter than the non-ESP marker or with nothing after it, dropped.",
        |w| w.backend.rx_runts,
    ),
    (
        "rebound_backend_tx_errors_total",
        Kind::Counter,
        "Send errors other than a full socket buffer (the datagram is dropped).",
        |w| w.backend.tx_errors,
    ),
];

/// The control plane's metrics: name, type, help, value.
type ControlMetric = (
    &'static str,
    Kind,
    &'static str,
    fn(&ControlSnapshot) -> u64,
);

const CONTROL_METRICS: &[ControlMetric] = &[
    (
        "rebound_control_received_total",
        Kind::Counter,
        "Established SAs the control plane received from the workers.",
        |c| c.received,
    ),
    (
        "rebound_control_duplicates_total",
        Kind::Counter,
        "SAs received twice (same SPIs); must stay 0.",
        |c| c.duplicates,
    ),
    (
        "rebound_control_sa_table",
        Kind::Gauge,
        "SAs in the control plane's table.",
        |c| c.sa_table,
    ),
    (
        "rebound_control_silent_deletes_total",
        Kind::Counter,
        "Replaced SAs deleted silently (RFC 5723 section 4.3.4).",
        |c| c.silent_deletes,
    ),
    (
        "rebound_control_replaced_unknown_total",
        Kind::Counter,
        "Replaced SAs that were not in the table (established before this gateway started, or elsewhere).",
        |c| c.replaced_unknown,
    ),
    (
        "rebound_control_expired_total",
        Kind::Counter,
        "SAs dropped from the table at their re-authentication deadline.",
        |c| c.expired,
    ),
    (
        "rebound_control_handed_off_total",
        Kind::Counter,
        "SAs written to every hand-off sink.",
        |c| c.handed_off,
    ),
    (
        "rebound_control_sink_errors_total",
        Kind::Counter,
        "Hand-off sink failures: refused, broken or timed-out connections (retried; the SA is kept).",
        |c| c.sink_errors,
    ),
    (
        "rebound_control_sink_waits_total",
        Kind::Counter,
        "Times a hand-off sink's acknowledgement window was full (backpressure).",
        |c| c.sink_waits,
    ),
    (
        "rebound_control_handoff_unacked",
        Kind::Gauge,
        "SAs taken by the hand-off sinks and not yet acknowledged by their daemons.",
        |c| c.unacked,
    ),
    (
        "rebound_control_abandoned_total",
        Kind::Counter,
        "SAs given up on at a forced shutdown because a sink kept refusing. Must stay 0.",
        |c| c.abandoned,
    ),
    (
        "rebound_control_slow_path_total",
        Kind::Counter,
        "Slow-path datagrams the control plane received.",
        |c| c.slow_path,
    ),
    (
        "rebound_control_slow_replies_dropped_total",
        Kind::Counter,
        "Slow-path answers a worker's queue did not take (the peer retransmits).",
        |c| c.replies_dropped,
    ),
    (
        "rebound_control_deleted_total",
        Kind::Counter,
        "IKE SAs deleted by their peer (INFORMATIONAL with a Delete payload).",
        |c| c.deleted,
    ),
    (
        "rebound_control_adopt_failed_total",
        Kind::Counter,
        "Resumed SAs handed off but not taken into the slow path's table (SPIr taken); their later exchanges go unanswered. Should stay 0.",
        |c| c.adopt_failed,
    ),
    (
        "rebound_control_abandoned_deletes_total",
        Kind::Counter,
        "IKE SA deletes not handed off to every sink, given up at a forced stop. Should stay 0.",
        |c| c.abandoned_deletes,
    ),
    (
        "rebound_control_child_created_total",
        Kind::Counter,
        "Child SAs created by CREATE_CHILD_SA and handed off to every sink.",
        |c| c.child_created,
    ),
    (
        "rebound_control_child_rekeyed_total",
        Kind::Counter,
        "Child SAs rekeyed by CREATE_CHILD_SA and handed off to every sink.",
        |c| c.child_rekeyed,
    ),
    (
        "rebound_control_child_deleted_total",
        Kind::Counter,
        "Child SAs deleted by their peer and handed off to every sink.",
        |c| c.child_deleted,
    ),
    (
        "rebound_control_abandoned_child_events_total",
        Kind::Counter,
        "Child SA events not handed off to every sink, given up at a forced stop. Should stay 0.",
        |c| c.abandoned_child_events,
    ),
    (
        "rebound_control_slow_held_total",
        Kind::Counter,
        "Control-plane loop turns on which the slow path was held: 65,536 of its SAs and events were waiting for the hand-off sinks.",
        |c| c.slow_held,
    ),
    (
        "rebound_control_full_half_open",
        Kind::Gauge,
        "Full exchanges between IKE_SA_INIT and IKE_AUTH.",
        |c| c.half_open,
    ),
    (
        "rebound_control_handoff_queue_depth",
        Kind::Gauge,
        "SAs waiting in the hand-off queue from the workers to the control plane.",
        |c| c.queue_depth,
    ),
];

/// HELP texts of the responder's counters (from their documentation); the
/// `Nack*` counters are one metric, [`NACKS`].
const COUNTER_HELP: &[(Counter, &str)] = &[
    (
        Counter::NotResumption,
        "Datagrams that were neither IKE_SESSION_RESUME with SPIr zero nor IKE_AUTH with SPIr set, dropped by the responder.",
    ),
    (
        Counter::ResumeRequests,
        "IKE_SESSION_RESUME requests received (any outcome).",
    ),
    (
        Counter::ResumeAccepted,
        "IKE_SESSION_RESUME requests answered with Nr (a half-open SA was created).",
    ),
    (
        Counter::ResumeRetransmits,
        "Retransmitted IKE_SESSION_RESUME requests answered from the half-open SA.",
    ),
    (
        Counter::ResumeSpiConflict,
        "Requests with the SPIi and peer of a half-open SA but different bytes, dropped.",
    ),
    (
        Counter::ResumeDraining,
        "New IKE_SESSION_RESUME requests dropped while the gateway drains (SIGTERM); retransmissions are still answered.",
    ),
    (
        Counter::ResumeBadHeader,
        "IKE_SESSION_RESUME requests whose header checks failed (RFC 5723 section 4.3.2), dropped.",
    ),
    (
        Counter::ResumeMalformed,
        "Malformed IKE_SESSION_RESUME requests answered with an error notify.",
    ),
    (
        Counter::ResumeTooLong,
        "Requests longer than responder.max_request_len, dropped.",
    ),
    (
        Counter::HalfOpenFull,
        "Requests dropped because the half-open table was full.",
    ),
    (
        Counter::HalfOpenMemoryFull,
        "Requests dropped because the half-open table was at responder.half_open_memory_mb with no cached answer left to drop.",
    ),
    (
        Counter::HalfOpenPerSource,
        "Requests dropped because their source (an IPv4 address or IPv6 /64) had responder.half_open_per_source half-open SAs.",
    ),
    (
        Counter::HalfOpenExpired,
        "Half-open SAs that expired before their IKE_AUTH.",
    ),
    (
        Counter::CookiesSent,
        "N(COOKIE) answers sent (no state kept).",
    ),
    (
        Counter::CookiesValid,
        "Requests with a valid cookie while cookies were required.",
    ),
    (
        Counter::CookiesInvalid,
        "Requests with a wrong or stale cookie while cookies were required (answered with a fresh cookie).",
    ),
    (
        Counter::AuthRequests,
        "IKE_AUTH requests for a half-open SA of this worker.",
    ),
    (
        Counter::AuthUnknownSpi,
        "IKE_AUTH requests for an SPIr this worker does not know, dropped.",
    ),
    (
        Counter::AuthBadHeader,
        "IKE_AUTH requests with a bad header (message id, flags, SPIi), dropped.",
    ),
    (
        Counter::AuthIntegrityFailed,
        "IKE_AUTH requests whose SK payload failed the integrity check, dropped.",
    ),
    (
        Counter::AuthRetransmits,
        "Retransmitted IKE_AUTH requests answered from the cache.",
    ),
    (
        Counter::AuthCacheEvicted,
        "Cached IKE_AUTH answers dropped to stay within responder.completed_cache_limit or responder.half_open_memory_mb.",
    ),
    (
        Counter::AuthConflict,
        "IKE_AUTH requests with other bytes after the exchange completed, dropped.",
    ),
    (
        Counter::AuthMalformed,
        "IKE_AUTH requests with malformed inner payloads (INVALID_SYNTAX).",
    ),
    (
        Counter::AuthIdMismatch,
        "IKE_AUTH requests whose IDi or IDr differs from the ticket's (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthCertPresent,
        "IKE_AUTH requests with a CERT payload (RFC 5723 section 4.3.3; AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthBadMethod,
        "IKE_AUTH requests with an AUTH method other than Shared Key MIC (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthFailed,
        "IKE_AUTH requests whose AUTH did not verify (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthFormRfc,
        "Resumptions completed with the RFC 7296 section 2.15 AUTH octets.",
    ),
    (
        Counter::AuthFormMessageOnly,
        "Resumptions completed with libreswan's message-only AUTH.",
    ),
    (Counter::Established, "IKE SAs resumed and handed off."),
    (
        Counter::ChildNoProposal,
        "Child SAs refused with NO_PROPOSAL_CHOSEN.",
    ),
    (
        Counter::ChildTsUnacceptable,
        "Child SAs refused with TS_UNACCEPTABLE.",
    ),
    (
        Counter::ChildAddressFailure,
        "Child SAs refused with INTERNAL_ADDRESS_FAILURE.",
    ),
    (
        Counter::AddressReassigned,
        "Internal addresses assigned again (the ticket's own address).",
    ),
    (
        Counter::AddressNew,
        "Internal addresses assigned that differ from the ticket's.",
    ),
    (
        Counter::TicketsIssued,
        "New tickets issued (N(TICKET_LT_OPAQUE)).",
    ),
    (
        Counter::TicketsAcked,
        "TICKET_REQUEST answered with TICKET_ACK (the ticket would not fit).",
    ),
    (
        Counter::TicketsRefused,
        "TICKET_REQUEST answered with TICKET_NACK by policy or failure.",
    ),
    (
        Counter::ResumeDeferred,
        "IKE_SESSION_RESUME requests deferred until the cluster said whose the ticket is (each runs again).",
    ),
];

/// The HELP a responder counter gets when [`COUNTER_HELP`] lacks it.
const MISSING_HELP: &str = "Responder counter (undocumented).";

/// The one metric all `nack_*` counters share.
const NACKS: &str = "rebound_ticket_nacks_total";
const NACK_PREFIX: &str = "nack_";

/// Render `stats` in the Prometheus text exposition format 0.0.4. Each
/// metric appears once, with its HELP and TYPE lines before all of its
/// samples.
pub fn render(stats: &GatewayStats) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "rebound_build_info",
        Kind::Gauge,
        "The running Rebound version (always 1).",
    );
    let _ = writeln!(
        out,
        "rebound_build_info{{version=\"{}\"}} 1",
        escape_label(env!("CARGO_PKG_VERSION"))
    );

    for &(name, kind, help, value) in WORKER_METRICS {
        family(&mut out, name, kind, help);
        for w in &stats.workers {
            sample(&mut out, name, &[("worker", &w.id.to_string())], value(w));
        }
    }

    for &c in Counter::ALL {
        let label = c.label();
        if label.starts_with(NACK_PREFIX) {
            continue;
        }
        let name = format!("rebound_{label}_total");
        let help = COUNTER_HELP
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(MISSING_HELP, |(_, h)| h);
        family(&mut out, &name, Kind::Counter, help);
        for w in &stats.workers {
            let worker = w.id.to_string();
            sample(&mut out, &name, &[("worker", &worker)], w.responder.get(c));
        }
    }

    family(
        &mut out,
        NACKS,
        Kind::Counter,
        "TICKET_NACK answers by reason: the ticket did not open (malformed, unknown_version, too_long, unknown_key, bad_tag, expired, revoked, reused, not_found), re-authentication is due, or another resumption claimed the ticket first.",
    );
    for w in &stats.workers {
        let worker = w.id.to_string();
        for (c, n) in w.responder.iter() {
            if let Some(reason) = c.label().strip_prefix(NACK_PREFIX) {
                sample(
                    &mut out,
                    NACKS,
                    &[("worker", &worker), ("reason", reason)],
                    n,
                );
            }
        }
    }

    let malformed = "rebound_malformed_total";
    family(
        &mut out,
        malformed,
        Kind::Counter,
        "Malformed messages by codec reason.",
    );
    for w in &stats.workers {
        let worker = w.id.to_string();
        for &(reason, n) in w.responder.malformed() {
            sample(
                &mut out,
                malformed,
                &[("worker", &worker), ("reason", reason)],
                n,
            );
        }
    }

    for &(name, kind, help, value) in CONTROL_METRICS {
        family(&mut out, name, kind, help);
        sample(&mut out, name, &[], value(&stats.control));
    }

    // The slow path: one metric, the outcome as a label (the labels are
    // SlowPathCounter's, documented in docs/OPERATIONS.md).
    let slow = "rebound_full_exchange_events_total";
    family(
        &mut out,
        slow,
        Kind::Counter,
        "Slow-path outcomes (full IKE_SA_INIT/IKE_AUTH, INFORMATIONAL, CREATE_CHILD_SA) by event.",
    );
    for (c, n) in stats.control.slow_path_counters.iter() {
        sample(&mut out, slow, &[("event", c.label())], n);
    }
    render_ticket_storage(&mut out, &stats.tickets);
    render_key_reloads(&mut out, &stats.keys);
    if let Some(c) = &stats.cluster {
        render_cluster(&mut out, c, &stats.workers);
    }
    if let Some(g) = &stats.guard_state {
        render_guard_saves(&mut out, g);
    }
    out
}

/// A gateway of a cluster: the cluster thread's counters and the
/// workers' parked requests.
fn render_cluster(
    out: &mut String,
    c: &crate::stats::ClusterThreadStats,
    workers: &[WorkerSnapshot],
) {
    let one: [(&str, Kind, &str, u64); 15] = [
        (
            "rebound_cluster_up",
            Kind::Gauge,
            "1 while the cluster thread is connected to Redis.",
            c.up,
        ),
        (
            "rebound_cluster_pipelines_total",
            Kind::Counter,
            "Pipelines (round trips) run against Redis.",
            c.pipelines,
        ),
        (
            "rebound_cluster_claims_mine_total",
            Kind::Counter,
            "Ticket claims Redis gave this gateway.",
            c.claims_mine,
        ),
        (
            "rebound_cluster_claims_taken_total",
            Kind::Counter,
            "Ticket claims another gateway held (TICKET_NACK reused).",
            c.claims_taken,
        ),
        (
            "rebound_cluster_claims_unavailable_total",
            Kind::Counter,
            "Ticket claims Redis did not answer (the policy decided).",
            c.claims_unavailable,
        ),
        (
            "rebound_cluster_local_decisions_total",
            Kind::Counter,
            "Claims this gateway decided alone (policy local) while Redis was unavailable.",
            c.local_decisions,
        ),
        (
            "rebound_cluster_stubs_put_total",
            Kind::Counter,
            "By-reference ticket stubs written to the stub bank.",
            c.stubs_put,
        ),
        (
            "rebound_cluster_stubs_taken_total",
            Kind::Counter,
            "Stubs of other gateways' tickets taken with a claim.",
            c.stubs_taken,
        ),
        (
            "rebound_cluster_writes_failed_total",
            Kind::Counter,
            "Stub writes and removals lost (Redis unavailable, or not sealed).",
            c.writes_failed,
        ),
        (
            "rebound_cluster_queue_full_total",
            Kind::Counter,
            "Requests refused because the cluster thread's queue was full.",
            c.queue_full,
        ),
        (
            "rebound_cluster_errors_total",
            Kind::Counter,
            "Failed connects, pipelines and downloads.",
            c.errors,
        ),
        (
            "rebound_cluster_last_rtt_microseconds",
            Kind::Gauge,
            "The last pipeline's round trip.",
            c.last_rtt_us,
        ),
        (
            "rebound_cluster_reconciled_total",
            Kind::Counter,
            "Local decisions (policy local) written back to Redis once it answered.",
            c.reconciled,
        ),
        (
            "rebound_cluster_reconcile_conflicts_total",
            Kind::Counter,
            "Of those, tickets another gateway had claimed meanwhile: each resumed twice in the cluster.",
            c.reconcile_conflicts,
        ),
        (
            "rebound_cluster_reconcile_dropped_total",
            Kind::Counter,
            "Local decisions not written back: more than 262,144 waited for Redis.",
            c.reconcile_dropped,
        ),
    ];
    for (name, kind, help, v) in one {
        family(out, name, kind, help);
        sample(out, name, &[], v);
    }
    render_key_sync(out, c);
    let per: [WorkerMetric; 7] = [
        (
            "rebound_cluster_parked",
            Kind::Gauge,
            "Requests parked until the cluster answers.",
            |w| w.parked_now,
        ),
        (
            "rebound_cluster_parked_total",
            Kind::Counter,
            "Requests parked until the cluster answered.",
            |w| w.cluster.parked,
        ),
        (
            "rebound_cluster_park_dropped_total",
            Kind::Counter,
            "Requests dropped because the park was full (cluster.max_parked).",
            |w| w.cluster.park_dropped,
        ),
        (
            "rebound_cluster_batches_total",
            Kind::Counter,
            "Batches of claims the worker sent.",
            |w| w.cluster.batches,
        ),
        (
            "rebound_cluster_batch_timeouts_total",
            Kind::Counter,
            "Batches unanswered past twice cluster.timeout_ms (the policy decided).",
            |w| w.cluster.batch_timeouts,
        ),
        (
            "rebound_cluster_late_conflicts_total",
            Kind::Counter,
            "Tickets resumed on this gateway's word alone (policy local, the cluster late) that the cluster's late answer gave to another gateway.",
            |w| w.cluster.late_conflicts,
        ),
        (
            "rebound_cluster_park_expired_total",
            Kind::Counter,
            "Parked requests dropped after waiting 5 s in all (the client has retransmitted).",
            |w| w.cluster.park_expired,
        ),
    ];
    for (name, kind, help, f) in per {
        family(out, name, kind, help);
        for w in workers {
            let id = w.id.to_string();
            sample(out, name, &[("worker", id.as_str())], f(w));
        }
    }
}

/// The single-use guard's saves to its state file (only with
/// `guard.state_file`).
fn render_guard_saves(out: &mut String, g: &crate::stats::GuardSaveStats) {
    let families: [(&str, Kind, &str, u64); 4] = [
        (
            "rebound_guard_saves_total",
            Kind::Counter,
            "Single-use guard state files written (guard.state_file): at the interval when a ticket was claimed since the last save, and at drain.",
            g.saves,
        ),
        (
            "rebound_guard_save_failures_total",
            Kind::Counter,
            "Single-use guard saves that failed; the previous state file is kept. Must stay 0.",
            g.failures,
        ),
        (
            "rebound_guard_save_duration_milliseconds",
            Kind::Gauge,
            "How long the last save of the single-use guard took, successful or not.",
            g.last_duration_ms,
        ),
        (
            "rebound_guard_last_save_timestamp_seconds",
            Kind::Gauge,
            "Unix time of the last successful save of the single-use guard; 0 before the first.",
            g.last_success_unix,
        ),
    ];
    for (name, kind, help, v) in families {
        family(out, name, kind, help);
        sample(out, name, &[], v);
    }
}

/// The ticket key ring shared through Redis: applied and refused (every
/// reason, zeros included), the generation, and the publisher's writes.
fn render_key_sync(out: &mut String, c: &crate::stats::ClusterThreadStats) {
    use crate::cluster::keyring::KeySyncFailure;
    let syncs = "rebound_cluster_key_syncs_total";
    family(
        out,
        syncs,
        Kind::Counter,
        "Ticket key rings read from Redis, opened, checked and installed (a follower).",
    );
    sample(out, syncs, &[], c.key_syncs);
    let failures = "rebound_cluster_key_sync_failures_total";
    family(
        out,
        failures,
        Kind::Counter,
        "Key ring syncs that failed, by reason; the key ring in use was kept. A refused value is counted once.",
    );
    for why in KeySyncFailure::ALL {
        sample(
            out,
            failures,
            &[("reason", why.label())],
            c.key_sync_failures[why.index()],
        );
    }
    for (name, kind, help, v) in [
        (
            "rebound_cluster_key_generation",
            Kind::Gauge,
            "Generation (publication time, Unix ms) of the key ring last applied (a follower) or published (the publisher); 0 before the first.",
            c.key_generation,
        ),
        (
            "rebound_cluster_key_publishes_total",
            Kind::Counter,
            "Key rings this gateway published to Redis (publish_keys = true).",
            c.key_publishes,
        ),
        (
            "rebound_cluster_key_publish_failures_total",
            Kind::Counter,
            "Key ring publications that failed (retried every key_sync_interval_secs).",
            c.key_publish_failures,
        ),
    ] {
        family(out, name, kind, help);
        sample(out, name, &[], v);
    }
}

/// The by-reference ticket store and the revocation list. The store's
/// families appear only when tickets are by reference.
fn render_ticket_storage(out: &mut String, t: &TicketStorageStats) {
    if let Some(st) = &t.store {
        let gauges: [(&str, Kind, &str, u64); 4] = [
            (
                "rebound_ticket_store_entries",
                Kind::Gauge,
                "By-reference tickets whose state the gateway holds.",
                st.entries,
            ),
            (
                "rebound_ticket_store_capacity",
                Kind::Gauge,
                "The most by-reference tickets held at once (tickets.store_capacity).",
                st.capacity,
            ),
            (
                "rebound_ticket_store_full_total",
                Kind::Counter,
                "By-reference tickets refused (TICKET_NACK) because the store was full.",
                st.full,
            ),
            (
                "rebound_ticket_store_expired_total",
                Kind::Counter,
                "By-reference ticket states dropped at their expiry, never presented.",
                st.expired,
            ),
        ];
        for (name, kind, help, v) in gauges {
            family(out, name, kind, help);
            sample(out, name, &[], v);
        }
    }
    for (name, help, v) in [
        (
            "rebound_revocation_list_entries",
            "Tickets on the revocation list (revoked before their expiry).",
            t.revoked_entries,
        ),
        (
            "rebound_revocation_list_capacity",
            "The most entries the revocation list holds (tickets.revocation_list_max).",
            t.revocation_list_max,
        ),
    ] {
        family(out, name, Kind::Gauge, help);
        sample(out, name, &[], v);
    }
}

/// The key file reloads (SIGHUP): accepted, and refused by reason (every
/// reason, zeros included, so an alert has a series from the start).
fn render_key_reloads(out: &mut String, keys: &crate::stats::KeyReloadStats) {
    let reloads = "rebound_key_reloads_total";
    family(
        out,
        reloads,
        Kind::Counter,
        "Ticket key files reloaded (SIGHUP) and published to the workers.",
    );
    sample(out, reloads, &[], keys.reloads);
    let refused = "rebound_key_reload_refused_total";
    family(
        out,
        refused,
        Kind::Counter,
        "Ticket key file reloads refused, by reason; the key ring in use was kept.",
    );
    for reason in crate::keys::KeyFileRefusal::ALL {
        sample(
            out,
            refused,
            &[("reason", reason.label())],
            keys.refused(reason),
        );
    }
}

fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// HELP text: backslash and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Label value: backslash, double quote and line feed escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
