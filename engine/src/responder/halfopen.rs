//! The half-open table: IKE SAs whose IKE_SESSION_RESUME has been answered
//! and whose IKE_AUTH has not completed, plus, for one more timeout, the
//! cached IKE_AUTH answer of each completed exchange (retransmissions get
//! the same bytes).
//!
//! Bounded (a full table refuses new entries), expiring (a queue ordered by
//! deadline, swept from the front), and without allocation in steady state:
//! entries live in a slab whose slots, and their buffers, are reused.

use core::net::SocketAddr;
use std::collections::{HashMap, VecDeque};

use crate::crypto::IkeKeys;
use crate::handoff::NatStatus;
use crate::ticket::state::TicketState;
use crate::time::Timestamp;

/// What only an exchange in progress needs.
pub(crate) struct Pending {
    /// The opened ticket: the old SA's state.
    pub ticket: TicketState,
    /// The new SA's keys. The SK ciphers are made from them only when the
    /// IKE_AUTH arrives: most of a storm's cost is the first message.
    pub keys: IkeKeys,
    pub nat: NatStatus,
}

/// One slot.
pub(crate) struct Entry {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SESSION_RESUME request as received (RealMessage1).
    pub request: Vec<u8>,
    /// Our answer (RealMessage2), resent byte for byte on retransmission.
    pub response: Vec<u8>,
    /// After IKE_AUTH: the request and our answer to it.
    pub auth_request: Vec<u8>,
    pub auth_response: Vec<u8>,
    pub deadline: Timestamp,
    /// The exchange's keys in the pending slab, until the IKE_AUTH is
    /// answered: a completed entry keeps only its cached messages.
    pending: Option<u32>,
    generation: u64,
    in_use: bool,
}

impl Entry {
    fn vacant() -> Self {
        Entry {
            spi_i: [0; 8],
            spi_r: [0; 8],
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            local: SocketAddr::from(([0, 0, 0, 0], 0)),
            ni: Vec::new(),
            nr: Vec::new(),
            request: Vec::new(),
            response: Vec::new(),
            auth_request: Vec::new(),
            auth_response: Vec::new(),
            deadline: Timestamp(0),
            pending: None,
            generation: 0,
            in_use: false,
        }
    }
}

/// Handle to a slot.
pub(crate) type Slot = u32;

/// The table.
pub(crate) struct HalfOpenTable {
    /// Boxed so growing the slab moves pointers, not kilobytes of keys.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<Entry>>,
    free: Vec<Slot>,
    by_spi_r: HashMap<[u8; 8], Slot>,
    by_peer: HashMap<(SocketAddr, [u8; 8]), Slot>,
    expiry: VecDeque<(Timestamp, Slot, u64)>,
    /// Keys and ticket state of the exchanges in progress. Each slot is
    /// boxed once and reused, so steady state allocates nothing.
    #[allow(clippy::vec_box)]
    pendings: Vec<Box<Option<Pending>>>,
    free_pendings: Vec<u32>,
    /// Completed entries, oldest first, for eviction beyond the limit.
    completed: VecDeque<(Slot, u64)>,
    pending: usize,
    pending_limit: usize,
    completed_limit: usize,
}

/// What a new entry starts with; the buffers are copied into the slot's.
pub(crate) struct NewEntry<'a> {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub request: &'a [u8],
    pub deadline: Timestamp,
    pub pending: Pending,
}

impl HalfOpenTable {
    /// At most `pending_limit` exchanges waiting for their IKE_AUTH and
    /// `completed_limit` cached IKE_AUTH answers (the oldest is dropped
    /// first).
    pub fn new(pending_limit: usize, completed_limit: usize) -> Self {
        // Room for a first wave without rehashing; more grows on demand.
        let initial = pending_limit.min(1 << 14);
        HalfOpenTable {
            slots: Vec::with_capacity(initial),
            free: Vec::with_capacity(initial),
            by_spi_r: HashMap::with_capacity(initial),
            by_peer: HashMap::with_capacity(initial),
            expiry: VecDeque::with_capacity(initial),
            completed: VecDeque::new(),
            pendings: Vec::new(),
            free_pendings: Vec::with_capacity(initial),
            pending: 0,
            pending_limit,
            completed_limit,
        }
    }

