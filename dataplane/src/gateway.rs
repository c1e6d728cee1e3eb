//! The gateway assembled: workers, the control plane, metrics, reload and
//! drain. `rebound gateway` and the storm's embedded gateway both start
//! one with [`Gateway::start`].

use std::net::SocketAddr;
use std::sync::Arc;

use rebound_engine::responder::ResponderCounters;
use rebound_engine::ticket::keyring::{KeyRingCell, TicketKeyRing};

use crate::backend::BackendStats;
use crate::config::GatewaySettings;

/// What one worker has done so far.
#[derive(Debug, Clone, Default)]
pub struct WorkerSnapshot {
    pub id: u8,
    pub responder: ResponderCounters,
    pub half_open: u64,
    pub backend: BackendStats,
    pub io: WorkerIo,
}

/// A worker's own counters (besides the responder's and the backend's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Times the hand-off queue was full and the worker held SAs back.
    pub handoff_stalls: u64,
    /// Established SAs passed to the control plane.
    pub handed_off: u64,
}

/// What the control plane has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// SAs written to every hand-off sink.
    pub handed_off: u64,
    /// Hand-off sink write failures (retried; the SA is kept).
    pub sink_errors: u64,
    /// Slow-path datagrams received (answered once the full exchange lands).
    pub slow_path: u64,
    /// SAs waiting in the hand-off queue.
    pub queue_depth: u64,
}

/// Everything the gateway has counted.
#[derive(Debug, Clone, Default)]
pub struct GatewayStats {
    pub workers: Vec<WorkerSnapshot>,
    pub control: ControlSnapshot,
}

/// Why the gateway could not start.
#[derive(Debug)]
pub struct GatewayError(pub String);

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GatewayError {}

/// A running gateway.
pub struct Gateway {
    _private: (),
}

impl Gateway {
    /// Bind every worker's sockets, start the workers and the control plane.
    /// `ring` overrides `settings.key_file` (the storm's embedded gateway
    /// shares its key ring with the ticket minter).
    pub fn start(
        _settings: GatewaySettings,
        _ring: Option<TicketKeyRing>,
    ) -> Result<Gateway, GatewayError> {
        Err(GatewayError("PLACEHOLDER: not built yet".into()))
    }

    /// The addresses actually bound (port 0 resolved), `listen` then
    /// `listen_natt`.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// The live key ring.
    pub fn key_ring(&self) -> Arc<KeyRingCell> {
        unreachable!("placeholder")
    }

    pub fn stats(&self) -> GatewayStats {
        GatewayStats::default()
    }

    /// Re-read the key file and the PSKs (SIGHUP).
    pub fn reload(&self) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Stop taking new exchanges, let in-flight ones finish (up to the drain
    /// timeout), flush hand-off, join every thread; the final counts.
    pub fn shutdown(self) -> GatewayStats {
        GatewayStats::default()
    }
}
