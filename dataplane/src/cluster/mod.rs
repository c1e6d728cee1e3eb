//! A gateway cluster on Redis (docs/OPERATIONS.md, "A cluster";
//! docs/TICKETS.md, "A cluster"):
//!
//! - **single use across the cluster**: a ticket that opens is claimed in
//!   Redis (`SET NX`, the ticket's expiry as TTL) before this gateway
//!   answers it; the first gateway owns it;
//! - **the stub bank** (draft-xu-ike-sa-sync): by-reference tickets' state,
//!   written behind to Redis ([`store::ClusterStore`]), taken atomically
//!   with the claim by whichever gateway the client comes back to, and
//!   downloaded by a standby ([`download`]);
//! - **the fast path never waits**: workers send the claims of a burst to
//!   the cluster thread ([`io`]) and park the requests until the answers
//!   come back ([`WorkerCluster`]);
//! - **Redis down or slow**: after `timeout_ms` the policy decides
//!   (`fail-closed` or `local`), and the thread reconnects by itself;
//! - **shared ticket keys** ([`keyring`]): the gateway with
//!   `publish_keys = true` publishes its key ring, encrypted under the
//!   cluster secret; the others follow it.

pub mod conn;
pub mod download;
pub mod io;
pub mod keyring;
pub mod keys;
pub mod settings;
pub mod store;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::cluster::Want;
use rebound_engine::ticket::keyring::KeyRingCell;
use zeroize::Zeroizing;

use crate::gateway::GatewayError;
pub use conn::Credentials;
pub use io::{ClusterStats, ClusterTx, Completion, Request};
pub use settings::{ClusterSettings, Policy, RedisTarget};
pub use store::{ClusterGuard, ClusterStore};

/// The cluster's parts, made from the settings before the gateway starts.
pub struct ClusterParts {
    pub settings: ClusterSettings,
    pub creds: Credentials,
    pub tx: ClusterTx,
    rx: Receiver<Request>,
    /// The store, when tickets are by reference.
    pub store: Option<Arc<ClusterStore>>,
    /// The envelope key of the shared key ring (`secret_file`).
    pub secret: Option<Arc<keyring::ClusterSecret>>,
}

/// What the key sync needs to know of the gateway's own keys.
#[derive(Debug, Clone, Copy)]
pub struct KeySetup {
    /// The ring comes from a key file (a publisher needs one).
    pub key_file: bool,
    /// The ring is an ephemeral one made at start (it has sealed nothing
    /// before the workers start).
    pub ephemeral: bool,
    /// The longest ticket the gateway issues (the reload rule's bound).
    pub ticket_lifetime: u64,
}

impl std::fmt::Debug for ClusterParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClusterParts({} as {})",
            self.settings.target, self.settings.name
        )
    }
}

