//! The control plane thread: receives every established SA from the
//! workers, keeps the table of established SAs, deletes a replaced SA
//! silently, and passes every SA to the hand-off sinks. It also runs the
//! slow path: the full exchange (IKE_SA_INIT, IKE_AUTH with a PSK) and
//! everything on an established SA (INFORMATIONAL, CREATE_CHILD_SA), in an
//! [`SlowPathResponder`] that also holds the SA table. Its answers go back
//! through the worker that received the request (that worker owns the
//! socket).
//!
//! It never drops an SA: the queue from the workers is bounded, and while a
//! sink refuses a batch the control plane retries it and takes nothing new,
//! so the queue fills and the workers hold their SAs (backpressure).
//!
//! The slow path's output is one ordered stream: its new SAs and its SA
//! events (an IKE SA deleted, a child SA created, rekeyed or deleted) reach
//! every sink in the order the slow path made them, each event after the
//! lines of the SAs it names. While a sink refuses an event, nothing behind
//! it moves (the workers' SAs included); events are given up only at a
//! forced stop, and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use rebound_engine::handoff::{EstablishedSa, SaChange};
use rebound_engine::responder::PacketMeta;
use rebound_engine::slow_path::{
    CONTROL_SPI_TAG, PskTable, SaEvent, SlowPathCounter, SlowPathResponder,
};
use rebound_engine::ticket::store::TicketStore;

use crate::channels::{Reply, SlowPacket};
use crate::runtime::RUN;
use crate::sink::HandoffSink;
use crate::stats::ControlSnapshot;

/// How often the slow path's timers run (half-open expiry, the
/// re-authentication sweep, cookie rotation).
const TIMERS_EVERY: Duration = Duration::from_secs(1);

/// How often a PSK reload and the drain state are looked for.
const CHECKS_EVERY: Duration = Duration::from_millis(100);

/// The most slow-path datagrams handled before the SA queue is looked at
/// again.
const SLOW_BURST: usize = 64;

/// The most time one slow-path burst takes before the SA queue is looked
/// at again.
const SLOW_BUDGET: Duration = Duration::from_millis(5);

/// A stretch of the slow path's output: new SAs (boxed like the workers'
/// SAs a batch holds), or SA events.
enum Run {
    #[allow(clippy::vec_box)]
    Sas(Vec<Box<EstablishedSa>>),
    Events(Vec<SaChange>),
}

/// The control plane's loop state.
struct Work {
    stats: ControlSnapshot,
    /// The slow path's output not yet handed off, oldest first, in the
    /// order it was made.
    pending: VecDeque<Run>,
    /// How many events of the run at the front of `pending` each sink has
    /// taken, by sink.
    taken: Vec<usize>,
    /// The slow path's answer buffer.
    out: Vec<u8>,
}

impl Work {
    /// Queue the slow path's new SA or event behind everything it made
    /// before.
    fn push_sa(&mut self, sa: Box<EstablishedSa>) {
        match self.pending.back_mut() {
            Some(Run::Sas(v)) => v.push(sa),
            _ => self.pending.push_back(Run::Sas(vec![sa])),
        }
    }

    fn push_event(&mut self, e: SaChange) {
        match self.pending.back_mut() {
            Some(Run::Events(v)) => v.push(e),
            _ => self.pending.push_back(Run::Events(vec![e])),
        }
    }

    /// SAs and events the slow path made that no sink has taken yet.
    fn backlog(&self) -> usize {
        self.pending
            .iter()
            .map(|r| match r {
                Run::Sas(v) => v.len(),
                Run::Events(v) => v.len(),
            })
            .sum()
    }

    /// Whether the slow path must wait: its untaken output is at
    /// [`SLOW_BACKLOG`]. Its requests then stay in their bounded queue
    /// (beyond it the workers drop them, counted, and the peers
    /// retransmit), so a peer looping CREATE_CHILD_SA while the hand-off
    /// daemon is slow or down cannot grow the control plane's memory.
    fn slow_held(&mut self) -> bool {
        if self.pending.is_empty() || self.backlog() < SLOW_BACKLOG {
            return false;
        }
        self.stats.slow_held += 1;
        true
    }

