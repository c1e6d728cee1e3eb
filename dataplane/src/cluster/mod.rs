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

use crossbeam_channel::Receiver;
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

/// A batch the policy decided at its deadline, kept to check a late
/// answer against.
struct Decided {
    batch: u64,
    ids: Vec<TicketId>,
    outcome: rebound_engine::ticket::cluster::Outcome,
}

/// How many decided batches a worker remembers.
const DECIDED_KEPT: usize = 64;

/// One batch of claims sent and not yet answered.
struct Outstanding {
    batch: u64,
    sent: Instant,
    ids: Vec<TicketId>,
    /// The tickets' expiries, for writing a local decision back.
    expiries: Vec<u64>,
    /// The cluster thread's queue was full: it never went out.
    refused: bool,
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
    decided: VecDeque<Decided>,
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
    /// Tickets this gateway resumed on its own word (policy `local`, the
    /// cluster late) that the cluster's late answer gave to another
    /// gateway: each may have resumed twice in the cluster.
    pub late_conflicts: u64,
    /// Parked datagrams dropped after waiting `MAX_PARKED_WAIT` in all.
    pub park_expired: u64,
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
            decided: VecDeque::new(),
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
        let expiries = self.wants.iter().map(|w| w.expiry).collect();
        let wants = std::mem::take(&mut self.wants);
        self.counters.batches += 1;
        let refused = !self.tx.send(Request::Claims {
            worker: self.worker,
            batch,
            wants,
        });
        self.outstanding.push_back(Outstanding {
            batch,
            sent: Instant::now(),
            ids,
            expiries,
            refused,
        });
    }

    /// Answers that came in (and batches past their deadline, decided by
    /// the policy): each ticket's outcome and stub go to `resolve`; returns
    /// the highest batch now answered (0: none).
    pub fn poll(
        &mut self,
        mut resolve: impl FnMut(TicketId, rebound_engine::ticket::cluster::Outcome, Option<&[u8]>),
    ) -> u64 {
        use rebound_engine::ticket::cluster::Outcome;
        let mut changed = false;
        while let Ok(c) = self.completions.try_recv() {
            let Some(pos) = self.outstanding.iter().position(|o| o.batch == c.batch) else {
                // A late answer to a batch the policy already decided:
                // dropped, but a ticket this gateway resumed on its own
                // word (policy local) that the cluster gave to another is
                // counted: single use held only per gateway for it.
                if let Some(t) = self.decided.iter().find(|t| t.batch == c.batch)
                    && t.outcome == Outcome::Mine
                {
                    self.counters.late_conflicts += c
                        .results
                        .iter()
                        .filter(|(id, o, _)| *o == Outcome::Taken && t.ids.contains(id))
                        .count() as u64;
                }
                continue;
            };
            changed = true;
            // One pipeline answers every batch of this worker it carried,
            // under the latest number: the earlier ones' answers are here
            // too. An earlier batch that never reached the cluster thread
            // was decided already (below), so is not among them.
            self.outstanding.drain(..=pos);
            for (id, outcome, stub) in &c.results {
                resolve(*id, *outcome, stub.as_deref());
            }
        }
        let now = Instant::now();
        // Batches the queue refused are decided at once, wherever they
        // are; the others when the oldest is past its deadline.
        let mut i = 0;
        while i < self.outstanding.len() {
            let o = &self.outstanding[i];
            let late = o.refused || (i == 0 && now.duration_since(o.sent) >= self.deadline);
            if !late {
                i += 1;
                continue;
            }
            let Some(o) = self.outstanding.remove(i) else {
                break;
            };
            changed = true;
            self.counters.batch_timeouts += 1;
            let outcome = io::unavailable(self.policy, &self.tx.stats);
            for id in &o.ids {
                resolve(*id, outcome, None);
            }
            if outcome == Outcome::Mine {
                // Decided here alone (policy local): claimed in the
                // cluster too once it answers, so that no other gateway
                // resumes these tickets afterwards.
                let wants = o
                    .ids
                    .iter()
                    .zip(&o.expiries)
                    .map(|(id, expiry)| Want {
                        id: *id,
                        expiry: *expiry,
                        stub: false,
                    })
                    .collect();
                self.tx.send(Request::Reconcile { wants });
            }
            if self.decided.len() >= DECIDED_KEPT {
                self.decided.pop_front();
            }
            self.decided.push_back(Decided {
                batch: o.batch,
                ids: o.ids,
                outcome,
            });
        }
        if !changed {
            return 0;
        }
        // Every batch up to this one is settled: the datagrams parked
        // behind them can run again.
        match self.outstanding.front() {
            Some(o) => o.batch - 1,
            None => self.next_batch - 1,
        }
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

impl Drop for ClusterRunning {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Sender;
    use rebound_engine::responder::PacketMeta;
    use rebound_engine::ticket::TicketReject;
    use rebound_engine::ticket::cluster::{ClusterLedger, Outcome};

    fn meta() -> PacketMeta {
        let a = "127.0.0.1:500".parse().unwrap();
        PacketMeta { peer: a, local: a }
    }

    /// A worker's side with `queue` places to the cluster thread (whose
    /// end the test holds) and the sender of its completions.
    fn worker(
        policy: Policy,
        timeout_ms: u64,
        queue: usize,
    ) -> (WorkerCluster, Receiver<Request>, Sender<Completion>) {
        let mut s = ClusterSettings::new("redis://127.0.0.1:1", "t");
        s.policy = policy;
        s.timeout_ms = timeout_ms;
        let (tx, rx) = crossbeam_channel::bounded(queue);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let tx = ClusterTx {
            tx,
            stats: Arc::new(ClusterStats::default()),
        };
        (WorkerCluster::new(0, &s, tx, done_rx), rx, done_tx)
    }

    fn ask(ledger: &ClusterLedger, n: u8) -> TicketId {
        let id = TicketId([n; 16]);
        assert_eq!(ledger.check(&id, 100, false), Err(TicketReject::Pending));
        id
    }

    fn poll_all(w: &mut WorkerCluster) -> (u64, Vec<(TicketId, Outcome)>) {
        let mut got = Vec::new();
        let done = w.poll(|id, o, _| got.push((id, o)));
        (done, got)
    }

    #[test]
    fn parked_until_their_batch_is_answered() {
        let (mut w, rx, done) = worker(Policy::FailClosed, 60_000, 16);
        let mut ledger = ClusterLedger::new();
        let (a, b) = (ask(&ledger, 1), ask(&ledger, 2));
        w.send_wants(&mut ledger);
        w.park(0, meta(), b"one", None);
        w.park(0, meta(), b"two", None);
        let Ok(Request::Claims { batch, wants, .. }) = rx.try_recv() else {
            panic!("no claims sent")
        };
        assert_eq!((batch, wants.len()), (1, 2));
        assert_eq!(poll_all(&mut w), (0, vec![]));
        let mut ready = Vec::new();
        w.take_ready(0, &mut ready);
        assert!(ready.is_empty());
        done.send(Completion {
            batch: 1,
            results: vec![(a, Outcome::Mine, None), (b, Outcome::Taken, None)],
        })
        .unwrap();
        assert_eq!(
            poll_all(&mut w),
            (1, vec![(a, Outcome::Mine), (b, Outcome::Taken)])
        );
        w.take_ready(1, &mut ready);
        assert_eq!(ready.len(), 2);
        assert_eq!(ready[0].data, b"one");
        assert!(!w.busy());
    }

    #[test]
    fn a_merged_answer_settles_both_batches() {
        let (mut w, _rx, done) = worker(Policy::FailClosed, 60_000, 16);
        let mut ledger = ClusterLedger::new();
        let a = ask(&ledger, 1);
        w.send_wants(&mut ledger);
        let b = ask(&ledger, 2);
        w.send_wants(&mut ledger);
        done.send(Completion {
            batch: 2,
            results: vec![(a, Outcome::Mine, None), (b, Outcome::Mine, None)],
        })
        .unwrap();
        let (n, got) = poll_all(&mut w);
        assert_eq!((n, got.len()), (2, 2));
        assert!(!w.busy());
    }

    #[test]
    fn a_batch_the_queue_refused_is_decided_not_forgotten() {
        // One place: the second batch does not fit.
        let (mut w, rx, done) = worker(Policy::FailClosed, 60_000, 1);
        let mut ledger = ClusterLedger::new();
        let a = ask(&ledger, 1);
        w.send_wants(&mut ledger);
        let b = ask(&ledger, 2);
        w.send_wants(&mut ledger);
        assert_eq!(
            w.stats()
                .queue_full
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // The refused batch is decided at once; what is parked behind it
        // waits for batch 1, still out.
        let (n, got) = poll_all(&mut w);
        assert_eq!((n, got), (0, vec![(b, Outcome::Unavailable)]));
        assert!(matches!(
            rx.try_recv(),
            Ok(Request::Claims { batch: 1, .. })
        ));
        done.send(Completion {
            batch: 1,
            results: vec![(a, Outcome::Mine, None)],
        })
        .unwrap();
        assert_eq!(poll_all(&mut w), (2, vec![(a, Outcome::Mine)]));
        assert_eq!(w.counters.batch_timeouts, 1);
        assert!(!w.busy());
    }

    #[test]
    fn an_answer_past_the_deadline_is_late_and_counted_under_local() {
        let (mut w, _rx, done) = worker(Policy::Local, 1, 16);
        let mut ledger = ClusterLedger::new();
        let a = ask(&ledger, 1);
        w.send_wants(&mut ledger);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(poll_all(&mut w), (1, vec![(a, Outcome::Mine)]));
        assert_eq!(w.counters.batch_timeouts, 1);
        done.send(Completion {
            batch: 1,
            results: vec![(a, Outcome::Taken, None)],
        })
        .unwrap();
        assert_eq!(poll_all(&mut w), (0, vec![]));
        assert_eq!(w.counters.late_conflicts, 1);
    }

    #[test]
    fn the_park_is_bounded() {
        let (mut w, _rx, _done) = worker(Policy::FailClosed, 60_000, 16);
        let mut s = ClusterSettings::new("redis://127.0.0.1:1", "t");
        s.max_parked = 2;
        w.max_parked = s.max_parked;
        assert!(w.park(0, meta(), b"1", None));
        assert!(w.park(0, meta(), b"2", None));
        assert!(!w.park(0, meta(), b"3", None));
        assert_eq!((w.counters.parked, w.counters.park_dropped), (2, 1));
    }
}
