//! The counters the gateway's threads publish: each worker's snapshot, the
//! control plane's, and both together for the metrics endpoint and the
//! storm's report.

use std::sync::{Arc, Mutex};

use rebound_engine::responder::ResponderCounters;
use rebound_engine::slow_path::SlowPathCounters;
use rebound_engine::ticket::store::StoreStats;

use crate::backend::BackendStats;
use crate::keys::KeyFileRefusal;

/// What one worker has done so far.
#[derive(Debug, Clone, Default)]
pub struct WorkerSnapshot {
    pub id: u8,
    pub responder: ResponderCounters,
    pub half_open: u64,
    /// The memory the half-open table holds (bytes, as the engine counts
    /// it against `responder.half_open_memory_mb`).
    pub half_open_bytes: u64,
    pub backend: BackendStats,
    pub io: WorkerIo,
    /// The worker thread's CPU time in user mode (engine and poll loop)
    /// and in the kernel (the UDP path), in milliseconds.
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    /// Cluster: what the worker parked and sent, and datagrams parked now.
    pub cluster: crate::cluster::WorkerClusterCounters,
    pub parked_now: u64,
}

/// A worker's own counters (besides the responder's and the backend's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerIo {
    pub rx_datagrams: u64,
    pub tx_datagrams: u64,
    /// Replies dropped because the socket stayed full.
    pub tx_dropped: u64,
    /// IKE_AUTH sent to the worker that owns its SPIr.
    pub forwarded_out: u64,
    /// IKE_AUTH received from other workers.
    pub forwarded_in: u64,
    /// Forwarded datagrams dropped (owner unknown or its queue full).
    pub forward_dropped: u64,
    /// Datagrams passed to the control plane (the slow path).
    pub to_control: u64,
    /// Slow-path datagrams dropped because the control plane's queue was
    /// full.
    pub slow_dropped: u64,
    /// Times the hand-off queue was full and the worker held SAs back.
    pub handoff_stalls: u64,
    /// Established SAs passed to the control plane.
    pub handed_off: u64,
}

/// What the control plane has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ControlSnapshot {
    /// Established SAs received from the workers.
    pub received: u64,
    /// SAs received twice (same SPIs): must stay 0.
    pub duplicates: u64,
    /// SAs in the table now.
    pub sa_table: u64,
    /// Replaced SAs deleted silently (RFC 5723 §4.3.4).
    pub silent_deletes: u64,
    /// Replaced SAs that were not in the table (established before this
    /// gateway started, or elsewhere).
    pub replaced_unknown: u64,
    /// SAs dropped from the table at their re-authentication deadline.
    pub expired: u64,
    /// SAs written to every hand-off sink.
    pub handed_off: u64,
    /// Hand-off sink write failures (retried; the SA is kept).
    pub sink_errors: u64,
    /// Times a sink's acknowledgement window was full (backpressure).
    pub sink_waits: u64,
    /// SAs taken by a sink and not yet acknowledged by its daemon.
    pub unacked: u64,
    /// SAs given up on at a forced stop (a sink refused past the grace
    /// period): must stay 0.
    pub abandoned: u64,
    /// Slow-path datagrams received.
    pub slow_path: u64,
    /// Slow-path answers the worker's queue did not take (the peer
    /// retransmits).
    pub replies_dropped: u64,
    /// IKE SAs deleted by their peer.
    pub deleted: u64,
    /// IKE SA deletes not handed off to every sink, given up at a forced
    /// stop: must stay 0.
    pub abandoned_deletes: u64,
    /// Child SAs created by CREATE_CHILD_SA, handed off to every sink.
    pub child_created: u64,
    /// Child SAs rekeyed, handed off to every sink.
    pub child_rekeyed: u64,
    /// Child SAs deleted by their peer, handed off to every sink.
    pub child_deleted: u64,
    /// Child SA events (created, rekeyed, deleted) not handed off to every
    /// sink, given up at a forced stop: must stay 0.
    pub abandoned_child_events: u64,
    /// Turns of the control plane's loop on which the slow path was held
    /// because its untaken output reached its bound (the hand-off daemon
    /// is behind).
    pub slow_held: u64,
    /// Resumed SAs handed off but not adopted into the slow path's table
    /// (their SPIr was taken): their later exchanges go unanswered.
    pub adopt_failed: u64,
    /// Full exchanges between IKE_SA_INIT and IKE_AUTH.
    pub half_open: u64,
    /// The slow path's counters (in the metrics; the storm's JSON report
    /// has the fields above).
    #[serde(skip)]
    pub slow_path_counters: SlowPathCounters,
    /// SAs waiting in the hand-off queue.
    pub queue_depth: u64,
}

