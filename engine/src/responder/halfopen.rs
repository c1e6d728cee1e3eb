//! The half-open table: IKE SAs whose IKE_SESSION_RESUME has been answered
//! and whose IKE_AUTH has not completed, plus, for one more timeout, the
//! cached IKE_AUTH answer of each completed exchange (retransmissions get
//! the same bytes).
//!
//! Bounded (a full table refuses new entries: by count, by the bytes it
//! holds, and per ticket and per source address), expiring (a queue
//! ordered by deadline, swept from the front), without allocation in
//! steady state (entries live in a slab whose slots, and their buffers,
//! are reused), and giving memory back after a flood (the slab is cut
//! back to what the last two timeouts needed, see [`HalfOpenTable::trim`]).

use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, VecDeque};

use zeroize::Zeroize;

use crate::crypto::IkeKeys;
use crate::handoff::NatStatus;
use crate::ticket::TicketId;
use crate::ticket::state::TicketState;
use crate::time::Timestamp;

/// What the table's own indexes (two maps, the deadline and completed
/// queues, the free list) cost per slot, counted with the slot's memory:
/// an estimate from the entry sizes at the maps' load factor.
const INDEX_BYTES: usize = 128;

/// The table is never cut back below this many slots: what a small burst
/// needs without allocating again.
const TRIM_FLOOR: usize = 1024;

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
    /// Unique over the table's life (not per slot), so a queue item names
    /// one occupancy even after a slot's box moves ([`HalfOpenTable::trim`]).
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

impl Entry {
    /// The heap bytes of its buffers.
    fn buffer_bytes(&self) -> usize {
        self.ni.capacity()
            + self.nr.capacity()
            + self.request.capacity()
            + self.response.capacity()
            + self.auth_request.capacity()
            + self.auth_response.capacity()
    }
}

/// The bytes one slot costs apart from its buffers.
const SLOT_BYTES: usize = core::mem::size_of::<Entry>() + INDEX_BYTES;
/// The bytes one [`Pending`] box costs.
const PENDING_BYTES: usize = core::mem::size_of::<Pending>();

/// Handle to a slot.
pub(crate) type Slot = u32;

/// The key a source address is counted under: an IPv4 address, or the
/// /64 an IPv6 address is in (one host commonly holds a whole /64, so
/// counting single IPv6 addresses would bound nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey(u128);

impl SourceKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => SourceKey(u128::from(a.to_ipv6_mapped())),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                // A dual-stack socket's view of an IPv4 peer.
                Some(v4) => SourceKey(u128::from(v4.to_ipv6_mapped())),
                None => SourceKey(u128::from(a) & !u128::from(u64::MAX)),
            },
        }
    }
}

