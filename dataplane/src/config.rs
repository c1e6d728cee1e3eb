//! The gateway's settings: what `rebound gateway --config FILE` reads from
//! TOML, with command-line flags overriding the file, and what the storm
//! generator's embedded gateway starts from ([`GatewaySettings::default`]).
//!
//! PLACEHOLDER: the TOML parsing lands next; the types below are the
//! contract the gateway is built against.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use rebound_engine::crypto::SecretBuf;
use rebound_engine::responder::ResponderConfig;
use rebound_engine::ticket::guard::GuardConfig;
use rebound_engine::ticket::state::TicketIdentity;

/// One pre-shared key, for the full exchange (the slow path) of the peer
/// with this identity.
#[derive(Clone)]
pub struct PskEntry {
    pub id: TicketIdentity,
    pub secret: SecretBuf,
    /// `tickets = off` for this identity: TICKET_REQUEST gets TICKET_NACK.
    pub tickets: bool,
}

impl std::fmt::Debug for PskEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskEntry")
            .field("id", &self.id)
            .field("tickets", &self.tickets)
            .finish_non_exhaustive()
    }
}

/// Where established SAs are handed off to, besides the key log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffTarget {
    /// JSON lines written to a stream Unix socket that an external daemon
    /// listens on (`unix:PATH`).
    Unix(PathBuf),
}

/// The address pool for CP(CFG_REQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub v4: Option<(Ipv4Addr, u32)>,
    pub v6: Option<(Ipv6Addr, u32)>,
}

/// Everything the gateway runs with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// IKE addresses (UDP port 500 style, no marker). Each worker binds its
    /// own SO_REUSEPORT socket to each of them.
    pub listen: Vec<SocketAddr>,
    /// NAT-T addresses (UDP port 4500 style, non-ESP marker).
    pub listen_natt: Vec<SocketAddr>,
    /// Number of workers (1..=255).
    pub workers: usize,
    /// Core ids to pin worker `i` to (`cores[i]`); empty: no pinning.
    pub cores: Vec<usize>,
    /// Microseconds a worker sleeps after this many empty polls in a row;
    /// 0: pure busy polling.
    pub idle_sleep_us: u64,
    /// Empty polls before the worker sleeps `idle_sleep_us`.
    pub idle_spins: u32,
    /// The ticket key file (`rebound keys generate`); `None`: a random
    /// in-memory ring (for the storm's embedded gateway and tests only).
    pub key_file: Option<PathBuf>,
    /// Pre-shared keys by identity (the slow path's).
    pub psks: Vec<PskEntry>,
    /// The responder's protocol settings (its `worker_id` is set per
    /// worker).
    pub responder: ResponderConfig,
    pub pool: Option<PoolSettings>,
    pub guard: GuardConfig,
    pub handoff: Vec<HandoffTarget>,
    /// JSON key log file (one line per SA); `None`: none.
    pub keylog: Option<PathBuf>,
    /// Wireshark `ikev2_decryption_table` file; `None`: none.
    pub keylog_wireshark: Option<PathBuf>,
    /// Bound of the queue from the workers to the control plane, in SAs.
    pub handoff_queue: usize,
    /// Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
    /// On SIGTERM: how long in-flight exchanges may take to finish.
    pub drain_timeout_ms: u64,
}

impl Default for GatewaySettings {
    /// Loopback port 500 is not used by default: one worker on
    /// 127.0.0.1:0 (a free port), no pinning, a random in-memory key ring.
    fn default() -> Self {
        GatewaySettings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            listen_natt: Vec::new(),
            workers: 1,
            cores: Vec::new(),
            idle_sleep_us: 50,
            idle_spins: 1000,
            key_file: None,
            psks: Vec::new(),
            responder: ResponderConfig::default(),
            pool: None,
            guard: GuardConfig::default(),
            handoff: Vec::new(),
            keylog: None,
            keylog_wireshark: None,
            handoff_queue: 65_536,
            metrics: None,
            drain_timeout_ms: 5_000,
        }
    }
}
