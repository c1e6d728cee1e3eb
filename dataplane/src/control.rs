//! The control plane thread: receives every established SA from the
//! workers, keeps the table of established SAs, deletes a replaced SA
//! silently, and passes every SA to the hand-off sinks. It also runs the
//! slow path: the full exchange (IKE_SA_INIT, IKE_AUTH with a PSK) and
//! everything on an established SA (INFORMATIONAL, CREATE_CHILD_SA), in an
//! [`InitialResponder`] that also holds the SA table. Its answers go back
//! through the worker that received the request (that worker owns the
//! socket).
//!
//! It never drops an SA: the queue from the workers is bounded, and while a
//! sink refuses a batch the control plane retries it and takes nothing new,
//! so the queue fills and the workers hold their SAs (backpressure).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::initial::{CONTROL_SPI_TAG, InitialResponder, PskTable, SaEvent};
use rebound_engine::responder::PacketMeta;

use crate::gateway::ControlSnapshot;
use crate::sink::HandoffSink;
use crate::worker::{RUN, Reply};

/// A datagram the workers pass to the control plane.
#[derive(Debug)]
pub struct SlowPacket {
    pub worker: u8,
    /// Index of the listening socket it arrived on (the same in every
    /// worker).
    pub socket: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub data: Vec<u8>,
}

/// How often the slow path's timers run (half-open expiry, the
/// re-authentication sweep, cookie rotation).
const TIMERS_EVERY: Duration = Duration::from_secs(1);

/// How often a PSK reload and the drain state are looked for.
const CHECKS_EVERY: Duration = Duration::from_millis(100);

/// The most slow-path datagrams handled before the SA queue is looked at
/// again.
const SLOW_BURST: usize = 64;

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
    pub initial: InitialResponder,
    /// Answers to each worker, by worker id.
    pub replies: Vec<Sender<Reply>>,
    /// A reloaded PSK table, taken on the next loop.
    pub psk_reload: Arc<Mutex<Option<Arc<PskTable>>>>,
    /// The workers' run state: while draining, no new full exchanges.
    pub state: Arc<AtomicU8>,
}