/// The table's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableLimits {
    /// Exchanges waiting for their IKE_AUTH.
    pub pending: usize,
    /// Cached IKE_AUTH answers.
    pub completed: usize,
    /// Bytes the table may hold (slots, their buffers, the exchanges'
    /// keys); completed answers are dropped, oldest first, to stay under
    /// it before a new exchange is refused.
    pub bytes: usize,
    /// How long a slab's size is kept after it was needed before it is
    /// cut back.
    pub trim_after_ms: u64,
}

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
    limits: TableLimits,
    /// Slots in use (pending or completed).
    in_use: usize,
    /// What the slab, its buffers and every [`Pending`] box (spares too)
    /// hold, as counted by [`SLOT_BYTES`], [`PENDING_BYTES`] and the
    /// buffers' capacities.
    bytes: usize,
    next_generation: u64,
    /// Pending exchanges per ticket and per source (entries only while
    /// non-zero).
    per_ticket: HashMap<TicketId, u32, foldhash::fast::RandomState>,
    per_source: HashMap<SourceKey, u32, foldhash::fast::RandomState>,
    /// The most slots in use since the last trim, and when that was.
    high_water: usize,
    last_trim: Option<Timestamp>,
    /// Trims that gave memory back (spare boxes dropped or slots cut).
    trims: u64,
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
    /// Within `limits`: at most `limits.pending` exchanges waiting for
    /// their IKE_AUTH, `limits.completed` cached IKE_AUTH answers (the
    /// oldest is dropped first) and about `limits.bytes` in all.
    pub fn new(limits: TableLimits) -> Self {
        // Room for a first wave without rehashing; more grows on demand.
        let initial = limits.pending.min(1 << 14);
        HalfOpenTable {
            slots: Vec::with_capacity(initial),
            free: Vec::with_capacity(initial),
            by_spi_r: HashMap::with_capacity_and_hasher(initial, Default::default()),
            by_peer: HashMap::with_capacity_and_hasher(initial, Default::default()),
            expiry: VecDeque::with_capacity(initial),
            completed: VecDeque::new(),
            spare: Vec::with_capacity(initial),
            pending: 0,
            limits,
            in_use: 0,
            bytes: 0,
            next_generation: 1,
            per_ticket: HashMap::with_capacity_and_hasher(initial, Default::default()),
            per_source: HashMap::with_capacity_and_hasher(initial, Default::default()),
            high_water: 0,
            last_trim: None,
            trims: 0,
        }
    }

    /// The bytes the table holds (see [`TableLimits::bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The slots the slab has (in use or free).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Exchanges waiting for their IKE_AUTH with the ticket `id`.
    pub fn ticket_pending(&self, id: &TicketId) -> usize {
        self.per_ticket.get(id).map_or(0, |&n| n as usize)
    }

    /// Exchanges waiting for their IKE_AUTH from `source`.
    pub fn source_pending(&self, source: SourceKey) -> usize {
        self.per_source.get(&source).map_or(0, |&n| n as usize)
    }

    /// Whether the table is at its byte bound after dropping cached
    /// answers for room (over the bound, a slot that empties gives its
    /// buffers back, see [`remove`](Self::remove)); returns how many were
    /// dropped too.
    pub fn out_of_memory(&mut self) -> (bool, usize) {
        let mut evicted = 0;
        while self.bytes >= self.limits.bytes {
            if !self.evict_oldest_completed() {
                return (true, evicted);
            }
            evicted += 1;
        }
        (false, evicted)
    }

    /// Drop the oldest cached answer; `false` when there is none.
    fn evict_oldest_completed(&mut self) -> bool {
        while let Some((old, g)) = self.completed.pop_front() {
            let y = &self.slots[old as usize];
            if y.in_use && y.generation == g && y.pending.is_none() {
                self.remove(old);
                return true;
            }
        }
        false
    }

    /// Exchanges waiting for their IKE_AUTH.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn contains_spi_r(&self, spi_r: &[u8; 8]) -> bool {
        self.by_spi_r.contains_key(spi_r)
    }

    /// Whether another exchange may start (by count and by bytes; call
    /// [`out_of_memory`](Self::out_of_memory) first to make room).
    pub fn is_full(&self) -> bool {
        self.pending >= self.limits.pending || self.bytes >= self.limits.bytes
    }

    /// The most half-open SAs the table holds.
    pub fn capacity(&self) -> usize {
        self.limits.pending
    }

    /// A wiped [`Pending`] to fill for a new exchange (a spare one; a new
    /// allocation only while the table grows). Give it to
    /// [`insert`](Self::insert), or back with
    /// [`give_back`](Self::give_back).
    pub fn take_pending(&mut self) -> Box<Pending> {
        self.spare.pop().unwrap_or_else(|| {
            self.bytes += PENDING_BYTES;
            Box::new(Pending::vacant())
        })
    }

    /// Wipe `p` and keep it for the next exchange (over the byte bound it
    /// is freed instead).
    pub fn give_back(&mut self, mut p: Box<Pending>) {
        p.wipe();
        if self.bytes >= self.limits.bytes {
            self.bytes -= PENDING_BYTES;
            return;
        }
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
                self.bytes += SLOT_BYTES;
                next_slot
            }
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        *self
            .per_ticket
            .entry(e.pending.ticket.ticket_id)
            .or_insert(0) += 1;
        *self
            .per_source
            .entry(SourceKey::of(e.peer.ip()))
            .or_insert(0) += 1;
        let x = &mut self.slots[slot as usize];
        let before = x.buffer_bytes();
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
        x.generation = generation;
        x.in_use = true;
        let after = x.buffer_bytes();
        self.bytes = self.bytes + after - before;
        self.by_spi_r.insert(e.spi_r, slot);
        self.by_peer.insert((e.peer, e.spi_i), slot);
        self.expiry.push_back((e.deadline, slot, generation));
        self.pending += 1;
        self.in_use += 1;
        self.high_water = self.high_water.max(self.in_use);
        Some(slot)
    }

    /// Keep our answer to the IKE_SESSION_RESUME request of `slot`.
    pub fn set_response(&mut self, slot: Slot, response: &[u8]) {
        let x = &mut self.slots[slot as usize];
        let before = x.buffer_bytes();
        refill(&mut x.response, response);
        self.bytes = self.bytes + x.buffer_bytes() - before;
    }

    /// Keep the IKE_AUTH request of `slot` and our answer.
    pub fn set_auth_answer(&mut self, slot: Slot, request: &[u8], answer: &[u8]) {
        let x = &mut self.slots[slot as usize];
        let before = x.buffer_bytes();
        refill(&mut x.auth_request, request);
        refill(&mut x.auth_response, answer);
        self.bytes = self.bytes + x.buffer_bytes() - before;
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
        let x = &mut self.slots[slot as usize];
        let Some(p) = x.pending.take() else {
            return false;
        };
        let source = SourceKey::of(x.peer.ip());
        decrement(&mut self.per_ticket, &p.ticket.ticket_id);
        decrement(&mut self.per_source, &source);
        self.give_back(p);
        self.pending -= 1;
        true
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
        while self.completed.len() > self.limits.completed {
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
        self.in_use -= 1;
        if self.bytes >= self.limits.bytes {
            // Over the bound (a flood of cached answers, buffers grown by
            // long messages): this slot's buffers go back now.
            let x = &mut self.slots[slot as usize];
            let held = x.buffer_bytes();
            for v in [
                &mut x.ni,
                &mut x.nr,
                &mut x.request,
                &mut x.response,
                &mut x.auth_request,
                &mut x.auth_response,
            ] {
                *v = Vec::new();
            }
            self.bytes -= held;
        }
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
        self.trim(now);
        expired_pending
    }

    /// Give memory back after a flood. At most once every
    /// `trim_after_ms`: when the slab has more slots than the most in use
    /// since the last trim (plus a quarter, and at least [`TRIM_FLOOR`]),
    /// the entries in the slots beyond are moved into free slots below,
    /// the slab is cut there, and spare boxes and the indexes shrink to
    /// match. A load that comes back within the period keeps its slots,
    /// so steady state allocates nothing. Returns the slots cut.
    pub fn trim(&mut self, now: Timestamp) -> usize {
        let due = match self.last_trim {
            None => {
                self.last_trim = Some(now);
                false
            }
            Some(t) => now >= t.plus_millis(self.limits.trim_after_ms),
        };
        if !due {
            return 0;
        }
        self.last_trim = Some(now);
        let keep = (self.high_water + self.high_water / 4).max(TRIM_FLOOR);
        self.high_water = self.in_use;
        let spares_kept = keep.saturating_sub(self.pending);
        let spares_dropped = self.spare.len() > spares_kept;
        while self.spare.len() > spares_kept {
            self.spare.pop();
            self.bytes -= PENDING_BYTES;
        }
        if self.slots.len() <= keep {
            if spares_dropped {
                self.trims += 1;
            }
            return 0;
        }
        let cut = self.slots.len() - keep;
        // Free slots below `keep` take the entries from above it.
        let mut low: Vec<Slot> = self
            .free
            .iter()
            .copied()
            .filter(|&s| (s as usize) < keep)
            .collect();
        // in_use <= high_water <= keep, and every vacant slot is in the
        // free list: the free slots below take every entry above. Checked
        // before anything moves, so a broken invariant cuts nothing.
        let above = self.slots[keep..].iter().filter(|x| x.in_use).count();
        if above > low.len() {
            debug_assert!(
                false,
                "{above} entries above the cut, {} free below",
                low.len()
            );
            if spares_dropped {
                self.trims += 1;
            }
            return 0;
        }
        let mut moved: HashMap<Slot, Slot, foldhash::fast::RandomState> = HashMap::default();
        for from in keep..self.slots.len() {
            if !self.slots[from].in_use {
                continue;
            }
            let Some(to) = low.pop() else {
                break;
            };
            let from = from as Slot;
            self.slots.swap(from as usize, to as usize);
            let x = &self.slots[to as usize];
            self.by_spi_r.insert(x.spi_r, to);
            if self.by_peer.get(&(x.peer, x.spi_i)) == Some(&from) {
                self.by_peer.insert((x.peer, x.spi_i), to);
            }
            moved.insert(from, to);
        }
        debug_assert!(self.slots[keep..].iter().all(|x| !x.in_use));
        for (_, slot, _) in self.expiry.iter_mut() {
            if let Some(&to) = moved.get(slot) {
                *slot = to;
            }
        }
        for (slot, _) in self.completed.iter_mut() {
            if let Some(&to) = moved.get(slot) {
                *slot = to;
            }
        }
        // Items left naming a cut slot are stale: their occupancy ended.
        self.expiry.retain(|&(_, s, _)| (s as usize) < keep);
        self.completed.retain(|&(s, _)| (s as usize) < keep);
        for x in self.slots.drain(keep..) {
            self.bytes -= SLOT_BYTES + x.buffer_bytes();
        }
        self.free = low;
        self.slots.shrink_to(keep);
        self.free.shrink_to(keep);
        self.spare.shrink_to(spares_kept);
        self.by_spi_r.shrink_to(keep);
        self.by_peer.shrink_to(keep);
        self.per_ticket.shrink_to(keep);
        self.per_source.shrink_to(keep);
        self.expiry.shrink_to(keep);
        self.completed.shrink_to(keep);
        self.trims += 1;
        cut
    }

    /// Trims so far that gave memory back (see [`HalfOpenTable::trim`]).
    pub fn trims(&self) -> u64 {
        self.trims
    }

    /// The earliest deadline still queued (it may be stale: waking then
    /// does no harm).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.expiry.front().map(|&(d, _, _)| d)
    }
}