    /// Count `events` as handed off to every sink, or as abandoned.
    fn count(&mut self, events: &[SaChange], abandoned: bool) {
        let s = &mut self.stats;
        for e in events {
            match (e, abandoned) {
                (SaChange::Deleted { .. }, false) => {}
                (SaChange::Deleted { .. }, true) => s.abandoned_deletes += 1,
                (_, true) => s.abandoned_child_events += 1,
                (SaChange::ChildCreated { .. }, false) => s.child_created += 1,
                (SaChange::ChildRekeyed { .. }, false) => s.child_rekeyed += 1,
                (SaChange::ChildDeleted { children, .. }, false) => {
                    s.child_deleted += children.len() as u64;
                }
            }
        }
    }
}

/// The most SAs and events the slow path may have made that no sink has
/// taken; at it, the slow path waits (see `Work::slow_held`).
const SLOW_BACKLOG: usize = 65_536;

/// The most SAs handed to the sinks in one batch.
const BATCH: usize = 256;

/// The largest answer the slow path writes.
const REPLY_BUF: usize = 8192;

pub struct ControlPlane {
    pub sas: Receiver<Box<EstablishedSa>>,
    pub slow: Receiver<SlowPacket>,
    pub sinks: Vec<Box<dyn HandoffSink>>,
    pub snapshot: Arc<Mutex<ControlSnapshot>>,
    /// Set on a forced stop: give up retrying a refusing sink.
    pub abort: Arc<AtomicBool>,
    /// The slow path and the SA table.
    pub slow_path: SlowPathResponder,
    /// Answers to each worker, by worker id.
    pub replies: Vec<Sender<Reply>>,
    /// The boxes of handed-off SAs, back to the worker that made them (by
    /// worker id); when its queue is full a box is freed instead.
    pub returns: Vec<Sender<Box<EstablishedSa>>>,
    /// A reloaded PSK table, taken on the next loop.
    pub psk_reload: Arc<Mutex<Option<Arc<PskTable>>>>,
    /// The workers' run state: while draining, no new full exchanges.
    pub state: Arc<AtomicU8>,
    /// The by-reference ticket store, watched for refusals (logged).
    pub store: Option<Arc<dyn TicketStore>>,
}

/// Refusals seen so far, so each second logs only what is new.
#[derive(Default)]
struct Refusals {
    store_full: u64,
    revocation_full: u64,
}

impl Refusals {
    /// A warning when the ticket store or the revocation list refused
    /// something since the last look: the operator must raise its bound.
    fn log_new(&mut self, store: Option<&dyn TicketStore>, slow_path: &SlowPathResponder) {
        if let Some(st) = store.map(|s| s.stats())
            && st.full > self.store_full
        {
            tracing::warn!(
                refused = st.full - self.store_full,
                capacity = st.capacity,
                "ticket store full: new by-reference tickets answered TICKET_NACK; raise tickets.store_capacity"
            );
            self.store_full = st.full;
        }
        let rev = slow_path
            .counters()
            .get(SlowPathCounter::RevocationListFull);
        if rev > self.revocation_full {
            tracing::warn!(
                refused = rev - self.revocation_full,
                "revocation list full: revoked tickets are refused as reused, not revoked; raise tickets.revocation_list_max"
            );
            self.revocation_full = rev;
        }
    }
}

