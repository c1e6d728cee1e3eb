//! Where by-reference tickets keep their state (RFC 5723 §6.1 "ticket by
//! reference"; draft-xu-ike-sa-sync's "stub bank"). The trait is what the
//! cluster issue implements over Redis; here, a sharded, bounded in-memory
//! store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use core::fmt;

use super::state::TicketState;
use super::types::{TicketId, UnixSeconds};

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is at capacity even after dropping expired entries; the
    /// caller issues a by-value ticket or TICKET_ACK instead.
    Full,
    /// An entry with this id exists already: ids are never reused.
    Duplicate,
    /// The backing store failed (network, protocol); the message says how.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Full => write!(f, "ticket store full"),
            StoreError::Duplicate => write!(f, "ticket id already in the store"),
            StoreError::Backend(m) => write!(f, "ticket store backend: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// State for by-reference tickets, shared by every worker.
pub trait TicketStore: Send + Sync {
    /// Keep `state` under `id` until `state.expiry`; refuses an id that is
    /// already present (`Duplicate`) rather than replacing its state.
    fn put(&self, id: &TicketId, state: &TicketState, now: UnixSeconds) -> Result<(), StoreError>;
    /// The state under `id`, unless absent or expired.
    fn get(&self, id: &TicketId, now: UnixSeconds) -> Result<Option<TicketState>, StoreError>;
    /// Forget `id` (revocation, DELETE of the IKE SA); whether it was there.
    fn remove(&self, id: &TicketId) -> Result<bool, StoreError>;
    /// Keep a state that came from elsewhere (a cluster's stub bank) so
    /// that later requests with its ticket find it here; unlike
    /// [`put`](Self::put) it is not written back to where it came from.
    /// The default is `put`.
    fn adopt(
        &self,
        id: &TicketId,
        state: &TicketState,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        self.put(id, state, now)
    }
    /// Drop the entries expired at `now`; how many. The gateway calls it
    /// every second. A backend that expires entries itself (a TTL) keeps
    /// the default, which does nothing.
    fn purge_expired(&self, _now: UnixSeconds) -> usize {
        0
    }
    /// What the store holds and has refused, for metrics.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// A [`TicketStore`]'s gauges and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries held now (expired ones included until purged).
    pub entries: u64,
    /// The most entries it holds; 0 when the backend sets no bound.
    pub capacity: u64,
    /// Tickets refused because the store was full (answered TICKET_NACK).
    pub full: u64,
    /// Expired entries dropped.
    pub expired: u64,
}

/// A sharded, bounded in-memory [`TicketStore`]. A shard is picked by the
/// id's first byte (ids are uniformly random; the shard count is a power
/// of two dividing 256, so every shard gets the same share), and workers
/// contend only when they touch the same shard at the same instant.
///
/// Each entry keeps its expiry beside a boxed state, so a sweep for
/// expired entries reads 32 bytes an entry instead of the whole ~850-byte
/// state. A full shard is swept at most once a second on `put` (the
/// gateway's [`purge_expired`](TicketStore::purge_expired) sweeps every
/// shard each second too); between sweeps a full shard refuses at once,
/// so a storm against a full store costs no scan per ticket.
pub struct MemoryTicketStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    capacity: usize,
    full: AtomicU64,
    expired: AtomicU64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<TicketId, (UnixSeconds, Box<TicketState>)>,
    /// When `put` last swept this shard for expired entries.
    swept_at: UnixSeconds,
}

impl Shard {
    /// Drop the entries expired at `now`; how many.
    fn sweep(&mut self, now: UnixSeconds) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, (expiry, _)| *expiry > now);
        self.swept_at = now;
        before - self.entries.len()
    }
}

impl fmt::Debug for MemoryTicketStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MemoryTicketStore({} shards x {})",
            self.shards.len(),
            self.per_shard
        )
    }
}

impl MemoryTicketStore {
    /// A store for at most `capacity` tickets in `shards` shards (rounded
    /// down to a power of two from 1 to 256; each shard holds
    /// `capacity / shards`, rounded up).
    pub fn new(capacity: usize, shards: usize) -> Self {
        let shards = 1usize << shards.clamp(1, 256).ilog2();
        let per_shard = capacity.div_ceil(shards).max(1);
        MemoryTicketStore {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            capacity: capacity.max(1),
            full: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: &TicketId) -> &Mutex<Shard> {
        &self.shards[id.0[0] as usize % self.shards.len()]
    }

    /// Number of entries, expired ones included until they are purged.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.entries.len()).unwrap_or(0))
            .sum()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("a worker panicked while holding a store shard".into())
}

impl TicketStore for MemoryTicketStore {
    fn put(&self, id: &TicketId, state: &TicketState, now: UnixSeconds) -> Result<(), StoreError> {
        let mut m = self.shard(id).lock().map_err(|_| poisoned())?;
        if m.entries.get(id).is_some_and(|(expiry, _)| *expiry > now) {
            return Err(StoreError::Duplicate);
        }
        if m.entries.len() >= self.per_shard && !m.entries.contains_key(id) {
            if m.swept_at < now {
                let dropped = m.sweep(now);
                self.expired.fetch_add(dropped as u64, Ordering::Relaxed);
            }
            if m.entries.len() >= self.per_shard {
                self.full.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::Full);
            }
        }
        m.entries
            .insert(*id, (state.expiry, Box::new(state.clone())));
        Ok(())
    }

    fn get(&self, id: &TicketId, now: UnixSeconds) -> Result<Option<TicketState>, StoreError> {
        let m = self.shard(id).lock().map_err(|_| poisoned())?;
        Ok(m.entries
            .get(id)
            .filter(|(expiry, _)| *expiry > now)
            .map(|(_, s)| (**s).clone()))
    }

    fn remove(&self, id: &TicketId) -> Result<bool, StoreError> {
        let mut m = self.shard(id).lock().map_err(|_| poisoned())?;
        Ok(m.entries.remove(id).is_some())
    }

    /// One shard locked at a time, so workers wait at most for one shard's
    /// sweep.
    fn purge_expired(&self, now: UnixSeconds) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            if let Ok(mut m) = shard.lock() {
                dropped += m.sweep(now);
            }
        }
        self.expired.fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            entries: self.len() as u64,
            capacity: self.capacity as u64,
            full: self.full.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }
}
