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

use zeroize::Zeroize;

use crate::crypto::IkeKeys;
use crate::handoff::NatStatus;
use crate::ticket::state::TicketState;
use crate::time::Timestamp;

/// What only an exchange in progress needs. Boxed once and reused: the
/// resume stage opens a ticket and derives the keys straight into a box
/// taken from the table's spares ([`HalfOpenTable::take_pending`]), the
/// box moves (a pointer) into its entry, and when the exchange ends the
/// box is wiped in place and goes back to the spares.
pub(crate) struct Pending {
    /// The opened ticket: the old SA's state.
    pub ticket: TicketState,
    /// The new SA's keys. The SK ciphers are made from them only when the
    /// IKE_AUTH arrives: most of a storm's cost is the first message.
    pub keys: IkeKeys,
    pub nat: NatStatus,
}

impl Pending {
    fn vacant() -> Self {
        Pending {
            ticket: TicketState::placeholder(),
            keys: IkeKeys::empty(),
            nat: NatStatus::default(),
        }
    }

    /// Zeroize the secrets in place (the old SA's SK_d, the new SA's keys).
    fn wipe(&mut self) {
        self.ticket.sk_d.zeroize();
        self.keys.zeroize();
        self.nat = NatStatus::default();
    }
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
    /// The exchange's ticket and keys, until the IKE_AUTH is answered: a
    /// completed entry keeps only its cached messages.
    pending: Option<Box<Pending>>,
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
    /// SPIr is random (we choose it) and SPIi is the peer's: a fast hash
    /// with a per-table random seed, not SipHash.
    by_spi_r: HashMap<[u8; 8], Slot, foldhash::fast::RandomState>,
    by_peer: HashMap<(SocketAddr, [u8; 8]), Slot, foldhash::fast::RandomState>,
    expiry: VecDeque<(Timestamp, Slot, u64)>,
    /// Wiped [`Pending`] boxes, ready for the next exchange, so steady
    /// state allocates nothing.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Pending>>,
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
    /// From [`HalfOpenTable::take_pending`], filled in.
    pub pending: Box<Pending>,
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
            by_spi_r: HashMap::with_capacity_and_hasher(initial, Default::default()),
            by_peer: HashMap::with_capacity_and_hasher(initial, Default::default()),
            expiry: VecDeque::with_capacity(initial),
            completed: VecDeque::new(),
            spare: Vec::with_capacity(initial),
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

    /// A wiped [`Pending`] to fill for a new exchange (a spare one; a new
    /// allocation only while the table grows). Give it to
    /// [`insert`](Self::insert), or back with
    /// [`give_back`](Self::give_back).
    pub fn take_pending(&mut self) -> Box<Pending> {
        self.spare
            .pop()
            .unwrap_or_else(|| Box::new(Pending::vacant()))
    }

    /// Wipe `p` and keep it for the next exchange.
    pub fn give_back(&mut self, mut p: Box<Pending>) {
        p.wipe();
        self.spare.push(p);
    }

    /// Insert; `None` when the table is full (nothing changes then, and
    /// the entry's `pending` goes back to the spares).
    pub fn insert(&mut self, e: NewEntry<'_>) -> Option<Slot> {
        if self.is_full() || self.by_spi_r.contains_key(&e.spi_r) {
            self.give_back(e.pending);
            return None;
        }
        // Indices are u32: refuse before changing anything if one would
        // not fit (beyond any sane limit, but never a panic or a leak).
        let Ok(next_slot) = Slot::try_from(self.slots.len()) else {
            self.give_back(e.pending);
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
        refill_nonce(&mut x.ni, e.ni);
        refill_nonce(&mut x.nr, e.nr);
        refill(&mut x.request, e.request);
        x.response.clear();
        x.auth_request.clear();
        x.auth_response.clear();
        x.deadline = e.deadline;
        x.pending = Some(e.pending);
        x.generation += 1;
        x.in_use = true;
        let generation = x.generation;
        self.by_spi_r.insert(e.spi_r, slot);
        self.by_peer.insert((e.peer, e.spi_i), slot);
        self.expiry.push_back((e.deadline, slot, generation));
        self.pending += 1;
        Some(slot)
    }

    pub fn entry(&self, slot: Slot) -> &Entry {
        &self.slots[slot as usize]
    }

    /// The entry and, while its IKE_AUTH is outstanding, its keys.
    pub fn get(&self, slot: Slot) -> (&Entry, Option<&Pending>) {
        let e = &self.slots[slot as usize];
        (e, e.pending.as_deref())
    }

    /// Wipe an entry's keys and keep the box for the next exchange.
    fn release_pending(&mut self, slot: Slot) -> bool {
        let Some(p) = self.slots[slot as usize].pending.take() else {
            return false;
        };
        self.give_back(p);
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
        // The completed queue's front is its oldest: drop what no longer
        // names a live completed entry, so the queue holds only those (not
        // every answer since the last eviction).
        while let Some(&(slot, g)) = self.completed.front() {
            let y = &self.slots[slot as usize];
            if y.in_use && y.generation == g && y.pending.is_none() {
                break;
            }
            self.completed.pop_front();
        }
        expired_pending
    }

    /// The earliest deadline still queued (it may be stale: waking then
    /// does no harm).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.expiry.front().map(|&(d, _, _)| d)
    }
}

/// Replace `v`'s bytes with `from`. A slot's buffers serve one exchange
/// after another, whose messages differ by a few bytes: a buffer that
/// must grow grows to the next power of two (at least 256 bytes), so it
/// soon fits every occupant and steady state allocates nothing.
pub(crate) fn refill(v: &mut Vec<u8>, from: &[u8]) {
    refill_at_least(v, from, 256);
}

/// As [`refill`], for a nonce: the next power of two without the
/// messages' 256-byte floor (a 32-byte nonce keeps 32 bytes).
fn refill_nonce(v: &mut Vec<u8>, from: &[u8]) {
    refill_at_least(v, from, 0);
}

fn refill_at_least(v: &mut Vec<u8>, from: &[u8], floor: usize) {
    v.clear();
    if v.capacity() < from.len() {
        v.reserve_exact(from.len().next_power_of_two().max(floor));
    }
    v.extend_from_slice(from);
}
