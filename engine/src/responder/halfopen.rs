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

use crate::crypto::{IkeKeys, SkCipher};
use crate::handoff::NatStatus;
use crate::ticket::state::TicketState;
use crate::time::Timestamp;

/// What only an exchange in progress needs.
pub(crate) struct Pending {
    /// The opened ticket: the old SA's state.
    pub ticket: TicketState,
    pub keys: IkeKeys,
    /// Decrypts the initiator's messages.
    pub inbound: SkCipher,
    /// Encrypts ours.
    pub outbound: SkCipher,
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
    /// `Some` until the IKE_AUTH is answered.
    pub pending: Option<Pending>,
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
    slots: Vec<Entry>,
    free: Vec<Slot>,
    by_spi_r: HashMap<[u8; 8], Slot>,
    by_peer: HashMap<(SocketAddr, [u8; 8]), Slot>,
    expiry: VecDeque<(Timestamp, Slot, u64)>,
    pending: usize,
    capacity: usize,
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
    pub fn new(capacity: usize) -> Self {
        HalfOpenTable {
            slots: Vec::new(),
            free: Vec::new(),
            by_spi_r: HashMap::new(),
            by_peer: HashMap::new(),
            expiry: VecDeque::new(),
            pending: 0,
            capacity,
        }
    }

    /// Entries in use (pending and completed).
    pub fn len(&self) -> usize {
        self.by_spi_r.len()
    }

    /// Exchanges waiting for their IKE_AUTH.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn contains_spi_r(&self, spi_r: &[u8; 8]) -> bool {
        self.by_spi_r.contains_key(spi_r)
    }

    /// Insert; `None` when the table is full (nothing changes then).
    pub fn insert(&mut self, e: NewEntry<'_>) -> Option<Slot> {
        if self.len() >= self.capacity || self.by_spi_r.contains_key(&e.spi_r) {
            return None;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let s = Slot::try_from(self.slots.len()).ok()?;
                self.slots.push(Entry::vacant());
                s
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
        x.pending = Some(e.pending);
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
    /// until `deadline`.
    pub fn complete(&mut self, slot: Slot, deadline: Timestamp) {
        let x = &mut self.slots[slot as usize];
        if x.pending.take().is_some() {
            self.pending -= 1;
        }
        x.deadline = deadline;
        self.expiry.push_back((deadline, slot, x.generation));
    }

    fn remove(&mut self, slot: Slot) {
        let x = &mut self.slots[slot as usize];
        if !x.in_use {
            return;
        }
        if x.pending.take().is_some() {
            self.pending -= 1;
        }
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
