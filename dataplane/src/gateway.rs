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
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::responder::{MAX_SPARE_SAS, ResponderConfig, ResponderShared, ResumeResponder};
use rebound_engine::slow_path::{Psk, PskTable, SlowPathConfig, SlowPathResponder};
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::keyring::{KeyPolicy, KeyRingCell, TicketKeyRing};
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::store::TicketStore;

use crate::channels::{Forwarded, Reply};
use crate::config::{GatewaySettings, HandoffTarget};
use crate::control::ControlPlane;
use crate::guard_state::GuardSaver;
use crate::keys::KeyFileError;
use crate::metrics::MetricsServer;
use crate::parts::{GatewayParts, KeySource, OpenedIo};
use crate::runtime::{BufferedOsRng, DRAIN, RUN, STOP};
use crate::sink::{HandoffSink, KeyLogSink, UnixJsonSink};
use crate::stats::{
    ControlSnapshot, GatewayStats, GuardSaveStats, KeyReloadStats, SharedSnapshot,
    TicketStorageStats, WorkerSnapshot,
};
use crate::worker::Worker;

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
    store: Option<Arc<dyn TicketStore>>,
    revocations: Option<Arc<RevocationList>>,
    psks: Arc<RwLock<Vec<Psk>>>,
    /// A reloaded PSK table for the control plane to take.
    psk_reload: Arc<Mutex<Option<Arc<PskTable>>>>,
    state: Arc<AtomicU8>,
    abort: Arc<AtomicBool>,
    workers: Vec<(SharedSnapshot, Option<JoinHandle<()>>)>,
    control: Arc<Mutex<ControlSnapshot>>,
    control_thread: Option<JoinHandle<()>>,
    metrics: Option<MetricsServer>,
    /// The cluster's threads, stopped after the workers.
    cluster: Option<crate::cluster::ClusterRunning>,
    drain_timeout: Duration,
    /// Reloads accepted and refused; its lock also keeps two reloads from
    /// interleaving their check and publish.
    key_reloads: Arc<Mutex<KeyReloadStats>>,
    /// Held through a reload, so two SIGHUPs do not interleave.
    reload_lock: Mutex<()>,
    /// The longest ticket this gateway issues: a reload must keep every key
    /// that sealed a live ticket accepting until that ticket expires.
    ticket_lifetime: u64,
    /// Saves the single-use guard (`guard.state_file`): at an interval, and
    /// once more when the threads have stopped.
    guard_saver: Option<GuardSaver>,
    /// Its counters, kept past the saver's end for the final stats.
    guard_saves: Option<Arc<Mutex<GuardSaveStats>>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addrs", &self.addrs)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Read and parse a ticket key file with [`crate::keys::read_key_file`]
/// (owner-only mode, size cap, wiped buffer), naming it in the error.
pub fn read_key_file(path: &Path) -> Result<TicketKeyRing, GatewayError> {
    crate::keys::read_key_file(path).map_err(|e| GatewayError(format!("key file {e}")))
}

/// A fresh in-memory ring with one key issuing from now (the default key
/// policy): for the storm's embedded gateway and tests.
pub fn ephemeral_ring() -> Result<TicketKeyRing, GatewayError> {
    let now = crate::runtime::now().secs();
    crate::keys::rotate_in_new_key(&TicketKeyRing::default(), now, &KeyPolicy::default())
        .map_err(GatewayError)
}

/// Bound of each worker's queue of slow-path answers.
const REPLY_QUEUE: usize = 4096;

impl Gateway {
    /// Start a gateway from its settings with the parts they ask for
    /// ([`GatewayParts::from_settings`]). `ring`, when given, replaces the
    /// key source (the storm's embedded gateway shares its ring with its
    /// ticket minter).
    pub fn start(
        settings: GatewaySettings,
        ring: Option<TicketKeyRing>,
    ) -> Result<Gateway, GatewayError> {
        let mut parts = GatewayParts::from_settings(&settings)?;
        if let Some(r) = ring {
            parts.keys = KeySource::Ring(r);
        }
        Self::start_with(settings, parts)
    }