impl ControlPlane {
    /// Runs until every worker has dropped its sender and the queue is
    /// empty.
    pub fn run(mut self) {
        let mut stats = ControlSnapshot::default();
        let mut batch: Vec<Box<EstablishedSa>> = Vec::with_capacity(BATCH);
        let mut slow_open = true;
        let mut last_timers = Instant::now();
        let mut last_checks = Instant::now();
        let mut out = vec![0u8; REPLY_BUF];
        // Deletes each sink has yet to take.
        let mut deletes: Vec<Vec<([u8; 8], [u8; 8])>> = vec![Vec::new(); self.sinks.len()];
        loop {
            if last_timers.elapsed() >= TIMERS_EVERY {
                let now = crate::worker::now();
                stats.expired += self.initial.handle_timeout(now) as u64;
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
                    self.initial.set_psks(psks);
                }
                self.initial
                    .set_accepting(self.state.load(Ordering::Acquire) == RUN);
            }
            // Slow path first, a burst at a time: its SAs join the batch.
            let mut slow_work = 0;
            while slow_open && slow_work < SLOW_BURST {
                match self.slow.try_recv() {
                    Ok(p) => {
                        slow_work += 1;
                        self.slow_packet(p, &mut out, &mut batch, &mut deletes, &mut stats);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => slow_open = false,
                }
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
                self.take(&mut batch, &mut stats);
                self.publish(&stats);
                continue;
            }
            // Deletes after the batches that held their SAs.
            self.hand_off_deletes(&mut deletes, &mut stats);
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
            self.publish(&stats);
            let wait = Duration::from_millis(20);
            if slow_open {
                crossbeam_channel::select! {
                    recv(self.slow) -> p => match p {
                        Ok(p) => self.slow_packet(p, &mut out, &mut batch, &mut deletes, &mut stats),
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
        // The last deletes, as long as the sinks take them.
        let give_up = Instant::now() + Duration::from_secs(5);
        while deletes.iter().any(|d| !d.is_empty()) && Instant::now() < give_up {
            self.hand_off_deletes(&mut deletes, &mut stats);
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
                        stats.abandoned += lost;
                        tracing::error!(sink = sink.name(), lost, error = %e, "hand-off abandoned at shutdown");
                        break;
                    }
                    Err(_) => {}
                }
            }
        }
        self.publish(&stats);
        tracing::info!(
            received = stats.received,
            full_exchanges = self
                .initial
                .counters()
                .get(rebound_engine::initial::InitCounter::Established),
            handed_off = stats.handed_off,
            "control plane done"
        );
    }

    /// One slow-path datagram: the answer goes back through its worker,
    /// a new SA joins the hand-off batch.
    #[allow(clippy::vec_box)]
    fn slow_packet(
        &mut self,
        p: SlowPacket,
        out: &mut [u8],
        batch: &mut Vec<Box<EstablishedSa>>,
        deletes: &mut [Vec<([u8; 8], [u8; 8])>],
        stats: &mut ControlSnapshot,
    ) {
        stats.slow_path += 1;
        let meta = PacketMeta {
            peer: p.peer,
            local: p.local,
        };
        let outcome = self
            .initial
            .handle(crate::worker::now(), &meta, &p.data, out);
        if let Some(n) = outcome.reply {
            let reply = Reply {
                socket: p.socket,
                peer: p.peer,
                local: p.local.ip(),
                data: out[..n].to_vec(),
            };
            let sent = self
                .replies
                .get(p.worker as usize)
                .is_some_and(|tx| tx.try_send(reply).is_ok());
            if !sent {
                // The worker's queue is full (or it is gone): the peer
                // retransmits and gets the cached answer.
                stats.replies_dropped += 1;
            }
        }
        match outcome.event {
            Some(SaEvent::Established(sa)) => batch.push(sa),
            Some(SaEvent::Deleted { spi_i, spi_r }) => {
                stats.deleted += 1;
                for d in deletes.iter_mut() {
                    d.push((spi_i, spi_r));
                }
                tracing::debug!(spi_i = %hex::encode(spi_i), spi_r = %hex::encode(spi_r), "IKE SA deleted by the peer");
            }
            None => {}
        }
    }

    /// Give each sink the deletes it has yet to take; a sink that refuses
    /// keeps them for the next loop (the window of a slow daemon).
    fn hand_off_deletes(
        &mut self,
        deletes: &mut [Vec<([u8; 8], [u8; 8])>],
        stats: &mut ControlSnapshot,
    ) {
        for (sink, pending) in self.sinks.iter_mut().zip(deletes.iter_mut()) {
            if pending.is_empty() {
                continue;
            }
            match sink.deliver_deleted(pending) {
                Ok(()) => pending.clear(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stats.sink_waits += 1,
                Err(e) => {
                    stats.sink_errors += 1;
                    tracing::warn!(sink = sink.name(), error = %e, "hand-off of deletes failed; retrying");
                }
            }
        }
    }

    fn publish(&self, stats: &ControlSnapshot) {
        let unacked = self.sinks.iter().map(|s| s.pending() as u64).sum();
        let recovered: u64 = self.sinks.iter().map(|s| s.failures()).sum();
        let mut s = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        *s = ControlSnapshot {
            sa_table: self.initial.established() as u64,
            half_open: self.initial.half_open() as u64,
            initial: *self.initial.counters(),
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
    fn take(&mut self, batch: &mut Vec<Box<EstablishedSa>>, stats: &mut ControlSnapshot) {
        let initial = &mut self.initial;
        batch.retain(|sa| {
            // The slow path's own SAs are in its table already.
            if sa.worker == CONTROL_SPI_TAG {
                return true;
            }
            stats.received += 1;
            if initial.contains(&sa.spi_i, &sa.spi_r) {
                // Two SAs with the same SPIs: a bug somewhere upstream.
                // Counted, and not handed off twice.
                stats.duplicates += 1;
                tracing::error!(spi_i = %hex::encode(sa.spi_i), spi_r = %hex::encode(sa.spi_r), "SA received twice");
                return false;
            }
            // RFC 5723 §4.3.4 (paraphrased): once the resumed SA is up, the
            // old one is deleted silently, with no Delete payload sent.
            if let Some((old_i, old_r)) = sa.replaces() {
                if initial.remove_silently(&old_i, &old_r) {
                    stats.silent_deletes += 1;
                } else {
                    stats.replaced_unknown += 1;
                }
            }
            // Its INFORMATIONAL and CREATE_CHILD_SA exchanges come here.
            if !initial.adopt(sa) {
                stats.duplicates += 1;
                tracing::error!(spi_r = %hex::encode(sa.spi_r), "SPIr already in the SA table");
                return false;
            }
            true
        });
        let mut abandoned = false;
        for sink in &mut self.sinks {
            let mut backoff = Duration::from_millis(10);
            while let Err(e) = sink.deliver(batch) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    // The daemon's acknowledgement window is full: plain
                    // backpressure, not a failure.
                    stats.sink_waits += 1;
                    backoff = Duration::from_millis(10);
                } else {
                    stats.sink_errors += 1;
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
                    let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
                    snap.queue_depth = self.sas.len() as u64;
                    snap.sink_errors = stats.sink_errors + sink.failures();
                    snap.sink_waits = stats.sink_waits;
                    snap.unacked = sink.pending() as u64;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
        if abandoned {
            stats.abandoned += batch.len() as u64;
            batch.clear();
            return;
        }
        stats.handed_off += batch.len() as u64;
        batch.clear();
    }
}
