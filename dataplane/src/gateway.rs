//! The gateway assembled: workers, the control plane, metrics, reload and
//! drain. `rebound gateway` and the storm's embedded gateway both start
//! one with [`Gateway::start`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::responder::{
    ResponderConfig, ResponderCounters, ResponderShared, ResumeResponder,
};
use rebound_engine::slow_path::{
    Psk, PskTable, SlowPathConfig, SlowPathCounters, SlowPathResponder,
};
use rebound_engine::ticket::guard::MemoryGuard;
use rebound_engine::ticket::keyfile::parse_key_file;
use rebound_engine::ticket::keyring::{KeyPolicy, KeyRingCell, TicketKeyRing};
use zeroize::Zeroizing;

use crate::backend::udp::{UdpBackend, UdpOptions};
use crate::backend::{Backend, BackendStats};
use crate::config::{GatewaySettings, HandoffTarget};
use crate::control::ControlPlane;
use crate::metrics::MetricsServer;
use crate::sink::{HandoffSink, KeyLogSink, UnixJsonSink};
use crate::worker::{BufferedOsRng, DRAIN, Forwarded, RUN, Reply, STOP, SharedSnapshot, Worker};

/// What one worker has done so far.
#[derive(Debug, Clone, Default)]
pub struct WorkerSnapshot {
    pub id: u8,
    pub responder: ResponderCounters,
    pub half_open: u64,
    pub backend: BackendStats,
    pub io: WorkerIo,
    /// The worker thread's CPU time in user mode (engine and poll loop)
    /// and in the kernel (the UDP path), in milliseconds.
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
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
    /// Deletes no sink took before shutdown.
    pub abandoned_deletes: u64,
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
    addrs: Vec<SocketAddr>,
    ring: Arc<KeyRingCell>,
    key_file: Option<PathBuf>,
    psks: Arc<RwLock<Vec<Psk>>>,
    /// A reloaded PSK table for the control plane to take.
    psk_reload: Arc<Mutex<Option<Arc<PskTable>>>>,
    state: Arc<AtomicU8>,
    abort: Arc<AtomicBool>,
    workers: Vec<(SharedSnapshot, Option<JoinHandle<()>>)>,
    control: Arc<Mutex<ControlSnapshot>>,
    control_thread: Option<JoinHandle<()>>,
    metrics: Option<MetricsServer>,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addrs", &self.addrs)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Read and parse a ticket key file, naming it in the error.
pub fn read_key_file(path: &Path) -> Result<TicketKeyRing, GatewayError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| GatewayError(format!("key file {}: {e}", path.display())))?,
    );
    parse_key_file(&text).map_err(|e| GatewayError(format!("key file {}: {e}", path.display())))
}

/// A fresh in-memory ring with one key issuing from now (the default key
/// policy): for the storm's embedded gateway and tests.
pub fn ephemeral_ring() -> Result<TicketKeyRing, GatewayError> {
    let now = crate::worker::now().secs();
    crate::keys::rotate_in_new_key(&TicketKeyRing::default(), now, &KeyPolicy::default())
        .map_err(GatewayError)
}

/// Bound of each worker's queue of slow-path answers.
const REPLY_QUEUE: usize = 4096;