/// What became of the key file reloads (SIGHUP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyReloadStats {
    /// Key files read and published to the workers.
    pub reloads: u64,
    /// Key files refused (the ring in use kept), by reason: indexed by
    /// [`KeyFileRefusal::index`].
    pub refused: [u64; KeyFileRefusal::ALL.len()],
}

impl KeyReloadStats {
    /// Reloads refused for `reason`.
    pub fn refused(&self, reason: KeyFileRefusal) -> u64 {
        self.refused[reason.index()]
    }

    /// Counts one reload refused for `reason`.
    pub fn count_refused(&mut self, reason: KeyFileRefusal) {
        self.refused[reason.index()] += 1;
    }
}

/// Everything the gateway has counted.
#[derive(Debug, Clone, Default)]
pub struct GatewayStats {
    pub workers: Vec<WorkerSnapshot>,
    pub control: ControlSnapshot,
    pub tickets: TicketStorageStats,
    /// Key file reloads, accepted and refused.
    pub keys: KeyReloadStats,
    /// The cluster thread's counters, when a gateway of a cluster.
    pub cluster: Option<ClusterThreadStats>,
    /// Saves of the single-use guard to its state file; `None` without
    /// `guard.state_file`.
    pub guard_state: Option<GuardSaveStats>,
}

/// A copy of [`crate::cluster::ClusterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterThreadStats {
    pub up: u64,
    pub pipelines: u64,
    pub claims_mine: u64,
    pub claims_taken: u64,
    pub claims_unavailable: u64,
    pub local_decisions: u64,
    pub stubs_put: u64,
    pub stubs_removed: u64,
    pub stubs_taken: u64,
    pub writes_failed: u64,
    pub queue_full: u64,
    pub errors: u64,
    pub last_rtt_us: u64,
    pub reconciled: u64,
    pub reconcile_conflicts: u64,
    pub reconcile_dropped: u64,
    pub key_syncs: u64,
    /// By [`crate::cluster::keyring::KeySyncFailure::index`].
    pub key_sync_failures: [u64; crate::cluster::keyring::KeySyncFailure::ALL.len()],
    pub key_generation: u64,
    pub key_publishes: u64,
    pub key_publish_failures: u64,
}

impl ClusterThreadStats {
    pub fn read(s: &crate::cluster::ClusterStats) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        ClusterThreadStats {
            up: s.up.load(Relaxed),
            pipelines: s.pipelines.load(Relaxed),
            claims_mine: s.claims_mine.load(Relaxed),
            claims_taken: s.claims_taken.load(Relaxed),
            claims_unavailable: s.claims_unavailable.load(Relaxed),
            local_decisions: s.local_decisions.load(Relaxed),
            stubs_put: s.stubs_put.load(Relaxed),
            stubs_removed: s.stubs_removed.load(Relaxed),
            stubs_taken: s.stubs_taken.load(Relaxed),
            writes_failed: s.writes_failed.load(Relaxed),
            queue_full: s.queue_full.load(Relaxed),
            errors: s.errors.load(Relaxed),
            last_rtt_us: s.last_rtt_us.load(Relaxed),
            reconciled: s.reconciled.load(Relaxed),
            reconcile_conflicts: s.reconcile_conflicts.load(Relaxed),
            reconcile_dropped: s.reconcile_dropped.load(Relaxed),
            key_syncs: s.key_syncs.load(Relaxed),
            key_sync_failures: std::array::from_fn(|i| s.key_sync_failures[i].load(Relaxed)),
            key_generation: s.key_generation.load(Relaxed),
            key_publishes: s.key_publishes.load(Relaxed),
            key_publish_failures: s.key_publish_failures.load(Relaxed),
        }
    }
}

/// What became of the single-use guard's saves (`guard.state_file`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardSaveStats {
    /// State files written (atomically: a temporary file renamed over it).
    pub saves: u64,
    /// Saves that failed (the previous file kept).
    pub failures: u64,
    /// How long the last save took, successful or not, in milliseconds.
    pub last_duration_ms: u64,
    /// Unix time of the last successful save; 0 before the first.
    pub last_success_unix: u64,
    /// Size of the last file written.
    pub bytes: u64,
    /// The guard's claim count (`MemoryGuard::changes`) the file holds;
    /// `None` while the file does not hold the guard in memory (a fresh
    /// guard not saved yet).
    pub saved_changes: Option<u64>,
}

/// The ticket store's and the revocation list's gauges.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketStorageStats {
    /// `None` when tickets are by value (no store).
    pub store: Option<StoreStats>,
    /// Tickets on the revocation list now.
    pub revoked_entries: u64,
    /// The most it holds; 0 without a list.
    pub revocation_list_max: u64,
}

/// What a worker publishes for metrics, refreshed every few milliseconds.
pub type SharedSnapshot = Arc<Mutex<WorkerSnapshot>>;
