//! The parts a gateway is assembled from, chosen from its settings in one
//! place: [`GatewayParts::from_settings`]. [`Gateway::start_with`] takes
//! them as they are, so another packet backend (DPDK), another single-use
//! guard or ticket store (Redis, shared by a cluster) or another source of
//! ticket keys plugs in here, without an edit to the workers or the control
//! plane, which see only the traits:
//!
//! | part | trait | today |
//! | --- | --- | --- |
//! | packet I/O, per worker | [`PacketIo`] → [`Backend`] | [`UdpIo`]: SO_REUSEPORT sockets |
//! | single use | [`SingleUseGuard`] | [`MemoryGuard`], saved to `guard.state_file` when set ([`GuardPersistence`]) |
//! | by-reference ticket state | [`TicketStore`] | [`MemoryTicketStore`] (`kind = "by-reference"`) |
//! | revoked tickets | [`RevocationList`] | in memory, bounded |
//! | ticket keys | [`KeySource`] | the key file, a ring given in code, or an ephemeral ring |
//! | internal addresses | [`AddressPool`] | [`MemoryPool`] (`[pool]`) |
//! | cluster claims, stub bank | [`ClusterParts`] (a ledger per worker) | Redis (`[cluster]`), or none |
//!
//! [`Gateway::start_with`]: crate::gateway::Gateway::start_with

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::guard::{MemoryGuard, SingleUseGuard};
use rebound_engine::ticket::keyring::TicketKeyRing;
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::store::{MemoryTicketStore, TicketStore};

use crate::backend::Backend;
use crate::backend::udp::{UdpBackend, UdpOptions};
use crate::cluster::{ClusterGuard, ClusterParts, ClusterStore};
use crate::config::GatewaySettings;
use crate::gateway::GatewayError;
use crate::guard_state::GuardPersistence;

/// Opens the packet I/O of every worker.
pub trait PacketIo: Send {
    /// Open `workers` sets of backends, one backend per listening address
    /// in each set, in the same order for every worker (a slow-path answer
    /// goes out through the same index it came in on).
    fn open(&mut self, workers: usize) -> Result<OpenedIo, GatewayError>;
}

/// What [`PacketIo::open`] gives the gateway.
pub struct OpenedIo {
    /// Worker `i`'s backends.
    pub per_worker: Vec<Vec<Box<dyn Backend>>>,
    /// The addresses actually bound (port 0 resolved), in backend order.
    pub local_addrs: Vec<SocketAddr>,
}

/// UDP sockets: per listening address, worker 0 binds first (resolving
/// port 0) and every other worker binds the same address and port with
/// SO_REUSEPORT, so the kernel spreads peers over the workers.
#[derive(Debug, Clone)]
pub struct UdpIo {
    /// IKE addresses (no marker), then NAT-T addresses (non-ESP marker).
    addrs: Vec<(SocketAddr, bool)>,
}

impl UdpIo {
    pub fn new(listen: &[SocketAddr], listen_natt: &[SocketAddr]) -> Self {
        UdpIo {
            addrs: listen
                .iter()
                .map(|a| (*a, false))
                .chain(listen_natt.iter().map(|a| (*a, true)))
                .collect(),
        }
    }
}

/// Socket buffers of 4 MiB: a storm's burst waits in the kernel rather
/// than being dropped while a worker finishes its own burst.
const SOCKET_BUFFER: usize = 4 << 20;

impl PacketIo for UdpIo {
    fn open(&mut self, workers: usize) -> Result<OpenedIo, GatewayError> {
        let mut per_worker: Vec<Vec<Box<dyn Backend>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::with_capacity(self.addrs.len());
        for &(addr, marker) in &self.addrs {
            let opts = || UdpOptions {
                reuse_port: true,
                non_esp_marker: marker,
                recv_buffer: Some(SOCKET_BUFFER),
                send_buffer: Some(SOCKET_BUFFER),
            };
            if addr.port() != 0 {
                refuse_if_held(addr)?;
            }
            let mut bound = addr;
            for (i, w) in per_worker.iter_mut().enumerate() {
                let b = UdpBackend::bind(bound, opts())
                    .map_err(|e| GatewayError(format!("listen {bound}: {e}")))?;
                if i == 0 {
                    bound = b.local_addr();
                }
                w.push(Box::new(b));
            }
            local_addrs.push(bound);
        }
        Ok(OpenedIo {
            per_worker,
            local_addrs,
        })
    }
}

/// Refuse an address another process holds: SO_REUSEPORT would let our
/// workers bind next to it (a second gateway, or anything else bound
/// with SO_REUSEPORT under the same uid) and share its traffic without a
/// word. A probe socket bound *without* SO_REUSEPORT fails with
/// EADDRINUSE when anyone holds the address (an overlapping wildcard
/// included); it is closed at once and the workers bind after it.
///
/// The window between the probe's close and the first worker's bind is a
/// few microseconds: two gateways started in that same instant on the same
/// address could both pass (docs/OPERATIONS.md, "One gateway per
/// address").
fn refuse_if_held(addr: SocketAddr) -> Result<(), GatewayError> {
    let probe = UdpOptions {
        reuse_port: false,
        ..UdpOptions::default()
    };
    match UdpBackend::bind(addr, probe) {
        Ok(b) => {
            drop(b);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(GatewayError(format!(
            "listen {addr}: another process already holds this address (a second gateway, \
             or another IKE daemon); refusing to share it. Stop that process or listen \
             elsewhere (SO_REUSEPORT is only for this gateway's own workers)"
        ))),
        Err(e) => Err(GatewayError(format!("listen {addr}: {e}"))),
    }
}

/// Where the ticket keys come from.
pub enum KeySource {
    /// The key file (`rebound keys generate`): read at start, re-read on
    /// SIGHUP.
    File(PathBuf),
    /// A ring given in code: the storm's embedded gateway shares its ring
    /// with its ticket minter.
    Ring(TicketKeyRing),
    /// A random in-memory ring: tickets die with the process (tests, and a
    /// gateway started without a key file, which logs a warning).
    Ephemeral,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "KeySource::File({})", p.display()),
            KeySource::Ring(r) => write!(f, "KeySource::Ring({} keys)", r.len()),
            KeySource::Ephemeral => f.write_str("KeySource::Ephemeral"),
        }
    }
}