impl ClusterParts {
    /// The queue to the cluster thread and the credentials (the password
    /// file is read here: a missing or open file stops the start).
    pub fn new(settings: ClusterSettings) -> Result<Self, GatewayError> {
        let password = match &settings.password_file {
            Some(p) => {
                let bytes = crate::config::read_secret_file(p, "the Redis password")
                    .map_err(|e| GatewayError(format!("cluster.password_file: {e}")))?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| {
                        GatewayError(format!(
                            "cluster.password_file: {} is not UTF-8 text",
                            p.display()
                        ))
                    })?
                    .trim_end_matches(['\n', '\r']);
                Some(Zeroizing::new(text.to_string()))
            }
            None => None,
        };
        let ca = match &settings.tls_ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                GatewayError(format!(
                    "cluster.tls_ca_file: cannot read {}: {e}",
                    p.display()
                ))
            })?),
            None => None,
        };
        let creds = Credentials {
            username: settings.username.clone(),
            password,
            ca,
        };
        let secret = match &settings.secret_file {
            Some(p) => {
                Some(Arc::new(keyring::ClusterSecret::read(p).map_err(|e| {
                    GatewayError(format!("cluster.secret_file: {e}"))
                })?))
            }
            None => None,
        };
        let (tx, rx) = crossbeam_channel::bounded(io::QUEUE);
        Ok(ClusterParts {
            settings,
            creds,
            tx: ClusterTx {
                tx,
                stats: Arc::new(ClusterStats::default()),
            },
            rx,
            store: None,
            secret,
        })
    }

    /// Start the cluster thread (and a standby's downloads, and the key
    /// sync) for `workers` workers; what each worker needs. A follower of
    /// the shared key ring fetches it here once, before the workers start.
    pub fn start(
        self,
        workers: usize,
        ring: Arc<KeyRingCell>,
        keys: KeySetup,
    ) -> Result<(ClusterRunning, Vec<WorkerCluster>), GatewayError> {
        if self.settings.publish_keys && !keys.key_file {
            return Err(GatewayError(
                "cluster.publish_keys needs a key file (tickets.key_file or --key-file): the \
                 publisher's key file is the cluster's source of truth"
                    .into(),
            ));
        }
        if let Some(s) = &self.store {
            s.set_ring(ring.clone());
        }
        // For rediss:// (redis's rustls has no provider of its own); an
        // embedding program may have installed one already. ring's
        // provider is deprecated only for lacking post-quantum key
        // exchange; aws-lc-rs's has it but needs CMake to build
        // (docs/ARCHITECTURE.md, "Dependencies and why").
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut key_sync = None;
        let mut sync_thread = None;
        if let Some(secret) = &self.secret {
            let mut sync = keyring::KeySync::new(
                self.settings.clone(),
                self.creds.clone(),
                secret.clone(),
                ring.clone(),
                self.tx.stats.clone(),
                stop.clone(),
                keys.ticket_lifetime,
            );
            sync.fetch_at_start(keys.ephemeral);
            key_sync = Some(sync.handle());
            sync_thread = Some(sync);
        }
        let (done_tx, done_rx): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| crossbeam_channel::unbounded::<Completion>())
            .unzip();
        let thread = io::ClusterThread::new(
            self.settings.clone(),
            self.creds.clone(),
            self.rx,
            done_tx,
            self.tx.stats.clone(),
            stop.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("rebound-cluster".into())
            .spawn(move || thread.run())
            .map_err(|e| GatewayError(format!("spawn cluster thread: {e}")))?;
        let mut threads = vec![handle];
        if let Some(sync) = sync_thread {
            match std::thread::Builder::new()
                .name("rebound-keysync".into())
                .spawn(move || sync.run())
            {
                Ok(h) => threads.push(h),
                Err(e) => {
                    stop.store(true, Ordering::Release);
                    for h in threads.drain(..) {
                        let _ = h.join();
                    }
                    return Err(GatewayError(format!("spawn key sync thread: {e}")));
                }
            }
        }
        if !self.settings.standby_for.is_empty() {
            let d = download::Downloader {
                settings: self.settings.clone(),
                creds: self.creds.clone(),
                ring,
                store: self.store.clone(),
                stop: stop.clone(),
                stats: self.tx.stats.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name("rebound-download".into())
                    .spawn(move || d.run())
                    .map_err(|e| GatewayError(format!("spawn download thread: {e}")))?,
            );
        }
        let per_worker = done_rx
            .into_iter()
            .enumerate()
            .map(|(i, completions)| {
                WorkerCluster::new(i, &self.settings, self.tx.clone(), completions)
            })
            .collect();
        Ok((
            ClusterRunning {
                stop,
                threads,
                stats: self.tx.stats.clone(),
                key_sync,
            },
            per_worker,
        ))
    }
}

/// The cluster's threads, stopped after the workers.
pub struct ClusterRunning {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub stats: Arc<ClusterStats>,
    /// The shared key ring's sync, when `secret_file` is set.
    pub key_sync: Option<keyring::KeySyncHandle>,
}

impl ClusterRunning {
    /// Flush what is queued and stop.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

/// A datagram waiting for the cluster's answer.
pub struct Parked {
    pub socket: usize,
    pub meta: rebound_engine::responder::PacketMeta,
    pub data: Vec<u8>,
    /// The batch whose completion it waits for.
    pub batch: u64,
    /// When it was first deferred.
    pub since: Instant,
}

/// One batch of claims sent and not yet answered.
struct Outstanding {
    batch: u64,
    sent: Instant,
    ids: Vec<TicketId>,
}

/// A worker's side of the cluster: its wants go out, answers come in, and
/// the deferred datagrams wait here meanwhile.
pub struct WorkerCluster {
    worker: usize,
    tx: ClusterTx,
    completions: Receiver<Completion>,
    policy: Policy,
    /// How long a batch may go unanswered before the policy decides.
    deadline: Duration,
    max_parked: usize,
    next_batch: u64,
    outstanding: VecDeque<Outstanding>,
    pub parked: VecDeque<Parked>,
    /// Buffers of datagrams run again, for the next ones parked.
    spare: Vec<Vec<u8>>,
    wants: Vec<Want>,
    pub counters: WorkerClusterCounters,
}

/// What a worker counts of its cluster traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerClusterCounters {
    /// Datagrams parked, and parked datagrams dropped (the park full).
    pub parked: u64,
    pub park_dropped: u64,
    /// Batches of claims sent, and batches the policy decided because
    /// they went unanswered past the deadline (or the queue was full).
    pub batches: u64,
    pub batch_timeouts: u64,
}