impl Gateway {
    /// Bind every worker's sockets, start the control plane and the
    /// workers (and the metrics endpoint when configured). `ring` overrides
    /// `settings.key_file` (the storm's embedded gateway shares its ring
    /// with the ticket minter); with neither, a random in-memory ring.
    pub fn start(
        settings: GatewaySettings,
        ring: Option<TicketKeyRing>,
    ) -> Result<Gateway, GatewayError> {
        let s = &settings;
        // The same checks as the config file's, for settings built in code
        // (the storm's embedded gateway, tests).
        crate::config::validate(s).map_err(|e| GatewayError(e.to_string()))?;
        let ring = match (ring, &s.key_file) {
            (Some(r), _) => r,
            (None, Some(path)) => read_key_file(path)?,
            (None, None) => ephemeral_ring()?,
        };
        let now = crate::worker::now();
        if ring.issuing_key(now.secs()).is_none() {
            tracing::warn!(
                "no ticket key issues now: resumptions get TICKET_NACK for new tickets until the key file is rotated"
            );
        }
        let ring = Arc::new(KeyRingCell::new(ring));
        let mut seed = [0u8; 16];
        getrandom::fill(&mut seed).map_err(|e| GatewayError(format!("OS randomness: {e}")))?;
        let guard = MemoryGuard::new(s.guard.clone(), seed)
            .map_err(|e| GatewayError(format!("guard: {e:?}")))?;
        let pool: Option<Arc<dyn AddressPool>> = match s.pool {
            Some(p) => Some(Arc::new(
                MemoryPool::new(p.v4, p.v6).map_err(|e| GatewayError(format!("pool: {e:?}")))?,
            )),
            None => None,
        };
        let shared = ResponderShared {
            keys: ring.clone(),
            guard: Arc::new(guard),
            // The slow path revokes the tickets of deleted and rekeyed SAs
            // by claiming them in the guard: no list (and no lock) on the
            // workers' path.
            revocations: None,
            store: None,
            pool,
        };

        // Sockets: worker 0 binds each address first (resolving port 0),
        // the others bind the same address and port with SO_REUSEPORT.
        let wanted: Vec<(SocketAddr, bool)> = s
            .listen
            .iter()
            .map(|a| (*a, false))
            .chain(s.listen_natt.iter().map(|a| (*a, true)))
            .collect();
        let mut per_worker: Vec<Vec<Box<dyn Backend>>> =
            (0..s.workers).map(|_| Vec::new()).collect();
        let mut addrs = Vec::with_capacity(wanted.len());
        for (addr, marker) in wanted {
            let opts = || UdpOptions {
                reuse_port: true,
                non_esp_marker: marker,
                recv_buffer: Some(4 << 20),
                send_buffer: Some(4 << 20),
            };
            let first = UdpBackend::bind(addr, opts())
                .map_err(|e| GatewayError(format!("listen {addr}: {e}")))?;
            let bound = first.local_addr();
            per_worker[0].push(Box::new(first));
            for w in per_worker.iter_mut().skip(1) {
                let b = UdpBackend::bind(bound, opts())
                    .map_err(|e| GatewayError(format!("listen {bound}: {e}")))?;
                w.push(Box::new(b));
            }
            addrs.push(bound);
        }

        let (sa_tx, sa_rx) = crossbeam_channel::bounded(s.handoff_queue.max(1));
        let (slow_tx, slow_rx) = crossbeam_channel::bounded(SLOW_QUEUE);
        let mut sinks: Vec<Box<dyn HandoffSink>> = Vec::new();
        for h in &s.handoff {
            match h {
                HandoffTarget::Unix(p) => sinks.push(Box::new(UnixJsonSink::new(p))),
            }
        }
        if let Some(k) = &s.keylog {
            sinks.push(Box::new(
                KeyLogSink::open(k, s.keylog_wireshark.as_deref())
                    .map_err(|e| GatewayError(format!("keylog: {e}")))?,
            ));
        }
        let control = Arc::new(Mutex::new(ControlSnapshot::default()));
        let abort = Arc::new(AtomicBool::new(false));
        let state = Arc::new(AtomicU8::new(RUN));
        let (reply_tx, reply_rx): (Vec<_>, Vec<_>) = (0..s.workers)
            .map(|_| crossbeam_channel::bounded::<Reply>(REPLY_QUEUE))
            .unzip();
        let psk_reload = Arc::new(Mutex::new(None));
        let slow_path = SlowPathResponder::new(
            SlowPathConfig {
                responder: ResponderConfig {
                    cookie_threshold: s.ike.cookie_threshold,
                    ..s.responder.clone()
                },
                ike: s.ike.proposals.clone(),
                local_id: s.ike.local_id,
                reauth_secs: s.ike.reauth_secs,
            },
            shared.clone(),
            Arc::new(PskTable::new(s.psks.iter().cloned())),
            Box::new(BufferedOsRng::new()),
            now,
        );
        let plane = ControlPlane {
            sas: sa_rx,
            slow: slow_rx,
            sinks,
            snapshot: control.clone(),
            abort: abort.clone(),
            slow_path,
            replies: reply_tx,
            psk_reload: psk_reload.clone(),
            state: state.clone(),
        };
        let control_thread = std::thread::Builder::new()
            .name("rebound-control".into())
            .spawn(move || plane.run())
            .map_err(|e| GatewayError(format!("spawn control plane: {e}")))?;

        let (inbox_tx, inbox_rx): (Vec<_>, Vec<_>) = (0..s.workers)
            .map(|_| crossbeam_channel::bounded::<Forwarded>(FORWARD_QUEUE))
            .unzip();
        let peers: Arc<[Sender<Forwarded>]> = inbox_tx.into();
        let mut workers: Vec<(SharedSnapshot, Option<JoinHandle<()>>)> =
            Vec::with_capacity(s.workers);
        let workers_io = per_worker.into_iter().zip(inbox_rx).zip(reply_rx);
        for (id, ((sockets, inbox), replies)) in workers_io.enumerate() {
            let config = ResponderConfig {
                worker_id: id as u8,
                ..s.responder.clone()
            };
            let responder = ResumeResponder::new(
                config,
                shared.clone(),
                Box::new(BufferedOsRng::new()),
                crate::worker::now(),
            );
            let snapshot: SharedSnapshot = Arc::new(Mutex::new(WorkerSnapshot {
                id: id as u8,
                ..WorkerSnapshot::default()
            }));
            let worker = Worker {
                id: id as u8,
                sockets,
                responder,
                inbox,
                peers: peers.clone(),
                handoff: sa_tx.clone(),
                slow: slow_tx.clone(),
                replies,
                state: state.clone(),
                snapshot: snapshot.clone(),
                idle_spins: s.idle_spins,
                idle_sleep: Duration::from_micros(s.idle_sleep_us),
                drain_timeout: Duration::from_millis(s.drain_timeout_ms),
            };
            let core = s.cores.get(id).copied();
            let handle = std::thread::Builder::new()
                .name(format!("rebound-w{id}"))
                .spawn(move || {
                    if let Some(core) = core {
                        if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                            tracing::info!(worker = id, core, "pinned");
                        } else {
                            tracing::warn!(worker = id, core, "could not pin to core");
                        }
                    }
                    worker.run();
                });
            let handle = match handle {
                Ok(h) => h,
                Err(e) => {
                    // Stop what already runs before giving up: the workers
                    // started so far, then the control plane (it ends once
                    // the last sender is gone).
                    state.store(STOP, Ordering::Release);
                    for (_, h) in workers {
                        if let Some(h) = h {
                            let _ = h.join();
                        }
                    }
                    drop(sa_tx);
                    drop(slow_tx);
                    let _ = control_thread.join();
                    return Err(GatewayError(format!("spawn worker {id}: {e}")));
                }
            };
            workers.push((snapshot, Some(handle)));
        }
        // The workers hold the only senders now: once they are all gone the
        // control plane drains its queue and stops.
        drop(sa_tx);
        drop(slow_tx);

