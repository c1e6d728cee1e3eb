//! The cluster thread: the only thread that talks to Redis for the fast
//! path. Workers and the ticket store send it requests over one bounded
//! queue; it runs everything that is waiting as one pipeline (one round
//! trip per Redis server touched), and sends each worker the answers to its
//! claims. A worker never waits on it: it parks the requests the answers
//! are for and carries on (docs/ARCHITECTURE.md, "A cluster").
//!
//! Redis unreachable: the thread answers every claim at once as
//! unavailable (the workers' policy decides), drops stub writes (counted)
//! and tries to reconnect at most every `RECONNECT_MIN`, backing off to
//! `RECONNECT_MAX`; it never blocks longer than one `timeout_ms` per try.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::cluster::{Outcome, Want};
use redis::{Cmd, Value};

use super::conn::{self, Conn, Credentials};
use super::keys::Keys;
use super::settings::{ClusterSettings, Policy};

/// A claim and, for a by-reference ticket this gateway does not hold, its
/// stub: one atomic step on the slot of the ticket's keys. The stub stays
/// in the bank (the claim guards it) until the ticket is used, so an
/// answer lost on the way does not lose the state.
/// `SET NX GET` (Redis 7) answers the previous owner: none, or this
/// gateway, means the claim is this gateway's.
pub(crate) const TAKE_SCRIPT: &str = "\
local old = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'PXAT', ARGV[2])
if old and old ~= ARGV[1] then return {0} end
return {1, redis.call('GET', KEYS[2])}";

/// The owner of a revoked ticket's claim: no gateway's.
pub const REVOKED: &str = "revoked";

/// What the thread is asked to do.
#[derive(Debug)]
pub enum Request {
    /// A worker's wants of one burst, answered with a [`Completion`] of
    /// `batch`.
    Claims {
        worker: usize,
        batch: u64,
        wants: Vec<Want>,
    },
    /// Keep a by-reference ticket's stub (sealed) until `expiry`, indexed
    /// by this gateway's name and the SA's old SPIr.
    Put {
        id: TicketId,
        expiry: u64,
        spi_r: [u8; 8],
        stub: Vec<u8>,
    },
    /// The stub of a used or revoked ticket.
    Remove { id: TicketId },
    /// A ticket revoked here (its SA deleted or rekeyed): claimed for
    /// nobody until its expiry, so that no gateway resumes it.
    Revoke { id: TicketId, expiry: u64 },
    /// Tickets this gateway resumed on its own word (policy `local`, the
    /// cluster away or late): claimed in Redis once it answers.
    Reconcile { wants: Vec<Want> },
}

/// The answers to one [`Request::Claims`].
#[derive(Debug)]
pub struct Completion {
    pub batch: u64,
    /// Per want, in order: the outcome (the policy applied) and the stub
    /// handed over.
    pub results: Vec<(TicketId, Outcome, Option<Vec<u8>>)>,
}

/// The thread's counters, shared with the metrics.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// 1 while connected.
    pub up: AtomicU64,
    /// Pipelines run (round trips).
    pub pipelines: AtomicU64,
    /// Claims answered by Redis, by outcome.
    pub claims_mine: AtomicU64,
    pub claims_taken: AtomicU64,
    /// Claims Redis could not answer (before the policy).
    pub claims_unavailable: AtomicU64,
    /// Of those, answered `Mine` by the `local` policy.
    pub local_decisions: AtomicU64,
    /// Stubs kept and removed, and writes lost to an outage.
    pub stubs_put: AtomicU64,
    pub stubs_removed: AtomicU64,
    pub writes_failed: AtomicU64,
    /// Stubs handed over with a claim.
    pub stubs_taken: AtomicU64,
    /// Requests refused because the thread's queue was full.
    pub queue_full: AtomicU64,
    /// Failed connects and failed pipelines.
    pub errors: AtomicU64,
    /// The last round trip, microseconds.
    pub last_rtt_us: AtomicU64,
    /// Local decisions written back to Redis once it answered; of those,
    /// tickets another gateway had claimed meanwhile (resumed twice in
    /// the cluster); and those not written back (the list was full).
    pub reconciled: AtomicU64,
    pub reconcile_conflicts: AtomicU64,
    pub reconcile_dropped: AtomicU64,
    /// Key rings from Redis applied (a follower), and refused by reason
    /// (indexed by [`super::keyring::KeySyncFailure::index`]).
    pub key_syncs: AtomicU64,
    pub key_sync_failures: [AtomicU64; super::keyring::KeySyncFailure::ALL.len()],
    /// The generation of the ring last applied (a follower) or published
    /// (the publisher).
    pub key_generation: AtomicU64,
    /// Key rings published (the publisher), and publications that failed.
    pub key_publishes: AtomicU64,
    pub key_publish_failures: AtomicU64,
}