impl ControlPlane {
    /// Runs until every worker has dropped its sender and the queue is
    /// empty.
    pub fn run(mut self) {
        let mut w = Work {
            stats: ControlSnapshot::default(),
            pending: VecDeque::new(),
            taken: vec![0; self.sinks.len()],
            out: vec![0u8; REPLY_BUF],
        };
        let mut batch: Vec<Box<EstablishedSa>> = Vec::with_capacity(BATCH);
        let mut slow_open = true;
        let mut last_timers = Instant::now();
        let mut last_checks = Instant::now();
        let mut refusals = Refusals::default();
        loop {
            if last_timers.elapsed() >= TIMERS_EVERY {
                let now = crate::runtime::now();
                w.stats.expired += self.slow_path.handle_timeout(now) as u64;
                refusals.log_new(self.store.as_deref(), &self.slow_path);
                last_timers = Instant::now();
            }
            if last_checks.elapsed() >= CHECKS_EVERY {
                last_checks = Instant::now();
                if let Some(psks) = self
                    .psk_reload
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                {
                    self.slow_path.set_psks(psks);
                }
                self.slow_path
                    .set_accepting(self.state.load(Ordering::Acquire) == RUN);
            }
            // Slow path first, a burst at a time and within a time budget
            // (a full exchange costs a DH: up to 1.4 ms with MODP-2048), so
            // the workers' SAs keep moving.
            let budget = Instant::now() + SLOW_BUDGET;
            let mut slow_work = 0;
            let held = w.slow_held();
            while !held && slow_open && slow_work < SLOW_BURST && Instant::now() < budget {
                match self.slow.try_recv() {
                    Ok(p) => {
                        slow_work += 1;
                        self.slow_packet(p, &mut w);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => slow_open = false,
                }
            }
            // The slow path's output first, in its order; while a sink
            // refuses one of its events, nothing behind it moves, not even
            // the workers' SAs (their queue fills: backpressure).
            if !self.hand_off_pending(&mut batch, &mut w) {
                self.publish(&w.stats);
                self.serve_slow_for(Duration::from_millis(10), &mut w);
                continue;
            }
            let mut disconnected = false;
            while batch.len() < BATCH {
                match self.sas.try_recv() {
                    Ok(sa) => batch.push(sa),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.take(&mut batch, &mut w);
                self.publish(&w.stats);
                continue;
            }
            if disconnected {
                break;
            }
            if slow_work > 0 {
                continue;
            }
            // Nothing to do: wait for either queue.
            for sink in &mut self.sinks {
                sink.poll();
            }
            self.publish(&w.stats);
            let wait = Duration::from_millis(20);
            if slow_open {
                crossbeam_channel::select! {
                    recv(self.slow) -> p => match p {
                        Ok(p) => self.slow_packet(p, &mut w),
                        Err(_) => slow_open = false,
                    },
                    recv(self.sas) -> sa => {
                        if let Ok(sa) = sa {
                            batch.push(sa);
                        }
                    },
                    default(wait) => {},
                }
            } else if let Ok(sa) = self.sas.recv_timeout(wait) {
                batch.push(sa);
            }
        }
        // The slow path's last output (empty unless the loop ended with a
        // sink refusing): as long as the sinks take it, until a forced stop.
        while !self.hand_off_pending(&mut batch, &mut w) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Every worker is gone and the queue is empty: wait until the sinks
        // have delivered what they took (the daemon's acknowledgements),
        // until the gateway gives up on them.
        for sink in &mut self.sinks {
            loop {
                let step = std::time::Instant::now() + Duration::from_millis(200);
                match sink.flush(step) {
                    Ok(()) => break,
                    Err(e) if self.abort.load(Ordering::Relaxed) => {
                        let lost = sink.pending() as u64;
                        w.stats.abandoned += lost;
                        tracing::error!(sink = sink.name(), lost, error = %e, "hand-off abandoned at shutdown");
                        break;
                    }
                    Err(_) => {}
                }
            }
        }
        self.publish(&w.stats);
        tracing::info!(
            received = w.stats.received,
            full_exchanges = self
                .slow_path
                .counters()
                .get(rebound_engine::slow_path::SlowPathCounter::Established),
            handed_off = w.stats.handed_off,
            "control plane done"
        );
    }

    /// One slow-path datagram: the answer goes back through its worker,
    /// new SAs and SA events join `w.pending`, in order.
    fn slow_packet(&mut self, p: SlowPacket, w: &mut Work) {
        w.stats.slow_path += 1;
        let meta = PacketMeta {
            peer: p.peer,
            local: p.local,
        };
        let outcome = self
            .slow_path
            .handle(crate::runtime::now(), &meta, &p.data, &mut w.out);
        if let Some(n) = outcome.reply {
            let reply = Reply {
                socket: p.socket,
                peer: p.peer,
                local: p.local.ip(),
                data: w.out[..n].to_vec(),
            };
            let sent = self
                .replies
                .get(p.worker as usize)
                .is_some_and(|tx| tx.try_send(reply).is_ok());
            if !sent {
                // The worker's queue is full (or it is gone): the peer
                // retransmits and gets the cached answer.
                w.stats.replies_dropped += 1;
            }
        }
        Self::slow_events(outcome.events, w);
    }

    /// What the slow path reports, in order: a new SA joins the queue of
    /// SAs, every other event the queue of events, behind what came first.
    fn slow_events(events: Vec<SaEvent>, w: &mut Work) {
        for event in events {
            match event {
                SaEvent::Established(sa) => w.push_sa(sa),
                SaEvent::Changed(change) => {
                    if let SaChange::Deleted { .. } = change {
                        w.stats.deleted += 1;
                    }
                    tracing::debug!(?change, "SA change");
                    w.push_event(change);
                }
            }
        }
    }

    /// Hand the slow path's output to the sinks in order: a run of SAs as
    /// batches (retried as [`ControlPlane::take`] does), a run of events
    /// once every sink has taken what came before. `false` when a sink
    /// refuses an event: the run waits at the front, and whatever follows
    /// it waits too. At a forced stop refused events are given up
    /// (counted) instead.
    #[allow(clippy::vec_box)]
    fn hand_off_pending(&mut self, batch: &mut Vec<Box<EstablishedSa>>, w: &mut Work) -> bool {
        loop {
            match w.pending.front_mut() {
                None => return true,
                Some(Run::Sas(sas)) => {
                    let n = sas.len().min(BATCH);
                    batch.extend(sas.drain(..n));
                    if sas.is_empty() {
                        w.pending.pop_front();
                    }
                    // Taking the batch may serve the slow path, which
                    // queues behind.
                    self.take(batch, w);
                }
                Some(Run::Events(_)) => {
                    if !self.hand_off_events(w) {
                        return false;
                    }
                }
            }
        }
    }

    /// Give each sink the events of the run at the front of `w.pending` it
    /// has yet to take; drop those every sink has. `true` once the run is
    /// gone (all taken, or given up at a forced stop).
    fn hand_off_events(&mut self, w: &mut Work) -> bool {
        let Some(Run::Events(run)) = w.pending.front_mut() else {
            return true;
        };
        let len = run.len();
        for (sink, taken) in self.sinks.iter_mut().zip(w.taken.iter_mut()) {
            while *taken < len {
                let end = len.min(*taken + BATCH);
                match sink.deliver_events(&run[*taken..end]) {
                    Ok(()) => *taken = end,
                    Err(e) => {
                        if e.kind() == std::io::ErrorKind::WouldBlock {
                            w.stats.sink_waits += 1;
                        } else {
                            w.stats.sink_errors += 1;
                            tracing::warn!(sink = sink.name(), error = %e, "hand-off of SA events failed; retrying");
                        }
                        break;
                    }
                }
            }
        }
        // What every sink has taken leaves the queue.
        let all = w.taken.iter().copied().min().unwrap_or(len);
        let done: Vec<SaChange> = run.drain(..all).collect();
        let left = run.len();
        for t in &mut w.taken {
            *t -= all;
        }
        w.count(&done, false);
        if left > 0 && !self.abort.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(Run::Events(rest)) = w.pending.pop_front()
            && !rest.is_empty()
        {
            tracing::error!(
                lost = rest.len(),
                "SA events not handed off to every sink: given up on forced stop"
            );
            w.count(&rest, true);
        }
        w.taken.iter_mut().for_each(|t| *t = 0);
        true
    }

    /// Answer slow-path datagrams for up to `wait` (instead of sleeping
    /// while a sink refuses): DPD, deletes and full exchanges go on under
    /// hand-off backpressure; their SAs and events wait in `w.pending`
    /// (up to [`SLOW_BACKLOG`]).
    fn serve_slow_for(&mut self, wait: Duration, w: &mut Work) {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if w.slow_held() {
                std::thread::sleep(left);
                return;
            }
            match self.slow.recv_timeout(left) {
                Ok(p) => self.slow_packet(p, w),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left);
                    return;
                }
            }
        }
    }

    fn publish(&self, stats: &ControlSnapshot) {
        let unacked = self.sinks.iter().map(|s| s.pending() as u64).sum();
        let recovered: u64 = self.sinks.iter().map(|s| s.failures()).sum();
        let mut s = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        *s = ControlSnapshot {
            sa_table: self.slow_path.established() as u64,
            half_open: self.slow_path.half_open() as u64,
            slow_path_counters: *self.slow_path.counters(),
            queue_depth: self.sas.len() as u64,
            unacked,
            sink_errors: stats.sink_errors + recovered,
            ..*stats
        };
    }

    /// Table bookkeeping for a batch, then hand it to every sink.
    // The SAs arrive boxed through the channel (a ~1 KB struct moved once
    // per hop); the batch keeps those boxes rather than copying them out.
    #[allow(clippy::vec_box)]
    fn take(&mut self, batch: &mut Vec<Box<EstablishedSa>>, w: &mut Work) {
        let slow_path = &mut self.slow_path;
        let stats = &mut w.stats;
        // INITIAL_CONTACT in a resumed IKE_AUTH: the identity's other SAs,
        // deleted when the resumed one is adopted.
        let mut events = Vec::new();
        let now = crate::runtime::now();
        batch.retain(|sa| {
            // The slow path's own SAs are in its table already.
            if sa.worker == CONTROL_SPI_TAG {
                return true;
            }
            stats.received += 1;
            if slow_path.contains(&sa.spi_i, &sa.spi_r) {
                // Two SAs with the same SPIs: a bug somewhere upstream.
                // Counted, and not handed off twice.
                stats.duplicates += 1;
                tracing::error!(spi_i = %hex::encode(sa.spi_i), spi_r = %hex::encode(sa.spi_r), "SA received twice");
                return false;
            }
            // RFC 5723 §4.3.4: once the resumed SA is up, "the old SA
            // SHOULD be silently deleted without sending a DELETE
            // informational exchange."
            if let Some((old_i, old_r)) = sa.replaces() {
                if slow_path.remove_silently(&old_i, &old_r) {
                    stats.silent_deletes += 1;
                } else {
                    stats.replaced_unknown += 1;
                }
            }
            // Its INFORMATIONAL and CREATE_CHILD_SA exchanges come here. An
            // SA that cannot be adopted (its SPIr taken by another SA) is
            // still handed off: the client holds it.
            match slow_path.adopt(now, sa) {
                Ok(ended) => events.extend(ended),
                Err(_) => {
                    stats.adopt_failed += 1;
                    tracing::warn!(spi_r = %hex::encode(sa.spi_r), "SPIr already in the SA table: SA handed off, its later exchanges go unanswered");
                }
            }
            true
        });
        Self::slow_events(events, w);
        let mut abandoned = false;
        for i in 0..self.sinks.len() {
            let mut backoff = Duration::from_millis(10);
            loop {
                let sink = &mut self.sinks[i];
                let Err(e) = sink.deliver(batch) else { break };
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    // The daemon's acknowledgement window is full: plain
                    // backpressure, not a failure.
                    w.stats.sink_waits += 1;
                    backoff = Duration::from_millis(10);
                } else {
                    w.stats.sink_errors += 1;
                    tracing::warn!(sink = sink.name(), error = %e, "hand-off failed; retrying");
                }
                if self.abort.load(Ordering::Relaxed) {
                    tracing::error!(
                        sink = sink.name(),
                        lost = batch.len(),
                        "hand-off abandoned on forced stop"
                    );
                    abandoned = true;
                    break;
                }
                {
                    // Keep the metrics moving while this sink is stuck.
                    let failures = sink.failures();
                    let pending = sink.pending() as u64;
                    let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
                    snap.queue_depth = self.sas.len() as u64;
                    snap.sink_errors = w.stats.sink_errors + failures;
                    snap.sink_waits = w.stats.sink_waits;
                    snap.unacked = pending;
                }
                self.serve_slow_for(backoff, w);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
        if abandoned {
            w.stats.abandoned += batch.len() as u64;
        } else {
            w.stats.handed_off += batch.len() as u64;
        }
        // Every sink has the SAs (or gave up); the slow path copied what
        // it keeps. The boxes go back to their workers.
        for mut sa in batch.drain(..) {
            if let Some(tx) = self.returns.get(usize::from(sa.worker)) {
                // Its keys are wiped now, not when the worker takes it.
                zeroize::Zeroize::zeroize(&mut sa.keys);
                sa.child = None;
                sa.new_ticket = None;
                let _ = tx.try_send(sa);
            }
        }
    }
}

#[cfg(test)]
mod tests;