    /// Open every worker's packet I/O, start the control plane and the
    /// workers (and the metrics endpoint when configured), built from
    /// `parts`: the one place a gateway is assembled.
    pub fn start_with(
        settings: GatewaySettings,
        parts: GatewayParts,
    ) -> Result<Gateway, GatewayError> {
        let s = &settings;
        // The same checks as the config file's, for settings built in code
        // (the storm's embedded gateway, tests).
        crate::config::validate(s).map_err(|e| GatewayError(e.to_string()))?;
        // A misspelt user fails here, before anything is bound.
        let user = crate::privilege::resolve(s.user.as_deref())?;
        let GatewayParts {
            mut io,
            guard,
            store,
            revocations,
            keys,
            pool,
            cluster,
            guard_state,
        } = parts;
        if s.responder.tickets.kind == Some(TicketKind::ByReference) && store.is_none() {
            return Err(GatewayError(
                "tickets.kind = \"by-reference\" needs a ticket store in the gateway's parts"
                    .into(),
            ));
        }
        log_kernels();
        let key_file = match &keys {
            KeySource::File(p) => Some(p.clone()),
            _ => None,
        };
        let ephemeral = matches!(keys, KeySource::Ephemeral);
        let ring = match keys {
            KeySource::Ring(r) => r,
            KeySource::File(path) => read_key_file(&path)?,
            KeySource::Ephemeral => ephemeral_ring()?,
        };
        let now = crate::runtime::now();
        if ring.issuing_key(now.secs()).is_none() {
            tracing::warn!(
                "no ticket key issues now: resumptions get TICKET_NACK for new tickets until the key file is rotated"
            );
        }
        let ring = Arc::new(KeyRingCell::new(ring));
        let ticket_lifetime = s
            .responder
            .tickets
            .max_lifetime_secs
            .min(s.responder.tickets.ike_lifetime_secs);
        let shared = ResponderShared {
            keys: ring.clone(),
            guard,
            revocations: revocations.clone(),
            store: store.clone(),
            pool,
        };
        let OpenedIo {
            per_worker,
            local_addrs: addrs,
        } = io.open(s.workers)?;
        if per_worker.len() != s.workers {
            return Err(GatewayError(format!(
                "packet I/O opened {} workers' backends, {} asked for",
                per_worker.len(),
                s.workers
            )));
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
        // Every port is bound before privileges go: the metrics listener
        // too (it may be a low port); it is served once the workers run.
        let metrics_listener = match s.metrics {
            Some(m) => Some(
                MetricsServer::bind(m).map_err(|e| GatewayError(format!("metrics {m}: {e}")))?,
            ),
            None => None,
        };
        // Before any thread starts: what runs from here runs unprivileged.
        let dropped = match user.is_some() || s.drop_privileges {
            true => crate::privilege::give_up(user.as_ref())?,
            false => crate::privilege::Dropped::Nothing,
        };
        match dropped {
            crate::privilege::Dropped::Switched(u) => {
                tracing::info!(user = %u.name, uid = u.uid, gid = u.gid, "ports bound; running as an unprivileged user");
            }
            crate::privilege::Dropped::CapabilitiesCleared => {
                tracing::info!("ports bound; capabilities given up");
            }
            crate::privilege::Dropped::StillRoot => tracing::warn!(
                "running as root: give gateway.user (or --user) to run unprivileged once the ports are bound"
            ),
            crate::privilege::Dropped::Nothing => {}
        }
        // The cluster's threads start unprivileged, like every thread
        // after this point (capabilities are cleared per thread).
        let (mut cluster, mut worker_clusters) = match cluster {
            Some(c) => {
                tracing::info!(redis = %c.settings.target, name = %c.settings.name, policy = ?c.settings.policy, "cluster: joining");
                let keys = crate::cluster::KeySetup {
                    key_file: key_file.is_some(),
                    ephemeral,
                    ticket_lifetime,
                };
                let (running, per_worker) = c.start(s.workers, ring.clone(), keys)?;
                (Some(running), per_worker.into_iter().map(Some).collect())
            }
            None => (None, Vec::new()),
        };
        worker_clusters.resize_with(s.workers, || None);
        // Saves run as the user the gateway has become: its state
        // directory must be writable by that user.
        let guard_saver = guard_state.map(GuardSaver::start).transpose()?;
        let guard_saves = guard_saver.as_ref().map(GuardSaver::stats);
        let control = Arc::new(Mutex::new(ControlSnapshot::default()));
        let abort = Arc::new(AtomicBool::new(false));
        let state = Arc::new(AtomicU8::new(RUN));
        let (reply_tx, reply_rx): (Vec<_>, Vec<_>) = (0..s.workers)
            .map(|_| crossbeam_channel::bounded::<Reply>(REPLY_QUEUE))
            .unzip();
        // The boxes of handed-off SAs, back to the worker that made them
        // (it writes its next SAs into them rather than allocating).
        let (return_tx, return_rx): (Vec<_>, Vec<_>) = (0..s.workers)
            .map(|_| crossbeam_channel::bounded::<Box<EstablishedSa>>(MAX_SPARE_SAS))
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
                revoke_on_delete: s.tickets.revoke_on_delete,
                max_children: s.ike.max_children,
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
            returns: return_tx,
            psk_reload: psk_reload.clone(),
            state: state.clone(),
            store: store.clone(),
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
        let workers_io = per_worker
            .into_iter()
            .zip(inbox_rx)
            .zip(reply_rx)
            .zip(return_rx);
        for (id, (((sockets, inbox), replies), returns)) in workers_io.enumerate() {
            let config = ResponderConfig {
                worker_id: id as u8,
                ..s.responder.clone()
            };
            let mut responder = ResumeResponder::new(
                config,
                shared.clone(),
                Box::new(BufferedOsRng::new()),
                crate::runtime::now(),
            );
            let worker_cluster = worker_clusters[id].take();
            if worker_cluster.is_some() {
                responder.enable_cluster();
            }
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
                returns,
                state: state.clone(),
                snapshot: snapshot.clone(),
                idle_spins: s.idle_spins,
                idle_sleep: Duration::from_micros(s.idle_sleep_us),
                drain_timeout: Duration::from_millis(s.drain_timeout_ms),
                cluster: worker_cluster,
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
                    if let Some(c) = cluster.as_mut() {
                        c.stop();
                    }
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
            key_file,
            store,
            revocations,
            psks: Arc::new(RwLock::new(s.psks.clone())),
            psk_reload,
            state,
            abort,
            workers,
            control,
            control_thread: Some(control_thread),
            metrics: None,
            cluster,
            drain_timeout: Duration::from_millis(s.drain_timeout_ms),
            key_reloads: Arc::default(),
            reload_lock: Mutex::new(()),
            ticket_lifetime,
            guard_saver,
            guard_saves,
        };
        if let Some(listener) = metrics_listener {
            let source = gw.stats_source();
            let server = MetricsServer::serve(
                listener,
                Arc::new(move || crate::metrics::render(&source())),
            )
            .map_err(|e| GatewayError(format!("metrics endpoint: {e}")))?;
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
        let keys = self.key_reloads.clone();
        let store = self.store.clone();
        let revocations = self.revocations.clone();
        let cluster = self.cluster.as_ref().map(|c| c.stats.clone());
        let guard_saves = self.guard_saves.clone();
        move || {
            let mut stats = collect(&workers, &control, &keys);
            stats.cluster = cluster
                .as_deref()
                .map(crate::stats::ClusterThreadStats::read);
            stats.guard_state = guard_saves
                .as_ref()
                .map(|g| *g.lock().unwrap_or_else(|p| p.into_inner()));
            stats.tickets = TicketStorageStats {
                store: store.as_ref().map(|s| s.stats()),
                revoked_entries: revocations.as_ref().map_or(0, |r| r.len() as u64),
                revocation_list_max: revocations.as_ref().map_or(0, |r| r.max_entries() as u64),
            };
            stats
        }
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
    /// it to every worker, and replace the PSKs. Returns the key ring's new
    /// generation.
    ///
    /// The file goes through [`crate::keys::read_key_file`] and must pass
    /// [`crate::keys::check_replacement`] against the ring in use (some key
    /// issues now, and every key that still opens tickets is kept). A
    /// refused file changes nothing (keys and PSKs stay), is logged once
    /// with its reason and counted in `rebound_key_reload_refused_total`.
    pub fn reload(&self, key_file: Option<&Path>, psks: Vec<Psk>) -> Result<u64, KeyFileError> {
        // One reload at a time; the file is read and checked before the
        // counters' lock (which every scrape takes) is held.
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let key_sync = self.cluster.as_ref().and_then(|c| c.key_sync.as_ref());
        let follows = key_sync.is_some_and(|k| k.follows());
        let path = key_file.or(self.key_file.as_deref());
        // A follower's keys are the cluster's: its key file was its ring at
        // start only (re-reading it would drop the cluster's keys).
        let path = match path {
            Some(p) if follows => {
                tracing::info!(
                    key_file = %p.display(),
                    "the ticket keys follow the cluster's key ring (cluster.secret_file without \
                     publish_keys): the key file is not re-read; fetching the cluster's ring now"
                );
                None
            }
            p => p,
        };
        let ring = match path {
            Some(p) => {
                let now = crate::runtime::now().secs();
                let checked = crate::keys::read_key_file(p).and_then(|ring| {
                    crate::keys::check_replacement(
                        p,
                        &self.ring.load(),
                        &ring,
                        now,
                        self.ticket_lifetime,
                    )
                    .map(|()| ring)
                });
                match checked {
                    Ok(ring) => Some(ring),
                    Err(e) => {
                        self.key_reloads
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .count_refused(e.refusal());
                        tracing::error!(
                            reason = e.refusal().label(),
                            error = %e,
                            "key reload refused; keeping the key ring and the PSKs in use"
                        );
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let generation = match ring {
            Some(r) => {
                let keys = r.len();
                let g = self.ring.publish(r);
                self.key_reloads
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .reloads += 1;
                tracing::info!(keys, generation = g, "ticket keys reloaded");
                // The publisher publishes the new ring now.
                if let Some(k) = key_sync {
                    k.nudge();
                }
                g
            }
            None => {
                // A follower fetches the cluster's ring now.
                if let Some(k) = key_sync.filter(|k| k.follows()) {
                    k.nudge();
                }
                self.ring.generation()
            }
        };
        let n = psks.len();
        *self.psk_reload.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(PskTable::new(psks.iter().cloned())));
        *self.psks.write().unwrap_or_else(|p| p.into_inner()) = psks;
        tracing::info!(psks = n, "pre-shared keys reloaded");
        Ok(generation)
    }

    /// SIGTERM: take no new exchanges, let in-flight ones finish (up to the
    /// drain timeout), hand off every established SA, join every thread,
    /// then save the single-use guard (`guard.state_file`). Returns the
    /// final counts.
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
        // Last: the stub writes of the final SAs go out before it stops.
        if let Some(c) = self.cluster.as_mut() {
            c.stop();
        }
        // Nothing claims any more: the last save holds every claim.
        if let Some(mut saver) = self.guard_saver.take() {
            saver.finish();
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
        if let Some(c) = self.cluster.as_mut() {
            c.stop();
        }
    }
}

fn collect(
    workers: &[SharedSnapshot],
    control: &Mutex<ControlSnapshot>,
    keys: &Mutex<KeyReloadStats>,
) -> GatewayStats {
    GatewayStats {
        workers: workers
            .iter()
            .map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect(),
        control: *control.lock().unwrap_or_else(|p| p.into_inner()),
        tickets: TicketStorageStats::default(),
        keys: *keys.lock().unwrap_or_else(|p| p.into_inner()),
        cluster: None,
        guard_state: None,
    }
}

/// How long shutdown waits for the hand-off sinks to take the last SAs.
const HANDOFF_GRACE: Duration = Duration::from_secs(30);
/// Bound of each worker's queue of forwarded IKE_AUTH.
const FORWARD_QUEUE: usize = 4096;
/// Bound of the slow-path queue (datagrams beyond it are dropped and
/// counted; the peers retransmit).
const SLOW_QUEUE: usize = 8192;

/// Run the crypto kernels' calibrations now, on the starting thread (a
/// millisecond or two), rather than in a worker's first burst, and say
/// which kernels this CPU got and what they measured.
fn log_kernels() {
    use rebound_kernels::{gcm, sha1, sha256};
    let sha = sha256::calibration();
    let nat_d = sha1::chosen();
    let k = sha.chosen();
    let g = gcm::calibration();
    let g_ns = g
        .ns_per_ticket
        .iter()
        .find(|(x, _)| *x == g.chosen)
        .map_or(0.0, |(_, ns)| *ns);
    tracing::info!(
        sha256 = k.name(),
        sha256_ns_per_block = format!("{:.1}", sha.ns_per_block(k).unwrap_or(0.0)),
        gcm = g.chosen.name(),
        gcm_ns_per_ticket = format!("{g_ns:.0}"),
        sha1 = nat_d.name(),
        forced_portable = rebound_kernels::cpu::forced_portable(),
        "crypto kernels chosen by measurement"
    );
}
