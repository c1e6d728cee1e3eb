//! The control plane thread: receives every established SA from the
//! workers, keeps the table of established SAs, deletes a replaced SA
//! silently, and passes every SA to the hand-off sinks. It also receives
//! the slow-path datagrams (full exchanges, INFORMATIONAL); until the full
//! IKE exchange is built they are counted and dropped.
//!
//! It never drops an SA: the queue from the workers is bounded, and while a
//! sink refuses a batch the control plane retries it and takes nothing new,
//! so the queue fills and the workers hold their SAs (backpressure).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use rebound_engine::handoff::EstablishedSa;

use crate::gateway::ControlSnapshot;
use crate::sink::HandoffSink;

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

/// What the control plane keeps per established SA: the keys and the rest
/// went to the sinks; the table answers "is this SA here" (silent delete,
/// duplicates) and "when does it leave" (the sweep).
#[derive(Debug, Clone, Copy)]
pub struct SaRecord {
    /// Past this the SA must have been re-authenticated by a full
    /// exchange: the entry is dropped from the table.
    pub reauth_deadline: u64,
}

/// How often the table is swept for SAs past their re-authentication
/// deadline (until DELETE and rekey arrive with the slow path, the only
/// way an entry leaves the table besides a silent delete).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The SA table: SPIi, SPIr → record.
type SaTable = HashMap<([u8; 8], [u8; 8]), SaRecord>;

/// Drop the SAs whose re-authentication deadline is at or before `now`;
/// how many went.
fn sweep(table: &mut SaTable, now: u64) -> u64 {
    let before = table.len();
    table.retain(|_, r| r.reauth_deadline > now);
    (before - table.len()) as u64
}

/// The most SAs handed to the sinks in one batch.
const BATCH: usize = 256;

pub struct ControlPlane {
    pub sas: Receiver<Box<EstablishedSa>>,
    pub slow: Receiver<SlowPacket>,
    pub sinks: Vec<Box<dyn HandoffSink>>,
    pub snapshot: Arc<Mutex<ControlSnapshot>>,
    /// Set on a forced stop: give up retrying a refusing sink.
    pub abort: Arc<AtomicBool>,
}

impl ControlPlane {
    /// Runs until every worker has dropped its sender and the queue is
    /// empty.
    pub fn run(mut self) {
        let mut table: SaTable = HashMap::new();
        let mut stats = ControlSnapshot::default();
        let mut batch: Vec<Box<EstablishedSa>> = Vec::with_capacity(BATCH);
        let mut slow_open = true;
        let mut last_sweep = std::time::Instant::now();
        loop {
            if last_sweep.elapsed() >= SWEEP_EVERY {
                stats.expired += sweep(&mut table, crate::worker::now().secs());
                last_sweep = std::time::Instant::now();
            }
            // Slow path first, without waiting: it never holds up SAs.
            while slow_open {
                match self.slow.try_recv() {
                    Ok(p) => {
                        stats.slow_path += 1;
                        tracing::debug!(
                            worker = p.worker,
                            peer = %p.peer,
                            len = p.data.len(),
                            "slow-path datagram dropped: the full exchange is not built yet"
                        );
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => slow_open = false,
                }
            }
            match self.sas.recv_timeout(Duration::from_millis(20)) {
                Ok(sa) => batch.push(sa),
                Err(RecvTimeoutError::Timeout) => {
                    for sink in &mut self.sinks {
                        sink.poll();
                    }
                    self.publish(&stats, table.len());
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < BATCH {
                match self.sas.try_recv() {
                    Ok(sa) => batch.push(sa),
                    Err(_) => break,
                }
            }
            self.take(&mut batch, &mut table, &mut stats);
            self.publish(&stats, table.len());
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
        self.publish(&stats, table.len());
        tracing::info!(
            received = stats.received,
            handed_off = stats.handed_off,
            "control plane done"
        );
    }

    fn publish(&self, stats: &ControlSnapshot, table: usize) {
        let unacked = self.sinks.iter().map(|s| s.pending() as u64).sum();
        let recovered: u64 = self.sinks.iter().map(|s| s.failures()).sum();
        let mut s = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        *s = ControlSnapshot {
            sa_table: table as u64,
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
    fn take(
        &mut self,
        batch: &mut Vec<Box<EstablishedSa>>,
        table: &mut SaTable,
        stats: &mut ControlSnapshot,
    ) {
        batch.retain(|sa| {
            stats.received += 1;
            let key = (sa.spi_i, sa.spi_r);
            if table.contains_key(&key) {
                // Two SAs with the same SPIs: a bug somewhere upstream.
                // Counted, and not handed off twice.
                stats.duplicates += 1;
                tracing::error!(spi_i = %hex::encode(sa.spi_i), spi_r = %hex::encode(sa.spi_r), "SA received twice");
                return false;
            }
            // RFC 5723 §4.3.4 (paraphrased): once the resumed SA is up, the
            // old one is deleted silently, with no Delete payload sent.
            if let Some(old) = sa.replaces() {
                if table.remove(&old).is_some() {
                    stats.silent_deletes += 1;
                } else {
                    stats.replaced_unknown += 1;
                }
            }
            table.insert(
                key,
                SaRecord {
                    reauth_deadline: sa.reauth_deadline,
                },
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_drops_exactly_the_sas_past_their_deadline() {
        let rec = |deadline| SaRecord {
            reauth_deadline: deadline,
        };
        let mut t = SaTable::new();
        t.insert(([1; 8], [1; 8]), rec(99));
        t.insert(([2; 8], [2; 8]), rec(100));
        t.insert(([3; 8], [3; 8]), rec(101));
        assert_eq!(sweep(&mut t, 100), 2);
        assert_eq!(t.len(), 1);
        assert!(t.contains_key(&([3; 8], [3; 8])));
        assert_eq!(sweep(&mut t, 100), 0);
    }
}