        let mut gw = Gateway {
            addrs,
            ring,
            key_file: s.key_file.clone(),
            psks: Arc::new(RwLock::new(s.psks.clone())),
            psk_reload,
            state,
            abort,
            workers,
            control,
            control_thread: Some(control_thread),
            metrics: None,
            drain_timeout: Duration::from_millis(s.drain_timeout_ms),
        };
        if let Some(m) = s.metrics {
            let source = gw.stats_source();
            let server =
                MetricsServer::start(m, Arc::new(move || crate::metrics::render(&source())))
                    .map_err(|e| GatewayError(format!("metrics {m}: {e}")))?;
            tracing::info!(addr = %server.local_addr(), "metrics endpoint");
            gw.metrics = Some(server);
        }
        tracing::info!(listen = ?gw.addrs, workers = gw.workers.len(), "gateway started");
        Ok(gw)
    }

    /// A closure that snapshots the counters (for the metrics endpoint).
    fn stats_source(&self) -> impl Fn() -> GatewayStats + Send + Sync + 'static {
        let workers: Vec<SharedSnapshot> = self.workers.iter().map(|(s, _)| s.clone()).collect();
        let control = self.control.clone();
        move || collect(&workers, &control)
    }

    /// The addresses actually bound (port 0 resolved), `listen` then
    /// `listen_natt`.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// The metrics endpoint's address, when it runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::local_addr)
    }

    /// The live key ring.
    pub fn key_ring(&self) -> Arc<KeyRingCell> {
        self.ring.clone()
    }

    /// The pre-shared keys in force (the slow path's).
    pub fn psks(&self) -> Vec<Psk> {
        self.psks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn stats(&self) -> GatewayStats {
        (self.stats_source())()
    }

    /// SIGHUP: re-read the key file (when the gateway has one) and publish
    /// it to every worker, and replace the PSKs. On error nothing changes.
    /// Returns the key ring's new generation.
    pub fn reload(&self, key_file: Option<&Path>, psks: Vec<Psk>) -> Result<u64, GatewayError> {
        let path = key_file.or(self.key_file.as_deref());
        let ring = match path {
            Some(p) => Some(read_key_file(p)?),
            None => None,
        };
        let generation = match ring {
            Some(r) => {
                let keys = r.len();
                let g = self.ring.publish(r);
                tracing::info!(keys, generation = g, "ticket keys reloaded");
                g
            }
            None => self.ring.generation(),
        };
        let n = psks.len();
        *self.psk_reload.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(PskTable::new(psks.iter().cloned())));
        *self.psks.write().unwrap_or_else(|p| p.into_inner()) = psks;
        tracing::info!(psks = n, "pre-shared keys reloaded");
        Ok(generation)
    }

    /// SIGTERM: take no new exchanges, let in-flight ones finish (up to the
    /// drain timeout), hand off every established SA, join every thread.
    /// Returns the final counts.
    pub fn shutdown(mut self) -> GatewayStats {
        self.state.store(DRAIN, Ordering::Release);
        self.join();
        let source = self.stats_source();
        source()
    }

    /// Stop at once, without draining half-open exchanges (established SAs
    /// are still handed off).
    pub fn stop(mut self) -> GatewayStats {
        self.state.store(STOP, Ordering::Release);
        self.join();
        let source = self.stats_source();
        source()
    }

    fn join(&mut self) {
        // Workers drain within the drain timeout; past it (and a second
        // of slack) they are told to stop. A worker that stops with SAs
        // still held waits for the control plane to take them, and the
        // control plane waits for its sinks: one grace period, counted
        // from the start of the shutdown, bounds the whole wait. Past it
        // the control plane gives up on refusing sinks (counted as
        // `abandoned`, loudly) so the process can exit.
        let start = Instant::now();
        let stop_at = start + self.drain_timeout + Duration::from_secs(1);
        let give_up_at = stop_at + HANDOFF_GRACE;
        let mut handles: Vec<JoinHandle<()>> = self
            .workers
            .iter_mut()
            .filter_map(|(_, h)| h.take())
            .collect();
        handles.extend(self.control_thread.take());
        while handles.iter().any(|h| !h.is_finished()) {
            let now = Instant::now();
            if now >= stop_at {
                self.state.store(STOP, Ordering::Release);
            }
            if now >= give_up_at {
                self.abort.store(true, Ordering::Release);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for h in handles {
            let _ = h.join();
        }
        self.metrics = None;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.control_thread.is_some() || self.workers.iter().any(|(_, h)| h.is_some()) {
            self.state.store(STOP, Ordering::Release);
            self.join();
        }
    }
}

fn collect(workers: &[SharedSnapshot], control: &Mutex<ControlSnapshot>) -> GatewayStats {
    GatewayStats {
        workers: workers
            .iter()
            .map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect(),
        control: *control.lock().unwrap_or_else(|p| p.into_inner()),
    }
}

/// How long shutdown waits for the hand-off sinks to take the last SAs.
const HANDOFF_GRACE: Duration = Duration::from_secs(30);
/// Bound of each worker's queue of forwarded IKE_AUTH.
const FORWARD_QUEUE: usize = 4096;
/// Bound of the slow-path queue (datagrams beyond it are dropped and
/// counted; the peers retransmit).
const SLOW_QUEUE: usize = 8192;