impl WorkerCluster {
    fn new(
        worker: usize,
        s: &ClusterSettings,
        tx: ClusterTx,
        completions: Receiver<Completion>,
    ) -> Self {
        WorkerCluster {
            worker,
            tx,
            completions,
            policy: s.policy,
            deadline: Duration::from_millis(s.timeout_ms.saturating_mul(2)),
            max_parked: s.max_parked,
            next_batch: 1,
            outstanding: VecDeque::new(),
            parked: VecDeque::new(),
            spare: Vec::new(),
            wants: Vec::new(),
            counters: WorkerClusterCounters::default(),
        }
    }

    /// Keep a deferred datagram until the answer it waits for; `false`
    /// (counted) when the park is full.
    pub fn park(
        &mut self,
        socket: usize,
        meta: rebound_engine::responder::PacketMeta,
        data: &[u8],
        since: Option<Instant>,
    ) -> bool {
        if self.parked.len() >= self.max_parked {
            self.counters.park_dropped += 1;
            return false;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.parked.push_back(Parked {
            socket,
            meta,
            data: buf,
            // Answered once the last batch sent so far is: the wants that
            // deferred it went out in it or before.
            batch: self.next_batch - 1,
            since: since.unwrap_or_else(Instant::now),
        });
        self.counters.parked += 1;
        true
    }

    /// Give a run-again datagram's buffer back.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 1024 {
            self.spare.push(buf);
        }
    }

    /// Send the wants the responder noted (one batch); call after each
    /// stage run and before parking its deferred datagrams.
    pub fn send_wants(&mut self, ledger: &mut rebound_engine::ticket::cluster::ClusterLedger) {
        self.wants.clear();
        ledger.take_wants(&mut self.wants);
        if self.wants.is_empty() {
            return;
        }
        let batch = self.next_batch;
        self.next_batch += 1;
        let ids = self.wants.iter().map(|w| w.id).collect();
        let wants = std::mem::take(&mut self.wants);
        self.counters.batches += 1;
        self.outstanding.push_back(Outstanding {
            batch,
            sent: Instant::now(),
            ids,
        });
        if !self.tx.send(Request::Claims {
            worker: self.worker,
            batch,
            wants,
        }) {
            // The queue is full: decided at the next poll, as a timeout.
            if let Some(o) = self.outstanding.back_mut() {
                o.sent = Instant::now().checked_sub(self.deadline).unwrap_or(o.sent);
            }
        }
    }

    /// Answers that came in (and batches past their deadline, decided by
    /// the policy): each ticket's outcome and stub go to `resolve`; returns
    /// the highest batch now answered (0: none).
    pub fn poll(
        &mut self,
        mut resolve: impl FnMut(TicketId, rebound_engine::ticket::cluster::Outcome, Option<&[u8]>),
    ) -> u64 {
        let mut done = 0;
        while let Ok(c) = self.completions.try_recv() {
            // Only answers still awaited count: a late answer to a batch
            // the policy already decided is dropped.
            let Some(pos) = self.outstanding.iter().position(|o| o.batch == c.batch) else {
                continue;
            };
            // Batches go out and come back in order: the ones before were
            // answered in the same pipeline or are late; theirs are here.
            for o in self.outstanding.drain(..=pos) {
                done = done.max(o.batch);
            }
            for (id, outcome, stub) in &c.results {
                resolve(*id, *outcome, stub.as_deref());
            }
        }
        let now = Instant::now();
        while let Some(o) = self.outstanding.front() {
            if now.duration_since(o.sent) < self.deadline {
                break;
            }
            let o = self.outstanding.pop_front().expect("front exists");
            self.counters.batch_timeouts += 1;
            let outcome = io::unavailable(self.policy, &self.tx.stats);
            for id in o.ids {
                resolve(id, outcome, None);
            }
            done = done.max(o.batch);
        }
        done
    }

    /// The parked datagrams whose batch is answered (`<= done`), in order.
    pub fn take_ready(&mut self, done: u64, out: &mut Vec<Parked>) {
        while self.parked.front().is_some_and(|p| p.batch <= done) {
            out.extend(self.parked.pop_front());
        }
    }

    /// Claims are in flight or datagrams wait.
    pub fn busy(&self) -> bool {
        !self.outstanding.is_empty() || !self.parked.is_empty()
    }

    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.tx.stats
    }
}

/// Where the workers' answers go back.
pub type CompletionTx = Sender<Completion>;

impl Drop for ClusterRunning {
    fn drop(&mut self) {
        self.stop();
    }
}