/// One less under `key`; the entry goes at zero.
fn decrement<K: Eq + core::hash::Hash>(
    counts: &mut HashMap<K, u32, foldhash::fast::RandomState>,
    key: &K,
) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Replace `v`'s bytes with `from`. A slot's buffers serve one exchange
/// after another, whose messages differ by a few bytes: a buffer that
/// must grow grows to the next power of two (at least 256 bytes), so it
/// soon fits every occupant and steady state allocates nothing.
fn refill(v: &mut Vec<u8>, from: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT_MS: u64 = 30_000;

    fn limits(bytes: usize) -> TableLimits {
        TableLimits {
            pending: 1 << 20,
            completed: 1 << 20,
            bytes,
            trim_after_ms: 2 * TIMEOUT_MS,
        }
    }

    fn peer(i: u32) -> SocketAddr {
        SocketAddr::from((i.to_be_bytes(), 500))
    }

    fn spi_r(i: u32) -> [u8; 8] {
        let mut s = [0xAB; 8];
        s[4..].copy_from_slice(&i.to_be_bytes());
        s
    }

    /// Entry `i`: its own ticket, peer and SPIs; a 300-byte request.
    fn add(t: &mut HalfOpenTable, i: u32, now: Timestamp) -> Option<Slot> {
        let mut pending = t.take_pending();
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        pending.ticket.ticket_id = TicketId(id);
        t.insert(NewEntry {
            spi_i: [i as u8; 8],
            spi_r: spi_r(i),
            peer: peer(i),
            local: peer(0),
            ni: &[1; 32],
            nr: &[2; 32],
            request: &[i as u8; 300],
            deadline: now.plus_millis(TIMEOUT_MS),
            pending,
        })
    }

    #[test]
    fn counts_per_ticket_and_source_follow_the_pending_entries() {
        let t0 = Timestamp::from_secs(1_000);
        let mut t = HalfOpenTable::new(limits(usize::MAX));
        let a = add(&mut t, 7, t0).unwrap();
        let key = SourceKey::of(peer(7).ip());
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&7u32.to_be_bytes());
        let id = TicketId(id);
        assert_eq!((t.ticket_pending(&id), t.source_pending(key)), (1, 1));
        // Completing the exchange ends its count; the cached answer stays.
        t.complete(a, t0.plus_millis(TIMEOUT_MS));
        assert_eq!((t.ticket_pending(&id), t.source_pending(key)), (0, 0));
        assert_eq!(t.by_spi_r(&spi_r(7)), Some(a));
        // Expiry ends it too.
        add(&mut t, 8, t0).unwrap();
        assert_eq!(t.source_pending(SourceKey::of(peer(8).ip())), 1);
        assert_eq!(t.expire(t0.plus_millis(TIMEOUT_MS)), 1);
        assert_eq!(t.source_pending(SourceKey::of(peer(8).ip())), 0);
        assert!(t.per_ticket.is_empty() && t.per_source.is_empty());
    }

    #[test]
    fn source_keys_are_ipv4_addresses_and_ipv6_prefixes() {
        let k = |s: &str| SourceKey::of(s.parse().unwrap());
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
        assert_eq!(k("192.0.2.1"), k("::ffff:192.0.2.1"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn the_byte_bound_drops_cached_answers_first_then_refuses() {
        let t0 = Timestamp::from_secs(1_000);
        // Measure one entry, then allow four.
        let mut probe = HalfOpenTable::new(limits(usize::MAX));
        add(&mut probe, 1, t0).unwrap();
        let one = probe.bytes();
        assert!(one > 300 + core::mem::size_of::<Pending>());
        let mut t = HalfOpenTable::new(limits(4 * one));
        for i in 0..4 {
            assert_eq!(t.out_of_memory(), (false, 0));
            add(&mut t, i, t0).unwrap();
        }
        assert_eq!(t.bytes(), 4 * one);
        assert!(t.is_full());
        // Nothing cached to drop: full, and insert refuses.
        assert_eq!(t.out_of_memory(), (true, 0));
        assert!(add(&mut t, 9, t0).is_none());
        // Two exchanges complete; their cached answers (4 KB each) take
        // the table over the bound (their keys' boxes are freed, not kept).
        const { assert!(PENDING_BYTES < 4096) };
        for i in 0..2 {
            let s = t.by_spi_r(&spi_r(i)).unwrap();
            t.set_auth_answer(s, &[0; 2000], &[0; 2000]);
            t.complete(s, t0.plus_millis(TIMEOUT_MS));
        }
        assert!(t.bytes() > 4 * one && t.is_full());
        // Room is made by dropping the oldest cached answers, not pending
        // exchanges.
        let (full, evicted) = t.out_of_memory();
        assert!(!full && evicted >= 1, "{full} {evicted}");
        assert!(t.by_spi_r(&spi_r(0)).is_none());
        assert_eq!(t.pending(), 2);
        assert!(t.bytes() < 4 * one);
        assert!(add(&mut t, 9, t0).is_some());
    }

    #[test]
    fn at_exactly_the_bound_an_emptied_table_gives_its_memory_back() {
        let t0 = Timestamp::from_secs(1_000);
        let mut probe = HalfOpenTable::new(limits(usize::MAX));
        add(&mut probe, 1, t0).unwrap();
        let one = probe.bytes();
        // Two entries fill the bound exactly.
        let mut t = HalfOpenTable::new(limits(2 * one));
        add(&mut t, 1, t0).unwrap();
        add(&mut t, 2, t0).unwrap();
        assert_eq!(t.bytes(), 2 * one);
        assert!(t.is_full());
        // They expire: at the bound, their slots and boxes give their
        // memory back, so the empty table takes new exchanges again.
        assert_eq!(t.expire(t0.plus_millis(TIMEOUT_MS)), 2);
        assert!(t.bytes() < 2 * one, "{} of {}", t.bytes(), 2 * one);
        assert!(!t.is_full());
        assert_eq!(t.out_of_memory(), (false, 0));
        assert!(add(&mut t, 3, t0.plus_millis(TIMEOUT_MS)).is_some());
    }

    #[test]
    fn after_a_flood_the_slab_is_cut_back_and_survivors_move() {
        let t0 = Timestamp::from_secs(1_000);
        let mut t = HalfOpenTable::new(limits(usize::MAX));
        assert_eq!(t.expire(t0), 0); // the trim clock starts
        let empty = t.bytes();
        // A flood of 20,000 half-open SAs that never complete.
        for i in 0..20_000 {
            add(&mut t, i, t0).unwrap();
        }
        let flooded = t.bytes();
        assert_eq!(t.slots(), 20_000);
        // They expire; later, legitimate exchanges take whatever slots the
        // free list gives, some of them high.
        let t1 = t0.plus_millis(TIMEOUT_MS);
        assert_eq!(t.expire(t1), 20_000);
        for i in 100_000..100_050 {
            add(&mut t, i, t1.plus_millis(1_000)).unwrap();
        }
        assert!(
            (100_000..100_050).any(|i| t.by_spi_r(&spi_r(i)).unwrap() as usize >= TRIM_FLOOR),
            "some survivors sit above the floor"
        );
        // The first trim still remembers the flood: nothing cut.
        let t2 = t0.plus_millis(2 * TIMEOUT_MS);
        t.expire(t2);
        assert_eq!(t.slots(), 20_000);
        // Two of the survivors complete (answers cached), the rest stay
        // pending; by the next trim the flood is forgotten.
        for i in 100_000..100_002 {
            let s = t.by_spi_r(&spi_r(i)).unwrap();
            t.set_auth_answer(s, &[1; 100], &[2; 100]);
            t.complete(s, t2.plus_millis(TIMEOUT_MS));
        }
        // The trim alone (an expiry at that time would leave nothing to
        // move): the survivors are still in their slots.
        let t3 = t0.plus_millis(4 * TIMEOUT_MS);
        let trims = t.trims();
        assert!(t.trim(t3) > 0);
        // Counted, for the worker to let the allocator give pages back.
        assert_eq!(t.trims(), trims + 1);
        assert_eq!(t.slots(), TRIM_FLOOR);
        assert!(t.bytes() < flooded / 10, "{} of {flooded}", t.bytes());
        assert!(t.bytes() >= empty);
        // Every survivor is still found by SPIr and by peer, in its new
        // slot, with its own data.
        for i in 100_000..100_050 {
            let s = t.by_spi_r(&spi_r(i)).expect("moved, not lost");
            assert!((s as usize) < TRIM_FLOOR);
            assert_eq!(t.by_peer(peer(i), &[i as u8; 8]), Some(s));
            assert_eq!(t.entry(s).request, vec![i as u8; 300]);
        }
        assert_eq!(t.pending(), 48);
        // Their deadlines still expire them (the queues followed the move):
        // the pending ones, then the cached answers.
        assert_eq!(t.expire(t1.plus_millis(TIMEOUT_MS + 1_000)), 48);
        assert_eq!(t.pending(), 0);
        assert!(t.by_spi_r(&spi_r(100_000)).is_some());
        assert_eq!(t.expire(t2.plus_millis(TIMEOUT_MS)), 0);
        assert!(t.by_spi_r(&spi_r(100_000)).is_none());
        assert_eq!(t.in_use, 0);
    }
}