/// A handle to send requests, shared by the workers and the store.
#[derive(Clone)]
pub struct ClusterTx {
    pub(crate) tx: Sender<Request>,
    pub(crate) stats: Arc<ClusterStats>,
}

impl ClusterTx {
    /// Queue `r`; `false` (counted) when the queue is full or the thread
    /// is gone.
    pub fn send(&self, r: Request) -> bool {
        match self.tx.try_send(r) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// A claim outlives its ticket's expiry by this much in Redis: a gateway
/// whose clock is behind Redis's by up to this still finds the claim of a
/// ticket it thinks unexpired.
pub const CLAIM_SKEW_SECS: u64 = 300;
/// The most local decisions kept for writing back.
const MAX_BACKLOG: usize = 262_144;
/// Local decisions written back per pipeline.
const BACKLOG_PER_PIPELINE: usize = 1024;
/// The owner's list of stubs is trimmed of expired ids this often.
const TRIM_EVERY: Duration = Duration::from_secs(60);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// An idle connection is checked this often.
const IDLE_PING: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// The most requests one pipeline carries.
const MAX_PER_PIPELINE: usize = 512;
/// Queue bound between the workers and the thread.
pub const QUEUE: usize = 65_536;

pub struct ClusterThread {
    settings: ClusterSettings,
    creds: Credentials,
    keys: Keys,
    rx: Receiver<Request>,
    completions: Vec<Sender<Completion>>,
    stats: Arc<ClusterStats>,
    conn: Option<Conn>,
    next_try: Instant,
    backoff: Duration,
    was_up: bool,
    stop: Arc<AtomicBool>,
    /// The value of this process's claims: the gateway's name and a random
    /// number drawn at start. A restarted gateway is another owner: the
    /// tickets its previous run claimed stay used (its new guard does not
    /// know them).
    owner: String,
    last_trim: Instant,
    /// Local decisions waiting for Redis (bounded by `MAX_BACKLOG`).
    backlog: Vec<Want>,
}

/// What one request of a pipeline expects back.
enum Slot {
    Claim {
        worker: usize,
        batch: u64,
        want: Want,
    },
    /// A write of this many commands, counted as `Written` once they all
    /// succeeded.
    Write(usize, Written),
    /// A local decision written back.
    Reconcile(Want),
}

#[derive(Clone, Copy)]
enum Written {
    Put,
    Removed,
    Nothing,
}

impl ClusterThread {
    pub fn new(
        settings: ClusterSettings,
        creds: Credentials,
        rx: Receiver<Request>,
        completions: Vec<Sender<Completion>>,
        stats: Arc<ClusterStats>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        ClusterThread {
            keys: Keys::new(&settings.key_prefix),
            owner: owner_of(&settings.name),
            last_trim: Instant::now(),
            backlog: Vec::new(),
            settings,
            creds,
            rx,
            completions,
            stats,
            conn: None,
            next_try: Instant::now(),
            backoff: RECONNECT_MIN,
            was_up: false,
            stop,
        }
    }

    /// Serve until told to stop (after the workers) with nothing queued,
    /// or every sender is gone.
    pub fn run(mut self) {
        self.connect();
        let mut batch = Vec::with_capacity(MAX_PER_PIPELINE);
        let mut last_used = Instant::now();
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout) => {
                    if self.stop.load(Ordering::Acquire) {
                        break;
                    }
                    if self.conn.is_none() {
                        self.connect();
                    } else if self.has_backlog() {
                        last_used = Instant::now();
                        self.serve(&mut batch);
                    } else if last_used.elapsed() >= IDLE_PING {
                        // An idle connection is checked, so that a Redis
                        // that restarted is noticed (and reconnected to)
                        // before the next claims, not by failing them.
                        last_used = Instant::now();
                        self.ping();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_PER_PIPELINE {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.serve(&mut batch);
            last_used = Instant::now();
        }
        tracing::info!("cluster thread stopped");
    }

    fn ping(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        let problem = match c.run(vec![redis::cmd("PING")]) {
            Ok(v) => match v.first() {
                Some(Value::SimpleString(p)) if p == "PONG" => None,
                other => Some(format!("ping answered {other:?}")),
            },
            Err(e) => Some(format!("ping failed: {e}")),
        };
        if let Some(p) = problem {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            self.next_try = Instant::now();
            self.down(&p);
            self.connect();
        }
    }

    fn connect(&mut self) {
        if self.conn.is_some() || Instant::now() < self.next_try {
            return;
        }
        match Conn::connect(&self.settings, &self.creds).and_then(|mut c| {
            conn::require_redis_7(&mut c)?;
            Ok(c)
        }) {
            Ok(c) => {
                self.conn = Some(c);
                self.backoff = RECONNECT_MIN;
                self.stats.up.store(1, Ordering::Relaxed);
                tracing::info!(redis = %self.settings.target, "cluster: connected to Redis");
                self.was_up = true;
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(RECONNECT_MAX);
                self.down(&format!("cannot connect: {e}"));
            }
        }
    }

    fn down(&mut self, why: &str) {
        self.conn = None;
        self.stats.up.store(0, Ordering::Relaxed);
        if self.was_up || self.stats.errors.load(Ordering::Relaxed) <= 1 {
            let policy = match self.settings.policy {
                Policy::FailClosed => "fail-closed: resumptions get TICKET_NACK",
                Policy::Local => "local: this gateway decides alone",
            };
            tracing::warn!(redis = %self.settings.target, policy, "cluster: Redis unavailable: {why}");
        }
        self.was_up = false;
    }

    fn serve(&mut self, batch: &mut Vec<Request>) {
        let mut cmds = Vec::with_capacity(batch.len() * 2);
        let mut slots = Vec::with_capacity(batch.len() * 2);
        let mut answers: Vec<Option<Completion>> =
            (0..self.completions.len()).map(|_| None).collect();
        for r in batch.drain(..) {
            match r {
                Request::Claims {
                    worker,
                    batch,
                    wants,
                } => {
                    if worker < answers.len() && answers[worker].is_none() {
                        answers[worker] = Some(Completion {
                            batch,
                            results: Vec::with_capacity(wants.len()),
                        });
                    }
                    // A second batch of the same worker in this pipeline
                    // is answered under the later number (both are done).
                    if let Some(Some(c)) = answers.get_mut(worker) {
                        c.batch = c.batch.max(batch);
                    }
                    for w in wants {
                        cmds.push(self.claim_cmd(&w));
                        slots.push(Slot::Claim {
                            worker,
                            batch,
                            want: w,
                        });
                    }
                }
                Request::Put {
                    id,
                    expiry,
                    spi_r,
                    stub,
                } => {
                    let at = (expiry * 1000).to_string();
                    let hex = hex::encode(id.0);
                    let mut c = redis::cmd("SET");
                    c.arg(self.keys.stub(&id)).arg(stub).arg("PXAT").arg(&at);
                    cmds.push(c);
                    let mut c = redis::cmd("SET");
                    c.arg(self.keys.spi(&self.settings.name, &spi_r))
                        .arg(&hex)
                        .arg("PXAT")
                        .arg(&at);
                    cmds.push(c);
                    let mut c = redis::cmd("ZADD");
                    c.arg(self.keys.stubs_of(&self.settings.name))
                        .arg(expiry)
                        .arg(&hex);
                    cmds.push(c);
                    slots.push(Slot::Write(3, Written::Put));
                    if self.last_trim.elapsed() >= TRIM_EVERY {
                        self.last_trim = Instant::now();
                        let mut c = redis::cmd("ZREMRANGEBYSCORE");
                        c.arg(self.keys.stubs_of(&self.settings.name))
                            .arg("-inf")
                            .arg(crate::runtime::now().secs());
                        cmds.push(c);
                        slots.push(Slot::Write(1, Written::Nothing));
                    }
                }
                Request::Revoke { id, expiry } => {
                    let mut c = redis::cmd("SET");
                    c.arg(self.keys.claim(&id))
                        .arg(REVOKED)
                        .arg("PXAT")
                        .arg(expiry.saturating_add(CLAIM_SKEW_SECS).saturating_mul(1000));
                    cmds.push(c);
                    slots.push(Slot::Write(1, Written::Nothing));
                }
                Request::Reconcile { wants } => self.keep_for_later(wants),
                Request::Remove { id } => {
                    let mut c = redis::cmd("DEL");
                    c.arg(self.keys.stub(&id));
                    cmds.push(c);
                    let mut c = redis::cmd("ZREM");
                    c.arg(self.keys.stubs_of(&self.settings.name))
                        .arg(hex::encode(id.0));
                    cmds.push(c);
                    slots.push(Slot::Write(2, Written::Removed));
                }
            }
        }
        self.connect();
        if self.conn.is_some() && !self.backlog.is_empty() {
            let from = self.backlog.len().saturating_sub(BACKLOG_PER_PIPELINE);
            for w in self.backlog.split_off(from) {
                cmds.push(self.claim_cmd(&w));
                slots.push(Slot::Reconcile(w));
            }
        }
        let started = Instant::now();
        let values = match self.conn.as_mut() {
            Some(c) => match c.run(cmds) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    self.next_try = Instant::now();
                    self.down(&format!("pipeline failed: {e}"));
                    None
                }
            },
            None => None,
        };
        if values.is_some() {
            self.stats.pipelines.fetch_add(1, Ordering::Relaxed);
            self.stats
                .last_rtt_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        let mut values = values.map(|v| v.into_iter());
        for slot in slots {
            match slot {
                Slot::Write(n, written) => {
                    // Every reply of the request is read, whatever the first.
                    let ok = match values.as_mut() {
                        Some(v) => {
                            let bad = (0..n)
                                .filter(|_| matches!(v.next(), None | Some(Value::ServerError(_))))
                                .count();
                            bad == 0
                        }
                        None => false,
                    };
                    let counter = match (ok, written) {
                        (false, _) => Some(&self.stats.writes_failed),
                        (true, Written::Put) => Some(&self.stats.stubs_put),
                        (true, Written::Removed) => Some(&self.stats.stubs_removed),
                        (true, Written::Nothing) => None,
                    };
                    if let Some(c) = counter {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Slot::Claim {
                    worker,
                    batch,
                    want,
                } => {
                    let v = values.as_mut().and_then(|v| v.next());
                    let (outcome, stub, local) = self.read_claim(&want, v);
                    if local {
                        self.keep_for_later(vec![want]);
                    }
                    if let Some(Some(c)) = answers.get_mut(worker) {
                        c.batch = c.batch.max(batch);
                        c.results.push((want.id, outcome, stub));
                    }
                }
                Slot::Reconcile(want) => match values.as_mut().and_then(|v| v.next()) {
                    Some(Value::Nil) => {
                        self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Value::BulkString(owner)) => {
                        self.stats.reconciled.fetch_add(1, Ordering::Relaxed);
                        if owner != self.owner.as_bytes() {
                            self.stats
                                .reconcile_conflicts
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // Not answered: again with the next pipeline.
                    _ => self.keep_for_later(vec![want]),
                },
            }
        }
        for (w, c) in answers.into_iter().enumerate() {
            if let Some(c) = c {
                // A worker that is gone has nobody to tell.
                let _ = self.completions[w].send(c);
            }
        }
    }

    fn claim_cmd(&self, w: &Want) -> Cmd {
        let at = w
            .expiry
            .saturating_add(CLAIM_SKEW_SECS)
            .saturating_mul(1000)
            .to_string();
        if w.stub {
            let mut c = redis::cmd("EVAL");
            c.arg(TAKE_SCRIPT)
                .arg(2)
                .arg(self.keys.claim(&w.id))
                .arg(self.keys.stub(&w.id))
                .arg(&self.owner)
                .arg(&at);
            c
        } else {
            let mut c = redis::cmd("SET");
            c.arg(self.keys.claim(&w.id))
                .arg(&self.owner)
                .arg("NX")
                .arg("GET")
                .arg("PXAT")
                .arg(&at);
            c
        }
    }

    /// Keep local decisions to write back once Redis answers.
    fn keep_for_later(&mut self, wants: Vec<Want>) {
        for w in wants {
            if self.backlog.len() >= MAX_BACKLOG {
                self.stats.reconcile_dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                self.backlog.push(w);
            }
        }
    }

    /// Whether local decisions wait to be written back.
    fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// The outcome of one claim's reply (none: Redis did not answer), its
    /// stub, and whether the policy made it a local decision (to write
    /// back later).
    fn read_claim(&self, w: &Want, v: Option<Value>) -> (Outcome, Option<Vec<u8>>, bool) {
        let mine = |owner: &[u8]| owner == self.owner.as_bytes();
        let decided = match (w.stub, v) {
            (false, Some(Value::Nil)) => Some((Outcome::Mine, None)),
            (false, Some(Value::BulkString(owner))) => Some(if mine(&owner) {
                (Outcome::Mine, None)
            } else {
                (Outcome::Taken, None)
            }),
            (true, Some(Value::Array(a))) => match a.as_slice() {
                [Value::Int(0)] => Some((Outcome::Taken, None)),
                [Value::Int(1)] => Some((Outcome::Mine, None)),
                [Value::Int(1), Value::Nil] => Some((Outcome::Mine, None)),
                [Value::Int(1), Value::BulkString(s)] => Some((Outcome::Mine, Some(s.clone()))),
                _ => None,
            },
            _ => None,
        };
        match decided {
            Some((o, stub)) => {
                let c = match o {
                    Outcome::Mine => &self.stats.claims_mine,
                    _ => &self.stats.claims_taken,
                };
                c.fetch_add(1, Ordering::Relaxed);
                if stub.is_some() {
                    self.stats.stubs_taken.fetch_add(1, Ordering::Relaxed);
                }
                (o, stub, false)
            }
            None => {
                self.stats
                    .claims_unavailable
                    .fetch_add(1, Ordering::Relaxed);
                let o = unavailable(self.settings.policy, &self.stats);
                (o, None, o == Outcome::Mine)
            }
        }
    }
}

/// `NAME:RANDOM` (64 random bits, hex).
fn owner_of(name: &str) -> String {
    let mut r = [0u8; 8];
    // Without OS randomness the time stands in: it still differs between
    // two runs of one gateway.
    if getrandom::fill(&mut r).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        r = t.to_le_bytes();
    }
    format!("{name}:{}", hex::encode(r))
}

/// What a claim the cluster could not answer becomes under `policy`.
pub fn unavailable(policy: Policy, stats: &ClusterStats) -> Outcome {
    match policy {
        Policy::FailClosed => Outcome::Unavailable,
        Policy::Local => {
            stats.local_decisions.fetch_add(1, Ordering::Relaxed);
            Outcome::Mine
        }
    }
}