/// Everything a gateway is built from besides its settings.
pub struct GatewayParts {
    pub io: Box<dyn PacketIo>,
    pub guard: Arc<dyn SingleUseGuard>,
    /// By-reference tickets' state; `None` when tickets are by value (a
    /// by-reference ticket presented then is refused `not_found`).
    pub store: Option<Arc<dyn TicketStore>>,
    /// Tickets revoked before their expiry (their SA deleted or rekeyed),
    /// refused as `revoked`.
    pub revocations: Option<Arc<RevocationList>>,
    pub keys: KeySource,
    pub pool: Option<Arc<dyn AddressPool>>,
    /// A gateway of a cluster: the Redis claims and the stub bank
    /// (`[cluster]`); `None`: this gateway alone.
    pub cluster: Option<ClusterParts>,
    /// The guard saved to a file and loaded from it at start
    /// (`guard.state_file`): its `guard` is the same [`MemoryGuard`] as
    /// [`guard`](Self::guard). `None`: the guard lives in memory only (or
    /// is shared by other means) and nothing is saved.
    pub guard_state: Option<GuardPersistence>,
}

impl std::fmt::Debug for GatewayParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayParts")
            .field("store", &self.store.is_some())
            .field("revocations", &self.revocations)
            .field("keys", &self.keys)
            .field("pool", &self.pool.is_some())
            .field("cluster", &self.cluster)
            .field("guard_state", &self.guard_state.as_ref().map(|p| &p.path))
            .finish_non_exhaustive()
    }
}

impl GatewayParts {
    /// The parts the settings ask for (the one place they are chosen).
    pub fn from_settings(s: &GatewaySettings) -> Result<Self, GatewayError> {
        let mut seed = [0u8; 16];
        getrandom::fill(&mut seed).map_err(|e| GatewayError(format!("OS randomness: {e}")))?;
        // With a state file the guard is loaded from it (or made fresh
        // when there is none yet), and the gateway saves it.
        let (guard, guard_state): (Arc<dyn SingleUseGuard>, _) = match &s.guard_state.state_file {
            Some(path) => {
                let interval = std::time::Duration::from_secs(s.guard_state.save_interval_secs);
                let p = GuardPersistence::open(s.guard.clone(), seed, path, interval)?;
                (p.guard.clone(), Some(p))
            }
            None => {
                let g = MemoryGuard::new(s.guard.clone(), seed)
                    .map_err(|e| GatewayError(format!("guard: {e:?}")))?;
                (Arc::new(g), None)
            }
        };
        let by_reference = s.responder.tickets.kind == Some(TicketKind::ByReference);
        let mut cluster = match &s.cluster {
            Some(c) => Some(ClusterParts::new(c.clone())?),
            None => None,
        };
        let store: Option<Arc<dyn TicketStore>> = match (by_reference, cluster.as_mut()) {
            (true, Some(c)) => {
                let store = Arc::new(ClusterStore::new(
                    memory_store(s.tickets.store_capacity),
                    c.tx.clone(),
                ));
                c.store = Some(store.clone());
                Some(store)
            }
            (true, None) => Some(Arc::new(memory_store(s.tickets.store_capacity))),
            (false, _) => None,
        };
        let revocations = Some(Arc::new(RevocationList::new(s.tickets.revocation_list_max)));
        let pool: Option<Arc<dyn AddressPool>> = match s.pool {
            Some(p) => Some(Arc::new(
                MemoryPool::new(p.v4, p.v6).map_err(|e| GatewayError(format!("pool: {e:?}")))?,
            )),
            None => None,
        };
        let keys = match &s.key_file {
            Some(path) => KeySource::File(path.clone()),
            None => KeySource::Ephemeral,
        };
        // A cluster's claims go to Redis after this gateway's own guard
        // (the one a state file keeps).
        let guard: Arc<dyn SingleUseGuard> = match &cluster {
            Some(c) => Arc::new(ClusterGuard {
                local: guard,
                tx: c.tx.clone(),
            }),
            None => guard,
        };
        Ok(GatewayParts {
            io: Box::new(UdpIo::new(&s.listen, &s.listen_natt)),
            guard,
            store,
            revocations,
            keys,
            pool,
            cluster,
            guard_state,
        })
    }
}

/// A bounded in-memory store of `capacity` tickets: about one shard per
/// 4,096 entries (a power of two, at most 256), so workers rarely meet on a
/// lock, a shard's once-a-second sweep is short, and a small store's bound
/// is exact.
fn memory_store(capacity: usize) -> MemoryTicketStore {
    MemoryTicketStore::new(capacity, capacity.div_ceil(4_096).clamp(1, 256))
}