    /// Exchanges waiting for their IKE_AUTH.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn contains_spi_r(&self, spi_r: &[u8; 8]) -> bool {
        self.by_spi_r.contains_key(spi_r)
    }

    /// Whether another exchange may start.
    pub fn is_full(&self) -> bool {
        self.pending >= self.pending_limit
    }

    /// The most half-open SAs the table holds.
    pub fn capacity(&self) -> usize {
        self.pending_limit
    }

    /// Insert; `None` when the table is full (nothing changes then).
    pub fn insert(&mut self, e: NewEntry<'_>) -> Option<Slot> {
        if self.is_full() || self.by_spi_r.contains_key(&e.spi_r) {
            return None;
        }
        // Indices are u32: refuse before changing anything if one would
        // not fit (beyond any sane limit, but never a panic or a leak).
        let (Ok(next_slot), Ok(next_pending)) = (
            Slot::try_from(self.slots.len()),
            u32::try_from(self.pendings.len()),
        ) else {
            return None;
        };
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Box::new(Entry::vacant()));
                next_slot
            }
        };
        let x = &mut self.slots[slot as usize];
        x.spi_i = e.spi_i;
        x.spi_r = e.spi_r;
        x.peer = e.peer;
        x.local = e.local;
        refill(&mut x.ni, e.ni);
        refill(&mut x.nr, e.nr);
        refill(&mut x.request, e.request);
        x.response.clear();
        x.auth_request.clear();
        x.auth_response.clear();
        x.deadline = e.deadline;
        let p = match self.free_pendings.pop() {
            Some(p) => {
                *self.pendings[p as usize] = Some(e.pending);
                p
            }
            None => {
                self.pendings.push(Box::new(Some(e.pending)));
                next_pending
            }
        };
        let x = &mut self.slots[slot as usize];
        x.pending = Some(p);
        x.generation += 1;
        x.in_use = true;
        self.by_spi_r.insert(e.spi_r, slot);
        self.by_peer.insert((e.peer, e.spi_i), slot);
        self.expiry.push_back((e.deadline, slot, x.generation));
        self.pending += 1;
        Some(slot)
    }

    pub fn entry(&self, slot: Slot) -> &Entry {
        &self.slots[slot as usize]
    }

    /// The entry and, while its IKE_AUTH is outstanding, its keys.
    pub fn get(&self, slot: Slot) -> (&Entry, Option<&Pending>) {
        let e = &self.slots[slot as usize];
        let p = e
            .pending
            .and_then(|p| self.pendings.get(p as usize))
            .and_then(|b| b.as_ref().as_ref());
        (e, p)
    }

    /// Drop an entry's keys (zeroized) and give its pending slot back.
    fn release_pending(&mut self, slot: Slot) -> bool {
        let Some(p) = self.slots[slot as usize].pending.take() else {
            return false;
        };
        if let Some(b) = self.pendings.get_mut(p as usize) {
            **b = None;
        }
        self.free_pendings.push(p);
        self.pending -= 1;
        true
    }

    pub fn entry_mut(&mut self, slot: Slot) -> &mut Entry {
        &mut self.slots[slot as usize]
    }

    pub fn by_spi_r(&self, spi_r: &[u8; 8]) -> Option<Slot> {
        self.by_spi_r.get(spi_r).copied()
    }

    /// The entry a retransmitted request from `peer` with `spi_i` belongs
    /// to.
    pub fn by_peer(&self, peer: SocketAddr, spi_i: &[u8; 8]) -> Option<Slot> {
        self.by_peer.get(&(peer, *spi_i)).copied()
    }

    /// The IKE_AUTH was answered: drop the keys, keep the cached answer
    /// until `deadline` (or until `completed_limit` newer ones push it
    /// out); returns how many older answers were evicted for room.
    pub fn complete(&mut self, slot: Slot, deadline: Timestamp) -> usize {
        self.release_pending(slot);
        let x = &mut self.slots[slot as usize];
        x.deadline = deadline;
        let generation = x.generation;
        self.expiry.push_back((deadline, slot, generation));
        self.completed.push_back((slot, generation));
        let mut evicted = 0;
        while self.completed.len() > self.completed_limit {
            let Some((old, g)) = self.completed.pop_front() else {
                break;
            };
            let y = &self.slots[old as usize];
            if y.in_use && y.generation == g && y.pending.is_none() {
                self.remove(old);
                evicted += 1;
            }
        }
        evicted
    }

    fn remove(&mut self, slot: Slot) {
        if !self.slots[slot as usize].in_use {
            return;
        }
        self.release_pending(slot);
        let x = &mut self.slots[slot as usize];
        x.in_use = false;
        self.by_spi_r.remove(&x.spi_r);
        if self.by_peer.get(&(x.peer, x.spi_i)) == Some(&slot) {
            self.by_peer.remove(&(x.peer, x.spi_i));
        }
        self.free.push(slot);
    }

    /// Remove every entry whose deadline is at or before `now`; returns
    /// how many of them were still pending (expired half-open SAs).
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let mut expired_pending = 0;
        while let Some(&(deadline, slot, generation)) = self.expiry.front() {
            if deadline > now {
                break;
            }
            self.expiry.pop_front();
            let x = &self.slots[slot as usize];
            // Stale queue items (the slot was reused, or completed with a
            // later deadline) are skipped.
            if x.in_use && x.generation == generation && x.deadline == deadline {
                if x.pending.is_some() {
                    expired_pending += 1;
                }
                self.remove(slot);
            }
        }
        expired_pending
    }

    /// The earliest deadline still queued (it may be stale: waking then
    /// does no harm).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.expiry.front().map(|&(d, _, _)| d)
    }
}

fn refill(v: &mut Vec<u8>, from: &[u8]) {
    v.clear();
    v.extend_from_slice(from);
}
